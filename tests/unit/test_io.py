"""Raster reading errors name the file and the fix (werkland.io)."""

from __future__ import annotations

import pytest

from werkland._errors import WerklandInputError
from werkland.io import read_grid, read_raster


@pytest.mark.parametrize("reader", [read_raster, read_grid])
def test_missing_or_truncated_raster_is_a_clear_error(tmp_path, reader):
    missing = tmp_path / "nope.tif"
    with pytest.raises(WerklandInputError, match=r"nope\.tif: cannot read raster \(.+\) -- fix: check the path"):
        reader(missing)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\x00" * 20)  # a TIFF header and nothing else
    with pytest.raises(WerklandInputError, match=r"broken\.tif: cannot read raster"):
        reader(broken)
