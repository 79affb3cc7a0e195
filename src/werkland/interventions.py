"""Green and blue interventions: generate candidates, score their combined gain, select under a budget.

The stage answers the municipality's question "with this budget, which measures, where, and what
does each buy for nature and for climate?" (issue 7). Per region:

1. **Catalogue** (``config/interventions.yaml``, :func:`load_catalogue`): per measure the classes it
   applies to, its size rule, its effect (new land-cover class and/or changed suitability/resistance
   per guild and biophysical overrides) and its unit cost.
2. **Candidates** (:func:`generate_candidates`) found in the data inside the parks: large building
   roofs, parking lots and paved yards, street edges, lawns, spots near water, least-cost links
   crossing a park (hedgerows, stepping stones) and the ranked barrier segments (fauna passages), or
   read from a user layer in the same schema (:func:`read_user_candidates`). Each candidate is a set of
   raster cells (its footprint) plus an id, type, park, size and cost.
3. **Gains** computed by applying a candidate to the rasters and graphs *locally*
   (:class:`Evaluator`):

   * biodiversity, per guild: new suitability/resistance on the footprint; the habitat components
     that touch it are relabelled in a window (patches created, enlarged, merged or shrunk); bounded
     least-cost searches are re-run only from the new patches and from the patches whose links can
     change (a lower bound from one search out of the footprint decides which); the patch graph is
     updated exactly -- vertex insertion plus the O(n²) shortest-path update restricted to the
     connected components involved when distances can only fall, a full all-pairs run otherwise --
     giving ``d_eca_ha_<guild>`` (ECA = sqrt(PCnum), Saura et al. 2011) and the quality-weighted
     habitat area gained;
   * climate: InVEST urban cooling re-run on a window of the footprint + 10·d_cool (HM can change
     within 5·d_cool, and each of those cells sees 5·d_cool further), summed as HM-weighted hectares
     ``d_hm``; cool-spot access (workplace area newly within the cool-spot distance); SCS-CN runoff
     before/after on the footprint plus the explicit storage added, pooled per park, as
     ``d_retained_m3`` for the design storm.

4. **Ranking**: each gain is normalised as attainment of a target (storage still needed per park
   from ``climate/summary.csv``, an ECA and a habitat target per guild, the HM deficit and the
   unserved workplace area), combined with weights and divided by cost; a lazy-greedy (CELF)
   budgeted selection re-evaluates marginal gains after each pick (measures interact: stepping stones
   are super-additive, cooling overlaps are sub-additive, storage saturates), re-evaluating eagerly
   the candidates that share graph nodes with the pick; the best single affordable measure is kept
   when it beats the greedy portfolio (Leskovec et al. 2007). The Pareto front of biodiversity vs
   climate score per euro marks the efficient measures.

Units: areas m² or ha as named, lengths m, volumes m³, money EUR; ``d_hm`` in HM-weighted ha
(Σ ΔHM × cell area / 10⁴).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import ndimage

from werkland._errors import WerklandInputError
from werkland._kernels.graph import insert_edge
from werkland._kernels.grid_search import DC, DR, label_search, step_lengths
from werkland._kernels.triangle import tri_read, tri_write

log = logging.getLogger(__name__)

__all__ = [
    "CANDIDATE_FIELDS",
    "DEFAULT_PARAMS",
    "GENERATORS",
    "Candidate",
    "Catalogue",
    "Evaluator",
    "Gains",
    "InterventionType",
    "bounded_search_targets",
    "celf_select",
    "generate_candidates",
    "interventions_params",
    "load_catalogue",
    "pareto_front",
    "read_user_candidates",
    "run_interventions",
]

#: Candidate generators known to :func:`generate_candidates`.
GENERATORS = (
    "polygons", "facade", "components", "street_edge", "near_water", "link", "stepping_stone",
    "barrier", "none",
)
SIZE_UNITS = ("m2", "m", "item")
_BIO_KEYS = ("shade", "albedo", "kc", "green_area", "cn", "storage_mm", "sealed")
UNCHANGED = "unchanged"

#: Required fields of a candidate layer (user layers: ``size``, ``size_unit``, ``cost_eur``,
#: ``park_id`` are optional and derived when absent).
CANDIDATE_FIELDS = ("candidate_id", "type", "geometry")

#: Defaults of the ``params`` of :func:`run_interventions` (config section ``interventions``).
DEFAULT_PARAMS: dict[str, Any] = {
    # budget of the greedy selection, EUR
    "budget_eur": 500_000.0,
    # weights of biodiversity and climate in the combined score (renormalised to sum 1)
    "weights": {"biodiversity": 0.5, "climate": 0.5},
    # guild weights in the biodiversity score and d_habitat_ha (default: equal)
    "guild_weights": None,
    # ECA target per guild: this percentage of the baseline ECA (estimate)
    "eca_target_pct": 10.0,
    # habitat target per guild: this percentage of the baseline quality-weighted patch area (estimate)
    "habitat_target_pct": 10.0,
    # share of ECA in the biodiversity score (the rest: quality-weighted habitat area)
    "bio_eca_share": 0.7,
    # share of water retention in the climate score (the rest: heat)
    "climate_water_share": 0.5,
    # share of the HM gain in the heat score (the rest: cool-spot access of workplaces)
    "heat_hm_share": 0.5,
    # cap each attainment at 1 (target met = no further credit)
    "cap_attainment": True,
    # design storm for d_retained_m3 (name of a climate storm; null = the first one)
    "design_storm": None,
    # at most this many generated candidates per type and park (largest first; null = all)
    "max_candidates_per_type_park": 25,
    # at most this many generated candidates in total, taken round-robin over the types (null = all)
    "max_candidates": 1000,
    # relative PCnum tolerance of the local graph update (pairs with p* to every change below
    # (Σa)^-2 · tol · PCnum are left unchanged; 0 = exact)
    "pc_tolerance": 1e-6,
    # lazy greedy: after a pick, candidates whose graph seeds have p* >= this to the pick's (or whose
    # heat windows overlap, or footprints share cells) are re-evaluated; the others are re-priced from
    # their stored gains (ECA's square root and the park's storage cap updated). The pick itself is
    # always evaluated exactly.
    "interaction_p": 0.01,
    # lazy greedy: a re-evaluated candidate whose gain per euro is within this fraction of the best
    # remaining (stale) bound is picked at once ((1 - eps)-approximate greedy steps; 0 = exact lazy
    # greedy, which re-evaluates long runs of near-equal candidates)
    "lazy_epsilon": 0.02,
    # lazy greedy: after a pick, at most this many candidates that interact structurally with it
    # (same patch, shared link or footprint cells) are re-evaluated at once -- the best-ranked ones;
    # the other interacting candidates are re-evaluated when they reach the top of the queue
    "eager_max": 8,
    # worker processes for the first evaluation of all candidates (1 = in process)
    "n_workers": 2,
    # optional user candidate layer (GeoPackage/any OGR vector in the region CRS); "" = none
    "user_candidates": "",
    # "add" user candidates to the generated ones, or "replace" them
    "user_candidates_mode": "add",
}


# =============================================================================================
# Catalogue
# =============================================================================================


@dataclass(frozen=True)
class InterventionType:
    """One measure of the catalogue (see the header of ``config/interventions.yaml``).

    Attributes
    ----------
    name, label : str
        Id and readable name.
    generator : str
        One of :data:`GENERATORS`.
    applies_to : tuple of str
        Land-cover classes the measure may change.
    min_size, max_size : float or None
        Size bounds in ``size_unit`` (max_size only for the components generator).
    share : float
        Share of a source polygon converted (polygons generator).
    cells : int or None
        Fixed number of cells instead of a share.
    params : dict
        Generator settings.
    new_class : str or None
        Class the cells become; None = class unchanged.
    biophysical : dict
        Overrides of biophysical values (``cn`` as ``{A, B, C, D}``).
    suitability, resistance : dict
        Guild -> value or :data:`UNCHANGED` (resistance ``inf`` = impassable).
    size_unit : str
        ``m2``, ``m`` or ``item``.
    unit_cost : float
        EUR per size unit.
    cost_source : str
        Source or "estimate".
    exclusive : str or None
        Key of mutually exclusive types on one source feature.
    """

    name: str
    label: str
    generator: str
    applies_to: tuple[str, ...]
    min_size: float
    max_size: float | None
    share: float
    cells: int | None
    params: dict[str, Any]
    new_class: str | None
    biophysical: dict[str, Any]
    suitability: dict[str, Any]
    resistance: dict[str, Any]
    size_unit: str
    unit_cost: float
    cost_source: str
    exclusive: str | None


@dataclass(frozen=True)
class Catalogue:
    """The validated intervention catalogue.

    Attributes
    ----------
    types : dict of str to InterventionType
        In file order.
    path : str
        Source file (named in errors).
    """

    types: dict[str, InterventionType]
    path: str

    def get(self, name: str, *, where: str | None = None) -> InterventionType:
        """The type called ``name``; a clear error naming the known types otherwise."""
        if name not in self.types:
            raise WerklandInputError(
                f"unknown intervention type {name!r}", path=where or self.path,
                fix=f"use one of: {', '.join(self.types)} (or add it to {self.path})",
            )
        return self.types[name]


def _num(val: Any, where: str, *, lo: float | None = None, hi: float | None = None, strict: bool = False) -> float:
    try:
        x = float(val)
    except (TypeError, ValueError):
        x = math.nan
    bad = isinstance(val, bool) or not math.isfinite(x)
    if not bad and lo is not None:
        bad = x < lo or (strict and x == lo)
    if not bad and hi is not None:
        bad = x > hi
    if bad:
        rng = []
        if lo is not None:
            rng.append(f"{'>' if strict else '>='} {lo:g}")
        if hi is not None:
            rng.append(f"<= {hi:g}")
        raise WerklandInputError(f"{val!r} is not a finite number {' and '.join(rng)}".rstrip(), path=where)
    return x


def load_catalogue(path: str | os.PathLike[str], legend: Any, guilds: Mapping[str, Any]) -> Catalogue:
    """Load and validate ``config/interventions.yaml``.

    Parameters
    ----------
    path : path-like
        Catalogue YAML (top-level ``types:`` mapping).
    legend : werkland.tables.Legend
        Land-cover legend (class names are checked against it).
    guilds : mapping of str to werkland.tables.Guild
        Guild table (guild names in effects are checked; a new class may not be an edge class of a
        guild, because the edge band is precomputed).

    Returns
    -------
    Catalogue

    Raises
    ------
    WerklandInputError
        Unknown generator, class, guild or size unit; negative cost; values out of range.
    """
    p = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise WerklandInputError("catalogue not found", path=p, fix="check interventions.catalogue in the config") from exc
    except yaml.YAMLError as exc:
        raise WerklandInputError(f"not valid YAML ({exc})", path=p) from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("types"), Mapping) or not doc["types"]:
        raise WerklandInputError("needs a non-empty mapping 'types'", path=p, fix="see config/interventions.yaml")
    known = set(legend.names)
    edge_classes = {c for g in guilds.values() for c in g.edge_classes}
    out: dict[str, InterventionType] = {}
    for name, t in doc["types"].items():
        w = f"{p}: types.{name}"
        if not isinstance(t, Mapping):
            raise WerklandInputError("must be a mapping", path=w)
        gen = t.get("generator", "none")
        if gen not in GENERATORS:
            raise WerklandInputError(f"unknown generator {gen!r}", path=f"{w}.generator", fix=f"use one of {', '.join(GENERATORS)}")
        applies = tuple(t.get("applies_to") or ())
        for c in applies:
            if c not in known:
                raise WerklandInputError(f"unknown class {c!r} in applies_to", path=f"{w}.applies_to",
                                         fix=f"use classes of {legend.path}")
        if not applies:
            raise WerklandInputError("applies_to is empty", path=w, fix="list the land-cover classes the measure may change")
        eff = t.get("effect") or {}
        if not isinstance(eff, Mapping):
            raise WerklandInputError("effect must be a mapping", path=f"{w}.effect")
        new_class = eff.get("class")
        if new_class is not None:
            if new_class not in known:
                raise WerklandInputError(f"unknown effect class {new_class!r}", path=f"{w}.effect.class",
                                         fix=f"use a class of {legend.path}: {', '.join(legend.names)}")
            if new_class in edge_classes:
                raise WerklandInputError(f"effect class {new_class!r} is an edge class of a guild", path=f"{w}.effect.class",
                                         fix="interventions may not create disturbing (edge) classes")
        bio = dict(eff.get("biophysical") or {})
        for k, v in bio.items():
            if k not in _BIO_KEYS:
                raise WerklandInputError(f"unknown biophysical key {k!r}", path=f"{w}.effect.biophysical",
                                         fix=f"use {', '.join(_BIO_KEYS)}")
            if k == "cn":
                vals = v if isinstance(v, Mapping) else {g: v for g in "ABCD"}
                bio[k] = {g: _num(vals.get(g), f"{w}.effect.biophysical.cn.{g}", lo=0, hi=100) for g in "ABCD"}
            elif k == "storage_mm":
                bio[k] = _num(v, f"{w}.effect.biophysical.{k}", lo=0)
            elif k == "kc":
                bio[k] = _num(v, f"{w}.effect.biophysical.{k}", lo=0, hi=2)
            else:
                bio[k] = _num(v, f"{w}.effect.biophysical.{k}", lo=0, hi=1)
        if bio and new_class is None:
            raise WerklandInputError("biophysical overrides need an effect class", path=f"{w}.effect",
                                     fix="set effect.class (the class whose values are overridden)")
        suit: dict[str, Any] = {}
        for gname, v in (eff.get("suitability") or {}).items():
            if gname not in guilds:
                raise WerklandInputError(f"unknown guild {gname!r}", path=f"{w}.effect.suitability", fix=f"use {', '.join(guilds)}")
            suit[gname] = UNCHANGED if v == UNCHANGED else _num(v, f"{w}.effect.suitability.{gname}", lo=0, hi=1)
        res: dict[str, Any] = {}
        for gname, v in (eff.get("resistance") or {}).items():
            if gname not in guilds:
                raise WerklandInputError(f"unknown guild {gname!r}", path=f"{w}.effect.resistance", fix=f"use {', '.join(guilds)}")
            if v == UNCHANGED:
                res[gname] = UNCHANGED
            elif v == "impassable":
                res[gname] = math.inf
            else:
                res[gname] = _num(v, f"{w}.effect.resistance.{gname}", lo=1)
        if new_class is None and not suit and not res:
            raise WerklandInputError("effect changes nothing", path=f"{w}.effect",
                                     fix="give a class, suitability or resistance")
        unit = t.get("size_unit")
        if unit not in SIZE_UNITS:
            raise WerklandInputError(f"size_unit {unit!r}", path=f"{w}.size_unit", fix=f"use one of {', '.join(SIZE_UNITS)}")
        cost = t.get("unit_cost")
        try:
            cost_f = float(cost)
        except (TypeError, ValueError):
            cost_f = math.nan
        if not math.isfinite(cost_f) or cost_f < 0:
            raise WerklandInputError(f"unit_cost {cost!r} must be a number >= 0 EUR per {unit}", path=f"{w}.unit_cost")
        share = _num(t.get("share", 1.0), f"{w}.share", lo=0, hi=1, strict=True)
        cells = t.get("cells")
        if cells is not None and (not isinstance(cells, int) or cells < 1):
            raise WerklandInputError(f"cells {cells!r} must be a positive integer", path=f"{w}.cells")
        max_size = t.get("max_size")
        out[str(name)] = InterventionType(
            name=str(name),
            label=str(t.get("label", name)),
            generator=gen,
            applies_to=applies,
            min_size=_num(t.get("min_size", 0), f"{w}.min_size", lo=0),
            max_size=None if max_size is None else _num(max_size, f"{w}.max_size", lo=0, strict=True),
            share=share,
            cells=cells,
            params=dict(t.get("params") or {}),
            new_class=new_class,
            biophysical=bio,
            suitability=suit,
            resistance=res,
            size_unit=unit,
            unit_cost=cost_f,
            cost_source=str(t.get("cost_source", "estimate")),
            exclusive=None if t.get("exclusive") is None else str(t["exclusive"]),
        )
    return Catalogue(out, p)


def interventions_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULT_PARAMS` and validate them.

    Unknown keys are ignored except that the sub-mappings ``climate`` (climate-stage parameters,
    validated by :func:`werkland.climate.climate_params`) and ``connectivity`` (``convention``,
    ``p_floor``; used only when the graph files are absent) are passed through.

    Raises
    ------
    WerklandInputError
        Negative budget or weights, weights summing to 0, shares outside 0..1.
    """
    params = dict(params or {})
    out = {k: (params.get(k) if params.get(k) is not None else v) for k, v in DEFAULT_PARAMS.items()}
    out["guild_weights"] = params.get("guild_weights")
    out["design_storm"] = params.get("design_storm")
    where = "config: interventions"
    out["budget_eur"] = _num(out["budget_eur"], f"{where}.budget_eur", lo=0)
    w = out["weights"]
    if not isinstance(w, Mapping):
        raise WerklandInputError(f"weights {w!r} must map biodiversity/climate to weights", path=f"{where}.weights")
    wb = _num(w.get("biodiversity", 0.5), f"{where}.weights.biodiversity", lo=0)
    wc = _num(w.get("climate", 0.5), f"{where}.weights.climate", lo=0)
    if wb + wc <= 0:
        raise WerklandInputError("weights sum to 0", path=f"{where}.weights", fix="give biodiversity or climate a positive weight")
    out["weights"] = {"biodiversity": wb / (wb + wc), "climate": wc / (wb + wc)}
    for k in ("bio_eca_share", "climate_water_share", "heat_hm_share"):
        out[k] = _num(out[k], f"{where}.{k}", lo=0, hi=1)
    for k in ("eca_target_pct", "habitat_target_pct"):
        out[k] = _num(out[k], f"{where}.{k}", lo=0, strict=True)
    out["n_workers"] = max(1, int(out["n_workers"]))
    out["interaction_p"] = _num(out["interaction_p"], f"{where}.interaction_p", lo=0, hi=1)
    out["lazy_epsilon"] = _num(out["lazy_epsilon"], f"{where}.lazy_epsilon", lo=0, hi=0.5)
    out["eager_max"] = int(_num(out["eager_max"], f"{where}.eager_max", lo=0))
    out["pc_tolerance"] = _num(out["pc_tolerance"], f"{where}.pc_tolerance", lo=0, hi=0.01)
    mc = params.get("max_candidates_per_type_park", DEFAULT_PARAMS["max_candidates_per_type_park"])
    out["max_candidates_per_type_park"] = None if mc is None else max(1, int(mc))
    mt = params.get("max_candidates", DEFAULT_PARAMS["max_candidates"])
    out["max_candidates"] = None if mt is None else max(1, int(mt))
    if out["user_candidates_mode"] not in ("add", "replace"):
        raise WerklandInputError(f"{out['user_candidates_mode']!r}", path=f"{where}.user_candidates_mode", fix="use add or replace")
    out["cap_attainment"] = bool(out["cap_attainment"])
    out["climate"] = dict(params.get("climate") or {})
    out["connectivity"] = dict(params.get("connectivity") or {})
    return out


# =============================================================================================
# Bounded least-cost search (compiled, O(touched) reset)
# =============================================================================================



def _union_box(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
    """Smallest box ``(r0, r1, c0, c1)`` (end-exclusive) holding both (None = empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _boxes_meet(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None) -> bool:
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


class _Searcher:
    """Reusable work arrays for bounded searches over one raster shape.

    ``reach`` accumulates the box of every cell whose resistance or label could change a result
    (touched cells and their neighbours) until reset by the caller.
    """

    def __init__(self, shape: tuple[int, int], res_m: float) -> None:
        self.H, self.W = shape
        self.cum = np.full(self.H * self.W, np.inf)
        self.touched = np.empty(1024, np.int64)
        self.lens = step_lengths(res_m)
        self.best = np.full(1024, np.inf)
        self.best_cell = np.full(1024, -1, np.int64)
        self.cells_settled = 0
        self.n_searches = 0
        self.reach: tuple[int, int, int, int] | None = None

    def targets(
        self, res_flat: np.ndarray, labels_flat: np.ndarray, starts: np.ndarray, max_cost: float, src_label: int,
        max_label: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.best.size <= max_label:
            self.best = np.full(max(2 * self.best.size, max_label + 1), np.inf)
            self.best_cell = np.full(self.best.size, -1, np.int64)
        labs, costs, n_t, r0, r1, c0, c1, self.touched = label_search(
            res_flat, self.H, self.W, self.lens, np.ascontiguousarray(starts, np.int64), float(max_cost),
            labels_flat, int(src_label), self.cum, self.touched, self.best, self.best_cell,
        )
        self.cells_settled += int(n_t)
        self.n_searches += 1
        if n_t:  # rows/cols whose resistance or labels can change the result: touched cells + 1
            self.reach = _union_box(self.reach, (int(r0) - 1, int(r1) + 2, int(c0) - 1, int(c1) + 2))
        return labs, costs


def bounded_search_targets(
    resistance: np.ndarray, labels: np.ndarray, sources: np.ndarray, *, res_m: float, max_cost: float,
    src_label: int = -1,
) -> dict[int, float]:
    """Least cost (cost-weighted m) from source cells to every labelled region within ``max_cost``.

    Same step rule as :func:`werkland.connectivity.cost_distance_bounded` (step length x mean of
    the two cells' resistance, 8 neighbours); impassable = non-finite resistance.

    Parameters
    ----------
    resistance : numpy.ndarray
        2-D float resistance per metre, ``inf`` impassable.
    labels : numpy.ndarray
        2-D int labels (0 = none).
    sources : numpy.ndarray
        Flat indices of the source cells.
    res_m : float
        Cell size, m.
    max_cost : float
        Search bound, cost-weighted m.
    src_label : int
        Label skipped as a target (the source patch).

    Returns
    -------
    dict of int to float
        Label -> minimum cost over its cells.
    """
    res = np.ascontiguousarray(resistance, dtype=np.float64).ravel()
    lab = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    s = _Searcher(resistance.shape, res_m)
    labs, costs = s.targets(res, lab, np.asarray(sources, np.int64), max_cost, src_label, int(lab.max(initial=0)))
    return {int(a): float(c) for a, c in zip(labs, costs, strict=True)}


# =============================================================================================
# Per-guild graph state and exact local evaluation
# =============================================================================================


@dataclass(frozen=True)
class _RasterPart:
    """What a change does on the rasters for one guild: patches replaced/created and link searches.

    Node ids >= ``n_at`` are the change's own new patches. ``reach`` boxes every cell whose
    resistance or label could alter the searches; ``nodes`` are the existing nodes they involve;
    ``version`` is the graph's commit count when they were valid.
    """

    R: np.ndarray
    new_patches: list[np.ndarray]
    new_a: list[float]
    new_links: list[dict[int, float]]
    s_links: dict[int, dict[int, float]]
    monotone: bool
    reach: tuple[int, int, int, int] | None
    nodes: frozenset[int]
    n_at: int
    version: int


@dataclass
class BioDelta:
    """Effect of one candidate on one guild's patch graph (against the current state).

    Attributes
    ----------
    d_eca_ha : float
        ECA after - ECA before, ha.
    d_quality_ha : float
        Change of the summed quality-weighted patch area (node weights), ha.
    touched : frozenset of int
        Node indices whose links or membership the candidate changes (for eager re-evaluation).
    commit : object
        Data to apply the change (None when nothing changes).
    """

    d_eca_ha: float = 0.0
    d_quality_ha: float = 0.0
    touched: frozenset[int] = frozenset()
    commit: Any = None
    pc_delta: float = 0.0
    seeds: dict[int, float] = field(default_factory=dict)
    cache: _RasterPart | None = None


def _offsets8() -> np.ndarray:
    return np.ones((3, 3), dtype=bool)


class PairDistances:
    """All-pairs ``-ln p*`` distances of a guild graph: one packed triangle, growable in place.

    The matrix is symmetric with a zero diagonal, so only the pairs ``(r, c)``, ``r > c``, are kept,
    at ``r (r - 1) / 2 + c`` (the row-major lower triangle): a node added later appends its pairs at
    the end, so a buffer with room for ``headroom`` more nodes lets commits add patches without
    copying. Reads and writes take and give float64 distances.

    Parameters
    ----------
    buf : numpy.ndarray
        1-D buffer whose first ``n (n - 1) / 2`` elements hold the pairs: float64 distances
        (``compact=False``) or float32 ``p* = exp(-D)`` (``compact=True``).
    n : int
        Nodes in use.
    compact : bool
        float32 probabilities instead of float64 distances: half the memory again (a quarter of the
        dense float64 matrix). A distance read back has an absolute error of at most 6e-8 (p* rounded
        to float32, i.e. each pair's p* within 6e-8 relative); p* below the smallest normal float32
        (D > 87.3) is stored as 0 (unconnected).
    """

    #: added capacity (nodes) when the buffer is full
    GROW_MIN = 256

    def __init__(self, buf: np.ndarray, n: int, *, compact: bool) -> None:
        self.compact = bool(compact)
        want = np.float32 if self.compact else np.float64
        if buf.dtype != want or buf.ndim != 1 or buf.size < n * (n - 1) // 2:
            raise ValueError(f"buffer must be a 1-D {np.dtype(want).name} array of at least n (n - 1) / 2 elements")
        self._buf = buf
        self.n = int(n)
        #: largest absolute error of a distance read back (-ln p units)
        self.abs_error = 6e-8 if self.compact else 0.0

    @classmethod
    def from_dense(cls, dist: np.ndarray, *, compact: bool = False, headroom: int = 0) -> PairDistances:
        """Pack a symmetric (n, n) distance matrix (its lower triangle), with room for ``headroom`` nodes."""
        n = dist.shape[0]
        cap = n + max(0, headroom)
        pd_ = cls(np.zeros(cap * (cap - 1) // 2, np.float32 if compact else np.float64), n, compact=compact)
        idx = np.arange(n, dtype=np.int64)
        pd_.set_rows(idx, np.asarray(dist, np.float64))
        return pd_

    @property
    def shape(self) -> tuple[int, int]:
        """(n, n)."""
        return self.n, self.n

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer (headroom included)."""
        return int(self._buf.nbytes)

    def block(self, rows: Any, cols: Any) -> np.ndarray:
        """float64 distances of ``rows`` x ``cols`` (node ids)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        return tri_read(self._buf, r, c, self.compact, np.empty((r.size, c.size)))

    def rows(self, rows: Any) -> np.ndarray:
        """float64 distances of ``rows`` to every node, shape (len(rows), n)."""
        return self.block(rows, np.arange(self.n, dtype=np.int64))

    def get(self, i: int, j: int) -> float:
        """Distance of one pair."""
        return float(self.block([i], [j])[0, 0])

    def set_block(self, rows: Any, cols: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` x ``cols`` (both orders of a pair are the same entry)."""
        r = np.atleast_1d(np.asarray(rows, np.int64))
        c = np.atleast_1d(np.asarray(cols, np.int64))
        self._check(r, c)
        v = np.broadcast_to(np.asarray(dist, np.float64), (r.size, c.size))
        tri_write(self._buf, r, c, np.ascontiguousarray(v), self.compact, float(np.finfo(np.float32).tiny))

    def set_rows(self, rows: Any, dist: np.ndarray) -> None:
        """Store the distances of ``rows`` to every node (``dist`` of shape (len(rows), n))."""
        self.set_block(rows, np.arange(self.n, dtype=np.int64), dist)

    def isolate(self, node: int) -> None:
        """Make ``node`` unconnected to every other."""
        self.set_rows([node], np.full((1, self.n), np.inf))

    def grow(self, nn: int) -> None:
        """Add ``nn`` nodes, unconnected to every other (distance inf)."""
        if nn <= 0:
            return
        n, m = self.n, self.n + nn
        old, need = n * (n - 1) // 2, m * (m - 1) // 2
        if self._buf.size < need:
            cap = n + max(nn, self.GROW_MIN, n // 16)
            buf = np.empty(cap * (cap - 1) // 2, self._buf.dtype)
            buf[:old] = self._buf[:old]
            self._buf = buf
        self._buf[old:need] = 0.0 if self.compact else np.inf
        self.n = m

    def _check(self, r: np.ndarray, c: np.ndarray) -> None:
        for x in (r, c):
            if x.size and (x.min() < 0 or x.max() >= self.n):
                raise IndexError(f"node ids must be in 0..{self.n - 1}")


class GuildGraph:
    """Patch graph of one guild with exact local what-if evaluation.

    Parameters
    ----------
    name : str
        Guild name.
    suit : numpy.ndarray
        float32 suitability (-1 outside the region).
    res : numpy.ndarray
        float64 resistance (``inf`` impassable / outside).
    labels : numpy.ndarray
        Patch ids 1..n (0 = none).
    edges : tuple of arrays
        ``(from_id, to_id, cost)`` with 1-based patch ids.
    k_per_m, max_cost : float
        Kernel decay (1 / cost-weighted m) and link bound (cost-weighted m).
    threshold, min_area_m2 : float
        Patch definition of the guild.
    res_m : float
        Cell size, m.
    pc_tol : float
        Relative PCnum tolerance: pairs whose maximum-product probability to every changed element
        is below ``e^-cut``, ``cut = ln((Σa)² / (pc_tol · PCnum))``, are left as they are, so the error
        of PCnum is at most ``pc_tol · PCnum`` (ECA: ``pc_tol / 2`` relative). 0 = exact. With a
        tolerance the pair distances are kept as float32 probabilities (:class:`PairDistances`,
        ``compact``; each pair's p* within 6e-8 relative, far below the tolerance): one triangle in
        float32, a quarter of the dense float64 matrix (the exact mode keeps float64 distances, half).
    headroom : int
        New patches the distance matrix has room for before it is reallocated.
    searchers : list, optional
        Search work arrays (one H x W float64 each) to share with the graphs of other guilds of the
        same grid, whose evaluations run one after the other (never concurrently); filled on first use.
    """

    def __init__(
        self, name: str, suit: np.ndarray, res: np.ndarray, labels: np.ndarray, edges: tuple[Any, Any, Any], *,
        k_per_m: float, max_cost: float, threshold: float, min_area_m2: float, res_m: float, pc_tol: float = 0.0,
        headroom: int = 256, searchers: list[_Searcher] | None = None,
    ) -> None:
        from werkland.connectivity import GraphState, apsp_probabilities

        self.name = name
        self.H, self.W = suit.shape
        self.suit = np.ascontiguousarray(suit, dtype=np.float32)
        self.res = np.ascontiguousarray(res, dtype=np.float64)
        self.labels = np.ascontiguousarray(labels, dtype=np.int32)  # patch ids < 2^31; half the bytes of int64
        self.k = float(k_per_m)
        self.max_cost = float(max_cost)
        self.threshold = float(threshold)
        self.min_area_m2 = float(min_area_m2)
        self.res_m = float(res_m)
        self.cell_ha = self.res_m * self.res_m / 1e4
        n = int(self.labels.max(initial=0))
        flat = self.labels.ravel()
        s = np.where(flat > 0, self.suit.ravel().astype(np.float64), 0.0)
        self.a = np.bincount(flat, weights=s, minlength=n + 1)[1:] * self.cell_ha
        self.alive = np.ones(n, dtype=bool)
        fi, ti, c = (np.asarray(x) for x in edges)
        self.adj: list[dict[int, float]] = [dict() for _ in range(n)]
        for u, v, cc in zip(fi.astype(np.int64) - 1, ti.astype(np.int64) - 1, c.astype(np.float64), strict=True):
            if u == v or not math.isfinite(cc):
                continue
            if cc < self.adj[u].get(v, math.inf):
                self.adj[u][v] = float(cc)
                self.adj[v][u] = float(cc)
        if pc_tol > 0:
            ii, jj, cc = self._edge_triples()
            cap = n + max(0, headroom)
            buf = np.zeros(cap * (cap - 1) // 2, np.float32)
            _, pcnum = apsp_probabilities(n, ii, jj, self.k * cc, self.a, out=buf)
            self.D = PairDistances(buf, n, compact=True)
        else:
            st = GraphState.build(self.a, self._edge_triples(), self.k, 1.0)
            self.D = PairDistances.from_dense(st.dist, headroom=headroom)
            pcnum = st.pcnum
        self.pcnum = float(pcnum)
        self.pcnum0 = self.pcnum
        self.q0 = float(self.a.sum())
        if searchers is None or (searchers and (searchers[0].H, searchers[0].W) != (self.H, self.W)):
            searchers = []
        if not searchers:
            searchers.append(_Searcher((self.H, self.W), self.res_m))
        #: work arrays of the bounded searches: [0] for one search at a time, the others for threads;
        #: one list may be shared by the graphs of several guilds (their evaluations run in turn)
        self._searchers = searchers
        #: per commit: (box of cells whose resistance, suitability or label changed, nodes removed,
        #: whether graph distances may have risen)
        self._log: list[tuple[tuple[int, int, int, int], frozenset[int], bool]] = []
        #: threads for independent searches of one evaluation (set by the caller; 1 in worker processes)
        self.n_threads = 1
        self.n_full_rebuilds = 0
        tot = float(self.a.sum())
        if pc_tol > 0 and self.pcnum > 0 and tot > 0:
            self.cut = max(math.log(tot * tot / (pc_tol * self.pcnum)), 1.0)
        else:
            self.cut = math.inf

    # -- helpers -------------------------------------------------------------------------------
    @property
    def searcher(self) -> _Searcher:
        """Work arrays of one search at a time."""
        return self._searchers[0]

    @property
    def _extra_searchers(self) -> list[_Searcher]:
        """Work arrays of the further threads (created on demand, shared like :attr:`searcher`)."""
        return self._searchers[1:]

    @property
    def n(self) -> int:
        """Number of nodes (dead ones included)."""
        return int(self.a.size)

    @property
    def eca_ha(self) -> float:
        """Current ECA, ha."""
        return math.sqrt(max(self.pcnum, 0.0))

    @property
    def eca0_ha(self) -> float:
        """Baseline ECA, ha."""
        return math.sqrt(max(self.pcnum0, 0.0))

    def _edge_triples(self, adj: list[dict[int, float]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        adj = self.adj if adj is None else adj
        ii, jj, cc = [], [], []
        for u, nb in enumerate(adj):
            for v, c in nb.items():
                if u < v:
                    ii.append(u)
                    jj.append(v)
                    cc.append(c)
        return np.array(ii, np.int64), np.array(jj, np.int64), np.array(cc, np.float64)

    def _grow_window(self, mask_fn: Any, fp_r: np.ndarray, fp_c: np.ndarray) -> tuple[int, int, int, int]:
        """Window containing every habitat component (old and new) touching the footprint."""
        r0, r1 = int(fp_r.min()) - 1, int(fp_r.max()) + 2
        c0, c1 = int(fp_c.min()) - 1, int(fp_c.max()) + 2
        pad = 8
        while True:
            r0, r1 = max(0, r0 - pad), min(self.H, r1 + pad)
            c0, c1 = max(0, c0 - pad), min(self.W, c1 + pad)
            ok = True
            for m in mask_fn(r0, r1, c0, c1):
                lab, _ = ndimage.label(m, structure=_offsets8())
                seeds = np.unique(lab[fp_r - r0, fp_c - c0])
                # dilated footprint: neighbours of footprint cells
                rr = np.clip((fp_r[:, None] + DR[None, :]).ravel() - r0, 0, r1 - r0 - 1)
                cc = np.clip((fp_c[:, None] + DC[None, :]).ravel() - c0, 0, c1 - c0 - 1)
                seeds = np.union1d(seeds, np.unique(lab[rr, cc]))
                seeds = seeds[seeds > 0]
                if seeds.size == 0:
                    continue
                sel = np.isin(lab, seeds)
                edge = (
                    (r0 > 0 and sel[0, :].any()) or (r1 < self.H and sel[-1, :].any())
                    or (c0 > 0 and sel[:, 0].any()) or (c1 < self.W and sel[:, -1].any())
                )
                if edge:
                    ok = False
                    break
            if ok:
                return r0, r1, c0, c1
            pad *= 2

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(
        self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, *, commit: bool = False,
        cache: _RasterPart | None = None,
    ) -> BioDelta:
        """Exact effect of setting suitability/resistance of ``cells`` (flat indices).

        Parameters
        ----------
        cells : numpy.ndarray
            Flat indices of the footprint (unique).
        new_suit : numpy.ndarray
            float32 new suitability of those cells.
        new_res : numpy.ndarray
            float64 new resistance (``inf`` impassable).
        commit : bool
            Apply the change to the state.
        cache : _RasterPart, optional
            The raster part of an earlier evaluation of the same change (``BioDelta.cache``). It is
            reused -- only the graph update is redone -- when no commit since then changed a cell its
            searches could reach or merged a node it links to; otherwise everything is recomputed.

        Returns
        -------
        BioDelta
        """
        part = None
        if cache is not None and not commit:
            part = self._rebase(cache)
        if part is None:
            part = self._raster_part(cells, new_suit, new_res, commit)
        if part is None:
            return BioDelta()
        R, new_patches, new_a, new_links, s_links, monotone = (
            part.R, part.new_patches, part.new_a, part.new_links, part.s_links, part.monotone)
        n = self.n
        # --- 3. graph update -------------------------------------------------------------------
        a_new_nodes = np.array(new_a, dtype=np.float64)
        dq = float(a_new_nodes.sum() - self.a[R].sum())
        # nodes merged/removed or whose links the change alters (not every neighbour of a new patch,
        # nor every node re-searched: in dense graphs that would make every candidate "interact"
        # with every pick)
        touched = set(int(x) for x in R)
        for p, nb in s_links.items():
            old_nb = self.adj[p]
            for q, c in nb.items():
                if q < n and abs(c - old_nb.get(q, math.inf)) > 1e-9 * max(1.0, c):
                    touched.update((p, q))
            if not monotone:
                gone = [q for q in old_nb if q not in nb]
                if gone:
                    touched.add(p)
                    touched.update(gone)
        if monotone:
            pc_after, commit_data = self._monotone_update(R, new_links, a_new_nodes, s_links, commit)
        else:
            pc_after, commit_data = self._full_update(R, new_links, a_new_nodes, s_links, commit)
        d_eca = math.sqrt(max(pc_after, 0.0)) - self.eca_ha
        # seeds of the change with -ln p of their tie to it (0 = changed itself): for interaction tests
        seeds: dict[int, float] = {int(x): 0.0 for x in touched}
        for nl in new_links + list(s_links.values()):
            for q, c in nl.items():
                if q < n:
                    seeds[q] = min(seeds.get(q, math.inf), self.k * c)
        delta = BioDelta(d_eca_ha=d_eca, d_quality_ha=dq, touched=frozenset(touched), pc_delta=pc_after - self.pcnum,
                         seeds=seeds, cache=None if commit else part)
        if commit:
            self._commit(cells, new_suit, new_res, R, new_patches, a_new_nodes, new_links, s_links, pc_after, commit_data)
        return delta

    def _rebase(self, part: _RasterPart) -> _RasterPart | None:
        """``part`` re-expressed against the current state, or None when a commit since invalidated it."""
        for box, killed, rises in self._log[part.version:]:
            if rises or _boxes_meet(box, part.reach) or (killed & part.nodes):
                return None
        shift = self.n - part.n_at
        if shift:
            def mv(d: dict[int, float]) -> dict[int, float]:
                return {(q + shift if q >= part.n_at else q): c for q, c in d.items()}
            part = replace(part, new_links=[mv(d) for d in part.new_links],
                           s_links={p: mv(d) for p, d in part.s_links.items()}, n_at=self.n)
        return replace(part, version=len(self._log))

    def _raster_part(self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, commit: bool) -> _RasterPart | None:
        """Patches and link searches of a change (steps 1-2 of :meth:`evaluate`); None = no change."""
        self._ensure_bbox()
        suit_f = self.suit.ravel()
        res_f = self.res.ravel()
        old_suit = suit_f[cells].copy()
        old_res = res_f[cells].copy()
        hab_old = old_suit >= self.threshold
        hab_new = new_suit >= self.threshold
        res_changed = ~((old_res == new_res) | (np.isinf(old_res) & np.isinf(new_res)))
        suit_changed = old_suit != new_suit
        if not res_changed.any() and not suit_changed.any():
            return None
        for sr in (self.searcher, *self._extra_searchers):
            sr.reach = None
        increased = bool(np.any(new_res[res_changed] > old_res[res_changed]))
        decreased = bool(np.any(new_res[res_changed] < old_res[res_changed]))
        patch_change = bool(np.any(hab_old != hab_new)) or bool(np.any(suit_changed & (hab_old | hab_new)))
        fp_r, fp_c = cells // self.W, cells % self.W
        lab_f = self.labels.ravel()

        # --- 1. patches: relabel habitat components touching the footprint --------------------
        R: np.ndarray = np.zeros(0, np.int64)
        new_patches: list[np.ndarray] = []  # flat cells of each new patch
        new_a: list[float] = []
        lost_habitat = False
        win = None
        if patch_change:
            def masks(r0: int, r1: int, c0: int, c1: int) -> list[np.ndarray]:
                old = self.suit[r0:r1, c0:c1] >= self.threshold
                new = old.copy()
                new[fp_r - r0, fp_c - c0] = hab_new
                return [old, new]

            win = self._grow_window(masks, fp_r, fp_c)
            r0, r1, c0, c1 = win
            old_m, new_m = masks(r0, r1, c0, c1)
            rr = np.clip((fp_r[:, None] + np.r_[0, DR][None, :]).ravel(), r0, r1 - 1)
            cc = np.clip((fp_c[:, None] + np.r_[0, DC][None, :]).ravel(), c0, c1 - 1)
            ids = np.unique(self.labels[rr, cc])
            R = ids[ids > 0] - 1
            lab_new, _ = ndimage.label(new_m, structure=_offsets8())
            seeds = np.unique(lab_new[rr - r0, cc - c0])
            seeds = seeds[seeds > 0]
            sw = self.suit[r0:r1, c0:c1].astype(np.float64)
            sw[fp_r - r0, fp_c - c0] = new_suit
            for sd in seeds:
                loc = np.flatnonzero(lab_new == sd)
                if loc.size * self.res_m * self.res_m < self.min_area_m2:  # find_patches' rule
                    continue
                lr, lc = loc // (c1 - c0) + r0, loc % (c1 - c0) + c0
                new_patches.append((lr * self.W + lc).astype(np.int64))
                new_a.append(float(sw.ravel()[loc].sum()) * self.cell_ha)
            # did any cell of a removed patch lose its patch membership?
            if R.size:
                old_cells_mask = np.isin(self.labels[r0:r1, c0:c1], R + 1)
                covered = np.zeros_like(old_cells_mask)
                for cells_p in new_patches:
                    covered.ravel()[(cells_p // self.W - r0) * (c1 - c0) + (cells_p % self.W - c0)] = True
                lost_habitat = bool(np.any(old_cells_mask & ~covered))
        monotone = not increased and not lost_habitat

        # --- 2. temporary state: new resistance and labels --------------------------------------
        n = self.n
        new_ids = np.arange(n, n + len(new_patches), dtype=np.int64)
        saved_lab: list[tuple[np.ndarray, np.ndarray]] = []
        res_f[cells] = new_res
        try:
            if R.size or new_patches:
                r0, r1, c0, c1 = win  # type: ignore[misc]
                sub = self.labels[r0:r1, c0:c1]
                saved_lab.append((np.s_[r0:r1, c0:c1], sub.copy()))
                sub[np.isin(sub, R + 1)] = 0
                for nid, cells_p in zip(new_ids, new_patches, strict=True):
                    lab_f[cells_p] = nid + 1
            max_label = n + len(new_patches)
            alive_old = self.alive.copy()
            alive_old[R] = False
            # links of the new patches
            found = self._searches(
                res_f, lab_f, [(cells_p, self.max_cost, int(nid) + 1) for nid, cells_p in zip(new_ids, new_patches, strict=True)],
                max_label)
            new_links: list[dict[int, float]] = [
                {int(x) - 1: float(c) for x, c in zip(labs, costs, strict=True)} for labs, costs in found]
            # unchanged nodes whose links may change
            S: dict[int, float] = {}  # node -> search bound (cost-weighted m)
            if res_changed.any():
                passable = cells[np.isfinite(res_f[cells])]
                if decreased and passable.size:
                    labs, dl = self.searcher.targets(res_f, lab_f, passable, self.max_cost, -1, max_label)
                    labs = labs - 1
                    keep = labs < n
                    labs, dl = labs[keep], dl[keep]
                    keep = alive_old[labs]
                    labs, dl = labs[keep], dl[keep]
                    order = np.argsort(dl, kind="stable")
                    labs, dl = labs[order], dl[order]
                    # pairs that may improve via the footprint: lower bound δ'(p) + δ'(q) below their link
                    # cost; the closer endpoint is re-searched, only as far as the dearest such link
                    if monotone and not commit:
                        S = self._pairs_to_research(labs, dl)
                    for ia in range(labs.size if (not monotone or commit) else 0):
                        p = int(labs[ia])
                        for ib in range(ia + 1, labs.size):
                            if dl[ia] + dl[ib] >= self.max_cost:
                                break
                            q = int(labs[ib])
                            cur = self.adj[p].get(q, self.max_cost)
                            if dl[ia] + dl[ib] < cur + (1e-9 if q not in self.adj[p] else 0.0):
                                if q in S and p not in S:
                                    S[q] = max(S[q], cur)
                                else:
                                    S[p] = max(S.get(p, 0.0), cur)
                if increased:
                    # old resistance: which existing links can run through the footprint?
                    res_f[cells] = old_res
                    oldc = cells[np.isfinite(old_res)]
                    if oldc.size:
                        labs, dl = self.searcher.targets(res_f, lab_f, oldc, self.max_cost, -1, max_label)
                        dmap = {int(x) - 1: float(c) for x, c in zip(labs, dl, strict=True) if int(x) - 1 < n}
                        for p, dp in dmap.items():
                            if not alive_old[p] or S.get(p, 0.0) >= self.max_cost:
                                continue
                            for q, c in self.adj[p].items():
                                if alive_old[q] and q in dmap and dp + dmap[q] <= c * (1 + 1e-12) + 1e-9:
                                    S[p] = self.max_cost
                                    break
                    res_f[cells] = new_res
            order_s = sorted(S)
            jobs = [(self._cells_of(p), self.max_cost if not monotone else min(self.max_cost, S[p] * (1 + 1e-12) + 1e-9),
                     p + 1) for p in order_s]
            s_links: dict[int, dict[int, float]] = {
                p: {int(x) - 1: float(c) for x, c in zip(labs, costs, strict=True)}
                for p, (labs, costs) in zip(order_s, self._searches(res_f, lab_f, jobs, max_label), strict=True)}
        finally:
            res_f[cells] = old_res
            for sl, vals in saved_lab:
                self.labels[sl] = vals
        reach = _union_box(None, (int(fp_r.min()) - 1, int(fp_r.max()) + 2, int(fp_c.min()) - 1, int(fp_c.max()) + 2))
        reach = _union_box(reach, win)
        nodes = set(int(x) for x in R)
        for sr in (self.searcher, *self._extra_searchers):
            reach = _union_box(reach, sr.reach)
        for nl in new_links + list(s_links.values()):
            nodes.update(q for q in nl if q < n)
        nodes.update(s_links)
        return _RasterPart(R, new_patches, new_a, new_links, s_links, monotone, reach, frozenset(nodes), n, len(self._log))


    def _searches(
        self, res_f: np.ndarray, lab_f: np.ndarray, jobs: list[tuple[np.ndarray, float, int]], max_label: int,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Run independent bounded searches ``(source cells, bound, source label)``, on threads if set.

        The compiled kernel releases the GIL; each thread has its own work arrays. Results are in job
        order, so the outcome does not depend on the number of threads.
        """
        if self.n_threads <= 1 or len(jobs) < 2:
            return [self.searcher.targets(res_f, lab_f, st, b, sl, max_label) for st, b, sl in jobs]
        from concurrent.futures import ThreadPoolExecutor

        while len(self._searchers) < self.n_threads:
            self._searchers.append(_Searcher((self.H, self.W), self.res_m))
        import queue

        free: queue.SimpleQueue[_Searcher] = queue.SimpleQueue()
        for sr in (self.searcher, *self._extra_searchers[: self.n_threads - 1]):
            free.put(sr)

        def work(job: tuple[np.ndarray, float, int]) -> tuple[np.ndarray, np.ndarray]:
            sr = free.get()
            try:
                return sr.targets(res_f, lab_f, job[0], job[1], job[2], max_label)
            finally:
                free.put(sr)

        with ThreadPoolExecutor(self.n_threads) as pool:
            return list(pool.map(work, jobs))

    def _pairs_to_research(self, labs: np.ndarray, dl: np.ndarray) -> dict[int, float]:
        """Patches to re-search (with their search bound) when resistance only falls in a footprint.

        A pair (p, q) can gain a cheaper link only through the footprint, at a cost of at least
        ``δ'(p) + δ'(q)`` (the footprint search). The new link changes the graph's max-product paths
        -- and so PC and ECA -- only when it is cheaper than the pair's current graph distance
        ``D[p, q] / k``, which is at most their direct link: a link no cheaper than an existing path is
        dominated for every pair of nodes. Only pairs with ``k (δ'(p) + δ'(q)) < D[p, q]`` are
        re-searched, from the closer endpoint and only as far as ``D[p, q] / k``. Exact for what-if
        evaluations; a commit re-searches every pair whose direct link may fall, so the stored links stay
        exact for later evaluations in which resistance rises.

        Parameters
        ----------
        labs : numpy.ndarray
            0-based node ids reached by the footprint search, sorted by ``dl``.
        dl : numpy.ndarray
            Their cost from the footprint (cost-weighted m).

        Returns
        -------
        dict of int to float
            Node -> search bound (cost-weighted m).
        """
        S: dict[int, float] = {}
        m = int(np.searchsorted(dl, 0.5 * self.max_cost, side="left"))  # the closer endpoint has dl < max/2
        if labs.size < 2 or m == 0:
            return S
        near_ids = labs[:m]
        lb = dl[:m, None] + dl[None, :]  # (m, L) lower bounds
        eff = np.minimum(self.D.block(near_ids, labs) / self.k, self.max_cost)
        keep = (lb < eff * (1 + 1e-9) + self.D.abs_error / self.k) & (np.arange(m)[:, None] < np.arange(labs.size)[None, :])
        ia, ib = np.nonzero(keep)
        for i, j in zip(ia.tolist(), ib.tolist(), strict=True):
            p, q = int(labs[i]), int(labs[j])
            bound = float(eff[i, j])
            if q in S and p not in S:
                S[q] = max(S[q], bound)
            else:
                S[p] = max(S.get(p, 0.0), bound)
        return S

    def near(self, seeds: Mapping[int, float], p_min: float) -> np.ndarray:
        """-ln p* from the change to every node: min over seeds of (tie + D[seed, :]), seeds tied with p >= p_min.

        Returns an array of length ``n`` (``inf`` = no material tie).
        """
        lim = -math.log(p_min) if p_min > 0 else math.inf
        sd = sorted((int(q), w) for q, w in seeds.items() if w <= lim and int(q) < self.n)
        if not sd:
            return np.full(self.n, np.inf)
        idx = [q for q, _ in sd]
        w = np.array([x for _, x in sd])[:, None]
        return (self.D.rows(idx) + w).min(axis=0)

    def _ensure_bbox(self) -> None:
        if getattr(self, "_bbox_cache_n", -1) != self.n:
            self._bbox_cache = ndimage.find_objects(self.labels, max_label=self.n)
            self._bbox_cache_n = self.n

    def _cells_of(self, p: int) -> np.ndarray:
        """Flat cells of patch node ``p`` (bounding boxes cached; call :meth:`_ensure_bbox` first)."""
        sl = self._bbox_cache[p]
        if sl is None:
            return np.zeros(0, np.int64)
        sub = self.labels[sl]
        loc = np.flatnonzero(sub == p + 1)
        w = sl[1].stop - sl[1].start
        return ((loc // w + sl[0].start) * self.W + (loc % w + sl[1].start)).astype(np.int64)

    def _monotone_update(
        self, R: np.ndarray, new_links: list[dict[int, float]], a_new: np.ndarray, s_links: dict[int, dict[int, float]],
        commit: bool,
    ) -> tuple[float, Any]:
        """Distances can only fall: vertex insertion + decreases on the nodes near the change.

        The block ``U`` (nodes within the p* cut of a changed node) is copied once; new nodes join it
        isolated and every decreased or new link is applied by :func:`werkland._kernels.graph.insert_edge`
        (exact; only improving rows are scanned) with the PCnum change telescoped from its updates.
        """
        n = self.n
        k = self.k
        Rset = set(int(x) for x in R)
        # decreased links among surviving old nodes
        decs: list[tuple[int, int, float]] = []
        for p, nb in s_links.items():
            for q, c in nb.items():
                if q < n and q not in Rset and p not in Rset and c < self.adj[p].get(q, math.inf) - 1e-12:
                    decs.append((p, q, c))
        seeds = set()
        for p, q, _ in decs:
            seeds.add(p)
            seeds.add(q)
        for nl in new_links:
            seeds |= {q for q in nl if q < n and q not in Rset}
        seeds |= Rset
        if seeds:
            dmin = self.D.rows(sorted(seeds)).min(axis=0)
            U = np.flatnonzero(dmin <= self.cut)
        else:
            U = np.zeros(0, np.int64)
        m, nn = U.size, len(new_links)
        pos = np.full(n, -1, np.int64)
        pos[U] = np.arange(m)
        Dsub = np.full((m + nn, m + nn), np.inf)
        Dsub[:m, :m] = self.D.block(U, U)
        np.fill_diagonal(Dsub, 0.0)
        a_old = self.a[U]
        a_sub = np.concatenate([a_old, a_new])
        r_in = np.array([pos[r] for r in Rset if pos[r] >= 0], np.int64)
        a_sub[r_in] = 0.0
        # PCnum change, telescoped (no dense pass over the block): (1) merged nodes lose their weight
        # on the old distances; (2) new nodes enter isolated (their self terms a_v^2); (3) every
        # decreased or new link is inserted by the exact compiled edge insertion, which scans only the
        # rows that improve and returns its change of sum a_i a_j exp(-D_ij)
        delta = float(a_new @ a_new) if nn else 0.0
        if r_in.size:
            E = np.exp(-Dsub[r_in, :m])
            delta -= 2.0 * float(a_old[r_in] @ (E @ a_old)) - float(a_old[r_in] @ E[:, r_in] @ a_old[r_in])
        for p, q, c in decs:
            delta += insert_edge(Dsub, int(pos[p]), int(pos[q]), k * c, a_sub)
        for t, nl in enumerate(new_links):
            v = m + t
            for q, c in nl.items():
                if q >= n:  # another new node, inserted earlier or later
                    iq = m + (q - n)
                    if iq >= v:
                        continue
                elif q in Rset:
                    continue
                else:
                    iq = int(pos[q])
                delta += insert_edge(Dsub, v, iq, k * c, a_sub)
        # removed nodes outside U: isolated, contributed a_r²
        r_out = [r for r in Rset if pos[r] < 0]
        pc = self.pcnum + delta - float(sum(self.a[r] ** 2 for r in r_out))
        return pc, ("block", U, Dsub) if commit else None

    def _full_update(
        self, R: np.ndarray, new_links: list[dict[int, float]], a_new: np.ndarray, s_links: dict[int, dict[int, float]],
        commit: bool,
    ) -> tuple[float, Any]:
        """Distances may rise: bounded Dijkstra on the new graph from every node near a change."""
        import scipy.sparse as sp
        from scipy.sparse import csgraph

        n = self.n
        nn = len(new_links)
        adj = [dict(d) for d in self.adj] + [dict() for _ in range(nn)]
        Rset = set(int(x) for x in R)
        seeds = set(Rset) | set(s_links)
        for r in Rset:
            for q in list(adj[r]):
                adj[q].pop(r, None)
            adj[r] = {}
        for p, nb in s_links.items():
            for q in list(adj[p]):
                if q < n and q not in nb:
                    adj[q].pop(p, None)
                    adj[p].pop(q, None)
            for q, c in nb.items():
                if q in Rset:
                    continue
                adj[p][q] = c
                adj[q][p] = c
                seeds.add(q)
        for t, nl in enumerate(new_links):
            v = n + t
            for q, c in nl.items():
                if q in Rset:
                    continue
                if c < adj[v].get(q, math.inf):
                    adj[v][q] = c
                    adj[q][v] = c
                if q < n:
                    seeds.add(q)
        a = np.concatenate([self.a, a_new])
        a[list(Rset)] = 0.0
        a_old = np.concatenate([self.a, np.zeros(nn)])
        old_seeds = sorted(x for x in seeds if x < n)
        if old_seeds:
            U_old = np.flatnonzero(self.D.rows(old_seeds).min(axis=0) <= self.cut)
        else:
            U_old = np.zeros(0, np.int64)
        U = np.concatenate([U_old, np.arange(n, n + nn)]).astype(np.int64)
        ii, jj, cc = self._edge_triples(adj)
        N = n + nn
        w = np.maximum(self.k * cc, 1e-300)
        g = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([ii, jj]), np.concatenate([jj, ii]))), shape=(N, N))
        Dn = csgraph.dijkstra(g, directed=True, indices=U, limit=self.cut if math.isfinite(self.cut) else np.inf)
        Do = self.D.rows(U_old)
        ao = self.a
        old_terms = 2.0 * float(ao[U_old] @ (np.exp(-Do) @ ao)) - float(ao[U_old] @ np.exp(-Do[:, U_old]) @ ao[U_old])
        new_terms = 2.0 * float(a[U] @ (np.exp(-Dn) @ a)) - float(a[U] @ np.exp(-Dn[:, U]) @ a[U])
        del a_old
        pc = self.pcnum - old_terms + new_terms
        self.n_full_rebuilds += 1
        return pc, ("rows", adj, U, Dn) if commit else None

    def _commit(
        self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, R: np.ndarray, new_patches: list[np.ndarray],
        a_new: np.ndarray, new_links: list[dict[int, float]], s_links: dict[int, dict[int, float]], pc_after: float,
        data: Any,
    ) -> None:
        n = self.n
        nn = len(new_patches)
        self.suit.ravel()[cells] = new_suit
        self.res.ravel()[cells] = new_res
        lab_f = self.labels.ravel()
        Rset = set(int(x) for x in R)
        changed = [cells, *new_patches]
        if Rset:
            for r in Rset:
                cr = self._cells_of(r)
                changed.append(cr)
                lab_f[cr] = 0
        allc = np.concatenate(changed)
        rr, cc = allc // self.W, allc % self.W
        # a non-monotone change can raise graph distances, which undoes the pruning of stored parts
        self._log.append(((int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1), frozenset(Rset),
                          data[0] == "rows"))
        for t, cells_p in enumerate(new_patches):
            lab_f[cells_p] = n + t + 1
        self._bbox_cache_n = -1
        self.a = np.concatenate([self.a, a_new])
        self.alive = np.concatenate([self.alive, np.ones(nn, bool)])
        self.a[list(Rset)] = 0.0
        self.alive[list(Rset)] = False
        self.D.grow(nn)
        if data[0] == "rows":
            _, adj, U, Dn = data
            self.adj = adj
            self.D.set_rows(U, Dn)
        else:
            _, U, Dsub = data
            m = U.size
            idx = np.concatenate([U, np.arange(n, n + nn)])
            self.D.set_block(idx, idx, Dsub)
            adj = self.adj + [dict() for _ in range(nn)]
            for r in Rset:
                for q in list(adj[r]):
                    adj[q].pop(r, None)
                adj[r] = {}
            for p, nb in s_links.items():
                for q, c in nb.items():
                    if q in Rset or q == p:
                        continue
                    if c < adj[p].get(q, math.inf):
                        adj[p][q] = c
                        adj[q][p] = c
            for t, nl in enumerate(new_links):
                v = n + t
                for q, c in nl.items():
                    if q in Rset:
                        continue
                    if c < adj[v].get(q, math.inf):
                        adj[v][q] = c
                        adj[q][v] = c
            self.adj = adj
            del m
        for r in Rset:
            self.D.isolate(r)
        self.pcnum = float(pc_after)


# =============================================================================================
# Candidates
# =============================================================================================


@dataclass
class Candidate:
    """One candidate measure.

    Attributes
    ----------
    candidate_id : str
        Stable id: ``<type>-<10 hex>`` from the type, park and footprint (same inputs, same id).
    type : str
        Catalogue type.
    park_id : str
        Park containing the footprint ("" = outside every park, e.g. a passage in the context buffer).
    cells : numpy.ndarray
        Flat raster indices of the footprint (sorted, unique).
    size : float
        Size in ``size_unit``.
    size_unit : str
        ``m2``, ``m`` or ``item``.
    cost_eur : float
        Cost, EUR.
    exclusive_key : str or None
        Candidates with the same key exclude each other.
    source : str
        ``generated`` or ``user``.
    geometry : shapely geometry or None
        Output geometry (default: the footprint cells as polygons).
    note : str
        Remarks (e.g. cells skipped).
    """

    candidate_id: str
    type: str
    park_id: str
    cells: np.ndarray
    size: float
    size_unit: str
    cost_eur: float
    exclusive_key: str | None = None
    source: str = "generated"
    geometry: Any = None
    note: str = ""


def _cand_id(type_name: str, park_id: str, cells: np.ndarray, salt: str = "") -> str:
    h = hashlib.sha1(f"{type_name}|{park_id}|{salt}|".encode() + np.ascontiguousarray(cells, np.int64).tobytes())
    return f"{type_name}-{h.hexdigest()[:10]}"


@dataclass
class _Ctx:
    """Everything the generators read (built once per region)."""

    codes: np.ndarray
    grid: Any
    legend: Any
    guilds: Mapping[str, Any]
    parks: Any  # GeoDataFrame
    park_index: np.ndarray  # int32 raster: park row + 1, 0 = none
    landcover: Any  # GeoDataFrame or None
    lines: Any  # GeoDataFrame or None
    link_paths: dict[str, list[np.ndarray]]
    barriers: Any  # GeoDataFrame or None
    edge_codes: np.ndarray  # bool[256]: edge class of some guild
    dist_green: np.ndarray  # m to the nearest green-area cell
    notes: list[str] = field(default_factory=list)

    @property
    def W(self) -> int:
        return self.codes.shape[1]

    def code_mask(self, classes: Iterable[str]) -> np.ndarray:
        m = np.zeros(256, dtype=bool)
        for c in classes:
            m[self.legend.code(c)] = True
        return m

    def cells_of_geom(self, geom: Any, *, all_touched: bool = False) -> np.ndarray:
        from affine import Affine
        from rasterio.features import rasterize

        if geom is None or geom.is_empty:
            return np.zeros(0, np.int64)
        g = self.grid
        xmin, ymin, xmax, ymax = geom.bounds
        res = g.res_m
        c0 = max(0, int(math.floor((xmin - g.transform.c) / res)) - 1)
        c1 = min(g.width, int(math.ceil((xmax - g.transform.c) / res)) + 1)
        r0 = max(0, int(math.floor((g.transform.f - ymax) / res)) - 1)
        r1 = min(g.height, int(math.ceil((g.transform.f - ymin) / res)) + 1)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(0, np.int64)
        tr = g.transform * Affine.translation(c0, r0)
        m = rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, dtype="uint8",
                      all_touched=all_touched).astype(bool)
        if not m.any() and not all_touched:
            m = rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, dtype="uint8",
                          all_touched=True).astype(bool)
        rr, cc = np.nonzero(m)
        return ((rr + r0) * g.width + (cc + c0)).astype(np.int64)

    def park_of_cells(self, cells: np.ndarray) -> str:
        if cells.size == 0:
            return ""
        idx = self.park_index.ravel()[cells]
        idx = idx[idx > 0]
        if idx.size == 0:
            return ""
        best = int(np.bincount(idx).argmax())
        return str(self.parks["park_id"].iloc[best - 1])

    def eligible(self, cells: np.ndarray, typ: InterventionType, park_row: int | None) -> np.ndarray:
        c = self.codes.ravel()[cells]
        ok = self.code_mask(typ.applies_to)[c] & (c != 0)
        if typ.new_class is not None:
            ok &= ~self.edge_codes[c]
        if park_row is not None:
            ok &= self.park_index.ravel()[cells] == park_row + 1
        return np.unique(cells[ok])


def _largest_first(c: Candidate) -> tuple[float, str]:
    """Sort key of candidates within a park (and type): largest first, then by id (stable across runs)."""
    return (-c.size, c.candidate_id)


def _limit(cands: list[Candidate], n_max: int | None) -> list[Candidate]:
    if n_max is None:
        return cands
    by_park: dict[str, list[Candidate]] = {}
    for c in cands:
        by_park.setdefault(c.park_id, []).append(c)
    out = []
    for park in by_park:
        lst = sorted(by_park[park], key=_largest_first)[:n_max]
        out += lst
    return out


def cap_candidates(cands: Sequence[Candidate], n_max: int) -> list[Candidate]:
    """Keep at most ``n_max`` candidates, spread over types and parks.

    Candidates are ranked within their (type, park) by size (largest first, then id); the kept set
    takes every type's and park's first candidate, then every second, and so on (round-robin over
    types in catalogue order and over parks in order of appearance), so a cap never drops a whole type
    or park while others keep their small candidates.

    Parameters
    ----------
    cands : sequence of Candidate
        Generated candidates, in catalogue-type order.
    n_max : int
        Number kept (>= 1).

    Returns
    -------
    list of Candidate
        The kept candidates, in their original order.
    """
    if n_max < 1:
        raise ValueError("n_max must be >= 1")
    if len(cands) <= n_max:
        return list(cands)
    type_order: dict[str, int] = {}
    park_order: dict[str | None, int] = {}
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, c in enumerate(cands):
        type_order.setdefault(c.type, len(type_order))
        park_order.setdefault(c.park_id, len(park_order))
        groups.setdefault((c.type, c.park_id), []).append(i)
    key: dict[int, tuple[int, int, int]] = {}
    for (t, pk), idx in groups.items():
        idx.sort(key=lambda i: _largest_first(cands[i]))
        for r, i in enumerate(idx):
            key[i] = (r, type_order[t], park_order[pk])
    keep = sorted(sorted(key, key=key.__getitem__)[:n_max])
    return [cands[i] for i in keep]


def _make(ctx: _Ctx, typ: InterventionType, cells: np.ndarray, size: float, key: str | None, park_id: str | None = None,
          note: str = "", check_min: bool = True) -> Candidate | None:
    cells = np.unique(np.asarray(cells, np.int64))
    if cells.size == 0 or (check_min and size < typ.min_size):
        return None
    park = ctx.park_of_cells(cells) if park_id is None else park_id
    return Candidate(
        candidate_id=_cand_id(typ.name, park, cells),
        type=typ.name, park_id=park, cells=cells, size=float(size), size_unit=typ.size_unit,
        cost_eur=float(typ.unit_cost * size), exclusive_key=None if typ.exclusive is None or key is None else f"{typ.exclusive}:{key}",
        note=note,
    )


def _take_nearest_green(ctx: _Ctx, cells: np.ndarray, n: int) -> np.ndarray:
    d = ctx.dist_green.ravel()[cells]
    order = np.lexsort((cells, d))
    return np.sort(cells[order[:n]])


def _gen_polygons(ctx: _Ctx, typ: InterventionType, facade: bool = False) -> list[Candidate]:
    if ctx.landcover is None:
        ctx.notes.append(f"{typ.name}: no land-cover polygons (landcover.gpkg layer landcover): no candidates")
        return []
    lc = ctx.landcover[ctx.landcover["class"].isin(typ.applies_to)]
    out: list[Candidate] = []
    cell_m2 = ctx.grid.cell_area_m2
    for row in ctx.parks.itertuples():
        ip = row.Index
        pidx = ctx.parks.index.get_loc(ip)
        sub = lc.iloc[lc.sindex.query(row.geometry, predicate="intersects")] if len(lc) else lc
        for j, poly in zip(sub.index, sub.geometry, strict=True):
            # min_size is the source polygon's area (m2) for roofs, facades and paving measures
            if poly is None or poly.is_empty or poly.area < typ.min_size:
                continue
            if not row.geometry.contains(poly.representative_point()):
                continue
            cells = ctx.eligible(ctx.cells_of_geom(poly), typ, pidx)
            if cells.size == 0:
                continue
            if facade:
                s_cells = set(cells.tolist())
                W = ctx.W
                cells = np.array([c for c in cells.tolist() if any((c + d) not in s_cells for d in (-1, 1, -W, W))], np.int64)
                outline = poly.exterior.length if poly.geom_type == "Polygon" else poly.boundary.length
                size = outline * float(typ.params.get("height_m", 6)) * float(typ.params.get("coverage", 0.5))
            else:
                if typ.cells is not None:
                    cells = _take_nearest_green(ctx, cells, min(typ.cells, cells.size))
                elif typ.share < 1:
                    cells = _take_nearest_green(ctx, cells, max(1, int(round(typ.share * cells.size))))
                size = cells.size * cell_m2
            c = _make(ctx, typ, cells, size, f"lc{j}", park_id=str(row.park_id), check_min=False)
            if c is not None:
                out.append(c)
    return out


def _gen_components(ctx: _Ctx, typ: InterventionType) -> list[Candidate]:
    out: list[Candidate] = []
    cell_m2 = ctx.grid.cell_area_m2
    cm = ctx.code_mask(typ.applies_to)[ctx.codes] & (ctx.park_index > 0)
    if typ.new_class is not None:
        cm &= ~ctx.edge_codes[ctx.codes]
    lab, nlab = ndimage.label(cm, structure=np.ones((3, 3), bool))
    if nlab == 0:
        return out
    tile = None
    if typ.max_size is not None:
        tile = max(1, int(math.ceil(math.sqrt(typ.max_size / cell_m2))))
    objs = ndimage.find_objects(lab)
    for i, sl in enumerate(objs, start=1):
        sub = lab[sl] == i
        rr, cc = np.nonzero(sub)
        rr = rr + sl[0].start
        cc = cc + sl[1].start
        park_ids = ctx.park_index[rr, cc]
        for pk in np.unique(park_ids):
            sel = park_ids == pk
            r_, c_ = rr[sel], cc[sel]
            if r_.size * cell_m2 < typ.min_size:
                continue
            if tile is not None and r_.size * cell_m2 > typ.max_size:
                tkey = (r_ // tile) * (ctx.W // tile + 1) + (c_ // tile)
                groups = [(t, np.flatnonzero(tkey == t)) for t in np.unique(tkey)]
            else:
                groups = [(0, np.arange(r_.size))]
            for t, g in groups:
                cells = r_[g] * ctx.W + c_[g]
                c = _make(ctx, typ, cells, cells.size * cell_m2, f"c{i}.{pk}.{t}",
                          park_id=str(ctx.parks["park_id"].iloc[pk - 1]))
                if c is not None:
                    out.append(c)
    return out


def _gen_street_edge(ctx: _Ctx, typ: InterventionType) -> list[Candidate]:
    import shapely

    if ctx.lines is None or not len(ctx.lines):
        ctx.notes.append(f"{typ.name}: no centre lines (landcover.gpkg layer lines): no candidates")
        return []
    road_classes = list(typ.params.get("road_classes", ["road_minor", "road_main"]))
    max_len = float(typ.params.get("max_length_m", 200))
    lines = ctx.lines[ctx.lines["class"].isin(road_classes)]
    out: list[Candidate] = []
    res = ctx.grid.res_m
    for pidx, prow in enumerate(ctx.parks.itertuples()):
        sub = lines.iloc[lines.sindex.query(prow.geometry, predicate="intersects")] if len(lines) else lines
        for j, geom, cls in zip(sub.index, sub.geometry, sub["class"], strict=True):
            clipped = geom.intersection(prow.geometry)
            width = ctx.legend.by_name(cls).width_m or 7.0
            for part in shapely.get_parts(clipped):
                if part.geom_type != "LineString" or part.length < typ.min_size:
                    continue
                n_pieces = max(1, int(math.ceil(part.length / max_len)))
                for k in range(n_pieces):
                    piece = shapely.ops.substring(part, k * part.length / n_pieces, (k + 1) * part.length / n_pieces)
                    if piece.length < typ.min_size:
                        continue
                    ring = piece.buffer(width / 2 + res, cap_style="flat")
                    cells = ctx.eligible(ctx.cells_of_geom(ring), typ, pidx)
                    c = _make(ctx, typ, cells, piece.length, f"l{j}.{k}", park_id=str(prow.park_id))
                    if c is not None:
                        c.geometry = piece
                        out.append(c)
    return out


def _gen_near_water(ctx: _Ctx, typ: InterventionType) -> list[Candidate]:
    water_cls = list(typ.params.get("water_classes", ["open_water", "waterway", "wetland"]))
    near = float(typ.params.get("near_m", 150))
    n_max = int(typ.params.get("max_per_park", 3))
    spacing = float(typ.params.get("min_spacing_m", 100))
    ncell = typ.cells or 1
    water = ctx.code_mask(water_cls)[ctx.codes]
    if not water.any():
        ctx.notes.append(f"{typ.name}: no water or wetland cells in the region: no pond candidates")
        return []
    dist = ndimage.distance_transform_edt(~water, sampling=ctx.grid.res_m)
    ok = ctx.code_mask(typ.applies_to)[ctx.codes] & (dist <= near) & (ctx.park_index > 0) & ~ctx.edge_codes[ctx.codes]
    out: list[Candidate] = []
    W = ctx.W
    for pidx in range(len(ctx.parks)):
        cells = np.flatnonzero(ok.ravel() & (ctx.park_index.ravel() == pidx + 1))
        if cells.size == 0:
            continue
        order = np.lexsort((cells, dist.ravel()[cells]))
        chosen: list[int] = []
        okset = set(cells.tolist())
        for c in cells[order]:
            r, cc = divmod(int(c), W)
            if any(math.hypot(r - r2, cc - c2) * ctx.grid.res_m < spacing for r2, c2 in (divmod(x, W) for x in chosen)):
                continue
            chosen.append(int(c))
            fp = [int(c)] + sorted(x for x in (c + 1, c - 1, c + W, c - W) if x in okset)[: ncell - 1]
            cand = _make(ctx, typ, np.array(fp), 1.0, f"p{c}", park_id=str(ctx.parks["park_id"].iloc[pidx]))
            if cand is not None:
                out.append(cand)
            if len(chosen) >= n_max:
                break
    return out


def _path_runs(ctx: _Ctx, path: np.ndarray, pidx: int) -> list[np.ndarray]:
    inside = ctx.park_index.ravel()[path] == pidx + 1
    runs, cur = [], []
    for c, ins in zip(path.tolist(), inside.tolist(), strict=True):
        if ins:
            cur.append(c)
        elif cur:
            runs.append(np.array(cur, np.int64))
            cur = []
    if cur:
        runs.append(np.array(cur, np.int64))
    return runs


def _run_length(ctx: _Ctx, run: np.ndarray) -> float:
    if run.size < 2:
        return ctx.grid.res_m * run.size
    r, c = run // ctx.W, run % ctx.W
    return float(np.hypot(np.diff(r), np.diff(c)).sum() * ctx.grid.res_m + ctx.grid.res_m)


def _gen_links(ctx: _Ctx, typ: InterventionType, stepping: bool = False) -> list[Candidate]:
    if not ctx.link_paths:
        ctx.notes.append(f"{typ.name}: no least-cost links: no candidates")
        return []
    out: list[Candidate] = []
    seen: set[bytes] = set()
    max_len = float(typ.params.get("max_length_m", 300))
    cell_m2 = ctx.grid.cell_area_m2
    for gname in sorted(ctx.link_paths):
        for li, path in enumerate(ctx.link_paths[gname]):
            if path.size == 0:
                continue
            pks = np.unique(ctx.park_index.ravel()[path])
            for pk in pks[pks > 0]:
                pidx = int(pk) - 1
                for run in _path_runs(ctx, path, pidx):
                    length = _run_length(ctx, run)
                    if stepping:
                        mid = run[run.size // 2]
                        n = max(1, int(round(float(typ.params.get("area_m2", 500)) / cell_m2)))
                        r0, c0 = divmod(int(mid), ctx.W)
                        rad = int(math.ceil(math.sqrt(n))) + 2
                        rr, cc = np.mgrid[max(0, r0 - rad):min(ctx.codes.shape[0], r0 + rad + 1),
                                          max(0, c0 - rad):min(ctx.W, c0 + rad + 1)]
                        cand_cells = ctx.eligible((rr * ctx.W + cc).ravel(), typ, pidx)
                        if cand_cells.size == 0:
                            continue
                        d = np.hypot(cand_cells // ctx.W - r0, cand_cells % ctx.W - c0)
                        cells = np.sort(cand_cells[np.lexsort((cand_cells, d))[:n]])
                        size = cells.size * cell_m2
                        pieces = [cells]
                    else:
                        if length < typ.min_size:
                            continue
                        n_p = max(1, int(math.ceil(length / max_len)))
                        pieces = [ctx.eligible(p_, typ, pidx) for p_ in np.array_split(run, n_p)]
                    for cells in pieces:
                        if cells.size == 0:
                            continue
                        key = cells.tobytes()
                        if key in seen:
                            continue
                        seen.add(key)
                        size = cells.size * cell_m2 if stepping else _run_length(ctx, cells)
                        c = _make(ctx, typ, cells, size, f"{gname}.{li}.{pk}.{int(cells[0])}",
                                  park_id=str(ctx.parks["park_id"].iloc[pidx]))
                        if c is not None:
                            c.note = f"on a least-cost link of {gname}"
                            out.append(c)
    return out


def _gen_barrier(ctx: _Ctx, typ: InterventionType) -> list[Candidate]:
    if ctx.barriers is None or not len(ctx.barriers):
        ctx.notes.append(f"{typ.name}: barriers/all_guilds.gpkg absent or empty: no fauna-passage candidates")
        return []
    b = ctx.barriers
    rank_col = next((c for c in ("multi_rank", "rank") if c in b.columns), None)
    if rank_col is not None:  # all_guilds.gpkg: multi-guild rank (issue 4); per-guild files: rank
        b = b.sort_values([rank_col], kind="stable")
    b = b.head(int(typ.params.get("max_segments", 30)))
    radius = float(typ.params.get("radius_m", 15))
    out: list[Candidate] = []
    for i, row in enumerate(b.itertuples()):
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        mid = geom.interpolate(0.5, normalized=True) if geom.geom_type in ("LineString", "MultiLineString") else geom.centroid
        cells = ctx.eligible(ctx.cells_of_geom(mid.buffer(radius), all_touched=True), typ, None)
        seg = str(getattr(row, "segment_id", i))
        c = _make(ctx, typ, cells, 1.0, f"s{seg}")
        if c is not None:
            c.geometry = mid
            c.note = f"barrier segment {seg}"
            out.append(c)
    return out


def generate_candidates(ctx: _Ctx, catalogue: Catalogue, *, max_per_type_park: int | None = None) -> list[Candidate]:
    """Generate candidates of every catalogue type from the region's data (see the catalogue header).

    Returns
    -------
    list of Candidate
        Deterministic order: catalogue order, then park, then source feature; duplicate ids dropped.
    """
    out: list[Candidate] = []
    for typ in catalogue.types.values():
        g = typ.generator
        if g == "polygons":
            cands = _gen_polygons(ctx, typ)
        elif g == "facade":
            cands = _gen_polygons(ctx, typ, facade=True)
        elif g == "components":
            cands = _gen_components(ctx, typ)
        elif g == "street_edge":
            cands = _gen_street_edge(ctx, typ)
        elif g == "near_water":
            cands = _gen_near_water(ctx, typ)
        elif g == "link":
            cands = _gen_links(ctx, typ)
        elif g == "stepping_stone":
            cands = _gen_links(ctx, typ, stepping=True)
        elif g == "barrier":
            cands = _gen_barrier(ctx, typ)
        else:
            cands = []
        cands = _limit(cands, max_per_type_park if g != "barrier" else None)
        log.info("candidates: %d %s", len(cands), typ.name)
        out += cands
    seen: set[str] = set()
    uniq = []
    for c in out:
        if c.candidate_id not in seen:
            seen.add(c.candidate_id)
            uniq.append(c)
    return uniq


def read_user_candidates(path: str | os.PathLike[str], ctx: _Ctx, catalogue: Catalogue) -> list[Candidate]:
    """Read and validate a user candidate layer (e.g. a municipality's plan).

    Schema: ``candidate_id`` (unique), ``type`` (a catalogue type), geometry (polygon, line or point) in
    the region's CRS; optional ``park_id``, ``size``, ``size_unit``, ``cost_eur`` (derived from the
    catalogue when absent or empty). Cells of the geometry outside the type's ``applies_to`` classes
    are left unchanged.

    Raises
    ------
    WerklandInputError
        Unreadable file, missing fields, no or wrong CRS, unknown type, negative or invalid cost,
        duplicate ids, a size unit other than the type's.
    """
    import geopandas as gpd

    p = str(path)
    if not Path(p).exists():
        raise WerklandInputError("user candidate layer not found", path=p, fix="check interventions.user_candidates")
    try:
        gdf = gpd.read_file(p, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"cannot read ({str(exc).splitlines()[0]})", path=p) from exc
    missing = [f for f in ("candidate_id", "type") if f not in gdf.columns]
    if missing:
        raise WerklandInputError(f"missing field(s) {missing}", path=p,
                                 fix="a candidate layer needs candidate_id, type and a geometry (optional: park_id, size, size_unit, cost_eur)")
    if gdf.crs is None:
        raise WerklandInputError("layer has no CRS", path=p, fix=f"write it in the region CRS {ctx.grid.crs.to_string()}")
    if not gdf.crs.equals(ctx.grid.crs):
        raise WerklandInputError(
            f"CRS {gdf.crs.to_string()} differs from the region CRS {ctx.grid.crs.to_string()}", path=p,
            fix=f"reproject the layer to {ctx.grid.crs.to_string()} (e.g. ogr2ogr -t_srs)",
        )
    ids = gdf["candidate_id"].astype(str)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise WerklandInputError(f"duplicate candidate_id {dup[:5]}", path=p, fix="give each candidate its own id")
    out: list[Candidate] = []
    for _, row in gdf.iterrows():
        cid = str(row["candidate_id"])
        typ = catalogue.get(str(row["type"]), where=f"{p}: candidate {cid}")
        geom = row.geometry
        if geom is None or geom.is_empty:
            raise WerklandInputError(f"candidate {cid} has no geometry", path=p)
        touched = geom.geom_type not in ("Polygon", "MultiPolygon")
        g2 = geom.buffer(float(typ.params.get("radius_m", 15))) if geom.geom_type in ("Point", "MultiPoint") and typ.generator == "barrier" else geom
        raw = ctx.cells_of_geom(g2, all_touched=touched or typ.generator == "barrier")
        cells = ctx.eligible(raw, typ, None)
        note = ""
        if cells.size < raw.size:
            note = f"{raw.size - cells.size} of {raw.size} cells are not {'/'.join(typ.applies_to)} (or outside the region) and stay as they are"
        unit = row.get("size_unit") if "size_unit" in gdf.columns else None
        if unit is not None and not (isinstance(unit, float) and math.isnan(unit)) and str(unit) != typ.size_unit:
            raise WerklandInputError(f"candidate {cid}: size_unit {unit!r} but type {typ.name} is priced per {typ.size_unit}", path=p)
        size = row.get("size") if "size" in gdf.columns else None
        if size is None or (isinstance(size, float) and math.isnan(size)):
            size = {"m2": cells.size * ctx.grid.cell_area_m2,
                    "m": geom.length if geom.length > 0 else cells.size * ctx.grid.res_m, "item": 1.0}[typ.size_unit]
        size = _num(size, f"{p}: candidate {cid}: size", lo=0)
        cost = row.get("cost_eur") if "cost_eur" in gdf.columns else None
        if cost is None or (isinstance(cost, float) and math.isnan(cost)):
            cost = typ.unit_cost * size
        try:
            cost_f = float(cost)
        except (TypeError, ValueError):
            cost_f = math.nan
        if not math.isfinite(cost_f) or cost_f < 0:
            raise WerklandInputError(f"candidate {cid}: cost_eur {cost!r} must be a number >= 0", path=p)
        park = row.get("park_id") if "park_id" in gdf.columns else None
        if park is None or (isinstance(park, float) and math.isnan(park)) or str(park) == "":
            park = ctx.park_of_cells(cells if cells.size else raw)
        out.append(Candidate(cid, typ.name, str(park), np.unique(cells), float(size), typ.size_unit, cost_f,
                             exclusive_key=f"user:{cid}", source="user", geometry=geom, note=note))
    log.info("user candidates: %d read from %s", len(out), p)
    return out


# =============================================================================================
# Evaluation of a candidate on all layers
# =============================================================================================


@dataclass
class Gains:
    """Marginal gains of one candidate against the evaluator's current state.

    Attributes
    ----------
    d_eca_ha : dict of str to float
        ECA change per guild, ha.
    d_quality_ha : dict of str to float
        Change of quality-weighted patch area per guild, ha.
    d_hm : float
        Σ ΔHM × cell area over the affected window, HM-weighted ha.
    d_cool_access_m2 : float
        Workplace (building) area in parks newly within the cool-spot distance of a cool spot, m².
    d_retained_m3 : float
        Extra rain retained in the design storm (curve-number change + pooled storage), m³.
    park : int
        Park row of the candidate (-1 = none).
    touched : dict of str to frozenset
        Graph nodes changed per guild.
    """

    d_eca_ha: dict[str, float] = field(default_factory=dict)
    d_quality_ha: dict[str, float] = field(default_factory=dict)
    d_hm: float = 0.0
    d_cool_access_m2: float = 0.0
    d_retained_m3: float = 0.0
    park: int = -1
    touched: dict[str, frozenset[int]] = field(default_factory=dict)
    pc_delta: dict[str, float] = field(default_factory=dict)
    seeds: dict[str, dict[int, float]] = field(default_factory=dict)
    d_cn_m3: float = 0.0
    d_storage_m3: float = 0.0
    window: tuple[int, int, int, int] | None = None
    cs_window: tuple[int, int, int, int] | None = None
    bio_cache: dict[str, Any] = field(default_factory=dict)


class Evaluator:
    """Current state of a region (land cover, guild graphs, HM, cool spots, water) and local what-ifs.

    Parameters
    ----------
    codes : numpy.ndarray
        uint8 land-cover codes (0 outside the region).
    grid : werkland.raster.io.Grid
        Raster grid.
    legend : werkland.tables.Legend
        Legend.
    guilds : mapping of str to werkland.tables.Guild
        Guilds analysed (keys = the graphs).
    graphs : mapping of str to GuildGraph
        Baseline graph per guild.
    catalogue : Catalogue
        Intervention types.
    climate : mapping
        Validated climate parameters (:func:`werkland.climate.climate_params`).
    park_index : numpy.ndarray
        int32 raster, park row + 1 (0 = none).
    design_storm_mm : float
        Depth of the design storm, mm.
    """

    def __init__(
        self, codes: np.ndarray, grid: Any, legend: Any, guilds: Mapping[str, Any], graphs: Mapping[str, GuildGraph],
        catalogue: Catalogue, climate: Mapping[str, Any], park_index: np.ndarray, design_storm_mm: float,
        *, workers: int = 1,
    ) -> None:
        from werkland.climate import BiophysicalTable, urban_cooling

        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).copy()
        self.grid = grid
        self.H, self.W = self.codes.shape
        self.res_m = grid.res_m
        self.cell_m2 = grid.cell_area_m2
        self.legend = legend
        self.guilds = dict(guilds)
        self.graphs = dict(graphs)
        self.catalogue = catalogue
        self.p = dict(climate)
        self.park_index = park_index
        self.n_parks = int(park_index.max(initial=0))
        self.storm_mm = float(design_storm_mm)
        self.workers = workers
        base = BiophysicalTable.from_legend(legend)
        used = set(base.names)
        free = [c for c in range(255, 0, -1) if c not in used]
        names = dict(base.names)
        arrays = {k: getattr(base, k).copy() for k in ("shade", "albedo", "kc", "green_area", "storage_mm", "sealed")}
        cn = base.cn.copy()
        # per-guild lookup tables (virtual codes get the class values with the type's overrides)
        self.suit_lut: dict[str, np.ndarray] = {}
        self.res_lut: dict[str, np.ndarray] = {}
        self.edge_mult: dict[str, np.ndarray] = {}
        for gname, g in self.guilds.items():
            self.suit_lut[gname] = legend.lut(g.suitability, 0.0, where=f"guilds.{gname}.suitability").astype(np.float32)
            self.res_lut[gname] = legend.lut(g.resistance, g.default_resistance, where=f"guilds.{gname}.resistance").astype(np.float32).astype(np.float64)
            em = np.ones(self.codes.shape, np.float32)
            if g.edge_classes and g.edge_band_m > 0 and g.edge_factor < 1:
                disturbing = np.isin(self.codes, [legend.code(c) for c in g.edge_classes])
                if disturbing.any():
                    dist = ndimage.distance_transform_edt(~disturbing, sampling=(self.res_m, self.res_m))
                    em[(dist <= g.edge_band_m) & ~disturbing] = np.float32(g.edge_factor)
            self.edge_mult[gname] = em
        self.type_code: dict[str, int | None] = {}
        for t in catalogue.types.values():
            if t.new_class is None:
                self.type_code[t.name] = None
                continue
            code = legend.code(t.new_class)
            numeric = any(not isinstance(v, str) for v in t.suitability.values()) or \
                any(not isinstance(v, str) for v in t.resistance.values())
            if t.biophysical or numeric:
                if not free:
                    raise WerklandInputError("no free land-cover codes left for intervention variants", path=catalogue.path)
                v = free.pop(0)
                names[v] = f"{t.new_class}+{t.name}"
                for k in arrays:
                    arrays[k][v] = arrays[k][code]
                cn[v] = cn[code]
                for k, val in t.biophysical.items():
                    if k == "cn":
                        cn[v] = [val[gk] for gk in "ABCD"]
                    else:
                        arrays[k][v] = val
                for gname in self.guilds:
                    self.suit_lut[gname][v] = self.suit_lut[gname][code]
                    self.res_lut[gname][v] = self.res_lut[gname][code]
                    sv = t.suitability.get(gname)
                    if sv is not None and not isinstance(sv, str):
                        self.suit_lut[gname][v] = np.float32(sv)
                    rv = t.resistance.get(gname)
                    if rv is not None and not isinstance(rv, str):
                        self.res_lut[gname][v] = float(np.float32(rv)) if math.isfinite(rv) else math.inf
                code = v
            self.type_code[t.name] = code
        self.bio = replace(base, names=names, cn=cn, **arrays, missing=dict(base.missing))
        # climate baseline
        self.valid = self.codes != 0
        cool = urban_cooling(self.codes, self.bio, self.res_m, self.p, workers=workers)
        self.hm = cool.hm
        bcode = legend.code(self.p["building_class"]) if self.p["building_class"] in legend.names else None
        self.workplace = (self.codes == bcode) & (park_index > 0) if bcode is not None else np.zeros(self.codes.shape, bool)
        self._refresh_cool(cool.green)
        self.margin_hm = int(math.ceil(5 * self.p["cooling_distance_m"] / self.res_m)) + 1
        self.margin_cs = int(math.ceil(self.p["cool_spot_distance_m"] / self.res_m)) + 1
        # water per park
        q = self._q(self.codes.ravel())
        st = np.nan_to_num(self.bio.storage_mm, nan=0.0)[self.codes.ravel()]
        pi = park_index.ravel()
        self.park_runoff_m3 = np.bincount(pi, weights=np.nan_to_num(q) * self.cell_m2 / 1000, minlength=self.n_parks + 1)[1:]
        self.park_storage_m3 = np.bincount(pi, weights=st * self.cell_m2 / 1000, minlength=self.n_parks + 1)[1:]
        self.n_evals = 0

    # -- climate helpers -----------------------------------------------------------------------
    def _q(self, codes_flat: np.ndarray) -> np.ndarray:
        from werkland.climate import runoff_mm

        c = np.asarray(codes_flat, np.uint8).reshape(1, -1)
        if c.size == 0:
            return np.zeros(0)
        return runoff_mm(c, self.bio, self.storm_mm, self.p["soil_group"], self.p["lambda"], storage=False).ravel()

    def _refresh_cool(self, green: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            self.cs_mask = green & (np.nan_to_num(self.hm, nan=-np.inf) >= self.p["cool_spot_hm"])
        self.cs_lab, n = ndimage.label(self.cs_mask, structure=np.ones((3, 3), bool))
        sizes = np.bincount(self.cs_lab.ravel()) * self.cell_m2
        keep = sizes >= self.p["cool_spot_min_area_m2"] - 1e-9
        keep[0] = False
        self.cool = keep[self.cs_lab]
        self.cs_obj = list(ndimage.find_objects(self.cs_lab))
        self.green = np.array(green, dtype=bool, copy=True)  # owned: commits update it in place
        self.served = self._served(self.cool, (0, self.H, 0, self.W))

    def _served(self, cool: np.ndarray, win: tuple[int, int, int, int]) -> np.ndarray:
        r0, r1, c0, c1 = win
        if not cool.any():
            return np.zeros((r1 - r0, c1 - c0), bool)
        d = ndimage.distance_transform_edt(~cool, sampling=self.res_m)
        return self.workplace[r0:r1, c0:c1] & (d <= self.p["cool_spot_distance_m"])

    def _clip(self, r0: int, r1: int, c0: int, c1: int) -> tuple[int, int, int, int]:
        return max(0, r0), min(self.H, r1), max(0, c0), min(self.W, c1)

    # -- the candidate's new values ------------------------------------------------------------
    def new_values(self, typ: InterventionType, cells: np.ndarray) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """New codes and per-guild (suitability, resistance) of the footprint cells."""
        old_codes = self.codes.ravel()[cells]
        code = self.type_code[typ.name]
        new_codes = old_codes.copy() if code is None else np.full(cells.size, code, np.uint8)
        per_guild = {}
        for gname, gg in self.graphs.items():
            cur_s = gg.suit.ravel()[cells]
            cur_r = gg.res.ravel()[cells]
            em = self.edge_mult[gname].ravel()[cells]
            sv = typ.suitability.get(gname)
            rv = typ.resistance.get(gname)
            if sv == UNCHANGED or (code is None and sv is None):
                s = cur_s.copy()
            elif code is None:
                s = np.float32(sv) * em
            else:
                s = self.suit_lut[gname][new_codes] * em
            if rv == UNCHANGED or (code is None and rv is None):
                r = cur_r.copy()
            elif code is None:
                r = np.full(cells.size, float(np.float32(rv)) if math.isfinite(rv) else math.inf)
            else:
                r = self.res_lut[gname][new_codes]
            s = np.where(self.valid.ravel()[cells], s, cur_s).astype(np.float32)
            r = np.where(self.valid.ravel()[cells], r, cur_r)
            per_guild[gname] = (s, r)
        return new_codes, per_guild

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, cand: Candidate, *, commit: bool = False, prev: Gains | None = None) -> Gains:
        """Marginal gains of ``cand`` against the current state; ``commit`` applies it.

        ``prev`` (an earlier evaluation of the same candidate) lets each guild graph reuse its link
        searches when no commit since then came within their reach (see :meth:`GuildGraph.evaluate`).
        """
        from werkland.climate import urban_cooling

        self.n_evals += 1
        typ = self.catalogue.get(cand.type)
        cells = cand.cells
        gains = Gains()
        pi = self.park_index.ravel()[cells]
        pk = np.bincount(pi[pi > 0]).argmax() if np.any(pi > 0) else 0
        gains.park = int(pk) - 1
        if cells.size == 0:
            for gname in self.graphs:
                gains.d_eca_ha[gname] = 0.0
                gains.d_quality_ha[gname] = 0.0
            return gains
        new_codes, per_guild = self.new_values(typ, cells)
        for gname, gg in self.graphs.items():
            s, r = per_guild[gname]
            d = gg.evaluate(cells, s, r, commit=commit, cache=None if prev is None else prev.bio_cache.get(gname))
            if d.cache is not None:
                gains.bio_cache[gname] = d.cache
            gains.d_eca_ha[gname] = d.d_eca_ha
            gains.d_quality_ha[gname] = d.d_quality_ha
            gains.touched[gname] = d.touched
            gains.pc_delta[gname] = d.pc_delta
            gains.seeds[gname] = d.seeds
        old_codes = self.codes.ravel()[cells]
        # water: curve-number change on the footprint + explicit storage, pooled per park
        q_old, q_new = self._q(old_codes), self._q(new_codes)
        d_cn = float(np.nansum(q_old - q_new)) * self.cell_m2 / 1000
        sto = np.nan_to_num(self.bio.storage_mm, nan=0.0)
        d_sto = float(np.sum(sto[new_codes] - sto[old_codes])) * self.cell_m2 / 1000
        if gains.park >= 0:
            avail = max(0.0, self.park_runoff_m3[gains.park] - d_cn - self.park_storage_m3[gains.park])
        else:
            avail = max(0.0, float(np.nansum(q_new)) * self.cell_m2 / 1000)
        d_sto_eff = min(d_sto, avail) if d_sto > 0 else d_sto
        gains.d_retained_m3 = d_cn + d_sto_eff
        gains.d_cn_m3, gains.d_storage_m3 = d_cn, d_sto
        fr, fc = cells // self.W, cells % self.W
        mw = int(math.ceil(2 * self.p["cooling_distance_m"] / self.res_m))
        gains.window = (int(fr.min()) - mw, int(fr.max()) + mw + 1, int(fc.min()) - mw, int(fc.max()) + mw + 1)
        mc = self.margin_hm + self.margin_cs
        gains.cs_window = (int(fr.min()) - mc, int(fr.max()) + mc + 1, int(fc.min()) - mc, int(fc.max()) + mc + 1)
        # heat: urban cooling on a window footprint + 2 x 5 d_cool
        b = self.bio
        changed_bio = np.any(
            (b.shade[old_codes] != b.shade[new_codes]) | (b.albedo[old_codes] != b.albedo[new_codes])
            | (b.kc[old_codes] != b.kc[new_codes]) | (b.green_area[old_codes] != b.green_area[new_codes])
        )
        hm_commit = None
        if changed_bio:
            fr, fc = cells // self.W, cells % self.W
            m = self.margin_hm
            inner = self._clip(int(fr.min()) - m, int(fr.max()) + m + 1, int(fc.min()) - m, int(fc.max()) + m + 1)
            outer = self._clip(int(fr.min()) - 2 * m, int(fr.max()) + 2 * m + 1, int(fc.min()) - 2 * m, int(fc.max()) + 2 * m + 1)
            o0, o1, p0, p1 = outer
            lc_w = self.codes[o0:o1, p0:p1].copy()
            lc_w[fr - o0, fc - p0] = new_codes
            cool = urban_cooling(lc_w, self.bio, self.res_m, self.p, workers=1)
            i0, i1, j0, j1 = inner
            sl_w = np.s_[i0 - o0:i1 - o0, j0 - p0:j1 - p0]
            hm_new = cool.hm[sl_w]
            hm_old = self.hm[i0:i1, j0:j1]
            gains.d_hm = float(np.nansum(hm_new - hm_old)) * self.cell_m2 / 1e4
            green_new = cool.green[sl_w]
            gains.d_cool_access_m2, cs_commit = self._cool_access(inner, hm_new, green_new)
            hm_commit = (inner, hm_new, green_new, cs_commit)
        if commit:
            self.codes.ravel()[cells] = new_codes
            if gains.park >= 0:
                self.park_runoff_m3[gains.park] -= d_cn
                self.park_storage_m3[gains.park] += d_sto
            if hm_commit is not None:
                inner, hm_new, green_new, _ = hm_commit
                self._commit_cool(inner, hm_new, green_new)
        return gains

    def _cool_window(
        self, inner: tuple[int, int, int, int], hm_new: np.ndarray, green_new: np.ndarray,
    ) -> tuple[np.ndarray, tuple[int, int, int, int], np.ndarray, tuple[int, int, int, int]] | None:
        """New cool-spot mask of ``inner`` and the window it can change, or None when it is unchanged.

        Returns ``(mask, inner dilated by one cell, ids of the old cool-spot components touching that,
        window = the dilated box plus every such component's box)``.
        """
        i0, i1, j0, j1 = inner
        with np.errstate(invalid="ignore"):
            m_new = green_new & (np.nan_to_num(hm_new, nan=-np.inf) >= self.p["cool_spot_hm"])
        if np.array_equal(m_new, self.cs_mask[i0:i1, j0:j1]):
            return None
        d0, d1, e0, e1 = self._clip(i0 - 1, i1 + 1, j0 - 1, j1 + 1)
        ids = np.unique(self.cs_lab[d0:d1, e0:e1])
        ids = ids[ids > 0]
        r0, r1, c0, c1 = d0, d1, e0, e1
        for i in ids:
            sl = self.cs_obj[i - 1]
            r0, r1 = min(r0, sl[0].start), max(r1, sl[0].stop)
            c0, c1 = min(c0, sl[1].start), max(c1, sl[1].stop)
        return m_new, (d0, d1, e0, e1), ids, (r0, r1, c0, c1)

    def _commit_cool(self, inner: tuple[int, int, int, int], hm_new: np.ndarray, green_new: np.ndarray) -> None:
        """Apply new HM and green cells in ``inner``; update cool spots and served workplaces locally.

        Only the cool-spot components touching ``inner`` are relabelled (window = their boxes), and
        workplaces are re-tested within the cool-spot distance of that window: the state equals
        :meth:`_refresh_cool` on the whole raster (tested), at a fraction of its cost.
        """
        i0, i1, j0, j1 = inner
        self.hm[i0:i1, j0:j1] = hm_new
        self.green[i0:i1, j0:j1] = green_new
        win = self._cool_window(inner, hm_new, green_new)
        if win is None:
            return
        m_new, (d0, d1, e0, e1), ids, (r0, r1, c0, c1) = win
        self.cs_mask[i0:i1, j0:j1] = m_new
        lab2, _ = ndimage.label(self.cs_mask[r0:r1, c0:c1], structure=np.ones((3, 3), bool))
        new_ids = np.unique(lab2[d0 - r0:d1 - r0, e0 - c0:e1 - c0])
        new_ids = new_ids[new_ids > 0]
        lab_sub = self.cs_lab[r0:r1, c0:c1]
        cool_sub = self.cool[r0:r1, c0:c1]
        old = np.isin(lab_sub, ids)
        lab_sub[old] = 0
        cool_sub[old] = False
        for i in ids:
            self.cs_obj[i - 1] = None
        objs = ndimage.find_objects(lab2)
        for nid in new_ids:
            comp = lab2 == nid
            self.cs_obj.append((slice(objs[nid - 1][0].start + r0, objs[nid - 1][0].stop + r0),
                                slice(objs[nid - 1][1].start + c0, objs[nid - 1][1].stop + c0)))
            lab_sub[comp] = len(self.cs_obj)
            cool_sub[comp] = comp.sum() * self.cell_m2 >= self.p["cool_spot_min_area_m2"] - 1e-9
        m = self.margin_cs
        w3 = self._clip(r0 - 2 * m, r1 + 2 * m, c0 - 2 * m, c1 + 2 * m)
        a0, a1, b0, b1 = w3
        served_new = self._served(self.cool[a0:a1, b0:b1], w3)
        ev = self._clip(r0 - m, r1 + m, c0 - m, c1 + m)
        self.served[ev[0]:ev[1], ev[2]:ev[3]] = served_new[ev[0] - a0:ev[1] - a0, ev[2] - b0:ev[3] - b0]

    def reprice(self, g: Gains) -> Gains:
        """Gains of a non-interacting candidate against the current state, without re-evaluating it.

        The candidate's ΔPCnum, HM and curve-number terms are unchanged when no pick since its last
        evaluation came near it; only ECA = sqrt(PCnum) and the park's pooled-storage cap move.
        """
        out = replace(g, d_eca_ha=dict(g.d_eca_ha))
        for gname, dpc in g.pc_delta.items():
            pc = self.graphs[gname].pcnum
            out.d_eca_ha[gname] = math.sqrt(max(pc + dpc, 0.0)) - math.sqrt(max(pc, 0.0))
        if g.park >= 0 and g.d_storage_m3 > 0:
            avail = max(0.0, self.park_runoff_m3[g.park] - g.d_cn_m3 - self.park_storage_m3[g.park])
            out.d_retained_m3 = g.d_cn_m3 + min(g.d_storage_m3, avail)
        return out

    def _cool_access(self, inner: tuple[int, int, int, int], hm_new: np.ndarray, green_new: np.ndarray) -> tuple[float, Any]:
        i0, i1, j0, j1 = inner
        win = self._cool_window(inner, hm_new, green_new) if self.workplace.any() else None
        if win is None:
            return 0.0, None
        m_new, (d0, d1, e0, e1), ids, (r0, r1, c0, c1) = win
        mask2 = self.cs_mask[r0:r1, c0:c1].copy()
        mask2[i0 - r0:i1 - r0, j0 - c0:j1 - c0] = m_new
        lab2, _ = ndimage.label(mask2, structure=np.ones((3, 3), bool))
        touch = np.zeros(mask2.shape, bool)
        touch[d0 - r0:d1 - r0, e0 - c0:e1 - c0] = True
        new_ids = np.unique(lab2[touch])
        new_ids = new_ids[new_ids > 0]
        sizes = np.bincount(lab2.ravel()) * self.cell_m2
        cool2 = self.cool[r0:r1, c0:c1].copy()
        cool2[np.isin(self.cs_lab[r0:r1, c0:c1], ids)] = False
        cool2[i0 - r0:i1 - r0, j0 - c0:j1 - c0] = False
        big = np.isin(lab2, new_ids[sizes[new_ids] >= self.p["cool_spot_min_area_m2"] - 1e-9])
        cool2 |= big
        if np.array_equal(cool2, self.cool[r0:r1, c0:c1]):
            return 0.0, None
        m = self.margin_cs
        w3 = self._clip(r0 - 2 * m, r1 + 2 * m, c0 - 2 * m, c1 + 2 * m)
        a0, a1, b0, b1 = w3
        cool3 = self.cool[a0:a1, b0:b1].copy()
        cool3[r0 - a0:r1 - a0, c0 - b0:c1 - b0] = cool2
        served_new = self._served(cool3, w3)
        ev = self._clip(r0 - m, r1 + m, c0 - m, c1 + m)
        e_sl = np.s_[ev[0] - a0:ev[1] - a0, ev[2] - b0:ev[3] - b0]
        d_cells = int(served_new[e_sl].sum()) - int(self.served[ev[0]:ev[1], ev[2]:ev[3]].sum())
        return d_cells * self.cell_m2, None


# =============================================================================================
# Targets and scores
# =============================================================================================


@dataclass
class Scorer:
    """Target-attainment scores (see the module docstring).

    Attributes
    ----------
    guilds : list of str
    guild_w : numpy.ndarray
        Normalised guild weights.
    eca_target, hab_target : numpy.ndarray
        Per guild, ha.
    hm_target : float
        HM deficit of the parks, HM-weighted ha.
    access_target_m2 : float
        Workplace area in parks not within the cool-spot distance of a cool spot, m².
    need_m3 : numpy.ndarray
        Storage still needed per park, m³.
    w_bio, w_clim, eca_share, water_share, hm_share : float
    cap : bool
    """

    guilds: list[str]
    guild_w: np.ndarray
    eca_target: np.ndarray
    hab_target: np.ndarray
    hm_target: float
    access_target_m2: float
    need_m3: np.ndarray
    w_bio: float
    w_clim: float
    eca_share: float
    water_share: float
    hm_share: float
    cap: bool

    @property
    def n_parks(self) -> int:
        return int(self.need_m3.size)

    def vector(self, g: Gains) -> np.ndarray:
        """Gains as a vector: [eca per guild, quality per guild, hm, access, retained per park]."""
        ng = len(self.guilds)
        v = np.zeros(2 * ng + 2 + self.n_parks)
        v[:ng] = [g.d_eca_ha.get(k, 0.0) for k in self.guilds]
        v[ng:2 * ng] = [g.d_quality_ha.get(k, 0.0) for k in self.guilds]
        v[2 * ng] = g.d_hm
        v[2 * ng + 1] = g.d_cool_access_m2
        if g.park >= 0:
            v[2 * ng + 2 + g.park] = g.d_retained_m3
        return v

    def _att(self, x: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, float)
        t = np.asarray(t, float)
        r = np.where(t > 0, x / np.where(t > 0, t, 1.0), 0.0)
        return np.minimum(r, 1.0) if self.cap else r

    def parts(self, tot: np.ndarray) -> tuple[float, float]:
        """(biodiversity, climate) attainment of cumulative gains ``tot``."""
        ng = len(self.guilds)
        eca = self._att(tot[:ng], self.eca_target)
        hab = self._att(tot[ng:2 * ng], self.hab_target)
        bio = float(np.sum(self.guild_w * (self.eca_share * eca + (1 - self.eca_share) * hab)))
        heat = self.hm_share * float(self._att(tot[2 * ng], self.hm_target)) + \
            (1 - self.hm_share) * float(self._att(tot[2 * ng + 1], self.access_target_m2))
        ret = tot[2 * ng + 2:]
        tn = float(self.need_m3.sum())
        if tn > 0:
            water = float(np.sum(np.minimum(ret, self.need_m3) if self.cap else np.where(self.need_m3 > 0, ret, 0.0))) / tn
        else:
            water = 0.0
        clim = self.water_share * water + (1 - self.water_share) * heat
        return bio, clim

    def total(self, tot: np.ndarray) -> float:
        """Combined score of cumulative gains."""
        b, c = self.parts(tot)
        return self.w_bio * b + self.w_clim * c


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of points not dominated in (x, y), both maximised.

    A point is dominated when another is at least as good in both and better in one; equal points
    are all kept.

    Examples
    --------
    >>> pareto_front(np.array([1, 2, 0, 2]), np.array([2, 1, 0, 1])).tolist()
    [True, True, False, True]
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    keep = np.ones(x.size, bool)
    for s0 in range(0, x.size, 512):
        xi, yi = x[s0:s0 + 512, None], y[s0:s0 + 512, None]
        dom = (x[None, :] >= xi) & (y[None, :] >= yi) & ((x[None, :] > xi) | (y[None, :] > yi))
        keep[s0:s0 + 512] = ~dom.any(axis=1)
    return keep


def celf_select(
    costs: Sequence[float],
    budget: float,
    gain: Any,
    commit: Any,
    *,
    initial: Sequence[float] | None = None,
    groups: Sequence[str | None] | None = None,
    best_single: bool = True,
    epsilon: float = 0.0,
) -> tuple[list[int], list[float]]:
    """Lazy-greedy (CELF) budgeted selection by marginal gain per euro.

    Parameters
    ----------
    costs : sequence of float
        Cost of each item, EUR (0-cost items are ranked by gain first).
    budget : float
        Budget, EUR; the selection never exceeds it.
    gain : callable
        ``gain(i) -> float``: marginal objective gain of item ``i`` against the current state.
    commit : callable
        ``commit(i) -> iterable of int``: apply item ``i``; returns items whose gains must be
        re-evaluated at once (interacting measures; may be empty).
    initial : sequence of float, optional
        Gains against the empty state (default: ``gain(i)`` for every item).
    groups : sequence of str or None, optional
        Mutually exclusive items share a group key.
    best_single : bool
        Return the best affordable single item instead when its initial gain beats the greedy
        portfolio's total (Leskovec et al. 2007).
    epsilon : float
        Accept a re-evaluated item at once when its gain per euro is at least ``1 - epsilon`` times
        the best (stale) bound left in the queue, instead of re-evaluating the next ones first: each
        step is then a (1 - epsilon)-approximate greedy step (Badanidiyuru & Vondrák 2014, SODA,
        "Fast algorithms for maximizing submodular functions"). 0 = exact lazy greedy. This stops the
        cascade of re-evaluations among many near-equal candidates.

    Returns
    -------
    picks : list of int
        Selected items in order.
    marginal : list of float
        Marginal gain of each pick when it was selected.
    """
    import heapq

    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon!r}")
    n = len(costs)
    c = np.asarray(costs, float)
    g0 = np.asarray([gain(i) for i in range(n)] if initial is None else initial, float)
    version = np.zeros(n, np.int64)
    rnd = 0

    def key(i: int, gv: float) -> float:
        # heap order: highest gain per euro first; free items with a positive gain before all
        if c[i] > 0:
            return -gv / c[i]
        return -math.inf if gv > 0 else 0.0

    heap = [(key(i, g0[i]), i, 0, 0, float(g0[i])) for i in range(n) if c[i] <= budget + 1e-9]
    heapq.heapify(heap)
    taken: set[str] = set()
    picks: list[int] = []
    marg: list[float] = []
    left = float(budget)
    chosen = np.zeros(n, bool)
    while heap:
        _, i, ver, stamp, gv = heapq.heappop(heap)
        if chosen[i] or ver != version[i]:
            continue
        if c[i] > left + 1e-9:
            continue
        grp = groups[i] if groups is not None else None
        if grp is not None and grp in taken:
            continue
        if stamp != rnd:
            gv = float(gain(i))
            ki = key(i, gv)
            accept = epsilon > 0 and gv > 0 and (not heap or -ki >= (1.0 - epsilon) * -heap[0][0])
            if not accept:
                heapq.heappush(heap, (ki, i, ver, rnd, gv))
                continue
        if gv <= 0:
            break
        picks.append(i)
        marg.append(gv)
        chosen[i] = True
        left -= c[i]
        if grp is not None:
            taken.add(grp)
        rnd += 1
        eager = commit(i) or ()
        for j in sorted(set(eager)):
            if chosen[j] or c[j] > left + 1e-9:
                continue
            version[j] += 1
            gj = float(gain(j))
            heapq.heappush(heap, (key(j, gj), j, int(version[j]), rnd, gj))
    if best_single and n:
        afford = np.flatnonzero(c <= budget + 1e-9)
        if afford.size:
            b = int(afford[np.argmax(g0[afford])])
            if g0[b] > sum(marg) + 1e-12:
                return [b], [float(g0[b])]
    return picks, marg


# =============================================================================================
# Region inputs
# =============================================================================================


def _read_layer(path: Path, layer: str | None, grid: Any, what: str) -> Any:
    import geopandas as gpd

    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio") if layer else gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"cannot read {what} ({str(exc).splitlines()[0]})", path=str(path),
                                 fix="re-run the stage that writes it") from exc
    if len(gdf) and gdf.crs is not None and not gdf.crs.equals(grid.crs):
        gdf = gdf.to_crs(grid.crs.to_wkt())
    return gdf


def _guild_baseline(
    region: Path, gname: str, guild: Any, codes: np.ndarray, grid: Any, legend: Any, conn: Mapping[str, Any],
    notes: list[str], pc_tol: float = 0.0, searchers: list[_Searcher] | None = None,
) -> tuple[GuildGraph, list[np.ndarray]]:
    """Baseline graph of a guild from the connectivity outputs, or computed when they are absent."""
    import json

    from werkland import habitat as hab
    from werkland.connectivity import (
        P_FLOOR_DEFAULT,
        build_links,
        dispersal_kernel,
        find_patches,
        prepare_resistance,
    )
    from werkland.raster.io import line_cells, read_raster, release_free_memory

    hp, rp = region / "habitat" / f"{gname}.tif", region / "resistance" / f"{gname}.tif"
    if hp.exists() and rp.exists():
        suit, g1, _ = read_raster(hp)
        rraw, _, rnd = read_raster(rp)
        if suit.shape != codes.shape or rraw.shape != codes.shape:
            raise WerklandInputError(f"habitat/resistance grid of {gname} differs from landcover.tif", path=str(hp),
                                     fix="re-run the habitat rule")
        suit = suit.astype(np.float32)
        res = prepare_resistance(rraw, rnd if rnd is not None else -1.0)
    else:
        notes.append(f"{gname}: habitat/resistance rasters absent, computed from landcover.tif")
        suit = hab.suitability(codes, legend, guild, grid.res_m)
        res = prepare_resistance(np.where(np.isfinite(r := hab.resistance(codes, legend, guild)), r, -1.0), -1.0)
    pt, lk, sj = (region / "patches" / f"{gname}.tif", region / "graph" / f"{gname}_links.gpkg",
                  region / "graph" / f"{gname}_summary.json")
    if pt.exists() and lk.exists() and sj.exists():
        labels, _, _ = read_raster(pt)
        links = _read_layer(lk, "links", grid, f"links of {gname}")
        with open(sj, encoding="utf-8") as fh:
            summ = json.load(fh)
        k = float(summ["k_per_m"])
        max_cost = float(summ.get("max_cost_distance") or (-math.log(float(summ.get("p_floor", P_FLOOR_DEFAULT))) / k))
        edges = (links["from_id"].to_numpy(), links["to_id"].to_numpy(), links["cost_distance"].to_numpy())
        paths = line_cells(links.geometry.values, grid.shape, grid.transform)
        order = np.argsort(links["cost_distance"].to_numpy(), kind="stable") if len(links) else []
        paths = [paths[i] for i in order]
        del links
        release_free_memory()  # the link geometries' heap (1 GB for 334 k links) before the n x n matrix
    else:
        notes.append(f"{gname}: connectivity outputs absent, baseline patches and links computed here")
        kern = dispersal_kernel(guild.d0_m, str(conn.get("convention", "conefor")),
                                guild.p0 if conn.get("convention", "conefor") == "conefor" else None)
        max_cost = kern.max_cost(float(conn.get("p_floor", P_FLOOR_DEFAULT)))
        k = kern.k_per_m
        valid = codes != 0
        ps = find_patches(np.where(valid, suit, -1.0), res_m=grid.res_m, threshold=guild.suitability_threshold,
                          min_area_m2=guild.min_patch_area_m2, valid=valid)
        labels = ps.labels
        L = build_links(res, labels, res_m=grid.res_m, max_cost=max_cost, n_threads=2, with_paths=True)
        edges = (L.from_id, L.to_id, L.cost)
        order = np.argsort(L.cost, kind="stable")
        paths = [L.path_cells[L.path_ptr[e]:L.path_ptr[e + 1]] for e in order]
    gg = GuildGraph(gname, suit, res, labels, edges, k_per_m=k, max_cost=max_cost,
                    threshold=guild.suitability_threshold, min_area_m2=guild.min_patch_area_m2, res_m=grid.res_m,
                    pc_tol=pc_tol, searchers=searchers)
    log.info("%s: %d patches, %d links, ECA %.2f ha (reach %.0f cost-m)", gname, gg.n,
             sum(len(d) for d in gg.adj) // 2, gg.eca_ha, max_cost)
    return gg, paths


def _park_raster(parks: Any, grid: Any) -> np.ndarray:
    from rasterio.features import rasterize

    if not len(parks):
        return np.zeros(grid.shape, np.int32)
    shapes = [(g, i + 1) for i, g in enumerate(parks.geometry.values) if g is not None and not g.is_empty]
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32")


def _footprint_polygon(cells: np.ndarray, grid: Any) -> Any:
    import shapely
    from affine import Affine
    from rasterio.features import shapes
    from shapely.geometry import shape

    if cells.size == 0:
        return shapely.MultiPolygon()
    r, c = cells // grid.width, cells % grid.width
    r0, c0 = int(r.min()), int(c.min())
    m = np.zeros((int(r.max()) - r0 + 1, int(c.max()) - c0 + 1), np.uint8)
    m[r - r0, c - c0] = 1
    tr = grid.transform * Affine.translation(c0, r0)
    polys = [shape(g) for g, _ in shapes(m, mask=m > 0, connectivity=4, transform=tr)]
    return shapely.MultiPolygon(polys)


# global state of the evaluation workers (fork start method: inherited, never pickled)
_WORK: dict[str, Any] = {}


def _eval_chunk(idx: Sequence[int]) -> list[tuple[int, Gains]]:
    ev: Evaluator = _WORK["ev"]
    cands: list[Candidate] = _WORK["cands"]
    for gg in ev.graphs.values():  # worker processes already use every core
        gg.n_threads = 1
    return [(i, ev.evaluate(cands[i])) for i in idx]


def _evaluate_all(ev: Evaluator, cands: list[Candidate], n_workers: int) -> list[Gains]:
    t0 = time.perf_counter()
    n = len(cands)
    out: list[Gains | None] = [None] * n
    chunks = [list(range(i, min(n, i + 16))) for i in range(0, n, 16)]
    done = 0
    step = max(1, n // 10)
    next_log = step

    def note(k: int) -> None:
        nonlocal done, next_log
        done += k
        if done >= next_log or done == n:
            dt = time.perf_counter() - t0
            log.info("evaluated %d/%d candidates (%.1f candidates/s)", done, n, done / max(dt, 1e-9))
            next_log += step

    if n_workers > 1 and n > 32 and hasattr(os, "fork"):
        import multiprocessing as mp

        _WORK["ev"], _WORK["cands"] = ev, cands
        try:
            with mp.get_context("fork").Pool(n_workers) as pool:
                for res in pool.imap_unordered(_eval_chunk, chunks):
                    for i, g in res:
                        out[i] = g
                    note(len(res))
        finally:
            _WORK.clear()
    else:
        for ch in chunks:
            for i in ch:
                out[i] = ev.evaluate(cands[i])
            note(len(ch))
    return [g for g in out if g is not None]


# =============================================================================================
# Entry point
# =============================================================================================


def run_interventions(
    region_dir: str | os.PathLike[str],
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    catalogue_yaml: str | os.PathLike[str],
    out_candidates_gpkg: str | os.PathLike[str],
    out_portfolio_csv: str | os.PathLike[str],
    out_park_totals_csv: str | os.PathLike[str],
    *,
    guilds: list[str],
    params: dict,
    user_candidates: str | None = None,
) -> dict:
    """Generate, score, rank and select interventions for one region and write the outputs.

    Parameters
    ----------
    region_dir : path-like
        ``results/{region}``: reads ``landcover.tif``, ``landcover.gpkg`` (layers ``landcover``,
        ``lines``), ``region.gpkg`` (layer ``parks``), ``habitat/{guild}.tif``,
        ``resistance/{guild}.tif``, ``patches/{guild}.tif``, ``graph/{guild}_links.gpkg``,
        ``graph/{guild}_summary.json`` (baseline patches and links; computed here if absent),
        ``barriers/all_guilds.gpkg`` (fauna-passage candidates; none if absent or empty) and
        ``climate/summary.csv`` (storage still needed and HM per park; computed if absent).
    legend_yaml, guilds_yaml, catalogue_yaml : path-like
        ``config/landcover_classes.yaml``, ``config/guilds.yaml``, ``config/interventions.yaml``.
    out_candidates_gpkg : path-like
        Layer ``candidates``: ``candidate_id``, ``type``, ``label``, ``park_id``, ``size``,
        ``size_unit``, ``cost_eur``, ``d_eca_ha_<guild>``, ``d_habitat_ha``, ``d_hm``,
        ``d_cool_access_m2``, ``d_retained_m3``, ``score_bio``, ``score_climate``, ``score``,
        ``score_per_keur``, ``rank``, ``selected``, ``select_order``, ``pareto``, ``source``,
        ``cost_source``, ``note``; geometry = footprint cells (MultiPolygon).
    out_portfolio_csv : path-like
        Selected measures in selection order with cumulative cost and marginal/cumulative gains.
    out_park_totals_csv : path-like
        Per park: candidates, selected measures, cost and gains of the portfolio, storage attainment.
    guilds : list of str
        Guilds to analyse (names in the guild table).
    params : dict
        Keys of :data:`DEFAULT_PARAMS` (config section ``interventions``) plus optional ``climate``
        (climate-stage parameters) and ``connectivity`` (``convention``, ``p_floor``).
    user_candidates : str, optional
        A user candidate layer (overrides ``params["user_candidates"]``).

    Returns
    -------
    dict
        Summary: counts, budget, cost, cumulative gains and attainment, timing, warnings.

    Raises
    ------
    WerklandInputError
        Bad catalogue, parameters, user layer or unreadable inputs.
    """
    import geopandas as gpd

    from werkland.climate import climate_params
    from werkland.raster.crs import assert_metric
    from werkland.raster.io import read_raster, write_csv, write_gpkg
    from werkland.tables import load_guilds, load_legend

    t_start = time.perf_counter()
    P = interventions_params(params)
    warnings: list[str] = []
    region = Path(region_dir)
    legend = load_legend(legend_yaml)
    all_guilds = load_guilds(guilds_yaml, legend)
    unknown = [g for g in guilds if g not in all_guilds]
    if unknown:
        raise WerklandInputError(f"guilds {unknown} are not in {guilds_yaml}", path="config: guilds",
                                 fix=f"use guilds from: {', '.join(all_guilds)}")
    gsel = {g: all_guilds[g] for g in guilds}
    catalogue = load_catalogue(catalogue_yaml, legend, all_guilds)
    cp = climate_params(P["climate"])
    storms = {s["name"]: s["depth_mm"] for s in cp["storms"]}
    storm = P["design_storm"] or cp["storms"][0]["name"]
    if storm not in storms:
        raise WerklandInputError(f"design storm {storm!r} is not a climate storm", path="config: interventions.design_storm",
                                 fix=f"use one of {sorted(storms)}")

    codes, grid, nodata = read_raster(region / "landcover.tif")
    assert_metric(grid.crs, where=str(region / "landcover.tif"))
    codes = codes.astype(np.uint8)
    parks = _read_layer(region / "region.gpkg", "parks", grid, "parks")
    if "park_id" not in parks.columns:
        raise WerklandInputError("no column park_id", path=f"{region / 'region.gpkg'} (layer parks)")
    parks = parks.reset_index(drop=True)
    parks["park_id"] = parks["park_id"].astype(str)
    park_index = _park_raster(parks, grid)
    lc_poly = lines = barriers = None
    if (region / "landcover.gpkg").exists():
        lc_poly = _read_layer(region / "landcover.gpkg", "landcover", grid, "land-cover polygons")
        try:
            lines = _read_layer(region / "landcover.gpkg", "lines", grid, "centre lines")
        except WerklandInputError:
            lines = None
    bpath = region / "barriers" / "all_guilds.gpkg"
    if bpath.exists():
        barriers = _read_layer(bpath, None, grid, "barrier segments")
        if not len(barriers):
            warnings.append("barriers/all_guilds.gpkg is empty: no fauna-passage candidates")
    else:
        warnings.append("barriers/all_guilds.gpkg absent: no fauna-passage candidates")

    notes: list[str] = []
    graphs: dict[str, GuildGraph] = {}
    link_paths: dict[str, list[np.ndarray]] = {}
    searchers: list[_Searcher] = []  # one set of search work arrays for every guild's graph
    for gname, g in gsel.items():
        graphs[gname], link_paths[gname] = _guild_baseline(region, gname, g, codes, grid, legend, P["connectivity"], notes,
                                                               P["pc_tolerance"], searchers)
    t_base = time.perf_counter()
    ev = Evaluator(codes, grid, legend, gsel, graphs, catalogue, cp, park_index, storms[storm], workers=2)

    # candidates
    edge_codes = np.zeros(256, bool)
    for g in gsel.values():
        for c in g.edge_classes:
            edge_codes[legend.code(c)] = True
    green = ev.bio.green_area[codes] == 1
    dist_green = ndimage.distance_transform_edt(~green, sampling=grid.res_m) if green.any() else np.full(codes.shape, np.inf)
    ctx = _Ctx(codes, grid, legend, gsel, parks, park_index, lc_poly, lines, link_paths, barriers, edge_codes,
               dist_green, notes)
    user = user_candidates if user_candidates is not None else (P["user_candidates"] or None)
    cands: list[Candidate] = []
    if not (user and P["user_candidates_mode"] == "replace"):
        cands = generate_candidates(ctx, catalogue, max_per_type_park=P["max_candidates_per_type_park"])
        if P["max_candidates"] is not None and len(cands) > P["max_candidates"]:
            n_gen = len(cands)
            cands = cap_candidates(cands, P["max_candidates"])
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
    t_gen = time.perf_counter()
    log.info("%d candidates (%d types) in %.1f s", len(cands), len({c.type for c in cands}), t_gen - t_base)

    # targets
    gw = P["guild_weights"] or {}
    w = np.array([float(gw.get(g, 1.0)) for g in gsel], float)
    if np.any(w < 0) or w.sum() <= 0:
        raise WerklandInputError(f"guild weights {gw!r} must be >= 0 with a positive sum", path="config: interventions.guild_weights")
    w = w / w.sum()
    eca0 = np.array([graphs[g].eca0_ha for g in gsel])
    q0 = np.array([graphs[g].q0 for g in gsel])
    eca_t = np.where(eca0 > 0, eca0 * P["eca_target_pct"] / 100, 1.0)
    hab_t = np.where(q0 > 0, q0 * P["habitat_target_pct"] / 100, 1.0)
    for g, e in zip(gsel, eca0, strict=True):
        if e <= 0:
            warnings.append(f"{g}: baseline ECA is 0 (no patches); ECA and habitat targets set to 1 ha")
    need, hm_def = _park_targets(region, parks, park_index, ev, cp, warnings)
    unserved = float((ev.workplace & ~ev.served).sum()) * grid.cell_area_m2
    scorer = Scorer(list(gsel), w, eca_t, hab_t, hm_def, unserved, need, P["weights"]["biodiversity"],
                    P["weights"]["climate"], P["bio_eca_share"], P["climate_water_share"], P["heat_hm_share"],
                    P["cap_attainment"])

    # standalone gains
    for gg in graphs.values():  # one candidate at a time in this process: its searches on threads
        gg.n_threads = P["n_workers"]
    gains = _evaluate_all(ev, cands, P["n_workers"]) if cands else []
    t_eval = time.perf_counter()
    vecs = np.array([scorer.vector(g) for g in gains]) if gains else np.zeros((0, 2 * len(gsel) + 2 + len(parks)))
    parts = [scorer.parts(v) for v in vecs]
    s_bio = np.array([p[0] for p in parts])
    s_cli = np.array([p[1] for p in parts])
    s_tot = P["weights"]["biodiversity"] * s_bio + P["weights"]["climate"] * s_cli
    cost = np.array([c.cost_eur for c in cands], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_keur = np.where(cost > 0, s_tot / (cost / 1000.0), np.where(s_tot > 0, np.inf, 0.0))
        pb = np.where(cost > 0, s_bio / (cost / 1000.0), np.where(s_bio > 0, np.inf, 0.0))
        pc = np.where(cost > 0, s_cli / (cost / 1000.0), np.where(s_cli > 0, np.inf, 0.0))
    order = np.lexsort((np.arange(len(cands)), -per_keur))
    rank = np.empty(len(cands), np.int64)
    rank[order] = np.arange(1, len(cands) + 1)
    pareto = pareto_front(pb, pc) & (s_tot > 0) if len(cands) else np.zeros(0, bool)

    # greedy selection
    budget = P["budget_eur"]
    picks: list[int] = []
    pick_vec: dict[int, np.ndarray] = {}
    if cands and cost.min() > budget:
        warnings.append(f"budget {budget:,.0f} EUR is smaller than the cheapest measure ({cost.min():,.0f} EUR): nothing selected")
    elif cands:
        tot = np.zeros(vecs.shape[1])
        last: dict[int, Gains] = dict(enumerate(gains))
        cell_owner: dict[int, list[int]] = {}
        for i, c in enumerate(cands):
            for x in c.cells[:: max(1, c.cells.size // 64)].tolist():
                cell_owner.setdefault(x, []).append(i)
        f_now = [0.0]

        dirty = np.zeros(len(cands), bool)
        n_reprice = [0]

        def gain_fn(i: int) -> float:
            if dirty[i]:
                gi = ev.evaluate(cands[i], prev=last[i])
                last[i] = gi
                dirty[i] = False
            else:
                gi = ev.reprice(last[i])
                n_reprice[0] += 1
            return scorer.total(tot + scorer.vector(gi)) - f_now[0]

        t_sel0 = time.perf_counter()
        n_ev0 = ev.n_evals

        def commit_fn(i: int) -> set[int]:
            gi = ev.evaluate(cands[i], commit=True)
            dt = time.perf_counter() - t_sel0
            log.info("pick %d: %s (%.0f EUR); %d re-evaluations and %d re-pricings in %.1f s", len(pick_vec) + 1,
                     cands[i].candidate_id, cost[i], ev.n_evals - n_ev0, n_reprice[0], dt)
            v = scorer.vector(gi)
            pick_vec[i] = v
            tot[:] += v
            f_now[0] = scorer.total(tot)
            # candidates that interact with the pick: graph seeds within the p* cut of the pick's
            # seeds, overlapping heat windows, shared footprint cells -> full re-evaluation
            lim = -math.log(P["interaction_p"]) if P["interaction_p"] > 0 else math.inf
            near = {g: ev.graphs[g].near(gi.seeds.get(g, {}), P["interaction_p"]) for g in gsel}
            fp = set(cands[i].cells.tolist())
            owners: set[int] = set()
            for x in fp:
                owners.update(cell_owner.get(x, ()))
            eager: set[int] = set()
            for j, gj in last.items():
                if j == i:
                    continue
                hit = j in owners or _boxes_meet(gj.window, gi.window) or (
                    gi.d_cool_access_m2 != 0 and gj.d_cool_access_m2 != 0 and _boxes_meet(gj.cs_window, gi.cs_window))
                for g, sd in gj.seeds.items():
                    m = near[g]
                    if sd and any(q < m.size and m[q] + wq <= lim for q, wq in sd.items()):
                        hit = True
                        if gi.touched.get(g) and any(q in gi.touched[g] for q, wq in sd.items() if wq == 0.0):
                            eager.add(j)  # structural interaction (merge/shared link): re-rank at once
                        break
                if hit:
                    dirty[j] = True
            eager |= owners - {i}
            if len(eager) > P["eager_max"]:
                # only the best-ranked interacting candidates at once (synergies that could make them the
                # next pick); the others are dirty and re-evaluated when they reach the top of the queue
                def stale_ratio(j: int) -> float:
                    gj = scorer.total(tot + scorer.vector(ev.reprice(last[j]))) - f_now[0]
                    return gj / cost[j] if cost[j] > 0 else math.inf
                eager = set(sorted(eager, key=lambda j: (-stale_ratio(j), j))[: P["eager_max"]])
            return eager

        groups = [c.exclusive_key for c in cands]
        picks, _ = celf_select(cost, budget, gain_fn, commit_fn, initial=s_tot, groups=groups, epsilon=P["lazy_epsilon"])
        if len(picks) == 1 and picks[0] not in pick_vec:
            pick_vec = {picks[0]: vecs[picks[0]]}
    t_sel = time.perf_counter()

    # outputs
    gnames = list(gsel)
    sel_order = {i: k + 1 for k, i in enumerate(picks)}
    rows = []
    for i, c in enumerate(cands):
        g = gains[i]
        typ = catalogue.types[c.type]
        row = {
            "candidate_id": c.candidate_id, "type": c.type, "label": typ.label, "park_id": c.park_id,
            "size": round(c.size, 3), "size_unit": c.size_unit, "cost_eur": round(c.cost_eur, 2), "n_cells": int(c.cells.size),
        }
        for gn in gnames:
            row[f"d_eca_ha_{gn}"] = g.d_eca_ha.get(gn, 0.0)
        row["d_habitat_ha"] = float(np.dot(w, [g.d_quality_ha.get(gn, 0.0) for gn in gnames]))
        row.update({
            "d_hm": g.d_hm, "d_cool_access_m2": g.d_cool_access_m2, "d_retained_m3": g.d_retained_m3,
            "score_bio": s_bio[i], "score_climate": s_cli[i], "score": s_tot[i],
            "score_per_keur": per_keur[i] if np.isfinite(per_keur[i]) else 1e12,
            "rank": int(rank[i]), "selected": i in sel_order, "select_order": sel_order.get(i, 0),
            "pareto": bool(pareto[i]), "source": c.source, "exclusive_key": c.exclusive_key or "",
            "cost_source": typ.cost_source, "note": c.note,
        })
        rows.append(row)
    cols = (["candidate_id", "type", "label", "park_id", "size", "size_unit", "cost_eur", "n_cells"]
            + [f"d_eca_ha_{gn}" for gn in gnames]
            + ["d_habitat_ha", "d_hm", "d_cool_access_m2", "d_retained_m3", "score_bio", "score_climate", "score",
               "score_per_keur", "rank", "selected", "select_order", "pareto", "source", "exclusive_key", "cost_source", "note"])
    df = pd.DataFrame(rows, columns=cols)
    geoms = [_footprint_polygon(c.cells, grid) for c in cands]
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=grid.crs.to_wkt()), crs=grid.crs.to_wkt())
    gdf = gdf.sort_values("rank", kind="stable").reset_index(drop=True)
    write_gpkg(gdf, out_candidates_gpkg, "candidates")

    ng = len(gnames)
    port_rows = []
    cum = np.zeros(vecs.shape[1])
    cum_cost = 0.0
    for k, i in enumerate(picks, start=1):
        v = pick_vec.get(i, vecs[i])
        before = scorer.total(cum)
        cum = cum + v
        cum_cost += cost[i]
        b, cl = scorer.parts(cum)
        r = {"order": k, "candidate_id": cands[i].candidate_id, "type": cands[i].type, "park_id": cands[i].park_id,
             "size": round(cands[i].size, 3), "size_unit": cands[i].size_unit, "cost_eur": round(cost[i], 2),
             "cum_cost_eur": round(cum_cost, 2)}
        for j, gn in enumerate(gnames):
            r[f"d_eca_ha_{gn}"] = v[j]
        r["d_habitat_ha"] = float(np.dot(w, v[ng:2 * ng]))
        r["d_hm"] = v[2 * ng]
        r["d_cool_access_m2"] = v[2 * ng + 1]
        r["d_retained_m3"] = float(v[2 * ng + 2:].sum()) if cands[i].park_id else gains[i].d_retained_m3
        r["marginal_score"] = scorer.total(cum) - before
        for j, gn in enumerate(gnames):
            r[f"cum_d_eca_ha_{gn}"] = cum[j]
        r["cum_d_habitat_ha"] = float(np.dot(w, cum[ng:2 * ng]))
        r["cum_d_hm"] = cum[2 * ng]
        r["cum_d_retained_m3"] = float(cum[2 * ng + 2:].sum())
        r["cum_score_bio"], r["cum_score_climate"], r["cum_score"] = b, cl, scorer.total(cum)
        port_rows.append(r)
    pcols = (["order", "candidate_id", "type", "park_id", "size", "size_unit", "cost_eur", "cum_cost_eur"]
             + [f"d_eca_ha_{gn}" for gn in gnames] + ["d_habitat_ha", "d_hm", "d_cool_access_m2", "d_retained_m3",
                                                     "marginal_score"]
             + [f"cum_d_eca_ha_{gn}" for gn in gnames]
             + ["cum_d_habitat_ha", "cum_d_hm", "cum_d_retained_m3", "cum_score_bio", "cum_score_climate", "cum_score"])
    write_csv(pd.DataFrame(port_rows, columns=pcols), out_portfolio_csv)

    prow = []
    port = pd.DataFrame(port_rows, columns=pcols)
    ids = list(parks["park_id"]) + ([""] if any(c.park_id == "" for c in cands) else [])
    for pi, pid in enumerate(ids):
        sel = port[port["park_id"] == pid]
        r = {"park_id": pid if pid else "(outside parks)",
             "name": str(parks["name"].iloc[pi]) if pid and "name" in parks.columns and pd.notna(parks["name"].iloc[pi]) else "",
             "n_candidates": sum(1 for c in cands if c.park_id == pid), "n_selected": len(sel),
             "cost_selected_eur": float(sel["cost_eur"].sum())}
        for gn in gnames:
            r[f"d_eca_ha_{gn}"] = float(sel[f"d_eca_ha_{gn}"].sum())
        r["d_habitat_ha"] = float(sel["d_habitat_ha"].sum())
        r["d_hm"] = float(sel["d_hm"].sum())
        r["d_cool_access_m2"] = float(sel["d_cool_access_m2"].sum())
        r["d_retained_m3"] = float(sel["d_retained_m3"].sum())
        if pid:
            r["storage_needed_m3"] = float(need[pi])
            r["water_attainment"] = float(min(1.0, r["d_retained_m3"] / need[pi])) if need[pi] > 0 else 0.0
        else:
            r["storage_needed_m3"] = 0.0
            r["water_attainment"] = 0.0
        prow.append(r)
    write_csv(pd.DataFrame(prow), out_park_totals_csv)

    n_ev = ev.n_evals
    b_all, c_all = scorer.parts(cum)
    summary = {
        "n_candidates": len(cands),
        "n_candidates_by_type": {t: sum(1 for c in cands if c.type == t) for t in catalogue.types},
        "n_selected": len(picks),
        "budget_eur": budget,
        "cost_selected_eur": float(cum_cost),
        "score": scorer.total(cum), "score_bio": b_all, "score_climate": c_all,
        "d_eca_ha": {gn: float(cum[j]) for j, gn in enumerate(gnames)},
        "d_retained_m3": float(cum[2 * ng + 2:].sum()),
        "baseline_eca_ha": {gn: float(e) for gn, e in zip(gnames, eca0, strict=True)},
        "targets": {"eca_ha": dict(zip(gnames, eca_t.tolist(), strict=True)), "habitat_ha": dict(zip(gnames, hab_t.tolist(), strict=True)),
                    "hm_deficit_ha": hm_def, "unserved_workplace_m2": unserved, "storage_needed_m3": float(need.sum())},
        "design_storm": storm,
        "evaluations": n_ev + len(cands) * (1 if P["n_workers"] > 1 and len(cands) > 32 else 0),
        "timing_s": {"baseline": round(t_base - t_start, 2), "candidates": round(t_gen - t_base, 2),
                     "evaluation": round(t_eval - t_gen, 2), "selection": round(t_sel - t_eval, 2),
                     "total": round(time.perf_counter() - t_start, 2)},
        "candidates_per_s": len(cands) / max(t_eval - t_gen, 1e-9),
        "warnings": warnings,
    }
    for wmsg in warnings:
        log.warning("%s", wmsg)
    log.info("selected %d of %d candidates for %.0f of %.0f EUR; score %.4f (bio %.4f, climate %.4f); "
             "%.1f candidates/s in the first evaluation; selection %.1f s (%d re-evaluations)",
             len(picks), len(cands), cum_cost, budget, summary["score"], b_all, c_all, summary["candidates_per_s"],
             t_sel - t_eval, n_ev)
    return summary


def _park_targets(region: Path, parks: Any, park_index: np.ndarray, ev: Evaluator, cp: Mapping[str, Any],
                  warnings: list[str]) -> tuple[np.ndarray, float]:
    """Storage still needed per park (m³) and the parks' HM deficit (HM-weighted ha)."""
    n = len(parks)
    pi = park_index.ravel()
    cell_m2 = ev.cell_m2
    hm = np.nan_to_num(ev.hm.ravel(), nan=0.0)
    area = np.bincount(pi, minlength=n + 1)[1:] * cell_m2
    hm_mean = np.bincount(pi, weights=hm, minlength=n + 1)[1:] * cell_m2 / np.maximum(area, 1e-9)
    sealed = np.nan_to_num(ev.bio.sealed, nan=0.0)[ev.codes.ravel()]
    need = np.maximum(0.0, cp["storage_norm_mm"] * np.bincount(pi, weights=sealed, minlength=n + 1)[1:] * cell_m2 / 1000
                      - ev.park_storage_m3)
    sp = region / "climate" / "summary.csv"
    if sp.exists():
        s = pd.read_csv(sp, dtype={"park_id": str})
        if {"park_id", "storage_needed_m3"} <= set(s.columns):
            m = dict(zip(s["park_id"], s["storage_needed_m3"], strict=True))
            need = np.array([float(m.get(p, nd)) for p, nd in zip(parks["park_id"], need, strict=True)])
        if {"park_id", "hm_mean", "area_m2"} <= set(s.columns):
            hmm = dict(zip(s["park_id"], s["hm_mean"], strict=True))
            am = dict(zip(s["park_id"], s["area_m2"], strict=True))
            hm_mean = np.array([float(hmm.get(p, h)) for p, h in zip(parks["park_id"], hm_mean, strict=True)])
            area = np.array([float(am.get(p, a)) for p, a in zip(parks["park_id"], area, strict=True)])
    else:
        warnings.append("climate/summary.csv absent: storage still needed and HM per park computed here")
    hm_def = float(np.sum(np.maximum(0.0, cp["hm_threshold"] - hm_mean) * area) / 1e4)
    if need.sum() <= 0:
        warnings.append("no park needs more storage: water retention earns no score")
    if hm_def <= 0:
        warnings.append(f"every park's mean HM is >= {cp['hm_threshold']}: the HM gain earns no score")
    return np.asarray(need, float), hm_def
