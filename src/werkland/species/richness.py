"""Species-richness estimators for abundance (records per species) and incidence data.

All formulas follow the closed forms used by iNEXT (Hsieh, Ma & Chao 2016, MEE 7:1451-1456) and the
papers they come from; no code was taken from iNEXT.

Abundance data: ``x`` holds the number of records (or individuals) of each observed species,
``n = sum(x)``, ``S_obs`` the number of species with ``x > 0``, ``f_k`` the number of species with
exactly ``k`` records (``f1`` singletons, ``f2`` doubletons).

* :func:`chao1` -- **bias-corrected Chao1 as in iNEXT** (Chao 1984, Scand. J. Stat. 11:265-270;
  Chao 1987, Biometrics 43:783-791): ``S_obs + (n-1)/n * f1^2/(2 f2)`` when ``f2 > 0`` and
  ``S_obs + (n-1)/n * f1 (f1-1)/2`` when ``f2 = 0``. Other variants are available via ``variant``.
* :func:`chao1_ci` -- its standard error and the log-transformed 95 % interval (Chao 1987).
* :func:`ace` -- abundance-based coverage estimator (Chao & Lee 1992, JASA 87:210-217).
* :func:`sample_coverage` -- Chao & Jost (2012, Ecology 93:2533-2547) sample coverage of the sample.
* :func:`richness_at` / :func:`coverage_at` -- rarefaction (m < n, exact hypergeometric expectation)
  and extrapolation (m > n, Chao et al. 2014, Ecol. Monogr. 84:45-67) of richness and coverage to a
  sample of ``m`` records; extrapolation is reliable up to about ``2 n``.
* :func:`chao2`, :func:`incidence_coverage` -- the incidence counterparts (T sampling units).

GBIF records are not individuals: treat abundance-based values as "per record" and compare parks only
at a common number of records or a common coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import gammaln

#: Name of the Chao1 variant reported by :func:`summarise`.
CHAO1_VARIANT = "bias-corrected Chao1 as in iNEXT: S_obs + (n-1)/n*f1^2/(2*f2); f2=0: S_obs + (n-1)/n*f1*(f1-1)/2"

_Z975 = 1.959963984540054


def _abundances(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Validate an abundance vector and drop zeros."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size and (np.any(~np.isfinite(a)) or np.any(a < 0) or np.any(a != np.round(a))):
        raise ValueError("abundances must be non-negative integers")
    return a[a > 0].astype(np.int64)


def frequency_counts(x: Sequence[float] | np.ndarray) -> dict[str, int]:
    """Summary counts of an abundance vector.

    Parameters
    ----------
    x : array-like of int
        Records per species.

    Returns
    -------
    dict
        ``n`` (records), ``S_obs`` (species), ``f1`` (singletons), ``f2`` (doubletons).
    """
    a = _abundances(x)
    return {"n": int(a.sum()), "S_obs": int(a.size), "f1": int(np.sum(a == 1)), "f2": int(np.sum(a == 2))}


def f0_hat(x: Sequence[float] | np.ndarray) -> float:
    """Estimated number of undetected species (iNEXT form), ``chao1(x) - S_obs``."""
    c = frequency_counts(x)
    n, f1, f2 = c["n"], c["f1"], c["f2"]
    if n == 0:
        return 0.0
    a = (n - 1) / n
    if f2 > 0:
        return a * f1 * f1 / (2.0 * f2)
    return a * f1 * (f1 - 1) / 2.0


def chao1(x: Sequence[float] | np.ndarray, variant: str = "iNEXT") -> float:
    """Chao1 lower-bound estimate of species richness.

    Parameters
    ----------
    x : array-like of int
        Records per species.
    variant : {"iNEXT", "classic", "bias_corrected", "bias_corrected_spade"}
        ``"iNEXT"`` (default, the bias-corrected form used by iNEXT, see module docstring);
        ``"classic"``: ``S_obs + f1^2/(2 f2)`` (``f2 = 0``: ``f1 (f1-1)/2``);
        ``"bias_corrected"``: ``S_obs + f1 (f1-1)/(2 (f2+1))`` (scikit-bio, vegan);
        ``"bias_corrected_spade"``: the latter times ``(n-1)/n`` (SpadeR).

    Returns
    -------
    float
        Estimated number of species; ``nan`` for an empty sample.
    """
    c = frequency_counts(x)
    n, s, f1, f2 = c["n"], c["S_obs"], c["f1"], c["f2"]
    if n == 0:
        return float("nan")
    if variant == "iNEXT":
        return s + f0_hat(x)
    if variant == "classic":
        return s + (f1 * f1 / (2.0 * f2) if f2 > 0 else f1 * (f1 - 1) / 2.0)
    if variant == "bias_corrected":
        return s + f1 * (f1 - 1) / (2.0 * (f2 + 1))
    if variant == "bias_corrected_spade":
        return s + (n - 1) / n * f1 * (f1 - 1) / (2.0 * (f2 + 1))
    raise ValueError(f"unknown Chao1 variant {variant!r}")


def chao1_ci(x: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Standard error and log-transformed confidence interval of the iNEXT Chao1.

    Parameters
    ----------
    x : array-like of int
        Records per species.
    level : float
        Confidence level; only 0.95 is supported (z = 1.959964).

    Returns
    -------
    se, lower, upper : float
        Standard error (species) and interval bounds (species), ``S_obs + T/K`` and ``S_obs + T*K`` with
        ``T = chao1 - S_obs`` and ``K = exp(z sqrt(ln(1 + var/T^2)))`` (Chao 1987).
    """
    if level != 0.95:
        raise ValueError("only level=0.95 is implemented")
    c = frequency_counts(x)
    n, s, f1, f2 = c["n"], c["S_obs"], c["f1"], c["f2"]
    if n == 0:
        return (float("nan"),) * 3
    est = chao1(x)
    a = (n - 1) / n
    if f2 > 0:
        r = f1 / f2
        var = f2 * (a / 2.0 * r**2 + a**2 * r**3 + a**2 / 4.0 * r**4)
    else:
        var = a * f1 * (f1 - 1) / 2.0 + a**2 * f1 * (2 * f1 - 1) ** 2 / 4.0 - a**2 * f1**4 / 4.0 / est
    var = max(var, 0.0)
    t = est - s
    if t > 0:
        k = float(np.exp(_Z975 * np.sqrt(np.log(1.0 + var / t**2))))
        return float(np.sqrt(var)), s + t / k, s + t * k
    return float(np.sqrt(var)), float(s), float(s)


def ace(x: Sequence[float] | np.ndarray, cutoff: int = 10) -> float:
    """Abundance-based coverage estimator (Chao & Lee 1992) with a rare-species cut-off.

    Parameters
    ----------
    x : array-like of int
        Records per species.
    cutoff : int
        Species with at most this many records are "rare" (default 10).

    Returns
    -------
    float
        Estimated richness (species); ``nan`` when empty or when all rare species are singletons.
    """
    a = _abundances(x)
    if a.size == 0:
        return float("nan")
    rare = a[a <= cutoff]
    s_abund = int(np.sum(a > cutoff))
    s_rare = rare.size
    if s_rare == 0:
        return float(s_abund)
    n_rare = int(rare.sum())
    f1 = int(np.sum(rare == 1))
    c_ace = 1.0 - f1 / n_rare
    if c_ace == 0:
        return float("nan")
    sum_iim1f = float(np.sum(rare * (rare - 1)))
    gamma2 = max((s_rare / c_ace) * sum_iim1f / (n_rare * (n_rare - 1)) - 1.0, 0.0) if n_rare > 1 else 0.0
    return s_abund + s_rare / c_ace + (f1 / c_ace) * gamma2


def goods_coverage(x: Sequence[float] | np.ndarray) -> float:
    """Good-Turing coverage ``1 - f1/n`` (cruder than :func:`sample_coverage`)."""
    c = frequency_counts(x)
    return float("nan") if c["n"] == 0 else 1.0 - c["f1"] / c["n"]


def _coverage_a(n: int, f1: int, f2: int) -> float:
    """The factor ``A`` of the Chao & Jost coverage."""
    if f2 > 0:
        return (n - 1) * f1 / ((n - 1) * f1 + 2.0 * f2)
    if f1 > 1:
        return (n - 1) * (f1 - 1) / ((n - 1) * (f1 - 1) + 2.0)
    return 0.0


def sample_coverage(x: Sequence[float] | np.ndarray) -> float:
    """Chao & Jost (2012) estimate of the coverage of the sample (fraction 0..1).

    ``1 - f1/n * A`` with ``A = (n-1) f1 / ((n-1) f1 + 2 f2)`` (``f2 = 0``:
    ``(n-1)(f1-1) / ((n-1)(f1-1) + 2)``).
    """
    c = frequency_counts(x)
    n, f1, f2 = c["n"], c["f1"], c["f2"]
    if n == 0:
        return float("nan")
    return 1.0 - f1 / n * _coverage_a(n, f1, f2)


def _lchoose(a: np.ndarray | float, b: float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return gammaln(a + 1.0) - gammaln(b + 1.0) - gammaln(a - b + 1.0)


def richness_at(x: Sequence[float] | np.ndarray, m: float) -> float:
    """Expected richness of a sample of ``m`` records: rarefied (m < n) or extrapolated (m > n).

    Parameters
    ----------
    x : array-like of int
        Records per species.
    m : int
        Sample size in records (> 0).

    Returns
    -------
    float
        Expected number of species. Rarefaction: ``sum_i [1 - C(n-X_i, m)/C(n, m)]``.
        Extrapolation: ``S_obs + f0 [1 - (1 - f1/(n f0 + f1))^(m-n)]`` with the iNEXT ``f0``.
    """
    a = _abundances(x)
    n = int(a.sum())
    if n == 0 or m <= 0:
        return float("nan") if n == 0 else 0.0
    m = int(round(m))
    s = a.size
    if m < n:
        ok = (n - a) >= m
        terms = np.ones_like(a, dtype=np.float64)
        terms[ok] = 1.0 - np.exp(_lchoose(n - a[ok], m) - _lchoose(n, m))
        return float(terms.sum())
    if m == n:
        return float(s)
    f1 = int(np.sum(a == 1))
    f0 = f0_hat(a)
    if f0 == 0 or f1 == 0:
        return float(s)
    base = 1.0 - f1 / (n * f0 + f1)
    return float(s + f0 * (1.0 - base ** (m - n)))


def coverage_at(x: Sequence[float] | np.ndarray, m: float) -> float:
    """Expected sample coverage of a sample of ``m`` records (rarefied or extrapolated), 0..1.

    Rarefaction: ``1 - sum_i X_i/n * C(n-X_i, m)/C(n-1, m)``; ``m = n``: :func:`sample_coverage`;
    extrapolation: ``1 - f1/n * A^(m-n+1)``.
    """
    a = _abundances(x)
    n = int(a.sum())
    if n == 0:
        return float("nan")
    m = int(round(m))
    if m <= 0:
        return 0.0
    if m < n:
        ok = (n - a) >= m
        w = a[ok] / n
        return float(1.0 - np.sum(w * np.exp(_lchoose(n - a[ok], m) - _lchoose(n - 1, m))))
    f1 = int(np.sum(a == 1))
    f2 = int(np.sum(a == 2))
    return float(1.0 - f1 / n * _coverage_a(n, f1, f2) ** (m - n + 1))


def chao2(incidence_freq: Sequence[float] | np.ndarray, t_units: int) -> dict[str, float]:
    """Chao2 richness from incidence frequencies (iNEXT form) with s.e. and 95 % log-CI.

    Parameters
    ----------
    incidence_freq : array-like of int
        Number of sampling units in which each species was found (T not included).
    t_units : int
        Number of sampling units T.

    Returns
    -------
    dict
        ``chao2``, ``se``, ``lower``, ``upper``, ``S_obs``, ``U`` (total incidences), ``Q1``, ``Q2``.
    """
    y = _abundances(incidence_freq)
    t = int(t_units)
    if t <= 0 or np.any(y > t):
        raise ValueError("incidence frequencies must lie in 0..T")
    s = y.size
    q1, q2 = int(np.sum(y == 1)), int(np.sum(y == 2))
    a = (t - 1) / t
    if q2 > 0:
        f0 = a * q1**2 / (2.0 * q2)
        r = q1 / q2
        var = q2 * (a / 2.0 * r**2 + a**2 * r**3 + a**2 / 4.0 * r**4)
    else:
        f0 = a * q1 * (q1 - 1) / 2.0
        est0 = s + f0
        var = a * q1 * (q1 - 1) / 2.0 + a**2 * q1 * (2 * q1 - 1) ** 2 / 4.0 - (a**2 * q1**4 / 4.0 / est0 if est0 else 0)
    var = max(var, 0.0)
    est = s + f0
    if f0 > 0:
        k = float(np.exp(_Z975 * np.sqrt(np.log(1.0 + var / f0**2))))
        lo, hi = s + f0 / k, s + f0 * k
    else:
        lo = hi = float(s)
    return {"chao2": est, "se": float(np.sqrt(var)), "lower": lo, "upper": hi, "S_obs": s, "U": int(y.sum()), "Q1": q1, "Q2": q2}


def incidence_coverage(incidence_freq: Sequence[float] | np.ndarray, t_units: int) -> float:
    """Chao & Jost sample coverage for incidence data, ``1 - Q1/U * (T-1)Q1/((T-1)Q1 + 2Q2)``."""
    y = _abundances(incidence_freq)
    u = int(y.sum())
    if u == 0:
        return float("nan")
    q1, q2 = int(np.sum(y == 1)), int(np.sum(y == 2))
    return 1.0 - q1 / u * _coverage_a(int(t_units), q1, q2)


def summarise(x: Sequence[float] | np.ndarray, m_common: float | None = None) -> dict[str, Any]:
    """All per-group numbers reported in ``species/counts.csv`` for one abundance vector.

    Parameters
    ----------
    x : array-like of int
        Records per species.
    m_common : int, optional
        Common number of records for rarefied/extrapolated richness; the value is left ``nan``
        when ``m_common > 2 n`` (extrapolation beyond twice the sample is unreliable).

    Returns
    -------
    dict
        ``records, species, singletons, doubletons, chao1, chao1_se, chao1_lcl, chao1_ucl,
        coverage, rarefied_m, rarefied_richness, rarefied_coverage``.
    """
    c = frequency_counts(x)
    out: dict[str, Any] = {
        "records": c["n"],
        "species": c["S_obs"],
        "singletons": c["f1"],
        "doubletons": c["f2"],
    }
    if c["n"] == 0:
        out.update(chao1=np.nan, chao1_se=np.nan, chao1_lcl=np.nan, chao1_ucl=np.nan, coverage=np.nan)
    else:
        se, lo, hi = chao1_ci(x)
        out.update(chao1=chao1(x), chao1_se=se, chao1_lcl=lo, chao1_ucl=hi, coverage=sample_coverage(x))
    if m_common is not None and m_common > 0 and 0 < c["n"] and m_common <= 2 * c["n"]:
        out.update(rarefied_m=int(m_common), rarefied_richness=richness_at(x, m_common), rarefied_coverage=coverage_at(x, m_common))
    else:
        out.update(rarefied_m=int(m_common) if m_common else 0, rarefied_richness=np.nan, rarefied_coverage=np.nan)
    return out
