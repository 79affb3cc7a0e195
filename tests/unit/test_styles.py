"""QGIS .qml styles: valid XML, legend colours, ranges, categories, files beside the outputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import LEGEND
from werkland._errors import WerklandInputError
from werkland.layout import RegionPaths, style_targets
from werkland.params import ReportParams, Storm
from werkland.report import measure_types, write_region_styles
from werkland.report.styles import (
    categorised_vector_qml,
    graduated_vector_qml,
    paletted_raster_qml,
    pseudocolor_raster_qml,
)


def _params(**over) -> ReportParams:
    """What the styles read: storms, corridor width and catalogue (the rest is not used)."""
    values = {"language": "en", "guilds": ("hedgehog", "pollinators"), "convention": "conefor",
              "corridor_width_cost": 1500.0, "storms": (Storm("70mm_2h", 70.0),), "budget_eur": 0.0,
              "catalogue": "", "config_as_run": {}}
    return ReportParams(**{**values, **over})


def _xml(text: str) -> ET.Element:
    # ElementTree does not read the DOCTYPE line QGIS writes; drop it
    return ET.fromstring(text.split("\n", 1)[1])


def test_paletted_landcover_uses_legend_colours(legend):
    root = _xml(paletted_raster_qml([(c.code, c.colour, c.name) for c in legend.classes]))
    r = root.find("pipe/rasterrenderer")
    assert r.get("type") == "paletted"
    entries = r.findall("colorPalette/paletteEntry")
    assert [(int(e.get("value")), e.get("color"), e.get("label")) for e in entries] == [
        (c.code, c.colour, c.name) for c in legend.classes
    ]


def test_pseudocolor_ramp_increases_and_log_scale():
    root = _xml(pseudocolor_raster_qml(1.0, 1000.0, ("#ffffff", "#000000"), n_classes=4, log_scale=True, unit="per m"))
    items = root.findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    vals = [float(i.get("value")) for i in items]
    assert vals == pytest.approx([1, 10, 100, 1000])
    assert items[0].get("color") == "#ffffff" and items[-1].get("color") == "#000000"
    assert items[0].get("label") == "1 per m"
    with pytest.raises(WerklandInputError):
        pseudocolor_raster_qml(1.0, 1.0, ("#ffffff", "#000000"))
    with pytest.raises(WerklandInputError):
        pseudocolor_raster_qml(0.0, 10.0, ("#ffffff", "#000000"), log_scale=True)


def test_vector_styles():
    g = _xml(graduated_vector_qml("dPC", [0, 1, 5, 100], ("#ffffff", "#ff0000"), "polygon", unit="%"))
    rend = g.find("renderer-v2")
    assert rend.get("type") == "graduatedSymbol" and rend.get("attr") == "dPC"
    ranges = rend.findall("ranges/range")
    assert [(r.get("lower"), r.get("upper")) for r in ranges] == [("0", "1"), ("1", "5"), ("5", "100")]
    assert len(rend.findall("symbols/symbol")) == 3
    c = _xml(categorised_vector_qml("type", [("hedgerow", "#00ff00", "hedgerow"), ("wadi", "#0000ff", "wadi")], "line"))
    cats = c.findall("renderer-v2/categories/category")
    assert [x.get("value") for x in cats] == ["hedgerow", "wadi", ""]
    sym = c.find("renderer-v2/symbols/symbol")
    assert sym.get("type") == "line" and sym.find("layer").get("class") == "SimpleLine"
    with pytest.raises(WerklandInputError):
        graduated_vector_qml("x", [1, 1], ("#000000", "#ffffff"), "polygon")
    with pytest.raises(WerklandInputError):
        categorised_vector_qml("x", [], "surface")


def test_write_region_styles_beside_outputs(tmp_path, legend):
    paths = RegionPaths(tmp_path.parent, tmp_path.name)
    written = write_region_styles(paths, LEGEND, {"hedgehog": "Hedgehog", "pollinators": "Bees"}, _params())
    targets = style_targets(["hedgehog", "pollinators"], ["70mm_2h"])
    assert sorted(written) == sorted(tmp_path / t.qml for t in targets)
    assert sorted(written) == sorted(paths.qml(t) for t in targets)
    for p in written:
        root = _xml(p.read_text(encoding="utf-8"))
        assert root.tag == "qgis"
    # rasters: same base name as the GeoTIFF, so QGIS loads the style automatically
    for t in targets:
        if t.data.endswith(".tif"):
            assert t.qml == t.data[:-4] + ".qml"
    lc = _xml((tmp_path / "landcover.qml").read_text())
    assert len(lc.findall("pipe/rasterrenderer/colorPalette/paletteEntry")) == len(legend.classes)
    vec = _xml((tmp_path / "landcover_landcover.qml").read_text())
    colours = {c.get("value"): c for c in vec.findall("renderer-v2/categories/category")}
    assert set(legend.names) <= set(colours)
    corr = _xml((tmp_path / "corridors" / "hedgehog.qml").read_text())
    assert corr.find("pipe/rasterrenderer").get("classificationMax") == "1500"
    runoff = _xml((tmp_path / "climate" / "runoff_70mm_2h.qml").read_text())
    assert runoff.find("pipe/rasterrenderer").get("classificationMax") == "70"
    bar = _xml((tmp_path / "barriers" / "all_guilds.qml").read_text())
    assert [r.get("label") for r in bar.findall("renderer-v2/ranges/range")] == ["rank 1-10", "rank 11-50", "rank > 50"]
    assert bar.find("renderer-v2").get("attr") == "multi_rank"
    assert _xml((tmp_path / "barriers" / "hedgehog.qml").read_text()).find("renderer-v2").get("attr") == "rank"
    occ = _xml((tmp_path / "species" / "occurrences.qml").read_text())
    assert [c.get("label") for c in occ.findall("renderer-v2/categories/category")][:2] == ["Hedgehog", "Bees"]
    only = write_region_styles(paths, LEGEND, ["hedgehog"], _params(), only=["landcover.qml"])
    assert only == [tmp_path / "landcover.qml"]


def test_corridor_range_without_configured_width(tmp_path):
    """Without connectivity.corridor_width_cost the range is the width the guild's summary records."""
    paths = RegionPaths(tmp_path, "r")
    paths.summary("hedgehog").parent.mkdir(parents=True)
    paths.summary("hedgehog").write_text('{"corridor_width": 750.0}')
    write_region_styles(paths, LEGEND, ["hedgehog", "pollinators"], _params(corridor_width_cost=None))
    hedgehog = _xml((paths.dir / "corridors" / "hedgehog.qml").read_text())
    pollinators = _xml((paths.dir / "corridors" / "pollinators.qml").read_text())
    assert hedgehog.find("pipe/rasterrenderer").get("classificationMax") == "750"
    assert pollinators.find("pipe/rasterrenderer").get("classificationMax") == "1000"  # no summary yet


def test_measure_types_from_catalogue(tmp_path):
    cat = tmp_path / "interventions.yaml"
    cat.write_text("types:\n  green_roof: {unit_cost_eur: 60}\n  wadi: {unit_cost_eur: 40}\n")
    assert measure_types(str(cat)) == ["green_roof", "wadi"]
    assert "hedgerow" in measure_types(None) and measure_types(tmp_path / "missing.yaml") == measure_types("")


def test_hydrology_and_after_state_rasters_get_styles(tmp_path, legend):
    paths = RegionPaths(tmp_path.parent, tmp_path.name)
    write_region_styles(paths, LEGEND, {"hedgehog": "Hedgehog"}, _params(guilds=("hedgehog",)))
    soil = _xml((tmp_path / "climate" / "soil_group.qml").read_text())
    entries = soil.findall("pipe/rasterrenderer/colorPalette/paletteEntry")
    assert [e.get("value") for e in entries] == ["1", "2", "3", "4"]
    assert entries[0].get("label").startswith("A") and entries[3].get("label").startswith("D")
    ghg = _xml((tmp_path / "climate" / "ghg_m.qml").read_text()).find("pipe/rasterrenderer")
    assert (ghg.get("classificationMin"), ghg.get("classificationMax")) == ("0", "2")
    acc = _xml((tmp_path / "climate" / "flow_accumulation.qml").read_text()).find("pipe/rasterrenderer")
    assert (acc.get("classificationMin"), acc.get("classificationMax")) == ("100", "1e+06")
    # ponding depth ramp ends at the storm's rain depth, like the runoff
    pond = _xml((tmp_path / "climate" / "ponding_70mm_2h.qml").read_text()).find("pipe/rasterrenderer")
    assert pond.get("classificationMax") == "70"
    after = (tmp_path / "interventions" / "after" / "habitat_hedgehog.qml").read_text()
    assert after == (tmp_path / "habitat" / "hedgehog.qml").read_text()
