"""Cold start: seconds from a container's start until it can serve, per model and GPU.

From models.yaml when it says (`cold_start_s`: a number, or a map GPU -> seconds that `bench
--write` fills, with an optional `default`); otherwise an ESTIMATE from the weights:

    container start + Volume read + host-to-GPU copy + quantization

Every constant below is an assumption, not a measurement; each says where it comes from. The
result carries its source and its terms so every display can say ESTIMATE and show why.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fleet.sizes import loaded_weights_gb
from ..fleet.spec import Catalog, Gpu, Model
from .cost import catalog_gpu

# Modal starting a container from an image already cached on the worker (a few seconds for
# the multi-GB torch/diffusers images these handlers use; Modal's cold-start guide) plus
# importing torch, diffusers and transformers in the container (~5 s on a few cores).
CONTAINER_START_S = 10.0

# Reading the weights from the Modal Volume that caches the Hugging Face files. Volumes reach
# 1-2 GB/s on large files; a fresh worker's first read is uncached, so the low end is used.
VOLUME_READ_GB_PER_S = 1.0

# pipe.to("cuda") copies from pageable host memory, about half the PCIe link's pinned-memory
# rate: gen3 x16 (~12 GB/s pinned) on the T4, gen4 x16 (~24) on Ampere and Ada, gen5 x16 (~50)
# on Hopper and Blackwell.
HOST_TO_GPU_GB_PER_S: dict[str, float] = {
    "turing": 6.0,
    "ampere": 12.0,
    "ada": 12.0,
    "hopper": 25.0,
    "blackwell": 25.0,
}

# Share of a component's 16-bit size that crosses PCIe: bitsandbytes (nf4) quantizes on the GPU
# after the 16-bit copy; torchao (int8, fp8 weight-only) quantizes on the CPU while loading, so
# only the 8-bit result is copied.
COPY_FACTORS: dict[str, float] = {"none": 1.0, "nf4": 1.0, "int8": 0.5, "fp8": 0.5}

# Seconds per GB (16-bit size) to quantize: bitsandbytes' nf4 kernel is one memory-bound pass
# on the GPU (0.2 s/GB with its per-layer overhead); torchao computes per-channel scales and
# casts on a few CPU cores (~1 GB/s).
QUANTIZE_S_PER_GB: dict[str, float] = {"none": 0.0, "nf4": 0.2, "int8": 1.0, "fp8": 1.0}

MEASURED, ESTIMATE = "measured", "estimate"


@dataclass(frozen=True)
class ColdStart:
    seconds: float
    source: str  # "measured" (models.yaml cold_start_s) | "estimate" (from the weights)
    parts: tuple[tuple[str, float], ...] = ()  # an estimate's terms, in seconds

    @property
    def is_estimate(self) -> bool:
        return self.source == ESTIMATE

    def describe(self) -> str:
        """'62.84 s ESTIMATE (container start 10 s + ...)', or '41.5 s measured'."""
        if not self.is_estimate:
            return f"{self.seconds:g} s measured"
        terms = " + ".join(f"{name} {seconds:g} s" for name, seconds in self.parts)
        return f"{self.seconds:g} s ESTIMATE ({terms})"


def cold_start_on(model: Model, gpu_name: str, catalog: Catalog) -> ColdStart:
    """The cold start of model on gpu_name: models.yaml's figure for that GPU, its flat figure,
    or an estimate from the weights (raises cost.CostError for a GPU the catalog lacks)."""
    gpu = catalog_gpu(catalog, gpu_name)
    for name, seconds in model.cold_start_by_gpu.items():
        found = catalog.resolve(name)
        if found is not None and found[0].name == gpu.name:
            return ColdStart(seconds, MEASURED)
    if model.cold_start_s is not None:
        return ColdStart(model.cold_start_s, MEASURED)
    return estimate_cold_start(model, gpu)


def estimate_cold_start(model: Model, gpu: Gpu) -> ColdStart:
    """container start + Volume read + host-to-GPU copy + quantization, from the constants above."""
    read_gb = sum(weights.size_gb for weights in model.weights)
    copy_gb = loaded_weights_gb(model, COPY_FACTORS)
    parts = [
        ("container start", CONTAINER_START_S),
        ("volume read", round(read_gb / VOLUME_READ_GB_PER_S, 2)),
        ("host-to-GPU copy", round(copy_gb / HOST_TO_GPU_GB_PER_S[gpu.architecture], 2)),
    ]
    quantize_s = loaded_weights_gb(model, QUANTIZE_S_PER_GB)
    if quantize_s:
        parts.append(("quantization", quantize_s))
    return ColdStart(round(sum(s for _, s in parts), 2), ESTIMATE, tuple(parts))
