# Report (issue 8): per-region HTML report, offline interactive map, figures, QGIS styles, overview.
#
# The report rule takes as input the per-region files of the data contract (docs/architecture.md)
# that some rule of the workflow produces, so it grows with the stages; its input functions live in
# common.smk.

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


rule overview:
    input:
        reports=expand("results/{region}/report/index.html", region=list(REGIONS)),
        summaries=expand("results/{region}/report/summary.json", region=list(REGIONS)),
    output:
        report(
            "results/report.html",
            caption="../report/overview.rst",
            category="Report",
            subcategory="overview",
        ),
    log:
        "results/logs/overview/overview.log",
    localrule: True
    conda:
        "../envs/werkland.yaml"
    params:
        regions=list(REGIONS),
    script:
        "../../scripts/overview.py"
