"""Text-to-image (FLUX.1 schnell / dev): prompt in, PNG out."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from . import quantized_store
from .device import move_pipeline
from .encode import images_bytes
from .sampling import generator, require_multiple


@dataclass
class Handle:
    pipe: Any
    device: str
    size_multiple: int
    accepts_max_sequence_length: bool


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    from diffusers import DiffusionPipeline

    pipeline_dir = paths["pipeline"]
    pipe = DiffusionPipeline.from_pretrained(
        pipeline_dir,
        dtype=dtype,
        # Quantized components from the copies `download` saved; the rest quantized here.
        **quantized_store.pipeline_kwargs(model, pipeline_dir, device, dtype),
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    # FLUX packs 2x2 latent patches, so sizes step by twice the VAE's downscale factor.
    multiple = pipe.vae_scale_factor * (2 if hasattr(pipe, "transformer") else 1)
    accepts = "max_sequence_length" in inspect.signature(pipe.__call__).parameters
    return Handle(pipe, device, multiple, accepts)


def generate(
    handle: Handle,
    *,
    prompt: str,
    seed: int,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    max_sequence_length: int = 256,
    format: str = "png",
    quality: int = 90,
    num_images: int = 1,
) -> bytes:
    require_multiple(width, height, handle.size_multiple)
    extra = (
        {"max_sequence_length": max_sequence_length} if handle.accepts_max_sequence_length else {}
    )
    result = handle.pipe(
        prompt=prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator(seed),
        num_images_per_prompt=int(num_images),
        **extra,
    )
    return images_bytes(result.images, format, quality)


# The generated module's to_gpu hook: the memory snapshot's CPU load, moved onto the GPU.
to_device = move_pipeline


def warm_up(handle: Handle) -> None:
    """One step at the smallest size: CUDA kernels and allocator pools are ready before a request."""
    side = handle.size_multiple * 4
    generate(handle, prompt="warm-up", seed=0, steps=1, guidance=0.0, width=side, height=side)
