"""The SDK boundary for the containers' records: an app's logs over a period, as records.

modal 1.6.4 serves an app's logs as `modal.App.lookup(name, environment_name=).logs.fetch(
since=, until=, source=, search_text=)`: `modal.types.LogEntry` objects (message, timestamp,
source, object_id, context_ids) in time order, over at most 35 days a call and 20,000 entries a
counted bucket. The reader asks for a day at a time (a page), stdout only, lines holding
"modalfleet" only, and keeps an entry in the page whose [since, until) holds its timestamp, so an
entry on a page boundary is read once. The records are then cut to the period by their own
times (economics/observe.within): a request belongs to the period it started in, so the last
page reaches LATE_S past the period's end for the requests that finished after it.
modal is imported inside read_app only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..economics.observe import RecordError, Records, Window, parse_line
from .billing import _first_line

NO_CREDENTIALS = (
    "no Modal credentials found: run `modal token new`, or set MODAL_TOKEN_ID and "
    "MODAL_TOKEN_SECRET (or read saved logs with --from-logs, which needs none)"
)
PAGE = timedelta(days=1)
# A request records itself when it finishes: one started before the period's end is read up to
# this long after it (the longest handler timeout the fleet allows is an hour).
LATE_S = timedelta(hours=1)
SEARCH_TEXT = "modalfleet"

# fetch(since, until) -> the LogEntry objects of that page
Fetch = Callable[[datetime, datetime], Iterable[Any]]


class LogsError(Exception):
    """The logs cannot be read; the message is one sentence for the user."""


class UnknownApp(LogsError):
    """No app of that name in the environment."""


def pages(window: Window, now: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) pages of at most PAGE covering the window and LATE_S after it (not past
    now: Modal has nothing later)."""
    end = min(window.until + LATE_S, max(now, window.since + timedelta(seconds=1)))
    out = []
    start = window.since
    while start < end:
        stop = min(start + PAGE, end)
        out.append((start, stop))
        start = stop
    return out


def records_from_entries(fetch: Fetch, window: Window, source: str, now: datetime) -> Records:
    """Every record of the app's log entries over the window, page by page. A record's line
    number is its line among the stdout lines read, counted from 1 (errors say `source:N`)."""
    found = Records()
    number = 0
    for since, until in pages(window, now):
        for entry in fetch(since, until):
            stamp = entry.timestamp
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            if not since <= stamp < until:
                continue  # the page next to it holds it
            for line in str(entry.message).splitlines():
                number += 1
                found.add(parse_line(line, source, number))
    return found


def read_app(app_name: str, environment: str | None, window: Window, now: datetime) -> Records:
    """The records app_name's containers logged in the window.

    Raises LogsError (no credentials, an unknown app, Modal unreachable) or RecordError.
    """
    from .modal_backend import BackendError, bounded_connect, config_problem, find_credentials

    problem = config_problem()
    if problem is not None:
        raise LogsError(problem)
    if find_credentials() is None:
        raise LogsError(NO_CREDENTIALS)
    import modal
    import modal.exception as errors
    from grpclib.exceptions import StreamTerminatedError

    where = f" in environment {environment!r}" if environment else ""
    try:
        bounded_connect()
        app = modal.App.lookup(app_name, environment_name=environment)

        def fetch(since: datetime, until: datetime) -> Iterable[Any]:
            return app.logs.fetch(
                since=since, until=until, source="stdout", search_text=SEARCH_TEXT
            )

        return records_from_entries(fetch, window, f"modal app {app_name}", now)
    except RecordError:
        raise
    except BackendError as exc:
        raise LogsError(f"cannot reach Modal to read the logs: {exc.message}") from None
    except errors.AuthError:
        raise LogsError(NO_CREDENTIALS + " (the ones configured were refused)") from None
    except errors.NotFoundError:
        raise UnknownApp(
            f"no app named {app_name!r}{where}: deploy it first (modalfleet deploy), or pass --env"
        ) from None
    except (errors.ConnectionError, ConnectionError, TimeoutError, StreamTerminatedError) as exc:
        raise LogsError(f"cannot reach Modal to read the logs: {_first_line(exc)}") from None
    except errors.Error as exc:
        raise LogsError(
            f"Modal refused the logs of {app_name!r}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
