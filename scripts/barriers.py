"""Barrier segments of one region and guild: find, score (Barrier Mapper) and rank by network gain."""

from werkland.barriers import run_barriers
from werkland.runner import run_step

params = dict(snakemake.params.barrier_params)
params["n_threads"] = snakemake.threads
params["patches_gpkg"] = snakemake.input.patches_gpkg
run_step(
    snakemake.log[0],
    run_barriers,
    snakemake.input.landcover,
    snakemake.input.resistance,
    snakemake.input.patches_tif,
    snakemake.input.links,
    snakemake.input.summary,
    snakemake.output.barriers,
    guild=snakemake.wildcards.guild,
    params=params,
)
