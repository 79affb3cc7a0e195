"""Generated benchmark regions: a Voronoi land-cover tiling plus a road grid, in EPSG:28992.

``make_region(size_km, n_polygons, seed)`` writes a GeoPackage with a ``class`` column (legend names)
and a parks file, the inputs of a ``vector`` land-cover source. Seeded: the same arguments give the
same files.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import voronoi_diagram

# class shares of a Dutch peri-urban landscape with business parks (estimate, for benchmarking only)
CLASS_SHARES = {
    "built_area": 0.18, "building": 0.10, "sealed": 0.06, "parking": 0.03, "grass": 0.16, "meadow": 0.06,
    "cropland": 0.15, "woodland": 0.08, "shrub": 0.04, "garden": 0.06, "open_water": 0.03, "wetland": 0.02,
    "bare": 0.03,
}
X0, Y0 = 80000.0, 440000.0  # RD New, near Delft


def make_region(out_dir: str | Path, size_km: float = 20.0, n_polygons: int = 40000, seed: int = 1) -> dict[str, Path]:
    """Write ``landcover.gpkg`` (polygons + road/rail/waterway lines) and ``parks.gpkg`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    size = size_km * 1000.0
    pts = rng.uniform(0, size, size=(n_polygons, 2)) + (X0, Y0)
    box = shapely.box(X0, Y0, X0 + size, Y0 + size)
    cells = shapely.get_parts(voronoi_diagram(shapely.MultiPoint(pts), envelope=box))
    cells = shapely.intersection(cells, box)
    names = np.array(list(CLASS_SHARES))
    probs = np.array(list(CLASS_SHARES.values()))
    cls = rng.choice(names, size=len(cells), p=probs / probs.sum())
    polys = gpd.GeoDataFrame({"class": cls}, geometry=cells, crs=28992)
    # road grid every 1.5 km (main), 500 m (minor), a motorway, a railway and canals
    lines, lcls = [], []
    for k, step in (("road_minor", 500.0), ("road_main", 1500.0)):
        for v in np.arange(step / 2, size, step):
            lines += [shapely.LineString([(X0 + v, Y0), (X0 + v, Y0 + size)]),
                      shapely.LineString([(X0, Y0 + v), (X0 + size, Y0 + v)])]
            lcls += [k, k]
    lines.append(shapely.LineString([(X0, Y0 + 0.3 * size), (X0 + size, Y0 + 0.7 * size)]))
    lcls.append("road_motorway")
    lines.append(shapely.LineString([(X0 + 0.2 * size, Y0), (X0 + 0.6 * size, Y0 + size)]))
    lcls.append("railway")
    lines.append(shapely.LineString([(X0, Y0 + 0.8 * size), (X0 + size, Y0 + 0.75 * size)]))
    lcls.append("waterway")
    line_gdf = gpd.GeoDataFrame({"class": lcls}, geometry=lines, crs=28992)
    lc = gpd.GeoDataFrame(
        {"class": np.concatenate([polys["class"].to_numpy(), line_gdf["class"].to_numpy()])},
        geometry=np.concatenate([polys.geometry.values, line_gdf.geometry.values]), crs=28992,
    )
    lc_path = out / "landcover.gpkg"
    lc.to_file(lc_path, layer="landcover", engine="pyogrio")
    # 16 business parks of 20-60 ha on a 4 x 4 grid
    parks = []
    for i in range(4):
        for j in range(4):
            cx, cy = X0 + (i + 0.5) * size / 4, Y0 + (j + 0.5) * size / 4
            half = rng.uniform(220, 390)
            parks.append({"park_id": f"bench-{i}{j}", "geometry": shapely.box(cx - half, cy - half, cx + half, cy + half)})
    parks_path = out / "parks.gpkg"
    gpd.GeoDataFrame(parks, geometry="geometry", crs=28992).to_file(parks_path, engine="pyogrio")
    return {"landcover": lc_path, "parks": parks_path, "size_m": size}
