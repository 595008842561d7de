"""What each bundled model's memory snapshot holds, and the dtype fixed before the GPU is known."""

from __future__ import annotations

import dataclasses

from conftest import REPO

from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.snapshots import quantizes_on_gpu, run_dtype, snapshot_mode


def test_snapshot_mode_per_bundled_model():
    fleet = load_fleet(REPO).fleet
    modes = {name: snapshot_mode(model) for name, model in fleet.models.items()}
    # flux-schnell declares an NF4 transformer: bitsandbytes cannot load it on the CPU.
    assert modes == {
        "flux-schnell": "none",
        "flux-dev": "cpu",
        "instantid": "cpu",
        "lora": "cpu",
        "wan2-1": "cpu",
        "seedvr2": "cpu",
    }
    asked = dataclasses.replace(fleet.models["flux-schnell"], gpu_snapshot=True)
    assert snapshot_mode(asked) == "gpu"


def test_run_dtype_is_fp16_when_any_gpu_of_the_list_lacks_bf16():
    fleet = load_fleet(REPO).fleet
    wan = fleet.models["wan2-1"]
    assert run_dtype(wan, fleet.catalog, ("L40S",)) == "bfloat16"
    assert run_dtype(wan, fleet.catalog, ("L40S", "T4")) == "float16"
    assert run_dtype(fleet.models["lora"], fleet.catalog, ("A100-80GB",)) == "float16"  # declared


def test_only_a_model_with_a_gpu_only_scheme_downloads_on_a_gpu():
    """`download` saves the quantized copies; nf4 and fp8 can be made only on a GPU, int8 on the
    CPU (an int8 model's copy also loads on the CPU, so its snapshot keeps the weights)."""
    fleet = load_fleet(REPO).fleet
    on_gpu = {name for name, model in fleet.models.items() if quantizes_on_gpu(model)}
    assert on_gpu == {"flux-schnell"}
    int8_only = dataclasses.replace(
        fleet.models["flux-schnell"], quantization={"text_encoder_2": "int8"}
    )
    assert not quantizes_on_gpu(int8_only) and snapshot_mode(int8_only) == "cpu"
    fp8 = dataclasses.replace(fleet.models["flux-dev"], quantization={"transformer": "fp8"})
    # fp8 loads on the GPU too: loaded on the CPU it would be skipped and reach the GPU in bf16
    assert quantizes_on_gpu(fp8) and snapshot_mode(fp8) == "none"
