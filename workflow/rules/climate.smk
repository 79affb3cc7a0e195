# Climate adaptation baseline: heat mitigation and rainwater runoff per park; with the region's optional
# soil map, groundwater levels and elevation model: soil group per cell, flow routing and ponding.


rule climate:
    input:
        landcover_tif=LAYOUT.landcover_tif.as_posix(),
        landcover_gpkg=LAYOUT.landcover_gpkg.as_posix(),
        region=LAYOUT.region_gpkg.as_posix(),
        legend=config["legend"],
        hydrology=climate_hydrology_files,
    output:
        cooling=LAYOUT.cooling.as_posix(),
        runoff=expand(LAYOUT.runoff("{storm}").as_posix(), storm=STORMS, allow_missing=True),
        summary=LAYOUT.climate_summary.as_posix(),
        soil_group=LAYOUT.soil_group.as_posix(),
        ghg=LAYOUT.ghg.as_posix(),
        infiltration=LAYOUT.infiltration.as_posix(),
        flow_accumulation=LAYOUT.flow_accumulation.as_posix(),
        ponding=expand(LAYOUT.ponding("{storm}").as_posix(), storm=STORMS, allow_missing=True),
    log:
        "results/logs/climate/{region}.log",
    benchmark:
        "results/benchmarks/climate/{region}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        p=climate_params,
        hydrology=climate_hydrology_params,
    script:
        "../../scripts/climate.py"
