"""The continuous Boyce index of a habitat suitability map against presence records.

Method (Hirzel et al. 2006, Ecol. Model. 199:142-152; as in ``ecospat.boyce``):

1. The suitability range ``[lo, hi]`` is that of the **background** (every valid cell of the
   region). A window of width ``w = window_frac * (hi - lo)`` (default 1/10 of the range) moves
   from ``lo`` to ``hi - w`` in ``resolution`` equal steps (default 100, so 101 windows).
2. In window ``k``: ``P_k`` = share of the presences whose cell value lies in the window,
   ``E_k`` = share of the background cells in the window, ``F_k = P_k / E_k`` (predicted-to-expected
   ratio; 1 = as many presences as a random spread would give).
3. The index is the Spearman rank correlation between ``F_k`` and the window mid-points.
   It runs from -1 (presences avoid the suitable cells) over 0 (no better than random) to +1
   (presences increase monotonically with suitability).

Ties and empty windows (suitability tables with few distinct values, as the shipped guild tables,
give rasters with a handful of values, so most windows hold one value or none):

* **Window edges** are closed intervals, and a value within ``1e-6`` of the range from an edge
  counts as inside. Table values such as 0.6 stored as float32 (0.6000000238) therefore belong to a
  window whose edge is exactly 0.6.
* **Empty windows** (no background cell, ``E_k = 0``) are dropped: ``F_k`` is undefined there. Every
  presence lies on a background cell (presences on nodata or outside the region are dropped
  before), so a window without background holds no presence either.
* **Runs of equal ratios**: successive non-empty windows with the same ``F_k`` (rounded to 10
  decimals; for a table raster they hold the same class values, or classes without presences,
  ``F_k = 0``) are collapsed into one point placed at the mean mid-point of the run, so a flat
  stretch is counted once instead of inflating the correlation (``ecospat.boyce``'s
  ``rm.duplicate``; the mid-point chosen does not change any rank).
  Non-adjacent windows with equal ``F_k`` stay separate and get the average rank (Spearman's usual
  treatment of ties).
* At least two points must remain and neither coordinate may be constant; otherwise the index is
  undefined (``nan``): a constant suitability map, one distinct value, or ``F_k`` equal everywhere.

Confidence interval: the presences are resampled with replacement ``n_boot`` times (the background
is fixed) and the index recomputed; the interval is the percentile interval of the replicates that
are defined (90 %: the 5th and 95th percentiles). The random generator is seeded, so a rerun gives
the same numbers. The interval describes how much the index moves when the presences are resampled;
for an index close to +1 the duplicated presences of a resample add noise, so the interval can lie
slightly below the estimate itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = ["BoyceResult", "boyce_index", "boyce_bootstrap", "spearman"]

#: Relative tolerance (of the suitability range) for a value on a window edge.
EDGE_TOL = 1e-6


@dataclass(frozen=True)
class BoyceResult:
    """The index and its predicted-to-expected curve.

    Attributes
    ----------
    boyce : float
        Continuous Boyce index (-1..1), ``nan`` when undefined (see the module docstring).
    n_presences, n_background : int
        Presences and background cells used.
    windows : pandas.DataFrame
        One row per moving window: ``window`` (0-based), ``hs_lo``, ``hs_hi``, ``hs_mid``,
        ``presences``, ``background`` (counts in the window), ``p``, ``e`` (shares), ``pe``
        (``p / e``, ``nan`` for an empty window) and ``used`` (the window enters the correlation:
        it is not empty and is the last window of its run of equal ratios).
    n_points : int
        Points of the Spearman correlation after dropping empty windows and collapsing runs.
    """

    boyce: float
    n_presences: int
    n_background: int
    windows: pd.DataFrame
    n_points: int


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties; ``nan`` if fewer than 2 points or a
    coordinate is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    rx = rankdata(x)
    ry = rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    return float(np.sum(rx * ry) / np.sqrt(np.sum(rx * rx) * np.sum(ry * ry)))


class _Windows:
    """Moving windows over the background range, with the index arrays that count values in them."""

    def __init__(self, background: np.ndarray, window_frac: float, resolution: int) -> None:
        bg = np.sort(np.asarray(background, dtype=np.float64).ravel())
        self.lo, self.hi = (float(bg[0]), float(bg[-1])) if bg.size else (0.0, 0.0)
        rng = self.hi - self.lo
        w = window_frac * rng
        steps = np.arange(resolution + 1, dtype=np.float64) / resolution
        self.start = self.lo + (rng - w) * steps
        self.end = self.start + w
        self.tol = EDGE_TOL * rng
        self.n_bg = bg.size
        self.bg_count = self.count_sorted(bg)

    def bounds(self, sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the first value >= start - tol and past the last value <= end + tol."""
        left = np.searchsorted(sorted_values, self.start - self.tol, side="left")
        right = np.searchsorted(sorted_values, self.end + self.tol, side="right")
        return left, right

    def count_sorted(self, sorted_values: np.ndarray) -> np.ndarray:
        left, right = self.bounds(sorted_values)
        return (right - left).astype(np.int64)


def _collapse(pe: np.ndarray, mid: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop empty windows, collapse successive equal ratios; return (pe, hs, used-mask)."""
    idx = np.flatnonzero(keep)
    used = np.zeros(pe.size, dtype=bool)
    if idx.size == 0:
        return np.zeros(0), np.zeros(0), used
    f = np.round(pe[idx], 10)
    # run boundaries: a new run starts where the rounded ratio changes
    new_run = np.ones(idx.size, dtype=bool)
    new_run[1:] = f[1:] != f[:-1]
    run_id = np.cumsum(new_run) - 1
    n_runs = int(run_id[-1]) + 1
    hs = np.bincount(run_id, weights=mid[idx], minlength=n_runs) / np.bincount(run_id, minlength=n_runs)
    last = np.ones(idx.size, dtype=bool)
    last[:-1] = new_run[1:]
    used[idx[last]] = True
    return f[new_run], hs, used


def boyce_index(
    background: np.ndarray,
    presences: np.ndarray,
    *,
    window_frac: float = 0.1,
    resolution: int = 100,
) -> BoyceResult:
    """Continuous Boyce index of suitability values at presences against the background.

    Parameters
    ----------
    background : array-like of float
        Suitability of every background cell (finite values only; nodata removed by the caller).
    presences : array-like of float
        Suitability at each presence (one value per record; values must be background values).
    window_frac : float
        Window width as a fraction of the background range (Hirzel et al.: 0.1).
    resolution : int
        Number of steps of the moving window (``resolution + 1`` windows).

    Returns
    -------
    BoyceResult
        The index (``nan`` when undefined) and the per-window P/E curve.

    Raises
    ------
    ValueError
        Non-finite values, ``window_frac`` outside (0, 1] or ``resolution < 1``.
    """
    return _index(background, presences, window_frac, resolution)[0]


def _index(background: np.ndarray, presences: np.ndarray, window_frac: float,
           resolution: int) -> tuple[BoyceResult, _Windows]:
    bg = np.asarray(background, dtype=np.float64).ravel()
    pr = np.sort(np.asarray(presences, dtype=np.float64).ravel())
    if not (0 < window_frac <= 1) or resolution < 1:
        raise ValueError("window_frac must be in (0, 1] and resolution >= 1")
    if not (np.all(np.isfinite(bg)) and np.all(np.isfinite(pr))):
        raise ValueError("suitability values must be finite (drop nodata first)")
    win = _Windows(bg, window_frac, resolution)
    p_count = win.count_sorted(pr) if pr.size else np.zeros(win.start.size, np.int64)
    return _result(win, p_count, pr.size), win


def _result(win: _Windows, p_count: np.ndarray, n_pres: int) -> BoyceResult:
    e = win.bg_count / win.n_bg if win.n_bg else np.zeros(win.start.size)
    p = p_count / n_pres if n_pres else np.zeros(win.start.size)
    keep = win.bg_count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pe = np.where(keep, p / np.where(keep, e, 1.0), np.nan)
    mid = (win.start + win.end) / 2.0
    f, hs, used = _collapse(pe, mid, keep)
    b = spearman(f, hs) if n_pres and win.hi > win.lo else float("nan")
    windows = pd.DataFrame({
        "window": np.arange(win.start.size), "hs_lo": win.start, "hs_hi": win.end, "hs_mid": mid,
        "presences": p_count, "background": win.bg_count, "p": p, "e": e, "pe": pe, "used": used,
    })
    return BoyceResult(b, int(n_pres), int(win.n_bg), windows, int(f.size))


def boyce_bootstrap(
    background: np.ndarray,
    presences: np.ndarray,
    *,
    n_boot: int,
    seed: int | list[int],
    level: float = 0.90,
    window_frac: float = 0.1,
    resolution: int = 100,
) -> tuple[BoyceResult, float, float]:
    """The Boyce index with a bootstrap percentile interval over resampled presences.

    Parameters
    ----------
    background, presences, window_frac, resolution
        As :func:`boyce_index`.
    n_boot : int
        Bootstrap replicates (0: no interval).
    seed : int or list of int
        Seed of :func:`numpy.random.default_rng` (deterministic).
    level : float
        Interval level (0.90: 5th and 95th percentiles).

    Returns
    -------
    result, lower, upper
        The index of the data and the interval bounds (``nan`` when no replicate is defined).
    """
    res, win = _index(background, presences, window_frac, resolution)
    n = res.n_presences
    if n_boot <= 0 or n == 0 or res.n_background == 0:
        return res, float("nan"), float("nan")
    values, counts = np.unique(np.asarray(presences, dtype=np.float64).ravel(), return_counts=True)
    left, right = win.bounds(values)
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        draw = rng.multinomial(n, counts / n)
        cum = np.concatenate(([0], np.cumsum(draw)))
        reps[b] = _result_boyce(win, cum[right] - cum[left], n)
    ok = reps[np.isfinite(reps)]
    if ok.size == 0:
        return res, float("nan"), float("nan")
    a = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(ok, [a, 100.0 - a])
    return res, float(lo), float(hi)


def _result_boyce(win: _Windows, p_count: np.ndarray, n_pres: int) -> float:
    keep = win.bg_count > 0
    pe = np.full(p_count.size, np.nan)
    pe[keep] = (p_count[keep] / n_pres) / (win.bg_count[keep] / win.n_bg)
    mid = (win.start + win.end) / 2.0
    f, hs, _ = _collapse(pe, mid, keep)
    return spearman(f, hs) if win.hi > win.lo else float("nan")
