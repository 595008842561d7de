"""SeedVR2 through the generated handler, with a stand-in for the upstream CLI.

The stand-in honours the CLI's interface (INPUT --output --model_dir --dit_model --resolution
--batch_size --seed): it checks the weights it is pointed at exist, then bicubic-resizes the image,
or every frame of the video, so that the short side is --resolution, as SeedVR2 does.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from modalfleet.runtime import video_upscale
from modalfleet.runtime.encode import mp4_bytes
from modalfleet.runtime.errors import InputError, UpstreamError

from .decode import mp4_frames, png, png_pixels
from .handlers import generated_handler

pytestmark = pytest.mark.runtime

FAKE_CLI = textwrap.dedent(
    """
    import argparse, json, os, sys
    from pathlib import Path

    import imageio.v3 as iio
    import numpy as np
    from PIL import Image

    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("--output", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--dit_model", required=True)
    parser.add_argument("--resolution", type=int, required=True)
    parser.add_argument("--batch_size", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    Path(os.environ["FAKE_SEEDVR2_LOG"]).write_text(json.dumps(vars(args)))
    if not (Path(args.model_dir) / args.dit_model).is_file():
        sys.exit(f"error: DiT model {args.dit_model} not found in {args.model_dir}")

    def upscale(frame):
        image = Image.fromarray(frame)
        factor = args.resolution / min(image.size)
        size = (round(image.width * factor), round(image.height * factor))
        return np.asarray(image.resize(size, Image.BICUBIC))

    if args.input.endswith(".png"):
        Image.fromarray(upscale(np.asarray(Image.open(args.input).convert("RGB")))).save(args.output)
    else:
        frames = [upscale(frame) for frame in iio.imread(args.input, extension=".mp4")]
        iio.imwrite(args.output, np.stack(frames), extension=".mp4", fps=8, codec="libx264")
    """
)
FAILING_CLI = "import sys\nprint('loading DiT', file=sys.stderr)\n" + (
    "sys.exit('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB')\n"
)


@pytest.fixture
def fake_cli(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "inference_cli.py"
    script.write_text(FAKE_CLI)
    monkeypatch.setenv(video_upscale.CLI_ENV, str(script))
    monkeypatch.setenv("FAKE_SEEDVR2_LOG", str(tmp_path / "argv.json"))
    return script


def video(frames: int, size: tuple[int, int]) -> bytes:
    width, height = size
    rng = np.random.default_rng(0)
    return mp4_bytes([rng.integers(0, 255, (height, width, 3), dtype=np.uint8)] * frames, fps=8)


def test_image_is_scaled_by_the_factor_through_the_cli_interface(seedvr2_weights, fake_cli):
    with generated_handler("seedvr2", seedvr2_weights) as (module, model):
        content = model.generate.local(media=png((24, 40)), filename="photo.png", scale=2)
    assert png_pixels(content).shape == (80, 48, 3)
    argv = json.loads((fake_cli.parent / "argv.json").read_text())
    assert argv == {
        "input": argv["input"],
        "output": argv["output"],
        "model_dir": str(seedvr2_weights / "pipeline"),
        "dit_model": module.PARAMS["dit_model"],
        "resolution": 48,  # short side 24 x 2
        "batch_size": module.PARAMS["batch_size"],
        "seed": 0,
    }
    assert argv["input"].endswith("input.png") and argv["output"].endswith("output.png")


def test_video_frames_are_scaled_by_the_factor(seedvr2_weights, fake_cli):
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        content = model.generate.local(
            media=video(5, (32, 48)), filename="clip.MP4", scale=2, batch_size=5, seed=9
        )
    assert mp4_frames(content).shape == (5, 96, 64, 3)


def test_resolution_caps_the_scaled_size(seedvr2_weights, fake_cli):
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        content = model.generate.local(
            media=png((32, 48)), filename="a.png", scale=4, resolution=64
        )
    assert png_pixels(content).shape == (96, 64, 3)  # short side 128 wanted, capped at 64


def test_missing_cli_is_a_clear_upstream_error(seedvr2_weights, tmp_path, monkeypatch):
    monkeypatch.setenv(video_upscale.CLI_ENV, str(tmp_path / "nowhere" / "inference_cli.py"))
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        with pytest.raises(UpstreamError) as error:
            model.generate.local(media=png((24, 24)), filename="a.png")
    assert str(error.value) == (
        f"SeedVR2 CLI not found at {tmp_path / 'nowhere' / 'inference_cli.py'}; "
        f"the image installs it there, or set {video_upscale.CLI_ENV}"
    )


def test_failing_cli_reports_its_exit_status_and_stderr_tail(
    seedvr2_weights, tmp_path, monkeypatch
):
    script = tmp_path / "inference_cli.py"
    script.write_text(FAILING_CLI)
    monkeypatch.setenv(video_upscale.CLI_ENV, str(script))
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        with pytest.raises(UpstreamError) as error:
            model.generate.local(media=png((24, 24)), filename="a.png")
    assert str(error.value) == (
        "SeedVR2 CLI exited with status 1: loading DiT\n"
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )


def test_cli_refusing_the_weights_folder_surfaces_its_message(tmp_path, fake_cli):
    handle = video_upscale.Handle(
        cli=fake_cli,
        model_dir=str(tmp_path),
        dit_model="seedvr2_ema_3b_fp16.safetensors",
        device="cpu",
    )
    with pytest.raises(UpstreamError, match="status 1: error: DiT model seedvr2_ema_3b_fp16"):
        video_upscale.generate(
            handle,
            media=png((8, 8)),
            filename="a.png",
            scale=2,
            resolution=64,
            batch_size=1,
            seed=0,
        )


@pytest.mark.parametrize(
    ("media", "filename", "batch_size", "message"),
    [
        (b"", "notes.txt", 5, "cannot upscale 'notes.txt': expected one of .jpeg, .jpg, .mkv"),
        (b"garbage", "a.png", 5, "media is not a readable image"),
        (b"garbage", "a.mp4", 5, "media is not a readable video"),
        (png((8, 8)), "a.png", 4, "batch_size must be 4n+1 (1, 5, 9, ...), got 4"),
    ],
)
def test_bad_inputs_are_input_errors(media, filename, batch_size, message, fake_cli, tmp_path):
    handle = video_upscale.Handle(fake_cli, str(tmp_path), "x.safetensors", "cpu")
    with pytest.raises(InputError, match=re.escape(message)):
        video_upscale.generate(
            handle,
            media=media,
            filename=filename,
            scale=2,
            resolution=64,
            batch_size=batch_size,
            seed=0,
        )


@pytest.mark.parametrize(
    ("short", "scale", "cap", "expected"),
    [(540, 2, 1080, 1080), (720, 2, 1080, 1080), (100, 1.5, 1080, 150), (33, 1, 1080, 32)],
)
def test_target_resolution(short, scale, cap, expected):
    assert video_upscale.target_resolution(short, scale, cap) == expected


def test_the_cli_gets_less_time_than_the_container(tmp_path, monkeypatch):
    """A CLI that outlives its budget is an UpstreamError the handler reports, not a container
    Modal kills mid-call: its budget is set under each strategy's container timeout."""
    from .handlers import load_generated

    budgets = {
        strategy: load_generated("seedvr2", strategy).MODEL["cli_timeout_s"]
        for strategy in ("hybrid", "performance-optimized")
    }
    assert budgets == {"hybrid": 540, "performance-optimized": 810}  # containers: 600 s, 900 s
    slow = tmp_path / "inference_cli.py"
    slow.write_text("import time\ntime.sleep(30)\n")
    monkeypatch.setenv(video_upscale.CLI_ENV, str(slow))
    handle = video_upscale.load(
        {"params": {"dit_model": "x.safetensors"}, "cli_timeout_s": 1},
        {"pipeline": str(tmp_path)},
        "cpu",
        None,
    )
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="SeedVR2 CLI took longer than 1 s"):
        video_upscale.generate(
            handle,
            media=png((8, 8)),
            filename="a.png",
            scale=1.0,
            resolution=64,
            batch_size=1,
            seed=0,
        )
    assert time.monotonic() - started < 10
