"""Benchmark of the climate stage on a generated 20 km x 20 km region at 10 m (4 M cells).

Run: ``.venv/bin/python benchmarks/bench_climate.py [--size 2000] [--threads 2]``

Prints wall time and peak memory (tracemalloc peak of the stage's Python/numpy allocations, and the
process peak RSS) of: heat (InVEST urban cooling incl. air temperature), water (2 storms, actual +
natural reference + pooled), and the full ``run_climate`` with GeoTIFF/GeoPackage I/O and the
per-park summary. Target: heat + water < 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS
from scipy import ndimage
from shapely.geometry import box

from werkland.climate import ClimateParams, load_biophysical, run_climate, runoff_mm, urban_cooling
from werkland.raster.io import Grid, write_raster

LEGEND = Path(__file__).resolve().parents[1] / "config" / "landcover_classes.yaml"
CLASSES = [
    "sealed",
    "parking",
    "building",
    "grass",
    "woodland",
    "shrub",
    "open_water",
    "garden",
    "cropland",
    "road_main",
]


def make_region(size: int, rng: np.random.Generator) -> np.ndarray:
    """Blobby land cover: smoothed noise cut into classes, a ring of nodata outside the region."""
    leg = load_biophysical(LEGEND)
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6)
    ranks = np.argsort(np.argsort(noise.ravel())).reshape(noise.shape) * len(CLASSES) // noise.size
    codes = np.array([leg.code_of(c) for c in CLASSES], dtype=np.uint8)
    lc = codes[ranks]
    lc[:, :20] = 0  # outside the region
    lc[::200, :] = leg.code_of("road_main")
    return lc


def parks_and_buildings(size: int, res: float, x0: float, y0: float, rng: np.random.Generator):
    parks = []
    for _ in range(25):  # 25 parks of 1-2 km
        cx, cy = rng.uniform(0.1, 0.9, 2) * size * res
        half = rng.uniform(500, 1000)
        parks.append(box(x0 + cx - half, y0 - cy - half, x0 + cx + half, y0 - cy + half))
    n_b = 20_000
    bx, by = rng.uniform(0, size * res - 60, (2, n_b))
    w, h = rng.uniform(10, 60, (2, n_b))
    buildings = [
        box(x0 + a, y0 - b - hh, x0 + a + ww, y0 - b)
        for a, b, ww, hh in zip(bx, by, w, h, strict=True)
    ]
    return parks, buildings


def stage(label: str, fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<34s} {dt:7.2f} s   traced peak {peak / 2**20:7.0f} MiB   process peak RSS {rss:7.0f} MiB"
    )
    return out, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--size", type=int, default=2000, help="cells per side (default 2000 = 20 km at 10 m)"
    )
    ap.add_argument("--threads", type=int, default=2, help="FFT threads")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    res, x0, y0 = 10.0, 80_000.0, 460_000.0
    lc = make_region(args.size, rng)
    leg = load_biophysical(LEGEND)
    p = ClimateParams.from_section({"t_ref_degC": 30.0, "uhi_max_degC": 3.0})  # schema defaults + air temperature
    print(
        f"region {args.size} x {args.size} cells at {res:g} m, d_cool {p.cooling_distance_m:g} m, "
        f"r {p.t_air_radius_m:g} m, {args.threads} threads"
    )

    _, t_heat = stage(
        "heat (urban cooling + T_air)", lambda: urban_cooling(lc, leg, res, p, workers=args.threads)
    )

    def water():
        nat = np.where(lc != 0, leg.natural_code(p.natural_setting), 0).astype(np.uint8)
        out = []
        for s in p.storms:
            out.append(runoff_mm(lc, leg, s.depth_mm, p.soil_group, p.lambda_))
            out.append(runoff_mm(nat, leg, s.depth_mm, p.soil_group, p.lambda_))
            out.append(runoff_mm(lc, leg, s.depth_mm, p.soil_group, p.lambda_, storage=False))
        return out

    _, t_water = stage("water (2 storms x 3 rasters)", water)
    print(f"{'heat + water':<34s} {t_heat + t_water:7.2f} s   (target < 30 s)")

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        grid = Grid(args.size, args.size, Affine(res, 0, x0, 0, -res, y0), CRS.from_epsg(28992))
        write_raster(d / "landcover.tif", lc, grid, nodata=0)
        parks, buildings = parks_and_buildings(args.size, res, x0, y0, rng)
        gpd.GeoDataFrame(
            {"park_id": [f"p{i}" for i in range(len(parks))], "name": "bench"},
            geometry=parks,
            crs=28992,
        ).to_file(d / "region.gpkg", layer="parks", driver="GPKG")
        gpd.GeoDataFrame(
            {"class": ["building"] * len(buildings), "source": "bench"},
            geometry=buildings,
            crs=28992,
        ).to_file(d / "landcover.gpkg", layer="landcover", driver="GPKG")
        out = d / "climate"
        stage(
            "run_climate (I/O + 25-park summary)",
            lambda: run_climate(
                d / "landcover.tif",
                d / "landcover.gpkg",
                d / "region.gpkg",
                LEGEND,
                out / "cooling.tif",
                {s: out / f"runoff_{s}.tif" for s in p.storm_names},
                out / "summary.csv",
                params=p,
                threads=args.threads,
            ),
        )


if __name__ == "__main__":
    main()
