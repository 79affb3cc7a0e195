"""The trimmed bounds of the barrier searches give the outputs of the full bounds.

The barrier surfaces stop at ``max(max_cost, L_p + width)`` (``L_p`` = the patch's largest link)
instead of ``max_cost + width`` and keep no predecessors; the footprint searches of the network gains
stop at ``max_cost - c1`` (``c1`` = the nearest affected patch). The old path (the full bounds, as
before) runs here beside the new one on generated landscapes -- with ties (uniform resistance
blocks), impassable cells, roads and corridor widths small and large against the link bound -- and
every output is compared for equality, not within a tolerance.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

import werkland.barriers.scores as br_scores
from werkland import barriers as br
from werkland import connectivity as cn
from werkland.barriers import gains
from werkland.barriers.scores import (
    build_probes,
    pair_scores_chunked,
    patches_reaching,
    search_bounds,
)
from werkland.barriers.segments import segment_barriers
from werkland.params import BarrierParams, ConnectivityParams
from werkland.params.landscape import barrier_classes
from werkland.raster.io import Grid, write_gpkg, write_raster
from werkland.tables import Kernel


def _landscape(seed: int, h: int = 90, w: int = 100):
    """Resistance classes in blocks (many equal-cost ties), two roads, impassable specks, disc patches."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice([1.0, 2.0, 5.0, 10.0, 50.0], size=(h // 10 + 1, w // 10 + 1))
    r = np.kron(blocks, np.ones((10, 10)))[:h, :w].copy()
    r[rng.random((h, w)) < 0.02] = np.inf
    r[h // 2 : h // 2 + 2, :] = 1000.0  # a road
    r[:, w // 3] = 200.0  # a one-cell track
    lab = np.zeros((h, w), np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    pid = 0
    for _ in range(40):
        y, x, rad = rng.integers(3, h - 3), rng.integers(3, w - 3), rng.integers(1, 4)
        disc = (yy - y) ** 2 + (xx - x) ** 2 <= rad * rad
        if np.any(lab[np.maximum(yy - 1, 0), xx][disc]) or np.any(lab[disc]):
            continue
        grown = (np.abs(yy - y) <= rad + 1) & (np.abs(xx - x) <= rad + 1)
        if np.any(lab[grown]):
            continue
        pid += 1
        lab[disc] = pid
        r[disc] = 1.0
    return r, lab, pid


def _segments(r: np.ndarray, res_m: float):
    """Barrier segments of the road and the track of :func:`_landscape` (a land-cover layer)."""
    h, w = r.shape
    top = h * res_m
    lc = gpd.GeoDataFrame(
        {"class": ["road_main", "road_minor"]},
        geometry=[shapely.box(0.0, top - (h // 2 + 2) * res_m + 1, w * res_m, top - (h // 2) * res_m - 1),
                  shapely.box((w // 3) * res_m + 1, 0.0, (w // 3 + 1) * res_m - 1, top)],
        crs="EPSG:28992",
    )
    grid = Grid.from_bounds((0.0, 0.0, w * res_m, top), res_m, CRS.from_epsg(28992))
    classes = barrier_classes({"road_main": 1000.0, "road_minor": 200.0}, 100.0)
    return segment_barriers(lc, grid, classes, max_length_m=100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_cost,width", [(500.0, 80.0), (900.0, 900.0)])
def test_barrier_surfaces_with_trimmed_bounds_give_the_same_scores(seed, max_cost, width):
    r, lab, n = _landscape(seed)
    res_m = 10.0
    links = cn.build_links(r, lab, res_m=res_m, max_cost=max_cost, corridor_width=width, n_threads=2)
    segs = _segments(r, res_m)
    assert segs.n > 0
    radii = [20.0, 50.0]
    probes = build_probes(segs, r.shape, res_m, radii)
    full = max_cost + width
    bounds = search_bounds(n, links.from_id, links.to_id, links.cost, max_cost, width)
    assert np.all(bounds[1:] >= max_cost) and np.all(bounds[1:] <= full) and np.any(bounds[1:] < full)
    old = cn.search_group_minima(r, lab, n, res_m, full, probes.cell_groups(), 2).table()
    new = cn.search_group_minima(r, lab, n, res_m, full, probes.cell_groups(), 2, bounds).table()
    assert new.groups.size < old.groups.size
    sc = [pair_scores_chunked(links.from_id, links.to_id, links.cost, m, probes, np.asarray(radii), 1.0, width,
                              segs.n, 2) for m in (old, new)]
    for a, b in zip(sc[0], sc[1], strict=True):
        assert np.array_equal(a, b)
    assert sc[0].best_m.max() > 0 and sc[0].corridor_seg.size > 0
    assert patches_reaching(probes, old, max_cost, segs.n) == patches_reaching(probes, new, max_cost, segs.n)


def test_search_bounds_of_unlinked_patches_are_the_link_bound():
    b = search_bounds(4, np.array([1]), np.array([3]), np.array([100.0]), 500.0, 1000.0)
    assert b[2] == 500.0 and b[4] == 500.0
    assert b[1] == b[3] == pytest.approx(1100.0, rel=1e-8) and b[1] >= 1100.0
    assert search_bounds(2, np.array([1]), np.array([2]), np.array([499.0]), 500.0, 20.0)[1] == pytest.approx(519.0, rel=1e-8)


# --- whole stages, old path vs new -----------------------------------------------------------------


def _params(max_cost_d0: float, width: float) -> tuple[ConnectivityParams, BarrierParams]:
    d0 = max_cost_d0
    cp = ConnectivityParams(
        guild="g", kernel=Kernel(d0, 0.5, -math.log(0.5) / d0, "conefor"), suitability_threshold=0.5,
        min_patch_area_m2=100.0, edge_band_m=0.0, p_floor=0.05, corridor_width=width, iic_max_cost=d0,
        tile_cells=0, metrics_tolerance=0.0, n_threads=2,
    )
    bp = BarrierParams(guild="g", connectivity=cp, n_threads=2, max_segment_m=100.0, radii_m=(20.0, 50.0),
                       top_n=20, resistance_threshold=100.0, passage_resistance=1.0,
                       resistance={"road_main": 1000.0, "road_minor": 200.0})
    return cp, bp


def _run_stages(tmp, r, lab, res_m, cp, bp, *, probes: bool = False, shared_probes=None, distances: bool = False):
    """Inputs of :func:`_landscape` written to ``tmp``, then the connectivity and barrier stages; with
    ``probes`` the link search keeps the probe minima (``minima.npz``) and the barrier stage reads them.
    ``shared_probes`` (barrier settings) first builds the segments and probe groups with those
    settings in a file of their own (``shared.npz``, as the ``barrier_probes`` rule), which the
    connectivity stage is given. ``distances`` (with ``probes``): the connectivity stage keeps its
    all-pairs distances (``distances.npz``) and the barrier stage reads them."""
    h, w = r.shape
    grid = Grid.from_bounds((0.0, 0.0, w * res_m, h * res_m), res_m, CRS.from_epsg(28992))
    suit = np.where(lab > 0, 1.0, 0.2).astype(np.float32)
    resist = np.where(np.isfinite(r), r, -1.0).astype(np.float32)
    tmp.mkdir(parents=True, exist_ok=True)
    write_raster(tmp / "habitat.tif", suit, grid, nodata=-1.0)
    write_raster(tmp / "resistance.tif", resist, grid, nodata=-1.0)
    write_gpkg(gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(*grid.bounds)], crs="EPSG:28992"),
               tmp / "region.gpkg", "region")
    top = h * res_m
    lc = gpd.GeoDataFrame(
        {"class": ["road_main", "road_minor"]},
        geometry=[shapely.box(0.0, top - (h // 2 + 2) * res_m + 1, w * res_m, top - (h // 2) * res_m - 1),
                  shapely.box((w // 3) * res_m + 1, 0.0, (w // 3 + 1) * res_m - 1, top)],
        crs="EPSG:28992",
    )
    write_gpkg(lc, tmp / "landcover.gpkg", "landcover")
    outs = (tmp / "habitat.tif", tmp / "resistance.tif", tmp / "region.gpkg", tmp / "p.gpkg", tmp / "p.tif",
            tmp / "links.gpkg", tmp / "g.graphml", tmp / "m.csv", tmp / "s.json", tmp / "corr.tif")
    if shared_probes is not None:  # the resistance raster has the grid of every raster of the region
        br.run_barrier_probes(tmp / "landcover.gpkg", tmp / "resistance.tif", tmp / "shared.npz", params=shared_probes)
    if probes:
        br.run_connectivity_with_probes(tmp / "landcover.gpkg", *outs, params=bp, out_probe_minima=tmp / "minima.npz",
                                        barrier_probes=None if shared_probes is None else tmp / "shared.npz",
                                        out_distances=tmp / "distances.npz" if distances else None)
    else:
        cn.run_connectivity(*outs, params=cp)
    br.run_barriers(tmp / "landcover.gpkg", tmp / "resistance.tif", tmp / "p.tif", tmp / "p.gpkg",
                    tmp / "links.gpkg", tmp / "s.json", tmp / "barriers.gpkg", params=bp,
                    probe_minima=tmp / "minima.npz" if probes else None,
                    graph_distances=tmp / "distances.npz" if distances else None)


@pytest.mark.parametrize("seed", [0, 3])
def test_connectivity_and_barrier_stages_write_what_the_full_bound_wrote(seed, tmp_path, monkeypatch):
    r, lab, _ = _landscape(seed, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "new", r, lab, 10.0, cp, bp)
    original = cn.search_group_minima

    def full_bound(*args, **kwargs):
        return original(*args[:7])  # drop the per-patch bounds: every patch to max_cost + width

    monkeypatch.setattr(br.stage, "search_group_minima", full_bound)
    monkeypatch.setattr(gains._Searcher, "search_pairs", lambda self, starts: self.search(starts, -1))
    _run_stages(tmp_path / "old", r, lab, 10.0, cp, bp)
    for name in ("corr.tif", "p.tif", "m.csv", "s.json", "g.graphml"):
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes(), name
    for name, layer in (("links.gpkg", "links"), ("p.gpkg", "patches"), ("barriers.gpkg", "barriers")):
        a = gpd.read_file(tmp_path / "new" / name, layer=layer)
        b = gpd.read_file(tmp_path / "old" / name, layer=layer)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                      pd.DataFrame(b.drop(columns="geometry")), check_exact=True)
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all(), name
        if layer == "barriers":  # scores, corridor memberships and gains were exercised
            assert (a["score_per_m_20"] > 0).any() and a["in_corridor"].any() and (a["dECA_ha"] > 0).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("max_cost", [1000.0, 2500.0])
def test_footprint_pair_searches_find_the_pairs_of_the_full_searches(seed, max_cost):
    from concurrent.futures import ThreadPoolExecutor

    r, lab, n = _landscape(seed)
    H, W = r.shape
    rng = np.random.default_rng(seed)
    affected = np.zeros(n + 1, bool)
    affected[rng.choice(np.arange(1, n + 1), size=max(2, (2 * n) // 3), replace=False)] = True
    # footprints: a piece of the road, of the track, and cells inside a patch, mitigated to resistance 1
    feet = [np.arange(H // 2 * W + 5, H // 2 * W + 15), (np.arange(10, 30) * W + W // 3),
            np.flatnonzero(lab.ravel() == 1)[:3]]
    total = 0
    with ThreadPoolExecutor(max_workers=2) as ex:
        for foot in feet:
            rm = r.copy()
            rm.ravel()[foot] = 1.0
            base = gains.GainRaster(rm, lab, n)
            searcher = gains._Searcher(base.res_flat, base.lab_flat, base.shape, 10.0, max_cost, affected,
                                       base.workspaces(2))
            new = gains._costs_from_footprint(searcher, ex, foot)
            old_search = searcher.search_pairs
            searcher.search_pairs = lambda starts, s=searcher: s.search(starts, -1)
            try:
                old = gains._costs_from_footprint(searcher, ex, foot)
            finally:
                searcher.search_pairs = old_search
            assert new == old
            total += len(new)
    assert total > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("step_scale", [1.0, 1e6])
def test_bucket_pair_search_gives_the_heaps_costs_within_a_bound_no_tighter(seed, step_scale):
    """pair_costs_search against the heap's pair_bound_search from single cells: the same cost for
    every cell at or below the heap's bound, a bound at least the heap's and at most one bucket
    beyond it; a min_step far too large (step_scale 1e6) falls back to the heap itself."""
    from werkland._kernels.grid_search import (
        min_step_cost,
        pair_bound_search,
        pair_costs_search,
        search_resistance,
        step_lengths,
    )

    r, lab, n = _landscape(seed)
    H, W = r.shape
    res = search_resistance(cn.prepare_resistance(r))
    lens = step_lengths(10.0)
    min_step = min_step_cost(res, lens) * step_scale
    lab_flat = lab.ravel().astype(np.int64)
    rng = np.random.default_rng(seed)
    wanted = np.zeros(n + 1, bool)
    wanted[rng.choice(np.arange(1, n + 1), size=n // 2, replace=False)] = True
    max_cost = 2500.0
    checked = 0
    for start in rng.choice(np.flatnonzero(np.isfinite(res)), 12, replace=False):
        starts = np.array([start], np.int64)
        cum_h, cum_b = np.full(H * W, np.inf), np.full(H * W, np.inf)
        nh, th, bh = pair_bound_search(res, H, W, lens, starts, max_cost, lab_flat, wanted, cum_h,
                                       np.empty(16, np.int64))
        nb, tb, bb = pair_costs_search(res, H, W, lens, starts, max_cost, lab_flat, wanted, cum_b,
                                       np.empty(16, np.int64), min_step)
        assert bh <= bb <= bh + min_step + 1e-6
        inside = cum_h <= bh
        assert np.array_equal(cum_h[inside], cum_b[inside]) and np.all(cum_b[~inside] > bh)
        if step_scale > 1.0:
            assert bb == bh and nb == nh and np.array_equal(th[:nh], tb[:nb])
        checked += int(inside.sum())
    assert checked > 1000


def _footprint_pairs_by_loop(outs, max_cost):
    """The footprint's pair costs as a double loop over each cell's found patches (dict order: first seen)."""
    new = {}
    for found, costs in outs:
        for a_ in range(found.size):
            for b_ in range(a_ + 1, found.size):
                c = float(costs[a_] + costs[b_])
                if c <= max_cost:
                    key = (int(found[a_]), int(found[b_]))
                    new[key] = min(new.get(key, math.inf), c)
    return new


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footprint_pair_costs_are_each_pairs_least_sum_in_first_seen_order(seed):
    """The pairs of the footprint cells' searches as arrays equal the double loop: the same pairs,
    least costs and order (the order the link decreases, and so the ECA update, take them)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(seed)
    outs = []
    for _ in range(7):
        found = np.sort(rng.choice(np.arange(1, 60), size=int(rng.integers(0, 25)), replace=False)).astype(np.int64)
        outs.append((found, np.round(rng.uniform(0, 600, found.size), 1)))  # ties and sums at the bound
    max_cost = 700.0

    class _Canned:
        def __init__(self):
            self.max_cost = max_cost
            self.calls = iter(outs)

        def search_pairs(self, starts):
            return next(self.calls)

    with ThreadPoolExecutor(max_workers=1) as ex:  # one thread: the canned answers in footprint order
        got = gains._costs_from_footprint(_Canned(), ex, np.arange(len(outs), dtype=np.int64))
    want = _footprint_pairs_by_loop(outs, max_cost)
    assert list(got.items()) == list(want.items()) and len(want) > 20
    assert all(type(k[0]) is int and type(v) is float for k, v in got.items())


def test_window_groups_are_the_offsets_around_each_centre_clipped_to_the_raster():
    """``add_windows`` (compiled) lists, centre after centre and offset after offset, the cells
    around each centre that lie in the raster, with the centre's group: as the broadcast formula."""
    rng = np.random.default_rng(11)
    H, W = 40, 57
    off = br_scores.disk_offsets(50.0, 10.0)
    centres = np.concatenate([[0, W - 1, (H - 1) * W, H * W - 1], rng.integers(0, H * W, 60)]).astype(np.int64)
    coll = br_scores._GroupTable((H, W))
    coll.n = 7
    coll.add_windows(centres, np.arange(centres.size), off, 1, 0)
    r = centres[:, None] // W + off[None, :, 0]
    c = centres[:, None] % W + off[None, :, 1]
    ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    assert ok.sum() < ok.size  # the corners clip
    assert np.array_equal(coll.cells[0], (r * W + c)[ok])
    assert np.array_equal(coll.gids[0], (7 + np.repeat(np.arange(centres.size)[:, None], off.shape[0], axis=1))[ok])
    assert coll.n == 7 + centres.size


def test_cell_group_index_is_the_sorted_unique_pairs_by_cell():
    """Pieces of (cell, group) pairs with repeats, within and across pieces: each cell's slot lists
    its groups sorted and once, as the concatenated pairs' unique keys; the pieces are consumed."""
    rng = np.random.default_rng(5)
    n_cells, n_groups = 5000, 300
    cells = [rng.integers(0, n_cells, k) for k in (4000, 1, 0, 2500)]
    groups = [rng.integers(0, n_groups, c.size) for c in cells]
    cells.append(cells[0][:100].copy())
    groups.append(groups[0][:100].copy())  # repeated pairs
    want = np.unique(np.stack([np.concatenate(cells), np.concatenate(groups)], axis=1), axis=0)
    cell_slot, slot_ptr, slot_groups = br_scores.cell_group_index(cells, groups, n_groups, n_cells)
    assert cells == [] and groups == []
    used = np.flatnonzero(cell_slot >= 0)
    assert np.array_equal(used, np.unique(want[:, 0]))
    assert np.array_equal(cell_slot[used], np.arange(used.size)) and slot_ptr[-1] == len(want)
    got = np.stack([np.repeat(used, np.diff(slot_ptr)), slot_groups], axis=1)
    assert np.array_equal(got, want)
    assert slot_groups.dtype == np.int32 and cell_slot.dtype == np.int32  # int64 only past 2^31 groups or slots
    assert br_scores._index_dtype(2**31) is np.int64 and br_scores._index_dtype(2**31 - 2) is np.int32
    empty = br_scores.cell_group_index([], [], 0, 10)
    assert np.all(empty[0] == -1) and empty[1].tolist() == [0] and empty[2].size == 0
