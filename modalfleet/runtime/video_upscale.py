"""Video and image upscaling with SeedVR2: the model loads once per container, clips stream.

The pinned upstream code runs in this process (seedvr2_upstream.py): `load` imports it in the
memory-snapshot hook, `warm_up` makes it load the DiT and VAE onto the GPU, and every request
reuses them. Upstream materialises its models straight onto the inference device, so the
snapshot holds the imported code, not the weights.

A video never sits in memory whole: ffmpeg decodes it into chunks of frames (video_stream.py),
each chunk is upscaled and piped into an H.264 encoder that also takes the source's audio. A
chunk is a whole number of batches (upstream upscales batch_size frames together and never
across batches), so chunking adds no seam that batching did not already have, and it is as
many frames as fit CHUNK_BUDGET_BYTES of host memory at the output size.

`scale` multiplies the input's short side; `resolution` caps the result (a 4K request on a 24 GB
GPU is what runs out of memory), so R = min(short side x scale, resolution), rounded to even.

Time: a request gets MODEL["request_budget_s"] (the render sets it under the container's
timeout, leaving a margin for the encoder to finish and the job to be saved). Work in progress
on the GPU cannot be interrupted, so the budget is checked between chunks: a chunk starts only
when the time left covers the slowest chunk so far; otherwise the request fails with an
UpstreamError (HTTP 502, a failed job) instead of Modal killing the container mid-call.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import seedvr2_upstream
from .encode import png_bytes
from .errors import FieldError, InputError, UpstreamError
from .limits import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .sampling import params
from .video_stream import FrameReader, Mp4Writer

UPSTREAM_DIR_ENV = "MODALFLEET_SEEDVR2_DIR"  # overrides MODEL["upstream"]["dir"] (tests)
REQUEST_BUDGET_S = 540.0  # when MODEL has no request_budget_s (the render always sets one)
# Host memory one chunk may take at the output size. Per output value (pixel x channel):
# upstream's float32 result (4 bytes), its 16-bit decoded frames kept on the CPU until the
# chunk ends (2), our uint8 copy for the encoder (1). 1 GiB is 34 frames of 1080p, 8 of 4K.
CHUNK_BUDGET_BYTES = 2**30
HOST_BYTES_PER_OUTPUT_VALUE = 4 + 2 + 1
FINISH_GRACE_S = (
    15.0  # the encoder's flush may run this far past the budget (the margin is >= 30 s)
)


@dataclass
class Handle:
    session: seedvr2_upstream.Session
    budget_s: float = REQUEST_BUDGET_S
    chunk_budget_bytes: int = CHUNK_BUDGET_BYTES
    clock: Callable[[], float] = time.monotonic  # what the budget reads (tests drive their own)


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    """Import the pinned upstream code (no weights yet, unless `device` is the GPU already).

    dtype is not passed on: upstream picks its compute dtype itself (bf16 where supported).
    """
    upstream_dir = os.environ.get(UPSTREAM_DIR_ENV, model["upstream"]["dir"])
    session = seedvr2_upstream.load(
        Path(upstream_dir), paths["pipeline"], params(model)["dit_model"], device
    )
    budget_s = float(model.get("request_budget_s", REQUEST_BUDGET_S))
    handle = Handle(session, budget_s, CHUNK_BUDGET_BYTES)
    if device != "cpu":  # a GPU snapshot: load the weights now, so the snapshot keeps them
        session.warm_up()
    return handle


def to_device(handle: Handle, device: str) -> Handle:
    """The device the weights will load on: they load at warm_up, after this."""
    handle.session.device = device
    return handle


def warm_up(handle: Handle) -> None:
    """One tiny upscale: upstream loads the DiT and VAE on its first call, once per container."""
    handle.session.warm_up()


def media_kind(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    raise FieldError("filename", f"cannot upscale {filename!r}: expected one of {known}")


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1 or (batch_size - 1) % 4:
        raise FieldError("batch_size", f"batch_size must be 4n+1 (1, 5, 9, ...), got {batch_size}")


def decode_image(media: bytes) -> Any:
    """Every pixel of an uploaded image, as an RGB array (its size was checked from its header
    first, runtime/limits.py). A file that ends early or is broken anywhere is refused."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(media)) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # PIL's decoders raise OSError, SyntaxError, ValueError, EOFError...
        raise FieldError("media", f"media is not a readable image: {error}") from None


def check(fields: dict[str, Any]) -> None:
    """Everything generate would refuse from the request alone, checked before a job is spawned:
    the media's kind, batch_size, and an image decoded whole (a truncated one passes the header
    check). A video's frames are read by the job; its container and first frame were checked."""
    kind = media_kind(fields["filename"])
    check_batch_size(int(fields["batch_size"]))
    if kind == "image":
        decode_image(fields["media"])


def target_resolution(source_short_side: int, scale: float, resolution: int) -> int:
    """Short side of the output: source x scale, capped at resolution, rounded to even."""
    if scale <= 0:
        raise InputError(f"scale must be positive, got {scale}")
    target = min(round(source_short_side * scale), int(resolution))
    return max(2, target - target % 2)


def chunk_frames(width: int, height: int, target: int, batch_size: int, budget_bytes: int) -> int:
    """Frames per chunk: whole batches that fit budget_bytes at the output size (at least one)."""
    out_pixels = target * target * max(width, height) / min(width, height)
    per_frame = out_pixels * 3 * HOST_BYTES_PER_OUTPUT_VALUE
    return max(1, int(budget_bytes // (per_frame * batch_size))) * batch_size


class Budget:
    """A request's seconds, checked before each chunk against the slowest chunk so far."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.started = clock()
        self.slowest = 0.0

    def left(self) -> float:
        return self.seconds - (self.clock() - self.started)

    def before_chunk(self, frames_done: int) -> None:
        if self.left() < self.slowest:
            raise UpstreamError(
                f"SeedVR2 stopped after {frames_done} frames: the next chunk would end past this "
                f"request's {self.seconds:g} s budget (the container's timeout less a margin); "
                "send a shorter clip or a lower resolution"
            )

    def chunk_done(self, started: float) -> None:
        self.slowest = max(self.slowest, self.clock() - started)


def even(frames: Any) -> Any:
    """Frames cropped to even sides (yuv420p needs them): at most one row and column lost."""
    height, width = frames.shape[1:3]
    return frames[:, : height - height % 2, : width - width % 2]


def generate(
    handle: Handle,
    *,
    media: bytes,
    filename: str,
    scale: float,
    resolution: int,
    batch_size: int,
    seed: int,
) -> bytes:
    kind = media_kind(filename)
    check_batch_size(batch_size)
    if kind == "image":  # one call to upstream: nothing to check the budget between
        return upscale_image(handle, media, scale, resolution, seed)
    suffix = Path(filename).suffix.lower()
    return upscale_video(handle, media, suffix, scale, resolution, batch_size, seed)


def upscale_image(handle: Handle, media: bytes, scale: float, resolution: int, seed: int) -> bytes:
    from PIL import Image

    pixels = decode_image(media)
    target = target_resolution(min(pixels.shape[:2]), scale, resolution)
    frames = handle.session.upscale(pixels[None], target, 1, seed)
    return png_bytes(Image.fromarray(frames[0]))


def upscale_video(
    handle: Handle,
    media: bytes,
    suffix: str,
    scale: float,
    resolution: int,
    batch_size: int,
    seed: int,
) -> bytes:
    budget = Budget(handle.budget_s, handle.clock)
    with tempfile.TemporaryDirectory(prefix="seedvr2-") as folder:
        source = Path(folder) / f"input{suffix}"
        output = Path(folder) / "output.mp4"
        source.write_bytes(media)
        reader = FrameReader(source)
        info = reader.info
        target = target_resolution(min(info.width, info.height), scale, resolution)
        size = chunk_frames(info.width, info.height, target, batch_size, handle.chunk_budget_bytes)
        writer: Mp4Writer | None = None
        done = 0
        try:
            for frames in reader.chunks(size):
                budget.before_chunk(done)
                started = handle.clock()
                upscaled = even(handle.session.upscale(frames, target, batch_size, seed))
                budget.chunk_done(started)
                if writer is None:
                    height, width = upscaled.shape[1:3]
                    writer = Mp4Writer(output, width, height, info.fps, source, info.audio_codec)
                writer.write(upscaled)
                done += len(frames)
            if writer is None:
                raise InputError("media is not a readable video: no frame could be decoded")
            writer.finish(max(budget.left(), 0.0) + FINISH_GRACE_S)
            writer = None
        finally:
            reader.close()
            if writer is not None:
                writer.abort()
        return output.read_bytes()
