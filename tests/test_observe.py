"""`observe` (issue #24): the containers' records read back, the round trip from a known fleet
to recovered figures and arrivals, the Modal log reader at the SDK boundary, and --write."""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import run_cli
from observe_roundtrip import POLICY, generate, write

from modalfleet.economics import observe as records
from modalfleet.economics.arrivals import read_trace, trace_horizon
from modalfleet.economics.policy_search import search_model
from modalfleet.economics.serving import serving_policy
from modalfleet.economics.simulate import simulate
from modalfleet.economics.traces import with_traces
from modalfleet.fleet.load import load_fleet

MODEL, STRATEGY = "flux-schnell", "hybrid"


@pytest.fixture(scope="module")
def trip():
    return generate()  # 1,500 requests a day for 2 days: ~3,000 requests, ~1,400 containers


@pytest.fixture
def observed(fleet_dir, trip, tmp_path):
    """The fleet after `observe --from-logs ... --trace-dir traces --write` on the trip's log."""
    log = tmp_path / "app.log"
    write(log, trip)
    result = run_cli(
        "observe",
        "--strategy",
        STRATEGY,
        "--from-logs",
        str(log),
        "--trace-dir",
        str(fleet_dir / "traces"),
        "--write",
        "--format",
        "json",
        root=fleet_dir,
    )
    assert result.exit_code == 0, result.text
    return fleet_dir, json.loads(result.output), result.stderr


# --- the round trip -------------------------------------------------------------------------


def test_round_trip_recovers_counts_and_medians(observed, trip):
    _, data, _ = observed
    assert data["since"] == "2026-11-30T00:00:00Z"
    assert data["until"] == "2026-12-03T00:00:00Z"  # a request queued past midnight of day 2
    [row] = data["models"]
    assert (row["model"], row["strategy"], row["gpu"]) == (MODEL, STRATEGY, "T4")
    assert row["requests"] == len(trip.arrivals) == 3078
    assert row["containers"] == trip.result.containers_started == 1399
    assert abs(row["seconds_per_request_p50"] / POLICY.service_time_s - 1) < 0.02
    assert abs(row["cold_start_s_p50"] / POLICY.cold_start_s - 1) < 0.02
    # Every request that waited for a cold start in the simulation is found waiting in the log.
    assert row["cold_start_rate"] == pytest.approx(trip.result.cold_start_rate, abs=0.002)
    assert row["errors"] == 32  # ERROR_SHARE of 1% drawn with the trip's seed


def test_round_trip_trace_bills_within_five_percent(observed, trip):
    fleet_dir, _, stderr = observed
    path = fleet_dir / "traces" / STRATEGY / f"{MODEL}.txt"
    assert f"observe: wrote {path}" in stderr
    recovered = read_trace(path)  # the format simulate --trace reads
    assert len(recovered) == len(trip.arrivals)
    truth = simulate(trip.arrivals, POLICY, trip.horizon_s)
    replay = simulate(recovered, POLICY, trace_horizon(recovered))
    error = replay.billed_seconds / truth.billed_seconds - 1
    assert abs(error) < 0.05, error  # measured: -2.2% (docs/how-to/tune-on-traffic.md)


def test_optimize_chooses_the_same_policy_on_the_recovered_trace(observed, trip, tmp_path):
    fleet_dir, _, _ = observed
    true_dir = tmp_path / "true"
    true_dir.mkdir()
    (true_dir / f"{MODEL}.txt").write_text("\n".join(f"{t:.6f}" for t in trip.arrivals) + "\n")
    fleet = load_fleet(fleet_dir).fleet  # with the measured T4 figures --write recorded
    choices = []
    for folder in (true_dir, fleet_dir / "traces"):
        traced = with_traces(fleet, folder)
        assert traced.days == 2
        found = search_model(traced.fleet, traced.fleet.models[MODEL], STRATEGY, days=2)
        assert found.chosen is not None
        choices.append(found.chosen.policy)
    assert choices[0] == choices[1]


def test_write_changes_only_the_measured_keys(observed):
    fleet_dir, _, stderr = observed
    before = (Path(__file__).parent.parent / "models.yaml").read_text().splitlines()
    after = (fleet_dir / "models.yaml").read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    note = "2026-11-30 to 2026-12-02"
    assert changed == [
        "-    traffic: {requests_per_day: 400, seconds_per_request: 10}",
        "+    traffic: {requests_per_day: 400, seconds_per_request: {default: 10, T4: 3.0}}  "
        f"# measured by observe: T4 p50 of 3046 requests, {note}",
        "+    cold_start_s: {T4: 39.85}  # measured by observe: T4 p50 of 1399 cold starts, "
        f"{note}",
    ]
    assert "seconds_per_request T4: 3.00 s (p50 of 3046 requests)" in stderr
    fleet = load_fleet(fleet_dir)
    assert fleet.ok, fleet.problems
    serving = serving_policy(fleet.fleet, MODEL, STRATEGY)
    assert (serving.seconds.source, serving.cold_start.source) == ("measured", "measured")
    assert (serving.policy.service_time_s, serving.policy.cold_start_s) == (3.0, 39.85)
    assert run_cli("validate", root=fleet_dir).exit_code == 0


def test_write_again_replaces_its_note_and_keeps_the_users(fleet_dir, tmp_path):
    path = fleet_dir / "models.yaml"
    text = path.read_text()
    # Another window's figures: the note is replaced, the user's comment on `gpu:` kept.
    window = records.Window(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))
    found = [records.Measured(MODEL, {"T4": (2.5, 40)}, {})]
    once = records.with_measured(text, found, window)
    again = records.with_measured(once, [records.Measured(MODEL, {"T4": (2.7, 50)}, {})], window)
    line = next(x for x in again.splitlines() if "seconds_per_request: {default" in x)
    assert line.endswith("# measured by observe: T4 p50 of 50 requests, 2026-12-01 to 2026-12-07")
    assert again.count("measured by observe") == 1
    assert "# L4 if no T4 is free" in again


def test_too_few_samples_write_nothing(fleet_dir, tmp_path):
    log = tmp_path / "small.log"
    write(log, generate(requests_per_day=3, days=1))  # 7 requests, 7 cold starts
    before = (fleet_dir / "models.yaml").read_text()
    result = run_cli(
        "observe", "--strategy", STRATEGY, "--from-logs", str(log), "--write", root=fleet_dir
    )
    assert result.exit_code == 0, result.text
    # 7 cold starts are enough (5), 7 requests are not (20): only cold_start_s is written.
    assert "observe: models.yaml flux-schnell cold_start_s T4: 44.33 s (p50 of 7 cold starts)" in (
        result.stderr
    )
    assert "seconds_per_request T4" not in result.stderr
    after = (fleet_dir / "models.yaml").read_text()
    assert "cold_start_s: {T4: 44.33}" in after
    assert "traffic: {requests_per_day: 400, seconds_per_request: 10}\n" in after
    assert len(after.splitlines()) == len(before.splitlines()) + 1


def test_nothing_written_below_both_thresholds(fleet_dir, tmp_path):
    log = tmp_path / "tiny.log"
    write(log, generate(requests_per_day=1, days=1))
    before = (fleet_dir / "models.yaml").read_bytes()
    result = run_cli(
        "observe", "--strategy", STRATEGY, "--from-logs", str(log), "--write", root=fleet_dir
    )
    assert result.exit_code == 0, result.text
    assert "too few samples to record" in result.stderr
    assert "observe: nothing measured enough to write" in result.stderr
    assert (fleet_dir / "models.yaml").read_bytes() == before
