"""Barrier Mapper improvement scores (McRae et al. 2012) and the links each segment cuts.

For a circular window of radius R centred on a segment (centres every max(res, R/2) along the
centre line), restoring the window to the base resistance gives
``LCD' = min_disk CWD_p + min_disk CWD_q + 2 R r_base``; ``score_per_m = (LCD - LCD') / (2 R)`` and
``score_pct = 100 score_per_m / LCD`` (percent of the original least-cost distance per metre
restored). The per-patch cost-distance surfaces are computed once (bounded searches) and reduced to
their minima over *probe groups* (the windows, the centre-line cells and the dilated footprints);
the pair scores of all links then come from these minima, with no search per window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from werkland._kernels.barrier_scores import (
    count_cells,
    pair_scores,
    scatter_groups,
    sort_unique_per_cell,
    window_cells,
)
from werkland.barriers.segments import BarrierSegments, disk_offsets
from werkland.connectivity import CellGroups, GroupMinima

log = logging.getLogger(__name__)

#: Probe group kinds: restoration windows, centre-line cells, dilated footprints.
GROUP_WINDOW, GROUP_LINE, GROUP_FOOTPRINT = 0, 1, 2

#: Links are scored in this many chunks, fixed so the sums are added in the same order whatever
#: the thread count.
PAIR_CHUNKS = 8


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


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted unique values of an integer array.

    Sort-based: numpy's hash-based unique is several times slower on the tens of millions of probe
    keys of a large region.
    """
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def links_cut(paths: Sequence[np.ndarray], seg_flat: np.ndarray) -> list[tuple[int, int]]:
    """(link index, segment id) for every segment a link's least-cost path crosses, sorted by link.

    Parameters
    ----------
    paths : sequence of numpy.ndarray
        Flat cell indices of each link's least-cost path.
    seg_flat : numpy.ndarray
        Flattened segment raster (segment index + 1, 0 = none).
    """
    if not paths:
        return []
    lens = np.array([len(p) for p in paths], np.int64)
    cells = np.concatenate([np.asarray(p, np.int64) for p in paths]) if lens.sum() else np.empty(0, np.int64)
    seg = seg_flat[cells].astype(np.int64)
    link = np.repeat(np.arange(len(paths), dtype=np.int64), lens)
    hit = seg > 0
    nseg = int(seg_flat.max()) + 1 if seg_flat.size else 1
    key = sorted_unique(link[hit] * nseg + seg[hit])
    return list(zip((key // nseg).tolist(), (key % nseg).tolist(), strict=True))


@dataclass
class Probes:
    """Probe groups: sets of cells over which each patch's cost-distance minimum is kept.

    Attributes
    ----------
    cell_slot : numpy.ndarray
        Slot of each raster cell (-1 = in no group).
    slot_ptr, slot_groups : numpy.ndarray
        Groups of slot ``s``: ``slot_groups[slot_ptr[s]:slot_ptr[s+1]]``.
    g_seg, g_type, g_ri : numpy.ndarray
        Segment, kind (``GROUP_WINDOW``, ``GROUP_LINE``, ``GROUP_FOOTPRINT``) and radius index of
        each group.
    n_groups : int
        Number of groups.
    """

    cell_slot: np.ndarray
    slot_ptr: np.ndarray
    slot_groups: np.ndarray
    g_seg: np.ndarray
    g_type: np.ndarray
    g_ri: np.ndarray
    n_groups: int

    def cell_groups(self) -> CellGroups:
        """The groups' cells, for the per-patch minima (:mod:`werkland.connectivity.minima`)."""
        return CellGroups(self.cell_slot, self.slot_ptr, self.slot_groups, self.n_groups)


class _GroupTable:
    """Groups collected kind by kind: their (cell, group) pairs and per-group attributes."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.cells: list[np.ndarray] = []
        self.gids: list[np.ndarray] = []
        self.g_seg: list[np.ndarray] = []
        self.g_type: list[np.ndarray] = []
        self.g_ri: list[np.ndarray] = []
        self.n = 0

    def add_windows(self, centres: np.ndarray, seg: np.ndarray, off: np.ndarray, typ: int, ri: int) -> None:
        """One group per centre: the cells at ``off`` around it (clipped to the raster)."""
        H, W = self.shape
        m = centres.size
        if m == 0:
            return
        offs = np.ascontiguousarray(off, dtype=np.int64)
        cells = np.empty(m * offs.shape[0], np.int64)
        gids = np.empty(m * offs.shape[0], np.int64)
        k = window_cells(np.ascontiguousarray(centres, dtype=np.int64), offs, H, W, self.n, cells, gids)
        self.cells.append(cells[:k])
        self.gids.append(gids[:k])
        self.g_seg.append(seg.astype(np.int64))
        self.g_type.append(np.full(m, typ, np.int8))
        self.g_ri.append(np.full(m, ri, np.int64))
        self.n += m

    def add_footprints(self, raster: np.ndarray, nseg: int) -> None:
        """One group per segment: its footprint dilated by one cell."""
        H, W = self.shape
        fp = np.flatnonzero(raster.ravel())
        fseg = raster.ravel()[fp].astype(np.int64) - 1
        ring = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)], np.int64)
        r = fp[:, None] // W + ring[None, :, 0]
        c = fp[:, None] % W + ring[None, :, 1]
        ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        tg = self.n + np.repeat(fseg[:, None], 9, axis=1)
        self.cells.append((r * W + c)[ok])
        self.gids.append(tg[ok])
        self.g_seg.append(np.arange(nseg, dtype=np.int64))
        self.g_type.append(np.full(nseg, GROUP_FOOTPRINT, np.int8))
        self.g_ri.append(np.zeros(nseg, np.int64))
        self.n += nseg

    def to_probes(self) -> Probes:
        """Cell -> groups index (CSR over the cells in any group); consumes the collected pairs."""
        H, W = self.shape
        cell_slot, slot_ptr, slot_groups = cell_group_index(self.cells, self.gids, self.n, H * W)
        return Probes(
            cell_slot=cell_slot,
            slot_ptr=slot_ptr,
            slot_groups=slot_groups,
            g_seg=np.concatenate(self.g_seg) if self.g_seg else np.empty(0, np.int64),
            g_type=np.concatenate(self.g_type) if self.g_type else np.empty(0, np.int8),
            g_ri=np.concatenate(self.g_ri) if self.g_ri else np.empty(0, np.int64),
            n_groups=self.n,
        )


def cell_group_index(cells: list[np.ndarray], groups: list[np.ndarray], n_groups: int,
                     n_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of (cell, group) pairs by cell: the groups of each cell, sorted and without repeats.

    The pairs are the bulk of the barrier stage's memory on a large region (tens of millions at
    16 M cells), so the lists are consumed: the pairs are counted per cell, then each piece's
    groups are placed at their cell's place in one int32 array and the piece is released; each
    cell's groups are then sorted and their repeats dropped in place. The same result as sorting
    the unique keys ``cell * (n_groups + 1) + group`` (the earlier code: 1.2 s of sorting for a guild
    at 4 M cells), in time linear in the pairs, and with half the bytes per pair.

    Parameters
    ----------
    cells, groups : list of numpy.ndarray
        Pieces of the pairs' cells (flat raster index) and groups (``0..n_groups-1``), emptied here.
    n_groups : int
        Number of groups.
    n_cells : int
        Raster cells (``H * W``).

    Returns
    -------
    tuple
        ``cell_slot`` (slot of each raster cell, -1 = in no group), ``slot_ptr`` and ``slot_groups``
        (the groups of slot ``s`` are ``slot_groups[slot_ptr[s]:slot_ptr[s + 1]]``).
    """
    # a counting sort by cell (two passes over the pieces, each piece released after the second),
    # then each cell's groups sorted and their repeats dropped in place: linear in the pairs, and
    # the largest temporary is the groups themselves (int32), not an int64 key per pair
    n_pairs = sum(c.size for c in cells)
    starts = np.zeros(n_cells + 2, np.int64)
    for c in cells:
        count_cells(np.ascontiguousarray(c, dtype=np.int64), starts)
    np.cumsum(starts, out=starts)
    out = np.empty(n_pairs, _index_dtype(n_groups))
    while cells:
        c, g = cells.pop(0), groups.pop(0)
        scatter_groups(np.ascontiguousarray(c, dtype=np.int64), g, starts, out)
        del c, g
    ptr = starts[:n_cells + 1]  # ptr[c]: where cell c's groups start in ``out``
    n_slots = int(np.count_nonzero(ptr[1:] != ptr[:-1]))
    cell_slot = np.full(n_cells, -1, _index_dtype(n_slots))
    slot_ptr = np.empty(n_slots + 1, np.int64)
    sort_unique_per_cell(ptr, out, cell_slot, slot_ptr)
    del starts, ptr
    return cell_slot, slot_ptr, out[:slot_ptr[-1]].copy()


def _index_dtype(n: int) -> type[np.signedinteger]:
    """int32 for indices below ``n`` when ``n`` fits, else int64."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def build_probes(segs: BarrierSegments, shape: tuple[int, int], res_m: float, radii: Sequence[float]) -> Probes:
    """Probe groups of the segments: restoration windows per radius, centre-line cells, footprints.

    Parameters
    ----------
    segs : BarrierSegments
        The segments.
    shape : tuple of int
        Raster shape.
    res_m : float
        Pixel size (m).
    radii : sequence of float
        Window radii (m); window centres are spaced ``max(res_m, R / 2)`` along each centre line.
    """
    nseg = segs.n
    table = _GroupTable(shape)
    seg_of_line = np.repeat(np.arange(nseg), np.diff(segs.line_ptr))
    dd = segs.line_dist
    for ri, R in enumerate(radii):
        spacing = max(res_m, R / 2.0)
        start = np.repeat(np.minimum.reduceat(dd, segs.line_ptr[:-1]) if nseg else np.empty(0), np.diff(segs.line_ptr))
        binno = np.floor((dd - start) / spacing).astype(np.int64)
        key = seg_of_line.astype(np.int64) * (1 << 32) + binno
        _, first = np.unique(key, return_index=True)
        table.add_windows(segs.line_cells[first], seg_of_line[first], disk_offsets(R, res_m), GROUP_WINDOW, ri)
    # centre-line cells, one group each (corridor membership)
    table.add_windows(segs.line_cells, seg_of_line, np.zeros((1, 2), np.int64), GROUP_LINE, 0)
    # footprint dilated by one cell (which patches' searches reach the segment)
    table.add_footprints(segs.raster, nseg)
    return table.to_probes()


def search_bounds(n: int, lp: np.ndarray, lq: np.ndarray, lcd: np.ndarray, max_cost: float, width: float) -> np.ndarray:
    """Smallest search bound of each patch that leaves the barrier scores unchanged.

    A patch's cost surface is read (a) by the windows of a link only where it is below the link's
    least-cost distance ``L`` (otherwise ``LCD' >= L`` and the score is 0), (b) by the corridor test
    of a centre-line cell only where it is at most ``L + width``, and (c) by the reaching test of a
    footprint only up to ``max_cost``. So patch ``p`` needs its surface up to ``max(max_cost,
    L_p + width)``, ``L_p`` the largest least-cost distance of its links, plus a relative margin of
    1e-9 against rounding; never more than ``max_cost + width``. Searches bounded this way give the
    same probe minima wherever they can matter.

    Parameters
    ----------
    n : int
        Number of patches.
    lp, lq, lcd : numpy.ndarray
        Patch ids (1-based) and least-cost distance of each link.
    max_cost, width : float
        Link bound and corridor width (cost-weighted m).

    Returns
    -------
    numpy.ndarray
        float64 bound per patch id (index 0 unused).
    """
    lmax = np.full(n + 1, -np.inf)
    if lcd.size:
        np.maximum.at(lmax, np.asarray(lp, np.int64), np.asarray(lcd, np.float64))
        np.maximum.at(lmax, np.asarray(lq, np.int64), np.asarray(lcd, np.float64))
    full = float(max_cost) + float(width)
    need = (lmax + float(width)) * (1.0 + 1e-9)
    return np.minimum(full, np.maximum(float(max_cost), need))


class PairScores(NamedTuple):
    """Improvement scores of the segments over all linked patch pairs.

    ``best_m``, ``sum_m``, ``best_p``, ``sum_p`` are (segments, radii): the max and the sum over pairs
    of the per-metre and percent scores. ``corridor_seg`` / ``corridor_link`` list the (segment,
    link index) pairs where a centre-line cell lies within the corridor width of the link.
    """

    best_m: np.ndarray
    sum_m: np.ndarray
    best_p: np.ndarray
    sum_p: np.ndarray
    corridor_seg: np.ndarray
    corridor_link: np.ndarray


def pair_scores_chunked(
    lp: np.ndarray, lq: np.ndarray, lcd: np.ndarray, minima: GroupMinima, probes: Probes, radii: np.ndarray,
    rbase: float, width: float, n_seg: int, n_threads: int,
) -> PairScores:
    """The compiled pair-score kernel over ``PAIR_CHUNKS`` fixed chunks of links on threads.

    The kernel releases the GIL. Maxima are combined by maximum and sums in chunk order; corridor
    memberships are concatenated in link order, so the result does not depend on ``n_threads``.

    Parameters
    ----------
    lp, lq, lcd : numpy.ndarray
        Patch ids (1-based) and least-cost distance of each link.
    minima : GroupMinima
        From :func:`~werkland.connectivity.search_group_minima`.
    probes : Probes
        The probe groups.
    radii : numpy.ndarray
        Window radii (m).
    rbase : float
        Resistance of a restored window.
    width : float
        Corridor width (cost-weighted m).
    n_seg : int
        Number of segments.
    n_threads : int
        Worker threads.
    """
    bounds = np.linspace(0, lp.size, PAIR_CHUNKS + 1).astype(np.int64)

    def run(c: int) -> tuple[np.ndarray, ...]:
        a, b = int(bounds[c]), int(bounds[c + 1])
        r = pair_scores(lp[a:b], lq[a:b], lcd[a:b], minima.ptr, minima.groups, minima.vals, probes.g_seg,
                        probes.g_type, probes.g_ri, radii, rbase, width, n_seg)
        return (*r[:5], r[5] + a)

    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as ex:
        parts = list(ex.map(run, range(PAIR_CHUNKS)))
    best_m, sum_m, best_p, sum_p = (p.copy() for p in parts[0][:4])
    for part in parts[1:]:
        np.maximum(best_m, part[0], out=best_m)
        sum_m += part[1]
        np.maximum(best_p, part[2], out=best_p)
        sum_p += part[3]
    cs = np.concatenate([p[4] for p in parts])
    cl = np.concatenate([p[5] for p in parts])
    return PairScores(best_m, sum_m, best_p, sum_p, cs, cl)


def patches_reaching(probes: Probes, minima: GroupMinima, max_cost: float, n_seg: int) -> list[list[int]]:
    """Patches whose search reached each segment's dilated footprint within ``max_cost``.

    Only pairs of these patches can change when the segment is mitigated.
    """
    touch: list[list[int]] = [[] for _ in range(n_seg)]
    sel = np.flatnonzero((probes.g_type[minima.groups] == GROUP_FOOTPRINT) & (minima.vals <= max_cost))
    owner = np.searchsorted(minima.ptr, sel, side="right") - 1  # patch of each selected entry
    for g, p in zip(minima.groups[sel], owner, strict=True):
        touch[int(probes.g_seg[g])].append(int(p))
    return touch
