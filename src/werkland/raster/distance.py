"""Cells within a Euclidean distance of a set of cells, equal to the distance transform's test."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from werkland._kernels.distance_band import within_row_offsets


def within_distance(mask: np.ndarray, distance_m: float, res_m: float, *, less_m: float = 0.0) -> np.ndarray:
    """Cells whose centre lies within ``distance_m`` of the centre of a ``mask`` cell.

    The cells where ``scipy.ndimage.distance_transform_edt(~mask, sampling=(res_m, res_m)) - less_m
    <= distance_m`` (the ``mask`` cells themselves included), without the distance transform: the
    offsets within the distance form a disc (:func:`disc_reach`, distances computed in the
    transform's own arithmetic), and a cell is within the distance when one of the disc's rows
    holds a ``mask`` cell within that row's reach (a compiled pass over per-row gaps, about ten
    times faster than the transform). When rounding puts offsets of one squared length on both
    sides of ``distance_m`` the disc is not the transform's, and the transform is used.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        2-D; at least one cell True.
    distance_m : float
        Distance between cell centres, metres (>= 0).
    res_m : float
        Cell size in metres (square cells).
    less_m : float
        Subtracted from each distance before the test (in float64, as the caller's own test on
        the transform would), e.g. half a cell for distances to the cell's edge.

    Returns
    -------
    numpy.ndarray of bool
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    reach = disc_reach(distance_m, res_m, less_m=less_m)
    if reach is None:
        return ndimage.distance_transform_edt(~mask, sampling=(res_m, res_m)) - less_m <= distance_m
    return within_row_offsets(mask, reach, np.empty(mask.shape, bool))


def disc_reach(distance_m: float, res_m: float, *, less_m: float = 0.0) -> np.ndarray | None:
    """Per row offset ``k``, the largest column offset of a cell within ``distance_m`` (int64).

    The distance of an offset ``(k, j)`` is computed as ``scipy.ndimage.distance_transform_edt``
    computes it, ``sqrt((k * res_m) ** 2 + (j * res_m) ** 2)`` in float64, then ``less_m`` is
    subtracted (:func:`within_distance`). The transform measures
    to the nearest cell, the one with the smallest ``k**2 + j**2``; "some cell within the distance"
    and "the nearest cell within the distance" agree when every offset within the distance has a
    smaller ``k**2 + j**2`` than every offset beyond it. None when rounding breaks that (offsets of
    one ``k**2 + j**2`` on both sides of ``distance_m``).
    """
    lim, s, less = float(distance_m), float(res_m), float(less_m)
    if not (s > 0 and lim >= 0 and less >= 0 and math.isfinite(lim + less)):
        raise ValueError("the distance must be finite and >= 0, the cell size > 0 and less_m >= 0")
    n = int(math.floor((lim + less) / s)) + 2  # offsets from n on lie more than one cell beyond
    k = np.arange(n + 1, dtype=np.float64)
    rows, cols = k[:, None] * s, k[None, :] * s
    dist = np.sqrt(rows * rows + cols * cols)
    sq = k[:, None] ** 2 + k[None, :] ** 2  # exact: small integers
    inside = dist - less <= lim
    if sq[inside].max() >= sq[~inside].min():
        return None
    reach = np.array([int(np.flatnonzero(row).max()) if row.any() else -1 for row in inside], np.int64)
    return reach[reach >= 0]


__all__ = ["disc_reach", "within_distance"]
