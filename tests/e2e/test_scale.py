"""Scale: thousands of regions from one table (dry run), and the one-job-per-region pipeline."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
import rasterio

from .workflow_runner import base_config, make_workdir, run_workflow

pytestmark = pytest.mark.slow


def _regions_table(path, n):
    with open(path, "w") as fh:
        fh.write("region\tland_cover\tclip_lonlat\n")
        for i in range(n):
            fh.write(f"park-{i:04d}\tresources/demo/test.osm.pbf\t26.93,60.52,26.97,60.54\n")


def test_dry_run_of_4000_regions(tmp_path):
    cfg = base_config()
    cfg["execution"] = "pipeline"
    cfg["regions"] = {}
    cfg["regions_table"] = "config/regions_4000.tsv"
    work = make_workdir(tmp_path, cfg)
    _regions_table(work / "config" / "regions_4000.tsv", 4000)
    t0 = time.perf_counter()
    proc = run_workflow(work, "--dry-run")
    elapsed = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert jobs.get("region_pipeline") == "4000", out[-2000:]
    assert jobs.get("overview") == "1"
    assert not (work / "results").exists()  # a dry run writes nothing
    print(f"dry run of 4000 regions: {elapsed:.1f} s")  # timed in benchmarks/bench_scale.py


def test_pipeline_mode_writes_the_same_files_as_stage_mode(tmp_path):
    """One job per region gives the files the per-stage rules give (same functions, same params)."""
    outs = {}
    for mode in ("stages", "pipeline"):
        cfg = base_config()
        cfg["execution"] = mode
        work = make_workdir(tmp_path / mode, cfg)
        run_workflow(work)
        outs[mode] = work / "results" / "demo"
    done = json.loads((outs["pipeline"] / "pipeline.json").read_text())
    assert done["region"] == "demo" and "landcover" in done["stages"] and "seconds" not in json.dumps(done)
    assert all((outs["pipeline"] / rel).is_file() for rel in done["outputs"])
    timings = outs["pipeline"].parents[1] / "results" / "benchmarks" / "region_pipeline" / "demo_stages.json"
    assert json.loads(timings.read_text())["stage_seconds"]["landcover"] >= 0
    # the data files are the same bytes in both modes (the report states the run's config, so differs)
    for path in sorted(outs["stages"].rglob("*")):
        rel = path.relative_to(outs["stages"])
        if path.is_file() and path.suffix in (".tif", ".gpkg", ".csv", ".graphml") and rel.parts[0] != "report":
            assert path.read_bytes() == (outs["pipeline"] / rel).read_bytes(), str(rel)
    compared = 0
    for tif in sorted(outs["stages"].rglob("*.tif")):
        rel = tif.relative_to(outs["stages"])
        with rasterio.open(tif) as a, rasterio.open(outs["pipeline"] / rel) as b:
            assert a.crs == b.crs and a.transform == b.transform
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=str(rel))
        compared += 1
    for csv in sorted(outs["stages"].rglob("*.csv")):
        rel = csv.relative_to(outs["stages"])
        pd.testing.assert_frame_equal(pd.read_csv(csv), pd.read_csv(outs["pipeline"] / rel), obj=str(rel))
        compared += 1
    assert compared >= 20
