"""Raster windows: overlapping tiles for stages whose value at a cell depends only on nearby cells.

:func:`plan_windows` splits a raster into square core tiles that partition it, each computed on its
core grown by an overlap of at least that distance and written back core only (the habitat stage's
edge band, :func:`werkland.habitat.run_habitat`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RasterWindow:
    """One core tile of a raster and the overlapping window it is computed on.

    Attributes
    ----------
    core : tuple of slice
        Rows and columns of the full raster this tile writes (the cores of :func:`plan_windows`
        partition the raster: every cell belongs to exactly one core).
    window : tuple of slice
        Rows and columns read to compute the core: the core grown by the overlap on every side,
        clipped to the raster.
    """

    core: tuple[slice, slice]
    window: tuple[slice, slice]

    @property
    def offset(self) -> tuple[int, int]:
        """(row, column) of the core's first cell inside the window."""
        return (self.core[0].start - self.window[0].start, self.core[1].start - self.window[1].start)

    @property
    def core_in_window(self) -> tuple[slice, slice]:
        """Slices that cut the core out of an array of the window's shape."""
        r, c = self.offset
        return (slice(r, r + self.core_shape[0]), slice(c, c + self.core_shape[1]))

    @property
    def core_shape(self) -> tuple[int, int]:
        """(rows, columns) of the core."""
        return (self.core[0].stop - self.core[0].start, self.core[1].stop - self.core[1].start)

    @property
    def window_shape(self) -> tuple[int, int]:
        """(rows, columns) of the window."""
        return (self.window[0].stop - self.window[0].start, self.window[1].stop - self.window[1].start)


def plan_windows(shape: tuple[int, int], tile_cells: int, overlap: int) -> list[RasterWindow]:
    """Split a raster into square core tiles, each with a window grown by ``overlap`` cells.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the full raster.
    tile_cells : int
        Side of a core tile in cells (the last row and column of tiles may be smaller).
    overlap : int
        Cells added to every side of a core to form its window (clipped to the raster). A stage
        whose value at a cell depends only on cells within ``d`` cells of it gives, on the window,
        exactly the full-raster value at every core cell when ``overlap >= d``.

    Returns
    -------
    list of RasterWindow
        Tiles in row-major order; their cores partition the raster.

    Examples
    --------
    >>> [w.core for w in plan_windows((3, 5), 4, 1)]
    [(slice(0, 3, None), slice(0, 4, None)), (slice(0, 3, None), slice(4, 5, None))]
    >>> plan_windows((3, 5), 4, 1)[1].window
    (slice(0, 3, None), slice(3, 5, None))
    """
    if tile_cells < 1:
        raise ValueError("tile_cells must be >= 1")
    if overlap < 0:
        raise ValueError("overlap must be >= 0")
    H, W = (int(v) for v in shape)
    out = []
    for r0 in range(0, H, tile_cells):
        r1 = min(H, r0 + tile_cells)
        for c0 in range(0, W, tile_cells):
            c1 = min(W, c0 + tile_cells)
            out.append(RasterWindow(
                core=(slice(r0, r1), slice(c0, c1)),
                window=(slice(max(0, r0 - overlap), min(H, r1 + overlap)),
                        slice(max(0, c0 - overlap), min(W, c1 + overlap))),
            ))
    return out
