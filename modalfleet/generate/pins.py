"""The one table of versions: what the generated images install, and what pyproject's `runtime`
extra installs for the tests that run the same inference code here.

The templates read it through `pin(name)`; tests/test_pins.py fails when pyproject's runtime
extra names a version this table does not hold. Change a version here, then `render`.
"""

from __future__ import annotations

import re

PINS: dict[str, str] = {
    # every image
    "torch": "2.13.0",
    "diffusers": "0.42.1",
    "transformers": "5.24.0",
    "accelerate": "1.15.0",
    "safetensors": "0.8.0",
    "huggingface_hub": "2.4.0",
    "pillow": "13.0.0",
    "numpy": "2.4.6",
    "fastapi": "0.165.0",
    "pydantic": "2.13.4",
    # quantization
    "torchao": "0.18.0",
    "bitsandbytes": "0.50.2",
    # text-to-image (FLUX's T5 tokenizer)
    "sentencepiece": "0.2.3",
    "protobuf": "7.36.2",
    # lora, SeedVR2
    "peft": "0.21.2",
    # instantid: insightface and the dependencies it declares, but the GPU ONNX runtime
    "insightface": "2.1",
    "onnxruntime-gpu": "1.31.1",
    "onnx": "1.23.2",
    "opencv-python": "5.0.0.93",
    "tqdm": "4.70.1",
    "requests": "2.34.2",
    "scipy": "1.17.1",
    "scikit-image": "0.26.0",
    # text-to-video
    "ftfy": "6.3.1",
    "imageio": "2.38.2",
    "imageio-ffmpeg": "0.8.1",
    # SeedVR2's requirements.txt
    "torchvision": "0.28.0",
    "psutil": "7.2.2",
    "einops": "0.8.2",
    "omegaconf": "2.4.0",
    "rotary-embedding-torch": "0.9.1",
    "gguf": "0.19.0",
    "matplotlib": "3.11.2",
}

# GPU-only packages and the CPU build pyproject installs in their place (same API, no CUDA):
# the tests run here without a GPU. The CPU onnxruntime is never in an image (one ONNX runtime
# there: installing both lets either win).
CPU_STAND_INS: dict[str, tuple[str, str]] = {"onnxruntime-gpu": ("onnxruntime", "1.32.0")}

# insightface 2.1 declares the CPU `onnxruntime`; the image installs it with --no-deps and its
# other declared dependencies (below) explicitly, so onnxruntime-gpu is the only ONNX runtime.
INSIGHTFACE_DEPENDENCIES = (
    "numpy",
    "onnx",
    "opencv-python",
    "tqdm",
    "requests",
    "scipy",
    "scikit-image",
)

_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[A-Za-z0-9_,.-]+\])?$")


def normalise(name: str) -> str:
    """PEP 503 name: huggingface-hub, HuggingFace_Hub and huggingface_hub are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


_BY_NORMALISED = {normalise(name): version for name, version in PINS.items()}


def pin(requirement: str) -> str:
    """'fastapi[standard]' -> 'fastapi[standard]==0.165.0'. KeyError for an unpinned package."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        raise ValueError(f"not a package name (with optional extras): {requirement!r}")
    return f"{requirement}=={_BY_NORMALISED[normalise(match.group(1))]}"


def pins(requirements: list[str]) -> list[str]:
    return [pin(requirement) for requirement in requirements]
