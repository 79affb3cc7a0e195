"""State and helpers shared by the parts of :class:`~werkland.interventions.guild_graph.GuildGraph`.

:class:`GraphCore` declares the graph's state (rasters, node weights, links, pair distances, search
work arrays) and the helpers every part uses: the edge list, parallel bounded searches, the cells of a
patch and the p*-distance from a change to every node. The what-if steps live in
:mod:`~werkland.interventions.raster_change` (patches and link searches on the rasters) and
:mod:`~werkland.interventions.graph_update` (pair distances, PCnum and commits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from werkland._kernels.grid_search import DC, DR
from werkland.forking import shared_threads
from werkland.interventions.pair_distances import ComponentDistances, PairDistances
from werkland.interventions.search import Box, SearcherPool, Surface, SurfaceCache, union_box


def offsets8() -> np.ndarray:
    """3 x 3 structuring element of 8-connected labelling."""
    return np.ones((3, 3), dtype=bool)


class GraphCore:
    """State of a guild's patch graph and the helpers shared by its evaluation steps.

    Attributes
    ----------
    name : str
        Guild name.
    H, W : int
        Raster rows and columns.
    suit, res, labels : numpy.ndarray
        float32 suitability; resistance as float32 while every value is exactly a float32, else
        float64 (see :meth:`_hold_resistance`); int32 patch ids 1..n (0 = none).
    k, max_cost : float
        Kernel decay (1 / cost-weighted m) and link bound (cost-weighted m).
    threshold, min_area_m2, res_m, cell_ha : float
        Patch definition, cell size (m) and cell area (ha).
    a : numpy.ndarray
        Quality-weighted area of each node, ha (0 for removed nodes).
    alive : numpy.ndarray
        Nodes not merged away.
    adj : list of dict
        Links: node -> {node: cost-weighted m}.
    D : PairDistances or ComponentDistances
        All-pairs ``-ln p*``.
    pcnum, pcnum0, q0, cut : float
        Current and baseline PCnum (ha²), baseline quality area (ha), p* cut of the local updates.
    n_threads : int
        Threads for independent searches of one evaluation.
    background : bool
        Whether those searches run on background threads (:func:`~werkland.forking.background_thread`:
        set while the graph works beside a longer guild's, see :meth:`Evaluator.evaluate_many`).
    """

    name: str
    H: int
    W: int
    suit: np.ndarray
    res: np.ndarray
    labels: np.ndarray
    k: float
    max_cost: float
    threshold: float
    min_area_m2: float
    res_m: float
    cell_ha: float
    a: np.ndarray
    alive: np.ndarray
    adj: list[dict[int, float]]
    D: PairDistances | ComponentDistances
    pcnum: float
    pcnum0: float
    q0: float
    cut: float
    n_threads: int
    background: bool
    n_full_rebuilds: int
    #: search work arrays, lent one set per search (shared by the graphs of every guild)
    _pool: SearcherPool
    #: box of every cell whose resistance or label could change a search of the current change
    #: (reset by the change, grown by :meth:`_searches`)
    _reach: Box | None
    #: patches' cost surfaces in the current state, for re-searches after resistance falls (shared
    #: with the graphs of the other guilds of the grid)
    _surfaces: SurfaceCache
    #: per commit: (box of cells whose resistance, suitability or label changed, nodes removed,
    #: whether graph distances may have risen)
    _log: list[tuple[Box, frozenset[int], bool]]
    _bbox_cache: list[Any]
    _bbox_cache_n: int

    # -- helpers -------------------------------------------------------------------------------
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

    def _searches(
        self, res_f: np.ndarray, lab_f: np.ndarray, jobs: list[tuple[np.ndarray, float, int]], max_label: int,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Run independent bounded searches ``(source cells, bound, source label)``, on threads if set.

        The compiled kernel releases the GIL; each search borrows work arrays from the pool. Results
        are in job order and each search's box is added to :attr:`_reach` here, in job order, so the
        outcome does not depend on the number of threads.
        """

        def one(job: tuple[np.ndarray, float, int]) -> tuple[np.ndarray, np.ndarray, Box | None]:
            return self._pool.search(res_f, lab_f, job[0], job[1], job[2], max_label)

        out = []
        for labs, costs, box in self._map(one, jobs):
            self._reach = union_box(self._reach, box)
            out.append((labs, costs))
        return out

    def _searches_after(
        self, res_f: np.ndarray, lab_f: np.ndarray, jobs: list[tuple[int, float]], max_label: int, cells: np.ndarray,
        old_res: np.ndarray,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`_searches` from existing patches ``(node, bound)`` while ``res_f`` holds a change that
        only lowered resistance at ``cells`` (``old_res`` before it): the same results, from each
        patch's surface in the current state (kept in :attr:`_surfaces`; missing ones are searched
        on ``old_res`` up to :attr:`max_cost`) and a search from the changed cells only.
        """
        starts = {p: self._cells_of(p) for p, _ in jobs}
        surf: dict[int, Surface | None] = {p: self._surfaces.get(self.name, p) for p, _ in jobs}
        missing = [p for p, sf in surf.items() if sf is None]
        if missing:
            new_res = res_f[cells].copy()
            res_f[cells] = old_res
            try:
                made = self._map(lambda p: self._pool.surface(res_f, starts[p], self.max_cost), missing)
            finally:
                res_f[cells] = new_res
            for p, sf in zip(missing, made, strict=True):
                self._surfaces.put(self.name, p, sf)
                surf[p] = sf
        seeds = self._with_neighbours(cells)

        def one(job: tuple[int, float]) -> tuple[np.ndarray, np.ndarray, Box | None]:
            p, bound = job
            sf = surf[p]
            assert sf is not None
            return self._pool.search_after(res_f, lab_f, sf, starts[p], seeds, bound, p + 1, max_label)

        out = []
        for labs, costs, box in self._map(one, jobs):
            self._reach = union_box(self._reach, box)
            out.append((labs, costs))
        return out

    def _with_neighbours(self, cells: np.ndarray) -> np.ndarray:
        """Flat ``cells`` and their 8 neighbours (within the raster), sorted and unique."""
        r, c = cells // self.W, cells % self.W
        rr = np.clip(r[:, None] + np.r_[0, DR][None, :], 0, self.H - 1)
        cc = np.clip(c[:, None] + np.r_[0, DC][None, :], 0, self.W - 1)
        return np.unique(rr * self.W + cc)

    def _surfaces_after_commit(self, cells: np.ndarray, lowered: bool, removed: set[int]) -> None:
        """Keep :attr:`_surfaces` true to the state after a commit that set the resistance of ``cells``
        (``lowered``: no cell's resistance rose) and removed the nodes ``removed``: the removed nodes'
        surfaces are dropped, those the cells meet are brought up to date (``lowered``) or dropped."""
        self._surfaces.drop(self.name, removed)
        if cells.size == 0:
            return
        r, c = cells // self.W, cells % self.W
        box = (int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1)
        if not lowered:
            self._surfaces.invalidate(self.name, box)
            return
        hit = self._surfaces.meeting(self.name, box)
        if not hit:
            return
        self._ensure_bbox()
        seeds = self._with_neighbours(cells)
        res_f = self.res.ravel()
        new = self._map(lambda ns: self._pool.lowered(res_f, ns[1], self._cells_of(ns[0]), seeds), hit)
        for (node, _), sf in zip(hit, new, strict=True):
            self._surfaces.put(self.name, node, sf)

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        """``fn`` over ``items`` in order, on :attr:`n_threads` threads when there are several."""
        if self.n_threads <= 1 or len(items) < 2:
            return [fn(x) for x in items]
        # the process's search threads, shared by the guild graphs (each task one search: none waits
        # on another), instead of a pool started and joined per call
        return list(shared_threads("searches", self.n_threads, background=self.background).map(fn, items))

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

    def _hold_resistance(self, values: np.ndarray) -> None:
        """Widen :attr:`res` to float64 for good if ``values`` (about to be written) are not all float32.

        So a float32 resistance never rounds a value: the costs stay those of the float64 raster.
        """
        if self.res.dtype == np.float32:
            v = np.asarray(values, dtype=np.float64)
            if not np.array_equal(v.astype(np.float32), v):
                self.res = self.res.astype(np.float64)

    def _ensure_bbox(self) -> None:
        if getattr(self, "_bbox_cache_n", -1) != self.n:
            self._bbox_cache = ndimage.find_objects(self.labels, max_label=self.n)
            self._bbox_cache_n = self.n

    def _extend_bbox(self, n_old: int, new_patches: list[np.ndarray]) -> None:
        """Keep the bounding-box cache valid after a commit: append the boxes of the new patches.

        A commit only removes patches (their labels become 0) and adds new ones with the next labels,
        so the boxes of the others stay exact; a removed patch keeps its old box, in which
        :meth:`_cells_of` finds no cell of it (as with no box). Otherwise the cache is rebuilt on use.
        """
        if getattr(self, "_bbox_cache_n", -1) != n_old:
            self._bbox_cache_n = -1
            return
        for cells_p in new_patches:
            r, c = cells_p // self.W, cells_p % self.W
            self._bbox_cache.append((slice(int(r.min()), int(r.max()) + 1), slice(int(c.min()), int(c.max()) + 1)))
        self._bbox_cache_n = n_old + len(new_patches)

    def _cells_of(self, p: int) -> np.ndarray:
        """Flat cells of patch node ``p`` (bounding boxes cached; call :meth:`_ensure_bbox` first)."""
        sl = self._bbox_cache[p]
        if sl is None:
            return np.zeros(0, np.int64)
        sub = self.labels[sl]
        loc = np.flatnonzero(sub == p + 1)
        w = sl[1].stop - sl[1].start
        return ((loc // w + sl[0].start) * self.W + (loc % w + sl[1].start)).astype(np.int64)
