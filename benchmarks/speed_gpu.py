"""Time the bundled models' denoisers on the GPU at hand: full size, random weights, no download.

    python benchmarks/speed_gpu.py [--steps 3] [--tiny] [--model NAME]...

For each bundled model whose architecture ships a config (modalfleet/fleet/architectures/), it
builds the denoiser (FLUX transformer, SDXL UNet with InstantID's IdentityNet ControlNet, Wan
transformer) from
that config with random weights straight on the device in the model's run dtype, feeds it the
inputs one step of the pipeline feeds it at the model's params (classifier-free guidance as a
batch of two where the pipeline runs two passes), times --steps steps after one warm-up step,
and reads the peak GPU memory. It prints one YAML row per model in the calibration file's
format (modalfleet/economics/data/speed_measurements.yaml), labelled with the GPU's name and
"random weights, full size", for a person to review and paste: seconds is the denoiser loop
(steps x the timed step), without the text encoders and VAE decode the published rows include
(a few percent of a request; the note says so).

On a machine without CUDA it runs the same code on tiny configs on the CPU (--tiny is implied):
that is what tests/test_speed_gpu.py runs, so the script cannot rot between GPU sessions. The
whole bundled fleet takes a few minutes on one H100 (under the 10 minutes budgeted); no GPU was
available when this was written, so no row in the data file comes from it yet.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modalfleet.economics.flops import request_flops  # noqa: E402
from modalfleet.fleet.architectures import components, pipeline_architecture  # noqa: E402
from modalfleet.fleet.load import load_fleet  # noqa: E402
from modalfleet.fleet.spec import Model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABEL = "random weights, full size"
CATALOG_NAMES = ("H200", "H100", "A100", "L40S", "L4", "A10", "T4", "B200", "RTX PRO 6000")

# Tiny stand-ins for the CPU path: the same classes and code, dimensions small enough to run
# in a second. Keys override the shipped config.
TINY = {
    "FluxTransformer2DModel": {
        "in_channels": 16,
        "num_layers": 1,
        "num_single_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 32,
        "pooled_projection_dim": 16,
        "axes_dims_rope": [4, 6, 6],
    },
    "UNet2DConditionModel": {
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "transformer_layers_per_block": [1, 1],
        "attention_head_dim": [2, 4],
        "cross_attention_dim": 32,
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 80,  # text_embeds 32 + 6 time ids x 8
        "norm_num_groups": 32,
    },
    "ControlNetModel": {
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "transformer_layers_per_block": [1, 1],
        "attention_head_dim": [2, 4],
        "cross_attention_dim": 32,
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 80,
        "conditioning_embedding_out_channels": [8, 8, 16, 16],
        "norm_num_groups": 32,
    },
}
TINY["WanTransformer3DModel"] = {
    "num_attention_heads": 2,
    "attention_head_dim": 12,  # its rotary split needs a multiple of 6 (t, h, w)
    "text_dim": 32,
    "freq_dim": 16,
    "ffn_dim": 32,
    "num_layers": 1,
}
TINY_PARAMS = {"width": 64, "height": 64, "max_sequence_length": 8}
TINY_LABEL = "random weights, TINY config: a CPU check of this script, not a measurement"


def _config(component, tiny: bool) -> dict[str, Any]:
    config = {k: v for k, v in component.config.items() if not k.startswith("_")}
    if tiny:
        config.update(copy.deepcopy(TINY[component.cls]))
    return config


def _build(component, tiny: bool, device, dtype):
    import diffusers
    import torch

    cls = getattr(diffusers, component.cls)
    config = _config(component, tiny)
    with torch.device(device):
        module = cls.from_config(config)
    return module.to(device=device, dtype=dtype).eval()


def _flux_step(model: Model, parts, params, tiny, device, dtype) -> tuple[Callable[[], Any], int]:
    import torch

    transformer = _build(parts["transformer"], tiny, device, dtype)
    c = transformer.config
    width, height = int(params["width"]), int(params["height"])
    tokens = (height // 16) * (width // 16)
    text = int(params.get("max_sequence_length", 512))
    g = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    inputs = {
        "hidden_states": rand(1, tokens, c.in_channels),
        "encoder_hidden_states": rand(1, text, c.joint_attention_dim),
        "pooled_projections": rand(1, c.pooled_projection_dim),
        "timestep": torch.tensor([0.5], device=device, dtype=dtype),
        "img_ids": torch.zeros(tokens, 3, device=device, dtype=dtype),
        "txt_ids": torch.zeros(text, 3, device=device, dtype=dtype),
        "return_dict": False,
    }
    if c.guidance_embeds:
        inputs["guidance"] = torch.tensor([float(params.get("guidance", 3.5))], device=device)

    def step():
        return transformer(**inputs)

    return step, 1


def _sdxl_step(model: Model, parts, params, tiny, device, dtype) -> tuple[Callable[[], Any], int]:
    import torch

    unet = _build(parts["unet"], tiny, device, dtype)
    controlnet = _build(parts["controlnet"], tiny, device, dtype) if "controlnet" in parts else None
    c = unet.config
    passes = 2 if float(params.get("guidance", 0)) > 1 else 1  # CFG: the pipeline's batch of 2
    width, height = int(params["width"]), int(params["height"])
    g = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    text_embeds = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim
    # InstantID's prompt is the text's 77 tokens and the IP-adapter's 16 identity tokens.
    context = 77 + (16 if controlnet is not None else 0)
    latents = rand(passes, c.in_channels, height // 8, width // 8)
    added = {"text_embeds": rand(passes, text_embeds), "time_ids": rand(passes, 6)}
    hidden = rand(passes, context, c.cross_attention_dim)
    t = torch.tensor([500], device=device)
    image = rand(passes, 3, height, width) if controlnet is not None else None

    def step():
        extra = {}
        if controlnet is not None:
            down, mid = controlnet(
                latents,
                t,
                encoder_hidden_states=hidden[:, :16],
                controlnet_cond=image,
                added_cond_kwargs=added,
                return_dict=False,
            )
            extra = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        return unet(
            latents, t, encoder_hidden_states=hidden, added_cond_kwargs=added, **extra
        ).sample

    return step, passes


def _wan_step(model: Model, parts, params, tiny, device, dtype) -> tuple[Callable[[], Any], int]:
    import torch

    transformer = _build(parts["transformer"], tiny, device, dtype)
    c = transformer.config
    passes = 2 if float(params.get("guidance", 0)) > 1 else 1  # the pipeline runs two passes
    width, height = int(params["width"]), int(params["height"])
    frames = int(params.get("num_frames", 81))
    latent_frames = (frames - 1) // 4 + 1  # the Wan VAE compresses time 4x
    g = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    latents = rand(1, c.in_channels, latent_frames, height // 8, width // 8)
    text = rand(1, 512 if not tiny else 8, c.text_dim)
    t = torch.tensor([500], device=device)

    def step():
        for _ in range(passes):  # conditional, then unconditional, as WanPipeline does
            transformer(latents, t, text, return_dict=False)

    return step, passes


STEPS = {"flux": _flux_step, "sdxl": _sdxl_step, "wan": _wan_step}


def _gpu_name(torch) -> str:
    if not torch.cuda.is_available():
        return "cpu"
    name = torch.cuda.get_device_name()
    return next((short for short in CATALOG_NAMES if short in name), name)


def run(models: list[str] | None = None, steps: int = 3, tiny: bool | None = None) -> list[dict]:
    """Time each bundled model's denoiser step; one calibration-format row per model."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = device == "cpu" if tiny is None else tiny
    fleet = load_fleet(REPO).fleet
    rows = []
    for model in fleet.models.values():
        if models and model.name not in models:
            continue
        arch = pipeline_architecture(model)
        if arch is None or arch.family not in STEPS:
            continue
        dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(model.dtype)
        if device == "cpu" or (dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported()):
            dtype = torch.float32 if device == "cpu" else torch.float16
        params = {**model.params, **(TINY_PARAMS if tiny else {})}
        if tiny and "num_frames" in params:
            params["num_frames"] = 5  # two latent frames
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        step, passes = STEPS[arch.family](model, components(model), params, tiny, device, dtype)
        with torch.inference_mode():
            step()  # warm-up: kernels chosen, memory allocated
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            if device == "cuda":
                torch.cuda.synchronize()
            per_step = (time.perf_counter() - start) / steps
        peak = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else None
        flops = request_flops(model)
        label = TINY_LABEL if tiny else LABEL
        rows.append(
            {
                "id": f"{model.name}-{_gpu_name(torch).lower().replace(' ', '-')}-random",
                "source": f"benchmarks/speed_gpu.py ({label})",
                "gpu": _gpu_name(torch),
                "repo": arch.repo,
                "kind": model.kind,
                "dtype": str(dtype).removeprefix("torch."),
                "params": {k: v for k, v in params.items() if isinstance(v, int | float)},
                "quantization": {},
                "batch": 1,
                "seconds": round(per_step * flops.steps, 3),
                "note": f"{label}: denoiser loop only ({flops.steps} steps x {per_step:.4f} s, "
                f"{passes} pass(es) a step); peak GPU memory "
                + ("n/a (CPU)" if peak is None else f"{peak:.1f} GB"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model")
    parser.add_argument("--tiny", action="store_true", help="tiny configs (implied without CUDA)")
    parser.add_argument("--model", action="append", help="only these bundled models")
    args = parser.parse_args(argv)
    import yaml

    rows = run(args.model, args.steps, True if args.tiny else None)
    print(yaml.safe_dump({"measurements": rows}, sort_keys=False, width=100), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
