"""Cold start through the generated handlers: snapshot hooks in order, the phases of the
cold-start record (tests/runtime/test_records.py checks the record itself), and weights that must
already be on the Volume."""

from __future__ import annotations

import pytest
import torch

from modalfleet.platform.bench import parse_cold_starts
from modalfleet.runtime import coldstart, device, text_to_image, weights

from .handlers import generated_handler, logged_records, user_instance

pytestmark = pytest.mark.runtime

TINY = {"prompt": "a red fox", "seed": 1, "steps": 2, "width": 32, "height": 32}


def recording(monkeypatch, calls):
    load, to_device = text_to_image.load, text_to_image.to_device

    def record_load(model, paths, where, dtype):
        calls.append(("load", where))
        return load(model, paths, where, dtype)

    def record_to_device(handle, where):
        calls.append(("to_device", where))
        return to_device(handle, where)

    monkeypatch.setattr(text_to_image, "load", record_load)
    monkeypatch.setattr(text_to_image, "to_device", record_to_device)


def test_snapshot_hook_loads_on_the_cpu_then_the_gpu_hook_moves_it(
    flux_dev_weights, monkeypatch, capsys
):
    calls = []
    recording(monkeypatch, calls)
    with generated_handler("flux_dev", flux_dev_weights) as (module, model):
        assert module.SNAPSHOT == "cpu" and module.RUN_DTYPE == "bfloat16"  # an L40S
        model.generate.local(max_sequence_length=16, **TINY)
        instance = user_instance(model)
    # snap=True read the weights onto the CPU; snap=False moved them to the selected device
    # (this machine has no GPU, so the selected device is the CPU as well).
    assert calls == [("load", "cpu"), ("to_device", instance.device)]
    assert instance.handle.pipe.transformer.device.type == instance.device == "cpu"
    # The hooks are Modal's pre- and post-snapshot enter methods, in that order.
    from modal._partial_function import _PartialFunctionFlags as Flags
    from modal._utils.async_utils import synchronizer

    partials = module.Model._get_user_cls().__dict__
    flags = {
        name: synchronizer._translate_in(partials[name]).flags
        for name in ("load_weights", "to_gpu")
    }
    assert flags == {"load_weights": Flags.ENTER_PRE_SNAPSHOT, "to_gpu": Flags.ENTER_POST_SNAPSHOT}
    # One cold-start record per container, which bench reads back.
    err = capsys.readouterr().err
    assert [r["event"] for r in logged_records(err)] == [
        "modalfleet.cold_start",
        "modalfleet.request",
    ]
    (start,) = parse_cold_starts(err)
    assert (start.model, start.strategy, start.gpu) == ("flux-dev", "hybrid", "cpu")
    phases = dict(start.phases)
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["weights_read_s"] > 0 and phases["warm_up_s"] > 0
    assert start.seconds >= sum(phases.values()) - 0.002  # each phase rounded to 1 ms


def test_nf4_model_loads_entirely_in_the_gpu_hook(flux_schnell_weights, monkeypatch):
    """bitsandbytes NF4 has no CPU path: flux-schnell's snapshot holds imports, not weights."""
    calls = []
    recording(monkeypatch, calls)
    with generated_handler("flux_schnell", flux_schnell_weights) as (module, model):
        assert module.SNAPSHOT == "none" and module.RUN_DTYPE == "float16"  # a T4: no bf16
        model.generate.local(max_sequence_length=16, **TINY)
    assert calls == [("load", "cpu")]  # once, in snap=False, on the selected device


def test_planned_dtype_is_fixed_before_the_gpu_is_attached():
    assert device.planned("float16", gpu_expected=True) == ("cuda", torch.float16)
    assert device.planned("bfloat16", gpu_expected=True) == ("cuda", torch.bfloat16)
    assert device.planned("bfloat16", gpu_expected=False) == ("cpu", torch.float32)  # no GPU here


def test_a_restored_container_counts_only_the_gpu_phases(monkeypatch):
    clock = iter([100.0, 100.0, 130.0, 500.0, 503.0, 503.0, 504.0]).__next__
    monkeypatch.setattr(coldstart.time, "time", clock)
    phases = coldstart.Phases(started=99.0)
    phases.entered()  # 100: 1 s after the import
    with phases.timed("weights_read_s"):  # 100 -> 130, then the snapshot is taken
        pass
    with phases.timed("to_gpu_s"):  # restored much later: 500 -> 503
        pass
    with phases.timed("warm_up_s"):  # 503 -> 504
        pass
    assert phases.restored and phases.total_s() == 4.0
    # Its record: this container started when its post-snapshot hook began, and ran two phases.
    assert phases.container_started() == 500.0
    assert phases.counted() == {"to_gpu_s": 3.0, "warm_up_s": 1.0}
    assert phases.seconds == {
        "start_to_enter_s": 1.0,
        "weights_read_s": 30.0,
        "to_gpu_s": 3.0,
        "warm_up_s": 1.0,
    }


def test_a_plain_start_counts_every_phase_from_the_import(monkeypatch):
    clock = iter([100.0, 100.0, 130.0, 130.5, 133.5, 133.5, 134.5]).__next__
    monkeypatch.setattr(coldstart.time, "time", clock)
    phases = coldstart.Phases(started=99.0)
    phases.entered()
    for phase in ("weights_read_s", "to_gpu_s", "warm_up_s"):
        with phases.timed(phase):
            pass
    assert not phases.restored and phases.container_started() == 99.0
    assert phases.counted() == {
        "start_to_enter_s": 1.0,
        "weights_read_s": 30.0,
        "to_gpu_s": 3.0,
        "warm_up_s": 1.0,
    }
    assert phases.total_s() == 35.0


def test_a_restore_is_seen_without_a_weights_phase(monkeypatch):
    """nf4 (SNAPSHOT "none"): the snapshot holds only imports, no weights_read_s is timed."""
    clock = iter([100.0, 900.0, 910.0, 910.0, 911.0]).__next__
    monkeypatch.setattr(coldstart.time, "time", clock)
    phases = coldstart.Phases(started=99.0)
    phases.entered()  # 100
    with phases.timed("to_gpu_s"):  # restored: 900 -> 910 (the weights load here)
        pass
    with phases.timed("warm_up_s"):
        pass
    assert phases.restored and phases.container_started() == 900.0
    assert phases.counted() == {"to_gpu_s": 10.0, "warm_up_s": 1.0}


def test_serving_never_calls_the_hub_and_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty Volume
    model = {
        "name": "flux-schnell",
        "weights": [
            {
                "repo": "black-forest-labs/FLUX.1-schnell",
                "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9",
                "role": "pipeline",
                "files": ["model_index.json"],
            }
        ],
    }
    command = "modal run generated/hybrid/flux_schnell.py::download"
    with pytest.raises(FileNotFoundError) as raised:
        weights.locate(model, serving=True, download_command=command)
    assert str(raised.value) == (
        "flux-schnell: black-forest-labs/FLUX.1-schnell@741f7c3ce8b3 is not on the weights "
        f"Volume; fill it first with `{command}`"
    )
