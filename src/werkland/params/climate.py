"""Parameters of the climate stage (``climate:`` in the config): urban cooling and design-storm runoff."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import werkland
from werkland._errors import WerklandInputError
from werkland.config import SCHEMA_RELPATH, deep_merge, schema_defaults
from werkland.params.base import StageParams, reject_unknown

__all__ = [
    "SOIL_GROUPS",
    "ClimateParams",
    "ElevationInput",
    "GroundwaterInput",
    "HydrologyInputs",
    "SoilInput",
    "SoilJoin",
    "Storm",
    "finite_number",
]

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
    shallow_groundwater_m : float
        Cells whose mean highest groundwater level (GHG) lies less than this many metres below the
        surface count as soil group D (> 0).
    elevation_range_m : tuple of float
        Plausible elevations (lowest, highest) of a DTM in metres; values outside stop the run
        (a DTM in centimetres).
    elevation_fill_m : float
        Gaps of a DTM (buildings, water) up to this many metres from data are filled by inverse
        distance weighting; farther region cells without elevation stop the run.
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
    shallow_groundwater_m: float
    elevation_range_m: tuple[float, float]
    elevation_fill_m: float

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
        self._set(
            "shallow_groundwater_m",
            finite_number(self.shallow_groundwater_m, _where("shallow_groundwater_m"), lo=0.0, strict=True),
        )
        self._set("elevation_fill_m", finite_number(self.elevation_fill_m, _where("elevation_fill_m"), lo=0.0))
        rng = self.elevation_range_m
        if not isinstance(rng, (list, tuple)) or len(rng) != 2:
            raise WerklandInputError(
                f"{rng!r} is not [lowest, highest]", path=_where("elevation_range_m")
            )
        lo, hi = (finite_number(v, _where("elevation_range_m")) for v in rng)
        if lo >= hi:
            raise WerklandInputError(
                f"lowest {lo} is not below highest {hi}", path=_where("elevation_range_m")
            )
        self._set("elevation_range_m", (lo, hi))

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


# --------------------------------------------------------------------------------------------------
# per-region soil, groundwater and elevation inputs (regions.<id> or region_defaults)
# --------------------------------------------------------------------------------------------------

#: Region keys of the hydrology inputs and their ``$defs`` entry in the config schema.
_INPUT_DEFS = {"soil": "soil_input", "groundwater": "groundwater_input", "elevation": "elevation_input"}

#: Length units of elevation and groundwater-depth rasters -> metres.
LENGTH_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def _input_defaults(key: str) -> dict[str, Any]:
    """Schema defaults of one hydrology input (``$defs/<key>_input``), read once."""
    return dict(_schema_input_defaults()[key])


@functools.cache
def _schema_input_defaults() -> dict[str, dict[str, Any]]:
    path = Path(werkland.__file__).resolve().parents[2] / SCHEMA_RELPATH
    with open(path, encoding="utf-8") as fh:
        defs = (yaml.safe_load(fh) or {}).get("$defs", {})
    return {
        k: {p: spec["default"] for p, spec in defs[d].get("properties", {}).items() if "default" in spec}
        for k, d in _INPUT_DEFS.items()
    }


def _text(val: Any, where: str, *, required: bool) -> str | None:
    if val is None or val == "":
        if required:
            raise WerklandInputError("missing", path=where, fix="give the file path")
        return None
    if not isinstance(val, str):
        raise WerklandInputError(f"{val!r} is not a string", path=where)
    return val


def _units(val: Any, where: str) -> str:
    if val not in LENGTH_UNITS:
        raise WerklandInputError(f"units {val!r}", path=where, fix=f"use one of {', '.join(LENGTH_UNITS)}")
    return str(val)


@dataclass(frozen=True)
class SoilJoin:
    """A table of soil units joined to the soil polygons by a key (BRO Bodemkaart GeoPackage).

    The PDOK/BRO Bodemkaart GeoPackage keeps the unit codes out of the polygon layer ``soilarea``: the
    table ``soilarea_soilunit`` lists per ``maparea_id`` its units (``soilunit_code``), numbered by
    ``soilunit_sequencenumber`` (1 = the main unit of an area, more rows for associations).

    Attributes
    ----------
    table : str
        Table (layer without geometry, or any layer) of the same file holding the units
        (Bodemkaart: ``soilarea_soilunit``).
    key : str
        Key column present in both the polygon layer and the table (Bodemkaart: ``maparea_id``).
    field : str
        Column of the table with the soil unit (Bodemkaart: ``soilunit_code``).
    order : str or None
        Column of the table ranking several units of one key: the row with the lowest value is used
        (Bodemkaart: ``soilunit_sequencenumber``). None: a key with several different units stops
        the run.
    """

    table: str
    key: str
    field: str
    order: str | None = None


@dataclass(frozen=True)
class SoilInput:
    """A soil map: any vector layer with a soil-unit column, or a raster of soil-unit codes.

    Attributes
    ----------
    path : str
        Vector file (e.g. the BRO Bodemkaart 1:50,000 GeoPackage) or GDAL raster.
    class_field : str or None
        Vector: column holding the soil unit on the polygon layer. None for a raster, or with
        ``join`` (the unit is then ``join.field`` of the joined table).
    layer : str or None
        Vector layer of a multi-layer file (Bodemkaart: ``soilarea``).
    mapping : str or dict
        Path of a soil mapping YAML (``config/mappings/soil_bodemkaart.yaml``), or an inline mapping
        of soil unit -> texture family (``peat``, ``clay``, ``loam``, ``sand``) or null (no soil
        information), completed with the texture table of the shipped mapping.
    join : SoilJoin or None
        Vector: the units come from a table of the same file joined to the polygons by a key.
    """

    path: str
    class_field: str | None
    layer: str | None
    mapping: str | dict[str, Any]
    join: SoilJoin | None = None

    def __post_init__(self) -> None:
        if isinstance(self.join, Mapping):  # rebuilt from as_dict()
            object.__setattr__(self, "join", SoilJoin(**self.join))


@dataclass(frozen=True)
class GroundwaterInput:
    """Groundwater levels: a vector layer of groundwater level classes (Gt) or a GHG raster.

    Attributes
    ----------
    path : str
        Vector file with a Gt column (``field``), or a raster of the mean highest groundwater level
        (GHG) in ``units`` below the surface.
    field : str or None
        Vector: column holding the Gt class (I .. VIII and subclasses). None for a raster.
    layer : str or None
        Vector layer of a multi-layer file.
    units : str
        Units of the GHG raster: ``m``, ``cm`` or ``mm``.
    classes : str
        Gt class table (``config/mappings/groundwater_classes.yaml``).
    """

    path: str
    field: str | None
    layer: str | None
    units: str
    classes: str


@dataclass(frozen=True)
class ElevationInput:
    """A digital terrain model (GeoTIFF, e.g. AHN DTM 0.5 m or 5 m).

    Attributes
    ----------
    path : str
        The DTM; read one window per tile and averaged onto the region grid.
    units : str
        Units of its values: ``m``, ``cm`` or ``mm``.
    """

    path: str
    units: str


@dataclass(frozen=True)
class HydrologyInputs(StageParams):
    """The optional soil, groundwater and elevation inputs of one region.

    Attributes
    ----------
    soil, groundwater, elevation : SoilInput, GroundwaterInput, ElevationInput or None
        None: the input is absent (runoff uses ``climate.soil_group`` everywhere; no routing).
    """

    soil: SoilInput | None = None
    groundwater: GroundwaterInput | None = None
    elevation: ElevationInput | None = None

    @classmethod
    def from_region(cls, region: Mapping[str, Any], *, where: str = "config: regions") -> HydrologyInputs:
        """From a region's effective settings (:func:`werkland.config.region_settings`).

        Keys not given take the schema defaults of ``$defs/soil_input``, ``groundwater_input`` and
        ``elevation_input``.

        Raises
        ------
        WerklandInputError
            An unknown key (naming the closest), a missing path or field, bad units.
        """
        out: dict[str, Any] = {}
        for key in _INPUT_DEFS:
            spec = region.get(key)
            if spec is None:
                out[key] = None
                continue
            w = f"{where}.{key}"
            if not isinstance(spec, Mapping):
                raise WerklandInputError(f"{spec!r} is not a mapping", path=w)
            defaults = _input_defaults(key)
            fields = {f.name for f in dataclasses.fields(_INPUT_TYPES[key])}
            reject_unknown(spec, fields, where=w)
            s = {**defaults, **spec}
            out[key] = _build_input(key, s, w)
        return cls(**out)

    @property
    def any(self) -> bool:
        """True when at least one input is given."""
        return self.soil is not None or self.groundwater is not None or self.elevation is not None

    def files(self) -> list[str]:
        """Every input file (maps, rasters and the mapping tables they use), for rule inputs."""
        out: list[str] = []
        if self.soil is not None:
            out.append(self.soil.path)
            if isinstance(self.soil.mapping, str):
                out.append(self.soil.mapping)
        if self.groundwater is not None:
            out.append(self.groundwater.path)
            if self.groundwater.field is not None:
                out.append(self.groundwater.classes)
        if self.elevation is not None:
            out.append(self.elevation.path)
        return out


_INPUT_TYPES: dict[str, type] = {"soil": SoilInput, "groundwater": GroundwaterInput, "elevation": ElevationInput}


def _build_input(key: str, s: Mapping[str, Any], w: str) -> Any:
    path = _text(s.get("path"), f"{w}.path", required=True)
    if key == "soil":
        mapping = s.get("mapping")
        if not isinstance(mapping, (str, Mapping)) or not mapping:
            raise WerklandInputError(
                f"mapping {mapping!r}", path=f"{w}.mapping",
                fix="give the path of a soil mapping YAML or an inline mapping unit -> texture family",
            )
        join = _soil_join(s.get("join"), f"{w}.join")
        class_field = _text(s.get("class_field"), f"{w}.class_field", required=False)
        if join is not None and class_field not in (None, join.field):
            raise WerklandInputError(
                f"class_field {class_field!r} and join.field {join.field!r} both name the soil unit",
                path=f"{w}.class_field",
                fix="with a join the unit is join.field of the joined table: drop class_field",
            )
        return SoilInput(
            path=str(path),
            class_field=None if join is not None else class_field,
            layer=_text(s.get("layer"), f"{w}.layer", required=False),
            mapping=mapping if isinstance(mapping, str) else {str(k): v for k, v in mapping.items()},
            join=join,
        )
    if key == "groundwater":
        return GroundwaterInput(
            path=str(path),
            field=_text(s.get("field"), f"{w}.field", required=False),
            layer=_text(s.get("layer"), f"{w}.layer", required=False),
            units=_units(s.get("units"), f"{w}.units"),
            classes=str(_text(s.get("classes"), f"{w}.classes", required=True)),
        )
    return ElevationInput(path=str(path), units=_units(s.get("units"), f"{w}.units"))


def _soil_join(spec: Any, w: str) -> SoilJoin | None:
    """``soil.join`` of the config: ``{table, key, field, order}`` or None."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise WerklandInputError(f"{spec!r} is not a mapping", path=w,
                                 fix="give join: {table: <table>, key: <key column>, field: <unit column>}")
    if True in spec:  # YAML 1.1 reads an unquoted key `on` as true
        raise WerklandInputError("a key reads as true (YAML turns an unquoted 'on' into true)", path=w,
                                 fix="name the key column with key: <column>")
    reject_unknown(spec, [f.name for f in dataclasses.fields(SoilJoin)], where=w)
    fix = ("name the table and its columns, e.g. join: {table: soilarea_soilunit, key: maparea_id, "
           "field: soilunit_code, order: soilunit_sequencenumber} for the BRO Bodemkaart GeoPackage")
    vals = {}
    for key in ("table", "key", "field"):
        val = spec.get(key)
        if not isinstance(val, str) or not val:
            raise WerklandInputError(f"{key} {val!r}: missing or not a name", path=f"{w}.{key}", fix=fix)
        vals[key] = val
    return SoilJoin(**vals, order=_text(spec.get("order"), f"{w}.order", required=False))
