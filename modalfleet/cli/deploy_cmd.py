"""`deploy` and `status`: parse, run the pre-flight and the deploy (modalfleet.platform.deploy), report.

rich is imported only for the live display, and only on a terminal in text mode.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import click

from ..report.tables import table
from . import term
from .common import (
    ExitCode,
    complete_models,
    complete_strategies,
    load_valid_fleet,
    require_models,
    root_option,
    with_examples,
)

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
ENV = click.option(
    "--env",
    "environment",
    help="Modal environment (default: MODAL_ENVIRONMENT, else the workspace's).",
)


class Seconds(click.FloatRange):
    """A float range of seconds; click's FloatRange lets nan (and inf when unbounded) through."""

    name = "seconds"

    def convert(self, value, param, ctx):
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a number of seconds", param, ctx)
        return seconds


def _fail(exc, usage_code: int = ExitCode.USAGE) -> None:
    """Print a PreflightError (message, then its details) and exit with its code; a usage error
    exits usage_code (status passes 1: there 2 means drift)."""
    term.error(f"error: {exc.message}")
    for line in exc.details:
        click.echo(f"  {line}", err=True)
    raise SystemExit(usage_code if exc.exit_code == ExitCode.USAGE else exc.exit_code)


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    aligned_right = [i in right for i in range(len(headers))]
    return "\n".join(table(headers, rows, aligned_right))


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
@ENV
@click.option(
    "--dry-run", is_flag=True, help="Print what would be deployed; needs no credentials or network."
)
@click.option(
    "--render",
    "render_first",
    is_flag=True,
    help="Render generated/<strategy> first instead of refusing a stale tree.",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Apps deployed at once.",
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
@FORMAT
def deploy(
    root,
    strategy,
    models,
    environment,
    dry_run,
    render_first,
    parallel,
    retries,
    backoff,
    timeout_s,
    yes,
    prune,
    create_volumes,
    fmt,
):
    """Deploy the generated apps of a strategy through the Modal SDK, in parallel, tagged.

    Pre-flight, in order, before anything reaches Modal: validation errors, unknown names, a
    stale generated/<strategy> (or --render), missing credentials; then, from the workspace,
    missing Secrets (with the command that creates each) and Volumes. Then the plan (what is
    created, updated, unchanged, stopped) and, on a terminal, a question unless --yes.
    Exit 0 when every app deployed, 1 when any failed or the pre-flight refused, 2 for usage
    errors.
    """
    from ..platform import deploy as core
    from ..platform import lifecycle
    from ..platform.modal_backend import BackendError, default_environment

    fleet = load_valid_fleet(root, strategy)
    require_models(fleet, models)
    try:
        deployments = core.select(fleet, strategy, models)
        files = core.check_generated(
            root, fleet, strategy, render_first=render_first, write=not dry_run
        )
        environment = environment or default_environment()
        targets = core.plan_targets(deployments, files, core.git_revision(root), environment)
        if dry_run and not prune:
            _print_dry_run(targets, strategy, fmt)
            raise SystemExit(ExitCode.OK)
        core.require_credentials()
    except core.PreflightError as exc:
        _fail(exc)

    backend = core.make_backend(timeout_s)
    try:
        deployed = backend.deployed_apps([t.app for t in targets], environment)
        removed = (
            lifecycle.undeclared_apps(fleet, strategy, backend.live_apps(environment))
            if prune
            else []
        )
        resources = lifecycle.check_resources(deployments, backend, environment)
    except BackendError as exc:
        click.echo(f"error: cannot read the Modal workspace: {exc.message}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    if dry_run:  # with --prune: the live apps were read, nothing is changed
        _print_dry_run(targets, strategy, fmt, read_live=True)
        plan = lifecycle.deploy_plan(targets, deployed, removed)
        _print_plan(plan, sys.stderr if fmt == "json" else sys.stdout)
        raise SystemExit(ExitCode.OK)
    _print_plan(lifecycle.deploy_plan(targets, deployed, removed), sys.stderr)
    _preflight_resources(resources, environment, create_volumes, backend)
    if removed and not yes and not on_terminal():
        click.echo(
            "error: deploy --prune stops apps: pass --yes to confirm when not on a terminal; "
            "nothing deployed",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS)
    if not yes and on_terminal():
        stops = f" and stop {len(removed)}" if removed else ""
        where = environment or "default"
        _confirm(f"Deploy {len(targets)} app(s){stops} in environment {where}?", yes, "deploy")

    display = _Display.choose(targets, fmt)
    with display:
        results = core.deploy_all(
            targets,
            backend,
            root,
            parallel=parallel,
            retries=retries,
            backoff_s=backoff,
            on_event=display.event,
        )
    deployed_all = all(result.ok for result in results)
    # Prune only after every app deployed: a failed deploy leaves the old apps running.
    stops = lifecycle.stop_apps(removed, backend, environment) if deployed_all else []
    if fmt == "json":
        rows = [result.to_dict() for result in results]
        rows += [
            {
                "model": s.model,
                "app": s.app,
                "status": "stopped" if s.ok else "stop-failed",
                "error": s.error or None,
            }
            for s in stops
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_summary(results, targets)
        if removed and not deployed_all:
            click.echo(
                f"not pruned: {len(removed)} undeclared app(s) left running after a failed deploy"
            )
        for stop in stops:
            click.echo(
                f"stopped {stop.app}" if stop.ok else f"could not stop {stop.app}: {stop.error}"
            )
    ok = deployed_all and all(stop.ok for stop in stops)
    raise SystemExit(ExitCode.OK if ok else ExitCode.PROBLEMS)


def _print_plan(rows, stream) -> None:
    if not rows:
        return
    counts = {
        action: sum(row.action == action for row in rows)
        for action in ("create", "update", "no change", "stop")
    }
    table = _table(
        ["MODEL", "APP", "ACTION", "DETAIL"], [[r.model, r.app, r.action, r.detail] for r in rows]
    )
    click.echo(table, file=stream)
    click.echo(
        f"plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['no change']} unchanged, {counts['stop']} to stop",
        file=stream,
    )


def _preflight_resources(resources, environment, create_volumes: bool, backend) -> None:
    """Stop (exit 1) on a missing Secret with the command that creates it; create missing
    Volumes with --create-volumes, else say the first deploy creates them."""
    from ..platform.lifecycle import secret_create_command
    from ..platform.modal_backend import BackendError

    if resources.missing_secrets:
        click.echo(
            f"error: the fleet needs {len(resources.missing_secrets)} Modal Secret(s) that "
            f"environment {environment or 'default'} lacks; nothing deployed. Create them:",
            err=True,
        )
        for name in resources.missing_secrets:
            click.echo(f"  {secret_create_command(name, environment)}", err=True)
        raise SystemExit(ExitCode.PROBLEMS)
    for name in resources.missing_volumes:
        if not create_volumes:
            click.echo(
                f"volume {name} is missing: the first deploy creates it (--create-volumes creates it now)",
                err=True,
            )
            continue
        try:
            backend.create_volume(name, environment)
        except BackendError as exc:
            click.echo(
                f"error: cannot create volume {name}: {exc.message}; nothing deployed", err=True
            )
            raise SystemExit(ExitCode.PROBLEMS) from None
        click.echo(f"created volume {name}", err=True)


def _print_dry_run(targets, strategy: str, fmt: str, read_live: bool = False) -> None:
    if fmt == "json":
        rows = [
            {
                "model": t.model,
                "app": t.app,
                "gpu": list(t.gpus),
                "file": t.file,
                "hash": t.content_hash,
                "tag": t.tag,
                "environment": t.environment,
            }
            for t in targets
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    where = targets[0].environment if targets and targets[0].environment else "(Modal default)"
    effect = (
        "the live apps were read, nothing is changed" if read_live else "nothing is sent to Modal"
    )
    click.echo(
        f"dry run: {len(targets)} app(s) of strategy {strategy}, environment {where}; {effect}"
    )
    rows = [[t.model, t.app, ",".join(t.gpus), t.file, t.content_hash, t.tag] for t in targets]
    term.echo(_table(["MODEL", "APP", "GPU", "FILE", "HASH", "TAG"], rows), "table")


def _print_summary(results, targets) -> None:
    rows = [
        [r.model, r.app, ",".join(r.gpus), r.status, f"{r.seconds:.1f}", r.url or r.error or ""]
        for r in results
    ]
    term.echo(
        _table(["MODEL", "APP", "GPU", "STATUS", "SECONDS", "URL / ERROR"], rows, right={4}),
        "table",
    )
    failed = sum(not r.ok for r in results)
    where = targets[0].environment if targets and targets[0].environment else "default"
    tag = targets[0].tag.split("-", 1)[1] if targets else ""
    click.echo(
        f"{len(results) - failed} deployed, {failed} failed (environment {where}, commit {tag})"
    )


class _Display:
    """Per-app progress: a rich live table on a terminal, plain lines on stderr otherwise."""

    def __init__(self, targets, mode: str):
        self.mode = mode  # live | lines | off
        self.rows = {
            t.model: {
                "gpu": ",".join(t.gpus),
                "state": "queued",
                "attempt": 0,
                "message": "",
                "since": None,
                "seconds": None,
            }
            for t in targets
        }
        self.live = None

    @classmethod
    def choose(cls, targets, fmt: str) -> _Display:
        if fmt == "json":
            return cls(targets, "off")
        return cls(targets, "live" if sys.stderr.isatty() else "lines")

    def __enter__(self) -> _Display:
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                get_renderable=self._render,
                console=Console(stderr=True),
                refresh_per_second=4,
                transient=True,
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def event(self, event) -> None:
        row = self.rows[event.model]
        row.update(state=event.state, attempt=event.attempt, message=event.message)
        if event.state == "deploying" and row["since"] is None:
            row["since"] = time.monotonic()
        if event.state in ("deployed", "failed"):
            row["seconds"] = event.seconds
        if self.mode == "lines" and event.state != "queued":
            extra = f" ({event.message})" if event.message else ""
            attempt = f" attempt {event.attempt}" if event.state == "deploying" else ""
            click.echo(f"{event.model}: {event.state}{attempt}{extra}", err=True)

    def _render(self):
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for header in ("model", "GPU", "state", "try", "seconds", "detail"):
            table.add_column(header, justify="right" if header in ("try", "seconds") else "left")
        now = time.monotonic()
        for model, row in self.rows.items():
            seconds = (
                row["seconds"]
                if row["seconds"] is not None
                else (now - row["since"] if row["since"] else 0.0)
            )
            style = {"deployed": "green", "failed": "red", "retrying": "yellow"}.get(
                row["state"], ""
            )
            table.add_row(
                model,
                row["gpu"],
                f"[{style}]{row['state']}[/]" if style else row["state"],
                str(row["attempt"] or ""),
                f"{seconds:.1f}",
                row["message"][:80],
            )
        return table


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
@ENV
@FORMAT
def status(root, strategy, environment, fmt):
    """What is deployed against what the YAML renders to now: unrendered edits, apps not
    deployed or out of date, rollbacks, and modalfleet apps the fleet no longer declares.

    Exit 0 when every app runs its current file, 2 when any drifts, 1 on error (usage errors
    included: 2 means drift only).
    """
    from ..platform import deploy as core
    from ..platform.lifecycle import undeclared_apps
    from ..platform.modal_backend import BackendError, default_environment

    fleet = load_valid_fleet(root, strategy)
    strategies = [strategy] if strategy else list(fleet.strategies)
    environment = environment or default_environment()
    try:
        targets, on_disk = core.status_targets(Path(root), fleet, strategies, environment)
        core.require_credentials()
    except core.PreflightError as exc:
        _fail(exc, usage_code=ExitCode.PROBLEMS)
    apps = [target.app for target in next(iter(targets.values()))]
    try:
        backend = core.make_backend()
        deployed = backend.deployed_apps(apps, environment)
        undeclared = undeclared_apps(fleet, strategy, backend.live_apps(environment))
    except BackendError as exc:
        term.error(f"error: cannot read the deployed apps from Modal: {exc.message}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    statuses = core.compare(targets, deployed, on_disk, undeclared)
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
    else:
        rows = [
            [
                s.model,
                s.state,
                f"v{s.live_version}" if s.live_version else "-",
                s.live_tag or "-",
                s.live_commit or "-",
                s.current_hash or "-",
                s.detail,
            ]
            for s in statuses
        ]
        term.echo(
            _table(["MODEL", "STATUS", "LIVE", "TAG", "COMMIT", "CURRENT", "DETAIL"], rows), "table"
        )
        drifting = sum(s.drift for s in statuses)
        click.echo(
            f"{len(statuses) - drifting} in sync, {drifting} drifting (environment {environment or 'default'})"
        )
    raise SystemExit(ExitCode.CHANGES if any(s.drift for s in statuses) else ExitCode.OK)


# --- destroy ------------------------------------------------------------------------------


@with_examples(
    "modalfleet destroy --strategy hybrid --dry-run",
    "modalfleet destroy --strategy hybrid --model seedvr2 --yes",
)
@click.command()
@click.option("--strategy", required=True, help="Stop the apps deployed under this strategy.")
@click.option("--model", "models", multiple=True, help="Only this model's app (repeatable).")
@ENV
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
    from ..platform.lifecycle import stop_apps, strategy_apps
    from ..platform.modal_backend import BackendError, default_environment

    environment = environment or default_environment()
    try:
        core.require_credentials()
    except core.PreflightError as exc:
        _fail(exc)
    backend = core.make_backend()
    try:
        apps = strategy_apps(backend.live_apps(environment), strategy, models)
    except BackendError as exc:
        click.echo(f"error: cannot read the deployed apps from Modal: {exc.message}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    where = environment or "default"
    if not apps:
        click.echo(
            f"nothing to stop: no app tagged managed-by: modalfleet, strategy {strategy}"
            + (f", model {', '.join(models)}" if models else "")
            + f" (environment {where})"
        )
        raise SystemExit(ExitCode.OK)
    rows = [[app.tags.get("model", app.name), app.name, app.app_id] for app in apps]
    click.echo(_table(["MODEL", "APP", "APP ID"], rows))
    if dry_run:
        click.echo(f"dry run: would stop {len(apps)} app(s) (environment {where}); nothing stopped")
        raise SystemExit(ExitCode.OK)
    _confirm(f"Stop these {len(apps)} app(s) in environment {where}?", yes, "destroy")
    _report_stops(stop_apps(apps, backend, environment))


def _report_stops(results) -> None:
    for result in results:
        if result.ok:
            click.echo(f"stopped {result.app}")
        else:
            click.echo(f"error: could not stop {result.app}: {result.error}", err=True)
    if not all(result.ok for result in results):
        raise SystemExit(ExitCode.PROBLEMS)


def on_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


def _confirm(question: str, yes: bool, what: str) -> None:
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
