"""Overlap resolution by legend priority, the polygon layer and the class raster of a region."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import shapely.geometry

from werkland.forking import background_thread
from werkland.landcover.geometry import polygon_parts, polygonal
from werkland.raster.io import Grid
from werkland.tables import Legend

#: Nodata code of landcover.tif (outside the region).
NODATA_CODE = 0
#: Precision grid of the overlay operations (1 cm keeps them robust), metres.
GRID_SIZE_M = 0.01
#: ``source`` of the polygons that no source covers (the fill class).
FILL_SOURCE = "fill"
#: Threads that dissolve and clip the class groups while the priority chain runs (shapely releases
#: the GIL; the machine the workflow targets has 2 cores). They are background threads: the chain
#: is the critical path, and they keep ahead of it on the core it leaves.
OVERLAY_THREADS = 2

_COLUMNS = ["class", "source", "source_file"]


def _groups(feats: gpd.GeoDataFrame, prio: dict[str, int]) -> list[tuple[tuple[str, str, str | None], Any]]:
    """Features per (class, source, source file), highest priority first."""
    if "source_file" not in feats.columns:
        feats = feats.assign(source_file=None)
    groups = [((c, s, None if pd.isna(f) else f), g)
              for (c, s, f), g in feats.groupby(_COLUMNS, dropna=False)]
    return sorted(groups, key=lambda kv: (-prio[kv[0][0]], kv[0][1], kv[0][2] or ""))


def _dissolve_clip(geoms: np.ndarray, area: shapely.Geometry) -> shapely.Geometry:
    """The union of a group's features on the precision grid, clipped to the region."""
    geom = polygonal(shapely.union_all(geoms, grid_size=GRID_SIZE_M))
    return polygonal(shapely.intersection(geom, area, grid_size=GRID_SIZE_M))


def _prepared(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` prepared for many predicate tests (a prepared copy when it is not prepared yet).

    Prepared predicates give the same answers as plain ones; they index the segments once.
    """
    if shapely.is_prepared(geom):
        return geom
    copy = shapely.from_wkb(shapely.to_wkb(geom))
    shapely.prepare(copy)
    return copy


def resolve_overlaps(features: gpd.GeoDataFrame, legend: Legend, region: shapely.Geometry,
                     fill_class: str | None = None, *, under: gpd.GeoDataFrame | None = None,
                     threads: int = OVERLAY_THREADS) -> gpd.GeoDataFrame:
    """Resolve overlaps by legend priority and clip to the region.

    Features are dissolved per (class, source, source file); from the highest priority down, each
    class keeps what no higher-priority class already covers. ``under`` (the polygons of raster
    sources) then gets what no feature covers, whatever its priority (as in the class raster). With
    ``fill_class``, the rest of the region gets that class (source ``fill``), so the polygons tile
    the region like the raster does.

    The groups are dissolved and clipped on ``threads`` threads, ahead of the priority chain
    (difference with what is covered, then union into it), which runs in order on the calling
    thread at normal priority while the dissolving threads run at the lowest
    (:func:`~werkland.forking.background_thread`). Every overlay call and its inputs are those of a
    serial run, so the polygons do not depend on ``threads``.

    Parameters
    ----------
    features : GeoDataFrame
        ``class``, ``source`` and optionally ``source_file`` (in the region's CRS).
    legend : Legend
    region : shapely geometry
    fill_class : str, optional
    under : GeoDataFrame, optional
        Polygons below every feature (``class``, ``source``, ``source_file``).
    threads : int
        Threads dissolving the groups (1: all on the calling thread).

    Returns
    -------
    GeoDataFrame
        Non-overlapping polygons with ``class``, ``source``, ``source_file``, ``area_m2`` (m², in the
        layer CRS).
    """
    prio = {c.name: c.priority for c in legend.classes}
    if fill_class is not None:
        legend.code(fill_class, where="config: fill_class")
    rows: list[dict[str, Any]] = []
    covered: shapely.Geometry = shapely.Polygon()
    area = polygonal(region)
    groups: list[tuple[tuple[str, str, str | None], np.ndarray]] = []
    probe = _prepared(region)
    for layer in [features] + ([under] if under is not None else []):
        feats = layer[shapely.intersects(layer.geometry.values, probe)] if len(layer) else layer
        groups.extend((key, grp.geometry.values) for key, grp in _groups(feats, prio))
    with ThreadPoolExecutor(max_workers=max(1, threads), initializer=background_thread) as pool:
        # submitted in priority order: the chain below takes each group as soon as it is ready
        clipped = [pool.submit(_dissolve_clip, geoms, area) for _, geoms in groups]
        for ((cls, src, src_file), _), done in zip(groups, clipped, strict=True):
            geom = done.result()
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


def rasterize_landcover(
    features: gpd.GeoDataFrame,
    legend: Legend,
    grid: Grid,
    region: shapely.Geometry,
    *,
    background: np.ndarray | None = None,
    fill_class: str | None = None,
) -> np.ndarray:
    """Burn classified features into a uint8 class raster by priority.

    Classes are burnt from the lowest priority up, so higher priorities overwrite lower ones.
    Classes marked ``continuous`` in the legend are burnt with ``all_touched=True`` so thin linear
    features (roads, railways, waterways, hedges) stay unbroken at coarse resolution.

    Parameters
    ----------
    features : GeoDataFrame
        ``class`` column, in ``grid.crs``.
    legend : Legend
    grid : Grid
    region : shapely geometry
        Cells outside it get nodata (0).
    background : numpy.ndarray, optional
        Codes from raster sources, used where no vector feature lies.
    fill_class : str, optional
        Class for cells inside the region that no source covers.

    Returns
    -------
    numpy.ndarray of uint8
    """
    out = np.zeros(grid.shape, dtype=np.uint8)
    if fill_class is not None:
        out[:] = legend.code(fill_class, where="config: fill_class")
    if background is not None:
        out = np.where(background > 0, background, out).astype(np.uint8)
    # one burn per run of classes with the same all_touched, in priority order: a later shape
    # overwrites an earlier one, as a higher-priority class overwrites the classes below it
    runs: list[tuple[bool, list[tuple[Any, int]]]] = []
    classes = features["class"].to_numpy()
    geoms = features.geometry.values
    for cls in sorted(legend.classes, key=lambda c: c.priority):
        shapes = [(g, cls.code) for g in geoms[classes == cls.name]]
        if not shapes:
            continue
        if runs and runs[-1][0] == cls.continuous:
            runs[-1][1].extend(shapes)
        else:
            runs.append((cls.continuous, shapes))
    for all_touched, shapes in runs:
        rasterio.features.rasterize(shapes, out=out, transform=grid.transform, all_touched=all_touched)
    out[~region_mask(region, grid)] = NODATA_CODE
    return out


def region_mask(region: shapely.Geometry, grid: Grid) -> np.ndarray:
    """Cells of ``grid`` whose centre lies in ``region`` (the cells of the class raster with data)."""
    return rasterio.features.geometry_mask([region], out_shape=grid.shape, transform=grid.transform, invert=True)


def polygonize_classes(codes: np.ndarray, owner: np.ndarray, grid: Grid, legend: Legend,
                       source_files: Sequence[str]) -> gpd.GeoDataFrame:
    """Polygons of a class raster from raster sources (``source`` ``raster``).

    Parameters
    ----------
    codes : numpy.ndarray of uint8
        Legend codes (0 = no data).
    owner : numpy.ndarray of int
        Index into ``source_files`` of the raster each cell's code comes from.
    grid : Grid
    legend : Legend
    source_files : sequence of str
        File names of the raster sources.

    Returns
    -------
    GeoDataFrame
        ``class``, ``source``, ``source_file``: one polygon per connected area of a class and source.
    """
    names = {c.code: c.name for c in legend.classes}
    key = (owner.astype(np.int32) * 256 + codes.astype(np.int32)).astype(np.int32)
    rows = [{"class": names[int(k) % 256], "source": "raster", "source_file": source_files[int(k) // 256],
             "geometry": shapely.geometry.shape(geom)}
            for geom, k in rasterio.features.shapes(key, mask=codes > 0, transform=grid.transform)]
    return gpd.GeoDataFrame(rows, columns=[*_COLUMNS, "geometry"], geometry="geometry", crs=grid.crs)


def legend_colormap(legend: Legend) -> dict[int, tuple[int, int, int, int]]:
    """The legend colours as a GeoTIFF colour table (QGIS shows it as a paletted raster)."""
    cmap = {NODATA_CODE: (0, 0, 0, 0)}
    for c in legend.classes:
        h = c.colour.lstrip("#")
        cmap[c.code] = (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)
    return cmap


__all__ = ["FILL_SOURCE", "NODATA_CODE", "legend_colormap", "polygonize_classes", "rasterize_landcover",
           "region_mask", "resolve_overlaps"]
