"""A video as chunks of frames through ffmpeg, and frames back into a browser-playable MP4.

Reading streams raw RGB frames out of one ffmpeg process and hands them over `size` at a time,
so host memory holds one chunk (size x H x W x 3 bytes), never the whole clip. Writing pipes
frames into a second ffmpeg that encodes H.264 (libx264, yuv420p: what browsers decode) with
the index at the front (+faststart: playback starts before the download ends) and muxes the
source's first audio track (copied when it is AAC, else re-encoded to AAC, which MP4 players
all take). The ffmpeg binary is imageio-ffmpeg's (a pinned wheel), so tests and the image run
the same one.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InputError, UpstreamError

STDERR_TAIL_CHARS = 2000
CRF = 18  # x264's "visually lossless" end of the scale: an upscaler should not add artefacts
PRESET = "medium"


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    audio_codec: str | None  # None: the source has no audio track


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class FrameReader:
    """The frames of `path`, decoded by ffmpeg as they are asked for; close() ends ffmpeg."""

    def __init__(self, path: Path):
        import imageio_ffmpeg

        self._frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        try:
            meta = next(self._frames)
        except (OSError, RuntimeError, StopIteration) as error:
            self._frames.close()
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no stream"
            raise InputError(f"media is not a readable video: {first_line}") from None
        width, height = meta["size"]
        self.info = VideoInfo(int(width), int(height), float(meta["fps"]), meta.get("audio_codec"))

    def chunks(self, size: int) -> Iterator[Any]:
        """Arrays (n <= size, H, W, 3) uint8 until the video ends."""
        import numpy as np

        shape = (self.info.height, self.info.width, 3)
        frames = []
        for raw in self._frames:
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(shape))
            if len(frames) == size:
                yield np.stack(frames)
                frames = []
        if frames:
            yield np.stack(frames)

    def close(self) -> None:
        self._frames.close()


class Mp4Writer:
    """Frames (H, W, 3) uint8 of one size piped into ffmpeg, written to `path` as H.264 MP4
    with the audio of `audio_source` when `audio_codec` says it has one."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        audio_source: Path | None = None,
        audio_codec: str | None = None,
    ):
        command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        command += ["-r", f"{fps:g}", "-i", "-"]
        with_audio = audio_source is not None and audio_codec is not None
        if with_audio:
            command += ["-i", str(audio_source), "-map", "0:v:0", "-map", "1:a:0"]
        command += ["-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p"]
        if with_audio:
            command += ["-c:a", "copy" if audio_codec == "aac" else "aac"]
        command += ["-movflags", "+faststart", str(path)]
        self.path = path
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
        )

    def write(self, frames: Any) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(frames.tobytes())
        except BrokenPipeError:
            self._process.wait()
            raise UpstreamError(f"ffmpeg stopped encoding: {self._stderr_tail()}") from None

    def finish(self, timeout_s: float) -> None:
        """Flush and wait for ffmpeg (at most timeout_s); UpstreamError when it fails."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            code = self._process.wait(timeout=max(timeout_s, 0.001))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise UpstreamError(f"ffmpeg took longer than {timeout_s:.0f} s to finish") from None
        if code != 0:
            raise UpstreamError(f"ffmpeg exited with status {code}: {self._stderr_tail()}")
        self._stderr.close()

    def abort(self) -> None:
        """End ffmpeg without waiting for it (the request failed; its file is discarded)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
