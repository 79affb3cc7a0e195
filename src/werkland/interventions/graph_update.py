"""How a change moves a guild's pair distances and PCnum, and how a pick is committed.

Step 3 of :meth:`werkland.interventions.guild_graph.GuildGraph.evaluate`: when distances can only fall
(no resistance rises, no habitat is lost) the new patches enter by vertex insertion and every cheaper
or new link by the exact compiled edge insertion, on the block of nodes within the p* cut of the
change; otherwise a bounded Dijkstra runs on the new graph from every node near the change. The
commit writes the change into the rasters, the links and the pair distances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from werkland._kernels.graph import insert_edge, sssp_rows_limited
from werkland.interventions.graph_base import GraphCore


class GraphUpdateMixin(GraphCore):
    """Exact local updates of the pair distances and PCnum (step 3 of an evaluation) and commits."""

    def _monotone_update(
        self, R: np.ndarray, new_links: list[dict[int, float]], a_new: np.ndarray, s_links: dict[int, dict[int, float]],
        commit: bool,
    ) -> tuple[float, Any]:
        """Distances can only fall: vertex insertion + decreases on the nodes near the change.

        The block ``U`` (nodes within the p* cut of a changed node) is copied once; new nodes join it
        isolated and every decreased or new link is applied by :func:`werkland._kernels.graph.insert_edge`
        (exact; only improving rows are scanned) with the PCnum change telescoped from its updates.
        """
        n = self.n
        k = self.k
        Rset = set(int(x) for x in R)
        # decreased links among surviving old nodes
        decs: list[tuple[int, int, float]] = []
        for p, nb in s_links.items():
            for q, c in nb.items():
                if q < n and q not in Rset and p not in Rset and c < self.adj[p].get(q, math.inf) - 1e-12:
                    decs.append((p, q, c))
        seeds = set()
        for p, q, _ in decs:
            seeds.add(p)
            seeds.add(q)
        for nl in new_links:
            seeds |= {q for q in nl if q < n and q not in Rset}
        seeds |= Rset
        U = np.flatnonzero(self.D.within(sorted(seeds), self.cut))
        m, nn = U.size, len(new_links)
        pos = np.full(n, -1, np.int64)
        pos[U] = np.arange(m)
        Dsub = np.full((m + nn, m + nn), np.inf)
        Dsub[:m, :m] = self.D.square(U)
        np.fill_diagonal(Dsub, 0.0)
        a_old = self.a[U]
        a_sub = np.concatenate([a_old, a_new])
        r_in = np.array([pos[r] for r in Rset if pos[r] >= 0], np.int64)
        a_sub[r_in] = 0.0
        # PCnum change, telescoped (no dense pass over the block): (1) merged nodes lose their weight
        # on the old distances; (2) new nodes enter isolated (their self terms a_v^2); (3) every
        # decreased or new link is inserted by the exact compiled edge insertion, which scans only the
        # rows that improve and returns its change of sum a_i a_j exp(-D_ij)
        delta = float(a_new @ a_new) if nn else 0.0
        if r_in.size:
            E = np.exp(-Dsub[r_in, :m])
            delta -= 2.0 * float(a_old[r_in] @ (E @ a_old)) - float(a_old[r_in] @ E[:, r_in] @ a_old[r_in])
        for p, q, c in decs:
            delta += insert_edge(Dsub, int(pos[p]), int(pos[q]), k * c, a_sub)
        for t, nl in enumerate(new_links):
            v = m + t
            for q, c in nl.items():
                if q >= n:  # another new node, inserted earlier or later
                    iq = m + (q - n)
                    if iq >= v:
                        continue
                elif q in Rset:
                    continue
                else:
                    iq = int(pos[q])
                delta += insert_edge(Dsub, v, iq, k * c, a_sub)
        # removed nodes outside U: isolated, contributed a_r²
        r_out = [r for r in Rset if pos[r] < 0]
        pc = self.pcnum + delta - float(sum(self.a[r] ** 2 for r in r_out))
        return pc, ("block", U, Dsub) if commit else None

    def _full_update(
        self, R: np.ndarray, new_links: list[dict[int, float]], a_new: np.ndarray, s_links: dict[int, dict[int, float]],
        commit: bool,
    ) -> tuple[float, Any]:
        """Distances may rise: bounded Dijkstra on the new graph from every node near a change."""
        n = self.n
        nn = len(new_links)
        adj = [dict(d) for d in self.adj] + [dict() for _ in range(nn)]
        Rset = set(int(x) for x in R)
        seeds = set(Rset) | set(s_links)
        _isolate(adj, Rset)
        for p, nb in s_links.items():
            for q in list(adj[p]):
                if q < n and q not in nb:
                    adj[q].pop(p, None)
                    adj[p].pop(q, None)
            for q, c in nb.items():
                if q in Rset:
                    continue
                adj[p][q] = c
                adj[q][p] = c
                seeds.add(q)
        seeds |= _link_new_nodes(adj, new_links, n, Rset)
        a = np.concatenate([self.a, a_new])
        a[list(Rset)] = 0.0
        a_old = np.concatenate([self.a, np.zeros(nn)])
        old_seeds = sorted(x for x in seeds if x < n)
        U_old = np.flatnonzero(self.D.within(old_seeds, self.cut))
        U = np.concatenate([U_old, np.arange(n, n + nn)]).astype(np.int64)
        ii, jj, cc = self._edge_triples(adj)
        N = n + nn
        w = np.maximum(self.k * cc, 1e-300)
        g = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([ii, jj]), np.concatenate([jj, ii]))), shape=(N, N))
        # scipy's csgraph.dijkstra(g, indices=U, limit=cut) bit for bit, without holding the GIL
        Dn = np.empty((U.size, N))
        sssp_rows_limited(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64), U,
                          self.cut if math.isfinite(self.cut) else np.inf, Dn)
        Do = self.D.rows(U_old)
        ao = self.a
        old_terms = 2.0 * float(ao[U_old] @ (np.exp(-Do) @ ao)) - float(ao[U_old] @ np.exp(-Do[:, U_old]) @ ao[U_old])
        new_terms = 2.0 * float(a[U] @ (np.exp(-Dn) @ a)) - float(a[U] @ np.exp(-Dn[:, U]) @ a[U])
        del a_old
        pc = self.pcnum - old_terms + new_terms
        self.n_full_rebuilds += 1
        return pc, ("rows", adj, U, Dn) if commit else None

    def _commit(
        self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, R: np.ndarray, new_patches: list[np.ndarray],
        a_new: np.ndarray, new_links: list[dict[int, float]], s_links: dict[int, dict[int, float]], pc_after: float,
        data: Any,
    ) -> None:
        n = self.n
        nn = len(new_patches)
        self.suit.ravel()[cells] = new_suit
        self._hold_resistance(new_res)
        old_res = self.res.ravel()[cells].astype(np.float64)
        self.res.ravel()[cells] = new_res
        lowered = not bool(np.any(np.asarray(new_res, np.float64) > old_res))
        lab_f = self.labels.ravel()
        Rset = set(int(x) for x in R)
        changed = [cells, *new_patches]
        if Rset:
            for r in Rset:
                cr = self._cells_of(r)
                changed.append(cr)
                lab_f[cr] = 0
        allc = np.concatenate(changed)
        rr, cc = allc // self.W, allc % self.W
        # a non-monotone change can raise graph distances, which undoes the pruning of stored parts
        self._log.append(((int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1), frozenset(Rset),
                          data[0] == "rows"))
        for t, cells_p in enumerate(new_patches):
            lab_f[cells_p] = n + t + 1
        self._extend_bbox(n, new_patches)
        self.a = np.concatenate([self.a, a_new])
        self.alive = np.concatenate([self.alive, np.ones(nn, bool)])
        self.a[list(Rset)] = 0.0
        self.alive[list(Rset)] = False
        self.D.grow(nn)
        if data[0] == "rows":
            _, adj, U, Dn = data
            self.adj = adj
            self.D.set_rows(U, Dn)
        else:
            _, U, Dsub = data
            m = U.size
            idx = np.concatenate([U, np.arange(n, n + nn)])
            self.D.set_block(idx, idx, Dsub)
            adj = self.adj + [dict() for _ in range(nn)]
            _isolate(adj, Rset)
            for p, nb in s_links.items():
                for q, c in nb.items():
                    if q in Rset or q == p:
                        continue
                    if c < adj[p].get(q, math.inf):
                        adj[p][q] = c
                        adj[q][p] = c
            _link_new_nodes(adj, new_links, n, Rset)
            self.adj = adj
            del m
        for r in Rset:
            self.D.isolate(r)
        self.pcnum = float(pc_after)
        self._surfaces_after_commit(cells, lowered, Rset)


def _isolate(adj: list[dict[int, float]], removed: set[int]) -> None:
    """Drop every link of the removed nodes from the adjacency (in place)."""
    for r in removed:
        for q in list(adj[r]):
            adj[q].pop(r, None)
        adj[r] = {}


def _link_new_nodes(adj: list[dict[int, float]], new_links: list[dict[int, float]], n: int,
                    removed: set[int]) -> set[int]:
    """Link new node ``n + t`` to the nodes of ``new_links[t]`` (the cheaper cost where one is given
    twice), skipping removed nodes, in place; returns the old nodes (``< n``) a new link reaches."""
    reached: set[int] = set()
    for t, nl in enumerate(new_links):
        v = n + t
        for q, c in nl.items():
            if q in removed:
                continue
            if c < adj[v].get(q, math.inf):
                adj[v][q] = c
                adj[q][v] = c
            if q < n:
                reached.add(q)
    return reached
