"""Barrier segments and probe groups of one guild, built once for every guild that shares them."""

from werkland.barriers import run_barrier_probes
from werkland.params import BarrierParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_barrier_probes,
    snakemake.input.landcover,
    snakemake.input.landcover_tif,
    snakemake.output.probes,
    params=BarrierParams.from_dict(snakemake.params.p),
)
