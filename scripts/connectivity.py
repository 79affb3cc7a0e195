"""Connectivity for one region and guild: patches, least-cost links, PC/IIC/ECA/dPC, corridors."""

from werkland.connectivity import run_connectivity
from werkland.runner import run_step

params = dict(snakemake.params.guild_params)
params["n_threads"] = snakemake.threads
run_step(
    snakemake.log[0],
    run_connectivity,
    snakemake.input.habitat,
    snakemake.input.resistance,
    snakemake.input.region,
    snakemake.output.patches_gpkg,
    snakemake.output.patches_tif,
    snakemake.output.links,
    snakemake.output.graphml,
    snakemake.output.metrics,
    snakemake.output.summary,
    snakemake.output.corridors,
    guild=snakemake.wildcards.guild,
    params=params,
    convention=snakemake.params.convention,
)
