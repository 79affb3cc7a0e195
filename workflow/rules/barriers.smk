# Migration barriers (issue 4): road, rail and water segments that cut corridors, ranked per guild
# by the Barrier Mapper score and the network gain (dECA, dPC) of mitigating them.


rule barriers:
    input:
        landcover="results/{region}/landcover.gpkg",
        resistance="results/{region}/resistance/{guild}.tif",
        patches_tif="results/{region}/patches/{guild}.tif",
        patches_gpkg="results/{region}/patches/{guild}.gpkg",
        links="results/{region}/graph/{guild}_links.gpkg",
        summary="results/{region}/graph/{guild}_summary.json",
    output:
        barriers="results/{region}/barriers/{guild}.gpkg",
    log:
        "results/logs/barriers/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/barriers/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        barrier_params=barrier_params,
    script:
        "../../scripts/barriers.py"


rule barriers_combine:
    input:
        guild_layers=expand("results/{{region}}/barriers/{guild}.gpkg", guild=GUILDS),
    output:
        barriers="results/{region}/barriers/all_guilds.gpkg",
    log:
        "results/logs/barriers_combine/{region}.log",
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        guilds=GUILDS,
        weights=barrier_guild_weights,
    script:
        "../../scripts/barriers_combine.py"
