"""`observe` (issue #24): the containers' records read back, the round trip from a known fleet
to recovered figures and arrivals, the Modal log reader at the SDK boundary, and --write."""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REPO, copy_fleet, run_cli
from observe_roundtrip import POLICY, generate, write
from test_spend import billing  # noqa: F401  (the fake billing report fixture)

from modalfleet.economics import observe as records
from modalfleet.economics.arrivals import read_trace, trace_horizon
from modalfleet.economics.policy_search import search_model
from modalfleet.economics.serving import serving_policy
from modalfleet.economics.simulate import simulate
from modalfleet.economics.traces import with_traces
from modalfleet.fleet.load import load_fleet
from modalfleet.platform import logs

MODEL, STRATEGY = "flux-schnell", "hybrid"


@pytest.fixture(scope="module")
def trip():
    return generate()  # 1,500 requests a day for 2 days: ~3,000 requests, ~1,400 containers


@pytest.fixture(scope="module")
def observed(trip, tmp_path_factory):
    """The fleet after `observe --from-logs ... --trace-dir traces --write` on the trip's log
    (once for the module: the tests that use it only read it)."""
    tmp_path = tmp_path_factory.mktemp("observed")
    fleet_dir = copy_fleet(tmp_path / "fleet")
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
    # read back from the written file: the T4 figures are measured, the L4 fallback's are not
    sources = stderr.splitlines()[-1]
    head = "observe: flux-schnell under hybrid is now simulated with "
    assert sources.startswith(head + "T4 3 s/request measured, cold start 39.85 s measured; L4 ")
    assert "measured" not in sources.split("; L4 ")[1]
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
    # the T4's cold start is read back as measured; its seconds per request are not
    sources = result.stderr.splitlines()[-1]
    assert sources.startswith("observe: flux-schnell under hybrid is now simulated with T4 ")
    assert ", cold start 44.33 s measured; L4 " in sources
    assert "s/request measured" not in sources
    after = (fleet_dir / "models.yaml").read_text()
    assert "cold_start_s: {T4: 44.33}" in after
    assert "traffic: {requests_per_day: 400, seconds_per_request: 10}\n" in after
    assert len(after.splitlines()) == len(before.splitlines()) + 1


def test_a_gpu_the_catalog_does_not_know_is_not_written(fleet_dir, tmp_path):
    log = tmp_path / "cpu.log"
    write(log, generate(requests_per_day=100, days=1, gpu="cpu"))  # a local run: no GPU
    before = (fleet_dir / "models.yaml").read_bytes()
    result = run_cli(
        "observe", "--strategy", STRATEGY, "--from-logs", str(log), "--write", root=fleet_dir
    )
    assert result.exit_code == 0, result.text
    assert "observe: flux-schnell ran on 'cpu', which gpus.yaml does not know: not recorded" in (
        result.stderr
    )
    assert (fleet_dir / "models.yaml").read_bytes() == before


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


# --- reading the records ----------------------------------------------------------------------

REQUEST = (
    '{"event": "modalfleet.request", "model": "flux-schnell", "strategy": "hybrid", "gpu": "T4", '
    '"container_id": "ta-1", "started_at": 1796000000.5, "finished_at": 1796000003.5, '
    '"status": 200}'
)
COLD = (
    '{"event": "modalfleet.cold_start", "model": "flux-schnell", "strategy": "hybrid", '
    '"gpu": "T4", "container_id": "ta-1", "container_started_at": 1795999960.0, '
    '"ready_at": 1796000000.0, "phases": {"start_to_enter_s": 10.0, "weights_read_s": 30.0}}'
)


def test_prefixes_ignored_and_other_lines_skipped():
    lines = [
        "2026-12-01T08:53:20.000000Z " + COLD,
        "plain text",
        "config {not json",
        '{"level": "info"}',
        '["a list"]',
        '{"event": "something.else", "model": 3}',
        "[stdout] " + REQUEST,
    ]
    found = records.parse_lines(lines, "app.log")
    assert [r.container_id for r in found.cold_starts] == ["ta-1"]
    [request] = found.requests
    assert (request.seconds, request.status, request.gpu) == (3.0, 200, "T4")
    [row] = records.summarize(found)
    assert row.cold_start_s_p50 == 40.0
    assert row.phases_p50 == (("start_to_enter_s", 10.0), ("weights_read_s", 30.0))
    assert row.cold_start_rate == 1.0  # it started as its container became ready


def cold_start_line(container: str, started: float, ready: float, phases: dict) -> str:
    return json.dumps(
        {
            "event": "modalfleet.cold_start",
            "model": "flux-dev",
            "strategy": "hybrid",
            "gpu": "L40S",
            "container_id": container,
            "container_started_at": started,
            "ready_at": ready,
            "phases": phases,
        }
    )


def test_a_container_restored_from_a_snapshot_counts_from_its_post_snapshot_hook(fleet_dir):
    """The runtime's record of a restored container starts at its post-snapshot hook and lists
    only the GPU phases: its cold start is that, and each phase's median is over the containers
    that ran it."""
    fresh = {"start_to_enter_s": 2.0, "weights_read_s": 20.0, "to_gpu_s": 4.0, "warm_up_s": 1.0}
    lines = [
        cold_start_line("ta-1", 1796000000.0, 1796000027.0, fresh),  # took the snapshot: 27 s
        cold_start_line("ta-2", 1796000100.0, 1796000105.0, {"to_gpu_s": 4.0, "warm_up_s": 1.0}),
        cold_start_line("ta-3", 1796000200.0, 1796000206.0, {"to_gpu_s": 5.0, "warm_up_s": 1.0}),
    ]
    found = records.parse_lines(lines, "app.log")
    assert [c.restored for c in found.cold_starts] == [False, True, True]
    [row] = records.summarize(found)
    assert (row.containers, row.restored) == (3, 2)
    assert (row.cold_start_s_p50, row.cold_start_s_p95) == (6.0, 27.0)
    assert row.phases_p50 == (
        ("start_to_enter_s", 2.0),
        ("weights_read_s", 20.0),
        ("to_gpu_s", 4.0),
        ("warm_up_s", 1.0),
    )
    log = fleet_dir / "restored.log"
    log.write_text("\n".join(lines) + "\n")
    result = run_cli("observe", "--strategy", STRATEGY, "--from-logs", str(log), root=fleet_dir)
    assert result.exit_code == 0, result.text
    assert (
        "  flux-dev on L40S: start_to_enter_s 2.00 s, weights_read_s 20.00 s, to_gpu_s 4.00 s, "
        "warm_up_s 1.00 s (2 of 3 containers restored from a memory snapshot: their cold start "
        "is counted from the post-snapshot hook, their phases are the GPU ones)\n"
    ) in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"status": 200', '"status": "ok"'), "status must be an HTTP status code, got 'ok'"),
        (('"gpu": "T4", ', ""), "gpu must be a non-empty string, got None"),
        (
            ('"started_at": 1796000000.5', '"started_at": true'),
            "started_at must be Unix epoch seconds (a number), got True",
        ),
        (
            ('"finished_at": 1796000003.5', '"finished_at": 1796000000.0'),
            "clock skew: finished_at 1796000000.0 is before started_at 1796000000.5",
        ),
        (('"status": 200}', '"status": 200'), "a modalfleet record that is not valid JSON"),
    ],
)
def test_a_bad_record_names_its_line(change, message):
    bad = "2026-12-01T08:53:23Z " + REQUEST.replace(*change)
    with pytest.raises(records.RecordError) as caught:
        records.parse_lines(["x", REQUEST, bad], "app.log")
    assert str(caught.value).startswith("app.log:3: ")
    assert str(caught.value).endswith(message)


def test_a_cold_start_that_ends_before_it_starts_is_clock_skew():
    bad = COLD.replace('"ready_at": 1796000000.0', '"ready_at": 1795999950.0')
    with pytest.raises(records.RecordError, match=r"^f:1: .*clock skew: ready_at 1795999950.0"):
        records.parse_lines([bad], "f")


def test_cli_bad_record_is_exit_1_naming_its_line(fleet_dir, tmp_path):
    log = tmp_path / "bad.log"
    log.write_text("hello\n" + REQUEST.replace('"status": 200', '"status": null') + "\n")
    result = run_cli("observe", "--strategy", STRATEGY, "--from-logs", str(log), root=fleet_dir)
    assert result.exit_code == 1
    assert result.stderr == (
        f"observe: {log}:2: modalfleet.request record: status must be an HTTP status code, "
        "got None\n"
    )


@pytest.mark.parametrize(
    ("strategy", "since", "message"),
    [
        ("baseline", None, "no modalfleet records of strategy 'baseline' from 2026-11-30T00:00"),
        (STRATEGY, "2026-12-01", "no modalfleet records of strategy 'hybrid' from 2026-12-01T00"),
        (STRATEGY, "yesterday", "--since 'yesterday' is not a duration like 7d nor an ISO date"),
    ],
)
def test_cli_no_records_in_the_period_is_exit_1(fleet_dir, tmp_path, strategy, since, message):
    log = tmp_path / "one.log"
    log.write_text("nothing here\n" + REQUEST + "\n")
    period = () if since is None else ("--since", since)
    result = run_cli(
        "observe", "--strategy", strategy, "--from-logs", str(log), *period, root=fleet_dir
    )
    assert result.exit_code == 1
    assert message in result.stderr


def test_period_from_a_duration_is_whole_days():
    from modalfleet.platform.observe import window_for

    now = datetime(2026, 12, 6, 21, 44, tzinfo=UTC)
    window = window_for("7d", None, now)
    assert window.label() == "2026-11-29T00:00:00Z to 2026-12-06T00:00:00Z"
    window = window_for("2d", "2026-12-03T12:00:00Z", now)
    assert window.label() == "2026-12-01T12:00:00Z to 2026-12-03T12:00:00Z"
    assert window_for(None, None, now) is None


# --- the SDK boundary -------------------------------------------------------------------------


def entry(at: datetime, message: str):
    from modal.types import LogEntry  # the SDK's own type, as App.logs.fetch yields

    return LogEntry(
        message=message, timestamp=at, source="stdout", object_id="ap-1", context_ids=["ta-1"]
    )


def request_line(started: datetime, container: str = "ta-1") -> str:
    return json.dumps(
        {
            "event": "modalfleet.request",
            "model": MODEL,
            "strategy": STRATEGY,
            "gpu": "L4",
            "container_id": container,
            "started_at": started.timestamp(),
            "finished_at": started.timestamp() + 2.0,
            "status": 200,
        }
    )


class RecordedLogs:
    """Log entries as Modal keeps them; fetch answers a page as the SDK does, both ends of the
    page included (its buckets are clamped to [since, until])."""

    def __init__(self, entries):
        self.entries, self.pages = entries, []

    def __call__(self, since, until):
        self.pages.append((since, until))
        return [e for e in self.entries if since <= e.timestamp <= until]


def test_log_reader_pages_by_day_and_reads_each_entry_once():
    since = datetime(2026, 12, 1, tzinfo=UTC)
    window = records.Window(since, since + timedelta(days=2))
    day = timedelta(days=1)
    stamps = [
        since - timedelta(seconds=5),  # before the period: not asked for
        since,  # the first instant: in
        since + day,  # on the page boundary: read once, not twice
        since + day + timedelta(hours=3),
        since + 2 * day - timedelta(seconds=10),  # started in, finished after the end: in
        since + 2 * day + timedelta(minutes=10),  # started after the end: out
    ]
    entries = [entry(at + timedelta(seconds=2), request_line(at)) for at in stamps]
    entries.append(entry(since + timedelta(hours=1), "Loading weights\nstill loading"))
    fetch = RecordedLogs(entries)
    now = since + 3 * day
    found = records.within(
        logs.records_from_entries(fetch, window, "modal app flux-schnell", now),
        window,
        STRATEGY,
    )
    assert fetch.pages == [
        (since, since + day),
        (since + day, since + 2 * day),
        (since + 2 * day, since + 2 * day + logs.LATE_S),
    ]
    assert [r.started_at for r in found.requests] == [at.timestamp() for at in stamps[1:5]]


def test_log_reader_names_the_line_of_a_bad_record():
    since = datetime(2026, 12, 1, tzinfo=UTC)
    window = records.Window(since, since + timedelta(days=1))
    bad = request_line(since).replace('"status": 200', '"status": 99')
    fetch = RecordedLogs([entry(since, "one\ntwo"), entry(since + timedelta(seconds=1), bad)])
    with pytest.raises(records.RecordError, match=r"^modal app x:3: .*got 99$"):
        logs.records_from_entries(fetch, window, "modal app x", since + timedelta(days=2))


def test_no_credentials_is_one_line_and_exit_1(fleet_dir, tmp_path, monkeypatch):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "none.toml"))
    result = run_cli("observe", "--strategy", STRATEGY, root=fleet_dir)
    assert result.exit_code == 1
    assert result.stderr == f"observe: {logs.NO_CREDENTIALS}\n"


class FakeApps:
    """modal.App.lookup at the SDK boundary: apps by name, each with its recorded entries."""

    def __init__(self, apps):
        self.apps = apps

    def lookup(self, name, environment_name=None):
        import modal.exception

        if name not in self.apps:
            raise modal.exception.NotFoundError(f"App '{name}' not found")
        fetch = RecordedLogs(self.apps[name])

        class Logs:
            def fetch(self, since, until, source, search_text):
                assert (source, search_text) == ("stdout", "modalfleet")
                return fetch(since, until)

        class App:
            logs = Logs()

        return App()


@pytest.fixture
def fake_modal(monkeypatch):
    import modal

    from modalfleet.platform import modal_backend

    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-secret-never-printed")
    monkeypatch.setattr(modal_backend, "bounded_connect", lambda: None)

    def install(apps):
        monkeypatch.setattr(modal.App, "lookup", FakeApps(apps).lookup)

    return install


def test_unknown_app_named_is_exit_1(fleet_dir, fake_modal):
    fake_modal({})
    result = run_cli(
        "observe", "--strategy", STRATEGY, "--model", MODEL, "--env", "prod", root=fleet_dir
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "observe: no app named 'flux-schnell' in environment 'prod': deploy it first "
        "(modalfleet deploy), or pass --env\n"
    )
    assert "as-secret" not in result.text


def test_app_with_no_records_in_the_period_is_exit_1(fleet_dir, fake_modal):
    old = datetime(2026, 1, 1, tzinfo=UTC)  # long before the last 7 days
    fake_modal({MODEL: [entry(old, request_line(old))]})
    result = run_cli("observe", "--strategy", STRATEGY, "--model", MODEL, root=fleet_dir)
    assert result.exit_code == 1
    assert "no modalfleet records of strategy 'hybrid' from " in result.stderr
    assert "in the Modal logs of flux-schnell" in result.stderr


def test_undeployed_models_are_skipped_when_none_is_named(fleet_dir, fake_modal):
    now = datetime.now(UTC)
    yesterday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=12)
    fake_modal({MODEL: [entry(yesterday, request_line(yesterday))]})
    result = run_cli("observe", "--strategy", STRATEGY, "--format", "json", root=fleet_dir)
    assert result.exit_code == 0, result.text
    assert "observe: lora: not deployed (no app 'lora'); skipped" in result.stderr
    [row] = json.loads(result.output)["models"]
    assert (row["model"], row["gpu"], row["requests"], row["containers"]) == (MODEL, "L4", 1, 0)


# --- replaying the traces -----------------------------------------------------------------------


def test_cost_plan_optimize_replay_the_traces(observed):
    fleet_dir, _, _ = observed
    traces = str(fleet_dir / "traces")
    declared = json.loads(
        run_cli("cost", "--strategy", STRATEGY, "--format", "json", root=fleet_dir).output
    )
    result = run_cli(
        "cost", "--strategy", STRATEGY, "--format", "json", "--traces", traces, root=fleet_dir
    )
    assert result.exit_code == 0, result.text
    assert f"replaying 2 day(s) of observed arrivals: {MODEL} ({traces}/hybrid/{MODEL}.txt)" in (
        result.stderr
    )
    replayed = json.loads(result.output)

    def sim(data, name):
        return next(m for m in data["simulated"]["models"] if m["model"] == name)

    # The observed arrivals under the deployed policy with the measured figures, for 2 days.
    fleet = load_fleet(fleet_dir).fleet
    policy = serving_policy(fleet, MODEL, STRATEGY).policy
    expected = simulate(
        read_trace(fleet_dir / "traces" / STRATEGY / f"{MODEL}.txt"), policy, 2 * 86400
    )
    per_day = expected.billed_seconds / 2  # cost reports a day of the simulated period
    assert sim(replayed, MODEL)["billed_seconds"] == round(per_day, 3)
    assert (replayed["simulated"]["days_simulated"], declared["simulated"]["days_simulated"]) == (
        2,
        30,
    )
    # A model without a trace keeps its declared traffic (its bill per day barely moves).
    assert sim(replayed, "lora")["billed_seconds"] != sim(declared, "lora")["billed_seconds"]
    one = run_cli(
        "simulate", "--model", MODEL, "--strategy", STRATEGY, "--format", "json",
        "--trace", f"{traces}/{STRATEGY}/{MODEL}.txt", root=fleet_dir,
    )  # fmt: skip
    assert one.exit_code == 0, one.text
    simulated = json.loads(one.output)
    assert (simulated["requests"], simulated["horizon_s"]) == (3078, 2 * 86400)
    assert simulated["billed_seconds"] == round(expected.billed_seconds, 3)
    plan = run_cli(
        "plan",
        "--strategy",
        STRATEGY,
        "--from-strategy",
        "baseline",
        "--traces",
        traces,
        root=fleet_dir,
    )
    assert plan.exit_code == 0, plan.text
    assert plan.stderr.count("replaying 2 day(s) of observed arrivals") == 1
    optimize = run_cli("optimize", "--traces", traces, "--format", "json", root=fleet_dir)
    assert optimize.exit_code == 0, optimize.text
    data = json.loads(optimize.output)["policies"]
    assert data["days"] == 2
    chosen = next(m for m in data["models"] if m["model"] == MODEL)["chosen"]
    # As search_model chose on the true arrivals (test_optimize_chooses_the_same_policy...).
    assert (chosen["gpu"], chosen["scaledown_window_s"], chosen["min_containers"]) == ("T4", 15, 1)


# --- spend on the observed arrivals ---------------------------------------------------------


def test_spend_simulates_on_the_observed_arrivals(billing, tmp_path):  # noqa: F811
    from decimal import Decimal

    from conftest import REPO
    from test_spend import WEEK

    from modalfleet.economics.arrivals import poisson
    from modalfleet.economics.fleet_simulation import FleetSimulator

    billing()
    traces = tmp_path / "traces" / STRATEGY
    traces.mkdir(parents=True)
    week = poisson(700, 7 * 86400, seed=3)  # the week's observed traffic: busier than declared
    (traces / f"{MODEL}.txt").write_text("\n".join(f"{t:.3f}" for t in week) + "\n")
    result = run_cli(
        "spend", *WEEK, "--format", "json", "--traces", str(tmp_path / "traces"), root=REPO
    )
    assert result.exit_code == 0, result.text
    flux = json.loads(result.output)["models"][0]
    fleet = load_fleet(REPO).fleet
    traced = with_traces(fleet, tmp_path / "traces")
    assert traced.days == 7
    expected = FleetSimulator(traced.fleet, 7).model(STRATEGY, MODEL).cost_per_day * 7
    assert flux["simulated"] == float(round(expected, 6))
    error = (Decimal("5.6") - expected) / expected * 100  # the week billed $5.60
    assert flux["simulated_delta_pct"] == round(float(error), 2)
    text = run_cli("spend", *WEEK, "--traces", str(tmp_path / "traces"), root=REPO)
    assert f"note: simulated: replaying 7 day(s) of observed arrivals: {MODEL} (" in text.output


# --- the how-to shows real output -----------------------------------------------------------


def test_the_how_to_shows_what_observe_prints_on_the_shipped_log(fleet_dir):
    from conftest import REPO

    page = (REPO / "docs/how-to/tune-on-traffic.md").read_text()
    command = "$ python cli.py observe --strategy hybrid --from-logs docs/how-to/flux-schnell.log\n"
    shown = page.split(command, 1)[1].split("```", 1)[0]
    log = str(REPO / "docs/how-to/flux-schnell.log")
    result = run_cli("observe", "--strategy", STRATEGY, "--from-logs", log, root=fleet_dir)
    assert result.exit_code == 0, result.text
    assert result.output == shown
    traces = fleet_dir / "traces"
    result = run_cli(
        "observe",
        "--strategy",
        STRATEGY,
        "--from-logs",
        log,
        "--trace-dir",
        str(traces),
        "--write",
        root=fleet_dir,
    )
    assert result.exit_code == 0, result.text
    for line in result.stderr.splitlines()[1:]:  # the paths differ: traces/ is relative there
        assert line in page
    written = (fleet_dir / "models.yaml").read_text().splitlines()
    for line in page.split("```diff\n", 1)[1].split("```", 1)[0].splitlines():
        if line.startswith("+"):
            assert line[1:] in written


def test_write_in_a_block_traffic_mapping_comments_the_key_it_changes():
    text = (
        "version: 1\n"
        "models:\n"
        "  m:\n"
        "    # how much it is asked\n"
        "    traffic:\n"
        "      requests_per_day: 10\n"
        "      seconds_per_request: 4  # the document's figure\n"
        "    gpu: {hybrid: T4}\n"
    )
    window = records.Window(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))
    after = records.with_measured(text, [records.Measured("m", {"T4": (2.5, 40)}, {})], window)
    assert after == (
        "version: 1\n"
        "models:\n"
        "  m:\n"
        "    # how much it is asked\n"
        "    traffic:\n"
        "      requests_per_day: 10\n"
        "      seconds_per_request:  # the document's figure; measured by observe: T4 p50 of 40 "
        "requests, 2026-12-01 to 2026-12-07\n"
        "        default: 4\n"
        "        T4: 2.5\n"
        "    gpu: {hybrid: T4}\n"
    )


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_log_that_is_not_a_regular_file_is_refused_at_once(fleet_dir, tmp_path, kind):
    import os
    import subprocess
    import sys

    log = tmp_path / "fleet.log"
    if kind == "fifo":
        os.mkfifo(log)  # a read would wait for a writer forever
    else:
        log.symlink_to("/dev/zero")  # a read would never end
    # A real process with a timeout: a regression hangs here instead of the whole suite.
    done = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "observe", "--root", str(fleet_dir)]
        + ["--strategy", STRATEGY, "--from-logs", str(log)],
        cwd=fleet_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    what = "a FIFO (named pipe)" if kind == "fifo" else "a character device"
    assert done.returncode == 1
    assert done.stderr == (
        f"observe: {log} is {what}, not a regular file: --from-logs reads saved log files\n"
    )
