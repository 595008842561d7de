"""Simulation results kept between runs, keyed by everything that decides them.

`cost` and `plan` simulate every model under every strategy (about 0.7 s of CPU for the bundled
fleet); the same fleet gives the same figures, so a result computed once is reused. The key is a
SHA-256 of the serving policy, the arrivals' description (profile, rate, seed, horizon, and a
trace file's bytes) and the source of the simulation and arrival modules, so an edit to any of
them misses the cache instead of returning a stale figure. A cached entry holds the summary
figures, not the per-request tuples (latencies, spans), which no report reads.

The cache lives in $MODALFLEET_CACHE_DIR, else $XDG_CACHE_HOME/modalfleet, else
~/.cache/modalfleet; MODALFLEET_CACHE_DIR=off turns it off. An unreadable, corrupt or foreign
entry is ignored and recomputed, and so is one whose figures could not come from a simulation
(not a finite number of the right type, out of range, or contradicting each other: billed
seconds beyond what the containers could run, none billed although requests were served): a
tampered or damaged entry never reaches a bill. A cache folder that cannot be written is skipped
silently (the figures are the same, only slower). The folder, its subfolders and its entries are
read and written through fleet/statefile.py: a link, a FIFO or a device there is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from ..fleet import statefile
from .simulate import SimResult

FORMAT = 1
_FIELDS = {f.name: f.type for f in dataclasses.fields(SimResult)}
_SCALARS = [name for name, kind in _FIELDS.items() if kind in ("int", "float", int, float)]
_INTS = frozenset(name for name in _SCALARS if _FIELDS[name] in ("int", int))
# An entry is a few hundred bytes; anything much larger is not one of ours.
MAX_ENTRY_BYTES = 64 * 1024
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
    found = _read(path, digest, parts.get("horizon_s"))
    if found is not None:
        return found
    result = compute()
    _write(path, digest, result)
    return result


def _refuse(constant: str):
    raise ValueError(f"{constant} is not a figure a simulation gives")


def _read(path: Path, digest: str, horizon_s=None) -> SimResult | None:
    # A link or a device as the folder, its subfolder or the entry raises StateFileError.
    if not (statefile.check_folder(path.parent.parent) and statefile.check_folder(path.parent)):
        return None
    raw = statefile.read_bytes(path, MAX_ENTRY_BYTES)
    if raw is None:
        return None
    try:
        data = json.loads(raw, parse_constant=_refuse)  # NaN, Infinity, -Infinity: refused
        if data.get("key") != digest:
            return None  # a foreign or renamed file: never believed
        values = {name: data["result"][name] for name in _SCALARS}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return checked(values, horizon_s)


def checked(values: dict, horizon_s=None) -> SimResult | None:
    """values as a SimResult when they could have come from a simulation (of horizon_s, when
    given); None when any is doubtful, so the caller recomputes instead of billing it."""
    for name, value in values.items():
        kind = type(value)
        if kind is not int and (name in _INTS or kind is not float):
            return None  # a string, a bool, a list, or a float where a count belongs
        if not math.isfinite(value) or value < 0:
            return None
    v = values
    horizon = v["horizon_s"]
    if horizon <= 0 or (horizon_s is not None and horizon != horizon_s):
        return None
    tolerance = 1e-9 * max(1.0, horizon)  # sums of floats; nothing a bill would show
    checks = (
        # At most max_containers_used containers are alive at any instant of the horizon.
        v["billed_seconds"] <= v["max_containers_used"] * horizon + tolerance,
        v["idle_seconds"] + v["starting_seconds"] <= v["billed_seconds"] + tolerance,
        v["cold_start_rate"] <= 1,
        v["latency_p50_s"] <= v["latency_p95_s"] <= v["latency_p99_s"],
        # Requests served mean a container ran, for some time, and took some time each.
        not v["requests"] or (v["billed_seconds"] > 0 and v["max_containers_used"] >= 1),
        not v["requests"] or (v["busy_seconds"] > 0 and v["latency_p50_s"] > 0),
        v["requests"] or not (v["busy_seconds"] or v["cold_start_rate"] or v["latency_p99_s"]),
    )
    if not all(checks):
        return None
    return SimResult(
        **{name: value if name in _INTS else float(value) for name, value in v.items()},
        latencies=(),
    )


def _write(path: Path, digest: str, result: SimResult) -> None:
    payload = {"key": digest, "result": {name: getattr(result, name) for name in _SCALARS}}
    text = json.dumps(payload).encode()
    try:
        # The folders above ours (~/.cache) are the user's: made if need be, links allowed.
        path.parent.parent.parent.mkdir(parents=True, exist_ok=True)
        statefile.make_folder(path.parent.parent)
        statefile.make_folder(path.parent)
        statefile.write_bytes(path, text)
    except OSError:
        pass  # a read-only home or a full disk: the figures are the same, only slower
