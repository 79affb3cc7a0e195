"""The climate stage: heat mitigation and design-storm runoff rasters and the per-park summary.

:func:`run_climate` reads and checks every input before it writes anything (a bad parks layer or
soil map leaves no partial output), then runs the heat model, the water model per storm (with the
soil group per cell when a soil map or groundwater levels are given) and, with an elevation model,
routes every storm over the terrain (:mod:`~werkland.climate.routing`), and writes the per-park
summary.
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
from werkland.climate.parks import ParkHydrology, read_buildings, read_parks, summarise_parks
from werkland.climate.routing import FlowModel, StormRouting, build_flow_model, route_runoff
from werkland.climate.runoff import runoff_mm
from werkland.climate.soil import effective_soil_group, read_groundwater, read_soil
from werkland.climate.terrain import read_elevation
from werkland.params.climate import ClimateParams, HydrologyInputs, Storm
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
class HydrologyOutputs:
    """Output rasters of the soil, groundwater and terrain model (always written; nodata/NaN when the
    input is absent).

    Attributes
    ----------
    soil_group : path-like
        ``climate/soil_group.tif``: uint8 1..4 (A..D) where a soil map or the shallow-groundwater
        rule decides the group, 0 elsewhere (``climate.soil_group`` applies) and outside.
    ghg : path-like
        ``climate/ghg_m.tif``: float32 GHG, m below the surface, NaN unknown.
    infiltration : path-like
        ``climate/infiltration_mm_h.tif``: float32 infiltration capacity, NaN unknown.
    flow_accumulation : path-like
        ``climate/flow_accumulation.tif``: float32 upslope area including the cell, m², NaN without
        elevation and outside.
    ponding : mapping of str to path-like
        ``climate/ponding_<storm>.tif`` per storm: float32 standing-water depth, mm (0 where dry),
        NaN without elevation and outside.
    """

    soil_group: PathLike
    ghg: PathLike
    infiltration: PathLike
    flow_accumulation: PathLike
    ponding: Mapping[str, PathLike]


@dataclass(frozen=True)
class _Soil:
    """Soil and groundwater per cell; ``runoff_group`` is None without soil or groundwater input."""

    mapped: np.ndarray
    ghg: np.ndarray
    infiltration: np.ndarray
    runoff_group: np.ndarray | None


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
    hydrology: HydrologyInputs | None = None,
    out_hydrology: HydrologyOutputs | None = None,
    where: str = "config: regions",
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
    hydrology : HydrologyInputs, optional
        The region's soil map, groundwater levels and elevation model (each optional). Without soil
        and groundwater the runoff uses ``params.soil_group`` everywhere; without elevation nothing
        is routed. Absent inputs leave every other output unchanged.
    out_hydrology : HydrologyOutputs, optional
        Where the soil, groundwater, flow-accumulation and ponding rasters go (the workflow always
        passes them); None writes none of them.
    where : str
        Config key of the region (for messages), e.g. ``config: regions.demo``.

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
        natural reference), the routed water figures (NaN without elevation; see
        :func:`~werkland.climate.parks.summarise_parks`), ``cool_spots_in_region_n``, ``note``.

    Raises
    ------
    WerklandInputError
        Unreadable inputs, a land-cover class without biophysical values, storms and output paths
        that do not match; soil units without a mapping, Gt classes that do not exist, a DTM that is
        not in metres or does not cover the region (:mod:`~werkland.climate.soil`,
        :mod:`~werkland.climate.terrain`).
    """
    _check_outputs(params, out_runoff_tifs)
    if out_hydrology is not None and set(out_hydrology.ponding) != set(params.storm_names):
        raise WerklandInputError(
            f"ponding outputs {sorted(out_hydrology.ponding)} do not match the storms {params.storm_names}",
            path="config: climate.storms",
            fix="give one output path per storm name (climate/ponding_<storm>.tif)",
        )
    hydrology = hydrology or HydrologyInputs()
    workers = max(1, int(threads))
    legend = load_biophysical(legend_yaml)
    natural_code = legend.natural_code(params.natural_setting)
    land = _read_landcover(landcover_tif, legend)
    parks = read_parks(region_gpkg, land.grid)
    buildings = read_buildings(landcover_gpkg, params.building_class, land.grid)
    LOGGER.info(
        "%d parks, %s building polygons", len(parks), "no" if buildings is None else len(buildings)
    )
    soil = _soil(hydrology, land, params, where)
    model = _terrain(hydrology, land, params, where)
    cooling = _heat(land, legend, params, workers, out_cooling_tif)
    water = _water(land, legend, natural_code, params, out_runoff_tifs, soil.runoff_group)
    routed: dict[str, StormRouting] = {}
    routed_natural: dict[str, StormRouting] = {}
    if model is not None:
        for storm in params.storms:
            routed[storm.name] = route_runoff(model, water.runoff[storm.name])
            routed_natural[storm.name] = route_runoff(model, water.natural[storm.name])
            r = routed[storm.name]
            LOGGER.info(
                "storm %s routed: %.1f m3 runoff, %.1f m3 ponded, %.1f m3 leave the region",
                storm.name, float(r.q_m3.sum()), float(r.stored_m3.sum()), r.leaving_m3,
            )
    if out_hydrology is not None:
        _write_hydrology(out_hydrology, land, soil, model, routed, hydrology, params)
    df = summarise_parks(
        parks, land.grid, land.lc, legend, cooling, water.runoff, water.natural, water.pooled, params, buildings,
        hydrology=ParkHydrology(model=model, routed=routed, routed_natural=routed_natural),
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


def _soil(hydrology: HydrologyInputs, land: _LandCover, p: ClimateParams, where: str) -> _Soil:
    """Soil group, infiltration and GHG per cell from the optional soil map and groundwater levels."""
    grid, valid = land.grid, land.valid
    group = np.zeros(grid.shape, dtype=np.uint8)
    infiltration = np.full(grid.shape, np.nan, dtype=np.float32)
    ghg = np.full(grid.shape, np.nan, dtype=np.float32)
    if hydrology.soil is not None:
        group, infiltration = read_soil(hydrology.soil, grid, valid, where=f"{where}.soil")
    if hydrology.groundwater is not None:
        ghg = read_groundwater(hydrology.groundwater, grid, valid, where=f"{where}.groundwater")
    mapped, runoff_group = effective_soil_group(group, ghg, valid, p)
    if hydrology.soil is None and hydrology.groundwater is None:
        return _Soil(mapped=mapped, ghg=ghg, infiltration=infiltration, runoff_group=None)
    n = int(valid.sum())
    LOGGER.info(
        "soil group per cell: %d of %d region cells from the inputs (%d set to D by GHG < %g m), the rest %s",
        int((mapped > 0).sum()), n, int((valid & np.isfinite(ghg) & (ghg < p.shallow_groundwater_m)).sum()),
        p.shallow_groundwater_m, p.soil_group,
    )
    return _Soil(mapped=mapped, ghg=ghg, infiltration=infiltration, runoff_group=runoff_group)


def _terrain(hydrology: HydrologyInputs, land: _LandCover, p: ClimateParams, where: str) -> FlowModel | None:
    """The flow model of the region's terrain (None without an elevation input)."""
    if hydrology.elevation is None:
        return None
    dem = read_elevation(hydrology.elevation, land.grid, land.valid, p, where=f"{where}.elevation")
    model = build_flow_model(dem, land.valid, land.grid.cell_area_m2)
    LOGGER.info(
        "terrain: %d depressions holding %.1f m3 (%.2f ha)", len(model.release), float(model.capacity_m3.sum()),
        float((model.lake >= 0).sum()) * land.grid.cell_area_m2 / 1e4,
    )
    return model


def _write_hydrology(
    out: HydrologyOutputs,
    land: _LandCover,
    soil: _Soil,
    model: FlowModel | None,
    routed: Mapping[str, StormRouting],
    hydrology: HydrologyInputs,
    p: ClimateParams,
) -> None:
    """The soil, groundwater, flow-accumulation and ponding rasters (nodata where the input is absent)."""
    grid, valid = land.grid, land.valid
    crs = grid.crs.to_string()
    soil_src = "none" if hydrology.soil is None else hydrology.soil.path
    gw_src = "none" if hydrology.groundwater is None else hydrology.groundwater.path
    write_raster(out.soil_group, soil.mapped, grid, nodata=0, tags={
        "quantity": "hydrologic soil group of the SCS curve-number method, 1..4 = A..D, after the "
                    f"shallow-groundwater rule (GHG < {p.shallow_groundwater_m:g} m -> D)",
        "units": "class", "crs": crs, "soil_map": soil_src, "groundwater": gw_src,
        "nodata_meaning": f"no soil or groundwater information (the runoff uses climate.soil_group "
                          f"{p.soil_group}), or outside the region",
    }, description="soil group (1..4 = A..D)")
    write_raster(out.ghg, soil.ghg.astype(np.float32), grid, nodata=float("nan"), tags={
        "quantity": "mean highest groundwater level (GHG)", "units": "m below the surface", "crs": crs,
        "groundwater": gw_src, "nodata_meaning": "unknown (no groundwater input) or outside the region",
    }, description="GHG (m below surface)")
    write_raster(out.infiltration, soil.infiltration.astype(np.float32), grid, nodata=float("nan"), tags={
        "quantity": "infiltration capacity of the soil (soil mapping)", "units": "mm/h", "crs": crs,
        "soil_map": soil_src, "nodata_meaning": "unknown (no soil input or no soil information) or outside",
    }, description="infiltration capacity (mm/h)")
    nan = np.full(grid.shape, np.nan, dtype=np.float32)
    elev = "none" if hydrology.elevation is None else hydrology.elevation.path
    acc = nan if model is None else model.accumulation_m2().astype(np.float32)
    write_raster(out.flow_accumulation, acc, grid, nodata=float("nan"), tags={
        "quantity": "upslope contributing area including the cell (D8 over the priority-flood filled DTM)",
        "units": "m2", "crs": crs, "elevation": elev,
        "nodata_meaning": "no elevation input, or outside the region",
    }, description="flow accumulation (m2)")
    for storm in p.storms:
        r = routed.get(storm.name)
        depth = nan if r is None else np.where(valid, r.depth_m * 1000.0, np.nan).astype(np.float32)
        write_raster(out.ponding[storm.name], depth, grid, nodata=float("nan"), tags={
            "quantity": f"standing water after storm {storm.name}: runoff routed downslope (D8) into the "
                        "depressions of the DTM (fill and spill)",
            "units": "mm", "crs": crs, "elevation": elev, "storm_depth_mm": storm.depth_mm,
            "nodata_meaning": "no elevation input, or outside the region",
        }, description=f"ponding {storm.name} (mm)")


def _water(
    land: _LandCover,
    legend: BiophysicalTable,
    natural_code: int,
    p: ClimateParams,
    out_tifs: Mapping[str, PathLike],
    soil_group: np.ndarray | None = None,
) -> _Water:
    """Runoff of every storm (actual, natural reference, before storage); writes the actual runoff.

    ``soil_group`` (uint8 1..4 per cell) replaces ``p.soil_group`` when given.
    """
    natural_lc = np.where(land.valid, natural_code, 0).astype(np.uint8)
    group: str | np.ndarray = p.soil_group if soil_group is None else soil_group
    water = _Water({}, {}, {})
    for storm in p.storms:
        s = storm.name
        if storm.depth_mm == 0:
            LOGGER.warning("storm %s has 0 mm of rain: its runoff is 0 everywhere", s)
        water.runoff[s] = runoff_mm(land.lc, legend, storm.depth_mm, group, p.lambda_)
        water.natural[s] = runoff_mm(natural_lc, legend, storm.depth_mm, group, p.lambda_)
        water.pooled[s] = runoff_mm(land.lc, legend, storm.depth_mm, group, p.lambda_, storage=False)
        _write_runoff(out_tifs[s], water.runoff[s], land, storm, p, per_cell=soil_group is not None)
        LOGGER.info(
            "storm %s (%.4g mm): mean runoff %.2f mm",
            s,
            storm.depth_mm,
            float(np.nanmean(water.runoff[s])) if land.valid.any() else 0.0,
        )
    return water


def _write_runoff(
    path: PathLike, q: np.ndarray, land: _LandCover, storm: Storm, p: ClimateParams, *, per_cell: bool = False
) -> None:
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
            "soil_group": f"per cell (climate/soil_group.tif; elsewhere {p.soil_group})" if per_cell else p.soil_group,
        },
        description=f"runoff {storm.name} (mm)",
    )
