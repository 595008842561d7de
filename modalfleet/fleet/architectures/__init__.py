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
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": "wan2.1-t2v-1.3b",
    "numz/SeedVR2_comfyUI": "seedvr2-3b",
}

# Bytes per parameter of a dtype, unquantized.
DTYPE_BYTES: dict[str, float] = {
    "float32": 4.0,
    "bfloat16": 2.0,
    "float16": 2.0,
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
}


@dataclass(frozen=True)
class Component:
    name: str  # the pipeline's attribute: transformer, text_encoder_2, vae, controlnet ...
    cls: str  # the diffusers/transformers class the config builds
    path: str  # the config's path inside its repository
    config: dict[str, Any]
    dtype: str | None = None  # a component the runtime keeps in its own dtype (Wan's VAE: fp32)
    file: str = ""  # the architecture file it comes from


@dataclass(frozen=True)
class Architecture:
    name: str  # the file's stem
    family: str  # flux, sdxl, wan, seedvr2 (pipeline files); "" for a repository of parts
    repo: str
    revision: str
    source: str
    components: dict[str, Component]
    text_tokens: int = 0  # a precomputed prompt's length, where the file says (SeedVR2)


@cache
def load(name: str) -> Architecture:
    """One shipped architecture file, parsed once per process."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    components = {
        key: Component(
            key, value["class"], value["path"], value["config"], value.get("dtype"), name
        )
        for key, value in data["components"].items()
    }
    return Architecture(
        name,
        data.get("family", ""),
        data["repo"],
        data["revision"],
        data["source"],
        components,
        data.get("text_tokens", 0),
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
    if component.file:
        return _shipped_count(component.file, component.name)
    return _count(component)


@cache
def _shipped_count(file: str, name: str) -> int:
    """A shipped component's count, walked once per process (validate asks for each twice)."""
    return _count(load(file).components[name])


def _count(component: Component) -> int:
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
    elif component.cls == "WanTransformer3DModel":
        layers.wan_transformer(tally, c, 0, 0)
    elif component.cls == "AutoencoderKLWan":
        layers.wan_vae_decoder(tally, c, 0, 0, 0)
        layers.wan_vae_encoder_params(tally, c)
    elif component.cls == "NaDiT":
        layers.seedvr2_dit(tally, c, (0, 0, 0), 0)
    elif component.cls == "VideoAutoencoderKL":
        layers.seedvr2_vae(tally, c, 0, 0, 0)
    elif component.cls == "AutoencoderKL":
        layers.vae_decoder(tally, c, 0, 0)
        layers.vae_encoder_params(tally, c)
    else:
        raise ValueError(f"no parameter count for {component.cls}")
    return tally.params


def bytes_per_parameter(model: Model, component: Component, dtype: str) -> float:
    """What one parameter of `component` occupies on the GPU: the run dtype's width (or the
    component's own, where the runtime keeps it apart), or the declared quantization's
    (fleet/sizes.py's factors are fractions of the 16-bit size)."""
    scheme = scheme_for(model, component.name)
    if scheme == "none":
        return DTYPE_BYTES[component.dtype or dtype]
    return 2.0 * QUANTIZATION_FACTORS[scheme]


def parameter_bytes(model: Model, gpu_dtype: str | None = None) -> dict[str, float] | None:
    """Bytes per known component in the run dtype (`gpu_dtype`, the model's declared dtype when
    None) and the declared quantization; None when the model's architecture is unknown."""
    found = components(model)
    if found is None:
        return None
    dtype = gpu_dtype or model.dtype
    return {
        name: parameter_count(component) * bytes_per_parameter(model, component, dtype)
        for name, component in found.items()
    }


GB = 1e9  # models.yaml's sizes are decimal gigabytes, as the repositories show them
# How far below the architecture's figure a declaration may be before validate warns: the
# declared sizes are rounded file sizes, and a component a config does not describe (an
# adapter's few MB) may sit in the same file.
DECLARED_TOLERANCE = 0.15


def repo_sizes_gb(repo: str) -> dict[str, float] | None:
    """What each component of a weights repository occupies in 16-bit (or the dtype the runtime
    keeps it in), in GB: the convention of models.yaml's size_gb and components. None when the
    repository has no shipped architecture."""
    if repo not in FILES:
        return None
    return {
        name: parameter_count(component) * DTYPE_BYTES[component.dtype or "bfloat16"] / GB
        for name, component in load(FILES[repo]).components.items()
    }


def declared_size_shortfalls(model: Model) -> list[tuple[tuple, str]]:
    """Every size_gb, components entry and vram_gb of `model` more than DECLARED_TOLERANCE below
    what the shipped architectures need: (path in models.yaml, message) pairs."""
    found: list[tuple[tuple, str]] = []
    base = ("models", model.name)
    for index, weights in enumerate(model.weights):
        sizes = repo_sizes_gb(weights.repo)
        if sizes is None:
            continue
        need = sum(sizes.values())
        if weights.size_gb < need * (1 - DECLARED_TOLERANCE):
            found.append(
                (
                    (*base, "weights", index, "size_gb"),
                    f"{weights.repo} declares size_gb {weights.size_gb:g} but its "
                    f"architecture's parameters take {need:.2f} GB in 16-bit "
                    f"({_listing(sizes)})",
                )
            )
        for name, declared in weights.components.items():
            if name in sizes and declared < sizes[name] * (1 - DECLARED_TOLERANCE):
                found.append(
                    (
                        (*base, "weights", index, "components", name),
                        f"{weights.repo} declares {name} at {declared:g} GB but its "
                        f"{sizes[name]:.2f} GB of parameters (16-bit) need more",
                    )
                )
    loaded = parameter_bytes(model)
    if loaded is not None:
        need = sum(loaded.values()) / GB
        if model.vram_gb < need * (1 - DECLARED_TOLERANCE):
            found.append(
                (
                    (*base, "vram_gb"),
                    f"{model.name} declares vram_gb {model.vram_gb:g} but its weights alone "
                    f"take {need:.2f} GB in {model.dtype} after the declared quantization "
                    f"({_listing({k: v / GB for k, v in loaded.items()})})",
                )
            )
    return found


def _listing(sizes: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in sizes.items())
