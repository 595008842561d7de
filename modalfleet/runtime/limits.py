"""Refuse a request that exceeds the model's limits before any GPU work (HTTP 422, field named).

The limits are the LIMITS dict of the generated module (modalfleet/fleet/limits.py derives them
from the model and its GPU; models.yaml may override them). Uploaded media is checked from its
header only (size, frame count) so a decompression bomb is refused before it is decoded.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import FieldError, LimitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv"}


def _pixels(fields: dict[str, Any]) -> int:
    return int(fields["width"]) * int(fields["height"])


# limit -> (field the error names, what it measures, the measured value)
MEASURES: dict[str, tuple[str, str, Callable[[dict[str, Any]], int]]] = {
    "max_steps": ("steps", "steps", lambda f: int(f["steps"])),
    "max_images": ("num_images", "num_images", lambda f: int(f["num_images"])),
    "max_pixels": ("width", "width x height", _pixels),
    "max_frames": ("num_frames", "num_frames", lambda f: int(f["num_frames"])),
    "max_pixel_frames": (
        "num_frames",
        "width x height x num_frames",
        lambda f: _pixels(f) * int(f["num_frames"]),
    ),
    "max_resolution": ("resolution", "resolution", lambda f: int(f["resolution"])),
    "max_batch": ("batch_size", "batch_size", lambda f: int(f["batch_size"])),
}


def check(limits: dict[str, int], fields: dict[str, Any]) -> None:
    """LimitError for the first field of a request (decoded: bytes, not base64) over a limit."""
    if "max_side" in limits:
        for name in ("width", "height"):
            if name in fields and int(fields[name]) > limits["max_side"]:
                raise LimitError(
                    name,
                    f"{name} {fields[name]} is above this model's limit of {limits['max_side']}",
                )
    for limit, (name, label, measure) in MEASURES.items():
        if limit not in limits or name not in fields:
            continue
        value = measure(fields)
        if value > limits[limit]:
            raise LimitError(
                name, f"{label} = {value} is above this model's limit of {limits[limit]}"
            )
    images = int(fields.get("num_images", 1))
    if "max_pixels" in limits and images > 1 and _pixels(fields) * images > limits["max_pixels"]:
        # the images of one call share its activations: together they must fit max_pixels
        raise LimitError(
            "num_images",
            f"width x height x num_images = {_pixels(fields) * images} is above this model's "
            f"limit of {limits['max_pixels']}",
        )
    if "max_payload_bytes" in limits:
        for name, value in fields.items():
            if isinstance(value, bytes | bytearray) and len(value) > limits["max_payload_bytes"]:
                raise LimitError(name, _too_large(name, len(value), limits["max_payload_bytes"]))


def _too_large(name: str, size: int, limit: int) -> str:
    return f"{name} is {size} bytes, above this model's limit of {limit} bytes"


def check_base64_size(limits: dict[str, int], name: str, text: str) -> None:
    """Refuse an oversized upload from its base64 length, before decoding it into memory."""
    limit = limits.get("max_payload_bytes")
    if limit is not None and len(text) // 4 * 3 > limit + 2:
        raise LimitError(name, _too_large(name, len(text) // 4 * 3, limit))


def check_image(limits: dict[str, int], name: str, data: bytes) -> tuple[int, int]:
    """(width, height) of an uploaded image from its header; a non-image or one with more
    pixels than max_input_pixels is refused without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise LimitError(name, f"{name} is not a readable image: {error}") from None
    limit = limits.get("max_input_pixels")
    if limit is not None and width * height > limit:
        raise LimitError(
            name,
            f"{name} is {width}x{height} = {width * height} pixels, above this model's limit "
            f"of {limit}",
        )
    return width, height


def check_video(
    limits: dict[str, int], name: str, data: bytes, suffix: str
) -> tuple[int, int, int]:
    """(frames, width, height) of an uploaded video from its container; refused when it has no
    frame, more than max_input_frames, or frames larger than max_input_pixels."""
    import cv2

    with tempfile.TemporaryDirectory(prefix="modalfleet-probe-") as folder:
        path = Path(folder) / f"probe{suffix}"
        path.write_bytes(data)
        capture = cv2.VideoCapture(str(path))
        try:
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            readable = capture.isOpened() and capture.read()[0]
        finally:
            capture.release()
    if not readable or frames <= 0:
        raise LimitError(name, f"{name} is not a readable video: no frame could be decoded")
    pixel_limit = limits.get("max_input_pixels")
    if pixel_limit is not None and width * height > pixel_limit:
        raise LimitError(
            name,
            f"{name} frames are {width}x{height} = {width * height} pixels, above this model's "
            f"limit of {pixel_limit}",
        )
    frame_limit = limits.get("max_input_frames")
    if frame_limit is not None and frames > frame_limit:
        raise LimitError(
            name, f"{name} has {frames} frames, above this model's limit of {frame_limit}"
        )
    return frames, width, height


def check_media(
    limits: dict[str, int],
    name: str,
    data: bytes,
    filename: str = "",
    filename_field: str = "filename",
) -> None:
    """An uploaded image, or a video when filename (the request's field filename_field) says
    so, checked from its header."""
    suffix = Path(filename).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        check_video(limits, name, data, suffix)
    elif not filename or suffix in IMAGE_SUFFIXES:
        check_image(limits, name, data)
    else:
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise FieldError(filename_field, f"cannot read {filename!r}: expected one of {known}")
