"""Mapping files: the object types / layers of a multi-layer source and their attribute values ->
legend classes (``config/mappings/bgt.yaml``, ``config/mappings/top10nl.yaml``; see
``config/mappings/README.md``).

:func:`load_mapping` validates a file into a :class:`MappingSpec` (every target a legend class);
:class:`ObjectFilters` says which objects form the current ground surface; the decision of a
feature (:func:`_resolve`, :func:`_classify`) follows its attribute values down the mapping, and a
value without a mapping is reported (naming the layer, the attribute, the value and the count)
only for features inside the region.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pyproj import CRS

from werkland._errors import WerklandInputError
from werkland.tables import Legend, load_yaml

#: NEN 3610 void reasons: a status with one of these values counts as absent.
VOID_REASONS = frozenset({"geenWaarde", "nietOndersteund", "waardeOnbekend", "vastgesteldOnbekend",
                          "nietGeautoriseerd"})
#: Mapping keys: any value not listed / an empty or absent value.
ANY_VALUE, EMPTY_VALUE = "*", ""
_TOP_KEYS = frozenset({"default_crs", "id_field", "keep_fields", "layer_prefixes", "layer_suffixes",
                       "filters", "layers", "templates", "description"})
_LAYER_KEYS = frozenset({"aliases", "width_m", "class"})


@dataclass(frozen=True)
class ObjectFilters:
    """Which objects form the current ground surface.

    Attributes
    ----------
    end_fields : tuple of str
        Fields that, when set, mark an object as ended (reason ``ended``).
    status_fields : tuple of str
        Status fields; a value that is neither empty nor in ``status_ok`` skips the object
        (reason ``status <value>``).
    status_ok : frozenset of str
        Accepted status values.
    level_field : str, optional
        Relative height level; objects not at ``level_value`` are skipped (reason ``level <n>``).
        An empty value counts as ``level_value``.
    level_value : int
        The ground level.
    """

    end_fields: tuple[str, ...] = ()
    status_fields: tuple[str, ...] = ()
    status_ok: frozenset[str] = frozenset()
    level_field: str | None = None
    level_value: int = 0

    @property
    def fields(self) -> tuple[str, ...]:
        """All fields the filters read."""
        return (*self.end_fields, *self.status_fields, *((self.level_field,) if self.level_field else ()))


@dataclass(frozen=True)
class Branch:
    """A decision on one attribute: value -> legend class, ``None`` (skip) or a further Branch."""

    field: str
    values: Mapping[str, Target]
    where: str = ""

    def fields(self) -> list[str]:
        """The attributes this decision and its sub-decisions read, in order."""
        out = [self.field]
        for t in self.values.values():
            if isinstance(t, Branch):
                out.extend(f for f in t.fields() if f not in out)
        return out


Target = str | Branch | None


class _Unmapped(NamedTuple):
    field: str
    value: str
    where: str


@dataclass(frozen=True)
class LayerRule:
    """The mapping of one object type / layer."""

    key: str
    names: frozenset[str]
    target: Target
    width_m: float | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The attributes the mapping reads."""
        return tuple(self.target.fields()) if isinstance(self.target, Branch) else ()


@dataclass(frozen=True)
class MappingSpec:
    """A validated mapping file (see ``config/mappings/README.md``)."""

    path: str
    rules: tuple[LayerRule, ...]
    skip_unlisted: bool = False
    default_crs: CRS | None = None
    id_field: str | None = None
    keep_fields: tuple[str, ...] = ()
    prefixes: frozenset[str] = frozenset()
    suffixes: frozenset[str] = frozenset()
    filters: ObjectFilters = ObjectFilters()

    def rule_for(self, layer: str) -> LayerRule | None:
        """The rule of a layer name (case, ``-``, ``_``, ``.``, prefixes and suffixes ignored)."""
        keys = _layer_keys(layer, self.prefixes, self.suffixes)
        return next((r for r in self.rules if r.names & keys), None)


@dataclass
class ReadLog:
    """Per layer and value: how many features were mapped to which class or skipped, and why.

    Rows have ``source, layer, field, value, outcome, reason, class, count``: ``outcome`` is
    ``mapped`` or ``skipped``; ``reason`` is ``ended``, ``status <value>``, ``level <n>``,
    ``mapped to null``, ``no geometry`` or ``layer mapped to null (not read)`` (count empty);
    ``field`` and ``value`` list the attributes along the decision path, joined by `` / ``.
    Features outside the bounding box are not read and not counted.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The rows as a table."""
        df = pd.DataFrame(self.rows, columns=["source", "layer", "field", "value", "outcome", "reason",
                                              "class", "count"])
        return df.astype({"count": "Int64"})


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _layer_keys(name: str, prefixes: frozenset[str], suffixes: frozenset[str]) -> frozenset[str]:
    tokens = [t for t in re.split(r"[\s_.\-]+", str(name).strip()) if t]
    keys = {_norm(name)}
    if len(tokens) > 1:
        head = tokens[1:] if _norm(tokens[0]) in prefixes else tokens
        for toks in (head, tokens):
            keys.add(_norm("".join(toks)))
            if len(toks) > 1 and _norm(toks[-1]) in suffixes:
                keys.add(_norm("".join(toks[:-1])))
    return frozenset(k for k in keys if k)


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise WerklandInputError(f"{value!r} must be a name or a list of names", path=where)


def _parse_target(value: Any, where: str, legend: Legend) -> Target:
    if value is None:
        return None
    if isinstance(value, str):
        legend.code(value, where=where)
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fld, values), = value.items()
        return _parse_branch(str(fld), values, f"{where}.{fld}", legend)
    raise WerklandInputError(
        f"{value!r} is neither a legend class, null, nor one attribute with its values", path=where,
        fix="write <value>: <class>, <value>: null, or <value>: {<attribute>: {<value>: <class>}}")


def _parse_branch(fld: str, values: Any, where: str, legend: Legend) -> Branch:
    if not isinstance(values, dict) or not values:
        raise WerklandInputError(f"attribute {fld!r} needs a mapping value -> class", path=where,
                                 fix="list the attribute's values, each with a legend class or null")
    out: dict[str, Target] = {}
    for k, v in values.items():
        key = EMPTY_VALUE if k is None else str(k).strip()
        if key in out:
            raise WerklandInputError(f"value {key!r} is listed twice", path=where)
        out[key] = _parse_target(v, f"{where}.{key}", legend)
    return Branch(fld, out, where)


def load_mapping(path: str | os.PathLike[str], legend: Legend) -> MappingSpec:
    """Load and validate a mapping file: every target must be a class of ``legend``.

    Parameters
    ----------
    path : path-like
        A YAML file as ``config/mappings/bgt.yaml``.
    legend : Legend
        The land-cover legend.

    Returns
    -------
    MappingSpec

    Raises
    ------
    WerklandInputError
        Missing file, bad YAML or structure, unknown legend class (naming the key path).
    """
    where = str(path)
    raw = load_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), dict) or not raw["layers"]:
        raise WerklandInputError("needs a non-empty mapping 'layers' (object type -> attribute -> value)",
                                 path=where, fix="see config/mappings/README.md")
    extra = sorted(set(map(str, raw)) - _TOP_KEYS)
    if extra:
        raise WerklandInputError(f"unknown key(s) {', '.join(extra)}", path=where,
                                 fix=f"use only {', '.join(sorted(_TOP_KEYS))}")
    prefixes = frozenset(_norm(s) for s in _str_list(raw.get("layer_prefixes"), f"{where}: layer_prefixes"))
    suffixes = frozenset(_norm(s) for s in _str_list(raw.get("layer_suffixes"), f"{where}: layer_suffixes"))
    rules: list[LayerRule] = []
    skip_unlisted = False
    owner: dict[str, str] = {}
    for key, entry in raw["layers"].items():
        key = str(key)
        at = f"{where}: layers.{key}"
        if key == ANY_VALUE:
            if entry is not None:
                raise WerklandInputError("'*' can only be null (skip all layers not listed)", path=at)
            skip_unlisted = True
            continue
        aliases: tuple[str, ...] = ()
        width = None
        if isinstance(entry, dict) and (set(entry) & _LAYER_KEYS or len(entry) != 1):
            aliases = _str_list(entry.get("aliases"), f"{at}.aliases")
            width = entry.get("width_m")
            if width is not None and not (isinstance(width, int | float) and width > 0):
                raise WerklandInputError(f"width_m {width!r} must be a positive number of metres", path=at)
            others = [k for k in entry if k not in _LAYER_KEYS]
            if "class" in entry and not others:
                target = _parse_target(entry["class"], f"{at}.class", legend)
            elif len(others) == 1 and "class" not in entry:
                target = _parse_branch(str(others[0]), entry[others[0]], f"{at}.{others[0]}", legend)
            else:
                raise WerklandInputError(
                    "needs either class: <class|null> or exactly one attribute with its values", path=at,
                    fix="e.g. bgt-fysiekVoorkomen: {loofbos: woodland, ...}")
        else:
            target = _parse_target(entry, at, legend)
        names = frozenset(_norm(n) for n in (key, *aliases)) - {""}
        for n in names:
            if n in owner:
                raise WerklandInputError(f"layer name {n!r} is also used by layers.{owner[n]}", path=at)
            owner[n] = key
        rules.append(LayerRule(key, names, target, float(width) if width is not None else None))
    crs = None
    if raw.get("default_crs") is not None:
        try:
            crs = CRS.from_user_input(raw["default_crs"])
        except Exception as exc:
            raise WerklandInputError(f"default_crs {raw['default_crs']!r} is not a CRS", path=where,
                                     fix="give an EPSG code, e.g. EPSG:28992") from exc
    filters = _parse_filters(raw.get("filters"), f"{where}: filters")
    id_field = raw.get("id_field")
    return MappingSpec(where, tuple(rules), skip_unlisted, crs, str(id_field) if id_field else None,
                       _str_list(raw.get("keep_fields"), f"{where}: keep_fields"), prefixes, suffixes, filters)


def _parse_filters(raw: Any, where: str) -> ObjectFilters:
    if raw is None:
        return ObjectFilters()
    known = {"end_fields", "status_fields", "status_values", "level_field", "level_value"}
    if not isinstance(raw, dict) or set(raw) - known:
        raise WerklandInputError("filters must be a mapping with keys " + ", ".join(sorted(known)), path=where)
    level = raw.get("level_value", 0)
    if not isinstance(level, int):
        raise WerklandInputError(f"level_value {level!r} must be an integer", path=where)
    return ObjectFilters(_str_list(raw.get("end_fields"), where), _str_list(raw.get("status_fields"), where),
                         frozenset(_str_list(raw.get("status_values"), where)),
                         str(raw["level_field"]) if raw.get("level_field") else None, level)


def _text(s: pd.Series) -> pd.Series:
    """Attribute values as stripped text ("" for missing; 3.0 -> "3")."""
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        out = s.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
        return out.astype(object).str.strip()

    def one(v: Any) -> str:
        if pd.isna(v):
            return ""
        if isinstance(v, bool | np.bool_):
            return str(bool(v)).lower()
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return s.map(one).astype(object)


def _resolve(target: Target, row: Mapping[str, str]) -> tuple[Target | _Unmapped, list[tuple[str, str]]]:
    path: list[tuple[str, str]] = []
    while isinstance(target, Branch):
        v = row.get(target.field, EMPTY_VALUE)
        path.append((target.field, v))
        if v in target.values:
            target = target.values[v]
        elif ANY_VALUE in target.values:
            target = target.values[ANY_VALUE]
        else:
            return _Unmapped(target.field, v, target.where), path
    return target, path


def _skip_reasons(vals: Mapping[str, pd.Series], filters: ObjectFilters, n: int) -> np.ndarray:
    reason = np.full(n, "", dtype=object)
    for f in filters.end_fields:
        reason[(vals[f].to_numpy() != "") & (reason == "")] = "ended"
    for f in filters.status_fields:
        v = vals[f].to_numpy(dtype=object)
        m = (v != "") & ~np.isin(v, list(filters.status_ok)) & (reason == "")
        reason[m] = [f"status {x}" for x in v[m]]
    if filters.level_field:
        txt = vals[filters.level_field].to_numpy(dtype=object)
        num = pd.to_numeric(pd.Series(txt), errors="coerce").to_numpy(dtype=float)
        m = (txt != "") & ~(num == filters.level_value) & (reason == "")
        reason[m] = [f"level {x}" for x in txt[m]]
    return reason


def _classify(rule: LayerRule, vals: Mapping[str, pd.Series], reason: np.ndarray, where: str,
              problems: list[tuple[str, str, _Unmapped, int]], inside: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class and decision path (fields, values) per feature; each distinct value combination once.

    Features whose values have no mapping get the reason ``unmapped``; those not skipped for another
    reason and inside the region (``inside``; None: all) are added to ``problems``.
    """
    n = len(reason)
    cls = np.full(n, None, dtype=object)
    fld_path = np.full(n, "", dtype=object)
    val_path = np.full(n, "", dtype=object)
    if not n or not rule.fields:
        cls[:] = rule.target
        return cls, fld_path, val_path
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([vals[f].to_numpy() for f in rule.fields]))
    for k, combo in enumerate(uniques):
        res, path = _resolve(rule.target, dict(zip(rule.fields, combo, strict=True)))
        sel = codes == k
        fld_path[sel] = " / ".join(f for f, _ in path)
        val_path[sel] = " / ".join(v or "(empty)" for _, v in path)
        if isinstance(res, _Unmapped):
            live = sel & (reason == "")
            counted = live if inside is None else live & inside
            if counted.any():
                problems.append((rule.key, where, res, int(counted.sum())))
            reason[live] = "unmapped"
        else:
            cls[sel] = res
    return cls, fld_path, val_path


__all__ = ["ANY_VALUE", "EMPTY_VALUE", "VOID_REASONS", "Branch", "LayerRule", "MappingSpec", "ObjectFilters", "ReadLog",
           "Target", "load_mapping"]
