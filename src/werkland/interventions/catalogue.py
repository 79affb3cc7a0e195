"""The intervention catalogue (``config/interventions.yaml``): measures, their effect and their cost.

Every key of the catalogue is checked: an unknown key in a row, its ``effect`` or its generator's
``params`` is an error naming the key and the closest valid one, so a misspelt setting never silently
falls back to a default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from werkland._errors import WerklandInputError
from werkland.params import reject_unknown
from werkland.tables import Guild, Legend

#: Candidate generators (how candidates are found in the data) and the keys of their ``params``.
GENERATOR_PARAMS: dict[str, tuple[str, ...]] = {
    "polygons": (),
    "facade": ("height_m", "coverage"),
    "components": (),
    "street_edge": ("road_classes", "max_length_m"),
    "near_water": ("water_classes", "near_m", "max_per_park", "min_spacing_m"),
    "link": ("max_length_m",),
    "stepping_stone": ("area_m2", "max_length_m"),
    "barrier": ("radius_m", "max_segments"),
    "none": (),
}
#: Generator types, in catalogue-documentation order.
GENERATOR_TYPES: tuple[str, ...] = tuple(GENERATOR_PARAMS)
SIZE_UNITS = ("m2", "m", "item")
#: Biophysical values an effect may override.
BIOPHYSICAL_KEYS = ("shade", "albedo", "kc", "green_area", "cn", "storage_mm", "sealed")
#: Keys of a catalogue row and of its ``effect``.
ROW_KEYS = (
    "label", "generator", "applies_to", "min_size", "max_size", "share", "cells", "params", "effect",
    "size_unit", "unit_cost", "cost_source", "exclusive", "infiltrating", "bottom_m", "retention_variant",
)
EFFECT_KEYS = ("class", "biophysical", "suitability", "resistance")
#: Suitability/resistance value that leaves a guild's raster as it is.
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class InterventionType:
    """One measure of the catalogue (see the header of ``config/interventions.yaml``).

    Attributes
    ----------
    name, label : str
        Id and readable name.
    generator : str
        One of :data:`GENERATOR_TYPES`.
    applies_to : tuple of str
        Land-cover classes the measure may change.
    min_size, max_size : float or None
        Size bounds in ``size_unit`` (max_size only for the components generator).
    share : float
        Share of a source polygon converted (polygons generator).
    cells : int or None
        Fixed number of cells instead of a share.
    params : dict
        Generator settings.
    new_class : str or None
        Class the cells become; None = class unchanged.
    biophysical : dict
        Overrides of biophysical values (``cn`` as ``{A, B, C, D}``).
    suitability, resistance : dict
        Guild -> value or :data:`UNCHANGED` (resistance ``inf`` = impassable).
    size_unit : str
        ``m2``, ``m`` or ``item``.
    unit_cost : float
        EUR per size unit.
    cost_source : str
        Source or "estimate".
    exclusive : str or None
        Key of mutually exclusive types on one source feature.
    infiltrating : bool
        The measure infiltrates rain into the soil: it is sited only where the soil infiltrates and
        the groundwater (GHG) stays ``interventions.groundwater_clearance_m`` below its bottom.
    bottom_m : float or None
        Depth of an infiltrating measure's bottom below the surface, m.
    retention_variant : str or None
        Type proposed instead of an infiltrating one where infiltration is not allowed (a
        non-infiltrating retention measure); None = nothing is proposed there.
    """

    name: str
    label: str
    generator: str
    applies_to: tuple[str, ...]
    min_size: float
    max_size: float | None
    share: float
    cells: int | None
    params: dict[str, Any]
    new_class: str | None
    biophysical: dict[str, Any]
    suitability: dict[str, Any]
    resistance: dict[str, Any]
    size_unit: str
    unit_cost: float
    cost_source: str
    exclusive: str | None
    infiltrating: bool = False
    bottom_m: float | None = None
    retention_variant: str | None = None


@dataclass(frozen=True)
class Catalogue:
    """The validated intervention catalogue.

    Attributes
    ----------
    types : dict of str to InterventionType
        In file order.
    path : str
        Source file (named in errors).
    """

    types: dict[str, InterventionType]
    path: str

    def get(self, name: str, *, where: str | None = None) -> InterventionType:
        """The type called ``name``; a clear error naming the known types otherwise."""
        if name not in self.types:
            raise WerklandInputError(
                f"unknown intervention type {name!r}", path=where or self.path,
                fix=f"use one of: {', '.join(self.types)} (or add it to {self.path})",
            )
        return self.types[name]


def check_number(
    val: Any, where: str, *, lo: float | None = None, hi: float | None = None, strict: bool = False
) -> float:
    """``val`` as a finite float within ``lo`` (exclusive when ``strict``) and ``hi``.

    Raises
    ------
    WerklandInputError
        Naming ``where`` and the allowed range.
    """
    try:
        x = float(val)
    except (TypeError, ValueError):
        x = math.nan
    bad = isinstance(val, bool) or not math.isfinite(x)
    if not bad and lo is not None:
        bad = x < lo or (strict and x == lo)
    if not bad and hi is not None:
        bad = x > hi
    if bad:
        rng = []
        if lo is not None:
            rng.append(f"{'>' if strict else '>='} {lo:g}")
        if hi is not None:
            rng.append(f"<= {hi:g}")
        raise WerklandInputError(f"{val!r} is not a finite number {' and '.join(rng)}".rstrip(), path=where)
    return x


def load_catalogue(path: str | os.PathLike[str], legend: Legend, guilds: Mapping[str, Guild]) -> Catalogue:
    """Load and validate ``config/interventions.yaml``.

    Parameters
    ----------
    path : path-like
        Catalogue YAML (top-level ``types:`` mapping).
    legend : werkland.tables.Legend
        Land-cover legend (class names are checked against it).
    guilds : mapping of str to werkland.tables.Guild
        Guild table (guild names in effects are checked; a new class may not be an edge class of a
        guild, because the edge band is precomputed).

    Returns
    -------
    Catalogue

    Raises
    ------
    WerklandInputError
        Unknown key, generator, class, guild or size unit; negative cost; values out of range.
    """
    p = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise WerklandInputError("catalogue not found", path=p, fix="check interventions.catalogue in the config") from exc
    except yaml.YAMLError as exc:
        raise WerklandInputError(f"not valid YAML ({exc})", path=p) from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("types"), Mapping) or not doc["types"]:
        raise WerklandInputError("needs a non-empty mapping 'types'", path=p, fix="see config/interventions.yaml")
    reject_unknown(doc, ("types",), where="(top level)", path=p)
    edge_classes = {c for g in guilds.values() for c in g.edge_classes}
    types = {str(name): _load_type(str(name), row, p, legend, guilds, edge_classes)
             for name, row in doc["types"].items()}
    _check_variants(types, p)
    return Catalogue(types, p)


def _check_variants(types: Mapping[str, InterventionType], p: str) -> None:
    """Every ``retention_variant`` names a non-infiltrating type priced in the same unit."""
    for t in types.values():
        v = t.retention_variant
        if v is None:
            continue
        w = f"{p}: types.{t.name}.retention_variant"
        if v not in types:
            raise WerklandInputError(f"unknown type {v!r}", path=w, fix=f"use one of: {', '.join(types)}")
        if types[v].infiltrating:
            raise WerklandInputError(f"retention variant {v!r} is itself infiltrating", path=w,
                                     fix="name a non-infiltrating (retention) type")
        if types[v].size_unit != t.size_unit:
            raise WerklandInputError(
                f"retention variant {v!r} is priced per {types[v].size_unit}, {t.name} per {t.size_unit}", path=w,
                fix="use a variant with the same size_unit")


def _load_type(
    name: str, t: Any, p: str, legend: Legend, guilds: Mapping[str, Guild], edge_classes: set[str]
) -> InterventionType:
    """One validated row ``types.<name>`` of the catalogue file ``p``."""
    w = f"{p}: types.{name}"
    if not isinstance(t, Mapping):
        raise WerklandInputError("must be a mapping", path=w)
    reject_unknown(t, ROW_KEYS, where=f"types.{name}", path=p)
    known = set(legend.names)
    gen = t.get("generator", "none")
    if gen not in GENERATOR_TYPES:
        raise WerklandInputError(f"unknown generator {gen!r}", path=f"{w}.generator",
                                 fix=f"use one of {', '.join(GENERATOR_TYPES)}")
    params = t.get("params") or {}
    if not isinstance(params, Mapping):
        raise WerklandInputError("params must be a mapping", path=f"{w}.params")
    reject_unknown(params, GENERATOR_PARAMS[gen], where=f"types.{name}.params ({gen} generator)", path=p)
    applies = tuple(t.get("applies_to") or ())
    for c in applies:
        if c not in known:
            raise WerklandInputError(f"unknown class {c!r} in applies_to", path=f"{w}.applies_to",
                                     fix=f"use classes of {legend.path}")
    if not applies:
        raise WerklandInputError("applies_to is empty", path=w, fix="list the land-cover classes the measure may change")
    eff = t.get("effect") or {}
    if not isinstance(eff, Mapping):
        raise WerklandInputError("effect must be a mapping", path=f"{w}.effect")
    reject_unknown(eff, EFFECT_KEYS, where=f"types.{name}.effect", path=p)
    new_class = eff.get("class")
    if new_class is not None:
        if new_class not in known:
            raise WerklandInputError(f"unknown effect class {new_class!r}", path=f"{w}.effect.class",
                                     fix=f"use a class of {legend.path}: {', '.join(legend.names)}")
        if new_class in edge_classes:
            raise WerklandInputError(f"effect class {new_class!r} is an edge class of a guild", path=f"{w}.effect.class",
                                     fix="interventions may not create disturbing (edge) classes")
    bio = _biophysical(eff.get("biophysical") or {}, w)
    if bio and new_class is None:
        raise WerklandInputError("biophysical overrides need an effect class", path=f"{w}.effect",
                                 fix="set effect.class (the class whose values are overridden)")
    suit, res = _guild_effects(eff, w, guilds)
    if new_class is None and not suit and not res:
        raise WerklandInputError("effect changes nothing", path=f"{w}.effect",
                                 fix="give a class, suitability or resistance")
    unit = t.get("size_unit")
    if unit not in SIZE_UNITS:
        raise WerklandInputError(f"size_unit {unit!r}", path=f"{w}.size_unit", fix=f"use one of {', '.join(SIZE_UNITS)}")
    cost: Any = t.get("unit_cost")
    try:
        cost_f = float(cost)
    except (TypeError, ValueError):
        cost_f = math.nan
    if not math.isfinite(cost_f) or cost_f < 0:
        raise WerklandInputError(f"unit_cost {cost!r} must be a number >= 0 EUR per {unit}", path=f"{w}.unit_cost")
    share = check_number(t.get("share", 1.0), f"{w}.share", lo=0, hi=1, strict=True)
    cells = t.get("cells")
    if cells is not None and (not isinstance(cells, int) or cells < 1):
        raise WerklandInputError(f"cells {cells!r} must be a positive integer", path=f"{w}.cells")
    max_size = t.get("max_size")
    infiltrating, bottom_m, variant = _infiltration(t, w)
    return InterventionType(
        name=name,
        label=str(t.get("label", name)),
        generator=gen,
        applies_to=applies,
        min_size=check_number(t.get("min_size", 0), f"{w}.min_size", lo=0),
        max_size=None if max_size is None else check_number(max_size, f"{w}.max_size", lo=0, strict=True),
        share=share,
        cells=cells,
        params=dict(params),
        new_class=new_class,
        biophysical=bio,
        suitability=suit,
        resistance=res,
        size_unit=unit,
        unit_cost=cost_f,
        cost_source=str(t.get("cost_source", "estimate")),
        exclusive=None if t.get("exclusive") is None else str(t["exclusive"]),
        infiltrating=infiltrating,
        bottom_m=bottom_m,
        retention_variant=variant,
    )


def _infiltration(t: Mapping[str, Any], w: str) -> tuple[bool, float | None, str | None]:
    """Validated ``infiltrating``, ``bottom_m`` and ``retention_variant`` of a row."""
    infiltrating = t.get("infiltrating", False)
    if not isinstance(infiltrating, bool):
        raise WerklandInputError(f"infiltrating {infiltrating!r} must be true or false", path=f"{w}.infiltrating")
    bottom = t.get("bottom_m")
    variant = t.get("retention_variant")
    if not infiltrating:
        for key, val in (("bottom_m", bottom), ("retention_variant", variant)):
            if val is not None:
                raise WerklandInputError(f"{key} is only used by infiltrating measures", path=f"{w}.{key}",
                                         fix="set infiltrating: true or remove the key")
        return False, None, None
    if bottom is None:
        raise WerklandInputError("an infiltrating measure needs bottom_m", path=w,
                                 fix="give the depth of its bottom below the surface in m (bottom_m)")
    return True, check_number(bottom, f"{w}.bottom_m", lo=0), None if variant is None else str(variant)


def _biophysical(raw: Mapping[str, Any], w: str) -> dict[str, Any]:
    """Validated biophysical overrides (``cn`` expanded to ``{A, B, C, D}``)."""
    bio = dict(raw)
    for k, v in bio.items():
        if k not in BIOPHYSICAL_KEYS:
            raise WerklandInputError(f"unknown biophysical key {k!r}", path=f"{w}.effect.biophysical",
                                     fix=f"use {', '.join(BIOPHYSICAL_KEYS)}")
        if k == "cn":
            vals = v if isinstance(v, Mapping) else {g: v for g in "ABCD"}
            bio[k] = {g: check_number(vals.get(g), f"{w}.effect.biophysical.cn.{g}", lo=0, hi=100) for g in "ABCD"}
        elif k == "storage_mm":
            bio[k] = check_number(v, f"{w}.effect.biophysical.{k}", lo=0)
        elif k == "kc":
            bio[k] = check_number(v, f"{w}.effect.biophysical.{k}", lo=0, hi=2)
        else:
            bio[k] = check_number(v, f"{w}.effect.biophysical.{k}", lo=0, hi=1)
    return bio


def _guild_effects(eff: Mapping[str, Any], w: str, guilds: Mapping[str, Guild]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated per-guild suitability and resistance of an effect."""
    suit: dict[str, Any] = {}
    for gname, v in (eff.get("suitability") or {}).items():
        if gname not in guilds:
            raise WerklandInputError(f"unknown guild {gname!r}", path=f"{w}.effect.suitability", fix=f"use {', '.join(guilds)}")
        suit[gname] = UNCHANGED if v == UNCHANGED else check_number(v, f"{w}.effect.suitability.{gname}", lo=0, hi=1)
    res: dict[str, Any] = {}
    for gname, v in (eff.get("resistance") or {}).items():
        if gname not in guilds:
            raise WerklandInputError(f"unknown guild {gname!r}", path=f"{w}.effect.resistance", fix=f"use {', '.join(guilds)}")
        if v == UNCHANGED:
            res[gname] = UNCHANGED
        elif v == "impassable":
            res[gname] = math.inf
        else:
            res[gname] = check_number(v, f"{w}.effect.resistance.{gname}", lo=1)
    return suit, res
