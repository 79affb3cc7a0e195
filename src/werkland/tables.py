"""The lookup tables: land-cover legend and species guilds.

Both are YAML files under ``config/``; they are validated here so that a typo in a class name or a
negative resistance becomes one clear error naming the file, the key and the fix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from werkland._errors import WerklandInputError, reject_unknown

#: Keys of a legend class (config/landcover_classes.yaml); any other key is an error.
LEGEND_CLASS_KEYS: tuple[str, ...] = (
    "code", "name", "colour", "priority", "width_m", "continuous", "sealed", "shade", "albedo", "kc",
    "green_area", "cn", "storage_mm",
)
#: Keys of a guild (config/guilds.yaml); any other key is an error.
GUILD_KEYS: tuple[str, ...] = (
    "label", "suitability", "resistance", "default_resistance", "suitability_threshold",
    "min_patch_area_m2", "edge_classes", "edge_band_m", "edge_factor", "d0_m", "p0", "gbif_taxa",
)

IMPASSABLE = "impassable"
#: Value used for impassable cells in in-memory resistance arrays (written to GeoTIFF as nodata).
IMPASSABLE_VALUE = np.inf


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file with a clear error for missing or malformed files."""
    p = Path(path)
    if not p.is_file():
        raise WerklandInputError("file not found", path=str(p), fix="check the path in config/config.yaml")
    try:
        with open(p, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WerklandInputError(f"not valid YAML{where}", path=str(p), fix="fix the YAML syntax") from exc


@dataclass(frozen=True)
class LandCoverClass:
    """One legend entry (see ``config/landcover_classes.yaml`` for the meaning of each field)."""

    code: int
    name: str
    colour: str
    priority: int
    width_m: float | None = None
    continuous: bool = False
    sealed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Legend:
    """The harmonised land-cover legend.

    Attributes
    ----------
    classes : tuple of LandCoverClass
        Ordered by code.
    path : str
        The file it came from (named in errors).
    raw : dict
        The parsed YAML (biophysical values and other stage-specific keys).
    """

    classes: tuple[LandCoverClass, ...]
    path: str
    raw: dict[str, Any]

    @property
    def names(self) -> list[str]:
        """Class names in code order."""
        return [c.name for c in self.classes]

    def code(self, name: str, *, where: str | None = None) -> int:
        """Legend code of a class name; error naming the unknown class otherwise."""
        for c in self.classes:
            if c.name == name:
                return c.code
        raise WerklandInputError(
            f"class {name!r} is not in the legend {self.path}",
            path=where or self.path,
            fix=f"use one of: {', '.join(self.names)}",
        )

    def by_name(self, name: str, *, where: str | None = None) -> LandCoverClass:
        """The class entry of a name; error naming the unknown class otherwise."""
        code = self.code(name, where=where)
        return next(c for c in self.classes if c.code == code)

    def lut(self, values: dict[str, float], default: float, *, where: str) -> np.ndarray:
        """A 256-entry lookup table indexed by class code (index 0 = nodata gets ``default``)."""
        for name in values:
            self.code(name, where=where)
        table = np.full(256, default, dtype=np.float64)
        for c in self.classes:
            if c.name in values:
                table[c.code] = values[c.name]
        return table

    def colour_map(self) -> dict[int, str]:
        """Code -> hex colour."""
        return {c.code: c.colour for c in self.classes}


def load_legend(path: str | os.PathLike[str]) -> Legend:
    """Load and validate the land-cover legend.

    Raises
    ------
    WerklandInputError
        Duplicate codes or names, codes outside 1..255, missing keys, bad widths.
    """
    raw = load_yaml(path)
    where = str(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), list) or not raw["classes"]:
        raise WerklandInputError("needs a non-empty list 'classes'", path=where, fix="see config/landcover_classes.yaml")
    seen_codes: set[int] = set()
    seen_names: set[str] = set()
    out = []
    for i, entry in enumerate(raw["classes"]):
        key = f"{where}: classes[{i}]"
        if not isinstance(entry, dict):
            raise WerklandInputError("must be a mapping", path=key, fix="see config/landcover_classes.yaml")
        reject_unknown(entry, LEGEND_CLASS_KEYS, where=f"classes[{i}] ({entry.get('name', '?')})", path=where)
        for req in ("code", "name", "colour", "priority"):
            if req not in entry:
                raise WerklandInputError(f"missing key {req!r}", path=key, fix="every class needs code, name, colour, priority")
        code = entry["code"]
        if not isinstance(code, int) or not 1 <= code <= 255:
            raise WerklandInputError(f"code {code!r} is not an integer in 1..255", path=key, fix="0 is reserved for nodata")
        name = str(entry["name"])
        if code in seen_codes or name in seen_names:
            raise WerklandInputError(f"duplicate code {code} or name {name!r}", path=key, fix="codes and names must be unique")
        seen_codes.add(code)
        seen_names.add(name)
        width = entry.get("width_m")
        if width is not None and not (isinstance(width, int | float) and width > 0):
            raise WerklandInputError(f"width_m {width!r} must be a positive number of metres", path=key)
        sealed = float(entry.get("sealed", 0.0))
        if not 0.0 <= sealed <= 1.0:
            raise WerklandInputError(f"sealed {sealed} must be in 0..1", path=key)
        known = {"code", "name", "colour", "priority", "width_m", "continuous", "sealed"}
        out.append(
            LandCoverClass(
                code=code,
                name=name,
                colour=str(entry["colour"]),
                priority=int(entry["priority"]),
                width_m=float(width) if width is not None else None,
                continuous=bool(entry.get("continuous", False)),
                sealed=sealed,
                extra={k: v for k, v in entry.items() if k not in known},
            )
        )
    out.sort(key=lambda c: c.code)
    return Legend(tuple(out), where, raw)


#: Dispersal-kernel conventions: the probability at ``d0_m`` (Conefor: the median distance; Graphab:
#: the "maximum" distance).
CONVENTIONS: dict[str, float] = {"conefor": 0.5, "graphab": 0.05}


@dataclass(frozen=True)
class Kernel:
    """Negative-exponential dispersal kernel ``p(d) = exp(-k d)``.

    Attributes
    ----------
    d0_m : float
        Reference distance in cost-weighted metres.
    p0 : float
        Probability at ``d0_m``.
    k_per_m : float
        Decay rate per cost-weighted metre, ``-ln(p0) / d0_m``.
    convention : str
        ``"conefor"`` (p0 = 0.5 at the median distance) or ``"graphab"`` (p0 = 0.05).
    """

    d0_m: float
    p0: float
    k_per_m: float
    convention: str

    def p(self, d: Any) -> Any:
        """Direct dispersal probability for cost distance(s) ``d`` (cost-weighted m)."""
        return np.exp(-self.k_per_m * np.asarray(d, dtype=np.float64))

    def max_cost(self, p_floor: float) -> float:
        """Cost distance (cost-weighted m) at which ``p`` falls to ``p_floor``."""
        return float(-math.log(p_floor) / self.k_per_m)


@dataclass(frozen=True)
class Guild:
    """A species guild: habitat suitability and resistance per class plus dispersal parameters.

    Attributes
    ----------
    name : str
        Guild id (used in file names).
    label : str
        Readable name.
    suitability : dict
        Class name -> 0..1.
    resistance : dict
        Class name -> resistance >= 1 per metre, or ``math.inf`` for impassable.
    default_resistance : float
        Resistance of classes not listed.
    suitability_threshold : float
        Cells at or above it are habitat.
    min_patch_area_m2 : float
        Smaller patches are dropped.
    edge_classes : tuple of str
        Disturbing classes.
    edge_band_m : float
        Width of the edge band in metres.
    edge_factor : float
        Suitability multiplier inside the band.
    d0_m, p0 : float
        Dispersal kernel: probability ``p0`` at cost distance ``d0_m``.
    gbif_taxa : tuple of dict
        ``{rank, name, key}`` entries.
    """

    name: str
    label: str
    suitability: dict[str, float]
    resistance: dict[str, float]
    default_resistance: float
    suitability_threshold: float
    min_patch_area_m2: float
    edge_classes: tuple[str, ...]
    edge_band_m: float
    edge_factor: float
    d0_m: float
    p0: float
    gbif_taxa: tuple[dict[str, Any], ...]

    @property
    def k_per_m(self) -> float:
        """Kernel decay k = -ln(p0)/d0 in 1/m (cost-weighted metres)."""
        return -math.log(self.p0) / self.d0_m

    def kernel(self, convention: str = "conefor") -> Kernel:
        """The guild's dispersal kernel under a convention: d0, p0 and k in one place.

        ``conefor`` uses the guild's ``p0`` (0.5 in the shipped table); ``graphab`` fixes p0 = 0.05 at
        the same ``d0_m`` (k is ln 20 / ln 2 = 4.3 times the Conefor k).

        Raises
        ------
        WerklandInputError
            An unknown convention.
        """
        if convention not in CONVENTIONS:
            raise WerklandInputError(
                f"unknown kernel convention {convention!r}",
                path="config: connectivity.convention",
                fix=f"use one of {sorted(CONVENTIONS)}",
            )
        p0 = CONVENTIONS["graphab"] if convention == "graphab" else float(self.p0)
        return Kernel(float(self.d0_m), p0, -math.log(p0) / float(self.d0_m), convention)

    def params(self) -> dict[str, Any]:
        """Plain-dict form (for Snakemake params and provenance)."""
        return {
            "name": self.name,
            "label": self.label,
            "suitability_threshold": self.suitability_threshold,
            "min_patch_area_m2": self.min_patch_area_m2,
            "edge_band_m": self.edge_band_m,
            "edge_factor": self.edge_factor,
            "d0_m": self.d0_m,
            "p0": self.p0,
            "k_per_m": self.k_per_m,
            "default_resistance": self.default_resistance,
        }


_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")


def load_guilds(path: str | os.PathLike[str], legend: Legend) -> dict[str, Guild]:
    """Load and validate the guild table against the legend.

    Raises
    ------
    WerklandInputError
        Unknown class names, suitability outside 0..1, resistance < 1, bad kernel parameters,
        unknown GBIF ranks -- each naming the guild and key.
    """
    raw = load_yaml(path)
    where = str(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("guilds"), dict) or not raw["guilds"]:
        raise WerklandInputError("needs a non-empty mapping 'guilds'", path=where, fix="see config/guilds.yaml")
    guilds: dict[str, Guild] = {}
    for gname, g in raw["guilds"].items():
        key = f"{where}: guilds.{gname}"
        if not isinstance(gname, str) or not gname.replace("_", "").isalnum() or gname != gname.lower():
            raise WerklandInputError(f"guild id {gname!r} must be lower-case letters, digits and '_'", path=key)
        if not isinstance(g, dict):
            raise WerklandInputError("must be a mapping", path=key)
        reject_unknown(g, GUILD_KEYS, where=f"guilds.{gname}", path=str(path))
        for t in g.get("gbif_taxa") or ():
            if isinstance(t, dict):
                reject_unknown(t, ("rank", "name", "key"), where=f"guilds.{gname}.gbif_taxa", path=str(path))
        required = ("suitability", "resistance", "suitability_threshold", "min_patch_area_m2", "d0_m", "p0")
        for req in required:
            if req not in g:
                raise WerklandInputError(f"missing key {req!r}", path=key, fix=f"every guild needs {', '.join(required)}")
        suit: dict[str, float] = {}
        for cls, v in (g["suitability"] or {}).items():
            legend.code(cls, where=f"{key}.suitability")
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise WerklandInputError(f"suitability of {cls!r} is {v!r}; must be in 0..1", path=f"{key}.suitability")
            suit[cls] = float(v)
        res: dict[str, float] = {}
        for cls, v in (g["resistance"] or {}).items():
            legend.code(cls, where=f"{key}.resistance")
            if v == IMPASSABLE:
                res[cls] = math.inf
            elif isinstance(v, int | float) and math.isfinite(v) and v >= 1:
                res[cls] = float(v)
            else:
                raise WerklandInputError(
                    f"resistance of {cls!r} is {v!r}", path=f"{key}.resistance", fix="use a number >= 1 or 'impassable'"
                )
        default_res = g.get("default_resistance", 1)
        if not (isinstance(default_res, int | float) and default_res >= 1):
            raise WerklandInputError(f"default_resistance {default_res!r} must be >= 1", path=key)
        thr = g["suitability_threshold"]
        if not (isinstance(thr, int | float) and 0 < thr <= 1):
            raise WerklandInputError(f"suitability_threshold {thr!r} must be in (0, 1]", path=key)
        d0, p0 = g["d0_m"], g["p0"]
        if not (isinstance(d0, int | float) and d0 > 0):
            raise WerklandInputError(f"d0_m {d0!r} must be a positive distance in metres", path=key)
        if not (isinstance(p0, int | float) and 0 < p0 < 1):
            raise WerklandInputError(f"p0 {p0!r} must be a probability strictly between 0 and 1", path=key)
        edge_classes = tuple(g.get("edge_classes") or ())
        for cls in edge_classes:
            legend.code(cls, where=f"{key}.edge_classes")
        band = float(g.get("edge_band_m", 0) or 0)
        factor = float(g.get("edge_factor", 1.0))
        if band < 0 or not 0 <= factor <= 1:
            raise WerklandInputError("edge_band_m must be >= 0 and edge_factor in 0..1", path=key)
        min_area = g["min_patch_area_m2"]
        if not (isinstance(min_area, int | float) and min_area >= 0):
            raise WerklandInputError(f"min_patch_area_m2 {min_area!r} must be >= 0", path=key)
        taxa = tuple(g.get("gbif_taxa") or ())
        for t in taxa:
            if not isinstance(t, dict) or t.get("rank") not in _RANKS or not t.get("name"):
                raise WerklandInputError(
                    f"gbif_taxa entry {t!r} needs rank (one of {', '.join(_RANKS)}) and name", path=f"{key}.gbif_taxa"
                )
        guilds[gname] = Guild(
            name=gname,
            label=str(g.get("label", gname)),
            suitability=suit,
            resistance=res,
            default_resistance=float(default_res),
            suitability_threshold=float(thr),
            min_patch_area_m2=float(min_area),
            edge_classes=edge_classes,
            edge_band_m=band,
            edge_factor=factor,
            d0_m=float(d0),
            p0=float(p0),
            gbif_taxa=taxa,
        )
    return guilds
