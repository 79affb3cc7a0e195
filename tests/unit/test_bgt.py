"""BGT reader: real PDOK GML-light snippets, a complete synthetic area (every mapped value), bbox
reads, bad input, and the generic multi-layer reader with the TOP10NL mapping."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml

from werkland._errors import WerklandInputError
from werkland.landcover.bgt import read_bgt, read_mapped_layers
from werkland.landcover.mapping import Branch, ReadLog, load_mapping

from ..bgt_area import AreaObject, build_area, mapping_cases, write_area, write_gml, zip_area
from ..conftest import ROOT, shared_file

BGT_YAML = ROOT / "config" / "mappings" / "bgt.yaml"
TOP10NL_YAML = ROOT / "config" / "mappings" / "top10nl.yaml"
ORIGIN = (155000.0, 463000.0)

# identificatie.lokaalID -> class of the real snippets (SOURCE.md lists their values)
SNIPPET_CLASSES = {
    "L0001.3f396fc07e114bd0aa77d02091a427a2": "grass",     # BegroeidTerreindeel transitie
    "G0363.8eb3b4b5521b4807b0194022250ebfed": "grass",     # BegroeidTerreindeel groenvoorziening
    "G0363.dde848e5829f4a27a9cd8da11bf3c18c": "sealed",    # OnbegroeidTerreindeel open verharding
    "G0363.82ab1ce523614c9ea5540d39ee7059e8": "sealed",
    "G0363.34b0bc005fc34f2d911963d92fab12a2": "sealed",    # Wegdeel voetpad / transitie, paved
    "G0363.0cde4acff9ec41a3ab944a093e2b1330": "sealed",
    "G0363.8b7568ce0eee4bc5b30520ff95fab04b": "grass",     # OndersteunendWegdeel berm, groenvoorziening
    "G0363.14367d56df1f43d695c29c9e628b02c8": "grass",
    "G0363.de420dd7f01f42eea9056f2360f82f7b": "waterway",  # Waterdeel waterloop
    "G0363.26ac4cb19c304756bde3fc8fd5a6cec3": "waterway",
    "G0363.674d71f7d7dc40a99a9a0f38f0de1228": "wetland",   # OndersteunendWaterdeel oever, slootkant
    "G0363.60cfa386ca9f41a5b2f44fb3942d6d02": "wetland",
    "G0363.c5f4cc8ee86a4bcca08e931ae2fff3a0": "building",  # Pand
    "G0363.c75fa723f76f4333875e603d38d63196": "building",
    "G0363.dd1928f7c3ff4e808265e184be0c4772": "sealed",    # Scheiding walbescherming (a curve)
    "G0363.a36cc2b18b1a4ecba73b18160c7480ce": "building",  # Scheiding muur (a polygon)
    "G0363.efd84f8397624636bdc2f42ab57ba1d5": "building",  # OverigBouwwerk niet-bgt / schuur
    "G0363.e8cbbf9580b04ef7adb04dd8ab78b952": "building",
    "G0394.8d2db72258944ac7b6cc906a0bba11fa": "grass",     # plantcover: groenvoorziening / gras- en kruidachtigen
    "G0394.9658f94e1664464595d263e44f30c184": "grass",
    "G0362.43201703094f4ee2bad462ef1fb91c1d": "railway",   # railway (Spoor) sneltram, lines
    "G0362.6670205e74a949f6b1a90e99102f0774": "railway",
    "G0362.4efdaa1bc701412992f79117d7293b44": "sealed",    # trafficarea voetpad, open verharding
    "G0358.dd0de8f4dc9e4dbea74804a7ad3ba0cd": "parking",   # trafficarea parkeervlak
    "G0085.127261a3995f43ddbc38635ad93c694a": "grass",     # auxiliarytrafficarea berm
    "G0085.1cfbd59352be4cc390199b74a8f53048": "grass",
}


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[AreaObject], Path, Path]:
    """The synthetic area as a folder of GML-light files and as a zip."""
    folder = tmp_path_factory.mktemp("bgt_area")
    objs = build_area(BGT_YAML, origin=ORIGIN)
    files = write_area(folder / "gml", objs)
    return objs, folder / "gml", zip_area(files, folder / "bgt_extract.zip")


def _classes(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    assert gdf["feature_id"].is_unique
    return dict(zip(gdf["feature_id"], gdf["class"], strict=True))


# --- real snippets -------------------------------------------------------------------------------


def test_real_snippets_read_with_expected_classes(legend) -> None:
    folder = shared_file("bgt-gmllight-samples")
    before = sorted(p.name for p in folder.iterdir())
    counts: dict[str, int] = {}
    log = ReadLog()
    gdf = read_bgt(folder, legend=legend, crs=28992, counts=counts, log=log)
    assert _classes(gdf) == SNIPPET_CLASSES | {"G1699.2d8ccd18a08f7da5e05332a1e90adfb4": "grass"}  # arcs/
    assert set(gdf["source"]) == {"bgt"} and gdf.crs.to_epsg() == 28992
    assert set(gdf.geometry.geom_type) <= {"Polygon", "MultiPolygon"} and (gdf.area > 0).all()
    # BAG ids read as text keep their leading zero
    pand = gdf[gdf["layer"] == "Pand"].set_index("feature_id")
    assert pand.loc["G0363.c5f4cc8ee86a4bcca08e931ae2fff3a0", "identificatieBAGPND"] == "0363100012165994"
    # rails (lines) are buffered to the railway width of the legend (8 m, flat ends)
    rail = gdf[gdf["layer"] == "Spoor"]
    raw = gpd.read_file(folder / "bgt_railway.gml", engine="pyogrio", WRITE_GFS="NO")
    assert rail.area.sum() == pytest.approx(raw.length.sum() * legend.by_name("railway").width_m, rel=0.02)
    # Kunstwerkdeel (culverts at level -1) is skipped as not at the surface; types mapped to null are not read
    frame = log.to_frame()
    kunst = frame[frame["layer"] == "Kunstwerkdeel"]
    assert kunst[["outcome", "reason", "count"]].values.tolist() == [["skipped", "level -1", 2]]
    assert {"Overbruggingsdeel", "VegetatieObject", "Waterinrichtingselement"} <= set(
        frame.loc[frame["reason"] == "layer mapped to null (not read)", "layer"])
    assert counts["bgt_Kunstwerkdeel_skipped_level"] == 2 and counts["bgt_Wegdeel_mapped"] == 4
    assert sorted(p.name for p in folder.iterdir()) == before  # no .gfs written next to the data


def test_arcs_sample_surface_not_crest_line_linearised(legend) -> None:
    folder = shared_file("bgt-gmllight-samples", "arcs")
    gdf = read_bgt(folder, legend=legend, crs=28992)
    assert len(gdf) == 1
    row = gdf.iloc[0]
    assert row["feature_id"] == "G1699.2d8ccd18a08f7da5e05332a1e90adfb4" and row["class"] == "grass"
    poly = row.geometry
    # the surface (curve polygon with one hole), not the kruinlijn line
    assert poly.geom_type == "Polygon" and len(poly.interiors) == 1
    # 8 arcs of 3 points each (17 distinct points) are linearised into many vertices
    assert len(poly.exterior.coords) > 40
    # the arcs pass through their control points and bulge beyond the chords between them
    control = [(226080.978, 573035.586), (226076.665, 573034.943), (226072.730, 573033.058),
               (226069.510, 573029.236), (226068.078, 573024.444), (226068.616, 573019.172),
               (226071.718, 573014.878), (226075.490, 573012.795), (226079.749, 573012.142),
               (226085.837, 573013.825), (226090.984, 573017.490), (226094.031, 573021.315),
               (226095.465, 573025.994), (226094.392, 573030.204), (226091.361, 573033.311),
               (226086.317, 573035.133)]
    assert max(poly.exterior.distance(shapely.Point(p)) for p in control) < 0.01
    assert shapely.Polygon(poly.exterior).area > shapely.Polygon(control).area + 1.0
    assert 150 < poly.area < 260


# --- the synthetic area: every value of the shipped mapping -------------------------------------


def _leaves(target: object) -> int:
    if isinstance(target, Branch):
        return sum(_leaves(t) for t in target.values.values())
    return 1


def test_generator_enumerates_every_leaf_of_the_mapping(legend) -> None:
    spec = load_mapping(BGT_YAML, legend)
    assert len(mapping_cases(BGT_YAML)) == sum(_leaves(r.target) for r in spec.rules) > 150


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_synthetic_area_every_object_in_its_class(legend, area, form: str) -> None:
    objs, folder, zpath = area
    counts: dict[str, int] = {}
    log = ReadLog()
    gdf = read_bgt(folder if form == "folder" else zpath, legend=legend, crs="EPSG:28992", counts=counts, log=log)
    got = _classes(gdf)
    wrong = [(o.id, o.layer, o.values, o.expected, got.get(o.id)) for o in objs if got.get(o.id) != o.expected]
    assert not wrong, wrong[:5]
    assert len(gdf) == sum(o.expected is not None for o in objs) > 300
    # every class-mapped case of the yaml is present in the output with its class
    cases = {(lay, tuple(sorted(v.items())), t) for lay, v, t in mapping_cases(BGT_YAML) if t is not None}
    seen = {(o.layer, tuple(sorted(o.values.items())), o.expected) for o in objs if o.id in got}
    assert cases <= seen
    # geometry: polygons as written (arcs linearised, holes kept, the crest line ignored), lines buffered
    geoms = dict(zip(gdf["feature_id"], gdf.geometry, strict=True))
    for o in objs:
        if o.expected is None:
            continue
        g = geoms[o.id]
        if o.geometry.geom_type == "LineString":
            width = legend.by_name(o.expected).width_m or 1.0
            assert g.area == pytest.approx(o.geometry.length * width, rel=0.02), o.id
        else:
            assert g.area == pytest.approx(o.geometry.area, rel=0.005), o.id
            assert g.symmetric_difference(o.geometry).area < 0.01 * o.geometry.area, o.id
    # skipped objects are logged with their reason
    frame = log.to_frame()
    skipped = frame[frame["outcome"] == "skipped"].groupby("reason")["count"].sum().to_dict()
    want = Counter(o.reason for o in objs if o.expected is None and o.reason != "layer mapped to null")
    assert {k: skipped.get(k) for k in want} == dict(want)
    assert frame.loc[frame["outcome"] == "mapped", "count"].sum() == len(gdf)
    read = sum(v for k, v in counts.items() if k.endswith("_read"))
    assert read == sum(o.reason != "layer mapped to null" for o in objs)
    assert not list(folder.glob("*.gfs"))


def test_synthetic_area_reprojected(legend, area) -> None:
    objs, folder, _ = area
    rd = read_bgt(folder, legend=legend, crs=28992)
    utm = read_bgt(folder, legend=legend, crs=32631)
    assert utm.crs.to_epsg() == 32631 and len(utm) == len(rd)
    assert utm.area.sum() == pytest.approx(rd.area.sum(), rel=0.005)
    assert utm.total_bounds[0] > 500000  # UTM easting, not RD
    with pytest.raises(WerklandInputError, match="not projected"):
        read_bgt(folder, legend=legend, crs=4326)


def test_bbox_read_equals_full_read_filtered(legend, area) -> None:
    objs, folder, zpath = area
    box = (ORIGIN[0] + 110, ORIGIN[1] + 35, ORIGIN[0] + 410, ORIGIN[1] + 155)
    full = read_bgt(zpath, legend=legend, crs=28992)
    part = read_bgt(zpath, legend=legend, crs=28992, bbox=box)
    src = {o.id: o.geometry for o in objs}
    inside = full[[src[i].intersects(shapely.box(*box)) for i in full["feature_id"]]]
    assert 20 < len(part) < len(full)
    assert sorted(part["feature_id"]) == sorted(inside["feature_id"])
    a = part.set_index("feature_id").sort_index()
    b = inside.set_index("feature_id").sort_index()
    assert (a["class"] == b["class"]).all()
    assert all(shapely.equals_exact(x, y, 1e-6) for x, y in zip(a.geometry, b.geometry, strict=True))
    # the same box given in another CRS selects at least the same features
    lonlat = gpd.GeoSeries([shapely.box(*box)], crs=28992).to_crs(4326).total_bounds
    wide = read_bgt(zpath, legend=legend, crs=28992, bbox=lonlat, bbox_crs=4326)
    assert set(part["feature_id"]) <= set(wide["feature_id"])


# --- bad input -----------------------------------------------------------------------------------


def _obj(oid: str, layer: str, values: dict[str, str], x: float, **kw: object) -> AreaObject:
    return AreaObject(oid, layer, values, ORIGIN[0] + x, ORIGIN[1], **kw)  # type: ignore[arg-type]


def test_unmapped_value_inside_bbox_fails_outside_does_not(legend, tmp_path: Path) -> None:
    objs = [_obj(f"G9999.ok{i}", "BegroeidTerreindeel", {"bgt-fysiekVoorkomen": "loofbos"}, 20 * i) for i in range(3)]
    objs += [_obj(f"G9999.far{i}", "BegroeidTerreindeel", {"bgt-fysiekVoorkomen": "kunstgras"}, 5000 + 20 * i)
             for i in range(2)]
    # an ended object with an unknown value never fails
    objs.append(_obj("G9999.old", "BegroeidTerreindeel", {"bgt-fysiekVoorkomen": "oud"}, 40, ended="eindRegistratie"))
    write_gml(tmp_path / "bgt_begroeidterreindeel.gml", "BegroeidTerreindeel", objs)
    near = (ORIGIN[0], ORIGIN[1], ORIGIN[0] + 100, ORIGIN[1] + 30)
    gdf = read_bgt(tmp_path, legend=legend, crs=28992, bbox=near)
    assert sorted(gdf["feature_id"]) == ["G9999.ok0", "G9999.ok1", "G9999.ok2"]
    assert set(gdf["class"]) == {"woodland"}
    for bbox in (None, (ORIGIN[0] + 4990, ORIGIN[1], ORIGIN[0] + 5100, ORIGIN[1] + 30)):
        with pytest.raises(WerklandInputError) as err:
            read_bgt(tmp_path, legend=legend, crs=28992, bbox=bbox)
        msg = str(err.value)
        assert "BegroeidTerreindeel" in msg and "'bgt-fysiekVoorkomen'" in msg and "'kunstgras'" in msg
        assert "on 2 feature(s)" in msg and "'oud'" not in msg and "bgt_begroeidterreindeel.gml" in msg
        assert "layers.BegroeidTerreindeel.bgt-fysiekVoorkomen" in msg and "Traceback" not in msg


def test_unmapped_nested_value_names_the_second_attribute(legend, tmp_path: Path) -> None:
    objs = [_obj("G9999.w1", "Wegdeel", {"bgt-functie": "fietspad", "bgt-fysiekVoorkomen": "beton"}, 0)]
    write_gml(tmp_path / "bgt_wegdeel.gml", "Wegdeel", objs)
    with pytest.raises(WerklandInputError, match=r"Wegdeel .*'bgt-fysiekVoorkomen' value 'beton' on 1 feature"):
        read_bgt(tmp_path, legend=legend, crs=28992)


def test_only_unknown_object_types(legend, tmp_path: Path) -> None:
    write_gml(tmp_path / "bgt_kabel.gml", "Kabel", [_obj("G9999.k1", "Kabel", {"bgt-type": "x"}, 0)])
    with pytest.raises(WerklandInputError, match=r"none of its object types .* Kabel") as err:
        read_bgt(tmp_path, legend=legend, crs=28992)
    assert "bgt.yaml under layers:" in str(err.value)
    # next to known types, an unknown type is still named
    write_gml(tmp_path / "bgt_pand.gml", "Pand", [_obj("G9999.p1", "Pand", {}, 40, shape="multi")])
    with pytest.raises(WerklandInputError, match=r"not in the mapping: Kabel \(.*bgt_kabel.gml\)"):
        read_bgt(tmp_path, legend=legend, crs=28992)


def test_empty_zip_and_zip_without_gml(legend, tmp_path: Path) -> None:
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(WerklandInputError, match="the zip file is empty") as err:
        read_bgt(empty, legend=legend, crs=28992)
    assert str(empty) in str(err.value) and "fix:" in str(err.value)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "no data")
    with pytest.raises(WerklandInputError, match="contains no GML-light files"):
        read_bgt(other, legend=legend, crs=28992)


def test_file_without_gml_light_object_types(legend, tmp_path: Path) -> None:
    plain = tmp_path / "roads.gml"
    plain.write_text('<?xml version="1.0"?><gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml">'
                     "<gml:featureMember><Road><name>x</name></Road></gml:featureMember></gml:FeatureCollection>")
    with pytest.raises(WerklandInputError, match="has no GML-light object types") as err:
        read_bgt(plain, legend=legend, crs=28992)
    assert "roads.gml" in str(err.value)
    city = tmp_path / "city" / "bgt_wegdeel.gml"
    city.parent.mkdir()
    city.write_text('<?xml version="1.0"?><CityModel xmlns:imgeo="http://www.geostandaarden.nl/imgeo/2.1">'
                    "<cityObjectMember/></CityModel>")
    with pytest.raises(WerklandInputError, match="CityGML, not GML-light"):
        read_bgt(city.parent, legend=legend, crs=28992)
    with pytest.raises(WerklandInputError, match="file not found"):
        read_bgt(tmp_path / "missing.zip", legend=legend, crs=28992)


def test_bad_mapping_names_the_key(legend, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"layers": {"Wegdeel": {"bgt-functie": {"fietspad": "bikeway"}}}}))
    with pytest.raises(WerklandInputError, match=r"layers.Wegdeel.bgt-functie.fietspad.*'bikeway' is not in the legend"):
        load_mapping(bad, legend)


# --- BGT as GeoPackage and the generic reader --------------------------------------------------


def test_bgt_geopackage_layers(legend, tmp_path: Path) -> None:
    gpkg = tmp_path / "bgt.gpkg"
    x0, y0 = ORIGIN
    weg = gpd.GeoDataFrame(
        {"lokaalid": ["G1.a", "G1.b", "G1.c"], "bgt_functie": ["rijbaan lokale weg", "fietspad", "voetpad"],
         "bgt_fysiekvoorkomen": ["gesloten verharding", "half verhard", "open verharding"],
         "relatievehoogteligging": [0, 0, 1]},
        geometry=[shapely.box(x0, y0, x0 + 10, y0 + 10), shapely.box(x0 + 20, y0, x0 + 30, y0 + 10),
                  shapely.box(x0 + 40, y0, x0 + 50, y0 + 10)], crs=28992)
    wall = gpd.GeoDataFrame({"lokaalid": ["G1.d"], "bgt_type": ["geluidsscherm"], "relatievehoogteligging": [0]},
                            geometry=[shapely.LineString([(x0, y0 + 20), (x0 + 50, y0 + 20)])], crs=28992)
    weg.to_file(gpkg, layer="bgt_wegdeel_V", engine="pyogrio")
    wall.to_file(gpkg, layer="bgt_scheiding_L", engine="pyogrio")
    mapping = tmp_path / "bgt_gpkg.yaml"
    raw = yaml.safe_load(BGT_YAML.read_text(encoding="utf-8"))
    raw["id_field"] = "lokaalid"
    mapping.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    log = ReadLog()
    gdf = read_bgt(gpkg, legend=legend, crs=28992, mapping_path=mapping, log=log)
    assert _classes(gdf) == {"G1.a": "road_minor", "G1.b": "track_path", "G1.d": "building"}
    wall_area = gdf.loc[gdf["feature_id"] == "G1.d"].area.iloc[0]
    assert wall_area == pytest.approx(50 * 1.0)  # building has no width_m: 1 m wide
    assert log.to_frame().query("reason == 'level 1'")["count"].tolist() == [1]


def _walk_targets(target: object) -> list[str | None]:
    if isinstance(target, Branch):
        return [x for t in target.values.values() for x in _walk_targets(t)]
    return [target]  # type: ignore[list-item]


def test_top10nl_mapping_validates(legend) -> None:
    spec = load_mapping(TOP10NL_YAML, legend)
    targets = {t for r in spec.rules for t in _walk_targets(r.target)} - {None}
    assert targets <= set(legend.names) and len(spec.rules) == 5 and spec.skip_unlisted
    assert spec.rule_for("top10nl_wegdeel_hartlijn").key == "Wegdeel"
    assert spec.rule_for("top10nl_terrein_vlak").key == "Terrein"


def test_read_mapped_layers_top10nl_geopackage(legend, tmp_path: Path) -> None:
    gpkg = tmp_path / "top10nl.gpkg"
    x0, y0 = ORIGIN
    terrein = gpd.GeoDataFrame(
        {"typelandgebruik": ["bos: loofbos", "grasland", "akkerland"]},
        geometry=[shapely.box(x0 + 100 * i, y0, x0 + 100 * i + 80, y0 + 80) for i in range(3)], crs=28992)
    wegen = gpd.GeoDataFrame(
        {"typeweg": ["lokale weg", "lokale weg", "autosnelweg"], "verhardingstype": ["verhard", "onverhard", "verhard"],
         "hoogteniveau": [0, 0, 1]},
        geometry=[shapely.LineString([(x0, y0 + 200 + 20 * i), (x0 + 100, y0 + 200 + 20 * i)]) for i in range(3)],
        crs=28992)
    hek = gpd.GeoDataFrame({"typeinrichtingselement": ["hek"]},
                           geometry=[shapely.LineString([(x0, y0 - 10), (x0 + 50, y0 - 10)])], crs=28992)
    terrein.to_file(gpkg, layer="top10nl_terrein_vlak", engine="pyogrio")
    wegen.to_file(gpkg, layer="top10nl_wegdeel_hartlijn", engine="pyogrio")
    hek.to_file(gpkg, layer="top10nl_inrichtingselement_lijn", engine="pyogrio")
    counts: dict[str, int] = {}
    gdf = read_mapped_layers(gpkg, TOP10NL_YAML, legend=legend, crs=28992, source_label="top10nl", counts=counts)
    assert gdf["class"].tolist() == ["woodland", "meadow", "cropland", "road_minor", "track_path"]
    assert set(gdf["source"]) == {"top10nl"} and set(gdf["layer"]) == {"Terrein", "Wegdeel"}
    roads = gdf[gdf["layer"] == "Wegdeel"]
    assert roads.area.tolist() == pytest.approx([100 * legend.by_name("road_minor").width_m,
                                                100 * legend.by_name("track_path").width_m])
    assert counts["top10nl_Wegdeel_skipped_level"] == 1 and counts["top10nl_Terrein_mapped"] == 3
    # bbox in the output CRS: only the first terrain polygon
    part = read_mapped_layers(gpkg, TOP10NL_YAML, legend=legend, crs=28992, bbox=(x0, y0, x0 + 50, y0 + 50))
    assert part["class"].tolist() == ["woodland"]
    # an unmapped value names layer, field, value and count
    gpd.GeoDataFrame({"typelandgebruik": ["maanlandschap"]}, geometry=[shapely.box(x0, y0, x0 + 1, y0 + 1)],
                     crs=28992).to_file(gpkg, layer="top10nl_terrein_vlak", engine="pyogrio", mode="a")
    with pytest.raises(WerklandInputError, match=r"Terrein .*'typelandgebruik' value 'maanlandschap' on 1 feature"):
        read_mapped_layers(gpkg, TOP10NL_YAML, legend=legend, crs=28992)


def test_area_without_features_gives_an_empty_frame(legend, tmp_path: Path) -> None:
    write_gml(tmp_path / "bgt_wegdeel.gml", "Wegdeel", [])  # PDOK delivers empty files for absent types
    log = ReadLog()
    gdf = read_bgt(tmp_path, legend=legend, crs=28992, log=log)
    assert len(gdf) == 0 and gdf.crs.to_epsg() == 28992
    assert ["class", "source", "layer", "feature_id", "identificatieBAGPND"] == list(gdf.columns.drop("geometry"))
    assert log.to_frame()[["layer", "reason", "count"]].values.tolist() == [["Wegdeel", "no features", 0]]
