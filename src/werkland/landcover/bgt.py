"""BGT and other multi-layer vector sources as land cover, through a mapping file.

The BGT (Basisregistratie Grootschalige Topografie) is the Dutch large-scale base map: a planar
partition of the ground surface into object types (Wegdeel, BegroeidTerreindeel, Waterdeel, Pand,
...) whose attribute values (``bgt-functie``, ``bgt-fysiekVoorkomen``, ``bgt-type`` and the IMGeo
``plus-*`` refinements) describe the cover. PDOK delivers it as "GML-light": a zip of
``bgt_<type>.gml`` files, one per object type (IMGeo-simple 2.1, GML 3.1.1, no ``srsName``: the
coordinates are RD New, EPSG:28992).

A mapping file (``config/mappings/bgt.yaml``; see ``config/mappings/README.md`` and
:mod:`werkland.landcover.mapping`) maps object type
-> attribute -> value -> legend class (or null to skip). :func:`read_mapped_layers` does this for
any multi-layer vector file (e.g. TOP10NL with ``config/mappings/top10nl.yaml``);
:func:`read_bgt` adds the GML-light reading and the BGT rules: only current objects
(``eindRegistratie`` / ``objectEindTijd`` empty, status ``bestaand`` or absent) at ground level
(``relatieveHoogteligging`` 0).

GDAL GML driver pitfalls, handled with one GFS template per file (GDAL's ``GFS_TEMPLATE`` open
option) that names the surface geometry ``geometrie2d`` and types every attribute as text:

- a feature with two geometry properties (a slope's crest line ``kruinlijn`` next to
  ``geometrie2d``) otherwise comes out with only one of them, sometimes the crest line;
- type guessing turns BAG ids such as ``0363100012165994`` into integers (losing the leading zero);
- without a template GDAL pre-scans every file and writes ``.gfs`` files next to the user's data
  (``WRITE_GFS=NO`` prevents the latter).

Curves (``gml:Arc``) are linearised by GDAL when the features are read.

References
----------
Geonovum (2016). IMGeo 2.1.1, Informatiemodel Geografie: objecttypes and value lists
(https://register.geostandaarden.nl/informatiemodel/imgeo/2.1.1).
PDOK BGT download API (formats gmllight, citygml, stufgeo): https://api.pdok.nl/lv/bgt/download/v1_0/ui/
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError, unreadable
from werkland.landcover.mapping import (
    VOID_REASONS,
    LayerRule,
    MappingSpec,
    ObjectFilters,
    ReadLog,
    _classify,
    _norm,
    _skip_reasons,
    _text,
    _Unmapped,
    load_mapping,
)
from werkland.tables import Legend

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]

#: CRS of BGT coordinates (RD New); GML-light files carry no srsName.
BGT_CRS = 28992
#: The surface geometry property of every IMGeo object type.
BGT_GEOMETRY_FIELD = "geometrie2d"
#: Buffer width of line and point features whose class has no ``width_m`` (metres).
DEFAULT_WIDTH_M = 1.0
_HEAD_BYTES = 65536
_FEATURE_RE = re.compile(rb"<(?:[\w.-]+:)?featureMembers?\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)[\s/>]")
_OUT_COLUMNS = ["class", "source", "layer", "feature_id"]


#: The BGT rules: current objects (no end of registration or of the object's life, status bestaand
#: or absent) at ground level (relatieveHoogteligging 0).
BGT_FILTERS = ObjectFilters(
    end_fields=("eindRegistratie", "objectEindTijd"),
    status_fields=("bgt-status", "plus-status"),
    status_ok=frozenset({"bestaand"}) | VOID_REASONS,
    level_field="relatieveHoogteligging",
    level_value=0,
)


@dataclass
class _Layer:
    """One layer (or one GML-light file) of the input."""

    name: str
    where: str
    read: Callable[[Sequence[str], BBox | None], gpd.GeoDataFrame] | None
    crs: CRS | None = None


def default_bgt_mapping() -> Path:
    """The shipped ``config/mappings/bgt.yaml`` (from the working directory or the project root)."""
    rel = Path("config") / "mappings" / "bgt.yaml"
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        if (base / rel).is_file():
            return base / rel
    raise WerklandInputError("the default BGT mapping was not found", path=str(rel),
                             fix="give mapping: <path of a mapping yaml> in the bgt land-cover source")


# --- reading ----------------------------------------------------------------------------------


def _read_ogr(path: str, layer: str, fields: Sequence[str], bbox: BBox | None) -> gpd.GeoDataFrame:
    info = pyogrio.read_info(path, layer=layer)
    lookup = {_norm(f): str(f) for f in info["fields"]}
    cols = list(dict.fromkeys(lookup[_norm(f)] for f in fields if _norm(f) in lookup))
    gdf = pyogrio.read_dataframe(path, layer=layer, columns=cols, bbox=bbox, on_invalid="fix")
    data = {f: gdf[lookup[_norm(f)]] if _norm(f) in lookup else None for f in dict.fromkeys(fields)}
    return gpd.GeoDataFrame(data, geometry=gdf.geometry.values, crs=gdf.crs, index=gdf.index)


def _ogr_layers(path: str) -> list[_Layer]:
    """The spatial layers of any OGR dataset, with their CRS."""
    fix = "check the file is a complete vector dataset GDAL can open (e.g. a GeoPackage)"
    try:
        listing = pyogrio.list_layers(path)
        out = []
        for name, gtype in listing:
            if gtype is None:  # attribute-only tables (e.g. QGIS layer_styles)
                continue
            wkt = pyogrio.read_info(path, layer=str(name))["crs"]
            out.append(_Layer(str(name), f"{path} (layer {name})", partial(_read_ogr, path, str(name)),
                              CRS.from_user_input(wkt) if wkt else None))
    except Exception as exc:
        raise unreadable("vector data", exc, path, fix) from exc
    return out


def _gfs_template(type_name: str, fields: Sequence[str]) -> str:
    """A GDAL GML feature-class template: surface geometry geometrie2d, every attribute as text."""
    props = "".join(f"<PropertyDefn><Name>{escape(f)}</Name><ElementPath>{escape(f)}</ElementPath>"
                    "<Type>String</Type></PropertyDefn>" for f in dict.fromkeys(fields))
    t, g = escape(type_name), BGT_GEOMETRY_FIELD
    return (f"<GMLFeatureClassList><GMLFeatureClass><Name>{t}</Name><ElementPath>{t}</ElementPath>"
            f"<GeomPropertyDefn><Name>{g}</Name><ElementPath>{g}</ElementPath></GeomPropertyDefn>"
            f"{props}</GMLFeatureClass></GMLFeatureClassList>")


def _read_gml(source: str, type_name: str, tmp: Path, fields: Sequence[str], bbox: BBox | None) -> gpd.GeoDataFrame:
    gfs = tmp / f"{len(list(tmp.iterdir()))}.gfs"
    gfs.write_text(_gfs_template(type_name, fields), encoding="utf-8")
    gdf = pyogrio.read_dataframe(source, GFS_TEMPLATE=str(gfs), WRITE_GFS="NO", DOWNLOAD_SCHEMA="NO",
                                 bbox=bbox, on_invalid="fix")
    for f in fields:
        if f not in gdf.columns:
            gdf[f] = None
    return gdf


def _gml_type(head: bytes, where: str) -> str | None:
    """The object type of a GML-light file from its first feature (``None``: no features)."""
    if b"cityObjectMember" in head:
        raise WerklandInputError("is BGT CityGML, not GML-light", path=where,
                                 fix="download the BGT from PDOK in the format GML-light (gmllight)")
    if b"FeatureCollection" not in head or b"geostandaarden.nl/imgeo" not in head:
        raise WerklandInputError(
            "has no GML-light object types (no IMGeo-simple gml:FeatureCollection)", path=where,
            fix="give the PDOK BGT download in the format GML-light (bgt_<type>.gml files), as a zip or folder")
    m = _FEATURE_RE.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def _bgt_layers(p: Path, tmp: Path) -> list[_Layer]:
    """The GML-light files of a zip, folder or single file (or the layers of a GeoPackage)."""
    fix = "give the PDOK BGT download (GML-light): the zip, or the folder of bgt_<type>.gml files"
    entries: list[tuple[str, str, bytes]] = []  # (where, GDAL path, head of the file)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".gml")
        if not files:
            raise WerklandInputError("contains no GML-light files (bgt_<type>.gml)", path=str(p), fix=fix)
        for f in files:
            with open(f, "rb") as fh:
                entries.append((str(f), str(f), fh.read(_HEAD_BYTES)))
    elif p.suffix.lower() == ".zip" or zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                if not infos:
                    raise WerklandInputError("the zip file is empty", path=str(p), fix=f"re-download it; {fix}")
                gml = [i for i in infos if i.filename.lower().endswith(".gml") and "__MACOSX" not in i.filename]
                if not gml:
                    found = ", ".join(i.filename for i in infos[:5])
                    raise WerklandInputError(f"contains no GML-light files (bgt_<type>.gml); found {found}",
                                             path=str(p), fix=fix)
                for i in gml:
                    with zf.open(i) as fh:
                        entries.append((f"{p}:{i.filename}", f"/vsizip/{p.resolve()}/{i.filename}",
                                        fh.read(_HEAD_BYTES)))
        except (zipfile.BadZipFile, OSError) as exc:
            raise unreadable("zip file", exc, str(p), fix) from exc
    elif p.suffix.lower() == ".gml":
        with open(p, "rb") as fh:
            entries.append((str(p), str(p), fh.read(_HEAD_BYTES)))
    else:
        return _ogr_layers(str(p))
    layers = []
    for where, source, head in entries:
        type_name = _gml_type(head, where)
        if type_name is None:  # a file without features: its type from the file name
            layers.append(_Layer(Path(source).stem, where, None))
        else:
            layers.append(_Layer(type_name, where, partial(_read_gml, source, type_name, tmp)))
    return layers


def _projected(crs: Any) -> CRS:
    out = CRS.from_user_input(crs)
    if not out.is_projected:
        raise WerklandInputError(f"output CRS {out.to_string()} is not projected (metres)", path="crs",
                                 fix="read into a metric CRS such as EPSG:28992")
    return out


def _bbox_in(bbox: Sequence[float], src: CRS, dst: CRS) -> BBox:
    b = tuple(float(v) for v in bbox)
    if len(b) != 4 or not all(np.isfinite(b)) or not (b[0] < b[2] and b[1] < b[3]):
        raise WerklandInputError(f"bbox {list(bbox)} is not (xmin, ymin, xmax, ymax)", path="bbox")
    if src.equals(dst):
        return b
    tr = Transformer.from_crs(src, dst, always_xy=True)
    return tuple(float(v) for v in tr.transform_bounds(*b, densify_pts=21))  # type: ignore[return-value]


def _as_area(geoms: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Polygons as they are (repaired); lines and points buffered to ``widths`` (total width)."""
    types = shapely.get_type_id(geoms)
    out = geoms.copy()
    line = np.isin(types, (1, 2, 5))
    if line.any():
        out[line] = shapely.buffer(geoms[line], widths[line] / 2.0, cap_style="flat")
    point = np.isin(types, (0, 4))
    if point.any():
        out[point] = shapely.buffer(geoms[point], widths[point] / 2.0)
    for i in np.flatnonzero(types == 7):
        parts = shapely.get_parts(geoms[i])
        out[i] = shapely.union_all(_as_area(parts, np.full(len(parts), widths[i])))
    bad = np.isin(types, (3, 6, 7)) & ~shapely.is_valid(out)
    for i in np.flatnonzero(bad):
        parts = [g for g in shapely.get_parts(shapely.make_valid(out[i])) if shapely.get_type_id(g) in (3, 6)]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def _inside(gdf: gpd.GeoDataFrame, region: shapely.Geometry, region_crs: CRS, layer_crs: Any) -> np.ndarray:
    """Which features intersect the region (given in ``region_crs``)."""
    if not region_crs.equals(CRS.from_user_input(layer_crs)):
        region = gpd.GeoSeries([region], crs=region_crs).to_crs(layer_crs).iloc[0]
    return gdf.geometry.intersects(region).to_numpy()


def _read_layers(layers: Sequence[_Layer], spec: MappingSpec, *, legend: Legend, crs: Any, bbox: Sequence[float] | None,
                 bbox_crs: Any, label: str, filters: ObjectFilters, counts: dict[str, int] | None,
                 log_: ReadLog | None, where: str, region: shapely.Geometry | None = None) -> gpd.GeoDataFrame:
    """Match layers to the mapping, read, filter, classify, log and turn features into areas."""
    out_crs = _projected(crs)
    counts = counts if counts is not None else {}
    read_log = log_ if log_ is not None else ReadLog()
    fix_map = f"add them to {spec.path} under layers: (with their attribute and values, or null to skip them)"
    matched: list[tuple[_Layer, LayerRule]] = []
    unknown: list[_Layer] = []
    for lay in layers:
        rule = spec.rule_for(lay.name)
        if rule is None and lay.read is not None and not spec.skip_unlisted:
            unknown.append(lay)
        elif rule is None or rule.target is None or lay.read is None:
            why = "no features" if lay.read is None else "layer mapped to null (not read)"
            read_log.rows.append({"source": label, "layer": rule.key if rule else lay.name, "field": "", "value": "",
                                  "outcome": "skipped", "reason": why, "class": None, "count": 0 if lay.read is None else None})
        else:
            matched.append((lay, rule))
    if unknown:
        found = "; ".join(f"{lay.name} ({lay.where})" for lay in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        known = [lay for lay in layers if spec.rule_for(lay.name) is not None]
        msg = (f"none of its object types / layers are in the mapping (found {found})" if not known
               else f"object types / layers not in the mapping: {found}")
        raise WerklandInputError(msg, path=where, fix=fix_map)
    b_crs = CRS.from_user_input(bbox_crs) if bbox_crs is not None else out_crs
    widths = {c.name: (c.width_m or DEFAULT_WIDTH_M) for c in legend.classes}
    frames: list[gpd.GeoDataFrame] = []
    problems: list[tuple[str, str, _Unmapped, int]] = []
    for lay, rule in matched:
        layer_crs = lay.crs or spec.default_crs
        if layer_crs is None:
            raise WerklandInputError("layer has no CRS", path=lay.where,
                                     fix=f"write the data with its CRS, or set default_crs in {spec.path}")
        extra = (*((spec.id_field,) if spec.id_field else ()), *spec.keep_fields)
        fields = list(dict.fromkeys((*rule.fields, *filters.fields, *extra)))
        box = _bbox_in(bbox, b_crs, layer_crs) if bbox is not None else None
        assert lay.read is not None
        try:
            gdf = lay.read(fields, box)
        except WerklandInputError:
            raise
        except Exception as exc:
            raise unreadable(f"layer {lay.name}", exc, lay.where,
                             "check the file is complete (re-download or re-extract it)") from exc
        if box is not None and len(gdf):  # GDAL filters on the bbox; make sure it is intersection
            gdf = gdf[gdf.geometry.notna().to_numpy() & gdf.geometry.intersects(shapely.box(*box)).to_numpy()]
        n = len(gdf)
        vals = {f: _text(gdf[f]) if n else pd.Series([], dtype=object) for f in fields}
        reason = _skip_reasons(vals, filters, n)
        inside = _inside(gdf, region, b_crs, layer_crs) if region is not None and n else None
        cls, fld_path, val_path = _classify(rule, vals, reason, lay.where, problems, inside)
        geoms = gdf.geometry.to_numpy() if n else np.array([], dtype=object)
        reason[(reason == "") & pd.isna(cls)] = "mapped to null"
        empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        reason[(reason == "") & empty] = "no geometry"
        keep = reason == ""
        table = pd.DataFrame({"field": fld_path, "value": val_path, "reason": reason, "class": cls})
        for (f, v, r, c), cnt in table.groupby(["field", "value", "reason", "class"], dropna=False, sort=True).size().items():
            read_log.rows.append({"source": label, "layer": rule.key, "field": f, "value": v,
                                  "outcome": "mapped" if r == "" else "skipped", "reason": r,
                                  "class": None if pd.isna(c) else c, "count": int(cnt)})
        pre = f"{label}_{rule.key}"
        counts[f"{pre}_read"] = counts.get(f"{pre}_read", 0) + n
        counts[f"{pre}_mapped"] = counts.get(f"{pre}_mapped", 0) + int(keep.sum())
        for r, c in Counter(str(r).split(" ")[0] if r.startswith(("status", "level")) else r.replace(" ", "_")
                            for r in reason[~keep]).items():
            counts[f"{pre}_skipped_{r}"] = counts.get(f"{pre}_skipped_{r}", 0) + c
        log.info("%s: %d features read, %d mapped", lay.where, n, int(keep.sum()))
        if not keep.any():
            continue
        sub = gdf[keep]
        data: dict[str, Any] = {"class": cls[keep].astype(str), "source": label, "layer": rule.key}
        for col, f in (("feature_id", spec.id_field), *((f, f) for f in spec.keep_fields)):
            data[col] = vals[f][keep].replace("", None).to_numpy(dtype=object) if f else None
        part = gpd.GeoDataFrame(data, geometry=sub.geometry.to_numpy(), crs=layer_crs)
        if not CRS.from_user_input(layer_crs).equals(out_crs):
            part = part.to_crs(out_crs)
        w = part["class"].map(widths).to_numpy(dtype=float)
        if rule.width_m is not None:
            w[:] = rule.width_m
        part["geometry"] = _as_area(part.geometry.to_numpy(), w)
        frames.append(part[~part.geometry.is_empty])
    if problems:
        shown = "; ".join(f"{layer} ({w}): field {u.field!r} value {u.value or '(empty)'!r} on {cnt} feature(s)"
                          for layer, w, u, cnt in problems[:10]) + (" ..." if len(problems) > 10 else "")
        first = problems[0][2]
        raise WerklandInputError(
            f"values without a legend class inside the region: {shown}", path=problems[0][1],
            fix=f"add them to {first.where.replace(spec.path + ': ', '')} in {spec.path} "
                "(value: legend class, or null to skip those objects)")
    cols = [*_OUT_COLUMNS, *spec.keep_fields]
    if not frames:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=gpd.GeoSeries([], crs=out_crs),
                                crs=out_crs)
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out[[*cols, "geometry"]], geometry="geometry", crs=out_crs)


def read_mapped_layers(
    path: str | os.PathLike[str],
    mapping_spec: str | os.PathLike[str] | MappingSpec,
    *,
    legend: Legend,
    crs: Any,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = None,
    source_label: str = "vector",
    counts: dict[str, int] | None = None,
    log: ReadLog | None = None,
    region: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Read a multi-layer vector file, mapping each layer's attribute values to legend classes.

    Parameters
    ----------
    path : path-like
        Any OGR dataset with several layers (GeoPackage, GML, ...), e.g. the TOP10NL GeoPackage.
    mapping_spec : path-like or MappingSpec
        Mapping file (``config/mappings/top10nl.yaml``) or a loaded :class:`MappingSpec`.
    legend : Legend
        The land-cover legend (targets and line widths).
    crs : CRS-like
        Projected output CRS.
    bbox : sequence of 4 float, optional
        (xmin, ymin, xmax, ymax) in ``bbox_crs``: only features intersecting it are read.
    bbox_crs : CRS-like, optional
        CRS of ``bbox`` (default: ``crs``).
    source_label : str
        Value of the ``source`` column and prefix of the ``counts`` keys.
    counts : dict, optional
        Filled with ``<label>_<layer>_read`` / ``_mapped`` / ``_skipped_<reason>`` totals.
    log : ReadLog, optional
        Filled with the per-value rows (see :class:`ReadLog`).
    region : shapely geometry, optional
        The region (in ``bbox_crs``): only the values of features that intersect it must have a
        mapping (default: those of every feature read); unmapped features outside it are skipped.

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons in ``crs`` with ``class`` (legend name), ``source``, ``layer`` (mapping key),
        ``feature_id`` (``id_field`` of the mapping, text) and the mapping's ``keep_fields``. Lines
        and points are buffered to the class ``width_m`` (1 m if it has none).

    Raises
    ------
    WerklandInputError
        Unreadable file, layers not in the mapping (unless ``"*": null``), values without a
        mapping inside ``bbox`` (naming layer, field, value and count), a layer without CRS.
    """
    p = str(path)
    if not Path(p).exists():
        raise WerklandInputError("file not found", path=p, fix="check the path of the land-cover source")
    spec = mapping_spec if isinstance(mapping_spec, MappingSpec) else load_mapping(mapping_spec, legend)
    layers = _ogr_layers(p)
    if not layers:
        raise WerklandInputError("has no vector layers", path=p, fix="give a vector file with layers")
    return _read_layers(layers, spec, legend=legend, crs=crs, bbox=bbox, bbox_crs=bbox_crs, label=source_label,
                        filters=spec.filters, counts=counts, log_=log, where=p, region=region)


def read_bgt(
    path: str | os.PathLike[str],
    *,
    legend: Legend,
    crs: Any,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = BGT_CRS,
    mapping_path: str | os.PathLike[str] | None = None,
    counts: dict[str, int] | None = None,
    log: ReadLog | None = None,
    region: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Read a PDOK BGT download as land-cover features.

    Parameters
    ----------
    path : path-like
        The PDOK download in GML-light: the zip, the folder of ``bgt_<type>.gml`` files, or one
        such file; or a GeoPackage with one layer per object type (``bgt_wegdeel``, ...).
    legend : Legend
        The land-cover legend.
    crs : CRS-like
        Projected output CRS (EPSG:28992 keeps the coordinates as they are).
    bbox : sequence of 4 float, optional
        (xmin, ymin, xmax, ymax), by default in EPSG:28992: only features intersecting it are read,
        and only their values must have a mapping.
    bbox_crs : CRS-like
        CRS of ``bbox``.
    mapping_path : path-like, optional
        Mapping file (default ``config/mappings/bgt.yaml``).
    counts : dict, optional
        Filled with ``bgt_<type>_read`` / ``_mapped`` / ``_skipped_<reason>`` totals.
    log : ReadLog, optional
        Filled with one row per object type, value path, outcome and reason.
    region : shapely geometry, optional
        The region (in ``bbox_crs``): only the values of objects that intersect it must have a
        mapping (default: those of every object read).

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`read_mapped_layers` with ``source`` = ``"bgt"``, ``layer`` = object type,
        ``feature_id`` = ``identificatie.lokaalID`` (with the shipped mapping).

    Raises
    ------
    WerklandInputError
        Missing path, empty zip, no GML-light object types, only unknown object types, unknown
        object types, values without a mapping inside ``bbox``.
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("file not found", path=str(p), fix="check the path of the bgt land-cover source")
    spec = load_mapping(mapping_path if mapping_path is not None else default_bgt_mapping(), legend)
    if spec.default_crs is None:
        spec = replace(spec, default_crs=CRS.from_epsg(BGT_CRS))
    with tempfile.TemporaryDirectory(prefix="werkland-bgt-") as tmp:
        layers = _bgt_layers(p, Path(tmp))
        return _read_layers(layers, spec, legend=legend, crs=crs, bbox=bbox, bbox_crs=bbox_crs, label="bgt",
                            filters=BGT_FILTERS, counts=counts, log_=log, where=str(p), region=region)


__all__ = ["BGT_CRS", "BGT_FILTERS", "DEFAULT_WIDTH_M", "default_bgt_mapping", "read_bgt", "read_mapped_layers"]
