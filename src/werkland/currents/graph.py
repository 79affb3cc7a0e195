"""Raster and network -> conductance graph, built exactly as Circuitscape builds it.

Rule (Circuitscape ``construct_graph``): every cell with a conductance > 0 is a node; it is joined
to its 8 neighbours (4 with ``four_neighbors``) by an edge of conductance

* ``(c1 + c2) / 2`` -- the mean of the two cells' conductances (default), or
* ``1 / ((r1 + r2) / 2)`` -- the conductance of the mean resistance (``avg_resistance``),

and a diagonal edge takes that value divided by sqrt(2). The cell size never enters: a raster of
conductances per cell gives resistances in the same unit per cell (ohm when conductances are
siemens). Nodata, zero, negative and non-finite cells are removed. Cells sharing a non-zero id of a
short-circuit map (Circuitscape's polygons, werkland's habitat patches) are merged into one node --
all cells of the region, as in Circuitscape, as soon as one of them is a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = ["GridGraph", "conductance_from_resistance", "grid_graph", "network_graph", "node_map"]

_SQRT2 = float(np.sqrt(2.0))


def conductance_from_resistance(resistance: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Per-cell conductance ``1 / r`` (float64); nodata, NaN, inf, zero and negative cells get 0.

    Parameters
    ----------
    resistance : numpy.ndarray
        Resistance per cell.
    nodata : float, optional
        Nodata value of the raster.
    """
    r = np.asarray(resistance, dtype=np.float64)
    bad = ~np.isfinite(r) | (r <= 0)
    if nodata is not None and np.isfinite(nodata):
        bad |= r == nodata
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, r))
    return c


def node_map(conductance: np.ndarray, regions: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Node index of every cell (-1: no node) and the number of nodes.

    Parameters
    ----------
    conductance : numpy.ndarray
        Per-cell conductance; cells > 0 are nodes.
    regions : numpy.ndarray, optional
        Short-circuit region ids (0 = none). All cells of a region become one node when at least one
        of its cells is a node (Circuitscape keeps the region's other cells too).

    Returns
    -------
    nodemap : numpy.ndarray
        int64 array of the raster's shape; nodes numbered 0..n-1 in row-major order of their first
        cell.
    n : int
        Number of nodes.
    """
    g = np.asarray(conductance)
    nodemap = np.full(g.shape, -1, dtype=np.int64)
    live = np.flatnonzero((g > 0).ravel())
    flat = nodemap.ravel()
    flat[live] = np.arange(live.size)
    if regions is not None:
        reg = np.asarray(regions).ravel()
        if reg.shape[0] != flat.shape[0]:
            raise ValueError(f"region map shape {np.shape(regions)} != raster shape {g.shape}")
        in_reg = np.flatnonzero(reg != 0)
        if in_reg.size:
            ids, inv = np.unique(reg[in_reg], return_inverse=True)
            node_of_cell = flat[in_reg]
            # the region's representative: its smallest node index (any of its live cells would do)
            rep = np.full(ids.size, np.iinfo(np.int64).max, dtype=np.int64)
            ok = node_of_cell >= 0
            np.minimum.at(rep, inv[ok], node_of_cell[ok])
            has = rep < np.iinfo(np.int64).max
            sel = has[inv]
            flat[in_reg[sel]] = rep[inv[sel]]
    used = flat >= 0
    if not used.any():
        return nodemap, 0
    uniq, inv = np.unique(flat[used], return_inverse=True)
    # keep the row-major order of first appearance
    first = np.full(uniq.size, flat.size, dtype=np.int64)
    np.minimum.at(first, inv, np.flatnonzero(used))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    flat[used] = rank[inv]
    return nodemap, int(uniq.size)


@dataclass(frozen=True)
class GridGraph:
    """A conductance graph: nodes, undirected edges and (for rasters) the cell -> node map.

    Attributes
    ----------
    n_nodes : int
        Number of nodes.
    ei, ej : numpy.ndarray
        int64 edge endpoints, ``ei < ej``, each unordered pair once (parallel edges summed).
    w : numpy.ndarray
        float64 edge conductance (> 0).
    nodemap : numpy.ndarray or None
        int64 node index of each raster cell (-1: no node); None for a network.
    """

    n_nodes: int
    ei: np.ndarray
    ej: np.ndarray
    w: np.ndarray
    nodemap: np.ndarray | None = None

    def laplacian(self) -> sp.csr_matrix:
        """The weighted Laplacian ``D - W`` (CSR, float64)."""
        n = self.n_nodes
        rows = np.concatenate([self.ei, self.ej])
        cols = np.concatenate([self.ej, self.ei])
        vals = np.concatenate([-self.w, -self.w])
        off = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        deg = np.bincount(self.ei, self.w, minlength=n) + np.bincount(self.ej, self.w, minlength=n)
        return (off + sp.diags(deg, format="csr")).tocsr()

    def components(self) -> np.ndarray:
        """Connected-component label of every node (0..k-1, ordered by smallest node; cached)."""
        return self._components

    @cached_property
    def _components(self) -> np.ndarray:
        n = self.n_nodes
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        adj = sp.csr_matrix((np.ones(self.ei.size), (self.ei, self.ej)), shape=(n, n))
        _, labels = csgraph.connected_components(adj, directed=False)
        # relabel by first node so the numbering is deterministic
        first = np.full(labels.max() + 1, n, dtype=np.int64)
        np.minimum.at(first, labels, np.arange(n))
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[labels].astype(np.int64)

    def to_raster(self, node_values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Node values on the raster (cells without a node get ``fill``)."""
        if self.nodemap is None:
            raise ValueError("a network graph has no raster")
        out = np.full(self.nodemap.shape, fill, dtype=np.float64)
        m = self.nodemap >= 0
        out[m] = np.asarray(node_values, dtype=np.float64)[self.nodemap[m]]
        return out


def _pairs(shape: tuple[int, int], four_neighbors: bool) -> list[tuple[tuple[slice, slice], tuple[slice, slice], bool]]:
    """(cells a, cells b, diagonal) slices for every neighbour direction, each pair once."""
    s, e = slice(None, -1), slice(1, None)
    a = slice(None)
    out = [((a, s), (a, e), False), ((s, a), (e, a), False)]
    if not four_neighbors:
        out += [((s, s), (e, e), True), ((e, s), (s, e), True)]
    return out


def _edge_conductance(c1: np.ndarray, c2: np.ndarray, diagonal: bool, avg_resistance: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if avg_resistance:
            w = 1.0 / ((1.0 / c1 + 1.0 / c2) / 2.0)
        else:
            w = (c1 + c2) / 2.0
    w = np.where(np.isfinite(w), w, 0.0)
    return w / _SQRT2 if diagonal else w


def _combine(n: int, ei: np.ndarray, ej: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop self loops and non-positive edges; order endpoints; sum parallel edges."""
    keep = (ei != ej) & (w > 0)
    ei, ej, w = ei[keep], ej[keep], w[keep]
    lo, hi = np.minimum(ei, ej), np.maximum(ei, ej)
    key = lo * np.int64(max(n, 1)) + hi
    uniq, inv = np.unique(key, return_inverse=True)
    if uniq.size == key.size:
        order = np.argsort(key, kind="stable")
        return lo[order], hi[order], w[order]
    ws = np.bincount(inv, weights=w, minlength=uniq.size)
    return uniq // max(n, 1), uniq % max(n, 1), ws


def grid_graph(
    conductance: np.ndarray,
    *,
    regions: np.ndarray | None = None,
    four_neighbors: bool = False,
    avg_resistance: bool = False,
) -> GridGraph:
    """The Circuitscape graph of a conductance raster.

    Parameters
    ----------
    conductance : numpy.ndarray
        Per-cell conductance (0 = no node), e.g. :func:`conductance_from_resistance`.
    regions : numpy.ndarray, optional
        Short-circuit region ids (0 = none), merged into one node each (:func:`node_map`).
    four_neighbors : bool
        Connect the 4 cardinal neighbours only (default 8).
    avg_resistance : bool
        Edge conductance = 1 / mean resistance of the two cells instead of the mean conductance.

    Returns
    -------
    GridGraph
    """
    c = np.asarray(conductance, dtype=np.float64)
    nodemap, n = node_map(c, regions)
    ei_l, ej_l, w_l = [], [], []
    for sa, sb, diag in _pairs(c.shape, four_neighbors):
        na, nb = nodemap[sa], nodemap[sb]
        m = (na >= 0) & (nb >= 0)
        ei_l.append(na[m])
        ej_l.append(nb[m])
        w_l.append(_edge_conductance(c[sa][m], c[sb][m], diag, avg_resistance))
    ei = np.concatenate(ei_l) if ei_l else np.zeros(0, np.int64)
    ej = np.concatenate(ej_l) if ej_l else np.zeros(0, np.int64)
    w = np.concatenate(w_l) if w_l else np.zeros(0)
    ei, ej, w = _combine(n, ei.astype(np.int64), ej.astype(np.int64), w.astype(np.float64))
    return GridGraph(n, ei, ej, w, nodemap)


def network_graph(n_nodes: int, i: np.ndarray, j: np.ndarray, conductance: np.ndarray) -> GridGraph:
    """A graph from an edge list (0-based node indices, parallel edges summed).

    Parameters
    ----------
    n_nodes : int
        Number of nodes (indices ``0..n_nodes-1``).
    i, j : numpy.ndarray
        Edge endpoints.
    conductance : numpy.ndarray
        Edge conductances (edges <= 0 or non-finite are dropped).
    """
    w = np.asarray(conductance, dtype=np.float64)
    w = np.where(np.isfinite(w), w, 0.0)
    ei, ej, ww = _combine(int(n_nodes), np.asarray(i, np.int64), np.asarray(j, np.int64), w)
    return GridGraph(int(n_nodes), ei, ej, ww, None)
