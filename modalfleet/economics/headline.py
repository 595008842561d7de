"""What every cost view leads with: the bill Modal sends, simulated, then the document's figure.

The busy-seconds formula (cost.py, the Modal GPU requirements document's) prices only the
seconds requests run on the GPU; Modal bills every container from start to shutdown plus CPU
and memory (fleet_simulation.py). The two can move in opposite directions (a longer
scaledown_window lowers nothing in the first and raises the second), so `cost`, `plan`,
`optimize` and `spend` lead with the simulated bill, per day and per month, with each model's
p95 against its target, and show the busy-seconds figure after it on one labelled line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..report.money import pct, usd
from .cost import per_period, percent
from .fleet_simulation import ModelSimulation

# The value of "headline" in every command's JSON: which figure the text leads with.
HEADLINE = "simulated"
BILL_LABEL = "Modal bill (simulated on Modal's autoscaler, ESTIMATE)"
BUSY_LABEL = "GPU work alone, the Modal GPU requirements document's formula"
MEASURED = "measured"


@dataclass(frozen=True)
class TargetCheck:
    """One model's simulated p95 against its latency target."""

    model: str
    p95_s: float | None  # None: no request was simulated (no traffic)
    target_s: float | None
    meets: bool | None  # None: no target or no traffic
    seconds_source: str  # where the service time came from: measured, flat, estimate...

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: ""}[self.meets]


def check_of(sim: ModelSimulation) -> TargetCheck:
    return TargetCheck(
        model=sim.model,
        p95_s=sim.result.latency_p95_s if sim.result.requests else None,
        target_s=sim.latency_target_s,
        meets=sim.meets_target,
        seconds_source=sim.serving.seconds_source,
    )


def checks_of(sims: Iterable[ModelSimulation]) -> tuple[TargetCheck, ...]:
    return tuple(check_of(sim) for sim in sims)


def bill(daily: Decimal) -> str:
    """'$96.35/day, $2890.57/month': the two periods every headline shows."""
    return f"{usd(daily)}/day, {usd(per_period(daily, 'month'))}/month"


def change(before: Decimal, after: Decimal, period: str, against: str) -> str:
    """'vs baseline $147.34/day: saves $50.99/day (34.6%)', per `period`."""
    text = f"vs {against} {usd(before)}/{period}: "
    saved = before - after
    if saved > 0:
        return text + f"saves {usd(saved)}/{period} ({pct(percent(saved, before), sign=False)})"
    if saved < 0:
        share = percent(-saved, before)
        more = f"costs {usd(-saved)}/{period} more"
        return text + more + ("" if share is None else f" ({pct(share)})")
    return text + "no change"


def direction(before: Decimal, after: Decimal, what: str, unit: str = "day") -> str:
    """'increases by $8.59/day (+8.9%)': a delta sentence; the sign follows after - before."""
    delta = after - before
    if delta == 0:
        return f"{what} is unchanged at {usd(after)}/{unit}"
    verb = "increases" if delta > 0 else "decreases"
    share = percent(delta, before)
    return (
        f"{what} {verb} by {usd(abs(delta))}/{unit} "
        f"({pct(share) if share is not None else 'from $0.00'})"
    )


def _p95(check: TargetCheck) -> str:
    return f"{check.model} {check.p95_s:.1f} s (target {check.target_s:g} s)"


def latency_lines(checks: Sequence[TargetCheck]) -> list[str]:
    """p95 against target, misses first: 'p95 MISSED: flux-dev 56.5 s (target 30 s), ...'."""
    lines = []
    missed = [_p95(c) for c in checks if c.meets is False]
    met = [_p95(c) for c in checks if c.meets is True]
    idle = [c.model for c in checks if c.meets is None and c.p95_s is None]
    untargeted = [f"{c.model} {c.p95_s:.1f} s" for c in checks if c.target_s is None and c.p95_s]
    if missed:
        lines.append("p95 MISSED: " + ", ".join(missed))
    if met:
        lines.append("p95 ok: " + ", ".join(met))
    if untargeted:
        lines.append("p95 without a target: " + ", ".join(untargeted))
    if idle:
        lines.append("no traffic: " + ", ".join(idle))
    return lines


def missed_advice(checks: Sequence[TargetCheck], optimized: bool = False) -> list[str]:
    """What to run when a target is MISSED: optimize (unless this is optimize's own output,
    `optimized`), and bench --write where the service time the simulation used is not a
    measurement."""
    missed = [c for c in checks if c.meets is False]
    if not missed:
        return []
    lines = []
    if not optimized:
        lines.append(
            "to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
            "that meets each target)"
        )
    unmeasured = [c.model for c in missed if c.seconds_source != MEASURED]
    if unmeasured:
        lines.append(
            f"seconds per request of {', '.join(unmeasured)} are not measured (ESTIMATE): "
            "`modalfleet bench --model NAME --write` measures them"
        )
    return lines


def target_lines(checks: Sequence[TargetCheck], optimized: bool = False) -> list[str]:
    """Under a headline: each model's p95 against its target, then what to run for a miss."""
    return [*latency_lines(checks), *missed_advice(checks, optimized)]


def busy_line(text: str) -> str:
    """The document's figure, on its one labelled line after the bill."""
    return f"{BUSY_LABEL}: {text}"
