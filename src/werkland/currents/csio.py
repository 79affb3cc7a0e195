"""Circuitscape / Omniscape file formats: ASCII grids, point and pair lists, edge lists, outputs.

The readers follow Circuitscape.jl: a grid's nodata cells read as -9999, point ids < 0 are dropped,
grid points are listed column by column (Julia's order) and then sorted by id, text point files hold
``id x y`` rows located on the habitat grid, and include/exclude pair files are either a ``min/max``
matrix or a ``mode include|exclude`` list.
"""

from __future__ import annotations

import gzip
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from werkland._errors import WerklandInputError

__all__ = [
    "NODATA",
    "GridMeta",
    "IncludePairs",
    "PointSet",
    "read_edges",
    "read_grid",
    "read_include_pairs",
    "read_points",
    "read_region_map",
    "read_table",
    "write_grid",
    "write_table",
]

#: Circuitscape's nodata marker.
NODATA = -9999.0


@dataclass(frozen=True)
class GridMeta:
    """Header of an ASCII grid (or the equivalent of a GeoTIFF).

    ``nodata`` is the header's NODATA_value (None when the header has none); ``transform`` and
    ``crs`` are set for GeoTIFF inputs so outputs keep their georeferencing.
    """

    ncols: int
    nrows: int
    xll: float
    yll: float
    cellsize: float
    nodata: float | None
    transform: object | None = None
    crs: object | None = None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _is_tif(path: Path) -> bool:
    return path.suffix.lower() in (".tif", ".tiff")


def read_grid(path: str | os.PathLike[str]) -> tuple[np.ndarray, GridMeta]:
    """Read an ASCII grid (``.asc``, ``.asc.gz``) or a GeoTIFF; nodata cells become -9999.

    Raises
    ------
    WerklandInputError
        A missing or malformed file (naming the file and the line).
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("file not found", path=str(p), fix="check the path in the .ini file")
    if _is_tif(p):
        import rasterio

        with rasterio.open(p) as src:
            arr = src.read(1).astype(np.float64)
            t = src.transform
            nd = src.nodata
            meta = GridMeta(src.width, src.height, float(t.c), float(t.f + t.e * src.height), float(t.a),
                            None if nd is None else float(nd), t, src.crs)
        if nd is not None:
            arr[(arr == nd) | (np.isnan(arr) if math.isnan(nd) else False)] = NODATA
        return arr, meta
    with _open_text(p) as fh:
        lines = fh.read().splitlines()
    head: dict[str, str] = {}
    k = 0
    while k < len(lines) and k < 6:
        parts = lines[k].split()
        if not parts or not parts[0][0].isalpha():
            break
        head[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
        k += 1
    try:
        ncols, nrows = int(float(head["ncols"])), int(float(head["nrows"]))
        cell = float(head["cellsize"])
        xll = float(head.get("xllcorner", head.get("xllcenter", "0")))
        yll = float(head.get("yllcorner", head.get("yllcenter", "0")))
    except (KeyError, ValueError) as exc:
        raise WerklandInputError(f"bad ASCII grid header ({exc})", path=str(p),
                                 fix="the header needs ncols, nrows, xllcorner, yllcorner, cellsize") from exc
    nodata = float(head["nodata_value"]) if "nodata_value" in head else None
    rows = []
    for r, line in enumerate(lines[k:k + nrows]):
        tok = line.split()
        if len(tok) < ncols:
            raise WerklandInputError(f"row {r + 1} has {len(tok)} values, expected {ncols}", path=str(p),
                                     fix="repair the grid")
        rows.append(tok[:ncols])
    if len(rows) < nrows:
        raise WerklandInputError(f"{len(rows)} data rows, expected {nrows}", path=str(p), fix="repair the grid")
    arr = np.array(rows, dtype=np.float64)
    if nodata is not None:
        arr[arr == nodata] = NODATA
    return arr, GridMeta(ncols, nrows, xll, yll, cell, nodata)


def read_region_map(path: str | os.PathLike[str], meta: GridMeta) -> np.ndarray:
    """Integer region / point / mask map: the header's nodata cells read as 0.

    Circuitscape only clears cells equal to the header value after mapping them to -9999, so a grid
    whose NODATA_value is not -9999 keeps -9999 there; werkland does the same.
    """
    arr, m = read_grid(path)
    _check_alignment(m, meta, path)
    if m.nodata is None or m.nodata == NODATA or m.transform is not None:
        arr[arr == NODATA] = 0
    return np.rint(arr).astype(np.int64)


def _check_alignment(m: GridMeta, meta: GridMeta, path: str | os.PathLike[str]) -> None:
    if (m.nrows, m.ncols) != (meta.nrows, meta.ncols):
        raise WerklandInputError(
            f"grid is {m.nrows} x {m.ncols}, the habitat grid {meta.nrows} x {meta.ncols}",
            path=str(path), fix="use grids with the same rows and columns",
        )


@dataclass(frozen=True)
class PointSet:
    """Focal points: 0-based row, column and id of every cell, sorted by id (stable)."""

    rows: np.ndarray
    cols: np.ndarray
    ids: np.ndarray

    @property
    def has_regions(self) -> bool:
        """Some id covers several cells (focal regions)."""
        return self.ids.size != np.unique(self.ids).size

    def unique_ids(self) -> np.ndarray:
        """Ids in increasing order."""
        return np.unique(self.ids)

    def first_cell(self, pid: int) -> tuple[int, int]:
        """The first listed cell of an id."""
        k = int(np.flatnonzero(self.ids == pid)[0])
        return int(self.rows[k]), int(self.cols[k])


def _is_grid_file(path: Path) -> bool:
    if _is_tif(path):
        return True
    with _open_text(path) as fh:
        first = fh.readline().strip().lower()
    return first.startswith("ncols")


def read_points(path: str | os.PathLike[str], meta: GridMeta) -> PointSet:
    """Focal points from a grid (non-zero cells) or a text list of ``id x y`` rows.

    Raises
    ------
    WerklandInputError
        A point outside the habitat grid, or fewer than two distinct ids.
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("point file not found", path=str(p), fix="check point_file in the .ini file")
    if _is_grid_file(p):
        arr = read_region_map(p, meta)
        cols, rows = np.nonzero(arr.T)  # Julia's column-major order
        ids = arr[rows, cols]
    else:
        tab = read_table(p)
        if tab.ndim != 2 or tab.shape[1] < 3:
            raise WerklandInputError("expected rows of 'id x y'", path=str(p), fix="use three columns")
        ids = np.rint(tab[:, 0]).astype(np.int64)
        rows = np.ceil(meta.nrows - (tab[:, 2] - meta.yll) / meta.cellsize).astype(np.int64) - 1
        cols = np.ceil((tab[:, 1] - meta.xll) / meta.cellsize).astype(np.int64) - 1
    keep = ids >= 0
    rows, cols, ids = rows[keep], cols[keep], ids[keep]
    order = np.argsort(ids, kind="stable")
    rows, cols, ids = rows[order].astype(np.int64), cols[order].astype(np.int64), ids[order].astype(np.int64)
    if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= meta.nrows or cols.max() >= meta.ncols):
        raise WerklandInputError("a focal point falls outside the habitat grid", path=str(p),
                                 fix="move the point or enlarge the habitat grid")
    if np.unique(ids).size < 2:
        raise WerklandInputError("fewer than two valid focal points", path=str(p),
                                 fix="give at least two point ids > 0")
    return PointSet(rows, cols, ids)


def read_table(path: str | os.PathLike[str], skip: int = 0) -> np.ndarray:
    """A whitespace-separated numeric table (``#`` / ``;`` comment lines ignored), 2-D float64."""
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("file not found", path=str(p), fix="check the path in the .ini file")
    with _open_text(p) as fh:
        lines = fh.read().splitlines()[skip:]
    rows = [ln.replace(",", " ").split() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", ";"))]
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float64).reshape(len(rows), -1)
    except ValueError as exc:
        raise WerklandInputError(f"not a numeric table ({exc})", path=str(p), fix="use numbers only") from exc


def read_edges(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A network edge list ``i j value`` (node ids as in the file)."""
    tab = read_table(path)
    if tab.ndim != 2 or tab.shape[1] < 3:
        raise WerklandInputError("expected rows of 'node node value'", path=str(path), fix="use three columns")
    return np.rint(tab[:, 0]).astype(np.int64), np.rint(tab[:, 1]).astype(np.int64), tab[:, 2].copy()


@dataclass(frozen=True)
class IncludePairs:
    """Pairs to solve: ``mode`` include or exclude, and the listed pairs of point ids."""

    mode: str
    point_ids: np.ndarray
    pairs: frozenset[tuple[int, int]]

    def excluded(self, a: int, b: int) -> bool:
        """Whether the pair of ids is not solved."""
        key = (min(a, b), max(a, b))
        return (key not in self.pairs) if self.mode == "include" else (key in self.pairs)


def read_include_pairs(path: str | os.PathLike[str]) -> IncludePairs:
    """A ``min``/``max`` matrix file (pairs whose value is in range are included) or a
    ``mode include|exclude`` list of id pairs."""
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("included pairs file not found", path=str(p), fix="check included_pairs_file")
    with _open_text(p) as fh:
        first, second = fh.readline().split(), fh.readline().split()
    if first and first[0].lower() == "min":
        lo, hi = float(first[1]), float(second[1])
        tab = read_table(p, skip=2)
        ids = np.rint(tab[0, 1:]).astype(np.int64)
        mat = tab[1:, 1:].copy()
        mat[mat > hi] = 0
        inc = mat >= lo
        pairs = {
            (min(int(ids[i]), int(ids[j])), max(int(ids[i]), int(ids[j])))
            for i in range(ids.size) for j in range(ids.size) if inc[i, j] and inc[j, i] and i != j
        }
        return IncludePairs("include", ids, frozenset(pairs))
    if first and first[0].lower() == "mode":
        mode = first[1].lower()
        if mode not in ("include", "exclude"):
            raise WerklandInputError(f"mode {first[1]!r}", path=str(p), fix="use 'mode include' or 'mode exclude'")
        tab = read_table(p, skip=1)
        tab = tab.reshape(-1, 2)
        ids = np.unique(np.rint(tab).astype(np.int64))
        ids = ids[ids != 0]
        pairs = {(int(min(a, b)), int(max(a, b))) for a, b in np.rint(tab).astype(np.int64)}
        return IncludePairs(mode, ids, frozenset(pairs))
    raise WerklandInputError("unknown pair file format", path=str(p),
                             fix="start with 'min <v>' / 'max <v>' (matrix) or 'mode include|exclude' (list)")


def _fmt(values: np.ndarray) -> list[str]:
    return [str(int(v)) if np.isfinite(v) and v == int(v) and abs(v) < 1e15 else f"{v:.10g}" for v in values]


def write_grid(path: str | os.PathLike[str], arr: np.ndarray, meta: GridMeta, *, nodata: float | None = None) -> None:
    """Write an ASCII grid with Circuitscape's header (values rounded to 8 decimals)."""
    nd = NODATA if nodata is None else nodata
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    a = np.round(np.asarray(arr, dtype=np.float64), 8)
    with open(p, "w", encoding="utf-8") as fh:
        fh.write(f"ncols         {meta.ncols}\nnrows         {meta.nrows}\n")
        fh.write(f"xllcorner     {meta.xll!r}\nyllcorner     {meta.yll!r}\n")
        fh.write(f"cellsize      {meta.cellsize!r}\nNODATA_value  {nd:g}\n")
        for row in a:
            fh.write(" ".join(_fmt(row)) + "\n")


def write_table(path: str | os.PathLike[str], rows: Sequence[Sequence[float]] | np.ndarray, sep: str = " ") -> None:
    """Write a numeric table (integers without decimals, other values with 10 significant digits)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(sep.join(_fmt(np.asarray(r, dtype=np.float64))) + "\n")
