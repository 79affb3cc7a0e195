"""The direct GraphML writer gives networkx's bytes (standard-library writer) for the same graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from networkx.readwrite.graphml import write_graphml_xml

from werkland._errors import WerklandInputError
from werkland.connectivity.graphml import networkx_edge_order, write_graphml


def _networkx_bytes(tmp_path, graph_data, nodes, edge_rows):
    G = nx.Graph(**graph_data)
    for node, data in nodes:
        G.add_node(node, **data)
    for u, v, data in edge_rows:
        G.add_edge(u, v, **data)
    out = tmp_path / "nx.graphml"
    write_graphml_xml(G, out)
    return out.read_bytes()


def _ours(tmp_path, graph_data, nodes, edge_rows):
    ids = np.array([n for n, _ in nodes], np.int64)
    u = np.array([e[0] for e in edge_rows], np.int64)
    v = np.array([e[1] for e in edge_rows], np.int64)
    rows, swap, data_rows = networkx_edge_order(ids, u, v)
    edges = []
    for r, sw, d in zip(rows.tolist(), swap.tolist(), data_rows.tolist(), strict=True):
        a, b = (int(v[r]), int(u[r])) if sw else (int(u[r]), int(v[r]))
        edges.append((a, b, edge_rows[d][2]))
    out = tmp_path / "ours.graphml"
    write_graphml(out, graph_data, nodes, edges)
    return out.read_bytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_writer_gives_networkx_bytes(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = 40
    ids = rng.permutation(np.arange(1, 200))[:n]  # node order is not id order
    nodes = []
    for k, pid in enumerate(ids.tolist()):
        data = {"area_ha": float(rng.random()), "touches_border": bool(rng.random() < 0.3), "component": int(k % 3),
                "dPC": float(rng.choice([0.0, np.nan, 1e-300, 123456789.125]))}
        if k == 5:
            data = {}  # a node without attributes: an empty element
        if k == 7:
            data["note"] = 'a <b> & "c"'  # escaped text; a key that appears late
        nodes.append((pid, data))
    edge_rows = []
    for r in range(120):
        a, b = rng.choice(ids, 2, replace=False).tolist()
        edge_rows.append((a, b, {"link_id": r + 1, "cost_distance": float(rng.random() * 1e4),
                                 "p_direct": float(rng.random()), "weight": float(rng.random())}))
    edge_rows.append((edge_rows[3][1], edge_rows[3][0], {"link_id": 999, "cost_distance": 1.5, "p_direct": 0.25,
                                                        "weight": 2.0}))  # a pair listed twice, reversed
    graph_data = {"guild": "woodland & <birds>", "d0_m": 1000.0, "p0": 0.5, "k_per_m": 0.000693, "convention": "conefor"}
    assert _ours(tmp_path, graph_data, nodes, edge_rows) == _networkx_bytes(tmp_path, graph_data, nodes, edge_rows)


def test_empty_graph_and_graph_without_edges(tmp_path):
    assert _ours(tmp_path, {}, [], []) == _networkx_bytes(tmp_path, {}, [], [])
    nodes = [(3, {"a": 1.0}), (1, {"a": 2.0})]
    assert _ours(tmp_path, {"guild": "x"}, nodes, []) == _networkx_bytes(tmp_path, {"guild": "x"}, nodes, [])


def test_unknown_ends_and_value_types_are_clear_errors(tmp_path):
    with pytest.raises(WerklandInputError, match="unknown node"):
        networkx_edge_order(np.array([1, 2]), np.array([1]), np.array([5]))
    with pytest.raises(WerklandInputError, match="type list"):
        write_graphml(tmp_path / "x.graphml", {}, [(1, {"bad": [1, 2]})], [])  # type: ignore[dict-item]
    assert not (tmp_path / "x.graphml").exists()
