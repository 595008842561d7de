"""When requests arrive: generated (Poisson, or a daily cycle) or replayed from a trace file.

Times are seconds from the start of the simulated period, which starts at midnight UTC: the
daily cycle peaks at the same clock hour every day, and a trace of timestamps keeps its time of
day. Generated arrivals use random.Random with a fixed seed (DEFAULT_SEED unless told
otherwise), not numpy: Python documents that Random(seed).random() gives the same sequence on
every platform and version, so the same fleet gives the same figures on every machine.
"""

from __future__ import annotations

import io
import math
import random
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..fleet.statefile import NotARegularFile, open_regular

DEFAULT_SEED = 20260121
SECONDS_PER_DAY = 86400.0
# The daily cycle: rate(t) = mean x (1 + a cos(2 pi (hour - PEAK_HOUR) / 24)), a set by the
# peak-to-trough ratio r as a = (r - 1) / (r + 1), so the peak (at PEAK_HOUR UTC) is r times
# the trough (twelve hours later) and a whole day still averages requests_per_day.
PEAK_HOUR = 14.0
# A trace longer than this is refused, not read: 10 million arrivals is 4 a second for a month,
# and holding them takes ~400 MB. Lines are counted before any is parsed, so a billion-line
# file fails in a moment without filling memory.
MAX_TRACE_LINES = 10_000_000
MAX_LINE_CHARS = 1000  # a longer line is not an arrival time; refusing it bounds memory too
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY_US = 86_400_000_000


class ArrivalsError(ValueError):
    """Arrival parameters the generators cannot use (negative rates, an empty horizon)."""


class TraceError(ArrivalsError):
    """A trace that cannot be read; `line` is the 1-based line it is about."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


class NotATraceFile(ArrivalsError):
    """A trace path that is not a regular file: a FIFO would block, a device never end."""


def poisson(requests_per_day: float, horizon_s: float, seed: int = DEFAULT_SEED) -> list[float]:
    """Arrivals in [0, horizon_s) at a constant rate: independent, exponential gaps."""
    rate = _rate(requests_per_day)
    horizon = _horizon(horizon_s)
    if rate == 0:
        return []
    uniform = random.Random(seed).random
    log = math.log
    times = []
    at = 0.0
    while True:
        at -= log(1.0 - uniform()) / rate  # an exponential gap; 1 - u is in (0, 1]
        if at >= horizon:
            return times
        times.append(at)


def diurnal(
    requests_per_day: float,
    horizon_s: float,
    peak_to_trough: float,
    seed: int = DEFAULT_SEED,
) -> list[float]:
    """Arrivals in [0, horizon_s) following the daily cycle (see PEAK_HOUR): a Poisson process
    whose rate peaks at PEAK_HOUR UTC at `peak_to_trough` times its trough, drawn by thinning
    (candidates at the peak rate, each kept with probability rate(t) / peak rate)."""
    rate = _rate(requests_per_day)
    horizon = _horizon(horizon_s)
    if isinstance(peak_to_trough, bool) or not isinstance(peak_to_trough, int | float):
        raise ArrivalsError(f"peak_to_trough must be a number, got {peak_to_trough!r}")
    if not (math.isfinite(peak_to_trough) and peak_to_trough >= 1):
        raise ArrivalsError(f"peak_to_trough must be a finite number >= 1, got {peak_to_trough!r}")
    if rate == 0:
        return []
    swing = (peak_to_trough - 1) / (peak_to_trough + 1)
    peak_rate = rate * (1 + swing)
    uniform = random.Random(seed).random
    log, cos = math.log, math.cos
    radians_per_second = 2 * math.pi / SECONDS_PER_DAY
    peak_at = PEAK_HOUR * 3600.0
    times = []
    at = 0.0
    while True:
        at -= log(1.0 - uniform()) / peak_rate
        if at >= horizon:
            return times
        if uniform() * (1 + swing) < 1 + swing * cos((at - peak_at) * radians_per_second):
            times.append(at)


def read_trace(source: Path | str | Iterable[str]) -> list[float]:
    """Arrival times, sorted, from a trace: a file (a Path), its text (a str), or its lines.

    One arrival a line, either seconds since the period start (a number >= 0) or an ISO-8601
    timestamp (2026-01-21T09:30:00Z; without an offset it is taken as UTC), not both kinds in
    one trace. Timestamps count from midnight UTC of the earliest one's day, so the cycle of
    the day is kept. Blank lines and `#` comments (whole lines or after a value) are skipped;
    the order of lines does not matter. A UTF-8 byte-order mark at the start (some editors on
    Windows write one) is skipped. Raises TraceError naming the line of the first problem,
    NotATraceFile for a path that is not a regular file (a FIFO, /dev/zero: never read), OSError
    if the file cannot be opened. A str is always the trace's text, never a path.
    """
    if isinstance(source, Path):
        with _open_regular(source) as binary:
            _count_lines(binary)
            binary.seek(0)
            stream = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline=None)
            return _parse(_bounded_lines(stream))
    if isinstance(source, str):
        if source.count("\n") >= MAX_TRACE_LINES + 1:
            raise _too_many()
        source = source.removeprefix("\ufeff")
        # Lines split as in a file (\n, \r\n or \r), so line numbers match the file's.
        return _parse(_bounded_lines(io.StringIO(source, newline=None)))
    return _parse(iter(source))


def trace_horizon(arrivals: list[float]) -> float:
    """The whole days a sorted trace covers: the horizon that bills every day it touches."""
    if not arrivals:
        return SECONDS_PER_DAY
    return (math.floor(arrivals[-1] / SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY


def _parse(lines: Iterator[str]) -> list[float]:
    seconds = array("d")  # 8 bytes an arrival while reading, not a 32-byte float object
    micros = array("q")  # timestamps, as microseconds since 1970 (exact; a float is not)
    kind_line = 0  # the first data line: it decides whether this is a trace of seconds
    number = 0
    for number, raw in enumerate(lines, start=1):
        if number > MAX_TRACE_LINES:
            raise _too_many()
        if len(raw) > MAX_LINE_CHARS:
            raise TraceError(
                f"longer than {MAX_LINE_CHARS} characters: not an arrival time", number
            )
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        value = _seconds(text)
        if value is None:
            stamp = _timestamp(text)
            if stamp is None:
                raise TraceError(
                    f"{_shown(text)} is neither a number of seconds nor an ISO-8601 timestamp",
                    number,
                )
            if seconds:
                raise TraceError(
                    f"timestamp {_shown(text)} in a trace of seconds (line {kind_line} is a "
                    "number): use one format",
                    number,
                )
            kind_line = kind_line or number
            micros.append(stamp)
            continue
        if micros:
            raise TraceError(
                f"number {_shown(text)} in a trace of timestamps (line {kind_line} is a "
                "timestamp): use one format",
                number,
            )
        if not math.isfinite(value):
            raise TraceError(f"{_shown(text)} is not a finite number of seconds", number)
        if value < 0:
            raise TraceError(f"negative time {_shown(text)}: seconds count from 0", number)
        kind_line = kind_line or number
        seconds.append(value)
    if micros:
        midnight = min(micros) // _DAY_US * _DAY_US
        return sorted((stamp - midnight) / 1e6 for stamp in micros)
    if not seconds:
        what = "the trace is empty" if number == 0 else "every line is blank or a comment"
        raise TraceError(f"no arrivals: {what}", max(number, 1))
    return sorted(seconds)


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _timestamp(text: str) -> int | None:
    """Microseconds since 1970 UTC of an ISO-8601 timestamp, or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _too_many() -> TraceError:
    return TraceError(
        f"more than {MAX_TRACE_LINES:,} lines: too long to simulate; sample it or split it",
        MAX_TRACE_LINES + 1,
    )


def _open_regular(path: Path) -> io.BufferedReader:
    """path opened for reading if it is a regular file; NotATraceFile otherwise."""
    try:
        return open_regular(path)
    except NotARegularFile as exc:
        raise NotATraceFile(f"{exc}: a trace is a text file of arrival times, one a line") from None


def _count_lines(stream: io.BufferedReader) -> None:
    """Refuse a file with too many lines before parsing any (a fast byte count, no memory)."""
    newlines = 0
    last = b"\n"
    while chunk := stream.read(1 << 20):
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
        if newlines > MAX_TRACE_LINES:
            raise _too_many()
    if newlines + (last != b"\n") > MAX_TRACE_LINES:
        raise _too_many()


def _bounded_lines(stream) -> Iterator[str]:
    """The stream's lines, each read at most MAX_LINE_CHARS + 1 characters at a time, so one
    enormous line cannot fill memory before it is refused."""
    while line := stream.readline(MAX_LINE_CHARS + 2):
        yield line.rstrip("\n")


def _rate(requests_per_day: float) -> float:
    try:
        per_day = float(requests_per_day)
    except (TypeError, ValueError):
        raise ArrivalsError(
            f"requests_per_day must be a number, got {requests_per_day!r}"
        ) from None
    if not (math.isfinite(per_day) and per_day >= 0):
        raise ArrivalsError(
            f"requests_per_day must be a finite number >= 0, got {requests_per_day!r}"
        )
    return per_day / SECONDS_PER_DAY


def _horizon(horizon_s: float) -> float:
    try:
        horizon = float(horizon_s)
    except (TypeError, ValueError):
        horizon = math.nan  # refused below, with the value as given
    if not (math.isfinite(horizon) and horizon > 0):
        raise ArrivalsError(
            f"the horizon must be a finite number of seconds above 0, got {horizon_s!r}"
        )
    return horizon
