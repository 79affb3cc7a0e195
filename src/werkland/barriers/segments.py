"""Barrier segments: barrier classes, centre lines split at junctions and by length, footprints.

The land-cover polygons of each barrier class are rasterised, skeletonised to a one-cell centre line,
split at junctions (centre-line cells with >= 3 separate runs of neighbours around them, i.e.
crossing number >= 3) and into pieces of at most ``max_length_m``. Each piece is a segment with a
deterministic ``segment_id`` ``"<class>:<chain>:<piece>"`` (chains numbered in raster-scan order,
pieces along the chain), its centre line as geometry and the barrier cells nearest to it as its
footprint (the cells a measure would change).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import rasterize
from scipy import ndimage
from skimage.measure import label as sk_label
from skimage.morphology import skeletonize

from werkland._errors import WerklandInputError
from werkland.connectivity import cost_distance_bounded

log = logging.getLogger(__name__)

#: Pieces of one chain are keyed ``chain * _PIECE_BASE + piece``.
_PIECE_BASE = 100000


# neighbour ring positions (clockwise from NW) and the junction lookup table
_RING = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _ring_components_lut() -> np.ndarray:
    """Number of separate runs of set neighbours around a cell, for each of the 256 ring configs."""
    lut = np.zeros(256, np.int8)
    for cfg in range(256):
        on = [i for i in range(8) if cfg >> i & 1]
        seen: set[int] = set()
        comps = 0
        for s in on:
            if s in seen:
                continue
            comps += 1
            stack = [s]
            seen.add(s)
            while stack:
                u = stack.pop()
                for v in on:
                    if v not in seen and (u - v) % 8 in (1, 7):  # consecutive around the ring
                        seen.add(v)
                        stack.append(v)
        lut[cfg] = comps
    return lut


_LUT = _ring_components_lut()
_POPCOUNT = np.array([bin(x).count("1") for x in range(256)], np.int8)


def _neighbour_config(mask: np.ndarray) -> np.ndarray:
    """8-bit ring configuration of the set neighbours of every cell."""
    p = np.pad(mask, 1).astype(np.uint16)
    H, W = mask.shape
    cfg = np.zeros((H, W), np.uint16)
    for bit, (dr, dc) in enumerate(_RING):
        cfg |= p[1 + dr : 1 + dr + H, 1 + dc : 1 + dc + W] << bit
    return cfg.astype(np.uint8)


@dataclass
class BarrierSegments:
    """Barrier segments of a landscape.

    Attributes
    ----------
    table : geopandas.GeoDataFrame
        One row per segment (index ``s`` = raster value ``s + 1``): ``segment_id``, ``kind``,
        ``road_class``, ``class``, ``length_m`` and the centre line (LineString).
    raster : numpy.ndarray
        int32 raster of segment index + 1 (0 = no barrier): the footprint of each segment.
    line_ptr, line_cells, line_dist : numpy.ndarray
        Centre-line cells of segment ``s`` in order along the line:
        ``line_cells[line_ptr[s]:line_ptr[s+1]]`` (flat indices) with their distance along the
        line in metres.
    """

    table: Any
    raster: np.ndarray
    line_ptr: np.ndarray
    line_cells: np.ndarray
    line_dist: np.ndarray

    @property
    def n(self) -> int:
        """Number of segments."""
        return len(self.table)


@dataclass
class _Pieces:
    """Accumulated segments of the classes processed so far."""

    rows: list[dict[str, Any]]
    geoms: list[Any]
    ptr: list[int]
    cells: list[np.ndarray]
    dist: list[np.ndarray]


def _class_mask(landcover: Any, cls: str, grid: Any, taken: np.ndarray) -> np.ndarray | None:
    """Cells of the class not claimed by an earlier class (all touched), or None when empty."""
    sel = landcover.geometry[(landcover["class"] == cls).to_numpy()]
    sel = sel[~sel.is_empty & sel.notna()]
    if not len(sel):
        return None
    mask = rasterize(((g, 1) for g in sel), out_shape=grid.shape, transform=grid.transform, all_touched=True,
                     dtype="uint8")
    mask = mask.astype(bool) & ~taken
    return mask if mask.any() else None


def _centre_line(mask: np.ndarray) -> np.ndarray:
    """One-cell skeleton of the mask without its junctions (and their 8 neighbours)."""
    skel = skeletonize(mask)
    junction = skel & (_LUT[_neighbour_config(skel)] >= 3)
    # drop the junction and its 8 neighbours so the arms do not touch diagonally
    chain = skel & ~ndimage.binary_dilation(junction, structure=np.ones((3, 3), bool))
    return chain if chain.any() else skel


def _chain_distances(chain: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre-line cells (flat), their chain number and distance along the chain from its start.

    Each chain starts at its first end point in raster-scan order (or its first cell for a ring).
    """
    W = chain.shape[1]
    lab = cast(np.ndarray, sk_label(chain, connectivity=2))
    flat = np.flatnonzero(chain)
    comp = lab.ravel()[flat]
    ncount = _POPCOUNT[_neighbour_config(chain).ravel()[flat]]
    endpoint = ncount <= 1
    order = np.lexsort((flat, ~endpoint, comp))
    first = np.ones(order.size, bool)
    first[1:] = comp[order][1:] != comp[order][:-1]
    starts = flat[order][first]
    rr = np.where(chain, 1.0, -1.0)
    dist = cast(np.ndarray, cost_distance_bounded(rr, np.column_stack([starts // W, starts % W]), res_m=res, nodata=-1.0))
    return flat, comp, dist.ravel()[flat]


def _add_pieces(
    pieces: _Pieces, cls: str, kind: str, road_class: str, flat: np.ndarray, comp: np.ndarray, d: np.ndarray,
    grid: Any, max_length_m: float,
) -> np.ndarray:
    """Cut each chain into equal pieces of at most ``max_length_m``; returns the raster of piece ids."""
    H, W = grid.shape
    res = grid.res_m
    t = grid.transform
    ncomp = int(comp.max())
    total = np.zeros(ncomp + 1)
    np.maximum.at(total, comp, d)
    total = total + res
    npieces = np.maximum(1, np.ceil(total / max_length_m - 1e-9)).astype(np.int64)
    plen = total / npieces
    piece = np.minimum((d / plen[comp]).astype(np.int64), npieces[comp] - 1)
    key = comp.astype(np.int64) * _PIECE_BASE + piece
    okey = np.lexsort((d, key))
    ukeys, kstart = np.unique(key[okey], return_index=True)
    kend = np.append(kstart[1:], okey.size)
    base = len(pieces.rows)
    seg_of_chain = np.zeros(H * W, np.int32)
    for u, (ks, ke) in enumerate(zip(kstart, kend, strict=True)):
        idx = okey[ks:ke]
        cells, dd = flat[idx], d[idx]
        c_no, p_no = int(ukeys[u] // _PIECE_BASE), int(ukeys[u] % _PIECE_BASE)
        seg_of_chain[cells] = base + u + 1
        x = t.c + (cells % W + 0.5) * t.a
        y = t.f + (cells // W + 0.5) * t.e
        if cells.size == 1:
            line = shapely.LineString([(x[0] - res / 2, y[0]), (x[0] + res / 2, y[0])])
        else:
            line = shapely.LineString(np.column_stack([x, y]))
        pieces.geoms.append(line)
        pieces.rows.append(
            {
                "segment_id": f"{cls}:{c_no:05d}:{p_no:02d}",
                "kind": kind,
                "road_class": road_class,
                "class": cls,
                "length_m": float(dd.max() - dd.min() + res),
            }
        )
        pieces.cells.append(cells.astype(np.int64))
        pieces.dist.append(dd.astype(np.float64))
        pieces.ptr.append(pieces.ptr[-1] + cells.size)
    return seg_of_chain.reshape(H, W)


def _nearest_piece(seg_of_chain: np.ndarray) -> np.ndarray:
    """Piece id of the nearest centre-line cell of every cell (the footprint where the class is)."""
    _, (ir, ic) = ndimage.distance_transform_edt(seg_of_chain == 0, return_indices=True)
    return seg_of_chain[ir, ic]


def _concat(xs: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(xs).astype(dtype) if xs else np.empty(0, dtype)


def segment_barriers(
    landcover: Any,
    grid: Any,
    classes: Mapping[str, tuple[str, str]],
    *,
    max_length_m: float,
) -> BarrierSegments:
    """Split barrier polygons into segments of at most ``max_length_m`` along their centre line.

    Parameters
    ----------
    landcover : geopandas.GeoDataFrame
        Land-cover polygons with a ``class`` column (in ``grid``'s CRS).
    grid : werkland.raster.io.Grid
        Raster grid of the analysis.
    classes : mapping
        Output of :func:`werkland.params.landscape.barrier_classes`; classes are processed in this order and a cell belongs
        to the first class that claims it.
    max_length_m : float
        Maximum segment length along the centre line (m).

    Returns
    -------
    BarrierSegments

    Raises
    ------
    WerklandInputError
        A non-positive ``max_length_m`` or land cover without a ``class`` column.
    """
    if not (np.isfinite(max_length_m) and max_length_m > 0):
        raise WerklandInputError(f"max_length_m = {max_length_m!r} must be positive", path="config: barriers",
                                 fix="set barriers.max_segment_m to a positive length in metres")
    H, W = grid.shape
    seg_raster = np.zeros((H, W), np.int32)
    taken = np.zeros((H, W), bool)
    pieces = _Pieces([], [], [0], [], [])
    has_rows = landcover is not None and len(landcover) > 0
    if has_rows and "class" not in landcover.columns:
        raise WerklandInputError("land cover has no 'class' column", path="landcover.gpkg: landcover",
                                 fix="re-run the landcover rule")
    for cls, (kind, road_class) in classes.items():
        if not has_rows:
            break
        mask = _class_mask(landcover, cls, grid, taken)
        if mask is None:
            continue
        taken |= mask
        flat, comp, d = _chain_distances(_centre_line(mask), grid.res_m)
        seg_of_chain = _add_pieces(pieces, cls, kind, road_class, flat, comp, d, grid, max_length_m)
        seg_raster[mask] = _nearest_piece(seg_of_chain)[mask]
    table = gpd.GeoDataFrame(
        pd.DataFrame(pieces.rows, columns=["segment_id", "kind", "road_class", "class", "length_m"]),
        geometry=gpd.GeoSeries(pieces.geoms, crs=grid.crs.to_wkt()),
    )
    log.info("barriers: %d segments from %d classes", len(table), len(classes))
    return BarrierSegments(
        table=table,
        raster=seg_raster,
        line_ptr=np.asarray(pieces.ptr, np.int64),
        line_cells=_concat(pieces.cells, np.int64),
        line_dist=_concat(pieces.dist, np.float64),
    )


def disk_offsets(radius_m: float, res_m: float) -> np.ndarray:
    """(dr, dc) offsets of the cells whose centres lie within ``radius_m`` of a centre cell."""
    rc = int(math.floor(radius_m / res_m + 1e-9))
    dr, dc = np.mgrid[-rc : rc + 1, -rc : rc + 1]
    keep = np.hypot(dr * res_m, dc * res_m) <= radius_m + 1e-9 * max(res_m, 1.0)
    return np.column_stack([dr[keep], dc[keep]]).astype(np.int64)
