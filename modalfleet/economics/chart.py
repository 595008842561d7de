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


class ChartError(Exception):
    """The chart could not be written; the message says why."""


def write_chart(costs: Sequence[StrategyCost], period: str, path: Path) -> None:
    """Bars: one group per model, one bar per strategy; totals in the legend."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and never a GUI backend in CI
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartError("--chart needs matplotlib: pip install 'modalfleet[chart]'") from exc
    if not costs:
        raise ChartError("no strategy to chart")

    models = [m.model for m in costs[0].models]
    width = 0.8 / len(costs)
    plt.rcParams["svg.hashsalt"] = "modalfleet"
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, smaller, diffable
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
