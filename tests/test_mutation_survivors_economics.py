"""cost and plan behaviours that mutation testing found unpinned (issue 18): a fleet without a
`baseline` strategy, a model removed between the two sides of a plan, a ref whose fleet has
check errors, and what `--speed-model relative` says."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from decimal import Decimal as D

import pytest
from conftest import REPO, copy_fleet, run_cli
from test_cost import edit

from modalfleet.economics.cost import (
    Comparison,
    CostError,
    StrategyCost,
    compare,
    measured_seconds,
    reference_gpu,
    strategy_cost,
    to_dict,
)
from modalfleet.economics.plan import build_plan, format_markdown, format_text, to_json
from modalfleet.fleet.load import load_fleet
from modalfleet.report.money import usd

RELATIVE_NOTE = (
    "seconds per request: estimate, scaled from each model's baseline GPU by the catalog's "
    "relative throughput (measured figures where given)"
)
FLAT_NOTE = "seconds per request: measured where given, else the model's flat figure"


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


@pytest.fixture(scope="module")
def no_baseline(fleet):
    return dataclasses.replace(
        fleet, strategies={k: v for k, v in fleet.strategies.items() if k != "baseline"}
    )


def test_the_reference_gpu_is_the_baseline_strategys_or_else_the_first_strategys(
    fleet, no_baseline
):
    schnell = fleet.models["flux-schnell"]  # baseline L40S, cost-optimized T4, perf. A10
    assert reference_gpu(fleet, schnell) == "L40S"
    assert reference_gpu(fleet, schnell, "performance-optimized") == "A10"
    assert list(no_baseline.strategies)[0] == "cost-optimized"
    assert reference_gpu(no_baseline, schnell) == "T4"
    assert reference_gpu(no_baseline, schnell, "no-such-strategy") is None
    # baseline wins even when another strategy comes first.
    first = "cost-optimized"
    reordered = dataclasses.replace(
        fleet, strategies={first: fleet.strategies[first], **fleet.strategies}
    )
    assert list(reordered.strategies)[0] == first
    assert reference_gpu(reordered, schnell) == "L40S"
    empty = dataclasses.replace(fleet, strategies={})
    assert reference_gpu(empty, schnell) is None


def test_relative_cost_without_a_baseline_scales_from_the_first_strategy(no_baseline):
    cost = strategy_cost(no_baseline, "performance-optimized", speed_model="relative")
    schnell = cost.get("flux-schnell")
    # 10 s on cost-optimized's T4 x 65 / 70 (T4 and A10 relative throughput).
    assert (schnell.gpu, schnell.seconds.source) == ("A10", "estimate")
    assert schnell.seconds.value == D("9.285714285714285714285714286")
    assert cost.get("flux-dev").seconds == type(schnell.seconds)(D(10), "flat")  # L40S both
    assert cost.has_estimates is True
    flat = strategy_cost(no_baseline, "performance-optimized")
    assert flat.get("flux-schnell").seconds.value == D(10) and flat.has_estimates is False


def test_compare_without_the_strategy_it_compares_to_is_a_cost_error(no_baseline):
    with pytest.raises(CostError) as raised:
        compare(no_baseline, "hybrid")
    assert str(raised.value) == (
        "strategy 'hybrid' compares to 'baseline', which does not exist; "
        "known: cost-optimized, hybrid, performance-optimized"
    )
    against = compare(no_baseline, "hybrid", baseline="performance-optimized")
    assert (against.baseline.strategy, against.total, against.baseline_total) == (
        "performance-optimized",
        D("3.058000"),
        D("4.240000"),
    )


def test_plan_of_a_model_removed_from_the_working_tree(fleet):
    after = dataclasses.replace(
        fleet, models={k: v for k, v in fleet.models.items() if k != "lora"}
    )
    plan = build_plan(fleet, after, "hybrid", "HEAD", "working tree", speed_model="flat")
    row = plan.rows[-1]
    assert (row.model, row.status, row.after, row.delta) == ("lora", "removed", None, D("-0.164"))
    assert row.container_changes() == []
    assert plan.changed is True and plan.by_status("removed") == [row]
    assert (plan.daily_before, plan.daily_after) == (D("3.058"), D("2.894"))
    text = format_text(plan).splitlines()
    assert text[1].startswith("Modal bill (simulated on Modal's autoscaler, ESTIMATE) decreases")
    assert (
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate decreases by $0.16 (-5.4%)"
    ) in text
    bill = usd(row.before.simulated_daily)  # the simulated bill it no longer runs up
    assert next(line for line in text if line.startswith("lora ")).split() == [
        "lora",
        "removed",
        "T4,",
        "L4",
        "(removed)",
        "12/16",
        "GB",
        "fits",
        "(removed)",
        bill,
        "-",
        "-" + bill,
        "(-100.0%)",
        "-",
        "$0.16",
        "-",
        "-$0.16",
        "(-100.0%)",
    ]
    assert text[-2:] == ["models removed: lora", FLAT_NOTE]  # and no "no changes"
    markdown = format_markdown(plan)
    assert (
        f"| lora | removed | T4, L4 (removed) | 12/16 GB fits (removed) | {bill} | - "
        f"| -{bill} (-100.0%) | - | $0.16 | - | -$0.16 (-100.0%) |"
    ) in markdown
    assert "- removed: `lora`" in markdown
    data = json.loads(to_json(plan))
    assert (data["added"], data["removed"], data["delta"]) == ([], ["lora"], -0.164)
    assert data["models"][-1]["after"] is None and data["models"][-1]["before"]["cost"] == 0.164


def test_plan_of_a_model_added_to_the_working_tree(fleet):
    before = dataclasses.replace(
        fleet, models={k: v for k, v in fleet.models.items() if k != "lora"}
    )
    plan = build_plan(before, fleet, "hybrid", "HEAD", "working tree")
    row = next(row for row in plan.rows if row.model == "lora")
    assert (row.status, row.before, row.delta) == ("added", None, D("0.164"))
    text = format_text(plan)
    assert "formula: Daily estimate increases by $0.16 (+5.7%)" in text
    assert "models added: lora" in text and "models removed" not in text
    assert "(new) T4" in text and "(new) 12/16 GB fits" in text


def test_plan_with_relative_seconds_says_estimate(fleet):
    plan = build_plan(fleet, fleet, "hybrid", "HEAD", "working tree", speed_model="relative")
    assert plan.is_estimate is True and plan.changed is False
    text = format_text(plan).splitlines()
    assert (
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate is unchanged at $9.36 (estimate)"
    ) in text
    assert text[-2:] == [RELATIVE_NOTE, "no changes"]
    assert f"- {RELATIVE_NOTE}" in format_markdown(plan)
    flat = build_plan(fleet, fleet, "hybrid", "HEAD", "working tree", speed_model="flat")
    assert flat.is_estimate is False
    assert flat.busy_headline == "Daily estimate is unchanged at $3.06"
    assert format_text(flat).splitlines()[-2:] == [FLAT_NOTE, "no changes"]


def _git(cwd, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_plan_refuses_a_ref_whose_fleet_fails_its_checks(tmp_path):
    # Schema-valid (the fleet loads) but flux-dev does not fit a T4: only validate's checks see it.
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    gpus = "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
    broken = gpus.replace("hybrid: L40S", "hybrid: T4")
    edit(fleet / "models.yaml", gpus, broken)
    _git(fleet, "init", "-q")
    _git(fleet, "add", ".")
    _git(fleet, "commit", "-q", "-m", "flux-dev on a T4")
    edit(fleet / "models.yaml", broken, gpus)
    line = next(
        n
        for n, text in enumerate((fleet / "models.yaml").read_text().splitlines(), 1)
        if gpus in text
    )
    column = 4 + gpus.index("hybrid: L40S") + len("hybrid: ") + 1
    result = run_cli("plan", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    # Only the error: the bundled fleet's two dtype-support warnings do not stop a plan.
    assert result.stderr.splitlines() == [
        "error: the fleet at HEAD has problems:",
        f"models.yaml:{line}:{column}: error[vram-fit] flux-dev needs 36 GB but T4 (strategy hybrid) has 16 GB",
        "  hint: use a GPU with >= 36 GB (L40S 48 GB at $1.95/h, A100-40GB 40 GB at $2.00/h)",
        "1 error(s), 0 warning(s)",
    ]
    # The working tree itself is fine: planned against itself through --from-strategy.
    assert (
        run_cli("plan", "--strategy", "hybrid", "--from-strategy", "hybrid", root=fleet).exit_code
        == 0
    )


def test_cost_json_of_a_fallback_list_gives_the_worst_case_per_period(tmp_path):
    fleet_dir = copy_fleet(tmp_path / "fleet", with_generated=False)
    gpus = "gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}"
    edit(fleet_dir / "models.yaml", gpus, gpus.replace("hybrid: [T4, L4]", "hybrid: [T4, L40S]"))
    fleet = load_fleet(fleet_dir).fleet
    rows = {
        row["model"]: row for row in to_dict(compare(fleet, "hybrid", period="month"))["models"]
    }
    schnell = rows["flux-schnell"]
    # 400 requests x 10 s x $0.000542 (L40S) x 30 days; the primary T4 costs $0.656/day.
    assert (schnell["gpus"], schnell["worst_case_gpu"], schnell["worst_case_cost"]) == (
        ["T4", "L40S"],
        "L40S",
        65.04,
    )
    assert schnell["cost"] == 19.68
    # lora keeps the bundled [T4, L4]: 100 x 10 s x $0.000222 (L4) x 30 days; flux-dev one GPU.
    assert (rows["lora"]["worst_case_gpu"], rows["lora"]["worst_case_cost"]) == ("L4", 6.66)
    assert (rows["flux-dev"]["worst_case_gpu"], rows["flux-dev"]["worst_case_cost"]) == (
        None,
        None,
    )


def test_cost_json_of_a_model_or_a_total_the_baseline_lacks(fleet):
    without_lora = dataclasses.replace(
        fleet, models={k: v for k, v in fleet.models.items() if k != "lora"}
    )
    comparison = Comparison(
        current=strategy_cost(fleet, "hybrid"),
        baseline=strategy_cost(without_lora, "baseline"),
        period="day",
    )
    rows = {row["model"]: row for row in to_dict(comparison)["models"]}
    assert (rows["lora"]["cost"], rows["lora"]["baseline_cost"]) == (0.164, None)
    assert rows["flux-schnell"]["baseline_cost"] == 2.168
    free = Comparison(
        current=strategy_cost(fleet, "hybrid"),
        baseline=StrategyCost("nothing", (), "flat"),
        period="day",
    )
    data = to_dict(free)
    assert (data["baseline_total"], data["savings"], data["savings_pct"]) == (0, -3.058, None)


def test_compare_against_another_strategy_scales_relative_seconds_from_it(fleet):
    comparison = compare(fleet, "hybrid", baseline="performance-optimized", speed_model="relative")
    # flux-schnell: 10 s on performance-optimized's A10 x 70 / 65 on hybrid's T4; the A10 is
    # its own reference (flat). Against baseline the reference would be the L40S.
    current = comparison.current.get("flux-schnell").seconds
    assert (current.value, current.source) == (D("10.76923076923076923076923077"), "estimate")
    assert comparison.baseline.get("flux-schnell").seconds.source == "flat"
    default = compare(fleet, "hybrid", speed_model="relative").current.get("flux-schnell")
    assert default.seconds.value == D("55.69230769230769230769230769")  # 10 x 362 / 65


def test_an_unknown_speed_model_or_model_name(fleet):
    with pytest.raises(CostError) as raised:
        strategy_cost(fleet, "hybrid", speed_model="fast")
    assert str(raised.value) == "unknown speed model 'fast'; use one of compute, flat, relative"
    assert strategy_cost(fleet, "hybrid").get("no-such-model") is None


def test_measured_seconds_are_keyed_by_catalog_name_and_keep_unknown_gpus(fleet):
    schnell = fleet.models["flux-schnell"]
    traffic = dataclasses.replace(
        schnell.traffic, seconds_by_gpu={"a10g": D("7"), "RTX-9999": D("5")}
    )
    model = dataclasses.replace(schnell, traffic=traffic)
    assert measured_seconds(model, fleet.catalog) == {"A10": D("7"), "RTX-9999": D("5")}


def test_a_two_gpu_fallback_list_of_equal_cost_names_the_first_as_worst_case(tmp_path):
    fleet_dir = copy_fleet(tmp_path / "fleet", with_generated=False)
    gpus = "gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}"
    edit(fleet_dir / "models.yaml", gpus, gpus.replace("hybrid: [T4, L4]", "hybrid: [L4, T4]"))
    # 8.2 s x $0.000222 (L4) = 11.1 s x $0.000164 (T4) = $0.0018204 a request.
    edit(
        fleet_dir / "models.yaml",
        "traffic: {requests_per_day: 400, seconds_per_request: 10}",
        "traffic: {requests_per_day: 400, seconds_per_request: {L4: 8.2, T4: 11.1}}",
    )
    edit(fleet_dir / "strategies/hybrid.yaml", "min_containers: 0", "min_containers: 2")
    schnell = strategy_cost(load_fleet(fleet_dir).fleet, "hybrid").get("flux-schnell")
    assert schnell.cost_per_request == D("0.0018204")
    assert (schnell.worst_case_gpu, schnell.worst_case_daily) == ("L4", D("0.72816"))
    assert schnell.min_containers == 2
    assert schnell.idle_daily == 2 * 86400 * D("0.000222")
