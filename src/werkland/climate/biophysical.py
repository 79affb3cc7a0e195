"""Biophysical values of the land-cover legend: the lookup tables of the heat and water models.

``config/landcover_classes.yaml`` gives every class its canopy shade, albedo, crop coefficient, green
area flag, SCS curve numbers per hydrologic soil group, explicit event storage and sealed fraction,
plus the ``natural_reference`` mapping (natural setting -> class) of the natural-reference runoff.
:class:`BiophysicalTable` holds them as arrays indexed by class code, so a land-cover raster looks
them up with one fancy index.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from werkland._errors import WerklandInputError
from werkland.params.climate import SOIL_GROUPS

__all__ = ["DEFAULT_NATURAL_REFERENCE", "SOIL_GROUPS", "BiophysicalTable", "load_biophysical"]

#: Natural settings and the legend class each stands for, used when the legend has no
#: ``natural_reference`` mapping of its own.
DEFAULT_NATURAL_REFERENCE: dict[str, str] = {
    "grassland": "grass",
    "woodland": "woodland",
    "wetland": "wetland",
}

_BIO_SCALARS = ("shade", "albedo", "kc", "green_area", "storage_mm", "sealed")


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

    def check_raster(
        self, lc_codes: np.ndarray, nodata_code: int = 0, *, raster: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check a land-cover array against the legend: its codes as uint8 and the region mask.

        Parameters
        ----------
        lc_codes : numpy.ndarray
            2-D integer legend codes.
        nodata_code : int
            Code of cells outside the region.
        raster : str, optional
            The raster the codes came from, named in error messages.

        Returns
        -------
        codes : numpy.ndarray
            uint8 codes (no copy when the input is uint8 already).
        valid : numpy.ndarray
            bool, cells inside the region (code != ``nodata_code``).

        Raises
        ------
        WerklandInputError
            Not a 2-D integer array of codes 0..255, or a code without complete biophysical values
            (:meth:`check_codes`).
        """
        lc = np.asarray(lc_codes)
        where = raster or "land cover"
        if lc.ndim != 2:
            raise WerklandInputError(f"land cover must be 2-D, got shape {lc.shape}", path=where)
        if not np.issubdtype(lc.dtype, np.integer):
            raise WerklandInputError(f"land cover must hold integer codes, not {lc.dtype}", path=where)
        if lc.size and (lc.min() < 0 or lc.max() > 255):
            raise WerklandInputError("land-cover codes outside 0..255", path=where)
        lc = lc.astype(np.uint8, copy=False)
        valid = lc != nodata_code
        present = np.flatnonzero(np.bincount(lc[valid].ravel(), minlength=256))
        self.check_codes(present.tolist(), raster=raster)
        return lc, valid

    def natural_code(self, setting: str) -> int:
        """Code of the class a natural setting (``grassland``/``woodland``/``wetland``) stands for."""
        if setting not in self.natural_reference:
            raise WerklandInputError(
                f"unknown natural setting {setting!r}",
                path="config: climate.natural_setting",
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

