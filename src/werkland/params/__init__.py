"""Typed stage parameters: frozen dataclasses built from the validated config.

Defaults live only in ``workflow/schemas/config.schema.yaml``: :func:`werkland.config.validate_config`
fills them in, and every ``from_config`` reads the filled config (a missing key is a bug, not a
default). Thread counts are passed explicitly. Rules hand :meth:`~werkland.params.base.StageParams.as_dict`
to their scripts, which rebuild the dataclass with ``from_dict``.

Public API: :class:`LandcoverParams` (:class:`LandcoverSource`, :class:`ParksParams`),
:class:`HabitatParams`, :class:`ConnectivityParams`, :class:`CurrentsParams`, :class:`BarrierParams`,
:class:`SpeciesParams`, :class:`ClimateParams`, :class:`InterventionParams`, :class:`ReportParams`,
:func:`barrier_guild_weights`, :func:`barrier_probe_owners`, :func:`reject_unknown`.
"""

from werkland.params.base import StageParams, closest, reject_unknown
from werkland.params.climate import ClimateParams, HydrologyInputs, Storm
from werkland.params.currents import CurrentsParams
from werkland.params.interventions import InterventionParams
from werkland.params.landcover import LandcoverParams, LandcoverSource, ParksParams
from werkland.params.landscape import (
    BarrierParams,
    ConnectivityParams,
    HabitatParams,
    barrier_guild_weights,
    barrier_probe_owners,
)
from werkland.params.report import ReportParams
from werkland.params.species import SpeciesParams
from werkland.params.species_evidence import Period, SpeciesEvidenceParams

__all__ = [
    "BarrierParams",
    "ClimateParams",
    "ConnectivityParams",
    "CurrentsParams",
    "HabitatParams",
    "HydrologyInputs",
    "InterventionParams",
    "LandcoverParams",
    "LandcoverSource",
    "ParksParams",
    "Period",
    "ReportParams",
    "SpeciesEvidenceParams",
    "SpeciesParams",
    "StageParams",
    "Storm",
    "barrier_guild_weights",
    "barrier_probe_owners",
    "closest",
    "reject_unknown",
]
