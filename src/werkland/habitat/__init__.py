"""Habitat suitability and movement resistance per species guild.

From the harmonised land-cover raster and the guild table (``config/guilds.yaml``):

* suitability ``s = S[class]`` (0..1), reduced to ``s * edge_factor`` within ``edge_band_m`` of the
  guild's disturbing classes (Euclidean distance between cell centres in metres, equal to the
  distance transform's; :func:`edge_band`, :mod:`~werkland.habitat.suitability`);
* resistance ``r = R[class]`` (>= 1 per metre crossed), impassable classes as ``inf`` in memory and
  as nodata (-1) in the GeoTIFF, together with the cells outside the region
  (:mod:`~werkland.habitat.resistance`).

Regions too large for one job's memory run in overlapping tiles (``habitat.tile_cells``, see
:func:`run_habitat` in :mod:`~werkland.habitat.stage` and :func:`edge_overlap_cells`) with results
equal to an untiled run.

Public API: :func:`run_habitat`, :func:`suitability`, :func:`resistance`,
:func:`resistance_as_written`, :func:`check_codes`, :func:`edge_band`, :func:`edge_overlap_cells`,
:class:`GuildStats`,
:data:`RASTER_NODATA`.
"""

from werkland.habitat.resistance import resistance, resistance_as_written
from werkland.habitat.stage import GuildStats, run_habitat
from werkland.habitat.suitability import (
    RASTER_NODATA,
    check_codes,
    edge_band,
    edge_overlap_cells,
    suitability,
)

__all__ = [
    "RASTER_NODATA",
    "GuildStats",
    "check_codes",
    "edge_band",
    "edge_overlap_cells",
    "resistance",
    "resistance_as_written",
    "run_habitat",
    "suitability",
]
