"""How long one request at a model's limits may take (ESTIMATE), against its container timeout.

Modal ends a call at the container's `timeout` whatever it is doing. The handler stops itself
earlier, at request_budget_s (the timeout less a margin for the encoder to finish and the
output to be saved), and reports an error; validate refuses a fleet whose request limits admit
a request that cannot finish inside that budget (`timeout-too-short`).

Estimated for video-upscale, the kind whose limits admit a request of hours; the image kinds
and Wan's bounded clips run in seconds to minutes. The worst request is the longest clip the
limits admit (max_input_frames), upscaled to the largest short side (max_resolution) at 16:9,
on the slowest GPU of the strategy's list:

    seconds = frames x output megapixels x SECONDS_PER_MEGAPIXEL_FRAME x 100 / relative_throughput

SECONDS_PER_MEGAPIXEL_FRAME is an ESTIMATE from one public measurement, not ours: an RTX 3070
(8 GB) upscaled 81 frames to 1080 px with the 3B fp16 model in 582 s (numz/ComfyUI-
SeedVR2_VideoUpscaler issue #148, batch 5, BlockSwap and 512 px VAE tiles): 3.47 s per output
megapixel-frame (at 16:9) on ~40.6 dense fp16 TFLOPS, i.e. 1.4 s on a GPU of relative
throughput 100 (gpus.yaml). That run swapped blocks over PCIe and tiled the VAE, so the figure
errs long: a timeout sized by it is generous. `bench` measures the real figure per GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import Catalog, Gpu, Model

MARGIN_MIN_S = 30
MARGIN_SHARE = 10  # the margin is a tenth of the timeout, at least MARGIN_MIN_S
MODAL_MAX_TIMEOUT_S = 24 * 3600  # Modal refuses a longer function timeout
SECONDS_PER_MEGAPIXEL_FRAME = 1.4  # ESTIMATE, on a GPU of relative_throughput 100 (above)
ASPECT = 16 / 9  # the worst request's frame shape: the widest common video aspect


def request_budget_s(timeout_s: int) -> int:
    """Seconds a request may work inside a container timeout of timeout_s."""
    return timeout_s - max(MARGIN_MIN_S, timeout_s // MARGIN_SHARE)


def timeout_for(seconds: float) -> int:
    """The smallest timeout (a whole minute) whose budget covers `seconds` of work."""
    timeout = math.ceil(seconds / 60) * 60
    while request_budget_s(timeout) < seconds:
        timeout += 60
    return timeout


@dataclass(frozen=True)
class RequestTime:
    """The estimated seconds of one request on one GPU, and the work it assumes."""

    seconds: float  # ESTIMATE
    frames: int
    resolution: int
    gpu: str
    seconds_per_frame: float

    def describe(self) -> str:
        return (
            f"{self.frames} frames at {self.resolution} px short side on {self.gpu}: "
            f"~{self.seconds:.0f} s ESTIMATE ({self.seconds_per_frame:.2f} s per frame)"
        )

    def frames_within(self, seconds: float) -> int:
        """The most frames that fit `seconds` at this resolution on this GPU."""
        return int(seconds // self.seconds_per_frame)


def slowest_gpu(catalog: Catalog, gpus: tuple[str, ...]) -> Gpu | None:
    """The GPU of a fallback list with the lowest relative throughput (a request may land on
    any of them); None when none is in the catalog or none states a throughput."""
    known = [found[0] for name in gpus if (found := catalog.resolve(name))]
    rated = [gpu for gpu in known if gpu.relative_throughput]
    return min(rated, key=lambda gpu: gpu.relative_throughput) if rated else None


def worst_request(model: Model, limits: dict[str, int], gpu: Gpu) -> RequestTime | None:
    """The longest request the limits admit on gpu (ESTIMATE); None for kinds not estimated."""
    if model.kind != "video-upscale" or not gpu.relative_throughput:
        return None
    frames = limits["max_input_frames"]
    resolution = limits["max_resolution"]
    megapixels = resolution * resolution * ASPECT / 1e6
    per_frame = megapixels * SECONDS_PER_MEGAPIXEL_FRAME * 100 / gpu.relative_throughput
    return RequestTime(frames * per_frame, frames, resolution, gpu.name, per_frame)
