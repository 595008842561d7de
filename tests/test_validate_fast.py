"""The compiled schema validator (jsonschema-rs) only ever says "valid": never a different verdict.

load.schema_problems asks it first and goes to python-jsonschema for the messages when it
fails a document. So the one thing that must hold is: whatever python-jsonschema rejects, the
fast validator rejects too (else a problem would be silently skipped). Checked on every YAML
file of the bad-input corpus, on hand-made documents at the edges of the types, and on the
bundled fleet (which it must pass, or the speed-up is lost).
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from modalfleet.fleet import load
from modalfleet.fleet.yamlread import read_yaml

CASES = Path(__file__).parent / "cases"


def kind_of(path: Path) -> str | None:
    if path.name == "models.yaml":
        return "models"
    if path.name == "gpus.yaml":
        return "gpus"
    if path.parent.name == "strategies" and path.suffix in (".yaml", ".yml"):
        return "strategy"
    return None


def corpus() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(CASES.rglob("*.y*ml")):
        kind = kind_of(path)
        if kind is not None:
            found.append((path, kind))
    return found


def reference_errors(data, kind: str) -> list[str]:
    return [error.message for error in load._validator(kind).iter_errors(data)]


@pytest.mark.parametrize(
    "path,kind",
    corpus(),
    ids=lambda value: str(value.relative_to(CASES)) if isinstance(value, Path) else value,
)
def test_every_corpus_document_python_jsonschema_rejects_the_fast_one_rejects(path, kind):
    doc, problems = read_yaml(path, path.name)
    if problems:  # unreadable YAML never reaches the schema
        return
    if reference_errors(doc.data, kind):
        assert load._surely_valid(doc.data, kind) is False


def test_the_corpus_holds_schema_failures_of_each_file_kind():
    # The parametrized test above must actually cover rejections, not only valid files.
    rejected = set()
    for path, kind in corpus():
        doc, problems = read_yaml(path, path.name)
        if not problems and reference_errors(doc.data, kind):
            rejected.add(kind)
    assert rejected == {"models", "gpus", "strategy"}


def test_the_bundled_fleet_passes_the_fast_validator():
    for relative, kind in [
        ("models.yaml", "models"),
        ("gpus.yaml", "gpus"),
        *[
            (f"strategies/{p.name}", "strategy")
            for p in sorted((REPO / "strategies").glob("*.yaml"))
        ],
    ]:
        doc, problems = read_yaml(REPO / relative, relative)
        assert problems == []
        assert load._surely_valid(doc.data, kind) is True, relative
        assert reference_errors(doc.data, kind) == []


def bundled_models() -> dict:
    doc, _ = read_yaml(REPO / "models.yaml", "models.yaml")
    return doc.data


@pytest.mark.parametrize(
    "edit,expected",
    [
        # bool is not an integer in JSON Schema, though it is one in Python
        (lambda m: m["models"]["flux-dev"]["traffic"].update(requests_per_day=True), "True is not"),
        # required beside a $ref (2020-12 applies both; draft 7 would drop the sibling)
        (lambda m: m["models"]["flux-dev"].update(containers={"min_containers": -1}), "-1 is less"),
        # a non-string mapping key: the fast validator cannot take it at all
        (lambda m: m["models"]["flux-dev"]["params"].update({3: 4}), None),
        # a YAML date where a string belongs
        (
            lambda m: m["models"]["flux-dev"].update(description=datetime.date(2025, 1, 2)),
            "is not of type 'string'",
        ),
        # a string where the const 1 belongs
        (lambda m: m.update(version="1"), "1 was expected"),
    ],
)
def test_edge_documents_get_the_reference_verdict(edit, expected):
    data = bundled_models()
    edit(data)
    errors = reference_errors(data, "models")
    if expected is None:
        assert load._surely_valid(data, "models") is (not errors)
        return
    assert any(expected in message for message in errors), errors
    assert load._surely_valid(data, "models") is False


def test_a_cold_validate_of_a_valid_fleet_does_not_import_python_jsonschema():
    code = (
        "import sys\n"
        "from modalfleet.cli import main\n"
        "status = main(['validate', '--root', sys.argv[1]])\n"
        "print(status, 'jsonschema' in sys.modules, 'jsonschema_rs' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, cwd=REPO
    )
    assert result.stdout.splitlines()[-1] == "0 False True", result.stdout + result.stderr
