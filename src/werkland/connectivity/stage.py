"""The connectivity stage of one region and guild: :func:`run_connectivity`.

Reads the guild's habitat and resistance rasters, finds the patches, searches the links (and the
corridor raster), computes the metrics and writes the outputs of the data contract
(``docs/architecture.md``): ``patches/{guild}.gpkg`` and ``.tif``, ``graph/{guild}_links.gpkg``,
``graph/{guild}.graphml``, ``graph/{guild}_metrics.csv``, ``graph/{guild}_summary.json`` and
``corridors/{guild}.tif``; given the barrier stage's probe groups, also
``graph/{guild}_probe_minima.npz`` (:mod:`~werkland.connectivity.minima`). Every output depends only on the inputs and the parameters, so a rerun
gives the same bytes; wall-clock timings go to the log.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from werkland._errors import WerklandInputError
from werkland.connectivity.distance_store import write_component_distances
from werkland.connectivity.graphml import networkx_edge_order, write_graphml
from werkland.connectivity.links import LinkSet, build_links, prepare_resistance
from werkland.connectivity.metrics import GraphMetrics, probability_metrics
from werkland.connectivity.minima import (
    CellGroups,
    MinimaKey,
    MinimaPayload,
    search_group_minima,
    surface_digest,
    write_group_minima,
)
from werkland.connectivity.patches import PatchSet, find_patches, patch_polygons
from werkland.connectivity.tiled import build_links_tiled
from werkland.forking import Beside
from werkland.params import ConnectivityParams
from werkland.raster.io import (
    Grid,
    read_raster,
    release_free_memory,
    write_csv,
    write_gpkg,
    write_json,
    write_raster,
)
from werkland.tables import CONVENTIONS, Kernel

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: How the link costs are measured (a summary key).
DISTANCE_TYPE = "least-cost (MCP_Geometric, 8 neighbours, step length x mean resistance), edge to edge"

#: Units of the summary and output columns (a summary key).
UNITS = {
    "PCnum": "ha2", "ECA_ha": "ha", "IICnum": "ha2", "landscape_area_ha": "ha",
    "d0_m": "cost-weighted m", "k_per_m": "1 / cost-weighted m", "cost_distance": "cost-weighted m",
    "euclid_m": "m", "dPC": "% of PCnum", "dIIC": "% of IICnum",
}


@dataclass
class _Landscape:
    """The guild's rasters on one grid.

    ``suit`` is the suitability with -1 outside the region, ``valid`` the cells inside the region,
    ``resistance`` the prepared resistance (``inf`` impassable), ``area_ha`` the landscape area A_L
    and ``area_source`` where it came from.
    """

    suit: np.ndarray
    valid: np.ndarray
    resistance: np.ndarray
    grid: Grid
    area_ha: float
    area_source: str


def run_connectivity(
    habitat_tif: PathLike,
    resistance_tif: PathLike,
    region_gpkg: PathLike | None,
    out_patches_gpkg: PathLike,
    out_patches_tif: PathLike,
    out_links_gpkg: PathLike,
    out_graphml: PathLike,
    out_metrics_csv: PathLike,
    out_summary_json: PathLike,
    out_corridors_tif: PathLike | None,
    *,
    params: ConnectivityParams,
    probe_groups: CellGroups | None = None,
    out_probe_minima: PathLike | None = None,
    probe_payload: MinimaPayload | None = None,
    out_distances: PathLike | None = None,
) -> dict[str, Any]:
    """Run the connectivity stage for one region and guild and write all its outputs.

    Parameters
    ----------
    habitat_tif : path-like
        ``habitat/{guild}.tif``: float32 suitability 0..1, nodata -1 outside the region.
    resistance_tif : path-like
        ``resistance/{guild}.tif``: float32 resistance >= 1 per metre, nodata -1 = impassable.
    region_gpkg : path-like or None
        ``region.gpkg`` (layer ``region``) for A_L; None or absent: the area of the cells inside
        the region.
    out_patches_gpkg, out_patches_tif, out_links_gpkg, out_graphml, out_metrics_csv, out_summary_json : path-like
        Outputs of the data contract (``docs/architecture.md``).
    out_corridors_tif : path-like or None
        ``corridors/{guild}.tif``; None skips the corridor raster (and its searches).
    params : ConnectivityParams
        The guild's patch definition, kernel (its convention included), probability floor,
        corridor width, IIC threshold, tiling, metrics tolerance and threads.
    probe_groups : CellGroups, optional
        The barrier stage's probe groups (:func:`werkland.barriers.probe_groups`); with
        ``out_probe_minima``, each patch's least cost over each group within ``d_max`` + the
        corridor width (the barrier surfaces' bound) is written there. The link search keeps them
        as it goes; a tiled link search, or one without corridors (which stops at ``d_max``), is
        followed by a search of its own.
    out_probe_minima : path-like, optional
        ``graph/{guild}_probe_minima.npz`` (:func:`~werkland.connectivity.write_group_minima`);
        needs ``probe_groups``.
    probe_payload : MinimaPayload, optional
        Kept in the probe-minima file beside the minima (the barrier stage's segments and probe
        groups, so the barrier job reads them instead of building them again); needs
        ``out_probe_minima``.
    out_distances : path-like, optional
        ``graph/{guild}_distances.npz``: the all-pairs distances the node metrics search
        (:func:`~werkland.connectivity.distance_store.write_component_distances`), which the barrier
        job reads instead of searching them again.

    Returns
    -------
    dict
        The summary written to ``out_summary_json``.

    Raises
    ------
    WerklandInputError
        Invalid parameters, rasters on different grids or with non-square pixels, an unreadable
        region layer.
    """
    t_start = time.perf_counter()
    max_cost = _check_params(params)
    if (probe_groups is None) != (out_probe_minima is None):
        raise WerklandInputError("probe groups and the probe-minima file come together",
                                 path=str(out_probe_minima or "out_probe_minima"),
                                 fix="pass both probe_groups and out_probe_minima, or neither")
    if probe_payload is not None and out_probe_minima is None:
        raise WerklandInputError("a probe payload needs the probe-minima file it is kept in", path="probe_payload",
                                 fix="pass out_probe_minima (and probe_groups) with probe_payload")
    warnings = _kernel_warnings(params.kernel)
    land = _read_landscape(habitat_tif, resistance_tif, region_gpkg, warnings)
    ps = find_patches(land.suit, res_m=land.grid.res_m, threshold=params.suitability_threshold,
                      min_area_m2=params.min_patch_area_m2, edge_band_m=params.edge_band_m, valid=land.valid)
    warnings += _patch_warnings(ps, land.resistance, params)
    links = _search_links(land, ps, params, max_cost, corridors=out_corridors_tif is not None, groups=probe_groups)
    if probe_groups is not None and out_probe_minima is not None:
        _write_probe_minima(land, ps, links, params, max_cost, probe_groups, out_probe_minima, probe_payload)
    if ps.n > 1 and links.n == 0:
        warnings.append(f"no pair of patches is within the maximum cost distance {max_cost:.0f} (p >= {params.p_floor:g})")
    t_links = time.perf_counter()
    # The layers that do not need the metrics (patch outlines, links, corridors) are made and written
    # in a forked process while the metrics run, when the job has a second thread: the metrics' serial
    # parts (the row sums, the hop-count pass on scipy) leave a core idle. The same calls: the same bytes.
    layers = functools.partial(_link_layers, links, ps, land.grid, params, out_links_gpkg, out_corridors_tif)
    with Beside(layers, fork=params.n_threads > 1) as beside:
        gm = probability_metrics(
            ps.table["quality_ha"].to_numpy(), (links.from_id - 1, links.to_id - 1, links.cost),
            params.kernel.k_per_m, land.area_ha, iic_max_cost=params.iic_max_cost, n_threads=params.n_threads,
            pc_tolerance=params.metrics_tolerance, keep_distances=out_distances is not None,
        )
        if out_distances is not None and gm.distances is not None:
            write_component_distances(gm.distances, out_distances)
            gm.distances = None  # written: the blocks can go
        t_metrics = time.perf_counter()
        polys, ltab = beside.result()
    node_tab = gm.node_table(ps.table["patch_id"].to_numpy())
    ptab = _write_patches(ps, node_tab, polys, land.grid, params.guild, out_patches_gpkg, out_patches_tif)
    _write_graphml(ptab, node_tab, ltab, params, out_graphml)
    write_csv(node_tab, out_metrics_csv)
    summary = _summary(gm, ps, links, land, params, max_cost, warnings)
    write_json(summary, out_summary_json)
    for w in warnings:
        log.warning("%s: %s", params.guild, w)
    t_end = time.perf_counter()
    log.info("%s: timings: links %.3f s, metrics %.3f s, total %.3f s",
             params.guild, t_links - t_start, t_metrics - t_links, t_end - t_start)
    log.info("%s: %d patches, %d links, ECA %.2f ha, PC %.4g in %.1f s",
             params.guild, ps.n, links.n, gm.ECA_ha, gm.PC, t_end - t_start)
    return summary


# --- parameters and inputs ------------------------------------------------------------------------


def _check_params(params: ConnectivityParams) -> float:
    """Validate the kernel, probability floor and tolerance; return the link bound (cost-weighted m)."""
    kern = params.kernel
    where = f"guilds.{params.guild}"
    if kern.convention not in CONVENTIONS:
        raise WerklandInputError(f"unknown kernel convention {kern.convention!r}", path="config: connectivity.convention",
                                 fix=f"use one of {sorted(CONVENTIONS)}")
    if not (math.isfinite(kern.d0_m) and kern.d0_m > 0):
        raise WerklandInputError(f"d0_m = {kern.d0_m!r} is not a positive distance", path=f"config: {where}.d0_m")
    if not 0.0 < kern.p0 < 1.0:
        raise WerklandInputError(f"p0 = {kern.p0!r} is not a probability in (0, 1)", path=f"config: {where}.p0")
    if not 0 < params.p_floor < kern.p0:
        raise WerklandInputError(f"p_floor {params.p_floor} must be in (0, p0)", path=f"{where}.p_floor")
    if not 0 <= params.metrics_tolerance <= 0.01:
        raise WerklandInputError(f"metrics_tolerance {params.metrics_tolerance!r} must be in 0..0.01",
                                 path="config: connectivity.metrics_tolerance")
    return params.link_bound


def _kernel_warnings(kern: Kernel) -> list[str]:
    """The Graphab convention's reminder that its k differs from Conefor's for the same d0."""
    if kern.convention != "graphab":
        return []
    return [
        f"Graphab convention: p = 0.05 at d0 = {kern.d0_m:g} cost-m (k is {math.log(20) / math.log(2):.1f}x the "
        "Conefor k for the same d0)"
    ]


def _read_landscape(habitat_tif: PathLike, resistance_tif: PathLike, region_gpkg: PathLike | None,
                    warnings: list[str]) -> _Landscape:
    """Suitability, region mask, prepared resistance and landscape area of the guild."""
    suit, grid, s_nodata = read_raster(habitat_tif)
    res_raw, rgrid, r_nodata = read_raster(resistance_tif)
    if res_raw.shape != suit.shape or not np.allclose(tuple(rgrid.transform), tuple(grid.transform)):
        raise WerklandInputError(
            f"resistance grid {res_raw.shape} does not match habitat grid {suit.shape}",
            path=str(resistance_tif),
            fix="re-run the habitat rule so both rasters share one grid",
        )
    if abs(grid.transform.a + grid.transform.e) > 1e-9 * abs(grid.transform.a):
        raise WerklandInputError("pixels are not square", path=str(habitat_tif))
    suit = suit.astype(np.float64)
    valid = np.isfinite(suit) & (suit >= 0)
    if s_nodata is not None and np.isfinite(s_nodata):
        valid &= suit != s_nodata
    suit = np.where(valid, suit, -1.0)
    resistance = prepare_resistance(res_raw, r_nodata)
    area_ha, source = _region_area_ha(region_gpkg, grid.crs, int(valid.sum()), grid.cell_area_m2)
    if not area_ha > 0:
        area_ha = grid.height * grid.width * grid.cell_area_m2 / 1e4
        warnings.append("region has no area inside the habitat raster; A_L = raster extent")
    return _Landscape(suit, valid, resistance, grid, area_ha, source)


def _region_area_ha(region_gpkg: PathLike | None, crs: Any, fallback_cells: int, cell_area_m2: float) -> tuple[float, str]:
    """Landscape area A_L (ha): the region polygon's, else the area of the cells inside the region."""
    if region_gpkg is not None and Path(region_gpkg).exists():
        try:
            reg = gpd.read_file(region_gpkg, layer="region")
        except Exception as exc:  # noqa: BLE001 - report as input error
            raise WerklandInputError(
                f"cannot read layer 'region' ({exc})", path=str(region_gpkg), fix="re-run the region rule"
            ) from exc
        if len(reg) and reg.crs is not None:
            if crs is not None and not reg.crs.equals(crs):
                reg = reg.to_crs(crs)
            area = float(reg.geometry.area.sum())
            if area > 0:
                return area / 1e4, "region polygon"
    return fallback_cells * cell_area_m2 / 1e4, "cells inside the region"


# --- patches and links ----------------------------------------------------------------------------


def _patch_warnings(ps: PatchSet, resistance: np.ndarray, params: ConnectivityParams) -> list[str]:
    """Explanations of degenerate results: no or one patch, all on the border, impassable cells."""
    out = []
    n = ps.n
    if n == 0:
        out.append(
            f"no habitat patches: no 8-connected area with suitability >= {params.suitability_threshold:g} covers "
            f"{params.min_patch_area_m2:g} m2; all indices are 0"
        )
    elif n == 1:
        out.append("only one habitat patch: no links; PCnum is the square of its quality area")
    if n and bool(ps.table["touches_border"].all()):
        out.append(
            f"all {n} patches touch the region border: habitat and links beyond it are unknown, so "
            "connectivity is a lower bound"
        )
    passable = np.isfinite(resistance)
    if not passable.any():
        out.append("resistance is impassable everywhere (all nodata): no links can form")
    if n:
        imp = np.bincount(ps.labels.ravel()[passable.ravel()], minlength=n + 1)[1:] == 0
        if imp.any():
            out.append(f"{int(imp.sum())} patches lie entirely on impassable cells and cannot link")
    return out


def _search_links(land: _Landscape, ps: PatchSet, params: ConnectivityParams, max_cost: float, *,
                  corridors: bool, groups: CellGroups | None) -> LinkSet:
    """Links (and the corridor raster, and the group minima), over overlapping tiles when the raster
    is larger than a tile (the tiles keep no group minima)."""
    width = params.corridor_width if corridors else None
    if params.tile_cells and params.tile_cells < max(land.resistance.shape):
        return build_links_tiled(land.resistance, ps.labels, res_m=land.grid.res_m, max_cost=max_cost,
                                 tile_cells=params.tile_cells, corridor_width=width, n_threads=params.n_threads)
    return build_links(land.resistance, ps.labels, res_m=land.grid.res_m, max_cost=max_cost, corridor_width=width,
                       n_threads=params.n_threads, cell_groups=groups)


def _write_probe_minima(land: _Landscape, ps: PatchSet, links: LinkSet, params: ConnectivityParams, max_cost: float,
                        groups: CellGroups, out: PathLike, payload: MinimaPayload | None) -> None:
    """``graph/{guild}_probe_minima.npz``: the group minima within ``d_max`` + the corridor width.

    The link search's own when it searched to that bound (corridors on, not tiled), else one search
    per patch; the link set's copy is released once written.
    """
    bound = float(max_cost) + float(params.corridor_width)
    minima = links.group_minima if links.group_minima is not None and links.search_bound == bound else None
    links.group_minima = None
    if minima is None:
        log.info("%s: probe minima need their own searches (tiled or corridor-less link search)", params.guild)
        minima = search_group_minima(land.resistance, ps.labels, ps.n, land.grid.res_m, bound, groups,
                                     params.n_threads)
    H, W = land.resistance.shape
    key = MinimaKey(bound, groups.digest(), surface_digest(land.resistance, ps.labels), (H, W), ps.n)
    write_group_minima(minima, key, out, payload)
    del minima
    # the searches' parts (one small array pair per patch, 937 MB for woodland birds at 16 M cells)
    # are freed as written; hand their heap pages back before the metrics and the layers
    release_free_memory()


# --- outputs --------------------------------------------------------------------------------------


def _write_patches(ps: PatchSet, node_tab: pd.DataFrame, polys: list[Any], grid: Grid, guild: str,
                   out_gpkg: PathLike, out_tif: PathLike) -> pd.DataFrame:
    """``patches/{guild}.gpkg`` (attributes, dPC, component) and ``patches/{guild}.tif``; returns the table."""
    crs_wkt = grid.crs.to_wkt()
    ptab = ps.table.merge(node_tab[["patch_id", "dPC", "component"]], on="patch_id", how="left")
    pg = gpd.GeoDataFrame(ptab, geometry=gpd.GeoSeries(polys, crs=crs_wkt), crs=crs_wkt)
    write_gpkg(pg, out_gpkg, "patches")
    tags = {"units": "patch id", "guild": guild, "nodata": 0}
    write_raster(out_tif, ps.labels.astype(np.int32), grid, nodata=0, tags=tags)
    return ptab


def _line_geoms(links: LinkSet, grid: Grid) -> list[Any]:
    """LineStrings through the cell centres of each link's least-cost path."""
    if links.n == 0:
        return []
    W = grid.width
    t = grid.transform
    cells = links.path_cells
    rows, cols = cells // W, cells % W
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    counts = np.diff(links.path_ptr)
    idx = np.repeat(np.arange(links.n), counts)
    # a one-cell path cannot happen between distinct patches; guard anyway
    coords = np.column_stack([x, y])
    if np.any(counts < 2):
        extra_idx = np.flatnonzero(counts < 2)
        coords = np.vstack([coords, coords[links.path_ptr[extra_idx]]])
        idx = np.concatenate([idx, extra_idx])
        order = np.argsort(idx, kind="stable")
        coords, idx = coords[order], idx[order]
    return list(shapely.linestrings(coords, indices=idx))


def _link_layers(links: LinkSet, ps: PatchSet, grid: Grid, params: ConnectivityParams, out_links_gpkg: PathLike,
                 out_corridors_tif: PathLike | None) -> tuple[list[Any], pd.DataFrame]:
    """The patch outlines, ``graph/{guild}_links.gpkg`` and ``corridors/{guild}.tif`` (when asked):
    what the outputs need of the links and patches but not of the metrics. Returns the outlines and
    the link table."""
    polys = patch_polygons(ps.labels, grid.transform, ps.n)
    ltab = _write_links(links, polys, params.kernel, grid, out_links_gpkg)
    if out_corridors_tif is not None:
        _write_corridors(links, grid, params, out_corridors_tif)
    return polys, ltab


def _write_links(links: LinkSet, polys: list[Any], kern: Kernel, grid: Grid, out_gpkg: PathLike) -> pd.DataFrame:
    """``graph/{guild}_links.gpkg``: one row per link with its least-cost path; returns the table."""
    if links.n:
        shapes = np.asarray(polys, dtype=object)
        euclid = shapely.distance(shapes[links.from_id - 1], shapes[links.to_id - 1])
    else:
        euclid = np.zeros(0)
    ltab = pd.DataFrame(
        {
            "link_id": np.arange(1, links.n + 1, dtype=np.int64),
            "from_id": links.from_id,
            "to_id": links.to_id,
            "cost_distance": links.cost,
            "euclid_m": np.asarray(euclid, dtype=np.float64),
            "p_direct": kern.p(links.cost),
            "path_cells": np.diff(links.path_ptr).astype(np.int64),
        }
    )
    crs_wkt = grid.crs.to_wkt()
    lg = gpd.GeoDataFrame(ltab, geometry=gpd.GeoSeries(_line_geoms(links, grid), crs=crs_wkt), crs=crs_wkt)
    write_gpkg(lg, out_gpkg, "links")
    return ltab


def _plain(v: Any) -> bool | float | int:
    """A table value as a GraphML attribute (bool, float or int)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return int(v)


def _write_graphml(ptab: pd.DataFrame, node_tab: pd.DataFrame, ltab: pd.DataFrame, params: ConnectivityParams,
                   out_graphml: PathLike) -> None:
    """``graph/{guild}.graphml``: patches with their attributes and metrics, links with cost and p.

    Written by :func:`werkland.connectivity.graphml.write_graphml`: the bytes networkx wrote from the
    same graph (patches in table order, links in networkx's edge order), without building it.
    """
    kern = params.kernel
    graph_data: dict[str, bool | int | float | str] = {"guild": params.guild, "d0_m": kern.d0_m, "p0": kern.p0, "k_per_m": kern.k_per_m,
                  "convention": kern.convention}
    full = ptab.merge(node_tab.drop(columns=["dPC", "component"]), on="patch_id", how="left")
    cols = [c for c in full.columns if c != "patch_id"]
    values = [full[c].tolist() for c in cols]
    node_ids = full["patch_id"].to_numpy().astype(np.int64)
    nodes = [(int(pid), {c: _plain(vals[r]) for c, vals in zip(cols, values, strict=True)})
             for r, pid in enumerate(node_ids)]
    u = ltab["from_id"].to_numpy().astype(np.int64)
    v = ltab["to_id"].to_numpy().astype(np.int64)
    rows, swap, data_rows = networkx_edge_order(node_ids, u, v)
    link_id = ltab["link_id"].to_numpy().astype(np.int64)
    cost = ltab["cost_distance"].to_numpy().astype(np.float64)
    euclid = ltab["euclid_m"].to_numpy().astype(np.float64)
    p_direct = ltab["p_direct"].to_numpy().astype(np.float64)
    weight = kern.k_per_m * cost
    edges = []
    for r, sw, d in zip(rows.tolist(), swap.tolist(), data_rows.tolist(), strict=True):
        a, b = (int(v[r]), int(u[r])) if sw else (int(u[r]), int(v[r]))
        edges.append((a, b, {"link_id": int(link_id[d]), "cost_distance": float(cost[d]),
                             "euclid_m": float(euclid[d]), "p_direct": float(p_direct[d]),
                             "weight": float(weight[d])}))
    write_graphml(out_graphml, graph_data, nodes, edges)


def _write_corridors(links: LinkSet, grid: Grid, params: ConnectivityParams, out_tif: PathLike) -> None:
    """``corridors/{guild}.tif``: the normalised corridor value, nodata -1 beyond the width."""
    corr = links.corridor if links.corridor is not None else np.full(grid.shape, np.inf, np.float32)
    corr = np.where(np.isfinite(corr), corr, np.float32(-1)).astype(np.float32)
    write_raster(
        out_tif, corr, grid, nodata=-1.0,
        tags={"units": "cost-weighted metres above the least-cost distance", "width": params.corridor_width,
              "guild": params.guild,
              "definition": "min over links of CWD_a + CWD_b - LCD_ab, cells above width = nodata"},
    )


def _summary(gm: GraphMetrics, ps: PatchSet, links: LinkSet, land: _Landscape, params: ConnectivityParams,
             max_cost: float, warnings: list[str]) -> dict[str, Any]:
    """``graph/{guild}_summary.json``: landscape indices, counts, settings and warnings (no timings)."""
    kern = params.kernel
    return {
        **gm.summary(),
        "guild": params.guild,
        "n_patches": int(ps.n),
        "n_links": int(links.n),
        "n_patches_dropped_small": int(ps.n_dropped),
        "n_patches_touching_border": int(ps.table["touches_border"].sum()),
        "total_patch_area_ha": float(ps.table["area_ha"].sum()),
        "total_quality_ha": float(ps.table["quality_ha"].to_numpy().sum()),
        "landscape_area_ha": float(land.area_ha),
        "landscape_area_source": land.area_source,
        "d0_m": kern.d0_m,
        "p0": kern.p0,
        "k_per_m": kern.k_per_m,
        "convention": kern.convention,
        "p_floor": params.p_floor,
        "metrics_tolerance": params.metrics_tolerance,
        "max_cost_distance": max_cost,
        "iic_max_cost": params.iic_max_cost,
        "corridor_width": params.corridor_width,
        "distance_type": DISTANCE_TYPE,
        "resolution_m": land.grid.res_m,
        "crs": land.grid.crs.to_string(),
        "units": dict(UNITS),
        "warnings": warnings,
    }
