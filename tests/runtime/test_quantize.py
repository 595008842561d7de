"""Declared quantization: what applies on which device, the library configs, the int8 path on CPU."""

from __future__ import annotations

import pytest
import torch

from modalfleet.runtime import quantize, text_to_image
from modalfleet.runtime.quantize import ComponentQuantization as CQ
from modalfleet.runtime.weights import WEIGHTS_DIR_ENV

from .decode import png_pixels
from .handlers import REPO, load_generated

pytestmark = pytest.mark.runtime

FLUX_LIBRARIES = {
    "text_encoder": "transformers",
    "text_encoder_2": "transformers",
    "transformer": "diffusers",
    "vae": "diffusers",
}
SCHNELL = {"transformer": "nf4", "text_encoder_2": "int8"}


def test_flux_schnell_on_a_t4_quantizes_both_components():
    applied, skipped = quantize.plan(SCHNELL, FLUX_LIBRARIES, "cuda", (7, 5))
    assert applied == [
        CQ("text_encoder_2", "int8", "transformers", "torchao"),
        CQ("transformer", "nf4", "diffusers", "bitsandbytes"),
    ]
    assert skipped == {}


def test_on_cpu_only_int8_applies():
    applied, skipped = quantize.plan(SCHNELL, FLUX_LIBRARIES, "cpu")
    assert applied == [CQ("text_encoder_2", "int8", "transformers", "torchao")]
    assert skipped == {"transformer": "nf4 needs cuda, not cpu"}


def test_fp8_needs_ada_or_newer():
    wanted = {"transformer": "fp8"}
    assert quantize.plan(wanted, FLUX_LIBRARIES, "cuda", (8, 6)) == (
        [],
        {"transformer": "fp8 needs compute capability >= 8.9, this GPU has (8, 6)"},
    )
    assert quantize.plan(wanted, FLUX_LIBRARIES, "cuda", (8, 9))[0] == [
        CQ("transformer", "fp8", "diffusers", "torchao")
    ]


def test_star_covers_every_model_component_but_the_vae():
    applied, _ = quantize.plan({"*": "int8", "transformer": "none"}, FLUX_LIBRARIES, "cpu")
    assert [item.component for item in applied] == ["text_encoder", "text_encoder_2"]


def test_unknown_component_or_scheme_is_refused():
    with pytest.raises(ValueError, match="names 'unet', which the pipeline does not have"):
        quantize.plan({"unet": "int8"}, FLUX_LIBRARIES, "cpu")
    with pytest.raises(ValueError, match="unknown quantization scheme 'int3'"):
        quantize.plan({"transformer": "int3"}, FLUX_LIBRARIES, "cpu")


def test_runtime_schemes_are_the_ones_sizes_accounts_for():
    from modalfleet.fleet.sizes import QUANTIZATION_FACTORS

    assert set(quantize.SCHEME_DEVICES) == set(QUANTIZATION_FACTORS) - {"none"}


def test_the_download_gets_a_gpu_for_exactly_the_schemes_only_cuda_runs():
    from modalfleet.fleet.snapshots import GPU_ONLY_SCHEMES

    cuda_only = {s for s, devices in quantize.SCHEME_DEVICES.items() if "cpu" not in devices}
    assert GPU_ONLY_SCHEMES == cuda_only == {"nf4", "fp8"}


def test_every_generated_model_quantizes_only_components_its_weights_break_down():
    """The generated MODEL dicts carry the quantization that sizes.py counted, component by component."""
    from modalfleet.fleet.load import load_fleet

    fleet = load_fleet(REPO).fleet
    for name, model in fleet.models.items():
        generated = load_generated(model.module_name).MODEL
        assert generated["quantization"] == dict(model.quantization), name
        named = {c for w in model.weights for c in w.components}
        assert set(generated["quantization"]) - {"*"} <= named, name


def test_t4_config_objects_for_flux_schnell(flux_schnell_weights):
    """Built for a T4 without one: the exact objects from_pretrained would receive there."""
    from diffusers import BitsAndBytesConfig, PipelineQuantizationConfig
    from transformers import TorchAoConfig

    items = quantize.applicable(
        SCHNELL, flux_schnell_weights / "pipeline", "cuda", capability=(7, 5)
    )
    config = quantize.pipeline_config(items, torch.float16)
    assert isinstance(config, PipelineQuantizationConfig)
    assert sorted(config.quant_mapping) == ["text_encoder_2", "transformer"]
    nf4 = config.quant_mapping["transformer"]
    assert isinstance(nf4, BitsAndBytesConfig)
    assert (nf4.load_in_4bit, nf4.bnb_4bit_quant_type, nf4.bnb_4bit_compute_dtype) == (
        True,
        "nf4",
        torch.float16,
    )
    int8 = config.quant_mapping["text_encoder_2"]
    assert isinstance(int8, TorchAoConfig)
    assert type(int8.quant_type).__name__ == "Int8WeightOnlyConfig"


def test_nothing_declared_means_no_config(flux_schnell_weights):
    assert quantize.applicable({}, flux_schnell_weights / "pipeline", "cpu") == []
    assert quantize.pipeline_config([], torch.float32) is None


def test_int8_load_path_runs_on_cpu(flux_schnell_weights, tmp_path, monkeypatch):
    """torchao int8 weight-only on both FLUX model components, quantized as they load (no saved
    copies on this empty Volume) and run on this CPU."""
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    model = {
        "name": "flux-int8",
        "quantization": {"transformer": "int8", "text_encoder_2": "int8"},
        "weights": [{"repo": "tiny/flux", "revision": "0" * 40, "role": "pipeline"}],
    }
    handle = text_to_image.load(
        model, {"pipeline": str(flux_schnell_weights / "pipeline")}, "cpu", torch.float32
    )
    weight = handle.pipe.transformer.transformer_blocks[0].attn.to_q.weight
    assert type(weight).__name__ == "Int8Tensor"
    assert weight.qdata.dtype == torch.int8 and tuple(weight.qdata.shape) == (32, 32)
    content = text_to_image.generate(
        handle,
        prompt="a fox",
        seed=1,
        steps=2,
        guidance=0.0,
        width=32,
        height=32,
        max_sequence_length=16,
    )
    quantized = png_pixels(content).astype(int)
    assert quantized.shape == (32, 32, 3)
    plain = text_to_image.load(
        {"name": "flux"}, {"pipeline": str(flux_schnell_weights / "pipeline")}, "cpu", torch.float32
    )
    reference = png_pixels(
        text_to_image.generate(
            plain,
            prompt="a fox",
            seed=1,
            steps=2,
            guidance=0.0,
            width=32,
            height=32,
            max_sequence_length=16,
        )
    ).astype(int)
    difference = abs(quantized - reference)
    # int8 weights perturb the picture by a level or so (measured: mean 0.09, max 1), not more.
    assert 0 < difference.mean() < 1 and difference.max() <= 4
