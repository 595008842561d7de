"""The SDK boundary for Modal's billing report: rows in, our own plain rows out.

modal 1.6.4 serves the report as `modal.Workspace.from_context().billing.report(start=, end=,
resolution=, tag_names=)`: one `modal.types.BillingReportItem` per object (an app) per interval,
with its cost, its cost by resource (CPU, memory, each GPU type) and the requested tags. The
older `modal.billing.workspace_billing_report()` is deprecated and drops the resource breakdown.
modal is imported inside fetch_report only; spend.py works on BillingRow and never sees modal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# The tags deploy sets on every app it creates (see the generated modules' modal.App(tags=...)).
TAG_MODEL = "model"
TAG_STRATEGY = "strategy"
TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "modalfleet"
TAG_NAMES = (TAG_MODEL, TAG_STRATEGY, TAG_MANAGED_BY)

NO_CREDENTIALS = "no Modal credentials found: run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"


@dataclass(frozen=True)
class BillingRow:
    """What one object cost during one interval (start inclusive; the resolution gives its length)."""

    object_id: str
    description: str  # for an app: its name
    environment: str
    interval_start: datetime
    cost: Decimal
    cost_by_resource: dict[str, Decimal] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class BillingError(Exception):
    """The report cannot be read; the message is one sentence for the user."""


def row_from_item(item: Any) -> BillingRow:
    """A BillingReportItem (or a mapping with the same keys) as a BillingRow."""

    def get(key: str, default: Any = None) -> Any:
        if isinstance(item, dict):
            return item.get(key, default)
        return getattr(item, key, default)

    return BillingRow(
        object_id=str(get("object_id", "")),
        description=str(get("description", "")),
        environment=str(get("environment_name", "")),
        interval_start=get("interval_start"),
        cost=Decimal(str(get("cost", 0))),
        cost_by_resource={
            str(k): Decimal(str(v)) for k, v in (get("cost_by_resource") or {}).items()
        },
        tags={str(k): str(v) for k, v in (get("tags") or {}).items()},
    )


def fetch_report(start: datetime, end: datetime, resolution: str = "d") -> list[BillingRow]:
    """The workspace billing report between start (inclusive) and end (exclusive), in UTC.

    Raises BillingError with one sentence: no credentials, no billing access, Modal unreachable.
    """
    from .modal_backend import BackendError, bounded_connect, config_problem, find_credentials

    problem = config_problem()
    if problem is not None:
        raise BillingError(problem)
    if find_credentials() is None:
        raise BillingError(NO_CREDENTIALS)
    import modal
    import modal.exception as errors
    from grpclib.exceptions import StreamTerminatedError  # a server that hangs up mid-call

    try:
        # A few connection attempts and a time bound: an unreachable or silent server fails in
        # seconds (MODALFLEET_CONNECT_TIMEOUT) instead of the SDK's minutes of retries.
        bounded_connect()
        workspace = modal.Workspace.from_context()
        items = workspace.billing.report(
            start=start, end=end, resolution=resolution, tag_names=list(TAG_NAMES)
        )
    except BackendError as exc:  # the server did not answer the hello in time
        raise BillingError(
            f"cannot reach Modal to read the billing report: {exc.message}"
        ) from None
    except errors.AuthError:
        raise BillingError(NO_CREDENTIALS + " (the ones configured were refused)") from None
    except (errors.PermissionDeniedError, errors.UnimplementedError) as exc:
        raise BillingError(
            f"this Modal workspace has no access to billing reports (plan or role): {_first_line(exc)}"
        ) from None
    except (errors.ConnectionError, ConnectionError, TimeoutError, StreamTerminatedError) as exc:
        raise BillingError(
            f"cannot reach Modal to read the billing report: {_first_line(exc)}"
        ) from None
    except errors.Error as exc:
        raise BillingError(
            f"Modal refused the billing report: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    return [row_from_item(item) for item in items]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
