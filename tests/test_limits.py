"""Request limits: the formula of fleet/limits.py on the bundled fleet, and its overrides."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REPO

from modalfleet.fleet import limits
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.resolve import resolve


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


def test_hybrid_limits_follow_each_models_gpu(fleet):
    found = {
        d.model.name: limits.request_limits(d.model, fleet.catalog, d.gpus)
        for d in resolve(fleet, "hybrid")
    }
    assert found == {
        # scale 4 (the cap), but models.yaml lowers max_pixels to what NF4 FLUX holds on a T4
        # and so one 1024x1024 image a call
        "flux-schnell": {"max_side": 2048, "max_pixels": 1572864, "max_steps": 8, "max_images": 1},
        # weights 33.73 GB, vram 36: (48 - 33.73) / 2.27 = 6.3 -> capped at 4
        "flux-dev": {"max_side": 2048, "max_pixels": 4194304, "max_steps": 56, "max_images": 4},
        # weights 11.67 GB, vram 16: (24 - 11.67) / 4.33 = 2.85 on an A10
        "instantid": {
            "max_side": 2048,
            "max_pixels": 2985898,
            "max_steps": 60,
            "max_images": 2,  # 2985898 // (1024 x 1024)
            "max_payload_bytes": 16 * 2**20,
            "max_input_pixels": 40_000_000,
        },
        # weights 7.29 GB, vram 12: (16 - 7.29) / 4.71 = 1.85 on a T4
        "lora": {"max_side": 2048, "max_pixels": 1939086, "max_steps": 60, "max_images": 1},
        # weights 14.75 GB, vram 24: (48 - 14.75) / 9.25 = 3.59 on an L40S; 81 x 3.59 -> 289
        "wan2-1": {
            "max_side": 1664,
            "max_pixels": 1435537,
            "max_steps": 60,
            "max_frames": 289,
            "max_pixel_frames": 116278521,
        },
        # weights 7.3 GB, vram 16: (24 - 7.3) / 8.7 = 1.92; 1080 x sqrt(1.92) = 1496; 5 x 1.92 -> 9
        # frames: models.yaml's 300 (what its one-hour timeout holds), not the kind's 1800
        "seedvr2": {
            "max_resolution": 1496,
            "max_batch": 9,
            "max_payload_bytes": 256 * 2**20,
            "max_input_pixels": 3840 * 2160,
            "max_input_frames": 300,
        },
    }


def test_a_bigger_gpu_allows_more_and_the_smallest_of_a_list_decides(fleet):
    lora = fleet.models["lora"]
    on_t4 = limits.request_limits(lora, fleet.catalog, ("T4",))["max_pixels"]
    on_a10 = limits.request_limits(lora, fleet.catalog, ("A10",))["max_pixels"]
    on_list = limits.request_limits(lora, fleet.catalog, ("A10", "T4"))["max_pixels"]
    assert on_t4 == 1939086 and on_a10 == 3720107  # A10: (24 - 7.29) / 4.71 = 3.55
    assert on_list == on_t4


def test_scale_is_one_when_the_declaration_leaves_no_room_for_activations(fleet):
    flux = dataclasses.replace(fleet.models["flux-dev"], vram_gb=30.0)  # below its weights
    assert limits.activation_scale(flux, 80) == 1.0
    assert limits.derived_limits(flux, 80)["max_pixels"] == 1024 * 1024


def test_max_images_follows_a_lowered_max_pixels_unless_set_itself(fleet):
    flux = fleet.models["flux-dev"]  # 4 images a call on an L40S (max_pixels 4194304)
    lowered = dataclasses.replace(flux, limits={"max_pixels": 3 * 1024 * 1024 - 1})
    assert limits.request_limits(lowered, fleet.catalog, ("L40S",))["max_images"] == 2
    fixed = dataclasses.replace(flux, limits={"max_pixels": 2**20, "max_images": 3})
    assert limits.request_limits(fixed, fleet.catalog, ("L40S",))["max_images"] == 3
    roomy = dataclasses.replace(flux, limits={"max_pixels": 64 * 2**20})
    assert limits.request_limits(roomy, fleet.catalog, ("L40S",))["max_images"] == limits.IMAGES_CAP


def test_images_cap_is_the_request_fields_own_bound():
    """The rendered request model refuses num_images above IMAGES_CAP before any limit check."""
    text = (REPO / "generated" / "hybrid" / "flux_dev.py").read_text()
    assert f"num_images: int = Field(1, ge=1, le={limits.IMAGES_CAP})" in text


def test_overrides_replace_only_the_named_limit(fleet):
    wan = dataclasses.replace(fleet.models["wan2-1"], limits={"max_frames": 121})
    found = limits.request_limits(wan, fleet.catalog, ("L40S",))
    assert found["max_frames"] == 121 and found["max_steps"] == 60


@pytest.mark.parametrize(("bound", "expected"), [(0.5, 1), (4.9, 1), (5, 5), (290.8, 289)])
def test_largest_4k_plus_1(bound, expected):
    assert limits.largest_4k_plus_1(bound) == expected


def test_every_generated_module_carries_its_limits(fleet):
    import ast

    for strategy in fleet.strategies:
        for deployment in resolve(fleet, strategy):
            path = REPO / "generated" / deployment.relative_path
            module = ast.parse(path.read_text("utf-8"))
            literal = next(
                ast.literal_eval(node.value)
                for node in module.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LIMITS"
            )
            expected = limits.request_limits(deployment.model, fleet.catalog, deployment.gpus)
            assert literal == expected, deployment.relative_path


def test_limits_are_worked_out_once_per_model_and_gpus_and_each_caller_gets_its_own_dict(
    fleet, monkeypatch
):
    calls = []
    real = limits._request_limits
    monkeypatch.setattr(
        limits, "_request_limits", lambda *args: calls.append(args[2]) or real(*args)
    )
    monkeypatch.setattr(limits, "_LIMITS_MEMO", {})
    lora = fleet.models["lora"]
    first = limits.request_limits(lora, fleet.catalog, ("T4",))
    first["max_pixels"] = 1
    again = limits.request_limits(lora, fleet.catalog, ("T4",))
    assert again["max_pixels"] == 1939086 and again is not first
    # Another object, even an equal one, is worked out for itself.
    copy = dataclasses.replace(lora, limits={"max_pixels": 1_000_000})
    assert limits.request_limits(copy, fleet.catalog, ("T4",))["max_pixels"] == 1_000_000
    limits.request_limits(lora, fleet.catalog, ("A10",))
    assert calls == [("T4",), ("T4",), ("A10",)]
