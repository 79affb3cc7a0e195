"""Snakemake adapter of rule ``report``: the region report (HTML, interactive map, figures, QGIS styles)."""

from werkland.report import build_region_report
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    build_region_report,
    snakemake.wildcards.region,
    snakemake.params.region_dir,
    snakemake.input.legend,
    snakemake.input.guilds,
    dict(snakemake.params.run_config),
    snakemake.output.html,
    language=snakemake.params.language,
    extra_inputs=list(snakemake.input.sources),
)
