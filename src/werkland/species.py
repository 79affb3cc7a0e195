"""Species records from GBIF: fetch, clean, assign to parks/patches/land cover, count, cite.

Pipeline of :func:`run_species`:

1. **Fetch** (:func:`werkland.gbif.fetch_occurrences`) by source ``auto`` / ``api`` / ``download`` /
   ``file`` for the region polygon (short counter-clockwise WGS84 WKT, or its bounding box), with
   ``occurrenceStatus=PRESENT``, coordinates, no geospatial issues, a year range and basis of record.
2. **Clean** (:func:`process_records`), every rule counted in ``cleaning_log.csv`` in the order
   applied (a record removed by an earlier rule is not counted again): absence records,
   fossil/living specimens, missing/invalid/zero coordinates, GBIF issue flags, coarse coordinate
   precision, year range, records without a species key, records outside the (unsimplified) region,
   missing / default / too-large coordinate uncertainty (threshold relative to the park or habitat
   patch the record falls in), duplicates (species, coordinates to 5 decimals, date, recorder).
3. **Assign**: park (``region.gpkg`` layer ``parks``, geopandas ``sjoin``), habitat patch per guild
   (``patches/{guild}.tif``) and land-cover class (``landcover.tif``) by raster index look-up, guild
   membership from the guilds' ``gbif_taxa`` (name in the record's rank column; the key column is
   used only where the name column is empty, since names are authoritative).
4. **Count** per park and guild (:func:`count_species`): records, species, singletons, doubletons,
   bias-corrected Chao1 as in iNEXT with s.e. and 95 % CI, Chao & Jost sample coverage, richness
   rarefied/extrapolated to a common number of records, top species, IUCN-threatened species,
   national Red List species, CC BY-NC records.
5. **Cite** (:func:`build_citation`): DOI (download) or dataset list with counts and licences, the
   query, access date and the instruction to register a GBIF derived dataset.

Everything per record is vectorised (numpy/pandas/shapely/geopandas); the only Python loops run
over rules, guilds, taxa and (park, guild) groups.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from werkland import gbif, richness
from werkland._errors import WerklandInputError
from werkland.raster.io import atomic_path, read_raster, write_csv, write_gpkg, write_json
from werkland.tables import load_guilds, load_legend

log = logging.getLogger(__name__)

REGION_ROW = "__region__"
ALL_GUILDS = "all"
RANKS = {
    "kingdom": ("kingdom", "kingdomKey"),
    "phylum": ("phylum", "phylumKey"),
    "class": ("class", "classKey"),
    "order": ("order", "orderKey"),
    "family": ("family", "familyKey"),
    "genus": ("genus", "genusKey"),
    "species": ("species", "speciesKey"),
}
THREATENED = ("CR", "EN", "VU")

#: Parameters of :func:`run_species` and their defaults (``params`` may override any of them).
DEFAULT_PARAMS: dict[str, Any] = {
    # acquisition
    "api_base_url": gbif.DEFAULT_BASE_URL,
    "file_path": None,  # source "file": GBIF download zip or extracted table
    "refresh_cache": False,
    "year_min": 2015,
    "year_max": None,
    "basis_of_record": list(gbif.DEFAULT_BASIS_OF_RECORD),
    "taxon_keys": None,  # optional GBIF taxonKey filter for the query
    "extra_query": None,  # raw extra GBIF search parameters (dict)
    "timeout_s": [10.0, 120.0],  # (connect, read)
    "max_retries": 5,
    "backoff_s": 1.0,
    "max_records": gbif.OFFSET_LIMIT,
    "wkt_simplify_m": 10.0,
    "wkt_max_chars": 1500,
    "download_format": "SIMPLE_CSV",
    "download_poll_s": 30.0,
    "download_max_wait_s": 3600.0,
    "max_member_bytes": gbif.MAX_MEMBER_BYTES,
    # cleaning
    "drop_issues": [
        "ZERO_COORDINATE",
        "COUNTRY_COORDINATE_MISMATCH",
        "COORDINATE_OUT_OF_RANGE",
        "COORDINATE_INVALID",
        "PRESUMED_SWAPPED_COORDINATE",
        "PRESUMED_NEGATED_LONGITUDE",
        "PRESUMED_NEGATED_LATITUDE",
        "COORDINATE_REPROJECTION_FAILED",
        "COORDINATE_UNCERTAINTY_METERS_INVALID",
    ],
    "drop_rounded_coordinates": False,  # GBIF flag COORDINATE_ROUNDED
    "max_coordinate_precision_deg": 0.01,  # coordinatePrecision >= this (degrees) is dropped (~1 km)
    "uncertainty_max_m": 100.0,  # absolute threshold (standard tier)
    "uncertainty_rel_factor": 0.25,  # x equal-area radius of the park/patch the record falls in
    "uncertainty_cap_m": 500.0,  # never accept more than this
    "keep_missing_uncertainty": False,
    "default_uncertainties_m": [301.0, 3036.0, 999.0, 9999.0],
    # counting
    "rarefy_m": "auto",  # int, or "auto" = smallest park sample with >= rarefy_min_records
    "rarefy_min_records": 20,
    "top_n": 5,
    "national_red_list_csv": None,  # CSV with scientificName (or species/name) and category
}


# --------------------------------------------------------------------------------------------
# inputs


def guild_taxa(guilds: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Guild name -> list of ``{rank, name, key}`` from the guilds of :func:`werkland.tables.load_guilds`
    (which validates ranks and names)."""
    return {
        name: [{"rank": str(t["rank"]), "name": str(t["name"]).strip(),
                "key": int(t["key"]) if t.get("key") not in (None, "") else None} for t in g.gbif_taxa]
        for name, g in guilds.items()
    }


def read_region(region_gpkg: str | os.PathLike[str]) -> tuple[Any, gpd.GeoDataFrame, CRS]:
    """Region polygon (union of layer ``region``), the ``parks`` layer and their metric CRS."""
    try:
        reg = gpd.read_file(region_gpkg, layer="region", engine="pyogrio")
        parks = gpd.read_file(region_gpkg, layer="parks", engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError
        raise WerklandInputError(f"cannot read layers 'region' and 'parks' ({str(exc)[:200]})", path=str(region_gpkg),
                                 fix="run the regions stage first") from exc
    if reg.crs is None or not CRS.from_user_input(reg.crs).is_projected:
        raise WerklandInputError("region layer has no metric CRS", path=f"{region_gpkg}:region", fix="write it in EPSG:28992 or UTM")
    crs = CRS.from_user_input(reg.crs)
    if "park_id" not in parks.columns:
        raise WerklandInputError("parks layer has no park_id column", path=f"{region_gpkg}:parks", fix="see docs/architecture.md")
    if len(parks) and parks.crs is not None and CRS.from_user_input(parks.crs) != crs:
        parks = parks.to_crs(crs)
    parks = parks.copy()
    parks["park_id"] = parks["park_id"].astype(str)
    parks["area_m2"] = parks.geometry.area
    region = shapely.make_valid(shapely.union_all(reg.geometry.values))
    if region.is_empty:
        raise WerklandInputError("region layer is empty", path=f"{region_gpkg}:region", fix="run the regions stage first")
    return region, parks, crs


def load_national_red_list(path: str | os.PathLike[str]) -> pd.DataFrame:
    """National Red List CSV -> columns ``name_key`` (lower-case binomial) and ``category``."""
    try:
        t = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError) as exc:
        raise WerklandInputError(f"cannot read national red list ({exc})", path=str(path), fix="CSV with scientificName,category") from exc
    name_col = next((c for c in ("scientificName", "species", "name", "wetenschappelijke_naam") if c in t.columns), None)
    cat_col = next((c for c in ("category", "categorie", "status") if c in t.columns), None)
    if name_col is None or cat_col is None:
        raise WerklandInputError(f"national red list needs a scientificName and a category column (has {list(t.columns)})",
                                 path=str(path), fix="rename the columns to scientificName,category")
    out = pd.DataFrame({"name_key": _name_key(t[name_col]), "category": t[cat_col].fillna("").str.strip()})
    return out[out["name_key"] != ""].drop_duplicates("name_key")


def _name_key(s: pd.Series) -> pd.Series:
    """Lower-case canonical binomial (first two words) for name joins."""
    return s.fillna("").astype(str).str.strip().str.lower().str.split().str[:2].str.join(" ")


# --------------------------------------------------------------------------------------------
# cleaning and assignment


def _raster_lookup(arr: np.ndarray, grid: Any, x: np.ndarray, y: np.ndarray, crs: CRS) -> np.ndarray:
    """Cell values under points (0 outside the raster); coordinates in ``crs``."""
    if len(x) == 0:
        return np.zeros(0, dtype=arr.dtype)
    if grid.crs is not None and CRS.from_user_input(grid.crs) != crs:
        x, y = Transformer.from_crs(crs, grid.crs, always_xy=True).transform(x, y)
    t = grid.transform
    colf = np.floor((np.asarray(x) - t.c) / t.a)
    rowf = np.floor((np.asarray(y) - t.f) / t.e)
    ok = np.isfinite(colf) & np.isfinite(rowf) & (colf >= 0) & (colf < grid.width) & (rowf >= 0) & (rowf < grid.height)
    out = np.zeros(len(x), dtype=arr.dtype)
    out[ok] = arr[rowf[ok].astype(np.int64), colf[ok].astype(np.int64)]
    return out


class _RuleLog:
    def __init__(self, n: int) -> None:
        self.keep = np.ones(n, dtype=bool)
        self.rows: list[dict[str, Any]] = [{"step": 0, "rule": "input", "description": "records received from GBIF", "removed": 0, "remaining": n}]

    def apply(self, rule: str, description: str, fail: np.ndarray) -> None:
        fail = np.asarray(fail, dtype=bool)
        removed = int(np.count_nonzero(fail & self.keep))
        self.keep &= ~fail
        self.rows.append({"step": len(self.rows), "rule": rule, "description": description, "removed": removed,
                          "remaining": int(self.keep.sum())})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "rule", "description", "removed", "remaining"])


def _upper(s: pd.Series) -> pd.Series:
    return s.fillna("").astype(str).str.upper()


def process_records(
    records: pd.DataFrame,
    *,
    region: Any,
    parks: gpd.GeoDataFrame,
    crs: CRS,
    landcover: tuple[np.ndarray, Any] | None,
    legend: Mapping[int, str],
    patches: Mapping[str, tuple[np.ndarray, Any]],
    guild_taxa: Mapping[str, list[dict[str, Any]]],
    params: Mapping[str, Any],
    red_list: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Clean records and assign park, patches, land cover and guilds (all vectorised).

    Parameters
    ----------
    records : pandas.DataFrame
        Normalised GBIF records (:data:`werkland.gbif.RECORD_COLUMNS`).
    region : shapely geometry
        Region polygon in ``crs`` (unsimplified; records are clipped to it).
    parks : geopandas.GeoDataFrame
        ``park_id``, ``area_m2`` (m²), geometry in ``crs``.
    crs : pyproj.CRS
        Metric CRS of the region.
    landcover : (array, Grid) or None
        uint8 legend codes (0 = none).
    legend : mapping
        Code -> class name.
    patches : mapping
        Guild -> (int32 patch ids, Grid), 0 = no patch.
    guild_taxa : mapping
        Guild -> ``[{rank, name, key}]``.
    params : mapping
        :data:`DEFAULT_PARAMS` merged with the user's values.
    red_list : pandas.DataFrame, optional
        From :func:`load_national_red_list`.

    Returns
    -------
    clean : pandas.DataFrame
        Kept records with ``x``, ``y`` (metres, ``crs``), ``park_id``, ``patch_id_<guild>``,
        ``landcover_code``, ``landcover_class``, ``in_<guild>`` (bool), ``guild`` (``;``-joined),
        ``iucn_threatened``, ``national_red_list_category``, ``cc_by_nc``.
    cleaning_log : pandas.DataFrame
        ``step, rule, description, removed, remaining``.
    warnings : list of str
        E.g. guild taxon keys that contradict the taxon names in the records.
    """
    t0 = time.perf_counter()
    n = len(records)
    rl = _RuleLog(n)
    warnings: list[str] = []
    lat = records["decimalLatitude"].to_numpy(dtype=np.float64, na_value=np.nan)
    lon = records["decimalLongitude"].to_numpy(dtype=np.float64, na_value=np.nan)

    rl.apply("absence", "occurrenceStatus ABSENT (absence records)", (_upper(records["occurrenceStatus"]) == "ABSENT").to_numpy())
    bor = _upper(records["basisOfRecord"])
    rl.apply("fossil_or_living_specimen", "basisOfRecord FOSSIL_SPECIMEN or LIVING_SPECIMEN",
             bor.isin(["FOSSIL_SPECIMEN", "LIVING_SPECIMEN"]).to_numpy())
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180) | ((lat == 0) & (lon == 0))
    rl.apply("coordinates_invalid", "coordinates missing, out of range or (0, 0)", bad)
    flags = list(params.get("drop_issues") or [])
    if params.get("drop_rounded_coordinates"):
        flags.append("COORDINATE_ROUNDED")
    issues = records["issues"].fillna("").astype(str)
    has_issue = (issues != "").to_numpy()
    if flags and has_issue.any():
        padded = ";" + issues[has_issue] + ";"
    for flag in flags:
        fail = np.zeros(n, dtype=bool)
        if has_issue.any():
            fail[has_issue] = padded.str.contains(f";{flag};", regex=False).to_numpy()
        rl.apply(f"issue:{flag}", f"GBIF issue flag {flag}", fail)
    prec = records["coordinatePrecision"].to_numpy(dtype=np.float64, na_value=np.nan)
    pmax = params.get("max_coordinate_precision_deg")
    with np.errstate(invalid="ignore"):
        rl.apply("coarse_coordinate_precision", f"coordinatePrecision >= {pmax} degrees (rounded coordinates)",
                 (prec >= pmax) if pmax else np.zeros(n, bool))
    year = records["year"].to_numpy(dtype=np.float64, na_value=np.nan)
    y0, y1 = params.get("year_min"), params.get("year_max")
    with np.errstate(invalid="ignore"):
        bad_year = np.zeros(n, dtype=bool)
        if y0 is not None:
            bad_year |= ~(year >= y0)
        if y1 is not None:
            bad_year |= ~(year <= y1)
    rl.apply("year_out_of_range", f"year missing or outside {y0}..{y1}", bad_year)
    rl.apply("not_identified_to_species", "no GBIF speciesKey (identified above species level)",
             records["speciesKey"].isna().to_numpy())

    # project the survivors and clip to the (unsimplified) region
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    idx = np.flatnonzero(rl.keep)
    if len(idx):
        tr = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
        x[idx], y[idx] = tr.transform(lon[idx], lat[idx])
    inside = np.zeros(n, dtype=bool)
    if len(idx):
        shapely.prepare(region)
        inside[idx] = shapely.intersects_xy(region, x[idx], y[idx])
    rl.apply("outside_region", "outside the region polygon after local clipping", ~inside)

    # park and patches of the survivors (needed for the relative uncertainty threshold)
    idx = np.flatnonzero(rl.keep)
    park_pos = np.full(n, -1, dtype=np.int64)
    if len(idx) and len(parks):
        pts = gpd.GeoDataFrame({"_i": idx}, geometry=gpd.points_from_xy(x[idx], y[idx]), crs=crs)
        j = gpd.sjoin(pts, parks[["geometry"]].reset_index(drop=True), how="inner", predicate="intersects")
        j = j[~j.index.duplicated(keep="first")]  # overlapping parks: the first park wins
        park_pos[j["_i"].to_numpy()] = j["index_right"].to_numpy()
    park_area = np.where(park_pos >= 0, parks["area_m2"].to_numpy(dtype=np.float64)[np.maximum(park_pos, 0)] if len(parks) else 0.0, 0.0)
    patch_ids: dict[str, np.ndarray] = {}
    patch_area = np.zeros(n)
    for g, (arr, grid) in patches.items():
        pid = np.zeros(n, dtype=np.int32)
        pid[idx] = _raster_lookup(arr, grid, x[idx], y[idx], crs)
        patch_ids[g] = pid
        if len(idx) and pid.any():
            cells = np.bincount(np.clip(arr.ravel(), 0, None).astype(np.int64))
            area = cells.astype(np.float64) * abs(grid.transform.a * grid.transform.e)
            area[0] = 0.0
            patch_area = np.maximum(patch_area, area[np.clip(pid, 0, len(area) - 1)])
    unit_area = np.where(park_area > 0, park_area, patch_area)
    radius = np.sqrt(unit_area / np.pi)
    thr = np.minimum(np.maximum(float(params["uncertainty_max_m"]), float(params["uncertainty_rel_factor"]) * radius),
                     float(params["uncertainty_cap_m"]))
    unc = records["coordinateUncertaintyInMeters"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not params.get("keep_missing_uncertainty"):
        rl.apply("uncertainty_missing", "coordinateUncertaintyInMeters missing", np.isnan(unc))
    rl.apply("uncertainty_default_value", f"coordinateUncertaintyInMeters is a default value {params['default_uncertainties_m']}",
             np.isin(unc, np.asarray(params.get("default_uncertainties_m") or [], dtype=np.float64)))
    with np.errstate(invalid="ignore"):
        rl.apply("uncertainty_too_large",
                 f"coordinateUncertaintyInMeters > max({params['uncertainty_max_m']} m, {params['uncertainty_rel_factor']} x "
                 f"equal-area radius of the park, else of the habitat patch), capped at {params['uncertainty_cap_m']} m",
                 unc > thr)

    # duplicates among the survivors
    idx = np.flatnonzero(rl.keep)
    dup = np.zeros(n, dtype=bool)
    if len(idx):
        key = pd.DataFrame({
            "s": records["speciesKey"].to_numpy()[idx],
            "la": np.round(lat[idx], 5),
            "lo": np.round(lon[idx], 5),
            "d": records["eventDate"].to_numpy()[idx],
            "r": records["recordedBy"].to_numpy()[idx],
        })
        dup[idx] = key.duplicated(keep="first").to_numpy()
    rl.apply("duplicate", "same species, coordinates (5 decimals), eventDate and recordedBy as an earlier record", dup)

    keep = rl.keep
    clean = records.loc[keep].reset_index(drop=True)
    clean["speciesKey"] = clean["speciesKey"].astype(np.int64)
    clean["x"] = x[keep]
    clean["y"] = y[keep]
    pp = park_pos[keep]
    pid_arr = parks["park_id"].to_numpy(dtype=object) if len(parks) else np.array([], dtype=object)
    clean["park_id"] = np.where(pp >= 0, pid_arr[np.maximum(pp, 0)] if len(parks) else None, None)
    for g, pid in patch_ids.items():
        clean[f"patch_id_{g}"] = pid[keep]
    if landcover is not None:
        codes = _raster_lookup(landcover[0], landcover[1], clean["x"].to_numpy(), clean["y"].to_numpy(), crs)
        lut = np.full(256, None, dtype=object)
        for c, name in legend.items():
            if 0 < int(c) < 256:
                lut[int(c)] = name
        clean["landcover_code"] = codes.astype(np.int64)
        clean["landcover_class"] = lut[codes.astype(np.int64) % 256]
    else:
        clean["landcover_code"] = 0
        clean["landcover_class"] = None

    # guild membership: names are authoritative, keys only where the name column is empty
    guild_str = pd.Series("", index=clean.index, dtype=object)
    for g, taxa in guild_taxa.items():
        m = np.zeros(len(clean), dtype=bool)
        for t in taxa:
            ncol, kcol = RANKS[t["rank"]]
            names = clean[ncol].fillna("").astype(str).str.strip().str.lower()
            by_name = (names == t["name"].lower()).to_numpy()
            m |= by_name
            if t["key"] is not None:
                by_key = (clean[kcol] == t["key"]).to_numpy()
                empty = (names == "").to_numpy()
                m |= by_key & empty
                conflict = int(np.count_nonzero(by_key & ~empty & ~by_name))
                if conflict:
                    w = (f"guild {g}: key {t['key']} ({t['rank']} {t['name']}) matched {conflict} record(s) whose {ncol} is "
                         f"not {t['name']}; names win -- check the key in guilds.yaml")
                    log.warning(w)
                    warnings.append(w)
        clean[f"in_{g}"] = m
        guild_str = guild_str + np.where(m, g + ";", "")
    clean["guild"] = guild_str.str.rstrip(";")
    clean["iucn_threatened"] = clean["iucnRedListCategory"].isin(THREATENED).to_numpy()
    if red_list is not None and len(red_list):
        cat = _name_key(clean["species"]).map(red_list.set_index("name_key")["category"])
        clean["national_red_list_category"] = cat.where(cat.notna(), None)
    else:
        clean["national_red_list_category"] = None
    clean["cc_by_nc"] = (clean["license"] == "CC_BY_NC_4_0").to_numpy()
    dt = time.perf_counter() - t0
    log.info("cleaned %d -> %d records in %.2f s (%.0f records/s)", n, len(clean), dt, n / max(dt, 1e-9))
    return clean, rl.frame(), warnings


# --------------------------------------------------------------------------------------------
# counting


COUNT_COLUMNS = [
    "park_id", "guild", "records", "species", "singletons", "doubletons", "chao1", "chao1_se", "chao1_lcl", "chao1_ucl",
    "chao1_variant", "coverage", "rarefied_m", "rarefied_richness", "rarefied_coverage", "top_species",
    "iucn_threatened_species", "national_red_list_species", "cc_by_nc_records", "status", "message",
]


def count_species(
    clean: pd.DataFrame,
    park_ids: list[str],
    guilds: list[str],
    params: Mapping[str, Any],
    *,
    status: str = "ok",
    message: str = "",
) -> pd.DataFrame:
    """Per park (and the whole region, ``park_id = "__region__"``) and per guild (and ``all``) counts.

    Parameters
    ----------
    clean : pandas.DataFrame
        Output of :func:`process_records`.
    park_ids : list of str
        All parks (parks without records get rows with zeros).
    guilds : list of str
        Guild names (``in_<guild>`` columns).
    params : mapping
        ``rarefy_m``, ``rarefy_min_records``, ``top_n``.
    status, message : str
        Written to every row (e.g. ``no_data`` and why).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COUNT_COLUMNS`; ``rarefied_*`` at a common number of records per guild (the
        smallest park sample with at least ``rarefy_min_records`` records, unless ``rarefy_m`` is an
        integer), extrapolated up to twice a park's sample and ``nan`` beyond.
    """
    rows: list[dict[str, Any]] = []
    top_n = int(params.get("top_n", 5))
    names = clean.groupby("speciesKey")["species"].first() if len(clean) else pd.Series(dtype=object)
    for g in [ALL_GUILDS, *guilds]:
        sub = clean if g == ALL_GUILDS or not len(clean) else clean[clean[f"in_{g}"].to_numpy()]
        sub_p = sub[sub["park_id"].notna()] if len(sub) else sub
        if len(sub_p):
            ab = sub_p.groupby(["park_id", "speciesKey"], sort=False).size()
            per_park = {str(k): v.droplevel(0) for k, v in ab.groupby(level=0, sort=False)}
        else:
            per_park = {}
        region_ab = sub.groupby("speciesKey").size() if len(sub) else pd.Series(dtype=np.int64)
        m_common = _common_m(per_park, params)
        park_rows = {str(k): v for k, v in sub_p.groupby("park_id", sort=False)} if len(sub_p) else {}
        for pid in [*park_ids, REGION_ROW]:
            grp = region_ab if pid == REGION_ROW else per_park.get(pid, pd.Series(dtype=np.int64))
            x = grp.to_numpy(dtype=np.int64)
            row: dict[str, Any] = {"park_id": pid, "guild": g, **richness.summarise(x, m_common)}
            top = grp.sort_values(ascending=False, kind="stable").head(top_n)
            row["top_species"] = "; ".join(f"{names.get(k, k)} ({int(v)})" for k, v in top.items())
            gsel = sub if pid == REGION_ROW else park_rows.get(pid, sub_p.iloc[:0])
            row["iucn_threatened_species"] = int(gsel.loc[gsel["iucn_threatened"], "speciesKey"].nunique()) if len(gsel) else 0
            row["national_red_list_species"] = (int(gsel.loc[gsel["national_red_list_category"].notna(), "speciesKey"].nunique())
                                                if len(gsel) else 0)
            row["cc_by_nc_records"] = int(gsel["cc_by_nc"].sum()) if len(gsel) else 0
            row["chao1_variant"] = "iNEXT bias-corrected"
            row["status"] = status
            row["message"] = message
            rows.append(row)
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def _common_m(per_park: Mapping[str, pd.Series], params: Mapping[str, Any]) -> int | None:
    m = params.get("rarefy_m", "auto")
    if m not in (None, "auto"):
        return int(m)
    ns = [int(v.sum()) for v in per_park.values() if int(v.sum()) >= int(params.get("rarefy_min_records", 20))]
    return min(ns) if ns else None


# --------------------------------------------------------------------------------------------
# citation


_LIC_RANK = {"CC0_1_0": 0, "CC_BY_4_0": 1, "CC_BY_NC_4_0": 2}
DERIVED_DATASET_INSTRUCTION = (
    "The published numbers come from a filtered subset of GBIF-mediated data: register a GBIF derived dataset "
    "(https://www.gbif.org/derived-dataset/register, API POST /v1/derivedDataset) listing the datasets and record "
    "counts below and a public copy of the cleaned occurrences, and cite its DOI (10.15468/dd.*) with the results."
)


def build_citation(fetch: gbif.FetchResult, raw: pd.DataFrame, clean: pd.DataFrame, source: str) -> dict[str, Any]:
    """Citation record for ``species/citation.json``: DOI or datasets with counts and licences.

    Parameters
    ----------
    fetch : werkland.gbif.FetchResult
    raw, clean : pandas.DataFrame
        Records before and after cleaning.
    source : str
        Configured source.
    """
    datasets: list[dict[str, Any]] = []
    if len(raw):
        r = raw.assign(_lr=raw["license"].map(_LIC_RANK).fillna(3))
        agg = r.groupby("datasetKey", dropna=False).agg(records_raw=("gbifID", "size"), lr=("_lr", "max"))
        lic_of = r.sort_values("_lr").groupby("datasetKey", dropna=False)["license"].last()
        kept = clean.groupby("datasetKey", dropna=False).size() if len(clean) else pd.Series(dtype=np.int64)
        for k, a in agg.sort_values("records_raw", ascending=False).iterrows():
            datasets.append({"datasetKey": None if pd.isna(k) else str(k), "records_raw": int(a["records_raw"]),
                             "records_clean": int(kept.get(k, 0)), "license": str(lic_of.get(k)),
                             "url": None if pd.isna(k) else f"https://www.gbif.org/dataset/{k}"})
    licences = {str(k): int(v) for k, v in clean["license"].value_counts().items()} if len(clean) else {}
    nc = int(clean["cc_by_nc"].sum()) if len(clean) else 0
    doi = fetch.doi
    cit: dict[str, Any] = {
        "status": fetch.status,
        "message": fetch.message,
        "source": source,
        "mode": fetch.mode,
        "doi": doi,
        "doi_url": f"https://doi.org/{doi}" if doi else None,
        "download_key": fetch.download_key,
        "gbif_citation": fetch.citation,
        "access_date": fetch.access_date,
        "query": fetch.query,
        "query_sha256": fetch.query_hash,
        "count_reported_by_gbif": fetch.count_reported,
        "records_raw": int(len(raw)),
        "records_clean": int(len(clean)),
        "datasets": datasets,
        "n_datasets": len(datasets),
        "licences_clean_records": licences,
        "cc_by_nc_records": nc,
        "commercial_use_note": (f"{nc} cleaned record(s) are CC BY-NC 4.0: not for commercial use of the records; "
                                "check with the rights holders before commercial publication" if nc else
                                "no CC BY-NC records among the cleaned records"),
        "derived_dataset_instruction": DERIVED_DATASET_INSTRUCTION,
        "caveats": "presence-only data; sampling effort is uneven (roads, towns, reserves) and business parks are "
                   "rarely visited; compare parks only at a common number of records or coverage",
    }
    cit["text"] = citation_text(cit)
    return cit


def citation_text(cit: Mapping[str, Any]) -> str:
    """Plain-text citation for reports."""
    if cit["status"] == "no_data":
        return f"No GBIF species data: {cit['message']}"
    lines = []
    if cit.get("doi"):
        lines.append(cit.get("gbif_citation") or f"GBIF.org GBIF Occurrence Download https://doi.org/{cit['doi']}")
    else:
        how = "a GBIF occurrence file" if cit["mode"] == "file" else "the GBIF occurrence search API"
        lines.append(f"GBIF.org ({cit.get('access_date')}) occurrence data accessed via {how}; query sha256 {cit['query_sha256'][:12]}.")
        if cit.get("gbif_citation"):
            lines.append(cit["gbif_citation"])
        lines.append(f"Data from {cit['n_datasets']} dataset(s): "
                     + "; ".join(f"{d['datasetKey']} ({d['records_clean']} records, {d['license']})" for d in cit["datasets"][:20])
                     + (" ..." if cit["n_datasets"] > 20 else ""))
        lines.append(DERIVED_DATASET_INSTRUCTION)
    lines.append(cit["commercial_use_note"])
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# outputs


def _occurrence_frame(clean: pd.DataFrame, crs: CRS, guilds: list[str]) -> gpd.GeoDataFrame:
    cols = ["gbifID", "datasetKey", "speciesKey", "species", "scientificName", "kingdom", "class", "order", "family",
            "genus", "eventDate", "year", "recordedBy", "basisOfRecord", "license", "cc_by_nc", "decimalLatitude",
            "decimalLongitude", "coordinateUncertaintyInMeters", "iucnRedListCategory", "iucn_threatened",
            "national_red_list_category", "park_id", *[f"patch_id_{g}" for g in guilds], "guild", "landcover_class",
            "landcover_code"]
    if len(clean):
        df = clean.reindex(columns=cols)
        geom = gpd.points_from_xy(clean["x"].to_numpy(), clean["y"].to_numpy())
    else:
        df = pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in cols})
        geom = gpd.GeoSeries([], dtype="geometry")
    return gpd.GeoDataFrame(df, geometry=geom, crs=crs)


def _empty_dtype(c: str) -> str:
    if c.startswith("patch_id_") or c in ("speciesKey", "landcover_code"):
        return "int64"
    if c in ("year", "decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters"):
        return "float64"
    if c in ("cc_by_nc", "iucn_threatened"):
        return "bool"
    return "object"


def run_species(
    region_gpkg: str | os.PathLike[str],
    landcover_tif: str | os.PathLike[str] | None,
    patches_tifs: Mapping[str, str | os.PathLike[str]],
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    out_occurrences_gpkg: str | os.PathLike[str],
    out_counts_csv: str | os.PathLike[str],
    out_citation_json: str | os.PathLike[str],
    out_cleaning_log_csv: str | os.PathLike[str],
    *,
    source: str,
    params: Mapping[str, Any] | None,
    cache_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """Fetch, clean, assign, count and cite GBIF occurrences for one region.

    Parameters
    ----------
    region_gpkg : path-like
        ``region.gpkg`` with layers ``region`` and ``parks`` (metric CRS).
    landcover_tif : path-like or None
        ``landcover.tif`` (uint8 legend codes, 0 = outside).
    patches_tifs : mapping
        Guild -> ``patches/{guild}.tif`` (int32 patch ids, 0 = none).
    legend_yaml, guilds_yaml : path-like
        ``config/landcover_classes.yaml`` and ``config/guilds.yaml``.
    out_occurrences_gpkg, out_counts_csv, out_citation_json, out_cleaning_log_csv : path-like
        Outputs (layer ``occurrences``); a plain-text citation is also written beside the JSON
        (same name, ``.txt``).
    source : {"auto", "api", "download", "file", "none"}
        Where the records come from.
    params : mapping or None
        Overrides of :data:`DEFAULT_PARAMS` (unknown keys are an error).
    cache_dir : path-like
        GBIF cache root (``resources/gbif``).

    Returns
    -------
    dict
        ``status`` (ok / empty / no_data), ``message``, ``mode``, ``records_raw``, ``records_clean``,
        ``species``, ``doi``, ``warnings``.

    Raises
    ------
    WerklandInputError
        Bad inputs or configuration (including GBIF 400 answers and too large API queries).
    """
    p = {**DEFAULT_PARAMS, **dict(params or {})}
    unknown = set(p) - set(DEFAULT_PARAMS)
    if unknown:
        raise WerklandInputError(f"unknown species parameter(s) {sorted(unknown)}", path="config: species",
                                 fix=f"known parameters: {', '.join(sorted(DEFAULT_PARAMS))}")
    region, parks, crs = read_region(region_gpkg)
    legend_table = load_legend(legend_yaml)
    taxa_of = guild_taxa(load_guilds(guilds_yaml, legend_table))
    guilds = list(taxa_of)
    legend = {c.code: c.name for c in legend_table.classes}
    filters = {"year_min": p["year_min"], "year_max": p["year_max"], "basis_of_record": p["basis_of_record"],
               "taxon_keys": p["taxon_keys"], "extra": p["extra_query"]}
    geometry = None
    if source != "file":
        geometry = gbif.region_query_geometry(region, crs, simplify_m=float(p["wkt_simplify_m"]), max_chars=int(p["wkt_max_chars"]))
        log.info("GBIF query geometry: %d points%s", geometry.n_points, " (bounding box)" if geometry.is_bbox else "")
    t = p["timeout_s"]
    fetch = gbif.fetch_occurrences(
        source, geometry=geometry, filters=filters, cache_dir=cache_dir, base_url=p["api_base_url"], file_path=p["file_path"],
        refresh=bool(p["refresh_cache"]), client_options={"timeout": (float(t[0]), float(t[1])), "max_retries": int(p["max_retries"]),
                                                        "backoff_s": float(p["backoff_s"])},
        max_records=int(p["max_records"]), download_format=p["download_format"], poll_s=float(p["download_poll_s"]),
        max_wait_s=float(p["download_max_wait_s"]), max_member_bytes=int(p["max_member_bytes"]),
    )
    raw = fetch.records
    warnings: list[str] = []
    if fetch.status == "no_data":
        log.warning("%s", fetch.message)
    if len(raw):
        landcover = None
        if landcover_tif:
            arr, grid, _ = read_raster(landcover_tif)
            landcover = (arr, grid)
        patches = {}
        for g in guilds:
            if g in patches_tifs:
                arr, grid, _ = read_raster(patches_tifs[g])
                patches[g] = (arr.astype(np.int32, copy=False), grid)
            else:
                log.warning("no patch raster for guild %s: patch_id_%s will be 0", g, g)
                patches[g] = (np.zeros((1, 1), np.int32), _dummy_grid(crs))
        red = load_national_red_list(p["national_red_list_csv"]) if p["national_red_list_csv"] else None
        clean, clog, warnings = process_records(raw, region=region, parks=parks, crs=crs, landcover=landcover, legend=legend,
                                                patches=patches, guild_taxa=taxa_of, params=p, red_list=red)
    else:
        clean, clog, _ = process_records(raw, region=region, parks=parks, crs=crs, landcover=None, legend=legend,
                                         patches={g: (np.zeros((1, 1), np.int32), _dummy_grid(crs)) for g in guilds},
                                         guild_taxa=taxa_of, params=p)
        clog.loc[0, "description"] = f"no records: {fetch.message}"
    status, message = fetch.status, fetch.message
    if status == "ok" and len(clean) == 0:
        status, message = "empty", "no records left after cleaning (see cleaning_log.csv)"
    counts = count_species(clean, parks["park_id"].tolist(), guilds, p, status=status, message=message)
    cit = build_citation(fetch, raw, clean, source)
    cit["status"], cit["message"] = status, message
    cit["warnings"] = warnings
    cit["text"] = citation_text(cit)
    write_gpkg(_occurrence_frame(clean, crs, guilds), out_occurrences_gpkg, "occurrences")
    write_csv(counts, out_counts_csv)
    write_csv(clog, out_cleaning_log_csv)
    write_json(cit, out_citation_json)
    with atomic_path(Path(out_citation_json).with_suffix(".txt")) as tmp:
        tmp.write_text(cit["text"] + "\n", encoding="utf-8")
    n_species = int(clean["speciesKey"].nunique()) if len(clean) else 0
    log.info("species stage: %s (%s): %d raw -> %d clean records, %d species", status, fetch.mode, len(raw), len(clean), n_species)
    return {"status": status, "message": message, "mode": fetch.mode, "records_raw": int(len(raw)), "records_clean": int(len(clean)),
            "species": n_species, "doi": fetch.doi, "warnings": warnings}


def _dummy_grid(crs: CRS) -> Any:
    from affine import Affine

    from werkland.raster.io import Grid

    return Grid(1, 1, Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), crs)
