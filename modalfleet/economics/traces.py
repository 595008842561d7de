"""`--traces DIR`: the fleet with each model's arrivals replayed from a folder of traces.

`observe --trace-dir DIR` writes DIR/<strategy>/<model>.txt; cost, plan and optimize take the
folder (or one strategy's folder within it) and replay model M's arrivals from DIR/M.txt or,
when that is absent, the one DIR/<strategy>/M.txt there is. A model without a trace keeps the
traffic models.yaml declares. The simulated period is the whole days the longest trace covers,
so a week of observed traffic is billed per day of that week.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from ..fleet.spec import Fleet
from .arrivals import SECONDS_PER_DAY, TraceError, read_trace, trace_horizon


class TracesError(ValueError):
    """A traces folder that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Traced:
    fleet: Fleet  # the fleet with traffic.trace set for each traced model
    days: int  # whole days the longest trace covers
    models: tuple[str, ...]  # the models replayed from a trace
    files: dict[str, Path]  # model -> its trace


def trace_for(directory: Path, model: str) -> Path | None:
    direct = directory / f"{model}.txt"
    if direct.is_file():
        return direct
    found = sorted(directory.glob(f"*/{model}.txt"))
    if len(found) > 1:
        names = ", ".join(str(path.parent.name) for path in found)
        raise TracesError(
            f"{directory} holds traces of {model} for several strategies ({names}): pass "
            f"--traces {directory}/<strategy>"
        )
    return found[0] if found else None


def with_traces(fleet: Fleet, directory: Path) -> Traced:
    """The fleet replaying the traces in directory. Raises TracesError (no trace of any model,
    a trace that cannot be read)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TracesError(f"--traces {directory}: not a folder")
    files: dict[str, Path] = {}
    horizon = 0.0
    models = dict(fleet.models)
    for name, model in fleet.models.items():
        path = trace_for(directory, name)
        if path is None:
            continue
        try:
            times = read_trace(path)
        except TraceError as exc:
            raise TracesError(f"{path}: {exc}") from None
        except OSError as exc:
            raise TracesError(f"cannot read {path}: {exc.strerror or exc}") from None
        horizon = max(horizon, trace_horizon(times))
        files[name] = path
        models[name] = dataclasses.replace(
            model, traffic=dataclasses.replace(model.traffic, trace=path)
        )
    if not files:
        raise TracesError(
            f"--traces {directory}: no trace of any model (expected <model>.txt or "
            "<strategy>/<model>.txt, as observe --trace-dir writes)"
        )
    days = max(1, math.ceil(horizon / SECONDS_PER_DAY))
    return Traced(dataclasses.replace(fleet, models=models), days, tuple(files), files)


def describe(traced: Traced) -> str:
    """One line for stderr: what is replayed."""
    names = ", ".join(f"{model} ({path})" for model, path in traced.files.items())
    return f"replaying {traced.days} day(s) of observed arrivals: {names}"
