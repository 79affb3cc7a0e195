"""The climate stage: heat mitigation and design-storm runoff rasters and the per-park summary.

:func:`run_climate` reads and checks every input before it writes anything (a bad parks layer leaves
no partial output), then runs the heat model, the water model per storm and the per-park summary.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.climate.biophysical import BiophysicalTable, load_biophysical
from werkland.climate.cooling import CoolingResult, urban_cooling
from werkland.climate.parks import read_buildings, read_parks, summarise_parks
from werkland.climate.runoff import runoff_mm
from werkland.params.climate import ClimateParams, Storm
from werkland.raster.crs import assert_metric
from werkland.raster.io import Grid, read_raster, write_csv, write_raster

__all__ = ["run_climate"]

LOGGER = logging.getLogger(__name__)

# Output rasters: float32 with this nodata value outside the region.
_NODATA_OUT = -1.0

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class _LandCover:
    """The checked land-cover raster: codes (0 outside the region), region mask and grid."""

    lc: np.ndarray
    valid: np.ndarray
    grid: Grid


@dataclass(frozen=True)
class _Water:
    """Runoff (mm) per storm name: actual with storage, natural reference, actual before storage."""

    runoff: dict[str, np.ndarray]
    natural: dict[str, np.ndarray]
    pooled: dict[str, np.ndarray]


def run_climate(
    landcover_tif: PathLike,
    landcover_gpkg: PathLike | None,
    region_gpkg: PathLike,
    legend_yaml: PathLike,
    out_cooling_tif: PathLike,
    out_runoff_tifs: Mapping[str, PathLike],
    out_summary_csv: PathLike,
    *,
    params: ClimateParams,
    threads: int,
) -> pd.DataFrame:
    """Climate-adaptation baseline of a region: heat mitigation and design-storm runoff per park.

    Parameters
    ----------
    landcover_tif : path-like
        ``results/{region}/landcover.tif`` (uint8 legend codes, nodata 0 outside the region, metric CRS).
    landcover_gpkg : path-like or None
        ``results/{region}/landcover.gpkg``; building polygons are the features of layer
        ``landcover`` with ``class == params.building_class``. None (or no such polygons): the
        building cells of the raster are used.
    region_gpkg : path-like
        ``results/{region}/region.gpkg`` with layer ``parks`` (``park_id``, ``name``).
    legend_yaml : path-like
        ``config/landcover_classes.yaml`` with the biophysical values and ``natural_reference``.
    out_cooling_tif : path-like
        Output HM raster (float32, -, nodata -1 outside the region).
    out_runoff_tifs : mapping of str to path-like
        Output runoff raster (float32, mm, nodata -1) per storm name; keys must equal the storm names.
    out_summary_csv : path-like
        Output table, one row per park.
    params : ClimateParams
        The ``climate`` section of the validated config (:meth:`ClimateParams.from_config`).
    threads : int
        FFT threads.

    Returns
    -------
    pandas.DataFrame
        The summary written to ``out_summary_csv``. Columns: ``park_id``, ``name``,
        ``polygon_area_m2``, ``area_m2`` (park cells inside the region), ``hm_mean``,
        ``hm_below_threshold_share``, [``t_air_mean_degC``, ``t_air_anomaly_degC``], ``buildings_n``,
        ``buildings_near_cool_spot_share``, ``sealed_area_m2``, ``sealed_share``,
        ``storage_existing_m3``, ``storage_required_m3``, ``storage_needed_m3`` and per storm
        ``runoff_<s>_m3``, ``runoff_<s>_mm``, ``runoff_pooled_storage_<s>_m3``,
        ``natural_runoff_<s>_m3``, ``excess_<s>_m3``, ``excess_<s>_mm`` (negative = less than the
        natural reference), ``cool_spots_in_region_n``, ``note``.

    Raises
    ------
    WerklandInputError
        Unreadable inputs, a land-cover class without biophysical values, storms and output paths
        that do not match.
    """
    _check_outputs(params, out_runoff_tifs)
    workers = max(1, int(threads))
    legend = load_biophysical(legend_yaml)
    natural_code = legend.natural_code(params.natural_setting)
    land = _read_landcover(landcover_tif, legend)
    parks = read_parks(region_gpkg, land.grid)
    buildings = read_buildings(landcover_gpkg, params.building_class, land.grid)
    LOGGER.info(
        "%d parks, %s building polygons", len(parks), "no" if buildings is None else len(buildings)
    )
    cooling = _heat(land, legend, params, workers, out_cooling_tif)
    water = _water(land, legend, natural_code, params, out_runoff_tifs)
    df = summarise_parks(
        parks, land.grid, land.lc, legend, cooling, water.runoff, water.natural, water.pooled, params, buildings
    )
    write_csv(df, out_summary_csv)
    LOGGER.info("wrote %s (%d parks)", out_summary_csv, len(df))
    return df


def _check_outputs(params: ClimateParams, out_runoff_tifs: Mapping[str, PathLike]) -> None:
    if set(out_runoff_tifs) != set(params.storm_names):
        raise WerklandInputError(
            f"runoff outputs {sorted(out_runoff_tifs)} do not match the storms {params.storm_names}",
            path="config: climate.storms",
            fix="give one output path per storm name (climate/runoff_<storm>.tif)",
        )


def _read_landcover(landcover_tif: PathLike, legend: BiophysicalTable) -> _LandCover:
    """Read the land-cover raster: metric CRS, north-up square cells, nodata 0, every class known."""
    lc, grid, nodata = read_raster(landcover_tif)
    assert_metric(grid.crs, where=str(landcover_tif))
    t = grid.transform
    if abs(t.a + t.e) > 1e-9 * grid.res_m or t.b or t.d:
        raise WerklandInputError(
            "land-cover raster must be north-up with square cells",
            path=str(landcover_tif),
            fix="re-run the land-cover stage",
        )
    if nodata not in (None, 0):
        raise WerklandInputError(
            f"nodata is {nodata}, expected 0 (outside the region)",
            path=str(landcover_tif),
            fix="re-run the land-cover stage",
        )
    lc, valid = legend.check_raster(lc, 0, raster=str(landcover_tif))
    LOGGER.info(
        "land cover %s: %d x %d cells of %.3g m, %d in the region",
        landcover_tif,
        *grid.shape,
        grid.res_m,
        int(valid.sum()),
    )
    return _LandCover(lc=lc, valid=valid, grid=grid)


def _heat(
    land: _LandCover, legend: BiophysicalTable, p: ClimateParams, workers: int, out_tif: PathLike
) -> CoolingResult:
    """Urban cooling of the region; writes the HM raster."""
    cooling = urban_cooling(land.lc, legend, land.grid.res_m, p, workers=workers)
    write_raster(
        out_tif,
        np.where(land.valid, cooling.hm, _NODATA_OUT).astype(np.float32),
        land.grid,
        nodata=_NODATA_OUT,
        tags={
            "quantity": "heat mitigation index HM (InVEST Urban Cooling, factors method)",
            "units": "dimensionless, 0..1",
            "crs": land.grid.crs.to_string(),
            "nodata_meaning": "outside the region",
            "cc_weights": p.weights,
            "cooling_distance_m": p.cooling_distance_m,
            "green_area_min_m2": p.green_area_min_m2,
            "eti": "kc (constant ET0)",
        },
        description="HM (-)",
    )
    LOGGER.info(
        "heat mitigation: mean HM %.3f over the region",
        float(np.nanmean(cooling.hm)) if land.valid.any() else 0.0,
    )
    return cooling


def _water(
    land: _LandCover,
    legend: BiophysicalTable,
    natural_code: int,
    p: ClimateParams,
    out_tifs: Mapping[str, PathLike],
) -> _Water:
    """Runoff of every storm (actual, natural reference, before storage); writes the actual runoff."""
    natural_lc = np.where(land.valid, natural_code, 0).astype(np.uint8)
    water = _Water({}, {}, {})
    for storm in p.storms:
        s = storm.name
        if storm.depth_mm == 0:
            LOGGER.warning("storm %s has 0 mm of rain: its runoff is 0 everywhere", s)
        water.runoff[s] = runoff_mm(land.lc, legend, storm.depth_mm, p.soil_group, p.lambda_)
        water.natural[s] = runoff_mm(natural_lc, legend, storm.depth_mm, p.soil_group, p.lambda_)
        water.pooled[s] = runoff_mm(land.lc, legend, storm.depth_mm, p.soil_group, p.lambda_, storage=False)
        _write_runoff(out_tifs[s], water.runoff[s], land, storm, p)
        LOGGER.info(
            "storm %s (%.4g mm): mean runoff %.2f mm",
            s,
            storm.depth_mm,
            float(np.nanmean(water.runoff[s])) if land.valid.any() else 0.0,
        )
    return water


def _write_runoff(path: PathLike, q: np.ndarray, land: _LandCover, storm: Storm, p: ClimateParams) -> None:
    write_raster(
        path,
        np.where(land.valid, q, _NODATA_OUT).astype(np.float32),
        land.grid,
        nodata=_NODATA_OUT,
        tags={
            "quantity": f"event runoff of storm {storm.name} (SCS curve number minus explicit storage)",
            "units": "mm",
            "crs": land.grid.crs.to_string(),
            "nodata_meaning": "outside the region",
            "storm_depth_mm": storm.depth_mm,
            "initial_abstraction_ratio": p.lambda_,
            "soil_group": p.soil_group,
        },
        description=f"runoff {storm.name} (mm)",
    )
