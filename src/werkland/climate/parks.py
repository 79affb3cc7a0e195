"""Per-park summary: one row of heat and water figures per business park (never NaN).

The park cells are those whose centre lies in the park polygon (a park smaller than a cell takes the
cells it touches) and inside the region. Buildings count as served by a cool spot when they lie
within the walking distance of one: building polygons of ``landcover.gpkg`` when there are any, else
the building cells of the raster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import shape

from werkland._errors import WerklandInputError, unreadable
from werkland.climate.biophysical import BiophysicalTable
from werkland.climate.cooling import CoolingResult, cool_spots
from werkland.climate.routing import FlowModel, StormRouting, park_water
from werkland.params.climate import ClimateParams
from werkland.raster.io import Grid

__all__ = ["HYDROLOGY_COLUMNS", "ParkHydrology", "hydrology_columns", "read_buildings", "read_parks",
           "summarise_parks"]

LOGGER = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def read_parks(region_gpkg: str | os.PathLike[str], grid: Grid) -> gpd.GeoDataFrame:
    """The parks layer of ``region.gpkg`` in the grid's CRS, ``park_id`` as text, geometries repaired.

    Raises
    ------
    WerklandInputError
        Unreadable layer, no ``park_id`` column, no CRS, or a duplicate ``park_id``.
    """
    where = f"{region_gpkg} (layer parks)"
    try:
        parks = gpd.read_file(region_gpkg, layer="parks", engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError
        raise unreadable("layer 'parks'", exc, str(region_gpkg),
                         "run the region stage first; the file needs a layer 'parks' with column park_id") from exc
    if "park_id" not in parks.columns:
        raise WerklandInputError(
            "no column 'park_id'", path=where, fix="the parks layer needs a park_id column"
        )
    if parks.crs is None:
        raise WerklandInputError(
            "parks layer has no CRS", path=where, fix="write the layer with its CRS"
        )
    parks = parks.copy()
    parks["park_id"] = parks["park_id"].astype(str)
    dup = parks["park_id"][parks["park_id"].duplicated()].unique().tolist()
    if dup:
        raise WerklandInputError(
            f"duplicate park_id {dup}", path=where, fix="give each park its own id"
        )
    if not parks.crs.equals(grid.crs):
        LOGGER.info("reprojecting parks from %s to the land-cover CRS", parks.crs.to_string())
        parks = parks.to_crs(grid.crs.to_wkt())
    geoms = parks.geometry.values
    bad = ~shapely.is_valid(np.asarray(geoms)) & ~shapely.is_missing(np.asarray(geoms))
    if bad.any():
        LOGGER.info("repaired %d invalid park geometries", int(bad.sum()))
        parks.loc[bad, "geometry"] = shapely.make_valid(np.asarray(geoms)[bad])
    return parks


def read_buildings(
    landcover_gpkg: str | os.PathLike[str] | None, building_class: str, grid: Grid
) -> gpd.GeoDataFrame | None:
    """Building polygons from landcover.gpkg (layer landcover, class == building_class), or None.

    Raises
    ------
    WerklandInputError
        A missing file or an unreadable layer.
    """
    if landcover_gpkg is None:
        return None
    if not Path(landcover_gpkg).exists():
        raise WerklandInputError(
            "file not found", path=str(landcover_gpkg), fix="run the land-cover stage first"
        )
    cls_sql = building_class.replace("'", "''")
    try:
        gdf = gpd.read_file(
            landcover_gpkg,
            layer="landcover",
            engine="pyogrio",
            where=f"\"class\" = '{cls_sql}'",
            columns=["class"],
        )
    except Exception as exc:
        raise unreadable("layer 'landcover'", exc, str(landcover_gpkg),
                         "the file needs a layer 'landcover' with a column 'class'") from exc
    if gdf.empty:
        return None
    if gdf.crs is None:
        raise WerklandInputError("layer landcover has no CRS", path=str(landcover_gpkg))
    if not gdf.crs.equals(grid.crs):
        gdf = gdf.to_crs(grid.crs.to_wkt())
    gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    return gdf if len(gdf) else None


# --------------------------------------------------------------------------------------------------
# buildings near cool spots
# --------------------------------------------------------------------------------------------------


@dataclass
class _BuildingAccess:
    """Buildings within the walking distance of a cool spot, as polygons or as raster cells.

    ``near`` and ``tree`` are set for building polygons (one flag per polygon, an STRtree of their
    points on surface); ``cells`` and ``near_cells`` for the building cells of the raster; all None
    when the legend has no building class.
    """

    near: np.ndarray | None = None
    tree: shapely.STRtree | None = None
    cells: np.ndarray | None = None
    near_cells: np.ndarray | None = None


def _cool_spot_polygons(labels: np.ndarray, grid: Grid) -> list[Any]:
    mask = labels > 0
    if not mask.any():
        return []
    return [
        shape(geom)
        for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=grid.transform)
    ]


def _polygon_access(buildings: gpd.GeoDataFrame, labels: np.ndarray, grid: Grid, dist_m: float) -> _BuildingAccess:
    polys = _cool_spot_polygons(labels, grid)
    bgeoms = np.asarray(buildings.geometry.values)
    near = np.zeros(len(bgeoms), dtype=bool)
    if polys:
        # candidate pairs by envelope, then an exact distance test against *prepared* cool-spot
        # polygons (indexed facet distance: ~10x faster than STRtree's dwithin predicate)
        spots = np.asarray(polys, dtype=object)
        shapely.prepare(spots)
        xmin, ymin, xmax, ymax = shapely.bounds(bgeoms).T
        env = shapely.box(xmin - dist_m, ymin - dist_m, xmax + dist_m, ymax + dist_m)
        bi, sj = shapely.STRtree(spots).query(env)
        ok = shapely.dwithin(spots[sj], bgeoms[bi], dist_m)
        near[bi[ok]] = True
    return _BuildingAccess(near=near, tree=shapely.STRtree(shapely.point_on_surface(bgeoms)))


def _cell_access(
    labels: np.ndarray, n_spots: int, grid: Grid, lc: np.ndarray, legend: BiophysicalTable, p: ClimateParams
) -> _BuildingAccess:
    if p.building_class not in legend.names.values():
        return _BuildingAccess()
    cells = lc == legend.code_of(p.building_class)
    if n_spots:
        dist = ndimage.distance_transform_edt(labels == 0, sampling=grid.res_m)
        near_cells = cells & (dist <= p.cool_spot_distance_m)
    else:
        near_cells = np.zeros_like(cells)
    return _BuildingAccess(cells=cells, near_cells=near_cells)


# --------------------------------------------------------------------------------------------------
# routed water (with an elevation model)
# --------------------------------------------------------------------------------------------------

#: Routed-water columns of the summary (``<s>`` = storm name); NaN without an elevation model.
HYDROLOGY_COLUMNS: tuple[str, ...] = (
    "depression_storage_m3",
    "ponding_area_m2",
    "runon_<s>_m3",
    "outflow_<s>_m3",
    "ponded_<s>_m3",
    "routed_excess_<s>_m3",
)


def hydrology_columns(storms: list[str]) -> list[str]:
    """The routed-water column names of the summary for these storms, in table order."""
    out = ["depression_storage_m3", "ponding_area_m2"]
    for s in storms:
        out += [f"runon_{s}_m3", f"outflow_{s}_m3", f"ponded_{s}_m3", f"routed_excess_{s}_m3"]
    return out


@dataclass
class ParkHydrology:
    """The terrain's flow model and every storm routed over it (actual and natural land cover).

    ``model`` None: no elevation input; the routed columns are NaN.
    """

    model: FlowModel | None = None
    routed: Mapping[str, StormRouting] | None = None
    routed_natural: Mapping[str, StormRouting] | None = None


def _routed_figures(
    row: dict[str, Any], hydro: ParkHydrology | None, sl: tuple[slice, slice], m: np.ndarray, p: ClimateParams
) -> None:
    """Depression storage, run-on, outflow, ponding and the routed excess over natural of one park.

    ``routed_excess_<s>_m3`` = net discharge (outflow - run-on) of the actual land cover minus that of
    the natural reference routed over the same terrain.
    """
    model = None if hydro is None else hydro.model
    if model is None or hydro is None or hydro.routed is None or hydro.routed_natural is None:
        for col in hydrology_columns(p.storm_names):
            row[col] = np.nan
        return
    n = int(m.sum())
    if n:
        depth = model.depression_depth_m[sl][m]
        row["depression_storage_m3"] = float(depth.sum()) * model.cell_area_m2
        row["ponding_area_m2"] = float((depth > 0).sum()) * model.cell_area_m2
    else:
        row["depression_storage_m3"] = 0.0
        row["ponding_area_m2"] = 0.0
    for s in p.storm_names:
        w = park_water(model, hydro.routed[s], sl, m)
        nat = park_water(model, hydro.routed_natural[s], sl, m)
        row[f"runon_{s}_m3"] = w.runon_m3
        row[f"outflow_{s}_m3"] = w.outflow_m3
        row[f"ponded_{s}_m3"] = w.ponded_m3
        row[f"routed_excess_{s}_m3"] = (w.outflow_m3 - w.runon_m3) - (nat.outflow_m3 - nat.runon_m3)


# --------------------------------------------------------------------------------------------------
# one row per park
# --------------------------------------------------------------------------------------------------


def _park_cells(geom: Any, grid: Grid, valid: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray]:
    """The park's window of the grid and its cells in the region within that window."""
    win = None if geom is None or geom.is_empty else grid.window_of(geom)
    if win is None:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), dtype=bool)
    return win, grid.mask_of(geom, win, touched_if_empty=True) & valid[win]


def _heat_figures(
    row: dict[str, Any], cooling: CoolingResult, sl: tuple[slice, slice], m: np.ndarray, p: ClimateParams
) -> None:
    n = int(m.sum())
    hm = cooling.hm[sl][m]
    row["hm_mean"] = float(hm.mean()) if n else 0.0
    row["hm_below_threshold_share"] = float((hm < p.hm_threshold).mean()) if n else 0.0
    if cooling.t_air_degC is not None and p.t_ref_degC is not None:
        t = cooling.t_air_degC[sl][m]
        row["t_air_mean_degC"] = float(t.mean()) if n else 0.0
        row["t_air_anomaly_degC"] = float(t.mean() - p.t_ref_degC) if n else 0.0


def _building_figures(
    row: dict[str, Any],
    notes: list[str],
    access: _BuildingAccess,
    geom: Any,
    sl: tuple[slice, slice],
    m: np.ndarray,
    polygon_area: float,
) -> None:
    n = int(m.sum())
    if access.tree is not None and access.near is not None:
        idx = (
            access.tree.query(geom, predicate="intersects")
            if n or polygon_area > 0
            else np.zeros(0, dtype=int)
        )
        nb = len(idx)
        row["buildings_n"] = nb
        row["buildings_near_cool_spot_share"] = float(access.near[idx].mean()) if nb else 0.0
        if nb == 0 and n:
            notes.append("no building polygons in the park: buildings_near_cool_spot_share set to 0")
    elif access.cells is not None and access.near_cells is not None:
        bc = access.cells[sl][m]
        nb = int(bc.sum())
        row["buildings_n"] = 0
        row["buildings_near_cool_spot_share"] = float(access.near_cells[sl][m][bc].mean()) if nb else 0.0
        if n:
            notes.append(
                "no building polygons: buildings_near_cool_spot_share is the share of building cells"
                + ("" if nb else " (none in the park, set to 0)")
            )
    else:
        row["buildings_n"] = 0
        row["buildings_near_cool_spot_share"] = 0.0
        if n:
            notes.append("legend has no building class: buildings_near_cool_spot_share set to 0")


def _water_figures(
    row: dict[str, Any],
    notes: list[str],
    cell_layers: tuple[np.ndarray, np.ndarray],
    runoff: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    sl: tuple[slice, slice],
    m: np.ndarray,
    cell_m2: float,
    p: ClimateParams,
) -> None:
    """Sealing, storage and the runoff of every storm (actual, pooled storage, natural, excess)."""
    sealed, store = cell_layers
    actual, natural, pooled = runoff
    n = int(m.sum())
    area = n * cell_m2
    sealed_m2 = float(sealed[sl][m].sum()) * cell_m2
    existing_m3 = float(store[sl][m].sum()) * cell_m2 / 1000.0
    required_m3 = p.storage_norm_mm * sealed_m2 / 1000.0
    row["sealed_area_m2"] = sealed_m2
    row["sealed_share"] = sealed_m2 / area if n else 0.0
    row["storage_existing_m3"] = existing_m3
    row["storage_required_m3"] = required_m3
    row["storage_needed_m3"] = max(0.0, required_m3 - existing_m3)
    for storm in p.storms:
        s = storm.name
        q = float(actual[s][sl][m].sum()) * cell_m2 / 1000.0
        qn = float(natural[s][sl][m].sum()) * cell_m2 / 1000.0
        qp = max(0.0, float(pooled[s][sl][m].sum()) * cell_m2 / 1000.0 - existing_m3)
        row[f"runoff_{s}_m3"] = q
        row[f"runoff_{s}_mm"] = q / area * 1000.0 if n else 0.0
        row[f"runoff_pooled_storage_{s}_m3"] = qp
        row[f"natural_runoff_{s}_m3"] = qn
        row[f"excess_{s}_m3"] = q - qn
        row[f"excess_{s}_mm"] = (q - qn) / area * 1000.0 if n else 0.0
        if storm.depth_mm == 0:
            notes.append(f"storm {s} has 0 mm of rain: runoff and excess are 0")


def summarise_parks(
    parks: gpd.GeoDataFrame,
    grid: Grid,
    lc: np.ndarray,
    legend: BiophysicalTable,
    cooling: CoolingResult,
    runoff: Mapping[str, np.ndarray],
    natural_runoff: Mapping[str, np.ndarray],
    pooled_q: Mapping[str, np.ndarray],
    params: ClimateParams,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    hydrology: ParkHydrology | None = None,
) -> pd.DataFrame:
    """One row of heat and water figures per park (units in the column names).

    Every column is a number (never NaN), except the routed-water columns
    (:func:`hydrology_columns`), which are NaN without an elevation model:
    ``depression_storage_m3`` (depth filled by priority-flood, summed over the park's cells),
    ``ponding_area_m2`` (area of the park's depression cells, where water can stand), and per storm
    ``runon_<s>_m3`` (water flowing into the park from outside), ``outflow_<s>_m3`` (water flowing
    out of it, incl. out of the region), ``ponded_<s>_m3`` (water standing in it after the storm;
    ``runoff_<s>_m3 + runon = ponded + outflow``) and ``routed_excess_<s>_m3`` (net discharge
    outflow - run-on minus that of the natural reference routed the same way).

    Parameters
    ----------
    parks : geopandas.GeoDataFrame
        ``park_id``, optional ``name``, geometry in ``grid.crs``.
    grid : Grid
        Land-cover grid.
    lc : numpy.ndarray
        Land-cover codes (0 outside the region).
    legend : BiophysicalTable
        Biophysical values (sealed, storage_mm, building class).
    cooling : CoolingResult
        Output of :func:`~werkland.climate.cooling.urban_cooling`.
    runoff, natural_runoff : mapping of str to numpy.ndarray
        Runoff (mm) per storm name with storage, of the actual and the natural-reference land cover.
    pooled_q : mapping of str to numpy.ndarray
        SCS runoff (mm) per storm before storage, for the pooled-storage figure.
    params : ClimateParams
        Climate parameters (storms, thresholds, storage norm, building class).
    buildings : geopandas.GeoDataFrame or None
        Building polygons; None = use building cells of the raster.
    hydrology : ParkHydrology, optional
        The flow model and routed storms (None or no model: the routed columns are NaN).

    Returns
    -------
    pandas.DataFrame
        Columns documented in :func:`~werkland.climate.stage.run_climate`.
    """
    p = params
    cell_m2 = grid.cell_area_m2
    valid = lc != 0
    labels = cool_spots(
        cooling.hm, cooling.green, grid.res_m, hm_min=p.cool_spot_hm, min_area_m2=p.cool_spot_min_area_m2
    )
    n_spots = int(labels.max()) if labels.size else 0
    access = (
        _polygon_access(buildings, labels, grid, p.cool_spot_distance_m)
        if buildings is not None
        else _cell_access(labels, n_spots, grid, lc, legend, p)
    )
    cell_layers = (np.nan_to_num(legend.sealed, nan=0.0)[lc], np.nan_to_num(legend.storage_mm, nan=0.0)[lc])
    rows: list[dict[str, Any]] = []
    for _, park in parks.iterrows():
        geom = park.geometry
        notes: list[str] = []
        row: dict[str, Any] = {"park_id": park["park_id"]}
        if "name" in parks.columns:
            row["name"] = "" if pd.isna(park["name"]) else str(park["name"])
        polygon_area = 0.0 if geom is None or geom.is_empty else float(geom.area)
        row["polygon_area_m2"] = polygon_area
        sl, m = _park_cells(geom, grid, valid)
        n = int(m.sum())
        row["area_m2"] = n * cell_m2
        if n == 0:
            notes.append(
                "park covers no cell of the region's land-cover grid (zero area, or outside the region): "
                "all figures set to 0"
            )
        _heat_figures(row, cooling, sl, m, p)
        _building_figures(row, notes, access, geom, sl, m, polygon_area)
        _water_figures(row, notes, cell_layers, (runoff, natural_runoff, pooled_q), sl, m, cell_m2, p)
        _routed_figures(row, hydrology, sl, m, p)
        row["cool_spots_in_region_n"] = n_spots
        row["note"] = "; ".join(notes)
        rows.append(row)
    return _as_table(rows, hydrology_columns(p.storm_names))


def _as_table(rows: list[dict[str, Any]], nan_ok: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["park_id", "area_m2", "note", *nan_ok])
    num = [c for c in df.select_dtypes(include=[np.number]).columns if c not in nan_ok]
    df[num] = df[num].fillna(0.0)  # belt and braces: the contract is "never NaN" (bar the routed columns)
    df["note"] = df["note"].fillna("")
    return df
