"""Turn pipeline output into the bytes a handler returns: PNG for images, MP4 for videos."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes (lossless, so equal images give equal bytes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


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
