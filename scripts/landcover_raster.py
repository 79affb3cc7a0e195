"""The region and its land-cover class raster: region.gpkg, landcover.tif."""

from werkland.landcover import run_landcover_raster
from werkland.params import LandcoverParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_landcover_raster,
    LandcoverParams.from_dict(snakemake.params.p),
    snakemake.input.legend,
    snakemake.output.region,
    snakemake.output.tif,
)
