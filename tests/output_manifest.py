"""Value manifests of a region's outputs: one digest per file, computed from its values.

A digest hashes what a file *says* (raster arrays with their grid, GeoPackage layers with their rows
and geometries, CSV and JSON values, GraphML nodes and edges, QGIS style text), not its bytes, so a
manifest stored before a refactor proves that every output kept its values. Floats are compared to
10 significant digits. Wall-clock timings are not values and are left out. HTML pages and PNG
figures are checked byte for byte by the rerun test instead.

Usage (writes or checks a manifest)::

    python tests/output_manifest.py results/demo tests/data/manifest/demo_20m.json
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

#: Keys whose values are wall-clock measurements (never part of the contract).
VOLATILE_KEYS = frozenset({"seconds", "elapsed_s", "timings", "stage_seconds", "time_s", "runtime_s",
                           "generated", "generated_at"})
SKIPPED_SUFFIXES = frozenset({".html", ".png", ".log", ".zip"})


def _round(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items() if not _volatile(str(k))}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    if hasattr(value, "item"):
        return _round(value.item())
    return value


def _volatile(key: str) -> bool:
    return key in VOLATILE_KEYS or key.endswith("_seconds") or key.startswith(("seconds_", "timing"))


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _raster(path: Path) -> Any:
    import numpy as np
    import rasterio

    with rasterio.open(path) as ds:
        arr = ds.read()
        return {
            "dtype": str(arr.dtype),
            "shape": list(arr.shape),
            "nodata": _round(ds.nodata),
            "crs": ds.crs.to_epsg() if ds.crs else None,
            "transform": _round(list(ds.transform)[:6]),
            "values": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16],
        }


def _frame(df: Any) -> Any:
    if [c for c in df.columns if c != "geometry"] == ["key", "value"]:  # key/value table (barrier info)
        df = df[[not _volatile(str(k)) for k in df["key"]]]
        return {"rows": {str(k): _digest(_round(v)) for k, v in zip(df["key"], df["value"], strict=True)},
                "n": len(df)}
    cols = [c for c in df.columns if c != "geometry" and not _volatile(str(c))]
    out: dict[str, Any] = {
        "columns": {str(c): _digest([_round(v) for v in df[c].tolist()]) for c in cols},
        "n": len(df),
    }
    if "geometry" in df.columns:
        import shapely

        geoms = shapely.set_precision(df.geometry.values, 1e-6)
        out["geometry"] = _digest([g.wkt if g is not None else None for g in shapely.normalize(geoms)])
        out["crs"] = df.crs.to_epsg() if df.crs is not None else None
    return out


def _gpkg(path: Path) -> Any:
    import geopandas as gpd
    import pyogrio

    layers = {}
    for name, _geom in pyogrio.list_layers(path):
        df = gpd.read_file(path, layer=name) if _geom else pyogrio.read_dataframe(path, layer=name, read_geometry=False)
        layers[str(name)] = _frame(df)
    return layers


def _csv(path: Path) -> Any:
    import pandas as pd

    return _frame(pd.read_csv(path, keep_default_na=False, na_values=[""]))


def _graphml(path: Path) -> Any:
    import networkx as nx

    g = nx.read_graphml(path)
    nodes = sorted((str(n), _round(dict(a))) for n, a in g.nodes(data=True))
    edges = sorted((str(u), str(v), _round(dict(a))) for u, v, a in g.edges(data=True))
    return {"nodes": _digest(nodes), "edges": _digest(edges), "n": [len(nodes), len(edges)]}


def file_values(path: Path) -> Any:
    """The values of one output file (see the module docstring)."""
    suffix = path.suffix.lower()
    if suffix == ".tif":
        return _raster(path)
    if suffix == ".gpkg":
        return _gpkg(path)
    if suffix == ".csv":
        return _csv(path)
    if suffix == ".json":
        return _round(json.loads(path.read_text()))
    if suffix == ".graphml":
        return _graphml(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _digests(value: Any) -> Any:
    """Digests at the level a contract is kept: per column, per JSON key, per layer; whole values below."""
    if isinstance(value, dict):
        return {k: _digests(v) for k, v in value.items()}
    return _digest(value)


def value_manifest(region_dir: Path) -> dict[str, Any]:
    """``relative path -> digests of its values`` for every output file of a region."""
    out = {}
    for path in sorted(Path(region_dir).rglob("*")):
        if path.is_file() and path.suffix.lower() not in SKIPPED_SUFFIXES:
            out[path.relative_to(region_dir).as_posix()] = _digests(file_values(path))
    return out


def _differences(stored: Any, now: Any, where: str) -> list[str]:
    """What the stored manifest holds that ``now`` lacks or holds differently (additions are fine:
    a new column, key or layer keeps the contract)."""
    if isinstance(stored, dict) and isinstance(now, dict):
        out = []
        for k, v in stored.items():
            if k not in now:
                out.append(f"missing: {where}/{k}")
            else:
                out += _differences(v, now[k], f"{where}/{k}")
        return out
    return [] if stored == now else [f"values differ: {where}"]


def compare(region_dir: Path, manifest_path: Path) -> list[str]:
    """Every file, layer, column and key of the stored manifest that is missing or whose values differ
    ([] when all agree)."""
    stored = json.loads(Path(manifest_path).read_text())
    return _differences(stored, value_manifest(region_dir), "")


if __name__ == "__main__":  # pragma: no cover - manifest writer
    region, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(value_manifest(region), indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")
