"""`optimize --write STRATEGY`: the search's choices written into models.yaml and the strategy
file through the round-trip editor (comments and order kept, only changed values move), both
files or neither."""

from __future__ import annotations

from pathlib import Path

from ..fleet.load import MODELS_FILE, STRATEGIES_DIR
from ..fleet.yamledit import (
    EditError,
    replace_files,
    with_model_containers,
    with_strategy_gpus,
)
from .policy_search import PolicySearch, PolicyWrite


def new_strategy_text(change: PolicyWrite, found: PolicySearch) -> str:
    """The skeleton of a strategy that does not exist yet; its containers are the searched
    strategy's, its per-model settings are added by with_model_containers."""
    containers = dict(change.new_strategy_containers or {})
    if containers.get("max_inputs", 1) == 1:
        containers.pop("max_inputs", None)
    lines = [
        "# yaml-language-server: $schema=../modalfleet/schema/strategy.schema.json",
        f"# Written by `modalfleet optimize --write {change.strategy}`: per model, the cheapest",
        "# serving policy whose p95 latency met its target on the simulated autoscaler",
        f"# (ESTIMATE, {found.days} days of arrivals; limits of strategy {found.strategy}).",
        "version: 1",
        f"name: {change.strategy}",
        "goal: The cheapest simulated serving policy per model within its latency target.",
        "compare_to: baseline",
        "containers:",
        *(f"  {key}: {value}" for key, value in containers.items()),
    ]
    return "\n".join(lines) + "\n"


def _yaml_value(value: int | bool) -> str:
    """A setting as the file now says it: gpu_snapshot true, not True (alpha: said so)."""
    if isinstance(value, bool):
        return ("true" if value else "false") + " (alpha)"
    return str(value)


def write_policy(root: Path, change: PolicyWrite, found: PolicySearch) -> str:
    """Edit the files; returns one line per file saying what changed (or that nothing did)."""
    root = Path(root)
    models_path = root / MODELS_FILE
    strategy_path = root / STRATEGIES_DIR / f"{change.strategy}.yaml"
    try:
        models_before = models_path.read_text(encoding="utf-8")
        strategy_before = (
            strategy_path.read_text(encoding="utf-8") if strategy_path.exists() else None
        )
    except OSError as exc:
        raise EditError(f"cannot read {exc.filename}: {exc.strerror}") from None
    models_after = with_strategy_gpus(models_before, change.strategy, change.gpus)
    skeleton = strategy_before
    if skeleton is None:
        skeleton = new_strategy_text(change, found)
    strategy_after = skeleton
    if change.containers:
        name = f"{STRATEGIES_DIR}/{change.strategy}.yaml"
        strategy_after = with_model_containers(skeleton, name, change.containers)
    replace_files(
        {
            strategy_path: (strategy_before, strategy_after),
            models_path: (models_before, models_after),
        }
    )
    lines = []
    gpus = ", ".join(f"{m} {g}" for m, g in change.gpus.items()) or "none changed"
    lines.append(f"optimize: {MODELS_FILE} gpu.{change.strategy}: {gpus}")
    state = "created" if strategy_before is None else "updated"
    if strategy_after == strategy_before:
        state = "unchanged"
    settings = "; ".join(
        f"{m} " + ", ".join(f"{k} {_yaml_value(v)}" for k, v in s.items())
        for m, s in change.containers.items()
    )
    lines.append(
        f"optimize: {STRATEGIES_DIR}/{change.strategy}.yaml {state}"
        + (f": {settings}" if settings else "")
    )
    if change.kept:
        lines.append(
            f"optimize: no policy met the latency target of {', '.join(change.kept)}: left as it is"
        )
    lines.append("optimize: run `modalfleet render` and review the diff")
    return "\n".join(lines)
