"""Species evidence of one region: habitat maps validated against records, periods compared.

:func:`run_species_evidence` reads the cleaned occurrences (``species/occurrences.gpkg``, layer
``occurrences``), each guild's suitability raster (``habitat/{guild}.tif``) and the region polygon,
and writes:

* ``species/habitat_validation.csv`` -- per guild: ``guild, n_presences, boyce, boyce_lo,
  boyce_hi, status`` (then ``n_background, n_points, message``). Presences are the cleaned records
  of the guild's taxa (the ``guild`` column of the occurrences, as assigned by the species stage
  from ``gbif_taxa``), each record once, with the suitability of the cell it falls in; records on
  nodata cells or outside the region are not presences. The background is every cell of the
  region (cell centre inside the region polygon) with a suitability value. The continuous Boyce
  index with its bootstrap 90 % interval is :func:`werkland.species.boyce.boyce_bootstrap`.
  Status: ``too_few`` below ``boyce_min_presences`` presences (index still given when defined),
  ``undefined`` when the index cannot be computed, ``not_supported`` ("suitability table not
  supported by records") when the index is below ``boyce_threshold``, else ``supported``.
* ``species/habitat_pe_curve.csv`` -- the predicted-to-expected curve of every guild (one row per
  moving window, :class:`werkland.species.boyce.BoyceResult` ``windows`` plus ``guild``).
* ``species/periods.csv`` -- :func:`werkland.species.coverage.compare_periods`; with no periods
  configured the file holds the header only.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from rasterio.features import geometry_mask
from shapely.geometry import mapping

from werkland._errors import WerklandInputError
from werkland.params.species_evidence import SpeciesEvidenceParams
from werkland.raster.io import read_raster, write_csv
from werkland.species.boyce import boyce_bootstrap
from werkland.species.coverage import compare_periods
from werkland.species.records import read_region

log = logging.getLogger(__name__)

__all__ = ["PE_COLUMNS", "VALIDATION_COLUMNS", "habitat_validation", "read_occurrences", "run_species_evidence"]

#: Columns of ``species/habitat_validation.csv``.
VALIDATION_COLUMNS = ["guild", "n_presences", "boyce", "boyce_lo", "boyce_hi", "status", "n_background",
                      "n_points", "message"]
#: Columns of ``species/habitat_pe_curve.csv``.
PE_COLUMNS = ["guild", "window", "hs_lo", "hs_hi", "hs_mid", "presences", "background", "p", "e", "pe", "used"]

_READ_COLUMNS = ["speciesKey", "year", "park_id", "guild"]


def read_occurrences(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """The cleaned occurrences (``speciesKey, year, park_id, guild`` and the points).

    Raises
    ------
    WerklandInputError
        The file or layer cannot be read, or a column is missing.
    """
    try:
        gdf = pyogrio.read_dataframe(path, layer="occurrences", columns=_READ_COLUMNS)
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError / FieldError
        raise WerklandInputError(f"cannot read layer 'occurrences' ({str(exc)[:200]})", path=str(path),
                                 fix="run the species stage first") from exc
    missing = [c for c in _READ_COLUMNS if c not in gdf.columns]
    if missing:
        raise WerklandInputError(f"occurrences lack column(s) {', '.join(missing)}", path=f"{path}:occurrences",
                                 fix="rerun the species stage (it writes these columns)")
    gdf["park_id"] = gdf["park_id"].where(gdf["park_id"].notna(), None)
    return gdf


def _in_guild(occ: pd.DataFrame, guild: str) -> np.ndarray:
    padded = ";" + occ["guild"].fillna("").astype(str) + ";"
    return padded.str.contains(f";{guild};", regex=False).to_numpy(dtype=bool)


def _background(path: str | os.PathLike[str], region: Any, crs: CRS) -> tuple[np.ndarray, Any, np.ndarray]:
    """Suitability array (NaN = not background), its grid, and the valid-cell mask."""
    arr, grid, nodata = read_raster(path)
    arr = arr.astype(np.float64, copy=False)
    valid = np.isfinite(arr)
    if nodata is not None:
        valid &= arr != nodata
    if grid.crs is not None and CRS.from_user_input(grid.crs) != crs:
        region = gpd.GeoSeries([region], crs=crs).to_crs(grid.crs).iloc[0]
    inside = geometry_mask([mapping(region)], out_shape=grid.shape, transform=grid.transform,
                           invert=True, all_touched=False)
    valid &= inside
    return arr, grid, valid


def _values_at(arr: np.ndarray, valid: np.ndarray, grid: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Suitability under points (NaN off the raster or off the background)."""
    t = grid.transform
    col = np.floor((x - t.c) / t.a)
    row = np.floor((y - t.f) / t.e)
    ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
    out = np.full(x.size, np.nan)
    r, c = row[ok].astype(np.int64), col[ok].astype(np.int64)
    out[ok] = np.where(valid[r, c], arr[r, c], np.nan)
    return out


def habitat_validation(
    occurrences: gpd.GeoDataFrame,
    habitat_tifs: Mapping[str, str | os.PathLike[str]],
    region: Any,
    crs: CRS,
    params: SpeciesEvidenceParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boyce validation of each guild's suitability raster against the guild's records.

    Parameters
    ----------
    occurrences : geopandas.GeoDataFrame
        From :func:`read_occurrences` (points in ``crs``).
    habitat_tifs : mapping
        Guild -> ``habitat/{guild}.tif``.
    region : shapely geometry
        Region polygon in ``crs``.
    crs : pyproj.CRS
        Metric CRS of the region.
    params : SpeciesEvidenceParams
        Window width, thresholds, bootstrap replicates and seed.

    Returns
    -------
    validation, curve : pandas.DataFrame
        Rows of ``habitat_validation.csv`` (:data:`VALIDATION_COLUMNS`) and ``habitat_pe_curve.csv``
        (:data:`PE_COLUMNS`).
    """
    pts = occurrences
    if len(pts) and pts.crs is not None and CRS.from_user_input(pts.crs) != crs:
        pts = pts.to_crs(crs)
    x = shapely.get_x(pts.geometry.values) if len(pts) else np.zeros(0)
    y = shapely.get_y(pts.geometry.values) if len(pts) else np.zeros(0)
    rows, curves = [], []
    for g, tif in habitat_tifs.items():
        arr, grid, valid = _background(tif, region, crs)
        sel = _in_guild(pts, g) if len(pts) else np.zeros(0, bool)
        px, py = x[sel], y[sel]
        if grid.crs is not None and CRS.from_user_input(grid.crs) != crs and px.size:
            moved = gpd.GeoSeries(gpd.points_from_xy(px, py), crs=crs).to_crs(grid.crs)
            px, py = moved.x.to_numpy(), moved.y.to_numpy()
        vals = _values_at(arr, valid, grid, px, py)
        pres = vals[np.isfinite(vals)]
        bg = arr[valid]
        dropped = int(np.count_nonzero(~np.isfinite(vals)))
        if bg.size == 0:
            rows.append({"guild": g, "n_presences": int(pres.size), "boyce": np.nan, "boyce_lo": np.nan,
                         "boyce_hi": np.nan, "status": "undefined", "n_background": 0, "n_points": 0,
                         "message": "no habitat cells inside the region"})
            continue
        res, lo, hi = boyce_bootstrap(bg, pres, n_boot=params.bootstrap_replicates,
                                      seed=[params.bootstrap_seed, zlib.crc32(g.encode("utf-8"))],
                                      window_frac=params.boyce_window)
        status, msg = _status(res.boyce, pres.size, params)
        if dropped:
            note = f"{dropped} record(s) on nodata or outside the region not used"
            msg = f"{msg}; {note}" if msg else note
        rows.append({"guild": g, "n_presences": int(pres.size), "boyce": res.boyce, "boyce_lo": lo, "boyce_hi": hi,
                     "status": status, "n_background": res.n_background, "n_points": res.n_points, "message": msg})
        curves.append(res.windows.assign(guild=g))
        log.info("habitat validation %s: %d presences, Boyce %.3f [%.3f, %.3f] -> %s", g, pres.size, res.boyce,
                 lo, hi, status)
    validation = pd.DataFrame(rows, columns=VALIDATION_COLUMNS)
    curve = (pd.concat(curves, ignore_index=True)[PE_COLUMNS] if curves
             else pd.DataFrame({c: pd.Series(dtype=object) for c in PE_COLUMNS}))
    return validation, curve


def _status(boyce: float, n: int, params: SpeciesEvidenceParams) -> tuple[str, str]:
    if n < params.boyce_min_presences:
        return "too_few", f"fewer than {params.boyce_min_presences} presences: index not reliable"
    if not np.isfinite(boyce):
        return "undefined", "index undefined (fewer than two distinct P/E points or constant suitability)"
    if boyce < params.boyce_threshold:
        return "not_supported", f"suitability table not supported by records (Boyce < {params.boyce_threshold:g})"
    return "supported", ""


def run_species_evidence(
    occurrences_gpkg: str | os.PathLike[str],
    habitat_tifs: Mapping[str, str | os.PathLike[str]],
    region_gpkg: str | os.PathLike[str],
    out_validation_csv: str | os.PathLike[str],
    out_pe_curve_csv: str | os.PathLike[str],
    out_periods_csv: str | os.PathLike[str],
    *,
    params: SpeciesEvidenceParams,
) -> dict[str, Any]:
    """Validate the habitat maps against the records and compare the configured periods.

    Parameters
    ----------
    occurrences_gpkg : path-like
        ``species/occurrences.gpkg`` (layer ``occurrences``).
    habitat_tifs : mapping
        Guild -> ``habitat/{guild}.tif``.
    region_gpkg : path-like
        ``region.gpkg`` (layers ``region`` and ``parks``).
    out_validation_csv, out_pe_curve_csv, out_periods_csv : path-like
        Outputs (written atomically).
    params : SpeciesEvidenceParams
        Settings of both analyses.

    Returns
    -------
    dict
        ``guilds`` (guild -> status) and ``period_rows``.
    """
    region, parks, crs = read_region(region_gpkg)
    occ = read_occurrences(occurrences_gpkg)
    validation, curve = habitat_validation(occ, habitat_tifs, region, crs, params)
    periods = [(p.name, p.year_min, p.year_max) for p in params.periods]
    table = compare_periods(pd.DataFrame(occ.drop(columns="geometry")), parks["park_id"].tolist(),
                            list(habitat_tifs), periods, n_boot=params.bootstrap_replicates,
                            seed=params.bootstrap_seed, min_records=params.periods_min_records)
    write_csv(validation, out_validation_csv)
    write_csv(curve, out_pe_curve_csv)
    write_csv(table, out_periods_csv)
    return {"guilds": dict(zip(validation["guild"], validation["status"], strict=True)), "period_rows": len(table)}
