"""Heat: the InVEST Urban Cooling Model (``cc_method="factors"``) and cool spots.

Equations in ``shared/notes/climate.md`` section 1.1 (Sharp et al. 2020):

.. math::

    ETI_i = k_{c,i}\\, ET_{0,i} / ET_{max}
    \\qquad CC_i = w_s\\, shade_i + w_a\\, albedo_i + w_e\\, ETI_i

    GA_i = A_{cell} \\sum_{j:\\, d_{ij} \\le d_{cool}} g_j
    \\qquad CC_{park,i} = \\frac{\\sum_j g_j\\, CC_j\\, e^{-d_{ij}/d_{cool}}}
                               {\\sum_{j\\ \\mathrm{valid}} e^{-d_{ij}/d_{cool}}}
    \\quad (d_{ij} \\le 5\\, d_{cool})

    HM_i = CC_i \\ \\text{if}\\ CC_i \\ge CC_{park,i}\\ \\text{or}\\ GA_i < 2\\,\\mathrm{ha},
    \\ \\text{else}\\ CC_{park,i}

with the weights renormalised to sum 1. Without an ET0 raster a constant ET0 is assumed, so
ET0/ET_max = 1 and ETI = kc (never kc / max(kc): that would make the index of one cell depend on the
land cover elsewhere and break the monotonicity that the interventions stage relies on). Optionally
the air temperature T_air = T_nomix smoothed with the normalised exponential kernel (e-folding radius
r, truncated at 5 r), T_nomix = T_ref + (1 - HM) UHI_max.

The convolutions are real FFTs with one kernel transform shared by all signals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from werkland._errors import WerklandInputError
from werkland.climate.biophysical import BiophysicalTable
from werkland.params.climate import ClimateParams, finite_number

__all__ = [
    "CoolingResult",
    "air_temperature",
    "cool_spots",
    "cooling_capacity",
    "evapotranspiration_index",
    "green_area_m2",
    "heat_mitigation",
    "heat_mitigation_index",
    "landcover_cooling_capacity",
    "park_cooling",
    "urban_cooling",
]


# --------------------------------------------------------------------------------------------------
# kernels and FFT convolution
# --------------------------------------------------------------------------------------------------


def _distance_grid_m(
    radius_m: float, res_m: float, max_half: tuple[int, int] | None = None
) -> np.ndarray:
    """Centre-to-centre distances (m) of a square window of half-size floor(radius/res) cells."""
    half = int(math.floor(radius_m / res_m + 1e-9))
    hy = hx = half
    if max_half is not None:  # a kernel wider than 2 x the raster adds nothing
        hy, hx = min(half, max_half[0]), min(half, max_half[1])
    yy, xx = np.mgrid[-hy : hy + 1, -hx : hx + 1]
    return np.hypot(yy, xx) * res_m


def _exponential_kernel(d_m: float, res_m: float, shape: tuple[int, int]) -> np.ndarray:
    """exp(-d/d_m) for centre distances d <= 5 d_m (not normalised; InVEST ``exponential_decay_kernel``)."""
    dist = _distance_grid_m(5.0 * d_m, res_m, (shape[0] - 1, shape[1] - 1))
    return np.where(dist <= 5.0 * d_m + 1e-9 * res_m, np.exp(-dist / d_m), 0.0)


def _disc_kernel(radius_m: float, res_m: float, shape: tuple[int, int]) -> np.ndarray:
    """1 for centre distances <= radius, else 0 (InVEST ``dichotomous_kernel``, not normalised)."""
    dist = _distance_grid_m(radius_m, res_m, (shape[0] - 1, shape[1] - 1))
    return (dist <= radius_m + 1e-9 * res_m).astype(np.float64)


def _convolve_same(
    signals: Sequence[np.ndarray], kernel: np.ndarray, workers: int = -1
) -> list[np.ndarray]:
    """Linear 2-D convolution of each signal with a symmetric odd-sized kernel, cropped to the signal.

    Zero padding outside the signal (edges contribute nothing). One kernel transform is shared by
    all signals; real FFTs of a fast length, multithreaded with ``workers``.
    """
    h, w = signals[0].shape
    kh, kw = kernel.shape
    ry, rx = kh // 2, kw // 2
    fshape = (
        sp_fft.next_fast_len(h + kh - 1, real=True),
        sp_fft.next_fast_len(w + kw - 1, real=True),
    )
    kf = sp_fft.rfft2(kernel, fshape, workers=workers)
    out = []
    for s in signals:
        sf = sp_fft.rfft2(np.asarray(s, dtype=np.float64), fshape, workers=workers)
        sf *= kf
        full = sp_fft.irfft2(sf, fshape, workers=workers)
        del sf
        out.append(np.ascontiguousarray(full[ry : ry + h, rx : rx + w]))
        del full
    return out


def _normalised_smooth(
    values: np.ndarray, valid: np.ndarray, kernel: np.ndarray, workers: int
) -> np.ndarray:
    """Kernel-weighted mean of ``values`` over valid cells (nodata and edges ignored); NaN where invalid."""
    num, den = _convolve_same(
        [np.where(valid, values, 0.0), valid.astype(np.float64)], kernel, workers
    )
    # den >= kernel centre (1) on valid cells; FFT round-off is ~1e-12 of the kernel mass
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out

# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------


def evapotranspiration_index(
    kc: np.ndarray, et0_mm: float | np.ndarray | None = None
) -> np.ndarray:
    """Evapotranspiration index ETI = kc · ET0 / ET_max (InVEST UCM).

    Parameters
    ----------
    kc : numpy.ndarray
        Crop coefficient per cell (-); NaN = nodata.
    et0_mm : float or numpy.ndarray or None
        Reference evapotranspiration (mm, any period) per cell or constant. ``None`` or a constant:
        ET0 / ET_max = 1, so ETI = kc. An array: ET_max is its maximum over cells where kc is valid.

    Returns
    -------
    numpy.ndarray
        ETI (-), same shape as ``kc``.
    """
    kc = np.asarray(kc, dtype=np.float64)
    if et0_mm is None or np.ndim(et0_mm) == 0:
        return kc.copy()
    et0 = np.asarray(et0_mm, dtype=np.float64)
    if et0.shape != kc.shape:
        raise WerklandInputError(
            f"ET0 shape {et0.shape} != land-cover shape {kc.shape}", path="et0"
        )
    valid = np.isfinite(kc) & np.isfinite(et0)
    et_max = float(et0[valid].max()) if valid.any() else 0.0
    if et_max <= 0:
        raise WerklandInputError("ET0 maximum over the region is not positive", path="et0")
    return kc * et0 / et_max


def cooling_capacity(
    shade: np.ndarray | float,
    albedo: np.ndarray | float,
    eti: np.ndarray | float,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Cooling capacity CC = w_s·shade + w_a·albedo + w_e·ETI (InVEST UCM, ``cc_method="factors"``).

    Parameters
    ----------
    shade, albedo, eti : array_like
        Canopy-shade fraction (0..1), albedo (0..1), evapotranspiration index (-); broadcastable.
    weights : mapping, optional
        ``{"shade", "albedo", "eti"}``, renormalised to sum 1; a missing factor (or all of them,
        when None) takes the schema default of ``climate.cc_weights``.

    Returns
    -------
    numpy.ndarray
        CC (-), 0..1 for inputs in 0..1.

    Examples
    --------
    >>> round(float(cooling_capacity(1.0, 0.10, 1.1 * 800 / 900)), 6)  # InVEST forest cell
    0.815556
    """
    section = {} if weights is None else {"cc_weights": dict(weights)}
    return _weighted_cc(shade, albedo, eti, ClimateParams.from_section(section).weights)


def _weighted_cc(
    shade: np.ndarray | float,
    albedo: np.ndarray | float,
    eti: np.ndarray | float,
    w: Mapping[str, float],
) -> np.ndarray:
    """CC with weights ``w`` that already sum to 1."""
    return np.asarray(
        w["shade"] * np.asarray(shade, dtype=np.float64)
        + w["albedo"] * np.asarray(albedo, dtype=np.float64)
        + w["eti"] * np.asarray(eti, dtype=np.float64)
    )


def landcover_cooling_capacity(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    *,
    weights: Mapping[str, float] | None = None,
    et0_mm: float | np.ndarray | None = None,
    nodata_code: int = 0,
) -> np.ndarray:
    """Cooling capacity of a land-cover raster (looks shade, albedo, kc up in ``legend``).

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes; ``nodata_code`` = outside the region.
    legend : BiophysicalTable
        Biophysical values per code.
    weights : mapping, optional
        CC weights (see :func:`cooling_capacity`).
    et0_mm : float or numpy.ndarray, optional
        ET0 (see :func:`evapotranspiration_index`); default constant, ETI = kc.
    nodata_code : int
        Code of cells outside the region (0 in ``landcover.tif``).

    Returns
    -------
    numpy.ndarray
        float64 CC (-), NaN outside the region.
    """
    lc, valid = legend.check_raster(lc_codes, nodata_code)
    kc = np.where(valid, legend.kc[lc], np.nan)
    eti = evapotranspiration_index(kc, et0_mm)
    cc = cooling_capacity(legend.shade[lc], legend.albedo[lc], eti, weights)
    cc[~valid] = np.nan
    return cc


def green_area_m2(
    green: np.ndarray, res_m: float, cooling_distance_m: float, *, workers: int = -1
) -> np.ndarray:
    """Green area (m²) within the cooling distance of each cell (disc kernel, not normalised).

    Parameters
    ----------
    green : numpy.ndarray
        2-D bool/0-1 green-area flag; cells outside the region must be 0.
    res_m : float
        Cell size, m.
    cooling_distance_m : float
        d_cool, m: cells whose centres lie within this distance count.
    workers : int
        FFT threads (-1 = all cores).

    Returns
    -------
    numpy.ndarray
        float64 area in m² (an exact multiple of the cell area).
    """
    g = np.asarray(green, dtype=np.float64)
    (cnt,) = _convolve_same([g], _disc_kernel(cooling_distance_m, res_m, g.shape), workers)
    return np.rint(cnt) * res_m * res_m


def park_cooling(
    cc: np.ndarray,
    green: np.ndarray,
    res_m: float,
    cooling_distance_m: float,
    *,
    valid: np.ndarray | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Park cooling CC_park and green area GA of each cell (InVEST UCM).

    CC_park_i is the exp(-d/d_cool)-weighted mean of g_j·CC_j over cells j within 5·d_cool, divided
    by the kernel mass over *valid* cells (nodata and raster edges are ignored, as InVEST's
    ``convolve_2d(..., ignore_nodata_and_edges=True)``); non-green cells contribute 0.

    Parameters
    ----------
    cc : numpy.ndarray
        2-D cooling capacity (-); NaN = outside the region.
    green : numpy.ndarray
        2-D green-area flag (bool or 0/1).
    res_m : float
        Cell size, m.
    cooling_distance_m : float
        d_cool, m (e-folding distance of the kernel and radius of the green-area disc).
    valid : numpy.ndarray, optional
        Cells inside the region; default: finite ``cc``.
    workers : int
        FFT threads.

    Returns
    -------
    cc_park : numpy.ndarray
        float64 (-), NaN outside the region.
    ga_m2 : numpy.ndarray
        float64 green area within d_cool, m² (0 outside the region).
    """
    cc = np.asarray(cc, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(cc)
    g = np.asarray(green).astype(bool) & valid
    signal = np.where(g, cc, 0.0)
    cc_park = _normalised_smooth(
        signal, valid, _exponential_kernel(cooling_distance_m, res_m, cc.shape), workers
    )
    np.clip(cc_park, 0.0, None, out=cc_park)  # FFT round-off below 0 where no green is in reach
    ga = green_area_m2(g, res_m, cooling_distance_m, workers=workers)
    ga[~valid] = 0.0
    return cc_park, ga


def heat_mitigation_index(
    cc: np.ndarray, cc_park: np.ndarray, ga_m2: np.ndarray, green_area_min_m2: float
) -> np.ndarray:
    """HM = CC if CC >= CC_park or GA < green_area_min_m2, else CC_park (InVEST UCM).

    Parameters
    ----------
    cc, cc_park : numpy.ndarray
        Cooling capacity and park cooling (-); NaN = outside the region.
    ga_m2 : numpy.ndarray
        Green area within d_cool, m².
    green_area_min_m2 : float
        Green area that switches the park effect on, m² (``climate.green_area_min_m2``).

    Returns
    -------
    numpy.ndarray
        HM (-), NaN outside the region.
    """
    use_cc = (cc >= cc_park) | (ga_m2 < green_area_min_m2)
    hm = np.where(use_cc, cc, cc_park)
    hm[~np.isfinite(cc)] = np.nan
    return hm


def air_temperature(
    hm: np.ndarray,
    res_m: float,
    t_ref_degC: float,
    uhi_max_degC: float,
    radius_m: float,
    *,
    workers: int = -1,
) -> np.ndarray:
    """Air temperature T_air (°C): T_ref + (1 - HM)·UHI_max smoothed by air mixing (InVEST UCM).

    The smoothing kernel is exp(-d/r) truncated at 5 r, normalised by its mass over valid cells
    (the user guide says "Gaussian"; the InVEST code is exponential and is followed here).

    Parameters
    ----------
    hm : numpy.ndarray
        Heat mitigation index (-); NaN = outside the region.
    res_m : float
        Cell size, m.
    t_ref_degC, uhi_max_degC : float
        Rural reference temperature and urban-heat-island magnitude, °C.
    radius_m : float
        Air-mixing distance r, m.
    workers : int
        FFT threads.

    Returns
    -------
    numpy.ndarray
        float64 °C, NaN outside the region.
    """
    valid = np.isfinite(hm)
    t_nomix = t_ref_degC + (1.0 - np.where(valid, hm, 0.0)) * uhi_max_degC
    return _normalised_smooth(
        t_nomix, valid, _exponential_kernel(radius_m, res_m, hm.shape), workers
    )


@dataclass(frozen=True)
class CoolingResult:
    """Rasters of the urban cooling model (float64, NaN outside the region).

    Attributes
    ----------
    cc : numpy.ndarray
        Cooling capacity (-).
    cc_park : numpy.ndarray
        Park cooling (-).
    ga_m2 : numpy.ndarray
        Green area within d_cool (m²).
    hm : numpy.ndarray
        Heat mitigation index (-).
    green : numpy.ndarray
        bool green-area flag.
    t_air_degC : numpy.ndarray or None
        Air temperature (°C) when t_ref_degC and uhi_max_degC are given.
    """

    cc: np.ndarray
    cc_park: np.ndarray
    ga_m2: np.ndarray
    hm: np.ndarray
    green: np.ndarray
    t_air_degC: np.ndarray | None = None


def urban_cooling(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    res_m: float,
    params: ClimateParams,
    *,
    et0_mm: float | np.ndarray | None = None,
    nodata_code: int = 0,
    workers: int = -1,
) -> CoolingResult:
    """Run the InVEST Urban Cooling Model (factors method) on a land-cover array.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes, ``nodata_code`` outside the region.
    legend : BiophysicalTable
        Biophysical values.
    res_m : float
        Cell size, m (square cells).
    params : ClimateParams
        Used here: ``cc_weights``, ``cooling_distance_m``, ``green_area_min_m2``, ``t_ref_degC``,
        ``uhi_max_degC``, ``t_air_radius_m`` (from the config, or
        ``ClimateParams.from_section({...})`` for schema defaults with some keys changed).
    et0_mm : float or numpy.ndarray, optional
        ET0 raster (mm); default constant ET0, so ETI = kc.
    nodata_code : int
        Code of cells outside the region.
    workers : int
        FFT threads.

    Returns
    -------
    CoolingResult
    """
    p = params
    res_m = finite_number(res_m, "res_m", lo=0.0, strict=True)
    lc, valid = legend.check_raster(lc_codes, nodata_code)
    kc = np.where(valid, legend.kc[lc], np.nan)
    cc = _weighted_cc(
        legend.shade[lc], legend.albedo[lc], evapotranspiration_index(kc, et0_mm), p.weights
    )
    cc[~valid] = np.nan
    green = (legend.green_area[lc] == 1.0) & valid
    cc_park, ga = park_cooling(cc, green, res_m, p.cooling_distance_m, valid=valid, workers=workers)
    hm = heat_mitigation_index(cc, cc_park, ga, p.green_area_min_m2)
    t_air = None
    if p.t_ref_degC is not None and p.uhi_max_degC is not None:
        t_air = air_temperature(
            hm, res_m, p.t_ref_degC, p.uhi_max_degC, p.t_air_radius_m, workers=workers
        )
    return CoolingResult(cc=cc, cc_park=cc_park, ga_m2=ga, hm=hm, green=green, t_air_degC=t_air)


def heat_mitigation(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    res_m: float,
    params: ClimateParams,
    *,
    nodata_code: int = 0,
    workers: int = -1,
) -> np.ndarray:
    """Heat mitigation index HM (-) of a land-cover array; NaN outside the region.

    Shortcut for ``urban_cooling(...).hm``. For a local re-evaluation after an intervention, pass a
    window with a margin of at least 5·d_cool around the change: beyond that the change has no effect.

    Examples
    --------
    >>> import numpy as np
    >>> from werkland.params import ClimateParams
    >>> legend = BiophysicalTable.from_classes([
    ...     {"code": 1, "name": "paving", "shade": 0, "albedo": 0.1, "kc": 0.1, "green_area": 0,
    ...      "cn": {"A": 98, "B": 98, "C": 98, "D": 98}, "storage_mm": 0, "sealed": 1},
    ...     {"code": 2, "name": "grass", "shade": 0, "albedo": 0.22, "kc": 0.8, "green_area": 1,
    ...      "cn": {"A": 39, "B": 61, "C": 74, "D": 80}, "storage_mm": 0, "sealed": 0}],
    ...     natural_reference={"grassland": "grass"})
    >>> hm = heat_mitigation(np.array([[1, 2]], dtype=np.uint8), legend, 10.0, ClimateParams.from_section({}))
    >>> [round(float(v), 3) for v in hm[0]]
    [0.04, 0.204]
    """
    return urban_cooling(
        lc_codes, legend, res_m, params, nodata_code=nodata_code, workers=workers
    ).hm


def cool_spots(
    hm: np.ndarray,
    green: np.ndarray,
    res_m: float,
    *,
    hm_min: float,
    min_area_m2: float,
) -> np.ndarray:
    """Label cool spots: 8-connected green cells with HM >= ``hm_min`` covering >= ``min_area_m2``.

    Parameters
    ----------
    hm : numpy.ndarray
        Heat mitigation index (-), NaN outside the region.
    green : numpy.ndarray
        Green-area flag.
    res_m : float
        Cell size, m.
    hm_min : float
        Minimum HM of a cool-spot cell (-) (``climate.cool_spot_hm``).
    min_area_m2 : float
        Minimum contiguous area, m² (``climate.cool_spot_min_area_m2``).

    Returns
    -------
    numpy.ndarray
        int32 labels 1..n of the cool spots, 0 elsewhere.
    """
    with np.errstate(invalid="ignore"):
        cand = np.asarray(green, dtype=bool) & (np.nan_to_num(hm, nan=-np.inf) >= hm_min)
    labels, n = ndimage.label(cand, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels.ravel()) * (res_m * res_m)
    keep = sizes >= min_area_m2 - 1e-9
    keep[0] = False
    new = np.zeros(n + 1, dtype=np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new[labels]
