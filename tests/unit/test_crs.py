import pytest
from pyproj import CRS

from werkland._errors import WerklandInputError
from werkland.raster.crs import assert_metric, choose_metric_crs


@pytest.mark.parametrize(
    ("bounds", "epsg"),
    [
        ((4.355, 51.995, 4.386, 52.005), 28992),  # Delft
        ((6.5, 53.2, 6.6, 53.25), 28992),  # Groningen
        ((26.93, 60.52, 26.97, 60.54), 32635),  # pyrosm demo, Finland
        ((4.35, 50.84, 4.36, 50.85), 32631),  # Brussels: inside RD New's area of use, but Belgium
        ((6.95, 50.93, 6.97, 50.95), 32632),  # Cologne
        ((-58.4, -34.6, -58.3, -34.5), 32721),  # Buenos Aires, southern hemisphere
    ],
)
def test_auto_crs(bounds, epsg):
    crs = choose_metric_crs(bounds)
    assert crs.to_epsg() == epsg
    assert crs.is_projected


def test_configured_crs_must_be_metric():
    assert choose_metric_crs((0, 0, 1, 1), "EPSG:3035").to_epsg() == 3035
    with pytest.raises(WerklandInputError, match="geographic"):
        choose_metric_crs((0, 0, 1, 1), 4326)
    with pytest.raises(WerklandInputError, match="unknown CRS"):
        choose_metric_crs((0, 0, 1, 1), "EPSG:999999")


def test_assert_metric_rejects_missing_and_feet():
    with pytest.raises(WerklandInputError, match="no CRS"):
        assert_metric(None, where="x.tif")
    with pytest.raises(WerklandInputError, match="units"):
        assert_metric(CRS.from_epsg(2263), where="x.tif")  # NY State Plane, US feet
