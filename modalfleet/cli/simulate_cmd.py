"""`simulate`: one model under one strategy on Modal's autoscaler; flags answer what-if questions."""

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

POSITIVE = click.FloatRange(min=0, min_open=True)
NON_NEGATIVE = click.FloatRange(min=0)


@with_examples(
    "modalfleet simulate --model flux-schnell --strategy hybrid",
    "modalfleet simulate --model lora --strategy hybrid --scaledown-window 60 --min-containers 1",
    "modalfleet simulate --model instantid --strategy hybrid --days 7 --format json",
)
@click.command()
@root_option
@click.option(
    "--model",
    "model_name",
    required=True,
    help="The model to simulate.",
    shell_complete=complete_models,
)
@click.option(
    "--strategy",
    required=True,
    help="Whose GPU and container policy to use.",
    shell_complete=complete_strategies,
)
@click.option(
    "--trace",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay these arrivals (one per line: seconds since the period start, or ISO-8601 "
    "timestamps; # comments) instead of the model's traffic.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    help="Days to simulate from the model's traffic (default 30; with --trace: the days the "
    "trace covers).",
)
@term.wide_option
@click.option("--horizon", type=POSITIVE, help="Seconds to simulate (instead of --days).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the generated arrivals.")
@click.option("--service-time", type=POSITIVE, help="Seconds a request takes once started.")
@click.option("--cold-start", type=NON_NEGATIVE, help="Seconds from container start to ready.")
@click.option("--scaledown-window", type=NON_NEGATIVE, help="Idle seconds before shutdown.")
@click.option("--min-containers", type=click.IntRange(min=0), help="Warm containers.")
@click.option("--max-containers", type=click.IntRange(min=1), help="Most containers at once.")
@click.option("--max-inputs", type=click.IntRange(min=1), help="Requests per container at once.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def simulate(
    root,
    model_name,
    strategy,
    trace,
    days,
    horizon,
    seed,
    service_time,
    cold_start,
    scaledown_window,
    min_containers,
    max_containers,
    max_inputs,
    fmt,
):
    """What Modal bills for one model under one strategy: its containers simulated from start to
    shutdown (cold start, requests, the scaledown_window idle tail), cold starts and latency."""
    from ..economics.arrivals import (
        DEFAULT_SEED,
        NotATraceFile,
        TraceError,
        read_trace,
        trace_horizon,
    )
    from ..economics.fleet_simulation import DEFAULT_DAYS, SECONDS_PER_DAY, simulate_model
    from ..economics.simulate import SimulationError
    from ..economics.simulation_report import format_text, to_dict

    if days is not None and horizon is not None:
        raise click.UsageError("use --days N or --horizon SECONDS, not both")
    if trace is not None and seed is not None:
        raise click.UsageError("--seed shapes generated arrivals; a --trace replays its own")
    fleet = load_valid_fleet(root, show_warnings=False)
    require_models(fleet, (model_name,))
    require_strategy(fleet, strategy)

    arrivals = None
    if trace is not None:
        try:
            arrivals = read_trace(trace)
        except (TraceError, NotATraceFile) as exc:
            click.echo(f"simulate: {exc}", err=True)
            raise SystemExit(ExitCode.PROBLEMS) from None
        except OSError as exc:  # exists, but unreadable (permissions, a vanished file)
            click.echo(f"simulate: cannot read {trace}: {exc.strerror or exc}", err=True)
            raise SystemExit(ExitCode.PROBLEMS) from None
        if horizon is None and days is None:
            horizon = trace_horizon(arrivals)  # the whole days the trace covers
    if horizon is None:
        horizon = (days or DEFAULT_DAYS) * SECONDS_PER_DAY
    if arrivals is not None and arrivals[-1] >= horizon:
        late = sum(1 for t in arrivals if t >= horizon)
        click.echo(
            f"simulate: {late} arrival(s) of {trace} at or after the horizon ({horizon:g} s); "
            "raise --horizon/--days or trim the trace",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS)

    overrides = {
        field: value
        for field, value in (
            ("service_time_s", service_time),
            ("cold_start_s", cold_start),
            ("scaledown_window_s", scaledown_window),
            ("min_containers", min_containers),
            ("max_containers", max_containers),
            ("max_inputs", max_inputs),
        )
        if value is not None
    }
    try:
        sim = simulate_model(
            fleet,
            model_name,
            strategy,
            horizon_s=horizon,
            seed=DEFAULT_SEED if seed is None else seed,
            arrivals=arrivals,
            overrides=overrides,
        )
    except SimulationError as exc:
        click.echo(f"simulate: {exc}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    if fmt == "json":
        click.echo(json.dumps(to_dict(sim), indent=2))
    else:
        term.echo(format_text(sim), "report")
    raise SystemExit(ExitCode.OK)
