"""Pairwise effective resistance between focal nodes in at most n solves, and cumulative current.

In each connected component the first focal node is grounded and 1 A is injected at every other
focal node in turn: ``n_c - 1`` solves give the columns of ``G``, the inverse of the grounded
Laplacian restricted to the focal nodes, and every pair follows from

    R_eff(a, b) = G_aa + G_bb - 2 G_ab        (G of the grounded node = 0)

(Circuitscape's "resistance shortcut"). By superposition the potentials of the pair solve "1 A in
at a, out at b" are ``x_a - x_b``, so the cumulative current over any list of pairs needs no further
solve. Focal nodes in different components are *not connected*: their ``r_eff`` is NaN and
``connected`` is False -- never a number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from werkland.currents.flow import _Work, accumulate_node_currents
from werkland.currents.graph import GridGraph
from werkland.currents.solver import ComponentSolver, SolverSettings

log = logging.getLogger(__name__)

__all__ = ["PairwiseSolution", "cumulative_current", "pair_current", "pair_potential", "pairwise_resistance"]

#: Right-hand sides solved together (bounds the temporary dense blocks).
_BATCH = 16


@dataclass
class PairwiseSolution:
    """Effective resistances between focal nodes and the unit-injection potentials behind them.

    Attributes
    ----------
    focal_nodes : numpy.ndarray
        Graph node of each focal point (-1: the point is not on the graph).
    component : numpy.ndarray
        Component label of each focal point (-1: not on the graph).
    r_eff : numpy.ndarray
        ``(k, k)`` effective resistances; NaN for pairs not connected, 0 on the diagonal and between
        points on the same node.
    connected : numpy.ndarray
        ``(k, k)`` bool: both points on the graph and in the same component.
    columns : numpy.ndarray
        Column of :attr:`potentials` of each focal point (-1 for the grounded point of its
        component or a point off the graph: potentials 0).
    potentials : numpy.ndarray or None
        ``(n_nodes, m)`` potentials for 1 A injected at a focal node, the component's first focal
        node grounded (None when not kept).
    residual : float
        Largest relative residual of the solves.
    solves : int
        Number of right-hand sides solved.
    methods : dict
        Solver used per component label.
    solvers : dict
        The factorised component solvers (kept with ``keep_solvers``) for further pair solves.
    """

    focal_nodes: np.ndarray
    component: np.ndarray
    r_eff: np.ndarray
    connected: np.ndarray
    columns: np.ndarray
    potentials: np.ndarray | None
    residual: float = 0.0
    solves: int = 0
    methods: dict[int, str] = field(default_factory=dict)
    solvers: dict[int, ComponentSolver] = field(default_factory=dict)

    def column(self, i: int, n_nodes: int) -> np.ndarray:
        """Potentials for 1 A at focal point ``i`` (zeros for a grounded or off-graph point)."""
        if self.potentials is None:
            raise ValueError("potentials were not kept (keep_potentials=False)")
        c = int(self.columns[i])
        return self.potentials[:, c] if c >= 0 else np.zeros(n_nodes)


def pairwise_resistance(
    graph: GridGraph,
    focal_nodes: np.ndarray,
    *,
    settings: SolverSettings | None = None,
    label: str = "",
    keep_potentials: bool = True,
    keep_solvers: bool = False,
) -> PairwiseSolution:
    """Effective resistance between every pair of focal nodes, one solve per focal node.

    Parameters
    ----------
    graph : GridGraph
        Conductance graph.
    focal_nodes : numpy.ndarray
        Graph node of each focal point (-1: off the graph, e.g. on nodata).
    settings : SolverSettings, optional
        Solver method and tolerance.
    label : str
        Named in solver errors (the guild).
    keep_potentials : bool
        Keep the ``(n_nodes, m)`` potentials for current maps (else only the focal rows).
    keep_solvers : bool
        Keep the component solvers, so :func:`cumulative_current` can solve pairs without stored
        potentials (one solve per pair, the factorisation reused).

    Returns
    -------
    PairwiseSolution
    """
    settings = settings or SolverSettings()
    f = np.asarray(focal_nodes, dtype=np.int64)
    k = f.size
    comp_of_node = graph.components()
    comp = np.where(f >= 0, comp_of_node[np.maximum(f, 0)] if graph.n_nodes else -1, -1)
    columns = np.full(k, -1, dtype=np.int64)
    # one column per distinct non-ground focal node
    ground_of: dict[int, int] = {}
    col_of_node: dict[int, int] = {}
    for i in range(k):
        if f[i] < 0:
            continue
        c = int(comp[i])
        if c not in ground_of:
            ground_of[c] = int(f[i])
        if int(f[i]) == ground_of[c]:
            continue
        if int(f[i]) not in col_of_node:
            col_of_node[int(f[i])] = len(col_of_node)
        columns[i] = col_of_node[int(f[i])]
    m = len(col_of_node)
    n = graph.n_nodes
    pot = np.zeros((n, m)) if keep_potentials else None
    focal_rows = np.zeros((k, m))
    lap = graph.laplacian() if ground_of else None
    residual, solves, methods, kept = 0.0, 0, {}, {}
    for c, g0 in ground_of.items():
        nodes = np.flatnonzero(comp_of_node == c)
        cols_nodes = [u for u in col_of_node if comp_of_node[u] == c]
        if not cols_nodes:
            continue
        solver = ComponentSolver(lap, nodes, np.array([g0]), settings=settings, label=label)
        methods[c] = solver.method
        pos = np.full(n, -1, dtype=np.int64)
        pos[solver.free] = np.arange(solver.free.size)
        idx = np.flatnonzero((comp == c) & (f >= 0))
        idx = idx[pos[f[idx]] >= 0]
        cols_c = [col_of_node[u] for u in cols_nodes]
        for s0 in range(0, len(cols_nodes), _BATCH):
            s1 = min(s0 + _BATCH, len(cols_nodes))
            rhs = np.zeros((solver.free.size, s1 - s0), order="F")
            rhs[pos[cols_nodes[s0:s1]], np.arange(s1 - s0)] = 1.0
            x = solver.solve(rhs)
            cols = np.asarray(cols_c[s0:s1], dtype=np.int64)
            if pot is not None:
                pot[solver.free[:, None], cols[None, :]] = x
            focal_rows[np.ix_(idx, cols)] = x[pos[f[idx]]]
        solves += len(cols_nodes)
        residual = max(residual, solver.max_residual)
        if keep_solvers:
            kept[c] = solver
        log.info("%s: component %d, %d nodes, %d solves (%s), residual %.2e", label, c, nodes.size,
                 len(cols_nodes), solver.method, max(residual, solver.max_residual))
    r_eff, connected = _resistances(f, comp, columns, focal_rows)
    return PairwiseSolution(f, comp, r_eff, connected, columns, pot, residual, solves, methods, kept)


def _resistances(f: np.ndarray, comp: np.ndarray, columns: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = f.size
    gdiag = np.array([rows[i, columns[i]] if columns[i] >= 0 else 0.0 for i in range(k)])
    gij = np.zeros((k, k))
    for j in range(k):
        if columns[j] >= 0:
            gij[:, j] = rows[:, columns[j]]
    r = gdiag[:, None] + gdiag[None, :] - gij - gij.T
    connected = (f[:, None] >= 0) & (f[None, :] >= 0) & (comp[:, None] == comp[None, :])
    same = f[:, None] == f[None, :]
    r = np.where(same & connected, 0.0, r)
    r = np.where(connected, np.maximum(r, 0.0), np.nan)
    np.fill_diagonal(r, 0.0)
    np.fill_diagonal(connected, True)
    return r, connected


def pair_potential(graph: GridGraph, sol: PairwiseSolution, a: int, b: int) -> np.ndarray:
    """Node potentials of the solve "1 A out at focal ``a``, 1 A in at ``b``", 0 V at ``a``.

    This is Circuitscape's pair voltage (``v_a = 0``, ``v_b = R_eff``); 0 off the pair's component.
    """
    v = sol.column(b, graph.n_nodes) - sol.column(a, graph.n_nodes)
    na = int(sol.focal_nodes[a])
    out = v - v[na]
    comp = graph.components()
    out[comp != sol.component[a]] = 0.0
    return out


def pair_current(graph: GridGraph, sol: PairwiseSolution, a: int, b: int) -> np.ndarray:
    """Node currents of the pair solve between focal points ``a`` and ``b`` (0 if not connected)."""
    out = np.zeros(graph.n_nodes)
    if sol.connected[a, b] and sol.focal_nodes[a] != sol.focal_nodes[b]:
        accumulate_node_currents(graph, out, sol.column(a, graph.n_nodes), sol.column(b, graph.n_nodes))
    return out


def cumulative_current(
    graph: GridGraph, sol: PairwiseSolution, pairs: Iterable[tuple[int, int]], weights: Iterable[float] | None = None
) -> np.ndarray:
    """Node currents summed over pair solves (1 A between the two focal points of each pair).

    Parameters
    ----------
    graph : GridGraph
        The graph of :func:`pairwise_resistance`.
    sol : PairwiseSolution
        Its result, with potentials (superposition, no solve) or solvers (one solve per pair).
    pairs : iterable of (int, int)
        Focal-point indices; pairs not connected or on one node contribute nothing.
    weights : iterable of float, optional
        Current of each pair solve (default 1 A).

    Returns
    -------
    numpy.ndarray
        Per-node current (A).
    """
    out = np.zeros(graph.n_nodes)
    work = _Work(graph.n_nodes)
    pl = list(pairs)
    wl = [1.0] * len(pl) if weights is None else [float(w) for w in weights]
    todo = [(a, b, w) for (a, b), w in zip(pl, wl, strict=True)
            if sol.connected[a, b] and sol.focal_nodes[a] != sol.focal_nodes[b]]
    if sol.potentials is not None:
        for a, b, w in todo:
            accumulate_node_currents(
                graph, out, sol.column(a, graph.n_nodes), sol.column(b, graph.n_nodes), scale=w, work=work
            )
        return out
    if todo and not sol.solvers:
        raise ValueError("neither potentials nor solvers were kept (keep_potentials / keep_solvers)")
    for start in range(0, len(todo), _BATCH):
        chunk = todo[start:start + _BATCH]
        for c in {int(sol.component[a]) for a, _, _ in chunk}:
            part = [(a, b, w) for a, b, w in chunk if sol.component[a] == c]
            solver = sol.solvers[c]
            pos = np.full(graph.n_nodes, -1, dtype=np.int64)
            pos[solver.free] = np.arange(solver.free.size)
            rhs = np.zeros((solver.free.size, len(part)))
            for k, (a, b, _) in enumerate(part):
                for node, amp in ((sol.focal_nodes[a], 1.0), (sol.focal_nodes[b], -1.0)):
                    if pos[node] >= 0:
                        rhs[pos[node], k] += amp
            x = solver.solve(rhs)
            v = np.zeros(graph.n_nodes)
            for k, (_, _, w) in enumerate(part):
                v[solver.free] = x[:, k]
                accumulate_node_currents(graph, out, v, scale=w, work=work)
    return out
