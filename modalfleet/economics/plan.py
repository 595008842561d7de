"""What a change does to a strategy: per model GPU, VRAM fit, container policy and $/day,
before -> after, with an Infracost-style headline. Markdown output is a ready PR comment.

"Before" is either the fleet at a git ref (read with `git show REF:path`, never a checkout, so
the working tree is untouched) or another strategy of the working tree.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ..fleet.load import GPUS_FILE, MODELS_FILE, STRATEGIES_DIR
from ..fleet.resolve import resolve
from ..fleet.spec import ContainerPolicy, Fleet
from ..report.money import pct, usd
from ..report.tables import markdown_table, table
from .cost import (
    DEFAULT_SPEED_MODEL,
    model_cost,
    per_period,
    percent,
    reference_gpu,
    table_speed_model,
)
from .fleet_simulation import DEFAULT_DAYS, SECONDS_PER_DAY, simulate_model
from .headline import (
    BILL_LABEL,
    HEADLINE,
    TargetCheck,
    busy_line,
    direction,
    target_lines,
)
from .optimize import vram_need_gb

if TYPE_CHECKING:  # guardrails.py reads plans: importing it at run time would be circular
    from .guardrails import Tripped

COMMENT_MARKER = "<!-- modalfleet-plan -->"  # lets CI find and update its one comment


class PlanError(Exception):
    """The 'before' side could not be read; the message says why."""


@dataclass(frozen=True)
class Side:
    """One model under the strategy on one side of the plan."""

    gpus: tuple[str, ...]
    need_gb: float
    smallest_vram_gb: float  # of the fallback list: every GPU Modal may pick must fit
    containers: ContainerPolicy
    daily: Decimal
    seconds_source: str
    # The same model simulated on Modal's autoscaler (fleet_simulation.py): an ESTIMATE.
    simulated_daily: Decimal = Decimal(0)
    latency_p95_s: float | None = None  # None when the model has no traffic
    latency_target_s: float | None = None
    meets_target: bool | None = None  # ModelSimulation.meets_target: None without target/traffic
    service_source: str = "flat"  # where the simulation's seconds per request came from

    @property
    def fits(self) -> bool:
        return self.smallest_vram_gb >= self.need_gb

    @property
    def gpu_text(self) -> str:
        return ", ".join(self.gpus)

    @property
    def vram_text(self) -> str:
        return f"{self.need_gb:g}/{self.smallest_vram_gb:g} GB {'fits' if self.fits else 'DOES NOT FIT'}"


@dataclass(frozen=True)
class Row:
    model: str
    before: Side | None
    after: Side | None

    @property
    def status(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed" if self.before != self.after else "unchanged"

    @property
    def delta(self) -> Decimal:
        return (self.after.daily if self.after else Decimal(0)) - (
            self.before.daily if self.before else Decimal(0)
        )

    @property
    def simulated_delta(self) -> Decimal:
        return (self.after.simulated_daily if self.after else Decimal(0)) - (
            self.before.simulated_daily if self.before else Decimal(0)
        )

    @property
    def pushed_over_target(self) -> bool:
        """After the change the p95 latency misses the target it met (or had no figure for)."""
        missed_before = self.before is not None and self.before.meets_target is False
        return self.after is not None and self.after.meets_target is False and not missed_before

    def container_changes(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        old, new = self.before.containers.__dict__, self.after.containers.__dict__
        return [f"{key} {old[key]} -> {new[key]}" for key in old if old[key] != new[key]]


@dataclass(frozen=True)
class Plan:
    strategy: str
    before_label: str
    after_label: str
    rows: tuple[Row, ...]
    speed_model: str
    note: str = ""  # e.g. the strategy is new at this ref

    @property
    def daily_before(self) -> Decimal:
        return sum((r.before.daily for r in self.rows if r.before), Decimal(0))

    @property
    def daily_after(self) -> Decimal:
        return sum((r.after.daily for r in self.rows if r.after), Decimal(0))

    @property
    def delta(self) -> Decimal:
        return self.daily_after - self.daily_before

    @property
    def delta_pct(self) -> Decimal | None:
        return percent(self.delta, self.daily_before)

    @property
    def simulated_before(self) -> Decimal:
        return sum((r.before.simulated_daily for r in self.rows if r.before), Decimal(0))

    @property
    def simulated_after(self) -> Decimal:
        return sum((r.after.simulated_daily for r in self.rows if r.after), Decimal(0))

    @property
    def pushed_over_target(self) -> list[Row]:
        return [row for row in self.rows if row.pushed_over_target]

    @property
    def changed(self) -> bool:
        return any(row.status != "unchanged" for row in self.rows)

    @property
    def is_estimate(self) -> bool:
        return self.speed_model == "relative" or any(
            side.seconds_source == "estimate"
            for row in self.rows
            for side in (row.before, row.after)
            if side is not None
        )

    @property
    def headline(self) -> str:
        """The simulated bill's change: what Modal sends, so a change that lowers the busy
        seconds but raises the bill reads as the rise it is."""
        before, after = self.simulated_before, self.simulated_after
        month = per_period(after - before, "month")
        text = direction(before, after, BILL_LABEL)
        return text if after == before else f"{text}, {usd(month, sign=True)}/month"

    @property
    def busy_headline(self) -> str:
        """The document's figure (busy seconds x GPU $/s), as the headline was before the bill."""
        estimate = " (estimate)" if self.is_estimate else ""
        if self.delta == 0:
            return f"Daily estimate is unchanged at {usd(self.daily_after)}{estimate}"
        direction = "increases" if self.delta > 0 else "decreases"
        change = pct(self.delta_pct) if self.delta_pct is not None else "from $0.00"
        return f"Daily estimate {direction} by {usd(abs(self.delta))} ({change}){estimate}"

    @property
    def target_checks(self) -> tuple[TargetCheck, ...]:
        """Each model's simulated p95 against its target after the change."""
        return tuple(
            TargetCheck(
                row.model,
                row.after.latency_p95_s,
                row.after.latency_target_s,
                row.after.meets_target,
                row.after.service_source,
            )
            for row in self.rows
            if row.after is not None
        )

    def by_status(self, status: str) -> list[Row]:
        return [row for row in self.rows if row.status == status]


# --- building a plan ---------------------------------------------------------------------------


def sides(
    fleet: Fleet, strategy: str, speed_model: str = DEFAULT_SPEED_MODEL, days: int | None = None
) -> dict[str, Side]:
    """Each model's side of the plan under strategy; empty when the fleet lacks the strategy.
    days: the simulated period (default fleet_simulation.DEFAULT_DAYS)."""
    if strategy not in fleet.strategies:
        return {}
    horizon = (days or DEFAULT_DAYS) * SECONDS_PER_DAY
    found: dict[str, Side] = {}
    for deployment in resolve(fleet, strategy):
        model = deployment.model
        reference = reference_gpu(fleet, model)
        cost = model_cost(deployment, fleet.catalog, table_speed_model(speed_model), reference)
        sim = simulate_model(
            fleet, model.name, strategy, horizon_s=horizon, speed_model=speed_model
        )
        vram = [fleet.catalog.resolve(gpu) for gpu in deployment.gpus]
        found[model.name] = Side(
            gpus=deployment.gpus,
            need_gb=vram_need_gb(fleet, model),
            smallest_vram_gb=min(entry[0].vram_gb for entry in vram if entry is not None),
            containers=deployment.containers,
            daily=cost.daily,
            seconds_source=cost.seconds.source,
            simulated_daily=sim.cost_per_day,
            latency_p95_s=sim.result.latency_p95_s if sim.result.requests else None,
            latency_target_s=model.latency_target_s,
            meets_target=sim.meets_target,
            service_source=sim.serving.seconds_source,
        )
    return found


def build_plan(
    before: Fleet,
    after: Fleet,
    strategy: str,
    before_label: str,
    after_label: str,
    before_strategy: str | None = None,
    speed_model: str = DEFAULT_SPEED_MODEL,
    days: int | None = None,
) -> Plan:
    old_strategy = before_strategy or strategy
    old = sides(before, old_strategy, speed_model, days)
    new = sides(after, strategy, speed_model, days)
    names = list(new) + [name for name in old if name not in new]
    note = ""
    if old_strategy not in before.strategies:
        note = f"strategy {old_strategy!r} does not exist in {before_label}: every model is new"
    rows = tuple(Row(name, old.get(name), new.get(name)) for name in names)
    return Plan(strategy, before_label, after_label, rows, speed_model, note)


def read_fleet_at(root: Path, ref: str, dest: Path) -> None:
    """Write models.yaml, gpus.yaml, strategies/*.yaml and the traffic traces models.yaml names,
    as they are at ref, into dest."""

    def git(*args: str) -> bytes:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60)
        except FileNotFoundError as exc:
            raise PlanError("git is not installed; plan --against needs it") from exc
        if done.returncode != 0:
            raise PlanError(done.stderr.decode("utf-8", "replace").strip() or "git failed")
        return done.stdout

    if not Path(root).is_dir():
        raise PlanError(f"{root} is not a folder")
    try:
        git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except PlanError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise  # no git at all: saying the ref is not a commit would mislead
        raise PlanError(f"{ref!r} is not a commit in the git repository at {root} ({exc})") from exc
    # "./" makes the paths relative to root, which may be a folder inside the repository.
    for name in (MODELS_FILE, GPUS_FILE):
        try:
            (dest / name).write_bytes(git("show", f"{ref}:./{name}"))
        except PlanError as exc:
            raise PlanError(f"{name} does not exist at {ref}: {exc}") from exc
    listing = git("ls-tree", "-z", "--name-only", ref, "--", f"{STRATEGIES_DIR}/")
    (dest / STRATEGIES_DIR).mkdir()
    for path in filter(None, listing.decode("utf-8", "replace").split("\0")):
        name = Path(path).name
        if name.endswith((".yaml", ".yml")):
            (dest / STRATEGIES_DIR / name).write_bytes(git("show", f"{ref}:./{path}"))
    for trace in _trace_paths(dest / MODELS_FILE):
        # validate checks that a trace exists: copy each as committed at ref. One missing there,
        # or pointing outside the repository, stays missing and is reported as the fleet's.
        target = (dest / trace).resolve()
        if not target.is_relative_to(dest.resolve()):
            continue
        try:
            content = git("show", f"{ref}:./{Path(trace).as_posix()}")
        except PlanError:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _trace_paths(models_file: Path) -> list[str]:
    """traffic.trace of every model in models_file, as written (nothing when it cannot be read:
    validate reports that)."""
    from ..fleet.yamlread import read_yaml

    doc, problems = read_yaml(models_file, MODELS_FILE)
    models = doc.data.get("models") if not problems and isinstance(doc.data, dict) else None
    if not isinstance(models, dict):
        return []
    found = []
    for entry in models.values():
        traffic = entry.get("traffic") if isinstance(entry, dict) else None
        trace = traffic.get("trace") if isinstance(traffic, dict) else None
        if isinstance(trace, str) and trace and "\0" not in trace:
            found.append(trace)
    return found


@contextmanager
def fleet_at(root: Path, ref: str) -> Iterator[Fleet]:
    """The validated fleet as committed at ref, or PlanError with its problems.

    A context: the fleet's files (a traffic trace among them) stay on disk until it closes,
    because simulating the fleet reads its traces.
    """
    from ..fleet.checks import validate
    from ..fleet.problems import format_text, has_errors

    with tempfile.TemporaryDirectory(prefix="modalfleet-plan-") as folder:
        dest = Path(folder)
        read_fleet_at(root, ref, dest)
        loaded, problems = validate(dest)
        errors = [p for p in problems if p.is_error]
        if has_errors(problems) or loaded.fleet is None:
            raise PlanError(f"the fleet at {ref} has problems:\n{format_text(errors)}")
        yield loaded.fleet


# --- output -----------------------------------------------------------------------------------


def _money_change(row: Row) -> str:
    if row.delta == 0:
        return "-"
    base = row.before.daily if row.before else Decimal(0)
    share = percent(row.delta, base)
    return (
        f"{usd(row.delta, sign=True)} ({pct(share)})"
        if share is not None
        else usd(row.delta, sign=True)
    )


def _arrow(before: str | None, after: str | None, arrow: str) -> str:
    if before is None:
        return f"(new) {after}"
    if after is None:
        return f"{before} (removed)"
    return before if before == after else f"{before} {arrow} {after}"


def _sim_change(row: Row) -> str:
    if row.simulated_delta == 0:
        return "-"
    base = row.before.simulated_daily if row.before else Decimal(0)
    share = percent(row.simulated_delta, base)
    change = usd(row.simulated_delta, sign=True)
    return f"{change} ({pct(share)})" if share is not None else change


def _p95_cell(side: Side | None) -> str:
    if side is None or side.latency_p95_s is None:
        return "-"
    verdict = {True: " ok", False: " MISSED", None: ""}[side.meets_target]
    return f"{side.latency_p95_s:.1f} s{verdict}"


def _row_cells(row: Row, arrow: str) -> list[str]:
    b, a = row.before, row.after
    return [
        row.model,
        row.status,
        _arrow(b.gpu_text if b else None, a.gpu_text if a else None, arrow),
        _arrow(b.vram_text if b else None, a.vram_text if a else None, arrow),
        usd(b.simulated_daily) if b else "-",
        usd(a.simulated_daily) if a else "-",
        _sim_change(row),
        _p95_cell(a),
        usd(b.daily) if b else "-",
        usd(a.daily) if a else "-",
        _money_change(row),
    ]


# The simulated bill first; the busy-seconds columns (the document's formula) last. Money is
# per day (the line above the table says so and what BILL and BUSY are).
HEADER = [
    "MODEL",
    "STATUS",
    "GPU",
    "VRAM NEED/GPU",
    "BILL BEFORE",
    "BILL AFTER",
    "BILL CHANGE",
    "P95 AFTER",
    "BUSY BEFORE",
    "BUSY AFTER",
    "BUSY CHANGE",
]
TABLE_NOTE = (
    "$/day; BILL: simulated on Modal's autoscaler (ESTIMATE); BUSY: GPU work alone, the "
    "document's formula"
)
MARKDOWN_HEADER = [
    "Model",
    "Status",
    "GPU",
    "VRAM need/GPU",
    "Bill $/day before",
    "Bill $/day after",
    "Bill change",
    "p95 after",
    "Busy $/day before",
    "Busy $/day after",
    "Busy change",
]
RIGHT = [False, False, False, False, True, True, True, True, True, True, True]
# Least important first: what goes when the table is wider than the terminal.
DROP = (10, 8, 9, 3, 7, 1)


def _monthly(plan: Plan, arrow: str) -> str:
    before, after = per_period(plan.daily_before, "month"), per_period(plan.daily_after, "month")
    return (
        f"per day {usd(plan.daily_before)} {arrow} {usd(plan.daily_after)}, "
        f"per month {usd(before)} {arrow} {usd(after)} ({usd(after - before, sign=True)})"
    )


def _simulated(plan: Plan, arrow: str) -> str:
    before, after = plan.simulated_before, plan.simulated_after
    month_before, month_after = per_period(before, "month"), per_period(after, "month")
    return (
        f"per day {usd(before)} {arrow} {usd(after)}, "
        f"per month {usd(month_before)} {arrow} {usd(month_after)} "
        f"({usd(month_after - month_before, sign=True)})"
    )


def _latency_flags(plan: Plan) -> list[str]:
    return [
        f"latency: {row.model}'s simulated p95 {row.after.latency_p95_s:.1f} s is over its "
        f"{row.after.latency_target_s:g} s target after this change (ESTIMATE)"
        for row in plan.pushed_over_target
    ]


def _bill_details(plan: Plan) -> list[str]:
    """Under the headline: the bill before and after, each model's p95, what to run."""
    checks = plan.target_checks
    return [_simulated(plan, "->"), *target_lines(checks)]


def _guardrail_lines(trips: Sequence[Tripped]) -> list[str]:
    return [f"guardrail {trip.guardrail} tripped: {trip.message}" for trip in trips]


def _seconds_note(plan: Plan) -> str:
    if plan.speed_model == "relative":
        return (
            "seconds per request: estimate, scaled from each model's baseline GPU by the "
            "catalog's relative throughput (measured figures where given)"
        )
    if plan.speed_model == "compute":
        return (
            "seconds per request: measured where given; the simulated bill otherwise uses the "
            "compute ESTIMATE (FLOPs / datasheet TFLOPS x calibrated efficiency), the busy-seconds "
            "figure the model's flat figure"
        )
    return "seconds per request: measured where given, else the model's flat figure"


def format_text(plan: Plan, trips: Sequence[Tripped] = ()) -> str:
    lines = [
        f"Plan for strategy {plan.strategy}: {plan.before_label} -> {plan.after_label}",
        plan.headline,
        *[f"  {line}" for line in _bill_details(plan)],
        busy_line(plan.busy_headline),
        *_guardrail_lines(trips),
    ]
    if plan.note:
        lines.append(f"note: {plan.note}")
    lines += ["", TABLE_NOTE]
    lines += table(HEADER, [_row_cells(row, "->") for row in plan.rows], RIGHT, drop=DROP)
    lines.append("")
    lines.append(f"busy-seconds total (the document's formula): {_monthly(plan, '->')}")
    lines += _latency_flags(plan)
    for row in plan.rows:
        changes = row.container_changes()
        if changes:
            lines.append(f"containers of {row.model}: {', '.join(changes)}")
    for status in ("added", "removed"):
        names = [row.model for row in plan.by_status(status)]
        if names:
            lines.append(f"models {status}: {', '.join(names)}")
    lines.append(_seconds_note(plan))
    if not plan.changed:
        lines.append("no changes")
    return "\n".join(lines)


def format_markdown(plan: Plan, trips: Sequence[Tripped] = ()) -> str:
    checks = plan.target_checks
    lines = [
        COMMENT_MARKER,
        f"### modalfleet plan: strategy `{plan.strategy}`",
        "",
        f"**{plan.headline}**",
        "",
        f"`{plan.before_label}` → `{plan.after_label}`: {_simulated(plan, '→')}.",
        "",
    ]
    facts = target_lines(checks)
    if facts:
        lines += [f"- {fact}" for fact in facts] + [""]
    lines += [f"{busy_line(plan.busy_headline)}: {_monthly(plan, '→')}.", ""]
    lines += [f"> :x: **guardrail `{trip.guardrail}` tripped**: {trip.message}" for trip in trips]
    lines += [f"> :warning: {flag}" for flag in _latency_flags(plan)]
    if trips or plan.pushed_over_target:
        lines.append("")
    if plan.note:
        lines += [f"> {plan.note}", ""]
    shown = [row for row in plan.rows if row.status != "unchanged"]
    if shown:
        lines += markdown_table(MARKDOWN_HEADER, [_row_cells(row, "→") for row in shown], RIGHT)
    else:
        lines.append(f"No changes to strategy `{plan.strategy}`.")
    details = []
    for row in plan.rows:
        changes = row.container_changes()
        if changes:
            details.append(f"- containers of `{row.model}`: {', '.join(changes)}")
    for status in ("added", "removed", "unchanged"):
        names = [f"`{row.model}`" for row in plan.by_status(status)]
        if names:
            details.append(f"- {status}: {', '.join(names)}")
    details.append(f"- {_seconds_note(plan)}")
    lines += ["", "<details><summary>Details</summary>", "", *details, "", "</details>"]
    return "\n".join(lines)


def _side_json(side: Side | None) -> dict | None:
    if side is None:
        return None
    return {
        "gpu": side.gpus[0],
        "gpus": list(side.gpus),
        "vram_need_gb": side.need_gb,
        "vram_gb": side.smallest_vram_gb,
        "fits": side.fits,
        "containers": dict(side.containers.__dict__),
        "cost": float(side.daily),
        "seconds_source": side.seconds_source,
        "simulated_cost": float(side.simulated_daily),
        "latency_p95_s": side.latency_p95_s,
        "latency_target_s": side.latency_target_s,
        "meets_target": side.meets_target,
    }


def to_dict(plan: Plan, trips: Sequence[Tripped] = ()) -> dict:
    data = {
        "strategy": plan.strategy,
        "before": plan.before_label,
        "after": plan.after_label,
        "period": "day",
        "changed": plan.changed,
        # Which figure leads (the simulated bill); the sentences the text and markdown lead
        # with, the simulated one and the document's busy-seconds one, beside it.
        "headline": HEADLINE,
        "headline_text": plan.headline,
        "busy_headline": plan.busy_headline,
        "estimate": plan.is_estimate,
        "total_before": float(plan.daily_before),
        "total_after": float(plan.daily_after),
        "delta": float(plan.delta),
        "delta_pct": None if plan.delta_pct is None else round(float(plan.delta_pct), 2),
        "models": [
            {
                "model": row.model,
                "status": row.status,
                "before": _side_json(row.before),
                "after": _side_json(row.after),
                "container_changes": row.container_changes(),
                "delta": float(row.delta),
            }
            for row in plan.rows
        ],
        "simulated": {
            "estimate": True,
            "total_before": float(plan.simulated_before),
            "total_after": float(plan.simulated_after),
            "delta": float(plan.simulated_after - plan.simulated_before),
            "monthly_delta": float(
                per_period(plan.simulated_after - plan.simulated_before, "month")
            ),
            "monthly_before": float(per_period(plan.simulated_before, "month")),
            "monthly_after": float(per_period(plan.simulated_after, "month")),
            "pushed_over_target": [row.model for row in plan.pushed_over_target],
            "missed_target": [c.model for c in plan.target_checks if c.meets is False],
        },
        "added": [row.model for row in plan.by_status("added")],
        "removed": [row.model for row in plan.by_status("removed")],
        "guardrails_tripped": [trip.as_dict() for trip in trips],
    }
    return data


def to_json(plan: Plan, trips: Sequence[Tripped] = ()) -> str:
    return json.dumps(to_dict(plan, trips), indent=2)


def format_plans(
    plans: list[Plan], fmt: str, as_list: bool = False, trips: Sequence[Tripped] = ()
) -> str:
    """One plan, or several (plan --all) one after another: text and markdown sections (one
    comment marker, at the top, so CI still finds its comment), JSON a list when as_list.
    trips: the guardrails that tripped, each shown with its strategy's plan."""

    def mine(plan: Plan) -> list[Tripped]:
        return [trip for trip in trips if trip.strategy == plan.strategy]

    if fmt == "json":
        data = [to_dict(plan, mine(plan)) for plan in plans]
        return json.dumps(data if as_list else data[0], indent=2)
    if fmt == "markdown":
        sections = [format_markdown(plan, mine(plan)) for plan in plans]
        rest = [section.removeprefix(COMMENT_MARKER + "\n") for section in sections[1:]]
        return "\n\n".join([sections[0], *rest])
    return "\n\n".join(format_text(plan, mine(plan)) for plan in plans)
