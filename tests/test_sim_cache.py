"""Simulation results reused between runs: keyed by what decides them, never believed blindly."""

from __future__ import annotations

import json

import pytest

from modalfleet.economics import sim_cache
from modalfleet.economics.simulate import ServingPolicy, simulate

POLICY = ServingPolicy(service_time_s=10, cold_start_s=5, scaledown_window_s=20)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MODALFLEET_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _compute(counter):
    def compute():
        counter.append(1)
        return simulate([0, 100], POLICY, 300)

    return compute


def test_a_result_is_computed_once_and_read_back_equal(cache):
    calls: list[int] = []
    parts = {"policy": "p", "horizon_s": 300}
    first = sim_cache.cached(parts, _compute(calls))
    second = sim_cache.cached(parts, _compute(calls))
    assert len(calls) == 1
    assert second.billed_seconds == first.billed_seconds == 70
    assert second.latency_p95_s == first.latency_p95_s == 15
    assert second.cold_starts == 2 and second.latencies == ()  # summaries only
    assert len(list(cache.rglob("*.json"))) == 1


def test_other_parts_or_another_engine_miss_the_cache(cache, monkeypatch):
    calls: list[int] = []
    sim_cache.cached({"policy": "p"}, _compute(calls))
    sim_cache.cached({"policy": "q"}, _compute(calls))
    assert len(calls) == 2
    monkeypatch.setattr(sim_cache, "_ENGINE", "a changed simulate.py")
    sim_cache.cached({"policy": "p"}, _compute(calls))
    assert len(calls) == 3


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"key": "someone else's", "result": {}}), json.dumps([1, 2])],
)
def test_a_corrupt_or_foreign_entry_is_recomputed_and_replaced(cache, content):
    calls: list[int] = []
    parts = {"policy": "p"}
    sim_cache.cached(parts, _compute(calls))
    (entry,) = cache.rglob("*.json")
    entry.write_text(content)
    result = sim_cache.cached(parts, _compute(calls))
    assert len(calls) == 2 and result.billed_seconds == 70
    assert json.loads(entry.read_text())["result"]["billed_seconds"] == 70


def test_off_and_an_unwritable_folder_still_give_the_figures(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setenv("MODALFLEET_CACHE_DIR", "off")
    assert sim_cache.cache_dir() is None
    assert sim_cache.cached({"p": 1}, _compute(calls)).billed_seconds == 70
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MODALFLEET_CACHE_DIR", str(blocker / "cache"))  # under a plain file
    assert sim_cache.cached({"p": 1}, _compute(calls)).billed_seconds == 70
    assert len(calls) == 2


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("MODALFLEET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sim_cache.cache_dir() == tmp_path / "modalfleet"
