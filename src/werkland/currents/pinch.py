"""Pinch points: Linkage Mapper's Pinchpoint Mapper in adjacent-pair mode.

For every link (patch pair) the normalised least-cost corridor ``CWD_a + CWD_b - LCD_ab`` is
truncated at the corridor width (cost-weighted metres, ``corridor_width_cost``); 1 A flows from patch
``a`` to patch ``b`` through the corridor cells only (both patches short-circuited), and the node
currents are summed over links. Each link also gets its corridor effective resistance.

Cost distances use werkland's least-cost rule (:func:`werkland.connectivity.cost_distance_bounded`:
step length x mean resistance, 8 neighbours, cost-weighted metres); one bounded search per patch
serves all of its links. The circuit inside the corridor uses the Circuitscape graph
(:mod:`werkland.currents.graph`) on the corridor's bounding box.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from werkland.connectivity import cost_distance_bounded
from werkland.currents.flow import accumulate_node_currents
from werkland.currents.graph import grid_graph
from werkland.currents.solver import ComponentSolver, SolverSettings

log = logging.getLogger(__name__)

__all__ = ["PinchResult", "pinch_points"]


@dataclass
class PinchResult:
    """Pinch-point current and per-link corridor figures.

    Attributes
    ----------
    current : numpy.ndarray
        Node current summed over links (A), 0 outside every corridor.
    links : pandas.DataFrame
        ``from_id``, ``to_id``, ``lcd`` (cost-weighted m), ``corridor_cells``, ``r_eff_corridor``
        (NaN when the corridor does not connect the patches).
    residual : float
        Largest relative residual of the solves.
    """

    current: np.ndarray
    links: pd.DataFrame
    residual: float


@dataclass
class _Reach:
    idx: np.ndarray  # sorted flat indices reached (int32 / int64)
    cwd: np.ndarray  # float32 cost distance there


def _reach(res: np.ndarray, mask: np.ndarray, res_m: float, bound: float) -> _Reach:
    cwd = np.asarray(cost_distance_bounded(res, mask, res_m=res_m, max_cost=bound)).ravel()
    idx = np.flatnonzero(np.isfinite(cwd))
    itype = np.int32 if cwd.size < 2**31 else np.int64
    return _Reach(idx.astype(itype), cwd[idx].astype(np.float32))


#: State shared with forked worker processes (set just before the pool starts).
_SHARED: dict = {}


def pinch_points(
    resistance: np.ndarray,
    patches: np.ndarray,
    links: Sequence[tuple[int, int, float]],
    *,
    res_m: float,
    corridor_width: float,
    four_neighbors: bool = False,
    avg_resistance: bool = False,
    settings: SolverSettings | None = None,
    label: str = "",
    n_workers: int = 1,
) -> PinchResult:
    """Adjacent-pair pinch points of a set of links.

    Parameters
    ----------
    resistance : numpy.ndarray
        Resistance per cell (inf, NaN or <= 0: impassable).
    patches : numpy.ndarray
        Patch ids (0 = none).
    links : sequence of (int, int, float)
        ``(from_id, to_id, cost_distance)``; the cost distance (NaN when unknown) bounds the
        searches.
    res_m : float
        Cell size (m) of the cost distances.
    corridor_width : float
        Corridor truncation in cost-weighted metres.
    four_neighbors, avg_resistance : bool
        Circuit graph options (:func:`~werkland.currents.graph.grid_graph`).
    settings : SolverSettings, optional
        Solver.
    label : str
        Named in solver errors.
    n_workers : int
        Threads for the cost-distance searches and processes for the corridor solves.

    Returns
    -------
    PinchResult
    """
    res = np.asarray(resistance, dtype=np.float64).copy()
    res[~np.isfinite(res) | (res <= 0)] = np.inf
    lab = np.asarray(patches)
    settings = settings or SolverSettings()
    bound: dict[int, float] = {}
    for a, b, c in links:
        lim = (float(c) + corridor_width) * (1 + 1e-6) if np.isfinite(c) else np.inf
        for p in (int(a), int(b)):
            bound[p] = max(bound.get(p, 0.0), lim)
    ids = sorted(bound)
    workers = max(1, int(n_workers))
    with ThreadPoolExecutor(workers) as ex:
        reach = dict(zip(ids, ex.map(lambda p: _reach(res, lab == p, res_m, bound[p]), ids), strict=True))
    patch_cells = {p: np.flatnonzero((lab == p).ravel()) for p in ids}
    _SHARED.update(res=res, lab=lab, reach=reach, cells=patch_cells, width=corridor_width,
                   opts=(four_neighbors, avg_resistance, settings, label))
    try:
        jobs = [list(links)[k::workers * 4] for k in range(workers * 4)] if workers > 1 else [list(links)]
        if workers > 1 and len(links) > 8:
            with ProcessPoolExecutor(workers, mp_context=_fork_context()) as ex:
                parts = list(ex.map(_link_batch, jobs))
        else:
            parts = [_link_batch(j) for j in jobs]
    finally:
        _SHARED.clear()
    current = np.zeros(res.shape)
    rows: list[dict] = []
    residual = 0.0
    for cur, rws, rk in parts:
        current += cur
        rows += rws
        residual = max(residual, rk)
    order = {(int(a), int(b)): k for k, (a, b, _) in enumerate(links)}
    rows.sort(key=lambda r: order[(r["from_id"], r["to_id"])])
    table = pd.DataFrame(rows, columns=["from_id", "to_id", "lcd", "corridor_cells", "r_eff_corridor"])
    return PinchResult(current, table, residual)


def _fork_context():
    import multiprocessing as mp

    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _link_batch(batch: list[tuple[int, int, float]]) -> tuple[np.ndarray, list[dict], float]:
    """Corridor currents of some links (in a worker process or in-process)."""
    res, lab, reach, cells_of = _SHARED["res"], _SHARED["lab"], _SHARED["reach"], _SHARED["cells"]
    width = _SHARED["width"]
    four, avg, settings, label = _SHARED["opts"]
    current = np.zeros(res.shape)
    rows = []
    residual = 0.0
    dense = np.full(res.size, np.inf, dtype=np.float32)  # cost distance from the current patch a
    filled: int | None = None
    for a, b, _ in sorted(batch, key=lambda x: (int(x[0]), int(x[1]))):
        a, b = int(a), int(b)
        row = {"from_id": a, "to_id": b, "lcd": np.nan, "corridor_cells": 0, "r_eff_corridor": np.nan}
        rows.append(row)
        ra, rb = reach[a], reach[b]
        if filled != a:
            if filled is not None:
                dense[reach[filled].idx] = np.inf
            dense[ra.idx] = ra.cwd
            filled = a
        to_b = dense[cells_of[b]]
        if not np.isfinite(to_b).any():
            log.warning("%s: patch %d cannot reach patch %d within the search bound; no pinch points", label, a, b)
            continue
        lcd = float(to_b.min())
        nlcc = dense[rb.idx].astype(np.float64) + rb.cwd - lcd
        corridor = rb.idx[nlcc <= width * (1 + 1e-6)].astype(np.int64)
        cells = np.union1d(corridor, np.concatenate([cells_of[a], cells_of[b]]))
        row.update(lcd=lcd, corridor_cells=int(corridor.size))
        r_eff, res_k = _corridor_current(res, lab, cells, a, b, current, four, avg, settings, label)
        row["r_eff_corridor"] = r_eff
        residual = max(residual, res_k)
    return current, rows, residual


def _corridor_current(
    res: np.ndarray, lab: np.ndarray, cells: np.ndarray, a: int, b: int, out: np.ndarray,
    four: bool, avg: bool, settings: SolverSettings, label: str,
) -> tuple[float, float]:
    """Solve 1 A from patch a to patch b on the corridor cells; add node currents to ``out``."""
    H, W = res.shape
    r, c = cells // W, cells % W
    r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
    cond = np.zeros((r1 - r0, c1 - c0))
    cond[r - r0, c - c0] = 1.0 / res[r, c]
    sub = lab[r0:r1, c0:c1]
    regions = np.where(sub == a, 1, np.where(sub == b, 2, 0)) * (cond > 0)
    g = grid_graph(cond, regions=regions, four_neighbors=four, avg_resistance=avg)
    nm = g.nodemap
    assert nm is not None
    na = nm[regions == 1]
    nb = nm[regions == 2]
    if na.size == 0 or nb.size == 0:
        return np.nan, 0.0
    na, nb = int(na[0]), int(nb[0])
    comp = g.components()
    if comp[na] != comp[nb]:
        log.warning("%s: the corridor of patches %d-%d does not connect them", label, a, b)
        return np.nan, 0.0
    nodes = np.flatnonzero(comp == comp[na])
    solver = ComponentSolver(g.laplacian(), nodes, np.array([nb]), settings=settings, label=label)
    rhs = np.zeros(solver.free.size)
    rhs[np.searchsorted(solver.free, na)] = 1.0
    v = np.zeros(g.n_nodes)
    v[solver.free] = solver.solve(rhs)
    nc = np.zeros(g.n_nodes)
    accumulate_node_currents(g, nc, v)
    win = out[r0:r1, c0:c1]
    on = nm >= 0
    win[on] += nc[nm[on]]
    return float(v[na]), solver.max_residual
