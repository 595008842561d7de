"""`cost`, `optimize` and `plan`: what a strategy costs, the cheapest feasible GPUs, what a
change does. The numbers come from cost.py / optimize.py / plan.py; this module only formats."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import term
from .common import (
    Amount,
    ExitCode,
    complete_strategies,
    load_valid_fleet,
    require_strategy,
    root_option,
    with_examples,
)

FORMATS = click.Choice(["text", "markdown", "json"])
speed_model_option = click.option(
    "--speed-model",
    type=click.Choice(["compute", "flat", "relative"]),
    default="compute",
    show_default=True,
    help="Seconds per request where no measured figure names the GPU (measured figures win). "
    "compute: the request's FLOPs over the GPU's datasheet TFLOPS x a calibrated efficiency "
    "(an estimate; `speed` shows it); flat: the model's one figure on every GPU; relative: "
    "scale the baseline GPU's seconds by the catalog's relative throughput (an estimate). The "
    "busy-seconds table keeps the flat figure under compute (the document's formula).",
)
traces_option = click.option(
    "--traces",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Replay the arrivals in this folder (observe --trace-dir: <model>.txt or "
    "<strategy>/<model>.txt) instead of the declared traffic, over the days they cover.",
)


def _traced(fleet, traces, announce: bool = True):
    """The fleet replaying `traces` and the days to simulate (None: the command's default)."""
    if traces is None:
        return fleet, None
    from ..economics.traces import TracesError, describe, with_traces

    try:
        traced = with_traces(fleet, traces)
    except TracesError as exc:
        raise _fail(str(exc)) from None
    if announce:
        click.echo(describe(traced), err=True)
    return traced.fleet, traced.days


def _fail(message: str) -> SystemExit:
    term.error(f"error: {message}")
    return SystemExit(ExitCode.PROBLEMS)


# --- cost ---------------------------------------------------------------------------------------


@with_examples(
    "modalfleet cost --strategy hybrid",
    "modalfleet cost --all --period month",
    "modalfleet cost --strategy hybrid --baseline performance-optimized --format markdown",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    help="Cost this strategy (default: every strategy, as --all).",
    shell_complete=complete_strategies,
)
@click.option("--all", "all_strategies", is_flag=True, help="Every strategy side by side.")
@click.option(
    "--baseline",
    help="Compare with this strategy (default: each one's compare_to).",
    shell_complete=complete_strategies,
)
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@speed_model_option
@term.wide_option
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a grouped bar chart (SVG) of cost per model per strategy to this path.",
)
@traces_option
def cost(root, strategy, all_strategies, baseline, period, fmt, speed_model, chart, traces):
    """What Modal would bill for a strategy (simulated), each model's p95 against its target, and
    the Modal GPU requirements document's cost of the GPU work alone, against its baseline."""
    from ..economics.cost import CostError, compare

    # `is not None` throughout: an empty value is a bad name, not "option not given".
    if strategy is not None and all_strategies:
        raise click.UsageError("use --strategy S or --all, not both")
    if chart is not None and not str(chart).strip():
        raise click.UsageError("--chart needs a file path")
    fleet = load_valid_fleet(root, show_warnings=False)
    if strategy is not None:
        require_strategy(fleet, strategy)
    if baseline is not None:
        require_strategy(fleet, baseline)
    names = [strategy] if strategy is not None else list(fleet.strategies)
    try:
        comparisons = [compare(fleet, name, baseline, period, speed_model) for name in names]
    except CostError as exc:
        raise _fail(str(exc)) from None

    if chart:
        from ..economics.chart import ChartError, write_chart

        try:
            write_chart([c.current for c in comparisons], period, chart)
        except (ChartError, OSError) as exc:
            raise _fail(str(exc)) from None

    from ..economics.fleet_simulation import DEFAULT_DAYS, FleetSimulator

    replayed, days = _traced(fleet, traces)
    with term.Progress("cost: simulating", enabled=fmt != "json") as progress:
        simulator = FleetSimulator(
            replayed, days or DEFAULT_DAYS, speed_model=speed_model, progress=progress
        )
        simulated = [
            simulator.compare(c.current.strategy, c.baseline.strategy, period) for c in comparisons
        ]
    if fmt == "json":
        from ..economics.cost import to_dict
        from ..economics.headline import HEADLINE
        from ..economics.simulation_report import comparison_dict

        data = [
            {**to_dict(c), "headline": HEADLINE, "simulated": comparison_dict(s)}
            for c, s in zip(comparisons, simulated, strict=True)
        ]
        click.echo(json.dumps(data[0] if strategy else data, indent=2))
    else:
        from ..economics.cost_report import format_cost

        markdown = fmt == "markdown"
        text = format_cost(comparisons, simulated, markdown, single=strategy is not None)
        term.echo(text, None if markdown else "report")
    if chart and fmt != "json":
        click.echo(f"chart written to {chart}", err=True)


# --- optimize -----------------------------------------------------------------------------------


@with_examples(
    "modalfleet optimize",
    "modalfleet optimize --days 30 --chart frontier.svg",
    "modalfleet optimize --write tuned",
)
@click.command()
@root_option
@click.option("--objective", type=click.Choice(["cost"]), default="cost", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
)
@speed_model_option
@click.option(
    "--strategy",
    help="Whose container limits (max_containers) the serving-policy search keeps "
    "(default: the strategy named by --write, else the first in strategies/).",
    shell_complete=complete_strategies,
)
@term.wide_option
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    help="Days of arrivals each policy is simulated on (default 7).",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write an SVG of simulated cost against p95 latency per model.",
)
@click.option(
    "--write",
    "write_strategy",
    metavar="STRATEGY",
    help="Write the chosen GPUs (models.yaml) and container settings (strategies/STRATEGY.yaml, "
    "created when new) so `render` deploys them; comments and order are kept.",
)
@traces_option
@click.option(
    "--allow-alpha",
    is_flag=True,
    help="Also search Modal's GPU memory snapshot (alpha) per model, with its own cold start; "
    "--write then sets gpu_snapshot in the strategy file's models: entry where it is chosen.",
)
def optimize(
    root, objective, fmt, speed_model, strategy, days, chart, write_strategy, traces, allow_alpha
):
    """The cheapest GPU per model that fits its VRAM, dtype and latency target, and the cheapest
    serving policy (GPU, scaledown_window, min_containers, max_inputs) on the simulated autoscaler."""
    from ..economics.cost import CostError
    from ..economics.headline import HEADLINE
    from ..economics.optimize import optimize as run_optimize
    from ..economics.optimize_report import format_report, to_dict, to_yaml
    from ..economics.policy_search import SEARCH_DAYS, search

    if chart is not None and not str(chart).strip():
        raise click.UsageError("--chart needs a file path")
    fleet = load_valid_fleet(root, show_warnings=False)
    if strategy is not None:
        require_strategy(fleet, strategy)
    if write_strategy is not None:
        from ..fleet.checks import name_problem

        reason = name_problem(write_strategy)
        if reason:
            raise click.UsageError(f"--write {write_strategy!r}: a strategy name {reason}")
        if fmt == "yaml":
            raise click.UsageError("--write edits the files itself: drop --format yaml")
        if strategy is None and write_strategy in fleet.strategies:
            strategy = write_strategy
    try:
        result = run_optimize(fleet, objective, speed_model)
    except CostError as exc:
        raise _fail(str(exc)) from None
    if fmt == "yaml":
        click.echo(to_yaml(result))
        return
    replayed, traced_days = _traced(fleet, traces)
    with term.Progress("optimize: searching serving policies", fmt != "json") as progress:
        policies = search(
            replayed,
            strategy or next(iter(fleet.strategies)),
            days or traced_days or SEARCH_DAYS,
            speed_model=speed_model,
            allow_alpha=allow_alpha,
            progress=progress,
        )
    if chart:
        from ..economics.chart import ChartError, write_frontier_chart

        try:
            write_frontier_chart(policies, chart)
        except (ChartError, OSError) as exc:
            raise _fail(str(exc)) from None
    from ..economics import policy_report

    if fmt == "json":
        data = {
            **to_dict(result),
            "headline": HEADLINE,
            "policies": policy_report.to_dict(policies),
        }
        click.echo(json.dumps(data, indent=2))
    else:
        term.echo(format_report(result, policies), "report")
    if chart and fmt != "json":
        click.echo(f"chart written to {chart}", err=True)
    if write_strategy is not None:
        from ..economics.policy_files import write_policy
        from ..economics.policy_search import policy_write
        from ..fleet.yamledit import EditError

        try:
            summary = write_policy(root, policy_write(fleet, write_strategy, policies), policies)
        except EditError as exc:
            raise _fail(str(exc)) from None
        click.echo(summary, err=True)


# --- plan ---------------------------------------------------------------------------------------


@with_examples(
    "modalfleet plan --strategy hybrid --from-strategy baseline",
    "modalfleet plan --strategy hybrid --against origin/main --format markdown",
    "modalfleet plan --all --detailed-exitcode",
)
@click.command()
@root_option
@click.option(
    "--strategy", help="The working tree's strategy to plan.", shell_complete=complete_strategies
)
@click.option(
    "--all", "all_strategies", is_flag=True, help="Plan every strategy, one after another."
)
@click.option("--against", "ref", help="Compare with the fleet at this git ref (default HEAD).")
@click.option(
    "--from-strategy",
    help="Compare with another strategy of the working tree instead.",
    shell_complete=complete_strategies,
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@speed_model_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing changes, 2 when something does, 1 on error (as Terraform).",
)
@click.option(
    "--fail-on-missed-target",
    is_flag=True,
    help="Exit 1 when a model's simulated p95 misses its latency target after the change.",
)
@click.option(
    "--max-monthly",
    type=Amount(),
    metavar="USD",
    help="Exit 1 when the simulated monthly bill after the change exceeds USD.",
)
@click.option(
    "--max-increase",
    type=Amount(),
    metavar="PCT",
    help="Exit 1 when the simulated monthly bill rises by more than PCT percent.",
)
@term.wide_option
@traces_option
def plan(
    root,
    strategy,
    all_strategies,
    ref,
    from_strategy,
    fmt,
    speed_model,
    detailed_exitcode,
    fail_on_missed_target,
    max_monthly,
    max_increase,
    traces,
):
    """What a change does to a strategy's simulated bill and p95, and per model to its GPU, VRAM,
    containers and $/day, before -> after; guardrails fail it on the bill after the change."""
    from ..economics.cost import CostError
    from ..economics.guardrails import Guardrails, check_all
    from ..economics.plan import PlanError, build_plan, fleet_at, format_plans

    if ref is not None and from_strategy is not None:
        raise click.UsageError("use --against REF or --from-strategy T, not both")
    if strategy is not None and all_strategies:
        raise click.UsageError("use --strategy S or --all, not both")
    if strategy is None and not all_strategies:
        raise click.UsageError("Missing option '--strategy' (or --all for every strategy).")
    after = load_valid_fleet(root, show_warnings=False)
    if strategy is not None:
        require_strategy(after, strategy)
    names = list(after.strategies) if all_strategies else [strategy]
    after, days = _traced(after, traces)
    progress = term.Progress("plan: simulating", fmt != "json")
    try:
        with progress:
            if from_strategy is not None:  # an empty name is unknown, not "compare with HEAD"
                require_strategy(after, from_strategy)
                results = [
                    build_plan(
                        after,
                        after,
                        name,
                        f"strategy {from_strategy}",
                        f"strategy {name}",
                        before_strategy=from_strategy,
                        speed_model=speed_model,
                        days=days,
                    )
                    for name in progress.each(names)
                ]
            else:
                ref = "HEAD" if ref is None else ref
                with fleet_at(root, ref) as before:
                    before, _ = _traced(before, traces, announce=False)
                    results = [
                        build_plan(
                            before,
                            after,
                            name,
                            ref,
                            "working tree",
                            speed_model=speed_model,
                            days=days,
                        )
                        for name in progress.each(names)
                    ]
    except (PlanError, CostError) as exc:
        raise _fail(str(exc)) from None
    rails = Guardrails(fail_on_missed_target, max_monthly, max_increase)
    trips = check_all(results, rails)
    term.echo(
        format_plans(results, fmt, as_list=all_strategies, trips=trips),
        "report" if fmt == "text" else None,
    )
    for trip in trips:
        term.error(f"plan: strategy {trip.strategy}: guardrail {trip.guardrail} tripped")
    if trips:
        raise SystemExit(ExitCode.PROBLEMS)
    if detailed_exitcode and any(result.changed for result in results):
        raise SystemExit(ExitCode.CHANGES)  # Terraform's convention: 2 = changes present
    raise SystemExit(ExitCode.OK)
