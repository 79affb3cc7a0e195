"""Tests of werkland.climate: InVEST Urban Cooling and SCS-CN runoff, per-park summary, bad input,
typed parameters (ClimateParams) and the park window/mask of the raster grid.

Reference values come from ``shared/notes/climate.md`` section 1 (InVEST test cases, TR-55 retention
table); oracles are naive loops over cells.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS
from rasterio.features import rasterize
from shapely.geometry import LineString, Point, Polygon, box

from werkland import WerklandInputError
from werkland.climate import (
    BiophysicalTable,
    air_temperature,
    cool_spots,
    cooling_capacity,
    heat_mitigation,
    landcover_cooling_capacity,
    load_biophysical,
    natural_reference_landcover,
    park_cooling,
    run_climate,
    runoff_mm,
    scs_potential_retention_mm,
    scs_runoff_mm,
    urban_cooling,
)
from werkland.climate.parks import hydrology_columns
from werkland.config import schema_defaults, validate_config
from werkland.params import ClimateParams, Storm
from werkland.raster.io import Grid, write_raster

ROOT = Path(__file__).resolve().parents[2]
LEGEND_YAML = ROOT / "config" / "landcover_classes.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
RD = CRS.from_epsg(28992)

# ------------------------------------------------------------------------------------------------
# InVEST UCM test_cc_rasters (climate.md 1.6 item 1)
# ------------------------------------------------------------------------------------------------

INVEST_TABLE = {  # lucode: green_area, kc, albedo, shade
    1: (0, 1.0, 0.05, 0.0),
    2: (1, 1.1, 0.10, 1.0),
    3: (1, 0.9, 0.20, 0.0),
    4: (0, 0.3, 0.30, 0.2),
    5: (0, 0.2, 0.40, 0.0),
}
INVEST_LULC = [
    [2, 3, 1, 5, 5, 5],
    [3, 3, 1, 1, 4, 5],
    [5, 5, 4, 2, 3, 1],
    [4, 1, 4, 2, 2, 1],
    [1, 5, 4, 1, 1, 2],
]
INVEST_ET0 = [
    [800, 799, 567, 234, 422, 422],
    [765, 867, 765, 654, 456, 677],
    [556, 443, 456, 265, 876, 890],
    [433, 266, 677, 776, 900, 687],
    [456, 832, 234, 234, 234, 554],
]
INVEST_CC = [
    [0.815556, 0.1998, 0.136, 0.0904, 0.098756, 0.098756],
    [0.193, 0.2134, 0.18, 0.155333, 0.2104, 0.110089],
    [0.104711, 0.099689, 0.2104, 0.684778, 0.2152, 0.207778],
    [0.208867, 0.069111, 0.225133, 0.809689, 0.84, 0.162667],
    [0.111333, 0.116978, 0.1956, 0.062, 0.062, 0.755422],
]
INVEST_CC_PARK = [
    [0.183541, 0.160865, 0.144615, 0.137877, 0.134337, 0.133191],
    [0.15858, 0.152832, 0.147821, 0.150366, 0.14931, 0.146379],
    [0.138345, 0.141573, 0.153495, 0.176796, 0.176097, 0.167245],
    [0.127652, 0.135503, 0.155057, 0.188767, 0.201188, 0.189137],
    [0.123915, 0.132925, 0.151136, 0.174207, 0.192404, 0.211902],
]


def _invest_legend() -> BiophysicalTable:
    classes = [
        {
            "code": code,
            "name": f"lucode{code}",
            "green_area": g,
            "kc": kc,
            "albedo": alb,
            "shade": sh,
            "cn": {"A": 50, "B": 60, "C": 70, "D": 80},
            "storage_mm": 0,
            "sealed": 0,
        }
        for code, (g, kc, alb, sh) in INVEST_TABLE.items()
    ]
    return BiophysicalTable.from_classes(classes, natural_reference={"grassland": "lucode3"})


def test_invest_cc_rasters() -> None:
    res = urban_cooling(
        np.array(INVEST_LULC, dtype=np.uint8),
        _invest_legend(),
        30.0,
        ClimateParams.from_section(
            {
                "cooling_distance_m": 90,
                "t_air_radius_m": 300,
                "t_ref_degC": 23.5,
                "uhi_max_degC": 2.05,
            }
        ),
        et0_mm=np.array(INVEST_ET0, dtype=float),
    )
    np.testing.assert_allclose(res.cc, INVEST_CC, atol=1e-6, rtol=0)
    np.testing.assert_allclose(res.cc_park, INVEST_CC_PARK, atol=1e-6, rtol=0)
    # hand check of the forest cell: 0.6*1 + 0.2*0.1 + 0.2*1.1*800/900
    assert res.cc[0, 0] == pytest.approx(0.6 + 0.02 + 0.2 * 1.1 * 800 / 900, abs=1e-12)
    # HM rule: the whole 5x6 x 900 m² raster holds < 2 ha of green, so HM = CC
    assert res.ga_m2.max() < 20_000
    np.testing.assert_array_equal(res.hm, res.cc)
    assert res.t_air_degC is not None and np.all(np.isfinite(res.t_air_degC))


def test_urban_cooling_is_the_same_on_one_or_two_threads() -> None:
    """The climate rule runs on one thread (it gains nothing from two): the FFT workers do not change
    a single value, so the outputs are those of the two-thread runs before."""
    rng = np.random.default_rng(3)
    base = np.array(INVEST_LULC, dtype=np.uint8)
    lc = np.tile(base, (60, 50))
    lc = np.where(rng.random(lc.shape) < 0.3, rng.permutation(lc.ravel()).reshape(lc.shape), lc).astype(np.uint8)
    p = ClimateParams.from_section({"cooling_distance_m": 450, "t_air_radius_m": 600, "t_ref_degC": 23.5,
                                    "uhi_max_degC": 2.05})
    one = urban_cooling(lc, _invest_legend(), 30.0, p, workers=1)
    two = urban_cooling(lc, _invest_legend(), 30.0, p, workers=2)
    for name in ("cc", "cc_park", "hm", "ga_m2", "t_air_degC", "green"):
        a, b = getattr(one, name), getattr(two, name)
        if a is None:
            assert b is None
            continue
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert one.hm.std() > 0


def test_cooling_capacity_weights_renormalised() -> None:
    a = cooling_capacity(0.5, 0.3, 0.7, {"shade": 3, "albedo": 1, "eti": 1})
    b = cooling_capacity(0.5, 0.3, 0.7)
    assert float(a) == pytest.approx(float(b)) == pytest.approx(0.6 * 0.5 + 0.2 * 0.3 + 0.2 * 0.7)
    c = cooling_capacity(0.5, 0.3, 0.7, {"shade": 1, "albedo": 1, "eti": 1})
    assert float(c) == pytest.approx(0.5)
    with pytest.raises(WerklandInputError, match="cc_weights"):
        cooling_capacity(0.5, 0.3, 0.7, {"shade": 0, "albedo": 0, "eti": 0})


def test_default_cc_of_legend_matches_notes() -> None:
    """climate.md 1.6 item 6 / section 5: asphalt CC 0.04, mown grass 0.20 with ETI = kc."""
    leg = load_biophysical(LEGEND_YAML)
    codes = np.array(
        [[leg.code_of("parking"), leg.code_of("grass"), leg.code_of("woodland")]], dtype=np.uint8
    )
    cc = landcover_cooling_capacity(codes, leg)
    assert cc[0, 0] == pytest.approx(0.04, abs=1e-9)
    assert cc[0, 1] == pytest.approx(0.204, abs=1e-9)
    assert cc[0, 2] == pytest.approx(0.83, abs=1e-9)  # native tree in climate.md 5


# ------------------------------------------------------------------------------------------------
# kernels against naive oracles
# ------------------------------------------------------------------------------------------------


def _naive_park(cc: np.ndarray, green: np.ndarray, valid: np.ndarray, res: float, dc: float):
    h, w = cc.shape
    park = np.full(cc.shape, np.nan)
    ga = np.zeros(cc.shape)
    for i in range(h):
        for j in range(w):
            if not valid[i, j]:
                continue
            num = den = 0.0
            for k in range(h):
                for m in range(w):
                    d = math.hypot(i - k, j - m) * res
                    if d <= dc and green[k, m] and valid[k, m]:
                        ga[i, j] += res * res
                    if d <= 5 * dc and valid[k, m]:
                        wgt = math.exp(-d / dc)
                        den += wgt
                        num += wgt * (cc[k, m] if green[k, m] else 0.0)
            park[i, j] = num / den
    return park, ga


@pytest.mark.parametrize("seed", [0, 1])
def test_park_cooling_matches_naive_sum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (13, 17)
    valid = rng.random(shape) > 0.2
    cc = np.where(valid, rng.random(shape), np.nan)
    green = rng.random(shape) > 0.5
    park, ga = park_cooling(cc, green, 10.0, 25.0, valid=valid)
    exp_park, exp_ga = _naive_park(cc, green, valid, 10.0, 25.0)
    np.testing.assert_allclose(park[valid], exp_park[valid], atol=1e-10, rtol=0)
    np.testing.assert_array_equal(ga, exp_ga)
    assert np.all(np.isnan(park[~valid]))


def test_air_temperature_uniform_and_oracle() -> None:
    hm = np.full((9, 11), 0.4)
    t = air_temperature(hm, 10.0, 20.0, 3.0, 30.0)
    np.testing.assert_allclose(t, 20.0 + 0.6 * 3.0, atol=1e-10)
    rng = np.random.default_rng(3)
    hm = rng.random((9, 11))
    hm[2, 3] = np.nan
    t = air_temperature(hm, 10.0, 20.0, 3.0, 12.0)
    valid = np.isfinite(hm)
    tn = 20.0 + (1 - np.nan_to_num(hm)) * 3.0
    i, j = 4, 5
    num = den = 0.0
    for k in range(9):
        for m in range(11):
            d = math.hypot(i - k, j - m) * 10.0
            if valid[k, m] and d <= 60.0:
                num += math.exp(-d / 12.0) * tn[k, m]
                den += math.exp(-d / 12.0)
    assert t[i, j] == pytest.approx(num / den, abs=1e-10)
    assert np.isnan(t[2, 3])


def test_cool_spots_contiguity_and_area() -> None:
    hm = np.full((8, 8), 0.5)
    green = np.zeros((8, 8), dtype=bool)
    green[0:2, 0:2] = True  # 4 cells
    green[2, 2] = True  # joins diagonally (8-connectivity): 5 cells
    green[6:8, 6:8] = True  # 4 cells, separate
    lab = cool_spots(hm, green, 10.0, hm_min=0.3, min_area_m2=500.0)
    assert lab.max() == 1 and lab[2, 2] == lab[0, 0] == 1 and lab[7, 7] == 0
    hm[0, 0] = 0.1  # below the HM threshold -> spot shrinks to 4 cells
    assert cool_spots(hm, green, 10.0, hm_min=0.3, min_area_m2=500.0).max() == 0


# ------------------------------------------------------------------------------------------------
# runoff
# ------------------------------------------------------------------------------------------------


def test_scs_runoff_reference_numbers() -> None:
    assert float(scs_runoff_mm(70, 98)) == pytest.approx(64.1, abs=0.05)
    assert float(scs_runoff_mm(70, 61)) == pytest.approx(7.0, abs=0.05)


def test_ufrm_smax() -> None:
    np.testing.assert_allclose(
        scs_potential_retention_mm([100, 0, 65, 90, 30]),
        [0, 100000, 136.769, 28.222, 592.667],
        atol=1e-3,
    )


RETENTION = {  # P: {CN: R} (climate.md 1.2)
    40: {98: 0.140, 89: 0.563, 80: 0.795, 74: 0.890, 61: 0.992, 39: 1.000},
    60: {98: 0.097, 89: 0.435, 80: 0.663, 74: 0.775, 61: 0.934, 39: 1.000},
    70: {98: 0.084, 89: 0.390, 80: 0.612, 74: 0.725, 61: 0.899, 39: 1.000},
    90: {98: 0.066, 89: 0.323, 80: 0.528, 74: 0.642, 61: 0.833, 39: 0.997},
    140: {98: 0.043, 89: 0.226, 80: 0.393, 74: 0.496, 61: 0.694, 39: 0.943},
}


@pytest.mark.parametrize("p_mm", sorted(RETENTION))
def test_retention_table(p_mm: int) -> None:
    cns = sorted(RETENTION[p_mm])
    r = 1.0 - scs_runoff_mm(p_mm, np.array(cns, dtype=float)) / p_mm
    np.testing.assert_allclose(r, [RETENTION[p_mm][c] for c in cns], atol=6e-4)


def test_zero_storm_and_lambda() -> None:
    q = scs_runoff_mm(0.0, np.array([0, 30, 61, 98, 100]))
    assert np.all(q == 0) and not np.isnan(q).any()
    assert float(scs_runoff_mm(50, 100)) == pytest.approx(50.0)  # CN 100: all rain runs off
    # smaller initial abstraction -> more runoff
    assert float(scs_runoff_mm(40, 70, lam=0.05)) > float(scs_runoff_mm(40, 70, lam=0.2))
    with pytest.raises(WerklandInputError):
        scs_runoff_mm(-1.0, 80)
    with pytest.raises(WerklandInputError):
        scs_runoff_mm(10.0, 101)


def test_runoff_mm_storage_soil_and_nodata() -> None:
    leg = load_biophysical(LEGEND_YAML)
    c = leg.code_of
    lc = np.array([[c("parking"), c("grass"), c("wadi"), c("green_roof"), 0]], dtype=np.uint8)
    q = runoff_mm(lc, leg, 70.0, "B")
    assert q[0, 0] == pytest.approx(float(scs_runoff_mm(70, 98)))
    assert q[0, 1] == pytest.approx(float(scs_runoff_mm(70, 61)))
    assert q[0, 2] == 0.0  # 300 mm wadi storage swallows the rain on the wadi
    assert q[0, 3] == pytest.approx(float(scs_runoff_mm(70, 86)) - 20.0)
    assert np.isnan(q[0, 4])
    q_nostore = runoff_mm(lc, leg, 70.0, "B", storage=False)
    assert q_nostore[0, 2] == pytest.approx(float(scs_runoff_mm(70, 61)))
    qd = runoff_mm(lc, leg, 70.0, "D")
    assert qd[0, 1] == pytest.approx(float(scs_runoff_mm(70, 80)))
    soil = np.array([[1, 4, 2, 2, 1]])
    qs = runoff_mm(lc, leg, 70.0, soil)
    assert qs[0, 1] == pytest.approx(qd[0, 1]) and qs[0, 0] == pytest.approx(q[0, 0])
    assert np.all(runoff_mm(lc, leg, 0.0)[0, :4] == 0)
    nat = natural_reference_landcover(lc, leg, "woodland")
    assert nat.tolist() == [[c("woodland")] * 4 + [0]]


# ------------------------------------------------------------------------------------------------
# monotonicity: paving -> grass never raises runoff nor lowers HM
# ------------------------------------------------------------------------------------------------

_LEG = load_biophysical(LEGEND_YAML)
_PAVING = [_LEG.code_of(n) for n in ("sealed", "parking", "road_minor", "road_main", "building")]
_OTHER = [_LEG.code_of(n) for n in ("woodland", "grass", "shrub", "open_water", "garden", "wadi")]
_MONO_PARAMS = ClimateParams.from_section({"cooling_distance_m": 40.0, "green_area_min_m2": 1500.0})


def _random_landscape(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    # blocky classes so green areas reach the 1500 m² switch
    small = rng.choice(_PAVING + _OTHER, size=(shape[0] // 4 + 1, shape[1] // 4 + 1))
    lc = np.kron(small, np.ones((4, 4), dtype=int))[: shape[0], : shape[1]]
    noise = rng.random(shape) < 0.15
    lc[noise] = rng.choice(_PAVING + _OTHER, size=int(noise.sum()))
    lc[rng.random(shape) < 0.05] = 0  # nodata holes
    return lc.astype(np.uint8)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    soil=st.sampled_from(["A", "B", "C", "D"]),
    share=st.floats(0.05, 1.0),
)
def test_paving_to_grass_is_monotone(seed: int, soil: str, share: float) -> None:
    rng = np.random.default_rng(seed)
    lc = _random_landscape(rng, (36, 40))
    paved = np.isin(lc, _PAVING) & (rng.random(lc.shape) < share)
    new = lc.copy()
    new[paved] = _LEG.code_of("grass")
    hm0 = heat_mitigation(lc, _LEG, 10.0, _MONO_PARAMS)
    hm1 = heat_mitigation(new, _LEG, 10.0, _MONO_PARAMS)
    valid = lc != 0
    assert np.all(hm1[valid] >= hm0[valid] - 1e-9)
    for storm in (40.0, 70.0, 140.0):
        q0 = runoff_mm(lc, _LEG, storm, soil)
        q1 = runoff_mm(new, _LEG, storm, soil)
        assert np.all(q1[valid] <= q0[valid] + 1e-12)
        if paved.any():
            assert q1[paved].sum() < q0[paved].sum()


def test_park_effect_engages_in_monotone_setting() -> None:
    """Guard that the monotonicity test exercises the CC_park branch of HM, not only CC."""
    lc = np.full((30, 30), _LEG.code_of("parking"), dtype=np.uint8)
    lc[5:25, 5:25] = _LEG.code_of("woodland")
    lc[12:18, 12:18] = _LEG.code_of("grass")
    res = urban_cooling(lc, _LEG, 10.0, _MONO_PARAMS)
    assert np.any(res.hm > res.cc + 0.1)  # grass inside the wood is cooled by the wood


# ------------------------------------------------------------------------------------------------
# per-park summary on a synthetic region (run_climate end to end)
# ------------------------------------------------------------------------------------------------

X0, Y0, RES, H, W = 100_000.0, 450_000.0, 10.0, 60, 80


def _cell_box(r0: int, r1: int, c0: int, c1: int):
    """Polygon covering rows r0..r1-1, cols c0..c1-1."""
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


@pytest.fixture()
def region(tmp_path: Path) -> dict[str, Path]:
    leg = load_biophysical(LEGEND_YAML)
    c = leg.code_of
    lc = np.full((H, W), c("sealed"), dtype=np.uint8)
    lc[0:30, 0:30] = c("parking")  # park A
    lc[25:30, 5:10] = c("building")  # building 1: 100 m from the wood
    lc[0:5, 20:25] = c("building")  # building 2: 350 m from the wood
    lc[40:60, 0:30] = c("woodland")  # 6 ha wood = cool spot
    lc[0:20, 40:60] = c("grass")  # park B
    lc[:, 75:] = 0  # outside the region
    grid = Grid(H, W, Affine(RES, 0, X0, 0, -RES, Y0), RD)
    tif = tmp_path / "landcover.tif"
    write_raster(tif, lc, grid, nodata=0)
    gpd.GeoDataFrame(
        {
            "class": ["building", "building", "woodland"],
            "source": "test",
            "area_m2": [2500.0, 2500.0, 60000.0],
        },
        geometry=[_cell_box(25, 30, 5, 10), _cell_box(0, 5, 20, 25), _cell_box(40, 60, 0, 30)],
        crs=RD,
    ).to_file(tmp_path / "landcover.gpkg", layer="landcover", driver="GPKG")
    gpd.GeoDataFrame(
        {"park_id": ["A", "B", "out", "far"], "name": ["Park A", "Park B", "Outside", None]},
        geometry=[
            _cell_box(0, 30, 0, 30),
            _cell_box(0, 20, 40, 60),
            _cell_box(10, 20, 76, 80),  # only nodata cells
            box(0, 0, 10, 10),  # far outside the grid
        ],
        crs=RD,
    ).to_file(tmp_path / "region.gpkg", layer="parks", driver="GPKG")
    return {
        "tif": tif,
        "gpkg": tmp_path / "landcover.gpkg",
        "region": tmp_path / "region.gpkg",
        "dir": tmp_path,
    }


def _config(climate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """config/config.yaml (its climate section replaced by ``climate`` if given), validated."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if climate is not None:
        cfg["climate"] = dict(climate)
    with contextlib.chdir(ROOT):  # the config's table paths are relative to the project root
        return validate_config(cfg, SCHEMA)


def _params(overrides: Mapping[str, Any] | None = None) -> ClimateParams:
    """The climate section of the validated config with ``overrides`` (config key names)."""
    base = ClimateParams.from_config(_config())
    return ClimateParams.from_section({**base.as_section(), **(overrides or {})})


def _run(
    region: dict[str, Path], params: dict | None = None, legend: Path = LEGEND_YAML
) -> pd.DataFrame:
    p = _params(params)
    out = region["dir"] / "climate"
    return run_climate(
        region["tif"],
        region["gpkg"],
        region["region"],
        legend,
        out / "cooling.tif",
        {s: out / f"runoff_{s}.tif" for s in p.storm_names},
        out / "summary.csv",
        params=p,
        threads=1,
    )


def test_run_climate_summary(region: dict[str, Path]) -> None:
    df = _run(region, {"cooling_distance_m": 100.0})
    out = region["dir"] / "climate"
    assert list(df["park_id"]) == ["A", "B", "out", "far"]
    for col in (
        "hm_mean",
        "hm_below_threshold_share",
        "buildings_near_cool_spot_share",
        "runoff_70mm_2h_m3",
        "natural_runoff_70mm_2h_m3",
        "excess_70mm_2h_m3",
        "excess_70mm_2h_mm",
        "runoff_140mm_2h_m3",
        "sealed_share",
        "storage_needed_m3",
        "area_m2",
        "note",
    ):
        assert col in df.columns, col
    routed = hydrology_columns(["70mm_2h", "140mm_2h"])  # NaN without an elevation model
    num = df.select_dtypes(include=[np.number]).drop(columns=routed)
    assert not num.isna().any().any() and df[routed].isna().all().all()
    a = df.set_index("park_id").loc["A"]
    area = 900 * RES * RES
    assert a["area_m2"] == area
    q98, q61 = float(scs_runoff_mm(70, 98)), float(scs_runoff_mm(70, 61))
    assert a["runoff_70mm_2h_m3"] == pytest.approx(q98 * area / 1000, rel=1e-6)
    assert a["natural_runoff_70mm_2h_m3"] == pytest.approx(q61 * area / 1000, rel=1e-6)
    assert a["excess_70mm_2h_mm"] == pytest.approx(q98 - q61, rel=1e-6)
    assert a["sealed_share"] == 1.0
    assert a["storage_needed_m3"] == pytest.approx(60.0 * area / 1000)
    assert a["hm_mean"] == pytest.approx((850 * 0.04 + 50 * 0.05) / 900, abs=1e-9)
    assert a["hm_below_threshold_share"] == 1.0
    assert a["buildings_n"] == 2 and a["buildings_near_cool_spot_share"] == 0.5
    b = df.set_index("park_id").loc["B"]
    assert b["sealed_share"] == 0.0 and b["storage_needed_m3"] == 0.0
    assert b["excess_70mm_2h_m3"] == pytest.approx(0.0, abs=1e-9)  # grass = natural reference
    assert b["hm_mean"] == pytest.approx(0.204, abs=1e-6)
    assert "no building" in b["note"]
    for pid in ("out", "far"):
        r = df.set_index("park_id").loc[pid]
        assert r["area_m2"] == 0 and r["runoff_70mm_2h_m3"] == 0 and "covers no cell" in r["note"]
    # the CSV round-trips without NaN in the numbers
    back = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert len(back) == 4 and not back.select_dtypes(include=[np.number]).drop(columns=routed, errors="ignore").isna().any().any()
    # rasters: units, CRS, nodata outside the region
    with rasterio.open(out / "cooling.tif") as src:
        hm = src.read(1)
        assert src.nodata == -1 and src.crs.to_epsg() == 28992 and src.dtypes[0] == "float32"
        assert "dimensionless" in src.tags()["units"]
    assert np.all(hm[:, 75:] == -1) and np.all((hm[:, :75] >= 0) & (hm[:, :75] <= 1))
    with rasterio.open(out / "runoff_70mm_2h.tif") as src:
        q = src.read(1)
        assert src.tags()["units"] == "mm" and src.crs.to_epsg() == 28992
    assert q[0, 0] == pytest.approx(q98, abs=1e-4) and np.all(q[:, 75:] == -1)


def test_building_cells_fallback_and_natural_setting(region: dict[str, Path]) -> None:
    region = dict(region)
    region["gpkg"] = None  # type: ignore[assignment]
    df = _run(region, {"cooling_distance_m": 100.0, "natural_setting": "woodland"}).set_index(
        "park_id"
    )
    # 25 building cells of building 1 lie within 300 m of the wood; of building 2 none
    assert df.loc["A", "buildings_near_cool_spot_share"] == pytest.approx(0.5)
    assert "building cells" in df.loc["A", "note"]
    q55 = float(scs_runoff_mm(70, 55))
    assert df.loc["A", "natural_runoff_70mm_2h_m3"] == pytest.approx(q55 * 90_000 / 1000, rel=1e-6)


def test_zero_storm_gives_zeros_with_note(region: dict[str, Path]) -> None:
    df = _run(region, {"storms": [{"name": "dry", "depth_mm": 0}]}).set_index("park_id")
    assert (df["runoff_dry_m3"] == 0).all() and (df["excess_dry_mm"] == 0).all()
    assert "0 mm" in df.loc["A", "note"]
    with rasterio.open(region["dir"] / "climate" / "runoff_dry.tif") as src:
        q = src.read(1)
    assert np.all(q[:, :75] == 0) and not np.isnan(q).any()


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------


def test_class_without_biophysical_values(region: dict[str, Path], tmp_path: Path) -> None:
    doc = yaml.safe_load(LEGEND_YAML.read_text())
    for cls in doc["classes"]:
        if cls["name"] == "parking":
            del cls["kc"]
        if cls["name"] == "cropland":  # absent from the raster: no error for it
            del cls["cn"]
    bad = tmp_path / "legend_bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(WerklandInputError) as exc:
        _run(region, legend=bad)
    msg = str(exc.value)
    assert "'parking'" in msg and "kc" in msg and str(bad) in msg and str(region["tif"]) in msg
    assert "cropland" not in msg
    assert not (region["dir"] / "climate" / "cooling.tif").exists()  # no partial output
    leg = load_biophysical(bad)
    with pytest.raises(WerklandInputError, match="'parking'"):
        heat_mitigation(
            np.array([[leg.code_of("parking")]], dtype=np.uint8), leg, 10.0, ClimateParams.from_section({})
        )


def test_unknown_code_in_raster() -> None:
    with pytest.raises(WerklandInputError, match=r"\[200\]"):
        runoff_mm(np.array([[200, 3]], dtype=np.uint8), _LEG, 70.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"storms": [{"name": "neg", "depth_mm": -5}]}, "depth_mm"),
        ({"storms": [{"name": "a b", "depth_mm": 5}]}, "storm name"),
        ({"soil_group": "E"}, "soil_group"),
        ({"colling_distance": 3}, "unknown key 'colling_distance'"),
        ({"t_ref_degC": 20}, "uhi_max_degC"),
        ({"lambda": 1.0}, "lambda"),
        ({"cooling_distance_m": 0}, "cooling_distance_m"),
        ({"cooling_distance_m": None}, "cooling_distance_m"),
        ({"cc_weights": {"shade": 1, "albdo": 1}}, "cc_weights"),
    ],
)
def test_bad_params(params: dict, match: str) -> None:
    with pytest.raises(WerklandInputError, match=match):
        ClimateParams.from_section(params)


def test_bad_run_inputs(region: dict[str, Path]) -> None:
    out = region["dir"] / "climate"
    with pytest.raises(WerklandInputError, match="do not match the storms"):
        run_climate(
            region["tif"],
            region["gpkg"],
            region["region"],
            LEGEND_YAML,
            out / "c.tif",
            {"70mm_2h": out / "r.tif"},
            out / "s.csv",
            params=_params(),
            threads=1,
        )
    with pytest.raises(WerklandInputError, match="natural setting"):
        _run(region, {"natural_setting": "heath"})
    gpd.GeoDataFrame({"id": ["x"]}, geometry=[box(X0, Y0 - 100, X0 + 100, Y0)], crs=RD).to_file(
        region["region"], layer="parks", driver="GPKG"
    )
    with pytest.raises(WerklandInputError, match="park_id"):
        _run(region)
    assert not (out / "summary.csv").exists() and not (out / "cooling.tif").exists()


def test_config_climate_section_and_legend_loader_are_accepted() -> None:
    """The workflow passes config/config.yaml's climate section as params; it must validate."""
    from werkland.tables import load_legend

    cfg = yaml.safe_load((LEGEND_YAML.parent / "config.yaml").read_text())
    p = ClimateParams.from_section(cfg.get("climate") or {})
    assert p.storm_names == ["70mm_2h", "140mm_2h"]
    assert sum(p.weights.values()) == pytest.approx(1.0)
    via_tables = BiophysicalTable.from_legend(load_legend(LEGEND_YAML))
    direct = load_biophysical(LEGEND_YAML)
    assert via_tables.names == direct.names
    np.testing.assert_array_equal(via_tables.cn, direct.cn)
    assert via_tables.natural_reference == direct.natural_reference


def test_air_temperature_columns_from_config_keys(region: dict[str, Path]) -> None:
    """t_ref_degC / uhi_max_degC (schema keys) switch the air-temperature columns on."""
    df = _run(region, {"t_ref_degC": 20.0, "uhi_max_degC": 3.0}).set_index("park_id")
    assert {"t_air_mean_degC", "t_air_anomaly_degC"} <= set(df.columns)
    a = df.loc["A"]
    assert 20.0 < a["t_air_mean_degC"] < 23.0
    assert a["t_air_anomaly_degC"] == pytest.approx(a["t_air_mean_degC"] - 20.0)
    assert df.loc["out", "t_air_mean_degC"] == 0.0
    assert "t_air_mean_degC" not in _run(region).columns


# ------------------------------------------------------------------------------------------------
# typed parameters
# ------------------------------------------------------------------------------------------------


def test_climate_params_from_config_and_round_trip() -> None:
    cfg = _config()
    p = ClimateParams.from_config(cfg)
    assert p.lambda_ == cfg["climate"]["lambda"] == 0.2
    assert p.storms == (Storm("70mm_2h", 70.0), Storm("140mm_2h", 140.0))
    assert p.storm_names == ["70mm_2h", "140mm_2h"]
    assert p.building_class == "building" and p.t_ref_degC is None and not p.air_temperature
    assert isinstance(p.cooling_distance_m, float) and p.cooling_distance_m == 100.0
    d = p.as_dict()
    assert "lambda_" in d and "lambda" not in d
    assert yaml.safe_load(yaml.safe_dump(d)) == d  # plain values: Snakemake can hash them
    assert ClimateParams.from_dict(d) == p
    assert ClimateParams.from_section(p.as_section()) == p
    assert p.as_section()["lambda"] == 0.2


def test_schema_defaults_reach_the_params_and_complete_a_partial_section() -> None:
    """Every default comes from the schema: ``from_section({})`` equals the validated demo config's
    climate section wherever the demo config does not set the key."""
    demo = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["climate"]
    defaults = ClimateParams.from_section({}).as_section()
    validated = ClimateParams.from_config(_config()).as_section()
    assert sorted(defaults) == sorted(schema_defaults("climate")) == sorted(ClimateParams.config_keys())
    unset = [k for k in defaults if k not in demo]
    assert unset  # the demo config leaves some keys to the schema
    assert {k: defaults[k] for k in unset} == {k: validated[k] for k in unset}
    assert ClimateParams.from_section({}) == ClimateParams.from_config(_config({}))
    assert ClimateParams.from_section(demo) == ClimateParams.from_config(_config())
    # a partial section equals the validated config with the same section
    assert ClimateParams.from_section({"cooling_distance_m": 30}) == ClimateParams.from_config(
        _config({"cooling_distance_m": 30})
    )
    partial_weights = ClimateParams.from_section({"cc_weights": {"shade": 3.0}})
    assert partial_weights == ClimateParams.from_config(_config({"cc_weights": {"shade": 3.0}}))
    assert partial_weights.cc_weights == {"shade": 3.0, "albedo": 0.2, "eti": 0.2}
    # the mapping is read, not modified, and the defaults are a fresh copy each time
    section = {"storms": [{"name": "s", "depth_mm": 10}]}
    assert ClimateParams.from_section(section).storms == (Storm("s", 10.0),)
    assert section == {"storms": [{"name": "s", "depth_mm": 10}]}
    schema_defaults("climate")["storms"].clear()
    assert len(ClimateParams.from_section({}).storms) == 2


def test_schema_defaults_name_a_bad_section_and_a_missing_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import werkland
    import werkland.config

    with pytest.raises(WerklandInputError, match=r"no config section 'climat' \(did you mean 'climate'\?\)"):
        schema_defaults("climat")
    werkland.config._section_defaults.cache_clear()
    monkeypatch.setattr(werkland, "__file__", str(tmp_path / "src" / "werkland" / "__init__.py"))
    try:
        with pytest.raises(WerklandInputError, match="config schema is not in the project root") as err:
            schema_defaults("climate")
        assert str(tmp_path / "workflow" / "schemas" / "config.schema.yaml") in str(err.value)
    finally:
        werkland.config._section_defaults.cache_clear()


def test_cc_weights_default_per_factor_in_the_schema() -> None:
    p = ClimateParams.from_config(_config({"cc_weights": {"shade": 3.0}}))
    assert p.cc_weights == {"shade": 3.0, "albedo": 0.2, "eti": 0.2}
    assert p.weights == pytest.approx({"shade": 3 / 3.4, "albedo": 0.2 / 3.4, "eti": 0.2 / 3.4})


def test_unknown_and_missing_climate_keys() -> None:
    cfg = _config()
    cfg["climate"]["colling_distance_m"] = 3
    with pytest.raises(WerklandInputError, match=r"unknown key 'colling_distance_m' \(did you mean 'cooling_distance_m'\?\)"):
        ClimateParams.from_config(cfg)
    with pytest.raises(WerklandInputError, match=r"did you mean 'cooling_distance_m'"):
        _config({"colling_distance_m": 3})  # the schema check names it too
    with pytest.raises(WerklandInputError, match=r"did you mean 'cooling_distance_m'"):
        ClimateParams.from_section({"colling_distance_m": 3})  # a partial section too
    del cfg["climate"]["colling_distance_m"]
    del cfg["climate"]["hm_threshold"]
    with pytest.raises(WerklandInputError, match="missing hm_threshold"):
        ClimateParams.from_config(cfg)
    d = ClimateParams.from_config(_config()).as_dict()
    with pytest.raises(WerklandInputError, match=r"did you mean 'lambda_'"):
        ClimateParams.from_dict({**d, "lambda": 0.2})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"t_ref_degC": 20.0}, "uhi_max_degC"),
        ({"lambda": 1.0}, "lambda"),
        ({"storms": [{"name": "a", "depth_mm": 5}, {"name": "a", "depth_mm": 6}]}, "used twice"),
        ({"storms": [{"name": "a", "depth_mm": 5, "dept": 1}]}, "did you mean 'depth_mm'"),
        ({"storms": []}, "non-empty"),
        ({"cc_weights": {"shade": 0, "albedo": 0, "eti": 0}}, "sum to 0"),
        ({"cool_spot_distance_m": 0}, "cool_spot_distance_m"),
        ({"soil_group": "b"}, "soil_group"),
    ],
)
def test_bad_climate_params_are_rejected_on_construction(overrides: dict, match: str) -> None:
    with pytest.raises(WerklandInputError, match=match):
        _params(overrides)


def test_schema_rejects_what_the_params_reject() -> None:
    for bad in ({"lambda": 1.0}, {"cool_spot_distance_m": 0}, {"uhi_max_degC": -1}):
        with pytest.raises(WerklandInputError):
            _config(bad)


# ------------------------------------------------------------------------------------------------
# Grid.window_of / Grid.mask_of against the per-park window and mask the stage used before
# ------------------------------------------------------------------------------------------------


def _old_park_window(geom, grid: Grid):
    """The climate stage's former private window: (row0, row1, col0, col1) or None."""
    xmin, ymin, xmax, ymax = geom.bounds
    x0, y0, res = grid.transform.c, grid.transform.f, grid.res_m
    c0 = max(0, int(math.floor((xmin - x0) / res)))
    c1 = min(grid.width, int(math.ceil((xmax - x0) / res)))
    r0 = max(0, int(math.floor((y0 - ymax) / res)))
    r1 = min(grid.height, int(math.ceil((y0 - ymin) / res)))
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


def _old_park_mask(geom, grid: Grid, win) -> np.ndarray:
    """The climate stage's former private mask (centre in the polygon, else the touched cells)."""
    r0, r1, c0, c1 = win
    tr = grid.transform * Affine.translation(c0, r0)
    shape = (r1 - r0, c1 - c0)
    m = rasterize([(geom, 1)], out_shape=shape, transform=tr, fill=0, dtype="uint8").astype(bool)
    if not m.any():
        m = rasterize(
            [(geom, 1)], out_shape=shape, transform=tr, fill=0, dtype="uint8", all_touched=True
        ).astype(bool)
    return m


_GRID = Grid(H, W, Affine(RES, 0, X0, 0, -RES, Y0), RD)
_GEOMS = [
    _cell_box(0, 30, 0, 30),  # on cell edges
    _cell_box(10, 20, 76, 80),
    box(X0 + 3.3, Y0 - 417.1, X0 + 251.9, Y0 - 12.4),  # off the cell edges
    box(X0 - 55.0, Y0 - 95.0, X0 + 45.0, Y0 + 30.0),  # partly outside the grid
    box(0, 0, 10, 10),  # far outside
    box(X0 + 12.0, Y0 - 18.0, X0 + 14.0, Y0 - 16.0),  # smaller than a cell, off-centre
    Point(X0 + 433.0, Y0 - 217.0).buffer(97.0),
    Polygon([(X0 + 5, Y0 - 5), (X0 + 700, Y0 - 80), (X0 + 300, Y0 - 590)]),
    Point(X0 + 200.0, Y0 - 300.0).buffer(150.0).difference(Point(X0 + 200.0, Y0 - 300.0).buffer(60.0)),
    box(X0 + 10, Y0 - 100, X0 + 60, Y0 - 50).union(box(X0 + 500, Y0 - 400, X0 + 640, Y0 - 300)),
    LineString([(X0 + 1, Y0 - 1), (X0 + 333, Y0 - 444)]).buffer(2.0),
]


@pytest.mark.parametrize("geom", _GEOMS, ids=range(len(_GEOMS)))
def test_grid_window_and_mask_equal_the_former_park_window_and_mask(geom) -> None:
    old = _old_park_window(geom, _GRID)
    new = _GRID.window_of(geom)
    assert _GRID.window_of(geom.bounds) == new
    if old is None:
        assert new is None
        return
    r0, r1, c0, c1 = old
    assert new == (slice(r0, r1), slice(c0, c1))
    np.testing.assert_array_equal(_GRID.mask_of(geom, new, touched_if_empty=True), _old_park_mask(geom, _GRID, old))


@pytest.mark.parametrize("geom", _GEOMS, ids=range(len(_GEOMS)))
def test_grid_mask_of_window_is_the_cropped_full_mask(geom) -> None:
    """Centre-in-polygon mask (rasterio geometry_mask); a window with a margin crops it exactly."""
    from rasterio.features import geometry_mask

    full = _GRID.mask_of(geom)
    np.testing.assert_array_equal(full, geometry_mask([geom], out_shape=_GRID.shape, transform=_GRID.transform, invert=True))
    win = _GRID.window_of(geom, margin_cells=1)
    if win is None:
        assert not full.any()
        return
    np.testing.assert_array_equal(_GRID.mask_of(geom, win), full[win])
    assert full[win].sum() == full.sum()  # every cell of the park lies in its window


def test_grid_window_of_empty_or_missing_geometry() -> None:
    assert _GRID.window_of(None) is None
    assert _GRID.window_of(Polygon()) is None
    assert _GRID.window_of((math.nan, 0.0, 1.0, 1.0)) is None
    assert not _GRID.mask_of(None).any() and _GRID.mask_of(Polygon(), (slice(0, 2), slice(0, 3))).shape == (2, 3)
    small = box(X0 + 12.0, Y0 - 18.0, X0 + 14.0, Y0 - 16.0)
    assert not _GRID.mask_of(small).any()  # no cell centre inside ...
    assert _GRID.mask_of(small, touched_if_empty=True).sum() == 1  # ... but it touches one cell
