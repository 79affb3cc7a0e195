"""Habitat patches: 8-connected components of suitable cells, their attributes and polygons."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import shape
from skimage.measure import label as sk_label

from werkland._errors import WerklandInputError
from werkland.raster.distance import within_distance

log = logging.getLogger(__name__)


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
        cell centre); 0 = no band.
    valid : numpy.ndarray of bool, optional
        Cells inside the region; a patch touching a cell outside (or the raster edge) gets
        ``touches_border = True``. None: finite, non-negative suitability.

    Returns
    -------
    PatchSet
        Patch ids are 1..n in raster-scan order of each patch's first cell (deterministic).

    Raises
    ------
    WerklandInputError
        A suitability array that is not 2-D.
    """
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
    """Area, quality-weighted area, core area, perimeter and border flag of patches 1..n."""
    cell_ha = float(res_m) ** 2 / 1e4
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:] * cell_ha
    s = np.where(flat > 0, np.nan_to_num(suit.ravel(), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    quality = np.bincount(flat, weights=s, minlength=n + 1)[1:] * cell_ha
    # core: cells whose centre lies more than edge_band_m inside the patch (raster edge counts as edge)
    if n and edge_band_m > 0:
        # the cells of ``(edt(padded) - res_m / 2) > edge_band_m``, edt the distance to the nearest
        # cell outside every patch (within_distance: the same cells without the distance transform)
        padded = np.pad(labels > 0, 1, constant_values=False)
        core_mask = ~within_distance(~padded, edge_band_m, res_m, less_m=res_m / 2.0)[1:-1, 1:-1]
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
    parts: list[list[Any]] = [[] for _ in range(n)]
    if n:
        lab = np.ascontiguousarray(labels, dtype=np.int32)
        for geom, value in shapes(lab, mask=lab > 0, connectivity=4, transform=transform):
            parts[int(value) - 1].append(shape(geom))
    return [shapely.MultiPolygon(p) if p else shapely.MultiPolygon() for p in parts]


def patch_cells(labels_flat: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices of each patch.

    Parameters
    ----------
    labels_flat : numpy.ndarray
        Flattened patch-id raster (0 = none), ids 1..n.
    n : int
        Number of patches.

    Returns
    -------
    cells, ptr : numpy.ndarray
        int64; ``cells[ptr[i - 1]:ptr[i]]`` are the cells of patch ``i`` in raster order.
    """
    cells = np.flatnonzero(labels_flat > 0)
    labs = labels_flat[cells]
    order = np.argsort(labs, kind="stable")
    cells = cells[order].astype(np.int64)
    ptr = np.searchsorted(labs[order], np.arange(1, n + 2), side="left").astype(np.int64)
    return cells, ptr
