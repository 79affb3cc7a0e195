"""Land-cover harmonisation: OpenStreetMap PBF, BGT, vector layers and rasters into one legend.

The readers turn each source into features with a legend ``class``, a ``source`` (``osm``,
``bgt``, ``vector`` or ``raster``) and the ``source_file`` name; the harmoniser resolves overlaps
by the legend's priority (higher wins), clips to the region, writes a polygon layer and a uint8
class raster on the region grid. Sources are read only around the region (spatial filters, raster
windows), so national files serve many regions.

Modules: :mod:`~werkland.landcover.osm` (OSM PBF), :mod:`~werkland.landcover.bgt` (BGT and other
mapped multi-layer sources), :mod:`~werkland.landcover.mapping` (their mapping files), :mod:`~werkland.landcover.vector`, :mod:`~werkland.landcover.raster_source`,
:mod:`~werkland.landcover.parks`, :mod:`~werkland.landcover.overlay`, :mod:`~werkland.landcover.region`,
:mod:`~werkland.landcover.stage` (:func:`run_landcover`), :mod:`~werkland.landcover.demo`.

Public API: :func:`run_landcover`, :func:`build_region`, :class:`RegionLandcover`, the readers
(:func:`read_osm_pbf`, :func:`read_bgt`, :func:`read_mapped_layers` with :func:`load_mapping`,
:class:`MappingSpec`, :class:`ReadLog`, :func:`read_vector_classes`,
:func:`read_raster_classes`, :func:`read_parks_file`, :func:`derive_parks`), the OSM classifiers,
:func:`resolve_overlaps`, :func:`rasterize_landcover`, :func:`legend_colormap`, :data:`NODATA_CODE`,
the demo extract (:func:`demo_pbf_path`, :func:`copy_demo_pbf`).
"""

from werkland.landcover.bgt import read_bgt, read_mapped_layers
from werkland.landcover.demo import DEMO_ATTRIBUTION, copy_demo_pbf, demo_pbf_path
from werkland.landcover.mapping import MappingSpec, ReadLog, load_mapping
from werkland.landcover.osm import (
    TREE_CROWN_DIAMETER_M,
    classify_osm_lines,
    classify_osm_polygons,
    read_osm_pbf,
    remove_street_running_trams,
)
from werkland.landcover.overlay import (
    NODATA_CODE,
    legend_colormap,
    rasterize_landcover,
    resolve_overlaps,
)
from werkland.landcover.parks import derive_parks, read_parks_file
from werkland.landcover.raster_source import read_raster_classes
from werkland.landcover.region import RegionLandcover, build_region, source_lonlat_bounds
from werkland.landcover.stage import run_landcover
from werkland.landcover.vector import read_vector_classes

__all__ = [
    "DEMO_ATTRIBUTION",
    "NODATA_CODE",
    "MappingSpec",
    "ReadLog",
    "TREE_CROWN_DIAMETER_M",
    "RegionLandcover",
    "build_region",
    "classify_osm_lines",
    "classify_osm_polygons",
    "copy_demo_pbf",
    "demo_pbf_path",
    "derive_parks",
    "legend_colormap",
    "load_mapping",
    "rasterize_landcover",
    "read_bgt",
    "read_mapped_layers",
    "read_osm_pbf",
    "read_parks_file",
    "read_raster_classes",
    "read_vector_classes",
    "remove_street_running_trams",
    "resolve_overlaps",
    "run_landcover",
    "source_lonlat_bounds",
]
