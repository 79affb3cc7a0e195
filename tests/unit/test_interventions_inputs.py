"""InterventionInputs.from_rule: the interventions rule's named inputs give the files of the data contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from werkland.interventions import InterventionInputs
from werkland.layout import RegionPaths

iocontainers = pytest.importorskip("snakemake.iocontainers", reason="snakemake is not installed")

GUILDS = ("hedgehog", "woodland_birds")
STORMS = ("T10", "T100")


def _rule_inputs(paths: RegionPaths, *, user: list[str], hydrology: bool = True) -> object:
    """A Snakemake Namedlist with the interventions rule's named inputs (as the rule declares them)."""
    named: dict = {
        "landcover_tif": str(paths.landcover_tif), "landcover_gpkg": str(paths.landcover_gpkg),
        "region": str(paths.region_gpkg),
        "habitat": [str(paths.habitat(g)) for g in GUILDS],
        "resistance": [str(paths.resistance(g)) for g in GUILDS],
        "patches": [str(paths.patches_tif(g)) for g in GUILDS],
        "links": [str(paths.links(g)) for g in GUILDS],
        "barriers": str(paths.barriers_all), "climate": str(paths.climate_summary),
        "legend": "config/legend.yaml", "guilds_table": "config/guilds.yaml", "catalogue": "config/interventions.yaml",
        "user_candidates": user,
    }
    if hydrology:
        named.update({"soil_group": str(paths.soil_group), "ghg": str(paths.ghg),
                      "infiltration": str(paths.infiltration), "flow_accumulation": str(paths.flow_accumulation),
                      "ponding": [str(paths.ponding(s)) for s in STORMS]})
    return iocontainers.Namedlist(fromdict=named)


def test_from_rule_equals_from_layout(tmp_path: Path) -> None:
    paths = RegionPaths(tmp_path / "results", "demo")
    got = InterventionInputs.from_rule(
        _rule_inputs(paths, user=["user.gpkg"]), GUILDS, STORMS, out_candidates_gpkg=paths.candidates,
        out_portfolio_csv=str(paths.portfolio), out_park_totals_csv=paths.park_totals,
        out_after_habitat=[str(paths.after_habitat(g)) for g in GUILDS], out_after_summary_csv=str(paths.after_summary),
    )
    want = InterventionInputs.from_layout(
        paths, GUILDS, legend_yaml="config/legend.yaml", guilds_yaml="config/guilds.yaml",
        catalogue_yaml="config/interventions.yaml", user_candidates="user.gpkg", storms=STORMS,
    )
    assert got == want
    assert list(got.ponding) == list(STORMS) and isinstance(got.habitat["hedgehog"], Path)


def test_from_rule_without_outputs_user_layer_or_hydrology(tmp_path: Path) -> None:
    paths = RegionPaths(tmp_path / "results", "demo")
    got = InterventionInputs.from_rule(_rule_inputs(paths, user=[], hydrology=False), GUILDS, STORMS)
    assert got.user_candidates is None
    assert (got.soil_group, got.ghg, got.infiltration, got.flow_accumulation, got.ponding) == (None, None, None, None, {})
    assert got.out_candidates_gpkg == Path("") and got.out_park_totals_csv == Path("")
    assert got.out_after_summary_csv is None and got.out_after_habitat == {}  # the after-state is not written


def test_from_rule_guild_count_mismatch(tmp_path: Path) -> None:
    paths = RegionPaths(tmp_path / "results", "demo")
    with pytest.raises(ValueError):
        InterventionInputs.from_rule(_rule_inputs(paths, user=[]), GUILDS[:1], STORMS)
