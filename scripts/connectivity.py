"""Connectivity for one region and guild: patches, least-cost links, PC/IIC/ECA/dPC, corridors."""

from werkland.connectivity import run_connectivity
from werkland.params import ConnectivityParams
from werkland.runner import run_step

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
    params=ConnectivityParams.from_dict(snakemake.params.p),
)
