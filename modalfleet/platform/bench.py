"""The seed's GPU test plan as data: send fixed requests to a model on each GPU, time them, judge.

Phase 1 of the seed document: run a model on a cheaper GPU, measure latency, success rate and cost
per request, compare with the L40S baseline, and accept the GPU when its latency is within 20% of
the baseline, its success rate is above 95% and it saves more than 30%, and when it meets the
model's own latency target. This module holds the requests, the runner and the verdicts; it never
imports modal. Where requests go (a deployed Modal class, or the generated module in-process) is
an Executor (bench_exec.py), so everything here runs against a scripted fake in the tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ..economics.observe import ColdStartRecord, parse_lines
from ..fleet.spec import Catalog, Fleet, Model
from ..report.money import pct, usd_rate
from ..report.tables import table

# Fixed prompts per kind and fixed seeds: two runs of bench send the same requests, so their
# figures are comparable (diffusion latency does not depend on the prompt, but success can).
PROMPTS: dict[str, tuple[str, ...]] = {
    "text-to-image": (
        "a lighthouse on a rocky coast at dusk, oil painting",
        "a red fox sitting in fresh snow, morning light, photograph",
        "an isometric city block made of paper, soft shadows",
        "a bowl of ramen on a wooden table, studio lighting",
        "a vintage bicycle leaning on a blue wall, film grain",
    ),
    "lora": (
        "a knight holding a sword",
        "a cat sitting on a windowsill",
        "a castle on a hill under a starry sky",
        "a robot watering plants",
        "a sailing boat on a calm sea",
    ),
    "instantid": (
        "portrait of a person as an astronaut, studio light",
        "portrait of a person in a watercolor style",
        "portrait of a person wearing a winter coat, snowy street",
        "portrait of a person as a renaissance painting",
        "portrait of a person on a beach at sunset",
    ),
    "text-to-video": (
        "waves rolling onto a sandy beach, slow camera pan",
        "a paper boat floating down a rain gutter",
        "a hot air balloon rising over green hills",
        "time-lapse of clouds over a mountain ridge",
        "a cat chasing a ball of yarn across a wooden floor",
    ),
    "video-upscale": (),  # no prompt: the request is the input media
}
FIRST_SEED = 1000

# Kinds whose requests carry an input file, and the keyword each handler takes it by.
INPUT_ARGUMENT = {"instantid": "face_image", "video-upscale": "media"}


class BenchError(Exception):
    """The bench cannot run at all (app not deployed, no credentials, module missing)."""


def build_requests(
    kind: str,
    count: int,
    overrides: dict[str, Any] | None = None,
    input_bytes: bytes | None = None,
    input_name: str = "",
) -> list[dict[str, Any]]:
    """count requests for a model kind: its fixed prompts in turn, seeds FIRST_SEED, +1, ...

    Everything else comes from the model's default params (the handler's defaults), except the
    explicit overrides (e.g. a smaller image for a CPU run).
    """
    if kind in INPUT_ARGUMENT and input_bytes is None:
        raise BenchError(f"the {kind} kind needs an input file: pass --input PATH")
    prompts = PROMPTS.get(kind, PROMPTS["text-to-image"])
    requests = []
    for index in range(count):
        request: dict[str, Any] = {"seed": FIRST_SEED + index}
        if prompts:
            request["prompt"] = prompts[index % len(prompts)]
        if kind == "instantid":
            request["face_image"] = input_bytes
        if kind == "video-upscale":
            request["media"] = input_bytes
            request["filename"] = input_name
        request.update(overrides or {})
        requests.append(request)
    return requests


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class GpuRun:
    """Every call sent to one GPU: the cold one, the discarded warm-ups, the measured ones."""

    gpu: str
    planned: int
    cold: Call | None = None
    warmup: list[Call] = field(default_factory=list)
    measured: list[Call] = field(default_factory=list)

    @property
    def calls(self) -> list[Call]:
        return ([self.cold] if self.cold else []) + self.warmup + self.measured

    @property
    def complete(self) -> bool:
        return len(self.measured) == self.planned


class Executor(Protocol):
    def open(self, gpu: str) -> Callable[[dict[str, Any]], Any]:
        """A function sending one request to the model on gpu and returning its output bytes.

        Raises BenchError when the model cannot be reached at all on that GPU.
        """
        ...


Clock = Callable[[], float]
Progress = Callable[[str, int, int], None]  # gpu, calls done, calls planned


def _timed(send: Callable[[dict[str, Any]], Any], request: dict[str, Any], clock: Clock) -> Call:
    start = clock()
    try:
        output = send(request)
    except (KeyboardInterrupt, BenchError):
        raise
    except Exception as exc:  # a failed request is a measurement, not a crash
        return Call(clock() - start, False, f"{type(exc).__name__}: {exc}"[:300])
    seconds = clock() - start
    if not output:
        return Call(seconds, False, "empty response")
    return Call(seconds, True)


def run_bench(
    executor: Executor,
    gpus: Sequence[str],
    requests: Sequence[dict[str, Any]],
    warmup: int = 2,
    concurrency: int = 1,
    clock: Clock = time.perf_counter,
    on_progress: Progress | None = None,
) -> tuple[list[GpuRun], bool]:
    """Send 1 cold + warmup + len(requests) calls to each GPU in turn.

    Returns the runs and whether the user interrupted (Ctrl-C): the runs then hold what was
    measured so far, so the caller can still report it.
    """
    runs: list[GpuRun] = []
    total = 1 + warmup + len(requests)
    try:
        for gpu in gpus:
            run = GpuRun(gpu=gpu, planned=len(requests))
            runs.append(run)
            send = executor.open(gpu)
            done = 0

            def progressed(count: int = 1, gpu: str = gpu) -> None:
                nonlocal done
                done += count
                if on_progress:
                    on_progress(gpu, done, total)

            # The first call starts a container and loads the weights: cold start, kept apart.
            run.cold = _timed(send, requests[0], clock)
            progressed()
            for index in range(warmup):
                run.warmup.append(_timed(send, requests[index % len(requests)], clock))
                progressed()
            if concurrency <= 1:
                for request in requests:
                    run.measured.append(_timed(send, request, clock))
                    progressed()
            else:
                _run_concurrently(send, requests, concurrency, clock, run, progressed)
    except KeyboardInterrupt:
        return runs, True
    return runs, False


def _run_concurrently(send, requests, concurrency, clock, run: GpuRun, progressed) -> None:
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench")
    try:
        pending = {pool.submit(_timed, send, request, clock) for request in requests}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run.measured.append(future.result())
                progressed()
    finally:
        # On Ctrl-C: drop the requests not started yet; the ones in flight finish on their own.
        pool.shutdown(wait=False, cancel_futures=True)


# --- figures and verdicts -------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Criteria:
    """The seed's acceptance criteria for a cheaper GPU."""

    latency_margin: float = 0.20  # p50 within 20% of the baseline GPU's p50
    min_success: float = 0.95  # success rate strictly above 95%
    min_saving: float = 0.30  # $/request strictly more than 30% below the baseline's


@dataclass(frozen=True)
class Figures:
    gpu: str
    usd_per_second: Decimal | None  # None for a local run: no GPU price applies
    cold_start_s: float | None
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    mean_s: float | None  # what a request costs on average: the figure --write records
    sent: int
    failed: int
    complete: bool

    @property
    def success_rate(self) -> float | None:
        return None if self.sent == 0 else (self.sent - self.failed) / self.sent

    @property
    def usd_per_request(self) -> Decimal | None:
        # Billing is per second of GPU time, so a request costs its mean latency x $/s.
        if self.usd_per_second is None or self.mean_s is None:
            return None
        return self.usd_per_second * Decimal(str(round(self.mean_s, 6)))


def figures(run: GpuRun, usd_per_second: Decimal | None) -> Figures:
    """Latency figures of the measured successful calls; success rate over every call sent."""
    warm = [call.seconds for call in run.measured if call.ok]
    calls = run.calls
    return Figures(
        gpu=run.gpu,
        usd_per_second=usd_per_second,
        cold_start_s=run.cold.seconds if run.cold and run.cold.ok else None,
        p50_s=percentile(warm, 50),
        p95_s=percentile(warm, 95),
        max_s=max(warm) if warm else None,
        mean_s=sum(warm) / len(warm) if warm else None,
        sent=len(calls),
        failed=sum(1 for call in calls if not call.ok),
        complete=run.complete,
    )


PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "n/a"
CRITERIA_ORDER = ("latency", "success", "saving", "target")


@dataclass(frozen=True)
class Verdict:
    criterion: str  # one of CRITERIA_ORDER
    status: str  # pass | fail | n/a (n/a does not block a recommendation)
    detail: str


@dataclass(frozen=True)
class GpuResult:
    figures: Figures
    verdicts: tuple[Verdict, ...]
    errors: tuple[str, ...]  # distinct failure messages, most frequent first

    @property
    def passes_all(self) -> bool:
        return all(verdict.status != FAIL for verdict in self.verdicts)

    def verdict(self, criterion: str) -> Verdict:
        return next(v for v in self.verdicts if v.criterion == criterion)


@dataclass(frozen=True)
class BenchReport:
    model: str
    baseline_gpu: str
    local: bool
    requests: int
    warmup: int
    concurrency: int
    results: tuple[GpuResult, ...]
    recommended: str | None
    reason: str
    interrupted: bool


def _pct(value: float) -> str:
    return pct(Decimal(value) * 100)


def judge(
    fig: Figures,
    baseline: Figures | None,
    baseline_gpu: str,
    latency_target_s: float | None,
    criteria: Criteria,
    local: bool = False,
) -> tuple[Verdict, ...]:
    """One verdict per seed criterion for one GPU's figures against the baseline GPU's."""
    verdicts = []
    # Latency within 20% of the baseline (p50 against p50).
    if local:
        verdicts.append(
            Verdict("latency", NOT_APPLICABLE, "local run: no baseline GPU to compare with")
        )
    elif fig.p50_s is None:
        verdicts.append(Verdict("latency", FAIL, "no successful measured request"))
    elif baseline is None or baseline.p50_s is None:
        verdicts.append(
            Verdict("latency", FAIL, f"baseline {baseline_gpu} has no measured latency")
        )
    else:
        change = fig.p50_s / baseline.p50_s - 1
        ok = fig.p50_s <= baseline.p50_s * (1 + criteria.latency_margin)
        verdicts.append(
            Verdict(
                "latency",
                PASS if ok else FAIL,
                f"p50 {fig.p50_s:.2f} s vs {baseline_gpu} {baseline.p50_s:.2f} s "
                f"({_pct(change)}; limit +{criteria.latency_margin * 100:g}%)",
            )
        )
    # Success rate above 95%.
    rate = fig.success_rate
    if rate is None:
        verdicts.append(Verdict("success", FAIL, "no request sent"))
    else:
        verdicts.append(
            Verdict(
                "success",
                PASS if rate > criteria.min_success else FAIL,
                f"{fig.sent - fig.failed}/{fig.sent} ok ({_rate(rate)}; needs > {criteria.min_success * 100:g}%)",
            )
        )
    # Saving above 30% per request against the baseline.
    cost, base_cost = fig.usd_per_request, baseline.usd_per_request if baseline else None
    if local:
        verdicts.append(Verdict("saving", NOT_APPLICABLE, "local run: no GPU price applies"))
    elif cost is None:
        verdicts.append(Verdict("saving", FAIL, "no successful measured request"))
    elif not base_cost:
        verdicts.append(Verdict("saving", FAIL, f"baseline {baseline_gpu} has no measured cost"))
    else:
        saving = 1 - float(cost / base_cost)
        verdicts.append(
            Verdict(
                "saving",
                PASS if saving > criteria.min_saving else FAIL,
                f"{usd_rate(cost)} vs {baseline_gpu} {usd_rate(base_cost)} per request "
                f"({pct(Decimal(saving) * 100, sign=False)} saved; needs > {criteria.min_saving * 100:g}%)",
            )
        )
    # The model's own latency target (seed: Flux Schnell < 5 s, InstantID and LoRA < 30 s).
    if latency_target_s is None:
        verdicts.append(Verdict("target", NOT_APPLICABLE, "the model declares no latency_target_s"))
    elif fig.p50_s is None:
        verdicts.append(Verdict("target", FAIL, "no successful measured request"))
    else:
        ok = fig.p50_s < latency_target_s
        verdicts.append(
            Verdict(
                "target",
                PASS if ok else FAIL,
                f"p50 {fig.p50_s:.2f} s; target < {latency_target_s:g} s",
            )
        )
    return tuple(verdicts)


def _errors(run: GpuRun) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for call in run.calls:
        if not call.ok:
            counts[call.error] = counts.get(call.error, 0) + 1
    return tuple(
        f"{count}x {error}" for error, count in sorted(counts.items(), key=lambda item: -item[1])
    )


def price(catalog: Catalog, gpu: str) -> Decimal | None:
    found = catalog.resolve(gpu)
    return found[0].usd_per_second if found else None


def evaluate(
    model: Model,
    catalog: Catalog,
    runs: Sequence[GpuRun],
    baseline_gpu: str,
    requests: int,
    warmup: int,
    concurrency: int = 1,
    interrupted: bool = False,
    local: bool = False,
    criteria: Criteria = Criteria(),
) -> BenchReport:
    """Figures and verdicts per GPU, and the recommendation: the cheapest GPU passing all."""
    all_figures = [figures(run, None if local else price(catalog, run.gpu)) for run in runs]
    baseline = next((fig for fig in all_figures if fig.gpu == baseline_gpu), None)
    results = tuple(
        GpuResult(
            fig,
            judge(fig, baseline, baseline_gpu, model.latency_target_s, criteria, local),
            _errors(run),
        )
        for fig, run in zip(all_figures, runs, strict=True)
    )
    recommended, reason = _recommend(results, baseline_gpu, local, interrupted)
    return BenchReport(
        model=model.name,
        baseline_gpu=baseline_gpu,
        local=local,
        requests=requests,
        warmup=warmup,
        concurrency=concurrency,
        results=results,
        recommended=recommended,
        reason=reason,
        interrupted=interrupted,
    )


def _recommend(
    results: Sequence[GpuResult], baseline_gpu: str, local: bool, interrupted: bool
) -> tuple[str | None, str]:
    if local:
        return None, "local run: figures come from this machine, not from a GPU"
    if interrupted:
        return None, "interrupted: the figures are incomplete, so no GPU is recommended"
    passing = [
        result
        for result in results
        if result.passes_all and result.figures.usd_per_request is not None
    ]
    if not passing:
        return None, f"no GPU passes every criterion: stay on the baseline {baseline_gpu}"
    best = min(
        passing, key=lambda r: (r.figures.usd_per_request, r.figures.usd_per_second, r.figures.gpu)
    )
    saving = best.verdict("saving").detail.split("(")[-1].split(";")[0]
    return (
        best.figures.gpu,
        f"cheapest GPU that passes every criterion ({saving} against {baseline_gpu})",
    )


def measured_seconds(report: BenchReport) -> dict[str, float]:
    """Mean warm seconds per GPU, for traffic.seconds_per_request (never from a local run)."""
    if report.local:
        return {}
    return {r.figures.gpu: r.figures.mean_s for r in report.results if r.figures.mean_s is not None}


# A container start and a weight load take seconds. A first request less than this much slower
# than the warm mean met a container that was already up (a previous run's, still inside its
# scaledown window): it measured no cold start, so none is recorded.
MIN_COLD_START_S = 1.0


def measured_cold_starts(report: BenchReport) -> dict[str, float]:
    """Cold start per GPU, for models.yaml cold_start_s: the first request's seconds minus the
    warm mean, i.e. what the serving simulation adds to a request that waits for a container
    (never from a local run; GPUs whose first request was not cold are left out)."""
    if report.local:
        return {}
    found = {}
    for result in report.results:
        fig = result.figures
        if fig.cold_start_s is None or fig.mean_s is None:
            continue
        extra = fig.cold_start_s - fig.mean_s
        if extra >= MIN_COLD_START_S:
            found[fig.gpu] = extra
    return found


# --- output ---------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else usd_rate(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else pct(Decimal(value) * 100, sign=False)


def to_dict(report: BenchReport) -> dict[str, Any]:
    def number(value: float | None, digits: int = 4) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "model": report.model,
        "local": report.local,
        "baseline_gpu": report.baseline_gpu,
        "requests": report.requests,
        "warmup": report.warmup,
        "concurrency": report.concurrency,
        "interrupted": report.interrupted,
        "gpus": [
            {
                "gpu": r.figures.gpu,
                "cold_start_s": number(r.figures.cold_start_s),
                "p50_s": number(r.figures.p50_s),
                "p95_s": number(r.figures.p95_s),
                "max_s": number(r.figures.max_s),
                "mean_s": number(r.figures.mean_s),
                "sent": r.figures.sent,
                "failed": r.figures.failed,
                "success_rate": number(r.figures.success_rate),
                "usd_per_second": None
                if r.figures.usd_per_second is None
                else float(r.figures.usd_per_second),
                "usd_per_request": None
                if r.figures.usd_per_request is None
                else float(round(r.figures.usd_per_request, 8)),
                "complete": r.figures.complete,
                "verdicts": {
                    v.criterion: {"status": v.status, "detail": v.detail} for v in r.verdicts
                },
                "passes_all": r.passes_all,
                "errors": list(r.errors),
            }
            for r in report.results
        ],
        "recommended": report.recommended,
        "reason": report.reason,
    }


_HEADERS = ("GPU", "cold s", "p50 s", "p95 s", "max s", "success", "$/request", *CRITERIA_ORDER)


def _rows(report: BenchReport) -> list[tuple[str, ...]]:
    rows = []
    for r in report.results:
        fig = r.figures
        label = fig.gpu
        if fig.gpu == report.baseline_gpu and not report.local:
            label += " (baseline)"
        if not fig.complete:
            label += " (partial)"
        rows.append(
            (
                label,
                _seconds(fig.cold_start_s),
                _seconds(fig.p50_s),
                _seconds(fig.p95_s),
                _seconds(fig.max_s),
                _rate(fig.success_rate),
                _money(fig.usd_per_request),
                *(r.verdict(name).status for name in CRITERIA_ORDER),
            )
        )
    return rows


def _headline(report: BenchReport) -> str:
    where = (
        "locally, in-process (figures labelled local: this machine, not a GPU)"
        if report.local
        else "on Modal"
    )
    against = "" if report.local else f", baseline {report.baseline_gpu}"
    return (
        f"bench {report.model} {where}: 1 cold + {report.warmup} warm-up + {report.requests} measured "
        f"requests per GPU, concurrency {report.concurrency}{against}"
    )


def _conclusion(report: BenchReport) -> str:
    if report.recommended:
        return f"recommended: {report.recommended}: {report.reason}"
    return f"recommended: none: {report.reason}"


def format_text(report: BenchReport) -> str:
    # The GPU name left-aligned, every figure right-aligned.
    right = [i > 0 for i in range(len(_HEADERS))]
    lines = [_headline(report), "", *table(_HEADERS, _rows(report), right), ""]
    for r in report.results:
        for verdict in r.verdicts:
            lines.append(f"{r.figures.gpu} {verdict.criterion}: {verdict.status}: {verdict.detail}")
        for error in r.errors:
            lines.append(f"{r.figures.gpu} error: {error}")
    if report.interrupted:
        lines.append("")
        lines.append("interrupted: these are the figures measured before Ctrl-C")
    lines.append("")
    lines.append(_conclusion(report))
    return "\n".join(lines)


def format_markdown(report: BenchReport) -> str:
    lines = [f"**{_headline(report)}**", ""]
    lines.append("| " + " | ".join(_HEADERS) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(_HEADERS) - 1)) + "|")
    for row in _rows(report):
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if report.interrupted:
        lines.append("_Interrupted: these are the figures measured before Ctrl-C._")
        lines.append("")
    lines.append(f"**{_conclusion(report)}**")
    lines.append("")
    lines.append("<details><summary>Verdicts</summary>")
    lines.append("")
    for r in report.results:
        for verdict in r.verdicts:
            lines.append(
                f"- {r.figures.gpu} {verdict.criterion}: {verdict.status}: {verdict.detail}"
            )
    lines.append("")
    lines.append("</details>")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Cold starts: each handler container logs one cold-start record when it is ready
# (runtime/records.py, the contract of issue #24). observe's parser is the one reader of the
# records: bench reads them through it, so the two never disagree on the format.


def parse_cold_starts(log_text: str, source: str = "log") -> list[ColdStartRecord]:
    """Every cold-start record in a container log (`modal app logs`), in order. Text before a
    line's first `{` (a timestamp) is ignored and lines that are not records are skipped; a
    record that is malformed raises observe.RecordError naming `source:line`."""
    return parse_lines(log_text.splitlines(), source).cold_starts


# --- what to measure ------------------------------------------------------------------------


def default_gpus(model: Model, fleet: Fleet, baseline: str) -> list[str]:
    """The GPUs the model's strategies use, plus the baseline, cheapest first."""
    names = {fleet.catalog.modal_name(gpu) for choices in model.gpu.values() for gpu in choices}
    names.add(baseline)
    return sorted(names, key=lambda name: (fleet.catalog.resolve(name)[0].usd_per_second, name))


def local_module(root: Path, fleet: Fleet, model: Model, strategy: str | None) -> Path:
    """The generated module `bench --local` runs: the strategy's, else any strategy's (they run
    the same inference code), baseline first."""
    from ..generate.render import GENERATED_DIR

    if strategy is not None:
        return root / GENERATED_DIR / strategy / f"{model.module_name}.py"
    for name in ("baseline", *fleet.strategies):
        path = root / GENERATED_DIR / name / f"{model.module_name}.py"
        if path.is_file():
            return path
    return root / GENERATED_DIR / "baseline" / f"{model.module_name}.py"
