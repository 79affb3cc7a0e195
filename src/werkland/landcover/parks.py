"""Business parks: derived from OSM land use, or read from a user's parks file.

A parks file is read only as far as the region needs it: with ``ids``, the id column is read
without geometries and then only those parks (by feature id); with a read box, only the parks whose
bounding box meets it (the file's spatial filter, in its own CRS). Invalid polygons are repaired and
each repair is logged per park (a self-intersecting "bow tie" becomes two triangles).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from werkland._errors import WerklandInputError, unreadable
from werkland.landcover.geometry import invalid_reason, repair_polygons
from werkland.landcover.vector import bbox_in_crs, layer_info

log = logging.getLogger(__name__)

_FIX_FILE = "check parks.file in the config"


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


def _read(p: str, **kwargs: object) -> pd.DataFrame:
    try:
        return pyogrio.read_dataframe(p, on_invalid="fix", **kwargs)
    except Exception as exc:
        raise unreadable("parks", exc, p, _FIX_FILE) from exc


def _check_ids(park_ids: pd.Series, id_field: str, p: str) -> None:
    if park_ids.duplicated().any() or (park_ids.str.strip() == "").any():
        raise WerklandInputError(f"field {id_field!r} has duplicate or empty ids", path=p,
                                 fix="give every park a unique id")


def _read_wanted(p: str, id_field: str, columns: list[str], ids: Sequence[str]) -> gpd.GeoDataFrame:
    """Only the parks with these ids: the id column first (no geometry), then those features."""
    table = _read(p, columns=[id_field], read_geometry=False, fid_as_index=True)
    park_ids = table[id_field].astype(str)
    _check_ids(park_ids, id_field, p)
    wanted = {str(i) for i in ids}
    missing = sorted(wanted - set(park_ids))
    if missing:
        raise WerklandInputError(f"park ids {missing[:5]} not found in field {id_field!r}", path=p,
                                 fix="check the region's parks.ids")
    fids = np.sort(table.index[park_ids.isin(wanted).to_numpy()].to_numpy())
    return _read(p, columns=columns, fids=fids)


def _log_repairs(ids: pd.Series, before: np.ndarray, after: gpd.GeoDataFrame, p: str) -> None:
    """One line per park whose polygon was invalid: why, and what the repair made of it."""
    invalid = ~shapely.is_valid(before)
    for i in np.flatnonzero(invalid):
        pid, why = ids.iloc[i], invalid_reason(before[i])
        if i in after.index:
            n = int(shapely.get_num_geometries(after.geometry.loc[i]))
            log.warning("%s: park %s: %s, repaired into %d part%s", p, pid, why, n, "" if n == 1 else "s")
        else:
            log.warning("%s: park %s: %s, dropped (no area left after repair)", p, pid, why)


def read_parks_file(path: str | os.PathLike[str], *, id_field: str, crs: CRS, name_field: str | None = None,
                    ids: Sequence[str] | None = None,
                    bbox_lonlat: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read user-supplied park polygons with an id field (optionally only the parks in ``ids``).

    Parameters
    ----------
    path : path-like
        Any OGR vector file of park polygons.
    id_field : str
        Column of unique park ids.
    crs : pyproj.CRS
        Output CRS.
    name_field : str, optional
        Column of park names.
    ids : sequence of str, optional
        Only these parks (the id column is read whole, the geometries only of these parks).
    bbox_lonlat : tuple, optional
        (west, south, east, north) in degrees: only the parks whose bounding box meets it are read
        (ignored with ``ids``).

    Returns
    -------
    GeoDataFrame
        ``park_id``, ``name``, ``area_m2`` (m², in the UTM zone when ``crs`` is geographic), repaired
        polygons.

    Raises
    ------
    WerklandInputError
        Missing file, a layer without features, a missing field, duplicate or empty ids, unknown
        ``ids``, no polygons, no CRS.
    """
    p = str(path)
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix=_FIX_FILE)
    info = layer_info(p, None, what="parks", fix=_FIX_FILE)
    if info["features"] == 0:
        raise WerklandInputError("has no features (the parks layer is empty)", path=p,
                                 fix="give a parks file with the park polygons and an id field")
    fields = [str(f) for f in info["fields"]]
    for key, fld in (("id_field", id_field), ("name_field", name_field)):
        if fld is not None and fld not in fields:
            raise WerklandInputError(f"has no field {fld!r} (fields: {', '.join(fields)})", path=p,
                                     fix=f"set parks.{key} to the column with park {key.split('_')[0]}s")
    if info["crs"] is None:
        raise WerklandInputError("parks layer has no CRS", path=p, fix="write the file with its CRS")
    columns = [id_field] + ([name_field] if name_field and name_field != id_field else [])
    if ids is not None:
        gdf = _read_wanted(p, id_field, columns, ids)
    else:
        bbox = bbox_in_crs(bbox_lonlat, 4326, info["crs"]) if bbox_lonlat is not None else None
        gdf = _read(p, columns=columns, bbox=bbox)
        if gdf.empty:
            raise WerklandInputError(f"no park lies in the region's box {[round(v, 5) for v in bbox_lonlat or ()]}"
                                     " (lon/lat)", path=p, fix="check clip_lonlat and the parks file cover the same area")
        _check_ids(gdf[id_field].astype(str), id_field, p)
    park_ids = gdf[id_field].astype(str)
    gdf = gdf.to_crs(crs)
    out = gpd.GeoDataFrame(
        {"park_id": park_ids.values, "name": gdf[name_field].astype(str).values if name_field else ""},
        geometry=gdf.geometry.values, crs=crs,
    )
    repaired = repair_polygons(out, {}, "parks")
    _log_repairs(out["park_id"], out.geometry.values, repaired, p)
    if repaired.empty:
        raise WerklandInputError("no polygons", path=p, fix="parks must be polygons")
    metric = repaired.geometry if CRS.from_user_input(crs).is_projected else \
        repaired.geometry.to_crs(repaired.geometry.estimate_utm_crs())
    repaired = repaired.assign(area_m2=metric.area.to_numpy())
    return repaired.reset_index(drop=True)


__all__ = ["derive_parks", "read_parks_file"]
