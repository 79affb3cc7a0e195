"""Tests of werkland.barriers: segments, Barrier Mapper score (V8), network gain, outputs."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from werkland import barriers as br
from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland.raster.io import Grid, write_gpkg, write_raster

# --------------------------------------------------------------------------------------------
# V8: one-pixel corridor [A] r=1 | r=10 | r=1 [B], cell 1 m
# --------------------------------------------------------------------------------------------


def _v8_surfaces():
    r = np.array([[1.0, 1.0, 10.0, 1.0, 1.0]])
    cwd_a = cn.cost_distance_bounded(r, np.array([[0, 0]]), res_m=1.0)
    cwd_b = cn.cost_distance_bounded(r, np.array([[0, 4]]), res_m=1.0)
    return cwd_a, cwd_b


def test_v8_cost_surfaces():
    cwd_a, cwd_b = _v8_surfaces()
    assert cwd_a[0].tolist() == [0.0, 1.0, 6.5, 12.0, 13.0]
    assert cwd_b[0].tolist() == [13.0, 12.0, 6.5, 1.0, 0.0]


def test_v8_score_on_the_barrier_cell():
    cwd_a, cwd_b = _v8_surfaces()
    per_m, pct = br.improvement_score(cwd_a, cwd_b, 13.0, (0, 2), radius_m=1.0, res_m=1.0)
    assert per_m == pytest.approx(4.5)  # LCD' = 1 + 1 + 2 = 4, (13 - 4) / 2
    assert pct == pytest.approx(34.6, abs=0.05)


def test_v8_score_on_a_low_resistance_cell():
    cwd_a, cwd_b = _v8_surfaces()
    per_m, _ = br.improvement_score(cwd_a, cwd_b, 13.0, (0, 1), radius_m=1.0, res_m=1.0)
    assert per_m == pytest.approx(2.25)  # LCD' = 0 + 6.5 + 2
    per_m, _ = br.improvement_score(cwd_a, cwd_b, 13.0, (0, 3), radius_m=1.0, res_m=1.0)
    assert per_m == pytest.approx(2.25)
    # a window on the patch itself with a restoration cost above the saving scores 0
    per_m, pct = br.improvement_score(cwd_a, cwd_b, 13.0, (0, 0), radius_m=1.0, res_m=1.0, base_resistance=10)
    assert per_m == 0.0 and pct == 0.0


def test_disk_offsets():
    assert len(br.disk_offsets(1.0, 1.0)) == 5
    assert len(br.disk_offsets(20.0, 10.0)) == 13
    assert len(br.disk_offsets(5.0, 10.0)) == 1


# --------------------------------------------------------------------------------------------
# helpers: write a landscape, run connectivity, then barriers
# --------------------------------------------------------------------------------------------


def _grid(h, w, res):
    return Grid.from_bounds((0.0, 0.0, w * res, h * res), res, CRS.from_epsg(28992))


def _write(tmp_path, suit, resist, landcover, res, conn_params):
    h, w = suit.shape
    grid = _grid(h, w, res)
    write_raster(tmp_path / "habitat.tif", suit.astype(np.float32), grid, nodata=-1.0)
    write_raster(tmp_path / "resistance.tif", resist.astype(np.float32), grid, nodata=-1.0)
    region = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(*grid.bounds)], crs="EPSG:28992")
    write_gpkg(region, tmp_path / "region.gpkg", "region")
    write_gpkg(landcover, tmp_path / "landcover.gpkg", "landcover")
    p = tmp_path
    summary = cn.run_connectivity(
        p / "habitat.tif", p / "resistance.tif", p / "region.gpkg", p / "patches/g.gpkg", p / "patches/g.tif",
        p / "graph/g_links.gpkg", p / "graph/g.graphml", p / "graph/g_metrics.csv", p / "graph/g_summary.json",
        p / "corridors/g.tif", guild="g", params=conn_params,
    )
    return grid, summary


def _run_barriers(tmp_path, params, name="g"):
    p = tmp_path
    info = br.run_barriers(
        p / "landcover.gpkg", p / "resistance.tif", p / "patches/g.tif", p / "graph/g_links.gpkg",
        p / "graph/g_summary.json", p / f"barriers/{name}.gpkg", guild="g", params=params,
    )
    return info, gpd.read_file(p / f"barriers/{name}.gpkg", layer="barriers")


def test_v8_through_the_pipeline(tmp_path):
    suit = np.full((3, 5), -1.0)
    suit[1] = [1.0, 0.0, 0.0, 0.0, 1.0]
    resist = np.full((3, 5), -1.0)
    resist[1] = [1.0, 1.0, 10.0, 1.0, 1.0]
    lc = gpd.GeoDataFrame({"class": ["road_main"]}, geometry=[shapely.box(2.1, 1.1, 2.9, 1.9)], crs="EPSG:28992")
    _, s = _write(tmp_path, suit, resist, lc, 1.0, {"suitability_threshold": 0.5, "min_patch_area_m2": 1, "d0_m": 10})
    assert s["n_links"] == 1
    info, out = _run_barriers(tmp_path, {"radii_m": [1.0], "base_resistance": 1.0})
    assert len(out) == 1
    row = out.iloc[0]
    assert row["score_per_m_1"] == pytest.approx(4.5)
    assert row["score_pct_1"] == pytest.approx(100 * 4.5 / 13)
    assert row["links_cut"] == "1" and row["n_links_cut"] == 1 and bool(row["matters"])
    # mitigating the r=10 cell to r=1: LCD 13 -> 4, p rises
    k = s["k_per_m"]
    a = s["total_quality_ha"] / 2
    pc0 = 2 * a * a + 2 * a * a * math.exp(-k * 13)
    pc1 = 2 * a * a + 2 * a * a * math.exp(-k * 4)
    assert row["dECA_ha"] == pytest.approx(math.sqrt(pc1) - math.sqrt(pc0), rel=1e-9)


# --------------------------------------------------------------------------------------------
# two patches split by a road
# --------------------------------------------------------------------------------------------


def _two_patch_landscape():
    h, w, res = 100, 60, 10.0
    suit = np.zeros((h, w))
    suit[13:18, 2:9] = 1.0  # patch A (rows 13-17: inside one 100 m piece of the road)
    suit[13:18, 50:57] = 1.0  # patch B
    resist = np.full((h, w), 5.0)
    resist[suit > 0] = 1.0
    resist[:, 29:31] = 80.0  # road cells (two columns, x 290..310 m)
    resist[89:91, 20:41] = 40.0  # a minor road far from any corridor
    ytop = h * res
    lc = gpd.GeoDataFrame(
        {"class": ["road_main", "road_minor"]},
        geometry=[shapely.box(291.0, 0.0, 309.0, ytop), shapely.box(201.0, ytop - 909.0, 409.0, ytop - 891.0)],
        crs="EPSG:28992",
    )
    return suit, resist, lc, res


CONN = {"suitability_threshold": 0.5, "min_patch_area_m2": 100.0, "d0_m": 1000.0, "corridor_width": 500.0}


def test_two_patches_split_by_a_road(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    _, s = _write(tmp_path, suit, resist, lc, res, CONN)
    assert s["n_patches"] == 2 and s["n_links"] == 1
    info, out = _run_barriers(tmp_path, {"radii_m": [20.0, 50.0], "top_n": 50, "passage_resistance": 1.0})
    assert info["warnings"] == []
    main = out[out["class"] == "road_main"]
    minor = out[out["class"] == "road_minor"]
    assert len(main) == 10  # the road is 1000 m long -> 10 pieces of <= 100 m
    assert main["length_m"].max() <= 100.0 + 1e-9
    # the segment crossed by the least-cost path has the largest network gain
    cut = out[out["n_links_cut"] > 0]
    assert len(cut) == 1
    ranked = out.sort_values("dECA_ha", ascending=False)
    best = ranked.iloc[0]
    assert best["segment_id"] == cut.iloc[0]["segment_id"] and best["dECA_ha"] > ranked.iloc[1]["dECA_ha"] > 0
    assert best["rank"] == 1
    assert best["score_per_m_20"] > 0 and best["score_per_m_50"] > 0
    # the far segment scores zero and does not matter
    assert len(minor) >= 1
    assert (minor["score_per_m_20"] == 0).all() and (minor["score_per_m_50"] == 0).all()
    assert (minor["dECA_ha"] == 0).all() and not minor["matters"].any()
    assert {"segment_id", "kind", "road_class", "length_m", "links_cut", "score_per_m_20", "score_pct_20",
            "dECA_ha", "dPC", "rank"} <= set(out.columns)
    assert out["segment_id"].is_unique
    assert set(out.loc[out["class"] == "road_main", "road_class"]) == {"main"}


def test_segment_ids_are_deterministic(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    grid = _grid(*suit.shape, res)
    a = br.segment_barriers(lc, grid, br.barrier_classes(), max_length_m=100.0)
    b = br.segment_barriers(lc.iloc[::-1], grid, br.barrier_classes(), max_length_m=100.0)
    assert a.table["segment_id"].tolist() == b.table["segment_id"].tolist()
    assert np.array_equal(a.raster, b.raster)
    # every barrier cell belongs to exactly one segment; lengths add up to the road length
    main = a.table[a.table["class"] == "road_main"]
    # lengths are measured along the skeleton, which stops about one cell short of each end
    assert main["length_m"].sum() == pytest.approx(1000.0, abs=30.0)
    assert (main["length_m"] <= 100.0 + 1e-9).all()


def test_segments_split_at_junctions():
    res = 10.0
    grid = _grid(50, 50, res)
    # a T: horizontal road across, vertical road from its middle downward (same class)
    lc = gpd.GeoDataFrame(
        {"class": ["road_minor", "road_minor"]},
        geometry=[shapely.box(0, 395, 500, 405), shapely.box(245, 0, 255, 400)],
        crs="EPSG:28992",
    )
    segs = br.segment_barriers(lc, grid, {"road_minor": ("road", "minor")}, max_length_m=1000.0)
    # three arms of the T (no arm needs a length split)
    assert segs.n == 3
    lengths = sorted(segs.table["length_m"])
    assert lengths[0] == pytest.approx(240, abs=40) and lengths[2] <= 400
    assert (segs.raster > 0).sum() == ((segs.raster > 0) | (segs.raster == 0) & False).sum()
    assert set(np.unique(segs.raster)) == {0, 1, 2, 3}


# --------------------------------------------------------------------------------------------
# incremental network gain equals full recomputation
# --------------------------------------------------------------------------------------------


def _full_eca(res, labels, footprint, passage, res_m, max_cost, areas, k, A_L):
    mod = res.copy().ravel()
    mod[footprint] = passage
    links = cn.build_links(mod.reshape(res.shape), labels, res_m=res_m, max_cost=max_cost, n_threads=1, with_paths=False)
    return cn.probability_metrics(areas, (links.from_id - 1, links.to_id - 1, links.cost), k, A_L, node_metrics=False)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mitigation_gain_equals_full_recompute(seed):
    rng = np.random.default_rng(seed)
    h, w, res_m = 40, 50, 5.0
    r = rng.choice([1.0, 3.0, 10.0], size=(h, w))
    r[:, 24:26] = 500.0  # road
    r[rng.random((h, w)) < 0.03] = np.inf
    labels = np.zeros((h, w), np.int32)
    pid = 0
    for _ in range(8):
        y, x = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        if np.any(labels[max(0, y - 1) : y + 4, max(0, x - 1) : x + 4]) or 22 <= x <= 26:
            continue
        pid += 1
        labels[y : y + 3, x : x + 3] = pid
        r[y : y + 3, x : x + 3] = 1.0
    res = cn.prepare_resistance(r)
    areas = rng.uniform(0.1, 2.0, pid)
    k = math.log(2) / 300.0
    max_cost = cn.dispersal_kernel(300.0).max_cost()
    links = cn.build_links(res, labels, res_m=res_m, max_cost=max_cost, n_threads=1, with_paths=False)
    state = cn.GraphState.build(areas, (links.from_id - 1, links.to_id - 1, links.cost), k, 50.0)
    y0 = int(rng.integers(0, h - 6))
    footprint = np.array([(yy * w + xx) for yy in range(y0, y0 + 6) for xx in (24, 25)], np.int64)
    ref = _full_eca(res, labels, footprint, 1.0, res_m, max_cost, areas, k, 50.0)
    before = res.copy()
    for method in ("patches", "footprint"):
        got = br.mitigation_gain(
            res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m, max_cost=max_cost,
            passage_resistance=1.0, n_threads=2, method=method,
        )
        assert got.ECA_after_ha == pytest.approx(ref.ECA_ha, rel=1e-10)
        assert got.dECA_ha >= -1e-12
        assert np.array_equal(res, before)  # raster restored


def test_run_barriers_gain_equals_full_recompute(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    suit[60:70, 20:26] = 1.0  # a third patch left of the road
    suit[40:46, 35:45] = 1.0  # and a fourth one right of it
    resist[suit > 0] = 1.0
    _, s = _write(tmp_path, suit, resist, lc, res, CONN)
    info, out = _run_barriers(tmp_path, {"radii_m": [20.0], "top_n": 5, "passage_resistance": 1.0})
    ev = out[out["gain_evaluated"]]
    assert 1 <= len(ev) <= 5
    from werkland.raster.io import read_raster

    labels, grid, _ = read_raster(tmp_path / "patches/g.tif")
    pt = gpd.read_file(tmp_path / "patches/g.gpkg")
    r = cn.prepare_resistance(resist, -1.0)
    segs = br.segment_barriers(lc, grid, br.barrier_classes(), max_length_m=100.0)
    ids = segs.table["segment_id"].tolist()
    for _, row in ev.iterrows():
        fp = np.flatnonzero(segs.raster.ravel() == ids.index(row["segment_id"]) + 1)
        full = _full_eca(r, labels, fp, 1.0, res, s["max_cost_distance"], pt["quality_ha"].to_numpy(),
                         s["k_per_m"], s["landscape_area_ha"])
        assert row["dECA_ha"] == pytest.approx(full.ECA_ha - s["ECA_ha"], rel=1e-8, abs=1e-10)
        assert row["dECA_ha"] >= 0


# --------------------------------------------------------------------------------------------
# bad input and combination
# --------------------------------------------------------------------------------------------


def test_no_roads_and_no_links_give_explained_empty_results(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    lc_none = gpd.GeoDataFrame({"class": ["meadow"]}, geometry=[shapely.box(0, 0, 50, 50)], crs="EPSG:28992")
    _write(tmp_path, suit, resist, lc_none, res, CONN)
    info, out = _run_barriers(tmp_path, {})
    assert len(out) == 0 and any("no barrier segments" in w for w in info["warnings"])
    # no links: impassable road
    resist2 = resist.copy()
    resist2[:, 29:31] = -1.0
    _write(tmp_path, suit, resist2, lc, res, CONN)
    info, out = _run_barriers(tmp_path, {"radii_m": [20.0]})
    assert len(out) > 0 and any("no links" in w for w in info["warnings"])
    assert (out["score_per_m_20"] == 0).all() and out.drop(columns="geometry").notna().all().all()


def test_barrier_classes_threshold():
    cls = br.barrier_classes(
        {"barrier_resistance_threshold": 200, "resistance": {"railway": 200, "building": "impassable", "hedge": 300,
                                                             "grass": 1}}
    )
    assert "hedge" in cls and "building" not in cls and "grass" not in cls and "road_main" in cls
    with pytest.raises(WerklandInputError):
        br.segment_barriers(gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.box(0, 0, 1, 1)]), _grid(5, 5, 1.0),
                            {"road_main": ("road", "main")}, max_length_m=0)


def test_combine_barriers(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    _write(tmp_path, suit, resist, lc, res, CONN)
    _run_barriers(tmp_path, {"radii_m": [20.0], "top_n": 3, "passage_resistance": 1.0}, name="a")
    _run_barriers(tmp_path, {"radii_m": [20.0], "top_n": 0}, name="b")
    out = br.combine_barriers(
        {"a": tmp_path / "barriers/a.gpkg", "b": tmp_path / "barriers/b.gpkg"}, {"a": 2.0, "b": 1.0},
        tmp_path / "barriers/all_guilds.gpkg",
    )
    back = gpd.read_file(tmp_path / "barriers/all_guilds.gpkg", layer="barriers")
    assert len(back) == len(out) and back["segment_id"].is_unique
    assert back["multi_rank"].tolist() == list(range(1, len(back) + 1))
    top = back.iloc[0]
    assert top["n_links_cut"] if "n_links_cut" in back.columns else True
    # guild a ranks by dECA (value 1 for its best), guild b by score (value 1 for its best)
    assert top["multi_score"] == pytest.approx((2.0 * top["value_a"] + top["value_b"]) / 3.0)
    assert top["multi_score"] == pytest.approx(back["multi_score"].max())
    assert json.dumps(float(top["multi_score"]))


def test_pair_scores_over_link_chunks_equal_one_pass():
    """Threaded link chunks give the single pass's maxima exactly, its sums to round-off, the same
    corridor memberships in link order, whatever the thread count."""
    from werkland._kernels.barrier_scores import pair_scores as _pair_scores
    from werkland.barriers import _pair_scores_chunked, _Probes

    rng = np.random.default_rng(3)
    n_patch, n_groups, n_seg, radii = 30, 400, 60, np.array([20.0, 50.0, 100.0])
    g_seg = rng.integers(0, n_seg, n_groups)
    g_type = rng.integers(0, 3, n_groups).astype(np.int8)
    g_ri = rng.integers(0, radii.size, n_groups)
    groups, vals, ptr = [np.empty(0, np.int64)], [np.empty(0)], [0, 0]
    for _ in range(n_patch):
        g = np.sort(rng.choice(n_groups, rng.integers(5, 80), replace=False))
        groups.append(g)
        vals.append(rng.uniform(0, 500, g.size))
        ptr.append(ptr[-1] + g.size)
    pptr, pgroups, pvals = np.array(ptr, np.int64), np.concatenate(groups), np.concatenate(vals)
    lp = rng.integers(1, n_patch + 1, 500)
    lq = rng.integers(1, n_patch + 1, 500)
    lcd = rng.uniform(100, 3000, 500)
    probes = _Probes(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), g_seg, g_type, g_ri, n_groups)
    one = _pair_scores(lp, lq, lcd, pptr, pgroups, pvals, g_seg, g_type, g_ri, radii, 1.0, 300.0, n_seg)
    for threads in (1, 2):
        many = _pair_scores_chunked(lp, lq, lcd, pptr, pgroups, pvals, probes, radii, 1.0, 300.0, n_seg, threads)
        assert np.array_equal(one[0], many[0]) and np.array_equal(one[2], many[2])
        np.testing.assert_allclose(many[1], one[1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(many[3], one[3], rtol=1e-12, atol=0)
        assert np.array_equal(one[4], many[4]) and np.array_equal(one[5], many[5])
    assert one[0].max() > 0 and one[4].size > 0  # the case exercises both probe kinds


def test_links_cut_lists_each_crossed_segment_once_per_link():
    seg_flat = np.array([0, 1, 1, 0, 2, 2, 3, 0], np.int64)
    paths = [np.array([0, 1, 2, 1, 3]), np.array([], np.int64), np.array([4, 6, 5, 0]), np.array([7])]
    naive = sorted({(e, int(s)) for e, p in enumerate(paths) for s in seg_flat[p] if s > 0})
    assert br._links_cut(paths, seg_flat) == naive == [(0, 1), (2, 2), (2, 3)]
    assert br._links_cut([], seg_flat) == []
    assert br._sorted_unique(np.array([5, 1, 5, 3, 1], np.int64)).tolist() == [1, 3, 5]
