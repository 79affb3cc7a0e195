"""Map furniture and drawing helpers of the report figures (matplotlib, Agg, no pyplot).

Scale bar, north arrow, OpenStreetMap attribution, the region frame, subsampled rasters, empty
panels with their reason, and the PNG encoder. The PNGs are byte-identical for identical inputs: the
Agg PNG writer stores no creation date, only the ``Software`` key (the matplotlib version).
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from werkland.report.i18n import tr  # noqa: E402
from werkland.report.load import RegionData  # noqa: E402
from werkland.tables import Legend  # noqa: E402

DPI = 110
MAX_PIXELS = 1400  # rasters are subsampled to at most this many pixels per side for the maps
GUILD_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4")
MEASURE_COLOURS = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6",
)


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


def region_bounds(data: RegionData) -> tuple[float, float, float, float]:
    """Map extent: the land-cover grid, else the region polygon, else the parks (unit box if none)."""
    if data.landcover.ok:
        return tuple(data.landcover.value[1].bounds)
    if data.region_poly.ok and len(data.region_poly.value):
        return tuple(data.region_poly.value.total_bounds)
    b = data.parks.total_bounds
    if not np.all(np.isfinite(b)):
        return (0.0, 0.0, 1.0, 1.0)
    return tuple(b)


def frame(ax: Any, data: RegionData, *, parks: bool = True) -> None:
    """Region outline, park outlines, limits, scale bar, north arrow, attribution."""
    b = region_bounds(data)
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
    _localise_axis_labels(ax, data.language)


def _localise_axis_labels(ax: Any, language: str) -> None:
    """The CRS axis labels geopandas writes (``Easting [metre]``) in the report language."""
    if language == "en":
        return
    words = [(tr(k, "en"), tr(k, language)) for k in ("axis_easting", "axis_northing", "axis_metre")]
    for get, set_ in ((ax.get_xlabel, ax.set_xlabel), (ax.get_ylabel, ax.set_ylabel)):
        label = get()
        for en, local in words:
            label = label.replace(en, local)
        if label != get():
            set_(label)


def _subsample(arr: np.ndarray) -> np.ndarray:
    step = max(1, int(math.ceil(max(arr.shape) / MAX_PIXELS)))
    return arr[::step, ::step]


def imshow(
    ax: Any, arr: np.ndarray, grid: Any, *, mask_invalid: bool = False, mask_value: float | None = None, **kw: Any
) -> Any:
    """Draw a raster subsampled to at most :data:`MAX_PIXELS` per side.

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


def landcover_cmap(legend: Legend) -> tuple[ListedColormap, BoundaryNorm]:
    """Colour map of the legend's class codes (0..255; unknown codes white, masked cells transparent)."""
    colours = ["#ffffff"] * 256
    for c in legend.classes:
        colours[c.code] = c.colour
    cmap = ListedColormap(colours)
    cmap.set_bad((1, 1, 1, 0))
    return cmap, BoundaryNorm(np.arange(-0.5, 256.5, 1), 256)


def faint_landcover(ax: Any, data: RegionData) -> None:
    """Land cover in light grey tones as the background of thematic maps."""
    if not data.landcover.ok:
        return
    arr, grid = data.landcover.value
    cmap, norm = landcover_cmap(data.legend)
    imshow(ax, arr, grid, mask_value=0, cmap=cmap, norm=norm, alpha=0.25, zorder=1)


def map_panel(
    ax: Any, fig: Figure, data: RegionData, arr: np.ndarray, grid: Any, title: str, *,
    colorbar: dict[str, Any], **kw: Any,
) -> Any:
    """One raster map panel of a section figure: the faint land cover, ``arr`` over it (invalid cells
    transparent), its colour bar, the region frame and the title.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target axes.
    fig : matplotlib.figure.Figure
        The figure of ``ax`` (for the colour bar).
    data : werkland.report.load.RegionData
        The region (land cover, outline, parks).
    arr, grid
        Raster and its grid (:func:`imshow`).
    title : str
        Panel title.
    colorbar : dict
        Keywords of :meth:`matplotlib.figure.Figure.colorbar` (``shrink``, ``label``, ...).
    **kw
        Keywords of :func:`imshow` (``cmap``, ``norm``, ``vmin``, ...).

    Returns
    -------
    matplotlib.colorbar.Colorbar
    """
    faint_landcover(ax, data)
    im = imshow(ax, arr, grid, mask_invalid=True, zorder=2, **kw)
    cb = fig.colorbar(im, ax=ax, **colorbar)
    frame(ax, data)
    ax.set_title(title, fontsize=10)
    return cb


def grid_axes(fig: Figure, n: int) -> list[Any]:
    """``n`` axes in one column (n = 1) or two, the unused ones hidden."""
    ncols = 1 if n == 1 else 2
    nrows = int(math.ceil(n / ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def panel_height(n: int, per_row: float) -> float:
    """Figure height (inches) of ``n`` panels in the layout of :func:`grid_axes`."""
    return per_row * math.ceil(n / (1 if n == 1 else 2))


def empty_panel(ax: Any, title: str, reason: str) -> None:
    """An axes without data: its title and, in red, why it is empty."""
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, _wrap(reason, 45), ha="center", va="center", fontsize=9, color="#7f0000", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_color("#cccccc")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def placeholder(title: str, reason: str) -> Figure:
    """A small figure that says why a figure has no data."""
    fig = Figure(figsize=(7, 2.6))
    ax = fig.subplots()
    empty_panel(ax, title, reason)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (white background, tight box, :data:`DPI`).

    The tight box needs a layout pass before the drawing: matplotlib draws the whole figure with
    the renderer's drawing switched off, which still resamples every image and transforms every
    path of every collection. The images and collections of the axes skip that pass
    (:func:`_skip_in_layout_pass`): clipped to their axes, they cannot widen the box, so the box and
    the drawing, and so the bytes, are those of a plain ``savefig``.
    """
    buf = io.BytesIO()
    heavy = [a for ax in fig.axes for a in (*ax.images, *ax.collections) if a.get_clip_on() and "draw" not in vars(a)]
    for a in heavy:
        a.draw = _skip_in_layout_pass(a.draw)  # type: ignore[method-assign]
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    finally:
        for a in heavy:
            del a.draw
    return buf.getvalue()


def _skip_in_layout_pass(draw: Any) -> Any:
    """``draw``, except in a pass whose renderer draws nothing (``RendererBase._draw_disabled`` sets
    no-op ``draw_*`` methods on the renderer itself); any other renderer draws as before."""

    def wrapped(renderer: Any) -> None:
        if "draw_path" in vars(renderer):  # the layout pass of bbox_inches="tight": nothing is drawn
            return
        draw(renderer)

    return wrapped
