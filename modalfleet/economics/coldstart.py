"""Cold start: seconds from a container's start until it can serve, per model and GPU.

From models.yaml when it says (`cold_start_s`: a number, or a map GPU -> seconds that `bench
--write` fills, with an optional `default`); otherwise an ESTIMATE from the weights:

    container start + Volume read + host-to-GPU copy

A model that declares quantization is read at its quantized size and nothing is quantized at
start: its `download` function saved the quantized components to the Volume once
(runtime/quantized_store.py) and containers load those copies. A container that finds no usable
copy quantizes at load instead and logs a warning; the estimate does not count that fallback
(flux-schnell then reads 33.73 GB instead of 11.84 and quantizes besides).

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
        """'23.81 s ESTIMATE (container start 10 s + ...)', or '41.5 s measured'."""
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
    """container start + Volume read + host-to-GPU copy, from the constants above."""
    # The saved quantized copies are what is read and what crosses PCIe: the size they leave in
    # VRAM (sizes.py). Unquantized, the read is the declared size, which a components breakdown
    # may miss by a rounding (FLUX: 33.73 GB declared, 33.74 summed).
    loaded_gb = loaded_weights_gb(model)
    read_gb = loaded_gb if model.quantization else sum(w.size_gb for w in model.weights)
    parts = [
        ("container start", CONTAINER_START_S),
        ("volume read", round(read_gb / VOLUME_READ_GB_PER_S, 2)),
        ("host-to-GPU copy", round(loaded_gb / HOST_TO_GPU_GB_PER_S[gpu.architecture], 2)),
    ]
    return ColdStart(round(sum(s for _, s in parts), 2), ESTIMATE, tuple(parts))
