"""Region report and overview: full synthetic outputs, a region without species and candidates, numbers.

The synthetic stage outputs follow docs/architecture.md (the barriers, species,
climate and interventions files included); :func:`make_region` is also used by the browser test.
"""

from __future__ import annotations

import base64
import html as _html
import io
import json
import math
import os
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from branca.element import Element
from matplotlib.figure import Figure
from PIL import Image
from pyproj import CRS
from rasterio.features import geometry_mask
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from tests.conftest import GUILDS, LEGEND
from werkland._errors import WerklandInputError
from werkland.layout import REPORT_FIGURES as FIGURES
from werkland.layout import RegionPaths, style_targets
from werkland.params import ReportParams
from werkland.raster.io import Grid, read_raster, write_csv, write_gpkg, write_json, write_raster
from werkland.report import (
    STRINGS,
    build_overview,
    build_region_report,
    fmt_value,
    kernel_table,
    load_region,
    park_cards,
    pin_element_ids,
    tr,
)
from werkland.report.figures import draw_links, rank_column
from werkland.report.furniture import png
from werkland.report.load import read_links, read_raster_masked
from werkland.species import richness
from werkland.tables import load_guilds, load_legend

CRS_NL = CRS.from_epsg(28992)
TEST_GUILDS = ["hedgehog", "pollinators"]
X0, Y0, RES, N = 85000.0, 446000.0, 10.0, 60  # 600 m x 600 m


def _config(**over) -> dict:
    cfg = {
        "legend": str(LEGEND),
        "guilds_table": str(GUILDS),
        "guilds": list(TEST_GUILDS),
        "connectivity": {"convention": "conefor", "corridor_width_cost": 2000},
        "climate": {"storms": [{"name": "70mm_2h", "depth_mm": 70}, {"name": "140mm_2h", "depth_mm": 140}]},
        "interventions": {"catalogue": "config/interventions.yaml", "budget_eur": 100000},
        "report": {"language": "en", "pdf": False},
    }
    cfg.update(over)
    return cfg


def _params(**over) -> ReportParams:
    return ReportParams.from_config(_config(**over))


def _build(root: Path, region: str, params: ReportParams | None = None, **kw) -> dict:
    """build_region_report of ``root/region`` (the test legend and guild table)."""
    return build_region_report(RegionPaths(root, region), LEGEND, GUILDS, params or _params(), **kw)


def make_region(root: Path, region: str = "synth", *, full: bool = True) -> Path:
    """Write synthetic stage outputs for ``region`` under ``root`` (the results folder).

    ``full=False``: only land cover and habitat, species "no_data" (GBIF unreachable, no cache),
    an empty candidate layer and no other stage outputs.
    """
    d = root / region
    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    region_poly = box(X0, Y0, X0 + N * RES, Y0 + N * RES)
    parks = gpd.GeoDataFrame(
        {"park_id": ["p1", "p2"], "name": ["Noord", "Zuid"], "area_m2": [40000.0, 22500.0]},
        geometry=[box(X0 + 100, Y0 + 350, X0 + 300, Y0 + 550), box(X0 + 350, Y0 + 50, X0 + 500, Y0 + 200)],
        crs=CRS_NL,
    )
    write_gpkg(gpd.GeoDataFrame({"name": ["synth"]}, geometry=[region_poly], crs=CRS_NL), d / "region.gpkg", "region")
    write_gpkg(parks, d / "region.gpkg", "parks", mode="a")
    rng = np.random.default_rng(1)
    lc = np.full((N, N), 13, dtype=np.uint8)  # grass
    lc[5:25, 10:30] = 1  # building in park p1
    lc[40:55, 35:50] = 3  # sealed in park p2
    lc[:, 55:58] = 6  # main road
    lc[30:38, 0:20] = 16  # woodland
    write_raster(d / "landcover.tif", lc, grid, nodata=0)
    lcv = gpd.GeoDataFrame({"class": ["grass"], "source": ["test"], "area_m2": [region_poly.area]}, geometry=[region_poly], crs=CRS_NL)
    write_gpkg(lcv, d / "landcover.gpkg", "landcover")
    for g in TEST_GUILDS:
        hab = rng.uniform(0, 1, (N, N)).astype(np.float32)
        write_raster(d / "habitat" / f"{g}.tif", hab, grid, nodata=-1.0)
        write_raster(d / "resistance" / f"{g}.tif", np.ones((N, N), np.float32), grid, nodata=-1.0)
    if not full:
        sp = d / "species"
        write_json({"status": "no_data", "message": "no species data: GBIF unreachable and no cache", "datasets": [],
                    "doi": None, "mode": "none"}, sp / "citation.json")
        rows = [{"park_id": p, "guild": g, "records": 0, "species": 0, "status": "no_data",
                 "message": "no species data: GBIF unreachable and no cache"} for p in ["p1", "p2", "__region__"]
                for g in ["all", *TEST_GUILDS]]
        write_csv(pd.DataFrame(rows), sp / "counts.csv")
        empty = gpd.GeoDataFrame({"candidate_id": pd.Series(dtype=str), "type": pd.Series(dtype=str),
                                  "park_id": pd.Series(dtype=str)}, geometry=gpd.GeoSeries([], crs=CRS_NL), crs=CRS_NL)
        write_gpkg(empty, d / "interventions" / "candidates.gpkg", "candidates")
        return d
    # connectivity
    for k, g in enumerate(TEST_GUILDS):
        patches = gpd.GeoDataFrame(
            {"patch_id": [1, 2, 3], "area_ha": [1.0, 2.0, 0.5], "quality_ha": [0.8, 1.5, 0.4], "core_ha": [0.5, 1.0, 0.1],
             "perimeter_m": [400.0, 600.0, 300.0], "touches_border": [False, True, False], "dPC": [30.0 + k, 60.0, 10.0],
             "component": [1, 1, 1]},
            geometry=[box(X0 + 150, Y0 + 400, X0 + 250, Y0 + 500), box(X0, Y0 + 230, X0 + 200, Y0 + 320),
                      box(X0 + 400, Y0 + 250, X0 + 450, Y0 + 350)],
            crs=CRS_NL,
        )
        write_gpkg(patches, d / "patches" / f"{g}.gpkg", "patches")
        write_raster(d / "patches" / f"{g}.tif", np.zeros((N, N), np.int32), grid, nodata=0)
        links = gpd.GeoDataFrame(
            {"link_id": [1, 2], "from_id": [1, 2], "to_id": [2, 3], "cost_distance": [120.0, 300.0], "euclid_m": [80.0, 200.0],
             "p_direct": [0.85, 0.66]},
            geometry=[LineString([(X0 + 200, Y0 + 400), (X0 + 100, Y0 + 320)]),
                      LineString([(X0 + 200, Y0 + 280), (X0 + 400, Y0 + 300)])],
            crs=CRS_NL,
        )
        write_gpkg(links, d / "graph" / f"{g}_links.gpkg", "links")
        write_csv(pd.DataFrame({"patch_id": [1, 2, 3], "dPC": [30.0 + k, 60.0, 10.0], "dPC_intra": [10.0, 40.0, 2.0],
                                "dPC_flux": [15.0 + k, 15.0, 6.0], "dPC_connector": [5.0, 5.0, 2.0], "dIIC": [1.0, 2.0, 0.5],
                                "betweenness": [0.0, 1.0, 0.0], "component": [1, 1, 1]}), d / "graph" / f"{g}_metrics.csv")
        write_json({"PC": 0.01, "PCnum": 9.0, "ECA_ha": 3.0 + k, "IIC": 0.005, "n_patches": 3, "n_links": 2, "n_components": 1,
                    "landscape_area_ha": 36.0, "d0_m": 500.0 - 350 * k, "p0": 0.5, "k_per_m": math.log(2) / (500.0 - 350 * k),
                    "convention": "conefor", "warnings": []}, d / "graph" / f"{g}_summary.json")
        corr = np.full((N, N), -1.0, np.float32)
        corr[20:40, 10:20] = rng.uniform(0, 500, (20, 10))
        write_raster(d / "corridors" / f"{g}.tif", corr, grid, nodata=-1.0)
    # barriers
    segs = [LineString([(X0 + 560, Y0 + 50 * i), (X0 + 560, Y0 + 50 * (i + 1))]) for i in range(12)]
    bar = gpd.GeoDataFrame({"segment_id": [f"s{i}" for i in range(12)], "kind": ["road"] * 12, "road_class": ["road_main"] * 12,
                            "length_m": [50.0] * 12, "dECA_ha": np.linspace(1, 0, 12), "rank_hedgehog": list(range(12, 0, -1)),
                            "multi_rank": list(range(1, 13))},
                           geometry=segs, crs=CRS_NL)
    write_gpkg(bar, d / "barriers" / "all_guilds.gpkg", "barriers")
    # species
    pts, pid, sk, sp_name, guild = [], [], [], [], []
    for i in range(60):
        in_p1 = i < 40
        x = X0 + (120 + (i * 7) % 160 if in_p1 else 360 + (i * 5) % 120)
        y = Y0 + (370 + (i * 11) % 160 if in_p1 else 60 + (i * 3) % 120)
        pts.append(Point(x, y))
        pid.append("p1" if in_p1 else "p2")
        key = [1, 1, 1, 2, 2, 3, 4, 5, 6, 7][i % 10]
        sk.append(key)
        sp_name.append(f"Species {key}")
        guild.append("pollinators" if key < 4 else "hedgehog")
    occ = gpd.GeoDataFrame({"gbifID": [str(i) for i in range(60)], "speciesKey": sk, "species": sp_name, "park_id": pid,
                            "guild": guild}, geometry=pts, crs=CRS_NL)
    write_gpkg(occ, d / "species" / "occurrences.gpkg", "occurrences")
    rows = []
    for p in ["p1", "p2", "__region__"]:
        sub = occ if p == "__region__" else occ[occ["park_id"] == p]
        x = sub.groupby("speciesKey").size().to_numpy()
        s = richness.summarise(x)
        rows.append({"park_id": p, "guild": "all", **s, "chao1_variant": "iNEXT bias-corrected", "top_species": "",
                     "status": "ok", "message": ""})
    write_csv(pd.DataFrame(rows), d / "species" / "counts.csv")
    write_json({"status": "ok", "message": "", "mode": "download", "doi": "10.15468/dl.test01",
                "doi_url": "https://doi.org/10.15468/dl.test01", "gbif_citation": "GBIF.org (2026) GBIF Occurrence Download "
                "https://doi.org/10.15468/dl.test01", "datasets": [{"datasetKey": "abc", "records_clean": 60, "license": "CC_BY_4_0",
                "url": "https://www.gbif.org/dataset/abc"}], "n_datasets": 1, "licences_clean_records": {"CC_BY_4_0": 60},
                "commercial_use_note": "no CC BY-NC records among the cleaned records"}, d / "species" / "citation.json")
    # climate
    write_raster(d / "climate" / "cooling.tif", rng.uniform(0, 1, (N, N)).astype(np.float32), grid, nodata=-1.0)
    for s, depth in (("70mm_2h", 70), ("140mm_2h", 140)):
        write_raster(d / "climate" / f"runoff_{s}.tif", rng.uniform(0, depth, (N, N)).astype(np.float32), grid, nodata=-1.0)
    write_csv(pd.DataFrame({
        "park_id": ["p1", "p2"], "name": ["Noord", "Zuid"], "area_m2": [40000.0, 22500.0], "hm_mean": [0.123456, 0.4321],
        "hm_below_threshold_share": [0.75, 0.2], "buildings_near_cool_spot_share": [0.5, 1.0], "sealed_share": [0.61234, 0.3],
        "storage_needed_m3": [1234.5, 0.0], "excess_70mm_2h_m3": [2345.6, 345.6], "excess_70mm_2h_mm": [58.64, 15.36],
        "excess_140mm_2h_m3": [4567.8, 789.0], "excess_140mm_2h_mm": [114.2, 35.07], "note": ["", ""],
    }), d / "climate" / "summary.csv")
    # interventions
    types = ["green_roof", "hedgerow", "depaving", "flower_meadow", "wadi", "tree_row", "pond"]
    cands = []
    for i in range(14):
        park = "p1" if i % 2 == 0 else "p2"
        bx = (X0 + 110 + 12 * (i // 2), Y0 + 360) if park == "p1" else (X0 + 360 + 12 * (i // 2), Y0 + 60)
        cands.append({"candidate_id": f"c{i:02d}", "type": types[i % 7], "park_id": park, "size": 100.0 + i, "cost_eur": 5000.0 + 1000 * i,
                      "d_eca_ha_hedgehog": 0.01 * i, "d_eca_ha_pollinators": 0.002 * i, "d_habitat_ha": 0.05 * i, "d_hm": 0.3 + i,
                      "d_retained_m3": 10.0 * i, "score_bio": (i % 5) / 5, "score_climate": ((i * 3) % 7) / 7,
                      "score": 0.1 * (14 - i), "score_per_keur": 0.01, "rank": i + 1, "selected": i < 9, "pareto": i in (0, 3, 5),
                      "geometry": box(bx[0], bx[1], bx[0] + 10, bx[1] + 10)})
    write_gpkg(gpd.GeoDataFrame(cands, crs=CRS_NL), d / "interventions" / "candidates.gpkg", "candidates")
    sel = [c for c in cands if c["selected"]]
    write_csv(pd.DataFrame({"candidate_id": [c["candidate_id"] for c in sel], "cost_eur": [c["cost_eur"] for c in sel],
                            "score": [c["score"] for c in sel]}), d / "interventions" / "portfolio.csv")
    return d


def _values(html: str) -> dict[str, float]:
    """data-key -> float(data-value) of every number in the HTML."""
    out = {}
    for k, v in re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', html):
        out[_html.unescape(k)] = float(v)
    return out


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    make_region(root, "synth", full=True)
    out = root / "synth" / "report" / "index.html"
    res = _build(root, "synth")
    return root, out, res


@pytest.fixture(scope="module")
def empty_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results_empty")
    make_region(root, "bare", full=False)
    out = root / "bare" / "report" / "index.html"
    res = _build(root, "bare")
    return root, out, res


def test_full_report_renders_every_section(full_report):
    root, out, res = full_report
    html = out.read_text(encoding="utf-8")
    assert all(s["ok"] for s in res["sections"].values()), {k: s["reason"] for k, s in res["sections"].items() if not s["ok"]}
    for key, (name, _cat) in FIGURES.items():
        png = out.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'id="fig-{key}" data-ok="true"' in html
    assert html.count("data:image/png;base64,") == len(FIGURES) + 1  # + the map of where to act first
    assert "(c) OpenStreetMap contributors, ODbL" in html
    assert "10.15468/dl.test01" in html  # GBIF DOI in the citations
    assert "k = -ln(p0) / d0" in html and "Chao1" in html and "Q = (P - lambda S)^2" in html
    assert re.search(r"[0-9a-f]{64}", html)  # input hashes
    assert "rasterio" in html and "folium" in html  # versions
    assert "budget_eur: 100000" in html  # config as run
    assert (out.parent / "summary.json").is_file() and (out.parent / "map.html").is_file()
    # the web map's raster overlays are lossless RGBA PNGs with something drawn on them
    web = (out.parent / "map.html").read_text(encoding="utf-8")
    overlays = [base64.b64decode(u) for u in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]{2000,})", web)]
    assert overlays
    for data in overlays:
        im = Image.open(io.BytesIO(data))
        assert im.format == "PNG" and im.mode == "RGBA" and np.asarray(im)[..., 3].max() > 0
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html)
    assert res["styles"] and all(Path(p).suffix == ".qml" for p in res["styles"])
    assert (root / "synth" / "landcover.qml").is_file() and (root / "synth" / "habitat" / "hedgehog.qml").is_file()


def test_summary_card_numbers_equal_stage_outputs(full_report):
    root, out, res = full_report
    d = root / "synth"
    vals = _values(out.read_text(encoding="utf-8"))
    clim = pd.read_csv(d / "climate" / "summary.csv", dtype={"park_id": str}).set_index("park_id")
    counts = pd.read_csv(d / "species" / "counts.csv", dtype={"park_id": str})
    cands = gpd.read_file(d / "interventions" / "candidates.gpkg")
    parks = gpd.read_file(d / "region.gpkg", layer="parks")
    guilds = load_guilds(GUILDS, load_legend(LEGEND))
    checked = 0
    for _, park in parks.iterrows():
        pid = park["park_id"]
        assert vals[f"{pid}:area_ha"] == pytest.approx(park["area_m2"] / 1e4)
        assert vals[f"{pid}:sealed_share"] == clim.loc[pid, "sealed_share"]
        for k in ("hm_mean", "hm_below_threshold_share", "buildings_near_cool_spot_share", "storage_needed_m3"):
            assert vals[f"{pid}:{k}"] == clim.loc[pid, k]
        for s in ("70mm_2h", "140mm_2h"):
            assert vals[f"{pid}:excess_m3:{s}"] == clim.loc[pid, f"excess_{s}_m3"]
            assert vals[f"{pid}:excess_mm:{s}"] == clim.loc[pid, f"excess_{s}_mm"]
        row = counts[(counts["park_id"] == pid) & (counts["guild"] == "all")].iloc[0]
        for k in ("records", "species", "chao1", "coverage"):
            assert vals[f"{pid}:{k}"] == pytest.approx(float(row[k]), rel=1e-12)
        for g in TEST_GUILDS:
            summ = json.loads((d / "graph" / f"{g}_summary.json").read_text())
            assert vals[f"{pid}:eca_ha:{g}"] == summ["ECA_ha"]
            patches = gpd.read_file(d / "patches" / f"{g}.gpkg")
            assert vals[f"{pid}:dpc_park:{g}"] == pytest.approx(patches[patches.intersects(park.geometry)]["dPC"].sum())
            arr, grid, _ = read_raster(d / "habitat" / f"{g}.tif")
            m = geometry_mask([park.geometry], out_shape=grid.shape, transform=grid.transform, invert=True)
            expect = np.count_nonzero(m & (arr >= guilds[g].suitability_threshold)) * grid.cell_area_m2 / 1e4
            assert vals[f"{pid}:habitat_ha:{g}"] == pytest.approx(expect)
        mine = cands[cands["park_id"] == pid].sort_values("rank")
        top = pd.concat([mine[mine["selected"]], mine[~mine["selected"]]]).head(5)  # selected first, by rank
        shown = [k.split(":")[2] for k in vals if k.startswith(f"{pid}:measure:") and k.endswith(":rank")]
        assert shown == top["candidate_id"].tolist()
        for _, c in top.iterrows():
            cid = c["candidate_id"]
            for k in ("rank", "size", "cost_eur", "d_habitat_ha", "d_hm", "d_retained_m3"):
                assert vals[f"{pid}:measure:{cid}:{k}"] == pytest.approx(float(c[k]))
            assert vals[f"{pid}:measure:{cid}:d_eca_ha"] == pytest.approx(c["d_eca_ha_hedgehog"] + c["d_eca_ha_pollinators"])
            checked += 1
    assert checked > 0
    # kernel table: values used by the connectivity stage
    for g in TEST_GUILDS:
        summ = json.loads((d / "graph" / f"{g}_summary.json").read_text())
        assert vals[f"kernel:{g}:d0_m"] == summ["d0_m"] and vals[f"kernel:{g}:k_per_m"] == summ["k_per_m"]
    # summary.json carries the same numbers
    s = json.loads((out.parent / "summary.json").read_text())
    assert s["parks"][0]["sealed"]["sealed_share"] == clim.loc[s["parks"][0]["park_id"], "sealed_share"]


def test_region_without_species_and_candidates_says_why(empty_report):
    root, out, res = empty_report
    html = _html.unescape(out.read_text(encoding="utf-8"))
    secs = res["sections"]
    assert secs["map_landcover"]["ok"] and secs["map_habitat"]["ok"]
    assert not secs["map_species"]["ok"] and "no species data: GBIF unreachable and no cache" in secs["map_species"]["reason"]
    assert not secs["plot_rarefaction"]["ok"]
    assert not secs["map_interventions"]["ok"] and secs["map_interventions"]["reason"] == "no candidates"
    assert secs["plot_pareto"]["reason"] == "no candidates" and secs["plot_budget"]["reason"] == "no candidates"
    assert "not computed in this run: bare/barriers/all_guilds.gpkg is missing" in secs["map_barriers"]["reason"]
    assert "not computed in this run: bare/climate/cooling.tif is missing" in secs["map_climate"]["reason"]
    assert "no species data: GBIF unreachable and no cache" in html
    assert "no candidates" in html
    for card in res["parks"]:
        assert card["species"]["reason"].startswith("no species data")
        assert card["measures"]["rows"] == [] and card["measures"]["reason"] == "no candidates"
        assert math.isnan(card["sealed"]["sealed_share"]) and "climate/summary.csv" in card["sealed"]["reason"]
    assert (out.parent / "map.html").is_file()
    for _key, (name, _c) in FIGURES.items():
        assert (out.parent / name).stat().st_size > 1000


def test_dutch_report(tmp_path):
    make_region(tmp_path, "nl-test", full=False)
    out = tmp_path / "nl-test" / "report" / "index.html"
    res = _build(tmp_path, "nl-test", _params(report={"language": "nl", "pdf": False}), qml_styles=False)
    html = out.read_text(encoding="utf-8")
    assert '<html lang="nl">' in html
    assert tr("summary", "nl") in html and "Samenvatting per bedrijventerrein" in html
    assert "geen kandidaten" in html and res["styles"] == []


def test_bad_inputs(tmp_path):
    make_region(tmp_path, "x", full=False)
    with pytest.raises(WerklandInputError, match="report.language"):
        _build(tmp_path, "x", _params(report={"language": "fr"}))
    with pytest.raises(WerklandInputError, match="region.gpkg"):
        _build(tmp_path, "nope")
    with pytest.raises(WerklandInputError, match="guild"):
        _build(tmp_path, "x", _params(guilds=["unicorn"]))


def test_outputs_are_the_layouts_report_files(tmp_path):
    """The report writes exactly the files RegionPaths names for its stage, wherever the results root is."""
    root = tmp_path / "elsewhere" / "results"
    d = make_region(root, "direct", full=False)
    paths = RegionPaths(root, "direct")
    res = build_region_report(paths, LEGEND, GUILDS, _params())
    assert len(res["parks"]) == 2
    storms = ["70mm_2h", "140mm_2h"]
    expected = paths.stage_outputs("report", TEST_GUILDS, storms)
    assert all(p.is_file() for p in expected), [p for p in expected if not p.is_file()]
    written = {Path(p) for p in [*res["files"], *res["styles"]]} | {paths.report_summary}
    assert written == set(expected)
    assert sorted(d.joinpath("report").iterdir()) == sorted(p for p in expected if p.parent == d / "report")


def test_overview(full_report, empty_report, tmp_path):
    root1, out1, _ = full_report
    root2, out2, _ = empty_report
    ov = build_overview({"synth": out1, "bare": out2}, tmp_path / "report.html")
    html = ov.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-region="([^"]+)" data-park="([^"]*)"', html)
    assert sorted(rows) == sorted([("synth", "p1"), ("synth", "p2"), ("bare", "p1"), ("bare", "p2")])
    for href in re.findall(r'href="([^"#]+)', html):
        assert (tmp_path / href).resolve().is_file()
    # the overview's date is the newest date its region reports state (reproducible, no clock)
    stated = [re.search(r"&middot; ([0-9-]+ [0-9:]+ UTC)</footer>", p.read_text(encoding="utf-8")).group(1)
              for p in (out1, out2)]
    assert f"&middot; {max(stated)}</p>" in html
    again = build_overview({"synth": out1, "bare": out2}, tmp_path / "report2.html")
    assert again.read_bytes() == ov.read_bytes()


def test_barrier_rank_prefers_multi_guild_rank():
    df = pd.DataFrame({"rank_hedgehog": [2, 1], "multi_rank": [1, 2]})
    assert rank_column(df) == "multi_rank"
    assert rank_column(pd.DataFrame({"rank": [1]})) == "rank"


def test_format_and_layout():
    assert fmt_value(float("nan")) == "-"
    assert fmt_value(0.61234, percent=True) == "61.2 %"
    assert fmt_value(2345.6, "m³", 0) == "2,346 m³"
    paths = RegionPaths("results", "demo")
    files = [p.as_posix() for p in paths.stage_outputs("report", ["hedgehog"], ["70mm_2h"])]
    n_styles = len(style_targets(["hedgehog"], ["70mm_2h"]))
    assert "results/demo/report/index.html" in files and len(files) == 4 + len(FIGURES) + n_styles
    assert "results/demo/report/measures.xlsx" in files and "results/demo/report/summary.pdf" not in files
    with_pdf = [p.as_posix() for p in paths.stage_outputs("report", ["hedgehog"], ["70mm_2h"], pdf=True)]
    assert set(with_pdf) - set(files) == {"results/demo/report/summary.pdf"}
    sf = [p.as_posix() for p in paths.report_inputs(["hedgehog"], ["70mm_2h"])]
    assert "results/demo/graph/hedgehog_summary.json" in sf and "results/demo/climate/runoff_70mm_2h.tif" in sf


def test_cards_without_climate_use_no_nan_text(empty_report):
    root, out, res = empty_report
    data = load_region(RegionPaths(root, "bare"), LEGEND, GUILDS, _params())
    cards = park_cards(data)
    assert [c["park_id"] for c in cards] == ["p1", "p2"]
    html = out.read_text(encoding="utf-8")
    assert ">nan<" not in html.lower()


@pytest.mark.parametrize(
    "geom",
    [
        box(X0 - 55, Y0 + 480, X0 + 123, Y0 + 660),  # crosses the west and north edges of the grid
        box(X0 + 105, Y0 + 205, X0 + 255, Y0 + 305),  # inside; edges through cell centres
        Polygon([(X0 + 212.3, Y0 + 101.7), (X0 + 431.9, Y0 + 188.2), (X0 + 305.5, Y0 + 377.7)]),  # inside, oblique
        box(X0 + 520, Y0 - 40, X0 + 640, Y0 + 33),  # crosses the east and south edges
    ],
)
def test_windowed_park_mask_equals_cropped_full_grid_mask(geom):
    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    full = grid.mask_of(geom)
    win = grid.window_of(geom, margin_cells=1)  # the window the park cards count in
    assert win is not None
    rows, cols = win
    assert 0 <= rows.start < rows.stop <= N and 0 <= cols.start < cols.stop <= N
    windowed = grid.mask_of(geom, win)
    assert windowed.shape == (rows.stop - rows.start, cols.stop - cols.start)
    assert windowed.any()
    np.testing.assert_array_equal(windowed, full[win])
    assert np.count_nonzero(windowed) == np.count_nonzero(full)  # no park cell outside the window


def test_park_window_of_missing_or_outside_park():
    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    assert grid.window_of(None, margin_cells=1) is None
    assert grid.window_of(Polygon(), margin_cells=1) is None
    assert grid.window_of(box(X0 + 1000, Y0, X0 + 1100, Y0 + 100), margin_cells=1) is None


def test_float_rasters_stay_float32_with_nan_nodata(tmp_path):
    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    hab = np.random.default_rng(5).uniform(0, 1, (N, N)).astype(np.float32)
    hab[:3, :4] = -1.0
    write_raster(tmp_path / "h.tif", hab, grid, nodata=-1.0)
    arr, _ = read_raster_masked(tmp_path / "h.tif")
    assert arr.dtype == np.float32
    assert np.isnan(arr[:3, :4]).all() and np.isfinite(arr).sum() == N * N - 12
    np.testing.assert_array_equal(arr[3:], hab[3:])


def test_link_lines_draw_like_geopandas(tmp_path):
    rng = np.random.default_rng(7)
    geoms, p_direct = [], []
    for i in range(40):
        pts = [(X0 + rng.uniform(0, 600), Y0 + rng.uniform(0, 600)) for _ in range(int(rng.integers(2, 6)))]
        geoms.append(MultiLineString([pts, pts[::-1][:2]]) if i % 9 == 0 else None if i % 11 == 0 else LineString(pts))
        p_direct.append(np.nan if i % 6 == 0 else rng.uniform(0, 1))
    links = gpd.GeoDataFrame({"link_id": range(40), "p_direct": p_direct}, geometry=geoms, crs=CRS_NL)
    write_gpkg(links, tmp_path / "links.gpkg", "links")
    one = read_links(tmp_path / "links.gpkg")
    batched = read_links(tmp_path / "links.gpkg", chunk=7)
    assert len(one) == len(batched) == 40
    assert len(one.segments) == len(batched.segments) == len(one.linewidths)
    assert all(np.array_equal(a, b) for a, b in zip(one.segments, batched.segments, strict=True))
    np.testing.assert_array_equal(one.linewidths, batched.linewidths)
    pngs = []
    for draw in ("geopandas", "werkland"):
        fig = Figure(figsize=(4, 4))
        ax = fig.subplots()
        ax.set_xlabel("x")  # fig_patches draws the links after the patches, which set the axis labels
        ax.set_ylabel("y")
        if draw == "geopandas":
            lv = gpd.read_file(tmp_path / "links.gpkg", layer="links")
            pdir = pd.to_numeric(lv["p_direct"], errors="coerce").fillna(0)
            lv.plot(ax=ax, color="#08306b", linewidth=(0.3 + 2.0 * pdir).to_numpy(), alpha=0.8, zorder=4)
        else:
            ax.set_aspect("equal")
            draw_links(ax, one)
        ax.set_xlim(X0, X0 + 600)
        ax.set_ylim(Y0, Y0 + 600)
        pngs.append(png(fig))
    assert pngs[0] == pngs[1]


# --------------------------------------------------------------------------------------------
# kernel table, reproducibility, Dutch texts, parameters


def test_kernel_fallback_follows_the_configured_convention(tmp_path):
    """Without graph/{guild}_summary.json the kernel row comes from Guild.kernel(convention):
    under Graphab p0 = 0.05 and k = ln(20) / d0, never the guild table's Conefor p0 under a Graphab label."""
    make_region(tmp_path, "gb", full=False)  # no connectivity outputs
    params = _params(connectivity={"convention": "graphab", "corridor_width_cost": None})
    out = tmp_path / "gb" / "report" / "index.html"
    _build(tmp_path, "gb", params, qml_styles=False)
    vals = _values(out.read_text(encoding="utf-8"))
    table = load_guilds(GUILDS, load_legend(LEGEND))
    for g in TEST_GUILDS:
        d0 = table[g].d0_m
        assert vals[f"kernel:{g}:d0_m"] == d0
        assert vals[f"kernel:{g}:p0"] == 0.05
        assert vals[f"kernel:{g}:k_per_m"] == pytest.approx(math.log(20) / d0, rel=1e-12)
    rows = kernel_table(load_region(RegionPaths(tmp_path, "gb"), LEGEND, GUILDS, params))
    assert {r["convention"] for r in rows} == {"graphab"} and {r["p0"] for r in rows} == {0.05}
    conefor = kernel_table(load_region(RegionPaths(tmp_path, "gb"), LEGEND, GUILDS, _params()))
    assert [r["p0"] for r in conefor] == [table[g].p0 for g in TEST_GUILDS]
    assert [r["k_per_m"] for r in conefor] == pytest.approx([table[g].k_per_m for g in TEST_GUILDS])


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_rebuild_writes_every_file_byte_for_byte_the_same(tmp_path, monkeypatch):
    """Same inputs, same bytes: index.html (date), map.html (element ids), PNGs, summary, styles."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    d = make_region(tmp_path, "synth", full=True)
    _build(tmp_path, "synth")
    first = _snapshot(d)
    assert "report/map.html" in first and "report/index.html" in first and "landcover.qml" in first
    _build(tmp_path, "synth")
    second = _snapshot(d)
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_generation_time_from_source_date_epoch_or_newest_input(tmp_path, monkeypatch):
    d = make_region(tmp_path, "t", full=False)
    out = d / "report" / "index.html"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    _build(tmp_path, "t", qml_styles=False)
    assert "Generated 2001-09-09 01:46 UTC by werkland" in out.read_text(encoding="utf-8")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    stamp = 2_000_000_000  # 2033-05-18 03:33:20 UTC: the newest input
    for p in d.rglob("*"):
        if p.is_file():
            os.utime(p, (stamp - 3600, stamp - 3600))
    for p in (Path(LEGEND), Path(GUILDS)):
        assert p.stat().st_mtime < stamp - 3600  # the shared tables are older than the stamp
    os.utime(d / "habitat" / "hedgehog.tif", (stamp, stamp))
    _build(tmp_path, "t", qml_styles=False)
    assert "Generated 2033-05-18 03:33 UTC by werkland" in out.read_text(encoding="utf-8")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(WerklandInputError, match="SOURCE_DATE_EPOCH"):
        _build(tmp_path, "t", qml_styles=False)


def test_pinned_folium_ids_are_derived_from_the_tree():
    def tree_ids(el: Element, out: set[str]) -> set[str]:
        out.add(el._id)
        for v in [*vars(el).values(), *el._children.values()]:
            if isinstance(v, Element) and v is not el._parent and v._id not in out:
                tree_ids(v, out)
        return out

    def render(pin: bool) -> tuple[str, set[str]]:
        m = folium.Map(location=[52.0, 4.4], tiles=None, zoom_start=12)
        folium.GeoJson({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"a": 1}, "geometry": {"type": "Point", "coordinates": [4.4, 52.0]}}]},
            name="pts", tooltip=folium.GeoJsonTooltip(fields=["a"])).add_to(m)
        folium.LayerControl().add_to(m)
        root = m.get_root()
        if pin:
            assert pin_element_ids(root) > 3
        ids = tree_ids(root, set())  # before rendering, which may add elements of its own
        return root.render(), ids

    assert render(False)[0] != render(False)[0]  # branca's ids are random
    (a, ids_a), (b, ids_b) = render(True), render(True)
    assert a == b and ids_a == ids_b
    in_page = set(re.findall(r"[0-9a-f]{32}", a))
    assert len(in_page) >= 3 and in_page <= ids_a  # every id in the page is a pinned one


def test_every_text_has_english_and_dutch():
    missing = {k: sorted({"en", "nl"} - {lang for lang, text in v.items() if text}) for k, v in STRINGS.items()}
    assert {k: v for k, v in missing.items() if v} == {}


def test_dutch_report_shows_dutch_where_english_was(tmp_path):
    make_region(tmp_path, "nl", full=True)
    res = _build(tmp_path, "nl", _params(report={"language": "nl", "pdf": False}), qml_styles=False)
    page = (tmp_path / "nl" / "report" / "index.html").read_text(encoding="utf-8")
    html = _html.unescape(page[: page.index("<pre translate=\"no\">")])  # the config as run is printed as it is
    for key in ("guild_all", "col_d0", "col_k", "convention", "f_cost_distance", "f_barrier", "f_heat"):
        assert STRINGS[key]["en"] not in html, key
        assert STRINGS[key]["nl"] in html, key
    assert "omvang in m², m of stuks" in html
    assert all(s["ok"] for s in res["sections"].values())
    make_region(tmp_path / "b", "bare", full=False)
    bare = _build(tmp_path / "b", "bare", _params(report={"language": "nl", "pdf": False}), qml_styles=False)
    assert bare["sections"]["map_species"]["reason"] == "geen soortgegevens: GBIF onbereikbaar en geen cache"
    assert bare["parks"][0]["measures"]["reason"] == "geen kandidaten"
    assert "niet berekend in deze run: bare/barriers/all_guilds.gpkg ontbreekt" in bare["sections"]["map_barriers"]["reason"]
    nl_map = (tmp_path / "nl" / "report" / "map.html").read_text(encoding="utf-8")
    assert '"terrein", "naam", "oppervlakte (ha)", "verhard (%)", "gemiddelde HM"' in nl_map


def test_report_params_round_trip_and_fields():
    p = _params()
    assert ReportParams.from_dict(p.as_dict()) == p
    assert p.storm_names == ["70mm_2h", "140mm_2h"] and p.guilds == tuple(TEST_GUILDS)
    assert p.budget_eur == 100000.0 and p.corridor_width_cost == 2000.0 and p.convention == "conefor"
    assert p.config_as_run["interventions"]["budget_eur"] == 100000
    with pytest.raises(WerklandInputError, match="unknown"):
        ReportParams.from_dict({**p.as_dict(), "langauge": "nl"})


def test_png_skips_images_and_collections_in_the_layout_pass_with_the_same_bytes():
    """``png`` draws a figure's images and collections once (not in the tight box's layout pass): the
    same bytes as ``savefig(bbox_inches="tight")``, half the image resampling, and the artists'
    own ``draw`` back afterwards. An unclipped image (which could widen the box) is drawn in both."""
    from matplotlib.collections import LineCollection

    from werkland.report.furniture import DPI, png

    def figure() -> tuple[Figure, list]:
        fig = Figure(figsize=(5, 3))
        ax1, ax2 = fig.subplots(1, 2)
        im = ax1.imshow(np.arange(400.0).reshape(20, 20), cmap="viridis")
        fig.colorbar(im, ax=ax1, label="value (m)")
        ax2.add_collection(LineCollection([[(0, 0), (1, 1)], [(0, 1), (1, 0)]], linewidths=[1, 3]))
        free = ax2.imshow(np.eye(4), extent=(0.2, 0.4, 0.2, 0.4))
        free.set_clip_on(False)
        ax2.set_title("links")
        return fig, [im, free]

    calls: dict[int, int] = {}

    def counting(images: list) -> None:
        for im in images:
            real = type(im).make_image

            def make_image(renderer, *a, _im=im, _real=real, **k):
                calls[id(_im)] = calls.get(id(_im), 0) + 1
                return _real(_im, renderer, *a, **k)

            im.make_image = make_image

    fig, images = figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    fig2, images2 = figure()
    counting(images2)
    assert png(fig2) == buf.getvalue()
    clipped, free = images2
    assert calls[id(clipped)] == 1  # drawn once: not in the layout pass
    assert calls[id(free)] == 2  # unclipped: drawn in both passes
    assert all("draw" not in vars(a) for ax in fig2.axes for a in (*ax.images, *ax.collections))
