"""`bench`: parse the options, then measure a model per GPU and judge it (the workflow is
platform/bench_workflow.py; the report's text is platform/bench.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import term
from .common import (
    ExitCode,
    complete_models,
    complete_strategies,
    load_valid_fleet,
    require_models,
    require_strategy,
    root_option,
    with_examples,
)

INTERRUPTED = 130


@with_examples(
    "modalfleet bench --model flux-schnell --gpus T4,A10,L40S",
    "modalfleet bench --model flux-schnell --requests 10 --write",
    "modalfleet bench --model flux-schnell --local --strategy hybrid --requests 5",
)
@click.command()
@root_option
@click.option(
    "--model",
    "model_name",
    shell_complete=complete_models,
    required=True,
    help="The model to measure (a name in models.yaml).",
)
@click.option(
    "--gpus",
    help="Comma-separated GPUs to measure, e.g. T4,A10,L40S. Default: the GPUs the model's strategies use, plus the baseline.",
)
@click.option(
    "--baseline-gpu",
    help="The GPU the others are judged against. Default: the model's GPU under the baseline strategy.",
)
@click.option(
    "--requests",
    type=click.IntRange(1, 10000),
    default=20,
    show_default=True,
    help="Measured requests per GPU.",
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 1000),
    default=2,
    show_default=True,
    help="Warm-up requests per GPU after the cold one (not measured).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Measured requests in flight at once.",
)
@click.option(
    "--strategy",
    shell_complete=complete_strategies,
    help="With --local: whose generated module to run (default: baseline's, else any).",
)
@click.option(
    "--write",
    is_flag=True,
    help="Record the measured seconds and cold start per GPU in models.yaml (traffic.seconds_per_request, cold_start_s).",
)
@click.option(
    "--local",
    is_flag=True,
    help="Run the generated handler in-process through .local() (figures labelled local; never written).",
)
@click.option(
    "--tiny",
    is_flag=True,
    help="With --local: build tiny random weights for the model and run on them (a smoke run; no download).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a request parameter, e.g. --param steps=2 (repeatable).",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Input file for kinds that need one: the face image (instantid), the video or image (video-upscale).",
)
@click.option("--env", "environment", help="Modal environment of the deployed app.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
def bench(
    root,
    model_name,
    gpus,
    baseline_gpu,
    requests,
    warmup,
    concurrency,
    strategy,
    write,
    local,
    tiny,
    params,
    input_path,
    environment,
    fmt,
):
    """The Modal GPU requirements document's GPU test plan: latency, success rate and $/request per GPU, judged against the baseline.

    A GPU passes when its p50 latency is within 20% of the baseline GPU's, its success rate is
    above 95%, it saves more than 30% per request, and it meets the model's latency_target_s.
    The recommendation is the cheapest GPU that passes all four.
    """
    from ..platform import bench_workflow as workflow
    from ..platform.bench import BenchError, evaluate, format_markdown, format_text, to_dict
    from .live import BenchProgress

    try:
        workflow.check_flags(local, tiny, write, gpus, baseline_gpu, strategy)
    except workflow.BenchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    fleet = load_valid_fleet(root, show_warnings=False)  # validate reports them; here, noise
    require_models(fleet, (model_name,))
    if strategy is not None:
        require_strategy(fleet, strategy)
    try:
        setup = workflow.plan_bench(fleet, model_name, gpus, baseline_gpu, local)
        overrides = workflow.parse_params(params)
    except workflow.BenchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    for note in setup.notes:
        click.echo(f"bench: {note}", err=True)
    try:
        with BenchProgress() as progress:
            runs, interrupted = workflow.run(
                setup,
                root,
                fleet,
                requests=requests,
                warmup=warmup,
                concurrency=concurrency,
                params=overrides,
                input_path=input_path,
                tiny=tiny,
                strategy=strategy,
                environment=environment,
                on_progress=progress.update,
            )
    except BenchError as exc:
        term.error(f"bench: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None

    report = evaluate(
        setup.model,
        fleet.catalog,
        runs,
        setup.baseline,
        requests,
        warmup,
        concurrency,
        interrupted,
        local,
    )
    if fmt == "json":
        click.echo(json.dumps(to_dict(report), indent=2))
    elif fmt == "markdown":
        click.echo(format_markdown(report))
    else:
        term.echo(format_text(report), "table")

    if interrupted:
        if write:
            click.echo("bench: interrupted: nothing written to models.yaml", err=True)
        raise SystemExit(INTERRUPTED)
    if runs and all(call.ok is False for run in runs for call in run.calls):
        click.echo("bench: every request failed", err=True)
        raise SystemExit(ExitCode.PROBLEMS)
    if write:
        try:
            lines = workflow.record(Path(root), model_name, report)
        except BenchError as exc:
            term.error(f"bench: {exc}")
            raise SystemExit(ExitCode.PROBLEMS) from None
        for line in lines:
            click.echo(f"bench: {line}", err=True)
    raise SystemExit(ExitCode.OK)
