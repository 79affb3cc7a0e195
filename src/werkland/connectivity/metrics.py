"""Graph metrics of a patch graph: PC / ECA / IIC, their intra / flux / connector fractions per node
(dPC, dIIC), betweenness, components, and the naive delete-and-recompute oracle.

The connector fraction is computed exactly without deleting every node: for each source ``i`` only
the descendants of ``k`` in the shortest-path tree of ``i`` can lose probability when ``k`` is
removed, and their new distances are found by a Dijkstra restricted to that subtree, seeded from its
unaffected neighbours (the compiled ``tree_losses``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from werkland._errors import WerklandInputError
from werkland._kernels.graph import tree_losses
from werkland.connectivity.apsp import (
    ROW_BLOCK,
    ComponentMatrix,
    apsp,
    check_areas,
    distance_predecessor_rows,
    distance_rows,
    edge_arrays,
    row_sums,
    sym_csr,
)
from werkland.connectivity.graph_state import GraphState

#: Sources per chunk of the tree losses (fixed, so the summation order -- and the result to the
#: last bit -- does not depend on the number of threads).
TREE_CHUNK = 256


@dataclass
class GraphMetrics:
    """Landscape and per-node connectivity metrics of a patch graph.

    Landscape attributes: ``PCnum`` (ha²), ``PC``, ``ECA_ha`` (ha), ``IICnum`` (ha²), ``IIC``,
    ``n_components``, ``PC_intra_pct`` / ``PC_direct_pct`` / ``PC_step_pct`` (Saura, Bodin & Fortin
    2014: share of PCnum from i = j, from pairs whose best path is their direct link, and from
    pairs connected through stepping stones).

    Per-node arrays (length n, in percent of PCnum / IICnum): ``dPC``, ``dPC_intra``,
    ``dPC_flux``, ``dPC_connector``, ``dIIC``, ``dIIC_intra``, ``dIIC_flux``, ``dIIC_connector``;
    ``betweenness`` (number of unordered pairs whose maximum-product path has the node as an
    interior vertex, weights ``-ln p``; equals unnormalised networkx betweenness when best paths are
    unique), ``BCPC`` (sum over ordered pairs through the node of a_i a_j p*_ij, ha²) and
    ``component`` (1-based connected component of the link graph).
    """

    PCnum: float
    PC: float
    ECA_ha: float
    IICnum: float
    IIC: float
    n_components: int
    PC_intra_pct: float
    PC_direct_pct: float
    PC_step_pct: float
    dPC: np.ndarray
    dPC_intra: np.ndarray
    dPC_flux: np.ndarray
    dPC_connector: np.ndarray
    dIIC: np.ndarray
    dIIC_intra: np.ndarray
    dIIC_flux: np.ndarray
    dIIC_connector: np.ndarray
    betweenness: np.ndarray
    BCPC: np.ndarray
    component: np.ndarray
    _make_state: Callable[[], GraphState] = field(repr=False, compare=False)
    #: the all-pairs distances, when asked for (``keep_distances``)
    distances: ComponentMatrix | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def state(self) -> GraphState:
        """The graph's :class:`GraphState` (all-pairs distances, for what-if evaluations), computed on
        first use: the metrics themselves keep no n x n matrix. Its distances are the compiled
        all-pairs rows (the same as the metrics' scipy rows, bit for bit) and its PCnum is ``PCnum``."""
        return self._make_state()

    def summary(self) -> dict[str, Any]:
        """Landscape-level numbers as plain Python types."""
        return {
            "PC": float(self.PC),
            "PCnum": float(self.PCnum),
            "ECA_ha": float(self.ECA_ha),
            "IIC": float(self.IIC),
            "IICnum": float(self.IICnum),
            "n_components": int(self.n_components),
            "PC_intra_pct": float(self.PC_intra_pct),
            "PC_direct_pct": float(self.PC_direct_pct),
            "PC_step_pct": float(self.PC_step_pct),
        }

    def node_table(self, patch_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """Per-node metrics as a DataFrame (``patch_id`` = 1..n unless given)."""
        n = self.dPC.size
        ids = np.arange(1, n + 1) if patch_ids is None else np.asarray(patch_ids)
        return pd.DataFrame(
            {
                "patch_id": ids,
                "dPC": self.dPC,
                "dPC_intra": self.dPC_intra,
                "dPC_flux": self.dPC_flux,
                "dPC_connector": self.dPC_connector,
                "dIIC": self.dIIC,
                "betweenness": self.betweenness,
                "component": self.component,
                "dIIC_intra": self.dIIC_intra,
                "dIIC_flux": self.dIIC_flux,
                "dIIC_connector": self.dIIC_connector,
                "BCPC": self.BCPC,
            }
        )


def _fractions(a: np.ndarray, rows: np.ndarray, diag: np.ndarray, num: float, connector: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-node total, intra, flux and connector fractions (percent of ``num``)."""
    n = a.size
    if num <= 0 or n == 0:
        z = np.zeros(n)
        return z, z.copy(), z.copy(), z.copy()
    intra = 100.0 * a * a / num
    flux = 100.0 * 2.0 * a * (rows - diag * a) / num
    conn = 100.0 * np.maximum(connector, 0.0) / num
    return intra + flux + conn, intra, flux, conn


def _components(g: Any, n: int) -> tuple[int, np.ndarray]:
    """Connected components of the link graph, numbered 1.. in order of their first node."""
    if not n:
        return 0, np.zeros(0, np.int64)
    ncomp, comp = csgraph.connected_components(g, directed=False)
    _, first = np.unique(comp, return_index=True)
    rank = np.empty(ncomp, np.int64)
    rank[np.argsort(first)] = np.arange(1, ncomp + 1)
    return int(ncomp), rank[comp]


def probability_metrics(
    areas_ha: Any,
    edges: Any,
    k_per_m: float,
    landscape_area_ha: float,
    *,
    iic_max_cost: float | None = None,
    node_metrics: bool = True,
    n_threads: int = 1,
    pc_tolerance: float = 0.0,
    keep_distances: bool = False,
) -> GraphMetrics:
    """PC, ECA, IIC and node importance of a patch graph.

    Parameters
    ----------
    areas_ha : array-like
        Node weights a_i (ha), length n (``quality_ha`` in the pipeline).
    edges : array-like or tuple
        ``(i, j, cost)`` triples with 0-based node indices and cost distance d_ij
        (cost-weighted m), either an (m, 3) array / list or a tuple of three arrays. Duplicate pairs
        keep the cheapest; ``inf`` costs are ignored.
    k_per_m : float
        Kernel decay rate (``p_ij = exp(-k d_ij)``).
    landscape_area_ha : float
        A_L (ha) for PC = PCnum / A_L² and IIC.
    iic_max_cost : float, optional
        Binary-graph threshold for IIC: pairs linked if ``cost <= iic_max_cost`` (the stage uses
        d0, i.e. ``p_direct >= p0``). None: every edge.
    node_metrics : bool
        Compute dPC / dIIC / betweenness (the landscape indices alone are cheaper).
    n_threads : int
        Threads for the node metrics (same result for any number).
    pc_tolerance : float
        0 = exact. Otherwise the connector fractions, betweenness and BCPC consider only ordered pairs
        with ``p*_ij >= e^-cut``, ``cut = ln((Σa)² / (pc_tolerance · PCnum))``: the pairs left out
        carry at most ``pc_tolerance · PCnum`` of PCnum in total, so every dPC value is within
        ``100 · pc_tolerance`` percentage points of the exact one (tested), and betweenness counts
        the pairs with a material probability of moving between them.
    keep_distances : bool
        Also keep the all-pairs distances the metrics search (``GraphMetrics.distances``, a
        :class:`~werkland.connectivity.apsp.ComponentMatrix`: the same values as one searched on
        its own), for the jobs after this one (:mod:`werkland.connectivity.distance_store`).

    Returns
    -------
    GraphMetrics

    Raises
    ------
    WerklandInputError
        A decay rate or landscape area that is not positive, bad node weights or edges.

    Notes
    -----
    PCnum = Σ_i Σ_j a_i a_j p*_ij over ordered pairs including i = j; p*_ij = exp(-L_ij) with L
    the shortest path on ``-ln p``. dPC_k = 100 (PCnum - PCnum after removing k) / PCnum, split
    into intra (a_k²), flux (2 a_k Σ_{j≠k} a_j p*_kj) and connector; all are exact (see the module
    docstring for how the connector avoids deleting every node). Same for dIIC with
    1 / (1 + nl_ij).
    """
    a = check_areas(areas_ha)
    n = a.size
    if not (np.isfinite(k_per_m) and k_per_m > 0):
        raise WerklandInputError(f"k = {k_per_m!r} must be a positive number", path="kernel")
    if not (np.isfinite(landscape_area_ha) and landscape_area_ha > 0):
        raise WerklandInputError(
            f"landscape area {landscape_area_ha!r} ha must be positive", path="landscape_area_ha"
        )
    i, j, c = edge_arrays(edges, n)
    w = k_per_m * c
    zeros = np.zeros(n)
    g = sym_csr(n, i, j, w) if n else sp.csr_matrix((0, 0))
    ncomp, comp = _components(g, n)
    A2 = float(landscape_area_ha) ** 2
    # The n x n matrices would dominate the memory (n = 18,000 patches: 2.6 GB of float64 distances
    # and 1.3 GB of int32 predecessors), so both passes -- IIC's hop counts on the binary graph, then
    # PC's distances on -ln p -- go over blocks of source rows (_matrix_pass); every sum is taken in
    # the same blocks and order as over the whole matrix, so the result does not depend on the block.
    thr = np.inf if iic_max_cost is None else float(iic_max_cost)
    bin_mask = c <= thr
    iic = _MatrixSums.empty(n)
    if n:
        gb = sym_csr(n, i[bin_mask], j[bin_mask], np.ones(int(bin_mask.sum())))
        iic = _matrix_pass(gb, a, 1, node_metrics=node_metrics, n_threads=n_threads)
    iicnum = float(a @ iic.rows)
    pc = _MatrixSums.empty(n)
    kept = ComponentMatrix.from_graph(g, search=False) if keep_distances else None
    if n:
        pc = _matrix_pass(g, a, 0, node_metrics=node_metrics, n_threads=n_threads, tolerance=pc_tolerance,
                          keep=kept)
    pcnum = float(a @ pc.rows) if n else 0.0
    # overall fractions: intra, direct (best path = the direct link), stepping stone
    intra_sum = float(np.sum(a * a))
    step_sum = max(pcnum - intra_sum - pc.direct, 0.0)

    def pct(x: float) -> float:
        return 100.0 * x / pcnum if pcnum > 0 else 0.0

    if node_metrics and n:
        dpc = _fractions(a, pc.rows, pc.diag, pcnum, pc.connector)
        diic = _fractions(a, iic.rows, iic.diag, iicnum, iic.connector)
        betweenness, bcpc = pc.bc / 2.0, pc.bcpc
    else:
        dpc = (zeros, zeros, zeros, zeros)
        diic = (zeros, zeros, zeros, zeros)
        betweenness, bcpc = zeros, zeros
    return GraphMetrics(
        PCnum=pcnum,
        PC=pcnum / A2,
        ECA_ha=math.sqrt(max(pcnum, 0.0)),
        IICnum=iicnum,
        IIC=iicnum / A2,
        n_components=int(ncomp),
        PC_intra_pct=pct(intra_sum),
        PC_direct_pct=pct(pc.direct),
        PC_step_pct=pct(step_sum),
        dPC=dpc[0],
        dPC_intra=dpc[1],
        dPC_flux=dpc[2],
        dPC_connector=dpc[3],
        dIIC=diic[0],
        dIIC_intra=diic[1],
        dIIC_flux=diic[2],
        dIIC_connector=diic[3],
        betweenness=np.asarray(betweenness, dtype=np.float64),
        BCPC=np.asarray(bcpc, dtype=np.float64),
        component=np.asarray(comp, dtype=np.int64),
        distances=kept,
        _make_state=functools.partial(_graph_state, a, i, j, c, float(k_per_m), float(landscape_area_ha), pcnum),
    )


def _graph_state(a: np.ndarray, i: np.ndarray, j: np.ndarray, c: np.ndarray, k_per_m: float,
                 landscape_area_ha: float, pcnum: float) -> GraphState:
    """The :class:`GraphState` of the metrics' graph, with the compiled all-pairs distances."""
    return GraphState(a, i, j, c, k_per_m, landscape_area_ha, apsp(a.size, i, j, k_per_m * c), pcnum)


#: Memory for one block of distance (float64) and predecessor (int32) rows in :func:`_matrix_pass`.
MATRIX_BLOCK_BYTES = 256 * 2**20


@dataclass
class _MatrixSums:
    """What the node and landscape metrics need of one all-pairs matrix (see :func:`_matrix_pass`)."""

    rows: np.ndarray
    diag: np.ndarray
    direct: float
    connector: np.ndarray
    bc: np.ndarray
    bcpc: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _MatrixSums:
        z = np.zeros(n)
        return cls(z, z.copy(), 0.0, z.copy(), z.copy(), z.copy())


def block_rows(n: int) -> int:
    """Source rows per block of :func:`_matrix_pass` for an n-node graph.

    A multiple of both :data:`~werkland.connectivity.apsp.ROW_BLOCK` and :data:`TREE_CHUNK`, so
    the row reductions and the tree-loss chunks fall on the same boundaries as over the whole
    matrix, and as many as fit in :data:`MATRIX_BLOCK_BYTES` (at least one such multiple).
    """
    unit = math.lcm(ROW_BLOCK, TREE_CHUNK)
    return max(unit, MATRIX_BLOCK_BYTES // max(12 * n, 1) // unit * unit)


def _matrix_pass(g: Any, a: np.ndarray, mode: int, *, node_metrics: bool, n_threads: int,
                 tolerance: float = 0.0, keep: ComponentMatrix | None = None) -> _MatrixSums:
    """Row sums, diagonal, direct-link sum (mode 0) and tree losses of the all-pairs matrix of ``g``,
    over blocks of :func:`block_rows` source rows.

    Mode 0: PC on ``-ln p`` distances, mode 1: IIC on hop counts (``g`` has unit weights). Each block's
    distances and predecessors are scipy's ``csgraph.dijkstra``'s for those sources (each source is one
    independent search, so the rows equal the whole matrix's), are reduced and released. Mode 0
    computes them off the GIL on ``n_threads`` threads, bit for bit
    (:func:`~werkland.connectivity.apsp.distance_predecessor_rows`); mode 1 asks scipy.
    With a tolerance (mode 0, node metrics) the trees are pruned at a limit that needs PCnum first:
    with more than one block, a first pass computes the row sums from the compiled distance rows
    (:func:`~werkland.connectivity.apsp.distance_rows`, the same values bit for bit) and the second
    pass the predecessors and tree losses. The first pass takes the blocks last to first and keeps
    the first block's rows, which the second pass then starts from instead of searching them again.
    ``keep`` (mode 0): a :class:`~werkland.connectivity.apsp.ComponentMatrix` made with
    ``search=False`` that takes every block's distance rows.
    """
    n = a.size
    size = block_rows(n)
    blocks = [(s, min(n, s + size)) for s in range(0, n, size)]
    out = _MatrixSums.empty(n)
    limit = math.inf
    prune = mode == 0 and node_metrics and tolerance > 0
    first_rows: np.ndarray | None = None  # the first block's distances, kept from the first pass
    if prune and len(blocks) > 1:
        # last block first, so that the first block's distance rows, searched last, serve the second
        # pass as well (each row's sums do not depend on the order of the blocks)
        for r0, r1 in reversed(blocks):
            first_rows = None  # one block of rows at a time
            first_rows = distance_rows(g, r0, r1, n_threads)
            out.rows[r0:r1], out.diag[r0:r1], _ = row_sums(first_rows, a, 0, r0=r0)
        limit = _pc_limit(a, float(a @ out.rows), tolerance)
    args = (g.indptr.astype(np.int64), g.indices.astype(np.int64),
            np.ones(g.nnz) if mode == 1 else g.data.astype(np.float64), a, mode)
    for r0, r1 in blocks:
        if mode == 0:  # scipy's rows and predecessors, off the GIL
            D, P = distance_predecessor_rows(g, r0, r1, n_threads, distances=first_rows if r0 == 0 else None)
            first_rows = None
            if keep is not None:
                keep.fill_rows(r0, D)
        else:  # hop counts: ties everywhere, scipy's own heap decides the trees
            D, P = csgraph.dijkstra(g, directed=True, unweighted=True, indices=np.arange(r0, r1),
                                    return_predecessors=True)
        out.rows[r0:r1], out.diag[r0:r1], out.direct = row_sums(D, a, mode, P if mode == 0 else None,
                                                                r0=r0, direct=out.direct)
        if prune and len(blocks) == 1:
            limit = _pc_limit(a, float(a @ out.rows), tolerance)
        if node_metrics:
            _tree_losses_block(args, D, P, r0, r1, n_threads, limit, out)
        del D, P
    return out


def _pc_limit(a: np.ndarray, pcnum: float, tolerance: float) -> float:
    """Largest ``-ln p*`` of the pairs the pruned node metrics keep (``inf``: all), see
    :func:`probability_metrics`' ``pc_tolerance``."""
    if tolerance > 0 and pcnum > 0 and a.sum() > 0:
        return max(math.log(float(a.sum()) ** 2 / (tolerance * pcnum)), 0.0)
    return math.inf


def _tree_losses_block(args: tuple[Any, ...], D: np.ndarray, P: np.ndarray, r0: int, r1: int, n_threads: int,
                       limit: float, out: _MatrixSums) -> None:
    """The compiled ``tree_losses`` for the sources ``r0..r1-1`` (rows of ``D`` and ``P``), in fixed
    chunks of :data:`TREE_CHUNK` sources run on ``n_threads`` threads, added to ``out`` in chunk order.

    The compiled kernel releases the GIL; the chunks are the same as over the whole matrix, and so is
    the order of the sums.
    """
    indptr, indices, weights, a, mode = args
    D, P = np.ascontiguousarray(D), np.ascontiguousarray(P)  # P stays int32: no int64 copy

    def run(b: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tree_losses(indptr, indices, weights, D, P, a, mode, b[0], b[1], limit, r0)

    bounds = [(s, min(r1, s + TREE_CHUNK)) for s in range(r0, r1, TREE_CHUNK)]
    if n_threads <= 1 or len(bounds) < 2:
        parts = [run(b) for b in bounds]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as ex:
            parts = list(ex.map(run, bounds))
    for part in parts:
        for acc, x in zip((out.connector, out.bc, out.bcpc), part, strict=True):
            acc += x


def naive_node_importance(
    areas_ha: Any,
    edges: Any,
    k_per_m: float,
    *,
    iic_max_cost: float | None = None,
) -> dict[str, Any]:
    """Test oracle: dPC and dIIC by deleting each node and recomputing everything.

    O(n) all-pairs shortest-path runs; use only on small graphs.

    Parameters
    ----------
    areas_ha, edges, k_per_m, iic_max_cost
        As for :func:`probability_metrics`.

    Returns
    -------
    dict
        ``dPC`` and ``dIIC`` arrays (percent), plus ``PCnum`` and ``IICnum`` (ha²).
    """
    a = check_areas(areas_ha)
    n = a.size
    i, j, c = edge_arrays(edges, n)
    thr = np.inf if iic_max_cost is None else float(iic_max_cost)

    def nums(aa: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
        m = keep[i] & keep[j]
        D = apsp(n, i[m], j[m], k_per_m * c[m])
        pc = float(aa @ np.exp(-D) @ aa)
        mb = m & (c <= thr)
        g = sym_csr(n, i[mb], j[mb], np.ones(int(mb.sum())))
        H = csgraph.shortest_path(g, directed=True, unweighted=True)
        iic = float(aa @ np.where(np.isfinite(H), 1.0 / (1.0 + H), 0.0) @ aa)
        return pc, iic

    if n == 0:
        return {"dPC": np.zeros(0), "dIIC": np.zeros(0), "PCnum": 0.0, "IICnum": 0.0}
    pc0, iic0 = nums(a, np.ones(n, bool))
    dpc, diic = np.zeros(n), np.zeros(n)
    for k in range(n):
        keep = np.ones(n, bool)
        keep[k] = False
        ak = a.copy()
        ak[k] = 0.0
        pck, iick = nums(ak, keep)
        dpc[k] = 100.0 * (pc0 - pck) / pc0 if pc0 > 0 else 0.0
        diic[k] = 100.0 * (iic0 - iick) / iic0 if iic0 > 0 else 0.0
    return {"dPC": dpc, "dIIC": diic, "PCnum": pc0, "IICnum": iic0}
