"""Cells within a Euclidean distance of a set of cells, from per-row gaps (compiled)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def within_row_offsets(mask, reach, out):  # pragma: no cover - compiled
    """``out[r, c]``: True where some ``mask`` cell ``(r + dr, c + dc)`` has ``|dc| <= reach[|dr|]``.

    ``reach[k]`` is the largest column offset allowed at row offset ``k`` (``-1``: none), for
    ``k = 0 .. reach.size - 1``, none above ``reach[0]`` (a disc's rows). Two passes per row give
    each cell's column gap to the nearest ``mask`` cell in its row (capped at ``reach[0] + 1``); a
    cell is then in the band when one of the rows within ``reach.size - 1`` has a gap within that
    row's reach.
    """
    H, W = mask.shape
    K = reach.shape[0]
    cap = reach[0] + 1 if K > 0 else 0
    gap = np.empty((H, W), np.int32)
    for r in range(H):
        g = cap
        for c in range(W):
            if mask[r, c]:
                g = 0
            elif g < cap:
                g += 1
            gap[r, c] = g
        g = cap
        for c in range(W - 1, -1, -1):
            if mask[r, c]:
                g = 0
            elif g < cap:
                g += 1
            if g < gap[r, c]:
                gap[r, c] = g
    for r in range(H):
        for c in range(W):
            hit = False
            for k in range(K):
                lim = reach[k]
                if lim < 0:
                    continue
                if r - k >= 0 and gap[r - k, c] <= lim:
                    hit = True
                    break
                if k > 0 and r + k < H and gap[r + k, c] <= lim:
                    hit = True
                    break
            out[r, c] = hit
    return out
