"""What every command shares: exit codes, --root, loading the fleet or stopping with its problems."""

from __future__ import annotations

import sys
from enum import IntEnum
from pathlib import Path

import click

from ..fleet.problems import Problem, format_json, format_text, has_errors


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS = 1  # validation errors, stale tree, failed deploy
    USAGE = 2  # bad flags or names
    # Terraform's "changes present", for plan --detailed-exitcode and status. There a usage error
    # exits PROBLEMS instead (see usage_exit_code), so a CI gate on 2 never mistakes a typo for drift.
    CHANGES = 2


def uses_changes_code(command: str | None, args: list[str]) -> bool:
    """Whether this invocation uses 2 for "changes": status always, plan under
    --detailed-exitcode (Terraform's convention)."""
    return command == "status" or (command == "plan" and "--detailed-exitcode" in args)


def usage_exit_code(command: str | None, args: list[str]) -> int:
    """The exit code of a usage error: 2, except where 2 means changes; there 1 (an error)."""
    return ExitCode.PROBLEMS if uses_changes_code(command, args) else ExitCode.USAGE


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
        click.echo(format_text(problems), file=stream)


def load_valid_fleet(root: Path, strategy: str | None = None, show_warnings: bool = True):
    """Validated fleet, or exit 1 after printing the problems. Warnings go to stderr."""
    from ..fleet.checks import validate

    loaded, problems = validate(root, only_strategy=strategy)
    if has_errors(problems):
        report(problems)
        raise SystemExit(ExitCode.PROBLEMS)
    if show_warnings and problems:
        report(problems)
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
