"""Circuit theory for one region and guild: effective resistance, currents, pinch points, Omniscape."""

from pathlib import Path

from werkland.currents import CurrentsFiles, run_currents
from werkland.params import CurrentsParams
from werkland.runner import run_step

files = CurrentsFiles(
    resistance=Path(snakemake.input.resistance),
    patches=Path(snakemake.input.patches),
    links=Path(snakemake.input.links),
    habitat=Path(snakemake.input.habitat),
    resistance_csv=Path(snakemake.output.resistance_csv),
    current=Path(snakemake.output.current),
    pinchpoints=Path(snakemake.output.pinchpoints),
    omni_current=Path(snakemake.output.omni_current),
    flow_potential=Path(snakemake.output.flow_potential),
    normalized=Path(snakemake.output.normalized),
    source=Path(snakemake.input.source[0]) if snakemake.input.source else None,
    current_links=Path(snakemake.output.links),
)
run_step(snakemake.log[0], run_currents, files, params=CurrentsParams.from_dict(snakemake.params.p))
