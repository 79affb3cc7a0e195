"""Bounded least-cost searches from a set of cells to labelled regions (compiled, O(touched) reset).

A :class:`Searcher` holds the work arrays of one raster shape, so the thousands of small searches of a
candidate evaluation allocate nothing; a :class:`SearcherPool` lends them to the graphs of every
guild, at most as many as searches run at once. A :class:`SurfaceCache` keeps patches' cost
surfaces (:class:`Surface`) so that a search after a change that only lowers resistance starts from
them (:meth:`Searcher.targets_after`). Boxes are ``(r0, r1, c0, c1)``, end-exclusive; None = empty.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from werkland._kernels.grid_search import (
    cost_surface,
    label_search,
    min_step_cost,
    step_lengths,
    surface_lowered,
    surface_update,
)

Box = tuple[int, int, int, int]

#: Surfaces hold int32 cell indices: rasters of at least this many cells keep none.
SURFACE_MAX_CELLS = 2**31


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box ``(r0, r1, c0, c1)`` (end-exclusive) holding both (None = empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def boxes_meet(a: Box | None, b: Box | None) -> bool:
    """Whether two boxes share a cell (False when either is empty)."""
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


class Searcher:
    """Reusable work arrays for bounded searches over one raster shape.

    ``box`` is the box of every cell whose resistance or label could change the last search's result
    (its touched cells and their neighbours; None when it touched none).

    Parameters
    ----------
    shape : tuple of int
        Raster rows and columns.
    res_m : float
        Cell size, m.
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
        self.box: Box | None = None
        #: bucket width hint of the searches (smallest step cost); None = not yet read from a raster
        self.min_step: float | None = None

    def targets(
        self, res_flat: np.ndarray, labels_flat: np.ndarray, starts: np.ndarray, max_cost: float, src_label: int,
        max_label: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels reached from ``starts`` within ``max_cost`` and their least costs (cost-weighted m).

        Parameters
        ----------
        res_flat : numpy.ndarray
            Flat float64 resistance per metre (``inf`` impassable).
        labels_flat : numpy.ndarray
            Flat int labels (0 = none).
        starts : numpy.ndarray
            Flat indices of the source cells.
        max_cost : float
            Search bound, cost-weighted m.
        src_label : int
            Label skipped as a target (-1 = none).
        max_label : int
            Largest label present.
        """
        if self.best.size <= max_label:
            self.best = np.full(max(2 * self.best.size, max_label + 1), np.inf)
            self.best_cell = np.full(self.best.size, -1, np.int64)
        if self.min_step is None:
            self.min_step = min_step_cost(res_flat, self.lens)
        labs, costs, n_t, r0, r1, c0, c1, self.touched, fell_back = label_search(
            res_flat, self.H, self.W, self.lens, np.ascontiguousarray(starts, np.int64), float(max_cost),
            labels_flat, int(src_label), self.cum, self.touched, self.best, self.best_cell, self.min_step,
        )
        if fell_back:
            # a measure lowered the resistance below the raster's smallest value: read it again
            # (the result above is exact either way: the heap gives the same costs)
            self.min_step = min_step_cost(res_flat, self.lens)
        self.cells_settled += int(n_t)
        self.n_searches += 1
        # rows/cols whose resistance or labels can change the result: touched cells + 1
        self.box = (int(r0) - 1, int(r1) + 2, int(c0) - 1, int(c1) + 2) if n_t else None
        return labs, costs

    def surface(self, res_flat: np.ndarray, starts: np.ndarray, max_cost: float) -> Surface:
        """The cost surface of a source (cells ``starts``) up to ``max_cost``, for later
        :meth:`targets_after`."""
        if self.H * self.W >= SURFACE_MAX_CELLS:
            raise ValueError(f"a surface holds int32 cells: {self.H} x {self.W} cells are too many")
        if self.min_step is None:
            self.min_step = min_step_cost(res_flat, self.lens)
        idx, cost, r0, r1, c0, c1, self.touched = cost_surface(
            res_flat, self.H, self.W, self.lens, np.ascontiguousarray(starts, np.int64), float(max_cost), self.cum,
            self.touched, self.min_step)
        self.cells_settled += int(idx.size)
        self.n_searches += 1
        box = (int(r0) - 1, int(r1) + 2, int(c0) - 1, int(c1) + 2) if idx.size else None
        return Surface(idx, cost, float(max_cost), box)

    def lowered(self, res_flat: np.ndarray, surface: Surface, starts: np.ndarray, seeds: np.ndarray) -> Surface:
        """``surface`` after a change that only lowered resistance at some cells (``seeds``: they and
        their 8 neighbours; ``starts``: the source cells), as :meth:`surface` would give it now."""
        idx, cost, r0, r1, c0, c1, self.touched = surface_lowered(
            res_flat, self.H, self.W, self.lens, surface.idx, surface.cost, np.ascontiguousarray(starts, np.int64),
            np.ascontiguousarray(seeds, np.int64), surface.max_cost, self.cum, self.touched)
        self.n_searches += 1
        box = (int(r0) - 1, int(r1) + 2, int(c0) - 1, int(c1) + 2) if idx.size else None
        return Surface(idx, cost, surface.max_cost, box)

    def targets_after(
        self, res_flat: np.ndarray, labels_flat: np.ndarray, surface: Surface, starts: np.ndarray, seeds: np.ndarray,
        max_cost: float, src_label: int, max_label: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`targets` from ``starts`` after a change that only lowered resistance at some cells,
        from the source's ``surface`` before it (:func:`werkland._kernels.grid_search.surface_update`):
        the same labels and costs bit for bit, and a box that holds the full search's.

        Parameters
        ----------
        surface : Surface
            The source's surface before the change, bounded at ``max_cost`` or beyond.
        seeds : numpy.ndarray
            Flat indices of the changed cells and their 8 neighbours.
        res_flat, labels_flat, starts, max_cost, src_label, max_label
            As for :meth:`targets` (the resistance after the change).
        """
        if max_cost > surface.max_cost:
            raise ValueError(f"a surface bounded at {surface.max_cost} cannot answer a search to {max_cost}")
        if self.best.size <= max_label:
            self.best = np.full(max(2 * self.best.size, max_label + 1), np.inf)
            self.best_cell = np.full(self.best.size, -1, np.int64)
        labs, costs, r0, r1, c0, c1, self.touched = surface_update(
            res_flat, self.H, self.W, self.lens, surface.idx, surface.cost, np.ascontiguousarray(starts, np.int64),
            np.ascontiguousarray(seeds, np.int64), float(max_cost), labels_flat, int(src_label), self.cum,
            self.touched, self.best, self.best_cell,
        )
        self.n_searches += 1
        # the cells within the bound, their neighbours (which the full search writes) and one more
        self.box = (int(r0) - 2, int(r1) + 3, int(c0) - 2, int(c1) + 3) if r1 >= 0 else None
        return labs, costs


class SearcherPool:
    """Search work arrays (:class:`Searcher`, one H x W float64 array each) lent to the graphs of
    every guild of one grid, one search at a time.

    A set is made on first need, up to ``limit`` (the most searches that run at once: the threads
    of one evaluation, or the guilds' evaluations side by side, share them); a search beyond that
    waits for a set to come back. So the memory is ``limit`` sets whatever the number of guilds and
    threads (8 sets of 33 MB at 4 M cells before the pool: 2 threads x 4 guilds). Which set a
    search gets does not change its result (each is reset to ``inf`` after every search).

    A deep copy (an engine copied for a replay) is a new, empty pool of the same shape and limit.

    Parameters
    ----------
    shape, res_m : tuple of int, float
        Those of every set (see :class:`Searcher`).
    limit : int
        Most sets made.
    """

    def __init__(self, shape: tuple[int, int], res_m: float, limit: int) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.res_m = float(res_m)
        self.limit = max(1, int(limit))
        self._free: list[Searcher] = []
        self.n_made = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def take(self) -> Iterator[Searcher]:
        """A free set for one search (made if none is free and fewer than ``limit`` exist)."""
        with self._cond:
            while not self._free and self.n_made >= self.limit:
                self._cond.wait()
            if self._free:
                sr = self._free.pop()
            else:
                sr = Searcher(self.shape, self.res_m)
                self.n_made += 1
        try:
            yield sr
        finally:
            with self._cond:
                self._free.append(sr)
                self._cond.notify()

    def search(self, res_flat: np.ndarray, labels_flat: np.ndarray, starts: np.ndarray, max_cost: float,
               src_label: int, max_label: int) -> tuple[np.ndarray, np.ndarray, Box | None]:
        """:meth:`Searcher.targets` on a free set; also returns the search's box."""
        with self.take() as sr:
            labs, costs = sr.targets(res_flat, labels_flat, starts, max_cost, src_label, max_label)
            return labs, costs, sr.box

    def surface(self, res_flat: np.ndarray, starts: np.ndarray, max_cost: float) -> Surface:
        """:meth:`Searcher.surface` on a free set."""
        with self.take() as sr:
            return sr.surface(res_flat, starts, max_cost)

    def lowered(self, res_flat: np.ndarray, surface: Surface, starts: np.ndarray, seeds: np.ndarray) -> Surface:
        """:meth:`Searcher.lowered` on a free set."""
        with self.take() as sr:
            return sr.lowered(res_flat, surface, starts, seeds)

    def search_after(
        self, res_flat: np.ndarray, labels_flat: np.ndarray, surface: Surface, starts: np.ndarray, seeds: np.ndarray,
        max_cost: float, src_label: int, max_label: int,
    ) -> tuple[np.ndarray, np.ndarray, Box | None]:
        """:meth:`Searcher.targets_after` on a free set; also returns the search's box."""
        with self.take() as sr:
            labs, costs = sr.targets_after(res_flat, labels_flat, surface, starts, seeds, max_cost, src_label, max_label)
            return labs, costs, sr.box

    def __deepcopy__(self, memo: dict[int, Any]) -> SearcherPool:
        return SearcherPool(self.shape, self.res_m, self.limit)


@dataclass(frozen=True)
class Surface:
    """What a bounded search from one source wrote: flat cells (int32), their costs (cost-weighted m;
    final up to ``max_cost``, tentative above), the bound and the box of every cell whose
    resistance could change it (None = none)."""

    idx: np.ndarray
    cost: np.ndarray
    max_cost: float
    box: Box | None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays."""
        return int(self.idx.nbytes + self.cost.nbytes)


class SurfaceCache:
    """Cost surfaces of patches in their graphs' current state, least recently used dropped first.

    A what-if that only lowers resistance re-searches the patches whose links may fall; the first
    evaluation and the selection re-search the same patches for many nearby candidates. With a
    patch's surface before the change, :meth:`Searcher.targets_after` gives the same result from
    the changed cells alone. One cache serves the graphs of every guild of a grid (keys: the
    graph's name and the node), within one memory budget. A commit that only lowers resistance
    brings the surfaces of its graph that it meets up to date (:meth:`Searcher.lowered`); any other
    drops them (:meth:`invalidate`). A deep copy (an engine copied for a replay) starts empty. Safe
    to use from several threads.

    Parameters
    ----------
    max_bytes : int
        Most bytes of surfaces kept (0 = none kept).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[tuple[str, int], Surface] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, owner: str, node: int) -> Surface | None:
        """The surface of ``owner``'s ``node`` (marked as just used), or None."""
        with self._lock:
            sf = self._items.get((owner, node))
            if sf is None:
                self.misses += 1
                return None
            self._items.move_to_end((owner, node))
            self.hits += 1
            return sf

    def put(self, owner: str, node: int, surface: Surface) -> None:
        """Keep ``surface`` for ``owner``'s ``node``, dropping the least recently used beyond ``max_bytes``."""
        with self._lock:
            old = self._items.pop((owner, node), None)
            if old is not None:
                self.nbytes -= old.nbytes
            if surface.nbytes > self.max_bytes:
                return
            self._items[(owner, node)] = surface
            self.nbytes += surface.nbytes
            while self.nbytes > self.max_bytes:
                _, gone = self._items.popitem(last=False)
                self.nbytes -= gone.nbytes

    def meeting(self, owner: str, box: Box | None) -> list[tuple[int, Surface]]:
        """``owner``'s nodes and surfaces whose box meets ``box``."""
        with self._lock:
            return [(k[1], sf) for k, sf in self._items.items() if k[0] == owner and boxes_meet(sf.box, box)]

    def drop(self, owner: str, nodes: Iterable[int]) -> None:
        """Forget the surfaces of ``owner``'s ``nodes`` (those kept)."""
        with self._lock:
            for node in nodes:
                sf = self._items.pop((owner, int(node)), None)
                if sf is not None:
                    self.nbytes -= sf.nbytes

    def invalidate(self, owner: str, box: Box | None) -> None:
        """Drop every surface of ``owner`` whose box meets ``box`` (cells a commit changed)."""
        self.drop(owner, [node for node, _ in self.meeting(owner, box)])

    def serves(self, n_cells: int) -> bool:
        """Whether surfaces are kept for a raster of ``n_cells`` cells (a budget, int32 cells)."""
        return self.max_bytes > 0 and n_cells < SURFACE_MAX_CELLS

    def clear(self) -> None:
        """Drop every surface."""
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __deepcopy__(self, memo: dict[int, Any]) -> SurfaceCache:
        return SurfaceCache(self.max_bytes)


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
    s = Searcher(resistance.shape, res_m)
    labs, costs = s.targets(res, lab, np.asarray(sources, np.int64), max_cost, src_label, int(lab.max(initial=0)))
    return {int(a): float(c) for a, c in zip(labs, costs, strict=True)}
