"""Gains of a candidate on every layer, evaluated locally against the region's current state.

:class:`Evaluator` holds the region's land cover, the guild graphs, heat mitigation (HM), cool spots
and water per park, and evaluates a candidate *locally*:

* biodiversity, per guild: new suitability/resistance on the footprint, evaluated exactly by the
  guild's :class:`~werkland.interventions.guild_graph.GuildGraph` (``d_eca_ha`` -- ECA = sqrt(PCnum),
  Saura et al. 2011 -- and the quality-weighted habitat area gained);
* climate: InVEST urban cooling re-run on a window of the footprint + 10·d_cool (HM can change within
  5·d_cool, and each of those cells sees 5·d_cool further), summed as HM-weighted hectares ``d_hm``;
  cool-spot access (workplace area newly within the cool-spot distance); SCS-CN runoff before/after on
  the footprint plus the explicit storage added, pooled per park, as ``d_retained_m3`` for the design
  storm. With the climate stage's flow accumulation (an elevation model was given) the storage
  catches at most the run-on arriving at its footprint -- its upslope area times the park's mean
  runoff depth, plus the runoff of its own cells -- and the park's pool includes the run-on from
  outside the park; with a soil-group raster the curve numbers use each cell's soil group.

A commit applies a candidate to the state; :func:`werkland.interventions.first_evaluation.evaluate_all`
runs the first evaluation of every candidate on worker processes.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from scipy import ndimage

from werkland._errors import WerklandInputError
from werkland.climate import BiophysicalTable, ClimateParams, runoff_mm, urban_cooling
from werkland.forking import shared_threads
from werkland.habitat import edge_band
from werkland.interventions.candidates import Candidate
from werkland.interventions.catalogue import UNCHANGED, Catalogue, InterventionType
from werkland.interventions.guild_graph import BioDelta, GuildGraph
from werkland.interventions.search import Box
from werkland.interventions.siting import Hydrology
from werkland.raster.io import Grid
from werkland.tables import Guild, Legend

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    pc_delta : dict of str to float
        PCnum change per guild, ha² (re-pricing after other picks).
    seeds : dict of str to dict
        Per guild: nodes tied to the change with the ``-ln p`` of their tie (interaction tests).
    d_cn_m3, d_storage_m3 : float
        Retention from the curve-number change and explicit storage added (before the park's cap), m³.
    d_inflow_m3 : float
        Design-storm water arriving at the footprint (routed run-on plus its own runoff), m³: the
        most its storage can catch (``inf`` without an elevation model: only the park's pool caps it).
    window, cs_window : tuple of int or None
        Boxes the candidate's heat and cool-spot effects can reach (interaction tests).
    bio_cache : dict
        Per guild: the reusable raster part of the graph evaluation.
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
    d_inflow_m3: float = math.inf
    window: Box | None = None
    cs_window: Box | None = None
    bio_cache: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Change:
    """A candidate's change as an evaluation uses it: the gains to fill, its cells, their codes before
    and after, and per guild their new (suitability, resistance) (none without the guild graphs)."""

    gains: Gains
    cells: np.ndarray
    old_codes: np.ndarray
    new_codes: np.ndarray
    values: dict[str, tuple[np.ndarray, np.ndarray]]


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
    climate : ClimateParams
        Climate parameters (:attr:`werkland.params.InterventionParams.climate`).
    park_index : numpy.ndarray
        int32 raster, park row + 1 (0 = none).
    design_storm_mm : float
        Depth of the design storm, mm.
    workers : int
        FFT threads of the baseline urban-cooling run.
    hydrology : Hydrology, optional
        The climate stage's soil-group raster (per-cell curve numbers where known), flow accumulation
        (run-on caught by storage) and run-on per park; None or unknown cells: as without them.
    """

    def __init__(
        self, codes: np.ndarray, grid: Grid, legend: Legend, guilds: Mapping[str, Guild],
        graphs: Mapping[str, GuildGraph], catalogue: Catalogue, climate: ClimateParams, park_index: np.ndarray,
        design_storm_mm: float, *, workers: int = 1, hydrology: Hydrology | None = None,
    ) -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).copy()
        self.grid = grid
        self.H, self.W = self.codes.shape
        self.res_m = grid.res_m
        self.cell_m2 = grid.cell_area_m2
        self.legend = legend
        self.guilds = dict(guilds)
        self.graphs = dict(graphs)
        self.catalogue = catalogue
        self.p = climate
        self.park_index = park_index
        self.n_parks = int(park_index.max(initial=0))
        self.storm_mm = float(design_storm_mm)
        self.workers = workers
        self.hydrology = hydrology
        self.soil: np.ndarray | None = None  # per-cell soil group 1..4 where a soil raster is known
        if hydrology is not None and hydrology.has_soil:
            sg = hydrology.soil_group.ravel()  # type: ignore[union-attr]
            self.soil = np.where(sg > 0, sg, "ABCD".index(climate.soil_group) + 1).astype(np.uint8)
        self.routed = hydrology is not None and hydrology.has_elevation
        self._guild_tables()
        self._variant_codes(BiophysicalTable.from_legend(legend))
        self.valid = self.codes != 0
        self._climate_baseline()
        self._water_baseline()
        self.n_evals = 0
        #: threads on which the guilds' graph evaluations of one candidate run (:meth:`use_guild_threads`)
        self.guild_threads = 1
        #: seconds each guild's graph evaluations have taken on guild threads (:meth:`map_guilds`' order)
        self._guild_seconds: dict[str, float] = {}

    def use_guild_threads(self, n: int) -> None:
        """Evaluate the guilds' graphs of a candidate on up to ``n`` threads (1 = one after the other).

        The graphs borrow their search work arrays from one pool (a set per running search, see
        :class:`~werkland.interventions.search.SearcherPool`). The guilds' evaluations are
        independent, so the gains are the same as one after the other.
        """
        self.guild_threads = max(1, int(n))

    # -- baseline ------------------------------------------------------------------------------
    def _guild_tables(self) -> None:
        """Per guild: suitability and resistance lookup tables and the edge-band multiplier raster."""
        legend = self.legend
        self.suit_lut: dict[str, np.ndarray] = {}
        self.res_lut: dict[str, np.ndarray] = {}
        self.edge_mult: dict[str, np.ndarray] = {}
        bands: dict[tuple[frozenset[str], float, bool], np.ndarray | None] = {}  # guilds with one band share it
        for gname, g in self.guilds.items():
            self.suit_lut[gname] = legend.lut(g.suitability, 0.0, where=f"guilds.{gname}.suitability").astype(np.float32)
            self.res_lut[gname] = legend.lut(g.resistance, g.default_resistance, where=f"guilds.{gname}.resistance").astype(np.float32).astype(np.float64)
            em = np.ones(self.codes.shape, np.float32)
            key = (frozenset(g.edge_classes), float(g.edge_band_m), g.edge_factor < 1)
            if key not in bands:
                bands[key] = edge_band(self.codes, legend, g, self.res_m)
            if bands[key] is not None:
                em[bands[key]] = np.float32(g.edge_factor)
            self.edge_mult[gname] = em

    def _variant_codes(self, base: BiophysicalTable) -> None:
        """The code each type writes (``type_code``) and the biophysical table ``bio``.

        A type that overrides biophysical values or sets a numeric suitability/resistance gets a
        virtual code (a free code from 255 down): the class's values with the type's overrides, in
        ``bio`` and in the guild lookup tables.
        """
        legend, catalogue = self.legend, self.catalogue
        used = set(base.names)
        free = [c for c in range(255, 0, -1) if c not in used]
        names = dict(base.names)
        arrays = {k: getattr(base, k).copy() for k in ("shade", "albedo", "kc", "green_area", "storage_mm", "sealed")}
        cn = base.cn.copy()
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

    def _climate_baseline(self) -> None:
        """HM, green cells, cool spots and served workplaces of the baseline land cover."""
        cool = urban_cooling(self.codes, self.bio, self.res_m, self.p, workers=self.workers)
        self.hm = cool.hm
        legend = self.legend
        bcode = legend.code(self.p.building_class) if self.p.building_class in legend.names else None
        self.workplace = (self.codes == bcode) & (self.park_index > 0) if bcode is not None else np.zeros(self.codes.shape, bool)
        self._refresh_cool(cool.green)
        self.margin_hm = int(math.ceil(5 * self.p.cooling_distance_m / self.res_m)) + 1
        self.margin_cs = int(math.ceil(self.p.cool_spot_distance_m / self.res_m)) + 1

    def _water_baseline(self) -> None:
        """Design-storm runoff and explicit storage per park, m³ (with routing: run-on and mean depths)."""
        q = self._q(self.codes.ravel())
        st = np.nan_to_num(self.bio.storage_mm, nan=0.0)[self.codes.ravel()]
        pi = self.park_index.ravel()
        self.park_runoff_m3 = np.bincount(pi, weights=np.nan_to_num(q) * self.cell_m2 / 1000, minlength=self.n_parks + 1)[1:]
        self.park_storage_m3 = np.bincount(pi, weights=st * self.cell_m2 / 1000, minlength=self.n_parks + 1)[1:]
        # run-on from outside each park (routed; 0 without an elevation model): storage may catch it too
        self.park_runon_m3 = np.zeros(self.n_parks)
        if self.routed:
            assert self.hydrology is not None
            self.park_runon_m3 = np.array([self.hydrology.runon_of(k) for k in range(self.n_parks)], np.float64)
            # mean effective runoff depth (after storage) per park; index 0 = the region outside parks
            q_eff = np.maximum(np.nan_to_num(q) - st, 0.0)
            valid = np.isfinite(q)
            n = np.bincount(pi, weights=valid, minlength=self.n_parks + 1)
            tot = np.bincount(pi, weights=q_eff, minlength=self.n_parks + 1)
            region_mean = float(q_eff[valid].mean()) if valid.any() else 0.0
            self.park_q_mm = np.where(n > 0, tot / np.maximum(n, 1), region_mean)
            self.park_q_mm[0] = region_mean

    def inflow_m3(self, cells: np.ndarray, q_new: np.ndarray, park: int) -> float:
        """Design-storm water arriving at a footprint, m³ (``inf`` without routing).

        The footprint's upslope area is the largest flow accumulation over its cells (exact when it
        drains to one outlet cell, as a low point does) less its own cells; the run-on from there
        is that area times the mean runoff depth of the park (``park_q_mm``, the region's outside
        parks), plus the runoff ``q_new`` (mm) of the footprint cells themselves.
        """
        if not self.routed or cells.size == 0:
            return math.inf
        acc = self.hydrology.flow_acc_m2.ravel()[cells]  # type: ignore[union-attr]
        own_m2 = cells.size * self.cell_m2
        up_m2 = max(float(np.nanmax(acc)) - own_m2, 0.0) if np.isfinite(acc).any() else 0.0
        depth = float(self.park_q_mm[park + 1]) if park >= 0 else float(self.park_q_mm[0])
        return up_m2 * depth / 1000 + float(np.nansum(q_new)) * self.cell_m2 / 1000

    # -- climate helpers -----------------------------------------------------------------------
    def _q(self, codes_flat: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """Curve-number runoff (mm, no storage) of ``codes_flat`` on ``cells`` (None = every cell)."""
        c = np.asarray(codes_flat, np.uint8).reshape(1, -1)
        if c.size == 0:
            return np.zeros(0)
        soil: str | np.ndarray = self.p.soil_group
        if self.soil is not None:
            soil = (self.soil if cells is None else self.soil[cells]).reshape(1, -1)
        return runoff_mm(c, self.bio, self.storm_mm, soil, self.p.lambda_, storage=False).ravel()

    def _refresh_cool(self, green: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            self.cs_mask = green & (np.nan_to_num(self.hm, nan=-np.inf) >= self.p.cool_spot_hm)
        self.cs_lab, n = ndimage.label(self.cs_mask, structure=np.ones((3, 3), bool))
        sizes = np.bincount(self.cs_lab.ravel()) * self.cell_m2
        keep = sizes >= self.p.cool_spot_min_area_m2 - 1e-9
        keep[0] = False
        self.cool = keep[self.cs_lab]
        self.cs_obj = list(ndimage.find_objects(self.cs_lab))
        self.green = np.array(green, dtype=bool, copy=True)  # owned: commits update it in place
        self.served = self._served(self.cool, (0, self.H, 0, self.W))

    def _served(self, cool: np.ndarray, win: Box) -> np.ndarray:
        r0, r1, c0, c1 = win
        if not cool.any():
            return np.zeros((r1 - r0, c1 - c0), bool)
        d = ndimage.distance_transform_edt(~cool, sampling=self.res_m)
        return self.workplace[r0:r1, c0:c1] & (d <= self.p.cool_spot_distance_m)

    def _clip(self, r0: int, r1: int, c0: int, c1: int) -> Box:
        return max(0, r0), min(self.H, r1), max(0, c0), min(self.W, c1)

    # -- the candidate's new values ------------------------------------------------------------
    def new_codes(self, typ: InterventionType, cells: np.ndarray) -> np.ndarray:
        """New land-cover codes of the footprint cells (the type's class, or the current codes)."""
        code = self.type_code[typ.name]
        return self.codes.ravel()[cells].copy() if code is None else np.full(cells.size, code, np.uint8)

    def new_guild_values(self, typ: InterventionType, cells: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per guild the new (suitability, resistance) of the footprint cells.

        They depend on the type and the graphs' current values only: the land-cover codes are not read
        (a type with a class takes that class's table values), so a caller may change the codes alongside.
        """
        code = self.type_code[typ.name]
        class_codes = None if code is None else np.full(cells.size, code, np.uint8)
        per_guild: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for gname, gg in self.graphs.items():
            cur_s = gg.suit.ravel()[cells]
            cur_r = gg.res.ravel()[cells].astype(np.float64)
            em = self.edge_mult[gname].ravel()[cells]
            sv = typ.suitability.get(gname)
            rv: Any = typ.resistance.get(gname)
            if sv == UNCHANGED or (class_codes is None and sv is None):
                s = cur_s.copy()
            elif class_codes is None:
                s = np.float32(sv) * em
            else:
                s = self.suit_lut[gname][class_codes] * em
            if rv == UNCHANGED or (class_codes is None and rv is None):
                r = cur_r.copy()
            elif class_codes is None:
                r = np.full(cells.size, float(np.float32(rv)) if math.isfinite(rv) else math.inf)
            else:
                r = self.res_lut[gname][class_codes]
            s = np.where(self.valid.ravel()[cells], s, cur_s).astype(np.float32)
            r = np.where(self.valid.ravel()[cells], r, cur_r)
            per_guild[gname] = (s, r)
        return per_guild

    def new_values(
        self, typ: InterventionType, cells: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """New codes and per-guild (suitability, resistance) of the footprint cells."""
        return self.new_codes(typ, cells), self.new_guild_values(typ, cells)

    def map_guilds(self, fn: Callable[[str], T]) -> list[T]:
        """``fn`` of every guild name, the results in guild order: on up to :attr:`guild_threads`
        threads, the guild whose evaluations have taken longest so far started first.

        The guild graphs are independent (their searches borrow work arrays from one pool), so the
        results are those of calling ``fn`` one guild after the other.
        """
        names = list(self.graphs)
        if self.guild_threads > 1 and len(names) > 1:
            # longest first, so the long-reach guild does not start last on a thread while the other
            # stands idle
            order = self._longest_first()
            pool = shared_threads("guilds", min(self.guild_threads, len(names)))  # not the searches' threads
            done = dict(zip(order, pool.map(functools.partial(self._timed, fn), order), strict=True))
            return [done[g] for g in names]
        return [fn(g) for g in names]

    def _longest_first(self) -> list[str]:
        """The guilds, the one whose evaluations have taken the most seconds so far first (ties in
        guild order)."""
        names = list(self.graphs)
        return sorted(names, key=lambda g: (-self._guild_seconds.get(g, 0.0), names.index(g)))

    def _timed(self, fn: Callable[[str], T], gname: str) -> T:
        """``fn(gname)``, its seconds added to the guild's (:meth:`_longest_first`)."""
        t0 = time.perf_counter()
        try:
            return fn(gname)
        finally:
            self._guild_seconds[gname] = self._guild_seconds.get(gname, 0.0) + time.perf_counter() - t0

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, cand: Candidate, *, commit: bool = False, prev: Gains | None = None,
                 graphs: bool = True) -> Gains:
        """Marginal gains of ``cand`` against the current state; ``commit`` applies it.

        ``prev`` (an earlier evaluation of the same candidate) lets each guild graph reuse its link
        searches when no commit since then came within their reach (see :meth:`GuildGraph.evaluate`).
        ``graphs=False`` leaves the guild graphs out (their gains 0, their state untouched): the heat
        and water part alone, for a caller that updates the graphs itself (:func:`batched_joint_total`).
        """
        self.n_evals += 1
        ch = self._prepare(cand, graphs=graphs)
        if ch.cells.size == 0:
            return ch.gains
        if graphs:

            def bio(gname: str) -> BioDelta:
                return self._bio(gname, ch, prev, commit=commit)

            if self.guild_threads > 1:
                # the heat part reads only the evaluator's own rasters, which no guild graph writes: on
                # a thread of its own while the guilds run (their serial parts leave a core idle)
                heat_job = shared_threads("heat", 1).submit(self._heat_part, ch.cells, ch.old_codes, ch.new_codes)
                deltas = dict(zip(self.graphs, self.map_guilds(bio), strict=True))
                heat = heat_job.result()
            else:
                deltas = dict(zip(self.graphs, self.map_guilds(bio), strict=True))
                heat = self._heat_part(ch.cells, ch.old_codes, ch.new_codes)
        else:
            deltas = {g: BioDelta() for g in self.graphs}
            heat = self._heat_part(ch.cells, ch.old_codes, ch.new_codes)
        self._finish(ch, deltas, heat, commit=commit)
        return ch.gains

    def evaluate_many(self, cands: Sequence[Candidate], prevs: Sequence[Gains | None]) -> list[Gains]:
        """Marginal gains of each of ``cands`` against the current state, nothing committed.

        The same gains as ``[evaluate(c, prev=p) for c, p in zip(cands, prevs)]``. On guild threads
        (:meth:`use_guild_threads`) each guild graph goes through the candidates in their order, all
        guilds at once:

        * the guild whose evaluations have taken longest so far (the critical path: woodland birds'
          at 4.1 M cells, 47 of the 47.3 s) on the calling thread, its searches on the search
          threads, at the process's priority;
        * the other guilds on up to :attr:`guild_threads` threads and the heat parts on a thread of
          their own, all of them and their searches at the lowest priority
          (:func:`~werkland.forking.background_thread`): they use the cores the critical guild
          leaves idle instead of taking turns with it.

        Each guild graph and the heat part see the same calls in the same order as one candidate
        after the other.

        Parameters
        ----------
        cands : sequence of Candidate
        prevs : sequence of Gains or None
            An earlier evaluation of each candidate (``evaluate``'s ``prev``), or None.

        Returns
        -------
        list of Gains
            In the order of ``cands``.
        """
        if len(cands) != len(prevs):
            raise ValueError(f"{len(cands)} candidates but {len(prevs)} earlier evaluations")
        if self.guild_threads <= 1 or len(cands) < 2:
            return [self.evaluate(c, prev=p) for c, p in zip(cands, prevs, strict=True)]
        self.n_evals += len(cands)
        changes = [self._prepare(c) for c in cands]
        work = [(ch, prev) for ch, prev in zip(changes, prevs, strict=True) if ch.cells.size]

        def heat_parts() -> list[tuple[Box, Box, float, float, Any]]:
            return [self._heat_part(ch.cells, ch.old_codes, ch.new_codes) for ch, _ in work]

        def guild_chain(gname: str) -> list[BioDelta]:
            return [self._bio(gname, ch, prev) for ch, prev in work]

        lead, *beside = self._longest_first()
        for g in beside:
            self.graphs[g].background = True
        try:
            heat_job = shared_threads("heat", 1, background=True).submit(heat_parts)
            beside_jobs = [shared_threads("guilds", min(self.guild_threads, max(1, len(beside))), background=True)
                           .submit(self._timed, guild_chain, g) for g in beside]
            chains = {lead: self._timed(guild_chain, lead)}
            chains.update((g, job.result()) for g, job in zip(beside, beside_jobs, strict=True))
            heats = heat_job.result()
        finally:
            for g in beside:
                self.graphs[g].background = False
        for n, (ch, _) in enumerate(work):
            self._finish(ch, {g: chains[g][n] for g in self.graphs}, heats[n], commit=False)
        return [ch.gains for ch in changes]

    def _bio(self, gname: str, ch: _Change, prev: Gains | None, *, commit: bool = False) -> BioDelta:
        """Guild ``gname``'s graph evaluation of the change, reusing the searches of ``prev`` (an
        earlier evaluation of the same change)."""
        s, r = ch.values[gname]
        return self.graphs[gname].evaluate(ch.cells, s, r, commit=commit,
                                           cache=None if prev is None else prev.bio_cache.get(gname))

    def _prepare(self, cand: Candidate, *, graphs: bool = True) -> _Change:
        """The change ``cand`` makes: its park set in the gains, the codes before and after and, with
        ``graphs``, the guilds' new values (a change without cells: every guild's gains zero)."""
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
            no_codes = np.zeros(0, self.codes.dtype)
            return _Change(gains, cells, no_codes, no_codes, {})
        new_codes = self.new_codes(typ, cells)
        old_codes = self.codes.ravel()[cells]
        return _Change(gains, cells, old_codes, new_codes, self.new_guild_values(typ, cells) if graphs else {})

    def _finish(self, ch: _Change, deltas: Mapping[str, BioDelta], heat: tuple[Box, Box, float, float, Any], *,
                commit: bool) -> None:
        """Fill the change's gains from the guilds' deltas and the heat part, add the water part;
        ``commit`` applies the land cover, water and cooling changes."""
        gains, cells, old_codes, new_codes = ch.gains, ch.cells, ch.old_codes, ch.new_codes
        for gname, d in deltas.items():
            if d.cache is not None:
                gains.bio_cache[gname] = d.cache
            gains.d_eca_ha[gname] = d.d_eca_ha
            gains.d_quality_ha[gname] = d.d_quality_ha
            gains.touched[gname] = d.touched
            gains.pc_delta[gname] = d.pc_delta
            gains.seeds[gname] = d.seeds
        # water: curve-number change on the footprint + explicit storage, pooled per park
        q_old, q_new = self._q(old_codes, cells), self._q(new_codes, cells)
        d_cn = float(np.nansum(q_old - q_new)) * self.cell_m2 / 1000
        sto = np.nan_to_num(self.bio.storage_mm, nan=0.0)
        d_sto = float(np.sum(sto[new_codes] - sto[old_codes])) * self.cell_m2 / 1000
        if gains.park >= 0:
            avail = max(0.0, self.park_runoff_m3[gains.park] + self.park_runon_m3[gains.park] - d_cn
                        - self.park_storage_m3[gains.park])
        else:
            avail = max(0.0, float(np.nansum(q_new)) * self.cell_m2 / 1000)
        inflow = self.inflow_m3(cells, q_new, gains.park)
        d_sto_eff = min(d_sto, avail, inflow) if d_sto > 0 else d_sto
        gains.d_retained_m3 = d_cn + d_sto_eff
        gains.d_cn_m3, gains.d_storage_m3, gains.d_inflow_m3 = d_cn, d_sto, inflow
        gains.window, gains.cs_window, gains.d_hm, gains.d_cool_access_m2, hm_commit = heat
        if commit:
            self.codes.ravel()[cells] = new_codes
            if gains.park >= 0:
                self.park_runoff_m3[gains.park] -= d_cn
                self.park_storage_m3[gains.park] += d_sto
            if hm_commit is not None:
                inner, hm_new, green_new, _ = hm_commit
                self._commit_cool(inner, hm_new, green_new)

    def _heat_part(self, cells: np.ndarray, old_codes: np.ndarray,
                   new_codes: np.ndarray) -> tuple[Box, Box, float, float, Any]:
        """The heat part of an evaluation, which reads only the evaluator's own rasters: the windows,
        ``d_hm`` (HM-weighted ha), ``d_cool_access_m2`` and what a commit writes (None when no cooling
        input changes)."""
        fr, fc = cells // self.W, cells % self.W
        mw = int(math.ceil(2 * self.p.cooling_distance_m / self.res_m))
        window = (int(fr.min()) - mw, int(fr.max()) + mw + 1, int(fc.min()) - mw, int(fc.max()) + mw + 1)
        mc = self.margin_hm + self.margin_cs
        cs_window = (int(fr.min()) - mc, int(fr.max()) + mc + 1, int(fc.min()) - mc, int(fc.max()) + mc + 1)
        # heat: urban cooling on a window footprint + 2 x 5 d_cool
        b = self.bio
        changed_bio = np.any(
            (b.shade[old_codes] != b.shade[new_codes]) | (b.albedo[old_codes] != b.albedo[new_codes])
            | (b.kc[old_codes] != b.kc[new_codes]) | (b.green_area[old_codes] != b.green_area[new_codes])
        )
        hm_commit = None
        d_hm, d_cool = 0.0, 0.0
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
            d_hm = float(np.nansum(hm_new - hm_old)) * self.cell_m2 / 1e4
            green_new = cool.green[sl_w]
            d_cool, cs_commit = self._cool_access(inner, hm_new, green_new)
            hm_commit = (inner, hm_new, green_new, cs_commit)
        return window, cs_window, d_hm, d_cool, hm_commit

    def _cool_window(
        self, inner: Box, hm_new: np.ndarray, green_new: np.ndarray,
    ) -> tuple[np.ndarray, Box, np.ndarray, Box] | None:
        """New cool-spot mask of ``inner`` and the window it can change, or None when it is unchanged.

        Returns ``(mask, inner dilated by one cell, ids of the old cool-spot components touching that,
        window = the dilated box plus every such component's box)``.
        """
        i0, i1, j0, j1 = inner
        with np.errstate(invalid="ignore"):
            m_new = green_new & (np.nan_to_num(hm_new, nan=-np.inf) >= self.p.cool_spot_hm)
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

    def _commit_cool(self, inner: Box, hm_new: np.ndarray, green_new: np.ndarray) -> None:
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
            cool_sub[comp] = comp.sum() * self.cell_m2 >= self.p.cool_spot_min_area_m2 - 1e-9
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
            avail = max(0.0, self.park_runoff_m3[g.park] + self.park_runon_m3[g.park] - g.d_cn_m3
                        - self.park_storage_m3[g.park])
            out.d_retained_m3 = g.d_cn_m3 + min(g.d_storage_m3, avail, g.d_inflow_m3)
        return out

    def _cool_access(self, inner: Box, hm_new: np.ndarray, green_new: np.ndarray) -> tuple[float, Any]:
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
        big = np.isin(lab2, new_ids[sizes[new_ids] >= self.p.cool_spot_min_area_m2 - 1e-9])
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
