"""Tests of werkland.connectivity: cost distance, patches, links, PC/IIC/dPC, corridors, outputs, reruns.

Validation cases V1 (GRASS r.cost) and V5 (toy PC/IIC/dPC) come from ../shared/notes/connectivity.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from scipy.sparse import csgraph
from skimage.graph import MCP_Geometric

import werkland.connectivity.metrics as cn_metrics
from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland.connectivity.apsp import edge_arrays
from werkland.params import ConnectivityParams
from werkland.raster.io import Grid, read_raster, write_gpkg, write_raster
from werkland.tables import Guild, Kernel

# --------------------------------------------------------------------------------------------
# V1: GRASS r.cost manual example
# --------------------------------------------------------------------------------------------

V1_COST = np.array(
    [
        [2, 2, 1, 1, 5, 5, 5],
        [2, 2, 8, 8, 5, 2, 1],
        [7, 1, 1, 8, 2, 2, 2],
        [8, 7, 8, 8, 8, 8, 5],
        [8, 8, 1, 1, 5, 3, 9],
        [8, 1, 1, 2, 5, 3, 9],
    ],
    dtype=float,
)
V1_EXPECTED = np.array(
    [
        [22, 21, 21, 20, 17, 15, 14],
        [20, 19, 22, 20, 15, 12, 11],
        [22, 18, 17, 18, 13, 11, 9],
        [21, 14, 13, 12, 8, 6, 6],
        [16, 13, 8, 7, 4, 0, 6],
        [14, 9, 8, 9, 6, 3, 8],
    ]
)


def test_v1_grass_rcost_cell_by_cell():
    cost = cn.cost_distance_bounded(V1_COST, np.array([[4, 5]]), res_m=1.0)
    assert np.array_equal(np.floor(cost + 0.5).astype(int), V1_EXPECTED)
    mcp, _ = MCP_Geometric(V1_COST, fully_connected=True).find_costs([(4, 5)])
    assert np.array_equal(cost, mcp)


def test_v1_bounded_search_stops_at_max_cost():
    cost = cn.cost_distance_bounded(V1_COST, np.array([[4, 5]]), res_m=1.0, max_cost=10.0)
    full = cn.cost_distance_bounded(V1_COST, np.array([[4, 5]]), res_m=1.0)
    assert np.array_equal(np.isfinite(cost), full <= 10.0)
    assert np.array_equal(cost[np.isfinite(cost)], full[full <= 10.0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    res_m=st.sampled_from([1.0, 0.3, 10.0, 25.0]),
    frac_blocked=st.floats(0.0, 0.5),
    bound=st.sampled_from([np.inf, 5.0, 50.0, 500.0]),
)
def test_cost_distance_equals_mcp_geometric(seed, h, w, res_m, frac_blocked, bound):
    rng = np.random.default_rng(seed)
    r = rng.choice([1.0, 2.0, 5.0, 10.0, 100.0, 1000.0], size=(h, w)) * rng.uniform(0.5, 1.5, (h, w))
    r[rng.random((h, w)) < frac_blocked] = -1.0  # nodata = impassable
    srcs = np.column_stack([rng.integers(0, h, 3), rng.integers(0, w, 3)])
    ours = cn.cost_distance_bounded(r, srcs, res_m=res_m, nodata=-1.0, max_cost=bound)
    mcp_costs = np.where(r < 0, np.inf, r)
    passable_srcs = [tuple(s) for s in srcs if r[tuple(s)] > 0]
    if not passable_srcs:
        assert np.all(np.isinf(ours))
        return
    ref, _ = MCP_Geometric(mcp_costs, fully_connected=True, sampling=(res_m, res_m)).find_costs(passable_srcs)
    ref = np.where(ref <= bound, ref, np.inf)
    assert np.array_equal(ours, ref)  # exact, not approximately
    assert np.all(np.isinf(ours[r < 0]))  # impassable cells are never entered


def test_least_cost_path_cost_matches_accumulated_cost():
    rng = np.random.default_rng(3)
    r = rng.choice([1.0, 3.0, 50.0], size=(25, 25))
    cost, pred = cn.cost_distance_bounded(r, np.array([[0, 0]]), res_m=2.0, return_predecessors=True)
    path = cn.least_cost_path(pred, (24, 20))
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (24, 20)
    total = 0.0
    for (r0, c0), (r1, c1) in zip(path[:-1], path[1:], strict=True):
        step = math.hypot((r1 - r0) * 2.0, (c1 - c0) * 2.0)
        assert max(abs(r1 - r0), abs(c1 - c0)) == 1
        total += step * 0.5 * (r[r0, c0] + r[r1, c1])
    assert total == pytest.approx(cost[24, 20], rel=1e-12)


def test_zero_resistance_is_an_input_error():
    r = np.ones((3, 3))
    r[1, 1] = 0.0
    with pytest.raises(WerklandInputError, match="resistance 0"):
        cn.prepare_resistance(r)


# --------------------------------------------------------------------------------------------
# kernel
# --------------------------------------------------------------------------------------------


def test_kernel_conventions():
    kc = cn.dispersal_kernel(1000.0)
    assert isinstance(kc, Kernel) and cn.Kernel is Kernel  # one kernel type: werkland.tables.Kernel
    assert kc.p0 == 0.5 and kc.k_per_m == pytest.approx(math.log(2) / 1000)
    assert kc.p(1000.0) == pytest.approx(0.5)
    assert kc.max_cost(0.001) == pytest.approx(math.log(1000) / kc.k_per_m)
    kg = cn.dispersal_kernel(3000.0, "graphab")
    assert kg.p0 == 0.05 and kg.k_per_m * 1000 == pytest.approx(0.9986, abs=1e-4)
    with pytest.raises(WerklandInputError):
        cn.dispersal_kernel(1000.0, "lconnect")
    with pytest.raises(WerklandInputError):
        cn.dispersal_kernel(-5.0)


# --------------------------------------------------------------------------------------------
# V5: toy PC / IIC / dPC
# --------------------------------------------------------------------------------------------

V5_AREAS = [10.0, 2.0, 10.0]
V5_EDGES = [(0, 1, 1000.0), (1, 2, 1000.0), (0, 2, 2500.0)]


def test_v5_pc_eca_dpc_fractions():
    k = cn.dispersal_kernel(1000.0).k_per_m
    gm = cn.probability_metrics(V5_AREAS, V5_EDGES, k, 100.0, iic_max_cost=1500.0)
    assert gm.PCnum == pytest.approx(294.0)
    assert gm.PC == pytest.approx(0.0294)
    assert gm.ECA_ha == pytest.approx(17.146, abs=5e-4)
    assert gm.dPC[0] == pytest.approx(57.823, abs=5e-4) and gm.dPC[2] == pytest.approx(57.823, abs=5e-4)
    assert gm.dPC_intra[0] == pytest.approx(34.014, abs=5e-4)
    assert gm.dPC_flux[0] == pytest.approx(23.810, abs=5e-4)
    assert gm.dPC_connector[0] == pytest.approx(0.0, abs=1e-12)
    assert gm.dPC[1] == pytest.approx(19.947, abs=5e-4)
    assert gm.dPC_intra[1] == pytest.approx(1.361, abs=5e-4)
    assert gm.dPC_flux[1] == pytest.approx(13.605, abs=5e-4)
    assert gm.dPC_connector[1] == pytest.approx(100 * (50 - 100 * 0.5**2.5 * 2) / 294 * 1.0, abs=5e-4)
    assert gm.dPC_connector[1] == pytest.approx(4.981, abs=5e-4)
    # overall fractions, best-path-class reading (Saura, Bodin & Fortin 2014)
    assert gm.PC_intra_pct == pytest.approx(69.39, abs=5e-3)
    assert gm.PC_direct_pct == pytest.approx(13.61, abs=5e-3)
    assert gm.PC_step_pct == pytest.approx(17.01, abs=5e-3)
    assert gm.n_components == 1
    # B is the only stepping stone: A-C best path goes through it
    assert list(gm.betweenness) == [0.0, 1.0, 0.0]


def test_v5_iic():
    k = cn.dispersal_kernel(1000.0).k_per_m
    gm = cn.probability_metrics(V5_AREAS, V5_EDGES, k, 100.0, iic_max_cost=1500.0)
    assert gm.IICnum == pytest.approx(310.667, abs=5e-4)
    assert gm.IIC == pytest.approx(0.031067, abs=5e-7)
    assert gm.dIIC[0] == pytest.approx(60.086, abs=5e-4)
    assert gm.dIIC[2] == pytest.approx(60.086, abs=5e-4)
    assert gm.dIIC[1] == pytest.approx(35.622, abs=5e-4)


def test_v5_graphab_convention():
    k = cn.dispersal_kernel(3000.0, "graphab").k_per_m
    assert math.exp(-k * 1000) == pytest.approx(0.3684, abs=5e-5)
    gm = cn.probability_metrics(V5_AREAS, V5_EDGES, k, 100.0)
    assert gm.PCnum == pytest.approx(260.62, abs=5e-3)
    assert gm.ECA_ha == pytest.approx(16.144, abs=5e-4)


def test_v5_matches_naive_oracle():
    k = cn.dispersal_kernel(1000.0).k_per_m
    gm = cn.probability_metrics(V5_AREAS, V5_EDGES, k, 100.0, iic_max_cost=1500.0)
    nv = cn.naive_node_importance(V5_AREAS, V5_EDGES, k, iic_max_cost=1500.0)
    np.testing.assert_allclose(gm.dPC, nv["dPC"], atol=1e-9)
    np.testing.assert_allclose(gm.dIIC, nv["dIIC"], atol=1e-9)


def _random_geometric_graph(seed: int, n: int, side_m: float, reach_m: float):
    """Random patches in a square of ``side_m``: links between patches closer than ``reach_m``, cost
    1-3 x the distance, log-normal areas (ha). Returns ``(areas, (i, j, cost))``."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, side_m, (n, 2))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    ii, jj = np.nonzero(np.triu(d < reach_m, 1))
    edges = (ii, jj, d[ii, jj] * rng.uniform(1, 3, ii.size))
    return rng.lognormal(0, 1, n), edges


def test_node_metrics_identical_for_any_thread_count(monkeypatch):
    """600 nodes = 3 chunks of sources: 1 and 2 threads give bit-identical dPC, dIIC and betweenness,
    and a single chunk the same within rounding."""
    n = 600
    areas, edges = _random_geometric_graph(3, n, 10000.0, 900.0)
    k = cn.dispersal_kernel(1000.0).k_per_m
    g1 = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=1)
    g2 = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=2)
    for name in ("dPC", "dPC_connector", "dIIC", "betweenness", "BCPC"):
        np.testing.assert_array_equal(getattr(g1, name), getattr(g2, name))
    assert g1.dPC_connector.max() > 0 and g1.betweenness.max() > 0
    monkeypatch.setattr(cn_metrics, "TREE_CHUNK", 10_000)
    g0 = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=1)
    np.testing.assert_allclose(g0.dPC, g1.dPC, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(g0.betweenness, g1.betweenness)


@pytest.mark.parametrize("tolerance", [0.0, 1e-4])
def test_node_metrics_over_blocks_of_rows_equal_the_whole_matrix(monkeypatch, tolerance):
    """1,300 nodes in blocks of 512 source rows (3 blocks, the last one short; with a tolerance the
    limit comes from a first pass over compiled distance rows) give every metric bit for bit as one
    block of all rows, and the lazily built state holds scipy's distances."""
    n = 1300
    areas, edges = _random_geometric_graph(11, n, 20000.0, 750.0)
    ii, jj = edges[0], edges[1]
    areas[::17] = 0.0
    k = cn.dispersal_kernel(1000.0).k_per_m
    assert cn_metrics.block_rows(n) >= n  # the default budget holds this graph in one block
    whole = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=2, pc_tolerance=tolerance)
    monkeypatch.setattr(cn_metrics, "MATRIX_BLOCK_BYTES", 1)
    assert cn_metrics.block_rows(n) == 512
    blocked = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=2, pc_tolerance=tolerance)
    for name in ("PCnum", "IICnum", "PC_direct_pct", "PC_step_pct", "n_components"):
        assert getattr(blocked, name) == getattr(whole, name), name
    for name in ("dPC", "dPC_intra", "dPC_flux", "dPC_connector", "dIIC", "dIIC_flux", "dIIC_connector",
                 "betweenness", "BCPC", "component"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name), err_msg=name)
    assert blocked.dPC_connector.max() > 0 and blocked.n_components > 1
    g = cn.sym_csr(n, ii, jj, k * edges[2])
    np.testing.assert_array_equal(blocked.state.dist, csgraph.dijkstra(g, directed=True))
    assert blocked.state.pcnum == blocked.PCnum


def test_blocked_first_pass_hands_its_first_block_to_the_second(monkeypatch):
    """With a tolerance and several blocks, the first pass (row sums for the limit) takes the blocks
    last to first and the second pass starts from the first block's rows: 1,300 sources in blocks
    of 512 are searched 1,300 + 788 times, not twice over, with the same metrics as one block."""
    import importlib

    apsp_mod = importlib.import_module("werkland.connectivity.apsp")
    n = 1300
    areas, edges = _random_geometric_graph(11, n, 20000.0, 750.0)
    k = cn.dispersal_kernel(1000.0).k_per_m
    whole = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=2, pc_tolerance=1e-4)
    searched: list[tuple[int, int]] = []
    real = apsp_mod.distance_rows

    def counted(g, r0, r1, n_threads=None):
        searched.append((r0, r1))
        return real(g, r0, r1, n_threads)

    monkeypatch.setattr(apsp_mod, "distance_rows", counted)
    monkeypatch.setattr(cn_metrics, "distance_rows", counted)
    monkeypatch.setattr(cn_metrics, "MATRIX_BLOCK_BYTES", 1)
    blocked = cn.probability_metrics(areas, edges, k, 1e4, iic_max_cost=1000.0, n_threads=2, pc_tolerance=1e-4)
    assert searched == [(1024, 1300), (512, 1024), (0, 512), (512, 1024), (1024, 1300)]
    assert blocked.PCnum == whole.PCnum
    for name in ("dPC", "dPC_connector", "betweenness", "BCPC"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name), err_msg=name)


# --------------------------------------------------------------------------------------------
# property tests on random graphs
# --------------------------------------------------------------------------------------------


@st.composite
def random_graphs(draw):
    n = draw(st.integers(1, 14))
    areas = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 50.0)), min_size=n, max_size=n))
    m = draw(st.integers(0, 3 * n))
    edges = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(1.0, 5000.0)),
            min_size=m,
            max_size=m,
        )
    )
    return np.array(areas), edges


K_TEST = math.log(2) / 1000.0


@settings(max_examples=60, deadline=None)
@given(g=random_graphs(), thr=st.sampled_from([None, 500.0, 2000.0]))
def test_properties_fractions_connector_and_oracle(g, thr):
    areas, edges = g
    gm = cn.probability_metrics(areas, edges, K_TEST, 1000.0, iic_max_cost=thr)
    np.testing.assert_allclose(gm.dPC_intra + gm.dPC_flux + gm.dPC_connector, gm.dPC, atol=1e-9)
    np.testing.assert_allclose(gm.dIIC_intra + gm.dIIC_flux + gm.dIIC_connector, gm.dIIC, atol=1e-9)
    assert np.all(gm.dPC_connector >= 0) and np.all(gm.dIIC_connector >= 0)
    nv = cn.naive_node_importance(areas, edges, K_TEST, iic_max_cost=thr)
    np.testing.assert_allclose(gm.dPC, nv["dPC"], atol=1e-7)
    np.testing.assert_allclose(gm.dIIC, nv["dIIC"], atol=1e-7)
    assert gm.PCnum == pytest.approx(nv["PCnum"], rel=1e-12, abs=1e-12)
    # p* symmetric, ECA >= sqrt(sum a^2), no NaN
    D = gm.state.dist
    np.testing.assert_allclose(np.exp(-D), np.exp(-D.T), atol=1e-12)
    assert gm.ECA_ha >= math.sqrt(float(np.sum(areas**2))) - 1e-9
    assert all(np.all(np.isfinite(x)) for x in (gm.dPC, gm.dIIC, gm.betweenness, gm.BCPC))


@settings(max_examples=40, deadline=None)
@given(g=random_graphs())
def test_property_isolated_zero_area_node_changes_nothing(g):
    areas, edges = g
    gm = cn.probability_metrics(areas, edges, K_TEST, 1000.0, iic_max_cost=1000.0)
    gm2 = cn.probability_metrics(np.append(areas, 0.0), edges, K_TEST, 1000.0, iic_max_cost=1000.0)
    assert gm2.PCnum == pytest.approx(gm.PCnum, rel=1e-12, abs=1e-12)
    assert gm2.IICnum == pytest.approx(gm.IICnum, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gm2.dPC[:-1], gm.dPC, atol=1e-9)
    np.testing.assert_allclose(gm2.dIIC[:-1], gm.dIIC, atol=1e-9)
    assert gm2.dPC[-1] == 0.0 and gm2.n_components == gm.n_components + 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 25))
def test_property_betweenness_equals_networkx(seed, n):
    # continuous random weights: best paths are unique, so our tree-count equals networkx
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 3 * n))
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    c = rng.uniform(10, 4000, m)
    gm = cn.probability_metrics(rng.uniform(1, 5, n), (i, j, c), K_TEST, 100.0)
    G = nx.Graph()
    G.add_nodes_from(range(n))
    for a, b, w in zip(i, j, c, strict=True):
        if a != b and (not G.has_edge(a, b) or G[a][b]["w"] > K_TEST * w):
            G.add_edge(int(a), int(b), w=K_TEST * w)
    bc = nx.betweenness_centrality(G, weight="w", normalized=False)
    np.testing.assert_allclose(gm.betweenness, [bc[v] for v in range(n)], atol=1e-9)


def test_empty_and_single_node_graphs():
    gm = cn.probability_metrics([], [], K_TEST, 10.0)
    assert gm.PCnum == 0 and gm.ECA_ha == 0 and gm.n_components == 0 and gm.dPC.size == 0
    gm = cn.probability_metrics([4.0], [], K_TEST, 10.0)
    assert gm.PCnum == 16.0 and gm.ECA_ha == 4.0 and gm.dPC[0] == pytest.approx(100.0)
    gm = cn.probability_metrics([0.0, 0.0], [(0, 1, 10.0)], K_TEST, 10.0)
    assert gm.PCnum == 0 and np.all(gm.dPC == 0) and np.all(np.isfinite(gm.dIIC))


# --------------------------------------------------------------------------------------------
# link changes
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(g=random_graphs(), seed=st.integers(0, 1000))
def test_eca_after_link_change_equals_full_recompute(g, seed):
    areas, edges = g
    n = areas.size
    rng = np.random.default_rng(seed)
    state = cn.GraphState.build(areas, edges, K_TEST, 100.0)
    changes = []
    for _ in range(int(rng.integers(1, 4))):
        a, b = int(rng.integers(n)), int(rng.integers(n))
        changes.append((a, b, float(rng.choice([rng.uniform(1, 3000), np.inf]))))
    res = cn.eca_after_link_change(state, changes)
    # oracle: apply the changes to the edge list and recompute from scratch
    ed = {}
    for a, b, c in edges:
        if a != b:
            key = (min(a, b), max(a, b))
            ed[key] = min(ed.get(key, np.inf), c)
    for a, b, c in changes:
        if a != b:
            ed[(min(a, b), max(a, b))] = c
    new_edges = [(a, b, c) for (a, b), c in ed.items() if np.isfinite(c)]
    ref = cn.probability_metrics(areas, new_edges, K_TEST, 100.0, node_metrics=False)
    assert res.PCnum_after == pytest.approx(ref.PCnum, rel=1e-10, abs=1e-10)
    assert res.ECA_after_ha == pytest.approx(ref.ECA_ha, rel=1e-10, abs=1e-10)
    assert res.PCnum_before == pytest.approx(state.pcnum)
    # the new state's link table is the changed edge list (several changes of one pair: the last)
    ref_i, ref_j, ref_c = edge_arrays(np.array(new_edges, float).reshape(-1, 3), n)
    assert np.array_equal(res.state.i, ref_i) and np.array_equal(res.state.j, ref_j)
    assert np.array_equal(res.state.cost, ref_c)
    # decreases only -> incremental path; must equal the full path
    dec = [(a, b, 1.0) for a, b, _ in changes]
    inc = cn.eca_after_link_change(state, dec)
    full = cn.eca_after_link_change(state, dec, max_incremental=0)
    assert inc.PCnum_after == pytest.approx(full.PCnum_after, rel=1e-12, abs=1e-12)


def test_a_gain_without_a_new_state_does_not_rebuild_the_link_table(monkeypatch):
    """A barrier gain inserts its decreases into the distances and asks for no new state: the link
    table after the changes is not built (re-sorting about 100,000 links cost 25 ms a gain); with a
    state, or when a cost rises, it is, and the results are those of the built table."""
    import werkland.connectivity.graph_state as gs

    state = cn.GraphState.build(V5_AREAS, V5_EDGES, cn.dispersal_kernel(1000.0).k_per_m, 100.0)
    dec = [(0, 2, 1500.0)]  # shorter than the 2,000 m through node 1: a decrease that is inserted
    with_state = cn.eca_after_link_change(state, dec)
    calls = []
    real = gs.edge_arrays
    monkeypatch.setattr(gs, "edge_arrays", lambda *a, **k: calls.append(1) or real(*a, **k))
    lean = cn.eca_after_link_change(state, dec, with_state=False)
    assert calls == [] and lean.state is None and lean.PCnum_after > state.pcnum
    assert lean.PCnum_after == with_state.PCnum_after and lean.dECA_ha == with_state.dECA_ha
    assert with_state.state.cost.tolist() == [1000.0, 1500.0, 1000.0]
    risen = cn.eca_after_link_change(state, [(0, 1, 5000.0)], with_state=False)
    assert calls == [1] and risen.PCnum_after < state.pcnum


def test_eca_after_link_change_v5_remove_stepping_link():
    state = cn.GraphState.build(V5_AREAS, V5_EDGES, cn.dispersal_kernel(1000.0).k_per_m, 100.0)
    res = cn.eca_after_link_change(state, [(0, 1, np.inf)])
    # A-B cut: B-C 0.5, A-C direct 0.5^2.5, A-B now via C 0.5^3.5
    expected = 100 + 4 + 100 + 2 * (2 * 10 * 0.5) + 2 * (10 * 10 * 0.5**2.5) + 2 * (10 * 2 * 0.5**3.5)
    assert res.PCnum_after == pytest.approx(expected)
    assert res.dECA_ha == pytest.approx(math.sqrt(expected) - math.sqrt(294.0))
    assert res.dPC_pct < 0


# --------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------


def test_find_patches_attributes():
    s = np.zeros((8, 10))
    s[1:4, 1:4] = 1.0  # 9 cells, touches nothing
    s[4, 4] = 0.6  # diagonal neighbour of (3,3): joins the first patch (8-connectivity)
    s[6:8, 7:10] = 0.5  # 6 cells on the raster edge
    s[0, 8] = 0.9  # single cell, dropped (min area 2 cells)
    ps = cn.find_patches(s, res_m=10.0, threshold=0.5, min_area_m2=200.0, edge_band_m=0.0)
    assert ps.n == 2 and ps.n_dropped == 1
    t = ps.table
    assert list(t["patch_id"]) == [1, 2]
    assert t["area_ha"].tolist() == pytest.approx([0.10, 0.06])
    assert t["quality_ha"].tolist() == pytest.approx([(9 + 0.6) * 0.01, 6 * 0.5 * 0.01])
    assert t["core_ha"].tolist() == pytest.approx([0.10, 0.06])
    # perimeter: 3x3 square (12 edges) + single diagonal cell (4 edges) = 16 edges; 2x3 block = 10
    assert t["perimeter_m"].tolist() == pytest.approx([160.0, 100.0])
    assert t["touches_border"].tolist() == [False, True]
    assert ps.labels.dtype == np.int32 and ps.labels[4, 4] == 1 and ps.labels[0, 8] == 0


def test_find_patches_core_and_region_border():
    s = np.full((12, 12), 1.0)
    s[:, 0] = -1  # outside the region
    ps = cn.find_patches(s, res_m=10.0, threshold=0.5, min_area_m2=0.0, edge_band_m=15.0)
    assert ps.n == 1 and bool(ps.table["touches_border"][0])
    # core: cells whose centre is > 15 m inside: drop 2 rings of cells -> 11x12 block minus 2 rings = 7x8
    assert ps.table["core_ha"][0] == pytest.approx(7 * 8 * 0.01)


# --------------------------------------------------------------------------------------------
# links and corridors on small rasters (oracle: skimage MCP_Geometric, unbounded)
# --------------------------------------------------------------------------------------------


def _toy_landscape(seed: int, h: int = 40, w: int = 45):
    rng = np.random.default_rng(seed)
    r = rng.choice([1.0, 2.0, 5.0, 20.0], size=(h, w))
    r[rng.random((h, w)) < 0.08] = np.inf
    lab = np.zeros((h, w), np.int32)
    pid = 0
    for _ in range(6):
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        if np.any(lab[max(0, y - 1) : y + 4, max(0, x - 1) : x + 4]):
            continue
        pid += 1
        lab[y : y + 3, x : x + 3] = pid
        r[y : y + 3, x : x + 3] = 1.0
    return r, lab, pid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_links_and_corridor_match_brute_force(seed):
    r, lab, n = _toy_landscape(seed)
    res_m, max_cost, width = 5.0, 600.0, 80.0
    links = cn.build_links(r, lab, res_m=res_m, max_cost=max_cost, corridor_width=width, n_threads=2)
    cwd = {}
    for p in range(1, n + 1):
        cwd[p], _ = MCP_Geometric(r, fully_connected=True, sampling=(res_m, res_m)).find_costs(
            list(zip(*np.nonzero(lab == p), strict=True))
        )
    expected = {}
    for p in range(1, n + 1):
        for q in range(p + 1, n + 1):
            lcd = float(cwd[p][lab == q].min())
            if lcd <= max_cost:
                expected[(p, q)] = lcd
    got = {(int(a), int(b)): float(c) for a, b, c in zip(links.from_id, links.to_id, links.cost, strict=True)}
    assert set(got) == set(expected)
    for key, val in expected.items():
        assert got[key] == pytest.approx(val, rel=1e-12)
    # paths: start in from_id, end in to_id, 8-connected
    W = r.shape[1]
    for e in range(links.n):
        cells = links.path_cells[links.path_ptr[e] : links.path_ptr[e + 1]]
        assert lab.ravel()[cells[0]] == links.from_id[e] and lab.ravel()[cells[-1]] == links.to_id[e]
        rr, cc = cells // W, cells % W
        assert np.all(np.maximum(np.abs(np.diff(rr)), np.abs(np.diff(cc))) == 1)
    # corridor = min over links of CWD_a + CWD_b - LCD, truncated at the width
    corr = np.full(r.shape, np.inf)
    for (p, q), lcd in expected.items():
        corr = np.minimum(corr, cwd[p] + cwd[q] - lcd)
    edge = np.abs(corr - width) < 1e-6  # float rounding decides cells exactly at the width
    corr = np.where(corr <= width, np.maximum(corr, 0), np.inf)
    assert np.array_equal(np.isfinite(corr)[~edge], np.isfinite(links.corridor)[~edge])
    assert np.isfinite(corr).sum() > 0
    f = np.isfinite(corr) & np.isfinite(links.corridor)
    np.testing.assert_allclose(links.corridor[f], corr[f], atol=1e-3)


def test_links_respect_impassable_wall_and_bound():
    r = np.ones((10, 30))
    lab = np.zeros((10, 30), np.int32)
    lab[:, 0:2] = 1
    lab[:, 10:12] = 2
    lab[:, 25:27] = 3
    r[:, 20] = np.inf  # wall between 2 and 3
    links = cn.build_links(r, lab, res_m=1.0, max_cost=100.0, n_threads=1)
    assert list(zip(links.from_id, links.to_id, strict=True)) == [(1, 2)]
    assert links.cost[0] == pytest.approx(9.0)  # 9 one-metre steps through resistance 1
    links = cn.build_links(r, lab, res_m=1.0, max_cost=8.9, n_threads=1)
    assert links.n == 0


# --------------------------------------------------------------------------------------------
# run_connectivity end to end and bad input
# --------------------------------------------------------------------------------------------

#: The test guild: patches of >= 0.5 suitability and >= 300 m2, 10 m edge band, p = 0.5 at 200 cost-m.
GUILD = Guild(
    name="g", label="test guild", suitability={}, resistance={}, default_resistance=1.0, suitability_threshold=0.5,
    min_patch_area_m2=300.0, edge_classes=(), edge_band_m=10.0, edge_factor=1.0, d0_m=200.0, p0=0.5, gbif_taxa=(),
)


def conn_params(guild=GUILD, convention="conefor", n_threads=2, **connectivity):
    """ConnectivityParams the way the workflow builds them: a validated connectivity section and the guild."""
    section = {"convention": convention, "p_floor": 0.001, "corridor_width_cost": None, "tile_cells": 0,
               "metrics_tolerance": 0.0, **connectivity}
    return ConnectivityParams.from_config({"connectivity": section}, guild, n_threads=n_threads)


def _write_inputs(tmp_path, suit, res, *, region=True):
    h, w = suit.shape
    grid = Grid.from_bounds((100000.0, 400000.0, 100000.0 + 10 * w, 400000.0 + 10 * h), 10.0, CRS.from_epsg(28992))
    write_raster(tmp_path / "habitat.tif", suit.astype(np.float32), grid, nodata=-1.0)
    write_raster(tmp_path / "resistance.tif", res.astype(np.float32), grid, nodata=-1.0)
    if region:
        reg = gpd.GeoDataFrame({"name": ["r"]}, geometry=[shapely.box(*grid.bounds)], crs="EPSG:28992")
        write_gpkg(reg, tmp_path / "region.gpkg", "region")
    return grid


def _run(tmp_path, params=None, convention="conefor"):
    params = conn_params(convention=convention) if params is None else params
    out = {
        k: tmp_path / v
        for k, v in {
            "pg": "patches/g.gpkg", "pt": "patches/g.tif", "lg": "graph/g_links.gpkg", "gm": "graph/g.graphml",
            "mc": "graph/g_metrics.csv", "sj": "graph/g_summary.json", "ct": "corridors/g.tif",
        }.items()
    }
    region = tmp_path / "region.gpkg"
    summary = cn.run_connectivity(
        tmp_path / "habitat.tif", tmp_path / "resistance.tif", region if region.exists() else None,
        out["pg"], out["pt"], out["lg"], out["gm"], out["mc"], out["sj"], out["ct"], params=params,
    )
    return summary, out


def _landscape(h=60, w=80):
    suit = np.zeros((h, w))
    for y, x in [(10, 10), (10, 40), (40, 20), (45, 60), (20, 70)]:
        suit[y : y + 5, x : x + 5] = 0.8
    res = np.full((h, w), 5.0)
    res[suit > 0] = 1.0
    res[:, 30] = 200.0
    return suit, res


SUMMARY_KEYS = {
    "PC", "PCnum", "ECA_ha", "IIC", "n_patches", "n_links", "n_components", "landscape_area_ha",
    "d0_m", "p0", "k_per_m", "convention", "warnings", "units", "crs",
}


def test_run_connectivity_outputs_follow_the_contract(tmp_path):
    suit, res = _landscape()
    grid = _write_inputs(tmp_path, suit, res)
    summary, out = _run(tmp_path)
    assert SUMMARY_KEYS <= set(summary)
    assert json.loads(out["sj"].read_text()) == json.loads(json.dumps(summary))
    assert summary["n_patches"] == 5 and summary["landscape_area_ha"] == pytest.approx(60 * 80 * 0.01)
    assert summary["k_per_m"] == pytest.approx(math.log(2) / 200.0) and summary["warnings"] == []
    patches = gpd.read_file(out["pg"], layer="patches")
    assert {"patch_id", "area_ha", "quality_ha", "core_ha", "perimeter_m", "touches_border"} <= set(patches.columns)
    assert patches["area_ha"].tolist() == pytest.approx([0.25] * 5)
    assert patches.geometry.area.tolist() == pytest.approx([2500.0] * 5)
    lab, g2, nod = read_raster(out["pt"])
    assert lab.dtype == np.int32 and nod == 0 and g2.shape == grid.shape and set(np.unique(lab)) == set(range(6))
    links = gpd.read_file(out["lg"], layer="links")
    assert {"from_id", "to_id", "cost_distance", "euclid_m", "p_direct"} <= set(links.columns)
    assert len(links) == summary["n_links"] > 0
    assert (links.geom_type == "LineString").all()
    np.testing.assert_allclose(links["p_direct"], np.exp(-summary["k_per_m"] * links["cost_distance"]))
    # euclid edge to edge: patch 1 (rows 10-14, cols 10-14), patch 4 (rows 40-44, cols 20-24)
    row = links[(links.from_id == 1) & (links.to_id == 4)]
    assert row["euclid_m"].iloc[0] == pytest.approx(math.hypot(50.0, 250.0))
    # anyone can recompute PC from the links file
    gm = cn.probability_metrics(
        patches["quality_ha"], (links.from_id - 1, links.to_id - 1, links.cost_distance),
        summary["k_per_m"], summary["landscape_area_ha"],
    )
    assert gm.PCnum == pytest.approx(summary["PCnum"], rel=1e-9)
    metrics = pd.read_csv(out["mc"])
    assert list(metrics.columns[:8]) == [
        "patch_id", "dPC", "dPC_intra", "dPC_flux", "dPC_connector", "dIIC", "betweenness", "component"
    ]
    assert len(metrics) == 5 and metrics.notna().all().all()
    G = nx.read_graphml(out["gm"])
    assert G.number_of_nodes() == 5 and G.number_of_edges() == summary["n_links"]
    corr, _, cnod = read_raster(out["ct"])
    assert corr.dtype == np.float32 and cnod == -1
    assert np.all((corr == -1) | ((corr >= 0) & (corr <= summary["corridor_width"])))
    assert np.any(corr == 0)  # least-cost paths have corridor value 0


def test_run_connectivity_graphab_convention(tmp_path):
    suit, res = _landscape()
    _write_inputs(tmp_path, suit, res)
    s, _ = _run(tmp_path, convention="graphab")
    assert s["convention"] == "graphab" and s["p0"] == 0.05
    assert s["k_per_m"] == pytest.approx(math.log(20) / 200.0)
    assert s["warnings"][0] == "Graphab convention: p = 0.05 at d0 = 200 cost-m (k is 4.3x the Conefor k for the same d0)"


def test_run_connectivity_conefor_uses_the_guilds_p0(tmp_path):
    """The kernel is the guild's (Guild.kernel): Conefor keeps its p0, Graphab would force 0.05."""
    suit, res = _landscape()
    _write_inputs(tmp_path, suit, res)
    guild = dataclasses.replace(GUILD, p0=0.4)
    s, out = _run(tmp_path, params=conn_params(guild))
    assert s["p0"] == 0.4 and s["k_per_m"] == -math.log(0.4) / 200.0 == guild.kernel("conefor").k_per_m
    assert s["max_cost_distance"] == math.log(1000) / s["k_per_m"] and s["corridor_width"] == 200.0
    G = nx.read_graphml(out["gm"])
    assert G.graph["p0"] == 0.4 and G.graph["convention"] == "conefor"


@pytest.mark.parametrize(
    "case",
    ["no_patches", "single_patch", "all_impassable", "all_touch_border", "no_region_file"],
)
def test_run_connectivity_bad_input_gives_explained_result(tmp_path, case):
    suit, res = _landscape()
    region = True
    if case == "no_patches":
        suit[:] = 0.1
    elif case == "single_patch":
        suit[:] = 0.0
        suit[5:10, 5:10] = 1.0
    elif case == "all_impassable":
        res[:] = -1.0
    elif case == "all_touch_border":
        suit[:] = 0.0
        suit[0:5, 0:5] = 1.0
        suit[-5:, -5:] = 1.0
    elif case == "no_region_file":
        region = False
    _write_inputs(tmp_path, suit, res, region=region)
    s, out = _run(tmp_path)
    text = out["sj"].read_text()
    assert "NaN" not in text and "Infinity" not in text
    for key in ("PC", "PCnum", "ECA_ha", "IIC"):
        assert math.isfinite(s[key])
    metrics = pd.read_csv(out["mc"])
    assert metrics.notna().all().all()
    if case == "no_patches":
        assert s["n_patches"] == 0 and s["PC"] == 0 and s["ECA_ha"] == 0
        assert any("no habitat patches" in w for w in s["warnings"])
        assert len(gpd.read_file(out["pg"])) == 0 and len(gpd.read_file(out["lg"])) == 0
    elif case == "single_patch":
        assert s["n_patches"] == 1 and s["n_links"] == 0 and any("one habitat patch" in w for w in s["warnings"])
        assert s["ECA_ha"] == pytest.approx(0.25)
    elif case == "all_impassable":
        assert s["n_links"] == 0 and any("impassable" in w for w in s["warnings"])
        assert s["n_components"] == s["n_patches"] == 5
    elif case == "all_touch_border":
        assert any("touch the region border" in w for w in s["warnings"])
    elif case == "no_region_file":
        assert s["landscape_area_ha"] == pytest.approx(60 * 80 * 0.01)


def test_run_connectivity_missing_or_invalid_parameter(tmp_path):
    """The script rebuilds the parameters from a plain dict: a missing key is an error naming it (no
    default fills it); values outside their range are errors naming the setting."""
    suit, res = _landscape()
    _write_inputs(tmp_path, suit, res)
    plain = conn_params().as_dict()
    del plain["metrics_tolerance"]
    with pytest.raises(WerklandInputError, match="missing metrics_tolerance"):
        ConnectivityParams.from_dict(plain)
    bad = {
        "p_floor": dataclasses.replace(conn_params(), p_floor=0.5),
        "metrics_tolerance": dataclasses.replace(conn_params(), metrics_tolerance=0.5),
        "d0_m": dataclasses.replace(conn_params(), kernel=Kernel(-200.0, 0.5, 0.01, "conefor")),
        "convention": dataclasses.replace(conn_params(), kernel=Kernel(200.0, 0.5, 0.01, "lconnect")),
    }
    for name, params in bad.items():
        with pytest.raises(WerklandInputError, match=name):
            _run(tmp_path, params=params)
    assert not (tmp_path / "graph").exists()  # nothing written


def test_run_connectivity_timings_go_to_the_log_not_the_summary(tmp_path, caplog):
    suit, res = _landscape()
    _write_inputs(tmp_path, suit, res)
    with caplog.at_level(logging.INFO, logger="werkland.connectivity"):
        s, out = _run(tmp_path)
    assert "timing_s" not in s and "timing_s" not in json.loads(out["sj"].read_text())
    assert any("timings: links" in r.getMessage() for r in caplog.records)


def test_run_connectivity_rerun_is_byte_identical(tmp_path):
    """Running the stage twice on the same inputs writes the same bytes (summary, metrics, graph and
    every other output): nothing depends on the clock or the thread count."""
    suit, res = _landscape()
    _write_inputs(tmp_path, suit, res)
    _, out = _run(tmp_path)
    first = {k: p.read_bytes() for k, p in out.items()}
    _, out2 = _run(tmp_path, params=conn_params(n_threads=1))
    assert out2 == out
    for key in ("sj", "mc", "gm", "pg", "pt", "lg", "ct"):
        assert out[key].read_bytes() == first[key], key
    assert json.loads(first["sj"])["n_links"] > 0


def test_metrics_tolerance_bounds_the_dpc_error():
    """A 900-node chain-like graph (long trees): with pc_tolerance the connector fractions stay within
    100 * tol percentage points of the exact ones, intra and flux are unchanged, and pairs beyond the
    cut are left out of the betweenness."""
    rng = np.random.default_rng(8)
    n = 900
    xy = np.c_[np.linspace(0, 60000, n), rng.uniform(0, 800, n)]
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    ii, jj = np.nonzero(np.triu(d < 400, 1))
    edges = (ii, jj, d[ii, jj])
    areas = rng.lognormal(0, 1, n)
    k = cn.dispersal_kernel(300.0).k_per_m
    exact = cn.probability_metrics(areas, edges, k, 1e4, n_threads=2)
    for tol in (1e-6, 1e-3):
        approx = cn.probability_metrics(areas, edges, k, 1e4, n_threads=2, pc_tolerance=tol)
        np.testing.assert_array_equal(approx.dPC_intra, exact.dPC_intra)
        np.testing.assert_array_equal(approx.dPC_flux, exact.dPC_flux)
        err = np.abs(approx.dPC - exact.dPC).max()
        assert err <= 100 * tol
        assert approx.PCnum == exact.PCnum
        assert np.all(approx.betweenness <= exact.betweenness)
    assert approx.betweenness.sum() < exact.betweenness.sum()  # tol 1e-3 cuts the far pairs


def test_link_change_with_tolerance_is_within_the_bound():
    """Decreases applied only near the changed pairs: PCnum within pc_tolerance * PCnum of exact."""
    rng = np.random.default_rng(4)
    n = 700
    xy = np.c_[np.linspace(0, 50000, n), rng.uniform(0, 800, n)]
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    ii, jj = np.nonzero(np.triu(d < 400, 1))
    areas = rng.lognormal(0, 1, n)
    k = cn.dispersal_kernel(300.0).k_per_m
    state = cn.GraphState.build(areas, (ii, jj, d[ii, jj]), k, 1e4)
    changes = [(100, 104, 10.0), (400, 409, 50.0), (401, 402, 1.0)]
    exact = cn.eca_after_link_change(state, changes)
    for tol in (1e-9, 1e-4):
        approx = cn.eca_after_link_change(state, changes, pc_tolerance=tol)
        assert abs(approx.PCnum_after - exact.PCnum_after) <= tol * state.pcnum
        assert approx.PCnum_after > state.pcnum
    assert exact.PCnum_after > state.pcnum * (1 + 1e-6)


@pytest.mark.parametrize("m", [2500, 20000])
@pytest.mark.parametrize("integer_weights", [False, True])
def test_compiled_apsp_equals_scipy_bit_for_bit(integer_weights, m):
    """The threaded compiled all-pairs Dijkstra gives scipy's matrix exactly, ties and
    disconnected parts included, for any thread count; sparse graphs and dense ones (about 55
    neighbours per node, like woodland birds' graph, where most keys are lowered in the heap)."""
    from scipy.sparse import csgraph

    rng = np.random.default_rng(11)
    n = 700
    i = rng.integers(0, n - 40, m)  # the last 40 nodes stay isolated
    j = rng.integers(0, n - 40, m)
    keep = i != j
    lo, hi = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
    key = np.unique(lo * n + hi)
    lo, hi = key // n, key % n
    w = rng.integers(1, 4, lo.size).astype(float) if integer_weights else rng.uniform(0.01, 3.0, lo.size)
    ref = csgraph.dijkstra(cn.sym_csr(n, lo, hi, w), directed=True)
    for threads in (1, 2):
        D = cn.apsp(n, lo, hi, w, n_threads=threads)
        assert np.array_equal(D, ref)
    assert np.isinf(D[0, n - 1]) and D[5, 5] == 0.0


@pytest.mark.parametrize("m", [2500, 20000])
@pytest.mark.parametrize("integer_weights", [False, True])
def test_predecessor_rows_equal_scipys_bit_for_bit(integer_weights, m):
    """The node metrics' rows with predecessors, off the GIL: scipy's distances and predecessors
    exactly, for any thread count and block of sources. With integer weights two neighbours often
    tie for a node's predecessor: those rows are flagged and taken from scipy."""
    from scipy.sparse import csgraph

    from werkland._kernels.graph import predecessor_rows
    from werkland.connectivity.apsp import distance_predecessor_rows, distance_rows

    rng = np.random.default_rng(3)
    n = 700
    i, j = rng.integers(0, n - 30, m), rng.integers(0, n - 30, m)  # the last 30 nodes stay isolated
    keep = i != j
    key = np.unique(np.minimum(i, j)[keep] * n + np.maximum(i, j)[keep])
    lo, hi = key // n, key % n
    w = rng.integers(1, 4, lo.size).astype(float) if integer_weights else rng.uniform(0.01, 3.0, lo.size)
    g = cn.sym_csr(n, lo, hi, w)
    refD, refP = csgraph.dijkstra(g, directed=True, return_predecessors=True)
    flags = predecessor_rows(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64),
                             np.arange(n), refD, np.empty_like(refP))
    # ties for a predecessor happen with integer weights only (and then the flagged rows are scipy's)
    assert flags.any() == integer_weights and not flags.all()
    for threads, (r0, r1) in ((1, (0, n)), (2, (0, n)), (2, (130, 517))):
        D, P = distance_predecessor_rows(g, r0, r1, threads)
        assert P.dtype == refP.dtype
        assert np.array_equal(D, refD[r0:r1]) and np.array_equal(P, refP[r0:r1])
        # the distance rows at hand already (the node metrics' first pass): the same predecessors
        D2, P2 = distance_predecessor_rows(g, r0, r1, threads, distances=distance_rows(g, r0, r1, threads))
        assert np.array_equal(D2, refD[r0:r1]) and np.array_equal(P2, refP[r0:r1])
    with pytest.raises(ValueError, match="rows 130..516 of 700 nodes"):
        distance_predecessor_rows(g, 130, 517, 2, distances=refD[130:516])
    assert P[0, n - 1] == -9999 and P[5, 135] == -9999  # unreached; the source itself (row 5 = node 135)


def _tree_losses_with_a_heap_of_stale_entries(g, D, P, a, mode, limit, sources):
    """The connector losses, betweenness and BCPC as the compiled ``tree_losses`` computed them
    before its indexed heap: each descendant's distance after removing k from a Dijkstra whose heap
    (``heapq``) keeps stale entries and skips them when popped. Same sums in the same order."""
    import heapq

    n = a.size
    connector, bc, bcpc = np.zeros(n), np.zeros(n), np.zeros(n)

    def value(d):
        return 0.0 if d == np.inf else (math.exp(-d) if mode == 0 else 1.0 / (1.0 + d))

    for i in sources:
        Di, Pi = D[i], P[i]
        children = [[] for _ in range(n)]
        for j in range(n):
            if j != i and Pi[j] >= 0 and Di[j] <= limit:
                children[Pi[j]].append(j)
        for k in range(n):
            if k == i or not children[k]:
                continue
            desc, stack = [], list(children[k])
            while stack:  # the kernel's depth-first order (its own stack)
                v = stack.pop()
                desc.append(v)
                stack.extend(children[v])
            gone = set(desc) | {k}
            s_old = 0.0
            for v in desc:
                s_old += a[v] * value(Di[v])
            bc[k] += len(desc)
            bcpc[k] += a[i] * s_old
            if a[i] == 0.0:
                continue
            tent, done, heap = {}, set(), []
            for v in desc:
                best = np.inf
                for q in range(g.indptr[v], g.indptr[v + 1]):
                    u = g.indices[q]
                    if u not in gone and Di[u] < np.inf:
                        best = min(best, Di[u] + g.data[q])
                tent[v] = best
                if best < np.inf:
                    heapq.heappush(heap, (best, v))
            while heap:
                key, v = heapq.heappop(heap)
                if key > tent[v] or v in done:
                    continue
                done.add(v)
                for q in range(g.indptr[v], g.indptr[v + 1]):
                    u = g.indices[q]
                    if u in gone and u != k and u not in done and key + g.data[q] < tent[u]:
                        tent[u] = key + g.data[q]
                        heapq.heappush(heap, (tent[u], u))
            s_new = 0.0
            for v in desc:
                s_new += a[v] * value(tent[v])
            loss = a[i] * (s_old - s_new)
            if loss > 0.0:
                connector[k] += loss
    return connector, bc, bcpc


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("integer_weights", [False, True])
def test_tree_losses_indexed_heap_equal_a_heap_of_stale_entries_bit_for_bit(integer_weights, mode):
    """The node metrics' connector losses: the compiled kernel's indexed heap (each descendant once,
    its key lowered in place) gives the same losses, betweenness and BCPC to the last bit as the
    heap of stale entries it replaced, with ties (integer weights, hop counts) and without, pruned
    at a limit and not, over the whole source range and a block of rows."""
    from werkland._kernels.graph import tree_losses
    from werkland.connectivity.apsp import distance_predecessor_rows

    rng = np.random.default_rng(29)
    n = 90
    i, j = rng.integers(0, n - 5, 700), rng.integers(0, n - 5, 700)  # the last 5 nodes stay isolated
    keep = i != j
    key = np.unique(np.minimum(i, j)[keep] * n + np.maximum(i, j)[keep])
    lo, hi = key // n, key % n
    if mode == 1:
        w = np.ones(lo.size)
    else:
        w = rng.integers(1, 4, lo.size) * 0.25 if integer_weights else rng.uniform(0.05, 1.5, lo.size)
    g = cn.sym_csr(n, lo, hi, w)
    a = rng.uniform(0.0, 4.0, n)
    a[[3, 17]] = 0.0  # sources of zero area: betweenness without losses
    D, P = csgraph.dijkstra(g, directed=True, unweighted=mode == 1, return_predecessors=True)
    if mode == 0:
        D, P = distance_predecessor_rows(g, 0, n, 1)
    args = (g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64))
    for limit in (np.inf, float(np.quantile(D[np.isfinite(D)], 0.3))):
        ref = _tree_losses_with_a_heap_of_stale_entries(g, D, P, a, mode, limit, range(n))
        assert ref[0].sum() > 0 and ref[1].sum() > 0
        got = tree_losses(*args, D, P, a, mode, 0, n, limit, 0)
        for x, y in zip(got, ref, strict=True):
            assert np.array_equal(x, y)
        # a block of source rows (row 0 = source 40), int32 predecessors as the metrics pass them
        ref = _tree_losses_with_a_heap_of_stale_entries(g, D, P, a, mode, limit, range(40, 70))
        got = tree_losses(*args, D[40:70], P[40:70].astype(np.int32), a, mode, 40, 70, limit, 40)
        for x, y in zip(got, ref, strict=True):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("integer_weights", [False, True])
@pytest.mark.parametrize("limit", [0.5, 2.0, np.inf])
def test_limited_compiled_rows_equal_scipy_bit_for_bit(integer_weights, limit):
    """The interventions' non-monotone update: rows from some sources up to a limit, as scipy's
    ``dijkstra(indices=..., limit=...)`` gives them (beyond the limit: inf)."""
    from scipy.sparse import csgraph

    from werkland._kernels.graph import sssp_rows_limited

    rng = np.random.default_rng(5)
    n, m = 500, 1800
    i, j = rng.integers(0, n - 20, m), rng.integers(0, n - 20, m)
    keep = i != j
    key = np.unique(np.minimum(i, j)[keep] * n + np.maximum(i, j)[keep])
    lo, hi = key // n, key % n
    w = rng.integers(1, 4, lo.size) * 0.25 if integer_weights else rng.uniform(0.01, 1.5, lo.size)
    g = cn.sym_csr(n, lo, hi, w)
    sources = np.array([3, 0, 77, 499, 250, 3], np.int64)  # an isolated node and a repeat among them
    ref = csgraph.dijkstra(g, directed=True, indices=sources, limit=limit)
    D = np.empty((sources.size, n))
    sssp_rows_limited(g.indptr.astype(np.int64), g.indices.astype(np.int64), g.data.astype(np.float64), sources, limit, D)
    assert np.array_equal(D, ref)
    if np.isfinite(limit):
        assert np.isinf(D).sum() > np.isinf(csgraph.dijkstra(g, directed=True, indices=sources)).sum()


@pytest.mark.parametrize("n", [60, 700])
def test_apsp_probabilities_are_the_rounded_exact_probabilities(n):
    """Packed float32 p* = exp(-D) of the exact distances (small graphs and the chunked path), PCnum
    from float64, the same for any thread count, written into a larger buffer when one is given."""
    rng = np.random.default_rng(5)
    m = 4 * n
    i, j = rng.integers(0, n - 10, m), rng.integers(0, n - 10, m)  # the last 10 nodes stay isolated
    keep = i != j
    lo, hi = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
    key = np.unique(lo * n + hi)
    lo, hi = key // n, key % n
    w = rng.uniform(0.05, 20.0, lo.size)
    a = rng.uniform(0.1, 5.0, n)
    D = cn.apsp(n, lo, hi, w)
    exact = np.exp(-D)
    r, c = np.tril_indices(n, -1)  # row-major lower triangle: (r, c) at r (r - 1) / 2 + c
    want = np.where(exact < np.finfo(np.float32).tiny, 0.0, exact).astype(np.float32)[r, c]
    for threads in (1, 2):
        P, pcnum = cn.apsp_probabilities(n, lo, hi, w, a, n_threads=threads)
        assert P.dtype == np.float32 and P.shape == (n * (n - 1) // 2,)
        assert np.array_equal(P, want)
        assert pcnum == pytest.approx(cn.pcnum(a, D), rel=1e-12)
    assert P[(n - 1) * (n - 2) // 2 + 0] == 0.0  # the isolated last node
    buf = np.full(P.size + 7, -1.0, np.float32)
    Pb, pb = cn.apsp_probabilities(n, lo, hi, w, a, out=buf)
    assert np.shares_memory(Pb, buf) and np.array_equal(buf[:P.size], P) and pb == pcnum
    assert np.all(buf[P.size:] == -1.0)
    with pytest.raises(ValueError, match="float32"):
        cn.apsp_probabilities(n, lo, hi, w, a, out=np.zeros(P.size))


def test_graph_state_link_rows_find_links_in_either_order():
    state = cn.GraphState.build([1.0, 2.0, 3.0, 4.0], ([0, 2, 1], [1, 3, 3], [10.0, 20.0, 30.0]), 0.01, 10.0)
    rows = state.link_rows([1, 3, 0, 2], [0, 2, 3, 2])
    assert rows[2] == rows[3] == -1
    for r, (u, v) in zip(rows[:2], [(0, 1), (2, 3)], strict=True):
        assert {int(state.i[r]), int(state.j[r])} == {u, v}
    assert state.cost[rows[0]] == 10.0 and state.cost[rows[1]] == 20.0


@pytest.mark.parametrize("tol", [0.0, 1e-6])
def test_graph_state_by_component_gives_the_dense_state_figures_bit_for_bit(tol):
    """A graph of 400 nodes in many components (one of 280 nodes, so the compiled rows are used):
    the per-component distances equal apsp's, PCnum equal; link changes within a component, a new
    link joining two, new node weights, with and without a new state give the same figures (and
    the same new distances) from either state."""
    rng = np.random.default_rng(21)
    n = 400
    e = np.concatenate([rng.integers(0, 280, (700, 2)), rng.integers(280, n, (70, 2))])
    e = e[e[:, 0] != e[:, 1]]
    edges = (e[:, 0], e[:, 1], rng.uniform(50.0, 3000.0, len(e)))
    areas = rng.uniform(0.0, 3.0, n)
    k = 1e-3
    dense = cn.GraphState.build(areas, edges, k, 1e4)
    blocked = cn.GraphState.build(areas, edges, k, 1e4, by_component=True)
    cm = blocked.dist
    assert isinstance(cm, cn.ComponentMatrix) and len(cm.members) > 20
    assert np.array_equal(cm.dense(), dense.dist) and blocked.pcnum == dense.pcnum
    assert cm.nbytes < dense.dist.nbytes / 2
    idx = rng.integers(0, n, 9)
    assert np.array_equal(cm.take(idx), dense.dist[np.ix_(idx, idx)])
    assert np.array_equal(cm.rows(idx), dense.dist[idx])
    assert cm.pair(int(idx[0]), int(idx[1])) == dense.dist[idx[0], idx[1]]
    dm = cn.distance_matrix(dense.dist)  # the array behind the same interface
    assert isinstance(dm, cn.DenseMatrix) and cn.distance_matrix(cm) is cm
    assert np.array_equal(dm.take(idx), cm.take(idx)) and np.array_equal(dm.rows(idx), cm.rows(idx))
    assert np.array_equal(dm.row_block(100, 390), cm.row_block(100, 390))
    assert dm.pair(int(idx[0]), int(idx[1])) == cm.pair(int(idx[0]), int(idx[1]))
    assert dm.dense() is not dense.dist and np.array_equal(dm.dense(), dense.dist)
    assert cn.pcnum(areas, cm) == cn.pcnum(areas, dense.dist) == dense.pcnum
    i0, j0 = int(dense.i[0]), int(dense.j[0])
    lone = [x for x in range(280, n) if cm.comp[x] != cm.comp[i0]]
    cases = [
        [(i0, j0, float(dense.cost[0]) * 0.3)],  # a cheaper link in the big component
        [(i0, lone[0], 40.0), (lone[0], lone[1], 10.0)],  # new links joining components
        [(i0, j0, 1.0)],
    ]
    for changes in cases:
        for with_state in (False, True):
            r_d = cn.eca_after_link_change(dense, changes, pc_tolerance=tol, with_state=with_state)
            r_b = cn.eca_after_link_change(blocked, changes, pc_tolerance=tol, with_state=with_state)
            assert (r_b.PCnum_before, r_b.PCnum_after, r_b.dECA_ha) == (r_d.PCnum_before, r_d.PCnum_after, r_d.dECA_ha)
            if with_state:
                assert r_b.state is not None and r_d.state is not None
                assert np.array_equal(r_b.state.dense_dist(), r_d.state.dense_dist())
        assert r_d.PCnum_after > r_d.PCnum_before
    new_areas = areas * rng.uniform(0.5, 1.5, n)
    r_d = cn.eca_after_link_change(dense, cases[0], areas_ha=new_areas, pc_tolerance=tol)
    r_b = cn.eca_after_link_change(blocked, cases[0], areas_ha=new_areas, pc_tolerance=tol)
    assert (r_b.PCnum_before, r_b.PCnum_after) == (r_d.PCnum_before, r_d.PCnum_after)
