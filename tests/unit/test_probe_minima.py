"""The barrier probe minima kept by the connectivity stage's link search.

The link search (heap, predecessors, every patch to ``max_cost + corridor_width``) keeps each
patch's least cost over each probe group; the barrier stage reads them instead of searching every
patch again (bucket queue, per-patch bounds). These tests hold the two paths to the same values,
bit for bit, and the barrier layer to the same bytes, on landscapes full of equal-cost ties.
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from rasterio.crs import CRS

from tests.unit.test_search_bounds import _landscape, _params, _run_stages, _segments
from werkland import barriers as br
from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland.barriers import probe_store as ps
from werkland.barriers.scores import build_probes, search_bounds
from werkland.params import barrier_probe_owners
from werkland.raster.io import Grid, write_gpkg

RES_M = 10.0


def _assert_same(a: cn.GroupMinima, b: cn.GroupMinima) -> None:
    assert np.array_equal(a.ptr, b.ptr)
    assert np.array_equal(a.groups, b.groups)
    assert np.array_equal(a.vals, b.vals)  # exact: same costs, not within a tolerance


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_groups", [1, 63, 64, 65, 700])
@pytest.mark.parametrize("spread", ["block", "scattered"])
def test_group_minima_of_a_search_are_each_groups_least_cost_in_group_order(seed, n_groups, spread):
    """The compiled reduction against numpy: every group reached by a settled cell (cost <= bound)
    once, in increasing order, with its least cost; the scratch is left all inf for the next search.
    A search's touched cells in a compact block are read row by row over their box, scattered ones
    (a box more than PROBE_BOX_FACTOR times their number) by the touched list: the same minima."""
    from werkland._kernels.barrier_scores import PROBE_BOX_FACTOR, probe_mins

    rng = np.random.default_rng(seed)
    H, W = 40, 50
    n_cells = H * W
    cell_slot = np.where(rng.random(n_cells) < 0.7, np.arange(n_cells), -1).astype(np.int64)
    per_slot = rng.integers(0, 6, n_cells)
    slot_ptr = np.concatenate([[0], np.cumsum(per_slot)]).astype(np.int64)
    slot_groups = rng.integers(0, n_groups, int(slot_ptr[-1])).astype(np.int64)
    if spread == "block":  # rows 5..24, columns 7..36, in a random (search) order; a third not touched
        rows, cols = np.meshgrid(np.arange(5, 25), np.arange(7, 37), indexing="ij")
        block = (rows * W + cols).ravel()
        touched = rng.permutation(block)[: 2 * block.size // 3].astype(np.int64)
        box = np.ptp(touched // W) + 1, np.ptp(touched % W) + 1
        assert box[0] * box[1] <= PROBE_BOX_FACTOR * touched.size
    else:
        touched = rng.choice(n_cells, 60, replace=False).astype(np.int64)
        box = np.ptp(touched // W) + 1, np.ptp(touched % W) + 1
        assert box[0] * box[1] > PROBE_BOX_FACTOR * touched.size
    s0 = cell_slot[touched[cell_slot[touched] >= 0][0]]
    slot_groups[slot_ptr[s0]:slot_ptr[s0 + 1]] = n_groups - 1  # the last group (the bitmap's last word)
    cum = np.full(n_cells, np.inf)  # a search's work array: inf where it did not touch
    cum[touched] = np.round(rng.random(touched.size) * 100.0, 1)  # ties between cells on purpose
    bound = 60.0
    gmin = np.full(n_groups, np.inf)
    groups, vals = probe_mins(cum, touched, touched.size, bound, cell_slot, slot_ptr, slot_groups, gmin, W)
    best = np.full(n_groups, np.inf)
    for v in touched:
        if cum[v] <= bound and cell_slot[v] >= 0:
            s = cell_slot[v]
            for g in slot_groups[slot_ptr[s]:slot_ptr[s + 1]]:
                best[g] = min(best[g], cum[v])
    want = np.flatnonzero(np.isfinite(best))
    assert want.size > 0
    assert groups.dtype == np.int32 and np.array_equal(groups, want)
    assert np.array_equal(vals, best[want])
    assert np.all(np.isinf(gmin))
    # an unbounded reduction reads the box's untouched cells (inf) as reaching nothing
    groups, vals = probe_mins(cum, touched, touched.size, np.inf, cell_slot, slot_ptr, slot_groups, gmin, W)
    reached = {int(g) for v in touched if cell_slot[v] >= 0
               for g in slot_groups[slot_ptr[cell_slot[v]]:slot_ptr[cell_slot[v] + 1]]}
    assert np.array_equal(groups, sorted(reached)) and np.all(np.isfinite(vals))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_cost,width", [(500.0, 80.0), (900.0, 900.0)])
def test_link_search_keeps_the_minima_of_the_stand_alone_searches(seed, max_cost, width):
    r, lab, n = _landscape(seed)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [20.0, 50.0]).cell_groups()
    plain = cn.build_links(r, lab, res_m=RES_M, max_cost=max_cost, corridor_width=width, n_threads=2)
    kept = cn.build_links(r, lab, res_m=RES_M, max_cost=max_cost, corridor_width=width, n_threads=2,
                          cell_groups=groups)
    # the links, their paths and the corridors do not change
    for f in ("from_id", "to_id", "cost", "path_ptr", "path_cells", "corridor"):
        assert np.array_equal(getattr(plain, f), getattr(kept, f)), f
    assert plain.group_minima is None and kept.search_bound == max_cost + width
    full = max_cost + width
    searched = cn.search_group_minima(r, lab, n, RES_M, full, groups, 2).table()
    kept_table = kept.group_minima.table()
    _assert_same(kept_table, searched)
    assert searched.vals.size > n  # every patch reached some groups
    # the barrier stage's per-patch bounds: the kept minima cut there are the bounded searches' minima
    bounds = search_bounds(n, kept.from_id, kept.to_id, kept.cost, max_cost, width)
    assert np.any(bounds[1:] < full)
    trimmed = kept_table.within(bounds)
    _assert_same(trimmed, cn.search_group_minima(r, lab, n, RES_M, full, groups, 2, bounds).table())
    assert trimmed.vals.size < kept_table.vals.size


def test_link_search_without_corridors_keeps_minima_to_the_link_bound():
    r, lab, n = _landscape(4)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [30.0]).cell_groups()
    kept = cn.build_links(r, lab, res_m=RES_M, max_cost=400.0, n_threads=1, cell_groups=groups)
    assert kept.search_bound == 400.0
    _assert_same(kept.group_minima.table(), cn.search_group_minima(r, lab, n, RES_M, 400.0, groups, 1).table())


def test_minima_only_for_the_searched_sources():
    r, lab, n = _landscape(5)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [20.0]).cell_groups()
    some = np.arange(1, n + 1, 3)
    part = cn.build_links(r, lab, res_m=RES_M, max_cost=500.0, corridor_width=80.0, n_threads=2,
                          sources=some, cell_groups=groups).group_minima.table()
    whole = cn.search_group_minima(r, lab, n, RES_M, 580.0, groups, 2).table()
    for p in range(1, n + 1):
        a, b = slice(part.ptr[p], part.ptr[p + 1]), slice(whole.ptr[p], whole.ptr[p + 1])
        if p in some:
            assert np.array_equal(part.vals[a], whole.vals[b]) and np.array_equal(part.groups[a], whole.groups[b])
        else:
            assert part.ptr[p] == part.ptr[p + 1]


def test_minima_file_round_trip_is_byte_stable(tmp_path):
    r, lab, n = _landscape(1)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [20.0]).cell_groups()
    key = cn.MinimaKey(600.0, groups.digest(), cn.surface_digest(r, lab), r.shape, n)
    # streamed from the searches' parts (released as written) and written as one table: same bytes
    cn.write_group_minima(cn.search_group_minima(r, lab, n, RES_M, 600.0, groups, 2), key, tmp_path / "a.npz")
    minima = cn.search_group_minima(r, lab, n, RES_M, 600.0, groups, 2).table()
    cn.write_group_minima(minima, key, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back, back_key = cn.read_group_minima(tmp_path / "a.npz")
    _assert_same(back, minima)
    assert back_key == key
    # another key expected: the key alone is read, the tables are not
    skipped, got = cn.read_group_minima(tmp_path / "a.npz", expect=dataclasses.replace(key, bound=1.0))
    assert skipped is None and got == key and got.differences(dataclasses.replace(key, bound=1.0)) == ["search bound"]
    with np.load(tmp_path / "a.npz") as npz:  # a NumPy .npz: readable without werkland
        assert np.array_equal(npz["vals"], minima.vals)
    # another radius -> other groups -> another digest
    other = build_probes(_segments(r, RES_M), r.shape, RES_M, [30.0]).cell_groups()
    assert other.digest() != groups.digest()


def test_unreadable_minima_file_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "woodland_birds_probe_minima.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(WerklandInputError, match="woodland_birds_probe_minima.npz") as exc:
        cn.read_group_minima(bad)
    assert "re-run the connectivity rule" in str(exc.value)
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("meta.json", '{"format": "something else"}')
    with pytest.raises(WerklandInputError, match="format 'something else' is not"):
        cn.read_group_minima(bad)


@pytest.mark.parametrize("seed", [0, 3])
def test_barrier_stage_reading_the_minima_writes_what_its_own_searches_wrote(seed, tmp_path, caplog):
    r, lab, _ = _landscape(seed, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "searched", r, lab, RES_M, cp, bp)
    with caplog.at_level(logging.INFO, logger="werkland"):
        _run_stages(tmp_path / "shared", r, lab, RES_M, cp, bp, probes=True, distances=True)
    assert "probe minima of the connectivity stage" in caplog.text
    assert "barrier segments and probe groups of the connectivity job" in caplog.text
    assert "all-pairs distances of the connectivity job" in caplog.text  # the network gains' baseline
    for name in ("barriers.gpkg", "corr.tif", "p.tif", "p.gpkg", "links.gpkg", "m.csv", "s.json", "g.graphml"):
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "searched" / name).read_bytes(), name


@pytest.mark.parametrize("seed", [0, 3])
def test_connectivity_reading_the_shared_probes_writes_what_building_them_wrote(seed, tmp_path, caplog):
    """The segments and probe groups built once (``run_barrier_probes``) and read by the connectivity
    stage: every file of both stages is the same bytes as when it builds them itself, the probe-minima
    file (which keeps them for the barrier stage) included."""
    r, lab, _ = _landscape(seed, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "own", r, lab, RES_M, cp, bp, probes=True)
    with caplog.at_level(logging.INFO, logger="werkland.barriers"):
        _run_stages(tmp_path / "shared", r, lab, RES_M, cp, bp, probes=True, shared_probes=bp)
    assert "barrier segments and probe groups shared by the guilds" in caplog.text
    assert "building them" not in caplog.text
    for name in ("minima.npz", "barriers.gpkg", "corr.tif", "p.tif", "p.gpkg", "links.gpkg", "m.csv", "s.json",
                 "g.graphml"):
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "own" / name).read_bytes(), name


def test_shared_probes_of_other_barrier_settings_are_not_used(tmp_path, caplog):
    """A shared file built for another guild's barrier classes: the connectivity stage says so and
    builds its own, with the same outputs as without the file."""
    r, lab, _ = _landscape(1, 120, 130)
    cp, bp = _params(120.0, 150.0)
    other = dataclasses.replace(bp, resistance={**bp.resistance, "ditch_deep": 500.0})
    assert other.probe_settings() != bp.probe_settings()
    _run_stages(tmp_path / "own", r, lab, RES_M, cp, bp, probes=True)
    with caplog.at_level(logging.INFO, logger="werkland.barriers"):
        _run_stages(tmp_path / "other", r, lab, RES_M, cp, bp, probes=True, shared_probes=other)
    assert "built for another land cover, barrier settings or grid; building them" in caplog.text
    for name in ("minima.npz", "barriers.gpkg", "links.gpkg"):
        assert (tmp_path / "other" / name).read_bytes() == (tmp_path / "own" / name).read_bytes(), name


def test_broken_shared_probes_name_the_file_and_the_rule(tmp_path):
    r, lab, _ = _landscape(1, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path, r, lab, RES_M, cp, bp, probes=True, shared_probes=bp)
    bad = tmp_path / "hedgehog_barrier_probes.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("payload.json", '{"arrays": ["missing"], "meta": {}}')
    outs = [tmp_path / n for n in ("habitat.tif", "resistance.tif", "region.gpkg", "p2.gpkg", "p2.tif", "l2.gpkg",
                                   "g2.graphml", "m2.csv", "s2.json", "c2.tif")]
    with pytest.raises(WerklandInputError, match="hedgehog_barrier_probes.npz") as exc:
        br.run_connectivity_with_probes(tmp_path / "landcover.gpkg", *outs, params=bp,
                                        out_probe_minima=tmp_path / "m2.npz", barrier_probes=bad)
    assert "re-run the barrier_probes rule" in str(exc.value)
    assert not (tmp_path / "m2.npz").exists() and not (tmp_path / "l2.gpkg").exists()


def test_guilds_with_the_same_barrier_classes_share_their_probes():
    """Owners: the first guild with the same barrier classes, segment length and radii. A class that
    is no barrier (low resistance, or areal like buildings) does not split them; an added barrier
    class, other radii or another segment length does."""
    _, bp = _params(120.0, 150.0)
    guilds = {
        "a": bp,
        "b": dataclasses.replace(bp, guild="b", resistance={**bp.resistance, "woodland": 2.0}),
        "c": dataclasses.replace(bp, guild="c", resistance={**bp.resistance, "ditch_deep": 500.0}),
        "d": dataclasses.replace(bp, guild="d", resistance={**bp.resistance, "building": 1000.0}),
        "e": dataclasses.replace(bp, guild="e", radii_m=(20.0,)),
        "f": dataclasses.replace(bp, guild="f", max_segment_m=50.0),
        "g": dataclasses.replace(bp, guild="g", resistance={**bp.resistance, "ditch_deep": 800.0}),
    }
    assert barrier_probe_owners(guilds) == {"a": "a", "b": "a", "c": "c", "d": "a", "e": "e", "f": "f", "g": "c"}


def test_tiled_link_search_still_writes_the_minima(tmp_path):
    r, lab, _ = _landscape(2, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "whole", r, lab, RES_M, cp, bp, probes=True)
    tiled = dataclasses.replace(cp, tile_cells=60)
    _run_stages(tmp_path / "tiled", r, lab, RES_M, tiled, dataclasses.replace(bp, connectivity=tiled), probes=True)
    assert (tmp_path / "tiled" / "minima.npz").read_bytes() == (tmp_path / "whole" / "minima.npz").read_bytes()
    assert (tmp_path / "tiled" / "barriers.gpkg").read_bytes() == (tmp_path / "whole" / "barriers.gpkg").read_bytes()


def test_minima_kept_for_other_probes_are_not_used(tmp_path, caplog):
    r, lab, _ = _landscape(1, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "run", r, lab, RES_M, cp, bp, probes=True)
    reference = (tmp_path / "run" / "barriers.gpkg").read_bytes()
    # minima kept for other radii (as if the barrier settings changed and connectivity had not re-run)
    other = dataclasses.replace(bp, radii_m=(30.0,))
    t = tmp_path / "run"
    br.run_connectivity_with_probes(t / "landcover.gpkg", t / "habitat.tif", t / "resistance.tif", t / "region.gpkg",
                                    t / "p.gpkg", t / "p.tif", t / "links.gpkg", t / "g.graphml", t / "m.csv",
                                    t / "s.json", t / "corr.tif", params=other,
                                    out_probe_minima=t / "minima.npz")
    with caplog.at_level(logging.INFO, logger="werkland.barriers.stage"):
        br.run_barriers(t / "landcover.gpkg", t / "resistance.tif", t / "p.tif", t / "p.gpkg", t / "links.gpkg",
                        t / "s.json", t / "barriers.gpkg", params=bp, probe_minima=t / "minima.npz")
    assert "kept for another probe groups" in caplog.text
    # the segments and probes kept there were built for the other radii: built again, not taken
    assert "keeps no segments and probes for this land cover" in caplog.text
    assert (t / "barriers.gpkg").read_bytes() == reference


def test_minima_kept_for_another_resistance_are_not_used(tmp_path, caplog):
    """Same probes, shape and patch count, other costs: the surface digest tells them apart."""
    r, lab, _ = _landscape(1, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path / "a", r, lab, RES_M, cp, bp, probes=True)
    r2 = np.where(np.isfinite(r) & (lab == 0), r * 1.5, r)  # dearer outside the patches
    _run_stages(tmp_path / "b", r2, lab, RES_M, cp, bp)
    b = tmp_path / "b"
    with caplog.at_level(logging.WARNING, logger="werkland.barriers.stage"):
        br.run_barriers(b / "landcover.gpkg", b / "resistance.tif", b / "p.tif", b / "p.gpkg", b / "links.gpkg",
                        b / "s.json", b / "again.gpkg", params=bp, probe_minima=tmp_path / "a" / "minima.npz")
    assert "resistance or patch raster" in caplog.text
    assert (b / "again.gpkg").read_bytes() == (b / "barriers.gpkg").read_bytes()


def test_groups_of_another_raster_are_refused():
    r, lab, n = _landscape(0)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [20.0]).cell_groups()
    with pytest.raises(WerklandInputError, match="cell groups of 9000 cells for a raster of 80 x 100"):
        cn.build_links(r[:80], lab[:80], res_m=RES_M, max_cost=500.0, cell_groups=groups)
    with pytest.raises(WerklandInputError, match="probe_groups"):
        cn.search_group_minima(r[:80], lab[:80], n, RES_M, 500.0, groups, 1)


def test_probe_groups_and_minima_file_come_together(tmp_path):
    cp, _ = _params(120.0, 150.0)
    with pytest.raises(WerklandInputError, match="come together"):
        cn.run_connectivity(tmp_path / "h.tif", tmp_path / "r.tif", None, *(tmp_path / f"o{i}" for i in range(7)),
                            params=cp, out_probe_minima=tmp_path / "m.npz")
    assert not any(tmp_path.iterdir())


# --- the segments and probe groups kept beside the minima -----------------------------------------


def _mixed_landcover(tmp_path):
    """Barrier polygons of every default kind and one class added by the resistance threshold, with
    a crossing, a diagonal and a class that claims no cell (all of it taken by an earlier class)."""
    def strip(line, width):
        return shapely.LineString(line).buffer(width / 2.0, cap_style="flat")
    rows = [("road_motorway", strip([(0, 405), (1200, 395)], 30)),
            ("road_main", strip([(600, 0), (600, 1000)], 16)),
            ("road_minor", strip([(0, 0), (1200, 1000)], 8)),
            ("railway", strip([(100, 800), (1100, 820)], 12)),
            ("waterway", strip([(300, 0), (350, 1000)], 20)),
            ("fence", strip([(580, 380), (620, 420)], 3)),
            ("ditch_deep", strip([(900, 100), (1000, 900)], 12)),
            ("woodland", shapely.box(700, 500, 900, 700))]
    lc = gpd.GeoDataFrame({"class": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs="EPSG:28992")
    write_gpkg(lc, tmp_path / "landcover.gpkg", "landcover")
    grid = Grid.from_bounds((0.0, 0.0, 1200.0, 1000.0), RES_M, CRS.from_epsg(28992))
    bp = dataclasses.replace(_params(120.0, 150.0)[1], resistance={"ditch_deep": 500.0, "woodland": 2.0},
                             radii_m=(20.0, 50.0))
    return tmp_path / "landcover.gpkg", lc, grid, bp


def test_kept_segments_and_probes_equal_the_built_ones(tmp_path):
    path, lc, grid, bp = _mixed_landcover(tmp_path)
    built = ps.build_barrier_probes(lc, grid, bp)
    assert set(built.segments.table["kind"]) == {"road", "railway", "waterway", "fence", "other"}
    key = ps.probes_key(path, grid, bp)
    minima = cn.GroupMinima(np.zeros(3, np.int64), np.zeros(0, np.int32), np.zeros(0))
    mkey = cn.MinimaKey(1.0, built.probes.cell_groups().digest(), "x", (grid.height, grid.width), 1)
    cn.write_group_minima(minima, mkey, tmp_path / "m.npz", ps.to_payload(built, key))
    back = ps.from_payload(cn.read_minima_payload(tmp_path / "m.npz"), key)
    assert back is not None
    a, b = built.segments, back.segments
    assert_geodataframe_equal(b.table, a.table, check_dtype=True, check_crs=True)
    assert list(shapely.to_wkb(b.table.geometry.values)) == list(shapely.to_wkb(a.table.geometry.values))
    for name in ("raster", "line_ptr", "line_cells", "line_dist"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    for name in ("cell_slot", "slot_ptr", "slot_groups", "g_seg", "g_type", "g_ri"):
        x, y = getattr(built.probes, name), getattr(back.probes, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert back.probes.n_groups == built.probes.n_groups
    assert back.probes.cell_groups().digest() == built.probes.cell_groups().digest()
    # the minima themselves read back as before, the payload beside them
    tables, got = cn.read_group_minima(tmp_path / "m.npz")
    assert got == mkey and tables is not None and tables.n == 1


def test_kept_segments_are_taken_only_for_their_own_inputs(tmp_path):
    path, lc, grid, bp = _mixed_landcover(tmp_path)
    key = ps.probes_key(path, grid, bp)
    payload = ps.to_payload(ps.build_barrier_probes(lc, grid, bp), key)
    assert ps.from_payload(payload, key) is not None
    assert ps.from_payload(None, key) is None
    others = {
        "radii": ps.probes_key(path, grid, dataclasses.replace(bp, radii_m=(20.0,))),
        "segment length": ps.probes_key(path, grid, dataclasses.replace(bp, max_segment_m=50.0)),
        "classes": ps.probes_key(path, grid, dataclasses.replace(bp, resistance_threshold=1000.0)),
        "grid": ps.probes_key(path, Grid.from_bounds((0.0, 0.0, 1200.0, 1000.0), 20.0, CRS.from_epsg(28992)), bp),
    }
    write_gpkg(lc.iloc[:-1], tmp_path / "other.gpkg", "landcover")  # one polygon less: other bytes
    others["land cover"] = ps.probes_key(tmp_path / "other.gpkg", grid, bp)
    for what, other in others.items():
        assert other != key, what
        assert ps.from_payload(payload, other) is None, what


def test_minima_file_without_a_payload_and_a_broken_payload(tmp_path):
    r, lab, n = _landscape(1)
    groups = build_probes(_segments(r, RES_M), r.shape, RES_M, [20.0]).cell_groups()
    key = cn.MinimaKey(600.0, groups.digest(), cn.surface_digest(r, lab), r.shape, n)
    cn.write_group_minima(cn.search_group_minima(r, lab, n, RES_M, 600.0, groups, 1), key, tmp_path / "a.npz")
    assert cn.read_minima_payload(tmp_path / "a.npz") is None
    bad = tmp_path / "pollinators_probe_minima.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("payload.json", '{"arrays": ["missing"], "meta": {}}')
    with pytest.raises(WerklandInputError, match="pollinators_probe_minima.npz") as exc:
        cn.read_minima_payload(bad)
    assert "re-run the connectivity rule" in str(exc.value)


def test_probe_payload_needs_the_minima_file(tmp_path):
    cp, _ = _params(120.0, 150.0)
    payload = cn.MinimaPayload({}, {})
    with pytest.raises(WerklandInputError, match="payload needs the probe-minima file"):
        cn.run_connectivity(tmp_path / "h.tif", tmp_path / "r.tif", None, *(tmp_path / f"o{i}" for i in range(7)),
                            params=cp, probe_payload=payload)
    assert not any(tmp_path.iterdir())


def test_kept_segments_with_a_broken_table_name_the_file(tmp_path):
    """A payload whose key matches but whose tables do not fit: an error naming the file and the fix,
    not a traceback from the rebuild."""
    r, lab, _ = _landscape(1, 120, 130)
    cp, bp = _params(120.0, 150.0)
    _run_stages(tmp_path, r, lab, RES_M, cp, bp, probes=True)
    payload = cn.read_minima_payload(tmp_path / "minima.npz")
    meta = {**payload.meta, "table": {k: v for k, v in payload.meta["table"].items() if k != "kind"}}
    minima, key = cn.read_group_minima(tmp_path / "minima.npz")
    cn.write_group_minima(minima, key, tmp_path / "minima.npz", cn.MinimaPayload(meta, payload.arrays))
    with pytest.raises(WerklandInputError, match="minima.npz") as exc:
        br.run_barriers(tmp_path / "landcover.gpkg", tmp_path / "resistance.tif", tmp_path / "p.tif",
                        tmp_path / "p.gpkg", tmp_path / "links.gpkg", tmp_path / "s.json", tmp_path / "again.gpkg",
                        params=bp, probe_minima=tmp_path / "minima.npz")
    assert "re-run the connectivity rule" in str(exc.value)
    assert not (tmp_path / "again.gpkg").exists()
