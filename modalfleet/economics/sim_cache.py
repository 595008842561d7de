"""Simulation results kept between runs, keyed by everything that decides them.

`cost` and `plan` simulate every model under every strategy (about 0.7 s of CPU for the bundled
fleet); the same fleet gives the same figures, so a result computed once is reused. The key is a
SHA-256 of the serving policy, the arrivals' description (profile, rate, seed, horizon, and a
trace file's bytes) and the source of the simulation and arrival modules, so an edit to any of
them misses the cache instead of returning a stale figure. A cached entry holds the summary
figures, not the per-request tuples (latencies, spans), which no report reads.

The cache lives in $MODALFLEET_CACHE_DIR, else $XDG_CACHE_HOME/modalfleet, else
~/.cache/modalfleet; MODALFLEET_CACHE_DIR=off turns it off. An unreadable, corrupt or foreign
entry is ignored and recomputed; a cache folder that cannot be written is skipped silently (the
figures are the same, only slower).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from ..fleet.atomic import replace_file
from .simulate import SimResult

FORMAT = 1
_SCALARS = [f.name for f in dataclasses.fields(SimResult) if f.type in ("int", "float", int, float)]
_ENGINE: str | None = None


def cache_dir() -> Path | None:
    setting = os.environ.get("MODALFLEET_CACHE_DIR")
    if setting is not None:
        return None if setting.strip().lower() in ("", "off", "0", "no") else Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modalfleet"


def engine_hash() -> str:
    """The simulation's own source: a changed rule must never read an old result."""
    global _ENGINE
    if _ENGINE is None:
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        for name in ("simulate.py", "arrivals.py", "sim_cache.py"):
            digest.update((here / name).read_bytes())
        _ENGINE = digest.hexdigest()
    return _ENGINE


def key(parts: dict) -> str:
    text = json.dumps({"format": FORMAT, "engine": engine_hash(), **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cached(parts: dict, compute: Callable[[], SimResult]) -> SimResult:
    """The result for `parts` from the cache, or computed (and stored when the cache is on)."""
    folder = cache_dir()
    if folder is None:
        return compute()
    digest = key(parts)
    path = folder / digest[:2] / f"{digest}.json"
    found = _read(path, digest)
    if found is not None:
        return found
    result = compute()
    _write(path, digest, result)
    return result


def _read(path: Path, digest: str) -> SimResult | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != digest:
            return None  # a foreign or renamed file: never believed
        values = {name: data["result"][name] for name in _SCALARS}
        return SimResult(**values, latencies=())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(path: Path, digest: str, result: SimResult) -> None:
    payload = {"key": digest, "result": {name: getattr(result, name) for name in _SCALARS}}
    text = json.dumps(payload).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, lambda stream: stream.write(text))
    except OSError:
        pass  # a read-only home or a full disk: the figures are the same, only slower
