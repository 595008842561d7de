"""The FastAPI apps the generated handlers serve, and the one way all of them refuse a request.

Every app is made by new_app(), which answers a body FastAPI cannot validate with HTTP 422 and,
per error, where it is (`loc`), what is wrong (`msg`) and pydantic's `type`: never the input.
FastAPI's own handler echoes the input, so a 5 MB prompt came back whole, and a NaN or Infinity
in the body (Python's JSON reader takes them, pydantic refuses them) made the echo itself fail,
a 500, since JSON has no NaN. At most MAX_ERRORS errors are listed and every string is cut at
MAX_TEXT characters, so a refusal stays small whatever was sent (about 1.5 KB at most).

- sync_app: the image kinds' endpoint, POST / on the GPU class, one request record per POST
  (runtime/records.py), the validation refusals included.
- jobs.job_app: the video kinds' submit/poll endpoint (its jobs log their own records).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import FieldError, InputError, UpstreamError, http_status
from .records import Records

MAX_ERRORS = 10
MAX_TEXT = 100


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def error_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as a 422's detail: loc, msg and type of each, no input, bounded."""
    detail = []
    for error in errors[:MAX_ERRORS]:
        error = error if isinstance(error, dict) else {}
        loc = [
            part if isinstance(part, int) and not isinstance(part, bool) else _cut(str(part))
            for part in error.get("loc", ())
        ]
        detail.append(
            {
                "loc": loc,
                "msg": _cut(str(error.get("msg", ""))),
                "type": _cut(str(error.get("type", ""))),
            }
        )
    if len(errors) > MAX_ERRORS:
        detail.append(
            {
                "loc": ["body"],
                "msg": f"{len(errors) - MAX_ERRORS} more errors not shown",
                "type": "too_many_errors",
            }
        )
    return detail


async def _refuse_invalid(request: Any, error: Any) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=422, content={"detail": error_detail(error.errors())})


def new_app(title: str) -> Any:
    """A FastAPI app whose validation errors are answered by error_detail()."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError

    app = FastAPI(title=title)
    app.add_exception_handler(RequestValidationError, _refuse_invalid)
    return app


def refusal(error: InputError | UpstreamError) -> Any:
    """The HTTPException for a request the handler refused: an error about one field names it
    where pydantic puts its own errors; other content errors are 422 with the message, a
    failed tool 502."""
    from fastapi import HTTPException

    if isinstance(error, FieldError):
        detail: Any = [{"loc": ["body", error.field], "msg": str(error), "type": error.type}]
    else:
        detail = str(error)
    return HTTPException(status_code=http_status(error), detail=detail)


class RequestRecords:
    """ASGI middleware: a request record for every request with one of `methods`, with the
    status it was answered (500 when an exception escaped the app)."""

    def __init__(self, app: Any, records: Records, methods: Sequence[str] = ("POST",)):
        self.app = app
        self.records = records
        self.methods = set(methods)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in self.methods:
            await self.app(scope, receive, send)
            return
        started = time.time()
        status = 500

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.records.request(started, time.time(), status)


def sync_app(request_model: type, respond: Callable[[Any], Any], records: Records) -> Any:
    """POST / with a JSON body of request_model -> respond(request), recorded per request."""
    from fastapi.middleware.cors import CORSMiddleware

    app = new_app("modalfleet endpoint")

    def generate(request: Any) -> Any:
        return respond(request)

    # The body's model is known only at run time: FastAPI reads it from the signature.
    parameter = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request_model
    )
    generate.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    app.add_api_route("/", generate, methods=["POST"])
    # What Modal's wrapper for a fastapi_endpoint allowed browsers, kept for the same callers.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(RequestRecords, records=records)
    return app
