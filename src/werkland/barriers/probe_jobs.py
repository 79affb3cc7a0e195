"""The barrier segments and probe groups on the connectivity side of the barrier stage.

:func:`run_barrier_probes` builds a guild's segments and probe groups once for every guild that
shares them (the ``barrier_probes`` rule); :func:`run_connectivity_with_probes` is the connectivity
stage whose link search keeps each patch's least cost over those groups (the ``connectivity`` rule),
reading them from that file or building them; :func:`probe_groups` gives the groups alone. The
barrier job (:mod:`werkland.barriers.stage`) then reads the segments, the groups and the minima kept
in the probe-minima file instead of building and searching them again.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import geopandas as gpd

from werkland._errors import WerklandInputError
from werkland.barriers.probe_store import (
    BarrierProbes,
    build_barrier_probes,
    probes_key,
    read_stored,
    to_payload,
)
from werkland.connectivity import (
    CellGroups,
    MinimaPayload,
    run_connectivity,
    write_payload,
)
from werkland.params import BarrierParams
from werkland.raster.io import Grid, read_grid

log = logging.getLogger(__name__)


def check_radii(params: BarrierParams) -> None:
    """The restoration radii must be positive (checked before anything is read)."""
    radii = list(params.radii_m)
    if not radii or any(not (r > 0) for r in radii):
        raise WerklandInputError(f"radii_m {radii} must be positive", path=f"config: barriers ({params.guild})",
                                 fix="list positive radii in metres in barriers.radii_m")


def read_landcover_polygons(landcover_gpkg: Any, crs_wkt: str) -> Any:
    """The land-cover polygons in the raster's CRS."""
    try:
        lc = gpd.read_file(landcover_gpkg, layer="landcover")
    except Exception as exc:  # noqa: BLE001 - any read failure is an input error
        raise WerklandInputError(f"cannot read layer 'landcover' ({exc})", path=str(landcover_gpkg),
                                 fix="re-run the landcover rule") from exc
    if len(lc) and lc.crs is not None and not lc.crs.equals(crs_wkt):
        lc = lc.to_crs(crs_wkt)
    return lc


def probe_groups(
    landcover_gpkg: str | os.PathLike[str], resistance_tif: str | os.PathLike[str], params: BarrierParams
) -> CellGroups:
    """The cells of the guild's barrier probe groups (windows, centre lines, footprints).

    For the connectivity stage, whose link search keeps each patch's least cost over these groups
    (``run_connectivity(probe_groups=...)``), so that :func:`run_barriers` reads them instead of
    searching every patch again. The same groups :func:`run_barriers` builds from the same files
    and parameters.

    Parameters
    ----------
    landcover_gpkg : path-like
        ``landcover.gpkg`` (layer ``landcover``, column ``class``).
    resistance_tif : path-like
        ``resistance/{guild}.tif`` (its grid only).
    params : werkland.params.BarrierParams
        The guild's barrier settings.
    """
    check_radii(params)  # before anything is read
    grid, _ = read_grid(resistance_tif)
    return guild_probes(landcover_gpkg, grid, params).probes.cell_groups()


def guild_probes(landcover_gpkg: Any, grid: Grid, params: BarrierParams) -> BarrierProbes:
    """The guild's segments and probe groups, built from the land cover on the grid."""
    return build_barrier_probes(read_landcover_polygons(landcover_gpkg, grid.crs.to_wkt()), grid, params)


def run_barrier_probes(
    landcover_gpkg: str | os.PathLike[str],
    landcover_tif: str | os.PathLike[str],
    out_probes: str | os.PathLike[str],
    *,
    params: BarrierParams,
) -> dict[str, int]:
    """Build a guild's barrier segments and probe groups once, for every guild that shares them.

    Guilds with the same barrier classes, segment length and radii
    (:func:`werkland.params.barrier_probe_owners`) have the same segments and probe groups; the
    workflow builds them once per owner guild and the connectivity job of each of those guilds reads
    them (:func:`run_connectivity_with_probes`, ``barrier_probes=``) instead of building them itself.
    The file (``graph/{guild}_barrier_probes.npz``) keeps them under their key
    (:func:`~werkland.barriers.probe_store.probes_key`), so a reader with other settings or another
    land cover or grid builds its own, with the same result.

    Parameters
    ----------
    landcover_gpkg : path-like
        ``landcover.gpkg`` (layer ``landcover``, column ``class``).
    landcover_tif : path-like
        ``landcover.tif`` (its grid only: the grid of every guild's rasters).
    out_probes : path-like
        The file written.
    params : werkland.params.BarrierParams
        The owner guild's barrier settings.

    Returns
    -------
    dict
        ``n_segments`` and ``n_groups``.
    """
    check_radii(params)  # before anything is read
    grid, _ = read_grid(landcover_tif)
    built = guild_probes(landcover_gpkg, grid, params)
    write_payload(to_payload(built, probes_key(landcover_gpkg, grid, params)), out_probes)
    log.info("%s: %d barrier segments and %d probe groups, for the connectivity jobs that share them", params.guild,
             built.segments.n, built.probes.n_groups)
    return {"n_segments": int(built.segments.n), "n_groups": int(built.probes.n_groups)}


def _shared_probes(path: Any, key: dict[str, Any]) -> tuple[BarrierProbes, MinimaPayload] | None:
    """The segments and probes of :func:`run_barrier_probes` in ``path`` with their payload, when they
    were built under ``key``; else None (logged: the caller builds them, with the same result)."""
    stored = read_stored(path, key, fix="delete it and re-run the barrier_probes rule")
    if stored is None:
        log.info("%s: built for another land cover, barrier settings or grid; building them", path)
        return None
    log.info("barrier segments and probe groups shared by the guilds: %s (%d segments)", path, stored[0].segments.n)
    return stored


def run_connectivity_with_probes(
    landcover_gpkg: str | os.PathLike[str],
    habitat_tif: str | os.PathLike[str],
    resistance_tif: str | os.PathLike[str],
    *args: Any,
    params: BarrierParams,
    out_probe_minima: str | os.PathLike[str],
    barrier_probes: str | os.PathLike[str] | None = None,
    out_distances: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The connectivity stage, its link search also keeping the barrier stage's probe minima.

    :func:`werkland.connectivity.run_connectivity` with the :func:`probe_groups` of the guild's
    barrier segments: writes every connectivity output and ``out_probe_minima``
    (``graph/{guild}_probe_minima.npz``), which :func:`run_barriers` then reads instead of
    searching every patch again. The file also keeps the segments and probe groups themselves
    (:mod:`werkland.barriers.probe_store`), so the barrier job does not build them a second time.

    Parameters
    ----------
    landcover_gpkg : path-like
        ``landcover.gpkg`` (the barrier segments).
    habitat_tif, resistance_tif, *args : path-like
        The arguments of :func:`~werkland.connectivity.run_connectivity` from its ``habitat_tif`` on.
    params : werkland.params.BarrierParams
        The guild's barrier settings (segments, radii), with its connectivity settings
        (``params.connectivity``, the stage's own).
    out_probe_minima : path-like
        The probe-minima file.
    barrier_probes : path-like, optional
        The segments and probe groups of :func:`run_barrier_probes`, read instead of built when they
        were built from this land cover, these barrier settings and this grid (otherwise built here).
    out_distances : path-like, optional
        ``graph/{guild}_distances.npz``, the all-pairs distances of the node metrics (see
        :func:`~werkland.connectivity.run_connectivity`).
    """
    check_radii(params)  # before anything is read
    grid, _ = read_grid(resistance_tif)
    key = probes_key(landcover_gpkg, grid, params)
    shared = _shared_probes(barrier_probes, key) if barrier_probes is not None else None
    if shared is not None:
        built, payload = shared
    else:
        built = guild_probes(landcover_gpkg, grid, params)
        payload = to_payload(built, key)
    return run_connectivity(habitat_tif, resistance_tif, *args, params=params.connectivity,
                            probe_groups=built.probes.cell_groups(), out_probe_minima=out_probe_minima,
                            probe_payload=payload, out_distances=out_distances)


__all__ = ["check_radii", "guild_probes", "probe_groups", "read_landcover_polygons", "run_barrier_probes",
           "run_connectivity_with_probes"]
