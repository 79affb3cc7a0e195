"""Binary min-heaps of (float64 key, integer value) pairs and array growth for compiled kernels.

Two heaps: the plain one (``new_heap``, ``heap_push``, ``heap_pop``: a value may be in it more than
once, stale entries are skipped by the caller) and the indexed one (``indexed_lower``,
``indexed_pop``: each value at most once, its slot kept in ``pos``, its key lowered in place).

The plain heap keeps each entry's key and value side by side in one float64 array (``h[2 i]``,
``h[2 i + 1]``): a sift step reads one cache line instead of one in each of two arrays. Its
comparisons and moves are the textbook binary heap's, so it pops equal keys in the order a heap of
two arrays popped them (the grid searches' predecessors follow that order).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def new_heap(capacity):  # pragma: no cover - compiled
    """An empty plain heap with room for ``capacity`` entries (it grows when full)."""
    return np.empty(2 * max(1, capacity), np.float64)


@numba.njit(cache=True, nogil=True, inline="always")
def heap_pop(h, n):  # pragma: no cover - compiled
    """Remove the smallest key of the plain heap of ``n`` entries ``h``; returns (key, value, n - 1).

    The last entry goes to the root and moves down past every smaller child (the left one on equal
    keys) until no child is smaller, as in the textbook sift-down. The child is chosen by adding the
    comparison's result, written out here and in :func:`indexed_pop` (not a shared inlined helper:
    numba's IR inlining of one made every search about 1.5x slower, measured on a fresh cache).
    """
    key0 = h[0]
    val0 = np.int64(h[1])
    n -= 1
    if n > 0:
        key = h[2 * n]
        val = h[2 * n + 1]
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= n:
                break
            if child + 1 < n:
                # the right child when it is strictly smaller, so equal keys go left (the order every
                # search's predecessors follow): a compare the compiler turns into an add, not a
                # branch (random keys mispredict half of those branches)
                child += np.int64(h[2 * child + 2] < h[2 * child])
            ck = h[2 * child]
            if ck >= key:
                break
            h[2 * pos] = ck
            h[2 * pos + 1] = h[2 * child + 1]
            pos = child
        h[2 * pos] = key
        h[2 * pos + 1] = val
    return key0, val0, n


@numba.njit(cache=True, nogil=True, inline="always")
def heap_push(h, n, key, val):  # pragma: no cover - compiled
    """Push ``(key, val)`` onto the plain heap of ``n`` entries ``h``, doubling it when full.

    ``val`` is an integer below 2**53 in magnitude (a cell or node index), stored exactly as a
    float64 beside its key. Returns the (possibly new) array and ``n + 1``.
    """
    if 2 * n + 1 >= h.shape[0]:
        grown = np.empty(2 * h.shape[0], np.float64)
        grown[: 2 * n] = h[: 2 * n]
        h = grown
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if h[2 * parent] <= key:
            break
        h[2 * pos] = h[2 * parent]
        h[2 * pos + 1] = h[2 * parent + 1]
        pos = parent
    h[2 * pos] = key
    h[2 * pos + 1] = np.float64(val)
    return h, n + 1


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
            if child + 1 < n:
                child += np.int64(hk[child + 1] < hk[child])  # equal keys go left, no branch (see heap_pop)
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
