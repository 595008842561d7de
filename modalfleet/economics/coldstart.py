"""Cold start: seconds from a container's start until it can serve, per model, GPU and snapshot.

From models.yaml when it says (`cold_start_s`: a number, or a map GPU -> seconds that `bench
--write` fills, with an optional `default`); otherwise an ESTIMATE whose terms follow what the
rendered module does (modalfleet/generate/templates/base.py.j2) under the model's SNAPSHOT mode
(fleet/snapshots.py). Every module enables Modal's memory snapshot, so its imports are always
restored, never redone:

- "cpu": the weights load on the CPU in `@modal.enter(snap=True)`; a start restores them with
  the snapshot and copies them to the GPU in snap=False:
      container start + snapshot restore (process + weights) + host-to-GPU copy + warm-up
- "none" (nf4/fp8 load only onto a GPU) and a "cpu" snapshot of a kind that reads its weights
  at warm-up (video-upscale): the snapshot holds only the process:
      container start + snapshot restore (process) + Volume read + host-to-GPU copy + warm-up
- "gpu" (Modal's GPU memory snapshot, alpha): the weights are on the GPU in the snapshot:
      container start + snapshot restore (process + weights) + warm-up

A model that declares quantization is read and held at its quantized size: its `download`
function saved the quantized copies to the Volume once (runtime/quantized_store.py).

The constants are in coldstart.yaml beside this file, each with its source or marked as an
assumption; two rates are derived from a published pair of cold starts (FLUX.2-klein-9B on an
L40S, 35.0 s of start overhead plain and 3.1 s with a GPU snapshot):

    snapshot restore = (18 GB + process) / (3.1 s - container start)
    host-to-GPU copy = 18 GB / (35.0 s - container start - imports - 18 GB / Volume rate)

The result carries its source and terms so every display can say ESTIMATE and show why.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..fleet.sizes import loaded_weights_gb
from ..fleet.snapshots import NO_WARM_UP_KINDS, snapshot_holds_weights, snapshot_mode
from ..fleet.spec import Catalog, Gpu, Model
from .cost import catalog_gpu, seconds_on

MEASURED, ESTIMATE = "measured", "estimate"
SNAPSHOT_MODES = ("none", "cpu", "gpu")


@cache
def constants_file() -> dict:
    """coldstart.yaml: the constants with their sources, and the measurement the rates come from."""
    text = resources.files("modalfleet.economics").joinpath("coldstart.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _constant(name: str) -> float:
    return float(constants_file()["constants"][name]["value"])


CALIBRATION = constants_file()["measurements"]["flux2_klein_9b_l40s"]
VOLUME_READ_GB_PER_S = _constant("volume_read_gb_per_s")
CONTAINER_START_S = _constant("container_start_s")
PROCESS_GB = _constant("process_gb")
IMPORTS_S = _constant("imports_s")
# Derived (module docstring): the GPU snapshot's whole overhead less the container's start is
# counted as restoring its bytes, so the rate is, if anything, low.
SNAPSHOT_RESTORE_GB_PER_S = (CALIBRATION["weights_gb"] + PROCESS_GB) / (
    CALIBRATION["gpu_snapshot_overhead_s"] - CONTAINER_START_S
)
# Derived: what the plain start spent beyond starting, importing and reading the Volume went to
# moving the weights onto the GPU from pageable host memory. One rate for every GPU: at well
# under 1 GB/s the host side (per-tensor pageable copies), not the PCIe link, sets the pace.
HOST_TO_GPU_GB_PER_S = CALIBRATION["weights_gb"] / (
    CALIBRATION["plain_overhead_s"]
    - CONTAINER_START_S
    - IMPORTS_S
    - CALIBRATION["weights_gb"] / VOLUME_READ_GB_PER_S
)


def constants_table() -> str:
    """coldstart.yaml as a Markdown table (docs/cold-starts.md), the derived rates included."""
    rows = ["| Constant | Value | Kind | What | Source |", "|---|---:|---|---|---|"]
    for name, entry in constants_file()["constants"].items():
        value = f"{entry['value']:g} {entry['unit']}"
        source = f"{entry['source']} ({entry['as_of']})"
        rows.append(f"| `{name}` | {value} | {entry['kind']} | {entry['text']} | {source} |")
    where = f"{CALIBRATION['source']} ({CALIBRATION['as_of']})"
    derived = (
        ("snapshot_restore_gb_per_s", SNAPSHOT_RESTORE_GB_PER_S, "GB/s", "restoring a snapshot"),
        ("host_to_gpu_gb_per_s", HOST_TO_GPU_GB_PER_S, "GB/s", "pageable host-to-GPU copy"),
    )
    for name, value, unit, text in derived:
        rows.append(f"| `{name}` | {value:.3g} {unit} | derived | {text} | {where} |")
    return "\n".join(rows)


def fleet_table(models: list[Model], catalog: Catalog, gpu_name: str) -> str:
    """Each model's estimate on gpu_name as a Markdown table: its own SNAPSHOT mode's terms, and
    the total with a GPU snapshot (docs/cold-starts.md, so the page follows the constants)."""
    rows = [
        "| Model | SNAPSHOT | Terms (s) | Estimate | With a GPU snapshot (alpha) |",
        "|---|---|---|---:|---:|",
    ]
    for model in models:
        gpu = catalog_gpu(catalog, gpu_name)
        own = estimate_cold_start(model, gpu, catalog, snapshot_mode(model))
        alpha = estimate_cold_start(model, gpu, catalog, "gpu")
        terms = " + ".join(f"{name} {seconds:g}" for name, seconds in own.parts)
        rows.append(
            f"| {model.name} | {own.snapshot} | {terms} | {own.seconds:.1f} s "
            f"| {alpha.seconds:.1f} s |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class ColdStart:
    seconds: float
    source: str  # "measured" (models.yaml cold_start_s) | "estimate" (from the weights)
    parts: tuple[tuple[str, float], ...] = ()  # an estimate's terms, in seconds
    snapshot: str = ""  # the SNAPSHOT mode an estimate is for ("" for a measured figure)

    @property
    def is_estimate(self) -> bool:
        return self.source == ESTIMATE

    def describe(self) -> str:
        """'23.81 s ESTIMATE (container start 1 s + ...)', or '41.5 s measured'."""
        if not self.is_estimate:
            return f"{self.seconds:g} s measured"
        terms = " + ".join(f"{name} {seconds:g} s" for name, seconds in self.parts)
        return f"{self.seconds:g} s ESTIMATE ({terms})"


def cold_start_on(
    model: Model, gpu_name: str, catalog: Catalog, snapshot: str | None = None
) -> ColdStart:
    """The cold start of model on gpu_name: models.yaml's figure for that GPU, its flat figure,
    or an estimate (raises cost.CostError for a GPU the catalog lacks).

    `snapshot` asks for another SNAPSHOT mode than the model's own (optimize's GPU-snapshot
    what-if): a figure measured under the model's own mode does not apply to it.
    """
    gpu = catalog_gpu(catalog, gpu_name)
    own = snapshot_mode(model)
    mode = own if snapshot is None else snapshot
    if mode == own:
        for name, seconds in model.cold_start_by_gpu.items():
            found = catalog.resolve(name)
            if found is not None and found[0].name == gpu.name:
                return ColdStart(seconds, MEASURED)
        if model.cold_start_s is not None:
            return ColdStart(model.cold_start_s, MEASURED)
    return estimate_cold_start(model, gpu, catalog, mode)


def stored_weights_gb(model: Model) -> float:
    """What the Volume holds and a CPU snapshot keeps: the saved quantized copies at the size they
    leave in VRAM (sizes.py), else the declared 16-bit sizes (a components breakdown may miss the
    declared size by a rounding: FLUX 33.73 GB declared, 33.74 summed)."""
    if model.quantization:
        return loaded_weights_gb(model)
    return round(sum(w.size_gb for w in model.weights), 2)


def warm_up_seconds(model: Model, gpu_name: str, catalog: Catalog) -> float:
    """The warm-up the module runs after the restore: one denoiser step at the model's params.

    The speed model's step (economics/speed.py: SpeedEstimate.step_seconds, the denoiser's FLOPs
    of one step on this GPU, or a measured request's denoiser share); where it has none (no
    shipped architecture: SeedVR2's one-step upscaler), one step's share of the request's
    seconds (seconds / steps; a model without a `steps` param counts its whole request). The
    runtime's warm-up runs that step at a tiny size, so one full step is an upper bound.
    """
    if model.kind in NO_WARM_UP_KINDS:
        return 0.0
    from .speed import speed_on

    step = speed_on(model, gpu_name, catalog).step_seconds
    if step is not None:
        return step
    seconds = float(seconds_on(model, gpu_name, catalog).value)
    steps = model.params.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps < 1:
        steps = 1
    return seconds / steps


def estimate_cold_start(model: Model, gpu: Gpu, catalog: Catalog, snapshot: str) -> ColdStart:
    """The terms of the module's start under `snapshot` (module docstring), from coldstart.yaml."""
    if snapshot not in SNAPSHOT_MODES:
        raise ValueError(f"unknown snapshot mode {snapshot!r}; known: {', '.join(SNAPSHOT_MODES)}")
    loaded_gb = loaded_weights_gb(model)  # what ends up on the GPU
    stored_gb = stored_weights_gb(model)
    parts: list[tuple[str, float]] = [("container start", CONTAINER_START_S)]
    if snapshot == "gpu":
        restore_gb = PROCESS_GB + loaded_gb
    elif snapshot_holds_weights(model, snapshot):
        restore_gb = PROCESS_GB + stored_gb
    else:
        restore_gb = PROCESS_GB
    parts.append(("snapshot restore", restore_gb / SNAPSHOT_RESTORE_GB_PER_S))
    if not snapshot_holds_weights(model, snapshot):
        parts.append(("volume read", stored_gb / VOLUME_READ_GB_PER_S))
    if snapshot != "gpu":
        parts.append(("host-to-GPU copy", loaded_gb / HOST_TO_GPU_GB_PER_S))
    parts.append(("warm-up", warm_up_seconds(model, gpu.name, catalog)))
    rounded = tuple((name, round(seconds, 2)) for name, seconds in parts)
    return ColdStart(round(sum(s for _, s in rounded), 2), ESTIMATE, rounded, snapshot)
