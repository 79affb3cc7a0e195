"""Dry-run time of the workflow with thousands of regions from one table.

Writes a regions table of N rows (all pointing at the demo extract) and times ``snakemake --dry-run``
with ``execution: pipeline`` (one job per region) and, for comparison, ``execution: stages``.

Usage: .venv/bin/python benchmarks/bench_scale.py [--regions 4000] [--stages-too]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def dry_run(n: int, mode: str) -> tuple[float, int, float]:
    """Seconds, number of jobs and peak RSS (MB) of a dry run over ``n`` regions."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "config", work / "config")
        cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        cfg.update(execution=mode, regions={}, regions_table="config/regions_bench.tsv")
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        with open(work / "config" / "regions_bench.tsv", "w") as fh:
            fh.write("region\tland_cover\tclip_lonlat\n")
            for i in range(n):
                fh.write(f"park-{i:05d}\tresources/demo/test.osm.pbf\t26.93,60.52,26.97,60.54\n")
        snake = Path(sys.executable).with_name("snakemake")
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(snake), "-s", str(ROOT / "workflow" / "Snakefile"),
                               "-d", str(work), "--dry-run", "--cores", "2"], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        total = re.search(r"^total\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M)
        rss_mb = float(proc.stderr.strip().splitlines()[-1]) / 1024
        return dt, int(total.group(1)) if total else -1, rss_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--regions", type=int, default=4000)
    ap.add_argument("--stages-too", action="store_true", help="also time execution: stages (slow)")
    a = ap.parse_args()
    print("| regions | execution | jobs | dry run (s) | peak memory (MB) |")
    print("|---|---|---|---|---|")
    for mode in ["pipeline"] + (["stages"] if a.stages_too else []):
        dt, jobs, rss = dry_run(a.regions, mode)
        print(f"| {a.regions} | {mode} | {jobs} | {dt:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
