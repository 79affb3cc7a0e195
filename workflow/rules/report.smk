# Report (issue 8): per-region HTML report, offline interactive map, figures, QGIS styles, overview.
#
# The report rule takes as input the per-region files of the data contract (docs/architecture.md)
# that some rule of the workflow produces, so it grows with the stages; its input functions live in
# common.smk.

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
