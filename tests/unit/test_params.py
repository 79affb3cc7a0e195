"""Typed stage parameters: built from the validated config only, plain-dict round trip, kernel in one place."""

import math
from pathlib import Path

import pytest
import yaml

from werkland._errors import WerklandInputError
from werkland.config import validate_config
from werkland.params import BarrierParams, ConnectivityParams, HabitatParams
from werkland.tables import load_guilds, load_legend

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config(monkeypatch):
    monkeypatch.chdir(ROOT)
    return validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)


@pytest.fixture
def guilds():
    return load_guilds(ROOT / "config" / "guilds.yaml", load_legend(ROOT / "config" / "landcover_classes.yaml"))


def test_schema_default_reaches_the_params(config, guilds):
    """metrics_tolerance comes from the schema default (1e-6), not from a second default in code."""
    del config["connectivity"]["metrics_tolerance"]
    config = validate_config(config, SCHEMA)
    p = ConnectivityParams.from_config(config, guilds["hedgehog"], n_threads=1)
    assert p.metrics_tolerance == 1e-6
    assert p.corridor_width == guilds["hedgehog"].d0_m  # corridor_width_cost: null = d0
    assert p.n_threads == 1


@pytest.mark.parametrize(("convention", "p0"), [("conefor", 0.5), ("graphab", 0.05)])
def test_guild_kernel_is_the_one_place_for_d0_p0_k(guilds, convention, p0):
    k = guilds["woodland_birds"].kernel(convention)
    assert k.p0 == p0 and k.d0_m == guilds["woodland_birds"].d0_m
    assert k.k_per_m == pytest.approx(-math.log(p0) / k.d0_m)
    assert k.p(k.d0_m) == pytest.approx(p0)


def test_unknown_convention(guilds):
    with pytest.raises(WerklandInputError, match="convention 'pc'"):
        guilds["hedgehog"].kernel("pc")


def test_round_trip_through_plain_dicts(config, guilds):
    for p in (
        HabitatParams.from_config(config),
        ConnectivityParams.from_config(config, guilds["amphibians"], n_threads=2),
        BarrierParams.from_config(config, guilds["amphibians"], n_threads=2),
    ):
        d = p.as_dict()
        assert yaml.safe_load(yaml.safe_dump(d)) == d or any(isinstance(v, float) and math.isinf(v) for v in d.get("resistance", {}).values())
        assert type(p).from_dict(d) == p


def test_from_dict_rejects_unknown_and_missing(config, guilds):
    d = ConnectivityParams.from_config(config, guilds["hedgehog"], n_threads=2).as_dict()
    with pytest.raises(WerklandInputError, match=r"unknown key 'p_flor' \(did you mean 'p_floor'\?\)"):
        ConnectivityParams.from_dict({**d, "p_flor": 0.1})
    d.pop("p_floor")
    with pytest.raises(WerklandInputError, match="missing p_floor"):
        ConnectivityParams.from_dict(d)


def test_region_source_files_lists_every_region_input_once(tmp_path):
    from werkland.params.report import region_source_files

    catalogue = tmp_path / "interventions.yaml"
    catalogue.write_text("types: {}\n")
    region = {"land_cover": [{"path": "a.osm.pbf"}, {"path": "a.osm.pbf"}], "species_source": "table",
              "species_table": {"path": "t.csv", "preset": "ndff"}, "plans": {"p": "plan.geojson"},
              "elevation": {"path": "dtm.tif"}}
    assert region_source_files(region, "x", str(catalogue)) == [
        "a.osm.pbf", "dtm.tif", "t.csv", "config/mappings/ndff.yaml", "plan.geojson", str(catalogue)]
    # no optional inputs, no catalogue file: the land-cover sources only (the report of today)
    assert region_source_files({"land_cover": [{"path": "a.gpkg"}]}, "x", str(tmp_path / "none.yaml")) == ["a.gpkg"]
