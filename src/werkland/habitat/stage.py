"""The habitat stage: ``habitat/{guild}.tif`` and ``resistance/{guild}.tif`` from ``landcover.tif``.

Regions too large for one job's memory run in overlapping tiles (``habitat.tile_cells``, see
:func:`run_habitat` and :func:`~werkland.habitat.suitability.edge_overlap_cells`) with results equal
to an untiled run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Mapping

import numpy as np
import rasterio
from rasterio.windows import Window

from werkland._errors import WerklandInputError
from werkland.habitat.resistance import resistance, resistance_as_written
from werkland.habitat.suitability import RASTER_NODATA, check_codes, edge_overlap_cells, suitability
from werkland.landcover import NODATA_CODE
from werkland.params.landscape import HabitatParams
from werkland.raster.io import Grid, raster_writer, read_grid, read_raster, write_raster
from werkland.raster.windows import plan_windows
from werkland.tables import Guild, Legend, load_guilds, load_legend

log = logging.getLogger(__name__)

Outputs = Mapping[str, str | os.PathLike[str]]


class GuildStats:
    """Per-guild statistics accumulated over any partition of the raster with identical results.

    Counts are integers. Suitability takes few distinct values (class value x edge factor), so the
    sum is kept as a count per value and added up once from the totals (each ``value x count`` is
    exact in float64 for counts below 2**29, and :func:`math.fsum` rounds the total once): the mean
    does not depend on the tiles.
    """

    def __init__(self) -> None:
        self.n_inside = 0
        self.n_habitat = 0
        self.n_impassable = 0
        self.suit_counts: Counter[float] = Counter()

    def add(self, suit: np.ndarray, res: np.ndarray, inside: np.ndarray, threshold: float) -> None:
        """Add the cells of one block (suitability, resistance with ``inf``, inside-region mask)."""
        self.n_inside += int(np.count_nonzero(inside))
        self.n_habitat += int(np.count_nonzero(suit >= threshold))
        self.n_impassable += int(np.count_nonzero(~np.isfinite(res) & inside))
        values, counts = np.unique(suit[inside], return_counts=True)
        self.suit_counts.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    def result(self, cell_area_m2: float) -> dict[str, float]:
        """habitat_ha, mean_suitability (inside the region) and impassable_share."""
        n_in = max(self.n_inside, 1)
        total = math.fsum(v * c for v, c in self.suit_counts.items())
        return {
            "habitat_ha": float(self.n_habitat * cell_area_m2 / 1e4),
            "mean_suitability": total / self.n_inside if self.n_inside else 0.0,
            "impassable_share": float(self.n_impassable / n_in),
        }


def _check_guilds(out_habitat: Mapping[str, object], guilds: Mapping[str, Guild],
                  guilds_path: str | os.PathLike[str]) -> None:
    missing = sorted(set(out_habitat) - set(guilds))
    if missing:
        raise WerklandInputError(f"guilds {missing} are not in {guilds_path}", path="config: guilds",
                                 fix=f"use guilds from: {', '.join(guilds)}")


def _tags(grid: Grid, g: Guild) -> dict[str, object]:
    return {"crs": grid.crs.to_string(), "resolution_m": grid.res_m, "guild": g.name, "guild_params": g.params()}


def _habitat_meta(grid: Grid, g: Guild) -> tuple[dict[str, object], str]:
    """Tags and band description of ``habitat/{guild}.tif``."""
    return {**_tags(grid, g), "units": "habitat suitability 0..1"}, f"habitat suitability {g.name}"


def _resistance_meta(grid: Grid, g: Guild) -> tuple[dict[str, object], str]:
    """Tags and band description of ``resistance/{guild}.tif``."""
    tags = {**_tags(grid, g), "units": "resistance per metre (cost-weighted m per m)", "impassable": "nodata"}
    return tags, f"resistance {g.name}"


def _log_stats(name: str, stats: Mapping[str, float]) -> None:
    log.info("guild %s: %.2f ha habitat, impassable share %.3f", name, stats["habitat_ha"], stats["impassable_share"])


def _run_habitat_whole(landcover_tif: str | os.PathLike[str], legend: Legend, guilds: Mapping[str, Guild],
                       guilds_path: str | os.PathLike[str], out_habitat: Outputs,
                       out_resistance: Outputs) -> dict[str, dict[str, float]]:
    """The whole raster at once: read, check, compute and write every guild."""
    codes, grid, _ = read_raster(landcover_tif)
    check_codes(codes, legend, where=str(landcover_tif))
    _check_guilds(out_habitat, guilds, guilds_path)
    inside = codes != NODATA_CODE
    stats: dict[str, dict[str, float]] = {}
    for name in out_habitat:
        g = guilds[name]
        suit = suitability(codes, legend, g, grid.res_m)
        res = resistance(codes, legend, g)
        tags, desc = _habitat_meta(grid, g)
        write_raster(out_habitat[name], suit, grid, nodata=RASTER_NODATA, tags=tags, description=desc)
        tags, desc = _resistance_meta(grid, g)
        write_raster(out_resistance[name], resistance_as_written(res), grid, nodata=RASTER_NODATA, tags=tags,
                     description=desc)
        acc = GuildStats()
        acc.add(suit, res, inside, g.suitability_threshold)
        stats[name] = acc.result(grid.cell_area_m2)
        _log_stats(name, stats[name])
    return stats


def _run_habitat_tiled(
    landcover_tif: str | os.PathLike[str],
    legend: Legend,
    guilds: Mapping[str, Guild],
    guilds_path: str | os.PathLike[str],
    out_habitat: Outputs,
    out_resistance: Outputs,
    grid: Grid,
    tile_cells: int,
    *,
    overlap: int | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`run_habitat` over overlapping windows of ``landcover.tif``; the same files and statistics.

    The raster is split into core tiles (:func:`werkland.raster.windows.plan_windows`); for each, only its
    window (the core grown by :func:`edge_overlap_cells`, clipped to the raster) is read,
    :func:`check_codes` is applied to it, suitability and resistance are computed on it for every
    guild, and the core is written into the output GeoTIFFs, opened once for writing with the
    profile, nodata, tags and band description of :func:`werkland.raster.io.write_raster` and renamed into
    place only when every tile is written (:func:`werkland.raster.io.raster_writer`). The statistics are
    accumulated over the cores with integer counts and an exact sum (:class:`GuildStats`), so they
    equal an untiled run's exactly.

    ``overlap`` overrides the overlap (tests only: a too small one changes the result).
    """
    _check_guilds(out_habitat, guilds, guilds_path)
    names = list(out_habitat)
    if overlap is None:
        overlap = edge_overlap_cells([guilds[n] for n in names], grid.res_m)
    windows = plan_windows(grid.shape, tile_cells, overlap)
    acc = {n: GuildStats() for n in names}
    t0 = time.perf_counter()
    largest = 0
    with contextlib.ExitStack() as outputs, rasterio.open(landcover_tif) as src:
        hab_dst, res_dst = {}, {}
        for n in names:
            tags, desc = _habitat_meta(grid, guilds[n])
            hab_dst[n] = outputs.enter_context(raster_writer(out_habitat[n], grid, dtype=np.float32,
                                                             nodata=RASTER_NODATA, tags=tags, description=desc))
            tags, desc = _resistance_meta(grid, guilds[n])
            res_dst[n] = outputs.enter_context(raster_writer(out_resistance[n], grid, dtype=np.float32,
                                                             nodata=RASTER_NODATA, tags=tags, description=desc))
        for k, w in enumerate(windows, start=1):
            codes = src.read(1, window=Window.from_slices(*w.window))
            check_codes(codes, legend, where=str(landcover_tif))
            core_codes = codes[w.core_in_window]
            inside = core_codes != NODATA_CODE
            out_window = Window.from_slices(*w.core)
            largest = max(largest, codes.size)
            for n in names:
                g = guilds[n]
                suit = np.ascontiguousarray(suitability(codes, legend, g, grid.res_m)[w.core_in_window])
                res = resistance(core_codes, legend, g)
                hab_dst[n].write(suit, 1, window=out_window)
                res_dst[n].write(resistance_as_written(res), 1, window=out_window)
                acc[n].add(suit, res, inside, g.suitability_threshold)
            log.debug("habitat tiles: %d/%d done (%.1f s)", k, len(windows), time.perf_counter() - t0)
    log.info("habitat tiles: %d tiles of %d cells, overlap %d cells, largest window %d cells (raster %d), %.1f s",
             len(windows), tile_cells, overlap, largest, grid.height * grid.width, time.perf_counter() - t0)
    stats: dict[str, dict[str, float]] = {}
    for n in names:
        stats[n] = acc[n].result(grid.cell_area_m2)
        _log_stats(n, stats[n])
    return stats


def run_habitat(
    landcover_tif: str | os.PathLike[str],
    legend_path: str | os.PathLike[str],
    guilds_path: str | os.PathLike[str],
    out_habitat: Outputs,
    out_resistance: Outputs,
    *,
    params: HabitatParams,
) -> dict[str, dict[str, float]]:
    """Workflow entry point: write ``habitat/{guild}.tif`` and ``resistance/{guild}.tif`` for each guild.

    Parameters
    ----------
    landcover_tif : path-like
        Land-cover codes (``landcover.tif``).
    legend_path, guilds_path : path-like
        Legend and guild tables.
    out_habitat, out_resistance : mapping
        Guild -> output GeoTIFF.
    params : HabitatParams
        ``tile_cells`` 0: read the whole raster at once. ``0 < tile_cells < max(rows, columns)``:
        process the raster in core tiles of this many cells a side, each computed on a window grown
        by :func:`edge_overlap_cells` and read from ``landcover.tif`` alone, so memory spans one
        window; the rasters and statistics equal an untiled run's (see :func:`_run_habitat_tiled`).

    Returns
    -------
    dict
        Per guild: habitat area (ha, suitability >= threshold), mean suitability inside the region,
        impassable share -- for the log.
    """
    legend = load_legend(legend_path)
    guilds = load_guilds(guilds_path, legend)
    if params.tile_cells > 0:
        grid, _ = read_grid(landcover_tif)
        if params.tile_cells < max(grid.shape):
            return _run_habitat_tiled(landcover_tif, legend, guilds, guilds_path, out_habitat, out_resistance,
                                      grid, int(params.tile_cells))
    return _run_habitat_whole(landcover_tif, legend, guilds, guilds_path, out_habitat, out_resistance)


__all__ = ["GuildStats", "run_habitat"]
