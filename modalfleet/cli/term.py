"""Terminal output: colour through rich when the stream is a terminal, plain text when it is not.

Every command builds its output as plain text (the same characters whatever the stream); this
module only decides whether to colour it and how. Colour is on when the stream is a terminal,
`NO_COLOR` is unset or empty (https://no-color.org) and `--no-color` was not given. rich is
imported only when colour is on, so `validate`, `render`, `cost` and `plan` stay fast in
scripts and pipes. JSON is always printed with click.echo, never through here.

Styles never change the characters: a `file:line:col:` location stays uncoloured, so a tool
reading a terminal's text (an editor's problem matcher) finds exactly what it finds in a pipe.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

import click

# Kinds of output and their styles: (regular expression, rich style), applied in order.
# Group 1, when the expression has one, is the part styled; otherwise the whole match.
MONEY_RULES = (
    (r"(?<![\w$])-\$[\d,]+\.\d+", "green"),  # cheaper
    (r"(?<![\w$])\+\$[\d,]+\.\d+", "red"),  # dearer
    (r"\((-\d+\.\d%)\)|(?<![\w.])(-\d+\.\d%)", "green"),
    (r"\((\+\d+\.\d%)\)|(?<![\w.])(\+\d+\.\d%)", "red"),
    (r"\bESTIMATE\b", "bold yellow"),
)
RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "problems": (
        (r"^\S+:\d+:\d+: (error\[[\w-]+\])", "bold red"),
        (r"^\S+:\d+:\d+: (warning\[[\w-]+\])", "yellow"),
        (r"^  hint: .*$", "cyan"),
        (r"^([1-9]\d* error\(s\))", "bold red"),
        (r"(?:^|, )([1-9]\d* warning\(s\))", "yellow"),
        (r"^(\d+ acknowledged warning\(s\)):", "dim"),
        (r"^ok: .*$", "green"),
    ),
    "diff": (
        (r"^(?:\+\+\+|---) .*$", "bold"),
        (r"^\+.*$", "green"),
        (r"^-.*$", "red"),
        (r"^@@.*$", "cyan"),
        (r"^  (changed:|missing:|orphaned:)", "yellow"),
        (r"^\S+/ is out of date.*$", "bold red"),
        (r"^\S+/ is current$", "green"),
    ),
    "table": (
        (r"^ *[A-Z][A-Z0-9$/.?%() -]*  [A-Z0-9$/.?%() -]*$", "bold"),  # a table's header
        (r"^(?:Plan|Strategy|Cost|Cheapest|Strategies|Daily|bench|spend|Modal bill) .*$", "bold"),
        # A missed latency target is a problem, styled as validate styles an error.
        (r"\b(MISSED|MISSES|DOES NOT FIT)\b", "bold red"),
        (r"^guardrail .* tripped\b", "bold red"),
        (r"\b(changed|OVER|fail|out-of-date|rolled-back|untracked)\b", "yellow"),
        (r"(?<!-)\b(added|pass|deployed|in-sync|\u2714)\b", "green"),
        (r"\b(removed|failed|not-deployed)\b", "red"),
        (r"^no changes$", "green"),
        *MONEY_RULES,
    ),
    "error": ((r"^.*$", "red"),),
    "warning": ((r"^.*$", "yellow"),),
}


@dataclass
class Settings:
    """What the group's global flags set for one invocation (main() resets it each time)."""

    no_color: bool = False
    quiet: bool = False  # hide acknowledged warnings
    shown: set = field(default_factory=set)  # problems already printed by this command


settings = Settings()


def reset(no_color: bool = False, quiet: bool = False) -> None:
    global settings
    settings = Settings(no_color=no_color, quiet=quiet)
    from ..report.tables import set_width

    set_width(terminal_width())


def is_terminal(err: bool = False) -> bool:
    stream = sys.stderr if err else sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def terminal_width() -> int | None:
    """The width tables fit on stdout: the terminal's (COLUMNS wins), None through a pipe."""
    if not is_terminal():
        return None
    import shutil

    return max(shutil.get_terminal_size().columns, 40)


def show_wide(ctx: click.Context, param: click.Parameter, wide: bool) -> bool:
    """--wide: every column even on a narrow terminal (a click callback)."""
    if wide:
        from ..report.tables import set_width

        set_width(None)
    return wide


wide_option = click.option(
    "--wide",
    is_flag=True,
    expose_value=False,
    callback=show_wide,
    help="Every table column, however wide the table (a terminal otherwise gets the columns "
    "that fit; piped output always has them all).",
)


def fold(text: str) -> str:
    """Lines wider than the tables' width (prose: tables already fit) wrapped at spaces, the
    continuation indented two more than the line."""
    from ..report.tables import width

    limit = width()
    if limit is None:
        return text
    import textwrap

    lines = []
    for line in text.split("\n"):
        if len(line) <= limit:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        lines += textwrap.wrap(
            line,
            limit,
            initial_indent="",
            subsequent_indent=indent + "  ",
            break_long_words=False,
            break_on_hyphens=False,
        ) or [line]
    return "\n".join(lines)


def colour_on(err: bool = False) -> bool:
    if settings.no_color or os.environ.get("NO_COLOR"):
        return False
    return is_terminal(err)


def echo(text: str, kind: str | None = None, err: bool = False) -> None:
    """Print text, coloured by `kind`'s rules when the stream is a terminal with colour on.

    kind "report" (cost, optimize, plan, simulate, spend: tables already fitted to the width)
    is styled as a table, its long lines of prose folded to the terminal's width."""
    if kind == "report":
        kind = "table"
        if not err:
            text = fold(text)
    if kind is None or not colour_on(err):
        click.echo(text, err=err)
        return
    from rich.console import Console
    from rich.text import Text

    styled = Text(text)
    for pattern, style in RULES[kind]:
        for match in re.finditer(pattern, text, re.MULTILINE):
            groups = [i for i in range(1, (match.lastindex or 0) + 1) if match.group(i)]
            for start, end in [match.span(i) for i in groups] or [match.span()]:
                styled.stylize(style, start, end)
    console = Console(
        file=sys.stderr if err else sys.stdout,
        force_terminal=True,
        highlight=False,
        soft_wrap=True,
        emoji=False,
        markup=False,
    )
    console.print(styled)


def error(message: str) -> None:
    """A one-line error on stderr: red on a terminal."""
    echo(message, "error", err=True)


def warning(message: str) -> None:
    echo(message, "warning", err=True)


class Progress:
    """'label 3/6 name' on stderr, rewritten in place, only when stderr is a terminal: for work
    that can take more than a couple of seconds (optimize over 365 days). A callable the library
    calls with (done, total, what); nothing shows for work done within DELAY_S (no flicker on a
    quick run), and the line is cleared when the work ends."""

    DELAY_S = 1.0

    def __init__(self, label: str, enabled: bool = True):
        import time

        self.label = label
        # enabled=False for machine-readable output (JSON): a terminal shows it as it is.
        self.on = enabled and is_terminal(err=True)
        self.started = time.monotonic()
        self.shown = 0

    def __call__(self, done: int, total: int, what: str = "") -> None:
        import time

        if not self.on or time.monotonic() - self.started < self.DELAY_S:
            return
        text = f"{self.label} {done}/{total}" + (f" {what}" if what else "")
        pad = max(self.shown - len(text), 0)
        sys.stderr.write("\r" + text + " " * pad)
        sys.stderr.flush()
        self.shown = len(text)

    def each(self, names: list[str]):
        """The names, telling each one's turn (done/total name) before it is yielded."""
        for index, name in enumerate(names):
            self(index, len(names), name)
            yield name

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.on and self.shown:
            sys.stderr.write("\r" + " " * self.shown + "\r")
            sys.stderr.flush()
