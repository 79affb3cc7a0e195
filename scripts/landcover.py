"""Harmonise a region's land-cover sources: region.gpkg, landcover.gpkg, landcover.tif."""

from werkland.landcover import run_landcover
from werkland.params import LandcoverParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_landcover,
    LandcoverParams.from_dict(snakemake.params.p),
    snakemake.input.legend,
    snakemake.output.region,
    snakemake.output.gpkg,
    snakemake.output.tif,
)
