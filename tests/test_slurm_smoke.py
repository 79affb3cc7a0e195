"""Prove the SLURM execution path: run tests/slurm_smoke/Snakefile with
``snakemake --executor slurm --profile workflow/profiles/slurm`` on a real cluster.

Needs a running cluster, e.g. the one-node localhost cluster from
``.ci/slurm/start_slurm.sh`` (root). Skipped with the reason when ``sinfo`` is missing
or no node is up; set ``WERKLAND_REQUIRE_SLURM=1`` (CI does, after the cluster
started) to turn those skips into failures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "tests" / "slurm_smoke" / "Snakefile"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
REGIONS = ("alpha", "beta")
DETERMINISTIC = ("numbers.txt", "total.txt")
RUN_TIMEOUT_S = 900


def _unavailable_reason() -> str | None:
    """Why the SLURM smoke test cannot run here, or None when it can."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed in this Python environment"
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (no sinfo/sbatch); run .ci/slurm/start_slurm.sh as root"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-p", "debug", "-o", "%T"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering"
    if proc.returncode != 0:
        return f"SLURM cluster is not up: sinfo failed: {proc.stderr.strip()}"
    states = {s.strip().rstrip("*~#$@^-") for s in proc.stdout.split()}
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return (
            "SLURM cluster is not up: no usable node in partition 'debug' "
            f"(states: {sorted(states) or 'none'}); run .ci/slurm/start_slurm.sh"
        )
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = _unavailable_reason()
    if reason is not None:
        if os.environ.get("WERKLAND_REQUIRE_SLURM") == "1":
            pytest.fail(f"WERKLAND_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


def _clean_env() -> dict[str, str]:
    # If pytest itself runs inside a SLURM allocation, do not leak its job variables
    # into the submitting Snakemake (the plugin warns and strips them anyway).
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "-d",
        str(workdir),
        *args,
    ]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n"
        f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    )
    return proc


def _run_slurm(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _snakemake(workdir, "--executor", "slurm", "--profile", str(PROFILE), "-j", "2", *args)


def _where(workdir: Path, region: str, rule: str) -> dict:
    return json.loads((workdir / region / f"{rule}.where.json").read_text())


def _squeue_states(job_ids: set[str]) -> dict[str, str]:
    """Final states of finished jobs as slurmctld still knows them (MinJobAge=3600)."""
    proc = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%T", "-j", ",".join(sorted(job_ids))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(line.split("|", 1) for line in proc.stdout.split())


def test_slurm_run_equals_local_run(slurm_cluster, tmp_path: Path) -> None:
    local, slurm = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    slurm.mkdir()
    _snakemake(local, "--executor", "local", "-c", "2")
    _run_slurm(slurm)

    for region in REGIONS:
        for name in DETERMINISTIC:
            assert (slurm / region / name).read_bytes() == (local / region / name).read_bytes()

    # every job ran inside its own SLURM job on partition `debug`
    job_ids = set()
    for region in REGIONS:
        for rule in ("numbers", "total"):
            where = _where(slurm, region, rule)
            assert where["slurm_job_id"], f"{region}/{rule} did not run inside a SLURM job"
            assert where["slurm_job_partition"] == "debug"
            job_ids.add(where["slurm_job_id"])
    assert len(job_ids) == 2 * len(REGIONS)
    # ... submitted with sbatch by the plugin, and finished cleanly
    assert set(_squeue_states(job_ids).values()) == {"COMPLETED"}
    assert list((slurm / ".snakemake" / "slurm_logs").rglob("*.log"))


def test_grouped_region_chain_is_one_job_and_gbif_api_caps(slurm_cluster, tmp_path: Path) -> None:
    workdir = tmp_path / "grouped"
    workdir.mkdir()
    _run_slurm(
        workdir,
        "--groups",
        "numbers=region",
        "total=region",
        # a cap of one GBIF call at a time: the two regions must not overlap in `numbers`
        "--resources",
        "gbif_api=1",
        "--config",
        "hold_seconds=3",
    )

    job_of_region = {}
    for region in REGIONS:
        numbers, total = _where(workdir, region, "numbers"), _where(workdir, region, "total")
        assert numbers["slurm_job_id"], f"{region} did not run inside a SLURM job"
        # one region's chain = one SLURM job
        assert numbers["slurm_job_id"] == total["slurm_job_id"]
        job_of_region[region] = numbers
    assert len({w["slurm_job_id"] for w in job_of_region.values()}) == len(REGIONS)
    assert set(_squeue_states({w["slurm_job_id"] for w in job_of_region.values()}).values()) == {
        "COMPLETED"
    }

    # gbif_api=1: the `numbers` bodies (each holding the slot 3 s) ran one after another
    a, b = sorted(job_of_region.values(), key=lambda w: w["t_start"])
    assert a["t_end"] <= b["t_start"], f"gbif_api cap not respected: {a} overlaps {b}"
