"""The fleet as typed, frozen data: what every other module reads. No I/O here."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

STRATEGY_SUFFIXES = ("!", "+")  # Modal: "H100!" pins the exact GPU, "B200+" allows an upgrade


def module_name(name: str) -> str:
    """Python module (and file) name of a model: hyphens become underscores."""
    return name.replace("-", "_")


def is_python_keyword(name: str) -> bool:
    return keyword.iskeyword(module_name(name)) or keyword.issoftkeyword(module_name(name))


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_gb: float
    usd_per_second: Decimal
    architecture: str
    compute_capability: str
    bf16: bool
    fp8: bool
    relative_throughput: float
    aliases: tuple[str, ...] = ()

    @property
    def usd_per_hour(self) -> Decimal:
        return self.usd_per_second * 3600


@dataclass(frozen=True)
class Catalog:
    gpus: dict[str, Gpu]
    source: str = ""
    as_of: str = ""

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
    repo: str
    revision: str
    size_gb: float
    role: str
    name: str = ""
    repo_type: str = "model"
    files: tuple[str, ...] = ()
    components: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Traffic:
    requests_per_day: Decimal
    seconds_per_request: Decimal | None  # the flat figure (the seed's assumption)
    # Measured per GPU; cost.seconds_on picks between these and the flat figure.
    seconds_by_gpu: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerPolicy:
    min_containers: int
    max_containers: int
    scaledown_window_s: int
    timeout_s: int

    def merged(self, override: dict[str, int]) -> ContainerPolicy:
        values = {**self.__dict__, **override}
        return ContainerPolicy(**values)


@dataclass(frozen=True)
class Strategy:
    name: str
    goal: str
    description: str
    compare_to: str
    containers: ContainerPolicy
    file: str
    # "proxy": web endpoints need Modal proxy-auth headers; "none" leaves them open.
    endpoint_auth: str = "proxy"


@dataclass(frozen=True)
class Model:
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
    endpoint_auth: str | None = None  # None: the strategy's setting
    limits: dict[str, int] = field(default_factory=dict)  # overrides of the derived limits
    gpu_snapshot: bool = False  # Modal's GPU memory snapshot (alpha): only when asked for

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
    def primary_gpu(self) -> str:
        return self.gpus[0]

    @property
    def relative_path(self) -> str:
        return f"{self.strategy.name}/{self.model.module_name}.py"
