"""What-if patch graphs: a baseline (:class:`GraphState`) and the exact PC / ECA after links change
(:func:`eca_after_link_change`), used by the barrier and intervention stages."""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from werkland._errors import WerklandInputError
from werkland._kernels.graph import insert_edge
from werkland.connectivity.apsp import (
    ComponentMatrix,
    apsp,
    check_areas,
    distance_matrix,
    edge_arrays,
    graph_key,
    pcnum,
    sym_csr,
)
from werkland.connectivity.distance_store import read_component_distances

log = logging.getLogger(__name__)


@dataclass
class GraphState:
    """Baseline of a patch graph, reusable for fast what-if evaluations.

    Attributes
    ----------
    areas_ha : numpy.ndarray
        Node weights a_i (ha).
    i, j, cost : numpy.ndarray
        Deduplicated undirected edges (0-based, ``i < j``), cost in cost-weighted m.
    k_per_m : float
        Kernel decay rate.
    landscape_area_ha : float
        A_L (ha).
    dist : numpy.ndarray or ComponentMatrix
        (n, n) shortest-path lengths on ``-ln p`` (``p*_ij = exp(-dist)``), ``inf`` if disconnected;
        a :class:`~werkland.connectivity.apsp.ComponentMatrix` keeps only the pairs within each
        connected component (``GraphState.build(..., by_component=True)``).
    pcnum : float
        PCnum (ha²).
    """

    areas_ha: np.ndarray
    i: np.ndarray
    j: np.ndarray
    cost: np.ndarray
    k_per_m: float
    landscape_area_ha: float
    dist: np.ndarray | ComponentMatrix
    pcnum: float

    @classmethod
    def build(cls, areas_ha: Any, edges: Any, k_per_m: float, landscape_area_ha: float, *,
              by_component: bool = False, distances_file: str | os.PathLike[str] | None = None) -> GraphState:
        """Compute the baseline (all-pairs shortest paths on ``-ln p``) of a patch graph.

        Parameters
        ----------
        areas_ha : array-like
            Node weights (ha).
        edges : array-like or tuple
            ``(i, j, cost)`` triples, 0-based nodes, cost-weighted m (see
            :func:`~werkland.connectivity.metrics.probability_metrics`).
        k_per_m : float
            Kernel decay rate.
        landscape_area_ha : float
            A_L (ha).
        by_component : bool
            Keep the distances per connected component (:class:`~werkland.connectivity.apsp.ComponentMatrix`:
            the same values and PCnum, a fraction of the memory when the graph falls apart in many
            components); :func:`eca_after_link_change` then makes the whole matrix only where it
            needs it (no tolerance, a change near every node, new node weights, a new state).
        distances_file : path-like, optional
            With ``by_component``: ``graph/{guild}_distances.npz`` of the connectivity job
            (:mod:`~werkland.connectivity.distance_store`), read instead of searching when it is of
            this graph (the same nodes, links and lengths: the same distances bit for bit).
        """
        a = check_areas(areas_ha)
        n = a.size
        i, j, c = edge_arrays(edges, n)
        if by_component:
            g = sym_csr(n, i, j, k_per_m * c) if n else sp.csr_matrix((0, 0))
            cm = None
            if distances_file is not None:
                cm = read_component_distances(distances_file, graph_key(g))
                if cm is None:
                    log.info("%s is of another graph: searching the distances", distances_file)
                else:
                    log.info("all-pairs distances of the connectivity job: %s", distances_file)
            if cm is None:
                cm = ComponentMatrix.from_graph(g)
            return cls(a, i, j, c, float(k_per_m), float(landscape_area_ha), cm, pcnum(a, cm))
        dist = apsp(n, i, j, k_per_m * c)
        return cls(a, i, j, c, float(k_per_m), float(landscape_area_ha), dist, pcnum(a, dist))

    def dense_dist(self) -> np.ndarray:
        """The (n, n) distances as an array (``dist`` itself when it is one, else a new array)."""
        return self.dist if isinstance(self.dist, np.ndarray) else self.dist.dense()

    @property
    def eca_ha(self) -> float:
        """Equivalent connected area (ha)."""
        return math.sqrt(max(self.pcnum, 0.0))

    @functools.cached_property
    def _link_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted pair keys ``i * n + j`` of the links and the link row of each (built once per state)."""
        key = self.i.astype(np.int64) * self.areas_ha.size + self.j.astype(np.int64)
        order = np.argsort(key, kind="stable")
        return key[order], order

    def link_rows(self, u: Any, v: Any) -> np.ndarray:
        """Row in the link table (``i``, ``j``, ``cost``) of each node pair (either order); -1 = no link."""
        u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
        q = np.minimum(u, v) * self.areas_ha.size + np.maximum(u, v)
        skey, order = self._link_index
        rows = np.full(q.shape, -1, np.int64)
        if skey.size:
            at = np.minimum(np.searchsorted(skey, q), skey.size - 1)
            hit = skey[at] == q
            rows[hit] = order[at[hit]]
        return rows


@dataclass(frozen=True)
class LinkChangeResult:
    """Effect of changed links (and optionally node weights) on PC / ECA.

    Attributes
    ----------
    PCnum_before, PCnum_after : float
        ha².
    ECA_before_ha, ECA_after_ha, dECA_ha : float
        ha; ``dECA_ha = after - before``.
    dECA_pct : float
        100 (ECA_after - ECA_before) / ECA_before (0 if the baseline is 0).
    dPC_pct : float
        100 (PCnum_after - PCnum_before) / PCnum_before (0 if the baseline is 0).
    state : GraphState or None
        The graph after the change (reusable for further changes); None when not asked for.
    """

    PCnum_before: float
    PCnum_after: float
    ECA_before_ha: float
    ECA_after_ha: float
    dECA_ha: float
    dECA_pct: float
    dPC_pct: float
    state: GraphState | None


@dataclass
class _Changes:
    """The changes to a state's link table: the decreases/additions, whether any cost rose, and the
    table after them (:attr:`table`, built on first use: a gain that only inserts its decreases into
    the distances never needs it, and re-sorting some 100,000 links took 25 ms a call)."""

    state: GraphState
    #: new cost per changed row of the state's table (``inf``: the link is gone)
    rows: dict[int, float]
    #: links the state does not have, by (i, j) with i < j
    added: dict[tuple[int, int], float]
    decreases: list[tuple[int, int, float]]
    any_increase: bool

    @functools.cached_property
    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i, j, cost)`` of the links after the changes, as :func:`edge_arrays` gives them."""
        st = self.state
        cost = np.asarray(st.cost, np.float64).copy()
        for row, cc in self.rows.items():
            cost[row] = cc
        keep = np.isfinite(cost)  # the state's own links are all finite
        return edge_arrays((
            np.concatenate([st.i[keep], np.array([p[0] for p in self.added], np.int64)]),
            np.concatenate([st.j[keep], np.array([p[1] for p in self.added], np.int64)]),
            np.concatenate([cost[keep], np.array(list(self.added.values()), np.float64)]),
        ), st.areas_ha.size)


def _apply_changes(state: GraphState, changes: Iterable[tuple[int, int, float]]) -> _Changes:
    """Apply ``(i, j, new_cost)`` changes to the state's link table (changes located by binary search)."""
    n = state.areas_ha.size
    rows: dict[int, float] = {}
    added: dict[tuple[int, int], float] = {}
    decreases: list[tuple[int, int, float]] = []
    full = False
    for ci, cj, cc in changes:
        u, v = int(min(ci, cj)), int(max(ci, cj))
        if u == v:
            continue
        if not (0 <= u < n and 0 <= v < n):
            raise WerklandInputError(f"link ({ci}, {cj}) refers to a node outside 0..{n - 1}", path="changes")
        cc = float(cc)
        if math.isnan(cc) or cc < 0:
            raise WerklandInputError(f"new cost {cc!r} of link ({ci}, {cj}) is invalid", path="changes")
        row = int(state.link_rows(u, v))
        if row >= 0:
            old = rows.get(row, float(state.cost[row]))
            rows[row] = cc
        else:
            old = added.get((u, v), math.inf)
            if math.isinf(cc):
                added.pop((u, v), None)
            else:
                added[(u, v)] = cc
        if cc > old:
            full = True
        elif cc < old:
            decreases.append((u, v, cc))
    return _Changes(state, rows, added, decreases, full)


def _insert_decreases(
    state: GraphState, effective: list[tuple[int, int, float]], a_new: np.ndarray, pc_tolerance: float,
    weights_changed: bool, with_state: bool,
) -> tuple[np.ndarray | ComponentMatrix, float]:
    """Distances after the decreases by exact edge insertion, and the telescoped PCnum change.

    With a tolerance (and unchanged weights) only the block of nodes within the cut of a changed pair
    is updated; the returned distances are then a copy only when ``with_state``.
    """
    n = state.areas_ha.size
    dist = distance_matrix(state.dist)
    tot = float(a_new.sum())
    block = None
    if pc_tolerance > 0 and not weights_changed and effective and state.pcnum > 0 and tot > 0:
        cut = max(math.log(tot * tot / (pc_tolerance * state.pcnum)), 0.0)
        ends = sorted({x for u, v, _ in effective for x in (u, v)})
        near = dist.rows(ends)
        block = np.flatnonzero(near.min(axis=0) <= cut)
        if block.size == n:
            block = None  # the whole graph is near the change
    delta = 0.0
    if block is not None:
        pos = np.full(n, -1, np.int64)
        pos[block] = np.arange(block.size)
        sub = np.ascontiguousarray(dist.take(block))
        a_sub = np.ascontiguousarray(a_new[block])
        for u, v, cc in effective:
            delta += insert_edge(sub, int(pos[u]), int(pos[v]), state.k_per_m * cc, a_sub)
        if with_state:
            whole = dist.dense()
            whole[np.ix_(block, block)] = sub
            return whole, delta
        return state.dist, delta
    if not effective:
        return state.dist, delta
    whole = dist.dense()
    for u, v, cc in effective:
        delta += insert_edge(whole, int(u), int(v), state.k_per_m * cc, a_new)
    return whole, delta


def eca_after_link_change(
    state: GraphState,
    changes: Iterable[tuple[int, int, float]],
    *,
    areas_ha: Any | None = None,
    max_incremental: int = 1024,
    pc_tolerance: float = 0.0,
    with_state: bool = True,
) -> LinkChangeResult:
    """ECA and PC after changing, adding or removing links of a patch graph.

    Parameters
    ----------
    state : GraphState
        Baseline (``GraphState.build`` or ``probability_metrics(...).state``).
    changes : iterable of (i, j, new_cost)
        0-based node pair and its new cost distance (cost-weighted m); a pair without a link is
        added, ``new_cost = inf`` removes the link.
    areas_ha : array-like, optional
        New node weights (ha); None = unchanged.
    max_incremental : int
        Up to this many decreases/additions are applied with the exact edge-insertion update
        ``D' = min(D, D[:, u] + w + D[v, :], D[:, v] + w + D[u, :])`` (compiled, scanning only the
        rows that improve); more changes, or any
        increase/removal, trigger an exact full recomputation. Decreases that leave the link no
        shorter than the pair's current graph distance are recorded but change no distance, so they
        neither count nor cost anything.
    pc_tolerance : float
        0 = exact. Otherwise decreases are applied only among the nodes within ``-ln p* <= cut`` of
        a changed pair, ``cut = ln((Σa)² / (pc_tolerance · PCnum))``: the pairs left as they are could
        gain at most ``pc_tolerance · PCnum`` in total (the distances outside that block are not
        updated in the returned state).
    with_state : bool
        False: only the figures are wanted (``state`` is None), so the incremental update works on
        the block near the change without copying the n x n distance matrix.

    Returns
    -------
    LinkChangeResult

    Raises
    ------
    WerklandInputError
        New weights of the wrong length, a node outside the graph or an invalid new cost.
    """
    n = state.areas_ha.size
    a_new = state.areas_ha if areas_ha is None else check_areas(areas_ha)
    if a_new.size != n:
        raise WerklandInputError(f"areas_ha has {a_new.size} values for {n} nodes", path="areas_ha")
    ch = _apply_changes(state, changes)
    # a cheaper link that is still no shorter than the pair's graph distance changes no shortest
    # path (any path using it can take the existing one instead), so only the others are applied
    before = distance_matrix(state.dist)
    effective = [(u, v, cc) for u, v, cc in ch.decreases if state.k_per_m * cc < before.pair(u, v)]
    pc_before = state.pcnum if areas_ha is None else pcnum(state.areas_ha, state.dist)
    if ch.any_increase or len(effective) > max_incremental:
        ci, cj, cc = ch.table
        dist = apsp(n, ci, cj, state.k_per_m * cc)
        pc_after = pcnum(a_new, dist)
    else:
        dist, delta = _insert_decreases(state, effective, a_new, pc_tolerance, areas_ha is not None, with_state)
        # node weights changed: recompute; else the telescoped change of the updated entries
        if areas_ha is None:
            pc_after = pc_before + delta
        else:
            pc_after = pcnum(a_new, dist)
    new_state = (GraphState(a_new, *ch.table, state.k_per_m, state.landscape_area_ha, dist, pc_after)
                 if with_state else None)
    e0, e1 = math.sqrt(max(pc_before, 0.0)), math.sqrt(max(pc_after, 0.0))
    return LinkChangeResult(
        PCnum_before=pc_before,
        PCnum_after=pc_after,
        ECA_before_ha=e0,
        ECA_after_ha=e1,
        dECA_ha=e1 - e0,
        dECA_pct=100.0 * (e1 - e0) / e0 if e0 > 0 else 0.0,
        dPC_pct=100.0 * (pc_after - pc_before) / pc_before if pc_before > 0 else 0.0,
        state=new_state,
    )
