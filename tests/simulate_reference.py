"""The serving model of issue #12 written the plain way, to check the fast engine against.

One heap of events, every one explicit (a scaledown is an event that a later request cancels),
containers as dicts, the slot rule as a max() over all of them. Slow and obvious on purpose:
modalfleet.economics.simulate replaces the heap with queues and the scaledown events with a
lazy check, and the property tests assert that both give the same result on random traces.
"""

from __future__ import annotations

import heapq
import math

# Event order at one instant: slots freeing (finishes, readiness), then arrivals, then scaledowns.
FREE, ARRIVE, SCALEDOWN = 0, 1, 2


def reference(arrivals, policy, horizon):
    """(billed seconds, cold starts, latencies in arrival order, cold-start request indices,
    max containers alive, container spans) of `arrivals` under `policy`."""
    times = sorted(float(a) for a in arrivals)
    s, c, w = policy.service_time_s, policy.cold_start_s, policy.scaledown_window_s
    k, low, high = policy.max_inputs, policy.min_containers, policy.max_containers
    containers = []
    events = []
    queue = []  # request indices, oldest first
    latency = [None] * len(times)
    cold = []
    most = 0

    def start(now, ready_at):
        box = {
            "n": len(containers),
            "start": now,
            "ready_at": ready_at,
            "ready": False,
            "flying": 0,
            "last": -math.inf,
            "end": None,
            "token": 0,
        }
        containers.append(box)
        heapq.heappush(events, (ready_at, FREE, 0, "ready", box["n"]))
        return box

    def alive():
        return [b for b in containers if b["end"] is None]

    def best_free():
        free = [b for b in alive() if b["ready"] and b["flying"] < k]
        if not free:
            return None
        return max(
            free, key=lambda b: (b["flying"], math.inf if b["flying"] else b["last"], -b["n"])
        )

    def take(box, index, now):
        box["flying"] += 1
        box["token"] += 1  # cancels a pending scaledown
        latency[index] = (now - times[index]) + s
        if box["ready_at"] == now and now > times[index]:
            cold.append(index)
        heapq.heappush(events, (now + s, FREE, 1, "finish", box["n"]))

    def settle(now):
        """After the slots freed at `now`: waiting requests take slots; idle ones get a timer."""
        while queue and (box := best_free()) is not None:
            take(box, queue.pop(0), now)
        for box in alive():
            if box["ready"] and box["flying"] == 0 and not box.get("timer"):
                box["timer"] = True
                heapq.heappush(events, (now + w, SCALEDOWN, -box["n"], "down", box["token"]))

    for _ in range(low):
        box = start(0.0, 0.0)
    most = low
    for index, at in enumerate(times):
        heapq.heappush(events, (at, ARRIVE, index, "arrive", index))

    while events:
        now, order, tie, kind, data = heapq.heappop(events)
        if kind == "ready":
            containers[data]["ready"] = True
        elif kind == "finish":
            box = containers[data]
            box["flying"] -= 1
            box["last"] = math.inf if box["flying"] else now
            if box["flying"] == 0:
                box["timer"] = False
        elif kind == "arrive":
            box = best_free()
            if box is not None:
                take(box, data, now)
                box["timer"] = False
            else:
                queue.append(data)
                starting = sum(1 for b in alive() if not b["ready"])
                if len(queue) > k * starting and len(alive()) < high:
                    start(now, now + c)
                    most = max(most, len(alive()))
        else:  # scaledown check of container -tie, valid if no request came since
            box = containers[-tie]
            if box["end"] is None and box["token"] == data and box["flying"] == 0:
                if len(alive()) > low:
                    box["end"] = now
        if order == FREE and not (events and events[0][:2] == (now, FREE)):
            settle(now)

    spans = [
        (b["start"], min(b["end"] if b["end"] is not None else math.inf, horizon))
        for b in containers
    ]
    billed = sum(end - begin for begin, end in spans)
    return billed, len(containers) - low, latency, cold, most, spans
