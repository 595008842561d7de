"""The serving-policy search as text or JSON: each model's frontier, its choice and what binds."""

from __future__ import annotations

from ..report.money import usd
from ..report.numbers import number
from ..report.tables import table
from .policy_search import Evaluated, ModelSearch, PolicySearch, describe

HEADER = ["GPU", "WINDOW", "MIN", "MAX_INPUTS", "$/DAY", "P95", "COLD", "MEETS?", "CHOSEN"]
RIGHT = [False, True, True, True, True, True, True, False, False]
DROP = (3, 6)  # max_inputs, then the cold-start share, on a narrow terminal
# With --allow-alpha: whether the policy takes a GPU snapshot (alpha), and its own cold start.
ALPHA_HEADER = ["SNAPSHOT", "COLD START"]
ALPHA_RIGHT = [False, True]


def _row(item: Evaluated, chosen: Evaluated | None, alpha: bool = False) -> list[str]:
    p = item.policy
    r = item.sim.result
    row = [
        p.gpu,
        f"{p.scaledown_window_s} s",
        str(p.min_containers),
        str(p.max_inputs),
        usd(item.cost_per_day),
        "-" if item.p95 is None else f"{item.p95:.1f} s",
        f"{r.cold_start_rate:.1%}" if r.requests else "-",
        "yes" if item.meets else "no",
        "\u2714" if item is chosen else "",
    ]
    if alpha:
        cold = item.sim.serving.cold_start
        mode = "gpu (alpha)" if p.gpu_snapshot else cold.snapshot or "-"
        row[-1:-1] = [mode, f"{cold.seconds:g} s"]
    return row


def _model_text(found: ModelSearch, alpha: bool = False) -> list[str]:
    target = found.model.latency_target_s
    title = f"{found.model.name} (latency target {'none' if target is None else f'{target:g} s'})"
    lines = ["", title]
    if found.chosen is not None:
        c = found.chosen
        p95 = "no traffic" if c.p95 is None else f"p95 {c.p95:.1f} s"
        cold = c.sim.serving.cold_start.describe()
        lines.append(f"  chosen: {describe(c.policy)}: {usd(c.cost_per_day)}/day, {p95}")
        if alpha:
            lines.append(f"  cold start: {cold}")
    lines.append(f"  binds: {found.binding}")
    if found.ruled_out:
        lines.append(f"  ruled out: {'; '.join(found.ruled_out)}")
    if found.evaluated:
        lines.append("  cost/latency frontier:")
        header, right = HEADER, RIGHT
        if alpha:
            header = HEADER[:-1] + ALPHA_HEADER + HEADER[-1:]
            right = RIGHT[:-1] + ALPHA_RIGHT + RIGHT[-1:]
        rows = [_row(e, found.chosen, alpha) for e in found.frontier]
        lines += ["    " + line for line in table(header, rows, right, DROP, indent=4)]
    return lines


def format_text(search: PolicySearch) -> str:
    lines = [
        f"Serving policy search on the simulated autoscaler ({search.days} days of arrivals, "
        f"max_containers from strategy {search.strategy}) - ESTIMATE",
        f"evaluated {search.evaluated} policies; {search.pruned} skipped by a cost bound "
        "(a policy bills at least its busy seconds and its warm pool)",
    ]
    if search.allow_alpha:
        lines.append(
            "--allow-alpha: Modal's GPU memory snapshot (alpha: deployed apps only, may change or "
            "fail to restore) searched as a choice per model, with its own cold start (ESTIMATE)"
        )
    for found in search.models:
        lines += _model_text(found, search.allow_alpha)
    met = [m for m in search.models if m.chosen is not None]
    lines += [
        "",
        f"chosen policies: {usd(search.total_per_day)}/day for {len(met)} of "
        f"{len(search.models)} models",
    ]
    return "\n".join(lines)


def _evaluated_dict(item: Evaluated, chosen: Evaluated | None) -> dict:
    p = item.policy
    return {
        "gpu": p.gpu,
        "scaledown_window_s": p.scaledown_window_s,
        "min_containers": p.min_containers,
        "max_inputs": p.max_inputs,
        "cost_per_day": number(item.cost_per_day),
        "latency_p95_s": None if item.p95 is None else round(item.p95, 3),
        "cold_start_rate": round(item.sim.result.cold_start_rate, 4),
        "meets_target": item.meets,
        "chosen": item is chosen,
        "gpu_snapshot": p.gpu_snapshot,  # Modal's GPU memory snapshot: alpha
        "cold_start_s": item.sim.serving.cold_start.seconds,
    }


def to_dict(search: PolicySearch) -> dict:
    return {
        "strategy": search.strategy,
        "days": search.days,
        "evaluated": search.evaluated,
        "pruned": search.pruned,
        "estimate": True,
        "allow_alpha": search.allow_alpha,
        "total_per_day": number(search.total_per_day),
        "models": [
            {
                "model": found.model.name,
                "latency_target_s": found.model.latency_target_s,
                "chosen": None
                if found.chosen is None
                else _evaluated_dict(found.chosen, found.chosen),
                "binds": found.binding,
                "ruled_out": list(found.ruled_out),
                "frontier": [_evaluated_dict(e, found.chosen) for e in found.frontier],
            }
            for found in search.models
        ],
    }
