"""Tests of werkland.barriers: segments, Barrier Mapper score (V8), network gain, outputs."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from pyproj import CRS

from werkland import barriers as br
from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland._kernels.barrier_scores import pair_scores
from werkland.barriers.gains import GainRaster
from werkland.barriers.scores import (
    PairScores,
    Probes,
    links_cut,
    pair_scores_chunked,
    sorted_unique,
)
from werkland.config import validate_config
from werkland.connectivity import GroupMinima
from werkland.params import BarrierParams, ConnectivityParams
from werkland.raster.io import Grid, read_raster, write_gpkg, write_raster
from werkland.tables import Kernel, load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]

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


def _conn_params(conn: dict) -> ConnectivityParams:
    """The guild's connectivity settings of a test landscape (conefor kernel, p = 0.5 at d0)."""
    d0 = float(conn["d0_m"])
    return ConnectivityParams(
        guild="g", kernel=Kernel(d0, 0.5, -math.log(0.5) / d0, "conefor"),
        suitability_threshold=float(conn["suitability_threshold"]), min_patch_area_m2=float(conn["min_patch_area_m2"]),
        edge_band_m=0.0, p_floor=0.001, corridor_width=float(conn.get("corridor_width", d0)), iic_max_cost=d0,
        tile_cells=0, metrics_tolerance=0.0, n_threads=2,
    )


def _params(conn: dict, **barriers) -> BarrierParams:
    """BarrierParams of a test guild: the schema's barrier defaults unless given, no resistance table."""
    values = {"max_segment_m": 100.0, "radii_m": (20.0, 50.0, 100.0), "top_n": 50, "resistance_threshold": 100.0,
              "passage_resistance": 1.0, "resistance": {}, **barriers}
    values["radii_m"] = tuple(float(r) for r in values["radii_m"])
    return BarrierParams(guild="g", connectivity=_conn_params(conn), n_threads=2, **values)


def _write(tmp_path, suit, resist, landcover, res, conn):
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
        p / "corridors/g.tif", params=_conn_params(conn),
    )
    return grid, summary


def _run_barriers(tmp_path, params, name="g"):
    p = tmp_path
    info = br.run_barriers(
        p / "landcover.gpkg", p / "resistance.tif", p / "patches/g.tif", p / "patches/g.gpkg",
        p / "graph/g_links.gpkg", p / "graph/g_summary.json", p / f"barriers/{name}.gpkg", params=params,
    )
    return info, gpd.read_file(p / f"barriers/{name}.gpkg", layer="barriers")


def test_v8_through_the_pipeline(tmp_path):
    suit = np.full((3, 5), -1.0)
    suit[1] = [1.0, 0.0, 0.0, 0.0, 1.0]
    resist = np.full((3, 5), -1.0)
    resist[1] = [1.0, 1.0, 10.0, 1.0, 1.0]
    lc = gpd.GeoDataFrame({"class": ["road_main"]}, geometry=[shapely.box(2.1, 1.1, 2.9, 1.9)], crs="EPSG:28992")
    v8 = {"suitability_threshold": 0.5, "min_patch_area_m2": 1, "d0_m": 10}
    _, s = _write(tmp_path, suit, resist, lc, 1.0, v8)
    assert s["n_links"] == 1
    info, out = _run_barriers(tmp_path, _params(v8, radii_m=[1.0]))
    assert info["base_resistance"] == 1.0  # the lowest resistance of the raster
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
    info, out = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0, 50.0], top_n=50))
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
    max_cost = cn.dispersal_kernel(300.0).max_cost(0.001)
    links = cn.build_links(res, labels, res_m=res_m, max_cost=max_cost, n_threads=1, with_paths=False)
    state = cn.GraphState.build(areas, (links.from_id - 1, links.to_id - 1, links.cost), k, 50.0)
    y0 = int(rng.integers(0, h - 6))
    footprint = np.array([(yy * w + xx) for yy in range(y0, y0 + 6) for xx in (24, 25)], np.int64)
    ref = _full_eca(res, labels, footprint, 1.0, res_m, max_cost, areas, k, 50.0)
    before = res.copy()
    shared = GainRaster(res, labels, pid)
    shared_before = shared.res_flat.copy()
    for method in ("patches", "footprint"):
        got = br.mitigation_gain(
            res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m, max_cost=max_cost,
            passage_resistance=1.0, n_threads=2, method=method,
        )
        assert got.ECA_after_ha == pytest.approx(ref.ECA_ha, rel=1e-10)
        assert got.dECA_ha >= -1e-12
        assert np.array_equal(res, before)  # raster restored
        # the labels, resistance and work arrays prepared once for every gain: the same result, and
        # the shared resistance is restored too (the next gain searches the baseline around its own
        # footprint); twice, so the second gain reuses the first one's work arrays
        for _ in range(2):
            again = br.mitigation_gain(
                res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m, max_cost=max_cost,
                passage_resistance=1.0, n_threads=2, method=method, shared=shared,
            )
            assert again == got
            assert shared.res_flat.dtype == np.float32 and np.array_equal(shared.res_flat, shared_before)
            assert np.array_equal(res, before)
    # a passage resistance that is not a float32 (so neither is the changed raster): a new copy
    odd = br.mitigation_gain(res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m, max_cost=max_cost,
                             passage_resistance=1.0 + 1e-12, n_threads=2, shared=shared)
    plain = br.mitigation_gain(res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m,
                               max_cost=max_cost, passage_resistance=1.0 + 1e-12, n_threads=2)
    assert odd == plain and np.array_equal(shared.res_flat, shared_before)
    for other in (GainRaster(res, labels, pid + 1), GainRaster(res.copy(), labels, pid)):
        with pytest.raises(ValueError, match="shared gain raster was made for other arrays"):
            br.mitigation_gain(res, labels, footprint, np.arange(1, pid + 1), state, res_m=res_m,
                               max_cost=max_cost, passage_resistance=1.0, shared=other)


def test_run_barriers_gain_equals_full_recompute(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    suit[60:70, 20:26] = 1.0  # a third patch left of the road
    suit[40:46, 35:45] = 1.0  # and a fourth one right of it
    resist[suit > 0] = 1.0
    _, s = _write(tmp_path, suit, resist, lc, res, CONN)
    info, out = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0], top_n=5))
    ev = out[out["gain_evaluated"]]
    assert 1 <= len(ev) <= 5
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


def test_network_gains_in_forked_processes_equal_one_process(tmp_path):
    """With two threads the gain candidates are shared out over two forked processes: the layer is
    the bytes one process writes."""
    suit, resist, lc, res = _two_patch_landscape()
    suit[60:70, 20:26] = 1.0
    suit[40:46, 35:45] = 1.0
    resist[suit > 0] = 1.0
    _write(tmp_path, suit, resist, lc, res, CONN)
    forked, out = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0], top_n=5), name="forked")
    assert out["gain_evaluated"].sum() >= 2 and (out["dECA_ha"] > 0).any()
    one = dataclasses.replace(_params(CONN, radii_m=[20.0], top_n=5), n_threads=1)
    _run_barriers(tmp_path, one, name="one")
    assert (tmp_path / "barriers/forked.gpkg").read_bytes() == (tmp_path / "barriers/one.gpkg").read_bytes()


# --------------------------------------------------------------------------------------------
# bad input and combination
# --------------------------------------------------------------------------------------------


def test_no_roads_and_no_links_give_explained_empty_results(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    lc_none = gpd.GeoDataFrame({"class": ["meadow"]}, geometry=[shapely.box(0, 0, 50, 50)], crs="EPSG:28992")
    _write(tmp_path, suit, resist, lc_none, res, CONN)
    info, out = _run_barriers(tmp_path, _params(CONN))
    assert len(out) == 0 and any("no barrier segments" in w for w in info["warnings"])
    # no links: impassable road
    resist2 = resist.copy()
    resist2[:, 29:31] = -1.0
    _write(tmp_path, suit, resist2, lc, res, CONN)
    info, out = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0]))
    assert len(out) > 0 and any("no links" in w for w in info["warnings"])
    current = ["current_crossing", "current_rank"]  # NaN without the currents stage's current map
    assert (out["score_per_m_20"] == 0).all() and out.drop(columns=["geometry", *current]).notna().all().all()
    assert out[current].isna().all().all()


def test_barrier_classes_threshold():
    cls = br.barrier_classes({"railway": 200, "building": math.inf, "hedge": 300, "grass": 1, "reed": math.inf}, 200)
    assert "hedge" in cls and "building" not in cls and "grass" not in cls and "road_main" in cls
    assert cls["reed"] == ("other", "") and cls["railway"] == ("railway", "")
    assert list(cls)[-2:] == ["hedge", "reed"]  # added classes after the default ones, by name
    assert br.barrier_classes() == br.DEFAULT_BARRIER_CLASSES
    with pytest.raises(WerklandInputError):
        br.segment_barriers(gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.box(0, 0, 1, 1)]), _grid(5, 5, 1.0),
                            {"road_main": ("road", "main")}, max_length_m=0)


def test_combine_barriers(tmp_path):
    suit, resist, lc, res = _two_patch_landscape()
    _write(tmp_path, suit, resist, lc, res, CONN)
    _run_barriers(tmp_path, _params(CONN, radii_m=[20.0], top_n=3), name="a")
    _run_barriers(tmp_path, _params(CONN, radii_m=[20.0], top_n=0), name="b")
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


def _random_group_minima(rng, n_patch: int, n_groups: int, n_seg: int, n_radii: int, lo: int, hi: int, *,
                         whole: bool = False):
    """Random probe groups (segment, kind, radius index) and each patch's sorted groups with minima
    (CSR over patches 1..n_patch; ``whole``: costs rounded to whole units)."""
    g_seg = rng.integers(0, n_seg, n_groups)
    g_type = rng.integers(0, 3, n_groups).astype(np.int8)
    g_ri = rng.integers(0, n_radii, n_groups)
    groups, vals, ptr = [np.empty(0, np.int64)], [np.empty(0)], [0, 0]
    for _ in range(n_patch):
        g = np.sort(rng.choice(n_groups, rng.integers(lo, hi), replace=False))
        groups.append(g)
        v = rng.uniform(0, 500, g.size)
        vals.append(np.round(v) if whole else v)
        ptr.append(ptr[-1] + g.size)
    return g_seg, g_type, g_ri, np.array(ptr, np.int64), np.concatenate(groups), np.concatenate(vals)


def test_pair_scores_over_link_chunks_equal_one_pass():
    """Threaded link chunks give the single pass's maxima exactly, its sums to round-off, the same
    corridor memberships in link order, whatever the thread count."""
    rng = np.random.default_rng(3)
    n_patch, n_groups, n_seg, radii = 30, 400, 60, np.array([20.0, 50.0, 100.0])
    g_seg, g_type, g_ri, pptr, pgroups, pvals = _random_group_minima(rng, n_patch, n_groups, n_seg, radii.size, 5, 80)
    lp = rng.integers(1, n_patch + 1, 500)
    lq = rng.integers(1, n_patch + 1, 500)
    lcd = rng.uniform(100, 3000, 500)
    probes = Probes(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), g_seg, g_type, g_ri, n_groups)
    one = pair_scores(lp, lq, lcd, pptr, pgroups, pvals, g_seg, g_type, g_ri, radii, 1.0, 300.0, n_seg)
    minima = GroupMinima(pptr, pgroups, pvals)
    for threads in (1, 2):
        many = pair_scores_chunked(lp, lq, lcd, minima, probes, radii, 1.0, 300.0, n_seg, threads)
        assert isinstance(many, PairScores)
        assert np.array_equal(one[0], many[0]) and np.array_equal(one[2], many[2])
        np.testing.assert_allclose(many[1], one[1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(many[3], one[3], rtol=1e-12, atol=0)
        assert np.array_equal(one[4], many[4]) and np.array_equal(one[5], many[5])
    assert one[0].max() > 0 and one[4].size > 0  # the case exercises both probe kinds


def test_links_cut_lists_each_crossed_segment_once_per_link():
    seg_flat = np.array([0, 1, 1, 0, 2, 2, 3, 0], np.int64)
    paths = [np.array([0, 1, 2, 1, 3]), np.array([], np.int64), np.array([4, 6, 5, 0]), np.array([7])]
    naive = sorted({(e, int(s)) for e, p in enumerate(paths) for s in seg_flat[p] if s > 0})
    assert links_cut(paths, seg_flat) == naive == [(0, 1), (2, 2), (2, 3)]
    assert links_cut([], seg_flat) == []
    assert sorted_unique(np.array([5, 1, 5, 3, 1], np.int64)).tolist() == [1, 3, 5]


# --------------------------------------------------------------------------------------------
# typed parameters and identical reruns
# --------------------------------------------------------------------------------------------


def _demo_params(guild: str) -> BarrierParams:
    cfg = validate_config(yaml.safe_load((ROOT / "config/config.yaml").read_text()),
                          ROOT / "workflow/schemas/config.schema.yaml")
    table = load_guilds(ROOT / cfg["guilds_table"], load_legend(ROOT / cfg["legend"]))
    return BarrierParams.from_config(cfg, table[guild], n_threads=2)


def test_params_from_the_config_survive_the_rule_round_trip():
    bp = _demo_params("hedgehog")
    assert BarrierParams.from_dict(bp.as_dict()) == bp
    assert bp.max_segment_m > 0 and bp.radii_m and all(r > 0 for r in bp.radii_m)
    assert math.isinf(max(bp.resistance.values()))  # impassable classes are inf, not strings
    with pytest.raises(WerklandInputError, match="max_segmnt_m"):
        BarrierParams.from_dict({**bp.as_dict(), "max_segmnt_m": 5})


def test_settings_come_from_params_and_equal_the_connectivity_summary(tmp_path):
    """The corridor width and link bound are the connectivity stage's own (same config), not read
    back from its summary; both stages end up with identical values."""
    bp = _demo_params("hedgehog")
    conn = dataclasses.replace(bp.connectivity, suitability_threshold=0.5, min_patch_area_m2=100.0, edge_band_m=0.0)
    bp = dataclasses.replace(bp, connectivity=conn, radii_m=(20.0,), top_n=3)
    suit, resist, lc, res = _two_patch_landscape()
    h, w = suit.shape
    grid = _grid(h, w, res)
    write_raster(tmp_path / "habitat.tif", suit.astype(np.float32), grid, nodata=-1.0)
    write_raster(tmp_path / "resistance.tif", resist.astype(np.float32), grid, nodata=-1.0)
    write_gpkg(gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(*grid.bounds)], crs="EPSG:28992"),
               tmp_path / "region.gpkg", "region")
    write_gpkg(lc, tmp_path / "landcover.gpkg", "landcover")
    p = tmp_path
    s = cn.run_connectivity(
        p / "habitat.tif", p / "resistance.tif", p / "region.gpkg", p / "patches/g.gpkg", p / "patches/g.tif",
        p / "graph/g_links.gpkg", p / "graph/g.graphml", p / "graph/g_metrics.csv", p / "graph/g_summary.json",
        p / "corridors/g.tif", params=conn,
    )
    info, out = _run_barriers(tmp_path, bp)
    assert info["corridor_width"] == s["corridor_width"] == bp.connectivity.kernel.d0_m
    assert info["max_cost_distance"] == s["max_cost_distance"]
    assert info["guild"] == "hedgehog" and info["radii_m"] == [20.0] and info["top_n"] == 3
    assert out["gain_evaluated"].sum() == min(3, int(out["matters"].sum()))
    # the summary's settings are not read: changing them there changes nothing
    summary = json.loads((p / "graph/g_summary.json").read_text())
    summary.update(corridor_width=1.0, max_cost_distance=1.0, k_per_m=1.0, metrics_tolerance=0.5)
    (p / "graph/g_summary.json").write_text(json.dumps(summary))
    _, again = _run_barriers(tmp_path, bp, name="again")
    assert again.drop(columns="geometry").equals(out.drop(columns="geometry"))


def _last_changes(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT table_name, last_change FROM gpkg_contents ORDER BY table_name").fetchall()


def test_write_gpkg_twice_gives_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    g = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs="EPSG:28992")
    for name in ("a.gpkg", "b.gpkg"):
        write_gpkg(g, tmp_path / name, "x")
        write_gpkg(g, tmp_path / name, "info", mode="a")
    assert (tmp_path / "a.gpkg").read_bytes() == (tmp_path / "b.gpkg").read_bytes()
    assert _last_changes(tmp_path / "a.gpkg") == [("info", "1970-01-01T00:00:00.000Z"), ("x", "1970-01-01T00:00:00.000Z")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    write_gpkg(g, tmp_path / "c.gpkg", "x")
    assert _last_changes(tmp_path / "c.gpkg") == [("x", "2023-11-14T22:13:20.000Z")]


def test_reruns_write_identical_files_without_timings(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    suit, resist, lc, res = _two_patch_landscape()
    _write(tmp_path, suit, resist, lc, res, CONN)
    first, _ = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0, 50.0], top_n=5), name="first")
    second, _ = _run_barriers(tmp_path, _params(CONN, radii_m=[20.0, 50.0], top_n=5), name="second")
    a, b = tmp_path / "barriers/first.gpkg", tmp_path / "barriers/second.gpkg"
    for layer in ("barriers", "info"):
        la, lb = gpd.read_file(a, layer=layer), gpd.read_file(b, layer=layer)
        assert la.drop(columns="geometry").equals(lb.drop(columns="geometry"))
        assert la.geometry.to_wkb().tolist() == lb.geometry.to_wkb().tolist()
    assert a.read_bytes() == b.read_bytes()
    keys = gpd.read_file(a, layer="info")["key"].tolist()
    assert keys == ["guild", "n_segments", "radii_m", "max_length_m", "top_n", "base_resistance", "passage_resistance",
                    "corridor_width", "max_cost_distance", "barrier_classes", "n_matter", "n_gain_evaluated", "warnings"]
    assert not any("timing" in k for k in keys)
    # the timings are returned (and logged), never written
    assert set(first["timing_s"]) == {"surfaces", "gains", "total"} and "timing_s" not in keys
    combined = [tmp_path / f"barriers/all_{i}.gpkg" for i in (1, 2)]
    for path in combined:
        br.combine_barriers({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, path)
    assert combined[0].read_bytes() == combined[1].read_bytes()


def test_mitigation_gain_rejects_an_unknown_method():
    state = cn.GraphState.build(np.ones(2), (np.array([0]), np.array([1]), np.array([5.0])), 0.01, 10.0)
    with pytest.raises(WerklandInputError, match="method"):
        br.mitigation_gain(np.ones((3, 3)), np.zeros((3, 3), np.int64), np.array([4]), np.array([1, 2]), state,
                           res_m=1.0, max_cost=10.0, passage_resistance=1.0, method="fast")


def _pair_scores_by_merge(lp, lq, lcd, pptr, pgroups, pvals, g_seg, g_type, g_ri, radii, rbase, width, n_seg):
    """The pair scores written out in Python: each link merges its two patches' sorted group lists."""
    n_r = radii.size
    best_m, sum_m = np.zeros((n_seg, n_r)), np.zeros((n_seg, n_r))
    best_p, sum_p = np.zeros((n_seg, n_r)), np.zeros((n_seg, n_r))
    cs: list[int] = []
    cl: list[int] = []
    for e, (p, q, L) in enumerate(zip(lp, lq, lcd, strict=True)):
        mp = dict(zip(pgroups[pptr[p]:pptr[p + 1]].tolist(), pvals[pptr[p]:pptr[p + 1]].tolist(), strict=True))
        window: dict[int, float] = {}  # key -> best value, in order of first appearance
        corridor_segs: set[int] = set()
        for g, vq in zip(pgroups[pptr[q]:pptr[q + 1]].tolist(), pvals[pptr[q]:pptr[q + 1]].tolist(), strict=True):
            if g not in mp:
                continue
            s, t, vp = int(g_seg[g]), int(g_type[g]), mp[g]
            if t == 0:
                R = radii[g_ri[g]]
                delta = L - vp - vq - 2.0 * R * rbase
                if delta > 0.0:
                    key = s * n_r + int(g_ri[g])
                    window[key] = max(window.get(key, -1.0), delta / (2.0 * R))
            elif t == 1 and vp + vq - L <= width and s not in corridor_segs:
                corridor_segs.add(s)
                cs.append(s)
                cl.append(e)
        for key, v in window.items():
            s, ri = divmod(key, n_r)
            pct = 100.0 * v / L if L > 0 else 0.0
            best_m[s, ri], best_p[s, ri] = max(best_m[s, ri], v), max(best_p[s, ri], pct)
            sum_m[s, ri] += v
            sum_p[s, ri] += pct
    return best_m, sum_m, best_p, sum_p, np.array(cs, np.int64), np.array(cl, np.int64)


@pytest.mark.parametrize("grouped", [True, False])
def test_pair_scores_equal_the_merge_of_the_two_patches_group_lists(grouped):
    """The compiled kernel (the first patch's minima scattered once for its consecutive links) against
    the merge written out: the same maxima and sums bit for bit, the same corridor memberships in link
    order, for links listed by first patch (as the link search lists them) and in random order."""
    rng = np.random.default_rng(11)
    n_patch, n_groups, n_seg, radii = 25, 300, 40, np.array([20.0, 50.0])
    # whole costs: ties, and a minimum of 0
    g_seg, g_type, g_ri, pptr, pgroups, pvals = _random_group_minima(rng, n_patch, n_groups, n_seg, radii.size, 0, 90,
                                                                     whole=True)
    pvals[:3] = 0.0
    lp = rng.integers(1, n_patch + 1, 400)
    lq = rng.integers(1, n_patch + 1, 400)
    if grouped:
        order = np.argsort(lp, kind="stable")
        lp, lq = lp[order], lq[order]
    lcd = rng.uniform(100, 1500, 400)
    args = (lp, lq, lcd, pptr, pgroups, pvals, g_seg, g_type, g_ri, radii, 1.0, 300.0, n_seg)
    got, want = pair_scores(*args), _pair_scores_by_merge(*args)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert want[0].max() > 0 and want[4].size > 0  # the case exercises both probe kinds
