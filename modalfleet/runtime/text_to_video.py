"""Text-to-video (Wan2.1 T2V): prompt in, MP4 out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import quantize
from .encode import mp4_bytes
from .errors import InputError
from .sampling import generator, params, require_multiple


@dataclass
class Handle:
    pipe: Any
    device: str


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline

    pipeline_dir = paths["pipeline"]
    # The Wan VAE is kept in fp32 whatever the run dtype: in 16-bit its decoder drifts visibly.
    vae = AutoencoderKLWan.from_pretrained(pipeline_dir, subfolder="vae", dtype=torch.float32)
    pipe = WanPipeline.from_pretrained(
        pipeline_dir,
        vae=vae,
        dtype=dtype,
        quantization_config=quantize.pipeline_config(
            model.get("quantization") or {}, pipeline_dir, device, dtype
        ),
    )
    flow_shift = params(model).get("flow_shift")
    if flow_shift is not None:
        # 3.0 suits 480p, 5.0 720p (Wan2.1 model card); the shipped scheduler config may differ.
        pipe.scheduler = UniPCMultistepScheduler.from_config(
            pipe.scheduler.config, flow_shift=float(flow_shift)
        )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return Handle(pipe, device)


def generate(
    handle: Handle,
    *,
    prompt: str,
    seed: int,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    num_frames: int,
    fps: int,
    negative_prompt: str = "",
) -> bytes:
    # Wan's VAE compresses time 4x after the first frame and space 8x, then patches 2x2.
    if num_frames < 1 or (num_frames - 1) % 4:
        raise InputError(f"num_frames must be 4k+1 (1, 5, 9, ... 81), got {num_frames}")
    require_multiple(width, height, 16)
    result = handle.pipe(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        width=width,
        height=height,
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator(seed),
        output_type="np",
    )
    return mp4_bytes(list(result.frames[0]), fps=fps)
