"""The region report: summary cards, maps, plots, an offline interactive map and the methods.

:func:`build_region_report` reads whatever stage outputs of ``results/{region}/`` exist (the data
contract of ``docs/architecture.md``) and writes, into the folder of ``out_html``:

* ``index.html`` -- self-contained (figures embedded as base64 PNG), English or Dutch;
* ``map.html`` -- interactive Leaflet map (Leaflet 1.9.4 inlined, land cover as an image overlay,
  no tile server and no internet needed);
* ``summary.json`` -- every number of the summary cards (read by :func:`build_overview`);
* one PNG per figure (:data:`FIGURES`), also used by Snakemake's ``--report``.

Every section renders when its inputs are missing or empty and says why ("not computed in this
run: ... is missing", "no species data: GBIF unreachable and no cache", "no candidates").
:func:`build_overview` writes ``results/report.html`` with one row per region and park.

No snakemake import; matplotlib is used through :class:`matplotlib.figure.Figure` (Agg, no pyplot).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html as _html
import io
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import jinja2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from werkland import __version__  # noqa: E402
from werkland._errors import WerklandInputError  # noqa: E402
from werkland.provenance import OSM_CITATION, collect_provenance  # noqa: E402
from werkland.raster.io import atomic_path, read_raster, write_json  # noqa: E402
from werkland.report_i18n import FIGURES, LANGUAGES, tr  # noqa: E402
from werkland.tables import Guild, Legend, load_guilds, load_legend  # noqa: E402

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
TEMPLATES = _HERE / "templates"
STATIC = _HERE / "static"

ATTRIBUTION = OSM_CITATION["attribution"]
_DPI = 110
_MAX_PIXELS = 1400  # rasters are subsampled to at most this many pixels per side for the maps
_GUILD_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4")
_MEASURE_COLOURS = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6",
)


# --------------------------------------------------------------------------------------------
# reading the stage outputs


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
class RegionData:
    """Everything read from ``results/{region}`` (each item may be missing, with its reason)."""

    region: str
    region_dir: Path
    language: str
    legend: Legend
    guilds: dict[str, Guild]
    config: Mapping[str, Any]
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
    def crs(self) -> Any:
        """The region's metric CRS."""
        return self.parks.crs

    def missing(self, rel: str) -> str:
        """Reason text for a missing file ``rel`` (relative to the region folder)."""
        return tr("missing_stage", self.language, what=f"{self.region}/{rel}")


def _missing(data_lang: str, region: str, rel: str) -> str:
    return tr("missing_stage", data_lang, what=f"{region}/{rel}")


def _load(path: Path, reader: Any, why_missing: str) -> Loaded:
    """Read ``path`` with ``reader``; a missing file gives ``why_missing``, an unreadable one its error."""
    if not path.is_file():
        return Loaded(None, why_missing, str(path))
    try:
        return Loaded(reader(path), "", str(path))
    except (WerklandInputError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return Loaded(None, f"{path.name} is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})", str(path))
    except Exception as exc:  # pyogrio/GDAL errors have their own classes
        log.warning("cannot read %s: %s", path, exc)
        return Loaded(None, f"{path.name} is unreadable ({type(exc).__name__})", str(path))


def _read_gpkg(layer: str | None = None) -> Any:
    def reader(p: Path) -> gpd.GeoDataFrame:
        return gpd.read_file(p, layer=layer, engine="pyogrio")

    return reader


def _read_raster_masked(p: Path) -> tuple[np.ndarray, Any]:
    """Band 1 of a raster as a floating-point array with NaN at nodata, and its grid.

    A float raster keeps its stored dtype and is masked in place (a float32 raster stays float32:
    half the memory of a float64 copy, no full-size temporary); an integer raster becomes the
    smallest float type that holds its values exactly (float32 up to 16 bit, else float64).
    Consumers that compare against Python floats or draw the values upcast where it matters
    (:func:`park_cards`, :func:`_imshow`), so every reported number is that of the float64 values.

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


_LINK_CHUNK = 20_000  # links read per batch by _read_links (bounds the temporary shapely geometries)


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


def _read_links(p: Path, chunk: int = _LINK_CHUNK) -> LinkLines:
    """Read the ``links`` layer of a GeoPackage in batches of ``chunk`` features into :class:`LinkLines`.

    Raises
    ------
    ValueError
        When the layer holds other geometries than (Multi)LineStrings (the data contract).
    """
    import pyogrio
    import shapely

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
        types = shapely.get_type_id(geoms)
        if np.any((types != shapely.GeometryType.LINESTRING) & (types != shapely.GeometryType.MULTILINESTRING)):
            found = sorted({shapely.GeometryType(t).name for t in np.unique(types)})
            raise ValueError(f"layer 'links' must hold LineStrings, found {', '.join(found)}")
        if np.all(types == shapely.GeometryType.LINESTRING):
            parts, part_of = geoms, np.arange(len(geoms))
        else:
            parts, part_of = shapely.get_parts(geoms, return_index=True)
        del geoms
        coords, coord_of = shapely.get_coordinates(parts, return_index=True)
        ends = np.cumsum(np.bincount(coord_of, minlength=len(parts)))
        segments.extend(np.split(coords, ends[:-1]) if len(parts) else [])
        widths.append(lw[keep][part_of])
    return LinkLines(n, segments, np.concatenate(widths) if widths else np.zeros(0))


def _read_json(p: Path) -> Any:
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)


def _read_csv(p: Path) -> pd.DataFrame:
    return pd.read_csv(p, dtype={"park_id": str})


def resolve_region_dir(results_dir: str | os.PathLike[str], region: str) -> Path:
    """``results_dir/region`` or ``results_dir`` itself when it already is the region folder."""
    d = Path(results_dir)
    if d.name == region and (d / "region.gpkg").is_file() and not (d / region / "region.gpkg").is_file():
        return d
    return d / region


def storm_names(config: Mapping[str, Any]) -> list[str]:
    """Design-storm names of the climate configuration (default ``70mm_2h``, ``140mm_2h``)."""
    storms = (config.get("climate") or {}).get("storms") or [{"name": "70mm_2h"}, {"name": "140mm_2h"}]
    return [str(s["name"]) for s in storms]


def load_region(
    region: str,
    results_dir: str | os.PathLike[str],
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    config: Mapping[str, Any],
    *,
    language: str = "en",
) -> RegionData:
    """Read every stage output of a region that exists.

    Raises
    ------
    WerklandInputError
        When ``region.gpkg`` (the land-cover stage's park layer) is missing or has no ``park_id``.
    """
    d = resolve_region_dir(results_dir, region)
    legend = load_legend(legend_yaml)
    all_guilds = load_guilds(guilds_yaml, legend)
    wanted = list(config.get("guilds") or all_guilds)
    unknown = [g for g in wanted if g not in all_guilds]
    if unknown:
        raise WerklandInputError(f"guild(s) {unknown} are not in {guilds_yaml}", path="config: guilds")
    guilds = {g: all_guilds[g] for g in wanted}
    rg = d / "region.gpkg"
    if not rg.is_file():
        raise WerklandInputError(
            "region.gpkg not found: nothing to report", path=str(rg), fix="run the landcover rule for this region first"
        )
    try:
        parks = gpd.read_file(rg, layer="parks", engine="pyogrio")
    except Exception as exc:
        raise WerklandInputError(f"cannot read layer 'parks' ({exc})", path=str(rg), fix="re-run the landcover rule") from exc
    if "park_id" not in parks.columns:
        raise WerklandInputError("layer 'parks' has no column park_id", path=str(rg), fix="re-run the landcover rule")
    parks["park_id"] = parks["park_id"].astype(str)
    if "name" not in parks.columns:
        parks["name"] = ""
    parks["name"] = parks["name"].fillna("").astype(str)
    if "area_m2" not in parks.columns:
        parks["area_m2"] = parks.geometry.area
    lang = language
    miss = lambda rel: _missing(lang, region, rel)  # noqa: E731
    data = RegionData(
        region=region,
        region_dir=d,
        language=lang,
        legend=legend,
        guilds=guilds,
        config=config,
        region_poly=_load(rg, _read_gpkg("region"), miss("region.gpkg")),
        parks=parks,
        landcover=_load(d / "landcover.tif", lambda p: read_raster(p)[:2], miss("landcover.tif")),
    )
    for g in guilds:
        data.habitat[g] = _load(d / "habitat" / f"{g}.tif", _read_raster_masked, miss(f"habitat/{g}.tif"))
        data.summary[g] = _load(d / "graph" / f"{g}_summary.json", _read_json, miss(f"graph/{g}_summary.json"))
        data.metrics[g] = _load(d / "graph" / f"{g}_metrics.csv", _read_csv, miss(f"graph/{g}_metrics.csv"))
        data.patches[g] = _load(d / "patches" / f"{g}.gpkg", _read_gpkg("patches"), miss(f"patches/{g}.gpkg"))
        data.links[g] = _load(d / "graph" / f"{g}_links.gpkg", _read_links, miss(f"graph/{g}_links.gpkg"))
        data.corridors[g] = _load(d / "corridors" / f"{g}.tif", _read_raster_masked, miss(f"corridors/{g}.tif"))
    data.barriers = _load(d / "barriers" / "all_guilds.gpkg", _read_gpkg(None), miss("barriers/all_guilds.gpkg"))
    data.counts = _load(d / "species" / "counts.csv", _read_csv, miss("species/counts.csv"))
    data.citation = _load(d / "species" / "citation.json", _read_json, miss("species/citation.json"))
    data.occurrences = _load(d / "species" / "occurrences.gpkg", _read_gpkg("occurrences"), miss("species/occurrences.gpkg"))
    data.climate = _load(d / "climate" / "summary.csv", _read_csv, miss("climate/summary.csv"))
    data.cooling = _load(d / "climate" / "cooling.tif", _read_raster_masked, miss("climate/cooling.tif"))
    for s in storm_names(config):
        data.runoff[s] = _load(d / "climate" / f"runoff_{s}.tif", _read_raster_masked, miss(f"climate/runoff_{s}.tif"))
    data.candidates = _load(d / "interventions" / "candidates.gpkg", _read_gpkg(None), miss("interventions/candidates.gpkg"))
    data.portfolio = _load(d / "interventions" / "portfolio.csv", _read_csv, miss("interventions/portfolio.csv"))
    return data


# --------------------------------------------------------------------------------------------
# summary cards


def _f(v: Any) -> float:
    """Float of a table value (NaN for missing / non-numeric)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


def _park_window(geom: Any, grid: Any) -> tuple[slice, slice] | None:
    """Row and column slices of the grid cells that the geometry's bounding box touches.

    The box is widened by one cell on every side (a margin against rounding at cell edges) and
    clipped to the grid.

    Parameters
    ----------
    geom : shapely geometry or None
        The park polygon, in the grid's CRS.
    grid : werkland.raster.io.Grid
        The raster grid.

    Returns
    -------
    tuple of slice or None
        ``(rows, cols)``; None when the geometry is missing or empty or its box misses the grid.
    """
    if geom is None or geom.is_empty:
        return None
    xmin, ymin, xmax, ymax = geom.bounds
    inv = ~grid.transform
    cols, rows = zip(*(inv * (x, y) for x in (xmin, xmax) for y in (ymin, ymax)), strict=True)
    if not all(math.isfinite(v) for v in (*cols, *rows)):
        return None
    r0 = max(0, math.floor(min(rows)) - 1)
    r1 = min(grid.height, math.ceil(max(rows)) + 1)
    c0 = max(0, math.floor(min(cols)) - 1)
    c1 = min(grid.width, math.ceil(max(cols)) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _park_mask(geom: Any, grid: Any, window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Cells whose centre lies in the park (``geometry_mask(..., invert=True)``), on the grid or a window of it.

    Parameters
    ----------
    geom, grid
        The park polygon (in the grid's CRS) and the raster grid, as for :func:`_park_window`.
    window : tuple of slice, optional
        ``(rows, cols)`` of a window of the grid (:func:`_park_window`); the mask then covers just
        that window and equals the full-grid mask cropped to it.

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``grid.shape`` or of the window's shape.
    """
    from rasterio.features import geometry_mask
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    if window is None:
        shape, transform = grid.shape, grid.transform
    else:
        rows, cols = window
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        transform = window_transform(Window(cols.start, rows.start, shape[1], shape[0]), grid.transform)
    if geom is None or geom.is_empty:
        return np.zeros(shape, dtype=bool)
    return geometry_mask([geom], out_shape=shape, transform=transform, invert=True)


def species_reason(data: RegionData) -> str | None:
    """Why there are no species numbers (None when the counts are usable)."""
    lang = data.language
    if not data.counts.ok:
        if data.citation.ok and data.citation.value.get("status") == "no_data":
            return tr("no_species", lang, why=data.citation.value.get("message") or tr("no_species_default", lang))
        return data.counts.reason
    df = data.counts.value
    if df.empty:
        return tr("no_species", lang, why=tr("no_species_default", lang))
    status = str(df["status"].iloc[0]) if "status" in df.columns else "ok"
    if status in ("no_data", "empty"):
        msg = str(df["message"].iloc[0]) if "message" in df.columns and pd.notna(df["message"].iloc[0]) else ""
        if status == "no_data":
            msg = msg or tr("no_species_default", lang)
            return msg if msg.lower().startswith("no species data") else tr("no_species", lang, why=msg)
        return tr("no_species", lang, why=msg or "no records left after cleaning")
    return None


def _measure_rows(data: RegionData, park_id: str) -> tuple[list[dict[str, Any]], str]:
    """Top 5 measures of a park (selected first, by rank) and the reason when there are none."""
    lang = data.language
    if not data.candidates.ok:
        return [], data.candidates.reason
    c = data.candidates.value
    if c.empty:
        return [], tr("no_candidates", lang)
    if "park_id" not in c.columns:
        return [], "candidates.gpkg has no park_id column"
    sub = c[c["park_id"].astype(str) == park_id].copy()
    if sub.empty:
        return [], tr("no_candidates_park", lang)
    sel = sub["selected"].astype(bool) if "selected" in sub.columns else pd.Series(False, index=sub.index)
    rank = pd.to_numeric(sub["rank"], errors="coerce") if "rank" in sub.columns else pd.Series(np.arange(len(sub)), index=sub.index)
    sub = sub.assign(_sel=~sel, _rank=rank.fillna(np.inf)).sort_values(["_sel", "_rank"], kind="stable").head(5)
    eca_cols = [f"d_eca_ha_{g}" for g in data.guilds if f"d_eca_ha_{g}" in sub.columns]
    rows = []
    for _, r in sub.iterrows():
        rows.append(
            {
                "candidate_id": str(r.get("candidate_id", "")),
                "type": str(r.get("type", "")),
                "rank": _f(r.get("rank")),
                "selected": bool(r.get("selected", False)),
                "size": _f(r.get("size")),
                "cost_eur": _f(r.get("cost_eur")),
                "d_eca_ha": float(sum(_f(r[c_]) for c_ in eca_cols)) if eca_cols else float("nan"),
                "d_habitat_ha": _f(r.get("d_habitat_ha")),
                "d_hm": _f(r.get("d_hm")),
                "d_retained_m3": _f(r.get("d_retained_m3")),
            }
        )
    return rows, ""


def park_cards(data: RegionData) -> list[dict[str, Any]]:
    """The numbers of every park's summary card, each read from a stage output.

    Returns
    -------
    list of dict
        Per park: ``park_id``, ``name``, ``area_ha`` and the groups ``sealed``, ``habitat``,
        ``connectivity``, ``species``, ``runoff``, ``heat``, ``measures``; every group has ``source``
        (the file) and ``reason`` (why it is empty, or "").
    """
    lang = data.language
    cards: list[dict[str, Any]] = []
    clim = data.climate.value if data.climate.ok else None
    if clim is not None and "park_id" in clim.columns:
        clim = clim.set_index(clim["park_id"].astype(str))
    counts = data.counts.value if data.counts.ok else None
    sp_reason = species_reason(data)
    storms = storm_names(data.config)
    for _, park in data.parks.iterrows():
        pid = str(park["park_id"])
        card: dict[str, Any] = {
            "park_id": pid,
            "name": str(park.get("name", "") or ""),
            "area_ha": _f(park.get("area_m2")) / 1e4,
        }
        # sealed share (climate summary)
        if clim is not None and pid in clim.index and "sealed_share" in clim.columns:
            card["sealed"] = {"sealed_share": _f(clim.loc[pid, "sealed_share"]), "source": "climate/summary.csv", "reason": ""}
        else:
            card["sealed"] = {"sealed_share": float("nan"), "source": "climate/summary.csv",
                              "reason": data.climate.reason or f"park {pid} not in climate/summary.csv"}
        # habitat per guild (habitat rasters) and connectivity
        hab: dict[str, Any] = {}
        con: dict[str, Any] = {}
        # the park's mask over its bounding window only, per grid, shared by the guilds of this park
        park_masks: dict[tuple[Any, ...], tuple[tuple[slice, slice], np.ndarray] | None] = {}
        for g, guild in data.guilds.items():
            h = data.habitat[g]
            if h.ok:
                arr, grid = h.value
                key = (grid.shape, tuple(grid.transform))
                if key not in park_masks:
                    win = _park_window(park.geometry, grid)
                    park_masks[key] = None if win is None else (win, _park_mask(park.geometry, grid, win))
                pm = park_masks[key]
                n = 0
                if pm is not None:
                    win, mask = pm
                    sub = arr[win]
                    m = mask & np.isfinite(sub)
                    # float64 threshold: a float32 raster is compared exactly as its float64 values
                    n = np.count_nonzero(m & (sub >= np.float64(guild.suitability_threshold)))
                hab[g] = float(n * grid.cell_area_m2 / 1e4)
            else:
                hab[g] = float("nan")
            s = data.summary[g]
            eca = _f(s.value.get("ECA_ha")) if s.ok else float("nan")
            dpc = float("nan")
            pt = data.patches[g]
            if pt.ok and "dPC" in pt.value.columns:
                touching = pt.value[pt.value.intersects(park.geometry)] if len(pt.value) else pt.value
                dpc = float(pd.to_numeric(touching["dPC"], errors="coerce").fillna(0).sum())
            con[g] = {"eca_ha": eca, "dpc_park": dpc}
        card["habitat"] = {"habitat_ha": hab, "source": "habitat/{guild}.tif",
                           "reason": "" if any(data.habitat[g].ok for g in data.guilds) else
                           next(iter(data.habitat.values())).reason if data.habitat else ""}
        con_reason = "" if any(data.summary[g].ok for g in data.guilds) else (
            next(iter(data.summary.values())).reason if data.summary else "")
        card["connectivity"] = {"guilds": con, "source": "graph/{guild}_summary.json, patches/{guild}.gpkg", "reason": con_reason}
        # species
        sp: dict[str, Any] = {"source": "species/counts.csv", "reason": sp_reason or ""}
        if sp_reason is None and counts is not None:
            row = counts[(counts["park_id"].astype(str) == pid) & (counts["guild"].astype(str) == "all")]
            if row.empty:
                sp["reason"] = f"park {pid} not in species/counts.csv"
            else:
                r = row.iloc[0]
                for k in ("records", "species", "chao1", "chao1_se", "coverage"):
                    sp[k] = _f(r.get(k))
                if sp["records"] == 0:
                    sp["reason"] = tr("no_records_park", lang)
        card["species"] = sp
        # runoff and heat
        ro: dict[str, Any] = {"storms": {}, "source": "climate/summary.csv", "reason": card["sealed"]["reason"]}
        heat: dict[str, Any] = {"source": "climate/summary.csv", "reason": card["sealed"]["reason"]}
        if clim is not None and pid in clim.index:
            crow = clim.loc[pid]
            for s in storms:
                if f"excess_{s}_m3" in clim.columns:
                    ro["storms"][s] = {"excess_m3": _f(crow[f"excess_{s}_m3"]), "excess_mm": _f(crow.get(f"excess_{s}_mm"))}
            ro["storage_needed_m3"] = _f(crow.get("storage_needed_m3"))
            for k in ("hm_mean", "hm_below_threshold_share", "buildings_near_cool_spot_share"):
                heat[k] = _f(crow.get(k))
        card["runoff"] = ro
        card["heat"] = heat
        rows, why = _measure_rows(data, pid)
        card["measures"] = {"rows": rows, "source": "interventions/candidates.gpkg", "reason": why}
        cards.append(card)
    return cards


# --------------------------------------------------------------------------------------------
# map furniture


def _nice_length(width_m: float) -> float:
    target = max(width_m / 5.0, 1e-9)
    exp = 10 ** math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * exp <= target:
            return m * exp
    return exp


def add_scale_bar(ax: Any, bounds: tuple[float, float, float, float]) -> float:
    """Draw a black-and-white scale bar in the lower left of a metric-CRS map; returns its length in m."""
    xmin, ymin, xmax, ymax = bounds
    w, h = xmax - xmin, ymax - ymin
    length = _nice_length(w)
    x0, y0 = xmin + 0.04 * w, ymin + 0.05 * h
    bar_h = 0.012 * h
    half = length / 2
    ax.add_patch(Rectangle((x0 - 0.01 * w, y0 - 0.02 * h), length + 0.02 * w, bar_h + 0.065 * h,
                           facecolor="white", edgecolor="none", alpha=0.8, zorder=20))
    ax.add_patch(Rectangle((x0, y0), half, bar_h, facecolor="black", edgecolor="black", zorder=21))
    ax.add_patch(Rectangle((x0 + half, y0), half, bar_h, facecolor="white", edgecolor="black", zorder=21))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + length / 2, y0 + bar_h + 0.008 * h, label, ha="center", va="bottom", fontsize=7, zorder=22)
    return length


def add_north_arrow(ax: Any) -> None:
    """A north arrow in the upper right (the maps are north-up in the region's metric CRS)."""
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.83), xycoords="axes fraction", textcoords="axes fraction",
                ha="center", va="center", fontsize=9, fontweight="bold", zorder=22,
                arrowprops={"facecolor": "black", "edgecolor": "black", "width": 3, "headwidth": 9, "headlength": 8},
                bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def add_attribution(ax: Any, language: str) -> None:
    """The OpenStreetMap attribution in the lower right corner."""
    ax.text(0.995, 0.005, tr("attribution", language), transform=ax.transAxes, ha="right", va="bottom", fontsize=6,
            zorder=22, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1.5})


def _bounds(data: RegionData) -> tuple[float, float, float, float]:
    if data.landcover.ok:
        return tuple(data.landcover.value[1].bounds)  # type: ignore[return-value]
    if data.region_poly.ok and len(data.region_poly.value):
        return tuple(data.region_poly.value.total_bounds)  # type: ignore[return-value]
    b = data.parks.total_bounds
    if not np.all(np.isfinite(b)):
        return (0.0, 0.0, 1.0, 1.0)
    return tuple(b)  # type: ignore[return-value]


def _frame(ax: Any, data: RegionData, *, parks: bool = True) -> None:
    """Region outline, park outlines, limits, scale bar, north arrow, attribution."""
    b = _bounds(data)
    if data.region_poly.ok and len(data.region_poly.value):
        data.region_poly.value.boundary.plot(ax=ax, color="#636363", linewidth=0.6, zorder=5)
    if parks and len(data.parks):
        data.parks.boundary.plot(ax=ax, color="black", linewidth=1.0, linestyle="--", zorder=15)
    ax.set_xlim(b[0], b[2])
    ax.set_ylim(b[1], b[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax, b)
    add_north_arrow(ax)
    add_attribution(ax, data.language)


def _subsample(arr: np.ndarray) -> np.ndarray:
    step = max(1, int(math.ceil(max(arr.shape) / _MAX_PIXELS)))
    return arr[::step, ::step]


def _imshow(
    ax: Any, arr: np.ndarray, grid: Any, *, mask_invalid: bool = False, mask_value: float | None = None, **kw: Any
) -> Any:
    """Draw a raster subsampled to at most :data:`_MAX_PIXELS` per side.

    The raster is subsampled first and then masked, so no full-size masked copy is made; float
    values narrower than float64 are drawn as float64 (what the maps have always been drawn from).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target axes.
    arr : numpy.ndarray
        The raster values.
    grid : werkland.raster.io.Grid
        The raster's grid (for the extent).
    mask_invalid : bool
        Mask NaN and infinite cells (:func:`numpy.ma.masked_invalid`).
    mask_value : number, optional
        Mask cells equal to this value (:func:`numpy.ma.masked_equal`).
    **kw
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    xmin, ymin, xmax, ymax = grid.bounds
    sub: np.ndarray = _subsample(arr)
    if sub.dtype.kind == "f" and sub.dtype.itemsize < 8:
        sub = sub.astype(np.float64)
    if mask_invalid:
        sub = np.ma.masked_invalid(sub)
    if mask_value is not None:
        sub = np.ma.masked_equal(sub, mask_value)
    return ax.imshow(sub, extent=(xmin, xmax, ymin, ymax), origin="upper", interpolation="nearest", **kw)


def _landcover_cmap(legend: Legend) -> tuple[ListedColormap, BoundaryNorm]:
    colours = ["#ffffff"] * 256
    for c in legend.classes:
        colours[c.code] = c.colour
    cmap = ListedColormap(colours)
    cmap.set_bad((1, 1, 1, 0))
    return cmap, BoundaryNorm(np.arange(-0.5, 256.5, 1), 256)


def _faint_landcover(ax: Any, data: RegionData) -> None:
    """Land cover in light grey tones as the background of thematic maps."""
    if not data.landcover.ok:
        return
    arr, grid = data.landcover.value
    cmap, norm = _landcover_cmap(data.legend)
    _imshow(ax, arr, grid, mask_value=0, cmap=cmap, norm=norm, alpha=0.25, zorder=1)


def _grid_axes(fig: Figure, n: int) -> list[Any]:
    ncols = 1 if n == 1 else 2
    nrows = int(math.ceil(n / ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _empty_panel(ax: Any, title: str, reason: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, _wrap(reason, 45), ha="center", va="center", fontsize=9, color="#7f0000", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_color("#cccccc")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def _placeholder(title: str, reason: str) -> Figure:
    fig = Figure(figsize=(7, 2.6))
    ax = fig.subplots()
    _empty_panel(ax, title, reason)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# the figures


@dataclass
class FigureResult:
    """A rendered figure and whether it shows data (else ``reason`` says why it is empty)."""

    key: str
    png: bytes
    ok: bool
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def fig_landcover(data: RegionData) -> FigureResult:
    """Land-cover map with the legend of ``config/landcover_classes.yaml``."""
    title = tr("map_landcover", data.language)
    if not data.landcover.ok:
        return FigureResult("map_landcover", _png(_placeholder(title, data.landcover.reason)), False, data.landcover.reason)
    arr, grid = data.landcover.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    cmap, norm = _landcover_cmap(data.legend)
    _imshow(ax, arr, grid, mask_value=0, cmap=cmap, norm=norm, zorder=1)
    present = set(np.unique(arr).tolist())
    handles = [Patch(facecolor=c.colour, edgecolor="#555555", label=c.name.replace("_", " "))
               for c in data.legend.classes if c.code in present]
    handles.append(Line2D([], [], color="black", linestyle="--", label=tr("park", data.language)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    _frame(ax, data)
    ax.set_title(title)
    return FigureResult("map_landcover", _png(fig), True)


def fig_habitat(data: RegionData) -> FigureResult:
    """Habitat suitability per guild (0..1)."""
    title = tr("map_habitat", data.language)
    ok_guilds = [g for g in data.guilds if data.habitat[g].ok]
    if not ok_guilds:
        reason = next(iter(data.habitat.values())).reason if data.habitat else "no guilds"
        return FigureResult("map_habitat", _png(_placeholder(title, reason)), False, reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, 4.6 * math.ceil(n / (1 if n == 1 else 2))))
    axes = _grid_axes(fig, n)
    im = None
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        h = data.habitat[g]
        if not h.ok:
            _empty_panel(ax, guild.label, h.reason)
            continue
        arr, grid = h.value
        im = _imshow(ax, arr, grid, mask_invalid=True, cmap="YlGn", vmin=0, vmax=1, zorder=2)
        _frame(ax, data)
        ax.set_title(guild.label, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label="suitability 0..1")
    fig.suptitle(title)
    return FigureResult("map_habitat", _png(fig), True)


def fig_patches(data: RegionData) -> FigureResult:
    """Habitat patches coloured by dPC (%) and links by dispersal probability, per guild."""
    title = tr("map_patches", data.language)
    if not any(data.patches[g].ok for g in data.guilds):
        reason = next(iter(data.patches.values())).reason
        return FigureResult("map_patches", _png(_placeholder(title, reason)), False, reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, 4.6 * math.ceil(n / (1 if n == 1 else 2))))
    axes = _grid_axes(fig, n)
    any_data = False
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        p = data.patches[g]
        if not p.ok:
            _empty_panel(ax, guild.label, p.reason)
            continue
        pg = p.value
        if pg.empty:
            _empty_panel(ax, guild.label, tr("no_patches", data.language))
            continue
        any_data = True
        _faint_landcover(ax, data)
        dpc = pd.to_numeric(pg.get("dPC", pd.Series(0.0, index=pg.index)), errors="coerce").fillna(0.0)
        vmax = max(float(dpc.max()), 1e-9)
        pg.assign(_dpc=dpc).plot(ax=ax, column="_dpc", cmap="Oranges", vmin=0, vmax=vmax, edgecolor="#7f2704",
                                 linewidth=0.3, zorder=3, legend=True,
                                 legend_kwds={"label": "dPC (%)", "shrink": 0.6})
        lk = data.links[g]
        if lk.ok and len(lk.value):
            _draw_links(ax, lk.value)
        _frame(ax, data)
        s = data.summary[g]
        eca = f", ECA {s.value.get('ECA_ha', float('nan')):.2f} ha" if s.ok else ""
        ax.set_title(f"{guild.label}{eca}", fontsize=9)
    fig.suptitle(title + " (links: width = p_direct)")
    return FigureResult("map_patches", _png(fig), any_data, "" if any_data else tr("no_patches", data.language))


def _draw_links(ax: Any, links: LinkLines) -> None:
    """Draw the links in dark blue, width ``0.3 + 2 p_direct``, from their vertices.

    The same LineCollection (segments, widths, style, order) as
    ``GeoDataFrame.plot(color="#08306b", linewidth=..., alpha=0.8, zorder=4)`` of the layer, without
    the copies of every geometry that geopandas makes to build it.
    """
    from matplotlib.collections import LineCollection

    if not links.segments:
        return
    lines = LineCollection(links.segments, linewidth=links.linewidths, alpha=0.8, zorder=4, color="#08306b")
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


def fig_corridors(data: RegionData) -> FigureResult:
    """Normalised least-cost corridors per guild (0 = on the least-cost path)."""
    title = tr("map_corridors", data.language)
    if not any(data.corridors[g].ok for g in data.guilds):
        reason = next(iter(data.corridors.values())).reason
        return FigureResult("map_corridors", _png(_placeholder(title, reason)), False, reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, 4.6 * math.ceil(n / (1 if n == 1 else 2))))
    axes = _grid_axes(fig, n)
    any_data = False
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        c = data.corridors[g]
        if not c.ok:
            _empty_panel(ax, guild.label, c.reason)
            continue
        arr, grid = c.value
        if not np.isfinite(arr).any():
            _empty_panel(ax, guild.label, tr("no_links", data.language))
            continue
        any_data = True
        _faint_landcover(ax, data)
        vmax = float(np.nanmax(arr)) or 1.0
        im = _imshow(ax, arr, grid, mask_invalid=True, cmap="magma", vmin=0, vmax=vmax, zorder=2, alpha=0.85)
        fig.colorbar(im, ax=ax, shrink=0.6, label="cost-m above LCD")
        _frame(ax, data)
        ax.set_title(guild.label, fontsize=10)
    fig.suptitle(title)
    return FigureResult("map_corridors", _png(fig), any_data, "" if any_data else tr("no_links", data.language))


def _rank_column(df: pd.DataFrame) -> str | None:
    for c in ("multi_rank", "rank", "rank_all", "multi_guild_rank", "rank_multi"):
        if c in df.columns:
            return c
    cols = [c for c in df.columns if str(c).startswith("rank")]
    return cols[0] if cols else None


def fig_barriers(data: RegionData) -> FigureResult:
    """Barrier segments coloured by their multi-guild rank; the top 5 labelled."""
    title = tr("map_barriers", data.language)
    b = data.barriers
    if not b.ok:
        return FigureResult("map_barriers", _png(_placeholder(title, b.reason)), False, b.reason)
    gdf = b.value
    if gdf.empty:
        reason = tr("no_barriers", data.language)
        return FigureResult("map_barriers", _png(_placeholder(title, reason)), False, reason)
    rc = _rank_column(gdf)
    rank = pd.to_numeric(gdf[rc], errors="coerce") if rc else pd.Series(np.arange(1, len(gdf) + 1), index=gdf.index)
    rank = rank.fillna(np.inf)
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    _faint_landcover(ax, data)
    groups = [("rank > 50", rank > 50, "#999999", 0.8), ("rank 11-50", (rank > 10) & (rank <= 50), "#ef8a62", 1.6),
              ("rank 1-10", rank <= 10, "#b2182b", 2.6)]
    handles = []
    for label, sel, colour, lw in groups:
        if sel.any():
            gdf[sel.to_numpy()].plot(ax=ax, color=colour, linewidth=lw, zorder=6)
        handles.append(Line2D([], [], color=colour, linewidth=lw, label=label))
    top = gdf.assign(_r=rank.to_numpy()).sort_values("_r").head(5)
    for _, r in top.iterrows():
        if r.geometry is None or r.geometry.is_empty or not np.isfinite(r["_r"]):
            continue
        pt = r.geometry.representative_point()
        ax.annotate(f"{int(r['_r'])}", (pt.x, pt.y), fontsize=8, fontweight="bold", color="#67000d", zorder=23,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.85, "edgecolor": "#67000d"})
    handles.append(Line2D([], [], color="black", linestyle="--", label=tr("park", data.language)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _frame(ax, data)
    ax.set_title(title)
    return FigureResult("map_barriers", _png(fig), True)


def _guild_of_record(v: Any, guilds: Sequence[str]) -> str:
    s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    for token in re.split(r"[;,| ]+", s):
        if token in guilds:
            return token
    return "other"


def fig_species(data: RegionData) -> FigureResult:
    """Cleaned GBIF records coloured by guild."""
    title = tr("map_species", data.language)
    why = species_reason(data)
    occ = data.occurrences
    if not occ.ok or occ.value.empty:
        reason = why or occ.reason or tr("no_species", data.language, why="0 records")
        return FigureResult("map_species", _png(_placeholder(title, reason)), False, reason)
    gdf = occ.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    _faint_landcover(ax, data)
    guilds = list(data.guilds)
    cat = gdf["guild"].map(lambda v: _guild_of_record(v, guilds)) if "guild" in gdf.columns else pd.Series("other", index=gdf.index)
    handles = []
    for i, g in enumerate([*guilds, "other"]):
        sel = (cat == g).to_numpy()
        if not sel.any():
            continue
        colour = _GUILD_COLOURS[i % len(_GUILD_COLOURS)] if g != "other" else "#555555"
        gdf[sel].plot(ax=ax, color=colour, markersize=9, alpha=0.8, zorder=8, edgecolor="white", linewidth=0.3)
        label = data.guilds[g].label if g in data.guilds else g
        handles.append(Line2D([], [], marker="o", color="none", markerfacecolor=colour, label=f"{label} ({int(sel.sum())})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _frame(ax, data)
    ax.set_title(f"{title}: {len(gdf)} {tr('records', data.language)}")
    return FigureResult("map_species", _png(fig), True)


def fig_climate(data: RegionData) -> FigureResult:
    """Heat mitigation index and runoff of the first design storm."""
    title = tr("map_climate", data.language)
    storms = storm_names(data.config)
    ro = data.runoff.get(storms[0]) if storms else None
    if not data.cooling.ok and (ro is None or not ro.ok):
        reason = data.cooling.reason
        return FigureResult("map_climate", _png(_placeholder(title, reason)), False, reason)
    fig = Figure(figsize=(12, 5.4))
    ax1, ax2 = fig.subplots(1, 2)
    if data.cooling.ok:
        arr, grid = data.cooling.value
        im = _imshow(ax1, arr, grid, mask_invalid=True, cmap="RdYlBu", vmin=0, vmax=1, zorder=2)
        fig.colorbar(im, ax=ax1, shrink=0.7, label="HM (0 = hot, 1 = cool)")
        _frame(ax1, data)
        ax1.set_title("heat mitigation index HM", fontsize=10)
    else:
        _empty_panel(ax1, "HM", data.cooling.reason)
    if ro is not None and ro.ok:
        arr, grid = ro.value
        im = _imshow(ax2, arr, grid, mask_invalid=True, cmap="Blues", vmin=0, zorder=2)
        fig.colorbar(im, ax=ax2, shrink=0.7, label="runoff (mm)")
        _frame(ax2, data)
        ax2.set_title(f"runoff, storm {storms[0]}", fontsize=10)
    else:
        _empty_panel(ax2, "runoff", ro.reason if ro is not None else "no storms configured")
    fig.suptitle(title)
    return FigureResult("map_climate", _png(fig), True)


def fig_interventions(data: RegionData) -> FigureResult:
    """Candidates by type; the selected ones outlined."""
    title = tr("map_interventions", data.language)
    c = data.candidates
    if not c.ok or c.value.empty:
        reason = c.reason if not c.ok else tr("no_candidates", data.language)
        return FigureResult("map_interventions", _png(_placeholder(title, reason)), False, reason)
    gdf = c.value
    fig = Figure(figsize=(9, 7.5))
    ax = fig.subplots()
    _faint_landcover(ax, data)
    types = sorted(gdf["type"].astype(str).unique()) if "type" in gdf.columns else ["candidate"]
    tcol = gdf["type"].astype(str) if "type" in gdf.columns else pd.Series("candidate", index=gdf.index)
    sel = gdf["selected"].astype(bool) if "selected" in gdf.columns else pd.Series(False, index=gdf.index)
    handles = []
    for i, t in enumerate(types):
        colour = _MEASURE_COLOURS[i % len(_MEASURE_COLOURS)]
        m = (tcol == t).to_numpy()
        unsel = m & ~sel.to_numpy()
        chosen = m & sel.to_numpy()
        if unsel.any():
            gdf[unsel].plot(ax=ax, color=colour, alpha=0.3, linewidth=1.0, markersize=12, zorder=6)
        if chosen.any():
            gdf[chosen].plot(ax=ax, color=colour, edgecolor="black", linewidth=1.8, markersize=30, zorder=7)
        handles.append(Patch(facecolor=colour, edgecolor="none", label=t.replace("_", " ")))
    handles.append(Patch(facecolor="none", edgecolor="black", linewidth=1.8, label=tr("selected", data.language)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _frame(ax, data)
    ax.set_title(f"{title}: {int(sel.sum())} / {len(gdf)} {tr('selected', data.language)}")
    return FigureResult("map_interventions", _png(fig), True)


def fig_dpc(data: RegionData) -> FigureResult:
    """Stacked bars of dPC = dPC_intra + dPC_flux + dPC_connector for the 15 most important patches per guild."""
    title = tr("plot_dpc", data.language)
    ok = [g for g in data.guilds if data.metrics[g].ok and len(data.metrics[g].value)]
    if not ok:
        first = next(iter(data.metrics.values()))
        reason = first.reason if not first.ok else tr("no_patches", data.language)
        return FigureResult("plot_dpc", _png(_placeholder(title, reason)), False, reason)
    n = len(data.guilds)
    fig = Figure(figsize=(10, 3.8 * math.ceil(n / (1 if n == 1 else 2))))
    axes = _grid_axes(fig, n)
    parts = (("dPC_intra", "#fdae6b", "intra"), ("dPC_flux", "#e6550d", "flux"), ("dPC_connector", "#7f2704", "connector"))
    for ax, (g, guild) in zip(axes, data.guilds.items(), strict=True):
        m = data.metrics[g]
        if not m.ok or m.value.empty:
            _empty_panel(ax, guild.label, m.reason or tr("no_patches", data.language))
            continue
        df = m.value.copy()
        df["dPC"] = pd.to_numeric(df["dPC"], errors="coerce").fillna(0)
        df = df.sort_values("dPC", ascending=False).head(15).iloc[::-1]
        y = np.arange(len(df))
        left = np.zeros(len(df))
        for col, colour, label in parts:
            v = pd.to_numeric(df.get(col, pd.Series(0.0, index=df.index)), errors="coerce").fillna(0).to_numpy()
            ax.barh(y, v, left=left, color=colour, label=label)
            left = left + v
        ax.set_yticks(y)
        ax.set_yticklabels([f"patch {int(p)}" for p in df["patch_id"]], fontsize=7)
        ax.set_xlabel("dPC (% of PCnum)")
        ax.set_title(guild.label, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    return FigureResult("plot_dpc", _png(fig), True)


def rarefaction_curves(occ: pd.DataFrame, parks: Sequence[str], *, max_curves: int = 6) -> dict[str, dict[str, Any]]:
    """Rarefaction/extrapolation curves (iNEXT formulas of :mod:`werkland.richness`) for the region and parks.

    Returns
    -------
    dict
        Name -> ``{"n", "m", "S", "coverage"}`` with ``m`` from 1 to 2n.
    """
    from werkland import richness

    out: dict[str, dict[str, Any]] = {}
    key = "speciesKey" if "speciesKey" in occ.columns else "species"
    groups: list[tuple[str, pd.DataFrame]] = [("region", occ)]
    if "park_id" in occ.columns:
        pid = occ["park_id"].astype(str)
        by_n = sorted(((p, int((pid == p).sum())) for p in parks), key=lambda t: -t[1])
        groups += [(f"park {p}", occ[(pid == p).to_numpy()]) for p, k in by_n[: max_curves - 1] if k > 0]
    for name, sub in groups:
        x = sub.groupby(key).size().to_numpy()
        n = int(x.sum())
        if n == 0:
            continue
        ms = np.unique(np.linspace(1, 2 * n, num=min(2 * n, 120)).round().astype(int))
        out[name] = {
            "n": n,
            "m": ms,
            "S": np.array([richness.richness_at(x, m) for m in ms]),
            "coverage": float(richness.sample_coverage(x)),
        }
    return out


def fig_rarefaction(data: RegionData) -> FigureResult:
    """Species richness against the number of records: rarefied (solid) and extrapolated to 2n (dashed)."""
    title = tr("plot_rarefaction", data.language)
    why = species_reason(data)
    occ = data.occurrences
    if why is not None or not occ.ok or occ.value.empty:
        reason = why or occ.reason or tr("no_species", data.language, why="0 records")
        return FigureResult("plot_rarefaction", _png(_placeholder(title, reason)), False, reason)
    curves = rarefaction_curves(occ.value, data.parks["park_id"].astype(str).tolist())
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for i, (name, c) in enumerate(curves.items()):
        colour = _GUILD_COLOURS[i % len(_GUILD_COLOURS)]
        inter = c["m"] <= c["n"]
        ax.plot(c["m"][inter], c["S"][inter], color=colour, label=f"{name}: n = {c['n']}, coverage {100 * c['coverage']:.1f} %")
        ax.plot(c["m"][~inter], c["S"][~inter], color=colour, linestyle="--")
        ax.plot([c["n"]], [np.interp(c["n"], c["m"], c["S"])], "o", color=colour)
    ax.set_xlabel(tr("records", data.language))
    ax.set_ylabel(tr("observed", data.language))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title} (solid: rarefied, dashed: extrapolated)", fontsize=10)
    return FigureResult("plot_rarefaction", _png(fig), True)


def fig_pareto(data: RegionData) -> FigureResult:
    """Cost vs combined score, and biodiversity vs climate score with the Pareto front."""
    title = tr("plot_pareto", data.language)
    c = data.candidates
    if not c.ok or c.value.empty:
        reason = c.reason if not c.ok else tr("no_candidates", data.language)
        return FigureResult("plot_pareto", _png(_placeholder(title, reason)), False, reason)
    df = pd.DataFrame(c.value.drop(columns="geometry", errors="ignore"))
    cost = pd.to_numeric(df.get("cost_eur", pd.Series(np.nan, index=df.index)), errors="coerce")
    score = pd.to_numeric(df.get("score", pd.Series(np.nan, index=df.index)), errors="coerce")
    sb = pd.to_numeric(df.get("score_bio", pd.Series(np.nan, index=df.index)), errors="coerce")
    sc = pd.to_numeric(df.get("score_climate", pd.Series(np.nan, index=df.index)), errors="coerce")
    sel = df["selected"].astype(bool) if "selected" in df.columns else pd.Series(False, index=df.index)
    par = df["pareto"].astype(bool) if "pareto" in df.columns else pd.Series(False, index=df.index)
    fig = Figure(figsize=(12, 5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(cost[~sel] / 1000, score[~sel], s=14, color="#bdbdbd", label="candidate")
    ax1.scatter(cost[sel] / 1000, score[sel], s=22, color="#d95f02", label=tr("selected", data.language))
    ax1.set_xlabel("cost (k EUR)")
    ax1.set_ylabel("score (weighted attainment)")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.scatter(sb, sc, s=14, color="#bdbdbd", label="candidate")
    front = pd.DataFrame({"b": sb[par], "c": sc[par]}).sort_values("b")
    if len(front):
        ax2.plot(front["b"], front["c"], "-o", color="#1b9e77", markersize=5, label="Pareto front")
    ax2.scatter(sb[sel], sc[sel], s=22, facecolor="none", edgecolor="#d95f02", label=tr("selected", data.language))
    ax2.set_xlabel("biodiversity score")
    ax2.set_ylabel("climate score")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.suptitle(title)
    return FigureResult("plot_pareto", _png(fig), True)


def budget_curve(data: RegionData) -> pd.DataFrame | None:
    """Cumulative cost and gains of the selected measures in selection order.

    Uses ``portfolio.csv`` (its ``cum_*`` columns, or cumulative sums of ``cost_eur`` and the score
    columns) and falls back to the selected candidates ordered by rank.
    """
    score_cols = ("score", "score_bio", "score_climate")
    if data.portfolio.ok and len(data.portfolio.value) and "cost_eur" in data.portfolio.value.columns:
        p = data.portfolio.value
        out = pd.DataFrame(index=p.index)
        cum_cost = next((c for c in ("cum_cost_eur", "cumulative_cost_eur") if c in p.columns), None)
        out["cost_eur"] = pd.to_numeric(p[cum_cost] if cum_cost else p["cost_eur"].cumsum(), errors="coerce")
        for s in score_cols:
            cum = next((c for c in (f"cum_{s}", f"cumulative_{s}") if c in p.columns), None)
            if cum:
                out[s] = pd.to_numeric(p[cum], errors="coerce")
            elif s in p.columns:
                out[s] = pd.to_numeric(p[s], errors="coerce").cumsum()
        if len(out.columns) > 1:
            return out.reset_index(drop=True)
    if data.candidates.ok and len(data.candidates.value) and "selected" in data.candidates.value.columns:
        c = pd.DataFrame(data.candidates.value.drop(columns="geometry", errors="ignore"))
        c = c[c["selected"].astype(bool)]
        if "rank" in c.columns:
            c = c.sort_values("rank", kind="stable")
        if c.empty:
            return None
        out = pd.DataFrame({"cost_eur": pd.to_numeric(c["cost_eur"], errors="coerce").cumsum()})
        for s in score_cols:
            if s in c.columns:
                out[s] = pd.to_numeric(c[s], errors="coerce").cumsum()
        return out.reset_index(drop=True)
    return None


def fig_budget(data: RegionData) -> FigureResult:
    """Cumulative gain of the selected portfolio against the money spent, with the budget line."""
    title = tr("plot_budget", data.language)
    curve = budget_curve(data)
    if curve is None or curve.empty:
        if not data.candidates.ok and not data.portfolio.ok:
            reason = data.candidates.reason
        elif data.candidates.ok and data.candidates.value.empty:
            reason = tr("no_candidates", data.language)
        else:
            reason = "no measure fits the budget (portfolio empty)"
        return FigureResult("plot_budget", _png(_placeholder(title, reason)), False, reason)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    x = np.concatenate([[0.0], curve["cost_eur"].to_numpy(dtype=float)]) / 1000
    for s, colour in (("score", "#333333"), ("score_bio", "#1b9e77"), ("score_climate", "#2171b5")):
        if s in curve.columns:
            ax.step(x, np.concatenate([[0.0], curve[s].to_numpy(dtype=float)]), where="post", color=colour, label=s)
    budget = _f((data.config.get("interventions") or {}).get("budget_eur"))
    if np.isfinite(budget):
        ax.axvline(budget / 1000, color="#b2182b", linestyle=":", label=f"budget {budget / 1000:,.0f} k EUR")
    ax.set_xlabel("cumulative cost (k EUR)")
    ax.set_ylabel("cumulative gain (score)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return FigureResult("plot_budget", _png(fig), True)


FIGURE_BUILDERS = {
    "map_landcover": fig_landcover,
    "map_habitat": fig_habitat,
    "map_patches": fig_patches,
    "map_corridors": fig_corridors,
    "map_barriers": fig_barriers,
    "map_species": fig_species,
    "map_climate": fig_climate,
    "map_interventions": fig_interventions,
    "plot_dpc": fig_dpc,
    "plot_rarefaction": fig_rarefaction,
    "plot_pareto": fig_pareto,
    "plot_budget": fig_budget,
}


def render_figures(data: RegionData) -> dict[str, FigureResult]:
    """Every figure of :data:`FIGURES`; a failing figure becomes a placeholder naming the error."""
    out: dict[str, FigureResult] = {}
    for key in FIGURES:
        try:
            out[key] = FIGURE_BUILDERS[key](data)
        except (WerklandInputError, KeyError, ValueError, TypeError) as exc:
            log.warning("figure %s failed: %s", key, exc)
            reason = f"figure could not be drawn from the stage outputs ({type(exc).__name__}: {exc})"
            out[key] = FigureResult(key, _png(_placeholder(tr(key, data.language), reason)), False, reason)
        log.info("figure %s: %s", key, "ok" if out[key].ok else out[key].reason)
    return out


# --------------------------------------------------------------------------------------------
# the interactive map (folium, offline)


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS (images inlined as data URIs), vendored in ``werkland/static/leaflet``."""
    d = STATIC / "leaflet"
    js = (d / "leaflet.js").read_text(encoding="utf-8")
    css = (d / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        p = d / m.group(1)
        if not p.is_file():
            return m.group(0)
        return "url(data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii") + ")"

    css = re.sub(r"url\((images/[a-z0-9\-]+\.png)\)", inline, css)
    # the script tag must not be closed early by a literal in the source
    js = js.replace("</script", "<\\/script")
    return js, css


_CDN = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)=["']https?://""", re.IGNORECASE)


def _landcover_overlay(data: RegionData) -> tuple[str, list[list[float]]] | None:
    """Land cover reprojected to Web Mercator as a PNG data URL plus its lat/lon bounds."""
    if not data.landcover.ok:
        return None
    from PIL import Image
    from pyproj import Transformer
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    arr, grid = data.landcover.value
    src_crs = RioCRS.from_wkt(grid.crs.to_wkt())
    dst_crs = RioCRS.from_epsg(3857)
    b = grid.bounds
    transform, width, height = calculate_default_transform(src_crs, dst_crs, grid.width, grid.height, *b)
    scale = max(1.0, max(width, height) / 1600)
    width, height = max(1, int(width / scale)), max(1, int(height / scale))
    from rasterio.transform import from_bounds
    from rasterio.warp import transform_bounds

    mb = transform_bounds(src_crs, dst_crs, *b)
    transform = from_bounds(*mb, width, height)
    out = np.zeros((height, width), dtype=np.uint8)
    reproject(arr.astype(np.uint8, copy=False), out, src_transform=grid.transform, src_crs=src_crs, dst_transform=transform,
              dst_crs=dst_crs, resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    for c in data.legend.classes:
        col = c.colour.lstrip("#")
        rgba[out == c.code] = [int(col[0:2], 16), int(col[2:4], 16), int(col[4:6], 16), 200]
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    tr_ = Transformer.from_crs(3857, 4326, always_xy=True)
    lon0, lat0 = tr_.transform(mb[0], mb[1])
    lon1, lat1 = tr_.transform(mb[2], mb[3])
    return url, [[lat0, lon0], [lat1, lon1]]


def _plain_columns(gdf: gpd.GeoDataFrame, cols: Sequence[str]) -> gpd.GeoDataFrame:
    keep = [c for c in cols if c in gdf.columns]
    out = gdf[[*keep, "geometry"]].copy()
    for c in keep:
        if out[c].dtype.kind == "f":
            out[c] = out[c].round(4)
        elif out[c].dtype.kind not in "biu":
            out[c] = out[c].astype(str)
    return out.to_crs(4326)


def build_interactive_map(data: RegionData, out_html: str | os.PathLike[str], cards: Sequence[Mapping[str, Any]]) -> Path:
    """Write an offline Leaflet map of parks, ranked barriers and interventions (land cover as image overlay).

    Leaflet 1.9.4 (BSD-2-Clause, vendored in ``werkland/static/leaflet``) is inlined; no tiles, no
    CDN: the file works from ``file://`` without internet.
    """
    import folium
    from branca.element import Element

    lang = data.language
    parks = data.parks
    b = _bounds(data)
    bounds_gdf = gpd.GeoSeries(gpd.points_from_xy([b[0], b[2]], [b[1], b[3]]), crs=data.crs).to_crs(4326)
    lat0, lat1 = float(bounds_gdf.y.min()), float(bounds_gdf.y.max())
    lon0, lon1 = float(bounds_gdf.x.min()), float(bounds_gdf.x.max())
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], tiles=None, zoom_start=14, control_scale=True,
                   prefer_canvas=False)
    m.default_js = []
    m.default_css = []
    js, css = _leaflet_assets()
    root = m.get_root()
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline")
    root.header.add_child(Element("<style>.leaflet-container{background:#f4f4f4}</style>"), name="werkland_bg")
    root.title = tr("title", lang, region=data.region)
    overlay = _landcover_overlay(data)
    if overlay is not None:
        url, bnds = overlay
        folium.raster_layers.ImageOverlay(image=url, bounds=bnds, name=tr("map_landcover", lang), opacity=0.75,
                                          attribution=ATTRIBUTION, pixelated=True).add_to(m)
    if len(parks):
        by_id = {c["park_id"]: c for c in cards}
        p = parks.copy()
        p["sealed_pct"] = [round(100 * by_id[str(i)]["sealed"]["sealed_share"], 1) for i in p["park_id"]]
        p["hm_mean"] = [round(by_id[str(i)]["heat"].get("hm_mean", float("nan")), 3) for i in p["park_id"]]
        p["area_ha"] = [round(by_id[str(i)]["area_ha"], 2) for i in p["park_id"]]
        pj = _plain_columns(p, ["park_id", "name", "area_ha", "sealed_pct", "hm_mean"])
        pj = pj.fillna("")
        folium.GeoJson(
            pj.__geo_interface__, name=tr("park", lang),
            style_function=lambda _f: {"color": "#000000", "weight": 2, "fillOpacity": 0.05, "dashArray": "5,4"},
            tooltip=folium.GeoJsonTooltip(fields=["park_id", "name", "area_ha", "sealed_pct", "hm_mean"],
                                          aliases=["park", "name", "area (ha)", "sealed (%)", "mean HM"]),
        ).add_to(m)
    if data.barriers.ok and len(data.barriers.value):
        g = data.barriers.value
        rc = _rank_column(g)
        g = g.assign(_rank=pd.to_numeric(g[rc], errors="coerce") if rc else np.arange(1, len(g) + 1))
        g = g.sort_values("_rank").head(50)
        bj = _plain_columns(g.rename(columns={"_rank": "rank_"}), ["rank_", "segment_id", "kind", "road_class", "length_m", "dECA_ha"])
        fields = [c for c in ("rank_", "segment_id", "kind", "road_class", "length_m", "dECA_ha") if c in bj.columns]

        def bstyle(feat: Mapping[str, Any]) -> dict[str, Any]:
            r = feat["properties"].get("rank_", 99)
            r = 99 if r in ("", None) else float(r)
            return {"color": "#b2182b" if r <= 10 else "#ef8a62", "weight": 6 if r <= 10 else 4, "opacity": 0.9}

        folium.GeoJson(bj.__geo_interface__, name=tr("map_barriers", lang) + " (top 50)", style_function=bstyle,
                       tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[f.rstrip("_") for f in fields])).add_to(m)
    if data.candidates.ok and len(data.candidates.value):
        c = data.candidates.value
        types = sorted(c["type"].astype(str).unique()) if "type" in c.columns else []
        colours = {t: _MEASURE_COLOURS[i % len(_MEASURE_COLOURS)] for i, t in enumerate(types)}
        sel = c["selected"].astype(bool) if "selected" in c.columns else pd.Series(False, index=c.index)
        cols = ["candidate_id", "type", "park_id", "rank", "cost_eur", "d_habitat_ha", "d_hm", "d_retained_m3", "score"]
        for label, subset, show in ((tr("selected", lang), c[sel.to_numpy()], True), ("candidates", c[~sel.to_numpy()], False)):
            if subset.empty:
                continue
            cj = _plain_columns(subset, cols)
            fields = [f for f in cols if f in cj.columns]

            def cstyle(feat: Mapping[str, Any], _sel: bool = show) -> dict[str, Any]:
                col = colours.get(str(feat["properties"].get("type", "")), "#666666")
                return {"color": "#000000" if _sel else col, "fillColor": col, "weight": 2 if _sel else 1,
                        "fillOpacity": 0.7 if _sel else 0.3}

            folium.GeoJson(cj.__geo_interface__, name=f"{tr('interventions', lang)}: {label}", show=show,
                           style_function=cstyle, marker=folium.CircleMarker(radius=6),
                           tooltip=folium.GeoJsonTooltip(fields=fields)).add_to(m)
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    folium.LayerControl(collapsed=False).add_to(m)
    html = root.render()
    if _CDN.search(html):
        raise WerklandInputError(
            "interactive map would load a script or stylesheet from the internet", path=str(out_html),
            fix="report a bug: a folium element added a CDN dependency",
        )
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(out_html)


# --------------------------------------------------------------------------------------------
# methods


FORMULAS: tuple[tuple[str, str], ...] = (
    ("Habitat", "s(x) = suitability(class(x)) * (edge_factor if dist(x, edge classes) <= edge_band_m else 1); "
                "patches = 8-connected cells with s >= threshold and area >= min_patch_area_m2; "
                "a_i = quality_ha = sum of s x cell area"),
    ("Cost distance", "MCP_Geometric, 8 neighbours: cost of a step = step length (m) x (R_a + R_b) / 2; "
                      "d_ij = least-cost distance edge to edge (cost-weighted m)"),
    ("Dispersal kernel", "p_ij = exp(-k d_ij), k = -ln(p0) / d0; p*_ij = maximum product probability over all paths"),
    ("PC / ECA", "PCnum = sum_i sum_j a_i a_j p*_ij (ha^2, i = j included); PC = PCnum / A_L^2; ECA = sqrt(PCnum) (ha)"),
    ("dPC", "dPC_k = 100 (PCnum - PCnum_without_k) / PCnum = dPC_intra + dPC_flux + dPC_connector (Saura & Rubio 2010)"),
    ("IIC", "IIC = sum_i sum_j a_i a_j / (1 + nl_ij) / A_L^2, nl_ij = number of links on the shortest topological path"),
    ("Corridor", "NLCC(x) = min over links (CWD_a(x) + CWD_b(x) - LCD_ab), truncated at the corridor width"),
    ("Barrier improvement", "LCD'(x, R) = min_ring CWD_A + min_ring CWD_B + D, D = 2R; IS = (LCD - LCD') / D per m; "
                            "IS_pct = 100 IS / LCD (McRae et al. 2012)"),
    ("Chao1 (bias-corrected, iNEXT)", "S_chao1 = S_obs + (n-1)/n * f1 (f1 - 1) / (2 (f2 + 1))"),
    ("Sample coverage (Chao & Jost 2012)", "C = 1 - f1/n * ((n-1) f1 / ((n-1) f1 + 2 f2))"),
    ("Rarefaction / extrapolation", "S(m) = sum_i [1 - C(n - X_i, m) / C(n, m)] for m < n; "
                                    "S(n + m*) = S_obs + f0 [1 - (1 - f1 / (n f0 + f1))^m*]"),
    ("Cooling capacity (InVEST UCM)", "CC = 0.6 shade + 0.2 albedo + 0.2 ETI, ETI = kc ET0 / ET_max (weights configurable)"),
    ("Heat mitigation", "CC_park = sum_j g_j CC_j exp(-d_ij / d_cool) over green cells within d_cool; "
                        "HM = CC_park where green area within d_cool >= 2 ha and CC_park > CC, else CC"),
    ("Runoff (SCS curve number)", "S = 25400 / CN - 254 (mm); Q = (P - lambda S)^2 / (P + (1 - lambda) S) for P > lambda S, "
                                  "else 0; Q minus explicit storage (mm); excess = Q - Q_natural (m^3 and mm)"),
    ("Storage norm", "storage needed = max(0, norm_mm x sealed area / 1000 - existing storage) (m^3)"),
    ("Interventions", "score = w_bio * attainment_bio + w_climate * attainment_climate; ranking by score per k EUR; "
                      "lazy-greedy selection under the budget with marginal gains re-evaluated after each pick"),
)


def kernel_table(data: RegionData) -> list[dict[str, Any]]:
    """d0, p0, k per guild: from ``graph/{guild}_summary.json`` where present (the values used), else the guild table."""
    rows = []
    conv = (data.config.get("connectivity") or {}).get("convention", "conefor")
    for g, guild in data.guilds.items():
        s = data.summary[g]
        if s.ok:
            rows.append({"guild": g, "label": guild.label, "d0_m": _f(s.value.get("d0_m")), "p0": _f(s.value.get("p0")),
                         "k_per_m": _f(s.value.get("k_per_m")), "convention": s.value.get("convention", conv),
                         "source": f"graph/{g}_summary.json"})
        else:
            rows.append({"guild": g, "label": guild.label, "d0_m": guild.d0_m, "p0": guild.p0, "k_per_m": guild.k_per_m,
                         "convention": conv, "source": "config/guilds.yaml"})
    return rows


# --------------------------------------------------------------------------------------------
# HTML


def fmt_value(v: Any, unit: str = "", digits: int = 2, *, percent: bool = False) -> str:
    """A number for the report: thousands separators, fixed digits, unit; '-' for missing."""
    x = _f(v)
    if not math.isfinite(x):
        return "-"
    if percent:
        return f"{100 * x:,.{max(0, digits - 1)}f} %"
    s = f"{x:,.{digits}f}"
    return f"{s} {unit}".strip()


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_value
    env.filters["raw"] = lambda v: "nan" if not math.isfinite(_f(v)) else repr(_f(v))
    return env


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def build_region_report(
    region: str,
    results_dir: str | os.PathLike[str],
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    config: dict[str, Any],
    out_html: str | os.PathLike[str],
    *,
    language: str = "en",
    extra_inputs: Sequence[str | os.PathLike[str]] = (),
    qml_styles: bool = True,
) -> dict[str, Any]:
    """Write the report of one region: ``index.html``, ``map.html``, ``summary.json`` and the figure PNGs.

    Parameters
    ----------
    region : str
        Region id.
    results_dir : path-like
        The results root (``results``; the region's outputs are in ``results/{region}``), or the
        region folder itself.
    legend_yaml, guilds_yaml : path-like
        ``config/landcover_classes.yaml`` and ``config/guilds.yaml``.
    config : dict
        The workflow configuration as run (guilds, storms, budget; listed in the methods).
    out_html : path-like
        ``results/{region}/report/index.html``; the other files are written beside it.
    language : {"en", "nl"}
        Report language.
    extra_inputs : sequence of path-like
        Further files to list with their SHA-256 (tables, land-cover sources).
    qml_styles : bool
        Also write the QGIS ``.qml`` style of every layer beside the stage outputs
        (:func:`werkland.styles.write_region_styles`).

    Returns
    -------
    dict
        ``region``, ``language``, ``parks`` (the summary cards, see :func:`park_cards`),
        ``sections`` (figure key -> ``{"ok", "reason", "file"}``), ``files`` (written paths),
        ``styles`` (written ``.qml`` paths).

    Raises
    ------
    WerklandInputError
        Unknown language, missing ``region.gpkg`` or unreadable tables.
    """
    if language not in LANGUAGES:
        raise WerklandInputError(
            f"report language {language!r} is not supported", path="config: report.language",
            fix=f"use one of {', '.join(LANGUAGES)}",
        )
    out = Path(out_html)
    folder = out.parent
    data = load_region(region, results_dir, legend_yaml, guilds_yaml, config, language=language)
    log.info("region %s: %d parks, report in %s", region, len(data.parks), language)
    cards = park_cards(data)
    figures = render_figures(data)
    files: list[str] = []
    for key, (name, _cat) in FIGURES.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(figures[key].png)
        files.append(str(folder / name))
    map_path = build_interactive_map(data, folder / "map.html", cards)
    files.append(str(map_path))
    prov = collect_provenance(data.region_dir, config, extra_files=[legend_yaml, guilds_yaml, *extra_inputs])
    sections = {
        k: {"ok": f.ok, "reason": f.reason, "file": FIGURES[k][0], "title": tr(k, language), "category": FIGURES[k][1]}
        for k, f in figures.items()
    }
    citation = data.citation.value if data.citation.ok else None
    context = {
        "lang": language,
        "t": lambda key, **kw: tr(key, language, **kw),
        "region": region,
        "version": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cards": cards,
        "guilds": data.guilds,
        "storms": storm_names(config),
        "figures": [
            {**sections[k], "key": k, "b64": base64.b64encode(figures[k].png).decode("ascii")} for k in FIGURES
        ],
        "species_reason": species_reason(data),
        "no_parks": len(data.parks) == 0,
        "formulas": FORMULAS,
        "kernels": kernel_table(data),
        "prov": prov,
        "citation": citation,
        "osm": OSM_CITATION,
        "connectivity_warnings": {g: list(data.summary[g].value.get("warnings") or []) for g in data.guilds if data.summary[g].ok},
    }
    html = _env().get_template("region_report.html.j2").render(**context)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    files.append(str(out))
    styles: list[str] = []
    if qml_styles:
        from werkland.styles import write_region_styles

        labels = {g: guild.label for g, guild in data.guilds.items()}
        styles = [str(p) for p in write_region_styles(data.region_dir, legend_yaml, labels, config)]
    result = {
        "region": region,
        "language": language,
        "parks": cards,
        "sections": sections,
        "files": files,
        "styles": styles,
    }
    write_json(_jsonable(result), folder / "summary.json")
    files.append(str(folder / "summary.json"))
    log.info("wrote %s (%d figures, %d of them with data)", out, len(figures), sum(f.ok for f in figures.values()))
    return result


def build_overview(region_reports: dict[str, str | os.PathLike[str]], out_html: str | os.PathLike[str]) -> Path:
    """Write ``results/report.html``: one row per region and park, linking to each region report.

    Parameters
    ----------
    region_reports : dict
        Region id -> path of its ``index.html``; the park rows come from ``summary.json`` beside it
        (written by :func:`build_region_report`), or from ``region.gpkg`` when that is absent.
    out_html : path-like
        Output file; links are relative to its folder.

    Returns
    -------
    pathlib.Path
        ``out_html``.
    """
    out = Path(out_html)
    rows: list[dict[str, Any]] = []
    language = "en"
    for region, report in sorted(region_reports.items()):
        rp = Path(report)
        try:
            link = os.path.relpath(rp, out.parent)
        except ValueError:
            link = str(rp)
        link = link.replace(os.sep, "/")
        summ = rp.parent / "summary.json"
        cards: list[dict[str, Any]] = []
        reason = ""
        if summ.is_file():
            try:
                s = json.loads(summ.read_text(encoding="utf-8"))
                cards = s.get("parks") or []
                language = s.get("language", language)
            except (OSError, json.JSONDecodeError) as exc:
                reason = f"summary.json unreadable ({exc})"
        else:
            rg = rp.parent.parent / "region.gpkg"
            if rg.is_file():
                try:
                    parks = gpd.read_file(rg, layer="parks", engine="pyogrio")
                    cards = [{"park_id": str(r["park_id"]), "name": str(r.get("name") or ""), "area_ha": _f(r.get("area_m2")) / 1e4}
                             for _, r in parks.iterrows()]
                except Exception as exc:  # GDAL errors
                    reason = f"region.gpkg unreadable ({type(exc).__name__})"
            else:
                reason = "no summary.json and no region.gpkg beside the report"
        if not cards:
            rows.append({"region": region, "link": link, "park_id": "", "name": reason or "no parks", "area_ha": None,
                         "sealed_share": None, "hm_mean": None, "excess_m3": None, "species": None, "n_measures": None})
        for c in cards:
            storms = (c.get("runoff") or {}).get("storms") or {}
            first = next(iter(storms.values()), {}) if storms else {}
            rows.append({
                "region": region,
                "link": link,
                "park_id": c.get("park_id", ""),
                "name": c.get("name", ""),
                "area_ha": c.get("area_ha"),
                "sealed_share": (c.get("sealed") or {}).get("sealed_share"),
                "hm_mean": (c.get("heat") or {}).get("hm_mean"),
                "excess_m3": first.get("excess_m3"),
                "storm": next(iter(storms), ""),
                "species": (c.get("species") or {}).get("species"),
                "n_measures": sum(1 for m in (c.get("measures") or {}).get("rows", []) if m.get("selected")),
            })
    html = _env().get_template("overview.html.j2").render(
        rows=rows, lang=language, t=lambda key, **kw: tr(key, language, **kw), version=__version__,
        date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), n_regions=len(region_reports),
        attribution=tr("attribution", language),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("wrote %s (%d regions, %d rows)", out, len(region_reports), len(rows))
    return out


def escape(text: str) -> str:
    """HTML-escape (exported for adapters that build small snippets)."""
    return _html.escape(text)
