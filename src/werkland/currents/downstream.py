"""Circuit results for later stages: link columns and the current crossing barrier segments.

* :func:`links_with_r_eff` adds ``r_eff`` and ``cwd_to_r_eff`` (Linkage Mapper's ``CWDTORRatio``:
  least-cost distance / effective resistance; low = a narrow, single route, high = many parallel
  routes) to the links layer from ``currents/{guild}_resistance.csv``.
* :func:`segment_current_crossing` estimates the cumulative current crossing each barrier segment
  from a node-current raster and the segment footprints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from werkland._errors import WerklandInputError

__all__ = ["links_with_r_eff", "read_resistance_csv", "segment_current_crossing"]

#: Columns of ``currents/{guild}_resistance.csv``.
RESISTANCE_COLUMNS = ("from_id", "to_id", "r_eff", "connected")


def read_resistance_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``currents/{guild}_resistance.csv`` (``r_eff`` NaN where not connected).

    Raises
    ------
    WerklandInputError
        A missing file or column.
    """
    try:
        df = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise WerklandInputError("file not found", path=str(path), fix="run the currents stage first") from exc
    missing = [c for c in RESISTANCE_COLUMNS if c not in df.columns]
    if missing:
        raise WerklandInputError(f"missing column(s) {', '.join(missing)}", path=str(path),
                                 fix="rebuild it with the currents stage")
    return df


def links_with_r_eff(links: pd.DataFrame, resistance_csv: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """The links table with ``r_eff`` and ``cwd_to_r_eff`` columns added.

    Parameters
    ----------
    links : pandas.DataFrame or geopandas.GeoDataFrame
        Links layer with ``from_id``, ``to_id`` and ``cost_distance`` (cost-weighted metres).
    resistance_csv : path-like or pandas.DataFrame
        ``currents/{guild}_resistance.csv`` or its table.

    Returns
    -------
    pandas.DataFrame
        A copy with ``r_eff`` (effective resistance between the two patches, NaN when they are not
        connected) and ``cwd_to_r_eff`` (``cost_distance / r_eff``, NaN when undefined). Row order and
        the existing columns are kept.
    """
    table = resistance_csv if isinstance(resistance_csv, pd.DataFrame) else read_resistance_csv(resistance_csv)
    for col in ("from_id", "to_id", "cost_distance"):
        if col not in links.columns:
            raise WerklandInputError(f"links table has no {col!r} column", path="links layer",
                                     fix="use graph/{guild}_links.gpkg layer links")
    lo = np.minimum(table["from_id"].to_numpy(), table["to_id"].to_numpy())
    hi = np.maximum(table["from_id"].to_numpy(), table["to_id"].to_numpy())
    r = np.where(table["connected"].astype(bool).to_numpy(), table["r_eff"].to_numpy(dtype=float), np.nan)
    lookup = dict(zip(zip(lo.tolist(), hi.tolist(), strict=True), r.tolist(), strict=True))
    out = links.copy()
    a = out["from_id"].to_numpy()
    b = out["to_id"].to_numpy()
    keys = zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True)
    reff = np.array([lookup.get(k, np.nan) for k in keys], dtype=float)
    out["r_eff"] = reff
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["cost_distance"].to_numpy(dtype=float) / reff
    out["cwd_to_r_eff"] = np.where(np.isfinite(ratio), ratio, np.nan)
    return out


def segment_current_crossing(
    current: np.ndarray, segment_raster: np.ndarray, centreline_cells: Sequence[int] | np.ndarray
) -> np.ndarray:
    """Cumulative current crossing each barrier segment.

    A current crossing a footprint ``w`` cells wide passes ``w`` cells in series, each carrying it,
    so the flux across the segment is the sum of node current over the footprint divided by its
    mean width in cells (footprint cells / centre-line cells).

    Parameters
    ----------
    current : numpy.ndarray
        Node-current raster (``currents/{guild}_current.tif``); NaN / negative = none.
    segment_raster : numpy.ndarray
        Segment index + 1 of each cell (0 = none), as :class:`werkland.barriers.BarrierSegments`.
    centreline_cells : sequence of int
        Centre-line cells of each segment (``diff(line_ptr)``).

    Returns
    -------
    numpy.ndarray
        Current (A) per segment, 0 for a segment without footprint.
    """
    cur = np.where(np.isfinite(current) & (current > 0), current, 0.0)
    seg = np.asarray(segment_raster)
    if seg.shape != cur.shape:
        raise ValueError(f"segment raster shape {seg.shape} != current shape {cur.shape}")
    n = len(centreline_cells)
    on = seg > 0
    sums = np.bincount(seg[on] - 1, weights=cur[on], minlength=n)[:n]
    cells = np.bincount(seg[on] - 1, minlength=n)[:n]
    centre = np.asarray(centreline_cells, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sums * np.maximum(centre, 1.0) / cells
    return np.where(cells > 0, out, 0.0)
