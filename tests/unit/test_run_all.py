"""The benchmark driver's side-by-side table, exponents and baseline checkout (no workflow run)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _fig(whole: float, pss: float, cells: int, **stages: float) -> dict:
    out = {k: {"s": v, "max_rss_mb": 1.0, "max_pss_mb": 1.0, "jobs": 1} for k, v in stages.items()}
    out["(whole workflow, wall)"] = {"s": whole, "max_rss_mb": pss * 2, "max_pss_mb": pss, "jobs": 0, "cells": cells}
    return out


def test_side_by_side_ratios_and_targets(run_all):
    base = {4: _fig(600.0, 2100.0, 4_000_000, landcover=20.0, report=30.0, interventions_after=70.0)}
    cur = {4: _fig(400.0, 1900.0, 4_000_000, landcover=8.0, report=30.0)}
    rows = run_all.side_by_side(cur, base, [4], "abc1234")
    text = "\n".join(rows)
    assert "baseline abc1234 s" in rows[0]
    land = next(r for r in rows if "| landcover |" in r)
    assert "| 20.0 | 8.0 | 2.50x | 10 (met) |" in land
    rep = next(r for r in rows if "| report |" in r)
    assert "| 30.0 | 30.0 | 1.00x | 15 (missed) |" in rep
    whole = next(r for r in rows if "(whole workflow, wall)" in r)
    assert "| 600.0 | 400.0 | 1.50x | 300 (missed) |" in whole
    # a stage only the baseline has: no ratio, no current figure
    gone = next(r for r in rows if "interventions_after" in r)
    assert "| 70.0 | - | - |" in gone
    pss = next(r for r in rows if "peak PSS MB" in r)
    assert "| 2100 | 1900 | 1.11x | 2048 (met) |" in pss
    assert "16 M" not in text


def test_exponent_recovers_power_law(run_all):
    sizes = [1, 4, 16]
    res = {s: _fig(100.0 * s ** 1.3, 1.0, int(s * 1e6), barriers=5.0 * s ** 0.8) for s in sizes}
    assert run_all.exponents(res, sizes, "(whole workflow, wall)") == "1.30"
    assert run_all.exponents(res, sizes, "barriers") == "0.80"
    assert run_all.exponents(res, [4], "barriers") == "-"


def test_baseline_env_puts_its_library_first(run_all, tmp_path):
    env = run_all.workflow_env(tmp_path, {"PYTHONPATH": "/x"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "src"), "/x"]
    assert run_all.workflow_env(ROOT, {})["PYTHONPATH"] == str(ROOT / "src")


def test_numba_cache_is_named_by_the_library_sources(run_all, tmp_path):
    """An edit anywhere in the library (a helper another file's kernels inline) gives a new cache
    directory, so no benchmark runs kernels compiled from older sources."""
    pkg = tmp_path / "src" / "werkland" / "_kernels"
    pkg.mkdir(parents=True)
    (pkg / "heap.py").write_text("x = 1\n")
    (pkg / "grid_search.py").write_text("y = 2\n")
    first = run_all.numba_cache_dir(tmp_path, tmp_path / "cache")
    assert first.parent == tmp_path / "cache"
    assert run_all.numba_cache_dir(tmp_path, tmp_path / "cache") == first
    (pkg / "heap.py").write_text("x = 2\n")
    assert run_all.numba_cache_dir(tmp_path, tmp_path / "cache") != first
    env = run_all.workflow_env(tmp_path, {}, numba_cache=first)
    assert env["NUMBA_CACHE_DIR"] == str(first)
    assert "NUMBA_CACHE_DIR" not in run_all.workflow_env(tmp_path, {})


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the project's git checkout (a clean clone has it)")
def test_baseline_worktree_checks_out_the_commit(run_all, tmp_path):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    try:
        sha, tree = run_all.baseline_worktree("HEAD", tmp_path)
        assert sha == head
        assert (tree / "workflow" / "Snakefile").exists() and (tree / "src" / "werkland").is_dir()
        got = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        assert got == head
        # reused, not checked out twice
        assert run_all.baseline_worktree("HEAD", tmp_path) == (sha, tree)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp_path / f"baseline-{head}")],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


def test_job_script_names_and_the_per_job_peak_in_the_table(run_all):
    """A job is named by the temporary copy Snakemake runs of its script; the table shows the larger
    of the peak PSS sampled every second and Snakemake's."""
    assert run_all.job_script([["/bin/bash", "-c", "set -euo pipefail; python x"],
                               ["/venv/bin/python", "/w/.snakemake/scripts/tmp7sq_88vf.interventions.py"]]) == "interventions"
    assert run_all.job_script([["python", "/w/.snakemake/scripts/tmpab12.species_evidence.py"]]) == "species_evidence"
    assert run_all.job_script([["python", "-m", "snakemake"], ["python", "scripts/report.py"]]) is None
    fig = _fig(100.0, 500.0, 1_000_000, connectivity=10.0, barriers=5.0)
    fig["connectivity"]["job_pss_mb"] = 4852.0
    assert run_all._cell(fig, "connectivity") == "10.0 / 1 / 4852"
    assert run_all._cell(fig, "barriers") == "5.0 / 1 / 1"
    fig["barriers"].update(max_pss_mb=563.0, job_pss_mb=500.0)  # a peak only Snakemake's 0.5 s samples saw
    assert run_all._cell(fig, "barriers") == "5.0 / 1 / 563"


def test_job_timeline_from_benchmark_files(run_all, tmp_path):
    """Each job's end is its benchmark file's time, its start that minus its seconds; the table
    lists the jobs by start with the ones running alongside."""
    started = 1_000_000.0
    head = "s\th:m:s\tmax_rss\n"
    for rel, secs, end in [("landcover/bench.tsv", 10.0, 10.0), ("connectivity/bench_woodland_birds.tsv", 70.0, 90.0),
                           ("connectivity/bench_hedgehog.tsv", 25.0, 40.0), ("interventions/bench.tsv", 100.0, 195.0)]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(head + f"{secs}\t0:00:{secs:.0f}\t100\n")
        os.utime(f, (started + end, started + end))
    jobs = run_all.job_timeline(run_all.benchmark_rows(tmp_path), started)
    assert [j["job"] for j in jobs] == ["landcover", "connectivity hedgehog", "connectivity woodland_birds",
                                        "interventions"]
    assert [round(j["start"], 6) for j in jobs] == [0.0, 15.0, 20.0, 95.0]
    rows = run_all.timeline_table(jobs, 102.5)
    assert rows[4] == "| connectivity woodland_birds | 20.0 | 90.0 | 70.0 | connectivity hedgehog |"
    assert rows[2].endswith("| - |") and "205.0 s over 102.5 s wall (2.00 jobs at a time" in rows[-1]


def test_each_checkout_warms_its_kernels_before_the_timed_runs(run_all, tmp_path, monkeypatch):
    """The baseline worktree and this checkout each run once on the small warm-up region, untimed and
    before any timed run; ``--warmup 0`` skips it, and a checkout whose figures are all read from
    saved files (``--reuse``) is not warmed."""
    calls, caches = [], []

    def fake_run_size(mcells, out, cores, root=run_all.ROOT, tag="", cache_root=None):
        calls.append((mcells, out.name, root.name, tag))
        caches.append(cache_root or out / "numba-cache")
        return _fig(1.0, 1.0, 1, landcover=1.0)

    monkeypatch.setattr(run_all, "run_size", fake_run_size)
    monkeypatch.setattr(run_all, "baseline_worktree", lambda ref, out: ("abc1234", tmp_path / "baseline-abc1234"))
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--sizes", "4", "--baseline", "HEAD", "--out", str(out)])
    run_all.main()
    assert calls == [(0.25, "warm-up", "baseline-abc1234", "-baseline-abc1234"), (0.25, "warm-up", run_all.ROOT.name, ""),
                     (4.0, "out", "baseline-abc1234", "-baseline-abc1234"), (4.0, "out", run_all.ROOT.name, "")]
    assert caches == [out / "numba-cache"] * 4  # the warm-up fills the caches the timed runs use
    calls.clear()
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--sizes", "4", "--warmup", "0", "--out", str(out)])
    run_all.main()
    assert calls == [(4.0, "out", run_all.ROOT.name, "")]
    calls.clear()
    saved = out / "region-4M"
    saved.mkdir(parents=True)
    (saved / "figures.json").write_text(json.dumps(_fig(1.0, 1.0, 1, landcover=1.0)))
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--sizes", "4", "--reuse", "--out", str(out)])
    run_all.main()
    assert calls == []
    # the current figures saved, the baseline's not: only the baseline warms up and runs
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--sizes", "4", "--reuse", "--baseline", "HEAD", "--out", str(out)])
    run_all.main()
    assert calls == [(0.25, "warm-up", "baseline-abc1234", "-baseline-abc1234"), (4.0, "out", "baseline-abc1234", "-baseline-abc1234")]
