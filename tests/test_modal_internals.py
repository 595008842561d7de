"""The contract with the Modal SDK's private names: they live in platform/modal_internals.py
only, and this fails loudly, naming each one, on a modal version where they moved."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from conftest import REPO
from packaging.specifiers import SpecifierSet

from modalfleet.platform import modal_internals
from modalfleet.platform.modal_internals import TESTED_MODAL, contract_problems

PRIVATE = re.compile(r"(^|\.)_[A-Za-z]")


def test_pyproject_pins_modal_to_the_tested_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (modal,) = [d for d in project["dependencies"] if d.startswith("modal")]
    assert modal == f"modal{TESTED_MODAL}"


def test_the_installed_modal_is_in_the_tested_range():
    assert version("modal") in SpecifierSet(TESTED_MODAL), version("modal")


def test_every_private_name_used_is_where_it_was():
    assert contract_problems() == []


def test_a_moved_name_is_reported_by_name(monkeypatch):
    from modal._utils import async_utils
    from modal.client import _Client

    monkeypatch.delattr(async_utils, "RETRY_N_ATTEMPTS_OVERRIDE")
    monkeypatch.delattr(_Client, "_stub")
    assert contract_problems() == [
        "modal.client._Client._stub: AttributeError: type object '_Client' has no attribute '_stub'",
        "modal._utils.async_utils.RETRY_N_ATTEMPTS_OVERRIDE: not as expected",
    ]


def _private_modal_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modal"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [f"{path.name}:{node.lineno}: {n}" for n in names if PRIVATE.search(n)]
        elif isinstance(node, ast.Attribute) and node.attr in ("_stub", "_Client"):
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_no_other_module_touches_modals_private_names():
    package = REPO / "modalfleet"
    uses = [
        use
        for path in sorted(package.rglob("*.py"))
        if path != Path(modal_internals.__file__)
        for use in _private_modal_uses(path)
    ]
    assert uses == []
    assert _private_modal_uses(Path(modal_internals.__file__))  # the scan does find them there
