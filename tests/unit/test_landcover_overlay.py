"""The threaded overlay and the one-pass class raster write what the serial code wrote, value for value.

The reference functions below are the serial implementations the stage used before (kept here, not in
the library): every group dissolved and clipped, then differenced and unioned in priority order on
one thread; the raster burnt class by class through one mask per class. The new code must give the
same polygons (same rows in the same order, coordinates equal bit for bit) and the same raster.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio.features
import shapely

import werkland.landcover.overlay as overlay_module
import werkland.landcover.region as region_module
from werkland.forking import BACKGROUND_NICENESS
from werkland.landcover import build_region, demo_pbf_path, rasterize_landcover, resolve_overlaps
from werkland.landcover.geometry import polygon_parts, polygonal
from werkland.landcover.overlay import (
    _COLUMNS,
    FILL_SOURCE,
    GRID_SIZE_M,
    NODATA_CODE,
    _groups,
    region_mask,
)
from werkland.raster.io import Grid

from ..conftest import ROOT
from .test_landcover import RD, _params


def _reference_overlaps(features: gpd.GeoDataFrame, legend: Any, region: shapely.Geometry,
                        fill_class: str | None = None, *, under: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    prio = {c.name: c.priority for c in legend.classes}
    rows: list[dict[str, Any]] = []
    covered: shapely.Geometry = shapely.Polygon()
    area = polygonal(region)
    layers = [features] + ([under] if under is not None else [])
    for layer in layers:
        feats = layer[layer.geometry.intersects(region)] if len(layer) else layer
        for (cls, src, src_file), grp in _groups(feats, prio):
            geom = polygonal(shapely.union_all(grp.geometry.values, grid_size=GRID_SIZE_M))
            geom = polygonal(shapely.intersection(geom, area, grid_size=GRID_SIZE_M))
            if not covered.is_empty and not geom.is_empty:
                geom = polygonal(shapely.difference(geom, covered, grid_size=GRID_SIZE_M))
            if geom.is_empty:
                continue
            covered = polygonal(shapely.union(covered, geom, grid_size=GRID_SIZE_M))
            rows.extend({"class": cls, "source": src, "source_file": src_file, "geometry": part}
                        for part in polygon_parts(geom))
    if fill_class is not None:
        rest = polygonal(shapely.difference(area, covered, grid_size=GRID_SIZE_M))
        rows.extend({"class": fill_class, "source": FILL_SOURCE, "source_file": None, "geometry": part}
                    for part in polygon_parts(rest))
    gdf = gpd.GeoDataFrame(rows, columns=[*_COLUMNS, "geometry"], geometry="geometry", crs=features.crs)
    gdf["area_m2"] = gdf.geometry.area
    order = gdf["class"].map(prio)
    gdf = gdf.assign(_p=-order, _x=gdf.geometry.bounds["minx"], _y=gdf.geometry.bounds["miny"])
    return gdf.sort_values(["_p", "class", "_x", "_y"]).drop(columns=["_p", "_x", "_y"]).reset_index(drop=True)


def _reference_raster(features: gpd.GeoDataFrame, legend: Any, grid: Grid, region: shapely.Geometry, *,
                      background: np.ndarray | None = None, fill_class: str | None = None) -> np.ndarray:
    out = np.zeros(grid.shape, dtype=np.uint8)
    if fill_class is not None:
        out[:] = legend.code(fill_class, where="config: fill_class")
    if background is not None:
        out = np.where(background > 0, background, out).astype(np.uint8)
    for cls in sorted(legend.classes, key=lambda c: c.priority):
        geoms = features.geometry.values[(features["class"] == cls.name).to_numpy()]
        if len(geoms) == 0:
            continue
        mask = rasterio.features.geometry_mask(geoms, out_shape=grid.shape, transform=grid.transform, invert=True,
                                               all_touched=cls.continuous)
        out[mask] = cls.code
    out[~region_mask(region, grid)] = NODATA_CODE
    return out


def _assert_same_polygons(new: gpd.GeoDataFrame, ref: gpd.GeoDataFrame) -> None:
    assert list(new.columns) == list(ref.columns)
    assert len(new) == len(ref) and len(ref) > 0
    for col in ("class", "source", "source_file"):
        assert new[col].tolist() == ref[col].tolist(), col
    np.testing.assert_array_equal(new["area_m2"].to_numpy(), ref["area_m2"].to_numpy())
    # bit-for-bit coordinates, ring order and start points (no tolerance)
    assert shapely.to_wkb(new.geometry.values).tolist() == shapely.to_wkb(ref.geometry.values).tolist()


def _compare_through_build_region(params: Any, legend: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Run build_region; check its overlay (threads 1 and 2) and raster against the references on the
    very inputs the stage passed."""
    seen = {"overlay": 0, "raster": 0}

    def overlay_spy(features, legend, region, fill_class=None, *, under=None):
        ref = _reference_overlaps(features, legend, region, fill_class, under=under)
        for threads in (1, 2):
            _assert_same_polygons(resolve_overlaps(features, legend, region, fill_class, under=under,
                                                   threads=threads), ref)
        seen["overlay"] += 1
        return ref

    def raster_spy(features, legend, grid, region, *, background=None, fill_class=None):
        new = rasterize_landcover(features, legend, grid, region, background=background, fill_class=fill_class)
        ref = _reference_raster(features, legend, grid, region, background=background, fill_class=fill_class)
        assert new.dtype == ref.dtype == np.uint8
        np.testing.assert_array_equal(new, ref)
        seen["raster"] += 1
        return new

    monkeypatch.setattr(region_module, "resolve_overlaps", overlay_spy)
    monkeypatch.setattr(region_module, "rasterize_landcover", raster_spy)
    res = build_region(params, legend)
    assert seen == {"overlay": 1, "raster": 1}
    assert res.counts["landcover_polygons"] > 0
    return res.counts


def _synthetic_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_synthetic", ROOT / "benchmarks" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_region_same_polygons_and_raster(tmp_path, legend, monkeypatch):
    # the benchmark generator (Voronoi land cover, buffered road grid, 16 parks), 3 km square
    gen = _synthetic_module().make_region(tmp_path / "gen", size_km=3.0, n_polygons=900, seed=7)
    params = _params([{"type": "vector", "path": str(gen["landcover"]), "class_field": "class"}],
                     parks={"file": str(gen["parks"]), "id_field": "park_id"}, crs=28992,
                     context_buffer_m=3000 / 8 * 0.9, resolution_m=10)
    counts = _compare_through_build_region(params, legend, monkeypatch)
    assert counts["landcover_polygons"] > 500


def test_osm_demo_same_polygons_and_raster(legend, monkeypatch):
    params = _params([{"type": "osm", "path": demo_pbf_path()}], context_buffer_m=300,
                     parks={"from_landuse": ["industrial"], "min_area_m2": 10000})
    _compare_through_build_region(params, legend, monkeypatch)


def test_raster_sources_underneath_and_fill_same_polygons(legend):
    # overlapping features of several classes and sources, raster polygons underneath, a fill class
    rng = np.random.default_rng(3)
    classes = ["building", "road_minor", "grass", "woodland", "sealed", "open_water"]
    rows = []
    for i in range(120):
        x, y = rng.uniform(0, 900, 2)
        w, h = rng.uniform(5, 120, 2)
        geom = shapely.box(x, y, x + w, y + h) if i % 3 else shapely.Point(x, y).buffer(w / 2)
        rows.append({"class": classes[i % len(classes)], "source": "vector" if i % 2 else "bgt",
                     "source_file": f"f{i % 2}.gpkg", "geometry": geom})
    features = gpd.GeoDataFrame(rows, geometry="geometry", crs=RD)
    under = gpd.GeoDataFrame({"class": ["cropland", "meadow"], "source": ["raster", "raster"],
                              "source_file": ["wc.tif", "wc.tif"]},
                             geometry=[shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 600)], crs=RD)
    region = shapely.Point(500, 500).buffer(480)
    ref = _reference_overlaps(features, legend, region, "grass", under=under)
    assert {"fill", "raster", "vector", "bgt"} <= set(ref["source"])
    for threads in (1, 2, 4):
        _assert_same_polygons(resolve_overlaps(features, legend, region, "grass", under=under, threads=threads), ref)
    grid = Grid.from_bounds(region.bounds, 5.0, RD)
    background = np.where(np.arange(grid.shape[1])[None, :] < grid.shape[1] // 2, 3, 0).astype(np.uint8)
    background = np.broadcast_to(background, grid.shape).copy()
    np.testing.assert_array_equal(
        rasterize_landcover(features, legend, grid, region, background=background, fill_class="grass"),
        _reference_raster(features, legend, grid, region, background=background, fill_class="grass"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a niceness per thread is Linux's")
def test_groups_dissolve_in_the_background_and_the_chain_keeps_its_priority(legend, monkeypatch):
    # the priority chain is the critical path: the threads dissolving ahead of it run at the lowest
    # priority, the calling thread (the chain) keeps its own
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen: list[int] = []
    dissolve = overlay_module._dissolve_clip

    def spy(geoms, area):
        seen.append(niceness())
        return dissolve(geoms, area)

    monkeypatch.setattr(overlay_module, "_dissolve_clip", spy)
    features = gpd.GeoDataFrame({"class": ["grass", "building", "woodland"], "source": ["vector"] * 3},
                                geometry=[shapely.box(0, 0, 60, 60), shapely.box(20, 20, 40, 40),
                                          shapely.box(50, 0, 90, 30)], crs=RD)
    before = niceness()
    out = resolve_overlaps(features, legend, shapely.box(0, 0, 100, 100), "meadow", threads=2)
    assert seen == [BACKGROUND_NICENESS] * 3
    assert niceness() == before
    assert out["area_m2"].sum() == pytest.approx(100 * 100)


def test_unknown_fill_class_fails_before_any_overlay(legend):
    from werkland._errors import WerklandInputError

    features = gpd.GeoDataFrame({"class": ["grass"], "source": ["vector"]}, geometry=[shapely.box(0, 0, 10, 10)],
                                crs=RD)
    with pytest.raises(WerklandInputError, match="fill_class"):
        resolve_overlaps(features, legend, shapely.box(0, 0, 10, 10), "no_such_class")



def test_prepared_region_selects_the_same_features_and_parts(tmp_path):
    # the stage tests every feature against a prepared region: same selection as the plain test
    from werkland.landcover.overlay import _prepared

    gen = _synthetic_module().make_region(tmp_path / "gen", size_km=2.0, n_polygons=400, seed=11)
    feats = gpd.read_file(gen["landcover"])
    parks = gpd.read_file(gen["parks"])
    region = parks.geometry.iloc[0].buffer(40)
    probe = _prepared(region)
    assert shapely.is_prepared(probe) and not shapely.is_prepared(region)
    assert shapely.equals_exact(probe, region, tolerance=0)
    plain = shapely.intersects(feats.geometry.values, region)
    assert 0 < plain.sum() < len(feats)
    np.testing.assert_array_equal(shapely.intersects(feats.geometry.values, probe), plain)
    # polygon_parts keeps the polygons with area, in order, as the per-part loop did
    geom = shapely.union_all(feats.geometry.values[plain][:50], grid_size=GRID_SIZE_M)
    mixed = shapely.GeometryCollection([geom, shapely.LineString([(0, 0), (1, 1)]), shapely.Polygon()])
    for g in (geom, mixed, shapely.Polygon()):
        old = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) == 3 and p.area > 0]
        assert shapely.to_wkb(polygon_parts(g)).tolist() == shapely.to_wkb(old).tolist()
