"""Text-to-video (Wan2.1 T2V): prompt in, MP4 out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import quantized_store
from .device import move_pipeline
from .encode import mp4_bytes
from .errors import FieldError
from .sampling import generator, params, require_multiple

# Wan2.1's own default negative prompt (Wan-Video/Wan2.1, wan/configs/shared_config.py,
# sample_neg_prompt), in the Chinese it was trained with: oversaturated, overexposed, static,
# blurred, subtitles, worst quality, JPEG artefacts, extra fingers, deformed limbs, cluttered
# background, three legs, walking backwards. Without one, Wan's guidance pushes away from nothing.
DEFAULT_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
    "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，"
    "画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)


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
        # Quantized components from the copies `download` saved; the rest quantized here.
        **quantized_store.pipeline_kwargs(model, pipeline_dir, device, dtype),
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


def check(fields: dict[str, Any]) -> None:
    """What generate refuses from the request alone: a job endpoint checks it before spawning."""
    # Wan's VAE compresses time 4x after the first frame and space 8x, then patches 2x2.
    num_frames = int(fields["num_frames"])
    if num_frames < 1 or (num_frames - 1) % 4:
        raise FieldError(
            "num_frames", f"num_frames must be 4k+1 (1, 5, 9, ... 81), got {num_frames}"
        )
    require_multiple(int(fields["width"]), int(fields["height"]), 16)


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
    check({"num_frames": num_frames, "width": width, "height": height})
    result = handle.pipe(
        prompt=prompt,
        negative_prompt=negative_prompt or DEFAULT_NEGATIVE_PROMPT,
        width=width,
        height=height,
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator(seed),
        output_type="np",
    )
    return mp4_bytes(list(result.frames[0]), fps=fps)


# The generated module's to_gpu hook: the memory snapshot's CPU load, moved onto the GPU.
to_device = move_pipeline


def warm_up(handle: Handle) -> None:
    """One step, one frame, 32x32: CUDA kernels are ready before the first request."""
    generate(
        handle,
        prompt="warm-up",
        seed=0,
        steps=1,
        guidance=1.0,
        width=32,
        height=32,
        num_frames=1,
        fps=8,
    )
