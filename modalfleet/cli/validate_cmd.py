"""`validate` and `gpus`: the fleet's problems, the GPU catalog."""

from __future__ import annotations

import json

import click

from ..fleet.problems import acknowledged_summary, format_json, format_text, has_errors
from . import term
from .common import ExitCode, complete_strategies, require_strategy, root_option, with_examples


@with_examples(
    "modalfleet validate",
    "modalfleet validate --strategy baseline --strict",
    "modalfleet validate --quiet --format json",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    help="Check GPU choices of this strategy only.",
    shell_complete=complete_strategies,
)
@click.option(
    "--strict", is_flag=True, help="Treat warnings as errors (acknowledged ones excepted)."
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Hide acknowledged warnings (one summary line stays); as `modalfleet --quiet`.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(root, strategy, strict, quiet, fmt):
    """Load the fleet, check it against the schemas and the semantic rules, print every problem."""
    from ..fleet.checks import acknowledgements
    from ..fleet.checks import validate as run_validation

    quiet = quiet or term.settings.quiet
    loaded, problems = run_validation(root, only_strategy=strategy)
    if strategy is not None and loaded.fleet is not None:
        require_strategy(loaded.fleet, strategy)
    acknowledged = acknowledgements(loaded.fleet, problems)
    # An acknowledged warning has been looked at: --strict does not fail on it.
    failed = has_errors(problems) or (strict and any(p not in acknowledged for p in problems))
    shown = [p for p in problems if not (quiet and p in acknowledged)]
    if fmt == "json":  # the contract: every problem, acknowledged or not
        click.echo(format_json(problems))
    else:
        text = format_text(shown, acknowledged) if shown else ""
        if acknowledged:
            text += ("\n" if text else "") + acknowledged_summary(acknowledged, hidden=quiet)
        if text:
            term.echo(text, "problems")
    if fmt == "text" and not failed:
        fleet = loaded.fleet
        term.echo(
            f"ok: {len(fleet.models)} models, {len(fleet.strategies)} strategies, {len(fleet.catalog.gpus)} GPUs",
            "problems",
        )
    raise SystemExit(ExitCode.PROBLEMS if failed else ExitCode.OK)


@with_examples(
    "modalfleet gpus",
    "modalfleet gpus --format json",
)
@click.command()
@root_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def gpus(root, fmt):
    """The GPU catalog: VRAM, $/h, $/s, bf16 and fp8 support."""
    from ..fleet.load import GPUS_FILE, _read  # the catalog alone: models.yaml may be broken

    problems: list = []
    doc = _read(root, GPUS_FILE, "gpus", {}, problems)
    if doc is None:
        term.echo(format_text(problems), "problems", err=True)
        raise SystemExit(ExitCode.PROBLEMS)
    from ..fleet.load import _catalog

    catalog = _catalog(doc.data)
    rows = [
        {
            "name": gpu.name,
            "vram_gb": gpu.vram_gb,
            "usd_per_second": float(gpu.usd_per_second),
            "usd_per_hour": float(round(gpu.usd_per_hour, 4)),
            "bf16": gpu.bf16,
            "fp8": gpu.fp8,
        }
        for gpu in catalog.gpus.values()
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from ..report.money import usd, usd_rate
    from ..report.tables import table

    header = ["GPU", "VRAM", "$/HOUR", "$/SECOND", "BF16", "FP8"]
    rows = [
        [
            gpu.name,
            f"{gpu.vram_gb:g} GB",
            usd(gpu.usd_per_hour),
            usd_rate(gpu.usd_per_second),
            "yes" if gpu.bf16 else "no",
            "yes" if gpu.fp8 else "no",
        ]
        for gpu in catalog.gpus.values()
    ]
    term.echo("\n".join(table(header, rows, right=[False, True, True, True])), "table")
    if catalog.source:
        click.echo(f"prices: {catalog.source} as of {catalog.as_of}")
