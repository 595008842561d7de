"""Wan2.1 text-to-video through the generated handler: frames in, MP4 out."""

from __future__ import annotations

import re

import pytest

from modalfleet.runtime.errors import InputError

from .decode import mp4_frames
from .handlers import generated_handler, user_instance

pytestmark = pytest.mark.runtime

REQUEST = {"prompt": "waves on a beach", "seed": 2, "steps": 2, "guidance": 5.0}


@pytest.fixture(scope="module")
def wan_model(wan_weights):
    with generated_handler("wan2_1", wan_weights) as loaded:
        yield loaded


def test_nine_frames_at_32px_decode_back_to_nine_frames(wan_model):
    _, model = wan_model
    content = model.generate.local(width=32, height=32, num_frames=9, fps=8, **REQUEST)
    frames = mp4_frames(content)
    assert frames.shape == (9, 32, 32, 3)


def test_vae_stays_fp32_and_flow_shift_follows_the_model(wan_model):
    module, model = wan_model
    pipe = user_instance(model).handle.pipe
    assert str(pipe.vae.dtype) == "torch.float32"
    assert pipe.scheduler.config.flow_shift == module.PARAMS["flow_shift"] == 3.0


@pytest.mark.parametrize(
    ("size", "frames", "message"),
    [
        ((32, 32), 8, "num_frames must be 4k+1"),
        ((40, 32), 9, "multiples of 16, got 40x32"),
    ],
)
def test_shapes_wan_cannot_make_are_refused(wan_model, size, frames, message):
    _, model = wan_model
    with pytest.raises(InputError, match=re.escape(message)):
        model.generate.local(width=size[0], height=size[1], num_frames=frames, fps=8, **REQUEST)


def test_no_negative_prompt_means_wans_default_one(wan_model, monkeypatch):
    from modalfleet.runtime.text_to_video import DEFAULT_NEGATIVE_PROMPT

    _, model = wan_model
    handle = user_instance(model).handle
    seen = []
    pipe = handle.pipe

    def record(**kwargs):
        seen.append(kwargs["negative_prompt"])
        return pipe(**kwargs)

    monkeypatch.setattr(handle, "pipe", record)
    model.generate.local(width=32, height=32, num_frames=1, fps=8, **REQUEST)
    model.generate.local(
        width=32, height=32, num_frames=1, fps=8, negative_prompt="rain", **REQUEST
    )
    assert seen == [DEFAULT_NEGATIVE_PROMPT, "rain"]
    assert DEFAULT_NEGATIVE_PROMPT.startswith(
        "色调艳丽，过曝，静态"
    ) and DEFAULT_NEGATIVE_PROMPT.endswith("倒着走")
