"""`speed`: seconds per request of one model on each GPU, measured or estimated from its compute."""

from __future__ import annotations

import json

import click

from .common import (
    complete_models,
    load_valid_fleet,
    require_models,
    root_option,
    with_examples,
)


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param {pair!r}: expected KEY=VALUE, e.g. steps=20")
        params[key.strip()] = value.strip()
    return params


@with_examples(
    "modalfleet speed --model flux-dev",
    "modalfleet speed --model flux-schnell --gpu T4 --gpu L4 --param steps=8",
    "modalfleet speed --model wan2-1 --param num_frames=49 --format json",
)
@click.command()
@root_option
@click.option("--model", "model_name", required=True, shell_complete=complete_models)
@click.option(
    "--gpu",
    "gpus",
    multiple=True,
    help="A GPU to show (repeatable; default: every catalog GPU the model fits on).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one of the model's params (steps, width, height, num_frames ...).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def speed(root, model_name, gpus, params, fmt):
    """Seconds per request of a model on each GPU: measured, or an ESTIMATE from its FLOPs."""
    from ..economics.flops import ParamError
    from ..economics.speed import format_report, report_dict, speed_report

    overrides = _params(params)
    fleet = load_valid_fleet(root, show_warnings=False)
    require_models(fleet, (model_name,))
    unknown = [name for name in gpus if fleet.catalog.resolve(name) is None]
    if unknown:
        raise click.UsageError(
            f"unknown GPU(s) {', '.join(map(repr, unknown))}; known: {', '.join(fleet.catalog.gpus)}"
        )
    try:
        report = speed_report(fleet, model_name, gpus, overrides)
    except ParamError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        json.dumps(report_dict(report), indent=2) if fmt == "json" else format_report(report)
    )
