"""The bench workflow without click: which GPUs to measure against which baseline
(`plan_bench`), running the requests there (`run`), and writing the measured figures into
models.yaml (`record`). The command only parses its options and prints what these return.

No modal import here: the executors (bench_exec.py) own the SDK.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..fleet.spec import Fleet, Model
from .bench import (
    BenchError,
    BenchReport,
    GpuRun,
    build_requests,
    default_gpus,
    local_module,
    measured_cold_starts,
    measured_seconds,
    run_bench,
)


class BenchUsageError(Exception):
    """Options that do not go together, or a name that is not in the fleet (a usage error)."""


@dataclass(frozen=True)
class BenchSetup:
    model: Model
    baseline: str
    gpus: list[str]  # ["local"] for a --local run
    local: bool
    notes: tuple[str, ...] = ()  # what bench decided on its own, for stderr


def check_flags(
    local: bool, tiny: bool, write: bool, gpus: str | None, baseline_gpu: str | None, strategy
) -> None:
    """Flags that contradict each other, each with what to do instead."""
    if tiny and not local:
        raise BenchUsageError("--tiny builds weights for a --local run: add --local")
    if local and write:
        raise BenchUsageError(
            "--local figures come from this machine, not a GPU: they are never written (drop --write)"
        )
    if local:
        ignored = [
            flag
            for flag, value in (("--gpus", gpus), ("--baseline-gpu", baseline_gpu))
            if value is not None
        ]
        if ignored:
            raise BenchUsageError(
                f"--local runs on this machine, not on a GPU: drop {' and '.join(ignored)}"
            )
    elif strategy is not None:
        raise BenchUsageError(
            "--strategy picks the module --local runs; on Modal bench measures the deployed app "
            "(add --local or drop --strategy)"
        )


def parse_params(values: tuple[str, ...] | list[str]) -> dict:
    """--param steps=2 --param width=64: YAML scalars, so numbers and booleans keep their type."""
    import yaml

    params = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise BenchUsageError(f"--param {value!r} is not KEY=VALUE (e.g. --param steps=2)")
        try:
            params[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            params[key.strip()] = text
    return params


def gpu_list(text: str, fleet: Fleet) -> list[str]:
    """--gpus T4,A10: Modal's names, each once, in the order given."""
    gpus = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if fleet.catalog.resolve(name) is None:
            raise BenchUsageError(
                f"unknown GPU {name!r} in --gpus; the catalog has {', '.join(fleet.catalog.gpus)}"
            )
        normalised = fleet.catalog.modal_name(name)
        if normalised not in gpus:
            gpus.append(normalised)
    if not gpus:
        raise BenchUsageError("--gpus names no GPU")
    return gpus


def plan_bench(
    fleet: Fleet, model_name: str, gpus: str | None, baseline_gpu: str | None, local: bool
) -> BenchSetup:
    """The GPUs to measure and the baseline they are judged against (measured too: the latency
    and saving verdicts compare with it). An empty --gpus or --baseline-gpu is a bad value, not
    "option not given"."""
    model = fleet.models[model_name]
    if baseline_gpu is not None:
        baseline = baseline_gpu
    else:
        baseline = (model.gpu.get("baseline") or ("L40S",))[0]
    if fleet.catalog.resolve(baseline) is None:
        raise BenchUsageError(
            f"unknown GPU {baseline!r} for --baseline-gpu; the catalog has {', '.join(fleet.catalog.gpus)}"
        )
    baseline = fleet.catalog.modal_name(baseline)
    if local:
        return BenchSetup(model, baseline, ["local"], True)
    targets = gpu_list(gpus, fleet) if gpus is not None else default_gpus(model, fleet, baseline)
    notes = ()
    if baseline not in targets:
        targets.append(baseline)
        notes = (f"measuring the baseline {baseline} too: the verdicts compare with it",)
    return BenchSetup(model, baseline, targets, False, notes)


def run(
    setup: BenchSetup,
    root: Path,
    fleet: Fleet,
    *,
    requests: int,
    warmup: int,
    concurrency: int,
    params: dict,
    input_path: Path | None = None,
    tiny: bool = False,
    strategy: str | None = None,
    environment: str | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[GpuRun], bool]:
    """Send the requests on each GPU (or here, for a local run): the runs, and whether it was
    interrupted. Tiny weights built for a --tiny run are removed after. Raises BenchError."""
    model = setup.model
    tiny_folder = None
    try:
        if tiny:
            from .bench_exec import prepare_tiny_weights

            tiny_folder, tiny_params = prepare_tiny_weights(model)
            params = {**tiny_params, **params}  # a --param still wins
        input_bytes = input_path.read_bytes() if input_path else None
        name = input_path.name if input_path else ""
        request_set = build_requests(model.kind, requests, params, input_bytes, name)
        if setup.local:
            from .bench_exec import LocalExecutor

            executor = LocalExecutor(local_module(root, fleet, model, strategy))
        else:
            from .bench_exec import ModalExecutor

            executor = ModalExecutor(model.app_name, environment)
        return run_bench(
            executor, setup.gpus, request_set, warmup, concurrency, on_progress=on_progress
        )
    finally:
        if tiny_folder is not None:
            shutil.rmtree(tiny_folder, ignore_errors=True)


def record(root: Path, model_name: str, report: BenchReport) -> list[str]:
    """Write the measured seconds and cold starts into models.yaml; the lines that say what was
    written. Raises BenchError when there is nothing to write or the file cannot be edited."""
    from ..fleet.load import MODELS_FILE
    from ..fleet.yamledit import EditError, write_measured_seconds

    seconds, cold_starts = measured_seconds(report), measured_cold_starts(report)
    if not seconds:
        raise BenchError("no GPU returned a successful measured request: nothing written")
    try:
        before, after = write_measured_seconds(root / MODELS_FILE, model_name, seconds, cold_starts)
    except EditError as exc:
        raise BenchError(str(exc)) from None
    state = "wrote" if after != before else "unchanged"
    figures = ", ".join(f"{gpu} {value:.2f} s" for gpu, value in seconds.items())
    lines = [f"{state} {MODELS_FILE} {model_name}.traffic.seconds_per_request: {figures}"]
    if cold_starts:
        colds = ", ".join(f"{gpu} {value:.2f} s" for gpu, value in cold_starts.items())
        lines.append(f"{state} {MODELS_FILE} {model_name}.cold_start_s: {colds}")
    not_cold = [gpu for gpu in seconds if gpu not in cold_starts]
    if not_cold:
        lines.append(
            f"no cold start recorded for {', '.join(not_cold)}: the first request was not "
            "clearly slower than the warm ones (a container was already up?)"
        )
    return lines
