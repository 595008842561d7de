"""Progress while something runs: a deploy's live table, bench's progress bars. On a terminal
rich draws them (imported only then) and they are transient, so the results are printed once,
after; elsewhere one line per event on stderr; nothing for JSON."""

from __future__ import annotations

import sys
import time

import click

from ..report.deploy_report import event_line

STYLES = {"deployed": "green", "stopped": "green", "failed": "red", "stop-failed": "red"}


class DeployDisplay:
    def __init__(self, plan, mode: str):
        self.mode = mode  # live | lines | off
        self.rows = {
            item.model: {
                "gpu": ",".join(item.gpus) or "-",
                "state": "queued",
                "attempt": 0,
                "message": "",
                "since": None,
                "seconds": None,
            }
            for item in [*plan.to_publish, *plan.to_stop]
        }
        self.live = None

    @classmethod
    def choose(cls, plan, fmt: str) -> DeployDisplay:
        if fmt == "json":
            return cls(plan, "off")
        return cls(plan, "live" if sys.stderr.isatty() else "lines")

    def __enter__(self) -> DeployDisplay:
        if self.mode == "live" and self.rows:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                get_renderable=self._render,
                console=Console(stderr=True),
                refresh_per_second=4,
                transient=True,
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def event(self, event) -> None:
        row = self.rows[event.model]
        row.update(state=event.state, attempt=event.attempt, message=event.message)
        if event.state in ("deploying", "stopping") and row["since"] is None:
            row["since"] = time.monotonic()
        if event.state in ("deployed", "failed", "stopped", "stop-failed"):
            row["seconds"] = event.seconds
        if self.mode == "lines" and event.state != "queued":
            click.echo(event_line(event), err=True)

    def _render(self):
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for header in ("model", "GPU", "state", "try", "seconds", "detail"):
            table.add_column(header, justify="right" if header in ("try", "seconds") else "left")
        now = time.monotonic()
        for model, row in self.rows.items():
            seconds = row["seconds"]
            if seconds is None:
                seconds = now - row["since"] if row["since"] else 0.0
            style = STYLES.get(row["state"], "yellow" if row["state"] == "retrying" else "")
            table.add_row(
                model,
                row["gpu"],
                f"[{style}]{row['state']}[/]" if style else row["state"],
                str(row["attempt"] or ""),
                f"{seconds:.1f}",
                row["message"][:80],
            )
        return table


class BenchProgress:
    """A rich progress bar on a terminal (imported only when bench runs), plain lines otherwise."""

    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.bar = None
        self.tasks: dict[str, int] = {}
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *_):
        if self.bar:
            self.bar.stop()

    def update(self, gpu: str, done: int, total: int) -> None:
        if self.bar is None:
            if done == total:
                click.echo(f"bench: {gpu}: {done}/{total} calls sent", err=True)
            return
        if gpu not in self.tasks:
            self.tasks[gpu] = self.bar.add_task(gpu, total=total)
        self.bar.update(self.tasks[gpu], completed=done)
