"""Compiled kernels of the barrier stage: probe-group minima of a search and pair improvement scores."""

from __future__ import annotations

import numba
import numpy as np

from werkland._kernels.grid_search import touched_box
from werkland._kernels.heap import append

#: The probe minima scan the box of a search's touched cells row by row (memory order) when the box
#: holds at most this many cells per touched cell; otherwise they follow the touched list.
PROBE_BOX_FACTOR = 4


@numba.njit(cache=True, nogil=True)
def probe_mins(cum, touched, n_t, bound, cell_slot, slot_ptr, slot_groups, gmin, W):  # pragma: no cover
    """Minimum settled cost over each probe group touched by a search (sparse output: the groups in
    increasing order, int32, and their minima); ``gmin`` (``inf`` per group) is left all ``inf``.

    ``cum`` (flat, rows of ``W`` cells) must be ``inf`` at every cell the search did not touch, as a
    search's work array is. The minima do not depend on the order the cells are read in, so the
    cells are read in memory order, row by row over the box of the touched cells, when that box is
    at most :data:`PROBE_BOX_FACTOR` times their number: the touched list is in the order the search
    took the cells, so reading ``cum`` and ``cell_slot`` by it missed the cache at nearly every cell
    (woodland birds: 2.6 ms a patch, 41 ns a cell; 1.5 ms in memory order). Untouched cells in the
    box cost ``inf`` and reach nothing.

    The groups reached are marked in a bitmap of one bit per group and read back word by word, in
    increasing order: the same output as sorting their list, without the sort (a long-reach search
    reaches thousands of groups: the sort took about half of this kernel's time).
    """
    bits = np.zeros((gmin.shape[0] + 63) >> 6, np.uint64)
    nf = 0
    rmin, rmax, cmin, cmax = touched_box(cum, touched, n_t, W, cum.shape[0] // W, np.inf)
    if n_t > 0 and (rmax - rmin + 1) * (cmax - cmin + 1) <= PROBE_BOX_FACTOR * n_t:
        for r in range(rmin, rmax + 1):
            for v in range(r * W + cmin, r * W + cmax + 1):
                # the slot and cost tests stay in this loop: moved into _reach_groups (a call for
                # every cell of the box, not inlined) they took 6.6 instead of 1.5 ms a patch
                s = cell_slot[v]
                if s >= 0 and cum[v] <= bound and cum[v] < np.inf:
                    nf = _reach_groups(cum[v], s, slot_ptr, slot_groups, gmin, bits, nf)
    else:
        for t in range(n_t):
            v = touched[t]
            s = cell_slot[v]
            if s >= 0 and cum[v] <= bound:
                nf = _reach_groups(cum[v], s, slot_ptr, slot_groups, gmin, bits, nf)
    one = np.uint64(1)
    groups = np.empty(nf, np.int32)  # group ids < 2^31; half the bytes of the largest table of the stage
    vals = np.empty(nf, np.float64)
    f = 0
    for w in range(bits.shape[0]):
        word = bits[w]
        k = 0
        while word != 0:
            if word & one:
                g = (w << 6) + k
                groups[f] = g
                vals[f] = gmin[g]
                gmin[g] = np.inf
                f += 1
            word >>= one
            k += 1
    return groups, vals


@numba.njit(cache=True, nogil=True)
def _reach_groups(c, s, slot_ptr, slot_groups, gmin, bits, nf):  # pragma: no cover - compiled
    """Cost ``c`` reaches the groups of slot ``s``: each group's minimum lowered to it, a group
    reached for the first time marked in ``bits`` and counted; returns the count of marked groups."""
    one = np.uint64(1)
    for q in range(slot_ptr[s], slot_ptr[s + 1]):
        g = slot_groups[q]
        if gmin[g] == np.inf:  # first reached (a group reached only at an infinite cost is marked once too)
            mask = one << np.uint64(g & 63)
            if not (bits[g >> 6] & mask):
                bits[g >> 6] |= mask
                nf += 1
        if c < gmin[g]:
            gmin[g] = c
    return nf


@numba.njit(cache=True, nogil=True)
def pair_scores(lp, lq, lcd, pptr, pgroups, pvals, g_seg, g_type, g_ri, radii, rbase, width, n_seg):  # pragma: no cover
    """Window scores and corridor memberships of the links ``(lp, lq, lcd)`` from the patches' group
    minima (CSR ``pptr``, ``pgroups`` sorted per patch, ``pvals``); see :func:`werkland.barriers.scores.pair_scores_chunked`.

    Each link reads the groups both of its patches reached, in increasing group order: the first
    patch's minima are scattered into a dense array (kept while consecutive links share that
    patch, as the link search lists them) and the second patch's list is read against it. The
    same groups in the same order as merging the two sorted lists, so the same sums, at one read
    per group of the second patch instead of a branch per step of the merge.
    """
    n_r = radii.shape[0]
    best_m = np.zeros((n_seg, n_r))
    sum_m = np.zeros((n_seg, n_r))
    best_p = np.zeros((n_seg, n_r))
    sum_p = np.zeros((n_seg, n_r))
    scratch = np.full(n_seg * n_r, -1.0)
    skeys = np.empty(64, np.int64)
    cmark = np.full(n_seg, -1, np.int64)
    cs = np.empty(1024, np.int64)
    cl = np.empty(1024, np.int64)
    nc = 0
    dense = np.full(g_seg.shape[0], -1.0)  # the first patch's minimum per group (costs are >= 0; -1: none)
    cur = -1
    for e in range(lp.shape[0]):
        p = lp[e]
        q = lq[e]
        L = lcd[e]
        if p != cur:
            if cur >= 0:
                for i in range(pptr[cur], pptr[cur + 1]):
                    dense[pgroups[i]] = -1.0
            for i in range(pptr[p], pptr[p + 1]):
                dense[pgroups[i]] = pvals[i]
            cur = p
        nk = 0
        for j in range(pptr[q], pptr[q + 1]):
            g = pgroups[j]
            vp = dense[g]
            if vp < 0.0:
                continue
            s = g_seg[g]
            t = g_type[g]
            if t == 0:
                ri = g_ri[g]
                R = radii[ri]
                delta = L - vp - pvals[j] - 2.0 * R * rbase
                if delta > 0.0:
                    v = delta / (2.0 * R)
                    key = s * n_r + ri
                    if scratch[key] < 0.0:
                        skeys, nk = append(skeys, nk, key)
                        scratch[key] = v
                    elif v > scratch[key]:
                        scratch[key] = v
            elif t == 1:
                if vp + pvals[j] - L <= width and cmark[s] != e:
                    cmark[s] = e
                    cs, _ = append(cs, nc, s)
                    cl, nc = append(cl, nc, e)
        for f in range(nk):
            key = skeys[f]
            s = key // n_r
            ri = key - s * n_r
            v = scratch[key]
            scratch[key] = -1.0
            pct = 100.0 * v / L if L > 0 else 0.0
            if v > best_m[s, ri]:
                best_m[s, ri] = v
            if pct > best_p[s, ri]:
                best_p[s, ri] = pct
            sum_m[s, ri] += v
            sum_p[s, ri] += pct
    return best_m, sum_m, best_p, sum_p, cs[:nc], cl[:nc]


@numba.njit(cache=True, nogil=True)
def window_cells(centres, off, height, width, gid0, cells, gids):  # pragma: no cover - compiled
    """The cells at offsets ``off`` around each centre inside the raster, and their group
    (``gid0`` + the centre's index), in centre-then-offset order; returns how many were written."""
    n = 0
    for i in range(centres.size):
        r0 = centres[i] // width
        c0 = centres[i] % width
        for k in range(off.shape[0]):
            r = r0 + off[k, 0]
            c = c0 + off[k, 1]
            if 0 <= r < height and 0 <= c < width:
                cells[n] = r * width + c
                gids[n] = gid0 + i
                n += 1
    return n


@numba.njit(cache=True, nogil=True)
def count_cells(cells, starts):  # pragma: no cover - compiled
    """``starts[c + 2] += 1`` for each cell ``c`` (a counting sort's first pass)."""
    for i in range(cells.size):
        starts[cells[i] + 2] += 1


@numba.njit(cache=True, nogil=True)
def scatter_groups(cells, groups, starts, out):  # pragma: no cover - compiled
    """Each pair's group to its cell's next place in ``out`` (a counting sort's second pass)."""
    for i in range(cells.size):
        k = cells[i] + 1
        out[starts[k]] = groups[i]
        starts[k] += 1


@numba.njit(cache=True, nogil=True)
def sort_unique_per_cell(ptr, out, cell_slot, slot_ptr):  # pragma: no cover - compiled
    """Sort each cell's groups ``out[ptr[c]:ptr[c + 1]]`` and drop repeats, compacting ``out`` in
    place; ``cell_slot`` gets each cell's slot (cells with groups, in cell order) and ``slot_ptr``
    the slots' bounds. Returns the number of slots."""
    w = 0
    s = 0
    for c in range(ptr.size - 1):
        a = ptr[c]
        b = ptr[c + 1]
        if a == b:
            continue
        seg = out[a:b]
        for q in range(1, b - a):
            if seg[q] < seg[q - 1]:
                seg.sort()
                break
        slot_ptr[s] = w
        cell_slot[c] = s
        s += 1
        out[w] = seg[0]
        w += 1
        for q in range(1, b - a):
            if seg[q] != out[w - 1]:
                out[w] = seg[q]
                w += 1
    slot_ptr[s] = w
    return s
