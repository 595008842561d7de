"""SeedVR2 through the generated handler, with a stand-in for the pinned upstream code
(seedvr2_standin.py: the same functions, bicubic resizing, a load counter)."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from modalfleet.fleet.request_time import request_budget_s
from modalfleet.runtime import video_upscale
from modalfleet.runtime.errors import InputError, UpstreamError
from modalfleet.runtime.seedvr2_upstream import load as load_upstream
from modalfleet.runtime.video_stream import ffmpeg

from .decode import mp4_frames, png, png_pixels
from .handlers import generated_handler, load_generated, user_instance

pytestmark = pytest.mark.runtime

DIT = "seedvr2_ema_3b_fp16.safetensors"


def make_clip(path: Path, frames: int, size: tuple[int, int], audio: str | None = "aac") -> bytes:
    """A test-pattern clip of `frames` frames at 8 fps, with a 440 Hz tone in codec `audio`."""
    width, height = size
    command = [ffmpeg(), "-v", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"testsrc=size={width}x{height}:rate=8"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=10"]
    command += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    command += ["-c:a", audio, "-shortest"] if audio else []
    subprocess.run([*command, str(path)], check=True, capture_output=True)
    return path.read_bytes()


def probe(content: bytes, folder: Path) -> str:
    """ffmpeg's description of a file's streams (its stderr for `ffmpeg -i FILE`)."""
    path = folder / "probe.mp4"
    path.write_bytes(content)
    done = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True)
    return done.stderr.decode()


def chunk_budget_for(frames: int, out_width: int, out_height: int) -> int:
    """CHUNK_BUDGET_BYTES that makes chunks of exactly `frames` at this output size."""
    return frames * out_width * out_height * 3 * video_upscale.HOST_BYTES_PER_OUTPUT_VALUE


def standin(handle: video_upscale.Handle):
    return handle.session.cli


def test_one_load_per_container_and_a_long_clip_streams_in_chunks_to_playable_h264(
    seedvr2_weights, seedvr2_upstream, tmp_path, monkeypatch
):
    """Two requests on one container: one load (at start), then 23 frames in chunks of 10,
    encoded as H.264 with the source's audio."""
    clip = make_clip(tmp_path / "clip.mp4", 23, (48, 32))
    monkeypatch.setattr(video_upscale, "CHUNK_BUDGET_BYTES", chunk_budget_for(10, 96, 64))
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        first = model.generate.local(media=clip, filename="clip.mp4", scale=2, batch_size=5)
        second = model.generate.local(media=png((24, 40)), filename="photo.png", scale=2, seed=7)
        cli = standin(user_instance(model).handle)
    assert cli.LOADS == [str(seedvr2_weights / "pipeline")]
    # warm-up (1 frame, 64 px), the clip in ceil(23 / 10) = 3 chunks, the image
    assert [(count, height, width) for count, height, width, _ in cli.CALLS] == [
        (1, 64, 64),
        (10, 32, 48),
        (10, 32, 48),
        (3, 32, 48),
        (1, 40, 24),
    ]
    options = [call[3] for call in cli.CALLS]
    assert [(o["resolution"], o["batch_size"], o["seed"]) for o in options[1:]] == [
        (64, 5, 0),
        (64, 5, 0),
        (64, 5, 0),
        (48, 1, 7),
    ]
    assert {(o["dit_model"], o["cache_dit"], o["cache_vae"]) for o in options} == {
        (DIT, True, True)
    }
    # no GPU here: the device and both offload targets are the CPU
    assert {
        (o["device_id"], o["dit_offload_device"], o["vae_offload_device"]) for o in options
    } == {("cpu", "cpu", "cpu")}
    assert png_pixels(second).shape == (80, 48, 3)
    # browser-playable: H.264 in yuv420p, the source's audio, the index first (+faststart)
    streams = probe(first, tmp_path)
    assert re.search(r"Video: h264 .*yuv420p.*96x64", streams), streams
    assert re.search(r"Audio: aac .*16000 Hz", streams), streams
    assert first.find(b"moov") < first.find(b"mdat")
    # every frame, in order: each output frame scaled back is closest to its own source frame
    source = iio.imread(clip, extension=".mp4").astype(np.float32)
    upscaled = mp4_frames(first)
    assert upscaled.shape == (23, 64, 96, 3)
    for index, frame in enumerate(upscaled):
        back = np.asarray(Image.fromarray(frame).resize((48, 32), Image.BICUBIC), np.float32)
        distances = np.abs(source - back).mean(axis=(1, 2, 3))
        assert distances.argmin() == index, (index, distances.round(1))


def test_audio_that_mp4_cannot_copy_is_re_encoded_to_aac_and_no_audio_stays_none(
    seedvr2_weights, seedvr2_upstream, tmp_path
):
    pcm = make_clip(tmp_path / "clip.mkv", 6, (48, 32), audio="pcm_s16le")
    silent = make_clip(tmp_path / "silent.mp4", 6, (48, 32), audio=None)
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        from_pcm = model.generate.local(media=pcm, filename="clip.mkv", scale=2, batch_size=1)
        from_silent = model.generate.local(media=silent, filename="silent.mp4", scale=2)
    assert "Audio: aac" in probe(from_pcm, tmp_path)
    assert "Audio:" not in probe(from_silent, tmp_path)
    assert mp4_frames(from_silent).shape == (6, 64, 96, 3)


def test_resolution_caps_the_scaled_size(seedvr2_weights, seedvr2_upstream):
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        content = model.generate.local(
            media=png((32, 48)), filename="a.png", scale=4, resolution=64
        )
    assert png_pixels(content).shape == (96, 64, 3)  # short side 128 wanted, capped at 64


def test_a_request_past_its_budget_stops_between_chunks(
    seedvr2_weights, seedvr2_upstream, tmp_path
):
    """Each call takes 0.3 s (on the budget's own clock, so a busy machine's decoder start-up
    does not count); with 0.5 s the second chunk would end past the budget, so it is not
    started, and the request fails cleanly instead of Modal killing the container."""
    clip = make_clip(tmp_path / "clip.mp4", 12, (48, 32))
    handle = video_upscale.load(
        {"params": {"dit_model": DIT}, "upstream": {"dir": "/nowhere"}, "request_budget_s": 0.5},
        {"pipeline": str(seedvr2_weights / "pipeline")},
        "cpu",
        None,
    )
    handle.chunk_budget_bytes = chunk_budget_for(5, 96, 64)
    now = [0.0]
    handle.clock = lambda: now[0]
    upscale = handle.session.upscale

    def upscale_taking_a_while(*args):
        now[0] += 0.3
        return upscale(*args)

    handle.session.upscale = upscale_taking_a_while
    with pytest.raises(UpstreamError) as error:
        video_upscale.generate(
            handle, media=clip, filename="c.mp4", scale=2, resolution=64, batch_size=5, seed=0
        )
    assert str(error.value) == (
        "SeedVR2 stopped after 5 frames: the next chunk would end past this request's 0.5 s "
        "budget (the container's timeout less a margin); send a shorter clip or a lower "
        "resolution"
    )
    assert [call[0] for call in standin(handle).CALLS] == [5]


def test_the_budget_sits_under_the_container_timeout_in_every_strategy():
    for strategy in ("baseline", "cost-optimized", "hybrid", "performance-optimized"):
        module = load_generated("seedvr2", strategy)
        source = Path(module.__file__).read_text()
        assert "    timeout=3600,\n" in source  # models.yaml: seedvr2 containers timeout_s
        assert module.MODEL["request_budget_s"] == request_budget_s(3600) == 3240


def test_requests_take_turns_on_the_one_loaded_model(seedvr2_weights, seedvr2_upstream):
    session = load_upstream(seedvr2_upstream, str(seedvr2_weights / "pipeline"), DIT, "cpu")
    session.cli.DELAY_S = 0.05
    frames = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    threads = [
        threading.Thread(target=session.upscale, args=(frames, 32, 1, seed)) for seed in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(session.cli.CALLS), session.cli.ACTIVE[1], len(session.cli.LOADS)) == (4, 1, 1)


def test_large_outputs_ask_upstream_to_tile_the_vae(seedvr2_weights, seedvr2_upstream):
    session = load_upstream(seedvr2_upstream, str(seedvr2_weights / "pipeline"), DIT, "cpu")
    frames = np.zeros((1, 9, 16, 3), dtype=np.uint8)
    session.upscale(frames, 1080, 1, 0)  # 1920 x 1080: untiled
    session.upscale(frames, 1082, 1, 0)  # 1924 x 1082: tiled
    tiled = [(o["vae_encode_tiled"], o["vae_decode_tiled"]) for *_, o in session.cli.CALLS]
    assert tiled == [(False, False), (True, True)]


def test_missing_upstream_code_is_a_clear_upstream_error(seedvr2_weights, tmp_path, monkeypatch):
    monkeypatch.setenv(video_upscale.UPSTREAM_DIR_ENV, str(tmp_path / "nowhere"))
    with generated_handler("seedvr2", seedvr2_weights) as (_, model):
        with pytest.raises(UpstreamError) as error:
            model.generate.local(media=png((24, 24)), filename="a.png")
    assert str(error.value) == (
        f"SeedVR2 upstream code not found: no {tmp_path / 'nowhere' / 'inference_cli.py'}"
    )


def test_an_upstream_failure_is_reported_with_its_type_and_message(
    seedvr2_weights, seedvr2_upstream
):
    handle = video_upscale.load(
        {"params": {"dit_model": DIT}, "upstream": {"dir": "/nowhere"}},
        {"pipeline": str(seedvr2_weights / "pipeline")},
        "cpu",
        None,
    )
    standin(handle).FAIL = "CUDA out of memory. Tried to allocate 2.00 GiB"
    with pytest.raises(UpstreamError) as error:
        video_upscale.generate(
            handle,
            media=png((8, 8)),
            filename="a.png",
            scale=2,
            resolution=64,
            batch_size=1,
            seed=0,
        )
    assert str(error.value) == (
        "SeedVR2 failed: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )


def test_missing_weights_fail_when_the_container_starts_not_at_the_first_request(
    seedvr2_upstream, tmp_path
):
    handle = video_upscale.load(
        {"params": {"dit_model": DIT}, "upstream": {"dir": "/nowhere"}},
        {"pipeline": str(tmp_path)},
        "cpu",
        None,
    )
    with pytest.raises(UpstreamError) as error:
        video_upscale.warm_up(handle)
    assert str(error.value) == f"SeedVR2 failed: FileNotFoundError: {DIT} not found in {tmp_path}"


def test_options_upstream_refuses_are_an_upstream_error_at_load(seedvr2_upstream, tmp_path):
    with pytest.raises(UpstreamError) as error:
        load_upstream(seedvr2_upstream, str(tmp_path), "seedvr2_ema_9b.safetensors", "cpu")
    assert str(error.value).startswith(
        "SeedVR2 refused its options: inference_cli.py: error: argument --dit_model: invalid "
        "choice: 'seedvr2_ema_9b.safetensors'"
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
def test_bad_inputs_are_input_errors(
    media, filename, batch_size, message, seedvr2_upstream, tmp_path
):
    handle = video_upscale.load(
        {"params": {"dit_model": DIT}, "upstream": {"dir": "/nowhere"}},
        {"pipeline": str(tmp_path)},
        "cpu",
        None,
    )
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


@pytest.mark.parametrize(
    ("size", "target", "batch", "expected"),
    [
        # 1080p out: 1920 x 1080 x 3 x 7 B = 43.5 MB a frame; 1 GiB holds 24 -> 4 batches of 5
        ((960, 540), 1080, 5, 20),
        # 4K out: 174 MB a frame; 1 GiB holds 6 -> one batch of 5
        ((1920, 1080), 2160, 5, 5),
        # a batch bigger than the budget is still one batch (upstream cannot split it)
        ((1920, 1080), 2160, 9, 9),
        # 720p vertical out: 720 x 1280 x 21 B = 19.4 MB; 1 GiB holds 55 batches of one frame
        ((360, 640), 720, 1, 55),
    ],
)
def test_chunks_are_whole_batches_that_fit_the_host_memory_budget(size, target, batch, expected):
    width, height = size
    assert video_upscale.chunk_frames(width, height, target, batch, 2**30) == expected
