"""The fleet on Modal's autoscaler: each model under a strategy simulated and priced as Modal bills.

The busy-seconds formula (cost.py) prices requests x seconds x GPU $/s, the document's way. What
Modal bills is every container from start to shutdown (cold start, requests, the idle
scaledown_window tail) at GPU + CPU + memory rates. This module runs the simulation
(simulate.py) on each model's arrivals and serving policy (serving.py) and prices the billed
seconds; cost, plan, optimize and spend show it beside the busy-seconds figure.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..fleet.spec import Fleet, Model
from .arrivals import DEFAULT_SEED
from .cost import DEFAULT_SPEED_MODEL, PERIOD_DAYS, percent
from .serving import Serving, arrivals_for, serving_policy
from .sim_cache import cached
from .simulate import SimResult, simulate

SECONDS_PER_DAY = 86400
# cost, plan and optimize simulate 30 days: at the bundled traffic (100-400 requests a day) the
# Poisson noise in a day's bill is then well under 1%.
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ModelSimulation:
    """One model under one strategy, simulated over `result.horizon_s` and priced."""

    model: str
    strategy: str
    serving: Serving
    result: SimResult
    latency_target_s: float | None

    @property
    def gpu(self) -> str:
        return self.serving.gpu

    @property
    def days(self) -> Decimal:
        return Decimal(str(self.result.horizon_s)) / SECONDS_PER_DAY

    @property
    def cost(self) -> Decimal:
        """What Modal bills for the horizon: billed seconds x (GPU + CPU + memory) $/s."""
        return Decimal(str(self.result.billed_seconds)) * self.serving.usd_per_second

    @property
    def cost_per_day(self) -> Decimal:
        return self.cost / self.days if self.days else Decimal(0)

    @property
    def meets_target(self) -> bool | None:
        """p95 latency within the model's target; None when there is no target or no request."""
        if self.latency_target_s is None or not self.result.requests:
            return None
        return self.result.latency_p95_s <= self.latency_target_s


def simulate_model(
    fleet: Fleet,
    model: str,
    strategy: str,
    *,
    horizon_s: float = DEFAULT_DAYS * SECONDS_PER_DAY,
    seed: int = DEFAULT_SEED,
    arrivals: Sequence[float] | None = None,
    overrides: Mapping[str, float] | None = None,
    gpu: str | None = None,
    traffic_arrivals: Sequence[float] | None = None,
    speed_model: str = DEFAULT_SPEED_MODEL,
    snapshot: str | None = None,
) -> ModelSimulation:
    """Simulate `model` under `strategy`; `overrides` replace ServingPolicy fields (what-ifs).

    arrivals: replay these instead of the model's traffic (never cached). traffic_arrivals: the
    model's own arrivals for (horizon_s, seed) computed once by a caller that simulates many
    policies; results for the model's traffic are kept in sim_cache either way. snapshot: a
    SNAPSHOT mode other than the model's own (its cold start changes; serving.serving_policy).
    """
    serving = serving_policy(
        fleet, model, strategy, gpu=gpu, snapshot=snapshot, speed_model=speed_model
    )
    if overrides:
        serving = dataclasses.replace(
            serving, policy=dataclasses.replace(serving.policy, **dict(overrides))
        )
    if arrivals is not None:
        result = simulate(arrivals, serving.policy, horizon_s)
    else:

        def compute() -> SimResult:
            times = traffic_arrivals
            if times is None:
                times = arrivals_for(fleet, model, horizon_s, seed)
            return simulate(times, serving.policy, horizon_s)

        parts = {
            "traffic": traffic_key(fleet.models[model]),
            "horizon_s": horizon_s,
            "seed": seed,
            "policy": dataclasses.asdict(serving.policy),
        }
        result = cached(parts, compute)
    return ModelSimulation(
        model=model,
        strategy=strategy,
        serving=serving,
        result=result,
        latency_target_s=fleet.models[model].latency_target_s,
    )


def traffic_key(model: Model) -> dict:
    """What decides a model's arrivals, for the cache key: a trace by its bytes, not its path."""
    traffic = model.traffic
    trace = None
    if traffic.trace is not None:
        trace = hashlib.sha256(Path(traffic.trace).read_bytes()).hexdigest()
    return {
        "profile": traffic.profile,
        "requests_per_day": str(traffic.requests_per_day),
        "peak_to_trough": traffic.peak_to_trough,
        "trace": trace,
    }


def simulate_strategy(
    fleet: Fleet,
    strategy: str,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    speed_model: str = DEFAULT_SPEED_MODEL,
) -> tuple[ModelSimulation, ...]:
    """Every model of the fleet under `strategy`, in models.yaml order."""
    horizon = days * SECONDS_PER_DAY
    return tuple(
        simulate_model(fleet, name, strategy, horizon_s=horizon, seed=seed, speed_model=speed_model)
        for name in fleet.models
    )


@dataclass(frozen=True)
class SimulatedComparison:
    """A strategy's simulated bill against its baseline's, per `period` (day or month)."""

    strategy: str
    baseline: str
    period: str
    models: tuple[ModelSimulation, ...]
    baseline_models: tuple[ModelSimulation, ...]

    def per_period(self, sim: ModelSimulation) -> Decimal:
        return sim.cost_per_day * PERIOD_DAYS[self.period]

    @property
    def total(self) -> Decimal:
        return sum((self.per_period(m) for m in self.models), Decimal(0))

    @property
    def baseline_total(self) -> Decimal:
        return sum((self.per_period(m) for m in self.baseline_models), Decimal(0))

    @property
    def savings(self) -> Decimal:
        return self.baseline_total - self.total

    @property
    def savings_pct(self) -> Decimal | None:
        return percent(self.savings, self.baseline_total)


class FleetSimulator:
    """Simulates each strategy of one fleet once, however many comparisons ask for it."""

    def __init__(
        self,
        fleet: Fleet,
        days: int = DEFAULT_DAYS,
        seed: int = DEFAULT_SEED,
        speed_model: str = DEFAULT_SPEED_MODEL,
        progress: Callable[[int, int, str], None] | None = None,
    ):
        self.fleet, self.days, self.seed, self.speed_model = fleet, days, seed, speed_model
        self.progress = progress  # (done, total, strategy) before each strategy is simulated
        self._done: dict[str, tuple[ModelSimulation, ...]] = {}

    def strategy(self, name: str) -> tuple[ModelSimulation, ...]:
        if name not in self._done:
            if self.progress is not None:
                self.progress(len(self._done), len(self.fleet.strategies), name)
            self._done[name] = simulate_strategy(
                self.fleet, name, self.days, self.seed, self.speed_model
            )
        return self._done[name]

    def model(self, strategy: str, model: str) -> ModelSimulation:
        return next(sim for sim in self.strategy(strategy) if sim.model == model)

    def compare(self, strategy: str, baseline: str, period: str) -> SimulatedComparison:
        return SimulatedComparison(
            strategy=strategy,
            baseline=baseline,
            period=period,
            models=self.strategy(strategy),
            baseline_models=self.strategy(baseline),
        )
