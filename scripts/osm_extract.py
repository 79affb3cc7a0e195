"""Cut the regions sharing one large OSM file into resources/osm/{region}.osm.pbf in one job."""

from werkland.osm_extract import cut_osm_source
from werkland.runner import run_step

p = snakemake.params
run_step(
    snakemake.log[0],
    cut_osm_source,
    snakemake.input.pbf,
    p.regions,
    p.outputs,
    margin_m=p.margin_m,
    max_per_pass=p.max_per_pass,
    threads=snakemake.threads,
)
