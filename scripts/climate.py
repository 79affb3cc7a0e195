"""Heat mitigation (InVEST Urban Cooling) and design-storm runoff (SCS-CN) per park, with the optional
soil map, groundwater levels and elevation model of the region (soil group per cell, flow routing).

Each runoff and ponding output is matched to its storm by the file name ``runoff_<storm>.tif`` /
``ponding_<storm>.tif``.
"""

from pathlib import Path

from werkland.climate import run_climate
from werkland.climate.stage import HydrologyOutputs
from werkland.params.climate import ClimateParams, HydrologyInputs
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
    hydrology=HydrologyInputs.from_dict(snakemake.params.hydrology),
    out_hydrology=HydrologyOutputs(
        soil_group=snakemake.output.soil_group,
        ghg=snakemake.output.ghg,
        infiltration=snakemake.output.infiltration,
        flow_accumulation=snakemake.output.flow_accumulation,
        ponding={Path(p).stem.removeprefix("ponding_"): p for p in snakemake.output.ponding},
    ),
    where=f"config: regions.{snakemake.wildcards.region}",
)
