# Per-region report rule of the per-stage execution (issue 8); the pipeline job writes the same files.


rule report:
    input:
        stage=report_inputs,
        sources=report_sources,
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        html=report(
            "results/{region}/report/index.html",
            caption="../report/index.rst",
            category="Report",
            subcategory="{region}",
            labels={"region": "{region}", "file": "index.html"},
        ),
        map=report(
            "results/{region}/report/map.html",
            caption="../report/map.rst",
            category="Report",
            subcategory="{region}",
            labels={"region": "{region}", "file": "map.html"},
        ),
        summary="results/{region}/report/summary.json",
        **{
            key: report(
                f"results/{{region}}/report/{name}",
                caption=f"../report/{key}.rst",
                category=category,
                subcategory="{region}",
                labels={"region": "{region}", "figure": name},
            )
            for key, (name, category) in REPORT_FIGURES.items()
        },
        styles=expand("results/{{region}}/{qml}", qml=REPORT_STYLES),
    log:
        "results/logs/report/{region}.log",
    benchmark:
        "results/benchmarks/report/{region}.tsv"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        region_dir=report_region_dir,
        language=config.get("report", {}).get("language", "en"),
        run_config=config,
    script:
        "../../scripts/report.py"
