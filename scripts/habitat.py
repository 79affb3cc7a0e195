"""Habitat-suitability and resistance rasters per guild from landcover.tif."""

from werkland.habitat import run_habitat
from werkland.params import HabitatParams
from werkland.runner import run_step

guilds = snakemake.params.guilds
run_step(
    snakemake.log[0],
    run_habitat,
    snakemake.input.landcover,
    snakemake.input.legend,
    snakemake.input.guilds,
    dict(zip(guilds, snakemake.output.habitat, strict=True)),
    dict(zip(guilds, snakemake.output.resistance, strict=True)),
    params=HabitatParams.from_dict(snakemake.params.p),
)
