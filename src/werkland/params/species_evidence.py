"""Parameters of the species evidence step (habitat validation and period comparison).

Read from the config's ``species`` section (keys ``periods``, ``periods_min_records``,
``boyce_window``, ``boyce_min_presences``, ``boyce_threshold``, ``bootstrap_replicates``,
``bootstrap_seed``; descriptions and defaults in the schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland._errors import WerklandInputError
from werkland.params.base import StageParams

__all__ = ["Period", "SpeciesEvidenceParams"]


@dataclass(frozen=True)
class Period:
    """A named range of years (both inclusive)."""

    name: str
    year_min: int
    year_max: int


@dataclass(frozen=True)
class SpeciesEvidenceParams(StageParams):
    """Boyce validation of the habitat maps and the comparison of two periods.

    Attributes
    ----------
    periods : tuple of Period
        Baseline and follow-up (empty: no comparison, ``periods.csv`` holds the header only).
    periods_min_records : int
        Fewer records in either period: verdict ``insufficient_data``.
    boyce_window : float
        Moving-window width as a fraction of the suitability range.
    boyce_min_presences : int
        Fewer presences: status ``too_few``.
    boyce_threshold : float
        Boyce index below this: status ``not_supported``.
    bootstrap_replicates : int
        Bootstrap replicates of both intervals (0 = none).
    bootstrap_seed : int
        Seed of the bootstrap random generators.
    """

    periods: tuple[Period, ...]
    periods_min_records: int
    boyce_window: float
    boyce_min_presences: int
    boyce_threshold: float
    bootstrap_replicates: int
    bootstrap_seed: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SpeciesEvidenceParams:
        """From the validated config (schema defaults filled).

        Raises
        ------
        WerklandInputError
            A period whose first year is after its last, or overlapping periods.
        """
        s = config["species"]
        raw = s["periods"] or {}
        periods = tuple(Period(str(k), int(v[0]), int(v[1])) for k, v in raw.items())
        for p in periods:
            if p.year_min > p.year_max:
                raise WerklandInputError(f"period {p.name!r} runs from {p.year_min} to {p.year_max}",
                                         path=f"config: species.periods.{p.name}",
                                         fix="give [first year, last year] with first <= last")
        if len(periods) == 2 and not (periods[0].year_max < periods[1].year_min
                                      or periods[1].year_max < periods[0].year_min):
            raise WerklandInputError("the two periods overlap (a record would count in both)",
                                     path="config: species.periods",
                                     fix="make the baseline end before the follow-up starts")
        return cls(
            periods=periods,
            periods_min_records=int(s["periods_min_records"]),
            boyce_window=float(s["boyce_window"]),
            boyce_min_presences=int(s["boyce_min_presences"]),
            boyce_threshold=float(s["boyce_threshold"]),
            bootstrap_replicates=int(s["bootstrap_replicates"]),
            bootstrap_seed=int(s["bootstrap_seed"]),
        )
