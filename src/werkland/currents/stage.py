"""The currents stage for one region and guild: :func:`run_currents`.

Steps
-----
1. Read the guild's resistance, patches, links and habitat suitability.
2. Pairwise effective resistance between all patches, each patch short-circuited into one node,
   one solve per patch (:func:`~werkland.currents.pairwise.pairwise_resistance`); pairs in different
   components are *not connected* (``r_eff`` empty, ``connected`` False).
3. Cumulative current: node currents of the 1 A pair solves of every link, summed.
4. Pinch points: 1 A per link inside its least-cost corridor (:mod:`~werkland.currents.pinch`).
5. Omniscape: moving-window current with habitat suitability as source strength, its flow potential
   and the normalised current (:mod:`~werkland.currents.omniscape`).
6. The links with their effective resistance: ``currents/{guild}_links.gpkg`` layer ``links`` =
   every column (and the geometry) of ``graph/{guild}_links.gpkg`` plus ``r_eff`` and
   ``cwd_to_r_eff`` (:func:`~werkland.currents.downstream.links_with_r_eff`). The connectivity
   links file itself is left unchanged.

Units: conductance = 1 / resistance per cell; the cell size does not enter the circuit, so
effective resistances are in the resistance raster's unit per cell and currents in A for a 1 A
injection. Current rasters are float32 with nodata -1 (cells off the circuit). A guild with no
passable cell, or fewer than two patches, gets explained empty outputs (a header-only table, maps of
nodata or 0, the reason in the GeoTIFF tag ``note`` and the log); the Omniscape maps do not need
patches and are still computed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from werkland._errors import unreadable
from werkland.currents.downstream import links_with_r_eff
from werkland.currents.graph import conductance_from_resistance, grid_graph
from werkland.currents.omniscape import OmniscapeSettings, omniscape
from werkland.currents.pairwise import PairwiseSolution, cumulative_current, pairwise_resistance
from werkland.currents.pinch import pinch_points
from werkland.currents.solver import SolverSettings
from werkland.layout import RegionPaths
from werkland.params import CurrentsParams
from werkland.raster.io import Grid, read_raster, write_csv, write_gpkg, write_raster

log = logging.getLogger(__name__)

__all__ = ["CurrentsFiles", "run_currents"]

#: Nodata of the current rasters.
NODATA = -1.0
#: Potentials of all patches are kept in memory up to this size; beyond, each link is solved again.
_POTENTIAL_BUDGET_BYTES = 1.5e9


@dataclass(frozen=True)
class CurrentsFiles:
    """Inputs and outputs of one guild's currents job (``source``: optional Omniscape source raster,
    default the habitat suitability; ``current_links``: the links with ``r_eff`` and
    ``cwd_to_r_eff``, not written when None)."""

    resistance: Path
    patches: Path
    links: Path
    habitat: Path
    resistance_csv: Path
    current: Path
    pinchpoints: Path
    omni_current: Path
    flow_potential: Path
    normalized: Path
    source: Path | None = None
    current_links: Path | None = None

    @classmethod
    def of(cls, paths: RegionPaths, guild: str) -> CurrentsFiles:
        """The files of ``guild`` in a region's results (:class:`werkland.layout.RegionPaths`)."""
        return cls(paths.resistance(guild), paths.patches_tif(guild), paths.links(guild), paths.habitat(guild),
                   paths.current_resistance(guild), paths.current(guild), paths.pinchpoints(guild),
                   paths.omni_current(guild), paths.flow_potential(guild), paths.normalized_current(guild),
                   current_links=paths.current_links(guild))


@dataclass
class _Inputs:
    res: np.ndarray  # float64, inf = impassable
    cond: np.ndarray  # conductance per cell, 0 = no node
    patches: np.ndarray
    habitat: np.ndarray
    links: pd.DataFrame
    grid: Grid
    links_layer: gpd.GeoDataFrame


def _read_inputs(f: CurrentsFiles) -> _Inputs:
    arr, grid, nodata = read_raster(f.resistance)
    res = arr.astype(np.float64)
    bad = ~np.isfinite(res) | (res <= 0)
    if nodata is not None and np.isfinite(nodata):
        bad |= arr == nodata
    res[bad] = np.inf
    patches, _, _ = read_raster(f.patches)
    hab, _, hnd = read_raster(f.habitat)
    hab = hab.astype(np.float64)
    if hnd is not None:
        hab[hab == hnd] = 0.0
    hab[~np.isfinite(hab) | (hab < 0)] = 0.0
    layer = gpd.read_file(f.links, layer="links")
    links = pd.DataFrame(layer.drop(columns="geometry", errors="ignore"))
    cond = conductance_from_resistance(res)
    return _Inputs(res, cond, np.asarray(patches, dtype=np.int64), hab, links, grid, layer)


def _patch_ids(inp: _Inputs) -> np.ndarray:
    on = (inp.patches > 0) & (inp.cond > 0)
    return np.unique(inp.patches[on])


def _pairwise(inp: _Inputs, ids: np.ndarray, p: CurrentsParams, solver: SolverSettings) -> tuple:
    regions = np.where(inp.cond > 0, inp.patches, 0)
    graph = grid_graph(inp.cond, regions=regions, four_neighbors=p.connect_four_neighbors,
                       avg_resistance=not p.avg_conductance)
    assert graph.nodemap is not None
    flat = regions.ravel()
    first = {int(i): int(np.flatnonzero(flat == i)[0]) for i in ids}
    focal = np.array([graph.nodemap.ravel()[first[int(i)]] for i in ids], dtype=np.int64)
    keep = graph.n_nodes * max(len(ids) - 1, 0) * 8 <= _POTENTIAL_BUDGET_BYTES
    sol = pairwise_resistance(graph, focal, settings=solver, label=f"guild {p.guild}", keep_potentials=keep,
                              keep_solvers=not keep)
    return graph, sol


def _resistance_table(ids: np.ndarray, sol: PairwiseSolution | None) -> pd.DataFrame:
    rows = []
    if sol is not None:
        for i in range(ids.size):
            for j in range(i + 1, ids.size):
                ok = bool(sol.connected[i, j])
                rows.append((int(ids[i]), int(ids[j]), float(sol.r_eff[i, j]) if ok else np.nan, ok))
    return pd.DataFrame(rows, columns=["from_id", "to_id", "r_eff", "connected"]).astype(
        {"from_id": "int64", "to_id": "int64", "r_eff": "float64", "connected": bool})


def _link_pairs(links: pd.DataFrame, ids: np.ndarray) -> list[tuple[int, int]]:
    pos = {int(v): k for k, v in enumerate(ids)}
    out = []
    for a, b in zip(links.get("from_id", []), links.get("to_id", []), strict=True):
        if int(a) in pos and int(b) in pos and a != b:
            out.append((pos[int(a)], pos[int(b)]))
    return out


def _read_source(path: Path, grid: Grid) -> np.ndarray:
    """A source-strength raster read onto the region's grid (bilinear; nodata and negatives = 0)."""
    from rasterio.warp import Resampling, reproject

    out = np.full(grid.shape, np.nan, dtype=np.float32)
    try:
        with rasterio.open(path) as src:
            reproject(rasterio.band(src, 1), out, dst_transform=grid.transform,
                      dst_crs=rasterio.crs.CRS.from_wkt(grid.crs.to_wkt()), dst_nodata=np.nan,
                      resampling=Resampling.bilinear)
    except rasterio.errors.RasterioIOError as exc:
        raise unreadable("source raster", exc, str(path), "set currents.source_raster to a GeoTIFF") from exc
    out = out.astype(np.float64)
    out[~np.isfinite(out) | (out < 0)] = 0.0
    return out


def _omniscape(inp: _Inputs, p: CurrentsParams, solver: SolverSettings, source: Path | None):
    strength = inp.habitat if source is None else _read_source(source, inp.grid)
    src = np.where(strength >= p.source_threshold, strength, 0.0)
    src[~np.isfinite(inp.res)] = 0.0
    if p.r_cutoff is not None:
        src[inp.res > p.r_cutoff] = 0.0
    radius = int(round(p.radius_m / inp.grid.res_m))
    settings = OmniscapeSettings(radius=max(radius, 1), block_size=p.block_size, buffer=0,
                                 correct_artifacts=True, flow_potential=True,
                                 four_neighbors=p.connect_four_neighbors)
    res = np.where(np.isfinite(inp.res), inp.res, np.nan)
    return omniscape(res, src, settings, solver=solver, n_workers=p.n_threads), radius


def _tags(p: CurrentsParams, what: str, note: str | None, residual: float | None, **extra) -> dict:
    tags = {
        "units": "A (ampere per 1 A solve); conductance = 1 / resistance per cell, cell size not used",
        "content": what, "guild": p.guild,
        "neighbours": 4 if p.connect_four_neighbors else 8,
        "edge_conductance": "mean conductance" if p.avg_conductance else "1 / mean resistance",
        "solver": p.solver, "tolerance": p.tolerance,
    }
    if residual is not None:
        tags["max_relative_residual"] = f"{residual:.3e}"
    if note:
        tags["note"] = note
    tags.update(extra)
    return tags


def _write_map(path: Path, values: np.ndarray | None, valid: np.ndarray, grid: Grid, tags: dict) -> None:
    out = np.full(grid.shape, NODATA, dtype=np.float32)
    if values is not None:
        out[valid] = values[valid].astype(np.float32)
    write_raster(path, out, grid, nodata=NODATA, tags=tags)


def run_currents(files: CurrentsFiles, params: CurrentsParams) -> dict:
    """Effective resistance, cumulative and pinch-point current and Omniscape maps of one guild.

    Parameters
    ----------
    files : CurrentsFiles
        Inputs and outputs (:meth:`CurrentsFiles.of`).
    params : CurrentsParams
        Stage parameters.

    Returns
    -------
    dict
        Summary: patches, pairs, connected pairs, links, solves, residuals, notes.

    Raises
    ------
    werkland.currents.SolverError
        A solve missed its tolerance (naming the guild, component size and residual).
    """
    p = params
    inp = _read_inputs(files)
    solver = SolverSettings(p.solver, p.tolerance, p.max_iterations)
    valid = inp.cond > 0
    ids = _patch_ids(inp)
    note = None
    if not valid.any():
        note = f"no cell of {os.path.basename(files.resistance)} is passable: nothing to solve"
    elif ids.size < 2:
        note = f"{ids.size} patch(es) on passable cells: no patch pair to solve"
    summary: dict = {"guild": p.guild, "patches": int(ids.size), "note": note}
    if note:
        log.warning("guild %s: %s", p.guild, note)
    sol, cur_nodes, graph, pinch = None, None, None, None
    if note is None:
        graph, sol = _pairwise(inp, ids, p, solver)
        pairs = _link_pairs(inp.links, ids)
        cur_nodes = cumulative_current(graph, sol, pairs)
        summary.update(links=len(pairs), solves=sol.solves, pair_residual=sol.residual,
                       connected_pairs=int(np.triu(sol.connected, 1).sum()))
        known = set(ids.tolist())
        costs = inp.links["cost_distance"] if "cost_distance" in inp.links else np.full(len(inp.links), np.nan)
        link_rows = [(int(a), int(b), float(c)) for a, b, c in zip(
            inp.links["from_id"], inp.links["to_id"], costs, strict=True)
            if int(a) in known and int(b) in known and a != b]
        pinch = pinch_points(inp.res, inp.patches, link_rows, res_m=inp.grid.res_m, corridor_width=p.corridor_width,
                             four_neighbors=p.connect_four_neighbors, avg_resistance=not p.avg_conductance,
                             settings=solver, label=f"guild {p.guild}", n_workers=p.n_threads)
        summary["pinch_residual"] = pinch.residual
    table = _resistance_table(ids, sol)
    write_csv(table, files.resistance_csv)
    if files.current_links is not None:
        _write_current_links(inp.links_layer, table, files.current_links)
    cur = graph.to_raster(cur_nodes) if graph is not None and cur_nodes is not None else np.zeros(inp.res.shape)
    _write_map(files.current, cur, valid, inp.grid,
               _tags(p, "cumulative node current of the 1 A pair solves over the links", note,
                     None if sol is None else sol.residual))
    _write_map(files.pinchpoints, np.zeros(inp.res.shape) if pinch is None else pinch.current, valid, inp.grid,
               _tags(p, "pinch points: 1 A per link within its corridor", note,
                     None if pinch is None else pinch.residual, corridor_width_cost=p.corridor_width))
    _write_omniscape(files, inp, p, solver, valid, summary)
    log.info("guild %s: %s", p.guild, summary)
    return summary


def _write_current_links(layer: gpd.GeoDataFrame, table: pd.DataFrame, path: Path) -> None:
    """``currents/{guild}_links.gpkg`` layer ``links``: the links layer plus ``r_eff``, ``cwd_to_r_eff``."""
    out = links_with_r_eff(layer, table)
    write_gpkg(gpd.GeoDataFrame(out, geometry=layer.geometry.name, crs=layer.crs), path, "links")


def _write_omniscape(files: CurrentsFiles, inp: _Inputs, p: CurrentsParams, solver: SolverSettings,
                     valid: np.ndarray, summary: dict) -> None:
    names = ((files.omni_current, "Omniscape cumulative current"),
             (files.flow_potential, "Omniscape flow potential (resistance 1)"),
             (files.normalized, "Omniscape normalised current (current / flow potential)"))
    if not p.omniscape or not valid.any():
        why = "currents.omniscape is false" if not p.omniscape else summary.get("note")
        for path, what in names:
            _write_map(path, None, valid, inp.grid, _tags(p, what, why, None))
        return
    out, radius = _omniscape(inp, p, solver, files.source)
    summary.update(omniscape_targets=out.n_targets, omniscape_residual=out.residual, radius_cells=radius)
    extra = {"radius_m": p.radius_m, "radius_cells": radius, "block_size": p.block_size,
             "source": "habitat suitability" if files.source is None else files.source.name,
             "source_threshold": p.source_threshold,
             "r_cutoff": "none" if p.r_cutoff is None else p.r_cutoff}
    for (path, what), arr in zip(names, (out.current, out.flow_potential, out.normalized), strict=True):
        _write_map(path, arr, valid, inp.grid, _tags(p, what, None, out.residual, **extra))
