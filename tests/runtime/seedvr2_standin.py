"""A stand-in for SeedVR2's pinned upstream code (the real one needs 7.3 GB of weights and a GPU).

Laid out like upstream (an `inference_cli.py` that puts its folder on sys.path and imports from
`src/`), with the functions runtime/seedvr2_upstream.py calls: `parse_arguments()` reading
sys.argv, `_process_frames_core(frames_tensor, args, device_id, debug, runner_cache)` and
`debug`. It "loads" (counted in LOADS) when runner_cache has no runner, as upstream's
--cache_dit path does, and bicubic-resizes the frames so that their short side is --resolution,
as SeedVR2 does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

STANDIN_CLI = textwrap.dedent(
    """
    import argparse, os, sys, threading, time
    from pathlib import Path

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # as upstream does
    import torch
    from src.resize import to_short_side

    LOADS = []  # model_dir of each load of the DiT and VAE
    CALLS = []  # (frames, height, width, options) per call
    FAIL = None  # a message: every call raises it, as a CUDA OOM would
    DELAY_S = 0.0  # seconds each call takes
    ACTIVE = [0, 0]  # calls running now, the most ever at once
    debug = object()
    _guard = threading.Lock()

    def parse_arguments():
        parser = argparse.ArgumentParser(allow_abbrev=False)
        parser.add_argument("input")
        parser.add_argument("--model_dir", default=None)
        parser.add_argument("--dit_model", default="seedvr2_ema_3b_fp8_e4m3fn.safetensors",
                            choices=["seedvr2_ema_3b_fp16.safetensors",
                                     "seedvr2_ema_3b_fp8_e4m3fn.safetensors"])
        parser.add_argument("--resolution", type=int, default=1080)
        parser.add_argument("--batch_size", type=int, default=5)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--cache_dit", action="store_true")
        parser.add_argument("--cache_vae", action="store_true")
        parser.add_argument("--dit_offload_device", default="none")
        parser.add_argument("--vae_offload_device", default="none")
        parser.add_argument("--vae_encode_tiled", action="store_true")
        parser.add_argument("--vae_decode_tiled", action="store_true")
        return parser.parse_args()

    def _process_frames_core(frames_tensor, args, device_id, debug, runner_cache=None):
        assert frames_tensor.dtype == torch.float16 and frames_tensor.ndim == 4
        assert 0.0 <= float(frames_tensor.min()) and float(frames_tensor.max()) <= 1.0
        with _guard:
            ACTIVE[0] += 1
            ACTIVE[1] = max(ACTIVE)
        try:
            if runner_cache is None or "runner" not in runner_cache:
                if not (Path(args.model_dir) / args.dit_model).is_file():
                    raise FileNotFoundError(f"{args.dit_model} not found in {args.model_dir}")
                LOADS.append(args.model_dir)
                if runner_cache is not None and args.cache_dit and args.cache_vae:
                    runner_cache["runner"] = "DiT + VAE"
            count, height, width = frames_tensor.shape[:3]
            CALLS.append((count, height, width, vars(args) | {"device_id": device_id}))
            time.sleep(DELAY_S)
            if FAIL:
                raise RuntimeError(FAIL)
            return to_short_side(frames_tensor, args.resolution)
        finally:
            with _guard:
                ACTIVE[0] -= 1
    """
)
STANDIN_RESIZE = textwrap.dedent(
    """
    import torch

    def to_short_side(frames, resolution):
        count, height, width, _ = frames.shape
        factor = resolution / min(height, width)
        size = (round(height * factor), round(width * factor))
        nchw = frames.permute(0, 3, 1, 2).float()
        out = torch.nn.functional.interpolate(nchw, size=size, mode="bicubic", align_corners=False)
        return out.clamp(0, 1).permute(0, 2, 3, 1).contiguous()
    """
)


def write_standin(folder: Path) -> Path:
    """The stand-in upstream written into folder; returns folder."""
    (folder / "src").mkdir(parents=True)
    (folder / "inference_cli.py").write_text(STANDIN_CLI)
    (folder / "src" / "__init__.py").write_text("")
    (folder / "src" / "resize.py").write_text(STANDIN_RESIZE)
    return folder
