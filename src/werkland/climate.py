"""Climate-adaptation baseline: heat mitigation and rainwater retention per business park.

Two per-pixel models run on the harmonised land-cover raster (``landcover.tif``, uint8 legend codes,
0 = outside the region), with the biophysical values of ``config/landcover_classes.yaml``:

**Heat** -- the InVEST Urban Cooling Model, ``cc_method="factors"`` (Sharp et al. 2020; equations in
``shared/notes/climate.md`` section 1.1):

.. math::

    ETI_i = k_{c,i}\\, ET_{0,i} / ET_{max}
    \\qquad CC_i = w_s\\, shade_i + w_a\\, albedo_i + w_e\\, ETI_i

    GA_i = A_{cell} \\sum_{j:\\, d_{ij} \\le d_{cool}} g_j
    \\qquad CC_{park,i} = \\frac{\\sum_j g_j\\, CC_j\\, e^{-d_{ij}/d_{cool}}}
                               {\\sum_{j\\ \\mathrm{valid}} e^{-d_{ij}/d_{cool}}}
    \\quad (d_{ij} \\le 5\\, d_{cool})

    HM_i = CC_i \\ \\text{if}\\ CC_i \\ge CC_{park,i}\\ \\text{or}\\ GA_i < 2\\,\\mathrm{ha},
    \\ \\text{else}\\ CC_{park,i}

with the weights renormalised to sum 1. Without an ET0 raster a constant ET0 is assumed, so
ET0/ET_max = 1 and ETI = kc (never kc / max(kc): that would make the index of one cell depend on the
land cover elsewhere and break the monotonicity that the interventions stage relies on). Optionally
the air temperature T_air = T_nomix smoothed with the normalised exponential kernel (e-folding radius
r, truncated at 5 r), T_nomix = T_ref + (1 - HM) UHI_max.

**Water** -- the SCS curve-number event runoff as in the InVEST Urban Flood Risk Mitigation model
(USDA-NRCS 1986, TR-55), per pixel and without routing:

.. math::

    S = 25400 / CN - 254 \\ (CN = 0 \\Rightarrow S = 100\\,000), \\qquad
    Q = \\frac{(P - \\lambda S)^2}{P + (1 - \\lambda) S}\\ \\text{if}\\ P > \\lambda S\\ \\text{else}\\ 0

minus the explicit event storage of the class (wadis, ponds, retention roofs), not below 0. The
"natural reference" runoff replaces every cell of the region by the class the natural setting stands
for (``natural_reference`` in the legend: grassland -> grass, woodland -> woodland, wetland ->
wetland) and is what the programme's "discharge no more than the natural landscape" is measured
against.

Public functions are pure numpy functions (array in, array out) that the interventions stage calls on
a changed land cover; :func:`run_climate` is the file-level entry point of the workflow rule.

References
----------
Sharp, R. et al. (2020). InVEST User's Guide, Urban Cooling and Urban Flood Risk Mitigation models.
Natural Capital Project, Stanford University.
USDA-NRCS (1986). Urban Hydrology for Small Watersheds, Technical Release 55 (TR-55), 2nd ed.
Kluck, J. et al. (2020). De hittebestendige stad. Hogeschool van Amsterdam (cool place within 300 m).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import fft as sp_fft
from scipy import ndimage

from werkland._errors import WerklandInputError, unreadable
from werkland.raster.crs import assert_metric
from werkland.raster.io import Grid, read_raster, write_csv, write_raster

__all__ = [
    "DEFAULT_PARAMS",
    "SOIL_GROUPS",
    "BiophysicalTable",
    "CoolingResult",
    "air_temperature",
    "climate_params",
    "cool_spots",
    "cooling_capacity",
    "evapotranspiration_index",
    "green_area_m2",
    "heat_mitigation",
    "heat_mitigation_index",
    "landcover_cooling_capacity",
    "load_biophysical",
    "natural_reference_landcover",
    "park_cooling",
    "runoff_mm",
    "run_climate",
    "scs_potential_retention_mm",
    "scs_runoff_mm",
    "summarise_parks",
    "urban_cooling",
]

LOGGER = logging.getLogger(__name__)

#: Hydrologic soil groups of the SCS curve-number method, in column order of ``BiophysicalTable.cn``.
SOIL_GROUPS: tuple[str, ...] = ("A", "B", "C", "D")

#: S_max (mm) used for CN = 0, as InVEST UFRM does since 3.17 (avoids a division by zero).
CN0_RETENTION_MM = 100_000.0

#: Natural settings and the legend class each stands for, used when the legend has no
#: ``natural_reference`` mapping of its own.
DEFAULT_NATURAL_REFERENCE: dict[str, str] = {
    "grassland": "grass",
    "woodland": "woodland",
    "wetland": "wetland",
}

#: Defaults of the ``params`` dict of :func:`run_climate` (and of the pure functions that take one).
#: Values marked (estimate) are werkland choices to tune locally; see ``shared/notes/climate.md``.
DEFAULT_PARAMS: dict[str, Any] = {
    # --- heat (InVEST Urban Cooling) ---
    # cooling-capacity weights; renormalised to sum 1 (InVEST defaults)
    "cc_weights": {"shade": 0.6, "albedo": 0.2, "eti": 0.2},
    # d_cool: green-area cooling distance, m. InVEST UG recommends 450 m for city-scale 30 m
    # rasters; 100-250 m for 1-10 m business-park rasters (climate.md 1.1, estimate; the same
    # default as config/config.yaml)
    "cooling_distance_m": 100.0,
    # green area within d_cool above which parks cool their surroundings, m² (InVEST: 2 ha)
    "green_area_min_m2": 20_000.0,
    # constant reference evapotranspiration, mm; only its ratio to the maximum matters, so a
    # constant gives ETI = kc (document an ET0 raster to go further)
    "et0_mm": None,
    # air temperature (optional; both None = off): reference rural temperature and UHI magnitude, °C
    "t_ref_degC": None,
    "uhi_max_degC": None,
    # air-mixing radius r, m (Lausanne calibration 236 m; estimate)
    "t_air_radius_m": 250.0,
    # HM below which a cell counts as hot (mown lawn 0.20, shrub 0.53, wood 0.83; estimate)
    "hm_threshold": 0.3,
    # cool spot: contiguous green cells (8-connected) with HM >= cool_spot_hm and an area
    # >= cool_spot_min_area_m2; buildings within cool_spot_distance_m count as served
    # (Kluck et al. 2020: cool place within 300 m; 1 ha and HM 0.5 are estimates: HM 0.5 needs
    # about half shade, the PET < 36 °C proxy)
    "cool_spot_hm": 0.5,
    "cool_spot_min_area_m2": 10_000.0,
    "cool_spot_distance_m": 300.0,
    # legend class whose polygons/cells are the buildings (workplaces)
    "building_class": "building",
    # --- water (SCS curve number, InVEST UFRM) ---
    # design storms: name (used in file and column names) and depth, mm (Klimaateffectatlas:
    # 70 mm in 2 h ≈ T=100, 140 mm in 2 h ≈ T=1000)
    "storms": [{"name": "70mm_2h", "depth_mm": 70.0}, {"name": "140mm_2h", "depth_mm": 140.0}],
    # initial-abstraction ratio lambda (TR-55: 0.2)
    "lambda": 0.2,
    # hydrologic soil group of the region, A-D. Default B: Dutch sandy and loamy soils; use C or D
    # for clay/peat polders with shallow groundwater (estimate)
    "soil_group": "B",
    # natural setting whose class replaces every cell for the natural-reference runoff
    "natural_setting": "grassland",
    # storage norm on sealed surface, mm (Amsterdam Hemelwaterverordening 2021: 60 L/m²)
    "storage_norm_mm": 60.0,
}

_STORM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_BIO_SCALARS = ("shade", "albedo", "kc", "green_area", "storage_mm", "sealed")
_NODATA_OUT = -1.0


# --------------------------------------------------------------------------------------------------
# biophysical table
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiophysicalTable:
    """Biophysical values of the land-cover legend, as lookup arrays indexed by class code (0..255).

    Use :meth:`from_yaml` (``config/landcover_classes.yaml``) or :meth:`from_classes`. Entries of
    codes that are not in the legend, or whose values are missing, are NaN; :meth:`check_codes`
    raises a clear error when such a code occurs in a raster.

    Attributes
    ----------
    names : dict of int to str
        Class name per code.
    shade, albedo, kc, green_area, storage_mm, sealed : numpy.ndarray
        Shape (256,), float64: canopy-shade fraction 0..1, albedo 0..1, crop coefficient (-),
        green area flag 0/1, explicit event storage in mm over the cell, sealed fraction 0..1.
    cn : numpy.ndarray
        Shape (256, 4), SCS curve number 0..100 for soil groups A, B, C, D.
    missing : dict of int to tuple of str
        Per code of the legend, the biophysical fields it lacks (empty when complete).
    natural_reference : dict of str to str
        Natural setting (grassland, woodland, wetland, ...) -> legend class name.
    source : str
        File the values came from (named in error messages).
    """

    names: dict[int, str]
    shade: np.ndarray
    albedo: np.ndarray
    kc: np.ndarray
    green_area: np.ndarray
    storage_mm: np.ndarray
    sealed: np.ndarray
    cn: np.ndarray
    missing: dict[int, tuple[str, ...]] = field(default_factory=dict)
    natural_reference: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_NATURAL_REFERENCE)
    )
    source: str = "legend"

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> BiophysicalTable:
        """Load the legend YAML (``classes: [...]``, optional ``natural_reference: {...}``).

        Parameters
        ----------
        path : path-like
            ``config/landcover_classes.yaml`` or a file of the same layout.

        Raises
        ------
        WerklandInputError
            If the file is missing or malformed, or a value is out of range.
        """
        p = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except FileNotFoundError as exc:
            raise WerklandInputError(
                "legend file not found", path=p, fix="check the legend path in the config"
            ) from exc
        except yaml.YAMLError as exc:
            raise WerklandInputError(
                f"not valid YAML ({exc})", path=p, fix="fix the YAML syntax"
            ) from exc
        if not isinstance(doc, Mapping) or not isinstance(doc.get("classes"), list):
            raise WerklandInputError(
                "no 'classes' list",
                path=p,
                fix="the legend needs a top-level 'classes:' list of class entries",
            )
        return cls.from_classes(
            doc["classes"], natural_reference=doc.get("natural_reference"), source=p
        )

    @classmethod
    def from_legend(cls, legend: Any) -> BiophysicalTable:
        """Build the table from a loaded :class:`werkland.tables.Legend` (uses its ``raw`` YAML)."""
        raw = getattr(legend, "raw", None)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("classes"), list):
            raise WerklandInputError(
                "legend object has no raw 'classes' list",
                path=str(getattr(legend, "path", "legend")),
            )
        return cls.from_classes(
            raw["classes"],
            natural_reference=raw.get("natural_reference"),
            source=str(getattr(legend, "path", "legend")),
        )

    @classmethod
    def from_classes(
        cls,
        classes: Iterable[Any],
        *,
        natural_reference: Mapping[str, str] | None = None,
        source: str = "legend",
    ) -> BiophysicalTable:
        """Build the table from class entries (mappings or objects with the legend's attributes).

        Parameters
        ----------
        classes : iterable
            Entries with ``code``, ``name`` and the biophysical fields ``shade``, ``albedo``, ``kc``,
            ``green_area``, ``cn`` (mapping A-D), ``storage_mm``, ``sealed``. Missing biophysical
            fields are recorded in :attr:`missing`, not raised, so a legend may hold classes the
            climate stage never sees.
        natural_reference : mapping, optional
            Natural setting -> class name; defaults to :data:`DEFAULT_NATURAL_REFERENCE`.
        source : str
            Name used in error messages.
        """
        names: dict[int, str] = {}
        arrays = {k: np.full(256, np.nan) for k in _BIO_SCALARS}
        cn = np.full((256, 4), np.nan)
        missing: dict[int, tuple[str, ...]] = {}
        for item in classes:
            code, name = _get(item, "code"), _get(item, "name")
            if not isinstance(code, int) or isinstance(code, bool) or not 1 <= code <= 255:
                raise WerklandInputError(
                    f"class {name!r}: code {code!r} is not an integer 1..255",
                    path=source,
                    fix="0 is reserved for nodata",
                )
            if not isinstance(name, str) or not name:
                raise WerklandInputError(
                    f"class code {code}: name {name!r} is not a string", path=source
                )
            if code in names:
                raise WerklandInputError(
                    f"class code {code} is used twice",
                    path=source,
                    fix="give each class its own code",
                )
            names[code] = name
            lacking: list[str] = []
            for key in _BIO_SCALARS:
                val = _get(item, key)
                if val is None:
                    lacking.append(key)
                    continue
                arrays[key][code] = _check_value(val, key, name, source)
            cn_val = _get(item, "cn")
            if cn_val is None:
                lacking.append("cn")
            elif not isinstance(cn_val, Mapping):
                raise WerklandInputError(
                    f"class {name!r}: cn must be a mapping {{A, B, C, D}}, not {cn_val!r}",
                    path=source,
                )
            else:
                for gi, g in enumerate(SOIL_GROUPS):
                    if cn_val.get(g) is None:
                        lacking.append(f"cn.{g}")
                    else:
                        cn[code, gi] = _check_value(cn_val[g], "cn", name, source)
            if lacking:
                missing[code] = tuple(lacking)
        if not names:
            raise WerklandInputError("legend has no classes", path=source)
        nat = dict(DEFAULT_NATURAL_REFERENCE if natural_reference is None else natural_reference)
        known = set(names.values())
        for setting, cname in nat.items():
            if cname not in known:
                raise WerklandInputError(
                    f"natural_reference {setting!r} -> {cname!r} is not a class of the legend",
                    path=source,
                    fix=f"use one of {sorted(known)}",
                )
        return cls(
            names=names, cn=cn, missing=missing, natural_reference=nat, source=source, **arrays
        )

    def code_of(self, name: str) -> int:
        """Code of the class called ``name``; WerklandInputError if there is none."""
        for code, cname in self.names.items():
            if cname == name:
                return code
        raise WerklandInputError(
            f"class {name!r} is not in the legend",
            path=self.source,
            fix=f"use one of {sorted(self.names.values())}",
        )

    def check_codes(self, codes: Iterable[int], *, raster: str | None = None) -> None:
        """Raise unless every code in ``codes`` is a legend class with complete biophysical values.

        Parameters
        ----------
        codes : iterable of int
            Codes that occur in a land-cover raster (0, the nodata code, is skipped).
        raster : str, optional
            The raster the codes came from, named in the message.

        Raises
        ------
        WerklandInputError
            Naming the class (or unknown code), the raster and the legend file.
        """
        where = f" in {raster}" if raster else ""
        codes = sorted({int(c) for c in codes} - {0})
        unknown = [c for c in codes if c not in self.names]
        if unknown:
            raise WerklandInputError(
                f"land-cover code(s) {unknown} occur{where} but are not classes of the legend {self.source}",
                path=raster or self.source,
                fix="add the classes to config/landcover_classes.yaml or re-run the land-cover stage",
            )
        for c in codes:
            if c in self.missing:
                raise WerklandInputError(
                    f"class {self.names[c]!r} (code {c}) occurs{where} but has no biophysical values for "
                    f"{', '.join(self.missing[c])}",
                    path=self.source,
                    fix=f"add {', '.join(self.missing[c])} to class {self.names[c]!r} (see the header of the legend file)",
                )

    def natural_code(self, setting: str) -> int:
        """Code of the class a natural setting (``grassland``/``woodland``/``wetland``) stands for."""
        if setting not in self.natural_reference:
            raise WerklandInputError(
                f"unknown natural setting {setting!r}",
                path="climate params: natural_setting",
                fix=f"use one of {sorted(self.natural_reference)} or add it to natural_reference in {self.source}",
            )
        code = self.code_of(self.natural_reference[setting])
        self.check_codes([code])
        return code


def _get(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _check_value(val: Any, key: str, name: str, source: str) -> float:
    ranges = {
        "shade": (0.0, 1.0),
        "albedo": (0.0, 1.0),
        "kc": (0.0, 2.0),
        "green_area": (0.0, 1.0),
        "sealed": (0.0, 1.0),
        "storage_mm": (0.0, math.inf),
        "cn": (0.0, 100.0),
    }
    try:
        x = float(val)
    except (TypeError, ValueError):
        x = math.nan
    lo, hi = ranges[key]
    if (
        isinstance(val, bool)
        or not (math.isfinite(x) and lo <= x <= hi)
        or (key == "green_area" and x not in (0.0, 1.0))
    ):
        allowed = "0 or 1" if key == "green_area" else f"a number in [{lo}, {hi}]"
        raise WerklandInputError(f"class {name!r}: {key} = {val!r} is not {allowed}", path=source)
    return x


def load_biophysical(legend_yaml: str | os.PathLike[str]) -> BiophysicalTable:
    """Load the biophysical table from the legend YAML (see :meth:`BiophysicalTable.from_yaml`)."""
    return BiophysicalTable.from_yaml(legend_yaml)


# --------------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------------


def climate_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULT_PARAMS` and validate them.

    Parameters
    ----------
    params : mapping, optional
        Keys of :data:`DEFAULT_PARAMS`; ``None`` values of numeric keys fall back to the default
        (except ``et0_mm``, ``t_ref_degC``, ``uhi_max_degC`` where None means "off").

    Returns
    -------
    dict
        Complete parameters; ``cc_weights`` renormalised to sum 1, ``storms`` as a list of
        ``{"name": str, "depth_mm": float}``, ``soil_group`` upper case.

    Raises
    ------
    WerklandInputError
        On an unknown key or an invalid value (the message names the key).
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise WerklandInputError(
            f"unknown climate parameter(s) {unknown}",
            path="climate params",
            fix=f"use only {sorted(DEFAULT_PARAMS)}",
        )
    out: dict[str, Any] = {}
    optional = {"et0_mm", "t_ref_degC", "uhi_max_degC"}
    for key, default in DEFAULT_PARAMS.items():
        val = params.get(key)
        out[key] = default if (val is None and key not in optional) else val

    def where(k: str) -> str:
        return f"climate params: {k}"

    w = out["cc_weights"]
    if not isinstance(w, Mapping) or set(w) - {"shade", "albedo", "eti"}:
        raise WerklandInputError(
            f"cc_weights {w!r} must map shade/albedo/eti to weights", path=where("cc_weights")
        )
    ws = {
        k: _num(w.get(k, DEFAULT_PARAMS["cc_weights"][k]), where("cc_weights"), lo=0.0)
        for k in ("shade", "albedo", "eti")
    }
    total = sum(ws.values())
    if total <= 0:
        raise WerklandInputError(
            "cc_weights sum to 0", path=where("cc_weights"), fix="give at least one positive weight"
        )
    out["cc_weights"] = {k: v / total for k, v in ws.items()}
    for k in ("cooling_distance_m", "t_air_radius_m", "cool_spot_distance_m"):
        out[k] = _num(out[k], where(k), lo=0.0, strict=True)
    for k in ("green_area_min_m2", "cool_spot_min_area_m2", "storage_norm_mm"):
        out[k] = _num(out[k], where(k), lo=0.0)
    for k in ("hm_threshold", "cool_spot_hm"):
        out[k] = _num(out[k], where(k))
    lam = _num(out["lambda"], where("lambda"), lo=0.0)
    if lam >= 1.0:
        raise WerklandInputError(
            f"{lam} is not in [0, 1)", path=where("lambda"), fix="TR-55 uses 0.2"
        )
    out["lambda"] = lam
    if out["et0_mm"] is not None:
        out["et0_mm"] = _num(out["et0_mm"], where("et0_mm"), lo=0.0, strict=True)
    t_ref, uhi = out["t_ref_degC"], out["uhi_max_degC"]
    if (t_ref is None) != (uhi is None):
        raise WerklandInputError(
            "give both t_ref_degC and uhi_max_degC for air temperature, or neither",
            path=where("t_ref_degC"),
        )
    if t_ref is not None:
        out["t_ref_degC"] = _num(t_ref, where("t_ref_degC"))
        out["uhi_max_degC"] = _num(uhi, where("uhi_max_degC"), lo=0.0)
    sg = str(out["soil_group"]).upper()
    if sg not in SOIL_GROUPS:
        raise WerklandInputError(
            f"soil group {out['soil_group']!r}", path=where("soil_group"), fix="use A, B, C or D"
        )
    out["soil_group"] = sg
    if not isinstance(out["natural_setting"], str):
        raise WerklandInputError(
            f"{out['natural_setting']!r} is not a string", path=where("natural_setting")
        )
    if not isinstance(out["building_class"], str):
        raise WerklandInputError(
            f"{out['building_class']!r} is not a string", path=where("building_class")
        )
    out["storms"] = _storms(out["storms"])
    return out


def _num(val: Any, where: str, *, lo: float | None = None, strict: bool = False) -> float:
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


def _storms(storms: Any) -> list[dict[str, Any]]:
    where = "climate params: storms"
    if not isinstance(storms, Sequence) or isinstance(storms, str) or not storms:
        raise WerklandInputError("storms must be a non-empty list of {name, depth_mm}", path=where)
    out: list[dict[str, Any]] = []
    for s in storms:
        if not isinstance(s, Mapping) or "name" not in s or "depth_mm" not in s:
            raise WerklandInputError(f"storm {s!r} needs 'name' and 'depth_mm'", path=where)
        name = str(s["name"])
        if not _STORM_NAME.match(name):
            raise WerklandInputError(
                f"storm name {name!r} is not usable in file and column names",
                path=where,
                fix="use letters, digits, _ . -",
            )
        if any(o["name"] == name for o in out):
            raise WerklandInputError(f"storm name {name!r} is used twice", path=where)
        out.append(
            {"name": name, "depth_mm": _num(s["depth_mm"], f"{where}: {name}: depth_mm", lo=0.0)}
        )
    return out


# --------------------------------------------------------------------------------------------------
# kernels and FFT convolution
# --------------------------------------------------------------------------------------------------


def _distance_grid_m(
    radius_m: float, res_m: float, max_half: tuple[int, int] | None = None
) -> np.ndarray:
    """Centre-to-centre distances (m) of a square window of half-size floor(radius/res) cells."""
    half = int(math.floor(radius_m / res_m + 1e-9))
    hy = hx = half
    if max_half is not None:  # a kernel wider than 2 x the raster adds nothing
        hy, hx = min(half, max_half[0]), min(half, max_half[1])
    yy, xx = np.mgrid[-hy : hy + 1, -hx : hx + 1]
    return np.hypot(yy, xx) * res_m


def _exponential_kernel(d_m: float, res_m: float, shape: tuple[int, int]) -> np.ndarray:
    """exp(-d/d_m) for centre distances d <= 5 d_m (not normalised; InVEST ``exponential_decay_kernel``)."""
    dist = _distance_grid_m(5.0 * d_m, res_m, (shape[0] - 1, shape[1] - 1))
    return np.where(dist <= 5.0 * d_m + 1e-9 * res_m, np.exp(-dist / d_m), 0.0)


def _disc_kernel(radius_m: float, res_m: float, shape: tuple[int, int]) -> np.ndarray:
    """1 for centre distances <= radius, else 0 (InVEST ``dichotomous_kernel``, not normalised)."""
    dist = _distance_grid_m(radius_m, res_m, (shape[0] - 1, shape[1] - 1))
    return (dist <= radius_m + 1e-9 * res_m).astype(np.float64)


def _convolve_same(
    signals: Sequence[np.ndarray], kernel: np.ndarray, workers: int = -1
) -> list[np.ndarray]:
    """Linear 2-D convolution of each signal with a symmetric odd-sized kernel, cropped to the signal.

    Zero padding outside the signal (edges contribute nothing). One kernel transform is shared by
    all signals; real FFTs of a fast length, multithreaded with ``workers``.
    """
    h, w = signals[0].shape
    kh, kw = kernel.shape
    ry, rx = kh // 2, kw // 2
    fshape = (
        sp_fft.next_fast_len(h + kh - 1, real=True),
        sp_fft.next_fast_len(w + kw - 1, real=True),
    )
    kf = sp_fft.rfft2(kernel, fshape, workers=workers)
    out = []
    for s in signals:
        sf = sp_fft.rfft2(np.asarray(s, dtype=np.float64), fshape, workers=workers)
        sf *= kf
        full = sp_fft.irfft2(sf, fshape, workers=workers)
        del sf
        out.append(np.ascontiguousarray(full[ry : ry + h, rx : rx + w]))
        del full
    return out


def _normalised_smooth(
    values: np.ndarray, valid: np.ndarray, kernel: np.ndarray, workers: int
) -> np.ndarray:
    """Kernel-weighted mean of ``values`` over valid cells (nodata and edges ignored); NaN where invalid."""
    num, den = _convolve_same(
        [np.where(valid, values, 0.0), valid.astype(np.float64)], kernel, workers
    )
    # den >= kernel centre (1) on valid cells; FFT round-off is ~1e-12 of the kernel mass
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out


# --------------------------------------------------------------------------------------------------
# heat: InVEST Urban Cooling Model
# --------------------------------------------------------------------------------------------------


def evapotranspiration_index(
    kc: np.ndarray, et0_mm: float | np.ndarray | None = None
) -> np.ndarray:
    """Evapotranspiration index ETI = kc · ET0 / ET_max (InVEST UCM).

    Parameters
    ----------
    kc : numpy.ndarray
        Crop coefficient per cell (-); NaN = nodata.
    et0_mm : float or numpy.ndarray or None
        Reference evapotranspiration (mm, any period) per cell or constant. ``None`` or a constant:
        ET0 / ET_max = 1, so ETI = kc. An array: ET_max is its maximum over cells where kc is valid.

    Returns
    -------
    numpy.ndarray
        ETI (-), same shape as ``kc``.
    """
    kc = np.asarray(kc, dtype=np.float64)
    if et0_mm is None or np.ndim(et0_mm) == 0:
        return kc.copy()
    et0 = np.asarray(et0_mm, dtype=np.float64)
    if et0.shape != kc.shape:
        raise WerklandInputError(
            f"ET0 shape {et0.shape} != land-cover shape {kc.shape}", path="et0"
        )
    valid = np.isfinite(kc) & np.isfinite(et0)
    et_max = float(et0[valid].max()) if valid.any() else 0.0
    if et_max <= 0:
        raise WerklandInputError("ET0 maximum over the region is not positive", path="et0")
    return kc * et0 / et_max


def cooling_capacity(
    shade: np.ndarray | float,
    albedo: np.ndarray | float,
    eti: np.ndarray | float,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Cooling capacity CC = w_s·shade + w_a·albedo + w_e·ETI (InVEST UCM, ``cc_method="factors"``).

    Parameters
    ----------
    shade, albedo, eti : array_like
        Canopy-shade fraction (0..1), albedo (0..1), evapotranspiration index (-); broadcastable.
    weights : mapping, optional
        ``{"shade", "albedo", "eti"}``; renormalised to sum 1. Default 0.6 / 0.2 / 0.2.

    Returns
    -------
    numpy.ndarray
        CC (-), 0..1 for inputs in 0..1.

    Examples
    --------
    >>> round(float(cooling_capacity(1.0, 0.10, 1.1 * 800 / 900)), 6)  # InVEST forest cell
    0.815556
    """
    w = (
        climate_params({"cc_weights": weights})["cc_weights"]
        if weights is not None
        else DEFAULT_PARAMS["cc_weights"]
    )
    return np.asarray(
        w["shade"] * np.asarray(shade, dtype=np.float64)
        + w["albedo"] * np.asarray(albedo, dtype=np.float64)
        + w["eti"] * np.asarray(eti, dtype=np.float64)
    )


def _codes(
    lc_codes: np.ndarray, legend: BiophysicalTable, nodata_code: int, raster: str | None
) -> tuple[np.ndarray, np.ndarray]:
    lc = np.asarray(lc_codes)
    if lc.ndim != 2:
        raise WerklandInputError(
            f"land cover must be 2-D, got shape {lc.shape}", path=raster or "land cover"
        )
    if not np.issubdtype(lc.dtype, np.integer):
        raise WerklandInputError(
            f"land cover must hold integer codes, not {lc.dtype}", path=raster or "land cover"
        )
    if lc.size and (lc.min() < 0 or lc.max() > 255):
        raise WerklandInputError("land-cover codes outside 0..255", path=raster or "land cover")
    lc = lc.astype(np.uint8, copy=False)
    valid = lc != nodata_code
    present = np.flatnonzero(np.bincount(lc[valid].ravel(), minlength=256))
    legend.check_codes(present.tolist(), raster=raster)
    return lc, valid


def landcover_cooling_capacity(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    *,
    weights: Mapping[str, float] | None = None,
    et0_mm: float | np.ndarray | None = None,
    nodata_code: int = 0,
) -> np.ndarray:
    """Cooling capacity of a land-cover raster (looks shade, albedo, kc up in ``legend``).

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes; ``nodata_code`` = outside the region.
    legend : BiophysicalTable
        Biophysical values per code.
    weights : mapping, optional
        CC weights (see :func:`cooling_capacity`).
    et0_mm : float or numpy.ndarray, optional
        ET0 (see :func:`evapotranspiration_index`); default constant, ETI = kc.
    nodata_code : int
        Code of cells outside the region (0 in ``landcover.tif``).

    Returns
    -------
    numpy.ndarray
        float64 CC (-), NaN outside the region.
    """
    lc, valid = _codes(lc_codes, legend, nodata_code, None)
    kc = np.where(valid, legend.kc[lc], np.nan)
    eti = evapotranspiration_index(kc, et0_mm)
    cc = cooling_capacity(legend.shade[lc], legend.albedo[lc], eti, weights)
    cc[~valid] = np.nan
    return cc


def green_area_m2(
    green: np.ndarray, res_m: float, cooling_distance_m: float, *, workers: int = -1
) -> np.ndarray:
    """Green area (m²) within the cooling distance of each cell (disc kernel, not normalised).

    Parameters
    ----------
    green : numpy.ndarray
        2-D bool/0-1 green-area flag; cells outside the region must be 0.
    res_m : float
        Cell size, m.
    cooling_distance_m : float
        d_cool, m: cells whose centres lie within this distance count.
    workers : int
        FFT threads (-1 = all cores).

    Returns
    -------
    numpy.ndarray
        float64 area in m² (an exact multiple of the cell area).
    """
    g = np.asarray(green, dtype=np.float64)
    (cnt,) = _convolve_same([g], _disc_kernel(cooling_distance_m, res_m, g.shape), workers)
    return np.rint(cnt) * res_m * res_m


def park_cooling(
    cc: np.ndarray,
    green: np.ndarray,
    res_m: float,
    cooling_distance_m: float,
    *,
    valid: np.ndarray | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Park cooling CC_park and green area GA of each cell (InVEST UCM).

    CC_park_i is the exp(-d/d_cool)-weighted mean of g_j·CC_j over cells j within 5·d_cool, divided
    by the kernel mass over *valid* cells (nodata and raster edges are ignored, as InVEST's
    ``convolve_2d(..., ignore_nodata_and_edges=True)``); non-green cells contribute 0.

    Parameters
    ----------
    cc : numpy.ndarray
        2-D cooling capacity (-); NaN = outside the region.
    green : numpy.ndarray
        2-D green-area flag (bool or 0/1).
    res_m : float
        Cell size, m.
    cooling_distance_m : float
        d_cool, m (e-folding distance of the kernel and radius of the green-area disc).
    valid : numpy.ndarray, optional
        Cells inside the region; default: finite ``cc``.
    workers : int
        FFT threads.

    Returns
    -------
    cc_park : numpy.ndarray
        float64 (-), NaN outside the region.
    ga_m2 : numpy.ndarray
        float64 green area within d_cool, m² (0 outside the region).
    """
    cc = np.asarray(cc, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(cc)
    g = np.asarray(green).astype(bool) & valid
    signal = np.where(g, cc, 0.0)
    cc_park = _normalised_smooth(
        signal, valid, _exponential_kernel(cooling_distance_m, res_m, cc.shape), workers
    )
    np.clip(cc_park, 0.0, None, out=cc_park)  # FFT round-off below 0 where no green is in reach
    ga = green_area_m2(g, res_m, cooling_distance_m, workers=workers)
    ga[~valid] = 0.0
    return cc_park, ga


def heat_mitigation_index(
    cc: np.ndarray, cc_park: np.ndarray, ga_m2: np.ndarray, green_area_min_m2: float = 20_000.0
) -> np.ndarray:
    """HM = CC if CC >= CC_park or GA < green_area_min_m2, else CC_park (InVEST UCM).

    Parameters
    ----------
    cc, cc_park : numpy.ndarray
        Cooling capacity and park cooling (-); NaN = outside the region.
    ga_m2 : numpy.ndarray
        Green area within d_cool, m².
    green_area_min_m2 : float
        Green area that switches the park effect on, m² (InVEST: 2 ha).

    Returns
    -------
    numpy.ndarray
        HM (-), NaN outside the region.
    """
    use_cc = (cc >= cc_park) | (ga_m2 < green_area_min_m2)
    hm = np.where(use_cc, cc, cc_park)
    hm[~np.isfinite(cc)] = np.nan
    return hm


def air_temperature(
    hm: np.ndarray,
    res_m: float,
    t_ref_degC: float,
    uhi_max_degC: float,
    radius_m: float,
    *,
    workers: int = -1,
) -> np.ndarray:
    """Air temperature T_air (°C): T_ref + (1 - HM)·UHI_max smoothed by air mixing (InVEST UCM).

    The smoothing kernel is exp(-d/r) truncated at 5 r, normalised by its mass over valid cells
    (the user guide says "Gaussian"; the InVEST code is exponential and is followed here).

    Parameters
    ----------
    hm : numpy.ndarray
        Heat mitigation index (-); NaN = outside the region.
    res_m : float
        Cell size, m.
    t_ref_degC, uhi_max_degC : float
        Rural reference temperature and urban-heat-island magnitude, °C.
    radius_m : float
        Air-mixing distance r, m.
    workers : int
        FFT threads.

    Returns
    -------
    numpy.ndarray
        float64 °C, NaN outside the region.
    """
    valid = np.isfinite(hm)
    t_nomix = t_ref_degC + (1.0 - np.where(valid, hm, 0.0)) * uhi_max_degC
    return _normalised_smooth(
        t_nomix, valid, _exponential_kernel(radius_m, res_m, hm.shape), workers
    )


@dataclass(frozen=True)
class CoolingResult:
    """Rasters of the urban cooling model (float64, NaN outside the region).

    Attributes
    ----------
    cc : numpy.ndarray
        Cooling capacity (-).
    cc_park : numpy.ndarray
        Park cooling (-).
    ga_m2 : numpy.ndarray
        Green area within d_cool (m²).
    hm : numpy.ndarray
        Heat mitigation index (-).
    green : numpy.ndarray
        bool green-area flag.
    t_air_degC : numpy.ndarray or None
        Air temperature (°C) when t_ref_degC and uhi_max_degC are given.
    """

    cc: np.ndarray
    cc_park: np.ndarray
    ga_m2: np.ndarray
    hm: np.ndarray
    green: np.ndarray
    t_air_degC: np.ndarray | None = None


def urban_cooling(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    res_m: float,
    params: Mapping[str, Any] | None = None,
    *,
    et0_mm: float | np.ndarray | None = None,
    nodata_code: int = 0,
    workers: int = -1,
) -> CoolingResult:
    """Run the InVEST Urban Cooling Model (factors method) on a land-cover array.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes, ``nodata_code`` outside the region.
    legend : BiophysicalTable
        Biophysical values.
    res_m : float
        Cell size, m (square cells).
    params : mapping, optional
        Keys of :data:`DEFAULT_PARAMS` used here: ``cc_weights``, ``cooling_distance_m``,
        ``green_area_min_m2``, ``et0_mm``, ``t_ref_degC``, ``uhi_max_degC``, ``t_air_radius_m``.
    et0_mm : float or numpy.ndarray, optional
        ET0 raster (mm) overriding ``params["et0_mm"]``.
    nodata_code : int
        Code of cells outside the region.
    workers : int
        FFT threads.

    Returns
    -------
    CoolingResult
    """
    p = climate_params(params)
    res_m = _num(res_m, "res_m", lo=0.0, strict=True)
    lc, valid = _codes(lc_codes, legend, nodata_code, None)
    et0 = p["et0_mm"] if et0_mm is None else et0_mm
    kc = np.where(valid, legend.kc[lc], np.nan)
    cc = cooling_capacity(
        legend.shade[lc], legend.albedo[lc], evapotranspiration_index(kc, et0), p["cc_weights"]
    )
    cc[~valid] = np.nan
    green = (legend.green_area[lc] == 1.0) & valid
    cc_park, ga = park_cooling(
        cc, green, res_m, p["cooling_distance_m"], valid=valid, workers=workers
    )
    hm = heat_mitigation_index(cc, cc_park, ga, p["green_area_min_m2"])
    t_air = None
    if p["t_ref_degC"] is not None:
        t_air = air_temperature(
            hm, res_m, p["t_ref_degC"], p["uhi_max_degC"], p["t_air_radius_m"], workers=workers
        )
    return CoolingResult(cc=cc, cc_park=cc_park, ga_m2=ga, hm=hm, green=green, t_air_degC=t_air)


def heat_mitigation(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    res_m: float,
    params: Mapping[str, Any] | None = None,
    *,
    nodata_code: int = 0,
    workers: int = -1,
) -> np.ndarray:
    """Heat mitigation index HM (-) of a land-cover array; NaN outside the region.

    Shortcut for ``urban_cooling(...).hm``. For a local re-evaluation after an intervention, pass a
    window with a margin of at least 5·d_cool around the change: beyond that the change has no effect.

    Examples
    --------
    >>> import numpy as np
    >>> legend = BiophysicalTable.from_classes([
    ...     {"code": 1, "name": "paving", "shade": 0, "albedo": 0.1, "kc": 0.1, "green_area": 0,
    ...      "cn": {"A": 98, "B": 98, "C": 98, "D": 98}, "storage_mm": 0, "sealed": 1},
    ...     {"code": 2, "name": "grass", "shade": 0, "albedo": 0.22, "kc": 0.8, "green_area": 1,
    ...      "cn": {"A": 39, "B": 61, "C": 74, "D": 80}, "storage_mm": 0, "sealed": 0}],
    ...     natural_reference={"grassland": "grass"})
    >>> hm = heat_mitigation(np.array([[1, 2]], dtype=np.uint8), legend, 10.0)
    >>> [round(float(v), 3) for v in hm[0]]
    [0.04, 0.204]
    """
    return urban_cooling(
        lc_codes, legend, res_m, params, nodata_code=nodata_code, workers=workers
    ).hm


def cool_spots(
    hm: np.ndarray,
    green: np.ndarray,
    res_m: float,
    *,
    hm_min: float = 0.3,
    min_area_m2: float = 10_000.0,
) -> np.ndarray:
    """Label cool spots: 8-connected green cells with HM >= ``hm_min`` covering >= ``min_area_m2``.

    Parameters
    ----------
    hm : numpy.ndarray
        Heat mitigation index (-), NaN outside the region.
    green : numpy.ndarray
        Green-area flag.
    res_m : float
        Cell size, m.
    hm_min : float
        Minimum HM of a cool-spot cell (-).
    min_area_m2 : float
        Minimum contiguous area, m².

    Returns
    -------
    numpy.ndarray
        int32 labels 1..n of the cool spots, 0 elsewhere.
    """
    with np.errstate(invalid="ignore"):
        cand = np.asarray(green, dtype=bool) & (np.nan_to_num(hm, nan=-np.inf) >= hm_min)
    labels, n = ndimage.label(cand, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels.ravel()) * (res_m * res_m)
    keep = sizes >= min_area_m2 - 1e-9
    keep[0] = False
    new = np.zeros(n + 1, dtype=np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new[labels]


# --------------------------------------------------------------------------------------------------
# water: SCS curve number (InVEST UFRM)
# --------------------------------------------------------------------------------------------------


def scs_potential_retention_mm(cn: np.ndarray | float) -> np.ndarray:
    """Potential maximum retention S = 25400/CN - 254 (mm); CN = 0 gives 100 000 mm (InVEST UFRM).

    Parameters
    ----------
    cn : array_like
        Curve number 0..100.

    Returns
    -------
    numpy.ndarray
        S_max, mm.

    Examples
    --------
    >>> [round(float(s), 3) for s in scs_potential_retention_mm([100, 0, 65, 90, 30])]
    [0.0, 100000.0, 136.769, 28.222, 592.667]
    """
    cn = np.asarray(cn, dtype=np.float64)
    if np.any(~np.isfinite(cn) | (cn < 0) | (cn > 100)):
        raise WerklandInputError("curve numbers must lie in 0..100", path="cn")
    safe = np.where(cn > 0, cn, 1.0)
    return np.where(cn > 0, 25400.0 / safe - 254.0, CN0_RETENTION_MM)


def scs_runoff_mm(p_mm: np.ndarray | float, cn: np.ndarray | float, lam: float = 0.2) -> np.ndarray:
    """SCS curve-number event runoff Q (mm) for rain P (mm).

    Q = (P - λS)² / (P + (1 - λ)S) if P > λS else 0, with S from
    :func:`scs_potential_retention_mm`. P = 0 gives Q = 0 (never NaN).

    Parameters
    ----------
    p_mm : array_like
        Event rainfall depth, mm (>= 0).
    cn : array_like
        Curve number 0..100; broadcast against ``p_mm``.
    lam : float
        Initial-abstraction ratio λ (TR-55: 0.2).

    Returns
    -------
    numpy.ndarray
        Runoff depth Q, mm (0 <= Q <= P).

    Examples
    --------
    >>> round(float(scs_runoff_mm(70, 98)), 1), round(float(scs_runoff_mm(70, 61)), 1)
    (64.1, 7.0)
    """
    p = np.asarray(p_mm, dtype=np.float64)
    if np.any(~np.isfinite(p) | (p < 0)):
        raise WerklandInputError(
            "rain depth must be a finite number >= 0 mm", path="storm depth_mm"
        )
    if not (0.0 <= lam < 1.0):
        raise WerklandInputError(f"initial-abstraction ratio {lam} is not in [0, 1)", path="lambda")
    s = scs_potential_retention_mm(cn)
    ia = lam * s
    wet = p > ia
    num = np.where(wet, p - ia, 0.0)
    den = np.where(wet, p + (1.0 - lam) * s, 1.0)
    return np.where(wet, num * num / den, 0.0)


def _soil_index(soil_group: str | np.ndarray, shape: tuple[int, ...]) -> int | np.ndarray:
    if isinstance(soil_group, str):
        g = soil_group.upper()
        if g not in SOIL_GROUPS:
            raise WerklandInputError(
                f"soil group {soil_group!r}", path="soil_group", fix="use A, B, C or D"
            )
        return SOIL_GROUPS.index(g)
    arr = np.asarray(soil_group)
    if arr.shape != shape or not np.issubdtype(arr.dtype, np.integer):
        raise WerklandInputError(
            "a soil-group raster must be integer 1..4 (A..D) of the land-cover shape",
            path="soil_group",
        )
    if arr.size and (arr.min() < 1 or arr.max() > 4):
        raise WerklandInputError("soil-group raster values must be 1..4 (A..D)", path="soil_group")
    return arr.astype(np.intp) - 1


def runoff_mm(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    storm_mm: float,
    soil_group: str | np.ndarray = "B",
    lam: float = 0.2,
    *,
    storage: bool = True,
    nodata_code: int = 0,
) -> np.ndarray:
    """Event runoff (mm) of a land-cover array: SCS-CN runoff minus the class's explicit storage.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D integer legend codes, ``nodata_code`` outside the region.
    legend : BiophysicalTable
        Curve numbers (per soil group) and ``storage_mm`` per class.
    storm_mm : float
        Design-storm depth P, mm (>= 0; 0 gives zeros).
    soil_group : str or numpy.ndarray
        ``"A"``..``"D"`` for the whole region, or an integer raster 1..4 (A..D, InVEST UFRM style).
    lam : float
        Initial-abstraction ratio λ.
    storage : bool
        Subtract ``storage_mm`` (wadi, pond, retention-roof event storage over the cell), not below 0.
    nodata_code : int
        Code of cells outside the region.

    Returns
    -------
    numpy.ndarray
        float64 runoff depth over the cell, mm; NaN outside the region.

    Notes
    -----
    There is no routing: storage only captures the rain that falls on its own cell. The per-park
    summary adds a pooled variant in which all storage of a park takes runoff from the whole park.
    """
    lc, valid = _codes(lc_codes, legend, nodata_code, None)
    p = _num(storm_mm, "storm depth_mm", lo=0.0)
    gi = _soil_index(soil_group, lc.shape)
    if isinstance(gi, int):
        # one value per class: look-up table of 256 entries, then index
        table = scs_runoff_mm(p, np.nan_to_num(legend.cn[:, gi], nan=0.0), lam)
        if storage:
            table = np.maximum(table - np.nan_to_num(legend.storage_mm, nan=0.0), 0.0)
        q = table[lc]
    else:
        q = scs_runoff_mm(p, np.nan_to_num(legend.cn, nan=0.0)[lc, gi], lam)
        if storage:
            q = np.maximum(q - legend.storage_mm[lc], 0.0)
    q[~valid] = np.nan
    return q


def natural_reference_landcover(
    lc_codes: np.ndarray,
    legend: BiophysicalTable,
    setting: str = "grassland",
    *,
    nodata_code: int = 0,
) -> np.ndarray:
    """Land cover with every cell of the region replaced by the class of the natural setting.

    Parameters
    ----------
    lc_codes : numpy.ndarray
        2-D legend codes.
    legend : BiophysicalTable
        Holds ``natural_reference`` (setting -> class).
    setting : str
        ``"grassland"``, ``"woodland"``, ``"wetland"`` (or another key of the legend's mapping).
    nodata_code : int
        Code of cells outside the region (kept).

    Returns
    -------
    numpy.ndarray
        uint8 codes.
    """
    code = legend.natural_code(setting)
    lc = np.asarray(lc_codes)
    return np.where(lc != nodata_code, code, nodata_code).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# per-park summary and the file-level entry point
# --------------------------------------------------------------------------------------------------


def _read_parks(region_gpkg: str | os.PathLike[str], grid: Grid) -> Any:
    import geopandas as gpd
    import shapely

    where = f"{region_gpkg} (layer parks)"
    try:
        parks = gpd.read_file(region_gpkg, layer="parks", engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError
        raise unreadable("layer 'parks'", exc, str(region_gpkg),
                         "run the region stage first; the file needs a layer 'parks' with column park_id") from exc
    if "park_id" not in parks.columns:
        raise WerklandInputError(
            "no column 'park_id'", path=where, fix="the parks layer needs a park_id column"
        )
    if parks.crs is None:
        raise WerklandInputError(
            "parks layer has no CRS", path=where, fix="write the layer with its CRS"
        )
    parks = parks.copy()
    parks["park_id"] = parks["park_id"].astype(str)
    dup = parks["park_id"][parks["park_id"].duplicated()].unique().tolist()
    if dup:
        raise WerklandInputError(
            f"duplicate park_id {dup}", path=where, fix="give each park its own id"
        )
    if not parks.crs.equals(grid.crs):
        LOGGER.info("reprojecting parks from %s to the land-cover CRS", parks.crs.to_string())
        parks = parks.to_crs(grid.crs.to_wkt())
    geoms = parks.geometry.values
    bad = ~shapely.is_valid(np.asarray(geoms)) & ~shapely.is_missing(np.asarray(geoms))
    if bad.any():
        LOGGER.info("repaired %d invalid park geometries", int(bad.sum()))
        parks.loc[bad, "geometry"] = shapely.make_valid(np.asarray(geoms)[bad])
    return parks


def _read_buildings(
    landcover_gpkg: str | os.PathLike[str] | None, building_class: str, grid: Grid
) -> Any:
    """Building polygons from landcover.gpkg (layer landcover, class == building_class), or None."""
    if landcover_gpkg is None:
        return None
    import geopandas as gpd

    if not Path(landcover_gpkg).exists():
        raise WerklandInputError(
            "file not found", path=str(landcover_gpkg), fix="run the land-cover stage first"
        )
    cls_sql = building_class.replace("'", "''")
    try:
        gdf = gpd.read_file(
            landcover_gpkg,
            layer="landcover",
            engine="pyogrio",
            where=f"\"class\" = '{cls_sql}'",
            columns=["class"],
        )
    except Exception as exc:
        raise unreadable("layer 'landcover'", exc, str(landcover_gpkg),
                         "the file needs a layer 'landcover' with a column 'class'") from exc
    if gdf.empty:
        return None
    if gdf.crs is None:
        raise WerklandInputError("layer landcover has no CRS", path=str(landcover_gpkg))
    if not gdf.crs.equals(grid.crs):
        gdf = gdf.to_crs(grid.crs.to_wkt())
    gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    return gdf if len(gdf) else None


def _cool_spot_polygons(labels: np.ndarray, grid: Grid) -> list[Any]:
    from rasterio.features import shapes
    from shapely.geometry import shape

    mask = labels > 0
    if not mask.any():
        return []
    return [
        shape(geom)
        for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=grid.transform)
    ]


def _park_window(geom: Any, grid: Grid) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) of the cells the geometry's bounds touch, clipped to the grid."""
    xmin, ymin, xmax, ymax = geom.bounds
    x0, y0, res = grid.transform.c, grid.transform.f, grid.res_m
    c0 = max(0, int(math.floor((xmin - x0) / res)))
    c1 = min(grid.width, int(math.ceil((xmax - x0) / res)))
    r0 = max(0, int(math.floor((y0 - ymax) / res)))
    r1 = min(grid.height, int(math.ceil((y0 - ymin) / res)))
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


def _park_mask(geom: Any, grid: Grid, win: tuple[int, int, int, int]) -> np.ndarray:
    from affine import Affine
    from rasterio.features import rasterize

    r0, r1, c0, c1 = win
    tr = grid.transform * Affine.translation(c0, r0)
    shape = (r1 - r0, c1 - c0)
    m = rasterize([(geom, 1)], out_shape=shape, transform=tr, fill=0, dtype="uint8").astype(bool)
    if not m.any():  # a park smaller than a cell: take the cells it touches
        m = rasterize(
            [(geom, 1)], out_shape=shape, transform=tr, fill=0, dtype="uint8", all_touched=True
        ).astype(bool)
    return m


def summarise_parks(
    parks: Any,
    grid: Grid,
    lc: np.ndarray,
    legend: BiophysicalTable,
    cooling: CoolingResult,
    runoff: Mapping[str, np.ndarray],
    natural_runoff: Mapping[str, np.ndarray],
    pooled_q: Mapping[str, np.ndarray],
    storms: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    buildings: Any = None,
) -> pd.DataFrame:
    """One row of heat and water figures per park (units in the column names; never NaN).

    Parameters
    ----------
    parks : geopandas.GeoDataFrame
        ``park_id``, optional ``name``, geometry in ``grid.crs``.
    grid : Grid
        Land-cover grid.
    lc : numpy.ndarray
        Land-cover codes (0 outside the region).
    legend : BiophysicalTable
        Biophysical values (sealed, storage_mm, building class).
    cooling : CoolingResult
        Output of :func:`urban_cooling`.
    runoff, natural_runoff : mapping of str to numpy.ndarray
        Runoff (mm) per storm name with storage, of the actual and the natural-reference land cover.
    pooled_q : mapping of str to numpy.ndarray
        SCS runoff (mm) per storm before storage, for the pooled-storage figure.
    storms : sequence of mapping
        ``{"name", "depth_mm"}``.
    params : mapping
        Validated parameters (:func:`climate_params`).
    buildings : geopandas.GeoDataFrame or None
        Building polygons; None = use building cells of the raster.

    Returns
    -------
    pandas.DataFrame
        Columns documented in :func:`run_climate`.
    """
    cell_m2 = grid.cell_area_m2
    valid = lc != 0
    labels = cool_spots(
        cooling.hm,
        cooling.green,
        grid.res_m,
        hm_min=params["cool_spot_hm"],
        min_area_m2=params["cool_spot_min_area_m2"],
    )
    n_spots = int(labels.max()) if labels.size else 0
    dist_m = params["cool_spot_distance_m"]
    near_building: np.ndarray | None = None
    building_cells: np.ndarray | None = None
    if buildings is not None:
        import shapely

        polys = _cool_spot_polygons(labels, grid)
        bgeoms = np.asarray(buildings.geometry.values)
        near_building = np.zeros(len(bgeoms), dtype=bool)
        if polys:
            # candidate pairs by envelope, then an exact distance test against *prepared* cool-spot
            # polygons (indexed facet distance: ~10x faster than STRtree's dwithin predicate)
            spots = np.asarray(polys, dtype=object)
            shapely.prepare(spots)
            xmin, ymin, xmax, ymax = shapely.bounds(bgeoms).T
            env = shapely.box(xmin - dist_m, ymin - dist_m, xmax + dist_m, ymax + dist_m)
            bi, sj = shapely.STRtree(spots).query(env)
            ok = shapely.dwithin(spots[sj], bgeoms[bi], dist_m)
            near_building[bi[ok]] = True
        bpoints = shapely.point_on_surface(bgeoms)
        btree = shapely.STRtree(bpoints)
    else:
        bcode = (
            legend.code_of(params["building_class"])
            if params["building_class"] in legend.names.values()
            else None
        )
        if bcode is not None:
            building_cells = lc == bcode
            if n_spots:
                dist = ndimage.distance_transform_edt(labels == 0, sampling=grid.res_m)
                near_cells = building_cells & (dist <= dist_m)
            else:
                near_cells = np.zeros_like(building_cells)
    sealed = np.nan_to_num(legend.sealed, nan=0.0)[lc]
    store = np.nan_to_num(legend.storage_mm, nan=0.0)[lc]
    rows: list[dict[str, Any]] = []
    for _, park in parks.iterrows():
        geom = park.geometry
        notes: list[str] = []
        row: dict[str, Any] = {"park_id": park["park_id"]}
        if "name" in parks.columns:
            row["name"] = "" if pd.isna(park["name"]) else str(park["name"])
        poly_area = 0.0 if geom is None or geom.is_empty else float(geom.area)
        row["polygon_area_m2"] = poly_area
        win = None if geom is None or geom.is_empty else _park_window(geom, grid)
        if win is not None:
            r0, r1, c0, c1 = win
            m = _park_mask(geom, grid, win) & valid[r0:r1, c0:c1]
            sl = (slice(r0, r1), slice(c0, c1))
        else:
            m = np.zeros((0, 0), dtype=bool)
            sl = (slice(0, 0), slice(0, 0))
        n = int(m.sum())
        area = n * cell_m2
        row["area_m2"] = area
        if n == 0:
            notes.append(
                "park covers no cell of the region's land-cover grid (zero area, or outside the region): "
                "all figures set to 0"
            )
        hm = cooling.hm[sl][m]
        row["hm_mean"] = float(hm.mean()) if n else 0.0
        row["hm_below_threshold_share"] = float((hm < params["hm_threshold"]).mean()) if n else 0.0
        if cooling.t_air_degC is not None:
            t = cooling.t_air_degC[sl][m]
            row["t_air_mean_degC"] = float(t.mean()) if n else 0.0
            row["t_air_anomaly_degC"] = float(t.mean() - params["t_ref_degC"]) if n else 0.0
        # buildings within the cool-spot distance
        if buildings is not None:
            idx = (
                btree.query(geom, predicate="intersects")
                if n or poly_area > 0
                else np.zeros(0, dtype=int)
            )
            nb = len(idx)
            row["buildings_n"] = nb
            row["buildings_near_cool_spot_share"] = float(near_building[idx].mean()) if nb else 0.0
            if nb == 0 and n:
                notes.append(
                    "no building polygons in the park: buildings_near_cool_spot_share set to 0"
                )
        elif building_cells is not None:
            bc = building_cells[sl][m]
            nb = int(bc.sum())
            row["buildings_n"] = 0
            row["buildings_near_cool_spot_share"] = (
                float(near_cells[sl][m][bc].mean()) if nb else 0.0
            )
            if n:
                notes.append(
                    "no building polygons: buildings_near_cool_spot_share is the share of building cells"
                    + ("" if nb else " (none in the park, set to 0)")
                )
        else:
            row["buildings_n"] = 0
            row["buildings_near_cool_spot_share"] = 0.0
            if n:
                notes.append(
                    "legend has no building class: buildings_near_cool_spot_share set to 0"
                )
        # sealing and storage
        sealed_m2 = float(sealed[sl][m].sum()) * cell_m2
        existing_m3 = float(store[sl][m].sum()) * cell_m2 / 1000.0
        required_m3 = params["storage_norm_mm"] * sealed_m2 / 1000.0
        row["sealed_area_m2"] = sealed_m2
        row["sealed_share"] = sealed_m2 / area if n else 0.0
        row["storage_existing_m3"] = existing_m3
        row["storage_required_m3"] = required_m3
        row["storage_needed_m3"] = max(0.0, required_m3 - existing_m3)
        for storm in storms:
            s = storm["name"]
            q = float(runoff[s][sl][m].sum()) * cell_m2 / 1000.0
            qn = float(natural_runoff[s][sl][m].sum()) * cell_m2 / 1000.0
            qp = max(0.0, float(pooled_q[s][sl][m].sum()) * cell_m2 / 1000.0 - existing_m3)
            row[f"runoff_{s}_m3"] = q
            row[f"runoff_{s}_mm"] = q / area * 1000.0 if n else 0.0
            row[f"runoff_pooled_storage_{s}_m3"] = qp
            row[f"natural_runoff_{s}_m3"] = qn
            row[f"excess_{s}_m3"] = q - qn
            row[f"excess_{s}_mm"] = (q - qn) / area * 1000.0 if n else 0.0
            if storm["depth_mm"] == 0:
                notes.append(f"storm {s} has 0 mm of rain: runoff and excess are 0")
        row["cool_spots_in_region_n"] = n_spots
        row["note"] = "; ".join(notes)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["park_id", "area_m2", "note"])
    num = df.select_dtypes(include=[np.number]).columns
    df[num] = df[num].fillna(0.0)  # belt and braces: the contract is "never NaN"
    df["note"] = df["note"].fillna("")
    return df


def run_climate(
    landcover_tif: str | os.PathLike[str],
    landcover_gpkg: str | os.PathLike[str] | None,
    region_gpkg: str | os.PathLike[str],
    legend_yaml: str | os.PathLike[str],
    out_cooling_tif: str | os.PathLike[str],
    out_runoff_tifs: Mapping[str, str | os.PathLike[str]],
    out_summary_csv: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Climate-adaptation baseline of a region: heat mitigation and design-storm runoff per park.

    Parameters
    ----------
    landcover_tif : path-like
        ``results/{region}/landcover.tif`` (uint8 legend codes, nodata 0 outside the region, metric CRS).
    landcover_gpkg : path-like or None
        ``results/{region}/landcover.gpkg``; building polygons are the features of layer
        ``landcover`` with ``class == params["building_class"]``. None (or no such polygons): the
        building cells of the raster are used.
    region_gpkg : path-like
        ``results/{region}/region.gpkg`` with layer ``parks`` (``park_id``, ``name``).
    legend_yaml : path-like
        ``config/landcover_classes.yaml`` with the biophysical values and ``natural_reference``.
    out_cooling_tif : path-like
        Output HM raster (float32, -, nodata -1 outside the region).
    out_runoff_tifs : mapping of str to path-like
        Output runoff raster (float32, mm, nodata -1) per storm name; keys must equal the storm names.
    out_summary_csv : path-like
        Output table, one row per park.
    params : mapping, optional
        Keys and defaults of :data:`DEFAULT_PARAMS` (validated by :func:`climate_params`).
    threads : int, optional
        FFT threads (default: all cores).

    Returns
    -------
    pandas.DataFrame
        The summary written to ``out_summary_csv``. Columns: ``park_id``, ``name``,
        ``polygon_area_m2``, ``area_m2`` (park cells inside the region), ``hm_mean``,
        ``hm_below_threshold_share``, [``t_air_mean_degC``, ``t_air_anomaly_degC``], ``buildings_n``,
        ``buildings_near_cool_spot_share``, ``sealed_area_m2``, ``sealed_share``,
        ``storage_existing_m3``, ``storage_required_m3``, ``storage_needed_m3`` and per storm
        ``runoff_<s>_m3``, ``runoff_<s>_mm``, ``runoff_pooled_storage_<s>_m3``,
        ``natural_runoff_<s>_m3``, ``excess_<s>_m3``, ``excess_<s>_mm`` (negative = less than the
        natural reference), ``cool_spots_in_region_n``, ``note``.

    Raises
    ------
    WerklandInputError
        Bad parameters, unreadable inputs, a land-cover class without biophysical values, storms
        and output paths that do not match.
    """
    p = climate_params(params)
    workers = -1 if threads is None else max(1, int(threads))
    storm_names = [s["name"] for s in p["storms"]]
    if set(out_runoff_tifs) != set(storm_names):
        raise WerklandInputError(
            f"runoff outputs {sorted(out_runoff_tifs)} do not match the storms {storm_names}",
            path="climate params: storms",
            fix="give one output path per storm name (climate/runoff_<storm>.tif)",
        )
    legend = load_biophysical(legend_yaml)
    natural_code = legend.natural_code(p["natural_setting"])
    lc, grid, nodata = read_raster(landcover_tif)
    assert_metric(grid.crs, where=str(landcover_tif))
    if (
        abs(grid.transform.a + grid.transform.e) > 1e-9 * grid.res_m
        or grid.transform.b
        or grid.transform.d
    ):
        raise WerklandInputError(
            "land-cover raster must be north-up with square cells",
            path=str(landcover_tif),
            fix="re-run the land-cover stage",
        )
    if nodata not in (None, 0):
        raise WerklandInputError(
            f"nodata is {nodata}, expected 0 (outside the region)",
            path=str(landcover_tif),
            fix="re-run the land-cover stage",
        )
    lc, _ = _codes(lc, legend, 0, str(landcover_tif))
    valid = lc != 0
    # read every input before writing anything: a bad parks layer leaves no partial output
    parks = _read_parks(region_gpkg, grid)
    buildings = _read_buildings(landcover_gpkg, p["building_class"], grid)
    LOGGER.info(
        "%d parks, %s building polygons", len(parks), "no" if buildings is None else len(buildings)
    )
    LOGGER.info(
        "land cover %s: %d x %d cells of %.3g m, %d in the region",
        landcover_tif,
        *grid.shape,
        grid.res_m,
        int(valid.sum()),
    )

    cooling = urban_cooling(lc, legend, grid.res_m, p, workers=workers)
    crs_tag = grid.crs.to_string()
    write_raster(
        out_cooling_tif,
        np.where(valid, cooling.hm, _NODATA_OUT).astype(np.float32),
        grid,
        nodata=_NODATA_OUT,
        tags={
            "quantity": "heat mitigation index HM (InVEST Urban Cooling, factors method)",
            "units": "dimensionless, 0..1",
            "crs": crs_tag,
            "nodata_meaning": "outside the region",
            "cc_weights": p["cc_weights"],
            "cooling_distance_m": p["cooling_distance_m"],
            "green_area_min_m2": p["green_area_min_m2"],
            "eti": "kc (constant ET0)" if p["et0_mm"] is None else "kc * ET0 / ET_max",
        },
        description="HM (-)",
    )
    LOGGER.info(
        "heat mitigation: mean HM %.3f over the region",
        float(np.nanmean(cooling.hm)) if valid.any() else 0.0,
    )

    lam, sg = p["lambda"], p["soil_group"]
    natural_lc = np.where(valid, natural_code, 0).astype(np.uint8)
    runoff: dict[str, np.ndarray] = {}
    natural: dict[str, np.ndarray] = {}
    pooled: dict[str, np.ndarray] = {}
    for storm in p["storms"]:
        s, depth = storm["name"], storm["depth_mm"]
        if depth == 0:
            LOGGER.warning("storm %s has 0 mm of rain: its runoff is 0 everywhere", s)
        runoff[s] = runoff_mm(lc, legend, depth, sg, lam)
        natural[s] = runoff_mm(natural_lc, legend, depth, sg, lam)
        pooled[s] = runoff_mm(lc, legend, depth, sg, lam, storage=False)
        write_raster(
            out_runoff_tifs[s],
            np.where(valid, runoff[s], _NODATA_OUT).astype(np.float32),
            grid,
            nodata=_NODATA_OUT,
            tags={
                "quantity": f"event runoff of storm {s} (SCS curve number minus explicit storage)",
                "units": "mm",
                "crs": crs_tag,
                "nodata_meaning": "outside the region",
                "storm_depth_mm": depth,
                "initial_abstraction_ratio": lam,
                "soil_group": sg,
            },
            description=f"runoff {s} (mm)",
        )
        LOGGER.info(
            "storm %s (%.4g mm): mean runoff %.2f mm",
            s,
            depth,
            float(np.nanmean(runoff[s])) if valid.any() else 0.0,
        )

    df = summarise_parks(
        parks, grid, lc, legend, cooling, runoff, natural, pooled, p["storms"], p, buildings
    )
    write_csv(df, out_summary_csv)
    LOGGER.info("wrote %s (%d parks)", out_summary_csv, len(df))
    return df
