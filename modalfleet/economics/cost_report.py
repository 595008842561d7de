"""`cost` as text or markdown: one strategy against its baseline, or every strategy side by side."""

from __future__ import annotations

from decimal import Decimal

from ..report.money import pct, usd, usd_rate
from ..report.numbers import seconds_text
from ..report.tables import markdown_table, table
from .cost import PERIOD_DAYS, Comparison, per_period, percent
from .fleet_simulation import SimulatedComparison
from .headline import (
    BILL_LABEL,
    BUSY_LABEL,
    bill,
    busy_line,
    change,
    checks_of,
    target_lines,
)

ESTIMATE_SOURCES = {
    "relative": "seconds scaled by relative GPU throughput",
    "compute": "seconds from compute (FLOPs / datasheet TFLOPS x calibrated efficiency)",
}


def estimate_label(is_estimate: bool, speed_model: str) -> str:
    """' - ESTIMATE: <where the seconds come from>' for an estimate, else ''. The speed model is
    the caller's to say: a default once labelled compute estimates "relative GPU throughput"."""
    if not is_estimate:
        return ""
    return f" - ESTIMATE: {ESTIMATE_SOURCES.get(speed_model, ESTIMATE_SOURCES['relative'])}"


def comparisons_label(comparisons) -> str:
    """estimate_label over several comparisons: the speed model of the first that estimates."""
    estimating = [c for c in comparisons if c.is_estimate]
    return estimate_label(bool(estimating), estimating[0].current.speed_model if estimating else "")


def format_strategy(comparison: Comparison, markdown: bool) -> str:
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
            usd_rate(m.cost_per_request),
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
        f"{BUSY_LABEL}: strategy {current.strategy} vs {comparison.baseline.strategy}, "
        f"per {period}{comparisons_label([comparison])}"
    )
    lines = [title, ""]
    # On a narrow terminal: idle and worst case first, then the per-request figures.
    drop = (8, 9, 4, 3, 2, 6)
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right, drop)
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
    return percent(part, whole)


def _totals_line(comparison: Comparison) -> str:
    period = comparison.period
    return f"total {usd(comparison.total)}/{period} " + change(
        comparison.baseline_total, comparison.total, period, comparison.baseline.strategy
    )


def format_side_by_side(comparisons: list[Comparison], markdown: bool) -> str:
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
    lines = [f"{BUSY_LABEL}: cost per {period} by strategy{comparisons_label(comparisons)}", ""]
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right)
    return "\n".join(lines)


def format_cost(
    comparisons: list[Comparison],
    simulated: list[SimulatedComparison],
    markdown: bool,
    single: bool,
) -> str:
    """`cost` as text or markdown: the simulated bill leads (headline, then its table), the
    document's busy-seconds figure follows on one labelled line and in its own table."""
    from .simulation_report import format_comparison, format_totals

    if single:
        head = _headline_one(comparisons[0], simulated[0], markdown)
        return "\n\n".join(
            [
                head,
                format_comparison(simulated[0], comparisons[0], markdown),
                format_strategy(comparisons[0], markdown),
            ]
        )
    return "\n\n".join(
        [
            format_totals(simulated, comparisons, markdown),
            format_side_by_side(comparisons, markdown),
        ]
    )


def _headline_one(busy: Comparison, sim: SimulatedComparison, markdown: bool) -> str:
    period = sim.period
    daily = sim.total / PERIOD_DAYS[period]
    first = f"{BILL_LABEL}, strategy {sim.strategy}: {bill(daily)}"
    against = change(sim.baseline_total, sim.total, period, sim.baseline)
    detail = [against, *target_lines(checks_of(sim.models))]
    busy_text = busy_line(
        f"{usd(busy.total)}/{period} "
        + change(busy.baseline_total, busy.total, period, busy.baseline.strategy)
        + comparisons_label([busy])
    )
    if markdown:
        return "\n".join([f"**{first}**", "", *[f"- {line}" for line in detail], "", busy_text])
    return "\n".join([first, *[f"  {line}" for line in detail], busy_text])
