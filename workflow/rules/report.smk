# Report: per-region HTML report, offline interactive map, figures, QGIS styles, overview.
#
# The report rule (report_stage.smk, or the region_pipeline job) takes as input the per-region files
# of the data contract (werkland.layout) that some rule of the workflow produces, so it grows with
# the stages; its input functions live in common.smk.


rule overview:
    input:
        reports=expand(LAYOUT.report_html.as_posix(), region=list(REGIONS)),
        summaries=expand(LAYOUT.report_summary.as_posix(), region=list(REGIONS)),
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
