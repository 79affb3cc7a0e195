"""All stages of one region in one job (config `execution: pipeline`, for thousands of regions)."""

from werkland.pipeline import run_region_pipeline
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_region_pipeline,
    snakemake.wildcards.region,
    snakemake.params.settings,
    snakemake.config,
    snakemake.output.done,
    threads=snakemake.threads,
    timings_json=snakemake.output.timings,
)
