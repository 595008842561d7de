"""policy_search.py: Modal's GPU memory snapshot (alpha) as a dimension of the serving-policy
search, only under allow_alpha, with its own cold start; `optimize --allow-alpha --write`."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, copy_fleet, run_cli

from modalfleet.economics.policy_search import (
    Policy,
    describe,
    policy_write,
    search_model,
    snapshot_choices,
)
from modalfleet.economics.speed import speed_on
from modalfleet.fleet.load import load_fleet

# flux-dev's cold starts on an L40S (tests/test_coldstart.py derives the constants): its "cpu"
# snapshot 1 + (3 + 33.73) / 10 + 33.74 x 21.8 / 18 + one denoiser step, a GPU snapshot
# 1 + 3.673 + one step. The step is the speed model's (tests/test_speed.py pins that model):
# 2098.1 TFLOP / 28 steps on the L40S's 362.05 TFLOPS at its calibrated efficiency.
_fleet = load_fleet(REPO).fleet
FLUX_DEV_STEP_S = speed_on(_fleet.models["flux-dev"], "L40S", _fleet.catalog).step_seconds
FLUX_DEV_CPU_S = round(1 + 3.673 + 33.74 * 21.8 / 18 + FLUX_DEV_STEP_S, 2)
FLUX_DEV_GPU_S = round(1 + 3.673 + FLUX_DEV_STEP_S, 2)


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def test_without_allow_alpha_no_policy_takes_a_gpu_snapshot(fleet):
    found = search_model(fleet, fleet.models["flux-dev"], "baseline", days=2)
    assert found.evaluated
    assert {e.policy.gpu_snapshot for e in found.evaluated} == {False}
    colds = {e.sim.serving.policy.cold_start_s for e in found.evaluated if e.policy.gpu == "L40S"}
    assert colds == {FLUX_DEV_CPU_S}


def test_allow_alpha_searches_both_and_a_gpu_snapshot_wins_flux_dev(fleet):
    plain = search_model(fleet, fleet.models["flux-dev"], "baseline", days=2)
    alpha = search_model(fleet, fleet.models["flux-dev"], "baseline", days=2, allow_alpha=True)
    # The grid doubles: every (GPU, max_inputs, min, window) with and without the snapshot.
    assert len(alpha.evaluated) + alpha.pruned == 2 * (len(plain.evaluated) + plain.pruned)
    by_snapshot = {
        e.policy.gpu_snapshot: e.sim.serving.policy.cold_start_s
        for e in alpha.evaluated
        if e.policy.gpu == "L40S"
    }
    assert by_snapshot == {False: FLUX_DEV_CPU_S, True: FLUX_DEV_GPU_S}
    # A 46 s cold start misses the 30 s target unless a container is kept warm; a 5 s one meets
    # it scaling to zero: the snapshot policy is the cheapest that meets the target.
    assert plain.chosen.policy.min_containers >= 1
    assert alpha.chosen.policy.gpu_snapshot is True
    assert alpha.chosen.policy.min_containers == 0
    assert alpha.chosen.cost_per_day < plain.chosen.cost_per_day
    assert alpha.chosen.p95 <= 30


def test_a_model_that_opted_in_is_searched_with_its_snapshot_unless_alpha_allows_both():
    assert snapshot_choices(True, allow_alpha=False) == (True,)
    assert snapshot_choices(True, allow_alpha=True) == (True, False)
    assert snapshot_choices(False, allow_alpha=False) == (False,)


def test_a_strategy_that_opts_in_is_searched_with_the_gpu_snapshot(fleet_dir):
    path = fleet_dir / "strategies" / "hybrid.yaml"
    path.write_text(path.read_text() + "gpu_snapshot: true\n")
    fleet = load_fleet(fleet_dir).fleet
    found = search_model(fleet, fleet.models["flux-dev"], "hybrid", days=2)
    assert {e.policy.gpu_snapshot for e in found.evaluated} == {True}
    on_l40s = {e.sim.serving.policy.cold_start_s for e in found.evaluated if e.policy.gpu == "L40S"}
    assert on_l40s == {FLUX_DEV_GPU_S}


def test_describe_marks_the_gpu_snapshot_alpha():
    assert (
        describe(Policy("L40S", 2, 0, 1, True)) == "L40S, window 2 s, min 0, GPU snapshot (alpha)"
    )
    assert describe(Policy("L40S", 2, 0, 1)) == "L40S, window 2 s, min 0"


def test_policy_write_names_the_models_whose_snapshot_changes(fleet):
    from modalfleet.economics.policy_search import search

    found = search(fleet, "hybrid", 2, allow_alpha=True)
    change = policy_write(fleet, "hybrid", found)
    chosen = {m.model.name for m in found.models if m.chosen and m.chosen.policy.gpu_snapshot}
    written = {m for m, settings in change.containers.items() if "gpu_snapshot" in settings}
    # Every model with traffic: with compute-estimated seconds even flux-schnell's 5 s target
    # is met scaling to zero once a GPU snapshot restores it (RTX-PRO-6000, p95 4.93 s).
    assert written == chosen == {"flux-dev", "flux-schnell", "instantid", "lora"}
    assert all(change.containers[m]["gpu_snapshot"] is True for m in written)
    # Without traffic every policy bills $0: nothing is written for those models.
    assert "wan2-1" not in change.containers and "seedvr2" not in change.containers


def test_optimize_allow_alpha_write_sets_gpu_snapshot_and_renders_it(tmp_path):
    from modalfleet.fleet.resolve import deployment

    root = copy_fleet(tmp_path / "fleet")
    before = (root / "models.yaml").read_text()
    result = run_cli("optimize", "--days", "2", "--allow-alpha", "--write", "hybrid", root=root)
    assert result.exit_code == 0, result.text
    assert "GPU snapshot (alpha)" in result.output
    # The choice is the strategy's: written under its models:, models.yaml untouched by it.
    assert "gpu_snapshot" not in (root / "models.yaml").read_text()
    assert "gpu_snapshot" not in before
    fleet = load_fleet(root).fleet
    opted = sorted(name for name in fleet.models if deployment(fleet, "hybrid", name).gpu_snapshot)
    # The four models with traffic meet their targets scaling to zero only with it.
    assert opted == ["flux-dev", "flux-schnell", "instantid", "lora"]
    assert not any(deployment(fleet, "baseline", name).gpu_snapshot for name in fleet.models)
    hybrid = (root / "strategies" / "hybrid.yaml").read_text()
    assert hybrid.count("gpu_snapshot: true") == 4
    assert "gpu_snapshot true (alpha)" in result.stderr
    assert run_cli("render", root=root).exit_code == 0
    module = (root / "generated" / "hybrid" / "flux_dev.py").read_text()
    assert 'experimental_options={"enable_gpu_snapshot": True},' in module
    assert 'SNAPSHOT = "gpu"' in module
    assert "enable_gpu_snapshot" not in (root / "generated" / "hybrid" / "wan2_1.py").read_text()
    baseline = (root / "generated" / "baseline" / "flux_dev.py").read_text()
    assert "enable_gpu_snapshot" not in baseline and 'SNAPSHOT = "cpu"' in baseline


def test_optimize_without_allow_alpha_never_writes_a_snapshot(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    result = run_cli("optimize", "--days", "2", "--write", "hybrid", root=root)
    assert result.exit_code == 0, result.text
    assert "gpu_snapshot" not in (root / "models.yaml").read_text()
    assert "GPU snapshot (alpha)" not in result.output


def test_optimize_json_says_alpha_and_each_policys_cold_start():
    result = run_cli("optimize", "--days", "2", "--allow-alpha", "--format", "json")
    assert result.exit_code == 0, result.text
    policies = json.loads(result.output)["policies"]
    assert policies["allow_alpha"] is True
    flux_dev = next(m for m in policies["models"] if m["model"] == "flux-dev")
    assert flux_dev["chosen"]["gpu_snapshot"] is True
    # A GPU snapshot's cold start on the chosen GPU: start 1 s + restore 3.673 s + one step
    # there, each term shown to the hundredth as the estimate's terms are.
    fleet = load_fleet(REPO).fleet
    gpu = flux_dev["chosen"]["gpu"]
    step = speed_on(fleet.models["flux-dev"], gpu, fleet.catalog).step_seconds
    assert flux_dev["chosen"]["cold_start_s"] == round(1 + round(3.673, 2) + round(step, 2), 2)


def test_the_frontier_is_every_non_dominated_cost_and_p95(fleet):
    found = search_model(fleet, fleet.models["instantid"], "hybrid", days=2)
    points = {(e.cost_per_day, e.p95) for e in found.evaluated}
    # Independently: a (cost, p95) is on the frontier when no other is as cheap and as fast.
    expected = {
        (cost, p95)
        for cost, p95 in points
        if not any(c <= cost and p <= p95 and (c, p) != (cost, p95) for c, p in points)
    }
    assert len(expected) >= 2  # a real trade-off: the cheapest is not the fastest
    assert {(e.cost_per_day, e.p95) for e in found.frontier} == expected
    assert len(found.frontier) == len(expected)  # one policy per point, the first found
    costs = [e.cost_per_day for e in found.frontier]
    assert costs == sorted(costs)


def test_a_model_no_gpu_can_run_is_never_simulated(fleet_dir):
    path = fleet_dir / "models.yaml"
    text = path.read_text()
    path.write_text(text.replace("    vram_gb: 36\n", "    vram_gb: 500\n", 1))
    fleet = load_fleet(fleet_dir).fleet
    found = search_model(fleet, fleet.models["flux-dev"], "hybrid", days=2)
    assert (found.evaluated, found.chosen, found.pruned) == ((), None, 0)
    catalog = fleet.catalog.by_price()
    assert len(found.ruled_out) == len(catalog)
    assert found.ruled_out[0] == "T4: needs 500 GB, has 16 GB"
    assert found.binding == "no GPU can run it: " + "; ".join(found.ruled_out)


def test_the_search_grid_is_pinned():
    from modalfleet.economics import policy_search

    assert policy_search.WINDOWS_S == (2, 15, 60, 120, 300, 600, 1200)
    assert policy_search.MIN_CONTAINERS == (0, 1, 2, 3)
    assert policy_search.SEARCH_DAYS == 7


def test_pruning_skips_only_rows_whose_floor_already_costs_more(fleet):
    from decimal import Decimal

    from modalfleet.economics.serving import arrivals_for, serving_policy

    model = fleet.models["lora"]
    days = 2
    pruned = search_model(fleet, model, "hybrid", days=days)
    full = search_model(fleet, model, "hybrid", days=days, prune=False)
    gpus = sorted({e.policy.gpu for e in full.evaluated})
    # The whole grid: every GPU that can run it x max_inputs 1 x min 0-3 x seven windows.
    assert len(full.evaluated) == len(gpus) * 4 * 7 and full.pruned == 0
    assert len(pruned.evaluated) + pruned.pruned == len(full.evaluated)
    assert pruned.pruned > 0
    assert pruned.chosen.cost_per_day == full.chosen.cost_per_day
    # Every skipped (GPU, min) row: its floor (the requests' busy seconds, or min containers
    # all the horizon) at the GPU's $/s already costs at least the best policy found.
    busy = Decimal(len(arrivals_for(fleet, "lora", days * 86400)))
    simulated = {(e.policy.gpu, e.policy.min_containers) for e in pruned.evaluated}
    for gpu in gpus:
        rate = serving_policy(fleet, "lora", "hybrid", gpu=gpu).usd_per_second
        for low in (0, 1, 2, 3):
            if (gpu, low) in simulated:
                continue
            floor = max(busy * 10, Decimal(low * days * 86400))
            assert floor * rate / days >= pruned.chosen.cost_per_day, (gpu, low)


@pytest.fixture
def hybrid(fleet):
    # Per test: mutation testing credits a module fixture's calls to its first test only.
    from modalfleet.economics.policy_search import search

    return search(fleet, "hybrid", 2, speed_model="flat")


def by_model(found, name: str):
    return next(m for m in found.models if m.model.name == name)


def test_the_binding_constraint_of_each_model_in_one_phrase(hybrid):
    # flux-schnell: its flat 10 s per request can never meet 5 s; warm, its p95 is the 10 s.
    assert by_model(hybrid, "flux-schnell").binding == (
        "no policy meets the 5 s target (best simulated p95 10.0 s)"
    )
    # flux-dev scaling to zero waits for its cold start (FLUX_DEV_CPU_S) + 10 s of work.
    assert by_model(hybrid, "flux-dev").binding == (
        "the 30 s latency target binds: the cheapest policy (L40S, window 2 s, min 0, "
        f"{FLUX_DEV_CPU_S + 10:.1f} s p95) misses it"
    )
    for name in ("instantid", "lora", "wan2-1", "seedvr2"):
        assert by_model(hybrid, name).binding == (
            "nothing binds: the cheapest policy meets the latency target"
        ), name


def test_the_chosen_policies_and_their_sum(hybrid):
    chosen = {m.model.name: m.chosen.policy if m.chosen else None for m in hybrid.models}
    assert chosen == {
        "flux-schnell": None,
        "flux-dev": Policy("L40S", 2, 1, 1),  # one warm container covers the cold start
        "instantid": Policy("T4", 2, 0, 1),
        "lora": Policy("T4", 2, 0, 1),
        "wan2-1": Policy("L4", 2, 0, 1),
        "seedvr2": Policy("T4", 2, 0, 1),
    }
    # The models without traffic bill nothing whatever the policy, and have no p95.
    for name in ("wan2-1", "seedvr2"):
        found = by_model(hybrid, name)
        assert found.chosen.cost_per_day == 0 and found.chosen.p95 is None and found.chosen.meets
    paying = ("flux-dev", "instantid", "lora")
    assert hybrid.total_per_day == sum(by_model(hybrid, n).chosen.cost_per_day for n in paying)
    assert hybrid.total_per_day > 0
    assert hybrid.evaluated == sum(len(by_model(hybrid, n).evaluated) for n in chosen)
    assert hybrid.pruned == sum(by_model(hybrid, n).pruned for n in chosen)
    # Every model has 4 x 7 policies per GPU it can run on; none of flux-schnell's were pruned
    # (nothing met its target, so no bound applied).
    schnell = by_model(hybrid, "flux-schnell")
    assert (len(schnell.evaluated), schnell.pruned) == (10 * 4 * 7, 0)


def test_policy_write_to_the_strategy_searched_moves_only_what_differs(fleet, hybrid):
    # hybrid's primary GPUs (models.yaml): flux-schnell T4, flux-dev L40S, instantid A10, lora T4,
    # wan2-1 L40S, seedvr2 A10; its containers: window 300 s, min 0, max_inputs 1.
    change = policy_write(fleet, "hybrid", hybrid)
    assert change.gpus == {"instantid": "T4", "wan2-1": "L4", "seedvr2": "T4"}
    assert change.containers == {
        "flux-dev": {"scaledown_window_s": 2, "min_containers": 1},
        "instantid": {"scaledown_window_s": 2},
        "lora": {"scaledown_window_s": 2},
    }
    assert change.kept == ("flux-schnell",)
    assert change.new_strategy_containers is None


def test_policy_write_to_a_new_strategy_names_a_gpu_for_every_model(fleet, hybrid):
    change = policy_write(fleet, "tuned", hybrid)
    # flux-schnell keeps its hybrid primary (a new strategy still needs one); the rest take theirs.
    assert change.gpus == {
        "flux-schnell": "T4",
        "flux-dev": "L40S",
        "instantid": "T4",
        "lora": "T4",
        "wan2-1": "L4",
        "seedvr2": "T4",
    }
    assert change.containers == {
        "flux-dev": {"scaledown_window_s": 2, "min_containers": 1},
        "instantid": {"scaledown_window_s": 2},
        "lora": {"scaledown_window_s": 2},
    }
    assert change.kept == ("flux-schnell",)
    # The new file starts from the containers of the strategy searched (strategies/hybrid.yaml).
    assert change.new_strategy_containers == {
        "min_containers": 0,
        "max_containers": 10,
        "scaledown_window_s": 300,
        "timeout_s": 600,
        "max_inputs": 1,
    }


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (1, (1,)),
        (3, (1, 2, 3)),
        (4, (1, 2, 4)),
        (6, (1, 2, 4, 6)),
        (8, (1, 2, 4, 8)),
        (16, (1, 2, 4, 8, 16)),
    ],
)
def test_max_inputs_searched_are_powers_of_two_up_to_what_the_fleet_allows(
    fleet_dir, allowed, expected
):
    from modalfleet.economics.policy_search import max_inputs_choices

    path = fleet_dir / "strategies" / "hybrid.yaml"
    path.write_text(path.read_text() + f"models:\n  seedvr2:\n    max_inputs: {allowed}\n")
    fleet = load_fleet(fleet_dir).fleet
    assert max_inputs_choices(fleet, fleet.models["seedvr2"], "hybrid") == expected


def test_a_model_that_opted_in_is_also_searched_with_its_plain_snapshot(fleet_dir):
    path = fleet_dir / "models.yaml"
    anchor = "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28"
    assert anchor in path.read_text()
    path.write_text(path.read_text().replace(anchor, "    gpu_snapshot: true\n" + anchor, 1))
    fleet = load_fleet(fleet_dir).fleet
    found = search_model(
        fleet, fleet.models["flux-dev"], "hybrid", days=2, allow_alpha=True, speed_model="flat"
    )
    colds = {
        (e.policy.gpu_snapshot, e.sim.serving.policy.cold_start_s)
        for e in found.evaluated
        if e.policy.gpu == "L40S"
    }
    # Without the GPU snapshot the module takes its own plain mode, flux-dev's "cpu".
    assert colds == {(True, FLUX_DEV_GPU_S), (False, FLUX_DEV_CPU_S)}


def test_search_passes_its_seed_to_every_model(fleet):
    import dataclasses

    from modalfleet.economics.policy_search import search

    lora = fleet.models["lora"]
    alone = dataclasses.replace(fleet, models={"lora": lora})
    seeded = search(alone, "hybrid", 2, seed=7, speed_model="flat").models[0]
    direct = search_model(alone, lora, "hybrid", 2, seed=7, speed_model="flat")
    default = search_model(alone, lora, "hybrid", 2, speed_model="flat")
    costs = [e.cost_per_day for e in seeded.evaluated]
    assert costs == [e.cost_per_day for e in direct.evaluated]
    assert costs != [e.cost_per_day for e in default.evaluated]  # another trace, other bills


def test_search_tells_its_progress_before_each_model(fleet):
    import dataclasses

    from modalfleet.economics.policy_search import search

    two = {name: fleet.models[name] for name in ("lora", "wan2-1")}
    told = []
    found = search(
        dataclasses.replace(fleet, models=two),
        "hybrid",
        1,
        speed_model="flat",
        progress=lambda *a: told.append(a),
    )
    assert told == [(0, 2, "lora"), (1, 2, "wan2-1")]
    assert [m.model.name for m in found.models] == ["lora", "wan2-1"]
    assert (found.strategy, found.days, found.allow_alpha) == ("hybrid", 1, False)


def test_describe_names_max_inputs_above_one():
    assert describe(Policy("T4", 60, 1, 2)) == "T4, window 60 s, min 1, max_inputs 2"
    assert describe(Policy("T4", 60, 1, 1)) == "T4, window 60 s, min 1"


def only(fleet, *names):
    import dataclasses

    return dataclasses.replace(fleet, models={name: fleet.models[name] for name in names})


def test_policy_write_to_another_strategy_compares_with_that_strategys_settings(fleet_dir):
    from modalfleet.economics.policy_search import search

    path = fleet_dir / "strategies" / "baseline.yaml"
    path.write_text(path.read_text().replace("scaledown_window_s: 300", "scaledown_window_s: 2"))
    fleet = only(load_fleet(fleet_dir).fleet, "instantid", "lora")
    found = search(fleet, "hybrid", 2, speed_model="flat")
    assert {m.chosen.policy for m in found.models} == {Policy("T4", 2, 0, 1)}
    change = policy_write(fleet, "baseline", found)
    # baseline runs both on the L40S with a 2 s window now: only the GPUs move.
    assert change.gpus == {"instantid": "T4", "lora": "T4"}
    assert change.containers == {}
    assert change.new_strategy_containers is None


def _opt_in_flux_dev(fleet_dir):
    path = fleet_dir / "models.yaml"
    anchor = "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28"
    assert anchor in path.read_text()
    path.write_text(path.read_text().replace(anchor, "    gpu_snapshot: true\n" + anchor, 1))


def test_a_new_strategy_keeps_a_models_own_gpu_snapshot_without_writing_it(fleet_dir):
    from modalfleet.economics.policy_search import search

    _opt_in_flux_dev(fleet_dir)
    fleet = only(load_fleet(fleet_dir).fleet, "flux-dev")
    found = search(fleet, "hybrid", 2, speed_model="flat")
    assert found.models[0].chosen.policy.gpu_snapshot is True
    change = policy_write(fleet, "tuned", found)
    assert "gpu_snapshot" not in change.containers.get("flux-dev", {})


def test_a_strategy_that_opted_in_is_not_written_its_own_gpu_snapshot_again(fleet_dir):
    from modalfleet.economics.policy_search import search

    path = fleet_dir / "strategies" / "hybrid.yaml"
    path.write_text(path.read_text() + "gpu_snapshot: true\n")
    fleet = only(load_fleet(fleet_dir).fleet, "flux-dev")
    found = search(fleet, "hybrid", 2, speed_model="flat")
    assert found.models[0].chosen.policy.gpu_snapshot is True
    assert "gpu_snapshot" not in policy_write(fleet, "hybrid", found).containers.get("flux-dev", {})


def test_ruled_out_gpus_name_every_reason_but_latency(fleet):
    import dataclasses

    # flux-schnell's flat 10 s also misses its 5 s target everywhere: not a reason to rule out.
    big = dataclasses.replace(fleet.models["flux-schnell"], vram_gb=500.0)
    assert search_model(fleet, big, "hybrid", days=1, speed_model="flat").ruled_out[0] == (
        "T4: needs 500 GB, has 16 GB"
    )
    fp8 = dataclasses.replace(
        fleet.models["flux-dev"], vram_gb=500.0, quantization={"transformer": "fp8"}
    )
    ruled_out = search_model(fleet, fp8, "hybrid", days=1, speed_model="flat").ruled_out
    assert ruled_out[4] == (
        "A100-40GB: needs 500 GB, has 40 GB; fp8 quantization (transformer) needs an fp8 GPU"
    )


def test_a_gpu_without_a_seconds_figure_is_ruled_out_not_simulated(fleet_dir):
    path = fleet_dir / "models.yaml"
    old = "traffic: {requests_per_day: 400, seconds_per_request: 10}"
    assert old in path.read_text()
    # Measured on its hybrid GPU (the T4) and the L40S only, no default.
    new = "traffic: {requests_per_day: 400, seconds_per_request: {T4: 12, L40S: 3}}"
    path.write_text(path.read_text().replace(old, new, 1))
    fleet = load_fleet(fleet_dir).fleet
    found = search_model(fleet, fleet.models["flux-schnell"], "hybrid", days=1, speed_model="flat")
    # The T4's 12 s miss the 5 s target, but that is for the simulation to show: it runs.
    assert {e.policy.gpu for e in found.evaluated} == {"T4", "L40S"}
    assert found.ruled_out[0] == "L4: no seconds per request for this GPU"
    assert len(found.ruled_out) == len(fleet.catalog.gpus) - 2


def test_each_policy_is_simulated_on_its_own_gpu(fleet):
    found = search_model(
        fleet, fleet.models["lora"], "hybrid", days=1, prune=False, speed_model="flat"
    )
    assert len({e.policy.gpu for e in found.evaluated}) == len(fleet.catalog.gpus)
    for item in found.evaluated:
        assert item.sim.gpu == item.policy.gpu
        rate = fleet.catalog.gpus[item.policy.gpu].usd_per_second
        assert item.sim.serving.rate.gpu == rate


@pytest.mark.parametrize("speed_model", ["flat", "compute"])
def test_pruning_skips_a_row_exactly_when_its_floor_costs_at_least_the_best_so_far(
    fleet_dir, speed_model
):
    from decimal import Decimal

    from modalfleet.economics.serving import arrivals_for, serving_policy

    path = fleet_dir / "strategies" / "hybrid.yaml"
    path.write_text(path.read_text() + "models:\n  lora: {max_inputs: 2, max_containers: 2}\n")
    fleet = load_fleet(fleet_dir).fleet
    model, days = fleet.models["lora"], 1
    full = search_model(fleet, model, "hybrid", days=days, prune=False, speed_model=speed_model)
    pruned = search_model(fleet, model, "hybrid", days=days, speed_model=speed_model)
    gpus = list(dict.fromkeys(e.policy.gpu for e in full.evaluated))
    # The grid per GPU: max_inputs 1 and 2, min 0-2 (no more than max_containers), 7 windows.
    assert len(full.evaluated) == len(gpus) * 2 * 3 * 7 and full.pruned == 0
    rows: dict[tuple, list] = {}  # (GPU, max_inputs, min) -> its policies, in search order
    for item in full.evaluated:
        key = (item.policy.gpu, item.policy.max_inputs, item.policy.min_containers)
        rows.setdefault(key, []).append(item)
    # The bound, worked out here: lora's requests run their seconds on the GPU (a flat 10 s, or
    # the compute estimate) max_inputs at a time, or the warm pool runs the whole horizon; at
    # the GPU's $/s a row whose floor already costs the best policy so far cannot hold a cheaper
    # one.
    busy = Decimal(len(arrivals_for(fleet, "lora", days * 86400)))
    best, skipped = None, set()
    for (gpu, inputs, low), items in rows.items():
        serving = serving_policy(fleet, "lora", "hybrid", gpu=gpu, speed_model=speed_model)
        service = Decimal(str(serving.policy.service_time_s))
        assert service == (10 if speed_model == "flat" else speed_on_seconds(fleet, gpu))
        floor = max(busy * service / inputs, Decimal(low * days * 86400))
        rate = serving.usd_per_second
        if best is not None and floor * rate / days >= best:
            skipped.add((gpu, inputs, low))
            continue
        for item in items:
            if item.meets and (best is None or item.cost_per_day < best):
                best = item.cost_per_day
    simulated = {
        (e.policy.gpu, e.policy.max_inputs, e.policy.min_containers) for e in pruned.evaluated
    }
    assert skipped and set(rows) - simulated == skipped
    assert pruned.pruned == 7 * len(skipped)
    assert pruned.chosen.cost_per_day == best == full.chosen.cost_per_day


def speed_on_seconds(fleet, gpu: str):
    from decimal import Decimal

    from modalfleet.economics.speed import speed_on

    return Decimal(str(speed_on(fleet.models["lora"], gpu, fleet.catalog).seconds))
