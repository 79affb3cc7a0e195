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
inp, out = snakemake.input, snakemake.output
engine = InterventionInputs.from_rule(
    inp, params.guilds, params.climate.storm_names, out_candidates_gpkg=inp.candidates,
    out_portfolio_csv=inp.portfolio,
)
habitat = dict(zip(params.guilds, out.habitat, strict=True))
inputs = AfterInputs(engine, inp.candidates, inp.portfolio, habitat, out.summary)
run_step(snakemake.log[0], run_interventions_after, inputs, params)
