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
from .common import ExitCode, load_valid_fleet, require_models, root_option

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


def _fail(exc) -> None:
    """Print a PreflightError (message, then its details) and exit with its code."""
    click.echo(f"error: {exc.message}", err=True)
    for line in exc.details:
        click.echo(f"  {line}", err=True)
    raise SystemExit(exc.exit_code)


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    aligned_right = [i in right for i in range(len(headers))]
    return "\n".join(table(headers, rows, aligned_right))


@click.command()
@root_option
@click.option("--strategy", required=True, help="The strategy whose generated apps to deploy.")
@click.option("--model", "models", multiple=True, help="Deploy only this model (repeatable).")
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
    fmt,
):
    """Deploy the generated apps of a strategy through the Modal SDK, in parallel, tagged.

    Pre-flight, in order, before anything reaches Modal: validation errors, unknown names, a
    stale generated/<strategy> (or --render), missing credentials. Exit 0 when every app
    deployed, 1 when any failed or the pre-flight refused, 2 for usage errors.
    """
    from ..platform import deploy as core
    from ..platform.modal_backend import default_environment

    fleet = load_valid_fleet(root, strategy)
    require_models(fleet, models)
    try:
        deployments = core.select(fleet, strategy, models)
        files = core.check_generated(
            root, fleet, strategy, render_first=render_first, write=not dry_run
        )
        environment = environment or default_environment()
        targets = core.plan_targets(deployments, files, core.git_revision(root), environment)
        if dry_run:
            _print_dry_run(targets, strategy, fmt)
            raise SystemExit(ExitCode.OK)
        core.require_credentials()
    except core.PreflightError as exc:
        _fail(exc)

    backend = core.make_backend(timeout_s)
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
    if fmt == "json":
        click.echo(json.dumps([result.to_dict() for result in results], indent=2))
    else:
        _print_summary(results, targets)
    raise SystemExit(ExitCode.OK if all(result.ok for result in results) else ExitCode.PROBLEMS)


def _print_dry_run(targets, strategy: str, fmt: str) -> None:
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
    click.echo(
        f"dry run: {len(targets)} app(s) of strategy {strategy}, environment {where}; nothing is sent to Modal"
    )
    rows = [[t.model, t.app, ",".join(t.gpus), t.file, t.content_hash, t.tag] for t in targets]
    click.echo(_table(["MODEL", "APP", "GPU", "FILE", "HASH", "TAG"], rows))


def _print_summary(results, targets) -> None:
    rows = [
        [r.model, r.app, ",".join(r.gpus), r.status, f"{r.seconds:.1f}", r.url or r.error or ""]
        for r in results
    ]
    click.echo(_table(["MODEL", "APP", "GPU", "STATUS", "SECONDS", "URL / ERROR"], rows, right={4}))
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


@click.command()
@root_option
@click.option("--strategy", help="Compare with this strategy's files (default: any strategy's).")
@ENV
@FORMAT
def status(root, strategy, environment, fmt):
    """What is deployed against what generated/ would deploy now: missing apps, drift, rollbacks.

    Exit 0 when every app runs its current file, 2 when any drifts (not deployed, out of date,
    rolled back, untracked), 1 on error.
    """
    from ..platform import deploy as core
    from ..platform.modal_backend import BackendError, default_environment

    fleet = load_valid_fleet(root, strategy)
    strategies = [strategy] if strategy else list(fleet.strategies)
    environment = environment or default_environment()
    try:
        targets = {}
        for name in strategies:
            deployments = core.select(fleet, name)
            targets[name] = core.plan_targets(
                deployments, core.files_on_disk(Path(root), deployments), "nogit", environment
            )
        core.require_credentials()
    except core.PreflightError as exc:
        _fail(exc)
    apps = [target.app for target in next(iter(targets.values()))]
    try:
        deployed = core.make_backend().deployed_apps(apps, environment)
    except BackendError as exc:
        click.echo(f"error: cannot read the deployed apps from Modal: {exc.message}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    statuses = core.compare(targets, deployed)
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
                s.current_hash,
                s.detail,
            ]
            for s in statuses
        ]
        click.echo(_table(["MODEL", "STATUS", "LIVE", "TAG", "COMMIT", "CURRENT", "DETAIL"], rows))
        drifting = sum(s.drift for s in statuses)
        click.echo(
            f"{len(statuses) - drifting} in sync, {drifting} drifting (environment {environment or 'default'})"
        )
    raise SystemExit(ExitCode.CHANGES if any(s.drift for s in statuses) else ExitCode.OK)
