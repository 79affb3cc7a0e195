"""Generic vector land-cover sources: any OGR layer with a class column, read around the region.

Only the features whose bounding box meets the region's (widened by half the widest legend line
width, so a line whose buffer reaches into the region is read) are read, through the file's own
spatial filter and index (GeoPackage R-tree, FlatGeobuf, shapefile ``.qix``): a national file
serves thousands of regions without being read whole for each. Only the class column is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError, unreadable
from werkland.landcover.geometry import repair_polygons
from werkland.tables import Legend

#: Buffer width of line and point features whose class has no ``width_m``, metres.
DEFAULT_LINE_WIDTH_M = 1.0
#: Unmapped values listed in an error message (the rest is counted).
_SHOWN_VALUES = 10

BBox = tuple[float, float, float, float]


def layer_info(path: str, layer: str | None, *, what: str = "vector data", fix: str) -> dict[str, Any]:
    """``pyogrio.read_info`` of a layer; an unreadable file raises :class:`WerklandInputError`."""
    try:
        return pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise unreadable(what, exc, path, fix) from exc


def bbox_in_crs(bounds: BBox, src: Any, dst: Any) -> BBox:
    """``bounds`` (xmin, ymin, xmax, ymax in ``src``) as a box in ``dst`` that contains it."""
    s, d = CRS.from_user_input(src), CRS.from_user_input(dst)
    if s.equals(d):
        return tuple(float(v) for v in bounds)  # type: ignore[return-value]
    tr = Transformer.from_crs(s, d, always_xy=True)
    return tuple(float(v) for v in tr.transform_bounds(*bounds, densify_pts=21))  # type: ignore[return-value]


def max_half_width(legend: Legend) -> float:
    """Half the widest line buffer of the legend (how far a buffered line reaches), metres."""
    return max((c.width_m or DEFAULT_LINE_WIDTH_M for c in legend.classes), default=DEFAULT_LINE_WIDTH_M) / 2.0


def unmapped_message(layer: str, field: str, counts: Mapping[str, int], unit: str, *, where: str) -> str:
    """``layer 'x', field 'y': values without a legend class <where>: 'a' (3 features), ...``."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    shown = ", ".join(f"{v!r} ({n} {unit}{'' if n == 1 else 's'})" for v, n in items[:_SHOWN_VALUES])
    more = f" and {len(items) - _SHOWN_VALUES} more" if len(items) > _SHOWN_VALUES else ""
    return f"layer {layer!r}, field {field!r}: values without a legend class {where}: {shown}{more}"


def _read_features(p: str, layer: str | None, columns: list[str], bbox: BBox | None) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(p, layer=layer, columns=columns, bbox=bbox, on_invalid="fix")
    except Exception as exc:
        raise unreadable("vector data", exc, p, "check the file is a complete vector dataset GDAL can open") from exc


def _check_mapping(values: pd.Series, inside: np.ndarray, mapping: Mapping[str, str | None] | None, legend: Legend,
                   *, layer: str, field: str, path: str, windowed: bool) -> pd.Series:
    """Legend class names of ``values`` (None: skipped); unmapped values of features inside raise."""
    if mapping is None:
        known = set(legend.names)
        mapped = values.where(values.isin(known), None)
    else:
        known = set(mapping)
        mapped = values.map(mapping)
    bad = values[inside & ~values.isin(known).to_numpy()]
    if len(bad):
        where = "inside the region" if windowed else "in the layer"
        raise WerklandInputError(
            unmapped_message(layer, field, bad.value_counts().to_dict(), "feature", where=where), path=path,
            fix="add them to the source's mapping (value: legend class, or null to skip)",
        )
    for name in sorted(set(mapped.dropna())):
        legend.code(name, where=f"{path}: mapping")
    return mapped


def _as_areas(gdf: gpd.GeoDataFrame, legend: Legend) -> gpd.GeoDataFrame:
    """Lines and points buffered to the width of their class (or 1 m) so that they take area."""
    widths = {c.name: (c.width_m or DEFAULT_LINE_WIDTH_M) for c in legend.classes}
    is_poly = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if (~is_poly).any():
        w = gdf.loc[~is_poly, "class"].map(widths).to_numpy(dtype=float)
        gdf = gdf.copy()
        gdf.loc[~is_poly, "geometry"] = shapely.buffer(gdf.geometry[~is_poly].values, w / 2.0, cap_style="flat")
    return gdf


def read_vector_classes(
    path: str | os.PathLike[str],
    *,
    class_field: str,
    mapping: Mapping[Any, str | None] | None,
    legend: Legend,
    crs: CRS,
    layer: str | None = None,
    counts: dict[str, int] | None = None,
    region: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Read any vector layer with a class column, mapping its values to legend classes.

    Parameters
    ----------
    path : path-like
        Any OGR vector file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...).
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
    counts : dict, optional
        ``vector_<file name>_read`` and repair counts are added to it.
    region : shapely geometry, optional
        The region in ``crs``: only features near it are read (spatial filter in the file's CRS),
        and only the values of features that intersect it must have a mapping. ``None`` reads
        (and checks) the whole layer.

    Returns
    -------
    GeoDataFrame with ``class``, ``source`` (``vector``) and ``source_file`` (the file name); lines
    and points are buffered by the class width (or 1 m) so they take up area.

    Raises
    ------
    WerklandInputError
        Missing file, missing field, values without a mapping (naming the layer, the field, the
        values and their feature counts), no CRS.
    """
    p = str(path)
    counts = counts if counts is not None else {}
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix="check land_cover sources in the config")
    info = layer_info(p, layer, fix="check the file is a complete vector dataset GDAL can open")
    fields = [str(f) for f in info["fields"]]
    if class_field not in fields:
        raise WerklandInputError(
            f"has no field {class_field!r} (fields: {', '.join(fields)})",
            path=p, fix="set class_field in the land_cover source to an existing column",
        )
    if info["crs"] is None:
        raise WerklandInputError("vector layer has no CRS", path=p, fix="write the file with its CRS (e.g. a .prj)")
    bbox = None
    if region is not None:
        grown = shapely.bounds(region) + np.array([-1.0, -1.0, 1.0, 1.0]) * (max_half_width(legend) + 1.0)
        bbox = bbox_in_crs(tuple(grown), crs, info["crs"])
    gdf = _read_features(p, layer, [class_field], bbox)
    gdf = gdf.to_crs(crs)
    values = gdf[class_field].astype(str)
    has_geom = (gdf.geometry.notna() & ~gdf.geometry.is_empty).to_numpy()
    inside = has_geom & gdf.geometry.intersects(region).to_numpy() if region is not None else np.ones(len(gdf), bool)
    mapping = None if mapping is None else {str(k): v for k, v in mapping.items()}
    mapped = _check_mapping(values, inside, mapping, legend, layer=str(info["layer_name"]), field=class_field,
                            path=p, windowed=region is not None)
    keep = mapped.notna().to_numpy() & has_geom
    gdf = _as_areas(gdf.assign(**{"class": mapped})[keep], legend)
    name = Path(p).name
    gdf = gpd.GeoDataFrame({"class": gdf["class"].astype(str), "source": "vector", "source_file": name},
                           geometry=gdf.geometry.values, crs=crs)
    counts[f"vector_{name}_read"] = len(gdf)
    return repair_polygons(gdf, counts, f"vector_{name}")


__all__ = ["DEFAULT_LINE_WIDTH_M", "bbox_in_crs", "layer_info", "max_half_width", "read_vector_classes",
           "unmapped_message"]
