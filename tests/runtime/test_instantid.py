"""InstantID through the generated handler: real insightface FaceAnalysis on a tiny ONNX pack."""

from __future__ import annotations

import base64
import itertools
import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modalfleet.platform import tiny_weights as tiny
from modalfleet.runtime import instantid
from modalfleet.runtime.errors import InputError

from .decode import png_pixels, zip_images
from .handlers import generated_handler, user_instance, web_app

pytestmark = pytest.mark.runtime

REQUEST = {
    "prompt": "a portrait, studio light",
    "seed": 5,
    "steps": 2,
    "guidance": 5.0,
    "width": 32,
    "height": 32,
}


@pytest.fixture(scope="module")
def instantid_model(instantid_weights):
    with generated_handler("instantid", instantid_weights) as loaded:
        yield loaded


def test_face_image_gives_png_of_requested_size(instantid_model):
    _, model = instantid_model
    content = model.generate.local(face_image=tiny.face_image(), **REQUEST)
    assert png_pixels(content).shape == (32, 32, 3)
    assert model.generate.local(face_image=tiny.face_image(), **REQUEST) == content


def test_two_images_of_one_face_in_one_call(instantid_model):
    module, model = instantid_model
    assert module.LIMITS["max_images"] == 2  # the A10 holds two default-size images a call
    images = zip_images(model.generate.local(face_image=tiny.face_image(), num_images=2, **REQUEST))
    assert [pixels.shape for pixels in images.values()] == [(32, 32, 3), (32, 32, 3)]
    first, second = (pixels.astype(int) for pixels in images.values())
    assert np.abs(first - second).mean() > 1.0


def test_identity_adapter_and_identitynet_shape_the_image(instantid_model):
    _, model = instantid_model
    face = tiny.face_image()
    full = png_pixels(model.generate.local(face_image=face, **REQUEST)).astype(int)
    no_identity = png_pixels(
        model.generate.local(
            face_image=face, ip_adapter_scale=0.0, controlnet_conditioning_scale=0.0, **REQUEST
        )
    ).astype(int)
    assert np.abs(full - no_identity).max() > 0


def test_face_analysis_is_insightface_reading_the_pack(instantid_model):
    """The real FaceAnalysis routed our ONNX files to SCRFD + ArcFace and decoded the detector's
    output: the face at the detector's centre anchor, keypoints mapped back to the 256 px photo."""
    _, model = instantid_model
    faces = user_instance(model).handle.faces
    assert sorted(faces.models) == ["detection", "recognition"]
    assert type(faces.models["detection"]).__name__ == "SCRFD"
    assert type(faces.models["recognition"]).__name__ == "ArcFaceONNX"

    features = instantid.analyse_face(faces, tiny.face_image(256))
    # 640 px detector input / 256 px photo = 2.5; centre (320, 320) -> (128, 128); a stride-32
    # keypoint offset of (0, 0.4) is the nose 12.8 detector px = 5.12 photo px below the centre.
    assert features.image_size == (256, 256)
    assert features.keypoints[2].tolist() == pytest.approx([128.0, 133.12], abs=0.01)
    assert features.keypoints[0].tolist() == pytest.approx([108.8, 115.2], abs=0.01)
    assert features.embedding.shape == (512,)


def test_identitynet_attends_to_identity_tokens_not_the_prompt(instantid_model):
    _, model = instantid_model
    pipe = user_instance(model).handle.pipe
    seen = []

    def record(module, args, kwargs, output):
        seen.append(tuple(kwargs["encoder_hidden_states"].shape))

    hook = pipe.controlnet.register_forward_hook(record, with_kwargs=True)
    try:
        model.generate.local(face_image=tiny.face_image(), **REQUEST)
    finally:
        hook.remove()
    # 2 = unconditional (zero identity) + conditional; 16 Resampler tokens; UNet context width 64.
    assert set(seen) == {(2, tiny.IP_TOKENS, 64)}
    assert pipe.unet.config.encoder_hid_dim_type == "ip_image_proj"


def test_image_without_a_face_is_a_clear_input_error(instantid_model):
    _, model = instantid_model
    with pytest.raises(InputError, match="no face found in face_image"):
        model.generate.local(face_image=tiny.dark_image(), **REQUEST)
    with pytest.raises(InputError, match="face_image is not a readable image"):
        model.generate.local(face_image=b"not an image", **REQUEST)


def test_web_endpoint_answers_422_for_no_face_and_png_for_a_face(instantid_model):
    module, model = instantid_model
    model.generate.local(face_image=tiny.face_image(), **REQUEST)  # runs @enter
    client = TestClient(web_app(module, model))

    def post(image: bytes):
        return client.post("/", json={**REQUEST, "face_image": base64.b64encode(image).decode()})

    no_face = post(tiny.dark_image())
    assert no_face.status_code == 422
    assert no_face.json()["detail"].startswith("no face found in face_image")

    face = post(tiny.face_image())
    assert face.status_code == 200
    assert face.headers["content-type"] == "image/png"
    assert png_pixels(face.content).shape == (32, 32, 3)


def pairwise_distances(points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return np.array([np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2)])


def test_keypoints_of_a_3_4_photo_keep_their_geometry_on_a_square_canvas(
    instantid_model, monkeypatch
):
    """The IdentityNet condition places the photo with one scale, centred (as InstantID's demo
    does): every distance between keypoints shrinks by the same factor, none is stretched."""
    _, model = instantid_model
    photo = tiny.face_image((192, 256))  # 3:4 portrait onto the 32x32 canvas of REQUEST
    features = instantid.analyse_face(user_instance(model).handle.faces, photo)
    drawn = []
    draw = instantid.draw_keypoints

    def record(keypoints, width, height):
        drawn.append(np.asarray(keypoints))
        return draw(keypoints, width, height)

    monkeypatch.setattr(instantid, "draw_keypoints", record)
    model.generate.local(face_image=photo, **REQUEST)
    (placed,) = drawn
    ratios = pairwise_distances(placed) / pairwise_distances(features.keypoints)
    assert ratios.min() > 0 and ratios.max() / ratios.min() < 1.01
    assert ratios.mean() == pytest.approx(32 / 256)  # the long side fits the canvas
    # Centred: the photo's centre lands on the canvas centre.
    assert instantid.fit_keypoints([[96, 128]], (192, 256), (32, 32)).tolist() == [[16.0, 16.0]]


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_face_analysis_logs_its_provider_and_fails_when_cuda_was_expected(
    instantid_weights, caplog
):
    folder = str(instantid_weights / "face-analysis")
    with caplog.at_level(logging.INFO, logger="modalfleet.runtime.instantid"):
        instantid.face_analysis(folder, "cpu")
    assert (
        "face analysis execution providers: {'detection': 'CPUExecutionProvider', "
        "'recognition': 'CPUExecutionProvider'}" in caplog.text
    )
    # This machine's onnxruntime has no CUDA: what a GPU container with a broken image sees.
    with pytest.raises(
        RuntimeError,
        match=r"face analysis \(detection, recognition\) runs on "
        r"CPUExecutionProvider, not CUDAExecutionProvider",
    ):
        instantid.face_analysis(folder, "cuda")
