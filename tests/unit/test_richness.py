"""Richness estimators against the iNEXT spider/ant numbers and GBIF fixture vectors, plus properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from werkland.species import richness as r

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VALIDATION = SHARED / "data" / "gbif_recorded" / "validation_richness_estimators.json"
needs_shared = pytest.mark.skipif(not VALIDATION.exists(), reason=f"{VALIDATION} not present (../shared/data is not beside the project)")


def _cases() -> list[tuple[str, dict]]:
    if not VALIDATION.exists():
        return []
    return list(json.loads(VALIDATION.read_text())["cases"].items())


CASES = _cases()
IDS = [c[0] for c in CASES]


def close(a: float, b: float) -> bool:
    return round(a, 4) == pytest.approx(round(b, 4), abs=1.5e-4)


@needs_shared
@pytest.mark.parametrize(("name", "case"), CASES, ids=IDS)
def test_summary_counts(name: str, case: dict) -> None:
    c = r.frequency_counts(case["abundances"])
    assert c["n"] == case["n"] and c["S_obs"] == case["S_obs"]
    assert c["f1"] == case["f"]["1"] and c["f2"] == case["f"]["2"]


@needs_shared
@pytest.mark.parametrize(("name", "case"), CASES, ids=IDS)
def test_chao1_variants_and_ci(name: str, case: dict) -> None:
    x = case["abundances"]
    assert close(r.chao1(x), case["chao1_iNEXT_S_plus_(n-1)/n_f1sq_over_2f2"])
    assert close(r.f0_hat(x), case["f0_hat"])
    assert close(r.chao1(x, "classic"), case["chao1_classic_S_plus_f1sq_over_2f2"])
    assert close(r.chao1(x, "bias_corrected"), case["chao1_bias_corrected_no_(n-1)/n_skbio_default_and_vegan_estimateR_(SSC=1)"])
    assert close(r.chao1(x, "bias_corrected_spade"), case["chao1_bias_corrected_with_(n-1)/n_SpadeR_Chao1_bc_style"])
    se, lo, hi = r.chao1_ci(x)
    assert close(se, case["chao1_iNEXT_se"])
    assert close(lo, case["chao1_iNEXT_95CI_logtransform"][0])
    assert close(hi, case["chao1_iNEXT_95CI_logtransform"][1])


@needs_shared
@pytest.mark.parametrize(("name", "case"), CASES, ids=IDS)
def test_ace_and_coverage(name: str, case: dict) -> None:
    x = case["abundances"]
    assert close(r.ace(x), case["ACE_k10"])
    assert close(r.goods_coverage(x), case["goods_coverage_1_minus_f1_over_n"])
    assert close(r.sample_coverage(x), case["chao_jost_sample_coverage_C_n"])


@needs_shared
@pytest.mark.parametrize(("name", "case"), CASES, ids=IDS)
def test_rarefaction_and_extrapolation(name: str, case: dict) -> None:
    x = case["abundances"]
    for table in ("rarefied", "extrapolated"):
        for m, exp in case[table].items():
            assert close(r.richness_at(x, int(m)), exp["S"]), (table, m)
            assert close(r.coverage_at(x, int(m)), exp["C"]), (table, m)


@needs_shared
def test_incidence_chao2_and_coverage() -> None:
    inc = json.loads(VALIDATION.read_text())["incidence_case_ant_h2000m"]
    freq = inc["incidence_freq"]
    t, y = freq[0], freq[1:]
    assert t == inc["T"]
    res = r.chao2(y, t)
    assert res["S_obs"] == inc["S_obs"] and res["U"] == inc["U_total_incidences"]
    assert res["Q1"] == inc["Q1"] and res["Q2"] == inc["Q2"]
    assert close(res["chao2"], inc["chao2_iNEXT_S_plus_(T-1)/T_Q1sq_over_2Q2"])
    assert res["se"] == pytest.approx(inc["chao2_se"], abs=1e-4)
    assert res["lower"] == pytest.approx(inc["chao2_95CI_logtransform"][0], abs=1e-3)
    assert res["upper"] == pytest.approx(inc["chao2_95CI_logtransform"][1], abs=1e-3)
    key = next(k for k in inc if k.startswith("sample_coverage"))
    assert close(r.incidence_coverage(y, t), inc[key])


def test_edge_cases() -> None:
    assert np.isnan(r.chao1([]))
    assert r.chao1([5, 3, 4]) == 3  # no singletons: nothing undetected
    assert r.chao1([1, 1, 1]) == pytest.approx(3 + (2 / 3) * 3 * 2 / 2)  # f2 = 0 branch
    assert r.sample_coverage([4, 4]) == 1.0
    assert r.richness_at([3, 2, 1], 6) == 3
    assert r.chao1_ci([5, 3])[1:] == (2.0, 2.0)
    with pytest.raises(ValueError):
        r.chao1([1.5, 2])
    with pytest.raises(ValueError):
        r.chao1([1, 2], variant="nope")
    s = r.summarise([3, 1, 1], m_common=100)  # 100 > 2n: not extrapolated
    assert s["records"] == 5 and np.isnan(s["rarefied_richness"])


abund = st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(abund)
def test_properties(x: list[int]) -> None:
    n, s = sum(x), len(x)
    assert r.chao1(x) >= s - 1e-9
    assert r.richness_at(x, n) == pytest.approx(s)
    assert r.coverage_at(x, n) == pytest.approx(r.sample_coverage(x))
    ms = list(range(1, 2 * n + 1))
    rich = [r.richness_at(x, m) for m in ms]
    assert all(b >= a - 1e-9 for a, b in zip(rich, rich[1:], strict=False))
    assert rich[0] == pytest.approx(1.0)
    assert rich[-1] <= r.chao1(x) + 1e-9
    cov = [r.coverage_at(x, m) for m in ms]
    assert all(0 - 1e-12 <= c <= 1 + 1e-12 for c in cov)
    assert all(b >= a - 1e-9 for a, b in zip(cov, cov[1:], strict=False))
