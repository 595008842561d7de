"""Device and dtype the model runs in, decided from the hardware at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# bf16 needs real tensor-core support, which starts with Ampere (compute capability 8.0).
# torch.cuda.is_bf16_supported() says True on a T4 (7.5) because it counts emulation, which is
# slow and not what the declared dtype promises, so the capability is checked instead.
BF16_MIN_CAPABILITY = (8, 0)


def select(declared_dtype: str) -> tuple[str, torch.dtype]:
    """("cuda", bf16|fp16) on a GPU, ("cpu", float32) without one (CPU has no fast 16-bit path)."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", torch.float32
    if declared_dtype == "float32":
        return "cuda", torch.float32
    if declared_dtype == "bfloat16" and torch.cuda.get_device_capability() >= BF16_MIN_CAPABILITY:
        return "cuda", torch.bfloat16
    return "cuda", torch.float16


def planned(run_dtype: str, gpu_expected: bool) -> tuple[str, torch.dtype]:
    """Device and dtype decided before the GPU is attached (the memory-snapshot hook runs on the
    CPU): the render fixed run_dtype for every GPU of the model's list (fp16 when one lacks bf16).
    Without a GPU to expect (tests, local runs) it is what this machine has, as select() says."""
    import torch

    if gpu_expected:
        return "cuda", getattr(torch, run_dtype)
    return select(run_dtype)


def move_pipeline(handle: Any, device: str) -> Any:
    """A handle whose diffusers pipeline (`.pipe`) was loaded on the CPU for the memory snapshot,
    moved onto `device`. `.to(device)` changes the device only, never a component's dtype (Wan's
    VAE stays fp32)."""
    handle.pipe.to(device)
    handle.device = device
    return handle
