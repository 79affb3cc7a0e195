"""The region's non-overlapping land-cover polygons and centre lines: landcover.gpkg."""

from werkland.landcover import run_landcover_polygons
from werkland.params import LandcoverParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_landcover_polygons,
    LandcoverParams.from_dict(snakemake.params.p),
    snakemake.input.legend,
    snakemake.output.gpkg,
)
