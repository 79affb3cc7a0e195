"""Migration barriers: road, rail and water segments that cut corridors, and their mitigation value.

Answers "which crossing should get a fauna passage first?" for one guild (:func:`run_barriers`)
and across guilds (:func:`combine_barriers`).

Steps
-----
1. :func:`segment_barriers` -- the land-cover polygons of barrier classes (roads by class,
   railways, waterways, fences, plus any class whose guild resistance reaches a threshold) are
   rasterised per class, skeletonised to a one-cell centre line, split at junctions (centre-line
   cells with >= 3 separate runs of neighbours around them, i.e. crossing number >= 3) and into pieces of at most ``max_length_m``.
   Each piece is a segment with a deterministic ``segment_id`` ``"<class>:<chain>:<piece>"`` (chains
   numbered in raster-scan order, pieces along the chain), its centre line as geometry and the
   barrier cells nearest to it as its footprint (the cells a measure would change).
2. Which segments matter: a segment *cuts* a link when the link's least-cost path crosses its
   footprint, and lies *in a corridor* when, at one of its centre-line cells, the link's
   normalised corridor value ``CWD_p + CWD_q - LCD_pq`` is within the corridor width.
3. Improvement score (McRae et al. 2012, Barrier Mapper): for a circular window of radius R
   centred on the segment (centres every max(res, R/2) along the centre line), restoring the
   window to the base resistance gives ``LCD' = min_disk CWD_p + min_disk CWD_q + 2 R r_base``;
   ``score_per_m = (LCD - LCD') / (2 R)`` and ``score_pct = 100 score_per_m / LCD`` (percent of the
   original least-cost distance per metre restored), maximised over the windows of the segment and
   reported as the max and the sum over linked patch pairs. The per-patch cost-distance surfaces
   are computed once (bounded searches); no re-run per pixel.
4. Network gain: for the top segments, the footprint takes the fauna-passage resistance and the
   affected link costs are recomputed exactly on the modified raster -- either from the affected
   patches or from the footprint cells, whichever needs fewer bounded searches -- then ECA and PC
   are updated with :func:`werkland.connectivity.eca_after_link_change`.

Units: lengths and radii in metres, cost distances in cost-weighted metres, ``dECA_ha`` in ha,
``dPC`` in percent of the baseline PCnum.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from werkland import connectivity as cn
from werkland._errors import WerklandInputError
from werkland._kernels.barrier_scores import pair_scores, probe_mins
from werkland._kernels.grid_search import collect_targets, dijkstra, reset_search, step_lengths

log = logging.getLogger(__name__)

#: Barrier classes of the legend and their (kind, road_class).
DEFAULT_BARRIER_CLASSES: dict[str, tuple[str, str]] = {
    "road_motorway": ("road", "motorway"),
    "road_main": ("road", "main"),
    "road_minor": ("road", "minor"),
    "railway": ("railway", ""),
    "waterway": ("waterway", ""),
    "fence": ("fence", ""),
}

#: Classes never treated as linear barriers even if their resistance is above the threshold.
AREAL_CLASSES: tuple[str, ...] = ("building", "green_roof", "open_water", "sealed", "parking", "built_area")

DEFAULT_RADII_M: tuple[float, ...] = (20.0, 50.0, 100.0)

__all__ = [
    "AREAL_CLASSES",
    "BarrierSegments",
    "DEFAULT_BARRIER_CLASSES",
    "DEFAULT_RADII_M",
    "barrier_classes",
    "combine_barriers",
    "disk_offsets",
    "improvement_score",
    "mitigation_gain",
    "run_barriers",
    "segment_barriers",
]


# =============================================================================================
# Segments
# =============================================================================================


def barrier_classes(
    params: Mapping[str, Any] | None = None,
) -> dict[str, tuple[str, str]]:
    """Land-cover classes treated as barriers, with their ``(kind, road_class)``.

    Parameters
    ----------
    params : mapping, optional
        ``barrier_classes`` (list of class names; default the roads, railway, waterway and fence
        classes), ``resistance`` (the guild's class -> resistance table, values >= 1 or
        ``"impassable"``) and ``barrier_resistance_threshold`` (alias ``resistance_threshold``, the
        config key): classes whose resistance is at or above it are added (kind ``"other"``),
        except the areal classes in ``AREAL_CLASSES``.

    Returns
    -------
    dict
        class -> (kind, road_class), in a deterministic order.
    """
    params = params or {}
    names = params.get("barrier_classes") or list(DEFAULT_BARRIER_CLASSES)
    out: dict[str, tuple[str, str]] = {}
    for c in names:
        out[c] = DEFAULT_BARRIER_CLASSES.get(c, ("other", ""))
    thr = params.get("barrier_resistance_threshold", params.get("resistance_threshold"))
    table = params.get("resistance") or {}
    if thr is not None:
        for c in sorted(table):
            v = table[c]
            high = v == "impassable" or (isinstance(v, (int, float)) and float(v) >= float(thr))
            if high and c not in out and c not in AREAL_CLASSES:
                out[c] = DEFAULT_BARRIER_CLASSES.get(c, ("other", ""))
    return out


# neighbour ring positions (clockwise from NW) and the junction lookup table
_RING = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _ring_components_lut() -> np.ndarray:
    lut = np.zeros(256, np.int8)
    for cfg in range(256):
        on = [i for i in range(8) if cfg >> i & 1]
        seen: set[int] = set()
        comps = 0
        for s in on:
            if s in seen:
                continue
            comps += 1
            stack = [s]
            seen.add(s)
            while stack:
                u = stack.pop()
                for v in on:
                    if v not in seen and (u - v) % 8 in (1, 7):  # consecutive around the ring
                        seen.add(v)
                        stack.append(v)
        lut[cfg] = comps
    return lut


_LUT = _ring_components_lut()
_POPCOUNT = np.array([bin(x).count("1") for x in range(256)], np.int8)


def _neighbour_config(mask: np.ndarray) -> np.ndarray:
    p = np.pad(mask, 1).astype(np.uint16)
    H, W = mask.shape
    cfg = np.zeros((H, W), np.uint16)
    for bit, (dr, dc) in enumerate(_RING):
        cfg |= p[1 + dr : 1 + dr + H, 1 + dc : 1 + dc + W] << bit
    return cfg.astype(np.uint8)


@dataclass
class BarrierSegments:
    """Barrier segments of a landscape.

    Attributes
    ----------
    table : geopandas.GeoDataFrame
        One row per segment (index ``s`` = raster value ``s + 1``): ``segment_id``, ``kind``,
        ``road_class``, ``class``, ``length_m`` and the centre line (LineString).
    raster : numpy.ndarray
        int32 raster of segment index + 1 (0 = no barrier): the footprint of each segment.
    line_ptr, line_cells, line_dist : numpy.ndarray
        Centre-line cells of segment ``s`` in order along the line:
        ``line_cells[line_ptr[s]:line_ptr[s+1]]`` (flat indices) with their distance along the
        line in metres.
    """

    table: Any
    raster: np.ndarray
    line_ptr: np.ndarray
    line_cells: np.ndarray
    line_dist: np.ndarray

    @property
    def n(self) -> int:
        """Number of segments."""
        return len(self.table)


def segment_barriers(
    landcover: Any,
    grid: Any,
    classes: Mapping[str, tuple[str, str]],
    *,
    max_length_m: float = 100.0,
) -> BarrierSegments:
    """Split barrier polygons into segments of at most ``max_length_m`` along their centre line.

    Parameters
    ----------
    landcover : geopandas.GeoDataFrame
        Land-cover polygons with a ``class`` column (in ``grid``'s CRS).
    grid : werkland.raster.io.Grid
        Raster grid of the analysis.
    classes : mapping
        Output of :func:`barrier_classes`; classes are processed in this order and a cell belongs
        to the first class that claims it.
    max_length_m : float
        Maximum segment length along the centre line (m).

    Returns
    -------
    BarrierSegments
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import rasterize
    from skimage.measure import label as sk_label
    from skimage.morphology import skeletonize

    if not (np.isfinite(max_length_m) and max_length_m > 0):
        raise WerklandInputError(f"max_length_m = {max_length_m!r} must be positive", path="config: barriers")
    H, W = grid.shape
    res = grid.res_m
    t = grid.transform
    seg_raster = np.zeros((H, W), np.int32)
    taken = np.zeros((H, W), bool)
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    lptr, lcells, ldist = [0], [], []
    if landcover is not None and len(landcover) and "class" not in landcover.columns:
        raise WerklandInputError("land cover has no 'class' column", path="landcover.gpkg: landcover")
    for cls, (kind, road_class) in classes.items():
        if landcover is None or not len(landcover):
            break
        sel = landcover.geometry[(landcover["class"] == cls).to_numpy()]
        sel = sel[~sel.is_empty & sel.notna()]
        if not len(sel):
            continue
        mask = rasterize(((g, 1) for g in sel), out_shape=(H, W), transform=t, all_touched=True, dtype="uint8")
        mask = mask.astype(bool) & ~taken
        if not mask.any():
            continue
        taken |= mask
        skel = skeletonize(mask)
        junction = skel & (_LUT[_neighbour_config(skel)] >= 3)
        # drop the junction and its 8 neighbours so the arms do not touch diagonally
        chain = skel & ~ndimage.binary_dilation(junction, structure=np.ones((3, 3), bool))
        if not chain.any():
            chain = skel
        lab = sk_label(chain, connectivity=2)
        flat = np.flatnonzero(chain)
        comp = lab.ravel()[flat]
        ncount = _POPCOUNT[_neighbour_config(chain).ravel()[flat]]
        endpoint = ncount <= 1
        order = np.lexsort((flat, ~endpoint, comp))
        first = np.ones(order.size, bool)
        first[1:] = comp[order][1:] != comp[order][:-1]
        starts = flat[order][first]
        rr = np.where(chain, 1.0, -1.0)
        dist = cn.cost_distance_bounded(rr, np.column_stack([starts // W, starts % W]), res_m=res, nodata=-1.0)
        d = dist.ravel()[flat]
        # pieces
        ncomp = int(comp.max())
        total = np.zeros(ncomp + 1)
        np.maximum.at(total, comp, d)
        total = total + res
        npieces = np.maximum(1, np.ceil(total / max_length_m - 1e-9)).astype(np.int64)
        plen = total / npieces
        piece = np.minimum((d / plen[comp]).astype(np.int64), npieces[comp] - 1)
        key = comp.astype(np.int64) * 100000 + piece
        okey = np.lexsort((d, key))
        ukeys, kstart = np.unique(key[okey], return_index=True)
        kend = np.append(kstart[1:], okey.size)
        base = len(rows)
        seg_of_chain = np.zeros(H * W, np.int32)
        for u, (ks, ke) in enumerate(zip(kstart, kend, strict=True)):
            idx = okey[ks:ke]
            cells, dd = flat[idx], d[idx]
            c_no, p_no = int(ukeys[u] // 100000), int(ukeys[u] % 100000)
            sid = base + u + 1
            seg_of_chain[cells] = sid
            x = t.c + (cells % W + 0.5) * t.a
            y = t.f + (cells // W + 0.5) * t.e
            if cells.size == 1:
                line = shapely.LineString([(x[0] - res / 2, y[0]), (x[0] + res / 2, y[0])])
            else:
                line = shapely.LineString(np.column_stack([x, y]))
            geoms.append(line)
            rows.append(
                {
                    "segment_id": f"{cls}:{c_no:05d}:{p_no:02d}",
                    "kind": kind,
                    "road_class": road_class,
                    "class": cls,
                    "length_m": float(dd.max() - dd.min() + res),
                }
            )
            lcells.append(cells.astype(np.int64))
            ldist.append(dd.astype(np.float64))
            lptr.append(lptr[-1] + cells.size)
        # footprint: every class cell goes to its nearest centre-line piece
        _, (ir, ic) = ndimage.distance_transform_edt(seg_of_chain.reshape(H, W) == 0, return_indices=True)
        nearest = seg_of_chain.reshape(H, W)[ir, ic]
        seg_raster[mask] = nearest[mask]
    table = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["segment_id", "kind", "road_class", "class", "length_m"]),
        geometry=gpd.GeoSeries(geoms, crs=grid.crs.to_wkt()),
    )
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.empty(0, dt))  # noqa: E731
    log.info("barriers: %d segments from %d classes", len(table), len(classes))
    return BarrierSegments(
        table=table,
        raster=seg_raster,
        line_ptr=np.asarray(lptr, np.int64),
        line_cells=cat(lcells, np.int64),
        line_dist=cat(ldist, np.float64),
    )


# =============================================================================================
# Barrier Mapper score
# =============================================================================================


def disk_offsets(radius_m: float, res_m: float) -> np.ndarray:
    """(dr, dc) offsets of the cells whose centres lie within ``radius_m`` of a centre cell."""
    rc = int(math.floor(radius_m / res_m + 1e-9))
    dr, dc = np.mgrid[-rc : rc + 1, -rc : rc + 1]
    keep = np.hypot(dr * res_m, dc * res_m) <= radius_m + 1e-9 * max(res_m, 1.0)
    return np.column_stack([dr[keep], dc[keep]]).astype(np.int64)


def improvement_score(
    cwd_a: np.ndarray,
    cwd_b: np.ndarray,
    lcd: float,
    centre: tuple[int, int],
    *,
    radius_m: float,
    res_m: float,
    base_resistance: float = 1.0,
) -> tuple[float, float]:
    """Barrier Mapper improvement score of one circular window (McRae et al. 2012).

    Parameters
    ----------
    cwd_a, cwd_b : numpy.ndarray
        Cost-distance surfaces from the two patches (cost-weighted m, ``inf`` unreachable).
    lcd : float
        Least-cost distance between the patches.
    centre : tuple of int
        (row, col) of the window centre.
    radius_m : float
        Window radius R (m); the window's cells take ``base_resistance``.
    res_m : float
        Pixel size (m).
    base_resistance : float
        Resistance after restoration.

    Returns
    -------
    per_m : float
        ``max(0, LCD - LCD') / (2 R)`` with ``LCD' = min_window CWD_a + min_window CWD_b +
        2 R base_resistance``: least-cost distance saved per metre restored.
    pct : float
        ``100 per_m / LCD``.
    """
    H, W = cwd_a.shape
    off = disk_offsets(radius_m, res_m)
    r = centre[0] + off[:, 0]
    c = centre[1] + off[:, 1]
    ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    ma = float(np.min(cwd_a[r[ok], c[ok]]))
    mb = float(np.min(cwd_b[r[ok], c[ok]]))
    delta = lcd - (ma + mb + 2.0 * radius_m * base_resistance)
    if not (delta > 0) or not np.isfinite(delta):
        return 0.0, 0.0
    per_m = delta / (2.0 * radius_m)
    return per_m, (100.0 * per_m / lcd if lcd > 0 else 0.0)


_PAIR_CHUNKS = 8  # fixed, so the sums are added in the same order whatever the thread count


def _pair_scores_chunked(
    lp: np.ndarray, lq: np.ndarray, lcd: np.ndarray, pptr: np.ndarray, pgroups: np.ndarray, pvals: np.ndarray,
    probes: _Probes, radii: np.ndarray, rbase: float, width: float, n_seg: int, n_threads: int,
) -> tuple[np.ndarray, ...]:
    """:func:`pair_scores` over fixed chunks of links on threads (the kernel releases the GIL).

    Maxima are combined by maximum and sums in chunk order; corridor memberships are concatenated in
    link order, so the result does not depend on ``n_threads``.
    """
    bounds = np.linspace(0, lp.size, _PAIR_CHUNKS + 1).astype(np.int64)

    def run(c: int) -> tuple[np.ndarray, ...]:
        a, b = int(bounds[c]), int(bounds[c + 1])
        r = pair_scores(lp[a:b], lq[a:b], lcd[a:b], pptr, pgroups, pvals, probes.g_seg, probes.g_type, probes.g_ri,
                         radii, rbase, width, n_seg)
        return (*r[:5], r[5] + a)

    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as ex:
        parts = list(ex.map(run, range(_PAIR_CHUNKS)))
    best_m, sum_m, best_p, sum_p = (p.copy() for p in parts[0][:4])
    for part in parts[1:]:
        np.maximum(best_m, part[0], out=best_m)
        sum_m += part[1]
        np.maximum(best_p, part[2], out=best_p)
        sum_p += part[3]
    cs = np.concatenate([p[4] for p in parts])
    cl = np.concatenate([p[5] for p in parts])
    return best_m, sum_m, best_p, sum_p, cs, cl


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted unique values of an integer array (sort-based; numpy's hash-based unique is several
    times slower on the tens of millions of probe keys of a large region)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def _links_cut(paths: Sequence[np.ndarray], seg_flat: np.ndarray) -> list[tuple[int, int]]:
    """(link index, segment id) for every segment a link's least-cost path crosses, sorted by link."""
    if not paths:
        return []
    lens = np.array([len(p) for p in paths], np.int64)
    cells = np.concatenate([np.asarray(p, np.int64) for p in paths]) if lens.sum() else np.empty(0, np.int64)
    seg = seg_flat[cells].astype(np.int64)
    link = np.repeat(np.arange(len(paths), dtype=np.int64), lens)
    hit = seg > 0
    nseg = int(seg_flat.max()) + 1 if seg_flat.size else 1
    key = _sorted_unique(link[hit] * nseg + seg[hit])
    return list(zip((key // nseg).tolist(), (key % nseg).tolist(), strict=True))


@dataclass
class _Probes:
    cell_slot: np.ndarray
    slot_ptr: np.ndarray
    slot_groups: np.ndarray
    g_seg: np.ndarray
    g_type: np.ndarray
    g_ri: np.ndarray
    n_groups: int


def _build_probes(segs: BarrierSegments, shape: tuple[int, int], res_m: float, radii: Sequence[float]) -> _Probes:
    H, W = shape
    gcells: list[np.ndarray] = []
    gids: list[np.ndarray] = []
    g_seg: list[np.ndarray] = []
    g_type: list[np.ndarray] = []
    g_ri: list[np.ndarray] = []
    ng = 0
    nseg = segs.n
    seg_of_line = np.repeat(np.arange(nseg), np.diff(segs.line_ptr))

    def add(centres: np.ndarray, seg: np.ndarray, off: np.ndarray, typ: int, ri: int) -> None:
        nonlocal ng
        m = centres.size
        if m == 0:
            return
        r = centres[:, None] // W + off[None, :, 0]
        c = centres[:, None] % W + off[None, :, 1]
        gid = ng + np.repeat(np.arange(m)[:, None], off.shape[0], axis=1)
        ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        gcells.append((r * W + c)[ok])
        gids.append(gid[ok])
        g_seg.append(seg.astype(np.int64))
        g_type.append(np.full(m, typ, np.int8))
        g_ri.append(np.full(m, ri, np.int64))
        ng += m

    # disks around centres spaced max(res, R/2) along each centre line
    for ri, R in enumerate(radii):
        spacing = max(res_m, R / 2.0)
        dd = segs.line_dist
        start = np.repeat(np.minimum.reduceat(dd, segs.line_ptr[:-1]) if nseg else np.empty(0), np.diff(segs.line_ptr))
        binno = np.floor((dd - start) / spacing).astype(np.int64)
        key = seg_of_line.astype(np.int64) * (1 << 32) + binno
        _, first = np.unique(key, return_index=True)
        add(segs.line_cells[first], seg_of_line[first], disk_offsets(R, res_m), 0, ri)
    # centre-line cells, one group each (corridor membership)
    add(segs.line_cells, seg_of_line, np.zeros((1, 2), np.int64), 1, 0)
    # footprint dilated by one cell (which patches' searches reach the segment)
    fp = np.flatnonzero(segs.raster.ravel())
    fseg = segs.raster.ravel()[fp].astype(np.int64) - 1
    ring = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)], np.int64)
    r = fp[:, None] // W + ring[None, :, 0]
    c = fp[:, None] % W + ring[None, :, 1]
    ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    tg = ng + np.repeat(fseg[:, None], 9, axis=1)
    gcells.append((r * W + c)[ok])
    gids.append(tg[ok])
    g_seg.append(np.arange(nseg, dtype=np.int64))
    g_type.append(np.full(nseg, 2, np.int8))
    g_ri.append(np.zeros(nseg, np.int64))
    ng += nseg
    cells = np.concatenate(gcells) if gcells else np.empty(0, np.int64)
    groups = np.concatenate(gids) if gids else np.empty(0, np.int64)
    pair = _sorted_unique(cells * np.int64(ng + 1) + groups)
    cells, groups = pair // (ng + 1), pair % (ng + 1)
    first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]]) if cells.size else np.empty(0, np.int64)
    ucell = cells[first]
    cell_slot = np.full(H * W, -1, np.int64)
    cell_slot[ucell] = np.arange(ucell.size)
    slot_ptr = np.append(first, cells.size).astype(np.int64)
    return _Probes(
        cell_slot=cell_slot,
        slot_ptr=slot_ptr,
        slot_groups=groups.astype(np.int64),
        g_seg=np.concatenate(g_seg) if g_seg else np.empty(0, np.int64),
        g_type=np.concatenate(g_type) if g_type else np.empty(0, np.int8),
        g_ri=np.concatenate(g_ri) if g_ri else np.empty(0, np.int64),
        n_groups=ng,
    )


def _patch_searches(
    res: np.ndarray,
    labels: np.ndarray,
    n: int,
    res_m: float,
    bound: float,
    probes: _Probes,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe-group minima of every patch's cost-distance surface (CSR over patches 0..n)."""
    H, W = res.shape
    res_flat = res.ravel()
    lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    cells, ptr = cn.patch_cells(lab_flat, n)
    lens = step_lengths(res_m)
    pool: queue.Queue[Any] = queue.Queue()
    for _ in range(max(1, min(n_threads, n))):
        ws = cn.SearchWorkspace(H * W, n, False)
        ws.gmin = np.full(max(probes.n_groups, 1), np.inf)
        pool.put(ws)
    out: list[Any] = [None] * (n + 1)
    t0 = time.perf_counter()
    step = max(1, n // 10)

    def work(pid: int) -> None:
        ws = pool.get()
        try:
            starts = cells[ptr[pid - 1] : ptr[pid]]
            n_t, ws.touched = dijkstra(
                res_flat, H, W, lens, starts, np.zeros(starts.size), bound, ws.cum, ws.pred, ws.touched, ws.cum, 0.0, False
            )
            out[pid] = probe_mins(ws.cum, ws.touched, n_t, bound, probes.cell_slot, probes.slot_ptr, probes.slot_groups, ws.gmin)
            reset_search(ws.cum, ws.pred, ws.touched, n_t)
        finally:
            pool.put(ws)
        if pid % step == 0:
            log.info("barriers: %d/%d patch surfaces (%.1f/s)", pid, n, pid / max(time.perf_counter() - t0, 1e-9))

    if n:
        with ThreadPoolExecutor(max_workers=max(1, n_threads)) as ex:
            list(ex.map(work, range(1, n + 1)))
    # one table (CSR over patches), filled piece by piece while each patch's arrays are released, so
    # the peak is the table, not the table plus its pieces
    pptr = np.zeros(n + 2, np.int64)
    pptr[2:] = np.cumsum([out[p][0].size for p in range(1, n + 1)])
    groups = np.empty(int(pptr[-1]), np.int32)
    vals = np.empty(int(pptr[-1]), np.float64)
    for p in range(1, n + 1):
        groups[pptr[p] : pptr[p + 1]], vals[pptr[p] : pptr[p + 1]] = out[p]
        out[p] = None
    return pptr, groups, vals


# =============================================================================================
# Network gain of a mitigated segment
# =============================================================================================


def mitigation_gain(
    res: np.ndarray,
    labels: np.ndarray,
    footprint: np.ndarray,
    affected: np.ndarray,
    state: cn.GraphState,
    *,
    res_m: float,
    max_cost: float,
    passage_resistance: float,
    n_threads: int = 2,
    method: str = "auto",
    pc_tolerance: float = 0.0,
) -> cn.LinkChangeResult:
    """ECA / PC after setting a footprint to the fauna-passage resistance (exact, incremental).

    Parameters
    ----------
    res : numpy.ndarray
        Resistance from :func:`werkland.connectivity.prepare_resistance`; modified in place during
        the call and restored before it returns.
    labels : numpy.ndarray
        Patch-id raster (ids 1..n, node ``i`` of ``state`` is patch ``i + 1``).
    footprint : numpy.ndarray
        Flat indices of the cells that change.
    affected : numpy.ndarray
        Patch ids whose bounded search reaches the footprint or its neighbours (only pairs of
        these can change; :func:`run_barriers` derives them from the searches). Pass all patch ids
        when unknown.
    state : werkland.connectivity.GraphState
        Baseline graph (node weights, links, APSP).
    res_m, max_cost : float
        Pixel size (m) and link bound (cost-weighted m).
    passage_resistance : float
        Resistance of the footprint after mitigation.
    n_threads : int
        Worker threads for the bounded searches.
    method : {"auto", "patches", "footprint"}
        Recompute from the affected patches (one search each but the last) or from each footprint
        cell (``d'(p, q) = min(d, min_x d'(x, p) + d'(x, q))``); ``auto`` picks the fewer searches.
    pc_tolerance : float
        Passed to :func:`werkland.connectivity.eca_after_link_change` (0 = exact).

    Returns
    -------
    werkland.connectivity.LinkChangeResult
    """
    H, W = res.shape
    res_flat = res.reshape(-1)
    footprint = np.unique(np.asarray(footprint, np.int64))
    A = np.unique(np.asarray(affected, np.int64))
    if A.size < 2 or footprint.size == 0:
        return cn.eca_after_link_change(state, [])
    n = state.areas_ha.size
    lab_flat = np.ascontiguousarray(labels, dtype=np.int64).ravel()
    cells, ptr = cn.patch_cells(lab_flat, n)
    lens = step_lengths(res_m)
    in_a = np.zeros(n + 1, bool)
    in_a[A] = True
    if method == "auto":
        method = "footprint" if footprint.size < A.size - 1 else "patches"
    saved = res_flat[footprint].copy()
    pool: queue.Queue[Any] = queue.Queue()
    for _ in range(max(1, n_threads)):
        pool.put(cn.SearchWorkspace(H * W, n, False))

    def search(starts: np.ndarray, src: int) -> tuple[np.ndarray, np.ndarray]:
        ws = pool.get()
        try:
            n_t, ws.touched = dijkstra(
                res_flat, H, W, lens, starts, np.zeros(starts.size), float(max_cost), ws.cum, ws.pred, ws.touched, ws.cum, 0.0, False
            )
            found, costs, _ = collect_targets(ws.cum, lab_flat, ws.touched, n_t, src, float(max_cost), ws.best_cost, ws.best_cell)
            reset_search(ws.cum, ws.pred, ws.touched, n_t)
        finally:
            pool.put(ws)
        keep = in_a[found]
        return found[keep], costs[keep]

    new: dict[tuple[int, int], float] = {}
    try:
        res_flat[footprint] = float(passage_resistance)
        with ThreadPoolExecutor(max_workers=max(1, n_threads)) as ex:
            if method == "patches":
                jobs = list(A[:-1])
                outs = list(ex.map(lambda p: search(cells[ptr[p - 1] : ptr[p]], int(p)), jobs))
                for p, (found, costs) in zip(jobs, outs, strict=True):
                    for q, c in zip(found, costs, strict=True):
                        if q > p:
                            key = (int(p), int(q))
                            new[key] = min(new.get(key, math.inf), float(c))
            else:
                outs = list(ex.map(lambda x: search(np.array([x], np.int64), -1), footprint))
                for found, costs in outs:
                    for a_ in range(found.size):
                        for b_ in range(a_ + 1, found.size):
                            c = float(costs[a_] + costs[b_])
                            if c <= max_cost:
                                key = (int(found[a_]), int(found[b_]))
                                new[key] = min(new.get(key, math.inf), c)
    finally:
        res_flat[footprint] = saved
    changes = []
    if new:
        # current cost of each re-searched pair (inf = no link), from the state's sorted link index
        pairs = np.array(list(new), np.int64) - 1
        rows = state.link_rows(pairs[:, 0], pairs[:, 1])
        cur = np.where(rows >= 0, state.cost[np.maximum(rows, 0)], np.inf)
        changes = [(int(a), int(b), float(c)) for a, b, c, o in zip(pairs[:, 0], pairs[:, 1], new.values(), cur, strict=True)
                   if c < o]
    return cn.eca_after_link_change(state, changes, pc_tolerance=pc_tolerance, with_state=False)


# =============================================================================================
# Pipeline
# =============================================================================================


def _radius_label(R: float) -> str:
    return str(int(R)) if float(R).is_integer() else str(R).replace(".", "_")


def _empty_output(radii: Sequence[float], crs: Any) -> Any:
    import geopandas as gpd

    cols: dict[str, Any] = {
        "segment_id": pd.Series([], dtype=str),
        "kind": pd.Series([], dtype=str),
        "road_class": pd.Series([], dtype=str),
        "class": pd.Series([], dtype=str),
        "length_m": pd.Series([], dtype=float),
        "links_cut": pd.Series([], dtype=str),
        "links_cut_p": pd.Series([], dtype=str),
        "n_links_cut": pd.Series([], dtype="int64"),
        "in_corridor": pd.Series([], dtype=bool),
        "matters": pd.Series([], dtype=bool),
    }
    for R in radii:
        lab = _radius_label(R)
        for c in (f"score_per_m_{lab}", f"score_pct_{lab}", f"score_per_m_sum_{lab}", f"score_pct_sum_{lab}"):
            cols[c] = pd.Series([], dtype=float)
    for c in ("dECA_ha", "dECA_pct", "dPC"):
        cols[c] = pd.Series([], dtype=float)
    cols["gain_evaluated"] = pd.Series([], dtype=bool)
    cols["rank"] = pd.Series([], dtype="int64")
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _read_links(links_gpkg: Any, shape: tuple[int, int], transform: Any) -> tuple[pd.DataFrame, list[np.ndarray]]:
    import geopandas as gpd

    from werkland.raster import io as wio

    try:
        lg = gpd.read_file(links_gpkg, layer="links")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"cannot read layer 'links' ({exc})", path=str(links_gpkg), fix="re-run connectivity") from exc
    for col in ("from_id", "to_id", "cost_distance"):
        if col not in lg.columns:
            raise WerklandInputError(f"links layer has no column {col!r}", path=str(links_gpkg))
    if "link_id" not in lg.columns:
        lg["link_id"] = np.arange(1, len(lg) + 1)
    paths = wio.line_cells(lg.geometry.values, shape, transform)
    return pd.DataFrame(lg.drop(columns="geometry")), paths


def run_barriers(
    landcover_gpkg: str | os.PathLike[str],
    resistance_path: str | os.PathLike[str],
    patches_tif: str | os.PathLike[str],
    links_gpkg: str | os.PathLike[str],
    summary_json: str | os.PathLike[str],
    out_gpkg: str | os.PathLike[str],
    *,
    guild: str,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Find, score and rank the barrier segments of one guild; write ``barriers/{guild}.gpkg``.

    Parameters
    ----------
    landcover_gpkg : path-like
        ``landcover.gpkg`` (layer ``landcover``, column ``class``).
    resistance_path : path-like
        ``resistance/{guild}.tif`` (nodata -1 = impassable).
    patches_tif : path-like
        ``patches/{guild}.tif``; node weights come from the sibling ``patches/{guild}.gpkg``
        (``quality_ha``) or ``params["patches_gpkg"]``.
    links_gpkg : path-like
        ``graph/{guild}_links.gpkg`` (layer ``links``).
    summary_json : path-like
        ``graph/{guild}_summary.json`` (``k_per_m``, ``max_cost_distance``, ``corridor_width``,
        ``landscape_area_ha``).
    out_gpkg : path-like
        Output GeoPackage: layer ``barriers`` (one row per segment) and layer ``info`` (parameters
        and warnings).
    guild : str
        Guild name.
    params : mapping
        ``max_length_m`` (alias ``max_segment_m``, 100), ``radii_m`` ([20, 50, 100]), ``top_n`` (50),
        ``base_resistance`` (resistance of a restored window, default the raster's minimum),
        ``passage_resistance`` (resistance of a mitigated segment, default ``base_resistance``),
        ``barrier_classes``, ``barrier_resistance_threshold`` and ``resistance`` (see
        :func:`barrier_classes`), ``corridor_width`` (default from the summary), ``n_threads`` (2),
        ``patches_gpkg``.

    Returns
    -------
    dict
        Counts, parameters, timings and warnings (also written to layer ``info``).
    """
    import geopandas as gpd

    from werkland.raster import io as wio

    t0 = time.perf_counter()
    warnings: list[str] = []
    radii = [float(r) for r in params.get("radii_m", DEFAULT_RADII_M)]
    if not radii or any(not (r > 0) for r in radii):
        raise WerklandInputError(f"radii_m {radii} must be positive", path=f"config: barriers ({guild})")
    max_len = float(params.get("max_length_m", params.get("max_segment_m", 100.0)))
    top_n = int(params.get("top_n", 50))
    n_threads = int(params.get("n_threads", min(2, os.cpu_count() or 1)))
    try:
        summary = json.loads(Path(summary_json).read_text())
    except (OSError, ValueError) as exc:
        raise WerklandInputError(f"cannot read summary ({exc})", path=str(summary_json), fix="re-run connectivity") from exc
    k = float(summary["k_per_m"])
    max_cost = float(summary.get("max_cost_distance", -math.log(cn.P_FLOOR_DEFAULT) / k))
    width = float(params.get("corridor_width", summary.get("corridor_width", summary.get("d0_m", 0.0))))
    # network gains to the connectivity stage's tolerance (its summary), unless set here
    pc_tol = float(params.get("pc_tolerance", summary.get("metrics_tolerance", 0.0)))
    A_L = float(summary.get("landscape_area_ha", 1.0)) or 1.0

    res_raw, grid, r_nodata = wio.read_raster(resistance_path)
    res = cn.prepare_resistance(res_raw, r_nodata)
    labels, lgrid, _ = wio.read_raster(patches_tif)
    if labels.shape != res.shape:
        raise WerklandInputError("patch raster and resistance raster differ in shape", path=str(patches_tif))
    labels = labels.astype(np.int64)
    n = int(labels.max()) if labels.size else 0
    finite = res[np.isfinite(res)]
    rbase = float(params.get("base_resistance", finite.min() if finite.size else 1.0))
    passage = float(params.get("passage_resistance", rbase))
    res_m = grid.res_m
    crs_wkt = grid.crs.to_wkt()

    # node weights
    pg_path = params.get("patches_gpkg") or Path(patches_tif).with_suffix(".gpkg")
    if Path(pg_path).exists():
        pt = gpd.read_file(pg_path, layer="patches").sort_values("patch_id")
        areas = np.zeros(n)
        areas[pt["patch_id"].to_numpy(np.int64) - 1] = pt["quality_ha"].to_numpy(np.float64)
    else:
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:] * grid.cell_area_m2 / 1e4
        warnings.append("patches gpkg not found: node weights = patch area (not quality-weighted)")

    # segments
    try:
        lc = gpd.read_file(landcover_gpkg, layer="landcover")
    except Exception as exc:  # noqa: BLE001
        raise WerklandInputError(f"cannot read layer 'landcover' ({exc})", path=str(landcover_gpkg)) from exc
    if len(lc) and lc.crs is not None and not lc.crs.equals(crs_wkt):
        lc = lc.to_crs(crs_wkt)
    classes = barrier_classes({**params})
    segs = segment_barriers(lc, grid, classes, max_length_m=max_len)
    m = segs.n
    info: dict[str, Any] = {
        "guild": guild,
        "n_segments": m,
        "radii_m": radii,
        "max_length_m": max_len,
        "top_n": top_n,
        "base_resistance": rbase,
        "passage_resistance": passage,
        "corridor_width": width,
        "max_cost_distance": max_cost,
        "barrier_classes": list(classes),
    }
    links, paths = _read_links(links_gpkg, res.shape, grid.transform)
    wio.release_free_memory()  # the heap of the link and land-cover geometries, before the probe table
    if m == 0:
        warnings.append(f"no barrier segments: the land cover has none of the classes {list(classes)}")
    if len(links) == 0:
        warnings.append("the guild's graph has no links: no segment can cut a corridor; scores and gains are 0")

    out = _empty_output(radii, crs_wkt)
    if m:
        tab = segs.table.copy()
        # links cut (least-cost path crosses the footprint)
        seg_flat = segs.raster.ravel()
        cut_sets: list[list[int]] = [[] for _ in range(m)]
        cut_p: list[list[float]] = [[] for _ in range(m)]
        pdir = links["p_direct"].to_numpy() if "p_direct" in links.columns else np.exp(-k * links["cost_distance"].to_numpy())
        link_ids = links["link_id"].to_numpy(np.int64)
        for e, s in _links_cut(paths, seg_flat):
            cut_sets[s - 1].append(int(link_ids[e]))
            cut_p[s - 1].append(float(pdir[e]))
        tab["links_cut"] = [",".join(map(str, c)) for c in cut_sets]
        tab["links_cut_p"] = [",".join(f"{p:.4g}" for p in ps) for ps in cut_p]
        tab["n_links_cut"] = np.array([len(c) for c in cut_sets], np.int64)
        # per-patch surfaces -> probe minima
        t1 = time.perf_counter()
        probes = _build_probes(segs, res.shape, res_m, radii)
        pptr, pgroups, pvals = _patch_searches(res, labels, n, res_m, max_cost + width, probes, n_threads)
        info["timing_surfaces_s"] = round(time.perf_counter() - t1, 3)
        lp = links["from_id"].to_numpy(np.int64)
        lq = links["to_id"].to_numpy(np.int64)
        lcd = links["cost_distance"].to_numpy(np.float64)
        best_m, sum_m, best_p, sum_p, cs, cl = _pair_scores_chunked(
            lp, lq, lcd, pptr, pgroups, pvals, probes, np.asarray(radii, np.float64), rbase, width, m, n_threads
        )
        for ri, R in enumerate(radii):
            lab = _radius_label(R)
            tab[f"score_per_m_{lab}"] = best_m[:, ri]
            tab[f"score_pct_{lab}"] = best_p[:, ri]
            tab[f"score_per_m_sum_{lab}"] = sum_m[:, ri]
            tab[f"score_pct_sum_{lab}"] = sum_p[:, ri]
        in_corr = np.zeros(m, bool)
        in_corr[cs] = True
        tab["in_corridor"] = in_corr
        tab["matters"] = in_corr | (tab["n_links_cut"].to_numpy() > 0)
        # affected patches per segment (search reached the dilated footprint within max_cost)
        touch_seg: list[list[int]] = [[] for _ in range(m)]
        sel = np.flatnonzero((probes.g_type[pgroups] == 2) & (pvals <= max_cost))
        owner = np.searchsorted(pptr, sel, side="right") - 1  # patch of each selected entry
        for g, p in zip(pgroups[sel], owner, strict=True):
            touch_seg[int(probes.g_seg[g])].append(int(p))
        del pgroups, pvals, probes, sel, owner  # the probe table is not needed for the network gains
        # network gain of the top segments
        state = cn.GraphState.build(areas, (lp - 1, lq - 1, lcd), k, A_L)
        score_key = best_m.max(axis=1)
        cand = np.lexsort((tab["segment_id"].to_numpy(), -tab["n_links_cut"].to_numpy(), -score_key, ~tab["matters"].to_numpy()))
        matters = tab["matters"].to_numpy(bool)
        cand = [int(s) for s in cand if matters[s]][:top_n]
        seg_cells_order = np.argsort(seg_flat, kind="stable")
        seg_ptr = np.searchsorted(seg_flat[seg_cells_order], np.arange(1, m + 2))
        deca = np.zeros(m)
        deca_pct = np.zeros(m)
        dpc = np.zeros(m)
        evaluated = np.zeros(m, bool)
        t2 = time.perf_counter()
        for c_i, s in enumerate(cand):
            fp_cells = seg_cells_order[seg_ptr[s] : seg_ptr[s + 1]]
            r = mitigation_gain(
                res, labels, fp_cells, np.asarray(touch_seg[s], np.int64), state,
                res_m=res_m, max_cost=max_cost, passage_resistance=passage, n_threads=n_threads,
                pc_tolerance=pc_tol,
            )
            deca[s], deca_pct[s], dpc[s] = r.dECA_ha, r.dECA_pct, r.dPC_pct
            evaluated[s] = True
            if (c_i + 1) % 10 == 0:
                log.info("barriers: %d/%d network gains (%.2f/s)", c_i + 1, len(cand), (c_i + 1) / (time.perf_counter() - t2))
        info["timing_gains_s"] = round(time.perf_counter() - t2, 3)
        tab["dECA_ha"] = deca
        tab["dECA_pct"] = deca_pct
        tab["dPC"] = dpc
        tab["gain_evaluated"] = evaluated
        order = np.lexsort((tab["segment_id"].to_numpy(), -score_key, -deca))
        rank = np.empty(m, np.int64)
        rank[order] = np.arange(1, m + 1)
        tab["rank"] = rank
        out = gpd.GeoDataFrame(tab[list(_empty_output(radii, crs_wkt).columns.drop("geometry"))], geometry=tab.geometry, crs=crs_wkt)
        out = out.sort_values("rank").reset_index(drop=True)
        n_matter = int(tab["matters"].sum())
        info["n_matter"] = n_matter
        info["n_gain_evaluated"] = int(evaluated.sum())
        if n_matter == 0 and len(links):
            warnings.append("no barrier segment intersects a corridor or link of this guild")
    info["warnings"] = warnings
    info["timing_total_s"] = round(time.perf_counter() - t0, 3)
    wio.write_gpkg(out, out_gpkg, "barriers")
    info_tab = gpd.GeoDataFrame(
        {"key": list(info), "value": [json.dumps(v, default=float) for v in info.values()]},
        geometry=gpd.GeoSeries([None] * len(info), crs=crs_wkt),
        crs=crs_wkt,
    )
    wio.write_gpkg(info_tab, out_gpkg, "info", mode="a")
    for w in warnings:
        log.warning("%s: %s", guild, w)
    log.info("%s: %d barrier segments scored in %.1f s", guild, m, time.perf_counter() - t0)
    return info


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

    Parameters
    ----------
    paths : mapping
        guild -> ``barriers/{guild}.gpkg``.
    weights : mapping
        guild -> weight >= 0 (missing guilds weigh 1).
    out_gpkg : path-like
        ``barriers/all_guilds.gpkg`` (layer ``barriers``).

    Returns
    -------
    geopandas.GeoDataFrame
    """
    import geopandas as gpd

    from werkland.raster import io as wio

    frames = []
    crs = None
    wsum = 0.0
    for guild in sorted(paths):
        g = gpd.read_file(paths[guild], layer="barriers")
        w = float(weights.get(guild, 1.0))
        if w < 0 or not np.isfinite(w):
            raise WerklandInputError(f"guild weight {w!r} must be >= 0", path=f"config: barriers.weights.{guild}")
        wsum += w
        crs = crs or g.crs
        score_cols = [c for c in g.columns if c.startswith("score_per_m_") and "_sum_" not in c]
        score = g[score_cols].max(axis=1).to_numpy() if score_cols and len(g) else np.zeros(len(g))
        deca = g["dECA_ha"].to_numpy(float) if len(g) else np.zeros(0)
        if len(g) and np.nanmax(deca) > 0:
            val = np.clip(deca, 0, None) / np.nanmax(deca)
        elif len(g) and np.nanmax(score) > 0:
            val = score / np.nanmax(score)
        else:
            val = np.zeros(len(g))
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
                }
            )
        )
    if not frames:
        raise WerklandInputError("no guild barrier layers to combine", path="config: guilds")
    base = pd.concat([f[["segment_id", "kind", "road_class", "length_m", "geometry"]] for f in frames])
    base = base.drop_duplicates("segment_id").set_index("segment_id")
    multi = np.zeros(len(base))
    for guild, f in zip(sorted(paths), frames, strict=True):
        f = f.set_index("segment_id")
        for col in (f"value_{guild}", f"rank_{guild}", f"dECA_ha_{guild}"):
            base[col] = f[col].reindex(base.index)
        v = base[f"value_{guild}"].fillna(0.0).to_numpy()
        multi += float(weights.get(guild, 1.0)) * v
    base["multi_score"] = multi / wsum if wsum > 0 else 0.0
    base = base.reset_index()
    order = np.lexsort((base["segment_id"].to_numpy(), -base["multi_score"].to_numpy()))
    rank = np.empty(len(base), np.int64)
    rank[order] = np.arange(1, len(base) + 1)
    base["multi_rank"] = rank
    out = gpd.GeoDataFrame(base.drop(columns="geometry"), geometry=gpd.GeoSeries(base["geometry"], crs=crs), crs=crs)
    out = out.sort_values("multi_rank").reset_index(drop=True)
    wio.write_gpkg(out, out_gpkg, "barriers")
    return out
