"""Request limits of a model on its GPU: the most one request may ask for (more is HTTP 422).

The handler checks a request against these before any GPU work, so an oversized request is a
clear 422 naming the field instead of an out-of-memory error or a timeout. Defaults come from
the model's own declaration (models.yaml) and the smallest GPU in its list; `limits:` in
models.yaml overrides any of them.

The formula (README, "Request limits"). Weights occupy the same VRAM whatever the request;
activations grow about linearly with the pixels of a call (times frames for video), and
vram_gb is declared at the model's default params, so:

    weights  = loaded_weights_gb(model)              (after quantization, sizes.py)
    per_call = vram_gb - weights                     (activations at the default params)
    scale    = clamp((gpu VRAM - weights) / per_call, 1, 4)      (1 when per_call <= 0)

    max_pixels       = default width x height x scale
    max_side         = min(4096, 2 x the default long side)
    max_pixel_frames = default width x height x num_frames x scale                  (video)
    max_frames       = largest 4k+1 <= default num_frames x scale                   (video)
    max_batch        = largest 4n+1 <= default batch_size x scale                 (SeedVR2)
    max_resolution   = default resolution x sqrt(scale), even                     (SeedVR2)
    max_steps        = max(8, 2 x default steps)     (steps cost time, not memory)
    max_images       = clamp(max_pixels // default width x height, 1, 4)        (image kinds)

A call's images share its activations: num_images x width x height must stay within max_pixels,
so max_images is how many default-size images one call holds (after a `max_pixels` override).

Clamped at 1 so the model's own defaults always pass, at 4 because vram_gb is an estimate and a
far-from-default request is the one an estimate is worst at. Payload limits bound host memory
and upload time rather than VRAM; they are per-kind constants (PAYLOAD_LIMITS).
"""

from __future__ import annotations

import math
from typing import Any

from .sizes import loaded_weights_gb
from .spec import Catalog, Model

SCALE_MAX = 4.0
SIDE_CAP = 4096
MIN_STEPS_LIMIT = 8
IMAGES_CAP = 4  # the request field's own bound (the kind templates' num_images `le`)

# The request defaults of each kind when models.yaml does not set them (the kind templates'
# fallbacks): the operating point vram_gb is declared at.
KIND_DEFAULTS: dict[str, dict[str, int]] = {
    "text-to-image": {"width": 1024, "height": 1024, "steps": 28},
    "lora": {"width": 1024, "height": 1024, "steps": 30},
    "instantid": {"width": 1024, "height": 1024, "steps": 30},
    "text-to-video": {"width": 832, "height": 480, "steps": 30, "num_frames": 81},
    "video-upscale": {"resolution": 1080, "batch_size": 5},
}

# Uploads: a 40-megapixel phone photo; a 4K clip of at most 60 s at 30 fps.
MIB = 2**20
PAYLOAD_LIMITS: dict[str, dict[str, int]] = {
    "instantid": {"max_payload_bytes": 16 * MIB, "max_input_pixels": 40_000_000},
    "video-upscale": {
        "max_payload_bytes": 256 * MIB,
        "max_input_pixels": 3840 * 2160,
        "max_input_frames": 1800,
    },
}

# Which limits each kind's requests have, in the order they are checked.
KIND_LIMITS: dict[str, tuple[str, ...]] = {
    "text-to-image": ("max_side", "max_pixels", "max_steps", "max_images"),
    "lora": ("max_side", "max_pixels", "max_steps", "max_images"),
    "instantid": (
        "max_side",
        "max_pixels",
        "max_steps",
        "max_images",
        "max_payload_bytes",
        "max_input_pixels",
    ),
    "text-to-video": ("max_side", "max_pixels", "max_steps", "max_frames", "max_pixel_frames"),
    "video-upscale": (
        "max_resolution",
        "max_batch",
        "max_payload_bytes",
        "max_input_pixels",
        "max_input_frames",
    ),
}


def defaults(model: Model) -> dict[str, Any]:
    """The request's default values: the model's params over its kind's defaults."""
    return {**KIND_DEFAULTS[model.kind], **model.params}


def activation_scale(model: Model, gpu_vram_gb: float) -> float:
    """How many times the default call's activations fit beside the weights, in [1, 4]."""
    weights = loaded_weights_gb(model)
    per_call = model.vram_gb - weights
    if per_call <= 0:
        return 1.0
    return min(SCALE_MAX, max(1.0, (gpu_vram_gb - weights) / per_call))


def largest_4k_plus_1(bound: float) -> int:
    """The largest 1, 5, 9, ... not above bound (at least 1)."""
    return max(1, (int(bound) - 1) // 4 * 4 + 1)


def images_per_call(max_pixels: int, values: dict[str, Any]) -> int:
    """How many images of the default size one call holds within max_pixels, in [1, 4]."""
    default_pixels = int(values["width"]) * int(values["height"])
    return min(IMAGES_CAP, max(1, max_pixels // default_pixels))


def derived_limits(model: Model, gpu_vram_gb: float) -> dict[str, int]:
    """The formula's limits for this model on a GPU with gpu_vram_gb, before any override."""
    scale = activation_scale(model, gpu_vram_gb)
    values = defaults(model)
    found: dict[str, int] = {}
    if "width" in values:
        pixels = int(values["width"]) * int(values["height"])
        found["max_side"] = min(SIDE_CAP, 2 * max(int(values["width"]), int(values["height"])))
        found["max_pixels"] = math.floor(pixels * scale)
        found["max_steps"] = max(MIN_STEPS_LIMIT, 2 * int(values["steps"]))
        if "num_frames" in values:
            frames = int(values["num_frames"])
            found["max_frames"] = largest_4k_plus_1(frames * scale)
            found["max_pixel_frames"] = math.floor(pixels * frames * scale)
        else:
            found["max_images"] = images_per_call(found["max_pixels"], values)
    if "resolution" in values:
        resolution = int(int(values["resolution"]) * math.sqrt(scale))
        found["max_resolution"] = resolution - resolution % 2
        found["max_batch"] = largest_4k_plus_1(int(values["batch_size"]) * scale)
    found.update(PAYLOAD_LIMITS.get(model.kind, {}))
    return {name: found[name] for name in KIND_LIMITS[model.kind]}


def smallest_vram_gb(catalog: Catalog, gpus: tuple[str, ...]) -> float | None:
    """VRAM of the smallest known GPU of a fallback list (a request must fit every one)."""
    sizes = [found[0].vram_gb for name in gpus if (found := catalog.resolve(name))]
    return min(sizes) if sizes else None


# request_limits per (model, catalog, GPU list), by identity: validate asks twice per model and
# strategy and render once more, 12,000 times for 1000 models x 4 strategies. The objects are
# frozen dataclasses, so an entry stays true while they live; each entry keeps them alive, so
# its id cannot be reused by another object, and the table is emptied at a bound.
_LIMITS_MEMO: dict[tuple[int, int, tuple[str, ...]], tuple[Model, Catalog, dict[str, int]]] = {}
_LIMITS_MEMO_SIZE = 50_000


def request_limits(model: Model, catalog: Catalog, gpus: tuple[str, ...]) -> dict[str, int]:
    """The limits a handler enforces: derived for the smallest GPU of the list, then overridden
    by models.yaml's `limits:` (only the keys that apply to the kind). A new dict each call."""
    key = (id(model), id(catalog), gpus)
    known = _LIMITS_MEMO.get(key)
    if known is None or known[0] is not model or known[1] is not catalog:
        if len(_LIMITS_MEMO) >= _LIMITS_MEMO_SIZE:
            _LIMITS_MEMO.clear()
        known = _LIMITS_MEMO[key] = (model, catalog, _request_limits(model, catalog, gpus))
    return dict(known[2])


def _request_limits(model: Model, catalog: Catalog, gpus: tuple[str, ...]) -> dict[str, int]:
    vram = smallest_vram_gb(catalog, gpus)
    found = derived_limits(model, vram if vram is not None else model.vram_gb)
    for name, value in model.limits.items():
        if name in found:
            found[name] = int(value)
    if "max_images" in found and "max_images" not in model.limits:
        # a lowered max_pixels holds fewer images per call
        found["max_images"] = images_per_call(found["max_pixels"], defaults(model))
    return found


def default_violations(model: Model, limits: dict[str, int]) -> list[tuple[str, str]]:
    """(limit, message) for each limit the model's own default request would break."""
    values = defaults(model)
    found = []
    checks = {
        "max_side": lambda: max(int(values["width"]), int(values["height"])),
        "max_pixels": lambda: int(values["width"]) * int(values["height"]),
        "max_steps": lambda: int(values["steps"]),
        "max_images": lambda: int(values.get("num_images", 1)),
        "max_frames": lambda: int(values["num_frames"]),
        "max_pixel_frames": lambda: (
            int(values["width"]) * int(values["height"]) * int(values["num_frames"])
        ),
        "max_resolution": lambda: int(values["resolution"]),
        "max_batch": lambda: int(values["batch_size"]),
    }
    for name, value_of in checks.items():
        if name in limits and value_of() > limits[name]:
            found.append(
                (name, f"its default request needs {name} >= {value_of()}, not {limits[name]}")
            )
    return found
