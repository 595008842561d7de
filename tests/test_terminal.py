"""Colour on a terminal, plain text everywhere else: a pseudo-terminal (pty) is a terminal, a
pipe is not, and NO_COLOR or --no-color turn colour off. Colour never changes the characters."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from conftest import REPO, run_subprocess

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def on_terminal(*args: str, env_extra: dict[str, str] | None = None, cwd=REPO) -> tuple[int, str]:
    """Run `python cli.py ARGS` with stdout and stderr on a pseudo-terminal; (exit code, text)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "COLUMNS": "200", **(env_extra or {})})
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=120)
    return code, b"".join(chunks).decode().replace("\r\n", "\n")


def piped(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    return run_subprocess(*args, cwd=cwd, env=env)


PLAN = ("plan", "--strategy", "hybrid", "--from-strategy", "baseline")


def test_plan_is_coloured_on_a_terminal_and_the_text_is_unchanged():
    code, text = on_terminal(*PLAN)
    assert code == 0
    assert ANSI.search(text)
    assert ANSI.sub("", text) == piped(*PLAN).stdout
    # The cheaper row's delta is green (32), the changed status yellow (33).
    assert "\x1b[32m-$1.51\x1b[0m" in text
    assert re.search(r"\x1b\[33mchanged\x1b\[0m", text)


def test_no_colour_through_a_pipe():
    for args in (PLAN, ("cost", "--strategy", "hybrid"), ("validate",), ("gpus",)):
        result = piped(*args)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout + result.stderr, args


def test_no_colour_with_NO_COLOR_no_color_flag_or_a_dumb_terminal():
    cases = (({"NO_COLOR": "1"}, PLAN), ({}, ("--no-color", *PLAN)), ({"TERM": "dumb"}, PLAN))
    for env, args in cases:
        code, text = on_terminal(*args, env_extra=env)
        assert code == 0
        assert "\x1b" not in text
        assert text == piped(*PLAN).stdout


def test_problems_colour_the_severity_and_keep_the_location_plain():
    code, text = on_terminal("validate")
    assert code == 0
    lines = text.splitlines()
    location = next(line for line in lines if "warning[dtype-support]" in line)
    # file:line:col starts the line with no escape in or before it: problem matchers still match.
    assert location.startswith("models.yaml:53:43: \x1b[33mwarning[dtype-support]\x1b[0m")
    assert "\x1b[32mok: 6 models, 4 strategies, 10 GPUs\x1b[0m" in text


def test_errors_are_red_on_a_terminal():
    code, text = on_terminal("cost", "--strategy", "nope")
    assert code == 2
    assert "\x1b[31mError: unknown strategy 'nope'" in text


def test_render_check_diff_is_coloured(fleet_dir):
    module = fleet_dir / "generated" / "hybrid" / "flux_schnell.py"
    module.write_text(module.read_text().replace('"T4"', '"A10"', 1))
    code, text = on_terminal("render", "--check", "--root", str(fleet_dir))
    assert code == 1
    assert "\x1b[1;31mgenerated/ is out of date" in text
    assert re.search(r"\x1b\[31m-.*\"A10\"", text)  # the stale line, red
    assert re.search(r"\x1b\[32m\+.*\"T4\"", text)  # what render would write, green
    plain = piped("render", "--check", "--root", str(fleet_dir), cwd=fleet_dir)
    assert ANSI.sub("", text) == plain.stdout


def test_json_never_changes_on_a_terminal():
    args = ("cost", "--strategy", "hybrid", "--format", "json")
    code, text = on_terminal(*args)
    assert code == 0
    assert text == piped(*args).stdout


def test_rich_is_not_imported_when_the_output_is_not_a_terminal():
    # validate, render, cost and plan stay fast in scripts and CI: rich only loads for colour.
    probe = (
        "import sys\n"
        "from modalfleet.cli import main\n"
        "for argv in (['validate'], ['render', '--check'], ['cost'], "
        "['plan', '--strategy', 'hybrid', '--from-strategy', 'baseline']):\n"
        "    assert main(argv) == 0, argv\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'modal', 'torch')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
