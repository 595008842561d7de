"""The two failures a handler reports on purpose, as opposed to bugs."""

from __future__ import annotations


class InputError(ValueError):
    """The request's content cannot be served: no face found, unknown adapter, unreadable media.

    Web endpoints answer it with HTTP 422 and the message; it is the caller's to fix.
    """


class UpstreamError(RuntimeError):
    """Code the handler drives (SeedVR2's upstream code, ffmpeg) is missing or failed, or a
    request ran out of its time budget.

    The message names the tool and what it said; it is the operator's to fix.
    """


class FieldError(InputError):
    """One field of the request cannot be served as sent (num_frames not 4k+1, a truncated
    upload): web endpoints answer HTTP 422 with the field's location, as pydantic reports its
    own errors, and `type` says which kind of refusal it is."""

    type = "value_error"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class LimitError(FieldError):
    """A request field is beyond what this model serves on its GPU (runtime/limits.py)."""

    type = "limit"


def http_status(error: BaseException) -> int:
    """The HTTP status a web endpoint answers for this error: 422 for the request's content, 502
    for a tool the handler drives, the status an HTTPException carries, 500 for anything else."""
    if isinstance(error, InputError):
        return 422
    if isinstance(error, UpstreamError):
        return 502
    status = getattr(error, "status_code", None)  # fastapi.HTTPException, without importing it
    return status if isinstance(status, int) else 500
