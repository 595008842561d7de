"""plan's guardrails, as Infracost users ask for: fail a pull request on the simulated bill.

Each guardrail reads the SIMULATED bill after the change (what Modal bills, not the busy-seconds
figure) and compares the figures as plan shows them: money to the cent, percentages to one
decimal, so a limit equal to the figure on screen never trips.
- --fail-on-missed-target: a model's simulated p95 misses its latency target after the change;
- --max-monthly USD: the simulated monthly bill after the change exceeds USD;
- --max-increase PCT: the simulated monthly bill rises by more than PCT percent (any rise from
  $0 counts as more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..report.money import pct, usd
from ..report.numbers import quantize
from .cost import per_period, percent
from .plan import Plan


@dataclass(frozen=True)
class Guardrails:
    fail_on_missed_target: bool = False
    max_monthly: Decimal | None = None  # USD
    max_increase_pct: Decimal | None = None  # percent

    @property
    def any(self) -> bool:
        return (
            self.fail_on_missed_target
            or self.max_monthly is not None
            or self.max_increase_pct is not None
        )


@dataclass(frozen=True)
class Tripped:
    """One guardrail that tripped on one strategy's plan, and by how much."""

    strategy: str
    guardrail: str  # the flag as typed: "--max-monthly 2000"
    message: str  # what tripped and by how much, one sentence

    def as_dict(self) -> dict:
        return {"strategy": self.strategy, "guardrail": self.guardrail, "message": self.message}


def _flag(name: str, value: Decimal | None = None) -> str:
    return name if value is None else f"{name} {value.normalize():f}"


def check(plan: Plan, rails: Guardrails) -> list[Tripped]:
    """The guardrails plan trips, in the order of the flags' help."""
    tripped = []
    if rails.fail_on_missed_target:
        missed = [c for c in plan.target_checks if c.meets is False]
        if missed:
            detail = ", ".join(
                f"{c.model} {c.p95_s:.1f} s over its {c.target_s:g} s target by "
                f"{c.p95_s - c.target_s:.1f} s"
                for c in missed
            )
            tripped.append(
                Tripped(
                    plan.strategy,
                    _flag("--fail-on-missed-target"),
                    f"simulated p95 after the change: {detail} (ESTIMATE)",
                )
            )
    month_before = quantize(per_period(plan.simulated_before, "month"), 2)
    month_after = quantize(per_period(plan.simulated_after, "month"), 2)
    if rails.max_monthly is not None and month_after > rails.max_monthly:
        tripped.append(
            Tripped(
                plan.strategy,
                _flag("--max-monthly", rails.max_monthly),
                f"the simulated bill after the change is {usd(month_after)}/month, "
                f"{usd(month_after - rails.max_monthly)} over the {usd(rails.max_monthly)} limit "
                "(ESTIMATE)",
            )
        )
    if rails.max_increase_pct is not None and month_after > month_before:
        share = percent(month_after - month_before, month_before)
        rise = None if share is None else quantize(share, 1)
        if rise is None or rise > rails.max_increase_pct:
            by = (
                f"{pct(rise)}, {pct(rise - rails.max_increase_pct, sign=False)} over"
                if rise is not None
                else "from $0.00, over"
            )
            tripped.append(
                Tripped(
                    plan.strategy,
                    _flag("--max-increase", rails.max_increase_pct),
                    f"the simulated bill rises from {usd(month_before)} to {usd(month_after)}"
                    f"/month ({by} the {pct(rails.max_increase_pct, sign=False)} limit) "
                    "(ESTIMATE)",
                )
            )
    return tripped


def check_all(plans: Sequence[Plan], rails: Guardrails) -> list[Tripped]:
    return [trip for plan in plans for trip in check(plan, rails)]
