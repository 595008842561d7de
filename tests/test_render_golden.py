"""Golden test: a small fixed fleet (tests/golden/fleet) rendered with the packaged templates must equal
tests/golden/expected/ byte for byte.

After an intended template change, rewrite the expected files and review their diff:
    MODALFLEET_UPDATE_GOLDEN=1 python -m pytest tests/test_render_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from conftest import REPO

from modalfleet.fleet.checks import validate
from modalfleet.fleet.problems import has_errors
from modalfleet.generate.render import PACKAGED_TEMPLATES, render_tree

GOLDEN = REPO / "tests/golden"


def test_golden_fleet_renders_the_expected_files():
    loaded, problems = validate(GOLDEN / "fleet")
    assert not has_errors(problems), problems
    files = render_tree(loaded.fleet, PACKAGED_TEMPLATES)
    expected_dir = GOLDEN / "expected"
    if os.environ.get("MODALFLEET_UPDATE_GOLDEN") == "1":
        _rewrite(expected_dir, files)
    expected = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(expected_dir.rglob("*.py"))
    }
    assert sorted(files) == [
        "cheap/tiny_flux.py",
        "cheap/tiny_lora.py",
        "cheap/tiny_upscale.py",
        "fast/tiny_flux.py",
        "fast/tiny_lora.py",
        "fast/tiny_upscale.py",
    ]
    assert sorted(expected) == sorted(files), "expected files differ from rendered ones"
    diffs = [
        "".join(
            difflib.unified_diff(
                expected[path].splitlines(keepends=True),
                files[path].splitlines(keepends=True),
                fromfile=f"tests/golden/expected/{path}",
                tofile=f"rendered/{path}",
            )
        )
        for path in files
        if files[path] != expected[path]
    ]
    assert not diffs, (
        "golden files differ (MODALFLEET_UPDATE_GOLDEN=1 rewrites them):\n" + "\n".join(diffs)
    )


def _rewrite(expected_dir: Path, files: dict[str, str]) -> None:
    for stale in expected_dir.rglob("*.py"):
        if stale.relative_to(expected_dir).as_posix() not in files:
            stale.unlink()
    for relative, text in files.items():
        target = expected_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
