"""Modal's autoscaler, simulated: what one model under one strategy is billed, and how long its
requests wait (the serving model of issue #12, implemented exactly as its contract states).

The serving model, for a horizon of T seconds:

- Each container serves up to `max_inputs` requests at once; a request takes `service_time_s`
  once it has a slot.
- `min_containers` containers are ready from time 0 and the count never drops below it.
- Requests wait in one FIFO queue. Whenever a slot is free on a ready container, the oldest
  waiting request takes it. Among containers with a free slot the one with the most requests in
  flight wins, then the one busy most recently, then the oldest container.
- When a request arrives and cannot start at once, one new container starts if the waiting
  requests (the new one included) exceed `max_inputs` x (containers still starting) and fewer
  than `max_containers` exist. It is ready `cold_start_s` later and takes whatever is waiting
  then: a slot elsewhere may have freed first, so it can find the queue empty.
- A ready container with no request in flight is idle (the queue is then empty: a waiting
  request would have taken its slot). After `scaledown_window_s` idle it shuts down, unless
  that would leave fewer than `min_containers` containers (starting ones count).
- Billed seconds: the sum over containers of min(shutdown, T) - start. Latency: finish -
  arrival. Percentiles are nearest-rank. Every request arriving in [0, T) is served to its
  end, past T if need be; billing stops at T.

Readings of the contract where it leaves a choice (the tests pin each one):

- "Busy most recently": a container with a request in flight is busy now, so it ranks above
  every idle one (such ties go to the oldest); an idle one ranks by the time its last request
  finished; one that has never served a request ranks below all that have.
- Events at the same instant, in this order: requests finishing and containers becoming ready
  (all of them first, then the waiting requests take the freed slots by the rule above, so
  which event is handled first does not matter), then arrivals, then scaledowns. Finishes and
  readiness first so a request arriving just as a slot frees takes it instead of starting a
  container; scaledowns last so a container idle for exactly the window serves a request
  arriving at that instant instead of shutting down under it. Containers whose windows end at
  the same instant shut down youngest first, so when min_containers keeps one it is the oldest,
  the one the slot rule prefers.
- cold_start_rate: the share of requests whose wait ended because a container became ready,
  i.e. that took a slot at the instant its container finished its cold start, having arrived
  before that instant. A request that waited for a busy slot to free is not counted, even if a
  container was starting meanwhile; with cold_start_s 0 none counts (a container is ready the
  instant it starts).
- Which containers min_containers keeps is decided at each window's end: the warm pool may
  shut down and a younger container stay. One kept past its window stays until a request takes
  it (no container can start meanwhile: a start needs every slot busy).
- Results per request (latencies, cold_start_requests, request_containers) are in arrival
  order: index i is the i-th arrival once `arrivals` is sorted (they may come in any order).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


class SimulationError(ValueError):
    """Arrivals, horizon or policy the serving model cannot take; the message says which."""


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
    # (start, min(shutdown, horizon)) per container, warm pool first, then in start order.
    container_spans: tuple[tuple[float, float], ...] = ()
    # Indices (arrival order) of the requests counted in cold_start_rate.
    cold_start_requests: tuple[int, ...] = ()
    # The container (index into container_spans) each request ran on, in arrival order.
    request_containers: tuple[int, ...] = ()

    @property
    def containers_started(self) -> int:
        """Every container that ran, the warm pool included."""
        return len(self.container_spans)


def simulate(arrivals: Sequence[float], policy: ServingPolicy, horizon_s: float) -> SimResult:
    """Serve `arrivals` (seconds from 0, any order, each < horizon_s) under `policy`.

    Raises SimulationError for a policy, horizon or arrival the serving model cannot take.
    """
    _check_policy(policy)
    horizon = _checked_horizon(horizon_s)
    times = _checked_arrivals(arrivals, horizon)

    service = float(policy.service_time_s)
    cold_start = float(policy.cold_start_s)
    window = float(policy.scaledown_window_s)
    slots = policy.max_inputs
    floor = policy.min_containers
    ceiling = policy.max_containers
    count = len(times)
    inf = math.inf

    # Containers are numbered in start order (0 = oldest); their state lives in parallel lists.
    start_at: list[float] = [0.0] * floor  # the warm pool: started and ready at 0
    in_flight: list[int] = [0] * floor  # kept only when max_inputs > 1 (else: busy = not idle)
    idle_since: list[float] = [0.0] * floor  # while idle: its last finish, or its readiness
    shutdown_at: list[float] = [inf] * floor  # inf while it runs
    # The idle_since of the idle spell in which min_containers kept it past its window; a new
    # spell has a later idle_since, so the mark lapses by itself when the container is used.
    held_since: list[float] = [-inf] * floor
    busy_from: list[float] = [0.0] * floor  # max_inputs > 1: when in_flight went from 0 to 1
    occupied = 0.0  # max_inputs > 1: seconds within the horizon with a request in flight
    single = slots == 1

    # Ready containers with a free slot, in three lists each sorted so the slot rule's winner
    # is last (all are small: at most max_containers long):
    partial: list[tuple[int, int]] = []  # (in flight, -number): busy now, room for more
    recent: list[int] = []  # idle, served before: by (last finish, -number)
    fresh: list[int] = sorted(-number for number in range(floor))  # idle, never served: -number
    # Service time is one figure and slots are taken in time order, so requests finish in the
    # order they started and containers become ready in the order they started: lists and
    # queues in time order stand in for an event heap. Requests start in arrival order (FIFO),
    # so request i's finish and container are at index i of finish_times and served_by.
    finish_times: list[float] = []
    served_by: list[int] = []
    finished = 0  # requests whose finish has been handled
    ready_times: deque[float] = deque()
    ready_containers: deque[int] = deque()

    alive = floor  # containers running: starting or ready
    starting = 0
    most_alive = floor
    # A lower bound on when the first idle container's window ends: scaledowns are applied
    # lazily, just before the next arrival that could see them, and at the end.
    next_shutdown = window if floor else inf

    # Per request in arrival order: service time unless it waited (then written over), and the
    # latencies of those that went through the queue, which alone need sorting for percentiles.
    latencies: list[float] = [service] * count
    queued_latencies: list[float] = []
    cold_waited: list[int] = []
    started = 0  # requests that have had a slot: the FIFO queue is times[started:arrived]
    arrived = 0
    next_arrival = times[0] if count else inf

    def take_slot(now: float) -> int:
        """The container whose free slot the slot rule picks at `now`, marked one busier."""
        if partial:
            flying, negative = partial.pop()
            number = -negative
        else:
            number = recent.pop() if recent else -fresh.pop()
            if single:
                return number
            busy_from[number] = now
            flying = 0
        flying += 1
        in_flight[number] = flying
        if flying < slots:
            insort(partial, (flying, -number))
        return number

    def start_container(now: float) -> None:
        """The autoscaler starts a container at `now`, for the requests waiting."""
        nonlocal starting, alive, most_alive
        ready_containers.append(len(start_at))
        ready_times.append(now + cold_start)
        start_at.append(now)
        in_flight.append(0)
        idle_since.append(now)
        shutdown_at.append(inf)
        held_since.append(-inf)
        busy_from.append(now)
        starting += 1
        alive += 1
        most_alive = max(most_alive, alive)

    def shut_down_idle(before: float) -> None:
        """Shut down, in time order, idle containers whose window ended before `before`."""
        nonlocal alive, next_shutdown
        due = []
        soonest = inf  # the first window to end among the idle containers that stay
        for number in recent + [-negative for negative in fresh]:
            if held_since[number] != idle_since[number]:  # not kept by min_containers
                at = idle_since[number] + window
                if at < before:
                    due.append((at, -number))  # ties: the youngest goes first
                elif at < soonest:
                    soonest = at
        if due:
            due.sort()
            for at, negative in due:
                if alive > floor:
                    alive -= 1
                    shutdown_at[-negative] = at
                else:
                    held_since[-negative] = idle_since[-negative]
            recent[:] = [number for number in recent if shutdown_at[number] == inf]
            fresh[:] = [negative for negative in fresh if shutdown_at[-negative] == inf]
        next_shutdown = soonest

    while True:
        # 1. Free the slots of finished requests and of containers whose cold start ended: all
        #    of them up to the next arrival while nobody waits (their order cannot matter
        #    then), else one instant at a time, the earliest, so waiting requests see each.
        waiting = started < arrived
        limit = next_arrival
        if waiting:
            free_at = finish_times[finished] if finished < started else inf
            if ready_times and ready_times[0] < free_at:
                free_at = ready_times[0]
            # Arrivals before any slot frees join the queue, perhaps starting containers (no
            # container is idle while requests wait, so no scaledown is due among them).
            while next_arrival < free_at:
                arrived += 1
                if arrived - started > slots * starting and alive < ceiling:
                    start_container(next_arrival)
                    if ready_times[-1] < free_at:
                        free_at = ready_times[-1]
                next_arrival = times[arrived] if arrived < count else inf
            limit = free_at if free_at < next_arrival else next_arrival
        if (
            single
            and waiting
            and finished < started
            and finish_times[finished] == limit
            and (finished + 1 == started or finish_times[finished + 1] != limit)
            and not (ready_times and ready_times[0] == limit)
        ):
            # The busy case, short: one request finishes, alone at its instant, and its
            # container, the only free one, takes the oldest waiting request at once.
            number = served_by[finished]
            finished += 1
            latency = limit - times[started] + service
            latencies[started] = latency
            queued_latencies.append(latency)
            finish_times.append(limit + service)
            served_by.append(number)
            started += 1
            if limit < next_arrival:
                continue
        while finished < started and finish_times[finished] <= limit:
            now = finish_times[finished]
            number = served_by[finished]
            finished += 1
            if not single:
                flying = in_flight[number]
                if flying < slots:  # it had a free slot already: its place changes
                    del partial[bisect_left(partial, (flying, -number))]
                flying -= 1
                in_flight[number] = flying
                if flying:
                    insort(partial, (flying, -number))
                    continue
                occupied += min(now, horizon) - min(busy_from[number], horizon)
            idle_since[number] = now
            if recent and idle_since[recent[-1]] == now and recent[-1] < number:
                # Finished together: the older container ranks higher (nearer the end).
                place = len(recent) - 1
                while place and idle_since[recent[place - 1]] == now and recent[place - 1] < number:
                    place -= 1
                recent.insert(place, number)
            else:
                recent.append(number)
            if now + window < next_shutdown:  # a bound: a waiting request may take it
                next_shutdown = now + window
        readied = ()
        if ready_times and ready_times[0] <= limit:
            readied = []
            while ready_times and ready_times[0] <= limit:
                now = ready_times.popleft()
                number = ready_containers.popleft()
                starting -= 1
                idle_since[number] = now
                insort(fresh, -number)
                readied.append(number)
                if now + window < next_shutdown:
                    next_shutdown = now + window

        # 2. The oldest waiting requests take the slots freed at `limit`, the rule's winner first.
        if waiting:
            while started < arrived and (partial or recent or fresh):
                if single:  # inlined take_slot: an idle container, the one that served last
                    number = recent.pop() if recent else -fresh.pop()
                else:
                    number = take_slot(limit)
                waited = limit - times[started]
                if waited > 0 and number in readied:
                    cold_waited.append(started)
                latency = waited + service
                latencies[started] = latency
                queued_latencies.append(latency)
                finish_times.append(limit + service)
                served_by.append(number)
                started += 1
            if limit < next_arrival:
                continue
        if next_arrival == inf:
            break

        # 3. Arrivals at `now`: a free slot at once, or the queue and perhaps a new container.
        now = next_arrival
        if next_shutdown < now:
            shut_down_idle(now)
        while next_arrival == now:
            arrived += 1
            next_arrival = times[arrived] if arrived < count else inf
            if single and recent:  # the common case, inlined: an idle container that served
                served_by.append(recent.pop())
            elif partial or recent or fresh:  # a slot is free, so nobody is waiting
                served_by.append(take_slot(now))
            else:
                if arrived - started > slots * starting and alive < ceiling:
                    start_container(now)
                continue
            finish_times.append(now + service)
            started += 1
        # 4. Scaledowns at `now` come last: shut_down_idle applies them before the next arrival.

    shut_down_idle(inf)

    if single:  # one request at a time: occupied = the service times, cut at the horizon
        within = bisect_right(finish_times, horizon)  # finish_times is in time order
        occupied = within * service + sum(
            max(0.0, horizon - (end - service)) for end in finish_times[within:]
        )

    spans = tuple(
        (start, min(end, horizon)) for start, end in zip(start_at, shutdown_at, strict=True)
    )
    billed = sum(end - start for start, end in spans)
    warming = sum(min(start + cold_start, horizon) - start for start, _ in spans[floor:])
    waited_sorted = sorted(queued_latencies)
    return SimResult(
        requests=count,
        horizon_s=horizon,
        busy_seconds=count * service,
        billed_seconds=billed,
        idle_seconds=max(0.0, billed - warming - occupied),
        starting_seconds=warming,
        cold_starts=len(start_at) - floor,
        cold_start_rate=len(cold_waited) / count if count else 0.0,
        latency_p50_s=_nearest_rank(50, count, service, waited_sorted),
        latency_p95_s=_nearest_rank(95, count, service, waited_sorted),
        latency_p99_s=_nearest_rank(99, count, service, waited_sorted),
        max_containers_used=most_alive,
        latencies=tuple(latencies),
        container_spans=spans,
        cold_start_requests=tuple(cold_waited),
        request_containers=tuple(served_by),
    )


def _nearest_rank(percent: int, count: int, service: float, waited_sorted: list[float]) -> float:
    """The nearest-rank percentile of `count` latencies: those that did not wait are exactly
    `service` (the smallest possible), the rest are `waited_sorted`, so only they need sorting."""
    if not count:
        return 0.0
    rank = math.ceil(percent * count / 100)  # 1-based
    plain = count - len(waited_sorted)
    return service if rank <= plain else waited_sorted[rank - plain - 1]


def _check_policy(policy: ServingPolicy) -> None:
    for name in ("service_time_s", "cold_start_s", "scaledown_window_s"):
        value = getattr(policy, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise SimulationError(f"{name} must be a finite number of seconds, got {value!r}")
    if policy.service_time_s <= 0:
        raise SimulationError(f"service_time_s must be above 0, got {policy.service_time_s!r}")
    for name in ("cold_start_s", "scaledown_window_s"):
        if getattr(policy, name) < 0:
            raise SimulationError(f"{name} must be 0 or more, got {getattr(policy, name)!r}")
    for name, least in (("min_containers", 0), ("max_containers", 1), ("max_inputs", 1)):
        value = getattr(policy, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SimulationError(f"{name} must be a whole number >= {least}, got {value!r}")
    if policy.min_containers > policy.max_containers:
        raise SimulationError(
            f"min_containers ({policy.min_containers}) exceeds max_containers "
            f"({policy.max_containers})"
        )


def _checked_horizon(horizon_s: float) -> float:
    if isinstance(horizon_s, bool) or not isinstance(horizon_s, int | float):
        raise SimulationError(f"the horizon must be a number of seconds, got {horizon_s!r}")
    horizon = float(horizon_s)
    if not (math.isfinite(horizon) and horizon > 0):
        raise SimulationError(
            f"the horizon must be a finite number of seconds above 0, got {horizon_s!r}"
        )
    return horizon


def _checked_arrivals(arrivals: Sequence[float], horizon: float) -> list[float]:
    try:
        times = sorted(map(float, arrivals))
    except (TypeError, ValueError) as error:
        raise SimulationError(f"arrival times must be numbers of seconds: {error}") from None
    if math.isnan(sum(times)):  # NaN sorts anywhere, so look at the sum, not the ends
        raise SimulationError("arrival times must be numbers of seconds, got NaN")
    if times and times[0] < 0:
        raise SimulationError(f"arrival times must be 0 or more, got {times[0]!r}")
    if times and not times[-1] < horizon:
        raise SimulationError(
            f"arrival at {times[-1]!r} s is not before the horizon ({horizon!r} s)"
        )
    return times
