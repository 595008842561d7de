"""The cost model against the seed's cost analysis, to the cent and beyond, and the `cost` command."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO, copy_fleet, run_cli

from modalfleet.economics.cost import (
    Comparison,
    CostError,
    StrategyCost,
    compare,
    gpu_savings_pct,
    idle_cost_per_day,
    measured_seconds,
    per_period,
    reference_gpu,
    seconds_on,
    strategy_cost,
    to_dict,
)
from modalfleet.economics.plan import build_plan, format_markdown, format_text, to_json
from modalfleet.fleet.load import load_fleet
from modalfleet.report.money import usd, usd_rate

D = Decimal
SCHNELL_TRAFFIC = "traffic: {requests_per_day: 400, seconds_per_request: 10}"
SCHNELL_GPU = (
    "gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}"
)


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first occurrence of old (which must exist) in a fleet file."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def daily_by_model(fleet, strategy: str) -> dict[str, Decimal]:
    return {m.model: m.daily for m in strategy_cost(fleet, strategy).models}


def test_baseline_reproduces_the_seed(fleet):
    assert daily_by_model(fleet, "baseline") == {
        "flux-schnell": D("2.168"),
        "flux-dev": D("1.626"),
        "instantid": D("1.084"),
        "lora": D("0.542"),
        "wan2-1": D("0"),
        "seedvr2": D("0"),
    }
    baseline = strategy_cost(fleet, "baseline")
    assert baseline.daily == D("5.42")
    assert per_period(baseline.daily, "month") == D("162.60")


def test_hybrid_reproduces_the_seed(fleet):
    costs = strategy_cost(fleet, "hybrid")
    assert {m.model: (m.gpu, m.daily) for m in costs.models} == {
        "flux-schnell": ("T4", D("0.656")),
        "flux-dev": ("L40S", D("1.626")),
        "instantid": ("A10", D("0.612")),
        "lora": ("T4", D("0.164")),
        "wan2-1": ("L40S", D("0")),
        "seedvr2": ("A10", D("0")),
    }
    comparison = compare(fleet, "hybrid")
    assert comparison.baseline.strategy == "baseline"
    assert comparison.total == D("3.058")
    assert per_period(comparison.current.daily, "month") == D("91.74")
    assert comparison.savings == D("2.362")
    assert round(comparison.savings_pct, 1) == D("43.6")
    # The seed's $91.80 and $70.80 come from rounding the daily total to $3.06 first.
    assert per_period(D("3.06"), "month") == D("91.80")
    assert per_period(D("5.42") - D("3.06"), "month") == D("70.80")


def test_seed_savings_vs_l40s_per_gpu(fleet):
    assert round(gpu_savings_pct(fleet.catalog, "T4"), 1) == D("69.7")
    assert round(gpu_savings_pct(fleet.catalog, "A10"), 1) == D("43.5")
    assert round(gpu_savings_pct(fleet.catalog, "A10G"), 1) == D("43.5")  # alias


def test_cost_per_request_and_display(fleet):
    hybrid = strategy_cost(fleet, "hybrid")
    assert hybrid.get("flux-schnell").cost_per_request == D("0.00164")
    assert hybrid.get("flux-dev").cost_per_request == D("0.00542")
    # Displayed by the one formatter (its table of cases: tests/test_money.py).
    assert usd(sum(m.daily for m in hybrid.models)) == "$3.06"
    assert usd_rate(hybrid.get("flux-dev").cost_per_request) == "$0.00542"


def test_one_warm_l40s_costs_46_83_a_day(fleet):
    assert idle_cost_per_day(fleet.catalog.gpus["L40S"], 1) == D("46.8288")
    assert idle_cost_per_day(fleet.catalog.gpus["T4"], 2) == D("28.3392")


def test_idle_cost_column_from_min_containers(fleet_dir):
    edit(fleet_dir / "strategies" / "hybrid.yaml", "min_containers: 0", "min_containers: 1")
    result = run_cli("cost", "--strategy", "hybrid", "--format", "json", root=fleet_dir)
    assert result.exit_code == 0, result.text
    data = json.loads(result.output)
    idle = {m["model"]: m["idle_cost"] for m in data["models"]}
    assert idle["flux-dev"] == 46.8288  # one warm L40S
    assert idle["flux-schnell"] == 14.1696  # one warm T4: 86400 x 0.000164
    assert data["total"] == 3.058  # usage totals stay the seed's; idle is its own column
    assert data["idle_total"] == pytest.approx(2 * 46.8288 + 2 * 14.1696 + 2 * 26.4384)
    text = run_cli("cost", "--strategy", "hybrid", root=fleet_dir).output
    assert "warm containers (min_containers) add $174.87/day: $177.93/day in all" in text


def test_bundled_hybrid_prices_the_t4_and_shows_the_l4_fallback(fleet):
    """The document's hybrid figures stay the T4's; the L4 fallback is the worst case beside."""
    costs = strategy_cost(fleet, "hybrid")
    schnell, lora = costs.get("flux-schnell"), costs.get("lora")
    assert (schnell.gpus, schnell.daily) == (("T4", "L4"), D("0.656"))  # 400 x 10 s x $0.000164
    assert (schnell.worst_case_gpu, schnell.worst_case_daily) == ("L4", D("0.888"))
    assert (lora.worst_case_gpu, lora.worst_case_daily) == ("L4", D("0.222"))
    assert sum(m.daily for m in costs.models) == D("3.058")


def test_fallback_list_costs_primary_with_worst_case(fleet_dir):
    edit(
        fleet_dir / "models.yaml",
        SCHNELL_GPU,
        SCHNELL_GPU.replace("hybrid: [T4, L4]", "hybrid: [T4, L40S, A10G]"),
    )
    loaded = load_fleet(fleet_dir)
    schnell = strategy_cost(loaded.fleet, "hybrid").get("flux-schnell")
    assert schnell.gpus == ("T4", "L40S", "A10")
    assert schnell.daily == D("0.656")
    assert (schnell.worst_case_gpu, schnell.worst_case_daily) == ("L40S", D("2.168"))
    result = run_cli("cost", "--strategy", "hybrid", root=fleet_dir)
    assert result.exit_code == 0, result.text
    # The busy-seconds table (the document's formula) follows the simulated one: its row is the
    # last flux-schnell row.
    row = [line for line in result.output.splitlines() if line.startswith("flux-schnell")][-1]
    assert "T4, L40S, A10" in row and "$0.66" in row and "$2.17 (L40S)" in row
    assert "WORST CASE $/DAY" in result.output


def test_measured_seconds_win_over_the_flat_figure(fleet_dir):
    edit(
        fleet_dir / "models.yaml",
        SCHNELL_TRAFFIC,
        "traffic: {requests_per_day: 400, seconds_per_request: {T4: 4, A10G: 2.5, default: 10}}",
    )
    fleet = load_fleet(fleet_dir).fleet
    model = fleet.models["flux-schnell"]
    assert seconds_on(model, "T4", fleet.catalog).value == D("4")
    assert seconds_on(model, "A10", fleet.catalog).source == "measured"  # alias A10G -> A10
    assert seconds_on(model, "L40S", fleet.catalog, "flat").source == "flat"
    # The default (compute) estimates where nothing is measured; a measured GPU still wins.
    assert seconds_on(model, "L40S", fleet.catalog).source == "estimate"
    assert seconds_on(model, "T4", fleet.catalog).value == D("4")
    assert strategy_cost(fleet, "hybrid").get("flux-schnell").daily == D("0.2624")  # 400x4xT4
    assert strategy_cost(fleet, "performance-optimized").get("flux-schnell").daily == D("0.306")
    assert strategy_cost(fleet, "baseline").get("flux-schnell").daily == D("2.168")  # flat 10 s
    data = json.loads(
        run_cli("cost", "--strategy", "hybrid", "--format", "json", root=fleet_dir).output
    )
    schnell = data["models"][0]
    assert (schnell["seconds_per_request"], schnell["seconds_source"], schnell["cost"]) == (
        4,
        "measured",
        0.2624,
    )


def test_measured_map_without_default_is_refused_before_costing(fleet_dir):
    # validate refuses it (cost could not price the baseline's L40S), so cost never starts.
    edit(
        fleet_dir / "models.yaml",
        SCHNELL_TRAFFIC,
        "traffic: {requests_per_day: 400, seconds_per_request: {T4: 4}}",
    )
    result = run_cli("cost", "--strategy", "baseline", root=fleet_dir)
    assert result.exit_code == 1
    assert (
        "error[traffic] flux-schnell has no seconds_per_request for L40S (strategy baseline)"
        in result.stderr
    )
    assert "Traceback" not in result.text


def test_relative_speed_model_scales_the_baseline_gpu_and_says_estimate(fleet):
    hybrid = strategy_cost(fleet, "hybrid", speed_model="relative")
    schnell = hybrid.get("flux-schnell")
    # T4: 10 s on the baseline's L40S x (362 / 65) relative throughput.
    assert schnell.seconds.source == "estimate"
    assert schnell.seconds.value == D(10) * D(362) / D(65)
    assert hybrid.get("flux-dev").seconds.source == "flat"  # L40S is its own reference
    assert round(schnell.daily, 4) == D("3.6534")  # 400 x 55.69 s x $0.000164
    for fmt, label in (("text", "ESTIMATE"), ("markdown", "ESTIMATE")):
        result = run_cli(
            "cost", "--strategy", "hybrid", "--speed-model", "relative", "--format", fmt, root=REPO
        )
        assert result.exit_code == 0 and label in result.output
        assert "55.69 estimate" in result.output
    data = json.loads(
        run_cli("cost", "--all", "--speed-model", "relative", "--format", "json", root=REPO).output
    )
    assert all(entry["estimate"] for entry in data)
    assert "ESTIMATE" in run_cli("cost", "--all", "--speed-model", "relative", root=REPO).output


def test_cost_text_table_and_totals():
    result = run_cli("cost", "--strategy", "hybrid", root=REPO)
    assert result.exit_code == 0, result.text
    everything = result.output.splitlines()
    title = (
        "GPU work alone, the Modal GPU requirements document's formula: "
        "strategy hybrid vs baseline, per day"
    )
    lines = everything[everything.index(title) :]  # the busy-seconds table, after the bill
    header = lines[2].split()
    assert header[:5] == ["MODEL", "GPU", "REQ/DAY", "S/REQUEST", "$/REQUEST"]
    assert lines[3].split() == [
        "flux-schnell",
        "T4,",  # its fallback list: the T4 priced, the L4 its worst case (last column)
        "L4",
        "400",
        "10",
        "flat",
        "$0.00164",
        "$0.66",
        "$2.17",
        "-69.7%",
        "$0.00",
        "$0.89",
        "(L4)",
    ]
    assert lines[4].split()[-2:] == ["$0.00", "-"]  # flux-dev: one GPU, no worst case
    assert lines[5].split()[-5:] == ["$0.61", "$1.08", "-43.5%", "$0.00", "-"]
    assert "total $3.06/day vs baseline $5.42/day: saves $2.36/day (43.6%)" in lines
    assert result.stderr == ""  # validation warnings are validate's business

    month = run_cli("cost", "--strategy", "hybrid", "--period", "month", root=REPO).output
    assert "total $91.74/month vs baseline $162.60/month: saves $70.86/month (43.6%)" in month
    base = run_cli("cost", "--strategy", "baseline", root=REPO).output
    assert "total $5.42/day vs baseline $5.42/day: no change" in base


def test_cost_json_contract():
    result = run_cli("cost", "--strategy", "hybrid", "--format", "json", root=REPO)
    data = json.loads(result.output)
    for key in (
        "strategy",
        "baseline",
        "period",
        "models",
        "total",
        "baseline_total",
        "savings",
        "savings_pct",
    ):
        assert key in data
    assert (data["strategy"], data["baseline"], data["period"]) == ("hybrid", "baseline", "day")
    assert (data["total"], data["baseline_total"], data["savings"], data["savings_pct"]) == (
        3.058,
        5.42,
        2.362,
        43.58,
    )
    assert data["models"][0] == {
        "model": "flux-schnell",
        "gpu": "T4",
        "requests_per_day": 400,
        "seconds_per_request": 10,
        "cost_per_request": 0.00164,
        "cost": 0.656,
        "baseline_cost": 2.168,
        "idle_cost": 0,
        "seconds_source": "flat",
        "gpus": ["T4", "L4"],
        "worst_case_gpu": "L4",
        "worst_case_cost": 0.888,  # 400 x 10 s x $0.000222, when every request lands on the L4
    }
    assert (data["models"][1]["worst_case_gpu"], data["models"][1]["worst_case_cost"]) == (
        None,
        None,
    )
    month = json.loads(
        run_cli(
            "cost", "--strategy", "hybrid", "--period", "month", "--format", "json", root=REPO
        ).output
    )
    assert (month["total"], month["baseline_total"], month["savings"]) == (91.74, 162.6, 70.86)


def test_cost_all_side_by_side_and_markdown():
    result = run_cli("cost", "--all", root=REPO)
    assert result.exit_code == 0, result.text
    everything = result.output.splitlines()
    # The simulated bill of each strategy leads, labelled as the estimate it is.
    assert everything[0] == (
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) per strategy (30 days of arrivals)"
    )
    assert everything[2].split() == [
        "STRATEGY",
        "$/DAY",
        "$/MONTH",
        "VS",
        "COMPARE_TO",
        "P95",
        "MISSED",
    ]
    assert [line.split()[0] for line in everything[3:7]] == [
        "baseline",
        "cost-optimized",
        "hybrid",
        "performance-optimized",
    ]
    busy = (
        "GPU work alone, the Modal GPU requirements document's formula: baseline $5.42/day, "
        "cost-optimized $3.06/day, hybrid $3.06/day, performance-optimized $4.24/day"
    )
    assert busy in everything
    # Then the document's busy-seconds figures, side by side.
    start = everything.index(
        "GPU work alone, the Modal GPU requirements document's formula: cost per day by strategy"
    )
    assert everything.index(busy) < start
    lines = everything[start:]
    assert lines[2].split() == [
        "MODEL",
        "BASELINE",
        "COST-OPTIMIZED",
        "HYBRID",
        "PERFORMANCE-OPTIMIZED",
    ]
    assert lines[3].split() == [
        "flux-schnell",
        "L40S",
        "$2.17",
        "T4",
        "$0.66",
        "T4/L4",
        "$0.66",
        "A10",
        "$1.22",
    ]
    total = next(i for i, line in enumerate(lines) if line.startswith("TOTAL"))
    assert lines[total].split() == ["TOTAL", "$5.42", "$3.06", "$3.06", "$4.24"]
    assert lines[total + 1].split() == ["VS", "baseline", "-", "-43.6%", "-43.6%", "-21.8%"]
    assert run_cli("cost", root=REPO).output == result.output  # --all is the default

    md = run_cli("cost", "--strategy", "hybrid", "--format", "markdown", root=REPO).output
    assert (
        "| flux-schnell | T4, L4 | 400 | 10 flat | $0.00164 | $0.66 | $2.17 | -69.7% | $0.00 "
        "| $0.89 (L4) |"
    ) in md
    assert "**total $3.06/day vs baseline $5.42/day: saves $2.36/day (43.6%)**" in md


def test_cost_against_another_baseline():
    data = json.loads(
        run_cli(
            "cost",
            "--strategy",
            "hybrid",
            "--baseline",
            "performance-optimized",
            "--format",
            "json",
            root=REPO,
        ).output
    )
    assert (data["baseline"], data["baseline_total"], data["savings"]) == (
        "performance-optimized",
        4.24,
        1.182,
    )


def test_cost_chart_is_a_reproducible_svg(tmp_path):
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    assert run_cli("cost", "--all", "--chart", str(first), root=REPO).exit_code == 0
    assert run_cli("cost", "--all", "--chart", str(second), root=REPO).exit_code == 0
    svg = first.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    for legend in (
        "baseline ($5.42/day)",
        "hybrid ($3.06/day)",
        "performance-optimized ($4.24/day)",
    ):
        assert legend in svg
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b.svg"]  # no temp file left


def test_cost_chart_into_missing_folder_fails_cleanly(tmp_path):
    result = run_cli("cost", "--all", "--chart", str(tmp_path / "nope" / "c.svg"), root=REPO)
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nope").exists()


def test_cost_chart_into_a_folder_that_refuses_files_names_the_chart_path():
    # sysfs refuses new files, even to root (a chmod'ed folder would not stop root). The error
    # named the temporary .chart-XXXX.svg made beside the target instead of the user's path.
    result = run_cli("cost", "--all", "--chart", "/sys/costs.svg", root=REPO)
    assert result.exit_code == 1
    assert result.stderr == "error: cannot write /sys/costs.svg: Permission denied\n"
    assert result.output == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--strategy", "nope"), 2, "unknown strategy 'nope'"),
        (("--strategy", "hybrid", "--all"), 2, "not both"),
        (("--baseline", "nope"), 2, "unknown strategy 'nope'"),
        (("--period", "year"), 2, "year"),
    ],
)
def test_cost_usage_errors(args, code, message):
    result = run_cli("cost", *args, root=REPO)
    assert result.exit_code == code
    assert message in result.text


def test_cost_of_a_broken_fleet_exits_1_with_problems(fleet_dir):
    edit(fleet_dir / "models.yaml", "requests_per_day: 400", "requests_per_day: lots")
    result = run_cli("cost", "--strategy", "hybrid", root=fleet_dir)
    assert result.exit_code == 1
    assert "models.yaml:" in result.stderr and "Traceback" not in result.text


def test_cost_and_plan_never_import_modal_torch_or_rich():
    import subprocess
    import sys

    code = (
        "import sys; from modalfleet.cli import main; "
        f"main(['cost', '--root', {str(REPO)!r}]); "
        f"main(['plan', '--strategy', 'hybrid', '--from-strategy', 'baseline', '--root', {str(REPO)!r}]); "
        "print(sorted(m for m in ('modal', 'torch', 'rich', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_cost_chart_gets_the_mode_the_umask_gives_a_new_file(tmp_path, umask, mode):
    # The chart was written through mkstemp and came out 0600 whatever the umask.
    old = os.umask(umask)
    try:
        assert (
            run_cli("cost", "--all", "--chart", str(tmp_path / "c.svg"), root=REPO).exit_code == 0
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.svg").stat().st_mode) == mode


def test_cost_chart_over_an_existing_file_keeps_its_mode(tmp_path):
    chart = tmp_path / "c.svg"
    chart.write_text("old")
    chart.chmod(0o640)
    assert run_cli("cost", "--all", "--chart", str(chart), root=REPO).exit_code == 0
    assert stat.S_IMODE(chart.stat().st_mode) == 0o640
    assert chart.read_text().startswith("<?xml")


# --- a fleet without a `baseline` strategy, a model removed between the two sides of a plan, a ref
# whose fleet has check errors, and what `--speed-model relative` says.


RELATIVE_NOTE = (
    "seconds per request: estimate, scaled from each model's baseline GPU by the catalog's "
    "relative throughput (measured figures where given)"
)
FLAT_NOTE = "seconds per request: measured where given, else the model's flat figure"


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
