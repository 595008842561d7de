"""Decoding what handlers return, so tests compare pixels and frame counts, not byte blobs."""

from __future__ import annotations

import io

import numpy as np


def png_pixels(content: bytes) -> np.ndarray:
    from PIL import Image

    assert content[:8] == b"\x89PNG\r\n\x1a\n", content[:16]
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def zip_images(content: bytes) -> dict[str, np.ndarray]:
    """A ZIP of images (num_images > 1): entry name -> RGB pixels, in the archive's order."""
    import zipfile

    from PIL import Image

    assert content[:4] == b"PK\x03\x04", content[:16]
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {
            name: np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("RGB"))
            for name in archive.namelist()
        }


def png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A PNG of `size` (width, height) with a gradient, so resizes change real content."""
    from PIL import Image

    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = (x * 0.5 + y * 0.5) * (np.array(colour, dtype=np.float32) / 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4_frames(content: bytes) -> np.ndarray:
    """All frames of an MP4 as (frames, height, width, 3) uint8."""
    import imageio.v3 as iio

    assert content[4:8] == b"ftyp", content[:16]
    return iio.imread(content, extension=".mp4")
