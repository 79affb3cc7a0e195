"""Reading and writing rasters, vector layers and tables -- atomically.

Every writer writes to a temporary file beside the target and renames it into place, so a crash
never leaves a half-written output that Snakemake or a user could mistake for a result.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.errors import RasterioIOError
from rasterio.features import rasterize

from werkland._errors import WerklandInputError, unreadable


@dataclass(frozen=True)
class Grid:
    """The georeferencing of a raster: shape, affine transform and CRS.

    Attributes
    ----------
    height, width : int
        Rows and columns.
    transform : affine.Affine
        Pixel-to-map transform (north-up, square pixels).
    crs : pyproj.CRS
        Projected CRS in metres.
    """

    height: int
    width: int
    transform: Affine
    crs: CRS

    @property
    def res_m(self) -> float:
        """Pixel size in metres."""
        return float(self.transform.a)

    @property
    def cell_area_m2(self) -> float:
        """Area of one pixel in m²."""
        return float(self.transform.a * -self.transform.e)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in map units."""
        xmin, ymax = self.transform.c, self.transform.f
        return (xmin, ymax + self.transform.e * self.height, xmin + self.transform.a * self.width, ymax)

    @classmethod
    def from_bounds(cls, bounds: tuple[float, float, float, float], res_m: float, crs: CRS) -> Grid:
        """Grid snapped outward to multiples of ``res_m`` that covers ``bounds``."""
        if not (np.isfinite(res_m) and res_m > 0):
            raise WerklandInputError(f"resolution {res_m!r} m is not a positive number", path="config: resolution_m")
        xmin, ymin, xmax, ymax = bounds
        xmin = np.floor(xmin / res_m) * res_m
        ymin = np.floor(ymin / res_m) * res_m
        xmax = np.ceil(xmax / res_m) * res_m
        ymax = np.ceil(ymax / res_m) * res_m
        width = max(1, int(round((xmax - xmin) / res_m)))
        height = max(1, int(round((ymax - ymin) / res_m)))
        return cls(height, width, Affine(res_m, 0.0, xmin, 0.0, -res_m, ymax), crs)

    def window_of(self, geometry_or_bounds: Any, *, margin_cells: int = 0) -> tuple[slice, slice] | None:
        """Row and column slices of the cells that a geometry's bounding box touches, clipped to the grid.

        Parameters
        ----------
        geometry_or_bounds : shapely geometry or tuple of float or None
            A geometry in the grid's CRS, or its bounds ``(xmin, ymin, xmax, ymax)``.
        margin_cells : int
            Widen the window by this many cells on every side (before clipping).

        Returns
        -------
        tuple of slice or None
            ``(rows, cols)`` for indexing an array of :attr:`shape`; None when the geometry is
            missing or empty, its bounds are not finite, or the box misses the grid.

        Examples
        --------
        >>> from pyproj import CRS
        >>> grid = Grid(10, 10, Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0), CRS.from_epsg(28992))
        >>> grid.window_of((15.0, 55.0, 42.0, 80.0))
        (slice(2, 5, None), slice(1, 5, None))
        """
        if geometry_or_bounds is None:
            return None
        if hasattr(geometry_or_bounds, "bounds"):
            if geometry_or_bounds.is_empty:
                return None
            geometry_or_bounds = geometry_or_bounds.bounds
        xmin, ymin, xmax, ymax = (float(v) for v in geometry_or_bounds)
        if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
            return None
        x0, y0, res = self.transform.c, self.transform.f, self.res_m
        c0 = max(0, int(math.floor((xmin - x0) / res)) - margin_cells)
        c1 = min(self.width, int(math.ceil((xmax - x0) / res)) + margin_cells)
        r0 = max(0, int(math.floor((y0 - ymax) / res)) - margin_cells)
        r1 = min(self.height, int(math.ceil((y0 - ymin) / res)) + margin_cells)
        if c1 <= c0 or r1 <= r0:
            return None
        return slice(r0, r1), slice(c0, c1)

    def mask_of(
        self, geometry: Any, window: tuple[slice, slice] | None = None, *, touched_if_empty: bool = False
    ) -> np.ndarray:
        """Cells whose centre lies in the geometry, on the whole grid or on a window of it.

        Parameters
        ----------
        geometry : shapely geometry or None
            In the grid's CRS.
        window : tuple of slice, optional
            ``(rows, cols)`` of a window (:meth:`window_of`); the mask then covers just that window
            and equals the full-grid mask cropped to it.
        touched_if_empty : bool
            When no cell centre lies in the geometry (a geometry smaller than a cell), take the cells
            it touches instead.

        Returns
        -------
        numpy.ndarray
            Boolean mask of :attr:`shape` or of the window's shape (all False for a missing or
            empty geometry).
        """
        if window is None:
            r0, c0, shape = 0, 0, self.shape
        else:
            rows, cols = window
            r0, c0 = rows.start, cols.start
            shape = (rows.stop - rows.start, cols.stop - cols.start)
        if geometry is None or geometry.is_empty:
            return np.zeros(shape, dtype=bool)
        transform = self.transform * Affine.translation(c0, r0)
        mask = rasterize([(geometry, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8")
        if touched_if_empty and not mask.any():
            mask = rasterize(
                [(geometry, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8", all_touched=True
            )
        return mask.astype(bool)

    def profile(self, dtype: str, nodata: float | int | None, *, compress: bool = True) -> dict[str, Any]:
        """A rasterio write profile: tiled GeoTIFF, deflate-compressed (``compress``) or not."""
        prof: dict[str, Any] = {
            "driver": "GTiff",
            "height": self.height,
            "width": self.width,
            "count": 1,
            "dtype": dtype,
            "crs": rasterio.crs.CRS.from_wkt(self.crs.to_wkt()),
            "transform": self.transform,
            "nodata": nodata,
        }
        if compress:
            prof.update(compress="deflate", predictor=3 if dtype.startswith("float") else 2)
        else:
            prof.update(compress="none")
        if self.height >= 256 and self.width >= 256:
            prof.update(tiled=True, blockxsize=256, blockysize=256)
        return prof


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success, delete on error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_raster(
    path: str | os.PathLike[str],
    array: np.ndarray,
    grid: Grid,
    *,
    nodata: float | int | None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
) -> None:
    """Write a single-band Cloud-Optimized GeoTIFF atomically, with tags recording units and provenance.

    Parameters
    ----------
    path : path-like
        Target file.
    array : numpy.ndarray
        2-D array of ``grid.shape``.
    grid : Grid
        Georeferencing.
    nodata : number or None
        Nodata value; must be representable in the array's dtype.
    tags : mapping, optional
        Dataset tags (units, CRS note, parameters); values are JSON-encoded when not strings.
    description : str, optional
        Band description.
    colormap : mapping, optional
        Value -> RGBA colour table (uint8 rasters), shown by QGIS as a paletted legend.
    """
    if array.shape != grid.shape:
        raise ValueError(f"array shape {array.shape} != grid shape {grid.shape}")
    with raster_writer(path, grid, dtype=array.dtype, nodata=nodata, tags=tags, description=description,
                       colormap=colormap) as dst:
        dst.write(array, 1)


@contextlib.contextmanager
def raster_writer(
    path: str | os.PathLike[str],
    grid: Grid,
    *,
    dtype: Any,
    nodata: float | int | None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
) -> Iterator[Any]:
    """Open a single-band GeoTIFF for writing piece by piece (windows), atomically, as a COG.

    The file has the profile, tags and band description :func:`write_raster` gives it; it is
    written beside ``path``, copied into a Cloud-Optimized GeoTIFF with overviews
    (:func:`to_cog`) and renamed onto it only when the ``with`` block ends without an
    exception (otherwise it is deleted), so a failure never leaves a half-written raster.

    Parameters
    ----------
    path : path-like
        Target file.
    grid : Grid
        Georeferencing of the whole raster.
    dtype : numpy dtype or str
        Pixel type.
    nodata, tags, description, colormap
        As for :func:`write_raster`.

    Yields
    ------
    rasterio.io.DatasetWriter
        Write band 1 with ``dst.write(block, 1, window=rasterio.windows.Window(...))``.
    """
    dt = np.dtype(dtype)
    if nodata is not None and not np.isnan(nodata):
        info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else np.finfo(dt)
        if not (info.min <= nodata <= info.max):
            raise ValueError(f"nodata {nodata} not representable in {dt.name}")
    with atomic_path(path) as tmp:
        build = tmp.with_name(tmp.name + ".build.tif")
        try:
            # the staging file is read once, by to_cog, which compresses: compressing it as well
            # deflated every tile twice (4.1 M float32 cells: 0.51 -> 0.36 s, the same COG bytes)
            with rasterio.open(build, "w", **grid.profile(dt.name, nodata, compress=False)) as dst:
                if colormap:
                    dst.write_colormap(1, dict(colormap))
                yield dst
                if tags:
                    dst.update_tags(**{k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()})
                if description:
                    dst.set_band_description(1, description)
            to_cog(build, tmp, resampling=cog_resampling(dt))
        finally:
            build.unlink(missing_ok=True)


#: Tile size of the Cloud-Optimized GeoTIFFs (and of the overviews).
COG_BLOCKSIZE = 256


def cog_resampling(dtype: Any) -> str:
    """Overview resampling of a raster: ``NEAREST`` for integer codes (classes, ids), ``AVERAGE`` for floats."""
    return "AVERAGE" if np.dtype(dtype).kind == "f" else "NEAREST"


def to_cog(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, resampling: str = "NEAREST") -> None:
    """Copy a GeoTIFF into a Cloud-Optimized GeoTIFF (GDAL's COG driver) with internal overviews.

    The pixel values, nodata, tags, band description and colour table are copied unchanged;
    the file is tiled (:data:`COG_BLOCKSIZE`), deflate-compressed with the horizontal (integers)
    or floating-point predictor, and gets overviews (``OVERVIEWS=AUTO``: halved until a level fits
    in one tile) resampled with ``resampling``. One thread, no timestamps: the same input gives
    the same bytes.

    Parameters
    ----------
    src : path-like
        A GeoTIFF readable by GDAL.
    dst : path-like
        The COG to write (overwritten; not atomic by itself, :func:`raster_writer` renames it
        into place).
    resampling : str
        GDAL overview resampling (``NEAREST``, ``AVERAGE``, ...).
    """
    rasterio.shutil.copy(
        str(src), str(dst), driver="COG", compress="DEFLATE", predictor="YES", blocksize=COG_BLOCKSIZE,
        overviews="AUTO", resampling=resampling, num_threads=1, bigtiff="IF_SAFER",
    )


@contextlib.contextmanager
def _open_raster(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open a raster for reading; a missing or unreadable file, a read error inside the block or a
    raster without CRS raise :class:`WerklandInputError` naming the file and the fix."""
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise WerklandInputError(
                    "raster has no CRS", path=str(path), fix="assign one, e.g. gdal_edit.py -a_srs EPSG:28992 FILE"
                )
            yield src
    except RasterioIOError as exc:
        raise unreadable("raster", exc, str(path), "check the path and that the file is a complete GeoTIFF or other GDAL raster") from exc


def _grid_of(src: Any) -> Grid:
    return Grid(src.height, src.width, src.transform, CRS.from_user_input(src.crs.to_wkt()))


def read_grid(path: str | os.PathLike[str]) -> tuple[Grid, Any]:
    """The grid and nodata value of a raster, without reading its pixels.

    Raises
    ------
    WerklandInputError
        If the file is missing, unreadable, or has no CRS (as :func:`read_raster`).
    """
    with _open_raster(path) as src:
        return _grid_of(src), src.nodata


def read_raster(path: str | os.PathLike[str], *, masked_value: float | None = None) -> tuple[np.ndarray, Grid, Any]:
    """Read band 1 of a raster with its grid and nodata value.

    Parameters
    ----------
    path : path-like
        Raster file.
    masked_value : float, optional
        If given, nodata cells are replaced by this value (float arrays only).

    Returns
    -------
    array : numpy.ndarray
    grid : Grid
    nodata : number or None

    Raises
    ------
    WerklandInputError
        If the file is missing, unreadable, or has no CRS.
    """
    with _open_raster(path) as src:
        arr = src.read(1)
        grid = _grid_of(src)
        nodata = src.nodata
    if masked_value is not None and nodata is not None:
        arr = arr.astype(np.float32, copy=False)
        if np.isnan(nodata):
            arr[np.isnan(arr)] = masked_value
        else:
            arr[arr == nodata] = masked_value
    return arr, grid, nodata


def value_index(arr: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct data values of a categorical raster and each cell's index into them.

    Parameters
    ----------
    arr : numpy.ndarray
        Raster values.
    nodata : number or None
        The nodata value (NaN allowed); ``None``: every cell holds data.

    Returns
    -------
    values : numpy.ndarray
        Sorted distinct values of the data cells.
    index : numpy.ndarray of uint32
        Shape of ``arr``: 1 + index into ``values``, 0 = nodata.
    """
    valid = np.ones(arr.shape, dtype=bool)
    if nodata is not None:
        valid = ~np.isnan(arr) if np.isnan(nodata) else arr != nodata
    values, inverse = np.unique(arr[valid], return_inverse=True)
    index = np.zeros(arr.shape, dtype=np.uint32)
    index[valid] = inverse.astype(np.uint32) + 1
    return values, index


def fix_gpkg_date() -> None:
    """GeoPackages record a ``gpkg_contents.last_change`` date: fix it (``SOURCE_DATE_EPOCH``, else
    1970-01-01) so that writing the same layers twice gives the same bytes."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))})


def write_gpkg(gdf: Any, path: str | os.PathLike[str], layer: str, *, mode: str = "w") -> None:
    """Write a GeoDataFrame layer to a GeoPackage atomically (pyogrio engine).

    ``mode="w"`` replaces the whole file; ``mode="a"`` adds a layer to an existing file (written in
    a copy that is renamed into place). The ``gpkg_contents.last_change`` date is fixed
    (``SOURCE_DATE_EPOCH``, else 1970-01-01), so writing the same layer twice gives the same bytes.
    """
    fix_gpkg_date()
    target = Path(path)
    with atomic_path(target) as tmp:
        if mode == "a" and target.exists():
            shutil.copyfile(target, tmp)
        gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", append=False)


def write_gpkg_layers(layers: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write several GeoDataFrames as the layers of one new GeoPackage, atomically, in the given order
    (same fixed ``last_change`` date as :func:`write_gpkg`)."""
    fix_gpkg_date()
    with atomic_path(path) as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", append=False)


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically, sorted keys, 2-space indent, NaN forbidden."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_csv(df: Any, path: str | os.PathLike[str]) -> None:
    """Write a pandas DataFrame as CSV atomically (no index, '.6g'-free full precision)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


#: Lines (paths) per chunk of :func:`line_cells` and :func:`values_per_path` (their results do not
#: depend on it).
LINE_CELLS_CHUNK = 8192


def values_per_path(values_flat: np.ndarray, paths: Sequence[np.ndarray]) -> list[tuple[int, np.ndarray]]:
    """The positive values each path of flat cells crosses, for all paths at once.

    Parameters
    ----------
    values_flat : numpy.ndarray
        Flat integer raster (e.g. park index: 0 = none).
    paths : sequence of numpy.ndarray
        Flat cell indices of each path.

    Returns
    -------
    list of (int, numpy.ndarray)
        ``(path index, ascending int64 values > 0 on its cells)`` of the paths that cross a positive
        value, in path order: per path what ``np.unique`` of its values, without 0, gives.
    """
    out: list[tuple[int, np.ndarray]] = []
    # in chunks of paths: the keys are several 8-byte values per path cell (tens of millions of
    # cells for a long-reach guild's links at 16 M cells); each chunk's paths come out in order
    for s in range(0, len(paths), LINE_CELLS_CHUNK):
        part = paths[s:s + LINE_CELLS_CHUNK]
        lens = np.fromiter((p.size for p in part), np.int64, len(part))
        if not lens.sum():
            continue
        v = values_flat[np.concatenate(part)].astype(np.int64)
        base = int(v.max()) + 1
        inside = v > 0
        key = np.unique(np.repeat(np.arange(s, s + len(part), dtype=np.int64), lens)[inside] * base + v[inside])
        del v, inside
        if key.size:
            groups = np.split(key, np.flatnonzero(np.diff(key // base)) + 1)  # sorted by path, then value
            out.extend((int(g[0] // base), g % base) for g in groups)
    return out


def line_cells(geoms: Any, shape: tuple[int, int], transform: Affine) -> list[np.ndarray]:
    """Flat raster cells under the vertices of each line (least-cost paths written as vertex chains).

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Lines in the raster's CRS; None and empty geometries give no cells.
    shape : tuple of int
        Raster (rows, columns).
    transform : affine.Affine
        North-up pixel-to-map transform of the raster.

    Returns
    -------
    list of numpy.ndarray
        Per geometry, the int64 flat indices ``row * width + col`` of its vertices inside the raster,
        in vertex order.
    """
    arr = np.asarray(geoms, dtype=object)
    H, W = shape
    out: list[np.ndarray] = []
    # in chunks of lines: the vertices' coordinates and indices are six 8-byte values per vertex
    # (3 GB at once for the 60 M vertices of a long-reach guild's links at 16 M cells)
    for s in range(0, arr.size, LINE_CELLS_CHUNK):
        part = arr[s:s + LINE_CELLS_CHUNK]
        xy, owner = shapely.get_coordinates(part, return_index=True)
        col = np.floor((xy[:, 0] - transform.c) / transform.a).astype(np.int64)
        row = np.floor((xy[:, 1] - transform.f) / transform.e).astype(np.int64)
        del xy
        ok = (row >= 0) & (row < H) & (col >= 0) & (col < W)
        cells = row[ok] * W + col[ok]
        ends = np.cumsum(np.bincount(owner[ok], minlength=part.size))
        out.extend(np.split(cells, ends[:-1]))
    return out


def release_free_memory() -> bool:
    """Give the heap memory freed so far back to the operating system (glibc ``malloc_trim``).

    Reading a large vector layer (hundreds of thousands of geometries) leaves its freed memory in the
    process's heap, counted in its resident size until the process ends; stages call this after such
    a read, before their large numeric arrays are made. A no-op where glibc is absent.

    Returns
    -------
    bool
        Whether memory was released.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
