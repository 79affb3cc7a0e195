"""The land-cover stage: harmonise a region's sources and write region.gpkg, landcover.gpkg, landcover.tif."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from werkland.landcover.overlay import NODATA_CODE, legend_colormap
from werkland.landcover.region import RegionLandcover, build_region
from werkland.params.landcover import LandcoverParams
from werkland.raster.io import write_gpkg_layers, write_raster
from werkland.tables import Legend, load_legend

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "(c) OpenStreetMap contributors, ODbL 1.0"
#: Count key suffixes and how the log describes them.
_COUNT_WORDS = (
    ("_repaired", "invalid polygons repaired (make_valid)"),
    ("_dropped_non_polygonal", "dropped: no polygonal part (after repair)"),
    ("_dropped_unrepairable", "dropped: geometry unreadable"),
)


def log_counts(counts: Mapping[str, int]) -> None:
    """Log what was read, repaired and dropped: one line per repair / drop count, then all counts."""
    for key, n in counts.items():
        for suffix, words in _COUNT_WORDS:
            if key.endswith(suffix) and n:
                log.info("%s: %d %s", key[: -len(suffix)], n, words)
    if counts.get("osm_trams_street_running"):
        log.info("osm: %d tram lines run in the street (%d m): part of the street, not railway",
                 counts["osm_trams_street_running"], counts.get("osm_tram_street_running_m", 0))
    log.info("land-cover counts: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))


def _tags(res: RegionLandcover, legend: Legend, params: LandcoverParams) -> dict[str, object]:
    return {"units": "legend code (config/landcover_classes.yaml)", "crs": res.crs.to_string(),
            "resolution_m": res.grid.res_m, "legend": {c.code: c.name for c in legend.classes},
            "attribution": OSM_ATTRIBUTION if any(s.type == "osm" for s in params.sources) else ""}


def _write_outputs(res: RegionLandcover, legend: Legend, params: LandcoverParams,
                   out_region_gpkg: str | os.PathLike[str], out_landcover_gpkg: str | os.PathLike[str],
                   out_landcover_tif: str | os.PathLike[str]) -> None:
    write_gpkg_layers({"region": res.region, "parks": res.parks[["park_id", "name", "area_m2", "geometry"]]},
                      out_region_gpkg)
    write_gpkg_layers({"landcover": res.landcover, "lines": res.lines}, out_landcover_gpkg)
    write_raster(out_landcover_tif, res.codes, res.grid, nodata=NODATA_CODE, tags=_tags(res, legend, params),
                 description="land-cover class code", colormap=legend_colormap(legend))


def run_landcover(
    params: LandcoverParams,
    legend_path: str | os.PathLike[str],
    out_region_gpkg: str | os.PathLike[str],
    out_landcover_gpkg: str | os.PathLike[str],
    out_landcover_tif: str | os.PathLike[str],
) -> dict[str, int]:
    """Workflow entry point: harmonise a region's land cover and write the three outputs.

    Writes ``region.gpkg`` (layers ``region`` and ``parks``), ``landcover.gpkg`` (layers
    ``landcover`` and ``lines``) and ``landcover.tif``. Nothing is written when an input is bad.

    Parameters
    ----------
    params : LandcoverParams
        The region's land-cover settings (:meth:`LandcoverParams.from_region`).
    legend_path : path-like
        The land-cover legend (``config/landcover_classes.yaml``).
    out_region_gpkg, out_landcover_gpkg, out_landcover_tif : path-like
        The outputs.

    Returns
    -------
    dict
        Counts of what was read, repaired and dropped (also logged).
    """
    legend = load_legend(legend_path)
    res = build_region(params, legend)
    log_counts(res.counts)
    _write_outputs(res, legend, params, out_region_gpkg, out_landcover_gpkg, out_landcover_tif)
    return res.counts


__all__ = ["OSM_ATTRIBUTION", "log_counts", "run_landcover"]
