"""Provenance of a run: input file hashes, the configuration as run, software versions, data citations.

Everything a reader needs to reproduce or cite the numbers of a report. Used by
:mod:`werkland.report` (methods section) but usable on its own::

    from werkland.provenance import collect_provenance
    prov = collect_provenance("results/demo", config)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyproj
import rasterio
import yaml

from werkland._errors import WerklandInputError
from werkland.raster.io import sha256_file

#: Distributions whose versions every report lists (missing ones are reported as "not installed").
PACKAGES: tuple[str, ...] = (
    "werkland",
    "snakemake",
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "pyogrio",
    "pyproj",
    "rasterio",
    "scikit-image",
    "networkx",
    "pygbif",
    "matplotlib",
    "folium",
    "jinja2",
)

#: File suffixes hashed as inputs of a region (the report's own files are excluded).
HASHED_SUFFIXES: tuple[str, ...] = (".tif", ".gpkg", ".csv", ".json", ".graphml", ".txt")

OSM_CITATION: dict[str, str] = {
    "name": "OpenStreetMap",
    "text": "(c) OpenStreetMap contributors. Data available under the Open Database License (ODbL) 1.0.",
    "licence": "ODbL 1.0",
    "url": "https://www.openstreetmap.org/copyright",
    "attribution": "(c) OpenStreetMap contributors, ODbL",
}

LEAFLET_CITATION: dict[str, str] = {
    "name": "Leaflet 1.9.4 (interactive map, bundled)",
    "text": "Leaflet, (c) 2010-2023 Volodymyr Agafonkin, (c) 2010-2011 CloudMade.",
    "licence": "BSD-2-Clause",
    "url": "https://leafletjs.com",
    "attribution": "Leaflet",
}


def file_hashes(
    paths: Iterable[str | os.PathLike[str]], *, root: str | os.PathLike[str] | None = None
) -> list[dict[str, Any]]:
    """SHA-256 and size of each existing file.

    Parameters
    ----------
    paths : iterable of path-like
        Files to hash; missing files are listed with ``sha256 = None``.
    root : path-like, optional
        Paths are reported relative to it when they lie below it.

    Returns
    -------
    list of dict
        ``{"path", "sha256", "bytes"}`` sorted by path.
    """
    out: list[dict[str, Any]] = []
    base = Path(root).resolve() if root is not None else None
    for p in paths:
        path = Path(p)
        shown = str(path)
        if base is not None:
            try:
                shown = str(path.resolve().relative_to(base))
            except ValueError:
                shown = str(path)
        if path.is_file():
            out.append({"path": shown, "sha256": sha256_file(path), "bytes": path.stat().st_size})
        else:
            out.append({"path": shown, "sha256": None, "bytes": None})
    return sorted(out, key=lambda r: r["path"])


def region_files(region_dir: str | os.PathLike[str], *, exclude: Sequence[str] = ("report",)) -> list[Path]:
    """Stage output files of a region directory (recursively), excluding the report folder and QML styles."""
    d = Path(region_dir)
    if not d.is_dir():
        return []
    files = []
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if not p.is_file() or (rel.parts and rel.parts[0] in exclude) or p.name.startswith("."):
            continue
        if p.suffix.lower() in HASHED_SUFFIXES:
            files.append(p)
    return files


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` plus Python, GDAL and PROJ.

    Returns
    -------
    dict
        Name -> version string (``"not installed"`` when absent).
    """
    out: dict[str, str] = {"python": platform.python_version(), "platform": f"{sys.platform} {platform.machine()}"}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = "not installed"
    out["GDAL"] = str(rasterio.__gdal_version__)
    out["PROJ"] = str(pyproj.proj_version_str)
    return out


def config_as_run(config: Mapping[str, Any]) -> str:
    """The configuration dictionary as YAML text (key order kept)."""
    try:
        return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    except yaml.YAMLError as exc:  # pragma: no cover - _plain makes it dumpable
        raise WerklandInputError(f"config cannot be written as YAML: {exc}", path="config") from exc


def _plain(obj: Any) -> Any:
    """Convert Snakemake's config containers and numpy scalars into plain Python objects."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_gbif_citation(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """``species/citation.json`` as a dict, or None when absent or unreadable."""
    if path is None or not Path(path).is_file():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def data_citations(citation_json: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Data citations of a region: OpenStreetMap always, GBIF from ``species/citation.json`` when present.

    Parameters
    ----------
    citation_json : path-like, optional
        The species stage's citation file.

    Returns
    -------
    list of dict
        ``{"name", "text", "licence", "url", "datasets"?}``: GBIF with its DOI (download mode) or
        its dataset list with record counts and licences (API/file mode), or a note why there is none.
    """
    out: list[dict[str, Any]] = [dict(OSM_CITATION)]
    cit = read_gbif_citation(citation_json)
    if cit is None:
        out.append(
            {
                "name": "GBIF",
                "text": "No GBIF citation: the species stage did not run or wrote no species/citation.json.",
                "licence": "",
                "url": "",
                "datasets": [],
            }
        )
        return out
    status = cit.get("status", "ok")
    doi = cit.get("doi")
    if status == "no_data":
        text = f"No GBIF species data: {cit.get('message', '')}".strip()
    elif doi:
        text = cit.get("gbif_citation") or f"GBIF.org GBIF Occurrence Download https://doi.org/{doi}"
    else:
        text = cit.get("text") or (
            f"GBIF.org ({cit.get('access_date', '')}) occurrence data, {cit.get('n_datasets', 0)} dataset(s)."
        )
    licences = cit.get("licences_clean_records") or {}
    out.append(
        {
            "name": "GBIF",
            "text": text,
            "licence": ", ".join(f"{k}: {v} records" for k, v in licences.items()) or "per record (CC0, CC BY 4.0, CC BY-NC 4.0)",
            "url": cit.get("doi_url") or "https://www.gbif.org",
            "doi": doi,
            "datasets": list(cit.get("datasets") or []),
            "commercial_use_note": cit.get("commercial_use_note", ""),
            "derived_dataset_instruction": cit.get("derived_dataset_instruction", ""),
            "status": status,
        }
    )
    return out


def collect_provenance(
    region_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    *,
    extra_files: Iterable[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Everything the methods section lists about a region's run.

    Parameters
    ----------
    region_dir : path-like
        ``results/{region}``.
    config : mapping
        The workflow configuration as run.
    extra_files : iterable of path-like
        Further inputs to hash (legend, guild table, intervention catalogue, land-cover sources).

    Returns
    -------
    dict
        ``config_yaml``, ``input_hashes``, ``versions``, ``citations``.
    """
    d = Path(region_dir)
    files = [*region_files(d), *[Path(p) for p in extra_files]]
    return {
        "config_yaml": config_as_run(config),
        "input_hashes": file_hashes(files, root=Path.cwd()),
        "versions": package_versions(),
        "citations": [*data_citations(d / "species" / "citation.json"), dict(LEAFLET_CITATION)],
    }
