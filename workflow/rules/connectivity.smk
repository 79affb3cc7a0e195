# Ecological connectivity graph, per region and guild.


rule connectivity:
    input:
        habitat=LAYOUT.habitat("{guild}").as_posix(),
        resistance=LAYOUT.resistance("{guild}").as_posix(),
        region=LAYOUT.region_gpkg.as_posix(),
    output:
        patches_gpkg=LAYOUT.patches_gpkg("{guild}").as_posix(),
        patches_tif=LAYOUT.patches_tif("{guild}").as_posix(),
        links=LAYOUT.links("{guild}").as_posix(),
        graphml=LAYOUT.graphml("{guild}").as_posix(),
        metrics=LAYOUT.metrics("{guild}").as_posix(),
        summary=LAYOUT.summary("{guild}").as_posix(),
        corridors=LAYOUT.corridors("{guild}").as_posix(),
    log:
        "results/logs/connectivity/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/connectivity/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: guild_threads
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        p=guild_params,
    script:
        "../../scripts/connectivity.py"
