"""The request-time ESTIMATE against container timeouts (fleet/request_time.py, timeout-too-short)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REPO

from modalfleet.fleet.checks import check_request_time
from modalfleet.fleet.limits import request_limits
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.request_time import (
    request_budget_s,
    slowest_gpu,
    timeout_for,
    worst_request,
)


@pytest.fixture(scope="module")
def loaded():
    return load_fleet(REPO)


@pytest.mark.parametrize(
    ("timeout", "budget"), [(60, 30), (300, 270), (600, 540), (900, 810), (3600, 3240)]
)
def test_the_budget_leaves_a_tenth_and_at_least_30_s(timeout, budget):
    assert request_budget_s(timeout) == budget


def test_the_timeout_that_holds_some_work_is_the_next_whole_minute_with_room():
    # 2387 s of work: 2700 s leaves 2430 (2640 would leave only 2376)
    assert timeout_for(2387.2) == 2700
    assert timeout_for(20) == 60  # 60 s leaves 30
    assert timeout_for(31) == 120


def test_seedvr2_at_its_limits_on_each_gpu(loaded):
    fleet = loaded.fleet
    model = fleet.models["seedvr2"]
    a10 = fleet.catalog.resolve("A10")[0]
    l40s = fleet.catalog.resolve("L40S")[0]
    # A10 limits: 300 frames (models.yaml) at 1496 px; 1496^2 x 16/9 = 3.979 MP per frame
    # x 1.4 s x 100 / 70 = 7.96 s per frame; x 300 = 2387 s
    on_a10 = worst_request(model, request_limits(model, fleet.catalog, ("A10",)), a10)
    assert (on_a10.frames, on_a10.resolution, on_a10.gpu) == (300, 1496, "A10")
    assert on_a10.seconds_per_frame == pytest.approx(7.957, abs=1e-3)
    assert on_a10.seconds == pytest.approx(2387.2, abs=0.1)
    assert on_a10.describe() == (
        "300 frames at 1496 px short side on A10: ~2387 s ESTIMATE (7.96 s per frame)"
    )
    # L40S limits: 2160 px (scale capped at 4); 8.294 MP x 1.4 x 100 / 362 = 3.21 s per frame
    on_l40s = worst_request(model, request_limits(model, fleet.catalog, ("L40S",)), l40s)
    assert (on_l40s.resolution, round(on_l40s.seconds)) == (2160, 962)
    assert on_a10.frames_within(540) == 67


def test_the_slowest_gpu_of_a_list_decides_and_other_kinds_are_not_estimated(loaded):
    fleet = loaded.fleet
    assert slowest_gpu(fleet.catalog, ("L40S", "A10")).name == "A10"
    assert slowest_gpu(fleet.catalog, ("NOPE",)) is None
    flux = fleet.models["flux-schnell"]
    t4 = fleet.catalog.resolve("T4")[0]
    assert worst_request(flux, request_limits(flux, fleet.catalog, ("T4",)), t4) is None


def test_the_bundled_fleet_fits_and_a_short_timeout_is_reported_where_it_is_set(loaded):
    fleet = loaded.fleet
    model = fleet.models["seedvr2"]
    assert check_request_time(fleet, model, loaded.documents, None) == []
    # the model's own override down to 900 s: one problem, at models.yaml, not one per strategy
    short = dataclasses.replace(model, containers={"timeout_s": 900})
    problems = check_request_time(fleet, short, loaded.documents, None)
    assert [(p.code, p.file, p.line) for p in problems] == [
        ("timeout-too-short", "models.yaml", 188)
    ]
    assert problems[0].message.startswith("seedvr2 (strategy cost-optimized): a request at its")
    assert problems[0].hint == (
        "raise this timeout_s to >= 2700, or lower seedvr2's limits.max_input_frames to <= 101"
    )
