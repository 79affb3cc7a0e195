# Migration barriers: road, rail and water segments that cut corridors, ranked per guild
# by the Barrier Mapper score and the network gain (dECA, dPC) of mitigating them; with the currents
# stage on, also by the current crossing each segment.


rule barriers:
    input:
        landcover=LAYOUT.landcover_gpkg.as_posix(),
        resistance=LAYOUT.resistance("{guild}").as_posix(),
        patches_tif=LAYOUT.patches_tif("{guild}").as_posix(),
        patches_gpkg=LAYOUT.patches_gpkg("{guild}").as_posix(),
        links=LAYOUT.links("{guild}").as_posix(),
        summary=LAYOUT.summary("{guild}").as_posix(),
        probe_minima=LAYOUT.probe_minima("{guild}").as_posix(),
        # currents/{guild}_current.tif when currents.enabled (columns current_crossing, current_rank)
        current=barriers_current,
    output:
        barriers=LAYOUT.barriers("{guild}").as_posix(),
    log:
        "results/logs/barriers/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/barriers/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: guild_threads
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        p=barrier_params,
    script:
        "../../scripts/barriers.py"


rule barriers_combine:
    input:
        guild_layers=expand(LAYOUT.barriers("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
    output:
        barriers=LAYOUT.barriers_all.as_posix(),
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
