# Land cover -> habitat: land-cover harmonisation, habitat and resistance rasters.


rule landcover:
    input:
        sources=landcover_source_paths,
        mappings=landcover_mapping_files,
        legend=config["legend"],
    output:
        region=LAYOUT.region_gpkg.as_posix(),
        gpkg=LAYOUT.landcover_gpkg.as_posix(),
        tif=LAYOUT.landcover_tif.as_posix(),
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
        p=landcover_params,
    script:
        "../../scripts/landcover.py"


rule habitat:
    input:
        landcover=LAYOUT.landcover_tif.as_posix(),
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        habitat=expand(LAYOUT.habitat("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        resistance=expand(LAYOUT.resistance("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
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
        p=habitat_params,
    script:
        "../../scripts/habitat.py"
