"""Weights size arithmetic: what the declared quantization leaves in VRAM.

Factors are fractions of the 16-bit (bf16/fp16) size each artefact is declared with:
- int8 (bitsandbytes LLM.int8 / torchao int8 weight-only): 1 byte per weight = 0.50, plus
  per-channel scales that round to nothing at this precision.
- fp8 (float8 e4m3 weights, Ada/Hopper/Blackwell only): 0.50.
- nf4 (bitsandbytes 4-bit NormalFloat): 4 bits = 0.25, plus one fp32 absmax per 64-weight block
  (+0.03) and layers kept in 16-bit (norms, embeddings): 0.28 is the figure used, and it
  matches the published FLUX.1 NF4 checkpoints (~6.7 GB for the 23.8 GB transformer).
"""

from __future__ import annotations

from .spec import Model

QUANTIZATION_FACTORS: dict[str, float] = {"none": 1.0, "int8": 0.5, "fp8": 0.5, "nf4": 0.28}


def scheme_for(model: Model, component: str) -> str:
    return model.quantization.get(component, model.quantization.get("*", "none"))


def loaded_weights_gb(model: Model, factors: dict[str, float] = QUANTIZATION_FACTORS) -> float:
    """Weights in VRAM after quantization, in GB (rounded to 0.01).

    `factors` maps a scheme to the fraction of the 16-bit size counted: by default what each
    scheme leaves in VRAM; the cold-start estimate passes its own (what crosses PCIe, or the
    seconds each scheme takes per GB) and sums the same breakdown.
    """
    total = 0.0
    for weights in model.weights:
        if weights.components:
            for component, size in weights.components.items():
                total += size * factors[scheme_for(model, component)]
            # Whatever the breakdown does not name stays 16-bit.
            total += max(0.0, weights.size_gb - sum(weights.components.values())) * factors["none"]
        else:
            total += weights.size_gb * factors[model.quantization.get("*", "none")]
    return round(total, 2)


def quantized_components(model: Model) -> set[str]:
    named = {c for w in model.weights for c in w.components}
    return {c for c in model.quantization if c != "*"} - named
