"""Bounded multi-source Dijkstra on an 8-connected grid (the MCP_Geometric step rule of
scikit-image) and the helpers of the link, corridor and label searches.

Every kernel reads the resistance as float32 or float64 and widens each value to float64 before
the step cost ``len * 0.5 * (r_v + r_u)``, so a float32 copy of a raster whose values are all exact
float32 numbers (:func:`search_resistance`) gives the same costs bit for bit with half the memory
traffic (the searches are memory-bound).

Two queues: :func:`dijkstra` (binary heap) settles cells in one fixed order, which the
predecessor ties of equal-cost paths follow, so searches that trace paths use it;
:func:`cost_search` (a bucket queue, heap fallback) gives the same costs and the same touched set
in another order, for searches whose consumers take minima only; :func:`pair_costs_search` is the
bucket version of :func:`pair_bound_search` (the barrier gains' footprint searches).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from werkland._kernels.heap import append, heap_pop, heap_push, new_heap

DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)


DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


def step_lengths(res_m: float) -> np.ndarray:
    """Step lengths of the 8 moves, computed like skimage (sqrt of summed squared offsets)."""
    s = float(res_m)
    return np.sqrt((DR * s) ** 2.0 + (DC * s) ** 2.0).astype(np.float64)


def search_resistance(res: np.ndarray) -> np.ndarray:
    """Flat C-contiguous resistance for the kernels: float32 when every value is exactly a float32.

    The kernels widen each value to float64, so the costs are the same bit for bit; rasters are
    stored as float32, so the prepared float64 resistance of a stage is nearly always exact.
    Otherwise the float64 values are returned (flat, C-contiguous).
    """
    r64 = np.ascontiguousarray(res, dtype=np.float64).reshape(-1)
    r32 = r64.astype(np.float32)
    if np.array_equal(r32, r64):
        return r32
    return r64


def min_step_cost(res_flat: np.ndarray, lens: np.ndarray) -> float:
    """Smallest step cost ``min(len) * min(resistance)`` of a raster (0.0 if no cell is passable).

    The bucket width of :func:`cost_search`; a smaller value is always safe (more buckets).
    Impassable cells are ``inf`` and above every passable value, so the raster's own minimum is the
    smallest passable one (no masked copy of the raster: 0.5 instead of 5.5 ms at 4 M cells, once
    per barrier gain).
    """
    if res_flat.size == 0:
        return 0.0
    least = float(res_flat.min())
    if math.isnan(least) or least == -math.inf:  # not from prepare_resistance: passable = finite
        finite = res_flat[np.isfinite(res_flat)]
        least = float(finite.min()) if finite.size else math.inf
    if least == math.inf:
        return 0.0
    return float(np.min(lens)) * least


#: Largest bucket count of one :func:`cost_search` (beyond it the heap is used).
MAX_BUCKETS = 1 << 20
#: The labels and wanted patches of a bucket search without a pair bound (:func:`_bucket_search`).
_NO_LABELS = np.zeros(0, np.int64)
_NO_WANTED = np.zeros(0, np.bool_)


@numba.njit(cache=True, nogil=True, inline="always")
def _seed(res, starts, start_cost, cum, pred, track, touched, n_t):  # pragma: no cover - compiled
    """Write the start costs into ``cum`` and a new heap: the first step of :func:`dijkstra` and
    :func:`pair_bound_search`. Returns ``(touched, n_t, heap, hn)``."""
    cap = 1024
    if 4 * starts.shape[0] > cap:
        cap = 4 * starts.shape[0]
    heap = new_heap(cap)
    hn = 0
    for s in range(starts.shape[0]):
        c = starts[s]
        if not (res[c] < np.inf):
            continue
        v0 = start_cost[s]
        if v0 < cum[c]:
            if cum[c] == np.inf:
                touched, n_t = append(touched, n_t, c)
            cum[c] = v0
            if track:
                pred[c] = -1
            heap, hn = heap_push(heap, hn, v0, c)
    return touched, n_t, heap, hn


@numba.njit(cache=True, nogil=True)
def dijkstra(res, H, W, lens, starts, start_cost, max_cost, cum, pred, touched, prune, prune_limit, use_prune):  # pragma: no cover
    """Bounded multi-source Dijkstra on an 8-connected grid (MCP_Geometric step rule).

    ``cum`` (inf) and ``pred`` (-1) are full-size work arrays that must be clean on entry; every
    cell written is listed in ``touched[:n_touched]`` so the caller can reset in O(touched).
    Cells with ``cum <= max_cost`` are final; others (if any) are tentative. An empty ``pred``
    skips the predecessors (searches that need only costs save a full-size array).
    """
    track = pred.shape[0] > 0
    touched, n_t, heap, hn = _seed(res, starts, start_cost, cum, pred, track, touched, 0)
    while hn > 0:
        key, v, hn = heap_pop(heap, hn)
        if key > cum[v]:
            continue
        if key > max_cost:
            break
        if use_prune and key + prune[v] > prune_limit:
            continue
        r = v // W
        cc = v - r * W
        rv = np.float64(res[v])
        for d in range(8):
            rr = r + DR[d]
            c2 = cc + DC[d]
            if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                continue
            u = rr * W + c2
            ru = np.float64(res[u])
            if not (ru < np.inf):
                continue
            nkey = key + lens[d] * 0.5 * (rv + ru)
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched, n_t = append(touched, n_t, u)
                cum[u] = nkey
                if track:
                    pred[u] = v
                heap, hn = heap_push(heap, hn, nkey, u)
    return n_t, touched


@numba.njit(cache=True, nogil=True, inline="always")
def _buckets_fit(span, min_step):  # pragma: no cover - compiled
    """Whether a bucket queue of width ``min_step / 2`` covers keys ``span`` apart in at most
    :data:`MAX_BUCKETS` buckets (``min_step`` positive: else the heap)."""
    return min_step > 0.0 and span / (0.5 * min_step) < MAX_BUCKETS


@numba.njit(cache=True, nogil=True, inline="always")
def _clear_costs(cum, touched, n_t):  # pragma: no cover - compiled
    """``cum`` back to ``inf`` at the cells a search touched (before the heap redoes a bucket search)."""
    for t in range(n_t):
        cum[touched[t]] = np.inf


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket_push(ent, ne, head, b, key, cell):  # pragma: no cover - compiled
    """Entry ``ne`` = ``(key, cell)`` at the front of bucket ``b``'s list, doubling the entries when
    full; returns them and ``ne + 1``.

    An entry is three float64 side by side in ``ent``: the key, the cell and the next entry of its
    bucket (-1: none; indices are exact as float64 below 2**53). A bucket's entries were pushed at
    different times and lie far apart, so reading one entry from one cache line instead of three
    arrays is what makes the queue fast (woodland birds' searches: 249 -> 143 ns a cell)."""
    if 3 * ne == ent.shape[0]:
        grown = np.empty(6 * ne, np.float64)
        grown[: 3 * ne] = ent[: 3 * ne]
        ent = grown
    ent[3 * ne] = key
    ent[3 * ne + 1] = np.float64(cell)
    ent[3 * ne + 2] = np.float64(head[b])
    head[b] = ne
    return ent, ne + 1


@numba.njit(cache=True, nogil=True)
def _bucket_search(res, H, W, lens, starts, start_cost, max_cost, cum, touched, prune, prune_limit, use_prune, min_step, labels, wanted):  # pragma: no cover
    """Costs-only :func:`dijkstra` with a bucket queue (Dial's algorithm); returns
    ``(n_t, touched, bound, ok)``.

    Bucket ``b`` holds keys in ``[k0 + b w, k0 + (b + 1) w)``, ``w = min_step / 2``. A step costs at
    least ``min_step``, so a cell taken from bucket ``b`` can only improve cells of later buckets:
    every non-stale entry of the current bucket is final, and the order within a bucket changes
    nothing but the order of ``touched``. Keys above the bound are written to ``cum`` but never
    queued (the heap pops them only to stop). A step into the current or an earlier bucket (a
    ``min_step`` that was too large) returns ``ok = False`` at once; the caller resets and uses the
    heap.

    The bound is ``max_cost``, unless ``wanted`` is not empty (:func:`pair_costs_search`): then, as in
    :func:`pair_bound_search`, it falls when the first cell of a wanted patch (``wanted[labels[v]]``)
    is taken, from bucket ``b``. Every cell of an earlier bucket was taken before it, so no wanted
    patch costs less than the bucket's lower edge; the bound becomes ``max_cost`` minus the edge of
    the bucket below (one bucket of slack against rounding), plus the heap version's margin. That
    is at least the heap version's bound: every cell at or below the heap's bound has its exact
    cost here too, and the patches found between the two bounds can pair with none.
    """
    half = np.empty(8, np.float64)
    for d in range(8):
        half[d] = lens[d] * 0.5
    width = 0.5 * min_step
    n_t = 0
    k0 = np.inf
    for s in range(starts.shape[0]):
        c = starts[s]
        if not (np.float64(res[c]) < np.inf):
            continue
        v0 = start_cost[s]
        if v0 < k0:
            k0 = v0
        if v0 < cum[c]:
            if cum[c] == np.inf:
                touched, n_t = append(touched, n_t, c)
            cum[c] = v0
    bound = max_cost
    if not (k0 <= max_cost):
        return n_t, touched, bound, True
    nb = int((max_cost - k0) / width) + 2
    head = np.full(nb, -1, np.int64)
    cap = max(4096, touched.shape[0] + touched.shape[0] // 2)  # entries: about one per touched cell
    ent = np.empty(3 * cap, np.float64)
    ne = 0
    for t in range(n_t):  # queue the starts at their (lowest) cost
        c = touched[t]
        if cum[c] <= max_cost:
            ent, ne = _bucket_push(ent, ne, head, int((cum[c] - k0) / width), cum[c], c)
    first = wanted.shape[0] > 0
    for b in range(nb):
        if b * width > bound - k0 + width:  # only after the bound fell: no key left at or below it
            break
        i = head[b]
        while i >= 0:
            key = ent[3 * i]
            v = np.int64(ent[3 * i + 1])
            i = np.int64(ent[3 * i + 2])
            if key > cum[v] or key > bound:
                continue
            if use_prune and key + prune[v] > prune_limit:
                continue
            if first:
                lab = labels[v]
                if lab > 0 and wanted[lab]:
                    first = False
                    b2 = max_cost - (k0 + max(b - 1, 0) * width) + 1e-9 * max_cost
                    if b2 < bound:
                        bound = b2
            r = v // W
            cc = v - r * W
            rv = np.float64(res[v])
            for d in range(8):
                rr = r + DR[d]
                c2 = cc + DC[d]
                if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                    continue
                u = rr * W + c2
                ru = np.float64(res[u])
                if not (ru < np.inf):
                    continue
                nkey = key + half[d] * (rv + ru)
                if nkey < cum[u]:
                    if cum[u] == np.inf:
                        touched, n_t = append(touched, n_t, u)
                    cum[u] = nkey
                    if nkey <= bound:
                        bb = int((nkey - k0) / width)
                        if bb <= b:
                            return n_t, touched, bound, False
                        ent, ne = _bucket_push(ent, ne, head, bb, nkey, u)
    return n_t, touched, bound, True


@numba.njit(cache=True, nogil=True)
def cost_search(res, H, W, lens, starts, start_cost, max_cost, cum, touched, prune, prune_limit, use_prune, min_step):  # pragma: no cover
    """:func:`dijkstra` without predecessors: the same ``cum`` bit for bit and the same touched set,
    listed in another order.

    A bucket queue (:func:`_bucket_search`) when ``min_step`` (the smallest step cost,
    :func:`min_step_cost`) is positive and the bound needs at most :data:`MAX_BUCKETS` buckets;
    otherwise, or when a step below ``min_step`` is met, the binary heap. For searches whose results
    are minima over the touched cells (target costs, probe minima, corridor values), never for
    predecessors. Returns ``(n_touched, touched, fell_back)``: ``fell_back`` tells that a step below
    ``min_step`` sent the search to the heap (a smaller ``min_step`` would avoid that).
    """
    fell_back = False
    if min_step > 0.0 and max_cost < np.inf:
        k0 = np.inf
        for s in range(starts.shape[0]):
            if start_cost[s] < k0:
                k0 = start_cost[s]
        if _buckets_fit(max_cost - k0, min_step):
            n_t, touched, _, ok = _bucket_search(
                res, H, W, lens, starts, start_cost, max_cost, cum, touched, prune, prune_limit, use_prune, min_step,
                _NO_LABELS, _NO_WANTED,
            )
            if ok:
                return n_t, touched, False
            _clear_costs(cum, touched, n_t)
            fell_back = True
    no_pred = np.empty(0, np.int64)
    n_t, touched = dijkstra(res, H, W, lens, starts, start_cost, max_cost, cum, no_pred, touched, prune,
                            prune_limit, use_prune)
    return n_t, touched, fell_back


@numba.njit(cache=True, nogil=True)
def reset_search(cum, pred, touched, n_t):  # pragma: no cover - compiled
    for t in range(n_t):
        v = touched[t]
        cum[v] = np.inf
        pred[v] = -1


@numba.njit(cache=True, nogil=True)
def collect_targets(cum, labels, touched, n_t, src_label, link_bound, best_cost, best_cell):  # pragma: no cover
    """Cheapest settled cell of every other patch within ``link_bound``."""
    found = np.empty(64, np.int64)
    nf = 0
    for t in range(n_t):
        v = touched[t]
        c = cum[v]
        if c <= link_bound:
            lab = labels[v]
            if lab > 0 and lab != src_label:
                if c < best_cost[lab]:
                    if best_cost[lab] == np.inf:
                        found, nf = append(found, nf, lab)
                    best_cost[lab] = c
                    best_cell[lab] = v
    found = np.sort(found[:nf])
    costs = np.empty(nf, np.float64)
    cells = np.empty(nf, np.int64)
    for f in range(nf):
        lab = found[f]
        costs[f] = best_cost[lab]
        cells[f] = best_cell[lab]
        best_cost[lab] = np.inf
        best_cell[lab] = -1
    return found, costs, cells


@numba.njit(cache=True, nogil=True)
def tracebacks(pred, ends):  # pragma: no cover - compiled
    """Concatenated cell paths from each end cell back to a source (pred == -1), source first."""
    total = 0
    lengths = np.empty(ends.shape[0], np.int64)
    for e in range(ends.shape[0]):
        v = ends[e]
        m = 1
        while pred[v] != -1:
            v = pred[v]
            m += 1
        lengths[e] = m
        total += m
    out = np.empty(total, np.int64)
    ptr = np.zeros(ends.shape[0] + 1, np.int64)
    pos = 0
    for e in range(ends.shape[0]):
        m = lengths[e]
        v = ends[e]
        for q in range(m):
            out[pos + m - 1 - q] = v
            v = pred[v]
        pos += m
        ptr[e + 1] = pos
    return out, ptr


@numba.njit(cache=True, nogil=True)
def corridor_update(corr, cum1, cum2, touched2, n_t2, width):  # pragma: no cover - compiled
    for t in range(n_t2):
        v = touched2[t]
        c2 = cum2[v]
        if c2 <= width:
            val = cum1[v] + c2
            if val <= width:
                if val < 0.0:
                    val = 0.0
                if val < corr[v]:
                    corr[v] = val


@numba.njit(cache=True, nogil=True)
def label_search(res, H, W, lens, starts, max_cost, labels, src_label, cum, touched, best, best_cell, min_step):  # pragma: no cover
    """Min cost from ``starts`` to every other label within ``max_cost``: connectivity's bounded
    search (same step rule; :func:`cost_search`, so the same costs) and target collection, then one
    pass over the touched cells.

    ``cum`` (inf), ``best`` (per label, inf) and ``best_cell`` (-1) are reset before returning; also
    returns the box of touched cells, the (possibly grown) ``touched`` buffer and whether the search
    fell back to the heap (``min_step`` too large for this raster; see :func:`cost_search`).
    """
    zero = np.zeros(starts.shape[0])
    n_t, touched, fell_back = cost_search(res, H, W, lens, starts, zero, max_cost, cum, touched, zero, 0.0, False,
                                          min_step)
    labs, costs, _ = collect_targets(cum, labels, touched, n_t, src_label, max_cost, best, best_cell)
    rmin, rmax, cmin, cmax = _box_and_reset(cum, touched, n_t, W, H, np.inf)
    return labs, costs, n_t, rmin, rmax, cmin, cmax, touched, fell_back


@numba.njit(cache=True, nogil=True)
def touched_box(cum, touched, n_t, W, H, limit):  # pragma: no cover - compiled
    """Box ``(rmin, rmax, cmin, cmax)`` (inclusive; ``rmax = -1``: none) of the cells of
    ``touched[:n_t]`` whose cost is at most ``limit`` (rows of ``W`` cells, ``H`` rows)."""
    rmin, rmax, cmin, cmax = H, -1, W, -1
    for t in range(n_t):
        u = touched[t]
        if cum[u] <= limit:
            r = u // W
            cc = u - r * W
            rmin = min(rmin, r)
            rmax = max(rmax, r)
            cmin = min(cmin, cc)
            cmax = max(cmax, cc)
    return rmin, rmax, cmin, cmax


@numba.njit(cache=True, nogil=True)
def _box_and_reset(cum, touched, n_t, W, H, limit):  # pragma: no cover - compiled
    """:func:`touched_box`, then every touched cell's ``cum`` reset to inf."""
    box = touched_box(cum, touched, n_t, W, H, limit)
    _clear_costs(cum, touched, n_t)
    return box


@numba.njit(cache=True, nogil=True)
def pair_bound_search(res, H, W, lens, starts, max_cost, labels, wanted, cum, touched):  # pragma: no cover
    """Bounded search for pairs of wanted patches whose two costs sum to at most ``max_cost``.

    Pops exactly what :func:`dijkstra` (zero start costs, no pruning, bound ``max_cost``) pops, in
    the same order, until the first cell of a wanted patch (``wanted[label]``) is popped at cost
    ``c1``; from then on the bound is ``max_cost - c1`` (plus a margin of 1e-9 x ``max_cost``
    against rounding): a pair ``c_p + c_q <= max_cost`` has both costs ``>= c1``, so neither exceeds
    it. Costs only (no predecessors). Every cell at or below the returned bound has its
    :func:`dijkstra` cost; cells beyond it keep larger (tentative) costs or ``inf``.

    Returns ``(n_touched, touched, bound)``.
    """
    # The relaxation loop is written out here as in dijkstra: an inline helper for it (8 arrays
    # passed per popped cell) measured about 5 % slower on both kernels.
    bound = max_cost
    first = True
    no_pred = np.empty(0, np.int64)  # costs only
    touched, n_t, heap, hn = _seed(res, starts, np.zeros(starts.shape[0]), cum, no_pred, False, touched, 0)
    while hn > 0:
        key, v, hn = heap_pop(heap, hn)
        if key > cum[v]:
            continue
        if key > bound:
            break
        if first:
            lab = labels[v]
            if lab > 0 and wanted[lab]:
                first = False
                b2 = max_cost - key + 1e-9 * max_cost
                if b2 < bound:
                    bound = b2
        r = v // W
        cc = v - r * W
        rv = np.float64(res[v])
        for d in range(8):
            rr = r + DR[d]
            c2 = cc + DC[d]
            if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                continue
            u = rr * W + c2
            ru = np.float64(res[u])
            if not (ru < np.inf):
                continue
            nkey = key + lens[d] * 0.5 * (rv + ru)
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched, n_t = append(touched, n_t, u)
                cum[u] = nkey
                heap, hn = heap_push(heap, hn, nkey, u)
    return n_t, touched, bound


@numba.njit(cache=True, nogil=True)
def pair_costs_search(res, H, W, lens, starts, max_cost, labels, wanted, cum, touched, min_step):  # pragma: no cover
    """The costs :func:`pair_bound_search` gives within its bound, found with the bucket queue
    (:func:`_bucket_search` with ``wanted``) when ``min_step`` allows, else with the heap.

    Returns ``(n_touched, touched, bound)``: every cell at or below ``bound`` has its exact cost, and
    ``bound`` is at least :func:`pair_bound_search`'s, so a pair of wanted patches whose costs sum to
    at most ``max_cost`` is found with the same costs; patches beyond the heap's bound (at most one
    smallest step further) can pair with none.
    """
    if max_cost < np.inf and _buckets_fit(max_cost, min_step):
        zero = np.zeros(starts.shape[0])
        n_t, touched, bound, ok = _bucket_search(res, H, W, lens, starts, zero, max_cost, cum, touched, zero, 0.0,
                                                 False, min_step, labels, wanted)
        if ok:
            return n_t, touched, bound
        _clear_costs(cum, touched, n_t)
    return pair_bound_search(res, H, W, lens, starts, max_cost, labels, wanted, cum, touched)


@numba.njit(cache=True, nogil=True)
def _lowered(res, H, W, lens, sidx, scost, starts, seeds, max_cost, cum, touched):  # pragma: no cover - compiled
    """The costs from a source after a change that only lowered resistance (or made cells passable)
    at some cells, from the costs before it: the cost array a full search bounded at ``max_cost``
    would leave, in ``cum`` (the cells in ``touched[:n_t]``); returns ``(n_t, touched)``.

    ``sidx``/``scost`` are the cells and costs the source's search wrote before the change (a search
    bounded at ``max_cost`` or beyond), ``starts`` the source cells (a start made passable by the
    change starts at 0); ``seeds`` are the changed cells and their 8 neighbours. Only the steps from
    or into a changed cell cost less now, so the search re-expands the seeds at their costs and goes
    on only where a cost falls. Every other cell keeps the cost the old search gave it, which the
    full search finds again: each cost is the smallest left-to-right sum of step costs over paths
    (the sum grows with its first term), and a path avoiding the changed cells costs what it did.
    """
    # The relaxation loop is written out as in dijkstra and pair_bound_search (an inline helper
    # measured about 5 % slower there).
    n_t = 0
    for t in range(sidx.shape[0]):
        c = sidx[t]
        touched, n_t = append(touched, n_t, c)
        cum[c] = scost[t]
    heap = new_heap(max(1024, 2 * seeds.shape[0]))
    hn = 0
    for s in range(starts.shape[0]):
        c = starts[s]
        if res[c] < np.inf and cum[c] > 0.0:
            if cum[c] == np.inf:
                touched, n_t = append(touched, n_t, c)
            cum[c] = 0.0
    for s in range(seeds.shape[0]):
        c = seeds[s]
        if cum[c] <= max_cost:
            heap, hn = heap_push(heap, hn, cum[c], c)
    while hn > 0:
        key, v, hn = heap_pop(heap, hn)
        if key > cum[v]:
            continue
        r = v // W
        cc = v - r * W
        rv = np.float64(res[v])  # finite: searches write costs to passable cells only
        for d in range(8):
            rr = r + DR[d]
            c2 = cc + DC[d]
            if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                continue
            u = rr * W + c2
            ru = np.float64(res[u])
            if not (ru < np.inf):
                continue
            nkey = key + lens[d] * 0.5 * (rv + ru)
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched, n_t = append(touched, n_t, u)
                cum[u] = nkey
                if nkey <= max_cost:
                    heap, hn = heap_push(heap, hn, nkey, u)
    return n_t, touched


@numba.njit(cache=True, nogil=True)
def surface_update(res, H, W, lens, sidx, scost, starts, seeds, max_cost, labels, src_label, cum, touched, best, best_cell):  # pragma: no cover
    """:func:`label_search` from a source whose cost surface before a change is known, after a change
    that only lowered resistance (or made cells passable) at some cells: the same labels and costs
    bit for bit (:func:`_lowered`, arguments as there).

    ``cum`` (inf), ``best`` (inf) and ``best_cell`` (-1) are reset before returning; also returns the
    box of the cells within ``max_cost`` (rows and columns, inclusive) and the touched buffer.
    """
    n_t, touched = _lowered(res, H, W, lens, sidx, scost, starts, seeds, max_cost, cum, touched)
    labs, costs, _ = collect_targets(cum, labels, touched, n_t, src_label, max_cost, best, best_cell)
    rmin, rmax, cmin, cmax = _box_and_reset(cum, touched, n_t, W, H, max_cost)
    return labs, costs, rmin, rmax, cmin, cmax, touched


@numba.njit(cache=True, nogil=True)
def surface_lowered(res, H, W, lens, sidx, scost, starts, seeds, max_cost, cum, touched):  # pragma: no cover
    """A source's surface (cells and costs, as :func:`cost_surface` gives them, in another order)
    after a change that only lowered resistance at some cells, from its surface before
    (:func:`_lowered`, arguments as there); ``cum`` is reset. Also returns the box of the touched
    cells (rows and columns, inclusive) and the touched buffer."""
    n_t, touched = _lowered(res, H, W, lens, sidx, scost, starts, seeds, max_cost, cum, touched)
    return _gather(cum, touched, n_t, W, H)


@numba.njit(cache=True, nogil=True)
def _gather(cum, touched, n_t, W, H):  # pragma: no cover - compiled
    """Cells (int32) and costs of ``touched[:n_t]``, ``cum`` reset, the box of the cells and ``touched``."""
    idx = np.empty(n_t, np.int32)
    cost = np.empty(n_t, np.float64)
    for t in range(n_t):
        u = touched[t]
        idx[t] = u
        cost[t] = cum[u]
    rmin, rmax, cmin, cmax = _box_and_reset(cum, touched, n_t, W, H, np.inf)
    return idx, cost, rmin, rmax, cmin, cmax, touched


@numba.njit(cache=True, nogil=True)
def cost_surface(res, H, W, lens, starts, max_cost, cum, touched, min_step):  # pragma: no cover - compiled
    """Cells and costs written by the bounded search from ``starts`` (:func:`cost_search`; costs
    within ``max_cost`` are final, those above it tentative), with ``cum`` reset; also the box of
    the touched cells (rows and columns, inclusive) and the touched buffer."""
    zero = np.zeros(starts.shape[0])
    n_t, touched, _ = cost_search(res, H, W, lens, starts, zero, max_cost, cum, touched, zero, 0.0, False, min_step)
    return _gather(cum, touched, n_t, W, H)
