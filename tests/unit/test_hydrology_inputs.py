"""The optional hydrology inputs read from files: GHG depth rasters, raster soil maps, the DTM slope
check and soil units joined from a table (the PDOK/BRO Bodemkaart GeoPackage layout).

Every input is a small GeoTIFF or GeoPackage generated in a tmp dir on a 10 m grid in RD New.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.io
import yaml
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from tests.unit.test_hydrology import _read, _run, make_hydrology_inputs
from werkland import WerklandInputError
from werkland.climate.soil import effective_soil_group, read_groundwater, read_soil
from werkland.climate.terrain import MAX_MEDIAN_SLOPE, check_slope, median_slope, read_elevation
from werkland.config import validate_config
from werkland.params import ClimateParams, HydrologyInputs
from werkland.params.climate import ElevationInput, GroundwaterInput, SoilInput, SoilJoin
from werkland.raster.io import Grid

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BODEMKAART = str(ROOT / "config" / "mappings" / "soil_bodemkaart.yaml")
GT_TABLE = str(ROOT / "config" / "mappings" / "groundwater_classes.yaml")
RD = CRS.from_epsg(28992)
X0, Y0, RES, H, W = 100_000.0, 450_000.0, 10.0, 20, 24
GRID = Grid(H, W, Affine(RES, 0, X0, 0, -RES, Y0), RD)
WHERE = "config: regions.t"


def _valid() -> np.ndarray:
    v = np.ones((H, W), dtype=bool)
    v[:, W - 2 :] = False  # two columns outside the region
    return v


@pytest.fixture(scope="module")
def params() -> ClimateParams:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with contextlib.chdir(ROOT):
        return ClimateParams.from_config(validate_config(cfg, SCHEMA))


def _write_tif(path: Path, arr: np.ndarray, res: float, x0: float, y0: float, *, nodata: float | None,
               dtype: str = "float32", units: str | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=dtype,
                       crs="EPSG:28992", transform=Affine(res, 0, x0, 0, -res, y0), nodata=nodata) as ds:
        ds.write(arr.astype(dtype), 1)
        if units:
            ds.set_band_unit(1, units)
    return path


def _cell_box(r0: float, r1: float, c0: float, c1: float):
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


# --------------------------------------------------------------------------------------------------
# GHG depth rasters
# --------------------------------------------------------------------------------------------------

#: The GHG raster: 5 m cells reaching 100 source cells (500 m) beyond the grid on every side.
PAD, F = 100, 2


def _ghg_source() -> np.ndarray:
    """GHG in cm on 5 m cells: every grid cell's 2 x 2 block holds b, b+2, b+4, b+6 (mean b+3), with
    b = 30 in the north half of the grid (shallow) and 100 in the south half; 9999 far outside."""
    n_r, n_c = H * F + 2 * PAD, W * F + 2 * PAD
    src = np.full((n_r, n_c), 9999.0)
    block = np.array([[0.0, 2.0], [4.0, 6.0]])
    for r in range(H):
        for c in range(W):
            base = 30.0 if r < H // 2 else 100.0
            src[PAD + r * F : PAD + (r + 1) * F, PAD + c * F : PAD + (c + 1) * F] = base + block
    return src


def _ghg_tif(d: Path, src: np.ndarray, name: str = "ghg.tif") -> Path:
    res = RES / F
    return _write_tif(d / name, src, res, X0 - PAD * res, Y0 + PAD * res, nodata=-9999.0)


def test_ghg_raster_is_read_in_a_window_and_averaged_onto_the_grid(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = _ghg_source()
    src[PAD + 2 * F, PAD + 3 * F] = -9999.0  # one of the four source cells of grid cell (2, 3) has no data
    path = _ghg_tif(tmp_path, src)
    windows: list[Any] = []
    real_read = rasterio.io.DatasetReader.read

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        windows.append(kwargs.get("window"))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    spec = GroundwaterInput(path=str(path), field=None, layer=None, units="cm", classes=GT_TABLE)
    valid = _valid()
    ghg = read_groundwater(spec, GRID, valid, where=f"{WHERE}.groundwater")
    # windowed: never the whole 488 x 448 raster, only the grid's 40 x 48 cells plus a margin
    assert windows and all(w is not None for w in windows)
    assert max(w.height for w in windows) < src.shape[0] // 4 and max(w.width for w in windows) < src.shape[1] // 4
    # averaged: the mean of each 2 x 2 block, in metres; nodata ignored; NaN outside the region
    assert ghg.dtype == np.float32 and ghg.shape == (H, W)
    assert ghg[0, 0] == pytest.approx(0.33) and ghg[H - 1, 0] == pytest.approx(1.03)
    assert ghg[2, 3] == pytest.approx((32.0 + 34.0 + 36.0) / 3.0 / 100.0)  # 30 (no data) left out
    assert np.isnan(ghg[:, W - 2 :]).all() and np.isfinite(ghg[valid]).all()


def test_shallow_ghg_raster_makes_soil_group_d(tmp_path: Path, params: ClimateParams) -> None:
    src = _ghg_source()
    src[PAD : PAD + F, PAD : PAD + F] = 37.0  # grid cell (0, 0): 0.37 m
    src[PAD : PAD + F, PAD + F : PAD + 2 * F] = 40.0  # grid cell (0, 1): exactly 0.40 m, not shallow
    path = _ghg_tif(tmp_path, src)
    spec = GroundwaterInput(path=str(path), field=None, layer=None, units="cm", classes=GT_TABLE)
    valid = _valid()
    ghg = read_groundwater(spec, GRID, valid, where=f"{WHERE}.groundwater")
    assert params.shallow_groundwater_m == 0.4
    group = np.zeros((H, W), dtype=np.uint8)
    group[:, :] = 1  # a sandy soil map (A) everywhere
    mapped, runoff = effective_soil_group(group, ghg, valid, params)
    north, south = valid.copy(), valid.copy()
    north[H // 2 :], south[: H // 2] = False, False
    north[0, 1] = False
    assert (mapped[north] == 4).all()  # GHG 0.33 m and 0.37 m < 0.4 m -> D
    assert mapped[0, 1] == 1 and (mapped[south] == 1).all()  # 0.40 m and 1.03 m keep the soil map's A
    assert (mapped[~valid] == 0).all()
    fallback = "ABCD".index(params.soil_group) + 1
    _, runoff_nomap = effective_soil_group(np.zeros_like(group), ghg, valid, params)
    assert (runoff_nomap[south] == fallback).all() and (runoff_nomap[north] == 4).all()
    assert (runoff[valid] == mapped[valid]).all()


def test_ghg_raster_in_the_wrong_units_is_refused(tmp_path: Path) -> None:
    path = _ghg_tif(tmp_path, _ghg_source() * 10.0)  # millimetres
    spec = GroundwaterInput(path=str(path), field=None, layer=None, units="m", classes=GT_TABLE)
    with pytest.raises(WerklandInputError, match="not plausible groundwater depths") as err:
        read_groundwater(spec, GRID, _valid(), where=f"{WHERE}.groundwater")
    assert str(path) in str(err.value) and f"{WHERE}.groundwater.units" in str(err.value)
    ok = GroundwaterInput(path=str(path), field=None, layer=None, units="mm", classes=GT_TABLE)
    assert read_groundwater(ok, GRID, _valid(), where=f"{WHERE}.groundwater")[0, 0] == pytest.approx(0.33)


def test_ghg_raster_in_the_stage_writes_ghg_and_soil_group(tmp_path: Path) -> None:
    inputs = make_hydrology_inputs(tmp_path)
    # the stage's grid: 40 x 50 cells of 10 m; GHG 0.2 m in the north-west 10 x 10 cells, 1.5 m elsewhere
    ghg = np.full((44, 54), 150.0)
    ghg[2:12, 2:12] = 20.0
    path = _write_tif(tmp_path / "ghg_cm.tif", ghg, RES, X0 - 2 * RES, Y0 + 2 * RES, nodata=-1.0)
    hydro = HydrologyInputs.from_region({"groundwater": {"path": str(path), "units": "cm"}}, where=WHERE)
    assert hydro.groundwater is not None and hydro.groundwater.units == "cm"
    _, o = _run(inputs, hydro)
    g, sg = _read(o / "ghg_m.tif"), _read(o / "soil_group.tif")
    assert g[5, 5] == pytest.approx(0.2) and g[20, 20] == pytest.approx(1.5) and np.isnan(g[:, 47:]).all()
    assert sg[5, 5] == 4 and sg[20, 20] == 0 and (sg[:10, :10] == 4).all()


# --------------------------------------------------------------------------------------------------
# raster soil maps
# --------------------------------------------------------------------------------------------------


def _soil_raster(d: Path, arr: np.ndarray) -> Path:
    """Unit codes on 20 m cells (2 x 2 grid cells each) from the grid's origin, nodata 0."""
    return _write_tif(d / "soil_units.tif", arr, 2 * RES, X0, Y0, nodata=0, dtype="uint16")


def test_raster_soil_map_with_a_mapping(tmp_path: Path) -> None:
    codes = np.full((H // 2, W // 2), 1, dtype=np.uint16)  # 1 = sand
    codes[:, : W // 4] = 2  # west: clay
    codes[0, 0] = 0  # no data
    codes[H // 2 - 1, W // 2 - 2] = 3  # built-up: no soil information
    path = _soil_raster(tmp_path, codes)
    spec = SoilInput(path=str(path), class_field=None, layer=None,
                     mapping={"1": "sand", "2": "clay", "3": None})
    valid = _valid()
    group, inf = read_soil(spec, GRID, valid, where=f"{WHERE}.soil")
    assert group.dtype == np.uint8 and inf.dtype == np.float32
    assert group[5, 2] == 3 and inf[5, 2] == 5.0  # clay: C, 5 mm/h (shipped texture table)
    assert group[5, 15] == 1 and inf[5, 15] == 150.0  # sand: A
    assert (group[0:2, 0:2] == 0).all() and np.isnan(inf[0:2, 0:2]).all()  # nodata
    assert group[H - 1, W - 3] == 0 and np.isnan(inf[H - 1, W - 3])  # null unit
    assert (group[:, W - 2 :] == 0).all() and np.isnan(inf[:, W - 2 :]).all()  # outside the region
    # nearest neighbour: every grid cell takes the code of the 20 m cell it lies in
    expected = np.array([0, 1, 3, 0], dtype=np.uint8)[np.kron(codes, np.ones((2, 2), dtype=np.uint16))]
    np.testing.assert_array_equal(group, np.where(valid, expected, 0))


def test_raster_soil_map_unit_without_mapping(tmp_path: Path) -> None:
    codes = np.full((H // 2, W // 2), 1, dtype=np.uint16)
    codes[3, 4] = 7
    path = _soil_raster(tmp_path, codes)
    spec = SoilInput(path=str(path), class_field=None, layer=None, mapping={"1": "sand"})
    with pytest.raises(WerklandInputError, match=r"soil units without a mapping inside the region: '7' \(4 cells\)") as err:
        read_soil(spec, GRID, _valid(), where=f"{WHERE}.soil")
    assert str(path) in str(err.value) and f"{WHERE}.soil.mapping" in str(err.value)
    codes[3, 4] = 1
    codes[:, -1] = 7  # only on cells outside the region: no matter
    spec = SoilInput(path=str(_soil_raster(tmp_path, codes)), class_field=None, layer=None, mapping={"1": "sand"})
    group, _ = read_soil(spec, GRID, _valid(), where=f"{WHERE}.soil")
    assert (group[_valid()] == 1).all()


# --------------------------------------------------------------------------------------------------
# DTM slope plausibility
# --------------------------------------------------------------------------------------------------


def _plane(scale: float) -> np.ndarray:
    """Terrain falling 1.5 % to the east, 3.6 m to 0.15 m above NAP, on the grid's 10 m cells (x ``scale``)."""
    cols = np.arange(W)[None, :] + np.zeros((H, 1))
    return (3.6 - 0.015 * RES * cols) * scale


def test_dtm_in_centimetres_on_sloping_terrain_is_refused(tmp_path: Path, params: ClimateParams) -> None:
    path = _write_tif(tmp_path / "dtm_cm.tif", _plane(100.0), RES, X0, Y0, nodata=-9999.0)
    valid = np.ones((H, W), dtype=bool)
    # its values (15 .. 360) lie in the plausible range of metres: only the slope gives the units away
    assert params.elevation_range_m[0] <= 15.0 and params.elevation_range_m[1] >= 360.0
    spec = ElevationInput(path=str(path), units="m")
    with pytest.raises(WerklandInputError, match="median terrain slope is 1.5 m/m") as err:
        read_elevation(spec, GRID, valid, params, where=f"{WHERE}.elevation")
    msg = str(err.value)
    assert str(path) in msg and f"{WHERE}.elevation.units" in msg and "convert the DTM to metres" in msg
    # the same file declared in cm, and the plane written in metres, pass with the same terrain
    z_cm = read_elevation(ElevationInput(path=str(path), units="cm"), GRID, valid, params, where=WHERE)
    path_m = _write_tif(tmp_path / "dtm_m.tif", _plane(1.0), RES, X0, Y0, nodata=-9999.0)
    z_m = read_elevation(ElevationInput(path=str(path_m), units="m"), GRID, valid, params, where=WHERE)
    np.testing.assert_allclose(z_m, _plane(1.0), atol=1e-5)
    np.testing.assert_allclose(z_cm, z_m, atol=1e-5)


def test_slope_check_threshold() -> None:
    z = _plane(1.0)
    assert median_slope(z, RES) == pytest.approx(0.015)
    check_slope(z, RES, "dtm.tif", WHERE)  # 1.5 % passes
    steep = np.arange(W)[None, :] * RES * (MAX_MEDIAN_SLOPE * 1.2) + np.zeros((H, 1))
    with pytest.raises(WerklandInputError, match="not metres") as err:
        check_slope(steep, RES, "dtm.tif", WHERE)
    assert "dtm.tif" in str(err.value) and f"{WHERE}.units" in str(err.value)
    edge = np.arange(W)[None, :] * RES * MAX_MEDIAN_SLOPE + np.zeros((H, 1))
    check_slope(edge, RES, "dtm.tif", WHERE)  # exactly 45 degrees still passes


def test_dtm_with_a_centimetre_unit_tag_is_refused(tmp_path: Path, params: ClimateParams) -> None:
    path = _write_tif(tmp_path / "dtm_tag.tif", _plane(1.0), RES, X0, Y0, nodata=-9999.0, units="cm")
    with pytest.raises(WerklandInputError, match="band unit is 'cm'") as err:
        read_elevation(ElevationInput(path=str(path), units="m"), GRID, np.ones((H, W), bool), params, where=WHERE)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------------------------------
# soil units joined from a table (PDOK/BRO Bodemkaart GeoPackage)
# --------------------------------------------------------------------------------------------------

JOIN = {"table": "soilarea_soilunit", "key": "maparea_id", "field": "soilunit_code",
        "order": "soilunit_sequencenumber"}


def make_bodemkaart(d: Path, rows: list[tuple[str, str, Any]] | None = None, *, name: str = "bodemkaart.gpkg") -> Path:
    """A GeoPackage laid out like the BRO Bodemkaart: polygons ``soilarea`` (``maparea_id``) and the
    table ``soilarea_soilunit`` (``maparea_id``, ``soilunit_code``, ``soilunit_sequencenumber``).

    Areas: 'A1' west (Mn25A, clay), 'A2' east (an association: Hn21 sand first, Mn25A second), 'A3'
    the south-east corner (|g BEBOUW, built-up), 'A4' far outside the region (a unit Q99 without
    mapping), 'A5' the south-west corner, without a row in the table.
    """
    path = d / name
    gpd.GeoDataFrame(
        {"maparea_id": ["A1", "A2", "A3", "A4", "A5"], "bro_id": ["x1", "x2", "x3", "x4", "x5"]},
        geometry=[_cell_box(-2, 16, -2, 10), _cell_box(-2, 12, 10, 30), _cell_box(12, 25, 10, 30),
                  _cell_box(100, 110, 100, 110), _cell_box(16, 25, -2, 10)],
        crs=RD,
    ).to_file(path, layer="soilarea", driver="GPKG")
    if rows is None:
        rows = [("A1", "Mn25A", 1), ("A2", "Mn25A", 2), ("A2", "Hn21", 1), ("A3", "|g BEBOUW", 1), ("A4", "Q99", 1),
                ("A9", "Vs", 1)]
    table = pd.DataFrame(rows, columns=["maparea_id", "soilunit_code", "soilunit_sequencenumber"])
    pyogrio.write_dataframe(table, path, layer="soilarea_soilunit")
    return path


def _soil_spec(path: Path, join: dict[str, Any] | None = None, **keys: Any) -> SoilInput:
    spec = {"path": str(path), "layer": "soilarea", "join": JOIN if join is None else join, "mapping": BODEMKAART,
            **keys}
    h = HydrologyInputs.from_region({"soil": spec}, where=WHERE)
    assert h.soil is not None
    return h.soil


def test_soil_units_joined_from_a_table(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path)
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["soilarea", "soilarea_soilunit"]
    valid = _valid()
    group, inf = read_soil(_soil_spec(path), GRID, valid, where=f"{WHERE}.soil")
    assert group[5, 5] == 3 and inf[5, 5] == 5.0  # A1: Mn25A, clay, C
    assert group[5, 15] == 1 and inf[5, 15] == 150.0  # A2: its first unit Hn21 (sand, A), not Mn25A
    assert group[15, 15] == 0 and np.isnan(inf[15, 15])  # A3: built-up, no information
    assert group[18, 5] == 0 and np.isnan(inf[18, 5])  # A5: no row in the table
    assert (group[:, W - 2 :] == 0).all()  # outside the region
    # the order column decides: rank Mn25A first and A2 becomes clay
    path2 = make_bodemkaart(tmp_path, [("A1", "Mn25A", 1), ("A2", "Mn25A", 1), ("A2", "Hn21", 2)], name="b2.gpkg")
    group2, _ = read_soil(_soil_spec(path2), GRID, valid, where=f"{WHERE}.soil")
    assert group2[5, 15] == 3
    # an order column stored as text ranks by number: "2" before "10"
    path3 = make_bodemkaart(tmp_path, [("A1", "Mn25A", "1"), ("A2", "Mn25A", "10"), ("A2", "Hn21", "2")],
                            name="b3.gpkg")
    group3, _ = read_soil(_soil_spec(path3), GRID, valid, where=f"{WHERE}.soil")
    assert group3[5, 15] == 1


def test_joined_soil_map_in_the_stage(tmp_path: Path) -> None:
    inputs = make_hydrology_inputs(tmp_path)
    # the stage's 40 x 50 grid: clay (A1) in the west half, sand (A2) in the east half
    path = tmp_path / "bk.gpkg"
    gpd.GeoDataFrame({"maparea_id": [1, 2]}, geometry=[_cell_box(-5, 45, -5, 25), _cell_box(-5, 45, 25, 55)],
                     crs=RD).to_file(path, layer="soilarea", driver="GPKG")
    # integer keys on the polygons, text keys in the table: matched by their text
    pyogrio.write_dataframe(pd.DataFrame({"maparea_id": ["1", "2"], "soilunit_code": ["Mn25A", "Hn21"],
                                          "soilunit_sequencenumber": [1, 1]}), path, layer="soilarea_soilunit")
    hydro = HydrologyInputs.from_region({"soil": {"path": str(path), "layer": "soilarea", "join": JOIN}}, where=WHERE)
    _, o = _run(inputs, hydro)
    sg, inf = _read(o / "soil_group.tif"), _read(o / "infiltration_mm_h.tif")
    assert sg[15, 5] == 3 and sg[15, 40] == 1 and inf[15, 5] == 5.0 and inf[15, 40] == 150.0
    assert (sg[:, 47:] == 0).all()


def test_join_config_round_trip_and_errors() -> None:
    h = HydrologyInputs.from_region({"soil": {"path": "bk.gpkg", "layer": "soilarea", "join": JOIN}}, where=WHERE)
    assert h.soil is not None and h.soil.join == SoilJoin(**JOIN) and h.soil.class_field is None
    assert HydrologyInputs.from_dict(h.as_dict()) == h
    same = HydrologyInputs.from_region(
        {"soil": {"path": "bk.gpkg", "class_field": "soilunit_code", "join": JOIN}}, where=WHERE)
    assert same.soil is not None and same.soil.class_field is None  # the same column named twice
    with pytest.raises(WerklandInputError, match="both name the soil unit") as err:
        HydrologyInputs.from_region({"soil": {"path": "bk.gpkg", "class_field": "code", "join": JOIN}}, where=WHERE)
    assert f"{WHERE}.soil.class_field" in str(err.value) and "drop class_field" in str(err.value)
    with pytest.raises(WerklandInputError, match="did you mean 'table'"):
        HydrologyInputs.from_region({"soil": {"path": "bk.gpkg", "join": {**JOIN, "tabel": "x"}}}, where=WHERE)
    with pytest.raises(WerklandInputError, match=r"soil\.join\.key") as err:
        HydrologyInputs.from_region({"soil": {"path": "bk.gpkg", "join": {"table": "t", "field": "f"}}}, where=WHERE)
    assert "soilarea_soilunit" in str(err.value)
    # an unquoted YAML `on:` arrives as True
    on = yaml.safe_load("{table: t, on: maparea_id, field: f}")
    with pytest.raises(WerklandInputError, match="YAML turns an unquoted 'on' into true"):
        HydrologyInputs.from_region({"soil": {"path": "bk.gpkg", "join": on}}, where=WHERE)


def test_join_in_the_config_schema() -> None:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    region = next(iter(cfg["regions"].values()))
    region["soil"] = {"path": "bk.gpkg", "layer": "soilarea", "join": dict(JOIN)}
    with contextlib.chdir(ROOT):
        out = validate_config(cfg, SCHEMA)
    assert next(iter(out["regions"].values()))["soil"]["join"] == JOIN
    region["soil"]["join"] = {**JOIN, "kee": "x"}
    with contextlib.chdir(ROOT), pytest.raises(WerklandInputError, match="unknown key 'kee'"):
        validate_config(cfg, SCHEMA)
    region["soil"]["join"] = {"table": "soilarea_soilunit", "field": "soilunit_code"}
    with contextlib.chdir(ROOT), pytest.raises(WerklandInputError, match="key"):
        validate_config(cfg, SCHEMA)


def test_join_missing_table(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path)
    spec = _soil_spec(path, {**JOIN, "table": "soilarea_soilunits"})
    with pytest.raises(WerklandInputError, match="has no table 'soilarea_soilunits' to join") as err:
        read_soil(spec, GRID, _valid(), where=f"{WHERE}.soil")
    msg = str(err.value)
    assert str(path) in msg and "soilarea, soilarea_soilunit" in msg and f"{WHERE}.soil.join.table" in msg


def test_join_missing_key_field(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path)
    with pytest.raises(WerklandInputError, match="layer 'soilarea' has no key field 'map_area_id'") as err:
        read_soil(_soil_spec(path, {**JOIN, "key": "map_area_id"}), GRID, _valid(), where=f"{WHERE}.soil")
    assert str(path) in str(err.value) and f"{WHERE}.soil.join.key" in str(err.value)
    # a key the layer has but the table lacks
    with pytest.raises(WerklandInputError, match="table 'soilarea_soilunit' has no key field 'bro_id'") as err:
        read_soil(_soil_spec(path, {**JOIN, "key": "bro_id"}), GRID, _valid(), where=f"{WHERE}.soil")
    assert str(path) in str(err.value) and f"{WHERE}.soil.join.key" in str(err.value)
    for key, col in (("field", "soilunit"), ("order", "sequencenumber")):
        with pytest.raises(WerklandInputError, match=f"table 'soilarea_soilunit' has no field '{col}'") as err:
            read_soil(_soil_spec(path, {**JOIN, key: col}), GRID, _valid(), where=f"{WHERE}.soil")
        assert f"{WHERE}.soil.join.{key}" in str(err.value) and "soilunit_sequencenumber" in str(err.value)


def test_join_unit_without_mapping(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path, [("A1", "Mn25A", 1), ("A2", "Q99x", 1), ("A3", "|g BEBOUW", 1)])
    with pytest.raises(WerklandInputError, match=r"soil units without a mapping inside the region, table "
                                                 r"'soilarea_soilunit', field 'soilunit_code': 'Q99x'") as err:
        read_soil(_soil_spec(path), GRID, _valid(), where=f"{WHERE}.soil")
    msg = str(err.value)
    assert str(path) in msg and "soil_bodemkaart.yaml" in msg and f"{WHERE}.soil.mapping" in msg
    # the unmapped unit of area A4, outside the region, does not matter (default rows)
    read_soil(_soil_spec(make_bodemkaart(tmp_path, name="ok.gpkg")), GRID, _valid(), where=f"{WHERE}.soil")


def test_join_several_units_without_order_and_keys_that_match_nothing(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path)
    no_order = {k: v for k, v in JOIN.items() if k != "order"}
    with pytest.raises(WerklandInputError, match=r"several different units in field 'soilunit_code' \(e.g. 'A2'") as err:
        read_soil(_soil_spec(path, no_order), GRID, _valid(), where=f"{WHERE}.soil")
    assert f"{WHERE}.soil.join.order" in str(err.value) and "soilunit_sequencenumber" in str(err.value)
    # one unit per key: no order needed
    one = make_bodemkaart(tmp_path, [("A1", "Mn25A", 1), ("A2", "Hn21", 1), ("A2", "Hn21", 2)], name="one.gpkg")
    group, _ = read_soil(_soil_spec(one, no_order), GRID, _valid(), where=f"{WHERE}.soil")
    assert group[5, 5] == 3 and group[5, 15] == 1
    # the wrong key column: polygons cover the region but no key has a row
    bad = make_bodemkaart(tmp_path, [("x1", "Mn25A", 1), ("x2", "Hn21", 1)], name="bad.gpkg")
    with pytest.raises(WerklandInputError, match="has a row in table 'soilarea_soilunit'") as err:
        read_soil(_soil_spec(bad), GRID, _valid(), where=f"{WHERE}.soil")
    assert str(bad) in str(err.value) and f"{WHERE}.soil.join.key" in str(err.value)


def test_unit_column_in_a_separate_table_names_the_join(tmp_path: Path) -> None:
    path = make_bodemkaart(tmp_path)
    h = HydrologyInputs.from_region(
        {"soil": {"path": str(path), "layer": "soilarea", "class_field": "soilunit_code"}}, where=WHERE)
    assert h.soil is not None
    with pytest.raises(WerklandInputError, match="layer 'soilarea' has no field 'soilunit_code'") as err:
        read_soil(h.soil, GRID, _valid(), where=f"{WHERE}.soil")
    msg = str(err.value)
    assert str(path) in msg
    assert f"{WHERE}.soil.join: {{table: soilarea_soilunit, key: maparea_id, field: soilunit_code}}" in msg


def test_join_on_a_raster_soil_map_is_refused(tmp_path: Path) -> None:
    path = _soil_raster(tmp_path, np.ones((H // 2, W // 2), dtype=np.uint16))
    spec = SoilInput(path=str(path), class_field=None, layer=None, mapping={"1": "sand"},
                     join=SoilJoin(**JOIN))
    with pytest.raises(WerklandInputError, match="a join applies to vector soil maps") as err:
        read_soil(spec, GRID, _valid(), where=f"{WHERE}.soil")
    assert str(path) in str(err.value) and f"{WHERE}.soil.join" in str(err.value)
