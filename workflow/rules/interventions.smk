# Interventions (issue 7): generate green and blue measures, score their combined gain, select under a budget.


rule interventions:
    input:
        landcover_tif="results/{region}/landcover.tif",
        landcover_gpkg="results/{region}/landcover.gpkg",
        region="results/{region}/region.gpkg",
        habitat=expand("results/{{region}}/habitat/{guild}.tif", guild=GUILDS),
        resistance=expand("results/{{region}}/resistance/{guild}.tif", guild=GUILDS),
        patches=expand("results/{{region}}/patches/{guild}.tif", guild=GUILDS),
        links=expand("results/{{region}}/graph/{guild}_links.gpkg", guild=GUILDS),
        graph_summary=expand("results/{{region}}/graph/{guild}_summary.json", guild=GUILDS),
        barriers="results/{region}/barriers/all_guilds.gpkg",
        climate="results/{region}/climate/summary.csv",
        legend=config["legend"],
        guilds_table=config["guilds_table"],
        catalogue=config["interventions"]["catalogue"],
    output:
        candidates="results/{region}/interventions/candidates.gpkg",
        portfolio="results/{region}/interventions/portfolio.csv",
        park_totals="results/{region}/interventions/park_totals.csv",
    log:
        "results/logs/interventions/{region}.log",
    benchmark:
        "results/benchmarks/interventions/{region}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        region_dir=lambda wildcards: f"results/{wildcards.region}",
        guilds=GUILDS,
        interventions=config["interventions"],
        climate=config["climate"],
        connectivity=config["connectivity"],
    script:
        "../../scripts/interventions.py"
