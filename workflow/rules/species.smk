# Species records from GBIF (issue 5): fetch (api/download/file, cached), clean, count, cite.


rule species:
    input:
        region="results/{region}/region.gpkg",
        landcover="results/{region}/landcover.tif",
        patches=expand("results/{{region}}/patches/{guild}.tif", guild=GUILDS),
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        occurrences="results/{region}/species/occurrences.gpkg",
        counts="results/{region}/species/counts.csv",
        citation="results/{region}/species/citation.json",
        cleaning_log="results/{region}/species/cleaning_log.csv",
    log:
        "results/logs/species/{region}.log",
    benchmark:
        "results/benchmarks/species/{region}.tsv"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
        gbif_api=1,
    params:
        source=landcover_params("species_source"),
        species=species_params,
        cache_dir="resources/gbif",
    script:
        "../../scripts/species.py"
