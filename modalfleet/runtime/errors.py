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


class LimitError(InputError):
    """A request field is beyond what this model serves on its GPU (runtime/limits.py).

    Web endpoints answer HTTP 422 with the field's location, as pydantic reports its own errors.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
