"""FLOPs of one request: the model's pipeline at the request's parameters, in closed form.

From the architectures' published dimensions (fleet/architectures/*.json) and the request's
parameters (steps, width, height, num_frames ...), one request costs

    steps x denoiser passes per step x FLOPs of one denoiser forward   (the denoiser loop)
    + the text encoders, once                                          (prompt encoding)
    + the VAE decoder, once (per frame group for video)                (decoding)

counting a multiply-add as 2 FLOPs and only matmuls and convolutions, the convention of torch's
FlopCounterMode (tests/test_flops.py checks each closed form against it over the real diffusers
and transformers models, built from the same configs on the meta device; SeedVR2's against its
upstream code with tools/check_seedvr2_closed_form.py). Classifier-free guidance doubles the
denoiser passes where the pipeline runs two (SDXL and Wan with guidance > 1; Wan then encodes its
empty negative prompt too, SDXL uses zeros for it); FLUX.1 [dev]'s guidance is distilled into one
pass and FLUX.1 [schnell] runs without. SeedVR2 is one DiT step per batch of frames plus the
VAE's encode and decode of each batch, with a precomputed prompt (no text encoder); a request is
one batch at `resolution` (the cap of its short side), 16:9, unless num_frames or aspect say
otherwise.

What is left out, and why it is small: elementwise work (norms, activations, softmax, the
scheduler), the tokenizers, and for InstantID the face analysis (ONNX, on the CPU side) and the
IP-adapter's image-prompt resampler (16 tokens, once). Nothing here imports torch.

Interface (INTERFACES.md, branch `flops`): `request_flops`, `parameter_bytes`, `Flops`,
`ParamError`. The architecture configs ship under modalfleet/fleet/architectures/ rather than
economics/, so that `validate` (fleet/) can count parameters from them; `parameter_bytes` is
re-exported here unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..fleet.architectures import (
    Architecture,
    components,
    layers,
    parameter_bytes,
    pipeline_architecture,
)
from ..fleet.spec import Model

__all__ = ["Flops", "ParamError", "parameter_bytes", "request_flops"]


class ParamError(ValueError):
    """An override the model has no such parameter for, or a value that is not a number."""


@dataclass(frozen=True)
class Flops:
    parts: tuple[tuple[str, float], ...]  # (term, FLOPs): denoiser loop, text encoders, decode
    denoiser_step: float  # FLOPs of one step: every pass (CFG) and the ControlNet
    steps: int

    @property
    def total(self) -> float:
        return sum(value for _, value in self.parts)


# The numeric parameters each family's FLOPs read, with the pipeline's own default where the
# model's params may leave one out (None: the model must declare it; a name: that param's value).
FAMILY_PARAMS: dict[str, dict[str, float | str | None]] = {
    "flux": {
        "steps": None,
        "width": 1024,
        "height": 1024,
        "guidance": 0.0,
        "max_sequence_length": 512,
    },
    "sdxl": {"steps": None, "width": 1024, "height": 1024, "guidance": 5.0},
    "wan": {
        "steps": None,
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "guidance": 5.0,
        "max_sequence_length": 512,
    },
    # SeedVR2 is one-step; a request is one batch of frames unless num_frames says otherwise,
    # framed 16:9 unless aspect (long side / short side) says otherwise.
    "seedvr2": {
        "steps": 1,
        "resolution": None,
        "batch_size": None,
        "num_frames": "batch_size",
        "aspect": 16 / 9,
    },
}


WHOLE_PARAMS = frozenset(
    ("steps", "width", "height", "num_frames", "max_sequence_length", "resolution", "batch_size")
)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise ParamError(f"param {name!r} must be a number, not {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ParamError(f"param {name!r} must be a number, not {value!r}") from None
    else:
        raise ParamError(f"param {name!r} must be a number, not {value!r}")
    if not math.isfinite(number):
        raise ParamError(f"param {name!r} must be a finite number, not {value!r}")
    return number


def resolved_params(
    model: Model, family: str, params: Mapping[str, object] | None
) -> dict[str, float]:
    """The model's params with the overrides applied, the numeric ones the FLOPs read checked.

    An override must name a parameter the model declares or one its family's FLOPs read.
    """
    known = FAMILY_PARAMS[family]
    for name in params or {}:
        if name not in model.params and name not in known:
            allowed = ", ".join(sorted(set(model.params) | set(known)))
            raise ParamError(f"unknown param {name!r} for {model.name} (known: {allowed})")
    merged = {**model.params, **(params or {})}
    values: dict[str, float] = {}
    for name, default in known.items():
        if name in merged:
            values[name] = _number(name, merged[name])
        elif default is None:
            raise ParamError(f"{model.name} declares no {name!r} param")
        elif isinstance(default, str):
            values[name] = values[default]
            continue  # checked as that param
        else:
            values[name] = float(default)
        value = values[name]
        if name in WHOLE_PARAMS and (value < 1 or value != int(value)):
            raise ParamError(
                f"param {name!r} must be a whole number >= 1, not {merged.get(name, value)!r}"
            )
        if name == "aspect" and value <= 0:
            raise ParamError(f"param 'aspect' must be positive, not {merged.get(name, value)!r}")
    return values


def flux_image_tokens(width: int, height: int) -> int:
    """FLUX packs 2x2 patches of the /8 latents: one token per 16x16 pixels (the pipeline rounds
    each side down to a multiple of 16)."""
    return (height // 16) * (width // 16)


def _flux(arch: Architecture, p: dict[str, float]) -> tuple[float, int, list[tuple[str, float]]]:
    width, height = int(p["width"]), int(p["height"])
    text_tokens = int(p["max_sequence_length"])
    parts = arch.components
    step = layers.Tally()
    layers.flux_transformer(
        step, parts["transformer"].config, flux_image_tokens(width, height), text_tokens
    )
    encoders = layers.Tally()
    layers.clip_text(encoders, parts["text_encoder"].config, 77)
    layers.t5_encoder(encoders, parts["text_encoder_2"].config, text_tokens)
    decode = layers.Tally()
    layers.vae_decoder(decode, parts["vae"].config, height // 16 * 16, width // 16 * 16)
    # One transformer pass per step: [dev]'s guidance is an input of that pass (distilled),
    # [schnell] has none.
    return step.flops, 1, [("text encoders", encoders.flops), ("vae decode", decode.flops)]


# InstantID's identity Resampler turns the face embedding into 16 tokens (runtime/instantid.py):
# the UNet attends to them beside the prompt (IP-adapter), the ControlNet instead of the prompt.
IDENTITY_TOKENS = 16
CLIP_TOKENS = 77  # both SDXL text encoders, and FLUX's CLIP, read 77 tokens


def _guidance_passes(p: dict[str, float]) -> int:
    """The pipelines that run classifier-free guidance (SDXL, Wan) do so, as a batch of two,
    exactly when guidance > 1."""
    return 2 if p["guidance"] > 1 else 1


def _sdxl(arch: Architecture, p: dict[str, float]) -> tuple[float, int, list[tuple[str, float]]]:
    width, height = int(p["width"]), int(p["height"])
    parts = arch.components
    identity = "controlnet" in parts
    step = layers.Tally()
    layers.unet(
        step, parts["unet"].config, height, width, CLIP_TOKENS, IDENTITY_TOKENS if identity else 0
    )
    if identity:
        layers.controlnet(step, parts["controlnet"].config, height, width, IDENTITY_TOKENS)
    encoders = layers.Tally()
    # With guidance and no negative prompt SDXL uses zeros for it (force_zeros_for_empty_prompt):
    # the encoders run once.
    layers.clip_text(encoders, parts["text_encoder"].config, CLIP_TOKENS)
    layers.clip_text(encoders, parts["text_encoder_2"].config, CLIP_TOKENS, projection=True)
    decode = layers.Tally()
    layers.vae_decoder(decode, parts["vae"].config, height // 8 * 8, width // 8 * 8)
    return (
        step.flops,
        _guidance_passes(p),
        [("text encoders", encoders.flops), ("vae decode", decode.flops)],
    )


def wan_latent_frames(num_frames: int) -> int:
    """The Wan VAE keeps the first frame and packs every 4 after it into one latent frame."""
    return (num_frames - 1) // 4 + 1


def wan_video_tokens(num_frames: int, width: int, height: int) -> int:
    """Latent frames x (height/8 / 2) x (width/8 / 2): patches of 1x2x2 latents."""
    return wan_latent_frames(num_frames) * (height // 16) * (width // 16)


def _wan(arch: Architecture, p: dict[str, float]) -> tuple[float, int, list[tuple[str, float]]]:
    width, height, frames = int(p["width"]), int(p["height"]), int(p["num_frames"])
    text_tokens = int(p["max_sequence_length"])
    parts = arch.components
    step = layers.Tally()
    layers.wan_transformer(
        step, parts["transformer"].config, wan_video_tokens(frames, width, height), text_tokens
    )
    passes = _guidance_passes(p)
    encoders = layers.Tally()
    # With guidance the Wan pipeline encodes the (empty) negative prompt too: one run per pass.
    for _ in range(passes):
        layers.t5_encoder(encoders, parts["text_encoder"].config, text_tokens, per_layer_bias=True)
    decode = layers.Tally()
    layers.wan_vae_decoder(
        decode, parts["vae"].config, wan_latent_frames(frames), height // 16 * 16, width // 16 * 16
    )
    return step.flops, passes, [("text encoder", encoders.flops), ("vae decode", decode.flops)]


def seedvr2_batches(num_frames: int, batch_size: int) -> list[int]:
    """Frames of each batch upstream runs: batch_size at a time, each padded to 4n + 1 (the VAE
    packs 4 frames after the first into a latent frame)."""
    sizes = [batch_size] * (num_frames // batch_size)
    if num_frames % batch_size:
        sizes.append(num_frames % batch_size)
    return [4 * math.ceil((size - 1) / 4) + 1 for size in sizes]


def _seedvr2(arch: Architecture, p: dict[str, float]) -> tuple[float, int, list[tuple[str, float]]]:
    """One request upscales num_frames frames (default: one batch) to a short side of
    `resolution` (the cap: runtime/video_upscale.py outputs min(source x scale, resolution)) at
    `aspect`; each batch is VAE-encoded, denoised in one DiT step and decoded. The prompt is a
    precomputed embedding, so there is no text encoder."""
    short = int(p["resolution"])
    long = round(short * p["aspect"])
    height, width = 16 * math.ceil(short / 16), 16 * math.ceil(long / 16)
    parts = arch.components
    step, vae = layers.Tally(), layers.Tally()
    for frames in seedvr2_batches(int(p["num_frames"]), int(p["batch_size"])):
        latent = wan_latent_frames(frames)
        layers.seedvr2_dit(
            step, parts["dit"].config, (latent, height // 16, width // 16), arch.text_tokens
        )
        layers.seedvr2_vae(vae, parts["vae"].config, frames, height, width)
    return step.flops, 1, [("vae encode and decode", vae.flops)]


FAMILIES = {"flux": _flux, "sdxl": _sdxl, "wan": _wan, "seedvr2": _seedvr2}


def request_flops(model: Model, params: Mapping[str, object] | None = None) -> Flops | None:
    """FLOPs of one request of `model`, `params` overriding its declared params; None when its
    architecture is not one of the shipped configs (callers fall back to the flat figure)."""
    arch = pipeline_architecture(model)
    if arch is None or arch.family not in FAMILIES:
        return None
    values = resolved_params(model, arch.family, params)
    known = components(model) or {}
    arch = dataclasses.replace(arch, components=known)
    forward, passes, others = FAMILIES[arch.family](arch, values)
    steps = int(values["steps"])
    step = forward * passes
    loop = f"{_denoiser_name(arch)} {steps} step{'s' if steps != 1 else ''}"
    if "controlnet" in arch.components:
        loop += " + controlnet"
    if passes > 1:
        loop += f" x {passes} passes (guidance)"
    return Flops(parts=((loop, step * steps), *others), denoiser_step=step, steps=steps)


def _denoiser_name(arch: Architecture) -> str:
    for name in ("unet", "dit"):
        if name in arch.components:
            return name
    return "transformer"
