"""Snakemake adapter of the ``plans`` rule: score one user plan of a region.

All logic lives in :func:`werkland.interventions.plans.run_plan`; it reads the interventions rule's
inputs and the plan file and writes ``plans/{plan}.gpkg`` and ``plans/{plan}.csv``.
"""

from werkland.interventions import InterventionInputs
from werkland.interventions.plans import PlanInputs, run_plan
from werkland.params import InterventionParams
from werkland.runner import run_step

params = InterventionParams.from_dict(snakemake.params.p)
guilds = params.guilds
inp, out = snakemake.input, snakemake.output
hydro = {k: getattr(inp, k) for k in ("soil_group", "ghg", "infiltration", "flow_accumulation") if hasattr(inp, k)}
if hasattr(inp, "ponding"):
    hydro["ponding"] = dict(zip(params.climate.storm_names, inp.ponding, strict=True))
engine = InterventionInputs(
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
    out_candidates_gpkg="",
    out_portfolio_csv="",
    out_park_totals_csv="",
    user_candidates=inp.user_candidates[0] if len(inp.user_candidates) else None,
    **hydro,
)
inputs = PlanInputs(engine, snakemake.wildcards.plan, inp.plan, out.gpkg, out.csv)
run_step(snakemake.log[0], run_plan, inputs, params)
