"""`destroy`: stop the live apps of a strategy tagged managed-by: modalfleet (platform/ finds and
stops them; report/deploy_report.py words it)."""

from __future__ import annotations

import click

from . import term
from .common import ExitCode, confirm, env_option, fail_preflight, with_examples


@with_examples(
    "modalfleet destroy --strategy hybrid --dry-run",
    "modalfleet destroy --strategy hybrid --model seedvr2 --yes",
)
@click.command()
@click.option("--strategy", required=True, help="Stop the apps deployed under this strategy.")
@click.option("--model", "models", multiple=True, help="Only this model's app (repeatable).")
@env_option
@click.option("--dry-run", is_flag=True, help="List the apps that would be stopped; stop nothing.")
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal)."
)
def destroy(strategy, models, environment, dry_run, yes):
    """Stop the live apps tagged managed-by: modalfleet that were deployed under STRATEGY.

    Apps without that tag are never touched. Reads the live workspace, not the YAML, so it also
    stops apps of models or strategies the fleet no longer declares. Exit 0 when every app
    stopped (or nothing matched), 1 when any failed or it was not confirmed.
    """
    from ..platform import deploy as core
    from ..platform.lifecycle import stop_apps
    from ..platform.modal_backend import BackendError
    from ..platform.workflow import destroy_targets
    from ..report.deploy_report import apps_table, where

    backend = core.make_backend()
    try:
        apps, environment = destroy_targets(strategy, models, backend, environment)
    except core.PreflightError as exc:
        fail_preflight(exc)
    except BackendError as exc:
        term.error(f"error: cannot read the deployed apps from Modal: {exc.message}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    if not apps:
        click.echo(
            f"nothing to stop: no app tagged managed-by: modalfleet, strategy {strategy}"
            + (f", model {', '.join(models)}" if models else "")
            + f" (environment {where(environment)})"
        )
        raise SystemExit(ExitCode.OK)
    click.echo(apps_table(apps))
    if dry_run:
        click.echo(
            f"dry run: would stop {len(apps)} app(s) (environment {where(environment)}); "
            "nothing stopped"
        )
        raise SystemExit(ExitCode.OK)
    confirm(f"Stop these {len(apps)} app(s) in environment {where(environment)}?", yes, "destroy")
    results = stop_apps(apps, backend, environment)
    for result in results:
        if result.ok:
            click.echo(f"stopped {result.app}")
        else:
            term.error(f"error: could not stop {result.app}: {result.error}")
    raise SystemExit(ExitCode.OK if all(r.ok for r in results) else ExitCode.PROBLEMS)
