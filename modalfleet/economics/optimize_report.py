"""`optimize` as text, JSON or a YAML snippet: each model's candidates and each strategy's gap."""

from __future__ import annotations

from ..report.money import pct, usd, usd_rate
from ..report.numbers import number, seconds_text
from ..report.tables import table
from .cost import per_period
from .cost_report import estimate_label
from .headline import (
    BILL_LABEL,
    TargetCheck,
    bill,
    busy_line,
    check_of,
    target_lines,
)
from .optimize import Optimization
from .policy_search import PolicySearch


def to_yaml(result: Optimization) -> str:
    label = (
        f"estimate, {result.speed_model} speed model" if result.is_estimate else result.speed_model
    )
    lines = [
        f"# modalfleet optimize: cheapest feasible GPU per model (objective {result.objective}, "
        f"seconds: {label})",
        "# the chosen GPU per model; `modalfleet optimize --write <name>` adds them to models.yaml",
        "# as strategy <name> and writes strategies/<name>.yaml",
        "gpu:",
    ]
    for choice in result.choices:
        if choice.chosen is None:
            lines.append(f"  # {choice.model.name}: no feasible GPU ({choice.reason})")
        else:
            lines.append(f"  {choice.model.name}: {choice.chosen.gpu.name}")
    return "\n".join(lines)


def to_dict(result: Optimization) -> dict:
    def money(value):
        return None if value is None else number(value)

    return {
        "objective": result.objective,
        "speed_model": result.speed_model,
        "estimate": result.is_estimate,
        "models": [
            {
                "model": choice.model.name,
                "chosen": choice.chosen.gpu.name if choice.chosen else None,
                "reason": choice.reason or None,
                "candidates": [
                    {
                        "gpu": cand.gpu.name,
                        "vram_gb": cand.gpu.vram_gb,
                        "vram_need_gb": cand.need_gb,
                        "fits": cand.fits,
                        "dtype_ok": cand.dtype_ok,
                        "seconds_per_request": money(cand.seconds.value if cand.seconds else None),
                        "seconds_source": cand.seconds.source if cand.seconds else None,
                        "meets_latency": cand.meets_latency,
                        "cost_per_request": money(cand.cost_per_request),
                        "cost": money(cand.daily),
                        "feasible": cand.feasible,
                        "chosen": cand is choice.chosen,
                        "note": choice.note_for(cand),
                    }
                    for cand in choice.candidates
                ],
            }
            for choice in result.choices
        ],
        "optimum_total": number(result.optimum_daily),
        "strategies": [
            {
                "strategy": gap.strategy,
                "total": number(gap.daily),
                "optimum_total": number(gap.optimum_daily),
                "gap": number(gap.gap),
                "gap_pct": None if gap.gap_pct is None else round(float(gap.gap_pct), 2),
                "left_out": list(gap.left_out),
            }
            for gap in result.gaps
        ],
    }


def format_text(result: Optimization) -> str:
    lines = [
        f"Cheapest feasible GPU per model (objective {result.objective}, per day)"
        f"{estimate_label(result.is_estimate, result.speed_model)}"
    ]
    header = [
        "GPU",
        "VRAM",
        "FITS?",
        "DTYPE OK?",
        "EST. S",
        "LATENCY OK?",
        "$/REQUEST",
        "$/DAY",
        "CHOSEN",
        "NOTE",
    ]
    right = [False, True, False, False, True, False, True, True, False, False]
    for choice in result.choices:
        model = choice.model
        target = f"{model.latency_target_s:g} s" if model.latency_target_s is not None else "none"
        lines += [
            "",
            f"{model.name} (needs {choice.candidates[0].need_gb:g} GB, {model.dtype}, latency target {target})",
        ]
        rows = []
        for cand in choice.candidates:
            rows.append(
                [
                    cand.gpu.name,
                    f"{cand.gpu.vram_gb:g} GB",
                    "yes" if cand.fits else "no",
                    ("yes" if cand.dtype_ok else "no")
                    + (" *" if cand.dtype_ok and cand.dtype_note else ""),
                    "-"
                    if cand.seconds is None
                    else f"{seconds_text(cand.seconds.value)} {cand.seconds.source}",
                    "yes" if cand.meets_latency else "no",
                    "-" if cand.cost_per_request is None else usd_rate(cand.cost_per_request),
                    "-" if cand.daily is None else usd(cand.daily),
                    "\u2714" if cand is choice.chosen else "",
                    choice.note_for(cand),
                ]
            )
        # On a narrow terminal the note goes first, then $/request and the yes/no columns.
        fitted = table(header, rows, right, drop=(9, 6, 3, 2), indent=2)
        lines += ["  " + line for line in fitted]
        if choice.chosen is None:
            lines.append(f"  no feasible GPU: {choice.reason}")
    lines += ["", "Strategies against the optimum (models with a feasible GPU):"]
    rows = [
        [
            gap.strategy,
            usd(gap.daily),
            usd(gap.optimum_daily),
            usd(gap.gap, sign=True),
            pct(gap.gap_pct),
        ]
        for gap in result.gaps
    ]
    lines += [
        "  " + line
        for line in table(
            ["STRATEGY", "$/DAY", "OPTIMUM $/DAY", "GAP", "GAP %"],
            rows,
            [False, True, True, True, True],
        )
    ]
    left_out = result.gaps[0].left_out if result.gaps else ()
    if left_out:
        lines.append(f"left out (no feasible GPU): {', '.join(left_out)}")
    return "\n".join(lines)


def search_checks(policies: PolicySearch) -> tuple[TargetCheck, ...]:
    """Each model's p95 under its chosen policy; where none meets the target, the best p95 the
    search found (MISSED). Models no GPU can run are left out (the search says why)."""
    found = []
    for model in policies.models:
        if model.chosen is not None:
            found.append(check_of(model.chosen.sim))
            continue
        served = [e for e in model.evaluated if e.p95 is not None]
        if served:
            found.append(check_of(min(served, key=lambda e: e.p95).sim))
    return tuple(found)


def format_report(result: Optimization, policies: PolicySearch) -> str:
    """optimize as text: the bill of the chosen serving policies leads, with each model's p95;
    the document's busy-seconds optimum follows on one labelled line; then the search and the
    cheapest feasible GPU per model."""
    from . import policy_report

    met = [m for m in policies.models if m.chosen is not None]
    checks = search_checks(policies)
    lines = [
        f"{BILL_LABEL} of the chosen serving policies: {bill(policies.total_per_day)}",
        f"  for the {len(met)} of {len(policies.models)} models with a policy that meets its "
        f"target ({policies.days} days of arrivals)",
        *[f"  {line}" for line in target_lines(checks, optimized=True)],
        busy_line(
            f"{usd(result.optimum_daily)}/day on the cheapest feasible GPU per model "
            f"({usd(per_period(result.optimum_daily, 'month'))}/month)"
            + estimate_label(result.is_estimate, result.speed_model)
        ),
    ]
    return "\n\n".join(["\n".join(lines), policy_report.format_text(policies), format_text(result)])
