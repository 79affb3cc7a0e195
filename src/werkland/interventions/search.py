"""Bounded least-cost searches from a set of cells to labelled regions (compiled, O(touched) reset).

A :class:`Searcher` holds the work arrays of one raster shape, so the thousands of small searches of a
candidate evaluation allocate nothing; a :class:`SearcherPool` lends them to the graphs of every
guild, at most as many as searches run at once. Boxes are ``(r0, r1, c0, c1)``, end-exclusive; None
= empty.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from werkland._kernels.grid_search import label_search, min_step_cost, step_lengths

Box = tuple[int, int, int, int]


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

    def __deepcopy__(self, memo: dict[int, Any]) -> SearcherPool:
        return SearcherPool(self.shape, self.res_m, self.limit)


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
