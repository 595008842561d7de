"""The serving simulation (issue #12's contract): hand-worked traces, tie-breaks, concurrency,
the closed form of one container under Poisson arrivals, properties, and bad input."""

from __future__ import annotations

from modalfleet.economics.simulate import ServingPolicy, simulate

# Six arrivals: a burst of three, a pair, and a straggler long after.
TRACE = [0, 2, 3, 30, 31, 200]


def test_hand_worked_trace_one_container():
    policy = ServingPolicy(
        service_time_s=10, cold_start_s=5, scaledown_window_s=20, max_containers=1
    )
    result = simulate(TRACE, policy, horizon_s=300)
    # t=0   request 0 arrives, nothing runs: container A starts, ready at 0+5=5.
    # t=2,3 requests 1, 2 wait: A is the only container max_containers allows.
    # t=5   A ready, request 0 runs 5..15          latency 15-0 = 15 (waited for A's cold start)
    # t=15  request 1 runs 15..25                  latency 25-2 = 23
    # t=25  request 2 runs 25..35                  latency 35-3 = 32
    # t=30,31 requests 3, 4 wait (A busy, no room for another container)
    # t=35  request 3 runs 35..45                  latency 45-30 = 15
    # t=45  request 4 runs 45..55                  latency 55-31 = 24
    # t=55  A idle; 20 s later, at 75, it shuts down: billed 75-0 = 75
    # t=200 request 5: container B starts, ready 205, runs 205..215   latency 15
    #       B idle from 215, shuts down at 235: billed 235-200 = 35
    assert result.latencies == (15, 23, 32, 15, 24, 15)
    assert result.container_spans == ((0, 75), (200, 235))
    assert result.billed_seconds == 75 + 35
    assert result.cold_starts == 2
    assert result.request_containers == (0, 0, 0, 0, 0, 1)
    assert result.cold_start_requests == (0, 5)  # only 0 and 5 got their slot from a cold start
    assert result.cold_start_rate == 2 / 6
    assert result.busy_seconds == 60
    assert result.starting_seconds == 5 + 5
    assert result.idle_seconds == 20 + 20  # 55..75 and 215..235
    assert result.max_containers_used == 1
    # Nearest rank over the sorted latencies 15 15 15 23 24 32: p50 is the 3rd, p95/p99 the 6th.
    assert (result.latency_p50_s, result.latency_p95_s, result.latency_p99_s) == (15, 32, 32)


def test_hand_worked_trace_two_containers():
    policy = ServingPolicy(
        service_time_s=10, cold_start_s=5, scaledown_window_s=20, max_containers=2
    )
    result = simulate(TRACE, policy, horizon_s=300)
    # t=0  request 0: A starts (ready 5).
    # t=2  request 1 waits; waiting 2 > 1 x (1 starting) and 1 < 2 containers: B starts (ready 7).
    # t=3  request 2 waits; waiting 3 > 1 x 2 but two containers exist already: no start.
    # t=5  A ready, request 0 runs 5..15           latency 15 (cold start)
    # t=7  B ready, request 1 runs 7..17           latency 15 (cold start)
    # t=15 A frees first, request 2 runs 15..25 on A    latency 22
    # t=17 B idle (last busy 17); t=25 A idle (last busy 25)
    # t=30 request 3: both free, A was busy most recently: runs 30..40 on A   latency 10
    # t=31 request 4: runs 31..41 on B             latency 10
    # A idle from 40, shuts down at 60: billed 60-0 = 60
    # B idle from 41, shuts down at 61: billed 61-2 = 59
    # t=200 request 5: C starts, ready 205, runs 205..215, shuts down at 235: billed 35
    assert result.latencies == (15, 15, 22, 10, 10, 15)
    assert result.request_containers == (0, 1, 0, 0, 1, 2)
    assert result.container_spans == ((0, 60), (2, 61), (200, 235))
    assert result.billed_seconds == 60 + 59 + 35
    assert result.cold_starts == 3
    assert result.cold_start_requests == (0, 1, 5)
    assert result.max_containers_used == 2
    assert result.idle_seconds == 154 - 3 * 5 - 60  # billed - cold starts - 60 s in flight


def test_container_started_for_a_request_can_find_the_queue_empty():
    policy = ServingPolicy(
        service_time_s=10,
        cold_start_s=30,
        scaledown_window_s=20,
        min_containers=1,
        max_containers=2,
    )
    result = simulate([0, 1], policy, horizon_s=100)
    # t=0  request 0 takes warm container W (0..10).
    # t=1  request 1 waits; 1 > 1 x 0 starting: B starts, ready at 31.
    # t=10 W frees first: request 1 runs 10..20 on W     latency 19, no cold start waited for
    # t=20 W idle; t=31 B ready, finds the queue empty: idle.
    # t=40 W idle 20 s, and 2 containers > min 1: W shuts down (billed 40).
    # t=51 B idle 20 s, but it is the last one: min_containers keeps it, billed to T: 100-1 = 99.
    assert result.latencies == (10, 19)
    assert result.request_containers == (0, 0)
    assert result.container_spans == ((0, 40), (1, 100))
    assert result.billed_seconds == 139
    assert result.cold_starts == 1  # the warm container is not a cold start
    assert result.containers_started == 2
    assert result.cold_start_rate == 0


def test_billing_stops_at_the_horizon_but_requests_finish():
    policy = ServingPolicy(service_time_s=10, cold_start_s=5, scaledown_window_s=60)
    result = simulate([95], policy, horizon_s=100)
    # Starts at 95, ready at 100, runs 100..110: served past T, billed only 95..100.
    assert result.latencies == (15,)
    assert result.container_spans == ((95, 100),)
    assert result.billed_seconds == 5
    assert result.starting_seconds == 5
    assert result.idle_seconds == 0
