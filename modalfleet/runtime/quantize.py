"""Apply a model's declared quantization ({component: scheme}) when its pipeline is loaded.

Schemes and the library that does each (sizes.py holds the matching size factors):
- "nf4": bitsandbytes 4-bit NormalFloat, compute in the run dtype. CUDA only (diffusers refuses
  bitsandbytes without a GPU); works on a T4. Needs the `bitsandbytes` package in the image.
- "int8": torchao int8 weight-only (per-channel scales). Runs on CUDA and on CPU, so it is also
  what the CPU tests exercise for real.
- "fp8": torchao float8 weight-only. Needs compute capability >= 8.9 (Ada, Hopper, Blackwell).
- "none": left in the run dtype.
A component is a pipeline folder entry from model_index.json (transformer, text_encoder_2, ...);
"*" means every model component not named otherwise, except the VAE, which is too small to be
worth it and visibly loses quality when quantized.
A scheme the current device cannot run is skipped with a log line and the component loads in the
run dtype: the quantization exists to fit GPU memory, so on a CPU (tests, local runs) it is moot.
Serving containers load the copies `download` saved (quantized_store.py) and quantize here only
what the store lacks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Which devices each scheme runs on, and the least CUDA capability it needs.
SCHEME_DEVICES: dict[str, tuple[str, ...]] = {
    "nf4": ("cuda",),
    "int8": ("cuda", "cpu"),
    "fp8": ("cuda",),
}
FP8_MIN_CAPABILITY = (8, 9)
MODEL_LIBRARIES = ("diffusers", "transformers")


@dataclass(frozen=True)
class ComponentQuantization:
    component: str
    scheme: str
    library: str  # "diffusers" or "transformers": whose config class the loader expects
    backend: str  # "bitsandbytes" or "torchao"


def component_libraries(pipeline_dir: str | Path) -> dict[str, str]:
    """Component -> library that implements it, read from the pipeline's model_index.json."""
    index = json.loads((Path(pipeline_dir) / "model_index.json").read_text())
    return {
        name: entry[0]
        for name, entry in index.items()
        if isinstance(entry, list) and entry and entry[0] in MODEL_LIBRARIES
    }


def plan(
    quantization: dict[str, str],
    libraries: dict[str, str],
    device: str,
    capability: tuple[int, int] | None = None,
) -> tuple[list[ComponentQuantization], dict[str, str]]:
    """What will be quantized on this device, and why anything declared is skipped."""
    wanted = {c: s for c, s in quantization.items() if c != "*"}
    if "*" in quantization:
        for component in libraries:
            if component not in wanted and component != "vae":
                wanted[component] = quantization["*"]
    applied: list[ComponentQuantization] = []
    skipped: dict[str, str] = {}
    for component, scheme in sorted(wanted.items()):
        if scheme == "none":
            continue
        if scheme not in SCHEME_DEVICES:
            raise ValueError(f"unknown quantization scheme {scheme!r} for {component}")
        if component not in libraries:
            raise ValueError(
                f"quantization names {component!r}, which the pipeline does not have "
                f"(components: {', '.join(sorted(libraries))})"
            )
        if device not in SCHEME_DEVICES[scheme]:
            skipped[component] = (
                f"{scheme} needs {' or '.join(SCHEME_DEVICES[scheme])}, not {device}"
            )
            continue
        if scheme == "fp8" and (capability or (0, 0)) < FP8_MIN_CAPABILITY:
            skipped[component] = f"fp8 needs compute capability >= 8.9, this GPU has {capability}"
            continue
        backend = "bitsandbytes" if scheme == "nf4" else "torchao"
        applied.append(ComponentQuantization(component, scheme, libraries[component], backend))
    return applied, skipped


def component_config(item: ComponentQuantization, compute_dtype: Any) -> Any:
    """The library's own quantization config object for one component."""
    if item.backend == "bitsandbytes":
        if item.library == "diffusers":
            from diffusers import BitsAndBytesConfig
        else:
            from transformers import BitsAndBytesConfig
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
        )
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    scheme_config = Int8WeightOnlyConfig() if item.scheme == "int8" else Float8WeightOnlyConfig()
    if item.library == "diffusers":
        from diffusers import TorchAoConfig

        return TorchAoConfig(scheme_config)
    from transformers import TorchAoConfig

    return TorchAoConfig(quant_type=scheme_config)


def applicable(
    quantization: dict[str, str],
    pipeline_dir: str | Path,
    device: str,
    capability: tuple[int, int] | None = None,
) -> list[ComponentQuantization]:
    """The declared quantization this device can run; what it cannot is logged and skipped.

    capability is the CUDA compute capability; None asks the current GPU.
    """
    if not quantization:
        return []
    if device == "cuda" and capability is None:
        import torch

        capability = torch.cuda.get_device_capability()
    applied, skipped = plan(quantization, component_libraries(pipeline_dir), device, capability)
    for component, reason in skipped.items():
        log.warning("not quantizing %s: %s; it loads unquantized", component, reason)
    return applied


def pipeline_config(items: list[ComponentQuantization], compute_dtype: Any) -> Any | None:
    """A diffusers PipelineQuantizationConfig for from_pretrained, or None when nothing applies."""
    if not items:
        return None
    from diffusers import PipelineQuantizationConfig

    return PipelineQuantizationConfig(
        quant_mapping={item.component: component_config(item, compute_dtype) for item in items}
    )
