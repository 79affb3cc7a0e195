"""Region report and overview: full synthetic outputs, a region without species and candidates, numbers.

The synthetic stage outputs follow docs/architecture.md (and issues 4-7 for barriers, species,
climate and interventions); :func:`make_region` is also used by the browser test.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from pyproj import CRS
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from tests.conftest import GUILDS, LEGEND
from werkland._errors import WerklandInputError
from werkland.raster.io import Grid, write_csv, write_gpkg, write_json, write_raster
from werkland.report import build_overview, build_region_report, fmt_value, park_cards
from werkland.report_i18n import FIGURES, report_files, stage_files, tr

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
        "report": {"language": "en"},
    }
    cfg.update(over)
    return cfg


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
    from werkland import richness

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
    res = build_region_report("synth", root, LEGEND, GUILDS, _config(), out)
    return root, out, res


@pytest.fixture(scope="module")
def empty_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results_empty")
    make_region(root, "bare", full=False)
    out = root / "bare" / "report" / "index.html"
    res = build_region_report("bare", root, LEGEND, GUILDS, _config(), out)
    return root, out, res


def test_full_report_renders_every_section(full_report):
    root, out, res = full_report
    html = out.read_text(encoding="utf-8")
    assert all(s["ok"] for s in res["sections"].values()), {k: s["reason"] for k, s in res["sections"].items() if not s["ok"]}
    for key, (name, _cat) in FIGURES.items():
        png = out.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'id="fig-{key}" data-ok="true"' in html
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "(c) OpenStreetMap contributors, ODbL" in html
    assert "10.15468/dl.test01" in html  # GBIF DOI in the citations
    assert "k = -ln(p0) / d0" in html and "Chao1" in html and "Q = (P - lambda S)^2" in html
    assert re.search(r"[0-9a-f]{64}", html)  # input hashes
    assert "rasterio" in html and "folium" in html  # versions
    assert "budget_eur: 100000" in html  # config as run
    assert (out.parent / "summary.json").is_file() and (out.parent / "map.html").is_file()
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
    from werkland.raster.io import read_raster
    from werkland.tables import load_guilds, load_legend

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
            from rasterio.features import geometry_mask

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
    res = build_region_report("nl-test", tmp_path, LEGEND, GUILDS, _config(report={"language": "nl"}), out,
                              language="nl", qml_styles=False)
    html = out.read_text(encoding="utf-8")
    assert '<html lang="nl">' in html
    assert tr("summary", "nl") in html and "Samenvatting per bedrijventerrein" in html
    assert "geen kandidaten" in html and res["styles"] == []


def test_bad_inputs(tmp_path):
    make_region(tmp_path, "x", full=False)
    with pytest.raises(WerklandInputError, match="report.language"):
        build_region_report("x", tmp_path, LEGEND, GUILDS, _config(), tmp_path / "o.html", language="fr")
    with pytest.raises(WerklandInputError, match="region.gpkg"):
        build_region_report("nope", tmp_path, LEGEND, GUILDS, _config(), tmp_path / "o.html")
    with pytest.raises(WerklandInputError, match="guild"):
        build_region_report("x", tmp_path, LEGEND, GUILDS, _config(guilds=["unicorn"]), tmp_path / "o.html")


def test_region_dir_accepted_as_results_dir(tmp_path):
    d = make_region(tmp_path, "direct", full=False)
    res = build_region_report("direct", d, LEGEND, GUILDS, _config(), d / "report" / "index.html", qml_styles=False)
    assert len(res["parks"]) == 2


def test_overview(full_report, empty_report, tmp_path):
    root1, out1, _ = full_report
    root2, out2, _ = empty_report
    ov = build_overview({"synth": out1, "bare": out2}, tmp_path / "report.html")
    html = ov.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-region="([^"]+)" data-park="([^"]*)"', html)
    assert sorted(rows) == sorted([("synth", "p1"), ("synth", "p2"), ("bare", "p1"), ("bare", "p2")])
    for href in re.findall(r'href="([^"#]+)', html):
        assert (tmp_path / href).resolve().is_file()


def test_barrier_rank_prefers_multi_guild_rank():
    from werkland.report import _rank_column

    df = pd.DataFrame({"rank_hedgehog": [2, 1], "multi_rank": [1, 2]})
    assert _rank_column(df) == "multi_rank"
    assert _rank_column(pd.DataFrame({"rank": [1]})) == "rank"


def test_format_and_layout():
    assert fmt_value(float("nan")) == "-"
    assert fmt_value(0.61234, percent=True) == "61.2 %"
    assert fmt_value(2345.6, "m³", 0) == "2,346 m³"
    files = report_files("demo")
    assert "results/demo/report/index.html" in files and len(files) == 3 + len(FIGURES)
    sf = stage_files("demo", ["hedgehog"], ["70mm_2h"])
    assert "results/demo/graph/hedgehog_summary.json" in sf and "results/demo/climate/runoff_70mm_2h.tif" in sf


def test_cards_without_climate_use_no_nan_text(empty_report):
    root, out, res = empty_report
    from werkland.report import load_region

    data = load_region("bare", root, LEGEND, GUILDS, _config())
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
    from werkland.report import _park_mask, _park_window

    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    full = _park_mask(geom, grid)
    win = _park_window(geom, grid)
    assert win is not None
    rows, cols = win
    assert 0 <= rows.start < rows.stop <= N and 0 <= cols.start < cols.stop <= N
    windowed = _park_mask(geom, grid, win)
    assert windowed.shape == (rows.stop - rows.start, cols.stop - cols.start)
    assert windowed.any()
    np.testing.assert_array_equal(windowed, full[win])
    assert np.count_nonzero(windowed) == np.count_nonzero(full)  # no park cell outside the window


def test_park_window_of_missing_or_outside_park():
    from werkland.report import _park_window

    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    assert _park_window(None, grid) is None
    assert _park_window(Polygon(), grid) is None
    assert _park_window(box(X0 + 1000, Y0, X0 + 1100, Y0 + 100), grid) is None


def test_float_rasters_stay_float32_with_nan_nodata(tmp_path):
    from werkland.report import _read_raster_masked

    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    hab = np.random.default_rng(5).uniform(0, 1, (N, N)).astype(np.float32)
    hab[:3, :4] = -1.0
    write_raster(tmp_path / "h.tif", hab, grid, nodata=-1.0)
    arr, _ = _read_raster_masked(tmp_path / "h.tif")
    assert arr.dtype == np.float32
    assert np.isnan(arr[:3, :4]).all() and np.isfinite(arr).sum() == N * N - 12
    np.testing.assert_array_equal(arr[3:], hab[3:])


def test_link_lines_draw_like_geopandas(tmp_path):
    from matplotlib.figure import Figure

    from werkland.report import _draw_links, _png, _read_links

    rng = np.random.default_rng(7)
    geoms, p_direct = [], []
    for i in range(40):
        pts = [(X0 + rng.uniform(0, 600), Y0 + rng.uniform(0, 600)) for _ in range(int(rng.integers(2, 6)))]
        geoms.append(MultiLineString([pts, pts[::-1][:2]]) if i % 9 == 0 else None if i % 11 == 0 else LineString(pts))
        p_direct.append(np.nan if i % 6 == 0 else rng.uniform(0, 1))
    links = gpd.GeoDataFrame({"link_id": range(40), "p_direct": p_direct}, geometry=geoms, crs=CRS_NL)
    write_gpkg(links, tmp_path / "links.gpkg", "links")
    one = _read_links(tmp_path / "links.gpkg")
    batched = _read_links(tmp_path / "links.gpkg", chunk=7)
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
            _draw_links(ax, one)
        ax.set_xlim(X0, X0 + 600)
        ax.set_ylim(Y0, Y0 + 600)
        pngs.append(_png(fig))
    assert pngs[0] == pngs[1]
