# Circuit-theory connectivity per region and guild (Circuitscape / Omniscape methods): effective
# resistance between patches, cumulative current over the links, pinch points in the link corridors
# and the Omniscape moving-window maps, and the links with r_eff and cwd_to_r_eff. Included only when
# currents.enabled is true; the barriers rule then also reads the current map (current_crossing).


rule currents:
    input:
        resistance=LAYOUT.resistance("{guild}").as_posix(),
        patches=LAYOUT.patches_tif("{guild}").as_posix(),
        links=LAYOUT.links("{guild}").as_posix(),
        habitat=LAYOUT.habitat("{guild}").as_posix(),
        source=currents_source,
    output:
        resistance_csv=LAYOUT.current_resistance("{guild}").as_posix(),
        current=LAYOUT.current("{guild}").as_posix(),
        pinchpoints=LAYOUT.pinchpoints("{guild}").as_posix(),
        omni_current=LAYOUT.omni_current("{guild}").as_posix(),
        flow_potential=LAYOUT.flow_potential("{guild}").as_posix(),
        normalized=LAYOUT.normalized_current("{guild}").as_posix(),
        # the links layer plus r_eff and cwd_to_r_eff (graph/{guild}_links.gpkg stays as connectivity wrote it)
        links=LAYOUT.current_links("{guild}").as_posix(),
    log:
        "results/logs/currents/{region}_{guild}.log",
    benchmark:
        "results/benchmarks/currents/{region}_{guild}.tsv"
    group:
        "region_{region}"
    conda:
        "../envs/werkland.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        p=currents_params,
    script:
        "../../scripts/currents.py"
