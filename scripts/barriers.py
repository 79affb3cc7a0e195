"""Barrier segments of one region and guild: find, score (Barrier Mapper) and rank by network gain."""

from werkland.barriers import run_barriers
from werkland.params import BarrierParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_barriers,
    snakemake.input.landcover,
    snakemake.input.resistance,
    snakemake.input.patches_tif,
    snakemake.input.patches_gpkg,
    snakemake.input.links,
    snakemake.input.summary,
    snakemake.output.barriers,
    params=BarrierParams.from_dict(snakemake.params.p),
    current_tif=snakemake.input.current[0] if snakemake.input.current else None,
    probe_minima=snakemake.input.probe_minima,
    graph_distances=snakemake.input.distances,
)
