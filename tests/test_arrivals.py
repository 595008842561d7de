"""Arrival times: generated ones are reproducible and have the rate and daily shape they claim;
trace files are read in either format, and every bad one is refused with its line number."""

from __future__ import annotations

import math
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modalfleet.economics import arrivals
from modalfleet.economics.arrivals import (
    DEFAULT_SEED,
    MAX_TRACE_LINES,
    ArrivalsError,
    TraceError,
    diurnal,
    poisson,
    read_trace,
    trace_horizon,
)

DAY = 86400.0


def test_poisson_is_reproducible_and_seeded():
    first = poisson(400, DAY)
    assert first == poisson(400, DAY, seed=DEFAULT_SEED)
    assert first != poisson(400, DAY, seed=DEFAULT_SEED + 1)
    assert first == sorted(first)
    assert 0 <= first[0] and first[-1] < DAY


def test_poisson_rate_and_gaps():
    times = poisson(10_000, 30 * DAY)
    # 300,000 expected; a Poisson count's standard deviation is sqrt(300,000) ~ 548.
    assert abs(len(times) - 300_000) < 4 * math.sqrt(300_000)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    assert mean == pytest.approx(DAY / 10_000, rel=0.01)
    spread = math.sqrt(sum((gap - mean) ** 2 for gap in gaps) / len(gaps))
    assert spread / mean == pytest.approx(1.0, abs=0.01)  # exponential gaps: CV 1


def test_generators_take_the_fleets_decimals_and_zero_traffic():
    assert poisson(Decimal("400"), DAY) == poisson(400, DAY)
    assert poisson(0, DAY) == []
    assert diurnal(0, DAY, 4) == []


def test_diurnal_shape_peak_to_trough_and_daily_total():
    days = 20
    times = diurnal(10_000, days * DAY, peak_to_trough=4)
    assert times == diurnal(10_000, days * DAY, peak_to_trough=4)
    assert abs(len(times) - 10_000 * days) < 4 * math.sqrt(10_000 * days)
    per_hour = [0] * 24
    for at in times:
        per_hour[int(at % DAY // 3600)] += 1
    # The busiest hour is around PEAK_HOUR (14:00 UTC), the quietest twelve hours away.
    assert per_hour.index(max(per_hour)) in (13, 14)
    assert per_hour.index(min(per_hour)) in (1, 2)
    # An hour's mean rate is the cosine averaged over the hour; the 14:00 and 02:00 hours
    # average the same share of the swing, so their ratio is (1 + a k) / (1 - a k).
    swing = 3 / 5
    k = math.sin(math.pi / 24) / (math.pi / 24) * math.cos(math.pi / 24)
    expected = (1 + swing * k) / (1 - swing * k)
    assert per_hour[14] / per_hour[2] == pytest.approx(expected, rel=0.06)  # ~2% sd


def test_diurnal_with_ratio_one_is_flat():
    times = diurnal(10_000, 10 * DAY, peak_to_trough=1)
    per_hour = [0] * 24
    for at in times:
        per_hour[int(at % DAY // 3600)] += 1
    assert max(per_hour) / min(per_hour) < 1.12  # 4,167 an hour: ~1.5% sd each


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: poisson(-1, DAY), "requests_per_day must be a finite number >= 0, got -1"),
        (lambda: poisson(math.inf, DAY), "requests_per_day must be a finite number >= 0"),
        (lambda: poisson("many", DAY), "requests_per_day must be a number, got 'many'"),
        (lambda: poisson(1, 0), "the horizon must be a finite number of seconds above 0"),
        (lambda: poisson(1, "a week"), "the horizon must be a finite number of seconds above 0"),
        (lambda: diurnal(1, DAY, 0.5), "peak_to_trough must be a finite number >= 1, got 0.5"),
        (lambda: diurnal(1, DAY, math.nan), "peak_to_trough must be a finite number >= 1"),
    ],
)
def test_bad_generator_parameters(call, message):
    with pytest.raises(ArrivalsError, match="^" + message.replace("(", r"\(")):
        call()


def test_trace_of_seconds_unsorted_with_comments(tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_text(
        "# last week, seconds since Monday 00:00 UTC\n30\n\n  2.5  # a comment\n0\n1e2\n"
    )
    assert read_trace(trace) == [0.0, 2.5, 30.0, 100.0]
    assert read_trace(trace.read_text()) == [0.0, 2.5, 30.0, 100.0]
    assert read_trace(["5\n", "1\n"]) == [1.0, 5.0]


def test_trace_of_timestamps_counts_from_midnight_utc_of_the_first_day():
    text = "\n".join(
        [
            "2026-01-21T10:00:00+01:00",  # 09:00 UTC
            "2026-01-21T00:00:01Z",
            "2026-01-22T00:00:00.5",  # no offset: UTC
            "2026-01-20T23:59:59-00:30",  # 2026-01-21 00:29:59 UTC
        ]
    )
    assert read_trace(text) == [1.0, 29 * 60 + 59.0, 9 * 3600.0, DAY + 0.5]


def test_trace_horizon_is_whole_days():
    assert trace_horizon([0.0, 3600.0]) == DAY
    assert trace_horizon([DAY]) == 2 * DAY
    assert trace_horizon([]) == DAY


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\n2\nabc\n", 3, "'abc' is neither a number of seconds nor an ISO-8601 timestamp"),
        ("# header\n1\n-4\n", 3, "negative time '-4': seconds count from 0"),
        ("1\nnan\n", 2, "'nan' is not a finite number of seconds"),
        ("1\ninf\n", 2, "'inf' is not a finite number of seconds"),
        ("", 1, "no arrivals: the trace is empty"),
        ("# nothing yet\n\n   \n", 3, "no arrivals: every line is blank or a comment"),
        (
            "# seconds\n1\n2026-01-21T00:00:00Z\n",
            3,
            "timestamp '2026-01-21T00:00:00Z' in a trace of seconds (line 2 is a number): "
            "use one format",
        ),
        (
            "2026-01-21T00:00:00Z\n\n7\n",
            3,
            "number '7' in a trace of timestamps (line 1 is a timestamp): use one format",
        ),
        ("1\n" + "9" * 1001 + "\n", 2, "longer than 1000 characters: not an arrival time"),
        ("2026-13-01T00:00:00Z\n", 1, "'2026-13-01T00:00:00Z' is neither a number"),
    ],
)
def test_bad_traces_name_their_line(tmp_path, text, line, message):
    trace = tmp_path / "trace.txt"
    trace.write_text(text)
    for source in (trace, text):
        with pytest.raises(TraceError) as caught:
            read_trace(source)
        assert caught.value.line == line
        assert caught.value.message.startswith(message)
        assert str(caught.value).startswith(f"line {line}: {message}")


def test_trace_error_is_a_value_error():
    assert issubclass(TraceError, ValueError)


def test_too_many_lines_is_refused_before_parsing(tmp_path, monkeypatch):
    # The bound is ten million; the test lowers it to keep the file small. Line 6 of a
    # six-line file is the first past a bound of 5, whether the lines are data or comments.
    monkeypatch.setattr(arrivals, "MAX_TRACE_LINES", 5)
    trace = tmp_path / "trace.txt"
    trace.write_text("1\n2\n3\n# four\n5\nnot even read\n")
    for source in (trace, trace.read_text(), trace.read_text().splitlines()):
        with pytest.raises(TraceError) as caught:
            read_trace(source)
        assert caught.value.line == 6
        assert caught.value.message.startswith("more than 5 lines: too long to simulate")
    trace.write_text("1\n2\n3\n4\n5\n")  # at the bound: fine
    assert read_trace(trace) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert MAX_TRACE_LINES == 10_000_000


def test_a_billion_line_file_fails_fast_without_reading_it_all(tmp_path):
    # Ten million and ten lines, then 2 GB more (sparse: it costs no disk). Counting stops at
    # line 10,000,001, ~10 MB in, before parsing anything or reading the rest.
    trace = tmp_path / "huge.txt"
    with trace.open("wb") as stream:
        stream.write(b"\n" * (MAX_TRACE_LINES + 10))
        stream.truncate(2_000_000_000)
    with pytest.raises(TraceError) as caught:
        read_trace(trace)
    assert caught.value.line == MAX_TRACE_LINES + 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.floats(allow_nan=True).map(repr),
            st.datetimes().map(lambda moment: moment.isoformat()),
            st.sampled_from(["", "# note", "12 # note", "-0", "1_000", "2026-01-21T00:00:00Z"]),
        ),
        max_size=12,
    )
)
def test_any_text_gives_arrivals_or_a_trace_error(lines):
    text = "\n".join(lines)
    try:
        times = read_trace(text)
    except TraceError as error:
        assert 1 <= error.line <= max(1, len(text.splitlines()))
        assert str(error).startswith(f"line {error.line}: ")
    else:
        assert times == sorted(times)
        assert all(0 <= at < math.inf for at in times)


def test_a_byte_order_mark_at_the_start_is_skipped(tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_bytes(b"\xef\xbb\xbf30\r\n2.5\r\n")  # as Notepad saves "UTF-8 with BOM"
    assert read_trace(trace) == [2.5, 30.0]
    assert read_trace("\ufeff30\n2.5\n") == [2.5, 30.0]
    # Only at the start: elsewhere it is a character like any other, and the line says so.
    trace.write_bytes(b"30\n\xef\xbb\xbf2.5\n")
    with pytest.raises(TraceError) as caught:
        read_trace(trace)
    assert caught.value.line == 2


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_trace_that_is_not_a_regular_file_is_refused_without_reading(tmp_path, kind):
    """simulate --trace on a FIFO (that nobody writes) or /dev/zero: a clear error at once, where
    reading would block forever or never end. A real process with a timeout: a regression here
    must fail, not hang."""
    from conftest import run_subprocess

    if kind == "fifo":
        trace = tmp_path / "pipe"
        os.mkfifo(trace)
        what = "a FIFO (named pipe)"
    else:
        trace = Path("/dev/zero")
        what = "a character device"
    result = run_subprocess(
        "simulate", "--model", "flux-schnell", "--strategy", "hybrid", "--trace", str(trace),
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"simulate: {trace} is {what}, not a regular file: a trace is a text file of arrival "
        "times, one a line\n"
    )
    with pytest.raises(arrivals.NotATraceFile):
        read_trace(trace)
