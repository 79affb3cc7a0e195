"""Surface-water routing on the terrain: depressions, D8 flow, flow accumulation, fill and spill.

:func:`build_flow_model` fills the depressions of the region's elevation grid with priority-flood
(Barnes et al. 2014) and records the depth filled in each cell as its depression storage. Water
flows by D8 over the filled surface: to the neighbour of steepest descent (drop / distance,
diagonals sqrt(2) cells long; ties to the first of N, NE, E, SE, S, SW, W, NW), and across flats
and filled depressions towards the cell the flood reached them from, i.e. towards the spill point.
Water leaves the region at its border (cells next to a cell outside the region or the raster).

:func:`route_runoff` routes a storm: each cell's SCS-CN runoff (mm) flows downslope; a depression
(a connected set of cells with storage, 8-neighbour) keeps what reaches it up to its storage and
spills the rest at its spill point; the water left over leaves the region. A partly filled
depression stands at one level over all its cells (it fills as one pool: the nested sub-pits of a
compound depression share the level; the fill-spill-merge hierarchy of Barnes et al. 2020 is not
modelled). Volumes are conserved exactly: runoff = stored + leaving the region.

:func:`park_water` balances one park: runoff generated on its cells + run-on = ponded + outflow,
where run-on and outflow are the flows across the park's boundary (a depression that straddles it
passes the water between its parts).

References
----------
Barnes, R., Lehman, C., Mulla, D. (2014). Priority-flood: An optimal depression-filling and
watershed-labeling algorithm for digital elevation models. Computers & Geosciences 62, 117-127.
O'Callaghan, J. F., Mark, D. M. (1984). The extraction of drainage networks from digital elevation
data. Computer Vision, Graphics, and Image Processing 28, 323-344 (D8).
Barnes, R., Callaghan, K. L., Wickert, A. D. (2020). Computing water flow through complex
landscapes, part 2: finding hierarchies in depressions and morphological segmentations. Earth
Surface Dynamics 8, 431-445.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from werkland._errors import WerklandInputError
from werkland._kernels.flow import (
    accumulate,
    d8_downstream,
    lake_depths,
    priority_flood,
    route_storm,
)

__all__ = ["FlowModel", "ParkWater", "StormRouting", "build_flow_model", "park_water", "route_runoff"]


@dataclass(frozen=True)
class FlowModel:
    """The flow graph of a region's terrain (flat arrays over the raster, C order).

    Attributes
    ----------
    shape : tuple of int
        (rows, columns).
    cell_area_m2 : float
        Area of a cell.
    valid : numpy.ndarray
        bool (rows, columns): region cells with an elevation.
    dem, filled : numpy.ndarray
        float64 (n,): elevation and filled elevation, m (NaN outside).
    down : numpy.ndarray
        int64 (n,): downstream cell, -1 = leaves the region (and outside).
    order : numpy.ndarray
        int64: valid cells in flood order (downstream before upstream).
    lake : numpy.ndarray
        int64 (n,): depression id, -1 = no depression.
    release : numpy.ndarray
        int64 (n_lakes,): spill cell of each depression (its first flooded cell).
    capacity_m3 : numpy.ndarray
        float64 (n_lakes,): storage of each depression.
    lake_cells, lake_starts : numpy.ndarray
        Depression cells sorted by id and elevation, and where each depression starts.
    lake_pos : numpy.ndarray
        int32 (n,): position of each cell in ``lake_cells`` (-1 = not in a depression).
    """

    shape: tuple[int, int]
    cell_area_m2: float
    valid: np.ndarray
    dem: np.ndarray
    filled: np.ndarray
    down: np.ndarray
    order: np.ndarray
    lake: np.ndarray
    release: np.ndarray
    capacity_m3: np.ndarray
    lake_cells: np.ndarray
    lake_starts: np.ndarray
    lake_pos: np.ndarray

    @functools.cached_property
    def depression_depth_m(self) -> np.ndarray:
        """Depth filled in each cell (filled - dem), m; NaN outside the region (rows, columns)."""
        return (self.filled - self.dem).reshape(self.shape)

    def accumulation_m2(self) -> np.ndarray:
        """Upslope contributing area of each cell including itself, m²; NaN outside (rows, columns)."""
        w = np.where(self.valid.ravel(), self.cell_area_m2, 0.0)
        acc = accumulate(self.down, self.order, w)
        return np.where(self.valid.ravel(), acc, np.nan).reshape(self.shape)


@dataclass(frozen=True)
class StormRouting:
    """One storm routed over a :class:`FlowModel` (volumes in m³).

    Attributes
    ----------
    model : FlowModel
        The terrain it was routed over.
    q_m3 : numpy.ndarray
        float64 (n,): runoff generated on each cell.
    out_m3 : numpy.ndarray
        float64 (n,): volume leaving each cell along its ``down`` edge (a depression's overflow
        leaves at its release cell; its other cells pass nothing on).
    received_lc_m3 : numpy.ndarray
        Volume arriving at each depression cell (``model.lake_cells`` order).
    stored_lc_m3 : numpy.ndarray
        Volume standing on each depression cell at the end of the storm (same order).
    lake_out_m3 : numpy.ndarray
        Overflow of each depression.
    leaving_m3 : float
        Volume leaving the region.
    """

    model: FlowModel
    q_m3: np.ndarray
    out_m3: np.ndarray
    received_lc_m3: np.ndarray
    stored_lc_m3: np.ndarray
    lake_out_m3: np.ndarray
    leaving_m3: float

    @property
    def stored_m3(self) -> np.ndarray:
        """float64 (n,): volume standing on each cell at the end of the storm."""
        out = np.zeros(len(self.q_m3))
        out[self.model.lake_cells] = self.stored_lc_m3
        return out

    @property
    def depth_m(self) -> np.ndarray:
        """Standing-water depth (rows, columns), m; 0 where dry, NaN outside the region."""
        d = self.stored_m3 / self.model.cell_area_m2
        return np.where(self.model.valid.ravel(), d, np.nan).reshape(self.model.shape)


@dataclass(frozen=True)
class ParkWater:
    """Water balance of one park for one storm, m³: ``generated + runon = ponded + outflow``."""

    generated_m3: float
    runon_m3: float
    ponded_m3: float
    outflow_m3: float


def build_flow_model(dem: np.ndarray, valid: np.ndarray, cell_area_m2: float) -> FlowModel:
    """Fill the depressions, derive the D8 flow and the depressions of a region's terrain.

    Parameters
    ----------
    dem : numpy.ndarray
        2-D elevation, m (finite on every valid cell).
    valid : numpy.ndarray
        2-D bool, the region's cells.
    cell_area_m2 : float
        Area of a cell.

    Returns
    -------
    FlowModel

    Raises
    ------
    WerklandInputError
        A valid cell without a finite elevation, or shapes that differ.
    """
    dem = np.ascontiguousarray(dem, dtype=np.float64)
    valid = np.ascontiguousarray(valid, dtype=bool)
    if dem.shape != valid.shape or dem.ndim != 2:
        raise WerklandInputError(f"elevation {dem.shape} and region {valid.shape} differ", path="elevation")
    if not np.isfinite(dem[valid]).all():
        raise WerklandInputError("elevation has no value on some region cells", path="elevation")
    filled, parent, order = priority_flood(dem, valid)
    zf = np.where(valid, dem, np.nan).ravel()
    down = d8_downstream(filled, valid, parent, dem.shape[1])
    pits = (valid.ravel() & (filled > zf)).reshape(dem.shape)
    labels, n_lakes = ndimage.label(pits, structure=np.ones((3, 3), dtype=bool))
    lake = labels.ravel().astype(np.int64) - 1
    release = np.full(n_lakes, -1, dtype=np.int64)
    if n_lakes:
        in_lake = lake[order] >= 0
        ids = lake[order][in_lake]
        first = np.unique(ids, return_index=True)[1]
        release[ids[first]] = order[in_lake][first]
    cells = np.flatnonzero(lake >= 0)
    depth = filled[cells] - zf[cells]
    capacity = np.bincount(lake[cells], weights=depth, minlength=n_lakes) * cell_area_m2
    srt = np.lexsort((zf[cells], lake[cells]))
    cells = cells[srt]
    starts = np.searchsorted(lake[cells], np.arange(n_lakes + 1)).astype(np.int64)
    lake_pos = np.full(lake.shape, -1, dtype=np.int32)
    lake_pos[cells] = np.arange(len(cells), dtype=np.int32)
    return FlowModel(
        shape=(int(dem.shape[0]), int(dem.shape[1])),
        cell_area_m2=float(cell_area_m2),
        valid=valid,
        dem=zf,
        filled=filled,
        down=down,
        order=order,
        lake=lake,
        release=release,
        capacity_m3=capacity.astype(np.float64),
        lake_cells=cells.astype(np.int64),
        lake_starts=starts,
        lake_pos=lake_pos,
    )


def route_runoff(model: FlowModel, runoff_mm: np.ndarray) -> StormRouting:
    """Route a storm's runoff (mm per cell) downslope through the depressions.

    Parameters
    ----------
    model : FlowModel
    runoff_mm : numpy.ndarray
        2-D runoff depth over each cell, mm (ignored outside the region; NaN there is fine).

    Returns
    -------
    StormRouting
    """
    v = model.valid.ravel()
    q = np.where(v, np.nan_to_num(np.asarray(runoff_mm, dtype=np.float64).ravel(), nan=0.0), 0.0)
    q_m3 = q * model.cell_area_m2 / 1000.0
    out, received, lake_stored, leaving = route_storm(
        model.down, model.order, model.lake, model.lake_pos, len(model.lake_cells), model.release,
        model.capacity_m3, q_m3,
    )
    depth = lake_depths(
        model.lake_cells, model.lake_starts, model.dem, model.filled, lake_stored, model.capacity_m3,
        model.cell_area_m2,
    )
    lake_out = out[model.release] if len(model.release) else np.zeros(0)
    return StormRouting(
        model=model,
        q_m3=q_m3,
        out_m3=out,
        received_lc_m3=received,
        stored_lc_m3=depth * model.cell_area_m2,
        lake_out_m3=lake_out,
        leaving_m3=float(leaving),
    )


def park_water(
    model: FlowModel, routing: StormRouting, window: tuple[slice, slice], mask: np.ndarray
) -> ParkWater:
    """Water balance of the cells ``mask`` (a boolean array over ``window``) for one routed storm.

    Run-on is what crosses into the cells from outside them (along D8 edges, and what a depression
    straddling the boundary passes from its outer part to its inner part); outflow is what crosses
    out (including what leaves the region from them). ``generated + runon = ponded + outflow``.
    """
    H, W = model.shape
    rows, cols = window
    if not mask.any():
        return ParkWater(0.0, 0.0, 0.0, 0.0)
    # grow the window by one cell: every D8 edge into the park starts there
    r0, r1 = max(0, rows.start - 1), min(H, rows.stop + 1)
    c0, c1 = max(0, cols.start - 1), min(W, cols.stop + 1)
    inside = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    inside[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = mask
    rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    idx = (rr * W + cc).ravel()
    ins = inside.ravel()
    d = model.down[idx]
    dr, dc = np.divmod(np.where(d >= 0, d, 0), W)
    in_win = (d >= 0) & (dr >= r0) & (dr < r1) & (dc >= c0) & (dc < c1)
    d_inside = np.zeros(len(idx), dtype=bool)
    d_inside[in_win] = inside[dr[in_win] - r0, dc[in_win] - c0]
    flow = routing.out_m3[idx]
    outflow = float(flow[ins & ~d_inside].sum())
    runon = float(flow[~ins & d_inside].sum())
    cells = idx[ins]
    generated = float(routing.q_m3[cells].sum())
    pos = model.lake_pos[cells]
    wet = pos >= 0
    ponded = float(routing.stored_lc_m3[pos[wet]].sum())
    if wet.any():
        ids, inv = np.unique(model.lake[cells[wet]], return_inverse=True)
        net = np.bincount(inv, weights=routing.stored_lc_m3[pos[wet]] - routing.received_lc_m3[pos[wet]])
        released = np.isin(model.release[ids], cells)
        net = net + np.where(released, routing.lake_out_m3[ids], 0.0)
        runon += float(net[net > 0].sum())
        outflow -= float(net[net < 0].sum())
    return ParkWater(generated_m3=generated, runon_m3=runon, ponded_m3=ponded, outflow_m3=outflow)
