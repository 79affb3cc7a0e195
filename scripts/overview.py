"""Snakemake adapter of rule ``overview``: results/report.html with one row per region and park."""

from werkland.report import build_overview
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    build_overview,
    dict(zip(snakemake.params.regions, snakemake.input.reports, strict=True)),
    snakemake.output[0],
)
