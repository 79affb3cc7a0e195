"""Parameters of the species stage (``species:`` in the config, plus the region's source)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkland.params.base import StageParams


@dataclass(frozen=True)
class SpeciesParams(StageParams):
    """GBIF acquisition, cleaning and counting of one region's occurrence records.

    Every field but ``source``, ``file_path`` and ``table`` is the key of the same name in the
    config's ``species`` section (its description, unit and default are in the schema).

    Attributes
    ----------
    source : str
        ``auto``, ``api``, ``download``, ``file``, ``table`` or ``none`` (the region's
        ``species_source``).
    file_path : str or None
        GBIF download zip or table for ``source: file`` (the region's ``species_file``).
    table : dict or None
        The region's ``species_table`` (``path``, ``preset``, ``columns``, ``crs``, ...) for
        ``source: table``.
    """

    source: str
    file_path: str | None
    table: dict[str, Any] | None
    api_base_url: str
    refresh_cache: bool
    year_min: int | None
    year_max: int | None
    basis_of_record: tuple[str, ...]
    taxon_keys: tuple[int, ...] | None
    extra_query: dict[str, Any] | None
    timeout_s: tuple[float, ...]
    max_retries: int
    backoff_s: float
    max_records: int
    wkt_simplify_m: float
    wkt_max_chars: int
    download_format: str
    download_poll_s: float
    download_max_wait_s: float
    max_member_bytes: int
    drop_issues: tuple[str, ...]
    drop_rounded_coordinates: bool
    max_coordinate_precision_deg: float | None
    uncertainty_max_m: float
    uncertainty_rel_factor: float
    uncertainty_cap_m: float
    keep_missing_uncertainty: bool
    default_uncertainties_m: tuple[float, ...]
    rarefy_m: int | str
    rarefy_min_records: int
    top_n: int
    national_red_list_csv: str | None
    resolve_names: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any], region: Mapping[str, Any]) -> SpeciesParams:
        """From the validated config and the region's effective settings
        (:func:`werkland.config.region_settings`)."""
        s = config["species"]
        keys = [f for f in cls.__dataclass_fields__ if f not in ("source", "file_path", "table")]
        values: dict[str, Any] = {k: s[k] for k in keys}
        for k in ("basis_of_record", "drop_issues", "timeout_s", "default_uncertainties_m"):
            values[k] = tuple(values[k])
        if values["taxon_keys"] is not None:
            values["taxon_keys"] = tuple(int(v) for v in values["taxon_keys"])
        return cls(
            source=str(region.get("species_source") or "auto"),
            file_path=region.get("species_file") or None,
            table=dict(region["species_table"]) if region.get("species_table") else None,
            **values,
        )


def species_table_inputs(region: Mapping[str, Any]) -> list[str]:
    """Files the species rule reads for a region's monitoring table (the table and its preset file).

    Empty unless ``species_source`` is ``table``; a preset named without ``.yaml`` is
    ``config/mappings/<preset>.yaml``.
    """
    spec = region.get("species_table") or {}
    if region.get("species_source") != "table" or not spec.get("path"):
        return []
    out = [str(spec["path"])]
    preset = spec.get("preset")
    if preset:
        out.append(str(preset) if str(preset).endswith((".yaml", ".yml")) else f"config/mappings/{preset}.yaml")
    return out
