"""Circuitscape's raster pairwise, one-to-all and all-to-one modes and its network pairwise mode.

Each function reproduces what Circuitscape.jl computes and writes for the subset of settings that
:mod:`werkland.currents.ini` accepts (it has already refused the rest by name):

* raster pairwise with single-cell focal points: one graph (short-circuit polygons merged), all
  pairs from one solve per focal node (:func:`~werkland.currents.pairwise.pairwise_resistance`);
* raster pairwise with focal *regions* (an id on several cells): a graph per pair in which only the
  two regions are short-circuited, one solve per pair (Circuitscape's own procedure);
* one-to-all / all-to-one: per focal point, 1 A (or the point's strength) injected at the point and
  every other point grounded (one-to-all), or 1 A injected per cell of every other point and the
  point grounded (all-to-one);
* network pairwise: an edge list, focal nodes, the same resistance shortcut.

Outputs are written under Circuitscape's names (``<stem>_resistances.out``, ``_cum_curmap.asc``,
``_curmap_<a>_<b>.asc``, ``_voltmap_<a>_<b>.asc``, ``_max_curmap.asc``; network:
``_voltages_<a>_<b>.txt``, ``_branch_currents_<a>_<b>.txt``, ``_node_currents_<a>_<b>.txt`` and the
``_cum`` tables). Node ids are written as they appear in the input files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from werkland._errors import WerklandInputError
from werkland.currents.csio import (
    NODATA,
    GridMeta,
    IncludePairs,
    PointSet,
    read_edges,
    read_grid,
    read_include_pairs,
    read_points,
    read_region_map,
    read_table,
    write_grid,
    write_table,
)
from werkland.currents.flow import branch_currents, node_currents
from werkland.currents.graph import GridGraph, grid_graph, network_graph
from werkland.currents.pairwise import (
    PairwiseSolution,
    pair_current,
    pair_potential,
    pairwise_resistance,
)
from werkland.currents.solver import ComponentSolver, SolverSettings

log = logging.getLogger(__name__)

__all__ = ["CSResult", "network_pairwise", "raster_one_to_all", "raster_pairwise"]

TRUE = ("true", "1", "yes")


def flag(cfg: Mapping[str, str], key: str) -> bool:
    """A Circuitscape boolean setting (``True``/``true``/``1``)."""
    return str(cfg.get(key, "False")).strip().lower() in TRUE


@dataclass
class CSResult:
    """What a Circuitscape run computed.

    Attributes
    ----------
    resistances : numpy.ndarray
        The matrix written to ``_resistances.out`` (ids in the first row and column, -1 = not
        connected) or the two-column table of one-to-all / all-to-one.
    written : list of pathlib.Path
        Files written.
    residual : float
        Largest relative residual of the solves.
    """

    resistances: np.ndarray
    written: list[Path]
    residual: float = 0.0


@dataclass
class _Outputs:
    """Output naming and map flags of a run."""

    stem: str
    write_cur: bool
    cum_only: bool
    write_max: bool
    write_volt: bool
    null_cur: bool
    null_volt: bool

    @classmethod
    def of(cls, cfg: Mapping[str, str], resolve_out: Callable[[str], Path]) -> _Outputs:
        out = str(resolve_out(cfg["output_file"]))
        stem = out.split(".out")[0]
        return cls(stem, flag(cfg, "write_cur_maps"), flag(cfg, "write_cum_cur_map_only"),
                   flag(cfg, "write_max_cur_maps"), flag(cfg, "write_volt_maps"),
                   flag(cfg, "set_null_currents_to_nodata"), flag(cfg, "set_null_voltages_to_nodata"))

    @property
    def currents(self) -> bool:
        return self.write_cur or self.cum_only

    def path(self, suffix: str) -> Path:
        return Path(f"{self.stem}{suffix}")


# ---------------------------------------------------------------------------------------------
# raster inputs
# ---------------------------------------------------------------------------------------------


@dataclass
class _Raster:
    g: np.ndarray
    meta: GridMeta
    polymap: np.ndarray | None
    points: PointSet | None
    include: IncludePairs | None
    strengths: dict[int, float] | None


def _read_raster_inputs(cfg: Mapping[str, str], resolve: Callable[[str], Path], need_points: bool = True) -> _Raster:
    hab = resolve(cfg["habitat_file"])
    arr, meta = read_grid(hab)
    nodata = arr == NODATA
    if flag(cfg, "habitat_map_is_resistances"):
        if np.any(arr == 0):
            raise WerklandInputError(
                "zero resistance in the habitat map", path=str(hab),
                fix="use a short-circuit region (polygon) file for zero-resistance areas",
            )
        with np.errstate(divide="ignore"):
            g = 1.0 / arr
    else:
        g = arr.copy()
    g[nodata] = 0.0
    g[~np.isfinite(g)] = 0.0
    poly = read_region_map(resolve(cfg["polygon_file"]), meta) if flag(cfg, "use_polygons") else None
    if flag(cfg, "use_mask"):
        mask = read_region_map(resolve(cfg["mask_file"]), meta)
        g = g * (mask > 0)
        if not np.any(g):
            raise WerklandInputError("the mask removes every cell", path=str(resolve(cfg["mask_file"])),
                                     fix="check the mask file")
    pts = read_points(resolve(cfg["point_file"]), meta) if need_points else None
    inc = read_include_pairs(resolve(cfg["included_pairs_file"])) if flag(cfg, "use_included_pairs") else None
    strengths = None
    if flag(cfg, "use_variable_source_strengths"):
        tab = read_table(resolve(cfg["variable_source_file"]))
        strengths = {int(round(r[0])): float(r[1]) for r in tab}
    return _Raster(g, meta, poly, pts, inc, strengths)


def _settings(cfg: Mapping[str, str], settings: SolverSettings | None) -> SolverSettings:
    return settings or SolverSettings()


def _raster_graph(r: _Raster, cfg: Mapping[str, str], regions: np.ndarray | None) -> GridGraph:
    return grid_graph(r.g, regions=regions, four_neighbors=flag(cfg, "connect_four_neighbors_only"),
                      avg_resistance=flag(cfg, "connect_using_avg_resistances"))


class _MapSink:
    """Per-solve current and voltage maps: written, summed and maxed as Circuitscape does."""

    def __init__(self, r: _Raster, out: _Outputs) -> None:
        self.r, self.out = r, out
        self.null = r.g == 0
        self.cum = np.zeros(r.g.shape)
        self.max = np.full(r.g.shape, NODATA)
        self.n = 0
        self.written: list[Path] = []

    def add(self, name: str, current: np.ndarray | None, voltage: np.ndarray | None) -> None:
        o = self.out
        if current is not None and o.currents:
            cmap = current.copy()
            if o.null_cur:
                cmap[self.null] = NODATA
            self.cum += cmap
            self.max = np.maximum(self.max, cmap)
            self.n += 1
            if o.write_cur and not o.cum_only:
                self._write(o.path(f"_curmap{name}.asc"), cmap)
        if voltage is not None and o.write_volt:
            vmap = voltage.copy()
            if o.null_volt:
                vmap[self.null] = NODATA
            self._write(o.path(f"_voltmap{name}.asc"), vmap)

    def finish(self) -> None:
        o = self.out
        if o.currents:
            cum = np.maximum(self.cum, NODATA)
            self._write(o.path("_cum_curmap.asc"), cum)
            if o.write_max:
                self._write(o.path("_max_curmap.asc"), self.max)

    def _write(self, path: Path, arr: np.ndarray) -> None:
        nd = self.r.meta.nodata if self.r.meta.nodata is not None else NODATA
        write_grid(path, arr, self.r.meta, nodata=nd)
        self.written.append(path)


def _write_resistances(out: _Outputs, ids: np.ndarray, r: np.ndarray) -> list[Path]:
    mat = np.zeros((ids.size + 1, ids.size + 1))
    mat[0, 1:] = ids
    mat[1:, 0] = ids
    mat[1:, 1:] = r
    three = [(ids[i], ids[j], r[j, i]) for i in range(ids.size) for j in range(i + 1, ids.size)]
    p1, p3 = out.path("_resistances.out"), out.path("_resistances_3columns.out")
    write_table(p1, mat)
    write_table(p3, three)
    return [p1, p3]


# ---------------------------------------------------------------------------------------------
# raster pairwise
# ---------------------------------------------------------------------------------------------


def raster_pairwise(
    cfg: Mapping[str, str], resolve: Callable[[str], Path], resolve_out: Callable[[str], Path],
    settings: SolverSettings | None = None,
) -> CSResult:
    """Circuitscape raster pairwise mode (see the module docstring)."""
    r = _read_raster_inputs(cfg, resolve)
    out = _Outputs.of(cfg, resolve_out)
    pts = r.points
    assert pts is not None
    if pts.has_regions:
        return _pairwise_regions(r, cfg, out, settings)
    if r.include is not None:
        keep = np.isin(pts.ids, r.include.point_ids)
        pts = PointSet(pts.rows[keep], pts.cols[keep], pts.ids[keep])
    graph = _raster_graph(r, cfg, r.polymap)
    assert graph.nodemap is not None
    focal = graph.nodemap[pts.rows, pts.cols]
    needs_maps = out.currents or out.write_volt
    sol = pairwise_resistance(graph, focal, settings=_settings(cfg, settings), keep_potentials=needs_maps)
    ids = pts.ids
    k = ids.size
    res = np.where(sol.connected, sol.r_eff, -1.0)
    excluded = np.zeros((k, k), dtype=bool)
    if r.include is not None:
        for i in range(k):
            for j in range(k):
                excluded[i, j] = i != j and r.include.excluded(int(ids[i]), int(ids[j]))
        res[excluded] = -1.0
    np.fill_diagonal(res, 0.0)
    sink = _MapSink(r, out)
    if needs_maps:
        for i in range(k):
            for j in range(i + 1, k):
                if sol.connected[i, j] and not excluded[i, j]:
                    _pair_maps(sink, graph, sol, i, j, f"_{ids[i]}_{ids[j]}")
        sink.finish()
    written = _write_resistances(out, ids, res) + sink.written
    return CSResult(np.vstack([np.r_[0, ids], np.column_stack([ids, res])]), written, sol.residual)


def _pair_maps(sink: _MapSink, graph: GridGraph, sol: PairwiseSolution, i: int, j: int, name: str) -> None:
    cur = graph.to_raster(pair_current(graph, sol, i, j)) if sink.out.currents else None
    volt = None
    if sink.out.write_volt:
        v = pair_potential(graph, sol, i, j) if sol.focal_nodes[i] != sol.focal_nodes[j] else np.zeros(graph.n_nodes)
        volt = graph.to_raster(v)
        comp = graph.components()
        nm = graph.nodemap
        assert nm is not None
        off = (nm < 0) | (comp[np.maximum(nm, 0)] != sol.component[i])
        volt[off] = 0.0
    sink.add(name, cur, volt)


def _pair_regions(polymap: np.ndarray | None, pts: PointSet, shape: tuple[int, int], p1: int, p2: int) -> np.ndarray:
    """Circuitscape's short-circuit map of one pair solve with focal regions."""
    if polymap is None:
        new = np.zeros(shape, dtype=np.int64)
        for p in (p1, p2):
            m = pts.ids == p
            new[pts.rows[m], pts.cols[m]] = p
        return new
    new = polymap.copy()
    k = int(polymap.max())
    for p in (p1, p2):
        m = pts.ids == p
        if m.sum() == 1:
            continue
        vals = polymap[pts.rows[m], pts.cols[m]]
        if np.all(vals == 0):
            new[pts.rows[m], pts.cols[m]] = k + 1
        else:
            new[np.isin(polymap, vals[vals != 0])] = k + 1
        k += 1
    return new


def _pairwise_regions(r: _Raster, cfg: Mapping[str, str], out: _Outputs, settings: SolverSettings | None) -> CSResult:
    pts = r.points
    assert pts is not None
    ids = pts.unique_ids()
    k = ids.size
    res = -np.ones((k, k))
    np.fill_diagonal(res, 0.0)
    sink = _MapSink(r, out)
    residual = 0.0
    for i in range(k):
        for j in range(i + 1, k):
            if r.include is not None and r.include.excluded(int(ids[i]), int(ids[j])):
                continue
            regions = _pair_regions(r.polymap, pts, r.g.shape, int(ids[i]), int(ids[j]))
            graph = _raster_graph(r, cfg, regions)
            assert graph.nodemap is not None
            cells = [pts.first_cell(int(ids[i])), pts.first_cell(int(ids[j]))]
            focal = np.array([graph.nodemap[c] for c in cells])
            sol = pairwise_resistance(graph, focal, settings=_settings(cfg, settings),
                                      keep_potentials=out.currents or out.write_volt)
            residual = max(residual, sol.residual)
            if sol.connected[0, 1]:
                res[i, j] = res[j, i] = sol.r_eff[0, 1]
                _pair_maps(sink, graph, sol, 0, 1, f"_{ids[i]}_{ids[j]}")
    if out.currents or out.write_volt:
        sink.finish()
    written = _write_resistances(out, ids, res) + sink.written
    return CSResult(np.vstack([np.r_[0, ids], np.column_stack([ids, res])]), written, residual)


# ---------------------------------------------------------------------------------------------
# raster one-to-all / all-to-one
# ---------------------------------------------------------------------------------------------


def _point_regions(polymap: np.ndarray | None, pts: PointSet, point_map: np.ndarray) -> np.ndarray:
    """Circuitscape's short-circuit map with the focal points added as regions."""
    if polymap is None:
        return point_map.copy()
    new = polymap.copy()
    on = np.flatnonzero(point_map.ravel() != 0)
    flat = new.ravel()
    pm = point_map.ravel()
    if not pts.has_regions:
        k = int(polymap.max())
        sel = on[flat[on] == 0]
        flat[sel] = pm[sel] + k
        return new
    k = int(max(polymap.max(), point_map.max()))
    for c in on:
        v1, v2 = pm[c], flat[c]
        if v2 == 0:
            flat[c] = k + v1
        elif v1 != v2:
            flat[flat == v2] = v1
    return new


def raster_one_to_all(
    cfg: Mapping[str, str], resolve: Callable[[str], Path], resolve_out: Callable[[str], Path],
    settings: SolverSettings | None = None,
) -> CSResult:
    """Circuitscape raster one-to-all and all-to-one modes."""
    one_to_all = cfg["scenario"].strip().lower() == "one-to-all"
    r = _read_raster_inputs(cfg, resolve)
    out = _Outputs.of(cfg, resolve_out)
    pts = r.points
    assert pts is not None
    if r.include is not None:
        keep = np.isin(pts.ids, r.include.point_ids)
        pts = PointSet(pts.rows[keep], pts.cols[keep], pts.ids[keep])
    shape = r.g.shape
    point_map = np.zeros(shape, dtype=np.int64)
    point_map[pts.rows, pts.cols] = pts.ids
    graph = _raster_graph(r, cfg, _point_regions(r.polymap, pts, point_map))
    nm = graph.nodemap
    assert nm is not None
    lap = graph.laplacian()
    comp = graph.components()
    uniq = pts.unique_ids()
    results = np.zeros(uniq.size)
    sink = _MapSink(r, out)
    residual = 0.0
    for i, n in enumerate(uniq):
        pm = point_map.copy()
        if one_to_all:
            if r.include is not None:
                for other in uniq:
                    if other != n and r.include.excluded(int(n), int(other)):
                        pm[pm == other] = 0
            strength = 1.0 if r.strengths is None else r.strengths.get(int(n), 1.0)
            src, gnd = _one_to_all_maps(pm, pts, int(n), strength)
        else:
            src, gnd = _all_to_one_maps(pm, pts, int(n), _all_to_one_strengths(r, uniq, int(n)))
        ci = min(i, pts.rows.size - 1)
        check = int(nm[pts.rows[ci], pts.cols[ci]])
        check = check if check >= 0 else -2  # Circuitscape's node 0: no component is solved
        v, cur, solved, res = _advanced_solve(graph, lap, comp, src, gnd, check, "rmvgnd" if one_to_all else "rmvsrc",
                                              settings)
        residual = max(residual, res)
        if one_to_all:
            cells = np.flatnonzero(src.ravel() != 0)
            val = v.ravel()[cells[0]] / src.ravel()[cells[0]] if (solved and cells.size) else 0.0
            results[i] = -1.0 if val == 0 else val
        else:
            results[i] = 0.0 if solved else -1.0
        sink.add(f"_{n}", cur, v)
    if out.currents:
        sink.finish()
    table = np.column_stack([uniq, results])
    p = out.path("_resistances.out")
    write_table(p, table)
    return CSResult(table, [p, *sink.written], residual)


def _one_to_all_maps(pm: np.ndarray, pts: PointSet, n: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    src = np.zeros(pm.shape)
    src[pts.first_cell(n)] = strength
    gnd = np.where((pm != n) & (pm > 0), np.inf, 0.0)
    return src, gnd


def _all_to_one_strengths(r: _Raster, uniq: np.ndarray, n: int) -> dict[int, float]:
    """Current injected by every other point when ``n`` is grounded (all-to-one).

    1 A each; with variable source strengths a point paired with ``n`` injects its strength, and a
    point excluded from pairing with ``n`` by the include file still injects 1 A (as in the
    Circuitscape reference outputs).
    """
    out = {}
    for other in uniq:
        o = int(other)
        if o == n:
            continue
        paired = r.include is None or not r.include.excluded(n, o)
        out[o] = r.strengths.get(o, 1.0) if (r.strengths is not None and paired) else 1.0
    return out


def _all_to_one_maps(pm: np.ndarray, pts: PointSet, n: int, amps: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Each other point's current at its first cell; the point's cells grounded."""
    src = np.zeros(pm.shape)
    for pid in np.unique(pm[pm > 0]):
        if pid != n:
            src[pts.first_cell(int(pid))] += amps.get(int(pid), 1.0)
    gnd = np.where(pm == n, np.inf, 0.0)
    return src, gnd


def _advanced_solve(
    graph: GridGraph, lap, comp: np.ndarray, src_map: np.ndarray, gnd_map: np.ndarray, check: int, policy: str,
    settings: SolverSettings | None,
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Circuitscape's advanced kernel on a raster: voltage map, current map, solved?, residual."""
    nm = graph.nodemap
    assert nm is not None
    n = graph.n_nodes
    on = nm >= 0
    sources = np.bincount(nm[on], weights=src_map[on], minlength=n)
    gsum = np.zeros(n)
    gm = on & (gnd_map != 0)
    np.add.at(gsum, nm[gm], gnd_map[gm])
    sources, gsum, finite = _resolve_conflicts(sources, gsum, policy)
    volt = np.zeros(nm.shape)
    cur = np.zeros(nm.shape)
    solved, residual = False, 0.0
    for c in np.unique(comp):
        if check != -1 and (check < 0 or comp[check] != c):
            continue
        nodes = np.flatnonzero(comp == c)
        if sources[nodes].sum() == 0 or gsum[nodes].sum() == 0:
            continue
        direct = nodes[np.isinf(gsum[nodes])]
        fg = finite if finite is not None and np.any(finite[nodes] > 0) else None
        solver = ComponentSolver(lap, nodes, direct, finite_ground=fg, settings=settings or SolverSettings())
        pos = np.full(n, -1, dtype=np.int64)
        pos[solver.free] = np.arange(solver.free.size)
        x = solver.solve(sources[solver.free])
        v = np.zeros(n)
        v[solver.free] = x
        residual = max(residual, solver.max_residual)
        solved = True
        nc = node_currents(graph, v, ground=fg)
        m = on & (comp[np.maximum(nm, 0)] == c)
        volt[m] = v[nm[m]]
        cur[m] += nc[nm[m]]
    return volt, cur, solved, residual


def _resolve_conflicts(sources: np.ndarray, grounds: np.ndarray, policy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    s, g = sources.copy(), grounds.copy()
    finite = np.where(np.isinf(g), 0.0, g)
    finite_or_none = finite if np.any(finite != 0) else None
    conflict = (s != 0) & (g != 0)
    if conflict.any():
        if policy in ("rmvsrc", "rmvall"):
            s[conflict] = 0
        elif policy == "rmvgnd":
            g[conflict] = 0
    g[np.isinf(g) & (s > 0)] = 0
    return s, g, finite_or_none


# ---------------------------------------------------------------------------------------------
# network pairwise
# ---------------------------------------------------------------------------------------------


def network_pairwise(
    cfg: Mapping[str, str], resolve: Callable[[str], Path], resolve_out: Callable[[str], Path],
    settings: SolverSettings | None = None,
) -> CSResult:
    """Circuitscape network pairwise mode (node ids as in the files)."""
    hab = resolve(cfg["habitat_file"])
    i, j, v = read_edges(hab)
    if flag(cfg, "habitat_map_is_resistances"):
        with np.errstate(divide="ignore"):
            v = 1.0 / v
    if min(i.min(initial=0), j.min(initial=0)) < 0:
        raise WerklandInputError("negative node id", path=str(hab), fix="node ids must be >= 0")
    fp = np.rint(read_table(resolve(cfg["point_file"])).ravel()).astype(np.int64)
    n = int(max(i.max(initial=-1), j.max(initial=-1), fp.max(initial=-1))) + 1
    graph = network_graph(n, i, j, v)
    out = _Outputs.of(cfg, resolve_out)
    needs = out.currents or out.write_volt
    focal = np.where(fp < n, fp, -1)
    sol = pairwise_resistance(graph, focal, settings=settings or SolverSettings(), keep_potentials=needs)
    res = np.where(sol.connected, sol.r_eff, -1.0)
    np.fill_diagonal(res, 0.0)
    written = _write_resistances(out, fp, res)
    comp = graph.components()
    if needs:
        cum_b = np.zeros(graph.ei.size)
        cum_n = np.zeros(n)
        k = fp.size
        for a in range(k):
            for b in range(a + 1, k):
                if not sol.connected[a, b]:
                    continue
                name = f"_{fp[a]}_{fp[b]}"
                nodes = np.flatnonzero(comp == sol.component[a])
                pot = pair_potential(graph, sol, a, b)
                if out.write_volt:
                    written.append(out.path(f"_voltages{name}.txt"))
                    write_table(written[-1], np.column_stack([nodes, pot[nodes]]))
                if out.currents:
                    bc = branch_currents(graph, pot)
                    nc = node_currents(graph, pot)
                    cum_b += bc
                    cum_n += nc
                    if not out.cum_only:
                        e = np.flatnonzero(np.isin(graph.ei, nodes) & (bc > 0))
                        written.append(out.path(f"_branch_currents{name}.txt"))
                        write_table(written[-1], np.column_stack([graph.ei[e], graph.ej[e], bc[e]]))
                        written.append(out.path(f"_node_currents{name}.txt"))
                        write_table(written[-1], np.column_stack([nodes, nc[nodes]]))
        if out.currents:
            written.append(out.path("_branch_currents_cum.txt"))
            nz = cum_b > 0
            write_table(written[-1], np.column_stack([graph.ei[nz], graph.ej[nz], cum_b[nz]]))
            written.append(out.path("_node_currents_cum.txt"))
            write_table(written[-1], np.column_stack([np.arange(n), cum_n]))
    return CSResult(np.vstack([np.r_[0, fp], np.column_stack([fp, res])]), written, sol.residual)
