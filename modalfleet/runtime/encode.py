"""Turn pipeline output into the bytes a handler returns: an image (PNG, JPEG or WEBP), a ZIP of
images when a request asks for several, an MP4 for videos."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes (lossless, so equal images give equal bytes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Image formats a request may ask for: PIL's name, and whether `quality` applies.
IMAGE_FORMATS = {"png": ("PNG", False), "jpeg": ("JPEG", True), "webp": ("WEBP", True)}


def image_bytes(image: Any, format: str = "png", quality: int = 90) -> bytes:
    """A PIL image as PNG (lossless; quality ignored), JPEG or WEBP (quality 1-100)."""
    from .errors import InputError

    if format not in IMAGE_FORMATS:
        raise InputError(f"format must be one of {', '.join(IMAGE_FORMATS)}, got {format!r}")
    pil_name, lossy = IMAGE_FORMATS[format]
    if not lossy:
        return png_bytes(image)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=pil_name, quality=int(quality))
    return buffer.getvalue()


def images_bytes(images: Sequence[Any], format: str = "png", quality: int = 90) -> bytes:
    """One image as its own file; several as a ZIP of image-1.<format>, image-2.<format>, ...

    A ZIP keeps `generate`'s answer one bytes value whatever num_images is. The images are
    stored, not deflated (PNG, JPEG and WEBP are compressed already), with a fixed timestamp so
    the same images give the same bytes.
    """
    if len(images) == 1:
        return image_bytes(images[0], format, quality)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number, image in enumerate(images, start=1):
            entry = zipfile.ZipInfo(f"image-{number}.{format}", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, image_bytes(image, format, quality))
    return buffer.getvalue()


def media_type(content: bytes) -> str:
    """The content type of what a handler returns, read from its first bytes."""
    if content.startswith(b"\x89PNG"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content.startswith(b"PK\x03\x04"):
        return "application/zip"
    return "video/mp4"


def mp4_bytes(frames: Sequence[Any], fps: int) -> bytes:
    """Frames (PIL images, or HxWx3 arrays: uint8, or float in [0, 1]) as an H.264 MP4."""
    import imageio.v2 as imageio
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        # yuv420p is what browsers and players decode; libx264 needs even sides for it, which
        # every size we produce has (Wan requires multiples of 16).
        writer = imageio.get_writer(
            path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2
        )
        with writer:
            for frame in frames:
                array = np.asarray(frame)
                if array.dtype != np.uint8:
                    array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
                writer.append_data(array)
        return path.read_bytes()
