"""Circuitscape.jl's own regression fixtures, run through werkland's drop-in ``run_ini``.

Every ``.ini`` of ``../shared/data/circuitscape-jl-tests/test/input`` is a test case: supported ones
must reproduce ``output_verify``; unsupported ones are listed as skips with the reason. Resistances
match to 1e-6 relative. Maps match to 1e-5 relative plus 1e-6 of the map's largest value: the
reference maps were computed with conjugate gradients stopped at a relative residual of 1e-6, so
their near-zero cells carry absolute errors of that order, while werkland solves exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from werkland.currents import run_ini
from werkland.currents.csio import read_grid, read_table

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "circuitscape-jl-tests" / "test"
HAVE = (DATA / "input").is_dir()
NO_DATA = "needs ../shared/data/circuitscape-jl-tests (Circuitscape.jl's test fixtures) beside the project"

#: Fixture cases werkland does not run, and why (also listed in docs/methods.md).
UNSUPPORTED = {
    "mgNetworkVerify1": "network advanced mode (user source and ground files) is not implemented",
    "mgNetworkVerify2": "network advanced mode (user source and ground files) is not implemented",
    "mgNetworkVerify3": "network advanced mode (user source and ground files) is not implemented",
    "mgVerify1": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify2": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify3": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify4": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify5": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify6": "raster advanced mode (user source and ground maps) is not implemented",
    "ex_advanced": "raster advanced mode (user source and ground maps) is not implemented",
    "mgVerify7": "raster advanced mode with compress_grids = True is not implemented",
}

#: Reference files that contradict the case's own other outputs: not compared (reason).
INCONSISTENT = {
    ("allToOneVerify12", "allToOneVerify12_resistances.out"):
        "reference lists point 4 (sharing a short-circuit region with point 5) as not solved, yet its "
        "curmap_4 holds a solve",
    ("allToOneVerify12", "allToOneVerify12_cum_curmap.asc"):
        "reference cumulative map omits point 4's map that the reference itself wrote",
}


def _cases() -> list:
    if not HAVE:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_DATA), id="no-fixtures")]
    out = []
    for ini in sorted((DATA / "input").rglob("*.ini")):
        rel = ini.relative_to(DATA / "input").as_posix()
        marks = [pytest.mark.skip(reason=UNSUPPORTED[ini.stem])] if ini.stem in UNSUPPORTED else []
        out.append(pytest.param(ini, marks=marks, id=rel))
    return out


def _read(path: Path) -> np.ndarray:
    return read_grid(path)[0] if path.suffix == ".asc" else read_table(path)


def _close_maps(ours: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    if ours.shape != ref.shape:
        return False, f"shape {ours.shape} != {ref.shape}"
    big = float(np.abs(ref).max(initial=0.0))
    d = np.abs(ours - ref)
    bad = d > 1e-5 * np.abs(ref) + 1e-6 * max(big, 1e-12)
    return (not bad.any()), f"{int(bad.sum())} values differ (max |diff| {d.max(initial=0):.3g})"


def _edge_table(t: np.ndarray) -> dict[tuple[int, int], float]:
    return {(int(min(a, b)), int(max(a, b))): float(v) for a, b, v in t}


def _node_table(t: np.ndarray) -> dict[int, float]:
    return {int(a): float(v) for a, v in t}


def _compare_table(name: str, ours: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    """Network tables: rows keyed by node (pair); a branch the reference omits counts as 0 A."""
    if "branch_currents" in name:
        a, b = _edge_table(ours), _edge_table(ref)
    else:
        a, b = _node_table(ours), _node_table(ref)
    if "voltages" in name or "node_currents" in name:
        if set(a) != set(b):
            return False, f"nodes {sorted(set(a) ^ set(b))} in one table only"
    keys = sorted(set(a) | set(b))
    x = np.array([a.get(k, 0.0) for k in keys])
    y = np.array([b.get(k, 0.0) for k in keys])
    return _close_maps(x, y)


def _check_resistances(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    if ours.shape[1] == 2:  # one-to-all / all-to-one: id, value
        np.testing.assert_array_equal(ours[:, 0], ref[:, 0])
        np.testing.assert_allclose(ours[:, 1], ref[:, 1], rtol=1e-6, atol=1e-9)
        return
    np.testing.assert_array_equal(ours[0], ref[0])
    np.testing.assert_array_equal(ours[:, 0], ref[:, 0])
    np.testing.assert_array_equal(ours[1:, 1:] == -1, ref[1:, 1:] == -1)
    np.testing.assert_allclose(ours[1:, 1:], ref[1:, 1:], rtol=1e-6, atol=1e-9)


_MAP_NAME = re.compile(r"_(cum_curmap|max_curmap|curmap_[\d_]+|voltmap_[\d_]+)\.asc$|_(voltages|branch_currents|node_currents)_(\d+_\d+|cum)\.txt$")


@pytest.mark.shared
@pytest.mark.parametrize("ini", _cases())
def test_circuitscape_fixture(ini: Path, tmp_path: Path) -> None:
    res = run_ini(ini, workdir=DATA, output_dir=tmp_path)
    stem = ini.stem
    produced = {p.name: p for p in res.written}
    verify = DATA / "output_verify"
    out_name = f"{stem}_resistances.out"
    assert out_name in produced
    if (stem, out_name) not in INCONSISTENT:
        _check_resistances(read_table(produced[out_name]), read_table(verify / out_name))
    ref_r = read_table(verify / out_name)
    three = f"{stem}_resistances_3columns.out"
    if three in produced:  # derived from the reference matrix (its own 3-column file can be stale)
        ids, mat = ref_r[0, 1:], ref_r[1:, 1:]
        want = np.array([(ids[i], ids[j], mat[j, i]) for i in range(ids.size) for j in range(i + 1, ids.size)])
        np.testing.assert_allclose(read_table(produced[three]).reshape(want.shape), want, rtol=1e-6, atol=1e-9)
    failures, compared = [], 0
    for name, path in produced.items():
        if not _MAP_NAME.search(name) or (stem, name) in INCONSISTENT:
            continue
        ref_path = verify / name
        assert ref_path.exists(), f"{name}: no such reference file (werkland wrote a map Circuitscape does not)"
        ok, msg = (_close_maps(_read(path), _read(ref_path)) if path.suffix == ".asc"
                   else _compare_table(name, read_table(path), read_table(ref_path)))
        compared += 1
        if not ok:
            failures.append(f"{name}: {msg}")
    assert not failures, "\n".join(failures)
    if (verify / f"{stem}_cum_curmap.asc").exists() and any("_curmap" in n for n in produced):
        assert compared > 0


@pytest.mark.shared
@pytest.mark.skipif(not HAVE, reason=NO_DATA)
def test_named_values(tmp_path: Path) -> None:
    """The figures quoted for these fixtures: sgNetworkVerify2 R(0,4) = 3.75, sgVerify1 R(1,2) = 10.06879701."""
    r = run_ini(DATA / "input/network/sgNetworkVerify2.ini", workdir=DATA, output_dir=tmp_path).resistances
    assert r is not None
    ids = list(r[0, 1:])
    assert r[1 + ids.index(0), 1 + ids.index(4)] == pytest.approx(3.75, rel=1e-9)
    assert r[1 + ids.index(3), 1 + ids.index(4)] == pytest.approx(0.75, rel=1e-9)
    r = run_ini(DATA / "input/raster/pairwise/1/sgVerify1.ini", workdir=DATA, output_dir=tmp_path).resistances
    assert r is not None
    ids = list(r[0, 1:])
    assert r[1 + ids.index(1), 1 + ids.index(2)] == pytest.approx(10.06879701, rel=1e-6)
    assert r[1 + ids.index(4), 1 + ids.index(9)] == pytest.approx(0.7164503266, rel=1e-6)
    assert r[1 + ids.index(1), 1 + ids.index(3)] == -1  # point 3 lies on nodata: not connected
