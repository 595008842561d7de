"""`optimize` as text, JSON or a YAML snippet: each model's candidates and each strategy's gap."""

from __future__ import annotations

from ..report.money import pct, usd, usd_rate
from ..report.numbers import number, seconds_text
from ..report.tables import table
from .cost_report import estimate_label
from .optimize import Optimization


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
        lines += ["  " + line for line in table(header, rows, right)]
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
