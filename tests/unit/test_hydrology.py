"""Soil, groundwater and terrain of the climate stage: mappings, priority-flood, D8 routing, per-park
water balance, the contract rasters and the input errors.

The fixture :func:`make_hydrology_inputs` writes a small synthetic demo of the inputs (a DTM with a
bowl and a tilted plane, a soil GeoPackage with Bodemkaart codes and a Gt GeoPackage) beside a
land-cover raster and a parks layer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from werkland import WerklandInputError
from werkland._kernels.flow import accumulate
from werkland.climate import load_biophysical, run_climate, scs_runoff_mm
from werkland.climate.parks import hydrology_columns
from werkland.climate.routing import build_flow_model, park_water, route_runoff
from werkland.climate.soil import load_groundwater_classes, load_soil_mapping
from werkland.climate.stage import HydrologyOutputs
from werkland.config import validate_config
from werkland.params import ClimateParams, HydrologyInputs
from werkland.raster.io import Grid, write_raster

ROOT = Path(__file__).resolve().parents[2]
LEGEND_YAML = ROOT / "config" / "landcover_classes.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
RD = CRS.from_epsg(28992)
X0, Y0, RES, H, W = 100_000.0, 450_000.0, 10.0, 40, 50


# --------------------------------------------------------------------------------------------------
# mappings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "texture", "group"),
    [("Hn21", 4, 1), ("pZg23", 4, 1), ("zEZ21", 4, 1), ("cY21", 4, 1), ("Mn25A", 2, 3), ("Rn67C", 2, 3),
     ("KRn2", 2, 3), ("kVk", 1, 4), ("Vs", 1, 4), ("kWp", 1, 4), ("AVo", 1, 4), ("BLd5", 3, 2), ("Ln5", 3, 2)],
)
def test_bodemkaart_mapping_classes(unit: str, texture: int, group: int) -> None:
    cls = load_soil_mapping(ROOT / "config" / "mappings" / "soil_bodemkaart.yaml").lookup(unit)
    assert cls is not None and (cls.texture, cls.group) == (texture, group)


def test_bodemkaart_mapping_no_information_and_unmapped() -> None:
    m = load_soil_mapping(ROOT / "config" / "mappings" / "soil_bodemkaart.yaml")
    assert m.lookup("|g BEBOUW") is None and m.lookup("WATER") is None
    with pytest.raises(KeyError):
        m.lookup("Q99")
    inline = load_soil_mapping({"S1": "sand", "C1": {"texture": "clay", "group": "D"}, "X": None})
    assert inline.lookup("S1").group == 1 and inline.lookup("C1").group == 4 and inline.lookup("X") is None
    with pytest.raises(WerklandInputError, match="unknown texture family 'silt'"):
        load_soil_mapping({"S1": "silt"})


def test_groundwater_classes_depths_and_shallow_classes() -> None:
    gt = load_groundwater_classes(ROOT / "config" / "mappings" / "groundwater_classes.yaml")
    assert gt.lookup("Gt VIId") == (1.10, 2.20) and gt.lookup("iiib") == (0.325, 1.0)
    shallow = {k for k, (ghg, _) in gt.depths.items() if ghg < 0.4}
    assert {"i", "ii", "iia", "iib", "iii", "iiia", "iiib", "v", "va", "vb"} <= shallow
    assert not shallow & {"iv", "vi", "vii", "viio", "viid", "viii"}
    doc = yaml.safe_load((ROOT / "config" / "mappings" / "groundwater_classes.yaml").read_text())
    for name, spec in doc["classes"].items():  # the representative depths lie in their ranges
        for q in ("ghg", "glg"):
            lo, hi = spec[f"{q}_range_m"]
            assert (lo is None or spec[f"{q}_m"] >= lo) and (hi is None or spec[f"{q}_m"] <= hi), name
        assert spec["ghg_m"] <= spec["glg_m"], name
    with pytest.raises(KeyError):
        gt.lookup("IX")


# --------------------------------------------------------------------------------------------------
# terrain kernels
# --------------------------------------------------------------------------------------------------


def test_tilted_plane_accumulation_is_upslope_area() -> None:
    rows, cols = np.mgrid[0:30, 0:20]
    dem = 100.0 - rows * 0.5 + 0.0 * cols  # falls to the south
    model = build_flow_model(dem, np.ones(dem.shape, bool), 25.0)
    assert len(model.release) == 0
    np.testing.assert_array_equal(model.accumulation_m2(), (rows + 1) * 25.0)


def test_bowl_filled_volume_is_analytic() -> None:
    n, res, k = 201, 1.0, 0.001
    c = (np.arange(n) - n // 2) * res
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    R = 90.0
    rim = k * R * R
    dem = np.minimum(k * r2, rim)  # paraboloid bowl inside a flat plateau at the rim level
    model = build_flow_model(dem, np.ones(dem.shape, bool), res * res)
    assert len(model.release) == 1
    exact = float(((rim - dem) * res * res).sum())
    assert model.capacity_m3.sum() == pytest.approx(exact, rel=1e-12)
    assert model.capacity_m3.sum() == pytest.approx(np.pi * k * R**4 / 2.0, rel=2e-3)  # paraboloid volume


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fill_equals_pysheds_on_random_dems(seed: int) -> None:
    pysheds = pytest.importorskip("pysheds.grid")
    from pysheds.sview import Raster, ViewFinder

    rng = np.random.default_rng(seed)
    dem = rng.random((60, 70)) * 10.0
    vf = ViewFinder(shape=dem.shape)
    filled = np.asarray(pysheds.Grid(viewfinder=vf).fill_depressions(Raster(dem.copy(), viewfinder=vf)))
    model = build_flow_model(dem, np.ones(dem.shape, bool), 1.0)
    np.testing.assert_array_equal(model.filled.reshape(dem.shape), filled)


def _down_from_pysheds(fdir: np.ndarray) -> np.ndarray:
    dirmap = {64: (-1, 0), 128: (-1, 1), 1: (0, 1), 2: (1, 1), 4: (1, 0), 8: (1, -1), 16: (0, -1), 32: (-1, -1)}
    h, w = fdir.shape
    down = np.full(h * w, -1, np.int64)
    for r in range(h):
        for c in range(w):
            d = dirmap.get(int(fdir[r, c]))
            if d is not None and 0 <= r + d[0] < h and 0 <= c + d[1] < w:
                down[r * w + c] = (r + d[0]) * w + c + d[1]
    return down


def _topological_order(down: np.ndarray) -> np.ndarray:
    """Cells with every cell's downstream cell first (reverse of upstream-first Kahn order)."""
    indeg = np.bincount(down[down >= 0], minlength=len(down))
    stack = list(np.flatnonzero(indeg == 0))
    out = []
    while stack:
        i = stack.pop()
        out.append(i)
        d = down[i]
        if d >= 0:
            indeg[d] -= 1
            if indeg[d] == 0:
                stack.append(d)
    assert len(out) == len(down)
    return np.array(out[::-1], dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_d8_and_accumulation_equal_pysheds_on_random_dems(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pysheds = pytest.importorskip("pysheds.grid")
    if not hasattr(np, "in1d"):  # pysheds 0.5 still calls np.in1d, removed in numpy 2.4
        monkeypatch.setattr(np, "in1d", np.isin, raising=False)
    from pysheds.sview import Raster, ViewFinder

    rng = np.random.default_rng(seed)
    h, w = 50, 40
    dem = rng.random((h, w)) + 3.0 * np.arange(h)[:, None]  # no pits, no flats (every cell has a lower N)
    vf = ViewFinder(shape=dem.shape)
    g = pysheds.Grid(viewfinder=vf)
    fdir_r = g.flowdir(Raster(dem.copy(), viewfinder=vf))
    fdir = np.asarray(fdir_r)
    model = build_flow_model(dem, np.ones(dem.shape, bool), 1.0)
    inner = np.zeros((h, w), bool)
    inner[1:-1, 1:-1] = True  # pysheds leaves the raster edge without a direction
    ref = _down_from_pysheds(fdir)
    np.testing.assert_array_equal(model.down[inner.ravel()], ref[inner.ravel()])
    # accumulation over pysheds' own directions: our kernel equals pysheds cell for cell
    acc_ref = np.asarray(g.accumulation(fdir_r))
    acc = accumulate(ref, _topological_order(ref), np.ones(h * w)).reshape(h, w)
    np.testing.assert_allclose(acc, acc_ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_routing_conserves_volume_per_park_on_random_terrain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dem = rng.random((60, 50)) * 2.0
    valid = np.ones(dem.shape, bool)
    valid[:5, :7] = False  # a hole outside the region
    model = build_flow_model(dem, valid, 4.0)
    q = rng.random(dem.shape) * 30.0
    r = route_runoff(model, q)
    total = float(r.q_m3.sum())
    assert abs(float(r.stored_m3.sum()) + r.leaving_m3 - total) <= 1e-9 * total
    assert np.all(r.stored_m3 <= np.nan_to_num(model.filled - model.dem) * 4.0 * (1 + 1e-9) + 1e-12)
    for sl in [(slice(0, 30), slice(0, 25)), (slice(10, 50), slice(5, 45)), (slice(0, 60), slice(0, 50))]:
        m = valid[sl].copy()
        m[::3, ::2] = False  # a ragged park
        pw = park_water(model, r, sl, m)
        lhs, rhs = pw.generated_m3 + pw.runon_m3, pw.ponded_m3 + pw.outflow_m3
        assert abs(lhs - rhs) <= 1e-9 * max(lhs, 1.0)


def test_closed_basin_keeps_all_water_until_full() -> None:
    n = 41
    c = np.arange(n) - n // 2
    dem = 0.01 * (c[:, None] ** 2 + c[None, :] ** 2).astype(float)
    dem[0, :] = dem[-1, :] = dem[:, 0] = dem[:, -1] = 100.0  # a high rim: the border cells
    model = build_flow_model(dem, np.ones(dem.shape, bool), 1.0)
    cap = float(model.capacity_m3.sum())
    for depth_mm in (1.0, 10.0, 1e6):
        q = np.zeros(dem.shape)
        q[1:-1, 1:-1] = depth_mm  # rain on the basin; the border cells are its sill (outlets)
        r = route_runoff(model, q)
        rain = float(r.q_m3.sum())
        assert float(r.stored_m3.sum()) == pytest.approx(min(rain, cap), rel=1e-9)
        assert r.leaving_m3 == pytest.approx(max(0.0, rain - cap), rel=1e-9, abs=1e-9)
        if rain < cap:  # one level: the depth is largest at the bottom and 0 above the water
            d = r.depth_m
            assert d[n // 2, n // 2] == d.max() and d[1, 1] == 0.0


# --------------------------------------------------------------------------------------------------
# the stage with synthetic inputs
# --------------------------------------------------------------------------------------------------


def _cell_box(r0: int, r1: int, c0: int, c1: int):
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


def make_hydrology_inputs(d: Path, *, dtm_scale: float = 1.0) -> dict[str, Path]:
    """A small demo of every hydrology input beside a land-cover raster and a parks layer.

    DTM: a plane falling to the east (1 %) with a bowl 1.5 m deep in park A and a ridge; soil: clay
    in the west, sand in the east, built-up land (no information) in the south-east corner; Gt: III
    (shallow) in the north-west, VII elsewhere.
    """
    leg = load_biophysical(LEGEND_YAML)
    c = leg.code_of
    lc = np.full((H, W), c("grass"), dtype=np.uint8)
    lc[0:20, 0:20] = c("parking")
    lc[25:35, 10:30] = c("sealed")
    lc[:, 47:] = 0  # outside the region
    grid = Grid(H, W, Affine(RES, 0, X0, 0, -RES, Y0), RD)
    write_raster(d / "landcover.tif", lc, grid, nodata=0)
    gpd.GeoDataFrame({"class": ["building"], "source": "test"}, geometry=[_cell_box(2, 4, 2, 4)],
                     crs=RD).to_file(d / "landcover.gpkg", layer="landcover", driver="GPKG")
    gpd.GeoDataFrame({"park_id": ["A", "B"], "name": ["Park A", "Park B"]},
                     geometry=[_cell_box(0, 20, 0, 20), _cell_box(20, 40, 5, 35)],
                     crs=RD).to_file(d / "region.gpkg", layer="parks", driver="GPKG")
    # DTM at 5 m (2 x 2 source cells per grid cell), slightly larger than the grid
    f = 2
    rr, cc = np.mgrid[0 : (H + 4) * f, 0 : (W + 4) * f] / f - 2.0
    z = 5.0 - 0.1 * cc  # 1 % fall to the east
    z -= 1.5 * np.clip(1.0 - ((rr - 10) ** 2 + (cc - 10) ** 2) / 36.0, 0.0, None)  # bowl in park A
    z += 0.5 * np.exp(-((cc - 25) ** 2) / 2.0)  # a low ridge
    dtm = (z * dtm_scale).astype(np.float32)
    t = Affine(RES / f, 0, X0 - 2 * RES, 0, -RES / f, Y0 + 2 * RES)
    with rasterio.open(d / "dtm.tif", "w", driver="GTiff", height=dtm.shape[0], width=dtm.shape[1], count=1,
                       dtype="float32", crs="EPSG:28992", transform=t, nodata=-9999.0) as ds:
        ds.write(dtm, 1)
    gpd.GeoDataFrame({"soilunit_code": ["Mn25A", "Hn21", "|g BEBOUW"]},
                     geometry=[_cell_box(-5, 45, -5, 25), _cell_box(-5, 30, 25, 55), _cell_box(30, 45, 25, 55)],
                     crs=RD).to_file(d / "soil.gpkg", layer="soilarea", driver="GPKG")
    gpd.GeoDataFrame({"gt": ["III", "Gt VII"]},
                     geometry=[_cell_box(-5, 10, -5, 10), _cell_box(10, 45, -5, 55).union(_cell_box(-5, 10, 10, 55))],
                     crs=RD).to_file(d / "gt.gpkg", layer="gt", driver="GPKG")
    return {"tif": d / "landcover.tif", "gpkg": d / "landcover.gpkg", "region": d / "region.gpkg",
            "dtm": d / "dtm.tif", "soil": d / "soil.gpkg", "gt": d / "gt.gpkg", "dir": d}


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    return make_hydrology_inputs(tmp_path)


def _params() -> ClimateParams:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with contextlib.chdir(ROOT):
        return ClimateParams.from_config(validate_config(cfg, SCHEMA))


def _hydro(inputs: dict[str, Path], **keys: Any) -> HydrologyInputs:
    region: dict[str, Any] = {}
    if keys.get("soil", True):
        region["soil"] = {"path": str(inputs["soil"]), "class_field": "soilunit_code", "layer": "soilarea",
                          "mapping": str(ROOT / "config" / "mappings" / "soil_bodemkaart.yaml")}
    if keys.get("groundwater", True):
        region["groundwater"] = {"path": str(inputs["gt"]), "field": "gt",
                                 "classes": str(ROOT / "config" / "mappings" / "groundwater_classes.yaml")}
    if keys.get("elevation", True):
        region["elevation"] = {"path": str(inputs["dtm"]), **keys.get("elevation_keys", {})}
    return HydrologyInputs.from_region(region, where="config: regions.test")


def _run(inputs: dict[str, Path], hydro: HydrologyInputs | None, out: str = "out") -> tuple[pd.DataFrame, Path]:
    p = _params()
    o = inputs["dir"] / out
    df = run_climate(
        inputs["tif"], inputs["gpkg"], inputs["region"], LEGEND_YAML, o / "cooling.tif",
        {s: o / f"runoff_{s}.tif" for s in p.storm_names}, o / "summary.csv", params=p, threads=1,
        hydrology=hydro,
        out_hydrology=HydrologyOutputs(o / "soil_group.tif", o / "ghg_m.tif", o / "infiltration_mm_h.tif",
                                       o / "flow_accumulation.tif", {s: o / f"ponding_{s}.tif" for s in p.storm_names}),
        where="config: regions.test",
    )
    return df, o


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_without_inputs_outputs_keep_their_values_and_new_ones_are_nodata(inputs: dict[str, Path]) -> None:
    p = _params()
    df0, o0 = _run(inputs, None, "plain")
    df1, o1 = _run(inputs, _hydro(inputs, soil=False, groundwater=False), "elev")
    old = [c for c in df0.columns if c not in hydrology_columns(p.storm_names)]
    pd.testing.assert_frame_equal(df0[old], df1[old])  # elevation alone changes no existing figure
    for name in ["cooling.tif", *(f"runoff_{s}.tif" for s in p.storm_names)]:
        np.testing.assert_array_equal(_read(o0 / name), _read(o1 / name))
    assert df0[hydrology_columns(p.storm_names)].isna().all().all()
    assert not df1[hydrology_columns(p.storm_names)].isna().any().any()
    assert (_read(o0 / "soil_group.tif") == 0).all()
    for name in ("ghg_m.tif", "infiltration_mm_h.tif", "flow_accumulation.tif",
                 *(f"ponding_{s}.tif" for s in p.storm_names)):
        assert np.isnan(_read(o0 / name)).all(), name
    acc = _read(o1 / "flow_accumulation.tif")
    assert np.isnan(acc[:, 47:]).all() and (acc[:, :47] >= RES * RES).all()
    assert np.nanmax(acc) <= 47 * H * RES * RES + 1e-3


def test_soil_groundwater_and_routing_figures(inputs: dict[str, Path]) -> None:
    p = _params()
    df, o = _run(inputs, _hydro(inputs))
    sg = _read(o / "soil_group.tif")
    assert sg[15, 5] == 3 and sg[5, 40] == 1  # clay (C) west, sand (A) east
    assert sg[2, 2] == 4  # Gt III: GHG 0.25 m < 0.4 m -> D
    assert sg[38, 40] == 0 and (sg[:, 47:] == 0).all()  # built-up land: no soil information; outside
    ghg = _read(o / "ghg_m.tif")
    assert ghg[2, 2] == pytest.approx(0.25) and ghg[30, 30] == pytest.approx(1.10) and np.isnan(ghg[:, 47:]).all()
    inf = _read(o / "infiltration_mm_h.tif")
    assert inf[15, 5] == 5.0 and inf[5, 40] == 150.0 and np.isnan(inf[38, 40])
    # the runoff uses the group per cell: parking on D (Gt III) and on C (clay)
    q = _read(o / "runoff_70mm_2h.tif")
    leg = load_biophysical(LEGEND_YAML)
    cn = leg.cn[leg.code_of("parking")]
    assert q[2, 2] == pytest.approx(float(scs_runoff_mm(70, cn[3])), abs=1e-4)
    assert q[15, 5] == pytest.approx(float(scs_runoff_mm(70, cn[2])), abs=1e-4)
    a = df.set_index("park_id").loc["A"]
    assert a["depression_storage_m3"] > 0 and a["ponding_area_m2"] > 0
    for s in p.storm_names:
        pond = _read(o / f"ponding_{s}.tif")
        assert np.nanmax(pond[0:20, 0:20]) > 0 and np.isnan(pond[:, 47:]).all()
        for _, row in df.iterrows():  # rain in = storage + outflow for every storm and park
            lhs = row[f"runoff_{s}_m3"] + row[f"runon_{s}_m3"]
            rhs = row[f"ponded_{s}_m3"] + row[f"outflow_{s}_m3"]
            assert abs(lhs - rhs) <= 1e-9 * max(lhs, 1.0), (row["park_id"], s)
        # the ponding raster holds what the parks report as ponded
        cell = RES * RES / 1000.0
        assert float(np.nansum(pond[0:20, 0:20])) * cell == pytest.approx(a[f"ponded_{s}_m3"], rel=1e-5)
    b = df.set_index("park_id").loc["B"]
    assert b["runon_70mm_2h_m3"] > 0  # park A's and the slope's water reaches B's cells downhill


def test_dtm_in_centimetres_is_refused(tmp_path: Path) -> None:
    inputs = make_hydrology_inputs(tmp_path, dtm_scale=100.0)
    with pytest.raises(WerklandInputError, match="centimetres") as err:
        _run(inputs, _hydro(inputs, soil=False, groundwater=False))
    assert "dtm.tif" in str(err.value) and "units" in str(err.value)
    # declaring the units converts them: same model as the metric DTM
    df_cm, _ = _run(inputs, _hydro(inputs, soil=False, groundwater=False, elevation_keys={"units": "cm"}), "cm")
    assert df_cm["depression_storage_m3"].notna().all()


def test_unmapped_soil_unit_and_unknown_gt_class(inputs: dict[str, Path]) -> None:
    gpd.GeoDataFrame({"soilunit_code": ["Mn25A", "Q99x"]}, geometry=[_cell_box(0, 40, 0, 25), _cell_box(0, 40, 25, 50)],
                     crs=RD).to_file(inputs["soil"], layer="soilarea", driver="GPKG")
    with pytest.raises(WerklandInputError, match=r"soil units without a mapping inside the region.*'Q99x'") as err:
        _run(inputs, _hydro(inputs, groundwater=False, elevation=False))
    assert "soil.gpkg" in str(err.value) and "soil_bodemkaart.yaml" in str(err.value)
    # a unit outside the region does not matter
    gpd.GeoDataFrame({"soilunit_code": ["Mn25A", "Q99x"]},
                     geometry=[_cell_box(0, 40, 0, 50), _cell_box(100, 110, 100, 110)],
                     crs=RD).to_file(inputs["soil"], layer="soilarea", driver="GPKG")
    _run(inputs, _hydro(inputs, groundwater=False, elevation=False))
    gpd.GeoDataFrame({"gt": ["IX"]}, geometry=[_cell_box(0, 40, 0, 50)], crs=RD).to_file(
        inputs["gt"], layer="gt", driver="GPKG")
    with pytest.raises(WerklandInputError, match="groundwater level classes that do not exist.*'IX'") as err:
        _run(inputs, _hydro(inputs, soil=False, elevation=False))
    assert "gt.gpkg" in str(err.value)


def test_elevation_that_does_not_cover_the_region(inputs: dict[str, Path]) -> None:
    with rasterio.open(inputs["dtm"], "r+") as ds:
        z = ds.read(1)
        z[:, z.shape[1] // 2 :] = -9999.0  # the eastern half has no data: 120 m and more from data
        ds.write(z, 1)
    with pytest.raises(WerklandInputError, match="elevation does not cover the region") as err:
        _run(inputs, _hydro(inputs, soil=False, groundwater=False))
    assert "dtm.tif" in str(err.value) and "elevation_fill_m" in str(err.value)


def test_small_dtm_gaps_are_filled(inputs: dict[str, Path]) -> None:
    with rasterio.open(inputs["dtm"], "r+") as ds:
        z = ds.read(1)
        z[40:48, 40:48] = -9999.0  # a 40 m building footprint without ground points
        ds.write(z, 1)
    df, _ = _run(inputs, _hydro(inputs, soil=False, groundwater=False))
    assert df["depression_storage_m3"].notna().all()


def test_hydrology_inputs_from_region_defaults_and_round_trip() -> None:
    h = HydrologyInputs.from_region({"soil": {"path": "s.gpkg", "class_field": "code"},
                                     "elevation": {"path": "dtm.tif"}}, where="config: regions.x")
    assert h.soil.mapping == "config/mappings/soil_bodemkaart.yaml" and h.elevation.units == "m"
    assert h.groundwater is None and HydrologyInputs.from_dict(h.as_dict()) == h
    assert h.files() == ["s.gpkg", "config/mappings/soil_bodemkaart.yaml", "dtm.tif"]
    with pytest.raises(WerklandInputError, match="did you mean 'class_field'"):
        HydrologyInputs.from_region({"soil": {"path": "s.gpkg", "class_fild": "code"}})
    with pytest.raises(WerklandInputError, match="units"):
        HydrologyInputs.from_region({"elevation": {"path": "d.tif", "units": "ft"}})
