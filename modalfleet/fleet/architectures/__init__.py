"""The bundled models' architectures: their published config.json dimensions, shipped as package
data beside this module (one JSON file per weights repository), and what those dimensions say
about the weights: parameters per component and the bytes they take in a dtype and quantization.

This lives in fleet/ (not economics/, as the first interface sketch had it) because `validate`'s
`vram-declared-off` check needs the parameter counts and fleet/ may not import economics/;
economics/flops.py reads the same configs through this module. The JSON is read lazily, on the
first question about a model whose repository has a file, so a plain `validate` of a fleet
without known repositories reads nothing. Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..sizes import QUANTIZATION_FACTORS, scheme_for
from ..spec import Model
from . import layers

# Weights repository -> architecture file (without .json). Repositories not named here have no
# known architecture: callers fall back to the declared figures.
FILES: dict[str, str] = {
    "black-forest-labs/FLUX.1-schnell": "flux1-schnell",
    "black-forest-labs/FLUX.1-dev": "flux1-dev",
    "stabilityai/stable-diffusion-xl-base-1.0": "sdxl-base",
    "madebyollin/sdxl-vae-fp16-fix": "sdxl-vae-fp16-fix",
    "InstantX/InstantID": "instantid",
}

# Bytes per parameter of a dtype, unquantized.
DTYPE_BYTES: dict[str, float] = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}


@dataclass(frozen=True)
class Component:
    name: str  # the pipeline's attribute: transformer, text_encoder_2, vae, controlnet ...
    cls: str  # the diffusers/transformers class the config builds
    path: str  # the config's path inside its repository
    config: dict[str, Any]


@dataclass(frozen=True)
class Architecture:
    name: str  # the file's stem
    family: str  # flux, sdxl, wan, seedvr2 (pipeline files); "" for a repository of parts
    repo: str
    revision: str
    source: str
    components: dict[str, Component]


@cache
def load(name: str) -> Architecture:
    """One shipped architecture file, parsed once per process."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    components = {
        key: Component(key, value["class"], value["path"], value["config"])
        for key, value in data["components"].items()
    }
    return Architecture(
        name,
        data.get("family", ""),
        data["repo"],
        data["revision"],
        data["source"],
        components,
    )


def pipeline_architecture(model: Model) -> Architecture | None:
    """The architecture of the model's pipeline weights (role pipeline); None when unknown."""
    for weights in model.weights:
        if weights.role == "pipeline" and weights.repo in FILES:
            found = load(FILES[weights.repo])
            return found if found.family else None
    return None


def family(model: Model) -> str | None:
    found = pipeline_architecture(model)
    return found.family if found else None


def components(model: Model) -> dict[str, Component] | None:
    """Every component the model loads whose architecture is known: the pipeline's, then the
    ones other weights bring or replace (a separate VAE, a ControlNet). None when the pipeline's
    architecture is unknown."""
    pipeline = pipeline_architecture(model)
    if pipeline is None:
        return None
    found = dict(pipeline.components)
    for weights in model.weights:
        if weights.role != "pipeline" and weights.repo in FILES:
            found.update(load(FILES[weights.repo]).components)
    return found


def parameter_count(component: Component) -> int:
    """Parameters of one component, from its config (the same walk that counts its FLOPs)."""
    tally = layers.Tally()
    c = component.config
    if component.cls == "FluxTransformer2DModel":
        layers.flux_transformer(tally, c, 0, 0)
    elif component.cls in ("CLIPTextModel", "CLIPTextModelWithProjection"):
        layers.clip_text(tally, c, 0, projection=component.cls.endswith("Projection"))
    elif component.cls in ("T5EncoderModel", "UMT5EncoderModel"):
        layers.t5_encoder(tally, c, 0, per_layer_bias=component.cls.startswith("UMT5"))
    elif component.cls == "UNet2DConditionModel":
        layers.unet(tally, c, 0, 0, 0)
    elif component.cls == "ControlNetModel":
        layers.controlnet(tally, c, 0, 0, 0)
    elif component.cls == "AutoencoderKL":
        layers.vae_decoder(tally, c, 0, 0)
        layers.vae_encoder_params(tally, c)
    else:
        raise ValueError(f"no parameter count for {component.cls}")
    return tally.params


def bytes_per_parameter(model: Model, component: str, dtype: str) -> float:
    """What one parameter of `component` occupies on the GPU: the run dtype's width, or the
    declared quantization's (fleet/sizes.py's factors are fractions of the 16-bit size)."""
    scheme = scheme_for(model, component)
    if scheme == "none":
        return DTYPE_BYTES[dtype]
    return 2.0 * QUANTIZATION_FACTORS[scheme]


def parameter_bytes(model: Model, dtype: str | None = None) -> dict[str, float] | None:
    """Bytes per known component in `dtype` (the model's own when None) and its quantization;
    None when the model's architecture is unknown."""
    found = components(model)
    if found is None:
        return None
    dtype = dtype or model.dtype
    return {
        name: parameter_count(component) * bytes_per_parameter(model, name, dtype)
        for name, component in found.items()
    }
