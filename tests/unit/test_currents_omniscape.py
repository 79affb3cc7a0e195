"""Omniscape: the published test outputs of Omniscape.jl (through ``run_ini``) and properties.

The double-precision references (test1, test2, test3) were computed with conjugate gradients stopped at
a relative residual of 1e-6; werkland solves each window exactly. They agree to 1e-5 relative in norm
(Omniscape's own ``arrays_equal`` criterion, there at 1e-6 between its runs) and to 5e-5 in every cell
(largest seen: 2.3e-5). ``test1_32bit`` was computed in single precision and differs from Omniscape's
own double-precision result by up to 5.6e-4 per cell; werkland (double) is held to 1e-3 there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from werkland._errors import WerklandInputError
from werkland.currents import OmniscapeSettings, omniscape, run_ini, source_from_resistance
from werkland.currents.csio import read_grid
from werkland.currents.omniscape import targets

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "omniscape-jl-tests" / "test"
HAVE = (DATA / "input").is_dir()
NO_DATA = "needs ../shared/data/omniscape-jl-tests (Omniscape.jl's test fixtures) beside the project"

CASES = {
    "test1": (["cum_currmap", "flow_potential", "normalized_cum_currmap"], 1e-5, 5e-5),
    "test2": (["cum_currmap"], 1e-5, 5e-5),
    "test3": (["cum_currmap", "flow_potential"], 1e-5, 5e-5),
    "test1_32bit": (["cum_currmap", "flow_potential", "normalized_cum_currmap"], 1e-4, 1e-3),
}


@pytest.mark.shared
@pytest.mark.skipif(not HAVE, reason=NO_DATA)
@pytest.mark.parametrize("case", sorted(CASES))
def test_omniscape_fixture(case: str, tmp_path: Path) -> None:
    names, norm_tol, cell_tol = CASES[case]
    res = run_ini(DATA / "output_verify" / case / "config.ini", workdir=DATA, output_dir=tmp_path)
    written = {p.stem: p for p in res.written}
    assert sorted(written) == sorted(names)
    assert all(p.parent == tmp_path / case for p in res.written)  # project_name = the output folder
    for name in names:
        ref_path = next((DATA / "output_verify" / case).glob(f"{name}.*"))
        ours, _ = read_grid(written[name])
        ref, _ = read_grid(ref_path)
        assert written[name].suffix == ref_path.suffix  # write_as_tif decides .tif / .asc as in Omniscape
        np.testing.assert_array_equal(ours == -9999, ref == -9999)
        m = ref != -9999
        assert np.linalg.norm(ours[m] - ref[m]) <= norm_tol * np.linalg.norm(ref[m]), name
        np.testing.assert_allclose(ours[m], ref[m], rtol=cell_tol, err_msg=name)


@pytest.mark.shared
@pytest.mark.skipif(not HAVE, reason=NO_DATA)
def test_existing_project_folder_gets_a_suffix_and_bad_solver_is_refused(tmp_path: Path) -> None:
    ini = DATA / "output_verify" / "test2" / "config.ini"
    first = run_ini(ini, workdir=DATA, output_dir=tmp_path).written[0]
    second = run_ini(ini, workdir=DATA, output_dir=tmp_path).written[0]
    assert first.parent.name == "test2" and second.parent.name == "test2_1"
    with pytest.raises(WerklandInputError, match="solver = wrong_solver_name"):
        run_ini(DATA / "input" / "config.ini", workdir=DATA, output_dir=tmp_path)


def test_targets_cover_blocks_with_source() -> None:
    src = np.zeros((30, 30))
    src[:, :] = 1.0
    src[0:7, 0:7] = 0.0
    t = targets(src, 7)
    assert len(t) == (30 // 7) ** 2 - 1  # the empty first block has no target
    y, x, amps = t[0]
    assert amps == pytest.approx(src[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4].sum())


def test_source_from_resistance_cutoff() -> None:
    r = np.array([[1.0, 2.0], [np.nan, 10.0]])
    s = source_from_resistance(r, r_cutoff=2.0)
    np.testing.assert_allclose(s, [[1.0, 0.5], [0.0, 0.0]])


def test_uniform_landscape_flow_potential_equals_current_inside_full_windows() -> None:
    """With resistance 1 everywhere the current equals the flow potential where windows are whole."""
    n = 41
    res = np.ones((n, n))
    src = np.ones((n, n))
    st = OmniscapeSettings(radius=4, block_size=3, correct_artifacts=False)
    out = omniscape(res, src, st)
    assert out.flow_potential is not None and out.normalized is not None
    assert np.all(out.current >= 0) and out.n_targets == (n // 3) ** 2
    # the flow potential uses the whole window box, the current only the disc: channelling >= 1 nowhere
    # in open country would mean the disc carried more than the box
    inner = out.normalized[10:-10, 10:-10]
    assert np.all(inner > 0.5) and np.all(inner < 2.0)
    np.testing.assert_allclose(out.normalized, np.where(out.flow_potential > 0, out.current / out.flow_potential, 0))


def test_barrier_blocks_and_gap_channels() -> None:
    """A wall with one gap: no current through the wall, the gap carries more than open country does."""
    n = 41
    res = np.ones((n, n))
    res[:, 20] = np.nan
    res[20, 20] = 1.0
    out = omniscape(res, np.ones((n, n)), OmniscapeSettings(radius=8, block_size=3))
    assert np.all(np.isfinite(out.current))
    assert out.normalized is not None
    assert out.normalized[20, 20] > 1.5  # channelised through the gap
    assert out.current[20, 20] > out.current[5, 5]


def test_parallel_workers_give_the_same_maps() -> None:
    rng = np.random.default_rng(3)
    res = rng.uniform(1, 10, (36, 36))
    src = rng.uniform(0, 1, (36, 36))
    st = OmniscapeSettings(radius=5, block_size=3, buffer=1)
    one = omniscape(res, src, st, n_workers=1)
    two = omniscape(res, src, st, n_workers=2)
    np.testing.assert_allclose(one.current, two.current, rtol=1e-12)
