# One job per region (config `execution: pipeline`): the same stages, parameters and output files as
# the per-stage rules, in one process per region, so a national run of thousands of regions has a
# small DAG and each region is one cluster job.


rule region_pipeline:
    input:
        sources=landcover_source_paths,
        legend=config["legend"],
        guilds=config["guilds_table"],
        species_table=species_table_files,
    output:
        done=LAYOUT.pipeline_json.as_posix(),
        report=LAYOUT.report_html.as_posix(),
        summary=LAYOUT.report_summary.as_posix(),
        timings="results/benchmarks/region_pipeline/{region}_stages.json",
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
