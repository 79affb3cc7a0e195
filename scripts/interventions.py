"""Snakemake adapter of the ``interventions`` rule: candidates, gains, ranking and budgeted selection.

All logic lives in :func:`werkland.interventions.run_interventions`; the region's inputs are found by
their data-contract names under ``params.region_dir``.
"""

from werkland.interventions import run_interventions
from werkland.runner import run_step

params = dict(snakemake.params.interventions)  # noqa: F821 - injected by Snakemake
params["climate"] = dict(snakemake.params.climate)  # noqa: F821
params["connectivity"] = dict(snakemake.params.connectivity)  # noqa: F821
params["n_workers"] = min(int(params.get("n_workers", 2)), snakemake.threads)  # noqa: F821
run_step(
    snakemake.log[0],  # noqa: F821
    run_interventions,
    snakemake.params.region_dir,  # noqa: F821
    snakemake.input.legend,  # noqa: F821
    snakemake.input.guilds_table,  # noqa: F821
    snakemake.input.catalogue,  # noqa: F821
    snakemake.output.candidates,  # noqa: F821
    snakemake.output.portfolio,  # noqa: F821
    snakemake.output.park_totals,  # noqa: F821
    guilds=list(snakemake.params.guilds),  # noqa: F821
    params=params,
    user_candidates=params.get("user_candidates") or None,
)
