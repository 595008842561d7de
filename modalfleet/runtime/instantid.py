"""InstantID: an identity-preserving SDXL portrait from a prompt and one face photo.

Our own pipeline (diffusers has none, and the community file no longer runs on 0.42):
1. insightface (antelopev2: SCRFD detector + ArcFace recogniser) finds the largest face and
   gives its 512-d identity embedding and five keypoints (eyes, nose, mouth corners).
2. The embedding goes through InstantID's Resampler (the adapter's "image_proj") into 16 identity
   tokens. diffusers' IP-Adapter loader reads InstantID's ip-adapter.bin as the IP-Adapter Plus
   layout it is, so the UNet's cross-attention attends to those tokens with the decoupled
   to_k_ip/to_v_ip weights, scaled by ip_adapter_scale.
3. IdentityNet, InstantID's ControlNet, is conditioned on the keypoints drawn as a colour stick
   figure and, unlike a plain ControlNet, cross-attends to the identity tokens instead of the
   text prompt. The SDXL ControlNet pipeline passes the prompt, so a forward pre-hook on the
   ControlNet swaps in the identity tokens for the duration of one call.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from typing import Any

from .encode import images_bytes
from .errors import InputError
from .lora import load_sdxl
from .sampling import generator, require_multiple

# InstantID's keypoint drawing: a limb from each keypoint to the nose, one colour per keypoint.
KEYPOINT_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)]
LIMBS = [(0, 2), (1, 2), (3, 2), (4, 2)]
DETECTOR_SIZE = (640, 640)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceFeatures:
    embedding: Any  # numpy float32 (512,)
    keypoints: Any  # numpy float32 (5, 2) in the source image's pixels
    image_size: tuple[int, int]  # (width, height) of the source image


def fit_keypoints(keypoints: Any, source: tuple[int, int], target: tuple[int, int]) -> Any:
    """Keypoints of a photo of size `source` placed on an output canvas of size `target` the way
    InstantID's demo places the photo: one scale for both axes (the photo fits inside the
    canvas), centred. Separate x and y factors would stretch a 3:4 face on a square canvas."""
    import numpy as np

    (source_width, source_height), (width, height) = source, target
    scale = min(width / source_width, height / source_height)
    offset = np.array([width - source_width * scale, height - source_height * scale]) / 2
    return np.asarray(keypoints, dtype=np.float64) * scale + offset


def draw_keypoints(keypoints: Any, width: int, height: int, stick_width: int = 4) -> Any:
    """The IdentityNet condition image: limbs (ellipses) to the nose, then a dot per keypoint."""
    import cv2
    import numpy as np
    from PIL import Image

    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    points = np.asarray(keypoints, dtype=np.float64)
    for start, end in LIMBS:
        xs, ys = points[[start, end], 0], points[[start, end], 1]
        length = math.hypot(xs[0] - xs[1], ys[0] - ys[1])
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        polygon = cv2.ellipse2Poly(
            (int(xs.mean()), int(ys.mean())), (int(length / 2), stick_width), int(angle), 0, 360, 1
        )
        cv2.fillConvexPoly(canvas, polygon, KEYPOINT_COLOURS[start])
    canvas = (canvas * 0.6).astype(np.uint8)
    for index, (x, y) in enumerate(points):
        cv2.circle(canvas, (int(x), int(y)), 10, KEYPOINT_COLOURS[index], -1)
    return Image.fromarray(canvas)


def _pipeline_class():
    """Defined on first use so that importing this module needs no diffusers."""
    from diffusers import StableDiffusionXLControlNetPipeline

    class InstantIDPipeline(StableDiffusionXLControlNetPipeline):
        """SDXL + IdentityNet ControlNet + identity IP-adapter, driven by a face embedding."""

        def load_identity_adapter(self, folder: str, weight_name: str = "ip-adapter.bin") -> None:
            # image_encoder_folder=None: InstantID feeds ArcFace embeddings, not CLIP images.
            self.load_ip_adapter(
                folder, subfolder="", weight_name=weight_name, image_encoder_folder=None
            )

        def identity_tokens(self, image_embeds: Any) -> Any:
            """[batch, 1, 1, 512] embeddings -> [batch, 16, cross_attention_dim] tokens."""
            projection = self.unet.encoder_hid_proj.image_projection_layers[0]
            return projection(image_embeds.flatten(0, 1))

        def __call__(self, *args: Any, face_embedding: Any, **kwargs: Any) -> Any:
            import torch

            embedding = torch.as_tensor(face_embedding, dtype=self.unet.dtype)
            embedding = embedding.reshape(1, 1, 1, -1).to(self.unet.device)
            # The unconditional half of classifier-free guidance sees a zero identity, as in
            # InstantID; with guidance <= 1 the pipeline runs the conditional half only.
            cfg = kwargs.get("guidance_scale", 5.0) > 1.0
            image_embeds = torch.cat([torch.zeros_like(embedding), embedding]) if cfg else embedding
            with torch.no_grad():
                tokens = self.identity_tokens(image_embeds)

            def identity_context(module: Any, args: Any, call_kwargs: dict[str, Any]) -> Any:
                hidden = call_kwargs["encoder_hidden_states"]
                # Guess mode runs the ControlNet on the conditional half only.
                context = tokens if tokens.shape[0] == hidden.shape[0] else tokens[-1:]
                context = context.repeat_interleave(hidden.shape[0] // context.shape[0], dim=0)
                call_kwargs["encoder_hidden_states"] = context.to(hidden.dtype)
                return args, call_kwargs

            hook = self.controlnet.register_forward_pre_hook(identity_context, with_kwargs=True)
            try:
                return super().__call__(*args, ip_adapter_image_embeds=[image_embeds], **kwargs)
            finally:
                hook.remove()

    return InstantIDPipeline


@dataclass
class Handle:
    pipe: Any
    faces: Any  # insightface FaceAnalysis
    device: str
    faces_folder: str = ""


def face_analysis(folder: str, device: str) -> Any:
    """insightface FaceAnalysis over an antelopev2 folder; only detection and recognition.

    On a GPU the ONNX sessions must get CUDA: onnxruntime silently falls back to the CPU when
    its CUDA libraries are missing (or when the CPU `onnxruntime` shadows `onnxruntime-gpu`),
    and face analysis then takes seconds a request. That is a broken image, so it fails here.
    """
    from insightface.app import FaceAnalysis

    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    faces = FaceAnalysis(
        name=folder, allowed_modules=["detection", "recognition"], providers=providers
    )
    faces.prepare(ctx_id=0 if device == "cuda" else -1, det_size=DETECTOR_SIZE)
    got = {name: model.session.get_providers()[0] for name, model in sorted(faces.models.items())}
    log.info("face analysis execution providers: %s", got)
    missing = sorted(name for name, provider in got.items() if provider != providers[0])
    if missing:
        raise RuntimeError(
            f"face analysis ({', '.join(missing)}) runs on {got[missing[0]]}, not {providers[0]}: "
            "the image's onnxruntime-gpu cannot reach CUDA (or the CPU onnxruntime shadows it)"
        )
    return faces


def load(model: dict[str, Any], paths: dict[str, str], device: str, dtype: Any) -> Handle:
    from pathlib import Path

    from diffusers import ControlNetModel

    identitynet = ControlNetModel.from_pretrained(
        Path(paths["instantid"]) / "ControlNetModel", dtype=dtype
    )
    pipe = load_sdxl(model, paths, dtype, _pipeline_class(), controlnet=identitynet)
    pipe.to(device)
    # After .to(): the adapter's projection is created on the UNet's device and dtype.
    pipe.load_identity_adapter(paths["instantid"])
    pipe.set_progress_bar_config(disable=True)
    folder = paths["face-analysis"]
    return Handle(pipe, face_analysis(folder, device), device, folder)


def to_device(handle: Handle, device: str) -> Handle:
    """The pipeline loaded on the CPU (memory snapshot) moved onto the GPU; face analysis gets
    new ONNX sessions there (a CUDA session cannot be created before the GPU is attached)."""
    handle.pipe.to(device)
    if device != handle.device:
        handle.faces = face_analysis(handle.faces_folder, device)
    handle.device = device
    return handle


def warm_up(handle: Handle) -> None:
    """Nothing: a warm-up request needs a face photo, and the first real one serves as it."""


def analyse_face(faces: Any, face_image: bytes) -> FaceFeatures:
    """The largest face's embedding and keypoints; InputError when unreadable or faceless."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(face_image)).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"face_image is not a readable image: {error}") from None
    bgr = np.asarray(image)[:, :, ::-1].copy()  # insightface expects OpenCV's BGR order
    found = faces.get(bgr)
    if not found:
        raise InputError("no face found in face_image; send a photo with one clearly visible face")
    face = max(found, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    return FaceFeatures(
        embedding=np.asarray(face.embedding, dtype=np.float32),
        keypoints=np.asarray(face.kps, dtype=np.float32),
        image_size=image.size,
    )


def generate(
    handle: Handle,
    *,
    prompt: str,
    face_image: bytes,
    seed: int,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    ip_adapter_scale: float,
    controlnet_conditioning_scale: float,
    negative_prompt: str = "",
    format: str = "png",
    quality: int = 90,
    num_images: int = 1,
) -> bytes:
    require_multiple(width, height, handle.pipe.vae_scale_factor)
    face = analyse_face(handle.faces, face_image)
    keypoints = fit_keypoints(face.keypoints, face.image_size, (width, height))
    handle.pipe.set_ip_adapter_scale(float(ip_adapter_scale))
    result = handle.pipe(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        image=draw_keypoints(keypoints, width, height),
        face_embedding=face.embedding,
        controlnet_conditioning_scale=float(controlnet_conditioning_scale),
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator(seed),
        num_images_per_prompt=int(num_images),
    )
    return images_bytes(result.images, format, quality)
