"""The land-cover stage on a generated region: the code of another checkout ("before") against this one.

Generates (``benchmarks/synthetic.py``, in a temporary directory, never in the project) the square
region of ``--mcells`` million 10 m cells that ``run_all.py --sizes <mcells>`` generates (Voronoi land
cover, road grid, 16 parks, context buffer side/8 * 0.9), then runs
:func:`werkland.landcover.run_landcover` with the region's validated settings, ``--repeat`` times,
alternating before and after, each run in a fresh Python process. A run reports the wall time of the
stage call, its CPU time (user + system, all threads; imports excluded) and the process's peak RSS
(``VmHWM``, imports included). The three outputs of every run are compared by their values (``tests/output_manifest.py`` digests: raster
arrays, GeoPackage layers, columns and geometries) with the first "after" run.

"before" is the ``src`` of another checkout of the project, e.g. a read-only worktree of the last
commit::

    git -C . worktree add /tmp/wt_base HEAD
    .venv/bin/python benchmarks/bench_landcover.py --before /tmp/wt_base/src [--mcells 4] [--repeat 3]

Without ``--before`` only this checkout is measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from synthetic import make_region  # noqa: E402

from tests.output_manifest import _digests, file_values  # noqa: E402
from werkland.config import region_settings, validate_config  # noqa: E402

LEGEND = ROOT / "config" / "landcover_classes.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
OUTPUTS = ("region.gpkg", "landcover.gpkg", "landcover.tif")

_CHILD = """
import json, resource, sys, time
from werkland.landcover import run_landcover
from werkland.params import LandcoverParams
def hwm_mb():
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
job = json.loads(sys.argv[1])
base_mb = hwm_mb()
def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, t0 = cpu_s(), time.perf_counter()
counts = run_landcover(LandcoverParams.from_region(job["settings"]), job["legend"], *job["outputs"])
wall, cpu = time.perf_counter() - t0, cpu_s() - c0
print("__BENCH__" + json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_mb": hwm_mb(), "base_mb": base_mb,
                                "polygons": counts.get("landcover_polygons")}))
"""


def _settings(gen: dict[str, Any], side_km: float) -> dict[str, Any]:
    """The region's settings as ``run_all.py`` configures them, validated with the schema defaults."""
    cfg = {"legend": str(LEGEND), "guilds_table": str(ROOT / "config" / "guilds.yaml"), "guilds": ["hedgehog"],
           "regions": {"bench": {
               "land_cover": [{"type": "vector", "path": str(gen["landcover"]), "class_field": "class"}],
               "parks": {"file": str(gen["parks"]), "id_field": "park_id"},
               "context_buffer_m": side_km * 1000 / 8 * 0.9, "clip_lonlat": None}}}
    validate_config(cfg, SCHEMA)
    return copy.deepcopy(region_settings(cfg)["bench"])


def _run(src: Path, settings: dict[str, Any], out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    job = {"settings": settings, "legend": str(LEGEND), "outputs": [str(out / f) for f in OUTPUTS]}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(src)})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("__BENCH__"))
    return json.loads(line[len("__BENCH__"):])


def _values(out: Path) -> dict[str, Any]:
    return {f: _digests(file_values(out / f)) for f in OUTPUTS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mcells", type=float, default=4.0, help="region size in million 10 m cells")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", default=None, help="the src directory of the code to compare with")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "werkland-bench-landcover"))
    ap.add_argument("--out", default=None, help="figures JSON (default <work>/bench_landcover.json)")
    a = ap.parse_args()
    work = Path(a.work)
    side_km = math.sqrt(a.mcells) * 10.0
    gen = make_region(work / f"region-{a.mcells:g}M", size_km=side_km, n_polygons=int(10000 * a.mcells), seed=7)
    settings = _settings(gen, side_km)
    cases = {"after": ROOT / "src"}
    if a.before:
        cases = {"before": Path(a.before).resolve(), **cases}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in cases}
    reference: dict[str, Any] | None = None
    same = True
    for i in range(a.repeat):
        for key, src in cases.items():
            out = work / f"out_{key}_{i}"
            r = _run(src, settings, out)
            values = _values(out)
            reference = reference if reference is not None else values
            r["identical"] = values == reference
            same &= r["identical"]
            runs[key].append(r)
            print(f"{key} run {i + 1}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, peak RSS {r['peak_mb']:.0f} MB, "
                  f"{r['polygons']} polygons, outputs identical to the first run: {r['identical']}", flush=True)
    rows = {k: {"median_s": statistics.median(r["wall_s"] for r in rs),
                "median_cpu_s": statistics.median(r["cpu_s"] for r in rs),
                "each_s": [round(r["wall_s"], 2) for r in rs],
                "peak_mb": max(r["peak_mb"] for r in rs), "base_mb": min(r["base_mb"] for r in rs)}
            for k, rs in runs.items()}
    print("\n| code | runs | stage wall time, median (each) | CPU s, median | peak RSS MB (of which imports) |")
    print("|---|---|---|---|---|")
    for k, r in rows.items():
        each = ", ".join(f"{s:.2f}" for s in r["each_s"])
        print(f"| {k} | {len(runs[k])} | {r['median_s']:.2f} s ({each}) | {r['median_cpu_s']:.2f} | "
              f"{r['peak_mb']:.0f} ({r['base_mb']:.0f}) |")
    if "before" in rows:
        print(f"\nspeed-up (median): {rows['before']['median_s'] / rows['after']['median_s']:.2f}x")
    print(f"outputs of every run identical (values of {', '.join(OUTPUTS)}): {same}")
    load = os.getloadavg()
    result = {"mcells": a.mcells, "rows": rows, "runs": runs, "identical": same, "loadavg_after": load}
    target = Path(a.out) if a.out else work / "bench_landcover.json"
    target.write_text(json.dumps(result, indent=1))
    print(f"figures: {target} (load average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f})")
    if not same:
        raise SystemExit("the runs wrote different land cover")


if __name__ == "__main__":
    main()
