"""Behaviours of the serving simulation that mutation testing found unpinned (issue 18):
the horizon's checks and messages, the percentile ranks, the busy seconds a request crossing
the horizon counts, and a warm container's free slots under @modal.concurrent."""

from __future__ import annotations

import pytest

from modalfleet.economics.simulate import ServingPolicy, SimulationError, _nearest_rank, simulate

POLICY = ServingPolicy(service_time_s=1, cold_start_s=0, scaledown_window_s=10)


@pytest.mark.parametrize(
    ("horizon", "message"),
    [
        (True, "the horizon must be a number of seconds, got True"),  # a bool is not a number
        ("10", "the horizon must be a number of seconds, got '10'"),
        (0, "the horizon must be a finite number of seconds above 0, got 0"),
        (float("inf"), "the horizon must be a finite number of seconds above 0, got inf"),
    ],
)
def test_a_horizon_the_model_cannot_take_is_refused_with_its_value(horizon, message):
    with pytest.raises(SimulationError) as raised:
        simulate([], POLICY, horizon)
    assert str(raised.value) == message


def test_a_horizon_under_one_second_is_fine():
    result = simulate([0.2], POLICY, 0.5)
    assert (result.horizon_s, result.requests, result.latencies) == (0.5, 1, (1.0,))


def test_the_arrival_past_the_horizon_is_the_one_named():
    with pytest.raises(SimulationError) as raised:
        simulate([1, 30, 2], POLICY, 10)
    assert str(raised.value) == "arrival at 30.0 s is not before the horizon (10.0 s)"


def test_percentiles_are_nearest_ranks_of_a_queue():
    # 200 requests at 0 on one warm container: the k-th waits for k - 1 others, latency k s.
    policy = ServingPolicy(1, 0, 10, min_containers=1, max_containers=1)
    result = simulate([0.0] * 200, policy, 1000)
    assert result.latencies == tuple(float(k) for k in range(1, 201))
    # ranks ceil(p x 200 / 100): 100, 190, 198
    assert (result.latency_p50_s, result.latency_p95_s, result.latency_p99_s) == (100, 190, 198)
    assert result.horizon_s == 1000.0


def test_nearest_rank_of_101_latencies():
    waited = [float(k) for k in range(2, 103)]  # 101 latencies, none at the bare service time
    assert _nearest_rank(50, 101, 1.0, waited) == waited[50]  # rank ceil(50.5) = 51
    assert _nearest_rank(50, 101, 1.0, waited[51:]) == 1.0  # ranks up to 51 did not wait


def test_a_request_crossing_the_horizon_counts_only_its_seconds_before_it():
    # One warm container, 4 s a request, horizon 10: the request at 1 runs 1-5 (4 s), the one
    # at 9.5 runs 9.5-13.5, of which 0.5 s fall within the horizon. Billed: the 10 s.
    policy = ServingPolicy(4, 0, 100, min_containers=1, max_containers=1)
    result = simulate([1.0, 9.5], policy, 10)
    assert (result.billed_seconds, result.busy_seconds, result.starting_seconds) == (10, 8, 0)
    assert result.idle_seconds == 10 - 4.5


def test_a_warm_container_offers_all_its_slots():
    # max_inputs 2: the warm container takes both requests; none waits for a cold start.
    policy = ServingPolicy(10, 5, 10, min_containers=1, max_containers=2, max_inputs=2)
    result = simulate([0.0, 1.0], policy, 100)
    assert result.latencies == (10.0, 10.0)
    assert (result.cold_starts, result.request_containers) == (0, (0, 0))
