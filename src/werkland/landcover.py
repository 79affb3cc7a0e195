"""Land-cover harmonisation: OpenStreetMap PBF, vector layers and rasters into one legend.

The readers turn each source into features with a legend ``class`` and a ``source`` label; the
harmoniser resolves overlaps by the legend's priority (higher wins), clips to the region, writes a
polygon layer and a uint8 class raster on the region grid.

Line features (roads, railways, waterways, hedges) are buffered to the total width given per class in
the legend (``width_m``), with per-tag overrides below (e.g. a canal is wider than a ditch).

References
----------
OpenStreetMap tags: https://wiki.openstreetmap.org/wiki/Map_features (ODbL data,
"(c) OpenStreetMap contributors").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.features
import rasterio.warp
import shapely
from pyproj import CRS
from rasterio.enums import Resampling

from werkland._errors import WerklandInputError
from werkland.raster.crs import assert_metric, choose_metric_crs
from werkland.raster.io import Grid, read_raster, write_raster
from werkland.tables import Legend

log = logging.getLogger(__name__)

#: Nodata code of landcover.tif (outside the region).
NODATA_CODE = 0

# --- OpenStreetMap tag -> legend class rules -------------------------------------------------
# Polygon rules are tried in order; the first matching rule gives the class.  Each rule is
# (column, set of values or None for "any non-empty value except 'no'", class).
_POLYGON_RULES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("building", None, "building"),
    ("amenity", frozenset({"parking"}), "parking"),
    ("parking", frozenset({"surface", "multi-storey", "rooftop"}), "parking"),
    ("landuse", frozenset({"railway"}), "railway"),
    ("natural", frozenset({"water"}), "open_water"),
    ("water", None, "open_water"),
    ("landuse", frozenset({"reservoir", "basin"}), "open_water"),
    ("waterway", frozenset({"riverbank", "dock", "canal"}), "open_water"),
    ("leisure", frozenset({"swimming_pool", "marina"}), "open_water"),
    ("natural", frozenset({"wetland"}), "wetland"),
    ("wetland", None, "wetland"),
    ("landuse", frozenset({"forest"}), "woodland"),
    ("natural", frozenset({"wood"}), "woodland"),
    ("natural", frozenset({"scrub", "shrubbery", "heath"}), "shrub"),
    ("landuse", frozenset({"orchard", "vineyard", "plant_nursery"}), "shrub"),
    ("natural", frozenset({"grassland"}), "meadow"),
    ("landuse", frozenset({"meadow"}), "meadow"),
    ("landuse", frozenset({"flowerbed", "allotments", "cemetery"}), "garden"),
    ("leisure", frozenset({"garden", "playground"}), "garden"),
    ("leisure", frozenset({"pitch", "track"}), "grass"),
    ("landuse", frozenset({"grass", "recreation_ground", "village_green", "greenfield"}), "grass"),
    ("leisure", frozenset({"park", "golf_course", "dog_park", "common"}), "grass"),
    ("landuse", frozenset({"farmland", "greenhouse_horticulture"}), "cropland"),
    ("landuse", frozenset({"construction", "brownfield", "landfill", "quarry"}), "bare"),
    ("natural", frozenset({"sand", "bare_rock", "scree", "beach"}), "bare"),
    ("highway", frozenset({"pedestrian", "footway", "service"}), "sealed"),
    ("area:highway", None, "sealed"),
    ("place", frozenset({"square"}), "sealed"),
    ("amenity", frozenset({"marketplace", "fuel"}), "sealed"),
    (
        "landuse",
        frozenset({"industrial", "commercial", "retail", "residential", "education", "farmyard",
                   "institutional", "military", "port", "depot", "garages"}),
        "built_area",
    ),
    ("amenity", frozenset({"university", "school", "college", "hospital"}), "built_area"),
)
#: Polygon surfaces that override a green class for sports pitches and similar.
_SEALED_SURFACES = frozenset({"asphalt", "concrete", "paving_stones", "paved", "sett", "artificial_turf",
                              "tartan", "concrete:plates", "bricks", "metal"})

# Line rules: (column, values, class, width override in metres or None for the legend width).
_LINE_RULES: tuple[tuple[str, frozenset[str], str, float | None], ...] = (
    ("highway", frozenset({"motorway", "motorway_link"}), "road_motorway", None),
    ("highway", frozenset({"trunk", "trunk_link"}), "road_main", 18.0),
    ("highway", frozenset({"primary", "primary_link", "secondary", "secondary_link"}), "road_main", None),
    ("highway", frozenset({"tertiary", "tertiary_link", "unclassified", "residential", "living_street",
                           "service", "road", "busway"}), "road_minor", None),
    ("highway", frozenset({"track", "path", "footway", "cycleway", "bridleway", "pedestrian", "steps"}),
     "track_path", None),
    ("railway", frozenset({"rail", "light_rail", "narrow_gauge", "subway", "tram", "preserved"}), "railway", None),
    ("waterway", frozenset({"river"}), "waterway", 20.0),
    ("waterway", frozenset({"canal"}), "waterway", 15.0),
    ("waterway", frozenset({"stream", "tidal_channel"}), "waterway", 4.0),
    ("waterway", frozenset({"ditch", "drain"}), "waterway", 2.0),
    ("barrier", frozenset({"hedge"}), "hedgerow", 2.5),
    ("natural", frozenset({"tree_row"}), "hedgerow", 6.0),
)
#: Linear features without a land-cover class of their own, kept for the barrier stage.
_LINEAR_BARRIER_TAGS = frozenset({"fence", "wall", "retaining_wall", "city_wall", "guard_rail", "jersey_barrier"})
#: Crown diameter of a mapped single tree (natural=tree), metres (estimate: young-to-mature street tree).
TREE_CROWN_DIAMETER_M = 8.0

_OSM_EXTRA_TAGS = ("surface", "water", "wetland", "tunnel", "bridge", "layer", "location", "railway",
                   "area:highway", "parking", "natural", "landuse", "leisure", "covered", "indoor")


def _extract_tags(other_tags: pd.Series, keys: Sequence[str]) -> pd.DataFrame:
    """Vectorised extraction of hstore ``"k"=>"v"`` pairs from GDAL's OSM ``other_tags`` column."""
    s = other_tags.fillna("")
    out = {}
    for key in keys:
        pat = r'"' + key.replace(":", r"\:") + r'"=>"([^"]*)"'
        out[key] = s.str.extract(pat, expand=False)
    return pd.DataFrame(out, index=other_tags.index)


def _read_osm_layer(path: str, layer: str, bbox: tuple[float, float, float, float] | None,
                    counts: dict[str, int]) -> gpd.GeoDataFrame:
    try:
        df = pyogrio.read_dataframe(path, layer=layer, bbox=bbox, on_invalid="fix")
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError with GDAL text
        raise WerklandInputError(
            f"cannot read OSM layer {layer!r} ({str(exc).splitlines()[0][:200]})",
            path=path,
            fix="check the file is a complete .osm.pbf (re-download or re-cut it with osmium extract)",
        ) from exc
    n_null = int(df.geometry.isna().sum())
    counts[f"osm_{layer}_read"] = len(df)
    if n_null:
        counts[f"osm_{layer}_dropped_unrepairable"] = n_null
        df = df[df.geometry.notna()]
    if df.crs is None:
        df = df.set_crs(4326)
    return df


def _repair(gdf: gpd.GeoDataFrame, counts: dict[str, int], label: str) -> gpd.GeoDataFrame:
    """Repair invalid polygons with make_valid, keep polygonal parts, count repairs."""
    invalid = ~gdf.geometry.is_valid
    n = int(invalid.sum())
    if n:
        counts[f"{label}_repaired"] = counts.get(f"{label}_repaired", 0) + n
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].values)
    geoms = gdf.geometry.values
    # keep polygonal parts only (make_valid can return collections with lines/points)
    types = shapely.get_type_id(geoms)
    mixed = types == 7
    if mixed.any():
        geoms = geoms.copy()
        for i in np.flatnonzero(mixed):
            parts = [g for g in shapely.get_parts(geoms[i]) if shapely.get_type_id(g) in (3, 6)]
            geoms[i] = shapely.union_all(parts) if parts else None
        gdf = gdf.copy()
        gdf["geometry"] = geoms
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    dropped = int((~keep).sum())
    if dropped:
        counts[f"{label}_dropped_non_polygonal"] = counts.get(f"{label}_dropped_non_polygonal", 0) + dropped
    return gdf[keep]


def classify_osm_polygons(df: pd.DataFrame) -> pd.Series:
    """Legend class of each OSM multipolygon (``None`` where no rule applies).

    Parameters
    ----------
    df : pandas.DataFrame
        GDAL OSM ``multipolygons`` columns plus tags extracted from ``other_tags``.

    Returns
    -------
    pandas.Series of str or None
    """
    cls = pd.Series(pd.NA, index=df.index, dtype="object")
    for col, values, name in _POLYGON_RULES:
        if col not in df.columns:
            continue
        v = df[col]
        hit = v.notna() & (v != "no") if values is None else v.isin(values)
        cls = cls.where(cls.notna() | ~hit, name)
    # sports pitches and similar with a sealed surface
    if "surface" in df.columns:
        sealed_surface = df["surface"].isin(_SEALED_SURFACES) & cls.isin(["grass", "garden", "bare"])
        cls = cls.where(~sealed_surface, "sealed")
    # underground parking and covered structures are not surface land cover
    if "location" in df.columns:
        underground = df["location"].isin(["underground"]) | (df.get("parking") == "underground")
        cls = cls.where(~underground, pd.NA)
    return cls


def classify_osm_lines(df: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Legend class, kind (the OSM tag value) and width override of each OSM line.

    Tunnels and underground lines are skipped (they do not cut the surface); disused and
    abandoned railways are not railways.

    Returns
    -------
    cls, kind, width_override : pandas.Series
    """
    cls = pd.Series(pd.NA, index=df.index, dtype="object")
    kind = pd.Series(pd.NA, index=df.index, dtype="object")
    width = pd.Series(np.nan, index=df.index, dtype="float64")
    for col, values, name, w in _LINE_RULES:
        if col not in df.columns:
            continue
        hit = df[col].isin(values) & cls.isna()
        cls = cls.where(~hit, name)
        kind = kind.where(~hit, col + "=" + df[col].astype("string").fillna(""))
        if w is not None:
            width = width.where(~hit, w)
    tunnel = pd.Series(False, index=df.index)
    if "tunnel" in df.columns:
        tunnel |= df["tunnel"].notna() & (df["tunnel"] != "no")
    if "layer" in df.columns:
        layer = pd.to_numeric(df["layer"], errors="coerce")
        tunnel |= layer < 0
    if "location" in df.columns:
        tunnel |= df["location"].isin(["underground"])
    cls = cls.where(~tunnel, pd.NA)
    return cls, kind, width


def read_osm_pbf(
    path: str | os.PathLike[str],
    *,
    legend: Legend,
    crs: CRS,
    clip_lonlat: tuple[float, float, float, float] | None = None,
    counts: dict[str, int] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read an OpenStreetMap PBF extract into legend-classified polygons and lines.

    Parameters
    ----------
    path : path-like
        ``.osm.pbf`` file (GDAL OSM driver).
    legend : Legend
        Target legend (line widths come from it).
    crs : pyproj.CRS
        Metric output CRS.
    clip_lonlat : tuple, optional
        (west, south, east, north) in degrees to read only part of the file.
    counts : dict, optional
        Updated with read/repair/drop counts.

    Returns
    -------
    polygons : GeoDataFrame
        ``class``, ``source``, ``osm_id``, ``landuse``, ``name`` (polygons, incl. buffered lines).
    lines : GeoDataFrame
        Centre lines of linear classes and tagged fences/walls: ``class``, ``kind``, ``road_class``,
        ``width_m``, ``source``.
    raw_polygons : GeoDataFrame
        Unclassified OSM multipolygons with ``landuse`` and ``name`` (used to derive parks).
    """
    path = str(path)
    counts = counts if counts is not None else {}
    if not Path(path).is_file():
        raise WerklandInputError("file not found", path=path, fix="check land_cover sources in the config")
    assert_metric(crs, where="region crs")
    polys = _read_osm_layer(path, "multipolygons", clip_lonlat, counts)
    lines = _read_osm_layer(path, "lines", clip_lonlat, counts)
    points = _read_osm_layer(path, "points", clip_lonlat, counts)
    if len(polys) + len(lines) == 0:
        raise WerklandInputError(
            "no OpenStreetMap features in the region", path=path,
            fix="check the region's clip box / parks lie inside the extract (lon/lat order: west, south, east, north)",
        )
    # polygons
    ptags = _extract_tags(polys["other_tags"], _OSM_EXTRA_TAGS)
    pdf = polys.drop(columns=["other_tags"]).copy()
    for col in ptags.columns:
        if col not in pdf.columns:
            pdf[col] = ptags[col]
    pdf["class"] = classify_osm_polygons(pdf)
    raw_polygons = gpd.GeoDataFrame(
        {"osm_id": pdf["osm_way_id"].fillna(pdf["osm_id"]).astype(str), "landuse": pdf["landuse"],
         "name": pdf["name"]}, geometry=pdf.geometry.values, crs=polys.crs,
    ).to_crs(crs)
    raw_polygons = _repair(raw_polygons, counts, "osm_polygons")
    pdf = pdf[pdf["class"].notna()]
    poly_out = gpd.GeoDataFrame(
        {"class": pdf["class"].astype(str), "source": "osm",
         "osm_id": pdf["osm_way_id"].fillna(pdf["osm_id"]).astype(str)},
        geometry=pdf.geometry.values, crs=polys.crs,
    ).to_crs(crs)
    poly_out = _repair(poly_out, counts, "osm_polygons")
    # lines
    ltags = _extract_tags(lines["other_tags"], ("tunnel", "layer", "location", "natural", "bridge"))
    ldf = lines.drop(columns=["other_tags"]).copy()
    for col in ltags.columns:
        if col not in ldf.columns:
            ldf[col] = ltags[col]
    lcls, kind, width = classify_osm_lines(ldf)
    fence = ldf["barrier"].isin(_LINEAR_BARRIER_TAGS) if "barrier" in ldf.columns else pd.Series(False, index=ldf.index)
    keep = lcls.notna() | fence
    ldf = ldf[keep]
    legend_width = {c.name: c.width_m for c in legend.classes}
    cls_keep = lcls[keep]
    widths = width[keep].copy()
    missing_width = widths.isna() & cls_keep.notna()
    widths[missing_width] = cls_keep[missing_width].map(legend_width).astype(float)
    road_class = ldf["highway"].where(cls_keep.isin(["road_motorway", "road_main", "road_minor", "track_path"]))
    line_out = gpd.GeoDataFrame(
        {
            "class": cls_keep.astype("object").where(cls_keep.notna(), None),
            "kind": kind[keep].where(kind[keep].notna(), "barrier=" + ldf["barrier"].astype("string").fillna("")),
            "road_class": road_class.astype("object").where(road_class.notna(), None),
            "width_m": widths.fillna(0.5),
            "bridge": ldf["bridge"].notna() & (ldf["bridge"] != "no"),
            "source": "osm",
            "osm_id": ldf["osm_id"].astype(str),
        },
        geometry=ldf.geometry.values,
        crs=lines.crs,
    ).to_crs(crs)
    line_out = line_out[line_out.geometry.notna() & line_out.geometry.is_valid & ~line_out.geometry.is_empty]
    buffered = line_out[line_out["class"].notna()]
    buf_polys = gpd.GeoDataFrame(
        {"class": buffered["class"].astype(str), "source": "osm", "osm_id": buffered["osm_id"]},
        geometry=shapely.buffer(buffered.geometry.values, buffered["width_m"].to_numpy() / 2.0, cap_style="flat"),
        crs=crs,
    )
    # single trees as crowns (woody elements, counted with hedgerow / tree row)
    trees = points[points["other_tags"].fillna("").str.contains('"natural"=>"tree"', regex=False)]
    counts["osm_trees"] = len(trees)
    tree_polys = gpd.GeoDataFrame(
        {"class": "hedgerow", "source": "osm", "osm_id": trees["osm_id"].astype(str)},
        geometry=trees.geometry.values, crs=points.crs,
    ).to_crs(crs)
    tree_polys["geometry"] = tree_polys.geometry.buffer(TREE_CROWN_DIAMETER_M / 2.0, quad_segs=4)
    out = pd.concat([poly_out, buf_polys, tree_polys], ignore_index=True)
    counts["osm_features_classified"] = len(out)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs), line_out.reset_index(drop=True), raw_polygons


def read_vector_classes(
    path: str | os.PathLike[str],
    *,
    class_field: str,
    mapping: Mapping[str, str] | None,
    legend: Legend,
    crs: CRS,
    layer: str | None = None,
    counts: dict[str, int] | None = None,
) -> gpd.GeoDataFrame:
    """Read any vector layer with a class column, mapping its values to legend classes.

    Parameters
    ----------
    path : path-like
        Any OGR vector file (GeoPackage, Shapefile, GeoJSON, ...).
    class_field : str
        Column holding the source class.
    mapping : mapping or None
        Source value -> legend class name. ``None`` means the values are legend names already.
        Values mapped to ``null``/``None`` are skipped on purpose.
    legend : Legend
    crs : pyproj.CRS
        Metric output CRS.
    layer : str, optional
        Layer name for multi-layer files.

    Returns
    -------
    GeoDataFrame with ``class`` and ``source``; lines and points are buffered by the class width
    (or 1 m) so they take up area.

    Raises
    ------
    WerklandInputError
        Missing file, missing field, values without a mapping, no CRS.
    """
    p = str(path)
    counts = counts if counts is not None else {}
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix="check land_cover sources in the config")
    try:
        gdf = pyogrio.read_dataframe(p, layer=layer, on_invalid="fix")
    except Exception as exc:
        raise WerklandInputError(
            f"cannot read vector data ({str(exc).splitlines()[0][:200]})", path=p,
            fix="check the file is a complete vector dataset GDAL can open",
        ) from exc
    if class_field not in gdf.columns:
        raise WerklandInputError(
            f"has no field {class_field!r} (fields: {', '.join(map(str, gdf.columns.drop('geometry')))})",
            path=p, fix="set class_field in the land_cover source to an existing column",
        )
    if gdf.crs is None:
        raise WerklandInputError("vector layer has no CRS", path=p, fix="write the file with its CRS (e.g. a .prj)")
    values = gdf[class_field].astype(str)
    if mapping is None:
        unknown = sorted(set(values) - set(legend.names))
        mapped = values
    else:
        mapping = {str(k): v for k, v in mapping.items()}
        unknown = sorted(set(values) - set(mapping))
        mapped = values.map(mapping)
    if unknown:
        raise WerklandInputError(
            f"field {class_field!r} has values without a legend class: {', '.join(repr(u) for u in unknown[:10])}"
            + (" ..." if len(unknown) > 10 else ""),
            path=p, fix="add them to the source's mapping (value: legend class, or null to skip)",
        )
    for name in sorted(set(mapped.dropna())):
        legend.code(name, where=f"{p}: mapping")
    gdf = gdf.assign(**{"class": mapped})[mapped.notna()]
    gdf = gdf.to_crs(crs)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    widths = {c.name: (c.width_m or 1.0) for c in legend.classes}
    is_poly = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if (~is_poly).any():
        w = gdf.loc[~is_poly, "class"].map(widths).to_numpy(dtype=float)
        gdf.loc[~is_poly, "geometry"] = shapely.buffer(gdf.geometry[~is_poly].values, w / 2.0, cap_style="flat")
    gdf = gpd.GeoDataFrame({"class": gdf["class"].astype(str), "source": f"vector:{Path(p).name}"},
                           geometry=gdf.geometry.values, crs=crs)
    counts[f"vector_{Path(p).name}_read"] = len(gdf)
    return _repair(gdf, counts, f"vector_{Path(p).name}")


def read_raster_classes(
    path: str | os.PathLike[str],
    *,
    mapping: Mapping[int, str | None],
    legend: Legend,
    grid: Grid,
) -> np.ndarray:
    """Read a categorical land-cover raster onto the region grid (nearest neighbour) as legend codes.

    Parameters
    ----------
    path : path-like
        Any GDAL raster with a CRS (e.g. ESA WorldCover).
    mapping : mapping
        Raster value -> legend class name (``None`` to treat as no data).
    legend : Legend
    grid : Grid
        Target grid.

    Returns
    -------
    numpy.ndarray of uint8
        Legend codes, 0 where the raster has no data or no mapping.
    """
    arr, src_grid, nodata = read_raster(path)
    values = np.unique(arr)
    if nodata is not None:
        values = values[values != nodata]
    mapping = {int(k): v for k, v in mapping.items()}
    unknown = sorted(int(v) for v in values if int(v) not in mapping)
    if unknown:
        raise WerklandInputError(
            f"raster values without a legend class: {unknown[:10]}", path=str(path),
            fix="add them to the source's mapping (value: legend class, or null for no data)",
        )
    lut = np.zeros(max(int(values.max(initial=0)), max(mapping)) + 1, dtype=np.uint8)
    for k, name in mapping.items():
        if name is not None and k >= 0:
            lut[k] = legend.code(name, where=f"{path}: mapping")
    src_codes = np.where(arr == nodata, 0, lut[np.clip(arr, 0, len(lut) - 1).astype(np.int64)]) if nodata is not None \
        else lut[np.clip(arr, 0, len(lut) - 1).astype(np.int64)]
    out = np.zeros(grid.shape, dtype=np.uint8)
    rasterio.warp.reproject(
        source=src_codes.astype(np.uint8),
        destination=out,
        src_transform=src_grid.transform,
        src_crs=rasterio.crs.CRS.from_wkt(src_grid.crs.to_wkt()),
        dst_transform=grid.transform,
        dst_crs=rasterio.crs.CRS.from_wkt(grid.crs.to_wkt()),
        src_nodata=0,
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    if not out.any():
        raise WerklandInputError(
            "raster does not overlap the region", path=str(path),
            fix="check the raster covers the parks plus context buffer (and that its CRS is right)",
        )
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (overlay results can contain lines and points)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def _polygon_parts(geom: shapely.Geometry) -> list[shapely.Geometry]:
    return [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and p.area > 0]


def resolve_overlaps(features: gpd.GeoDataFrame, legend: Legend, region: shapely.Geometry,
                     fill_class: str | None = None) -> gpd.GeoDataFrame:
    """Resolve overlaps by legend priority and clip to the region.

    Features are dissolved per (class, source); from the highest priority down, each class keeps
    what no higher-priority class already covers. With ``fill_class``, the rest of the region gets
    that class (source ``fill``), so the polygons tile the region like the raster does.

    Returns
    -------
    GeoDataFrame
        Non-overlapping polygons with ``class``, ``source``, ``area_m2`` (m², in the layer CRS).
    """
    prio = {c.name: c.priority for c in legend.classes}
    feats = features[features.geometry.intersects(region)] if len(features) else features
    rows: list[dict[str, Any]] = []
    covered: shapely.Geometry = shapely.Polygon()
    grid_size = 0.01  # 1 cm precision grid keeps overlay robust
    groups = sorted(feats.groupby(["class", "source"]), key=lambda kv: (-prio[kv[0][0]], kv[0][1]))
    region = _polygonal(region)
    for (cls, src), grp in groups:
        geom = _polygonal(shapely.union_all(grp.geometry.values, grid_size=grid_size))
        geom = _polygonal(shapely.intersection(geom, region, grid_size=grid_size))
        if not covered.is_empty and not geom.is_empty:
            geom = _polygonal(shapely.difference(geom, covered, grid_size=grid_size))
        if geom.is_empty:
            continue
        covered = _polygonal(shapely.union(covered, geom, grid_size=grid_size))
        rows.extend({"class": cls, "source": src, "geometry": part} for part in _polygon_parts(geom))
    if fill_class is not None:
        legend.code(fill_class, where="config: fill_class")
        rest = _polygonal(shapely.difference(region, covered, grid_size=grid_size))
        rows.extend({"class": fill_class, "source": "fill", "geometry": part} for part in _polygon_parts(rest))
    gdf = gpd.GeoDataFrame(rows, columns=["class", "source", "geometry"], geometry="geometry", crs=features.crs)
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
    for cls in sorted(legend.classes, key=lambda c: c.priority):
        geoms = features.geometry.values[(features["class"] == cls.name).to_numpy()]
        if len(geoms) == 0:
            continue
        mask = rasterio.features.geometry_mask(
            geoms, out_shape=grid.shape, transform=grid.transform, invert=True, all_touched=cls.continuous
        )
        out[mask] = cls.code
    inside = rasterio.features.geometry_mask([region], out_shape=grid.shape, transform=grid.transform, invert=True)
    out[~inside] = NODATA_CODE
    return out


def derive_parks(
    raw_polygons: gpd.GeoDataFrame,
    *,
    landuse: Sequence[str],
    min_area_m2: float,
    names: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Business parks from OSM ``landuse`` polygons (e.g. industrial, commercial).

    Touching polygons of the listed land uses are merged into one park; parks under
    ``min_area_m2`` are dropped. The park id is ``osm`` + the smallest OSM id in the park, so it is
    stable across runs and extracts.

    Returns
    -------
    GeoDataFrame with ``park_id``, ``name``, ``area_m2``.
    """
    sel = raw_polygons[raw_polygons["landuse"].isin(list(landuse))]
    if names:
        sel = sel[sel["name"].isin(list(names))]
    if sel.empty:
        return gpd.GeoDataFrame(columns=["park_id", "name", "area_m2", "geometry"], geometry="geometry",
                                crs=raw_polygons.crs)
    merged = shapely.get_parts(shapely.union_all(sel.geometry.values))
    rows = []
    sidx = sel.sindex
    for geom in merged:
        members = sel.iloc[sidx.query(geom, predicate="intersects")]
        ids = sorted(members["osm_id"], key=lambda s: (len(s), s))
        nm = members["name"].dropna()
        rows.append({"park_id": f"osm{ids[0]}", "name": str(nm.iloc[0]) if len(nm) else "",
                     "area_m2": float(geom.area), "geometry": geom})
    parks = gpd.GeoDataFrame(rows, geometry="geometry", crs=raw_polygons.crs)
    parks = parks[parks["area_m2"] >= min_area_m2].sort_values("park_id").reset_index(drop=True)
    return parks


def read_parks_file(path: str | os.PathLike[str], *, id_field: str, crs: CRS, name_field: str | None = None,
                    ids: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """Read user-supplied park polygons with an id field (optionally only the parks in ``ids``).

    Raises
    ------
    WerklandInputError
        Missing file or field, duplicate or empty ids, no polygons, no CRS.
    """
    p = str(path)
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix="check parks.file in the config")
    try:
        gdf = pyogrio.read_dataframe(p, on_invalid="fix")
    except Exception as exc:
        raise WerklandInputError(f"cannot read parks ({str(exc).splitlines()[0][:200]})", path=p) from exc
    if id_field not in gdf.columns:
        raise WerklandInputError(f"has no field {id_field!r}", path=p, fix="set parks.id_field to the column with park ids")
    if gdf.crs is None:
        raise WerklandInputError("parks layer has no CRS", path=p, fix="write the file with its CRS")
    park_ids = gdf[id_field].astype(str)
    if park_ids.duplicated().any() or (park_ids.str.strip() == "").any():
        raise WerklandInputError(f"field {id_field!r} has duplicate or empty ids", path=p, fix="give every park a unique id")
    if ids is not None:
        wanted = {str(i) for i in ids}
        missing = sorted(wanted - set(park_ids))
        if missing:
            raise WerklandInputError(f"park ids {missing[:5]} not found in field {id_field!r}", path=p,
                                     fix="check the region's parks.ids")
        keep = park_ids.isin(wanted).to_numpy()
        gdf, park_ids = gdf[keep], park_ids[keep]
    ids = park_ids
    gdf = gdf.to_crs(crs)
    counts: dict[str, int] = {}
    out = gpd.GeoDataFrame(
        {"park_id": ids.values, "name": gdf[name_field].astype(str).values if name_field else ""},
        geometry=gdf.geometry.values, crs=crs,
    )
    out = _repair(out, counts, "parks")
    if out.empty:
        raise WerklandInputError("no polygons", path=p, fix="parks must be polygons")
    out["area_m2"] = out.geometry.area
    return out.reset_index(drop=True)


def source_lonlat_bounds(sources: Sequence[Mapping[str, Any]]) -> tuple[float, float, float, float]:
    """Bounds in degrees of the first land-cover source (used to pick the CRS when ``crs: auto``)."""
    src = sources[0]
    p = str(src["path"])
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix="check land_cover sources in the config")
    try:
        if src["type"] == "raster":
            with rasterio.open(p) as ds:
                if ds.crs is None:
                    raise WerklandInputError("raster has no CRS", path=p, fix="assign one with gdal_edit.py -a_srs")
                b = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        else:
            info = pyogrio.read_info(p, layer="multipolygons" if src["type"] == "osm" else src.get("layer"),
                                     force_total_bounds=True)
            b = info["total_bounds"]
            crs = info["crs"]
            if src["type"] != "osm":
                if crs is None:
                    raise WerklandInputError("vector layer has no CRS", path=p, fix="write the file with its CRS")
                from pyproj import Transformer

                tr = Transformer.from_crs(crs, 4326, always_xy=True)
                b = tr.transform_bounds(*b)
    except WerklandInputError:
        raise
    except Exception as exc:
        raise WerklandInputError(
            f"cannot read ({str(exc).splitlines()[0][:200]})", path=p,
            fix="check the file is complete and of the type given in the config",
        ) from exc
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def build_region(
    sources: Sequence[Mapping[str, Any]],
    *,
    legend: Legend,
    crs_setting: str | int,
    resolution_m: float,
    context_buffer_m: float,
    parks_spec: Mapping[str, Any],
    clip_lonlat: Sequence[float] | None = None,
    fill_class: str | None = "grass",
) -> dict[str, Any]:
    """Read all land-cover sources of a region and harmonise them.

    Parameters
    ----------
    sources : sequence of mapping
        Each ``{type: osm|vector|raster, path, ...}``; vector: ``class_field``, ``mapping``,
        ``layer``; raster: ``mapping`` (value -> class).
    legend : Legend
    crs_setting : str or int
        ``"auto"`` or an EPSG code.
    resolution_m : float
        Raster cell size in metres.
    context_buffer_m : float
        Buffer around the parks that forms the analysis region, metres.
    parks_spec : mapping
        ``{from_landuse: [industrial, commercial], min_area_m2, names}`` (OSM sources) or
        ``{file, id_field, name_field}``.
    clip_lonlat : sequence of 4 float, optional
        (west, south, east, north): the region never extends beyond this box.
    fill_class : str, optional
        Class for uncovered cells inside the region.

    Returns
    -------
    dict
        ``region`` (GeoDataFrame, one polygon), ``parks``, ``landcover`` (polygons), ``lines``,
        ``codes`` (uint8 array), ``grid``, ``crs``, ``counts``.
    """
    if not sources:
        raise WerklandInputError("no land-cover sources", path="config: land_cover", fix="list at least one source")
    counts: dict[str, int] = {}
    parks_from_file = None
    if parks_spec.get("file") and not clip_lonlat:
        # one region per park (or per user polygon): read only the data around these parks
        parks_ll = read_parks_file(parks_spec["file"], id_field=parks_spec.get("id_field", "park_id"),
                                   crs=CRS.from_epsg(4326), name_field=parks_spec.get("name_field"),
                                   ids=parks_spec.get("ids"))
        w, s_, e, n = parks_ll.total_bounds
        crs = choose_metric_crs((w, s_, e, n), crs_setting)
        parks_from_file = parks_ll.to_crs(crs).assign(area_m2=lambda d: d.geometry.area)
        ext = gpd.GeoSeries([shapely.box(*parks_from_file.total_bounds).buffer(context_buffer_m + 2 * resolution_m)],
                            crs=crs).to_crs(4326).total_bounds
        read_box: tuple[float, ...] | None = tuple(float(v) for v in ext)
    else:
        bounds = tuple(clip_lonlat) if clip_lonlat else source_lonlat_bounds(sources)
        crs = choose_metric_crs(bounds, crs_setting)  # type: ignore[arg-type]
        read_box = tuple(clip_lonlat) if clip_lonlat else None
    clip_geom = None
    if clip_lonlat:
        w, s, e, n = clip_lonlat
        if not (w < e and s < n):
            raise WerklandInputError(f"clip box {list(clip_lonlat)} is empty", path="config: clip_lonlat",
                                     fix="give [west, south, east, north] in degrees")
        clip_geom = gpd.GeoSeries([shapely.box(w, s, e, n)], crs=4326).to_crs(crs).iloc[0]
    polys: list[gpd.GeoDataFrame] = []
    lines: list[gpd.GeoDataFrame] = []
    raw_parks: list[gpd.GeoDataFrame] = []
    raster_sources = []
    for i, src in enumerate(sources):
        kind = src.get("type")
        if kind == "osm":
            p, ln, raw = read_osm_pbf(src["path"], legend=legend, crs=crs, clip_lonlat=read_box, counts=counts)  # type: ignore[arg-type]
            polys.append(p)
            lines.append(ln)
            raw_parks.append(raw)
        elif kind == "vector":
            polys.append(read_vector_classes(src["path"], class_field=src["class_field"], mapping=src.get("mapping"),
                                             legend=legend, crs=crs, layer=src.get("layer"), counts=counts))
        elif kind == "raster":
            raster_sources.append(src)
        else:
            raise WerklandInputError(f"unknown source type {kind!r}", path=f"config: land_cover[{i}].type",
                                     fix="use osm, vector or raster")
    # parks
    if parks_from_file is not None:
        parks = parks_from_file
    elif parks_spec.get("file"):
        parks = read_parks_file(parks_spec["file"], id_field=parks_spec.get("id_field", "park_id"), crs=crs,
                                name_field=parks_spec.get("name_field"), ids=parks_spec.get("ids"))
    else:
        if not raw_parks:
            raise WerklandInputError("parks can only be derived from land use in OSM sources",
                                     path="config: parks", fix="give parks.file with park polygons and an id field")
        parks = derive_parks(pd.concat(raw_parks, ignore_index=True), landuse=parks_spec.get("from_landuse", ["industrial", "commercial"]),
                             min_area_m2=float(parks_spec.get("min_area_m2", 10000)), names=parks_spec.get("names"))
    if clip_geom is not None and not parks.empty:
        parks = parks.assign(geometry=parks.geometry.intersection(clip_geom))
        parks = parks[~parks.geometry.is_empty & (parks.geometry.area > 0)]
        parks = parks.assign(area_m2=parks.geometry.area)
    if parks.empty:
        raise WerklandInputError(
            "no business parks found in the region", path="config: parks",
            fix="check parks.from_landuse / parks.names, or give parks.file; the region must overlap its data",
        )
    region_geom = shapely.union_all(parks.geometry.buffer(context_buffer_m).values)
    if clip_geom is not None:
        region_geom = shapely.intersection(region_geom, clip_geom)
    region_geom = shapely.make_valid(region_geom)
    grid = Grid.from_bounds(region_geom.bounds, resolution_m, crs)
    background = None
    for src in raster_sources:
        codes = read_raster_classes(src["path"], mapping=src["mapping"], legend=legend, grid=grid)
        background = codes if background is None else np.where(background > 0, background, codes)
    features = pd.concat(polys, ignore_index=True) if polys else gpd.GeoDataFrame(
        columns=["class", "source", "geometry"], geometry="geometry", crs=crs)
    features = gpd.GeoDataFrame(features, geometry="geometry", crs=crs)
    if len(features) and not features.geometry.intersects(region_geom).any() and background is None:
        raise WerklandInputError("the land-cover data do not overlap the region", path=str(sources[0]["path"]),
                                 fix="check the parks and the data cover the same area")
    log.info("resolving overlaps of %d features by priority", len(features))
    landcover = resolve_overlaps(features, legend, region_geom, fill_class=fill_class)
    codes = rasterize_landcover(features[features.geometry.intersects(region_geom)], legend, grid, region_geom,
                                background=background, fill_class=fill_class)
    line_gdf = pd.concat(lines, ignore_index=True) if lines else gpd.GeoDataFrame(
        columns=["class", "kind", "road_class", "width_m", "bridge", "source", "osm_id", "geometry"],
        geometry="geometry", crs=crs)
    line_gdf = gpd.GeoDataFrame(line_gdf, geometry="geometry", crs=crs)
    line_gdf = line_gdf.clip(region_geom) if len(line_gdf) else line_gdf
    line_gdf = line_gdf[line_gdf.geometry.geom_type.isin(["LineString", "MultiLineString"])].explode(index_parts=False)
    region = gpd.GeoDataFrame({"region_area_m2": [region_geom.area], "crs": [crs.to_string()]},
                              geometry=[region_geom], crs=crs)
    counts["landcover_polygons"] = len(landcover)
    counts["cells_inside_region"] = int((codes > 0).sum())
    return {"region": region, "parks": parks, "landcover": landcover, "lines": line_gdf.reset_index(drop=True),
            "codes": codes, "grid": grid, "crs": crs, "counts": counts}


def run_landcover(
    sources: Sequence[Mapping[str, Any]],
    legend_path: str | os.PathLike[str],
    out_region_gpkg: str | os.PathLike[str],
    out_landcover_gpkg: str | os.PathLike[str],
    out_landcover_tif: str | os.PathLike[str],
    *,
    crs_setting: str | int = "auto",
    resolution_m: float = 10.0,
    context_buffer_m: float = 500.0,
    parks_spec: Mapping[str, Any] | None = None,
    clip_lonlat: Sequence[float] | None = None,
    fill_class: str | None = "grass",
) -> dict[str, int]:
    """Workflow entry point: harmonise a region's land cover and write the three outputs.

    Writes ``region.gpkg`` (layers ``region`` and ``parks``), ``landcover.gpkg`` (layers
    ``landcover`` and ``lines``) and ``landcover.tif``. Nothing is written when an input is bad.

    Returns
    -------
    dict
        Counts of what was read, repaired and dropped (for the log).
    """
    from werkland.tables import load_legend

    legend = load_legend(legend_path)
    res = build_region(sources, legend=legend, crs_setting=crs_setting, resolution_m=resolution_m,
                       context_buffer_m=context_buffer_m, parks_spec=parks_spec or {}, clip_lonlat=clip_lonlat,
                       fill_class=fill_class)
    grid: Grid = res["grid"]
    tags = {"units": "legend code (config/landcover_classes.yaml)", "crs": res["crs"].to_string(),
            "resolution_m": grid.res_m, "legend": {c.code: c.name for c in legend.classes},
            "attribution": "(c) OpenStreetMap contributors, ODbL 1.0" if any(s.get("type") == "osm" for s in sources) else ""}
    _write_region_gpkg(res["region"], res["parks"], out_region_gpkg)
    _write_two_layers(res["landcover"], "landcover", res["lines"], "lines", out_landcover_gpkg)
    write_raster(out_landcover_tif, res["codes"], grid, nodata=NODATA_CODE, tags=tags,
                 description="land-cover class code", colormap=legend_colormap(legend))
    return res["counts"]


def _write_region_gpkg(region: gpd.GeoDataFrame, parks: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> None:
    _write_two_layers(region, "region", parks[["park_id", "name", "area_m2", "geometry"]], "parks", path)


def _write_two_layers(a: gpd.GeoDataFrame, la: str, b: gpd.GeoDataFrame, lb: str, path: str | os.PathLike[str]) -> None:
    from werkland.raster.io import atomic_path

    with atomic_path(path) as tmp:
        a.to_file(tmp, layer=la, driver="GPKG", engine="pyogrio")
        b.to_file(tmp, layer=lb, driver="GPKG", engine="pyogrio", append=False)


def legend_colormap(legend: Legend) -> dict[int, tuple[int, int, int, int]]:
    """The legend colours as a GeoTIFF colour table (QGIS shows it as a paletted raster)."""
    cmap = {NODATA_CODE: (0, 0, 0, 0)}
    for c in legend.classes:
        h = c.colour.lstrip("#")
        cmap[c.code] = (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)
    return cmap


__all__ = [
    "NODATA_CODE",
    "build_region",
    "classify_osm_lines",
    "classify_osm_polygons",
    "derive_parks",
    "rasterize_landcover",
    "read_osm_pbf",
    "read_parks_file",
    "read_raster_classes",
    "read_vector_classes",
    "resolve_overlaps",
    "run_landcover",
    "legend_colormap",
]
