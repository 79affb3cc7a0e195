"""Graph metrics of a patch graph: PC / ECA / IIC, their intra / flux / connector fractions per node
(dPC, dIIC), betweenness, components, and the naive delete-and-recompute oracle.

The connector fraction is computed exactly without deleting every node: for each source ``i`` only
the descendants of ``k`` in the shortest-path tree of ``i`` can lose probability when ``k`` is
removed, and their new distances are found by a Dijkstra restricted to that subtree, seeded from its
unaffected neighbours (the compiled ``tree_losses``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from werkland._errors import WerklandInputError
from werkland._kernels.graph import tree_losses
from werkland.connectivity.apsp import apsp, check_areas, edge_arrays, row_sums, sym_csr
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
    state: GraphState = field(repr=False)

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
    # The n x n matrices dominate the memory (n = 22,000 patches: 3.9 GB per float64 matrix), so
    # IIC's hop counts are computed and released before PC's distances, and every n x n product
    # (exp(-D), 1 / (1 + H), the direct-link mask) is reduced over blocks of rows.
    # IIC: binary graph of links with cost <= iic_max_cost, hop counts nl_ij
    thr = np.inf if iic_max_cost is None else float(iic_max_cost)
    bin_mask = c <= thr
    iic_rows, iic_diag, iicnum, conn_iic = zeros, zeros, 0.0, zeros
    if n:
        gb = sym_csr(n, i[bin_mask], j[bin_mask], np.ones(int(bin_mask.sum())))
        H, PH = csgraph.dijkstra(gb, directed=True, unweighted=True, return_predecessors=True)
        iic_rows, iic_diag, _ = row_sums(H, a, 1)
        iicnum = float(a @ iic_rows)
        if node_metrics:
            conn_iic, _, _ = _tree_losses_all(gb, H, PH, a, 1, n_threads)
        del H, PH
    # PC: shortest paths on -ln p, p*_ij = exp(-L_ij)
    if n:
        D, P = csgraph.dijkstra(g, directed=True, return_predecessors=True)
    else:
        D, P = np.zeros((0, 0)), np.zeros((0, 0), np.int32)
    pc_rows, pc_diag, direct_sum = row_sums(D, a, 0, P)
    pcnum = float(a @ pc_rows) if n else 0.0
    # overall fractions: intra, direct (best path = the direct link), stepping stone
    intra_sum = float(np.sum(a * a))
    step_sum = max(pcnum - intra_sum - direct_sum, 0.0)

    def pct(x: float) -> float:
        return 100.0 * x / pcnum if pcnum > 0 else 0.0

    state = GraphState(a, i, j, c, float(k_per_m), float(landscape_area_ha), D, pcnum)
    if node_metrics and n:
        limit = math.inf
        if pc_tolerance > 0 and pcnum > 0 and a.sum() > 0:
            limit = max(math.log(float(a.sum()) ** 2 / (pc_tolerance * pcnum)), 0.0)
        conn_pc, bc, bcpc = _tree_losses_all(g, D, P, a, 0, n_threads, limit)
        dpc = _fractions(a, pc_rows, pc_diag, pcnum, conn_pc)
        diic = _fractions(a, iic_rows, iic_diag, iicnum, conn_iic)
        betweenness = bc / 2.0
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
        PC_direct_pct=pct(direct_sum),
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
        state=state,
    )


def _tree_losses_all(g: Any, D: np.ndarray, P: np.ndarray, a: np.ndarray, mode: int, n_threads: int = 1,
                     limit: float = math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled ``tree_losses`` over every source, in fixed chunks of :data:`TREE_CHUNK` sources
    run on ``n_threads`` threads.

    The compiled kernel releases the GIL; the chunks' partial sums are added in chunk order.
    """
    n = a.size
    args = (g.indptr.astype(np.int64), g.indices.astype(np.int64),
            np.ones(g.nnz) if mode == 1 else g.data.astype(np.float64),
            np.ascontiguousarray(D), np.ascontiguousarray(P), a, mode)  # P stays int32: no n x n int64 copy
    bounds = [(s, min(n, s + TREE_CHUNK)) for s in range(0, n, TREE_CHUNK)]
    if n_threads <= 1 or len(bounds) < 2:
        parts = [tree_losses(*args, s, e, limit) for s, e in bounds]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as ex:
            parts = list(ex.map(lambda b: tree_losses(*args, b[0], b[1], limit), bounds))
    out = [np.zeros(n), np.zeros(n), np.zeros(n)]
    for part in parts:
        for acc, x in zip(out, part, strict=True):
            acc += x
    return out[0], out[1], out[2]


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
