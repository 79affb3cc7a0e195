"""Snakemake adapter of the ``interventions_after`` rule: the region after the selected portfolio.

All logic lives in :func:`werkland.interventions.after.run_interventions_after`; it reads the
interventions rule's inputs plus its candidates and portfolio, and writes the after habitat rasters
and summary.
"""

from werkland.interventions import InterventionInputs
from werkland.interventions.after import AfterInputs, run_interventions_after
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
    out_candidates_gpkg=inp.candidates,
    out_portfolio_csv=inp.portfolio,
    out_park_totals_csv="",
    user_candidates=inp.user_candidates[0] if len(inp.user_candidates) else None,
    **hydro,
)
inputs = AfterInputs(engine, inp.candidates, inp.portfolio, dict(zip(guilds, out.habitat, strict=True)), out.summary)
run_step(snakemake.log[0], run_interventions_after, inputs, params)
