"""QGIS styles stored inside the GeoPackages: the ``layer_styles`` table, one default style per layer.

QGIS opens a GeoPackage layer with the style stored for it in the file's ``layer_styles`` table
(*Layer Properties > Style > Save as default* writes the same table). Unlike a ``.qml`` beside the
file, which QGIS applies only to a one-layer file, this styles every layer of a multi-layer
GeoPackage (``region.gpkg``: region and parks; ``landcover.gpkg``: polygons and lines). The
``.qml`` files stay beside the data (:func:`werkland.report.styles.write_region_styles`); the
table holds the same QML text.

Table layout (QGIS's, as created by its OGR provider): ``id`` (integer primary key),
``f_table_catalog``, ``f_table_schema``, ``f_table_name``, ``f_geometry_column``, ``styleName``,
``styleQML``, ``styleSLD``, ``useAsDefault``, ``description``, ``owner``, ``ui``,
``update_time``. The table is registered in ``gpkg_contents`` as ``attributes`` (as QGIS does).

Why the report writes the table into the stage outputs, and why that is safe:

* the styles depend on the whole configuration (legend, guild labels, storms, the intervention
  catalogue, the corridor width each guild's summary records); the stages that write the
  GeoPackages sit below the report in the package layers and do not know them -- the same reason
  the ``.qml`` files are written by the report;
* the data layers are not touched: the file is copied, the table added to the copy, and the copy
  renamed onto the original (a reader holding the old file keeps a complete file);
* the file's modification time is restored afterwards, so Snakemake's ``mtime`` rerun trigger
  never sees a stage output newer than the rules that consumed it (no rerun cascade, no loop);
  when a stage rewrites its GeoPackage (without the table), the report is rerun because its input
  changed and writes the table again;
* the write is deterministic (``update_time`` and ``gpkg_contents.last_change`` come from
  ``SOURCE_DATE_EPOCH``, else 1970-01-01) and idempotent (the table is replaced), so two runs and
  the per-stage and the pipeline execution write the same bytes; a file that already holds the
  same table is left untouched.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyogrio

from werkland._errors import WerklandInputError
from werkland.layout import RegionPaths, StyleTarget
from werkland.raster.io import atomic_path, fix_gpkg_date

log = logging.getLogger(__name__)

__all__ = ["LAYER_STYLES", "LAYER_STYLES_COLUMNS", "StyleRow", "read_layer_styles", "write_layer_styles",
           "write_region_layer_styles"]

#: Name of the style table QGIS reads.
LAYER_STYLES = "layer_styles"
#: Its columns besides the integer primary key ``id``, in QGIS's order.
LAYER_STYLES_COLUMNS: tuple[str, ...] = (
    "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML",
    "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
)


@dataclass(frozen=True)
class StyleRow:
    """The default style of one layer of a GeoPackage.

    Attributes
    ----------
    layer : str
        Table (layer) name.
    qml : str
        The QGIS style (QML text).
    description : str
        Free text shown in QGIS's style manager.
    """

    layer: str
    qml: str
    description: str = ""


def _style_time() -> _dt.datetime:
    """``update_time`` of the rows: ``SOURCE_DATE_EPOCH`` (seconds), else 1970-01-01 UTC."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        seconds = int(raw) if raw else 0
    except ValueError:
        raise WerklandInputError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds", path="environment: SOURCE_DATE_EPOCH",
            fix="set it to seconds since 1970-01-01 UTC or unset it",
        ) from None
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC).replace(tzinfo=None)


def _spatial_layers(path: Path) -> dict[str, str]:
    """Layer name -> geometry column of every spatial layer (the style table itself left out)."""
    out: dict[str, str] = {}
    for name, geometry_type in pyogrio.list_layers(path):
        if geometry_type is None or str(name) == LAYER_STYLES:
            continue
        info = pyogrio.read_info(path, layer=str(name))
        out[str(name)] = str(info.get("geometry_name") or "geom")
    return out


def _frame(path: Path, rows: Sequence[StyleRow]) -> pd.DataFrame:
    layers = _spatial_layers(path)
    missing = [r.layer for r in rows if r.layer not in layers]
    if missing:
        raise WerklandInputError(
            f"no spatial layer {', '.join(repr(m) for m in missing)} to style", path=str(path),
            fix=f"style one of its layers: {', '.join(layers) or '(none)'}",
        )
    when = _style_time()
    records = [
        {"f_table_catalog": "", "f_table_schema": "", "f_table_name": r.layer, "f_geometry_column": layers[r.layer],
         "styleName": r.layer, "styleQML": r.qml, "styleSLD": "", "useAsDefault": True,
         "description": r.description, "owner": "", "ui": "", "update_time": when}
        for r in rows
    ]
    df = pd.DataFrame.from_records(records, columns=list(LAYER_STYLES_COLUMNS))
    df["useAsDefault"] = df["useAsDefault"].astype(bool)
    df["update_time"] = pd.to_datetime(df["update_time"])
    return df


def write_layer_styles(path: str | os.PathLike[str], rows: Sequence[StyleRow], *, keep_mtime: bool = True) -> Path:
    """Write the ``layer_styles`` table of a GeoPackage: one default style per row (replacing the table).

    The data layers are left as they are: the file is copied, the table written into the copy with
    GDAL (registered in ``gpkg_contents``, integer primary key ``id``), and the copy renamed onto
    ``path``.

    Parameters
    ----------
    path : path-like
        An existing GeoPackage.
    rows : sequence of StyleRow
        The styles, one per spatial layer to style (layer names must exist in the file).
    keep_mtime : bool
        Restore the file's modification time afterwards (the file is another rule's output: see
        the module docstring).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    WerklandInputError
        When the file is missing, or a row names a layer the file does not have.
    """
    target = Path(path)
    if not target.is_file():
        raise WerklandInputError("GeoPackage to style not found", path=str(target), fix="run the stage that writes it")
    if not rows:
        return target
    before = target.stat()
    df = _frame(target, rows)
    if _same_table(read_layer_styles(target), df):
        return target  # already stored: leave the file (and its bytes) as they are
    fix_gpkg_date()
    with atomic_path(target) as tmp:
        shutil.copyfile(target, tmp)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            pyogrio.write_dataframe(df, tmp, layer=LAYER_STYLES, driver="GPKG", append=False,
                                    layer_options={"FID": "id", "OVERWRITE": "YES"})
    if keep_mtime:
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    return target


def _same_table(stored: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Whether a stored ``layer_styles`` table holds exactly the rows ``new`` would write."""
    if len(stored) != len(new) or list(stored.columns[1:]) != list(new.columns):
        return False
    a = stored[list(new.columns)].astype(str).reset_index(drop=True)
    b = new.astype(str).reset_index(drop=True)
    return bool((a == b).all().all())


def read_layer_styles(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The ``layer_styles`` table of a GeoPackage with its ``id`` column (empty frame when it has none)."""
    p = Path(path)
    if LAYER_STYLES not in [str(n) for n, _g in pyogrio.list_layers(p)]:
        return pd.DataFrame(columns=["id", *LAYER_STYLES_COLUMNS])
    df = pyogrio.read_dataframe(p, layer=LAYER_STYLES, read_geometry=False, fid_as_index=True)
    return df.rename_axis("id").reset_index()


def _rows_by_file(paths: RegionPaths, styles: Iterable[tuple[StyleTarget, str]]) -> dict[Path, list[StyleRow]]:
    by_file: dict[Path, list[StyleRow]] = {}
    for target, qml in styles:
        if not target.data.endswith(".gpkg"):
            continue
        data = paths.dir / target.data
        if not data.is_file():
            continue
        present = _spatial_layers(data)
        layers = [target.layer] if target.layer in present else [] if target.layer else list(present)
        rows = by_file.setdefault(data, [])
        rows += [StyleRow(layer, qml, f"werkland {target.kind}") for layer in layers
                 if layer not in {r.layer for r in rows}]
    return by_file


def write_region_layer_styles(paths: RegionPaths, styles: Mapping[StyleTarget, str] | Iterable[tuple[StyleTarget, str]]
                              ) -> list[Path]:
    """Store the style of every GeoPackage layer of a region in its file's ``layer_styles`` table.

    Parameters
    ----------
    paths : RegionPaths
        The region's files.
    styles : mapping or iterable of (StyleTarget, str)
        The style targets (:func:`werkland.layout.style_targets`) with their QML text; targets of
        rasters, of GeoPackages that do not exist and of layers a file does not have are skipped.
        A target without a layer styles every spatial layer of its file.

    Returns
    -------
    list of pathlib.Path
        The GeoPackages written.
    """
    items = styles.items() if isinstance(styles, Mapping) else styles
    written = []
    for data, rows in _rows_by_file(paths, items).items():
        written.append(write_layer_styles(data, rows))
    log.info("stored QGIS styles in %d GeoPackages under %s", len(written), paths.dir)
    return written
