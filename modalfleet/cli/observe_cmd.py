"""`observe`: what the deployed fleet's containers recorded, and what to do with it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import term
from .common import (
    ExitCode,
    complete_models,
    complete_strategies,
    load_valid_fleet,
    require_models,
    require_strategy,
    root_option,
    with_examples,
)


@with_examples(
    "modalfleet observe --strategy hybrid --since 7d",
    "modalfleet observe --strategy hybrid --from-logs docs/how-to/flux-schnell.log",
    "modalfleet observe --strategy hybrid --since 7d --trace-dir traces --write",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    required=True,
    help="The strategy whose records to read (the deployed one).",
    shell_complete=complete_strategies,
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Only this model (repeat for several; default every model).",
    shell_complete=complete_models,
)
@click.option(
    "--since",
    help="Start of the period: a duration (7d, 24h, 2w: whole UTC days up to today) or an ISO "
    "time (default 7d; with --from-logs: the days the records cover).",
)
@click.option("--until", help="End of the period, an ISO time (default now).")
@click.option("--env", "environment", help="The Modal environment the apps run in.")
@click.option(
    "--from-logs",
    "log_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read these saved log files (`modal app logs` output) instead of Modal; no "
    "credentials needed. Repeat for several.",
)
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the estimated arrivals to DIR/<strategy>/<model>.txt (simulate --trace, "
    "optimize --traces read them).",
)
@click.option(
    "--write",
    is_flag=True,
    help="Record the measured seconds per request and cold starts in models.yaml (where at "
    "least 20 requests or 5 cold starts back them); comments and order are kept.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def observe(root, strategy, models, since, until, environment, log_files, trace_dir, write, fmt):
    """Cold starts, seconds per request, cold-start waits and errors per model and GPU, from the
    records the deployed containers log; --trace-dir and --write feed them back."""
    from ..economics.observe import RecordError
    from ..economics.observe_report import format_text, to_dict
    from ..platform.logs import LogsError
    from ..platform.observe import ObserveError, observe, write_measured, write_traces

    fleet = load_valid_fleet(root, show_warnings=False)
    require_strategy(fleet, strategy)
    require_models(fleet, models)
    try:
        found = observe(
            fleet,
            strategy,
            models,
            since=since,
            until=until,
            environment=environment,
            log_files=log_files,
        )
        for note in found.notes:
            term.error(f"observe: {note}")
        if fmt == "json":
            click.echo(json.dumps(to_dict(found.observed, found.window), indent=2))
        else:
            term.echo(format_text(found.observed, found.window), "table")
        if trace_dir is not None:
            for path in write_traces(trace_dir, found):
                click.echo(f"observe: wrote {path}", err=True)
        if write:
            changed, short = write_measured(root, found, fleet)
            for line in short:
                click.echo(line, err=True)
            click.echo(changed or "observe: nothing measured enough to write", err=True)
    except (ObserveError, LogsError, RecordError) as exc:
        term.error(f"observe: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    raise SystemExit(ExitCode.OK)
