"""Species records from GBIF or a monitoring table: fetch, clean, assign to parks/patches/land cover,
count, cite, and list the name matches.

Pipeline of :func:`run_species`:

1. **Fetch** (:func:`werkland.species.gbif.fetch_occurrences`) by source ``auto`` / ``api`` / ``download`` /
   ``file`` for the region polygon (short counter-clockwise WGS84 WKT, or its bounding box), with
   ``occurrenceStatus=PRESENT``, coordinates, no geospatial issues, a year range and basis of record;
   or read a monitoring export (``table``, :func:`werkland.species.table.read_occurrence_table`) whose
   names are matched to the GBIF Backbone (:func:`werkland.species.names.resolve_names`). The guild
   taxa are matched too (``species.resolve_names``); ``species/names.csv`` lists every match.
2. **Clean** (:func:`process_records`), every rule counted in ``cleaning_log.csv`` in the order
   applied (a record removed by an earlier rule is not counted again): absence records,
   fossil/living specimens, basisOfRecord not in ``species.basis_of_record``, no taxon key in
   ``species.taxon_keys``, GBIF geospatial issue, (tables: not validated), missing/invalid/zero
   coordinates, GBIF issue flags, coarse coordinate precision, year range, (tables: name not matched
   exactly), records without a species key, records outside the (unsimplified) region,
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
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS

from werkland._errors import WerklandInputError
from werkland.params.species import SpeciesParams
from werkland.raster.io import Grid, atomic_path, read_raster, write_csv, write_gpkg, write_json
from werkland.species import gbif, names
from werkland.species.citation import build_citation, citation_text
from werkland.species.counts import count_species
from werkland.species.records import (
    guild_taxa,
    load_national_red_list,
    process_records,
    read_region,
)
from werkland.species.table import load_table_mapping, read_occurrence_table
from werkland.tables import load_guilds, load_legend

log = logging.getLogger(__name__)


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
    params: SpeciesParams,
    cache_dir: str | os.PathLike[str],
    out_citation_txt: str | os.PathLike[str] | None = None,
    out_names_csv: str | os.PathLike[str] | None = None,
    name_matcher: names.Matcher | None = None,
) -> dict[str, Any]:
    """Fetch (or read), clean, assign, count and cite the occurrence records of one region.

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
    params : SpeciesParams
        Source (``auto``, ``api``, ``download``, ``file``, ``table`` or ``none``), acquisition,
        cleaning and counting settings.
    cache_dir : path-like
        GBIF cache root (``resources/gbif``; names are cached in ``taxa.json`` there).
    out_citation_txt : path-like, optional
        Plain-text citation (default: ``out_citation_json`` with suffix ``.txt``).
    out_names_csv : path-like, optional
        ``species/names.csv``: the backbone match of every guild taxon and table name (default:
        ``names.csv`` beside ``out_counts_csv``).
    name_matcher : callable, optional
        Name matcher for :func:`werkland.species.names.resolve_names` (default: pygbif, or the
        werkland client for a mirror ``api_base_url``).

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
    txt_out = Path(out_citation_txt) if out_citation_txt else Path(out_citation_json).with_suffix(".txt")
    names_out = Path(out_names_csv) if out_names_csv else Path(out_counts_csv).parent / "names.csv"
    outputs = [out_occurrences_gpkg, out_counts_csv, out_citation_json, out_cleaning_log_csv, txt_out, names_out]
    for old_out in outputs:  # a failed run must not leave the previous run's files (pipeline mode too)
        Path(old_out).unlink(missing_ok=True)
    region, parks, crs = read_region(region_gpkg)
    legend_table = load_legend(legend_yaml)
    taxa_of = guild_taxa(load_guilds(guilds_yaml, legend_table))
    guilds = list(taxa_of)
    legend = {c.code: c.name for c in legend_table.classes}
    names_cache = Path(cache_dir) / "taxa.json"
    t = params.timeout_s
    # auto must stay quick offline: its names are asked once, without retries
    retries = 0 if params.source == "auto" else int(params.max_retries)
    matcher = name_matcher or _LazyMatcher(params.api_base_url, (float(t[0]), float(t[1])), retries, float(params.backoff_s))
    warnings: list[str] = []
    name_rows: list[pd.DataFrame] = []
    if params.source in ("file", "table") and params.extra_query:
        note = f"species.extra_query {sorted(params.extra_query)} is a GBIF query parameter: not applied to {params.source} records"
        log.warning(note)
        warnings.append(note)
    fetch = _fetch(region, crs, params, cache_dir, names_cache=names_cache, matcher=matcher)
    raw = fetch.records
    if params.source != "none" and (params.resolve_names or params.source == "table"):
        taxa_of, guild_rows, w = check_guild_taxa(taxa_of, names_cache, matcher, required=False)
        name_rows.append(guild_rows)
        warnings += w
    if "matches" in fetch.meta:
        rows, w = table_name_rows(raw, fetch.meta.pop("matches"))
        name_rows.append(rows)
        warnings += w
    if fetch.status == "no_data":
        log.warning("%s", fetch.message)
    if len(raw):
        landcover, patches = _assignment_rasters(landcover_tif, patches_tifs, guilds, crs)
        red = load_national_red_list(params.national_red_list_csv) if params.national_red_list_csv else None
        clean, clog, w = process_records(raw, region=region, parks=parks, crs=crs, landcover=landcover, legend=legend,
                                         patches=patches, guild_taxa=taxa_of, params=params, red_list=red,
                                         input_description=_input_description(fetch),
                                         query_filtered=fetch.mode in _QUERY_FILTERED)
        warnings += w
    else:
        clean, clog, _ = process_records(raw, region=region, parks=parks, crs=crs, landcover=None, legend=legend,
                                         patches={g: (np.zeros((1, 1), np.int32), _dummy_grid(crs)) for g in guilds},
                                         guild_taxa=taxa_of, params=params, input_description=_input_description(fetch),
                                         query_filtered=fetch.mode in _QUERY_FILTERED)
        clog.loc[0, "description"] = f"no records: {fetch.message}"
    status, message = fetch.status, fetch.message
    if status == "ok" and len(clean) == 0:
        status, message = "empty", "no records left after cleaning (see cleaning_log.csv)"
    counts = count_species(clean, parks["park_id"].tolist(), guilds, params, status=status, message=message)
    cit = build_citation(fetch, raw, clean, params.source)
    cit["status"], cit["message"] = status, message
    cit["warnings"] = warnings
    cit["text"] = citation_text(cit)
    _write_outputs(clean, counts, clog, cit, crs, guilds, out_occurrences_gpkg, out_counts_csv, out_cleaning_log_csv,
                   out_citation_json, txt_out)
    write_csv(names_frame(name_rows), names_out)
    n_species = int(clean["speciesKey"].nunique()) if len(clean) else 0
    log.info("species stage: %s (%s): %d raw -> %d clean records, %d species", status, fetch.mode, len(raw), len(clean), n_species)
    return {"status": status, "message": message, "mode": fetch.mode, "records_raw": int(len(raw)), "records_clean": int(len(clean)),
            "species": n_species, "doi": fetch.doi, "warnings": warnings}


class _LazyMatcher:
    """The default name matcher, built (and pygbif imported) only when a name is not cached."""

    def __init__(self, base_url: str, timeout: tuple[float, float], max_retries: int, backoff_s: float) -> None:
        self.args = (base_url, timeout, max_retries, backoff_s)
        self._m: names.Matcher | None = None

    def __call__(self, name: str) -> Mapping[str, Any]:
        if self._m is None:
            base_url, timeout, max_retries, backoff_s = self.args
            self._m = names.default_matcher(base_url, timeout=timeout, max_retries=max_retries, backoff_s=backoff_s)
        return self._m(name)


#: Fetch modes whose records answer a GBIF query that applied the basis-of-record, taxon and
#: geospatial-issue filters already (``none``: no records at all).
_QUERY_FILTERED = frozenset({"api", "cache", "download", "none"})


def _input_description(fetch: gbif.FetchResult) -> str:
    if fetch.mode == "table":
        return f"records read from the monitoring table {Path(str(fetch.query.get('table'))).name}"
    return "records received from GBIF"


def _fetch(region: Any, crs: CRS, params: SpeciesParams, cache_dir: str | os.PathLike[str], *,
           names_cache: Path | None = None, matcher: names.Matcher | None = None) -> gbif.FetchResult:
    """The region's raw records from the configured source (query geometry, filters, client settings)."""
    if params.source == "table":
        return fetch_table(params, names_cache or Path(cache_dir) / "taxa.json", matcher)
    filters = {"year_min": params.year_min, "year_max": params.year_max,
               "basis_of_record": list(params.basis_of_record),
               "taxon_keys": None if params.taxon_keys is None else list(params.taxon_keys),
               "extra": params.extra_query}
    geometry = None
    if params.source != "file":
        geometry = gbif.region_query_geometry(region, crs, simplify_m=float(params.wkt_simplify_m),
                                              max_chars=int(params.wkt_max_chars))
        log.info("GBIF query geometry: %d points%s", geometry.n_points, " (bounding box)" if geometry.is_bbox else "")
    t = params.timeout_s
    return gbif.fetch_occurrences(
        params.source, geometry=geometry, filters=filters, cache_dir=cache_dir, base_url=params.api_base_url,
        file_path=params.file_path, refresh=bool(params.refresh_cache),
        client_options={"timeout": (float(t[0]), float(t[1])), "max_retries": int(params.max_retries),
                        "backoff_s": float(params.backoff_s)},
        max_records=int(params.max_records), download_format=params.download_format,
        poll_s=float(params.download_poll_s), max_wait_s=float(params.download_max_wait_s),
        max_member_bytes=int(params.max_member_bytes),
    )


def _assignment_rasters(
    landcover_tif: str | os.PathLike[str] | None,
    patches_tifs: Mapping[str, str | os.PathLike[str]],
    guilds: list[str],
    crs: CRS,
) -> tuple[tuple[np.ndarray, Grid] | None, dict[str, tuple[np.ndarray, Grid]]]:
    """Land-cover codes and each guild's patch ids, for assigning records by raster look-up."""
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
    return landcover, patches


def _write_outputs(clean: pd.DataFrame, counts: pd.DataFrame, clog: pd.DataFrame, cit: dict[str, Any], crs: CRS,
                   guilds: list[str], out_occurrences_gpkg: str | os.PathLike[str], out_counts_csv: str | os.PathLike[str],
                   out_cleaning_log_csv: str | os.PathLike[str], out_citation_json: str | os.PathLike[str],
                   out_citation_txt: str | os.PathLike[str]) -> None:
    """Occurrences, counts, cleaning log, citation (JSON and text), each written atomically."""
    write_gpkg(_occurrence_frame(clean, crs, guilds), out_occurrences_gpkg, "occurrences")
    write_csv(counts, out_counts_csv)
    write_csv(clog, out_cleaning_log_csv)
    write_json(cit, out_citation_json)
    with atomic_path(Path(out_citation_txt)) as tmp:
        tmp.write_text(cit["text"] + "\n", encoding="utf-8")


def _dummy_grid(crs: CRS) -> Grid:
    return Grid(1, 1, Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), crs)


# --------------------------------------------------------------------------------------------
# monitoring tables and names

NAMES_COLUMNS = ["source", "guild", "name", "expected_rank", "records", "matchType", "confidence", "usageKey",
                 "matched_name", "rank", "speciesKey", "counted", "reason", "provenance", "retrieved"]


def fetch_table(params: SpeciesParams, names_cache: Path, matcher: names.Matcher | None) -> gbif.FetchResult:
    """A region's monitoring table as a :class:`~werkland.species.gbif.FetchResult` (mode ``table``)."""
    spec = params.table or {}
    if not spec.get("path"):
        raise WerklandInputError("species_source table needs species_table.path", path="config: species_table",
                                 fix="set species_table: {path: <export>, preset: ndff | waarneming} for the region")
    mapping = load_table_mapping(spec)
    recs, info = read_occurrence_table(spec["path"], mapping, names_cache=names_cache, matcher=matcher)
    query = {"table": str(spec["path"]), "preset": spec.get("preset"), "columns": mapping["columns"],
             "crs": mapping.get("crs")}
    meta = {k: v for k, v in info.items()}
    msg = "" if len(recs) else "the monitoring table has no records"
    return gbif.FetchResult(recs, "ok" if len(recs) else "empty", msg, "table", query, gbif.query_hash(query),
                            datetime.now(UTC).date().isoformat(), count_reported=len(recs), meta=meta)


def check_guild_taxa(
    taxa_of: Mapping[str, list[dict[str, Any]]],
    names_cache: Path,
    matcher: names.Matcher | None,
    *,
    required: bool = False,
) -> tuple[dict[str, list[dict[str, Any]]], pd.DataFrame, list[str]]:
    """Match every guild taxon to the GBIF Backbone; drop the taxa that do not match exactly.

    A taxon whose name matches only fuzzily, at a higher rank, not at all or at another rank than
    ``guilds.yaml`` gives is dropped from the guild (listed, never silently counted); an exact match
    whose key differs from the configured key gets the backbone key (listed). When GBIF cannot be
    reached and ``required`` is false the configured taxa are kept unchanged (``matchType``
    ``UNRESOLVED``).

    Returns
    -------
    taxa_of : dict
        The guild taxa to use.
    rows : pandas.DataFrame
        One row per guild taxon (:data:`NAMES_COLUMNS`).
    warnings : list of str
    """
    wanted = sorted({names.normalise_name(t["name"]) for ts in taxa_of.values() for t in ts})
    warnings: list[str] = []
    try:
        m = names.resolve_names(wanted, names_cache, matcher=matcher)
    except gbif.GbifOutageError as exc:
        if required:
            raise
        w = f"guild taxa not matched with the GBIF backbone (GBIF unreachable, no cache): the configured taxa are used ({exc})"
        log.warning(w)
        rows = [{"source": "guild", "guild": g, "name": t["name"], "expected_rank": t["rank"].upper(),
                 "matchType": "UNRESOLVED", "usageKey": t["key"], "counted": True, "reason": "GBIF unreachable"}
                for g, ts in taxa_of.items() for t in ts]
        return dict(taxa_of), pd.DataFrame(rows, columns=NAMES_COLUMNS), [w]
    expected = {names.normalise_name(t["name"]): t["rank"] for ts in taxa_of.values() for t in ts}
    reason = names.flag_matches(m, expected)
    out: dict[str, list[dict[str, Any]]] = {}
    rows = []
    for g, ts in taxa_of.items():
        keep = []
        for t in ts:
            n = names.normalise_name(t["name"])
            r = m.loc[n]
            why = str(reason.loc[n])
            key = None if pd.isna(r["usageKey"]) else int(r["usageKey"])
            if not why and t["key"] is not None and key is not None and key != t["key"]:
                w = f"guild {g}: {t['rank']} {t['name']} has GBIF backbone key {key}, not {t['key']} as in guilds.yaml: {key} is used"
                log.warning(w)
                warnings.append(w)
            if why:
                w = (f"guild {g}: {t['rank']} {t['name']} is not used ({why}, confidence {r['confidence']}, "
                     f"matched {r['scientificName']}): fix the name in guilds.yaml")
                log.warning(w)
                warnings.append(w)
            else:
                keep.append({**t, "key": key if key is not None else t["key"]})
            rows.append({"source": "guild", "guild": g, "name": t["name"], "expected_rank": t["rank"].upper(),
                         "records": None, "matchType": r["matchType"], "confidence": r["confidence"], "usageKey": key,
                         "matched_name": r["scientificName"], "rank": r["rank"], "speciesKey": r["speciesKey"],
                         "counted": not why, "reason": why, "provenance": r["source"], "retrieved": r["retrieved"]})
        out[g] = keep
    return out, pd.DataFrame(rows, columns=NAMES_COLUMNS), warnings


def table_name_rows(records: pd.DataFrame, matches: pd.DataFrame, *, max_warnings: int = 50) -> tuple[pd.DataFrame, list[str]]:
    """One row per distinct table name (records, match, whether counted) and warnings for the names not used."""
    counts = records["scientificName"].map(names.normalise_name).value_counts()
    m = matches.reindex(counts.index)
    reason = names.flag_matches(m)
    above = (reason == "") & m["speciesKey"].isna()
    reason[above] = "identified above species level (rank " + m.loc[above, "rank"].fillna("?").astype(str) + ")"
    df = pd.DataFrame({
        "source": "table", "guild": None, "name": counts.index, "expected_rank": None, "records": counts.to_numpy(),
        "matchType": m["matchType"].to_numpy(), "confidence": m["confidence"].to_numpy(), "usageKey": m["usageKey"].to_numpy(),
        "matched_name": m["scientificName"].to_numpy(), "rank": m["rank"].to_numpy(), "speciesKey": m["speciesKey"].to_numpy(),
        "counted": (reason == "").to_numpy(), "reason": reason.to_numpy(), "provenance": m["source"].to_numpy(),
        "retrieved": m["retrieved"].to_numpy(),
    }, columns=NAMES_COLUMNS)
    df = df.sort_values(["counted", "records", "name"], ascending=[True, False, True], kind="stable")
    bad = df[~df["counted"] & df["matchType"].ne("EXACT")]
    warnings = []
    for r in bad.head(max_warnings).itertuples(index=False):
        matched = r.matched_name if isinstance(r.matched_name, str) else "no backbone name"
        warnings.append(f"table name {r.name!r} ({r.records} record(s)) matched {r.matchType} "
                        f"(confidence {r.confidence}, {matched}): not counted")
    if len(bad) > max_warnings:
        warnings.append(f"... and {len(bad) - max_warnings} more table names not matched exactly (see species/names.csv)")
    for w in warnings:
        log.warning(w)
    return df.reset_index(drop=True), warnings


def names_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``species/names.csv``: guild rows (config order) then table rows; header only when nothing was matched."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=NAMES_COLUMNS)
    df = pd.concat(parts, ignore_index=True)[NAMES_COLUMNS]
    for c in ("records", "confidence", "usageKey", "speciesKey"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df
