"""Branch and node currents from node potentials (compiled).

Circuitscape's node current is ``max(total inflow, total outflow)`` through a node, counted over its
branches (and its finite ground, as an outflow when the node's potential is positive). Branch
currents smaller than ``1e-8`` times the largest branch current are treated as 0, as Circuitscape
does, so round-off never paints a faint current over a disconnected area.
"""

from __future__ import annotations

import numba
import numpy as np

from werkland.currents.graph import GridGraph

__all__ = ["BRANCH_CUTOFF", "accumulate_node_currents", "branch_currents", "node_currents"]

#: Branch currents below this fraction of the largest branch current count as 0.
BRANCH_CUTOFF = 1e-8


@numba.njit(cache=True, nogil=True)
def _node_current_kernel(ei, ej, w, xa, xb, use_b, ground, use_ground, inflow, outflow, out, scale):  # pragma: no cover - compiled
    n_e = ei.size
    big = 0.0
    for e in range(n_e):
        a = ei[e]
        b = ej[e]
        va = xa[a] - xb[a] if use_b else xa[a]
        vb = xa[b] - xb[b] if use_b else xa[b]
        cur = abs(w[e] * (va - vb))
        if cur > big:
            big = cur
    thr = big * 1e-8
    inflow[:] = 0.0
    outflow[:] = 0.0
    for e in range(n_e):
        a = ei[e]
        b = ej[e]
        va = xa[a] - xb[a] if use_b else xa[a]
        vb = xa[b] - xb[b] if use_b else xa[b]
        cur = w[e] * (va - vb)
        if abs(cur) < thr or cur == 0.0:
            continue
        if cur > 0:
            outflow[a] += cur
            inflow[b] += cur
        else:
            outflow[b] -= cur
            inflow[a] -= cur
    if use_ground:
        for k in range(ground.size):
            g = ground[k]
            if g > 0:
                v = xa[k] - xb[k] if use_b else xa[k]
                c = g * v
                if c > 0:
                    outflow[k] += c
                else:
                    inflow[k] -= c
    for k in range(out.size):
        m = inflow[k] if inflow[k] > outflow[k] else outflow[k]
        out[k] += scale * m


class _Work:
    """Scratch buffers of one graph size."""

    def __init__(self, n: int) -> None:
        self.inflow = np.zeros(n)
        self.outflow = np.zeros(n)
        self.zeros = np.zeros(n)
        self.zeros_g = np.zeros(1)


def accumulate_node_currents(
    graph: GridGraph,
    out: np.ndarray,
    xa: np.ndarray,
    xb: np.ndarray | None = None,
    *,
    ground: np.ndarray | None = None,
    scale: float = 1.0,
    work: _Work | None = None,
) -> None:
    """Add ``scale *`` the node currents of the potentials ``xa - xb`` to ``out`` (in place).

    Parameters
    ----------
    graph : GridGraph
        The graph.
    out : numpy.ndarray
        float64 per-node accumulator.
    xa, xb : numpy.ndarray
        Node potentials; the potential used is ``xa - xb`` (``xb`` omitted: ``xa``).
    ground : numpy.ndarray, optional
        Finite conductance to ground per node.
    scale : float
        Weight of this solve.
    work : optional
        Reused scratch buffers (:func:`node_currents` makes its own).
    """
    n = graph.n_nodes
    wk = work or _Work(n)
    _node_current_kernel(
        graph.ei, graph.ej, graph.w,
        np.ascontiguousarray(xa, dtype=np.float64),
        wk.zeros if xb is None else np.ascontiguousarray(xb, dtype=np.float64),
        xb is not None,
        wk.zeros_g if ground is None else np.ascontiguousarray(ground, dtype=np.float64),
        ground is not None,
        wk.inflow, wk.outflow, out, float(scale),
    )


def node_currents(graph: GridGraph, v: np.ndarray, *, ground: np.ndarray | None = None) -> np.ndarray:
    """Node current ``max(inflow, outflow)`` of every node for potentials ``v``."""
    out = np.zeros(graph.n_nodes)
    accumulate_node_currents(graph, out, v, ground=ground)
    return out


def branch_currents(graph: GridGraph, v: np.ndarray) -> np.ndarray:
    """Absolute current of every edge (``graph.ei``, ``graph.ej``), small currents zeroed."""
    cur = np.abs(graph.w * (v[graph.ei] - v[graph.ej]))
    if cur.size:
        cur[cur < BRANCH_CUTOFF * cur.max()] = 0.0
    return cur
