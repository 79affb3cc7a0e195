"""Parameters of the report stage (``report:`` plus what the report shows of the other sections)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkland.params.base import StageParams, _plain
from werkland.params.climate import HydrologyInputs, Storm
from werkland.params.species import species_table_inputs


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
    plans : dict of str to list of str
        Names of the intervention plans to compare, per region (``regions.<id>.plans``, else
        ``region_defaults.plans``: a list of names, or a mapping whose keys are the names); the
        region summary reads ``plans/{name}.csv`` of each.
    basemap : str
        Background map of the interactive map (``report.basemap``): ``none`` (offline, the
        default), ``brt`` (PDOK BRT-Achtergrondkaart) or ``aerial`` (PDOK aerial photo); both WMTS
        need internet.
    pdf : bool
        Write ``report/summary.pdf`` with headless Chromium (``report.pdf``: ``true``, ``false`` or
        ``auto`` = when a Chromium is found, :func:`werkland.report.export.find_chromium`).
    """

    language: str
    guilds: tuple[str, ...]
    convention: str
    corridor_width_cost: float | None
    storms: tuple[Storm, ...]
    budget_eur: float
    catalogue: str
    config_as_run: dict[str, Any]
    plans: dict[str, list[str]] = field(default_factory=dict)
    basemap: str = "none"
    pdf: bool = False

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
            plans=plan_names(config),
            basemap=str(config["report"].get("basemap") or "none"),
            pdf=_pdf_wanted(config["report"].get("pdf", "auto")),
        )

    @property
    def storm_names(self) -> list[str]:
        """Design-storm names in configured order."""
        return [s.name for s in self.storms]


def _names(value: Any) -> list[str]:
    """Plan names of a ``plans`` setting: a list of names (or of mappings with ``name``), or a mapping."""
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [str(v.get("name")) if isinstance(v, Mapping) else str(v) for v in value]
    return []


def plan_names(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Plan names per region: ``regions.<id>.plans``, else ``region_defaults.plans`` (empty: none)."""
    default = _names((config.get("region_defaults") or {}).get("plans"))
    out: dict[str, list[str]] = {}
    for rid, settings in (config.get("regions") or {}).items():
        own = (settings or {}).get("plans") if isinstance(settings, Mapping) else None
        names = _names(own) if own is not None else default
        if names:
            out[str(rid)] = names
    return out


def _pdf_wanted(setting: Any) -> bool:
    """``report.pdf``: true / false, or ``auto`` (the default) = a Chromium is installed."""
    if isinstance(setting, bool):
        return setting
    if str(setting).lower() in ("true", "yes", "on"):
        return True
    if str(setting).lower() in ("false", "no", "off", "none"):
        return False
    return find_chromium() is not None


#: Chromium executables looked for, in this order (Debian, Ubuntu snap / upstream, Google Chrome).
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The headless browser that prints ``summary.pdf``: ``$WERKLAND_CHROMIUM`` when set, else the
    first of :data:`CHROMIUM_NAMES` on ``PATH``, else ``/usr/bin/chromium`` if it exists; None when
    none is found."""
    env = os.environ.get("WERKLAND_CHROMIUM", "").strip()
    if env:
        return env if Path(env).is_file() or shutil.which(env) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def region_source_files(region: Mapping[str, Any], region_id: str, catalogue: str | None = None) -> list[str]:
    """The input files of a region whose SHA-256 the report's provenance lists.

    Land-cover sources, the soil, groundwater and elevation inputs with their mapping tables, the
    monitoring table with its preset, the user plans, and the intervention catalogue when it exists,
    in that order without repeats.

    Parameters
    ----------
    region : mapping
        The region's settings (:func:`werkland.config.region_settings`).
    region_id : str
        Region id (for error messages of the hydrology inputs).
    catalogue : str, optional
        ``interventions.catalogue``.
    """
    paths = [str(src["path"]) for src in region.get("land_cover") or []]
    paths += HydrologyInputs.from_region(region, where=f"config: regions.{region_id}").files()
    paths += species_table_inputs(region)
    paths += [str(p) for p in (region.get("plans") or {}).values()]
    if catalogue and os.path.exists(catalogue):
        paths.append(str(catalogue))
    return list(dict.fromkeys(paths))
