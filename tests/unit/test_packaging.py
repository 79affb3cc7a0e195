"""The workflow's conda mirror file lists exactly the pip stack of pyproject.toml; no snakemake in src/."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_env_file_mirrors_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "workflow" / "envs" / "werkland.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # the pins, then werkland itself (editable, relative to workflow/envs/) for --sdm conda
    assert pip == [*deps, "-e ../..[demo]"]


def test_library_never_imports_snakemake():
    offenders = [p.name for p in (ROOT / "src" / "werkland").glob("*.py")
                 if "import snakemake" in p.read_text() or "from snakemake" in p.read_text()]
    assert offenders == []


def test_every_rule_script_exists_and_is_thin():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.strip().startswith('"../../scripts/'):
                script = ROOT / line.strip().strip('"').replace("../../", "")
                assert script.exists(), script
                body = script.read_text()
                assert body.lstrip().startswith('"""'), f"{script.name} needs a module docstring"
                assert len(body.splitlines()) < 80, f"{script.name} is not a thin adapter"
