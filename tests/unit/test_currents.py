"""werkland.currents: graph rule, solvers, pairwise resistance, currents, pinch points, stage, ini runner."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from affine import Affine
from pyproj import CRS
from scipy.sparse import csgraph
from shapely.geometry import LineString

from werkland._errors import WerklandInputError
from werkland.config import validate_config
from werkland.connectivity import cost_distance_bounded
from werkland.currents import (
    CurrentsFiles,
    SolverError,
    SolverSettings,
    conductance_from_resistance,
    cumulative_current,
    grid_graph,
    links_with_r_eff,
    network_graph,
    node_currents,
    pair_current,
    pairwise_resistance,
    pinch_points,
    run_currents,
    run_ini,
    segment_current_crossing,
)
from werkland.currents.cli import main as cli_main
from werkland.params import CurrentsParams
from werkland.raster.io import Grid, write_gpkg, write_raster
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]


def _rand_res(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([1.0, 2.0, 5.0, 10.0, 100.0], size=(n, n))


# --------------------------------------------------------------------------------------------
# graph rule
# --------------------------------------------------------------------------------------------


def _edges(g) -> dict[tuple[int, int], float]:
    return {(int(a), int(b)): float(w) for a, b, w in zip(g.ei, g.ej, g.w, strict=True)}


def test_graph_rule_mean_conductance_diagonals_and_nodata() -> None:
    c = np.array([[1.0, 3.0], [0.0, 2.0]])  # the 0 cell is nodata
    g = grid_graph(c)
    e = _edges(g)
    n = g.nodemap
    assert g.n_nodes == 3 and n[1, 0] == -1
    assert e[(n[0, 0], n[0, 1])] == pytest.approx(2.0)
    assert e[(n[0, 1], n[1, 1])] == pytest.approx(2.5)
    assert e[(n[0, 0], n[1, 1])] == pytest.approx(1.5 / np.sqrt(2))
    assert len(e) == 3
    g4 = grid_graph(c, four_neighbors=True)
    assert len(_edges(g4)) == 2


def test_graph_rule_mean_resistance_option() -> None:
    c = np.array([[1.0, 0.25]])  # resistances 1 and 4
    g = grid_graph(c, avg_resistance=True)
    assert g.w[0] == pytest.approx(1 / 2.5)


def test_regions_are_short_circuited_and_conductance_from_resistance() -> None:
    r = np.array([[1.0, 1.0, 1.0], [-1.0, np.nan, 2.0]])
    c = conductance_from_resistance(r, nodata=-1.0)
    np.testing.assert_allclose(c, [[1, 1, 1], [0, 0, 0.5]])
    regions = np.array([[7, 7, 0], [0, 0, 0]])
    g = grid_graph(c, regions=regions)
    assert g.nodemap[0, 0] == g.nodemap[0, 1] and g.n_nodes == 3


def test_network_graph_sums_parallel_edges() -> None:
    g = network_graph(3, [0, 1, 1], [1, 0, 2], [1.0, 2.0, 0.0])
    assert _edges(g) == {(0, 1): 3.0}


# --------------------------------------------------------------------------------------------
# resistance: series, parallel, lattice, symmetry, least-cost bound
# --------------------------------------------------------------------------------------------


def test_series_chain_of_cells() -> None:
    r = np.array([[1.0, 2.0, 5.0, 10.0]])
    g = grid_graph(1 / r, avg_resistance=True)
    sol = pairwise_resistance(g, np.array([0, 3]))
    assert sol.r_eff[0, 1] == pytest.approx((1 + 2) / 2 + (2 + 5) / 2 + (5 + 10) / 2)


def test_parallel_branches() -> None:
    # two routes 0-1-3 (1 + 2 ohm) and 0-2-3 (3 + 3 ohm): R = 3 * 6 / 9
    g = network_graph(4, [0, 1, 0, 2], [1, 3, 2, 3], 1 / np.array([1.0, 2.0, 3.0, 3.0]))
    assert pairwise_resistance(g, np.array([0, 3])).r_eff[0, 1] == pytest.approx(2.0)


def test_infinite_lattice_adjacent_nodes_half_ohm() -> None:
    """V9: unit resistors on a square lattice, adjacent nodes far from the border: 0.5 ohm."""
    n = 121
    g = grid_graph(np.ones((n, n)), four_neighbors=True)
    a, b = g.nodemap[60, 60], g.nodemap[60, 61]
    assert pairwise_resistance(g, np.array([a, b])).r_eff[0, 1] == pytest.approx(0.5, abs=2e-3)


def test_symmetry_and_not_connected() -> None:
    r = _rand_res(20)
    r[:, 10] = np.inf  # a wall: two components
    g = grid_graph(conductance_from_resistance(r))
    pts = [(2, 2), (15, 5), (3, 15), (18, 18), (5, 10)]
    focal = np.array([g.nodemap[p] for p in pts])
    sol = pairwise_resistance(g, focal)
    finite = np.isfinite(sol.r_eff)
    np.testing.assert_array_equal(finite, sol.connected)
    np.testing.assert_allclose(sol.r_eff[finite], sol.r_eff.T[finite], rtol=1e-10)
    assert not sol.connected[0, 2] and np.isnan(sol.r_eff[0, 2])  # across the wall
    assert sol.focal_nodes[4] == -1 and not sol.connected[4, 0]  # on the wall: off the graph


def test_r_eff_never_exceeds_the_least_cost_distance() -> None:
    """Rayleigh: one route alone is a resistance >= all routes together. With mean-resistance edges and
    8 neighbours the edge resistances are werkland's least-cost step costs (1 m cells)."""
    r = _rand_res(25, seed=4)
    g = grid_graph(1 / r, avg_resistance=True)
    pts = [(0, 0), (24, 24), (3, 20), (20, 2)]
    sol = pairwise_resistance(g, np.array([g.nodemap[p] for p in pts]))
    for i, p in enumerate(pts):
        cd = cost_distance_bounded(r, np.array([p]), res_m=1.0)
        for j, q in enumerate(pts):
            if i != j:
                assert sol.r_eff[i, j] <= cd[q] + 1e-9
    # and on the graph itself (Dijkstra on 1 / conductance)
    import scipy.sparse as sp

    adj = sp.csr_matrix((1 / g.w, (g.ei, g.ej)), shape=(g.n_nodes, g.n_nodes))
    d = csgraph.dijkstra(adj, directed=False, indices=sol.focal_nodes)
    assert np.all(sol.r_eff <= d[:, sol.focal_nodes] + 1e-9)


def test_at_most_n_solves() -> None:
    g = grid_graph(1 / _rand_res(15))
    focal = np.array([g.nodemap[p] for p in [(0, 0), (5, 5), (10, 10), (14, 0), (0, 14), (7, 3)]])
    sol = pairwise_resistance(g, focal)
    assert sol.solves == len(focal) - 1


# --------------------------------------------------------------------------------------------
# currents: conservation, superposition, solvers agree
# --------------------------------------------------------------------------------------------


def test_current_is_conserved_at_every_node() -> None:
    g = grid_graph(1 / _rand_res(12, seed=2))
    a, b = g.nodemap[1, 1], g.nodemap[10, 9]
    sol = pairwise_resistance(g, np.array([a, b]))
    v = sol.column(0, g.n_nodes) - sol.column(1, g.n_nodes)
    signed = g.w * (v[g.ei] - v[g.ej])  # current from ei to ej
    net_out = np.bincount(g.ei, signed, g.n_nodes) - np.bincount(g.ej, signed, g.n_nodes)
    inj = np.zeros(g.n_nodes)
    inj[a], inj[b] = 1.0, -1.0
    np.testing.assert_allclose(net_out, inj, atol=1e-10)
    nc = node_currents(g, v)
    assert nc[a] == pytest.approx(1.0) and nc[b] == pytest.approx(1.0)  # max(in, out) at the terminals
    np.testing.assert_allclose(pair_current(g, sol, 0, 1), nc)


def test_cumulative_current_by_superposition_equals_separate_solves() -> None:
    g = grid_graph(1 / _rand_res(14, seed=5))
    focal = np.array([g.nodemap[p] for p in [(0, 0), (13, 13), (0, 13), (6, 6)]])
    pairs = [(0, 1), (2, 3), (1, 3)]
    sup = cumulative_current(g, pairwise_resistance(g, focal), pairs)
    direct = cumulative_current(g, pairwise_resistance(g, focal, keep_potentials=False, keep_solvers=True), pairs)
    np.testing.assert_allclose(sup, direct, rtol=1e-9, atol=1e-12)
    assert sup.max() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_amg_cg_agrees_with_direct(seed: int) -> None:
    r = _rand_res(60, seed=seed)
    r[np.random.default_rng(seed).random(r.shape) < 0.1] = np.inf
    g = grid_graph(conductance_from_resistance(r))
    on = np.flatnonzero(g.nodemap.ravel() >= 0)
    focal = g.nodemap.ravel()[on[[0, len(on) // 3, len(on) // 2, -1]]]
    d = pairwise_resistance(g, focal, settings=SolverSettings("direct"))
    a = pairwise_resistance(g, focal, settings=SolverSettings("cg+amg", tolerance=1e-10))
    assert set(a.methods.values()) == {"cg+amg"} and set(d.methods.values()) == {"direct"}
    np.testing.assert_allclose(a.r_eff, d.r_eff, rtol=1e-7, equal_nan=True)
    pairs = [(0, 1), (2, 3)]
    np.testing.assert_allclose(cumulative_current(g, a, pairs), cumulative_current(g, d, pairs), rtol=1e-5, atol=1e-9)
    assert a.residual <= 1e-10


def test_solver_cap_stops_with_guild_size_and_residual() -> None:
    g = grid_graph(1 / _rand_res(40, seed=1))
    focal = np.array([g.nodemap[0, 0], g.nodemap[39, 39]])
    with pytest.raises(SolverError, match=r"guild hedgehog.*1 iterations.*1600 nodes.*relative residual"):
        pairwise_resistance(g, focal, settings=SolverSettings("cg+amg", tolerance=1e-14, max_iterations=1),
                            label="guild hedgehog")


def test_solver_settings_are_validated() -> None:
    with pytest.raises(WerklandInputError, match="unknown solver"):
        SolverSettings("gauss")
    assert SolverSettings().resolve(10) == "direct" and SolverSettings().resolve(10**8) == "cg+amg"


# --------------------------------------------------------------------------------------------
# pinch points and the downstream helpers
# --------------------------------------------------------------------------------------------


def test_pinch_points_follow_the_corridor_only() -> None:
    """Patches 1 and 2 joined by a one-cell corridor (resistance 1) through costly land (resistance 50)."""
    res = np.full((7, 9), 50.0)
    res[3, :] = 1.0
    patches = np.zeros((7, 9), dtype=int)
    patches[3, 0], patches[3, 8] = 1, 2
    out = pinch_points(res, patches, [(1, 2, np.nan)], res_m=1.0, corridor_width=5.0)
    row = out.links.iloc[0]
    assert row["lcd"] == pytest.approx(8.0) and row["corridor_cells"] == 9
    assert row["r_eff_corridor"] == pytest.approx(8.0)  # one cell wide: 8 unit resistors in series
    np.testing.assert_allclose(out.current[3, :], 1.0)
    assert np.all(out.current[[0, 1, 2, 4, 5, 6], :] == 0)  # nothing outside the corridor
    wide = pinch_points(res, patches, [(1, 2, np.nan)], res_m=1.0, corridor_width=1e6)
    assert wide.links.iloc[0]["r_eff_corridor"] < 8.0 and wide.current[0, 4] > 0


def test_pinch_points_in_parallel_match() -> None:
    res = _rand_res(40, seed=9)
    patches = np.zeros((40, 40), dtype=int)
    for k, (y, x) in enumerate([(3, 3), (35, 5), (20, 20), (5, 34), (36, 36)], 1):
        patches[y - 1:y + 2, x - 1:x + 2] = k
    res[patches > 0] = 1.0
    links = [(1, 2, np.nan), (1, 3, np.nan), (2, 3, np.nan), (3, 4, np.nan), (3, 5, np.nan), (4, 5, np.nan),
             (1, 4, np.nan), (2, 5, np.nan), (1, 5, np.nan)]
    one = pinch_points(res, patches, links, res_m=10.0, corridor_width=200.0)
    two = pinch_points(res, patches, links, res_m=10.0, corridor_width=200.0, n_workers=2)
    np.testing.assert_allclose(one.current, two.current, rtol=1e-10)
    pd.testing.assert_frame_equal(one.links, two.links)
    assert (one.links["corridor_cells"] > 0).all() and one.current.max() >= 1.0 - 1e-9


def test_links_with_r_eff_and_ratio() -> None:
    links = pd.DataFrame({"link_id": [1, 2, 3], "from_id": [2, 1, 3], "to_id": [1, 3, 4],
                          "cost_distance": [10.0, 20.0, 5.0]})
    table = pd.DataFrame({"from_id": [1, 1, 3], "to_id": [2, 3, 4], "r_eff": [2.0, 4.0, np.nan],
                          "connected": [True, True, False]})
    out = links_with_r_eff(links, table)
    np.testing.assert_allclose(out["r_eff"], [2.0, 4.0, np.nan])
    np.testing.assert_allclose(out["cwd_to_r_eff"], [5.0, 5.0, np.nan])
    assert list(out["link_id"]) == [1, 2, 3] and "r_eff" not in links.columns


def test_segment_current_crossing_recovers_the_flux() -> None:
    """1 A from the left edge to the right edge of a uniform strip; a 2-cell-wide road across it
    carries the whole 1 A."""
    h, w = 10, 20
    regions = np.zeros((h, w), dtype=int)
    regions[:, 0], regions[:, -1] = 1, 2
    g = grid_graph(np.ones((h, w)), regions=regions, four_neighbors=True)
    sol = pairwise_resistance(g, np.array([g.nodemap[0, 0], g.nodemap[0, -1]]))
    cur = g.to_raster(pair_current(g, sol, 0, 1))
    seg = np.zeros((h, w), dtype=np.int32)
    seg[:, 9:11] = 1
    seg[0:2, 3] = 2  # a short stub: part of the flux only
    x = segment_current_crossing(cur, seg, [h, 2])
    assert x[0] == pytest.approx(1.0, rel=1e-9)
    assert 0 < x[1] < 0.5


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------


def _params(**over) -> CurrentsParams:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.setdefault("currents", {}).update({"radius_m": 40.0, "block_size": 3, **over})
    cwd = Path.cwd()
    try:
        import os

        os.chdir(ROOT)
        validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
        guilds = load_guilds(cfg["guilds_table"], load_legend(cfg["legend"]))
    finally:
        os.chdir(cwd)
    return CurrentsParams.from_config(cfg, guilds["hedgehog"], n_threads=1)


def _region(tmp_path: Path, res: np.ndarray, patches: np.ndarray, links: list[tuple[int, int, float]]) -> CurrentsFiles:
    grid = Grid(res.shape[0], res.shape[1], Affine(10.0, 0, 1000.0, 0, -10.0, 5000.0), CRS.from_epsg(28992))
    d = tmp_path / "in"
    write_raster(d / "res.tif", res.astype(np.float32), grid, nodata=-1.0)
    write_raster(d / "patches.tif", patches.astype(np.int32), grid, nodata=0)
    hab = np.where(res > 0, np.clip(1.0 / np.maximum(res, 1.0), 0, 1), -1.0).astype(np.float32)
    write_raster(d / "hab.tif", hab, grid, nodata=-1.0)
    gdf = gpd.GeoDataFrame(
        {"link_id": range(1, len(links) + 1), "from_id": [a for a, _, _ in links], "to_id": [b for _, b, _ in links],
         "cost_distance": [c for _, _, c in links]},
        geometry=[LineString([(1000, 5000), (1010, 4990)]) for _ in links], crs="EPSG:28992")
    write_gpkg(gdf, d / "links.gpkg", "links")
    o = tmp_path / "out"
    return CurrentsFiles(d / "res.tif", d / "patches.tif", d / "links.gpkg", d / "hab.tif", o / "r.csv", o / "cur.tif",
                         o / "pinch.tif", o / "omni.tif", o / "fp.tif", o / "norm.tif")


def test_stage_writes_every_output(tmp_path: Path) -> None:
    res = _rand_res(30, seed=7)
    res[:, 15] = -1.0  # a wall
    res[14:16, 15] = 1.0  # with a gap
    res[0:3, 20:23] = -1.0
    patches = np.zeros((30, 30), dtype=int)
    patches[2:5, 2:5] = 1
    patches[25:28, 25:28] = 2
    patches[2:5, 25:28] = 3
    patches[0:3, 20:23] = 4  # on impassable cells only: not on the circuit
    res[patches > 0] = np.where(res[patches > 0] > 0, 1.0, res[patches > 0])
    f = _region(tmp_path, res, patches, [(1, 2, 400.0), (2, 3, 300.0)])
    summary = run_currents(f, _params())
    table = pd.read_csv(f.resistance_csv)
    assert list(table.columns) == ["from_id", "to_id", "r_eff", "connected"]
    assert len(table) == 3 and summary["patches"] == 3  # patch 4 has no passable cell
    assert table["connected"].all() and (table["r_eff"] > 0).all()
    for path in (f.current, f.pinchpoints, f.omni_current, f.flow_potential, f.normalized):
        with rasterio.open(path) as src:
            a = src.read(1)
            tags = src.tags()
            assert src.nodata == -1.0
        assert np.all(a[res <= 0] == -1.0) and np.all(a[res > 0] >= 0)
        assert "units" in tags and "note" not in tags
    with rasterio.open(f.current) as src:
        cur = src.read(1)
    assert cur[15, 15] > 0  # the gap carries the links' current
    assert json.dumps(summary)
    # a source raster in place of the suitability: sources only in the left half
    grid = Grid(30, 30, Affine(10.0, 0, 1000.0, 0, -10.0, 5000.0), CRS.from_epsg(28992))
    src_arr = np.zeros((30, 30), np.float32)
    src_arr[:, :10] = 1.0
    write_raster(tmp_path / "src.tif", src_arr, grid, nodata=-1.0)
    f2 = dataclasses.replace(f, source=tmp_path / "src.tif", omni_current=tmp_path / "omni2.tif")
    run_currents(f2, _params())
    with rasterio.open(f.omni_current) as a, rasterio.open(f2.omni_current) as b:
        base, left = a.read(1), b.read(1)
        assert b.tags()["source"] == "src.tif"
    assert not np.allclose(base, left) and left[:, 25:][res[:, 25:] > 0].max() < base[:, 25:].max()


def test_stage_explains_empty_outputs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    patches = np.zeros((12, 12), dtype=int)
    patches[2:4, 2:4] = 1
    f = _region(tmp_path / "one", np.ones((12, 12)), patches, [])
    with caplog.at_level(logging.WARNING):
        s = run_currents(f, _params(radius_m=30.0))
    assert "no patch pair" in s["note"] and "no patch pair" in caplog.text
    assert len(pd.read_csv(f.resistance_csv)) == 0
    with rasterio.open(f.current) as src:
        assert "no patch pair" in src.tags()["note"] and np.all(src.read(1) == 0)
    with rasterio.open(f.omni_current) as src:
        assert "note" not in src.tags() and src.read(1).max() > 0  # Omniscape needs no patches
    f = _region(tmp_path / "none", np.full((12, 12), -1.0), patches, [])
    s = run_currents(f, _params(omniscape=False))
    assert "passable" in s["note"]
    for path in (f.current, f.pinchpoints, f.omni_current):
        with rasterio.open(path) as src:
            assert np.all(src.read(1) == -1.0) and src.tags()["note"]


def test_params_from_schema_defaults_and_round_trip() -> None:
    p = _params()
    assert p.solver == "auto" and p.tolerance == 1e-6 and p.block_size == 3 and not p.enabled
    assert p.avg_conductance and not p.connect_four_neighbors and p.r_cutoff is None and p.corridor_width > 0
    assert p.source_raster == "" and p.omniscape
    assert CurrentsParams.from_dict(p.as_dict()) == p


# --------------------------------------------------------------------------------------------
# .ini runner and console command
# --------------------------------------------------------------------------------------------


def _asc(path: Path, a: np.ndarray) -> None:
    rows = "\n".join(" ".join(f"{v:g}" for v in r) for r in a)
    path.write_text(f"ncols {a.shape[1]}\nnrows {a.shape[0]}\nxllcorner 0\nyllcorner 0\ncellsize 1\n"
                    f"NODATA_value -9999\n{rows}\n")


def _cs_ini(tmp_path: Path, extra: str = "") -> Path:
    d = tmp_path / "job"
    (d / "in").mkdir(parents=True)
    _asc(d / "in" / "res.asc", np.ones((5, 5)))
    pts = np.zeros((5, 5))
    pts[0, 0], pts[4, 4], pts[2, 2] = 1, 2, 3
    _asc(d / "in" / "pts.asc", pts)
    ini = d / "job.ini"
    ini.write_text("[Circuitscape mode]\ndata_type = raster\nscenario = pairwise\n"
                   "habitat_file = in/res.asc\nhabitat_map_is_resistances = True\npoint_file = in/pts.asc\n"
                   f"output_file = out/job.out\nwrite_cur_maps = True\n{extra}")
    return ini


def test_ini_resolves_paths_against_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ini = _cs_ini(tmp_path)
    monkeypatch.chdir(ini.parent)  # Circuitscape opens relative paths from the working directory
    res = run_ini(ini)
    names = sorted(p.name for p in res.written)
    assert names == ["job_cum_curmap.asc", "job_curmap_1_2.asc", "job_curmap_1_3.asc", "job_curmap_2_3.asc",
                     "job_resistances.out", "job_resistances_3columns.out"]
    assert all(p.parent == ini.parent / "out" for p in res.written)
    other = tmp_path / "elsewhere"
    res2 = run_ini(ini, workdir=ini.parent, output_dir=other)
    assert all(p.parent == other / "out" for p in res2.written)
    np.testing.assert_allclose(res.resistances, res2.resistances)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("log_transform_maps = True\n", "log_transform_maps = True"),
        ("set_focal_node_currents_to_zero = True\n", "set_focal_node_currents_to_zero"),
        ("use_reclass_table = True\n", "use_reclass_table"),
        ("compress_grids = True\n", "compress_grids"),
    ],
)
def test_ini_refuses_unsupported_settings_by_name(tmp_path: Path, extra: str, match: str) -> None:
    with pytest.raises(WerklandInputError, match=match):
        run_ini(_cs_ini(tmp_path, extra), workdir=tmp_path / "job")


def test_ini_refuses_advanced_mode_and_warns_on_unknown_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ini = _cs_ini(tmp_path)
    ini.write_text(ini.read_text().replace("scenario = pairwise", "scenario = advanced"))
    with pytest.raises(WerklandInputError, match="scenario = advanced"):
        run_ini(ini, workdir=ini.parent)
    ini.write_text(ini.read_text().replace("scenario = advanced", "scenario = pairwise") + "write_curmaps = True\n")
    with caplog.at_level(logging.WARNING):
        run_ini(ini, workdir=ini.parent)
    assert "write_curmaps" in caplog.text and "write_cur_maps" in caplog.text


def test_cli_runs_an_ini(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ini = _cs_ini(tmp_path)
    assert cli_main(["run", str(ini), "--workdir", str(ini.parent), "--output-dir", str(tmp_path / "o")]) == 0
    assert "job_resistances.out" in capsys.readouterr().out
    ini.write_text(ini.read_text() + "compress_grids = True\n")
    assert cli_main(["run", str(ini), "--workdir", str(ini.parent)]) == 1
    assert "compress_grids" in capsys.readouterr().err
