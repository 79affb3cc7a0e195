# Species records from GBIF: fetch (api/download/file, cached), clean, count, cite.


rule species:
    input:
        region=LAYOUT.region_gpkg.as_posix(),
        landcover=LAYOUT.landcover_tif.as_posix(),
        patches=expand(LAYOUT.patches_tif("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        legend=config["legend"],
        guilds=config["guilds_table"],
    output:
        occurrences=LAYOUT.occurrences.as_posix(),
        counts=LAYOUT.counts.as_posix(),
        citation=LAYOUT.citation.as_posix(),
        cleaning_log=LAYOUT.cleaning_log.as_posix(),
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
        p=species_params,
        cache_dir="resources/gbif",
    script:
        "../../scripts/species.py"
