"""The problem-code registry (modalfleet/fleet/codes.py) holds every code the code can report,
the bad-input corpus has a folder per code, and acknowledge accepts exactly the codes that warn."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from conftest import REPO

from modalfleet.fleet.codes import BY_CODE, CODES, markdown_table

FLEET = REPO / "modalfleet" / "fleet"


def codes_reported_in(path: Path) -> set[str]:
    """First arguments of problem(...) calls and code=... keywords, and _code_for's returns."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("problem", "Problem") and node.args:
                if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    found.add(keyword.value.value)
        if isinstance(node, ast.FunctionDef) and node.name == "_code_for":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Constant):
                    found.add(inner.value.value)
    return found


def test_every_code_the_loader_and_checks_report_is_registered():
    reported = set().union(*(codes_reported_in(path) for path in FLEET.glob("*.py")))
    assert len(reported) > 15  # the scan finds the codes (guards the test itself)
    assert reported - set(BY_CODE) == set()


def test_the_bad_input_corpus_covers_registered_codes_only():
    folders = {p.name for p in (REPO / "tests" / "cases").iterdir() if p.is_dir()} - {"ok"}
    assert folders - set(BY_CODE) == set()


def test_acknowledge_accepts_exactly_the_codes_that_can_warn():
    schema = json.loads((REPO / "modalfleet" / "schema" / "models.schema.json").read_text())
    items = schema["$defs"]["model"]["properties"]["acknowledge"]["items"]
    assert items["properties"]["code"]["enum"] == [c.code for c in CODES if c.can_warn]


def test_the_markdown_table_has_one_row_per_code():
    rows = markdown_table().splitlines()
    assert rows[0] == "| code | severity | what it means |"
    assert len(rows) == 2 + len(CODES)
    assert "| `vram-fit` | error | a GPU of some strategy has less VRAM" in markdown_table()
