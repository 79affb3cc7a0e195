"""Bounded multi-source Dijkstra on an 8-connected grid (the MCP_Geometric step rule of
scikit-image) and the helpers of the link, corridor and label searches."""

from __future__ import annotations

import numba
import numpy as np

from werkland._kernels.heap import append, heap_pop, heap_push

DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)


DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


def step_lengths(res_m: float) -> np.ndarray:
    """Step lengths of the 8 moves, computed like skimage (sqrt of summed squared offsets)."""
    s = float(res_m)
    return np.sqrt((DR * s) ** 2.0 + (DC * s) ** 2.0).astype(np.float64)


@numba.njit(cache=True, nogil=True, inline="always")
def _seed(res, starts, start_cost, cum, pred, track, touched, n_t):  # pragma: no cover - compiled
    """Write the start costs into ``cum`` and a new heap: the first step of :func:`dijkstra` and
    :func:`pair_bound_search`. Returns ``(touched, n_t, hk, hv, hn)``."""
    cap = 1024
    if 4 * starts.shape[0] > cap:
        cap = 4 * starts.shape[0]
    hk = np.empty(cap, np.float64)
    hv = np.empty(cap, np.int64)
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
            hk, hv, hn = heap_push(hk, hv, hn, v0, c)
    return touched, n_t, hk, hv, hn


@numba.njit(cache=True, nogil=True)
def dijkstra(res, H, W, lens, starts, start_cost, max_cost, cum, pred, touched, prune, prune_limit, use_prune):  # pragma: no cover
    """Bounded multi-source Dijkstra on an 8-connected grid (MCP_Geometric step rule).

    ``cum`` (inf) and ``pred`` (-1) are full-size work arrays that must be clean on entry; every
    cell written is listed in ``touched[:n_touched]`` so the caller can reset in O(touched).
    Cells with ``cum <= max_cost`` are final; others (if any) are tentative. An empty ``pred``
    skips the predecessors (searches that need only costs save a full-size array).
    """
    track = pred.shape[0] > 0
    touched, n_t, hk, hv, hn = _seed(res, starts, start_cost, cum, pred, track, touched, 0)
    while hn > 0:
        key, v, hn = heap_pop(hk, hv, hn)
        if key > cum[v]:
            continue
        if key > max_cost:
            break
        if use_prune and key + prune[v] > prune_limit:
            continue
        r = v // W
        cc = v - r * W
        rv = res[v]
        for d in range(8):
            rr = r + DR[d]
            c2 = cc + DC[d]
            if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                continue
            u = rr * W + c2
            ru = res[u]
            if not (ru < np.inf):
                continue
            nkey = key + lens[d] * 0.5 * (rv + ru)
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched, n_t = append(touched, n_t, u)
                cum[u] = nkey
                if track:
                    pred[u] = v
                hk, hv, hn = heap_push(hk, hv, hn, nkey, u)
    return n_t, touched


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
def label_search(res, H, W, lens, starts, max_cost, labels, src_label, cum, touched, best, best_cell):  # pragma: no cover
    """Min cost from ``starts`` to every other label within ``max_cost``: connectivity's bounded
    Dijkstra (same step rule and heap) and target collection, then one pass over the touched cells.

    ``cum`` (inf), ``best`` (per label, inf) and ``best_cell`` (-1) are reset before returning; also
    returns the box of touched cells and the (possibly grown) ``touched`` buffer.
    """
    zero = np.zeros(starts.shape[0])
    no_pred = np.empty(0, np.int64)  # costs only
    n_t, touched = dijkstra(res, H, W, lens, starts, zero, max_cost, cum, no_pred, touched, zero, 0.0, False)
    labs, costs, _ = collect_targets(cum, labels, touched, n_t, src_label, max_cost, best, best_cell)
    rmin, rmax, cmin, cmax = H, -1, W, -1
    for t in range(n_t):
        u = touched[t]
        cum[u] = np.inf
        r = u // W
        cc = u - r * W
        rmin = min(rmin, r)
        rmax = max(rmax, r)
        cmin = min(cmin, cc)
        cmax = max(cmax, cc)
    return labs, costs, n_t, rmin, rmax, cmin, cmax, touched


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
    touched, n_t, hk, hv, hn = _seed(res, starts, np.zeros(starts.shape[0]), cum, no_pred, False, touched, 0)
    while hn > 0:
        key, v, hn = heap_pop(hk, hv, hn)
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
        rv = res[v]
        for d in range(8):
            rr = r + DR[d]
            c2 = cc + DC[d]
            if rr < 0 or rr >= H or c2 < 0 or c2 >= W:
                continue
            u = rr * W + c2
            ru = res[u]
            if not (ru < np.inf):
                continue
            nkey = key + lens[d] * 0.5 * (rv + ru)
            if nkey < cum[u]:
                if cum[u] == np.inf:
                    touched, n_t = append(touched, n_t, u)
                cum[u] = nkey
                hk, hv, hn = heap_push(hk, hv, hn, nkey, u)
    return n_t, touched, bound
