"""A region's land-cover stage from a national vector file vs from a copy cut to the region.

Generates (``benchmarks/national_data.py``) a national-size vector land-cover GeoPackage in RD New:
a grid of ``--cell-m`` squares over ``--extent-km`` x ``--extent-km`` km (default 200 m over
200 x 200 km: 1,000,000 polygons) whose 4 x 4 km block around the park is finer (``--fine-cell-m``,
default 20 m: 40,000 polygons, town-like density), and one park of 1 x 1 km; with the 500 m context
buffer its region is about 4 km². Then it measures :func:`werkland.landcover.run_landcover` (the
stage entry point, with the region's settings as the workflow validates them) on

(a) the national file (read through the GeoPackage's spatial index, only around the region),
(b) a copy cut to the region's box plus 100 m (pyogrio bbox read + write, the ogr2ogr ``-spat``
    way; the cut itself is timed separately and not counted),
(c) optionally the old behaviour for reference: reading the whole national layer
    (:func:`werkland.landcover.read_vector_classes` without a region), the read alone.

Each measurement runs in a fresh Python process, ``--repeat`` times (alternating); the table gives the
median wall time of the stage call (imports excluded) and the process's peak RSS (``VmHWM`` of
``/proc/self/status``, imports included; ``ru_maxrss`` would carry over the parent's RSS at fork
time), plus the peak above the process's peak after its imports (Linux only). (a) and (b) must write
the same land cover. Target: (a) <= 1.5 x (b) in time and in peak memory.

Usage: .venv/bin/python benchmarks/bench_national_vector.py [--extent-km 200] [--cell-m 200]
       [--fine-cell-m 20] [--repeat 3] [--no-whole-file] [--work /tmp/werkland-national-vector]
       [--out <work>/national_vector.json]
Generated files stay in --work (never in the project); a national file of the same settings is reused.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import rasterio
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import national_data as nd  # noqa: E402

from werkland.config import region_settings, validate_config  # noqa: E402

LEGEND = ROOT / "config" / "landcover_classes.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
PARK_M = 1000.0
BUFFER_M = 500.0
FINE_BLOCK_M = 4000.0
CUT_MARGIN_M = 100.0

_CHILD = """
import json, sys, time
from werkland.landcover import run_landcover, read_vector_classes
from werkland.params import LandcoverParams
from werkland.tables import load_legend
from pyproj import CRS
def hwm_mb():
    # VmHWM (peak RSS) belongs to the process image: unlike ru_maxrss it does not carry over the
    # parent's RSS at fork time across exec
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
job = json.loads(sys.argv[1])
base_mb = hwm_mb()
t0 = time.perf_counter()
if job["kind"] == "stage":
    counts = run_landcover(LandcoverParams.from_region(job["settings"]), job["legend"], *job["outputs"])
else:
    gdf = read_vector_classes(job["path"], class_field="klasse", mapping=job["mapping"],
                              legend=load_legend(job["legend"]), crs=CRS.from_epsg(28992))
    counts = {"features": len(gdf)}
wall = time.perf_counter() - t0
peak_mb = hwm_mb()
print("__BENCH__" + json.dumps({"wall_s": wall, "peak_mb": peak_mb, "base_mb": base_mb, "counts": counts}))
"""


def _child(job: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("__BENCH__"))
    return json.loads(line[len("__BENCH__"):])


def _settings(parks_file: Path, source: Path) -> dict[str, Any]:
    """The region's effective settings, as the workflow makes them (validated, defaults filled)."""
    cfg = {"legend": str(LEGEND), "guilds_table": str(ROOT / "config" / "guilds.yaml"), "guilds": ["hedgehog"],
           "regions": {"bench": {
               "land_cover": [{"type": "vector", "path": str(source), "class_field": "klasse",
                               "mapping": dict(nd.CLASS_MAPPING)}],
               "parks": {"file": str(parks_file), "id_field": "RIN_NUMMER", "ids": ["00000001"]},
               "resolution_m": 10, "context_buffer_m": BUFFER_M}}}
    validate_config(cfg, SCHEMA)
    return copy.deepcopy(region_settings(cfg)["bench"])


def _generate(work: Path, extent_km: float, cell_m: float, fine_cell_m: float) -> dict[str, Any]:
    x0, y0 = 20_000.0, 300_000.0  # RD New: the grid lies over the Netherlands
    side = extent_km * 1000.0
    cx, cy = x0 + side / 2, y0 + side / 2
    park = nd.Park("00000001", "Benchmarkpark", (cx - PARK_M / 2, cy - PARK_M / 2, cx + PARK_M / 2, cy + PARK_M / 2))
    fine = (cx - FINE_BLOCK_M / 2, cy - FINE_BLOCK_M / 2, cx + FINE_BLOCK_M / 2, cy + FINE_BLOCK_M / 2)
    national = work / f"national_{int(extent_km)}km_{int(cell_m)}m_{int(fine_cell_m)}m.gpkg"
    meta = national.with_suffix(".json")
    if national.exists() and meta.exists():
        info = json.loads(meta.read_text())
        print(f"reusing {national} ({info['features']:,} polygons)")
    else:
        t0 = time.perf_counter()
        info = nd.write_grid_landcover(national, (x0, y0, x0 + side, y0 + side), cell_m, fine=[(fine, fine_cell_m)])
        info["write_s"] = round(time.perf_counter() - t0, 1)
        meta.write_text(json.dumps(info))
        print(f"wrote {national}: {info['features']:,} polygons in {info['write_s']} s")
    info["mb"] = round(national.stat().st_size / 1e6, 1)
    parks = nd.write_parks_register(work / "park.gpkg", [park])
    return {"national": national, "parks": parks, "park": park, "info": info}


def _cut(national: Path, park: nd.Park, out: Path) -> dict[str, Any]:
    """The national file cut to the region's box + CUT_MARGIN_M (bbox read + write)."""
    x0, y0, x1, y1 = park.box
    r = BUFFER_M + CUT_MARGIN_M
    t0 = time.perf_counter()
    gdf = pyogrio.read_dataframe(national, bbox=(x0 - r, y0 - r, x1 + r, y1 + r))
    if out.exists():
        out.unlink()
    pyogrio.write_dataframe(gdf, out, layer="landcover", driver="GPKG")
    return {"features": len(gdf), "cut_s": round(time.perf_counter() - t0, 2)}


def _same_landcover(a: Path, b: Path) -> bool:
    """Same polygons per class (count, and no area in the symmetric difference of the classes'
    unions; the order of equal-sized polygons may differ) and the same class raster."""
    la, lb = (gpd.read_file(p / "landcover.gpkg", layer="landcover") for p in (a, b))
    if len(la) != len(lb) or sorted(la["class"]) != sorted(lb["class"]):
        return False
    for cls in set(la["class"]):
        ua = shapely.union_all(la.geometry[la["class"] == cls].values)
        ub = shapely.union_all(lb.geometry[lb["class"] == cls].values)
        if shapely.symmetric_difference(ua, ub).area > 1e-6:
            return False
    with rasterio.open(a / "landcover.tif") as da, rasterio.open(b / "landcover.tif") as db:
        return bool(da.transform == db.transform and (da.read(1) == db.read(1)).all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extent-km", type=float, default=200.0)
    ap.add_argument("--cell-m", type=float, default=200.0)
    ap.add_argument("--fine-cell-m", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-whole-file", action="store_true", help="skip (c), the whole-layer read")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "werkland-national-vector"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    gen = _generate(work, a.extent_km, a.cell_m, a.fine_cell_m)
    cut_file = work / "region_cut.gpkg"
    cut = _cut(gen["national"], gen["park"], cut_file)
    print(f"cut copy: {cut['features']:,} polygons in {cut['cut_s']} s")

    jobs: dict[str, dict[str, Any]] = {}
    for key, source in (("national", gen["national"]), ("cut", cut_file)):
        d = work / f"out_{key}"
        d.mkdir(exist_ok=True)
        jobs[key] = {"kind": "stage", "settings": _settings(gen["parks"], source), "legend": str(LEGEND),
                     "outputs": [str(d / "region.gpkg"), str(d / "landcover.gpkg"), str(d / "landcover.tif")]}
    if not a.no_whole_file:
        jobs["whole"] = {"kind": "read", "path": str(gen["national"]), "legend": str(LEGEND),
                         "mapping": dict(nd.CLASS_MAPPING)}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in jobs}
    for i in range(a.repeat):
        for key, job in jobs.items():
            if key == "whole" and i > 0:
                continue  # one whole-layer read is enough to show what the window saves
            runs[key].append(_child(job))
    same = _same_landcover(work / "out_national", work / "out_cut")

    labels = {"national": f"(a) region from the national file ({gen['info']['features']:,} polygons, "
                          f"{gen['info']['mb']} MB)",
              "cut": f"(b) region from the cut copy ({cut['features']:,} polygons)",
              "whole": "(c) reference: whole national layer read (read only, no region)"}
    rows = []
    for key, rs in runs.items():
        rows.append({"case": labels[key], "key": key, "runs": len(rs),
                     "wall_s": statistics.median(r["wall_s"] for r in rs),
                     "peak_mb": statistics.median(r["peak_mb"] for r in rs),
                     "above_base_mb": statistics.median(r["peak_mb"] - r["base_mb"] for r in rs),
                     "each_wall_s": [round(r["wall_s"], 2) for r in rs], "each_peak_mb": [round(r["peak_mb"]) for r in rs],
                     "counts": rs[-1]["counts"]})
    by = {r["key"]: r for r in rows}
    ratio_t = by["national"]["wall_s"] / by["cut"]["wall_s"]
    ratio_m = by["national"]["peak_mb"] / by["cut"]["peak_mb"]
    print("\n| case | runs | stage wall time (s) | peak RSS (MB) | peak above imports (MB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['runs']} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} | {r['above_base_mb']:.0f} |")
    print(f"\nnational / cut: time {ratio_t:.2f}x, peak memory {ratio_m:.2f}x (target <= 1.5x both); "
          f"same land cover: {same}")
    read_key = f"vector_{gen['national'].name}_read"
    print(f"features the stage read from the national file: {by['national']['counts'].get(read_key)}")
    result = {"generated": {k: v for k, v in gen["info"].items()}, "cut": cut, "rows": rows,
              "ratio_time": ratio_t, "ratio_peak_memory": ratio_m, "same_landcover": same,
              "target_met": ratio_t <= 1.5 and ratio_m <= 1.5 and same}
    out = Path(a.out) if a.out else work / "national_vector.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"figures: {out}")
    if not same:
        raise SystemExit("the national file and the cut copy gave different land cover")


if __name__ == "__main__":
    main()
