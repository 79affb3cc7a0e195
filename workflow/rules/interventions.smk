# Interventions: generate green and blue measures, score their combined gain, select under a budget.


rule interventions:
    input:
        landcover_tif=LAYOUT.landcover_tif.as_posix(),
        landcover_gpkg=LAYOUT.landcover_gpkg.as_posix(),
        region=LAYOUT.region_gpkg.as_posix(),
        habitat=expand(LAYOUT.habitat("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        resistance=expand(LAYOUT.resistance("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        patches=expand(LAYOUT.patches_tif("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        links=expand(LAYOUT.links("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        barriers=LAYOUT.barriers_all.as_posix(),
        climate=LAYOUT.climate_summary.as_posix(),
        legend=config["legend"],
        guilds_table=config["guilds_table"],
        catalogue=config["interventions"]["catalogue"],
        user_candidates=intervention_user_candidates,
    output:
        candidates=LAYOUT.candidates.as_posix(),
        portfolio=LAYOUT.portfolio.as_posix(),
        park_totals=LAYOUT.park_totals.as_posix(),
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
        p=intervention_params,
    script:
        "../../scripts/interventions.py"
