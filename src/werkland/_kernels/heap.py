"""Binary min-heaps of (float64 key, int64 value) pairs and array growth for compiled kernels.

Two heaps: the plain one (``heap_push``, ``heap_pop``: a value may be in it more than once, stale
entries are skipped by the caller) and the indexed one (``indexed_lower``, ``indexed_pop``: each
value at most once, its slot kept in ``pos``, its key lowered in place).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def sift_up(hk, hv, pos):  # pragma: no cover - compiled
    key = hk[pos]
    val = hv[pos]
    while pos > 0:
        parent = (pos - 1) >> 1
        if hk[parent] <= key:
            break
        hk[pos] = hk[parent]
        hv[pos] = hv[parent]
        pos = parent
    hk[pos] = key
    hv[pos] = val


@numba.njit(cache=True, nogil=True)
def sift_down(hk, hv, n):  # pragma: no cover - compiled
    pos = 0
    key = hk[0]
    val = hv[0]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and hk[child + 1] < hk[child]:
            child += 1
        if hk[child] >= key:
            break
        hk[pos] = hk[child]
        hv[pos] = hv[child]
        pos = child
    hk[pos] = key
    hv[pos] = val


@numba.njit(cache=True, nogil=True)
def heap_pop(hk, hv, n):  # pragma: no cover - compiled
    """Remove the smallest key of the binary heap ``hk[:n]`` (values ``hv``); returns (key, value, n - 1)."""
    key = hk[0]
    val = hv[0]
    n -= 1
    if n > 0:
        hk[0] = hk[n]
        hv[0] = hv[n]
        sift_down(hk, hv, n)
    return key, val, n


@numba.njit(cache=True, nogil=True, inline="always")
def heap_push(hk, hv, hn, key, val):  # pragma: no cover - compiled
    """Push ``(key, val)`` onto the heap ``hk[:hn]`` / ``hv[:hn]``, doubling both arrays when full.

    Returns the (possibly new) arrays and ``hn + 1``.
    """
    if hn >= hk.shape[0]:
        nk = np.empty(hk.shape[0] * 2, np.float64)
        nv = np.empty(hk.shape[0] * 2, np.int64)
        nk[:hn] = hk[:hn]
        nv[:hn] = hv[:hn]
        hk = nk
        hv = nv
    hk[hn] = key
    hv[hn] = val
    sift_up(hk, hv, hn)
    return hk, hv, hn + 1


@numba.njit(cache=True, nogil=True, inline="always")
def append(buf, n, value):  # pragma: no cover - compiled
    """``buf[n] = value``, doubling ``buf`` (same dtype) when full; returns the buffer and ``n + 1``."""
    if n >= buf.shape[0]:
        grown = np.empty(buf.shape[0] * 2, buf.dtype)
        grown[:n] = buf[:n]
        buf = grown
    buf[n] = value
    return buf, n + 1


@numba.njit(cache=True, nogil=True, inline="always")
def indexed_lower(hk, hv, pos, n, key, val):  # pragma: no cover - compiled
    """Lower the key of ``val`` to ``key`` in the indexed heap ``hk[:n]`` / ``hv[:n]`` (inserting it
    when ``pos[val] < 0``); returns the new size."""
    i = pos[val]
    if i < 0:
        i = n
        n += 1
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        pos[hv[i]] = i
        i = parent
    hk[i] = key
    hv[i] = val
    pos[val] = i
    return n


@numba.njit(cache=True, nogil=True, inline="always")
def indexed_pop(hk, hv, pos, n):  # pragma: no cover - compiled
    """Remove the smallest key of the indexed heap ``hk[:n]``; returns (key, value, n - 1), the
    value's ``pos`` set to -1."""
    key0 = hk[0]
    val0 = hv[0]
    pos[val0] = -1
    n -= 1
    if n > 0:
        key = hk[n]
        val = hv[n]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and hk[child + 1] < hk[child]:
                child += 1
            if hk[child] >= key:
                break
            hk[i] = hk[child]
            hv[i] = hv[child]
            pos[hv[i]] = i
            i = child
        hk[i] = key
        hv[i] = val
        pos[val] = i
    return key0, val0, n
