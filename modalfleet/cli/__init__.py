"""The click command group. Commands parse, call the library, format; no logic lives here.

A command's module is imported when that command runs (or --help lists it), not when the group
is built, and each keeps its heavy imports (modal, torch, rich) inside the command body, so
`validate` and `render` start fast: `validate` does not import bench's or deploy's code.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping

import click

from ..fleet.statefile import StateFileError
from . import term
from .common import ExitCode, usage_exit_code

# Command name -> the module of modalfleet.cli that defines it, under the command's own name.
COMMAND_MODULES = {
    "init": "init_cmd",
    "validate": "validate_cmd",
    "render": "render_cmd",
    "gpus": "validate_cmd",
    "cost": "cost_cmd",
    "optimize": "cost_cmd",
    "simulate": "simulate_cmd",
    "speed": "speed_cmd",
    "plan": "cost_cmd",
    "deploy": "deploy_cmd",
    "status": "status_cmd",
    "destroy": "destroy_cmd",
    "bench": "bench_cmd",
    "spend": "spend_cmd",
    "observe": "observe_cmd",
}


class LazyCommands(MutableMapping):
    """The group's commands by name, each imported from its module on first use."""

    def __init__(self, modules: dict[str, str]):
        self._modules = dict(modules)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module = importlib.import_module(f"{__name__}.{self._modules[name]}")
            self._loaded[name] = getattr(module, name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._modules.setdefault(name, "")
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._modules[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


# `--help` lists commands in the order of the user's loop, not alphabetically. A command added
# later and not named here is listed after these, alphabetically; add its name here to place it.
WORKFLOW_ORDER = (
    "validate",
    "render",
    "cost",
    "optimize",
    "simulate",
    "speed",
    "plan",
    "deploy",
    "status",
    "destroy",
    "bench",
    "spend",
    "observe",
    "gpus",
    "init",
)


class WorkflowGroup(click.Group):
    """A click group listing its commands in workflow order, each summary whole (no "...")."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        known = [name for name in WORKFLOW_ORDER if name in names]
        return known + sorted(name for name in names if name not in WORKFLOW_ORDER)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                # click cuts a summary at the terminal's width with "..."; the formatter wraps it.
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=WorkflowGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run `modalfleet COMMAND --help` for a command's flags and examples. Shell "
    "completion (bash, zsh, fish), strategy and model names included: see the manual's "
    "getting-started page.",
)
@click.version_option(package_name="modalfleet")
@click.option(
    "--no-color",
    is_flag=True,
    help="Plain text even on a terminal (as the NO_COLOR environment variable does).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Hide the warnings acknowledged in models.yaml (a model's `acknowledge:` list).",
)
def cli(no_color: bool, quiet: bool):
    """modalfleet: declare generative models once, pick a GPU per strategy, render and deploy Modal handlers."""
    term.reset(no_color=no_color, quiet=quiet)


cli.commands = LazyCommands(COMMAND_MODULES)


def _show(exc: click.ClickException) -> None:
    """click's own message (usage, hint, `Error: ...`), its error line red on a terminal."""
    import io

    buffer = io.StringIO()
    exc.show(file=buffer)
    lines = buffer.getvalue().rstrip("\n").split("\n")
    head = [line for line in lines if not line.startswith("Error:")]
    if head:
        click.echo("\n".join(head), err=True)
    for line in lines:
        if line.startswith("Error:"):
            term.error(line)


def main(argv: list[str] | None = None) -> int:
    """Entry point: never shows a traceback for bad input (MODALFLEET_DEBUG=1 shows it)."""
    term.reset()  # one invocation's settings: tests call main() many times in one process
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="modalfleet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        _show(exc)
        if isinstance(exc, click.UsageError):
            return usage_exit_code(_command_of(exc), args)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except StateFileError as exc:  # a cache or lock that is a link or a device: never followed
        term.error(f"error: {exc}")
        return ExitCode.PROBLEMS
    except Exception as exc:  # the safety net: a bug must still not print a traceback
        if os.environ.get("MODALFLEET_DEBUG"):
            raise
        click.echo(
            f"modalfleet: internal error: {type(exc).__name__}: {exc} (MODALFLEET_DEBUG=1 shows the traceback)",
            err=True,
        )
        return ExitCode.PROBLEMS
    return ExitCode.OK


def _command_of(exc: click.UsageError) -> str | None:
    """The subcommand a usage error belongs to (None when it is about the group itself)."""
    ctx = exc.ctx
    if ctx is None or ctx.command is cli:
        return None
    return ctx.command.name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
