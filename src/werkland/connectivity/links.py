"""Least-cost links between patches: bounded cost distance (compiled Dijkstra, identical to
``skimage.graph.MCP_Geometric``), least-cost paths and the normalised corridor raster."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from werkland._errors import WerklandInputError
from werkland._kernels.grid_search import (
    collect_targets,
    corridor_update,
    cost_search,
    dijkstra,
    min_step_cost,
    reset_search,
    search_resistance,
    step_lengths,
    tracebacks,
)
from werkland.connectivity.minima import (
    CellGroups,
    MinimaParts,
    check_groups_fit,
    group_scratch,
    reduce_to_groups,
)
from werkland.connectivity.patches import patch_cells

log = logging.getLogger(__name__)

#: Predecessor of a source cell or an unreached cell.
NO_PRED = -1


def prepare_resistance(resistance: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Resistance as float64 with ``inf`` for impassable cells.

    Parameters
    ----------
    resistance : numpy.ndarray
        Resistance per metre (>= 1 by the data contract). Nodata, negative, NaN and infinite
        cells are impassable.
    nodata : float, optional
        Nodata value of the raster (``-1`` in the contract); None = no nodata value.

    Returns
    -------
    numpy.ndarray
        C-contiguous float64 copy.

    Raises
    ------
    WerklandInputError
        If a cell has resistance 0 (a zero-cost cell makes cost distance meaningless).
    """
    r = np.array(resistance, dtype=np.float64, copy=True, order="C")
    bad = ~np.isfinite(r) | (r < 0)
    if nodata is not None and np.isfinite(nodata):
        bad |= r == nodata
    r[bad] = np.inf
    if np.any(r == 0):
        raise WerklandInputError(
            f"{int(np.sum(r == 0))} cells have resistance 0",
            path="resistance raster",
            fix="resistance must be >= 1 per metre (use nodata -1 for impassable cells)",
        )
    return r


def _as_flat_sources(sources: Any, shape: tuple[int, int]) -> np.ndarray:
    """Flat cell indices of a boolean source mask or of (row, col) pairs."""
    arr = np.asarray(sources)
    if arr.dtype == bool:
        if arr.shape != shape:
            raise ValueError(f"source mask shape {arr.shape} != raster shape {shape}")
        return np.flatnonzero(arr).astype(np.int64)
    arr = np.atleast_2d(arr.astype(np.int64))
    if arr.shape[1] != 2:
        raise ValueError("sources must be a boolean mask or (row, col) pairs")
    return (arr[:, 0] * shape[1] + arr[:, 1]).astype(np.int64)


def cost_distance_bounded(
    resistance: np.ndarray,
    sources: Any,
    *,
    res_m: float = 1.0,
    max_cost: float = np.inf,
    nodata: float | None = None,
    return_predecessors: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Accumulated cost distance from sources, bounded at ``max_cost``.

    Same values as ``skimage.graph.MCP_Geometric(resistance, fully_connected=True,
    sampling=(res_m, res_m)).find_costs(sources)`` for every cell with cost ``<= max_cost``:
    a step costs its length (m) x the mean of the two cells' resistance; 8 neighbours.

    Parameters
    ----------
    resistance : numpy.ndarray
        2-D resistance per metre; nodata / negative / NaN / inf cells are impassable (never
        entered, never left).
    sources : array-like
        Boolean mask of source cells or an (m, 2) array of (row, col). Impassable sources are
        ignored.
    res_m : float
        Pixel size (m).
    max_cost : float
        Bound in cost-weighted metres; cells farther than this get ``inf`` (default: unbounded).
    nodata : float, optional
        Nodata value of ``resistance``.
    return_predecessors : bool
        Also return the flat index of each cell's predecessor (-1 for sources / unreached).

    Returns
    -------
    cost : numpy.ndarray
        float64 cost-weighted metres, ``inf`` where unreachable or beyond ``max_cost``.
    pred : numpy.ndarray, optional
        int64 predecessor flat indices (see :func:`least_cost_path`).
    """
    res = prepare_resistance(resistance, nodata)
    H, W = res.shape
    starts = _as_flat_sources(sources, (H, W))
    cum = np.full(H * W, np.inf)
    pred = np.full(H * W, NO_PRED, dtype=np.int64)
    touched = np.empty(max(1024, starts.size), np.int64)
    n_t, touched = dijkstra(
        res.ravel(), H, W, step_lengths(res_m), starts, np.zeros(starts.size), float(max_cost),
        cum, pred, touched, cum, 0.0, False,
    )
    beyond = cum > max_cost
    cum[beyond] = np.inf
    pred[beyond] = NO_PRED
    if return_predecessors:
        return cum.reshape(H, W), pred.reshape(H, W)
    return cum.reshape(H, W)


def least_cost_path(pred: np.ndarray, end: tuple[int, int]) -> np.ndarray:
    """Cells of the least-cost path from a source to ``end``.

    Parameters
    ----------
    pred : numpy.ndarray
        Predecessor raster from :func:`cost_distance_bounded` (``return_predecessors=True``).
    end : tuple of int
        (row, col) of the end cell.

    Returns
    -------
    numpy.ndarray
        (m, 2) int array of (row, col), source first.
    """
    H, W = pred.shape
    cells, _ = tracebacks(pred.ravel(), np.array([end[0] * W + end[1]], np.int64))
    return np.column_stack([cells // W, cells % W])


@dataclass
class LinkSet:
    """Least-cost links between patches.

    Attributes
    ----------
    from_id, to_id : numpy.ndarray
        Patch ids (1-based), ``from_id < to_id``, sorted.
    cost : numpy.ndarray
        Cost distance (cost-weighted m), edge to edge.
    path_ptr, path_cells : numpy.ndarray
        Least-cost path of link ``e`` = flat cell indices ``path_cells[path_ptr[e]:path_ptr[e+1]]``,
        from a cell of ``from_id`` to a cell of ``to_id``.
    corridor : numpy.ndarray or None
        float32 normalised corridor raster (cost units), ``inf`` outside the width.
    max_cost : float
        Link bound used (cost-weighted m).
    group_minima : MinimaParts or None
        With ``cell_groups``: each patch's minimum cost over each group, from its search to
        ``search_bound``; None otherwise.
    search_bound : float
        Cost every patch was searched to (``max_cost``, plus the corridor width with corridors).
    """

    from_id: np.ndarray
    to_id: np.ndarray
    cost: np.ndarray
    path_ptr: np.ndarray
    path_cells: np.ndarray
    corridor: np.ndarray | None
    max_cost: float
    group_minima: MinimaParts | None = None
    search_bound: float = np.nan

    @property
    def n(self) -> int:
        """Number of links."""
        return int(self.from_id.size)


class SearchWorkspace:
    """Per-thread full-size work arrays of the bounded searches, reset in O(touched) after each search.

    Parameters
    ----------
    ncell : int
        Cells of the raster.
    nlab : int
        Largest patch id.
    corridor : bool
        Also allocate the arrays of the corridor search (``cum2``, ``touched2``, ``corr``).
    predecessors : bool
        Allocate ``pred`` (False: an empty array, for searches that record costs only).
    """

    def __init__(self, ncell: int, nlab: int, corridor: bool, predecessors: bool = True) -> None:
        self.cum = np.full(ncell, np.inf)
        # int32 predecessors below 2^31 cells: half the memory traffic of the link search's writes
        self.pred = np.full(ncell if predecessors else 0, NO_PRED, dtype=np.int32 if ncell < 2**31 else np.int64)
        self.touched = np.empty(1 << 16, np.int64)
        self.best_cost = np.full(nlab + 1, np.inf)
        self.best_cell = np.full(nlab + 1, -1, dtype=np.int64)
        if corridor:
            self.cum2 = np.full(ncell, np.inf)
            self.touched2 = np.empty(1 << 16, np.int64)
            self.corr = np.full(ncell, np.inf, dtype=np.float32)


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)


def build_links(
    resistance: np.ndarray,
    labels: np.ndarray,
    *,
    res_m: float,
    max_cost: float,
    corridor_width: float | None = None,
    n_threads: int = 2,
    with_paths: bool = True,
    sources: np.ndarray | None = None,
    cell_groups: CellGroups | None = None,
) -> LinkSet:
    """Least-cost links between all patch pairs within ``max_cost``, and optionally corridors.

    Parameters
    ----------
    resistance : numpy.ndarray
        Output of :func:`prepare_resistance` (float64, ``inf`` impassable).
    labels : numpy.ndarray
        Patch-id raster (0 = none), ids 1..n.
    res_m : float
        Pixel size (m).
    max_cost : float
        Link bound, cost-weighted metres (``Kernel.max_cost(p_floor)``).
    corridor_width : float, optional
        If given, also compute the normalised corridor raster truncated at this width (cost
        units); the search bound then becomes ``max_cost + corridor_width`` so the corridor is
        exact for every link. None: no corridor raster.
    n_threads : int
        Worker threads (the compiled search releases the GIL); the result does not depend on it.
    with_paths : bool
        Trace the least-cost path of every link.
    sources : numpy.ndarray, optional
        Patch ids to search from (None: all). A link (a, b), a < b, is found by the search from
        ``a``, so restricting the sources keeps exactly the links whose smaller id is a source --
        this is how :func:`~werkland.connectivity.tiled.build_links_tiled` splits the work over
        overlapping windows.
    cell_groups : CellGroups, optional
        Also keep each searched patch's minimum cost over each group, up to the search bound
        (``LinkSet.group_minima``; patches not searched have none): the barrier stage's probe
        minima, at no second search (:mod:`werkland.connectivity.minima`).

    Returns
    -------
    LinkSet
    """
    H, W = resistance.shape
    res_flat = search_resistance(resistance)  # float32 when exact: same costs, half the memory traffic
    lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    n = int(lab_flat.max()) if lab_flat.size else 0
    cells, ptr = patch_cells(lab_flat, n)
    lens = step_lengths(res_m)
    min_step = min_step_cost(res_flat, lens)
    want_corr = corridor_width is not None
    if cell_groups is not None:
        check_groups_fit(cell_groups, resistance.shape)
    search_bound = float(max_cost) + (float(corridor_width) if corridor_width is not None else 0.0)
    n_threads = max(1, int(n_threads))
    pool: queue.Queue[SearchWorkspace] = queue.Queue()
    for _ in range(min(n_threads, max(n, 1))):
        pool.put(SearchWorkspace(H * W, n, want_corr))
    results: list[Any] = [None] * (n + 1)
    minima: list[Any] = [None] * (n + 1)
    scratch: queue.Queue[np.ndarray] = queue.Queue()  # a group-minimum scratch per search thread
    if cell_groups is not None:
        for _ in range(min(n_threads, max(n, 1))):
            scratch.put(group_scratch(cell_groups))
    todo = list(range(1, n + 1)) if sources is None else sorted({int(s) for s in sources if 1 <= int(s) <= n})
    t0 = time.perf_counter()
    done = [0]
    lock = threading.Lock()
    step = max(1, n // 10) if sources is None else max(1, len(todo) // 10)

    def work(pid: int) -> None:
        ws = pool.get()
        try:
            starts = cells[ptr[pid - 1] : ptr[pid]]
            n_t, ws.touched = dijkstra(
                res_flat, H, W, lens, starts, np.zeros(starts.size), search_bound,
                ws.cum, ws.pred, ws.touched, ws.cum, 0.0, False,
            )
            found, costs, ends = collect_targets(
                ws.cum, lab_flat, ws.touched, n_t, pid, float(max_cost), ws.best_cost, ws.best_cell
            )
            if cell_groups is not None:
                gmin = scratch.get()
                minima[pid] = reduce_to_groups(ws.cum, ws.touched, n_t, search_bound, cell_groups, gmin, W)
                scratch.put(gmin)
            up = found > pid
            t_found, t_cost, t_end = found[up], costs[up], ends[up]
            if with_paths and t_end.size:
                pc, pp = tracebacks(ws.pred, t_end)
            else:
                pc, pp = np.empty(0, np.int64), np.zeros(t_end.size + 1, np.int64)
            if corridor_width is not None and t_found.size:
                _corridor_search(ws, res_flat, H, W, lens, cells, ptr, t_found, t_cost, float(corridor_width), min_step)
            reset_search(ws.cum, ws.pred, ws.touched, n_t)
            results[pid] = (t_found, t_cost, pc, pp)
        finally:
            pool.put(ws)
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == len(todo):
                dt = time.perf_counter() - t0
                log.info("links: %d/%d patches searched (%.1f patches/s)", done[0], len(todo), done[0] / max(dt, 1e-9))

    if todo:
        if n_threads == 1:
            for pid in todo:
                work(pid)
        else:
            with ThreadPoolExecutor(max_workers=n_threads) as ex:
                list(ex.map(work, todo))
    froms, tos, costs, pptr, pcells = [], [], [], [np.zeros(1, np.int64)], []
    offset = 0
    for pid in todo:
        t_found, t_cost, pc, pp = results[pid]
        froms.append(np.full(t_found.size, pid, np.int64))
        tos.append(t_found.astype(np.int64))
        costs.append(t_cost)
        if with_paths:
            pptr.append(pp[1:] + offset)
            pcells.append(pc)
            offset += pc.size
    corridor = None
    if want_corr:
        corridor = np.full(H * W, np.inf, dtype=np.float32)
        while not pool.empty():
            np.minimum(corridor, pool.get().corr, out=corridor)
        corridor = corridor.reshape(H, W)
    links = LinkSet(
        from_id=_concat(froms, np.int64),
        to_id=_concat(tos, np.int64),
        cost=_concat(costs, np.float64),
        path_ptr=np.concatenate(pptr) if with_paths else np.zeros(1, np.int64),
        path_cells=_concat(pcells, np.int64),
        corridor=corridor,
        max_cost=float(max_cost),
        group_minima=None if cell_groups is None else MinimaParts(minima),
        search_bound=search_bound,
    )
    log.info("links: %d links among %d patches in %.1f s", links.n, n, time.perf_counter() - t0)
    return links


def _corridor_search(
    ws: SearchWorkspace, res_flat: np.ndarray, H: int, W: int, lens: np.ndarray, cells: np.ndarray,
    ptr: np.ndarray, t_found: np.ndarray, t_cost: np.ndarray, width: float, min_step: float,
) -> None:
    """Corridor cells of the links of one source patch into ``ws.corr``.

    One multi-source search from the linked patches ``b``, each seeded with ``-LCD_ab`` and pruned
    where ``CWD_a + CWD_b - LCD_ab`` exceeds the width (``ws.cum`` holds ``CWD_a``). Costs only
    (:func:`cost_search`): the corridor takes minima, so the queue's order does not matter.
    """
    s2 = np.concatenate([cells[ptr[b - 1] : ptr[b]] for b in t_found])
    c2 = np.concatenate([np.full(ptr[b] - ptr[b - 1], -c) for b, c in zip(t_found, t_cost, strict=True)])
    n_t2, ws.touched2, _ = cost_search(
        res_flat, H, W, lens, s2, c2, width, ws.cum2, ws.touched2, ws.cum, width, True, min_step,
    )
    corridor_update(ws.corr, ws.cum, ws.cum2, ws.touched2, n_t2, width)
    ws.cum2[ws.touched2[:n_t2]] = np.inf  # reset in O(touched); no predecessors were written
