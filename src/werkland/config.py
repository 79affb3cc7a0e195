"""Configuration: validation against the JSON schema with readable messages, defaults, regions.

The workflow calls :func:`validate_config` at parse time; every error names the key, the value and
what is allowed, e.g. ``config: report.language = 'fr' -- allowed: 'en', 'nl'``.
"""

from __future__ import annotations

import copy
import csv
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import werkland
from werkland._errors import WerklandInputError, closest

REGION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

#: Columns of a regions table (``regions_table``); any other column is an error.
REGION_TABLE_COLUMNS: tuple[str, ...] = (
    "region", "land_cover", "land_cover_type", "parks_file", "parks_id_field", "clip_lonlat", "crs",
    "resolution_m", "context_buffer_m", "species_source", "species_file",
)


def _path(err: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _describe(err: jsonschema.ValidationError) -> str:
    key = _path(err)
    v = err.validator
    sch = err.schema if isinstance(err.schema, dict) else {}
    if v == "enum":
        allowed = ", ".join(repr(a) for a in err.validator_value)
        return f"config: {key} = {err.instance!r} -- allowed: {allowed}"
    if v == "required":
        return f"config: {key}: {err.message} -- add it (see {sch.get('description', 'the schema')})"
    if v == "additionalProperties" or v == "propertyNames":
        return f"config: {key}: {err.message}"
    if v == "pattern":
        return f"config: {key} = {err.instance!r} does not match {err.validator_value!r}" + (
            f" ({sch['description']})" if "description" in sch else "")
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "type", "const"):
        desc = f" ({sch['description']})" if "description" in sch else ""
        return f"config: {key} = {err.instance!r}: {err.message}{desc}"
    return f"config: {key}: {err.message}"


def _fill_defaults(schema: Mapping[str, Any], data: Any, root: Mapping[str, Any]) -> None:
    if not isinstance(data, dict):
        return
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    for sub in schema.get("allOf", []):
        _fill_defaults(_resolve(sub["$ref"], root) if "$ref" in sub else sub, data, root)
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            sub = {**_resolve(sub["$ref"], root), **{k: v for k, v in sub.items() if k != "$ref"}}
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if key in data:
            _fill_defaults(sub, data[key], root)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _closed_properties(schema: Mapping[str, Any], root: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The properties of an object schema (through ``$ref`` and ``allOf``) and its
    ``additionalProperties`` (a schema for maps such as ``regions``; None for closed objects)."""
    if "$ref" in schema:
        schema = {**_resolve(schema["$ref"], root), **{k: v for k, v in schema.items() if k != "$ref"}}
    props: dict[str, Any] = {}
    extra = schema.get("additionalProperties")
    for sub in schema.get("allOf", []):
        p, e = _closed_properties(sub, root)
        props.update(p)
        extra = extra if extra is not None else e
    for key, sub in (schema.get("properties") or {}).items():
        props[key] = sub
    return props, extra


def unknown_keys(schema: Mapping[str, Any], data: Any, root: Mapping[str, Any], where: str = "") -> list[str]:
    """Keys of ``data`` that the schema does not define, each with the closest valid key.

    Objects with ``properties`` are closed unless they declare ``additionalProperties`` (maps such as
    ``regions`` or ``guild_weights``, whose values are checked against that schema). Free-form objects
    (no ``properties``, e.g. a source's ``mapping``) are not checked.
    """
    out: list[str] = []
    if isinstance(data, list):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        if isinstance(items, Mapping):
            for i, v in enumerate(data):
                out += unknown_keys(items, v, root, f"{where}[{i}]")
        return out
    if not isinstance(data, dict) or not isinstance(schema, Mapping):
        return out
    props, extra = _closed_properties(schema, root)
    for key, value in data.items():
        here = f"{where}.{key}" if where else str(key)
        if key in props:
            out += unknown_keys(props[key], value, root, here)
        elif isinstance(extra, Mapping):
            out += unknown_keys(extra, value, root, here)
        elif props and extra is not True:
            out.append(f"config: {where or '(top level)'}: unknown key {key!r}{closest(str(key), props)}")
    return out


def validate_config(config: dict[str, Any], schema_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``config`` in place against the schema, filling schema defaults.

    Unknown keys are errors everywhere (every section, region, source and park setting), each naming
    the key and the closest valid one: a misspelt key never silently falls back to a default.

    Raises
    ------
    WerklandInputError
        Listing every problem, one per line, each naming the key and the allowed values.
    """
    with open(schema_path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    unknown = unknown_keys(schema, config, schema)
    if unknown:
        raise WerklandInputError("invalid configuration:\n  " + "\n  ".join(unknown), path="config",
                                 fix="correct the keys above in config/config.yaml (or your --configfile); "
                                     "the valid keys are in workflow/schemas/config.schema.yaml")
    _fill_defaults(schema, config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = []
        for e in errors:
            # report the most specific cause of oneOf/anyOf failures
            leaf = min(e.context, key=lambda c: len(list(c.absolute_path)) * -1) if e.context else e
            lines.append(_describe(leaf if e.context else e))
        raise WerklandInputError("invalid configuration:\n  " + "\n  ".join(lines), path="config",
                                 fix="correct the keys above in config/config.yaml (or your --configfile)")
    unknown = sorted(set(config["guilds"]) - set(_guild_ids(config)))
    if unknown:
        raise WerklandInputError(f"config: guilds: {unknown} not in {config['guilds_table']}",
                                 fix=f"use guilds from: {', '.join(_guild_ids(config))}")
    return config


#: The workflow's config schema, relative to the project root.
SCHEMA_RELPATH = Path("workflow") / "schemas" / "config.schema.yaml"


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema defaults of one top-level config section, as :func:`validate_config` fills them.

    The schema is the project's ``workflow/schemas/config.schema.yaml``, found relative to the
    installed package (the project root is ``Path(werkland.__file__).parents[2]``: an editable
    install from the checkout). It is read once per process.

    Parameters
    ----------
    section : str
        A top-level key of the schema, e.g. ``"climate"``.

    Returns
    -------
    dict
        The filled section of an empty config (a new copy on each call: safe to modify).

    Raises
    ------
    WerklandInputError
        The schema is not in the project root, or ``section`` is not one of its sections (naming
        the closest).
    """
    return copy.deepcopy(_section_defaults(section))


@functools.cache
def _section_defaults(section: str) -> dict[str, Any]:
    path = Path(werkland.__file__).resolve().parents[2] / SCHEMA_RELPATH
    if not path.is_file():
        raise WerklandInputError(
            "the config schema is not in the project root of the installed werkland package",
            path=str(path),
            fix="install werkland from its project checkout (pip install -e .), which holds "
                f"{SCHEMA_RELPATH.as_posix()}",
        )
    with open(path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    sections = schema.get("properties") or {}
    if section not in sections:
        raise WerklandInputError(f"no config section {section!r}{closest(section, sections)}", path=str(path),
                                 fix=f"use one of {', '.join(sections)}")
    data: dict[str, Any] = {}
    _fill_defaults(sections[section], data, schema)
    return data


def _guild_ids(config: Mapping[str, Any]) -> list[str]:
    p = Path(config["guilds_table"])
    if not p.is_file():
        raise WerklandInputError("guild table not found", path=str(p), fix="check guilds_table in the config")
    with open(p, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return list((data.get("guilds") or {}).keys())


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; values of ``over`` win (lists are replaced, not merged)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_regions_table(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a regions TSV (cheap: no geodata is opened).

    Columns: ``region`` (slug id, required), ``land_cover`` (path; type from ``land_cover_type``,
    default ``osm``), optional ``parks_file``, ``parks_id_field``, ``clip_lonlat`` (``w,s,e,n``),
    ``crs``, ``resolution_m``, ``context_buffer_m``, ``species_source``, ``species_file``.

    Raises
    ------
    WerklandInputError
        Missing columns, bad or duplicate region ids (only ``[a-z0-9-]``: no path characters).
    """
    p = Path(path)
    if not p.is_file():
        raise WerklandInputError("regions table not found", path=str(p), fix="check regions_table in the config")
    regions: dict[str, dict[str, Any]] = {}
    with open(p, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        if reader.fieldnames is None or "region" not in reader.fieldnames or "land_cover" not in reader.fieldnames:
            raise WerklandInputError("needs tab-separated columns 'region' and 'land_cover'", path=str(p),
                                     fix="see config/regions.tsv for the format")
        for column in reader.fieldnames:
            if column not in REGION_TABLE_COLUMNS:
                raise WerklandInputError(
                    f"unknown column {column!r}{closest(column, REGION_TABLE_COLUMNS)}", path=str(p),
                    fix=f"use only the columns {', '.join(REGION_TABLE_COLUMNS)}",
                )
        for lineno, row in enumerate(reader, start=2):
            rid = (row.get("region") or "").strip()
            if not REGION_ID.match(rid):
                raise WerklandInputError(
                    f"line {lineno}: region id {rid!r} is not a safe slug", path=str(p),
                    fix="use lower-case letters, digits and '-' only (no '/', '.', spaces), at most 63 characters",
                )
            if rid in regions:
                raise WerklandInputError(f"line {lineno}: duplicate region id {rid!r}", path=str(p))
            cfg: dict[str, Any] = {
                "land_cover": [{"type": (row.get("land_cover_type") or "osm").strip(), "path": row["land_cover"].strip()}]
            }
            if row.get("parks_file"):
                cfg["parks"] = {"file": row["parks_file"].strip(), "id_field": (row.get("parks_id_field") or "park_id").strip()}
            if row.get("clip_lonlat"):
                try:
                    cfg["clip_lonlat"] = [float(x) for x in row["clip_lonlat"].split(",")]
                except ValueError as exc:
                    raise WerklandInputError(f"line {lineno}: clip_lonlat {row['clip_lonlat']!r} is not 'w,s,e,n'",
                                             path=str(p)) from exc
            for key, conv in (("crs", str), ("resolution_m", float), ("context_buffer_m", float),
                              ("species_source", str), ("species_file", str)):
                if row.get(key):
                    try:
                        cfg[key] = conv(row[key].strip())
                    except ValueError as exc:
                        raise WerklandInputError(f"line {lineno}: {key} {row[key]!r} is not a number",
                                                 path=str(p)) from exc
            regions[rid] = cfg
    return regions


def slugify(value: str) -> str:
    """A region id from a park id: lower case, runs of other characters become '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
    return slug[:63]


def regions_from_parks(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One region per park of a vector file (only the id column is read: cheap at parse time).

    Parameters
    ----------
    spec : mapping
        ``{file, id_field, land_cover: [sources]}``.

    Raises
    ------
    WerklandInputError
        Missing file or field, ids that give no or colliding slugs.
    """
    import pyogrio

    path = spec["file"]
    if not Path(path).exists():
        raise WerklandInputError("parks file not found", path=str(path), fix="check regions_from_parks.file")
    id_field = spec.get("id_field", "park_id")
    try:
        table = pyogrio.read_dataframe(path, columns=[id_field], read_geometry=False)
    except Exception as exc:
        raise WerklandInputError(f"cannot read field {id_field!r} ({str(exc).splitlines()[0][:200]})", path=str(path),
                                 fix="set regions_from_parks.id_field to an existing column") from exc
    if id_field not in table.columns:
        raise WerklandInputError(f"cannot read field {id_field!r}: not in the layer", path=str(path),
                                 fix="set regions_from_parks.id_field to an existing column")
    regions: dict[str, dict[str, Any]] = {}
    for pid in table[id_field].astype(str):
        rid = slugify(pid)
        if not REGION_ID.match(rid):
            raise WerklandInputError(f"park id {pid!r} gives no usable region id", path=str(path),
                                     fix="give parks ids with letters or digits")
        if rid in regions:
            raise WerklandInputError(f"park ids {regions[rid]['parks']['ids'][0]!r} and {pid!r} give the same region id {rid!r}",
                                     path=str(path), fix="make the park ids distinct after lower-casing")
        regions[rid] = {"land_cover": list(spec.get("land_cover") or []),
                        "parks": {"file": str(path), "id_field": id_field, "ids": [pid]}}
    return regions


def region_settings(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Effective settings per region: defaults, then the parks file and regions table, then ``regions:``."""
    defaults = config.get("region_defaults") or {}
    table = read_regions_table(config["regions_table"]) if config.get("regions_table") else {}
    from_parks = config.get("regions_from_parks") or {}
    if from_parks.get("file"):
        table = {**regions_from_parks(from_parks), **table}
    ids = list(dict.fromkeys([*table, *(config.get("regions") or {})]))
    out = {}
    for rid in ids:
        if not REGION_ID.match(rid):
            raise WerklandInputError(f"region id {rid!r} is not a safe slug", path="config: regions",
                                     fix="use lower-case letters, digits and '-' only")
        merged = deep_merge(defaults, table.get(rid, {}))
        merged = deep_merge(merged, (config.get("regions") or {}).get(rid, {}) or {})
        if not merged.get("land_cover"):
            raise WerklandInputError(f"region {rid!r} has no land_cover sources", path=f"config: regions.{rid}",
                                     fix="list at least one source (type and path)")
        out[rid] = merged
    if not out:
        raise WerklandInputError("no regions configured", path="config: regions", fix="add a region or a regions_table")
    return out
