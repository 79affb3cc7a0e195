"""Ecological connectivity: habitat patches, least-cost links, PC / IIC / ECA / dPC, corridors.

The stage turns a habitat-suitability raster and a resistance raster of one species guild into a
patch graph and the indices connectivity ecologists compare with Conefor, Graphab and Linkage
Mapper (formulas and validation cases: ``../shared/notes/connectivity.md``).

Pipeline (:func:`run_connectivity`)
-----------------------------------
1. :func:`find_patches` -- 8-connected components of ``suitability >= threshold`` (scikit-image),
   patches under the minimum area dropped, per-patch area, quality-weighted area (node weight
   ``a_i``), core area, perimeter and a border flag.
2. :func:`build_links` -- one cost-bounded Dijkstra per patch over the resistance raster with the
   ``MCP_Geometric`` step rule (step length x mean of the two cells' resistance, 8 neighbours,
   the GRASS ``r.cost`` / Linkage Mapper convention). The search stops at the maximum useful cost
   distance ``d_max = -ln(p_floor) / k`` (``p_floor`` = 0.001 by default), so the work grows with
   the number of patches times their reach, not with the square of the raster. The kernel is a
   compiled (numba) binary-heap Dijkstra whose cumulative costs are identical to
   ``skimage.graph.MCP_Geometric`` (checked in the tests); searches run on a thread pool.
   Paths may cross other patches. A link joins every pair with a cost distance ``<= d_max``.
3. :func:`dispersal_kernel` -- ``p = exp(-k d)``, ``k = -ln(p0) / d0`` (Conefor convention
   ``p0 = 0.5`` at the median dispersal distance by default, Graphab ``p0 = 0.05`` selectable).
4. :func:`probability_metrics` -- maximum-product probabilities by Dijkstra on ``-ln p``
   (``scipy.sparse.csgraph``), PCnum / PC / ECA, IIC, components, and per-patch dPC with its
   intra / flux / connector fractions (Saura & Rubio 2010), dIIC, betweenness. The connector
   fraction is computed exactly without deleting every node: for each source ``i`` only the
   descendants of ``k`` in the shortest-path tree of ``i`` can lose probability when ``k`` is
   removed, and their new distances are found by a Dijkstra restricted to that subtree, seeded from
   its unaffected neighbours. :func:`naive_node_importance` (delete the node, recompute all) is
   kept as the test oracle.
5. Corridors -- the Linkage Mapper normalised least-cost corridor ``min over links (CWD_a + CWD_b
   - LCD_ab)``, truncated at a width (cost units). Computed exactly with one extra pruned
   multi-source search per patch (neighbours ``b`` seeded with ``-LCD_ab``).

Units: areas in ha, PCnum in ha^2, ECA in ha, cost distances in cost-weighted metres (resistance x
metres), Euclidean distances in metres, ``k`` per cost-weighted metre.

Bad input (no patches, a single patch, impassable resistance, every patch on the border) gives a
valid result of zeros with an explanation in ``summary["warnings"]``, never an exception or a NaN.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse import csgraph

from werkland._errors import WerklandInputError
from werkland._kernels.graph import insert_edge, sssp_rows, tree_losses
from werkland._kernels.grid_search import (
    collect_targets,
    corridor_update,
    dijkstra,
    reset_search,
    step_lengths,
    tracebacks,
)

log = logging.getLogger(__name__)

#: Default probability floor: links (and the search) stop where p_direct falls below it.
P_FLOOR_DEFAULT = 0.001

#: p0 of each kernel convention (probability at the distance d0).
CONVENTIONS: dict[str, float] = {"conefor": 0.5, "graphab": 0.05}

_NO_PRED = -1

__all__ = [
    "CONVENTIONS",
    "GraphMetrics",
    "GraphState",
    "Kernel",
    "LinkChangeResult",
    "LinkSet",
    "P_FLOOR_DEFAULT",
    "PatchSet",
    "build_links",
    "cost_distance_bounded",
    "dispersal_kernel",
    "eca_after_link_change",
    "find_patches",
    "least_cost_path",
    "naive_node_importance",
    "patch_polygons",
    "prepare_resistance",
    "probability_metrics",
    "run_connectivity",
]


# =============================================================================================
# Dispersal kernel
# =============================================================================================


@dataclass(frozen=True)
class Kernel:
    """Negative-exponential dispersal kernel ``p(d) = exp(-k d)``.

    Attributes
    ----------
    d0_m : float
        Reference distance in cost-weighted metres.
    p0 : float
        Probability at ``d0_m``.
    k_per_m : float
        Decay rate per cost-weighted metre, ``-ln(p0) / d0_m``.
    convention : str
        ``"conefor"`` (p0 = 0.5 at the median distance) or ``"graphab"`` (p0 = 0.05).
    """

    d0_m: float
    p0: float
    k_per_m: float
    convention: str

    def p(self, d: np.ndarray | float) -> np.ndarray:
        """Direct dispersal probability for cost distance(s) ``d`` (cost-weighted m)."""
        return np.exp(-self.k_per_m * np.asarray(d, dtype=np.float64))

    def max_cost(self, p_floor: float = P_FLOOR_DEFAULT) -> float:
        """Cost distance (cost-weighted m) at which ``p`` falls to ``p_floor``."""
        return float(-math.log(p_floor) / self.k_per_m)


def dispersal_kernel(d0_m: float, convention: str = "conefor", p0: float | None = None) -> Kernel:
    """Build the dispersal kernel of a guild.

    Parameters
    ----------
    d0_m : float
        Distance (cost-weighted metres) at which the probability is ``p0``: the median dispersal
        distance in the Conefor convention, the "maximum" distance in the Graphab one.
    convention : {"conefor", "graphab"}
        Fixes ``p0`` (0.5 or 0.05) unless ``p0`` is given explicitly.
    p0 : float, optional
        Override of the convention's probability (0 < p0 < 1).

    Returns
    -------
    Kernel

    Raises
    ------
    WerklandInputError
        Unknown convention, ``d0_m <= 0`` or ``p0`` outside (0, 1).

    Examples
    --------
    >>> round(dispersal_kernel(1000.0).k_per_m * 1000, 6)
    0.693147
    """
    if convention not in CONVENTIONS:
        raise WerklandInputError(
            f"unknown kernel convention {convention!r}",
            path="config: connectivity.convention",
            fix=f"use one of {sorted(CONVENTIONS)}",
        )
    if p0 is None:
        p0 = CONVENTIONS[convention]
    if not (isinstance(d0_m, (int, float, np.floating, np.integer)) and np.isfinite(d0_m) and d0_m > 0):
        raise WerklandInputError(f"d0_m = {d0_m!r} is not a positive distance", path="config: guilds.*.d0_m")
    if not (0.0 < float(p0) < 1.0):
        raise WerklandInputError(f"p0 = {p0!r} is not a probability in (0, 1)", path="config: guilds.*.p0")
    k = -math.log(float(p0)) / float(d0_m)
    return Kernel(float(d0_m), float(p0), float(k), convention)


# =============================================================================================
# Patches
# =============================================================================================


@dataclass
class PatchSet:
    """Habitat patches of one guild.

    Attributes
    ----------
    labels : numpy.ndarray
        int32 raster of patch ids (1..n), 0 = no patch.
    table : pandas.DataFrame
        One row per patch, ordered by ``patch_id``: ``patch_id``, ``area_ha``, ``quality_ha``
        (sum of suitability x cell area, the node weight), ``core_ha`` (cells farther than the
        edge band from the patch edge), ``perimeter_m``, ``touches_border``.
    n_dropped : int
        Components dropped for being smaller than the minimum area.
    """

    labels: np.ndarray
    table: pd.DataFrame
    n_dropped: int = 0

    @property
    def n(self) -> int:
        """Number of patches."""
        return len(self.table)


def find_patches(
    suitability: np.ndarray,
    *,
    res_m: float,
    threshold: float,
    min_area_m2: float,
    edge_band_m: float = 0.0,
    valid: np.ndarray | None = None,
) -> PatchSet:
    """Label habitat patches and compute their attributes.

    Parameters
    ----------
    suitability : numpy.ndarray
        2-D suitability 0..1. Non-finite or negative cells (nodata) are never habitat.
    res_m : float
        Pixel size in metres (square pixels).
    threshold : float
        Cells with ``suitability >= threshold`` are habitat.
    min_area_m2 : float
        Patches (8-connected components) smaller than this (m²) are dropped.
    edge_band_m : float, optional
        Width of the edge band removed for ``core_ha`` (metres from the patch edge to the
        cell centre).
    valid : numpy.ndarray of bool, optional
        Cells inside the region; a patch touching a cell outside (or the raster edge) gets
        ``touches_border = True``. Default: finite, non-negative suitability.

    Returns
    -------
    PatchSet
        Patch ids are 1..n in raster-scan order of each patch's first cell (deterministic).
    """
    from skimage.measure import label as sk_label

    suit = np.asarray(suitability, dtype=np.float64)
    if suit.ndim != 2:
        raise WerklandInputError(f"suitability raster must be 2-D, got shape {suit.shape}")
    finite = np.isfinite(suit) & (suit >= 0)
    if valid is None:
        valid = finite
    mask = finite & (suit >= threshold) & valid
    cell_area_m2 = float(res_m) * float(res_m)
    lab = sk_label(mask, connectivity=2, background=0).astype(np.int64, copy=False)
    counts = np.bincount(lab.ravel())
    keep = counts * cell_area_m2 >= float(min_area_m2)
    keep[0] = False
    n_comp = len(counts) - 1
    remap = np.zeros(len(counts), dtype=np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = remap[lab]
    n = int(keep.sum())
    n_dropped = n_comp - n
    table = _patch_table(labels, n, suit, res_m, edge_band_m, valid)
    log.info("patches: %d kept, %d dropped below %.0f m2", n, n_dropped, min_area_m2)
    return PatchSet(labels=labels, table=table, n_dropped=n_dropped)


def _patch_table(
    labels: np.ndarray, n: int, suit: np.ndarray, res_m: float, edge_band_m: float, valid: np.ndarray
) -> pd.DataFrame:
    cell_ha = float(res_m) ** 2 / 1e4
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:] * cell_ha
    s = np.where(flat > 0, np.nan_to_num(suit.ravel(), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    quality = np.bincount(flat, weights=s, minlength=n + 1)[1:] * cell_ha
    # core: cells whose centre lies more than edge_band_m inside the patch (raster edge counts as edge)
    if n and edge_band_m > 0:
        padded = np.pad(labels > 0, 1, constant_values=False)
        edt = ndimage.distance_transform_edt(padded, sampling=(res_m, res_m))[1:-1, 1:-1]
        core_mask = (edt - res_m / 2.0) > edge_band_m
        core = np.bincount(flat[core_mask.ravel()], minlength=n + 1)[1:] * cell_ha
    else:
        core = area.copy()
    # perimeter: cell edges between a patch cell and anything else (other label, 0, outside)
    pad = np.pad(labels, 1, constant_values=0)
    per = np.zeros(n + 1, dtype=np.int64)
    for a, b in ((pad[1:, :], pad[:-1, :]), (pad[:, 1:], pad[:, :-1])):
        d = a != b
        per += np.bincount(a[d], minlength=n + 1)
        per += np.bincount(b[d], minlength=n + 1)
    perimeter = per[1:] * float(res_m)
    # border: any 8-neighbour outside the region or outside the raster
    outside = np.pad(~np.asarray(valid, dtype=bool), 1, constant_values=True)
    near = ndimage.binary_dilation(outside, structure=np.ones((3, 3), bool))[1:-1, 1:-1]
    touching = np.unique(labels[near & (labels > 0)])
    touches = np.zeros(n + 1, dtype=bool)
    touches[touching] = True
    return pd.DataFrame(
        {
            "patch_id": np.arange(1, n + 1, dtype=np.int64),
            "area_ha": area.astype(np.float64),
            "quality_ha": quality.astype(np.float64),
            "core_ha": core.astype(np.float64),
            "perimeter_m": perimeter.astype(np.float64),
            "touches_border": touches[1:],
        }
    )


def patch_polygons(labels: np.ndarray, transform: Any, n: int) -> list[Any]:
    """Polygons of patches 1..n (``rasterio.features.shapes``, one MultiPolygon per patch).

    Parameters
    ----------
    labels : numpy.ndarray
        int32 patch-id raster.
    transform : affine.Affine
        Pixel-to-map transform.
    n : int
        Number of patches.

    Returns
    -------
    list of shapely.MultiPolygon
        Index ``i`` holds patch ``i + 1``.
    """
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    parts: list[list[Any]] = [[] for _ in range(n)]
    if n:
        lab = np.ascontiguousarray(labels, dtype=np.int32)
        for geom, value in shapes(lab, mask=lab > 0, connectivity=4, transform=transform):
            parts[int(value) - 1].append(shape(geom))
    return [shapely.MultiPolygon(p) if p else shapely.MultiPolygon() for p in parts]


# =============================================================================================
# Cost distance (numba Dijkstra, identical to skimage MCP_Geometric)
# =============================================================================================

def prepare_resistance(resistance: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Resistance as float64 with ``inf`` for impassable cells.

    Parameters
    ----------
    resistance : numpy.ndarray
        Resistance per metre (>= 1 by the data contract). Nodata, negative, NaN and infinite
        cells are impassable.
    nodata : float, optional
        Nodata value of the raster (``-1`` in the contract).

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
        Bound in cost-weighted metres; cells farther than this get ``inf``.
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
    pred = np.full(H * W, _NO_PRED, dtype=np.int64)
    touched = np.empty(max(1024, starts.size), np.int64)
    n_t, touched = dijkstra(
        res.ravel(), H, W, step_lengths(res_m), starts, np.zeros(starts.size), float(max_cost),
        cum, pred, touched, cum, 0.0, False,
    )
    beyond = cum > max_cost
    cum[beyond] = np.inf
    pred[beyond] = _NO_PRED
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


# =============================================================================================
# Link set
# =============================================================================================


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
    """

    from_id: np.ndarray
    to_id: np.ndarray
    cost: np.ndarray
    path_ptr: np.ndarray
    path_cells: np.ndarray
    corridor: np.ndarray | None
    max_cost: float

    @property
    def n(self) -> int:
        """Number of links."""
        return int(self.from_id.size)


class SearchWorkspace:
    """Per-thread full-size work arrays, reset in O(touched) after each search."""

    def __init__(self, ncell: int, nlab: int, corridor: bool) -> None:
        self.cum = np.full(ncell, np.inf)
        self.pred = np.full(ncell, _NO_PRED, dtype=np.int64)
        self.touched = np.empty(1 << 16, np.int64)
        self.best_cost = np.full(nlab + 1, np.inf)
        self.best_cell = np.full(nlab + 1, -1, dtype=np.int64)
        if corridor:
            self.cum2 = np.full(ncell, np.inf)
            self.pred2 = np.full(ncell, _NO_PRED, dtype=np.int64)
            self.touched2 = np.empty(1 << 16, np.int64)
            self.corr = np.full(ncell, np.inf, dtype=np.float32)


def patch_cells(labels_flat: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices of each patch: cells[ptr[i-1]:ptr[i]] belong to patch i."""
    cells = np.flatnonzero(labels_flat > 0)
    labs = labels_flat[cells]
    order = np.argsort(labs, kind="stable")
    cells = cells[order].astype(np.int64)
    ptr = np.searchsorted(labs[order], np.arange(1, n + 2), side="left").astype(np.int64)
    return cells, ptr


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
        exact for every link.
    n_threads : int
        Worker threads (the compiled search releases the GIL).
    with_paths : bool
        Trace the least-cost path of every link.
    sources : numpy.ndarray, optional
        Patch ids to search from (default: all). A link (a, b), a < b, is found by the search from
        ``a``, so restricting the sources keeps exactly the links whose smaller id is a source --
        this is how :mod:`werkland.tiling` splits the work over overlapping windows.

    Returns
    -------
    LinkSet
    """
    res = np.ascontiguousarray(resistance, dtype=np.float64)
    H, W = res.shape
    res_flat = res.ravel()
    lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    n = int(lab_flat.max()) if lab_flat.size else 0
    cells, ptr = patch_cells(lab_flat, n)
    lens = step_lengths(res_m)
    want_corr = corridor_width is not None
    search_bound = float(max_cost) + (float(corridor_width) if want_corr else 0.0)
    n_threads = max(1, int(n_threads))
    pool: queue.Queue[SearchWorkspace] = queue.Queue()
    for _ in range(min(n_threads, max(n, 1))):
        pool.put(SearchWorkspace(H * W, n, want_corr))
    results: list[Any] = [None] * (n + 1)
    t0 = time.perf_counter()
    done = [0]
    lock = threading.Lock()
    step = max(1, n // 10)

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
            up = found > pid
            t_found, t_cost, t_end = found[up], costs[up], ends[up]
            if with_paths and t_end.size:
                pc, pp = tracebacks(ws.pred, t_end)
            else:
                pc, pp = np.empty(0, np.int64), np.zeros(t_end.size + 1, np.int64)
            if want_corr and t_found.size:
                s2 = np.concatenate([cells[ptr[b - 1] : ptr[b]] for b in t_found])
                c2 = np.concatenate(
                    [np.full(ptr[b] - ptr[b - 1], -c) for b, c in zip(t_found, t_cost, strict=True)]
                )
                n_t2, ws.touched2 = dijkstra(
                    res_flat, H, W, lens, s2, c2, float(corridor_width),
                    ws.cum2, ws.pred2, ws.touched2, ws.cum, float(corridor_width), True,
                )
                corridor_update(ws.corr, ws.cum, ws.cum2, ws.touched2, n_t2, float(corridor_width))
                reset_search(ws.cum2, ws.pred2, ws.touched2, n_t2)
            reset_search(ws.cum, ws.pred, ws.touched, n_t)
            results[pid] = (t_found, t_cost, pc, pp)
        finally:
            pool.put(ws)
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == len(todo):
                dt = time.perf_counter() - t0
                log.info("links: %d/%d patches searched (%.1f patches/s)", done[0], len(todo), done[0] / max(dt, 1e-9))

    todo = list(range(1, n + 1)) if sources is None else sorted({int(s) for s in sources if 1 <= int(s) <= n})
    if sources is not None:
        step = max(1, len(todo) // 10)
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
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.empty(0, dt))  # noqa: E731
    corridor = None
    if want_corr:
        corridor = np.full(H * W, np.inf, dtype=np.float32)
        while not pool.empty():
            np.minimum(corridor, pool.get().corr, out=corridor)
        corridor = corridor.reshape(H, W)
    links = LinkSet(
        from_id=cat(froms, np.int64),
        to_id=cat(tos, np.int64),
        cost=cat(costs, np.float64),
        path_ptr=np.concatenate(pptr) if with_paths else np.zeros(1, np.int64),
        path_cells=cat(pcells, np.int64),
        corridor=corridor,
        max_cost=float(max_cost),
    )
    log.info("links: %d links among %d patches in %.1f s", links.n, n, time.perf_counter() - t0)
    return links


# =============================================================================================
# Graph metrics
# =============================================================================================


def _edge_arrays(edges: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate edges (i, j, cost), drop self-loops, keep the cheapest of duplicate pairs."""
    if isinstance(edges, tuple) and len(edges) == 3 and not np.isscalar(edges[0]):
        i, j, c = (np.asarray(x) for x in edges)
    else:
        arr = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 3)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise WerklandInputError("edges must be (i, j, cost) triples", path="edges")
        i, j, c = arr[:, 0], arr[:, 1], arr[:, 2]
    i = np.asarray(i, dtype=np.int64).ravel()
    j = np.asarray(j, dtype=np.int64).ravel()
    c = np.asarray(c, dtype=np.float64).ravel()
    if not (i.size == j.size == c.size):
        raise WerklandInputError("edge arrays have different lengths", path="edges")
    if i.size and (i.min() < 0 or j.min() < 0 or i.max() >= n or j.max() >= n):
        raise WerklandInputError(f"edge endpoints must be node indices 0..{n - 1}", path="edges")
    if np.any(np.isnan(c)) or np.any(c < 0):
        raise WerklandInputError("edge costs must be >= 0 (inf = no link)", path="edges")
    keep = (i != j) & np.isfinite(c)
    i, j, c = i[keep], j[keep], c[keep]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((c, hi, lo))
    lo, hi, c = lo[order], hi[order], c[order]
    first = np.ones(lo.size, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], c[first]


def _sym_csr(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
    w = np.maximum(w, 1e-300)  # an explicit 0 would not be an edge in csgraph
    g = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    g.sort_indices()
    return g


@dataclass
class GraphState:
    """Baseline of a patch graph, reusable for fast what-if evaluations.

    Attributes
    ----------
    areas_ha : numpy.ndarray
        Node weights a_i (ha).
    i, j, cost : numpy.ndarray
        Deduplicated undirected edges (0-based, ``i < j``), cost in cost-weighted m.
    k_per_m : float
        Kernel decay rate.
    landscape_area_ha : float
        A_L (ha).
    dist : numpy.ndarray
        (n, n) shortest-path lengths on ``-ln p`` (``p*_ij = exp(-dist)``), ``inf`` if disconnected.
    pcnum : float
        PCnum (ha²).
    """

    areas_ha: np.ndarray
    i: np.ndarray
    j: np.ndarray
    cost: np.ndarray
    k_per_m: float
    landscape_area_ha: float
    dist: np.ndarray
    pcnum: float

    @classmethod
    def build(cls, areas_ha: Any, edges: Any, k_per_m: float, landscape_area_ha: float) -> GraphState:
        """Compute the baseline (APSP on ``-ln p``) of a patch graph."""
        a = _check_areas(areas_ha)
        n = a.size
        i, j, c = _edge_arrays(edges, n)
        dist = _apsp(n, i, j, k_per_m * c)
        pcnum = _pcnum(a, dist)
        return cls(a, i, j, c, float(k_per_m), float(landscape_area_ha), dist, pcnum)

    @property
    def eca_ha(self) -> float:
        """Equivalent connected area (ha)."""
        return math.sqrt(max(self.pcnum, 0.0))

    @functools.cached_property
    def _link_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted pair keys ``i * n + j`` of the links and the link row of each (built once per state)."""
        key = self.i.astype(np.int64) * self.areas_ha.size + self.j.astype(np.int64)
        order = np.argsort(key, kind="stable")
        return key[order], order

    def link_rows(self, u: Any, v: Any) -> np.ndarray:
        """Row in the link table (``i``, ``j``, ``cost``) of each node pair (either order); -1 = no link."""
        u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
        q = np.minimum(u, v) * self.areas_ha.size + np.maximum(u, v)
        skey, order = self._link_index
        rows = np.full(q.shape, -1, np.int64)
        if skey.size:
            at = np.minimum(np.searchsorted(skey, q), skey.size - 1)
            hit = skey[at] == q
            rows[hit] = order[at[hit]]
        return rows


def _check_areas(areas_ha: Any) -> np.ndarray:
    a = np.asarray(areas_ha, dtype=np.float64).ravel()
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise WerklandInputError("node areas must be finite and >= 0 ha", path="areas_ha")
    return a


_APSP_CHUNK = 128  # sources per compiled call


def _apsp(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, return_predecessors: bool = False,
          n_threads: int | None = None) -> Any:
    """All-pairs shortest paths of the undirected graph (i, j, w).

    Without predecessors the rows are computed by :func:`sssp_rows` over fixed chunks of sources on
    ``n_threads`` threads (default: up to 2 cores); with predecessors by scipy (its tie-breaking).
    """
    if n == 0:
        z = np.zeros((0, 0))
        return (z, np.zeros((0, 0), np.int32)) if return_predecessors else z
    g = _sym_csr(n, i, j, w)
    if return_predecessors or n < 2 * _APSP_CHUNK:
        return csgraph.dijkstra(g, directed=True, return_predecessors=return_predecessors)
    D = np.empty((n, n))
    _sssp_chunks(g, n_threads, lambda s, e: (D, 0))
    return D


def _sssp_chunks(g: Any, n_threads: int | None, target: Any, done: Any = None) -> None:
    """Run :func:`sssp_rows` over fixed chunks of :data:`_APSP_CHUNK` sources on threads.

    ``target(s, e)`` gives the array the rows ``s..e-1`` are written to and its row offset (``(D, 0)``
    for one n x n matrix, ``(block, s)`` for a block per chunk); ``done(s, block)`` is called with each
    finished chunk. Chunks are fixed, so the rows do not depend on ``n_threads`` (default: up to 2 cores).
    """
    n = g.shape[0]
    g.sort_indices()
    indptr, indices, data = g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64)

    def chunk(b: tuple[int, int]) -> None:
        arr, r0 = target(b[0], b[1])
        sssp_rows(indptr, indices, data, b[0], b[1], arr, r0)
        if done is not None:
            done(b[0], arr)

    bounds = [(s, min(n, s + _APSP_CHUNK)) for s in range(0, n, _APSP_CHUNK)]
    threads = n_threads if n_threads is not None else min(2, os.cpu_count() or 1)
    if threads <= 1:
        for b in bounds:
            chunk(b)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(chunk, bounds))


def apsp_probabilities(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, a: np.ndarray,
                       n_threads: int | None = None, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Maximum-product probabilities ``p*_ij = exp(-D_ij)`` of all pairs, packed float32, and PCnum.

    A quarter of the memory of the float64 distance matrix of :func:`_apsp` (one triangle, float32)
    and no n x n float64 temporary: rows are computed in float64 by :func:`sssp_rows` over fixed
    chunks of sources, each chunk's ``Σ_j a_j exp(-D_sj)`` is taken in float64, and only then is the
    lower-triangle part of each row stored in float32. ``p*`` below the smallest normal float32
    (``D`` > 87.3, p* < 1.2e-38) is stored as 0 (unconnected), so ``-ln p*`` read back has an absolute
    error of at most 6e-8 (the float32 rounding of p*).

    Parameters
    ----------
    n : int
        Number of nodes.
    i, j, w : numpy.ndarray
        Undirected edges and their ``-ln p`` lengths.
    a : numpy.ndarray
        Node weights (ha) for PCnum.
    n_threads : int, optional
        Threads (default: up to 2 cores); the result does not depend on it.
    out : numpy.ndarray, optional
        1-D float32 array of at least ``n (n - 1) / 2`` elements to fill (its start; e.g. a buffer with
        room for nodes added later).

    Returns
    -------
    tuple
        ``(P, pcnum)``: 1-D float32 array, ``p*`` of the pair ``(r, c)``, ``r > c``, at
        ``r (r - 1) / 2 + c`` (the row-major lower triangle; a view of ``out`` when given), and
        PCnum = Σ a_i a_j p*_ij (ha²) from the float64 distances.
    """
    a = np.asarray(a, np.float64)
    size = n * (n - 1) // 2
    if out is not None:
        if out.dtype != np.float32 or out.ndim != 1 or out.size < size:
            raise ValueError(f"out must be a 1-D float32 array of at least {size} elements")
        P = out[:size]
    else:
        P = np.zeros(size, np.float32)
    if n == 0:
        return P, 0.0
    rows = np.zeros(n)
    tiny = np.finfo(np.float32).tiny

    def store(s: int, D: np.ndarray) -> None:
        E = np.exp(-D)
        rows[s:s + D.shape[0]] = E @ a
        E[E < tiny] = 0.0
        for r in range(s, s + D.shape[0]):
            o = r * (r - 1) // 2
            P[o:o + r] = E[r - s, :r]

    if n < 2 * _APSP_CHUNK:
        store(0, _apsp(n, i, j, w))
    else:
        _sssp_chunks(_sym_csr(n, i, j, w), n_threads, lambda s, e: (np.empty((e - s, n)), s), store)
    return P, float(a @ rows)


def _pcnum(a: np.ndarray, dist: np.ndarray) -> float:
    """PCnum = Σ a_i a_j exp(-dist_ij), reduced over blocks of rows (no n x n temporary)."""
    if a.size == 0:
        return 0.0
    return float(a @ _row_sums(dist, a, 0)[0])


@dataclass
class GraphMetrics:
    """Landscape and per-node connectivity metrics of a patch graph.

    Landscape attributes: ``PCnum`` (ha²), ``PC``, ``ECA_ha`` (ha), ``IICnum`` (ha²), ``IIC``,
    ``n_components``, ``PC_intra_pct`` / ``PC_direct_pct`` / ``PC_step_pct`` (Saura, Bodin & Fortin
    2014: share of PCnum from i = j, from pairs whose best path is their direct link, and from
    pairs connected through stepping stones).

    Per-node arrays (length n, in percent of PCnum / IICnum): ``dPC``, ``dPC_intra``,
    ``dPC_flux``, ``dPC_connector``, ``dIIC``, ``dIIC_intra``, ``dIIC_flux``, ``dIIC_connector``;
    ``betweenness`` (number of unordered pairs whose maximum-product path has the node as an
    interior vertex, weights ``-ln p``; equals unnormalised networkx betweenness when best paths are
    unique), ``BCPC`` (sum over ordered pairs through the node of a_i a_j p*_ij, ha²) and
    ``component`` (1-based connected component of the link graph).
    """

    PCnum: float
    PC: float
    ECA_ha: float
    IICnum: float
    IIC: float
    n_components: int
    PC_intra_pct: float
    PC_direct_pct: float
    PC_step_pct: float
    dPC: np.ndarray
    dPC_intra: np.ndarray
    dPC_flux: np.ndarray
    dPC_connector: np.ndarray
    dIIC: np.ndarray
    dIIC_intra: np.ndarray
    dIIC_flux: np.ndarray
    dIIC_connector: np.ndarray
    betweenness: np.ndarray
    BCPC: np.ndarray
    component: np.ndarray
    state: GraphState = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """Landscape-level numbers as plain Python types."""
        return {
            "PC": float(self.PC),
            "PCnum": float(self.PCnum),
            "ECA_ha": float(self.ECA_ha),
            "IIC": float(self.IIC),
            "IICnum": float(self.IICnum),
            "n_components": int(self.n_components),
            "PC_intra_pct": float(self.PC_intra_pct),
            "PC_direct_pct": float(self.PC_direct_pct),
            "PC_step_pct": float(self.PC_step_pct),
        }

    def node_table(self, patch_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """Per-node metrics as a DataFrame (``patch_id`` = 1..n unless given)."""
        n = self.dPC.size
        ids = np.arange(1, n + 1) if patch_ids is None else np.asarray(patch_ids)
        return pd.DataFrame(
            {
                "patch_id": ids,
                "dPC": self.dPC,
                "dPC_intra": self.dPC_intra,
                "dPC_flux": self.dPC_flux,
                "dPC_connector": self.dPC_connector,
                "dIIC": self.dIIC,
                "betweenness": self.betweenness,
                "component": self.component,
                "dIIC_intra": self.dIIC_intra,
                "dIIC_flux": self.dIIC_flux,
                "dIIC_connector": self.dIIC_connector,
                "BCPC": self.BCPC,
            }
        )


#: rows per block of the n x n reductions of :func:`_row_sums`
_ROW_BLOCK = 512


def _row_sums(M: np.ndarray, a: np.ndarray, mode: int, P: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Row sums ``Σ_j v_ij a_j``, the diagonal ``v_ii`` and (with predecessors ``P``) the direct-link
    sum ``Σ a_i a_j v_ij`` over pairs whose best path is their link, reduced over blocks of rows.

    ``v = exp(-M)`` (mode 0: p* from -ln p distances) or ``1 / (1 + M)`` with 0 for unreachable pairs
    (mode 1: IIC from hop counts). No n x n temporary is made.
    """
    n = a.size
    rows, diag, direct = np.zeros(n), np.zeros(n), 0.0
    for s in range(0, n, _ROW_BLOCK):
        e = min(n, s + _ROW_BLOCK)
        blk = M[s:e]
        if mode == 0:
            v = np.exp(-blk)
        else:
            with np.errstate(divide="ignore"):
                v = np.where(np.isfinite(blk), 1.0 / (1.0 + blk), 0.0)
        rows[s:e] = v @ a
        diag[s:e] = v[np.arange(e - s), np.arange(s, e)]
        if P is not None:
            direct += float(np.sum((a[s:e, None] * a[None, :] * v)[P[s:e] == np.arange(s, e)[:, None]]))
    return rows, diag, direct


def _fractions(a: np.ndarray, rows: np.ndarray, diag: np.ndarray, num: float, connector: np.ndarray) -> tuple[np.ndarray, ...]:
    n = a.size
    if num <= 0 or n == 0:
        z = np.zeros(n)
        return z, z.copy(), z.copy(), z.copy()
    intra = 100.0 * a * a / num
    flux = 100.0 * 2.0 * a * (rows - diag * a) / num
    conn = 100.0 * np.maximum(connector, 0.0) / num
    return intra + flux + conn, intra, flux, conn


def probability_metrics(
    areas_ha: Any,
    edges: Any,
    k_per_m: float,
    landscape_area_ha: float,
    *,
    iic_max_cost: float | None = None,
    node_metrics: bool = True,
    n_threads: int = 1,
    pc_tolerance: float = 0.0,
) -> GraphMetrics:
    """PC, ECA, IIC and node importance of a patch graph.

    Parameters
    ----------
    areas_ha : array-like
        Node weights a_i (ha), length n (``quality_ha`` in the pipeline).
    edges : array-like or tuple
        ``(i, j, cost)`` triples with 0-based node indices and cost distance d_ij
        (cost-weighted m), either an (m, 3) array / list or a tuple of three arrays. Duplicate pairs
        keep the cheapest; ``inf`` costs are ignored.
    k_per_m : float
        Kernel decay rate (``p_ij = exp(-k d_ij)``).
    landscape_area_ha : float
        A_L (ha) for PC = PCnum / A_L² and IIC.
    iic_max_cost : float, optional
        Binary-graph threshold for IIC: pairs linked if ``cost <= iic_max_cost`` (the pipeline uses
        d0, i.e. ``p_direct >= p0``). Default: every edge.
    node_metrics : bool
        Compute dPC / dIIC / betweenness (the landscape indices alone are cheaper).
    n_threads : int
        Threads for the node metrics (same result for any number).
    pc_tolerance : float
        0 = exact. Otherwise the connector fractions, betweenness and BCPC consider only ordered pairs
        with ``p*_ij >= e^-cut``, ``cut = ln((Σa)² / (pc_tolerance · PCnum))``: the pairs left out
        carry at most ``pc_tolerance · PCnum`` of PCnum in total, so every dPC value is within
        ``100 · pc_tolerance`` percentage points of the exact one (tested), and betweenness counts
        the pairs with a material probability of moving between them.

    Returns
    -------
    GraphMetrics

    Notes
    -----
    PCnum = Σ_i Σ_j a_i a_j p*_ij over ordered pairs including i = j; p*_ij = exp(-L_ij) with L
    the shortest path on ``-ln p``. dPC_k = 100 (PCnum - PCnum after removing k) / PCnum, split
    into intra (a_k²), flux (2 a_k Σ_{j≠k} a_j p*_kj) and connector; all are exact (see the module
    docstring for how the connector avoids deleting every node). Same for dIIC with
    1 / (1 + nl_ij).
    """
    a = _check_areas(areas_ha)
    n = a.size
    if not (np.isfinite(k_per_m) and k_per_m > 0):
        raise WerklandInputError(f"k = {k_per_m!r} must be a positive number", path="kernel")
    if not (np.isfinite(landscape_area_ha) and landscape_area_ha > 0):
        raise WerklandInputError(
            f"landscape area {landscape_area_ha!r} ha must be positive", path="landscape_area_ha"
        )
    i, j, c = _edge_arrays(edges, n)
    w = k_per_m * c
    zeros = np.zeros(n)
    if n:
        g = _sym_csr(n, i, j, w)
        ncomp, comp = csgraph.connected_components(g, directed=False)
        # renumber components 1.. in order of first node
        _, first = np.unique(comp, return_index=True)
        rank = np.empty(ncomp, np.int64)
        rank[np.argsort(first)] = np.arange(1, ncomp + 1)
        comp = rank[comp]
    else:
        g = sp.csr_matrix((0, 0))
        ncomp, comp = 0, np.zeros(0, np.int64)
    A2 = float(landscape_area_ha) ** 2
    # The n x n matrices dominate the memory (n = 22,000 patches: 3.9 GB per float64 matrix), so
    # IIC's hop counts are computed and released before PC's distances, and every n x n product
    # (exp(-D), 1 / (1 + H), the direct-link mask) is reduced over blocks of rows.
    # IIC: binary graph of links with cost <= iic_max_cost, hop counts nl_ij
    thr = np.inf if iic_max_cost is None else float(iic_max_cost)
    bin_mask = c <= thr
    iic_rows, iic_diag, iicnum, conn_iic = zeros, zeros, 0.0, zeros
    if n:
        gb = _sym_csr(n, i[bin_mask], j[bin_mask], np.ones(int(bin_mask.sum())))
        H, PH = csgraph.dijkstra(gb, directed=True, unweighted=True, return_predecessors=True)
        iic_rows, iic_diag, _ = _row_sums(H, a, 1)
        iicnum = float(a @ iic_rows)
        if node_metrics:
            conn_iic, _, _ = _tree_losses_all(gb, H, PH, a, 1, n_threads)
        del H, PH
    # PC: shortest paths on -ln p, p*_ij = exp(-L_ij)
    if n:
        D, P = csgraph.dijkstra(g, directed=True, return_predecessors=True)
    else:
        D, P = np.zeros((0, 0)), np.zeros((0, 0), np.int32)
    pc_rows, pc_diag, direct_sum = _row_sums(D, a, 0, P)
    pcnum = float(a @ pc_rows) if n else 0.0
    # overall fractions: intra, direct (best path = the direct link), stepping stone
    intra_sum = float(np.sum(a * a))
    step_sum = max(pcnum - intra_sum - direct_sum, 0.0)
    pct = (lambda x: 100.0 * x / pcnum if pcnum > 0 else 0.0)  # noqa: E731
    state = GraphState(a, i, j, c, float(k_per_m), float(landscape_area_ha), D, pcnum)
    if node_metrics and n:
        limit = math.inf
        if pc_tolerance > 0 and pcnum > 0 and a.sum() > 0:
            limit = max(math.log(float(a.sum()) ** 2 / (pc_tolerance * pcnum)), 0.0)
        conn_pc, bc, bcpc = _tree_losses_all(g, D, P, a, 0, n_threads, limit)
        dpc = _fractions(a, pc_rows, pc_diag, pcnum, conn_pc)
        diic = _fractions(a, iic_rows, iic_diag, iicnum, conn_iic)
        betweenness = bc / 2.0
    else:
        dpc = (zeros, zeros, zeros, zeros)
        diic = (zeros, zeros, zeros, zeros)
        betweenness, bcpc = zeros, zeros
    return GraphMetrics(
        PCnum=pcnum,
        PC=pcnum / A2,
        ECA_ha=math.sqrt(max(pcnum, 0.0)),
        IICnum=iicnum,
        IIC=iicnum / A2,
        n_components=int(ncomp),
        PC_intra_pct=pct(intra_sum),
        PC_direct_pct=pct(direct_sum),
        PC_step_pct=pct(step_sum),
        dPC=dpc[0],
        dPC_intra=dpc[1],
        dPC_flux=dpc[2],
        dPC_connector=dpc[3],
        dIIC=diic[0],
        dIIC_intra=diic[1],
        dIIC_flux=diic[2],
        dIIC_connector=diic[3],
        betweenness=np.asarray(betweenness, dtype=np.float64),
        BCPC=np.asarray(bcpc, dtype=np.float64),
        component=np.asarray(comp, dtype=np.int64),
        state=state,
    )


#: sources per chunk of :func:`_tree_losses_all` (fixed, so the summation order -- and the result to
#: the last bit -- does not depend on the number of threads)
_TREE_CHUNK = 256


def _tree_losses_all(g: Any, D: np.ndarray, P: np.ndarray, a: np.ndarray, mode: int, n_threads: int = 1,
                     limit: float = math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`tree_losses` over every source, in fixed chunks of sources run on ``n_threads`` threads.

    The compiled kernel releases the GIL; the chunks' partial sums are added in chunk order.
    """
    n = a.size
    args = (g.indptr.astype(np.int64), g.indices.astype(np.int64),
            np.ones(g.nnz) if mode == 1 else g.data.astype(np.float64),
            np.ascontiguousarray(D), np.ascontiguousarray(P), a, mode)  # P stays int32: no n x n int64 copy
    bounds = [(s, min(n, s + _TREE_CHUNK)) for s in range(0, n, _TREE_CHUNK)]
    if n_threads <= 1 or len(bounds) < 2:
        parts = [tree_losses(*args, s, e, limit) for s, e in bounds]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n_threads) as ex:
            parts = list(ex.map(lambda b: tree_losses(*args, b[0], b[1], limit), bounds))
    out = [np.zeros(n), np.zeros(n), np.zeros(n)]
    for part in parts:
        for acc, x in zip(out, part, strict=True):
            acc += x
    return out[0], out[1], out[2]


def naive_node_importance(
    areas_ha: Any,
    edges: Any,
    k_per_m: float,
    *,
    iic_max_cost: float | None = None,
) -> dict[str, np.ndarray]:
    """Test oracle: dPC and dIIC by deleting each node and recomputing everything.

    O(n) all-pairs shortest-path runs; use only on small graphs.

    Returns
    -------
    dict
        ``dPC`` and ``dIIC`` arrays (percent), plus ``PCnum`` and ``IICnum`` (ha²).
    """
    a = _check_areas(areas_ha)
    n = a.size
    i, j, c = _edge_arrays(edges, n)
    thr = np.inf if iic_max_cost is None else float(iic_max_cost)

    def nums(aa: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
        m = keep[i] & keep[j]
        D = _apsp(n, i[m], j[m], k_per_m * c[m])
        pc = float(aa @ np.exp(-D) @ aa)
        mb = m & (c <= thr)
        g = _sym_csr(n, i[mb], j[mb], np.ones(int(mb.sum())))
        H = csgraph.shortest_path(g, directed=True, unweighted=True)
        iic = float(aa @ np.where(np.isfinite(H), 1.0 / (1.0 + H), 0.0) @ aa)
        return pc, iic

    if n == 0:
        return {"dPC": np.zeros(0), "dIIC": np.zeros(0), "PCnum": 0.0, "IICnum": 0.0}
    pc0, iic0 = nums(a, np.ones(n, bool))
    dpc, diic = np.zeros(n), np.zeros(n)
    for k in range(n):
        keep = np.ones(n, bool)
        keep[k] = False
        ak = a.copy()
        ak[k] = 0.0
        pck, iick = nums(ak, keep)
        dpc[k] = 100.0 * (pc0 - pck) / pc0 if pc0 > 0 else 0.0
        diic[k] = 100.0 * (iic0 - iick) / iic0 if iic0 > 0 else 0.0
    return {"dPC": dpc, "dIIC": diic, "PCnum": pc0, "IICnum": iic0}


# =============================================================================================
# What-if: link changes
# =============================================================================================


@dataclass(frozen=True)
class LinkChangeResult:
    """Effect of changed links (and optionally node weights) on PC / ECA.

    Attributes
    ----------
    PCnum_before, PCnum_after : float
        ha².
    ECA_before_ha, ECA_after_ha, dECA_ha : float
        ha; ``dECA_ha = after - before``.
    dECA_pct : float
        100 (ECA_after - ECA_before) / ECA_before (0 if the baseline is 0).
    dPC_pct : float
        100 (PCnum_after - PCnum_before) / PCnum_before (0 if the baseline is 0).
    state : GraphState or None
        The graph after the change (reusable for further changes); None when not asked for.
    """

    PCnum_before: float
    PCnum_after: float
    ECA_before_ha: float
    ECA_after_ha: float
    dECA_ha: float
    dECA_pct: float
    dPC_pct: float
    state: GraphState | None


def eca_after_link_change(
    state: GraphState,
    changes: Iterable[tuple[int, int, float]],
    *,
    areas_ha: Any | None = None,
    max_incremental: int = 1024,
    pc_tolerance: float = 0.0,
    with_state: bool = True,
) -> LinkChangeResult:
    """ECA and PC after changing, adding or removing links of a patch graph.

    Parameters
    ----------
    state : GraphState
        Baseline (``GraphState.build`` or ``probability_metrics(...).state``).
    changes : iterable of (i, j, new_cost)
        0-based node pair and its new cost distance (cost-weighted m); a pair without a link is
        added, ``new_cost = inf`` removes the link.
    areas_ha : array-like, optional
        New node weights (ha); default unchanged.
    max_incremental : int
        Up to this many decreases/additions are applied with the exact edge-insertion update
        ``D' = min(D, D[:, u] + w + D[v, :], D[:, v] + w + D[u, :])`` (compiled, scanning only the
        rows that improve); more changes, or any
        increase/removal, trigger an exact full recomputation. Decreases that leave the link no
        shorter than the pair's current graph distance are recorded but change no distance, so they
        neither count nor cost anything.
    pc_tolerance : float
        0 = exact. Otherwise decreases are applied only among the nodes within ``-ln p* <= cut`` of
        a changed pair, ``cut = ln((Σa)² / (pc_tolerance · PCnum))``: the pairs left as they are could
        gain at most ``pc_tolerance · PCnum`` in total (the distances outside that block are not
        updated in the returned state).
    with_state : bool
        False: only the figures are wanted (``state`` is None), so the incremental update works on
        the block near the change without copying the n x n distance matrix.

    Returns
    -------
    LinkChangeResult
    """
    n = state.areas_ha.size
    a_new = state.areas_ha if areas_ha is None else _check_areas(areas_ha)
    if a_new.size != n:
        raise WerklandInputError(f"areas_ha has {a_new.size} values for {n} nodes", path="areas_ha")
    # the link table as arrays (tens of thousands of links): changes located by binary search
    cost = np.asarray(state.cost, np.float64).copy()
    keep = np.ones(cost.size, bool)
    added: dict[tuple[int, int], float] = {}
    decreases: list[tuple[int, int, float]] = []
    full = False
    for ci, cj, cc in changes:
        u, v = int(min(ci, cj)), int(max(ci, cj))
        if u == v:
            continue
        if not (0 <= u < n and 0 <= v < n):
            raise WerklandInputError(f"link ({ci}, {cj}) refers to a node outside 0..{n - 1}", path="changes")
        cc = float(cc)
        if math.isnan(cc) or cc < 0:
            raise WerklandInputError(f"new cost {cc!r} of link ({ci}, {cj}) is invalid", path="changes")
        row = int(state.link_rows(u, v))
        if row >= 0:
            old = cost[row] if keep[row] else math.inf
            keep[row] = not math.isinf(cc)
            cost[row] = cc
        else:
            old = added.get((u, v), math.inf)
            if math.isinf(cc):
                added.pop((u, v), None)
            else:
                added[(u, v)] = cc
        if cc > old:
            full = True
        elif cc < old:
            decreases.append((u, v, cc))
    ni, nj, nc = _edge_arrays((
        np.concatenate([state.i[keep], np.array([p[0] for p in added], np.int64)]),
        np.concatenate([state.j[keep], np.array([p[1] for p in added], np.int64)]),
        np.concatenate([cost[keep], np.array(list(added.values()), np.float64)]),
    ), n)
    # a cheaper link that is still no shorter than the pair's graph distance changes no shortest
    # path (any path using it can take the existing one instead), so only the others are applied
    effective = [(u, v, cc) for u, v, cc in decreases if state.k_per_m * cc < state.dist[u, v]]
    pc_before = _pcnum(state.areas_ha, state.dist) if areas_ha is not None else state.pcnum
    if full or len(effective) > max_incremental:
        dist = _apsp(n, ni, nj, state.k_per_m * nc)
        pc_after = _pcnum(a_new, dist)
    else:
        dist = state.dist
        tot = float(a_new.sum())
        block = None
        if pc_tolerance > 0 and areas_ha is None and effective and state.pcnum > 0 and tot > 0:
            cut = max(math.log(tot * tot / (pc_tolerance * state.pcnum)), 0.0)
            ends = sorted({x for u, v, _ in effective for x in (u, v)})
            block = np.flatnonzero(dist[ends].min(axis=0) <= cut)
            if block.size == n:
                block = None  # the whole graph is near the change
        delta = 0.0
        if block is not None:
            pos = np.full(n, -1, np.int64)
            pos[block] = np.arange(block.size)
            sub = np.ascontiguousarray(dist[np.ix_(block, block)])
            a_sub = np.ascontiguousarray(a_new[block])
            for u, v, cc in effective:
                delta += insert_edge(sub, int(pos[u]), int(pos[v]), state.k_per_m * cc, a_sub)
            if with_state:
                dist = dist.copy()
                dist[np.ix_(block, block)] = sub
        else:
            if effective:
                dist = dist.copy()
            for u, v, cc in effective:
                delta += insert_edge(dist, int(u), int(v), state.k_per_m * cc, a_new)
        # node weights changed: recompute; else the telescoped change of the updated entries
        pc_after = _pcnum(a_new, dist) if areas_ha is not None else pc_before + delta
    new_state = GraphState(a_new, ni, nj, nc, state.k_per_m, state.landscape_area_ha, dist, pc_after) if with_state else None
    e0, e1 = math.sqrt(max(pc_before, 0.0)), math.sqrt(max(pc_after, 0.0))
    return LinkChangeResult(
        PCnum_before=pc_before,
        PCnum_after=pc_after,
        ECA_before_ha=e0,
        ECA_after_ha=e1,
        dECA_ha=e1 - e0,
        dECA_pct=100.0 * (e1 - e0) / e0 if e0 > 0 else 0.0,
        dPC_pct=100.0 * (pc_after - pc_before) / pc_before if pc_before > 0 else 0.0,
        state=new_state,
    )


# =============================================================================================
# Pipeline entry point
# =============================================================================================


def _param(params: Mapping[str, Any], key: str, guild: str, default: Any = ...) -> Any:
    if key in params and params[key] is not None:
        return params[key]
    if default is ...:
        raise WerklandInputError(
            f"missing parameter {key!r}", path=f"config/guilds.yaml: guilds.{guild}", fix=f"add {key} to the guild"
        )
    return default


def _region_area_ha(region_path: Any, crs: Any, fallback_cells: int, cell_area_m2: float) -> tuple[float, str]:
    if region_path is not None and Path(region_path).exists():
        import geopandas as gpd

        try:
            reg = gpd.read_file(region_path, layer="region")
        except Exception as exc:  # noqa: BLE001 - report as input error
            raise WerklandInputError(
                f"cannot read layer 'region' ({exc})", path=str(region_path), fix="re-run the region rule"
            ) from exc
        if len(reg) and reg.crs is not None:
            if crs is not None and not reg.crs.equals(crs):
                reg = reg.to_crs(crs)
            area = float(reg.geometry.area.sum())
            if area > 0:
                return area / 1e4, "region polygon"
    return fallback_cells * cell_area_m2 / 1e4, "cells inside the region"


def _line_geoms(links: LinkSet, grid: Any) -> list[Any]:
    import shapely

    if links.n == 0:
        return []
    W = grid.width
    t = grid.transform
    cells = links.path_cells
    rows, cols = cells // W, cells % W
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    counts = np.diff(links.path_ptr)
    idx = np.repeat(np.arange(links.n), counts)
    # a one-cell path cannot happen between distinct patches; guard anyway
    coords = np.column_stack([x, y])
    if np.any(counts < 2):
        extra_idx = np.flatnonzero(counts < 2)
        coords = np.vstack([coords, coords[links.path_ptr[extra_idx]]])
        idx = np.concatenate([idx, extra_idx])
        order = np.argsort(idx, kind="stable")
        coords, idx = coords[order], idx[order]
    return list(shapely.linestrings(coords, indices=idx))


def run_connectivity(
    habitat_path: str | os.PathLike[str],
    resistance_path: str | os.PathLike[str],
    region_path: str | os.PathLike[str] | None,
    out_patches_gpkg: str | os.PathLike[str],
    out_patches_tif: str | os.PathLike[str],
    out_links_gpkg: str | os.PathLike[str],
    out_graphml: str | os.PathLike[str],
    out_metrics_csv: str | os.PathLike[str],
    out_summary_json: str | os.PathLike[str],
    out_corridors_tif: str | os.PathLike[str] | None,
    *,
    guild: str,
    params: Mapping[str, Any],
    convention: str = "conefor",
) -> dict[str, Any]:
    """Run the connectivity stage for one region and guild and write all its outputs.

    Parameters
    ----------
    habitat_path : path-like
        ``habitat/{guild}.tif``: float32 suitability 0..1, nodata -1 outside the region.
    resistance_path : path-like
        ``resistance/{guild}.tif``: float32 resistance >= 1 per metre, nodata -1 = impassable.
    region_path : path-like or None
        ``region.gpkg`` (layer ``region``) for A_L; if absent, the area of the cells inside the
        region is used.
    out_patches_gpkg, out_patches_tif, out_links_gpkg, out_graphml, out_metrics_csv, out_summary_json, out_corridors_tif : path-like
        Outputs of the data contract (``docs/architecture.md``); ``out_corridors_tif = None``
        skips the corridor raster.
    guild : str
        Guild name (for messages and metadata).
    params : mapping
        Guild parameters: ``suitability_threshold``, ``min_patch_area_m2``, ``d0_m`` (required);
        ``edge_band_m`` (0), ``p0`` (the convention's value), ``p_floor`` (0.001: links and
        searches stop where p falls below it), ``corridor_width`` (cost-weighted m, default d0),
        ``iic_max_cost`` (cost-weighted m, default d0: the IIC binary graph links pairs with
        ``p_direct >= p0``), ``n_threads`` (2), ``tile_cells`` (0 = untiled; else the side of the
        overlapping tiles of :mod:`werkland.tiling`, same results with less memory),
        ``metrics_tolerance`` (0 = exact node metrics; see :func:`probability_metrics`).
    convention : {"conefor", "graphab"}
        Kernel convention; never mixed within a run.

    Returns
    -------
    dict
        The summary written to ``out_summary_json``.
    """
    import geopandas as gpd
    import networkx as nx

    from werkland.raster import io as wio

    t_start = time.perf_counter()
    warnings: list[str] = []
    threshold = float(_param(params, "suitability_threshold", guild))
    min_area = float(_param(params, "min_patch_area_m2", guild))
    edge_band = float(_param(params, "edge_band_m", guild, 0.0))
    d0 = float(_param(params, "d0_m", guild))
    p0_cfg = params.get("p0")
    if convention == "graphab":
        p0 = CONVENTIONS["graphab"]
        warnings.append(
            f"Graphab convention: p = 0.05 at d0 = {d0:g} cost-m (k is {math.log(20) / math.log(2):.1f}x the "
            "Conefor k for the same d0)"
        )
    else:
        p0 = float(p0_cfg) if p0_cfg is not None else None
    kern = dispersal_kernel(d0, convention, p0)
    p_floor = float(_param(params, "p_floor", guild, P_FLOOR_DEFAULT))
    if not (0 < p_floor < kern.p0):
        raise WerklandInputError(f"p_floor {p_floor} must be in (0, p0)", path=f"guilds.{guild}.p_floor")
    max_cost = kern.max_cost(p_floor)
    width = float(_param(params, "corridor_width", guild, d0))
    iic_max = float(_param(params, "iic_max_cost", guild, d0))
    n_threads = int(_param(params, "n_threads", guild, min(2, os.cpu_count() or 1)))
    metrics_tol = float(_param(params, "metrics_tolerance", guild, 0.0))
    if not 0 <= metrics_tol <= 0.01:
        raise WerklandInputError(f"metrics_tolerance {metrics_tol!r} must be in 0..0.01", path="config: connectivity.metrics_tolerance")

    suit, grid, s_nodata = wio.read_raster(habitat_path)
    res_raw, rgrid, r_nodata = wio.read_raster(resistance_path)
    if res_raw.shape != suit.shape or not np.allclose(tuple(rgrid.transform), tuple(grid.transform)):
        raise WerklandInputError(
            f"resistance grid {res_raw.shape} does not match habitat grid {suit.shape}",
            path=str(resistance_path),
            fix="re-run the habitat rule so both rasters share one grid",
        )
    if abs(grid.transform.a + grid.transform.e) > 1e-9 * abs(grid.transform.a):
        raise WerklandInputError("pixels are not square", path=str(habitat_path))
    res_m = grid.res_m
    suit = suit.astype(np.float64)
    valid = np.isfinite(suit) & (suit >= 0)
    if s_nodata is not None and np.isfinite(s_nodata):
        valid &= suit != s_nodata
    suit = np.where(valid, suit, -1.0)
    resistance = prepare_resistance(res_raw, r_nodata)
    A_L, a_l_source = _region_area_ha(region_path, grid.crs, int(valid.sum()), grid.cell_area_m2)
    if not A_L > 0:
        A_L = grid.height * grid.width * grid.cell_area_m2 / 1e4
        warnings.append("region has no area inside the habitat raster; A_L = raster extent")

    # 1. patches
    ps = find_patches(suit, res_m=res_m, threshold=threshold, min_area_m2=min_area, edge_band_m=edge_band, valid=valid)
    n = ps.n
    if n == 0:
        warnings.append(
            f"no habitat patches: no 8-connected area with suitability >= {threshold:g} covers "
            f"{min_area:g} m2; all indices are 0"
        )
    elif n == 1:
        warnings.append("only one habitat patch: no links; PCnum is the square of its quality area")
    if n and bool(ps.table["touches_border"].all()):
        warnings.append(
            f"all {n} patches touch the region border: habitat and links beyond it are unknown, so "
            "connectivity is a lower bound"
        )
    passable = np.isfinite(resistance)
    if not passable.any():
        warnings.append("resistance is impassable everywhere (all nodata): no links can form")
    if n:
        imp = np.bincount(ps.labels.ravel()[passable.ravel()], minlength=n + 1)[1:] == 0
        if imp.any():
            warnings.append(f"{int(imp.sum())} patches lie entirely on impassable cells and cannot link")

    # 2. links (+ corridors), over overlapping tiles when the region is large (werkland.tiling)
    tile_cells = int(_param(params, "tile_cells", guild, 0) or 0)
    if tile_cells and tile_cells < max(resistance.shape):
        from werkland.tiling import build_links_tiled

        links = build_links_tiled(
            resistance, ps.labels, res_m=res_m, max_cost=max_cost, tile_cells=tile_cells,
            corridor_width=width if out_corridors_tif is not None else None, n_threads=n_threads,
        )
    else:
        links = build_links(
            resistance,
            ps.labels,
            res_m=res_m,
            max_cost=max_cost,
            corridor_width=width if out_corridors_tif is not None else None,
            n_threads=n_threads,
        )
    if n > 1 and links.n == 0:
        warnings.append(f"no pair of patches is within the maximum cost distance {max_cost:.0f} (p >= {p_floor:g})")
    t_links = time.perf_counter()

    # 3./4. metrics
    a = ps.table["quality_ha"].to_numpy()
    gm = probability_metrics(
        a, (links.from_id - 1, links.to_id - 1, links.cost), kern.k_per_m, A_L, iic_max_cost=iic_max,
        n_threads=n_threads, pc_tolerance=metrics_tol,
    )
    t_metrics = time.perf_counter()

    # outputs: patches
    crs_wkt = grid.crs.to_wkt()
    polys = patch_polygons(ps.labels, grid.transform, n)
    node_tab = gm.node_table(ps.table["patch_id"].to_numpy())
    ptab = ps.table.merge(node_tab[["patch_id", "dPC", "component"]], on="patch_id", how="left")
    pg = gpd.GeoDataFrame(ptab, geometry=gpd.GeoSeries(polys, crs=crs_wkt), crs=crs_wkt)
    wio.write_gpkg(pg, out_patches_gpkg, "patches")
    tags = {"units": "patch id", "guild": guild, "nodata": 0}
    wio.write_raster(out_patches_tif, ps.labels.astype(np.int32), grid, nodata=0, tags=tags)

    # links
    import shapely

    p_direct = kern.p(links.cost)
    if links.n:
        euclid = shapely.distance(
            np.asarray(polys, dtype=object)[links.from_id - 1], np.asarray(polys, dtype=object)[links.to_id - 1]
        )
    else:
        euclid = np.zeros(0)
    ltab = pd.DataFrame(
        {
            "link_id": np.arange(1, links.n + 1, dtype=np.int64),
            "from_id": links.from_id,
            "to_id": links.to_id,
            "cost_distance": links.cost,
            "euclid_m": np.asarray(euclid, dtype=np.float64),
            "p_direct": p_direct,
            "path_cells": np.diff(links.path_ptr).astype(np.int64),
        }
    )
    lg = gpd.GeoDataFrame(ltab, geometry=gpd.GeoSeries(_line_geoms(links, grid), crs=crs_wkt), crs=crs_wkt)
    wio.write_gpkg(lg, out_links_gpkg, "links")

    # graphml
    G = nx.Graph(guild=guild, d0_m=kern.d0_m, p0=kern.p0, k_per_m=kern.k_per_m, convention=kern.convention)
    full = ptab.merge(node_tab.drop(columns=["dPC", "component"]), on="patch_id", how="left")
    for row in full.itertuples(index=False):
        G.add_node(
            int(row.patch_id),
            **{k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v) if isinstance(v, (float, np.floating)) else int(v))
               for k, v in row._asdict().items() if k != "patch_id"},
        )
    for row in ltab.itertuples(index=False):
        G.add_edge(
            int(row.from_id), int(row.to_id), link_id=int(row.link_id), cost_distance=float(row.cost_distance),
            euclid_m=float(row.euclid_m), p_direct=float(row.p_direct),
            weight=float(kern.k_per_m * row.cost_distance),
        )
    with wio.atomic_path(out_graphml) as tmp:
        nx.write_graphml(G, tmp)

    # metrics table
    wio.write_csv(node_tab, out_metrics_csv)

    # corridors
    if out_corridors_tif is not None:
        corr = links.corridor if links.corridor is not None else np.full(grid.shape, np.inf, np.float32)
        corr = np.where(np.isfinite(corr), corr, np.float32(-1)).astype(np.float32)
        wio.write_raster(
            out_corridors_tif, corr, grid, nodata=-1.0,
            tags={"units": "cost-weighted metres above the least-cost distance", "width": width, "guild": guild,
                  "definition": "min over links of CWD_a + CWD_b - LCD_ab, cells above width = nodata"},
        )

    summary: dict[str, Any] = {
        **gm.summary(),
        "guild": guild,
        "n_patches": int(n),
        "n_links": int(links.n),
        "n_patches_dropped_small": int(ps.n_dropped),
        "n_patches_touching_border": int(ps.table["touches_border"].sum()),
        "total_patch_area_ha": float(ps.table["area_ha"].sum()),
        "total_quality_ha": float(a.sum()),
        "landscape_area_ha": float(A_L),
        "landscape_area_source": a_l_source,
        "d0_m": kern.d0_m,
        "p0": kern.p0,
        "k_per_m": kern.k_per_m,
        "convention": kern.convention,
        "p_floor": p_floor,
        "metrics_tolerance": metrics_tol,
        "max_cost_distance": max_cost,
        "iic_max_cost": iic_max,
        "corridor_width": width,
        "distance_type": "least-cost (MCP_Geometric, 8 neighbours, step length x mean resistance), edge to edge",
        "resolution_m": res_m,
        "crs": grid.crs.to_string(),
        "units": {
            "PCnum": "ha2", "ECA_ha": "ha", "IICnum": "ha2", "landscape_area_ha": "ha",
            "d0_m": "cost-weighted m", "k_per_m": "1 / cost-weighted m", "cost_distance": "cost-weighted m",
            "euclid_m": "m", "dPC": "% of PCnum", "dIIC": "% of IICnum",
        },
        "timing_s": {
            "links": round(t_links - t_start, 3),
            "metrics": round(t_metrics - t_links, 3),
            "total": round(time.perf_counter() - t_start, 3),
        },
        "warnings": warnings,
    }
    wio.write_json(summary, out_summary_json)
    for w_ in warnings:
        log.warning("%s: %s", guild, w_)
    log.info(
        "%s: %d patches, %d links, ECA %.2f ha, PC %.4g in %.1f s",
        guild, n, links.n, gm.ECA_ha, gm.PC, time.perf_counter() - t_start,
    )
    return summary
