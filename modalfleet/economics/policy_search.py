"""The cheapest serving policy per model that meets its latency target, on the simulated autoscaler.

For each model the search walks GPU x scaledown_window x min_containers x max_inputs (and, with
allow_alpha, whether the module takes Modal's GPU memory snapshot, an alpha feature that cuts the
cold start: coldstart.py's "gpu" mode), simulates
each policy on the model's arrivals and keeps the cheapest whose p95 latency meets the model's
latency_target_s. GPUs the model cannot run on (VRAM, dtype, no seconds figure) are never
simulated (optimize.evaluate rules them out).

Pruning is by a lower bound only, which no policy can beat: a container bills at least the
seconds its requests run (busy seconds / max_inputs over the fleet of containers) and the warm
pool bills min_containers x horizon whatever happens, so a (GPU, min_containers, max_inputs)
whose bound at its $/s already costs more than the best policy found is not simulated, and
neither are larger pools on that GPU (the bound grows with min_containers). Every window of a
row that is not pruned is simulated: billed seconds are not monotone in scaledown_window once
cold starts cost time (a longer window can keep a container for the next request and save a
cold start; test_simulate.py pins such a case), so stopping at the first window that meets the
target could miss a cheaper, longer one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ..fleet.resolve import deployment
from ..fleet.snapshots import snapshot_mode
from ..fleet.spec import Fleet, Model
from .arrivals import DEFAULT_SEED
from .cost import DEFAULT_SPEED_MODEL
from .fleet_simulation import SECONDS_PER_DAY, ModelSimulation, simulate_model
from .optimize import evaluate
from .serving import arrivals_for, serving_policy

# (done, total, what): told before each unit of long work.
Progress = Callable[[int, int, str], None]
# Modal's bounds are 2-3600 s; these steps span "gone at once" to "warm for the hour".
WINDOWS_S: tuple[int, ...] = (2, 15, 60, 120, 300, 600, 1200)
MIN_CONTAINERS: tuple[int, ...] = (0, 1, 2, 3)
# The search simulates a week (the bundled traffic gives 700-2,800 requests per model): enough
# for a stable p95, short enough to stay within seconds for the fleet.
SEARCH_DAYS = 7


@dataclass(frozen=True)
class Policy:
    gpu: str
    scaledown_window_s: int
    min_containers: int
    max_inputs: int
    gpu_snapshot: bool = False  # Modal's GPU memory snapshot (alpha): models.yaml gpu_snapshot


@dataclass(frozen=True)
class Evaluated:
    policy: Policy
    sim: ModelSimulation

    @property
    def cost_per_day(self) -> Decimal:
        return self.sim.cost_per_day

    @property
    def p95(self) -> float | None:
        return self.sim.result.latency_p95_s if self.sim.result.requests else None

    @property
    def meets(self) -> bool:
        return self.sim.meets_target is not False


@dataclass(frozen=True)
class ModelSearch:
    model: Model
    evaluated: tuple[Evaluated, ...]  # in the order simulated
    chosen: Evaluated | None
    ruled_out: tuple[str, ...]  # "T4: needs 36 GB, has 16 GB"
    pruned: int  # policies skipped by a bound

    @property
    def frontier(self) -> tuple[Evaluated, ...]:
        """Pareto-optimal policies: none cheaper with a p95 as low (no-traffic models: cheapest)."""
        ranked = sorted(self.evaluated, key=lambda e: (e.cost_per_day, e.p95 or 0.0))
        front: list[Evaluated] = []
        best_p95 = float("inf")
        for item in ranked:
            p95 = item.p95 if item.p95 is not None else 0.0
            if p95 < best_p95:
                front.append(item)
                best_p95 = p95
        return tuple(front)

    @property
    def binding(self) -> str:
        """Which constraint decides the choice, in one phrase."""
        if not self.evaluated:
            return "no GPU can run it: " + "; ".join(self.ruled_out)
        cheapest = min(self.evaluated, key=lambda e: e.cost_per_day)
        if self.chosen is None:
            best = min((e for e in self.evaluated if e.p95 is not None), key=lambda e: e.p95)
            return (
                f"no policy meets the {self.model.latency_target_s:g} s target "
                f"(best simulated p95 {best.p95:.1f} s)"
            )
        if self.chosen is cheapest or self.chosen.cost_per_day == cheapest.cost_per_day:
            return "nothing binds: the cheapest policy meets the latency target"
        return (
            f"the {self.model.latency_target_s:g} s latency target binds: the cheapest policy "
            f"({describe(cheapest.policy)}, {cheapest.p95:.1f} s p95) misses it"
        )


ALPHA_NOTE = "GPU snapshot (alpha)"


def describe(policy: Policy) -> str:
    text = f"{policy.gpu}, window {policy.scaledown_window_s} s, min {policy.min_containers}"
    text += f", max_inputs {policy.max_inputs}" if policy.max_inputs > 1 else ""
    return text + (f", {ALPHA_NOTE}" if policy.gpu_snapshot else "")


def snapshot_choices(own: bool, allow_alpha: bool) -> tuple[bool, ...]:
    """Whether the module takes a GPU snapshot: as the fleet says under the strategy (`own`),
    and with allow_alpha also the other way (one that opted in is searched without it too)."""
    return (own, not own) if allow_alpha else (own,)


@dataclass(frozen=True)
class PolicySearch:
    strategy: str  # whose max_containers and other settings the search starts from
    models: tuple[ModelSearch, ...]
    days: int
    allow_alpha: bool = False  # GPU memory snapshots (alpha on Modal) were a dimension

    @property
    def evaluated(self) -> int:
        return sum(len(m.evaluated) for m in self.models)

    @property
    def pruned(self) -> int:
        return sum(m.pruned for m in self.models)

    @property
    def total_per_day(self) -> Decimal:
        return sum((m.chosen.cost_per_day for m in self.models if m.chosen), Decimal(0))


def max_inputs_choices(fleet: Fleet, model: Model, strategy: str) -> tuple[int, ...]:
    """1, and up to the max_inputs the fleet already allows this model (validate refuses it for
    kinds whose pipelines share per-request state): concurrency is the user's call, not ours."""
    allowed = serving_policy(fleet, model.name, strategy).policy.max_inputs
    return tuple(sorted({1, *(n for n in (2, 4, 8) if n <= allowed), allowed}))


def search_model(
    fleet: Fleet,
    model: Model,
    strategy: str,
    days: int = SEARCH_DAYS,
    seed: int = DEFAULT_SEED,
    prune: bool = True,
    speed_model: str = DEFAULT_SPEED_MODEL,
    allow_alpha: bool = False,
) -> ModelSearch:
    """The cheapest policy meeting the model's target; prune=False simulates every policy (the
    test that the bounds never discard the optimum compares the two); allow_alpha adds the GPU
    snapshot (alpha) as a dimension (snapshot_choices)."""
    horizon = days * SECONDS_PER_DAY
    arrivals = arrivals_for(fleet, model.name, horizon, seed)
    ruled_out: list[str] = []
    gpus: list[str] = []
    for gpu in fleet.catalog.by_price():
        candidate = evaluate(fleet, model, gpu, speed_model)
        if not candidate.fits or not candidate.dtype_ok or candidate.seconds is None:
            reasons = [r for r in candidate.rejections if "latency" not in r]
            ruled_out.append(f"{gpu.name}: {'; '.join(reasons) or 'no seconds figure'}")
            continue
        gpus.append(gpu.name)

    evaluated: list[Evaluated] = []
    best: Evaluated | None = None
    space = 0  # every policy the grid holds; those not simulated were pruned
    busy = Decimal(len(arrivals))
    own = deployment(fleet, strategy, model.name).gpu_snapshot
    snapshots = snapshot_choices(own, allow_alpha)
    for gpu in gpus:
        serving = serving_policy(fleet, model.name, strategy, gpu=gpu, speed_model=speed_model)
        rate = serving.usd_per_second
        service = Decimal(str(serving.policy.service_time_s))
        mins = [m for m in MIN_CONTAINERS if m <= serving.policy.max_containers]
        choices = max_inputs_choices(fleet, model, strategy)
        space += len(snapshots) * len(choices) * len(mins) * len(WINDOWS_S)
        # The bound holds for either snapshot: a cold start only adds billed seconds to it.
        for gpu_snapshot in snapshots:
            for max_inputs in choices:
                for min_containers in mins:
                    floor = max(busy * service / max_inputs, Decimal(min_containers * horizon))
                    if prune and best is not None and floor * rate / days >= best.cost_per_day:
                        break  # more warm containers only raise the floor
                    for window in WINDOWS_S:
                        policy = Policy(gpu, window, min_containers, max_inputs, gpu_snapshot)
                        sim = simulate_model(
                            fleet,
                            model.name,
                            strategy,
                            horizon_s=horizon,
                            seed=seed,
                            traffic_arrivals=arrivals,
                            gpu=gpu,
                            speed_model=speed_model,
                            overrides={
                                "scaledown_window_s": window,
                                "min_containers": min_containers,
                                "max_inputs": max_inputs,
                            },
                            snapshot="gpu" if gpu_snapshot else _plain_mode(model),
                        )
                        item = Evaluated(policy, sim)
                        evaluated.append(item)
                        if item.meets and (best is None or item.cost_per_day < best.cost_per_day):
                            best = item
    return ModelSearch(model, tuple(evaluated), best, tuple(ruled_out), space - len(evaluated))


def _plain_mode(model: Model) -> str:
    """The SNAPSHOT mode the module takes without a GPU snapshot (snapshots.snapshot_mode)."""
    return snapshot_mode(model, gpu_snapshot=False)


def search(
    fleet: Fleet,
    strategy: str,
    days: int = SEARCH_DAYS,
    seed: int = DEFAULT_SEED,
    speed_model: str = DEFAULT_SPEED_MODEL,
    allow_alpha: bool = False,
    progress: Progress | None = None,
) -> PolicySearch:
    """progress(done, total, model) is called before each model (a year of arrivals takes
    minutes: the command shows it on a terminal)."""
    found = []
    for index, model in enumerate(fleet.models.values()):
        if progress is not None:
            progress(index, len(fleet.models), model.name)
        found.append(
            search_model(
                fleet, model, strategy, days, seed, speed_model=speed_model, allow_alpha=allow_alpha
            )
        )
    return PolicySearch(strategy, tuple(found), days, allow_alpha)


@dataclass(frozen=True)
class PolicyWrite:
    """What `optimize --write STRATEGY` changes: a GPU per model under STRATEGY (models.yaml)
    and per-model container settings (the strategy file's `models:`), only where they differ
    from what the model resolves to today."""

    strategy: str
    gpus: dict[str, str]  # model -> the chosen GPU, where it differs from the primary
    # model -> settings that differ; gpu_snapshot (alpha) among them under --allow-alpha
    containers: dict[str, dict[str, int | bool]]
    kept: tuple[str, ...]  # models with no policy meeting the target: left as they are
    new_strategy_containers: dict[str, int] | None  # the new file's containers, when it is new


SETTINGS = ("scaledown_window_s", "min_containers", "max_inputs")


def policy_write(fleet: Fleet, strategy: str, found: PolicySearch) -> PolicyWrite:
    """The edits that make STRATEGY deploy the search's choices (a new strategy starts from the
    containers of the strategy the search ran under)."""
    exists = strategy in fleet.strategies
    base = fleet.strategies[strategy if exists else found.strategy]
    gpus: dict[str, str] = {}
    containers: dict[str, dict[str, int | bool]] = {}
    kept: list[str] = []
    for search_result in found.models:
        model = search_result.model
        current_gpus = model.gpu.get(strategy) or model.gpu[found.strategy]
        current_primary = fleet.catalog.modal_name(current_gpus[0])
        chosen = search_result.chosen
        if chosen is None:
            kept.append(model.name)
            if not exists:  # a new strategy still needs a GPU for every model
                gpus[model.name] = current_primary
            continue
        if chosen.policy.gpu != current_primary or not exists:
            gpus[model.name] = chosen.policy.gpu
        if not model.traffic.requests_per_day:
            continue  # no traffic: every window and pool bills the same $0; keep what is there
        policy = base.policy_for(model)
        differ: dict[str, int | bool] = {
            key: getattr(chosen.policy, key)
            for key in SETTINGS
            if getattr(chosen.policy, key) != getattr(policy, key)
        }
        # What the strategy resolves the snapshot to today (a new file: the model's own).
        snapshot = deployment(fleet, strategy, model.name).gpu_snapshot if exists else False
        if not exists and model.gpu_snapshot is not None:
            snapshot = model.gpu_snapshot
        if chosen.policy.gpu_snapshot != snapshot:
            differ["gpu_snapshot"] = chosen.policy.gpu_snapshot
        if differ:
            containers[model.name] = differ
    return PolicyWrite(
        strategy=strategy,
        gpus=gpus,
        containers=containers,
        kept=tuple(kept),
        new_strategy_containers=None if exists else dict(base.containers.__dict__),
    )
