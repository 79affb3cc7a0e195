"""Run the real Snakemake workflow on a small configuration in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def make_workdir(tmp_path: Path, config: dict[str, Any]) -> Path:
    """A working directory with the project's lookup tables and ``config`` as config/config.yaml."""
    work = tmp_path / "work"
    shutil.copytree(ROOT / "config", work / "config")
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return work


def run_workflow(work: Path, *args: str, check: bool = True, timeout: int = 1500) -> subprocess.CompletedProcess[str]:
    """``snakemake -s workflow/Snakefile -d work --cores 2 ARGS``."""
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work), "--cores", "2", *args]
    # a fixed SOURCE_DATE_EPOCH: the report states this date, so forced reruns are byte-identical
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "1767225600")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def base_config() -> dict[str, Any]:
    """The demo config, shrunk for speed (20 m cells, 200 m context)."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["region_defaults"]["resolution_m"] = 20
    cfg["region_defaults"]["context_buffer_m"] = 200
    cfg["region_defaults"]["species_source"] = "none"
    return cfg
