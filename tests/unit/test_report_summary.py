"""Region summary, measures.xlsx, summary.pdf, GeoPackage layer_styles and Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

import datetime as _dt
import html as _html
import os
import re
import shutil
import sqlite3
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from openpyxl import load_workbook
from pyproj import CRS
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import LineString, box

from tests.conftest import GUILDS, LEGEND
from tests.unit.test_report import _build, _params, make_region
from werkland._errors import WerklandInputError
from werkland.layout import RegionPaths
from werkland.params import ReportParams
from werkland.params.report import find_chromium, plan_names
from werkland.raster.io import Grid, raster_writer, write_csv, write_gpkg_layers, write_raster
from werkland.report.export import print_pdf
from werkland.report.gpkg_styles import (
    LAYER_STYLES_COLUMNS,
    StyleRow,
    read_layer_styles,
    write_layer_styles,
)
from werkland.report.load import load_region
from werkland.report.summary import region_summary, selected_measures

CRS_NL = CRS.from_epsg(28992)


def _values(page: str) -> dict[str, float]:
    return {_html.unescape(k): float(v) for k, v in re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', page)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("summary")
    d = make_region(root, "synth", full=True)
    # a portfolio with the stage's gain columns (pick order differs from the candidates' rank)
    cands = gpd.read_file(d / "interventions" / "candidates.gpkg", layer="candidates")
    sel = cands[cands["selected"]].sort_values("rank", ascending=False)
    port = pd.DataFrame({"order": range(1, len(sel) + 1), "candidate_id": sel["candidate_id"], "type": sel["type"],
                         "park_id": sel["park_id"], "size": sel["size"], "size_unit": "m2", "cost_eur": sel["cost_eur"],
                         "d_eca_ha_hedgehog": sel["d_eca_ha_hedgehog"], "d_eca_ha_pollinators": sel["d_eca_ha_pollinators"],
                         "d_habitat_ha": sel["d_habitat_ha"], "d_hm": sel["d_hm"], "d_retained_m3": sel["d_retained_m3"]})
    write_csv(port, d / "interventions" / "portfolio.csv")
    write_csv(pd.DataFrame({"park_id": ["p1", "p2"], "name": ["Noord", "Zuid"], "n_selected": [5, 4],
                            "cost_selected_eur": [1.0, 2.0], "d_retained_m3": [3.0, 4.0], "storage_needed_m3": [5.0, 6.0]}),
              d / "interventions" / "park_totals.csv")
    write_csv(pd.DataFrame({"n_measures": [7], "cost_eur": [90000.0], "score": [0.4], "optimum_score": [0.5],
                            "attainment_pct": [80.0], "interaction_score": [0.0], "optimum_n_measures": [6],
                            "n_swapped_in": [1]}), d / "plans" / "cheap.csv")
    params = _params(regions={"synth": {"plans": ["cheap", "absent"]}}, report={"language": "nl", "pdf": False})
    res = _build(root, "synth", params)
    return root, d, port, res, params


def test_summary_opens_the_report_with_the_portfolio_and_baseline(built):
    root, d, port, _res, params = built
    page = (d / "report" / "index.html").read_text(encoding="utf-8")
    main = page[page.index("<main>"):]
    assert main.index('id="region"') < main.index('id="summary"') < main.index('id="maps"')
    vals = _values(page)
    for g in ("hedgehog", "pollinators"):
        assert vals[f"region:gain_eca_ha:{g}"] == pytest.approx(port[f"d_eca_ha_{g}"].sum())
    assert vals["region:gain_habitat_ha"] == pytest.approx(port["d_habitat_ha"].sum())
    assert vals["region:gain_retained_m3"] == pytest.approx(port["d_retained_m3"].sum())
    assert vals["region:gain_hm"] == pytest.approx(port["d_hm"].sum())
    # the top measures in pick order, not rank order; park links point at the cards
    first = port["candidate_id"].iloc[0]
    assert vals[f"region:top:{first}:cost_eur"] == pytest.approx(port["cost_eur"].iloc[0])
    rows = re.findall(r'<tr data-candidate="(c\d\d)"><td class="num">(\d+)</td>', page)
    assert [c for c, _ in rows[:3]] == port["candidate_id"].tolist()[:3]
    assert 'href="#park-p1"' in page and 'id="park-p1"' in page
    # baseline: runoff excess of the first storm summed, hot share area-weighted, species of the region
    clim = pd.read_csv(d / "climate" / "summary.csv")
    assert vals["region:baseline:runoff"] == pytest.approx(clim["excess_70mm_2h_m3"].sum())
    hot = (clim["hm_below_threshold_share"] * clim["area_m2"]).sum() / clim["area_m2"].sum()
    assert vals["region:baseline:hot"] == pytest.approx(hot)
    counts = pd.read_csv(d / "species" / "counts.csv")
    assert vals["region:baseline:species"] == counts[(counts.park_id == "__region__") & (counts.guild == "all")]["species"].iloc[0]
    assert vals["region:baseline:barriers"] == 12
    # plans: the configured one with its attainment, the absent one says why
    assert vals["region:plan:cheap:attainment_pct"] == 80.0
    assert 'data-plan="absent"' in page and "synth/plans/absent.csv ontbreekt" in page
    assert params.plans == {"synth": ["cheap", "absent"]}


def test_summary_without_candidates_says_why(tmp_path):
    make_region(tmp_path, "bare", full=False)
    data = load_region(RegionPaths(tmp_path, "bare"), LEGEND, GUILDS, _params())
    m = selected_measures(data)
    assert m is not None and m.empty
    s = region_summary(data, m)
    assert s["portfolio"]["reason"] == "no candidates" and s["portfolio"]["rows"] == []
    assert s["plans"] == {"rows": [], "configured": False}
    base = {b["key"]: b for b in s["baseline"]}
    assert "barriers/all_guilds.gpkg is missing" in base["barriers"]["reason"]
    assert np.isnan(base["runoff"]["value"]) and base["runoff"]["reason"]


def test_plan_names_from_regions_and_defaults():
    cfg = {"region_defaults": {"plans": ["base"]},
           "regions": {"a": {"plans": {"x": {}, "y": {}}}, "b": {}, "c": {"plans": [{"name": "z"}]}, "d": {"plans": []}}}
    assert plan_names(cfg) == {"a": ["x", "y"], "b": ["base"], "c": ["z"]}
    p = ReportParams.from_config({**_params().config_as_run, "regions": cfg["regions"]})
    assert ReportParams.from_dict(p.as_dict()) == p


def test_measures_xlsx_one_sheet_per_park(built):
    _root, d, port, _res, _params_ = built
    wb = load_workbook(d / "report" / "measures.xlsx")
    assert wb.sheetnames == ["Noord", "Zuid"]
    cands = gpd.read_file(d / "interventions" / "candidates.gpkg", layer="candidates").set_index("candidate_id")
    for sheet, pid in (("Noord", "p1"), ("Zuid", "p2")):
        ws = wb[sheet]
        header = [c.value for c in ws[2]]
        assert header[:6] == ["Nr.", "Maatregel", "Soort (catalogus)", "Maatregel-id", "x (RD, EPSG:28992)",
                              "y (RD, EPSG:28992)"]
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3, max_row=ws.max_row - 1)]
        want = port[port["park_id"] == pid]
        assert [r[3] for r in rows] == want["candidate_id"].tolist()
        for r in rows:
            geom = cands.loc[r[3], "geometry"]
            assert geom.buffer(1e-6).contains(gpd.points_from_xy([r[4]], [r[5]])[0])
            assert r[8] == pytest.approx(cands.loc[r[3], "cost_eur"])
        assert all(isinstance(r[-1], str) and r[-1] for r in rows)
        assert any("verbonden leefgebied voor" in r[-1] for r in rows)
        assert ws.cell(ws.max_row, 1).value == "Totaal"
        assert ws.cell(ws.max_row, 9).value == pytest.approx(want["cost_eur"].sum())


def test_layer_styles_in_a_multi_layer_geopackage_in_qgis_layout(tmp_path):
    poly = gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 10, 10)], crs=CRS_NL)
    line = gpd.GeoDataFrame({"b": [2]}, geometry=[LineString([(0, 0), (5, 5)])], crs=CRS_NL)
    gpkg = tmp_path / "two.gpkg"
    write_gpkg_layers({"region": poly, "parks": line}, gpkg)
    os.utime(gpkg, ns=(1_000_000_000, 1_000_000_000))
    write_layer_styles(gpkg, [StyleRow("region", "<qgis>one</qgis>", "r"), StyleRow("parks", "<qgis>two</qgis>")])
    assert gpkg.stat().st_mtime_ns == 1_000_000_000  # another rule's output: its mtime is kept
    con = sqlite3.connect(gpkg)
    cols = [(r[1], r[2], r[5]) for r in con.execute("PRAGMA table_info(layer_styles)")]
    assert [c[0] for c in cols] == ["id", *LAYER_STYLES_COLUMNS]
    assert cols[0][2] == 1 and dict((c[0], c[1]) for c in cols)["useAsDefault"] == "BOOLEAN"
    assert con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone() == ("attributes",)
    rows = con.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault, update_time "
                       "FROM layer_styles ORDER BY id").fetchall()
    con.close()
    assert rows == [("region", "geom", "region", "<qgis>one</qgis>", 1, "1970-01-01T00:00:00"),
                    ("parks", "geom", "parks", "<qgis>two</qgis>", 1, "1970-01-01T00:00:00")]
    # the data layers are unchanged, the table is replaced not appended, identical rewrites are no-ops
    assert gpd.read_file(gpkg, layer="region")["a"].tolist() == [1]
    before = gpkg.read_bytes()
    write_layer_styles(gpkg, [StyleRow("region", "<qgis>one</qgis>", "r"), StyleRow("parks", "<qgis>two</qgis>")])
    assert gpkg.read_bytes() == before
    write_layer_styles(gpkg, [StyleRow("parks", "<qgis>new</qgis>")])
    assert read_layer_styles(gpkg)[["f_table_name", "styleQML"]].values.tolist() == [["parks", "<qgis>new</qgis>"]]
    with pytest.raises(WerklandInputError, match="no spatial layer 'nope'"):
        write_layer_styles(gpkg, [StyleRow("nope", "<qgis/>")])


def test_report_stores_styles_in_every_geopackage_layer(built):
    _root, d, _port, _res, _params_ = built
    region = read_layer_styles(d / "region.gpkg")
    assert sorted(region["f_table_name"]) == ["parks", "region"]
    assert (region["styleQML"][region["f_table_name"] == "parks"].iloc[0]
            == (d / "region_parks.qml").read_text(encoding="utf-8"))
    assert region["useAsDefault"].all()
    for f, layer in (("barriers/all_guilds.gpkg", "barriers"), ("interventions/candidates.gpkg", "candidates"),
                     ("patches/hedgehog.gpkg", "patches"), ("graph/hedgehog_links.gpkg", "links"),
                     ("species/occurrences.gpkg", "occurrences"), ("landcover.gpkg", "landcover")):
        assert read_layer_styles(d / f)["f_table_name"].tolist() == [layer], f


def test_rasters_are_valid_cogs_with_overviews_and_unchanged_values(tmp_path):
    n = 700
    grid = Grid(n, n, Affine(10.0, 0, 85000.0, 0, -10.0, 450000.0), CRS_NL)
    rng = np.random.default_rng(3)
    vals = rng.uniform(0, 1, (n, n)).astype(np.float32)
    vals[:50, :50] = -1.0
    codes = rng.integers(0, 20, (n, n)).astype(np.uint8)
    write_raster(tmp_path / "f.tif", vals, grid, nodata=-1.0, tags={"unit": "suitability"}, description="habitat")
    write_raster(tmp_path / "c.tif", codes, grid, nodata=0, colormap={1: (255, 0, 0, 255)})
    with raster_writer(tmp_path / "w.tif", grid, dtype="int32", nodata=0) as dst:
        for r0 in range(0, n, 256):
            dst.write(np.arange(r0, min(n, r0 + 256))[:, None].repeat(n, 1).astype(np.int32), 1,
                      window=rasterio.windows.Window(0, r0, n, min(256, n - r0)))
    for name in ("f.tif", "c.tif", "w.tif"):
        ok, errors, _warnings = cog_validate(str(tmp_path / name))
        assert ok and errors == [], (name, errors)
        with rasterio.open(tmp_path / name) as ds:
            assert ds.overviews(1) == [2, 4], name
            assert ds.block_shapes == [(256, 256)] and ds.compression.name.lower() == "deflate"
    with rasterio.open(tmp_path / "f.tif") as ds:
        assert np.array_equal(ds.read(1), vals) and ds.nodata == -1.0
        assert ds.tags()["unit"] == "suitability" and ds.descriptions == ("habitat",)
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert np.array_equal(ds.read(1), codes) and ds.colormap(1)[1] == (255, 0, 0, 255)
    with rasterio.open(tmp_path / "w.tif") as ds:
        assert (ds.read(1)[:, 0] == np.arange(n)).all()
    first = (tmp_path / "f.tif").read_bytes()
    write_raster(tmp_path / "f.tif", vals, grid, nodata=-1.0, tags={"unit": "suitability"}, description="habitat")
    assert (tmp_path / "f.tif").read_bytes() == first  # deterministic
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.skipif(find_chromium() is None, reason="needs Chromium to print the PDF (apt-get install chromium)")
def test_summary_pdf_is_a4_and_reproducible(built, tmp_path):
    root, d, _port, _res, params = built
    when = _dt.datetime(2026, 1, 2, 3, 4, 5)
    page = "<html><head><style>@page { size: A4; }</style></head><body><h1>Samenvatting</h1></body></html>"
    a = print_pdf(page, tmp_path / "a.pdf", when).read_bytes()
    b = print_pdf(page, tmp_path / "b.pdf", when).read_bytes()
    assert a[:5] == b"%PDF-" and a == b
    assert b"/CreationDate (D:20260102030405" in a
    assert re.search(rb"/MediaBox \[0 0 59[45](\.\d+)? 84[12](\.\d+)?\]", a)
    # through the report: summary.pdf declared, written, and timed once for the demo-sized region
    shutil.rmtree(d / "report")
    t0 = time.perf_counter()
    _build(root, "synth", ReportParams.from_dict({**params.as_dict(), "pdf": True}), qml_styles=False)
    seconds = time.perf_counter() - t0
    pdf = (d / "report" / "summary.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    assert seconds < 60, f"the report with its PDF took {seconds:.1f} s"


def test_pdf_without_chromium_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("WERKLAND_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert find_chromium() is None
    with pytest.raises(WerklandInputError, match="no Chromium was found") as exc:
        print_pdf("<html></html>", tmp_path / "x.pdf", _dt.datetime(2026, 1, 1))
    assert "report.pdf: false" in str(exc.value)
    assert ReportParams.from_config({**_params().config_as_run, "report": {"language": "en", "pdf": "auto"}}).pdf is False
