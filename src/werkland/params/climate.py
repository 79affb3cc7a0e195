"""Parameters of the climate stage (``climate:`` in the config): urban cooling and design-storm runoff."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkland._errors import WerklandInputError
from werkland.config import deep_merge, schema_defaults
from werkland.params.base import StageParams, reject_unknown

__all__ = ["SOIL_GROUPS", "ClimateParams", "Storm", "finite_number"]

#: Hydrologic soil groups of the SCS curve-number method (column order of the legend's curve numbers).
SOIL_GROUPS: tuple[str, ...] = ("A", "B", "C", "D")

#: Cooling-capacity factors, in the order their weights are summed.
CC_FACTORS: tuple[str, ...] = ("shade", "albedo", "eti")

# Storm names become parts of file and column names.
_STORM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _where(key: str) -> str:
    return f"config: climate.{key}"


def finite_number(val: Any, where: str, *, lo: float | None = None, strict: bool = False) -> float:
    """``val`` as a finite float (>= ``lo``, or > ``lo`` when ``strict``).

    Raises
    ------
    WerklandInputError
        ``val`` is not a number (a bool is not), not finite or below the bound, naming ``where``.
    """
    try:
        x = float(val)
    except (TypeError, ValueError):
        x = math.nan
    if (
        isinstance(val, bool)
        or not math.isfinite(x)
        or (lo is not None and (x < lo or (strict and x == lo)))
    ):
        bound = "" if lo is None else (f" > {lo}" if strict else f" >= {lo}")
        raise WerklandInputError(f"{val!r} is not a finite number{bound}", path=where)
    return x


@dataclass(frozen=True)
class Storm:
    """A design storm.

    Attributes
    ----------
    name : str
        Used in file and column names (``climate/runoff_<name>.tif``, ``runoff_<name>_m3``).
    depth_mm : float
        Event rainfall depth, mm (>= 0).
    """

    name: str
    depth_mm: float


@dataclass(frozen=True)
class ClimateParams(StageParams):
    """Heat mitigation (InVEST Urban Cooling) and design-storm runoff (SCS curve number).

    Every field is the key of the same name in the config's ``climate`` section (its description,
    unit and default are in the schema), except ``lambda_``, which is the key ``lambda`` (a Python
    keyword). The values are checked on construction.

    Attributes
    ----------
    soil_group : str
        Hydrologic soil group of the region, ``A``..``D``.
    natural_setting : str
        Natural reference land cover (a key of the legend's ``natural_reference``).
    lambda_ : float
        SCS initial-abstraction ratio, 0 <= lambda < 1.
    storms : tuple of Storm
        Design storms (unique names).
    storage_norm_mm : float
        Storage norm on sealed surface, mm.
    cooling_distance_m : float
        InVEST d_cool, m (> 0).
    cc_weights : dict of str to float
        Cooling-capacity weights of ``shade``, ``albedo``, ``eti`` as configured
        (:attr:`weights` renormalises them to sum 1).
    green_area_min_m2 : float
        Green area within d_cool that switches the park cooling on, m².
    t_ref_degC, uhi_max_degC : float or None
        Rural reference air temperature and urban-heat-island magnitude, °C (both None = no air
        temperature).
    t_air_radius_m : float
        Air-mixing distance, m (> 0).
    hm_threshold : float
        HM below which a cell counts as hot.
    cool_spot_min_area_m2 : float
        Minimum cool-spot area, m².
    cool_spot_hm : float
        Minimum HM of a cool-spot cell.
    cool_spot_distance_m : float
        Walking distance from a building to a cool spot, m (> 0).
    building_class : str
        Legend class whose polygons (or cells) are the buildings.
    """

    soil_group: str
    natural_setting: str
    lambda_: float
    storms: tuple[Storm, ...]
    storage_norm_mm: float
    cooling_distance_m: float
    cc_weights: dict[str, float]
    green_area_min_m2: float
    t_ref_degC: float | None
    uhi_max_degC: float | None
    t_air_radius_m: float
    hm_threshold: float
    cool_spot_min_area_m2: float
    cool_spot_hm: float
    cool_spot_distance_m: float
    building_class: str

    def __post_init__(self) -> None:
        """Check every value; numbers become floats (so ``100`` and ``100.0`` give equal params)."""
        if self.soil_group not in SOIL_GROUPS:
            raise WerklandInputError(
                f"soil group {self.soil_group!r}", path=_where("soil_group"), fix="use A, B, C or D"
            )
        for key in ("natural_setting", "building_class"):
            if not isinstance(getattr(self, key), str):
                raise WerklandInputError(f"{getattr(self, key)!r} is not a string", path=_where(key))
        lam = finite_number(self.lambda_, _where("lambda"), lo=0.0)
        if lam >= 1.0:
            raise WerklandInputError(f"{lam} is not in [0, 1)", path=_where("lambda"), fix="TR-55 uses 0.2")
        self._set("lambda_", lam)
        self._check_storms()
        self._check_weights()
        for key in ("cooling_distance_m", "t_air_radius_m", "cool_spot_distance_m"):
            self._set(key, finite_number(getattr(self, key), _where(key), lo=0.0, strict=True))
        for key in ("green_area_min_m2", "cool_spot_min_area_m2", "storage_norm_mm"):
            self._set(key, finite_number(getattr(self, key), _where(key), lo=0.0))
        for key in ("hm_threshold", "cool_spot_hm"):
            self._set(key, finite_number(getattr(self, key), _where(key)))
        if (self.t_ref_degC is None) != (self.uhi_max_degC is None):
            raise WerklandInputError(
                "give both t_ref_degC and uhi_max_degC for air temperature, or neither",
                path=_where("t_ref_degC"),
            )
        if self.t_ref_degC is not None:
            self._set("t_ref_degC", finite_number(self.t_ref_degC, _where("t_ref_degC")))
            self._set("uhi_max_degC", finite_number(self.uhi_max_degC, _where("uhi_max_degC"), lo=0.0))

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)  # normalising a frozen dataclass during construction

    def _check_storms(self) -> None:
        where = _where("storms")
        if not isinstance(self.storms, tuple) or not self.storms:
            raise WerklandInputError("storms must be a non-empty list of {name, depth_mm}", path=where)
        seen: set[str] = set()
        storms = []
        for s in self.storms:
            if not isinstance(s, Storm):
                raise WerklandInputError(f"storm {s!r} is not a Storm(name, depth_mm)", path=where)
            if not isinstance(s.name, str) or not _STORM_NAME.match(s.name):
                raise WerklandInputError(
                    f"storm name {s.name!r} is not usable in file and column names",
                    path=where,
                    fix="use letters, digits, _ . -",
                )
            if s.name in seen:
                raise WerklandInputError(f"storm name {s.name!r} is used twice", path=where)
            seen.add(s.name)
            storms.append(Storm(s.name, finite_number(s.depth_mm, f"{where}: {s.name}: depth_mm", lo=0.0)))
        self._set("storms", tuple(storms))

    def _check_weights(self) -> None:
        where = _where("cc_weights")
        w = self.cc_weights
        if not isinstance(w, Mapping) or set(w) != set(CC_FACTORS):
            raise WerklandInputError(
                f"cc_weights {w!r} must map shade, albedo and eti to weights", path=where
            )
        weights = {k: finite_number(w[k], f"{where}.{k}", lo=0.0) for k in CC_FACTORS}
        if sum(weights.values()) <= 0:
            raise WerklandInputError("cc_weights sum to 0", path=where, fix="give at least one positive weight")
        self._set("cc_weights", weights)

    # ---------------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClimateParams:
        """From the validated config (schema defaults filled).

        Raises
        ------
        WerklandInputError
            An unknown key of the ``climate`` section (naming the closest valid one), a missing key
            (the config was not validated) or an invalid value.
        """
        section = config["climate"]
        keys = cls.config_keys()
        reject_unknown(section, keys, where="config: climate")
        missing = [k for k in keys if k not in section]
        if missing:
            raise WerklandInputError(
                f"config: climate: missing {', '.join(missing)}",
                path="config",
                fix="validate the config first (werkland.config.validate_config fills the schema defaults)",
            )
        return cls._from_complete(section)

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> ClimateParams:
        """From a ``climate`` section, complete or partial (config key names: ``lambda``, storms as
        mappings), completed with the schema defaults (:func:`werkland.config.schema_defaults`).

        Missing keys take the schema default, as :func:`werkland.config.validate_config` fills them:
        ``from_section({"cooling_distance_m": 30.0})`` equals :meth:`from_config` of a config whose
        ``climate`` section is just that; a partial ``cc_weights`` is completed per factor.

        Raises
        ------
        WerklandInputError
            An unknown key (naming the closest valid one) or an invalid value.
        """
        reject_unknown(section, cls.config_keys(), where="config: climate")
        return cls._from_complete(deep_merge(schema_defaults("climate"), section))

    @classmethod
    def _from_complete(cls, section: Mapping[str, Any]) -> ClimateParams:
        values: dict[str, Any] = {_field(k): section[k] for k in cls.config_keys()}
        values["storms"] = _storms(section["storms"])
        return cls(**values)

    @classmethod
    def config_keys(cls) -> list[str]:
        """The keys of the config's ``climate`` section, in field order."""
        return [_key(f.name) for f in dataclasses.fields(cls)]

    def as_section(self) -> dict[str, Any]:
        """The config-section form (key ``lambda``, storms as ``{name, depth_mm}`` dicts)."""
        return {_key(k): v for k, v in self.as_dict().items()}

    @property
    def weights(self) -> dict[str, float]:
        """The cooling-capacity weights renormalised to sum 1."""
        ws = {k: float(self.cc_weights[k]) for k in CC_FACTORS}
        total = sum(ws.values())
        return {k: v / total for k, v in ws.items()}

    @property
    def storm_names(self) -> list[str]:
        """Names of the design storms, in config order."""
        return [s.name for s in self.storms]

    @property
    def air_temperature(self) -> bool:
        """True when the air temperature is modelled (``t_ref_degC`` and ``uhi_max_degC`` given)."""
        return self.t_ref_degC is not None


def _field(key: str) -> str:
    return "lambda_" if key == "lambda" else key


def _key(field: str) -> str:
    return "lambda" if field == "lambda_" else field


def _storms(storms: Any) -> Any:
    """Storm mappings (or Storm objects) as a tuple of :class:`Storm`; other values are left for the check."""
    where = _where("storms")
    if not isinstance(storms, Sequence) or isinstance(storms, str):
        return storms
    out: list[Storm] = []
    for s in storms:
        if isinstance(s, Storm):
            out.append(s)
            continue
        if not isinstance(s, Mapping) or "name" not in s or "depth_mm" not in s:
            raise WerklandInputError(f"storm {s!r} needs 'name' and 'depth_mm'", path=where)
        reject_unknown(s, ("name", "depth_mm"), where=where)
        name = str(s["name"])
        out.append(Storm(name=name, depth_mm=finite_number(s["depth_mm"], f"{where}: {name}: depth_mm", lo=0.0)))
    return tuple(out)
