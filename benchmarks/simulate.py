"""How fast the serving simulation runs, and the bill that motivated it (issue #12).

    python benchmarks/simulate.py [--days 30] [--scale 100] [--cold-start 40] [--repeat 3]

1. Throughput: every model of the bundled fleet with traffic, under each of the 4 strategies,
   for --days at --scale times the document's requests_per_day (400/300/200/100 a day at
   scale 1), Poisson arrivals from the default seed, the flat seconds_per_request as service
   time, --cold-start seconds of cold start and the strategy's container policy. Prints the
   requests simulated, the best of --repeat wall and CPU seconds, requests a second, and the
   ratio against the floor: a plain heapq event loop (floor_loop) handling the same two
   events a request (arrival, finish) and nothing else. Arrival generation is timed apart.
2. Sanity: Flux Schnell on its T4 at the document's 400 requests a day, 10 s each, 40 s cold
   start, scaledown window 300 s, min_containers 0: billed seconds a day against busy ones,
   cold-start rate, p95 latency, and the GPU-only cost a day (the issue expects roughly
   66,000 billed seconds for 4,000 busy, ~$11 a day instead of $0.656, 20-70% cold).

Not a test: timings depend on the machine (and on its load: compare the ratio, not seconds).
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modalfleet.economics.arrivals import SECONDS_PER_DAY, poisson  # noqa: E402
from modalfleet.economics.simulate import ServingPolicy, simulate  # noqa: E402
from modalfleet.fleet.load import load_fleet  # noqa: E402
from modalfleet.fleet.resolve import resolve  # noqa: E402


def floor_loop(arrivals: list[float], service: float) -> int:
    """The least an event loop can do: arrivals read in order, each one's finish pushed on a
    heap of plain floats and popped once its time has come. No queue, no containers, no
    billing, no tuples. Returns the events handled (two a request)."""
    finishes: list[float] = []
    push, pop = heapq.heappush, heapq.heappop
    handled = 0
    for at in arrivals:
        while finishes and finishes[0] <= at:
            pop(finishes)
            handled += 1
        push(finishes, at + service)
        handled += 1
    return handled + len(finishes)


def workload(days: float, scale: float, cold_start: float):
    """(label, arrivals, policy) for every model with traffic under every strategy."""
    loaded = load_fleet(REPO)
    if not loaded.ok:
        raise SystemExit("the bundled fleet does not load: run python cli.py validate")
    fleet = loaded.fleet
    horizon = days * SECONDS_PER_DAY
    arrivals_of = {}
    started = time.perf_counter()
    for model in fleet.models.values():
        per_day = float(model.traffic.requests_per_day) * scale
        if per_day > 0:
            arrivals_of[model.name] = poisson(per_day, horizon)
    generating = time.perf_counter() - started
    runs = []
    for strategy in fleet.strategies:
        for deployment in resolve(fleet, strategy):
            model = deployment.model
            if model.name not in arrivals_of:
                continue
            containers = deployment.containers
            policy = ServingPolicy(
                service_time_s=float(model.traffic.seconds_per_request),
                cold_start_s=cold_start,
                scaledown_window_s=containers.scaledown_window_s,
                min_containers=containers.min_containers,
                max_containers=containers.max_containers,
                # max_inputs joins the container policy with the fleet inputs of issue #12.
                max_inputs=getattr(containers, "max_inputs", 1),
            )
            runs.append((f"{model.name}/{strategy}", arrivals_of[model.name], policy))
    return fleet, horizon, runs, generating


def best_of(repeat: int, work) -> tuple[float, float]:
    """Best wall and CPU seconds of `repeat` runs of work()."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def throughput(args) -> None:
    fleet, horizon, runs, generating = workload(args.days, args.scale, args.cold_start)
    requests = sum(len(arrivals) for _, arrivals, _ in runs)
    print(
        f"workload: {len(runs)} simulations ({len({label.split('/')[0] for label, _, _ in runs})}"
        f" models with traffic x {len(fleet.strategies)} strategies), {args.days:g} days at "
        f"{args.scale:g}x the document's traffic, cold start {args.cold_start:g} s"
    )
    print(f"requests simulated: {requests:,} (arrivals generated in {generating:.2f} s wall)")

    results = {}

    def engine():
        for label, arrivals, policy in runs:
            result = simulate(arrivals, policy, horizon)
            # Keep the figures, not the per-request tuples (12 million of each at 100x).
            results[label] = (
                result.requests,
                result.billed_seconds,
                result.cold_start_rate,
                result.latency_p95_s,
                result.max_containers_used,
            )

    def floor():
        for _, arrivals, policy in runs:
            floor_loop(arrivals, policy.service_time_s)

    engine_wall, engine_cpu = best_of(args.repeat, engine)
    floor_wall, floor_cpu = best_of(args.repeat, floor)
    print(f"{'':10}{'wall s':>9}{'cpu s':>9}{'requests/s (cpu)':>19}")
    for name, wall, cpu in (("engine", engine_wall, engine_cpu), ("floor", floor_wall, floor_cpu)):
        print(f"{name:10}{wall:9.2f}{cpu:9.2f}{requests / cpu:19,.0f}")
    print(f"engine / floor (cpu): {engine_cpu / floor_cpu:.2f}x")
    print()
    print(f"{'simulation':36}{'requests':>10}{'billed s/day':>14}{'cold':>7}{'p95 s':>8}{'max':>5}")
    for label, (count, billed, cold, p95, most) in results.items():
        print(f"{label:36}{count:>10,}{billed / args.days:>14,.0f}{cold:>7.1%}{p95:>8.1f}{most:>5}")


def sanity(args) -> None:
    loaded = load_fleet(REPO)
    t4 = loaded.fleet.catalog.gpus["T4"]
    days = args.days
    policy = ServingPolicy(
        service_time_s=10, cold_start_s=40, scaledown_window_s=300, min_containers=0
    )
    result = simulate(poisson(400, days * SECONDS_PER_DAY), policy, days * SECONDS_PER_DAY)
    billed, busy = result.billed_seconds / days, result.busy_seconds / days
    print()
    print(
        f"Flux Schnell on T4, 400 requests/day (Poisson, {days:g} days), 10 s each, cold start "
        "40 s, scaledown 300 s, min 0:"
    )
    print(f"  billed {billed:,.0f} s/day for {busy:,.0f} busy ({billed / busy:.1f}x)")
    print(
        f"  GPU only at ${t4.usd_per_second}/s: ${billed * float(t4.usd_per_second):.2f}/day "
        f"billed vs ${busy * float(t4.usd_per_second):.3f}/day busy"
    )
    print(
        f"  cold-start rate {result.cold_start_rate:.1%}, cold starts {result.cold_starts / days:.0f}"
        f"/day, latency p50 {result.latency_p50_s:.0f} s, p95 {result.latency_p95_s:.0f} s, "
        f"p99 {result.latency_p99_s:.0f} s (target 5 s)"
    )


def commands(args) -> None:
    """cost and optimize on the bundled fleet as a user runs them (a fresh process each), with
    the simulation cache cold (an empty folder) and then warm (the same folder again)."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, MODALFLEET_CACHE_DIR=cache)
        runs = [
            ("cost (cold cache)", ["cost"]),
            ("cost (warm cache)", ["cost"]),
            ("optimize (cold cache)", ["optimize", "--format", "json"]),
            ("optimize (warm cache)", ["optimize", "--format", "json"]),
        ]
        print("\nCommands on the bundled fleet (wall / CPU of the whole process):")
        for label, argv in runs:
            before = os.times()
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, str(REPO / "cli.py"), *argv, "--root", str(REPO)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - start
            after = os.times()
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            extra = ""
            if argv[0] == "optimize":
                import json

                policies = json.loads(done.stdout)["policies"]
                extra = (
                    f"  ({policies['evaluated']} policies simulated, {policies['pruned']} "
                    "pruned by cost bounds)"
                )
            print(f"  {label:24} {wall:6.2f} s wall  {cpu:6.2f} s CPU{extra}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"  {'python -c pass':24} {time.perf_counter() - start:6.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--cold-start", type=float, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    throughput(args)
    sanity(args)
    commands(args)


if __name__ == "__main__":
    main()
