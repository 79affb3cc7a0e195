"""Parameters of the report stage (``report:`` plus what the report shows of the other sections)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland.params.base import StageParams, _plain
from werkland.params.climate import Storm


@dataclass(frozen=True)
class ReportParams(StageParams):
    """What the region report and its QGIS styles read from the validated config.

    Attributes
    ----------
    language : str
        Report language, ``en`` or ``nl`` (``report.language``).
    guilds : tuple of str
        The analysed guilds, in configured order (``guilds``).
    convention : str
        Dispersal-kernel convention (``connectivity.convention``): the kernel table's fallback
        for a guild without ``graph/{guild}_summary.json`` uses it (:meth:`werkland.tables.Guild.kernel`).
    corridor_width_cost : float or None
        Corridor truncation of the corridor style (``connectivity.corridor_width_cost``; None: the
        width each guild's summary records).
    storms : tuple of Storm
        Design storms (name and rain depth in mm), in configured order (``climate.storms``).
    budget_eur : float
        The budget line of the budget plot (``interventions.budget_eur``).
    catalogue : str
        Intervention catalogue whose measure types the candidate style lists
        (``interventions.catalogue``).
    config_as_run : dict
        The whole validated configuration, printed in the methods section.
    """

    language: str
    guilds: tuple[str, ...]
    convention: str
    corridor_width_cost: float | None
    storms: tuple[Storm, ...]
    budget_eur: float
    catalogue: str
    config_as_run: dict[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ReportParams:
        """From the validated config (schema defaults filled)."""
        width = config["connectivity"]["corridor_width_cost"]
        return cls(
            language=str(config["report"]["language"]),
            guilds=tuple(str(g) for g in config["guilds"]),
            convention=str(config["connectivity"]["convention"]),
            corridor_width_cost=None if width is None else float(width),
            storms=tuple(Storm(str(s["name"]), float(s["depth_mm"])) for s in config["climate"]["storms"]),
            budget_eur=float(config["interventions"]["budget_eur"]),
            catalogue=str(config["interventions"]["catalogue"]),
            config_as_run=_plain(config),
        )

    @property
    def storm_names(self) -> list[str]:
        """Design-storm names in configured order."""
        return [s.name for s in self.storms]
