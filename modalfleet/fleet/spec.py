"""The fleet as typed, frozen data: what every other module reads. No I/O here."""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

STRATEGY_SUFFIXES = ("!", "+")  # Modal: "H100!" pins the exact GPU, "B200+" allows an upgrade


def module_name(name: str) -> str:
    """Python module (and file) name of a model: hyphens become underscores."""
    return name.replace("-", "_")


def is_python_keyword(name: str) -> bool:
    return keyword.iskeyword(module_name(name)) or keyword.issoftkeyword(module_name(name))


@dataclass(frozen=True)
class Gpu:
    """One GPU of the catalog (gpus.yaml): memory, price, precision support, speed."""

    name: str
    vram_gb: float
    usd_per_second: Decimal
    architecture: str
    compute_capability: str
    bf16: bool
    fp8: bool
    relative_throughput: float
    aliases: tuple[str, ...] = ()
    # Dense tensor TFLOPS per run dtype (float32, float16, bfloat16, fp8) from the datasheet
    # at tflops_source; empty when the catalog does not state them (no compute estimate then).
    tflops: dict[str, float] = field(default_factory=dict)
    tflops_source: str = ""

    @property
    def usd_per_hour(self) -> Decimal:
        return self.usd_per_second * 3600


@dataclass(frozen=True)
class Catalog:
    """The GPUs by name, where their prices come from, and the CPU and memory prices."""

    gpus: dict[str, Gpu]
    source: str = ""
    as_of: str = ""
    # Modal bills CPU and memory per second beside the GPU, at the higher of the reservation
    # and the use (gpus.yaml cpu_memory:). Zero when a catalog does not state them: then
    # has_cpu_memory_prices is False and a simulated bill covers the GPU only.
    usd_per_core_second: Decimal = Decimal(0)  # per physical core
    usd_per_gib_second: Decimal = Decimal(0)
    cpu_memory_source: str = ""
    cpu_memory_as_of: str = ""

    @property
    def has_cpu_memory_prices(self) -> bool:
        return bool(self.cpu_memory_source)

    def resolve(self, name: str) -> tuple[Gpu, str] | None:
        """Catalog GPU and Modal suffix for a GPU string; aliases are case-insensitive."""
        suffix = name[-1] if name.endswith(STRATEGY_SUFFIXES) else ""
        base = name[: len(name) - len(suffix)].upper()
        for gpu in self.gpus.values():
            if base == gpu.name.upper() or base in (alias.upper() for alias in gpu.aliases):
                return gpu, suffix
        return None

    def modal_name(self, name: str) -> str:
        """Normalised Modal GPU string: A10G -> A10, a100 -> A100-40GB, H100! stays H100!."""
        found = self.resolve(name)
        if found is None:
            return name
        gpu, suffix = found
        return gpu.name + suffix

    def by_price(self) -> list[Gpu]:
        return sorted(
            self.gpus.values(), key=lambda gpu: (gpu.usd_per_second, gpu.vram_gb, gpu.name)
        )

    def all_names(self) -> list[str]:
        names = list(self.gpus)
        for gpu in self.gpus.values():
            names.extend(gpu.aliases)
        return names


@dataclass(frozen=True)
class Weights:
    """One pinned Hugging Face repository a model loads, and how much of it it loads."""

    repo: str
    revision: str
    size_gb: float
    role: str
    name: str = ""
    repo_type: str = "model"
    files: tuple[str, ...] = ()
    components: dict[str, float] = field(default_factory=dict)


TRAFFIC_PROFILES = ("poisson", "diurnal")


@dataclass(frozen=True)
class Traffic:
    """How much a model is asked to do: requests a day, seconds each, how they arrive."""

    requests_per_day: Decimal
    seconds_per_request: Decimal | None  # the flat figure (the seed's assumption)
    # Measured per GPU; cost.seconds_on picks between these and the flat figure.
    seconds_by_gpu: dict[str, Decimal] = field(default_factory=dict)
    # How requests arrive over a day, for the serving simulation (economics.arrivals).
    profile: str = "poisson"  # one of TRAFFIC_PROFILES
    peak_to_trough: float | None = None  # diurnal only: busiest hour's rate / quietest hour's
    # A file of recorded arrival times to replay instead of a profile, resolved against the
    # fleet root when loaded (models.yaml writes it relative to that root).
    trace: Path | None = None


@dataclass(frozen=True)
class Resources:
    """CPU cores and memory reserved per container (@app.cls(cpu=..., memory=...)).

    Modal bills both per second at the higher of the reservation and the use, so the cost
    model prices exactly what the template reserves: memory_mib, not the YAML's GiB figure.
    """

    cpu: Decimal  # physical cores (Modal's unit), may be fractional
    memory_gb: Decimal  # GiB (2**30 bytes): Modal bills memory per GiB-second

    @property
    def memory_mib(self) -> int:
        # Modal's `memory=` is an integer number of MiB; round up so the reservation is never
        # below what models.yaml asks for.
        return math.ceil(self.memory_gb * 1024)

    @property
    def memory_gib(self) -> Decimal:
        """The reserved memory as rendered, in GiB: what is billed."""
        return Decimal(self.memory_mib) / 1024


# What Modal reserves when @app.cls names no cpu/memory: 0.125 cores and 128 MiB
# (modal.com/docs/guide/resources). A model without `resources` (its own or in `defaults:`) is
# rendered and priced with these, and validate warns when its weights need more memory.
MODAL_DEFAULT_RESOURCES = Resources(cpu=Decimal("0.125"), memory_gb=Decimal("0.125"))


@dataclass(frozen=True)
class ContainerPolicy:
    """How Modal scales a model's containers: how many, how long idle, how long a request."""

    min_containers: int
    max_containers: int
    scaledown_window_s: int
    timeout_s: int
    max_inputs: int = 1  # requests one container serves at once (@modal.concurrent)

    def merged(self, override: dict[str, int]) -> ContainerPolicy:
        values = {**self.__dict__, **override}
        return ContainerPolicy(**values)


@dataclass(frozen=True)
class Strategy:
    """One strategies/*.yaml: its goal, its container policy and its per-model settings."""

    name: str
    goal: str
    description: str
    compare_to: str
    containers: ContainerPolicy
    file: str
    # "proxy": web endpoints need Modal proxy-auth headers; "none" leaves them open.
    endpoint_auth: str = "proxy"
    # Per-model settings under this strategy (`models:` in the strategy file).
    model_containers: dict[str, dict[str, int]] = field(default_factory=dict)
    region: tuple[str, ...] = ()  # Modal container regions (`region:`); () lets Modal choose
    # Modal's GPU memory snapshot (alpha): for every model (`gpu_snapshot:`), and per model
    # (`models: {<model>: {gpu_snapshot: ...}}`); None where the file does not say.
    gpu_snapshot: bool | None = None
    model_gpu_snapshots: dict[str, bool] = field(default_factory=dict)

    def policy_for(self, model: Model) -> ContainerPolicy:
        """The strategy's containers, then the model's own override, then this strategy's
        override for the model: the most specific setting wins, key by key."""
        return self.containers.merged(model.containers).merged(
            self.model_containers.get(model.name, {})
        )


@dataclass(frozen=True)
class Model:
    """One model of models.yaml, defaults applied: weights, GPU per strategy, traffic."""

    name: str
    kind: str
    description: str
    weights: tuple[Weights, ...]
    dtype: str
    vram_gb: float
    quantization: dict[str, str]  # component -> scheme; "*" applies to every component
    params: dict[str, Any]
    latency_target_s: float | None
    traffic: Traffic
    gpu: dict[str, tuple[str, ...]]  # strategy -> GPU strings as written
    python: str
    volume: str
    secrets: tuple[str, ...]
    containers: dict[str, int] = field(default_factory=dict)
    resources: Resources = field(default_factory=lambda: MODAL_DEFAULT_RESOURCES)
    # Seconds from a container's start until it serves (models.yaml cold_start_s): a flat figure
    # and/or measured per GPU (bench --write). Where neither applies, economics.coldstart
    # estimates it from the weights and labels it ESTIMATE.
    cold_start_s: float | None = None
    cold_start_by_gpu: dict[str, float] = field(default_factory=dict)
    # Warning code -> why it is acceptable (models.yaml `acknowledge:`): --quiet hides those.
    acknowledge: dict[str, str] = field(default_factory=dict)
    endpoint_auth: str | None = None  # None: the strategy's setting
    limits: dict[str, int] = field(default_factory=dict)  # overrides of the derived limits
    # Modal's GPU memory snapshot (alpha): only when asked for; None where models.yaml is silent
    gpu_snapshot: bool | None = None
    region: tuple[str, ...] = ()  # Modal container regions; () takes the strategy's

    @property
    def module_name(self) -> str:
        return module_name(self.name)

    @property
    def app_name(self) -> str:
        # The app name does not depend on the strategy: switching strategy redeploys the same
        # app, so clients keep their endpoint.
        return self.name


@dataclass(frozen=True)
class Fleet:
    """Everything validate, render, cost and deploy read: models, strategies, GPU catalog."""

    models: dict[str, Model]
    strategies: dict[str, Strategy]
    catalog: Catalog
    vram_headroom_gb: float = 0.0


@dataclass(frozen=True)
class Deployment:
    """One model under one strategy: everything a template or the deployer needs."""

    model: Model
    strategy: Strategy
    gpus: tuple[str, ...]  # normalised Modal GPU strings, fallback order
    containers: ContainerPolicy

    @property
    def endpoint_auth(self) -> str:
        """The model's endpoint auth when models.yaml sets one, else the strategy's."""
        return self.model.endpoint_auth or self.strategy.endpoint_auth

    @property
    def gpu_snapshot(self) -> bool:
        """Whether the module takes Modal's GPU memory snapshot (alpha): the strategy's entry for
        the model, else the model's own `gpu_snapshot`, else the strategy's; off by default."""
        for setting in (
            self.strategy.model_gpu_snapshots.get(self.model.name),
            self.model.gpu_snapshot,
            self.strategy.gpu_snapshot,
        ):
            if setting is not None:
                return setting
        return False

    @property
    def region(self) -> tuple[str, ...]:
        """The model's `region:` when models.yaml sets one, else the strategy's (() for none)."""
        return self.model.region or self.strategy.region

    @property
    def primary_gpu(self) -> str:
        return self.gpus[0]

    @property
    def relative_path(self) -> str:
        return f"{self.strategy.name}/{self.model.module_name}.py"
