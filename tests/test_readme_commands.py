"""Every command the README shows runs as written on a fresh clone.

The README's shell code blocks are parsed: each `snakemake` command is run as a dry run (`-n` added
when absent) from the project root, and each `make <target>` named anywhere in the README must be a
target of the Makefile. The docs carry no "issue N" references.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SHARED_DATA = ROOT.parent / "shared" / "data"
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
DRY_RUN_FLAGS = {"-n", "--dry-run", "--dryrun"}
MAKE_OPTIONS_WITH_VALUE = {"-C", "-f", "-I", "-j", "-l", "-o", "-W"}
FENCE = re.compile(r"^( *)```(\S*)\s*$")


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced code block, indentation of the fence removed."""
    blocks: list[tuple[str, list[str]]] = []
    lines: list[str] | None = None
    lang, indent = "", 0
    for line in text.splitlines():
        m = FENCE.match(line)
        if lines is None and m:
            lines, lang, indent = [], m.group(2).lower(), len(m.group(1))
        elif lines is not None and m and len(m.group(1)) == indent and not m.group(2):
            blocks.append((lang, lines))
            lines = None
        elif lines is not None:
            lines.append(line[indent:] if line[:indent].strip() == "" else line)
    assert lines is None, "README.md has an unclosed code block"
    return blocks


def shell_commands(text: str) -> list[list[str]]:
    """argv of every command in the shell code blocks (comments dropped, `\\` continuations joined)."""
    commands = []
    for lang, lines in code_blocks(text):
        if lang not in SHELL_LANGS:
            continue
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


def snakemake_commands(text: str) -> list[list[str]]:
    return [argv for argv in shell_commands(text) if Path(argv[0]).name == "snakemake"]


def make_targets(text: str) -> set[str]:
    """Targets of every `make ...` in code blocks and inline code spans."""
    targets = set()
    spans = [" ".join(argv) for argv in shell_commands(text)] + re.findall(r"`([^`\n]+)`", text)
    for span in spans:
        argv = shlex.split(span)
        if argv and argv[0] == "make":
            skip = False
            for arg in argv[1:]:
                if not skip and not arg.startswith("-") and "=" not in arg:
                    targets.add(arg)
                skip = arg in MAKE_OPTIONS_WITH_VALUE
    return targets


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def needs_shared_data(argv: list[str]) -> bool:
    """True when a --configfile of the command reads ../shared/data."""
    files = []
    for i, arg in enumerate(argv):
        if arg in ("--configfile", "--configfiles"):
            files += [a for a in argv[i + 1 :] if not a.startswith("-")][:1]
        elif arg.startswith("--configfile="):
            files.append(arg.split("=", 1)[1])
    return any("../shared/data" in (ROOT / f).read_text(encoding="utf-8") for f in files if (ROOT / f).exists())


def dry_run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [str(SNAKEMAKE), *argv[1:]]
    if not DRY_RUN_FLAGS & set(cmd):
        cmd.append("-n")
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


README_TEXT = README.read_text(encoding="utf-8")
SNAKEMAKE_COMMANDS = snakemake_commands(README_TEXT)


def test_parser_sees_the_readme_commands():
    # the README shows at least the two make commands and a plain and an example-config snakemake run
    assert {"demo", "test"} <= make_targets(README_TEXT)
    assert ["snakemake", "--cores", "2"] in [[Path(a[0]).name, *a[1:]] for a in SNAKEMAKE_COMMANDS]
    assert any("--configfile" in argv for argv in SNAKEMAKE_COMMANDS)


def test_parser_handles_comments_continuations_and_indented_fences():
    text = (
        "```bash\nmake demo   # runs it\nsnakemake --cores 2 \\\n    results/x.tif  # one output\n```\n"
        "* item\n\n  ```yaml\n  snakemake: not a command\n  ```\n\n  ```bash\n  snakemake -n\n  ```\n"
        "Also `make lint` and `make -C . report CORES=1`.\n"
    )
    assert shell_commands(text) == [
        ["make", "demo"],
        ["snakemake", "--cores", "2", "results/x.tif"],
        ["snakemake", "-n"],
    ]
    assert make_targets(text) == {"demo", "lint", "report"}


def test_every_make_target_named_in_the_readme_exists():
    missing = make_targets(README_TEXT) - makefile_targets()
    assert not missing, f"README names make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_every_make_target_named_in_the_readme_plans():
    for target in sorted(make_targets(README_TEXT)):
        res = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"make -n {target}:\n{res.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("argv", SNAKEMAKE_COMMANDS, ids=[" ".join(a[1:]) or "(no args)" for a in SNAKEMAKE_COMMANDS])
def test_readme_snakemake_command_dry_runs(argv):
    if needs_shared_data(argv) and not SHARED_DATA.is_dir():
        pytest.skip(f"the command's config reads {SHARED_DATA} (shared reference data), absent here")
    res = dry_run(argv)
    assert res.returncode == 0, f"{' '.join(argv)} (dry run) failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"


@pytest.mark.slow
def test_example_config_stands_alone():
    """The README's example-config run plans only the example's regions (no merge with config.yaml)."""
    examples = [a for a in SNAKEMAKE_COMMANDS if any("config/examples/" in x for x in a)]
    assert examples, "the README shows no example-config run"
    for argv in examples:
        if needs_shared_data(argv) and not SHARED_DATA.is_dir():
            pytest.skip(f"the example reads {SHARED_DATA} (shared reference data), absent here")
        res = dry_run(argv)
        assert res.returncode == 0, res.stderr[-3000:]
        regions = set(re.findall(r"\bresults/([a-z0-9][a-z0-9-]*)/", res.stdout + res.stderr))
        regions -= {"logs", "benchmarks"}
        assert regions, "the dry run planned no region outputs"
        assert "demo" not in regions, f"{' '.join(argv)} also plans the demo region of config/config.yaml"


def test_docs_carry_no_issue_references():
    """README, config docs and the docs (bar architecture.md, which is generated) cite no tracker issues."""
    files = [README, ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pattern = re.compile(r"\bissues? *#?\d", re.IGNORECASE)
    hits = [
        f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
        for f in files
        if f.name != "architecture.md"
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_config_readme_lists_every_schema_key():
    """config/README.md has a line for every key of workflow/schemas/config.schema.yaml."""
    import yaml

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    doc = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    wanted = []
    for key, spec in schema["properties"].items():
        nested = spec.get("properties", {}) if key not in ("region_defaults", "regions") else {}
        wanted += [f"`{key}.{sub}`" for sub in nested] or [f"`{key}`"]
    for name in ("region", "source", "parks"):
        wanted += [f"`{key}`" for key in schema["$defs"][name].get("properties", {})]
    missing = [w for w in wanted if w not in doc]
    assert not missing, f"config/README.md does not document: {', '.join(missing)}"
