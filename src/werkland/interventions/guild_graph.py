"""Patch graph of one guild with exact local what-if evaluation of a change of its rasters.

A change sets the suitability and resistance of a footprint. :meth:`GuildGraph.evaluate` gives its
exact effect on the graph -- patches created, enlarged, merged or shrunk, links searched again only
where they can change (:mod:`~werkland.interventions.raster_change`), the pair distances and PCnum
updated locally (:mod:`~werkland.interventions.graph_update`) -- and commits it on request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from werkland.connectivity import GraphState
from werkland.interventions.graph_update import GraphUpdateMixin
from werkland.interventions.pair_distances import ComponentDistances, PairDistances
from werkland.interventions.raster_change import RasterChangeMixin, RasterPart
from werkland.interventions.search import SearcherPool, SurfaceCache

#: Memory for the kept cost surfaces of a grid's guild graphs (MiB, per process; see :class:`SurfaceCache`).
SURFACE_CACHE_MB = 64.0


@dataclass
class BioDelta:
    """Effect of one candidate on one guild's patch graph (against the current state).

    Attributes
    ----------
    d_eca_ha : float
        ECA after - ECA before, ha.
    d_quality_ha : float
        Change of the summed quality-weighted patch area (node weights), ha.
    touched : frozenset of int
        Node indices whose links or membership the candidate changes (for eager re-evaluation).
    commit : object
        Data to apply the change (None when nothing changes).
    pc_delta : float
        PCnum after - PCnum before, ha².
    seeds : dict of int to float
        Nodes tied to the change with the ``-ln p`` of their tie (0 = changed itself).
    cache : RasterPart or None
        The raster part of a what-if, reusable by a later evaluation of the same change.
    """

    d_eca_ha: float = 0.0
    d_quality_ha: float = 0.0
    touched: frozenset[int] = frozenset()
    commit: Any = None
    pc_delta: float = 0.0
    seeds: dict[int, float] = field(default_factory=dict)
    cache: RasterPart | None = None


class GuildGraph(RasterChangeMixin, GraphUpdateMixin):
    """Patch graph of one guild with exact local what-if evaluation.

    Parameters
    ----------
    name : str
        Guild name.
    suit : numpy.ndarray
        float32 suitability (-1 outside the region).
    res : numpy.ndarray
        float64 resistance (``inf`` impassable / outside).
    labels : numpy.ndarray
        Patch ids 1..n (0 = none).
    edges : tuple of arrays
        ``(from_id, to_id, cost)`` with 1-based patch ids.
    k_per_m, max_cost : float
        Kernel decay (1 / cost-weighted m) and link bound (cost-weighted m).
    threshold, min_area_m2 : float
        Patch definition of the guild.
    res_m : float
        Cell size, m.
    pc_tol : float
        Relative PCnum tolerance: pairs whose maximum-product probability to every changed element
        is below ``e^-cut``, ``cut = ln((Σa)² / (pc_tol · PCnum))``, are left as they are, so the error
        of PCnum is at most ``pc_tol · PCnum`` (ECA: ``pc_tol / 2`` relative). 0 = exact. With a
        tolerance the pair distances are kept as float32 probabilities of the pairs within each
        connected component (:class:`ComponentDistances`; each pair's p* within 6e-8 relative, far
        below the tolerance), a small part of one triangle over all nodes when the graph falls
        apart in many components (the exact mode keeps float64 distances of all pairs, half the
        dense matrix).
    headroom : int
        New patches the exact mode's distance matrix has room for before it is reallocated.
    search_pool : SearcherPool, optional
        Search work arrays shared with the graphs of other guilds of the same grid (None or another
        grid: a pool of this graph's own, up to 2 sets).
    surface_cache : SurfaceCache, optional
        Patches' cost surfaces kept between evaluations, shared with the graphs of other guilds of the
        same grid (None: a cache of this graph's own of :data:`SURFACE_CACHE_MB`; a cache of 0 bytes
        makes every re-search a full search). The results do not depend on it.
    """

    def __init__(
        self, name: str, suit: np.ndarray, res: np.ndarray, labels: np.ndarray, edges: tuple[Any, Any, Any], *,
        k_per_m: float, max_cost: float, threshold: float, min_area_m2: float, res_m: float, pc_tol: float = 0.0,
        headroom: int = 256, search_pool: SearcherPool | None = None, surface_cache: SurfaceCache | None = None,
    ) -> None:
        self.name = name
        self.H, self.W = suit.shape
        self.suit = np.ascontiguousarray(suit, dtype=np.float32)
        res64 = np.ascontiguousarray(res, dtype=np.float64)
        res32 = res64.astype(np.float32)
        #: the resistance the searches read: float32 while every value is exactly a float32 (the
        #: kernels widen each value, so the costs are the same; half the memory traffic), else float64
        self.res = res32 if np.array_equal(res32, res64) else res64
        self.labels = np.ascontiguousarray(labels, dtype=np.int32)  # patch ids < 2^31; half the bytes of int64
        self.k = float(k_per_m)
        self.max_cost = float(max_cost)
        self.threshold = float(threshold)
        self.min_area_m2 = float(min_area_m2)
        self.res_m = float(res_m)
        self.cell_ha = self.res_m * self.res_m / 1e4
        n = int(self.labels.max(initial=0))
        flat = self.labels.ravel()
        s = np.where(flat > 0, self.suit.ravel().astype(np.float64), 0.0)
        self.a = np.bincount(flat, weights=s, minlength=n + 1)[1:] * self.cell_ha
        self.alive = np.ones(n, dtype=bool)
        fi, ti, c = (np.asarray(x) for x in edges)
        self.adj = [dict() for _ in range(n)]
        for u, v, cc in zip(fi.astype(np.int64) - 1, ti.astype(np.int64) - 1, c.astype(np.float64), strict=True):
            if u == v or not math.isfinite(cc):
                continue
            if cc < self.adj[u].get(v, math.inf):
                self.adj[u][v] = float(cc)
                self.adj[v][u] = float(cc)
        if pc_tol > 0:
            ii, jj, cc = self._edge_triples()
            self.D, pcnum = ComponentDistances.build(n, ii, jj, self.k * cc, self.a)
        else:
            st = GraphState.build(self.a, self._edge_triples(), self.k, 1.0)
            self.D = PairDistances.from_dense(st.dense_dist(), headroom=headroom)
            pcnum = st.pcnum
        self.pcnum = float(pcnum)
        self.pcnum0 = self.pcnum
        self.q0 = float(self.a.sum())
        if search_pool is None or search_pool.shape != (self.H, self.W):
            search_pool = SearcherPool((self.H, self.W), self.res_m, limit=2)
        self._pool = search_pool
        self._surfaces = surface_cache if surface_cache is not None else SurfaceCache(int(SURFACE_CACHE_MB * 2**20))
        self._reach = None
        #: per commit: (box of cells whose resistance, suitability or label changed, nodes removed,
        #: whether graph distances may have risen)
        self._log = []
        #: threads for independent searches of one evaluation (set by the caller; 1 in worker processes)
        self.n_threads = 1
        #: searches on background threads (while another guild's evaluations are the critical path)
        self.background = False
        self.n_full_rebuilds = 0
        tot = float(self.a.sum())
        if pc_tol > 0 and self.pcnum > 0 and tot > 0:
            self.cut = max(math.log(tot * tot / (pc_tol * self.pcnum)), 1.0)
        else:
            self.cut = math.inf

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(
        self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, *, commit: bool = False,
        cache: RasterPart | None = None,
    ) -> BioDelta:
        """Exact effect of setting suitability/resistance of ``cells`` (flat indices).

        Parameters
        ----------
        cells : numpy.ndarray
            Flat indices of the footprint (unique).
        new_suit : numpy.ndarray
            float32 new suitability of those cells.
        new_res : numpy.ndarray
            float64 new resistance (``inf`` impassable).
        commit : bool
            Apply the change to the state.
        cache : RasterPart, optional
            The raster part of an earlier evaluation of the same change (``BioDelta.cache``). It is
            reused -- only the graph update is redone -- when no commit since then changed a cell its
            searches could reach or merged a node it links to; otherwise everything is recomputed.

        Returns
        -------
        BioDelta
        """
        part = None
        if cache is not None and not commit:
            part = self._rebase(cache)
        if part is None:
            part = self._raster_part(cells, new_suit, new_res, commit)
        if part is None:
            return BioDelta()
        R, new_patches, new_a, new_links, s_links, monotone = (
            part.R, part.new_patches, part.new_a, part.new_links, part.s_links, part.monotone)
        n = self.n
        # --- 3. graph update -------------------------------------------------------------------
        a_new_nodes = np.array(new_a, dtype=np.float64)
        dq = float(a_new_nodes.sum() - self.a[R].sum())
        # nodes merged/removed or whose links the change alters (not every neighbour of a new patch,
        # nor every node re-searched: in dense graphs that would make every candidate "interact"
        # with every pick)
        touched = set(int(x) for x in R)
        for p, nb in s_links.items():
            old_nb = self.adj[p]
            for q, c in nb.items():
                if q < n and abs(c - old_nb.get(q, math.inf)) > 1e-9 * max(1.0, c):
                    touched.update((p, q))
            if not monotone:
                gone = [q for q in old_nb if q not in nb]
                if gone:
                    touched.add(p)
                    touched.update(gone)
        if monotone:
            pc_after, commit_data = self._monotone_update(R, new_links, a_new_nodes, s_links, commit)
        else:
            pc_after, commit_data = self._full_update(R, new_links, a_new_nodes, s_links, commit)
        d_eca = math.sqrt(max(pc_after, 0.0)) - self.eca_ha
        # seeds of the change with -ln p of their tie to it (0 = changed itself): for interaction tests
        seeds: dict[int, float] = {int(x): 0.0 for x in touched}
        for nl in new_links + list(s_links.values()):
            for q, c in nl.items():
                if q < n:
                    seeds[q] = min(seeds.get(q, math.inf), self.k * c)
        delta = BioDelta(d_eca_ha=d_eca, d_quality_ha=dq, touched=frozenset(touched), pc_delta=pc_after - self.pcnum,
                         seeds=seeds, cache=None if commit else part)
        if commit:
            self._commit(cells, new_suit, new_res, R, new_patches, a_new_nodes, new_links, s_links, pc_after, commit_data)
        return delta
