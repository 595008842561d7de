"""The cold-start phases of one container, which its cold-start record carries
(runtime/records.py: {"event": "modalfleet.cold_start", ..., "phases": {...}}).

start_to_enter_s runs from the module's import (the container's start) to the first enter
hook; weights_read_s is reading the weights into host memory (`@modal.enter(snap=True)`);
to_gpu_s moving them to the GPU plus what only a GPU can do (`snap=False`); warm_up_s one
smallest request. Wall-clock seconds, since a memory snapshot carries this object into the
restored container: there the first two phases happened when the snapshot was taken, in
another container, so a restored container reports only the last two, and it started when its
post-snapshot hook began, not at the (snapshotted) import. A container is taken as restored when
more than RESTORE_GAP_S passed between the two enter hooks (in a plain start they run back to
back).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PHASES = ("start_to_enter_s", "weights_read_s", "to_gpu_s", "warm_up_s")
RESTORE_GAP_S = 5.0


@dataclass
class Phases:
    started: float  # time.time() when the module was imported
    seconds: dict[str, float] = field(default_factory=dict)
    began: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    load_reported: bool = False

    def entered(self) -> None:
        now = time.time()
        self.seconds["start_to_enter_s"] = round(now - self.started, 3)
        self.began["start_to_enter_s"] = self.started
        self.ended["start_to_enter_s"] = now

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        begin = time.time()
        yield
        end = time.time()
        self.seconds[phase] = round(end - begin, 3)
        self.began[phase] = begin
        self.ended[phase] = end

    @property
    def restored(self) -> bool:
        """More than RESTORE_GAP_S between the end of the pre-snapshot hook's phases and the
        post-snapshot hook: the snapshot was taken in between."""
        before = [self.ended[p] for p in PHASES[:2] if p in self.ended]
        moved = self.began.get("to_gpu_s")
        if not before or moved is None:
            return False
        return moved - max(before) > RESTORE_GAP_S

    def container_started(self) -> float:
        """When this container started: the module's import, or, restored from a snapshot,
        when its post-snapshot hook began (the import happened where the snapshot was taken)."""
        if self.restored:
            return self.began["to_gpu_s"]
        return self.started

    def counted(self) -> dict[str, float]:
        """Seconds of the phases this container ran: all four, or only the GPU ones after a
        snapshot restore (its cold-start record's phases)."""
        phases = PHASES[2:] if self.restored else PHASES
        return {phase: self.seconds.get(phase, 0.0) for phase in phases}

    def pending_load_s(self) -> float:
        """This start's counted seconds for the first request that asks, 0 for every later one:
        the X-Load-Seconds header says which request paid for the cold start."""
        if self.load_reported:
            return 0.0
        self.load_reported = True
        return self.total_s()

    def total_s(self) -> float:
        """Seconds of this start: the sum of its counted phases."""
        return round(sum(self.counted().values()), 3)
