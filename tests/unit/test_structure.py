"""The library's shape: modules small enough to read, no import cycles, private names kept inside
their package, the architecture document in agreement with the data contract (werkland.layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from werkland.layout import architecture_table

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "werkland"
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _package_of(module: str, is_package: bool) -> str:
    """The stage package a module belongs to (``werkland.connectivity`` for
    ``werkland.connectivity.links``); top-level modules are their own package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")
                pkg = pkg[: len(pkg) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            out.append((base, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def test_no_module_over_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: split them"


def test_private_names_stay_inside_their_package():
    mods = _modules()
    offenders = []
    for module, path in mods.items():
        own = _package_of(module, path.name == "__init__.py")
        for base, names in _imports(path, module):
            if not base.startswith("werkland"):
                continue
            target = _package_of(base, False)
            for name in names:
                if name.startswith("_") and not name.startswith("__") and target != own:
                    offenders.append(f"{module} imports {base}.{name}")
            last = base.rsplit(".", 1)[-1]
            if last.startswith("_") and _package_of(base, False) != own and not base.startswith("werkland._kernels") \
                    and not base.startswith("werkland._errors"):
                offenders.append(f"{module} imports private module {base}")
    assert offenders == []


def test_no_import_cycles_between_packages():
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in mods.items():
        own = _package_of(module, path.name == "__init__.py")
        for base, names in _imports(path, module):
            if base.startswith("werkland"):
                targets = {_package_of(base, False)}
                if base == "werkland":
                    targets = {f"werkland.{n}" for n in names}
                for t in targets:
                    if t != own and t in {_package_of(m, False) for m in mods}:
                        graph.setdefault(own, set()).add(t)
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)


def test_architecture_document_lists_the_layout():
    """docs/architecture.md carries the table werkland.layout generates (python -m werkland.layout)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert architecture_table() in doc
