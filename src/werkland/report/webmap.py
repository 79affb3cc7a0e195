"""The offline interactive map (``report/map.html``): folium with Leaflet inlined, no tiles, no CDN.

folium gives every element a random id (``branca.element.Element._id``, 16 random bytes); the ids
end up in the page as JavaScript variable and ``div`` names. :func:`pin_element_ids` replaces them,
before rendering, by ids derived from each element's position in the element tree and its kind, so
the same inputs write the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import os
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, Figure
from matplotlib import colormaps
from PIL import Image
from pyproj import Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.transform import from_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from werkland._errors import WerklandInputError
from werkland.provenance import OSM_CITATION
from werkland.raster.io import atomic_path
from werkland.report.figures import rank_column
from werkland.report.furniture import GUILD_COLOURS, MEASURE_COLOURS, region_bounds
from werkland.report.i18n import measure_name, tr
from werkland.report.load import Loaded, RegionData, read_raster_masked

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
ATTRIBUTION = OSM_CITATION["attribution"]
_CDN = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)=["']https?://""", re.IGNORECASE)
_OVERLAY_MAX_PIXELS = 1600  # the land-cover overlay is at most this many pixels per side
_THEME_MAX_PIXELS = 800  # habitat, corridor and current overlays (several per map): at most this per side
#: Optional WMTS base maps (``report.basemap``): XYZ template in Web Mercator, attribution, label key.
BASEMAPS: dict[str, tuple[str, str, str]] = {
    "brt": ("https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png",
            "Kaartgegevens &copy; Kadaster (PDOK BRT-Achtergrondkaart)", "basemap_brt"),
    "aerial": ("https://service.pdok.nl/hwh/luchtfotorgb/wmts/v1_0/Actueel_orthoHR/EPSG:3857/{z}/{x}/{y}.jpeg",
               "Luchtfoto &copy; Beeldmateriaal Nederland (PDOK)", "basemap_aerial"),
}


def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS (images inlined as data URIs), vendored in ``werkland/report/static/leaflet``."""
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


def _to_mercator(
    arr: np.ndarray, grid: Any, nodata: float, max_pixels: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A raster reprojected (nearest neighbour) to Web Mercator, at most ``max_pixels`` per side."""
    src_crs = RioCRS.from_wkt(grid.crs.to_wkt())
    dst_crs = RioCRS.from_epsg(3857)
    mb = transform_bounds(src_crs, dst_crs, *grid.bounds)
    width, height = _overlay_size(src_crs, dst_crs, grid, max_pixels)
    transform = from_bounds(*mb, width, height)
    out = np.full((height, width), nodata, dtype=arr.dtype)
    reproject(arr, out, src_transform=grid.transform, src_crs=src_crs, dst_transform=transform,
              dst_crs=dst_crs, resampling=Resampling.nearest, src_nodata=nodata, dst_nodata=nodata)
    return out, mb


def _png_url(rgba: np.ndarray, mb: tuple[float, float, float, float]) -> tuple[str, list[list[float]]]:
    """The overlay as a lossless PNG data URL (zlib level 6: Pillow's ``optimize=True`` took 22x the
    time for 1.6 % fewer bytes on the 4 M-cell region's nine overlays; the pixels are the same) and
    its lat/lon bounds."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=6)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    to_lonlat = Transformer.from_crs(3857, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(mb[0], mb[1])
    lon1, lat1 = to_lonlat.transform(mb[2], mb[3])
    return url, [[lat0, lon0], [lat1, lon1]]


def _landcover_overlay(data: RegionData) -> tuple[str, list[list[float]]] | None:
    """Land cover reprojected to Web Mercator as a PNG data URL plus its lat/lon bounds."""
    if not data.landcover.ok:
        return None
    arr, grid = data.landcover.value
    out, mb = _to_mercator(arr.astype(np.uint8, copy=False), grid, 0, _OVERLAY_MAX_PIXELS)
    rgba = np.zeros((*out.shape, 4), dtype=np.uint8)
    for c in data.legend.classes:
        col = c.colour.lstrip("#")
        rgba[out == c.code] = [int(col[0:2], 16), int(col[2:4], 16), int(col[4:6], 16), 200]
    return _png_url(rgba, mb)


def value_overlay(
    arr: np.ndarray, grid: Any, cmap: str, vmin: float, vmax: float, *, log: bool = False,
    max_pixels: int = _THEME_MAX_PIXELS, alpha: int = 210,
) -> tuple[str, list[list[float]]] | None:
    """A continuous raster (NaN = no data) as a coloured Web-Mercator PNG data URL and its lat/lon bounds.

    Cells with NaN (and, with ``log``, values <= 0) are transparent; the others are coloured with
    the matplotlib colour map ``cmap`` from ``vmin`` to ``vmax`` (logarithmically with ``log``).
    None when no cell has a value.
    """
    a = np.asarray(arr, dtype=np.float32)
    if log:
        a = np.where(a > 0, a, np.nan).astype(np.float32)
    if not np.isfinite(a).any():
        return None
    out, mb = _to_mercator(a, grid, np.nan, max_pixels)
    valid = np.isfinite(out)
    if log:
        lo, hi = math.log10(vmin), math.log10(vmax)
        t = (np.log10(np.where(valid, out, vmin)) - lo) / max(hi - lo, 1e-12)
    else:
        t = (np.where(valid, out, vmin) - vmin) / max(vmax - vmin, 1e-12)
    rgba = (colormaps[cmap](np.clip(t, 0, 1)) * 255).round().astype(np.uint8)
    rgba[..., 3] = np.where(valid, alpha, 0)
    return _png_url(rgba, mb)


def _overlay_size(src_crs: Any, dst_crs: Any, grid: Any, max_pixels: int = _OVERLAY_MAX_PIXELS) -> tuple[int, int]:
    """Pixel size of the overlay: GDAL's default for the reprojection, at most ``max_pixels`` per side."""
    _t, width, height = calculate_default_transform(src_crs, dst_crs, grid.width, grid.height, *grid.bounds)
    scale = max(1.0, max(width, height) / max_pixels)
    return max(1, int(width / scale)), max(1, int(height / scale))


def _plain_columns(gdf: gpd.GeoDataFrame, cols: Sequence[str]) -> gpd.GeoDataFrame:
    keep = [c for c in cols if c in gdf.columns]
    out = gdf[[*keep, "geometry"]].copy()
    for c in keep:
        if out[c].dtype.kind == "f":
            out[c] = out[c].round(4)
        elif out[c].dtype.kind not in "biu":
            out[c] = out[c].astype(str)
    return out.to_crs(4326)


def pin_element_ids(root: Element) -> int:
    """Give every element under ``root`` an id derived from its position and kind, not from chance.

    The elements are visited depth-first from ``root`` (attributes holding elements, then the
    children, in their insertion order); the n-th element gets the first 32 hex digits of
    ``sha256(f"{n}:{kind}")``, the same shape as branca's random ids. Children registered under
    their old name (``get_name()``) are re-registered under the new one.

    Parameters
    ----------
    root : branca.element.Element
        The figure (``Map.get_root()``), after every element was added.

    Returns
    -------
    int
        Number of elements renamed.
    """
    order: list[Element] = []
    old_names: dict[int, str] = {}
    seen: set[int] = set()

    def visit(el: Element) -> None:
        if id(el) in seen:
            return
        seen.add(id(el))
        old_names[id(el)] = el.get_name()
        el._id = hashlib.sha256(f"{len(order)}:{el._name}".encode()).hexdigest()[:32]
        order.append(el)
        for attr, value in list(vars(el).items()):
            if attr != "_parent" and isinstance(value, Element):
                visit(value)
        for child in list(el._children.values()):
            visit(child)

    visit(root)
    for el in order:
        el._children = OrderedDict(
            (child.get_name() if key == old_names.get(id(child)) else key, child)
            for key, child in el._children.items()
        )
    return len(order)


def _new_map(data: RegionData) -> tuple[folium.Map, list[list[float]]]:
    b = region_bounds(data)
    corners = gpd.GeoSeries(gpd.points_from_xy([b[0], b[2]], [b[1], b[3]]), crs=data.crs).to_crs(4326)
    lat0, lat1 = float(corners.y.min()), float(corners.y.max())
    lon0, lon1 = float(corners.x.min()), float(corners.x.max())
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], tiles=None, zoom_start=14, control_scale=True,
                   prefer_canvas=False)
    m.default_js = []
    m.default_css = []
    js, css = leaflet_assets()
    root = cast(Figure, m.get_root())
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline")
    root.header.add_child(Element("<style>.leaflet-container{background:#f4f4f4}</style>"), name="werkland_bg")
    root.title = tr("title", data.language, region=data.region)
    zoom_in, zoom_out = json.dumps(tr("zoom_in", data.language)), json.dumps(tr("zoom_out", data.language))
    root.script.add_child(Element(  # after the map exists: the zoom buttons' titles in the report language
        "window.addEventListener('load', function () {\n"
        f"  document.querySelectorAll('.leaflet-control-zoom-in').forEach(e => {{ e.title = {zoom_in}; }});\n"
        f"  document.querySelectorAll('.leaflet-control-zoom-out').forEach(e => {{ e.title = {zoom_out}; }});\n"
        "});"), name="werkland_zoom_titles")
    return m, [[lat0, lon0], [lat1, lon1]]


def _add_landcover(m: folium.Map, data: RegionData) -> None:
    overlay = _landcover_overlay(data)
    if overlay is None:
        return
    url, bnds = overlay
    folium.raster_layers.ImageOverlay(image=url, bounds=bnds, name=tr("map_landcover", data.language), opacity=0.75,
                                      attribution=ATTRIBUTION, pixelated=True).add_to(m)


def _add_parks(m: folium.Map, data: RegionData, cards: Sequence[Mapping[str, Any]]) -> None:
    if not len(data.parks):
        return
    lang = data.language
    by_id = {c["park_id"]: c for c in cards}
    p = data.parks.copy()
    p["sealed_pct"] = [round(100 * by_id[str(i)]["sealed"]["sealed_share"], 1) for i in p["park_id"]]
    p["hm_mean"] = [round(by_id[str(i)]["heat"].get("hm_mean", float("nan")), 3) for i in p["park_id"]]
    p["area_ha"] = [round(by_id[str(i)]["area_ha"], 2) for i in p["park_id"]]
    fields = ["park_id", "name", "area_ha", "sealed_pct", "hm_mean"]
    pj = _plain_columns(p, fields).fillna("")
    aliases = [tr(k, lang) for k in ("tip_park", "tip_name", "tip_area", "tip_sealed", "tip_hm")]
    folium.GeoJson(
        pj.__geo_interface__, name=tr("park", lang),
        style_function=lambda _f: {"color": "#000000", "weight": 2, "fillOpacity": 0.05, "dashArray": "5,4"},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
    ).add_to(m)


def _barrier_style(feat: Mapping[str, Any]) -> dict[str, Any]:
    r = feat["properties"].get("rank_", 99)
    r = 99 if r in ("", None) else float(r)
    return {"color": "#b2182b" if r <= 10 else "#ef8a62", "weight": 6 if r <= 10 else 4, "opacity": 0.9}


def _add_barriers(m: folium.Map, data: RegionData) -> None:
    if not (data.barriers.ok and len(data.barriers.value)):
        return
    g = data.barriers.value
    rc = rank_column(g)
    g = g.assign(_rank=pd.to_numeric(g[rc], errors="coerce") if rc else np.arange(1, len(g) + 1))
    g = g.sort_values("_rank").head(50)
    cols = ["rank_", "segment_id", "kind", "road_class", "length_m", "dECA_ha"]
    tips = dict(zip(cols, ("tip_rank", "tip_segment", "tip_kind", "tip_road_class", "tip_length", "tip_deca"), strict=True))
    bj = _plain_columns(g.rename(columns={"_rank": "rank_"}), cols)
    fields = [c for c in cols if c in bj.columns]
    lang = data.language
    folium.GeoJson(bj.__geo_interface__, name=f"{tr('map_barriers', lang)} {tr('top_n', lang, n=50)}",
                   style_function=_barrier_style,
                   tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[tr(tips[f], lang) for f in fields])).add_to(m)


def _add_candidates(m: folium.Map, data: RegionData) -> None:
    if not (data.candidates.ok and len(data.candidates.value)):
        return
    lang = data.language
    c = data.candidates.value
    types = sorted(c["type"].astype(str).unique()) if "type" in c.columns else []
    colours = {t: MEASURE_COLOURS[i % len(MEASURE_COLOURS)] for i, t in enumerate(types)}
    sel = c["selected"].astype(bool) if "selected" in c.columns else pd.Series(False, index=c.index)
    c = c.assign(measure_=[measure_name(str(t), lang) for t in c["type"]] if "type" in c.columns else "")
    cols = ["candidate_id", "measure_", "park_id", "rank", "cost_eur", "d_habitat_ha", "d_hm", "d_retained_m3", "score"]
    tips = dict(zip(cols, ("tip_candidate", "tip_type", "tip_park", "tip_rank", "tip_cost", "tip_d_habitat", "tip_d_hm",
                           "tip_d_retained", "tip_score"), strict=True))
    layers = ((tr("selected", lang), c[sel.to_numpy()], True), (tr("candidates_layer", lang), c[~sel.to_numpy()], False))
    for label, subset, show in layers:
        if subset.empty:
            continue
        cj = _plain_columns(subset, [*cols, "type"])
        fields = [f for f in cols if f in cj.columns]

        def cstyle(feat: Mapping[str, Any], _sel: bool = show) -> dict[str, Any]:
            col = colours.get(str(feat["properties"].get("type", "")), "#666666")
            return {"color": "#000000" if _sel else col, "fillColor": col, "weight": 2 if _sel else 1,
                    "fillOpacity": 0.7 if _sel else 0.3}

        folium.GeoJson(cj.__geo_interface__, name=f"{tr('interventions', lang)}: {label}", show=show,
                       style_function=cstyle, marker=folium.CircleMarker(radius=6),
                       tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[tr(tips[f], lang) for f in fields])).add_to(m)


def _add_image(m: folium.Map, overlay: tuple[str, list[list[float]]] | None, name: str, *, show: bool = False,
               opacity: float = 0.85) -> bool:
    if overlay is None:
        return False
    url, bnds = overlay
    folium.raster_layers.ImageOverlay(image=url, bounds=bnds, name=name, opacity=opacity, show=show,
                                      attribution=ATTRIBUTION, pixelated=True).add_to(m)
    return True


def _guild_rasters(data: RegionData, layers: Mapping[str, Loaded]) -> Iterator[tuple[str, np.ndarray, Any]]:
    """``(guild label, array, grid)`` of every guild whose raster in ``layers`` was read, in guild order."""
    for g, guild in data.guilds.items():
        layer = layers.get(g)
        if layer is None or not layer.ok:
            continue
        arr, grid = layer.value
        yield guild.label, arr, grid


def _add_habitat(m: folium.Map, data: RegionData) -> None:
    """Habitat suitability (0..1) of every guild, one switchable layer each (off at start)."""
    for label, arr, grid in _guild_rasters(data, data.habitat):
        _add_image(m, value_overlay(arr, grid, "YlGn", 0.0, 1.0), tr("layer_habitat", data.language, guild=label))


def _add_corridors(m: folium.Map, data: RegionData) -> None:
    """Least-cost corridors of every guild (0 = on the least-cost path; darker = closer to it)."""
    for label, arr, grid in _guild_rasters(data, data.corridors):
        if not np.isfinite(arr).any():
            continue
        vmax = float(np.nanmax(arr)) or 1.0
        _add_image(m, value_overlay(arr, grid, "magma", 0.0, vmax), tr("layer_corridors", data.language, guild=label))


def _add_currents(m: folium.Map, data: RegionData) -> None:
    """Current and pinch-point maps (``currents/{guild}_current.tif``, ``_pinchpoints.tif``) where they exist.

    Logarithmic colours from the 2nd to the 98th percentile of the positive cells (currents span
    orders of magnitude); cells without current are transparent.
    """
    for g, guild in data.guilds.items():
        for path, key in ((data.paths.current(g), "layer_current"), (data.paths.pinchpoints(g), "layer_pinchpoints")):
            if not path.is_file():
                continue
            try:
                arr, grid = read_raster_masked(path)
            except Exception as exc:  # an unreadable optional layer is left out, with a log line
                log.warning("interactive map: cannot read %s (%s)", path, exc)
                continue
            pos = arr[np.isfinite(arr) & (arr > 0)]
            if pos.size == 0:
                continue
            lo, hi = (float(v) for v in np.percentile(pos[:: max(1, pos.size // 1_000_000)], [2, 98]))
            hi = hi if hi > lo else lo * 10
            _add_image(m, value_overlay(arr, grid, "inferno", lo, hi, log=True), tr(key, data.language, guild=guild.label))


def _add_species(m: folium.Map, data: RegionData) -> None:
    """The cleaned species records as points coloured by guild (at most 5,000, in file order)."""
    occ = data.occurrences
    if not (occ.ok and len(occ.value)):
        return
    lang = data.language
    g = occ.value.head(5000)
    guilds = list(data.guilds)
    colours = {x: GUILD_COLOURS[i % len(GUILD_COLOURS)] for i, x in enumerate(guilds)}
    cols = [c for c in ("species", "guild", "park_id") if c in g.columns]
    gj = _plain_columns(g, cols).fillna("")
    tips = {"species": "tip_species", "guild": "tip_guild", "park_id": "tip_park"}

    def style(feat: Mapping[str, Any]) -> dict[str, Any]:
        guild = str(feat["properties"].get("guild", "")).split(";")[0].split(",")[0].strip()
        col = colours.get(guild, "#555555")
        return {"color": "#ffffff", "weight": 0.5, "fillColor": col, "fillOpacity": 0.85}

    folium.GeoJson(gj.__geo_interface__, name=f"{tr('layer_species', lang)} ({len(g)})", show=False,
                   style_function=style, marker=folium.CircleMarker(radius=4),
                   tooltip=folium.GeoJsonTooltip(fields=cols, aliases=[tr(tips[c], lang) for c in cols])).add_to(m)


def _add_basemap(m: folium.Map, data: RegionData) -> None:
    """The optional WMTS base map (``report.basemap``; needs internet when the map is opened)."""
    choice = data.params.basemap
    if choice in ("", "none"):
        return
    if choice not in BASEMAPS:
        raise WerklandInputError(f"unknown base map {choice!r}", path="config: report.basemap",
                                 fix=f"use none or one of {', '.join(BASEMAPS)}")
    url, attribution, key = BASEMAPS[choice]
    folium.TileLayer(tiles=url, attr=attribution, name=tr(key, data.language), overlay=False, control=True,
                     max_zoom=19, max_native_zoom=19).add_to(m)


def build_interactive_map(
    data: RegionData, out_html: str | os.PathLike[str], cards: Sequence[Mapping[str, Any]]
) -> Path:
    """Write an offline Leaflet map of the region's layers, switchable in the layer control.

    Layers: land cover, habitat suitability and least-cost corridors per guild, current and pinch
    points per guild when ``currents/{guild}_current.tif`` / ``_pinchpoints.tif`` exist (image
    overlays), parks, species records, the 50 best-ranked barriers and the interventions (vector
    layers with tooltips in the report language). Leaflet 1.9.4 (BSD-2-Clause, vendored in
    ``werkland/report/static/leaflet``) is inlined; no CDN, and no tiles unless ``report.basemap``
    names a PDOK WMTS (:data:`BASEMAPS`, needs internet): by default the file works from
    ``file://`` without internet. Element ids are pinned
    (:func:`pin_element_ids`), so the same inputs write the same file.

    Raises
    ------
    WerklandInputError
        When a folium element would load a script or stylesheet from the internet.
    """
    m, bounds = _new_map(data)
    _add_basemap(m, data)
    _add_landcover(m, data)
    _add_habitat(m, data)
    _add_corridors(m, data)
    _add_currents(m, data)
    _add_parks(m, data, cards)
    _add_species(m, data)
    _add_barriers(m, data)
    _add_candidates(m, data)
    m.fit_bounds(bounds)
    folium.LayerControl(collapsed=False).add_to(m)
    root = m.get_root()
    pin_element_ids(root)
    html = root.render()
    if _CDN.search(html):
        raise WerklandInputError(
            "interactive map would load a script or stylesheet from the internet", path=str(out_html),
            fix="report a bug: a folium element added a CDN dependency",
        )
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(out_html)
