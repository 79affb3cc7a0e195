"""What a change does on a guild's rasters: patches relabelled and links searched again.

Steps 1-2 of :meth:`werkland.interventions.guild_graph.GuildGraph.evaluate`: the habitat components
touching a footprint are relabelled in a window (patches created, enlarged, merged or shrunk), and
bounded least-cost searches are re-run only from the new patches and from the patches whose links can
change (a lower bound from one search out of the footprint decides which). When no resistance rises,
a patch's re-search starts from its cost surface in the current state, kept between evaluations
(:class:`~werkland.interventions.search.SurfaceCache`), and searches only where the footprint lowers
a cost: the same links bit for bit. The result, a :class:`RasterPart`, can be reused by a later
evaluation of the same change when no commit since came within its reach (:meth:`RasterChangeMixin._rebase`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from werkland._kernels.grid_search import DC, DR
from werkland.interventions.graph_base import GraphCore, offsets8
from werkland.interventions.search import Box, boxes_meet, union_box


@dataclass(frozen=True)
class RasterPart:
    """What a change does on the rasters for one guild: patches replaced/created and link searches.

    Node ids >= ``n_at`` are the change's own new patches. ``reach`` boxes every cell whose
    resistance or label could alter the searches; ``nodes`` are the existing nodes they involve;
    ``version`` is the graph's commit count when they were valid.
    """

    R: np.ndarray
    new_patches: list[np.ndarray]
    new_a: list[float]
    new_links: list[dict[int, float]]
    s_links: dict[int, dict[int, float]]
    monotone: bool
    reach: Box | None
    nodes: frozenset[int]
    n_at: int
    version: int



class RasterChangeMixin(GraphCore):
    """Patches and link searches of a change on the rasters (steps 1-2 of an evaluation)."""

    def _grow_window(self, mask_fn: Any, fp_r: np.ndarray, fp_c: np.ndarray) -> tuple[int, int, int, int]:
        """Window containing every habitat component (old and new) touching the footprint."""
        r0, r1 = int(fp_r.min()) - 1, int(fp_r.max()) + 2
        c0, c1 = int(fp_c.min()) - 1, int(fp_c.max()) + 2
        pad = 8
        while True:
            r0, r1 = max(0, r0 - pad), min(self.H, r1 + pad)
            c0, c1 = max(0, c0 - pad), min(self.W, c1 + pad)
            ok = True
            for m in mask_fn(r0, r1, c0, c1):
                lab, _ = ndimage.label(m, structure=offsets8())
                seeds = np.unique(lab[fp_r - r0, fp_c - c0])
                # dilated footprint: neighbours of footprint cells
                rr = np.clip((fp_r[:, None] + DR[None, :]).ravel() - r0, 0, r1 - r0 - 1)
                cc = np.clip((fp_c[:, None] + DC[None, :]).ravel() - c0, 0, c1 - c0 - 1)
                seeds = np.union1d(seeds, np.unique(lab[rr, cc]))
                seeds = seeds[seeds > 0]
                if seeds.size == 0:
                    continue
                sel = np.isin(lab, seeds)
                edge = (
                    (r0 > 0 and sel[0, :].any()) or (r1 < self.H and sel[-1, :].any())
                    or (c0 > 0 and sel[:, 0].any()) or (c1 < self.W and sel[:, -1].any())
                )
                if edge:
                    ok = False
                    break
            if ok:
                return r0, r1, c0, c1
            pad *= 2


    def _rebase(self, part: RasterPart) -> RasterPart | None:
        """``part`` re-expressed against the current state, or None when a commit since invalidated it."""
        for box, killed, rises in self._log[part.version:]:
            if rises or boxes_meet(box, part.reach) or (killed & part.nodes):
                return None
        shift = self.n - part.n_at
        if shift:
            def mv(d: dict[int, float]) -> dict[int, float]:
                return {(q + shift if q >= part.n_at else q): c for q, c in d.items()}
            part = replace(part, new_links=[mv(d) for d in part.new_links],
                           s_links={p: mv(d) for p, d in part.s_links.items()}, n_at=self.n)
        return replace(part, version=len(self._log))

    def _raster_part(self, cells: np.ndarray, new_suit: np.ndarray, new_res: np.ndarray, commit: bool) -> RasterPart | None:
        """Patches and link searches of a change (steps 1-2 of :meth:`evaluate`); None = no change."""
        self._ensure_bbox()
        self._hold_resistance(new_res)
        suit_f = self.suit.ravel()
        res_f = self.res.ravel()
        old_suit = suit_f[cells].copy()
        old_res = res_f[cells].copy()
        hab_old = old_suit >= self.threshold
        hab_new = new_suit >= self.threshold
        res_changed = ~((old_res == new_res) | (np.isinf(old_res) & np.isinf(new_res)))
        suit_changed = old_suit != new_suit
        if not res_changed.any() and not suit_changed.any():
            return None
        self._reach = None
        increased = bool(np.any(new_res[res_changed] > old_res[res_changed]))
        decreased = bool(np.any(new_res[res_changed] < old_res[res_changed]))
        patch_change = bool(np.any(hab_old != hab_new)) or bool(np.any(suit_changed & (hab_old | hab_new)))
        fp_r, fp_c = cells // self.W, cells % self.W
        lab_f = self.labels.ravel()

        # --- 1. patches: relabel habitat components touching the footprint --------------------
        R: np.ndarray = np.zeros(0, np.int64)
        new_patches: list[np.ndarray] = []  # flat cells of each new patch
        new_a: list[float] = []
        lost_habitat = False
        win = None
        if patch_change:
            def masks(r0: int, r1: int, c0: int, c1: int) -> list[np.ndarray]:
                old = self.suit[r0:r1, c0:c1] >= self.threshold
                new = old.copy()
                new[fp_r - r0, fp_c - c0] = hab_new
                return [old, new]

            win = self._grow_window(masks, fp_r, fp_c)
            r0, r1, c0, c1 = win
            old_m, new_m = masks(r0, r1, c0, c1)
            rr = np.clip((fp_r[:, None] + np.r_[0, DR][None, :]).ravel(), r0, r1 - 1)
            cc = np.clip((fp_c[:, None] + np.r_[0, DC][None, :]).ravel(), c0, c1 - 1)
            ids = np.unique(self.labels[rr, cc])
            R = ids[ids > 0] - 1
            lab_new, _ = ndimage.label(new_m, structure=offsets8())
            seeds = np.unique(lab_new[rr - r0, cc - c0])
            seeds = seeds[seeds > 0]
            sw = self.suit[r0:r1, c0:c1].astype(np.float64)
            sw[fp_r - r0, fp_c - c0] = new_suit
            for sd in seeds:
                loc = np.flatnonzero(lab_new == sd)
                if loc.size * self.res_m * self.res_m < self.min_area_m2:  # find_patches' rule
                    continue
                lr, lc = loc // (c1 - c0) + r0, loc % (c1 - c0) + c0
                new_patches.append((lr * self.W + lc).astype(np.int64))
                new_a.append(float(sw.ravel()[loc].sum()) * self.cell_ha)
            # did any cell of a removed patch lose its patch membership?
            if R.size:
                old_cells_mask = np.isin(self.labels[r0:r1, c0:c1], R + 1)
                covered = np.zeros_like(old_cells_mask)
                for cells_p in new_patches:
                    covered.ravel()[(cells_p // self.W - r0) * (c1 - c0) + (cells_p % self.W - c0)] = True
                lost_habitat = bool(np.any(old_cells_mask & ~covered))
        monotone = not increased and not lost_habitat

        # --- 2. temporary state: new resistance and labels --------------------------------------
        n = self.n
        new_ids = np.arange(n, n + len(new_patches), dtype=np.int64)
        saved_lab: list[tuple[Any, np.ndarray]] = []
        res_f[cells] = new_res
        try:
            if R.size or new_patches:
                r0, r1, c0, c1 = win  # type: ignore[misc]
                sub = self.labels[r0:r1, c0:c1]
                saved_lab.append((np.s_[r0:r1, c0:c1], sub.copy()))
                sub[np.isin(sub, R + 1)] = 0
                for nid, cells_p in zip(new_ids, new_patches, strict=True):
                    lab_f[cells_p] = nid + 1
            max_label = n + len(new_patches)
            alive_old = self.alive.copy()
            alive_old[R] = False
            # links of the new patches, and the search out of the footprint where resistance fell
            # (independent searches in the same state: one call, so they run side by side)
            jobs = [(cells_p, self.max_cost, int(nid) + 1) for nid, cells_p in zip(new_ids, new_patches, strict=True)]
            passable = cells[np.isfinite(res_f[cells])]
            out_of_footprint = bool(res_changed.any()) and decreased and passable.size > 0
            if out_of_footprint:
                jobs.append((passable, self.max_cost, -1))
            found = self._searches(res_f, lab_f, jobs, max_label)
            new_links: list[dict[int, float]] = [
                {int(x) - 1: float(c) for x, c in zip(labs, costs, strict=True)} for labs, costs in found[:len(new_patches)]]
            # unchanged nodes whose links may change
            S: dict[int, float] = {}  # node -> search bound (cost-weighted m)
            if res_changed.any():
                if out_of_footprint:
                    labs, dl = found[-1]
                    labs = labs - 1
                    keep = labs < n
                    labs, dl = labs[keep], dl[keep]
                    keep = alive_old[labs]
                    labs, dl = labs[keep], dl[keep]
                    order = np.argsort(dl, kind="stable")
                    labs, dl = labs[order], dl[order]
                    # pairs that may improve via the footprint: lower bound δ'(p) + δ'(q) below their link
                    # cost; the closer endpoint is re-searched, only as far as the dearest such link
                    if monotone and not commit:
                        S = self._pairs_to_research(labs, dl)
                    for ia in range(labs.size if (not monotone or commit) else 0):
                        p = int(labs[ia])
                        for ib in range(ia + 1, labs.size):
                            if dl[ia] + dl[ib] >= self.max_cost:
                                break
                            q = int(labs[ib])
                            cur = self.adj[p].get(q, self.max_cost)
                            if dl[ia] + dl[ib] < cur + (1e-9 if q not in self.adj[p] else 0.0):
                                if q in S and p not in S:
                                    S[q] = max(S[q], cur)
                                else:
                                    S[p] = max(S.get(p, 0.0), cur)
                if increased:
                    # old resistance: which existing links can run through the footprint?
                    res_f[cells] = old_res
                    oldc = cells[np.isfinite(old_res)]
                    if oldc.size:
                        labs, dl = self._searches(res_f, lab_f, [(oldc, self.max_cost, -1)], max_label)[0]
                        dmap = {int(x) - 1: float(c) for x, c in zip(labs, dl, strict=True) if int(x) - 1 < n}
                        for p, dp in dmap.items():
                            if not alive_old[p] or S.get(p, 0.0) >= self.max_cost:
                                continue
                            for q, c in self.adj[p].items():
                                if alive_old[q] and q in dmap and dp + dmap[q] <= c * (1 + 1e-12) + 1e-9:
                                    S[p] = self.max_cost
                                    break
                    res_f[cells] = new_res
            order_s = sorted(S)
            bounds = [self.max_cost if not monotone else min(self.max_cost, S[p] * (1 + 1e-12) + 1e-9) for p in order_s]
            if not increased and self._surfaces.serves(self.H * self.W):
                # resistance only fell: each patch's surface before the change + the changed cells
                found = self._searches_after(res_f, lab_f, list(zip(order_s, bounds, strict=True)), max_label, cells,
                                             old_res)
            else:
                found = self._searches(res_f, lab_f, [(self._cells_of(p), b, p + 1) for p, b in zip(order_s, bounds,
                                                                                                      strict=True)],
                                       max_label)
            s_links: dict[int, dict[int, float]] = {
                p: {int(x) - 1: float(c) for x, c in zip(labs, costs, strict=True)}
                for p, (labs, costs) in zip(order_s, found, strict=True)}
        finally:
            res_f[cells] = old_res
            for sl, vals in saved_lab:
                self.labels[sl] = vals
        reach = union_box(None, (int(fp_r.min()) - 1, int(fp_r.max()) + 2, int(fp_c.min()) - 1, int(fp_c.max()) + 2))
        reach = union_box(reach, win)
        nodes = set(int(x) for x in R)
        reach = union_box(reach, self._reach)
        for nl in new_links + list(s_links.values()):
            nodes.update(q for q in nl if q < n)
        nodes.update(s_links)
        return RasterPart(R, new_patches, new_a, new_links, s_links, monotone, reach, frozenset(nodes), n, len(self._log))


    def _pairs_to_research(self, labs: np.ndarray, dl: np.ndarray) -> dict[int, float]:
        """Patches to re-search (with their search bound) when resistance only falls in a footprint.

        A pair (p, q) can gain a cheaper link only through the footprint, at a cost of at least
        ``δ'(p) + δ'(q)`` (the footprint search). The new link changes the graph's max-product paths
        -- and so PC and ECA -- only when it is cheaper than the pair's current graph distance
        ``D[p, q] / k``, which is at most their direct link: a link no cheaper than an existing path is
        dominated for every pair of nodes. Only pairs with ``k (δ'(p) + δ'(q)) < D[p, q]`` are
        re-searched, from the closer endpoint and only as far as ``D[p, q] / k``. Exact for what-if
        evaluations; a commit re-searches every pair whose direct link may fall, so the stored links stay
        exact for later evaluations in which resistance rises.

        Parameters
        ----------
        labs : numpy.ndarray
            0-based node ids reached by the footprint search, sorted by ``dl``.
        dl : numpy.ndarray
            Their cost from the footprint (cost-weighted m).

        Returns
        -------
        dict of int to float
            Node -> search bound (cost-weighted m).
        """
        S: dict[int, float] = {}
        m = int(np.searchsorted(dl, 0.5 * self.max_cost, side="left"))  # the closer endpoint has dl < max/2
        if labs.size < 2 or m == 0:
            return S
        near_ids = labs[:m]
        lb = dl[:m, None] + dl[None, :]  # (m, L) lower bounds
        eff = np.minimum(self.D.block(near_ids, labs) / self.k, self.max_cost)
        keep = (lb < eff * (1 + 1e-9) + self.D.abs_error / self.k) & (np.arange(m)[:, None] < np.arange(labs.size)[None, :])
        ia, ib = np.nonzero(keep)
        for i, j in zip(ia.tolist(), ib.tolist(), strict=True):
            p, q = int(labs[i]), int(labs[j])
            bound = float(eff[i, j])
            if q in S and p not in S:
                S[q] = max(S[q], bound)
            else:
                S[p] = max(S.get(p, 0.0), bound)
        return S
