"""bench: the measurement, the verdicts per seed criterion, the recommendation, the CLI and --write.

Exact figures come from a scripted executor driving a fake clock (bench.run_bench takes the
clock). The CLI runs against a fake of the Modal SDK at its boundary (modal.Cls.from_name), and
--local end to end on the generated Flux Schnell module with tiny random weights.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import time
from decimal import Decimal

import pytest
from conftest import REPO, SILENT_CONNECT_TIMEOUT_S, run_cli, run_subprocess

from modalfleet.economics.cost import Seconds, seconds_on
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.yamledit import EditError, with_measured_seconds, write_measured_seconds
from modalfleet.platform import bench
from modalfleet.platform.bench import Criteria, build_requests, evaluate, percentile, run_bench


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedExecutor:
    """Each GPU answers with scripted latencies in call order; an Exception entry is a failure."""

    def __init__(self, clock: FakeClock, script: dict[str, list]):
        self.clock = clock
        self.script = {gpu: list(entries) for gpu, entries in script.items()}
        self.requests: dict[str, list[dict]] = {}

    def open(self, gpu):
        entries = self.script[gpu]
        self.requests[gpu] = []

        def send(request):
            self.requests[gpu].append(request)
            entry = entries.pop(0)
            if isinstance(entry, BaseException):
                if isinstance(entry, KeyboardInterrupt):
                    raise entry
                self.clock.now += 0.5
                raise entry
            self.clock.now += entry
            return b"\x89PNG..."

        return send


L40S_WARM = [1.8, 2.0, 2.0, 2.2, 1.9, 2.1, 2.0, 2.0, 2.0, 3.0]  # p50 2.0, p95 2.64, mean 2.1


def script(a10_warm: float = 2.3, t4_warm: float = 4.0) -> dict[str, list]:
    # 1 cold call, 1 warm-up, 10 measured requests per GPU.
    return {
        "T4": [40.0, 4.5, *[t4_warm] * 4, RuntimeError("CUDA out of memory"), *[t4_warm] * 5],
        "A10": [35.0, 2.6, *[a10_warm] * 10],
        "L40S": [30.0, 2.2, *L40S_WARM],
    }


def measure(fleet, model="flux-schnell", **kwargs):
    clock = FakeClock()
    executor = ScriptedExecutor(clock, script(**kwargs))
    requests = build_requests(fleet.models[model].kind, 10)
    runs, interrupted = run_bench(executor, ["T4", "A10", "L40S"], requests, warmup=1, clock=clock)
    return executor, runs, interrupted


def test_percentile_interpolates_between_ranks():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(range(1, 21), 95) == pytest.approx(19.05)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_requests_are_fixed_prompts_and_seeds_and_keep_model_defaults():
    requests = build_requests("text-to-image", 7, {"steps": 2})
    assert [r["seed"] for r in requests] == [1000, 1001, 1002, 1003, 1004, 1005, 1006]
    assert requests[0]["prompt"] == requests[5]["prompt"] == bench.PROMPTS["text-to-image"][0]
    assert requests[1]["prompt"] == bench.PROMPTS["text-to-image"][1]
    # Only prompt, seed and the explicit override: the handler's defaults are the model's params.
    assert set(requests[0]) == {"prompt", "seed", "steps"}
    assert build_requests("text-to-image", 3) == build_requests("text-to-image", 3)


def test_kinds_with_an_input_file_need_one():
    with pytest.raises(bench.BenchError, match="needs an input file"):
        build_requests("instantid", 2)
    face = build_requests("instantid", 1, input_bytes=b"png")[0]
    assert face["face_image"] == b"png"
    video = build_requests("video-upscale", 1, input_bytes=b"mp4", input_name="clip.mp4")[0]
    assert video == {"seed": 1000, "media": b"mp4", "filename": "clip.mp4"}


def test_cold_start_is_kept_apart_from_warm_latency(fleet):
    executor, runs, interrupted = measure(fleet)
    assert not interrupted
    assert [run.gpu for run in runs] == ["T4", "A10", "L40S"]
    l40s = bench.figures(runs[2], Decimal("0.000542"))
    assert l40s.cold_start_s == pytest.approx(30.0)
    assert l40s.p50_s == pytest.approx(2.0)
    assert l40s.p95_s == pytest.approx(2.64)
    assert l40s.max_s == pytest.approx(3.0)
    assert l40s.mean_s == pytest.approx(2.1)
    assert (l40s.sent, l40s.failed, l40s.success_rate) == (12, 0, 1.0)
    # 1 cold + 1 warm-up + 10 measured, the cold and warm-up ones reuse the first requests.
    assert len(executor.requests["L40S"]) == 12
    assert executor.requests["L40S"][0]["seed"] == 1000
    assert [r["seed"] for r in executor.requests["L40S"][2:]] == list(range(1000, 1010))


def test_verdicts_and_recommendation(fleet):
    _, runs, _ = measure(fleet)
    report = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs, "L40S", 10, 1)
    by_gpu = {r.figures.gpu: r for r in report.results}
    t4, a10, l40s = by_gpu["T4"], by_gpu["A10"], by_gpu["L40S"]

    # $/request = mean warm latency x $/s.
    assert l40s.figures.usd_per_request == Decimal("0.000542") * Decimal("2.1")  # $0.0011382
    assert a10.figures.usd_per_request == Decimal("0.000306") * Decimal("2.3")  # $0.0007038
    assert t4.figures.usd_per_request == Decimal("0.000164") * Decimal("4")  # $0.000656

    # A10: p50 +15% (limit +20%), 12/12 ok, 38.2% cheaper, 2.3 s < 5 s.
    assert [a10.verdict(c).status for c in bench.CRITERIA_ORDER] == ["pass", "pass", "pass", "pass"]
    assert a10.verdict("latency").detail == "p50 2.30 s vs L40S 2.00 s (+15.0%; limit +20%)"
    assert a10.verdict("saving").detail == (
        "$0.0007038 vs L40S $0.0011382 per request (38.2% saved; needs > 30%)"
    )
    # T4: twice the latency, 11/12 ok (one OOM), 42.4% cheaper, 4 s < 5 s.
    assert [t4.verdict(c).status for c in bench.CRITERIA_ORDER] == ["fail", "fail", "pass", "pass"]
    assert t4.figures.success_rate == pytest.approx(11 / 12)
    assert t4.verdict("success").detail == "11/12 ok (91.7%; needs > 95%)"
    assert t4.errors == ("1x RuntimeError: CUDA out of memory",)
    # The baseline never saves against itself, so it is never the recommendation.
    assert l40s.verdict("latency").status == "pass"
    assert l40s.verdict("saving").status == "fail"

    assert report.recommended == "A10"
    assert report.reason == "cheapest GPU that passes every criterion (38.2% saved against L40S)"
    assert bench.measured_seconds(report) == pytest.approx({"T4": 4.0, "A10": 2.3, "L40S": 2.1})
    # Cold start = first request - warm mean: 40 - 4.0, 35 - 2.3, 30 - 2.1.
    assert bench.measured_cold_starts(report) == pytest.approx(
        {"T4": 36.0, "A10": 32.7, "L40S": 27.9}
    )


def test_a_first_request_that_was_not_cold_records_no_cold_start(fleet):
    clock = FakeClock()
    # T4's first request is 0.9 s slower than its warm mean of 4.0 (under the 1 s floor: its
    # container was already up); A10's is 1.0 s slower, the floor itself.
    executor = ScriptedExecutor(clock, {"T4": [4.9, 4.0, 4.0], "A10": [3.3, 2.3, 2.3]})
    requests = build_requests("text-to-image", 2)
    runs, _ = run_bench(executor, ["T4", "A10"], requests, warmup=0, clock=clock)
    report = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs, "A10", 2, 0)
    assert bench.measured_cold_starts(report) == pytest.approx({"A10": 1.0})


def test_no_gpu_passes(fleet):
    _, runs, _ = measure(fleet, a10_warm=2.5)  # +25% against the baseline
    report = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs, "L40S", 10, 1)
    a10 = next(r for r in report.results if r.figures.gpu == "A10")
    assert a10.verdict("latency").status == "fail"
    assert a10.verdict("latency").detail == "p50 2.50 s vs L40S 2.00 s (+25.0%; limit +20%)"
    assert report.recommended is None
    assert report.reason == "no GPU passes every criterion: stay on the baseline L40S"


def test_latency_target_of_the_model(fleet):
    # Flux Schnell's target is < 5 s: a T4 at 6 s fails it; InstantID's 30 s is met.
    _, runs, _ = measure(fleet, t4_warm=6.0)
    schnell = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs, "L40S", 10, 1)
    t4 = next(r for r in schnell.results if r.figures.gpu == "T4")
    assert t4.verdict("target").status == "fail"
    assert t4.verdict("target").detail == "p50 6.00 s; target < 5 s"
    instantid = evaluate(fleet.models["instantid"], fleet.catalog, runs, "L40S", 10, 1)
    assert (
        next(r for r in instantid.results if r.figures.gpu == "T4").verdict("target").status
        == "pass"
    )
    untargeted = dataclasses.replace(fleet.models["flux-schnell"], latency_target_s=None)
    report = evaluate(untargeted, fleet.catalog, runs, "L40S", 10, 1)
    assert {r.verdict("target").status for r in report.results} == {"n/a"}


def test_success_must_be_strictly_above_95_percent(fleet):
    # 20 calls with one failure is exactly 95%: the seed asks for more than that.
    clock = FakeClock()
    entries = {"L40S": [2.0] * 19 + [RuntimeError("boom")], "A10": [2.0] * 20}
    runs, _ = run_bench(
        ScriptedExecutor(clock, entries),
        ["L40S", "A10"],
        build_requests("lora", 19),
        warmup=0,
        clock=clock,
    )
    report = evaluate(fleet.models["lora"], fleet.catalog, runs, "L40S", 19, 0)
    l40s = report.results[0]
    assert l40s.figures.success_rate == pytest.approx(0.95)
    assert l40s.verdict("success").status == "fail"
    assert report.results[1].verdict("success").detail == "20/20 ok (100.0%; needs > 95%)"


def test_custom_criteria_and_unmeasured_baseline(fleet):
    _, runs, _ = measure(fleet)
    loose = evaluate(
        fleet.models["flux-schnell"],
        fleet.catalog,
        runs,
        "L40S",
        10,
        1,
        criteria=Criteria(latency_margin=1.5, min_success=0.9),
    )
    assert loose.recommended == "T4"  # now T4's +100% and 91.7% pass, and it is the cheapest
    # A baseline that was not measured cannot be compared with: nothing passes.
    no_baseline = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs[:2], "L40S", 10, 1)
    assert (
        no_baseline.results[0].verdict("latency").detail == "baseline L40S has no measured latency"
    )
    assert no_baseline.recommended is None


def test_interrupt_keeps_what_was_measured(fleet):
    clock = FakeClock()
    entries = {"T4": [40.0, 4.0, 4.0, 4.0, KeyboardInterrupt()], "L40S": [1.0] * 10}
    runs, interrupted = run_bench(
        ScriptedExecutor(clock, entries),
        ["T4", "L40S"],
        build_requests("text-to-image", 5),
        warmup=1,
        clock=clock,
    )
    assert interrupted
    assert [run.gpu for run in runs] == ["T4"]
    assert [call.seconds for call in runs[0].measured] == [4.0, 4.0]
    report = evaluate(
        fleet.models["flux-schnell"], fleet.catalog, runs, "L40S", 5, 1, interrupted=True
    )
    assert report.recommended is None
    assert report.results[0].figures.complete is False
    text = bench.format_text(report)
    assert "T4 (partial)" in text
    assert "interrupted: these are the figures measured before Ctrl-C" in text


def test_concurrency_keeps_every_request(fleet):
    import threading
    import time

    in_flight, peak, lock = 0, 0, threading.Lock()

    class Slow:
        def open(self, gpu):
            def send(request):
                nonlocal in_flight, peak
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                time.sleep(0.02)
                with lock:
                    in_flight -= 1
                return b"ok"

            return send

    runs, _ = run_bench(
        Slow(), ["A10"], build_requests("text-to-image", 8), warmup=0, concurrency=4
    )
    assert len(runs[0].measured) == 8 and all(call.ok for call in runs[0].measured)
    assert peak == 4


def test_formats(fleet):
    _, runs, _ = measure(fleet)
    report = evaluate(fleet.models["flux-schnell"], fleet.catalog, runs, "L40S", 10, 1)
    text = bench.format_text(report)
    lines = text.splitlines()
    assert (
        lines[0]
        == "bench flux-schnell on Modal: 1 cold + 1 warm-up + 10 measured requests per GPU, concurrency 1, baseline L40S"
    )
    assert re.search(
        r"^A10 +35\.00 +2\.30 +2\.30 +2\.30 +100\.0% +\$0\.0007038 +pass +pass +pass +pass$",
        text,
        re.M,
    )
    assert re.search(
        r"^L40S \(baseline\) +30\.00 +2\.00 +2\.64 +3\.00 +100\.0% +\$0\.0011382 +pass +pass +fail +pass$",
        text,
        re.M,
    )
    assert (
        lines[-1]
        == "recommended: A10: cheapest GPU that passes every criterion (38.2% saved against L40S)"
    )
    markdown = bench.format_markdown(report)
    assert (
        "| A10 | 35.00 | 2.30 | 2.30 | 2.30 | 100.0% | $0.0007038 | pass | pass | pass | pass |"
        in markdown
    )
    data = bench.to_dict(report)
    t4 = data["gpus"][0]
    assert (t4["gpu"], t4["p50_s"], t4["sent"], t4["failed"], t4["success_rate"]) == (
        "T4",
        4.0,
        12,
        1,
        0.9167,
    )
    assert t4["usd_per_request"] == 0.000656
    assert t4["verdicts"]["success"]["status"] == "fail"
    assert data["recommended"] == "A10"


# --- --write: the models.yaml round trip ------------------------------------------------------


def test_write_changes_only_the_traffic_line():
    before = (REPO / "models.yaml").read_text()
    after = with_measured_seconds(before, "flux-schnell", {"T4": 3.2137, "L40S": 1.8})
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert diff == [
        "-    traffic: {requests_per_day: 400, seconds_per_request: 10}",
        "+    traffic: {requests_per_day: 400, seconds_per_request: {default: 10, T4: 3.21, L40S: 1.8}}",
    ]
    # A second measurement updates in place and appends new GPUs; comments and order survive.
    again = with_measured_seconds(after, "flux-schnell", {"A10": 2.5, "T4": 3.0})
    assert "seconds_per_request: {default: 10, T4: 3.0, L40S: 1.8, A10: 2.5}}" in again
    assert [line for line in again.splitlines() if line.lstrip().startswith("#")] == [
        line for line in before.splitlines() if line.lstrip().startswith("#")
    ]


def test_write_adds_cold_start_s_after_traffic_and_updates_it_in_place():
    before = (REPO / "models.yaml").read_text()
    after = with_measured_seconds(before, "flux-dev", {"L40S": 9.5}, {"L40S": 44.567})
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert diff == [
        "-    traffic: {requests_per_day: 300, seconds_per_request: 10}",
        "+    traffic: {requests_per_day: 300, seconds_per_request: {default: 10, L40S: 9.5}}",
        "+    cold_start_s: {L40S: 44.57}",
    ]
    again = with_measured_seconds(after, "flux-dev", {}, {"A10G": 38, "L40S": 40.1})
    assert again == after.replace(
        "cold_start_s: {L40S: 44.57}", "cold_start_s: {L40S: 40.1, A10G: 38.0}"
    )
    # A flat cold_start_s is kept as the default for the GPUs not measured.
    flat = after.replace("cold_start_s: {L40S: 44.57}", "cold_start_s: 50")
    assert "cold_start_s: {default: 50, T4: 60.0}" in with_measured_seconds(
        flat, "flux-dev", {}, {"T4": 60}
    )


def test_write_keeps_a_block_layout_and_its_indentation():
    before = (
        "version: 1\n"
        "models:\n"
        "    # the one we measure\n"
        "    m:\n"
        "        traffic:\n"
        "            requests_per_day: 10   # per day\n"
        "            seconds_per_request: 7.5\n"
        "        gpu:\n"
        "        - T4\n"
        "        - A10\n"
    )
    after = with_measured_seconds(before, "m", {"T4": 1.234})
    assert after == before.replace(
        "            seconds_per_request: 7.5\n",
        "            seconds_per_request:\n                default: 7.5\n                T4: 1.23\n",
    )


def test_written_file_loads_with_measured_seconds(fleet_dir):
    write_measured_seconds(fleet_dir / "models.yaml", "flux-schnell", {"T4": 3.2, "L40S": 1.8})
    loaded = load_fleet(fleet_dir)
    assert loaded.ok, loaded.problems
    model, catalog = loaded.fleet.models["flux-schnell"], loaded.fleet.catalog
    assert seconds_on(model, "T4", catalog) == Seconds(Decimal("3.2"), "measured")
    assert seconds_on(model, "A10", catalog, "flat") == Seconds(Decimal("10"), "flat")
    # Unmeasured GPUs get the compute speed model's estimate by default.
    assert seconds_on(model, "A10", catalog).source == "estimate"
    assert not list(fleet_dir.glob(".models.yaml.*"))  # no temporary file left behind


def test_write_errors():
    with pytest.raises(EditError, match="has no model 'nope'"):
        with_measured_seconds(
            "version: 1\nmodels:\n  a:\n    traffic: {seconds_per_request: 1}\n", "nope", {"T4": 1}
        )
    with pytest.raises(EditError, match="not valid YAML"):
        with_measured_seconds("models: [\n", "a", {"T4": 1})


# --- the CLI against a fake Modal SDK -------------------------------------------------------


class FakeCls:
    """What modal.Cls.from_name returns, with scripted outcomes per GPU (None = success)."""

    calls: list[tuple[str, dict]]

    def __init__(
        self,
        failures: dict[str, set[int]] | None = None,
        missing: Exception | None = None,
        interrupt_at: int | None = None,
        cold_s: dict[str, float] | None = None,
    ):
        self.cold_s = cold_s or {}  # GPU -> seconds its first request sleeps (a container start)
        self.failures = failures or {}
        self.missing = missing
        self.interrupt_at = interrupt_at
        self.calls = []
        self.looked_up: tuple = ()
        self.hellos = 0

    def hello(self):
        """Stands for modal_backend.bounded_connect: the bounded hello before the lookup."""
        self.hellos += 1

    def hydrate(self):
        if self.missing:
            raise self.missing
        return self

    def with_options(self, gpu=None, **_):
        fake = self

        class Variant:
            def __call__(self):
                return Instance()

        class Method:
            def remote(self, **request):
                index = sum(1 for g, _ in fake.calls if g == gpu)
                fake.calls.append((gpu, request))
                if fake.interrupt_at is not None and len(fake.calls) == fake.interrupt_at:
                    raise KeyboardInterrupt
                if index in fake.failures.get(gpu, set()):
                    raise RuntimeError("container crashed")
                if index == 0 and gpu in fake.cold_s:
                    time.sleep(fake.cold_s[gpu])
                return b"\x89PNG fake"

        class Instance:
            generate = Method()

        return Variant()


@pytest.fixture
def fake_modal(monkeypatch):
    import modal

    from modalfleet.platform import modal_backend

    holder = {}

    def install(**kwargs):
        fake = FakeCls(**kwargs)

        def from_name(app_name, name, environment_name=None, **_):
            fake.looked_up = (app_name, name, environment_name)
            return fake

        monkeypatch.setattr(modal.Cls, "from_name", from_name)
        monkeypatch.setattr(modal_backend, "bounded_connect", fake.hello)
        holder["fake"] = fake
        return fake

    return install


def test_cli_bench_on_modal_json(fake_modal, fleet_dir):
    fake = fake_modal(failures={"T4": {3}})
    result = run_cli(
        *"bench --model flux-schnell --gpus t4,A10G --requests 5 --warmup 1 --format json --env staging".split(),
        root=fleet_dir,
    )
    assert result.exit_code == 0, result.text
    assert fake.looked_up == ("flux-schnell", "Model", "staging")
    assert fake.hellos == 1  # the bounded hello, once, before the lookup
    data = json.loads(result.output)
    # GPU names normalised through the catalog; the baseline L40S added for the comparison.
    assert [g["gpu"] for g in data["gpus"]] == ["T4", "A10", "L40S"]
    assert "measuring the baseline L40S too" in result.stderr
    t4 = data["gpus"][0]
    assert (t4["sent"], t4["failed"], t4["success_rate"]) == (7, 1, 0.8571)
    assert t4["verdicts"]["success"]["status"] == "fail"
    assert t4["errors"] == ["1x RuntimeError: container crashed"]
    assert data["gpus"][1]["failed"] == 0 and data["gpus"][1]["usd_per_second"] == 0.000306
    # Requests: fixed prompts, seeds from 1000, nothing else (the handler's defaults apply).
    assert fake.calls[0] == ("T4", {"seed": 1000, "prompt": bench.PROMPTS["text-to-image"][0]})
    assert len(fake.calls) == 21


def test_cli_bench_write_records_measured_seconds(fake_modal, fleet_dir):
    fake_modal()
    before = (fleet_dir / "models.yaml").read_text()
    result = run_cli(
        *"bench --model lora --gpus T4,L40S --requests 3 --warmup 0 --write".split(), root=fleet_dir
    )
    assert result.exit_code == 0, result.text
    after = (fleet_dir / "models.yaml").read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1
    assert changed[0][0] == "    traffic: {requests_per_day: 100, seconds_per_request: 10}"
    assert re.fullmatch(
        r"    traffic: \{requests_per_day: 100, seconds_per_request: \{default: 10, T4: \d+\.\d+, L40S: \d+\.\d+\}\}",
        changed[0][1],
    )
    assert "wrote models.yaml lora.traffic.seconds_per_request: T4 " in result.stderr
    # Instant fake answers: no first request was slower, so no cold start is written.
    assert "no cold start recorded for T4, L40S" in result.stderr
    assert run_cli("validate", root=fleet_dir).exit_code == 0


def test_cli_bench_write_records_the_cold_start_after_the_traffic_line(fake_modal, fleet_dir):
    # T4's first request sleeps 1.2 s (a container start); L40S's container was already up.
    fake_modal(cold_s={"T4": 1.2})
    before = (fleet_dir / "models.yaml").read_text()
    result = run_cli(
        *"bench --model lora --gpus T4 --baseline-gpu L40S --requests 2 --warmup 0 --write".split(),
        root=fleet_dir,
    )
    assert result.exit_code == 0, result.text
    after = (fleet_dir / "models.yaml").read_text()
    added = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] == "+" and not line.startswith("+++")
    ]
    assert added[0].startswith("+    traffic: {requests_per_day: 100, seconds_per_request: {")
    assert re.fullmatch(r"\+    cold_start_s: \{T4: 1\.2\d?\}", added[1]), added
    assert len(added) == 2
    assert "wrote models.yaml lora.cold_start_s: T4 1.2" in result.stderr
    assert "no cold start recorded for L40S" in result.stderr
    loaded = load_fleet(fleet_dir)
    assert loaded.ok, loaded.problems
    model = loaded.fleet.models["lora"]
    assert 1.2 <= model.cold_start_by_gpu["T4"] < 1.3 and model.cold_start_s is None


def test_cli_bench_errors(fake_modal, fleet_dir):
    import modal.exception

    result = run_cli("bench", "--model", "flux-schnell", "--local", "--write", root=fleet_dir)
    assert result.exit_code == 2 and "never written" in result.stderr
    result = run_cli("bench", "--model", "nope", root=fleet_dir)
    assert result.exit_code == 2 and "unknown model(s) 'nope'" in result.stderr
    result = run_cli("bench", "--model", "flux-schnell", "--gpus", "T4,X99", root=fleet_dir)
    assert result.exit_code == 2 and "unknown GPU 'X99' in --gpus" in result.stderr
    result = run_cli("bench", "--model", "instantid", root=fleet_dir)
    assert result.exit_code == 1 and "needs an input file: pass --input PATH" in result.stderr

    fake_modal(missing=modal.exception.NotFoundError("Lookup failed for Cls 'Model'"))
    result = run_cli("bench", "--model", "flux-schnell", root=fleet_dir)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "bench: app 'flux-schnell' has no deployed class 'Model': deploy it first (modalfleet deploy)"
    )
    fake_modal(missing=modal.exception.AuthError("Token missing. Could not authenticate client."))
    result = run_cli("bench", "--model", "flux-schnell", root=fleet_dir)
    assert result.exit_code == 1 and "no Modal credentials" in result.stderr
    assert "Traceback" not in result.text


def test_cli_bench_every_request_failing_exits_1(fake_modal, fleet_dir):
    fake_modal(failures={gpu: set(range(10)) for gpu in ("T4", "L40S")})
    before = (fleet_dir / "models.yaml").read_text()
    result = run_cli(
        *"bench --model lora --gpus T4,L40S --requests 2 --warmup 0 --write".split(), root=fleet_dir
    )
    assert result.exit_code == 1
    assert "every request failed" in result.stderr
    assert (
        "recommended: none: no GPU passes every criterion: stay on the baseline L40S"
        in result.output
    )
    assert (fleet_dir / "models.yaml").read_text() == before


def test_cli_bench_ctrl_c_prints_what_was_measured(fake_modal, fleet_dir):
    fake_modal(interrupt_at=6)  # T4: cold, 1 warm-up, 3 measured, then Ctrl-C
    before = (fleet_dir / "models.yaml").read_text()
    result = run_cli(
        *"bench --model lora --gpus T4,L40S --requests 5 --warmup 1 --write".split(), root=fleet_dir
    )
    assert result.exit_code == 130
    assert re.search(r"^T4 \(partial\) +\d+\.\d\d", result.output, re.M)
    assert "interrupted: these are the figures measured before Ctrl-C" in result.output
    assert "nothing written to models.yaml" in result.stderr
    assert (fleet_dir / "models.yaml").read_text() == before


# --- --local end to end on tiny weights ----------------------------------------------------


@pytest.mark.runtime
def test_cli_bench_local_runs_the_generated_module_on_tiny_weights(
    tmp_path, monkeypatch, fleet_dir
):
    module = REPO / "generated" / "hybrid" / "flux_schnell.py"
    assert module.is_file(), "render the bundled fleet first"
    from modalfleet.platform.tiny_weights import build_flux

    build_flux(tmp_path / "weights" / "pipeline", dev=False)
    monkeypatch.setenv("MODALFLEET_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = (fleet_dir / "models.yaml").read_text()
    args = "bench --model flux-schnell --local --strategy hybrid --requests 3 --warmup 1".split()
    args += (
        "--param width=32 --param height=32 --param steps=2 --param max_sequence_length=16".split()
    )
    result = run_cli(*args, "--format", "json", root=fleet_dir)
    assert result.exit_code == 0, result.text
    data = json.loads(result.output)
    assert data["local"] is True
    [local] = data["gpus"]
    assert local["gpu"] == "local"
    assert (local["sent"], local["failed"], local["success_rate"]) == (5, 0, 1.0)
    assert local["cold_start_s"] > 0 and 0 < local["p50_s"] <= local["p95_s"] <= local["max_s"]
    assert local["usd_per_request"] is None  # no GPU price applies to this machine
    assert local["verdicts"]["latency"]["status"] == "n/a"
    assert local["verdicts"]["success"]["status"] == "pass"
    assert local["verdicts"]["target"]["status"] == "pass"  # tiny weights: far under 5 s
    assert data["recommended"] is None
    assert data["reason"] == "local run: figures come from this machine, not from a GPU"
    assert (fleet_dir / "models.yaml").read_text() == before

    text = run_cli(*args, "--requests", "1", "--warmup", "0", root=fleet_dir)  # the last flag wins
    assert text.exit_code == 0, text.text
    assert "locally, in-process (figures labelled local: this machine, not a GPU)" in text.output
    assert re.search(
        r"^local +\d+\.\d\d +\d+\.\d\d .* 100\.0% +- +n/a +pass +n/a +pass$", text.output, re.M
    )


def test_cli_bench_against_a_server_that_never_answers_fails_in_bounded_time(
    silent_modal_env, fleet_dir
):
    # It waited ~160 s for the SDK's own retries (and ignored Ctrl-C meanwhile); now the same
    # bounded hello as deploy and status, before the class lookup.
    started = time.monotonic()
    done = run_subprocess(
        "bench",
        "--model",
        "flux-schnell",
        "--root",
        str(fleet_dir),
        env=silent_modal_env,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "bench: cannot reach Modal: "
        f"the Modal server did not answer within {SILENT_CONNECT_TIMEOUT_S} s\n"
    )
    assert done.stdout == ""
    assert elapsed < 30, elapsed


def test_local_without_a_weights_dir_stops_at_the_first_load_error_naming_the_variable(tmp_path):
    # It went on sending requests, each one trying the 33.7 GB download again (70 s offline).
    env = {k: v for k, v in os.environ.items() if k != "MODALFLEET_WEIGHTS_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-cache"))
    args = "bench --model flux-schnell --local --strategy hybrid --requests 5 --warmup 2".split()
    done = run_subprocess(*args, env=env, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("bench:")]
    # Serving reads local files only (HF_HUB_OFFLINE): the handler names what is missing.
    assert line.startswith(
        "bench: the first request (it loads the weights) failed: FileNotFoundError: flux-schnell: "
    )
    assert line.endswith(
        "; MODALFLEET_WEIGHTS_DIR is not set, so the handler loads the full weights from the "
        "Hugging Face hub: set MODALFLEET_WEIGHTS_DIR=<folder with one folder per artefact> "
        "(README: bench --local)"
    )


def test_tiny_needs_local_and_a_kind_it_can_build(tmp_path):
    result = run_cli("bench", "--model", "flux-schnell", "--tiny", root=REPO)
    assert result.exit_code == 2
    assert "--tiny builds weights for a --local run: add --local" in result.stderr
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = run_subprocess(
        *"bench --model seedvr2 --local --tiny --strategy hybrid".split(), env=env, timeout=300
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "bench: --tiny builds weights for text-to-image, text-to-video models only, not "
        "video-upscale; point MODALFLEET_WEIGHTS_DIR at your own weights instead"
    )
    assert list(tmp_path.glob("modalfleet-tiny-*")) == []  # the weights folder is removed


@pytest.mark.runtime
def test_local_tiny_builds_its_own_weights_and_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MODALFLEET_WEIGHTS_DIR"}
    env["TMPDIR"] = str(tmp_path)
    args = "bench --model flux-schnell --local --tiny --strategy hybrid --requests 2 --warmup 1"
    done = run_subprocess(*args.split(), "--format", "json", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    [local] = json.loads(done.stdout)["gpus"]
    assert (local["gpu"], local["sent"], local["failed"], local["success_rate"]) == (
        "local",
        4,
        0,
        1.0,
    )
    assert local["verdicts"]["target"]["status"] == "pass"  # 32x32, 2 steps: far under 5 s
    assert list(tmp_path.glob("modalfleet-tiny-*")) == []  # the weights folder is removed


def test_cold_start_records_are_read_from_a_container_log():
    from modalfleet.economics import observe
    from modalfleet.economics.observe import ColdStartRecord, RecordError
    from modalfleet.platform.bench import parse_cold_starts
    from modalfleet.runtime import records

    # the runtime writes what observe (and bench through it) reads
    assert (observe.COLD_START, observe.REQUEST) == (records.COLD_START, records.REQUEST)

    labels = '"model": "flux-dev", "strategy": "hybrid", "gpu": "L40S", "container_id": "ta-1"'
    log = "\n".join(
        [
            "2026-12-01T10:00:00Z loading pipeline {not a record}",
            '2026-12-01T10:00:31Z {"event": "modalfleet.cold_start", ' + labels + ", "
            '"container_started_at": 1000.0, "ready_at": 1026.5, "phases": {"start_to_enter_s": '
            '1.5, "weights_read_s": 20.25, "to_gpu_s": 4.0, "warm_up_s": 0.75}}',
            '{"event": "modalfleet.request", ' + labels + ', "started_at": 1027.0, '
            '"finished_at": 1030.0, "status": 200}',
            "[1, 2, 3]",
        ]
    )
    (found,) = parse_cold_starts(log)
    assert found == ColdStartRecord(
        model="flux-dev",
        strategy="hybrid",
        gpu="L40S",
        container_id="ta-1",
        container_started_at=1000.0,
        ready_at=1026.5,
        phases=(
            ("start_to_enter_s", 1.5),
            ("weights_read_s", 20.25),
            ("to_gpu_s", 4.0),
            ("warm_up_s", 0.75),
        ),
    )
    assert found.seconds == 26.5
    # observe's parser is bench's: a cold-start record with keys missing is refused by its line
    with pytest.raises(RecordError) as caught:
        parse_cold_starts(log + '\n{"event": "modalfleet.cold_start", "model": "flux-dev"}')
    assert str(caught.value) == (
        "log:5: modalfleet.cold_start record: strategy must be a non-empty string, got None"
    )
