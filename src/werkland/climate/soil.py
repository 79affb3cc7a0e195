"""Soil and groundwater per cell: hydrologic soil group, infiltration capacity and GHG.

Inputs (all optional, per region; see :class:`werkland.params.climate.HydrologyInputs`):

- a **soil map** (vector layer with a soil-unit column, or a raster of unit codes), whose units a
  soil mapping (``config/mappings/soil_bodemkaart.yaml``) turns into a texture family (peat, clay,
  loam, sand), a hydrologic soil group A..D and an infiltration capacity. The units may also sit in
  a table joined to the polygons by a key (:func:`read_joined_units`), as in the PDOK/BRO
  Bodemkaart 1:50,000 GeoPackage: polygons ``soilarea`` (key ``maparea_id``) and their units in
  ``soilarea_soilunit`` (``maparea_id``, ``soilunit_code``, ``soilunit_sequencenumber``, 1 = main
  unit);
- **groundwater**: a vector layer of groundwater level classes (Gt, turned into the mean highest
  and lowest groundwater level GHG/GLG by ``config/mappings/groundwater_classes.yaml``) or a raster
  of GHG depths below the surface.

Both are read only around the region (vector: the file's spatial filter on the region's bounding
box; raster: one window, resampled by nearest neighbour for unit codes and by averaging for
depths) and burnt onto the land-cover grid by cell centre. Units or classes without a mapping stop
the run, but only those on cells inside the region.

The soil group the runoff uses (:func:`effective_soil_group`): the soil map's group where it has one,
else ``climate.soil_group``; then D wherever GHG < ``climate.shallow_groundwater_m`` (a shallow water
table leaves no room to infiltrate: USDA-NRCS 2009, NEH part 630, chapter 7).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.features
import rasterio.warp
import yaml
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError

import werkland
from werkland._errors import WerklandInputError, unreadable
from werkland.climate.terrain import read_on_grid
from werkland.landcover.raster_source import region_window
from werkland.landcover.vector import bbox_in_crs, layer_info
from werkland.params.climate import (
    LENGTH_UNITS,
    SOIL_GROUPS,
    ClimateParams,
    GroundwaterInput,
    SoilInput,
    SoilJoin,
)
from werkland.raster.io import Grid, value_index

__all__ = [
    "RASTER_SUFFIXES",
    "TEXTURES",
    "GroundwaterClasses",
    "SoilLayers",
    "SoilMapping",
    "effective_soil_group",
    "load_groundwater_classes",
    "load_soil_mapping",
    "read_groundwater",
    "read_joined_units",
    "read_soil",
    "read_units",
]

LOGGER = logging.getLogger(__name__)

#: Texture families of the soil mapping (codes 1..4).
TEXTURES: tuple[str, ...] = ("peat", "clay", "loam", "sand")

#: File suffixes read as rasters (anything else is read as a vector layer).
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc", ".nc", ".jp2")

#: Units shown in an error message (the rest are counted).
_SHOWN = 10

#: The shipped soil mapping (its texture table completes an inline mapping).
_SHIPPED_SOIL_MAPPING = Path(werkland.__file__).resolve().parents[2] / "config" / "mappings" / "soil_bodemkaart.yaml"


# --------------------------------------------------------------------------------------------------
# mappings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoilClass:
    """What a soil unit stands for: group 1..4 (A..D), texture 1..4 (:data:`TEXTURES`), mm/h."""

    group: int
    texture: int
    infiltration_mm_h: float


@dataclass(frozen=True)
class SoilMapping:
    """Soil unit -> :class:`SoilClass` (or None: no soil information).

    Attributes
    ----------
    source : str
        The mapping file (or ``"inline"``), for messages.
    units : dict
        Exact unit codes.
    patterns : list of (compiled regex, SoilClass or None)
        Tried in order after ``units`` (``re.match``: from the start of the code).
    """

    source: str
    units: dict[str, SoilClass | None]
    patterns: list[tuple[re.Pattern[str], SoilClass | None]]

    def lookup(self, unit: str) -> SoilClass | None:
        """The class of ``unit``.

        Raises
        ------
        KeyError
            The unit is neither listed nor matched by a pattern.
        """
        u = unit.strip()
        if u in self.units:
            return self.units[u]
        for pat, cls in self.patterns:
            if pat.match(u):
                return cls
        raise KeyError(unit)


def _read_yaml(path: str | os.PathLike[str], what: str) -> Any:
    p = str(path)
    if not os.path.exists(p):
        raise WerklandInputError(f"{what} not found", path=p, fix="check the path in the config")
    try:
        with open(p, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise unreadable(what, exc, p, "write it as YAML") from exc


def _soil_class(entry: Any, textures: Mapping[str, SoilClass], where: str) -> SoilClass | None:
    if entry is None:
        return None
    if isinstance(entry, str):
        if entry not in textures:
            raise WerklandInputError(f"unknown texture family {entry!r}", path=where,
                                     fix=f"use one of {', '.join(textures)} or null")
        return textures[entry]
    if isinstance(entry, Mapping):
        unknown = set(entry) - {"texture", "group", "infiltration_mm_h", "match"}
        if unknown:
            raise WerklandInputError(f"unknown keys {sorted(unknown)}", path=where,
                                     fix="use texture, group and infiltration_mm_h")
        base = _soil_class(entry.get("texture"), textures, where)
        if base is None:
            return None
        group = entry.get("group", SOIL_GROUPS[base.group - 1])
        if group not in SOIL_GROUPS:
            raise WerklandInputError(f"soil group {group!r}", path=where, fix="use A, B, C or D")
        inf = float(entry.get("infiltration_mm_h", base.infiltration_mm_h))
        if not np.isfinite(inf) or inf < 0:
            raise WerklandInputError(f"infiltration_mm_h {inf!r}", path=where, fix="give a number >= 0")
        return SoilClass(SOIL_GROUPS.index(group) + 1, base.texture, inf)
    raise WerklandInputError(f"{entry!r} is not a texture family, null or a mapping", path=where)


def _textures(doc: Any, where: str) -> dict[str, SoilClass]:
    table = doc.get("textures") if isinstance(doc, Mapping) else None
    if not isinstance(table, Mapping):
        raise WerklandInputError("no 'textures' table", path=where,
                                 fix="give textures: {peat|clay|loam|sand: {group, infiltration_mm_h}}")
    out: dict[str, SoilClass] = {}
    for name, spec in table.items():
        if name not in TEXTURES or not isinstance(spec, Mapping):
            raise WerklandInputError(f"texture {name!r}", path=f"{where}: textures",
                                     fix=f"use the families {', '.join(TEXTURES)}, each {{group, infiltration_mm_h}}")
        group = spec.get("group")
        inf = spec.get("infiltration_mm_h")
        if group not in SOIL_GROUPS or not isinstance(inf, (int, float)) or isinstance(inf, bool) or inf < 0:
            raise WerklandInputError(f"texture {name!r}: {dict(spec)!r}", path=f"{where}: textures",
                                     fix="give group A..D and infiltration_mm_h >= 0")
        out[str(name)] = SoilClass(SOIL_GROUPS.index(group) + 1, TEXTURES.index(name) + 1, float(inf))
    return out


def load_soil_mapping(mapping: str | os.PathLike[str] | Mapping[str, Any]) -> SoilMapping:
    """Load a soil mapping file, or complete an inline mapping with the shipped texture table.

    Parameters
    ----------
    mapping : path-like or mapping
        A YAML file with ``textures``, ``units`` and ``patterns`` (see
        ``config/mappings/soil_bodemkaart.yaml``), or an inline mapping unit -> texture family / null /
        ``{texture, group, infiltration_mm_h}``.

    Raises
    ------
    WerklandInputError
        Missing file, unknown texture families or groups, bad regular expressions.
    """
    if isinstance(mapping, Mapping):
        src = "inline soil mapping"
        textures = _textures(_read_yaml(_SHIPPED_SOIL_MAPPING, "soil mapping"), str(_SHIPPED_SOIL_MAPPING))
        units = {str(k): _soil_class(v, textures, f"{src}: {k}") for k, v in mapping.items()}
        return SoilMapping(src, units, [])
    src = str(mapping)
    doc = _read_yaml(src, "soil mapping")
    textures = _textures(doc, src)
    units = {str(k): _soil_class(v, textures, f"{src}: units: {k}") for k, v in (doc.get("units") or {}).items()}
    patterns: list[tuple[re.Pattern[str], SoilClass | None]] = []
    for i, item in enumerate(doc.get("patterns") or []):
        w = f"{src}: patterns[{i}]"
        if not isinstance(item, Mapping) or "match" not in item:
            raise WerklandInputError(f"{item!r} has no 'match'", path=w, fix="give {match: <regex>, texture: ...}")
        try:
            pat = re.compile(str(item["match"]))
        except re.error as exc:
            raise WerklandInputError(f"bad regular expression {item['match']!r} ({exc})", path=w) from exc
        patterns.append((pat, _soil_class(item.get("texture"), textures, w)))
    return SoilMapping(src, units, patterns)


@dataclass(frozen=True)
class GroundwaterClasses:
    """Gt class -> (GHG, GLG) in m below the surface; class names matched without case and "Gt"."""

    source: str
    depths: dict[str, tuple[float, float]]

    @staticmethod
    def key(name: str) -> str:
        """The lookup form of a class name: stripped, lower case, without a leading ``Gt``."""
        k = str(name).strip()
        if k[:2].lower() == "gt":
            k = k[2:].strip(" -_")
        return k.lower()

    def lookup(self, name: str) -> tuple[float, float]:
        """(GHG, GLG) of a class.

        Raises
        ------
        KeyError
            Not a class of the table.
        """
        return self.depths[self.key(name)]


def load_groundwater_classes(path: str | os.PathLike[str]) -> GroundwaterClasses:
    """Load the Gt table (``classes: {Gt: {ghg_m, glg_m, ...}}``).

    Raises
    ------
    WerklandInputError
        Missing file, no ``classes``, a class without numeric ``ghg_m``/``glg_m``.
    """
    src = str(path)
    doc = _read_yaml(src, "groundwater class table")
    classes = doc.get("classes") if isinstance(doc, Mapping) else None
    if not isinstance(classes, Mapping) or not classes:
        raise WerklandInputError("no 'classes' table", path=src, fix="give classes: {<Gt>: {ghg_m, glg_m}}")
    depths: dict[str, tuple[float, float]] = {}
    for name, spec in classes.items():
        try:
            ghg, glg = float(spec["ghg_m"]), float(spec["glg_m"])
        except (TypeError, KeyError, ValueError) as exc:
            raise WerklandInputError(f"class {name!r} needs numbers ghg_m and glg_m", path=src) from exc
        depths[GroundwaterClasses.key(str(name))] = (ghg, glg)
    return GroundwaterClasses(src, depths)


# --------------------------------------------------------------------------------------------------
# reading unit codes around the region
# --------------------------------------------------------------------------------------------------


def _is_raster(path: str) -> bool:
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def _code_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def read_units(
    path: str,
    grid: Grid,
    *,
    field: str | None,
    layer: str | None,
    what: str,
    where: str,
) -> tuple[list[str], np.ndarray]:
    """Unit codes of a vector layer (``field``) or a raster, burnt onto ``grid`` by cell centre.

    Returns
    -------
    codes : list of str
        The distinct codes met around the region.
    index : numpy.ndarray
        uint32 of ``grid.shape``: 1 + index into ``codes``, 0 = no data.

    Raises
    ------
    WerklandInputError
        Missing or unreadable file, missing field, no CRS, no overlap.
    """
    if not os.path.exists(path):
        raise WerklandInputError("file not found", path=path, fix=f"check {where}.path")
    if _is_raster(path):
        return _raster_units(path, grid, what, where)
    key = "class_field" if "soil" in what else "field"
    if not field:
        raise WerklandInputError(f"{what} is a vector file but no column is named", path=path,
                                 fix=f"set {where}.{key}")
    info = _vector_info(path, layer, what)
    fields = [str(f) for f in info["fields"]]
    if field not in fields:
        raise WerklandInputError(
            f"layer {info.get('layer_name') or layer or '(first)'!r} has no field {field!r} "
            f"(fields: {', '.join(fields)})",
            path=path,
            fix=(_join_hint(path, layer, field, fields, where) if key == "class_field" else None)
            or f"name an existing column in {where}.{key}",
        )
    gdf = _read_near(path, layer, field, info, grid, what)
    text = gdf[field].map(_code_text)
    return _burn(gdf, text, grid)


def _vector_info(path: str, layer: str | None, what: str) -> dict[str, Any]:
    info = layer_info(path, layer, what=what, fix="check the file is a complete vector dataset GDAL can open")
    info["layer_name"] = layer or _first_layer(path)
    return info


def _first_layer(path: str) -> str | None:
    try:
        return str(pyogrio.list_layers(path)[0][0])
    except Exception:  # only for messages
        return None


def _read_near(path: str, layer: str | None, column: str, info: Mapping[str, Any], grid: Grid,
               what: str) -> Any:
    """The features of ``layer`` around the grid (bbox filter), ``column`` not null, in the grid's CRS."""
    if info["crs"] is None:
        raise WerklandInputError(f"{what} has no CRS", path=path, fix="write the file with its CRS")
    bbox = bbox_in_crs(grid.bounds, grid.crs, info["crs"])
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, columns=[column], bbox=bbox, on_invalid="fix")
    except Exception as exc:
        raise unreadable(what, exc, path, "check the file is a complete vector dataset GDAL can open") from exc
    gdf = gdf[gdf.geometry.notna() & gdf[column].notna()]
    return gdf.to_crs(grid.crs.to_wkt()) if not gdf.empty else gdf


def _burn(gdf: Any, text: Any, grid: Grid) -> tuple[list[str], np.ndarray]:
    """Burn the text codes ``text`` (aligned with ``gdf``) by cell centre: (codes, 1-based index)."""
    index = np.zeros(grid.shape, dtype=np.uint32)
    if gdf.empty:
        return [], index
    codes, inv = np.unique(text.to_numpy(dtype=str), return_inverse=True)
    shapes = ((g, int(i) + 1) for g, i in zip(gdf.geometry.values, inv, strict=True) if g is not None and not g.is_empty)
    index = rasterio.features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0,
                                        dtype="uint32")
    return [str(c) for c in codes], index


def _join_hint(path: str, layer: str | None, field: str, fields: list[str], where: str) -> str | None:
    """The ``join`` to configure when ``field`` is a column of another table of the file (else None)."""
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return None
    for name in layers:
        if name == layer:
            continue
        try:
            other = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
        except Exception:
            continue
        if field in other:
            shared = [f for f in fields if f in other and f != field]
            on = shared[0] if len(shared) == 1 else "<key column shared by the layer and the table>"
            return (f"the units are in table {name!r} of this file: set {where}.join: {{table: {name}, key: {on}, "
                    f"field: {field}}} (and drop {where}.class_field)")
    return None


def read_joined_units(
    path: str,
    grid: Grid,
    valid: np.ndarray,
    *,
    layer: str | None,
    join: SoilJoin,
    what: str = "soil map",
    where: str,
) -> tuple[list[str], np.ndarray]:
    """Unit codes of a table joined to a polygon layer by a key, burnt onto ``grid`` by cell centre.

    The polygons of ``layer`` around the region are read with their key ``join.key``; the table
    ``join.table`` of the same file gives each key its unit (``join.field``; with ``join.order`` the
    row with the lowest order value, e.g. the main unit of a Bodemkaart association). Polygons whose
    key has no row in the table carry no unit (logged); when no region cell gets a unit although
    polygons cover it, the keys do not match and the run stops.

    Returns
    -------
    codes : list of str
        The distinct units met around the region.
    index : numpy.ndarray
        uint32 of ``grid.shape``: 1 + index into ``codes``, 0 = no unit.

    Raises
    ------
    WerklandInputError
        Missing file, a raster soil map with a join, a missing table, a key or unit column missing
        from the layer or the table, several different units for one key without ``join.order``,
        keys of the layer that match no row of the table.
    """
    if not os.path.exists(path):
        raise WerklandInputError("file not found", path=path, fix=f"check {where}.path")
    if _is_raster(path):
        raise WerklandInputError(f"{what} is a raster: a join applies to vector soil maps", path=path,
                                 fix=f"drop {where}.join (a raster's cell values are the units)")
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        raise unreadable(what, exc, path, "check the file is a complete vector dataset GDAL can open") from exc
    if join.table not in layers:
        raise WerklandInputError(
            f"has no table {join.table!r} to join (layers and tables: {', '.join(layers)})",
            path=path, fix=f"name the table holding the soil units in {where}.join.table",
        )
    if layer is not None and layer not in layers:
        raise WerklandInputError(f"has no layer {layer!r} (layers and tables: {', '.join(layers)})", path=path,
                                 fix=f"name the polygon layer in {where}.layer")
    info = _vector_info(path, layer, what)
    lname = info["layer_name"]
    fields = [str(f) for f in info["fields"]]
    if join.key not in fields:
        raise WerklandInputError(
            f"layer {lname!r} has no key field {join.key!r} (fields: {', '.join(fields)})", path=path,
            fix=f"name the key column the layer and table {join.table!r} share in {where}.join.key"
                f"{'' if layer else f', or the polygon layer in {where}.layer'}",
        )
    tinfo = layer_info(path, join.table, what=f"{what} table", fix="check the file is a complete GeoPackage")
    tfields = [str(f) for f in tinfo["fields"]]
    for key, col in (("key", join.key), ("field", join.field), ("order", join.order)):
        if col is not None and col not in tfields:
            raise WerklandInputError(
                f"table {join.table!r} has no {'key ' if key == 'key' else ''}field {col!r} "
                f"(fields: {', '.join(tfields)})",
                path=path, fix=f"name an existing column of {join.table!r} in {where}.join.{key}",
            )
    gdf = _read_near(path, layer, join.key, info, grid, what)
    keys = gdf[join.key].map(_code_text)
    key_codes, kindex = _burn(gdf, keys, grid)
    units = _unit_per_key(path, join, where, set(key_codes))
    codes = sorted(set(units.values()))
    pos = {c: i + 1 for i, c in enumerate(codes)}
    lut = np.zeros(len(key_codes) + 1, dtype=np.uint32)
    for i, k in enumerate(key_codes, start=1):
        if k in units:
            lut[i] = pos[units[k]]
    index = lut[kindex]
    keyed = valid & (kindex > 0)
    orphans = keyed & (index == 0)
    if orphans.any():
        missing = sorted({key_codes[i - 1] for i in np.unique(kindex[orphans]).tolist()})
        shown = ", ".join(repr(k) for k in missing[:_SHOWN]) + (
            f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else "")
        if not (keyed & (index > 0)).any():
            raise WerklandInputError(
                f"no key {join.key!r} of layer {lname!r} on the region's cells has a row in table "
                f"{join.table!r} (keys: {shown})",
                path=path,
                fix=f"check {where}.join.key names the column that links the polygons to the table's units",
            )
        LOGGER.warning("%s: %d region cells lie in polygons of layer %r whose %s has no row in table %r (%s): "
                       "no soil information there", path, int(orphans.sum()), lname, join.key, join.table, shown)
    return codes, index


def _unit_per_key(path: str, join: SoilJoin, where: str, keys: set[str]) -> dict[str, str]:
    """key -> unit of the join table, for the keys met around the region."""
    cols = [join.key, join.field] + ([join.order] if join.order else [])
    try:
        df = pyogrio.read_dataframe(path, layer=join.table, columns=cols, read_geometry=False)
    except Exception as exc:
        raise unreadable(f"table {join.table!r}", exc, path, "check the file is a complete GeoPackage") from exc
    df = df[df[join.key].notna() & df[join.field].notna()]
    df = df.assign(_key=df[join.key].map(_code_text), _unit=df[join.field].map(_code_text))
    df = df[df["_key"].isin(keys)]
    if join.order:
        num = pd.to_numeric(df[join.order], errors="coerce")  # rank "10" after "2"
        rank = num if num.notna().sum() == df[join.order].notna().sum() else df[join.order].astype(str)
        df = df.assign(_rank=rank).sort_values(["_rank", "_unit"], kind="stable", na_position="last")
    else:
        n = df.groupby("_key")["_unit"].nunique()
        several = n[n > 1]
        if len(several):
            ex = df[df["_key"] == several.index[0]]["_unit"].unique().tolist()
            raise WerklandInputError(
                f"table {join.table!r}: {len(several)} keys {join.key!r} have several different units in field "
                f"{join.field!r} (e.g. {several.index[0]!r}: {', '.join(map(repr, ex))})",
                path=path,
                fix=f"set {where}.join.order to the column ranking them (BRO Bodemkaart: "
                    "soilunit_sequencenumber, 1 = main unit)",
            )
    first = df.drop_duplicates("_key", keep="first")
    return dict(zip(first["_key"].tolist(), first["_unit"].tolist(), strict=True))


def _raster_units(path: str, grid: Grid, what: str, where: str) -> tuple[list[str], np.ndarray]:
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise WerklandInputError(f"{what} has no CRS", path=path,
                                         fix="assign one, e.g. gdal_edit.py -a_srs EPSG:28992 FILE")
            win = region_window(ds, grid)
            if win is None:
                raise WerklandInputError(f"{what} does not overlap the region", path=path,
                                         fix=f"use a raster that covers the parks plus context buffer ({where})")
            arr = ds.read(1, window=win)
            tr, crs, nodata = ds.window_transform(win), ds.crs, ds.nodata
    except RasterioIOError as exc:
        raise unreadable(what, exc, path, "check the file is a complete GDAL raster") from exc
    values, src = value_index(arr, nodata)
    index = np.zeros(grid.shape, dtype=np.uint32)
    rasterio.warp.reproject(source=src, destination=index, src_transform=tr, src_crs=crs,
                            dst_transform=grid.transform, dst_crs=rasterio.crs.CRS.from_wkt(grid.crs.to_wkt()),
                            src_nodata=0, dst_nodata=0, resampling=Resampling.nearest)
    return [_code_text(v) for v in values.tolist()], index


def _listing(counts: Mapping[str, int]) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k!r} ({n} cell{'' if n == 1 else 's'})" for k, n in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


# --------------------------------------------------------------------------------------------------
# soil and groundwater layers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoilLayers:
    """Per-cell soil and groundwater of a region (``grid.shape``).

    Attributes
    ----------
    group : numpy.ndarray
        uint8 soil group of the soil map, 1..4 = A..D, 0 = no soil information.
    infiltration_mm_h : numpy.ndarray
        float32 infiltration capacity, NaN unknown.
    ghg_m : numpy.ndarray
        float32 mean highest groundwater level below the surface, m, NaN unknown.
    """

    group: np.ndarray
    infiltration_mm_h: np.ndarray
    ghg_m: np.ndarray


def read_soil(spec: SoilInput, grid: Grid, valid: np.ndarray, *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Soil group (uint8 0..4) and infiltration capacity (float32, NaN) of the region's cells.

    The units come from ``spec.class_field`` of the polygon layer, from the table ``spec.join``
    (:func:`read_joined_units`) or from the cell values of a raster.

    Raises
    ------
    WerklandInputError
        Unreadable inputs; a bad join (missing table or column); soil units on region cells without
        a mapping (naming them, their cell counts, the table and field they come from and the
        mapping file).
    """
    mapping = load_soil_mapping(spec.mapping)
    if spec.join is not None:
        codes, index = read_joined_units(spec.path, grid, valid, layer=spec.layer, join=spec.join, where=where)
    else:
        codes, index = read_units(spec.path, grid, field=spec.class_field, layer=spec.layer, what="soil map",
                                  where=where)
    counts = np.bincount(index[valid].ravel(), minlength=len(codes) + 1)
    group_lut = np.zeros(len(codes) + 1, dtype=np.uint8)
    inf_lut = np.full(len(codes) + 1, np.nan, dtype=np.float32)
    unmapped: dict[str, int] = {}
    for i, code in enumerate(codes, start=1):
        try:
            cls = mapping.lookup(code)
        except KeyError:
            if counts[i]:
                unmapped[code] = int(counts[i])
            continue
        if cls is not None:
            group_lut[i] = cls.group
            inf_lut[i] = cls.infiltration_mm_h
    if unmapped:
        if spec.join is not None:
            field = f", table {spec.join.table!r}, field {spec.join.field!r}"
        else:
            field = f", field {spec.class_field!r}" if spec.class_field else ""
        raise WerklandInputError(
            f"soil units without a mapping inside the region{field}: {_listing(unmapped)}",
            path=spec.path,
            fix=f"add them to the soil mapping {mapping.source} (unit: texture family peat/clay/loam/sand, "
                f"or null for no soil information), or point {where}.mapping at your own mapping",
        )
    group = np.where(valid, group_lut[index], 0).astype(np.uint8)
    inf = np.where(valid, inf_lut[index], np.nan).astype(np.float32)
    LOGGER.info("soil map %s: %d units around the region, soil group on %d of %d region cells", spec.path,
                len(codes), int((group > 0).sum()), int(valid.sum()))
    return group, inf


def read_groundwater(spec: GroundwaterInput, grid: Grid, valid: np.ndarray, *, where: str) -> np.ndarray:
    """GHG (m below the surface, float32, NaN unknown) of the region's cells.

    Raises
    ------
    WerklandInputError
        Unreadable inputs; Gt classes on region cells that do not exist in the class table; GHG
        rasters whose values are not plausible in the given units.
    """
    if not _is_raster(spec.path):
        classes = load_groundwater_classes(spec.classes)
        codes, index = read_units(spec.path, grid, field=spec.field, layer=spec.layer, what="groundwater map",
                                  where=where)
        counts = np.bincount(index[valid].ravel(), minlength=len(codes) + 1)
        lut = np.full(len(codes) + 1, np.nan, dtype=np.float32)
        unknown: dict[str, int] = {}
        for i, code in enumerate(codes, start=1):
            try:
                lut[i] = classes.lookup(code)[0]
            except KeyError:
                if counts[i]:
                    unknown[code] = int(counts[i])
        if unknown:
            raise WerklandInputError(
                f"groundwater level classes that do not exist, field {spec.field!r}: {_listing(unknown)}",
                path=spec.path,
                fix=f"use the Gt classes of {classes.source} (I, II, IIa, IIb, III, IIIa, IIIb, IV, V, Va, Vb, VI, "
                    "VII, VIIo, VIId, VIII, ...) or add the class with its GHG/GLG depths to that table",
            )
        ghg = lut[index]
    else:
        z, _ = read_on_grid(spec.path, grid, what="GHG raster", fix=f"check {where}.path")
        ghg = (z * LENGTH_UNITS[spec.units]).astype(np.float32)
        vals = ghg[valid & np.isfinite(ghg)]
        if vals.size and (float(np.median(vals)) > 20.0 or float(vals.min()) < -5.0):
            raise WerklandInputError(
                f"GHG depths from {float(vals.min()):.4g} to {float(vals.max()):.4g} m (median "
                f"{float(np.median(vals)):.4g} m) are not plausible groundwater depths below the surface",
                path=spec.path,
                fix=f"set {where}.units to the units of the raster (m, cm or mm)",
            )
    return np.where(valid, ghg, np.nan).astype(np.float32)


def effective_soil_group(
    group: np.ndarray, ghg_m: np.ndarray, valid: np.ndarray, params: ClimateParams
) -> tuple[np.ndarray, np.ndarray]:
    """The soil group of every region cell as the runoff uses it.

    Returns
    -------
    mapped : numpy.ndarray
        uint8 1..4 where an input decides the group (the soil map's group, D where GHG <
        ``params.shallow_groundwater_m``), 0 elsewhere (``climate.soil_group`` applies) and outside.
    runoff_group : numpy.ndarray
        uint8 1..4 on every cell (``mapped`` completed with ``climate.soil_group``).
    """
    shallow = valid & np.isfinite(ghg_m) & (ghg_m < params.shallow_groundwater_m)
    mapped = np.where(shallow, 4, np.where(valid, group, 0)).astype(np.uint8)
    fallback = SOIL_GROUPS.index(params.soil_group) + 1
    return mapped, np.where(mapped > 0, mapped, fallback).astype(np.uint8)
