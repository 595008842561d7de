"""`spend`: actual cost per model and strategy from Modal's billing report, beside the estimate
(platform/billing.py reads it, platform/spend.py builds and words the report)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from . import term
from .common import ExitCode, complete_strategies, load_valid_fleet, root_option, with_examples


@with_examples(
    "modalfleet spend --since 7d",
    "modalfleet spend --start 2025-03-10 --end 2025-03-17",
    "modalfleet spend --since 30d --format markdown",
)
@click.command()
@root_option
@click.option(
    "--since", help="The last N days/hours/weeks of complete intervals: 7d, 24h, 2w (default 7d)."
)
@click.option("--start", help="First day, inclusive (YYYY-MM-DD, UTC).")
@click.option("--end", help="Day after the last, exclusive (YYYY-MM-DD, UTC; default today).")
@click.option(
    "--resolution",
    type=click.Choice(["d", "h"]),
    default="d",
    show_default=True,
    help="Daily or hourly rows.",
)
@click.option(
    "--strategy",
    shell_complete=complete_strategies,
    help="The strategy deployed during the period (default: the apps' strategy tag).",
)
@click.option(
    "--threshold",
    default="20%",
    show_default=True,
    help="Flag a model whose actual cost exceeds its busy-seconds estimate by more than this.",
)
@term.wide_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--traces",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Simulate on the arrivals observe --trace-dir wrote for this period, not the declared "
    "traffic: `vs sim` is then the model's own error.",
)
def spend(root, since, start, end, resolution, strategy, threshold, fmt, traces):
    """Actual cost per model and strategy from Modal's billing report, beside the simulated bill.

    Apps are attributed through the tags deploy sets (model, strategy, managed-by). Apps managed
    by modalfleet whose model is no longer in models.yaml are listed as orphans.
    """
    from ..platform.billing import BillingError, fetch_report
    from ..platform.spend import (
        SpendError,
        build_report,
        format_markdown,
        format_text,
        observed_simulator,
        parse_date,
        parse_since,
        parse_threshold,
        period_between,
        period_since,
        to_dict,
    )

    # `is not None` throughout: an empty value is a bad one, not "option not given".
    if since is not None and (start is not None or end is not None):
        raise click.UsageError("use --since or --start/--end, not both")
    if end is not None and start is None:
        raise click.UsageError("--end needs --start")
    try:
        threshold_pct = parse_threshold(threshold)
        now = datetime.now(UTC)
        if start is not None:
            last = parse_date(end, "--end") if end is not None else now.date()
            period = period_between(parse_date(start, "--start"), last, resolution)
        else:
            period = period_since(now, parse_since("7d" if since is None else since), resolution)
    except SpendError as exc:
        raise click.UsageError(str(exc)) from None

    fleet = load_valid_fleet(root, strategy, show_warnings=False)
    try:
        rows = fetch_report(period.start, period.end, period.resolution)
    except BillingError as exc:
        term.error(f"spend: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    if not rows:
        click.echo(
            f"spend: Modal's billing report for {period.label()} is empty: nothing was billed then, "
            "or the period is too recent (the report holds complete intervals only)",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS)

    simulator, simulated_on = None, ""
    if traces is not None:
        try:
            simulator, simulated_on = observed_simulator(fleet, traces)
        except SpendError as exc:
            term.error(f"spend: {exc}")
            raise SystemExit(ExitCode.PROBLEMS) from None
    report = build_report(rows, fleet, period, threshold_pct, strategy, simulator, simulated_on)
    if fmt == "json":
        click.echo(json.dumps(to_dict(report), indent=2))
    elif fmt == "markdown":
        click.echo(format_markdown(report))
    else:
        term.echo(format_text(report), "report")
    raise SystemExit(ExitCode.OK)
