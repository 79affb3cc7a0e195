"""Re-searches from kept cost surfaces: a what-if that only lowers resistance gets each patch's links
from the patch's surface before the change and a search from the changed cells alone, with the full
search's labels and costs bit for bit (``surface_update``), and the guild graph's what-ifs, commits
and the interventions' first evaluation give the same results with and without the kept surfaces."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy import ndimage

from werkland._kernels.grid_search import DC, DR
from werkland.connectivity import build_links, find_patches
from werkland.interventions.first_evaluation import spatial_order
from werkland.interventions.guild_graph import GuildGraph
from werkland.interventions.search import Searcher, Surface, SurfaceCache

RES = 10.0
CLASSES = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 40.0])


def _landscape(seed: int, H: int = 70, W: int = 90):
    """Class-valued resistance with ties and impassable cells, and labelled patches (ids 1..n)."""
    rng = np.random.default_rng(seed)
    res = CLASSES[rng.integers(0, CLASSES.size, (H, W))]
    res[rng.random((H, W)) < 0.06] = np.inf
    f = ndimage.gaussian_filter(rng.standard_normal((H, W)), 2)
    blobs = f > np.quantile(f, 0.8)
    labels, _ = ndimage.label(blobs, structure=np.ones((3, 3), bool))
    res[labels > 0] = 1.0
    return res, labels.astype(np.int64)


def _change(rng: np.random.Generator, res: np.ndarray, labels: np.ndarray, src: int) -> tuple[np.ndarray, np.ndarray]:
    """A footprint (a random box, plus a cell of the source made passable from impassable) and the
    lowered resistance of its cells (impassable cells made passable among them)."""
    H, W = res.shape
    r0, c0 = int(rng.integers(0, H - 6)), int(rng.integers(0, W - 8))
    h, w = int(rng.integers(1, 6)), int(rng.integers(1, 8))
    cells = ((r0 + np.arange(h))[:, None] * W + (c0 + np.arange(w))[None, :]).ravel()
    src_cells = np.flatnonzero(labels.ravel() == src)
    cells = np.unique(np.concatenate([cells, src_cells[:1]]))
    old = res.ravel()[cells]
    new = np.where(np.isfinite(old), old * rng.uniform(0.05, 1.0, cells.size), rng.choice(CLASSES[:3], cells.size))
    return cells, new


def _with_neighbours(cells: np.ndarray, H: int, W: int) -> np.ndarray:
    """Flat cells and their 8 neighbours within the raster (the seeds of a search after a change)."""
    rr, cc = cells // W, cells % W
    return np.unique((np.clip(rr[:, None] + np.r_[0, DR], 0, H - 1) * W + np.clip(cc[:, None] + np.r_[0, DC], 0, W - 1)).ravel())


@pytest.mark.parametrize("seed", range(6))
def test_search_from_a_surface_equals_the_full_search_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    res, labels = _landscape(seed)
    H, W = res.shape
    lab = labels.ravel()
    n = int(lab.max())
    assert n >= 5
    sr = Searcher((H, W), RES)
    full_bound = 900.0
    for _ in range(8):
        src = int(rng.integers(1, n + 1))
        starts = np.flatnonzero(lab == src)
        if seed % 2:  # a source cell impassable before the change: the full search starts there at 0
            res.ravel()[starts[0]] = np.inf
        before = res.ravel().copy()
        surface = sr.surface(before, starts, full_bound)
        cells, new = _change(rng, res, labels, src)
        after = before.copy()
        after[cells] = np.minimum(before[cells], new)
        seeds = _with_neighbours(cells, H, W)
        for bound in (full_bound, 400.0, 37.5):
            labs, costs = sr.targets(after, lab, starts, bound, src, n)
            box = sr.box
            labs2, costs2 = sr.targets_after(after, lab, surface, starts, seeds, bound, src, n)
            assert np.array_equal(labs, labs2)
            assert np.array_equal(costs, costs2)  # bit for bit
            if box is not None:  # the box of the full search lies inside the reported one
                assert sr.box is not None
                assert sr.box[0] <= box[0] and sr.box[1] >= box[1] and sr.box[2] <= box[2] and sr.box[3] >= box[3]
        assert np.isinf(sr.cum).all() and np.isinf(sr.best).all()  # work arrays left clean
        res.ravel()[:] = before
    with pytest.raises(ValueError, match="cannot answer"):
        sr.targets_after(res.ravel(), lab, surface, starts, seeds, full_bound + 1.0, 1, n)


def test_surface_cache_keeps_the_recently_used_within_its_budget_and_drops_what_a_commit_meets():
    def sf(k: int, box) -> Surface:
        return Surface(np.zeros(k, np.int32), np.zeros(k), 100.0, box)

    cache = SurfaceCache(3 * 1200)  # room for three surfaces of 100 cells (12 bytes each)
    for node in range(3):
        cache.put("a", node, sf(100, (0, 10, 10 * node, 10 * node + 10)))
    assert cache.get("a", 0) is not None  # 0 is now the most recently used
    cache.put("b", 0, sf(100, (0, 10, 0, 10)))
    assert cache.get("a", 1) is None and cache.get("a", 0) is not None and len(cache) == 3
    assert cache.nbytes == 3 * 1200
    cache.put("b", 1, sf(1000, None))  # larger than the budget: not kept, nothing dropped
    assert len(cache) == 3 and cache.get("b", 1) is None
    cache.invalidate("a", (5, 6, 0, 5))  # meets a/0 and b/0's boxes; only a's surfaces are dropped
    assert cache.get("a", 0) is None and cache.get("b", 0) is not None and cache.get("a", 2) is not None
    assert cache.nbytes == 2 * 1200
    assert len(copy.deepcopy(cache)) == 0 and copy.deepcopy(cache).max_bytes == cache.max_bytes
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def _graph_pair(seed: int, H: int = 48, W: int = 64, max_cost: float = 700.0):
    """The same guild graph twice: with kept surfaces and without (a cache of 0 bytes)."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal((H, W)), 2)
    suit = np.clip(noise * 2 + 0.3, 0, 1).astype(np.float32)
    res = np.where(suit > 0.5, 1.0, rng.choice([2.0, 5.0, 20.0, np.inf], size=(H, W), p=[0.4, 0.35, 0.2, 0.05]))
    ps = find_patches(suit, res_m=RES, threshold=0.5, min_area_m2=300.0)
    L = build_links(res, ps.labels, res_m=RES, max_cost=max_cost, n_threads=1, with_paths=False)

    def graph(cache: SurfaceCache) -> GuildGraph:
        return GuildGraph("t", suit.copy(), res.copy(), ps.labels.copy(), (L.from_id, L.to_id, L.cost), k_per_m=-math.log(0.001) / max_cost,
                          max_cost=max_cost, threshold=0.5, min_area_m2=300.0, res_m=RES, surface_cache=cache)

    kept = SurfaceCache(64 << 20)
    return graph(kept), graph(SurfaceCache(0)), kept, rng


def _same(a, b) -> None:
    assert a.d_eca_ha == b.d_eca_ha and a.d_quality_ha == b.d_quality_ha and a.pc_delta == b.pc_delta
    assert a.touched == b.touched and a.seeds == b.seeds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_what_ifs_and_commits_are_the_same_with_and_without_kept_surfaces(seed):
    """Passages and habitat (resistance only falls: the surfaces serve), degradations (full
    searches) and commits in sequence; every what-if of a set of probes is evaluated again after each
    commit, so surfaces a commit changed must have been dropped."""
    g, ref, kept, rng = _graph_pair(seed)
    H, W = g.H, g.W

    def box(r0, c0, h, w):
        return np.unique((r0 + np.arange(h))[:, None] * W + (c0 + np.arange(w))[None, :]).ravel()

    probes = []
    for _ in range(12):
        r0, c0 = int(rng.integers(0, H - 3)), int(rng.integers(0, W - 4))
        cells = box(r0, c0, int(rng.integers(1, 4)), int(rng.integers(1, 5)))
        if rng.random() < 0.5:  # a passage: resistance only
            probes.append((cells, g.suit.ravel()[cells].copy(), np.full(cells.size, 1.0)))
        else:
            probes.append((cells, np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0)))
    n_kept = []
    for step in range(5):
        for p in probes:
            _same(g.evaluate(*p), ref.evaluate(*p))
        r0, c0 = int(rng.integers(0, H - 4)), int(rng.integers(0, W - 6))
        cells = box(r0, c0, 3, 5)
        if step == 2:  # habitat lost, resistance up: not monotone
            ch = (cells, np.full(cells.size, 0.1, np.float32), np.full(cells.size, 50.0))
        else:
            ch = (cells, np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0))
        _same(g.evaluate(*ch, commit=True), ref.evaluate(*ch, commit=True))
        assert g.eca_ha == ref.eca_ha
        # every kept surface is the one a search in the state after the commit gives (lowered in
        # place by commits that only lower resistance, dropped by the others)
        g._ensure_bbox()
        sr = Searcher((H, W), RES)
        for (_, node), sf in list(kept._items.items()):
            assert g.alive[node]
            fresh = sr.surface(g.res.ravel(), g._cells_of(node), g.max_cost)
            o1, o2 = np.argsort(sf.idx), np.argsort(fresh.idx)
            assert np.array_equal(sf.idx[o1], fresh.idx[o2])
            within = fresh.cost[o2] <= g.max_cost
            assert np.array_equal(sf.cost[o1][within], fresh.cost[o2][within])
        n_kept.append(len(kept))
    assert kept.hits > 0 and kept.misses > 0  # the surfaces were used, and some made again
    assert max(n_kept) > 0


class _Cand:
    def __init__(self, cells: np.ndarray) -> None:
        self.cells = cells


def test_spatial_order_walks_a_lattice_from_neighbour_to_neighbour():
    W = 64
    pts = [(r, c) for r in range(8) for c in range(8)]
    rng = np.random.default_rng(3)
    rng.shuffle(pts)
    cands = [_Cand(np.array([r * 8 * W + c * 8])) for r, c in pts]  # one cell every 8 rows/columns
    order = spatial_order(cands, W)
    assert sorted(order.tolist()) == list(range(64))
    walk = np.array([pts[i] for i in order])
    steps = np.abs(np.diff(walk, axis=0)).sum(axis=1)
    assert (steps == 1).all()  # a Hilbert curve: every next candidate is a lattice neighbour
    assert spatial_order([], W).size == 0


@pytest.mark.parametrize("seed", [0, 3])
def test_a_surface_lowered_by_a_change_is_the_surface_searched_afresh(seed):
    rng = np.random.default_rng(seed)
    res, labels = _landscape(seed)
    H, W = res.shape
    lab = labels.ravel()
    sr = Searcher((H, W), RES)
    src = 1
    starts = np.flatnonzero(lab == src)
    before = res.ravel().copy()
    surface = sr.surface(before, starts, 600.0)
    after = before.copy()
    for _ in range(3):  # three changes in a row, each lowering resistance somewhere
        cells, new = _change(rng, res, labels, src)
        after[cells] = np.minimum(after[cells], new)
        seeds = _with_neighbours(cells, H, W)
        surface = sr.lowered(after, surface, starts, seeds)
        fresh = sr.surface(after, starts, 600.0)
        o1, o2 = np.argsort(surface.idx), np.argsort(fresh.idx)
        assert np.array_equal(surface.idx[o1], fresh.idx[o2])  # the same cells written
        within = fresh.cost[o2] <= 600.0
        assert np.array_equal(surface.cost[o1][within], fresh.cost[o2][within])  # final costs bit for bit
        assert surface.box == fresh.box
        assert np.isinf(sr.cum).all()


def test_a_raster_too_large_for_int32_cells_keeps_no_surface(monkeypatch):
    import werkland.interventions.search as search_mod

    monkeypatch.setattr(search_mod, "SURFACE_MAX_CELLS", 100)
    res, labels = _landscape(0, 10, 10)
    with pytest.raises(ValueError, match="int32"):
        Searcher((10, 10), RES).surface(res.ravel(), np.array([0]), 100.0)
    assert SurfaceCache(1 << 20).serves(99) and not SurfaceCache(1 << 20).serves(100)
    assert not SurfaceCache(0).serves(10)  # no budget: no surfaces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_what_ifs_on_two_search_threads_equal_one_thread(seed):
    """New patches' searches and the search out of the footprint run side by side on two threads
    (one call): the same gains, reach and links as one after the other, what-if and commit."""
    two, _, _, rng = _graph_pair(seed)
    one, _, _, _ = _graph_pair(seed)
    two.n_threads = 2
    H, W = two.H, two.W
    n_both = 0
    for step in range(14):
        r0, c0 = int(rng.integers(0, H - 4)), int(rng.integers(0, W - 5))
        cells = np.unique((r0 + np.arange(3))[:, None] * W + (c0 + np.arange(4))[None, :]).ravel()
        ch = (cells, np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0))  # new habitat, resistance down
        a, b = two.evaluate(*ch), one.evaluate(*ch)
        _same(a, b)
        assert a.cache.reach == b.cache.reach and a.cache.new_links == b.cache.new_links
        assert a.cache.s_links == b.cache.s_links
        n_both += bool(a.cache.new_patches) and bool((one.res.ravel()[cells] > 1.0).any())
        if step % 4 == 3:
            _same(two.evaluate(*ch, commit=True), one.evaluate(*ch, commit=True))
            assert two.eca_ha == one.eca_ha
    assert n_both > 0  # what-ifs with both kinds of search
