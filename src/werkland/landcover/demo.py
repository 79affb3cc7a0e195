"""The embedded demo region: pyrosm's bundled OpenStreetMap test extract (offline)."""

from __future__ import annotations

import os
import shutil
from importlib import resources

from werkland._errors import WerklandInputError
from werkland.raster.io import atomic_path, sha256_file

DEMO_ATTRIBUTION = "(c) OpenStreetMap contributors, ODbL 1.0 (extract shipped with pyrosm as test.osm.pbf)"


def demo_pbf_path() -> str:
    """Path of ``pyrosm/data/test.osm.pbf`` in the installed pyrosm package (not imported, only located)."""
    try:
        ref = resources.files("pyrosm") / "data" / "test.osm.pbf"
    except ModuleNotFoundError as exc:
        raise WerklandInputError("pyrosm is not installed", path="demo data", fix="run `make demo` (installs it)") from exc
    if not ref.is_file():
        raise WerklandInputError("pyrosm does not ship data/test.osm.pbf", path=str(ref), fix="pip install 'pyrosm>=0.6.2'")
    return str(ref)


def copy_demo_pbf(out_path: str | os.PathLike[str]) -> str:
    """Copy the demo extract to ``out_path`` atomically; return its SHA-256."""
    src = demo_pbf_path()
    with atomic_path(out_path) as tmp:
        shutil.copyfile(src, tmp)
    return sha256_file(out_path)


__all__ = ["DEMO_ATTRIBUTION", "copy_demo_pbf", "demo_pbf_path"]
