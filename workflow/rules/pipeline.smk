# One job per region (config `execution: pipeline`): the same stages, parameters and output files as
# the per-stage rules, in one process per region, so a national run of thousands of regions has a
# small DAG and each region is one cluster job.


rule region_pipeline:
    input:
        sources=landcover_source_paths,
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        done="results/{region}/pipeline.json",
        report="results/{region}/report/index.html",
        summary="results/{region}/report/summary.json",
    log:
        "results/logs/region_pipeline/{region}.log",
    benchmark:
        "results/benchmarks/region_pipeline/{region}.tsv"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gbif_api=1,
    params:
        settings=region_cfg,
    script:
        "../../scripts/region_pipeline.py"
