"""Run one function over consecutive chunks of work in forked processes: a large fleet's files
render on every core instead of one.

Rendering 1000 models x 4 strategies is about 1.5 s of pure Python on one core here. The parent
runs the first chunk itself while forked children run the others; each child sends its result
back pickled through a pipe and exits. fork, not spawn: a child starts with the loaded fleet,
the compiled templates and the imported modules, so nothing is pickled in or imported again.
Forking is used on Linux only (macOS's system libraries are not fork-safe, and spawning would
cost more than it saves); elsewhere, and for small work, everything runs in this process.

A child that fails in any way (an exception, a signal, a result that does not arrive whole)
has its chunk run again in the parent, so an error is raised exactly as a serial run raises it:
the same exception and message, and for the first chunk in order that has one.

MODALFLEET_JOBS sets the number of processes (1: never fork); by default one per CPU this
process may run on, at most MAX_JOBS, and no more than one per MIN_CHUNK items.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

JOBS_VARIABLE = "MODALFLEET_JOBS"
MAX_JOBS = 8
# Below this many items per process, forking and sending the results back cost about what
# the split saves (a fork of a loaded fleet takes milliseconds, rendering a file ~0.4 ms).
MIN_CHUNK = 200


class JobsError(ValueError):
    """MODALFLEET_JOBS is not a positive whole number."""


def can_fork() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork")


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def requested_jobs() -> int | None:
    """MODALFLEET_JOBS as a number, None when unset; JobsError when it is not one."""
    text = os.environ.get(JOBS_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise JobsError(f"{JOBS_VARIABLE}={text!r}: give a whole number of processes, 1 or more")
    return int(text)


def job_count(items: int, min_chunk: int = MIN_CHUNK) -> int:
    """How many processes to split `items` across (1: run them here)."""
    requested = requested_jobs()  # a bad setting is refused everywhere, not only on Linux
    if not can_fork():
        return 1
    if requested is not None:
        return max(1, min(requested, items))
    return max(1, min(available_cpus(), MAX_JOBS, items // min_chunk))


def chunks(items: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """items cut into `count` consecutive runs of nearly equal length, in order."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    found, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        found.append(items[start:end])
        start = end
    return found


def run_chunks(
    function: Callable[[Sequence[Item]], Result], parts: list[Sequence[Item]]
) -> list[Result]:
    """[function(part) for part in parts], the parts after the first in forked children."""
    if len(parts) <= 1 or not can_fork():
        return [function(part) for part in parts]
    children: list[tuple[int, int] | None] = []  # (pid, read end of its pipe); None: reaped
    # The loaded fleet moves out of the collector's reach: a collection in a child would
    # otherwise write to every page of it and copy the parent's whole heap.
    gc.freeze()
    try:
        for part in parts[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                for _, earlier in filter(None, children):
                    os.close(earlier)
                _child(function, part, write_end)
            os.close(write_end)
            children.append((pid, read_end))
        results = [function(parts[0])]
        for index, (pid, read_end) in enumerate(list(children)):
            try:
                data = _read_all(read_end)
            finally:
                os.close(read_end)
                children[index] = (pid, -1)  # closed; not reaped yet
            _, status = os.waitpid(pid, 0)
            children[index] = None
            results.append(_result(data, status, function, parts[index + 1]))
        return results
    finally:
        # Children not reaped yet: a run failed (here or in the parent's re-run of a child's),
        # or Ctrl-C, and the rest of the work is not wanted.
        for pid, read_end in filter(None, children):
            _stop(pid)
            if read_end >= 0:
                os.close(read_end)
        gc.unfreeze()


def _child(function: Callable, part: Sequence, write_end: int) -> None:
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it at once; the parent cleans up
        data = pickle.dumps(function(part), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        status = 0
    finally:
        # No atexit handlers or buffered output of the parent's run twice; nothing is printed.
        os._exit(status)


def _read_all(read_end: int) -> bytes:
    parts = []
    while block := os.read(read_end, 1 << 20):
        parts.append(block)
    return b"".join(parts)


def _result(data: bytes, status: int, function: Callable, part: Sequence):
    if status == 0 and data:
        try:
            return pickle.loads(data)
        except Exception:  # a truncated result: run the chunk here
            pass
    return function(part)  # raises the chunk's error here, as a serial run would


def _stop(pid: int) -> None:
    if pid <= 0:  # 0 or -1 would signal our whole process group, or every process we may signal
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
