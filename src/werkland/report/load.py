"""Reading a region's stage outputs into the report's data (:class:`RegionData`).

Every file comes from :class:`werkland.layout.RegionPaths`; a missing or unreadable file becomes a
:class:`Loaded` without value and with the reason the report shows in its place.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from werkland._errors import WerklandInputError
from werkland.layout import RegionPaths
from werkland.params.report import ReportParams
from werkland.raster.io import read_raster
from werkland.report.i18n import tr
from werkland.tables import Guild, Legend, load_guilds, load_legend

log = logging.getLogger(__name__)

_LINK_CHUNK = 20_000  # links read per batch by read_links (bounds the temporary shapely geometries)


@dataclass
class Loaded:
    """A stage output: its value, or None with the reason it is missing."""

    value: Any = None
    reason: str = ""
    path: str = ""

    @property
    def ok(self) -> bool:
        """True when the value was read."""
        return self.value is not None


@dataclass
class LinkLines:
    """The least-cost links of a guild, reduced to what the patch map draws.

    A GeoDataFrame of ``graph/{guild}_links.gpkg`` holds every path as a shapely geometry (over
    1 GB for a few hundred thousand links); this keeps the ``(x, y)`` vertices only.

    Attributes
    ----------
    n_links : int
        Number of features of the layer (``len()``).
    segments : list of numpy.ndarray
        One ``(n, 2)`` float64 vertex array per LineString part, in layer order, of the geometries
        normalised by :func:`shapely.normalize` (as geopandas' plotting does); missing and empty
        geometries are left out.
    linewidths : numpy.ndarray
        Line width of each segment: ``0.3 + 2 p_direct`` of its link (missing ``p_direct`` is 0, a
        layer without the field uses 0.5).
    """

    n_links: int
    segments: list[np.ndarray]
    linewidths: np.ndarray

    def __len__(self) -> int:
        return self.n_links


@dataclass
class RegionData:
    """Everything read from ``results/{region}`` (each item may be missing, with its reason)."""

    paths: RegionPaths
    params: ReportParams
    legend: Legend
    guilds: dict[str, Guild]
    region_poly: Loaded
    parks: gpd.GeoDataFrame
    landcover: Loaded
    habitat: dict[str, Loaded] = field(default_factory=dict)
    summary: dict[str, Loaded] = field(default_factory=dict)
    metrics: dict[str, Loaded] = field(default_factory=dict)
    patches: dict[str, Loaded] = field(default_factory=dict)
    links: dict[str, Loaded] = field(default_factory=dict)  # values: LinkLines
    corridors: dict[str, Loaded] = field(default_factory=dict)
    barriers: Loaded = field(default_factory=Loaded)
    counts: Loaded = field(default_factory=Loaded)
    citation: Loaded = field(default_factory=Loaded)
    occurrences: Loaded = field(default_factory=Loaded)
    climate: Loaded = field(default_factory=Loaded)
    cooling: Loaded = field(default_factory=Loaded)
    runoff: dict[str, Loaded] = field(default_factory=dict)
    candidates: Loaded = field(default_factory=Loaded)
    portfolio: Loaded = field(default_factory=Loaded)

    @property
    def region(self) -> str:
        """Region id."""
        return self.paths.region

    @property
    def language(self) -> str:
        """Report language."""
        return self.params.language

    @property
    def crs(self) -> Any:
        """The region's metric CRS."""
        return self.parks.crs

    def missing(self, path: Path) -> str:
        """Reason text for a missing stage output ``path`` (a file of :attr:`paths`)."""
        rel = path.relative_to(self.paths.dir).as_posix()
        return tr("missing_stage", self.language, what=f"{self.region}/{rel}")


# --------------------------------------------------------------------------------------------
# readers


def read_raster_masked(p: Path) -> tuple[np.ndarray, Any]:
    """Band 1 of a raster as a floating-point array with NaN at nodata, and its grid.

    A float raster keeps its stored dtype and is masked in place (a float32 raster stays float32:
    half the memory of a float64 copy, no full-size temporary); an integer raster becomes the
    smallest float type that holds its values exactly (float32 up to 16 bit, else float64).
    Consumers that compare against Python floats or draw the values upcast where it matters
    (:func:`werkland.report.cards.park_cards`, the maps), so every reported number is that of the
    float64 values.

    Parameters
    ----------
    p : pathlib.Path
        The raster file.

    Returns
    -------
    array : numpy.ndarray
        Floating-point values, NaN where the raster has its nodata value.
    grid : werkland.raster.io.Grid
        The raster's grid.
    """
    arr, grid, nodata = read_raster(p)
    a = arr if arr.dtype.kind == "f" else arr.astype(np.result_type(arr.dtype, np.float32))
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        a[arr == nodata] = np.nan  # NaN nodata: the NaN cells are NaN already
    return a, grid


def read_links(p: Path, chunk: int = _LINK_CHUNK) -> LinkLines:
    """Read the ``links`` layer of a GeoPackage in batches of ``chunk`` features into :class:`LinkLines`.

    Raises
    ------
    ValueError
        When the layer holds other geometries than (Multi)LineStrings (the data contract).
    """
    info = pyogrio.read_info(p, layer="links")
    total = int(info["features"])
    columns = ["p_direct"] if "p_direct" in list(info["fields"]) else []
    segments: list[np.ndarray] = []
    widths: list[np.ndarray] = []
    n = 0
    while total < 0 or n < total:
        df = pyogrio.read_dataframe(p, layer="links", columns=columns, skip_features=n, max_features=chunk)
        if len(df) == 0:
            break
        n += len(df)
        pdir = pd.to_numeric(df["p_direct"] if columns else pd.Series(0.5, index=df.index), errors="coerce").fillna(0)
        lw = (0.3 + 2.0 * pdir).to_numpy()
        geoms = shapely.normalize(np.asarray(df.geometry.array))
        del df
        keep = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
        geoms = geoms[keep]
        parts, part_of = _line_parts(geoms)
        del geoms
        coords, coord_of = shapely.get_coordinates(parts, return_index=True)
        ends = np.cumsum(np.bincount(coord_of, minlength=len(parts)))
        segments.extend(np.split(coords, ends[:-1]) if len(parts) else [])
        widths.append(lw[keep][part_of])
    return LinkLines(n, segments, np.concatenate(widths) if widths else np.zeros(0))


def _line_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The LineString parts of (Multi)LineStrings and the index of the geometry each comes from."""
    types = shapely.get_type_id(geoms)
    line, multi = shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING
    if np.any((types != line) & (types != multi)):
        found = sorted({shapely.GeometryType(t).name for t in np.unique(types)})
        raise ValueError(f"layer 'links' must hold LineStrings, found {', '.join(found)}")
    if np.all(types == line):
        return geoms, np.arange(len(geoms))
    return shapely.get_parts(geoms, return_index=True)


def _read_gpkg(layer: str | None = None) -> Callable[[Path], gpd.GeoDataFrame]:
    def reader(p: Path) -> gpd.GeoDataFrame:
        return gpd.read_file(p, layer=layer, engine="pyogrio")

    return reader


def _read_json(p: Path) -> Any:
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)


def _read_csv(p: Path) -> pd.DataFrame:
    return pd.read_csv(p, dtype={"park_id": str})


def _read_landcover(p: Path) -> tuple[np.ndarray, Any]:
    return read_raster(p)[:2]


def _unreadable(path: Path, why: str, language: str) -> str:
    return tr("unreadable", language, name=path.name, why=why)


def _load(path: Path, reader: Callable[[Path], Any], why_missing: str, language: str) -> Loaded:
    """Read ``path`` with ``reader``; a missing file gives ``why_missing``, an unreadable one its error."""
    if not path.is_file():
        return Loaded(None, why_missing, str(path))
    try:
        return Loaded(reader(path), "", str(path))
    except (WerklandInputError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Loaded(None, _unreadable(path, why, language), str(path))
    except Exception as exc:  # pyogrio/GDAL errors have their own classes
        log.warning("cannot read %s: %s", path, exc)
        return Loaded(None, _unreadable(path, type(exc).__name__, language), str(path))


# --------------------------------------------------------------------------------------------
# the region


def _select_guilds(
    guilds_yaml: str | os.PathLike[str], legend: Legend, wanted: tuple[str, ...]
) -> dict[str, Guild]:
    all_guilds = load_guilds(guilds_yaml, legend)
    unknown = [g for g in wanted if g not in all_guilds]
    if unknown:
        raise WerklandInputError(f"guild(s) {unknown} are not in {guilds_yaml}", path="config: guilds")
    return {g: all_guilds[g] for g in wanted}


def _read_parks(region_gpkg: Path) -> gpd.GeoDataFrame:
    """The ``parks`` layer with ``park_id`` (str), ``name`` and ``area_m2``.

    Raises
    ------
    WerklandInputError
        When ``region.gpkg`` is missing or its parks layer is unreadable or has no ``park_id``.
    """
    if not region_gpkg.is_file():
        raise WerklandInputError(
            "region.gpkg not found: nothing to report", path=str(region_gpkg),
            fix="run the landcover rule for this region first",
        )
    try:
        parks = gpd.read_file(region_gpkg, layer="parks", engine="pyogrio")
    except Exception as exc:
        raise WerklandInputError(
            f"cannot read layer 'parks' ({exc})", path=str(region_gpkg), fix="re-run the landcover rule"
        ) from exc
    if "park_id" not in parks.columns:
        raise WerklandInputError(
            "layer 'parks' has no column park_id", path=str(region_gpkg), fix="re-run the landcover rule"
        )
    parks["park_id"] = parks["park_id"].astype(str)
    if "name" not in parks.columns:
        parks["name"] = ""
    parks["name"] = parks["name"].fillna("").astype(str)
    if "area_m2" not in parks.columns:
        parks["area_m2"] = parks.geometry.area
    return parks


def _load_guild_outputs(data: RegionData) -> None:
    p, lang = data.paths, data.language
    for g in data.guilds:
        data.habitat[g] = _load(p.habitat(g), read_raster_masked, data.missing(p.habitat(g)), lang)
        data.summary[g] = _load(p.summary(g), _read_json, data.missing(p.summary(g)), lang)
        data.metrics[g] = _load(p.metrics(g), _read_csv, data.missing(p.metrics(g)), lang)
        data.patches[g] = _load(p.patches_gpkg(g), _read_gpkg("patches"), data.missing(p.patches_gpkg(g)), lang)
        data.corridors[g] = _load(p.corridors(g), read_raster_masked, data.missing(p.corridors(g)), lang)


def load_links(data: RegionData) -> None:
    """Read every guild's links (:func:`read_links`) into ``data.links``.

    Only the patch map draws them; :func:`load_region` with ``links=False`` leaves them to the
    worker process that draws that map (see :func:`werkland.report.render.build_region_report`).
    """
    p, lang = data.paths, data.language
    for g in data.guilds:
        data.links[g] = _load(p.links(g), read_links, data.missing(p.links(g)), lang)


def _load_region_outputs(data: RegionData) -> None:
    p, lang = data.paths, data.language

    def load(path: Path, reader: Callable[[Path], Any]) -> Loaded:
        return _load(path, reader, data.missing(path), lang)

    data.barriers = load(p.barriers_all, _read_gpkg("barriers"))
    data.counts = load(p.counts, _read_csv)
    data.citation = load(p.citation, _read_json)
    data.occurrences = load(p.occurrences, _read_gpkg("occurrences"))
    data.climate = load(p.climate_summary, _read_csv)
    data.cooling = load(p.cooling, read_raster_masked)
    for s in data.params.storm_names:
        data.runoff[s] = load(p.runoff(s), read_raster_masked)
    data.candidates = load(p.candidates, _read_gpkg("candidates"))
    data.portfolio = load(p.portfolio, _read_csv)


def load_region(
    paths: RegionPaths,
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    params: ReportParams,
    *,
    links: bool = True,
) -> RegionData:
    """Read every stage output of a region that exists.

    Parameters
    ----------
    paths : RegionPaths
        The region's files.
    legend_yaml, guilds_yaml : path-like
        ``config/landcover_classes.yaml`` and ``config/guilds.yaml``.
    params : ReportParams
        Guilds, storms and language of the report.
    links : bool
        Also read the links of every guild (:func:`load_links`); without, ``data.links`` stays
        empty until :func:`load_links` is called.

    Raises
    ------
    WerklandInputError
        When ``region.gpkg`` (the land-cover stage's park layer) is missing or has no ``park_id``,
        or a configured guild is not in the guild table.
    """
    legend = load_legend(legend_yaml)
    guilds = _select_guilds(guilds_yaml, legend, params.guilds)
    parks = _read_parks(paths.region_gpkg)
    data = RegionData(
        paths=paths,
        params=params,
        legend=legend,
        guilds=guilds,
        region_poly=Loaded(),
        parks=parks,
        landcover=Loaded(),
    )
    data.region_poly = _load(paths.region_gpkg, _read_gpkg("region"), data.missing(paths.region_gpkg), data.language)
    data.landcover = _load(paths.landcover_tif, _read_landcover, data.missing(paths.landcover_tif), data.language)
    _load_guild_outputs(data)
    if links:
        load_links(data)
    _load_region_outputs(data)
    return data
