"""The REAL werkland workflow on a SLURM cluster equals a local run.

Two small regions of the demo extract (pyrosm's test.osm.pbf), each clipped to a box with one
industrial park, run twice in separate work directories:

* locally: ``snakemake --cores 2`` (the default workflow profile);
* on SLURM: ``snakemake --executor slurm --workflow-profile workflow/profiles/slurm``.

Every output under ``results/`` is then compared: GeoTIFFs (array, nodata, CRS, transform),
CSVs, JSON files (after dropping timing/timestamp keys), GeoPackages (every layer: attributes
and geometries) and the byte-deterministic files (QGIS styles, GraphML, PNG figures, text).
The test also proves the SLURM run went through ``sbatch`` (Snakemake's log, ``squeue
--states=all``, the jobcomp log, the per-job SLURM logs) and that each region's main chain ran
as ONE SLURM job (the rules' ``group: region_{region}``).

Needs a running cluster (``.ci/slurm/start_slurm.sh``, root); skipped with the reason
otherwise, and ``WERKLAND_REQUIRE_SLURM=1`` turns the skip into a failure. About 2 minutes
on 2 cores (the two runs go side by side: local ~70 s, SLURM ~105 s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio

from ..e2e.workflow_runner import ROOT, base_config, make_workdir
from ..test_slurm_smoke import _unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SNAKEFILE = ROOT / "workflow" / "Snakefile"
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"
JOBCOMP_LOG = Path("/var/log/slurm/job_completions.log")
RUN_TIMEOUT_S = 900

DEMO_PBF = "resources/demo/test.osm.pbf"  # written into the work dir by the demo_data rule
# Two boxes inside lon 26.93-26.97, lat 60.52-60.54 of the demo extract, each holding one OSM
# industrial park >= 1 ha: osm413379433 (6.8 ha) and osm369849821 (2.0 ha).
REGION_BOXES = {
    "north": [26.935, 60.532, 26.953, 60.540],
    "south": [26.948, 60.520, 26.962, 60.527],
}
# Rules of a region that must share ONE SLURM job (group region_{region}, not needing species);
# a rule of this set missing from the workflow is simply not checked.
GROUPED_CHAIN = {
    "landcover",
    "habitat",
    "connectivity",
    "climate",
    "barriers",
    "barriers_combine",
    "interventions",
}
# Snakemake rules that run on the submit host (localrule: True) or are the target rule.
LOCAL_RULES = {"demo_data", "overview", "all"}

# ------------------------------------------------------------------------------ comparison
# Keys (JSON) and columns (CSV, GeoPackage) that hold run times or wall-clock stamps.
_VOLATILE = re.compile(
    r"^(timings?|timing_s|timestamps?|generated|generated_at|generated_utc|created|created_at"
    r"|access_date|elapsed_s|duration_s|wall_s|run_time_s)$"
    r"|(^|_)(timing|timestamp)(_|$)",
    re.IGNORECASE,
)
# Files compared byte for byte (deterministic text or images).
_BYTE_EXACT = {".qml", ".graphml", ".png", ".txt"}
# Not compared, with the reason (kept explicit so a new output type is a decision, not a gap).
_SKIPPED_DIRS = {
    "results/benchmarks": "Snakemake benchmark timings",
    "results/logs": "log files (timings, host names, pids)",
}
_SKIPPED_SUFFIXES = {
    ".html": "report pages: folium's random element ids, the generation time and the sha256 of "
    "GeoPackages (which embed write timestamps); their data come from the compared files",
    ".pdf": "the region summary printed by Chromium: it shows the report's generation time (the "
    "newest input's modification time, which differs between the two work directories) inside "
    "compressed page streams; its figures come from the compared files",
}


def _is_volatile(key: Any) -> bool:
    return isinstance(key, str) and bool(_VOLATILE.search(key))


def _strip_volatile(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_volatile(v) for k, v in obj.items() if not _is_volatile(k)}
    if isinstance(obj, list):
        return [_strip_volatile(v) for v in obj]
    return obj


def _first_json_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path or '/'}: keys differ: {sorted(set(a) ^ set(b))}"
        for k in sorted(a):
            diff = _first_json_difference(a[k], b[k], f"{path}/{k}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: list lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = _first_json_difference(x, y, f"{path}/{i}")
            if diff:
                return diff
        return None
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN == NaN here
    return None if same else f"{path}: {a!r} != {b!r}"


def _compare_tif(a: Path, b: Path) -> str | None:
    with rasterio.open(a) as da, rasterio.open(b) as db:
        for attr in ("count", "width", "height", "dtypes", "crs", "transform"):
            if getattr(da, attr) != getattr(db, attr):
                return f"{attr}: {getattr(da, attr)} != {getattr(db, attr)}"
        na, nb = da.nodata, db.nodata
        if not (na == nb or (na is not None and nb is not None and np.isnan(na) and np.isnan(nb))):
            return f"nodata: {na} != {nb}"
        xa, xb = da.read(), db.read()
    if xa.shape != xb.shape:
        return f"array shape: {xa.shape} != {xb.shape}"
    same = xa == xb
    if np.issubdtype(xa.dtype, np.floating):
        same |= np.isnan(xa) & np.isnan(xb)
    if not same.all():
        return f"array: {int((~same).sum())} of {xa.size} cells differ"
    return None


def _drop_volatile(df: pd.DataFrame) -> pd.DataFrame:
    """Drop timing/timestamp columns, and the rows of key/value tables whose key is one."""
    df = df[[c for c in df.columns if not _is_volatile(c)]]
    if "key" in df.columns:
        df = df[~df["key"].map(_is_volatile)].reset_index(drop=True)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    # as text: exact equality of what was written, no float parsing subtleties
    return _drop_volatile(pd.read_csv(path, dtype=str, keep_default_na=False))


def _compare_csv(a: Path, b: Path) -> str | None:
    try:
        pd.testing.assert_frame_equal(_read_csv(a), _read_csv(b), check_exact=True)
    except AssertionError as exc:
        return str(exc).strip()
    return None


def _compare_json(a: Path, b: Path) -> str | None:
    ja = _strip_volatile(json.loads(a.read_text()))
    jb = _strip_volatile(json.loads(b.read_text()))
    return _first_json_difference(ja, jb)


def _compare_gpkg(a: Path, b: Path) -> str | None:
    layers_a = [str(name) for name, _ in pyogrio.list_layers(a)]
    layers_b = [str(name) for name, _ in pyogrio.list_layers(b)]
    if layers_a != layers_b:
        return f"layers: {layers_a} != {layers_b}"
    for layer in layers_a:
        da = _drop_volatile(pyogrio.read_dataframe(a, layer=layer))
        db = _drop_volatile(pyogrio.read_dataframe(b, layer=layer))
        geom_a = da.geometry if "geometry" in da.columns else None
        geom_b = db.geometry if "geometry" in db.columns else None
        if (geom_a is None) != (geom_b is None):
            return f"layer {layer}: geometry column in one file only"
        attrs = [c for c in da.columns if c != "geometry"]
        attrs_b = [c for c in db.columns if c != "geometry"]
        if attrs != attrs_b:
            return f"layer {layer}: columns {attrs} != {attrs_b}"
        try:
            pd.testing.assert_frame_equal(
                pd.DataFrame(da[attrs]), pd.DataFrame(db[attrs]), check_exact=True
            )
        except AssertionError as exc:
            return f"layer {layer}: attributes differ: {str(exc).strip()}"
        if geom_a is not None:
            if geom_a.crs != geom_b.crs:
                return f"layer {layer}: CRS {geom_a.crs} != {geom_b.crs}"
            null_a, null_b = geom_a.isna().to_numpy(), geom_b.isna().to_numpy()
            if not np.array_equal(null_a, null_b):
                return f"layer {layer}: missing geometries differ"
            ok = geom_a[~null_a].geom_equals_exact(geom_b[~null_b], tolerance=1e-9, align=False)
            if not ok.all():
                return f"layer {layer}: {int((~ok).sum())} of {len(ok)} geometries differ"
    return None


# The report's generation time (SOURCE_DATE_EPOCH, else the newest input's modification time, so it
# differs between two work directories) is the workbook's created/modified stamp; every other part
# of the workbook must be equal byte for byte.
_XLSX_STAMP = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>")


def _compare_xlsx(a: Path, b: Path) -> str | None:
    import zipfile

    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        if za.namelist() != zb.namelist():
            return f"workbook parts: {za.namelist()} != {zb.namelist()}"
        for name in za.namelist():
            pa, pb = za.read(name), zb.read(name)
            if name == "docProps/core.xml":
                pa, pb = _XLSX_STAMP.sub(b"", pa), _XLSX_STAMP.sub(b"", pb)
            if pa != pb:
                return f"workbook part {name} differs"
    return None


_COMPARERS = {
    ".xlsx": _compare_xlsx,
    ".tif": _compare_tif,
    ".csv": _compare_csv,
    ".json": _compare_json,
    ".gpkg": _compare_gpkg,
}


def _compare_bytes(a: Path, b: Path) -> str | None:
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def _skip_reason(rel: str) -> str | None:
    for prefix, why in _SKIPPED_DIRS.items():
        if rel.startswith(prefix + "/"):
            return why
    return _SKIPPED_SUFFIXES.get(Path(rel).suffix)


def compare_results(a: Path, b: Path) -> dict[str, list[str]]:
    """Compare the files under ``a`` and ``b`` (two ``results/`` trees' parent work dirs).

    Returns ``{kind: [relative paths compared]}``; raises AssertionError listing every file that
    differs, is missing on one side, or has a suffix with no comparison rule.
    """

    def files(root: Path) -> set[str]:
        return {
            p.relative_to(root).as_posix() for p in (root / "results").rglob("*") if p.is_file()
        }

    fa, fb = files(a), files(b)
    problems = [f"only in {a}: {rel}" for rel in sorted(fa - fb)]
    problems += [f"only in {b}: {rel}" for rel in sorted(fb - fa)]
    compared: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(fa & fb):
        if _skip_reason(rel):
            continue
        suffix = Path(rel).suffix.lower()
        if suffix in _COMPARERS:
            kind, comparer = suffix[1:], _COMPARERS[suffix]
        elif suffix in _BYTE_EXACT:
            kind, comparer = "bytes", _compare_bytes
        else:
            problems.append(f"{rel}: no comparison rule for {suffix!r} (add one or a skip reason)")
            continue
        diff = comparer(a / rel, b / rel)
        if diff:
            problems.append(f"{rel}: {diff}")
        compared[kind].append(rel)
    if problems:
        raise AssertionError("outputs differ:\n  " + "\n  ".join(problems))
    return dict(compared)


# ------------------------------------------------------------------------------ running
@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = _unavailable_reason()
    if reason is not None:
        if os.environ.get("WERKLAND_REQUIRE_SLURM") == "1":
            pytest.fail(f"WERKLAND_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


def _config() -> dict[str, Any]:
    cfg = base_config()  # resolution_m 20, context_buffer_m 200, species_source none
    if "execution" in cfg:
        cfg["execution"] = "stages"  # one job per stage, grouped per region (checked below)
    demo = cfg["regions"]["demo"]
    cfg["regions"] = {
        region: {
            "land_cover": [{"type": "osm", "path": DEMO_PBF}],
            "parks": dict(demo["parks"]),  # industrial/commercial/retail, >= 10000 m2
            "clip_lonlat": box,
        }
        for region, box in REGION_BOXES.items()
    }
    return cfg


class _Run:
    """``snakemake -s workflow/Snakefile -d WORK ARGS`` started in the background."""

    def __init__(self, work: Path, *args: str) -> None:
        self.work = work
        self.cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(work), *args]
        # if pytest itself runs inside a SLURM allocation, do not leak its job variables
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.stdout = (work / "snakemake.stdout.txt").open("w")
        self.stderr = (work / "snakemake.stderr.txt").open("w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, cwd=work, env=env, stdout=self.stdout, stderr=self.stderr, text=True
        )

    def stop(self) -> None:
        """SIGTERM (Snakemake then cancels its SLURM jobs) and wait, if still running."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait(self) -> float:
        """Wait for the run; return its wall time in seconds, fail with its output if it failed."""
        try:
            rc = self.proc.wait(timeout=max(1.0, RUN_TIMEOUT_S - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = f"timeout after {RUN_TIMEOUT_S} s"
        elapsed = time.monotonic() - self.t0
        self.stdout.close()
        self.stderr.close()
        out = (self.work / "snakemake.stdout.txt").read_text()
        err = (self.work / "snakemake.stderr.txt").read_text()
        assert rc == 0, f"{' '.join(self.cmd)} failed ({rc}):\n{out[-3000:]}\n{err[-8000:]}"
        return elapsed


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory) -> dict[str, Any]:
    cfg = _config()
    local = make_workdir(tmp_path_factory.mktemp("local"), cfg)
    slurm = make_workdir(tmp_path_factory.mktemp("slurm"), cfg)
    jobcomp_before = JOBCOMP_LOG.stat().st_size if JOBCOMP_LOG.exists() else 0
    # Both runs at once: the SLURM run mostly waits for the queue and its status polls, so this
    # saves ~1 minute, and both read the same state of the workflow's code.
    on_slurm = _Run(
        slurm, "--executor", "slurm", "--workflow-profile", str(SLURM_PROFILE), "--cores", "2"
    )
    on_host = _Run(local, "--cores", "2")
    try:
        t_local = on_host.wait()
        t_slurm = on_slurm.wait()
    finally:
        on_host.stop()
        on_slurm.stop()
    print(f"\nlocal run {t_local:.0f} s, SLURM run {t_slurm:.0f} s (concurrently)")
    return {"local": local, "slurm": slurm, "jobcomp_before": jobcomp_before}


def _snakemake_log(work: Path) -> str:
    logs = sorted((work / ".snakemake" / "log").glob("*.snakemake.log"))
    assert logs, f"no Snakemake log under {work / '.snakemake' / 'log'}"
    return logs[-1].read_text()


_RULE_LINE = re.compile(r"^[ \t]*(localrule|rule) (\w+):$")
_WILDCARDS_LINE = re.compile(r"^[ \t]+wildcards: (.*)$")


def _job_blocks(log_text: str) -> list[tuple[str, str, str]]:
    """``(kind, rule, wildcards)`` of every job block (``rule X:`` / ``localrule X:``) in a log.

    In the submitting Snakemake's log, ``rule`` blocks are the jobs handed to the executor
    (group members included) and ``localrule`` blocks ran on the submit host; in a SLURM job's
    log the ``localrule`` blocks are the jobs its job step executed.
    """
    blocks: list[list[str]] = []
    for line in log_text.splitlines():
        head = _RULE_LINE.match(line)
        if head:
            blocks.append([head.group(1), head.group(2), ""])
            continue
        if blocks and not line[:1].isspace():
            blocks[-1].append("closed")
        elif blocks and len(blocks[-1]) == 3:
            wc = _WILDCARDS_LINE.match(line)
            if wc:
                blocks[-1][2] = wc.group(1).strip()
    return [(kind, rule, wc) for kind, rule, wc, *_ in blocks]


def _jobs_run_in(slurm_log: Path) -> set[tuple[str, str]]:
    """(rule, wildcards) of the Snakemake jobs that the SLURM job's job step executed."""
    return {(r, wc) for kind, r, wc in _job_blocks(slurm_log.read_text()) if kind == "localrule"}


def _region_of(wildcards: str) -> str:
    match = re.search(r"\bregion=([a-z0-9-]+)", wildcards)
    assert match, f"no region in wildcards {wildcards!r}"
    return match.group(1)


# ------------------------------------------------------------------------------ tests
def test_slurm_run_of_real_workflow_equals_local_run(runs) -> None:
    compared = compare_results(runs["local"], runs["slurm"])
    total = sum(len(v) for v in compared.values())
    print(
        f"compared {total} files: "
        + ", ".join(f"{k}={len(v)}" for k, v in sorted(compared.items()))
    )
    for kind, rels in sorted(compared.items()):
        print(f"  [{kind}] " + " ".join(rels))
    assert total >= 20, f"only {total} files compared: {compared}"
    for kind in ("tif", "csv", "json", "gpkg"):
        for region in REGION_BOXES:
            assert any(rel.startswith(f"results/{region}/") for rel in compared.get(kind, [])), (
                f"no .{kind} output of region {region} was compared"
            )


def test_comparison_detects_a_changed_raster(runs, tmp_path: Path) -> None:
    """The comparison can fail: a copy with one changed cell differs (outputs carry no timings)."""
    copy = tmp_path / "copy"
    shutil.copytree(runs["local"] / "results", copy / "results")
    summary = copy / "results" / "north" / "graph" / "hedgehog_summary.json"
    data = json.loads(summary.read_text())
    assert "timing_s" not in data  # wall-clock times go to the logs only
    compare_results(runs["local"], copy)
    # a changed cell of one raster is a difference
    tif = copy / "results" / "south" / "habitat" / "hedgehog.tif"
    # outputs are Cloud-Optimized GeoTIFFs (GDAL writes COGs once, no in-place update): rewrite it
    with rasterio.open(tif) as ds:
        profile = {**ds.profile, "driver": "GTiff"}
        band = ds.read(1)
    cells = np.argwhere(np.isfinite(band) & (band != profile["nodata"]))
    row, col = cells[len(cells) // 2]
    band[row, col] += 0.125
    tif.unlink()
    with rasterio.open(tif, "w", **profile) as ds:
        ds.write(band, 1)
    with pytest.raises(AssertionError, match=r"results/south/habitat/hedgehog\.tif: array: 1 of"):
        compare_results(runs["local"], copy)
    # ... and so is a changed value in a JSON file
    tif.unlink()
    shutil.copy(runs["local"] / "results" / "south" / "habitat" / "hedgehog.tif", tif)
    data["n_patches"] = data["n_patches"] + 1
    summary.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match=r"hedgehog_summary\.json: /n_patches"):
        compare_results(runs["local"], copy)


def test_slurm_run_went_through_sbatch_one_job_per_region_chain(runs) -> None:
    slurm = runs["slurm"]
    log = _snakemake_log(slurm)
    run_id = re.search(r"^SLURM run ID: ([0-9a-f-]{36})$", log, re.M)
    assert run_id, "Snakemake's log has no 'SLURM run ID' line: the slurm executor was not used"
    run_id = run_id.group(1)
    submitted = dict(re.findall(r"has been submitted with SLURM jobid (\d+) \(log: ([^)]*)\)", log))
    assert submitted, "Snakemake's log names no job submitted with a SLURM jobid"

    # slurmctld knows every submitted job, under the run's name, as COMPLETED on `debug`
    proc = subprocess.run(
        ["squeue", "--states=all", "-h", "--name", run_id, "-o", "%i|%T|%P"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    states = {i: (s, p) for i, s, p in (line.split("|") for line in proc.stdout.split())}
    assert set(submitted) <= set(states), f"squeue does not list {set(submitted) - set(states)}"
    assert {states[j] for j in submitted} == {("COMPLETED", "debug")}, states
    # ... and the jobcomp plugin recorded them (proof independent of squeue)
    if JOBCOMP_LOG.exists():
        with JOBCOMP_LOG.open() as fh:
            fh.seek(runs["jobcomp_before"])
            new = fh.read()
        recorded = set(re.findall(rf"JobId=(\d+) .*Name={run_id} JobState=COMPLETED", new))
        assert set(submitted) <= recorded, f"not in {JOBCOMP_LOG}: {set(submitted) - recorded}"

    # which Snakemake jobs each SLURM job executed (from the kept per-job SLURM logs)
    executed: dict[str, set[tuple[str, str]]] = {}
    for job_id, path in submitted.items():
        slurm_log = Path(path)
        assert slurm_log.is_file(), f"SLURM log {slurm_log} of job {job_id} is missing"
        executed[job_id] = _jobs_run_in(slurm_log)
        assert executed[job_id], f"SLURM job {job_id} ran no Snakemake job ({slurm_log})"

    jobs_of_region: dict[str, set[str]] = defaultdict(set)
    chain_jobs: dict[str, set[str]] = defaultdict(set)
    rules_on_slurm: dict[str, list[str]] = defaultdict(list)
    for job_id, jobs in executed.items():
        regions = {_region_of(wc) for _, wc in jobs}
        assert len(regions) == 1, f"SLURM job {job_id} mixes regions {regions}"
        region = regions.pop()
        jobs_of_region[region].add(job_id)
        for rule, _ in jobs:
            rules_on_slurm[region].append(rule)
            if rule in GROUPED_CHAIN:
                chain_jobs[region].add(job_id)

    # every job the submitting Snakemake handed to the executor ran in exactly one SLURM job
    blocks = _job_blocks(log)
    to_cluster = [(rule, wc) for kind, rule, wc in blocks if kind == "rule"]
    ran_on_slurm = [job for jobs in executed.values() for job in jobs]
    assert to_cluster and sorted(ran_on_slurm) == sorted(set(to_cluster)), (
        f"submitted: {sorted(set(to_cluster))}\nran in SLURM jobs: {sorted(ran_on_slurm)}"
    )
    summary = {}
    for region in REGION_BOXES:
        summary[region] = {
            job_id: sorted({rule for rule, _ in executed[job_id]})
            for job_id in sorted(jobs_of_region[region], key=int)
        }
        assert {"landcover", "species"} <= set(rules_on_slurm[region]), summary[region]
        # the grouped chain (landcover -> habitat -> connectivity/climate -> barriers) = one job
        assert len(chain_jobs[region]) == 1, (
            f"region {region}: its grouped chain was split over SLURM jobs {summary[region]}"
        )
        # chain + species (outside the group: global gbif_api cap) + what needs species
        # (species_evidence and report: group report_{region})
        assert len(jobs_of_region[region]) <= 3, summary[region]
    local_only = {rule for kind, rule, _ in blocks if kind == "localrule"}
    assert local_only <= LOCAL_RULES, f"rules run on the submit host: {local_only - LOCAL_RULES}"
    print("\nSLURM jobs per region: " + json.dumps(summary))
