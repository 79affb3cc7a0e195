"""The region before and after a set of measures, from the same engine that scores them.

:func:`~werkland.interventions.engine.build_engine` sets up the interventions stage's engine for a
region -- tables, land cover, baseline guild graphs, the :class:`~werkland.interventions.evaluate.Evaluator`
and the target :class:`~werkland.interventions.select.Scorer` -- as
:func:`~werkland.interventions.run_interventions` does. :func:`replay` commits measures one after the other (each commit is the engine's exact local
update, so the sum of the marginal gains is the joint gain of the set), and :func:`state_table`
reads the state: per park and guild the quality-weighted habitat area, the guild's ECA, heat
mitigation, served workplaces, design-storm runoff and storage.

The interventions stage writes ``interventions/after/habitat_{guild}.tif`` and
``interventions/after/summary.csv`` from its own engine, in which the selection committed the
portfolio pick by pick (:func:`write_after_state`). :func:`run_interventions_after` recomputes the
same files from scratch: a fresh engine replays the selected portfolio (``interventions/portfolio.csv``,
the footprints of ``interventions/candidates.gpkg``); the two give identical values (tested).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.interventions.candidates import Candidate
from werkland.interventions.engine import Engine, build_engine
from werkland.interventions.evaluate import Evaluator
from werkland.interventions.guild_graph import BioDelta
from werkland.interventions.inputs import InterventionInputs, as_paths, read_layer
from werkland.interventions.select import Scorer
from werkland.params import InterventionParams
from werkland.raster.io import read_raster, write_csv, write_raster

log = logging.getLogger(__name__)

#: Park id of the rows of ``after/summary.csv`` that hold the whole region.
REGION_ROW = "(region)"

#: Columns of ``interventions/after/summary.csv``, in order.
SUMMARY_COLUMNS = (
    "park_id", "name", "guild", "habitat_ha_before", "habitat_ha_after", "eca_ha_before", "eca_ha_after",
    "hm_mean_before", "hm_mean_after", "d_hm", "served_workplace_m2_before", "served_workplace_m2_after",
    "design_storm", "runoff_m3_before", "runoff_m3_after", "storage_m3_before", "storage_m3_after",
    "d_retained_m3", "n_measures", "cost_eur",
)


@dataclass
class Replay:
    """Measures committed one after the other.

    Attributes
    ----------
    vectors : list of numpy.ndarray
        Marginal gains vector (:meth:`Scorer.vector`) of each measure when it was committed.
    total : numpy.ndarray
        Their sum: the joint gain of the set.
    retained_m3 : numpy.ndarray
        Retained rain gained per park (the engine's pooled figure), m³.
    """

    vectors: list[np.ndarray]
    total: np.ndarray
    retained_m3: np.ndarray


def replay(ev: Evaluator, scorer: Scorer, cands: Sequence[Candidate]) -> Replay:
    """Commit ``cands`` in order to ``ev``; their marginal gains and the joint gain."""
    return replay_of(scorer, [scorer.vector(ev.evaluate(c, commit=True)) for c in cands])


def joint_batches(cands: Sequence[Candidate]) -> list[list[int]]:
    """Group ``cands`` into batches of one park whose footprints do not overlap, for the graphs' update.

    First fit in order: a measure joins the first batch of its park that it does not overlap and that
    comes after every batch holding a measure it overlaps (so overlapping measures keep their order);
    otherwise it opens a new batch. Measures outside every park are batches of their own.
    """
    batches: list[list[int]] = []
    parks: list[str] = []
    cells_of: list[set[int]] = []
    for i, c in enumerate(cands):
        cells = set(np.asarray(c.cells, np.int64).tolist())
        lo = 0
        for b in range(len(batches) - 1, -1, -1):
            if not cells_of[b].isdisjoint(cells):
                lo = b + 1
                break
        target = None
        if c.park_id:
            for b in range(lo, len(batches)):
                if parks[b] == c.park_id and cells_of[b].isdisjoint(cells):
                    target = b
                    break
        if target is None:
            batches.append([i])
            parks.append(c.park_id)
            cells_of.append(cells)
        else:
            batches[target].append(i)
            cells_of[target].update(cells)
    return batches


def batched_joint_total(ev: Evaluator, scorer: Scorer, cands: Sequence[Candidate]) -> np.ndarray:
    """The joint gain of ``cands`` committed to ``ev`` in their order, the guild graphs updated per batch.

    The heat and water part of every measure is evaluated and committed one after the other in the
    order of ``cands``, exactly as :func:`replay` does (it does not depend on the graphs). The guild
    graphs then take the measures in :func:`joint_batches`: per batch one exact local update with the
    batch's footprints and new values, instead of one per measure. A measure's new graph values
    depend only on its type and on the earlier measures that overlap it, which the batches keep
    before it, so the final graphs are those of :func:`replay`; the total equals its total up to
    the PC tolerance of the graph update (``pc_tolerance``) and float rounding, with far fewer
    searches (a batch's affected patches are searched once, not once per measure).
    """
    def climate() -> tuple[np.ndarray, float, float]:
        t0, c0 = time.perf_counter(), time.thread_time()
        t = np.zeros(scorer.size)
        for c in cands:
            t = t + scorer.vector(ev.evaluate(c, commit=True, graphs=False))
        return t, time.perf_counter() - t0, time.thread_time() - c0

    # the heat and water part (land cover codes, cooling and storage state) on a thread beside the
    # graphs' updates (guild graph state): they share no state
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as side:
        heat_water = side.submit(climate)
        bio = _batched_graph_total(ev, scorer, cands)
        t_bio = time.perf_counter() - t0
        hw, t_hw, cpu_hw = heat_water.result()
    log.info("joint evaluation of %d measures: guild graphs %.1f s, heat and water %.1f s (%.1f CPU-s) beside them",
             len(cands), t_bio, t_hw, cpu_hw)
    return hw + bio


def _batched_graph_total(ev: Evaluator, scorer: Scorer, cands: Sequence[Candidate]) -> np.ndarray:
    """The guild graphs' part of :func:`batched_joint_total` (ECA and quality per guild)."""
    tot = np.zeros(scorer.size)
    ng = len(scorer.guilds)
    for batch in joint_batches(cands):
        parts = [cands[i] for i in batch if cands[i].cells.size]
        if not parts:
            continue
        cells = np.concatenate([np.asarray(c.cells, np.int64) for c in parts])
        new = [ev.new_guild_values(ev.catalogue.get(c.type), c.cells) for c in parts]

        def update(g: str, cells: np.ndarray = cells, new: list[Any] = new) -> BioDelta:
            return ev.graphs[g].evaluate(cells, np.concatenate([nv[g][0] for nv in new]),
                                         np.concatenate([nv[g][1] for nv in new]), commit=True)

        deltas = ev.map_guilds(update)
        for g, d in zip(ev.graphs, deltas, strict=True):
            if g in scorer.guilds:
                k = scorer.guilds.index(g)
                tot[k] += d.d_eca_ha
                tot[ng + k] += d.d_quality_ha
    return tot


def replay_of(scorer: Scorer, vectors: Sequence[np.ndarray]) -> Replay:
    """The :class:`Replay` of commits whose marginal gains vectors were ``vectors`` (in commit order).

    The joint gain is summed in commit order, as :func:`replay` sums it.
    """
    tot = np.zeros(scorer.size)
    for v in vectors:
        tot = tot + v
    ng = len(scorer.guilds)
    return Replay(list(vectors), tot, tot[2 * ng + 2:].copy())


@dataclass
class State:
    """The figures of an evaluator's state read by :func:`state_table`.

    Attributes
    ----------
    habitat_ha : dict of str to numpy.ndarray
        Per guild: quality-weighted patch area per park row, then the whole region (last entry), ha.
    eca_ha : dict of str to float
        ECA per guild, ha.
    hm_sum : numpy.ndarray
        Σ HM × cell area / 10⁴ per park, then the region (HM-weighted ha).
    hm_mean : numpy.ndarray
        Mean HM per park, then the region.
    served_m2 : numpy.ndarray
        Workplace area within the cool-spot distance of a cool spot per park, then the region, m².
    runoff_m3, storage_m3 : numpy.ndarray
        Design-storm runoff (curve number) and explicit storage per park, then their sums, m³.
    """

    habitat_ha: dict[str, np.ndarray]
    eca_ha: dict[str, float]
    hm_sum: np.ndarray
    hm_mean: np.ndarray
    served_m2: np.ndarray
    runoff_m3: np.ndarray
    storage_m3: np.ndarray


def read_state(ev: Evaluator) -> State:
    """The state of ``ev`` per park and for the region (copies, safe to keep across commits)."""
    n = ev.n_parks
    pi = ev.park_index.ravel()
    cell_m2 = ev.cell_m2

    def per_park(x: np.ndarray) -> np.ndarray:
        s = np.bincount(pi, weights=x, minlength=n + 1)
        return np.append(s[1:], x.sum())

    hab = {}
    for g, gg in ev.graphs.items():
        w = np.where(gg.labels.ravel() > 0, gg.suit.ravel().astype(np.float64), 0.0) * gg.cell_ha
        h = per_park(w)
        h[-1] = float(gg.a.sum())
        hab[g] = h
    valid = ev.valid.ravel() & np.isfinite(ev.hm.ravel())
    hm = np.where(valid, np.nan_to_num(ev.hm.ravel(), nan=0.0), 0.0)
    hm_sum = per_park(hm) * cell_m2 / 1e4
    n_valid = per_park(valid.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        hm_mean = np.where(n_valid > 0, hm_sum * 1e4 / cell_m2 / np.maximum(n_valid, 1), np.nan)
    served = per_park(ev.served.ravel().astype(np.float64)) * cell_m2
    runoff = np.append(ev.park_runoff_m3, ev.park_runoff_m3.sum())
    storage = np.append(ev.park_storage_m3, ev.park_storage_m3.sum())
    return State(hab, {g: float(gg.eca_ha) for g, gg in ev.graphs.items()}, hm_sum, hm_mean, served,
                 runoff.astype(float), storage.astype(float))


def state_table(
    parks: Any, guilds: Sequence[str], before: State, after: State, rep: Replay, *, design_storm: str,
    n_measures: Sequence[int], cost_eur: Sequence[float],
) -> pd.DataFrame:
    """``after/summary.csv``: one row per park and guild, then one per guild for the whole region.

    ECA is a figure of the whole region's network: it is given on the region rows (NaN on the park
    rows). The heat and water figures of a park repeat on each of its guild rows. ``d_retained_m3``
    is the engine's retained rain gained (curve-number change plus storage, the storage capped by
    the park's runoff), ``d_hm`` = Σ ΔHM × cell area / 10⁴.

    Parameters
    ----------
    n_measures, cost_eur : sequence
        Per park, then the region: measures and their cost.
    """
    ids = [str(p) for p in parks["park_id"]] + [REGION_ROW]
    names = ([str(v) if pd.notna(v) else "" for v in parks["name"]] if "name" in parks.columns
             else [""] * len(parks)) + [""]
    ret = np.append(rep.retained_m3, rep.retained_m3.sum())
    rows = []
    for k, pid in enumerate(ids):
        region_row = pid == REGION_ROW
        for g in guilds:
            rows.append({
                "park_id": pid, "name": names[k], "guild": g,
                "habitat_ha_before": before.habitat_ha[g][k], "habitat_ha_after": after.habitat_ha[g][k],
                "eca_ha_before": before.eca_ha[g] if region_row else np.nan,
                "eca_ha_after": after.eca_ha[g] if region_row else np.nan,
                "hm_mean_before": before.hm_mean[k], "hm_mean_after": after.hm_mean[k],
                "d_hm": after.hm_sum[k] - before.hm_sum[k],
                "served_workplace_m2_before": before.served_m2[k], "served_workplace_m2_after": after.served_m2[k],
                "design_storm": design_storm,
                "runoff_m3_before": before.runoff_m3[k], "runoff_m3_after": after.runoff_m3[k],
                "storage_m3_before": before.storage_m3[k], "storage_m3_after": after.storage_m3[k],
                "d_retained_m3": ret[k], "n_measures": int(n_measures[k]), "cost_eur": float(cost_eur[k]),
            })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def measures_per_park(parks: Any, cands: Sequence[Candidate]) -> tuple[list[int], list[float]]:
    """Number and cost of ``cands`` per park row, then for the whole region."""
    ids = [str(p) for p in parks["park_id"]]
    pos = {p: i for i, p in enumerate(ids)}
    n = [0] * (len(ids) + 1)
    cost = [0.0] * (len(ids) + 1)
    for c in cands:
        i = pos.get(c.park_id)
        if i is not None:
            n[i] += 1
            cost[i] += c.cost_eur
        n[-1] += 1
        cost[-1] += c.cost_eur
    return n, cost


# --- the selected portfolio ---------------------------------------------------------------------


@dataclass(frozen=True)
class AfterInputs:
    """Files of the after-state of the selected portfolio.

    Attributes
    ----------
    engine : InterventionInputs
        The interventions stage's inputs (its outputs are not written).
    candidates_gpkg, portfolio_csv : Path
        ``interventions/candidates.gpkg`` (footprints) and ``interventions/portfolio.csv`` (the picks
        in order).
    out_habitat : dict of str to Path
        Per analysed guild: ``interventions/after/habitat_{guild}.tif``.
    out_summary_csv : Path
        ``interventions/after/summary.csv``.
    """

    engine: InterventionInputs
    candidates_gpkg: Path
    portfolio_csv: Path
    out_habitat: dict[str, Path]
    out_summary_csv: Path

    def __post_init__(self) -> None:
        as_paths(self)


def portfolio_candidates(candidates_gpkg: Path, portfolio_csv: Path, engine: Engine) -> list[Candidate]:
    """The selected measures in pick order, with their footprints read back from ``candidates.gpkg``.

    A footprint is a union of whole cells, so its cells are those whose centre it contains.

    Raises
    ------
    WerklandInputError
        A portfolio measure missing from the candidates, or a missing column.
    """
    for p, what in ((candidates_gpkg, "candidates"), (portfolio_csv, "portfolio")):
        if not Path(p).exists():
            raise WerklandInputError(f"{what} file missing", path=str(p), fix="run the interventions rule first")
    port = pd.read_csv(portfolio_csv, dtype={"candidate_id": str, "park_id": str}, keep_default_na=False)
    if not len(port):
        return []
    cand = read_layer(Path(candidates_gpkg), "candidates", engine.region.grid, "candidates")
    missing = [c for c in ("candidate_id", "type", "park_id", "cost_eur") if c not in cand.columns]
    if missing:
        raise WerklandInputError(f"missing column(s) {missing}", path=str(candidates_gpkg),
                                 fix="re-run the interventions rule")
    by_id = {str(r.candidate_id): r for r in cand.itertuples()}
    out = []
    for cid in port.sort_values("order")["candidate_id"].astype(str):
        r = by_id.get(cid)
        if r is None:
            raise WerklandInputError(f"portfolio measure {cid!r} is not in {candidates_gpkg}", path=str(portfolio_csv),
                                     fix="re-run the interventions rule (both files come from one run)")
        cells = engine.ctx.cells_of_geom(r.geometry) if r.geometry is not None and not r.geometry.is_empty \
            else np.zeros(0, np.int64)
        park = "" if pd.isna(r.park_id) else str(r.park_id)
        out.append(Candidate(cid, str(r.type), park, np.unique(cells), float(r.size), str(r.size_unit),
                             float(r.cost_eur)))
    return out


def run_interventions_after(inputs: AfterInputs, params: InterventionParams) -> dict[str, Any]:
    """Recompute the region after the selected portfolio from scratch and write it.

    A fresh engine replays the portfolio read back from the interventions stage's outputs; the
    files equal those the stage writes from its own engine (:func:`write_after_state`). Writes per
    analysed guild ``out_habitat[guild]`` (float32 suitability after the measures, the
    baseline habitat raster's grid and nodata) and ``out_summary_csv`` (:func:`state_table`).

    Returns
    -------
    dict
        ECA before/after per guild, the portfolio's size and cost, the joint score.
    """
    check_after_outputs(params.guilds, inputs.out_habitat)
    eng = build_engine(inputs.engine, params)
    cands = portfolio_candidates(inputs.candidates_gpkg, inputs.portfolio_csv, eng)
    before = read_state(eng.ev)
    rep = replay(eng.ev, eng.scorer, cands)
    out = write_after_state(eng, params, cands, before, rep, inputs.engine.habitat, inputs.out_habitat,
                            inputs.out_summary_csv)
    out["warnings"] = eng.warnings
    return out


def check_after_outputs(guilds: Sequence[str], out_habitat: Mapping[str, Path]) -> None:
    """One after habitat raster per analysed guild.

    Raises
    ------
    WerklandInputError
        Rasters for other guilds than ``guilds``.
    """
    missing = sorted(set(guilds) ^ set(out_habitat))
    if missing:
        raise WerklandInputError(f"after habitat outputs do not match the analysed guilds ({missing})",
                                 path="interventions after outputs", fix="give one file per analysed guild")


def write_after_state(
    eng: Engine, params: InterventionParams, cands: Sequence[Candidate], before: State, rep: Replay,
    habitat: Mapping[str, Path], out_habitat: Mapping[str, Path], out_summary_csv: Path,
) -> dict[str, Any]:
    """Write the region after ``cands`` from an engine in which they were committed in order.

    Parameters
    ----------
    eng : Engine
        The engine after the commits (its evaluator's state is read, :func:`read_state`).
    params : InterventionParams
        The analysed guilds and the design storm.
    cands : sequence of Candidate
        The committed measures in commit order (their cells and, per park, number and cost).
    before : State
        The state before the commits.
    rep : Replay
        Their marginal gains (:func:`replay` or :func:`replay_of`).
    habitat : mapping of str to Path
        Per guild the baseline habitat raster (grid, nodata and the unchanged cells).
    out_habitat, out_summary_csv : mapping of str to Path, Path
        ``interventions/after/habitat_{guild}.tif`` (float32 suitability after the measures, the
        baseline habitat raster's grid and nodata) and ``interventions/after/summary.csv``
        (:func:`state_table`).

    Returns
    -------
    dict
        ECA before/after per guild, the measures' number and cost, the joint score.
    """
    after = read_state(eng.ev)
    n, cost = measures_per_park(eng.region.parks, cands)
    table = state_table(eng.region.parks, params.guilds, before, after, rep, design_storm=params.design_storm,
                        n_measures=n, cost_eur=cost)
    changed = np.unique(np.concatenate([c.cells for c in cands])) if cands else np.zeros(0, np.int64)

    def write_guild(g: str) -> None:
        base, grid, nodata = read_raster(habitat[g])
        suit = base.astype(np.float32)
        suit.ravel()[changed] = eng.graphs[g].suit.ravel()[changed]
        out = out_habitat[g]
        out.parent.mkdir(parents=True, exist_ok=True)
        write_raster(out, suit, grid, nodata=nodata,
                     tags={"units": "suitability 0..1", "guild": g,
                           "content": f"habitat suitability after the {len(cands)} selected measures"},
                     description=f"{g} habitat after the portfolio")

    # each guild's raster is its own file, and GDAL compresses it without the GIL: on the stage's workers
    with ThreadPoolExecutor(max(1, min(params.n_workers, len(params.guilds)))) as pool:
        list(pool.map(write_guild, params.guilds))
    out_summary_csv.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table, out_summary_csv)
    score = eng.scorer.total(rep.total)
    log.info("after the portfolio (%d measures, %.0f EUR): score %.4f; ECA %s", len(cands), cost[-1], score,
             ", ".join(f"{g} {before.eca_ha[g]:.2f} -> {after.eca_ha[g]:.2f} ha" for g in params.guilds))
    return {"n_measures": len(cands), "cost_eur": cost[-1], "score": score,
            "eca_ha_before": before.eca_ha, "eca_ha_after": after.eca_ha}
