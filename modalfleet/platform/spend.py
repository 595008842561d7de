"""What the fleet actually cost, from Modal's billing report, beside what the cost model expected.

Pure: billing rows in (billing.py reads them from the SDK), a SpendReport out. Rows are
attributed through the tags deploy puts on every app (model, strategy, managed-by):
- managed by modalfleet and naming a model of models.yaml: that model's actual cost, summed per
  strategy, with the cost broken down by resource (CPU, memory, each GPU type) as Modal reports;
- managed by modalfleet but naming a model no longer in models.yaml: an orphan, still costing;
- anything else (apps deployed by hand, untagged): the workspace's other costs, shown apart.
The estimate is the cost model's daily cost of the model under the strategy it ran (usage on the
primary GPU plus warm min_containers) times the days it ran in the period.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..economics.headline import (
    BILL_LABEL,
    HEADLINE,
    TargetCheck,
    bill,
    busy_line,
    check_of,
    target_lines,
)
from ..fleet.spec import Fleet
from ..report.money import pct, usd
from ..report.tables import table
from .billing import MANAGED_BY, TAG_MANAGED_BY, TAG_MODEL, TAG_STRATEGY, BillingRow

RESOLUTIONS = {"d": timedelta(days=1), "h": timedelta(hours=1)}
ZERO = Decimal(0)
UNKNOWN_STRATEGY = "(untagged)"


class SpendError(ValueError):
    """Bad period or threshold, or an unusable report; the message is one sentence."""


# --- the period -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    resolution: str  # "d" | "h"

    @property
    def days(self) -> Decimal:
        return Decimal(int((self.end - self.start).total_seconds())) / Decimal(86400)

    @property
    def interval_days(self) -> Decimal:
        return Decimal(1) if self.resolution == "d" else Decimal(1) / Decimal(24)

    def label(self) -> str:
        if self.resolution == "d":
            last = (self.end - timedelta(days=1)).date()
            return f"{self.start.date()} to {last}"
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)


def parse_since(text: str) -> timedelta:
    """'7d', '24h', '2w' as a duration."""
    match = _SINCE.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise SpendError(f"--since {text!r} is not a duration like 7d, 24h or 2w")
    count, unit = int(match.group(1)), match.group(2).lower()
    try:
        return {
            "h": timedelta(hours=count),
            "d": timedelta(days=count),
            "w": timedelta(weeks=count),
        }[unit]
    except OverflowError:  # timedelta stops at 999999999 days
        raise SpendError(f"--since {text!r} reaches back before the year 1") from None


def _floor(moment: datetime, resolution: str) -> datetime:
    moment = moment.astimezone(UTC)
    if resolution == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def period_since(now: datetime, since: timedelta, resolution: str = "d") -> Period:
    """The last `since` of complete intervals before now (Modal leaves out a partial last one)."""
    _check_resolution(resolution)
    end = _floor(now, resolution)
    try:
        start = _floor(end - since, resolution)
    except OverflowError:  # datetime stops at the year 1
        raise SpendError(f"--since of {since.days} days reaches back before the year 1") from None
    if since < RESOLUTIONS[resolution]:
        raise SpendError(
            f"--since is shorter than one {'day' if resolution == 'd' else 'hour'} interval"
        )
    return Period(start, end, resolution)


def parse_date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise SpendError(f"{flag} {text!r} is not a date like 2026-11-01") from None


def period_between(start: date, end: date, resolution: str = "d") -> Period:
    """From the start of start to the start of end (exclusive, as Modal's report), in UTC."""
    _check_resolution(resolution)
    if end <= start:
        raise SpendError(f"--end {end} must be after --start {start}")
    return Period(
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
        resolution,
    )


def _check_resolution(resolution: str) -> None:
    if resolution not in RESOLUTIONS:
        raise SpendError(f"resolution {resolution!r} is not d (daily) or h (hourly)")


def parse_threshold(text: str) -> Decimal:
    """'20%' or '20' as 20 (percent over the estimate that flags a model)."""
    cleaned = (text or "").strip().removesuffix("%").strip()
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        raise SpendError(f"--threshold {text!r} is not a percentage like 20%") from None
    if not value.is_finite() or value < 0:
        raise SpendError(f"--threshold {text!r} must be a percentage of 0 or more")
    return value


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpend:
    model: str
    strategy: str
    actual: Decimal
    estimate: Decimal | None  # None: the cost model cannot price it (note says why)
    days: Decimal  # days the estimate covers
    resources: dict[str, Decimal]
    threshold_pct: Decimal
    note: str = ""
    # The same days simulated on Modal's autoscaler (economics/fleet_simulation.py): billed
    # container-seconds at GPU + CPU + memory rates. Set beside the busy-seconds estimate so a
    # user learns which of the two to trust.
    simulated: Decimal | None = None
    target: TargetCheck | None = None  # the simulated p95 against the model's latency target

    @property
    def delta_pct(self) -> Decimal | None:
        if self.estimate is None or self.estimate == 0:
            return None
        return (self.actual - self.estimate) / self.estimate * 100

    @property
    def simulated_delta_pct(self) -> Decimal | None:
        if self.simulated is None or self.simulated == 0:
            return None
        return (self.actual - self.simulated) / self.simulated * 100

    @property
    def flag(self) -> bool:
        """Actual cost above the estimate by more than the threshold (any cost over a $0 plan)."""
        if self.estimate is None:
            return False
        if self.estimate == 0:
            return self.actual > 0
        return self.actual > self.estimate * (1 + self.threshold_pct / 100)


@dataclass(frozen=True)
class Orphan:
    app: str
    object_id: str
    model: str
    strategy: str
    actual: Decimal


@dataclass(frozen=True)
class SpendReport:
    period: Period
    models: tuple[ModelSpend, ...]
    orphans: tuple[Orphan, ...]
    unmanaged_actual: Decimal
    unmanaged_apps: int
    threshold_pct: Decimal
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_actual(self) -> Decimal:
        # Orphans are modalfleet's apps and they cost money: they count; other apps do not.
        return sum((m.actual for m in self.models), ZERO) + sum(
            (o.actual for o in self.orphans), ZERO
        )

    @property
    def total_estimate(self) -> Decimal:
        return sum((m.estimate for m in self.models if m.estimate is not None), ZERO)

    @property
    def total_simulated(self) -> Decimal:
        return sum((m.simulated for m in self.models if m.simulated is not None), ZERO)

    @property
    def flagged(self) -> list[ModelSpend]:
        return [m for m in self.models if m.flag]


def daily_estimates(fleet: Fleet, strategy: str) -> tuple[dict[str, Decimal], dict[str, str]]:
    """Per model: the cost model's dollars per day under strategy (usage + warm containers).

    Models the cost model cannot price (no seconds for their GPU) come back in the second
    mapping with the reason.
    """
    from ..economics.cost import CostError, model_cost
    from ..fleet.resolve import resolve

    daily: dict[str, Decimal] = {}
    missing: dict[str, str] = {}
    for deployment in resolve(fleet, strategy):
        try:
            cost = model_cost(deployment, fleet.catalog)
        except CostError as exc:
            missing[deployment.model.name] = str(exc)
            continue
        daily[deployment.model.name] = cost.daily + cost.idle_daily
    return daily, missing


def observed_simulator(fleet: Fleet, traces):
    """A FleetSimulator replaying the arrivals `observe --trace-dir` wrote in `traces`, and the
    note that says so (spend --traces). Raises SpendError for a folder it cannot use."""
    from ..economics.fleet_simulation import FleetSimulator
    from ..economics.traces import TracesError, describe, with_traces

    try:
        traced = with_traces(fleet, traces)
    except TracesError as exc:
        raise SpendError(str(exc)) from None
    return FleetSimulator(traced.fleet, traced.days), describe(traced)


def build_report(
    rows: Iterable[BillingRow],
    fleet: Fleet,
    period: Period,
    threshold_pct: Decimal = Decimal(20),
    strategy: str | None = None,
    simulator=None,
    simulated_on: str = "",
) -> SpendReport:
    """Group the rows per model and strategy, set each beside the estimate for its days.

    strategy: the strategy deployed during the period, overriding the apps' strategy tag (for
    apps tagged before a switch); when None the tags say, and when they name one strategy only,
    the fleet's models without a row are listed too (deployed but idle: actual $0).
    simulator: a fleet_simulation.FleetSimulator to take the simulated column from (spend
    --traces: the observed arrivals), described by simulated_on in a note.
    """
    rows = list(rows)
    actual: dict[tuple[str, str], Decimal] = {}
    resources: dict[tuple[str, str], dict[str, Decimal]] = {}
    intervals: dict[tuple[str, str], set[datetime]] = {}
    orphans: dict[str, Orphan] = {}
    unmanaged_ids: set[str] = set()
    unmanaged = ZERO

    for row in rows:
        if row.tags.get(TAG_MANAGED_BY) != MANAGED_BY:
            unmanaged += row.cost
            unmanaged_ids.add(row.object_id)
            continue
        model = row.tags.get(TAG_MODEL, "")
        tagged_strategy = row.tags.get(TAG_STRATEGY) or UNKNOWN_STRATEGY
        if model not in fleet.models:
            previous = orphans.get(row.object_id)
            orphans[row.object_id] = Orphan(
                app=row.description,
                object_id=row.object_id,
                model=model,
                strategy=tagged_strategy,
                actual=(previous.actual if previous else ZERO) + row.cost,
            )
            continue
        key = (model, strategy or tagged_strategy)
        actual[key] = actual.get(key, ZERO) + row.cost
        bucket = resources.setdefault(key, {})
        for resource, cost in row.cost_by_resource.items():
            bucket[resource] = bucket.get(resource, ZERO) + cost
        intervals.setdefault(key, set()).add(row.interval_start)

    deployed = strategy
    if deployed is None:
        seen = {s for (_, s) in actual} - {UNKNOWN_STRATEGY}
        deployed = next(iter(seen)) if len(seen) == 1 else None
    if deployed is not None and deployed in fleet.strategies:
        for name in fleet.models:
            if not any(model == name for (model, _) in actual):
                actual[(name, deployed)] = ZERO
                resources[(name, deployed)] = {}
                intervals[(name, deployed)] = set()

    estimates: dict[str, tuple[dict[str, Decimal], dict[str, str]]] = {}
    from ..economics.fleet_simulation import FleetSimulator

    simulator = simulator or FleetSimulator(fleet)
    strategies_per_model: dict[str, int] = {}
    for model, _ in actual:
        strategies_per_model[model] = strategies_per_model.get(model, 0) + 1

    order = {name: index for index, name in enumerate(fleet.models)}
    models = []
    notes: list[str] = []
    for (model, used), cost in sorted(
        actual.items(), key=lambda item: (order[item[0][0]], item[0][1])
    ):
        # A model that ran under one strategy is estimated for the whole period; one that
        # switched is estimated for the intervals each strategy billed.
        if strategies_per_model[model] == 1:
            days = period.days
        else:
            days = len(intervals[(model, used)]) * period.interval_days
        estimate: Decimal | None = None
        simulated: Decimal | None = None
        target: TargetCheck | None = None
        note = ""
        if used not in fleet.strategies:
            note = f"strategy {used!r} is not in strategies/: no estimate"
        else:
            if used not in estimates:
                estimates[used] = daily_estimates(fleet, used)
            daily, missing = estimates[used]
            if model in daily:
                estimate = daily[model] * days
                sim = simulator.model(used, model)
                simulated = sim.cost_per_day * days
                target = check_of(sim)
            else:
                note = missing.get(model, "no estimate")
        if note:
            notes.append(f"{model}: {note}")
        models.append(
            ModelSpend(
                model=model,
                strategy=used,
                actual=cost,
                estimate=estimate,
                days=days,
                resources=dict(sorted(resources[(model, used)].items())),
                threshold_pct=threshold_pct,
                note=note,
                simulated=simulated,
                target=target,
            )
        )
    if simulated_on:
        notes.append(f"simulated: {simulated_on}")
    return SpendReport(
        period=period,
        models=tuple(models),
        orphans=tuple(sorted(orphans.values(), key=lambda o: (-o.actual, o.app))),
        unmanaged_actual=unmanaged,
        unmanaged_apps=len(unmanaged_ids),
        threshold_pct=threshold_pct,
        notes=tuple(notes),
    )


# --- output ---------------------------------------------------------------------------------


def _number(value: Decimal | None, places: int = 6) -> float | int | None:
    if value is None:
        return None
    rounded = round(value, places)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def to_dict(report: SpendReport) -> dict[str, Any]:
    """The JSON contract: period, models [{model, strategy, actual, estimate, delta_pct, flag}],
    orphans, total_actual, total_estimate. Beside it: each model's `resources` breakdown and
    `days` estimated, and `unmanaged_actual` (the workspace's other apps, not in the totals).
    """
    period = report.period
    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "resolution": period.resolution,
            "days": _number(period.days, 4),
        },
        "models": [
            {
                "model": m.model,
                "strategy": m.strategy,
                "actual": _number(m.actual),
                "estimate": _number(m.estimate),
                "delta_pct": None if m.delta_pct is None else round(float(m.delta_pct), 2),
                "flag": m.flag,
                "simulated": _number(m.simulated),
                "simulated_delta_pct": None
                if m.simulated_delta_pct is None
                else round(float(m.simulated_delta_pct), 2),
                "days": _number(m.days, 4),
                "resources": {name: _number(cost) for name, cost in m.resources.items()},
            }
            for m in report.models
        ],
        "orphans": [
            {
                "app": o.app,
                "object_id": o.object_id,
                "model": o.model,
                "strategy": o.strategy,
                "actual": _number(o.actual),
            }
            for o in report.orphans
        ],
        "total_actual": _number(report.total_actual),
        "total_estimate": _number(report.total_estimate),
        "total_simulated": _number(report.total_simulated),
        "headline": HEADLINE,
        "threshold_pct": _number(report.threshold_pct, 2),
        "unmanaged_actual": _number(report.unmanaged_actual),
    }


def _usd(value: Decimal | None) -> str:
    return "-" if value is None else usd(value)


def _delta(value: Decimal | None) -> str:
    return "-" if value is None else pct(value)


def _resources(resources: dict[str, Decimal]) -> str:
    return ", ".join(
        f"{name} {_usd(cost)}" for name, cost in sorted(resources.items(), key=lambda i: -i[1])
    )


def _model_rows(report: SpendReport) -> list[tuple[str, ...]]:
    return [
        (
            m.model,
            m.strategy,
            _usd(m.actual),
            _usd(m.simulated),
            _delta(m.simulated_delta_pct),
            _usd(m.estimate),
            _delta(m.delta_pct),
            "OVER" if m.flag else "",
        )
        for m in report.models
    ]


# simulated: Modal's autoscaler simulated, the bill (an ESTIMATE); busy estimate: the document's
# busy-seconds formula, which the flag compares with (the `flag` of the JSON contract).
_HEADER = ("model", "strategy", "actual", "simulated", "vs sim", "busy estimate", "delta", "flag")
# Least important first, when the table is wider than the terminal.
_DROP = (6, 5, 1)


def _checks(report: SpendReport) -> list[TargetCheck]:
    return [m.target for m in report.models if m.target is not None]


def _headline(report: SpendReport) -> list[str]:
    """The actual bill against the simulated one (per day and month), each model's p95, and the
    document's busy-seconds estimate on its one labelled line."""
    period = report.period
    unit = "daily" if period.resolution == "d" else "hourly"
    simulated_daily = report.total_simulated / period.days if period.days else ZERO
    actual_daily = report.total_actual / period.days if period.days else ZERO
    checks = _checks(report)
    return [
        f"spend {period.label()} ({period.days.normalize():f} days, {unit} rows): "
        f"actual {_usd(report.total_actual)} vs {_usd(report.total_simulated)} simulated "
        "(ESTIMATE)",
        f"  actual {bill(actual_daily)}; {BILL_LABEL}: {bill(simulated_daily)}",
        *[f"  {line}" for line in target_lines(checks)],
        busy_line(f"estimate {_usd(report.total_estimate)} for the period"),
    ]


def _footer(report: SpendReport) -> list[str]:
    lines = []
    for m in report.flagged:
        if m.delta_pct is None:
            lines.append(
                f"flagged: {m.model} cost {_usd(m.actual)} where the estimate is $0 (no traffic declared)"
            )
        else:
            lines.append(
                f"flagged: {m.model} costs {pct(m.delta_pct)} against its busy-seconds estimate "
                f"(threshold {report.threshold_pct.normalize():f}%)"
            )
    for o in report.orphans:
        lines.append(
            f"orphan: app {o.app} ({o.object_id}) is managed by modalfleet but model {o.model or '(none)'!r} "
            f"is not in models.yaml; it cost {_usd(o.actual)}: stop it with `modal app stop {o.app}`"
        )
    if report.unmanaged_apps:
        lines.append(
            f"not managed by modalfleet: {report.unmanaged_apps} app(s) cost {_usd(report.unmanaged_actual)} "
            f"(not in the totals)"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def format_text(report: SpendReport) -> str:
    rows: list[Sequence[str]] = [*_model_rows(report)]
    rows.append(
        (
            "total",
            "",
            _usd(report.total_actual),
            _usd(report.total_simulated),
            "",
            _usd(report.total_estimate),
            "",
            "",
        )
    )
    # Model and strategy left-aligned, the figures right-aligned.
    header_line, *row_lines = table(
        _HEADER, rows, [i >= 2 for i in range(len(_HEADER))], drop=_DROP
    )
    lines = [*_headline(report), "", header_line]
    for index, line in enumerate(row_lines):
        lines.append(line)
        model = report.models[index] if index < len(report.models) else None
        if model is not None and model.resources:
            lines.append(f"  by resource: {_resources(model.resources)}")
    footer = _footer(report)
    if footer:
        lines.append("")
        lines.extend(footer)
    return "\n".join(lines)


def format_markdown(report: SpendReport) -> str:
    first, *details = _headline(report)
    lines = [f"**{first}**", "", *[f"- {line.strip()}" for line in details[:-1]], "", details[-1]]
    lines += ["", "| " + " | ".join([*_HEADER, "by resource"]) + " |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|---|---|")
    for m, row in zip(report.models, _model_rows(report), strict=True):
        lines.append("| " + " | ".join([*row, _resources(m.resources)]) + " |")
    lines.append(
        f"| **total** | | **{_usd(report.total_actual)}** | **{_usd(report.total_simulated)}** | "
        f"| **{_usd(report.total_estimate)}** | | | |"
    )
    footer = _footer(report)
    if footer:
        lines.append("")
        lines.extend(f"- {line}" for line in footer)
    return "\n".join(lines)
