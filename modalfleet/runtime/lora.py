"""SDXL with LoRA style adapters chosen per request: prompt + adapter name + scale in, PNG out.

Every adapter the model declares (weights with role "adapter") is loaded once at start under its
name; a request activates one of them at the requested weight (0 gives the base model's output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .device import move_pipeline
from .encode import images_bytes
from .errors import InputError
from .sampling import generator, require_multiple, variant_for
from .weights import artefact_key


@dataclass
class Handle:
    pipe: Any
    device: str
    adapters: list[str] = field(default_factory=list)


def load_sdxl(
    model: dict[str, Any], paths: dict[str, str], dtype: Any, pipeline_class: Any, **extra
):
    """An SDXL-family pipeline, with the fp16-safe VAE swapped in where the model declares one."""
    if "vae" in paths:
        from diffusers import AutoencoderKL

        extra["vae"] = AutoencoderKL.from_pretrained(paths["vae"], dtype=dtype)
    return pipeline_class.from_pretrained(
        paths["pipeline"], dtype=dtype, variant=variant_for(model), **extra
    )


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    from diffusers import StableDiffusionXLPipeline

    pipe = load_sdxl(model, paths, dtype, StableDiffusionXLPipeline)
    adapters = []
    for weights in model["weights"]:
        if weights["role"] != "adapter":
            continue
        folder = Path(paths[artefact_key(weights)])
        files = [f for f in weights.get("files") or () if f.endswith(".safetensors")]
        pipe.load_lora_weights(
            folder, weight_name=files[0] if files else None, adapter_name=weights["name"]
        )
        adapters.append(weights["name"])
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return Handle(pipe, device, adapters)


def generate(
    handle: Handle,
    *,
    prompt: str,
    seed: int,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    adapter: str,
    adapter_scale: float,
    negative_prompt: str = "",
    format: str = "png",
    quality: int = 90,
    num_images: int = 1,
) -> bytes:
    require_multiple(width, height, handle.pipe.vae_scale_factor)
    if adapter not in handle.adapters:
        known = ", ".join(handle.adapters) or "none"
        raise InputError(f"unknown adapter {adapter!r}; this model has: {known}")
    handle.pipe.set_adapters([adapter], adapter_weights=[float(adapter_scale)])
    result = handle.pipe(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator(seed),
        num_images_per_prompt=int(num_images),
    )
    return images_bytes(result.images, format, quality)


# The generated module's to_gpu hook: the memory snapshot's CPU load, moved onto the GPU.
to_device = move_pipeline


def warm_up(handle: Handle) -> None:
    """One step at the smallest size with the first adapter at weight 0 (the base model)."""
    if not handle.adapters:
        return
    side = handle.pipe.vae_scale_factor * 4
    generate(
        handle,
        prompt="warm-up",
        seed=0,
        steps=1,
        guidance=0.0,
        width=side,
        height=side,
        adapter=handle.adapters[0],
        adapter_scale=0.0,
    )
