import math

import pytest
import yaml

from werkland._errors import WerklandInputError
from werkland.tables import load_guilds, load_legend

from ..conftest import GUILDS, LEGEND

REQUIRED_CLASSES = {
    "building", "sealed", "parking", "road_motorway", "road_main", "road_minor", "track_path", "railway",
    "open_water", "waterway", "wetland", "grass", "meadow", "shrub", "woodland", "hedgerow", "cropland",
    "bare", "garden", "green_roof",
}
REQUIRED_GUILDS = {"hedgehog", "pollinators", "amphibians", "woodland_birds"}


def test_legend_has_required_classes(legend):
    assert REQUIRED_CLASSES <= set(legend.names)
    codes = [c.code for c in legend.classes]
    assert len(set(codes)) == len(codes) and min(codes) >= 1 and max(codes) <= 255
    # every line class has a width, and roads/rails/waters are burnt continuously
    for name in ("road_motorway", "road_main", "road_minor", "railway", "waterway", "hedgerow"):
        c = legend.by_name(name)
        assert c.width_m and c.width_m > 0 and c.continuous


def test_guild_table_is_valid(guilds):
    assert REQUIRED_GUILDS <= set(guilds)
    for g in guilds.values():
        assert 0 < g.p0 < 1 and g.d0_m > 0
        assert math.isclose(math.exp(-g.k_per_m * g.d0_m), g.p0)
        assert all(0 <= v <= 1 for v in g.suitability.values())
        assert all(v >= 1 for v in g.resistance.values())
        assert g.gbif_taxa


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_guild_with_unknown_class_names_it(tmp_path, legend):
    data = yaml.safe_load(GUILDS.read_text())
    data["guilds"]["hedgehog"]["suitability"]["lawn"] = 0.5
    p = _write(tmp_path, "g.yaml", data)
    with pytest.raises(WerklandInputError, match=r"guilds\.hedgehog\.suitability.*'lawn'.*fix: use one of"):
        load_guilds(p, legend)


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [
        (("resistance", "grass"), 0.5, "resistance of 'grass'"),
        (("suitability", "grass"), 1.5, "suitability of 'grass'"),
        (("p0",), 1.0, "p0"),
        (("d0_m",), -5, "d0_m"),
        (("suitability_threshold",), 0, "suitability_threshold"),
    ],
)
def test_guild_bad_values(tmp_path, legend, key, value, msg):
    data = yaml.safe_load(GUILDS.read_text())
    node = data["guilds"]["hedgehog"]
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    with pytest.raises(WerklandInputError, match=msg):
        load_guilds(_write(tmp_path, "g.yaml", data), legend)


def test_legend_duplicate_code(tmp_path):
    data = yaml.safe_load(LEGEND.read_text())
    data["classes"][1]["code"] = data["classes"][0]["code"]
    with pytest.raises(WerklandInputError, match="duplicate"):
        load_legend(_write(tmp_path, "l.yaml", data))


def test_missing_and_malformed_yaml(tmp_path):
    with pytest.raises(WerklandInputError, match="file not found"):
        load_legend(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [\n  - {code: 1")
    with pytest.raises(WerklandInputError, match="not valid YAML"):
        load_legend(bad)
