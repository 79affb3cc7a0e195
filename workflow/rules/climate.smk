# Climate adaptation baseline: heat mitigation and rainwater runoff per park.


rule climate:
    input:
        landcover_tif=LAYOUT.landcover_tif.as_posix(),
        landcover_gpkg=LAYOUT.landcover_gpkg.as_posix(),
        region=LAYOUT.region_gpkg.as_posix(),
        legend=config["legend"],
    output:
        cooling=LAYOUT.cooling.as_posix(),
        runoff=expand(LAYOUT.runoff("{storm}").as_posix(), storm=STORMS, allow_missing=True),
        summary=LAYOUT.climate_summary.as_posix(),
    log:
        "results/logs/climate/{region}.log",
    benchmark:
        "results/benchmarks/climate/{region}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        p=climate_params,
    script:
        "../../scripts/climate.py"
