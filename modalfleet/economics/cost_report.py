"""`cost` as text or markdown: one strategy against its baseline, or every strategy side by side."""

from __future__ import annotations

from decimal import Decimal

from ..report.money import pct, usd, usd_rate
from ..report.numbers import seconds_text
from ..report.tables import markdown_table, table
from .cost import Comparison, per_period, percent

ESTIMATE_SOURCES = {
    "relative": "seconds scaled by relative GPU throughput",
    "compute": "seconds from compute (FLOPs / datasheet TFLOPS x calibrated efficiency)",
}


def estimate_label(is_estimate: bool, speed_model: str = "relative") -> str:
    if not is_estimate:
        return ""
    return f" - ESTIMATE: {ESTIMATE_SOURCES.get(speed_model, ESTIMATE_SOURCES['relative'])}"


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
        f"Strategy {current.strategy} vs {comparison.baseline.strategy}, per {period}"
        f"{estimate_label(comparison.is_estimate)}"
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
    return percent(part, whole)


def _totals_line(comparison: Comparison) -> str:
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
    estimate = any(c.is_estimate for c in comparisons)
    lines = [f"Cost per {period} by strategy{estimate_label(estimate)}", ""]
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right)
    return "\n".join(lines)
