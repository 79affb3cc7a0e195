"""Land-cover readers, overlap priority, buffering, rasterisation, windowed reads and bad inputs."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.transform
import rasterio.warp
import shapely
import yaml
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling

from werkland._errors import WerklandInputError
from werkland.config import region_settings, validate_config
from werkland.landcover import (
    build_region,
    classify_osm_lines,
    classify_osm_polygons,
    demo_pbf_path,
    rasterize_landcover,
    read_parks_file,
    read_raster_classes,
    read_vector_classes,
    remove_street_running_trams,
    resolve_overlaps,
    run_landcover,
)
from werkland.landcover.raster_source import region_window
from werkland.params import LandcoverParams
from werkland.raster.io import Grid, read_raster

from ..conftest import LEGEND, ROOT, shared_file

RD = CRS.from_epsg(28992)


def _gdf(rows):
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=RD)


def _params(sources, *, parks=None, **settings) -> LandcoverParams:
    """LandcoverParams of a test region: the schema defaults, with ``settings`` over them."""
    cfg = {"legend": str(LEGEND), "guilds_table": str(ROOT / "config" / "guilds.yaml"), "guilds": ["hedgehog"],
           "regions": {"t": {"land_cover": [{"type": "osm", "path": "x"}], **settings,
                             **({"parks": parks} if parks is not None else {})}}}
    validate_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    p = LandcoverParams.from_region(region_settings(cfg)["t"])
    return replace(p, sources=LandcoverParams.from_region({**region_settings(cfg)["t"], "land_cover": sources}).sources)


def test_params_from_region_round_trip():
    p = _params([{"type": "raster", "path": "wc.tif", "mapping": {10: "woodland"}}], context_buffer_m=300,
                parks={"file": "parks.gpkg", "ids": ["a"]}, clip_lonlat=[5, 52, 5.1, 52.1])
    assert p.resolution_m == 10 and p.crs == "auto" and p.fill_class == "grass"  # schema defaults
    assert p.parks.id_field == "park_id" and p.parks.ids == ("a",) and p.clip_lonlat == (5, 52, 5.1, 52.1)
    assert LandcoverParams.from_dict(p.as_dict()) == p
    with pytest.raises(WerklandInputError, match="unknown source type 'wms'"):
        LandcoverParams.from_region({"land_cover": [{"type": "wms", "path": "x"}]})
    with pytest.raises(WerklandInputError, match="config: region: missing 'parks' -- fix: validate the config"):
        LandcoverParams.from_region({"land_cover": [{"type": "osm", "path": "x"}]})


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


def test_embedded_tram_and_tram_on_a_highway_are_street():
    lines = pd.DataFrame({
        "highway": [None, None, "tertiary", None],
        "railway": ["tram", "tram", "tram", "rail"],
        "embedded": ["yes", None, None, "yes"],
    })
    cls, kind, _ = classify_osm_lines(lines)
    assert pd.isna(cls.iloc[0])  # rails embedded in the road surface: no railway of their own
    assert cls.iloc[1] == "railway"  # a tram on its own track stays a railway (unless it runs in a street)
    assert cls.iloc[2] == "road_minor" and kind.iloc[2] == "highway=tertiary"  # one way, both tags: the street
    assert cls.iloc[3] == "railway"  # only trams


def _lines(rows):
    base = {"road_class": None, "bridge": False, "source": "osm", "osm_id": "1"}
    return gpd.GeoDataFrame([{**base, **r} for r in rows], geometry="geometry", crs=RD)


def test_street_running_tram_becomes_street(legend):
    """A tram laid in a street's carriageway is not burnt as an 8 m railway; its own track and a
    level crossing of another street stay railway."""
    street = shapely.LineString([(0, 0), (300, 0)])
    tram = shapely.LineString([(0, 1), (200, 1), (200, 200)])  # 200 m in the street, then its own track
    cross = shapely.LineString([(180, 100), (220, 100)])  # a 7 m street crossing the own track
    lines = _lines([
        {"class": "road_minor", "kind": "highway=residential", "width_m": 7.0, "geometry": street},
        {"class": "road_minor", "kind": "highway=residential", "width_m": 7.0, "geometry": cross},
        {"class": "railway", "kind": "railway=tram", "width_m": 8.0, "geometry": tram},
        {"class": "railway", "kind": "railway=rail", "width_m": 8.0, "geometry": shapely.LineString([(0, 2), (300, 2)])},
    ])
    counts: dict[str, int] = {}
    out = remove_street_running_trams(lines, counts=counts)
    t = out[out["kind"] == "railway=tram"].geometry.iloc[0]
    assert t.length == pytest.approx(200 - 3.5, abs=0.05)  # the street run is gone, the own track (and crossing) kept
    assert t.intersects(shapely.Point(200, 100)) and not t.intersects(shapely.box(0, -3, 190, 3))
    assert out[out["kind"] == "railway=rail"].geometry.iloc[0].length == 300  # real railways untouched
    assert counts["osm_trams_street_running"] == 1
    assert abs(counts["osm_tram_street_running_m"] - 202.5) <= 1  # 200 m + 2.5 m of the turn
    # rasterised: the street carries no railway cells, the own track does
    buf = out.assign(geometry=out.geometry.buffer(out["width_m"] / 2, cap_style="flat"))
    grid = Grid.from_bounds((-10, -20, 310, 210), 10, RD)
    codes = rasterize_landcover(buf[buf["kind"] != "railway=rail"], legend, grid, shapely.box(-10, -20, 310, 210),
                                fill_class="grass")
    row0, _ = rasterio.transform.rowcol(grid.transform, 100, 5)  # cells along y = 0..10
    assert (codes[row0, 1:19] == legend.code("road_minor")).all()
    assert (codes[:15, 21] == legend.code("railway")).any()
    # a tram wholly in the street is dropped
    only = remove_street_running_trams(lines.iloc[[0, 2]].assign(geometry=[street, shapely.LineString([(10, 0), (250, 0)])]))
    assert (only["kind"] == "railway=tram").sum() == 0


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
    assert set(gdf["source"]) == {"vector"} and set(gdf["source_file"]) == {"cover.gpkg"}
    with pytest.raises(WerklandInputError, match=r"cover\.gpkg.*'pand'.*fix: add them"):
        read_vector_classes(p, class_field="klasse", mapping={"gras": "grass", "weg": "road_main"}, legend=legend, crs=RD)
    with pytest.raises(WerklandInputError, match=r"class 'lawn' is not in the legend"):
        read_vector_classes(p, class_field="klasse", mapping={"gras": "lawn", "weg": "road_main", "pand": "building"},
                            legend=legend, crs=RD)
    with pytest.raises(WerklandInputError, match="has no field 'class'"):
        read_vector_classes(p, class_field="class", mapping=None, legend=legend, crs=RD)


def _national_vector(tmp_path: Path, crs: CRS = RD) -> Path:
    """A 'national' layer: a 30 x 30 checkerboard of 100 m squares, roads, and an unmapped value far away."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(30):
        for j in range(30):
            rows.append({"klasse": rng.choice(["gras", "bos", "pand"]), "geometry": shapely.box(i * 100, j * 100, i * 100 + 100, j * 100 + 100)})
    rows += [{"klasse": "weg", "geometry": shapely.LineString([(0, y), (3000, y + 37)])} for y in (455.0, 1210.0, 2700.0)]
    rows.append({"klasse": "mysterie", "geometry": shapely.box(2800, 2800, 2900, 2900)})  # outside the test region
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=RD).to_crs(crs)
    p = tmp_path / "national.gpkg"
    gdf.to_file(p)
    return p


_MAP = {"gras": "grass", "bos": "woodland", "pand": "building", "weg": "road_main"}


@pytest.mark.parametrize("file_crs", [28992, 4326])
def test_vector_windowed_read_equals_full_read(tmp_path, legend, file_crs):
    p = _national_vector(tmp_path, CRS.from_epsg(file_crs))
    region = shapely.Point(1000, 1000).buffer(218)  # meets the road at y ~ 1222 only through its 14 m buffer
    full_map = {**_MAP, "mysterie": None}
    full = read_vector_classes(p, class_field="klasse", mapping=full_map, legend=legend, crs=RD)
    part = read_vector_classes(p, class_field="klasse", mapping=_MAP, legend=legend, crs=RD, region=region)
    assert len(part) < len(full) / 5  # only the features around the region were read
    grid = Grid.from_bounds(region.bounds, 10, RD)
    np.testing.assert_array_equal(rasterize_landcover(part, legend, grid, region, fill_class="grass"),
                                  rasterize_landcover(full, legend, grid, region, fill_class="grass"))
    a, b = (resolve_overlaps(f, legend, region, fill_class="grass") for f in (part, full))
    assert a[["class", "source", "source_file"]].equals(b[["class", "source", "source_file"]])
    assert np.allclose(a["area_m2"], b["area_m2"], rtol=0, atol=1e-6)
    road = part[part["class"] == "road_main"]
    assert len(road) == 1 and road.geometry.intersects(region).all()
    assert not shapely.LineString([(0, 1210.0), (3000, 1247.0)]).intersects(region)  # the centre line lies outside


def test_vector_unmapped_value_only_inside_the_region_fails(tmp_path, legend):
    p = _national_vector(tmp_path)
    # 'mysterie' lies only outside: no error
    read_vector_classes(p, class_field="klasse", mapping=_MAP, legend=legend, crs=RD, region=shapely.box(0, 0, 500, 500))
    with pytest.raises(WerklandInputError, match=r"national\.gpkg: layer 'national', field 'klasse': values without a "
                                                 r"legend class inside the region: 'mysterie' \(1 feature\)"):
        read_vector_classes(p, class_field="klasse", mapping=_MAP, legend=legend, crs=RD,
                            region=shapely.box(2500, 2500, 3000, 3000))
    with pytest.raises(WerklandInputError, match=r"'bos' \(\d+ features\)"):
        read_vector_classes(p, class_field="klasse", mapping={k: v for k, v in _MAP.items() if k != "bos"},
                            legend=legend, crs=RD, region=shapely.box(0, 0, 500, 500))


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
    with pytest.raises(WerklandInputError, match=r"raster values without a legend class: \[50\] \(band 1, inside "
                                                 r"the region: value 50 on 50 cells\)"):
        read_raster_classes(p, mapping={10: "woodland"}, legend=legend, grid=grid)


def _full_read_reference(path, mapping, legend, grid):
    """The reader before windowing: the whole raster mapped, then resampled (nearest)."""
    arr, src_grid, nodata = read_raster(path)
    lut = np.zeros(256, dtype=np.uint8)
    for k, name in mapping.items():
        lut[k] = legend.code(name) if name else 0
    codes = np.where(arr == nodata, 0, lut[arr])
    out = np.zeros(grid.shape, dtype=np.uint8)
    rasterio.warp.reproject(codes.astype(np.uint8), out, src_transform=src_grid.transform, src_crs=src_grid.crs.to_wkt(),
                            dst_transform=grid.transform, dst_crs=grid.crs.to_wkt(), src_nodata=0, dst_nodata=0,
                            resampling=Resampling.nearest)
    return out


@pytest.mark.parametrize(("src_crs", "res"), [("EPSG:28992", 4.0), ("EPSG:3035", 7.0)])
def test_raster_windowed_read_equals_full_read(tmp_path, legend, src_crs, res):
    """A 'national' class raster: only the region's window is read, and the result equals a full read."""
    rng = np.random.default_rng(3)
    arr = rng.choice(np.array([10, 20, 30, 50, 255], dtype=np.uint8), size=(1500, 1500))
    arr[1400:, 1400:] = 99  # an unmapped value far from the region
    centre = rasterio.warp.transform("EPSG:28992", src_crs, [85000], [445000])
    transform = Affine(res, 0, centre[0][0] - 750 * res, 0, -res, centre[1][0] + 750 * res)
    p = tmp_path / "national.tif"
    _write_raster(p, arr, crs=src_crs, transform=transform)
    mapping = {10: "woodland", 20: "shrub", 30: "grass", 50: "built_area"}
    grid = Grid.from_bounds((84000, 444000, 85500, 445700), 10, RD)
    region = shapely.box(*grid.bounds)
    got = read_raster_classes(p, mapping=mapping, legend=legend, grid=grid, region=region)
    np.testing.assert_array_equal(got, _full_read_reference(p, {**mapping, 99: None}, legend, grid))
    with rasterio.open(p) as ds:
        w = region_window(ds, grid)
        assert w.width * w.height < 0.25 * ds.width * ds.height  # a window, not the nation


def test_raster_unmapped_value_outside_the_region_passes(tmp_path, legend):
    arr = np.full((10, 10), 10, dtype=np.uint8)
    arr[:, 8:] = 60  # unmapped, in the two eastern columns only
    p = tmp_path / "wc.tif"
    _write_raster(p, arr)
    grid = Grid.from_bounds((0, 0, 100, 100), 10, RD)
    codes = read_raster_classes(p, mapping={10: "woodland"}, legend=legend, grid=grid, region=shapely.box(0, 0, 60, 100))
    assert (codes[:, :6] == legend.code("woodland")).all()
    with pytest.raises(WerklandInputError, match=r"wc\.tif: raster values without a legend class: \[60\] "
                                                 r"\(band 1, inside the region: value 60 on 10 cells\)"):
        read_raster_classes(p, mapping={10: "woodland"}, legend=legend, grid=grid, region=shapely.box(0, 0, 85, 100))


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


def test_all_nodata_raster_says_so(tmp_path, legend):
    p = tmp_path / "empty.tif"
    _write_raster(p, np.full((10, 10), 255, dtype=np.uint8))
    grid = Grid.from_bounds((0, 0, 100, 100), 10, RD)
    with pytest.raises(WerklandInputError, match=r"empty\.tif: has no data in the region: every cell there is "
                                                 r"nodata \(255\.0\)") as err:
        read_raster_classes(p, mapping={1: "grass"}, legend=legend, grid=grid)
    assert "overlap" not in str(err.value)
    q = tmp_path / "null.tif"
    _write_raster(q, np.full((10, 10), 7, dtype=np.uint8))
    with pytest.raises(WerklandInputError, match=r"null\.tif: every value on the region's cells is mapped to null"):
        read_raster_classes(q, mapping={7: None}, legend=legend, grid=grid)


def _outputs(tmp_path):
    return tmp_path / "region.gpkg", tmp_path / "landcover.gpkg", tmp_path / "landcover.tif"


def _parks_file(tmp_path, geoms, ids, crs=RD, name="parks.gpkg"):
    p = tmp_path / name
    gpd.GeoDataFrame({"park_id": ids, "naam": [f"park {i}" for i in ids]}, geometry=geoms, crs=crs).to_file(p)
    return p


def test_vector_and_raster_sources_with_a_parks_file(tmp_path, legend, caplog):
    """A region from a parks file over a national vector layer and raster: sources named by type,
    raster cells that no vector covers as polygons with source ``raster``, nothing read from far away."""
    vec = _national_vector(tmp_path)
    arr = np.full((400, 400), 30, dtype=np.uint8)
    arr[:, :200] = 10
    ras = tmp_path / "wc.tif"
    _write_raster(ras, arr, transform=Affine(10, 0, -500, 0, -10, 3500))
    gaps = tmp_path / "gaps.gpkg"  # the vector layer with a hole: the raster shows through it
    g = gpd.read_file(vec)
    g[~g.geometry.intersects(shapely.box(1450, 1050, 1550, 1150))].to_file(gaps)  # a 200 m square hole
    parks = _parks_file(tmp_path, [shapely.box(1400, 1000, 1600, 1200), shapely.box(2700, 2700, 2800, 2800)], ["a", "b"])
    params = _params([{"type": "vector", "path": str(gaps), "class_field": "klasse", "mapping": _MAP},
                      {"type": "raster", "path": str(ras), "mapping": {10: "woodland", 30: "grass"}}],
                     parks={"file": str(parks), "ids": ["a"]}, context_buffer_m=100, crs=28992)
    with caplog.at_level(logging.INFO, logger="werkland"):
        counts = run_landcover(params, LEGEND, *_outputs(tmp_path))  # 'mysterie' near park b is never read
    lc = gpd.read_file(tmp_path / "landcover.gpkg", layer="landcover")
    assert set(lc["source"]) == {"vector", "raster"}  # every cell covered: no fill
    assert set(lc.loc[lc["source"] == "vector", "source_file"]) == {"gaps.gpkg"}
    raster = lc[lc["source"] == "raster"]
    assert set(raster["source_file"]) == {"wc.tif"} and set(raster["class"]) == {"woodland", "grass"}
    assert raster["area_m2"].sum() == pytest.approx(200 * 200, rel=1e-6)
    assert counts["vector_gaps.gpkg_read"] < 100
    assert "land-cover counts: vector_gaps.gpkg_read=" in caplog.text
    codes, grid, _ = read_raster(tmp_path / "landcover.tif")
    r0, c0 = rasterio.transform.rowcol(grid.transform, 1405, 1195)
    assert (codes[r0:r0 + 20, c0:c0 + 10] == legend.code("woodland")).all()  # the raster west of x = 1500
    assert (codes[r0:r0 + 20, c0 + 10:c0 + 20] == legend.code("grass")).all()


def test_empty_parks_file_says_it_is_empty(tmp_path, legend):
    p = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"park_id": pd.Series([], dtype=str)}, geometry=gpd.GeoSeries([], crs=RD)).to_file(p)
    with pytest.raises(WerklandInputError, match=r"parks\.gpkg: has no features \(the parks layer is empty\)"):
        read_parks_file(p, id_field="park_id", crs=RD)


def test_self_intersecting_park_is_repaired_and_logged(tmp_path, caplog):
    bow_tie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    p = _parks_file(tmp_path, [bow_tie, shapely.box(200, 0, 300, 100)], ["bt-1", "ok-2"])
    with caplog.at_level(logging.WARNING, logger="werkland"):
        parks = read_parks_file(p, id_field="park_id", crs=RD)
    assert parks["park_id"].tolist() == ["bt-1", "ok-2"]
    assert parks["area_m2"].iloc[0] == pytest.approx(5000)
    assert "parks.gpkg: park bt-1: self-intersecting, repaired into 2 parts" in caplog.text
    assert "ok-2" not in caplog.text


def test_parks_file_read_by_ids_and_by_box(tmp_path):
    geoms = [shapely.box(i * 1000, 0, i * 1000 + 500, 500) for i in range(20)]
    p = _parks_file(tmp_path, geoms, [f"p{i}" for i in range(20)])
    got = read_parks_file(p, id_field="park_id", crs=RD, ids=["p7", "p3"], name_field="naam")
    assert got["park_id"].tolist() == ["p3", "p7"] and got["name"].tolist() == ["park p3", "park p7"]
    lon, lat = rasterio.warp.transform("EPSG:28992", "EPSG:4326", [2100, 4400], [100, 400])
    box = (lon[0], lat[0], lon[1], lat[1])
    assert read_parks_file(p, id_field="park_id", crs=RD, bbox_lonlat=box)["park_id"].tolist() == ["p2", "p3", "p4"]
    with pytest.raises(WerklandInputError, match=r"park ids \['p99'\] not found"):
        read_parks_file(p, id_field="park_id", crs=RD, ids=["p99"])


def test_parks_outside_the_osm_data_blame_the_parks(tmp_path):
    parks = _parks_file(tmp_path, [shapely.box(85000, 445000, 85400, 445400)], ["nl-1"])  # Utrecht; the demo is in Finland
    with pytest.raises(WerklandInputError, match=r"parks\.gpkg: the parks lie outside the land-cover data: .*test\.osm\.pbf "
                                                 r"has no OpenStreetMap features in their box"):
        run_landcover(_params([{"type": "osm", "path": demo_pbf_path()}], parks={"file": str(parks)}), LEGEND,
                      *_outputs(tmp_path))


def test_parks_outside_vector_data_blame_the_parks(tmp_path):
    vec = _national_vector(tmp_path)
    parks = _parks_file(tmp_path, [shapely.box(50000, 50000, 50400, 50400)], ["far"])
    with pytest.raises(WerklandInputError, match=r"parks\.gpkg: the land-cover data do not overlap the region: no "
                                                 r"feature of .*national\.gpkg lies in the parks of"):
        run_landcover(_params([{"type": "vector", "path": str(vec), "class_field": "klasse", "mapping": _MAP}],
                              parks={"file": str(parks)}, crs=28992), LEGEND, *_outputs(tmp_path))


def test_osm_demo_region_end_to_end(tmp_path, legend, caplog):
    region, gpkg, tif = _outputs(tmp_path)
    params = _params([{"type": "osm", "path": demo_pbf_path()}], context_buffer_m=300,
                     parks={"from_landuse": ["industrial"], "min_area_m2": 10000})
    with caplog.at_level(logging.INFO, logger="werkland"):
        counts = run_landcover(params, LEGEND, region, gpkg, tif)
    # OSM has invalid rings: they are repaired or dropped, counted and logged
    assert counts.get("osm_multipolygons_dropped_unrepairable", 0) + counts.get("osm_polygons_repaired", 0) > 0
    assert f"osm_polygons: {counts['osm_polygons_repaired']} invalid polygons repaired" in caplog.text
    assert "osm_multipolygons: 8 dropped: geometry unreadable" in caplog.text
    codes, grid, nodata = read_raster(tif)
    assert grid.crs.to_epsg() == 32635 and grid.res_m == 10 and nodata == 0
    lc = gpd.read_file(gpkg, layer="landcover")
    assert {"class", "source", "source_file", "area_m2"} <= set(lc.columns)
    assert set(lc["source"]) == {"osm", "fill"} and set(lc.loc[lc["source"] == "osm", "source_file"]) == {"test.osm.pbf"}
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
        run_landcover(_params([{"type": "osm", "path": str(bad)}]), LEGEND, *outs)
    with pytest.raises(WerklandInputError, match=r"missing\.osm\.pbf: file not found"):
        run_landcover(_params([{"type": "osm", "path": str(tmp_path / "missing.osm.pbf")}]), LEGEND, *outs)
    assert not any(p.exists() for p in outs)
    assert list(tmp_path.iterdir()) == [bad]  # no temporary leftovers either


def test_truncated_pbf(tmp_path):
    src = open(demo_pbf_path(), "rb").read()
    bad = tmp_path / "cut.osm.pbf"
    bad.write_bytes(src[: len(src) // 2])
    with pytest.raises(WerklandInputError, match=r"cut\.osm\.pbf"):
        run_landcover(_params([{"type": "osm", "path": str(bad)}], parks={"from_landuse": ["industrial"]}), LEGEND,
                      *_outputs(tmp_path))


def test_region_without_parks_or_overlap(tmp_path, legend):
    osm = [{"type": "osm", "path": demo_pbf_path()}]
    with pytest.raises(WerklandInputError, match="no business parks"):
        build_region(_params(osm, context_buffer_m=100, parks={"from_landuse": ["industrial"], "names": ["No Such Park"]}),
                     legend)
    # a clip box far from the data: nothing to read, and the message names the clip box
    with pytest.raises(WerklandInputError, match=r"config: clip_lonlat: no OpenStreetMap features of .*test\.osm\.pbf "
                                                 r"inside the clip box \[5\.0, 52\.0, 5\.01, 52\.01\]"):
        build_region(_params(osm, context_buffer_m=100, clip_lonlat=[5.0, 52.0, 5.01, 52.01]), legend)


def test_parks_file_bad_id_field(tmp_path, legend):
    parks = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"id": ["a", "a"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=4326).to_file(parks)
    osm = [{"type": "osm", "path": demo_pbf_path()}]
    with pytest.raises(WerklandInputError, match="duplicate or empty ids"):
        build_region(_params(osm, context_buffer_m=100, parks={"file": str(parks), "id_field": "id"}), legend)
    with pytest.raises(WerklandInputError, match="has no field 'park_id'"):
        build_region(_params(osm, context_buffer_m=100, parks={"file": str(parks)}), legend)


@pytest.mark.shared
def test_delft_schieoevers(tmp_path, legend):
    pbf = shared_file("delft-schieoevers-osm", "tudelft_core_bbox.osm.pbf")
    region, gpkg, tif = _outputs(tmp_path)
    counts = run_landcover(_params([{"type": "osm", "path": str(pbf)}], context_buffer_m=1000,
                                   parks={"from_landuse": ["industrial"], "names": ["Schieoevers Noord"]},
                                   clip_lonlat=[4.355, 51.995, 4.386, 52.005]), LEGEND, region, gpkg, tif)
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
    # the trams on Papsouwselaan and the Westlandseweg run in the street for most of their length
    assert counts["osm_trams_street_running"] >= 3
    trams = lines[lines["kind"] == "railway=tram"]
    assert trams.length.sum() < 1500  # of 4.2 km of tram line in the box


def test_config_examples_validate(monkeypatch):
    monkeypatch.chdir(ROOT)
    for f in ("config/config.yaml", "config/examples/delft.yaml"):
        cfg = validate_config(yaml.safe_load((ROOT / f).read_text()), ROOT / "workflow" / "schemas" / "config.schema.yaml")
        for rid, s in region_settings(cfg).items():
            assert LandcoverParams.from_region(s, where=f"config: regions.{rid}").sources


def test_bgt_source_read_around_the_region(tmp_path, legend):
    """A BGT source (GML-light folder) is read around the region with source ``bgt``; a value without
    a mapping fails only on objects inside the region, naming the layer, field, value and count."""
    from ..bgt_area import AreaObject, write_gml

    x0, y0 = 155000.0, 463000.0
    wood = {"bgt-fysiekVoorkomen": "loofbos"}
    objs = [AreaObject(f"G9999.ok{i}{j}", "BegroeidTerreindeel", wood, x0 + 20 * i, y0 + 20 * j)
            for i in range(-1, 6) for j in range(-1, 6)]
    odd = {"bgt-fysiekVoorkomen": "kunstgras"}
    objs.append(AreaObject("G9999.odd", "BegroeidTerreindeel", odd, x0 - 60, y0 - 60))  # in the read box, not the region
    objs.append(AreaObject("G9999.far", "BegroeidTerreindeel", odd, x0 + 5000, y0))  # never read
    (tmp_path / "bgt").mkdir()
    write_gml(tmp_path / "bgt" / "bgt_begroeidterreindeel.gml", "BegroeidTerreindeel", objs)
    park = _parks_file(tmp_path, [shapely.box(x0, y0, x0 + 100, y0 + 100)], ["p"])
    params = _params([{"type": "bgt", "path": str(tmp_path / "bgt")}], parks={"file": str(park)},
                     context_buffer_m=50, crs=28992)
    counts = run_landcover(params, LEGEND, *_outputs(tmp_path))
    lc = gpd.read_file(tmp_path / "landcover.gpkg", layer="landcover")
    assert set(lc["source"]) == {"bgt", "fill"} and set(lc.loc[lc["source"] == "bgt", "source_file"]) == {"bgt"}
    assert set(lc.loc[lc["source"] == "bgt", "class"]) == {"woodland"}
    assert counts["bgt_BegroeidTerreindeel_skipped_unmapped"] == 1  # read (in the box) but outside the region
    big = _parks_file(tmp_path, [shapely.box(x0 - 60, y0 - 60, x0 + 100, y0 + 100)], ["p"], name="big.gpkg")
    with pytest.raises(WerklandInputError, match=r"bgt_begroeidterreindeel\.gml: values without a legend class inside "
                                                 r"the region: BegroeidTerreindeel .*'bgt-fysiekVoorkomen' value "
                                                 r"'kunstgras' on 1 feature"):
        run_landcover(replace(params, parks=replace(params.parks, file=str(big))), LEGEND, *_outputs(tmp_path / "x"))
