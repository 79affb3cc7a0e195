# Large OpenStreetMap files shared by several regions: one job per file cuts every region's box out of
# it in one pass (osmium extract --strategy smart: ways and multipolygons crossing a box edge stay
# complete) into resources/osm/{region}.osm.pbf, which the land-cover rule then reads (common.smk
# rewrites the regions' source paths). The rules are named osm_extract_<file id>: one job writes the
# files of all regions of its source, so the outputs are listed, not a wildcard pattern.

OSM_EXTRACT = osm_extract_settings(config)

for _group in OSM_EXTRACTS:

    rule:
        name:
            f"osm_extract_{_group.id}"
        input:
            pbf=_group.source,
        output:
            [_group.outputs[region] for region in _group.regions],
        log:
            f"results/logs/osm_extract/{_group.id}.log",
        benchmark:
            f"results/benchmarks/osm_extract/{_group.id}.tsv"
        conda:
            "../envs/werkland.yaml"
        threads: 2
        resources:
            mem_mb=1000 + 3500 * min(OSM_EXTRACT["max_per_pass"], len(_group.outputs)),
            runtime=60 + len(_group.outputs) // 20,
        params:
            regions={r: osm_extent_settings(REGIONS[r]) for r in _group.regions},
            outputs=dict(_group.outputs),
            margin_m=OSM_EXTRACT["margin_m"],
            max_per_pass=OSM_EXTRACT["max_per_pass"],
        script:
            "../../scripts/osm_extract.py"
