"""`cost`, `optimize` and `plan`: what a strategy costs, the cheapest feasible GPUs, what a
change does. The numbers come from cost.py / optimize.py / plan.py; this module only formats."""

from __future__ import annotations

import json
from decimal import Decimal

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
    from ..cost import CostError, compare

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
        from ..chart import ChartError, write_chart

        try:
            write_chart([c.current for c in comparisons], period, chart)
        except (ChartError, OSError) as exc:
            raise _fail(str(exc)) from None

    if fmt == "json":
        from ..cost import to_dict

        data = [to_dict(c) for c in comparisons]
        click.echo(json.dumps(data[0] if strategy else data, indent=2))
    elif strategy:
        click.echo(_one_strategy(comparisons[0], markdown=fmt == "markdown"))
    else:
        click.echo(_side_by_side(comparisons, markdown=fmt == "markdown"))
    if chart and fmt != "json":
        click.echo(f"chart written to {chart}", err=True)


def _estimate_label(is_estimate: bool) -> str:
    return " - ESTIMATE: seconds scaled by relative GPU throughput" if is_estimate else ""


def _one_strategy(comparison, markdown: bool) -> str:
    from ..cost import pct, per_period, seconds_text, usd
    from ..tables import markdown_table, table

    period = comparison.period
    current = comparison.current
    fallback = current.has_fallbacks
    header = ["MODEL", "GPU", "REQ/DAY", "S/REQUEST", "$/REQUEST", f"$/{period.upper()}"]
    header += [f"BASELINE $/{period.upper()}", "CHANGE", f"IDLE $/{period.upper()}"]
    if fallback:
        header.append(f"WORST CASE $/{period.upper()}")
    rows = []
    for m in current.models:
        base = comparison.baseline.get(m.model)
        cost_now = per_period(m.daily, period)
        base_cost = per_period(base.daily, period) if base else None
        change = "-" if base_cost is None else pct(_share(cost_now - base_cost, base_cost))
        row = [
            m.model,
            ", ".join(m.gpus),
            seconds_text(m.requests_per_day),
            f"{seconds_text(m.seconds.value)} {m.seconds.source}",
            usd(m.cost_per_request, fine=True),
            usd(cost_now),
            "-" if base_cost is None else usd(base_cost),
            change,
            usd(per_period(m.idle_daily, period)),
        ]
        if fallback:
            worst = m.worst_case_daily
            row.append(
                "-" if worst is None else f"{usd(per_period(worst, period))} ({m.worst_case_gpu})"
            )
        rows.append(row)
    right = [False, False, True, True, True, True, True, True, True, True]
    title = (
        f"Strategy {current.strategy} vs {comparison.baseline.strategy}, per {period}"
        f"{_estimate_label(comparison.is_estimate)}"
    )
    lines = [title, ""]
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right)
    totals = _totals_line(comparison)
    lines += ["", f"**{totals}**" if markdown else totals]
    idle = per_period(current.idle_daily, period)
    if idle:
        lines.append(
            f"warm containers (min_containers) add {usd(idle)}/{period}: "
            f"{usd(comparison.total + idle)}/{period} in all"
        )
    return "\n".join(lines)


def _share(part: Decimal, whole: Decimal) -> Decimal | None:
    from ..cost import percent

    return percent(part, whole)


def _totals_line(comparison) -> str:
    from ..cost import pct, usd

    period = comparison.period
    text = (
        f"total {usd(comparison.total)}/{period} vs {comparison.baseline.strategy} "
        f"{usd(comparison.baseline_total)}/{period}: "
    )
    if comparison.savings > 0:
        text += (
            f"saves {usd(comparison.savings)}/{period} ({pct(comparison.savings_pct, sign=False)})"
        )
    elif comparison.savings < 0:
        text += (
            f"costs {usd(-comparison.savings)}/{period} more "
            f"({pct(_share(-comparison.savings, comparison.baseline_total))})"
        )
    else:
        text += "no change"
    return text


def _side_by_side(comparisons, markdown: bool) -> str:
    from ..cost import pct, per_period, usd
    from ..tables import markdown_table, table

    period = comparisons[0].period
    header = ["MODEL", *[c.current.strategy.upper() for c in comparisons]]
    rows = []
    for index, m in enumerate(comparisons[0].current.models):
        row = [m.model]
        for c in comparisons:
            mc = c.current.models[index]
            row.append(f"{'/'.join(mc.gpus)} {usd(per_period(mc.daily, period))}")
        rows.append(row)
    rows.append(["TOTAL", *[usd(c.total) for c in comparisons]])
    baselines = {c.baseline.strategy for c in comparisons}
    label = f"VS {baselines.pop()}" if len(baselines) == 1 else "VS COMPARE_TO"
    changes = [
        "-"
        if c.baseline.strategy == c.current.strategy
        else pct(_share(-c.savings, c.baseline_total))
        for c in comparisons
    ]
    rows.append([label, *changes])
    right = [False] + [True] * len(comparisons)
    estimate = any(c.is_estimate for c in comparisons)
    lines = [f"Cost per {period} by strategy{_estimate_label(estimate)}", ""]
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right)
    return "\n".join(lines)


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
def optimize(root, objective, fmt, speed_model):
    """The cheapest GPU per model that fits its VRAM, dtype and latency target; each strategy's gap to it."""
    from ..cost import CostError
    from ..optimize import optimize as run_optimize

    fleet = load_valid_fleet(root, show_warnings=False)
    try:
        result = run_optimize(fleet, objective, speed_model)
    except CostError as exc:
        raise _fail(str(exc)) from None
    if fmt == "yaml":
        click.echo(_optimize_yaml(result))
    elif fmt == "json":
        click.echo(json.dumps(_optimize_dict(result), indent=2))
    else:
        click.echo(_optimize_text(result))


def _optimize_yaml(result) -> str:
    label = "estimate, relative speed model" if result.is_estimate else result.speed_model
    lines = [
        f"# modalfleet optimize: cheapest feasible GPU per model (objective {result.objective}, "
        f"seconds: {label})",
        "# paste under each model's gpu: map, keyed by a new strategy name",
        "gpu:",
    ]
    for choice in result.choices:
        if choice.chosen is None:
            lines.append(f"  # {choice.model.name}: no feasible GPU ({choice.reason})")
        else:
            lines.append(f"  {choice.model.name}: {choice.chosen.gpu.name}")
    return "\n".join(lines)


def _optimize_dict(result) -> dict:
    from ..cost import number

    def money(value):
        return None if value is None else number(value)

    return {
        "objective": result.objective,
        "speed_model": result.speed_model,
        "estimate": result.is_estimate,
        "models": [
            {
                "model": choice.model.name,
                "chosen": choice.chosen.gpu.name if choice.chosen else None,
                "reason": choice.reason or None,
                "candidates": [
                    {
                        "gpu": cand.gpu.name,
                        "vram_gb": cand.gpu.vram_gb,
                        "vram_need_gb": cand.need_gb,
                        "fits": cand.fits,
                        "dtype_ok": cand.dtype_ok,
                        "seconds_per_request": money(cand.seconds.value if cand.seconds else None),
                        "seconds_source": cand.seconds.source if cand.seconds else None,
                        "meets_latency": cand.meets_latency,
                        "cost_per_request": money(cand.cost_per_request),
                        "cost": money(cand.daily),
                        "feasible": cand.feasible,
                        "chosen": cand is choice.chosen,
                        "note": choice.note_for(cand),
                    }
                    for cand in choice.candidates
                ],
            }
            for choice in result.choices
        ],
        "optimum_total": number(result.optimum_daily),
        "strategies": [
            {
                "strategy": gap.strategy,
                "total": number(gap.daily),
                "optimum_total": number(gap.optimum_daily),
                "gap": number(gap.gap),
                "gap_pct": None if gap.gap_pct is None else round(float(gap.gap_pct), 2),
                "left_out": list(gap.left_out),
            }
            for gap in result.gaps
        ],
    }


def _optimize_text(result) -> str:
    from ..cost import pct, seconds_text, usd
    from ..tables import table

    lines = [
        f"Cheapest feasible GPU per model (objective {result.objective}, per day)"
        f"{_estimate_label(result.is_estimate)}"
    ]
    header = [
        "GPU",
        "VRAM",
        "FITS?",
        "DTYPE OK?",
        "EST. S",
        "LATENCY OK?",
        "$/REQUEST",
        "$/DAY",
        "CHOSEN",
        "NOTE",
    ]
    right = [False, True, False, False, True, False, True, True, False, False]
    for choice in result.choices:
        model = choice.model
        target = f"{model.latency_target_s:g} s" if model.latency_target_s is not None else "none"
        lines += [
            "",
            f"{model.name} (needs {choice.candidates[0].need_gb:g} GB, {model.dtype}, latency target {target})",
        ]
        rows = []
        for cand in choice.candidates:
            rows.append(
                [
                    cand.gpu.name,
                    f"{cand.gpu.vram_gb:g} GB",
                    "yes" if cand.fits else "no",
                    ("yes" if cand.dtype_ok else "no")
                    + (" *" if cand.dtype_ok and cand.dtype_note else ""),
                    "-"
                    if cand.seconds is None
                    else f"{seconds_text(cand.seconds.value)} {cand.seconds.source}",
                    "yes" if cand.meets_latency else "no",
                    "-" if cand.cost_per_request is None else usd(cand.cost_per_request, fine=True),
                    "-" if cand.daily is None else usd(cand.daily),
                    "\u2714" if cand is choice.chosen else "",
                    choice.note_for(cand),
                ]
            )
        lines += ["  " + line for line in table(header, rows, right)]
        if choice.chosen is None:
            lines.append(f"  no feasible GPU: {choice.reason}")
    lines += ["", "Strategies against the optimum (models with a feasible GPU):"]
    rows = [
        [
            gap.strategy,
            usd(gap.daily),
            usd(gap.optimum_daily),
            usd(gap.gap, sign=True),
            pct(gap.gap_pct),
        ]
        for gap in result.gaps
    ]
    lines += [
        "  " + line
        for line in table(
            ["STRATEGY", "$/DAY", "OPTIMUM $/DAY", "GAP", "GAP %"],
            rows,
            [False, True, True, True, True],
        )
    ]
    left_out = result.gaps[0].left_out if result.gaps else ()
    if left_out:
        lines.append(f"left out (no feasible GPU): {', '.join(left_out)}")
    return "\n".join(lines)


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
    from ..cost import CostError
    from ..plan import PlanError, build_plan, fleet_at, format_markdown, format_text, to_json

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
        raise SystemExit(2)  # Terraform's convention: 2 = changes present
    raise SystemExit(ExitCode.OK)
