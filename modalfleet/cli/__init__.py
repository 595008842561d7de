"""The click command group. Commands parse, call the library, format; no logic lives here.

Each command module is imported when the group is built, and each keeps its heavy imports
(modal, torch, rich) inside the command body, so `validate` and `render` start fast.
"""

from __future__ import annotations

import os
import sys

import click

from .bench_cmd import bench, spend
from .common import ExitCode, usage_exit_code
from .cost_cmd import cost, optimize, plan
from .deploy_cmd import deploy, destroy, status
from .init_cmd import init
from .render_cmd import render
from .validate_cmd import gpus, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="modalfleet")
def cli():
    """modalfleet: declare generative models once, pick a GPU per strategy, render and deploy Modal handlers."""


cli.add_command(init)
cli.add_command(validate)
cli.add_command(render)
cli.add_command(gpus)
cli.add_command(cost)
cli.add_command(optimize)
cli.add_command(plan)
cli.add_command(deploy)
cli.add_command(status)
cli.add_command(destroy)
cli.add_command(bench)
cli.add_command(spend)


def main(argv: list[str] | None = None) -> int:
    """Entry point: never shows a traceback for bad input (MODALFLEET_DEBUG=1 shows it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="modalfleet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        if isinstance(exc, click.UsageError):
            return usage_exit_code(_command_of(exc), args)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
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
