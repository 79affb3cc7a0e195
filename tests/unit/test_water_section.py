"""Report section "Soil and water": fallbacks without hydrology inputs, maps and run-on with them."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine

from tests.conftest import GUILDS, LEGEND
from tests.unit.test_report import CRS_NL, RES, X0, Y0, N, _params, make_region
from werkland.layout import RegionPaths
from werkland.raster.io import Grid, write_csv, write_raster
from werkland.report import load_region
from werkland.report.section_registry import SECTION_BUILDERS
from werkland.report.water_section import build, runon_table


def _load(root, language="en"):
    return load_region(RegionPaths(root, "synth"), LEGEND, GUILDS, _params(report={"language": language}))


def _write_hydrology(d, *, nodata: bool = False) -> None:
    grid = Grid(N, N, Affine(RES, 0, X0, 0, -RES, Y0 + N * RES), CRS_NL)
    nan = np.full((N, N), np.nan, np.float32)
    soil = np.zeros((N, N), np.uint8) if nodata else np.where(np.arange(N)[None, :] < 30, 2, 4).repeat(N, 0).astype(np.uint8)
    ghg = nan if nodata else np.full((N, N), 1.2, np.float32)
    rr, cc = np.mgrid[0:N, 0:N]
    acc = nan if nodata else ((rr + 1) * RES * RES).astype(np.float32)
    pond = nan if nodata else np.where((rr > 50) & (cc < 5), 30.0, 0.0).astype(np.float32)
    write_raster(d / "climate" / "soil_group.tif", soil, grid, nodata=0)
    write_raster(d / "climate" / "ghg_m.tif", ghg, grid, nodata=float("nan"))
    write_raster(d / "climate" / "infiltration_mm_h.tif", nan, grid, nodata=float("nan"))
    write_raster(d / "climate" / "flow_accumulation.tif", acc, grid, nodata=float("nan"))
    for storm in ("70mm_2h", "140mm_2h"):
        write_raster(d / "climate" / f"ponding_{storm}.tif", pond, grid, nodata=float("nan"))
    if not nodata:
        s = pd.read_csv(d / "climate" / "summary.csv", dtype={"park_id": str})
        s["runon_70mm_2h_m3"] = [150.0, 0.0][: len(s)] + [np.nan] * max(0, len(s) - 2)
        s["runon_140mm_2h_m3"] = [420.0, 12.5][: len(s)] + [np.nan] * max(0, len(s) - 2)
        write_csv(s, d / "climate" / "summary.csv")


def test_section_is_registered():
    assert SECTION_BUILDERS["water"] is build


@pytest.mark.parametrize("language, words", [("en", "No soil map, groundwater map or elevation model"),
                                             ("nl", "geen bodemkaart, grondwaterkaart of hoogtemodel")])
def test_without_inputs_the_section_lists_the_fallbacks(tmp_path, language, words):
    d = make_region(tmp_path)
    sec = build(_load(tmp_path, language))
    assert sec.key == "water" and not sec.figures and words in sec.html
    assert "climate/flow_accumulation.tif" in sec.html  # the files an older climate stage did not write
    # the nodata rasters the climate stage writes without inputs: the same fallbacks, nothing missing
    _write_hydrology(d, nodata=True)
    sec = build(_load(tmp_path, language))
    assert words in sec.html and not sec.figures and "flow_accumulation.tif" not in sec.html
    assert "<code>climate.soil_group</code> = B" in sec.html


def test_with_inputs_maps_run_on_and_siting_counts(tmp_path):
    d = make_region(tmp_path)
    _write_hydrology(d)
    cand = d / "interventions" / "candidates.gpkg"
    c = gpd.read_file(cand)
    notes = ["at a low point: upslope area 0.30 ha", "infiltration allowed: GHG >= 1.20 m (needs 0.90 m)",
             "wadi not allowed (soil group D (does not infiltrate)): retention variant proposed"]
    c["siting_note"] = [notes[i % 3] for i in range(len(c))]
    c.to_file(cand, layer="candidates", engine="pyogrio")
    data = _load(tmp_path)
    sec = build(data)
    assert [f.title for f in sec.figures] == ["Soil, groundwater, flow accumulation and ponding",
                                              "Water from outside the park"]
    assert all(f.png.startswith(b"\x89PNG") for f in sec.figures)
    assert "soil group (A-D) per cell" in sec.html and "known for 100% of the region" in sec.html
    n = len(c)
    assert f"{sum(1 for i in range(n) if i % 3 == 0)} placed at a low point" in sec.html
    assert f"{sum(1 for i in range(n) if i % 3 == 2)} replaced by a retention variant" in sec.html
    t = runon_table(data).set_index(["park_id", "storm"])
    assert t.loc[("p1", "70mm_2h"), "own_rain_m3"] == pytest.approx(70 * 40000.0 / 1000)
    assert t.loc[("p1", "140mm_2h"), "runon_m3"] == 420.0 and t.loc[("p2", "140mm_2h"), "runon_m3"] == 12.5
    nl = build(_load(tmp_path, "nl"))
    assert nl.title == "Bodem en water" and "Water van buiten het terrein" in [f.title for f in nl.figures]
