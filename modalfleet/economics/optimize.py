"""The cheapest feasible GPU per model, and how far each hand-written strategy is from it.

Every catalog GPU is a candidate for every model (SkyPilot's optimizer table). A candidate is
feasible when the model fits its VRAM (the declared need, or the weights left after
quantization when those are larger, plus the fleet's headroom), its dtype runs there (fp8
quantization needs an fp8 GPU; bfloat16 on a GPU without bf16 runs in float16, which is allowed
and noted) and its seconds per request meet the model's latency target. The feasible candidate
with the lowest cost per request is chosen. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..fleet.sizes import loaded_weights_gb, scheme_for
from ..fleet.spec import Fleet, Gpu, Model
from ..report.money import usd, usd_rate
from ..report.numbers import seconds_text
from .cost import (
    DEFAULT_SPEED_MODEL,
    CostError,
    Seconds,
    percent,
    reference_gpu,
    seconds_on,
    strategy_cost,
)


@dataclass(frozen=True)
class Candidate:
    gpu: Gpu
    need_gb: float
    fits: bool
    dtype_ok: bool
    dtype_note: str  # why the dtype is not ok, or what changes (bf16 -> fp16); "" otherwise
    seconds: Seconds | None  # None when no figure exists for this GPU
    meets_latency: bool
    cost_per_request: Decimal | None
    daily: Decimal | None
    rejections: tuple[str, ...]  # empty when feasible

    @property
    def feasible(self) -> bool:
        return not self.rejections


@dataclass(frozen=True)
class ModelChoice:
    model: Model
    candidates: tuple[Candidate, ...]  # catalog order by price
    chosen: Candidate | None

    @property
    def reason(self) -> str:
        """Why no GPU is feasible (empty when one is)."""
        if self.chosen is not None:
            return ""
        return summarize_rejections(self.candidates, self.model.latency_target_s)

    def note_for(self, candidate: Candidate) -> str:
        """Why a candidate was not chosen, or what to know about the chosen one."""
        if candidate.rejections:
            return "; ".join(candidate.rejections)
        if candidate is self.chosen:
            return candidate.dtype_note
        assert self.chosen is not None and self.chosen.cost_per_request is not None
        extra_request = (candidate.cost_per_request or Decimal(0)) - self.chosen.cost_per_request
        if self.model.traffic.requests_per_day:
            extra = (candidate.daily or Decimal(0)) - (self.chosen.daily or Decimal(0))
            return f"feasible, {usd(extra)}/day more than {self.chosen.gpu.name}"
        return f"feasible, {usd_rate(extra_request)}/request more than {self.chosen.gpu.name}"


@dataclass(frozen=True)
class StrategyGap:
    strategy: str
    daily: Decimal  # the strategy's cost of the models that have an optimum
    optimum_daily: Decimal
    left_out: tuple[str, ...]  # models with no feasible GPU, outside the comparison

    @property
    def gap(self) -> Decimal:
        return self.daily - self.optimum_daily

    @property
    def gap_pct(self) -> Decimal | None:
        """How far above the optimum the strategy is, in percent of the optimum."""
        return percent(self.gap, self.optimum_daily)


@dataclass(frozen=True)
class Optimization:
    objective: str
    speed_model: str
    choices: tuple[ModelChoice, ...]
    gaps: tuple[StrategyGap, ...]

    @property
    def optimum_daily(self) -> Decimal:
        return sum((c.chosen.daily or Decimal(0) for c in self.choices if c.chosen), Decimal(0))

    @property
    def is_estimate(self) -> bool:
        return self.speed_model == "relative" or any(
            cand.seconds is not None and cand.seconds.is_estimate
            for choice in self.choices
            for cand in choice.candidates
        )


def vram_need_gb(fleet: Fleet, model: Model) -> float:
    return max(model.vram_gb, loaded_weights_gb(model)) + fleet.vram_headroom_gb


def evaluate(
    fleet: Fleet, model: Model, gpu: Gpu, speed_model: str = DEFAULT_SPEED_MODEL
) -> Candidate:
    rejections: list[str] = []
    need = vram_need_gb(fleet, model)
    fits = gpu.vram_gb >= need
    if not fits:
        rejections.append(f"needs {need:g} GB, has {gpu.vram_gb:g} GB")

    fp8_parts = sorted(c for c in model.quantization if scheme_for(model, c) == "fp8")
    dtype_ok = not (fp8_parts and not gpu.fp8)
    dtype_note = ""
    if not dtype_ok:
        dtype_note = f"fp8 quantization ({', '.join(fp8_parts)}) needs an fp8 GPU"
        rejections.append(dtype_note)
    elif model.dtype == "bfloat16" and not gpu.bf16:
        dtype_note = "no bf16: runs in float16"

    try:
        seconds: Seconds | None = seconds_on(
            model, gpu.name, fleet.catalog, speed_model, reference_gpu(fleet, model)
        )
    except CostError:
        seconds = None
    meets_latency = True
    if seconds is None:
        rejections.append("no seconds per request for this GPU")
        meets_latency = False
    elif model.latency_target_s is not None and seconds.value > Decimal(
        str(model.latency_target_s)
    ):
        meets_latency = False
        rejections.append(
            f"{_seconds(seconds)} s {seconds.source} > {model.latency_target_s:g} s latency target"
        )

    per_request = seconds.value * gpu.usd_per_second if seconds is not None else None
    daily = model.traffic.requests_per_day * per_request if per_request is not None else None
    return Candidate(
        gpu=gpu,
        need_gb=need,
        fits=fits,
        dtype_ok=dtype_ok,
        dtype_note=dtype_note,
        seconds=seconds,
        meets_latency=meets_latency,
        cost_per_request=per_request,
        daily=daily,
        rejections=tuple(rejections),
    )


def _seconds(seconds: Seconds) -> str:
    return seconds_text(seconds.value)


def choose(fleet: Fleet, model: Model, speed_model: str = DEFAULT_SPEED_MODEL) -> ModelChoice:
    candidates = tuple(evaluate(fleet, model, gpu, speed_model) for gpu in fleet.catalog.by_price())
    feasible = [c for c in candidates if c.feasible]
    # Cost per request, not per day: a model without traffic still gets the GPU that would
    # serve its first request most cheaply. Ties go to the cheaper $/s, then the name.
    chosen = min(
        feasible,
        key=lambda c: (c.cost_per_request, c.gpu.usd_per_second, c.gpu.name),
        default=None,
    )
    return ModelChoice(model=model, candidates=candidates, chosen=chosen)


def summarize_rejections(candidates: tuple[Candidate, ...], latency_target_s: float | None) -> str:
    """One sentence on why nothing is feasible, naming the rule that bites."""
    if not candidates:
        return "the catalog has no GPU"
    if not any(c.fits for c in candidates):
        return f"no GPU has {candidates[0].need_gb:g} GB (largest: {max(c.gpu.vram_gb for c in candidates):g} GB)"
    fitting = [c for c in candidates if c.fits]
    if not any(c.dtype_ok for c in fitting):
        return f"no GPU large enough supports its dtype ({fitting[0].dtype_note})"
    usable = [c for c in fitting if c.dtype_ok]
    if all(c.seconds is None for c in usable):
        return "no seconds per request for any GPU large enough"
    timed = [c for c in usable if c.seconds is not None]
    fastest = min(timed, key=lambda c: c.seconds.value)
    if all(c.seconds.source == "flat" for c in timed):
        return (
            f"its flat {_seconds(fastest.seconds)} s per request (the same on every GPU) exceeds "
            f"its {latency_target_s:g} s latency target; measure per-GPU seconds (bench --write) "
            f"or try --speed-model compute"
        )
    return (
        f"no GPU large enough meets the latency target: the fastest, {fastest.gpu.name}, takes "
        f"{_seconds(fastest.seconds)} s ({fastest.seconds.source})"
    )


def optimize(
    fleet: Fleet, objective: str = "cost", speed_model: str = DEFAULT_SPEED_MODEL
) -> Optimization:
    if objective != "cost":
        raise CostError(f"unknown objective {objective!r}; the only objective is 'cost'")
    choices = tuple(choose(fleet, model, speed_model) for model in fleet.models.values())
    optimum = {c.model.name: c.chosen.daily for c in choices if c.chosen is not None}
    left_out = tuple(c.model.name for c in choices if c.chosen is None)
    gaps = []
    for strategy in fleet.strategies:
        costs = strategy_cost(fleet, strategy, speed_model)
        daily = sum((m.daily for m in costs.models if m.model in optimum), Decimal(0))
        gaps.append(
            StrategyGap(
                strategy=strategy,
                daily=daily,
                optimum_daily=sum((d or Decimal(0) for d in optimum.values()), Decimal(0)),
                left_out=left_out,
            )
        )
    return Optimization(
        objective=objective, speed_model=speed_model, choices=choices, gaps=tuple(gaps)
    )
