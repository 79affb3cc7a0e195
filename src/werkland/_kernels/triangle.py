"""Packed lower-triangle gather and scatter of pair distances (or probabilities)."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def tri_read(buf, rows, cols, compact, out):  # pragma: no cover - compiled
    """``out[a, b]`` = distance of the pair ``(rows[a], cols[b])`` from the packed lower triangle."""
    for x in range(rows.shape[0]):
        i = rows[x]
        for y in range(cols.shape[0]):
            j = cols[y]
            if i == j:
                out[x, y] = 0.0
                continue
            k = i * (i - 1) // 2 + j if i > j else j * (j - 1) // 2 + i
            v = np.float64(buf[k])
            if compact:
                out[x, y] = -math.log(v) if v > 0.0 else np.inf
            else:
                out[x, y] = v
    return out


@numba.njit(cache=True, nogil=True)
def tri_write(buf, rows, cols, vals, compact, tiny):  # pragma: no cover - compiled
    """Store the distances ``vals[a, b]`` of the pairs ``(rows[a], cols[b])`` (the diagonal is skipped;
    a pair given twice keeps its later value)."""
    for x in range(rows.shape[0]):
        i = rows[x]
        for y in range(cols.shape[0]):
            j = cols[y]
            if i == j:
                continue
            k = i * (i - 1) // 2 + j if i > j else j * (j - 1) // 2 + i
            d = vals[x, y]
            if compact:
                p = math.exp(-d)
                buf[k] = p if p >= tiny else 0.0
            else:
                buf[k] = d
    return 0
