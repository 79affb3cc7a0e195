"""Snakemake adapter of the ``plans`` rule: score one user plan of a region.

All logic lives in :func:`werkland.interventions.plans.run_plan`; it reads the interventions rule's
inputs and the plan file and writes ``plans/{plan}.gpkg`` and ``plans/{plan}.csv``.
"""

from werkland.interventions import InterventionInputs
from werkland.interventions.plans import PlanInputs, run_plan
from werkland.params import InterventionParams
from werkland.runner import run_step

params = InterventionParams.from_dict(snakemake.params.p)
inp, out = snakemake.input, snakemake.output
engine = InterventionInputs.from_rule(inp, params.guilds, params.climate.storm_names)
inputs = PlanInputs(engine, snakemake.wildcards.plan, inp.plan, out.gpkg, out.csv, inp.candidates)
run_step(snakemake.log[0], run_plan, inputs, params)
