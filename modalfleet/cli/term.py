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
        (r"^(?:Plan|Strategy|Cost|Cheapest|Strategies|Daily|bench|spend) .*$", "bold"),
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


def colour_on(err: bool = False) -> bool:
    if settings.no_color or os.environ.get("NO_COLOR"):
        return False
    stream = sys.stderr if err else sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def echo(text: str, kind: str | None = None, err: bool = False) -> None:
    """Print text, coloured by `kind`'s rules when the stream is a terminal with colour on."""
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
