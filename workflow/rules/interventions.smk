# Interventions: generate green and blue measures, score their combined gain, select under a budget;
# the region after the selected portfolio (interventions/after/) from the selection's final state.


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
        soil_group=LAYOUT.soil_group.as_posix(),
        ghg=LAYOUT.ghg.as_posix(),
        infiltration=LAYOUT.infiltration.as_posix(),
        flow_accumulation=LAYOUT.flow_accumulation.as_posix(),
        ponding=expand(LAYOUT.ponding("{storm}").as_posix(), storm=STORMS, allow_missing=True),
        legend=config["legend"],
        guilds_table=config["guilds_table"],
        catalogue=config["interventions"]["catalogue"],
        user_candidates=intervention_user_candidates,
    output:
        candidates=LAYOUT.candidates.as_posix(),
        portfolio=LAYOUT.portfolio.as_posix(),
        park_totals=LAYOUT.park_totals.as_posix(),
        after_habitat=expand(
            LAYOUT.after_habitat("{guild}").as_posix(), guild=GUILDS, allow_missing=True
        ),
        after_summary=LAYOUT.after_summary.as_posix(),
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


# A user plan (regions.<id>.plans.<plan>) scored with the same engine: per-measure and joint gains,
# the optimal portfolio at the plan's cost, attainment and the measures the optimiser would swap.
rule plans:
    input:
        unpack(intervention_engine_inputs),
        plan=plan_file,
        candidates=LAYOUT.candidates.as_posix(),
    output:
        gpkg=LAYOUT.plan_gpkg("{plan}").as_posix(),
        csv=LAYOUT.plan_csv("{plan}").as_posix(),
    log:
        "results/logs/plans/{region}_{plan}.log",
    benchmark:
        "results/benchmarks/plans/{region}_{plan}.tsv"
    wildcard_constraints:
        plan="[A-Za-z0-9][A-Za-z0-9_-]*",
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        p=intervention_params,
    script:
        "../../scripts/plans.py"
