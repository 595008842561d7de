"""Request limits through the generated handlers: 422 naming the field, before the pipeline runs.

Both doors are tested: the Python method (`generate`) raises LimitError, the web endpoint answers
HTTP 422 with the field where pydantic puts its own errors. Malformed uploads (non-image,
truncated, decompression bomb, a video without frames) are 422, never 500.
"""

from __future__ import annotations

import base64
import io
import subprocess
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from modalfleet.platform import tiny_weights as tiny
from modalfleet.runtime.errors import LimitError

from .handlers import CountingJobs, generated_handler, user_instance, web_app

pytestmark = pytest.mark.runtime

FLUX = {"prompt": "a red fox", "seed": 1, "steps": 2, "max_sequence_length": 16}
FACE = {"prompt": "a portrait", "seed": 5, "steps": 2, "guidance": 5.0, "width": 32, "height": 32}


class PipelineTrap:
    """Stands in for the pipeline: a limit check that lets a request through fails the test."""

    calls = 0

    def __call__(self, *args, **kwargs):
        PipelineTrap.calls += 1
        raise AssertionError("the pipeline ran for a request over the limits")


@contextmanager
def pipeline_trapped(model):
    handle = user_instance(model).handle
    real = handle.pipe
    handle.pipe = PipelineTrap()
    try:
        yield
    finally:
        handle.pipe = real


@pytest.fixture(scope="module")
def schnell(flux_schnell_weights):
    with generated_handler("flux_schnell", flux_schnell_weights) as loaded:
        _, model = loaded
        model.generate.local(width=16, height=16, **FLUX)  # runs @enter
        yield loaded


@pytest.fixture(scope="module")
def face_model(instantid_weights):
    with generated_handler("instantid", instantid_weights) as loaded:
        _, model = loaded
        model.generate.local(face_image=tiny.face_image(), **FACE)
        yield loaded


@pytest.mark.parametrize(
    ("request_fields", "field", "message"),
    [
        ({"steps": 9}, "steps", "steps = 9 is above this model's limit of 8"),
        ({"width": 2064}, "width", "width 2064 is above this model's limit of 2048"),
        ({"height": 2064}, "height", "height 2064 is above this model's limit of 2048"),
        (
            {"width": 1536, "height": 1536},
            "width",
            "width x height = 2359296 is above this model's limit of 1572864",
        ),
        ({"num_images": 2}, "num_images", "num_images = 2 is above this model's limit of 1"),
    ],
)
def test_flux_schnell_refuses_each_limit_by_method_and_web(schnell, request_fields, field, message):
    module, model = schnell
    assert module.LIMITS == {
        "max_side": 2048,
        "max_pixels": 1572864,
        "max_steps": 8,
        "max_images": 1,
    }
    body = {**FLUX, "width": 1024, "height": 1024, **request_fields}
    with pipeline_trapped(model):
        with pytest.raises(LimitError) as raised:
            model.generate.local(**body)
        assert (raised.value.field, str(raised.value)) == (field, message)
        answer = TestClient(web_app(module, model)).post("/", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"loc": ["body", field], "msg": message, "type": "limit"}]
    assert PipelineTrap.calls == 0


def test_a_request_at_the_limits_is_served(schnell):
    _, model = schnell
    content = model.generate.local(**{**FLUX, "steps": 8, "width": 32, "height": 48})
    assert content[:8] == b"\x89PNG\r\n\x1a\n"


def test_images_of_one_call_share_its_pixel_budget(flux_dev_weights):
    """flux-dev on its L40S holds four 1024x1024 images a call, not two of 2048x2048."""
    with generated_handler("flux_dev", flux_dev_weights) as (module, model):
        model.generate.local(width=16, height=16, **FLUX)  # runs @enter
        assert (module.LIMITS["max_images"], module.LIMITS["max_pixels"]) == (4, 4194304)
        body = {**FLUX, "width": 2048, "height": 2048, "num_images": 2}
        with pipeline_trapped(model):
            with pytest.raises(LimitError) as raised:
                model.generate.local(**body)
            answer = TestClient(web_app(module, model)).post("/", json=body)
            over_cap = TestClient(web_app(module, model)).post("/", json={**FLUX, "num_images": 5})
        assert PipelineTrap.calls == 0
    message = "width x height x num_images = 8388608 is above this model's limit of 4194304"
    assert (raised.value.field, str(raised.value)) == ("num_images", message)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"loc": ["body", "num_images"], "msg": message, "type": "limit"}
    ]
    assert over_cap.status_code == 422  # the request model's own bound (le=4)
    assert over_cap.json()["detail"][0]["loc"] == ["body", "num_images"]


def test_wan_frames_over_the_limit_are_refused_before_the_pipeline(wan_weights):
    with generated_handler("wan2_1", wan_weights) as (module, model):
        model.generate.local(prompt="x", seed=0, steps=1, width=32, height=32, num_frames=1, fps=8)
        assert module.LIMITS["max_frames"] == 289
        with pipeline_trapped(model), pytest.raises(LimitError) as raised:
            model.generate.local(prompt="x", seed=0, num_frames=293)
    assert raised.value.field == "num_frames"
    assert str(raised.value) == "num_frames = 293 is above this model's limit of 289"


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit all-black PNG: a few kB on the wire, width x height pixels once decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_face_uploads_that_cannot_be_served_are_422_naming_the_field(face_model):
    module, model = face_model
    client = TestClient(web_app(module, model))

    def post(image: bytes):
        return client.post("/", json={**FACE, "face_image": base64.b64encode(image).decode()})

    bomb = bomb_png(8000, 6000)  # 48 megapixels, over the 40 MP limit
    assert len(bomb) < 100_000
    with pipeline_trapped(model):
        refused = post(bomb)
        assert refused.status_code == 422
        assert refused.json()["detail"] == [
            {
                "loc": ["body", "face_image"],
                "msg": "face_image is 8000x6000 = 48000000 pixels, above this model's limit of 40000000",
                "type": "limit",
            }
        ]
        not_image = post(b"GIF? no, just text")
        assert not_image.status_code == 422
        assert not_image.json()["detail"][0]["loc"] == ["body", "face_image"]
        assert not_image.json()["detail"][0]["msg"].startswith("face_image is not a readable image")

    truncated = post(tiny.face_image()[:400])  # header intact, pixel data cut off
    assert truncated.status_code == 422
    assert truncated.json()["detail"].startswith("face_image is not a readable image")


def test_oversized_upload_is_refused_from_its_base64_length(face_model, monkeypatch):
    module, model = face_model
    monkeypatch.setitem(module.LIMITS, "max_payload_bytes", 1000)
    photo = tiny.face_image()
    assert len(photo) > 1000
    answer = TestClient(web_app(module, model)).post(
        "/", json={**FACE, "face_image": base64.b64encode(photo).decode()}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "face_image"]
    assert "above this model's limit of 1000 bytes" in answer.json()["detail"][0]["msg"]
    with pytest.raises(LimitError, match="face_image is .* bytes, above this model's limit"):
        model.generate.local(face_image=photo, **FACE)


def ffmpeg_video(*args: str) -> bytes:
    import tempfile
    from pathlib import Path

    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args, str(path)]
        subprocess.run(command, check=True)
        return path.read_bytes()


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (
            ("-f", "lavfi", "-i", "color=size=16x16:rate=8", "-frames:v", "0"),
            "not a readable video",
        ),
        (("-f", "lavfi", "-i", "anullsrc", "-t", "0.3", "-c:a", "aac"), "not a readable video"),
        (
            (
                "-f",
                "lavfi",
                "-i",
                "color=size=16x16:rate=8",
                "-frames:v",
                "3",
                "-pix_fmt",
                "yuv420p",
            ),
            "media has 3 frames, above this model's limit of 2",
        ),
    ],
    ids=["zero-frames", "audio-only", "too-many-frames"],
)
def test_videos_without_frames_or_over_the_frame_limit_are_422(
    seedvr2_weights, seedvr2_upstream, monkeypatch, clip, message
):
    with generated_handler("seedvr2", seedvr2_weights) as (module, model):
        monkeypatch.setitem(module.LIMITS, "max_input_frames", 2)
        video = ffmpeg_video(*clip)
        with pytest.raises(LimitError, match=message):  # runs @enter, then refuses the clip
            model.generate.local(media=video, filename="clip.mp4")
        # The job endpoint refuses it at submit: no job is spawned for it.
        jobs = CountingJobs()
        app = module.make_web_app(jobs, reload_outputs=lambda: None)
        answer = TestClient(app).post(
            "/submit", json={"media": base64.b64encode(video).decode(), "filename": "clip.mp4"}
        )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "media"]
    assert jobs.spawned == []
