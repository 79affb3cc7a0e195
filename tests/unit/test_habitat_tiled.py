"""Tiled habitat stage: the generic window planner (werkland.raster.windows.plan_windows) and a tiled
run_habitat equal to the untiled one."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((157, 203), 16, 6), ((157, 203), 50, 6), ((10, 7), 3, 0), ((10, 7), 1, 4), ((5, 9), 20, 2), ((64, 64), 32, 40)],
)
def test_plan_windows_cores_partition_and_windows_are_clipped(shape, tile, overlap):
    from werkland.raster.windows import plan_windows

    H, W = shape
    windows = plan_windows(shape, tile, overlap)
    assert len(windows) == -(-H // tile) * -(-W // tile)
    written = np.zeros(shape, np.int64)
    for w in windows:
        written[w.core] += 1
        (r0, r1), (c0, c1) = ((s.start, s.stop) for s in w.window)
        (cr0, cr1), (cc0, cc1) = ((s.start, s.stop) for s in w.core)
        assert 0 <= r0 <= cr0 < cr1 <= r1 <= H and 0 <= c0 <= cc0 < cc1 <= c1 <= W  # window holds core, clipped
        assert (r0, c0) == (max(0, cr0 - overlap), max(0, cc0 - overlap))  # grown by overlap where possible
        assert (r1, c1) == (min(H, cr1 + overlap), min(W, cc1 + overlap))
        assert max(w.core_shape) <= tile
        # the core cut out of the window's array is the core of the full raster
        full = np.arange(H * W).reshape(shape)
        np.testing.assert_array_equal(full[w.window][w.core_in_window], full[w.core])
        assert w.offset == (cr0 - r0, cc0 - c0) and w.window_shape == (r1 - r0, c1 - c0)
    np.testing.assert_array_equal(written, 1)  # every cell written exactly once


def test_plan_windows_rejects_bad_arguments():
    from werkland.raster.windows import plan_windows

    with pytest.raises(ValueError, match="tile_cells"):
        plan_windows((10, 10), 0, 1)
    with pytest.raises(ValueError, match="overlap"):
        plan_windows((10, 10), 5, -1)


def _landcover(tmp_path, legend, shape=(157, 203), seed=7):
    """Blocks of land cover crossed by roads and a railway (edge bands cross tile borders), nodata holes."""
    from pyproj import CRS

    from werkland.raster.io import Grid, write_raster

    rng = np.random.default_rng(seed)
    H, W = shape
    names = ["woodland", "grass", "meadow", "shrub", "garden", "building", "sealed", "hedgerow", "wetland"]
    blocks = rng.choice([legend.code(n) for n in names], size=(-(-H // 9), -(-W // 11)))
    codes = np.kron(blocks, np.ones((9, 11), np.int64))[:H, :W].astype(np.uint8)
    codes[rng.random(shape) < 0.02] = legend.code("road_minor")
    codes[H // 4 : H // 4 + 2, :] = legend.code("road_main")  # across every tile column
    codes[:, W // 2] = legend.code("road_motorway")
    codes[:, 3 * W // 4 : 3 * W // 4 + 2] = legend.code("road_main")
    rr = np.arange(H)
    codes[rr, np.clip((rr * 1.2).astype(int) + 10, 0, W - 1)] = legend.code("railway")  # diagonal
    for r, c in rng.integers(0, min(H, W), (40, 2)):  # isolated disturbing cells
        codes[r, c] = legend.code("road_main")
    codes[: H // 12, : W // 7] = 0  # outside the region
    codes[rng.random(shape) < 0.01] = 0
    grid = Grid.from_bounds((100_000.0, 400_000.0, 100_000.0 + W * 10, 400_000.0 + H * 10), 10.0,
                            CRS.from_epsg(28992))
    path = tmp_path / "landcover.tif"
    write_raster(path, codes, grid, nodata=0)
    return path, codes


def _outputs(d, guilds):
    d.mkdir(exist_ok=True)
    return {g: d / f"h_{g}.tif" for g in guilds}, {g: d / f"r_{g}.tif" for g in guilds}


def _read_full(path):
    import rasterio

    with rasterio.open(path) as src:
        meta = (src.dtypes[0], src.nodata, src.transform, src.crs.to_wkt(), src.tags(), src.descriptions,
                src.profile.get("compress"), src.profile.get("tiled"), src.block_shapes, src.shape)
        return src.read(1), meta


ALL_GUILDS = ["hedgehog", "pollinators", "amphibians", "woodland_birds"]


@pytest.mark.parametrize(("shape", "tile"), [((157, 203), 16), ((157, 203), 50), ((300, 270), 100)])
def test_run_habitat_tiled_equals_untiled(tmp_path, legend, monkeypatch, shape, tile):
    """Tiled rasters equal the untiled ones cell for cell, with the same metadata and statistics."""
    import werkland.habitat.stage as habitat
    from werkland.params import HabitatParams

    from ..conftest import GUILDS, LEGEND

    lc, codes = _landcover(tmp_path, legend, shape)
    hab_f, res_f = _outputs(tmp_path / "full", ALL_GUILDS)
    full = habitat.run_habitat(lc, LEGEND, GUILDS, hab_f, res_f, params=HabitatParams(tile_cells=0))
    hab_t, res_t = _outputs(tmp_path / "tiled", ALL_GUILDS)

    def no_whole_read(*a, **k):
        raise AssertionError("the tiled path must not read the whole land-cover raster")

    monkeypatch.setattr(habitat, "read_raster", no_whole_read)
    tiled = habitat.run_habitat(lc, LEGEND, GUILDS, hab_t, res_t, params=HabitatParams(tile_cells=tile))
    assert tiled == full  # exact: integer counts and an exact suitability sum
    for g in ALL_GUILDS:
        for a_path, b_path in ((hab_f[g], hab_t[g]), (res_f[g], res_t[g])):
            a, meta_a = _read_full(a_path)
            b, meta_b = _read_full(b_path)
            assert meta_a == meta_b
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, b)
    # the edge bands really cross tile borders, and both nodata kinds are present
    h, _ = _read_full(hab_f["amphibians"])
    r, _ = _read_full(res_f["hedgehog"])
    g = habitat.load_guilds(GUILDS, legend)["amphibians"]
    wood = np.float32(g.suitability["woodland"])
    reduced = (codes == legend.code("woodland")) & (h == wood * np.float32(g.edge_factor))
    assert reduced.sum() > 100
    assert (h == -1).sum() == (codes == 0).sum() and (r == -1).sum() > (codes == 0).sum()
    assert not list((tmp_path / "tiled").glob(".*"))  # no temporary files left behind


def test_run_habitat_tile_cells_not_smaller_than_raster_is_untiled(tmp_path, legend, monkeypatch):
    import werkland.habitat.stage as habitat
    from werkland.params import HabitatParams

    from ..conftest import GUILDS, LEGEND

    lc, _ = _landcover(tmp_path, legend, (40, 30))
    monkeypatch.setattr(habitat, "_run_habitat_tiled", lambda *a, **k: pytest.fail("tiled"))
    stats = habitat.run_habitat(lc, LEGEND, GUILDS, *_outputs(tmp_path / "o", ["hedgehog"]),
                                params=HabitatParams(tile_cells=40))
    assert stats["hedgehog"]["habitat_ha"] > 0


def test_habitat_overlap_is_the_widest_edge_band(guilds):
    from werkland.habitat import edge_overlap_cells

    assert edge_overlap_cells([guilds["hedgehog"]], 10.0) == 4  # 30 m band: 3 cells + 1
    assert edge_overlap_cells(guilds.values(), 10.0) == 6  # 50 m (amphibians, woodland birds)
    assert edge_overlap_cells(guilds.values(), 7.0) == 9  # ceil(50 / 7) + 1
    assert edge_overlap_cells([guilds["pollinators"]], 10.0) == 1  # no edge effect


def test_habitat_overlap_too_small_would_differ(tmp_path, legend, guilds):
    """With windows not grown enough, edge bands are cut at tile borders (so the equality test can fail)."""
    from werkland.habitat.stage import _run_habitat_tiled, run_habitat
    from werkland.params import HabitatParams
    from werkland.raster.io import read_grid

    from ..conftest import GUILDS, LEGEND

    lc, _ = _landcover(tmp_path, legend)
    grid, _ = read_grid(lc)
    names = ["amphibians"]
    hab_f, res_f = _outputs(tmp_path / "full", names)
    full = run_habitat(lc, LEGEND, GUILDS, hab_f, res_f, params=HabitatParams(tile_cells=0))
    for overlap, equal in ((0, False), (4, False), (6, True)):  # 50 m band at 10 m needs 5 cells
        hab_t, res_t = _outputs(tmp_path / f"ov{overlap}", names)
        stats = _run_habitat_tiled(lc, legend, guilds, GUILDS, hab_t, res_t, grid, 16, overlap=overlap)
        same = np.array_equal(_read_full(hab_f["amphibians"])[0], _read_full(hab_t["amphibians"])[0])
        assert same is equal and (stats == full) is equal, overlap
        np.testing.assert_array_equal(_read_full(res_f["amphibians"])[0], _read_full(res_t["amphibians"])[0])


def test_run_habitat_tiled_checks_codes_of_every_window_and_leaves_no_output(tmp_path, legend):
    from werkland._errors import WerklandInputError
    from werkland.habitat import run_habitat
    from werkland.params import HabitatParams
    from werkland.raster.io import read_raster, write_raster

    from ..conftest import GUILDS, LEGEND

    lc, _ = _landcover(tmp_path, legend)
    codes, grid, _ = read_raster(lc)
    codes[150, 200] = 200  # unknown code in the last tile only
    write_raster(lc, codes, grid, nodata=0)
    out = tmp_path / "o"
    hab, res = _outputs(out, ["hedgehog", "amphibians"])
    with pytest.raises(WerklandInputError, match=r"codes \[200\] are not in the legend"):
        run_habitat(lc, LEGEND, GUILDS, hab, res, params=HabitatParams(tile_cells=50))
    assert list(out.iterdir()) == []  # no output, no half-written temporary file
