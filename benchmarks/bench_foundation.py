"""Benchmark of the foundation stages: land cover -> habitat + resistance (4 guilds).

Runs on the demo extract and on a generated 20 x 20 km region at 10 m (4 M cells, ~40,000 polygons).
Target: land cover -> habitat + resistance for 4 M cells and 4 guilds in < 60 s, < 3 GB.

Usage: .venv/bin/python benchmarks/bench_foundation.py [--size-km 20] [--polygons 40000] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent

from measure import print_table, run_stage  # noqa: E402
from synthetic import make_region  # noqa: E402

GUILDS = ["hedgehog", "pollinators", "amphibians", "woodland_birds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-km", type=float, default=20.0)
    ap.add_argument("--polygons", type=int, default=40000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    a = ap.parse_args()
    out = Path(a.out)
    rows = []
    for name, buffer in (("demo", 500.0), ("generated", 0.0)):
        d = out / f"foundation-{name}"
        d.mkdir(parents=True, exist_ok=True)
        if name == "demo":
            sources = "[{'type': 'osm', 'path': __import__('werkland.landcover').landcover.demo_pbf_path()}]"
            parks_spec = "{'from_landuse': ['industrial', 'commercial', 'retail']}"
        else:
            gen = make_region(d / "input", size_km=a.size_km, n_polygons=a.polygons)
            sources = f"[{{'type': 'vector', 'path': r'{gen['landcover']}', 'class_field': 'class'}}]"
            parks_spec = f"{{'file': r'{gen['parks']}', 'id_field': 'park_id'}}"
            buffer = 2200.0  # parks sit on a 5 km grid: a 2.2 km context buffer covers the square
        lc = (
            "from werkland.landcover import run_landcover\n"
            "from werkland.params import LandcoverParams\n"
            f"p = LandcoverParams.from_region({{'land_cover': {sources}, 'crs': 'auto', 'resolution_m': 10.0, "
            f"'context_buffer_m': {buffer}, 'fill_class': 'grass', 'clip_lonlat': None, 'parks': "
            f"{{'from_landuse': ['industrial', 'commercial'], 'min_area_m2': 10000, 'id_field': 'park_id', "
            f"**{parks_spec}}}}})\n"
            f"run_landcover(p, r'{ROOT / 'config' / 'landcover_classes.yaml'}', r'{d}/region.gpkg', "
            f"r'{d}/landcover.gpkg', r'{d}/landcover.tif')"
        )
        rows.append(run_stage(lc, f"{name}: land cover (read, overlaps, rasterise)"))
        hab = (
            "from werkland.habitat import run_habitat\n"
            "from werkland.params import HabitatParams\n"
            f"g = {GUILDS!r}\n"
            f"run_habitat(r'{d}/landcover.tif', r'{ROOT / 'config' / 'landcover_classes.yaml'}', "
            f"r'{ROOT / 'config' / 'guilds.yaml'}', {{x: r'{d}/habitat/' + x + '.tif' for x in g}}, "
            f"{{x: r'{d}/resistance/' + x + '.tif' for x in g}}, params=HabitatParams(tile_cells=0))"
        )
        rows.append(run_stage(hab, f"{name}: habitat + resistance, 4 guilds"))
        import rasterio

        with rasterio.open(d / "landcover.tif") as ds:
            print(f"{name}: {ds.width} x {ds.height} = {ds.width * ds.height / 1e6:.2f} M cells at {ds.res[0]} m")
    print_table(rows)


if __name__ == "__main__":
    main()
