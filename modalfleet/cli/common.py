"""What every command shares: exit codes, --root, loading the fleet or stopping with its problems."""

from __future__ import annotations

import math
import sys
from enum import IntEnum
from pathlib import Path

import click

from ..fleet.problems import Problem, format_json, format_text, has_errors
from ..report.suggest import closest
from . import term


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
    if show_warnings:
        acknowledged = acknowledgements(loaded.fleet, problems)
        fresh = [
            p
            for p in problems
            if p not in term.settings.shown and not (term.settings.quiet and p in acknowledged)
        ]
        term.settings.shown.update(problems)
        if fresh:
            term.echo(format_text(fresh, acknowledged), "problems", err=True)
    if strategy is not None:
        require_strategy(loaded.fleet, strategy)
    return loaded.fleet


def _unknown(what: str, names: list[str], known) -> click.UsageError:
    """`unknown strategy 'hybird' (did you mean 'hybrid'?); known: ...`, as for GPU names."""
    known = list(known)
    guesses = [f"{name!r} -> {closest(name, known)!r}" for name in names if closest(name, known)]
    hint = ""
    if len(names) == 1 and guesses:
        hint = f" (did you mean {closest(names[0], known)!r}?)"
    elif guesses:
        hint = f" (did you mean {', '.join(guesses)}?)"
    return click.UsageError(
        f"unknown {what} {', '.join(map(repr, names))}{hint}; known: {', '.join(known)}"
    )


def require_strategy(fleet, strategy: str) -> None:
    if strategy not in fleet.strategies:
        raise _unknown("strategy", [strategy], fleet.strategies)


def require_models(fleet, names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in fleet.models]
    if unknown:
        raise _unknown("model(s)", unknown, fleet.models)


class Amount(click.ParamType):
    """A finite number of 0 or more, as a Decimal (money and percentages are compared exactly)."""

    name = "amount"

    def convert(self, value, param, ctx):
        from decimal import Decimal, InvalidOperation

        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} is not a number of 0 or more", param, ctx)
        return amount


def with_examples(*examples: str):
    """End a command's --help with two or three real examples (tests/test_help.py parses each).

    Put it above @click.command(); every command has two or three.
    """

    def decorate(command: click.Command) -> click.Command:
        # "\b" stops click from rewrapping the block, so each example keeps its own line.
        block = "\n".join(f"  {example}" for example in examples)
        command.epilog = f"Examples:\n\n\b\n{block}"  # the epilog: after the options
        return command

    return decorate


def _root_being_completed(ctx: click.Context) -> Path:
    root = ctx.params.get("root")  # set when --root came before the word being completed
    return Path(root) if root else Path(".")


def complete_strategies(ctx: click.Context, param, incomplete: str) -> list[str]:
    """Shell completion of a strategy name: the fleet's strategies/*.yaml."""
    from ..fleet.load import fleet_names

    strategies, _ = fleet_names(_root_being_completed(ctx))
    return [name for name in strategies if name.startswith(incomplete)]


def complete_models(ctx: click.Context, param, incomplete: str) -> list[str]:
    """Shell completion of a model name: the keys of models.yaml's `models:`."""
    from ..fleet.load import fleet_names

    _, models = fleet_names(_root_being_completed(ctx))
    return [name for name in models if name.startswith(incomplete)]


# --- deploy, status and destroy ---------------------------------------------------------------

env_option = click.option(
    "--env",
    "environment",
    help="Modal environment (default: MODAL_ENVIRONMENT, else the workspace's).",
)
json_format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def fail_preflight(exc, usage_code: int = ExitCode.USAGE) -> None:
    """Print a PreflightError (message, then its details) and exit with its code; a usage error
    exits usage_code (status passes 1: there 2 means drift)."""
    term.error(f"error: {exc.message}")
    for line in exc.details:
        click.echo(f"  {line}", err=True)
    raise SystemExit(usage_code if exc.exit_code == ExitCode.USAGE else exc.exit_code)


def on_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


def confirm(question: str, yes: bool, what: str) -> None:
    """Go on when --yes, or when a person on a terminal says yes; otherwise stop with exit 1."""
    if yes:
        return
    if not on_terminal():
        click.echo(
            f"error: {what} stops apps: pass --yes to confirm when not on a terminal", err=True
        )
        raise SystemExit(ExitCode.PROBLEMS)
    if not click.confirm(question, default=False, err=True):
        click.echo("cancelled; nothing changed", err=True)
        raise SystemExit(ExitCode.PROBLEMS)


class Seconds(click.FloatRange):
    """A float range of seconds; click's FloatRange lets nan (and inf when unbounded) through."""

    name = "seconds"

    def convert(self, value, param, ctx):
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a number of seconds", param, ctx)
        return seconds
