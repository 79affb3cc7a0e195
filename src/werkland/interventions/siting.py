"""Water-led siting: the climate stage's soil, groundwater and flow rasters as the interventions read them.

:class:`Hydrology` holds the hydrology outputs of the climate stage on the land-cover grid
(``climate/soil_group.tif``, ``ghg_m.tif``, ``infiltration_mm_h.tif``, ``flow_accumulation.tif`` and
``ponding_<storm>.tif`` of the design storm) plus the run-on per park of ``climate/summary.csv``.
The climate stage always writes them, with nodata (0 / NaN) where its input (soil map, groundwater
map, elevation model) was not given; every test here treats an unknown cell as "no information",
so a region without those inputs is sited and scored exactly as without this module.

Two uses:

* **placement** (:meth:`Hydrology.wettest_first`): wadis, rain gardens and ponds go to the cells
  with the largest upslope area (flow accumulation) and, among equals, the deepest ponding -- the
  low points and flow concentrations of the park -- instead of next to green or water;
* **infiltration check** (:meth:`Hydrology.refusal`): an infiltrating measure (catalogue
  ``infiltrating: true``) needs soil that infiltrates -- a known infiltration capacity of at least
  :data:`MIN_INFILTRATION_MM_H`, else a hydrologic soil group A..C -- and a mean highest groundwater
  level (GHG) at least ``bottom_m + clearance_m`` below the surface.

References
----------
USDA-NRCS (1986). Urban Hydrology for Small Watersheds, TR-55, Appendix A: hydrologic soil group D
has a minimum infiltration rate of 0-0.05 in/h (0-1.3 mm/h).
Gemeente Oss, RIBOR (Richtlijnen openbare ruimte) 2.4 Hemelwater infiltratie: the bottom of a wadi
lies at least 0.5 m above the GHG.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError
from werkland.interventions.catalogue import InterventionType
from werkland.raster.io import Grid, read_raster

log = logging.getLogger(__name__)

__all__ = [
    "MIN_INFILTRATION_MM_H",
    "REFUSED_GROUNDWATER",
    "REFUSED_SOIL",
    "Hydrology",
    "park_runon",
    "read_hydrology",
    "spaced_picks",
]

#: Infiltration capacity (mm/h) below which soil does not infiltrate: the upper bound of hydrologic
#: soil group D in TR-55 (0.05 in/h).
MIN_INFILTRATION_MM_H = 0.05 * 25.4
#: :meth:`Hydrology.refusal` flags.
REFUSED_SOIL = 1
REFUSED_GROUNDWATER = 2
_SOIL_NAMES = "?ABCD"


@dataclass(frozen=True)
class Hydrology:
    """The climate stage's hydrology rasters on the land-cover grid (None = file not given).

    Attributes
    ----------
    soil_group : numpy.ndarray or None
        uint8 hydrologic soil group 1..4 (A..D), 0 unknown.
    ghg_m : numpy.ndarray or None
        float32 mean highest groundwater level, m below the surface; NaN unknown.
    infiltration_mm_h : numpy.ndarray or None
        float32 infiltration capacity, mm/h; NaN unknown.
    flow_acc_m2 : numpy.ndarray or None
        float32 upslope contributing area including the cell, m²; NaN without elevation.
    ponding_mm : numpy.ndarray or None
        float32 standing water of the design storm, mm; NaN without elevation.
    runon_m3 : numpy.ndarray or None
        Per park row: design-storm run-on from outside the park, m³ (NaN unknown).
    clearance_m : float
        Groundwater clearance below an infiltrating measure's bottom, m.

    Frozen, and its rasters are not changed in place: whether some cell is known (``has_soil`` and
    the like) is computed once, at the first question (the candidate generators ask hundreds of
    times).
    """

    soil_group: np.ndarray | None = None
    ghg_m: np.ndarray | None = None
    infiltration_mm_h: np.ndarray | None = None
    flow_acc_m2: np.ndarray | None = None
    ponding_mm: np.ndarray | None = None
    runon_m3: np.ndarray | None = None
    clearance_m: float = 0.5

    @functools.cached_property
    def has_soil(self) -> bool:
        """Some cell has a known soil group."""
        return self.soil_group is not None and bool(np.any(self.soil_group > 0))

    @functools.cached_property
    def has_groundwater(self) -> bool:
        """Some cell has a known GHG."""
        return self.ghg_m is not None and bool(np.any(np.isfinite(self.ghg_m)))

    @functools.cached_property
    def has_infiltration(self) -> bool:
        """Some cell has a known infiltration capacity."""
        return self.infiltration_mm_h is not None and bool(np.any(np.isfinite(self.infiltration_mm_h)))

    @functools.cached_property
    def has_elevation(self) -> bool:
        """The flow accumulation is known somewhere (an elevation model was given)."""
        return self.flow_acc_m2 is not None and bool(np.any(np.isfinite(self.flow_acc_m2)))

    @functools.cached_property
    def checks_infiltration(self) -> bool:
        """Soil, infiltration or groundwater is known somewhere: infiltrating measures are checked."""
        return self.has_soil or self.has_groundwater or self.has_infiltration

    # -- per-cell tests ----------------------------------------------------------------------
    def refusal(self, cells: np.ndarray, bottom_m: float) -> np.ndarray:
        """Why an infiltrating measure with its bottom ``bottom_m`` below the surface may not go on ``cells``.

        Parameters
        ----------
        cells : numpy.ndarray
            Flat raster indices.
        bottom_m : float
            Depth of the measure's bottom below the surface, m.

        Returns
        -------
        numpy.ndarray
            uint8 per cell: 0 allowed (or unknown), :data:`REFUSED_SOIL` (soil does not infiltrate),
            :data:`REFUSED_GROUNDWATER` (GHG above ``bottom_m + clearance_m``), or both flags.
        """
        out = np.zeros(cells.size, np.uint8)
        rate = self.infiltration_mm_h.ravel()[cells] if self.infiltration_mm_h is not None else np.full(cells.size, np.nan)
        group = self.soil_group.ravel()[cells] if self.soil_group is not None else np.zeros(cells.size, np.uint8)
        known_rate = np.isfinite(rate)
        with np.errstate(invalid="ignore"):
            soil_bad = np.where(known_rate, rate < MIN_INFILTRATION_MM_H, group == 4)
        out[soil_bad] |= REFUSED_SOIL
        if self.ghg_m is not None:
            ghg = self.ghg_m.ravel()[cells]
            with np.errstate(invalid="ignore"):
                gw_bad = np.isfinite(ghg) & (ghg < bottom_m + self.clearance_m)
            out[gw_bad] |= REFUSED_GROUNDWATER
        return out

    def wettest_first(self, cells: np.ndarray) -> np.ndarray:
        """``cells`` ordered by upslope area (largest first), then ponding depth, then cell index.

        Cells without a known flow accumulation come last.
        """
        cells = np.asarray(cells, np.int64)
        if self.flow_acc_m2 is None:
            return np.sort(cells)
        acc = np.nan_to_num(self.flow_acc_m2.ravel()[cells].astype(np.float64), nan=-1.0)
        pond = np.zeros(cells.size) if self.ponding_mm is None else \
            np.nan_to_num(self.ponding_mm.ravel()[cells].astype(np.float64), nan=0.0)
        return cells[np.lexsort((cells, -pond, -acc))]

    # -- notes -------------------------------------------------------------------------------
    def describe_refusal(self, cells: np.ndarray, flags: np.ndarray, bottom_m: float) -> str:
        """Reason text of a refused footprint (the most frequent refusal among its cells)."""
        parts = []
        gw = (flags & REFUSED_GROUNDWATER) > 0
        soil = (flags & REFUSED_SOIL) > 0
        if gw.any():
            ghg = float(np.nanmin(self.ghg_m.ravel()[cells[gw]]))  # type: ignore[union-attr]
            parts.append(f"GHG {ghg:.2f} m below the surface, less than the bottom {bottom_m:.2f} m + clearance "
                         f"{self.clearance_m:.2f} m")
        if soil.any():
            rate = self.infiltration_mm_h.ravel()[cells[soil]] if self.infiltration_mm_h is not None else None
            if rate is not None and np.isfinite(rate).any():
                parts.append(f"soil infiltrates {float(np.nanmax(rate)):.1f} mm/h (< {MIN_INFILTRATION_MM_H:.1f})")
            else:
                parts.append("soil group D (does not infiltrate)")
        return "; ".join(parts)

    def describe_allowed(self, cells: np.ndarray, bottom_m: float) -> str:
        """Note of an infiltrating footprint that passed the check (what was known)."""
        bits = []
        if self.soil_group is not None:
            g = self.soil_group.ravel()[cells]
            g = g[g > 0]
            if g.size:
                bits.append("soil " + "/".join(_SOIL_NAMES[int(x)] for x in np.unique(g)))
        if self.ghg_m is not None:
            ghg = self.ghg_m.ravel()[cells]
            if np.isfinite(ghg).any():
                bits.append(f"GHG >= {float(np.nanmin(ghg)):.2f} m (needs {bottom_m + self.clearance_m:.2f} m)")
            else:
                bits.append("GHG unknown")
        return "infiltration allowed: " + ", ".join(bits) if bits else "infiltration allowed"

    def describe_low_point(self, cells: np.ndarray) -> str:
        """Note of a footprint placed by flow accumulation: its upslope area."""
        if self.flow_acc_m2 is None:
            return ""
        acc = self.flow_acc_m2.ravel()[cells]
        if not np.isfinite(acc).any():
            return ""
        return f"at a low point: upslope area {float(np.nanmax(acc)) / 1e4:.2f} ha"

    def user_note(self, typ: InterventionType, cells: np.ndarray) -> str:
        """Infiltration check of a user's measure of ``typ`` (a note only: the user's plan is kept)."""
        if not (typ.infiltrating and self.checks_infiltration) or cells.size == 0 or typ.bottom_m is None:
            return ""
        flags = self.refusal(cells, typ.bottom_m)
        if not flags.any():
            return self.describe_allowed(cells, typ.bottom_m)
        alt = f"; consider {typ.retention_variant}" if typ.retention_variant else ""
        return (f"infiltration not allowed on {int(np.count_nonzero(flags))} of {cells.size} cells "
                f"({self.describe_refusal(cells, flags, typ.bottom_m)}){alt}")

    def runon_of(self, park_row: int) -> float:
        """Run-on from outside park ``park_row`` in the design storm, m³ (0 when unknown)."""
        if self.runon_m3 is None or park_row < 0 or park_row >= self.runon_m3.size:
            return 0.0
        v = float(self.runon_m3[park_row])
        return v if math.isfinite(v) else 0.0


def spaced_picks(order_cells: np.ndarray, width: int, res_m: float, spacing_m: float, n_max: int) -> list[int]:
    """The first ``n_max`` cells of ``order_cells`` (flat indices, raster ``width``) at least
    ``spacing_m`` from every earlier pick."""
    r = (order_cells // width).astype(np.float64)
    c = (order_cells % width).astype(np.float64)
    free = np.ones(order_cells.size, bool)
    chosen: list[int] = []
    while len(chosen) < n_max:
        idx = np.flatnonzero(free)
        if idx.size == 0:
            break
        i = int(idx[0])
        chosen.append(int(order_cells[i]))
        free &= np.hypot(r - r[i], c - c[i]) * res_m >= spacing_m
    return chosen


def _read(path: Path | None, grid: Grid, what: str, warnings: list[str]) -> np.ndarray | None:
    """A hydrology raster on the land-cover grid, or None (not given, or missing: a warning)."""
    if path is None:
        return None
    if not Path(path).exists():
        warnings.append(f"{Path(path).name} not found: {what} not used (the climate stage writes it; re-run it)")
        return None
    arr, g, nodata = read_raster(path)
    if arr.shape != grid.shape:
        raise WerklandInputError(
            f"{what} raster is {arr.shape[0]} x {arr.shape[1]} cells, landcover.tif {grid.shape[0]} x {grid.shape[1]}",
            path=str(path), fix="re-run the climate stage on this land cover",
        )
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32, copy=False)
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            arr = np.where(arr == nodata, np.nan, arr).astype(np.float32)
    return arr


def read_hydrology(
    soil_group: Path | None, ghg: Path | None, infiltration: Path | None, flow_accumulation: Path | None,
    ponding: Path | None, grid: Grid, *, clearance_m: float, warnings: list[str],
    runon_m3: np.ndarray | None = None,
) -> Hydrology:
    """Read the climate stage's hydrology rasters (each optional) on the land-cover grid.

    Parameters
    ----------
    soil_group, ghg, infiltration, flow_accumulation, ponding : pathlib.Path or None
        ``climate/soil_group.tif``, ``ghg_m.tif``, ``infiltration_mm_h.tif``, ``flow_accumulation.tif``
        and ``ponding_<design storm>.tif``; None = not given. A given file that does not exist is a
        warning and is not used.
    grid : werkland.raster.io.Grid
        The land-cover grid (the rasters must have its shape).
    clearance_m : float
        Groundwater clearance below an infiltrating measure's bottom, m.
    warnings : list of str
        Receives the warnings.
    runon_m3 : numpy.ndarray, optional
        Design-storm run-on per park row, m³.

    Returns
    -------
    Hydrology

    Raises
    ------
    WerklandInputError
        A raster on another grid, or a soil group outside 0..4.
    """
    soil = _read(soil_group, grid, "soil group", warnings)
    if soil is not None:
        if soil.dtype.kind == "f":
            soil = np.nan_to_num(soil, nan=0.0)
        if soil.size and (soil.min() < 0 or soil.max() > 4):
            raise WerklandInputError("soil groups must be 1..4 (A..D), 0 unknown", path=str(soil_group),
                                     fix="re-run the climate stage")
        soil = soil.astype(np.uint8)
    h = Hydrology(
        soil_group=soil,
        ghg_m=_read(ghg, grid, "groundwater (GHG)", warnings),
        infiltration_mm_h=_read(infiltration, grid, "infiltration capacity", warnings),
        flow_acc_m2=_read(flow_accumulation, grid, "flow accumulation", warnings),
        ponding_mm=_read(ponding, grid, "ponding", warnings),
        runon_m3=None if runon_m3 is None else np.asarray(runon_m3, np.float64),
        clearance_m=float(clearance_m),
    )
    log.info("hydrology: soil %s, groundwater %s, infiltration %s, elevation %s", h.has_soil, h.has_groundwater,
             h.has_infiltration, h.has_elevation)
    return h


def park_runon(summary: pd.DataFrame, park_ids: Sequence[str], storm: str) -> np.ndarray | None:
    """Run-on per park row from the climate summary's ``runon_<storm>_m3`` (None when absent).

    Parameters
    ----------
    summary : pandas.DataFrame
        ``climate/summary.csv`` (``park_id`` as str).
    park_ids : list of str
        Park ids in park-row order.
    storm : str
        Design storm name.
    """
    col = f"runon_{storm}_m3"
    if col not in summary.columns:
        return None
    m = dict(zip(summary["park_id"].astype(str), pd.to_numeric(summary[col], errors="coerce"), strict=True))
    return np.array([float(m.get(str(p), math.nan)) for p in park_ids], np.float64)
