"""The compute speed model (economics/speed.py): the estimate's terms, its calibration, the chain
measured > estimate > flat, the `speed` command, and the simulation and optimize reading it."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import REPO, run_cli
from test_cost import edit

from modalfleet.economics import speed
from modalfleet.economics.cost import CostError, compare, seconds_on
from modalfleet.economics.flops import request_flops
from modalfleet.economics.optimize import evaluate
from modalfleet.economics.serving import serving_policy
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.spec import Traffic, Weights

DEV = "black-forest-labs/FLUX.1-dev"


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


def row(id_: str, gpu: str, seconds: float, **extra) -> speed.Measurement:
    fields = {
        "source": "https://example.test/a table",
        "repo": DEV,
        "kind": "text-to-image",
        "dtype": "bfloat16",
        "params": {"steps": 28, "width": 1024, "height": 1024, "guidance": 3.5},
    }
    fields.update(extra)
    return speed.Measurement(id=id_, gpu=gpu, seconds=seconds, **fields)


def flops_of(r: speed.Measurement) -> float:
    return request_flops(speed.row_model(r)).total


# --- the estimate's terms -----------------------------------------------------------------------


def test_estimate_is_flops_over_tflops_times_efficiency(fleet):
    model = fleet.models["flux-dev"]
    est = speed.speed_on(model, "H100", fleet.catalog)
    assert est.source == "estimate"
    assert est.tflops == 989  # gpus.yaml, H100 SXM bf16 dense
    expected = request_flops(model).total / (989e12 * est.efficiency)
    assert est.seconds_per_request == pytest.approx(expected, abs=0.005)
    # One step is the denoiser's share: 28 of them plus encoders and decode make the request.
    flops = request_flops(model)
    assert est.step_seconds == pytest.approx(flops.denoiser_step / (989e12 * est.efficiency))
    assert est.step_seconds * 28 < est.seconds_per_request


def test_bf16_runs_as_fp16_on_a_t4_at_its_fp16_rate(fleet):
    est = speed.speed_on(fleet.models["flux-schnell"], "T4", fleet.catalog)
    assert est.tflops == 65  # no bf16 on Turing: the handler runs float16


def test_quantized_denoiser_pays_the_calibrated_factor(fleet):
    """flux-schnell quantizes its transformer to nf4 (factor 1.0, the blog's H100 pair);
    the same model with int8 pays int8's measured factor on the denoiser loop only."""
    model = fleet.models["flux-schnell"]
    plain = speed.speed_on(model, "H100", fleet.catalog)
    int8 = speed.speed_on(
        replace(model, quantization={"transformer": "int8"}), "H100", fleet.catalog
    )
    q = speed.calibration().quantization_factor("int8")
    assert q == pytest.approx(15 / 12, rel=0.01)  # the blog's 15 s int8 vs 12 s bf16, on H100
    flops = request_flops(model)
    loop = flops.denoiser_step * flops.steps
    rate = 989e12 * plain.efficiency
    assert plain.seconds_per_request == pytest.approx(flops.total / rate, abs=0.005)
    assert int8.seconds_per_request == pytest.approx(
        (loop * q + flops.total - loop) / rate, abs=0.005
    )


# --- calibration ----------------------------------------------------------------------------


def test_calibration_recovers_a_known_efficiency_and_factor():
    """Rows built to imply efficiency 0.4 and 0.9 on one kind and GPU: least squares in log
    space gives their geometric mean, 0.6; a pair 1.5x slower on the loop gives factor 1.5."""
    a = row("a", "H100", 1.0)
    b = row("b", "H100", 1.0, source="https://example.test/b table")
    fa = flops_of(a)
    a = replace(a, seconds=fa / (989e12 * 0.4))
    b = replace(b, seconds=fa / (989e12 * 0.9))
    flops = request_flops(speed.row_model(a))
    loop = flops.denoiser_step * flops.steps
    slow = (loop * 1.5 + fa - loop) / fa * a.seconds
    q = row("q", "H100", slow, quantization={"transformer": "nf4"})
    fitted = speed.calibrate([a, b, q])
    assert fitted.efficiency("text-to-image", "hopper") == pytest.approx(0.6, rel=1e-4)
    assert fitted.quantization_factor("nf4") == pytest.approx(1.5, rel=1e-9)
    # No row measured a scheme: it costs nothing extra. An unseen architecture: the average.
    assert fitted.quantization_factor("fp8") == 1.0
    assert fitted.efficiency("text-to-image", "blackwell") == pytest.approx(0.6, rel=1e-4)


def three_rows() -> list[speed.Measurement]:
    """flux-dev on H100 and A100 and SDXL (lora) on H100, built to imply efficiencies 0.3, 0.45
    and 0.2: two kinds on two architectures, the fourth pair unmeasured."""
    sdxl = {"repo": "stabilityai/stable-diffusion-xl-base-1.0", "kind": "lora", "dtype": "float16"}
    sdxl["params"] = {"steps": 25, "width": 1024, "height": 1024, "guidance": 5.0}
    r1 = row("flux-h100", "H100", 1.0)
    r2 = row("flux-a100", "A100", 1.0)
    r3 = row("sdxl-h100", "H100", 1.0, **sdxl)
    r1 = replace(r1, seconds=flops_of(r1) / (989e12 * 0.3))
    r2 = replace(r2, seconds=flops_of(r2) / (312e12 * 0.45))
    r3 = replace(r3, seconds=flops_of(r3) / (989e12 * 0.2))
    return [r1, r2, r3]


def test_kind_and_architecture_effects_multiply():
    """Two kinds on two GPU architectures, one row each except the unmeasured pair: the fit is
    exact on the three rows and predicts the fourth as e(kind) x e(arch) / e(shared)."""
    r1, r2, r3 = three_rows()
    fitted = speed.calibrate([r1, r2, r3])
    assert fitted.efficiency("text-to-image", "hopper") == pytest.approx(0.3, rel=1e-4)
    assert fitted.efficiency("lora", "ampere") == pytest.approx(0.2 * 0.45 / 0.3, rel=1e-4)
    assert fitted.efficiency("instantid", "ampere") == pytest.approx(0.2 * 0.45 / 0.3, rel=1e-4)


def test_every_published_row_is_counted_and_addressed():
    rows = speed.measurements()
    assert len(rows) >= 15
    assert speed.uncounted() == ()
    assert len({r.gpu for r in rows}) >= 4
    assert len({r.kind for r in rows}) >= 3
    for r in rows:
        assert r.source.startswith(("https://", "github:")), r.id
        assert r.seconds > 0


def test_the_shipped_calibration_meets_the_accuracy_target():
    """benchmarks/speed.py's in-sample figures: median |error| <= 25%, none outside 2x."""
    counted = [r for r in speed.measurements() if r not in speed.uncounted()]
    ratios = [speed.estimate_row(r).ratio for r in counted]
    errors = sorted(abs(r - 1) for r in ratios)
    assert errors[len(errors) // 2] <= 0.25
    assert all(0.5 <= r <= 2.0 for r in ratios)


# --- the chain --------------------------------------------------------------------------------


def test_a_measured_figure_beats_the_estimate(fleet_dir):
    edit(
        fleet_dir / "models.yaml",
        "traffic: {requests_per_day: 300, seconds_per_request: 10}",
        "traffic: {requests_per_day: 300, seconds_per_request: {H100: 3.5, default: 10}}",
    )
    fleet = load_fleet(fleet_dir).fleet
    model = fleet.models["flux-dev"]
    measured = speed.speed_on(model, "H100", fleet.catalog)
    assert (measured.source, measured.seconds_per_request) == ("measured", 3.5)
    assert seconds_on(model, "H100", fleet.catalog).value == Decimal("3.5")
    assert seconds_on(model, "A100-80GB", fleet.catalog).source == "estimate"
    # An override describes another request: the measurement does not stand for it.
    assert speed.speed_on(model, "H100", fleet.catalog, {"steps": 14}).source == "estimate"


def test_unknown_architecture_falls_back_to_the_flat_figure(fleet):
    # A model whose weights are no shipped architecture (a repository modalfleet has no config
    # for): the FLOPs are unknown, so its flat figure on every GPU.
    weights = replace(fleet.models["seedvr2"].weights[0], repo="someone/unknown-upscaler")
    model = replace(fleet.models["seedvr2"], weights=(weights,))
    assert request_flops(model) is None
    est = speed.speed_on(model, "A10", fleet.catalog)
    assert (est.source, est.seconds_per_request, est.efficiency) == ("flat", 10.0, None)
    assert seconds_on(model, "A10", fleet.catalog).source == "flat"


def test_a_gpu_without_datasheet_tflops_gets_the_flat_figure(fleet):
    """A catalog that states no TFLOPS for a GPU (an older gpus.yaml): no estimate is made."""
    h100 = replace(fleet.catalog.gpus["H100"], tflops={})
    catalog = replace(fleet.catalog, gpus={**fleet.catalog.gpus, "H100": h100})
    est = speed.speed_on(fleet.models["flux-dev"], "H100", catalog)
    assert (est.source, est.seconds_per_request, est.tflops) == ("flat", 10.0, None)
    assert est.flops_per_request == request_flops(fleet.models["flux-dev"]).total


def test_the_busy_seconds_table_keeps_the_documents_flat_figure(fleet):
    hybrid = compare(fleet, "hybrid", None, "day", "compute")
    assert hybrid.current.daily == Decimal("3.058")
    assert {m.seconds.source for m in hybrid.current.models} == {"flat"}


def test_simulation_and_optimize_use_the_estimate(fleet):
    """flux-schnell's compute: a T4 (65 TFLOPS) is slower than an L40S (362), and the serving
    simulation's service time is the estimate, not the flat 10 s."""
    model = fleet.models["flux-schnell"]
    t4 = evaluate(fleet, model, fleet.catalog.gpus["T4"])
    l40s = evaluate(fleet, model, fleet.catalog.gpus["L40S"])
    assert t4.seconds.source == l40s.seconds.source == "estimate"
    assert t4.seconds.value > 2 * l40s.seconds.value
    serving = serving_policy(fleet, "flux-schnell", "hybrid")
    assert serving.gpu == "T4"
    assert serving.policy.service_time_s == pytest.approx(
        speed.speed_on(model, "T4", fleet.catalog).seconds_per_request, abs=1e-3
    )
    flat = serving_policy(fleet, "flux-schnell", "hybrid", speed_model="flat")
    assert flat.policy.service_time_s == 10.0


# --- the command --------------------------------------------------------------------------------


def test_speed_json_rows_and_keys(fleet):
    out = run_cli("speed", "--model", "flux-dev", "--format", "json", root=REPO)
    assert out.exit_code == 0, out.text
    data = json.loads(out.output)
    assert set(data) == {"model", "params", "gpus"}
    assert data["params"]["steps"] == 28
    # flux-dev needs 36 GB: the 48 GB and larger GPUs, by price
    assert [g["gpu"] for g in data["gpus"]] == [
        "L40S",
        "A100-40GB",
        "A100-80GB",
        "RTX-PRO-6000",
        "H100",
        "H200",
        "B200",
    ]
    h100 = next(g for g in data["gpus"] if g["gpu"] == "H100")
    assert set(h100) == {
        "gpu",
        "seconds_per_request",
        "source",
        "flops_per_request",
        "tflops",
        "efficiency",
    }
    assert h100["source"] == "estimate"
    assert h100["seconds_per_request"] == pytest.approx(
        h100["flops_per_request"] / (h100["tflops"] * 1e12 * h100["efficiency"]), rel=1e-3
    )
    assert {g["source"] for g in data["gpus"]} == {"estimate"}


def test_param_overrides_reach_the_estimate(fleet):
    def seconds(*params: str) -> float:
        args = ["speed", "--model", "flux-dev", "--gpu", "H100", "--format", "json"]
        for p in params:
            args += ["--param", p]
        out = run_cli(*args, root=REPO)
        assert out.exit_code == 0, out.text
        return json.loads(out.output)["gpus"][0]["seconds_per_request"]

    model = fleet.models["flux-dev"]
    eff = speed.speed_on(model, "H100", fleet.catalog).efficiency
    half = request_flops(model, {"steps": 14}).total / (989e12 * eff)
    assert seconds("steps=14") == pytest.approx(half, abs=0.001)
    assert seconds("steps=14") < seconds() * 0.55
    small = request_flops(model, {"width": 512, "height": 512}).total / (989e12 * eff)
    assert seconds("width=512", "height=512") == pytest.approx(small, abs=0.001)


@pytest.mark.parametrize(
    ("param", "named"),
    [("stepz=4", "'stepz'"), ("steps=many", "'steps'"), ("steps", "'steps'")],
)
def test_bad_param_is_a_usage_error_naming_it(param, named):
    out = run_cli("speed", "--model", "flux-dev", "--param", param, root=REPO)
    assert out.exit_code == 2
    assert named in out.stderr
    assert "Traceback" not in out.text


def test_unknown_gpu_or_model_is_a_usage_error():
    out = run_cli("speed", "--model", "flux-dev", "--gpu", "V100", root=REPO)
    assert out.exit_code == 2 and "'V100'" in out.stderr
    out = run_cli("speed", "--model", "flux-deb", root=REPO)
    assert out.exit_code == 2 and "'flux-deb'" in out.stderr


def test_speed_text_marks_estimates_and_fits_80_columns():
    out = run_cli("speed", "--model", "flux-schnell", root=REPO)
    assert out.exit_code == 0, out.text
    lines = out.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    t4 = next(line for line in lines if line.startswith("T4 "))
    assert "ESTIMATE" in t4 and "65" in t4
    assert any(line.startswith("FLOPs per request:") for line in lines)


def test_estimates_round_trip_the_efficiency_definition(fleet):
    """efficiency = exp(c + kind + architecture): the fitted terms give the reported value."""
    fitted = speed.calibration()
    e = fitted.efficiency("text-to-image", "hopper")
    log_e = (
        fitted.intercept
        + fitted.kind_effects["text-to-image"]
        + fitted.architecture_effects["hopper"]
    )
    assert e == pytest.approx(math.exp(log_e))


def test_cached_bills_follow_the_service_time(fleet, tmp_path, monkeypatch):
    """The simulation cache keys on the serving policy, service time included: the flat and the
    compute figure of one model are two entries, and neither reads the other's bill."""
    from modalfleet.economics.fleet_simulation import simulate_model

    monkeypatch.setenv("MODALFLEET_CACHE_DIR", str(tmp_path))
    args = (fleet, "lora", "hybrid")
    flat = simulate_model(*args, horizon_s=86400.0, speed_model="flat")
    computed = simulate_model(*args, horizon_s=86400.0)
    assert flat.serving.policy.service_time_s == 10.0
    assert computed.serving.policy.service_time_s > 10.0
    assert computed.result.busy_seconds == pytest.approx(
        computed.result.requests * computed.serving.policy.service_time_s
    )
    assert flat.result.busy_seconds == flat.result.requests * 10.0
    assert len(list(tmp_path.rglob("*.json"))) == 2
    again = simulate_model(*args, horizon_s=86400.0)  # read back from the cache
    assert again.result.busy_seconds == computed.result.busy_seconds


# --- the terms each function returns, one by one ----------------------------------------------


def test_a_report_reads_as_the_table_its_terms_and_the_formula():
    flops = request_flops(speed.row_model(row("r", "H100", 1.0)))
    parts = (("denoiser loop", 2.8e15), ("text encoders", 1.2e13), ("VAE decode", 5e14))
    flops = replace(flops, parts=parts, denoiser_step=1e14, steps=28)
    rows = (
        speed.SpeedEstimate("T4", 12.3456, "estimate", 3.312e15, 65.0, 0.41234, 0.35678),
        speed.SpeedEstimate("H100", 3.5, "measured", 3.312e15, 989.0, None, 0.1),
        speed.SpeedEstimate("A10", 10.0, "flat", None, None, None, None),
    )
    # "params: ..." is 81 characters: it wraps at 80.
    params = {"steps": 28, "width": 1024, "height": 1024, "guidance": 3.25}
    params["max_sequence_length"] = 512
    report = speed.SpeedReport("flux-dev", params, flops, rows)
    assert speed.format_report(report).splitlines() == [
        "flux-dev: seconds per request",
        "params: steps=28, width=1024, height=1024, guidance=3.25,",
        "max_sequence_length=512",
        "",
        "GPU   S/REQUEST  SOURCE    TFLOPS  EFFICIENCY  S/STEP",
        "T4        12.35  ESTIMATE      65       41.2%   0.357",
        "H100       3.50  measured     989           -   0.100",
        "A10       10.00  flat           -           -       -",
        "",
        "FLOPs per request: 3.31e+15",
        "  denoiser loop: 2.8e+15",
        "  text encoders: 1.2e+13",
        "  VAE decode: 5e+14",
        "ESTIMATE = (denoiser FLOPs x quantization + other FLOPs)",
        "           / (TFLOPS x 1e12 x efficiency)",
        "measured figures (bench --write) win; docs/where-numbers-come-from.md",
    ]
    unknown = speed.format_report(replace(report, flops=None)).splitlines()
    assert unknown[-2:] == [
        "",
        "no shipped architecture config for this model: flat figure on every GPU",
    ]
    assert speed.report_dict(report)["gpus"][0] == {
        "gpu": "T4",
        "seconds_per_request": 12.346,
        "source": "estimate",
        "flops_per_request": 3.312e15,
        "tflops": 65.0,
        "efficiency": 0.4123,
    }
    assert speed.report_dict(report)["gpus"][2]["efficiency"] is None
    assert speed.report_dict(report)["model"] == "flux-dev"


def test_a_measurements_model_declares_its_run_and_nothing_else():
    r = row("q", "H100", 2.0, quantization={"transformer": "nf4"})
    model = speed.row_model(r)
    # What the FLOPs and the estimate read: the run's repository, kind, dtype, params, scheme.
    assert (model.name, model.kind, model.dtype) == ("q", "text-to-image", "bfloat16")
    assert model.weights == (Weights(repo=DEV, revision="", size_gb=0.0, role="pipeline"),)
    assert model.quantization == {"transformer": "nf4"}
    assert model.params == {"steps": 28, "width": 1024, "height": 1024, "guidance": 3.5}
    # Nothing else is declared: no traffic, no VRAM figure, no GPU, no target.
    assert model.traffic == Traffic(requests_per_day=Decimal(0), seconds_per_request=None)
    assert (model.vram_gb, model.latency_target_s, model.gpu) == (0.0, None, {})
    assert (model.description, model.volume, model.secrets, model.python) == ("", "", (), "3.11")


def test_a_param_override_is_the_number_it_spells():
    assert (speed._number("4"), type(speed._number("4"))) == (4, int)
    assert (speed._number("4.0"), type(speed._number("4.0"))) == (4.0, float)
    assert (speed._number("1e3"), type(speed._number("1e3"))) == (1000.0, float)
    assert (speed._number("1E3"), type(speed._number("1E3"))) == (1000.0, float)
    assert speed._number("2.5") == 2.5
    assert (speed._number(7), speed._number(3.5)) == (7, 3.5)
    assert speed._number("many") == "many"


def test_the_data_files_yaml_and_its_shared_kinds():
    assert speed._yaml("gpus: {T4: {tflops: {float16: 65}}}") == {
        "gpus": {"T4": {"tflops": {"float16": 65}}}
    }
    # data/speed_measurements.yaml: InstantID runs SDXL's UNet, as the LoRA rows do.
    fitted = speed.calibrate()
    assert fitted.same_efficiency_as == {"instantid": "lora"}
    assert fitted.efficiency("instantid", "hopper") == fitted.efficiency("lora", "hopper")
    assert fitted.quantization_factor("int8") == pytest.approx(15 / 12, rel=0.01)


def test_an_unfitted_kind_or_architecture_takes_the_least_efficient_one():
    fitted = speed.Calibration(
        intercept=math.log(0.5),
        kind_effects={"lora": math.log(2.0), "text-to-image": math.log(0.8)},
        architecture_effects={},
        quantization_factors={},
        same_efficiency_as={"instantid": "lora"},
    )
    assert fitted.efficiency("lora", "hopper") == pytest.approx(1.0)
    assert fitted.efficiency("instantid", "hopper") == pytest.approx(1.0)
    assert fitted.efficiency("wan", "hopper") == pytest.approx(0.4)
    empty = speed.Calibration(math.log(0.5), {}, {}, {}, {})
    assert empty.efficiency("lora", "hopper") == pytest.approx(0.5)
    assert empty.quantization_factor(None) == empty.quantization_factor("nf4") == 1.0


def test_the_catalogs_gpu_as_the_speed_model_reads_it(fleet):
    t4 = speed.hardware(fleet.catalog.gpus["T4"])
    assert (t4.name, t4.architecture, t4.tflops["float16"], t4.bf16) == ("T4", "turing", 65, False)
    assert speed.run_dtype("bfloat16", t4) == "float16"
    assert speed.run_dtype("float16", t4) == "float16"
    h100 = speed.hardware(fleet.catalog.gpus["H100"])
    assert speed.run_dtype("float32", h100) == "float32"
    assert speed.run_dtype("bfloat16", h100) == "bfloat16"


def test_a_measured_figure_splits_into_steps_by_the_flops(fleet):
    """A measured 3.5 s of an int8 flux-dev: one step is the denoiser's share of the request's
    FLOPs, the loop weighted by int8's factor."""
    model = replace(
        fleet.models["flux-dev"],
        quantization={"transformer": "int8"},
        traffic=replace(fleet.models["flux-dev"].traffic, seconds_by_gpu={"H100": Decimal("3.5")}),
    )
    est = speed.speed_on(model, "H100", fleet.catalog)
    flops = request_flops(model)
    q = speed.calibration().quantization_factor("int8")
    loop = flops.denoiser_step * 28
    assert est.source == "measured" and est.gpu == "H100"
    assert (est.tflops, est.efficiency, est.flops_per_request) == (989, None, flops.total)
    assert est.step_seconds == pytest.approx(
        3.5 * flops.denoiser_step * q / (loop * q + flops.total - loop)
    )
    estimated = speed.speed_on(model, "H100", fleet.catalog, measured=False)
    rate = 989e12 * estimated.efficiency
    assert estimated.step_seconds == pytest.approx(flops.denoiser_step * q / rate)


def test_the_flat_figure_names_its_gpu_and_a_missing_one_is_an_error(fleet):
    weights = replace(fleet.models["seedvr2"].weights[0], repo="someone/unknown-upscaler")
    model = replace(fleet.models["seedvr2"], weights=(weights,))
    est = speed.speed_on(model, "A10", fleet.catalog)
    assert (est.gpu, est.tflops, est.flops_per_request, est.step_seconds) == ("A10", 70, None, None)
    none = replace(model, traffic=replace(model.traffic, seconds_per_request=None))
    with pytest.raises(CostError, match=r"^seedvr2: no seconds per request for A10$"):
        speed.speed_on(none, "A10", fleet.catalog)


def test_an_unmeasured_kind_or_architecture_in_a_fit_takes_the_least_efficient_fitted_one():
    """The ridge term splits what the rows cannot tell apart evenly between kinds and
    architectures, so an unmeasured kind on a measured GPU gets the slowest measured kind there
    (lora on hopper, 0.2), and an unmeasured GPU the slowest measured one (hopper, 0.3)."""
    r1, r2, r3 = three_rows()
    fitted = speed.calibrate([r1, r2, r3])
    assert fitted.efficiency("wan", "hopper") == pytest.approx(0.2, rel=1e-4)
    assert fitted.efficiency("text-to-image", "blackwell") == pytest.approx(0.3, rel=1e-4)
    assert fitted.efficiency("wan", "blackwell") == pytest.approx(0.2, rel=1e-4)
    # An InstantID row counts as its shared kind's (lora): one kind effect, named lora.
    instantid = replace(r3, id="instantid-h100", kind="instantid")
    instantid = replace(instantid, seconds=flops_of(instantid) / (989e12 * 0.25))
    alone = speed.calibrate([instantid])
    assert set(alone.kind_effects) == {"lora"}
    assert alone.efficiency("lora", "hopper") == pytest.approx(0.25, rel=1e-4)


def test_rows_the_fit_cannot_read_are_named_or_left_out():
    unknown = row("z", "H100", 1.0, repo="someone/unknown")
    with pytest.raises(speed.SpeedError, match=r"^z: GPU 'V100' is neither in the catalog nor"):
        speed.calibrate([row("z", "V100", 1.0)])
    with pytest.raises(speed.SpeedError, match=r"^z: no float64 TFLOPS for H100$"):
        speed.calibrate([row("z", "H100", 1.0, dtype="float64")])
    with pytest.raises(speed.SpeedError, match=r"^z: no shipped architecture config for someone/"):
        speed.estimate_row(unknown)
    assert speed.uncounted([row("a", "H100", 1.0), unknown]) == (unknown,)
    # The fit leaves a row without FLOPs out and reads on: the rows after it still count.
    a = row("a", "H100", 1.0)
    a = replace(a, seconds=flops_of(a) / (989e12 * 0.4))
    fitted = speed.calibrate([unknown, a])
    assert fitted.efficiency("text-to-image", "hopper") == pytest.approx(0.4, rel=1e-4)


def test_a_rows_estimate_and_its_terms():
    fitted = speed.Calibration(math.log(0.5), {}, {}, {"nf4": 1.5}, {})
    a = row("a", "H100", 4.0, batch=2)
    est = speed.estimate_row(a, fitted)
    total = flops_of(a)
    assert est.seconds == pytest.approx(2 * total / (989e12 * 0.5))
    assert (est.flops, est.tflops, est.efficiency, est.quantization_factor) == (
        total,
        989,
        pytest.approx(0.5),
        1.0,
    )
    assert est.ratio == pytest.approx(est.seconds / 4.0)
    q = speed.estimate_row(row("q", "H100", 4.0, quantization={"transformer": "nf4"}), fitted)
    assert q.quantization_factor == 1.5


def test_leave_one_out_fits_on_every_other_row():
    rows = speed.measurements()
    first = rows[0]
    held = speed.leave_one_out(first)
    others = speed.calibrate(rows[1:])
    assert held.row == first
    assert held.seconds == pytest.approx(speed.estimate_row(first, others).seconds)
    assert held.seconds != pytest.approx(speed.estimate_row(first).seconds, rel=1e-6)


def test_a_report_applies_the_overrides_to_its_flops(fleet):
    report = speed.speed_report(fleet, "flux-dev", ["H100"], {"steps": "14"})
    assert report.model == "flux-dev"
    assert report.params["steps"] == 14 and report.params["width"] == 1024
    assert report.flops.steps == 14
    assert [r.gpu for r in report.rows] == ["H100"]


def test_a_measured_figure_of_a_model_without_flops_has_no_step(fleet):
    weights = replace(fleet.models["seedvr2"].weights[0], repo="someone/unknown-upscaler")
    model = replace(fleet.models["seedvr2"], weights=(weights,))
    model = replace(model, traffic=replace(model.traffic, seconds_by_gpu={"A10": Decimal("7")}))
    est = speed.speed_on(model, "A10", fleet.catalog)
    assert (est.source, est.seconds_per_request) == ("measured", 7.0)
    assert (est.flops_per_request, est.step_seconds, est.efficiency) == (None, None, None)


def test_a_fit_with_no_unquantized_row_leaves_the_efficiency_at_one():
    q = row("q", "H100", 2.0, quantization={"transformer": "nf4"})
    fitted = speed.calibrate([q])
    assert (fitted.intercept, fitted.kind_effects, fitted.architecture_effects) == (0.0, {}, {})
    assert fitted.efficiency("text-to-image", "hopper") == 1.0
    assert fitted.quantization_factors == {}  # no unquantized run of the same to compare with


def test_params_that_fit_80_columns_stay_on_one_line():
    params = {"steps": 28, "width": 1024, "height": 1024, "guidance": 3.5}
    params["negative"] = "abcdefghi"  # "params: ..." is 75 characters
    report = speed.SpeedReport("m", params, None, ())
    assert speed.format_report(report).splitlines()[1] == (
        "params: steps=28, width=1024, height=1024, guidance=3.5, negative=abcdefghi"
    )


def test_a_report_lists_a_gpu_whose_vram_is_exactly_the_need(fleet):
    # flux-dev declared at 48 GB (no headroom in the bundled fleet): the 48 GB L40S fits it.
    model = replace(fleet.models["flux-dev"], vram_gb=48.0)
    exact = replace(fleet, models={**fleet.models, "flux-dev": model})
    report = speed.speed_report(exact, "flux-dev")
    assert [r.gpu for r in report.rows][:2] == ["L40S", "A100-80GB"]
