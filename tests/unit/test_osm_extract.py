"""Cutting regions out of a shared OSM file: one pass equals per-region osmium extracts, edges stay
complete, clear errors, and both many-region configs (regions table, parks file) read the cut files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError
from werkland.config import region_settings, validate_config
from werkland.osm_extract import (
    apply_osm_extracts,
    cut_osm_source,
    cutting_tree,
    extent_settings,
    find_osmium,
    plan_osm_extracts,
    region_extents,
    run_osmium_extract,
    widen_lonlat,
    write_extract_config,
)

from ..conftest import LEGEND, ROOT, shared_file

needs_osmium = pytest.mark.skipif(shutil.which("osmium") is None,
                                  reason="needs the osmium command (Debian package osmium-tool); .ci/run installs it")

# Regions of the synthetic file (west, south, east, north); E holds no node.
BOXES = {
    "a": (5.005, 52.005, 5.015, 52.015),
    "b": (5.025, 52.005, 5.035, 52.015),
    "c": (5.045, 52.005, 5.055, 52.015),
    "d": (5.005, 52.000, 5.055, 52.004),
    "e": (5.100, 52.100, 5.101, 52.101),
}
# Objects around region a: a way crossing its east edge, a multipolygon whose outer way crosses the
# edge and whose inner way lies wholly outside, a route relation with a far member, a far closed way.
NODES = {
    101: (5.010, 52.010), 102: (5.020, 52.010), 103: (5.018, 52.0195),                  # crossing way
    201: (5.012, 52.012), 202: (5.022, 52.012), 203: (5.022, 52.0185), 204: (5.012, 52.0185),  # outer
    301: (5.019, 52.016), 302: (5.021, 52.016), 303: (5.021, 52.017), 304: (5.019, 52.017),    # inner
    401: (5.050, 52.0195), 402: (5.052, 52.0195), 403: (5.052, 52.0198),                # far way
}
WAYS = {
    1001: ([101, 102, 103], {"highway": "residential"}),
    1002: ([201, 202, 203, 204, 201], {}),
    1003: ([301, 302, 303, 304, 301], {}),
    1004: ([401, 402, 403, 401], {"landuse": "grass"}),
}
RELATIONS = {
    5001: ([("w", 1002, "outer"), ("w", 1003, "inner")], {"type": "multipolygon", "landuse": "forest"}),
    5002: ([("w", 1001, ""), ("w", 1004, "")], {"type": "route", "route": "bus"}),
}


def _write_osm(path: Path, grid: int = 30) -> Path:
    """An OSM XML file: the objects above plus a grid of small closed landuse ways over all regions."""
    nodes = dict(NODES)
    ways = dict(WAYS)
    nid, wid = 10_000, 20_000
    for i in range(grid):
        for j in range(grid // 3):
            x, y = 5.0 + i * 0.002, 52.0 + j * 0.002
            ring = []
            for dx, dy in ((0, 0), (0.0015, 0), (0.0015, 0.0015), (0, 0.0015)):
                nid += 1
                nodes[nid] = (x + dx, y + dy)
                ring.append(nid)
            wid += 1
            ways[wid] = ([*ring, ring[0]], {"landuse": "industrial" if (i + j) % 2 else "meadow"})
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="werkland-test">']
    for n, (lon, lat) in sorted(nodes.items()):
        lines.append(f'<node id="{n}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for w, (refs, tags) in sorted(ways.items()):
        lines.append(f'<way id="{w}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                     + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    for r, (members, tags) in sorted(RELATIONS.items()):
        kinds = {"n": "node", "w": "way", "r": "relation"}
        lines.append(f'<relation id="{r}" version="1">'
                     + "".join(f'<member type="{kinds[t]}" ref="{m}" role="{role}"/>' for t, m, role in members)
                     + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</relation>")
    lines.append("</osm>")
    xml = path.with_suffix("").with_suffix(".osm")
    xml.write_text("\n".join(lines), encoding="utf-8")
    subprocess.run(["osmium", "cat", str(xml), "-o", str(path), "--overwrite"], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def pbf(tmp_path_factory):
    if shutil.which("osmium") is None:
        pytest.skip("needs the osmium command (Debian package osmium-tool); .ci/run installs it")
    return _write_osm(tmp_path_factory.mktemp("osm") / "shared.osm.pbf")


def _opl(path: Path) -> set[str]:
    """Every object of an OSM file as one OPL line (type, id, metadata, tags, refs/members)."""
    out = subprocess.run(["osmium", "cat", "-f", "opl", str(path)], check=True, capture_output=True, text=True)
    return {ln for ln in out.stdout.splitlines() if ln}


def _ids(path: Path) -> set[str]:
    return {ln.split(" ", 1)[0] for ln in _opl(path)}


def _reference(pbf: Path, box, out: Path) -> Path:
    subprocess.run(["osmium", "extract", "--strategy", "smart", "-b", ",".join(map(str, box)), "-o", str(out),
                    "--overwrite", str(pbf)], check=True, capture_output=True)
    return out


@needs_osmium
@pytest.mark.parametrize("max_per_pass", [8, 2, 1])
def test_one_pass_cut_equals_per_region_extracts(pbf, tmp_path, max_per_pass):
    """Every cut file holds exactly the objects of `osmium extract --strategy smart -b` on its box,
    whether all regions are cut in one pass (8) or through nested group extracts (2) or alone (1)."""
    outputs = {rid: tmp_path / "osm" / f"{rid}.osm.pbf" for rid in BOXES}
    stats = run_osmium_extract(pbf, BOXES, outputs, max_per_pass=max_per_pass)
    assert stats["extracts"] == 5
    assert stats["passes"] == {8: 1, 2: 4, 1: 5}[max_per_pass]
    assert stats["levels"] == {8: 1, 2: 3, 1: 1}[max_per_pass]  # 2: {a,d} + {b,c,e} -> {b,c} + e
    for rid, box in BOXES.items():
        ref = _reference(pbf, box, tmp_path / f"ref-{rid}.osm.pbf")
        assert _opl(outputs[rid]) == _opl(ref), rid
    assert _ids(outputs["e"]) == set()
    assert len(_ids(outputs["a"])) > 50
    # no temporary files are left beside the outputs
    assert sorted(p.name for p in (tmp_path / "osm").iterdir()) == sorted(f"{r}.osm.pbf" for r in BOXES)


@needs_osmium
def test_ways_and_multipolygons_crossing_the_edge_are_complete(pbf, tmp_path):
    out = {"a": tmp_path / "a.osm.pbf", "b": tmp_path / "b.osm.pbf"}
    run_osmium_extract(pbf, {k: BOXES[k] for k in out}, out)
    ids = _ids(out["a"])
    # the way crossing the edge, with its nodes outside the box
    assert {"w1001", "n101", "n102", "n103"} <= ids
    # the multipolygon: its outer way crosses the edge, its inner way lies wholly outside
    assert {"r5001", "w1002", "w1003"} <= ids
    assert {f"n{n}" for n in (201, 202, 203, 204, 301, 302, 303, 304)} <= ids
    # a route relation is kept, but not completed: its far member way is not cut out
    assert "r5002" in ids
    assert not {"w1004", "n401"} & ids
    # region b does not reach the multipolygon's inner ring or the crossing way's end nodes
    assert "n101" not in _ids(out["b"])


def test_missing_osmium_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no osmium
    with pytest.raises(WerklandInputError, match="install osmium-tool"):
        find_osmium()
    (tmp_path / "x.osm.pbf").write_bytes(b"")
    with pytest.raises(WerklandInputError, match="not found on PATH"):
        run_osmium_extract(tmp_path / "x.osm.pbf", {"a": BOXES["a"]}, {"a": tmp_path / "a.osm.pbf"})
    with pytest.raises(WerklandInputError, match="install osmium-tool"):
        cut_osm_source(tmp_path / "x.osm.pbf", {"a": {"clip_lonlat": list(BOXES["a"])}}, {"a": tmp_path / "a.pbf"})


@needs_osmium
def test_osmium_failure_is_an_input_error_and_leaves_no_output(tmp_path):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"this is not a pbf file at all" * 10)
    out = tmp_path / "osm" / "a.osm.pbf"
    with pytest.raises(WerklandInputError, match="osmium extract failed") as err:
        run_osmium_extract(bad, {"a": BOXES["a"]}, {"a": out})
    assert "broken.osm.pbf" in str(err.value)
    assert not out.exists()
    assert list((tmp_path / "osm").iterdir()) == []
    with pytest.raises(WerklandInputError, match="OSM file not found"):
        run_osmium_extract(tmp_path / "nope.osm.pbf", {"a": BOXES["a"]}, {"a": out})


def test_extract_config_json(tmp_path):
    p = write_extract_config(tmp_path / "cfg.json", tmp_path / "out", {"a.osm.pbf": BOXES["a"]})
    assert json.loads(p.read_text()) == {"directory": str(tmp_path / "out"),
                                         "extracts": [{"output": "a.osm.pbf", "bbox": list(BOXES["a"])}]}


def test_cutting_tree_groups_by_location():
    boxes = {f"r{i}": (5.0 + 0.01 * i, 52.0, 5.005 + 0.01 * i, 52.005) for i in range(9)}
    top = cutting_tree(boxes, 2)
    assert len(top) == 2

    def leaves(nodes):
        return [n.name for nd in nodes for n in ([nd] if nd.name else [])] + \
            [x for nd in nodes if nd.name is None for x in leaves(nd.children)]

    assert sorted(leaves(top)) == sorted(boxes)
    # the two groups are the western and the eastern regions, each box covering its members
    west = {n for n in leaves([top[0]])}
    assert west == {f"r{i}" for i in range(4)}
    assert top[0].box == (5.0, 52.0, 5.035, 52.005)


def test_widen_lonlat_is_at_least_the_margin():
    w, s, e, n = widen_lonlat((5.0, 52.0, 5.01, 52.01), 200)
    to_rd = Transformer.from_crs(4326, 28992, always_xy=True)
    x0, y0 = to_rd.transform(5.0, 52.0)
    xw, _ = to_rd.transform(w, 52.0)
    _, ys = to_rd.transform(5.0, s)
    assert 200 <= x0 - xw <= 205 and 200 <= y0 - ys <= 205
    assert e > 5.01 and n > 52.01


# --- configs: regions table and parks file -------------------------------------------------------


def _parks(path: Path) -> Path:
    """Three parks (RD New) inside regions a, b and c of the synthetic file."""
    to_rd = Transformer.from_crs(4326, 28992, always_xy=True)
    geoms = []
    for rid in ("a", "b", "c"):
        w, s, e, n = BOXES[rid]
        cx, cy = to_rd.transform((w + e) / 2, (s + n) / 2)
        geoms.append(shapely.box(cx - 100, cy - 100, cx + 100, cy + 100))
    gpd.GeoDataFrame({"code": ["P-A", "P-B", "P-C"]}, geometry=geoms, crs=28992).to_file(path)
    return path


def _table_config(tmp_path: Path, pbf: Path) -> dict:
    table = tmp_path / "regions.tsv"
    rows = [f"{rid}\t{pbf}\t{','.join(map(str, BOXES[rid]))}" for rid in ("a", "b", "c")]
    table.write_text("region\tland_cover\tclip_lonlat\n" + "\n".join(rows) + "\n")
    return {"regions_table": str(table), "regions": {}, "region_defaults": {"context_buffer_m": 100},
            "osm_extract": {"min_file_mb": 0}}


def _parks_config(tmp_path: Path, pbf: Path) -> dict:
    return {"regions_from_parks": {"file": str(_parks(tmp_path / "parks.gpkg")), "id_field": "code",
                                   "land_cover": [{"type": "osm", "path": str(pbf)}]},
            "regions": {}, "region_defaults": {"context_buffer_m": 100, "resolution_m": 10},
            "osm_extract": {"min_file_mb": 0}}


@pytest.mark.parametrize("kind", ["table", "parks"])
def test_plan_rewrites_the_regions_osm_paths(tmp_path, kind):
    pbf = tmp_path / "nl.osm.pbf"
    pbf.write_bytes(b"x" * 1000)
    cfg = (_table_config if kind == "table" else _parks_config)(tmp_path, pbf)
    regions = region_settings(cfg)
    ids = ["a", "b", "c"] if kind == "table" else ["p-a", "p-b", "p-c"]
    plan = plan_osm_extracts(regions, cfg)
    assert [(g.source, g.id) for g in plan] == [(str(pbf), "nl")]
    assert plan[0].outputs == {rid: f"resources/osm/{rid}.osm.pbf" for rid in ids}
    new = apply_osm_extracts(regions, cfg, plan=plan)
    assert {rid: new[rid]["land_cover"][0]["path"] for rid in ids} == plan[0].outputs
    assert all(regions[rid]["land_cover"][0]["path"] == str(pbf) for rid in ids)  # input not modified
    # files smaller than min_file_mb are read directly
    assert plan_osm_extracts(regions, {**cfg, "osm_extract": {"min_file_mb": 1}}) == []
    # one region cuts only when the file is large
    one = {ids[0]: regions[ids[0]]}
    assert plan_osm_extracts(one, cfg) == []
    assert len(plan_osm_extracts(one, {"osm_extract": {"min_file_mb": 0, "large_file_mb": 0.0005}})) == 1
    assert plan_osm_extracts(regions, {"osm_extract": {"min_file_mb": 0, "enabled": False}}) == []


def test_plan_leaves_regions_without_a_known_extent_and_other_sources(tmp_path):
    pbf = str(tmp_path / "nl.osm.pbf")
    cfg = {"osm_extract": {"min_file_mb": 0}}
    regions = {
        "x": {"land_cover": [{"type": "osm", "path": pbf}], "parks": {"from_landuse": ["industrial"]}},
        "y": {"land_cover": [{"type": "osm", "path": pbf}], "parks": {"from_landuse": ["industrial"]}},
        "z": {"land_cover": [{"type": "osm", "path": pbf}, {"type": "raster", "path": "r.tif", "mapping": {}},
                             {"type": "osm", "path": str(tmp_path / "other.osm.pbf")}],
              "clip_lonlat": list(BOXES["a"])},
        "w": {"land_cover": [{"type": "osm", "path": "./" + os.path.relpath(pbf)}, {"type": "osm", "path": str(
            tmp_path / "other.osm.pbf")}], "clip_lonlat": list(BOXES["b"])},
    }
    plan = plan_osm_extracts(regions, cfg)
    # x and y derive their parks from the whole file: never cut; z and w share both files
    assert [g.id for g in plan] == ["nl", "other"]
    assert plan[0].outputs == {"z": "resources/osm/z.nl.osm.pbf", "w": "resources/osm/w.nl.osm.pbf"}
    new = apply_osm_extracts(regions, cfg)
    assert [s["path"] for s in new["z"]["land_cover"]] == ["resources/osm/z.nl.osm.pbf", "r.tif",
                                                           "resources/osm/z.other.osm.pbf"]
    assert new["x"] is regions["x"]
    with pytest.raises(WerklandInputError, match="unknown key 'margin'"):
        plan_osm_extracts(regions, {"osm_extract": {"margin": 3}})


def test_osm_extract_section_in_the_schema():
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["legend"], cfg["guilds_table"] = str(LEGEND), str(ROOT / "config" / "guilds.yaml")
    out = validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    from werkland.osm_extract import OSM_EXTRACT_DEFAULTS

    assert out["osm_extract"] == OSM_EXTRACT_DEFAULTS
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["legend"], cfg["guilds_table"] = str(LEGEND), str(ROOT / "config" / "guilds.yaml")
    cfg["osm_extract"] = {"max_per_pas": 2}
    with pytest.raises(WerklandInputError, match="max_per_pass"):
        validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")


def test_region_extents_cover_the_landcover_read_box(tmp_path):
    """The cut box contains what the land-cover stage reads (clip box; parks box + buffer + 2 cells)
    by the margin; parks files are read by id (only the wanted parks)."""
    parks = _parks(tmp_path / "parks.gpkg")
    regions = {
        "clip": {"clip_lonlat": list(BOXES["a"]), "parks": {"file": str(parks), "id_field": "code"}},
        "one": {"parks": {"file": str(parks), "id_field": "code", "ids": ["P-B"]}, "context_buffer_m": 300,
                "resolution_m": 10, "crs": "auto"},
        "all": {"parks": {"file": str(parks), "id_field": "code"}, "context_buffer_m": 0},
    }
    ext = region_extents(regions, margin_m=150)
    assert ext["clip"] == widen_lonlat(BOXES["a"], 150)
    rd = CRS.from_epsg(28992)
    gdf = gpd.read_file(parks)
    for rid, sel, buf in (("one", gdf[gdf.code == "P-B"], 300 + 20), ("all", gdf, 0 + 20)):
        read_box = gpd.GeoSeries([shapely.box(*sel.to_crs(rd).total_bounds).buffer(buf)], crs=rd).to_crs(4326)
        bigger = gpd.GeoSeries([shapely.box(*sel.to_crs(rd).total_bounds).buffer(buf + 149)], crs=rd).to_crs(4326)
        assert shapely.box(*ext[rid]).contains(bigger.iloc[0]), rid
        assert shapely.box(*ext[rid]).contains(read_box.iloc[0])
        # and not much more: within 2 x (buffer + margin) of the parks
        too_big = gpd.GeoSeries([shapely.box(*sel.to_crs(rd).total_bounds).buffer(2 * (buf + 150))],
                                crs=rd).to_crs(4326)
        assert too_big.iloc[0].contains(shapely.box(*ext[rid]))
    with pytest.raises(WerklandInputError, match="P-X"):
        region_extents({"x": {"parks": {"file": str(parks), "id_field": "code", "ids": ["P-X"]}}}, margin_m=0)
    with pytest.raises(WerklandInputError, match="neither clip_lonlat nor parks.file"):
        region_extents({"x": {"parks": {"from_landuse": ["industrial"]}}}, margin_m=0)
    with pytest.raises(WerklandInputError, match="empty"):
        region_extents({"x": {"clip_lonlat": [5.1, 52, 5.0, 52.1]}}, margin_m=0)


@needs_osmium
@pytest.mark.parametrize("kind", ["table", "parks"])
def test_both_configs_cut_and_read_the_cut_files(pbf, tmp_path, kind, monkeypatch):
    """regions_table and regions_from_parks: plan, rewrite and cut in one job; each region's file
    holds the objects of its box."""
    monkeypatch.chdir(tmp_path)
    cfg = (_table_config if kind == "table" else _parks_config)(tmp_path, pbf)
    regions = region_settings(cfg)
    (group,) = plan_osm_extracts(regions, cfg)
    new = apply_osm_extracts(regions, cfg, plan=[group])
    res = cut_osm_source(group.source, {r: extent_settings(new[r]) for r in group.regions}, group.outputs,
                         margin_m=50, max_per_pass=2)
    assert res["passes"] == 2 and res["levels"] == 2  # 3 regions, 2 per pass: a group, then its parts
    for rid in group.regions:
        path = Path(new[rid]["land_cover"][0]["path"])
        assert path.is_file()
        ref = _reference(pbf, res["extents"][rid], tmp_path / f"ref-{rid}.osm.pbf")
        assert _opl(path) == _opl(ref)
    first = group.regions[0]
    assert {"w1001", "r5001", "w1003"} <= _ids(Path(group.outputs[first]))  # region a's edge objects


@needs_osmium
def test_landcover_reads_the_same_features_from_the_cut_file(tmp_path):
    """On real OSM data (Delft): werkland's OSM reader returns the same features from a region's cut
    file as from the large file, for the box the land-cover stage reads."""
    from werkland.landcover import read_osm_pbf
    from werkland.tables import load_legend

    big = shared_file("delft-schieoevers-osm", "tudelft.osm.pbf")
    legend = load_legend(LEGEND)
    rd = CRS.from_epsg(28992)
    clip = (4.355, 51.995, 4.386, 52.005)
    out = {"delft": tmp_path / "delft.osm.pbf"}
    res = cut_osm_source(big, {"delft": {"clip_lonlat": list(clip)}}, out, margin_m=200, max_per_pass=1)
    assert out["delft"].stat().st_size < big.stat().st_size
    assert res["passes"] == 1
    a = read_osm_pbf(big, legend=legend, crs=rd, clip_lonlat=clip)
    b = read_osm_pbf(out["delft"], legend=legend, crs=rd, clip_lonlat=clip)
    for name, x, y in (("polygons", a[0], b[0]), ("lines", a[1], b[1])):
        assert len(x) > 1000, name
        assert sorted(x["osm_id"].astype(str)) == sorted(y["osm_id"].astype(str)), name
        assert list(x.columns) == list(y.columns)
        assert abs(x.geometry.area.sum() - y.geometry.area.sum()) <= 1e-6 * x.geometry.area.sum(), name
        assert abs(x.geometry.length.sum() - y.geometry.length.sum()) <= 1e-6 * x.geometry.length.sum(), name
    # the unclassified polygons (parks are derived from their landuse) agree where they have a landuse;
    # the large file adds only relations of type boundary (municipalities, districts) crossing the box,
    # which the smart strategy does not complete (it completes type=multipolygon)
    raw_a, raw_b = a[2], b[2]
    assert sorted(raw_a.loc[raw_a.landuse.notna(), "osm_id"]) == sorted(raw_b.loc[raw_b.landuse.notna(), "osm_id"])
    extra = set(raw_a.osm_id.astype(str)) - set(raw_b.osm_id.astype(str))
    assert not set(raw_b.osm_id.astype(str)) - set(raw_a.osm_id.astype(str))
    import pyogrio

    rel = pyogrio.read_dataframe(big, layer="multipolygons", bbox=clip, columns=["osm_id", "type"],
                                 read_geometry=False)
    assert set(rel.loc[rel.osm_id.astype(str).isin(extra), "type"]) <= {"boundary"}
