"""Builders for tiny random versions of the real model components, saved the way the hub ships them.

Every builder writes a folder (or file) laid out exactly like the artefact the runtime downloads
for real, so the runtime's own loading code runs unchanged on it. Sizes are chosen so that a
whole pipeline builds, loads and runs two steps at 32x32 in well under a second on a CPU.
Nothing here touches the network: tokenizers are built from an in-memory vocabulary.
The runtime tests build their weights here, and so does `bench --local --tiny` (for_bench).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

SEED = 0
FACE_EMBEDDING_DIM = 512  # antelopev2's ArcFace (glintr100) embedding size
IP_TOKENS = 16  # InstantID's Resampler emits 16 identity tokens
RESAMPLER_DEPTH = 4


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP byte-level alphabet: one printable character per byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def clip_tokenizer():
    """A byte-level CLIP tokenizer with no merges (514 ids), padded to 77 like the real one."""
    from transformers import CLIPTokenizer

    alphabet = _bytes_to_unicode()
    pieces = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer():
    """A unigram T5/UMT5 tokenizer over single characters (pipelines pad to model_max_length)."""
    from transformers import T5Tokenizer

    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in letters] + [("▁" + c, -2.5) for c in letters]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def _clip_text_config():
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=32,
        max_position_embeddings=77,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        hidden_act="gelu",
    )


def _t5_config():
    from transformers import T5Config

    return T5Config(
        vocab_size=1000,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
    )


def build_flux(dest: Path, *, dev: bool) -> Path:
    """FLUX.1 pipeline folder; dev=True adds guidance embedding and the dynamic-shift scheduler."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel, T5EncoderModel

    torch.manual_seed(SEED)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=dev,
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    scheduler = (
        FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0)
        if dev
        else FlowMatchEulerDiscreteScheduler(shift=1.0)
    )
    pipe = FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=CLIPTextModel(_clip_text_config()).eval(),
        tokenizer=clip_tokenizer(),
        text_encoder_2=T5EncoderModel(_t5_config()).eval(),
        tokenizer_2=t5_tokenizer(),
        transformer=transformer,
    )
    pipe.save_pretrained(dest)
    return dest


def _sdxl_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
        cross_attention_dim=64,  # 32 (CLIP-L) + 32 (CLIP-G) hidden states side by side
    )


def _sdxl_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=128,
    )


def build_sdxl(dest: Path) -> Path:
    """SDXL base pipeline folder (two CLIP text encoders, UNet, VAE, Euler scheduler)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_sdxl_vae(),
        text_encoder=CLIPTextModel(_clip_text_config()).eval(),
        text_encoder_2=CLIPTextModelWithProjection(_clip_text_config()).eval(),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(),
        unet=_sdxl_unet(),
        scheduler=scheduler,
    )
    # Saved as the fp16 variant (unet/diffusion_pytorch_model.fp16.safetensors, ...): the files the
    # fleet declares for SDXL base, so the runtime's variant="fp16" loading path is the one tested.
    pipe.save_pretrained(dest, variant="fp16")
    return dest


def build_sdxl_vae(dest: Path) -> Path:
    """A standalone SDXL VAE folder, as madebyollin/sdxl-vae-fp16-fix ships it (config + weights)."""
    torch.manual_seed(SEED + 1)
    _sdxl_vae().save_pretrained(dest)
    return dest


def build_sdxl_lora(sdxl_dir: Path, dest: Path, weight_name: str) -> Path:
    """A LoRA safetensors file for the UNet at sdxl_dir, with non-zero B so it has an effect."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(SEED + 2)
    unet = UNet2DConditionModel.from_pretrained(sdxl_dir, subfolder="unet", variant="fp16")
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            init_lora_weights=False,  # the default zeroes B, which would make the LoRA a no-op
            target_modules=["to_k", "to_q", "to_v", "to_out.0"],
        )
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    dest.mkdir(parents=True, exist_ok=True)
    StableDiffusionXLPipeline.save_lora_weights(
        dest, unet_lora_layers=layers, weight_name=weight_name
    )
    return dest / weight_name


def _resampler_state_dict(embed_dim: int, output_dim: int, hidden: int) -> dict[str, torch.Tensor]:
    """InstantID's Resampler weights in the original (IP-Adapter Plus) key layout.

    The real one is dim 1280, depth 4, 20 heads of 64. Loaders infer heads as to_q rows // 64
    and diffusers builds depth 4, so this keeps depth 4 and shrinks the width to 64 (one head).
    """

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape) * 0.05

    ff = hidden * 4
    state = {
        "latents": torch.randn(1, IP_TOKENS, hidden) / hidden**0.5,
        "proj_in.weight": rand(hidden, embed_dim),
        "proj_in.bias": torch.zeros(hidden),
        "proj_out.weight": rand(output_dim, hidden),
        "proj_out.bias": torch.zeros(output_dim),
        "norm_out.weight": torch.ones(output_dim),
        "norm_out.bias": torch.zeros(output_dim),
    }
    for layer in range(RESAMPLER_DEPTH):
        prefix = f"layers.{layer}"
        state |= {
            f"{prefix}.0.norm1.weight": torch.ones(hidden),
            f"{prefix}.0.norm1.bias": torch.zeros(hidden),
            f"{prefix}.0.norm2.weight": torch.ones(hidden),
            f"{prefix}.0.norm2.bias": torch.zeros(hidden),
            f"{prefix}.0.to_q.weight": rand(hidden, hidden),
            f"{prefix}.0.to_kv.weight": rand(2 * hidden, hidden),
            f"{prefix}.0.to_out.weight": rand(hidden, hidden),
            f"{prefix}.1.0.weight": torch.ones(hidden),
            f"{prefix}.1.0.bias": torch.zeros(hidden),
            f"{prefix}.1.1.weight": rand(ff, hidden),
            f"{prefix}.1.3.weight": rand(hidden, ff),
        }
    return state


def build_instantid(sdxl_dir: Path, dest: Path) -> Path:
    """InstantX/InstantID layout: ControlNetModel/ (IdentityNet) and ip-adapter.bin.

    ip-adapter.bin holds {"image_proj": Resampler, "ip_adapter": to_k_ip/to_v_ip per cross-attention
    layer}, numbered 1, 3, 5, ... over the UNet's attention processors as InstantID saves them.
    """
    from diffusers import ControlNetModel, UNet2DConditionModel

    torch.manual_seed(SEED + 3)
    unet = UNet2DConditionModel.from_pretrained(sdxl_dir, subfolder="unet", variant="fp16")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))
    # from_unet copies the UNet; perturb it so the IdentityNet residuals are not a UNet echo.
    with torch.no_grad():
        for parameter in controlnet.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    controlnet.save_pretrained(dest / "ControlNetModel")

    cross_dim = unet.config.cross_attention_dim
    ip_layers: dict[str, torch.Tensor] = {}
    index = -1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        index += 2
        if name.startswith("mid_block"):
            hidden_size = unet.config.block_out_channels[-1]
        elif name.startswith("up_blocks"):
            hidden_size = list(reversed(unet.config.block_out_channels))[int(name[10])]
        else:
            hidden_size = unet.config.block_out_channels[int(name[12])]
        ip_layers[f"{index}.to_k_ip.weight"] = torch.randn(hidden_size, cross_dim) * 0.05
        ip_layers[f"{index}.to_v_ip.weight"] = torch.randn(hidden_size, cross_dim) * 0.05
    state = {
        "image_proj": _resampler_state_dict(FACE_EMBEDDING_DIM, cross_dim, hidden=64),
        "ip_adapter": ip_layers,
    }
    torch.save(state, dest / "ip-adapter.bin")
    return dest


# --- insightface antelopev2 stand-in -------------------------------------------------------------

DETECTOR_SIZE = 640
FACE_ANCHOR_STRIDE = 32
FACE_ANCHOR_CELL = (10, 10)  # grid (row, col) at stride 32: centre (320, 320) of the 640 input
FACE_BOX_HALF = 4.0  # box half-size in stride units: (192, 192) - (448, 448) in detector pixels


def build_face_pack(dest: Path) -> Path:
    """A folder of two ONNX models that insightface routes as SCRFD detector + ArcFace recogniser.

    The detector reports one face (a fixed box and five keypoints at the centre) when the image is
    bright on average, and nothing when it is dark: its scores are a fixed one-hot anchor map
    multiplied by clip(4 * mean(normalised input), 0, 1). That is enough for the runtime to see
    both "face" and "no face" from the real FaceAnalysis code. The recogniser is
    GlobalAveragePool -> Flatten -> MatMul[3, 512], so the embedding follows the face crop's colour.
    """
    from onnx import TensorProto, helper, numpy_helper

    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    nodes = [
        helper.make_node("ReduceMean", ["input.1"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "gain"], ["scaled"]),
        helper.make_node("Clip", ["scaled", "zero", "one"], ["presence"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(4.0, dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
    ]
    outputs = []
    strides = (8, 16, 32)
    scores, boxes, keypoints = [], [], []
    for stride in strides:
        cells = (DETECTOR_SIZE // stride) ** 2 * 2  # two anchors per cell
        score = np.zeros((cells, 1), dtype=np.float32)
        box = np.full((cells, 4), 1.0, dtype=np.float32)
        kps = np.zeros((cells, 10), dtype=np.float32)
        if stride == FACE_ANCHOR_STRIDE:
            row, col = FACE_ANCHOR_CELL
            anchor = (row * (DETECTOR_SIZE // stride) + col) * 2
            score[anchor] = 0.95
            box[anchor] = FACE_BOX_HALF
            # left eye, right eye, nose, left and right mouth corner (stride units from centre)
            kps[anchor] = [-1.5, -1.0, 1.5, -1.0, 0.0, 0.4, -1.2, 1.8, 1.2, 1.8]
        scores.append(score)
        boxes.append(box)
        keypoints.append(kps)
    for group, arrays in (("score", scores), ("bbox", boxes), ("kps", keypoints)):
        for stride, array in zip(strides, arrays, strict=True):
            name = f"{group}_{stride}"
            initializers.append(numpy_helper.from_array(array, f"{name}_const"))
            if group == "score":
                nodes.append(helper.make_node("Mul", [f"{name}_const", "presence"], [name]))
            else:
                nodes.append(helper.make_node("Identity", [f"{name}_const"], [name]))
            outputs.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, list(array.shape))
            )
    detector = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 640, 640])],
        outputs,
        initializers,
    )
    _save_onnx(helper.make_model(detector), dest / "scrfd_10g_bnkps.onnx")

    projection = rng.standard_normal((3, FACE_EMBEDDING_DIM)).astype(np.float32)
    recogniser = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "projection"], ["embedding"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, FACE_EMBEDDING_DIM])],
        [numpy_helper.from_array(projection, "projection")],
    )
    _save_onnx(helper.make_model(recogniser), dest / "glintr100.onnx")
    return dest


def _save_onnx(model, path: Path) -> None:
    import onnx
    from onnx import helper

    model.opset_import[0].CopyFrom(helper.make_opsetid("", 17))
    model.ir_version = 8  # onnxruntime 1.32 reads IR <= 11; 8 pairs with opset 17
    onnx.checker.check_model(model)
    onnx.save(model, path)


def face_image(size: int | tuple[int, int] = 256) -> bytes:
    """A bright portrait-ish PNG (light background, a skin-toned oval): the tiny detector's face.

    size is the side of a square photo, or (width, height)."""
    from PIL import Image, ImageDraw

    width, height = (size, size) if isinstance(size, int) else size
    image = Image.new("RGB", (width, height), (235, 225, 215))
    draw = ImageDraw.Draw(image)
    draw.ellipse([width * 0.3, height * 0.2, width * 0.7, height * 0.8], fill=(224, 172, 140))
    return _png(image)


def dark_image(size: int = 256) -> bytes:
    """A near-black PNG: the tiny detector finds no face in it."""
    from PIL import Image

    return _png(Image.new("RGB", (size, size), (12, 10, 14)))


def _png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- Wan2.1 ---------------------------------------------------------------------------------------


def build_wan(dest: Path) -> Path:
    """Wan2.1 text-to-video pipeline folder (UMT5 encoder, 3D transformer, Wan VAE, UniPC)."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    encoder = UMT5EncoderModel(UMT5Config(**_t5_config().to_dict())).eval()
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    pipe = WanPipeline(
        tokenizer=t5_tokenizer(),
        text_encoder=encoder,
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
    )
    pipe.save_pretrained(dest)
    return dest


def model_index(pipeline_dir: Path) -> dict:
    return json.loads((pipeline_dir / "model_index.json").read_text())


# --- bench --local --tiny --------------------------------------------------------------------

# Request parameters small enough for the tiny weights: a 32x32 image or 9 frames, 2 steps.
TINY_REQUESTS: dict[str, dict] = {
    "text-to-image": {"width": 32, "height": 32, "steps": 2, "max_sequence_length": 16},
    "text-to-video": {"width": 32, "height": 32, "num_frames": 9, "fps": 8, "steps": 2},
}


def for_bench(kind: str, repos: list[str], dest: Path) -> dict:
    """Tiny random weights for a model of `kind` under dest/<artefact key> (the layout
    MODALFLEET_WEIGHTS_DIR points the runtime at); returns the request parameters they suit.
    ValueError for a kind that has no tiny builder here."""
    if kind == "text-to-image":
        build_flux(dest / "pipeline", dev=any("dev" in repo.lower() for repo in repos))
    elif kind == "text-to-video":
        build_wan(dest / "pipeline")
    else:
        raise ValueError(
            f"--tiny builds weights for {', '.join(TINY_REQUESTS)} models only, not {kind}; "
            "point MODALFLEET_WEIGHTS_DIR at your own weights instead"
        )
    return dict(TINY_REQUESTS[kind])
