"""The barrier stage: :func:`run_barriers` (one guild) and :func:`combine_barriers` (all guilds).

:func:`run_barriers` reads the landscape and the guild's links, cuts the barrier polygons into
segments (:mod:`werkland.barriers.segments`), lists the links each segment cuts and scores it
(:mod:`werkland.barriers.scores`), computes the network gain of the top segments
(:mod:`werkland.barriers.gains`), ranks them and writes ``barriers/{guild}.gpkg``. With the
currents stage's current map it adds ``current_crossing`` and ``current_rank`` (circuit theory
beside the least-cost scores; NaN when the currents stage is off).
:func:`combine_barriers` merges the guild rankings into one multi-guild rank.

Units: lengths and radii in metres, cost distances in cost-weighted metres, ``dECA_ha`` in ha,
``dPC`` in percent of the baseline PCnum, ``current_crossing`` in A (for 1 A per linked patch
pair, summed over the links).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.barriers.gains import GainRaster, mitigation_gain
from werkland.barriers.probe_jobs import check_radii, read_landcover_polygons
from werkland.barriers.probe_store import (
    BarrierProbes,
    build_segments,
    probes_key,
    read_stored,
)
from werkland.barriers.scores import (
    PairScores,
    Probes,
    build_probes,
    links_cut,
    pair_scores_chunked,
    patches_reaching,
    search_bounds,
)
from werkland.barriers.segments import BarrierSegments
from werkland.connectivity import (
    CellGroups,
    GraphState,
    GroupMinima,
    MinimaKey,
    prepare_resistance,
    read_group_minima,
    search_group_minima,
    surface_digest,
)
from werkland.currents.downstream import segment_current_crossing
from werkland.forking import forked_imap
from werkland.params import BarrierParams
from werkland.params.landscape import barrier_classes
from werkland.raster.io import (
    Grid,
    line_cells,
    read_raster,
    release_free_memory,
    write_gpkg,
)

log = logging.getLogger(__name__)

#: Output columns before and after the per-radius score columns.
_HEAD_COLUMNS: dict[str, Any] = {
    "segment_id": str, "kind": str, "road_class": str, "class": str, "length_m": float,
    "links_cut": str, "links_cut_p": str, "n_links_cut": "int64", "in_corridor": bool, "matters": bool,
}
_TAIL_COLUMNS: dict[str, Any] = {
    "dECA_ha": float, "dECA_pct": float, "dPC": float, "gain_evaluated": bool, "rank": "int64",
    "current_crossing": float, "current_rank": float,
}


@dataclass
class _Landscape:
    """The guild's rasters and node weights.

    ``res`` is the prepared resistance (``inf`` impassable), ``labels`` the patch ids (int64, 1..n),
    ``areas`` the node weights (ha) and ``rbase`` the resistance of a restored window (the lowest
    finite resistance of the raster).
    """

    res: np.ndarray
    labels: np.ndarray
    n: int
    grid: Grid
    areas: np.ndarray
    rbase: float


@dataclass
class _Kernel:
    """What the stage needs of the guild's connectivity settings."""

    k: float
    max_cost: float
    width: float
    pc_tolerance: float


# --- parameters and inputs ------------------------------------------------------------------------


def _kernel_of(params: BarrierParams) -> _Kernel:
    """Decay rate, link bound, corridor width and tolerance of the guild's connectivity settings."""
    check_radii(params)
    c = params.connectivity
    return _Kernel(
        k=float(c.kernel.k_per_m),
        max_cost=c.kernel.max_cost(c.p_floor),
        width=float(c.corridor_width),
        pc_tolerance=float(c.metrics_tolerance),
    )


def _node_weights(patches_gpkg: Any, labels: np.ndarray, n: int, grid: Grid, warnings: list[str]) -> np.ndarray:
    """Quality-weighted patch areas (ha) from the patches layer, or plain patch areas without it."""
    if patches_gpkg is not None and Path(patches_gpkg).exists():
        pt = gpd.read_file(patches_gpkg, layer="patches").sort_values("patch_id")
        areas = np.zeros(n)
        areas[pt["patch_id"].to_numpy(np.int64) - 1] = pt["quality_ha"].to_numpy(np.float64)
        return areas
    warnings.append("patches gpkg not found: node weights = patch area (not quality-weighted)")
    return np.bincount(labels.ravel(), minlength=n + 1)[1:] * grid.cell_area_m2 / 1e4


def _read_landscape(resistance_tif: Any, patches_tif: Any, patches_gpkg: Any, warnings: list[str]) -> _Landscape:
    """Resistance, patch labels and node weights of the guild."""
    res_raw, grid, r_nodata = read_raster(resistance_tif)
    res = prepare_resistance(res_raw, r_nodata)
    labels, _, _ = read_raster(patches_tif)
    if labels.shape != res.shape:
        raise WerklandInputError("patch raster and resistance raster differ in shape", path=str(patches_tif),
                                 fix="re-run the connectivity rule of this guild")
    labels = labels.astype(np.int64)
    n = int(labels.max()) if labels.size else 0
    finite = res[np.isfinite(res)]
    rbase = float(finite.min() if finite.size else 1.0)
    areas = _node_weights(patches_gpkg, labels, n, grid, warnings)
    return _Landscape(res=res, labels=labels, n=n, grid=grid, areas=areas, rbase=rbase)


def _landscape_area_ha(summary_json: Any) -> float:
    """The connectivity stage's landscape area A_L (ha) of the baseline graph."""
    try:
        summary = json.loads(Path(summary_json).read_text())
        return float(summary["landscape_area_ha"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WerklandInputError(f"cannot read landscape_area_ha from the summary ({exc})", path=str(summary_json),
                                 fix="re-run connectivity") from exc


def _segments(landcover_gpkg: Any, grid: Grid, params: BarrierParams) -> BarrierSegments:
    """The guild's barrier segments on the grid."""
    return build_segments(read_landcover_polygons(landcover_gpkg, grid.crs.to_wkt()), grid, params)


def _read_links(links_gpkg: Any, shape: tuple[int, int], transform: Any) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The link table (without geometry) and the raster cells of each link's least-cost path."""
    try:
        lg = gpd.read_file(links_gpkg, layer="links")
    except Exception as exc:  # noqa: BLE001 - any read failure is an input error
        raise WerklandInputError(f"cannot read layer 'links' ({exc})", path=str(links_gpkg),
                                 fix="re-run connectivity") from exc
    for col in ("from_id", "to_id", "cost_distance"):
        if col not in lg.columns:
            raise WerklandInputError(f"links layer has no column {col!r}", path=str(links_gpkg),
                                     fix="re-run connectivity")
    if "link_id" not in lg.columns:
        lg["link_id"] = np.arange(1, len(lg) + 1)
    paths = line_cells(lg.geometry.values, shape, transform)
    return pd.DataFrame(lg.drop(columns="geometry")), paths


# --- output layout --------------------------------------------------------------------------------


def radius_label(R: float) -> str:
    """Column suffix of a radius: ``20`` for 20.0, ``12_5`` for 12.5."""
    return str(int(R)) if float(R).is_integer() else str(R).replace(".", "_")


def _score_columns(radii: Sequence[float]) -> list[str]:
    return [c for R in radii for lab in [radius_label(R)]
            for c in (f"score_per_m_{lab}", f"score_pct_{lab}", f"score_per_m_sum_{lab}", f"score_pct_sum_{lab}")]


def _empty_output(radii: Sequence[float], crs: Any) -> Any:
    """The ``barriers`` layer with no rows (its columns and dtypes)."""
    dtypes = {**_HEAD_COLUMNS, **dict.fromkeys(_score_columns(radii), float), **_TAIL_COLUMNS}
    cols = {c: pd.Series([], dtype=dt) for c, dt in dtypes.items()}
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


# --- steps of run_barriers ------------------------------------------------------------------------


def _add_links_cut(tab: Any, segs: BarrierSegments, links: pd.DataFrame, paths: list[np.ndarray], k: float) -> None:
    """Columns ``links_cut`` (link ids), ``links_cut_p`` (their direct probability), ``n_links_cut``."""
    m = segs.n
    cut_sets: list[list[int]] = [[] for _ in range(m)]
    cut_p: list[list[float]] = [[] for _ in range(m)]
    pdir = links["p_direct"].to_numpy() if "p_direct" in links.columns else np.exp(-k * links["cost_distance"].to_numpy())
    link_ids = links["link_id"].to_numpy(np.int64)
    for e, s in links_cut(paths, segs.raster.ravel()):
        cut_sets[s - 1].append(int(link_ids[e]))
        cut_p[s - 1].append(float(pdir[e]))
    tab["links_cut"] = [",".join(map(str, c)) for c in cut_sets]
    tab["links_cut_p"] = [",".join(f"{p:.4g}" for p in ps) for ps in cut_p]
    tab["n_links_cut"] = np.array([len(c) for c in cut_sets], np.int64)


def _link_arrays(links: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From and to patch ids and least-cost distance of each link."""
    return (links["from_id"].to_numpy(np.int64), links["to_id"].to_numpy(np.int64),
            links["cost_distance"].to_numpy(np.float64))


def _score_segments(
    tab: Any, segs: BarrierSegments, probes: Probes | None, land: _Landscape, links: pd.DataFrame,
    params: BarrierParams, kern: _Kernel, probe_minima: Any,
) -> tuple[np.ndarray, list[list[int]]]:
    """Improvement scores, ``in_corridor`` and ``matters`` columns.

    ``probes`` are the probe groups the connectivity job kept, or None: they are built here, after
    the links (whose geometries' heap is handed back first).
    Returns the best per-metre score of each segment (max over radii) and the patches whose search
    reaches each segment (the candidates of its network gain).
    """
    m = segs.n
    radii = list(params.radii_m)
    if probes is None:
        probes = build_probes(segs, land.res.shape, land.grid.res_m, radii)
    lp, lq, lcd = _link_arrays(links)
    bounds = search_bounds(land.n, lp, lq, lcd, kern.max_cost, kern.width)
    groups = probes.cell_groups()
    minima = _stored_minima(probe_minima, groups, land, kern.max_cost + kern.width)
    if minima is None:
        minima = search_group_minima(land.res, land.labels, land.n, land.grid.res_m, kern.max_cost + kern.width, groups,
                                     params.n_threads, bounds).table()
    else:
        minima = minima.within(bounds)  # what the searches to these bounds keep, value for value
    sc: PairScores = pair_scores_chunked(lp, lq, lcd, minima, probes, np.asarray(radii, np.float64), land.rbase,
                                         kern.width, m, params.n_threads)
    for ri, R in enumerate(radii):
        lab = radius_label(R)
        tab[f"score_per_m_{lab}"] = sc.best_m[:, ri]
        tab[f"score_pct_{lab}"] = sc.best_p[:, ri]
        tab[f"score_per_m_sum_{lab}"] = sc.sum_m[:, ri]
        tab[f"score_pct_sum_{lab}"] = sc.sum_p[:, ri]
    in_corr = np.zeros(m, bool)
    in_corr[sc.corridor_seg] = True
    tab["in_corridor"] = in_corr
    tab["matters"] = in_corr | (tab["n_links_cut"].to_numpy() > 0)
    touch = patches_reaching(probes, minima, kern.max_cost, m)
    return sc.best_m.max(axis=1), touch


def _stored_probes(path: Any, landcover_gpkg: Any, grid: Grid, params: BarrierParams) -> BarrierProbes | None:
    """The segments and probe groups the connectivity job kept in the probe-minima file, when they
    were built from this land cover, these barrier settings and this grid; else None (the stage
    builds them itself, with the same result)."""
    if path is None:
        return None
    stored = read_stored(path, probes_key(landcover_gpkg, grid, params),
                         fix="delete it and re-run the connectivity rule of this guild")
    if stored is None:
        log.info("%s: keeps no segments and probes for this land cover and these barrier settings; building them",
                 path)
        return None
    log.info("barrier segments and probe groups of the connectivity job: %s (%d segments)", path,
             stored[0].segments.n)
    return stored[0]


def _stored_minima(path: Any, groups: CellGroups, land: _Landscape, bound: float) -> GroupMinima | None:
    """The connectivity stage's probe minima when they were kept for these probes, patches and bound.

    None (the stage then searches every patch itself, with the same result) when no file is given or
    it was kept for other probes, another resistance or patch raster or another bound: a logged
    warning, since in the workflow the connectivity rule re-runs whenever its inputs or barrier
    parameters change.
    """
    if path is None:
        return None
    H, W = land.res.shape
    want = MinimaKey(bound, groups.digest(), surface_digest(land.res, land.labels), (H, W), land.n)
    minima, key = read_group_minima(path, expect=want)
    if minima is None:
        log.warning("%s: kept for another %s; searching every patch instead (re-run the connectivity rule to "
                    "share its searches)", path, ", ".join(key.differences(want)))
        return None
    log.info("probe minima of the connectivity stage's link search: %s (%d entries)", path, minima.vals.size)
    return minima


def _gain_candidates(tab: Any, score_key: np.ndarray, top_n: int) -> list[int]:
    """The ``top_n`` segments that matter, by best score, then links cut, then id."""
    cand = np.lexsort((tab["segment_id"].to_numpy(), -tab["n_links_cut"].to_numpy(), -score_key,
                       ~tab["matters"].to_numpy()))
    matters = tab["matters"].to_numpy(bool)
    return [int(s) for s in cand if matters[s]][:top_n]


def _network_gains(
    tab: Any, segs: BarrierSegments, land: _Landscape, links: pd.DataFrame, touch: list[list[int]],
    cand: list[int], params: BarrierParams, kern: _Kernel, landscape_area_ha: float,
    graph_distances: str | os.PathLike[str] | None = None,
) -> None:
    """Columns ``dECA_ha``, ``dECA_pct``, ``dPC`` and ``gain_evaluated`` (gains of the candidates);
    the baseline's distances from ``graph_distances`` when they are of this graph."""
    m = segs.n
    lp, lq, lcd = _link_arrays(links)
    # by component: a short-reach guild's graph falls apart in hundreds of components (1.4 GB as one
    # n x n matrix for 13,069 patches at 16 M cells, 0.2 % of it per component); same values
    state = GraphState.build(land.areas, (lp - 1, lq - 1, lcd), kern.k, landscape_area_ha, by_component=True,
                             distances_file=graph_distances)
    seg_flat = segs.raster.ravel()
    seg_cells_order = np.argsort(seg_flat, kind="stable")
    seg_ptr = np.searchsorted(seg_flat[seg_cells_order], np.arange(1, m + 2))
    deca, deca_pct, dpc = np.zeros(m), np.zeros(m), np.zeros(m)
    evaluated = np.zeros(m, bool)
    # With n threads the candidates are shared out over n forked processes of one thread each: a
    # gain's searches keep two threads only partly busy (its graph update is serial). Each gain is
    # the same whatever process or thread count computes it.
    processes = params.n_threads if len(cand) > 1 else 1
    threads = 1 if processes > 1 else params.n_threads

    # the labels, resistance and search work arrays of every gain, prepared once (a forked worker
    # inherits them; each process runs one gain at a time)
    shared = GainRaster(land.res, land.labels, state.areas_ha.size)

    def gain(s: int) -> tuple[float, float, float]:
        r = mitigation_gain(
            land.res, land.labels, seg_cells_order[seg_ptr[s] : seg_ptr[s + 1]], np.asarray(touch[s], np.int64),
            state, res_m=land.grid.res_m, max_cost=kern.max_cost, passage_resistance=params.passage_resistance,
            n_threads=threads, pc_tolerance=kern.pc_tolerance, shared=shared,
        )
        return r.dECA_ha, r.dECA_pct, r.dPC_pct

    t0 = time.perf_counter()
    for c_i, (s, values) in enumerate(zip(cand, forked_imap(gain, cand, processes), strict=True)):
        deca[s], deca_pct[s], dpc[s] = values
        evaluated[s] = True
        if (c_i + 1) % 10 == 0:
            log.info("barriers: %d/%d network gains (%.2f/s)", c_i + 1, len(cand), (c_i + 1) / (time.perf_counter() - t0))
    tab["dECA_ha"] = deca
    tab["dECA_pct"] = deca_pct
    tab["dPC"] = dpc
    tab["gain_evaluated"] = evaluated


def _current_columns(tab: Any, segs: BarrierSegments, current_tif: Any, land: _Landscape) -> None:
    """Columns ``current_crossing`` (A) and ``current_rank`` (1 = most current; ties by id).

    ``current_crossing`` is the current of ``currents/{guild}_current.tif`` crossing each segment
    (:func:`werkland.currents.segment_current_crossing`): the node current summed over the
    segment's footprint cells, divided by its mean width in cells (footprint cells / centre-line
    cells), because a current crossing a footprint ``w`` cells wide passes ``w`` cells in series.
    Without a current map both columns are NaN.
    """
    m = len(tab)
    if current_tif is None:
        tab["current_crossing"] = np.full(m, np.nan)
        tab["current_rank"] = np.full(m, np.nan)
        return
    cur, grid, nodata = read_raster(current_tif)
    if cur.shape != land.res.shape or tuple(grid.transform) != tuple(land.grid.transform):
        raise WerklandInputError("current map and resistance raster differ in grid", path=str(current_tif),
                                 fix="re-run the currents rule of this guild")
    cur = cur.astype(np.float64)
    if nodata is not None and np.isfinite(nodata):
        cur[cur == nodata] = np.nan
    crossing = segment_current_crossing(cur, segs.raster, np.diff(segs.line_ptr))
    order = np.lexsort((tab["segment_id"].to_numpy(), -crossing))
    rank = np.empty(m, np.int64)
    rank[order] = np.arange(1, m + 1)
    tab["current_crossing"] = crossing
    tab["current_rank"] = rank


def _ranked_output(tab: Any, score_key: np.ndarray, radii: Sequence[float], crs_wkt: str) -> Any:
    """Column ``rank`` (by dECA, then best score, then id) and the layer sorted by it."""
    m = len(tab)
    order = np.lexsort((tab["segment_id"].to_numpy(), -score_key, -tab["dECA_ha"].to_numpy()))
    rank = np.empty(m, np.int64)
    rank[order] = np.arange(1, m + 1)
    tab["rank"] = rank
    columns = list(_empty_output(radii, crs_wkt).columns.drop("geometry"))
    out = gpd.GeoDataFrame(tab[columns], geometry=tab.geometry, crs=crs_wkt)
    return out.sort_values("rank").reset_index(drop=True)


def _write_barriers(out: Any, info: Mapping[str, Any], out_gpkg: Any, crs_wkt: str) -> None:
    """Layers ``barriers`` and ``info`` (key, JSON value) of the output GeoPackage."""
    write_gpkg(out, out_gpkg, "barriers")
    info_tab = gpd.GeoDataFrame(
        {"key": list(info), "value": [json.dumps(v, default=float) for v in info.values()]},
        geometry=gpd.GeoSeries([None] * len(info), crs=crs_wkt),
        crs=crs_wkt,
    )
    write_gpkg(info_tab, out_gpkg, "info", mode="a")


# --- entry points ---------------------------------------------------------------------------------


def run_barriers(
    landcover_gpkg: str | os.PathLike[str],
    resistance_tif: str | os.PathLike[str],
    patches_tif: str | os.PathLike[str],
    patches_gpkg: str | os.PathLike[str] | None,
    links_gpkg: str | os.PathLike[str],
    summary_json: str | os.PathLike[str],
    out_gpkg: str | os.PathLike[str],
    *,
    params: BarrierParams,
    current_tif: str | os.PathLike[str] | None = None,
    probe_minima: str | os.PathLike[str] | None = None,
    graph_distances: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Find, score and rank the barrier segments of one guild; write ``barriers/{guild}.gpkg``.

    Parameters
    ----------
    landcover_gpkg : path-like
        ``landcover.gpkg`` (layer ``landcover``, column ``class``).
    resistance_tif : path-like
        ``resistance/{guild}.tif`` (nodata -1 = impassable).
    patches_tif : path-like
        ``patches/{guild}.tif`` (patch ids).
    patches_gpkg : path-like or None
        ``patches/{guild}.gpkg`` (layer ``patches``, ``quality_ha`` = node weights); when None or
        absent the node weights are the patch areas (with a warning).
    links_gpkg : path-like
        ``graph/{guild}_links.gpkg`` (layer ``links``).
    summary_json : path-like
        ``graph/{guild}_summary.json``: only its ``landscape_area_ha`` (the baseline graph's A_L) is
        read; every setting comes from ``params``.
    out_gpkg : path-like
        Output GeoPackage: layer ``barriers`` (one row per segment) and layer ``info`` (parameters,
        counts and warnings).
    params : werkland.params.BarrierParams
        The guild's barrier settings with its connectivity settings (kernel, p floor, corridor
        width, metrics tolerance).
    current_tif : path-like, optional
        ``currents/{guild}_current.tif`` (cumulative current of the currents stage, on the grid of
        the resistance raster). Gives columns ``current_crossing`` (A crossing the segment) and
        ``current_rank`` (1 = most current); None (currents stage off): both columns are NaN.
    probe_minima : path-like, optional
        ``graph/{guild}_probe_minima.npz`` of the connectivity job: each patch's least cost over
        the probe groups (and the segments and probes themselves), read instead of searched.
    graph_distances : path-like, optional
        ``graph/{guild}_distances.npz`` of the connectivity job: the baseline graph's all-pairs
        distances for the network gains, read instead of searched when they are of this graph.

    Returns
    -------
    dict
        The rows of layer ``info`` plus ``timing_s`` (wall-clock seconds of the surfaces, the gains
        and the total; logged, never written, so reruns give identical files).
    """
    t0 = time.perf_counter()
    kern = _kernel_of(params)
    radii = [float(r) for r in params.radii_m]
    warnings: list[str] = []
    land = _read_landscape(resistance_tif, patches_tif, patches_gpkg, warnings)
    area_ha = _landscape_area_ha(summary_json)
    crs_wkt = land.grid.crs.to_wkt()
    classes = barrier_classes(params.resistance, params.resistance_threshold)
    stored = _stored_probes(probe_minima, landcover_gpkg, land.grid, params)
    segs = stored.segments if stored is not None else _segments(landcover_gpkg, land.grid, params)
    m = segs.n
    info: dict[str, Any] = {
        "guild": params.guild,
        "n_segments": m,
        "radii_m": radii,
        "max_length_m": params.max_segment_m,
        "top_n": params.top_n,
        "base_resistance": land.rbase,
        "passage_resistance": params.passage_resistance,
        "corridor_width": kern.width,
        "max_cost_distance": kern.max_cost,
        "barrier_classes": list(classes),
    }
    if current_tif is not None:
        info["current_map"] = Path(current_tif).name
    links, paths = _read_links(links_gpkg, land.res.shape, land.grid.transform)
    release_free_memory()  # the heap of the link and land-cover geometries, before the probe table
    if m == 0:
        warnings.append(f"no barrier segments: the land cover has none of the classes {list(classes)}")
    if len(links) == 0:
        warnings.append("the guild's graph has no links: no segment can cut a corridor; scores and gains are 0")
    timing = {"surfaces": 0.0, "gains": 0.0}
    out = _empty_output(radii, crs_wkt)
    if m:
        tab = segs.table.copy()
        _add_links_cut(tab, segs, links, paths, kern.k)
        t1 = time.perf_counter()
        probes = stored.probes if stored is not None else None
        score_key, touch = _score_segments(tab, segs, probes, land, links, params, kern, probe_minima)
        t2 = time.perf_counter()
        cand = _gain_candidates(tab, score_key, params.top_n)
        _network_gains(tab, segs, land, links, touch, cand, params, kern, area_ha, graph_distances)
        _current_columns(tab, segs, current_tif, land)
        timing.update(surfaces=t2 - t1, gains=time.perf_counter() - t2)
        out = _ranked_output(tab, score_key, radii, crs_wkt)
        info["n_matter"] = int(tab["matters"].sum())
        info["n_gain_evaluated"] = int(tab["gain_evaluated"].sum())
        if info["n_matter"] == 0 and len(links):
            warnings.append("no barrier segment intersects a corridor or link of this guild")
    info["warnings"] = warnings
    _write_barriers(out, info, out_gpkg, crs_wkt)
    timing["total"] = time.perf_counter() - t0
    for w in warnings:
        log.warning("%s: %s", params.guild, w)
    log.info("%s: %d barrier segments scored in %.1f s (surfaces %.1f s, network gains %.1f s)", params.guild, m,
             timing["total"], timing["surfaces"], timing["gains"])
    return {**info, "timing_s": {k: round(v, 3) for k, v in timing.items()}}


def _guild_values(g: Any) -> tuple[np.ndarray, np.ndarray]:
    """A guild's value per segment (dECA relative to its best, else best score relative to its best)
    and its dECA_ha."""
    score_cols = [c for c in g.columns if c.startswith("score_per_m_") and "_sum_" not in c]
    score = g[score_cols].max(axis=1).to_numpy() if score_cols and len(g) else np.zeros(len(g))
    deca = g["dECA_ha"].to_numpy(float) if len(g) else np.zeros(0)
    if len(g) and np.nanmax(deca) > 0:
        return np.clip(deca, 0, None) / np.nanmax(deca), deca
    if len(g) and np.nanmax(score) > 0:
        return score / np.nanmax(score), deca
    return np.zeros(len(g)), deca


def _column_or_nan(g: Any, col: str) -> np.ndarray:
    """A numeric column of a guild layer, NaN when the layer has no such column (older files)."""
    if col in g.columns:
        return pd.to_numeric(g[col], errors="coerce").to_numpy(np.float64)
    return np.full(len(g), np.nan)


def _combined_current(base: pd.DataFrame, frames: list[pd.DataFrame], guilds: list[str],
                      weights: Mapping[str, float]) -> None:
    """Columns ``current_crossing_<guild>``, ``current_rank_<guild>``, ``current_crossing``,
    ``current_score`` and ``current_rank`` of the combined layer (see :func:`combine_barriers`)."""
    n = len(base)
    total, score = np.zeros(n), np.zeros(n)
    wsum, any_current = 0.0, False
    for guild, f in zip(guilds, frames, strict=True):
        f = f.set_index("segment_id")
        for col in (f"current_crossing_{guild}", f"current_rank_{guild}"):
            base[col] = f[col].reindex(base["segment_id"]).to_numpy()
        c = base[f"current_crossing_{guild}"].to_numpy(np.float64)
        if not np.any(np.isfinite(c)):
            continue
        any_current = True
        c = np.where(np.isfinite(c), c, 0.0)
        total += c
        w = float(weights.get(guild, 1.0))
        wsum += w
        top = float(c.max()) if n else 0.0
        if top > 0:
            score += w * c / top
    if not any_current:
        base["current_crossing"] = np.full(n, np.nan)
        base["current_score"] = np.full(n, np.nan)
        base["current_rank"] = np.full(n, np.nan)
        return
    base["current_crossing"] = total
    base["current_score"] = score / wsum if wsum > 0 else np.zeros(n)
    order = np.lexsort((base["segment_id"].to_numpy(), -base["current_score"].to_numpy()))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(1, n + 1)
    base["current_rank"] = rank


def combine_barriers(
    paths: Mapping[str, str | os.PathLike[str]],
    weights: Mapping[str, float],
    out_gpkg: str | os.PathLike[str],
) -> Any:
    """Combine per-guild barrier layers into one multi-guild ranking.

    Per guild, a segment's value is its ``dECA_ha`` divided by the guild's largest ``dECA_ha``;
    when no segment of the guild has a positive gain, its best per-metre improvement score (max over
    radii) divided by the guild's maximum is used instead. ``multi_score`` is the weighted mean of
    these values over all guilds (a guild without the segment contributes 0); ``multi_rank`` 1 is
    the best (ties by ``segment_id``).

    Circuit theory beside it: ``current_crossing_<guild>`` and ``current_rank_<guild>`` are the
    guild's columns; ``current_crossing`` is their sum over the guilds (A) and ``current_score`` the
    weighted mean of each guild's ``current_crossing`` divided by the guild's largest (0..1, over
    the guilds that have a current map), ``current_rank`` 1 the highest ``current_score`` (ties by
    ``segment_id``). Without current maps (currents stage off) these columns are NaN.

    Parameters
    ----------
    paths : mapping
        guild -> ``barriers/{guild}.gpkg``.
    weights : mapping
        guild -> weight >= 0 (:func:`werkland.params.barrier_guild_weights`); missing guilds weigh 1.
    out_gpkg : path-like
        ``barriers/all_guilds.gpkg`` (layer ``barriers``).

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    WerklandInputError
        A negative or non-finite weight, or no guild layers.
    """
    frames = []
    crs = None
    wsum = 0.0
    for guild in sorted(paths):
        g = gpd.read_file(paths[guild], layer="barriers")
        w = float(weights.get(guild, 1.0))
        if w < 0 or not np.isfinite(w):
            raise WerklandInputError(f"guild weight {w!r} must be >= 0", path=f"config: barriers.guild_weights.{guild}",
                                     fix="use a finite weight >= 0")
        wsum += w
        crs = crs or g.crs
        val, deca = _guild_values(g)
        frames.append(
            pd.DataFrame(
                {
                    "segment_id": g["segment_id"],
                    "kind": g["kind"],
                    "road_class": g["road_class"],
                    "length_m": g["length_m"],
                    "geometry": g.geometry,
                    f"value_{guild}": val,
                    f"rank_{guild}": g["rank"],
                    f"dECA_ha_{guild}": deca,
                    f"weight_{guild}": w,
                    f"current_crossing_{guild}": _column_or_nan(g, "current_crossing"),
                    f"current_rank_{guild}": _column_or_nan(g, "current_rank"),
                }
            )
        )
    if not frames:
        raise WerklandInputError("no guild barrier layers to combine", path="config: guilds",
                                 fix="analyse at least one guild")
    base = pd.concat([f[["segment_id", "kind", "road_class", "length_m", "geometry"]] for f in frames])
    base = base.drop_duplicates("segment_id").set_index("segment_id")
    multi = np.zeros(len(base))
    for guild, f in zip(sorted(paths), frames, strict=True):
        f = f.set_index("segment_id")
        for col in (f"value_{guild}", f"rank_{guild}", f"dECA_ha_{guild}"):
            base[col] = f[col].reindex(base.index)
        multi += float(weights.get(guild, 1.0)) * base[f"value_{guild}"].fillna(0.0).to_numpy()
    base["multi_score"] = multi / wsum if wsum > 0 else 0.0
    base = base.reset_index()
    order = np.lexsort((base["segment_id"].to_numpy(), -base["multi_score"].to_numpy()))
    rank = np.empty(len(base), np.int64)
    rank[order] = np.arange(1, len(base) + 1)
    base["multi_rank"] = rank
    _combined_current(base, frames, sorted(paths), weights)
    out = gpd.GeoDataFrame(base.drop(columns="geometry"), geometry=gpd.GeoSeries(base["geometry"], crs=crs), crs=crs)
    out = out.sort_values("multi_rank").reset_index(drop=True)
    write_gpkg(out, out_gpkg, "barriers")
    return out
