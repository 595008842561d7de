"""serving.py and coldstart.py: the policy, the $/s and the cold start the simulation is given.

Values come from the bundled fleet (models.yaml, strategies/, gpus.yaml) or from a copy with
one edit, so every figure below can be checked by hand against those files.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO

from modalfleet.economics.coldstart import ColdStart, cold_start_on
from modalfleet.economics.cost import CostError
from modalfleet.economics.serving import Rate, container_rate, serving_policy
from modalfleet.economics.simulate import ServingPolicy
from modalfleet.economics.speed import speed_on
from modalfleet.fleet.load import load_fleet

D = Decimal


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def edited_fleet(root: Path, file: str, old: str, new: str):
    path = root / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    loaded = load_fleet(root)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def test_flux_schnell_on_its_t4_costs_gpu_plus_cpu_plus_memory_per_second(fleet):
    serving = serving_policy(fleet, "flux-schnell", "hybrid", speed_model="flat")
    # T4 $0.000164/s + 4 cores x $0.0000131 + 40 GiB x $0.00000222 (models.yaml resources,
    # gpus.yaml cpu_memory): 0.000164 + 0.0000524 + 0.0000888 = 0.0003052, exactly.
    assert serving.gpu == "T4"
    assert serving.rate == Rate(gpu=D("0.000164"), cpu=D("0.0000524"), memory=D("0.0000888"))
    assert serving.usd_per_second == D("0.000164") + 4 * D("0.0000131") + 40 * D("0.00000222")
    assert serving.usd_per_second == D("0.0003052")
    # hybrid's containers, no model override; 10 s flat; the cold start tests/test_coldstart.py derives.
    assert serving.policy == ServingPolicy(
        service_time_s=10.0,
        cold_start_s=24.05,  # warm-up: the speed model's 3.67 s step on the T4
        scaledown_window_s=300.0,
        min_containers=0,
        max_containers=10,
        max_inputs=1,
    )
    assert (serving.seconds_source, serving.cold_start_source) == ("flat", "estimate")
    assert serving.is_estimate
    # By default the service time is the compute speed model's T4 estimate (tests/test_speed.py
    # checks its terms), not the flat 10 s; nothing else about the policy changes.
    computed = serving_policy(fleet, "flux-schnell", "hybrid")
    assert computed.seconds_source == "estimate"
    assert computed.policy.service_time_s == float(
        speed_on(fleet.models["flux-schnell"], "T4", fleet.catalog).seconds
    )
    assert computed.policy.service_time_s > 10.0  # 4 steps of a 12B transformer on 65 TFLOPS
    assert dataclasses.replace(computed.policy, service_time_s=10.0) == serving.policy


def test_the_rate_uses_the_rendered_memory_not_the_yaml_figure(fleet):
    # seedvr2 on its A10: $0.000306 + 8 x 0.0000131 + 32 x 0.00000222 = 0.00048184
    assert container_rate(fleet.models["seedvr2"], "A10", fleet.catalog).total == D("0.00048184")
    # defaults' 16 GiB on instantid's L40S: 0.000542 + 0.0000524 + 0.00003552 = 0.00062992
    assert container_rate(fleet.models["instantid"], "L40S", fleet.catalog).total == D("0.00062992")


def test_fractional_memory_is_priced_as_the_mib_modal_reserves(fleet_dir):
    # 10.3 GiB is 10547.2 MiB; Modal takes whole MiB, the template renders 10548, and that is
    # 10548/1024 = 10.30078125 GiB: what is billed (above seedvr2's 9.59 GiB host peak),
    # x 0.00000222 = 0.000022867734375.
    fleet = edited_fleet(
        fleet_dir,
        "models.yaml",
        "resources: {cpu: 8, memory_gb: 32}",
        "resources: {cpu: 8, memory_gb: 10.3}",
    )
    model = fleet.models["seedvr2"]
    assert model.resources.memory_mib == 10548
    assert container_rate(model, "A10", fleet.catalog).memory == D("0.000022867734375")


def test_a_models_containers_override_beats_its_strategys(fleet_dir):
    fleet = edited_fleet(
        fleet_dir,
        "models.yaml",
        "    containers: {timeout_s: 3600}\n",
        "    containers: {timeout_s: 3600, scaledown_window_s: 30, max_inputs: 3, min_containers: 1}\n",
    )
    # performance-optimized: min 0, max 20, scaledown 900; seedvr2 sets three of those four keys.
    serving = serving_policy(fleet, "seedvr2", "performance-optimized")
    assert serving.policy.scaledown_window_s == 30.0
    assert serving.policy.max_inputs == 3
    assert serving.policy.min_containers == 1
    assert serving.policy.max_containers == 20  # not overridden: the strategy's
    # The other models keep the strategy's policy.
    other = serving_policy(fleet, "wan2-1", "performance-optimized").policy
    assert (other.scaledown_window_s, other.max_inputs, other.min_containers) == (900.0, 1, 0)


def test_a_strategys_max_inputs_reaches_the_policy(fleet_dir):
    fleet = edited_fleet(
        fleet_dir,
        "strategies/hybrid.yaml",
        "  timeout_s: 600\n",
        "  timeout_s: 600\n  max_inputs: 2\n",
    )
    assert serving_policy(fleet, "seedvr2", "hybrid").policy.max_inputs == 2


def test_cold_start_from_models_yaml_is_measured_per_gpu_then_flat(fleet_dir):
    fleet = edited_fleet(
        fleet_dir,
        "models.yaml",
        "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28",
        "    resources: {cpu: 4, memory_gb: 40}\n"
        "    cold_start_s: {default: 50, A10G: 41.5}\n"
        "    params: {steps: 28",
    )
    model = fleet.models["flux-dev"]
    assert cold_start_on(model, "A10", fleet.catalog) == ColdStart(41.5, "measured")  # alias
    assert cold_start_on(model, "L40S", fleet.catalog) == ColdStart(50.0, "measured")
    serving = serving_policy(fleet, "flux-dev", "baseline", gpu="A10", speed_model="flat")
    assert (serving.gpu, serving.policy.cold_start_s, serving.cold_start_source) == (
        "A10",
        41.5,
        "measured",
    )
    assert not serving.is_estimate  # flat seconds and a measured cold start


def test_a_chosen_gpu_prices_and_times_that_gpu(fleet):
    serving = serving_policy(fleet, "lora", "hybrid", gpu="a10g")
    # A10 $0.000306 + defaults' 4 cores and 16 GiB: + 0.0000524 + 0.00003552 = 0.00039392
    assert (serving.gpu, serving.usd_per_second) == ("A10", D("0.00039392"))
    # coldstart.py's estimate for lora on that GPU (tests/test_coldstart.py derives it): its
    # warm-up is the speed model's SDXL step on the A10, 0.66 s.
    assert serving.policy.cold_start_s == 11.52


def test_unknown_names_are_cost_errors(fleet):
    with pytest.raises(CostError, match="unknown GPU 'Z9'"):
        serving_policy(fleet, "lora", "hybrid", gpu="Z9")
    with pytest.raises(CostError, match="unknown model 'nope'"):
        serving_policy(fleet, "nope", "hybrid")
    with pytest.raises(CostError, match="unknown strategy 'fastest'"):
        serving_policy(fleet, "lora", "fastest")


def test_a_catalog_without_cpu_memory_prices_bills_the_gpu_alone(fleet_dir):
    fleet = edited_fleet(
        fleet_dir,
        "gpus.yaml",
        'cpu_memory:\n  source: https://modal.com/pricing\n  as_of: "2026-06-27"\n'
        "  usd_per_core_second: 0.0000131     # per physical core\n"
        "  usd_per_gib_second: 0.00000222\n",
        "",
    )
    assert not fleet.catalog.has_cpu_memory_prices
    assert serving_policy(fleet, "flux-schnell", "hybrid").usd_per_second == D("0.000164")


def test_traffic_profile_and_trace_load_into_the_spec(fleet_dir):
    (fleet_dir / "traces").mkdir()
    (fleet_dir / "traces" / "week.txt").write_text("0.5\n61\n")
    fleet = edited_fleet(
        fleet_dir,
        "models.yaml",
        "traffic: {requests_per_day: 300, seconds_per_request: 10}",
        "traffic: {requests_per_day: 300, seconds_per_request: 10, trace: traces/week.txt}",
    )
    fleet = edited_fleet(
        fleet_dir,
        "models.yaml",
        "traffic: {requests_per_day: 200, seconds_per_request: 10}",
        "traffic: {requests_per_day: 200, seconds_per_request: 10, profile: diurnal, peak_to_trough: 4}",
    )
    dev, instantid, lora = (
        fleet.models[name].traffic for name in ("flux-dev", "instantid", "lora")
    )
    # The trace is resolved against the fleet root, not the working directory.
    assert dev.trace == fleet_dir / "traces" / "week.txt" and dev.profile == "poisson"
    assert (instantid.profile, instantid.peak_to_trough, instantid.trace) == ("diurnal", 4.0, None)
    assert (lora.profile, lora.peak_to_trough, lora.trace) == ("poisson", None, None)
