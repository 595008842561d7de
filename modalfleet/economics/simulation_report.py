"""A simulation as text or JSON: billed against busy seconds, cold starts, latency, dollars."""

from __future__ import annotations

from decimal import Decimal

from ..report.money import pct, usd, usd_rate
from ..report.numbers import number
from ..report.tables import markdown_table, table
from .cost import PERIOD_DAYS, Comparison, per_period, percent
from .cost_report import comparisons_label
from .fleet_simulation import ModelSimulation, SimulatedComparison
from .headline import BILL_LABEL, busy_line, change, checks_of, missed_advice

ESTIMATE_NOTE = (
    "ESTIMATE: simulated on Modal's autoscaler (cold start, requests and the scaledown_window "
    "idle tail billed at GPU + CPU + memory rates)"
)


def _round(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(value, places)


def to_dict(sim: ModelSimulation) -> dict:
    r = sim.result
    policy = sim.serving.policy
    served = r.requests > 0
    return {
        "model": sim.model,
        "strategy": sim.strategy,
        "gpu": sim.gpu,
        "requests": r.requests,
        "horizon_s": number(Decimal(str(r.horizon_s))),
        "busy_seconds": _round(r.busy_seconds),
        "billed_seconds": _round(r.billed_seconds),
        "idle_seconds": _round(r.idle_seconds),
        "cold_starts": r.cold_starts,
        "cold_start_rate": _round(r.cold_start_rate, 4),
        "latency_p50_s": _round(r.latency_p50_s) if served else None,
        "latency_p95_s": _round(r.latency_p95_s) if served else None,
        "latency_p99_s": _round(r.latency_p99_s) if served else None,
        "max_containers_used": r.max_containers_used,
        "cost": number(sim.cost),
        "cost_per_day": number(sim.cost_per_day),
        "latency_target_s": sim.latency_target_s,
        "meets_target": sim.meets_target,
        "usd_per_second": number(sim.serving.usd_per_second),
        "region_multiplier": number(sim.serving.rate.multiplier),
        "policy": {
            "service_time_s": policy.service_time_s,
            "cold_start_s": policy.cold_start_s,
            "scaledown_window_s": policy.scaledown_window_s,
            "min_containers": policy.min_containers,
            "max_containers": policy.max_containers,
            "max_inputs": policy.max_inputs,
        },
        "sources": {
            "service_time": sim.serving.seconds_source,
            "cold_start": sim.serving.cold_start_source,
        },
        "estimate": True,
    }


def format_text(sim: ModelSimulation) -> str:
    r = sim.result
    p = sim.serving.policy
    target = "none" if sim.latency_target_s is None else f"{sim.latency_target_s:g} s"
    verdict = {True: "meets", False: "MISSES", None: "-"}[sim.meets_target]
    ratio = f"{r.billed_seconds / r.busy_seconds:.1f}x busy" if r.busy_seconds else "no requests"
    cold_src = "" if sim.serving.cold_start_source == "measured" else " (ESTIMATE)"
    lines = [
        f"{sim.model} under {sim.strategy} on {sim.gpu}, {r.horizon_s / 86400:g} days simulated",
        f"  {ESTIMATE_NOTE}",
        "",
        f"  policy        service {p.service_time_s:g} s ({sim.serving.seconds_source}), "
        f"cold start {p.cold_start_s:g} s{cold_src}, scaledown_window {p.scaledown_window_s:g} s,",
        f"                min {p.min_containers} / max {p.max_containers} containers, "
        f"max_inputs {p.max_inputs}",
        f"  requests      {r.requests}",
        f"  busy seconds  {r.busy_seconds:,.0f}",
        f"  billed        {r.billed_seconds:,.0f} s ({ratio}; idle {r.idle_seconds:,.0f} s, "
        f"starting {r.starting_seconds:,.0f} s)",
        f"  cold starts   {r.cold_starts} containers; {r.cold_start_rate:.1%} of requests waited "
        "for one",
    ]
    if r.requests:
        lines.append(
            f"  latency       p50 {r.latency_p50_s:.2f} s, p95 {r.latency_p95_s:.2f} s, "
            f"p99 {r.latency_p99_s:.2f} s (target {target}: {verdict})"
        )
    multiplier = sim.serving.rate.multiplier
    priced = "GPU + CPU + memory"
    if multiplier != 1:
        priced = f"({priced}) x {multiplier:g} for the region"
    lines += [
        f"  containers    at most {r.max_containers_used} at once",
        f"  cost          {usd(sim.cost)} for the period, {usd(sim.cost_per_day)}/day "
        f"at {usd_rate(sim.serving.usd_per_second)}/s ({priced})",
    ]
    return "\n".join(lines)


WHY_THEY_DIFFER = (
    "why the two differ: the busy-seconds figure prices only the seconds requests run on the GPU "
    "(the Modal GPU requirements document's formula); Modal bills every container from start to "
    "shutdown (cold start, requests, the scaledown_window idle tail) plus CPU and memory."
)


def comparison_dict(comparison: SimulatedComparison) -> dict:
    """The `simulated` object of `cost --format json`: dollars per the comparison's period."""
    scale = PERIOD_DAYS[comparison.period]
    return {
        "total": number(comparison.total),
        "baseline_total": number(comparison.baseline_total),
        "savings": number(comparison.savings),
        "savings_pct": None
        if comparison.savings_pct is None
        else round(float(comparison.savings_pct), 2),
        "days_simulated": number(Decimal(str(comparison.models[0].result.horizon_s)) / 86400)
        if comparison.models
        else 0,
        "estimate": True,
        "models": [
            {
                "model": sim.model,
                "gpu": sim.gpu,
                "billed_seconds": _round(
                    float(Decimal(str(sim.result.billed_seconds)) / sim.days * scale)
                ),
                "cost": number(comparison.per_period(sim)),
                "cold_start_rate": _round(sim.result.cold_start_rate, 4),
                "latency_p95_s": _round(sim.result.latency_p95_s) if sim.result.requests else None,
                "latency_target_s": sim.latency_target_s,
                "meets_target": sim.meets_target,
            }
            for sim in comparison.models
        ],
    }


def format_comparison(
    comparison: SimulatedComparison, busy: Comparison, markdown: bool = False
) -> str:
    """The simulated bill per model beside the busy-seconds one, and the totals."""
    period = comparison.period
    busy_by_model = {m.model: per_period(m.daily, period) for m in busy.current.models}
    header = [
        "MODEL",
        "GPU",
        f"SIMULATED $/{period.upper()}",
        "P95",
        "TARGET",
        "COLD",
        f"BILLED S/{period.upper()}",
        f"BUSY $/{period.upper()}",
    ]
    rows = []
    scale = PERIOD_DAYS[period]
    for sim in comparison.models:
        billed = Decimal(str(sim.result.billed_seconds)) / sim.days * scale if sim.days else 0
        target = "-" if sim.latency_target_s is None else f"{sim.latency_target_s:g} s"
        verdict = {True: "ok", False: "MISSED", None: ""}[sim.meets_target]
        rows.append(
            [
                sim.model,
                sim.gpu,
                usd(comparison.per_period(sim)),
                f"{sim.result.latency_p95_s:.1f} s" if sim.result.requests else "-",
                f"{target} {verdict}".strip(),
                f"{sim.result.cold_start_rate:.1%}" if sim.result.requests else "-",
                f"{billed:,.0f}",
                usd(busy_by_model.get(sim.model, Decimal(0))),
            ]
        )
    right = [False, False, True, True, False, True, True, True]
    days = comparison.models[0].result.horizon_s / 86400 if comparison.models else 0
    lines = [
        f"Simulated on Modal's autoscaler ({days:g} days of arrivals), per {period} - ESTIMATE",
        "",
    ]
    drop = (6, 7, 5)  # billed seconds, busy $, cold-start share: the bill and p95 stay
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right, drop)
    text = f"simulated total {usd(comparison.total)}/{period} " + change(
        comparison.baseline_total, comparison.total, period, comparison.baseline
    )
    lines += ["", f"**{text}**" if markdown else text, WHY_THEY_DIFFER]
    return "\n".join(lines)


def format_totals(
    comparisons: list[SimulatedComparison], busy: list[Comparison], markdown: bool = False
) -> str:
    """Every strategy's simulated bill, per day and month, with its misses (cost without
    --strategy): the headline; the busy-seconds totals follow on one labelled line."""
    period = comparisons[0].period
    header = ["STRATEGY", "$/DAY", "$/MONTH", "VS COMPARE_TO", "P95 MISSED"]
    rows = []
    for sim in comparisons:
        found = checks_of(sim.models)
        daily = sim.total / PERIOD_DAYS[period]
        rows.append(
            [
                sim.strategy,
                usd(daily),
                usd(daily * PERIOD_DAYS["month"]),
                "-"
                if sim.baseline == sim.strategy
                else pct(percent(-sim.savings, sim.baseline_total)),
                ", ".join(c.model for c in found if c.meets is False) or "none",
            ]
        )
    days = comparisons[0].models[0].result.horizon_s / 86400 if comparisons[0].models else 0
    title = f"{BILL_LABEL} per strategy ({days:g} days of arrivals)"
    lines = [f"**{title}**" if markdown else title, ""]
    right = [False, True, True, True, False]
    drop = (3, 2)  # the change against compare_to, then the month: the bill and misses stay
    lines += markdown_table(header, rows, right) if markdown else table(header, rows, right, drop)
    missed = [c for sim in comparisons for c in checks_of(sim.models) if c.meets is False]
    advice = missed_advice(list({c.model: c for c in missed}.values()))
    busy_totals = ", ".join(f"{c.current.strategy} {usd(c.total)}/{period}" for c in busy)
    estimate = comparisons_label(busy)
    lines += ["", *advice, busy_line(busy_totals + estimate), WHY_THEY_DIFFER]
    return "\n".join(lines)
