"""Closed forms of the shipped architectures: one walk per network, counting FLOPs and parameters.

Each walk visits a network's layers in the order diffusers/transformers build them, with the
number of positions (tokens or pixels) each layer sees, and records them in a `Tally`:

- a linear layer over n positions: 2 x n x in x out FLOPs (a multiply-add counts 2, the
  convention of torch.utils.flop_counter.FlopCounterMode, which counts matmuls and convolutions
  only: biases, norms, activations and softmax are left out here as there);
- a convolution: 2 x output positions x in x out x kernel volume;
- attention of q queries over k keys of width d (all heads together): 4 x q x k x d (Q K^T and
  the product with V);
- parameters: every weight, bias, norm scale and embedding table, so the same walk gives what
  the weights occupy (tests/test_flops.py compares both with the real models on the meta device).

The walk for parameters passes zero positions; nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Tally:
    flops: float = 0.0
    params: int = 0

    def linear(self, n: float, fin: int, fout: int, bias: bool = True) -> None:
        self.flops += 2.0 * n * fin * fout
        self.params += fin * fout + (fout if bias else 0)

    def conv(self, n: float, cin: int, cout: int, kernel: int, bias: bool = True) -> None:
        """`kernel` is the kernel's volume (9 for 3x3, 12 for 3x2x2)."""
        self.flops += 2.0 * n * cin * cout * kernel
        self.params += cin * cout * kernel + (cout if bias else 0)

    def attention(self, q: float, k: float, width: int) -> None:
        self.flops += 4.0 * q * k * width

    def weights(self, count: int) -> None:
        """Parameters that do no matmul: norm scales and shifts, embedding tables."""
        self.params += count


Config = dict[str, Any]


# -- FLUX.1 (diffusers FluxTransformer2DModel) ---------------------------------------------------


def flux_transformer(t: Tally, c: Config, image_tokens: float, text_tokens: float) -> None:
    """One forward: double-stream blocks (image and text each with their own weights, one joint
    attention over both), then single-stream blocks over the concatenated sequence."""
    heads, head_dim = c["num_attention_heads"], c["attention_head_dim"]
    dim = heads * head_dim
    mlp = 4 * dim  # diffusers fixes mlp_ratio at 4
    n_img, n_txt = image_tokens, text_tokens
    n_all = n_img + n_txt
    patch = c.get("patch_size", 1)
    out_channels = c.get("out_channels") or c["in_channels"]
    # time (and guidance) embeddings: sinusoid 256 -> dim -> dim, on one position per pass
    for _ in range(2 if c.get("guidance_embeds") else 1):
        t.linear(1, 256, dim)
        t.linear(1, dim, dim)
    t.linear(1, c["pooled_projection_dim"], dim)  # pooled CLIP text
    t.linear(1, dim, dim)
    t.linear(n_txt, c["joint_attention_dim"], dim)  # context_embedder
    t.linear(n_img, c["in_channels"], dim)  # x_embedder
    for _ in range(c["num_layers"]):
        for n in (n_img, n_txt):
            t.linear(1, dim, 6 * dim)  # AdaLayerNormZero modulation
            for _ in range(3):  # q, k, v (add_*_proj for the text stream)
                t.linear(n, dim, dim)
            t.weights(2 * head_dim)  # RMSNorm on q and k
            t.linear(n, dim, dim)  # to_out / to_add_out
            t.linear(n, dim, mlp)  # feed-forward
            t.linear(n, mlp, dim)
        t.attention(n_all, n_all, dim)
    for _ in range(c["num_single_layers"]):
        t.linear(1, dim, 3 * dim)  # AdaLayerNormZeroSingle
        for _ in range(3):
            t.linear(n_all, dim, dim)
        t.weights(2 * head_dim)
        t.linear(n_all, dim, mlp)  # proj_mlp, in parallel with attention
        t.attention(n_all, n_all, dim)
        t.linear(n_all, dim + mlp, dim)  # proj_out of [attention, mlp]
    t.linear(1, dim, 2 * dim)  # norm_out (AdaLayerNormContinuous)
    t.linear(n_img, dim, patch * patch * out_channels)


# -- Text encoders (transformers T5EncoderModel / UMT5EncoderModel, CLIPTextModel) ---------------


def t5_encoder(t: Tally, c: Config, tokens: float, per_layer_bias: bool = False) -> None:
    """T5 (and UMT5, which gives every layer its own relative position bias) encoder."""
    d, inner, ff = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"]
    t.weights(c["vocab_size"] * d)  # shared token embedding
    gated = str(c.get("feed_forward_proj", "relu")).startswith("gated")
    for layer in range(c["num_layers"]):
        if layer == 0 or per_layer_bias:
            t.weights(c.get("relative_attention_num_buckets", 32) * c["num_heads"])
        t.weights(2 * d)  # the two layer norms (scale only)
        for _ in range(4):  # q, k, v, o: no biases in T5
            t.linear(tokens, d if _ < 3 else inner, inner if _ < 3 else d, bias=False)
        t.attention(tokens, tokens, inner)
        for _ in range(2 if gated else 1):
            t.linear(tokens, d, ff, bias=False)
        t.linear(tokens, ff, d, bias=False)
    t.weights(d)  # final layer norm


def clip_text(t: Tally, c: Config, tokens: float, projection: bool = False) -> None:
    """CLIPTextModel (and CLIPTextModelWithProjection: the pooled token through text_projection)."""
    d, ff = c["hidden_size"], c["intermediate_size"]
    t.weights(c["vocab_size"] * d + c["max_position_embeddings"] * d)
    for _ in range(c["num_hidden_layers"]):
        t.weights(4 * d)  # two layer norms, scale and shift
        for _ in range(4):
            t.linear(tokens, d, d)
        t.attention(tokens, tokens, d)
        t.linear(tokens, d, ff)
        t.linear(tokens, ff, d)
    t.weights(2 * d)  # final layer norm
    if projection:
        t.linear(1, d, c["projection_dim"], bias=False)


# -- Convolutional pieces shared by the VAEs and the UNet ---------------------------------------


def resnet(t: Tally, n: float, cin: int, cout: int, temb: int = 0) -> None:
    """diffusers ResnetBlock2D: GroupNorm, 3x3 conv, (time projection), GroupNorm, 3x3 conv,
    and a 1x1 shortcut when the channels change."""
    t.weights(2 * cin)
    t.conv(n, cin, cout, 9)
    if temb:
        t.linear(1, temb, cout)
    t.weights(2 * cout)
    t.conv(n, cout, cout, 9)
    if cin != cout:
        t.conv(n, cin, cout, 1)


def vae_attention(t: Tally, n: float, c: int) -> None:
    """The VAE mid-block's single-head self-attention over every latent pixel."""
    t.weights(2 * c)  # group norm
    for _ in range(4):
        t.linear(n, c, c)
    t.attention(n, n, c)


def vae_decoder(t: Tally, c: Config, height: int, width: int) -> None:
    """AutoencoderKL.decode of one image (latents at /2^(blocks-1))."""
    channels = c["block_out_channels"]
    latent = c["latent_channels"]
    factor = 2 ** (len(channels) - 1)
    n = (height // factor) * (width // factor)
    if c.get("use_post_quant_conv", True):
        t.conv(n, latent, latent, 1)
    top = channels[-1]
    t.conv(n, latent, top, 9)  # conv_in
    resnet(t, n, top, top)
    vae_attention(t, n, top)
    resnet(t, n, top, top)
    previous = top
    for i, out in enumerate(reversed(channels)):
        for j in range(c["layers_per_block"] + 1):
            resnet(t, n, previous if j == 0 else out, out)
        previous = out
        if i < len(channels) - 1:
            n *= 4  # nearest upsample x2, then a 3x3 conv
            t.conv(n, out, out, 9)
    t.weights(2 * channels[0])
    t.conv(n, channels[0], c["out_channels"], 9)


def vae_encoder_params(t: Tally, c: Config) -> None:
    """The encoder's weights (a text-to-image request never runs it; its memory still counts)."""
    channels = c["block_out_channels"]
    latent = c["latent_channels"]
    t.conv(0, c["in_channels"], channels[0], 9)
    previous = channels[0]
    for i, out in enumerate(channels):
        for j in range(c["layers_per_block"]):
            resnet(t, 0, previous if j == 0 else out, out)
        previous = out
        if i < len(channels) - 1:
            t.conv(0, out, out, 9)  # stride-2 downsample
    top = channels[-1]
    resnet(t, 0, top, top)
    vae_attention(t, 0, top)
    resnet(t, 0, top, top)
    t.weights(2 * top)
    t.conv(0, top, 2 * latent, 9)
    if c.get("use_quant_conv", True):
        t.conv(0, 2 * latent, 2 * latent, 1)


# -- SDXL UNet and its ControlNet (diffusers UNet2DConditionModel, ControlNetModel) -------------


def _per_level(value: Any, levels: int) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value] * levels


def unet_transformer(
    t: Tally, n: float, channels: int, depth: int, cross_dim: int, text: float, ip: float = 0
) -> None:
    """Transformer2DModel with linear projections: GroupNorm, proj_in, `depth` blocks of self
    attention, cross attention to `text` tokens (and an IP-adapter's `ip` tokens through its own
    key/value weights, not counted as this model's parameters) and a GEGLU feed-forward, proj_out."""
    d = channels
    t.weights(2 * d)
    t.linear(n, d, d)
    for _ in range(depth):
        t.weights(2 * d)
        for _ in range(3):
            t.linear(n, d, d, bias=False)
        t.attention(n, n, d)
        t.linear(n, d, d)
        t.weights(2 * d)
        t.linear(n, d, d, bias=False)
        t.linear(text, cross_dim, d, bias=False)
        t.linear(text, cross_dim, d, bias=False)
        t.attention(n, text, d)
        if ip:
            extra = Tally()
            extra.linear(ip, cross_dim, d, bias=False)
            extra.linear(ip, cross_dim, d, bias=False)
            extra.attention(n, ip, d)
            t.flops += extra.flops
        t.linear(n, d, d)
        t.weights(2 * d)
        t.linear(n, d, 8 * d)  # GEGLU: two halves of 4d
        t.linear(n, 4 * d, d)
    t.linear(n, d, d)


def _unet_embeddings(t: Tally, c: Config) -> int:
    first = c["block_out_channels"][0]
    temb = 4 * first
    t.linear(1, first, temb)
    t.linear(1, temb, temb)
    if c.get("addition_embed_type") == "text_time":
        t.linear(1, c["projection_class_embeddings_input_dim"], temb)
        t.linear(1, temb, temb)
    return temb


def _unet_down(
    t: Tally, c: Config, h: int, w: int, text: float, ip: float, controlnet: bool
) -> tuple[list[int], int, int]:
    """conv_in, the down blocks and the mid block; the skip channels (for the up blocks) and the
    lowest resolution. With `controlnet`, every skip and the mid output get their 1x1 zero conv."""
    channels = c["block_out_channels"]
    levels = len(channels)
    depth = _per_level(c.get("transformer_layers_per_block", 1), levels)
    cross = c["cross_attention_dim"]
    temb = _unet_embeddings(t, c)
    sizes = _skip_sizes(c, h, w)
    t.conv(h * w, c["in_channels"], channels[0], 9)
    skips = [channels[0]]
    previous = channels[0]
    for i, block in enumerate(c["down_block_types"]):
        out = channels[i]
        for j in range(c["layers_per_block"]):
            resnet(t, h * w, previous if j == 0 else out, out, temb)
            if block.startswith("CrossAttn"):
                unet_transformer(t, h * w, out, depth[i], cross, text, ip)
            skips.append(out)
        previous = out
        if i < levels - 1:
            h, w = (h + 1) // 2, (w + 1) // 2
            t.conv(h * w, out, out, 9)
            skips.append(out)
    top = channels[-1]
    resnet(t, h * w, top, top, temb)
    unet_transformer(t, h * w, top, depth[-1], cross, text, ip)
    resnet(t, h * w, top, top, temb)
    if controlnet:
        for ch, n in zip(skips, sizes, strict=True):
            t.conv(n, ch, ch, 1)
        t.conv(h * w, top, top, 1)
    return skips, h, w


def _skip_sizes(c: Config, h: int, w: int) -> list[int]:
    """Positions of each skip connection, in the order the down blocks produce them."""
    sizes = [h * w]
    levels = len(c["block_out_channels"])
    for i in range(levels):
        sizes += [h * w] * c["layers_per_block"]
        if i < levels - 1:
            h, w = (h + 1) // 2, (w + 1) // 2
            sizes.append(h * w)
    return sizes


def unet(t: Tally, c: Config, height: int, width: int, text: float, ip: float = 0) -> None:
    """One UNet2DConditionModel forward on one latent of height x width pixels (/8)."""
    h, w = height // 8, width // 8
    skips, h, w = _unet_down(t, c, h, w, text, ip, controlnet=False)
    channels = list(reversed(c["block_out_channels"]))
    depth = list(reversed(_per_level(c.get("transformer_layers_per_block", 1), len(channels))))
    cross = c["cross_attention_dim"]
    temb = 4 * c["block_out_channels"][0]
    previous = channels[0]
    for i, block in enumerate(c["up_block_types"]):
        out = channels[i]
        for j in range(c["layers_per_block"] + 1):
            skip = skips.pop()
            resnet(t, h * w, (previous if j == 0 else out) + skip, out, temb)
            if block.startswith("CrossAttn"):
                unet_transformer(t, h * w, out, depth[i], cross, text, ip)
        previous = out
        if i < len(channels) - 1:
            h, w = 2 * h, 2 * w
            t.conv(h * w, out, out, 9)
    t.weights(2 * channels[-1])
    t.conv(h * w, channels[-1], c.get("out_channels", 4), 9)


def controlnet(t: Tally, c: Config, height: int, width: int, text: float) -> None:
    """One ControlNetModel forward: the conditioning image's small conv encoder at full
    resolution, then the UNet's encoder half and mid block, each output through a zero conv."""
    h, w = height // 8, width // 8
    cond = list(c.get("conditioning_embedding_out_channels", (16, 32, 96, 256)))
    ch, cw = height, width
    t.conv(ch * cw, c.get("conditioning_channels", 3), cond[0], 9)
    for a, b in zip(cond, cond[1:], strict=False):
        t.conv(ch * cw, a, a, 9)
        ch, cw = (ch + 1) // 2, (cw + 1) // 2
        t.conv(ch * cw, a, b, 9)
    t.conv(ch * cw, cond[-1], c["block_out_channels"][0], 9)
    _unet_down(t, c, h, w, text, 0, controlnet=True)


# -- Wan2.1 (diffusers WanTransformer3DModel, AutoencoderKLWan) ---------------------------------


def wan_transformer(t: Tally, c: Config, video_tokens: float, text_tokens: float) -> None:
    """One forward: self attention over every video token, cross attention to the text."""
    dim = c["num_attention_heads"] * c["attention_head_dim"]
    patch = c.get("patch_size", (1, 2, 2))
    volume = patch[0] * patch[1] * patch[2]
    n, text = video_tokens, text_tokens
    t.conv(n, c["in_channels"], dim, volume)  # patch embedding
    t.linear(1, c.get("freq_dim", 256), dim)  # time embedding
    t.linear(1, dim, dim)
    t.linear(1, dim, 6 * dim)  # time_proj: the blocks' modulation
    t.linear(text, c["text_dim"], dim)  # text embedder
    t.linear(text, dim, dim)
    for _ in range(c["num_layers"]):
        for _ in range(4):  # self attention q k v o
            t.linear(n, dim, dim)
        t.weights(2 * dim)  # RMSNorm over q and k, across heads
        t.attention(n, n, dim)
        if c.get("cross_attn_norm", True):
            t.weights(2 * dim)
        t.linear(n, dim, dim)  # cross attention: q and o on the video, k v on the text
        t.linear(text, dim, dim)
        t.linear(text, dim, dim)
        t.linear(n, dim, dim)
        t.weights(2 * dim)
        t.attention(n, text, dim)
        t.linear(n, dim, c["ffn_dim"])
        t.linear(n, c["ffn_dim"], dim)
        t.weights(6 * dim)  # scale_shift_table
    t.weights(2 * dim)
    t.linear(n, dim, (c.get("out_channels") or c["in_channels"]) * volume)


def _wan_resnet(t: Tally, n: float, cin: int, cout: int) -> None:
    """Wan VAE residual block: RMS norm, causal 3x3x3 conv, RMS norm, causal conv, shortcut."""
    t.weights(cin)
    t.conv(n, cin, cout, 27)
    t.weights(cout)
    t.conv(n, cout, cout, 27)
    if cin != cout:
        t.conv(n, cin, cout, 1)


def _wan_attention(t: Tally, frames: float, pixels: float, c: int) -> None:
    """Single-head attention within each frame, 1x1 convs for qkv and the projection."""
    t.weights(c)
    t.conv(frames * pixels, c, 3 * c, 1)
    t.attention(frames * pixels, pixels, c)
    t.conv(frames * pixels, c, c, 1)


def wan_vae_decoder(t: Tally, c: Config, latent_frames: int, height: int, width: int) -> None:
    """AutoencoderKLWan.decode: diffusers decodes one latent frame at a time with causal caches,
    so every causal 3x3x3 conv sees each output frame once; the first latent frame skips the
    temporal upsampling (1 frame), each later one becomes 4 frames."""
    dim, z = c["base_dim"], c["z_dim"]
    mult = c["dim_mult"]
    up_time = list(reversed(c["temperal_downsample"]))
    dims = [dim * m for m in [mult[-1], *mult[::-1]]]
    frames, h, w = latent_frames, height // 8, width // 8
    t.conv(frames * h * w, z, z, 1)  # post_quant_conv
    t.conv(frames * h * w, z, dims[0], 27)
    _wan_resnet(t, frames * h * w, dims[0], dims[0])
    _wan_attention(t, frames, h * w, dims[0])
    _wan_resnet(t, frames * h * w, dims[0], dims[0])
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        if i > 0:
            cin //= 2  # the previous upsample halved the channels
        for j in range(c["num_res_blocks"] + 1):
            _wan_resnet(t, frames * h * w, cin if j == 0 else cout, cout)
        if i < len(mult) - 1:
            if up_time[i]:
                t.conv((frames - 1) * h * w, cout, 2 * cout, 3)  # time_conv
                frames = 2 * frames - 1
            h, w = 2 * h, 2 * w
            t.conv(frames * h * w, cout, cout // 2, 9)
    t.weights(dims[-1])
    t.conv(frames * h * w, dims[-1], 3, 27)


def wan_vae_encoder_params(t: Tally, c: Config) -> None:
    dim, z = c["base_dim"], c["z_dim"]
    mult = c["dim_mult"]
    dims = [dim * m for m in [1, *mult]]
    t.conv(0, 3, dims[0], 27)
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        for j in range(c["num_res_blocks"]):
            _wan_resnet(t, 0, cin if j == 0 else cout, cout)
        if i < len(mult) - 1:
            t.conv(0, cout, cout, 9)  # stride-2 downsample
            if c["temperal_downsample"][i]:
                t.conv(0, cout, cout, 3)
    _wan_resnet(t, 0, dims[-1], dims[-1])
    _wan_attention(t, 0, 0, dims[-1])
    _wan_resnet(t, 0, dims[-1], dims[-1])
    t.weights(dims[-1])
    t.conv(0, dims[-1], 2 * z, 27)
    t.conv(0, 2 * z, 2 * z, 1)  # quant_conv


# -- SeedVR2 (ByteDance-Seed/SeedVR's NaDiT, models/dit_v2, mmdit_sr blocks) --------------------


def _segments(n: int, size: int, shifted: bool) -> list[int]:
    """Lengths of the windows along one axis of n positions, windows of `size`; shifted windows
    start half a window early (upstream's 720pswin), so the first and last are partial."""
    if not shifted or size >= n:
        return [size] * (n // size) + ([n % size] if n % size else [])
    cuts = sorted({0, n, *(int((i + 0.5) * size) for i in range(math.ceil(n / size) + 1))})
    return [b - a for a, b in zip(cuts, cuts[1:], strict=False) if 0 <= a < b <= n]


def seedvr2_windows(t: int, h: int, w: int, counts: Any, shifted: bool) -> list[int]:
    """Video tokens in each attention window of a t x h x w (patched) video: the window's size is
    set so that a 720p (45 x 80 patches) frame holds counts[1] x counts[2] windows and at most 30
    frames counts[0] (upstream's 720pwin_by_size_bysize / 720pswin_by_size_bysize)."""
    scale = math.sqrt(45 * 80 / (h * w))
    wh = math.ceil(round(h * scale) / counts[1])
    ww = math.ceil(round(w * scale) / counts[2])
    wt = math.ceil(min(t, 30) / counts[0])
    return [
        a * b * c
        for a in _segments(t, wt, shifted)
        for b in _segments(h, wh, shifted)
        for c in _segments(w, ww, shifted)
    ]


def seedvr2_dit(t: Tally, c: Config, vid: tuple[int, int, int], text_tokens: float) -> None:
    """One NaDiT forward on a video of vid = (t, h, w) patches: the first mm_layers blocks keep
    separate video and text weights, later ones share them; each block attends within windows,
    every window with all the text tokens; SwiGLU MLPs; the last block's MLP is video-only."""
    dim, heads, head_dim = c["vid_dim"], c["heads"], c["head_dim"]
    txt_dim = c.get("txt_dim") or dim
    inner = heads * head_dim
    patch = c["patch_size"]
    volume = patch[0] * patch[1] * patch[2]
    n, text = vid[0] * vid[1] * vid[2], text_tokens
    if c.get("mlp_type") == "swiglu":
        hidden = int(2 * dim * c["expand_ratio"] / 3)
        hidden = 256 * math.ceil(hidden / 256)
    else:
        hidden = dim * c["expand_ratio"]
    t.linear(n, c["vid_in_channels"] * volume, dim)
    t.linear(text, c["txt_in_dim"], txt_dim)
    emb_hidden = max(dim, txt_dim)
    t.linear(1, 256, emb_hidden)
    t.linear(1, emb_hidden, emb_hidden)
    t.linear(1, emb_hidden, 6 * dim)
    windows = [
        seedvr2_windows(*vid, c["window"], shifted=False) if n else [],
        seedvr2_windows(*vid, c["window"], shifted=True) if n else [],
    ]
    for layer in range(c["num_layers"]):
        shared = layer >= c["mm_layers"]
        last = layer == c["num_layers"] - 1
        streams = [n + text] if shared else [n, text]
        for tokens in streams:
            t.linear(tokens, dim, 3 * inner, bias=c.get("qk_bias", False))
            t.weights(2 * head_dim)  # RMS norm of q and k
            t.linear(tokens, inner, dim)
        for size in windows[layer % 2]:  # windowed and shifted-window layers alternate
            t.attention(size + text, size + text, inner)
        mlp_streams = [n] if last else streams
        if shared and not last:
            mlp_streams = [n + text]
        for tokens in mlp_streams:
            if c.get("mlp_type") == "swiglu":
                t.linear(tokens, dim, hidden, bias=False)
                t.linear(tokens, dim, hidden, bias=False)
                t.linear(tokens, hidden, dim, bias=False)
            else:
                t.linear(tokens, dim, hidden)
                t.linear(tokens, hidden, dim)
            t.weights(6 * dim)  # AdaSingle: shift, scale, gate for attention and MLP
    t.weights(dim + 2 * dim)  # output RMS norm and its shift and scale
    t.linear(n, dim, c["vid_out_channels"] * volume)


def _resnet3d(t: Tally, n: float, cin: int, cout: int, first: int = 27) -> None:
    """SeedVR2 VAE resnet: a causal (3,3,3) conv ((1,3,3) with a "half" time receptive field),
    another (3,3,3) conv, a 1x1x1 shortcut when the channels change."""
    t.weights(2 * cin)
    t.conv(n, cin, cout, first)
    t.weights(2 * cout)
    t.conv(n, cout, cout, 27)
    if cin != cout:
        t.conv(n, cin, cout, 1)


def seedvr2_vae(t: Tally, c: Config, frames: int, height: int, width: int) -> None:
    """SeedVR2's causal video VAE (video_vae_v3, SD3-style channels inflated to 3D): encode
    `frames` frames of height x width, then decode them. The first temporal_scale_num up blocks
    double the frames (causal: 2f - 1), the same number of down blocks halve them."""
    channels = c["block_out_channels"]
    latent, blocks = c["latent_channels"], c["layers_per_block"]
    times = c.get("temporal_scale_num", 2)
    levels = len(channels)
    first = 9 if c.get("time_receptive_field") == "half" else 27

    def resnet(n: float, cin: int, cout: int) -> None:
        _resnet3d(t, n, cin, cout, first)

    # encoder
    f, h, w = frames, height, width
    t.conv(f * h * w, c["in_channels"], channels[0], 27)
    previous = channels[0]
    for i, out in enumerate(channels):
        for j in range(blocks):
            resnet(f * h * w, previous if j == 0 else out, out)
        previous = out
        if i < levels - 1:
            temporal = i >= levels - times - 1
            f = (f - 1) // 2 + 1 if temporal else f
            h, w = (h + 1) // 2, (w + 1) // 2
            t.conv(f * h * w, out, out, 27 if temporal else 9)
    top = channels[-1]
    resnet(f * h * w, top, top)
    vae_attention(t, f * h * w, top)
    t.flops -= 4.0 * (f * h * w) ** 2 * top - 4.0 * f * (h * w) ** 2 * top  # within each frame
    resnet(f * h * w, top, top)
    t.weights(2 * top)
    t.conv(f * h * w, top, 2 * latent, 27)
    # decoder
    t.conv(f * h * w, latent, top, 27)
    resnet(f * h * w, top, top)
    vae_attention(t, f * h * w, top)
    t.flops -= 4.0 * (f * h * w) ** 2 * top - 4.0 * f * (h * w) ** 2 * top
    resnet(f * h * w, top, top)
    previous = top
    for i, out in enumerate(reversed(channels)):
        for j in range(blocks + 1):
            resnet(f * h * w, previous if j == 0 else out, out)
        previous = out
        if i < levels - 1:
            temporal = i < times
            t.conv(f * h * w, out, out * 4 * (2 if temporal else 1), 1)  # upscale_conv
            f = 2 * f - 1 if temporal else f
            h, w = 2 * h, 2 * w
            t.conv(f * h * w, out, out, 27)
    t.weights(2 * channels[0])
    t.conv(f * h * w, channels[0], c["out_channels"], 27)
