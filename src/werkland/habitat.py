"""Habitat suitability and movement resistance per species guild.

From the harmonised land-cover raster and the guild table (``config/guilds.yaml``):

* suitability ``s = S[class]`` (0..1), reduced to ``s * edge_factor`` within ``edge_band_m`` of the
  guild's disturbing classes (Euclidean distance transform in metres);
* resistance ``r = R[class]`` (>= 1 per metre crossed), impassable classes as ``inf`` in memory and
  as nodata (-1) in the GeoTIFF, together with the cells outside the region.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from werkland.io import Grid, read_raster, write_raster
from werkland.landcover import NODATA_CODE
from werkland.tables import Guild, Legend, load_guilds, load_legend

log = logging.getLogger(__name__)

#: Nodata of habitat and resistance GeoTIFFs (outside the region; for resistance also impassable).
RASTER_NODATA = -1.0


def check_codes(codes: np.ndarray, legend: Legend, *, where: str) -> None:
    """Raise if the raster holds codes that are not in the legend."""
    from werkland._errors import WerklandInputError

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
    if guild.edge_classes and guild.edge_band_m > 0 and guild.edge_factor < 1:
        edge_codes = [legend.code(c) for c in guild.edge_classes]
        disturbing = np.isin(codes, edge_codes)
        if disturbing.any():
            dist_m = ndimage.distance_transform_edt(~disturbing, sampling=(res_m, res_m))
            band = (dist_m <= guild.edge_band_m) & ~disturbing
            suit[band] *= np.float32(guild.edge_factor)
    suit[codes == NODATA_CODE] = RASTER_NODATA
    return suit


def resistance(codes: np.ndarray, legend: Legend, guild: Guild) -> np.ndarray:
    """Resistance per metre of each cell (>= 1), ``inf`` where impassable or outside the region.

    Returns
    -------
    numpy.ndarray of float32
    """
    lut = legend.lut(guild.resistance, guild.default_resistance, where=f"guilds.{guild.name}.resistance")
    res = lut[codes].astype(np.float32)
    res[codes == NODATA_CODE] = np.inf
    return res


def run_habitat(
    landcover_tif: str | os.PathLike[str],
    legend_path: str | os.PathLike[str],
    guilds_path: str | os.PathLike[str],
    out_habitat: Mapping[str, str | os.PathLike[str]],
    out_resistance: Mapping[str, str | os.PathLike[str]],
) -> dict[str, dict[str, float]]:
    """Workflow entry point: write ``habitat/{guild}.tif`` and ``resistance/{guild}.tif`` for each guild.

    Returns
    -------
    dict
        Per guild: habitat area (ha, suitability >= threshold), mean suitability inside the region,
        impassable share -- for the log.
    """
    legend = load_legend(legend_path)
    guilds = load_guilds(guilds_path, legend)
    codes, grid, _ = read_raster(landcover_tif)
    check_codes(codes, legend, where=str(landcover_tif))
    missing = sorted(set(out_habitat) - set(guilds))
    if missing:
        from werkland._errors import WerklandInputError

        raise WerklandInputError(f"guilds {missing} are not in {guilds_path}", path="config: guilds",
                                 fix=f"use guilds from: {', '.join(guilds)}")
    inside = codes != NODATA_CODE
    stats: dict[str, dict[str, float]] = {}
    for name in out_habitat:
        g = guilds[name]
        suit = suitability(codes, legend, g, grid.res_m)
        res = resistance(codes, legend, g)
        tags = _tags(grid, g)
        write_raster(out_habitat[name], suit, grid, nodata=RASTER_NODATA,
                     tags={**tags, "units": "habitat suitability 0..1"}, description=f"habitat suitability {name}")
        res_out = np.where(np.isfinite(res), res, np.float32(RASTER_NODATA)).astype(np.float32)
        write_raster(out_resistance[name], res_out, grid, nodata=RASTER_NODATA,
                     tags={**tags, "units": "resistance per metre (cost-weighted m per m)", "impassable": "nodata"},
                     description=f"resistance {name}")
        n_in = max(int(inside.sum()), 1)
        stats[name] = {
            "habitat_ha": float((suit >= g.suitability_threshold).sum() * grid.cell_area_m2 / 1e4),
            "mean_suitability": float(suit[inside].mean()) if inside.any() else 0.0,
            "impassable_share": float((~np.isfinite(res) & inside).sum() / n_in),
        }
        log.info("guild %s: %.2f ha habitat, impassable share %.3f", name, stats[name]["habitat_ha"],
                 stats[name]["impassable_share"])
    return stats


def _tags(grid: Grid, g: Guild) -> dict[str, object]:
    return {"crs": grid.crs.to_string(), "resolution_m": grid.res_m, "guild": g.name, "guild_params": g.params()}
