"""Movement resistance of each cell for a guild (>= 1 per metre crossed; impassable = ``inf``)."""

from __future__ import annotations

import numpy as np

from werkland.habitat.suitability import RASTER_NODATA
from werkland.landcover import NODATA_CODE
from werkland.tables import Guild, Legend


def resistance(codes: np.ndarray, legend: Legend, guild: Guild) -> np.ndarray:
    """Resistance per metre of each cell (>= 1), ``inf`` where impassable or outside the region.

    Returns
    -------
    numpy.ndarray of float32
    """
    lut = legend.lut(guild.resistance, guild.default_resistance, where=f"guilds.{guild.name}.resistance")
    res = lut[codes].astype(np.float32)
    res[codes == NODATA_CODE] = np.inf
    return res


def resistance_as_written(res: np.ndarray) -> np.ndarray:
    """Resistance as written to ``resistance/{guild}.tif``: impassable (``inf``) as nodata (-1)."""
    return np.where(np.isfinite(res), res, np.float32(RASTER_NODATA)).astype(np.float32)


__all__ = ["resistance", "resistance_as_written"]
