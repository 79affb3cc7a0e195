"""Land-cover readers, overlap priority, buffering, rasterisation and bad inputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS

from werkland._errors import WerklandInputError
from werkland.landcover import (
    build_region,
    classify_osm_lines,
    classify_osm_polygons,
    rasterize_landcover,
    read_raster_classes,
    read_vector_classes,
    resolve_overlaps,
    run_landcover,
)
from werkland.raster.io import Grid, read_raster

from ..conftest import LEGEND, shared_file

RD = CRS.from_epsg(28992)


def _gdf(rows):
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=RD)


def test_overlap_priority_building_beats_grass(legend):
    region = shapely.box(0, 0, 100, 100)
    feats = _gdf([
        {"class": "grass", "source": "t", "geometry": shapely.box(0, 0, 100, 100)},
        {"class": "building", "source": "t", "geometry": shapely.box(20, 20, 40, 40)},
        {"class": "road_main", "source": "t", "geometry": shapely.box(0, 60, 100, 70)},
    ])
    out = resolve_overlaps(feats, legend, region)
    areas = out.groupby("class")["area_m2"].sum()
    assert areas["building"] == pytest.approx(400)
    assert areas["road_main"] == pytest.approx(1000)
    assert areas["grass"] == pytest.approx(10000 - 400 - 1000)
    # no overlaps left: total area equals the region
    assert out["area_m2"].sum() == pytest.approx(10000)
    assert shapely.union_all(out.geometry.values).area == pytest.approx(10000)


def test_rasterize_priority_and_nodata_outside(legend):
    grid = Grid.from_bounds((0, 0, 100, 100), 10, RD)
    region = shapely.box(0, 0, 100, 50)
    feats = _gdf([
        {"class": "grass", "source": "t", "geometry": shapely.box(0, 0, 100, 100)},
        {"class": "parking", "source": "t", "geometry": shapely.box(0, 0, 50, 50)},
    ])
    codes = rasterize_landcover(feats, legend, grid, region)
    assert codes.dtype == np.uint8
    assert (codes[:5, :] == 0).all()  # north half outside the region -> nodata
    assert (codes[5:, :5] == legend.code("parking")).all()
    assert (codes[5:, 5:] == legend.code("grass")).all()


def test_thin_road_stays_continuous(legend):
    """A 7 m road drawn diagonally stays 8-connected at 10 m (all_touched for continuous classes)."""
    from skimage.measure import label

    grid = Grid.from_bounds((0, 0, 500, 500), 10, RD)
    line = shapely.LineString([(0, 3), (497, 480)])
    road = shapely.buffer(line, 3.5, cap_style="flat")
    feats = _gdf([{"class": "road_minor", "source": "t", "geometry": road}])
    codes = rasterize_landcover(feats, legend, grid, shapely.box(0, 0, 500, 500), fill_class="grass")
    mask = codes == legend.code("road_minor")
    assert mask.sum() > 40
    # 4-connected: animals moving between 4-neighbours cannot slip through a diagonal gap
    assert label(mask, connectivity=1).max() == 1


def test_osm_classification_rules():
    polys = pd.DataFrame({
        "building": ["yes", None, None, None, None, None],
        "landuse": ["industrial", "grass", "industrial", None, "forest", None],
        "amenity": [None, None, None, "parking", None, None],
        "leisure": [None, None, None, None, None, "pitch"],
        "natural": [None] * 6,
        "surface": [None, None, None, None, None, "artificial_turf"],
    })
    assert classify_osm_polygons(polys).tolist() == ["building", "grass", "built_area", "parking", "woodland", "sealed"]
    lines = pd.DataFrame({
        "highway": ["motorway", "residential", "footway", None, None, "primary"],
        "railway": [None, None, None, "rail", None, None],
        "waterway": [None, None, None, None, "ditch", None],
        "barrier": [None] * 6,
        "tunnel": [None, None, None, None, None, "yes"],
    })
    cls, kind, width = classify_osm_lines(lines)
    assert cls.tolist()[:5] == ["road_motorway", "road_minor", "track_path", "railway", "waterway"]
    assert pd.isna(cls.iloc[5])  # tunnel does not cut the surface
    assert width.iloc[4] == 2.0  # ditch narrower than the legend's default waterway
    assert kind.iloc[0] == "highway=motorway"


def test_vector_reader_mapping_and_line_buffer(tmp_path, legend):
    p = tmp_path / "cover.gpkg"
    gpd.GeoDataFrame(
        {"klasse": ["gras", "weg", "pand"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.LineString([(0, 50), (100, 50)]), shapely.box(10, 10, 20, 20)],
        crs=RD,
    ).to_file(p)
    gdf = read_vector_classes(p, class_field="klasse", mapping={"gras": "grass", "weg": "road_main", "pand": "building"},
                              legend=legend, crs=RD)
    road = gdf[gdf["class"] == "road_main"].geometry.iloc[0]
    assert road.area == pytest.approx(100 * legend.by_name("road_main").width_m)
    with pytest.raises(WerklandInputError, match=r"cover\.gpkg.*'pand'.*fix: add them"):
        read_vector_classes(p, class_field="klasse", mapping={"gras": "grass", "weg": "road_main"}, legend=legend, crs=RD)
    with pytest.raises(WerklandInputError, match=r"class 'lawn' is not in the legend"):
        read_vector_classes(p, class_field="klasse", mapping={"gras": "lawn", "weg": "road_main", "pand": "building"},
                            legend=legend, crs=RD)
    with pytest.raises(WerklandInputError, match="has no field 'class'"):
        read_vector_classes(p, class_field="class", mapping=None, legend=legend, crs=RD)


_TRANSFORM = Affine(10, 0, 0, 0, -10, 100)


def _write_raster(path, arr, crs="EPSG:28992", transform=_TRANSFORM, nodata=255):
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1,
                       dtype=arr.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(arr, 1)


def test_raster_reader_worldcover_codes(tmp_path, legend):
    arr = np.full((10, 10), 10, dtype=np.uint8)  # WorldCover 10 = tree cover
    arr[:, 5:] = 50  # built-up
    arr[0, 0] = 255
    p = tmp_path / "wc.tif"
    _write_raster(p, arr)
    grid = Grid.from_bounds((0, 0, 100, 100), 10, RD)
    codes = read_raster_classes(p, mapping={10: "woodland", 50: "built_area"}, legend=legend, grid=grid)
    assert codes[0, 0] == 0
    assert (codes[1:, :5] == legend.code("woodland")).all()
    assert (codes[:, 5:] == legend.code("built_area")).all()
    with pytest.raises(WerklandInputError, match=r"raster values without a legend class: \[50\]"):
        read_raster_classes(p, mapping={10: "woodland"}, legend=legend, grid=grid)


def test_raster_without_crs(tmp_path, legend):
    p = tmp_path / "nocrs.tif"
    _write_raster(p, np.ones((4, 4), dtype=np.uint8), crs=None)
    with pytest.raises(WerklandInputError, match=r"nocrs\.tif: raster has no CRS -- fix: assign one"):
        read_raster_classes(p, mapping={1: "grass"}, legend=legend, grid=Grid.from_bounds((0, 0, 40, 40), 10, RD))


def test_raster_not_overlapping_region(tmp_path, legend):
    p = tmp_path / "far.tif"
    _write_raster(p, np.ones((4, 4), dtype=np.uint8), transform=Affine(10, 0, 200000, 0, -10, 500000))
    with pytest.raises(WerklandInputError, match="does not overlap the region"):
        read_raster_classes(p, mapping={1: "grass"}, legend=legend, grid=Grid.from_bounds((0, 0, 40, 40), 10, RD))


def _demo_pbf():
    from werkland.demo import demo_pbf_path

    return demo_pbf_path()


def _outputs(tmp_path):
    return tmp_path / "region.gpkg", tmp_path / "landcover.gpkg", tmp_path / "landcover.tif"


def test_osm_demo_region_end_to_end(tmp_path, legend):
    region, gpkg, tif = _outputs(tmp_path)
    counts = run_landcover([{"type": "osm", "path": _demo_pbf()}], LEGEND, region, gpkg, tif,
                           context_buffer_m=300, parks_spec={"from_landuse": ["industrial"], "min_area_m2": 10000})
    # OSM has invalid rings: they are repaired or dropped and counted
    assert counts.get("osm_multipolygons_dropped_unrepairable", 0) + counts.get("osm_polygons_repaired", 0) > 0
    codes, grid, nodata = read_raster(tif)
    assert grid.crs.to_epsg() == 32635 and grid.res_m == 10 and nodata == 0
    lc = gpd.read_file(gpkg, layer="landcover")
    assert {"class", "source", "area_m2"} <= set(lc.columns)
    assert set(lc["class"]) <= set(legend.names)
    assert {"building", "road_motorway", "woodland"} <= set(lc["class"])
    parks = gpd.read_file(region, layer="parks")
    assert len(parks) >= 1 and parks["park_id"].is_unique and (parks["area_m2"] >= 10000).all()
    reg = gpd.read_file(region, layer="region")
    # land-cover polygons tile the region: their area equals the region area (to 0.1 %)
    assert lc["area_m2"].sum() == pytest.approx(reg.geometry.area.iloc[0], rel=1e-3)
    # raster and vector agree on the building share within a few percent
    share_raster = (codes == legend.code("building")).sum() / (codes > 0).sum()
    share_vector = lc.loc[lc["class"] == "building", "area_m2"].sum() / lc["area_m2"].sum()
    assert share_raster == pytest.approx(share_vector, abs=0.03)


def test_corrupt_and_missing_pbf_leave_no_output(tmp_path):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf" * 50)
    outs = _outputs(tmp_path)
    with pytest.raises(WerklandInputError, match=r"broken\.osm\.pbf: cannot read.*fix:"):
        run_landcover([{"type": "osm", "path": str(bad)}], LEGEND, *outs)
    with pytest.raises(WerklandInputError, match=r"missing\.osm\.pbf: file not found"):
        run_landcover([{"type": "osm", "path": str(tmp_path / "missing.osm.pbf")}], LEGEND, *outs)
    assert not any(p.exists() for p in outs)
    assert list(tmp_path.iterdir()) == [bad]  # no temporary leftovers either


def test_truncated_pbf(tmp_path):
    src = open(_demo_pbf(), "rb").read()
    bad = tmp_path / "cut.osm.pbf"
    bad.write_bytes(src[: len(src) // 2])
    with pytest.raises(WerklandInputError, match=r"cut\.osm\.pbf"):
        run_landcover([{"type": "osm", "path": str(bad)}], LEGEND, *_outputs(tmp_path),
                      parks_spec={"from_landuse": ["industrial"]})


def test_region_without_parks_or_overlap(tmp_path, legend):
    with pytest.raises(WerklandInputError, match="no business parks"):
        build_region([{"type": "osm", "path": _demo_pbf()}], legend=legend, crs_setting="auto", resolution_m=10,
                     context_buffer_m=100, parks_spec={"from_landuse": ["industrial"], "names": ["No Such Park"]})
    # a clip box far from the data: nothing to read
    with pytest.raises(WerklandInputError, match="no OpenStreetMap features|no business parks"):
        build_region([{"type": "osm", "path": _demo_pbf()}], legend=legend, crs_setting="auto", resolution_m=10,
                     context_buffer_m=100, parks_spec={}, clip_lonlat=[5.0, 52.0, 5.01, 52.01])


def test_parks_file_bad_id_field(tmp_path, legend):
    parks = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"id": ["a", "a"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=4326).to_file(parks)
    with pytest.raises(WerklandInputError, match="duplicate or empty ids"):
        build_region([{"type": "osm", "path": _demo_pbf()}], legend=legend, crs_setting="auto", resolution_m=10,
                     context_buffer_m=100, parks_spec={"file": str(parks), "id_field": "id"})
    with pytest.raises(WerklandInputError, match="has no field 'park_id'"):
        build_region([{"type": "osm", "path": _demo_pbf()}], legend=legend, crs_setting="auto", resolution_m=10,
                     context_buffer_m=100, parks_spec={"file": str(parks)})


@pytest.mark.shared
def test_delft_schieoevers(tmp_path, legend):
    pbf = shared_file("delft-schieoevers-osm", "tudelft_core_bbox.osm.pbf")
    region, gpkg, tif = _outputs(tmp_path)
    run_landcover([{"type": "osm", "path": str(pbf)}], LEGEND, region, gpkg, tif, context_buffer_m=1000,
                  parks_spec={"from_landuse": ["industrial"], "names": ["Schieoevers Noord"]},
                  clip_lonlat=[4.355, 51.995, 4.386, 52.005])
    codes, grid, _ = read_raster(tif)
    assert grid.crs.to_epsg() == 28992
    parks = gpd.read_file(region, layer="parks")
    assert parks["park_id"].tolist() == ["osm242823156"]
    # SOURCE.md: 27.7 ha of the park lie inside the core box
    assert parks["area_m2"].iloc[0] / 1e4 == pytest.approx(27.7, abs=0.5)
    lc = gpd.read_file(gpkg, layer="landcover")
    present = set(lc["class"])
    assert {"building", "open_water", "waterway", "railway", "road_main", "grass", "hedgerow"} <= present
    lines = gpd.read_file(gpkg, layer="lines")
    assert {"class", "kind", "road_class", "width_m"} <= set(lines.columns)
    assert (lines["kind"] == "railway=rail").any()
