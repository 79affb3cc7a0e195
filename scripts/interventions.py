"""Snakemake adapter of the ``interventions`` rule: candidates, gains, ranking and budgeted selection.

All logic lives in :func:`werkland.interventions.run_interventions`; it reads exactly the rule's
declared inputs (per-guild lists in the order of the analysed guilds) and writes its outputs.
"""

from werkland.interventions import InterventionInputs, run_interventions
from werkland.params import InterventionParams
from werkland.runner import run_step

params = InterventionParams.from_dict(snakemake.params.p)
guilds = params.guilds
inp, out = snakemake.input, snakemake.output
inputs = InterventionInputs(
    landcover_tif=inp.landcover_tif,
    landcover_gpkg=inp.landcover_gpkg,
    region_gpkg=inp.region,
    habitat=dict(zip(guilds, inp.habitat, strict=True)),
    resistance=dict(zip(guilds, inp.resistance, strict=True)),
    patches=dict(zip(guilds, inp.patches, strict=True)),
    links=dict(zip(guilds, inp.links, strict=True)),
    barriers_all=inp.barriers,
    climate_summary=inp.climate,
    legend_yaml=inp.legend,
    guilds_yaml=inp.guilds_table,
    catalogue_yaml=inp.catalogue,
    out_candidates_gpkg=out.candidates,
    out_portfolio_csv=out.portfolio,
    out_park_totals_csv=out.park_totals,
    user_candidates=inp.user_candidates[0] if len(inp.user_candidates) else None,
    soil_group=inp.soil_group,
    ghg=inp.ghg,
    infiltration=inp.infiltration,
    flow_accumulation=inp.flow_accumulation,
    ponding=dict(zip(params.climate.storm_names, inp.ponding, strict=True)),
)
run_step(snakemake.log[0], run_interventions, inputs, params)
