"""Shared fixtures: paths to the project tables and to ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
LEGEND = ROOT / "config" / "landcover_classes.yaml"
GUILDS = ROOT / "config" / "guilds.yaml"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the shared reference data beside the project); not present on this machine")
    return p


@pytest.fixture(scope="session")
def legend():
    from werkland.tables import load_legend

    return load_legend(LEGEND)


@pytest.fixture(scope="session")
def guilds(legend):
    from werkland.tables import load_guilds

    return load_guilds(GUILDS, legend)
