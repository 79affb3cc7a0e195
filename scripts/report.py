"""Snakemake adapter of rule ``report``: the region report (HTML, interactive map, figures, QGIS styles)."""

from werkland.layout import RegionPaths
from werkland.params import ReportParams
from werkland.report import build_region_report
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    build_region_report,
    RegionPaths(snakemake.params.results, snakemake.wildcards.region),
    snakemake.input.legend,
    snakemake.input.guilds,
    ReportParams.from_dict(snakemake.params.p),
    extra_inputs=list(snakemake.input.sources),
    workers=max(1, int(snakemake.threads)),
)
