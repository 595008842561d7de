"""How a model's container starts: what its memory snapshot holds, and the dtype it runs in.

A Modal memory snapshot captures the container after `@modal.enter(snap=True)`; with the weights
read into host memory there, a later start restores them instead of reading the Volume again.
That hook runs without a GPU, so what it can load depends on the model:

- "cpu": the pipeline loads on the CPU in snap=True and moves to the GPU in snap=False.
- "none": bitsandbytes NF4 quantizes weights onto the GPU as they load (it has no CPU path), so
  a model declaring nf4 loads entirely in snap=False; the snapshot still saves the imports.
  That holds for the NF4 copy `download` saves as well (runtime/quantized_store.py): its
  packed 4-bit weights load only onto a GPU. fp8 too: the runtime quantizes to fp8 only on an
  Ada-or-newer GPU and skips it on the CPU, so a CPU load would reach the GPU unquantized. An
  int8 copy loads on the CPU, so it stays "cpu".
- "gpu": `gpu_snapshot: true` (models.yaml, a strategy, or a strategy's entry for the model:
  Deployment.gpu_snapshot): Modal's GPU snapshot (alpha, deployed apps only) keeps the GPU
  memory too, so everything loads in snap=True. Off unless asked for.
"""

from __future__ import annotations

from .spec import Catalog, Model

# Schemes only a GPU can quantize (bitsandbytes NF4; torchao fp8 wants an Ada or newer GPU):
# the `download` function that saves a model's quantized copies gets the model's GPU for them.
GPU_ONLY_SCHEMES = frozenset({"nf4", "fp8"})

# Kinds whose CPU load reads no weights: SeedVR2's upstream code loads its DiT and VAE at its
# first call (runtime/video_upscale.py load), the warm-up on the GPU, so a "cpu" snapshot holds
# only the imports there; a GPU snapshot warms up inside snap=True and keeps them.
WEIGHTS_AT_WARM_UP_KINDS = frozenset({"video-upscale"})
# Kinds whose warm_up does nothing (runtime/instantid.py: a warm-up request needs a face photo).
NO_WARM_UP_KINDS = frozenset({"instantid"})


def snapshot_mode(model: Model, gpu_snapshot: bool | None = None) -> str:
    """The module's SNAPSHOT; gpu_snapshot overrides models.yaml's (optimize's what-if)."""
    if model.gpu_snapshot if gpu_snapshot is None else gpu_snapshot:
        return "gpu"
    if quantizes_on_gpu(model):
        return "none"
    return "cpu"


def snapshot_holds_weights(model: Model, mode: str) -> bool:
    """Whether a snapshot of `mode` restores the weights instead of reading the Volume."""
    if mode == "gpu":
        return True
    return mode == "cpu" and model.kind not in WEIGHTS_AT_WARM_UP_KINDS


def quantizes_on_gpu(model: Model) -> bool:
    return bool(GPU_ONLY_SCHEMES & set(model.quantization.values()))


def run_dtype(model: Model, catalog: Catalog, gpus: tuple[str, ...]) -> str:
    """The dtype on every GPU of the list, fixed before the GPU is known (the snapshot is taken
    once for all of them): bf16 only when every GPU has it, else fp16."""
    if model.dtype != "bfloat16":
        return model.dtype
    known = [found[0] for name in gpus if (found := catalog.resolve(name))]
    return "bfloat16" if all(gpu.bf16 for gpu in known) else "float16"
