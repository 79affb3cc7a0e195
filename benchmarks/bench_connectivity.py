"""Benchmark of the connectivity and barrier stages on generated landscapes.

Default run (about 4-5 minutes on 2 cores):

* target region: 2000 x 2000 cells at 10 m (4 M cells, 20 km x 20 km), ~1000 disc patches, one
  hedgehog-like guild (d0 = 500 cost-m, p0 = 0.5, link bound at p = 0.001 -> 4983 cost-m):
  time and peak memory of patches + links + metrics, compared in the same run with the naive
  approach (one unbounded MCP_Geometric per patch, timed on a subset and extrapolated; naive dPC
  = delete each node and recompute all pairs, timed on a subset of nodes and extrapolated);
* the whole connectivity stage with outputs and corridors (``run_connectivity``);
* barrier scoring of all road segments at three radii and the top-50 network gains
  (``run_barriers``);
* growth from 1 M to 16 M cells at constant patch density (``--growth 1000,2000,4000``, the
  default; drop 4000 for a quicker run).

Usage::

    .venv/bin/python benchmarks/bench_connectivity.py [--size 2000] [--patches 1000]
        [--growth 1000,2000,4000] [--naive-sources 3] [--naive-removals 20] [--no-barriers]

Inputs are synthetic and seeded: Gaussian-smoothed noise cut into 7 resistance classes (1, 2, 5,
10, 50, 100, 1000), a grid of 2-cell-wide roads (resistance 1000) every 2.5 km, and disc patches of
radius 2-12 cells (resistance 1, suitability 0.8).
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from scipy import ndimage
from scipy.sparse import csgraph
from skimage.graph import MCP_Geometric

from werkland import barriers as br
from werkland import connectivity as cn
from werkland.params import BarrierParams, ConnectivityParams
from werkland.raster.io import Grid, write_gpkg, write_raster
from werkland.tables import Kernel


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_landscape(n: int, n_patches: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """Suitability (float32), resistance (float32) and the road boxes (row0, row1, col0, col1)."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), n / 100)
    q = np.quantile(z, [0.3, 0.5, 0.65, 0.78, 0.88, 0.95])
    classes = np.array([1, 2, 5, 10, 50, 100, 1000], np.float32)
    r = classes[np.searchsorted(q, z)]
    roads = []
    for k in range(n // 250):
        roads.append((k * 250 + 100, k * 250 + 102, 0, n))
        roads.append((0, n, k * 250 + 50, k * 250 + 52))
    for r0, r1, c0, c1 in roads:
        r[r0:r1, c0:c1] = 1000
    suit = np.zeros((n, n), np.float32)
    yy, xx = np.ogrid[:n, :n]
    cy, cx = rng.integers(0, n, n_patches), rng.integers(0, n, n_patches)
    rad = rng.integers(2, 13, n_patches)
    for y, x, rr in zip(cy, cx, rad, strict=True):
        y0, y1, x0, x1 = max(0, y - rr), min(n, y + rr + 1), max(0, x - rr), min(n, x + rr + 1)
        disc = (yy[y0:y1] - y) ** 2 + (xx[:, x0:x1] - x) ** 2 <= rr * rr
        suit[y0:y1, x0:x1][disc] = 0.8
    r[suit > 0] = 1
    return suit, r, roads


GUILD = {"suitability_threshold": 0.5, "min_patch_area_m2": 500.0, "edge_band_m": 10.0, "d0_m": 500.0, "p0": 0.5}
#: Links and searches stop where p falls below this (the schema's connectivity.p_floor default).
P_FLOOR = 0.001


def conn_params(threads: int) -> ConnectivityParams:
    """The benchmark guild's connectivity parameters (Conefor kernel, exact metrics, untiled)."""
    d0, p0 = GUILD["d0_m"], GUILD["p0"]
    return ConnectivityParams(
        guild="bench", kernel=Kernel(d0, p0, -math.log(p0) / d0, "conefor"),
        suitability_threshold=GUILD["suitability_threshold"], min_patch_area_m2=GUILD["min_patch_area_m2"],
        edge_band_m=GUILD["edge_band_m"], p_floor=P_FLOOR, corridor_width=d0, iic_max_cost=d0, tile_cells=0,
        metrics_tolerance=0.0, n_threads=threads,
    )


def bench_core(n: int, n_patches: int, res_m: float = 10.0, threads: int = 2) -> dict:
    """Patches + links + metrics with the library functions; returns timings and the graph."""
    suit, r, roads = make_landscape(n, n_patches)
    t0 = time.perf_counter()
    ps = cn.find_patches(suit, res_m=res_m, threshold=GUILD["suitability_threshold"],
                         min_area_m2=GUILD["min_patch_area_m2"], edge_band_m=GUILD["edge_band_m"])
    t1 = time.perf_counter()
    res = cn.prepare_resistance(r)
    kern = cn.dispersal_kernel(GUILD["d0_m"])
    links = cn.build_links(res, ps.labels, res_m=res_m, max_cost=kern.max_cost(P_FLOOR), n_threads=threads)
    t2 = time.perf_counter()
    gm = cn.probability_metrics(ps.table["quality_ha"], (links.from_id - 1, links.to_id - 1, links.cost),
                                kern.k_per_m, n * n * res_m * res_m / 1e4, iic_max_cost=GUILD["d0_m"])
    t3 = time.perf_counter()
    return {
        "cells": n * n, "patches": ps.n, "links": links.n, "t_patches": t1 - t0, "t_links": t2 - t1,
        "t_metrics": t3 - t2, "t_total": t3 - t0, "ECA_ha": gm.ECA_ha, "peak_mb": peak_rss_mb(),
        "res": res, "labels": ps.labels, "table": ps.table, "links_obj": links, "kernel": kern, "gm": gm,
        "suit": suit, "r": r, "roads": roads,
    }


def naive_links_time(core: dict, n_sources: int, res_m: float = 10.0) -> float:
    """Seconds per patch of one unbounded MCP_Geometric search (the all-pairs approach)."""
    res, labels = core["res"], core["labels"]
    ids = np.linspace(1, core["patches"], n_sources).astype(int)
    t0 = time.perf_counter()
    mcp = MCP_Geometric(res, fully_connected=True, sampling=(res_m, res_m))
    for pid in ids:
        starts = list(zip(*np.nonzero(labels == pid), strict=True))
        costs, _ = mcp.find_costs(starts)
        ndimage.minimum(costs, labels, np.arange(1, core["patches"] + 1))  # cost to every other patch
    return (time.perf_counter() - t0) / len(ids)


def naive_dpc_time(core: dict, n_removals: int) -> float:
    """Seconds per node of naive dPC (delete the node, recompute all pairs for PC and IIC)."""
    links, kern = core["links_obj"], core["kernel"]
    a = core["table"]["quality_ha"].to_numpy()
    n = a.size
    i, j, c = links.from_id - 1, links.to_id - 1, links.cost
    ks = np.linspace(0, n - 1, n_removals).astype(int)
    t0 = time.perf_counter()
    for k in ks:
        keep = (i != k) & (j != k)
        ak = a.copy()
        ak[k] = 0
        D = cn.apsp(n, i[keep], j[keep], kern.k_per_m * c[keep])
        float(ak @ np.exp(-D) @ ak)
        b = keep & (c <= kern.d0_m)
        H = csgraph.shortest_path(cn.sym_csr(n, i[b], j[b], np.ones(int(b.sum()))), unweighted=True)
        float(ak @ np.where(np.isfinite(H), 1 / (1 + H), 0) @ ak)
    return (time.perf_counter() - t0) / len(ks)


def bench_stages(core: dict, workdir: Path, res_m: float, threads: int, barriers: bool) -> None:
    """Full run_connectivity (outputs + corridors) and run_barriers on files."""
    n = core["suit"].shape[0]
    grid = Grid.from_bounds((0.0, 0.0, n * res_m, n * res_m), res_m, CRS.from_epsg(28992))
    write_raster(workdir / "habitat.tif", core["suit"], grid, nodata=-1.0)
    write_raster(workdir / "resistance.tif", core["r"], grid, nodata=-1.0)
    write_gpkg(gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(*grid.bounds)], crs="EPSG:28992"),
               workdir / "region.gpkg", "region")
    top = n * res_m
    boxes = [shapely.box(c0 * res_m + 1, top - r1 * res_m + 1, c1 * res_m - 1, top - r0 * res_m - 1)
             for r0, r1, c0, c1 in core["roads"]]
    write_gpkg(gpd.GeoDataFrame({"class": ["road_main"] * len(boxes)}, geometry=boxes, crs="EPSG:28992"),
               workdir / "landcover.gpkg", "landcover")
    w = workdir
    t0 = time.perf_counter()
    conn = conn_params(threads)
    s = cn.run_connectivity(w / "habitat.tif", w / "resistance.tif", w / "region.gpkg", w / "p.gpkg", w / "p.tif",
                            w / "l.gpkg", w / "g.graphml", w / "m.csv", w / "s.json", w / "c.tif", params=conn)
    print(f"run_connectivity (all outputs + corridors): {time.perf_counter() - t0:.1f} s for {s['n_patches']} "
          f"patches and {s['n_links']} links (stage timings in the log with -v), "
          f"peak RSS so far {peak_rss_mb():.0f} MB")
    if not barriers:
        return
    bparams = BarrierParams(guild="bench", connectivity=conn, max_segment_m=100.0, radii_m=(20.0, 50.0, 100.0),
                            top_n=50, resistance_threshold=100.0, passage_resistance=1.0, resistance={},
                            n_threads=threads)
    t0 = time.perf_counter()
    info = br.run_barriers(w / "landcover.gpkg", w / "resistance.tif", w / "p.tif", w / "p.gpkg", w / "l.gpkg",
                           w / "s.json", w / "b.gpkg", params=bparams)
    print(f"run_barriers: {info['n_segments']} segments, {info.get('n_matter', 0)} in corridors/links; "
          f"scoring at 3 radii {info['timing_s']['surfaces']:.1f} s, top-{info.get('n_gain_evaluated', 0)} "
          f"network gains {info['timing_s']['gains']:.1f} s, total {time.perf_counter() - t0:.1f} s, "
          f"peak RSS so far {peak_rss_mb():.0f} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2000, help="side of the target region in cells (10 m)")
    ap.add_argument("--patches", type=int, default=1000, help="discs drawn in the target region")
    ap.add_argument("--growth", default="1000,2000,4000", help="comma-separated sides for the growth table "
                    "(patch density constant); 4000 = 16 M cells")
    ap.add_argument("--naive-sources", type=int, default=3, help="unbounded MCP runs timed for extrapolation")
    ap.add_argument("--naive-removals", type=int, default=20, help="naive dPC removals timed for extrapolation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-barriers", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)

    # warm up the compiled kernels so timings exclude JIT compilation
    cn.probability_metrics([1.0, 1.0], [(0, 1, 1.0)], 1.0, 1.0)
    warm = np.zeros((5, 5), np.int32)
    warm[0, 0], warm[4, 4] = 1, 2
    cn.build_links(np.ones((5, 5)), warm, res_m=1.0, max_cost=10.0, corridor_width=1.0, n_threads=1)

    print(f"== target: {args.size}x{args.size} cells at 10 m, {args.threads} threads ==")
    core = bench_core(args.size, args.patches, threads=args.threads)
    n = core["patches"]
    print(f"patches {core['patches']}, links {core['links']}, ECA {core['ECA_ha']:.1f} ha")
    print(f"patches {core['t_patches']:.2f} s + links {core['t_links']:.1f} s + metrics (PC, IIC, dPC, dIIC, BC) "
          f"{core['t_metrics']:.2f} s = {core['t_total']:.1f} s; peak RSS {core['peak_mb']:.0f} MB")
    per_src = naive_links_time(core, args.naive_sources)
    per_rm = naive_dpc_time(core, args.naive_removals)
    naive_links = per_src * n
    naive_dpc = per_rm * n
    print(f"naive links: unbounded MCP {per_src:.2f} s/patch x {n} = {naive_links:.0f} s [extrapolated from "
          f"{args.naive_sources}] vs bounded {core['t_links']:.1f} s -> ratio {naive_links / core['t_links']:.0f}x")
    print(f"naive dPC/dIIC: {per_rm:.3f} s/node x {n} = {naive_dpc:.0f} s [extrapolated from {args.naive_removals}] "
          f"vs all metrics {core['t_metrics']:.2f} s -> ratio {naive_dpc / max(core['t_metrics'], 1e-9):.0f}x")
    total_naive = naive_links + naive_dpc + core["t_patches"]
    print(f"overall naive / ours: {total_naive:.0f} s / {core['t_total']:.1f} s = {total_naive / core['t_total']:.0f}x")

    with tempfile.TemporaryDirectory() as tmp:
        bench_stages(core, Path(tmp), 10.0, args.threads, not args.no_barriers)
    del core

    print("== growth (constant patch density) ==")
    print("cells      patches  links   links_s  metrics_s  total_s  peak_MB")
    for side in [int(s) for s in args.growth.split(",") if s]:
        npat = int(round(args.patches * (side / args.size) ** 2))
        g = bench_core(side, npat, threads=args.threads)
        print(f"{side * side / 1e6:5.0f} M  {g['patches']:8d} {g['links']:6d} {g['t_links']:8.1f} "
              f"{g['t_metrics']:10.2f} {g['t_total']:8.1f} {g['peak_mb']:8.0f}")
        del g
    print(f"k = {math.log(2) / GUILD['d0_m']:.3g} per cost-m; link bound {cn.dispersal_kernel(GUILD['d0_m']).max_cost(P_FLOOR):.0f} cost-m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
