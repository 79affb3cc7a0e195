"""OpenStreetMap PBF extracts as legend-classified land cover (GDAL's OSM driver through pyogrio).

Polygons (``multipolygons`` layer) and lines (``lines``) are classified by ordered tag rules; line
features (roads, railways, waterways, hedges) are buffered to the total width given per class in
the legend (``width_m``), with per-tag overrides below (e.g. a canal is wider than a ditch). Single
trees (``points`` with ``natural=tree``) become crowns of :data:`TREE_CROWN_DIAMETER_M`.

Street-running trams (``railway=tram`` with ``embedded=yes``, or laid in a carriageway) are part
of the street, not a railway: see :func:`remove_street_running_trams`.

Only features in the read box are returned (GDAL's spatial filter; the PBF itself has no index,
so a national file is still scanned once per read: cut it first, :mod:`werkland.osm_extract`).

References
----------
OpenStreetMap tags: https://wiki.openstreetmap.org/wiki/Map_features (ODbL data,
"(c) OpenStreetMap contributors"). Trams: https://wiki.openstreetmap.org/wiki/Tag:railway%3Dtram
(``embedded=yes``: rails embedded in the road surface).
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

from werkland._errors import WerklandInputError
from werkland.landcover.geometry import repair_polygons
from werkland.raster.crs import assert_metric
from werkland.tables import Legend

log = logging.getLogger(__name__)

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
_OSM_LINE_TAGS = ("tunnel", "layer", "location", "natural", "bridge", "embedded")

#: Road classes whose carriageway (centre line buffered to the class width) can carry a tram.
STREET_CLASSES = ("road_motorway", "road_main", "road_minor")
#: A tram runs in the street where it lies inside a carriageway for at least this length, metres;
#: shorter pieces are level crossings (a 14 m main road crossed at 30 degrees or more).
STREET_RUN_MIN_M = 30.0
#: Tram remnants shorter than this after removing the street runs are dropped, metres.
_TRAM_REMNANT_MIN_M = 1.0
#: Values of ``embedded`` that mean the rails lie in the road surface.
_EMBEDDED_NO = frozenset({"no", ""})

BBox = tuple[float, float, float, float]


def _extract_tags(other_tags: pd.Series, keys: Sequence[str]) -> pd.DataFrame:
    """Vectorised extraction of hstore ``"k"=>"v"`` pairs from GDAL's OSM ``other_tags`` column."""
    s = other_tags.fillna("")
    out = {}
    for key in keys:
        pat = r'"' + key.replace(":", r"\:") + r'"=>"([^"]*)"'
        out[key] = s.str.extract(pat, expand=False)
    return pd.DataFrame(out, index=other_tags.index)


def _read_osm_layer(path: str, layer: str, bbox: BBox | None, counts: dict[str, int]) -> gpd.GeoDataFrame:
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
    abandoned railways are not railways. A way tagged both ``highway`` and ``railway=tram`` is a
    road (the highway rules come first); trams with ``embedded=yes`` (an ``embedded`` column) have
    no class of their own: they are part of the street.

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
    if "embedded" in df.columns:
        cls = cls.where(~(embedded_tram(df) & (kind == "railway=tram")), pd.NA)
    return cls, kind, width


def embedded_tram(df: pd.DataFrame) -> pd.Series:
    """Whether each line is a ``railway=tram`` whose rails are embedded in the road (``embedded``)."""
    emb = df["embedded"] if "embedded" in df.columns else pd.Series(pd.NA, index=df.index, dtype="object")
    tram = df["railway"].isin(["tram"]) if "railway" in df.columns else pd.Series(False, index=df.index)
    return tram & emb.notna() & ~emb.astype("string").fillna("").str.strip().str.lower().isin(_EMBEDDED_NO)


def remove_street_running_trams(lines: gpd.GeoDataFrame, *, counts: dict[str, int] | None = None,
                                min_run_m: float = STREET_RUN_MIN_M) -> gpd.GeoDataFrame:
    """Remove the stretches of tram lines that run inside a carriageway: they are part of the street.

    A tram (``kind`` ``railway=tram``, class ``railway``) whose centre line lies inside a road's
    carriageway (a :data:`STREET_CLASSES` centre line buffered to its ``width_m``) for at least
    ``min_run_m`` runs in the street there: that stretch is removed (the road covers it), so it is
    neither buffered into an 8 m railway nor kept as a railway centre line. Shorter pieces inside
    a carriageway are level crossings and stay. A tram with no stretch left is dropped.

    Parameters
    ----------
    lines : GeoDataFrame
        Classified centre lines (``class``, ``kind``, ``width_m``) in a metric CRS.
    counts : dict, optional
        ``osm_trams_street_running`` (tram lines shortened or dropped) and
        ``osm_tram_street_running_m`` (length removed, m) are added to it.
    min_run_m : float
        Shortest stretch inside a carriageway that counts as street running, m.

    Returns
    -------
    GeoDataFrame
        ``lines`` with the street-running stretches removed (same columns).
    """
    tram = ((lines["kind"] == "railway=tram") & (lines["class"] == "railway")).to_numpy()
    roads = lines[lines["class"].isin(STREET_CLASSES).to_numpy()]
    if not tram.any() or roads.empty:
        return lines
    carriageway = shapely.union_all(
        shapely.buffer(roads.geometry.values, roads["width_m"].to_numpy(dtype=float) / 2.0, cap_style="flat"))
    geoms = lines.geometry.to_numpy().copy()
    n_changed, removed_m = 0, 0.0
    for i in np.flatnonzero(tram):
        g = geoms[i]
        inside = [p for p in shapely.get_parts(shapely.intersection(g, carriageway)) if shapely.get_type_id(p) in (1, 5)]
        merged = shapely.line_merge(shapely.union_all(inside)) if inside else None
        runs = [p for p in shapely.get_parts(merged) if p.length >= min_run_m] if merged is not None else []
        if not runs:
            continue
        rest = shapely.difference(g, shapely.buffer(shapely.union_all(runs), 0.01, cap_style="flat"))
        parts = [p for p in shapely.get_parts(rest) if shapely.get_type_id(p) == 1 and p.length >= _TRAM_REMNANT_MIN_M]
        n_changed += 1
        removed_m += g.length - sum(p.length for p in parts)
        geoms[i] = shapely.multilinestrings(parts) if len(parts) > 1 else (parts[0] if parts else None)
    if not n_changed:
        return lines
    if counts is not None:
        counts["osm_trams_street_running"] = counts.get("osm_trams_street_running", 0) + n_changed
        counts["osm_tram_street_running_m"] = counts.get("osm_tram_street_running_m", 0) + int(round(removed_m))
    out = lines.copy()
    out["geometry"] = geoms
    return out[out.geometry.notna()]


def _empty_outputs(crs: CRS) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    polys = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in ("class", "source", "source_file", "osm_id")},
                             geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    line_cols = {"class": object, "kind": object, "road_class": object, "width_m": float, "bridge": bool,
                 "source": object, "osm_id": object}
    lines = gpd.GeoDataFrame({c: pd.Series(dtype=t) for c, t in line_cols.items()},
                             geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    raw = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in ("osm_id", "landuse", "name")},
                           geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return polys, lines, raw


def _with_tags(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``df`` without ``other_tags``, plus the tags ``keys`` it holds (existing columns win)."""
    tags = _extract_tags(df["other_tags"], keys)
    out = df.drop(columns=["other_tags"]).copy()
    for col in tags.columns:
        if col not in out.columns:
            out[col] = tags[col]
    return out


def _osm_polygons(polys: gpd.GeoDataFrame, crs: CRS, label: str, counts: dict[str, int]
                  ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Classified polygons and all polygons with ``landuse`` and ``name`` (for the parks)."""
    pdf = _with_tags(polys, _OSM_EXTRA_TAGS)
    pdf["class"] = classify_osm_polygons(pdf)
    osm_id = pdf["osm_way_id"].fillna(pdf["osm_id"]).astype(str)
    raw_polygons = gpd.GeoDataFrame({"osm_id": osm_id, "landuse": pdf["landuse"], "name": pdf["name"]},
                                    geometry=pdf.geometry.values, crs=polys.crs).to_crs(crs)
    raw_polygons = repair_polygons(raw_polygons, counts, "osm_park_candidates")
    classified = pdf["class"].notna()
    poly_out = gpd.GeoDataFrame(
        {"class": pdf.loc[classified, "class"].astype(str), "source": "osm", "source_file": label,
         "osm_id": osm_id[classified]},
        geometry=pdf.geometry.values[classified.to_numpy()], crs=polys.crs,
    ).to_crs(crs)
    return repair_polygons(poly_out, counts, "osm_polygons"), raw_polygons


def _osm_lines(lines: gpd.GeoDataFrame, legend: Legend, crs: CRS) -> gpd.GeoDataFrame:
    """Classified centre lines and tagged fences / walls (``class`` None), in ``crs``."""
    ldf = _with_tags(lines, _OSM_LINE_TAGS)
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
    return line_out[line_out.geometry.notna() & line_out.geometry.is_valid & ~line_out.geometry.is_empty]


def _osm_trees(points: gpd.GeoDataFrame, crs: CRS, label: str, counts: dict[str, int]) -> gpd.GeoDataFrame:
    """Single trees (``natural=tree``) as crowns (woody elements, counted with hedgerow / tree row)."""
    trees = points[points["other_tags"].fillna("").str.contains('"natural"=>"tree"', regex=False)]
    counts["osm_trees"] = len(trees)
    tree_polys = gpd.GeoDataFrame(
        {"class": "hedgerow", "source": "osm", "source_file": label, "osm_id": trees["osm_id"].astype(str)},
        geometry=trees.geometry.values, crs=points.crs,
    ).to_crs(crs)
    tree_polys["geometry"] = tree_polys.geometry.buffer(TREE_CROWN_DIAMETER_M / 2.0, quad_segs=4)
    return tree_polys


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
        (west, south, east, north) in degrees: only features intersecting this box are read.
        Without features there, the three frames are empty (the caller knows why the box was
        chosen and says so).
    counts : dict, optional
        Updated with read/repair/drop counts.

    Returns
    -------
    polygons : GeoDataFrame
        ``class``, ``source`` (``osm``), ``source_file``, ``osm_id`` (polygons, incl. buffered
        lines and tree crowns).
    lines : GeoDataFrame
        Centre lines of linear classes and tagged fences/walls: ``class``, ``kind``, ``road_class``,
        ``width_m``, ``bridge``, ``source``, ``osm_id``.
    raw_polygons : GeoDataFrame
        Unclassified OSM multipolygons with ``landuse`` and ``name`` (used to derive parks).

    Raises
    ------
    WerklandInputError
        Missing or unreadable file; a file without any feature (no ``clip_lonlat``).
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
        if clip_lonlat is not None:
            return _empty_outputs(crs)
        raise WerklandInputError("has no OpenStreetMap features (no multipolygons or lines)", path=path,
                                 fix="give a complete .osm.pbf extract of the region")
    label = Path(path).name
    poly_out, raw_polygons = _osm_polygons(polys, crs, label, counts)
    line_out = remove_street_running_trams(_osm_lines(lines, legend, crs), counts=counts)
    buffered = line_out[line_out["class"].notna()]
    buf_polys = gpd.GeoDataFrame(
        {"class": buffered["class"].astype(str), "source": "osm", "source_file": label, "osm_id": buffered["osm_id"]},
        geometry=shapely.buffer(buffered.geometry.values, buffered["width_m"].to_numpy() / 2.0, cap_style="flat"),
        crs=crs,
    )
    tree_polys = _osm_trees(points, crs, label, counts)
    out = pd.concat([poly_out, buf_polys, tree_polys], ignore_index=True)
    counts["osm_features_classified"] = len(out)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs), line_out.reset_index(drop=True), raw_polygons


__all__ = [
    "STREET_CLASSES",
    "STREET_RUN_MIN_M",
    "TREE_CROWN_DIAMETER_M",
    "classify_osm_lines",
    "classify_osm_polygons",
    "embedded_tram",
    "read_osm_pbf",
    "remove_street_running_trams",
]
