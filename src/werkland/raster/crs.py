"""Choice of a metric CRS for a region.

``auto`` picks EPSG:28992 (RD New) when the data lie in the Netherlands and the WGS84 UTM zone of
the data's centre elsewhere. A geographic CRS is never used for areas or distances.
"""

from __future__ import annotations

from pyproj import CRS
from shapely.geometry import Point, Polygon

from werkland._errors import WerklandInputError

#: Area of use of EPSG:28992 (RD New), lon/lat degrees (west, south, east, north), from the EPSG registry.
RD_NEW_BOUNDS = (3.2, 50.75, 7.22, 53.7)


def choose_metric_crs(lonlat_bounds: tuple[float, float, float, float], setting: str | int = "auto") -> CRS:
    """Return the projected CRS to use for a region.

    Parameters
    ----------
    lonlat_bounds : tuple of float
        (west, south, east, north) of the region's data in degrees (EPSG:4326).
    setting : str or int
        ``"auto"``, or an EPSG code (``28992``, ``"EPSG:32631"``).

    Returns
    -------
    pyproj.CRS
        A projected CRS with metre units.

    Raises
    ------
    WerklandInputError
        If the configured CRS is geographic or not metric.

    Examples
    --------
    >>> choose_metric_crs((4.355, 51.995, 4.386, 52.005)).to_epsg()
    28992
    >>> choose_metric_crs((27.0, 60.9, 27.1, 61.0)).to_epsg()
    32635
    """
    if setting != "auto":
        try:
            crs = CRS.from_user_input(setting)
        except Exception as exc:  # pyproj raises CRSError with a long message
            raise WerklandInputError(
                f"unknown CRS {setting!r}", path="config: crs", fix="use 'auto' or an EPSG code such as 28992"
            ) from exc
        assert_metric(crs, where="config: crs")
        return crs
    west, south, east, north = lonlat_bounds
    lon = (west + east) / 2.0
    lat = (south + north) / 2.0
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise WerklandInputError(
            f"bounds {lonlat_bounds} are not longitude/latitude",
            path="region data",
            fix="give the data a CRS so it can be reprojected to WGS84",
        )
    rw, rs, re_, rn = RD_NEW_BOUNDS
    if rw <= lon <= re_ and rs <= lat <= rn and _in_netherlands(lon, lat):
        return CRS.from_epsg(28992)
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


def _in_netherlands(lon: float, lat: float) -> bool:
    """Rough test whether a point lies in the European Netherlands (excludes Belgium/Germany)."""
    # The RD New area of use includes strips of Belgium and Germany; a coarse polygon of the
    # Dutch land border (lon, lat) keeps those on UTM, where their national grids are not RD.
    nl = Polygon(
        [
            (3.2, 51.35), (3.36, 51.37), (3.9, 51.2), (4.25, 51.37), (4.55, 51.48),
            (5.0, 51.48), (5.25, 51.26), (5.56, 51.22), (5.85, 51.15), (5.64, 50.85),
            (5.7, 50.75), (6.03, 50.72), (6.1, 50.9), (5.9, 51.05), (6.2, 51.35),
            (6.0, 51.6), (5.95, 51.8), (6.4, 51.83), (6.75, 51.9), (7.07, 52.23),
            (7.05, 52.6), (7.2, 53.0), (7.22, 53.3), (6.9, 53.6), (5.0, 53.7),
            (4.5, 53.3), (3.5, 52.0),
        ]
    )
    return bool(nl.buffer(0.02).contains(Point(lon, lat)))


def assert_metric(crs: CRS | None, *, where: str) -> None:
    """Raise unless ``crs`` is a projected CRS in metres.

    Parameters
    ----------
    crs : pyproj.CRS or None
        The CRS to check.
    where : str
        File or key named in the error message.
    """
    if crs is None:
        raise WerklandInputError("has no CRS", path=where, fix="assign the data's CRS (e.g. with gdal_edit.py -a_srs)")
    if not crs.is_projected:
        raise WerklandInputError(
            f"CRS {crs.to_string()} is geographic; areas and distances need a metric CRS",
            path=where,
            fix="set crs to 'auto' or a projected EPSG code (28992 in the Netherlands)",
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter", "m"):
        raise WerklandInputError(
            f"CRS {crs.to_string()} has units {unit!r}, not metres", path=where, fix="use a metric projected CRS"
        )
