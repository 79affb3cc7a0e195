"""Timing and peak-memory measurement of one benchmark stage in a fresh subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def run_stage(code: str, label: str) -> dict[str, float | str]:
    """Run Python ``code`` in a child process; return wall time (s) and the child's peak RSS (MB)."""
    wrapper = (
        "import resource, time, json\n"
        "t0 = time.perf_counter()\n"
        f"{code}\n"
        "print('__BENCH__' + json.dumps({'wall_s': time.perf_counter() - t0, "
        "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {label} failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("__BENCH__"))
    res = json.loads(line[len("__BENCH__"):])
    res["process_s"] = time.perf_counter() - t0
    res["stage"] = label
    return res


def print_table(rows: list[dict[str, float | str]]) -> None:
    """Print stage, wall time and peak memory as a Markdown table."""
    print("| stage | wall time (s) | peak memory (MB) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {float(r['wall_s']):.2f} | {float(r['peak_mb']):.0f} |")
