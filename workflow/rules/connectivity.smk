# Ecological connectivity graph, per region and guild. The link search also keeps each patch's least
# cost over the barrier stage's probe groups (graph/{guild}_probe_minima.npz, from landcover.gpkg and
# the barrier parameters), so the barriers rule does not search every patch again; it also keeps the
# barrier segments and probe groups, so the barriers rule does not build them again. The file is
# temporary (about 12 bytes per patch and group reached: 275 MB for woodland birds at 4 M cells, plus
# 121 MB of segments and probes) and goes once the barriers job has read it. So do the all-pairs
# distances of the node metrics (graph/{guild}_distances.npz, 8 bytes per pair of patches in one
# component), which the barriers job's network gains read instead of searching them again.


rule connectivity:
    input:
        habitat=LAYOUT.habitat("{guild}").as_posix(),
        resistance=LAYOUT.resistance("{guild}").as_posix(),
        region=LAYOUT.region_gpkg.as_posix(),
        landcover=LAYOUT.landcover_gpkg.as_posix(),
        # the barrier segments and probe groups, built once for the guilds that share them
        probes=connectivity_barrier_probes,
    output:
        patches_gpkg=LAYOUT.patches_gpkg("{guild}").as_posix(),
        patches_tif=LAYOUT.patches_tif("{guild}").as_posix(),
        links=LAYOUT.links("{guild}").as_posix(),
        graphml=LAYOUT.graphml("{guild}").as_posix(),
        metrics=LAYOUT.metrics("{guild}").as_posix(),
        summary=LAYOUT.summary("{guild}").as_posix(),
        corridors=LAYOUT.corridors("{guild}").as_posix(),
        probe_minima=temp(LAYOUT.probe_minima("{guild}").as_posix()),
        # the all-pairs distances of the node metrics, for the barrier job's network gains
        distances=temp(LAYOUT.graph_distances("{guild}").as_posix()),
    log:
        "results/logs/connectivity/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/connectivity/{region}_{guild}.tsv"
    priority: connectivity_priority
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: guild_threads
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        # the guild's barrier settings, which carry its connectivity settings (the probe groups need both)
        p=barrier_params,
    script:
        "../../scripts/connectivity.py"
