"""Check SeedVR2's closed forms (fleet/architectures/layers.py) against the upstream code itself.

SeedVR2 is not a pip package, so tests/test_flops.py cannot build it; this does, from a checkout
of the upstream code laid out as fal-ai-community/SeedVR (the `seedvr` package; checked at
71723ab4075e7dd985e178e4b1f07f06ba6cb989):

    pip install einops rotary-embedding-torch
    python tools/check_seedvr2_closed_form.py /path/to/SeedVR

It counts, with torch's FlopCounterMode:
- NaDiT (dit_v2) built from the shipped config, parameters at full size (meta device), and
  FLOPs of one forward at reduced width and depth (so it runs on a CPU) on three video grids,
  windowed and shifted-window layers and shared/separate text weights included;
- the video VAE (video_vae_v3) at full size, parameters and one encode + decode of two clips;
- the window partition of upstream's window.py against layers.seedvr2_windows on a grid of sizes.

Upstream's attention is flash varlen (not counted by FlopCounterMode on a CPU); it is replaced by
the same attention as plain matmuls per window, and pinned-memory requests (CUDA only) are
dropped. The package's __init__ (the whole pipeline) is not run, and fal's `flashpack` mixin the
VAE class names is replaced by an empty class.
Exit 1 when any ratio is off by more than 1e-3 or a parameter count differs.
"""

from __future__ import annotations

import itertools
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modalfleet.fleet.architectures import layers, load, parameter_count  # noqa: E402


def prepare(upstream: Path) -> None:
    sys.path.insert(0, str(upstream))
    # The package's __init__ imports the whole pipeline (fal's flashpack, omegaconf ...): load
    # its modules without running it.
    package = types.ModuleType("seedvr")
    package.__path__ = [str(upstream / "seedvr")]
    sys.modules["seedvr"] = package
    import diffusers.models  # noqa: F401  (before the stub below: it probes for flashpack)

    for name in ("flashpack", "flashpack.integrations", "flashpack.integrations.diffusers"):
        module = types.ModuleType(name)
        module.FlashPackDiffusersModelMixin = type("FlashPackDiffusersModelMixin", (), {})
        sys.modules[name] = module
    tensor = torch.tensor

    def unpinned(*args, **kwargs):
        kwargs.pop("pin_memory", None)
        return tensor(*args, **kwargs)

    torch.tensor = unpinned
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self
    from seedvr.models.dit_v2 import attention

    def windows(self, *args, **kwargs):
        q, k, v = kwargs["q"], kwargs["k"], kwargs["v"]
        bounds = kwargs["cu_seqlens_q"].tolist()
        out = []
        for start, end in itertools.pairwise(bounds):
            qq, kk, vv = (x[start:end].transpose(0, 1) for x in (q, k, v))
            weights = F.softmax(qq @ kk.transpose(1, 2) / qq.shape[-1] ** 0.5, dim=-1)
            out.append((weights @ vv).transpose(0, 1))
        return torch.cat(out)

    attention.VarlenAttention.forward = windows


def counted(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def nadit_kwargs(config: dict, **changes) -> dict:
    c = {**config, **changes}
    c.pop("msa_type", None)
    layers_ = c["num_layers"]
    c["window"] = [tuple(c["window"])] * layers_
    c["window_method"] = list(c["window_method"]) * (layers_ // 2)
    c["block_type"] = [c["block_type"]] * layers_
    return c


def main(upstream: Path) -> int:
    prepare(upstream)
    from seedvr.models.dit_v2.nadit import NaDiT
    from seedvr.models.dit_v2.window import (
        make_720Pwindows_bysize,
        make_shifted_720Pwindows_bysize,
    )
    from seedvr.models.video_vae_v3.modules.attn_video_vae import VideoAutoencoderKLWrapper

    parts = load("seedvr2-3b").components
    failures = 0

    def report(what: str, closed: float, real: float) -> None:
        nonlocal failures
        ratio = closed / real
        failures += abs(ratio - 1) > 1e-3
        print(f"{what}: closed form {closed:.6g}, upstream {real:.6g}, ratio {ratio:.5f}")

    full = parts["dit"].config
    with torch.device("meta"):
        dit = NaDiT(**nadit_kwargs(full))
    report(
        "NaDiT 3B parameters",
        parameter_count(parts["dit"]),
        sum(p.numel() for p in dit.parameters()),
    )
    small = dict(full, vid_dim=128, txt_dim=128, emb_dim=768, heads=2, head_dim=64,
                 txt_in_dim=96, num_layers=4, mm_layers=2, rope_dim=32)  # fmt: skip
    dit = NaDiT(**nadit_kwargs(small)).eval()
    for (t, h, w), text in (((2, 34, 60), 13), ((3, 45, 80), 7), ((1, 30, 40), 5)):
        real = counted(
            lambda t=t, h=h, w=w, text=text: dit(
                torch.randn(t * h * 2 * w * 2, full["vid_in_channels"]),
                torch.randn(text, 96),
                torch.tensor([[t, h * 2, w * 2]]),
                torch.tensor([[text]]),
                torch.tensor([500.0]),
            )
        )
        tally = layers.Tally()
        layers.seedvr2_dit(tally, small, (t, h, w), text)
        report(f"NaDiT (width 128, 4 blocks) on {t}x{h}x{w} patches", tally.flops, real)

    vae_config = parts["vae"].config
    vae = VideoAutoencoderKLWrapper(**vae_config).eval()
    report(
        "VAE parameters", parameter_count(parts["vae"]), sum(p.numel() for p in vae.parameters())
    )
    for frames, height, width in ((5, 64, 64), (9, 48, 80)):
        clip = torch.randn(1, 3, frames, height, width)
        latent: dict = {}
        real = counted(
            lambda clip=clip, latent=latent: latent.update(
                z=vae.encode(clip, use_tiling=False).latent
            )
        )
        real += counted(lambda latent=latent: vae.decode(latent["z"], use_tiling=False))
        tally = layers.Tally()
        layers.seedvr2_vae(tally, vae_config, frames, height, width)
        report(f"VAE encode + decode of {frames}x{height}x{width}", tally.flops, real)

    def volumes(slices):
        return sorted(
            (a.stop - a.start) * (b.stop - b.start) * (c.stop - c.start) for a, b, c in slices
        )

    differ = 0
    for size in itertools.product(
        [1, 2, 3, 7, 21, 31, 45], [8, 23, 45, 68, 135], [10, 80, 120, 240]
    ):
        for upstream_windows, shifted in ((make_720Pwindows_bysize, False),
                                          (make_shifted_720Pwindows_bysize, True)):  # fmt: skip
            mine = sorted(layers.seedvr2_windows(*size, full["window"], shifted))
            differ += volumes(upstream_windows(size, tuple(full["window"]))) != mine
    print(f"window partitions differing from upstream's: {differ}")
    return 1 if failures or differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
