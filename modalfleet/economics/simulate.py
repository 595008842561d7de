"""Modal's autoscaler, simulated: what one model under one strategy is billed, and how long its
requests wait (the serving model of issue #12, implemented exactly as its contract states).

The interface below is fixed; the event loop lands with the simulation work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ServingPolicy:
    """How one model is served: what the autoscaler and each container do."""

    service_time_s: float  # seconds a request takes once it has a slot
    cold_start_s: float  # seconds from a container's start until it is ready
    scaledown_window_s: float  # idle seconds before a container shuts down
    min_containers: int = 0  # ready from time 0, never shut down below this count
    max_containers: int = 10
    max_inputs: int = 1  # requests one container serves at once (@modal.concurrent)


@dataclass(frozen=True)
class SimResult:
    requests: int
    horizon_s: float
    busy_seconds: float  # requests x service time: what the busy-seconds formula prices
    billed_seconds: float  # sum over containers of (min(shutdown, horizon) - start)
    idle_seconds: float  # billed seconds a ready container spent with no request in flight
    starting_seconds: float  # billed seconds spent in cold starts
    cold_starts: int  # containers started within the horizon (the warm pool not counted)
    cold_start_rate: float  # share of requests that waited for a starting container
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    max_containers_used: int
    latencies: tuple[float, ...]  # per request, in arrival order


def simulate(arrivals: Sequence[float], policy: ServingPolicy, horizon_s: float) -> SimResult:
    """Serve `arrivals` (seconds from 0, any order, each < horizon_s) under `policy`."""
    raise NotImplementedError("the event loop lands with issue #12")
