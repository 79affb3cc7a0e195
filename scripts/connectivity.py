"""Connectivity for one region and guild: patches, least-cost links, PC/IIC/ECA/dPC, corridors, and
the barrier probe minima its link search keeps for the barriers rule."""

from werkland.barriers import run_connectivity_with_probes
from werkland.params import BarrierParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_connectivity_with_probes,
    snakemake.input.landcover,
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
    params=BarrierParams.from_dict(snakemake.params.p),
    out_probe_minima=snakemake.output.probe_minima,
    out_distances=snakemake.output.distances,
    barrier_probes=snakemake.input.probes,
)
