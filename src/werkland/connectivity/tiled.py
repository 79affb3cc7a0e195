"""Overlapping tiles for regions too large for one job's memory.

The memory of the connectivity stage is dominated by the per-thread work arrays of the bounded
cost-distance searches (cumulative cost and predecessor per cell, about 16 bytes per cell, 36 with
corridors). :func:`build_links_tiled` splits the raster into square core tiles; each patch is
*owned* by the tile that holds its first cell (in row-major order), and the searches from a tile's
own patches run on a window = the bounding box of those patches grown by an overlap of at least the
largest search cost divided by the smallest resistance (a search cannot reach further than that).
Inside such a window every search from an owned patch is exactly the search on the whole raster,
so the merged link set, paths and corridor raster equal an untiled run's -- while the work arrays
only ever span one window.

(The generic window planner of stages whose result at a cell depends only on nearby cells, such as
the habitat stage's edge band, is :func:`werkland.raster.windows.plan_windows`.)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from werkland.connectivity.links import LinkSet, build_links

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tile:
    """One core tile and the window its searches run on (row/column slices of the full raster).

    Attributes
    ----------
    core : tuple of slice
        The core tile (rows, columns).
    window : tuple of slice
        Bounding box of the owned patches grown by the overlap, clipped to the raster.
    patch_ids : numpy.ndarray
        Patches owned by the tile (their first cell lies in the core).
    """

    core: tuple[slice, slice]
    window: tuple[slice, slice]
    patch_ids: np.ndarray

    @property
    def window_cells(self) -> int:
        """Number of cells of the window."""
        return (self.window[0].stop - self.window[0].start) * (self.window[1].stop - self.window[1].start)


def overlap_cells(search_cost: float, res_m: float, min_resistance: float) -> int:
    """Cells a search of ``search_cost`` (cost-weighted m) can reach at most, plus one.

    A step of length ``l`` costs at least ``l * min_resistance``, so no cell farther than
    ``search_cost / min_resistance`` metres from the source is reached.

    Raises
    ------
    ValueError
        A resolution or minimum resistance that is not positive.
    """
    if not (min_resistance > 0 and res_m > 0):
        raise ValueError("resolution and minimum resistance must be positive")
    return int(math.ceil(search_cost / (min_resistance * res_m))) + 1


def plan_tiles(labels: np.ndarray, tile_cells: int, overlap: int) -> list[Tile]:
    """Split the raster into core tiles and give each the patches it owns and its search window.

    Parameters
    ----------
    labels : numpy.ndarray
        Patch ids (0 = none), 1..n.
    tile_cells : int
        Side of a core tile in cells.
    overlap : int
        Cells added around the owned patches' bounding box (:func:`overlap_cells`).

    Returns
    -------
    list of Tile
        Tiles that own at least one patch, in row-major order.

    Raises
    ------
    ValueError
        ``tile_cells < 1``.
    """
    if tile_cells < 1:
        raise ValueError("tile_cells must be >= 1")
    H, W = labels.shape
    flat = labels.ravel()
    n = int(flat.max()) if flat.size else 0
    if n == 0:
        return []
    cells = np.flatnonzero(flat)
    ids = flat[cells]
    # first cell (row-major) and bounding box of every patch
    first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, ids, cells)
    rows, cols = np.divmod(cells, W)
    rmin = np.full(n + 1, H, np.int64)
    rmax = np.full(n + 1, -1, np.int64)
    cmin = np.full(n + 1, W, np.int64)
    cmax = np.full(n + 1, -1, np.int64)
    np.minimum.at(rmin, ids, rows)
    np.maximum.at(rmax, ids, rows)
    np.minimum.at(cmin, ids, cols)
    np.maximum.at(cmax, ids, cols)
    frow, fcol = np.divmod(first[1:], W)
    n_cols = (W + tile_cells - 1) // tile_cells
    owner = (frow // tile_cells) * n_cols + (fcol // tile_cells)
    tiles = []
    for t in np.unique(owner):
        pids = np.flatnonzero(owner == t) + 1
        tr, tc = divmod(int(t), n_cols)
        core = (slice(tr * tile_cells, min(H, (tr + 1) * tile_cells)), slice(tc * tile_cells, min(W, (tc + 1) * tile_cells)))
        r0 = max(0, int(rmin[pids].min()) - overlap)
        r1 = min(H, int(rmax[pids].max()) + 1 + overlap)
        c0 = max(0, int(cmin[pids].min()) - overlap)
        c1 = min(W, int(cmax[pids].max()) + 1 + overlap)
        tiles.append(Tile(core, (slice(r0, r1), slice(c0, c1)), pids))
    return tiles


def build_links_tiled(
    resistance: np.ndarray,
    labels: np.ndarray,
    *,
    res_m: float,
    max_cost: float,
    tile_cells: int,
    corridor_width: float | None = None,
    n_threads: int = 2,
    with_paths: bool = True,
) -> LinkSet:
    """:func:`~werkland.connectivity.links.build_links` over overlapping tiles; the same result, less memory.

    Parameters
    ----------
    resistance : numpy.ndarray
        Output of :func:`~werkland.connectivity.links.prepare_resistance` (``inf`` impassable).
    labels : numpy.ndarray
        Patch ids (0 = none).
    res_m : float
        Pixel size in metres.
    max_cost : float
        Link bound (cost-weighted m).
    tile_cells : int
        Side of a core tile in cells.
    corridor_width : float, optional
        Corridor truncation (cost-weighted m); the overlap covers ``max_cost + corridor_width``.
        None: no corridor raster.
    n_threads : int
        Worker threads inside each window.
    with_paths : bool
        Trace least-cost paths (cell indices are returned in full-raster numbering).

    Returns
    -------
    LinkSet
        Links sorted like an untiled run (by ``from_id`` then ``to_id``).
    """
    H, W = labels.shape
    finite = resistance[np.isfinite(resistance)]
    min_res = float(finite.min()) if finite.size else 1.0
    search = float(max_cost) + (float(corridor_width) if corridor_width is not None else 0.0)
    overlap = overlap_cells(search, res_m, min_res)
    tiles = plan_tiles(labels, tile_cells, overlap)
    corridor = np.full((H, W), np.inf, dtype=np.float32) if corridor_width is not None else None
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]] = []
    t0 = time.perf_counter()
    largest = 0
    for k, tile in enumerate(tiles, start=1):
        rs, cs = tile.window
        largest = max(largest, tile.window_cells)
        links = build_links(
            resistance[rs, cs], labels[rs, cs], res_m=res_m, max_cost=max_cost, corridor_width=corridor_width,
            n_threads=n_threads, with_paths=with_paths, sources=tile.patch_ids,
        )
        paths: list[np.ndarray] = []
        if with_paths:
            ww = cs.stop - cs.start
            for e in range(links.n):
                local = links.path_cells[links.path_ptr[e] : links.path_ptr[e + 1]]
                lr, lc = np.divmod(local, ww)
                paths.append((lr + rs.start) * W + (lc + cs.start))
        parts.append((links.from_id, links.to_id, links.cost, paths))
        if corridor is not None and links.corridor is not None:
            np.minimum(corridor[rs, cs], links.corridor, out=corridor[rs, cs])
        log.info("tiles: %d/%d done (%d patches, window %d cells, %.1f s)", k, len(tiles), tile.patch_ids.size,
                 tile.window_cells, time.perf_counter() - t0)
    log.info("tiles: %d tiles of %d cells, overlap %d cells, largest window %d cells (raster %d)",
             len(tiles), tile_cells, overlap, largest, H * W)
    return _merge(parts, corridor, with_paths, float(max_cost))


def _merge(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]], corridor: np.ndarray | None,
    with_paths: bool, max_cost: float,
) -> LinkSet:
    """One link set of the tiles' links (and full-raster paths), sorted by ``from_id`` then ``to_id``."""
    if parts:
        f = np.concatenate([p[0] for p in parts]).astype(np.int64)
        t = np.concatenate([p[1] for p in parts]).astype(np.int64)
        c = np.concatenate([p[2] for p in parts]).astype(np.float64)
        all_paths = [q for p in parts for q in p[3]]
    else:
        f = t = np.empty(0, np.int64)
        c = np.empty(0, np.float64)
        all_paths = []
    order = np.lexsort((t, f))
    f, t, c = f[order], t[order], c[order]
    if with_paths and all_paths:
        ordered = [all_paths[i] for i in order]
        ptr = np.zeros(len(ordered) + 1, np.int64)
        ptr[1:] = np.cumsum([len(p) for p in ordered])
        cells = np.concatenate(ordered).astype(np.int64)
    else:
        ptr = np.zeros(1 if not with_paths else f.size + 1, np.int64)
        cells = np.empty(0, np.int64)
    return LinkSet(from_id=f, to_id=t, cost=c, path_ptr=ptr, path_cells=cells, corridor=corridor, max_cost=max_cost)
