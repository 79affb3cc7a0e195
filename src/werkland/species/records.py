"""Occurrence records: constants, region inputs, and the cleaning and assignment of :func:`process_records`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from werkland._errors import WerklandInputError
from werkland.params.species import SpeciesParams

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


#: Taxon key columns a ``species.taxon_keys`` filter is checked against (any rank matches).
TAXON_KEY_COLUMNS = ("kingdomKey", "phylumKey", "classKey", "orderKey", "familyKey", "genusKey", "speciesKey", "taxonKey")
#: Optional record columns of monitoring tables (:mod:`werkland.species.table`): the backbone match
#: type of the record's name and whether the record passed the scheme's validation.
NAME_MATCH_COLUMN = "nameMatchType"
VALIDATED_COLUMN = "validated"


class _RuleLog:
    def __init__(self, n: int, description: str = "records received from GBIF") -> None:
        self.keep = np.ones(n, dtype=bool)
        self.rows: list[dict[str, Any]] = [{"step": 0, "rule": "input", "description": description, "removed": 0, "remaining": n}]

    def apply(self, rule: str, description: str, fail: np.ndarray, *, listed: bool = True) -> None:
        """Remove the failing records; ``listed=False`` writes the row only when it removed records."""
        fail = np.asarray(fail, dtype=bool)
        removed = int(np.count_nonzero(fail & self.keep))
        self.keep &= ~fail
        if listed or removed:
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
    params: SpeciesParams,
    red_list: pd.DataFrame | None = None,
    input_description: str = "records received from GBIF",
    query_filtered: bool = False,
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
    params : SpeciesParams
        :data:`DEFAULT_PARAMS` merged with the user's values.
    red_list : pandas.DataFrame, optional
        From :func:`load_national_red_list`.
    input_description : str
        Description of the ``input`` row of the cleaning log (where the records came from).
    query_filtered : bool
        The records answer a GBIF query that applied ``basis_of_record``, ``taxon_keys`` and
        ``hasGeospatialIssue`` already (api, cache, download, or no records): those filters still run,
        but their cleaning-log rows are written only when they remove records. For files and tables
        (false) every filter has its row.

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
    rl = _RuleLog(n, input_description)
    warnings: list[str] = []
    lat = records["decimalLatitude"].to_numpy(dtype=np.float64, na_value=np.nan)
    lon = records["decimalLongitude"].to_numpy(dtype=np.float64, na_value=np.nan)

    rl.apply("absence", "occurrenceStatus ABSENT (absence records)", (_upper(records["occurrenceStatus"]) == "ABSENT").to_numpy())
    bor = _upper(records["basisOfRecord"])
    rl.apply("fossil_or_living_specimen", "basisOfRecord FOSSIL_SPECIMEN or LIVING_SPECIMEN",
             bor.isin(["FOSSIL_SPECIMEN", "LIVING_SPECIMEN"]).to_numpy())
    # the query filters are applied to the records of every source: files and tables never saw them.
    # Records of a GBIF query were filtered by GBIF already: their rows appear only if they remove any.
    listed = not query_filtered
    allowed = [str(b).upper() for b in (params.basis_of_record or ())]
    rl.apply("basis_of_record", f"basisOfRecord missing or not one of species.basis_of_record {allowed}",
             (~bor.isin(allowed)).to_numpy() if allowed else np.zeros(n, dtype=bool), listed=listed)
    if params.taxon_keys:
        wanted = np.asarray(sorted(int(k) for k in params.taxon_keys), dtype=np.float64)
        hit = np.zeros(n, dtype=bool)
        for col in TAXON_KEY_COLUMNS:
            hit |= np.isin(records[col].to_numpy(dtype=np.float64, na_value=np.nan), wanted)
        fail_taxon = ~hit
    else:
        fail_taxon = np.zeros(n, dtype=bool)
    rl.apply("taxon_keys", f"no taxon key of the record is in species.taxon_keys {list(params.taxon_keys or [])}", fail_taxon,
             listed=listed)
    rl.apply("geospatial_issue", "hasGeospatialIssues true (GBIF geospatial issue)",
             (records["hasGeospatialIssues"].fillna("").astype(str).str.lower() == "true").to_numpy(), listed=listed)
    if VALIDATED_COLUMN in records.columns:
        ok = records[VALIDATED_COLUMN].fillna(False).to_numpy(dtype=bool)
        rl.apply("not_validated", "validation status of the monitoring scheme not accepted (species_table.validated)", ~ok)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180) | ((lat == 0) & (lon == 0))
    rl.apply("coordinates_invalid", "coordinates missing, out of range or (0, 0)", bad)
    flags = list(params.drop_issues or [])
    if params.drop_rounded_coordinates:
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
    pmax = params.max_coordinate_precision_deg
    with np.errstate(invalid="ignore"):
        rl.apply("coarse_coordinate_precision", f"coordinatePrecision >= {pmax} degrees (rounded coordinates)",
                 (prec >= pmax) if pmax else np.zeros(n, bool))
    year = records["year"].to_numpy(dtype=np.float64, na_value=np.nan)
    y0, y1 = params.year_min, params.year_max
    with np.errstate(invalid="ignore"):
        bad_year = np.zeros(n, dtype=bool)
        if y0 is not None:
            bad_year |= ~(year >= y0)
        if y1 is not None:
            bad_year |= ~(year <= y1)
    rl.apply("year_out_of_range", f"year missing or outside {y0}..{y1}", bad_year)
    if NAME_MATCH_COLUMN in records.columns:
        mt = _upper(records[NAME_MATCH_COLUMN])
        rl.apply("name_not_matched_exactly",
                 "scientific name matched the GBIF backbone only fuzzily, at a higher rank or not at all (listed in names.csv)",
                 (mt != "EXACT").to_numpy())
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
    thr = np.minimum(np.maximum(float(params.uncertainty_max_m), float(params.uncertainty_rel_factor) * radius),
                     float(params.uncertainty_cap_m))
    unc = records["coordinateUncertaintyInMeters"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not params.keep_missing_uncertainty:
        rl.apply("uncertainty_missing", "coordinateUncertaintyInMeters missing", np.isnan(unc))
    rl.apply("uncertainty_default_value", f"coordinateUncertaintyInMeters is a default value {list(params.default_uncertainties_m)}",
             np.isin(unc, np.asarray(params.default_uncertainties_m or [], dtype=np.float64)))
    with np.errstate(invalid="ignore"):
        rl.apply("uncertainty_too_large",
                 f"coordinateUncertaintyInMeters > max({params.uncertainty_max_m} m, {params.uncertainty_rel_factor} x "
                 f"equal-area radius of the park, else of the habitat patch), capped at {params.uncertainty_cap_m} m",
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
    park_of: Any = pid_arr[np.maximum(pp, 0)] if len(parks) else None
    clean["park_id"] = np.where(pp >= 0, park_of, None)
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
