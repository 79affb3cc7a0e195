"""The all-pairs distances the connectivity job's node metrics keep for the barrier job.

``probability_metrics(keep_distances=True)`` takes the rows its PC pass searches into a
``ComponentMatrix``; ``graph/{guild}_distances.npz`` carries it to the barrier job's network gains,
which search the distances only when the file is of another graph. These tests hold the kept
matrix to a searched one bit for bit and the file to its graph.
"""

from __future__ import annotations

import importlib
import logging
import zipfile

import numpy as np
import pytest

import werkland.connectivity.metrics as cn_metrics
from tests.unit.test_connectivity import _random_geometric_graph
from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland.connectivity.apsp import ComponentMatrix, graph_key
from werkland.connectivity.distance_store import (
    DISTANCES_FORMAT,
    read_component_distances,
    write_component_distances,
)
from werkland.connectivity.graph_state import GraphState

apsp_mod = importlib.import_module("werkland.connectivity.apsp")


def _graph(n: int = 700, seed: int = 5):
    """A random geometric graph of several components with its kernel rate."""
    areas, edges = _random_geometric_graph(seed, n, 20000.0, 650.0)
    return areas, edges, cn.dispersal_kernel(1000.0).k_per_m


def _assert_same_matrix(a: ComponentMatrix, b: ComponentMatrix) -> None:
    assert a.n == b.n and a.key == b.key
    np.testing.assert_array_equal(a.comp, b.comp)
    assert len(a.blocks) == len(b.blocks)
    for x, y in zip(a.blocks, b.blocks, strict=True):
        np.testing.assert_array_equal(x, y)  # bit for bit, not within a tolerance


@pytest.mark.parametrize("blocks", [False, True])
def test_metrics_keep_the_distances_a_search_of_their_own_finds(monkeypatch, blocks):
    """The kept matrix equals a ComponentMatrix searched on its own, in one block of source rows and
    in blocks of 512 (with a tolerance: the first block's rows come from the first pass); the
    metrics are those computed without keeping anything."""
    areas, edges, k = _graph()
    if blocks:
        monkeypatch.setattr(cn_metrics, "MATRIX_BLOCK_BYTES", 1)
    plain = cn.probability_metrics(areas, edges, k, 1e4, n_threads=2, pc_tolerance=1e-4)
    kept = cn.probability_metrics(areas, edges, k, 1e4, n_threads=2, pc_tolerance=1e-4, keep_distances=True)
    assert plain.distances is None and kept.distances is not None
    assert kept.distances.rows_filled == areas.size
    i, j, c = apsp_mod.edge_arrays(edges, areas.size)
    searched = ComponentMatrix(areas.size, i, j, k * c)
    assert len(searched.members) > 1  # several components, so the blocks are per component
    _assert_same_matrix(kept.distances, searched)
    assert kept.PCnum == plain.PCnum
    for name in ("dPC", "dPC_connector", "betweenness", "BCPC"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(plain, name), err_msg=name)


def test_distance_file_round_trip_and_the_graph_it_is_of(tmp_path):
    """Written and read back: the same matrix; the same distances give the same bytes; asked for by
    another graph (one link a little longer) the file gives None."""
    areas, edges, k = _graph(300)
    i, j, c = apsp_mod.edge_arrays(edges, areas.size)
    cm = ComponentMatrix(areas.size, i, j, k * c)
    write_component_distances(cm, tmp_path / "d.npz")
    write_component_distances(ComponentMatrix(areas.size, i, j, k * c), tmp_path / "again.npz")
    assert (tmp_path / "d.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()
    back = read_component_distances(tmp_path / "d.npz", cm.key)
    assert back is not None
    _assert_same_matrix(back, cm)
    assert back.pair(int(i[0]), int(j[0])) == cm.pair(int(i[0]), int(j[0]))
    c2 = c.copy()
    c2[0] = np.nextafter(c2[0], np.inf)
    other = graph_key(cn.sym_csr(areas.size, i, j, k * c2))
    assert other != cm.key
    assert read_component_distances(tmp_path / "d.npz", other) is None


def test_incomplete_matrix_is_not_written(tmp_path):
    areas, edges, k = _graph(300)
    i, j, c = apsp_mod.edge_arrays(edges, areas.size)
    cm = ComponentMatrix(areas.size, i, j, k * c, search=False)
    cm.fill_rows(0, apsp_mod.distance_rows(cn.sym_csr(areas.size, i, j, k * c), 0, 100))
    with pytest.raises(ValueError, match="holds 100 of its 300 rows"):
        write_component_distances(cm, tmp_path / "d.npz")
    assert not (tmp_path / "d.npz").exists()
    with pytest.raises(ValueError, match="rows 200..299"):  # rows are taken in order
        cm.fill_rows(200, np.zeros((100, 300)))


@pytest.mark.parametrize("damage", ["not a zip", "other format", "short blocks"])
def test_unreadable_distance_file_names_the_file_and_the_fix(tmp_path, damage):
    areas, edges, k = _graph(300)
    i, j, c = apsp_mod.edge_arrays(edges, areas.size)
    cm = ComponentMatrix(areas.size, i, j, k * c)
    path = tmp_path / "d.npz"
    if damage == "not a zip":
        path.write_bytes(b"distances")
    else:
        write_component_distances(cm, path)
        with zipfile.ZipFile(path) as zf:
            entries = {name: zf.read(name) for name in zf.namelist()}
        if damage == "other format":
            entries["meta.json"] = entries["meta.json"].replace(DISTANCES_FORMAT.encode(), b"other-1")
        else:
            entries["dist.npy"] = entries["dist.npy"][:-8]
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
    with pytest.raises(WerklandInputError) as err:
        read_component_distances(path, cm.key)
    assert "d.npz" in str(err.value) and "re-run the connectivity rule" in str(err.value)


def test_graph_state_reads_the_distances_of_its_graph_and_searches_for_another(tmp_path, monkeypatch, caplog):
    """With the file of its graph the barrier stage's baseline searches nothing and equals a searched
    one (distances and PCnum); with the file of another graph it searches, as without a file."""
    areas, edges, k = _graph(400)
    i, j, c = apsp_mod.edge_arrays(edges, areas.size)
    searched = GraphState.build(areas, edges, k, 1e4, by_component=True)
    write_component_distances(searched.dist, tmp_path / "d.npz")
    real = apsp_mod.sssp_rows_limited

    def no_search(*args):
        raise AssertionError("searched although the distances were at hand")

    monkeypatch.setattr(apsp_mod, "sssp_rows_limited", no_search)
    with caplog.at_level(logging.INFO, logger="werkland.connectivity.graph_state"):
        read = GraphState.build(areas, edges, k, 1e4, by_component=True, distances_file=tmp_path / "d.npz")
    assert "all-pairs distances of the connectivity job" in caplog.text
    _assert_same_matrix(read.dist, searched.dist)
    assert read.pcnum == searched.pcnum
    monkeypatch.setattr(apsp_mod, "sssp_rows_limited", real)
    longer = (i, j, np.where(np.arange(c.size) == 0, c * 1.5, c))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="werkland.connectivity.graph_state"):
        other = GraphState.build(areas, longer, k, 1e4, by_component=True, distances_file=tmp_path / "d.npz")
    assert "is of another graph" in caplog.text
    fresh = GraphState.build(areas, longer, k, 1e4, by_component=True)
    _assert_same_matrix(other.dist, fresh.dist)
    assert other.pcnum == fresh.pcnum
