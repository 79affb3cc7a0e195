"""Compiled graph kernels: single-source shortest-path rows, shortest-path-tree losses (dPC
connector, betweenness) and the edge insertion of the what-if graph updates."""

from __future__ import annotations

import math

import numba
import numpy as np

from werkland._kernels.heap import indexed_lower, indexed_pop


@numba.njit(cache=True, nogil=True)
def path_value(d, mode):  # pragma: no cover - compiled
    if d == np.inf:
        return 0.0
    if mode == 0:
        return math.exp(-d)
    return 1.0 / (1.0 + d)


@numba.njit(cache=True, nogil=True)
def tree_losses(indptr, indices, weights, D, P, a, mode, i0, i1, limit, r0):  # pragma: no cover - compiled
    """Exact connector losses, betweenness and BCPC from the baseline shortest-path trees.

    For each source i and each interior vertex k of i's tree, the targets whose distance can
    change when k is removed are k's descendants; their new distances come from a Dijkstra over
    the descendant set seeded from the unaffected neighbours (old distances stay valid there). The
    Dijkstra keeps each descendant once in an indexed heap and lowers its key in place: a seed is
    typically lowered about four times from inside the subtree, and a heap of stale entries popped
    five times as many as it settled. A distance is the minimum over the same sums whichever heap
    orders the ties, so the losses are the same to the last bit.
    Returns per-node connector loss (sum over ordered pairs of a_i a_j (f(d) - f(d'))), the number
    of ordered pairs whose best path passes through k, and sum of a_i a_j f(d_ij) over them, for
    the sources ``i0 <= i < i1`` (the per-source sums are independent: the caller,
    :func:`werkland.connectivity.metrics.probability_metrics`, runs fixed chunks of sources on threads).
    Trees hold only targets with ``D[i, j] <= limit`` (``inf`` = all; tree paths only lengthen, so
    the pruned tree is the tree of those targets). ``D`` and ``P`` may be a block of rows: source
    ``i``'s distances and predecessors are row ``i - r0`` (``r0 = 0`` for the whole matrices).
    """
    n = a.shape[0]
    connector = np.zeros(n)
    bc = np.zeros(n)
    bcpc = np.zeros(n)
    nchild = np.zeros(n, np.int64)
    cptr = np.zeros(n + 1, np.int64)
    clist = np.empty(n, np.int64)
    fill = np.zeros(n, np.int64)
    mark = np.zeros(n, np.int64)
    done = np.zeros(n, np.int64)
    tent = np.full(n, np.inf)
    desc = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    hk = np.empty(n + 1, np.float64)
    hv = np.empty(n + 1, np.int64)
    pos = np.full(n, -1, np.int64)  # a descendant's slot in the indexed heap, -1: not in it
    stamp = 0
    for i in range(i0, i1):
        Di = D[i - r0]
        Pi = P[i - r0]
        nchild[:] = 0
        for j in range(n):
            p = Pi[j]
            if j != i and p >= 0 and Di[j] <= limit:
                nchild[p] += 1
        cptr[0] = 0
        for v in range(n):
            cptr[v + 1] = cptr[v] + nchild[v]
        fill[:] = 0
        for j in range(n):
            p = Pi[j]
            if j != i and p >= 0 and Di[j] <= limit:
                clist[cptr[p] + fill[p]] = j
                fill[p] += 1
        for k in range(n):
            if k == i or nchild[k] == 0:
                continue
            stamp += 1
            # descendants of k
            nd = 0
            top = 0
            for q in range(cptr[k], cptr[k + 1]):
                stack[top] = clist[q]
                top += 1
            while top > 0:
                top -= 1
                v = stack[top]
                desc[nd] = v
                nd += 1
                mark[v] = stamp
                for q in range(cptr[v], cptr[v + 1]):
                    stack[top] = clist[q]
                    top += 1
            mark[k] = stamp  # excluded from the graph
            # betweenness
            s_old = 0.0
            for t in range(nd):
                v = desc[t]
                s_old += a[v] * path_value(Di[v], mode)
            bc[k] += nd
            bcpc[k] += a[i] * s_old
            if a[i] == 0.0:
                continue
            # seeds: best entry from unaffected neighbours
            hn = 0
            for t in range(nd):
                v = desc[t]
                best = np.inf
                for q in range(indptr[v], indptr[v + 1]):
                    u = indices[q]
                    if mark[u] == stamp:
                        continue
                    du = Di[u]
                    if du < np.inf:
                        cand = du + weights[q]
                        if cand < best:
                            best = cand
                tent[v] = best
                if best < np.inf:
                    hn = indexed_lower(hk, hv, pos, hn, best, v)
            while hn > 0:
                key, v, hn = indexed_pop(hk, hv, pos, hn)
                done[v] = stamp
                for q in range(indptr[v], indptr[v + 1]):
                    u = indices[q]
                    if mark[u] != stamp or u == k or done[u] == stamp:
                        continue
                    nkey = key + weights[q]
                    if nkey < tent[u]:
                        tent[u] = nkey
                        hn = indexed_lower(hk, hv, pos, hn, nkey, u)
            s_new = 0.0
            for t in range(nd):
                v = desc[t]
                s_new += a[v] * path_value(tent[v], mode)
                tent[v] = np.inf
            loss = a[i] * (s_old - s_new)
            if loss > 0.0:
                connector[k] += loss
    return connector, bc, bcpc


@numba.njit(cache=True, nogil=True)
def sssp_rows(indptr, indices, weights, i0, i1, D, r0):  # pragma: no cover - compiled
    """Rows ``i0..i1-1`` of the all-pairs shortest-path matrix, written to ``D[s - r0]`` (Dijkstra,
    indexed binary heap; ``r0 = i0`` fills a block of ``i1 - i0`` rows): :func:`sssp_rows_limited`
    without a limit.

    A node's distance is the minimum of ``d[u] + w`` over its settled neighbours whatever the order
    in which equal keys leave the heap, so the rows equal scipy's ``csgraph.dijkstra`` bit for bit.
    """
    return sssp_rows_limited(indptr, indices, weights, np.arange(i0, i1), np.inf, D[i0 - r0 : i1 - r0])


@numba.njit(cache=True, nogil=True)
def predecessor_rows(indptr, indices, weights, sources, D, P):  # pragma: no cover - compiled
    """scipy's Dijkstra predecessors of the shortest-path rows ``D`` (row ``t`` from ``sources[t]``)
    on a symmetric graph, written to ``P`` (-9999: the source, unreached nodes); returns a flag per
    row, True where they cannot be told without scipy's heap.

    scipy's ``csgraph.dijkstra`` sets a node's predecessor when a scanned neighbour ``v`` first
    lowers its distance to the final one, and nodes are scanned in order of distance; so the
    predecessor of ``u`` is, of the neighbours with ``D[v] + w(v, u) == D[u]``, the one with the
    smallest ``D[v]``. Where two of them share that smallest distance, which one scipy scanned first
    depends on its heap: the row is flagged (the caller asks scipy for it), as it is when no
    neighbour qualifies.
    """
    n = indptr.shape[0] - 1
    ambiguous = np.zeros(sources.shape[0], np.bool_)
    for t in range(sources.shape[0]):
        s = sources[t]
        row = D[t]
        prow = P[t]
        for u in range(n):
            prow[u] = -9999
            du = row[u]
            if u == s or du == np.inf:
                continue
            best = -1
            bd = np.inf
            tie = False
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                dv = row[v]
                if dv + weights[e] == du:
                    if dv < bd:
                        bd = dv
                        best = v
                        tie = False
                    elif dv == bd:
                        tie = True
            if best < 0 or tie:
                ambiguous[t] = True
            prow[u] = best
    return ambiguous


@numba.njit(cache=True, nogil=True)
def sssp_rows_limited(indptr, indices, weights, sources, limit, D):  # pragma: no cover - compiled
    """Shortest-path rows from ``sources`` into ``D`` (one row each), up to ``limit``.

    scipy's ``csgraph.dijkstra(..., indices=sources, limit=limit)`` bit for bit: a node is reached
    only at a distance ``<= limit`` (farther: ``inf``); within it the distance is the minimum of
    ``d[u] + w`` over settled neighbours whatever the heap order (see :func:`sssp_rows`). Compiled
    without the GIL, so the guilds of one update run on threads side by side.

    The heap is indexed (each node at most once, its key lowered in place), so a row pops each node
    once: on the patch graphs, with tens of neighbours per node, a lazy heap held about six entries
    per node and its pops were most of the time (4.1 -> 0.9 ms per row on woodland birds' 3,411-node
    graph at 4 M cells; scipy's Fibonacci heap 2.3 ms).
    """
    n = indptr.shape[0] - 1
    hk = np.empty(max(n, 1), np.float64)
    hv = np.empty(max(n, 1), np.int64)
    pos = np.full(max(n, 1), -1, np.int64)  # heap slot of a node; -1 not in the heap
    for t in range(sources.shape[0]):
        s = sources[t]
        row = D[t]
        for v in range(n):
            row[v] = np.inf
        row[s] = 0.0
        hk[0] = 0.0
        hv[0] = s
        pos[s] = 0
        nh = 1
        while nh > 0:
            d, u, nh = indexed_pop(hk, hv, pos, nh)
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                nd = d + weights[e]
                # a settled node is never lowered (its distance <= d <= nd), so it never re-enters
                if nd < row[v] and nd <= limit:
                    row[v] = nd
                    nh = indexed_lower(hk, hv, pos, nh, nd, v)
    return 0


@numba.njit(cache=True, nogil=True)
def insert_edge(D, u, v, w, a):  # pragma: no cover - compiled
    """Shortest paths after adding edge (u, v) of length w, in place (D symmetric, all pairs, -ln p).

    ``D'[i, j] = min(D[i, j], D[i, u] + w + D[v, j], D[i, v] + w + D[u, j])``; a row changes only
    when ``D[i, u] + w < D[i, v]`` (or the mirror), so only those rows are scanned. Reading rows
    already updated yields walks no shorter than the exact value, so the result is exact. Returns
    the change of PCnum = Σ a_i a_j exp(-D_ij) (successive calls telescope to the total change).
    """
    delta = 0.0
    for i in range(D.shape[0]):
        x = D[i, u] + w  # i -> u -> (new edge) -> v -> ...
        if x < D[i, v]:
            delta += relax_row(D, i, x, v, a)
        y = D[i, v] + w  # i -> v -> (new edge) -> u -> ...
        if y < D[i, u]:
            delta += relax_row(D, i, y, u, a)
    return delta


@numba.njit(cache=True, nogil=True)
def relax_row(D, i, x, r, a):  # pragma: no cover - compiled
    """Row ``i`` of :func:`insert_edge`: ``D[i, j] = min(D[i, j], x + D[r, j])``; returns the PCnum change."""
    delta = 0.0
    for j in range(D.shape[0]):
        c = x + D[r, j]
        if c < D[i, j]:
            delta += a[i] * a[j] * (math.exp(-c) - math.exp(-D[i, j]))
            D[i, j] = c
    return delta
