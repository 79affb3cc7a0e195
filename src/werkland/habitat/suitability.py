"""Habitat suitability of each cell for a guild, with the edge effect of disturbing classes."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from werkland._errors import WerklandInputError
from werkland.landcover import NODATA_CODE
from werkland.raster.distance import within_distance
from werkland.tables import Guild, Legend

#: Nodata of habitat and resistance GeoTIFFs (outside the region; for resistance also impassable).
RASTER_NODATA = -1.0


def check_codes(codes: np.ndarray, legend: Legend, *, where: str) -> None:
    """Raise if the raster holds codes that are not in the legend."""
    present = np.unique(codes)
    known = {c.code for c in legend.classes} | {NODATA_CODE}
    unknown = sorted(int(v) for v in present if int(v) not in known)
    if unknown:
        raise WerklandInputError(
            f"land-cover codes {unknown} are not in the legend {legend.path}", path=where,
            fix="rebuild landcover.tif with the current legend or add the codes to the legend",
        )


def suitability(codes: np.ndarray, legend: Legend, guild: Guild, res_m: float) -> np.ndarray:
    """Habitat suitability 0..1 of each cell, with the edge effect applied.

    Parameters
    ----------
    codes : numpy.ndarray of uint8
        Land-cover codes (0 = outside the region).
    legend : Legend
    guild : Guild
    res_m : float
        Cell size in metres (for the edge band distance).

    Returns
    -------
    numpy.ndarray of float32
        Suitability, ``-1`` outside the region.

    Examples
    --------
    Cells next to a main road lose suitability inside the guild's edge band.
    """
    lut = legend.lut(guild.suitability, 0.0, where=f"guilds.{guild.name}.suitability")
    suit = lut[codes].astype(np.float32)
    band = edge_band(codes, legend, guild, res_m)
    if band is not None:
        suit[band] *= np.float32(guild.edge_factor)
    suit[codes == NODATA_CODE] = RASTER_NODATA
    return suit


def edge_band(codes: np.ndarray, legend: Legend, guild: Guild, res_m: float) -> np.ndarray | None:
    """The cells of a guild's edge band: within ``edge_band_m`` of a disturbing class, not in one.

    Parameters
    ----------
    codes : numpy.ndarray of uint8
        Land-cover codes.
    legend : Legend
    guild : Guild
        Its ``edge_classes`` (the disturbing classes), ``edge_band_m`` and ``edge_factor``.
    res_m : float
        Cell size in metres.

    Returns
    -------
    numpy.ndarray of bool or None
        None when the guild has no edge effect (no edge classes, a zero band, a factor of 1) or
        no disturbing cell lies in ``codes``.
    """
    if not (guild.edge_classes and guild.edge_band_m > 0 and guild.edge_factor < 1):
        return None
    disturbing = np.isin(codes, [legend.code(c) for c in guild.edge_classes])
    if not disturbing.any():
        return None
    band = within_distance(disturbing, guild.edge_band_m, res_m)
    band &= ~disturbing
    return band


def edge_overlap_cells(guilds: Iterable[Guild], res_m: float) -> int:
    """Overlap (cells) of the habitat tiles: ``ceil(max edge_band_m / res_m) + 1``.

    The only non-local step of the stage is the edge effect: a cell is in a guild's edge band when
    a disturbing cell lies within ``edge_band_m`` (Euclidean distance between cell centres, exact
    distance transform). Such a cell is at most ``ceil(edge_band_m / res_m)`` rows and columns
    away, so a window that extends that far beyond the core holds it whenever it matters: the
    nearest disturbing cell within the band is in the window (same distance as on the full raster),
    and a core cell with none within the band on the full raster has none in the window either.
    Every core cell's suitability on the window therefore equals its full-raster value; resistance
    is per cell. The ``+ 1`` is a safety margin.

    Parameters
    ----------
    guilds : iterable of Guild
        The guilds computed on the tiles.
    res_m : float
        Cell size in metres.

    Returns
    -------
    int
        Cells added on every side of a core tile.
    """
    if not res_m > 0:
        raise ValueError("resolution must be positive")
    band = max((float(g.edge_band_m) for g in guilds), default=0.0)
    return int(math.ceil(band / res_m)) + 1


__all__ = ["RASTER_NODATA", "check_codes", "edge_band", "edge_overlap_cells", "suitability"]
