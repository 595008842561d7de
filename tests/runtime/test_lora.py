"""SDXL + LoRA through the generated handler: the adapter file the fleet declares, per-request scale."""

from __future__ import annotations

import numpy as np
import pytest

from modalfleet.runtime.errors import InputError

from .decode import png_pixels, zip_images
from .handlers import generated_handler, user_instance

pytestmark = pytest.mark.runtime

REQUEST = {"prompt": "a castle", "seed": 11, "steps": 2, "guidance": 5.0, "width": 32, "height": 32}


@pytest.fixture(scope="module")
def lora_model(lora_weights):
    with generated_handler("lora", lora_weights) as loaded:
        yield loaded


def base_sdxl_png(weights) -> bytes:
    """The same request on the base SDXL pipeline with no LoRA loaded at all."""
    import torch
    from diffusers import AutoencoderKL, StableDiffusionXLPipeline

    from modalfleet.runtime.encode import png_bytes
    from modalfleet.runtime.sampling import generator

    pipe = StableDiffusionXLPipeline.from_pretrained(
        weights / "pipeline",
        vae=AutoencoderKL.from_pretrained(weights / "vae", dtype=torch.float32),
        variant="fp16",
        dtype=torch.float32,
    )
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        prompt=REQUEST["prompt"],
        width=32,
        height=32,
        num_inference_steps=2,
        guidance_scale=5.0,
        generator=generator(REQUEST["seed"]),
    ).images[0]
    return png_bytes(image)


def test_scale_zero_is_the_base_model_and_nonzero_changes_it(lora_model, lora_weights):
    module, model = lora_model
    assert module.PARAMS["adapter"] == "pixel-art"
    off = model.generate.local(adapter="pixel-art", adapter_scale=0.0, **REQUEST)
    on = model.generate.local(adapter="pixel-art", adapter_scale=1.0, **REQUEST)
    off_again = model.generate.local(adapter="pixel-art", adapter_scale=0.0, **REQUEST)

    assert png_pixels(on).shape == (32, 32, 3)
    assert off == base_sdxl_png(lora_weights)  # scale 0: byte for byte the model without LoRA
    assert off_again == off  # switching the scale back restores it: nothing fused in
    assert np.abs(png_pixels(on).astype(int) - png_pixels(off).astype(int)).max() >= 8


def test_unknown_adapter_is_a_clear_input_error(lora_model):
    _, model = lora_model
    with pytest.raises(InputError) as error:
        model.generate.local(adapter="watercolour", adapter_scale=1.0, **REQUEST)
    assert str(error.value) == "unknown adapter 'watercolour'; this model has: pixel-art"


def test_num_images_batches_the_adapter_request(lora_model):
    """The hybrid LoRA (a T4) allows one image a call; the runtime itself batches any number."""
    from modalfleet.runtime import lora

    module, model = lora_model
    assert module.LIMITS["max_images"] == 1
    handle = user_instance(model).handle
    images = zip_images(
        lora.generate(handle, **REQUEST, adapter="pixel-art", adapter_scale=1.0, num_images=2)
    )
    assert list(images) == ["image-1.png", "image-2.png"]
    assert all(pixels.shape == (32, 32, 3) for pixels in images.values())
