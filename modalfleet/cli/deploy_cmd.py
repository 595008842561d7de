"""`deploy`: parse the options, build the plan (platform/workflow.py), show it once, ask, apply
it, show the results once (report/deploy_report.py). rich is imported only for the live display,
and only on a terminal in text mode."""

from __future__ import annotations

import json

import click

from . import common, term
from .common import (
    ExitCode,
    Seconds,
    complete_models,
    complete_strategies,
    env_option,
    fail_preflight,
    json_format_option,
    load_valid_fleet,
    require_models,
    root_option,
    with_examples,
)


@with_examples(
    "modalfleet deploy --strategy hybrid --dry-run",
    "modalfleet deploy --strategy hybrid",
    "modalfleet deploy --strategy hybrid --model flux-dev --env staging",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    required=True,
    help="The strategy whose generated apps to deploy.",
    shell_complete=complete_strategies,
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Deploy only this model (repeatable).",
    shell_complete=complete_models,
)
@env_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan and change nothing (without credentials: the apps, live state unread).",
)
@click.option(
    "--render",
    "render_first",
    is_flag=True,
    help="Render generated/<strategy> first instead of refusing a stale tree.",
)
@click.option(
    "--force", is_flag=True, help="Republish apps whose live version already runs their file."
)
@click.option(
    "--parallel", type=click.IntRange(1, 64), default=4, show_default=True, help="Apps at once."
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="Retries of a transient failure per app.",
)
@click.option(
    "--backoff",
    type=Seconds(0, 60),
    default=2.0,
    show_default=True,
    help="Seconds before the first retry; doubles each retry.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(1, None),
    default=1800,
    show_default=True,
    help="Seconds one app's deploy may take.",
)
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation on a terminal (CI never asks)."
)
@click.option(
    "--prune",
    is_flag=True,
    help="Also stop this strategy's modalfleet apps that models.yaml no longer declares.",
)
@click.option(
    "--create-volumes",
    is_flag=True,
    help="Create the Modal Volumes the fleet names that are missing.",
)
@json_format_option
def deploy(
    root,
    strategy,
    models,
    environment,
    dry_run,
    render_first,
    force,
    parallel,
    retries,
    backoff,
    timeout_s,
    yes,
    prune,
    create_volumes,
    fmt,
):
    """Deploy the generated apps of a strategy through the Modal SDK: only those that changed.

    Pre-flight, in order, before anything reaches Modal: validation errors, unknown names, a
    stale generated/<strategy> (or --render), missing credentials; then, from the workspace,
    missing Secrets (with the command that creates each) and Volumes. Then the plan, once: per
    app create, update, unchanged (its live version already runs this file: not published
    again unless --force) or, with --prune, stop; on a terminal a question unless --yes.
    Exit 0 when every app deployed or was unchanged, 1 when any failed or the pre-flight
    refused, 2 for usage errors.
    """
    from ..platform import deploy as core
    from ..platform import workflow
    from ..platform.lifecycle import secret_create_command
    from ..platform.modal_backend import BackendError
    from ..report import deploy_report as report

    fleet = load_valid_fleet(root, strategy)
    require_models(fleet, models)
    backend = core.make_backend(timeout_s)
    try:
        plan = workflow.build_plan(
            fleet,
            strategy,
            root,
            backend,
            models=models,
            environment=environment,
            prune=prune,
            force=force,
            render_first=render_first,
            dry_run=dry_run,
        )
    except core.PreflightError as exc:
        fail_preflight(exc)
    except BackendError as exc:
        term.error(f"error: cannot read the Modal workspace: {exc.message}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    for note in plan.notes:
        term.warning(f"note: {note}")
    if dry_run:
        if fmt == "json":
            click.echo(json.dumps(plan.to_dict(), indent=2))
        else:
            term.echo(report.plan_text(plan), "table")
            click.echo("dry run: nothing changed", err=True)
        raise SystemExit(ExitCode.OK)

    term.echo(report.plan_text(plan), "table", err=True)
    if plan.blocked:
        term.error(report.missing_secrets_text(plan, secret_create_command))
        raise SystemExit(ExitCode.PROBLEMS)
    for line in report.missing_volume_lines(plan, create_volumes):
        click.echo(line, err=True)
    if plan.to_stop and not yes and not common.on_terminal():
        term.error(
            "error: deploy --prune stops apps: pass --yes to confirm when not on a terminal; "
            "nothing deployed"
        )
        raise SystemExit(ExitCode.PROBLEMS)
    if plan.changes and not yes and common.on_terminal():
        common.confirm(report.question(plan), yes, "deploy")

    from .live import DeployDisplay

    display = DeployDisplay.choose(plan, fmt)
    try:
        with display:
            applied = workflow.apply_plan(
                plan,
                backend,
                root,
                create_volumes=create_volumes,
                parallel=parallel,
                retries=retries,
                backoff_s=backoff,
                on_event=display.event,
            )
    except core.PreflightError as exc:
        fail_preflight(exc)
    for name in applied.created_volumes:
        click.echo(f"created volume {name}", err=True)
    if fmt == "json":
        click.echo(json.dumps(report.results_json(applied), indent=2))
    else:
        term.echo(report.results_table(applied), "table")
        click.echo(report.results_summary(applied, plan))
    raise SystemExit(ExitCode.OK if applied.ok else ExitCode.PROBLEMS)
