"""Water: SCS curve-number event runoff per cell, as in the InVEST Urban Flood Risk Mitigation model.

USDA-NRCS (1986), TR-55, per pixel and without routing:

.. math::

    S = 25400 / CN - 254 \\ (CN = 0 \\Rightarrow S = 100\\,000), \\qquad
    Q = \\frac{(P - \\lambda S)^2}{P + (1 - \\lambda) S}\\ \\text{if}\\ P > \\lambda S\\ \\text{else}\\ 0

minus the explicit event storage of the class (wadis, ponds, retention roofs), not below 0. The
"natural reference" runoff replaces every cell of the region by the class the natural setting stands
for (``natural_reference`` in the legend: grassland -> grass, woodland -> woodland, wetland ->
wetland) and is what the programme's "discharge no more than the natural landscape" is measured
against.
"""

from __future__ import annotations

import numpy as np

from werkland._errors import WerklandInputError
from werkland.climate.biophysical import BiophysicalTable
from werkland.params.climate import SOIL_GROUPS, finite_number

__all__ = [
    "CN0_RETENTION_MM",
    "natural_reference_landcover",
    "runoff_mm",
    "scs_potential_retention_mm",
    "scs_runoff_mm",
]

#: S_max (mm) used for CN = 0, as InVEST UFRM does since 3.17 (avoids a division by zero).
CN0_RETENTION_MM = 100_000.0


def scs_potential_retention_mm(cn: np.ndarray | float) -> np.ndarray:
    """Potential maximum retention S = 25400/CN - 254 (mm); CN = 0 gives 100 000 mm (InVEST UFRM).

    Parameters
    ----------
    cn : array_like
        Curve number 0..100.

    Returns
    -------
    numpy.ndarray
        S_max, mm.

    Examples
    --------
    >>> [round(float(s), 3) for s in scs_potential_retention_mm([100, 0, 65, 90, 30])]
    [0.0, 100000.0, 136.769, 28.222, 592.667]
    """
    cn = np.asarray(cn, dtype=np.float64)
    if np.any(~np.isfinite(cn) | (cn < 0) | (cn > 100)):
        raise WerklandInputError("curve numbers must lie in 0..100", path="cn")
    safe = np.where(cn > 0, cn, 1.0)
    return np.where(cn > 0, 25400.0 / safe - 254.0, CN0_RETENTION_MM)


def scs_runoff_mm(p_mm: np.ndarray | float, cn: np.ndarray | float, lam: float = 0.2) -> np.ndarray:
    """SCS curve-number event runoff Q (mm) for rain P (mm).

    Q = (P - λS)² / (P + (1 - λ)S) if P > λS else 0, with S from
    :func:`scs_potential_retention_mm`. P = 0 gives Q = 0 (never NaN).

    Parameters
    ----------
    p_mm : array_like
        Event rainfall depth, mm (>= 0).
    cn : array_like
        Curve number 0..100; broadcast against ``p_mm``.
    lam : float
        Initial-abstraction ratio λ (TR-55: 0.2).

    Returns
    -------
    numpy.ndarray
        Runoff depth Q, mm (0 <= Q <= P).

    Examples
    --------
    >>> round(float(scs_runoff_mm(70, 98)), 1), round(float(scs_runoff_mm(70, 61)), 1)
    (64.1, 7.0)
    """
    p = np.asarray(p_mm, dtype=np.float64)
    if np.any(~np.isfinite(p) | (p < 0)):
        raise WerklandInputError(
            "rain depth must be a finite number >= 0 mm", path="storm depth_mm"
        )
    if not (0.0 <= lam < 1.0):
        raise WerklandInputError(f"initial-abstraction ratio {lam} is not in [0, 1)", path="lambda")
    s = scs_potential_retention_mm(cn)
    ia = lam * s
    wet = p > ia
    num = np.where(wet, p - ia, 0.0)
    den = np.where(wet, p + (1.0 - lam) * s, 1.0)
    return np.where(wet, num * num / den, 0.0)


def _soil_index(soil_group: str | np.ndarray, shape: tuple[int, ...]) -> int | np.ndarray:
    if isinstance(soil_group, str):
        g = soil_group.upper()
        if g not in SOIL_GROUPS:
            raise WerklandInputError(
                f"soil group {soil_group!r}", path="soil_group", fix="use A, B, C or D"
            )
        return SOIL_GROUPS.index(g)
    arr = np.asarray(soil_group)
    if arr.shape != shape or not np.issubdtype(arr.dtype, np.integer):
        raise WerklandInputError(
            "a soil-group raster must be integer 1..4 (A..D) of the land-cover shape",
            path="soil_group",
        )
    if arr.size and (arr.min() < 1 or arr.max() > 4):
        raise WerklandInputError("soil-group raster values must be 1..4 (A..D)", path="soil_group")
    return arr.astype(np.intp) - 1


def runoff_mm(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    storm_mm: float,
    soil_group: str | np.ndarray = "B",
    lam: float = 0.2,
    *,
    storage: bool = True,
    nodata_code: int = 0,
) -> np.ndarray:
    """Event runoff (mm) of a land-cover array: SCS-CN runoff minus the class's explicit storage.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes, ``nodata_code`` outside the region.
    legend : BiophysicalTable
        Curve numbers (per soil group) and ``storage_mm`` per class.
    storm_mm : float
        Design-storm depth P, mm (>= 0; 0 gives zeros).
    soil_group : str or numpy.ndarray
        ``"A"``..``"D"`` for the whole region, or an integer raster 1..4 (A..D, InVEST UFRM style).
    lam : float
        Initial-abstraction ratio λ.
    storage : bool
        Subtract ``storage_mm`` (wadi, pond, retention-roof event storage over the cell), not below 0.
    nodata_code : int
        Code of cells outside the region.

    Returns
    -------
    numpy.ndarray
        float64 runoff depth over the cell, mm; NaN outside the region.

    Notes
    -----
    There is no routing: storage only captures the rain that falls on its own cell. The per-park
    summary adds a pooled variant in which all storage of a park takes runoff from the whole park.
    """
    lc, valid = legend.check_raster(lc_codes, nodata_code)
    p = finite_number(storm_mm, "storm depth_mm", lo=0.0)
    gi = _soil_index(soil_group, lc.shape)
    if isinstance(gi, int):
        # one value per class: look-up table of 256 entries, then index
        table = scs_runoff_mm(p, np.nan_to_num(legend.cn[:, gi], nan=0.0), lam)
        if storage:
            table = np.maximum(table - np.nan_to_num(legend.storage_mm, nan=0.0), 0.0)
        q = table[lc]
    else:
        q = scs_runoff_mm(p, np.nan_to_num(legend.cn, nan=0.0)[lc, gi], lam)
        if storage:
            q = np.maximum(q - legend.storage_mm[lc], 0.0)
    q[~valid] = np.nan
    return q


def natural_reference_landcover(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    setting: str = "grassland",
    *,
    nodata_code: int = 0,
) -> np.ndarray:
    """Land cover with every cell of the region replaced by the class of the natural setting.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D legend codes.
    legend : BiophysicalTable
        Holds ``natural_reference`` (setting -> class).
    setting : str
        ``"grassland"``, ``"woodland"``, ``"wetland"`` (or another key of the legend's mapping).
    nodata_code : int
        Code of cells outside the region (kept).

    Returns
    -------
    numpy.ndarray
        uint8 codes.
    """
    code = legend.natural_code(setting)
    lc = np.asarray(lc_codes)
    return np.where(lc != nodata_code, code, nodata_code).astype(np.uint8)
