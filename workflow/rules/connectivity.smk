# Ecological connectivity graph (issue 3), per region and guild.


rule connectivity:
    input:
        habitat="results/{region}/habitat/{guild}.tif",
        resistance="results/{region}/resistance/{guild}.tif",
        region="results/{region}/region.gpkg",
    output:
        patches_gpkg="results/{region}/patches/{guild}.gpkg",
        patches_tif="results/{region}/patches/{guild}.tif",
        links="results/{region}/graph/{guild}_links.gpkg",
        graphml="results/{region}/graph/{guild}.graphml",
        metrics="results/{region}/graph/{guild}_metrics.csv",
        summary="results/{region}/graph/{guild}_summary.json",
        corridors="results/{region}/corridors/{guild}.tif",
    log:
        "results/logs/connectivity/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/connectivity/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        guild_params=guild_params,
        convention=config["connectivity"]["convention"],
    script:
        "../../scripts/connectivity.py"
