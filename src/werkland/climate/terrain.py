"""Terrain: a digital terrain model read tile by tile onto the region grid, checked and gap-filled.

A DTM such as the AHN 0.5 m DTM of a 20 km region holds more than a billion cells; it is never
read whole. :func:`read_on_grid` walks the region grid in square tiles and, for each, reads only the
window of the source that covers the tile (plus a margin of two source cells) and averages it onto
the tile's cells (``rasterio.warp.reproject`` with ``Resampling.average``; source nodata ignored).
Peak memory is one source window, about (tile side x cell size / source resolution)² values.

:func:`read_elevation` then converts the units, fills the gaps a DTM has under buildings and water
(inverse-distance interpolation up to ``climate.elevation_fill_m``) and checks that the values are
plausible metres (a DTM in centimetres is the common mistake) and that the DTM covers the region.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import rasterio
import rasterio.fill
import rasterio.warp
import rasterio.windows
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from scipy import ndimage

from werkland._errors import WerklandInputError, unreadable
from werkland.landcover.raster_source import region_window
from werkland.params.climate import LENGTH_UNITS, ClimateParams, ElevationInput
from werkland.raster.io import Grid
from werkland.raster.windows import plan_windows

__all__ = ["MAX_MEDIAN_SLOPE", "TILE_CELLS", "check_slope", "median_slope", "read_elevation", "read_on_grid"]

LOGGER = logging.getLogger(__name__)

#: Side of the region-grid tiles read one at a time (cells).
TILE_CELLS = 512

#: Median slope (rise / run) above which a DTM cannot be in metres: 45 degrees over most cells.
MAX_MEDIAN_SLOPE = 1.0

_CM_UNITS = ("cm", "centimetre", "centimeter", "centimetres", "centimeters")


def _rio_crs(grid: Grid) -> rasterio.crs.CRS:
    return rasterio.crs.CRS.from_wkt(grid.crs.to_wkt())


def read_on_grid(
    path: str | os.PathLike[str],
    grid: Grid,
    *,
    what: str,
    fix: str,
    tile_cells: int = TILE_CELLS,
) -> tuple[np.ndarray, str | None]:
    """A continuous raster averaged onto ``grid``, one window of the source per grid tile.

    Parameters
    ----------
    path : path-like
        Any GDAL raster with a CRS (band 1).
    grid : Grid
        Target grid.
    what : str
        What the raster is (for messages).
    fix : str
        The fix named when the file is missing or unreadable.
    tile_cells : int
        Side of the grid tiles.

    Returns
    -------
    values : numpy.ndarray
        float64 of ``grid.shape``, NaN where the source has no data or does not reach.
    units : str or None
        The band's unit tag (GDAL ``units``), if any.

    Raises
    ------
    WerklandInputError
        Missing or unreadable file, no CRS, no overlap with the grid.
    """
    p = str(path)
    if not os.path.exists(p):
        raise WerklandInputError("file not found", path=p, fix=fix)
    out = np.full(grid.shape, np.nan, dtype=np.float64)
    try:
        with rasterio.open(p) as ds:
            if ds.crs is None:
                raise WerklandInputError(f"{what} has no CRS", path=p,
                                         fix="assign one, e.g. gdal_edit.py -a_srs EPSG:28992 FILE")
            units = (ds.units[0] or None) if ds.units else None
            if region_window(ds, grid) is None:
                raise WerklandInputError(
                    f"{what} does not cover the region: it does not overlap it (raster bounds "
                    f"{tuple(round(v, 1) for v in ds.bounds)} in {ds.crs.to_string()}; region bounds "
                    f"{tuple(round(v, 1) for v in grid.bounds)} in {grid.crs.to_string()})",
                    path=p, fix="use a raster that covers the parks plus context buffer (and check its CRS)",
                )
            nodata = ds.nodata
            for tile in plan_windows(grid.shape, tile_cells, 0):
                rows, cols = tile.core
                t = grid.transform * Affine.translation(cols.start, rows.start)
                tgrid = Grid(rows.stop - rows.start, cols.stop - cols.start, t, grid.crs)
                win = region_window(ds, tgrid)
                if win is None:
                    continue
                src = ds.read(1, window=win, masked=False).astype(np.float64, copy=False)
                dst = np.full(tgrid.shape, np.nan, dtype=np.float64)
                rasterio.warp.reproject(
                    source=src, destination=dst, src_transform=ds.window_transform(win), src_crs=ds.crs,
                    dst_transform=t, dst_crs=_rio_crs(grid), src_nodata=nodata, dst_nodata=np.nan,
                    resampling=Resampling.average,
                )
                out[rows, cols] = dst
    except RasterioIOError as exc:
        raise unreadable(what, exc, p, fix) from exc
    return out, units


def read_elevation(
    spec: ElevationInput,
    grid: Grid,
    valid: np.ndarray,
    params: ClimateParams,
    *,
    where: str = "elevation",
) -> np.ndarray:
    """The region's terrain in metres on ``grid``: averaged, unit-converted, gap-filled, checked.

    Parameters
    ----------
    spec : ElevationInput
        The DTM and its units.
    grid : Grid
        The land-cover grid.
    valid : numpy.ndarray
        Region cells (bool, ``grid.shape``).
    params : ClimateParams
        ``elevation_range_m`` (plausible values) and ``elevation_fill_m`` (gap filling).
    where : str
        Config key of the input (for messages), e.g. ``config: regions.demo.elevation``.

    Returns
    -------
    numpy.ndarray
        float64 elevation in metres, finite on every region cell, NaN outside.

    Raises
    ------
    WerklandInputError
        Missing or unreadable file; no overlap or region cells farther than ``elevation_fill_m``
        from data ("does not cover the region"); values that are not plausible metres (a DTM in
        centimetres: by its unit tag, by values outside ``elevation_range_m`` or by a median slope
        above 45 degrees).
    """
    p = spec.path
    fix_units = (f"convert the DTM to metres, or set {where}.units to the units of its values (cm or mm)")
    z, tag = read_on_grid(p, grid, what="elevation (DTM)", fix=f"check {where}.path")
    if spec.units == "m" and tag is not None and tag.strip().lower() in _CM_UNITS:
        raise WerklandInputError(f"the DTM's band unit is {tag!r}, but metres are expected", path=p, fix=fix_units)
    z *= LENGTH_UNITS[spec.units]
    z[~valid] = np.nan
    n_region = int(valid.sum())
    gaps = valid & ~np.isfinite(z)
    if gaps.any():
        have = np.isfinite(z)
        if not have.any():
            raise WerklandInputError(
                "elevation does not cover the region: no region cell has a value",
                path=p, fix=f"use a DTM that covers the parks plus context buffer ({where}.path)",
            )
        dist = int(np.ceil(params.elevation_fill_m / grid.res_m))
        if dist > 0:
            filled = rasterio.fill.fillnodata(
                np.where(have, z, 0.0).astype(np.float32), mask=have.astype(np.uint8),
                max_search_distance=float(dist), smoothing_iterations=0,
            ).astype(np.float64)
            z = np.where(gaps, filled, z)
            z[gaps & ~_reached(have, dist)] = np.nan
        left = valid & ~np.isfinite(z)
        if left.any():
            r, c = np.argwhere(left)[0]
            x, y = grid.transform * (c + 0.5, r + 0.5)
            raise WerklandInputError(
                f"elevation does not cover the region: {int(left.sum())} of {n_region} region cells are "
                f"more than {params.elevation_fill_m:g} m from a DTM value (first at x={x:.1f}, y={y:.1f})",
                path=p,
                fix=f"use a DTM that covers the parks plus context buffer, or raise climate.elevation_fill_m "
                    f"to interpolate larger gaps ({where}.path)",
            )
        LOGGER.info("elevation: filled %d gap cells of %d by interpolation", int(gaps.sum()), n_region)
    _check_plausible(z[valid], params, p, fix_units)
    check_slope(z, grid.res_m, p, where)
    return z


def _reached(have: np.ndarray, dist: int) -> np.ndarray:
    """Cells within ``dist`` cells (Euclidean) of a cell with data."""
    return ndimage.distance_transform_edt(~have) <= dist


def _check_plausible(z: np.ndarray, params: ClimateParams, path: str, fix: str) -> None:
    if not z.size:
        return
    lo, hi = params.elevation_range_m
    zmin, zmax = float(z.min()), float(z.max())
    if zmin < lo or zmax > hi:
        raise WerklandInputError(
            f"elevations from {zmin:.6g} to {zmax:.6g} lie outside the plausible range {lo:g} .. {hi:g} m "
            "(is the DTM in centimetres?)",
            path=path, fix=fix + "; outside the Netherlands widen climate.elevation_range_m",
        )


def median_slope(z: np.ndarray, res_m: float) -> float:
    """Median over cells of the steepest rise/run to a 4-neighbour (NaN cells skipped)."""
    dz = np.full(z.shape, np.nan)
    gx = np.abs(np.diff(z, axis=1)) / res_m
    gy = np.abs(np.diff(z, axis=0)) / res_m
    dz[:, :-1] = gx
    dz[:, 1:] = np.fmax(dz[:, 1:], gx)
    dz[:-1, :] = np.fmax(dz[:-1, :], gy)
    dz[1:, :] = np.fmax(dz[1:, :], gy)
    vals = dz[np.isfinite(dz)]
    return float(np.median(vals)) if vals.size else 0.0


def check_slope(z: np.ndarray, res_m: float, path: str, where: str) -> None:
    """Stop when the median slope of a metric DTM exceeds 45 degrees (values in centimetres)."""
    s = median_slope(z, res_m)
    if s > MAX_MEDIAN_SLOPE:
        raise WerklandInputError(
            f"the median terrain slope is {s:.3g} m/m (over 45 degrees on most cells): the DTM's values are "
            "not metres (centimetres?)",
            path=path,
            fix=f"convert the DTM to metres, or set {where}.units to the units of its values (cm or mm)",
        )
