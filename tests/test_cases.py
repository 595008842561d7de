"""The bad-input corpus: every folder under tests/cases/<code>/<case>/ is one test.

A case folder holds only the files that differ from the bundled fleet (models.yaml,
strategies/<name>.yaml, gpus.yaml) and an expect.yaml:

    exit: 1                      # expected exit code of `validate`
    args: [--strict]             # optional extra arguments
    remove: [strategies]         # optional: paths deleted from the copy before the run
    grow: {file: models.yaml, bytes: 5000000}   # optional: pad a file with comments
    build: {file: models.yaml, head: "..", repeat: "[", times: 50000, close: "]", tail: ".."}
    problems:                    # each must be reported exactly here
      - {code: vram-fit, file: models.yaml, line: 14, column: 58, severity: error,
         message: <substring>, hint: <substring>}

Beyond the listed problems, no other *error* code may appear, so a case cannot pass because
of an unrelated mistake in its file. Every case also asserts: no traceback, and generated/
byte for byte as it was after `validate` and after `render` (which must exit 1 on errors).
A case without errors must render: every output parses, the description round-trips as the
exact literal (`literal:` in expect.yaml), and a second render writes nothing.
"""

from __future__ import annotations

import ast
import json
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from conftest import copy_fleet, run_cli

CASES = Path(__file__).parent / "cases"
CASE_DIRS = sorted(path.parent for path in CASES.glob("*/*/expect.yaml"))


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> content); a missing root is an empty tree."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def load_case(case_dir: Path) -> dict:
    return yaml.safe_load((case_dir / "expect.yaml").read_text("utf-8"))


def build_case(case_dir: Path, dest: Path) -> tuple[Path, dict]:
    """The bundled fleet in dest with the case's files laid over it."""
    expect = load_case(case_dir)
    root = copy_fleet(dest)
    for relative in expect.get("remove", []):
        target = root / relative
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for source in sorted(case_dir.rglob("*")):
        if source.is_file() and source.name != "expect.yaml":
            target = root / source.relative_to(case_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    if build := expect.get("build"):  # large hostile text, made at test time, not stored
        times = build["times"]
        text = build.get("head", "") + build["repeat"] * times + build.get("close", "") * times
        text += build.get("tail", "")
        (root / build["file"]).write_text(text, encoding="utf-8")
    if grow := expect.get("grow"):
        target = root / grow["file"]
        padding = b"# " + b"x" * 97 + b"\n"  # 100-byte comment lines
        with target.open("ab") as handle:
            while handle.tell() < grow["bytes"]:
                handle.write(padding)
    return root, expect


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert "internal error" not in text, text


def case_id(case_dir: Path) -> str:
    return f"{case_dir.parent.name}/{case_dir.name}"


@pytest.mark.parametrize("case_dir", CASE_DIRS, ids=case_id)
def test_case(case_dir: Path, tmp_path: Path) -> None:
    root, expect = build_case(case_dir, tmp_path / "fleet")
    generated_before = tree_bytes(root / "generated")

    result = run_cli("validate", "--format", "json", *expect.get("args", []), root=root)

    assert_no_traceback(result.text)
    assert result.exit_code == expect["exit"], result.text
    reported = json.loads(result.output)
    for wanted in expect["problems"]:
        matches = [
            found
            for found in reported
            if all(
                found[key] == wanted[key] for key in ("code", "file", "line", "column", "severity")
            )
        ]
        assert matches, f"expected {wanted}\nreported:\n{json.dumps(reported, indent=1)}"
        for key in ("message", "hint"):
            if key in wanted:
                assert any(wanted[key] in found[key] for found in matches), (wanted, matches)
    expected_errors = {p["code"] for p in expect["problems"] if p["severity"] == "error"}
    reported_errors = {p["code"] for p in reported if p["severity"] == "error"}
    assert reported_errors == expected_errors, json.dumps(reported, indent=1)
    assert tree_bytes(root / "generated") == generated_before

    rendered = run_cli("render", root=root)
    assert_no_traceback(rendered.text)
    if reported_errors:
        # A fleet with errors never reaches the templates: nothing is written or removed.
        assert rendered.exit_code == 1, rendered.text
        assert tree_bytes(root / "generated") == generated_before
    else:
        assert rendered.exit_code == 0, rendered.text
        assert_inert_output(root, expect)


def assert_inert_output(root: Path, expect: dict) -> None:
    """Hostile-but-valid text renders as data: every file parses, literals round-trip."""
    generated = root / "generated"
    files = sorted(generated.glob("*/*.py"))
    assert {path.parent.name for path in files} == {
        p.stem for p in (root / "strategies").glob("*.yaml")
    }
    for path in files:
        module = ast.parse(path.read_text("utf-8"), filename=str(path))
        model = next(
            node.value
            for node in module.body
            if isinstance(node, ast.Assign)
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["MODEL"]
        )
        description = ast.literal_eval(model)["description"]
        if "literal" in expect:
            assert description == expect["literal"], path
        if "literal_length" in expect:
            assert len(description) == expect["literal_length"], path
    again = run_cli("render", root=root)
    assert again.exit_code == 0 and again.output.startswith("written 0,"), again.text
    assert run_cli("render", "--check", root=root).exit_code == 0


def test_corpus_covers_every_problem_code() -> None:
    """One folder per registered problem code (plus ok/ for hostile input that must be accepted)."""
    from modalfleet.fleet.codes import CODES

    codes = {path.name for path in CASES.iterdir() if path.is_dir()}
    missing = {code.code for code in CODES} - codes
    assert not missing, f"no case folder for {sorted(missing)}"
    assert len(CASE_DIRS) >= 40


@pytest.mark.parametrize(
    "case_dir",
    [path for path in CASE_DIRS if "max_seconds" in load_case(path)],
    ids=case_id,
)
def test_alias_bomb_fails_fast_with_bounded_memory(case_dir: Path) -> None:
    from modalfleet.fleet.yamlread import parse_yaml

    expect = load_case(case_dir)
    raw = (case_dir / "models.yaml").read_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        _, problems = parse_yaml(raw, "models.yaml")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.code for p in problems] == ["yaml-alias-bomb"]
    assert elapsed < expect["max_seconds"], f"took {elapsed:.2f} s"
    assert peak < expect["max_peak_mb"] * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
