from pathlib import Path

import pytest
import yaml

from werkland._errors import WerklandInputError
from werkland.config import read_regions_table, region_settings, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(autouse=True)
def _cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_demo_config_is_valid_and_defaults_filled():
    cfg = validate_config(_config(), SCHEMA)
    assert cfg["report"]["language"] in ("en", "nl")
    regions = region_settings(cfg)
    assert list(regions) == ["demo"]
    demo = regions["demo"]
    assert demo["resolution_m"] == 10 and demo["crs"] == "auto" and demo["context_buffer_m"] > 0
    assert demo["land_cover"][0]["type"] == "osm"


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (lambda c: c["report"].__setitem__("language", "fr"), r"report\.language = 'fr' -- allowed: 'en', 'nl'"),
        (lambda c: c["region_defaults"].__setitem__("resolution_m", 0), r"region_defaults\.resolution_m = 0"),
        (lambda c: c["regions"].__setitem__("Bad/Id", c["regions"]["demo"]), r"regions"),
        (lambda c: c["regions"]["demo"]["land_cover"][0].__setitem__("type", "shp"), r"type = 'shp' -- allowed: 'osm'"),
        (lambda c: c.__setitem__("guilds", ["bats"]), r"guilds.*bats"),
        (lambda c: c["habitat"].__setitem__("tile_cells", -1), r"habitat\.tile_cells = -1"),
    ],
)
def test_bad_config_names_key_and_allowed_values(mutate, msg):
    cfg = _config()
    cfg.setdefault("report", {"language": "en"})
    mutate(cfg)
    with pytest.raises(WerklandInputError, match=msg):
        validate_config(cfg, SCHEMA)


def test_regions_table_rejects_path_characters(tmp_path):
    p = tmp_path / "regions.tsv"
    p.write_text("region\tland_cover\nok-1\ta.osm.pbf\n../etc\tb.osm.pbf\n")
    with pytest.raises(WerklandInputError, match=r"line 3: region id '\.\./etc' is not a safe slug"):
        read_regions_table(p)
    p.write_text("region\tland_cover\tclip_lonlat\tresolution_m\npark-1\ta.osm.pbf\t4.3,51.9,4.4,52.0\t5\n")
    regions = read_regions_table(p)
    assert regions["park-1"]["clip_lonlat"] == [4.3, 51.9, 4.4, 52.0]
    assert regions["park-1"]["resolution_m"] == 5.0


def test_regions_from_parks_file(tmp_path):
    import geopandas as gpd
    import shapely

    from werkland.config import regions_from_parks

    p = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"code": ["BT 001", "bt-002"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=28992).to_file(p)
    regions = regions_from_parks({"file": str(p), "id_field": "code", "land_cover": [{"type": "osm", "path": "x.pbf"}]})
    assert list(regions) == ["bt-001", "bt-002"]
    assert regions["bt-001"]["parks"] == {"file": str(p), "id_field": "code", "ids": ["BT 001"]}
    gpd.GeoDataFrame({"code": ["A/1", "a-1"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=28992).to_file(p)
    with pytest.raises(WerklandInputError, match="same region id 'a-1'"):
        regions_from_parks({"file": str(p), "id_field": "code"})
    with pytest.raises(WerklandInputError, match="cannot read field 'nope'"):
        regions_from_parks({"file": str(p), "id_field": "nope"})


def test_minimal_config_gets_every_stage_default():
    """A config with only the required keys runs: every stage section is filled from the schema."""
    cfg = {"legend": "config/landcover_classes.yaml", "guilds_table": "config/guilds.yaml", "guilds": ["hedgehog"],
           "regions": {"x": {"land_cover": [{"type": "osm", "path": "a.osm.pbf"}]}}}
    validate_config(cfg, SCHEMA)
    assert [s["name"] for s in cfg["climate"]["storms"]] == ["70mm_2h", "140mm_2h"]
    assert cfg["connectivity"]["convention"] == "conefor"
    assert cfg["habitat"]["tile_cells"] == 0
    assert cfg["barriers"]["radii_m"] == [20, 50, 100]
    assert cfg["report"]["language"] == "en"
    assert cfg["interventions"]["weights"] == {"biodiversity": 0.5, "climate": 0.5}
