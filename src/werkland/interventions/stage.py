"""The interventions stage of one region: generate, score, rank and select measures; write the outputs.

:func:`run_interventions` is a sequence of named steps: load the tables, read the region, build the
baseline guild graphs and the evaluator, generate the candidates, set the targets, evaluate every
candidate, rank them, select a portfolio under the budget and write the three outputs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.interventions.candidates import (
    Candidate,
    CandidateContext,
    cap_candidates,
    generate_candidates,
    read_user_candidates,
)
from werkland.interventions.catalogue import Catalogue, load_catalogue
from werkland.interventions.evaluate import Evaluator, Gains, evaluate_all
from werkland.interventions.guild_graph import GuildGraph
from werkland.interventions.inputs import (
    InterventionInputs,
    RegionData,
    read_climate_summary,
    read_guild_graph,
    read_region,
)
from werkland.interventions.outputs import park_totals_table, portfolio_table, write_candidates
from werkland.interventions.search import Searcher
from werkland.interventions.select import Scorer, Scores, score_candidates, select_portfolio
from werkland.interventions.siting import Hydrology, park_runon, read_hydrology
from werkland.params import ClimateParams, InterventionParams
from werkland.raster.io import write_csv
from werkland.tables import Guild, Legend, load_guilds, load_legend

log = logging.getLogger(__name__)

#: FFT threads of the evaluator's baseline urban-cooling run.
_COOLING_WORKERS = 2


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
          portfolio, storage attainment.
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
    warnings: list[str] = []
    inputs.check(params.guilds)
    legend, guilds, catalogue = _load_tables(inputs, params)
    climate = params.climate
    storm_mm = _design_storm_mm(climate, params.design_storm)
    region = read_region(inputs, warnings)
    climate_summary = read_climate_summary(inputs.climate_summary)
    hydrology = _hydrology(inputs, params, region, climate_summary, warnings)
    graphs, link_paths = _baseline_graphs(inputs, params, region)
    t_base = time.perf_counter()
    ev = Evaluator(region.codes, region.grid, legend, guilds, graphs, catalogue, climate, region.park_index,
                   storm_mm, workers=_COOLING_WORKERS, hydrology=hydrology)
    cands = _candidates(inputs, params, region, legend, guilds, catalogue, link_paths, ev, warnings,
                        hydrology=hydrology)
    t_gen = time.perf_counter()
    log.info("%d candidates (%d types) in %.1f s", len(cands), len({c.type for c in cands}), t_gen - t_base)
    scorer = _scorer(params, graphs, region, ev, climate_summary, climate, warnings)
    gains = _first_evaluation(ev, cands, params)
    t_eval = time.perf_counter()
    scores = score_candidates(scorer, cands, gains)
    picks, pick_vec = select_portfolio(
        ev, scorer, cands, gains, scores, budget=params.budget_eur, interaction_p=params.interaction_p,
        eager_max=params.eager_max, lazy_epsilon=params.lazy_epsilon, warnings=warnings,
    )
    t_sel = time.perf_counter()
    cum, cum_cost = _write_outputs(inputs, cands, gains, scores, picks, pick_vec, catalogue, scorer, region)
    timing = {"baseline": round(t_base - t_start, 2), "candidates": round(t_gen - t_base, 2),
              "evaluation": round(t_eval - t_gen, 2), "selection": round(t_sel - t_eval, 2),
              "total": round(time.perf_counter() - t_start, 2)}
    rate = len(cands) / max(t_eval - t_gen, 1e-9)
    summary = _summary(params, catalogue, cands, picks, scorer, graphs, cum, cum_cost, ev.n_evals, timing, rate,
                       warnings)
    for wmsg in warnings:
        log.warning("%s", wmsg)
    log.info("selected %d of %d candidates for %.0f of %.0f EUR; score %.4f (bio %.4f, climate %.4f); "
             "%.1f candidates/s in the first evaluation; selection %.1f s (%d re-evaluations)",
             len(picks), len(cands), cum_cost, params.budget_eur, summary["score"], summary["score_bio"],
             summary["score_climate"], summary["candidates_per_s"], t_sel - t_eval, ev.n_evals)
    return summary


# --- steps ------------------------------------------------------------------------------------


def _load_tables(inputs: InterventionInputs, params: InterventionParams) -> tuple[Legend, dict[str, Guild], Catalogue]:
    """Legend, the analysed guilds (in order) and the catalogue (checked against the whole guild table)."""
    legend = load_legend(inputs.legend_yaml)
    all_guilds = load_guilds(inputs.guilds_yaml, legend)
    unknown = [g for g in params.guilds if g not in all_guilds]
    if unknown:
        raise WerklandInputError(f"guilds {unknown} are not in {inputs.guilds_yaml}", path="config: guilds",
                                 fix=f"use guilds from: {', '.join(all_guilds)}")
    guilds = {g: all_guilds[g] for g in params.guilds}
    return legend, guilds, load_catalogue(inputs.catalogue_yaml, legend, all_guilds)


def _design_storm_mm(climate: ClimateParams, storm: str) -> float:
    """Depth (mm) of the design storm of ``d_retained_m3``."""
    storms = {s.name: s.depth_mm for s in climate.storms}
    if storm not in storms:
        raise WerklandInputError(f"design storm {storm!r} is not a climate storm", path="config: interventions.design_storm",
                                 fix=f"use one of {sorted(storms)}")
    return float(storms[storm])


def _hydrology(
    inputs: InterventionInputs, params: InterventionParams, region: RegionData, climate_summary: pd.DataFrame,
    warnings: list[str],
) -> Hydrology | None:
    """The climate stage's soil, groundwater and flow rasters (None when none is given).

    Says in ``warnings`` which fallbacks apply: no soil or groundwater (infiltrating measures are
    proposed everywhere), no elevation (siting by distance to green and water, no run-on).
    """
    given = (inputs.soil_group, inputs.ghg, inputs.infiltration, inputs.flow_accumulation)
    if all(p is None for p in given) and not inputs.ponding:
        return None
    storm = params.design_storm
    hy = read_hydrology(
        inputs.soil_group, inputs.ghg, inputs.infiltration, inputs.flow_accumulation, inputs.ponding.get(storm),
        region.grid, clearance_m=params.groundwater_clearance_m, warnings=warnings,
        runon_m3=park_runon(climate_summary, list(region.parks["park_id"]), storm),
    )
    if not hy.checks_infiltration:
        warnings.append("no soil or groundwater data: infiltrating measures (wadis, rain gardens) are not checked "
                        "against soil and groundwater")
    if not hy.has_elevation:
        warnings.append("no elevation model: wadis, rain gardens and ponds are placed by distance to green and "
                        "water, and storage gains count no run-on")
    return hy


def _baseline_graphs(
    inputs: InterventionInputs, params: InterventionParams, region: RegionData,
) -> tuple[dict[str, GuildGraph], dict[str, list[np.ndarray]]]:
    """The baseline patch graph and least-cost link paths of every analysed guild."""
    graphs: dict[str, GuildGraph] = {}
    link_paths: dict[str, list[np.ndarray]] = {}
    searchers: list[Searcher] = []  # one set of search work arrays for every guild's graph
    for conn in params.connectivity:
        graphs[conn.guild], link_paths[conn.guild] = read_guild_graph(
            inputs, conn, region, pc_tol=params.pc_tolerance, searchers=searchers)
    return graphs, link_paths


def _candidates(
    inputs: InterventionInputs, params: InterventionParams, region: RegionData, legend: Legend,
    guilds: dict[str, Guild], catalogue: Catalogue, link_paths: dict[str, list[np.ndarray]], ev: Evaluator,
    warnings: list[str], *, hydrology: Hydrology | None = None,
) -> list[Candidate]:
    """Generated candidates (capped) and/or the user's, with the generators' notes as warnings."""
    notes: list[str] = []
    ctx = CandidateContext.build(
        region.codes, region.grid, legend, guilds, region.parks, region.park_index, landcover=region.landcover,
        lines=region.lines, link_paths=link_paths, barriers=region.barriers, green_area=ev.bio.green_area,
        notes=notes, hydrology=hydrology,
    )
    user = inputs.user_candidates
    cands: list[Candidate] = []
    if not (user and params.user_candidates_mode == "replace"):
        cands = generate_candidates(ctx, catalogue, max_per_type_park=params.max_candidates_per_type_park)
        if params.max_candidates is not None and len(cands) > params.max_candidates:
            n_gen = len(cands)
            cands = cap_candidates(cands, params.max_candidates)
            warnings.append(f"{n_gen} candidates generated; {len(cands)} kept (interventions.max_candidates): the "
                            "largest of every type and park first, round-robin over types and parks")
    if user:
        ucs = read_user_candidates(user, ctx, catalogue)
        have = {c.candidate_id for c in cands}
        clash = [c.candidate_id for c in ucs if c.candidate_id in have]
        if clash:
            raise WerklandInputError(f"user candidate ids {clash[:5]} clash with generated ids", path=str(user),
                                     fix="rename them")
        cands += ucs
    warnings += notes
    return cands


def _scorer(
    params: InterventionParams, graphs: dict[str, GuildGraph], region: RegionData, ev: Evaluator,
    climate_summary: pd.DataFrame, climate: ClimateParams, warnings: list[str],
) -> Scorer:
    """Targets (ECA and habitat per guild, HM deficit, unserved workplaces, storage per park) and weights."""
    gsel = params.guilds
    w = np.array([params.guild_weights[g] for g in gsel], float)
    w = w / w.sum()
    eca0 = np.array([graphs[g].eca0_ha for g in gsel])
    q0 = np.array([graphs[g].q0 for g in gsel])
    eca_t = np.where(eca0 > 0, eca0 * params.eca_target_pct / 100, 1.0)
    hab_t = np.where(q0 > 0, q0 * params.habitat_target_pct / 100, 1.0)
    for g, e in zip(gsel, eca0, strict=True):
        if e <= 0:
            warnings.append(f"{g}: baseline ECA is 0 (no patches); ECA and habitat targets set to 1 ha")
    need, hm_def = _park_targets(climate_summary, region, ev, climate, warnings)
    unserved = float((ev.workplace & ~ev.served).sum()) * region.grid.cell_area_m2
    return Scorer(list(gsel), w, eca_t, hab_t, hm_def, unserved, need, params.weights["biodiversity"],
                  params.weights["climate"], params.bio_eca_share, params.climate_water_share, params.heat_hm_share,
                  params.cap_attainment)


def _park_targets(
    summary: pd.DataFrame, region: RegionData, ev: Evaluator, cp: ClimateParams, warnings: list[str],
) -> tuple[np.ndarray, float]:
    """Storage still needed per park (m³) and the parks' HM deficit (HM-weighted ha).

    The climate stage's figures per park; a park missing from its table gets the figures of the
    evaluator's baseline.
    """
    parks = region.parks
    n = len(parks)
    pi = region.park_index.ravel()
    cell_m2 = ev.cell_m2
    hm = np.nan_to_num(ev.hm.ravel(), nan=0.0)
    area = np.bincount(pi, minlength=n + 1)[1:] * cell_m2
    hm_mean = np.bincount(pi, weights=hm, minlength=n + 1)[1:] * cell_m2 / np.maximum(area, 1e-9)
    sealed = np.nan_to_num(ev.bio.sealed, nan=0.0)[ev.codes.ravel()]
    need = np.maximum(0.0, cp.storage_norm_mm * np.bincount(pi, weights=sealed, minlength=n + 1)[1:] * cell_m2 / 1000
                      - ev.park_storage_m3)
    m = dict(zip(summary["park_id"], summary["storage_needed_m3"], strict=True))
    need = np.array([float(m.get(p, nd)) for p, nd in zip(parks["park_id"], need, strict=True)])
    hmm = dict(zip(summary["park_id"], summary["hm_mean"], strict=True))
    am = dict(zip(summary["park_id"], summary["area_m2"], strict=True))
    hm_mean = np.array([float(hmm.get(p, h)) for p, h in zip(parks["park_id"], hm_mean, strict=True)])
    area = np.array([float(am.get(p, a)) for p, a in zip(parks["park_id"], area, strict=True)])
    hm_def = float(np.sum(np.maximum(0.0, cp.hm_threshold - hm_mean) * area) / 1e4)
    if need.sum() <= 0:
        warnings.append("no park needs more storage: water retention earns no score")
    if hm_def <= 0:
        warnings.append(f"every park's mean HM is >= {cp.hm_threshold}: the HM gain earns no score")
    return np.asarray(need, float), hm_def


def _first_evaluation(ev: Evaluator, cands: list[Candidate], params: InterventionParams) -> list[Gains]:
    """Standalone gains of every candidate against the baseline."""
    for gg in ev.graphs.values():  # one candidate at a time in this process: its searches on threads
        gg.n_threads = params.n_workers
    return evaluate_all(ev, cands, params.n_workers) if cands else []


def _write_outputs(
    inputs: InterventionInputs, cands: list[Candidate], gains: list[Gains], scores: Scores, picks: list[int],
    pick_vec: dict[int, np.ndarray], catalogue: Catalogue, scorer: Scorer, region: RegionData,
) -> tuple[np.ndarray, float]:
    """Write the candidates, the portfolio and the per-park totals; the portfolio's gains and cost."""
    write_candidates(inputs.out_candidates_gpkg, cands, gains, scores, picks, catalogue, scorer.guild_w,
                     scorer.guilds, region.grid)
    port, cum, cum_cost = portfolio_table(cands, gains, scores, picks, pick_vec, scorer, scorer.guild_w)
    write_csv(port, inputs.out_portfolio_csv)
    write_csv(park_totals_table(port, region.parks, cands, scorer.need_m3, scorer.guilds), inputs.out_park_totals_csv)
    return cum, cum_cost


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

