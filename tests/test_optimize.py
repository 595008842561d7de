"""optimize: every catalog GPU per model, the cheapest feasible one chosen, strategies' gaps.

Most figures here are under `--speed-model flat` (the document's 10 s on every GPU), which
keeps them checkable by hand; the default compute speed model's choices are tested at the end
and in tests/test_speed.py."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest
import yaml
from conftest import REPO, run_cli
from test_cost import SCHNELL_TRAFFIC, edit

from modalfleet.economics.optimize import choose, evaluate, optimize, summarize_rejections
from modalfleet.fleet.load import load_fleet

D = Decimal


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


@pytest.fixture
def result(fleet):
    # Per test, not per module: mutation testing runs, for each mutant, the tests that called
    # the function it changes, and a module fixture's calls count for its first test only.
    return optimize(fleet, speed_model="flat")


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
    schnell = choose(fleet, fleet.models["flux-schnell"], "flat")
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
    assert evaluate(fleet, model, fleet.catalog.gpus["A10"], "flat").rejections == (
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
    out = run_cli("optimize", "--speed-model", "flat", root=REPO)
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
    out = run_cli("optimize", "--format", "yaml", "--speed-model", "flat", root=REPO)
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
    args = ("optimize", "--format", "json", "--speed-model", "flat")
    data = json.loads(run_cli(*args, root=REPO).output)
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


def test_compute_speed_model_chooses_by_seconds_per_gpu(fleet):
    """The default: each GPU's own estimated seconds. flux-schnell becomes feasible (no GPU met
    its 5 s target at a flat 10 s); cost per request is seconds x $/s, so the GPU with the most
    datasheet TFLOPS per dollar wins where it meets the target (B200: 2,250 TFLOPS at
    $0.001736/s), and a T4 is no longer as fast as an L40S."""
    from modalfleet.economics.speed import speed_on

    computed = optimize(fleet)
    assert computed.speed_model == "compute" and computed.is_estimate
    chosen = {c.model.name: c.chosen.gpu.name if c.chosen else None for c in computed.choices}
    assert chosen["flux-schnell"] == "B200"
    assert chosen["flux-dev"] == "B200"
    # Wan2.1's 81 frames take 34.7 s even on a B200 (ESTIMATE): over its 30 s target everywhere.
    assert chosen["wan2-1"] is None
    assert chosen["seedvr2"] == "B200"  # its DiT step and VAE: 0.99 s on a B200
    dev = choice_of(computed, "flux-dev")
    b200 = dev.chosen
    seconds = speed_on(fleet.models["flux-dev"], "B200", fleet.catalog).seconds
    assert b200.seconds.value == seconds
    assert b200.cost_per_request == seconds * D("0.001736")
    lora = choice_of(computed, "lora")
    t4, l40s = lora.candidates[0], lora.candidates[3]
    assert (t4.gpu.name, l40s.gpu.name) == ("T4", "L40S")
    assert t4.seconds.value > 5 * l40s.seconds.value / 2


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
    text = run_cli("optimize", "--format", "text", "--speed-model", "flat").output
    block = text.split("flux-schnell (needs", 1)[1].split("\n\n", 1)[0]
    t4 = next(line for line in block.splitlines() if line.strip().startswith("T4 "))
    assert " no " in t4.split("10 flat", 1)[1][:6]
    data = json.loads(run_cli("optimize", "--format", "json", "--speed-model", "flat").output)
    schnell = next(m for m in data["models"] if m["model"] == "flux-schnell")
    t4_json = next(c for c in schnell["candidates"] if c["gpu"] == "T4")
    assert (t4_json["seconds_per_request"], t4_json["meets_latency"]) == (10, False)


# --- why nothing is feasible, one rule at a time (summarize_rejections) ---


def schnell_measured(fleet_dir, seconds: str):
    """flux-schnell's choice under flat speeds with these measured seconds per GPU."""
    edit(
        fleet_dir / "models.yaml",
        SCHNELL_TRAFFIC,
        f"traffic: {{requests_per_day: 400, seconds_per_request: {seconds}}}",
    )
    fleet = load_fleet(fleet_dir).fleet
    return choose(fleet, fleet.models["flux-schnell"], speed_model="flat")


def test_a_model_too_large_for_every_gpu_names_its_need_and_the_largest_gpu(fleet):
    model = dataclasses.replace(fleet.models["flux-dev"], vram_gb=500.0)
    choice = choose(fleet, model, speed_model="flat")
    assert choice.chosen is None
    assert choice.reason == "no GPU has 500 GB (largest: 192 GB)"  # B200's 192 GB
    assert choice.note_for(choice.candidates[-1]) == "needs 500 GB, has 192 GB"


def test_the_fleets_vram_headroom_is_added_to_the_need_and_a_gpu_of_exactly_that_fits(fleet):
    # flux-dev declares 36 GB; 4 GB of headroom make 40, exactly an A100-40GB's memory.
    roomy = dataclasses.replace(fleet, vram_headroom_gb=4.0)
    model = fleet.models["flux-dev"]
    a100 = evaluate(roomy, model, fleet.catalog.gpus["A100-40GB"], speed_model="flat")
    assert (a100.need_gb, a100.fits, a100.rejections) == (40.0, True, ())
    l4 = evaluate(roomy, model, fleet.catalog.gpus["L4"], speed_model="flat")
    assert l4.rejections == ("needs 40 GB, has 24 GB",)


def test_no_gpu_large_enough_for_its_dtype_names_the_dtype_rule(fleet):
    # fp8 flux-dev on the T4 (too small) and the A100-40GB (large enough, no fp8).
    model = dataclasses.replace(fleet.models["flux-dev"], quantization={"transformer": "fp8"})
    gpus = ("T4", "A100-40GB")
    candidates = tuple(evaluate(fleet, model, fleet.catalog.gpus[n], "flat") for n in gpus)
    assert summarize_rejections(candidates, 30) == (
        "no GPU large enough supports its dtype (fp8 quantization (transformer) needs an fp8 GPU)"
    )


def test_no_seconds_figure_on_any_gpu_large_enough(fleet):
    model = fleet.models["lora"]
    untimed = tuple(
        dataclasses.replace(
            evaluate(fleet, model, fleet.catalog.gpus[n], speed_model="flat"), seconds=None
        )
        for n in ("T4", "L4")
    )
    assert summarize_rejections(untimed, 30) == "no seconds per request for any GPU large enough"
    assert summarize_rejections((), 30) == "the catalog has no GPU"


def test_measured_seconds_over_the_target_name_the_fastest_gpu(fleet_dir):
    schnell = schnell_measured(fleet_dir, "{L40S: 7, H100: 6, default: 10}")
    assert schnell.chosen is None
    assert schnell.reason == (
        "no GPU large enough meets the latency target: the fastest, H100, takes 6 s (measured)"
    )
    h100 = next(c for c in schnell.candidates if c.gpu.name == "H100")
    assert (h100.meets_latency, h100.rejections) == (False, ("6 s measured > 5 s latency target",))


def test_a_model_without_traffic_compares_gpus_per_request(result):
    # seedvr2 has no traffic: the L4 costs 10 s x ($0.000222 - $0.000164) = $0.00058 more a request.
    seedvr2 = choice_of(result, "seedvr2")
    l4 = next(c for c in seedvr2.candidates if c.gpu.name == "L4")
    assert seedvr2.note_for(l4) == "feasible, $0.00058/request more than T4"
    assert (l4.cost_per_request, l4.daily) == (D("0.00222"), D("0"))
    assert seedvr2.reason == ""


def test_an_unknown_objective_is_refused_by_name(fleet):
    from modalfleet.economics.cost import CostError

    with pytest.raises(
        CostError, match="^unknown objective 'latency'; the only objective is 'cost'$"
    ):
        optimize(fleet, objective="latency")


def test_relative_speeds_make_the_optimization_an_estimate(fleet, result):
    assert result.is_estimate is False
    assert optimize(fleet, speed_model="relative").is_estimate is True


def test_a_gpu_without_a_seconds_figure_is_ruled_out_and_does_not_meet_the_target(fleet_dir):
    # Measured on the L40S only, no default: no figure for any other GPU.
    schnell = schnell_measured(fleet_dir, "{L40S: 3}")
    t4 = schnell.candidates[0]
    assert (t4.gpu.name, t4.fits, t4.seconds, t4.meets_latency) == ("T4", True, None, False)
    assert (t4.cost_per_request, t4.daily) == (None, None)
    assert t4.rejections == ("no seconds per request for this GPU",)
    assert schnell.chosen.gpu.name == "L40S"
    assert schnell.chosen.daily == D("0.6504")  # 400 x 3 s x $0.000542


def test_with_no_feasible_model_the_optimum_is_zero_dollars(fleet):
    huge = {name: dataclasses.replace(model, vram_gb=500.0) for name, model in fleet.models.items()}
    found = optimize(dataclasses.replace(fleet, models=huge))
    assert found.objective == "cost"
    assert all(choice.chosen is None for choice in found.choices)
    assert found.optimum_daily == D(0)
    for gap in found.gaps:
        assert isinstance(gap.optimum_daily, D) and gap.optimum_daily == D(0)
        assert isinstance(gap.daily, D) and gap.daily == D(0)
        assert gap.left_out == tuple(fleet.models)


def test_relative_speeds_scale_the_reference_gpus_seconds_by_throughput(fleet):
    # Every model's baseline GPU is the L40S, 10 s a request; --speed-model relative scales that
    # by the datasheet ratio: on the B200 10 x 362 / 2250 s, at $0.001736/s the cheapest request.
    found = optimize(fleet, speed_model="relative")
    assert found.speed_model == "relative"
    b200 = D(10) * D(362) / D(2250)
    lora = choice_of(found, "lora")
    assert (lora.chosen.gpu.name, lora.chosen.seconds.source) == ("B200", "estimate")
    assert lora.chosen.seconds.value == b200
    assert lora.chosen.daily == 100 * b200 * D("0.001736")
    optimum = (400 + 300 + 200 + 100) * b200 * D("0.001736")  # the sum, to its last digits
    assert round(found.optimum_daily, 9) == round(optimum, 9)
    gaps = {g.strategy: g for g in found.gaps}
    assert gaps["baseline"].daily == D("5.42")  # the reference GPU itself: the flat 10 s
    # hybrid: flux-schnell and lora on the T4 (10 x 362 / 65 s), instantid on the A10
    # (10 x 362 / 70 s), flux-dev on the L40S (10 s).
    t4, a10 = D(3620) / D(65), D(3620) / D(70)
    hybrid = 500 * t4 * D("0.000164") + 300 * 10 * D("0.000542") + 200 * a10 * D("0.000306")
    assert round(gaps["hybrid"].daily, 6) == round(hybrid, 6)


def test_seconds_exactly_at_the_target_meet_it(fleet_dir):
    schnell = schnell_measured(fleet_dir, "{L40S: 5, default: 10}")
    l40s = next(c for c in schnell.candidates if c.gpu.name == "L40S")
    assert (l40s.meets_latency, l40s.feasible) == (True, True)
    assert schnell.chosen.gpu.name == "L40S"


def test_every_rejection_of_a_candidate_is_named(fleet):
    model = dataclasses.replace(
        fleet.models["flux-dev"], quantization={"transformer": "fp8", "text_encoder_2": "fp8"}
    )
    choice = choose(fleet, model, speed_model="flat")
    assert choice.note_for(choice.candidates[0]) == (
        "needs 36 GB, has 16 GB; fp8 quantization (text_encoder_2, transformer) needs an fp8 GPU"
    )
