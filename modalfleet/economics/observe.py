"""What the deployed fleet's containers recorded (issue #24): the records read from log lines,
summed per model and GPU, and the arrivals they imply.

The records (the contract runtime/records.py writes, one JSON object per line on stdout):

- per container, when ready: {"event": "modalfleet.cold_start", "model", "strategy", "gpu",
  "container_id", "container_started_at", "ready_at", "phases": {name: seconds}}
- per request, when finished: {"event": "modalfleet.request", "model", "strategy", "gpu",
  "container_id", "started_at", "finished_at", "status"}

Times are Unix epoch seconds. Text before a line's first `{` (a timestamp prefix) is ignored;
a line that is not such a record (no object, not JSON, another event) is skipped. An object
whose event is one of the two above but whose keys or types are wrong, or whose times run
backwards (finished before started: clock skew), is an error naming its source and line: a
figure built on half the records would look measured and be wrong.

Arrivals are not in the records; `arrivals` estimates them (see its docstring for the
estimator and its measured error). Pure: no modal, nothing printed.
"""

from __future__ import annotations

import json
import math
import statistics
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..fleet.yamledit import with_measured_seconds

COLD_START = "modalfleet.cold_start"
REQUEST = "modalfleet.request"
EVENTS = (COLD_START, REQUEST)
_NAMES = ("model", "strategy", "gpu", "container_id")
# A request that starts within this many seconds of its container becoming ready waited for
# that cold start: the handler takes its first input as soon as @modal.enter returns, so the
# gap is the time to hand the input over (milliseconds), far below any service time.
READY_TOLERANCE_S = 1.0
# A request that starts within this many seconds after another on its container finished took
# the slot that request freed: it had queued for it.
HAND_OVER_S = 0.01
# A request with this HTTP status or above failed on our side (a 4xx is the client's input).
ERROR_STATUS = 500
# `--write` records a figure only when this many samples back it (issue #24).
MIN_REQUESTS = 20
MIN_COLD_STARTS = 5
SECONDS_PER_DAY = 86400.0
# The phases a container runs before its memory snapshot is taken. A container restored from a
# snapshot did not run them (they ran where the snapshot was taken): its record lists only the
# GPU phases, and its container_started_at is when its post-snapshot hook began.
PRE_SNAPSHOT_PHASES = ("start_to_enter_s", "weights_read_s")


class RecordError(ValueError):
    """A record that cannot be used; the message names its source and line."""

    def __init__(self, source: str, line: int, message: str):
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line, self.message = source, line, message


@dataclass(frozen=True)
class ColdStartRecord:
    model: str
    strategy: str
    gpu: str
    container_id: str
    container_started_at: float
    ready_at: float
    phases: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> float:
        return self.ready_at - self.container_started_at

    @property
    def restored(self) -> bool:
        """Restored from a memory snapshot: none of the pre-snapshot phases ran here."""
        return not any(name in PRE_SNAPSHOT_PHASES for name, _ in self.phases)


@dataclass(frozen=True)
class RequestRecord:
    model: str
    strategy: str
    gpu: str
    container_id: str
    started_at: float
    finished_at: float
    status: int

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    @property
    def failed(self) -> bool:
        return self.status >= ERROR_STATUS


@dataclass
class Records:
    cold_starts: list[ColdStartRecord] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)

    def add(self, record: ColdStartRecord | RequestRecord | None) -> None:
        if isinstance(record, ColdStartRecord):
            self.cold_starts.append(record)
        elif isinstance(record, RequestRecord):
            self.requests.append(record)

    def extend(self, other: Records) -> None:
        self.cold_starts += other.cold_starts
        self.requests += other.requests


def parse_lines(lines: Iterable[str], source: str) -> Records:
    """The records among `lines` (line numbers from 1, for errors as `source:line`)."""
    found = Records()
    for number, line in enumerate(lines, start=1):
        found.add(parse_line(line, source, number))
    return found


def parse_line(line: str, source: str, number: int) -> ColdStartRecord | RequestRecord | None:
    """The record on one line, None when the line is not a record; RecordError when it is one
    but unusable."""
    brace = line.find("{")
    if brace < 0:
        return None
    text = line[brace:].strip()
    try:
        data = json.loads(text)
    except ValueError:
        # A record cut short (a log line truncated mid-object) is still ours: refuse it rather
        # than count fewer requests without saying so.
        if any(f'"{event}"' in text for event in EVENTS):
            raise RecordError(
                source, number, "a modalfleet record that is not valid JSON"
            ) from None
        return None
    if not isinstance(data, dict) or data.get("event") not in EVENTS:
        return None

    def fail(message: str) -> RecordError:
        return RecordError(source, number, f"{data['event']} record: {message}")

    names = {}
    for key in _NAMES:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise fail(f"{key} must be a non-empty string, got {value!r}")
        names[key] = value

    def time(key: str) -> float:
        value = data.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise fail(f"{key} must be Unix epoch seconds (a number), got {value!r}")
        return float(value)

    if data["event"] == COLD_START:
        started, ready = time("container_started_at"), time("ready_at")
        if ready < started:
            raise fail(f"clock skew: ready_at {ready!r} is before container_started_at {started!r}")
        phases = data.get("phases")
        if not isinstance(phases, dict) or not all(
            isinstance(k, str)
            and not isinstance(v, bool)
            and isinstance(v, int | float)
            and math.isfinite(v)
            for k, v in phases.items()
        ):
            raise fail(f"phases must map phase names to seconds, got {phases!r}")
        return ColdStartRecord(
            **names,
            container_started_at=started,
            ready_at=ready,
            phases=tuple((k, float(v)) for k, v in phases.items()),
        )
    started, finished = time("started_at"), time("finished_at")
    if finished < started:
        raise fail(f"clock skew: finished_at {finished!r} is before started_at {started!r}")
    status = data.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise fail(f"status must be an HTTP status code, got {status!r}")
    return RequestRecord(**names, started_at=started, finished_at=finished, status=status)


# --- the period ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The period observed: [since, until) in UTC."""

    since: datetime
    until: datetime

    @property
    def start(self) -> float:
        return self.since.timestamp()

    @property
    def end(self) -> float:
        return self.until.timestamp()

    @property
    def days(self) -> float:
        return (self.end - self.start) / SECONDS_PER_DAY

    def label(self) -> str:
        return f"{iso(self.since)} to {iso(self.until)}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def window_of(records: Records) -> Window | None:
    """Whole UTC days covering every record: midnight before the first to midnight after the
    last (None when there are none)."""
    times = [r.started_at for r in records.requests] + [
        c.container_started_at for c in records.cold_starts
    ]
    if not times:
        return None
    first = datetime.fromtimestamp(min(times), UTC)
    last = datetime.fromtimestamp(max(times), UTC)
    since = first.replace(hour=0, minute=0, second=0, microsecond=0)
    until = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return Window(since, until)


def within(records: Records, window: Window, strategy: str, models: Sequence[str] = ()) -> Records:
    """The records of `strategy` (and of `models` when given) in the window: a request by its
    start, a container by its start."""
    keep = set(models)

    def wanted(record) -> bool:
        return record.strategy == strategy and (not keep or record.model in keep)

    return Records(
        cold_starts=[
            c
            for c in records.cold_starts
            if wanted(c) and window.start <= c.container_started_at < window.end
        ],
        requests=[
            r for r in records.requests if wanted(r) and window.start <= r.started_at < window.end
        ],
    )


# --- the figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """One model on one GPU under one strategy, as its containers recorded it."""

    model: str
    strategy: str
    gpu: str
    requests: int
    containers: int  # cold_start records: containers that became ready
    errors: int  # requests with status >= ERROR_STATUS
    seconds_per_request_p50: float | None  # of the requests that did not fail
    seconds_per_request_p95: float | None
    served: int  # requests that did not fail: the sample behind the seconds per request
    cold_start_s_p50: float | None
    cold_start_s_p95: float | None
    # median seconds of each phase over the containers that ran it, in record order
    phases_p50: tuple[tuple[str, float], ...]
    cold_start_rate: float  # share of requests that waited for their container's cold start
    restored: int = 0  # containers restored from a memory snapshot (GPU phases only)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile (as the simulation's), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent * len(ordered) / 100) - 1)]


def waited_for_cold_start(records: Records) -> set[int]:
    """Indices (into records.requests) of the requests that waited for a cold start: those that
    started within READY_TOLERANCE_S after their container became ready, when no request of
    that container started before them (a warm container serving again is not a cold start)."""
    ready = {(c.model, c.container_id): c.ready_at for c in records.cold_starts}
    first_start: dict[tuple[str, str], float] = {}
    for request in records.requests:
        key = (request.model, request.container_id)
        first_start[key] = min(first_start.get(key, math.inf), request.started_at)
    waited = set()
    for index, request in enumerate(records.requests):
        key = (request.model, request.container_id)
        at = ready.get(key)
        if (
            at is not None
            and at <= request.started_at <= at + READY_TOLERANCE_S
            and request.started_at <= first_start[key] + READY_TOLERANCE_S
        ):
            waited.add(index)
    return waited


def summarize(records: Records) -> list[Observed]:
    """Per (model, gpu), in the order each pair first appears in the records."""
    waited = waited_for_cold_start(records)
    keys: dict[tuple[str, str, str], None] = {}
    for record in [*records.cold_starts, *records.requests]:
        keys.setdefault((record.model, record.strategy, record.gpu), None)
    out = []
    for model, strategy, gpu in keys:
        indices = [
            i
            for i, r in enumerate(records.requests)
            if (r.model, r.strategy, r.gpu) == (model, strategy, gpu)
        ]
        requests = [records.requests[i] for i in indices]
        served = [r.seconds for r in requests if not r.failed]
        starts = [
            c for c in records.cold_starts if (c.model, c.strategy, c.gpu) == (model, strategy, gpu)
        ]
        colds = [c.seconds for c in starts]
        phase_values: dict[str, list[float]] = {}
        for c in starts:
            for name, seconds in c.phases:
                phase_values.setdefault(name, []).append(seconds)
        out.append(
            Observed(
                model=model,
                strategy=strategy,
                gpu=gpu,
                requests=len(requests),
                containers=len(starts),
                errors=sum(r.failed for r in requests),
                seconds_per_request_p50=nearest_rank(served, 50),
                seconds_per_request_p95=nearest_rank(served, 95),
                served=len(served),
                cold_start_s_p50=nearest_rank(colds, 50),
                cold_start_s_p95=nearest_rank(colds, 95),
                phases_p50=tuple(
                    (name, statistics.median(values)) for name, values in phase_values.items()
                ),
                cold_start_rate=(sum(i in waited for i in indices) / len(indices))
                if indices
                else 0.0,
                restored=sum(c.restored for c in starts),
            )
        )
    return out


# --- arrivals -----------------------------------------------------------------------------------


def handed_over(records: Records, model: str) -> dict[int, float]:
    """Requests of `model` that queued for a slot, by index into records.requests: those that
    started within HAND_OVER_S after another request on their container finished (a queued
    request takes a slot the instant it frees). The value: that other request's duration."""
    finishes: dict[str, list[tuple[float, float]]] = {}
    for r in records.requests:
        if r.model == model:
            finishes.setdefault(r.container_id, []).append((r.finished_at, r.seconds))
    for values in finishes.values():
        values.sort()
    out = {}
    for index, r in enumerate(records.requests):
        if r.model != model:
            continue
        values = finishes[r.container_id]
        position = bisect_left(values, (r.started_at - HAND_OVER_S, -math.inf))
        if position < len(values) and values[position][0] <= r.started_at:
            out[index] = values[position][1]
    return out


def idle_instants(records: Records, model: str) -> list[float]:
    """Instants a slot of `model` fell idle, sorted: a request finished and no request started
    on its container within HAND_OVER_S after, or a container became ready and none started on
    it then. Nobody was waiting at such an instant (the oldest waiting request would have taken
    the slot), so every request that waited arrived after the last one before its start."""
    by_container: dict[str, list[float]] = {}
    for r in records.requests:
        if r.model == model:
            by_container.setdefault(r.container_id, []).append(r.started_at)
    for values in by_container.values():
        values.sort()

    def taken(container: str, at: float) -> bool:
        values = by_container.get(container, [])
        position = bisect_left(values, at)
        return position < len(values) and values[position] <= at + HAND_OVER_S

    out = [
        r.finished_at
        for r in records.requests
        if r.model == model and not taken(r.container_id, r.finished_at)
    ]
    out += [
        c.ready_at
        for c in records.cold_starts
        if c.model == model and not taken(c.container_id, c.ready_at)
    ]
    return sorted(out)


def arrivals(records: Records, model: str, window: Window) -> list[float]:
    """Estimated arrival times of `model`'s requests, seconds since window.since, sorted.

    A request's arrival is not recorded, only when it started. Modal starts a container when a
    request arrives and finds every slot busy, so each container start marks an arrival; and a
    request that queued starts the instant a slot frees. The estimator:
    1. a request that waited for its container's cold start (waited_for_cold_start) arrived
       when that container started;
    2. a container whose cold start no request waited for was started by a request that then
       took a slot freed elsewhere first: the earliest request not yet placed that started
       while that container was starting, a queued one (3) first, arrived when it started;
    3. any other request that queued (handed_over: it started as another on its container
       finished) arrived during that request's service: half its duration before its start;
    4. every other request arrived when it started (it found a free slot at once).
    A request placed by 1-3 waited, so it arrived after the last instant a slot fell idle
    before its start (idle_instants): an estimate before that instant is moved just after it.
    The records date a container's start to within its cold start's spread (the module's
    import time) and a queued request's arrival to within one service time, so the estimate
    errs by up to one of those per request. The round trip (tests/test_observe.py) measures
    the error where it is used: replayed under the policy that served them, the estimated
    arrivals bill within 5% of the true ones, and optimize chooses the same policy on both.
    Times before the window's start (a container started just before it) count as 0.
    """
    starts = sorted(
        (c for c in records.cold_starts if c.model == model),
        key=lambda c: c.container_started_at,
    )
    by_container = {c.container_id: c for c in starts}
    # The replay gives every container one cold start, the median; dating a container's start
    # as its ready_at less that median makes it ready in the replay when it was in fact.
    typical: dict[str, float] = {}
    for gpu in {c.gpu for c in starts}:
        typical[gpu] = statistics.median(c.seconds for c in starts if c.gpu == gpu)

    def started(container: ColdStartRecord) -> float:
        return container.ready_at - typical[container.gpu]

    waited = waited_for_cold_start(records)
    queued = handed_over(records, model)
    mine = sorted(
        (r.started_at, index) for index, r in enumerate(records.requests) if r.model == model
    )
    placed: dict[int, float] = {}
    for _, index in mine:
        container = by_container.get(records.requests[index].container_id)
        if index in waited and container is not None:
            placed[index] = started(container)
    claimed = {records.requests[i].container_id for i in placed}
    times = [at for at, _ in mine]
    for container in starts:
        if container.container_id in claimed:
            continue
        first = bisect_left(times, started(container))
        last = first
        while last < len(mine) and times[last] <= container.ready_at:
            last += 1
        during = [index for _, index in mine[first:last] if index not in placed]
        trigger = next((i for i in during if i in queued), during[0] if during else None)
        if trigger is not None:
            placed[trigger] = started(container)
    for index, seconds in queued.items():
        placed.setdefault(index, records.requests[index].started_at - seconds / 2)
    idle = idle_instants(records, model)
    for index, at in placed.items():
        started = records.requests[index].started_at
        position = bisect_left(idle, started) - 1  # the last idle instant before its start
        if position >= 0 and at <= idle[position]:
            placed[index] = min(idle[position] + HAND_OVER_S, started)
    out = [max(0.0, placed.get(index, at) - window.start) for at, index in mine]
    return sorted(out)


def trace_text(times: Sequence[float], model: str, strategy: str, window: Window) -> str:
    """A trace `simulate --trace` reads: seconds since the period start, one a line."""
    head = [
        f"# {model} under {strategy}: arrivals estimated from the containers' records by "
        "`modalfleet observe`",
        f"# period {window.label()}; seconds since its start (one request a line)",
    ]
    return "\n".join(head + [f"{t:.3f}" for t in times]) + "\n"


# --- what --write records -------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """The figures of one model that enough records back, per GPU, with their sample sizes."""

    model: str
    seconds: dict[str, tuple[float, int]]  # gpu -> (p50 seconds per request, requests)
    cold_start: dict[str, tuple[float, int]]  # gpu -> (p50 cold start, cold starts)


def measured(observed: Sequence[Observed]) -> list[Measured]:
    """What `--write` may record: a GPU's seconds per request when at least MIN_REQUESTS
    successful requests back it, its cold start when at least MIN_COLD_STARTS containers do."""
    by_model: dict[str, Measured] = {}
    for o in observed:
        entry = by_model.setdefault(o.model, Measured(o.model, {}, {}))
        if o.served >= MIN_REQUESTS and o.seconds_per_request_p50 is not None:
            entry.seconds[o.gpu] = (o.seconds_per_request_p50, o.served)
        if o.containers >= MIN_COLD_STARTS and o.cold_start_s_p50 is not None:
            entry.cold_start[o.gpu] = (o.cold_start_s_p50, o.containers)
    return [m for m in by_model.values() if m.seconds or m.cold_start]


def measured_note(figures: Mapping[str, tuple[float, int]], what: str, window: Window) -> str:
    """The comment beside a written figure: where it comes from."""
    parts = ", ".join(f"{gpu} p50 of {count} {what}" for gpu, (_, count) in figures.items())
    first, last = window.since.date(), (window.until - timedelta(seconds=1)).date()
    days = f"{first}" if first == last else f"{first} to {last}"
    return f"measured by observe: {parts}, {days}"


def with_measured(text: str, found: Sequence[Measured], window: Window) -> str:
    """models.yaml text with each model's measured figures written in (yamledit: comments and
    order kept), a comment beside each saying its sample and period."""
    for m in found:
        notes = {}
        if m.seconds:
            notes["seconds_per_request"] = measured_note(m.seconds, "requests", window)
        if m.cold_start:
            notes["cold_start_s"] = measured_note(m.cold_start, "cold starts", window)
        text = with_measured_seconds(
            text,
            m.model,
            {gpu: value for gpu, (value, _) in m.seconds.items()},
            {gpu: value for gpu, (value, _) in m.cold_start.items()},
            notes,
        )
    return text
