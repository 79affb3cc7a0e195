# Land cover -> habitat (issue 2): land-cover harmonisation, habitat and resistance rasters.


rule landcover:
    input:
        sources=landcover_source_paths,
        legend=config["legend"],
    output:
        region="results/{region}/region.gpkg",
        gpkg="results/{region}/landcover.gpkg",
        tif="results/{region}/landcover.tif",
    log:
        "results/logs/landcover/{region}.log",
    benchmark:
        "results/benchmarks/landcover/{region}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        sources=landcover_params("land_cover"),
        crs=landcover_params("crs"),
        resolution_m=landcover_params("resolution_m"),
        context_buffer_m=landcover_params("context_buffer_m"),
        parks=landcover_params("parks"),
        clip_lonlat=landcover_params("clip_lonlat"),
        fill_class=landcover_params("fill_class"),
    script:
        "../../scripts/landcover.py"


rule habitat:
    input:
        landcover="results/{region}/landcover.tif",
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        habitat=expand("results/{{region}}/habitat/{guild}.tif", guild=GUILDS),
        resistance=expand("results/{{region}}/resistance/{guild}.tif", guild=GUILDS),
    log:
        "results/logs/habitat/{region}.log",
    benchmark:
        "results/benchmarks/habitat/{region}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        guilds=GUILDS,
        tile_cells=config["habitat"]["tile_cells"],
    script:
        "../../scripts/habitat.py"
