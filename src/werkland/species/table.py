"""Occurrence tables of monitoring schemes (NDFF, waarneming.nl, own surveys) as GBIF-like records.

:func:`read_occurrence_table` reads a CSV/TSV/TXT, XLSX or GeoPackage export with a column mapping
(a preset under ``config/mappings/`` such as ``ndff`` or ``waarneming``, plus any overrides) into the
normalised record table of :data:`werkland.species.gbif.RECORD_COLUMNS`, so that the records pass
the same cleaning, assignment and counting as GBIF records. Scientific names are matched to the GBIF
Backbone once per distinct name (:func:`werkland.species.names.resolve_names`, cached); a name
matched only fuzzily, at a higher rank or not at all keeps no taxon key and its records are removed
by the cleaning rule ``name_not_matched_exactly`` (and listed in ``species/names.csv``).

Location of a record, in this order:

1. ``x``/``y`` in the table's CRS (RD New in NDFF-style exports) or ``lon``/``lat`` (WGS84), with
   the uncertainty from ``uncertainty_m`` (or the half-diagonal of a square of ``area_m2``);
2. the feature geometry of a GeoPackage: a point, or a polygon (the NDFF "area" accuracy) whose
   centroid is used with the distance to its farthest vertex as the uncertainty;
3. an Amersfoort kilometre square (``km_square``, e.g. ``085-447``): its centre, uncertainty 707.1 m
   (half the diagonal);
4. none: the coordinates stay empty and the record is counted by the cleaning rule
   ``coordinates_invalid``.

Squares and areas therefore reach the parks only where the uncertainty rules of the species
section accept them (by default at most 500 m: a kilometre square never does).

Everything is vectorised (pandas/numpy/pyproj/shapely); 1 M rows with ~2,000 distinct names read in
a few seconds once the names are cached.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import yaml
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError, closest
from werkland.species.gbif.client import RECORD_COLUMNS
from werkland.species.gbif.files import normalise_licence
from werkland.species.names import (
    MATCH_FIELDS,
    PYGBIF_SOURCE,
    RANK_FIELDS,
    Matcher,
    normalise_name,
    resolve_names,
)
from werkland.species.records import NAME_MATCH_COLUMN, VALIDATED_COLUMN

log = logging.getLogger(__name__)

#: Mapping keys (werkland meaning -> column of the export) and what they hold.
TABLE_FIELDS: dict[str, str] = {
    "scientific_name": "scientific name (required); matched to the GBIF Backbone",
    "record_id": "record identifier (default: <file name>:<row number>)",
    "x": "easting in the table's crs (e.g. RD New metres)",
    "y": "northing in the table's crs",
    "lon": "longitude, WGS84 degrees",
    "lat": "latitude, WGS84 degrees",
    "date": "observation date (ISO yyyy-mm-dd, or date_format)",
    "year": "observation year (when there is no date)",
    "count": "number of individuals (0 = absence record)",
    "uncertainty_m": "coordinate uncertainty, metres (NDFF 'nauwkeurigheid', waarneming.nl 'accuracy')",
    "area_m2": "area of the location polygon, m2 (uncertainty = half the diagonal of a square of that area)",
    "km_square": "Amersfoort kilometre square 'xxx-yyy' of records without coordinates",
    "observer": "observer(s)",
    "dataset": "dataset, project or source of the record",
    "licence": "licence of the record (CC0, CC BY, CC BY-NC, ...)",
    "validation": "validation status (kept when it starts with one of 'validated')",
    "basis_of_record": "GBIF basisOfRecord (default: basis_of_record of the mapping)",
}
#: Mapping settings besides ``columns``.
MAPPING_KEYS = ("columns", "crs", "separator", "encoding", "date_format", "dayfirst", "validated",
                "basis_of_record", "licence", "dataset", "layer", "sheet", "description")
KM_SQUARE_UNCERTAINTY_M = float(np.hypot(500.0, 500.0))
_NUMERIC_FIELDS = frozenset({"x", "y", "lon", "lat", "count", "uncertainty_m", "area_m2", "year"})
_KM_RE = r"^\s*(\d{1,3})\s*[-_/ .]?\s*(\d{3})\s*$"


def mappings_dir() -> Path:
    """``config/mappings`` of the working directory, else of the source checkout."""
    here = Path("config") / "mappings"
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "config" / "mappings"


def load_table_mapping(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The effective mapping of a ``species_table`` entry: its preset, then its own settings.

    Parameters
    ----------
    spec : mapping
        ``{path, preset?, columns?, crs?, ...}`` (``preset`` = ``ndff``, ``waarneming`` or a YAML path).

    Returns
    -------
    dict
        :data:`MAPPING_KEYS` with ``columns`` merged (the entry's columns override the preset's; a
        column set to null is unmapped).

    Raises
    ------
    WerklandInputError
        Unknown preset, unreadable preset file, unknown mapping keys or field names, no scientific name.
    """
    preset = spec.get("preset")
    base: dict[str, Any] = {}
    where = "config: species_table"
    if preset:
        p = Path(str(preset))
        if p.suffix not in (".yaml", ".yml"):
            p = mappings_dir() / f"{preset}.yaml"
        if not p.is_file():
            known = sorted(f.stem for f in mappings_dir().glob("*.yaml"))
            raise WerklandInputError(f"mapping preset {preset!r} not found ({p}){closest(str(preset), known)}",
                                     path=f"{where}.preset", fix="use ndff, waarneming or the path of a mapping YAML")
        try:
            base = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise WerklandInputError(f"cannot read mapping preset ({str(exc)[:200]})", path=str(p)) from exc
        where = str(p)
        _check_keys(base, where)
    _check_keys({k: v for k, v in spec.items() if k not in ("path", "preset")}, "config: species_table")
    out = {k: base.get(k) for k in MAPPING_KEYS}
    for k in MAPPING_KEYS:
        if k != "columns" and spec.get(k) is not None:
            out[k] = spec[k]
    cols = {**(base.get("columns") or {}), **(spec.get("columns") or {})}
    columns = {k: str(v) for k, v in cols.items() if v not in (None, "")}
    out["columns"] = columns
    # columns named in the config itself must exist; a preset's columns may be absent from an export
    out["explicit_columns"] = sorted(k for k, v in (spec.get("columns") or {}).items() if v not in (None, ""))
    if "scientific_name" not in columns:
        raise WerklandInputError("the column mapping names no scientific_name column", path="config: species_table.columns",
                                 fix="map scientific_name to the export's scientific-name column, or name a preset")
    return out


def _check_keys(d: Mapping[str, Any], where: str) -> None:
    for k in d:
        if k not in MAPPING_KEYS:
            raise WerklandInputError(f"unknown mapping key {k!r}{closest(str(k), MAPPING_KEYS)}", path=where,
                                     fix=f"use {', '.join(MAPPING_KEYS)}")
    for k in (d.get("columns") or {}):
        if k not in TABLE_FIELDS:
            raise WerklandInputError(f"unknown column field {k!r}{closest(str(k), TABLE_FIELDS)}", path=f"{where}: columns",
                                     fix=f"use {', '.join(TABLE_FIELDS)}")


# --------------------------------------------------------------------------------------------
# reading


def _sniff_separator(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in ("\t", ";", ",")}
    return max(counts, key=lambda s: counts[s]) if max(counts.values()) else ","


def _read_raw(path: Path, mapping: Mapping[str, Any], usecols: list[str],
              numeric: set[str] | None = None) -> tuple[pd.DataFrame, Any, Any, list[str]]:
    """The mapped columns (``numeric`` ones parsed by the CSV reader when they are numbers, the rest
    as strings), the geometries (GeoPackage), their CRS and the header."""
    header = _header(path, mapping)
    suffix = path.suffix.lower()
    wanted = set(usecols)
    geoms = None
    gcrs = None
    if suffix in (".csv", ".tsv", ".txt"):
        enc = mapping.get("encoding") or "utf-8-sig"
        sep = mapping.get("separator") or _sniff_separator(path, enc)
        numeric = numeric or set()
        df = pd.read_csv(path, sep=sep, dtype={c: str for c in header if c in wanted and c not in numeric},
                         keep_default_na=False, na_values=[""], encoding=enc, usecols=lambda c: c in wanted,
                         quoting=csv.QUOTE_MINIMAL, low_memory=False, on_bad_lines="error")
    elif suffix in (".xlsx", ".xlsm"):
        sheet = mapping.get("sheet")
        df = pd.read_excel(path, sheet_name=0 if sheet in (None, "") else sheet, dtype=str, engine="openpyxl")
        df = df[[c for c in df.columns if str(c) in wanted]]
        df.columns = [str(c) for c in df.columns]
    elif suffix == ".gpkg":
        import pyogrio

        layer = mapping.get("layer")
        info_cols = list(pyogrio.read_info(path, layer=layer)["fields"])
        gdf = pyogrio.read_dataframe(path, layer=layer, columns=[c for c in info_cols if c in wanted])
        geoms = gdf.geometry.to_numpy() if "geometry" in gdf.columns else None
        gcrs = gdf.crs
        df = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        for c in df.columns:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
            df[c] = df[c].map(lambda v: None if v is None else str(v))
    else:
        raise WerklandInputError(f"unsupported monitoring table format {suffix!r}", path=str(path),
                                 fix="export as CSV/TSV, XLSX or GeoPackage")
    return df, geoms, gcrs, header


def _header(path: Path, mapping: Mapping[str, Any]) -> list[str]:
    """Column names of the export (read without the rows)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        enc = mapping.get("encoding") or "utf-8-sig"
        sep = mapping.get("separator") or _sniff_separator(path, enc)
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0, encoding=enc).columns]
    if suffix in (".xlsx", ".xlsm"):
        sheet = mapping.get("sheet")
        return [str(c) for c in pd.read_excel(path, sheet_name=0 if sheet in (None, "") else sheet, nrows=0,
                                              engine="openpyxl").columns]
    if suffix == ".gpkg":
        import pyogrio

        return [str(c) for c in pyogrio.read_info(path, layer=mapping.get("layer"))["fields"]]
    raise WerklandInputError(f"unsupported monitoring table format {suffix!r}", path=str(path),
                             fix="export as CSV/TSV, XLSX or GeoPackage")


def _per_value(s: pd.Series, func: Any, fill: Any) -> np.ndarray:
    """``func`` applied once per distinct value of ``s`` (a Series of the uniques -> array), spread back."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    vals = np.asarray(func(pd.Series(uniques, dtype=object)))
    dtype = vals.dtype if len(vals) else np.asarray([fill]).dtype
    out = np.empty(len(s), dtype=dtype if dtype != np.dtype("O") or fill is None else object)
    out[:] = fill
    ok = codes >= 0
    out[ok] = vals[codes[ok]]
    return out


def _num(s: pd.Series | None, n: int) -> np.ndarray:
    if s is None:
        return np.full(n, np.nan)
    if s.dtype != object:  # parsed as numbers by the reader
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return _per_value(s, lambda u: pd.to_numeric(u.astype(str).str.strip().str.replace(",", ".", regex=False),
                                                 errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), np.nan)


def _dates(s: pd.Series, fmt: str | None, dayfirst: bool) -> np.ndarray:
    """``datetime64[ns]`` per record (NaT when unparsable), parsed once per distinct value."""
    def parse(u: pd.Series) -> np.ndarray:
        u = u.astype(str)
        if fmt:
            return pd.to_datetime(u, format=fmt, errors="coerce").to_numpy(dtype="datetime64[ns]")
        d = pd.to_datetime(u, format="ISO8601", errors="coerce")
        rest = d.isna()
        if rest.any():  # dd-mm-yyyy and other local forms
            d[rest] = pd.to_datetime(u[rest], errors="coerce", dayfirst=dayfirst, format="mixed")
        return d.to_numpy(dtype="datetime64[ns]")

    return _per_value(s, parse, np.datetime64("NaT", "ns"))


def _licence_values(u: pd.Series) -> np.ndarray:
    low = u.fillna("").astype(str).str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    out = u.fillna("").astype(str).str.strip().copy()
    out[low.str.contains("by_nc", regex=False)] = "CC_BY_NC_4_0"
    out[low.str.contains("cc0", regex=False) | low.str.contains("zero", regex=False)] = "CC0_1_0"
    by = low.str.startswith("cc_by") & ~low.str.contains("by_nc", regex=False) & ~low.str.contains("by_sa", regex=False)
    out[by] = "CC_BY_4_0"
    return normalise_licence(out.where(out != "", None)).to_numpy(dtype=object)


def _licence(s: pd.Series) -> np.ndarray:
    """Licence enum names (``CC0_1_0``, ``CC_BY_4_0``, ``CC_BY_NC_4_0``, else as given), per distinct value."""
    return _per_value(s, _licence_values, "UNSPECIFIED")


def read_occurrence_table(
    path: str | os.PathLike[str],
    mapping: Mapping[str, Any] | str,
    *,
    names_cache: str | os.PathLike[str] | None = None,
    matcher: Matcher | None = None,
    name_source: str = PYGBIF_SOURCE,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a monitoring export into normalised records (and match its names when a cache is given).

    Parameters
    ----------
    path : path-like
        ``.csv``/``.tsv``/``.txt`` (separator sniffed from the header: tab, ``;`` or ``,``),
        ``.xlsx`` or ``.gpkg``.
    mapping : mapping or str
        From :func:`load_table_mapping` (``columns``, ``crs``, ``validated``, ...), or a
        ``species_table`` entry (``{preset, columns, crs, ...}``, loaded here), or a preset name
        (``"ndff"``, ``"waarneming"``).
    names_cache : path-like, optional
        ``resources/gbif/taxa.json``: match the names (:func:`attach_taxonomy`); without it the
        records carry no taxonomy yet.
    matcher : callable, optional
        Name matcher (default pygbif).
    name_source : str
        Provenance of new name matches.

    Returns
    -------
    records : pandas.DataFrame
        :data:`RECORD_COLUMNS` plus ``nameMatchType`` (``EXACT``, ``FUZZY``, ...; empty before
        matching), ``validated`` (bool, only with a ``validation`` column) and ``individualCount``.
    info : dict
        ``format``, ``member``, ``rows``, ``located_by`` (rows located by ``xy``, ``geometry``,
        ``km_square``, ``none``), ``names`` (distinct names), ``matches`` (DataFrame of the name
        matches, when matched), ``crs``.

    Raises
    ------
    WerklandInputError
        Missing file or columns, unsupported format, a table without coordinate CRS for x/y.
    """
    t0 = time.perf_counter()
    if isinstance(mapping, str):
        mapping = load_table_mapping({"path": str(path), "preset": mapping})
    elif "explicit_columns" not in mapping:
        mapping = load_table_mapping({"path": str(path), **mapping})
    p = Path(path)
    if not p.is_file():
        raise WerklandInputError("monitoring table not found", path=str(p), fix="check species_table.path in the config")
    cols: dict[str, str] = dict(mapping["columns"])
    usecols = list(dict.fromkeys(cols.values()))
    try:
        numeric = {c for f, c in cols.items() if f in _NUMERIC_FIELDS}
        raw, geoms, gcrs, header = _read_raw(p, mapping, usecols, numeric)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        if isinstance(exc, WerklandInputError):
            raise
        raise WerklandInputError(f"cannot read monitoring table ({str(exc)[:200]})", path=str(p),
                                 fix="check the export format, separator and encoding (species_table.separator / encoding)") from exc
    explicit = set(mapping.get("explicit_columns") or ()) | {"scientific_name"}
    absent = {f: c for f, c in cols.items() if c not in raw.columns}
    bad = sorted(f for f in absent if f in explicit)
    if bad:
        c = absent[bad[0]]
        raise WerklandInputError(f"column {c!r} ({bad[0]}) is not in the table{closest(c, header)}; it has {header[:25]}",
                                 path=str(p), fix="correct species_table.columns (or the preset) to the export's column names")
    if absent:
        log.info("preset columns not in %s (unmapped): %s", p.name, ", ".join(f"{f}={c}" for f, c in sorted(absent.items())))
    cols = {f: c for f, c in cols.items() if f not in absent}
    if not ({"x", "y"} <= set(cols) or {"lon", "lat"} <= set(cols) or "km_square" in cols or geoms is not None):
        raise WerklandInputError(f"the table has no location columns (x/y, lon/lat, km_square) and no geometry; it has {header[:25]}",
                                 path=str(p), fix="map x and y (with crs), lon and lat, or km_square in species_table.columns")
    n = len(raw)

    def col(field: str) -> pd.Series | None:
        return raw[cols[field]].reset_index(drop=True) if field in cols else None

    out: dict[str, Any] = {}  # columns, assembled into one DataFrame at the end
    rid = col("record_id")
    out["gbifID"] = (rid.to_numpy(dtype=object) if rid is not None
                     else (p.name + ":" + pd.RangeIndex(1, n + 1).astype(str)).to_numpy(dtype=object))
    ds = col("dataset")
    default_ds = mapping.get("dataset") or p.name
    out["datasetKey"] = ds.fillna(default_ds).to_numpy(dtype=object) if ds is not None else default_ds
    count = _num(col("count"), n)
    out["occurrenceStatus"] = np.where(count == 0, "ABSENT", "PRESENT").astype(object)
    bor = col("basis_of_record")
    default_bor = str(mapping.get("basis_of_record") or "HUMAN_OBSERVATION")
    out["basisOfRecord"] = (_per_value(bor, lambda u: u.astype(str).str.strip().str.upper().to_numpy(dtype=object), default_bor)
                            if bor is not None else default_bor)

    # location
    crs = CRS.from_user_input(mapping["crs"]) if mapping.get("crs") else None
    lon = _num(col("lon"), n)
    lat = _num(col("lat"), n)
    unc = _num(col("uncertainty_m"), n)
    area = _num(col("area_m2"), n)
    with np.errstate(invalid="ignore"):
        unc = np.where(np.isnan(unc) & (area > 0), np.sqrt(area / 2.0), unc)
    if "x" in cols and "y" in cols:
        if crs is None and gcrs is None:
            raise WerklandInputError("x/y columns need the table's crs", path="config: species_table.crs",
                                     fix="set crs (EPSG:28992 for RD New)")
        xs, ys = _num(col("x"), n), _num(col("y"), n)
        ok = np.isfinite(xs) & np.isfinite(ys) & ~(np.isfinite(lon) & np.isfinite(lat))
        if ok.any():
            tr = Transformer.from_crs(crs or CRS.from_user_input(gcrs), CRS.from_epsg(4326), always_xy=True)
            lon[ok], lat[ok] = tr.transform(xs[ok], ys[ok])
    by = np.where(np.isfinite(lon) & np.isfinite(lat), "xy", "none").astype(object)
    if geoms is not None and len(geoms):
        g = np.asarray(geoms, dtype=object)
        todo = (by == "none") & ~shapely.is_missing(g)
        todo[todo] = ~shapely.is_empty(g[todo])
        if todo.any():
            src = CRS.from_user_input(gcrs) if gcrs is not None else crs
            if src is None:
                raise WerklandInputError("the GeoPackage layer has no CRS", path=str(p), fix="set species_table.crs")
            gg = g[todo]
            cen = shapely.centroid(gg)
            radius = shapely.hausdorff_distance(cen, gg) if src.is_projected else np.full(len(gg), np.nan)
            cx, cy = shapely.get_x(cen), shapely.get_y(cen)
            tr = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)
            lo, la = tr.transform(cx, cy)
            lon[todo], lat[todo] = lo, la
            unc[todo] = np.fmax(unc[todo], radius)
            by[todo] = "geometry"
    kms = col("km_square")
    if kms is not None:
        todo = by == "none"
        if todo.any():
            parts = kms[todo].astype(str).str.extract(_KM_RE)
            kx = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            ky = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            good = np.isfinite(kx) & np.isfinite(ky)
            if good.any():
                tr = Transformer.from_crs(CRS.from_epsg(28992), CRS.from_epsg(4326), always_xy=True)
                lo, la = tr.transform(kx[good] * 1000.0 + 500.0, ky[good] * 1000.0 + 500.0)
                idx = np.flatnonzero(todo)[good]
                lon[idx], lat[idx] = lo, la
                unc[idx] = np.fmax(unc[idx], KM_SQUARE_UNCERTAINTY_M)
                by[idx] = "km_square"
    out["decimalLatitude"] = lat
    out["decimalLongitude"] = lon
    out["coordinateUncertaintyInMeters"] = unc
    out["coordinatePrecision"] = np.nan

    # date, year
    dcol = col("date")
    year = _num(col("year"), n)
    if dcol is not None:
        dv = _dates(dcol, mapping.get("date_format"), mapping.get("dayfirst") is not False)
        has = ~np.isnat(dv)
        days = dv.astype("datetime64[D]")
        iso = np.full(n, None, dtype=object)
        iso[has] = _per_value(pd.Series(days[has]), lambda u: np.datetime_as_string(
            u.to_numpy(dtype="datetime64[D]"), unit="D").astype(object), None)
        out["eventDate"] = iso
        year = np.where(has, days.astype("datetime64[Y]").astype(np.int64) + 1970.0, year)
    else:
        out["eventDate"] = None
    out["year"] = year
    obs = col("observer")
    out["recordedBy"] = obs.astype(object).where(obs.notna(), None).to_numpy(dtype=object) if obs is not None else None
    names = col("scientific_name")
    if names is None:  # load_table_mapping requires the column
        raise WerklandInputError("the export has no scientific-name column", path="config: species_table.columns",
                                 fix="map scientific_name to the export's scientific-name column")
    out["scientificName"] = names.astype(object).where(names.notna(), None).to_numpy(dtype=object)
    for c in RECORD_COLUMNS:
        if c not in out:
            out[c] = np.nan if RECORD_COLUMNS[c] == "float" else None
    lic = col("licence")
    lic_default = _licence_values(pd.Series([mapping.get("licence")], dtype=object))[0]
    out["license"] = _licence(lic) if lic is not None else np.full(n, lic_default, dtype=object)
    if lic is not None and mapping.get("licence"):
        out["license"][lic.isna().to_numpy()] = lic_default
    out["issues"] = ""
    out["individualCount"] = count
    out[NAME_MATCH_COLUMN] = ""
    val = col("validation")
    if val is not None:
        accepted = tuple(str(v).strip().lower() for v in (mapping.get("validated") or []))
        out[VALIDATED_COLUMN] = _per_value(
            val, lambda u: u.astype(str).str.strip().str.lower().str.startswith(accepted).to_numpy(dtype=bool)
            if accepted else np.zeros(len(u), dtype=bool), False).astype(bool)
    located = {k: int(np.count_nonzero(by == k)) for k in ("xy", "geometry", "km_square", "none")}
    info: dict[str, Any] = {"format": p.suffix.lower().lstrip(".").upper(), "member": p.name, "rows": n,
                            "located_by": located, "crs": str(crs) if crs else (str(gcrs) if gcrs else None)}
    log.info("read %d records from %s in %.2f s (located by x/y %d, geometry %d, km square %d, none %d)",
             n, p.name, time.perf_counter() - t0, *located.values())
    if names_cache is not None:
        sci = pd.Series(out["scientificName"], dtype=object)
        codes, uniques = pd.factorize(sci, use_na_sentinel=True)
        matches = resolve_names(uniques, names_cache, matcher=matcher, source=name_source)
        out.update(_taxonomy_columns(codes, uniques, matches))
        info["matches"] = matches
    order = [*RECORD_COLUMNS, "individualCount", NAME_MATCH_COLUMN, *([VALIDATED_COLUMN] if VALIDATED_COLUMN in out else [])]
    out = pd.DataFrame({c: out[c] for c in order}, index=pd.RangeIndex(n))
    info["names"] = int(out["scientificName"].nunique())
    return out, info


def attach_taxonomy(records: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """Fill the taxonomy of records from their names' backbone matches (one look-up per distinct name).

    Only accepted (``EXACT``) matches give names and keys; every record gets ``nameMatchType``.
    ``scientificName`` keeps the verbatim name of the export.
    """
    codes, uniques = pd.factorize(records["scientificName"], use_na_sentinel=True)
    return records.assign(**_taxonomy_columns(codes, uniques, matches))


def _taxonomy_columns(codes: np.ndarray, uniques: Any, matches: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rank names and keys, ``taxonKey``, ``taxonRank`` and ``nameMatchType`` per record from the
    factorised names (``codes`` into ``uniques``, -1 = missing)."""
    m = matches.reindex(pd.Index([normalise_name(u) for u in uniques], dtype=object))
    acc = m["accepted"].fillna(False).to_numpy(dtype=bool)
    valid = codes >= 0
    safe = np.where(valid, codes, 0)

    def take(values: np.ndarray, fill: Any) -> np.ndarray:
        res = np.full(len(codes), fill, dtype=object if fill is None else np.float64)
        if len(values):
            res[valid] = values[safe[valid]]
        return res

    def keys(col: str) -> np.ndarray:
        return np.where(acc, pd.to_numeric(m[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), np.nan)

    out: dict[str, np.ndarray] = {}
    mt = take(m["matchType"].fillna("NONE").to_numpy(dtype=object), None)
    mt[~valid] = "NONE"
    out[NAME_MATCH_COLUMN] = mt
    for r in RANK_FIELDS:
        out[r] = take(np.asarray(np.where(acc, m[r].to_numpy(dtype=object), None)), None)
        out[f"{r}Key"] = take(keys(f"{r}Key"), np.nan)
    out["taxonKey"] = take(keys("usageKey"), np.nan)
    out["taxonRank"] = take(np.asarray(np.where(acc, m["rank"].to_numpy(dtype=object), None)), None)
    return out


__all__ = ["MATCH_FIELDS", "TABLE_FIELDS", "attach_taxonomy", "load_table_mapping", "mappings_dir", "read_occurrence_table"]
