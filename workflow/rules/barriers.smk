# Migration barriers: road, rail and water segments that cut corridors, ranked per guild
# by the Barrier Mapper score and the network gain (dECA, dPC) of mitigating them; with the currents
# stage on, also by the current crossing each segment.


# A guild's barrier segments and probe groups, built once for every guild with the same barrier
# classes, segment length and radii (werkland.params.barrier_probe_owners); their connectivity jobs
# read them. Temporary: about 121 MB at 4 M cells, gone once the last of those jobs has read it.
rule barrier_probes:
    input:
        landcover=LAYOUT.landcover_gpkg.as_posix(),
        landcover_tif=LAYOUT.landcover_tif.as_posix(),
    output:
        probes=temp(LAYOUT.barrier_probes("{guild}").as_posix()),
    log:
        "results/logs/barrier_probes/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/barrier_probes/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        p=barrier_params,
    script:
        "../../scripts/barrier_probes.py"


rule barriers:
    input:
        landcover=LAYOUT.landcover_gpkg.as_posix(),
        resistance=LAYOUT.resistance("{guild}").as_posix(),
        patches_tif=LAYOUT.patches_tif("{guild}").as_posix(),
        patches_gpkg=LAYOUT.patches_gpkg("{guild}").as_posix(),
        links=LAYOUT.links("{guild}").as_posix(),
        summary=LAYOUT.summary("{guild}").as_posix(),
        probe_minima=LAYOUT.probe_minima("{guild}").as_posix(),
        distances=LAYOUT.graph_distances("{guild}").as_posix(),
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
