"""Report section "Before and after" and the before/after rows of the region summary.

The synthetic region of test_report gets an ``interventions/after/summary.csv`` (the columns of
:data:`werkland.interventions.after.SUMMARY_COLUMNS`) and after-habitat rasters; every number the
page shows must be the CSV's value.
"""

from __future__ import annotations

import html as _html
import re

import numpy as np
import pandas as pd
import pytest

from tests.browser.test_report_browser import ALLOWED, ENGLISH_WORDS
from tests.conftest import GUILDS, LEGEND
from tests.unit.test_report import TEST_GUILDS, _build, _params, make_region
from werkland.interventions.after import REGION_ROW, SUMMARY_COLUMNS
from werkland.layout import RegionPaths
from werkland.raster.io import read_raster, write_csv, write_raster
from werkland.report import before_after_section
from werkland.report.before_after_section import build, read_after_summary, summary_rows
from werkland.report.load import load_region
from werkland.report.section_registry import SECTION_BUILDERS
from werkland.report.summary import region_summary


def _values(page: str) -> dict[str, float]:
    return {_html.unescape(k): float(v) for k, v in re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', page)}


def write_after(d, seed: int = 3) -> pd.DataFrame:
    """An after-state of the synthetic region: summary.csv and one changed habitat raster per guild."""
    rng = np.random.default_rng(seed)
    rows = []
    parks = [("p1", "Noord"), ("p2", "Zuid"), (REGION_ROW, "")]
    heat = {p: (rng.uniform(0.1, 0.5), rng.uniform(0.5, 0.9)) for p, _ in parks}
    water = {p: (rng.uniform(1000, 5000), rng.uniform(100, 900)) for p, _ in parks}
    for pid, name in parks:
        for g in TEST_GUILDS:
            hb = rng.uniform(1, 10)
            region = pid == REGION_ROW
            rows.append({
                "park_id": pid, "name": name, "guild": g, "habitat_ha_before": hb, "habitat_ha_after": hb + rng.uniform(0, 2),
                "eca_ha_before": 3.123456789 if region else np.nan, "eca_ha_after": 3.5 + rng.uniform() if region else np.nan,
                "hm_mean_before": heat[pid][0], "hm_mean_after": heat[pid][1], "d_hm": 0.5,
                "served_workplace_m2_before": 10.0, "served_workplace_m2_after": 20.0, "design_storm": "70mm_2h",
                "runoff_m3_before": water[pid][0], "runoff_m3_after": water[pid][0] - water[pid][1],
                "storage_m3_before": 0.0, "storage_m3_after": 50.0, "d_retained_m3": water[pid][1],
                "n_measures": 9 if region else 4 + (pid == "p1"), "cost_eur": 81000.0,
            })
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    paths = RegionPaths(d.parent, d.name)
    write_csv(df, paths.after_summary)
    for g in TEST_GUILDS:
        arr, grid, nodata = read_raster(paths.habitat(g))
        arr = arr.copy()
        arr[5:10, 10:20] = 1.0
        arr[40:42, 35:40] = 0.0
        write_raster(paths.after_habitat(g), arr, grid, nodata=nodata)
    return df


def _data(root, region: str, language: str = "en"):
    return load_region(RegionPaths(root, region), LEGEND, GUILDS, _params(report={"language": language, "pdf": False}))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("before_after")
    d = make_region(root, "synth", full=True)
    df = write_after(d)
    _build(root, "synth", _params(report={"language": "en", "pdf": False}), qml_styles=False)
    return d, df, (d / "report" / "index.html").read_text(encoding="utf-8")


def test_section_follows_the_plans_section():
    keys = list(SECTION_BUILDERS)
    assert keys.index("before_after") == keys.index("plans") + 1


def test_section_numbers_equal_after_summary(page):
    d, df, html = page
    vals = _values(html)
    assert '<section id="before_after">' in html
    region = df[df.park_id == REGION_ROW].set_index("guild")
    for g in TEST_GUILDS:
        for col in ("habitat_ha_before", "habitat_ha_after", "eca_ha_before", "eca_ha_after"):
            assert vals[f"after:region:{g}:{col}"] == region.loc[g, col]
    for pid in ("p1", "p2"):
        rows = df[df.park_id == pid].set_index("guild")
        for col in ("hm_mean_before", "hm_mean_after", "runoff_m3_before", "runoff_m3_after"):
            assert vals[f"after:{pid}:{col}"] == rows[col].iloc[0]
        for g in TEST_GUILDS:
            for when in ("before", "after"):
                assert vals[f"after:{pid}:{g}:habitat_ha_{when}"] == rows.loc[g, f"habitat_ha_{when}"]
    assert vals["after:region:n_measures"] == 9 and vals["after:region:cost_eur"] == 81000.0
    # the numbers read back from the written CSV text, not only from the frame it was written from
    csv = pd.read_csv(d / "interventions" / "after" / "summary.csv", dtype={"park_id": str})
    n_keys = sum(k.startswith("after:") for k in vals)
    assert n_keys == 2 + 4 * len(TEST_GUILDS) + 2 * (4 + 2 * len(TEST_GUILDS))
    assert vals["after:region:hedgehog:eca_ha_before"] == csv[(csv.park_id == REGION_ROW)
                                                            & (csv.guild == "hedgehog")]["eca_ha_before"].iloc[0]
    # two figures: the small multiples and the maps
    sec = html[html.index('<section id="before_after">'):]
    sec = sec[:sec.index("</section>")]
    assert sec.count("data:image/png;base64,") == 2 and 'class="why"' not in sec


def test_region_summary_before_after_rows_equal_after_summary(page):
    _d, df, html = page
    vals = _values(html)
    region = df[df.park_id == REGION_ROW].set_index("guild")
    for g in TEST_GUILDS:
        for key, col in ((f"eca_ha:{g}", "eca_ha"), (f"habitat_ha:{g}", "habitat_ha")):
            assert vals[f"region:before:{key}"] == region.loc[g, f"{col}_before"]
            assert vals[f"region:after:{key}"] == region.loc[g, f"{col}_after"]
    r = region.iloc[0]
    assert vals["region:before:runoff_m3"] == r["runoff_m3_before"] and vals["region:after:runoff_m3"] == r["runoff_m3_after"]
    assert vals["region:before:hm_mean"] == r["hm_mean_before"] and vals["region:after:hm_mean"] == r["hm_mean_after"]
    summary = html[html.index('<section id="region">'):html.index('<section id="summary">')]
    assert 'data-before-after="eca_ha:hedgehog"' in summary and "interventions/after/summary.csv" in summary


def test_without_after_summary_the_section_and_summary_say_why(tmp_path):
    make_region(tmp_path, "synth", full=True)
    for lang, word in (("en", "is missing"), ("nl", "ontbreekt")):
        data = _data(tmp_path, "synth", lang)
        sec = build(data)
        assert sec.html == "" and sec.figures == ()
        assert "synth/interventions/after/summary.csv" in sec.reason and word in sec.reason
        assert '<code translate="no">interventions</code>)' in sec.reason
        rows = region_summary(data)["before_after"]
        assert rows["rows"] == [] and rows["reason"] == sec.reason
    html = _build(tmp_path, "synth", qml_styles=False) and (tmp_path / "synth" / "report" / "index.html").read_text()
    sec = html[html.index('<section id="before_after">'):]
    assert 'class="why"' in sec[:sec.index("</section>")]
    assert 'data-key="region:before_after_reason"' in html


def test_incomplete_after_summary_names_the_columns(tmp_path):
    d = make_region(tmp_path, "synth", full=True)
    df = write_after(d)
    write_csv(df.drop(columns=["runoff_m3_after", "eca_ha_before"]), d / "interventions" / "after" / "summary.csv")
    s, reason = read_after_summary(_data(tmp_path, "synth"))
    assert s is None and "eca_ha_before, runoff_m3_after" in reason
    write_csv(df[df.park_id != REGION_ROW], d / "interventions" / "after" / "summary.csv")
    sec = build(_data(tmp_path, "synth"))
    assert "no rows for the whole region" in sec.reason


def test_missing_after_raster_leaves_its_panel_empty_and_pngs_are_deterministic(tmp_path):
    d = make_region(tmp_path, "synth", full=True)
    write_after(d)
    data = _data(tmp_path, "synth")
    fig, changed = before_after_section.maps_figure(data, TEST_GUILDS)
    assert changed > 0
    a, b = build(data), build(_data(tmp_path, "synth"))
    assert [f.png for f in a.figures] == [f.png for f in b.figures]
    assert all(f.png[:8] == b"\x89PNG\r\n\x1a\n" for f in a.figures)
    RegionPaths(tmp_path, "synth").after_habitat("pollinators").unlink()
    fig, changed_one = before_after_section.maps_figure(_data(tmp_path, "synth"), TEST_GUILDS)
    assert 0 < changed_one < changed
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("habitat_pollinators.tif is missing" in t.replace("\n", " ") for t in texts)


def test_many_parks_are_cut_in_the_figure_not_in_the_table(tmp_path, monkeypatch):
    d = make_region(tmp_path, "synth", full=True)
    write_after(d)
    monkeypatch.setattr(before_after_section, "MAX_PARKS", 1)
    sec = build(_data(tmp_path, "synth"))
    assert "The 1 parks with the most measures are drawn; the table lists all 2." in sec.figures[0].caption
    assert 'data-park="p1"' in sec.html and 'data-park="p2"' in sec.html


def _visible_words(html: str) -> set[str]:
    """Words of an HTML fragment outside ``translate="no"`` elements and tags (as the browser test reads it)."""
    text = re.sub(r'<(\w+)[^>]*translate="no"[^>]*>.*?</\1>', " ", html, flags=re.S)
    text = _html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"[\w-]+(?:\.[\w-]+)+", " ", text)
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


@pytest.mark.parametrize("with_after", [True, False])
def test_dutch_text_has_no_english_words(tmp_path, with_after):
    d = make_region(tmp_path, "synth", full=True)
    if with_after:
        write_after(d)
    words: set[str] = set()
    for lang in ("nl", "en"):
        data = _data(tmp_path, "synth", lang)
        sec = build(data)
        rows = summary_rows(data)
        parts = [sec.title, sec.html, str(sec.reason), rows["title"], " ".join(rows["head"]), str(rows["reason"])]
        parts += [f"<b>{f.title}</b> {f.caption}" for f in sec.figures]
        parts += [r["label"] for r in rows["rows"]]
        found = (_visible_words(" ".join(parts)) & ENGLISH_WORDS) - ALLOWED
        if lang == "nl":
            assert found == set(), f"English words in the Dutch before/after text: {sorted(found)}"
        else:
            words = found
    assert {"before", "after"} <= words  # the check finds English words where there are some


def test_report_rule_receives_the_after_files(tmp_path):
    p = RegionPaths(tmp_path, "r")
    inputs = p.report_inputs(TEST_GUILDS, ["70mm_2h"])
    assert p.after_summary in inputs and all(p.after_habitat(g) in inputs for g in TEST_GUILDS)
