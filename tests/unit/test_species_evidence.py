"""Tests of the species evidence: continuous Boyce index (werkland.species.boyce), coverage-based
comparison of periods (werkland.species.coverage) and the step that writes both files
(werkland.species.evidence).

Expected values come from hand computations written out below, from the published iNEXT spider
values in ../shared/data/gbif_recorded/validation_richness_estimators.json, or from the statistical
property the method must have (presences in proportion to suitability give a high index).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from werkland._errors import WerklandInputError
from werkland.config import validate_config
from werkland.params.species import SpeciesParams
from werkland.params.species_evidence import Period, SpeciesEvidenceParams
from werkland.raster.io import Grid, write_gpkg, write_raster
from werkland.species import coverage as cv
from werkland.species import richness, run_species
from werkland.species.boyce import boyce_bootstrap, boyce_index, spearman
from werkland.species.evidence import PE_COLUMNS, VALIDATION_COLUMNS, run_species_evidence

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
VALIDATION = ROOT.parent / "shared" / "data" / "gbif_recorded" / "validation_richness_estimators.json"
needs_shared = pytest.mark.skipif(not VALIDATION.exists(), reason="../shared/data (iNEXT validation values) not present")


def _config(**species: object) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.setdefault("species", {}).update(species)
    return validate_config(cfg, SCHEMA)


def _surface() -> np.ndarray:
    """A continuous 200 x 200 suitability surface (0..1, every value distinct enough)."""
    yy, xx = np.mgrid[0:200, 0:200]
    return (xx / 199.0) * 0.7 + 0.3 * np.sin(yy / 30.0) ** 2


# --------------------------------------------------------------------------------------------
# Boyce index


def test_presences_in_proportion_to_suitability_give_a_high_index() -> None:
    bg = _surface().ravel()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        pres = rng.choice(bg, size=500, p=bg / bg.sum())
        assert boyce_index(bg, pres).boyce >= 0.9, seed


def test_uniform_presences_give_an_index_near_zero() -> None:
    """Presences drawn uniformly over the background: P/E is 1 plus noise, so the index is a rank
    correlation of noise. One draw can land anywhere in roughly -0.6..0.6 (101 heavily overlapping
    windows are about 10 independent ones), so the property is checked on the mean of 20 draws
    (standard error ~0.07): |mean| <= 0.3, while the proportional draws above give >= 0.9 each."""
    bg = _surface().ravel()
    vals = [boyce_index(bg, np.random.default_rng(100 + s).choice(bg, size=500)).boyce for s in range(20)]
    assert abs(float(np.mean(vals))) <= 0.3
    assert float(np.median(np.abs(vals))) <= 0.45


# Hand-worked case: background 10 cells, 5 values; window 0.1 of the range [0, 1]; resolution 4
# gives window starts 0, 0.225, 0.45, 0.675, 0.9 (width 0.1), each holding exactly one value.
#   value        0.0   0.25  0.5   0.75  1.0
#   cells        4     2     2     1     1      -> E = 0.4, 0.2, 0.2, 0.1, 0.1
#   presences    1     2     1     2     1      -> P = 1/7, 2/7, 1/7, 2/7, 1/7
#   F = P/E      5/14  10/7  5/7   20/7  10/7
# Ranks of F (10/7 twice, non-adjacent: average rank 3.5): 1, 3.5, 2, 5, 3.5; ranks of the mid-points
# 1..5. Centred: dx = -2 -1 0 1 2, dy = -2 0.5 -1 2 0.5; sum dx dy = 6.5, sum dx^2 = 10,
# sum dy^2 = 9.5 -> rho = 6.5 / sqrt(95).
HAND_BG = np.array([0.0] * 4 + [0.25] * 2 + [0.5] * 2 + [0.75] + [1.0])
HAND_PRES = np.array([0.0] + [0.25] * 2 + [0.5] + [0.75] * 2 + [1.0])
HAND_RHO = 6.5 / math.sqrt(95.0)


def test_hand_worked_case_is_exact() -> None:
    res = boyce_index(HAND_BG, HAND_PRES, resolution=4)
    w = res.windows
    np.testing.assert_allclose(w["hs_lo"], [0.0, 0.225, 0.45, 0.675, 0.9], atol=1e-12)
    np.testing.assert_allclose(w["e"], [0.4, 0.2, 0.2, 0.1, 0.1], atol=1e-12)
    np.testing.assert_allclose(w["pe"], [5 / 14, 10 / 7, 5 / 7, 20 / 7, 10 / 7], rtol=1e-12)
    assert res.boyce == pytest.approx(HAND_RHO, abs=1e-12)
    assert res.n_points == 5 and res.n_presences == 7 and res.n_background == 10
    assert spearman(np.array([5 / 14, 10 / 7, 5 / 7, 20 / 7, 10 / 7]), np.arange(5.0)) == pytest.approx(HAND_RHO)


def test_empty_windows_are_dropped_and_runs_of_equal_ratios_collapsed() -> None:
    # resolution 8: every second window holds no value (E = 0) -> dropped, the same 5 points remain
    r8 = boyce_index(HAND_BG, HAND_PRES, resolution=8)
    assert r8.boyce == pytest.approx(HAND_RHO, abs=1e-12) and r8.n_points == 5
    assert r8.windows["pe"].isna().sum() == 4 and not r8.windows.loc[r8.windows["pe"].isna(), "used"].any()
    # resolution 20: adjacent windows share a value (same P/E): each run counts once
    r20 = boyce_index(HAND_BG, HAND_PRES, resolution=20)
    nonempty = r20.windows.dropna(subset=["pe"])
    assert len(nonempty) > 5
    assert r20.n_points == 5 and int(r20.windows["used"].sum()) == 5
    assert r20.boyce == pytest.approx(HAND_RHO, abs=1e-12)


def test_table_values_on_a_window_edge_count_inside() -> None:
    """float32 0.6 (0.6000000238) lies on the edge of window [0.5, 0.6] (resolution 9, width 0.1)."""
    bg = np.array([0.0, 0.6, 1.0] * 10, dtype=np.float32)
    res = boyce_index(bg, np.array([0.6, 0.6, 1.0], dtype=np.float32), resolution=9)
    win = res.windows.set_index("window")
    assert win.loc[5, "hs_hi"] == pytest.approx(0.6) and win.loc[5, "background"] == 10
    assert win.loc[5, "presences"] == 2


def test_undefined_cases_give_nan() -> None:
    assert math.isnan(boyce_index(np.full(50, 0.4), np.full(5, 0.4)).boyce)  # constant map
    assert math.isnan(boyce_index(HAND_BG, np.zeros(0)).boyce)  # no presences
    # presences spread exactly like the background: P/E = 1 in every window -> one point
    assert math.isnan(boyce_index(HAND_BG, HAND_BG).boyce)
    with pytest.raises(ValueError, match="finite"):
        boyce_index(np.array([0.1, np.nan]), np.array([0.1]))


def test_bootstrap_is_seeded_and_brackets_the_index() -> None:
    bg = _surface().ravel()
    pres = np.random.default_rng(3).choice(bg, size=300, p=bg / bg.sum())
    a = boyce_bootstrap(bg, pres, n_boot=100, seed=[7, 1])
    b = boyce_bootstrap(bg, pres, n_boot=100, seed=[7, 1])
    c = boyce_bootstrap(bg, pres, n_boot=100, seed=[8, 1])
    assert a[1:] == b[1:] and a[1:] != c[1:]
    # percentile interval: narrow, high; near +1 resampled presences add noise, so the interval may
    # sit slightly below the estimate (documented in werkland.species.boyce)
    assert 0.8 < a[1] < a[2] and a[2] - a[1] < 0.2 and abs(a[0].boyce - a[2]) < 0.05


# --------------------------------------------------------------------------------------------
# coverage-based comparison


@pytest.mark.shared
@needs_shared
@pytest.mark.parametrize("case", ["spider_Girdled", "spider_Logged", "gbif_fixture_all100", "gbif_fixture_BE89"])
def test_rarefied_and_extrapolated_values_match_inext(case: str) -> None:
    c = json.loads(VALIDATION.read_text())["cases"][case]
    x = np.array(c["abundances"])
    for m, v in {**c["rarefied"], **c["extrapolated"]}.items():
        assert round(float(cv.richness_m(x, float(m))[0]), 4) == round(v["S"], 4)
        assert round(float(cv.coverage_m(x, float(m))[0]), 4) == round(v["C"], 4)
    assert round(float(cv.coverage_m(x, float(c["n"]))[0]), 4) == round(c["chao_jost_sample_coverage_C_n"], 4)


@pytest.mark.shared
@needs_shared
def test_spider_common_coverage_and_richness_at_it() -> None:
    cases = json.loads(VALIDATION.read_text())["cases"]
    g = np.array(cases["spider_Girdled"]["abundances"])
    lg = np.array(cases["spider_Logged"]["abundances"])
    c = cv.common_coverage([g, lg])
    # min(C_G(336) = 0.96357, C_L(504) = 0.968749): Girdled's doubled sample sets the level
    assert round(c, 5) == 0.96357
    m, s = cv.richness_at_coverage(g, c)
    assert m == pytest.approx(336.0, abs=1e-6) and round(s, 6) == 34.730733
    # Logged by hand: n = 252, f1 = 14, f2 = 4, A = 251*14 / (251*14 + 8);
    # m* = n + (ln(n/f1) + ln(1 - C*)) / ln(A) - 1; S = S_obs + f0 (1 - (n f0/(n f0 + f1))^(m* - n))
    a = 251 * 14 / (251 * 14 + 8)
    m_hand = 252 + (math.log(252 / 14) + math.log(1 - c)) / math.log(a) - 1
    f0 = 251 / 252 * 14**2 / 8
    s_hand = 37 + f0 * (1 - (252 * f0 / (252 * f0 + 14)) ** (m_hand - 252))
    m2, s2 = cv.richness_at_coverage(lg, c)
    assert m2 == pytest.approx(m_hand, rel=1e-12) and s2 == pytest.approx(s_hand, rel=1e-12)


def test_rarefaction_branch_inverts_the_coverage_curve() -> None:
    x = np.array([46, 22, 17, 15, 15, 9, 8, 6, 6, 4, 2, 2, 2, 2] + [1] * 12)
    for m in (10.0, 50.0, 100.0, 137.5):
        c = float(cv.coverage_m(x, m)[0])
        assert float(cv.m_at_coverage(x, c)[0]) == pytest.approx(m, rel=1e-9)
    # real m agrees with the integer rarefaction of werkland.species.richness
    assert float(cv.richness_m(x, 50.0)[0]) == pytest.approx(richness.richness_at(x, 50))


def test_bootstrap_assemblage_by_hand() -> None:
    """x = (3, 2, 1, 1): n = 7, f1 = 2, f2 = 1, f0 = 6/7 * 4/2 = 12/7, A = n f0/(n f0 + f1) = 12/14,
    a = f1/n A = 12/49; b = sum x/n (1 - x/n)^7; w = a/b; one undetected species (ceil f0 = 2 ->
    two of a/2 each)."""
    x = np.array([3, 2, 1, 1])
    p = cv.bootstrap_assemblage(x)
    a = 2 / 7 * (12 / 14)
    rel = x / 7
    b = float(np.sum(rel * (1 - rel) ** 7))
    seen = rel * (1 - a / b * (1 - rel) ** 7)
    np.testing.assert_allclose(p, np.sort(np.concatenate([seen, [a / 2, a / 2]]))[::-1], rtol=1e-12)
    assert p.sum() == pytest.approx(1.0)


def _records(parts: list[tuple[str, int, np.ndarray]]) -> pd.DataFrame:
    """Records (park, year, abundance vector over species keys 1..k) as an occurrences table."""
    rows = []
    for park, year, ab in parts:
        for key, k in enumerate(ab, start=1):
            rows += [{"speciesKey": key, "year": year, "park_id": park, "guild": "pollinators"}] * int(k)
    return pd.DataFrame(rows)


def test_period_verdicts() -> None:
    rich = np.array([5] * 60)          # 60 species, well sampled
    poor = np.array([60, 60, 60, 60, 60])  # 5 species, same number of records
    recs = _records([("A", 2016, poor), ("A", 2021, rich), ("B", 2016, rich), ("B", 2021, poor),
                     ("C", 2016, rich), ("C", 2022, rich), ("D", 2016, np.array([3, 2]))])
    periods = [("baseline", 2015, 2019), ("follow_up", 2020, 2025)]
    out = cv.compare_periods(recs, ["A", "B", "C", "D", "E"], ["pollinators"], periods, n_boot=50, seed=0,
                             min_records=20)
    assert list(out.columns) == cv.PERIOD_COLUMNS
    v = out[out["guild"] == "pollinators"].groupby("park_id")["verdict"].first()
    assert v["A"] == "increase" and v["B"] == "decrease" and v["C"] == "no_detectable_change"
    assert v["D"] == "insufficient_data" and v["E"] == "insufficient_data"
    a = out[(out["park_id"] == "A") & (out["guild"] == "all")].set_index("period")
    assert a.loc["baseline", "records"] == 300 and a.loc["follow_up", "s_obs"] == 60
    assert a.loc["baseline", "chao1"] == pytest.approx(richness.chao1(poor))
    assert len(out) == 2 * 2 * 6  # (all, pollinators) x (5 parks + region) x 2 periods
    again = cv.compare_periods(recs, ["A", "B", "C", "D", "E"], ["pollinators"], periods, n_boot=50, seed=0,
                               min_records=20)
    pd.testing.assert_frame_equal(out, again)


def test_no_periods_gives_header_only() -> None:
    out = cv.compare_periods(_records([("A", 2016, np.array([2, 1]))]), ["A"], ["pollinators"], [], n_boot=10,
                             seed=0, min_records=1)
    assert len(out) == 0 and list(out.columns) == cv.PERIOD_COLUMNS


# --------------------------------------------------------------------------------------------
# parameters


def test_params_from_config_defaults_and_errors() -> None:
    p = SpeciesEvidenceParams.from_config(_config())
    assert p.periods == () and p.boyce_min_presences == 30 and p.boyce_threshold == 0.3 and p.boyce_window == 0.1
    q = SpeciesEvidenceParams.from_config(_config(periods={"baseline": [2015, 2019], "follow_up": [2020, 2025]}))
    assert q.periods == (Period("baseline", 2015, 2019), Period("follow_up", 2020, 2025))
    assert SpeciesEvidenceParams.from_dict(q.as_dict()) == q
    with pytest.raises(WerklandInputError, match="overlap"):
        SpeciesEvidenceParams.from_config(_config(periods={"a": [2015, 2020], "b": [2020, 2025]}))
    with pytest.raises(WerklandInputError, match="species.periods.a"):
        SpeciesEvidenceParams.from_config(_config(periods={"a": [2019, 2015], "b": [2020, 2025]}))
    with pytest.raises(Exception, match="periods"):
        _config(periods={"only": [2015, 2019]})


# --------------------------------------------------------------------------------------------
# the step


CRS28992 = CRS.from_epsg(28992)
X0, Y0 = 84000.0, 445000.0


def _step_inputs(tmp: Path, n_good: int = 400, n_few: int = 10) -> dict:
    """Region 2 x 2 km; hedgehog map rising west -> east (continuous), pollinators a 3-value table map
    with its presences on the worst class; records drawn accordingly."""
    region = box(X0, Y0, X0 + 2000, Y0 + 2000)
    gpkg = tmp / "region.gpkg"
    write_gpkg(gpd.GeoDataFrame({"name": ["r"]}, geometry=[region], crs=CRS28992), gpkg, "region")
    parks = gpd.GeoDataFrame({"park_id": ["P1", "P2"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000),
                                                                   box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000)],
                             crs=CRS28992)
    write_gpkg(parks, gpkg, "parks", mode="a")
    grid = Grid(220, 220, Affine(10.0, 0, X0 - 100, 0, -10.0, Y0 + 2100), CRS28992)  # 100 m beyond the region
    cols = np.arange(220)
    hedgehog = np.tile(np.clip((cols - 10) / 199.0, 0, 1), (220, 1)).astype(np.float32)
    hedgehog[:5, :] = -1.0  # nodata strip (outside the region anyway)
    table = np.full((220, 220), 0.2, np.float32)
    table[:, 80:150] = 0.6
    table[:, 150:] = 1.0
    write_raster(tmp / "hedgehog.tif", hedgehog, grid, nodata=-1.0)
    write_raster(tmp / "pollinators.tif", table, grid, nodata=-1.0)
    rng = np.random.default_rng(11)
    # hedgehog presences: x density proportional to suitability (rejection sampling)
    xs = []
    while len(xs) < n_good:
        x = rng.uniform(X0, X0 + 2000)
        if rng.random() < (x - X0) / 2000:
            xs.append(x)
    hx, hy = np.array(xs), rng.uniform(Y0, Y0 + 2000, n_good)
    # pollinators: all in the 0.2 class (x < X0 + 700), presences avoid the suitable classes
    px, py = rng.uniform(X0, X0 + 700, n_good), rng.uniform(Y0, Y0 + 2000, n_good)
    ax, ay = rng.uniform(X0, X0 + 2000, n_few), rng.uniform(Y0, Y0 + 2000, n_few)
    x = np.concatenate([hx, px, ax])
    y = np.concatenate([hy, py, ay])
    guild = ["hedgehog"] * n_good + ["pollinators"] * n_good + ["amphibians"] * n_few
    year = np.where(np.arange(x.size) % 2 == 0, 2017, 2022)
    park = np.where(x < X0 + 1000, np.where(y < Y0 + 1000, "P1", None), np.where(y >= Y0 + 1000, "P2", None))
    occ = gpd.GeoDataFrame({"speciesKey": rng.integers(1, 40, x.size), "year": year.astype(float),
                            "park_id": park, "guild": guild}, geometry=gpd.points_from_xy(x, y), crs=CRS28992)
    write_gpkg(occ, tmp / "occurrences.gpkg", "occurrences")
    amph = table * 0 + 0.5
    amph[:, :110] = 0.9
    write_raster(tmp / "amphibians.tif", amph.astype(np.float32), grid, nodata=-1.0)
    return {"region": gpkg, "occ": tmp / "occurrences.gpkg",
            "habitat": {g: tmp / f"{g}.tif" for g in ("hedgehog", "pollinators", "amphibians")}}


def _params(**kw: object) -> SpeciesEvidenceParams:
    base = SpeciesEvidenceParams.from_config(_config())
    return dataclasses.replace(base, **kw)


def test_run_species_evidence_writes_both_files(tmp_path: Path) -> None:
    inp = _step_inputs(tmp_path)
    outs = [tmp_path / "out" / n for n in ("habitat_validation.csv", "habitat_pe_curve.csv", "periods.csv")]
    params = _params(periods=(Period("baseline", 2015, 2019), Period("follow_up", 2020, 2025)), bootstrap_replicates=50)
    res = run_species_evidence(inp["occ"], inp["habitat"], inp["region"], *outs, params=params)
    val = pd.read_csv(outs[0]).set_index("guild")
    assert list(pd.read_csv(outs[0]).columns) == VALIDATION_COLUMNS
    assert val.loc["hedgehog", "status"] == "supported" and val.loc["hedgehog", "boyce"] >= 0.9
    assert 0.7 < val.loc["hedgehog", "boyce_lo"] < val.loc["hedgehog", "boyce_hi"] <= 1.0
    assert val.loc["hedgehog", "n_presences"] == 400
    # the table map: three values, presences only on the worst -> defined, negative, flagged
    assert val.loc["pollinators", "status"] == "not_supported" and val.loc["pollinators", "boyce"] < 0
    # P/E: 0.2 -> 1/E, 0.6 -> 0, 1.0 -> 0; the two zeros are successive non-empty windows: one point
    assert val.loc["pollinators", "n_points"] == 2 and val.loc["pollinators", "boyce"] == -1.0
    assert val.loc["amphibians", "status"] == "too_few" and val.loc["amphibians", "n_presences"] == 10
    # background = cells whose centre lies in the region: 200 x 200
    assert set(val["n_background"]) == {40000}
    curve = pd.read_csv(outs[1])
    assert list(curve.columns) == PE_COLUMNS and set(curve["guild"]) == {"hedgehog", "pollinators", "amphibians"}
    periods = pd.read_csv(outs[2])
    assert set(periods["period"]) == {"baseline", "follow_up"}
    assert set(periods["park_id"]) == {"P1", "P2", "__region__"}
    assert set(periods["guild"]) == {"all", "hedgehog", "pollinators", "amphibians"}
    assert res["guilds"]["hedgehog"] == "supported"
    first = [p.read_bytes() for p in outs]
    run_species_evidence(inp["occ"], inp["habitat"], inp["region"], *outs, params=params)
    assert [p.read_bytes() for p in outs] == first  # seeded: a rerun writes the same bytes


def test_run_species_evidence_without_periods_and_bad_input(tmp_path: Path) -> None:
    inp = _step_inputs(tmp_path, n_good=40, n_few=2)
    outs = [tmp_path / "out" / n for n in ("v.csv", "c.csv", "p.csv")]
    run_species_evidence(inp["occ"], inp["habitat"], inp["region"], *outs, params=_params(bootstrap_replicates=0))
    assert outs[2].read_text().strip() == ",".join(cv.PERIOD_COLUMNS)
    val = pd.read_csv(outs[0])
    assert val["boyce_lo"].isna().all()  # no replicates, no interval
    with pytest.raises(WerklandInputError, match="occurrences"):
        run_species_evidence(tmp_path / "missing.gpkg", inp["habitat"], inp["region"], *outs, params=_params())


def test_runs_on_the_species_stage_output(tmp_path: Path) -> None:
    """The species stage's occurrences layer (handmade GBIF fixture) feeds the step unchanged."""
    inp = _step_inputs(tmp_path)
    cfg = _config(resolve_names=False)  # offline: no GBIF Backbone look-ups
    sp = SpeciesParams.from_config(cfg, {"species_source": "file",
                                         "species_file": str(ROOT / "tests/data/gbif/records_small_simple_csv.tsv")})
    lc = np.full((220, 220), 13, np.uint8)
    grid = Grid(220, 220, Affine(10.0, 0, X0 - 100, 0, -10.0, Y0 + 2100), CRS28992)
    write_raster(tmp_path / "landcover.tif", lc, grid, nodata=0)
    out = tmp_path / "sp"
    run_species(inp["region"], tmp_path / "landcover.tif", {}, ROOT / "config/landcover_classes.yaml",
                ROOT / "config/guilds.yaml", out / "occurrences.gpkg", out / "counts.csv", out / "citation.json",
                out / "cleaning_log.csv", params=sp, cache_dir=tmp_path / "cache")
    outs = [out / n for n in ("v.csv", "c.csv", "p.csv")]
    run_species_evidence(out / "occurrences.gpkg", inp["habitat"], inp["region"], *outs,
                         params=_params(periods=(Period("a", 2000, 2019), Period("b", 2020, 2030))))
    val = pd.read_csv(outs[0])
    assert list(val["guild"]) == ["hedgehog", "pollinators", "amphibians"]
    assert (val["status"] == "too_few").all()


# --------------------------------------------------------------------------------------------
# report section


def test_report_section_in_both_languages(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from werkland.layout import RegionPaths
    from werkland.report import species_evidence_section as sec
    from werkland.report.section_registry import SECTION_BUILDERS

    assert SECTION_BUILDERS["species_evidence"] is sec.build
    paths = RegionPaths(tmp_path / "results", "r1")
    data = SimpleNamespace(paths=paths, language="en", params=SimpleNamespace(config_as_run=_config()))
    assert sec.build(data) is None  # the step did not run
    inp = _step_inputs(tmp_path)
    params = _params(periods=(Period("baseline", 2015, 2019), Period("follow_up", 2020, 2025)), bootstrap_replicates=20)
    run_species_evidence(inp["occ"], inp["habitat"], inp["region"], paths.habitat_validation, paths.habitat_pe_curve,
                         paths.species_periods, params=params)
    en = sec.build(data)
    assert en is not None and en.key == "species_evidence" and not en.reason
    assert "suitability table not supported by records" in en.html and "Boyce" in en.html
    # P/E curves + the region + two parks
    assert len(en.figures) == 4 and all(f.png.startswith(b"\x89PNG") for f in en.figures)
    nl = sec.build(SimpleNamespace(paths=paths, language="nl", params=data.params))
    assert "niet gesteund door waarnemingen" in nl.html and nl.title != en.title
    assert all(set(v) == {"en", "nl"} for v in sec.TEXT.values())
    # without periods: the curve figure only and a sentence saying why
    run_species_evidence(inp["occ"], inp["habitat"], inp["region"], paths.habitat_validation, paths.habitat_pe_curve,
                         paths.species_periods, params=_params(bootstrap_replicates=0))
    bare = sec.build(data)
    assert len(bare.figures) == 1 and "species.periods" in bare.html
