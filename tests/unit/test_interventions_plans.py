"""Tests of scoring a user's plan (werkland.interventions.plans) and of the region after the selected
portfolio (werkland.interventions.after), on the synthetic region of test_interventions."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from werkland._errors import WerklandInputError
from werkland.climate import heat_mitigation, runoff_mm
from werkland.connectivity import build_links, find_patches, prepare_resistance, probability_metrics
from werkland.forking import BACKGROUND_NICENESS
from werkland.interventions import InterventionInputs, run_interventions
from werkland.interventions.after import (
    REGION_ROW,
    AfterInputs,
    build_engine,
    run_interventions_after,
)
from werkland.interventions.engine import candidate_pool
from werkland.interventions.evaluate import Evaluator
from werkland.interventions.first_evaluation import evaluate_all
from werkland.interventions.outputs import footprint_polygon
from werkland.interventions.plans import PLAN_CSV_COLUMNS, PlanInputs, run_plan
from werkland.interventions.select import score_candidates, select_portfolio
from werkland.layout import RegionPaths
from werkland.raster.io import read_raster

from .test_interventions import (
    ANALYSED,
    CATALOGUE,
    CRS28992,
    GUILDS,
    LEGEND,
    RES,
    X0,
    Y0,
    _box_cells,
    _params,
    make_region,
)


def _inputs(paths: RegionPaths, out: Path) -> InterventionInputs:
    """The interventions stage's files of the synthetic region (no barrier or hydrology input)."""
    g = ANALYSED
    return InterventionInputs(
        landcover_tif=paths.landcover_tif, landcover_gpkg=paths.landcover_gpkg, region_gpkg=paths.region_gpkg,
        habitat={x: paths.habitat(x) for x in g}, resistance={x: paths.resistance(x) for x in g},
        patches={x: paths.patches_tif(x) for x in g}, links={x: paths.links(x) for x in g}, barriers_all=None,
        climate_summary=paths.climate_summary, legend_yaml=LEGEND, guilds_yaml=GUILDS, catalogue_yaml=CATALOGUE,
        out_candidates_gpkg=out / "candidates.gpkg", out_portfolio_csv=out / "portfolio.csv",
        out_park_totals_csv=out / "park_totals.csv",
    )


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from werkland.tables import load_legend

    return make_region(tmp_path_factory.mktemp("plans"), load_legend(LEGEND))


def _plan_file(path: Path, rows: list[dict], crs=CRS28992) -> Path:
    geoms = [r.pop("geometry") for r in rows]
    gpd.GeoDataFrame(rows, geometry=geoms, crs=crs).to_file(path, engine="pyogrio")
    return path


def _score(tmp_path: Path, paths: RegionPaths, plan: Path, name: str = "p", **params):
    """Score ``plan``: the interventions stage first (its candidates.gpkg feeds the optimiser)."""
    out = tmp_path / "plans"
    p = _params(**params)
    stage = _inputs(paths, tmp_path / "stage")
    if not stage.out_candidates_gpkg.exists():
        run_interventions(stage, p)
    inputs = PlanInputs(_inputs(paths, tmp_path / "unused"), name, plan, out / f"{name}.gpkg", out / f"{name}.csv",
                        stage.out_candidates_gpkg)
    s = run_plan(inputs, p)
    csv = pd.read_csv(inputs.out_csv)
    measures = gpd.read_file(inputs.out_gpkg, layer="measures")
    optimum = gpd.read_file(inputs.out_gpkg, layer="optimum")
    return s, csv, measures, optimum


def test_one_measure_scores_its_own_gain(tmp_path, region):
    paths, grid, _ = region
    plan = _plan_file(tmp_path / "one.gpkg", [
        {"measure_id": "depave", "type": "depaving", "geometry": _box_cells(35, 55, 35, 55, grid.height)}])
    _, csv, measures, optimum = _score(tmp_path, paths, plan)
    for col in PLAN_CSV_COLUMNS:
        assert col in csv.columns
    row = csv.iloc[0]
    m = measures.iloc[0]
    assert row["n_measures"] == 1 and m["measure_id"] == "depave" and m["park_id"] == "p1"
    assert m["n_cells"] == 400 and m["cost_eur"] == pytest.approx(400 * 100 * 35.0, rel=0.5)  # catalogue cost
    assert row["cost_eur"] == pytest.approx(m["cost_eur"])
    assert row["score"] > 0
    assert row["score"] == pytest.approx(m["score"], rel=1e-9)
    assert row["score"] == pytest.approx(m["marginal_score"], rel=1e-12)
    assert row["d_retained_m3"] == pytest.approx(m["d_retained_m3"], rel=1e-9)
    assert row["interaction_score"] == pytest.approx(0.0, abs=1e-9 * row["score"])
    assert 0 < row["attainment_pct"] <= 100.0
    assert row["optimum_cost_eur"] <= row["cost_eur"] + 1e-6 and len(optimum) == row["optimum_n_measures"]


def test_overlapping_measures_score_less_than_the_sum(tmp_path, region):
    """Two depavings sharing 200 cells (the engine's interaction test: shared footprint cells): the
    plan's joint gain counts the shared cells once."""
    paths, grid, _ = region
    h = grid.height
    plan = _plan_file(tmp_path / "two.gpkg", [
        {"type": "depaving", "geometry": _box_cells(35, 55, 35, 50, h)},
        {"type": "depaving", "geometry": _box_cells(35, 55, 40, 55, h)},
    ])
    _, csv, measures, _ = _score(tmp_path, paths, plan)
    row = csv.iloc[0]
    assert list(measures["measure_id"]) == ["m1", "m2"]
    standalone = measures["score"].sum()
    assert row["sum_standalone_score"] == pytest.approx(standalone, rel=1e-9)
    assert row["score"] < standalone - 1e-6
    assert row["interaction_score"] == pytest.approx(row["score"] - standalone, rel=1e-9)
    # one of them, alone, then the other's cells: the marginal of the second is below its standalone
    assert measures["marginal_score"].sum() == pytest.approx(row["score"], rel=1e-9)
    assert (measures["marginal_score"] <= measures["score"] + 1e-12).all()
    assert row["d_retained_m3"] < measures["d_retained_m3"].sum()


def test_engine_releases_its_link_paths_after_generating(tmp_path, region):
    """The stage frees the link paths once the candidates exist (the evaluation never reads them);
    generating candidates afterwards is refused instead of silently giving no link candidates."""
    paths, _, _ = region
    params = _params()
    eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
    pool = candidate_pool(eng, params, None)
    assert any(c.type == "hedgerow" for c in pool) and any(eng.link_paths.values())
    eng.release_link_paths()
    assert not eng.link_paths and not eng.ctx.link_paths and eng.link_paths_released
    with pytest.raises(RuntimeError, match="release_link_paths"):
        candidate_pool(eng, params, None)


def test_guild_graphs_read_side_by_side_equal_one_after_the_other(tmp_path, region, monkeypatch):
    """The guilds' graphs are read beside the evaluator's land-cover baseline (built on the calling
    thread meanwhile); with two workers on two threads at once (one guild's all-pairs search beside
    the other's reading), in the configured order. They equal those read one after the other: areas,
    links, PCnum and every pair's distance, and the link paths."""
    from werkland.interventions import engine as engine_mod

    paths, _, _ = region
    real = engine_mod.read_guild_graph
    inside: list[str] = []
    mode = {"pair": threading.Barrier(2, timeout=30)}  # the two parties that must run at the same time

    def spied(inputs, conn, *args, **kwargs):
        inside.append(threading.current_thread().name)
        if len(inside) <= (1 if "evaluator" in mode else 2):
            mode["pair"].wait()  # the evaluator, or the other guild's reading, runs at the same time
        return real(inputs, conn, *args, **kwargs)

    class Spied(engine_mod.Evaluator):
        def __init__(self, *args, **kwargs):
            if "evaluator" in mode:
                assert threading.current_thread() is threading.main_thread()
                mode["pair"].wait()  # built while the first guild is being read
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(engine_mod, "read_guild_graph", spied)
    monkeypatch.setattr(engine_mod, "Evaluator", Spied)
    mode["evaluator"] = True
    serial = engine_mod.build_engine(_inputs(paths, tmp_path / "a"), _params())
    assert len(inside) == 2 and len(set(inside)) == 1 and threading.main_thread().name not in inside
    inside.clear()
    del mode["evaluator"]
    mode["pair"] = threading.Barrier(2, timeout=30)
    params = replace(_params(), n_workers=2)
    side = engine_mod.build_engine(_inputs(paths, tmp_path / "b"), params)
    assert len(inside) == 2 and len(set(inside)) == 2 and threading.main_thread().name not in inside
    assert list(side.graphs) == list(serial.graphs) == ANALYSED
    for g in ANALYSED:
        a, b = serial.graphs[g], side.graphs[g]
        assert a.n == b.n > 1 and a.pcnum == b.pcnum and a.adj == b.adj
        np.testing.assert_array_equal(a.a, b.a)
        nodes = np.arange(a.n)
        np.testing.assert_array_equal(a.D.block(nodes, nodes), b.D.block(nodes, nodes))
        assert len(serial.link_paths[g]) == len(side.link_paths[g]) > 0
        for x, y in zip(serial.link_paths[g], side.link_paths[g], strict=True):
            np.testing.assert_array_equal(x, y)


def test_plan_equal_to_the_optimal_portfolio_scores_100(tmp_path, region):
    """A plan of three generated candidates, then a plan equal to the optimiser's portfolio at its cost:
    the second reaches 100 % and nothing is swapped."""
    paths, grid, _ = region
    params = _params(lazy_epsilon=0.0)
    eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
    pool = candidate_pool(eng, params, None)
    by_id = {c.candidate_id: c for c in pool}
    picked = [c for c in pool if c.type in ("green_roof_extensive", "hedgerow", "wadi")][:3]
    assert len(picked) == 3

    def rows(cands):
        return [{"measure_id": c.candidate_id, "type": c.type, "cost_eur": c.cost_eur, "size": c.size,
                 "geometry": footprint_polygon(c.cells, grid)} for c in cands]

    _, csv1, m1, opt1 = _score(tmp_path, paths, _plan_file(tmp_path / "a.gpkg", rows(picked)), "a", lazy_epsilon=0.0)
    assert len(opt1) >= 1
    opt_cands = [by_id[i] for i in opt1["candidate_id"]]
    _, csv2, m2, opt2 = _score(tmp_path, paths, _plan_file(tmp_path / "b.gpkg", rows(opt_cands)), "b",
                               lazy_epsilon=0.0)
    r = csv2.iloc[0]
    assert r["attainment_pct"] == pytest.approx(100.0, abs=1e-9)
    assert r["score"] == pytest.approx(r["optimum_score"], rel=1e-12)
    assert r["n_swapped_out"] == 0 and r["n_swapped_in"] == 0 and m2["in_optimum"].all()
    # the same set: scored one commit after another as the plan, per batch as the optimum of the first
    # plan (equal up to the graph update's PC tolerance, interventions.pc_tolerance = 1e-6)
    assert r["score"] == pytest.approx(csv1.iloc[0]["optimum_score"], rel=1e-6)
    # the first plan: its swapped-out measures name what replaces them
    r1 = csv1.iloc[0]
    assert r1["attainment_pct"] <= 100.0
    out = m1[~m1["in_optimum"]]
    assert r1["n_swapped_out"] == len(out)
    if len(out) and r1["n_swapped_in"]:
        named = {x.strip() for v in out["replaced_by"] for x in str(v).split(",") if x.strip()}
        assert named and named <= set(opt1["candidate_id"])


@pytest.fixture(scope="module")
def small_park_region(region, tmp_path_factory):
    """The synthetic region with its park reduced to the left half (the region outline unchanged)."""
    paths, grid, lc = region
    root = tmp_path_factory.mktemp("smallpark")
    p2 = RegionPaths(root, "region")
    shutil.copytree(paths.dir, p2.dir)
    h = grid.height
    park = _box_cells(1, 60, 0, 30, h)
    outline = _box_cells(1, 60, 0, 60, h)
    gpd.GeoDataFrame({"park_id": ["p1"], "name": ["Test park"], "area_m2": [park.area]}, geometry=[park],
                     crs=CRS28992).to_file(p2.region_gpkg, layer="parks", engine="pyogrio")
    gpd.GeoDataFrame({"name": ["r"]}, geometry=[outline], crs=CRS28992).to_file(p2.region_gpkg, layer="region",
                                                                                  engine="pyogrio")
    return p2, grid, lc


def _bad(tmp_path, paths, grid, case):
    h = grid.height
    if case == "type":
        return _plan_file(tmp_path / "x.gpkg", [{"type": "moat", "geometry": _box_cells(35, 45, 5, 30, h)}])
    if case == "outside_region":
        return _plan_file(tmp_path / "x.gpkg", [{"type": "depaving", "geometry": shapely.box(X0 - 900, Y0, X0 - 500, Y0 + 200)}])
    if case == "partly_outside_region":
        return _plan_file(tmp_path / "x.gpkg", [{"type": "depaving", "geometry": shapely.box(X0 + 500, Y0 + 100, X0 + 900, Y0 + 200)}])
    if case == "outside_park":
        return _plan_file(tmp_path / "x.gpkg", [{"type": "depaving", "geometry": _box_cells(35, 55, 35, 55, h)}])
    if case == "crs":
        p = tmp_path / "x.gpkg"
        gpd.GeoDataFrame({"type": ["depaving"]}, geometry=[_box_cells(35, 55, 35, 55, h)]).to_file(p, engine="pyogrio")
        return p
    if case == "empty":
        p = tmp_path / "x.gpkg"
        gpd.GeoDataFrame({"type": pd.Series([], dtype=str)}, geometry=gpd.GeoSeries([], crs=CRS28992)).to_file(
            p, engine="pyogrio")
        return p
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, msg",
    [
        ("type", r"x.gpkg: measure m1: unknown type 'moat' -- fix: use one of the catalogue types: green_roof_extensive, "),
        ("outside_region", r"x.gpkg: measure m1 \(depaving\) lies outside the region"),
        ("partly_outside_region", r"x.gpkg: measure m1 \(depaving\) lies partly outside the region"),
        ("outside_park", r"x.gpkg: measure m1 \(depaving\) lies outside every park -- fix: a depaving is placed inside"),
        ("crs", r"x.gpkg: the plan has no CRS"),
        ("empty", r"x.gpkg: the plan is empty \(no measures\)"),
    ],
)
def test_bad_plans_are_one_clear_error(tmp_path, small_park_region, case, msg):
    paths, grid, _ = small_park_region
    plan = _bad(tmp_path, paths, grid, case)
    with pytest.raises(WerklandInputError, match=msg):
        _score(tmp_path, paths, plan)
    assert not (tmp_path / "plans" / "p.csv").exists()


def test_geojson_plan_in_another_crs_is_reprojected(tmp_path, region):
    paths, grid, _ = region
    geom = gpd.GeoSeries([_box_cells(35, 55, 35, 55, grid.height)], crs=CRS28992).to_crs(4326).iloc[0]
    plan = _plan_file(tmp_path / "plan.geojson", [{"type": "depaving", "geometry": geom}], crs=4326)
    _, csv, measures, _ = _score(tmp_path, paths, plan)
    assert 390 <= measures.iloc[0]["n_cells"] <= 410 and csv.iloc[0]["score"] > 0


# --------------------------------------------------------------------------------------------
# after the selected portfolio
# --------------------------------------------------------------------------------------------


def _with_after(inputs: InterventionInputs, out: Path) -> InterventionInputs:
    """``inputs`` with the after-state outputs in ``out/after``."""
    return replace(inputs, out_after_habitat={g: out / "after" / f"habitat_{g}.tif" for g in ANALYSED},
                   out_after_summary_csv=out / "after" / "summary.csv")


def _recompute_after(tmp_path: Path, inputs: InterventionInputs, out: Path, params) -> AfterInputs:
    """The after-state recomputed by a fresh engine replaying the portfolio the stage wrote."""
    d = tmp_path / "replayed"
    ai = AfterInputs(inputs, out / "candidates.gpkg", out / "portfolio.csv",
                     {g: d / f"habitat_{g}.tif" for g in ANALYSED}, d / "summary.csv")
    run_interventions_after(ai, params)
    return ai


def _assert_same_after(inputs: InterventionInputs, ai: AfterInputs) -> None:
    """The after-state the stage wrote equals the replayed one: same summary file, same rasters."""
    assert inputs.out_after_summary_csv.read_bytes() == ai.out_summary_csv.read_bytes()
    for g in ANALYSED:
        a, grid_a, nd_a = read_raster(inputs.out_after_habitat[g])
        b, grid_b, nd_b = read_raster(ai.out_habitat[g])
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and grid_a == grid_b and nd_a == nd_b


def test_after_state_equals_a_recomputation_from_scratch(tmp_path, region):
    """The after-state the interventions stage writes from its final engine state equals (1) a fresh
    engine replaying its portfolio (identical files) and (2) the final state recomputed from scratch:
    habitat rasters changed cell by cell, patches, links and ECA rebuilt, urban cooling and runoff
    re-run on the changed land cover, and the gains the engine reported in portfolio.csv."""
    paths, grid, lc = region
    params = _params(budget_eur=150_000)
    out = tmp_path / "int"
    inputs = _with_after(_inputs(paths, out), out)
    run_interventions(inputs, params)
    port = pd.read_csv(out / "portfolio.csv")
    assert len(port) >= 2
    _assert_same_after(inputs, _recompute_after(tmp_path, inputs, out, params))
    summ = pd.read_csv(inputs.out_after_summary_csv, dtype={"park_id": str})
    reg = summ[summ["park_id"] == REGION_ROW].set_index("guild")
    # --- from scratch: a fresh engine only for its lookup tables and the candidates' footprints
    eng = build_engine(inputs, params)
    ev = eng.ev
    cand = gpd.read_file(out / "candidates.gpkg", layer="candidates").set_index("candidate_id")
    codes = ev.codes.copy()
    suit = {g: eng.graphs[g].suit.copy() for g in ANALYSED}
    res = {g: eng.graphs[g].res.copy() for g in ANALYSED}
    for cid in port.sort_values("order")["candidate_id"]:
        cells = np.unique(eng.ctx.cells_of_geom(cand.loc[cid, "geometry"]))
        typ = eng.catalogue.types[cand.loc[cid, "type"]]
        for g in ANALYSED:  # the type's new values given the current rasters
            eng.graphs[g].suit, eng.graphs[g].res = suit[g], res[g]
        new_codes, per_guild = ev.new_values(typ, cells)
        codes.ravel()[cells] = new_codes
        for g in ANALYSED:
            suit[g].ravel()[cells], res[g].ravel()[cells] = per_guild[g]
    last = port.iloc[-1]
    for g in ANALYSED:
        written, _, _ = read_raster(inputs.out_after_habitat[g])
        base, _, _ = read_raster(paths.habitat(g))
        valid = lc != 0
        np.testing.assert_array_equal(written[valid], suit[g][valid])
        np.testing.assert_array_equal(written[~valid], base[~valid])
        conn = params.guild_connectivity(g)
        ps = find_patches(suit[g], res_m=RES, threshold=conn.suitability_threshold, min_area_m2=conn.min_patch_area_m2)
        links = build_links(prepare_resistance(res[g], -1.0), ps.labels, res_m=RES,
                            max_cost=conn.kernel.max_cost(conn.p_floor), n_threads=1, with_paths=False)
        a = ps.table["quality_ha"].to_numpy()
        eca = probability_metrics(a, (links.from_id - 1, links.to_id - 1, links.cost), conn.kernel.k_per_m, 1.0,
                                  node_metrics=False).ECA_ha
        assert reg.loc[g, "eca_ha_after"] == pytest.approx(eca, rel=1e-5)
        assert reg.loc[g, "habitat_ha_after"] == pytest.approx(a.sum(), rel=1e-9)
        assert reg.loc[g, "eca_ha_after"] - reg.loc[g, "eca_ha_before"] == pytest.approx(
            last[f"cum_d_eca_ha_{g}"], rel=1e-9, abs=1e-9)
    w = params.guild_weights
    wsum = sum(w[g] for g in ANALYSED)
    d_hab = sum(w[g] / wsum * (reg.loc[g, "habitat_ha_after"] - reg.loc[g, "habitat_ha_before"]) for g in ANALYSED)
    assert d_hab == pytest.approx(last["cum_d_habitat_ha"], rel=1e-9, abs=1e-9)
    # heat and runoff re-run on the whole changed land cover
    cp = params.climate
    hm0 = heat_mitigation(ev.codes, ev.bio, RES, cp)
    hm1 = heat_mitigation(codes, ev.bio, RES, cp)
    r = reg.iloc[0]
    d_hm = float(np.nansum(hm1 - hm0)) * grid.cell_area_m2 / 1e4
    assert r["d_hm"] == pytest.approx(d_hm, rel=1e-6, abs=1e-9)
    assert r["d_hm"] == pytest.approx(last["cum_d_hm"], rel=1e-9, abs=1e-12)
    park = summ[summ["park_id"] == "p1"].iloc[0]
    in_park = ev.park_index > 0
    assert park["hm_mean_after"] == pytest.approx(float(np.nanmean(hm1[in_park & (lc != 0)])), rel=1e-6)
    q1 = runoff_mm(codes, ev.bio, eng.storm_mm, cp.soil_group, cp.lambda_, storage=False)
    assert park["runoff_m3_after"] == pytest.approx(float(np.nansum(q1[in_park])) * grid.cell_area_m2 / 1000, rel=1e-9)
    assert park["runoff_m3_after"] < park["runoff_m3_before"]
    assert r["d_retained_m3"] == pytest.approx(last["cum_d_retained_m3"], rel=1e-9)
    assert park["n_measures"] == len(port) and park["cost_eur"] == pytest.approx(port["cost_eur"].sum())


def test_after_state_files_are_the_same_on_two_workers(tmp_path, region):
    """Two workers (the first evaluation forked, the selection's guilds and heat part on threads, the
    after-state rasters written side by side) write the files of one worker, byte for byte."""
    paths, _, _ = region
    params = _params(budget_eur=150_000)
    written = {}
    for n in (1, 2):
        out = tmp_path / f"w{n}"
        inputs = _with_after(_inputs(paths, out), out)
        run_interventions(inputs, replace(params, n_workers=n))
        written[n] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert sum(name.startswith("after/habitat_") for name in written[1]) == len(ANALYSED)
    assert sorted(written[2]) == sorted(written[1])
    assert [name for name in written[1] if written[1][name] != written[2][name]] == []


def test_after_state_when_the_portfolio_is_not_what_was_committed(tmp_path, region, monkeypatch):
    """When the portfolio differs from the measures the selection committed (the best single measure
    replacing the greedy portfolio), the stage replays the portfolio on a fresh engine: the files
    equal the from-scratch replay of the portfolio (not the greedy state)."""
    import werkland.interventions.stage as stage

    real = stage.select_portfolio
    seen = {}

    def best_single(*args, **kwargs):
        picks, pick_vec = real(*args, **kwargs)
        seen["committed"] = list(kwargs["committed"])
        b = picks[-1]  # the greedy picks are all committed, the "portfolio" is one of them
        return [b], {b: pick_vec[b]}

    monkeypatch.setattr(stage, "select_portfolio", best_single)
    paths, _, _ = region
    params = _params(budget_eur=150_000)
    out = tmp_path / "int"
    inputs = _with_after(_inputs(paths, out), out)
    run_interventions(inputs, params)
    assert len(seen["committed"]) >= 2 and len(pd.read_csv(out / "portfolio.csv")) == 1
    _assert_same_after(inputs, _recompute_after(tmp_path, inputs, out, params))
    s = pd.read_csv(inputs.out_after_summary_csv)
    assert (s["n_measures"][s["park_id"] == REGION_ROW] == 1).all()


def test_after_state_of_an_empty_portfolio_equals_before(tmp_path, region):
    paths, _, _ = region
    params = _params(budget_eur=1.0)
    out = tmp_path / "int"
    inputs = _with_after(_inputs(paths, out), out)
    run_interventions(inputs, params)
    _assert_same_after(inputs, _recompute_after(tmp_path, inputs, out, params))
    s = pd.read_csv(inputs.out_after_summary_csv)
    for a, b in (("habitat_ha_before", "habitat_ha_after"), ("runoff_m3_before", "runoff_m3_after"),
                 ("hm_mean_before", "hm_mean_after")):
        np.testing.assert_array_equal(s[a].to_numpy(), s[b].to_numpy())
    assert (s["n_measures"] == 0).all() and (s["d_hm"] == 0).all()
    for g in ANALYSED:
        np.testing.assert_array_equal(read_raster(inputs.out_after_habitat[g])[0], read_raster(paths.habitat(g))[0])


def test_after_outputs_must_match_the_analysed_guilds(tmp_path, region):
    paths, _, _ = region
    out = tmp_path / "int"
    inputs = replace(_with_after(_inputs(paths, out), out), out_after_habitat={ANALYSED[0]: out / "h.tif"})
    with pytest.raises(WerklandInputError, match="after habitat outputs"):
        run_interventions(inputs, _params())


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_plans_report_section(tmp_path, region, lang):
    from types import SimpleNamespace

    from werkland.report import plans_section

    paths, grid, _ = region
    h = grid.height
    plan = _plan_file(tmp_path / "two.gpkg", [
        {"measure_id": "roof<1>", "type": "green_roof_extensive", "geometry": _box_cells(35, 45, 5, 30, h)},
        {"type": "depaving", "geometry": _box_cells(35, 55, 35, 55, h)},
    ])
    _score(tmp_path, paths, plan, name="mine")
    data = SimpleNamespace(paths=RegionPaths(tmp_path.parent, tmp_path.name), params=SimpleNamespace(plans={}),
                           language=lang, region=tmp_path.name)
    sec = plans_section.build(data)
    assert sec is not None and sec.key == "plans" and not sec.reason
    assert "roof&lt;1&gt;" in sec.html and "roof<1>" not in sec.html  # values are escaped
    assert ("attainable gain" if lang == "en" else "haalbare winst") in sec.html
    empty = SimpleNamespace(paths=RegionPaths(tmp_path, "none"), params=SimpleNamespace(plans={}), language=lang,
                            region="none")
    assert plans_section.build(empty) is None
    gone = SimpleNamespace(paths=RegionPaths(tmp_path, "none"), params=SimpleNamespace(plans={"none": ["x"]}),
                           language=lang, region="none")
    assert plans_section.build(gone).reason


def test_first_evaluation_on_forked_workers_equals_one_process(tmp_path, region):
    """More than 32 candidates (the generated ones, four times over): two forked workers, each walking
    its share of the spatial order (WorkShares), give every candidate the gains of one process."""
    paths, _, _ = region
    params = _params()
    eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
    pool = candidate_pool(eng, params, None)
    cands = pool * 4
    assert len(cands) > 32  # evaluate_all forks from 33 candidates on

    one = [_gain_numbers(g) for g in evaluate_all(eng.ev, cands, 1)]
    two = [_gain_numbers(g) for g in evaluate_all(eng.ev, cands, 2)]
    assert len(two) == len(cands) and two == one
    assert one[: len(pool)] == one[len(pool): 2 * len(pool)]  # the copies of a candidate: its gains


def _gain_numbers(g):
    return (g.park, g.d_eca_ha, g.d_quality_ha, g.d_hm, g.d_cool_access_m2, g.d_retained_m3, g.d_cn_m3, g.d_storage_m3,
            g.d_inflow_m3, g.window, g.cs_window, dict(g.pc_delta), {k: sorted(v) for k, v in g.touched.items()},
            {k: sorted(v.items()) for k, v in g.seeds.items()})


def test_evaluate_many_on_guild_threads_equals_one_candidate_after_the_other(tmp_path, region):
    """The re-evaluations after a pick: evaluated together on the guild threads (each guild graph going
    through the candidates in order, the heat parts on their own thread), every candidate gets the gains
    of evaluating one after the other on one thread -- with and without its earlier evaluation's
    searches, and a candidate without cells among them."""
    paths, _, _ = region
    params = _params()
    eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
    ev = eng.ev
    cands = candidate_pool(eng, params, None)
    assert len(cands) >= 4
    first = [ev.evaluate(c) for c in cands]
    ev.evaluate(cands[0], commit=True)
    rest = [*cands[1:], replace(cands[1], candidate_id="empty", cells=np.empty(0, np.int64))]
    prevs = [first[k + 1] if k % 2 else None for k in range(len(rest) - 1)] + [None]
    ev.use_guild_threads(1)
    n0 = ev.n_evals
    one = [_gain_numbers(ev.evaluate(c, prev=p)) for c, p in zip(rest, prevs, strict=True)]
    ev.use_guild_threads(2)
    many = [_gain_numbers(g) for g in ev.evaluate_many(rest, prevs)]
    assert many == one
    assert ev.n_evals - n0 == 2 * len(rest)
    assert any(m[1] != 0 for m in many)  # the graphs' part did change
    with pytest.raises(ValueError, match="earlier evaluations"):
        ev.evaluate_many(rest, prevs[:-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a niceness per thread is Linux's")
def test_evaluate_many_runs_the_longest_guild_first_and_the_others_in_the_background(tmp_path, region, monkeypatch):
    """The guild whose evaluations have taken longest so far (the critical path) runs on the calling
    thread at its priority; the other guilds and their searches run at the lowest priority."""
    paths, _, _ = region
    params = _params()
    eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
    ev = eng.ev
    cands = candidate_pool(eng, params, None)
    names = list(ev.graphs)
    assert len(names) >= 2
    lead = names[-1]
    ev._guild_seconds = {lead: 1e6}  # the longest so far
    ev.use_guild_threads(2)
    seen: dict[str, set[tuple[int, bool]]] = {g: set() for g in names}
    searches: dict[str, set[int]] = {g: set() for g in names}

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    for g, graph in ev.graphs.items():
        evaluate, search_map = graph.evaluate, graph._map

        def spy(*args, g=g, evaluate=evaluate, **kwargs):
            seen[g].add((niceness(), threading.current_thread() is threading.main_thread()))
            return evaluate(*args, **kwargs)

        def map_spy(fn, items, g=g, search_map=search_map):
            def noted(x):
                searches[g].add(niceness())
                return fn(x)
            return search_map(noted, items)

        graph.n_threads = 2
        monkeypatch.setattr(graph, "evaluate", spy)
        monkeypatch.setattr(graph, "_map", map_spy)
    before = niceness()
    ev.evaluate_many(cands, [None] * len(cands))
    assert seen[lead] == {(before, True)}
    for g in names[:-1]:
        assert seen[g] == {(BACKGROUND_NICENESS, False)}, g
        assert searches[g] <= {BACKGROUND_NICENESS}, g
    assert searches[lead] <= {before}
    assert any(searches.values())  # some evaluation searched on the threads
    assert not any(graph.background for graph in ev.graphs.values())
    assert niceness() == before


def test_selection_with_the_re_evaluations_together_equals_one_after_the_other(tmp_path, region, monkeypatch):
    """The whole selection on guild threads: the same picks and pick gains whether the candidates a pick
    interacts with are evaluated together (Evaluator.evaluate_many) or one after the other. Each
    candidate comes twice (a copy shares its cells), so that a pick interacts with several."""
    paths, _, _ = region
    params = _params()

    def select():
        eng = build_engine(_inputs(paths, tmp_path / "unused"), params)
        pool = candidate_pool(eng, params, None)
        cands = pool + [replace(c, candidate_id=f"{c.candidate_id}-copy") for c in pool]
        gains = evaluate_all(eng.ev, cands, 1)
        eng.ev.use_guild_threads(2)
        scores = score_candidates(eng.scorer, cands, gains)
        picks, vec = select_portfolio(eng.ev, eng.scorer, cands, gains, scores, budget=params.budget_eur,
                                      interaction_p=params.interaction_p, eager_max=params.eager_max,
                                      lazy_epsilon=params.lazy_epsilon, warnings=[])
        return picks, {i: v.tolist() for i, v in vec.items()}, eng.ev.n_evals

    calls = []
    real = Evaluator.evaluate_many

    def counted(self, cands, prevs):
        calls.append(len(cands))
        return real(self, cands, prevs)

    monkeypatch.setattr(Evaluator, "evaluate_many", counted)
    together = select()
    monkeypatch.setattr(Evaluator, "evaluate_many",
                        lambda self, cands, prevs: [self.evaluate(c, prev=p) for c, p in zip(cands, prevs, strict=True)])
    one_by_one = select()
    assert len(together[0]) >= 2 and max(calls) >= 2  # picks with interacting candidates re-evaluated together
    assert together == one_by_one
