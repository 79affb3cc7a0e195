"""``within_distance`` gives the cells of the distance transform's test ``edt <= d``, bit for bit."""

import numpy as np
import pytest
from scipy import ndimage

from werkland.habitat import edge_band, suitability
from werkland.raster import distance as distance_mod
from werkland.raster.distance import disc_reach, within_distance


def _edt_test(mask: np.ndarray, d: float, res: float) -> np.ndarray:
    return ndimage.distance_transform_edt(~mask, sampling=(res, res)) <= d


@pytest.mark.parametrize("res", [10.0, 2.5, 1.0, 0.7, 0.3, 25.0])
def test_within_distance_equals_the_distance_transform(res):
    rng = np.random.default_rng(int(res * 10))
    for _ in range(60):
        h, w = (int(x) for x in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.choice([0.002, 0.02, 0.1, 0.4])
        mask[rng.integers(h), rng.integers(w)] = True
        # distances on and beside the lattice of cell-centre distances, where rounding decides
        k = float(rng.integers(0, 7))
        for d in (k * res, k * res * 2 ** 0.5, np.nextafter(k * res, 0.0), (k + 0.5) * res, 5 * res):
            assert np.array_equal(within_distance(mask, d, res), _edt_test(mask, d, res)), (h, w, res, d)


@pytest.mark.parametrize(("res", "less"), [(10.0, 5.0), (2.5, 1.25), (0.3, 0.15), (1.0, 0.0)])
def test_within_distance_less_half_a_cell_equals_the_transforms_test(res, less):
    # the patches' core test: (edt - res / 2) > band, on and beside the lattice of distances
    rng = np.random.default_rng(7)
    for _ in range(40):
        h, w = (int(x) for x in rng.integers(2, 40, 2))
        mask = rng.random((h, w)) < rng.choice([0.01, 0.1, 0.5])
        mask[0, 0] = True
        k = float(rng.integers(0, 6))
        for d in (k * res, k * res - less, k * res * 2 ** 0.5 - less, (k + 0.5) * res):
            d = max(d, 0.0)
            want = ndimage.distance_transform_edt(~mask, sampling=(res, res)) - less <= d
            assert np.array_equal(within_distance(mask, d, res, less_m=less), want), (res, less, d)


def test_disc_reach_is_the_disc_of_cell_centre_distances():
    # 50 m at 10 m: rows 0..5 reach 5, 4, 4, 4, 3, 0 columns (3-4-5: the cell at (3, 4) is exactly 50 m)
    assert disc_reach(50.0, 10.0).tolist() == [5, 4, 4, 4, 3, 0]
    assert disc_reach(0.0, 10.0).tolist() == [0]
    assert disc_reach(9.99, 10.0).tolist() == [0]
    with pytest.raises(ValueError, match="finite"):
        disc_reach(-1.0, 10.0)


def test_rounding_on_both_sides_of_the_distance_falls_back_to_the_transform(monkeypatch):
    # at 0.1 m cells, 5 m is 50 cells: (50, 0) and (30, 40) and (14, 48) have one squared length,
    # but rounding puts their float64 distances on both sides of 5.0
    assert disc_reach(5.0, 0.1) is None
    mask = np.zeros((120, 120), bool)
    mask[60, 60] = True
    called = []
    real = distance_mod.ndimage.distance_transform_edt

    def spy(*a, **k):
        called.append(1)
        return real(*a, **k)

    monkeypatch.setattr(distance_mod.ndimage, "distance_transform_edt", spy)
    got = within_distance(mask, 5.0, 0.1)
    assert called, "the fall-back must use the distance transform"
    monkeypatch.undo()
    assert np.array_equal(got, _edt_test(mask, 5.0, 0.1))


def test_edge_band_and_suitability_equal_the_distance_transform_on_a_class_raster(legend, guilds):
    rng = np.random.default_rng(5)
    codes = rng.choice([c.code for c in legend.classes], size=(80, 90)).astype(np.uint8)
    codes[:3] = 0
    for g in guilds.values():
        band = edge_band(codes, legend, g, 10.0)
        if not (g.edge_classes and g.edge_band_m > 0 and g.edge_factor < 1):
            assert band is None
            continue
        disturbing = np.isin(codes, [legend.code(c) for c in g.edge_classes])
        want = _edt_test(disturbing, g.edge_band_m, 10.0) & ~disturbing
        assert np.array_equal(band, want), g.name
        lut = legend.lut(g.suitability, 0.0, where="test").astype(np.float32)
        s = lut[codes]
        s[want] *= np.float32(g.edge_factor)
        s[codes == 0] = -1.0
        assert np.array_equal(suitability(codes, legend, g, 10.0), s)
    # no disturbing cell at all: no band
    g = next(g for g in guilds.values() if g.edge_classes and g.edge_band_m > 0 and g.edge_factor < 1)
    clean = np.full((10, 10), legend.code(next(c.name for c in legend.classes if c.name not in g.edge_classes)),
                    np.uint8)
    assert edge_band(clean, legend, g, 10.0) is None
