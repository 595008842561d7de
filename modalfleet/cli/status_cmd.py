"""`status`: what runs on Modal against what the YAML renders to now (platform/workflow.py reads
and compares; report/deploy_report.py words it)."""

from __future__ import annotations

import json

import click

from . import term
from .common import (
    ExitCode,
    complete_strategies,
    env_option,
    fail_preflight,
    json_format_option,
    load_valid_fleet,
    root_option,
    with_examples,
)


@with_examples(
    "modalfleet status",
    "modalfleet status --strategy hybrid --env main",
    "modalfleet status --format json",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    help="Compare with this strategy's files (default: any strategy's).",
    shell_complete=complete_strategies,
)
@env_option
@json_format_option
def status(root, strategy, environment, fmt):
    """What is deployed against what the YAML renders to now: unrendered edits, apps not
    deployed or out of date, rollbacks, hand-deployed (untagged) apps, and modalfleet apps the
    fleet no longer declares (untracked).

    Exit 0 when every app runs its current file, 2 when any drifts, 1 on error (usage errors
    included: 2 means drift only).
    """
    from ..platform import deploy as core
    from ..platform.modal_backend import BackendError
    from ..platform.workflow import read_status
    from ..report.deploy_report import status_summary, status_table

    fleet = load_valid_fleet(root, strategy)
    try:
        statuses, environment = read_status(fleet, root, strategy, core.make_backend(), environment)
    except core.PreflightError as exc:
        fail_preflight(exc, usage_code=ExitCode.PROBLEMS)
    except BackendError as exc:
        term.error(f"error: cannot read the deployed apps from Modal: {exc.message}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
    else:
        term.echo(status_table(statuses), "table")
        click.echo(status_summary(statuses, environment))
    raise SystemExit(ExitCode.CHANGES if any(s.drift for s in statuses) else ExitCode.OK)
