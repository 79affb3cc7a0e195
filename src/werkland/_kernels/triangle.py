"""Packed lower-triangle gather and scatter of pair distances (or probabilities)."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def pair_slot(p, q):  # pragma: no cover - compiled
    """Index of the pair of positions ``(p, q)``, ``p != q``, in a packed lower triangle (row-major)."""
    return p * (p - 1) // 2 + q if p > q else q * (q - 1) // 2 + p


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
            k = pair_slot(i, j)
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
            k = pair_slot(i, j)
            d = vals[x, y]
            if compact:
                p = math.exp(-d)
                buf[k] = p if p >= tiny else 0.0
            else:
                buf[k] = d
    return 0


@numba.njit(cache=True, nogil=True)
def comp_read(buf, off, comp, pos, rows, cols, out):  # pragma: no cover - compiled
    """:func:`tri_read` (compact) of per-component packed triangles: a pair in two components is
    unconnected (``inf``); within component ``c`` the pair ``(i, j)`` sits in the triangle at
    ``off[c]``, at the positions ``pos[i]`` and ``pos[j]`` of the two nodes in their component."""
    for x in range(rows.shape[0]):
        i = rows[x]
        ci = comp[i]
        pi = pos[i]
        for y in range(cols.shape[0]):
            j = cols[y]
            if i == j:
                out[x, y] = 0.0
                continue
            if comp[j] != ci:
                out[x, y] = np.inf
                continue
            v = np.float64(buf[off[ci] + pair_slot(pi, pos[j])])
            out[x, y] = -math.log(v) if v > 0.0 else np.inf
    return out


@numba.njit(cache=True, nogil=True)
def comp_write(buf, off, comp, pos, rows, cols, vals, tiny):  # pragma: no cover - compiled
    """:func:`tri_write` (compact) into per-component packed triangles (see :func:`comp_read`).

    Pairs in two components are skipped: the caller has merged the components of every pair with a
    finite distance, so only unconnected pairs remain there."""
    for x in range(rows.shape[0]):
        i = rows[x]
        ci = comp[i]
        pi = pos[i]
        for y in range(cols.shape[0]):
            j = cols[y]
            if i == j or comp[j] != ci:
                continue
            p = math.exp(-vals[x, y])
            buf[off[ci] + pair_slot(pi, pos[j])] = p if p >= tiny else 0.0
    return 0


@numba.njit(cache=True, nogil=True)
def tri_move(src, s_off, new_pos, dst, d_off):  # pragma: no cover - compiled
    """Copy the packed triangle of ``new_pos.size`` nodes at ``src[s_off:]`` into a larger packed
    triangle at ``dst[d_off:]``, node ``q`` of the old one at position ``new_pos[q]`` of the new one."""
    m = new_pos.shape[0]
    for a in range(1, m):
        pa = new_pos[a]
        row = s_off + a * (a - 1) // 2
        for b in range(a):
            dst[d_off + pair_slot(pa, new_pos[b])] = src[row + b]
    return 0


@numba.njit(cache=True, nogil=True)
def comp_read_square(buf, off, comp, pos, nodes, compact, out):  # pragma: no cover - compiled
    """``out`` = the block ``nodes`` x ``nodes`` of :func:`comp_read` (``compact``
    False: float64 distances stored as they are, as :func:`tri_read`; a single triangle is one
    component, ``comp`` all 0, ``pos`` the node ids, ``off`` ``[0]``).

    Both orders of a pair are one stored value, so each pair is read once: the lower triangle row
    by row (half the reads and logarithms of :func:`comp_read`), then mirrored tile by tile. The
    block is the same, value for value.
    """
    m = nodes.shape[0]
    for x in range(m):
        i = nodes[x]
        ci = comp[i]
        pi = pos[i]
        base = off[ci]
        out[x, x] = 0.0
        for y in range(x):
            j = nodes[y]
            if j == i:  # a node given twice
                out[x, y] = 0.0
                continue
            if comp[j] != ci:
                out[x, y] = np.inf
                continue
            v = np.float64(buf[base + pair_slot(pi, pos[j])])
            if compact:
                out[x, y] = -math.log(v) if v > 0.0 else np.inf
            else:
                out[x, y] = v
    tile = 32
    for r0 in range(0, m, tile):
        r1 = min(m, r0 + tile)
        for c0 in range(r0, m, tile):
            for y in range(c0, min(m, c0 + tile)):
                for x in range(r0, min(r1, y)):
                    out[x, y] = out[y, x]
    return out


@numba.njit(cache=True, nogil=True)
def comp_within(buf, off, comp, pos, seeds, cut, compact, out):  # pragma: no cover - compiled
    """``out[j]`` = whether the distance of some seed to node ``j`` (:func:`comp_read`'s value) is at
    most ``cut`` (finite), for every node ``j``.

    A compact table keeps ``p* = exp(-D)``: a ``p*`` clearly above (below) ``exp(-cut)`` -- by a
    relative 1e-9, far beyond the rounding of the logarithm -- is inside (outside) without taking its
    logarithm; the rest are decided on ``-log(p*) <= cut`` itself, as a read would give them. Beyond
    a cut of 104 every stored float32 ``p* > 0`` is inside (``-log`` of the smallest is 103.3). The
    answer is that of ``min(rows(seeds)) <= cut``, node for node.
    """
    n = out.shape[0]
    t = math.exp(-cut) if cut < 104.0 else 0.0
    hi = t * (1.0 + 1e-9)
    lo = t * (1.0 - 1e-9)
    out[:] = False
    for x in range(seeds.shape[0]):
        i = seeds[x]
        ci = comp[i]
        base = off[ci]
        pi = pos[i]
        for j in range(n):
            if out[j]:
                continue
            if j == i:
                out[j] = 0.0 <= cut
                continue
            if comp[j] != ci:
                continue
            v = np.float64(buf[base + pair_slot(pi, pos[j])])
            if not compact:
                out[j] = v <= cut
            elif v > hi:
                out[j] = True
            elif v >= lo:
                out[j] = v > 0.0 and -math.log(v) <= cut
    return out
