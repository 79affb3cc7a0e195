"""Compiled surface-water kernels: priority-flood depression filling, D8 flow directions, flow
accumulation, fill-and-spill storm routing and the water level of partly filled depressions.

Cells are flat indices ``row * width + col`` of a C-ordered raster. Every kernel works on the cells of
a boolean ``valid`` mask (the region); the mask's border (cells with an 8-neighbour outside the mask or
the raster) is the open boundary where water leaves.

The flood visits the cells in non-decreasing order of filled elevation (Barnes et al. 2014), and each
cell's downstream cell is visited before it. Processing the cells in *reverse* visiting order is
therefore a topological order of the flow graph (upstream cells first): accumulation and routing are
single passes over that order, without a separate sort.

References
----------
Barnes, R., Lehman, C., Mulla, D. (2014). Priority-flood: An optimal depression-filling and
watershed-labeling algorithm for digital elevation models. Computers & Geosciences 62, 117-127.
"""

from __future__ import annotations

import numba
import numpy as np

from werkland._kernels.heap import heap_pop, heap_push, new_heap

__all__ = [
    "D8_DC",
    "D8_DR",
    "accumulate",
    "d8_downstream",
    "lake_depths",
    "priority_flood",
    "route_storm",
]

#: Neighbour offsets (row, column) in the order N, NE, E, SE, S, SW, W, NW (ties go to the first).
D8_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
D8_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
_DIST = np.array([1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0)])


@numba.njit(cache=True, nogil=True, inline="always")
def _neighbour(r, c, k, H, W):  # pragma: no cover - compiled
    """Flat index of neighbour ``k`` (:data:`D8_DR`, :data:`D8_DC`) of cell (r, c), -1 off the raster."""
    rr = r + D8_DR[k]
    cc = c + D8_DC[k]
    if rr < 0 or rr >= H or cc < 0 or cc >= W:
        return -1
    return rr * W + cc


@numba.njit(cache=True, nogil=True)
def priority_flood(dem, valid):  # pragma: no cover - compiled
    """Fill every depression of ``dem`` to its spill level (priority-flood with a pit queue).

    Parameters
    ----------
    dem : float64 array (H, W)
        Elevation (finite on valid cells).
    valid : bool array (H, W)
        Region cells; the others are outside (water reaching the region's border leaves it).

    Returns
    -------
    filled : float64 array (H * W,)
        Filled elevation (NaN outside): ``max(dem, spill level)``.
    parent : int64 array (H * W,)
        The neighbour from which the flood reached each cell (-1 for border cells and outside).
    order : int64 array (n_valid,)
        Valid cells in visiting order (non-decreasing filled elevation).

    Notes
    -----
    Border cells seed a binary heap keyed by elevation. A neighbour not above the current level is
    raised to it and queued in a FIFO "pit queue" that is emptied before the heap (Barnes et al. 2014,
    Algorithm 2, "improved priority-flood"), so flats and filled pits are crossed breadth first.
    """
    H, W = dem.shape
    n = H * W
    z = dem.ravel()
    v = valid.ravel()
    filled = np.full(n, np.nan)
    parent = np.full(n, -1, np.int64)
    closed = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    npop = 0
    heap = new_heap(1024)
    hn = 0
    pit = np.empty(n, np.int64)
    ph = 0
    pt = 0
    for r in range(H):
        for c in range(W):
            i = r * W + c
            if not v[i]:
                continue
            edge = False
            for k in range(8):
                j = _neighbour(r, c, k, H, W)
                if j < 0 or not v[j]:
                    edge = True
                    break
            if edge:
                closed[i] = True
                filled[i] = z[i]
                heap, hn = heap_push(heap, hn, z[i], i)
    while ph < pt or hn > 0:
        if ph < pt:
            i = pit[ph]
            ph += 1
        else:
            _, i, hn = heap_pop(heap, hn)
        order[npop] = i
        npop += 1
        r = i // W
        c = i - r * W
        zi = filled[i]
        for k in range(8):
            j = _neighbour(r, c, k, H, W)
            if j < 0 or closed[j] or not v[j]:
                continue
            closed[j] = True
            parent[j] = i
            if z[j] <= zi:
                filled[j] = zi
                pit[pt] = j
                pt += 1
            else:
                filled[j] = z[j]
                heap, hn = heap_push(heap, hn, z[j], j)
    return filled, parent, order[:npop]


@numba.njit(cache=True, nogil=True)
def d8_downstream(filled, valid, parent, width):  # pragma: no cover - compiled
    """D8 downstream cell of every valid cell on the filled surface.

    The steepest descent (drop / distance, diagonals sqrt(2) cells long) to a strictly lower valid
    neighbour; ties go to the first neighbour in the order N, NE, E, SE, S, SW, W, NW. A cell without
    a lower neighbour (a flat, a filled depression, a border cell) drains to the cell the flood came
    from (``parent``), and a border cell without a lower neighbour drains out of the region (-1).

    Returns
    -------
    int64 array (n,)
        Downstream flat index, -1 = leaves the region (and for cells outside).
    """
    n = filled.shape[0]
    H = n // width
    v = valid.ravel()
    down = np.full(n, -1, np.int64)
    for i in range(n):
        if not v[i]:
            continue
        r = i // width
        c = i - r * width
        zi = filled[i]
        best = 0.0
        bj = -1
        for k in range(8):
            j = _neighbour(r, c, k, H, width)
            if j < 0 or not v[j]:
                continue
            s = (zi - filled[j]) / _DIST[k]
            if s > best:
                best = s
                bj = j
        down[i] = bj if bj >= 0 else parent[i]
    return down


@numba.njit(cache=True, nogil=True)
def accumulate(down, order, weight):  # pragma: no cover - compiled
    """Sum ``weight`` over every cell's upstream cells, including the cell itself.

    ``order`` is the flood's visiting order (each cell's downstream cell comes before it), so one
    pass in reverse order sees every cell after all its upstream cells.
    """
    acc = weight.copy()
    for k in range(order.shape[0] - 1, -1, -1):
        i = order[k]
        d = down[i]
        if d >= 0:
            acc[d] += acc[i]
    return acc


@numba.njit(cache=True, nogil=True)
def route_storm(down, order, lake, lake_pos, n_lake_cells, release, capacity, q_m3):  # pragma: no cover - compiled
    """Route event runoff downslope through fill-and-spill depressions.

    Parameters
    ----------
    down : int64 array (n,)
        Downstream cell (:func:`d8_downstream`), -1 = leaves the region.
    order : int64 array
        The flood's visiting order.
    lake : int64 array (n,)
        Depression id of every cell (-1 = not in a depression).
    lake_pos : int32 array (n,)
        Position of every depression cell in the depression-cell list (-1 = none).
    n_lake_cells : int
        Length of that list.
    release : int64 array (n_lakes,)
        The depression's first-visited cell: its spill point, whose ``down`` is the cell the
        overflow continues to.
    capacity : float64 array (n_lakes,)
        Storage of each depression, m3.
    q_m3 : float64 array (n,)
        Runoff volume generated on each cell, m3 (0 outside).

    Returns
    -------
    out : float64 array (n,)
        Volume leaving each cell along its ``down`` edge, m3 (depression cells: 0, bar the
        release cell, which carries the overflow).
    received : float64 array (n_depression_cells,)
        Volume arriving at each depression cell (its runoff plus the inflow from upslope), m3, by
        ``lake_pos``.
    stored : float64 array (n_lakes,)
        Volume each depression keeps, m3 (``min(received, capacity)``).
    leaving : float
        Volume leaving the region, m3.
    """
    n = down.shape[0]
    nl = release.shape[0]
    inflow = np.zeros(n)
    out = np.zeros(n)
    received = np.zeros(n_lake_cells)
    lake_in = np.zeros(nl)
    stored = np.zeros(nl)
    leaving = 0.0
    for k in range(order.shape[0] - 1, -1, -1):
        i = order[k]
        tot = inflow[i] + q_m3[i]
        L = lake[i]
        if L >= 0:
            received[lake_pos[i]] = tot
            lake_in[L] += tot
            if i != release[L]:
                continue  # inside the depression: the water stays until the release cell
            s = min(lake_in[L], capacity[L])
            stored[L] = s
            o = lake_in[L] - s
        else:
            o = tot
        out[i] = o
        d = down[i]
        if d >= 0:
            inflow[d] += o
        else:
            leaving += o
    return out, received, stored, leaving


@numba.njit(cache=True, nogil=True)
def lake_depths(cells, starts, dem, filled, stored, capacity, cell_area):  # pragma: no cover - compiled
    """Standing-water depth (m) of every depression cell (in ``cells`` order) for the stored volumes.

    A full depression stands at its spill level (depth = filled - dem). A partly filled one stands at
    the one level ``h`` whose volume ``sum(max(0, h - dem)) * cell_area`` equals the stored volume
    (the depression fills as one pool).

    Parameters
    ----------
    cells : int64 array
        Depression cells sorted by depression id, then by elevation.
    starts : int64 array (n_lakes + 1,)
        ``cells[starts[L]:starts[L + 1]]`` are the cells of depression ``L``.
    dem, filled : float64 array (n,)
        Elevation and filled elevation.
    stored, capacity : float64 array (n_lakes,)
        Stored volume and storage of every depression, m3.
    cell_area : float
        m2.

    Returns
    -------
    float64 array (len(cells),)
        Depth of ``cells[j]``, m.
    """
    depth = np.zeros(cells.shape[0])
    for L in range(starts.shape[0] - 1):
        a = starts[L]
        b = starts[L + 1]
        s = stored[L]
        if s <= 0.0 or b <= a:
            continue
        if s >= capacity[L]:
            for j in range(a, b):
                c = cells[j]
                depth[j] = filled[c] - dem[c]
            continue
        vol = s / cell_area
        csum = 0.0
        h = dem[cells[a]]
        m = 0
        for k in range(a, b):
            csum += dem[cells[k]]
            m = k - a + 1
            h = (vol + csum) / m
            if k + 1 >= b or h <= dem[cells[k + 1]]:
                break
        tot = 0.0
        for j in range(a, a + m):
            d = h - dem[cells[j]]
            if d > 0.0:
                depth[j] = d
                tot += d
        if tot > 0.0:  # remove the rounding so that the depths hold exactly the stored volume
            f = vol / tot
            for j in range(a, a + m):
                depth[j] *= f
    return depth
