"""Unknown keys are errors everywhere, naming the key and the closest valid one."""

from pathlib import Path

import pytest
import yaml

from werkland._errors import WerklandInputError
from werkland.config import read_regions_table, validate_config
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["regions"]["demo"].__setitem__("contxt_buffer_m", 50),
         r"regions\.demo: unknown key 'contxt_buffer_m' \(did you mean 'context_buffer_m'\?\)"),
        (lambda c: c["regions"]["demo"].__setitem__("speciez_source", "file"),
         r"regions\.demo: unknown key 'speciez_source' \(did you mean 'species_source'\?\)"),
        (lambda c: c["region_defaults"].__setitem__("resolution", 5),
         r"region_defaults: unknown key 'resolution' \(did you mean 'resolution_m'\?\)"),
        (lambda c: c["connectivity"].__setitem__("p_flor", 0.01),
         r"connectivity: unknown key 'p_flor' \(did you mean 'p_floor'\?\)"),
        (lambda c: c["climate"].__setitem__("soilgroup", "A"),
         r"climate: unknown key 'soilgroup' \(did you mean 'soil_group'\?\)"),
        (lambda c: c.__setitem__("guild", ["hedgehog"]),
         r"\(top level\): unknown key 'guild' \(did you mean 'guilds'\?\)"),
        (lambda c: c["regions"]["demo"]["land_cover"][0].__setitem__("clas_field", "x"),
         r"land_cover\[0\]: unknown key 'clas_field' \(did you mean 'class_field'\?\)"),
        (lambda c: c["regions"]["demo"]["parks"].__setitem__("min_area", 1),
         r"regions\.demo\.parks: unknown key 'min_area' \(did you mean 'min_area_m2'\?\)"),
        (lambda c: c["climate"]["storms"][0].__setitem__("depth", 5),
         r"climate\.storms\[0\]: unknown key 'depth' \(did you mean 'depth_mm'\?\)"),
    ],
)
def test_misspelt_config_key_is_an_error_naming_the_closest(mutate, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = _config()
    mutate(cfg)
    with pytest.raises(WerklandInputError, match=expected):
        validate_config(cfg, SCHEMA)


def test_maps_accept_their_own_keys(monkeypatch):
    """Region ids and guild weights are map keys, not misspellings."""
    monkeypatch.chdir(ROOT)
    cfg = _config()
    cfg["regions"]["second-park"] = {"land_cover": [{"type": "osm", "path": "x.osm.pbf"}]}
    cfg["barriers"]["guild_weights"] = {"hedgehog": 2.0}
    cfg["regions"]["demo"]["land_cover"][0]["mapping"] = {"anything": "grass"}
    validate_config(cfg, SCHEMA)


def test_regions_table_unknown_column(tmp_path):
    path = tmp_path / "regions.tsv"
    path.write_text("region\tland_cover\tcontext_bufer_m\na\tx.osm.pbf\t100\n")
    with pytest.raises(WerklandInputError, match=r"unknown column 'context_bufer_m' \(did you mean 'context_buffer_m'\?\)"):
        read_regions_table(path)


def test_legend_row_unknown_key(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "landcover_classes.yaml").read_text())
    raw["classes"][0]["colur"] = "#ffffff"
    path = tmp_path / "legend.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(WerklandInputError, match=r"unknown key 'colur' \(did you mean 'colour'\?\)"):
        load_legend(path)


def test_guild_row_unknown_key(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "guilds.yaml").read_text())
    raw["guilds"]["hedgehog"]["d0"] = 300
    path = tmp_path / "guilds.yaml"
    path.write_text(yaml.safe_dump(raw))
    legend = load_legend(ROOT / "config" / "landcover_classes.yaml")
    with pytest.raises(WerklandInputError, match=r"guilds\.hedgehog: unknown key 'd0' \(did you mean 'd0_m'\?\)"):
        load_guilds(path, legend)
