"""Species records from GBIF: fetch, clean, assign to parks/patches/land cover, count, cite.

Pipeline of :func:`run_species`:

1. **Fetch** (:func:`werkland.species.gbif.fetch_occurrences`) by source ``auto`` / ``api`` / ``download`` /
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS

from werkland.params.species import SpeciesParams
from werkland.raster.io import Grid, atomic_path, read_raster, write_csv, write_gpkg, write_json
from werkland.species import gbif
from werkland.species.citation import build_citation, citation_text
from werkland.species.counts import count_species
from werkland.species.records import (
    guild_taxa,
    load_national_red_list,
    process_records,
    read_region,
)
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
    params : SpeciesParams
        Source (``auto``, ``api``, ``download``, ``file`` or ``none``), acquisition, cleaning and
        counting settings.
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
    region, parks, crs = read_region(region_gpkg)
    legend_table = load_legend(legend_yaml)
    taxa_of = guild_taxa(load_guilds(guilds_yaml, legend_table))
    guilds = list(taxa_of)
    legend = {c.code: c.name for c in legend_table.classes}
    fetch = _fetch(region, crs, params, cache_dir)
    raw = fetch.records
    warnings: list[str] = []
    if fetch.status == "no_data":
        log.warning("%s", fetch.message)
    if len(raw):
        landcover, patches = _assignment_rasters(landcover_tif, patches_tifs, guilds, crs)
        red = load_national_red_list(params.national_red_list_csv) if params.national_red_list_csv else None
        clean, clog, warnings = process_records(raw, region=region, parks=parks, crs=crs, landcover=landcover, legend=legend,
                                                patches=patches, guild_taxa=taxa_of, params=params, red_list=red)
    else:
        clean, clog, _ = process_records(raw, region=region, parks=parks, crs=crs, landcover=None, legend=legend,
                                         patches={g: (np.zeros((1, 1), np.int32), _dummy_grid(crs)) for g in guilds},
                                         guild_taxa=taxa_of, params=params)
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
                   out_citation_json)
    n_species = int(clean["speciesKey"].nunique()) if len(clean) else 0
    log.info("species stage: %s (%s): %d raw -> %d clean records, %d species", status, fetch.mode, len(raw), len(clean), n_species)
    return {"status": status, "message": message, "mode": fetch.mode, "records_raw": int(len(raw)), "records_clean": int(len(clean)),
            "species": n_species, "doi": fetch.doi, "warnings": warnings}


def _fetch(region: Any, crs: CRS, params: SpeciesParams, cache_dir: str | os.PathLike[str]) -> gbif.FetchResult:
    """The region's raw records from the configured source (query geometry, filters, client settings)."""
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
                   out_cleaning_log_csv: str | os.PathLike[str], out_citation_json: str | os.PathLike[str]) -> None:
    """Occurrences, counts, cleaning log, citation (JSON and text), each written atomically."""
    write_gpkg(_occurrence_frame(clean, crs, guilds), out_occurrences_gpkg, "occurrences")
    write_csv(counts, out_counts_csv)
    write_csv(clog, out_cleaning_log_csv)
    write_json(cit, out_citation_json)
    with atomic_path(Path(out_citation_json).with_suffix(".txt")) as tmp:
        tmp.write_text(cit["text"] + "\n", encoding="utf-8")


def _dummy_grid(crs: CRS) -> Grid:
    return Grid(1, 1, Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), crs)
