import numpy as np
import pytest
from pyproj import CRS

from werkland._errors import WerklandInputError
from werkland.habitat import (
    RASTER_NODATA,
    check_codes,
    resistance,
    resistance_as_written,
    run_habitat,
    suitability,
)
from werkland.params import HabitatParams
from werkland.raster.io import Grid, read_raster, write_raster

from ..conftest import GUILDS, LEGEND


def _codes(legend):
    codes = np.full((20, 20), legend.code("woodland"), dtype=np.uint8)
    codes[:, 10] = legend.code("road_main")
    codes[0, 0] = 0
    return codes


def test_suitability_lookup_and_edge_band(legend, guilds):
    g = guilds["hedgehog"]
    codes = _codes(legend)
    s = suitability(codes, legend, g, res_m=10.0)
    wood = g.suitability["woodland"]
    assert s[0, 0] == RASTER_NODATA
    assert s[5, 10] == 0.0  # the road itself
    # cells within the 30 m edge band (3 cells) lose suitability; farther cells keep it
    for col, dist_m in ((9, 10), (7, 30), (13, 30)):
        assert s[5, col] == pytest.approx(wood * g.edge_factor), dist_m
    assert s[5, 6] == pytest.approx(wood)  # 40 m away
    assert s[5, 14] == pytest.approx(wood)


def test_edge_band_scales_with_resolution(legend, guilds):
    g = guilds["hedgehog"]
    codes = _codes(legend)
    s5 = suitability(codes, legend, g, res_m=5.0)  # 30 m = 6 cells
    assert s5[5, 4] == pytest.approx(g.suitability["woodland"] * g.edge_factor)
    assert s5[5, 3] == pytest.approx(g.suitability["woodland"])


def test_resistance_impassable_and_default(legend, guilds):
    g = guilds["hedgehog"]
    codes = _codes(legend)
    codes[1, 1] = legend.code("road_motorway")
    codes[2, 2] = legend.code("bare")
    r = resistance(codes, legend, g)
    assert np.isinf(r[0, 0]) and np.isinf(r[1, 1])  # outside region; impassable motorway
    assert r[5, 10] == g.resistance["road_main"]
    assert r[5, 5] == 1.0
    assert (r[np.isfinite(r)] >= 1).all()


def test_unknown_code_in_raster(legend):
    codes = np.array([[1, 200]], dtype=np.uint8)
    with pytest.raises(WerklandInputError, match=r"codes \[200\] are not in the legend"):
        check_codes(codes, legend, where="landcover.tif")


def test_run_habitat_writes_rasters(tmp_path, legend):
    grid = Grid.from_bounds((0, 0, 200, 200), 10, CRS.from_epsg(28992))
    lc = tmp_path / "landcover.tif"
    write_raster(lc, _codes(legend), grid, nodata=0)
    hab = {"hedgehog": tmp_path / "h.tif"}
    res = {"hedgehog": tmp_path / "r.tif"}
    stats = run_habitat(lc, LEGEND, GUILDS, hab, res, params=HabitatParams(tile_cells=0))
    h, hgrid, hnd = read_raster(hab["hedgehog"])
    r, _, rnd = read_raster(res["hedgehog"])
    assert h.dtype == np.float32 and r.dtype == np.float32 and hnd == -1 and rnd == -1
    assert hgrid.crs.to_epsg() == 28992
    assert stats["hedgehog"]["habitat_ha"] > 0
    assert r[0, 0] == -1  # outside region written as nodata
    with pytest.raises(WerklandInputError, match="not in"):
        run_habitat(lc, LEGEND, GUILDS, {"bats": tmp_path / "b.tif"}, {"bats": tmp_path / "rb.tif"},
                    params=HabitatParams(tile_cells=0))


def test_resistance_as_written_marks_impassable_as_nodata(legend, guilds):
    codes = _codes(legend)
    codes[1, 1] = legend.code("road_motorway")
    r = resistance(codes, legend, guilds["hedgehog"])
    out = resistance_as_written(r)
    assert out.dtype == np.float32
    assert out[0, 0] == RASTER_NODATA and out[1, 1] == RASTER_NODATA  # outside the region; impassable
    np.testing.assert_array_equal(out[np.isfinite(r)], r[np.isfinite(r)])


def test_habitat_params_from_the_config_drive_the_tiles(tmp_path, legend, monkeypatch):
    """tile_cells comes from HabitatParams (the schema default 0 = untiled)."""
    import werkland.habitat.stage as stage

    grid = Grid.from_bounds((0, 0, 200, 200), 10, CRS.from_epsg(28992))
    lc = tmp_path / "landcover.tif"
    write_raster(lc, _codes(legend), grid, nodata=0)
    calls = []
    monkeypatch.setattr(stage, "_run_habitat_tiled", lambda *a, **k: calls.append(a[-1]) or {})
    run_habitat(lc, LEGEND, GUILDS, {"hedgehog": tmp_path / "h.tif"}, {"hedgehog": tmp_path / "r.tif"},
                params=HabitatParams(tile_cells=8))
    assert calls == [8]
