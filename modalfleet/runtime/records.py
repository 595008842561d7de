"""The records each handler container logs: one JSON object a line, the contract of issue #24.

    {"event": "modalfleet.cold_start", "model": M, "strategy": S, "gpu": G, "container_id": C,
     "container_started_at": T0, "ready_at": T1, "phases": {"<name>": seconds, ...}}
    {"event": "modalfleet.request", "model": M, "strategy": S, "gpu": G, "container_id": C,
     "started_at": T2, "finished_at": T3, "status": HTTP_STATUS}

The cold-start record is written once, when the container is ready to serve (the end of the
post-snapshot enter hook); the request record once per request when it has finished, failures
included (the status is what the web endpoint answers, or would answer for a Python call).
Times are Unix epoch seconds. `observe` reads them back from Modal's logs; nothing here imports
its parser, nor it this writer.

- gpu: the device the container got, by Modal's name (a GPU list shows which one served):
  torch.cuda.get_device_name() mapped by MODAL_GPU_NAMES; a name the table does not know is
  kept as the driver says it. A container without a GPU (tests, `bench --local`) says "cpu".
- container_id: MODAL_TASK_ID, which Modal sets in every container; where it is absent (a
  local run) "local-<process id>", so the records of one process still group together.
- Where: stdout inside a Modal Function's container (MODAL_IS_REMOTE=1), where Modal keeps it
  in the app's logs; stderr anywhere else, so a caller that runs a handler in-process keeps its
  own stdout (`bench --local --format json` prints its JSON there).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from .errors import http_status

COLD_START = "modalfleet.cold_start"
REQUEST = "modalfleet.request"
CPU = "cpu"  # the gpu of a container that has none

# What torch.cuda.get_device_name() says, upper-cased, -> Modal's name; the first key found in
# the name wins, so the longer names come first (L40S before L4, A100 before A10). A100 is
# told apart by its memory (80 GB cards say so in some names, not in all).
MODAL_GPU_NAMES = (
    ("H200", "H200"),
    ("H100", "H100"),
    ("B200", "B200"),
    ("RTX PRO 6000", "RTX-PRO-6000"),
    ("A100", "A100"),
    ("L40S", "L40S"),
    ("L4", "L4"),
    ("A10", "A10"),  # Modal's A10 is the A10G: "NVIDIA A10G"
    ("T4", "T4"),  # "Tesla T4"
)
A100_80GB_MIN_BYTES = 60 * 2**30  # the 40 GB card reports ~39.4 GiB, the 80 GB one ~79.1 GiB


def modal_gpu_name(device_name: str, total_memory_bytes: int) -> str:
    """Modal's name for a GPU the driver calls device_name (its own name when unknown)."""
    upper = device_name.upper()
    for marker, name in MODAL_GPU_NAMES:
        if marker in upper:
            if name == "A100":
                return "A100-80GB" if total_memory_bytes >= A100_80GB_MIN_BYTES else "A100-40GB"
            return name
    return device_name


def gpu_name(device: str) -> str:
    """The GPU this container runs on ("cpu" without one), read from the device itself."""
    if not device.startswith("cuda"):
        return CPU
    import torch

    index = torch.cuda.current_device()
    properties = torch.cuda.get_device_properties(index)
    return modal_gpu_name(torch.cuda.get_device_name(index), properties.total_memory)


def container_id() -> str:
    return os.environ.get("MODAL_TASK_ID") or f"local-{os.getpid()}"


def stream() -> TextIO:
    return sys.stdout if os.environ.get("MODAL_IS_REMOTE") == "1" else sys.stderr


def emit(record: dict[str, object]) -> None:
    # One write of the whole line: two concurrent requests never interleave inside a record.
    out = stream()
    out.write(json.dumps(record) + "\n")
    out.flush()


@dataclass
class Records:
    """The labels every record of one container carries, and the two records.

    Made in the post-snapshot enter hook, so a container restored from a memory snapshot reads
    its own task id, not the one of the container that took the snapshot.
    """

    model: str
    strategy: str
    gpu: str
    container_id: str = field(default_factory=container_id)

    def labels(self, event: str) -> dict[str, object]:
        return {
            "event": event,
            "model": self.model,
            "strategy": self.strategy,
            "gpu": self.gpu,
            "container_id": self.container_id,
        }

    def cold_start(
        self, container_started_at: float, phases: dict[str, float], ready_at: float | None = None
    ) -> None:
        ready = time.time() if ready_at is None else ready_at
        emit(
            self.labels(COLD_START)
            | {"container_started_at": container_started_at, "ready_at": ready, "phases": phases}
        )

    def request(self, started_at: float, finished_at: float, status: int) -> None:
        emit(
            self.labels(REQUEST)
            | {"started_at": started_at, "finished_at": finished_at, "status": status}
        )

    @contextmanager
    def timed_request(self) -> Iterator[None]:
        """Record the request the block serves: 200 when it returns, else its error's status."""
        started = time.time()
        status = 200
        try:
            yield
        except BaseException as error:
            status = http_status(error)
            raise
        finally:
            self.request(started, time.time(), status)
