"""`observe`: the records the deployed fleet's containers logged, read from Modal (logs.py) or from
saved log files, cut to a period and summed per model and GPU (economics/observe.py); and the
two things done with them: traces of the estimated arrivals, and the measured figures written
into models.yaml.

modal is imported only when logs are read from Modal (logs.read_app); --from-logs needs none.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..economics import observe as records_lib
from ..economics.cost import CostError
from ..economics.observe import Observed, Records, Window
from ..economics.observe_report import sources_line
from ..economics.serving import serving_policy
from ..fleet.load import MODELS_FILE, load_fleet
from ..fleet.resolve import deployment
from ..fleet.spec import Fleet
from ..fleet.statefile import NotARegularFile, open_regular
from ..fleet.yamledit import EditError, replace_files
from .spend import SpendError, parse_since, period_since

DEFAULT_SINCE = "7d"


class ObserveError(Exception):
    """observe cannot give figures; the message is one sentence for the user."""


@dataclass(frozen=True)
class Observation:
    strategy: str
    window: Window
    records: Records  # of the strategy (and models asked for) within the window
    observed: tuple[Observed, ...]
    notes: tuple[str, ...]  # what the user should know (apps skipped)


def parse_moment(text: str, flag: str) -> datetime:
    """An ISO-8601 date or time, UTC when it names no offset."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ObserveError(
            f"{flag} {text!r} is not a duration like 7d nor an ISO date or time like "
            "2026-11-30 or 2026-11-30T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def window_for(since: str | None, until: str | None, now: datetime) -> Window | None:
    """The period asked for: --since a duration (7d: the last 7 whole UTC days, or the 7 days
    before --until) or an ISO time; --until an ISO time (default now). None when neither is
    given (then the records decide: observe.window_of)."""
    if since is None and until is None:
        return None
    end = parse_moment(until, "--until") if until is not None else None
    text = DEFAULT_SINCE if since is None else since
    if text.strip()[:1].isdigit() and text.strip()[-1:].lower() in "hdw":
        try:
            length = parse_since(text)
        except SpendError as exc:
            raise ObserveError(str(exc)) from None
        if end is None:
            period = period_since(now, length)
            return Window(period.start, period.end)
        return Window(end - length, end)
    start = parse_moment(text, "--since")
    end = end or now
    if end <= start:
        raise ObserveError(f"--until ({records_lib.iso(end)}) must be after --since")
    return Window(start, end)


def read_files(paths: Sequence[Path]) -> Records:
    """The records of saved log files (`modal app logs` output or any file of such lines)."""
    found = Records()
    for path in paths:
        try:
            # Only a regular file: a FIFO would block and a device never end.
            with open_regular(path) as binary:
                stream = io.TextIOWrapper(binary, encoding="utf-8", errors="replace")
                found.extend(records_lib.parse_lines(stream, str(path)))
        except NotARegularFile as exc:
            raise ObserveError(f"{exc}: --from-logs reads saved log files") from None
        except OSError as exc:
            raise ObserveError(f"cannot read {path}: {exc.strerror or exc}") from None
    return found


def observe(
    fleet: Fleet,
    strategy: str,
    models: Sequence[str] = (),
    *,
    since: str | None = None,
    until: str | None = None,
    environment: str | None = None,
    log_files: Sequence[Path] = (),
    now: datetime | None = None,
) -> Observation:
    """The records of `strategy` (and `models`, default all) in the period, summed.

    With log_files: read those (no credentials). Otherwise each model's app on Modal, over
    --since (default 7d); an app that does not exist is an error when the model was named,
    skipped with a note otherwise (a model of models.yaml need not be deployed).
    Raises ObserveError, logs.LogsError or observe.RecordError.
    """
    now = now or datetime.now(UTC)
    notes: list[str] = []
    window = window_for(since, until, now)
    if log_files:
        found = read_files(log_files)
        source = ", ".join(map(str, log_files))
    else:
        from .logs import UnknownApp, read_app

        window = window or window_for(DEFAULT_SINCE, None, now)
        found = Records()
        for name in models or list(fleet.models):
            app = fleet.models[name].app_name
            try:
                found.extend(read_app(app, environment, window, now))
            except UnknownApp:
                if models:
                    raise
                notes.append(f"{name}: not deployed (no app {app!r}); skipped")
        source = "the Modal logs of " + ", ".join(
            fleet.models[name].app_name for name in models or fleet.models
        )
    window = window or records_lib.window_of(found)
    kept = records_lib.within(found, window, strategy, models) if window else Records()
    if not kept.requests and not kept.cold_starts:
        period = f" from {window.label()}" if window else ""
        skipped = f" ({'; '.join(notes)})" if notes else ""
        raise ObserveError(
            f"no modalfleet records of strategy {strategy!r}{period} in {source}{skipped}: are "
            "the handlers rendered by a modalfleet that writes them, deployed and serving?"
        )
    return Observation(
        strategy=strategy,
        window=window,
        records=kept,
        observed=tuple(records_lib.summarize(kept)),
        notes=tuple(notes),
    )


def write_traces(directory: Path, observation: Observation) -> list[Path]:
    """DIR/<strategy>/<model>.txt for each model with requests: the estimated arrivals."""
    folder = Path(directory) / observation.strategy
    texts = {}
    for model in dict.fromkeys(r.model for r in observation.records.requests):
        times = records_lib.arrivals(observation.records, model, observation.window)
        texts[folder / f"{model}.txt"] = records_lib.trace_text(
            times, model, observation.strategy, observation.window
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        replace_files({path: (_text_or_none(path), text) for path, text in texts.items()})
    except (OSError, EditError) as exc:
        raise ObserveError(f"cannot write the traces in {folder}: {exc}") from None
    return list(texts)


def _text_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def write_measured(root: Path, observation: Observation, fleet: Fleet) -> tuple[str, list[str]]:
    """Write the figures enough records back into models.yaml. Returns what changed, one line a
    figure, and what was left out (too few samples, a GPU gpus.yaml does not know)."""
    unknown = [o for o in observation.observed if fleet.catalog.resolve(o.gpu) is None]
    known = [o for o in observation.observed if o not in unknown]
    found = records_lib.measured(known)
    path = Path(root) / MODELS_FILE
    lines = []
    for m in found:
        lines += [
            f"observe: {MODELS_FILE} {m.model} seconds_per_request {gpu}: {value:.2f} s "
            f"(p50 of {count} requests)"
            for gpu, (value, count) in m.seconds.items()
        ]
        lines += [
            f"observe: {MODELS_FILE} {m.model} cold_start_s {gpu}: {value:.2f} s "
            f"(p50 of {count} cold starts)"
            for gpu, (value, count) in m.cold_start.items()
        ]
    short = [
        f"observe: {o.model} on {o.gpu}: too few samples to record ({o.served} requests, "
        f"{o.containers} cold starts; needs {records_lib.MIN_REQUESTS} or "
        f"{records_lib.MIN_COLD_STARTS})"
        for o in known
        if o.served < records_lib.MIN_REQUESTS and o.containers < records_lib.MIN_COLD_STARTS
    ]
    short += [
        f"observe: {o.model} ran on {o.gpu!r}, which gpus.yaml does not know: not recorded"
        for o in unknown
    ]
    if not found:
        return "", short
    try:
        before = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ObserveError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        after = records_lib.with_measured(before, found, observation.window)
        replace_files({path: (before, after)})
    except EditError as exc:
        raise ObserveError(str(exc)) from None
    lines += sources_after(root, observation.strategy, [m.model for m in found])
    return "\n".join(lines), short


def sources_after(root: Path, strategy: str, models: Sequence[str]) -> list[str]:
    """One line per model: the seconds per request and cold start the simulation now takes on
    each GPU of the strategy, with their sources, from the fleet as written."""
    loaded = load_fleet(root)
    if not loaded.ok:
        return [f"observe: {MODELS_FILE} no longer validates: run `modalfleet validate`"]
    fleet = loaded.fleet
    out = []
    for model in models:
        try:
            servings = [
                serving_policy(fleet, model, strategy, gpu=gpu)
                for gpu in deployment(fleet, strategy, model).gpus
            ]
        except CostError as exc:
            out.append(f"observe: {exc}")
            continue
        out.append(sources_line(model, strategy, servings))
    return out
