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
import os
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, Figure
from PIL import Image
from pyproj import Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.transform import from_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from werkland._errors import WerklandInputError
from werkland.provenance import OSM_CITATION
from werkland.raster.io import atomic_path
from werkland.report.figures import rank_column
from werkland.report.furniture import MEASURE_COLOURS, region_bounds
from werkland.report.i18n import tr
from werkland.report.load import RegionData

STATIC = Path(__file__).resolve().parent / "static"
ATTRIBUTION = OSM_CITATION["attribution"]
_CDN = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)=["']https?://""", re.IGNORECASE)
_OVERLAY_MAX_PIXELS = 1600  # the land-cover overlay is at most this many pixels per side


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


def _landcover_overlay(data: RegionData) -> tuple[str, list[list[float]]] | None:
    """Land cover reprojected to Web Mercator as a PNG data URL plus its lat/lon bounds."""
    if not data.landcover.ok:
        return None
    arr, grid = data.landcover.value
    src_crs = RioCRS.from_wkt(grid.crs.to_wkt())
    dst_crs = RioCRS.from_epsg(3857)
    mb = transform_bounds(src_crs, dst_crs, *grid.bounds)
    width, height = _overlay_size(src_crs, dst_crs, grid)
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
    to_lonlat = Transformer.from_crs(3857, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(mb[0], mb[1])
    lon1, lat1 = to_lonlat.transform(mb[2], mb[3])
    return url, [[lat0, lon0], [lat1, lon1]]


def _overlay_size(src_crs: Any, dst_crs: Any, grid: Any) -> tuple[int, int]:
    """Pixel size of the overlay: GDAL's default for the reprojection, at most 1600 per side."""
    _t, width, height = calculate_default_transform(src_crs, dst_crs, grid.width, grid.height, *grid.bounds)
    scale = max(1.0, max(width, height) / _OVERLAY_MAX_PIXELS)
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
    bj = _plain_columns(g.rename(columns={"_rank": "rank_"}), cols)
    fields = [c for c in cols if c in bj.columns]
    folium.GeoJson(bj.__geo_interface__, name=tr("map_barriers", data.language) + " (top 50)", style_function=_barrier_style,
                   tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[f.rstrip("_") for f in fields])).add_to(m)


def _add_candidates(m: folium.Map, data: RegionData) -> None:
    if not (data.candidates.ok and len(data.candidates.value)):
        return
    lang = data.language
    c = data.candidates.value
    types = sorted(c["type"].astype(str).unique()) if "type" in c.columns else []
    colours = {t: MEASURE_COLOURS[i % len(MEASURE_COLOURS)] for i, t in enumerate(types)}
    sel = c["selected"].astype(bool) if "selected" in c.columns else pd.Series(False, index=c.index)
    cols = ["candidate_id", "type", "park_id", "rank", "cost_eur", "d_habitat_ha", "d_hm", "d_retained_m3", "score"]
    layers = ((tr("selected", lang), c[sel.to_numpy()], True), (tr("candidates_layer", lang), c[~sel.to_numpy()], False))
    for label, subset, show in layers:
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


def build_interactive_map(
    data: RegionData, out_html: str | os.PathLike[str], cards: Sequence[Mapping[str, Any]]
) -> Path:
    """Write an offline Leaflet map of parks, ranked barriers and interventions (land cover as image overlay).

    Leaflet 1.9.4 (BSD-2-Clause, vendored in ``werkland/report/static/leaflet``) is inlined; no tiles,
    no CDN: the file works from ``file://`` without internet. Element ids are pinned
    (:func:`pin_element_ids`), so the same inputs write the same file.

    Raises
    ------
    WerklandInputError
        When a folium element would load a script or stylesheet from the internet.
    """
    m, bounds = _new_map(data)
    _add_landcover(m, data)
    _add_parks(m, data, cards)
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
