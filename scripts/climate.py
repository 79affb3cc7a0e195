"""Heat mitigation (InVEST Urban Cooling) and design-storm runoff (SCS-CN) per park.

Each runoff output is matched to its storm by the file name ``runoff_<storm>.tif``.
"""

from pathlib import Path

from werkland.climate import run_climate
from werkland.params.climate import ClimateParams
from werkland.runner import run_step

run_step(
    snakemake.log[0],
    run_climate,
    snakemake.input.landcover_tif,
    snakemake.input.landcover_gpkg,
    snakemake.input.region,
    snakemake.input.legend,
    snakemake.output.cooling,
    {Path(p).stem.removeprefix("runoff_"): p for p in snakemake.output.runoff},
    snakemake.output.summary,
    params=ClimateParams.from_dict(snakemake.params.p),
    threads=snakemake.threads,
)
