"""Seconds per request per GPU: measured where someone measured it, else from the model's compute.

The chain, in order (`speed_on`):

1. measured: the model's `traffic.seconds_per_request` names this GPU (`bench --write` fills it);
2. estimate: the FLOPs of one request (economics/flops.py, from the architecture's published
   config at the request's params) over the GPU's dense tensor throughput in the run dtype
   (gpus.yaml `tflops`, from the datasheet) times an efficiency calibrated on published
   measurements (data/speed_measurements.yaml):

       seconds = (denoiser FLOPs x quantization factor + other FLOPs)
                 / (TFLOPS x 1e12 x efficiency(kind, GPU architecture))

3. flat: the model's single figure, where the architecture is not a shipped config or the
   catalog gives no TFLOPS for the GPU (the estimate would be a guess).

Calibration, computed from the data file at first use (deterministic, no constant typed here):

- quantization factor per scheme (nf4, int8, fp8, ...): a quantized row and the unquantized row
  of the same source, GPU, weights and settings give the factor q that makes
  `denoiser x q + other` match their ratio of seconds; a scheme's factor is the median over its
  pairs. A scheme no source measured costs nothing extra (factor 1).
- efficiency: each unquantized row gives an implied efficiency e = FLOPs / (seconds x TFLOPS).
  log e = c + k[kind] + a[architecture] is fitted by least squares in log space (a tiny ridge
  term keeps kinds and architectures seen on only one GPU identifiable). A kind or
  architecture no row measured takes the least efficient fitted one: an unmeasured GPU (the
  datacenter Ada L4 and L40S, Blackwell) is never estimated faster than the data shows any GPU
  to be. `same_efficiency_as` in the data file names kinds that share a pipeline's operators
  (InstantID is SDXL's UNet plus a ControlNet: the SDXL rows' kind).

`python benchmarks/speed.py` prints every row beside its estimate, in-sample and leave-one-out.
Nothing here imports torch; the data file and the packaged catalog are read once, lazily.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from statistics import median
from typing import Any

from ..fleet.sizes import scheme_for
from ..fleet.spec import Catalog, Fleet, Gpu, Model, Traffic, Weights
from .flops import Flops, ParamError, request_flops

__all__ = [
    "Calibration",
    "Measurement",
    "ParamError",
    "SpeedEstimate",
    "calibrate",
    "calibration",
    "estimate_row",
    "measurements",
    "run_dtype",
    "speed_on",
    "speed_report",
]

DATA_FILE = "speed_measurements.yaml"
# The components whose FLOPs are the denoiser loop, by the names models.yaml quantizes them.
DENOISER_COMPONENTS = ("transformer", "unet")
# The ridge term of the efficiency fit: small enough to leave any identifiable effect where the
# plain least-squares solution puts it (its pull is a millionth of one row's).
RIDGE = 1e-6


class SpeedError(ValueError):
    """The calibration data is unusable (a row's GPU or architecture is unknown)."""


@dataclass(frozen=True)
class SpeedEstimate:
    gpu: str
    seconds_per_request: float
    source: str  # "measured" | "estimate" | "flat"
    flops_per_request: float | None
    tflops: float | None
    efficiency: float | None
    step_seconds: float | None  # one denoiser step (the cold start's warm-up)

    @property
    def seconds(self) -> Decimal:
        """seconds_per_request as the Decimal the cost model multiplies by $/s."""
        return Decimal(str(round(self.seconds_per_request, 4)))


@dataclass(frozen=True)
class Hardware:
    """What the speed model needs of a GPU: its architecture and dense TFLOPS per dtype."""

    name: str
    architecture: str
    tflops: Mapping[str, float]
    bf16: bool


@dataclass(frozen=True)
class Measurement:
    """One published figure (a row of data/speed_measurements.yaml)."""

    id: str
    source: str
    gpu: str
    repo: str
    kind: str
    dtype: str
    params: Mapping[str, Any]
    seconds: float
    quantization: Mapping[str, str] = field(default_factory=dict)
    batch: int = 1
    note: str = ""

    @property
    def document(self) -> str:
        """The source without its pointer inside: rows of one document were taken alike."""
        return self.source.split(" ", 1)[0]


@dataclass(frozen=True)
class Calibration:
    intercept: float
    kind_effects: Mapping[str, float]
    architecture_effects: Mapping[str, float]
    quantization_factors: Mapping[str, float]
    same_efficiency_as: Mapping[str, str]

    def efficiency(self, kind: str, architecture: str) -> float:
        """exp(c + k[kind] + a[architecture]); a kind or architecture no row measured takes the
        least efficient fitted one, so an unmeasured GPU is never estimated faster than the
        data shows any GPU to be (optimize never picks one on an unmeasured speed-up)."""
        kind = self.same_efficiency_as.get(kind, kind)
        k = self.kind_effects.get(kind, min(self.kind_effects.values(), default=0.0))
        a = self.architecture_effects.get(
            architecture, min(self.architecture_effects.values(), default=0.0)
        )
        return math.exp(self.intercept + k + a)

    def quantization_factor(self, scheme: str | None) -> float:
        if scheme is None:
            return 1.0
        return self.quantization_factors.get(scheme, 1.0)


# --- the data file ------------------------------------------------------------------------------


def _yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=1)
def _data() -> dict:
    text = (resources.files("modalfleet") / "economics" / "data" / DATA_FILE).read_text()
    return _yaml(text)


@lru_cache(maxsize=1)
def measurements() -> tuple[Measurement, ...]:
    return tuple(
        Measurement(
            id=row["id"],
            source=row["source"],
            gpu=row["gpu"],
            repo=row["repo"],
            kind=row["kind"],
            dtype=row["dtype"],
            params=dict(row.get("params", {})),
            seconds=float(row["seconds"]),
            quantization=dict(row.get("quantization", {})),
            batch=int(row.get("batch", 1)),
            note=row.get("note", ""),
        )
        for row in _data()["measurements"]
    )


@lru_cache(maxsize=1)
def reference_hardware() -> dict[str, Hardware]:
    """Every GPU a row may name: the packaged catalog's (one source with gpus.yaml, which
    examples/common/gpus.yaml links to) by name and alias, and the data file's reference_gpus."""
    text = (resources.files("modalfleet") / "examples" / "common" / "gpus.yaml").read_text()
    found: dict[str, Hardware] = {}
    for name, entry in _yaml(text)["gpus"].items():
        gpu = Hardware(name, entry["architecture"], entry.get("tflops", {}), entry["bf16"])
        for alias in (name, *entry.get("aliases", ())):
            found[alias] = gpu
    for name, entry in _data().get("reference_gpus", {}).items():
        bf16 = "bfloat16" in entry["tflops"]
        found[name] = Hardware(name, entry["architecture"], entry["tflops"], bf16)
    return found


def hardware(gpu: Gpu) -> Hardware:
    return Hardware(gpu.name, gpu.architecture, gpu.tflops, gpu.bf16)


def run_dtype(dtype: str, gpu: Hardware) -> str:
    """The dtype the handler computes in on this GPU: bf16 runs as fp16 where there is no bf16
    (Turing), as the handlers do."""
    if dtype == "bfloat16" and not gpu.bf16:
        return "float16"
    return dtype


# --- the estimate -------------------------------------------------------------------------------


def denoiser_scheme(model: Model) -> str | None:
    """The quantization of the denoiser (transformer or UNet), None when it runs unquantized."""
    for component in DENOISER_COMPONENTS:
        scheme = scheme_for(model, component)
        if scheme != "none":
            return scheme
    return None


def split(flops: Flops) -> tuple[float, float]:
    """(denoiser loop FLOPs, everything else)."""
    loop = flops.denoiser_step * flops.steps
    return loop, flops.total - loop


def _seconds(
    flops: Flops, q: float, tflops: float, efficiency: float, batch: int = 1
) -> tuple[float, float]:
    """(seconds per request, seconds of one denoiser step)."""
    rate = tflops * 1e12 * efficiency
    loop, other = split(flops)
    return batch * (loop * q + other) / rate, batch * flops.denoiser_step * q / rate


def speed_on(
    model: Model,
    gpu_name: str,
    catalog: Catalog,
    params: Mapping[str, object] | None = None,
    *,
    measured: bool = True,
) -> SpeedEstimate:
    """Seconds one request of `model` takes on `gpu_name`: measured > estimate > flat.

    `params` override the model's params (steps, width, height, num_frames ...) and reach the
    estimate; a measured figure stands for the model's own params, so overrides skip it.
    Raises flops.ParamError for an unknown param or a value that is not a number.
    """
    from .cost import catalog_gpu, measured_seconds

    gpu = catalog_gpu(catalog, gpu_name)
    flops = request_flops(model, params)
    found = measured_seconds(model, catalog).get(gpu.name) if measured and not params else None
    dtype = run_dtype(model.dtype, hardware(gpu))
    tflops = gpu.tflops.get(dtype)
    q = calibration().quantization_factor(denoiser_scheme(model))
    if found is not None:
        step = None
        if flops is not None:
            loop, other = split(flops)
            step = float(found) * flops.denoiser_step * q / (loop * q + other)
        return SpeedEstimate(
            gpu.name,
            float(found),
            "measured",
            flops.total if flops else None,
            tflops,
            None,
            step,
        )
    if flops is None or tflops is None:
        flat = model.traffic.seconds_per_request
        if flat is None:
            from .cost import CostError

            raise CostError(f"{model.name}: no seconds per request for {gpu.name}")
        return SpeedEstimate(
            gpu.name, float(flat), "flat", flops.total if flops else None, tflops, None, None
        )
    efficiency = calibration().efficiency(model.kind, gpu.architecture)
    seconds, step = _seconds(flops, q, tflops, efficiency)
    return SpeedEstimate(gpu.name, seconds, "estimate", flops.total, tflops, efficiency, step)


# --- calibration --------------------------------------------------------------------------------


def row_model(row: Measurement) -> Model:
    """A model declaring just what the FLOPs and the estimate read of a measurement's run."""
    return Model(
        name=row.id,
        kind=row.kind,
        description="",
        weights=(Weights(repo=row.repo, revision="", size_gb=0.0, role="pipeline"),),
        dtype=row.dtype,
        vram_gb=0.0,
        quantization=dict(row.quantization),
        params=dict(row.params),
        latency_target_s=None,
        traffic=Traffic(requests_per_day=Decimal(0), seconds_per_request=None),
        gpu={},
        python="3.11",
        volume="",
        secrets=(),
    )


@dataclass(frozen=True)
class _Row:
    row: Measurement
    flops: Flops
    tflops: float
    architecture: str
    scheme: str | None


def uncounted(rows: Sequence[Measurement] | None = None) -> tuple[Measurement, ...]:
    """Rows whose weights have no shipped architecture config: no FLOPs, so no calibration
    (tests/test_speed.py keeps this empty for the shipped data)."""
    rows = measurements() if rows is None else rows
    return tuple(row for row in rows if request_flops(row_model(row)) is None)


def _rows(rows: Sequence[Measurement], *, strict: bool = False) -> list[_Row]:
    gpus = reference_hardware()
    prepared = []
    for row in rows:
        gpu = gpus.get(row.gpu)
        if gpu is None:
            raise SpeedError(f"{row.id}: GPU {row.gpu!r} is neither in the catalog nor a reference")
        model = row_model(row)
        flops = request_flops(model)
        if flops is None:
            if strict:
                raise SpeedError(f"{row.id}: no shipped architecture config for {row.repo}")
            continue
        tflops = gpu.tflops.get(run_dtype(row.dtype, gpu))
        if tflops is None:
            raise SpeedError(f"{row.id}: no {row.dtype} TFLOPS for {row.gpu}")
        prepared.append(_Row(row, flops, tflops, gpu.architecture, denoiser_scheme(model)))
    return prepared


def _same_run(a: Measurement, b: Measurement) -> bool:
    return (a.document, a.gpu, a.repo, a.dtype, dict(a.params), a.batch) == (
        b.document,
        b.gpu,
        b.repo,
        b.dtype,
        dict(b.params),
        b.batch,
    )


def _quantization_factors(rows: Sequence[_Row]) -> dict[str, float]:
    pairs: dict[str, list[float]] = {}
    plain = [r for r in rows if not r.row.quantization]
    for r in rows:
        if r.scheme is None:
            continue
        for base in plain:
            if _same_run(r.row, base.row):
                loop, other = split(r.flops)
                # seconds scale as (loop x q + other): solve the pair's ratio for q.
                total = (loop + other) * r.row.seconds / base.row.seconds
                pairs.setdefault(r.scheme, []).append((total - other) / loop)
    return {scheme: median(values) for scheme, values in sorted(pairs.items())}


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the normal equations are a few unknowns)."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col and a[r][col]:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][n] / a[i][i] for i in range(n)]


def calibrate(rows: Sequence[Measurement] | None = None) -> Calibration:
    """Fit the quantization factors and efficiencies on `rows` (default: the data file's)."""
    data = _data()
    same = dict(data.get("same_efficiency_as", {}))
    prepared = _rows(measurements() if rows is None else rows)
    factors = _quantization_factors(prepared)
    plain = [r for r in prepared if r.scheme is None]
    kinds = sorted({same.get(r.row.kind, r.row.kind) for r in plain})
    archs = sorted({r.architecture for r in plain})
    names = ["c", *(f"k:{k}" for k in kinds), *(f"a:{a}" for a in archs)]
    n = len(names)
    xtx = [[0.0] * n for _ in range(n)]
    xty = [0.0] * n
    for r in plain:
        x = [0.0] * n
        x[0] = 1.0
        x[names.index(f"k:{same.get(r.row.kind, r.row.kind)}")] = 1.0
        x[names.index(f"a:{r.architecture}")] = 1.0
        y = math.log(r.row.batch * r.flops.total / (r.row.seconds * r.tflops * 1e12))
        for i in range(n):
            xty[i] += x[i] * y
            for j in range(n):
                xtx[i][j] += x[i] * x[j]
    for i in range(1, n):
        xtx[i][i] += RIDGE
    beta = _solve(xtx, xty) if plain else [0.0] * n
    return Calibration(
        intercept=beta[0],
        kind_effects={k: beta[names.index(f"k:{k}")] for k in kinds},
        architecture_effects={a: beta[names.index(f"a:{a}")] for a in archs},
        quantization_factors=factors,
        same_efficiency_as=same,
    )


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    return calibrate()


@dataclass(frozen=True)
class RowEstimate:
    row: Measurement
    seconds: float
    flops: float
    tflops: float
    efficiency: float
    quantization_factor: float

    @property
    def ratio(self) -> float:
        """estimate / measured."""
        return self.seconds / self.row.seconds


def estimate_row(row: Measurement, fitted: Calibration | None = None) -> RowEstimate:
    """The estimate for a measurement's run under `fitted` (default: the full calibration)."""
    fitted = fitted or calibration()
    (prepared,) = _rows([row], strict=True)
    efficiency = fitted.efficiency(row.kind, prepared.architecture)
    q = fitted.quantization_factor(prepared.scheme)
    seconds, _ = _seconds(prepared.flops, q, prepared.tflops, efficiency, row.batch)
    return RowEstimate(row, seconds, prepared.flops.total, prepared.tflops, efficiency, q)


def leave_one_out(row: Measurement) -> RowEstimate:
    """The estimate for `row` from a calibration on every other row: the honest error."""
    others = [r for r in measurements() if r.id != row.id]
    return estimate_row(row, calibrate(others))


# --- the `speed` command's report ---------------------------------------------------------------


@dataclass(frozen=True)
class SpeedReport:
    model: str
    params: Mapping[str, Any]  # the model's params with the overrides applied
    flops: Flops | None
    rows: tuple[SpeedEstimate, ...]


def _number(text: object) -> object:
    """An override as the number it spells (an int when whole), else unchanged: flops says why."""
    if not isinstance(text, str):
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def speed_report(
    fleet: Fleet,
    model_name: str,
    gpus: Sequence[str] = (),
    params: Mapping[str, object] | None = None,
) -> SpeedReport:
    """Seconds per request of a model on `gpus` (default: every catalog GPU it fits on, by
    price), with the terms of each estimate. Raises ParamError for a bad override."""
    from .optimize import vram_need_gb

    model = fleet.models[model_name]
    overrides = {name: _number(value) for name, value in (params or {}).items()}
    flops = request_flops(model, overrides)  # a bad override fails here, before any row
    if gpus:
        names = [fleet.catalog.resolve(name)[0].name for name in gpus]
    else:
        need = vram_need_gb(fleet, model)
        names = [gpu.name for gpu in fleet.catalog.by_price() if gpu.vram_gb >= need]
    rows = tuple(speed_on(model, name, fleet.catalog, overrides) for name in names)
    return SpeedReport(model_name, {**model.params, **overrides}, flops, rows)


def report_dict(report: SpeedReport) -> dict:
    return {
        "model": report.model,
        "params": dict(report.params),
        "gpus": [
            {
                "gpu": row.gpu,
                "seconds_per_request": round(row.seconds_per_request, 3),
                "source": row.source,
                "flops_per_request": row.flops_per_request,
                "tflops": row.tflops,
                "efficiency": None if row.efficiency is None else round(row.efficiency, 4),
            }
            for row in report.rows
        ],
    }


def format_report(report: SpeedReport) -> str:
    from ..report.tables import table

    header = ["GPU", "S/REQUEST", "SOURCE", "TFLOPS", "EFFICIENCY", "S/STEP"]
    rows = []
    for row in report.rows:
        rows.append(
            [
                row.gpu,
                f"{row.seconds_per_request:.2f}",
                "ESTIMATE" if row.source == "estimate" else row.source,
                "-" if row.tflops is None else f"{row.tflops:g}",
                "-" if row.efficiency is None else f"{row.efficiency:.1%}",
                "-" if row.step_seconds is None else f"{row.step_seconds:.3f}",
            ]
        )
    import textwrap

    params = ", ".join(f"{k}={v}" for k, v in report.params.items())
    lines = [f"{report.model}: seconds per request", *textwrap.wrap(f"params: {params}", 80), ""]
    lines += table(header, rows, right=[False, True, False, True, True, True])
    lines.append("")
    if report.flops is None:
        lines.append("no shipped architecture config for this model: flat figure on every GPU")
    else:
        lines.append(f"FLOPs per request: {report.flops.total:.3g}")
        lines += [f"  {name}: {value:.3g}" for name, value in report.flops.parts]
        lines.append("ESTIMATE = (denoiser FLOPs x quantization + other FLOPs)")
        lines.append("           / (TFLOPS x 1e12 x efficiency)")
        lines.append("measured figures (bench --write) win; docs/where-numbers-come-from.md")
    return "\n".join(lines)
