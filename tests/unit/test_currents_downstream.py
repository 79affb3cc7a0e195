"""Circuit results downstream: links with r_eff, current crossing barriers, report section, styles,
and the workflow wiring currents -> barriers."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml

from tests.conftest import LEGEND
from tests.unit.test_barriers import CONN, _params, _two_patch_landscape, _write
from tests.unit.test_currents import _params as currents_params
from werkland import barriers as br
from werkland.barriers.stage import _current_columns
from werkland.currents import CurrentsFiles, run_currents, segment_current_crossing
from werkland.layout import CURRENT_RASTERS, RegionPaths, style_targets
from werkland.params import ReportParams, Storm
from werkland.report import currents_section, write_region_styles
from werkland.report.load import Loaded, RegionData
from werkland.report.section_registry import SECTION_BUILDERS
from werkland.report.styles import current_range
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# current_crossing: hand-computed
# --------------------------------------------------------------------------------------------


def test_segment_current_crossing_by_hand() -> None:
    """Sum of node current over the footprint x centre-line cells / footprint cells."""
    current = np.array(
        [
            [1.0, 2.0, 0.0, 0.0, 0.0],
            [3.0, 4.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.5, np.nan, -1.0],
            [0.0, 0.0, 0.0, 0.0, 9.0],
        ]
    )
    seg = np.zeros((4, 5), np.int32)
    seg[0:2, 0:2] = 1  # 4 footprint cells, centre line 2 cells: width 2 -> (1+2+3+4) / 2 = 5
    seg[2, 2:5] = 2  # 3 cells, centre line 3 cells: width 1; NaN and negative carry none -> 0.5
    # segment 3 has no footprint -> 0
    x = segment_current_crossing(current, seg, [2, 3, 1])
    np.testing.assert_allclose(x, [5.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="shape"):
        segment_current_crossing(current[:3], seg, [2, 3, 1])


class _Segs:
    """What :func:`_current_columns` reads of a BarrierSegments: the footprint raster and line_ptr."""

    def __init__(self, raster: np.ndarray, centre: list[int]) -> None:
        self.raster = raster
        self.line_ptr = np.concatenate([[0], np.cumsum(centre)])


def test_current_rank_orders_by_crossing_then_segment_id(tmp_path: Path) -> None:
    from affine import Affine
    from pyproj import CRS

    from werkland.raster.io import Grid, write_raster

    grid = Grid(2, 4, Affine(10.0, 0, 0.0, 0, -10.0, 20.0), CRS.from_epsg(28992))
    cur = np.array([[2.0, 1.0, 1.0, -1.0], [0.0, 3.0, 0.0, -1.0]], np.float32)  # -1 = nodata
    write_raster(tmp_path / "cur.tif", cur, grid, nodata=-1.0)
    seg = np.array([[1, 2, 3, 4], [1, 5, 0, 0]], np.int32)
    tab = pd.DataFrame({"segment_id": ["e", "d", "c", "b", "a"]})

    class _Land:
        res = np.ones((2, 4))

    _Land.grid = grid
    _current_columns(tab, _Segs(seg, [2, 1, 1, 1, 1]), tmp_path / "cur.tif", _Land)
    # crossing: seg1 (2+0)*2/2 = 2, seg2 1, seg3 1, seg4 nodata 0, seg5 3
    np.testing.assert_allclose(tab["current_crossing"], [2.0, 1.0, 1.0, 0.0, 3.0])
    # 3 > 2 > 1 = 1 (tie: "c" before "d") > 0
    assert tab["current_rank"].tolist() == [2, 4, 3, 5, 1]
    off = pd.DataFrame({"segment_id": ["a", "b"]})
    _current_columns(off, _Segs(seg, [1, 1]), None, _Land)
    assert off["current_crossing"].isna().all() and off["current_rank"].isna().all()
    _Land.res = np.ones((3, 4))
    with pytest.raises(Exception, match="differ in grid"):
        _current_columns(tab, _Segs(seg, [2, 1, 1, 1, 1]), tmp_path / "cur.tif", _Land)


# --------------------------------------------------------------------------------------------
# the stages: currents -> links copy, barriers with and without the current map, combined layer
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def road_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two patches either side of a road spanning the whole raster; connectivity and currents run."""
    p = tmp_path_factory.mktemp("road")
    suit, resist, lc, res = _two_patch_landscape()
    _write(p, suit, resist, lc, res, CONN)
    files = CurrentsFiles(
        p / "resistance.tif", p / "patches/g.tif", p / "graph/g_links.gpkg", p / "habitat.tif",
        p / "currents/g_resistance.csv", p / "currents/g_current.tif", p / "currents/g_pinchpoints.tif",
        p / "currents/g_omni_current.tif", p / "currents/g_flow_potential.tif", p / "currents/g_normalized.tif",
        current_links=p / "currents/g_links.gpkg",
    )
    run_currents(files, currents_params(enabled=True, omniscape=False))
    return p


def test_current_links_copy_every_links_column(road_run: Path) -> None:
    p = road_run
    links = gpd.read_file(p / "graph/g_links.gpkg", layer="links")
    out = gpd.read_file(p / "currents/g_links.gpkg", layer="links")
    assert pyogrio.list_layers(p / "currents/g_links.gpkg")[:, 0].tolist() == ["links"]
    assert list(out.columns) == [*(c for c in links.columns if c != "geometry"), "r_eff", "cwd_to_r_eff", "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(out.drop(columns=["r_eff", "cwd_to_r_eff", "geometry"])),
                                  pd.DataFrame(links.drop(columns="geometry")))
    assert out.geometry.equals(links.geometry)
    table = pd.read_csv(p / "currents/g_resistance.csv")
    assert len(out) == 1 and out["r_eff"].iloc[0] == pytest.approx(table["r_eff"].iloc[0])
    assert out["cwd_to_r_eff"].iloc[0] == pytest.approx(out["cost_distance"].iloc[0] / out["r_eff"].iloc[0])


def test_barriers_with_and_without_current(road_run: Path) -> None:
    p = road_run
    bp = _params(CONN, radii_m=[20.0], top_n=5)
    br.run_barriers(p / "landcover.gpkg", p / "resistance.tif", p / "patches/g.tif", p / "patches/g.gpkg",
                    p / "graph/g_links.gpkg", p / "graph/g_summary.json", p / "barriers/off.gpkg", params=bp)
    info = br.run_barriers(p / "landcover.gpkg", p / "resistance.tif", p / "patches/g.tif", p / "patches/g.gpkg",
                           p / "graph/g_links.gpkg", p / "graph/g_summary.json", p / "barriers/on.gpkg", params=bp,
                           current_tif=p / "currents/g_current.tif")
    off = gpd.read_file(p / "barriers/off.gpkg", layer="barriers")
    on = gpd.read_file(p / "barriers/on.gpkg", layer="barriers")
    assert info["current_map"] == "g_current.tif"
    # off: the columns exist and are empty; every other column is the same in both runs
    assert off["current_crossing"].isna().all() and off["current_rank"].isna().all()
    pd.testing.assert_frame_equal(pd.DataFrame(on.drop(columns=["current_crossing", "current_rank"])),
                                  pd.DataFrame(off.drop(columns=["current_crossing", "current_rank"])))
    # the road cuts the raster: the 1 A of the one link crosses it in full (the segments sum to ~1 A)
    main = on[on["class"] == "road_main"]
    assert main["current_crossing"].sum() == pytest.approx(1.0, rel=0.05)
    assert (on.loc[on["class"] == "road_minor", "current_crossing"] < 0.05).all()
    # rank 1 = most current; current fades along the road away from the patches (rows 13-17)
    assert sorted(on["current_rank"].tolist()) == list(range(1, len(on) + 1))
    by_rank = on.sort_values("current_rank")
    assert by_rank["current_crossing"].is_monotonic_decreasing
    assert by_rank.iloc[:2]["n_links_cut"].max() == 1  # the piece the least-cost link crosses is in the top 2
    along = main.sort_values("segment_id")["current_crossing"].to_numpy()
    assert np.all(np.diff(along[1:]) < 0)
    # combined: a guild with the current map and one without
    out = br.combine_barriers({"a": p / "barriers/on.gpkg", "b": p / "barriers/off.gpkg"}, {"a": 2.0, "b": 1.0},
                              p / "barriers/all_guilds.gpkg")
    back = gpd.read_file(p / "barriers/all_guilds.gpkg", layer="barriers")
    assert len(back) == len(out)
    assert back["current_crossing_b"].isna().all() and back["current_rank_b"].isna().all()
    a = back.set_index("segment_id")
    ref = on.set_index("segment_id")
    np.testing.assert_allclose(a.loc[ref.index, "current_crossing_a"], ref["current_crossing"])
    np.testing.assert_allclose(a["current_crossing"], a["current_crossing_a"])  # b has no current map
    np.testing.assert_allclose(a["current_score"], a["current_crossing_a"] / a["current_crossing_a"].max())
    assert a["current_rank"].tolist() == a["current_rank_a"].tolist() or (
        a.sort_values("current_rank")["current_score"].is_monotonic_decreasing)
    none = br.combine_barriers({"b": p / "barriers/off.gpkg"}, {"b": 1.0}, p / "barriers/none.gpkg")
    assert none["current_crossing"].isna().all() and none["current_rank"].isna().all()


# --------------------------------------------------------------------------------------------
# styles
# --------------------------------------------------------------------------------------------


def _report_params(enabled: bool, **over) -> ReportParams:
    values = {"language": "en", "guilds": ("g",), "convention": "conefor", "corridor_width_cost": 1500.0,
              "storms": (Storm("70mm_2h", 70.0),), "budget_eur": 0.0, "catalogue": "",
              "config_as_run": {"currents": {"enabled": enabled}}}
    return ReportParams(**{**values, **over})


def _items(path: Path) -> list[float]:
    root = ET.fromstring(path.read_text().split("\n", 1)[1])
    items = root.findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    return [float(i.get("value")) for i in items]


def test_style_targets_and_report_outputs_with_currents() -> None:
    base = style_targets(["g", "h"], ["s"])
    more = style_targets(["g", "h"], ["s"], currents=True)
    assert more[: len(base)] == base and len(more) == len(base) + 2 * len(CURRENT_RASTERS)
    assert {t.qml for t in more[len(base):]} == {f"currents/{g}_{n}.qml" for g in "gh" for n, _ in CURRENT_RASTERS}
    assert all(t.data == t.qml.replace(".qml", ".tif") for t in more[len(base):])
    paths = RegionPaths("results", "r")
    off, on = paths.stage_outputs("report", ["g"], ["s"]), paths.stage_outputs("report", ["g"], ["s"], currents=True)
    assert set(on) - set(off) == {paths.dir / f"currents/g_{n}.qml" for n, _ in CURRENT_RASTERS}
    assert paths.current_links("g") in paths.stage_outputs("currents", ["g"])


def test_styles_written_for_the_currents_rasters(road_run: Path, tmp_path: Path) -> None:
    region = tmp_path / "r"
    shutil.copytree(road_run / "currents", region / "currents")
    paths = RegionPaths(tmp_path, "r")
    off = write_region_styles(paths, LEGEND, {"g": "G"}, _report_params(False))
    assert not any(p.parent.name == "currents" for p in off)
    written = write_region_styles(paths, LEGEND, {"g": "G"}, _report_params(True))
    cur = sorted(p for p in written if p.parent.name == "currents")
    assert cur == sorted(region / f"currents/g_{n}.qml" for n, _ in CURRENT_RASTERS)
    # the current map: log-spaced from the 2nd to the 98th percentile of its positive cells
    lo, hi = current_range(region / "currents/g_current.tif")
    vals = _items(region / "currents/g_current.qml")
    assert vals[0] == pytest.approx(lo, rel=1e-5) and vals[-1] == pytest.approx(hi, rel=1e-5) and 0 < lo < hi
    assert vals[2] == pytest.approx(math.sqrt(lo * hi), rel=1e-5)
    # normalised current: diverging, centred on 1
    norm = _items(region / "currents/g_normalized.qml")
    assert norm == pytest.approx([0.1, 10 ** -0.5, 1.0, 10 ** 0.5, 10.0], rel=1e-5)
    # an absent raster: the default range
    assert current_range(region / "currents/nothing.tif") == (1e-3, 1.0)


# --------------------------------------------------------------------------------------------
# report section
# --------------------------------------------------------------------------------------------


def _region_data(root: Path, region: str, enabled: bool, language: str = "en") -> RegionData:
    guild = load_guilds(ROOT / "config" / "guilds.yaml", load_legend(LEGEND))["hedgehog"]
    outline = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(0.0, 0.0, 600.0, 1000.0)], crs="EPSG:28992")
    return RegionData(
        paths=RegionPaths(root, region), params=_report_params(enabled, language=language),
        legend=load_legend(LEGEND), guilds={"g": guild}, region_poly=Loaded(outline), parks=gpd.GeoDataFrame(
            {"park_id": []}, geometry=[], crs="EPSG:28992"), landcover=Loaded(),
    )


def test_section_is_none_when_the_stage_is_off_or_has_no_maps(tmp_path: Path) -> None:
    assert SECTION_BUILDERS["currents"] is currents_section.build
    assert currents_section.build(_region_data(tmp_path, "r", False)) is None
    assert currents_section.build(_region_data(tmp_path, "r", True)) is None  # enabled, nothing computed


def test_section_maps_and_guide(road_run: Path, tmp_path: Path) -> None:
    shutil.copytree(road_run / "currents", tmp_path / "r" / "currents")
    sec = currents_section.build(_region_data(tmp_path, "r", True))
    assert sec is not None and sec.key == "currents" and sec.reason == ""
    assert len(sec.figures) == 1 and sec.figures[0].png.startswith(b"\x89PNG")
    assert "pinch" in sec.html.lower() and "cwd_to_r_eff" in sec.html
    assert re.search(r"<td>1 / 1</td>", sec.html)  # one link, with r_eff
    again = currents_section.build(_region_data(tmp_path, "r", True))
    assert again.figures[0].png == sec.figures[0].png  # reproducible bytes
    nl = currents_section.build(_region_data(tmp_path, "r", True, language="nl"))
    assert nl.title != sec.title and "knelpunten" in nl.html.lower()


def test_current_norm_is_a_percentile_log_stretch() -> None:
    vals = np.concatenate([np.zeros(10), np.logspace(-3, 1, 101), [np.nan]])
    norm = currents_section.current_norm(vals)
    pos = np.logspace(-3, 1, 101)
    assert norm.vmin == pytest.approx(np.percentile(pos, 2)) and norm.vmax == pytest.approx(np.percentile(pos, 98))
    assert currents_section.current_norm(np.zeros(5)) is None


# --------------------------------------------------------------------------------------------
# workflow: the DAG wires currents -> barriers when currents.enabled
# --------------------------------------------------------------------------------------------


def _dag(tmp_path: Path, enabled: bool) -> str:
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake is not installed in this environment")
    work = tmp_path / ("on" if enabled else "off")
    shutil.copytree(ROOT / "config", work / "config")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["guilds"] = ["hedgehog"]
    cfg.setdefault("currents", {})["enabled"] = enabled
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [str(snakemake), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work), "--cores", "1",
           "--dag", "dot", "results/demo/barriers/all_guilds.gpkg"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (work / "results").exists()
    return proc.stdout


def _edges(dot: str) -> set[tuple[str, str]]:
    names = dict(re.findall(r'^\s*(\d+)\[label = "([^"\\]+)', dot, flags=re.M))
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)}


def test_workflow_dag_wires_currents_to_barriers(tmp_path: Path) -> None:
    on = _edges(_dag(tmp_path, True))
    assert ("currents", "barriers") in on and ("connectivity", "currents") in on
    assert ("barriers", "barriers_combine") in on
    off = _edges(_dag(tmp_path, False))
    assert not any("currents" in e for e in off) and ("connectivity", "barriers") in off
