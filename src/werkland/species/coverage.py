"""Species counts compared between two periods at a common sample coverage (iNEXT method).

Per park and guild the records of each period form an abundance vector (records per species;
records are not individuals, so all numbers are "per record"). For each period: records ``n``,
observed richness, Chao1 (:func:`werkland.species.richness.chao1`) and the Chao & Jost (2012)
sample coverage ``C_hat(n)``. The two periods are then compared at a **common coverage** with
coverage-based rarefaction and extrapolation (Chao & Jost 2012, Ecology 93:2533-2547; Chao et al.
2014, Ecol. Monogr. 84:45-67), as iNEXT 3 ``estimateD(base = "coverage", level = NULL)`` does:

* the common coverage is the lower of the two periods' coverages **extrapolated to twice their own
  sample size**, ``C* = min(C_1(2 n_1), C_2(2 n_2))`` (iNEXT 3; iNEXT 2.0 took the lower of the
  observed coverages ``C(n)``, which is never higher, so C* compares more complete samples while
  no period is extrapolated beyond ``2 n``);
* for each period the sample size ``m*`` with ``C(m*) = C*`` is found: by bisection on the
  rarefaction curve (real ``m`` through log-gamma functions, as iNEXT's ``Chat.Ind``) when
  ``C* < C(n)``, from the closed form ``m* = n + (ln(n/f1) + ln(1 - C*)) / ln(A) - 1`` of the
  extrapolated coverage when ``C* > C(n)`` (``A`` as in :func:`werkland.species.richness.sample_coverage`),
  ``m* = n`` when equal; ``m* < 1`` is raised to 1 as in iNEXT;
* the richness at ``m*`` is the rarefied (``sum_i 1 - C(n - X_i, m)/C(n, m)``) or extrapolated
  (``S_obs + f0 (1 - (n f0/(n f0 + f1))^(m - n))``) expectation.

Confidence interval (iNEXT's bootstrap): the assemblage is estimated from the sample
(:func:`bootstrap_assemblage`, iNEXT ``EstiBootComm.Ind``: observed species with relative
abundances adjusted for undetected ones, plus ``ceil(f0)`` undetected species sharing the missing
coverage), ``n_boot`` samples of ``n`` records are drawn from it (multinomial, seeded), the
richness at the **same** coverage ``C*`` is computed for each, and the interval is
``estimate +- 1.959964 * sd`` (sample standard deviation of the replicates), the lower bound
clipped at 0 (iNEXT ``qTD.LCL < 0 -> 0``).

Verdict rule: the follow-up period's richness at ``C*`` is an **increase** when its 95 % interval
lies wholly above the baseline's, a **decrease** when wholly below, else **no_detectable_change**.
Non-overlap of two 95 % intervals is a conservative test (roughly p < 0.006 for equal standard
errors): "no detectable change" does not mean "no change". With fewer than ``min_records`` records
in either period the verdict is **insufficient_data** and the coverage-standardised columns are
empty.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from werkland.species import richness
from werkland.species.records import ALL_GUILDS, REGION_ROW

__all__ = [
    "PERIOD_COLUMNS",
    "bootstrap_assemblage",
    "common_coverage",
    "compare_periods",
    "coverage_m",
    "m_at_coverage",
    "period_comparison",
    "richness_at_coverage",
    "richness_m",
]

_Z975 = 1.959963984540054

#: Columns of ``species/periods.csv`` (one row per park x guild x period).
PERIOD_COLUMNS = [
    "park_id", "guild", "period", "year_min", "year_max", "records", "s_obs", "chao1", "coverage",
    "common_coverage", "m_at_common_coverage", "method", "s_at_common_coverage", "lo", "hi", "verdict",
]


class _Freq:
    """Abundance samples as frequency counts: ``F[b, j]`` species with ``U[j]`` records in sample ``b``.

    Every formula depends on a sample only through its frequency counts, and the distinct abundance
    values ``U`` shared by all rows are far fewer than the species (bootstrap samples are mostly the
    same few values), so the per-iteration work of :func:`m_at_coverage` is ``rows x len(U)``.
    """

    def __init__(self, x: Sequence[float] | np.ndarray) -> None:
        a = np.asarray(x, dtype=np.float64)
        a = a[None, :] if a.ndim == 1 else a
        rows = a.shape[0]
        self.n = a.sum(axis=1)
        nz = a > 0
        r_idx = np.nonzero(nz)[0]
        vals = a[nz]
        self.u, inv = np.unique(vals, return_inverse=True)
        self.f = np.bincount(r_idx * self.u.size + inv, minlength=rows * self.u.size).reshape(rows, self.u.size)
        self.f = self.f.astype(np.float64)
        self.s = self.f.sum(axis=1)
        self.f1 = self.f[:, self.u == 1].sum(axis=1)
        self.f2 = self.f[:, self.u == 2].sum(axis=1)
        self._lg_nu = gammaln(np.maximum(self.n[:, None] - self.u[None, :] + 1, 1.0))  # lgamma(n - u + 1)

    def take(self, sel: np.ndarray) -> _Freq:
        out = object.__new__(_Freq)
        out.n, out.u, out.f, out.s = self.n[sel], self.u, self.f[sel], self.s[sel]
        out.f1, out.f2, out._lg_nu = self.f1[sel], self.f2[sel], self._lg_nu[sel]
        return out

    def rare_cov(self, m: np.ndarray) -> np.ndarray:
        """Rarefied coverage at real ``m < n`` per row (iNEXT ``Chat.Ind``)."""
        nn, mm = self.n[:, None], m[:, None]
        ok = (self.u[None, :] <= nn - mm) & (self.f > 0)
        arg = np.where(ok, nn - self.u[None, :] - mm + 1, 1.0)
        t = np.exp(self._lg_nu - gammaln(arg) - gammaln(nn) + gammaln(nn - mm))
        return 1.0 - np.sum(np.where(ok, self.f * self.u[None, :] / nn * t, 0.0), axis=1)

    def rare_rich(self, m: np.ndarray) -> np.ndarray:
        """Rarefied richness at real ``m <= n`` per row (iNEXT ``D0.hat``)."""
        nn, mm = self.n[:, None], m[:, None]
        ok = self.u[None, :] <= nn - mm
        arg = np.where(ok, nn - self.u[None, :] - mm + 1, 1.0)
        t = np.exp(self._lg_nu + gammaln(nn - mm + 1) - gammaln(arg) - gammaln(nn + 1))
        return np.sum(self.f * (1.0 - np.where(ok, t, 0.0)), axis=1)


def _f0(n: np.ndarray, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(f2 > 0, (n - 1) / n * f1 * f1 / (2.0 * np.maximum(f2, 1)), (n - 1) / n * f1 * (f1 - 1) / 2.0)


def _a_cov(n: np.ndarray, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """iNEXT's ``A = n f0 / (n f0 + f1)`` (1 when f1 = 0)."""
    f0 = _f0(n, f1, f2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(f1 > 0, n * f0 / (n * f0 + f1), 1.0)


def _cov(q: _Freq, m: np.ndarray) -> np.ndarray:
    out = np.empty(q.n.shape)
    lt = m < q.n
    if lt.any():
        out[lt] = q.take(lt).rare_cov(m[lt])
    ge = ~lt
    if ge.any():
        aa = _a_cov(q.n[ge], q.f1[ge], q.f2[ge])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[ge] = 1.0 - q.f1[ge] / q.n[ge] * aa ** (m[ge] - q.n[ge] + 1)
    return out


def _rich(q: _Freq, m: np.ndarray) -> np.ndarray:
    out = np.empty(q.n.shape)
    lt = m <= q.n
    if lt.any():
        out[lt] = q.take(lt).rare_rich(m[lt])
    gt = ~lt
    if gt.any():
        n, f1, s = q.n[gt], q.f1[gt], q.s[gt]
        f0 = _f0(n, f1, q.f2[gt])
        with np.errstate(invalid="ignore", divide="ignore"):
            ext = s + f0 * (1.0 - (n * f0 / (n * f0 + f1)) ** (m[gt] - n))
        out[gt] = np.where(f1 == 0, s, ext)
    return out


def _per_row(q: _Freq, m: float | np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(m, dtype=np.float64), q.n.shape).copy()


def coverage_m(x: Sequence[float] | np.ndarray, m: float | np.ndarray) -> np.ndarray:
    """Expected coverage of a sample of real size ``m`` (iNEXT ``Chat.Ind``), one value per row.

    Parameters
    ----------
    x : array-like
        Abundance vector, or a matrix whose rows are samples.
    m : float or array
        Sample size per row (records; need not be an integer).
    """
    q = _Freq(x)
    return _cov(q, _per_row(q, m))


def richness_m(x: Sequence[float] | np.ndarray, m: float | np.ndarray) -> np.ndarray:
    """Expected richness of a sample of real size ``m`` (iNEXT ``D0.hat``), one value per row."""
    q = _Freq(x)
    return _rich(q, _per_row(q, m))


def m_at_coverage(x: Sequence[float] | np.ndarray, c: float, *, rel_tol: float = 1e-9) -> np.ndarray:
    """Sample size (real) at which the expected coverage equals ``c``, per row (iNEXT ``invChat.Ind``).

    Rarefaction: bisection on ``[0, n]`` (coverage rises monotonically with ``m``) until the bracket
    is below ``rel_tol * n``; extrapolation: closed form. Values below 1 are raised to 1 as in iNEXT.
    """
    return _m_at(_Freq(x), c, rel_tol)


def _m_at(q: _Freq, c: float, rel_tol: float = 1e-9) -> np.ndarray:
    n, f1, f2 = q.n, q.f1, q.f2
    ref = _cov(q, n.copy())
    out = n.astype(np.float64).copy()
    rare = ref > c
    if rare.any():
        sub = q.take(rare)
        lo = np.zeros(int(rare.sum()))
        hi = sub.n.astype(np.float64).copy()
        iterations = int(np.ceil(np.log2(1.0 / rel_tol))) + 1
        for _ in range(iterations):
            mid = (lo + hi) / 2.0
            above = _cov(sub, mid) > c
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        out[rare] = (lo + hi) / 2.0
    ext = ref < c
    if ext.any():
        nn, g1, g2 = n[ext], f1[ext], f2[ext]
        with np.errstate(invalid="ignore", divide="ignore"):
            big_a = np.where(g2 > 0, (nn - 1) * g1 / ((nn - 1) * g1 + 2.0 * g2),
                             np.where(g1 > 1, (nn - 1) * (g1 - 1) / ((nn - 1) * (g1 - 1) + 2.0), 0.0))
            mm = np.where(big_a > 0, (np.log(nn / g1) + np.log(1.0 - c)) / np.log(big_a) - 1.0, 0.0)
        out[ext] = nn + mm
    return np.maximum(out, 1.0)


def richness_at_coverage(x: Sequence[float] | np.ndarray, c: float) -> tuple[float, float]:
    """(m*, richness) of an abundance vector at coverage ``c``."""
    m = m_at_coverage(x, c)
    return float(m[0]), float(richness_m(x, m)[0])


def bootstrap_assemblage(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Estimated relative abundances of the assemblage behind a sample (iNEXT ``EstiBootComm.Ind``).

    Observed species: ``X_i/n (1 - w (1 - X_i/n)^n)`` with ``w = a / sum_i X_i/n (1 - X_i/n)^n``,
    ``a = f1/n * A`` (``A = n f0/(n f0 + f1)``); plus ``ceil(f0)`` undetected species each with
    ``a / ceil(f0)``. ``w = 0`` when ``f0 = 0``. Sorted in decreasing order.
    """
    xa = np.asarray(x, dtype=np.float64)
    xa = xa[xa > 0]
    n = xa.sum()
    f1, f2 = float(np.sum(xa == 1)), float(np.sum(xa == 2))
    f0 = float(_f0(np.array([n]), np.array([f1]), np.array([f2]))[0])
    big_a = n * f0 / (n * f0 + f1) if f1 > 0 else 1.0
    a = f1 / n * big_a
    b = float(np.sum(xa / n * (1 - xa / n) ** n))
    w = a / b if f0 > 0 and b > 0 else 0.0
    seen = xa / n * (1 - w * (1 - xa / n) ** n)
    k = int(np.ceil(f0)) if f0 > 0 else 0
    unseen = np.full(k, a / k) if k else np.zeros(0)
    return np.sort(np.concatenate([seen, unseen]))[::-1]


def common_coverage(samples: Sequence[Sequence[float] | np.ndarray]) -> float:
    """iNEXT 3 default coverage of a comparison: ``min_i C_i(2 n_i)``."""
    return float(min(coverage_m(s, 2.0 * float(np.sum(s)))[0] for s in samples))


def _seed(seed: int, *parts: str) -> list[int]:
    return [int(seed), *(zlib.crc32(p.encode("utf-8")) for p in parts)]


def period_comparison(
    samples: Sequence[np.ndarray],
    *,
    n_boot: int,
    seed: list[int],
    min_records: int,
) -> dict[str, Any]:
    """Two periods of one park and guild compared at a common coverage.

    Parameters
    ----------
    samples : pair of arrays
        Records per species in the baseline and the follow-up period.
    n_boot : int
        Bootstrap replicates (0: no interval).
    seed : list of int
        Seed of the random generator (each period adds its index).
    min_records : int
        Fewer records in either period -> ``insufficient_data``.

    Returns
    -------
    dict
        ``common_coverage``, ``verdict`` and per period (lists) ``m``, ``method``, ``s``, ``lo``, ``hi``.
    """
    ns = [int(np.sum(s)) for s in samples]
    out: dict[str, Any] = {"common_coverage": np.nan, "verdict": "insufficient_data",
                           "m": [np.nan] * 2, "method": [""] * 2, "s": [np.nan] * 2,
                           "lo": [np.nan] * 2, "hi": [np.nan] * 2}
    if min(ns) < max(int(min_records), 1):
        return out
    c = common_coverage(samples)
    out["common_coverage"] = c
    for i, x in enumerate(samples):
        x = np.asarray(x, dtype=np.float64)
        m, s = richness_at_coverage(x, c)
        n = ns[i]
        out["m"][i], out["s"][i] = m, s
        out["method"][i] = "rarefaction" if m < n else ("observed" if m == n else "extrapolation")
        if n_boot > 0:
            rng = np.random.default_rng([*seed, i])
            q = _Freq(rng.multinomial(n, bootstrap_assemblage(x), size=int(n_boot)))
            reps = _rich(q, _m_at(q, c))
            sd = float(np.std(reps[np.isfinite(reps)], ddof=1)) if np.isfinite(reps).sum() > 1 else np.nan
            out["lo"][i], out["hi"][i] = max(s - _Z975 * sd, 0.0), s + _Z975 * sd
    lo, hi = out["lo"], out["hi"]
    if np.isfinite(lo).all() and np.isfinite(hi).all():
        out["verdict"] = ("increase" if lo[1] > hi[0] else "decrease" if hi[1] < lo[0]
                          else "no_detectable_change")
    else:
        out["verdict"] = "no_detectable_change" if n_boot > 0 else "no_interval"
    return out


def compare_periods(
    records: pd.DataFrame,
    park_ids: Sequence[str],
    guilds: Sequence[str],
    periods: Sequence[tuple[str, int, int]],
    *,
    n_boot: int,
    seed: int,
    min_records: int,
) -> pd.DataFrame:
    """``species/periods.csv``: per park (and ``__region__``), guild (and ``all``) and period.

    Parameters
    ----------
    records : pandas.DataFrame
        Cleaned occurrences with ``speciesKey``, ``year``, ``park_id`` (None outside parks) and
        ``guild`` (``;``-joined guild names).
    park_ids : sequence of str
        Every park (parks without records get rows with zeros).
    guilds : sequence of str
        Guild ids.
    periods : sequence of (name, first year, last year)
        Exactly two periods, baseline first; years inclusive. Empty: no comparison (header only).
    n_boot, seed, min_records
        See :func:`period_comparison`; each park x guild has its own generator seeded with
        ``seed`` and the CRC-32 of the park and guild ids (independent of row order).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PERIOD_COLUMNS`.
    """
    if not periods:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PERIOD_COLUMNS})
    if len(periods) != 2:
        raise ValueError("compare_periods needs exactly two periods (baseline, follow-up)")
    year = pd.to_numeric(records["year"], errors="coerce").to_numpy() if len(records) else np.zeros(0)
    padded = ";" + records["guild"].fillna("").astype(str) + ";" if len(records) else pd.Series(dtype=object)
    rows: list[dict[str, Any]] = []
    for g in [ALL_GUILDS, *guilds]:
        in_g = (np.ones(len(records), bool) if g == ALL_GUILDS
                else padded.str.contains(f";{g};", regex=False).to_numpy(dtype=bool))
        tables = []
        for _, y0, y1 in periods:
            sel = records[in_g & (year >= y0) & (year <= y1)]
            tables.append(_abundances_by_park(sel))
        for pid in [*park_ids, REGION_ROW]:
            xs = [t.get(pid, np.zeros(0, np.int64)) for t in tables]
            cmp = period_comparison(xs, n_boot=n_boot, seed=_seed(seed, pid, g), min_records=min_records)
            for i, (name, y0, y1) in enumerate(periods):
                x = xs[i]
                n = int(x.sum())
                rows.append({
                    "park_id": pid, "guild": g, "period": name, "year_min": y0, "year_max": y1,
                    "records": n, "s_obs": int(np.count_nonzero(x)),
                    "chao1": richness.chao1(x) if n else np.nan,
                    "coverage": richness.sample_coverage(x) if n else np.nan,
                    "common_coverage": cmp["common_coverage"], "m_at_common_coverage": cmp["m"][i],
                    "method": cmp["method"][i], "s_at_common_coverage": cmp["s"][i],
                    "lo": cmp["lo"][i], "hi": cmp["hi"][i], "verdict": cmp["verdict"],
                })
    return pd.DataFrame(rows, columns=PERIOD_COLUMNS)


def _abundances_by_park(sel: pd.DataFrame) -> dict[str, np.ndarray]:
    """Park id (and ``__region__``) -> records per species."""
    out: dict[str, np.ndarray] = {}
    if not len(sel):
        return out
    out[REGION_ROW] = sel.groupby("speciesKey").size().to_numpy(np.int64)
    inpark = sel[sel["park_id"].notna()]
    if len(inpark):
        ab = inpark.groupby([inpark["park_id"].astype(str), "speciesKey"], sort=True).size()
        for pid, v in ab.groupby(level=0, sort=False):
            out[str(pid)] = v.to_numpy(np.int64)
    return out
