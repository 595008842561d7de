"""SeedVR2's pinned upstream code, imported and called in-process: load once, upscale many times.

SeedVR2 has no pip package and no diffusers pipeline. The image clones a pinned commit of
numz/ComfyUI-SeedVR2_VideoUpscaler (the template's UPSTREAM). Its `inference_cli.py` is a
script, but a module too: everything it does per input goes through one function,

    _process_frames_core(frames_tensor, args, device_id, debug, runner_cache) -> frames

frames_tensor [T, H, W, C] in [0, 1] (float16), args the CLI's parsed options, the result
[T, H', W', C] float32 in [0, 1] with short side args.resolution. With --cache_dit/--cache_vae
and a `runner_cache` dict that outlives the call, the first call loads the DiT and VAE
(`prepare_runner`) and later calls reuse them: the CLI's own path for several files in one
process. This module keeps that dict for the container's life, so the 7.3 GB load happens once
per container, not once per request (the subprocess it replaces re-imported torch, reloaded the
weights and re-hashed them on every call).

The narrow interface the rest of the runtime sees:

    session = load(upstream_dir, model_dir, dit_model, device)
    session.upscale(frames_uint8 [T, H, W, 3], resolution, batch_size, seed) -> uint8 frames

What was read in the pinned source (inference_cli.py, src/core/generation_utils.py,
src/optimization/memory_manager.py at 4490bd1f) but not run on a GPU here: the options come
from the CLI's own `parse_arguments()` so every default is upstream's; caching requires an
offload device, and giving the inference device itself keeps the models resident (upstream's
`manage_model_device` skips a move to the device a model is already on) instead of copying
7.3 GB to the host and back between chunks; `main()` (weight download and hash check,
multi-GPU) is not called, the weights are already on the Volume. The tests drive this module
against a stand-in `inference_cli.py` with the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import UpstreamError

ENTRY = "inference_cli.py"  # the upstream file whose functions are called
MODULE_NAME = "seedvr2_inference_cli"  # the name it is imported under
_IMPORTED: dict[Path, ModuleType] = {}  # imported entry files: one import per process
# Output above this many pixels per frame is encoded and decoded by the VAE in tiles (upstream's
# --vae_encode_tiled/--vae_decode_tiled, default 1024 px tiles): its own example turns tiling
# on for 1440p; 1080p (1920 x 1080) runs untiled, which is faster.
TILED_ABOVE_PIXELS = 1920 * 1080
WARM_UP_SIDE = 64  # a 64 x 64 single frame: the smallest call that makes upstream load its models


def import_entry(upstream_dir: Path) -> ModuleType:
    """inference_cli.py imported as a module, once per process and folder; its top level puts
    its folder on sys.path so that its `src.*` imports resolve."""
    path = (upstream_dir / ENTRY).resolve()
    if path in _IMPORTED:
        return _IMPORTED[path]
    if not path.is_file():
        raise UpstreamError(f"SeedVR2 upstream code not found: no {upstream_dir / ENTRY}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise UpstreamError(f"importing {path} failed: {type(error).__name__}: {error}") from error
    _IMPORTED[path] = module
    return module


def device_id(device: str) -> str:
    """Upstream's device id: "0" for the container's GPU ("cuda", "cuda:0"), "cpu" otherwise."""
    if device.startswith("cuda"):
        return device.partition(":")[2] or "0"
    return "cpu"


def parse_options(cli: ModuleType, argv: list[str]) -> argparse.Namespace:
    """The CLI's options for argv, every other one at upstream's default; a refusal (an unknown
    DiT model, say) is an UpstreamError with argparse's message rather than a SystemExit."""
    stderr = io.StringIO()
    saved = sys.argv
    sys.argv = [ENTRY, *argv]
    try:
        with contextlib.redirect_stderr(stderr):
            return cli.parse_arguments()
    except SystemExit:
        message = stderr.getvalue().strip().splitlines()
        raise UpstreamError(
            f"SeedVR2 refused its options: {message[-1] if message else argv}"
        ) from None
    finally:
        sys.argv = saved


@dataclass
class Session:
    """The imported upstream module and its options; `runner_cache` holds the loaded models
    between calls. One call at a time: upstream clears and refills the cached generation
    context on every call, so two threads (`@modal.concurrent`) would corrupt each other."""

    cli: ModuleType
    model_dir: str
    dit_model: str
    device: str
    runner_cache: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def options(self, resolution: int, batch_size: int, seed: int, pixels: int) -> Any:
        # Upstream requires an offload device to cache; the inference device itself keeps the
        # models where they run (see the module docstring).
        target = device_id(self.device)
        argv = [
            "<in-process>",
            "--model_dir",
            self.model_dir,
            "--dit_model",
            self.dit_model,
            "--resolution",
            str(resolution),
            "--batch_size",
            str(batch_size),
            "--seed",
            str(seed),
            "--cache_dit",
            "--cache_vae",
            "--dit_offload_device",
            target,
            "--vae_offload_device",
            target,
        ]
        if pixels > TILED_ABOVE_PIXELS:
            argv += ["--vae_encode_tiled", "--vae_decode_tiled"]
        return parse_options(self.cli, argv)

    def upscale(self, frames: Any, resolution: int, batch_size: int, seed: int) -> Any:
        """frames (T, H, W, 3) uint8 -> (T, H', W', 3) uint8, short side `resolution`."""
        import numpy as np
        import torch

        count, height, width = frames.shape[:3]
        out_pixels = round(resolution * resolution * max(height, width) / min(height, width))
        # a copy: decoded frames are read-only buffers, and torch wants writable memory
        tensor = torch.from_numpy(np.array(frames, dtype=np.uint8)).to(torch.float16) / 255.0
        with self.lock:  # parsing swaps sys.argv and stderr, process-wide: under the lock too
            args = self.options(resolution, batch_size, seed, out_pixels)
            try:
                result = self.cli._process_frames_core(
                    frames_tensor=tensor,
                    args=args,
                    device_id=device_id(self.device),
                    debug=self.cli.debug,
                    runner_cache=self.runner_cache,
                )
            except Exception as error:  # upstream raises plain exceptions (OOM, bad shapes)
                raise UpstreamError(f"SeedVR2 failed: {type(error).__name__}: {error}") from error
        if result.ndim != 4 or result.shape[0] != count:
            raise UpstreamError(
                f"SeedVR2 returned {tuple(result.shape)} for {count} frames of {width}x{height}"
            )
        pixels = (result[..., :3].float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
        return pixels.cpu().numpy()

    def warm_up(self) -> None:
        """One tiny call: upstream loads the DiT and VAE into runner_cache on its first call."""
        import numpy as np

        frame = np.full((1, WARM_UP_SIDE, WARM_UP_SIDE, 3), 128, dtype=np.uint8)
        self.upscale(frame, WARM_UP_SIDE, 1, 0)


def load(upstream_dir: Path, model_dir: str, dit_model: str, device: str) -> Session:
    """Import the upstream code and check its options; the weights load at the first call."""
    cli = import_entry(Path(upstream_dir))
    session = Session(cli=cli, model_dir=model_dir, dit_model=dit_model, device=device)
    with session.lock:  # refuses bad options now, not at the first request
        session.options(WARM_UP_SIDE, 1, 0, WARM_UP_SIDE * WARM_UP_SIDE)
    return session
