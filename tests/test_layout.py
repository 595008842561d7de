"""The package's folders are layers and imports only run downward (read with ast, nothing executed).

fleet (bottom) <- generate, economics <- platform <- cli; report is usable by every layer and
imports nothing of the package; runtime ships into the containers and imports only itself.
modal and torch are imported only in platform/ and runtime/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modalfleet"

# Which folders each folder may import (itself always allowed).
ALLOWED = {
    "": set(),  # modalfleet/__init__.py
    "report": set(),
    "fleet": {"report"},
    "generate": {"fleet", "report"},
    "economics": {"fleet", "report"},
    "platform": {"fleet", "generate", "economics", "report"},
    "cli": {"fleet", "generate", "economics", "platform", "report"},
    "runtime": set(),
    "schema": set(),
}
HEAVY = {"modal", "modal_proto", "torch"}
HEAVY_ALLOWED = {"platform", "runtime"}


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: Path) -> list[tuple[str, int, bool]]:
    """(absolute module imported, line, at module level) for every import in the file."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import a, b: each name may be a module
                    found += [
                        (f"{target}.{alias.name}", node.lineno, id(node) in top_level)
                        for alias in node.names
                    ]
                    continue
            else:
                target = node.module or ""
            found.append((target, node.lineno, id(node) in top_level))
    return found


def folder_of(module: str) -> str | None:
    """The layer a modalfleet module belongs to; None for anything outside the package."""
    parts = module.split(".")
    if parts[0] != "modalfleet":
        return None
    if len(parts) == 1:
        return ""
    return parts[1] if parts[1] in ALLOWED else ""


def layering_problems(package: Path) -> list[str]:
    problems = []
    graph: dict[str, set[str]] = {}
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    for path in sorted(package.rglob("*.py")):
        name = module_name(path, package)
        mine = folder_of(name)
        rel = path.relative_to(package.parent)
        for target, line, top in imports_of(path, package):
            root = target.split(".")[0]
            if root in HEAVY and mine not in HEAVY_ALLOWED:
                problems.append(f"{rel}:{line}: imports {target} outside platform/ and runtime/")
            theirs = folder_of(target)
            if theirs is None:
                continue
            if theirs != mine and theirs not in ALLOWED[mine]:
                problems.append(f"{rel}:{line}: {mine or 'modalfleet'}/ imports {target} (upward)")
            if top:
                # resolve `from pkg import module` to the module when it is one
                node = target if target in modules else target.rsplit(".", 1)[0]
                if node in modules and node != name:
                    graph.setdefault(name, set()).add(node)
    problems += [f"circular import: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_package_has_no_upward_circular_or_heavy_import():
    assert layering_problems(PACKAGE) == []


def test_every_folder_says_what_it_may_import():
    for folder in ("fleet", "generate", "economics", "platform", "report", "cli", "runtime"):
        init = PACKAGE / folder / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{folder}/__init__.py has no opening docstring"


@pytest.fixture
def fake_package(tmp_path):
    package = tmp_path / "modalfleet"
    for folder in ("fleet", "economics", "platform", "report"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    return package


def test_the_checker_catches_an_upward_import(fake_package):
    (fake_package / "fleet" / "spec.py").write_text("def f():\n    from ..economics import cost\n")
    (fake_package / "economics" / "cost.py").write_text("")
    assert layering_problems(fake_package) == [
        "modalfleet/fleet/spec.py:2: fleet/ imports modalfleet.economics (upward)"
    ]


def test_the_checker_catches_modal_outside_platform_and_a_cycle(fake_package):
    (fake_package / "economics" / "a.py").write_text("import modal\nfrom . import b\n")
    (fake_package / "economics" / "b.py").write_text("from .a import x\n")
    (fake_package / "platform" / "ok.py").write_text("import modal\n")
    assert layering_problems(fake_package) == [
        "modalfleet/economics/a.py:1: imports modal outside platform/ and runtime/",
        "circular import: modalfleet.economics.a -> modalfleet.economics.b -> modalfleet.economics.a",
    ]
