"""Benchmark of the terrain model of the climate stage on 4 M cells (2000 x 2000, 10 m).

Terrain: a synthetic DTM in metres (a 0.1 % regional slope, Gaussian-smoothed noise of +-1.5 m that
makes thousands of depressions, and a few 200 m bowls up to 2 m deep). Measured, on the in-memory
arrays (reading a GeoTIFF is not part of it):

* priority-flood depression filling + D8 flow directions + depression labels (:func:`build_flow_model`);
* flow accumulation (:meth:`FlowModel.accumulation_m2`);
* routing of two storms (70 and 140 mm of SCS-CN runoff on a random sealed/green mix, CN 98/61),
  each for the actual and the natural land cover (4 routings), with the standing-water depths;
* optionally ``--parks N`` per-park water balances (N square parks of 36 ha).

Target: priority-flood + accumulation + routing of two storms <= 15 s and <= 1 GB peak RSS on 2 cores.
The numba kernels are compiled (cached) before the clock starts.

Usage: .venv/bin/python benchmarks/bench_hydrology.py [--size 2000] [--seed 1] [--parks 100]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy import ndimage

from werkland.climate.routing import build_flow_model, park_water, route_runoff
from werkland.climate.runoff import scs_runoff_mm


def _terrain(n: int, seed: int, res: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), 6.0)
    noise *= 1.5 / np.abs(noise).max()
    rows, cols = np.ogrid[0:n, 0:n]
    z = 5.0 - 0.001 * res * (rows + cols) + noise
    for _ in range(20):
        r0, c0 = rng.integers(0, n, 2)
        d2 = ((rows - r0) ** 2 + (cols - c0) ** 2) * res * res
        z -= 2.0 * np.clip(1.0 - d2 / 100.0**2, 0.0, None)
    return z


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parks", type=int, default=100)
    a = ap.parse_args()
    res = 10.0
    n = a.size
    # warm-up: compile the kernels on a small grid
    small = _terrain(64, 0, res)
    m0 = build_flow_model(small, np.ones(small.shape, bool), res * res)
    m0.accumulation_m2()
    route_runoff(m0, np.ones(small.shape))
    dem = _terrain(n, a.seed, res)
    valid = np.ones(dem.shape, bool)
    valid[: n // 20, : n // 20] = False  # a corner outside the region
    rng = np.random.default_rng(a.seed + 1)
    sealed = rng.random(dem.shape) < 0.6
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = {}
    t0 = time.perf_counter()
    model = build_flow_model(dem, valid, res * res)
    t["fill + D8 + depressions"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    acc = model.accumulation_m2()
    t["accumulation"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    routed = {}
    for p_mm in (70.0, 140.0):
        q = np.where(sealed, scs_runoff_mm(p_mm, 98.0), scs_runoff_mm(p_mm, 61.0))
        qn = np.full(dem.shape, float(scs_runoff_mm(p_mm, 61.0)))
        routed[p_mm] = route_runoff(model, q)
        route_runoff(model, qn)
    t["routing 2 storms x (actual + natural)"] = time.perf_counter() - t2
    total = time.perf_counter() - t0
    t3 = time.perf_counter()
    side = 60
    k = 0
    for r0 in range(n // 10, n - side, max(side, (n - side) // 10)):
        for c0 in range(n // 10, n - side, max(side, (n - side) // 10)):
            if k >= a.parks:
                break
            sl = (slice(r0, r0 + side), slice(c0, c0 + side))
            for r in routed.values():
                park_water(model, r, sl, valid[sl])
            k += 1
    t_parks = time.perf_counter() - t3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cells: {n * n:,} ({n} x {n}, {res:g} m); depressions: {len(model.release):,} holding "
          f"{model.capacity_m3.sum():,.0f} m3; max accumulation {np.nanmax(acc) / 1e6:.2f} km2")
    for name, v in t.items():
        print(f"  {name:40s} {v:6.2f} s")
    print(f"  {'total (target <= 15 s)':40s} {total:6.2f} s")
    print(f"  {f'{k} park balances x 2 storms':40s} {t_parks:6.2f} s")
    r70 = routed[70.0]
    print(f"70 mm: runoff {r70.q_m3.sum():,.0f} m3, ponded {r70.stored_m3.sum():,.0f} m3, "
          f"leaving {r70.leaving_m3:,.0f} m3")
    print(f"peak RSS {rss:.0f} MB (before the model: {rss0:.0f} MB; target <= 1024 MB)")


if __name__ == "__main__":
    main()
