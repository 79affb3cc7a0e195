"""Benchmark of the currents stage (circuit theory) on generated landscapes.

Parts (each in its own process, so each peak RSS is its own):

* ``pairwise`` -- 1000 x 1000 cells (1 M, 10 m), 100 disc patches short-circuited: effective
  resistance between all pairs (99 solves, ``solver: auto`` = one sparse factorisation reused for
  every right-hand side) and the
  cumulative current over the links (each patch linked to its 3 nearest patches); target <= 60 s.
* ``amg`` -- the same system with AMG-preconditioned CG (pyamg, tolerance 1e-6): hierarchy set-up
  and ``--amg-solves`` solves timed, extrapolated to 99.
* ``spsolve`` -- the same system with ``scipy.sparse.linalg.spsolve`` per right-hand side (a new
  factorisation per solve): ``--spsolve-solves`` timed, extrapolated to 99. The AMG-CG / spsolve
  speed-up factor is reported.
* ``omniscape`` -- Omniscape on the 1 M-cell landscape, 500 m radius at 10 m (50 cells), block 9,
  habitat suitability as source, 2 worker processes; target <= 5 min.
* ``pinch`` -- pinch points for every least-cost link of the benchmark region's hedgehog-like guild
  (``--pinch-size`` 2000 = 4 M cells, ~1000 patches, d0 = 500 cost-m, links up to p = 0.001,
  corridor width d0); target <= 5 min.

Usage::

    .venv/bin/python benchmarks/bench_currents.py [--parts pairwise,amg,spsolve,omniscape,pinch]
        [--pinch-size 2000] [--amg-solves 3] [--spsolve-solves 2]

Inputs are synthetic and seeded (Gaussian-smoothed noise cut into 7 resistance classes 1..1000,
2-cell roads of resistance 1000, disc patches of resistance 1), as in ``bench_connectivity.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.sparse.linalg as spla
from scipy import ndimage
from scipy.spatial import cKDTree

from werkland import connectivity as cn
from werkland.currents import (
    OmniscapeSettings,
    SolverSettings,
    conductance_from_resistance,
    cumulative_current,
    grid_graph,
    omniscape,
    pairwise_resistance,
    pinch_points,
)
from werkland.currents.solver import ComponentSolver


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest child) so far, MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


def make_landscape(n: int, n_patches: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Suitability (float32, 0.8 in patches, 0.05..0.6 elsewhere) and resistance (float32)."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), n / 100)
    q = np.quantile(z, [0.3, 0.5, 0.65, 0.78, 0.88, 0.95])
    classes = np.array([1, 2, 5, 10, 50, 100, 1000], np.float32)
    r = classes[np.searchsorted(q, z)]
    for k in range(n // 250):
        r[k * 250 + 100:k * 250 + 102, :] = 1000
        r[:, k * 250 + 50:k * 250 + 52] = 1000
    suit = np.clip(0.6 / np.sqrt(r), 0.05, 0.6).astype(np.float32)
    yy, xx = np.ogrid[:n, :n]
    cy, cx = rng.integers(0, n, n_patches), rng.integers(0, n, n_patches)
    rad = rng.integers(2, 13, n_patches)
    for y, x, rr in zip(cy, cx, rad, strict=True):
        y0, y1, x0, x1 = max(0, y - rr), min(n, y + rr + 1), max(0, x - rr), min(n, x + rr + 1)
        disc = (yy[y0:y1] - y) ** 2 + (xx[:, x0:x1] - x) ** 2 <= rr * rr
        suit[y0:y1, x0:x1][disc] = 0.8
    r[suit >= 0.8] = 1
    return suit, r


def _patches(suit: np.ndarray) -> tuple[np.ndarray, int]:
    labels, n = ndimage.label(suit >= 0.8, structure=np.ones((3, 3)))
    return labels, int(n)


def _system(n: int, n_patches: int) -> tuple:
    suit, r = make_landscape(n, n_patches)
    labels, k = _patches(suit)
    t0 = time.perf_counter()
    g = grid_graph(conductance_from_resistance(r), regions=labels)
    first = ndimage.minimum_position(np.arange(labels.size).reshape(labels.shape), labels, np.arange(1, k + 1))
    focal = np.array([g.nodemap[p] for p in first])
    return suit, r, labels, k, g, focal, time.perf_counter() - t0


def part_pairwise(args) -> dict:
    suit, r, labels, k, g, focal, t_graph = _system(1000, 100)
    t0 = time.perf_counter()
    sol = pairwise_resistance(g, focal)
    t1 = time.perf_counter()
    cents = np.array(ndimage.center_of_mass(labels > 0, labels, np.arange(1, k + 1)))
    _, nn = cKDTree(cents).query(cents, 4)
    pairs = sorted({(min(i, j), max(i, j)) for i in range(k) for j in nn[i, 1:]})
    cur = cumulative_current(g, sol, pairs)
    t2 = time.perf_counter()
    return {"cells": r.size, "nodes": g.n_nodes, "patches": k, "solves": sol.solves, "links": len(pairs),
            "connected_pairs": int(np.triu(sol.connected, 1).sum()), "t_graph_s": t_graph,
            "t_pairwise_s": t1 - t0, "t_current_s": t2 - t1, "t_total_s": t_graph + t2 - t0,
            "residual": sol.residual, "current_max": float(cur.max()), "peak_mb": peak_rss_mb()}


def _grounded(args):
    suit, r, labels, k, g, focal, _ = _system(1000, 100)
    lap = g.laplacian()
    comp = g.components()
    c = comp[focal[0]]
    nodes = np.flatnonzero(comp == c)
    return g, lap, nodes, focal, comp, c


def part_amg(args) -> dict:
    g, lap, nodes, focal, comp, c = _grounded(args)
    t0 = time.perf_counter()
    s = ComponentSolver(lap, nodes, focal[:1], settings=SolverSettings("cg+amg", 1e-6, 1000))
    t1 = time.perf_counter()
    pos = np.searchsorted(s.free, focal[1:1 + args.amg_solves])
    for p in pos:
        b = np.zeros(s.free.size)
        b[p] = 1.0
        s.solve(b)
    t2 = time.perf_counter()
    per = (t2 - t1) / len(pos)
    return {"nodes": int(nodes.size), "t_setup_s": t1 - t0, "t_per_solve_s": per, "solves_timed": len(pos),
            "t_99_solves_extrapolated_s": t1 - t0 + 99 * per, "residual": s.max_residual, "peak_mb": peak_rss_mb()}


def part_spsolve(args) -> dict:
    g, lap, nodes, focal, comp, c = _grounded(args)
    free = nodes[nodes != focal[0]]
    a = lap[free][:, free].tocsc()
    pos = np.searchsorted(free, focal[1:1 + args.spsolve_solves])
    t0 = time.perf_counter()
    for p in pos:
        b = np.zeros(free.size)
        b[p] = 1.0
        spla.spsolve(a, b)
    per = (time.perf_counter() - t0) / len(pos)
    return {"nodes": int(nodes.size), "t_per_solve_s": per, "solves_timed": len(pos),
            "t_99_solves_extrapolated_s": 99 * per, "peak_mb": peak_rss_mb()}


def part_omniscape(args) -> dict:
    suit, r, *_ = make_landscape(1000, 100)
    t0 = time.perf_counter()
    out = omniscape(r, suit, OmniscapeSettings(radius=50, block_size=9), n_workers=2)
    t = time.perf_counter() - t0
    return {"cells": r.size, "targets": out.n_targets, "radius_cells": 50, "block": 9, "t_total_s": t,
            "residual": out.residual, "peak_mb_parent": peak_rss_mb(), "peak_mb_largest_worker": peak_rss_mb(True)}


def part_pinch(args) -> dict:
    n = args.pinch_size
    suit, r = make_landscape(n, int(1000 * (n / 2000) ** 2))
    t0 = time.perf_counter()
    ps = cn.find_patches(suit, res_m=10.0, threshold=0.5, min_area_m2=500.0, edge_band_m=10.0)
    res = cn.prepare_resistance(r)
    kern = cn.dispersal_kernel(500.0)
    links = cn.build_links(res, ps.labels, res_m=10.0, max_cost=kern.max_cost(0.001), n_threads=2)
    t1 = time.perf_counter()
    rows = list(zip(links.from_id.tolist(), links.to_id.tolist(), links.cost.tolist(), strict=True))
    out = pinch_points(r, ps.labels, rows, res_m=10.0, corridor_width=500.0, label="bench", n_workers=2)
    t2 = time.perf_counter()
    return {"cells": r.size, "patches": ps.n, "links": len(rows), "t_links_s (not counted)": t1 - t0,
            "t_pinch_s": t2 - t1, "corridor_cells_median": float(out.links["corridor_cells"].median()),
            "residual": out.residual, "peak_mb_parent": peak_rss_mb(),
            "peak_mb_largest_worker": peak_rss_mb(True)}


PARTS = {"pairwise": part_pairwise, "amg": part_amg, "spsolve": part_spsolve, "omniscape": part_omniscape,
         "pinch": part_pinch}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="pairwise,amg,spsolve,omniscape,pinch")
    ap.add_argument("--pinch-size", type=int, default=2000)
    ap.add_argument("--amg-solves", type=int, default=3)
    ap.add_argument("--spsolve-solves", type=int, default=2)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(PARTS[args.child](args)))
        return 0
    results = {}
    for part in args.parts.split(","):
        cmd = [sys.executable, __file__, "--child", part, "--pinch-size", str(args.pinch_size),
               "--amg-solves", str(args.amg_solves), "--spsolve-solves", str(args.spsolve_solves)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{part}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results[part] = json.loads(out.stdout.strip().splitlines()[-1])
        results[part]["wall_s_incl_setup"] = time.perf_counter() - t0
        print(part, json.dumps(results[part], indent=1), flush=True)
    if "amg" in results and "spsolve" in results:
        a, s = results["amg"]["t_99_solves_extrapolated_s"], results["spsolve"]["t_99_solves_extrapolated_s"]
        print(f"AMG-CG vs spsolve (99 solves, 1 M cells): {s / a:.2f}x faster" if a < s
              else f"AMG-CG vs spsolve: spsolve {a / s:.2f}x faster")
    if "pairwise" in results and "amg" in results:
        print(f"factor-once direct vs AMG-CG (99 solves): "
              f"{results['amg']['t_99_solves_extrapolated_s'] / max(results['pairwise']['t_pairwise_s'], 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
