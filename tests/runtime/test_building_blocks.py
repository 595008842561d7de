"""The shared runtime pieces on their own: weights location, dtype choice, encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalfleet.runtime import device, encode, weights

from .decode import mp4_frames, png_pixels

pytestmark = pytest.mark.runtime

FLUX = {
    "name": "flux-schnell",
    "weights": [
        {
            "repo": "black-forest-labs/FLUX.1-schnell",
            "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9",
            "role": "pipeline",
            "name": "",
            "repo_type": "model",
            "files": ["model_index.json", "vae/*"],
        },
    ],
}
LORA_WEIGHTS = [
    {"repo": "a/b", "revision": "1" * 40, "role": "pipeline", "name": ""},
    {"repo": "c/d", "revision": "2" * 40, "role": "vae", "name": ""},
    {"repo": "e/f", "revision": "3" * 40, "role": "adapter", "name": "pixel-art"},
]


def test_artefact_keys_name_roles_and_adapters():
    assert [weights.artefact_key(w) for w in LORA_WEIGHTS] == [
        "pipeline",
        "vae",
        "adapter-pixel-art",
    ]


def test_local_weights_folder_maps_each_artefact(tmp_path, monkeypatch):
    for key in ("pipeline", "vae", "adapter-pixel-art"):
        (tmp_path / key).mkdir()
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path))
    assert weights.locate({"name": "lora", "weights": LORA_WEIGHTS}) == {
        "pipeline": str(tmp_path / "pipeline"),
        "vae": str(tmp_path / "vae"),
        "adapter-pixel-art": str(tmp_path / "adapter-pixel-art"),
    }


def test_local_weights_folder_missing_an_artefact_says_which(tmp_path, monkeypatch):
    (tmp_path / "pipeline").mkdir()
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        weights.locate({"name": "lora", "weights": LORA_WEIGHTS})
    assert str(error.value) == (
        f"lora: {weights.WEIGHTS_DIR_ENV}={tmp_path} has no folder 'vae' "
        "(expected one per artefact: ['pipeline', 'vae', 'adapter-pixel-art'])"
    )


def test_hub_weights_resolve_to_the_pinned_revision_in_the_cache(tmp_path, monkeypatch):
    """Without the local folder, locate() asks huggingface_hub for the pinned commit; offline it
    answers from the cache (on Modal: the Volume), here a cache laid out by hand."""
    from huggingface_hub import constants

    revision = FLUX["weights"][0]["revision"]
    snapshot = tmp_path / "models--black-forest-labs--FLUX.1-schnell" / "snapshots" / revision
    (snapshot / "vae").mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (snapshot / "vae" / "config.json").write_text("{}")
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert weights.locate(FLUX) == {"pipeline": str(snapshot)}


class FakeCuda:
    """The GPU's answers, as torch.cuda gives them on each card (no GPU on this machine)."""

    def __init__(self, capability: tuple[int, int], bf16_supported: bool = True):
        self.capability = capability
        self.bf16_supported = bf16_supported

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: self.capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: self.bf16_supported)


def test_cpu_runs_float32():
    assert device.select("bfloat16") == ("cpu", torch.float32)
    assert device.select("float16") == ("cpu", torch.float32)


@pytest.mark.parametrize(
    ("gpu", "capability", "declared", "expected"),
    [
        # T4: torch says bf16 is "supported" (emulated), but there are no bf16 tensor cores.
        ("T4", (7, 5), "bfloat16", torch.float16),
        ("A10", (8, 6), "bfloat16", torch.bfloat16),
        ("L40S", (8, 9), "bfloat16", torch.bfloat16),
        ("H100", (9, 0), "bfloat16", torch.bfloat16),
        ("A100", (8, 0), "float16", torch.float16),
        ("T4", (7, 5), "float32", torch.float32),
    ],
)
def test_gpu_dtype_follows_compute_capability(gpu, capability, declared, expected, monkeypatch):
    FakeCuda(capability, bf16_supported=True).install(monkeypatch)
    assert device.select(declared) == ("cuda", expected)


def test_png_bytes_round_trip():
    from PIL import Image

    pixels = np.arange(16 * 8 * 3, dtype=np.uint8).reshape(8, 16, 3)
    content = encode.png_bytes(Image.fromarray(pixels))
    assert np.array_equal(png_pixels(content), pixels)
    assert encode.png_bytes(Image.fromarray(pixels)) == content


def test_mp4_bytes_from_float_frames_and_pil_frames():
    from PIL import Image

    grey = [np.full((32, 48, 3), value, dtype=np.float32) for value in (0.0, 0.5, 1.0)]
    frames = mp4_frames(encode.mp4_bytes(grey, fps=8))
    assert frames.shape == (3, 32, 48, 3)
    # H.264 is lossy; a flat grey survives within a few levels.
    assert [int(round(frame.mean())) for frame in frames] == pytest.approx([0, 128, 255], abs=3)

    pil = [Image.new("RGB", (16, 16), (255, 0, 0))] * 5
    assert mp4_frames(encode.mp4_bytes(pil, fps=16)).shape == (5, 16, 16, 3)
