"""The cost model: what a strategy costs per request, per day and per month. Pure functions.

Money is Decimal dollars from end to end (the catalog's $/s are parsed from their decimal text),
so the seed's figures come out to the cent and beyond; rounding happens only in `usd()` when a
number is shown.

Where seconds per request come from, in order:
- measured: the model's `seconds_per_request` map names this GPU (written by `bench --write`);
- estimate: `speed_model="compute"` (the default of the serving simulation, `simulate`,
  `optimize`, `plan` and cost's simulated bill) asks economics/speed.py: the request's FLOPs
  over the GPU's datasheet TFLOPS times an efficiency calibrated on published measurements.
  `speed_model="relative"` (a what-if) scales the reference GPU's seconds by the catalog's
  relative throughput (reference = the model's primary GPU under the reference strategy,
  `baseline` by default). Neither is a measurement, so both are always labelled;
- flat: the model's single figure, the seed's assumption that every GPU takes as long; also
  what "compute" falls back to where the architecture or the GPU's TFLOPS are unknown.

The busy-seconds table `cost` and `plan` lead with (`compare`, `plan.sides`: the seed
document's formula) keeps the flat figure under "compute" (`table_speed_model`): that is the
document's figure, and the simulated bill is where speed per GPU shows. `optimize` compares
strategies with the seconds it chose by.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ..fleet.resolve import resolve
from ..fleet.spec import Catalog, Deployment, Fleet, Gpu, Model
from ..report.numbers import number

SpeedModel = Literal["compute", "flat", "relative"]
SPEED_MODELS: tuple[str, ...] = ("compute", "flat", "relative")
DEFAULT_SPEED_MODEL = "compute"
PERIOD_DAYS: dict[str, Decimal] = {"day": Decimal(1), "month": Decimal(30)}
SECONDS_PER_DAY = Decimal(86400)
REFERENCE_STRATEGY = "baseline"


class CostError(ValueError):
    """A cost that cannot be computed from the fleet as written; the message says why."""


@dataclass(frozen=True)
class Seconds:
    value: Decimal
    source: str  # "measured" | "flat" | "estimate"

    @property
    def is_estimate(self) -> bool:
        return self.source == "estimate"


@dataclass(frozen=True)
class ModelCost:
    """One model under one strategy, per day."""

    model: str
    gpus: tuple[str, ...]  # Modal GPU strings in fallback order; the first is the primary
    requests_per_day: Decimal
    seconds: Seconds
    cost_per_request: Decimal
    daily: Decimal  # usage on the primary GPU
    idle_daily: Decimal  # warm containers (min_containers) on the primary GPU, all day
    min_containers: int
    worst_case_gpu: str | None = None  # set for a fallback list: its most expensive GPU
    worst_case_daily: Decimal | None = None

    @property
    def gpu(self) -> str:
        return self.gpus[0]


@dataclass(frozen=True)
class StrategyCost:
    strategy: str
    models: tuple[ModelCost, ...]
    speed_model: str

    @property
    def daily(self) -> Decimal:
        return sum((m.daily for m in self.models), Decimal(0))

    @property
    def idle_daily(self) -> Decimal:
        return sum((m.idle_daily for m in self.models), Decimal(0))

    @property
    def has_estimates(self) -> bool:
        # The relative speed model labels the whole report: even its reference figures are
        # only as good as the estimate they are compared with.
        return self.speed_model == "relative" or any(m.seconds.is_estimate for m in self.models)

    @property
    def has_fallbacks(self) -> bool:
        return any(m.worst_case_gpu is not None for m in self.models)

    def get(self, model: str) -> ModelCost | None:
        return next((m for m in self.models if m.model == model), None)


@dataclass(frozen=True)
class Comparison:
    """A strategy beside the one it is compared with, over a period."""

    current: StrategyCost
    baseline: StrategyCost
    period: str

    @property
    def total(self) -> Decimal:
        return per_period(self.current.daily, self.period)

    @property
    def baseline_total(self) -> Decimal:
        return per_period(self.baseline.daily, self.period)

    @property
    def savings(self) -> Decimal:
        return self.baseline_total - self.total

    @property
    def savings_pct(self) -> Decimal | None:
        return percent(self.savings, self.baseline_total)

    @property
    def is_estimate(self) -> bool:
        return self.current.has_estimates or self.baseline.has_estimates


def per_period(daily: Decimal, period: str) -> Decimal:
    return daily * PERIOD_DAYS[period]


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole in percent, None when whole is zero (no meaningful ratio)."""
    if whole == 0:
        return None
    return part / whole * 100


def idle_cost_per_day(gpu: Gpu, min_containers: int) -> Decimal:
    """What warm containers cost whether or not a request arrives: one L40S is $46.83/day."""
    return min_containers * SECONDS_PER_DAY * gpu.usd_per_second


def gpu_savings_pct(catalog: Catalog, gpu: str, reference: str = "L40S") -> Decimal | None:
    """The seed's "savings vs L40S" of a GPU at equal seconds: 1 - price / reference price."""
    cheaper, ref = catalog_gpu(catalog, gpu), catalog_gpu(catalog, reference)
    return percent(ref.usd_per_second - cheaper.usd_per_second, ref.usd_per_second)


def catalog_gpu(catalog: Catalog, name: str) -> Gpu:
    found = catalog.resolve(name)
    if found is None:
        raise CostError(f"unknown GPU {name!r}; the catalog has {', '.join(catalog.gpus)}")
    return found[0]


def measured_seconds(model: Model, catalog: Catalog) -> dict[str, Decimal]:
    """The model's measured seconds keyed by catalog GPU name (A10G and A10 are one GPU)."""
    measured: dict[str, Decimal] = {}
    for name, seconds in model.traffic.seconds_by_gpu.items():
        found = catalog.resolve(name)
        measured[found[0].name if found else name] = seconds
    return measured


def reference_gpu(fleet: Fleet, model: Model, strategy: str | None = None) -> str | None:
    """The GPU whose seconds `--speed-model relative` scales: the model's primary GPU under the
    reference strategy (`baseline`, or the first strategy when there is none)."""
    name = strategy or (REFERENCE_STRATEGY if REFERENCE_STRATEGY in fleet.strategies else None)
    if name is None and fleet.strategies:
        name = next(iter(fleet.strategies))
    choices = model.gpu.get(name or "", ())
    return choices[0] if choices else None


def seconds_on(
    model: Model,
    gpu_name: str,
    catalog: Catalog,
    speed_model: str = DEFAULT_SPEED_MODEL,
    reference: str | None = None,
) -> Seconds:
    """Seconds one request of model takes on gpu_name, and where that figure comes from."""
    gpu = catalog_gpu(catalog, gpu_name)
    measured = measured_seconds(model, catalog)
    if gpu.name in measured:
        return Seconds(measured[gpu.name], "measured")
    if speed_model == "compute":
        from .flops import ParamError
        from .speed import speed_on

        try:
            found = speed_on(model, gpu.name, catalog, measured=False)
        except (ParamError, CostError):
            found = None  # params the FLOPs cannot read, no flat figure: the flat path says so
        if found is not None and found.source == "estimate":
            return Seconds(found.seconds, "estimate")
    flat = model.traffic.seconds_per_request
    if speed_model == "relative" and reference is not None:
        ref = catalog_gpu(catalog, reference)
        if ref.name != gpu.name:
            ref_seconds = measured.get(ref.name, flat)
            if ref_seconds is None:
                raise CostError(
                    f"{model.name}: no seconds for the reference GPU {ref.name} to scale from; "
                    f"measure it or add a 'default' to traffic.seconds_per_request"
                )
            # Throughput is a datasheet ratio (float); str() keeps its decimal text exact.
            ratio = Decimal(str(ref.relative_throughput)) / Decimal(str(gpu.relative_throughput))
            return Seconds(ref_seconds * ratio, "estimate")
    if flat is None:
        known = ", ".join(sorted(measured)) or "none"
        raise CostError(
            f"{model.name}: no seconds per request for {gpu.name} (measured: {known})",
        )
    return Seconds(flat, "flat")


def model_cost(
    deployment: Deployment,
    catalog: Catalog,
    speed_model: str = "flat",
    reference: str | None = None,
) -> ModelCost:
    model = deployment.model
    requests = model.traffic.requests_per_day

    def daily_on(name: str) -> tuple[Seconds, Decimal, Decimal]:
        seconds = seconds_on(model, name, catalog, speed_model, reference)
        per_request = seconds.value * catalog_gpu(catalog, name).usd_per_second
        return seconds, per_request, requests * per_request

    seconds, per_request, daily = daily_on(deployment.primary_gpu)
    worst_gpu: str | None = None
    worst_daily: Decimal | None = None
    if len(deployment.gpus) > 1:
        # Modal falls back when the primary is unavailable: the dearest GPU of the list
        # bounds what a day can cost.
        by_cost = [(daily_on(name)[1], name) for name in deployment.gpus]
        worst_per_request, worst_gpu = max(by_cost, key=lambda item: item[0])
        worst_daily = requests * worst_per_request
    min_containers = deployment.containers.min_containers
    return ModelCost(
        model=model.name,
        gpus=deployment.gpus,
        requests_per_day=requests,
        seconds=seconds,
        cost_per_request=per_request,
        daily=daily,
        idle_daily=idle_cost_per_day(catalog_gpu(catalog, deployment.primary_gpu), min_containers),
        min_containers=min_containers,
        worst_case_gpu=worst_gpu,
        worst_case_daily=worst_daily,
    )


def table_speed_model(speed_model: str) -> str:
    """The speed model of the busy-seconds table `cost` and `plan` lead with: the document's
    formula keeps its flat figure under "compute" (the simulated bill shows speed per GPU)."""
    return "flat" if speed_model == "compute" else speed_model


def strategy_cost(
    fleet: Fleet,
    strategy: str,
    speed_model: str = "flat",
    reference_strategy: str | None = None,
) -> StrategyCost:
    """Cost of every model under strategy (a validated fleet: every model covers it)."""
    if speed_model not in SPEED_MODELS:
        raise CostError(
            f"unknown speed model {speed_model!r}; use one of {', '.join(SPEED_MODELS)}"
        )
    models = []
    for deployment in resolve(fleet, strategy):
        reference = reference_gpu(fleet, deployment.model, reference_strategy)
        models.append(model_cost(deployment, fleet.catalog, speed_model, reference))
    return StrategyCost(strategy=strategy, models=tuple(models), speed_model=speed_model)


def compare(
    fleet: Fleet,
    strategy: str,
    baseline: str | None = None,
    period: str = "day",
    speed_model: str = "flat",
) -> Comparison:
    """strategy against baseline (default: the strategy's compare_to)."""
    against = baseline or fleet.strategies[strategy].compare_to
    if against not in fleet.strategies:
        raise CostError(
            f"strategy {strategy!r} compares to {against!r}, which does not exist; "
            f"known: {', '.join(fleet.strategies)}"
        )
    table = table_speed_model(speed_model)
    return Comparison(
        current=strategy_cost(fleet, strategy, table, baseline),
        baseline=strategy_cost(fleet, against, table, baseline),
        period=period,
    )


# --- display helpers (pure: they return strings) ---------------------------------------------


def to_dict(comparison: Comparison) -> dict:
    """The JSON contract other tools read: dollars as JSON numbers, per the chosen period.

    Beside the contract's keys: `seconds_source` per model (measured/flat/estimate),
    `worst_case_gpu`/`worst_case_cost` for fallback lists, `idle_total` and `estimate`.
    """
    period = comparison.period
    rows = []
    for m in comparison.current.models:
        base = comparison.baseline.get(m.model)
        rows.append(
            {
                "model": m.model,
                "gpu": m.gpu,
                "requests_per_day": number(m.requests_per_day),
                "seconds_per_request": number(m.seconds.value),
                "cost_per_request": number(m.cost_per_request),
                "cost": number(per_period(m.daily, period)),
                "baseline_cost": None if base is None else number(per_period(base.daily, period)),
                "idle_cost": number(per_period(m.idle_daily, period)),
                "seconds_source": m.seconds.source,
                "gpus": list(m.gpus),
                "worst_case_gpu": m.worst_case_gpu,
                "worst_case_cost": None
                if m.worst_case_daily is None
                else number(per_period(m.worst_case_daily, period)),
            }
        )
    savings_pct = comparison.savings_pct
    return {
        "strategy": comparison.current.strategy,
        "baseline": comparison.baseline.strategy,
        "period": period,
        "models": rows,
        "total": number(comparison.total),
        "baseline_total": number(comparison.baseline_total),
        "savings": number(comparison.savings),
        "savings_pct": None if savings_pct is None else round(float(savings_pct), 2),
        "idle_total": number(per_period(comparison.current.idle_daily, period)),
        "estimate": comparison.is_estimate,
    }
