"""One model under one strategy as the serving simulation takes it, read from the fleet.

- serving_policy: the autoscaler policy (simulate.ServingPolicy) the generated module deploys,
  what one of its containers costs per second (GPU + CPU cores + memory, as rendered into
  @app.cls), and where the service time and cold start come from;
- arrivals_for: the request arrival times the model's traffic profile describes.

Pure: no simulation runs here (simulate.py), and nothing is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..fleet.regions import region_multiplier
from ..fleet.resolve import deployment
from ..fleet.sizes import QUANTIZATION_FACTORS, scheme_for
from ..fleet.snapshots import snapshot_holds_weights, snapshot_mode
from ..fleet.spec import Catalog, Fleet, Model
from . import arrivals
from .coldstart import PROCESS_GB, ColdStart, cold_start_on, stored_weights_gb
from .cost import (
    DEFAULT_SPEED_MODEL,
    CostError,
    Seconds,
    catalog_gpu,
    reference_gpu,
    seconds_on,
)
from .simulate import ServingPolicy


@dataclass(frozen=True)
class Rate:
    """Dollars per second of one running container, by what Modal bills."""

    gpu: Decimal
    cpu: Decimal  # cores x $/core-second
    # The higher of the GiB reserved (the rendered MiB / 1024) and the estimated host peak
    # (host_peak_gib), x $/GiB-second: Modal bills the higher of reservation and use.
    memory: Decimal
    # Modal's region multiplier on all three (fleet/regions.py): 1 without a `region:`.
    multiplier: Decimal = Decimal(1)

    @property
    def total(self) -> Decimal:
        return (self.gpu + self.cpu + self.memory) * self.multiplier


@dataclass(frozen=True)
class Serving:
    model: str
    strategy: str
    gpu: str  # Modal GPU string the policy runs on (the strategy's primary unless chosen)
    policy: ServingPolicy
    rate: Rate
    seconds: Seconds  # service time and its source: measured | flat | estimate
    cold_start: ColdStart  # cold start and its source: measured | estimate

    @property
    def usd_per_second(self) -> Decimal:
        return self.rate.total

    @property
    def seconds_source(self) -> str:
        return self.seconds.source

    @property
    def cold_start_source(self) -> str:
        return self.cold_start.source

    @property
    def is_estimate(self) -> bool:
        """True when any input is an estimate: every figure built on it says ESTIMATE."""
        return self.seconds.is_estimate or self.cold_start.is_estimate


def host_peak_gib(model: Model, snapshot: str | None = None) -> Decimal:
    """ESTIMATE of the host memory a container peaks at, in GiB (0.01): the process, plus the
    weights a CPU snapshot holds in host memory ("cpu": the pipeline loads on the CPU), else one
    component at a time on its way to the GPU (an assumption: the largest one, at the size its
    saved quantized copy has)."""
    mode = snapshot_mode(model) if snapshot is None else snapshot
    if snapshot_holds_weights(model, mode) and mode != "gpu":
        weights_gb = stored_weights_gb(model)
    else:
        whole = QUANTIZATION_FACTORS[model.quantization.get("*", "none")]
        parts = [
            size * QUANTIZATION_FACTORS[scheme_for(model, component)]
            for w in model.weights
            for component, size in w.components.items()
        ]
        parts += [w.size_gb * whole for w in model.weights if not w.components]
        weights_gb = max(parts, default=0.0)
    gib = (PROCESS_GB + weights_gb) * 1e9 / 2**30
    return Decimal(str(round(gib, 2)))


def container_rate(
    model: Model,
    gpu_name: str,
    catalog: Catalog,
    region: tuple[str, ...] = (),
    snapshot: str | None = None,
) -> Rate:
    """$/s of one container of model on gpu_name: the GPU plus the model's CPU and memory
    (billed at the higher of the reservation and host_peak_gib), times the region's multiplier."""
    resources = model.resources
    memory_gib = max(resources.memory_gib, host_peak_gib(model, snapshot))
    return Rate(
        gpu=catalog_gpu(catalog, gpu_name).usd_per_second,
        cpu=resources.cpu * catalog.usd_per_core_second,
        memory=memory_gib * catalog.usd_per_gib_second,
        multiplier=region_multiplier(region),
    )


def serving_policy(
    fleet: Fleet,
    model_name: str,
    strategy: str,
    *,
    gpu: str | None = None,
    speed_model: str = DEFAULT_SPEED_MODEL,
    snapshot: str | None = None,
) -> Serving:
    """How model_name is served under strategy: on its primary GPU, or on `gpu` (what-if).

    The container policy is the strategy's with the model's `containers:` overrides. The service
    time is cost.seconds_on's (measured, else by speed_model: "compute" the FLOPs estimate of
    economics/speed.py, "relative" the throughput-scaled estimate, "flat" the model's figure); the
    cold start is coldstart.cold_start_on's under the SNAPSHOT mode the deployment takes, or
    under `snapshot` (optimize's GPU-snapshot what-if); the rate bills the deployment's region.
    Raises cost.CostError for an unknown model, strategy or GPU.
    """
    if model_name not in fleet.models:
        raise CostError(f"unknown model {model_name!r}; known: {', '.join(fleet.models)}")
    if strategy not in fleet.strategies:
        raise CostError(f"unknown strategy {strategy!r}; known: {', '.join(fleet.strategies)}")
    chosen = deployment(fleet, strategy, model_name)
    model, containers = chosen.model, chosen.containers
    gpu_name = chosen.primary_gpu if gpu is None else gpu
    catalog_gpu(fleet.catalog, gpu_name)  # an unknown GPU fails here, with the catalog's names
    gpu_name = fleet.catalog.modal_name(gpu_name)
    seconds = seconds_on(model, gpu_name, fleet.catalog, speed_model, reference_gpu(fleet, model))
    if snapshot is None:
        snapshot = snapshot_mode(model, chosen.gpu_snapshot)
    cold_start = cold_start_on(model, gpu_name, fleet.catalog, snapshot)
    policy = ServingPolicy(
        service_time_s=float(seconds.value),
        cold_start_s=cold_start.seconds,
        scaledown_window_s=float(containers.scaledown_window_s),
        min_containers=containers.min_containers,
        max_containers=containers.max_containers,
        max_inputs=containers.max_inputs,
    )
    return Serving(
        model=model_name,
        strategy=strategy,
        gpu=gpu_name,
        policy=policy,
        rate=container_rate(model, gpu_name, fleet.catalog, chosen.region, snapshot),
        seconds=seconds,
        cold_start=cold_start,
    )


def arrivals_for(
    fleet: Fleet, model_name: str, horizon_s: float, seed: int | None = None
) -> list[float]:
    """Arrival times in [0, horizon_s) of model_name's requests, as its traffic says.

    A `trace` replays the file's times (those before horizon_s); otherwise `profile` poisson or
    diurnal generates them from requests_per_day with `seed` (arrivals.DEFAULT_SEED when None),
    so the same fleet gives the same arrivals on every machine.
    """
    traffic = fleet.models[model_name].traffic
    seed = arrivals.DEFAULT_SEED if seed is None else seed
    if traffic.trace is not None:
        return [time for time in arrivals.read_trace(traffic.trace) if time < horizon_s]
    per_day = float(traffic.requests_per_day)
    if traffic.profile == "diurnal":
        return arrivals.diurnal(per_day, horizon_s, traffic.peak_to_trough, seed)
    return arrivals.poisson(per_day, horizon_s, seed)
