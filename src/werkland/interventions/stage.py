"""The interventions stage of one region: generate, score, rank and select measures; write the outputs.

:func:`run_interventions` is a sequence of named steps: set up the region's engine in its baseline
state (:func:`~werkland.interventions.engine.build_engine`: tables, region, baseline guild graphs,
evaluator and targets), generate the candidates, evaluate every candidate, rank them, select a
portfolio under the budget and write the outputs: the candidates, the portfolio, the per-park totals
and the region after the portfolio (read from the engine's final state: the selection commits each
pick to it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from werkland.interventions.after import (
    State,
    read_state,
    replay,
    replay_of,
    write_after_state,
)
from werkland.interventions.candidates import Candidate
from werkland.interventions.catalogue import Catalogue
from werkland.interventions.engine import Engine, build_engine, candidate_pool, first_evaluation
from werkland.interventions.evaluate import Gains
from werkland.interventions.guild_graph import GuildGraph
from werkland.interventions.inputs import InterventionInputs, RegionData
from werkland.interventions.outputs import park_totals_table, portfolio_table, write_candidates
from werkland.interventions.select import Scorer, Scores, score_candidates, select_portfolio
from werkland.params import InterventionParams
from werkland.raster.io import write_csv

log = logging.getLogger(__name__)


def run_interventions(inputs: InterventionInputs, params: InterventionParams) -> dict[str, Any]:
    """Generate, score, rank and select interventions for one region and write the outputs.

    Parameters
    ----------
    inputs : InterventionInputs
        Every file read and written. Reads ``landcover.tif``, ``landcover.gpkg`` (layers
        ``landcover``, ``lines``), ``region.gpkg`` (layer ``parks``), per guild the habitat,
        resistance and patch rasters and the least-cost links (the baseline patch graph),
        ``barriers/all_guilds.gpkg`` (fauna-passage candidates; none if not given or empty),
        ``climate/summary.csv`` (storage still needed and HM per park; run-on per park), the climate
        stage's hydrology rasters (soil group, GHG, infiltration, flow accumulation, ponding of the
        design storm: water-led siting and run-on gains, :mod:`werkland.interventions.siting`), the
        legend, the guild table, the catalogue and the optional user candidate layer. Writes:

        * ``out_candidates_gpkg``, layer ``candidates``: ``candidate_id``, ``type``, ``label``,
          ``park_id``, ``size``, ``size_unit``, ``cost_eur``, ``n_cells``, ``d_eca_ha_<guild>``,
          ``d_habitat_ha``, ``d_hm``, ``d_cool_access_m2``, ``d_retained_m3``, ``score_bio``,
          ``score_climate``, ``score``, ``score_per_keur``, ``rank``, ``selected``, ``select_order``,
          ``pareto``, ``source``, ``exclusive_key``, ``cost_source``, ``note``, ``siting_note``;
          geometry = footprint cells (MultiPolygon);
        * ``out_portfolio_csv``: selected measures in selection order with cumulative cost and
          marginal/cumulative gains;
        * ``out_park_totals_csv``: per park, candidates, selected measures, cost and gains of the
          portfolio, storage attainment;
        * when ``out_after_summary_csv`` is given, the region after the portfolio, from the final
          state of the selection (:func:`werkland.interventions.after.write_after_state`):
          ``out_after_habitat`` (per guild, float32 suitability) and ``out_after_summary_csv``.
    params : InterventionParams
        Budget, weights, targets, selection settings, climate parameters and the kernel of each
        analysed guild (:meth:`InterventionParams.from_config`).

    Returns
    -------
    dict
        Summary: counts, budget, cost, cumulative gains and attainment, timing, warnings.

    Raises
    ------
    WerklandInputError
        A missing or unreadable input, a bad catalogue or user layer, inconsistent parameters.
    """
    t_start = time.perf_counter()
    after_out = inputs.out_after_summary_csv is not None  # one raster per guild: InterventionInputs.check
    eng = build_engine(inputs, params)
    warnings, scorer, ev, region = eng.warnings, eng.scorer, eng.ev, eng.region
    before = read_state(ev) if after_out else None
    t_base = time.perf_counter()
    cands = candidate_pool(eng, params, inputs.user_candidates)
    t_gen = time.perf_counter()
    log.info("%d candidates (%d types) in %.1f s", len(cands), len({c.type for c in cands}), t_gen - t_base)
    eng.release_link_paths()  # before the evaluation workers fork: only the generators read them
    gains = first_evaluation(ev, cands, params)
    t_eval = time.perf_counter()
    # the selection evaluates against one state at a time: its guilds on threads (Evaluator.evaluate_many)
    ev.use_guild_threads(params.n_workers)
    scores = score_candidates(scorer, cands, gains)
    committed: list[int] = []
    picks, pick_vec = select_portfolio(
        ev, scorer, cands, gains, scores, budget=params.budget_eur, interaction_p=params.interaction_p,
        eager_max=params.eager_max, lazy_epsilon=params.lazy_epsilon, warnings=warnings, committed=committed,
    )
    t_sel = time.perf_counter()
    cum, cum_cost = _write_outputs(inputs, cands, gains, scores, picks, pick_vec, eng.catalogue, scorer, region)
    if before is not None:
        _write_after(inputs, params, eng, before, cands, picks, pick_vec, committed)
    timing = {"baseline": round(t_base - t_start, 2), "candidates": round(t_gen - t_base, 2),
              "evaluation": round(t_eval - t_gen, 2), "selection": round(t_sel - t_eval, 2),
              "outputs": round(time.perf_counter() - t_sel, 2), "total": round(time.perf_counter() - t_start, 2)}
    rate = len(cands) / max(t_eval - t_gen, 1e-9)
    summary = _summary(params, eng.catalogue, cands, picks, scorer, eng.graphs, cum, cum_cost, ev.n_evals, timing,
                       rate, warnings)
    for wmsg in warnings:
        log.warning("%s", wmsg)
    log.info("selected %d of %d candidates for %.0f of %.0f EUR; score %.4f (bio %.4f, climate %.4f); "
             "%.1f candidates/s in the first evaluation; selection %.1f s (%d re-evaluations)",
             len(picks), len(cands), cum_cost, params.budget_eur, summary["score"], summary["score_bio"],
             summary["score_climate"], summary["candidates_per_s"], t_sel - t_eval, ev.n_evals)
    return summary


# --- steps ------------------------------------------------------------------------------------


def _write_outputs(
    inputs: InterventionInputs, cands: list[Candidate], gains: list[Gains], scores: Scores, picks: list[int],
    pick_vec: dict[int, np.ndarray], catalogue: Catalogue, scorer: Scorer, region: RegionData,
) -> tuple[np.ndarray, float]:
    """Write the candidates, the portfolio and the per-park totals; the portfolio's gains and cost."""
    write_candidates(inputs.out_candidates_gpkg, cands, gains, scores, picks, catalogue, scorer.guild_w,
                     scorer.guilds, region.grid, [str(x) for x in region.parks["park_id"]])
    port, cum, cum_cost = portfolio_table(cands, gains, scores, picks, pick_vec, scorer, scorer.guild_w)
    write_csv(port, inputs.out_portfolio_csv)
    write_csv(park_totals_table(port, region.parks, cands, scorer.need_m3, scorer.guilds), inputs.out_park_totals_csv)
    return cum, cum_cost


def _write_after(
    inputs: InterventionInputs, params: InterventionParams, eng: Engine, before: State, cands: list[Candidate],
    picks: list[int], pick_vec: dict[int, np.ndarray], committed: list[int],
) -> None:
    """Write the region after the portfolio (``interventions/after/``) from the selection's final state.

    The selection committed its picks one by one to ``eng`` (the same exact commits as a replay of the
    portfolio in pick order on a fresh engine, :func:`~werkland.interventions.after.replay`); their
    gains vectors are the replay's. When the best single measure replaced the greedy portfolio, the
    state holds the greedy picks instead, and a fresh engine replays the portfolio.
    """
    # the portfolio's measures as candidates.gpkg holds them (cost rounded to the cent)
    port = [replace(cands[i], cost_eur=round(cands[i].cost_eur, 2)) for i in picks]
    if committed == picks:
        rep = replay_of(eng.scorer, [pick_vec[i] for i in picks])
    else:
        log.info("the best single measure replaces the greedy portfolio: the after-state is replayed on a fresh engine")
        eng = build_engine(inputs, params)
        before = read_state(eng.ev)
        rep = replay(eng.ev, eng.scorer, port)
    assert inputs.out_after_summary_csv is not None
    write_after_state(eng, params, port, before, rep, inputs.habitat, inputs.out_after_habitat,
                      inputs.out_after_summary_csv)


def _summary(
    params: InterventionParams, catalogue: Catalogue, cands: list[Candidate], picks: list[int], scorer: Scorer,
    graphs: dict[str, GuildGraph], cum: np.ndarray, cum_cost: float, n_evals: int, timing: dict[str, float],
    candidates_per_s: float, warnings: list[str],
) -> dict[str, Any]:
    """The stage's summary (returned to the caller, logged)."""
    gnames = scorer.guilds
    ng = len(gnames)
    b_all, c_all = scorer.parts(cum)
    eca0 = [graphs[g].eca0_ha for g in gnames]
    parallel = params.n_workers > 1 and len(cands) > 32
    return {
        "n_candidates": len(cands),
        "n_candidates_by_type": {t: sum(1 for c in cands if c.type == t) for t in catalogue.types},
        "n_selected": len(picks),
        "budget_eur": params.budget_eur,
        "cost_selected_eur": float(cum_cost),
        "score": scorer.total(cum), "score_bio": b_all, "score_climate": c_all,
        "d_eca_ha": {gn: float(cum[j]) for j, gn in enumerate(gnames)},
        "d_retained_m3": float(cum[2 * ng + 2:].sum()),
        "baseline_eca_ha": {gn: float(e) for gn, e in zip(gnames, eca0, strict=True)},
        "targets": {"eca_ha": dict(zip(gnames, scorer.eca_target.tolist(), strict=True)),
                    "habitat_ha": dict(zip(gnames, scorer.hab_target.tolist(), strict=True)),
                    "hm_deficit_ha": scorer.hm_target, "unserved_workplace_m2": scorer.access_target_m2,
                    "storage_needed_m3": float(scorer.need_m3.sum())},
        "design_storm": params.design_storm,
        "evaluations": n_evals + len(cands) * (1 if parallel else 0),
        "timing_s": timing,
        "candidates_per_s": candidates_per_s,
        "warnings": warnings,
    }

