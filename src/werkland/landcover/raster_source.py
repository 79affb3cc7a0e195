"""Categorical land-cover rasters (e.g. ESA WorldCover) read onto the region grid, one window only.

Only the window of the source raster that covers the region grid (plus a margin of two source
cells) is read; its values are resampled to the region grid by nearest neighbour (classes are never
averaged), so a national or continental raster is never read whole. The values are resampled as
indices into the window's distinct values, then mapped, so the mapping check sees exactly the
values that land on cells inside the region, with their cell counts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
import rasterio.windows
import shapely
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError

from werkland._errors import WerklandInputError, unreadable
from werkland.raster.io import Grid, value_index
from werkland.tables import Legend

#: Source cells read beyond the region's bounds on every side (nearest-neighbour sampling margin).
WINDOW_MARGIN_CELLS = 2


def _rio_crs(grid: Grid) -> rasterio.crs.CRS:
    return rasterio.crs.CRS.from_wkt(grid.crs.to_wkt())


def region_window(ds: rasterio.io.DatasetReader, grid: Grid) -> rasterio.windows.Window | None:
    """The window of ``ds`` that covers ``grid`` (with a margin), or ``None`` when they do not overlap."""
    left, bottom, right, top = rasterio.warp.transform_bounds(_rio_crs(grid), ds.crs, *grid.bounds, densify_pts=21)
    win = rasterio.windows.from_bounds(left, bottom, right, top, transform=ds.transform)
    m = WINDOW_MARGIN_CELLS
    col0 = max(int(np.floor(win.col_off)) - m, 0)
    row0 = max(int(np.floor(win.row_off)) - m, 0)
    col1 = min(int(np.ceil(win.col_off + win.width)) + m, ds.width)
    row1 = min(int(np.ceil(win.row_off + win.height)) + m, ds.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)


def _open_error(path: str, exc: Exception) -> WerklandInputError:
    return unreadable("raster", exc, path, "check the path and that the file is a complete GeoTIFF or other GDAL raster")


def read_raster_classes(
    path: str | os.PathLike[str],
    *,
    mapping: Mapping[int, str | None],
    legend: Legend,
    grid: Grid,
    region: shapely.Geometry | None = None,
) -> np.ndarray:
    """Read a categorical land-cover raster onto the region grid (nearest neighbour) as legend codes.

    Parameters
    ----------
    path : path-like
        Any GDAL raster with a CRS (e.g. ESA WorldCover).
    mapping : mapping
        Raster value -> legend class name (``None`` to treat as no data).
    legend : Legend
    grid : Grid
        Target grid; only the window of the raster that covers it is read.
    region : shapely geometry, optional
        The region in ``grid.crs``: only values on cells inside it must have a mapping, and it
        must hold data. ``None``: the whole grid.

    Returns
    -------
    numpy.ndarray of uint8
        Legend codes, 0 where the raster has no data or the value maps to null.

    Raises
    ------
    WerklandInputError
        Missing or unreadable file, no CRS, no overlap with the region, only nodata (or only values
        mapped to null) in the region, values without a mapping on cells in the region (with their
        cell counts).
    """
    p = str(path)
    if not os.path.exists(p):
        raise WerklandInputError("file not found", path=p, fix="check land_cover sources in the config")
    try:
        with rasterio.open(p) as ds:
            if ds.crs is None:
                raise WerklandInputError("raster has no CRS", path=p,
                                         fix="assign one, e.g. gdal_edit.py -a_srs EPSG:28992 FILE")
            window = region_window(ds, grid)
            if window is None:
                raise WerklandInputError(
                    f"does not overlap the region (raster bounds {tuple(round(v, 1) for v in ds.bounds)} in "
                    f"{ds.crs.to_string()}; region bounds {tuple(round(v, 1) for v in grid.bounds)} in "
                    f"{grid.crs.to_string()})", path=p,
                    fix="check the raster covers the parks plus context buffer (and that its CRS is right)",
                )
            arr = ds.read(1, window=window)
            src_transform = ds.window_transform(window)
            src_crs, nodata = ds.crs, ds.nodata
    except RasterioIOError as exc:
        raise _open_error(p, exc) from exc
    values, index = value_index(arr, nodata)
    on_grid = np.zeros(grid.shape, dtype=np.uint32)
    rasterio.warp.reproject(source=index, destination=on_grid, src_transform=src_transform, src_crs=src_crs,
                            dst_transform=grid.transform, dst_crs=_rio_crs(grid), src_nodata=0, dst_nodata=0,
                            resampling=Resampling.nearest)
    inside = np.ones(grid.shape, dtype=bool) if region is None else rasterio.features.geometry_mask(
        [region], out_shape=grid.shape, transform=grid.transform, invert=True)
    cells = np.bincount(on_grid[inside].ravel(), minlength=len(values) + 1)
    lut = _code_lut(values, cells, mapping, legend, p)
    out = lut[on_grid]
    if not out[inside].any():
        raise _no_data_error(p, values, cells, nodata)
    return out


def _code_lut(values: np.ndarray, cells: np.ndarray, mapping: Mapping[int, str | None], legend: Legend,
              path: str) -> np.ndarray:
    """Legend code per value index (0 = nodata); values on cells in the region must be mapped."""
    mapping = {int(k): v for k, v in mapping.items()}
    lut = np.zeros(len(values) + 1, dtype=np.uint8)
    unknown: dict[int, int] = {}
    for i, v in enumerate(values.tolist(), start=1):
        key = int(v)
        if key in mapping:
            name = mapping[key]
            lut[i] = 0 if name is None else legend.code(name, where=f"{path}: mapping")
        elif cells[i]:
            unknown[key] = int(cells[i])
    if unknown:
        listed = sorted(unknown)
        detail = ", ".join(f"value {v} on {unknown[v]} cell{'' if unknown[v] == 1 else 's'}" for v in listed[:10])
        raise WerklandInputError(
            f"raster values without a legend class: {listed[:10]} (band 1, inside the region: {detail})", path=path,
            fix="add them to the source's mapping (value: legend class, or null for no data)",
        )
    return lut


def _no_data_error(path: str, values: np.ndarray, cells: np.ndarray, nodata: float | None) -> WerklandInputError:
    present = [int(v) for v, n in zip(values.tolist(), cells[1:].tolist(), strict=True) if n]
    if present:
        return WerklandInputError(
            f"every value on the region's cells is mapped to null (values {present[:10]})", path=path,
            fix="map these values to legend classes, or use a raster with land cover in the region",
        )
    return WerklandInputError(
        f"has no data in the region: every cell there is nodata ({nodata})", path=path,
        fix="use a raster with data over the parks plus context buffer (check its nodata value)",
    )


__all__ = ["WINDOW_MARGIN_CELLS", "read_raster_classes", "region_window"]
