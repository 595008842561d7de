"""`observe` as text or JSON: per model and GPU, what the containers recorded."""

from __future__ import annotations

from collections.abc import Sequence

from ..report.tables import table
from .observe import Observed, Window, iso
from .serving import Serving


def _round(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(value, places)


def to_dict(observed: Sequence[Observed], window: Window) -> dict:
    """The contract of issue #24; `errors` counts requests with status >= 500."""
    return {
        "since": iso(window.since),
        "until": iso(window.until),
        "models": [
            {
                "model": o.model,
                "strategy": o.strategy,
                "gpu": o.gpu,
                "requests": o.requests,
                "containers": o.containers,
                "seconds_per_request_p50": _round(o.seconds_per_request_p50),
                "seconds_per_request_p95": _round(o.seconds_per_request_p95),
                "cold_start_s_p50": _round(o.cold_start_s_p50),
                "cold_start_s_p95": _round(o.cold_start_s_p95),
                "cold_start_rate": round(o.cold_start_rate, 4),
                "errors": o.errors,
            }
            for o in observed
        ],
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_text(observed: Sequence[Observed], window: Window) -> str:
    days = f"{window.days:g} day" + ("" if window.days == 1 else "s")
    lines = [f"Observed {window.label()} ({days}): what the containers recorded", ""]
    header = (
        "model",
        "gpu",
        "requests",
        "containers",
        "s/request p50",
        "p95",
        "cold start p50",
        "p95",
        "waited cold",
        "errors",
    )
    rows = [
        (
            o.model,
            o.gpu,
            str(o.requests),
            str(o.containers),
            _seconds(o.seconds_per_request_p50),
            _seconds(o.seconds_per_request_p95),
            _seconds(o.cold_start_s_p50),
            _seconds(o.cold_start_s_p95),
            f"{o.cold_start_rate:.1%}",
            f"{o.errors} ({o.error_rate:.1%})",
        )
        for o in observed
    ]
    lines += table(header, rows, right=(False, False, *([True] * 8)))
    phases = [
        f"  {o.model} on {o.gpu}: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in o.phases_p50)
        + (
            f" ({o.restored} of {o.containers} containers restored from a memory snapshot: "
            "their cold start is counted from the post-snapshot hook, their phases are the "
            "GPU ones)"
            if o.restored
            else ""
        )
        for o in observed
        if o.phases_p50
    ]
    if phases:
        lines += ["", "Cold start phases (median):", *phases]
    lines += [
        "",
        "s/request: finished - started, requests with status < 500. cold start: ready - "
        "container start.",
        "waited cold: the share of requests that waited for their container's cold start. "
        "errors: status >= 500.",
    ]
    return "\n".join(lines)


def _source(source: str) -> str:
    return "ESTIMATE" if source == "estimate" else source


def sources_line(model: str, strategy: str, servings: Sequence[Serving]) -> str:
    """What the simulation takes for `model` after --write, on each GPU of the strategy, and
    where each figure comes from (measured, flat, ESTIMATE): read back from models.yaml, so a
    figure observe wrote shows as measured only if the fleet reads it so."""
    parts = [
        f"{s.gpu} {float(s.seconds.value):g} s/request {_source(s.seconds.source)}, cold start "
        f"{s.cold_start.seconds:g} s {_source(s.cold_start.source)}"
        for s in servings
    ]
    return f"observe: {model} under {strategy} is now simulated with " + "; ".join(parts)
