"""Asynchronous jobs for the video kinds: a clip takes minutes, past Modal's 150 s web limit.

    POST /submit        a JSON GenerateRequest -> 202 {"job_id": ..., "result": "/result/<id>"}
                        (422 for a bad or over-limit request, before anything is spawned)
    GET  /result/<id>   202 while running, 200 with the file, 404 for an unknown id,
                        500 with the error of a failed job

A job is a spawned Modal function call (its id is the job id); the job writes its output to the
outputs Volume as <job id><suffix> and returns that name, so the file never travels through the
call's return value, with its timing beside it as <job id>.timing.json (the result's
X-Queue-Seconds, X-Load-Seconds and X-Inference-Seconds headers). Outputs older than the
retention window are deleted at each submit.
Where jobs run is a Jobs backend: ModalJobs in the container, a local one in the tests.

/result reads <job id>.png or <job id>.mp4, built from the job id it was asked for once that id
matched JOB_ID whole; the job's return value only says that it is done (a value that is not
the name, or names another file, changes nothing). A submit refused with 422 spawns nothing:
prepare() checks every field the job would refuse (the kind module's `check`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from . import webapp
from .errors import InputError, UpstreamError

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # matched whole (fullmatch): no trailing newline
MEDIA_TYPES = {".mp4": "video/mp4", ".png": "image/png"}
TIMING_SUFFIX = ".timing.json"
# Seconds a job spent waiting for a container (submit to start), in that container's cold start
# (on the first job it served, else 0) and generating: the result's headers.
TIMING_HEADERS = {
    "queue_s": "X-Queue-Seconds",
    "load_s": "X-Load-Seconds",
    "inference_s": "X-Inference-Seconds",
}


class Jobs(Protocol):
    def submit(self, fields: dict[str, Any], submitted_at: float) -> str:
        """Start a job (submitted_at: time.time() at the submit); its id."""

    def poll(self, job_id: str) -> tuple[str, Any]:
        """("running", None), ("done", output file name), ("failed", message) or ("unknown", None)."""


class ModalJobs:
    """Jobs as Modal function calls: `.spawn()`, then `FunctionCall.from_id(id).get(timeout=0)`."""

    def __init__(self, method: Any):
        self.method = method  # Model().run_job

    def submit(self, fields: dict[str, Any], submitted_at: float) -> str:
        return self.method.spawn(fields, "", submitted_at).object_id

    def poll(self, job_id: str) -> tuple[str, Any]:
        import modal
        from modal.exception import NotFoundError

        try:
            return "done", modal.FunctionCall.from_id(job_id).get(timeout=0)
        except TimeoutError:
            return "running", None
        except NotFoundError:
            return "unknown", None
        except Exception as error:  # the job's own exception, re-raised by get()
            return "failed", f"{type(error).__name__}: {error}"


def output_suffix(content: bytes) -> str:
    return ".png" if content.startswith(b"\x89PNG") else ".mp4"


def job_timing(submitted_at: float, started: float, load_s: float, now: float) -> dict[str, float]:
    """A job's seconds: queued (submit to start; 0 when it was not submitted), the container's
    cold start it paid for, and its own generation."""
    queued = max(0.0, started - submitted_at) if submitted_at else 0.0
    return {
        "queue_s": round(queued, 3),
        "load_s": round(load_s, 3),
        "inference_s": round(max(0.0, now - started), 3),
    }


def _write_atomically(target: Path, content: bytes) -> None:
    """A reader never sees half a file: written beside it, then renamed over it."""
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, target)


def save_output(
    folder: str, job_id: str, content: bytes, timing: dict[str, float] | None = None
) -> str:
    """Write a job's output as <job id><suffix>, its timing first (so an output has one)."""
    name = f"{job_id}{output_suffix(content)}"
    target = Path(folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if timing is not None:
        _write_atomically(target.with_name(job_id + TIMING_SUFFIX), json.dumps(timing).encode())
    _write_atomically(target, content)
    return name


def timing_headers(folder: str, job_id: str) -> dict[str, str]:
    """The result's timing headers from the job's sidecar; none when it has none or is unreadable."""
    try:
        timing = json.loads((Path(folder) / (job_id + TIMING_SUFFIX)).read_text())
        return {header: f"{float(timing[key]):.3f}" for key, header in TIMING_HEADERS.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def prune(folder: str, retention_s: float, now: float | None = None) -> list[str]:
    """Delete outputs older than retention_s; the names deleted."""
    now = time.time() if now is None else now
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for path in sorted(root.iterdir()):
        if path.is_file() and now - path.stat().st_mtime > retention_s:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def output_path(folder: str, job_id: str) -> Path | None:
    """The finished job's file, named from its id alone; None when there is none."""
    for suffix in MEDIA_TYPES:
        path = Path(folder) / f"{job_id}{suffix}"
        if path.is_file():
            return path
    return None


def job_app(
    request_model: Any,
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
    jobs: Jobs,
    outputs_dir: str,
    reload_outputs: Callable[[], None],
    retention_s: float,
):
    """The FastAPI app of a video kind's web endpoint (see the module docstring)."""
    from fastapi import Body, HTTPException, Response
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    app = webapp.new_app("modalfleet job endpoint")

    @app.post("/submit", status_code=202)
    def submit(body: dict = Body(...)) -> dict[str, str]:  # noqa: B008  (FastAPI's idiom)
        try:
            request = request_model.model_validate(body)
        except ValidationError as error:
            # Located in the body, as FastAPI reports a body it validates itself.
            found = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
            raise RequestValidationError(found) from None
        try:
            fields = prepare(request.model_dump())
        except (InputError, UpstreamError) as error:
            raise webapp.refusal(error) from None
        prune(outputs_dir, retention_s)
        job_id = jobs.submit(fields, time.time())
        return {"job_id": job_id, "result": f"/result/{job_id}"}

    @app.get("/result/{job_id}")
    def result(job_id: str) -> Response:
        if not JOB_ID.fullmatch(job_id):
            raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
        state, value = jobs.poll(job_id)
        if state == "unknown":
            raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
        if state == "running":
            return Response(status_code=202, content=b'{"status": "running"}')
        if state == "failed":
            raise HTTPException(status_code=500, detail=str(value))
        reload_outputs()  # the job committed from another container
        path = output_path(outputs_dir, job_id)
        if path is None:
            raise HTTPException(
                status_code=404, detail=f"job {job_id!r} output is gone (retention window)"
            )
        return Response(
            content=path.read_bytes(),
            media_type=MEDIA_TYPES[path.suffix],
            headers=timing_headers(outputs_dir, job_id),
        )

    return app
