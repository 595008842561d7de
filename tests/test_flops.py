"""FLOPs and parameters of the bundled architectures: the closed forms of fleet/architectures
against torch's FlopCounterMode over the real diffusers/transformers models, built from the same
shipped configs on the meta device (no weights, no download, a few seconds each), and against
tiny networks whose FLOPs are written out here by hand.

Every family is checked against its real implementation here except SeedVR2's: its DiT (NaDiT,
ByteDance-Seed/SeedVR models/dit_v2) and causal video VAE (models/video_vae_v3) are not a pip
package, are not installed in this environment, and the runtime's own tests use a stand-in
without a network (tests/runtime/seedvr2_standin.py). What is tested here for SeedVR2: the
windowing at 720p and 1080p, a tiny DiT counted by hand, the request arithmetic (batches, aspect,
one step) and the parameter counts against the published file sizes. The closed forms were
checked against the upstream code itself with tools/check_seedvr2_closed_form.py (FLOPs of
NaDiT at reduced width on three grids and of the VAE at full size: ratio 1.0000 and 1.00005;
parameters of both at full size: equal); run it again with an upstream checkout.
"""

from __future__ import annotations

import dataclasses

import pytest

from modalfleet.economics.flops import (
    Flops,
    ParamError,
    flux_image_tokens,
    request_flops,
    seedvr2_batches,
    wan_latent_frames,
    wan_video_tokens,
)
from modalfleet.fleet.architectures import layers, load, parameter_bytes, parameter_count
from modalfleet.fleet.load import load_fleet

torch = pytest.importorskip("torch")  # the test extra installs it; CI always has it
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

TOLERANCE = 0.05  # the bound; the walks are exact on every family checked so far


@pytest.fixture(scope="module")
def fleet():
    from conftest import REPO

    return load_fleet(REPO).fleet


def counted(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def closed(walk, *args) -> float:
    tally = layers.Tally()
    walk(tally, *args)
    return tally.flops


def meta_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- FLUX.1 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flux_dev():
    from diffusers import FluxTransformer2DModel

    config = load("flux1-dev").components["transformer"].config
    with torch.device("meta"):
        return FluxTransformer2DModel(**config), config


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (768, 512)])
def test_flux_transformer_matches_the_flop_counter(flux_dev, width, height):
    model, config = flux_dev
    image, text = flux_image_tokens(width, height), 512
    with torch.device("meta"):
        inputs = dict(
            hidden_states=torch.randn(1, image, 64),
            encoder_hidden_states=torch.randn(1, text, 4096),
            pooled_projections=torch.randn(1, 768),
            timestep=torch.ones(1),
            guidance=torch.ones(1),
            img_ids=torch.zeros(image, 3),
            txt_ids=torch.zeros(text, 3),
        )
    real = counted(lambda: model(**inputs))
    assert closed(layers.flux_transformer, config, image, text) == pytest.approx(
        real, rel=TOLERANCE
    )


def test_flux_image_tokens_are_one_per_16_pixels_square():
    assert flux_image_tokens(1024, 1024) == 4096
    assert flux_image_tokens(768, 512) == 48 * 32
    assert flux_image_tokens(1000, 1000) == 62 * 62  # the pipeline rounds down to 16


def test_flux_text_encoders_and_vae_match_the_flop_counter():
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    parts = load("flux1-schnell").components
    with torch.device("meta"):
        t5 = T5EncoderModel(T5Config(**parts["text_encoder_2"].config))
        clip = CLIPTextModel(CLIPTextConfig(**parts["text_encoder"].config))
        vae = AutoencoderKL(**parts["vae"].config)
        t5_ids = torch.zeros(1, 256, dtype=torch.long)
        clip_ids = torch.zeros(1, 77, dtype=torch.long)
        latents = torch.randn(1, 16, 96, 64)  # 768 x 512 pixels
    for walk, config, real in (
        (layers.t5_encoder, parts["text_encoder_2"].config, counted(lambda: t5(input_ids=t5_ids))),
        (layers.clip_text, parts["text_encoder"].config, counted(lambda: clip(input_ids=clip_ids))),
    ):
        tokens = 256 if walk is layers.t5_encoder else 77
        assert closed(walk, config, tokens) == pytest.approx(real, rel=TOLERANCE)
    assert closed(layers.vae_decoder, parts["vae"].config, 768, 512) == pytest.approx(
        counted(lambda: vae.decode(latents)), rel=TOLERANCE
    )
    assert parameter_count(parts["text_encoder_2"]) == meta_params(t5)
    assert parameter_count(parts["text_encoder"]) == meta_params(clip)
    assert parameter_count(parts["vae"]) == meta_params(vae)


def test_flux_parameter_counts_match_the_meta_models(flux_dev):
    model, _ = flux_dev
    assert parameter_count(load("flux1-dev").components["transformer"]) == meta_params(model)
    # [schnell] has no guidance embedder: one 256 -> 3072 -> 3072 MLP fewer.
    schnell = parameter_count(load("flux1-schnell").components["transformer"])
    assert meta_params(model) - schnell == 256 * 3072 + 3072 + 3072 * 3072 + 3072


# -- A tiny transformer written out by hand ---------------------------------------------------


def test_tiny_flux_transformer_against_a_hand_count():
    """dim 16 (2 heads of 8), 1 double + 1 single block, 4 image and 3 text tokens."""
    from diffusers import FluxTransformer2DModel

    config = dict(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=6,
        pooled_projection_dim=5,
        guidance_embeds=False,
        axes_dims_rope=(4, 2, 2),
    )
    d, i, t = 16, 4, 3
    n = i + t
    mac = 2
    by_hand = mac * (
        1 * 256 * d  # timestep MLP
        + 1 * d * d
        + 1 * 5 * d  # pooled text MLP
        + 1 * d * d
        + t * 6 * d  # context_embedder
        + i * 4 * d  # x_embedder
        # double block: per stream modulation, q k v o, feed-forward 4x
        + 2 * (1 * d * 6 * d)
        + (i + t) * (4 * d * d + 2 * d * 4 * d)
        # single block: modulation, q k v, mlp in, proj_out from 5d
        + 1 * d * 3 * d
        + n * (3 * d * d + d * 4 * d + 5 * d * d)
        + 1 * d * 2 * d  # norm_out
        + i * d * 4  # proj_out
    ) + 2 * (4 * n * n * d)  # joint attention in each block: QK^T and AV
    with torch.device("meta"):
        model = FluxTransformer2DModel(**config)
        inputs = dict(
            hidden_states=torch.randn(1, i, 4),
            encoder_hidden_states=torch.randn(1, t, 6),
            pooled_projections=torch.randn(1, 5),
            timestep=torch.ones(1),
            img_ids=torch.zeros(i, 3),
            txt_ids=torch.zeros(t, 3),
        )
    assert counted(lambda: model(**inputs)) == by_hand
    assert closed(layers.flux_transformer, config, i, t) == by_hand


# -- Requests ---------------------------------------------------------------------------------


def test_flux_schnell_request_is_four_single_passes_plus_encoders_and_decode(fleet):
    model = fleet.models["flux-schnell"]
    found = request_flops(model)
    parts = load("flux1-schnell").components
    step = closed(layers.flux_transformer, parts["transformer"].config, 4096, 256)
    encoders = closed(layers.t5_encoder, parts["text_encoder_2"].config, 256) + closed(
        layers.clip_text, parts["text_encoder"].config, 77
    )
    decode = closed(layers.vae_decoder, parts["vae"].config, 1024, 1024)
    assert found == Flops(
        parts=(
            ("transformer 4 steps", 4 * step),
            ("text encoders", encoders),
            ("vae decode", decode),
        ),
        denoiser_step=step,
        steps=4,
    )
    assert found.total == 4 * step + encoders + decode


def test_flux_dev_guidance_is_distilled_into_one_pass(fleet):
    dev = request_flops(fleet.models["flux-dev"])
    assert dev.steps == 28
    assert dev.parts[0][0] == "transformer 28 steps"
    # guidance 3.5 and no guidance cost the same: the guidance is an input, not a second pass
    assert request_flops(fleet.models["flux-dev"], {"guidance": 0}).denoiser_step == (
        dev.denoiser_step
    )


def test_overrides_reach_the_count(fleet):
    model = fleet.models["flux-schnell"]
    base = request_flops(model)
    eight = request_flops(model, {"steps": 8})
    assert eight.parts[0] == ("transformer 8 steps", 2 * base.parts[0][1])
    assert eight.parts[1:] == base.parts[1:]
    small = request_flops(model, {"width": "512", "height": 512})  # the CLI passes strings
    config = load("flux1-schnell").components["transformer"].config
    assert small.denoiser_step == closed(layers.flux_transformer, config, 1024, 256)
    assert small.denoiser_step < base.denoiser_step


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"stepz": 4}, "unknown param 'stepz' for flux-schnell"),
        ({"steps": "four"}, "param 'steps' must be a number, not 'four'"),
        ({"width": [1024]}, "param 'width' must be a number"),
        ({"height": True}, "param 'height' must be a number, not True"),
        ({"steps": 2.5}, "param 'steps' must be a whole number >= 1, not 2.5"),
        ({"width": 0}, "param 'width' must be a whole number >= 1"),
        ({"guidance": "nan"}, "param 'guidance' must be a finite number"),
    ],
)
def test_bad_params_are_param_errors_naming_them(fleet, params, message):
    with pytest.raises(ParamError, match=message.replace("[", r"\[").replace(".", r"\.")):
        request_flops(fleet.models["flux-schnell"], params)


def test_the_decoder_sees_each_side_rounded_down_as_the_pipeline_does(fleet):
    """FLUX and Wan round each side down to a multiple of 16 (1000 -> 992, 840 x 488 -> 832 x
    480), SDXL to a multiple of 8 (1020 -> 1016): the VAE decodes the rounded image."""
    flux = fleet.models["flux-dev"]
    odd = request_flops(flux, {"width": 1000, "height": 1000})
    vae = load("flux1-dev").components["vae"].config
    assert odd.parts[2] == ("vae decode", closed(layers.vae_decoder, vae, 992, 992))
    sdxl = fleet.models["lora"]
    odd = request_flops(sdxl, {"width": 1020, "height": 1020})
    vae = load("sdxl-base").components["vae"].config
    assert odd.parts[2] == ("vae decode", closed(layers.vae_decoder, vae, 1016, 1016))
    wan = request_flops(fleet.models["wan2-1"], {"width": 840, "height": 488, "num_frames": 81})
    vae = load("wan2.1-t2v-1.3b").components["vae"].config
    assert wan.parts[2] == ("vae decode", closed(layers.wan_vae_decoder, vae, 21, 480, 832))
    assert [name for name, _ in odd.parts] == [
        "unet 30 steps x 2 passes (guidance)",
        "text encoders",
        "vae decode",
    ]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "flux-dev",
            {"stepz": 4},
            "unknown param 'stepz' for flux-dev (known: guidance, height, max_sequence_length, "
            "steps, width)",
        ),
        (
            "lora",
            {"stepz": 4},
            "unknown param 'stepz' for lora (known: adapter, adapter_scale, guidance, height, "
            "steps, width)",
        ),
        ("lora", {"steps": "2.5"}, "param 'steps' must be a whole number >= 1, not '2.5'"),
        ("seedvr2", {"aspect": "-1"}, "param 'aspect' must be positive, not '-1'"),
        ("seedvr2", {"aspect": 0}, "param 'aspect' must be positive, not 0"),
    ],
)
def test_param_errors_name_the_model_every_known_param_and_the_value_as_given(
    fleet, name, params, message
):
    with pytest.raises(ParamError) as error:
        request_flops(fleet.models[name], params)
    assert str(error.value) == message


def test_a_model_without_a_required_param_is_named(fleet):
    model = fleet.models["flux-dev"]
    no_steps = dataclasses.replace(
        model, params={k: v for k, v in model.params.items() if k != "steps"}
    )
    with pytest.raises(ParamError) as missing:
        request_flops(no_steps)
    assert str(missing.value) == "flux-dev declares no 'steps' param"


def test_guidance_just_over_one_runs_two_passes(fleet):
    lora = fleet.models["lora"]
    one = request_flops(lora, {"guidance": 1.0})
    assert request_flops(lora, {"guidance": 1.5}).denoiser_step == 2 * one.denoiser_step


def test_frame_and_token_counts_by_hand():
    # The Wan VAE: the first frame, then every 4 after it in one latent frame.
    assert [wan_latent_frames(n) for n in (1, 3, 4, 5, 81)] == [1, 1, 1, 2, 21]
    # 840 x 488 rounds down to 832 x 480: 52 x 30 patches a latent frame, 21 latent frames.
    assert wan_video_tokens(81, 840, 488) == 21 * 30 * 52
    # SeedVR2: 11 frames in batches of 10 run as 13 (padded to 4n + 1) and 1.
    assert seedvr2_batches(11, 10) == [13, 1]
    assert seedvr2_batches(10, 5) == [5, 5]


def test_unknown_architecture_is_none(fleet):
    model = fleet.models["flux-schnell"]
    weights = dataclasses.replace(model.weights[0], repo="someone/else")
    other = dataclasses.replace(model, weights=(weights,))
    assert request_flops(other) is None
    assert parameter_bytes(other) is None


def test_parameter_bytes_follow_the_declared_quantization(fleet):
    model = fleet.models["flux-schnell"]  # transformer nf4, T5 int8, the rest bf16
    parts = load("flux1-schnell").components
    found = parameter_bytes(model)
    assert found == {
        "transformer": parameter_count(parts["transformer"]) * 2 * 0.28,
        "text_encoder": parameter_count(parts["text_encoder"]) * 2,
        "text_encoder_2": parameter_count(parts["text_encoder_2"]) * 2 * 0.5,
        "vae": parameter_count(parts["vae"]) * 2,
    }
    # float32 widens only what is not quantized
    wide = parameter_bytes(model, "float32")
    assert wide["vae"] == 2 * found["vae"]
    assert wide["transformer"] == found["transformer"]


# -- SDXL UNet, IdentityNet ControlNet ---------------------------------------------------------


def _sdxl_inputs(height: int, width: int, tokens: int):
    with torch.device("meta"):
        return (
            torch.randn(1, 4, height // 8, width // 8),
            torch.randn(1, tokens, 2048),
            {"text_embeds": torch.randn(1, 1280), "time_ids": torch.randn(1, 6)},
        )


def test_sdxl_unet_matches_the_flop_counter_and_its_parameters():
    from diffusers import UNet2DConditionModel

    config = load("sdxl-base").components["unet"].config
    with torch.device("meta"):
        model = UNet2DConditionModel(**config)
    latents, text, added = _sdxl_inputs(1024, 768, 77)
    real = counted(lambda: model(latents, 1, text, added_cond_kwargs=added))
    assert closed(layers.unet, config, 1024, 768, 77) == pytest.approx(real, rel=TOLERANCE)
    assert parameter_count(load("sdxl-base").components["unet"]) == meta_params(model)


def test_identitynet_controlnet_matches_the_flop_counter_and_its_parameters():
    from diffusers import ControlNetModel

    component = load("instantid").components["controlnet"]
    with torch.device("meta"):
        model = ControlNetModel(**component.config)
        image = torch.randn(1, 3, 768, 1024)
    latents, identity, added = _sdxl_inputs(768, 1024, 16)  # it attends to 16 identity tokens
    real = counted(
        lambda: model(latents, 1, identity, controlnet_cond=image, added_cond_kwargs=added)
    )
    assert closed(layers.controlnet, component.config, 768, 1024, 16) == pytest.approx(
        real, rel=TOLERANCE
    )
    assert parameter_count(component) == meta_params(model)


def test_sdxl_text_encoders_and_vae_parameters_match_the_meta_models():
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    parts = load("sdxl-base").components
    with torch.device("meta"):
        big = CLIPTextModelWithProjection(CLIPTextConfig(**parts["text_encoder_2"].config))
        vae = AutoencoderKL(**load("sdxl-vae-fp16-fix").components["vae"].config)
        ids = torch.zeros(1, 77, dtype=torch.long)
    assert parameter_count(parts["text_encoder_2"]) == meta_params(big)
    assert parameter_count(parts["vae"]) == meta_params(vae)
    assert closed(layers.clip_text, parts["text_encoder_2"].config, 77, True) == pytest.approx(
        counted(lambda: big(input_ids=ids)), rel=TOLERANCE
    )


@pytest.mark.parametrize(("height", "width"), [(64, 64), (128, 64)])
def test_tiny_unet_against_a_hand_count(height, width):
    """One level of 32 channels (2 heads), one resnet + transformer per block, 3 text tokens of 8."""
    from diffusers import UNet2DConditionModel

    config = dict(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",),
        block_out_channels=(32,),
        layers_per_block=1,
        attention_head_dim=2,
        cross_attention_dim=8,
        norm_num_groups=8,
        use_linear_projection=True,
    )
    c, temb, text = 32, 128, 3
    n = (height // 8) * (width // 8)  # latent pixels: one per 8x8 image pixels

    def resnet(cin):  # two 3x3 convs, the time projection, a 1x1 shortcut when cin != c
        return 2 * (n * cin * c * 9 + n * c * c * 9 + temb * c + (n * cin * c if cin != c else 0))

    def transformer():  # proj_in/out, q k v o, cross q o and k v over the text, GEGLU 4x
        linears = 2 * n * c * c + 4 * n * c * c + 2 * n * c * c + 2 * text * 8 * c
        linears += n * c * 8 * c + n * 4 * c * c
        return 2 * linears + 4 * n * n * c + 4 * n * text * c

    by_hand = (
        2 * (c * temb + temb * temb)  # timestep MLP
        + 2 * n * 4 * c * 9  # conv_in
        + resnet(c)
        + transformer()  # down block
        + resnet(c)
        + transformer()
        + resnet(c)  # mid block
        + 2 * (resnet(2 * c) + transformer())  # up block: 2 resnets reading a skip each
        + 2 * n * c * 4 * 9  # conv_out
    )
    with torch.device("meta"):
        model = UNet2DConditionModel(**config)
        latents = torch.randn(1, 4, height // 8, width // 8)
        hidden = torch.randn(1, text, 8)
    assert counted(lambda: model(latents, 1, hidden)) == by_hand
    assert closed(layers.unet, config, height, width, text) == by_hand


def test_sdxl_guidance_doubles_the_unet_passes(fleet):
    lora = fleet.models["lora"]
    config = load("sdxl-base").components["unet"].config
    one_pass = closed(layers.unet, config, 1024, 1024, 77)
    with_guidance = request_flops(lora)  # guidance 5.0
    assert with_guidance.denoiser_step == 2 * one_pass
    assert with_guidance.parts[0] == ("unet 30 steps x 2 passes (guidance)", 60 * one_pass)
    without = request_flops(lora, {"guidance": 1.0})  # the pipeline runs CFG only above 1
    assert without.denoiser_step == one_pass
    assert without.parts[0] == ("unet 30 steps", 30 * one_pass)
    assert without.parts[1:] == with_guidance.parts[1:]  # encoders and decode once either way


def test_instantid_step_is_unet_with_identity_tokens_plus_controlnet(fleet):
    found = request_flops(fleet.models["instantid"])
    unet = closed(layers.unet, load("sdxl-base").components["unet"].config, 1024, 1024, 77, 16)
    net = closed(
        layers.controlnet, load("instantid").components["controlnet"].config, 1024, 1024, 16
    )
    assert found.denoiser_step == 2 * (unet + net)
    assert found.parts[0][0] == "unet 30 steps + controlnet x 2 passes (guidance)"
    # the identity tokens cost the UNet extra cross attention
    assert unet > closed(layers.unet, load("sdxl-base").components["unet"].config, 1024, 1024, 77)


# -- Wan2.1 ------------------------------------------------------------------------------------


def test_wan_transformer_text_encoder_and_vae_match_the_flop_counter_and_parameters():
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    parts = load("wan2.1-t2v-1.3b").components
    frames, height, width = 9, 480, 832  # 3 latent frames
    with torch.device("meta"):
        model = WanTransformer3DModel(**parts["transformer"].config)
        vae = AutoencoderKLWan(**parts["vae"].config)
        umt5 = UMT5EncoderModel(UMT5Config(**parts["text_encoder"].config))
        latents = torch.randn(1, 16, 3, height // 8, width // 8)
        text = torch.randn(1, 512, 4096)
        timestep = torch.ones(1)
        ids = torch.zeros(1, 512, dtype=torch.long)
    tokens = wan_video_tokens(frames, width, height)
    assert tokens == 3 * 30 * 52
    assert closed(layers.wan_transformer, parts["transformer"].config, tokens, 512) == (
        pytest.approx(counted(lambda: model(latents, timestep, text)), rel=TOLERANCE)
    )
    assert closed(layers.wan_vae_decoder, parts["vae"].config, 3, height, width) == (
        pytest.approx(counted(lambda: vae.decode(latents)), rel=TOLERANCE)
    )
    one = layers.Tally()
    layers.t5_encoder(one, parts["text_encoder"].config, 512, per_layer_bias=True)
    assert one.flops == pytest.approx(counted(lambda: umt5(input_ids=ids)), rel=TOLERANCE)
    for name, module in (("transformer", model), ("vae", vae), ("text_encoder", umt5)):
        assert parameter_count(parts[name]) == meta_params(module), name


def test_wan_video_tokens_follow_frames_and_resolution():
    assert wan_video_tokens(81, 832, 480) == 21 * 30 * 52  # (81 - 1) / 4 + 1 latent frames
    assert wan_video_tokens(1, 832, 480) == 30 * 52
    assert wan_video_tokens(81, 1280, 720) == 21 * 45 * 80


def test_wan_request_doubles_passes_and_prompt_encodings_with_guidance(fleet):
    model = fleet.models["wan2-1"]
    parts = load("wan2.1-t2v-1.3b").components
    one_pass = closed(layers.wan_transformer, parts["transformer"].config, 21 * 30 * 52, 512)
    found = request_flops(model)
    assert found.denoiser_step == 2 * one_pass
    assert found.parts[0] == ("transformer 30 steps x 2 passes (guidance)", 60 * one_pass)
    encoder = layers.Tally()
    layers.t5_encoder(encoder, parts["text_encoder"].config, 512, per_layer_bias=True)
    assert found.parts[1] == ("text encoder", 2 * encoder.flops)
    assert found.parts[2] == (
        "vae decode",
        closed(layers.wan_vae_decoder, parts["vae"].config, 21, 480, 832),
    )
    plain = request_flops(model, {"guidance": 1, "num_frames": 33})
    assert plain.denoiser_step == closed(
        layers.wan_transformer, parts["transformer"].config, 9 * 30 * 52, 512
    )
    assert plain.parts[1] == ("text encoder", encoder.flops)


def test_wan_vae_is_counted_in_float32(fleet):
    found = parameter_bytes(fleet.models["wan2-1"])
    parts = load("wan2.1-t2v-1.3b").components
    assert found["vae"] == 4 * parameter_count(parts["vae"])
    assert found["transformer"] == 2 * parameter_count(parts["transformer"])


# -- What validate reads -----------------------------------------------------------------------


def test_declared_sizes_of_the_bundled_fleet_are_within_the_architectures(fleet):
    from modalfleet.fleet.architectures import declared_size_shortfalls, repo_sizes_gb

    for model in fleet.models.values():
        assert declared_size_shortfalls(model) == [], model.name
    # the declared component sizes are the parameter counts in 16-bit, to the rounding
    sizes = repo_sizes_gb("black-forest-labs/FLUX.1-dev")
    assert {k: round(v, 2) for k, v in sizes.items()} == {
        "transformer": 23.80,
        "text_encoder": 0.25,
        "text_encoder_2": 9.52,
        "vae": 0.17,
    }
    assert round(repo_sizes_gb("InstantX/InstantID")["controlnet"], 2) == 2.50
    assert repo_sizes_gb("someone/else") is None


def test_a_vram_figure_just_inside_the_tolerance_passes_and_just_outside_warns(fleet):
    from modalfleet.fleet.architectures import declared_size_shortfalls

    model = fleet.models["flux-dev"]
    need = sum(parameter_bytes(model).values()) / 1e9  # 33.74 GB in bf16
    inside = dataclasses.replace(model, vram_gb=need * 0.85 + 0.01)
    outside = dataclasses.replace(model, vram_gb=need * 0.85 - 0.01)
    assert declared_size_shortfalls(inside) == []
    assert [path for path, _ in declared_size_shortfalls(outside)] == [
        ("models", "flux-dev", "vram_gb")
    ]


def test_validate_reads_no_architecture_for_unknown_repositories(fleet):
    from modalfleet.fleet.architectures import declared_size_shortfalls

    load.cache_clear()
    model = fleet.models["seedvr2"]
    other = dataclasses.replace(
        model, weights=(dataclasses.replace(model.weights[0], repo="someone/else"),)
    )
    assert declared_size_shortfalls(other) == []
    assert load.cache_info().currsize == 0


# -- SeedVR2 (no importable implementation here: see the module docstring) --------------------


def test_seedvr2_windows_at_720p_and_1080p():
    # 720p is 45 x 80 patches: 3 x 3 windows of 15 x 27 (the last column 26 wide); in time,
    # ceil(min(21, 30) / 4) = 6 frames a window (the last 3).
    plain = layers.seedvr2_windows(21, 45, 80, [4, 3, 3], shifted=False)
    assert len(plain) == 4 * 3 * 3
    assert sum(plain) == 21 * 45 * 80
    assert sorted(set(plain)) == [3 * 15 * 26, 3 * 15 * 27, 6 * 15 * 26, 6 * 15 * 27]
    # shifted windows start half a window early: one more per axis, partial at both ends
    # (3 6 6 6 frames, 7 15 15 8 rows, 13 27 27 13 columns)
    shifted = layers.seedvr2_windows(21, 45, 80, [4, 3, 3], shifted=True)
    assert len(shifted) == 4 * 4 * 4
    assert sum(shifted) == 21 * 45 * 80
    assert max(shifted) == 6 * 15 * 27 and min(shifted) == 3 * 7 * 13
    # the window keeps 720p's size at 1080p (68 x 120 patches): 5 x 5 windows a frame
    big = layers.seedvr2_windows(2, 68, 120, [4, 3, 3], shifted=False)
    assert len(big) == 2 * 5 * 5
    assert sorted(set(big)) == [8 * 12, 15 * 12, 8 * 27, 15 * 27]


def test_tiny_seedvr2_dit_against_a_hand_count():
    """2 blocks (the first with separate text weights), dim 8, SwiGLU 256 wide, 1 x 2 x 2
    patches, one window (the video is smaller than a window), 3 text tokens."""
    config = dict(
        vid_in_channels=5,
        vid_out_channels=4,
        vid_dim=8,
        txt_in_dim=6,
        txt_dim=8,
        heads=2,
        head_dim=4,
        expand_ratio=4,
        qk_bias=False,
        patch_size=[1, 2, 2],
        num_layers=2,
        mm_layers=1,
        mlp_type="swiglu",
        window=[4, 3, 3],
    )
    d, text, mlp = 8, 3, 256  # int(2 * 8 * 4 / 3) = 21, rounded up to a multiple of 256
    n = 1 * 2 * 2  # video tokens of a 1 x 2 x 2 patched video
    mac = 2 * (
        n * 5 * 4 * d  # patch in
        + text * 6 * d  # text in
        + 256 * d
        + d * d
        + d * 6 * d  # time embedding
        # block 1 (separate weights): qkv and out on each stream, SwiGLU on each stream
        + (n + text) * (3 * d * d + d * d + 3 * d * mlp)
        # block 2 (shared, last): qkv and out on both, SwiGLU on the video only
        + (n + text) * (3 * d * d + d * d)
        + n * 3 * d * mlp
        + n * d * 4 * 4  # patch out
    )
    by_hand = mac + 2 * 4 * (n + text) ** 2 * d  # one window per block: video + all the text
    tally = layers.Tally()
    layers.seedvr2_dit(tally, config, (1, 2, 2), text)
    assert tally.flops == by_hand
    # parameters: the first block's weights twice (video, text), the second's once
    params = layers.Tally()
    layers.seedvr2_dit(params, config, (0, 0, 0), 0)
    block = 3 * d * d + (d * d + d) + 2 * 4 + 3 * d * mlp + 6 * d
    assert params.params == (
        (5 * 4 * d + d)
        + (6 * d + d)
        + (256 * d + d + d * d + d + d * 6 * d + 6 * d)
        + 2 * block
        + block
        + 3 * d
        + (d * 4 * 4 + 4 * 4)
    )


def test_seedvr2_request_runs_each_batch_once_through_dit_and_vae(fleet):
    model = fleet.models["seedvr2"]  # resolution 1080, batch_size 5
    parts = load("seedvr2-3b").components
    one = request_flops(model)
    dit = layers.Tally()
    layers.seedvr2_dit(dit, parts["dit"].config, (2, 68, 120), 58)  # 1088 x 1920, 2 latents
    vae = closed(layers.seedvr2_vae, parts["vae"].config, 5, 1088, 1920)
    assert one == Flops(
        parts=(("dit 1 step", dit.flops), ("vae encode and decode", vae)),
        denoiser_step=dit.flops,
        steps=1,
    )
    # 12 frames: two batches of 5 and one of 2 (padded to 5)
    assert request_flops(model, {"num_frames": 12}).total == pytest.approx(3 * one.total)
    assert request_flops(model, {"num_frames": 12, "batch_size": 1}).total == pytest.approx(
        12 * request_flops(model, {"batch_size": 1}).total
    )
    square = request_flops(model, {"aspect": 1})
    assert square.denoiser_step < one.denoiser_step
    with pytest.raises(ParamError, match="param 'batch_size' must be a whole number >= 1"):
        request_flops(model, {"batch_size": 0})
    with pytest.raises(ParamError, match="param 'aspect' must be positive, not -1"):
        request_flops(model, {"aspect": -1})
    with pytest.raises(ParamError, match="unknown param 'width' for seedvr2"):
        request_flops(model, {"width": 1920})


def test_seedvr2_parameters_match_the_published_file_sizes():
    parts = load("seedvr2-3b").components
    # seedvr2_ema_3b_fp16.safetensors 6.8 GB, ema_vae_fp16.safetensors 0.5 GB (models.yaml)
    assert parameter_count(parts["dit"]) == 3_391_475_776
    assert parameter_count(parts["vae"]) == 250_648_227
