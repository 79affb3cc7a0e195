"""Connectivity and barrier stages before and after the trimmed search bounds, side by side.

Generates the 4 M-cell benchmark region of ``run_all.py --sizes 4`` (``synthetic.make_region``,
seed 7, 20 x 20 km at 10 m) and runs the workflow up to the habitat rasters in a temporary
directory (never in ``results/``), or reuses one (``--work``). Then, per guild, the connectivity
stage and the barrier stage run in a fresh process with the old code (``--old-src``, the ``src``
folder of a read-only worktree of an older commit) and with this checkout's code, alternating old
and new ``--repeat`` times. Each process reports its wall time, its CPU time (user + sys, which
is what counts on a shared, loaded machine) and its peak RSS (``ru_maxrss``); the load average
before each run is printed too. Finally the outputs of the last old and new runs are compared
(rasters, CSV and JSON byte for byte, GeoPackage layers value for value on their common columns).

Usage::

    git worktree add --detach /tmp/wt_old <older commit>      # read-only copy of the old code
    .venv/bin/python benchmarks/bench_connectivity_searches.py --old-src /tmp/wt_old/src \\
        [--work /tmp/region-4M] [--guilds woodland_birds] [--threads 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Run in a child process: connectivity then barriers of one guild; prints one JSON line.
CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
src, work, guild, out, nthr = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, src)
import yaml
import werkland
assert werkland.__file__.startswith(src), werkland.__file__
from werkland.config import validate_config
from werkland.params import BarrierParams, ConnectivityParams
from werkland.tables import load_guilds, load_legend
from werkland.connectivity import run_connectivity
from werkland.barriers import run_barriers
os.chdir(work)
cfg = yaml.safe_load(open("config/config.yaml"))
validate_config(cfg, Path(sys.argv[6]) / "workflow/schemas/config.schema.yaml")
g = load_guilds(cfg["guilds_table"], load_legend(cfg["legend"]))[guild]
cp = ConnectivityParams.from_config(cfg, g, n_threads=nthr)
bp = BarrierParams.from_config(cfg, g, n_threads=nthr)
r = work / "results" / "bench"
out.mkdir(parents=True, exist_ok=True)
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
res = {}
t, c = time.perf_counter(), cpu()
s = run_connectivity(r / f"habitat/{guild}.tif", r / f"resistance/{guild}.tif", r / "region.gpkg",
                     out / "patches.gpkg", out / "patches.tif", out / "links.gpkg", out / "graph.graphml",
                     out / "metrics.csv", out / "summary.json", out / "corridors.tif", params=cp)
res["connectivity"] = {"wall": time.perf_counter() - t, "cpu": cpu() - c, "patches": s["n_patches"],
                       "links": s["n_links"]}
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t, c = time.perf_counter(), cpu()
run_barriers(r / "landcover.gpkg", r / f"resistance/{guild}.tif", out / "patches.tif", out / "patches.gpkg",
             out / "links.gpkg", out / "summary.json", out / "barriers.gpkg", params=bp)
res["barriers"] = {"wall": time.perf_counter() - t, "cpu": cpu() - c}
res["peak_rss_mb_connectivity"] = rss1
res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(res))
"""


def make_inputs(work: Path) -> None:
    """The 4 M-cell region of ``run_all.py --sizes 4`` up to its habitat rasters."""
    import yaml

    sys.path.insert(0, str(HERE))
    from synthetic import make_region

    side_km = math.sqrt(4) * 10.0
    gen = make_region(work / "input", size_km=side_km, n_polygons=40000, seed=7)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["regions"] = {"bench": {
        "land_cover": [{"type": "vector", "path": str(gen["landcover"]), "class_field": "class"}],
        "parks": {"file": str(gen["parks"]), "id_field": "park_id"},
        "context_buffer_m": side_km * 1000 / 8 * 0.9, "clip_lonlat": None, "species_source": "none"}}
    if not (work / "config").exists():
        subprocess.run(["cp", "-r", str(ROOT / "config"), str(work / "config")], check=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    subprocess.run([str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "workflow" / "Snakefile"),
                    "-d", str(work), "--cores", "2", "--until", "habitat", "--quiet"], check=True)


def run_child(src: Path, work: Path, guild: str, out: Path, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(work), guild, str(out), str(threads),
                           str(ROOT)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def compare(old: Path, new: Path) -> list[str]:
    """Differences between the outputs of two runs (empty: identical)."""
    import geopandas as gpd
    import pandas as pd

    diffs = []
    for name in ("patches.tif", "corridors.tif", "metrics.csv", "summary.json"):
        if (old / name).read_bytes() != (new / name).read_bytes():
            diffs.append(name)
    for name, layer in (("links.gpkg", "links"), ("patches.gpkg", "patches"), ("barriers.gpkg", "barriers")):
        a = gpd.read_file(old / name, layer=layer)
        b = gpd.read_file(new / name, layer=layer)
        cols = [c for c in a.columns if c in b.columns and c != "geometry"]
        try:
            pd.testing.assert_frame_equal(pd.DataFrame(a[cols]), pd.DataFrame(b[cols]), check_exact=True)
            if not a.geometry.geom_equals_exact(b.geometry, tolerance=0).all():
                diffs.append(f"{name}: geometry")
        except AssertionError as exc:
            diffs.append(f"{name}: {str(exc).splitlines()[0]}")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-src", type=Path, required=True, help="src folder of the old code (a read-only worktree)")
    ap.add_argument("--work", type=Path, help="generated region (made in a temporary directory when absent)")
    ap.add_argument("--guilds", nargs="+", default=["woodland_birds"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench_searches_")) / "region-4M"
    if not (work / "results" / "bench" / "habitat").exists():
        make_inputs(work)
    outs = Path(tempfile.mkdtemp(prefix="bench_searches_out_"))
    rows = []
    for guild in a.guilds:
        for rep in range(a.repeat):
            for label, src in (("old", a.old_src.resolve()), ("new", ROOT / "src")):
                load = os.getloadavg()[0]
                r = run_child(src, work, guild, outs / f"{guild}_{label}", a.threads)
                rows.append((guild, rep, label, load, r))
                print(f"{guild} #{rep} {label}: load {load:.1f} "
                      + json.dumps({k: v for k, v in r.items()}), flush=True)
        diffs = compare(outs / f"{guild}_old", outs / f"{guild}_new")
        print(f"{guild}: outputs {'identical' if not diffs else 'DIFFER: ' + '; '.join(diffs)}", flush=True)
    print("\n| guild | code | load | connectivity wall / CPU s | barriers wall / CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for guild, _rep, label, load, r in rows:
        c, b = r["connectivity"], r["barriers"]
        print(f"| {guild} | {label} | {load:.1f} | {c['wall']:.1f} / {c['cpu']:.1f} | {b['wall']:.1f} / {b['cpu']:.1f} "
              f"| {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
