"""Performance curve: the whole workflow on generated regions of 1, 4 and 16 M cells.

For each size a square region at 10 m is generated (``benchmarks/synthetic.py``: Voronoi land cover,
road grid, 16 parks), the real Snakemake workflow runs on it (``species_source: none``: no network),
and Snakemake's own ``benchmark:`` files give per-stage wall time and peak memory (max_rss, and
max_pss, which splits pages shared by forked workers between them). The whole run's peak is sampled
every second over the Snakemake process and all its jobs (summed RSS and summed PSS), and so is each
job's (its processes' summed PSS, by script name): Snakemake samples a job every 30 s after its
first 30 s and can miss a short peak; the table's per-stage PSS is the larger of the two. The scaling
exponent b of time = a * cells^b is fitted per stage between the sizes given. Each size's figures are
kept in ``<out>/region-<N>M/figures.json`` (``--reuse`` reads them instead of rerunning that size,
so a curve can be assembled from runs made one at a time) and its jobs' start and end, from the
benchmark files, in ``<out>/region-<N>M/timeline.md`` (the critical path). The table is also written to
``<out>/curve.md``.

Usage::

    .venv/bin/python benchmarks/run_all.py                # 1 and 4 M cells (about 10 minutes)
    .venv/bin/python benchmarks/run_all.py --sizes 1 4 16 # adds the 16 M-cell region
    .venv/bin/python benchmarks/run_all.py --sizes 1 4 16 --reuse  # table from the sizes already run
    .venv/bin/python benchmarks/run_all.py --sizes 4 --baseline c2d7bd4  # side by side with that commit

``--baseline REF`` checks the commit ``REF`` out in a git worktree (``<out>/baseline-<sha>``) and, for
each size, runs that commit's workflow on the same generated region (its own Snakefile, config and
library: ``PYTHONPATH`` puts the worktree's ``src`` before the installed package) right before the
current one, so both runs see the same machine conditions. The table then gives, per stage, the
baseline's seconds, the current seconds, their ratio (baseline / current: above 1 is a speed-up) and the
target with met/missed. Baseline figures are kept in ``<out>/region-<N>M-baseline-<sha>/figures.json``.

Before the timed runs each checkout (the baseline worktree and this one) runs its workflow once on a
small warm-up region (``--warmup``, 0.25 M cells; ``<out>/warm-up``), untimed, so that the compiled
kernels it calls are in its numba cache: a fresh baseline worktree otherwise compiles them inside
its timed run (measured at 4.1 M cells: the interventions' first evaluation 17.3 instead of 23.7
candidates per second, because each forked worker compiles its own; the first connectivity and
barrier jobs 5-10 s each), which made the baseline look slower than it is.

Each checkout's workflow compiles into a numba cache of its own, ``<out>/numba-cache/<digest>``,
named by the SHA-256 of its library's sources (``NUMBA_CACHE_DIR``), not into the ``__pycache__``
beside the sources. numba keys a cached kernel on its own file only: a kernel that inlined a helper
from another file keeps the helper's old code after that file is edited. A benchmark of an edited
checkout ran such stale kernels once (round 18's review: a helper's edit, measured as "the same
speed", left every fresh install's searches 1.5x slower); a cache named by the sources cannot be stale.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_region  # noqa: E402

#: The temporary copy Snakemake runs of a rule's ``script:`` (``.snakemake/scripts/tmpXXXX.<script>.py``)
_JOB_SCRIPT = re.compile(r"\.snakemake/scripts/tmp[^/.]+\.(\w+)\.py$")


def job_script(cmdlines: list[list[str]]) -> str | None:
    """The script name (``scripts/<name>.py``, the rule's adapter) of a job's processes, if any."""
    for cmd in cmdlines:
        for arg in cmd:
            m = _JOB_SCRIPT.search(arg)
            if m:
                return m.group(1)
    return None


class _PeakMemory(threading.Thread):
    """Samples the memory of a process and all its descendants every ``interval`` seconds.

    ``rss_mb`` is the peak of the summed resident sets (counts pages shared by forked workers once per
    process, an upper bound); ``pss_mb`` the peak of the summed proportional set sizes (shared pages
    split between their users: the physical memory the run occupied). ``job_pss_mb`` is the peak
    summed PSS of one job's processes (a child of Snakemake and its descendants), per script name:
    Snakemake's own benchmark samples a job every 30 s after its first 30 s and misses short peaks.
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.rss_mb = self.pss_mb = 0.0
        self.job_pss_mb: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                jobs = root.children()
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            pss_of: dict[int, int] = {}  # each process's PSS, read once per sample (smaps is costly)
            rss = 0
            for p in procs:
                try:
                    mi = p.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += mi.rss
                pss_of[p.pid] = getattr(mi, "pss", mi.rss)
            self.rss_mb = max(self.rss_mb, rss / 2**20)
            self.pss_mb = max(self.pss_mb, sum(pss_of.values()) / 2**20)
            for job in jobs:
                self._sample_job(job, pss_of)
            self._halt.wait(self.interval)

    def _sample_job(self, job: Any, pss_of: dict[int, int]) -> None:
        """Add one job's sample (``job``: a ``psutil.Process``, child of Snakemake; ``pss_of``: this
        sample's PSS per process id) to ``job_pss_mb``."""
        import psutil

        try:
            tree = [job, *job.children(recursive=True)]
            cmds = [p.cmdline() for p in tree]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        pss = sum(pss_of.get(p.pid, 0) for p in tree)
        name = job_script(cmds)
        if name is not None:
            self.job_pss_mb[name] = max(self.job_pss_mb.get(name, 0.0), pss / 2**20)

    def stop(self) -> None:
        self._halt.set()
        self.join()


#: Targets per size (million cells): stage -> seconds; ``peak PSS MB`` for the whole run's memory.
TARGETS: dict[float, dict[str, float]] = {
    4: {"(whole workflow, wall)": 300, "landcover": 10, "connectivity": 60, "barriers": 45, "interventions": 120,
        "report": 15, "peak PSS MB": 2048},
    16: {"(whole workflow, wall)": 900, "peak PSS MB": 6144},
}
WHOLE = "(whole workflow, wall)"


def baseline_worktree(ref: str, out: Path) -> tuple[str, Path]:
    """Check ``ref`` out in a detached git worktree under ``out`` (reused when present); its sha and root."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=7", f"{ref}^{{commit}}"], check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = out / f"baseline-{sha}"
    if not (tree / "workflow" / "Snakefile").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(tree), sha],
                       check=True, capture_output=True, text=True)
    return sha, tree


def workflow_env(root: Path, base: dict[str, str] | None = None, numba_cache: Path | None = None) -> dict[str, str]:
    """The environment of a workflow run from checkout ``root``: its ``src`` comes first on
    ``PYTHONPATH``, before the installed (editable) package, so a baseline worktree runs its own
    library, and so does this script when it runs from a worktree of the current commit (the
    editable install may point at another checkout that is being edited meanwhile). With
    ``numba_cache``, the compiled kernels are cached there (``NUMBA_CACHE_DIR``)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(root) / "src"), env.get("PYTHONPATH", "")) if p)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    return env


def numba_cache_dir(root: Path, cache_root: Path) -> Path:
    """``cache_root / <digest>``: the numba cache of checkout ``root``'s library, named by the SHA-256
    of its ``src/werkland`` Python files (paths and contents), so any edit compiles afresh."""
    h = hashlib.sha256()
    src = Path(root) / "src" / "werkland"
    for f in sorted(src.rglob("*.py")):
        h.update(f.relative_to(src).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return Path(cache_root) / h.hexdigest()[:16]


def run_size(mcells: float, out: Path, cores: int, root: Path = ROOT, tag: str = "",
             cache_root: Path | None = None) -> dict[str, dict[str, float]]:
    """Generate a region of ``mcells`` million cells and run the workflow; return per-rule figures.

    ``root`` is the checkout whose Snakefile, config and library run (a baseline worktree or this one);
    ``tag`` names its work directory (``region-<N>M<tag>``). The generated region is the same for every
    ``root`` (fixed seed). Its kernels are cached under ``cache_root`` (default ``<out>/numba-cache``;
    :func:`numba_cache_dir`).
    """
    side_km = math.sqrt(mcells) * 10.0  # 10 m cells: 1 M cells = 10 km x 10 km
    work = out / f"region-{mcells:g}M{tag}"
    gen = make_region(work / "input", size_km=side_km, n_polygons=int(10000 * mcells), seed=7)
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    cfg["regions"] = {
        "bench": {
            "land_cover": [{"type": "vector", "path": str(gen["landcover"]), "class_field": "class"}],
            "parks": {"file": str(gen["parks"]), "id_field": "park_id"},
            "context_buffer_m": side_km * 1000 / 8 * 0.9,
            "clip_lonlat": None,
            "species_source": "none",
        }
    }
    for sub in ("config",):
        target = work / sub
        if not target.exists():
            subprocess.run(["cp", "-r", str(root / sub), str(target)], check=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.perf_counter()
    started = time.time()
    env = workflow_env(root, numba_cache=numba_cache_dir(root, cache_root or out / "numba-cache"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("snakemake")), "-s", str(root / "workflow" / "Snakefile"), "-d", str(work),
         "--cores", str(cores), "--forceall", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    peak = _PeakMemory(proc.pid)
    peak.start()
    _, stderr = proc.communicate()
    peak.stop()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workflow failed on {mcells} M cells:\n{stderr[-4000:]}")
    rules: dict[str, dict[str, float]] = defaultdict(lambda: {"s": 0.0, "max_rss_mb": 0.0, "jobs": 0})
    bench = benchmark_rows(work / "results" / "benchmarks")
    for tsv, row in bench:
        r = rules[tsv.parent.name]
        r["s"] += float(row["s"])
        rss, pss = row.get("max_rss", "NA"), row.get("max_pss", "NA")
        r["max_rss_mb"] = max(r["max_rss_mb"], float(rss) if rss not in ("NA", "-") else 0.0)
        r["max_pss_mb"] = max(r.get("max_pss_mb", 0.0), float(pss) if pss not in ("NA", "-") else 0.0)
        r["jobs"] += 1
    for name, mb in peak.job_pss_mb.items():
        if name in rules:
            rules[name]["job_pss_mb"] = mb
    rules["(whole workflow, wall)"] = {"s": wall, "max_rss_mb": peak.rss_mb, "max_pss_mb": peak.pss_mb, "jobs": 0}
    import rasterio

    with rasterio.open(work / "results" / "bench" / "landcover.tif") as ds:
        rules["(whole workflow, wall)"]["cells"] = ds.width * ds.height
    figures = {k: dict(v) for k, v in rules.items()}
    (work / "figures.json").write_text(json.dumps(figures, indent=1))
    jobs = job_timeline(bench, started)
    (work / "timeline.md").write_text("\n".join(timeline_table(jobs, wall)) + "\n")
    return figures


def warm_up(baselines: list[tuple[str, Path]], out: Path, cores: int, mcells: float, *, current: bool = True) -> None:
    """Run each baseline checkout's workflow, then this one's (``current``), once on a region of
    ``mcells`` million cells under ``<out>/warm-up``, untimed: each fills its own numba cache
    (``cache=True`` kernels compile on first call, in every forked worker that calls them first), so
    the timed runs that follow measure the code, not its compilation. ``baselines``: (tag, root) pairs."""
    for tag, root in [*baselines, *([("", ROOT)] if current else [])]:
        print(f"warm-up: {root} on {mcells:g} M cells", file=sys.stderr)
        run_size(mcells, out / "warm-up", cores, root=root, tag=tag, cache_root=out / "numba-cache")


def benchmark_rows(bench_dir: Path) -> list[tuple[Path, dict[str, str]]]:
    """Every benchmark file of a run (``<rule>/<job>.tsv``, one per job) with its row."""
    rows = []
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        with open(tsv, newline="") as fh:
            rows.append((tsv, next(csv.DictReader(fh, delimiter="\t"))))
    return rows


def job_timeline(bench: list[tuple[Path, dict[str, str]]], started: float) -> list[dict[str, Any]]:
    """Each job's start and end (s after the run started), from its benchmark file and row
    (:func:`benchmark_rows`).

    Snakemake writes a job's benchmark file when the job ends, so the file's modification time is
    the end and the file's ``s`` (the job's wall time) gives the start. Sorted by start.
    """
    jobs = []
    for tsv, row in bench:
        end = tsv.stat().st_mtime - started
        name = tsv.parent.name + ("" if tsv.stem in ("bench", tsv.parent.name) else f" {tsv.stem.removeprefix('bench_')}")
        jobs.append({"job": name, "start": end - float(row["s"]), "end": end, "s": float(row["s"])})
    return sorted(jobs, key=lambda j: (j["start"], j["job"]))


def timeline_table(jobs: list[dict[str, Any]], wall: float) -> list[str]:
    """The jobs' timeline as a Markdown table, with how many other jobs ran at each job's start and
    the sum of job seconds against the run's wall time (how far the run got from serial)."""
    lines = ["| job | start s | end s | s | other jobs running at its start |", "|---|---|---|---|---|"]
    for j in jobs:
        others = [o["job"] for o in jobs if o is not j and o["start"] <= j["start"] < o["end"]]
        lines.append(f"| {j['job']} | {j['start']:.1f} | {j['end']:.1f} | {j['s']:.1f} | {', '.join(others) or '-'} |")
    total = sum(j["s"] for j in jobs)
    lines += ["", f"sum of job seconds {total:.1f} s over {wall:.1f} s wall ({total / wall:.2f} jobs at a time on average)"
              if wall > 0 else ""]
    return lines


def _cell(fig: dict[str, dict[str, float]], st: str) -> str:
    """``seconds / peak RSS MB / peak PSS MB`` of a stage; the PSS is the larger of Snakemake's
    samples (every 0.5 s for a job's first 30 s, then every 30 s) and this script's (every second,
    ``job_pss_mb``): each sampling can miss a short peak the other sees."""
    if st not in fig:
        return "-"
    r = fig[st]
    return f"{r['s']:.1f} / {r['max_rss_mb']:.0f} / {max(r.get('job_pss_mb', 0), r.get('max_pss_mb', 0)):.0f}"


def exponents(results: dict[float, dict[str, dict[str, float]]], sizes: list[float], st: str) -> str:
    """Scaling exponent b of time = a * cells^b (least squares over the sizes), or ``-``."""
    secs = [results[s].get(st, {}).get("s") for s in sizes]
    if len(sizes) < 2 or not all(c and c > 0.05 for c in secs):
        return "-"
    x = [math.log(results[s].get(WHOLE, {}).get("cells") or s * 1e6) for s in sizes]
    y = [math.log(c) for c in secs]  # type: ignore[arg-type]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return f"{sum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True)) / sum((xi - mx) ** 2 for xi in x):.2f}"


def curve_table(results: dict[float, dict[str, dict[str, float]]], sizes: list[float]) -> list[str]:
    """Per stage and size: seconds / peak RSS / peak PSS, and the scaling exponent."""
    stages = sorted({r for res in results.values() for r in res})
    head = "| stage | " + " | ".join(f"{s:g} M cells: s / peak RSS MB / peak PSS MB" for s in sizes) + " | exponent |"
    lines = [head, "|" + "---|" * (len(sizes) + 2)]
    for st in stages:
        lines.append(f"| {st} | " + " | ".join(_cell(results[s], st) for s in sizes) + f" | {exponents(results, sizes, st)} |")
    cells = [results[s].get(WHOLE, {}).get("cells") for s in sizes]
    lines += ["", "cells: " + ", ".join(f"{s:g} M -> {c:,}" for s, c in zip(sizes, cells, strict=True) if c)]
    return lines


def _verdict(value: float | None, target: float | None) -> str:
    if target is None:
        return ""
    if value is None:
        return f"{target:g} (not run)"
    return f"{target:g} ({'met' if value <= target else 'missed'})"


def side_by_side(results: dict[float, dict[str, dict[str, float]]], base: dict[float, dict[str, dict[str, float]]],
                 sizes: list[float], sha: str) -> list[str]:
    """Per size and stage: baseline seconds, current seconds, ratio baseline/current, target (met/missed)."""
    lines = [f"| size | stage | baseline {sha} s | current s | speed-up (baseline / current) | target s |",
             "|---|---|---|---|---|---|"]
    for s in sizes:
        cur, old = results[s], base.get(s, {})
        targets = TARGETS.get(s, {})
        for st in sorted(set(cur) | set(old)):
            c, b = cur.get(st, {}).get("s"), old.get(st, {}).get("s")
            ratio = f"{b / c:.2f}x" if b and c else "-"
            lines.append(f"| {s:g} M | {st} | {'-' if b is None else f'{b:.1f}'} | {'-' if c is None else f'{c:.1f}'} "
                         f"| {ratio} | {_verdict(c, targets.get(st))} |")
        pc, pb = cur.get(WHOLE, {}).get("max_pss_mb"), old.get(WHOLE, {}).get("max_pss_mb")
        ratio = f"{pb / pc:.2f}x" if pb and pc else "-"
        lines.append(f"| {s:g} M | peak PSS MB (whole run) | {'-' if pb is None else f'{pb:.0f}'} | "
                     f"{'-' if pc is None else f'{pc:.0f}'} | {ratio} | {_verdict(pc, targets.get('peak PSS MB'))} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 4], help="region sizes in million cells")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--reuse", action="store_true", help="read a size's figures.json instead of rerunning it")
    ap.add_argument("--baseline", metavar="REF", help="also run this git commit's workflow on each size, side by side")
    ap.add_argument("--warmup", type=float, default=0.25, metavar="MCELLS",
                    help="size of the untimed warm-up run of each checkout, which fills its numba cache (0: none)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[float, dict[str, dict[str, float]]] = {}
    base: dict[float, dict[str, dict[str, float]]] = {}
    sha, tree = baseline_worktree(a.baseline, out) if a.baseline else ("", ROOT)

    def to_run(tag: str) -> bool:  # some size of this checkout is run (not read from its figures.json)
        return any(not (a.reuse and (out / f"region-{s:g}M{tag}" / "figures.json").exists()) for s in a.sizes)

    base_runs = bool(a.baseline) and to_run(f"-baseline-{sha}")
    if a.warmup > 0 and (base_runs or to_run("")):
        warm_up([(f"-baseline-{sha}", tree)] if base_runs else [], out, a.cores, a.warmup, current=to_run(""))
    for s in a.sizes:
        if a.baseline:
            saved = out / f"region-{s:g}M-baseline-{sha}" / "figures.json"
            base[s] = (json.loads(saved.read_text()) if a.reuse and saved.exists()
                       else run_size(s, out, a.cores, root=tree, tag=f"-baseline-{sha}"))
        saved = out / f"region-{s:g}M" / "figures.json"
        results[s] = json.loads(saved.read_text()) if a.reuse and saved.exists() else run_size(s, out, a.cores)
    lines = curve_table(results, a.sizes)
    if a.baseline:
        lines += ["", f"Side by side with {a.baseline} ({sha}), each size run right after its baseline:", "",
                  *side_by_side(results, base, a.sizes, sha)]
    print("\n".join(lines))
    (out / "curve.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
