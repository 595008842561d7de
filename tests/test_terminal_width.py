"""Output that fits the terminal (issue 25): at 80 columns every line of cost, optimize, plan,
simulate and spend fits, the least important table columns going first and a line saying so;
--wide and piped output keep every column; a MISSED target is styled as a problem; long work
shows progress on stderr, on a terminal only."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, run_cli
from test_spend import WEEK, billing  # noqa: F401  (the fake billing report fixture)
from test_terminal import ANSI, on_terminal, piped

from modalfleet.cli import term
from modalfleet.report.tables import set_width, table

COMMANDS = (
    ("cost", "--strategy", "hybrid"),
    ("cost", "--all"),
    ("cost", "--strategy", "hybrid", "--period", "month"),
    ("optimize", "--days", "2"),
    ("plan", "--strategy", "hybrid", "--from-strategy", "baseline"),
    ("plan", "--all", "--from-strategy", "baseline"),
    ("simulate", "--model", "flux-dev", "--strategy", "hybrid"),
)


@pytest.fixture
def eighty(monkeypatch):
    """The CLI run in-process as on an 80-column terminal (colour stays off: not a tty)."""
    monkeypatch.setattr(term, "terminal_width", lambda: 80)
    yield
    set_width(None)


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_line_fits_80_columns(eighty, args):
    result = run_cli(*args, root=REPO)
    assert result.exit_code == 0, result.text
    assert _widest(result.output) <= 80, next(
        line for line in result.output.splitlines() if len(line) > 80
    )


@pytest.mark.parametrize("args", (COMMANDS[0], COMMANDS[4]), ids=" ".join)
def test_wide_and_piped_output_keep_every_column(eighty, args):
    narrow = run_cli(*args, root=REPO).output
    wide = run_cli(*args, "--wide", root=REPO).output
    set_width(None)
    assert "--wide shows them" in narrow
    assert "--wide shows them" not in wide and _widest(wide) > 80
    # Piped (no terminal width): today's full width, exactly what --wide shows.
    run_cli_piped = run_cli
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(term, "terminal_width", lambda: None)
        assert run_cli_piped(*args, root=REPO).output == wide


def test_spend_fits_80_columns(eighty, billing):  # noqa: F811
    billing()
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 0, result.text
    assert _widest(result.output) <= 80
    # The table fits as it is (80 wide): nothing is left out.
    assert "--wide shows them" not in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("model "))
    assert header.split()[:4] == ["model", "strategy", "actual", "simulated"]


def test_plan_at_80_columns_keeps_the_bill_and_drops_the_busy_columns_first(eighty):
    lines = run_cli(*COMMANDS[4], root=REPO).output.splitlines()
    header = next(line for line in lines if line.startswith("MODEL "))
    assert header.split() == ["MODEL", "GPU", "BILL", "BEFORE", "BILL", "AFTER", "BILL", "CHANGE"]
    left_out = lines[lines.index(header) + 7]  # under the six models
    assert left_out.startswith("(left out to fit 80 columns: BUSY CHANGE, BUSY BEFORE, ")
    assert "--wide shows them)" in " ".join(lines)


def test_a_table_drops_its_least_important_columns_until_it_fits():
    header = ["NAME", "KEEP", "MAYBE", "FIRST-TO-GO"]
    rows = [["a" * 10, "b" * 10, "c" * 10, "d" * 20]]
    try:
        set_width(None)
        assert len(table(header, rows, drop=(3, 2))[1]) == 10 + 2 + 10 + 2 + 10 + 2 + 20
        set_width(36)  # 56 wide: the first to go goes, 34 fits
        assert table(header, rows, drop=(3, 2)) == [
            "NAME        KEEP        MAYBE",
            "aaaaaaaaaa  bbbbbbbbbb  cccccccccc",
            "(left out to fit 36 columns: FIRST-TO-GO; --wide shows them)",
        ]
        set_width(34)  # exactly 34 wide: it fits
        assert len(table(header, rows, drop=(3, 2))) == 3
        set_width(33)
        assert table(header, rows, drop=(3, 2))[0] == "NAME        KEEP"
        set_width(35)  # an indent counts: 34 + 2 is too wide
        assert table(header, rows, drop=(3, 2), indent=2)[0] == "NAME        KEEP"
        assert len(table(header, rows)[1]) == 56  # no droppable column: as it is
    finally:
        set_width(None)


def test_prose_folds_at_spaces_with_a_deeper_indent():
    try:
        set_width(20)
        assert term.fold("short\n  a line that is longer than twenty") == (
            "short\n  a line that is\n    longer than\n    twenty"
        )
        set_width(None)
        assert term.fold("a line that is longer than twenty") == "a line that is longer than twenty"
    finally:
        set_width(None)


def test_on_a_real_terminal_at_80_columns_missed_is_red_and_lines_fit():
    code, text = on_terminal("cost", "--strategy", "hybrid", env_extra={"COLUMNS": "80"})
    assert code == 0
    plain = ANSI.sub("", text)
    assert _widest(plain) <= 80
    assert "\x1b[1;31mMISSED\x1b[0m" in text  # styled as validate styles an error
    full = piped("cost", "--strategy", "hybrid").stdout
    assert _widest(full) > 80 and "--wide shows them" not in full
    code, wide = on_terminal("cost", "--strategy", "hybrid", "--wide", env_extra={"COLUMNS": "80"})
    table_lines = [line for line in ANSI.sub("", wide).splitlines() if line.startswith("MODEL")]
    assert table_lines == [line for line in full.splitlines() if line.startswith("MODEL")]


def test_progress_on_a_terminal_only(tmp_path):
    # An empty simulation cache: the search takes seconds, past the delay before progress shows.
    fresh = {"COLUMNS": "80", "MODALFLEET_CACHE_DIR": str(tmp_path)}
    code, text = on_terminal("optimize", "--days", "20", env_extra=fresh)
    assert code == 0
    assert re.search(r"\roptimize: searching serving policies [1-5]/6 [a-z0-9-]+ *", text)
    assert "\roptimize: searching serving policies 5/6 seedvr2" in text
    # The line is cleared before the report: the report starts on a line of its own.
    assert "\r" + " " * len("optimize: searching serving policies 5/6 seedvr2") + "\r" in text
    result = piped("optimize", "--days", "3")
    assert result.returncode == 0 and result.stderr == ""


def test_no_progress_for_quick_work_or_json():
    from modalfleet.cli.term import Progress

    quick = Progress("x")
    quick.on = True  # as on a terminal
    quick(0, 1, "a")
    assert quick.shown == 0  # within the delay: nothing written
    assert Progress("x", enabled=False).on is False
