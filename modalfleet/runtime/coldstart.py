"""The cold-start phases of one container, logged as one structured line that `bench` parses.

    modalfleet-cold-start {"model": "flux-schnell", "gpu": "T4", "start_to_enter_s": 1.2,
        "weights_read_s": 20.5, "to_gpu_s": 3.1, "warm_up_s": 0.8, "total_s": 25.6,
        "restored": false}

start_to_enter_s runs from the module's import (the container's start) to the first enter
hook; weights_read_s is reading the weights into host memory (`@modal.enter(snap=True)`);
to_gpu_s moving them to the GPU plus what only a GPU can do (`snap=False`); warm_up_s one
smallest request. Wall-clock seconds, since a memory snapshot carries this object into the
restored container: there the first two phases happened when the snapshot was taken, so the
line says "restored": true and counts only the last two in total_s. A container is taken as
restored when more than RESTORE_GAP_S passed between the two enter hooks (in a plain start
they run back to back).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PREFIX = "modalfleet-cold-start "
PHASES = ("start_to_enter_s", "weights_read_s", "to_gpu_s", "warm_up_s")
RESTORE_GAP_S = 5.0


@dataclass
class Phases:
    started: float  # time.time() when the module was imported
    seconds: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    load_reported: bool = False

    def entered(self) -> None:
        now = time.time()
        self.seconds["start_to_enter_s"] = round(now - self.started, 3)
        self.ended["start_to_enter_s"] = now

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        begin = time.time()
        yield
        end = time.time()
        self.seconds[phase] = round(end - begin, 3)
        self.ended[phase] = end

    @property
    def restored(self) -> bool:
        read, moved = self.ended.get("weights_read_s"), self.ended.get("to_gpu_s")
        if read is None or moved is None:
            return False
        return moved - self.seconds["to_gpu_s"] - read > RESTORE_GAP_S

    def line(self, **labels: object) -> str:
        figures = {phase: self.seconds.get(phase, 0.0) for phase in PHASES}
        record = {**labels, **figures, "total_s": self.total_s(), "restored": self.restored}
        return PREFIX + json.dumps(record)

    def pending_load_s(self) -> float:
        """This start's counted seconds for the first request that asks, 0 for every later one:
        the X-Load-Seconds header says which request paid for the cold start."""
        if self.load_reported:
            return 0.0
        self.load_reported = True
        return self.total_s()

    def total_s(self) -> float:
        """Seconds of this start: all phases, or only the GPU ones after a snapshot restore."""
        counted = PHASES[2:] if self.restored else PHASES
        return round(sum(self.seconds.get(phase, 0.0) for phase in counted), 3)

    def log(self, **labels: object) -> None:
        """Write the line to stderr: Modal keeps it in the app's logs, and a caller's stdout (the
        JSON of `bench --local --format json`) stays clean."""
        print(self.line(**labels), file=sys.stderr, flush=True)
