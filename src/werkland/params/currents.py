"""Parameters of the currents stage (circuit theory, one guild at a time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland.params.base import StageParams
from werkland.params.landscape import ConnectivityParams
from werkland.tables import Guild

__all__ = ["CurrentsParams"]


@dataclass(frozen=True)
class CurrentsParams(StageParams):
    """Currents stage for one guild (``currents:`` plus the guild's corridor width).

    Attributes
    ----------
    guild : str
        Guild id.
    enabled : bool
        Whether the stage runs (rules are included only then).
    connect_four_neighbors : bool
        4 instead of 8 neighbours.
    avg_conductance : bool
        Edge conductance = mean conductance (True) or 1 / mean resistance (False).
    solver : str
        ``auto``, ``direct`` or ``cg+amg``.
    tolerance : float
        Relative residual of ``cg+amg``.
    max_iterations : int
        CG iteration cap.
    omniscape : bool
        Compute the moving-window maps.
    radius_m : float
        Omniscape window radius, m.
    block_size : int
        Omniscape block side, cells.
    source_raster : str
        Optional raster of source strength ("" = habitat suitability).
    source_threshold : float
        Source strength below which a cell injects nothing.
    r_cutoff : float or None
        Resistance above which a cell injects nothing (None = no cut-off).
    corridor_width : float
        Pinch-point corridor truncation, cost-weighted m (the connectivity stage's corridor width).
    n_threads : int
        Worker processes of the Omniscape windows.
    """

    guild: str
    enabled: bool
    connect_four_neighbors: bool
    avg_conductance: bool
    solver: str
    tolerance: float
    max_iterations: int
    omniscape: bool
    radius_m: float
    block_size: int
    source_raster: str
    source_threshold: float
    r_cutoff: float | None
    corridor_width: float
    n_threads: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], guild: Guild, *, n_threads: int) -> CurrentsParams:
        """From the validated config (schema defaults filled) and the guild."""
        c = config["currents"]
        conn = ConnectivityParams.from_config(config, guild, n_threads=n_threads)
        cut = c["r_cutoff"]
        return cls(
            guild=guild.name,
            enabled=bool(c["enabled"]),
            connect_four_neighbors=bool(c["connect_four_neighbors"]),
            avg_conductance=bool(c["avg_conductance"]),
            solver=str(c["solver"]),
            tolerance=float(c["tolerance"]),
            max_iterations=int(c["max_iterations"]),
            omniscape=bool(c["omniscape"]),
            radius_m=float(c["radius_m"]),
            block_size=int(c["block_size"]),
            source_raster=str(c["source_raster"]),
            source_threshold=float(c["source_threshold"]),
            r_cutoff=None if cut is None else float(cut),
            corridor_width=float(conn.corridor_width),
            n_threads=int(n_threads),
        )
