"""Parameters of the land-cover stage: a region's sources, parks, CRS, grid and clip box."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkland._errors import WerklandInputError
from werkland.params.base import StageParams

#: Land-cover source types (``type`` of a ``land_cover`` entry).
SOURCE_TYPES: tuple[str, ...] = ("osm", "vector", "raster", "bgt")


def _required(settings: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in settings:
        raise WerklandInputError(f"missing {key!r}", path=where,
                                 fix="validate the config first (werkland.config.validate_config fills the defaults)")
    return settings[key]


def _names(value: Sequence[Any] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


@dataclass(frozen=True)
class LandcoverSource(StageParams):
    """One land-cover source (an entry of ``land_cover``).

    Attributes
    ----------
    type : str
        ``osm`` (PBF extract), ``vector`` (any OGR layer with a class field), ``raster``
        (categorical) or ``bgt`` (PDOK BGT download).
    path : str
        The file (for ``bgt`` also a folder of GML-light files).
    class_field : str or None
        ``vector``: the column with the source class.
    layer : str or None
        ``vector``: the layer of a multi-layer file.
    mapping : dict, str or None
        ``vector``/``raster``: source value -> legend class (``None`` skips the value); ``bgt``:
        path of a mapping file (``None``: ``config/mappings/bgt.yaml``).
    """

    type: str
    path: str
    class_field: str | None
    layer: str | None
    mapping: dict[Any, Any] | str | None

    @classmethod
    def from_setting(cls, src: Mapping[str, Any], where: str) -> LandcoverSource:
        """From one validated ``land_cover`` entry (``where`` names it in errors)."""
        kind = str(_required(src, "type", where))
        if kind not in SOURCE_TYPES:
            raise WerklandInputError(f"unknown source type {kind!r}", path=f"{where}.type",
                                     fix=f"use {', '.join(SOURCE_TYPES)}")
        mapping = src.get("mapping")
        return cls(
            type=kind,
            path=str(_required(src, "path", where)),
            class_field=src.get("class_field"),
            layer=src.get("layer"),
            mapping=dict(mapping) if isinstance(mapping, Mapping) else mapping,
        )


@dataclass(frozen=True)
class ParksParams(StageParams):
    """Business parks of a region (``parks:``): derived from OSM land use, or read from a file.

    Attributes
    ----------
    from_landuse : tuple of str
        OSM ``landuse`` values that make a park.
    min_area_m2 : float
        Smaller derived parks are dropped, m².
    names : tuple of str or None
        Only derived parks with these OSM names.
    file : str or None
        Vector file of park polygons (instead of deriving them).
    id_field : str
        Id column of the parks file.
    ids : tuple of str or None
        Only these park ids of the file.
    name_field : str or None
        Name column of the parks file.
    """

    from_landuse: tuple[str, ...]
    min_area_m2: float
    names: tuple[str, ...] | None
    file: str | None
    id_field: str
    ids: tuple[str, ...] | None
    name_field: str | None

    @classmethod
    def from_setting(cls, parks: Mapping[str, Any], where: str) -> ParksParams:
        """From the validated ``parks`` mapping of a region (schema defaults filled)."""
        return cls(
            from_landuse=tuple(str(v) for v in _required(parks, "from_landuse", where)),
            min_area_m2=float(_required(parks, "min_area_m2", where)),
            names=_names(parks.get("names")),
            file=str(parks["file"]) if parks.get("file") else None,
            id_field=str(_required(parks, "id_field", where)),
            ids=_names(parks.get("ids")),
            name_field=str(parks["name_field"]) if parks.get("name_field") else None,
        )


@dataclass(frozen=True)
class LandcoverParams(StageParams):
    """Land-cover stage of one region (its effective settings, :func:`werkland.config.region_settings`).

    Attributes
    ----------
    sources : tuple of LandcoverSource
        The region's ``land_cover`` sources, in configuration order.
    parks : ParksParams
        How the region's business parks are found.
    crs : str or int
        ``"auto"`` or an EPSG code.
    resolution_m : float
        Raster cell size, m.
    context_buffer_m : float
        The analysis region is the parks buffered by this distance, m.
    fill_class : str or None
        Class of cells inside the region that no source covers.
    clip_lonlat : tuple of 4 float or None
        (west, south, east, north) in degrees: the region never extends beyond it.
    """

    sources: tuple[LandcoverSource, ...]
    parks: ParksParams
    crs: str | int
    resolution_m: float
    context_buffer_m: float
    fill_class: str | None
    clip_lonlat: tuple[float, float, float, float] | None

    @classmethod
    def from_region(cls, settings: Mapping[str, Any], *, where: str = "config: region") -> LandcoverParams:
        """From a region's effective settings (validated config: schema defaults filled).

        Raises
        ------
        WerklandInputError
            A missing setting or an unknown source type (naming the key).
        """
        sources = _required(settings, "land_cover", where)
        clip = settings.get("clip_lonlat")
        return cls(
            sources=tuple(LandcoverSource.from_setting(s, f"{where}.land_cover[{i}]") for i, s in enumerate(sources)),
            parks=ParksParams.from_setting(_required(settings, "parks", where), f"{where}.parks"),
            crs=_required(settings, "crs", where),
            resolution_m=float(_required(settings, "resolution_m", where)),
            context_buffer_m=float(_required(settings, "context_buffer_m", where)),
            fill_class=_required(settings, "fill_class", where),
            clip_lonlat=None if clip is None else (float(clip[0]), float(clip[1]), float(clip[2]), float(clip[3])),
        )


__all__ = ["SOURCE_TYPES", "LandcoverParams", "LandcoverSource", "ParksParams"]
