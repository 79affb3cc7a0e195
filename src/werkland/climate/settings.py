"""Climate settings as a plain mapping: the form the pure functions and the interventions stage accept.

The stage itself takes :class:`werkland.params.ClimateParams` (built from the validated config, whose
defaults live in ``workflow/schemas/config.schema.yaml``). The pure model functions
(:func:`~werkland.climate.cooling.urban_cooling`, ...) also accept a partial mapping of the same keys
(``{"cooling_distance_m": 30.0}``), completed with :data:`DEFAULT_PARAMS`: the schema defaults of the
``climate`` section, restated here for callers without a config (a unit test checks that both agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from werkland._errors import WerklandInputError
from werkland.params.climate import ClimateParams

__all__ = ["DEFAULT_PARAMS", "as_params", "climate_params"]

#: The schema defaults of the config's ``climate`` section (see the schema for descriptions and units).
#: Values marked (estimate) are werkland choices to tune locally; see ``shared/notes/climate.md``.
DEFAULT_PARAMS: dict[str, Any] = {
    # --- heat (InVEST Urban Cooling) ---
    # cooling-capacity weights; renormalised to sum 1 (InVEST defaults)
    "cc_weights": {"shade": 0.6, "albedo": 0.2, "eti": 0.2},
    # d_cool: green-area cooling distance, m. InVEST UG recommends 450 m for city-scale 30 m
    # rasters; 100-250 m for 1-10 m business-park rasters (climate.md 1.1, estimate)
    "cooling_distance_m": 100.0,
    # green area within d_cool above which parks cool their surroundings, m² (InVEST: 2 ha)
    "green_area_min_m2": 20_000.0,
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

# None means "off" for these keys; for the others None falls back to the default.
_OPTIONAL = ("t_ref_degC", "uhi_max_degC")


def as_params(params: ClimateParams | Mapping[str, Any] | None = None) -> ClimateParams:
    """The parameters as :class:`ClimateParams`: as given, or a mapping completed with the defaults.

    Parameters
    ----------
    params : ClimateParams or mapping or None
        Typed parameters (returned unchanged), or keys of :data:`DEFAULT_PARAMS` (``None`` values of
        the non-optional keys and missing ``cc_weights`` entries take the default; ``soil_group``
        may be lower case).

    Raises
    ------
    WerklandInputError
        An unknown key (naming the closest valid one) or an invalid value.
    """
    if isinstance(params, ClimateParams):
        return params
    given = dict(params or {})
    merged: dict[str, Any] = {k: v for k, v in given.items() if k not in DEFAULT_PARAMS}
    for key, default in DEFAULT_PARAMS.items():
        val = given.get(key)
        merged[key] = default if (val is None and key not in _OPTIONAL) else val
    weights = merged["cc_weights"]
    if isinstance(weights, Mapping):
        merged["cc_weights"] = {**DEFAULT_PARAMS["cc_weights"], **weights}
    if isinstance(merged["soil_group"], str):
        merged["soil_group"] = merged["soil_group"].upper()
    return ClimateParams.from_section(merged)


def climate_params(params: ClimateParams | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Complete and validate climate settings as a plain dict (config key names).

    Parameters
    ----------
    params : ClimateParams or mapping or None
        As :func:`as_params`.

    Returns
    -------
    dict
        Every key of :data:`DEFAULT_PARAMS`; ``cc_weights`` renormalised to sum 1, ``storms`` as a
        list of ``{"name": str, "depth_mm": float}``, ``soil_group`` upper case, numbers as floats.

    Raises
    ------
    WerklandInputError
        As :func:`as_params`.
    """
    p = as_params(params)
    out = p.as_section()
    out["cc_weights"] = p.weights
    return out


def _num(val: Any, where: str, *, lo: float | None = None, strict: bool = False) -> float:
    """``val`` as a finite float (>= ``lo``, or > ``lo`` when ``strict``), else WerklandInputError."""
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
