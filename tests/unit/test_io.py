"""Raster reading errors name the file and the fix (werkland.io)."""

from __future__ import annotations

import pytest

from werkland._errors import WerklandInputError
from werkland.raster.io import line_cells, read_grid, read_raster, release_free_memory


@pytest.mark.parametrize("reader", [read_raster, read_grid])
def test_missing_or_truncated_raster_is_a_clear_error(tmp_path, reader):
    missing = tmp_path / "nope.tif"
    with pytest.raises(WerklandInputError, match=r"nope\.tif: cannot read raster \(.+\) -- fix: check the path"):
        reader(missing)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\x00" * 20)  # a TIFF header and nothing else
    with pytest.raises(WerklandInputError, match=r"broken\.tif: cannot read raster"):
        reader(broken)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_release_free_memory_returns_freed_heap_to_the_system():
    """Freed heap blocks (arrays below glibc's mmap threshold, like shapely's coordinates) are given back."""
    import numpy as np

    blocks = [np.ones(4096) for _ in range(2000)]  # 32 KB each: heap, not mmap (64 MB)
    pin = np.ones(4096)  # a live block above them: free() alone cannot shrink the heap
    del blocks
    assert release_free_memory() is True
    del pin


def test_line_cells_are_the_vertices_cells_inside_the_raster_per_line(monkeypatch):
    """Vertex cells in order, per line; outside vertices dropped; None/empty lines give none."""
    import numpy as np
    import shapely
    from affine import Affine

    t = Affine(10.0, 0.0, 1000.0, 0.0, -10.0, 2000.0)  # 10 m cells, 4 rows x 5 columns
    geoms = [
        shapely.LineString([(1005, 1995), (1015, 1985), (1045, 1965)]),  # (0,0) (1,1) (3,4)
        None,
        shapely.LineString(),
        shapely.LineString([(995, 1995), (1025, 1975), (1055, 1975)]),  # left and right of the grid
        shapely.MultiLineString([[(1005, 1975), (1005, 1965)], [(1035, 1995), (1035, 1985)]]),
    ]
    got = line_cells(geoms, (4, 5), t)
    want = [[0, 6, 19], [], [], [12], [10, 15, 3, 8]]
    assert [c.tolist() for c in got] == want and all(c.dtype == np.int64 for c in got)
    assert line_cells([], (4, 5), t) == []
    import werkland.raster.io as rio_mod

    for chunk in (1, 2, 3):  # chunks of lines, one ending on the empty and None lines
        monkeypatch.setattr(rio_mod, "LINE_CELLS_CHUNK", chunk)
        assert [c.tolist() for c in line_cells(geoms, (4, 5), t)] == want


def test_multi_layer_geopackage_is_byte_identical_when_rewritten(tmp_path, monkeypatch):
    """Two writes of the same layers give the same bytes (fixed last_change date), in layer order."""
    import geopandas as gpd
    import pyogrio
    from shapely.geometry import Point, box

    from werkland.raster.io import write_gpkg_layers

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    layers = {
        "region": gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 10, 10)], crs=28992),
        "parks": gpd.GeoDataFrame({"park_id": ["a", "b"]}, geometry=[Point(1, 1), Point(2, 2)], crs=28992),
    }
    write_gpkg_layers(layers, tmp_path / "a.gpkg")
    write_gpkg_layers(layers, tmp_path / "b.gpkg")
    assert (tmp_path / "a.gpkg").read_bytes() == (tmp_path / "b.gpkg").read_bytes()
    assert [name for name, _ in pyogrio.list_layers(tmp_path / "a.gpkg")] == ["region", "parks"]


@pytest.mark.parametrize("dtype, nodata", [("float32", -1.0), ("uint8", 0)])
def test_rasters_are_cogs_deflated_once_with_the_bytes_of_a_deflated_staging_file(tmp_path, monkeypatch, dtype, nodata):
    """write_raster stages the raster uncompressed and to_cog deflates it once: a tiled, deflated
    Cloud-Optimized GeoTIFF with overviews and the same values, byte for byte the file a deflated
    staging file gave."""
    import numpy as np
    import rasterio
    from rasterio.crs import CRS

    from werkland.raster import io as rio

    rng = np.random.default_rng(4)
    arr = (rng.random((700, 600)) * 50).astype(dtype)
    arr[:40] = nodata
    grid = rio.Grid.from_bounds((0.0, 0.0, 6000.0, 7000.0), 10.0, CRS.from_epsg(28992))
    staged: list[str | None] = []
    real_to_cog = rio.to_cog

    def spy(src, dst, **kwargs):
        with rasterio.open(src) as ds:
            staged.append(ds.compression.name if ds.compression else None)
        real_to_cog(src, dst, **kwargs)

    monkeypatch.setattr(rio, "to_cog", spy)
    rio.write_raster(tmp_path / "once.tif", arr, grid, nodata=nodata, tags={"unit": "m"})
    assert staged == [None]  # the staging file is not compressed
    with rasterio.open(tmp_path / "once.tif") as ds:
        assert ds.compression.name == "deflate" and ds.profile["tiled"] and ds.overviews(1)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.tags()["unit"] == "m"
        np.testing.assert_array_equal(ds.read(1), arr)
    real_profile = rio.Grid.profile
    monkeypatch.setattr(rio.Grid, "profile", lambda self, dt, nd, compress=True: real_profile(self, dt, nd))
    rio.write_raster(tmp_path / "twice.tif", arr, grid, nodata=nodata, tags={"unit": "m"})
    assert staged == [None, "deflate"]
    assert (tmp_path / "once.tif").read_bytes() == (tmp_path / "twice.tif").read_bytes()
