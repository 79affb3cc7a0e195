"""Score a user's plan of measures with the engine that scores the candidates.

A plan is a GeoPackage or GeoJSON of proposed measures (:func:`read_plan`): each a catalogue
``type``, a geometry and optionally ``measure_id``, ``cost_eur`` and ``size`` (derived from the
catalogue when absent). :func:`score_plan`:

1. evaluates every measure alone against the baseline (its standalone gains) and the plan as a whole:
   the measures are committed one after the other, each commit the engine's exact local update, so
   the plan's gain is that of the joint state -- interactions (stepping stones that join patches,
   overlapping cooling, storage that saturates a park's runoff) included, not a sum;
2. selects the optimal portfolio at the plan's total cost over the interventions stage's candidates
   plus the plan's measures, and evaluates it jointly the same way. Two optimisers
   (``interventions.plan_optimum``):

   * ``standalone`` (default): the budgeted lazy greedy (:func:`~werkland.interventions.select.celf_select`,
     same costs, exclusion groups and best-single rule as the stage) on each measure's *standalone*
     gains, added up with the targets' saturation (:meth:`Scorer.total` of the summed gains vectors).
     The candidates' standalone gains are read from the interventions stage's ``candidates.gpkg``
     (:func:`pool_gains_from_candidates`), not evaluated again; only the plan's measures are. The
     selection needs no engine commits; the chosen set is then evaluated jointly
     (:func:`~werkland.interventions.after.batched_joint_total`: heat and water measure by measure,
     each guild graph updated once per batch of non-overlapping measures of a park -- the same joint
     gain up to the graph update's PC tolerance, with far fewer searches than one commit per
     measure). Interactions count in its score, not in its choice;
   * ``marginal``: the stage's own lazy greedy on marginal gains (:func:`select_portfolio`), every
     pick committed and the interacting candidates re-evaluated. Interactions then steer the choice
     too, but a budget that buys hundreds of measures costs hundreds of commits, and every
     candidate is evaluated again;
3. reports the efficiency ``attainment_pct`` = 100 × plan score / attainable score (the better of the
   optimiser's portfolio and the plan itself), and which measures the optimiser would swap out and
   what it would put in their place (matched by park, then by distance).

Both joint evaluations commit their measures in the same canonical order (type, first cell, size), on
copies of the same baseline, so a plan equal to the optimiser's portfolio scores exactly 100 % (when
the optimiser's portfolio is the plan, the plan's joint evaluation is used for both). The plan's joint
evaluation runs in a forked process (``n_workers > 1``) while the optimum is selected; the results
are the same as in one process.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from werkland._errors import WerklandInputError
from werkland.forking import Beside
from werkland.interventions.after import Replay, batched_joint_total, replay
from werkland.interventions.candidates import Candidate, CandidateContext
from werkland.interventions.catalogue import Catalogue, InterventionType, check_number
from werkland.interventions.engine import Engine, build_engine, candidate_pool, first_evaluation
from werkland.interventions.evaluate import Evaluator, Gains
from werkland.interventions.inputs import InterventionInputs, as_paths, read_layer, read_vector_file
from werkland.interventions.outputs import footprint_polygon
from werkland.interventions.select import Scorer, celf_select, score_candidates, select_portfolio
from werkland.params import InterventionParams
from werkland.raster.io import write_csv, write_gpkg_layers

log = logging.getLogger(__name__)

#: Plan names: used in file names (``plans/{name}.gpkg``).
PLAN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Generators whose measures may lie outside every park (fauna passages in the context buffer).
OUTSIDE_PARK_GENERATORS = ("barrier",)
#: Leading columns of ``plans/{name}.csv`` (per-guild ECA columns follow ``score_climate``).
PLAN_CSV_COLUMNS = (
    "plan", "n_measures", "cost_eur", "score", "score_bio", "score_climate", "sum_standalone_score",
    "interaction_score", "optimum_score", "optimum_cost_eur", "optimum_n_measures", "attainable_score",
    "attainment_pct", "n_swapped_out", "n_swapped_in",
)


#: Optimisers of the optimum at a plan's cost (``interventions.plan_optimum``; see the module docstring).
OPTIMUM_MODES = ("standalone", "marginal")


def check_candidates_file(path: str | Path | None) -> Path:
    """The interventions stage's ``candidates.gpkg`` the standalone optimiser reads, if it exists.

    Raises
    ------
    WerklandInputError
        No file given, or the file does not exist.
    """
    if path is None:
        raise WerklandInputError("the standalone plan optimiser reads the stage's candidates (interventions/candidates.gpkg)",
                                 path="plans: candidates_gpkg", fix="give interventions/candidates.gpkg "
                                 "(the plans rule does), or set interventions.plan_optimum: marginal")
    if not Path(path).exists():
        raise WerklandInputError("candidates file missing", path=str(path), fix="run the interventions rule first")
    return Path(path)


def pool_gains_from_candidates(
    path: str | Path, pool: Sequence[Candidate], guilds: Sequence[str], park_ids: Sequence[str],
) -> list[Gains]:
    """The standalone gains of ``pool`` as the interventions stage evaluated them.

    Reads ``candidates.gpkg`` (layer ``candidates``): per candidate ``d_eca_ha_<guild>``,
    ``d_quality_ha_<guild>``, ``d_hm``, ``d_cool_access_m2``, ``d_retained_m3`` and ``water_park_id``
    (the park whose runoff the retained water counts against). The file must hold exactly the
    candidates of ``pool`` (same ids and types): it comes from the same configuration.

    Parameters
    ----------
    path : path-like
        The interventions stage's ``candidates.gpkg``.
    pool : sequence of Candidate
        The candidates as generated again from the same inputs and settings (:func:`candidate_pool`).
    guilds : sequence of str
        The analysed guilds.
    park_ids : sequence of str
        The region's park ids in park-index order (``Gains.park`` is the position in it).

    Returns
    -------
    list of Gains
        One per ``pool`` candidate, in its order (no interaction data: they are not re-evaluated).

    Raises
    ------
    WerklandInputError
        The file is missing, lacks a column, or holds other candidates than ``pool``.
    """
    import pyogrio

    p = str(check_candidates_file(path))
    try:
        df = pyogrio.read_dataframe(p, layer="candidates", read_geometry=False)
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types for unreadable files
        raise WerklandInputError(f"cannot read layer 'candidates' ({exc})", path=p,
                                 fix="re-run the interventions rule") from None
    need = ["candidate_id", "type", *[f"d_eca_ha_{g}" for g in guilds], *[f"d_quality_ha_{g}" for g in guilds],
            "d_hm", "d_cool_access_m2", "d_retained_m3", "water_park_id"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise WerklandInputError(f"missing column(s) {missing}", path=p,
                                 fix="re-run the interventions rule (the file is from an older version)")
    ids = df["candidate_id"].astype(str).to_numpy()
    row_of = {cid: k for k, cid in enumerate(ids)}
    stale = [c.candidate_id for c in pool if c.candidate_id not in row_of
             or str(df["type"].iloc[row_of[c.candidate_id]]) != c.type]
    if stale or len(df) != len(pool):
        raise WerklandInputError(
            f"holds {len(df)} candidates, the configuration generates {len(pool)}"
            + (f" (first not found: {stale[0]!r})" if stale else ""), path=p,
            fix="re-run the interventions rule: the candidates file comes from other inputs or settings")
    park_of = {str(pid): k for k, pid in enumerate(park_ids)}
    cols = {c: df[c].to_numpy() for c in need[2:]}
    wp = df["water_park_id"].fillna("").astype(str).to_numpy()
    out = []
    for c in pool:
        k = row_of[c.candidate_id]
        out.append(Gains(
            d_eca_ha={g: float(cols[f"d_eca_ha_{g}"][k]) for g in guilds},
            d_quality_ha={g: float(cols[f"d_quality_ha_{g}"][k]) for g in guilds},
            d_hm=float(cols["d_hm"][k]), d_cool_access_m2=float(cols["d_cool_access_m2"][k]),
            d_retained_m3=float(cols["d_retained_m3"][k]), park=park_of.get(wp[k], -1),
        ))
    return out


def select_standalone(
    scorer: Scorer, cands: Sequence[Candidate], gains: Sequence[Gains], budget: float,
) -> list[int]:
    """Budgeted lazy greedy on standalone gains added up with the targets' saturation.

    The objective of a set is :meth:`Scorer.total` of the sum of its members' standalone gains
    vectors (monotone and submodular: a sum under capped attainments), maximised per euro by
    :func:`celf_select` with the stage's exclusion groups and best-single rule. No engine state is
    touched.

    Returns
    -------
    list of int
        Positions in ``cands``, in pick order.
    """
    if not cands:
        return []
    vecs = np.array([scorer.vector(g) for g in gains])
    cost = np.array([c.cost_eur for c in cands], float)
    if cost.min() > budget:
        return []
    cum = np.zeros(scorer.size)
    now = [scorer.total(cum)]

    def gain(i: int) -> float:
        return scorer.total(cum + vecs[i]) - now[0]

    def commit(i: int) -> list[int]:
        cum[:] = cum + vecs[i]
        now[0] = scorer.total(cum)
        return []

    initial = [scorer.total(v) - now[0] for v in vecs]
    picks, _ = celf_select(cost, budget, gain, commit, initial=initial, groups=[c.exclusive_key for c in cands])
    return picks


def check_plan_name(name: str, where: str) -> str:
    """``name`` if it is a safe plan name (letters, digits, ``_``, ``-``), else a clear error."""
    if not PLAN_NAME.match(str(name)):
        raise WerklandInputError(f"plan name {name!r} is not a safe file name", path=where,
                                 fix="use letters, digits, '_' and '-' only (at most 64 characters)")
    return str(name)


def requires_park(typ: InterventionType) -> bool:
    """Whether a measure of ``typ`` must lie in a park (every generator but the fauna passages')."""
    return typ.generator not in OUTSIDE_PARK_GENERATORS


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def read_plan(path: str | Path, ctx: CandidateContext, catalogue: Catalogue, region_poly: Any) -> list[Candidate]:
    """Read and check a plan: one :class:`Candidate` per measure (``source="plan"``), in file order.

    Schema: ``type`` (a catalogue type) and a geometry (polygon, line or point) with a CRS (any; it
    is reprojected to the region's); optional ``measure_id`` (unique; default ``m1``, ``m2``, ...),
    ``cost_eur`` (default the catalogue's unit cost × size) and ``size`` (in the type's size unit;
    default the footprint's area, the line's length or 1 item). A measure changes the cells of its
    geometry that its type applies to (polygons: cells whose centre it contains; lines and points:
    every touched cell), within the park for types placed in parks.

    Parameters
    ----------
    path : path-like
        The plan file.
    ctx : CandidateContext
        The region's grid, land cover and parks.
    catalogue : Catalogue
        The intervention types.
    region_poly : shapely geometry
        The analysis region (``region.gpkg`` layer ``region``).

    Raises
    ------
    WerklandInputError
        Naming the file and the problem: not found or unreadable, empty, no CRS, no ``type`` column, an
        unknown type (listing the allowed ones), a measure without geometry, outside the region, or
        outside every park for a type placed in parks, a bad size or cost, duplicate ids.
    """
    p = str(path)
    gdf = read_vector_file(p, missing="plan file not found", missing_fix="check regions.<region>.plans in the config",
                           unreadable="cannot read the plan", read_fix="give a GeoPackage or GeoJSON of measures")
    if len(gdf) == 0:
        raise WerklandInputError("the plan is empty (no measures)", path=p,
                                 fix="add at least one measure with a type and a geometry")
    if "type" not in gdf.columns:
        raise WerklandInputError("no 'type' column", path=p,
                                 fix=f"give each measure a type, one of: {', '.join(catalogue.types)}")
    if gdf.crs is None:
        raise WerklandInputError("the plan has no CRS", path=p,
                                 fix=f"save it with a CRS (e.g. {ctx.grid.crs.to_string()}, the region's)")
    if not gdf.crs.equals(ctx.grid.crs):
        gdf = gdf.to_crs(ctx.grid.crs.to_wkt())
    if "measure_id" in gdf.columns:
        ids = [f"m{k + 1}" if _missing(v) else str(v) for k, v in enumerate(gdf["measure_id"])]
    else:
        ids = [f"m{k + 1}" for k in range(len(gdf))]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise WerklandInputError(f"duplicate measure_id {dup[:5]}", path=p, fix="give each measure its own id")
    allowed = ", ".join(catalogue.types)
    region_ok = region_poly.buffer(ctx.grid.res_m) if region_poly is not None else None
    valid = ctx.codes.ravel() != 0
    out: list[Candidate] = []
    for k, row in enumerate(gdf.itertuples(index=False)):
        mid = ids[k]
        where = f"{p}: measure {mid}"
        tname = row.type
        if _missing(tname) or str(tname) not in catalogue.types:
            raise WerklandInputError(f"measure {mid}: unknown type {tname!r}", path=p,
                                     fix=f"use one of the catalogue types: {allowed}")
        typ = catalogue.types[str(tname)]
        geom = row.geometry
        if geom is None or geom.is_empty:
            raise WerklandInputError(f"measure {mid} ({typ.name}) has no geometry", path=p,
                                     fix="draw the measure (polygon, line or point)")
        touched = geom.geom_type not in ("Polygon", "MultiPolygon")
        g2 = geom
        if geom.geom_type in ("Point", "MultiPoint") and typ.generator == "barrier":
            g2 = geom.buffer(float(typ.params.get("radius_m", 15)))
        raw = ctx.cells_of_geom(g2, all_touched=touched or typ.generator == "barrier")
        inside = raw[valid[raw]] if raw.size else raw
        if inside.size == 0 or (region_ok is not None and not region_ok.covers(geom)):
            part = "partly " if inside.size else ""
            raise WerklandInputError(f"measure {mid} ({typ.name}) lies {part}outside the region", path=p,
                                     fix="move it inside the analysis region (region.gpkg, layer region)")
        note = ""
        cells = ctx.eligible(inside, typ, None)
        if requires_park(typ):
            in_park = ctx.park_index.ravel()[inside] > 0
            if not in_park.any():
                raise WerklandInputError(
                    f"measure {mid} ({typ.name}) lies outside every park", path=p,
                    fix=f"a {typ.name} is placed inside a business park (only "
                        f"{', '.join(t.name for t in catalogue.types.values() if not requires_park(t)) or 'no type'}"
                        " may lie outside)")
            if not in_park.all():
                note = f"{int((~in_park).sum())} of {inside.size} cells outside the parks stay as they are; "
            cells = cells[ctx.park_index.ravel()[cells] > 0]
        if cells.size < inside.size:
            note += (f"{inside.size - cells.size} of {inside.size} cells are not "
                     f"{'/'.join(typ.applies_to)} (or not in a park) and stay as they are")
        size = getattr(row, "size", None) if "size" in gdf.columns else None
        if _missing(size):
            size = {"m2": cells.size * ctx.grid.cell_area_m2,
                    "m": geom.length if geom.length > 0 else cells.size * ctx.grid.res_m, "item": 1.0}[typ.size_unit]
        size_f = check_number(size, f"{where}: size ({typ.size_unit})", lo=0)
        cost = getattr(row, "cost_eur", None) if "cost_eur" in gdf.columns else None
        cost_f = typ.unit_cost * size_f if _missing(cost) else check_number(cost, f"{where}: cost_eur", lo=0)
        park = ctx.park_of_cells(cells if cells.size else inside)
        out.append(Candidate(mid, typ.name, park, np.unique(cells), float(size_f), typ.size_unit, float(cost_f),
                             exclusive_key=None, source="plan", geometry=geom, note=note.strip().rstrip(";")))
    log.info("plan %s: %d measures", p, len(out))
    return out


def canonical_order(cands: Sequence[Candidate]) -> list[int]:
    """Indices of ``cands`` in the order of the joint evaluation: type, first cell, footprint size, cost."""
    return sorted(range(len(cands)), key=lambda i: (cands[i].type, int(cands[i].cells[0]) if cands[i].cells.size else -1,
                                                   int(cands[i].cells.size), cands[i].cost_eur, cands[i].candidate_id))


@dataclass
class PlanScore:
    """A scored plan (see :func:`score_plan`).

    Attributes
    ----------
    plan : list of Candidate
        The plan's measures, in file order.
    standalone : list of Gains
        Each measure's gains alone against the baseline.
    marginal_score : numpy.ndarray
        Each measure's marginal combined score in the joint evaluation.
    joint_order : numpy.ndarray
        Position (1-based) of each measure in the joint evaluation.
    total : numpy.ndarray
        The plan's joint gains vector (:meth:`Scorer.vector`).
    optimum : list of Candidate
        The optimiser's portfolio at the plan's cost, in pick order.
    optimum_total : numpy.ndarray
        Its joint gains vector.
    optimum_standalone : list of Gains
        Its measures' standalone gains.
    in_optimum : numpy.ndarray
        Per plan measure: kept by the optimiser.
    replaced_by : list of list of str
        Per plan measure: the optimiser's measures matched to it when it is swapped out.
    replaces : list of list of str
        Per optimiser measure not in the plan: the plan measures it is matched to.
    scorer : Scorer
        The targets and weights.
    warnings : list of str
        Remarks.
    timing_s : dict of str to float
        Wall seconds of the steps (evaluation, selection, joint evaluations).
    """

    plan: list[Candidate]
    standalone: list[Gains]
    marginal_score: np.ndarray
    joint_order: np.ndarray
    total: np.ndarray
    optimum: list[Candidate]
    optimum_total: np.ndarray
    optimum_standalone: list[Gains]
    in_optimum: np.ndarray
    replaced_by: list[list[str]]
    replaces: list[list[str]]
    scorer: Scorer
    warnings: list[str]
    timing_s: dict[str, float] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        """The plan's cost, EUR."""
        return float(sum(c.cost_eur for c in self.plan))

    @property
    def score(self) -> float:
        """The plan's joint combined score."""
        return self.scorer.total(self.total)

    @property
    def optimum_score(self) -> float:
        """The optimiser's portfolio's joint combined score."""
        return self.scorer.total(self.optimum_total)

    @property
    def attainable_score(self) -> float:
        """The best known score for the plan's cost: the optimiser's or the plan's, whichever is higher."""
        return max(self.score, self.optimum_score)

    @property
    def attainment_pct(self) -> float:
        """100 × plan score / attainable score (NaN when nothing attainable scores above 0)."""
        a = self.attainable_score
        return 100.0 * self.score / a if a > 0 else math.nan


def _match_swaps(
    out_c: Sequence[Candidate], in_c: Sequence[Candidate], width: int,
) -> tuple[list[list[str]], list[list[str]]]:
    """Match each optimiser measure not in the plan to a swapped-out plan measure: same park first,
    then the nearest footprint centre."""
    repl: list[list[str]] = [[] for _ in out_c]
    reps: list[list[str]] = [[] for _ in in_c]
    if not out_c or not in_c:
        return repl, reps

    def centre(c: Candidate) -> np.ndarray:
        if c.cells.size == 0:
            return np.array([math.inf, math.inf])
        return np.array([np.mean(c.cells // width), np.mean(c.cells % width)], float)

    for j, cin in enumerate(in_c):
        same = [i for i, c in enumerate(out_c) if c.park_id == cin.park_id]
        pool = same or list(range(len(out_c)))
        ci = centre(cin)
        d = [float(np.hypot(*(centre(out_c[i]) - ci))) for i in pool]
        best = pool[int(np.argmin(d))]
        repl[best].append(cin.candidate_id)
        reps[j].append(out_c[best].candidate_id)
    return repl, reps


def _start_replay(ev: Evaluator, scorer: Scorer, cands: list[Candidate], n_workers: int) -> Callable[[], Replay]:
    """Start committing ``cands`` in order to a copy of ``ev``'s current state; a function waiting for the result.

    With ``n_workers > 1`` the replay runs in a forked process on its copy-on-write copy of the state,
    alongside what this process does next (the selection); otherwise at once on a deep copy. Either
    way ``ev`` is left as it is and the result is the same (:func:`~werkland.interventions.after.replay`).
    """
    if n_workers > 1 and hasattr(os, "fork") and cands:
        # the worker is forked here: it holds the current state
        return Beside(functools.partial(replay, ev, scorer, cands)).result
    res = replay(copy.deepcopy(ev), scorer, cands)
    return lambda: res


def start_plan_replay(eng: Engine, plan: Sequence[Candidate], params: InterventionParams) -> Callable[[], Replay]:
    """Start the plan's joint evaluation (canonical order, the engine's baseline) beside what follows.

    With ``params.n_workers > 1`` it runs in a forked process from the engine's current (baseline)
    state; a function waiting for its :class:`Replay`. Start it before the candidates are generated
    and evaluated, so they overlap.
    """
    forked = params.n_workers > 1
    for gg in eng.ev.graphs.values():  # a forked replay has one core: its searches on one thread
        gg.n_threads = 1 if forked else params.n_workers
    job = _start_replay(eng.ev, eng.scorer, [plan[i] for i in canonical_order(plan)], params.n_workers)
    for gg in eng.ev.graphs.values():
        gg.n_threads = params.n_workers
    return job


def score_plan(
    eng: Engine, plan: list[Candidate], pool: list[Candidate], params: InterventionParams,
    pool_gains: Sequence[Gains] | None = None, plan_job: Callable[[], Replay] | None = None,
) -> PlanScore:
    """Score ``plan`` against the baseline of ``eng`` and the optimiser's portfolio at its cost.

    Parameters
    ----------
    eng : Engine
        The region's engine in its baseline state; the selection and the joint evaluations commit to it.
    plan : list of Candidate
        The plan's measures (:func:`read_plan`).
    pool : list of Candidate
        The optimiser's other candidates (generated and user candidates of the interventions stage).
        A pool candidate equal to a plan measure (same type and cells) is replaced by that measure.
    params : InterventionParams
        Selection settings (the interventions stage's; ``plan_optimum`` picks the optimiser).
    pool_gains : sequence of Gains, optional
        The standalone gains of ``pool`` (:func:`pool_gains_from_candidates`); required by the
        ``standalone`` optimiser, which then evaluates only the plan's measures that are not equal
        to a candidate (same type and cells). The ``marginal`` optimiser evaluates every candidate
        again and ignores them.
    plan_job : callable, optional
        The plan's joint evaluation already started on the baseline (:func:`start_plan_replay`);
        started here when not given.

    Returns
    -------
    PlanScore
    """
    warnings = list(eng.warnings)
    scorer, ev = eng.scorer, eng.ev
    mode = params.plan_optimum
    if mode not in OPTIMUM_MODES:
        raise WerklandInputError(f"unknown plan optimiser {mode!r}", path="config: interventions.plan_optimum",
                                 fix=f"use one of {', '.join(OPTIMUM_MODES)}")
    if mode == "standalone" and (pool_gains is None or len(pool_gains) != len(pool)):
        raise ValueError("the standalone optimiser needs the pool's standalone gains, one per pool candidate")
    # a plan measure equal to a pool candidate takes its place (and its exclusion group: one roof, one
    # kind of green roof)
    plan = list(plan)
    key_of = {(m.type, m.cells.tobytes()): j for j, m in enumerate(plan)}
    kept, kept_gains = [], []
    known: dict[int, Gains] = {}  # plan measures equal to a pool candidate: its standalone gains
    for k_pool, c in enumerate(pool):
        k = key_of.get((c.type, np.ascontiguousarray(c.cells, np.int64).tobytes()))
        if k is None:
            kept.append(c)
            if pool_gains is not None:
                kept_gains.append(pool_gains[k_pool])
            continue
        if pool_gains is not None:
            known[k] = pool_gains[k_pool]
        if c.exclusive_key is not None and plan[k].exclusive_key is None:
            plan[k] = replace(plan[k], exclusive_key=c.exclusive_key)
    pool = kept
    cands = pool + list(plan)
    n_pool = len(pool)
    order = canonical_order(plan)
    cost = float(sum(c.cost_eur for c in plan))
    clock = [time.perf_counter()]
    timing: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        timing[name] = round(now - clock[0], 2)
        clock[0] = now

    if mode == "marginal":
        # every candidate alone (the plan's measures included: their standalone gains)
        gains = first_evaluation(ev, cands, params)
        scores = score_candidates(scorer, cands, gains)
    else:
        # the pool as the stage evaluated it; the plan's measures alone here, except those equal to
        # a candidate (same type and cells, so the same standalone gains on the same baseline)
        todo = [k for k in range(len(plan)) if k not in known]
        fresh = dict(zip(todo, first_evaluation(ev, [plan[k] for k in todo], params), strict=True))
        gains = kept_gains + [known[k] if k in known else fresh[k] for k in range(len(plan))]
    lap("standalone_evaluation")
    for gg in ev.graphs.values():
        gg.n_threads = params.n_workers
    # the plan jointly (canonical order) on a copy of the baseline: in a forked process (a
    # copy-on-write copy) while this one selects and evaluates the optimum, else here on a deep copy
    if plan_job is None:
        plan_job = _start_replay(ev, scorer, [plan[i] for i in order], params.n_workers)
    if mode == "marginal":
        base = copy.deepcopy(ev)
        picks, _ = select_portfolio(ev, scorer, cands, gains, scores, budget=cost, interaction_p=params.interaction_p,
                                    eager_max=params.eager_max, lazy_epsilon=params.lazy_epsilon, warnings=warnings)
    else:
        base = ev  # the standalone selection commits nothing: the optimum is evaluated on the engine itself
        ev.use_guild_threads(params.n_workers)  # its graphs updated side by side (the fork keeps one thread)
        picks = select_standalone(scorer, cands, gains, cost)
        if not picks and cands and min(c.cost_eur for c in cands) > cost:
            warnings.append(f"the plan's cost {cost:,.0f} EUR is below the cheapest measure: no optimum")
    lap("optimum_selection")
    opt = [cands[i] for i in picks]
    opt_is_plan = sorted(picks) == list(range(n_pool, len(cands)))
    opt_total = None
    if not opt_is_plan:
        # the optimum jointly on the baseline copy (``ev`` itself for the standalone selection, which
        # committed nothing), beside the plan's joint evaluation in the forked process
        opt_seq = [opt[i] for i in canonical_order(opt)]
        # marginal: committed one by one as the selection did; standalone: one graph update per batch
        # of non-overlapping measures of a park (equal up to the PC tolerance, far fewer searches)
        opt_total = (replay(base, scorer, opt_seq).total if mode == "marginal"
                     else batched_joint_total(base, scorer, opt_seq))
        lap("optimum_joint")
    rep = plan_job()
    lap("plan_joint_wait")
    if opt_total is None:
        # the optimum is the plan: the same measures committed in the same canonical order on the
        # same baseline -- the plan's joint evaluation is the optimum's
        opt_total = rep.total
    marginal = np.zeros(len(plan))
    joint_order = np.zeros(len(plan), np.int64)
    cum = np.zeros(scorer.size)
    for k, (i, v) in enumerate(zip(order, rep.vectors, strict=True)):
        before = scorer.total(cum)
        cum = cum + v
        marginal[i] = scorer.total(cum) - before
        joint_order[i] = k + 1
    del base
    pick_set = set(picks)
    in_opt = np.array([n_pool + k in pick_set for k in range(len(plan))], bool)
    out_c = [m for m, keep in zip(plan, in_opt, strict=True) if not keep]
    in_c = [cands[i] for i in picks if i < n_pool]
    repl, reps = _match_swaps(out_c, in_c, ev.W)
    it = iter(repl)
    replaced_by = [[] if keep else next(it) for keep in in_opt]
    rep_map = {c.candidate_id: r for c, r in zip(in_c, reps, strict=True)}
    replaces = [rep_map.get(c.candidate_id, []) for c in opt]
    log.info("plan scoring steps (s): %s", timing)
    return PlanScore(list(plan), gains[n_pool:], marginal, joint_order, rep.total, opt, opt_total,
                     [gains[i] for i in picks], in_opt, replaced_by, replaces, scorer, warnings, timing)


# --- outputs --------------------------------------------------------------------------------------


def _gain_columns(g: Gains, scorer: Scorer) -> dict[str, float]:
    row: dict[str, float] = {}
    for gn in scorer.guilds:
        row[f"d_eca_ha_{gn}"] = g.d_eca_ha.get(gn, 0.0)
    row["d_habitat_ha"] = float(np.dot(scorer.guild_w, [g.d_quality_ha.get(gn, 0.0) for gn in scorer.guilds]))
    row.update({"d_hm": g.d_hm, "d_cool_access_m2": g.d_cool_access_m2, "d_retained_m3": g.d_retained_m3})
    b, c = scorer.parts(scorer.vector(g))
    row.update({"score_bio": b, "score_climate": c, "score": scorer.w_bio * b + scorer.w_clim * c})
    return row


def measures_layers(ps: PlanScore, catalogue: Catalogue, grid: Any) -> dict[str, gpd.GeoDataFrame]:
    """Layers ``measures`` (the plan's measures with their standalone and marginal gains) and
    ``optimum`` (the optimiser's portfolio at the plan's cost); geometry = the cells changed."""
    crs = grid.crs.to_wkt()
    rows = []
    for k, c in enumerate(ps.plan):
        r: dict[str, Any] = {"measure_id": c.candidate_id, "type": c.type, "label": catalogue.types[c.type].label,
                             "park_id": c.park_id, "size": round(c.size, 3), "size_unit": c.size_unit,
                             "cost_eur": round(c.cost_eur, 2), "n_cells": int(c.cells.size)}
        r.update(_gain_columns(ps.standalone[k], ps.scorer))
        r.update({"marginal_score": float(ps.marginal_score[k]), "joint_order": int(ps.joint_order[k]),
                  "in_optimum": bool(ps.in_optimum[k]), "replaced_by": ", ".join(ps.replaced_by[k]), "note": c.note})
        rows.append(r)
    measures = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(
        [footprint_polygon(c.cells, grid) for c in ps.plan], crs=crs), crs=crs)
    plan_ids = {c.candidate_id for c in ps.plan}
    orow = []
    for k, (c, g) in enumerate(zip(ps.optimum, ps.optimum_standalone, strict=True)):
        r = {"select_order": k + 1, "candidate_id": c.candidate_id, "type": c.type,
             "label": catalogue.types[c.type].label, "park_id": c.park_id, "size": round(c.size, 3),
             "size_unit": c.size_unit, "cost_eur": round(c.cost_eur, 2), "n_cells": int(c.cells.size)}
        r.update(_gain_columns(g, ps.scorer))
        r.update({"in_plan": c.source == "plan" and c.candidate_id in plan_ids, "replaces": ", ".join(ps.replaces[k]),
                  "source": c.source})
        orow.append(r)
    cols = ["select_order", "candidate_id", "type", "label", "park_id", "size", "size_unit", "cost_eur", "n_cells",
            *[f"d_eca_ha_{gn}" for gn in ps.scorer.guilds], "d_habitat_ha", "d_hm", "d_cool_access_m2",
            "d_retained_m3", "score_bio", "score_climate", "score", "in_plan", "replaces", "source"]
    optimum = gpd.GeoDataFrame(pd.DataFrame(orow, columns=cols), geometry=gpd.GeoSeries(
        [footprint_polygon(c.cells, grid) for c in ps.optimum], crs=crs), crs=crs)
    return {"measures": measures, "optimum": optimum}


def totals_row(name: str, ps: PlanScore) -> pd.DataFrame:
    """``plans/{name}.csv``: one row of the plan's totals (:data:`PLAN_CSV_COLUMNS`, then the joint gains)."""
    sc = ps.scorer
    ng = len(sc.guilds)
    b, c = sc.parts(ps.total)
    standalone = float(sum(sc.total(sc.vector(g)) for g in ps.standalone))
    row: dict[str, Any] = {
        "plan": name, "n_measures": len(ps.plan), "cost_eur": round(ps.cost, 2), "score": ps.score,
        "score_bio": b, "score_climate": c, "sum_standalone_score": standalone,
        "interaction_score": ps.score - standalone, "optimum_score": ps.optimum_score,
        "optimum_cost_eur": round(float(sum(x.cost_eur for x in ps.optimum)), 2),
        "optimum_n_measures": len(ps.optimum), "attainable_score": ps.attainable_score,
        "attainment_pct": ps.attainment_pct, "n_swapped_out": int((~ps.in_optimum).sum()),
        "n_swapped_in": sum(1 for x in ps.optimum if x.source != "plan"),
    }
    for j, gn in enumerate(sc.guilds):
        row[f"d_eca_ha_{gn}"] = float(ps.total[j])
    row["d_habitat_ha"] = float(np.dot(sc.guild_w, ps.total[ng:2 * ng]))
    row["d_hm"] = float(ps.total[2 * ng])
    row["d_cool_access_m2"] = float(ps.total[2 * ng + 1])
    row["d_retained_m3"] = float(ps.total[2 * ng + 2:].sum())
    return pd.DataFrame([row])


@dataclass(frozen=True)
class PlanInputs:
    """Files of the scoring of one plan.

    Attributes
    ----------
    engine : InterventionInputs
        The interventions stage's inputs (its outputs are not written).
    name : str
        Plan name (``plans/{name}.*``).
    plan : Path
        The plan file (GeoPackage or GeoJSON).
    out_gpkg, out_csv : Path
        ``plans/{name}.gpkg`` (layers ``measures`` and ``optimum``) and ``plans/{name}.csv``.
    candidates_gpkg : Path, optional
        The interventions stage's ``candidates.gpkg``: the candidates' standalone gains for the
        ``standalone`` optimiser (required by it).
    """

    engine: InterventionInputs
    name: str
    plan: Path
    out_gpkg: Path
    out_csv: Path
    candidates_gpkg: Path | None = None

    def __post_init__(self) -> None:
        as_paths(self, skip=("name",))


def run_plan(inputs: PlanInputs, params: InterventionParams) -> dict[str, Any]:
    """Read, check and score one plan; write its GeoPackage and totals.

    The optimiser's candidates are those of the interventions stage (generated, capped, and the user
    candidates, with its settings) plus the plan's measures.

    Returns
    -------
    dict
        The totals row as a dict, the timing and the warnings.

    Raises
    ------
    WerklandInputError
        A bad plan (:func:`read_plan`) or a missing input.
    """
    t0 = time.perf_counter()
    name = check_plan_name(inputs.name, where=str(inputs.plan))
    eng = build_engine(inputs.engine, params)
    region_layer = read_layer(inputs.engine.region_gpkg, "region", eng.region.grid, "region outline")
    region_poly = shapely.union_all(region_layer.geometry.values) if len(region_layer) else None
    plan = read_plan(inputs.plan, eng.ctx, eng.catalogue, region_poly)
    # checked before the plan's joint evaluation is started in a forked process
    cand_gpkg = check_candidates_file(inputs.candidates_gpkg) if params.plan_optimum == "standalone" else None
    # the plan jointly, beside the candidates' generation, evaluation and the optimum
    plan_job = start_plan_replay(eng, plan, params)
    t_read = time.perf_counter()
    pool = candidate_pool(eng, params, inputs.engine.user_candidates)
    pool_gains = None
    if cand_gpkg is not None:
        park_ids = [str(x) for x in eng.region.parks["park_id"]]
        pool_gains = pool_gains_from_candidates(cand_gpkg, pool, params.guilds, park_ids)
    ps = score_plan(eng, plan, pool, params, pool_gains, plan_job)
    t_score = time.perf_counter()
    inputs.out_gpkg.parent.mkdir(parents=True, exist_ok=True)
    write_gpkg_layers(measures_layers(ps, eng.catalogue, eng.region.grid), inputs.out_gpkg)
    row = totals_row(name, ps)
    write_csv(row, inputs.out_csv)
    for w in ps.warnings:
        log.warning("%s", w)
    log.info("plan %s: %d measures, %.0f EUR, score %.4f; optimum %.4f (%d measures); attainment %.1f %%; "
             "%d swapped out (%.1f s)", name, len(plan), ps.cost, ps.score, ps.optimum_score, len(ps.optimum),
             ps.attainment_pct, int((~ps.in_optimum).sum()), t_score - t0)
    out = row.iloc[0].to_dict()
    out.update({"timing_s": {"read": round(t_read - t0, 2), **ps.timing_s, "total": round(time.perf_counter() - t0, 2)},
                "warnings": ps.warnings})
    return out
