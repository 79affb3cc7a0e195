# Species records from GBIF (api/download/file, cached) or a monitoring table (NDFF, waarneming.nl):
# names matched to the GBIF Backbone (resources/gbif/taxa.json), cleaned, counted, cited.


rule species:
    input:
        region=LAYOUT.region_gpkg.as_posix(),
        landcover=LAYOUT.landcover_tif.as_posix(),
        patches=species_patches,
        legend=config["legend"],
        guilds=config["guilds_table"],
        table=species_table_files,
    output:
        occurrences=LAYOUT.occurrences.as_posix(),
        counts=LAYOUT.counts.as_posix(),
        citation=LAYOUT.citation.as_posix(),
        cleaning_log=LAYOUT.cleaning_log.as_posix(),
        citation_txt=LAYOUT.citation_txt.as_posix(),
        names=LAYOUT.species_names.as_posix(),
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


# Species evidence: the habitat maps validated against the cleaned records (continuous Boyce index)
# and richness compared between the configured periods at a common sample coverage (iNEXT method).
rule species_evidence:
    input:
        occurrences=LAYOUT.occurrences.as_posix(),
        habitat=expand(LAYOUT.habitat("{guild}").as_posix(), guild=GUILDS, allow_missing=True),
        region=LAYOUT.region_gpkg.as_posix(),
    output:
        validation=LAYOUT.habitat_validation.as_posix(),
        pe_curve=LAYOUT.habitat_pe_curve.as_posix(),
        periods=LAYOUT.species_periods.as_posix(),
    log:
        "results/logs/species_evidence/{region}.log",
    benchmark:
        "results/benchmarks/species_evidence/{region}.tsv"
    group:
        "report_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        p=species_evidence_params,
    script:
        "../../scripts/species_evidence.py"
