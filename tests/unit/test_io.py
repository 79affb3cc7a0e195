"""Raster reading errors name the file and the fix (werkland.io)."""

from __future__ import annotations

import pytest

from werkland._errors import WerklandInputError
from werkland.io import read_grid, read_raster, release_free_memory


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
