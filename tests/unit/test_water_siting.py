"""Water-led siting of interventions: low points, the infiltration check and run-on gains.

Synthetic hydrology rasters stand in for the climate stage's outputs (``climate/soil_group.tif``,
``ghg_m.tif``, ``infiltration_mm_h.tif``, ``flow_accumulation.tif``, ``ponding_<storm>.tif``), as
the data contract between the two stages defines them.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from tests.unit.test_interventions import _inputs, _params, make_region
from werkland._errors import WerklandInputError
from werkland.climate import load_biophysical, runoff_mm
from werkland.connectivity import find_patches
from werkland.interventions import (
    Candidate,
    CandidateContext,
    Evaluator,
    GuildGraph,
    generate_candidates,
    load_catalogue,
    run_interventions,
)
from werkland.interventions.inputs import park_raster
from werkland.interventions.siting import (
    REFUSED_GROUNDWATER,
    REFUSED_SOIL,
    Hydrology,
    park_runon,
    read_hydrology,
)
from werkland.params import ClimateParams
from werkland.raster.io import Grid, write_raster

ROOT = Path(__file__).resolve().parents[2]
LEGEND = ROOT / "config" / "landcover_classes.yaml"
GUILDS = ROOT / "config" / "guilds.yaml"
CATALOGUE = ROOT / "config" / "interventions.yaml"
CRS28992 = CRS.from_epsg(28992)
X0, Y0, RES = 100_000.0, 450_000.0, 10.0
H = W = 40
PIT = (27, 30)  # the bowl's low point: far from the grass strip on the left


@pytest.fixture(scope="module")
def catalogue(legend, guilds):
    return load_catalogue(CATALOGUE, legend, guilds)


def _grid(h: int = H, w: int = W) -> Grid:
    return Grid(h, w, Affine(RES, 0, X0, 0, -RES, Y0 + h * RES), CRS28992)


def _box(r0, r1, c0, c1, h=H):
    return shapely.box(X0 + c0 * RES, Y0 + (h - r1) * RES, X0 + c1 * RES, Y0 + (h - r0) * RES)


def d8_accumulation(dem: np.ndarray, cell_m2: float) -> np.ndarray:
    """Upslope area (m², the cell included) by D8 steepest descent: an independent reference."""
    h, w = dem.shape
    acc = np.full(dem.size, cell_m2)
    for i in np.argsort(-dem.ravel(), kind="stable"):
        r, c = divmod(int(i), w)
        best, drop = -1, 0.0
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if (dr or dc) and 0 <= rr < h and 0 <= cc < w:
                    d = (dem[r, c] - dem[rr, cc]) / math.hypot(dr, dc)
                    if d > drop:
                        best, drop = rr * w + cc, d
        if best >= 0:
            acc[best] += acc[i]
    return acc.reshape(h, w)


def _bowl() -> tuple[np.ndarray, np.ndarray]:
    """DTM bowl (cone) with its low point at PIT: flow accumulation and ponding (mm)."""
    rr, cc = np.mgrid[0:H, 0:W]
    dem = np.hypot(rr - PIT[0], cc - PIT[1]) * 0.05
    acc = d8_accumulation(dem, RES * RES).astype(np.float32)
    pond = np.zeros((H, W), np.float32)
    pond[PIT] = 80.0
    return acc, pond


def _site(legend, guilds, hydrology: Hydrology | None, catalogue):
    """A park with a 30 x 30-cell parking lot and a grass strip on its left edge."""
    c = legend.code
    lc = np.full((H, W), c("built_area"), np.uint8)
    lc[:, 0:3] = c("grass")
    lc[5:35, 5:35] = c("parking")
    grid = _grid()
    park = _box(0, H, 0, W)
    parks = gpd.GeoDataFrame({"park_id": ["p1"]}, geometry=[park], crs=CRS28992)
    polys = gpd.GeoDataFrame({"class": ["parking"]}, geometry=[_box(5, 35, 5, 35)], crs=CRS28992)
    notes: list[str] = []
    ctx = CandidateContext.build(
        lc, grid, legend, guilds, parks, park_raster(parks, grid), landcover=polys, lines=None, link_paths={},
        barriers=None, green_area=load_biophysical(LEGEND).green_area, notes=notes, hydrology=hydrology,
    )
    return generate_candidates(ctx, catalogue), notes, lc


def _of(cands, typ):
    return [c for c in cands if c.type == typ]


def _nodata() -> Hydrology:
    """What the climate stage writes without soil, groundwater and elevation inputs."""
    nan = np.full((H, W), np.nan, np.float32)
    return Hydrology(np.zeros((H, W), np.uint8), nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                     np.array([np.nan]), 0.5)


# --------------------------------------------------------------------------------------------
# siting
# --------------------------------------------------------------------------------------------


def test_wadi_goes_to_the_low_point_of_a_dtm_bowl(legend, guilds, catalogue):
    acc, pond = _bowl()
    assert np.unravel_index(np.argmax(acc), acc.shape) == PIT  # the reference routing drains to the pit
    hy = Hydrology(flow_acc_m2=acc, ponding_mm=pond)
    cands, _, _ = _site(legend, guilds, hy, catalogue)
    pit = PIT[0] * W + PIT[1]
    wadi, = _of(cands, "wadi")
    garden, = _of(cands, "rain_garden")
    assert pit in wadi.cells and wadi.cells.size == 90  # 10 % of the 900-cell lot
    assert garden.cells.tolist() == [pit]  # one cell: the lowest
    # the wadi takes the cells with the largest upslope areas
    assert acc.ravel()[wadi.cells].min() >= np.sort(acc[5:35, 5:35].ravel())[-90]
    assert "at a low point: upslope area" in wadi.siting_note
    # ponds (grass strip only) go to the wettest grass cells, no longer need water nearby
    ponds = _of(cands, "pond")
    assert len(ponds) == 3 and acc.ravel()[ponds[0].cells].max() == acc[:, 0:3].max()
    # seeds >= min_spacing_m (100 m) apart; each footprint adds one neighbour cell
    gaps = [min(math.dist(divmod(int(a), W), divmod(int(b), W)) for a in p.cells for b in q.cells)
            for i, p in enumerate(ponds) for q in ponds[i + 1:]]
    assert min(gaps) * RES >= 100 - 2 * RES
    # without elevation: today's placement, next to the grass strip, nowhere near the pit
    base, notes, _ = _site(legend, guilds, None, catalogue)
    bw, = _of(base, "wadi")
    assert pit not in bw.cells and (bw.cells % W).max() <= 8
    assert not _of(base, "pond") and any("no pond candidates" in n for n in notes)


def test_candidates_unchanged_without_elevation_soil_or_groundwater(legend, guilds, catalogue):
    """The climate stage's nodata rasters (no inputs given) leave every candidate as without them."""
    base, notes0, _ = _site(legend, guilds, None, catalogue)
    same, notes1, _ = _site(legend, guilds, _nodata(), catalogue)
    assert [c.candidate_id for c in same] == [c.candidate_id for c in base]
    for a, b in zip(base, same, strict=True):
        assert np.array_equal(a.cells, b.cells) and (a.type, a.size, a.cost_eur, a.note) == (b.type, b.size, b.cost_eur, b.note)
        assert a.siting_note == b.siting_note == ""
    assert notes0 == notes1


def test_infiltrating_measure_refused_on_shallow_groundwater(legend, guilds, catalogue):
    ghg = np.full((H, W), 0.6, np.float32)  # wadi bottom 0.4 m + clearance 0.5 m = 0.9 m needed
    cands, notes, _ = _site(legend, guilds, Hydrology(ghg_m=ghg), catalogue)
    assert not _of(cands, "wadi")
    basin, = _of(cands, "retention_basin")  # the catalogue's retention variant of the wadi
    assert basin.cells.size == 90 and basin.exclusive_key == "paving:lc0"
    assert basin.cost_eur == pytest.approx(90 * 100 * 120)
    assert "GHG 0.60 m below the surface, less than the bottom 0.40 m + clearance 0.50 m" in basin.siting_note
    assert "wadi not allowed" in basin.siting_note
    # the rain garden has no retention variant: nothing, and the reason is a note of the stage
    assert not _of(cands, "rain_garden")
    assert any(n.startswith("rain_garden: polygon lc0 in park p1: infiltration not allowed (GHG 0.60 m") for n in notes)
    # deep enough: the wadi stays, with what was checked
    ok, _, _ = _site(legend, guilds, Hydrology(ghg_m=np.full((H, W), 2.0, np.float32)), catalogue)
    wadi, = _of(ok, "wadi")
    assert not _of(ok, "retention_basin") and wadi.siting_note.startswith("infiltration allowed: GHG >= 2.00 m")
    # a larger clearance refuses it again
    strict, _, _ = _site(legend, guilds, Hydrology(ghg_m=np.full((H, W), 2.0, np.float32), clearance_m=1.7), catalogue)
    assert _of(strict, "retention_basin") and not _of(strict, "wadi")


def test_infiltration_check_uses_soil_and_places_on_the_cells_that_pass(legend, guilds, catalogue):
    soil = np.full((H, W), 4, np.uint8)  # group D everywhere ...
    cands, _, _ = _site(legend, guilds, Hydrology(soil_group=soil), catalogue)
    basin, = _of(cands, "retention_basin")
    assert "soil group D" in basin.siting_note
    # ... a measured infiltration capacity overrides the group
    rate = np.full((H, W), 20.0, np.float32)
    ok, _, _ = _site(legend, guilds, Hydrology(soil_group=soil, infiltration_mm_h=rate), catalogue)
    assert _of(ok, "wadi") and not _of(ok, "retention_basin")
    # shallow groundwater on the left half of the lot: the wadi moves to the right half
    ghg = np.full((H, W), 3.0, np.float32)
    ghg[:, :20] = 0.3
    half, _, _ = _site(legend, guilds, Hydrology(ghg_m=ghg), catalogue)
    wadi, = _of(half, "wadi")
    assert (wadi.cells % W).min() >= 20
    hy = Hydrology(ghg_m=ghg, soil_group=soil)
    flags = hy.refusal(np.array([0, 39]), 0.4)
    assert flags.tolist() == [REFUSED_SOIL | REFUSED_GROUNDWATER, REFUSED_SOIL]


# --------------------------------------------------------------------------------------------
# run-on gains
# --------------------------------------------------------------------------------------------


def _evaluator(legend, guilds, catalogue, hydrology):
    """A 30 x 30 parking lot, one park, a trivial guild graph (no habitat)."""
    n = 30
    lc = np.full((n, n), legend.code("parking"), np.uint8)
    g = {"hedgehog": guilds["hedgehog"]}
    ps = find_patches(np.zeros(lc.shape, np.float32), res_m=RES, threshold=0.5, min_area_m2=1e9)
    gg = GuildGraph("hedgehog", np.zeros(lc.shape, np.float32), np.ones(lc.shape), ps.labels,
                    (np.zeros(0), np.zeros(0), np.zeros(0)), k_per_m=0.001, max_cost=100.0, threshold=0.5,
                    min_area_m2=1e9, res_m=RES)
    cp = ClimateParams.from_section({"cooling_distance_m": 30.0})
    return Evaluator(lc, _grid(n, n), legend, g, {"hedgehog": gg}, catalogue, cp, np.ones(lc.shape, np.int32), 70.0,
                     hydrology=hydrology), lc


def test_run_on_capture_exceeds_footprint_rain_and_is_capped_by_storage(legend, guilds, catalogue):
    n = 30
    rows = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, n), np.float32)
    acc = (rows + 1) * RES * RES  # a plane draining down the rows: each cell collects its column above it
    ev, lc = _evaluator(legend, guilds, catalogue, Hydrology(flow_acc_m2=acc.astype(np.float32)))
    bio = load_biophysical(LEGEND)
    q_park = float(runoff_mm(lc, bio, 70.0, "B")[0, 0])  # mean runoff depth of the lot (all parking)

    def wadi_at(r):
        cells = np.array([r * n + 10, r * n + 11], np.int64)
        return ev.evaluate(Candidate(f"w{r}", "wadi", "p1", cells, 200.0, "m2", 2e4))

    top, mid, bottom = wadi_at(0), wadi_at(2), wadi_at(n - 1)
    d_sto = 2 * RES * RES * 0.300  # 300 mm of wadi storage on two cells, m3
    assert top.d_storage_m3 == pytest.approx(d_sto)
    q_wadi = float(runoff_mm(np.full((1, 1), ev.type_code["wadi"], np.uint8), ev.bio, 70.0, "B", storage=False)[0, 0])
    # top row: only the rain on the footprint reaches it
    assert top.d_inflow_m3 == pytest.approx(2 * RES * RES * q_wadi / 1000)
    assert top.d_retained_m3 == pytest.approx(top.d_cn_m3 + top.d_inflow_m3)
    # two rows down: the run-on of two upslope cells per column (less than the storage)
    assert mid.d_inflow_m3 == pytest.approx((3 * 100 - 200) * q_park / 1000 + 2 * 100 * q_wadi / 1000)
    assert mid.d_inflow_m3 < d_sto and mid.d_retained_m3 == pytest.approx(mid.d_cn_m3 + mid.d_inflow_m3)
    # bottom row: the whole column's run-on is more than the storage: capped by the storage
    assert bottom.d_inflow_m3 > d_sto
    assert bottom.d_retained_m3 == pytest.approx(bottom.d_cn_m3 + d_sto)
    assert bottom.d_retained_m3 > mid.d_retained_m3 > top.d_retained_m3
    # repricing keeps the run-on cap
    assert ev.reprice(mid).d_retained_m3 == pytest.approx(mid.d_retained_m3)


def test_gains_unchanged_without_elevation(legend, guilds, catalogue):
    n = 30
    cells = np.array([5 * n + 10, 5 * n + 11], np.int64)
    nan = np.full((n, n), np.nan, np.float32)
    out = []
    for hy in (None, Hydrology(np.zeros((n, n), np.uint8), nan, nan, nan, nan, np.array([np.nan]))):
        ev, _ = _evaluator(legend, guilds, catalogue, hy)
        out.append([ev.evaluate(Candidate("w", t, "p1", cells, 200.0, "m2", 2e4)) for t in ("wadi", "depaving")])
    for a, b in zip(*out, strict=True):
        assert a.d_retained_m3 == b.d_retained_m3 and a.d_hm == b.d_hm and math.isinf(b.d_inflow_m3)


def test_soil_raster_sets_the_curve_numbers_where_known(legend, guilds, catalogue):
    n = 30
    soil = np.zeros((n, n), np.uint8)
    soil[:, :15] = 1  # group A on the left, unknown (the config's B) on the right
    cells_a, cells_b = np.array([5 * n + 2]), np.array([5 * n + 20])
    ev, _ = _evaluator(legend, guilds, catalogue, Hydrology(soil_group=soil))
    ev0, _ = _evaluator(legend, guilds, catalogue, None)
    ga = ev.evaluate(Candidate("a", "depaving", "p1", cells_a, 100.0, "m2", 1.0))
    gb = ev.evaluate(Candidate("b", "depaving", "p1", cells_b, 100.0, "m2", 1.0))
    g0 = ev0.evaluate(Candidate("b", "depaving", "p1", cells_b, 100.0, "m2", 1.0))
    assert gb.d_retained_m3 == g0.d_retained_m3
    assert ga.d_retained_m3 > gb.d_retained_m3  # grass on A soil keeps more than on B


# --------------------------------------------------------------------------------------------
# inputs and catalogue
# --------------------------------------------------------------------------------------------


def test_read_hydrology_and_run_on_per_park(tmp_path):
    grid = _grid()
    acc, pond = _bowl()
    write_raster(tmp_path / "acc.tif", acc, grid, nodata=float("nan"))
    write_raster(tmp_path / "soil.tif", np.full((H, W), 2, np.uint8), grid, nodata=0)
    warnings: list[str] = []
    hy = read_hydrology(tmp_path / "soil.tif", tmp_path / "gone.tif", None, tmp_path / "acc.tif", None, grid,
                        clearance_m=0.5, warnings=warnings)
    assert hy.has_elevation and hy.has_soil and not hy.has_groundwater and hy.checks_infiltration
    assert np.array_equal(hy.flow_acc_m2, acc)
    assert warnings == ["gone.tif not found: groundwater (GHG) not used (the climate stage writes it; re-run it)"]
    write_raster(tmp_path / "small.tif", acc[:10], _grid(10, W), nodata=float("nan"))
    with pytest.raises(WerklandInputError, match="flow accumulation raster is 10 x 40 cells"):
        read_hydrology(None, None, None, tmp_path / "small.tif", None, grid, clearance_m=0.5, warnings=[])
    summary = pd.DataFrame({"park_id": ["b", "a"], "runon_70mm_m3": [5.0, float("nan")]})
    assert park_runon(summary, ["a", "b", "c"], "70mm")[1] == 5.0
    assert np.isnan(park_runon(summary, ["a", "b", "c"], "70mm")[[0, 2]]).all()
    assert park_runon(summary, ["a"], "140mm") is None


def _cat(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "cat.yaml"
    p.write_text("types:\n" + body)
    return p


_ROW = "{generator: polygons, applies_to: [parking], effect: {class: wadi}, size_unit: m2, unit_cost: 1"


@pytest.mark.parametrize(
    "body, msg",
    [
        (f"  w: {_ROW}, infiltrating: true}}\n", "an infiltrating measure needs bottom_m"),
        (f"  w: {_ROW}, bottom_m: 0.4}}\n", "bottom_m is only used by infiltrating measures"),
        (f"  w: {_ROW}, infiltrating: yes please, bottom_m: 0.4}}\n", "must be true or false"),
        (f"  w: {_ROW}, infiltrating: true, bottom_m: 0.4, retention_variant: moat}}\n", "unknown type 'moat'"),
        (f"  w: {_ROW}, infiltrating: true, bottom_m: 0.4, retention_variant: v}}\n"
         f"  v: {_ROW}, infiltrating: true, bottom_m: 0.1}}\n", "is itself infiltrating"),
        (f"  w: {_ROW}, infiltrating: true, bottom_m: 0.4, retention_variant: v}}\n"
         "  v: {generator: none, applies_to: [parking], effect: {class: wadi}, size_unit: item, unit_cost: 1}\n",
         "priced per item"),
    ],
)
def test_catalogue_infiltration_keys_are_checked(tmp_path, legend, guilds, body, msg):
    with pytest.raises(WerklandInputError, match=msg):
        load_catalogue(_cat(tmp_path, body), legend, guilds)


def test_the_catalogue_wadi_infiltrates_with_a_retention_variant(catalogue):
    w = catalogue.types["wadi"]
    assert w.infiltrating and w.bottom_m == 0.4 and w.retention_variant == "retention_basin"
    v = catalogue.types["retention_basin"]
    assert not v.infiltrating and v.generator == "none" and v.biophysical["storage_mm"] == 300


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage_region(tmp_path_factory, legend):
    return make_region(tmp_path_factory.mktemp("water"), legend)


def _stage(tmp_path: Path, region, name: str, hydro: dict[str, np.ndarray] | None):
    paths, grid, _ = region
    inputs = _inputs(paths, tmp_path / name)
    if hydro is not None:
        d = tmp_path / f"{name}_climate"
        d.mkdir()
        files = {}
        for key, arr in hydro.items():
            files[key] = d / f"{key}.tif"
            write_raster(files[key], arr, grid, nodata=0 if arr.dtype == np.uint8 else float("nan"))
        inputs = replace(inputs, soil_group=files["soil"], ghg=files["ghg"], infiltration=files["inf"],
                         flow_accumulation=files["acc"], ponding={"70mm": files["pond"]})
    s = run_interventions(inputs, _params(budget_eur=200_000))
    return s, gpd.read_file(tmp_path / name / "candidates.gpkg")


def test_stage_without_inputs_writes_the_same_candidates_and_with_shallow_groundwater_a_retention_basin(
        tmp_path, stage_region):
    _, grid, _ = stage_region
    shape = (grid.height, grid.width)
    nan = np.full(shape, np.nan, np.float32)
    s0, c0 = _stage(tmp_path, stage_region, "none", None)
    s1, c1 = _stage(tmp_path, stage_region, "nodata", {"soil": np.zeros(shape, np.uint8), "ghg": nan, "inf": nan,
                                                        "acc": nan, "pond": nan})
    pd.testing.assert_frame_equal(c0.drop(columns="geometry"), c1.drop(columns="geometry"))
    assert (c1["siting_note"] == "").all()
    assert any("no elevation model" in w for w in s1["warnings"])
    s2, c2 = _stage(tmp_path, stage_region, "shallow", {"soil": np.zeros(shape, np.uint8),
                                                        "ghg": np.full(shape, 0.3, np.float32), "inf": nan,
                                                        "acc": nan, "pond": nan})
    assert "wadi" in set(c0["type"]) and "wadi" not in set(c2["type"])
    basin = c2[c2["type"] == "retention_basin"]
    assert len(basin) == (c0["type"] == "wadi").sum()
    assert basin["siting_note"].str.contains("GHG 0.30 m").all() and (basin["d_retained_m3"] > 0).all()
