"""Harmonise a region's land-cover sources: region.gpkg, landcover.gpkg, landcover.tif."""

from werkland.landcover import run_landcover
from werkland.runner import run_step

p = snakemake.params
run_step(
    snakemake.log[0],
    run_landcover,
    p.sources,
    snakemake.input.legend,
    snakemake.output.region,
    snakemake.output.gpkg,
    snakemake.output.tif,
    crs_setting=p.crs,
    resolution_m=p.resolution_m,
    context_buffer_m=p.context_buffer_m,
    parks_spec=p.parks,
    clip_lonlat=p.clip_lonlat,
    fill_class=p.fill_class,
)
