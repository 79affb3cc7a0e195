"""Raster and file I/O, metric CRS choice and raster windows shared by every stage.

Public API: :class:`Grid`, :func:`read_raster`, :func:`read_grid`, :func:`write_raster`,
:func:`raster_writer`, :func:`write_gpkg`, :func:`write_json`, :func:`write_csv`,
:func:`atomic_path`, :func:`sha256_file`, :func:`line_cells`, :func:`values_per_path`,
:func:`release_free_memory`,
:func:`choose_metric_crs`, :func:`assert_metric`, :func:`plan_windows`, :class:`RasterWindow`,
:func:`within_distance`.
"""

from werkland.raster.crs import assert_metric, choose_metric_crs
from werkland.raster.distance import within_distance
from werkland.raster.io import (
    Grid,
    atomic_path,
    line_cells,
    raster_writer,
    read_grid,
    read_raster,
    release_free_memory,
    sha256_file,
    values_per_path,
    write_csv,
    write_gpkg,
    write_json,
    write_raster,
)
from werkland.raster.windows import RasterWindow, plan_windows

__all__ = [
    "Grid",
    "RasterWindow",
    "assert_metric",
    "atomic_path",
    "choose_metric_crs",
    "line_cells",
    "plan_windows",
    "raster_writer",
    "read_grid",
    "read_raster",
    "release_free_memory",
    "sha256_file",
    "values_per_path",
    "within_distance",
    "write_csv",
    "write_gpkg",
    "write_json",
    "write_raster",
]
