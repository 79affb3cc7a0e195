# Per-region report rule of the per-stage execution; the pipeline job writes the same files.
# Inputs and outputs are the files of werkland.layout (LAYOUT, REPORT_STYLES and report_inputs in
# common.smk); the script rebuilds the RegionPaths from the results root and the region.


rule report:
    input:
        stage=report_inputs,
        sources=report_sources,
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        **{
            key: report(
                LAYOUT.report_figure(key).as_posix(),
                caption=f"../report/{key}.rst",
                category=category,
                subcategory="{region}",
                labels={"region": "{region}", "figure": name},
            )
            for key, (name, category) in REPORT_FIGURES.items()
        },
        **report_pdf_output(),
        html=report(
            LAYOUT.report_html.as_posix(),
            caption="../report/index.rst",
            category="Report",
            subcategory="{region}",
            labels={"region": "{region}", "file": "index.html"},
        ),
        map=report(
            LAYOUT.report_map.as_posix(),
            caption="../report/map.rst",
            category="Report",
            subcategory="{region}",
            labels={"region": "{region}", "file": "map.html"},
        ),
        summary=LAYOUT.report_summary.as_posix(),
        measures=LAYOUT.report_measures_xlsx.as_posix(),
        styles=REPORT_STYLES,
    log:
        "results/logs/report/{region}.log",
    benchmark:
        "results/benchmarks/report/{region}.tsv"
    group:
        "report_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        results=report_results_root,
        p=report_params,
    script:
        "../../scripts/report.py"
