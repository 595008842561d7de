"""A grouped bar chart of cost per model per strategy, written as SVG.

matplotlib is an optional extra (`pip install modalfleet[chart]`) imported only here and only
when a chart is asked for, so `cost` without --chart stays light. The SVG is made reproducible
(fixed hash salt, no date), so a committed chart changes only when the costs do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..fleet.atomic import replace_file
from ..report.money import usd
from .cost import StrategyCost, per_period
from .policy_search import PolicySearch, describe


class ChartError(Exception):
    """The chart could not be written; the message says why."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and never a GUI backend in CI
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartError("--chart needs matplotlib: pip install 'modalfleet[chart]'") from exc
    plt.rcParams["svg.hashsalt"] = "modalfleet"
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, smaller, diffable
    return plt


def write_chart(costs: Sequence[StrategyCost], period: str, path: Path) -> None:
    """Bars: one group per model, one bar per strategy; totals in the legend."""
    plt = _pyplot()
    if not costs:
        raise ChartError("no strategy to chart")

    models = [m.model for m in costs[0].models]
    width = 0.8 / len(costs)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.4 * len(models) + 2), 4.5))
    try:
        for index, strategy in enumerate(costs):
            by_model = {m.model: m for m in strategy.models}
            heights = [
                float(per_period(by_model[name].daily, period)) if name in by_model else 0.0
                for name in models
            ]
            positions = [i + (index - (len(costs) - 1) / 2) * width for i in range(len(models))]
            total = usd(per_period(strategy.daily, period))
            axes.bar(positions, heights, width, label=f"{strategy.strategy} ({total}/{period})")
        axes.set_xticks(range(len(models)), models, rotation=20, ha="right")
        axes.set_ylabel(f"$ per {period}")
        estimate = any(c.has_estimates for c in costs)
        axes.set_title(f"Cost per model per strategy{' (estimate)' if estimate else ''}")
        axes.legend(title="strategy (total)")
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        _save_atomically(figure, Path(path))
    finally:
        plt.close(figure)


def write_frontier_chart(search: PolicySearch, path: Path) -> None:
    """One panel per model with traffic: simulated $/day against p95 latency of every policy
    the search evaluated, the cost/latency frontier joined, the target dashed, the choice ringed."""
    plt = _pyplot()
    models = [m for m in search.models if any(e.p95 is not None for e in m.evaluated)]
    if not models:
        raise ChartError("no model with traffic: nothing to chart")
    columns = min(3, len(models))
    rows = (len(models) + columns - 1) // columns
    figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    try:
        for axes in grid.flat[len(models) :]:
            axes.set_visible(False)
        for axes, found in zip(grid.flat, models, strict=False):
            points = [e for e in found.evaluated if e.p95 is not None]
            axes.scatter(
                [e.p95 for e in points],
                [float(e.cost_per_day) for e in points],
                s=10,
                alpha=0.4,
                label="policies simulated",
            )
            front = [e for e in found.frontier if e.p95 is not None]
            axes.plot(
                [e.p95 for e in front],
                [float(e.cost_per_day) for e in front],
                "-o",
                ms=3,
                label="frontier",
            )
            if found.model.latency_target_s is not None:
                axes.axvline(
                    found.model.latency_target_s,
                    linestyle="--",
                    color="grey",
                    label="latency target",
                )
            if found.chosen is not None and found.chosen.p95 is not None:
                axes.scatter(
                    [found.chosen.p95],
                    [float(found.chosen.cost_per_day)],
                    s=80,
                    facecolors="none",
                    edgecolors="red",
                    label=describe(found.chosen.policy),
                )
            axes.set_xscale("log")
            axes.set_title(found.model.name)
            axes.set_xlabel("p95 latency, s (log)")
            axes.set_ylabel("$ per day")
            axes.legend(fontsize=6)
            axes.grid(alpha=0.3)
        figure.suptitle(
            f"Serving policies on the simulated autoscaler ({search.days} days) - ESTIMATE"
        )
        figure.tight_layout()
        _save_atomically(figure, Path(path))
    finally:
        plt.close(figure)


def _save_atomically(figure, path: Path) -> None:
    # Write beside the target and rename: a failure never leaves half an SVG behind.
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ChartError(f"cannot write {path}: folder {folder} does not exist")
    try:
        replace_file(
            path, lambda stream: figure.savefig(stream, format="svg", metadata={"Date": None})
        )
    except OSError as exc:  # name the user's path, not our temporary file beside it
        raise ChartError(f"cannot write {path}: {exc.strerror or exc}") from None
