"""Video and image upscaling with SeedVR2, through the upstream standalone CLI.

SeedVR2 has no pip package and no diffusers pipeline. The image clones a pinned commit of
numz/ComfyUI-SeedVR2_VideoUpscaler and this module drives its `inference_cli.py` through one
narrow interface:

    python inference_cli.py INPUT --output OUTPUT --model_dir DIR --dit_model FILE
                            --resolution R --batch_size B --seed S

INPUT is an image or a video file; the CLI restores it and resizes it so that its short side is R
pixels, writing OUTPUT of the same kind. Everything on our side (input checks, the scale ->
resolution arithmetic, temp files, error reporting) is tested with a stand-in CLI.

`scale` multiplies the input's short side; `resolution` caps the result (a 4K request on a 24 GB
GPU is what runs out of memory), so R = min(short side x scale, resolution), rounded to even.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, UpstreamError
from .limits import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .sampling import params

CLI_ENV = "MODALFLEET_SEEDVR2_CLI"
DEFAULT_CLI = "/opt/seedvr2/inference_cli.py"
STDERR_TAIL_CHARS = 2000
CLI_TIMEOUT_S = 540  # when MODEL has no cli_timeout_s (the render sets it under the container's)


@dataclass(frozen=True)
class Handle:
    cli: Path
    model_dir: str
    dit_model: str
    device: str
    cli_timeout_s: float = CLI_TIMEOUT_S


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    """Nothing to load in-process: the CLI loads the weights from model_dir on every call."""
    return Handle(
        cli=Path(os.environ.get(CLI_ENV, DEFAULT_CLI)),
        model_dir=paths["pipeline"],
        dit_model=params(model)["dit_model"],
        device=device,
        cli_timeout_s=model.get("cli_timeout_s", CLI_TIMEOUT_S),
    )


def to_device(handle: Handle, device: str) -> Handle:
    """Only the device changes: the CLI loads the weights itself on every call."""
    return dataclasses.replace(handle, device=device)


def warm_up(handle: Handle) -> None:
    """Nothing: the CLI is a new process per call, there is nothing in this one to warm."""


def media_kind(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    raise InputError(f"cannot upscale {filename!r}: expected one of {known}")


def short_side(path: Path, kind: str) -> int:
    """Shorter side of the input in pixels; InputError when it cannot be decoded.

    Videos are probed with OpenCV, which the upstream CLI needs anyway (so the image has it).
    """
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError) as error:
            raise InputError(f"media is not a readable image: {error}") from None
        return min(width, height)
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise InputError("media is not a readable video: no frame could be decoded")
    height, width = frame.shape[:2]
    return min(width, height)


def target_resolution(source_short_side: int, scale: float, resolution: int) -> int:
    """Short side of the output: source x scale, capped at resolution, rounded to even."""
    if scale <= 0:
        raise InputError(f"scale must be positive, got {scale}")
    target = min(round(source_short_side * scale), int(resolution))
    return max(2, target - target % 2)


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
    if batch_size < 1 or (batch_size - 1) % 4:
        raise InputError(f"batch_size must be 4n+1 (1, 5, 9, ...), got {batch_size}")
    suffix = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="seedvr2-") as folder:
        source = Path(folder) / f"input{suffix}"
        output = Path(folder) / ("output.png" if kind == "image" else "output.mp4")
        source.write_bytes(media)
        target = target_resolution(short_side(source, kind), scale, resolution)
        if not handle.cli.is_file():
            raise UpstreamError(
                f"SeedVR2 CLI not found at {handle.cli}; the image installs it there, "
                f"or set {CLI_ENV}"
            )
        command = [
            sys.executable,
            str(handle.cli),
            str(source),
            "--output",
            str(output),
            "--model_dir",
            handle.model_dir,
            "--dit_model",
            handle.dit_model,
            "--resolution",
            str(target),
            "--batch_size",
            str(batch_size),
            "--seed",
            str(seed),
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=handle.cli_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise UpstreamError(
                f"SeedVR2 CLI took longer than {handle.cli_timeout_s:g} s"
            ) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout or "").strip()[-STDERR_TAIL_CHARS:]
            raise UpstreamError(f"SeedVR2 CLI exited with status {done.returncode}: {tail}")
        if not output.is_file():
            raise UpstreamError(f"SeedVR2 CLI exited 0 but wrote no {output.name}")
        return output.read_bytes()
