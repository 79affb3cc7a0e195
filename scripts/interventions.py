"""Snakemake adapter of the ``interventions`` rule: candidates, gains, ranking and budgeted selection.

All logic lives in :func:`werkland.interventions.run_interventions`; it reads exactly the rule's
declared inputs (per-guild lists in the order of the analysed guilds) and writes its outputs, the
region after the selected portfolio (``interventions/after/``) included.
"""

from werkland.interventions import InterventionInputs, run_interventions
from werkland.params import InterventionParams
from werkland.runner import run_step

params = InterventionParams.from_dict(snakemake.params.p)
out = snakemake.output
inputs = InterventionInputs.from_rule(
    snakemake.input, params.guilds, params.climate.storm_names, out_candidates_gpkg=out.candidates,
    out_portfolio_csv=out.portfolio, out_park_totals_csv=out.park_totals, out_after_habitat=out.after_habitat,
    out_after_summary_csv=out.after_summary,
)
run_step(snakemake.log[0], run_interventions, inputs, params)
