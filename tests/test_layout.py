"""The package layout (docs/architecture.md): one subpackage per stage, imports pointing one way.

Every import of every module (also those inside functions) is read with ``ast``; a module may
import only from its own stage or the stages above it, generation never imports training, and
no two modules import each other, directly or through a chain.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "heggs"

#: stages in data-flow order; a module may import its own stage and those listed before it
STAGES = ["config", "folders", "store", "traveltimes", "ingest", "condition", "data", "plots", "inspect", "simulate",
          "model", "checkpoint", "train", "scenario", "output", "generate", "evaluate", "cli"]
#: pairs (importer stage, imported stage) forbidden although the order would allow them
FORBIDDEN = {("generate", "train"), ("evaluate", "train")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the heggs modules ``path`` imports (relative imports resolved)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("heggs"):
                continue
            for alias in node.names:  # ``from heggs.x import y`` may name a module y
                sub = f"{target}.{alias.name}"
                out.add(sub if _exists(sub) else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("heggs")}
    out.discard(mod)
    return {m for m in out if m != "heggs"}


def _exists(mod: str) -> bool:
    p = PKG.parent / Path(*mod.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _stage(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "heggs"


GRAPH = {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def test_every_module_belongs_to_a_stage():
    stray = sorted(m for m in GRAPH if m != "heggs" and _stage(m) not in STAGES)
    assert not stray, f"modules outside the stage list of docs/architecture.md: {stray}"


@pytest.mark.parametrize("mod", sorted(m for m in GRAPH if m != "heggs"))
def test_imports_point_one_way(mod):
    rank = STAGES.index(_stage(mod))
    for imp in sorted(GRAPH[mod]):
        s = _stage(imp)
        assert s in STAGES, f"{mod} imports {imp}, which is not in a stage"
        assert STAGES.index(s) <= rank, f"{mod} (stage {_stage(mod)}) imports {imp} (stage {s}, below it)"
        assert (_stage(mod), s) not in FORBIDDEN, f"{mod} imports {imp}: {_stage(mod)} must not import {s}"


def test_no_import_cycle():
    seen: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        for n in sorted(GRAPH.get(m, ())):
            if seen.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n in GRAPH and not seen.get(n):
                visit(n, stack + [n])
        seen[m] = 2

    for m in GRAPH:
        if not seen.get(m):
            visit(m, [m])


def test_one_class_per_name():
    names: dict[str, list[str]] = {}
    for p in PKG.rglob("*.py"):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.ClassDef):
                names.setdefault(node.name, []).append(_module_name(p))
    twice = {k: v for k, v in names.items() if len(v) > 1}
    assert not twice, f"classes defined twice: {twice}"
