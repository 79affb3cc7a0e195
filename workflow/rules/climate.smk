# Climate adaptation baseline (issue 6): heat mitigation and rainwater runoff per park.


rule climate:
    input:
        landcover_tif="results/{region}/landcover.tif",
        landcover_gpkg="results/{region}/landcover.gpkg",
        region="results/{region}/region.gpkg",
        legend=config["legend"],
    output:
        cooling="results/{region}/climate/cooling.tif",
        runoff=expand("results/{{region}}/climate/runoff_{storm}.tif", storm=STORMS),
        summary="results/{region}/climate/summary.csv",
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
        climate=config["climate"],
    script:
        "../../scripts/climate.py"
