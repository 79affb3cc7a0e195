"""Tiled link search (werkland.connectivity.tiled) equals the untiled one (links, costs, paths,
corridors, and the whole stage's outputs) on a small region."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pyproj import CRS

import werkland.connectivity.tiled as tiled_module
from werkland.connectivity import (
    build_links,
    build_links_tiled,
    find_patches,
    overlap_cells,
    plan_tiles,
    prepare_resistance,
    run_connectivity,
)
from werkland.params import ConnectivityParams
from werkland.raster.io import Grid, read_raster, write_raster
from werkland.tables import Guild


def _landscape(seed: int, size: int = 160):
    rng = np.random.default_rng(seed)
    res = rng.uniform(1.0, 4.0, size=(size, size))  # continuous values: no cost ties
    res[rng.random((size, size)) < 0.03] = np.inf  # scattered impassable cells
    res[:, size // 2] = 400.0  # a road
    suit = np.zeros((size, size))
    for _ in range(25):
        r, c = rng.integers(3, size - 6, 2)
        h, w = rng.integers(2, 6, 2)
        suit[r : r + h, c : c + w] = 1.0
    ps = find_patches(suit, res_m=10.0, threshold=0.5, min_area_m2=300.0)
    return prepare_resistance(res, None), ps.labels


def _sorted(links):
    order = np.lexsort((links.to_id, links.from_id))
    paths = [links.path_cells[links.path_ptr[e] : links.path_ptr[e + 1]] for e in order]
    return links.from_id[order], links.to_id[order], links.cost[order], paths


@pytest.mark.parametrize(("seed", "tile"), [(1, 40), (2, 64), (3, 1000)])
def test_tiled_equals_untiled(seed, tile):
    res, labels = _landscape(seed)
    assert labels.max() > 10
    kw = {"res_m": 10.0, "max_cost": 1500.0, "corridor_width": 300.0, "n_threads": 1}
    full = build_links(res, labels, **kw)
    tiled = build_links_tiled(res, labels, tile_cells=tile, **kw)
    f1, t1, c1, p1 = _sorted(full)
    f2, t2, c2, p2 = _sorted(tiled)
    assert full.n > 20
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(c1, c2)
    for a, b in zip(p1, p2, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.corridor, tiled.corridor)


def test_windows_are_smaller_than_the_raster_and_cover_every_patch():
    res, labels = _landscape(4, size=300)
    ov = overlap_cells(900.0, 10.0, 1.0)
    assert ov == 91
    tiles = plan_tiles(labels, 100, ov)
    owned = np.concatenate([t.patch_ids for t in tiles])
    assert sorted(owned.tolist()) == list(range(1, labels.max() + 1))  # every patch owned exactly once
    assert max(t.window_cells for t in tiles) < labels.size


def test_overlap_too_small_would_differ(monkeypatch):
    """The overlap matters: a window cut at half the search reach changes some links (the test can fail)."""
    res, labels = _landscape(5)
    kw = {"res_m": 10.0, "max_cost": 1500.0, "n_threads": 1}
    full = build_links(res, labels, **kw)
    monkeypatch.setattr(tiled_module, "overlap_cells", lambda cost, r, m: int(cost / (m * r)) // 8)
    short = build_links_tiled(res, labels, tile_cells=40, **kw)
    assert (full.n, sorted(full.cost.tolist())) != (short.n, sorted(short.cost.tolist()))


def test_run_connectivity_tiled_outputs_equal(tmp_path):
    """The whole stage with tile_cells gives the same metrics, summary and corridor raster."""
    rng = np.random.default_rng(11)
    size = 150
    grid = Grid.from_bounds((0, 0, size * 10, size * 10), 10, CRS.from_epsg(28992))
    suit = np.where(rng.random((size, size)) < 0.5, 0.0, 0.2).astype(np.float32)
    for _ in range(20):
        r, c = rng.integers(2, size - 8, 2)
        suit[r : r + 5, c : c + 4] = 0.9
    res = rng.uniform(1, 4, (size, size)).astype(np.float32)
    res[70:72, :] = -1  # impassable road (nodata)
    write_raster(tmp_path / "h.tif", suit, grid, nodata=-1.0)
    write_raster(tmp_path / "r.tif", res, grid, nodata=-1.0)
    guild = Guild(name="test", label="test", suitability={}, resistance={}, default_resistance=1.0,
                  suitability_threshold=0.5, min_patch_area_m2=400.0, edge_classes=(), edge_band_m=0.0,
                  edge_factor=1.0, d0_m=300.0, p0=0.5, gbif_taxa=())
    section = {"convention": "conefor", "p_floor": 0.001, "corridor_width_cost": None, "metrics_tolerance": 0.0}
    out = {}
    for name, tile_cells in (("full", 0), ("tiled", 50)):
        d = tmp_path / name
        d.mkdir()
        params = ConnectivityParams.from_config({"connectivity": {**section, "tile_cells": tile_cells}}, guild,
                                                n_threads=1)
        run_connectivity(tmp_path / "h.tif", tmp_path / "r.tif", None, d / "p.gpkg", d / "p.tif", d / "l.gpkg",
                         d / "g.graphml", d / "m.csv", d / "s.json", d / "c.tif", params=params)
        summary = json.loads((d / "s.json").read_text())
        out[name] = (pd.read_csv(d / "m.csv"), summary, read_raster(d / "c.tif")[0])
    assert out["full"][1]["n_links"] > 10
    pd.testing.assert_frame_equal(out["full"][0], out["tiled"][0])
    assert out["full"][1] == out["tiled"][1]
    np.testing.assert_array_equal(out["full"][2], out["tiled"][2])
