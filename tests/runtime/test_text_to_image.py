"""FLUX.1 schnell and dev through their generated handlers, on tiny random weights."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modalfleet.runtime.errors import InputError

from .decode import png_pixels, zip_images
from .handlers import generated_handler, user_instance, web_app

pytestmark = pytest.mark.runtime

TINY = {"steps": 2, "max_sequence_length": 16}


@pytest.fixture(scope="module")
def schnell(flux_schnell_weights):
    with generated_handler("flux_schnell", flux_schnell_weights) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def dev(flux_dev_weights):
    with generated_handler("flux_dev", flux_dev_weights) as loaded:
        yield loaded


@pytest.mark.parametrize("which", ["schnell", "dev"])
def test_png_has_requested_size_and_seed_decides_the_image(which, request):
    _, model = request.getfixturevalue(which)
    first = model.generate.local(prompt="a red fox", seed=7, width=32, height=48, **TINY)
    again = model.generate.local(prompt="a red fox", seed=7, width=32, height=48, **TINY)
    other = model.generate.local(prompt="a red fox", seed=8, width=32, height=48, **TINY)

    pixels = png_pixels(first)
    assert pixels.shape == (48, 32, 3)  # height x width: the size asked for, not the 1024 default
    assert first == again
    difference = np.abs(pixels.astype(int) - png_pixels(other).astype(int))
    assert difference.mean() > 1.0  # a different seed is a different image, not a rounding


def test_guidance_reaches_dev_and_is_inert_for_schnell(schnell, dev):
    """dev embeds the guidance value in its transformer; schnell (guidance-free) ignores it."""
    request = {"prompt": "a red fox", "seed": 3, "width": 32, "height": 32, **TINY}
    assert dev[0].PARAMS["guidance"] == 3.5 and schnell[0].PARAMS["guidance"] == 0.0
    dev_low = png_pixels(dev[1].generate.local(guidance=1.0, **request)).astype(int)
    dev_high = png_pixels(dev[1].generate.local(guidance=7.0, **request)).astype(int)
    assert np.abs(dev_low - dev_high).max() > 0
    assert schnell[1].generate.local(guidance=0.0, **request) == schnell[1].generate.local(
        guidance=7.0, **request
    )


def test_size_the_pipeline_would_round_is_refused(schnell):
    _, model = schnell
    with pytest.raises(InputError, match="multiples of 2, got 33x32"):
        model.generate.local(prompt="a red fox", seed=1, width=33, height=32, **TINY)


def test_declared_quantization_runs_where_the_device_can(schnell, caplog):
    """flux-schnell declares nf4 transformer + int8 T5. On this CPU the int8 half is applied for
    real by torchao; nf4 (bitsandbytes, CUDA only) is skipped with a log line."""
    module, model = schnell
    assert module.MODEL["quantization"] == {"transformer": "nf4", "text_encoder_2": "int8"}
    pipe = user_instance(model).handle.pipe
    t5_weight = pipe.text_encoder_2.encoder.block[0].layer[0].SelfAttention.q.weight
    assert type(t5_weight).__name__ == "Int8Tensor"
    assert t5_weight.qdata.dtype.itemsize == 1  # one byte per weight: the 0.5 factor of sizes.py
    transformer_weight = pipe.transformer.transformer_blocks[0].attn.to_q.weight
    assert (
        transformer_weight.dtype.itemsize == 4 and type(transformer_weight).__name__ == "Parameter"
    )


def test_quantization_skip_is_logged(flux_schnell_weights, caplog):
    with caplog.at_level(logging.WARNING, logger="modalfleet.runtime.quantize"):
        with generated_handler("flux_schnell", flux_schnell_weights) as (_, model):
            model.generate.local(prompt="x", seed=0, width=16, height=16, **TINY)
    assert "not quantizing transformer: nf4 needs cuda, not cpu" in caplog.text


def test_web_endpoint_returns_png_and_rejects_bad_requests(schnell):
    module, model = schnell
    model.generate.local(prompt="warm up", seed=0, width=16, height=16, **TINY)  # runs @enter
    client = TestClient(web_app(module, model))

    ok = client.post("/", json={"prompt": "a red fox", "width": 32, "height": 32, **TINY})
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "image/png"
    assert png_pixels(ok.content).shape == (32, 32, 3)

    missing_prompt = client.post("/", json={"width": 32, "height": 32})
    assert missing_prompt.status_code == 422
    assert missing_prompt.json()["detail"][0]["loc"] == ["body", "prompt"]

    for steps in (0, 201):
        bad_steps = client.post("/", json={"prompt": "a red fox", "steps": steps})
        assert bad_steps.status_code == 422
        assert bad_steps.json()["detail"][0]["loc"] == ["body", "steps"]


def test_web_formats_and_timing_headers(flux_schnell_weights):
    """PNG, JPEG or WEBP as asked (quality for the lossy ones), the content type to match, and
    timing headers: the container's start is charged to its first request only."""
    from PIL import Image

    with generated_handler("flux_schnell", flux_schnell_weights) as (module, model):
        model.generate.local(prompt="warm up", seed=0, width=16, height=16, **TINY)  # @enter
        client = TestClient(web_app(module, model))
        body = {"prompt": "a red fox", "width": 32, "height": 48, **TINY}
        answers = {
            name: client.post("/", json={**body, **extra})
            for name, extra in {
                "png": {},
                "jpeg": {"format": "jpeg", "quality": 95},
                "jpeg-low": {"format": "jpeg", "quality": 5},
                "webp": {"format": "webp"},
            }.items()
        }
        bad = client.post("/", json={**body, "format": "gif"})
    assert {name: a.headers["content-type"] for name, a in answers.items()} == {
        "png": "image/png",
        "jpeg": "image/jpeg",
        "jpeg-low": "image/jpeg",
        "webp": "image/webp",
    }
    for answer in answers.values():
        assert Image.open(io.BytesIO(answer.content)).size == (32, 48)
    assert len(answers["jpeg-low"].content) < len(answers["jpeg"].content)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "format"]
    loads = [float(a.headers["X-Load-Seconds"]) for a in answers.values()]
    assert loads[0] > 0 and loads[1:] == [0.0, 0.0, 0.0]
    assert all(float(a.headers["X-Inference-Seconds"]) > 0 for a in answers.values())


def test_num_images_answers_a_zip_of_distinct_images_by_method_and_web(dev):
    module, model = dev
    assert module.LIMITS["max_images"] == 4  # flux-dev on an L40S: 4 default-size images a call
    request = {"prompt": "a red fox", "seed": 7, "width": 32, "height": 48, **TINY}
    content = model.generate.local(num_images=3, **request)
    images = zip_images(content)
    assert list(images) == ["image-1.png", "image-2.png", "image-3.png"]
    assert {pixels.shape for pixels in images.values()} == {(48, 32, 3)}
    first, second = images["image-1.png"].astype(int), images["image-2.png"].astype(int)
    assert np.abs(first - second).mean() > 1.0  # each image its own noise, not one image thrice
    assert model.generate.local(num_images=3, **request) == content  # the seed decides all three
    answer = TestClient(web_app(module, model)).post(
        "/", json={**request, "num_images": 2, "format": "jpeg"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert list(zip_images(answer.content)) == ["image-1.jpeg", "image-2.jpeg"]
