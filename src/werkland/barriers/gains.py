"""Network gain of a mitigated barrier segment: exact link-cost changes, then ECA / PC what-if.

The segment's footprint takes the fauna-passage resistance and the affected link costs are
recomputed exactly on the modified raster -- either from the affected patches or from the footprint
cells, whichever needs fewer bounded searches -- then ECA and PC are updated with
:func:`werkland.connectivity.eca_after_link_change` on the baseline :class:`GraphState`.
"""

from __future__ import annotations

import math
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from werkland._errors import WerklandInputError
from werkland._kernels.grid_search import (
    collect_targets,
    cost_search,
    min_step_cost,
    pair_costs_search,
    search_resistance,
    step_lengths,
)
from werkland.connectivity import (
    GraphState,
    LinkChangeResult,
    SearchWorkspace,
    eca_after_link_change,
    patch_cells,
)

Pair = tuple[int, int]

_METHODS = ("auto", "patches", "footprint")


class GainRaster:
    """What the mitigation gains on one resistance and patch raster share, made once for all of them.

    :func:`mitigation_gain` otherwise prepares these for every segment: the patch ids as flat int64,
    each patch's cells, the kernels' resistance (:func:`~werkland._kernels.grid_search.search_resistance`)
    and the search work arrays -- about 0.08 s per gain at 4.1 M cells, against a gain's 0.2-0.5 s.
    With a ``GainRaster`` a gain sets its footprint's cells of the shared float32 resistance to the
    passage resistance and restores them afterwards (the same values the kernels read from a fresh
    copy of the changed raster), and takes back the work arrays, which every search leaves reset.
    A forked worker inherits it; one gain at a time may use it.

    Parameters
    ----------
    res : numpy.ndarray
        Resistance from :func:`werkland.connectivity.prepare_resistance` (the baseline; not kept).
    labels : numpy.ndarray
        Patch-id raster of the same shape (ids 1..n).
    n : int
        Number of patches (nodes of the gains' :class:`GraphState`).
    """

    def __init__(self, res: np.ndarray, labels: np.ndarray, n: int) -> None:
        if res.shape != labels.shape:
            raise ValueError(f"resistance {res.shape} and labels {labels.shape} differ in shape")
        #: the arrays it was made from (a gain on other arrays is refused)
        self.sources = (res, labels)
        self.shape = res.shape
        self.n = int(n)
        self.res_flat = search_resistance(res)
        self.lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
        self._cells: tuple[np.ndarray, np.ndarray] | None = None
        self._spare: list[SearchWorkspace] = []

    def patch_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~werkland.connectivity.patch_cells` of the labels (made on first use)."""
        if self._cells is None:
            self._cells = patch_cells(self.lab_flat, self.n)
        return self._cells

    def workspaces(self, k: int) -> queue.Queue[Any]:
        """A pool of ``k`` search work arrays, the ones of earlier gains first."""
        pool: queue.Queue[Any] = queue.Queue()
        H, W = self.shape
        while len(self._spare) < k:
            self._spare.append(SearchWorkspace(H * W, self.n, False, predecessors=False))
        for ws in self._spare[:k]:
            pool.put(ws)
        return pool


class _Searcher:
    """Bounded searches on a raster from per-thread workspaces.

    ``res_flat`` is :func:`~werkland._kernels.grid_search.search_resistance` of the raster with the
    footprint at the passage resistance (a float32 copy when every value is a float32: the same
    costs); the searcher is used before the footprint is restored.
    """

    def __init__(self, res_flat: np.ndarray, lab_flat: np.ndarray, shape: tuple[int, int], res_m: float,
                 max_cost: float, in_affected: np.ndarray, pool: queue.Queue[Any]) -> None:
        self.shape = shape
        self.res_flat = res_flat
        self.lab_flat = lab_flat
        self.lens = step_lengths(res_m)
        self.min_step = min_step_cost(self.res_flat, self.lens)
        self.max_cost = float(max_cost)
        self.in_affected = in_affected
        self.pool = pool

    def search(self, starts: np.ndarray, src: int) -> tuple[np.ndarray, np.ndarray]:
        """Affected patches reached from ``starts`` (excluding patch ``src``) and their costs."""
        H, W = self.shape
        ws = self.pool.get()
        try:
            # costs only (minimum per patch): the bucket queue, the heap's costs
            n_t, ws.touched, _ = cost_search(
                self.res_flat, H, W, self.lens, starts, np.zeros(starts.size), self.max_cost, ws.cum, ws.touched,
                ws.cum, 0.0, False, self.min_step
            )
            found, costs, _ = collect_targets(ws.cum, self.lab_flat, ws.touched, n_t, src, self.max_cost,
                                              ws.best_cost, ws.best_cell)
            ws.cum[ws.touched[:n_t]] = np.inf  # reset in O(touched); no predecessors were written
        finally:
            self.pool.put(ws)
        keep = self.in_affected[found]
        return found[keep], costs[keep]

    def search_pairs(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Affected patches reached from ``starts`` and their costs, for pairs only.

        The search stops at ``max_cost - c1`` (``c1`` = the cost of the nearest affected patch), or
        up to one bucket of its queue further (:func:`~werkland._kernels.grid_search.pair_costs_search`):
        every pair with ``c_p + c_q <= max_cost`` is returned with the costs of :meth:`search`; the
        patches beyond, which can pair with none, are mostly left out.
        """
        H, W = self.shape
        ws = self.pool.get()
        try:
            n_t, ws.touched, bound = pair_costs_search(
                self.res_flat, H, W, self.lens, starts, self.max_cost, self.lab_flat, self.in_affected, ws.cum,
                ws.touched, self.min_step,
            )
            found, costs, _ = collect_targets(ws.cum, self.lab_flat, ws.touched, n_t, -1, bound, ws.best_cost,
                                              ws.best_cell)
            ws.cum[ws.touched[:n_t]] = np.inf  # reset in O(touched); no predecessors were written
        finally:
            self.pool.put(ws)
        keep = self.in_affected[found]
        return found[keep], costs[keep]


def _costs_from_patches(searcher: _Searcher, ex: ThreadPoolExecutor, affected: np.ndarray, cells: np.ndarray,
                        ptr: np.ndarray) -> dict[Pair, float]:
    """New least costs between affected patches: one search from each but the last."""
    new: dict[Pair, float] = {}
    jobs = list(affected[:-1])
    outs = list(ex.map(lambda p: searcher.search(cells[ptr[p - 1] : ptr[p]], int(p)), jobs))
    for p, (found, costs) in zip(jobs, outs, strict=True):
        for q, c in zip(found, costs, strict=True):
            if q > p:
                key = (int(p), int(q))
                new[key] = min(new.get(key, math.inf), float(c))
    return new


def _costs_from_footprint(searcher: _Searcher, ex: ThreadPoolExecutor, footprint: np.ndarray) -> dict[Pair, float]:
    """New least costs through the footprint: ``min_x d'(x, p) + d'(x, q)`` over its cells.

    The pairs of each cell's search within ``max_cost`` are taken as arrays (``p < q``: the found
    patches are sorted); each pair keeps its least cost, and the pairs are listed in the order the
    cells and their pairs first give them (cell by cell, then ``p``, then ``q``).
    """
    keys: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    for found, costs in ex.map(lambda x: searcher.search_pairs(np.array([x], np.int64)), footprint):
        if found.size < 2:
            continue
        a, b = np.triu_indices(found.size, 1)  # row by row: the order of a double loop over a < b
        c = costs[a] + costs[b]
        ok = c <= searcher.max_cost
        keys.append((found[a[ok]].astype(np.int64) << 32) | found[b[ok]].astype(np.int64))
        sums.append(c[ok])
    if not keys:
        return {}
    key = np.concatenate(keys)
    cost = np.concatenate(sums)
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    least = np.full(uniq.size, np.inf)
    np.minimum.at(least, inv, cost)
    order = np.argsort(first, kind="stable")
    return {(int(k >> 32), int(k & 0xFFFFFFFF)): float(v) for k, v in zip(uniq[order], least[order], strict=True)}


def _link_decreases(state: GraphState, new: dict[Pair, float]) -> list[tuple[int, int, float]]:
    """(i, j, cost) of the re-searched pairs (0-based) whose cost fell below the current link's."""
    if not new:
        return []
    # current cost of each re-searched pair (inf = no link), from the state's sorted link index
    pairs = np.array(list(new), np.int64) - 1
    rows = state.link_rows(pairs[:, 0], pairs[:, 1])
    cur = np.where(rows >= 0, state.cost[np.maximum(rows, 0)], np.inf)
    return [(int(a), int(b), float(c)) for a, b, c, o in zip(pairs[:, 0], pairs[:, 1], new.values(), cur, strict=True)
            if c < o]


def mitigation_gain(
    res: np.ndarray,
    labels: np.ndarray,
    footprint: np.ndarray,
    affected: np.ndarray,
    state: GraphState,
    *,
    res_m: float,
    max_cost: float,
    passage_resistance: float,
    n_threads: int = 2,
    method: str = "auto",
    pc_tolerance: float = 0.0,
    shared: GainRaster | None = None,
) -> LinkChangeResult:
    """ECA / PC after setting a footprint to the fauna-passage resistance (exact, incremental).

    Parameters
    ----------
    res : numpy.ndarray
        Resistance from :func:`werkland.connectivity.prepare_resistance`; it may be modified in place
        during the call (the footprint, when the search resistance cannot take it) and is restored
        before the call returns.
    labels : numpy.ndarray
        Patch-id raster (ids 1..n, node ``i`` of ``state`` is patch ``i + 1``).
    footprint : numpy.ndarray
        Flat indices of the cells that change.
    affected : numpy.ndarray
        Patch ids whose bounded search reaches the footprint or its neighbours (only pairs of
        these can change; :func:`werkland.barriers.run_barriers` derives them from the searches).
        Pass all patch ids when unknown.
    state : werkland.connectivity.GraphState
        Baseline graph (node weights, links, APSP).
    res_m, max_cost : float
        Pixel size (m) and link bound (cost-weighted m).
    passage_resistance : float
        Resistance of the footprint after mitigation.
    n_threads : int
        Worker threads for the bounded searches.
    method : {"auto", "patches", "footprint"}
        Recompute from the affected patches (one search each but the last) or from each footprint
        cell (``d'(p, q) = min(d, min_x d'(x, p) + d'(x, q))``); ``auto`` picks the fewer searches.
    pc_tolerance : float
        Passed to :func:`werkland.connectivity.eca_after_link_change` (0 = exact).
    shared : GainRaster, optional
        The labels, resistance and work arrays prepared once for every gain on ``res`` and
        ``labels`` (None: prepared here); the result is the same.

    Returns
    -------
    werkland.connectivity.LinkChangeResult

    Raises
    ------
    WerklandInputError
        An unknown ``method``.
    """
    if method not in _METHODS:
        raise WerklandInputError(f"unknown mitigation_gain method {method!r}", path="mitigation_gain(method)",
                                 fix=f"use one of {list(_METHODS)}")
    res_flat = res.reshape(-1)
    footprint = np.unique(np.asarray(footprint, np.int64))
    A = np.unique(np.asarray(affected, np.int64))
    if A.size < 2 or footprint.size == 0:
        return eca_after_link_change(state, [])
    n = state.areas_ha.size
    in_a = np.zeros(n + 1, bool)
    in_a[A] = True
    if method == "auto":
        method = "footprint" if footprint.size < A.size - 1 else "patches"
    if shared is None:
        shared = GainRaster(res, labels, n)  # for this gain alone
    elif shared.sources[0] is not res or shared.sources[1] is not labels or shared.n != n:
        raise ValueError(f"the shared gain raster was made for other arrays or {shared.n} patches, not {n}")
    threads = max(1, n_threads)
    passage = float(passage_resistance)
    # the float32 search resistance takes the passage value in place when the changed raster is
    # exactly float32 as well (search_resistance of it would give that float32 copy); else a new copy
    in_place = shared.res_flat.dtype == np.float32 and float(np.float32(passage)) == passage
    changed = shared.res_flat if in_place else res_flat  # the raster the footprint is set in
    saved = changed[footprint].copy()
    try:
        changed[footprint] = passage
        searcher = _Searcher(shared.res_flat if in_place else search_resistance(res), shared.lab_flat,
                             shared.shape, res_m, max_cost, in_a, shared.workspaces(threads))
        with ThreadPoolExecutor(max_workers=threads) as ex:
            if method == "patches":
                cells, ptr = shared.patch_cells()
                new = _costs_from_patches(searcher, ex, A, cells, ptr)
            else:
                new = _costs_from_footprint(searcher, ex, footprint)
    finally:
        changed[footprint] = saved
    return eca_after_link_change(state, _link_decreases(state, new), pc_tolerance=pc_tolerance, with_state=False)
