"""Tests of werkland.interventions: catalogue, exact local gains, ranking, budgeted selection, bad input."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from pyproj import CRS
from scipy import ndimage

from werkland._errors import WerklandInputError
from werkland.climate import heat_mitigation, load_biophysical, run_climate, runoff_mm
from werkland.config import validate_config
from werkland.connectivity import (
    build_links,
    cost_distance_bounded,
    find_patches,
    probability_metrics,
    run_connectivity,
)
from werkland.habitat import run_habitat
from werkland.interventions import (
    GENERATORS,
    Candidate,
    Evaluator,
    GuildGraph,
    InterventionInputs,
    PairDistances,
    bounded_search_targets,
    celf_select,
    load_catalogue,
    pareto_front,
    run_interventions,
)
from werkland.interventions.catalogue import GENERATOR_TYPES
from werkland.interventions.search import Searcher, SearcherPool
from werkland.layout import RegionPaths
from werkland.params import ClimateParams, ConnectivityParams, HabitatParams, InterventionParams
from werkland.raster.io import Grid, write_raster
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]
LEGEND = ROOT / "config" / "landcover_classes.yaml"
GUILDS = ROOT / "config" / "guilds.yaml"
CATALOGUE = ROOT / "config" / "interventions.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CRS28992 = CRS.from_epsg(28992)
X0, Y0, RES = 100_000.0, 450_000.0, 10.0


# --------------------------------------------------------------------------------------------
# catalogue
# --------------------------------------------------------------------------------------------


def test_catalogue_loads_all_types(legend, guilds):
    cat = load_catalogue(CATALOGUE, legend, guilds)
    expected = {"green_roof_extensive", "green_roof_biodiverse", "green_facade", "wadi", "rain_garden", "depaving",
                "tree_row", "flower_meadow", "pond", "hedgerow", "fauna_tunnel", "culvert_ledge", "ecoduct"}
    assert expected <= set(cat.types)
    for t in cat.types.values():
        assert t.unit_cost >= 0 and t.size_unit in ("m2", "m", "item") and t.cost_source


def _write_cat(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "cat.yaml"
    p.write_text("types:\n" + body)
    return p


@pytest.mark.parametrize(
    "body, msg",
    [
        ("  x: {generator: polygons, applies_to: [building], effect: {class: lava}, size_unit: m2, unit_cost: 1}\n",
         "unknown effect class 'lava'"),
        ("  x: {generator: magic, applies_to: [building], effect: {class: grass}, size_unit: m2, unit_cost: 1}\n",
         "unknown generator"),
        ("  x: {generator: polygons, applies_to: [building], effect: {class: grass}, size_unit: m2, unit_cost: -5}\n",
         "unit_cost -5"),
        ("  x: {generator: polygons, applies_to: [building], effect: {class: road_main}, size_unit: m2, unit_cost: 1}\n",
         "edge class"),
        ("  x: {generator: polygons, applies_to: [building], effect: {class: grass}, size_unit: ha, unit_cost: 1}\n",
         "size_unit"),
        ("  x: {generator: barrier, applies_to: [road_main], effect: {resistance: {unicorn: 1}}, size_unit: item, unit_cost: 1}\n",
         "unknown guild"),
    ],
)
def test_catalogue_bad_input(tmp_path, legend, guilds, body, msg):
    with pytest.raises(WerklandInputError, match=msg):
        load_catalogue(_write_cat(tmp_path, body), legend, guilds)


def test_unknown_type_is_a_clear_error(legend, guilds):
    cat = load_catalogue(CATALOGUE, legend, guilds)
    with pytest.raises(WerklandInputError, match="unknown intervention type 'moat'.*use one of"):
        cat.get("moat")


# --------------------------------------------------------------------------------------------
# exact local evaluation
# --------------------------------------------------------------------------------------------


def test_bounded_search_equals_connectivity_cost_distance():
    rng = np.random.default_rng(3)
    res = rng.choice([1.0, 3.0, 10.0, np.inf], size=(30, 40), p=[0.5, 0.3, 0.15, 0.05])
    labels = np.zeros((30, 40), np.int64)
    labels[2:5, 2:6] = 1
    labels[20:25, 30:36] = 2
    labels[10:12, 15:25] = 3
    src = np.flatnonzero(labels.ravel() == 1)
    got = bounded_search_targets(res, labels, src, res_m=10.0, max_cost=800.0, src_label=1)
    cost = cost_distance_bounded(res, labels == 1, res_m=10.0, max_cost=800.0)
    for lab in (2, 3):
        ref = float(cost[labels == lab].min())
        if math.isfinite(ref):
            assert got[lab] == ref
        else:
            assert lab not in got


def _full_eca(suit, res, thr, min_area, k, max_cost):
    ps = find_patches(suit, res_m=RES, threshold=thr, min_area_m2=min_area)
    if ps.n == 0:
        return 0.0, 0.0
    L = build_links(res, ps.labels, res_m=RES, max_cost=max_cost, n_threads=1, with_paths=False)
    a = ps.table["quality_ha"].to_numpy()
    gm = probability_metrics(a, (L.from_id - 1, L.to_id - 1, L.cost), k, 1.0, node_metrics=False)
    return gm.ECA_ha, float(a.sum())


@pytest.mark.parametrize("compact", [False, True])
def test_pair_distances_read_write_and_grow_in_place(compact):
    """Symmetric reads and writes of the packed triangle, within 6e-8 (compact float32 p*) or exact;
    new nodes are unconnected; growing within the headroom keeps the buffer, beyond it reallocates
    and keeps the values."""
    rng = np.random.default_rng(3)
    n = 6
    D = rng.uniform(0.0, 30.0, (n, n))
    D = np.minimum(D, D.T)
    np.fill_diagonal(D, 0.0)
    D[0, 5] = D[5, 0] = np.inf
    D[1, 4] = D[4, 1] = 95.0  # p* below the smallest normal float32: stored as unconnected
    pd_ = PairDistances.from_dense(D, compact=compact, headroom=2)
    buf = pd_._buf
    want = D.copy()
    if compact:
        want[1, 4] = want[4, 1] = np.inf
    got = pd_.rows(np.arange(n))
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), fin) and np.array_equal(got, got.T)
    assert np.max(np.abs(got[fin] - want[fin])) <= pd_.abs_error == (6e-8 if compact else 0.0)
    assert pd_.get(2, 2) == 0.0 and pd_.shape == (n, n)
    sub = pd_.block([4, 0, 2], [2, 5])
    assert sub.shape == (3, 2) and np.isinf(sub[1, 1]) and sub[2, 0] == 0.0
    assert sub[0, 0] == pytest.approx(D[4, 2], abs=pd_.abs_error)
    pd_.set_block([3], [1], np.array([[0.25]]))  # one entry serves both orders
    assert pd_.get(1, 3) == pd_.get(3, 1) == pytest.approx(0.25, abs=pd_.abs_error)
    pd_.grow(2)  # within the headroom: same buffer
    assert pd_.shape == (n + 2, n + 2) and pd_._buf is buf
    assert np.all(np.isinf(pd_.rows([n])[0, :n])) and pd_.get(n, n) == 0.0 and np.isinf(pd_.get(n, n + 1))
    pd_.set_block([n], [0], np.array([[1.5]]))
    pd_.isolate(2)
    assert np.isinf(pd_.rows([2])[0, [0, 1, 3, n]]).all() and pd_.get(2, 2) == 0.0
    pd_.grow(1)  # beyond: reallocated, values kept
    assert pd_._buf is not buf and pd_.shape == (n + 3, n + 3)
    assert pd_.get(0, n) == pytest.approx(1.5, abs=pd_.abs_error)
    assert pd_.get(4, 0) == pytest.approx(D[4, 0], abs=pd_.abs_error)
    with pytest.raises(IndexError, match="node ids"):
        pd_.rows([n + 3])
    with pytest.raises(ValueError, match="1-D"):
        PairDistances(np.zeros((3, 3), np.float32 if compact else np.float64), 3, compact=compact)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_component_distances_equal_one_packed_triangle_bit_for_bit(seed):
    """A graph in many components (and one of 300 nodes, so the rows come from the compiled chunks):
    per-component float32 p* read back bit for bit as the one triangle over all nodes, with the same
    PCnum; then random writes -- finite distances between components (merging them), rows, blocks,
    isolated nodes, new nodes -- keep both equal, and the components only use a fraction of the pairs."""
    from werkland.connectivity import apsp_probabilities
    from werkland.interventions.pair_distances import ComponentDistances

    rng = np.random.default_rng(seed)
    n = 600
    big = rng.integers(0, 300, (900, 2))  # nodes 0..299: one dense part
    small = rng.integers(300, n, (150, 2))  # nodes 300..599: sparse, many components
    e = np.concatenate([big, small])
    e = e[e[:, 0] != e[:, 1]]
    i, j, w = e[:, 0], e[:, 1], rng.uniform(0.05, 3.0, len(e))
    a = rng.uniform(0.0, 2.0, n)
    P, pc_one = apsp_probabilities(n, i, j, w, a, out=np.zeros((n + 8) * (n + 7) // 2, np.float32))
    one = PairDistances(np.concatenate([P, np.zeros(4000, np.float32)]), n, compact=True)
    comp, pc_comp = ComponentDistances.build(n, i, j, w, a)
    assert pc_comp == pc_one and comp.n_components > 100
    assert comp.nbytes < one.nbytes / 2
    every = np.arange(n)
    assert np.array_equal(comp.rows(every), one.rows(every))
    for step in range(40):
        kind = step % 5
        m = comp.n
        if kind == 0:  # a finite pair between (probably) two components
            r, c = rng.integers(0, m, 2)
            d = np.array([[rng.uniform(0.1, 5.0)]])
            for x in (comp, one):
                x.set_block([r], [c], d)
        elif kind == 1:  # rows of a few nodes to every node, some finite across components
            rows = rng.choice(m, 3, replace=False)
            d = np.where(rng.random((3, m)) < 0.3, rng.uniform(0.0, 20.0, (3, m)), np.inf)
            for x in (comp, one):
                x.set_rows(rows, d)
        elif kind == 2:  # a block, repeated nodes keep the later value
            idx = rng.integers(0, m, 6)
            d = rng.uniform(0.0, 100.0, (6, 6))
            for x in (comp, one):
                x.set_block(idx, idx, d)
        elif kind == 3:
            node = int(rng.integers(0, m))
            for x in (comp, one):
                x.isolate(node)
        else:
            for x in (comp, one):
                x.grow(2)
        every = np.arange(comp.n)
        assert comp.shape == one.shape
        assert np.array_equal(comp.rows(every), one.rows(every)), step
    sub = rng.integers(0, comp.n, 7)
    assert np.array_equal(comp.block(sub, sub[::-1]), one.block(sub, sub[::-1]))
    assert comp.get(int(sub[0]), int(sub[1])) == one.get(int(sub[0]), int(sub[1]))
    with pytest.raises(IndexError, match="node ids"):
        comp.rows([comp.n])
    empty, pc0 = ComponentDistances.build(0, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    assert pc0 == 0.0 and empty.shape == (0, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_square_blocks_and_cut_masks_equal_the_reads_they_replace(seed):
    """``square(U)`` equals ``block(U, U)`` and ``within(seeds, cut)`` equals
    ``rows(seeds).min(axis=0) <= cut``, value for value, on one triangle (float64 and compact) and on
    per-component triangles; with pairs whose p* lies at exp(-cut) to the float32 rounding (the
    logarithm decides them), a cut beyond the float32 range, an infinite cut and no seeds."""
    from werkland.interventions.pair_distances import ComponentDistances

    rng = np.random.default_rng(seed)
    n = 120
    e = np.concatenate([rng.integers(0, 60, (200, 2)), rng.integers(60, n, (40, 2))])
    e = e[e[:, 0] != e[:, 1]]
    i, j, w = e[:, 0], e[:, 1], rng.uniform(0.05, 3.0, len(e))
    comp, _ = ComponentDistances.build(n, i, j, w, rng.uniform(0.0, 2.0, n))
    dense = comp.rows(np.arange(n))
    cut = float(np.median(dense[np.isfinite(dense) & (dense > 0)]))
    # pairs exactly at the cut as float32 p*, and one float32 step either side
    p_cut = np.float32(np.exp(-cut))
    for k, p in enumerate([p_cut, np.nextafter(p_cut, np.float32(1)), np.nextafter(p_cut, np.float32(0))]):
        comp.set_block([k], [k + 1], np.array([[-np.log(np.float64(p))]]))
    at_cut = comp.get(0, 1)  # a cut that one pair's read distance equals: decided by the logarithm
    tables = [comp]
    for compact in (False, True):
        tables.append(PairDistances.from_dense(comp.rows(np.arange(n)), compact=compact))
    for t in tables:
        for U in (np.arange(n), np.sort(rng.choice(n, 37, replace=False)), np.array([5]), np.zeros(0, np.int64),
                  np.array([7, 3, 7, 0])):  # unsorted, a node twice
            assert np.array_equal(t.square(U), t.block(U, U))
        for seeds in ([0], [1, 2], list(rng.choice(n, 9, replace=False)), list(range(n))):
            rows = t.rows(seeds)
            for c in (cut, at_cut, np.nextafter(at_cut, 0.0), 0.0, 1e-3, 50.0, 104.0, 500.0, np.inf):
                assert np.array_equal(t.within(seeds, c), rows.min(axis=0) <= c), (type(t).__name__, seeds, c)
        assert not t.within([], cut).any() and t.within([], cut).shape == (n,)
        with pytest.raises(IndexError, match="node ids"):
            t.within([n], cut)


@pytest.mark.parametrize("seed, pc_tol", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0), (5, 0.0), (6, 1e-6), (7, 1e-6)])
def test_local_graph_gain_equals_full_recomputation(seed, pc_tol):
    """Creating, enlarging, merging and degrading patches and cheaper/dearer crossings, in sequence.

    ``pc_tol = 0``: exact; ``pc_tol = 1e-6``: PCnum within 1e-6 relative (ECA within 5e-7).
    """
    rng = np.random.default_rng(seed)
    H, W = 36, 44
    noise = ndimage.gaussian_filter(rng.standard_normal((H, W)), 2)
    suit = np.clip(noise * 2 + 0.3, 0, 1).astype(np.float32)
    res = np.where(suit > 0.5, 1.0, rng.choice([2.0, 5.0, 20.0, np.inf], size=(H, W), p=[0.4, 0.3, 0.25, 0.05]))
    thr, min_area = 0.5, 300.0
    k = math.log(2) / 200
    max_cost = -math.log(0.001) / k
    ps = find_patches(suit, res_m=RES, threshold=thr, min_area_m2=min_area)
    L = build_links(res, ps.labels, res_m=RES, max_cost=max_cost, n_threads=1, with_paths=False)
    g = GuildGraph("t", suit, res, ps.labels, (L.from_id, L.to_id, L.cost), k_per_m=k, max_cost=max_cost,
                   threshold=thr, min_area_m2=min_area, res_m=RES, pc_tol=pc_tol, headroom=0 if seed == 7 else 256)
    assert g.D.compact == (pc_tol > 0)  # a tolerance keeps float32 probabilities
    tol = 1e-8 if pc_tol == 0 else 2e-6
    e0, q0 = _full_eca(suit, res, thr, min_area, k, max_cost)
    assert g.eca_ha == pytest.approx(e0, rel=1e-12)
    s2, r2 = suit.copy(), res.copy()
    # probes: small what-ifs evaluated once and re-evaluated from their cached searches after each commit
    probes = []
    for _ in range(4):
        pr, pc = int(rng.integers(0, H - 2)), int(rng.integers(0, W - 3))
        pcells = np.unique((pr + np.arange(2))[:, None] * W + (pc + np.arange(3))[None, :]).ravel()
        pn = (pcells, np.full(pcells.size, 0.9, np.float32), np.full(pcells.size, 1.0))
        probes.append((pn, g.evaluate(*pn)))
    n_reused = 0
    for kind in (0, 1, 2, 3, 1, 0):
        r0, c0 = int(rng.integers(0, H - 6)), int(rng.integers(0, W - 8))
        if kind == 0:  # a hedge line
            cells = np.unique(r0 * W + c0 + np.arange(8))
        else:
            rr, cc = np.meshgrid(np.arange(r0, r0 + 3), np.arange(c0, c0 + 4), indexing="ij")
            cells = np.unique(rr.ravel() * W + cc.ravel())
        if kind == 3:  # degrade: habitat lost, resistance up (full-rebuild path)
            ns, nr = np.full(cells.size, 0.1, np.float32), np.full(cells.size, 50.0)
        elif kind == 2:  # passage: resistance only
            ns, nr = s2.ravel()[cells].copy(), np.full(cells.size, 1.0)
        else:
            ns, nr = np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0)
        local = g.evaluate(cells, ns, nr)  # what-if first, then commit
        d = g.evaluate(cells, ns, nr, commit=True)
        assert local.d_eca_ha == pytest.approx(d.d_eca_ha, rel=1e-12, abs=1e-12)
        s2.ravel()[cells] = ns
        r2.ravel()[cells] = nr
        e1, q1 = _full_eca(s2, r2, thr, min_area, k, max_cost)
        assert d.d_eca_ha == pytest.approx(e1 - e0, rel=tol, abs=tol * max(e1, 1.0))
        assert d.d_quality_ha == pytest.approx(q1 - q0, rel=1e-9, abs=1e-12)
        assert g.eca_ha == pytest.approx(e1, rel=tol)
        e0, q0 = e1, q1
        for t, (pn, old_delta) in enumerate(probes):
            fresh = g.evaluate(*pn)
            again = g.evaluate(*pn, cache=old_delta.cache)
            n_reused += old_delta.cache is not None and g._rebase(old_delta.cache) is not None
            assert again.d_eca_ha == pytest.approx(fresh.d_eca_ha, rel=1e-12, abs=1e-12)
            assert again.d_quality_ha == pytest.approx(fresh.d_quality_ha, rel=1e-12, abs=1e-12)
            probes[t] = (pn, again)


def test_searcher_pool_lends_at_most_its_limit_and_gives_the_same_results():
    """Twelve searches on 6 threads through a pool of 2 sets: never more than 2 sets made, each
    result and box that of a fresh searcher; a deep copy is a new empty pool; and a guild graph
    whose searches run on 2 threads with one set to share gives the gains of one thread."""
    import copy
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    H, W = 40, 50
    res = rng.choice([1.0, 3.0, 10.0, np.inf], size=(H, W), p=[0.5, 0.3, 0.15, 0.05])
    labels = np.zeros((H, W), np.int64)
    labels[rng.integers(0, H, 30), rng.integers(0, W, 30)] = np.arange(1, 31)
    res_f, lab_f = res.ravel(), labels.ravel()
    jobs = [(rng.integers(0, H * W, 3), float(rng.uniform(20, 400)), -1) for _ in range(12)]
    pool = SearcherPool((H, W), RES, limit=2)
    with ThreadPoolExecutor(6) as ex:
        got = list(ex.map(lambda j: pool.search(res_f, lab_f, j[0], j[1], j[2], 30), jobs))
    assert 1 <= pool.n_made <= 2
    for (st, b, sl), (labs, costs, box) in zip(jobs, got, strict=True):
        fresh = Searcher((H, W), RES)
        want_l, want_c = fresh.targets(res_f, lab_f, st, b, sl, 30)
        assert np.array_equal(labs, want_l) and np.array_equal(costs, want_c) and box == fresh.box
    assert any(lab.size for lab, _, _ in got)
    twin = copy.deepcopy(pool)
    assert twin is not pool and twin.n_made == 0 and (twin.shape, twin.limit) == (pool.shape, pool.limit)

    noise = ndimage.gaussian_filter(rng.standard_normal((36, 44)), 2)
    suit = np.clip(noise * 2 + 0.3, 0, 1).astype(np.float32)
    gres = np.where(suit > 0.5, 1.0, rng.choice([2.0, 5.0, 20.0], size=suit.shape))
    k = math.log(2) / 200
    max_cost = -math.log(0.001) / k
    ps = find_patches(suit, res_m=RES, threshold=0.5, min_area_m2=300.0)
    L = build_links(gres, ps.labels, res_m=RES, max_cost=max_cost, n_threads=1, with_paths=False)
    gains = []
    for threads, shared in ((1, None), (2, SearcherPool(suit.shape, RES, limit=1))):
        g = GuildGraph("t", suit, gres, ps.labels, (L.from_id, L.to_id, L.cost), k_per_m=k, max_cost=max_cost,
                       threshold=0.5, min_area_m2=300.0, res_m=RES, search_pool=shared)
        g.n_threads = threads
        rr, cc = np.meshgrid(np.arange(10, 14), np.arange(5, 30), indexing="ij")  # a new habitat strip
        cells = np.unique(rr.ravel() * 44 + cc.ravel())
        gains.append(g.evaluate(cells, np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0)))
        assert shared is None or shared.n_made == 1
    assert gains[0].d_eca_ha == gains[1].d_eca_ha and gains[0].d_eca_ha > 0


# --------------------------------------------------------------------------------------------
# synthetic region
# --------------------------------------------------------------------------------------------


def _grid(h: int, w: int) -> Grid:
    return Grid(h, w, Affine(RES, 0, X0, 0, -RES, Y0 + h * RES), CRS28992)


def _box_cells(r0, r1, c0, c1, h):
    """Map polygon of the cells rows r0:r1, cols c0:c1."""
    return shapely.box(X0 + c0 * RES, Y0 + (h - r1) * RES, X0 + c1 * RES, Y0 + (h - r0) * RES)


ANALYSED = ["hedgehog", "woodland_birds"]


def _config(**interventions) -> dict:
    """A validated config (schema defaults filled) of the synthetic region's stages."""
    cfg = {
        "legend": str(LEGEND), "guilds_table": str(GUILDS), "guilds": list(ANALYSED),
        "regions": {"t": {"land_cover": [{"type": "osm", "path": "unused.osm.pbf"}]}},
        "climate": {"cooling_distance_m": 50.0, "storms": [{"name": "70mm", "depth_mm": 70}]},
        "interventions": {"budget_eur": 1e6, "weights": {"biodiversity": 0.5, "climate": 0.5}, "n_workers": 1,
                          **interventions},
    }
    return validate_config(cfg, SCHEMA)


def _params(**interventions) -> InterventionParams:
    return InterventionParams.from_config(_config(**interventions), guilds=load_guilds(GUILDS, load_legend(LEGEND)),
                                          n_workers=1)


def make_region(root: Path, legend) -> tuple[RegionPaths, Grid, np.ndarray]:
    """60 x 60 cells: two 2-ha woods split by a cropland strip, a 5000 m² roof and a parking lot, one park.

    The land-cover stage's files are written here; the habitat, connectivity and climate outputs come
    from those stages' own entry points (the workflow's path), with the config of :func:`_config`.
    """
    h = w = 60
    c = legend.code
    lc = np.full((h, w), c("built_area"), np.uint8)
    lc[5:25, 5:25] = c("woodland")
    lc[5:25, 29:49] = c("woodland")
    lc[5:25, 25:29] = c("cropland")
    lc[35:45, 5:30] = c("building")  # 2 500 m2... scaled below
    lc[35:55, 35:55] = c("parking")
    lc[0, :] = 0  # a row outside the region
    paths = RegionPaths(root, "region")
    paths.dir.mkdir(parents=True)
    grid = _grid(h, w)
    write_raster(paths.landcover_tif, lc, grid, nodata=0)
    park = _box_cells(1, 60, 0, 60, h)
    gpd.GeoDataFrame({"park_id": ["p1"], "name": ["Test park"], "area_m2": [park.area]}, geometry=[park],
                     crs=CRS28992).to_file(paths.region_gpkg, layer="parks", engine="pyogrio")
    gpd.GeoDataFrame({"name": ["r"]}, geometry=[park], crs=CRS28992).to_file(paths.region_gpkg, layer="region",
                                                                                 engine="pyogrio")
    polys = gpd.GeoDataFrame(
        {"class": ["building", "parking", "woodland", "woodland"], "source": ["t"] * 4, "area_m2": [0.0] * 4},
        geometry=[_box_cells(35, 45, 5, 30, h), _box_cells(35, 55, 35, 55, h), _box_cells(5, 25, 5, 25, h),
                  _box_cells(5, 25, 29, 49, h)], crs=CRS28992)
    polys.to_file(paths.landcover_gpkg, layer="landcover", engine="pyogrio")
    lines = gpd.GeoDataFrame({"class": ["road_minor"], "kind": ["road"], "road_class": ["residential"], "width_m": [7.0]},
                             geometry=[shapely.LineString([(X0, Y0 + 300), (X0 + 600, Y0 + 300)])], crs=CRS28992)
    lines.to_file(paths.landcover_gpkg, layer="lines", engine="pyogrio")
    _run_upstream_stages(paths)
    return paths, grid, lc


def _run_upstream_stages(paths: RegionPaths) -> None:
    """habitat, connectivity (each analysed guild) and climate, as the workflow runs them."""
    cfg = _config()
    table = load_guilds(GUILDS, load_legend(LEGEND))
    for d in ("habitat", "resistance", "patches", "graph", "climate"):
        (paths.dir / d).mkdir()
    run_habitat(paths.landcover_tif, LEGEND, GUILDS, {g: paths.habitat(g) for g in ANALYSED},
                {g: paths.resistance(g) for g in ANALYSED}, params=HabitatParams.from_config(cfg))
    for g in ANALYSED:
        run_connectivity(paths.habitat(g), paths.resistance(g), paths.region_gpkg, paths.patches_gpkg(g),
                         paths.patches_tif(g), paths.links(g), paths.graphml(g), paths.metrics(g), paths.summary(g),
                         None, params=ConnectivityParams.from_config(cfg, table[g], n_threads=1))
    climate = ClimateParams.from_config(cfg)
    run_climate(paths.landcover_tif, paths.landcover_gpkg, paths.region_gpkg, LEGEND, paths.cooling,
                {s: paths.runoff(s) for s in climate.storm_names}, paths.climate_summary, params=climate, threads=1)


@pytest.fixture(scope="module")
def region(tmp_path_factory, legend):
    """The synthetic region with its upstream stage outputs (read-only for the tests)."""
    return make_region(tmp_path_factory.mktemp("werkland"), legend)


def _user_layer(tmp_path: Path, grid: Grid, rows: list[dict], crs=CRS28992) -> Path:
    p = tmp_path / "plan.gpkg"
    gpd.GeoDataFrame(rows, geometry=[r.pop("geometry") for r in rows], crs=crs).to_file(p, engine="pyogrio")
    return p


def _inputs(paths: RegionPaths, out: Path, user: Path | None = None) -> InterventionInputs:
    """The stage's files: the region's inputs (no barrier stage), outputs under ``out``."""
    inputs = InterventionInputs.from_layout(paths, ANALYSED, legend_yaml=LEGEND, guilds_yaml=GUILDS,
                                            catalogue_yaml=CATALOGUE, user_candidates=user)
    return replace(inputs, barriers_all=None, out_candidates_gpkg=out / "candidates.gpkg",
                   out_portfolio_csv=out / "portfolio.csv", out_park_totals_csv=out / "park_totals.csv")


def _run(tmp_path: Path, paths: RegionPaths, user: Path | None, **params):
    out = tmp_path / "out"
    s = run_interventions(_inputs(paths, out, user), _params(**params))
    return s, gpd.read_file(out / "candidates.gpkg"), pd.read_csv(out / "portfolio.csv"), pd.read_csv(out / "park_totals.csv")


def test_hedgerow_beats_roof_for_biodiversity_and_depaving_beats_it_for_water(tmp_path, region):
    region, grid, _ = region
    h = grid.height
    hedge = shapely.LineString([(X0 + 245, Y0 + (h - 15) * RES + 5), (X0 + 295, Y0 + (h - 15) * RES + 5)])
    rows = [
        {"candidate_id": "hedge", "type": "hedgerow", "cost_eur": 40_000.0, "geometry": hedge},
        {"candidate_id": "roof", "type": "green_roof_extensive", "cost_eur": 40_000.0, "geometry": _box_cells(35, 45, 5, 30, h)},
        {"candidate_id": "depave", "type": "depaving", "cost_eur": 40_000.0, "geometry": _box_cells(35, 55, 35, 55, h)},
    ]
    user = _user_layer(tmp_path, grid, rows)
    s, cand, port, parks = _run(tmp_path, region, user, user_candidates_mode="replace")
    c = cand.set_index("candidate_id")
    assert c.loc["hedge", "d_eca_ha_hedgehog"] > 0 and c.loc["hedge", "d_eca_ha_woodland_birds"] > 0
    assert c.loc["hedge", "score_bio"] > c.loc["roof", "score_bio"]
    assert c.loc["depave", "d_retained_m3"] > c.loc["roof", "d_retained_m3"] > 0
    assert c.loc["depave", "score_climate"] > c.loc["roof", "score_climate"]
    # outputs follow the contract
    for col in ("candidate_id", "type", "park_id", "size", "size_unit", "cost_eur", "d_eca_ha_hedgehog",
                "d_eca_ha_woodland_birds", "d_habitat_ha", "d_hm", "d_retained_m3", "score_bio", "score_climate",
                "score", "score_per_keur", "rank", "selected", "pareto"):
        assert col in cand.columns
    assert set(cand["park_id"]) == {"p1"}
    assert port["cum_cost_eur"].iloc[-1] <= 1e6 and list(port["order"]) == list(range(1, len(port) + 1))
    assert parks.loc[0, "park_id"] == "p1" and parks.loc[0, "n_selected"] == len(port)


def test_generated_candidates_and_budget(tmp_path, region):
    region, grid, _ = region
    s, cand, port, _ = _run(tmp_path, region, None, budget_eur=200_000)
    types = set(cand["type"])
    assert {"green_roof_extensive", "depaving", "wadi", "hedgerow"} <= types
    assert cand["candidate_id"].is_unique
    assert port["cost_eur"].sum() <= 200_000 + 1e-6
    assert (cand["selected"].sum()) == len(port)
    assert "barriers/all_guilds.gpkg absent: no fauna-passage candidates" in s["warnings"]
    # deterministic: the same inputs give the same ids and selection
    s2, cand2, port2, _ = _run(tmp_path, region, None, budget_eur=200_000)
    assert list(cand2["candidate_id"]) == list(cand["candidate_id"])
    assert list(port2["candidate_id"]) == list(port["candidate_id"])


def test_budget_smaller_than_any_measure_gives_explained_empty_portfolio(tmp_path, region):
    region, _, _ = region
    s, cand, port, _ = _run(tmp_path, region, None, budget_eur=1.0)
    assert len(cand) > 0 and len(port) == 0 and not cand["selected"].any()
    assert any("smaller than the cheapest measure" in w for w in s["warnings"])


@pytest.mark.parametrize(
    "rows, crs, msg",
    [
        ([{"candidate_id": "a", "type": "moat"}], CRS28992, "unknown intervention type 'moat'"),
        ([{"candidate_id": "a", "type": "depaving", "cost_eur": -10.0}], CRS28992, "cost_eur -10.0 must be a number >= 0"),
        ([{"candidate_id": "a", "type": "depaving"}], CRS.from_epsg(32631), "differs from the region CRS"),
        ([{"id": "a", "type": "depaving"}], CRS28992, r"missing field\(s\) \['candidate_id'\]"),
    ],
)
def test_bad_user_candidates(tmp_path, region, rows, crs, msg):
    region, grid, _ = region
    geom = _box_cells(35, 55, 35, 55, grid.height)
    if crs != CRS28992:
        geom = gpd.GeoSeries([geom], crs=CRS28992).to_crs(crs).iloc[0]
    user = _user_layer(tmp_path, grid, [dict(r, geometry=geom) for r in rows], crs=crs)
    with pytest.raises(WerklandInputError, match=msg):
        _run(tmp_path, region, user)


def test_local_climate_gains_equal_full_recomputation(region, legend, guilds):
    _, grid, lc = region
    cat = load_catalogue(CATALOGUE, legend, guilds)
    cp = ClimateParams.from_section({"cooling_distance_m": 30.0})
    park_index = np.where(lc != 0, 1, 0).astype(np.int32)
    g = {"hedgehog": guilds["hedgehog"]}
    ps = find_patches(np.zeros(lc.shape, np.float32), res_m=RES, threshold=0.5, min_area_m2=1e9)
    gg = GuildGraph("hedgehog", np.zeros(lc.shape, np.float32), np.ones(lc.shape), ps.labels,
                    (np.zeros(0), np.zeros(0), np.zeros(0)), k_per_m=0.001, max_cost=100.0, threshold=0.5,
                    min_area_m2=1e9, res_m=RES)
    ev = Evaluator(lc, grid, legend, g, {"hedgehog": gg}, cat, cp, park_index, 70.0)
    cells = np.unique((np.arange(40, 50)[:, None] * 60 + np.arange(40, 50)[None, :]).ravel())  # inside the parking lot
    cand = Candidate("c", "depaving", "p1", cells, cells.size * 100.0, "m2", 1.0)
    gains = ev.evaluate(cand)
    lc2 = lc.copy()
    lc2.ravel()[cells] = legend.code("grass")
    bio = load_biophysical(LEGEND)
    full_hm = np.nansum(heat_mitigation(lc2, bio, RES, cp) - heat_mitigation(lc, bio, RES, cp)) * 100 / 1e4
    assert gains.d_hm == pytest.approx(full_hm, rel=1e-6, abs=1e-9)
    q = np.nansum(runoff_mm(lc, bio, 70.0, "B", storage=False) - runoff_mm(lc2, bio, 70.0, "B", storage=False)) * 100 / 1000
    assert gains.d_retained_m3 == pytest.approx(q, rel=1e-9)
    assert gains.d_retained_m3 == pytest.approx(cells.size * 100 * (64.1 - 7.0) / 1000, rel=0.01)  # ~57 L/m2 (climate.md)


# --------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------


def _ilp_opt(values, costs, budget, groups):
    import pulp

    n = len(values)
    prob = pulp.LpProblem("knap", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(n)]
    prob += pulp.lpSum(values[i] * x[i] for i in range(n))
    prob += pulp.lpSum(costs[i] * x[i] for i in range(n)) <= budget
    for gk in set(groups):
        if gk is not None:
            prob += pulp.lpSum(x[i] for i in range(n) if groups[i] == gk) <= 1
    prob.solve(pulp.PULP_CBC_CMD(msg=False))
    return pulp.value(prob.objective) or 0.0


def test_greedy_close_to_exact_optimum_additive():
    pytest.importorskip("pulp")
    rng = np.random.default_rng(11)
    ratios = []
    for _ in range(30):
        n = int(rng.integers(8, 25))
        costs = rng.uniform(1, 100, n).round(1)
        values = costs * rng.lognormal(0, 0.5, n)
        budget = float(costs.sum() * rng.uniform(0.2, 0.6))
        groups = [f"g{int(rng.integers(0, n // 2))}" if rng.random() < 0.3 else None for _ in range(n)]
        picks, marg = celf_select(costs, budget, lambda i, v=values: v[i], lambda i: (), groups=groups)
        assert costs[picks].sum() <= budget + 1e-9
        taken = [groups[i] for i in picks if groups[i] is not None]
        assert len(taken) == len(set(taken))
        opt = _ilp_opt(values, costs, budget, groups)
        ratios.append(values[picks].sum() / opt)
    assert min(ratios) >= 0.85 and np.mean(ratios) >= 0.95


def test_greedy_close_to_brute_force_with_interactions():
    """Capped (diminishing) and pairwise super-additive gains, re-evaluated lazily; brute force optimum."""
    rng = np.random.default_rng(5)
    ratios = []
    for _ in range(20):
        n = 10
        costs = rng.uniform(1, 10, n)
        base = rng.uniform(0, 1, n)
        bonus = np.triu(rng.uniform(0, 0.5, (n, n)) * (rng.random((n, n)) < 0.2), 1)
        bonus = bonus + bonus.T
        cap = float(base.sum() * 0.6)
        budget = float(costs.sum() * 0.4)

        def f(sel, base=base, bonus=bonus, cap=cap):
            sel = list(sel)
            v = base[sel].sum() + 0.5 * bonus[np.ix_(sel, sel)].sum()
            return min(v, cap)

        state: list[int] = []

        def gain(i, state=state, f=f):
            return f(state + [i]) - f(state)

        def commit(i, state=state, bonus=bonus):
            state.append(i)
            return set(np.flatnonzero(bonus[i] > 0).tolist())  # interacting items: re-evaluate eagerly

        picks, _ = celf_select(costs, budget, gain, commit, initial=[f([i]) for i in range(n)])
        assert costs[picks].sum() <= budget + 1e-9
        best = max(f(s) for r in range(n + 1) for s in itertools.combinations(range(n), r) if costs[list(s)].sum() <= budget)
        ratios.append(f(picks) / best)
    assert min(ratios) >= 0.8 and np.mean(ratios) >= 0.93


def test_pareto_front():
    x = np.array([1.0, 2.0, 0.0, 2.0, 1.5])
    y = np.array([2.0, 1.0, 0.0, 1.0, 1.5])
    assert pareto_front(x, y).tolist() == [True, True, False, True, True]


def _noise_landscape(seed, H, W, max_cost):
    """Smoothed-noise habitat (threshold 0.5, patches >= 300 m2), resistance 1 in habitat and 2/5/20
    outside, and a maker of its guild graph (links from the baseline raster) for a resistance."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal((H, W)), 2)
    suit = np.clip(noise * 2 + 0.3, 0, 1).astype(np.float32)
    res = np.where(suit > 0.5, 1.0, rng.choice([2.0, 5.0, 20.0], size=(H, W), p=[0.4, 0.4, 0.2]))
    ps = find_patches(suit, res_m=RES, threshold=0.5, min_area_m2=300.0)
    L = build_links(res, ps.labels, res_m=RES, max_cost=max_cost, n_threads=1, with_paths=False)

    def graph(r):
        return GuildGraph("t", suit, r, ps.labels, (L.from_id, L.to_id, L.cost), k_per_m=-math.log(0.001) / max_cost,
                          max_cost=max_cost, threshold=0.5, min_area_m2=300.0, res_m=RES)

    return suit, res, graph


def test_cached_link_searches_are_reused_only_out_of_reach():
    """A what-if's searches are reused after commits beyond their reach and give the fresh result.

    Region 40 x 160 cells with a short dispersal reach (max cost 400 cost-m = 40 cells in habitat):
    commits on the left leave a probe on the right reusable; a commit beside it invalidates it.
    """
    H, W = 40, 160
    suit, res, graph = _noise_landscape(11, H, W, 400.0)
    thr, min_area, max_cost = 0.5, 300.0, 400.0
    k = -math.log(0.001) / max_cost
    g = graph(res)

    def box(r0, c0, h, w):
        return np.unique((r0 + np.arange(h))[:, None] * W + (c0 + np.arange(w))[None, :]).ravel()

    def change(cells):
        return cells, np.full(cells.size, 0.9, np.float32), np.full(cells.size, 1.0)

    probe = change(box(18, 140, 3, 4))
    first = g.evaluate(*probe)
    assert first.cache is not None
    s2, r2 = suit.copy(), res.copy()
    for c0 in (5, 30):  # far from the probe (> 100 cells)
        ch = change(box(10, c0, 3, 8))
        g.evaluate(*ch, commit=True)
        s2.ravel()[ch[0]], r2.ravel()[ch[0]] = ch[1], ch[2]
    assert g._rebase(first.cache) is not None  # still valid: reused
    again = g.evaluate(*probe, cache=first.cache)
    fresh = g.evaluate(*probe)
    assert again.d_eca_ha == pytest.approx(fresh.d_eca_ha, rel=1e-12, abs=1e-12)
    # and the result is the full recomputation's
    s3, r3 = s2.copy(), r2.copy()
    s3.ravel()[probe[0]], r3.ravel()[probe[0]] = probe[1], probe[2]
    e_before, _ = _full_eca(s2, r2, thr, min_area, k, max_cost)
    e_after, _ = _full_eca(s3, r3, thr, min_area, k, max_cost)
    assert again.d_eca_ha == pytest.approx(e_after - e_before, rel=1e-8, abs=1e-8)
    # a commit right beside the probe invalidates its cache
    g.evaluate(*change(box(18, 136, 3, 3)), commit=True)
    assert g._rebase(again.cache) is None


@pytest.mark.parametrize("guild_threads", [1, 2])
def test_committed_cool_spots_equal_a_full_refresh(tmp_path, legend, guilds, guild_threads):
    """Depaving and meadows committed one by one: cool spots and served workplaces, updated locally,
    equal a recomputation over the whole raster (two 0.6 ha lawns joined into a 1.5 ha cool spot, a
    wood enlarged). With guild threads the heat part runs on a thread of its own beside the guild
    graphs: each what-if's heat and water gains are those of the one-thread evaluation."""
    h = w = 90
    c = legend.code
    lc = np.full((h, w), c("parking"), np.uint8)
    lc[10:40, 10:40] = c("woodland")   # 9 ha: a cool spot
    lc[50:60, 10:16] = c("grass")      # 0.6 ha
    lc[50:60, 19:25] = c("grass")      # 0.6 ha, 3 paved cells away
    lc[15:30, 60:85] = c("building")   # workplaces beyond 150 m of the wood
    lc[60:75, 35:50] = c("building")   # workplaces within 150 m of the lawns
    grid = _grid(h, w)
    cat = load_catalogue(CATALOGUE, legend, guilds)
    cp = ClimateParams.from_section({"cooling_distance_m": 30.0, "cool_spot_distance_m": 150.0, "cool_spot_hm": 0.15})
    park_index = np.ones(lc.shape, np.int32)
    ps = find_patches(np.zeros(lc.shape, np.float32), res_m=RES, threshold=0.5, min_area_m2=1e9)
    gg = GuildGraph("hedgehog", np.zeros(lc.shape, np.float32), np.ones(lc.shape), ps.labels,
                    (np.zeros(0), np.zeros(0), np.zeros(0)), k_per_m=0.001, max_cost=100.0, threshold=0.5,
                    min_area_m2=1e9, res_m=RES)
    ev = Evaluator(lc, grid, legend, {"hedgehog": guilds["hedgehog"]}, {"hedgehog": gg}, cat, cp, park_index, 70.0)

    def rect(r0, r1, c0, c1):
        return np.unique((np.arange(r0, r1)[:, None] * w + np.arange(c0, c1)[None, :]).ravel())

    steps = [("depaving", rect(50, 60, 16, 19)), ("flower_meadow", rect(50, 60, 10, 16)),
             ("depaving", rect(20, 30, 40, 50)), ("depaving", rect(80, 85, 60, 70))]
    cool0, served0 = int(ev.cool.sum()), int(ev.served.sum())
    ev.use_guild_threads(guild_threads)
    for k, (typ, cells) in enumerate(steps):
        cand = Candidate(f"c{k}", typ, "p1", cells, cells.size * 100.0, "m2", 1.0)
        ev.use_guild_threads(1)
        one = ev.evaluate(cand)
        ev.use_guild_threads(guild_threads)
        what_if = ev.evaluate(cand)
        assert (what_if.d_hm, what_if.d_cool_access_m2, what_if.d_retained_m3, what_if.window, what_if.cs_window) == (
            one.d_hm, one.d_cool_access_m2, one.d_retained_m3, one.window, one.cs_window)
        assert what_if.d_hm > 0  # every step changes cooling inputs: the heat part did run
        ev.evaluate(cand, commit=True)
        ref = Evaluator.__new__(Evaluator)
        ref.__dict__.update({a: getattr(ev, a) for a in ("p", "hm", "workplace", "cell_m2", "res_m", "H", "W")})
        ref._refresh_cool(ev.green.copy())
        np.testing.assert_array_equal(ev.cs_mask, ref.cs_mask)
        np.testing.assert_array_equal(ev.cool, ref.cool)
        np.testing.assert_array_equal(ev.served, ref.served)
        # labels may be numbered differently, but they describe the same components
        for lab in np.unique(ev.cs_lab[ev.cs_lab > 0]):
            assert np.unique(ref.cs_lab[ev.cs_lab == lab]).size == 1
    assert int(ev.cool.sum()) > cool0 + 150 and int(ev.served.sum()) > served0


def test_epsilon_lazy_greedy_saves_evaluations_and_stays_near_exact():
    """Near-equal substitutes (each pick lowers the others' gain by 1 %): the exact lazy greedy
    re-evaluates much of the queue at every pick; with epsilon = 0.02 an item within 2 % of the best
    bound is accepted at once (fewer than half the gain calls). Both stay within budget and the
    portfolio value is the same within 2 %."""
    rng = np.random.default_rng(5)
    n = 60
    base = 1.0 + rng.uniform(0, 0.005, n)
    costs = np.ones(n)
    budget = 20.0

    def run(eps):
        state = {"k": 0, "calls": 0}

        def gain(i):
            state["calls"] += 1
            return base[i] * 0.99 ** state["k"]

        def commit(i):
            state["k"] += 1
            return ()

        picks, marg = celf_select(costs, budget, gain, commit, initial=list(base), epsilon=eps)
        return picks, sum(marg), state["calls"]

    p0, v0, calls0 = run(0.0)
    p1, v1, calls1 = run(0.02)
    assert len(p0) == len(p1) == 20 and costs[p1].sum() <= budget
    assert v1 >= 0.98 * v0
    assert calls1 < calls0 / 2
    with pytest.raises(ValueError, match="epsilon"):
        celf_select(costs, budget, lambda i: 1.0, lambda i: (), epsilon=1.5)


def test_cap_candidates_keeps_largest_of_every_type_and_park_first():
    from werkland.interventions import cap_candidates

    cells = np.array([1], np.int64)
    cands = []
    # 2 types x 3 parks; park p1 has 10 candidates of each type, p2 and p3 two each
    for typ in ("depaving", "tree"):
        for park, n in (("p1", 10), ("p2", 2), ("p3", 2)):
            for k in range(n):
                cands.append(Candidate(f"{typ}-{park}-{k}", typ, park, cells, float(k + 1), "m2", 1.0))
    kept = cap_candidates(cands, 7)
    assert len(kept) == 7
    # the largest candidate of every (type, park) is kept before any second one
    firsts = {(c.type, c.park_id) for c in kept if c.size == max(x.size for x in cands if (x.type, x.park_id) == (c.type, c.park_id))}
    assert firsts == {(t, p) for t in ("depaving", "tree") for p in ("p1", "p2", "p3")}
    # the seventh is a second-largest one, from the first type and park in order
    assert [c.candidate_id for c in kept if c.candidate_id not in {"depaving-p1-9", "tree-p1-9"} and c.size == 9.0] == ["depaving-p1-8"]
    # original order kept; no cap when the list is short enough; the cap is checked
    assert [cands.index(c) for c in kept] == sorted(cands.index(c) for c in kept)
    assert cap_candidates(cands, 100) == cands
    with pytest.raises(ValueError):
        cap_candidates(cands, 0)


# --------------------------------------------------------------------------------------------
# parameters, catalogue keys and inputs
# --------------------------------------------------------------------------------------------


def test_params_from_config_use_schema_defaults_and_round_trip():
    """Defaults come from the schema, weights are renormalised, the worker count is capped by the
    job's threads, the design storm defaults to the first climate storm; as_dict/from_dict round trip."""
    cfg = _config(weights={"biodiversity": 3.0}, n_workers=4)
    table = load_guilds(GUILDS, load_legend(LEGEND))
    p = InterventionParams.from_config(cfg, guilds=table, n_workers=2)
    assert p.weights == {"biodiversity": 3.0 / 3.5, "climate": 0.5 / 3.5}
    assert p.n_workers == 2 and p.budget_eur == 1e6 and p.max_candidates == 1000 and p.eca_target_pct == 10.0
    assert p.design_storm == "70mm" and p.guild_weights == {"hedgehog": 1.0, "woodland_birds": 1.0}
    assert p.guilds == tuple(ANALYSED)
    kern = p.guild_connectivity("hedgehog").kernel
    assert kern == table["hedgehog"].kernel(cfg["connectivity"]["convention"])
    assert InterventionParams.from_dict(p.as_dict()) == p
    with pytest.raises(KeyError):
        p.guild_connectivity("pollinators")


@pytest.mark.parametrize(
    "interventions, msg",
    [
        ({"weights": {"biodiversity": 0, "climate": 0}}, "weights sum to 0"),
        ({"design_storm": "monsoon"}, "design storm 'monsoon' is not a climate storm"),
        ({"guild_weights": {"hedgehog": 0, "woodland_birds": 0}}, "guild weights .* positive sum"),
    ],
)
def test_params_values_the_schema_cannot_check_are_clear_errors(interventions, msg):
    with pytest.raises(WerklandInputError, match=msg):
        _params(**interventions)


def test_kernel_of_the_params_is_the_one_the_connectivity_stage_used(region):
    """The stage no longer reads graph/*_summary.json: the kernel and link reach from the params
    equal what the connectivity stage wrote there."""
    paths, _, _ = region
    p = _params()
    for g in ANALYSED:
        with open(paths.summary(g), encoding="utf-8") as fh:
            summary = json.load(fh)
        conn = p.guild_connectivity(g)
        assert conn.kernel.k_per_m == summary["k_per_m"]
        assert conn.kernel.max_cost(conn.p_floor) == summary["max_cost_distance"]


@pytest.mark.parametrize(
    "body, msg",
    [
        ("  x: {generator: polygons, applies_to: [building], effect: {class: grass}, size_unit: m2, unit_cost: 1, lable: X}\n",
         "types.x: unknown key 'lable' .did you mean 'label'"),
        ("  x: {generator: polygons, applies_to: [building], effect: {clas: grass}, size_unit: m2, unit_cost: 1}\n",
         "types.x.effect: unknown key 'clas' .did you mean 'class'"),
        ("  x: {generator: link, applies_to: [grass], params: {max_lenght_m: 5}, effect: {class: grass}, size_unit: m, unit_cost: 1}\n",
         "types.x.params .link generator.: unknown key 'max_lenght_m' .did you mean 'max_length_m'"),
    ],
)
def test_catalogue_unknown_keys_name_the_closest_valid_one(tmp_path, legend, guilds, body, msg):
    with pytest.raises(WerklandInputError, match=msg):
        load_catalogue(_write_cat(tmp_path, body), legend, guilds)


def test_every_generator_type_has_a_generator(legend, guilds):
    assert tuple(GENERATORS) == GENERATOR_TYPES
    for t in load_catalogue(CATALOGUE, legend, guilds).types.values():
        assert callable(GENERATORS[t.generator])


@pytest.mark.parametrize("what, stage", [("links", "connectivity"), ("habitat", "habitat"), ("climate", "climate")])
def test_missing_input_is_a_clear_error_naming_the_stage(tmp_path, region, what, stage):
    """No fallback computes a missing input: the error names the file and the stage that writes it."""
    paths, _, _ = region
    inputs = _inputs(paths, tmp_path / "out")
    gone = tmp_path / "absent.file"
    if what == "climate":
        inputs = replace(inputs, climate_summary=gone)
    else:
        inputs = replace(inputs, **{what: {**getattr(inputs, what), "woodland_birds": gone}})
    with pytest.raises(WerklandInputError, match=f"absent.file: input file missing -- fix: run the {stage} stage first"):
        run_interventions(inputs, _params())
    assert not (tmp_path / "out").exists()


def test_inputs_for_other_guilds_are_an_error(tmp_path, region):
    paths, _, _ = region
    inputs = InterventionInputs.from_layout(paths, ["hedgehog"], legend_yaml=LEGEND, guilds_yaml=GUILDS,
                                            catalogue_yaml=CATALOGUE)
    with pytest.raises(WerklandInputError, match="habitat files are given for guilds"):
        run_interventions(inputs, _params())


def test_float32_resistance_widens_before_a_value_it_cannot_hold():
    """The graph keeps its resistance as float32 (the raster's values), which gives the float64
    costs; a change to a value float32 would round (0.3) widens it to float64 first, so the gain is
    that of the float64 graph bit for bit."""
    H, W = 36, 44
    suit, res, graph = _noise_landscape(5, H, W, 600.0)
    g = graph(res)
    assert g.res.dtype == np.float32
    cells = np.unique((10 + np.arange(3))[:, None] * W + (12 + np.arange(20))[None, :]).ravel()
    exact = g.evaluate(cells, suit.ravel()[cells].copy(), np.full(cells.size, 1.0), commit=True)
    assert g.res.dtype == np.float32  # 1.0 is a float32: still float32
    d = g.evaluate(cells, suit.ravel()[cells].copy(), np.full(cells.size, 0.3), commit=True)
    assert g.res.dtype == np.float64 and g.res.ravel()[cells[0]] == 0.3  # not float32(0.3)
    # the same two commits on a graph that never stored float32 (1 + 1e-12 somewhere forces float64)
    r64 = res.copy()
    r64[0, 0] = 1.0 + 1e-12
    g64 = graph(r64)
    assert g64.res.dtype == np.float64
    e1 = g64.evaluate(cells, suit.ravel()[cells].copy(), np.full(cells.size, 1.0), commit=True)
    d64 = g64.evaluate(cells, suit.ravel()[cells].copy(), np.full(cells.size, 0.3), commit=True)
    assert d.d_eca_ha == d64.d_eca_ha and exact.d_eca_ha == e1.d_eca_ha
    assert d.d_eca_ha > 0


def test_link_parks_are_the_parks_each_path_crosses(legend, monkeypatch):
    """The links' park ids taken for all paths at once: those np.unique gives path by path."""
    from werkland.interventions.candidates import CandidateContext
    from werkland.raster import values_per_path

    rng = np.random.default_rng(3)
    h = w = 40
    park_index = np.zeros((h, w), np.int32)
    park_index[2:12, 3:20] = 1
    park_index[20:35, 10:30] = 2
    park_index[15:18, :] = 3
    paths = [rng.integers(0, h * w, rng.integers(0, 60)).astype(np.int64) for _ in range(300)] + [np.zeros(0, np.int64)]
    paths.append(np.flatnonzero(park_index.ravel() == 0)[:5])  # the last path crosses no park
    ctx = CandidateContext(np.ones((h, w), np.uint8), _grid(h, w), legend, {}, None, park_index, landcover=None,
                           lines=None, link_paths={"g": paths}, barriers=None, edge_codes=np.zeros(256, bool),
                           dist_green=np.zeros((h, w)))
    expect = []
    for li, path in enumerate(paths):
        pks = np.unique(park_index.ravel()[path])
        if (pks > 0).any():
            expect.append((li, pks[pks > 0].tolist()))
    got = [(li, pks.tolist()) for li, pks in ctx.link_parks("g")]
    assert got == expect and len(expect) > 100
    assert ctx.link_parks("g") is ctx.link_parks("g")  # computed once per guild
    # no path, or no path crossing a park
    assert values_per_path(park_index.ravel(), []) == []
    assert values_per_path(park_index.ravel(), [np.zeros(0, np.int64), paths[-1]]) == []
    assert values_per_path(np.zeros(h * w, np.int32), paths) == []
    import werkland.raster.io as rio_mod

    for chunk in (1, 7, 64):  # paths in chunks: the same list
        monkeypatch.setattr(rio_mod, "LINE_CELLS_CHUNK", chunk)
        assert [(li, pks.tolist()) for li, pks in values_per_path(park_index.ravel(), paths)] == expect


def test_path_runs_masks_and_park_ids_of_the_candidate_context(legend):
    """A path's stretches inside a park equal a cell-by-cell walk; the class masks and park ids are
    made once and equal a fresh computation; hydrology answers are computed once."""
    from werkland.interventions.candidates import CandidateContext, _path_runs
    from werkland.interventions.siting import Hydrology

    rng = np.random.default_rng(11)
    h = w = 30
    park_index = rng.integers(0, 3, (h, w)).astype(np.int32)
    parks = pd.DataFrame({"park_id": ["north", "south"]})
    ctx = CandidateContext(np.ones((h, w), np.uint8), _grid(h, w), legend, {}, parks, park_index, landcover=None,
                           lines=None, link_paths={}, barriers=None, edge_codes=np.zeros(256, bool),
                           dist_green=np.zeros((h, w)))

    def walk(path: np.ndarray, pidx: int) -> list[list[int]]:
        runs, cur = [], []
        for c in path.tolist():
            if park_index.ravel()[c] == pidx + 1:
                cur.append(c)
            elif cur:
                runs, cur = [*runs, cur], []
        return runs + ([cur] if cur else [])

    n_runs = 0
    for _ in range(200):
        path = rng.integers(0, h * w, rng.integers(0, 40)).astype(np.int64)
        for pidx in (0, 1):
            got = _path_runs(ctx, path, pidx)
            assert [r.tolist() for r in got] == walk(path, pidx)
            assert all(r.dtype == np.int64 and not np.shares_memory(r, path) for r in got)
            n_runs += len(got)
    assert n_runs > 500
    names = [c.name for c in legend.classes][:3]
    m = ctx.code_mask(names)
    assert m is ctx.code_mask(list(names)) and not m.flags.writeable
    assert np.flatnonzero(m).tolist() == sorted(legend.code(c) for c in names)
    assert [ctx.park_id(0), ctx.park_id(1)] == ["north", "south"]
    flow = np.full((h, w), np.nan, np.float32)
    hy = Hydrology(flow_acc_m2=flow)
    assert not hy.has_elevation and not hy.checks_infiltration
    flow[0, 0] = 1.0  # the answer was computed at the first question and is kept
    assert not hy.has_elevation
    assert Hydrology(flow_acc_m2=flow).has_elevation


def test_kept_cost_surfaces_change_no_output(tmp_path, region, monkeypatch):
    """The stage with and without kept surfaces (a 0-byte budget: every re-search a full search):
    the same candidates in every column, the same portfolio and park totals."""
    import werkland.interventions.engine as engine_mod

    region, _, _ = region
    kept = _run(tmp_path / "kept", region, None, budget_eur=300_000)
    monkeypatch.setattr(engine_mod, "SURFACE_CACHE_MB", 0.0)
    full = _run(tmp_path / "full", region, None, budget_eur=300_000)
    pd.testing.assert_frame_equal(kept[1], full[1], check_exact=True)
    pd.testing.assert_frame_equal(kept[2], full[2], check_exact=True)
    pd.testing.assert_frame_equal(kept[3], full[3], check_exact=True)
    assert len(kept[2]) > 0


def test_guilds_on_threads_start_longest_first_and_return_in_guild_order():
    """map_guilds on 2 threads: results in guild order; after a first round, the guild that has
    taken longest starts first (with the next), not last."""
    import threading
    import time
    from types import SimpleNamespace

    names = ["hedgehog", "pollinators", "amphibians", "woodland_birds"]
    took = {"hedgehog": 0.01, "pollinators": 0.01, "amphibians": 0.01, "woodland_birds": 0.08}
    started: list[str] = []
    lock = threading.Lock()

    def fn(g):
        with lock:
            started.append(g)
        time.sleep(took[g])
        return g.upper()

    ev = SimpleNamespace(graphs=dict.fromkeys(names), guild_threads=2, _guild_seconds={})
    ev._longest_first = lambda: Evaluator._longest_first(ev)  # the evaluator's own ordering and timing
    ev._timed = lambda f, g: Evaluator._timed(ev, f, g)
    assert Evaluator.map_guilds(ev, fn) == [g.upper() for g in names]
    assert set(started[:2]) == set(names[:2])  # nothing measured yet: guild order
    assert max(ev._guild_seconds, key=ev._guild_seconds.get) == "woodland_birds"
    started.clear()
    assert Evaluator.map_guilds(ev, fn) == [g.upper() for g in names]
    assert "woodland_birds" in started[:2]  # before: started last
    ev.guild_threads = 1  # one thread: in guild order
    started.clear()
    assert Evaluator.map_guilds(ev, fn) == [g.upper() for g in names] and started == names
