"""Generated "national" inputs: a parks register, a vector land-cover layer and an OSM extract.

Used by ``benchmarks/bench_national_vector.py`` and ``tests/e2e/test_national.py``. Everything is in
RD New (EPSG:28992) unless said otherwise, and written fast (vectorised WKB geometries written in
batches through ``pyogrio.raw.write``, no per-feature Python objects).

- :func:`write_parks_register`: park polygons with a text id column (``RIN_NUMMER``, as in the
  provinces' IBIS register) and a name column.
- :func:`write_grid_landcover`: a grid of square polygons with a class column (Dutch values, see
  :data:`CLASS_MAPPING`), optionally finer inside given blocks, plus extra features with values
  that have no mapping (they must not fail a region they do not touch).
- :func:`write_grid_osm`: a grid of closed ``landuse`` ways as ``.osm.pbf`` (OPL converted with
  ``osmium cat``; needs osmium-tool).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write
from pyproj import Transformer

RD = "EPSG:28992"
#: Class values of the generated land cover -> legend class (``None``: skipped on purpose).
CLASS_MAPPING: dict[str, str | None] = {
    "gras": "grass",
    "bebouwd": "built_area",
    "bos": "woodland",
    "water": "open_water",
    "verhard": "sealed",
    "akker": "cropland",
    "pand": "building",
    "overig": None,
}
#: Values of the regular grid, in the order they are dealt out.
GRID_VALUES: tuple[str, ...] = ("gras", "bebouwd", "bos", "water", "verhard", "akker", "pand", "overig")
#: A value without a mapping, written only where the caller asks (outside every region).
UNMAPPED_VALUE = "onbekend_buitengebied"
#: OSM ``landuse`` values of the generated extract.
OSM_LANDUSE: tuple[str, ...] = ("grass", "industrial", "meadow", "forest", "farmland", "residential", "commercial")

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Park:
    """A generated park: its register id, name and rectangle (RD New, metres)."""

    id: str
    name: str
    box: Box

    @property
    def geometry(self) -> shapely.Geometry:
        return shapely.box(*self.box)


def write_parks_register(path: str | Path, parks: Sequence[Park], *, id_field: str = "RIN_NUMMER",
                         name_field: str = "PLAN_NAAM") -> Path:
    """Write park polygons (one feature per park, ids as text) to a GeoPackage in RD New."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        p.unlink()
    geoms = shapely.to_wkb(np.array([pk.geometry for pk in parks], dtype=object))
    ogr_write(p, geoms, [np.array([pk.id for pk in parks], dtype=object),
                         np.array([pk.name for pk in parks], dtype=object)], [id_field, name_field],
              layer="bedrijventerreinen", driver="GPKG", geometry_type="Polygon", crs=RD)
    return p


def _squares(x0: float, y0: float, nx: int, ny: int, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column index, row index and WKB of ``nx`` x ``ny`` squares of side ``cell`` from (x0, y0)."""
    c, r = np.meshgrid(np.arange(nx), np.arange(ny))
    c, r = c.ravel(), r.ravel()
    xs, ys = x0 + c * cell, y0 + r * cell
    return c, r, shapely.to_wkb(shapely.box(xs, ys, xs + cell, ys + cell))


def write_grid_landcover(
    path: str | Path,
    extent: Box,
    cell_m: float,
    *,
    fine: Sequence[tuple[Box, float]] = (),
    unmapped: Sequence[Box] = (),
    class_field: str = "klasse",
    layer: str = "landcover",
    batch: int = 500_000,
) -> dict[str, int]:
    """A land-cover layer of squares with a class column, written in batches.

    Parameters
    ----------
    path : path-like
        The GeoPackage to write (replaced).
    extent : tuple
        (xmin, ymin, xmax, ymax) of the regular grid, RD New.
    cell_m : float
        Side of the grid squares.
    fine : sequence of (box, cell)
        Blocks where the grid squares are replaced by finer squares of side ``cell`` (the block
        is snapped outwards to the coarse grid).
    unmapped : sequence of box
        Extra squares with :data:`UNMAPPED_VALUE` (a value without mapping).
    class_field, layer : str
        Column and layer names.
    batch : int
        Features per write.

    Returns
    -------
    dict
        ``features`` (total), ``coarse``, ``fine``, ``unmapped``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        p.unlink()
    x0, y0, x1, y1 = extent
    nx, ny = int(round((x1 - x0) / cell_m)), int(round((y1 - y0) / cell_m))
    holes = []
    for (bx0, by0, bx1, by1), _ in fine:
        holes.append((int((bx0 - x0) // cell_m), int((by0 - y0) // cell_m),
                      int(math.ceil((bx1 - x0) / cell_m)), int(math.ceil((by1 - y0) / cell_m))))
    values = np.array(GRID_VALUES, dtype=object)
    first = [True]
    counts = {"coarse": 0, "fine": 0, "unmapped": 0}

    def write(wkb: np.ndarray, vals: np.ndarray) -> None:
        for s in range(0, len(wkb), batch):
            ogr_write(p, wkb[s:s + batch], [vals[s:s + batch]], [class_field], layer=layer, driver="GPKG",
                      geometry_type="Polygon", crs=RD, append=not first[0])
            first[0] = False

    rows_per_batch = max(1, batch // max(nx, 1))
    for r0 in range(0, ny, rows_per_batch):
        nr = min(rows_per_batch, ny - r0)
        c, r, wkb = _squares(x0, y0 + r0 * cell_m, nx, nr, cell_m)
        r = r + r0
        keep = np.ones(len(c), bool)
        for hc0, hr0, hc1, hr1 in holes:
            keep &= ~((c >= hc0) & (c < hc1) & (r >= hr0) & (r < hr1))
        vals = values[(r * 3 + c * 5) % len(values)]
        write(wkb[keep], vals[keep])
        counts["coarse"] += int(keep.sum())
    for (hc0, hr0, hc1, hr1), (_, cell) in zip(holes, fine, strict=True):
        bx0, by0 = x0 + hc0 * cell_m, y0 + hr0 * cell_m
        k = int(round(cell_m / cell))
        c, r, wkb = _squares(bx0, by0, (hc1 - hc0) * k, (hr1 - hr0) * k, cell)
        vals = values[(r * 7 + c * 3) % len(values)]
        write(wkb, vals)
        counts["fine"] += len(wkb)
    if unmapped:
        wkb = shapely.to_wkb(np.array([shapely.box(*b) for b in unmapped], dtype=object))
        write(wkb, np.array([UNMAPPED_VALUE] * len(wkb), dtype=object))
        counts["unmapped"] = len(wkb)
    counts["features"] = counts["coarse"] + counts["fine"] + counts["unmapped"]
    return counts


def write_grid_osm(path: str | Path, extent: Box, cell_m: float, *, seed: int = 1) -> dict[str, int]:
    """An ``.osm.pbf`` of closed ``landuse`` ways on a grid over ``extent`` (RD New), in lon/lat.

    The grid corners are transformed from RD New to EPSG:4326, so the ways line up with parks and
    land cover given in RD. Node metadata (version, changeset, timestamp) varies as in real data:
    GDAL's OSM driver refuses PBF blocks that compress too well. Needs ``osmium`` on ``PATH``.

    Returns
    -------
    dict
        ``ways`` and ``nodes``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    x0, y0, x1, y1 = extent
    nx, ny = int(round((x1 - x0) / cell_m)), int(round((y1 - y0) / cell_m))
    nnx = nx + 1
    cc, rr = np.meshgrid(np.arange(nnx), np.arange(ny + 1))
    lon, lat = Transformer.from_crs(RD, 4326, always_xy=True).transform(x0 + cc.ravel() * cell_m,
                                                                        y0 + rr.ravel() * cell_m)
    rng = np.random.default_rng(seed)
    n_nodes = len(lon)
    cs = rng.integers(1, 150_000_000, n_nodes)
    opl = p.with_name(p.name.replace(".osm.pbf", "") + ".opl")
    with open(opl, "w", encoding="ascii", buffering=1 << 22) as fh:
        fh.write("".join(f"n{i + 1} v{ch % 7 + 1} dV c{ch} t20{ch % 20:02d}-0{ch % 9 + 1}-1{ch % 10}T12:00:00Z "
                         f"i{ch % 999_983} u T x{x:.7f} y{y:.7f}\n"
                         for i, (x, y, ch) in enumerate(zip(lon, lat, cs, strict=True))))
        c, r = np.meshgrid(np.arange(nx), np.arange(ny))
        c, r = c.ravel(), r.ravel()
        a = r * nnx + c + 1
        b, d = a + 1, a + nnx
        e = d + 1
        lu = np.array(OSM_LANDUSE)[(r * 7 + c * 3) % len(OSM_LANDUSE)]
        wc = rng.integers(1, 150_000_000, len(c))
        fh.write("".join(f"w{w + 1} v{ch % 5 + 1} dV c{ch} t20{ch % 20:02d}-0{ch % 9 + 1}-1{ch % 10}T12:00:00Z "
                         f"i{ch % 999_983} u Tlanduse={t} Nn{p1},n{p2},n{p3},n{p4},n{p1}\n"
                         for w, t, p1, p2, p3, p4, ch in zip(range(len(c)), lu, a, b, e, d, wc, strict=True)))
    subprocess.run(["osmium", "cat", str(opl), "-o", str(p), "--overwrite", "--no-progress"], check=True)
    opl.unlink()
    return {"ways": nx * ny, "nodes": n_nodes}


__all__ = ["CLASS_MAPPING", "GRID_VALUES", "OSM_LANDUSE", "RD", "UNMAPPED_VALUE", "Park", "write_grid_landcover",
           "write_grid_osm", "write_parks_register"]
