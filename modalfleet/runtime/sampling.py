"""Small pieces every diffusers-backed kind shares: seeding, size checks, fp16 file variants."""

from __future__ import annotations

from typing import Any

from .errors import InputError


def generator(seed: int) -> Any:
    """A CPU torch.Generator: the initial noise is drawn on the CPU, so a seed gives the same
    noise on every GPU type (CUDA generators differ between architectures)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(int(seed))


def require_multiple(width: int, height: int, multiple: int) -> None:
    """Refuse sizes the pipeline would silently round (the PNG would not be the size asked for)."""
    if width <= 0 or height <= 0 or width % multiple or height % multiple:
        raise InputError(
            f"width and height must be positive multiples of {multiple}, got {width}x{height}"
        )


def variant_for(model: dict[str, Any], key: str = "pipeline") -> str | None:
    """ "fp16" when the declared files are the repository's *.fp16.* variant (SDXL base ships both
    fp32 and fp16 files; downloading only the fp16 ones halves the download)."""
    from .weights import artefact_key

    for weights in model["weights"]:
        if artefact_key(weights) == key:
            return (
                "fp16" if any("fp16" in pattern for pattern in weights.get("files") or ()) else None
            )
    return None


def params(model: dict[str, Any]) -> dict[str, Any]:
    return dict(model.get("params") or {})
