"""What every command shares: exit codes, --root, loading the fleet or stopping with its problems."""

from __future__ import annotations

import sys
from enum import IntEnum
from pathlib import Path

import click

from ..fleet.problems import Problem, format_json, format_text, has_errors
from . import term


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS = 1  # validation errors, stale tree, failed deploy
    USAGE = 2  # bad flags or names; also "changes present" for plan --detailed-exitcode / status


root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The fleet repository (holds models.yaml, gpus.yaml, strategies/).",
)

format_choice = click.Choice


def report(problems: list[Problem], fmt: str = "text", stream=None) -> None:
    stream = stream or sys.stderr
    if fmt == "json":
        click.echo(format_json(problems), file=stream)
    elif problems:
        term.echo(format_text(problems), "problems", err=stream is sys.stderr)


def load_valid_fleet(root: Path, strategy: str | None = None, show_warnings: bool = True):
    """Validated fleet, or exit 1 after printing the problems. Warnings go to stderr, once per
    command however often it loads the fleet, and not those acknowledged in models.yaml under
    --quiet."""
    from ..fleet.checks import acknowledgements, validate

    loaded, problems = validate(root, only_strategy=strategy)
    if has_errors(problems):
        report(problems)
        raise SystemExit(ExitCode.PROBLEMS)
    acknowledged = acknowledgements(loaded.fleet, problems)
    fresh = [
        p
        for p in problems
        if p not in term.settings.shown and not (term.settings.quiet and p in acknowledged)
    ]
    term.settings.shown.update(problems)
    if show_warnings and fresh:
        term.echo(format_text(fresh, acknowledged), "problems", err=True)
    if strategy is not None:
        require_strategy(loaded.fleet, strategy)
    return loaded.fleet


def require_strategy(fleet, strategy: str) -> None:
    if strategy not in fleet.strategies:
        raise click.UsageError(
            f"unknown strategy {strategy!r}; known: {', '.join(fleet.strategies)}"
        )


def require_models(fleet, names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in fleet.models]
    if unknown:
        raise click.UsageError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(fleet.models)}"
        )
