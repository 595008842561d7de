"""optimize: every catalog GPU per model, the cheapest feasible one chosen, strategies' gaps."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest
import yaml
from conftest import REPO, run_cli
from test_cost import SCHNELL_TRAFFIC, edit

from modalfleet.economics.optimize import choose, evaluate, optimize
from modalfleet.fleet.load import load_fleet

D = Decimal


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


@pytest.fixture(scope="module")
def result(fleet):
    return optimize(fleet)


def choice_of(result, name: str):
    return next(c for c in result.choices if c.model.name == name)


def test_every_catalog_gpu_is_a_candidate_in_price_order(result, fleet):
    for choice in result.choices:
        assert [c.gpu.name for c in choice.candidates] == [g.name for g in fleet.catalog.by_price()]
    assert [c.gpu.name for c in choice_of(result, "lora").candidates][:4] == [
        "T4",
        "L4",
        "A10",
        "L40S",
    ]


def test_lora_gets_a_t4(result):
    lora = choice_of(result, "lora")
    assert lora.chosen.gpu.name == "T4"
    assert lora.chosen.daily == D("0.164")
    l4 = lora.candidates[1]
    assert lora.note_for(l4) == "feasible, $0.06/day more than T4"


def test_flux_dev_cheapest_feasible_is_l40s_with_a_reason_per_rejected_gpu(result):
    dev = choice_of(result, "flux-dev")
    assert dev.chosen.gpu.name == "L40S"  # 36 GB need: T4/L4/A10 too small, L40S < A100-40GB
    assert dev.chosen.daily == D("1.626")
    notes = {c.gpu.name: dev.note_for(c) for c in dev.candidates}
    assert notes == {
        "T4": "needs 36 GB, has 16 GB",
        "L4": "needs 36 GB, has 24 GB",
        "A10": "needs 36 GB, has 24 GB",
        "L40S": "",
        "A100-40GB": "feasible, $0.04/day more than L40S",
        "A100-80GB": "feasible, $0.46/day more than L40S",
        "RTX-PRO-6000": "feasible, $0.90/day more than L40S",
        "H100": "feasible, $1.67/day more than L40S",
        "H200": "feasible, $2.16/day more than L40S",
        "B200": "feasible, $3.58/day more than L40S",
    }


def test_flux_schnell_flat_10s_misses_its_5s_target_everywhere(result):
    schnell = choice_of(result, "flux-schnell")
    assert schnell.chosen is None
    assert schnell.reason.startswith(
        "its flat 10 s per request (the same on every GPU) exceeds its 5 s latency target"
    )
    assert schnell.note_for(schnell.candidates[0]) == "10 s flat > 5 s latency target"


def test_measured_seconds_make_flux_schnell_feasible(fleet_dir):
    edit(
        fleet_dir / "models.yaml",
        SCHNELL_TRAFFIC,
        "traffic: {requests_per_day: 400, seconds_per_request: {L40S: 3, H100: 2, default: 10}}",
    )
    fleet = load_fleet(fleet_dir).fleet
    schnell = choose(fleet, fleet.models["flux-schnell"])
    # L40S: 3 s x $0.000542 = $0.001626/request beats H100's 2 s x $0.001097 = $0.002194.
    assert schnell.chosen.gpu.name == "L40S"
    assert schnell.chosen.cost_per_request == D("0.001626")
    assert [c.gpu.name for c in schnell.candidates if c.feasible] == ["L40S", "H100"]


def test_bf16_on_t4_is_allowed_and_noted(result):
    seedvr2 = choice_of(result, "seedvr2")  # bfloat16, 16 GB, no traffic: cheapest per request
    assert seedvr2.chosen.gpu.name == "T4"
    assert seedvr2.note_for(seedvr2.chosen) == "no bf16: runs in float16"


def test_fp8_quantization_needs_an_fp8_gpu(fleet):
    model = dataclasses.replace(fleet.models["flux-dev"], quantization={"transformer": "fp8"})
    a100 = evaluate(fleet, model, fleet.catalog.gpus["A100-40GB"])
    assert not a100.dtype_ok
    assert a100.rejections == ("fp8 quantization (transformer) needs an fp8 GPU",)
    assert evaluate(fleet, model, fleet.catalog.gpus["L40S"]).feasible


def test_vram_need_counts_quantized_weights_when_larger_than_declared(fleet):
    # flux-dev loads 33.74 GB of bf16 weights (its components), more than a (wrongly) declared 20 GB need.
    model = dataclasses.replace(fleet.models["flux-dev"], vram_gb=20.0)
    assert evaluate(fleet, model, fleet.catalog.gpus["A10"]).rejections == (
        "needs 33.74 GB, has 24 GB",
    )


def test_strategy_gaps_to_the_optimum(result):
    gaps = {g.strategy: g for g in result.gaps}
    assert result.optimum_daily == D("2.118")  # flux-dev 1.626 + instantid T4 0.328 + lora 0.164
    assert gaps["hybrid"].daily == D("2.402")
    assert gaps["hybrid"].gap == D("0.284")
    assert round(gaps["hybrid"].gap_pct, 1) == D("13.4")
    assert gaps["baseline"].gap == D("1.134")
    assert gaps["hybrid"].left_out == ("flux-schnell",)


def test_optimize_text_table_marks_the_chosen_gpu():
    out = run_cli("optimize", root=REPO)
    assert out.exit_code == 0, out.text
    lines = out.output.splitlines()
    t4_lora = next(
        line
        for line in lines[lines.index("lora (needs 12 GB, float16, latency target 30 s)") :]
        if line.strip().startswith("T4")
    )
    assert t4_lora.split() == [
        "T4",
        "16",
        "GB",
        "yes",
        "yes",
        "10",
        "flat",
        "yes",
        "$0.00164",
        "$0.16",
        "\u2714",
    ]
    assert any(
        line.split()[:5] == ["hybrid", "$2.40", "$2.12", "+$0.28", "+13.4%"] for line in lines
    )
    assert "left out (no feasible GPU): flux-schnell" in lines


def test_optimize_yaml_is_the_gpu_assignment_and_says_how_to_apply_it():
    out = run_cli("optimize", "--format", "yaml", root=REPO)
    assert out.exit_code == 0
    assert "  lora: T4" in out.output.splitlines()
    assert yaml.safe_load(out.output) == {
        "gpu": {
            "flux-dev": "L40S",
            "instantid": "T4",
            "lora": "T4",
            "wan2-1": "L4",
            "seedvr2": "T4",
        }
    }
    assert "# flux-schnell: no feasible GPU" in out.output
    assert out.output.splitlines()[1:3] == [
        "# the chosen GPU per model; `modalfleet optimize --write <name>` adds them to models.yaml",
        "# as strategy <name> and writes strategies/<name>.yaml",
    ]


def test_optimize_json():
    data = json.loads(run_cli("optimize", "--format", "json", root=REPO).output)
    chosen = {m["model"]: m["chosen"] for m in data["models"]}
    assert chosen == {
        "flux-schnell": None,
        "flux-dev": "L40S",
        "instantid": "T4",
        "lora": "T4",
        "wan2-1": "L4",
        "seedvr2": "T4",
    }
    dev = next(m for m in data["models"] if m["model"] == "flux-dev")
    t4 = dev["candidates"][0]
    assert (t4["gpu"], t4["fits"], t4["feasible"], t4["note"]) == (
        "T4",
        False,
        False,
        "needs 36 GB, has 16 GB",
    )
    hybrid = next(s for s in data["strategies"] if s["strategy"] == "hybrid")
    assert (hybrid["gap"], hybrid["gap_pct"]) == (0.284, 13.41)
    assert data["estimate"] is False


def test_optimize_relative_is_labelled_estimate():
    out = run_cli("optimize", "--speed-model", "relative", root=REPO)
    assert out.exit_code == 0 and "ESTIMATE" in out.output.splitlines()[0]
    assert (
        "seconds: estimate"
        in run_cli("optimize", "--speed-model", "relative", "--format", "yaml", root=REPO).output
    )
    assert run_cli("optimize", "--objective", "latency", root=REPO).exit_code == 2


def test_meets_latency_is_whether_the_seconds_are_within_the_target(result):
    # Independently of the rule in evaluate(): a candidate meets the latency target exactly when
    # its seconds per request are at most the model's latency_target_s.
    checked = {True: 0, False: 0}
    for choice in result.choices:
        target = choice.model.latency_target_s
        for cand in choice.candidates:
            if cand.seconds is None or target is None:
                continue
            expected = cand.seconds.value <= Decimal(str(target))
            assert cand.meets_latency is expected, (choice.model.name, cand.gpu.name)
            checked[expected] += 1
    assert checked[True] and checked[False]  # both outcomes occur in the bundled fleet


def test_a_gpu_slower_than_the_target_reads_no_in_the_table_and_json():
    # flux-schnell: the flat 10 s per request against its 5 s target on the T4.
    text = run_cli("optimize", "--format", "text").output
    block = text.split("flux-schnell (needs", 1)[1].split("\n\n", 1)[0]
    t4 = next(line for line in block.splitlines() if line.strip().startswith("T4 "))
    assert " no " in t4.split("10 flat", 1)[1][:6]
    data = json.loads(run_cli("optimize", "--format", "json").output)
    schnell = next(m for m in data["models"] if m["model"] == "flux-schnell")
    t4_json = next(c for c in schnell["candidates"] if c["gpu"] == "T4")
    assert (t4_json["seconds_per_request"], t4_json["meets_latency"]) == (10, False)
