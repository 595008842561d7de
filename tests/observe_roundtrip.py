"""The round trip of `observe` (issue #24): a log that a known fleet would have written.

Arrivals come from a known process (Poisson, arrivals.poisson with a fixed seed); the serving
simulation (economics/simulate.py) serves them under a known policy and says which container
served each request and when each container started. The records those containers would log
are written from that schedule, with spread:

- a request's duration (finished_at - started_at) is the policy's service time times a
  lognormal factor exp(N(0, SERVICE_SIGMA)) (median: the service time), except where the next
  request on its container queued for that slot: then it is the schedule's service time, so
  the log shows the hand-over (the queued request starts the instant this one finishes) as a
  real container's log does;
- a container's cold start (ready_at - container_started_at) is the policy's cold start times
  exp(N(0, COLD_SIGMA)), drawn back from the instant the simulation made it ready, so the
  container's first request starts at its ready_at, as a real handler's does;
- ERROR_SHARE of the requests fail with status 500.

The simulation takes one service time, so the schedule is the median's; only the recorded
durations spread. Each record line carries a timestamp prefix, and unrelated lines (the
handler's own prints, a JSON line of another logger, braces in plain text) come between them.

`python tests/observe_roundtrip.py docs/how-to/flux-schnell.log` writes the example log the
how-to shows.
"""

from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from modalfleet.economics.arrivals import poisson
from modalfleet.economics.simulate import ServingPolicy, SimResult, simulate

EPOCH = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # the period starts at midnight UTC
SERVICE_SIGMA = 0.25
COLD_SIGMA = 0.15
ERROR_SHARE = 0.01
POLICY = ServingPolicy(
    service_time_s=3.0, cold_start_s=40.0, scaledown_window_s=60.0, max_containers=10
)
PHASES = (
    ("start_to_enter_s", 0.3),
    ("weights_read_s", 0.45),
    ("to_gpu_s", 0.2),
    ("warm_up_s", 0.05),
)
NOISE = (
    "Loading pipeline components...: 100%|##########| 7/7 [00:03<00:00,  2.01it/s]",
    '{"level": "info", "msg": "uvicorn running", "port": 8000}',
    "prompt accepted {steps: 4, width: 1024}",
    "",
)


@dataclass(frozen=True)
class RoundTrip:
    arrivals: list[float]  # the true arrivals, seconds since EPOCH
    result: SimResult
    horizon_s: float
    lines: list[str]  # the log, in time order


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(
    requests_per_day: float = 1500,
    days: int = 2,
    policy: ServingPolicy = POLICY,
    seed: int = 7,
    model: str = "flux-schnell",
    strategy: str = "hybrid",
    gpu: str = "T4",
) -> RoundTrip:
    horizon = days * 86400.0
    arrivals = poisson(requests_per_day, horizon, seed)
    result = simulate(arrivals, policy, horizon)
    draw = random.Random(seed + 1)
    timed: list[tuple[float, str]] = []
    common = {"model": model, "strategy": strategy, "gpu": gpu}
    for number, (start, _) in enumerate(result.container_spans):
        ready = start + policy.cold_start_s
        cold = policy.cold_start_s * math.exp(draw.gauss(0, COLD_SIGMA))
        record = {
            "event": "modalfleet.cold_start",
            **common,
            "container_id": f"ta-{number:05d}",
            "container_started_at": round(EPOCH + ready - cold, 6),
            "ready_at": round(EPOCH + ready, 6),
            "phases": {name: round(cold * share, 3) for name, share in PHASES},
        }
        timed.append((ready, json.dumps(record)))
    ordered = sorted(arrivals)
    starts = [
        a + latency - policy.service_time_s
        for a, latency in zip(ordered, result.latencies, strict=True)
    ]
    # A request that queued took its slot the instant the request before it on that container
    # finished: that request's duration is the schedule's, so the log shows the hand-over.
    handed_over: set[int] = set()
    previous: dict[int, int] = {}
    for index in sorted(range(len(ordered)), key=starts.__getitem__):
        container = result.request_containers[index]
        before = previous.get(container)
        if before is not None and starts[index] > ordered[index]:
            handed_over.add(before)
        previous[container] = index
    for index, started in enumerate(starts):
        if index in handed_over:
            took = policy.service_time_s
        else:
            took = policy.service_time_s * math.exp(draw.gauss(0, SERVICE_SIGMA))
        record = {
            "event": "modalfleet.request",
            **common,
            "container_id": f"ta-{result.request_containers[index]:05d}",
            "started_at": round(EPOCH + started, 6),
            "finished_at": round(EPOCH + started + took, 6),
            "status": 500 if draw.random() < ERROR_SHARE else 200,
        }
        timed.append((started + took, json.dumps(record)))
        if index % 7 == 0:
            timed.append((started + 0.001, NOISE[index % len(NOISE)]))
    timed.sort(key=lambda item: item[0])
    lines = [f"{stamp(EPOCH + at)} {text}" for at, text in timed]
    return RoundTrip(sorted(arrivals), result, horizon, lines)


def write(path: Path, trip: RoundTrip) -> None:
    path.write_text("\n".join(trip.lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    # The how-to's example: a day of flux-schnell at 400 requests under the hybrid strategy's
    # scaledown_window (300 s), small enough to ship.
    from dataclasses import replace

    write(Path(sys.argv[1]), generate(400, 1, replace(POLICY, scaledown_window_s=300.0)))
