"""`bench` and `spend`: measure a model per GPU and judge it; actual cost beside the estimate."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
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


def _parse_params(values: tuple[str, ...]) -> dict:
    """--param steps=2 --param width=64: YAML scalars, so numbers and booleans keep their type."""
    import yaml

    params = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param {value!r} is not KEY=VALUE (e.g. --param steps=2)")
        try:
            params[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            params[key.strip()] = text
    return params


def _gpu_list(text: str, fleet) -> list[str]:
    gpus = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if fleet.catalog.resolve(name) is None:
            raise click.UsageError(
                f"unknown GPU {name!r} in --gpus; the catalog has {', '.join(fleet.catalog.gpus)}"
            )
        normalised = fleet.catalog.modal_name(name)
        if normalised not in gpus:
            gpus.append(normalised)
    if not gpus:
        raise click.UsageError("--gpus names no GPU")
    return gpus


class _Progress:
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
    from ..platform.bench import (
        BenchError,
        build_requests,
        default_gpus,
        evaluate,
        format_markdown,
        format_text,
        local_module,
        measured_cold_starts,
        measured_seconds,
        run_bench,
        to_dict,
    )

    if tiny and not local:
        raise click.UsageError("--tiny builds weights for a --local run: add --local")
    if local and write:
        raise click.UsageError(
            "--local figures come from this machine, not a GPU: they are never written (drop --write)"
        )
    if local:
        ignored = [
            flag
            for flag, value in (("--gpus", gpus), ("--baseline-gpu", baseline_gpu))
            if value is not None
        ]
        if ignored:
            raise click.UsageError(
                f"--local runs on this machine, not on a GPU: drop {' and '.join(ignored)}"
            )
    elif strategy is not None:
        raise click.UsageError(
            "--strategy picks the module --local runs; on Modal bench measures the deployed app "
            "(add --local or drop --strategy)"
        )
    fleet = load_valid_fleet(
        root, show_warnings=False
    )  # validate reports them; here they are noise
    require_models(fleet, (model_name,))
    if strategy is not None:
        require_strategy(fleet, strategy)
    model = fleet.models[model_name]

    # An empty --baseline-gpu or --gpus is a bad value, not "option not given".
    if baseline_gpu is not None:
        baseline = baseline_gpu
    else:
        baseline = (model.gpu.get("baseline") or ("L40S",))[0]
    if fleet.catalog.resolve(baseline) is None:
        raise click.UsageError(
            f"unknown GPU {baseline!r} for --baseline-gpu; the catalog has {', '.join(fleet.catalog.gpus)}"
        )
    baseline = fleet.catalog.modal_name(baseline)
    targets = _gpu_list(gpus, fleet) if gpus is not None else default_gpus(model, fleet, baseline)
    if not local and baseline not in targets:
        targets.append(baseline)  # the latency and saving verdicts need the baseline measured
        click.echo(
            f"bench: measuring the baseline {baseline} too: the verdicts compare with it", err=True
        )
    if local:
        targets = ["local"]

    overrides = _parse_params(params)
    tiny_folder = None
    try:
        if tiny:
            from ..platform.bench_exec import prepare_tiny_weights

            tiny_folder, tiny_params = prepare_tiny_weights(model)
            overrides = {**tiny_params, **overrides}  # a --param still wins
        input_bytes = input_path.read_bytes() if input_path else None
        request_set = build_requests(
            model.kind,
            requests,
            overrides,
            input_bytes,
            input_path.name if input_path else "",
        )
        if local:
            from ..platform.bench_exec import LocalExecutor

            executor = LocalExecutor(local_module(root, fleet, model, strategy))
        else:
            from ..platform.bench_exec import ModalExecutor

            executor = ModalExecutor(model.app_name, environment)
        with _Progress() as progress:
            runs, interrupted = run_bench(
                executor, targets, request_set, warmup, concurrency, on_progress=progress.update
            )
    except BenchError as exc:
        term.error(f"bench: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    finally:
        if tiny_folder is not None:
            shutil.rmtree(tiny_folder, ignore_errors=True)

    report = evaluate(
        model, fleet.catalog, runs, baseline, requests, warmup, concurrency, interrupted, local
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
        _write(root, model_name, measured_seconds(report), measured_cold_starts(report))
    raise SystemExit(ExitCode.OK)


def _write(
    root: Path, model_name: str, seconds: dict[str, float], cold_starts: dict[str, float]
) -> None:
    from ..fleet.load import MODELS_FILE
    from ..fleet.yamledit import EditError, write_measured_seconds

    if not seconds:
        click.echo(
            "bench: no GPU returned a successful measured request: nothing written", err=True
        )
        raise SystemExit(ExitCode.PROBLEMS)
    try:
        before, after = write_measured_seconds(root / MODELS_FILE, model_name, seconds, cold_starts)
    except EditError as exc:
        term.error(f"bench: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    figures = ", ".join(f"{gpu} {value:.2f} s" for gpu, value in seconds.items())
    state = "wrote" if after != before else "unchanged"
    click.echo(
        f"bench: {state} {MODELS_FILE} {model_name}.traffic.seconds_per_request: {figures}",
        err=True,
    )
    if cold_starts:
        colds = ", ".join(f"{gpu} {value:.2f} s" for gpu, value in cold_starts.items())
        click.echo(f"bench: {state} {MODELS_FILE} {model_name}.cold_start_s: {colds}", err=True)
    not_cold = [gpu for gpu in seconds if gpu not in cold_starts]
    if not_cold:
        click.echo(
            f"bench: no cold start recorded for {', '.join(not_cold)}: the first request was not "
            "clearly slower than the warm ones (a container was already up?)",
            err=True,
        )


@with_examples(
    "modalfleet spend --since 7d",
    "modalfleet spend --start 2025-03-10 --end 2025-03-17",
    "modalfleet spend --since 30d --format markdown",
)
@click.command()
@root_option
@click.option(
    "--since", help="The last N days/hours/weeks of complete intervals: 7d, 24h, 2w (default 7d)."
)
@click.option("--start", help="First day, inclusive (YYYY-MM-DD, UTC).")
@click.option("--end", help="Day after the last, exclusive (YYYY-MM-DD, UTC; default today).")
@click.option(
    "--resolution",
    type=click.Choice(["d", "h"]),
    default="d",
    show_default=True,
    help="Daily or hourly rows.",
)
@click.option(
    "--strategy",
    shell_complete=complete_strategies,
    help="The strategy deployed during the period (default: the apps' strategy tag).",
)
@click.option(
    "--threshold",
    default="20%",
    show_default=True,
    help="Flag a model whose actual cost exceeds its estimate by more than this.",
)
@term.wide_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
def spend(root, since, start, end, resolution, strategy, threshold, fmt):
    """Actual cost per model and strategy from Modal's billing report, beside the estimate.

    Apps are attributed through the tags deploy sets (model, strategy, managed-by). Apps managed
    by modalfleet whose model is no longer in models.yaml are listed as orphans.
    """
    from ..platform.billing import BillingError, fetch_report
    from ..platform.spend import (
        SpendError,
        build_report,
        format_markdown,
        format_text,
        parse_date,
        parse_since,
        parse_threshold,
        period_between,
        period_since,
        to_dict,
    )

    # `is not None` throughout: an empty value is a bad one, not "option not given".
    if since is not None and (start is not None or end is not None):
        raise click.UsageError("use --since or --start/--end, not both")
    if end is not None and start is None:
        raise click.UsageError("--end needs --start")
    try:
        threshold_pct = parse_threshold(threshold)
        now = datetime.now(UTC)
        if start is not None:
            last = parse_date(end, "--end") if end is not None else now.date()
            period = period_between(parse_date(start, "--start"), last, resolution)
        else:
            period = period_since(now, parse_since("7d" if since is None else since), resolution)
    except SpendError as exc:
        raise click.UsageError(str(exc)) from None

    fleet = load_valid_fleet(root, strategy, show_warnings=False)
    try:
        rows = fetch_report(period.start, period.end, period.resolution)
    except BillingError as exc:
        term.error(f"spend: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    if not rows:
        click.echo(
            f"spend: Modal's billing report for {period.label()} is empty: nothing was billed then, "
            "or the period is too recent (the report holds complete intervals only)",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS)

    report = build_report(rows, fleet, period, threshold_pct, strategy)
    if fmt == "json":
        click.echo(json.dumps(to_dict(report), indent=2))
    elif fmt == "markdown":
        click.echo(format_markdown(report))
    else:
        term.echo(format_text(report), "report")
    raise SystemExit(ExitCode.OK)
