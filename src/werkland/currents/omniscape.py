"""Omniscape: coreless moving-window current flow (McRae et al. 2016; Landau et al. 2021).

For every target block centre on a ``block_size`` grid whose block holds source strength, a circular
window of ``radius`` cells (plus ``buffer`` cells of resistance only) around the target is solved
with the target cell grounded and the window's sources injecting, together, the summed source
strength of the target's block (each in proportion to its own strength; the target block injects
nothing). The node currents (``max(inflow, outflow)``) of all windows are summed into the
cumulative current. *Flow potential* repeats every solve with resistance 1 on every cell of the
window's box, and the *normalised current* is ``cumulative / flow potential`` (> 1 channelised,
< 1 impeded). With ``correct_artifacts`` the block artefact correction of Omniscape.jl is applied.

This module reproduces Omniscape.jl, including how it places the zeroed target block in windows cut
by the raster edge (it zeroes the block at the centre of the uncut window, so near the edge sources
inside the target block inject and some others do not); the published test outputs are matched to
1e-5 relative (``tests/unit/test_currents_omniscape.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from werkland._errors import WerklandInputError
from werkland.currents.flow import accumulate_node_currents
from werkland.currents.graph import GridGraph, grid_graph
from werkland.currents.solver import ComponentSolver, SolverSettings

log = logging.getLogger(__name__)

__all__ = ["OmniscapeResult", "OmniscapeSettings", "omniscape", "source_from_resistance", "targets"]


@dataclass(frozen=True)
class OmniscapeSettings:
    """Moving-window settings (in cells).

    Attributes
    ----------
    radius : int
        Window radius in cells.
    block_size : int
        Side of the target blocks (odd; an even value is raised by one, as Omniscape does).
    buffer : int
        Extra ring of resistance-only cells around the source window.
    correct_artifacts : bool
        Apply Omniscape's block artefact correction (ignored when ``block_size`` is 1).
    flow_potential : bool
        Also compute the flow potential (and the normalised current).
    four_neighbors : bool
        Connect 4 neighbours instead of 8.
    """

    radius: int
    block_size: int = 1
    buffer: int = 0
    correct_artifacts: bool = True
    flow_potential: bool = True
    four_neighbors: bool = False

    def __post_init__(self) -> None:
        if self.radius < 1:
            raise WerklandInputError(f"radius {self.radius} < 1 cell", path="radius", fix="use a radius of >= 1 cell")
        if self.block_size < 1:
            raise WerklandInputError(f"block_size {self.block_size} < 1", path="block_size", fix="use >= 1")
        if self.buffer < 0:
            raise WerklandInputError(f"buffer {self.buffer} < 0", path="buffer", fix="use >= 0")

    @property
    def block(self) -> int:
        """The odd block size used."""
        return self.block_size + 1 if self.block_size % 2 == 0 else self.block_size


@dataclass
class OmniscapeResult:
    """Cumulative current, flow potential and normalised current (NaN where masked).

    ``n_targets`` windows were solved; ``residual`` is the largest relative residual.
    """

    current: np.ndarray
    flow_potential: np.ndarray | None
    normalized: np.ndarray | None
    n_targets: int
    residual: float


def source_from_resistance(resistance: np.ndarray, r_cutoff: float = np.inf) -> np.ndarray:
    """Omniscape's default source strength: ``1 / resistance`` where resistance <= ``r_cutoff``, else 0."""
    r = np.asarray(resistance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 1.0 / r
    s[~np.isfinite(s) | ~np.isfinite(r) | (r <= 0)] = 0.0
    with np.errstate(divide="ignore"):
        s[s < 1.0 / r_cutoff] = 0.0
    return s


def targets(source: np.ndarray, block: int) -> np.ndarray:
    """Target cells ``(row, col, amps)`` (0-based) of every block holding source strength."""
    nrows, ncols = source.shape
    br = (block - 1) // 2
    xs = np.arange(br, ncols - br, block)
    ys = np.arange(br, nrows - br, block)
    out = []
    for x in xs:
        for y in ys:
            amps = float(source[y - br:min(y + br, nrows - 1) + 1, x - br:min(x + br, ncols - 1) + 1].sum())
            if amps > 0:
                out.append((y, x, amps))
    return np.array(out, dtype=np.float64).reshape(-1, 3)


def _disk(shape: tuple[int, int], cy: int, cx: int, radius: int) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) <= radius


def _window(nrows: int, ncols: int, y: int, x: int, dist: int) -> tuple[slice, slice, int, int]:
    """Rows, columns of the box of ``dist`` around (y, x) and the target's position in it."""
    r0, r1 = max(y - dist, 0), min(y + dist, nrows - 1)
    c0, c1 = max(x - dist, 0), min(x + dist, ncols - 1)
    return slice(r0, r1 + 1), slice(c0, c1 + 1), y - r0, x - c0


class _Solve:
    """Current of one window (graph, grounded target, sources), cached factorisations of the
    flow-potential systems (every full window has the same unit-conductance matrix)."""

    def __init__(self, s: OmniscapeSettings, settings: SolverSettings) -> None:
        self.s = s
        self.settings = settings
        self._fp_cache: dict[tuple[int, int, int, int], tuple[GridGraph, np.ndarray, ComponentSolver]] = {}
        self.residual = 0.0

    def current(self, cond: np.ndarray, src: np.ndarray, gy: int, gx: int) -> np.ndarray:
        g = grid_graph(cond, four_neighbors=self.s.four_neighbors)
        nm = g.nodemap
        assert nm is not None
        out = np.zeros(cond.shape)
        ground = int(nm[gy, gx])
        if ground < 0:
            return out
        src = src.copy()
        src[gy, gx] = 0.0  # a source on the ground is removed (rmvsrc)
        on = nm >= 0
        inj = np.bincount(nm[on], weights=src[on], minlength=g.n_nodes)
        comp = g.components()
        c = comp[ground]
        nodes = np.flatnonzero(comp == c)
        if inj[nodes].sum() == 0:
            return out
        solver = ComponentSolver(g.laplacian(), nodes, np.array([ground]), settings=self.settings)
        v = np.zeros(g.n_nodes)
        v[solver.free] = solver.solve(inj[solver.free])
        self.residual = max(self.residual, solver.max_residual)
        nc = np.zeros(g.n_nodes)
        accumulate_node_currents(g, nc, v)
        out[on] = nc[nm[on]]
        return out

    def flow_potential(self, src: np.ndarray, gy: int, gx: int) -> np.ndarray:
        key = (src.shape[0], src.shape[1], gy, gx)
        if key not in self._fp_cache:
            g = grid_graph(np.ones(src.shape), four_neighbors=self.s.four_neighbors)
            ground = int(gy * src.shape[1] + gx)
            nodes = np.arange(g.n_nodes)
            solver = ComponentSolver(g.laplacian(), nodes, np.array([ground]), settings=self.settings)
            if len(self._fp_cache) > 64:
                self._fp_cache.clear()
            self._fp_cache[key] = (g, solver.free, solver)
        g, free, solver = self._fp_cache[key]
        s2 = src.copy()
        s2[gy, gx] = 0.0
        inj = s2.ravel()
        v = np.zeros(inj.size)
        if inj.sum() == 0:
            return np.zeros(src.shape)
        v[free] = solver.solve(inj[free])
        nc = np.zeros(inj.size)
        accumulate_node_currents(g, nc, v)
        return nc.reshape(src.shape)


def _correction(s: OmniscapeSettings, solve: _Solve, shape: tuple[int, int]) -> np.ndarray:
    """Omniscape.jl's block artefact correction array ((2r + 2b + 1) square)."""
    r, b, bs = s.radius, s.buffer, s.block
    br = (bs - 1) // 2
    size = 2 * r + 2 * b + 1
    c = r + b
    inner = _disk((size, size), c, c, r)
    null_src = np.where(inner, 1.0, 0.0)
    n_sources = null_src.sum()
    null_src[c, c] = 0.0
    null_src[null_src != 0] = 1.0 / (n_sources - 1)
    nrows, ncols = shape
    blocked = np.where(inner, 1.0, 0.0)
    blocked[c - br:min(c + br, nrows - 1) + 1, c - br:min(c + br, ncols - 1) + 1] = 0.0
    blocked[blocked > 0] *= float(bs * bs) / blocked[blocked > 0].sum()
    cond = np.where(_disk((size, size), c, c, r + b), 1.0, 0.0)
    block_cur = solve.current(cond, blocked, c, c)
    null_cur = solve.current(cond, null_src, c, c)
    total = np.zeros((size + bs - 1, size + bs - 1))
    for i in range(bs):
        for j in range(bs):
            total[i:i + size, j:j + size] += null_cur
    total = total[br:br + size, br:br + size]
    total[block_cur == 0] = 0
    total[total == 0] = 1.0
    block_cur = block_cur.copy()
    block_cur[block_cur == 0] = 1.0
    return total / block_cur


def _target_sources(src: np.ndarray, y: int, x: int, amps: float, s: OmniscapeSettings) -> np.ndarray:
    """Omniscape's source window of a target (already padded to the conductance window)."""
    nrows, ncols = src.shape
    r, b, bs = s.radius, s.buffer, s.block
    br = (bs - 1) // 2
    rs, cs, ty, tx = _window(nrows, ncols, y, x, r)
    sub = np.where(_disk((rs.stop - rs.start, cs.stop - cs.start), ty, tx, r), src[rs, cs], 0.0)
    left = max(0, min(b, x - r))
    right = max(0, min(b, ncols - 1 - (x + r)))
    top = max(0, min(b, y - r))
    bottom = max(0, min(b, nrows - 1 - (y + r)))
    sub = np.pad(sub, ((top, bottom), (left, right)))
    c = r + b
    sub[c - br:min(c + br, nrows - 1) + 1, c - br:min(c + br, ncols - 1) + 1] = 0.0
    pos = sub > 0
    total = sub[pos].sum()
    if total > 0:
        sub[pos] = sub[pos] * amps / total
    return sub


def _cut(t: int, n: int, d: int, size: int, w: int) -> slice:
    """The part of the correction array that overlaps a window cut by the raster edge (Omniscape.jl)."""
    upper = w if t + 1 > n - d else size
    lower = upper - w if t < d else 0
    return slice(lower, lower + w)


def _run_targets(args: tuple) -> tuple[np.ndarray, np.ndarray | None, float]:
    cond_full, src, tg, s, settings, corr = args
    nrows, ncols = src.shape
    solve = _Solve(s, settings)
    cum = np.zeros(src.shape)
    fp = np.zeros(src.shape) if s.flow_potential else None
    d = s.radius + s.buffer
    size = 2 * d + 1
    for y, x, amps in tg:
        y, x = int(y), int(x)
        rs, cs, ty, tx = _window(nrows, ncols, y, x, d)
        win = (rs.stop - rs.start, cs.stop - cs.start)
        cond = np.where(_disk(win, ty, tx, d), cond_full[rs, cs], 0.0)
        source = _target_sources(src, y, x, float(amps), s)
        cur = solve.current(cond, source, ty, tx)
        fpw = solve.flow_potential(source, ty, tx) if fp is not None else None
        if corr is not None:
            cw = corr[_cut(y, nrows, d, size, win[0]), _cut(x, ncols, d, size, win[1])]
            cur = cur * cw
            if fpw is not None:
                fpw = fpw * cw
        cum[rs, cs] += cur
        if fp is not None and fpw is not None:
            fp[rs, cs] += fpw
    return cum, fp, solve.residual


def omniscape(
    resistance: np.ndarray,
    source: np.ndarray,
    settings: OmniscapeSettings,
    *,
    solver: SolverSettings | None = None,
    is_conductance: bool = False,
    n_workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> OmniscapeResult:
    """Run Omniscape on a resistance raster.

    Parameters
    ----------
    resistance : numpy.ndarray
        Resistance per cell (or conductance with ``is_conductance``); NaN, inf, <= 0 = nodata.
    source : numpy.ndarray
        Source strength per cell (0 = none), already thresholded (:func:`source_from_resistance`
        for Omniscape's default).
    settings : OmniscapeSettings
        Radius, block size, buffer, artefact correction, flow potential, neighbourhood.
    solver : SolverSettings, optional
        Window solver (``auto`` = direct factorisation for windows of that size).
    is_conductance : bool
        ``resistance`` holds conductances.
    n_workers : int
        Processes solving targets in parallel.
    progress : callable, optional
        Called with (done, total) after each batch.

    Returns
    -------
    OmniscapeResult
        Maps with NaN on nodata cells.
    """
    r = np.asarray(resistance, dtype=np.float64)
    valid = np.isfinite(r) & (r > 0)
    with np.errstate(divide="ignore"):
        cond = np.where(valid, r if is_conductance else 1.0 / np.where(valid, r, 1.0), 0.0)
    src = np.where(np.isfinite(source) & (source > 0), source, 0.0).astype(np.float64)
    solver = solver or SolverSettings()
    tg = targets(src, settings.block)
    corr = None
    if settings.correct_artifacts and settings.block > 1:
        corr = _correction(settings, _Solve(settings, solver), src.shape)
    n_workers = max(1, min(int(n_workers), len(tg) // 64 + 1))
    chunks = np.array_split(tg, max(1, n_workers * 8)) if len(tg) else [tg]
    cum = np.zeros(src.shape)
    fp = np.zeros(src.shape) if settings.flow_potential else None
    residual = 0.0
    jobs = [(cond, src, ch, settings, solver, corr) for ch in chunks]
    done = 0
    if n_workers > 1:
        ctx = _mp_context()
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as ex:
            results = ex.map(_run_targets, jobs)
            for (c, f, res), ch in zip(results, chunks, strict=True):
                cum += c
                if fp is not None and f is not None:
                    fp += f
                residual = max(residual, res)
                done += len(ch)
                if progress:
                    progress(done, len(tg))
    else:
        for job, ch in zip(jobs, chunks, strict=True):
            c, f, res = _run_targets(job)
            cum += c
            if fp is not None and f is not None:
                fp += f
            residual = max(residual, res)
            done += len(ch)
            if progress:
                progress(done, len(tg))
    norm = None
    if fp is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = cum / fp
        norm[np.isnan(norm)] = 0.0
    return OmniscapeResult(cum, fp, norm, int(len(tg)), residual)


def _mp_context():
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() and os.name == "posix" else "spawn"
    return mp.get_context(method)
