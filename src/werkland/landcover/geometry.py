"""Polygon repair and polygonal parts (shared by the readers and the overlay)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

#: shapely type ids of Polygon and MultiPolygon.
POLYGONAL_TYPE_IDS = (3, 6)
_COLLECTION_TYPE_ID = 7


def repair_polygons(gdf: gpd.GeoDataFrame, counts: dict[str, int], label: str) -> gpd.GeoDataFrame:
    """Repair invalid polygons with ``make_valid``, keep their polygonal parts, count what happened.

    Parameters
    ----------
    gdf : GeoDataFrame
        Features whose geometry should be (multi)polygons.
    counts : dict
        ``<label>_repaired`` (invalid geometries repaired) and ``<label>_dropped_non_polygonal``
        (no polygonal part left, missing or empty) are added to it.
    label : str
        Prefix of the count keys.

    Returns
    -------
    GeoDataFrame
        The valid (multi)polygon rows.
    """
    invalid = ~gdf.geometry.is_valid
    n = int(invalid.sum())
    if n:
        counts[f"{label}_repaired"] = counts.get(f"{label}_repaired", 0) + n
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].values)
    geoms = gdf.geometry.values
    # keep polygonal parts only (make_valid can return collections with lines/points)
    mixed = shapely.get_type_id(geoms) == _COLLECTION_TYPE_ID
    if mixed.any():
        geoms = geoms.copy()
        for i in np.flatnonzero(mixed):
            parts = [g for g in shapely.get_parts(geoms[i]) if shapely.get_type_id(g) in POLYGONAL_TYPE_IDS]
            geoms[i] = shapely.union_all(parts) if parts else None
        gdf = gdf.copy()
        gdf["geometry"] = geoms
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    dropped = int((~keep).sum())
    if dropped:
        counts[f"{label}_dropped_non_polygonal"] = counts.get(f"{label}_dropped_non_polygonal", 0) + dropped
    return gdf[keep]


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (overlay results can contain lines and points)."""
    if shapely.get_type_id(geom) in POLYGONAL_TYPE_IDS:
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in POLYGONAL_TYPE_IDS]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def polygon_parts(geom: shapely.Geometry) -> list[shapely.Geometry]:
    """The polygons (with area) of a polygonal geometry."""
    parts = shapely.get_parts(geom)
    return list(parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)])


def invalid_reason(geom: shapely.Geometry | None) -> str:
    """Why a geometry is invalid, in words (``self-intersecting``, ``ring self-intersecting``, ...)."""
    if geom is None:
        return "missing geometry"
    text = str(shapely.is_valid_reason(geom)).split("[")[0].strip()
    words = {"Self-intersection": "self-intersecting", "Ring Self-intersection": "ring self-intersecting"}
    return words.get(text, text.lower() or "invalid")


__all__ = ["POLYGONAL_TYPE_IDS", "invalid_reason", "polygon_parts", "polygonal", "repair_polygons"]
