"""`cost`, `optimize` and `plan`: what a strategy costs, the cheapest feasible GPUs, what a
change does. The numbers come from cost.py / optimize.py / plan.py; this module only formats."""

from __future__ import annotations

import json

import click

from .common import ExitCode, load_valid_fleet, require_strategy, root_option

FORMATS = click.Choice(["text", "markdown", "json"])
speed_model_option = click.option(
    "--speed-model",
    type=click.Choice(["flat", "relative"]),
    default="flat",
    show_default=True,
    help="flat: the model's seconds on every GPU (measured figures win); relative: scale the "
    "baseline GPU's seconds by the catalog's relative throughput (an estimate).",
)


def _fail(message: str) -> SystemExit:
    click.echo(f"error: {message}", err=True)
    return SystemExit(ExitCode.PROBLEMS)


# --- cost ---------------------------------------------------------------------------------------


@click.command()
@root_option
@click.option("--strategy", help="Cost this strategy (default: every strategy, as --all).")
@click.option("--all", "all_strategies", is_flag=True, help="Every strategy side by side.")
@click.option("--baseline", help="Compare with this strategy (default: each one's compare_to).")
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@speed_model_option
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a grouped bar chart (SVG) of cost per model per strategy to this path.",
)
def cost(root, strategy, all_strategies, baseline, period, fmt, speed_model, chart):
    """Cost per model and in total for a strategy, and the savings against its baseline."""
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

    if fmt == "json":
        from ..economics.cost import to_dict

        data = [to_dict(c) for c in comparisons]
        click.echo(json.dumps(data[0] if strategy else data, indent=2))
    else:
        from ..economics.cost_report import format_side_by_side, format_strategy

        markdown = fmt == "markdown"
        if strategy:
            click.echo(format_strategy(comparisons[0], markdown))
        else:
            click.echo(format_side_by_side(comparisons, markdown))
    if chart and fmt != "json":
        click.echo(f"chart written to {chart}", err=True)


# --- optimize -----------------------------------------------------------------------------------


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
    "--write",
    "write_strategy",
    metavar="STRATEGY",
    help="Add STRATEGY (each model's chosen GPU) to models.yaml and write strategies/STRATEGY.yaml.",
)
def optimize(root, objective, fmt, speed_model, write_strategy):
    """The cheapest GPU per model that fits its VRAM, dtype and latency target; each strategy's gap to it."""
    from ..economics.cost import CostError
    from ..economics.optimize import optimize as run_optimize

    fleet = load_valid_fleet(root, show_warnings=False)
    if write_strategy is not None:
        _check_new_strategy(fleet, write_strategy)
    try:
        result = run_optimize(fleet, objective, speed_model)
    except CostError as exc:
        raise _fail(str(exc)) from None
    from ..economics.optimize_report import format_text, to_dict, to_yaml

    if write_strategy is not None:
        _write_strategy(root, fleet, result, write_strategy)
        return
    if fmt == "yaml":
        click.echo(to_yaml(result))
    elif fmt == "json":
        click.echo(json.dumps(to_dict(result), indent=2))
    else:
        click.echo(format_text(result))


def _check_new_strategy(fleet, name: str) -> None:
    from ..fleet.checks import _name_problem

    reason = _name_problem(name)
    if reason is not None:
        raise click.UsageError(f"strategy name {name!r} {reason}")
    if name in fleet.strategies:
        raise click.UsageError(f"strategy {name!r} exists already; pick a new name for --write")


def _write_strategy(root, fleet, result, name: str) -> None:
    """optimize --write: every model needs a feasible GPU, else nothing is written."""
    from ..fleet.yamledit import EditError, write_new_strategy

    missing = [choice for choice in result.choices if choice.chosen is None]
    if missing:
        for choice in missing:
            click.echo(f"error: {choice.model.name}: no feasible GPU ({choice.reason})", err=True)
        click.echo(
            f"optimize --write: nothing written: strategy {name} needs a GPU for every model",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS)
    reference = "baseline" if "baseline" in fleet.strategies else next(iter(fleet.strategies))
    policy = fleet.strategies[reference].containers
    label = (
        "ESTIMATE, relative speed model" if result.is_estimate else f"seconds: {result.speed_model}"
    )
    comment = (
        f"Written by `modalfleet optimize --write {name}` (objective {result.objective}, {label}).\n"
        f"Containers copied from {reference}."
    )
    try:
        written = write_new_strategy(
            root,
            name,
            {choice.model.name: choice.chosen.gpu.name for choice in result.choices},
            comment,
            reference,
            {
                "min_containers": policy.min_containers,
                "max_containers": policy.max_containers,
                "scaledown_window_s": policy.scaledown_window_s,
                "timeout_s": policy.timeout_s,
            },
        )
    except EditError as exc:
        raise _fail(str(exc)) from None
    for choice in result.choices:
        click.echo(f"  {choice.model.name}: {choice.chosen.gpu.name}")
    click.echo(f"wrote {', '.join(written)}; next: python cli.py render, review, commit")


# --- plan ---------------------------------------------------------------------------------------


@click.command()
@root_option
@click.option("--strategy", required=True, help="The working tree's strategy to plan.")
@click.option("--against", "ref", help="Compare with the fleet at this git ref (default HEAD).")
@click.option("--from-strategy", help="Compare with another strategy of the working tree instead.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@speed_model_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing changes, 2 when something does, 1 on error (as Terraform).",
)
def plan(root, strategy, ref, from_strategy, fmt, speed_model, detailed_exitcode):
    """What a change does to STRATEGY: per model GPU, VRAM, containers and $/day, before -> after."""
    from ..economics.cost import CostError
    from ..economics.plan import (
        PlanError,
        build_plan,
        fleet_at,
        format_markdown,
        format_text,
        to_json,
    )

    if ref is not None and from_strategy is not None:
        raise click.UsageError("use --against REF or --from-strategy T, not both")
    after = load_valid_fleet(root, show_warnings=False)
    require_strategy(after, strategy)
    try:
        if from_strategy is not None:  # an empty name is unknown, not "compare with HEAD"
            require_strategy(after, from_strategy)
            result = build_plan(
                after,
                after,
                strategy,
                f"strategy {from_strategy}",
                f"strategy {strategy}",
                before_strategy=from_strategy,
                speed_model=speed_model,
            )
        else:
            ref = "HEAD" if ref is None else ref
            before = fleet_at(root, ref)
            result = build_plan(
                before, after, strategy, ref, "working tree", speed_model=speed_model
            )
    except (PlanError, CostError) as exc:
        raise _fail(str(exc)) from None
    output = {"json": to_json, "markdown": format_markdown, "text": format_text}[fmt](result)
    click.echo(output)
    if detailed_exitcode and result.changed:
        raise SystemExit(ExitCode.CHANGES)  # Terraform's convention: 2 = changes present
    raise SystemExit(ExitCode.OK)
