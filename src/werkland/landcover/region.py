"""A region's land cover: its extent, its parks, every source read around it, harmonised.

The extent is known before any large file is read whenever it can be: from ``clip_lonlat``, or from
the parks of a parks file (``parks.file``: read by id or within the clip box). Parks derived from
OSM land use need the OSM sources first. The other sources (vector, BGT, raster) are then read
only around the region (spatial filters and raster windows), so a national source serving
thousands of park regions is never read whole per region.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.warp
import shapely
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError, unreadable
from werkland.forking import background_thread
from werkland.landcover.bgt import read_bgt
from werkland.landcover.osm import read_osm_pbf
from werkland.landcover.overlay import polygonize_classes, rasterize_landcover, resolve_overlaps
from werkland.landcover.parks import derive_parks, read_parks_file
from werkland.landcover.raster_source import read_raster_classes
from werkland.landcover.vector import max_half_width, read_vector_classes
from werkland.params.landcover import LandcoverParams, LandcoverSource, ParksParams
from werkland.raster.crs import choose_metric_crs
from werkland.raster.io import Grid
from werkland.tables import Legend

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]
_FIX_SOURCES = "check land_cover sources in the config"
_LINE_COLUMNS = ["class", "kind", "road_class", "width_m", "bridge", "source", "osm_id", "geometry"]


@dataclass
class RegionLandcover:
    """The harmonised land cover of a region (what :func:`werkland.landcover.run_landcover` writes).

    Attributes
    ----------
    region : GeoDataFrame
        One polygon: the parks buffered by the context buffer (within the clip box).
    parks : GeoDataFrame
        ``park_id``, ``name``, ``area_m2``.
    landcover : GeoDataFrame
        Non-overlapping polygons tiling the region: ``class``, ``source``, ``source_file``, ``area_m2``.
    lines : GeoDataFrame
        Centre lines of linear classes and fences/walls inside the region.
    codes : numpy.ndarray of uint8
        The class raster on ``grid``.
    grid : Grid
    crs : pyproj.CRS
    counts : dict
        What was read, repaired and dropped.
    """

    region: gpd.GeoDataFrame
    parks: gpd.GeoDataFrame
    landcover: gpd.GeoDataFrame
    lines: gpd.GeoDataFrame
    codes: np.ndarray
    grid: Grid
    crs: CRS
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Frame:
    """Where the region lies before its sources are read."""

    crs: CRS
    read_box: BBox | None  # lon/lat box of the OSM reads (None: whole file)
    clip: shapely.Geometry | None  # clip box in ``crs``
    parks: gpd.GeoDataFrame | None  # parks from parks.file (in ``crs``, before clipping)
    origin: str  # what decides the extent (for messages): "config: clip_lonlat", the parks file or ""


@dataclass
class _Sources:
    """What the sources gave, in configuration order."""

    polygons: list[gpd.GeoDataFrame] = field(default_factory=list)
    lines: list[gpd.GeoDataFrame] = field(default_factory=list)
    raw_polygons: list[gpd.GeoDataFrame] = field(default_factory=list)
    background: np.ndarray | None = None
    owner: np.ndarray | None = None
    raster_files: list[str] = field(default_factory=list)


def source_lonlat_bounds(sources: Sequence[LandcoverSource]) -> BBox:
    """Bounds in degrees of the first land-cover source with a readable extent (picks the CRS when
    ``crs: auto`` and neither ``clip_lonlat`` nor ``parks.file`` places the region)."""
    usable = [s for s in sources if s.type != "bgt"]
    if not usable:
        raise WerklandInputError("cannot place the region from a BGT source alone", path="config: land_cover",
                                 fix="give clip_lonlat or parks.file for this region")
    src = usable[0]
    p = src.path
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix=_FIX_SOURCES)
    try:
        if src.type == "raster":
            with rasterio.open(p) as ds:
                if ds.crs is None:
                    raise WerklandInputError("raster has no CRS", path=p, fix="assign one with gdal_edit.py -a_srs")
                b = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        else:
            info = pyogrio.read_info(p, layer="multipolygons" if src.type == "osm" else src.layer,
                                     force_total_bounds=True)
            b = info["total_bounds"]
            if src.type != "osm":
                if info["crs"] is None:
                    raise WerklandInputError("vector layer has no CRS", path=p, fix="write the file with its CRS")
                b = Transformer.from_crs(info["crs"], 4326, always_xy=True).transform_bounds(*b)
    except WerklandInputError:
        raise
    except Exception as exc:
        raise unreadable("the file", exc, p, "check the file is complete and of the type given in the config") from exc
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _clip_geometry(clip: BBox, crs: CRS) -> shapely.Geometry:
    return gpd.GeoSeries([shapely.box(*clip)], crs=4326).to_crs(crs).iloc[0]


def _check_clip(clip: BBox) -> None:
    w, s, e, n = clip
    if not (w < e and s < n):
        raise WerklandInputError(f"clip box {list(clip)} is empty", path="config: clip_lonlat",
                                 fix="give [west, south, east, north] in degrees")


def _frame(params: LandcoverParams) -> _Frame:
    """CRS, OSM read box, clip box and (from a parks file) the parks, before any source is read."""
    pk = params.parks
    if pk.file and not params.clip_lonlat:
        # one region per park (or per user polygon): read only the data around these parks
        parks_ll = read_parks_file(pk.file, id_field=pk.id_field, crs=CRS.from_epsg(4326), name_field=pk.name_field,
                                   ids=pk.ids)
        crs = choose_metric_crs(tuple(float(v) for v in parks_ll.total_bounds), params.crs)  # type: ignore[arg-type]
        parks = parks_ll.to_crs(crs).assign(area_m2=lambda d: d.geometry.area)
        grown = shapely.box(*parks.total_bounds).buffer(params.context_buffer_m + 2 * params.resolution_m)
        ext = gpd.GeoSeries([grown], crs=crs).to_crs(4326).total_bounds
        return _Frame(crs, tuple(float(v) for v in ext), None, parks, pk.file)  # type: ignore[arg-type]
    clip = params.clip_lonlat
    if clip:
        _check_clip(clip)
    crs = choose_metric_crs(clip if clip else source_lonlat_bounds(params.sources), params.crs)
    clip_geom = _clip_geometry(clip, crs) if clip else None
    parks = None
    if pk.file:
        parks = read_parks_file(pk.file, id_field=pk.id_field, crs=crs, name_field=pk.name_field, ids=pk.ids,
                                bbox_lonlat=clip)
    return _Frame(crs, clip, clip_geom, parks, "config: clip_lonlat" if clip else "")


def _no_osm_error(path: str, frame: _Frame) -> WerklandInputError:
    box = [round(v, 5) for v in frame.read_box or ()]
    if frame.origin == "config: clip_lonlat":
        return WerklandInputError(
            f"no OpenStreetMap features of {path} inside the clip box {box} (lon/lat)", path="config: clip_lonlat",
            fix="check the clip box lies inside the extract (order: west, south, east, north)")
    return WerklandInputError(
        f"the parks lie outside the land-cover data: {path} has no OpenStreetMap features in their box {box} "
        "(lon/lat: parks plus context buffer)", path=frame.origin,
        fix="check that parks.file (and parks.ids) and the land_cover sources cover the same area")


def _read_osm_sources(params: LandcoverParams, legend: Legend, frame: _Frame, counts: dict[str, int],
                      out: _Sources) -> None:
    """The OSM sources (within the read box), before the parks: they may be derived from them."""
    for src in params.sources:
        if src.type != "osm":
            continue
        p, ln, raw = read_osm_pbf(src.path, legend=legend, crs=frame.crs, clip_lonlat=frame.read_box, counts=counts)
        if p.empty and ln.empty and raw.empty:
            raise _no_osm_error(src.path, frame)
        out.polygons.append(p)
        out.lines.append(ln)
        out.raw_polygons.append(raw)


def _parks(pk: ParksParams, frame: _Frame, sources: _Sources) -> gpd.GeoDataFrame:
    """The region's parks (from the file or derived from OSM land use), within the clip box."""
    if frame.parks is not None:
        parks = frame.parks
    else:
        if not sources.raw_polygons:
            raise WerklandInputError("parks can only be derived from land use in OSM sources",
                                     path="config: parks", fix="give parks.file with park polygons and an id field")
        parks = derive_parks(pd.concat(sources.raw_polygons, ignore_index=True), landuse=pk.from_landuse,
                             min_area_m2=pk.min_area_m2, names=pk.names)
    if frame.clip is not None and not parks.empty:
        parks = parks.assign(geometry=parks.geometry.intersection(frame.clip))
        parks = parks[~parks.geometry.is_empty & (parks.geometry.area > 0)]
        parks = parks.assign(area_m2=parks.geometry.area)
    if parks.empty:
        raise WerklandInputError(
            "no business parks found in the region", path=pk.file or "config: parks",
            fix="check parks.from_landuse / parks.names, or give parks.file; the region must overlap its data",
        )
    return parks


def _region_geometry(parks: gpd.GeoDataFrame, frame: _Frame, buffer_m: float) -> shapely.Geometry:
    geom = shapely.union_all(parks.geometry.buffer(buffer_m).values)
    if frame.clip is not None:
        geom = shapely.intersection(geom, frame.clip)
    return shapely.make_valid(geom)


def _read_around_region(params: LandcoverParams, legend: Legend, crs: CRS, region: shapely.Geometry, grid: Grid,
                        counts: dict[str, int], out: _Sources) -> None:
    """Vector, BGT and raster sources, read only around the region (in configuration order)."""
    polygons: list[gpd.GeoDataFrame] = []
    osm = iter(out.polygons)
    for src in params.sources:
        if src.type == "osm":
            polygons.append(next(osm))
        elif src.type == "vector":
            polygons.append(read_vector_classes(src.path, class_field=str(src.class_field),
                                                mapping=_inline_mapping(src), legend=legend, crs=crs, layer=src.layer,
                                                counts=counts, region=region))
        elif src.type == "bgt":
            grown = tuple(float(v) for v in shapely.bounds(region.buffer(max_half_width(legend) + 1.0)))
            bgt = read_bgt(src.path, legend=legend, crs=crs, bbox=grown, bbox_crs=crs, region=region,
                           mapping_path=src.mapping if isinstance(src.mapping, str) else None, counts=counts)
            polygons.append(bgt.assign(source_file=Path(src.path).name))
        else:
            codes = read_raster_classes(src.path, mapping=_inline_mapping(src) or {}, legend=legend, grid=grid,
                                        region=region)
            _add_background(out, codes, Path(src.path).name)
    out.polygons = polygons


def _inline_mapping(src: LandcoverSource) -> dict[Any, Any] | None:
    """The value -> class mapping of a vector or raster source (``None``: values are class names)."""
    if isinstance(src.mapping, str):
        raise WerklandInputError(f"a {src.type} source needs mapping: value -> legend class, not a file name",
                                 path=src.path, fix="give the mapping inline in the land_cover source")
    return dict(src.mapping) if src.mapping is not None else None


def _add_background(out: _Sources, codes: np.ndarray, name: str) -> None:
    """Raster codes where the earlier rasters have none (the first raster source wins)."""
    idx = len(out.raster_files)
    out.raster_files.append(name)
    if out.background is None:
        out.background, out.owner = codes, np.zeros(codes.shape, dtype=np.int32)
        return
    assert out.owner is not None
    take = (out.background == 0) & (codes > 0)
    out.owner = np.where(take, idx, out.owner)
    out.background = np.where(out.background > 0, out.background, codes)


def _features(polygons: list[gpd.GeoDataFrame], crs: CRS) -> gpd.GeoDataFrame:
    if not polygons:
        return gpd.GeoDataFrame(columns=["class", "source", "source_file", "geometry"], geometry="geometry", crs=crs)
    return gpd.GeoDataFrame(pd.concat(polygons, ignore_index=True), geometry="geometry", crs=crs)


def _check_data_in_region(in_region: np.ndarray, sources: _Sources, params: LandcoverParams, frame: _Frame) -> None:
    if sources.background is not None or in_region.any():
        return
    files = ", ".join(s.path for s in params.sources)
    where = {"config: clip_lonlat": "the clip box (config: clip_lonlat)", "": "the region"}.get(
        frame.origin, f"the parks of {frame.origin}")
    raise WerklandInputError(
        f"the land-cover data do not overlap the region: no feature of {files} lies in {where}",
        path=frame.origin or params.sources[0].path,
        fix="check the parks and the land-cover sources cover the same area",
    )


def _region_lines(lines: list[gpd.GeoDataFrame], region: shapely.Geometry, crs: CRS) -> gpd.GeoDataFrame:
    gdf = pd.concat(lines, ignore_index=True) if lines else gpd.GeoDataFrame(
        columns=_LINE_COLUMNS, geometry="geometry", crs=crs)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=crs)
    gdf = gdf.clip(region) if len(gdf) else gdf
    gdf = gdf[gdf.geometry.geom_type.isin(["LineString", "MultiLineString"])].explode(index_parts=False)
    return gdf.reset_index(drop=True)


def build_region(params: LandcoverParams, legend: Legend) -> RegionLandcover:
    """Read all land-cover sources of a region and harmonise them.

    Steps: place the region (:func:`_frame`), read the OSM sources, find the parks, build the
    region and its grid, read the other sources around it, resolve overlaps, rasterise.

    Parameters
    ----------
    params : LandcoverParams
        The region's land-cover settings (sources, parks, CRS, resolution, buffer, clip box, fill).
    legend : Legend

    Returns
    -------
    RegionLandcover

    Raises
    ------
    WerklandInputError
        Bad or missing sources and parks, sources without data in the region (naming the file and
        what placed the region), values without a legend class inside the region.
    """
    if not params.sources:
        raise WerklandInputError("no land-cover sources", path="config: land_cover", fix="list at least one source")
    counts: dict[str, int] = {}
    frame = _frame(params)
    sources = _Sources()
    _read_osm_sources(params, legend, frame, counts, sources)
    parks = _parks(params.parks, frame, sources)
    region_geom = _region_geometry(parks, frame, params.context_buffer_m)
    shapely.prepare(region_geom)  # every feature is tested against it (same answers, indexed)
    grid = Grid.from_bounds(region_geom.bounds, params.resolution_m, frame.crs)
    _read_around_region(params, legend, frame.crs, region_geom, grid, counts, sources)
    features = _features(sources.polygons, frame.crs)
    in_region = shapely.intersects(features.geometry.values, region_geom) if len(features) else np.zeros(0, bool)
    _check_data_in_region(in_region, sources, params, frame)
    under = None
    if sources.background is not None:
        assert sources.owner is not None
        under = polygonize_classes(sources.background, sources.owner, grid, legend, sources.raster_files)
    log.info("resolving overlaps of %d features by priority", len(features))
    inside = features[in_region]
    # the class raster is burnt from the features (not from the polygons): on its own thread while
    # the overlay runs, in the background: the overlay's priority chain is the critical path
    with ThreadPoolExecutor(max_workers=1, initializer=background_thread) as pool:
        burnt = pool.submit(rasterize_landcover, inside, legend, grid, region_geom,
                            background=sources.background, fill_class=params.fill_class)
        landcover = resolve_overlaps(features, legend, region_geom, fill_class=params.fill_class, under=under)
        codes = burnt.result()
    region = gpd.GeoDataFrame({"region_area_m2": [region_geom.area], "crs": [frame.crs.to_string()]},
                              geometry=[region_geom], crs=frame.crs)
    counts["landcover_polygons"] = len(landcover)
    counts["cells_inside_region"] = int((codes > 0).sum())
    return RegionLandcover(region=region, parks=parks, landcover=landcover,
                           lines=_region_lines(sources.lines, region_geom, frame.crs), codes=codes, grid=grid,
                           crs=frame.crs, counts=counts)


__all__ = ["RegionLandcover", "build_region", "source_lonlat_bounds"]
