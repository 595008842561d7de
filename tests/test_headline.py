"""One headline, what Modal bills (issue 23): cost, plan, optimize and spend lead with the
simulated bill per day and per month with each model's p95 against its target; the document's
busy-seconds figure follows on one labelled line and keeps its figures ($3.058, $5.42, 43.6%);
JSON keeps its keys and says "headline": "simulated"."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from conftest import REPO, run_cli

from modalfleet.economics.fleet_simulation import FleetSimulator
from modalfleet.economics.headline import (
    BILL_LABEL,
    BUSY_LABEL,
    TargetCheck,
    change,
    checks_of,
    direction,
    latency_lines,
    missed_advice,
    target_lines,
)
from modalfleet.economics.plan import Plan, Row, Side, format_markdown, format_text, to_json
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.spec import ContainerPolicy
from modalfleet.report.money import usd

BUSY_HYBRID = f"{BUSY_LABEL}: $3.06/day vs baseline $5.42/day: saves $2.36/day (43.6%)"


@pytest.fixture(scope="module")
def hybrid():
    """The simulated bill of hybrid against baseline, computed here from the simulator."""
    fleet = load_fleet(REPO).fleet
    return FleetSimulator(fleet).compare("hybrid", "baseline", "day")


def test_cost_text_leads_with_the_bill_then_the_documents_line(hybrid):
    lines = run_cli("cost", "--strategy", "hybrid", root=REPO).output.splitlines()
    month = hybrid.total * 30
    assert lines[0] == (
        f"{BILL_LABEL}, strategy hybrid: {usd(hybrid.total)}/day, {usd(month)}/month"
    )
    saved = hybrid.baseline_total - hybrid.total
    assert lines[1] == (
        f"  vs baseline {usd(hybrid.baseline_total)}/day: saves {usd(saved)}/day "
        f"({saved / hybrid.baseline_total * 100:.1f}%)"
    )
    missed = [m for m in hybrid.models if m.meets_target is False]
    assert lines[2] == "  p95 MISSED: " + ", ".join(
        f"{m.model} {m.result.latency_p95_s:.1f} s (target {m.latency_target_s:g} s)"
        for m in missed
    )
    busy = lines.index(BUSY_HYBRID)
    assert all(line.startswith("  ") for line in lines[1:busy])  # the bill's details
    # The tables follow in the same order: the simulated one, then the document's.
    simulated = lines.index(
        "Simulated on Modal's autoscaler (30 days of arrivals), per day - ESTIMATE"
    )
    document = lines.index(f"{BUSY_LABEL}: strategy hybrid vs baseline, per day")
    assert busy < simulated < document
    assert "total $3.06/day vs baseline $5.42/day: saves $2.36/day (43.6%)" in lines[document:]


def test_cost_markdown_leads_with_the_bill(hybrid):
    lines = run_cli(
        "cost", "--strategy", "hybrid", "--format", "markdown", root=REPO
    ).output.splitlines()
    assert lines[0] == (
        f"**{BILL_LABEL}, strategy hybrid: {usd(hybrid.total)}/day, "
        f"{usd(hybrid.total * 30)}/month**"
    )
    assert lines[2].startswith(f"- vs baseline {usd(hybrid.baseline_total)}/day: saves ")
    busy = lines.index(BUSY_HYBRID)
    assert all(line.startswith("- ") for line in lines[2 : busy - 1])
    assert lines.index("**total $3.06/day vs baseline $5.42/day: saves $2.36/day (43.6%)**") > busy


def test_cost_json_says_which_figure_leads_and_keeps_the_documents(hybrid):
    data = json.loads(run_cli("cost", "--strategy", "hybrid", "--format", "json", root=REPO).output)
    assert data["headline"] == "simulated"
    assert (data["total"], data["baseline_total"], data["savings_pct"]) == (3.058, 5.42, 43.58)
    assert data["simulated"]["total"] == pytest.approx(float(hybrid.total), abs=1e-9)
    every = json.loads(run_cli("cost", "--all", "--format", "json", root=REPO).output)
    assert [entry["headline"] for entry in every] == ["simulated"] * 4


def test_cost_all_leads_with_each_strategys_bill():
    lines = run_cli("cost", "--all", root=REPO).output.splitlines()
    fleet = load_fleet(REPO).fleet
    simulator = FleetSimulator(fleet)
    assert lines[0].startswith(f"{BILL_LABEL} per strategy")
    for line, name in zip(lines[3:7], fleet.strategies, strict=True):
        daily = simulator.compare(name, "baseline", "day").total
        assert line.split()[:3] == [name, usd(daily), usd(daily * 30)]
    assert any(line.startswith(f"{BUSY_LABEL}: baseline $5.42/day, ") for line in lines[7:12])


def test_plan_json_headline_and_the_documents_figures():
    data = json.loads(
        run_cli(
            "plan",
            "--strategy",
            "hybrid",
            "--from-strategy",
            "baseline",
            "--format",
            "json",
            root=REPO,
        ).output
    )
    assert data["headline"] == "simulated"
    assert data["busy_headline"] == "Daily estimate decreases by $2.36 (-43.6%)"
    assert (data["total_before"], data["total_after"], data["delta_pct"]) == (5.42, 3.058, -43.58)
    before, after = (
        D(str(data["simulated"]["total_before"])),
        D(str(data["simulated"]["total_after"])),
    )
    share = (after - before) / before * 100
    assert data["headline_text"] == (
        f"{BILL_LABEL} decreases by {usd(before - after)}/day ({share:.1f}%), "
        f"{usd((after - before) * 30, sign=True)}/month"
    )


def _side(busy: str, bill: str) -> Side:
    return Side(
        gpus=("L4",),
        need_gb=12.0,
        smallest_vram_gb=24.0,
        containers=ContainerPolicy(0, 10, 300, 600, 1),
        daily=D(busy),
        seconds_source="measured",
        simulated_daily=D(bill),
        latency_p95_s=4.0,
        latency_target_s=5.0,
        meets_target=True,
        service_source="measured",
    )


def test_a_change_whose_busy_seconds_fall_while_the_bill_rises_reads_as_a_rise():
    # What optimize --write did to hybrid: less GPU work (a cheaper GPU), a longer idle tail.
    plan = Plan(
        "hybrid", "main", "working tree", (Row("flux", _side("2", "10"), _side("1", "12")),), "flat"
    )
    assert plan.delta < 0 and plan.simulated_after > plan.simulated_before
    rise = f"{BILL_LABEL} increases by $2.00/day (+20.0%), +$60.00/month"
    assert plan.headline == rise
    text = format_text(plan).splitlines()
    assert text[1] == rise
    assert text[4] == f"{BUSY_LABEL}: Daily estimate decreases by $1.00 (-50.0%)"
    markdown = format_markdown(plan).splitlines()
    assert markdown[3] == f"**{rise}**"  # the PR comment's headline follows the bill
    data = json.loads(to_json(plan))
    assert (data["headline"], data["headline_text"]) == ("simulated", rise)
    assert data["delta"] == -1.0 and data["simulated"]["delta"] == 2.0


def test_latency_lines_and_what_to_run_when_a_target_is_missed():
    checks = [
        TargetCheck("flux", 7.25, 5.0, False, "flat"),
        TargetCheck("sdxl", 31.0, 30.0, False, "measured"),
        TargetCheck("lora", 28.5, 30.0, True, "estimate"),
        TargetCheck("wan", None, 30.0, None, "flat"),
        TargetCheck("free", 3.0, None, None, "flat"),
    ]
    assert latency_lines(checks) == [
        "p95 MISSED: flux 7.2 s (target 5 s), sdxl 31.0 s (target 30 s)",
        "p95 ok: lora 28.5 s (target 30 s)",
        "p95 without a target: free 3.0 s",
        "no traffic: wan",
    ]
    # optimize for every miss; bench --write only where the seconds are not measured.
    assert missed_advice(checks) == [
        "to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
        "that meets each target)",
        "seconds per request of flux are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them",
    ]
    assert missed_advice(checks, optimized=True) == missed_advice(checks)[1:]
    assert missed_advice(checks[1:]) == missed_advice(checks)[:1]  # sdxl is measured
    assert missed_advice(checks[2:]) == []  # nothing missed: nothing to run


def test_optimize_leads_with_the_bill_of_the_chosen_policies():
    data = json.loads(run_cli("optimize", "--format", "json", root=REPO).output)
    assert data["headline"] == "simulated"
    lines = run_cli("optimize", root=REPO).output.splitlines()
    per_day = D(str(data["policies"]["total_per_day"]))
    assert lines[0] == (
        f"{BILL_LABEL} of the chosen serving policies: {usd(per_day)}/day, "
        f"{usd(per_day * 30)}/month"
    )
    chosen = [m for m in data["policies"]["models"] if m["chosen"] is not None]
    assert lines[1] == (
        f"  for the {len(chosen)} of 6 models with a policy that meets its target "
        "(7 days of arrivals)"
    )
    optimum = D(str(data["optimum_total"]))
    busy = next(i for i, line in enumerate(lines) if line.startswith(BUSY_LABEL))
    assert lines[busy] == (
        f"{BUSY_LABEL}: {usd(optimum)}/day on the cheapest feasible GPU per model "
        f"({usd(optimum * 30)}/month) - ESTIMATE: seconds from compute "
        "(FLOPs / datasheet TFLOPS x calibrated efficiency)"
    )
    assert busy < lines.index(next(line for line in lines if line.startswith("Serving policy")))
    assert lines.index(next(line for line in lines if line.startswith("Cheapest feasible"))) > busy


def test_change_says_saves_costs_more_or_no_change_by_the_sign_of_the_difference():
    assert change(D("10"), D("8"), "day", "baseline") == (
        "vs baseline $10.00/day: saves $2.00/day (20.0%)"
    )
    assert change(D("10"), D("9.5"), "day", "baseline") == (
        "vs baseline $10.00/day: saves $0.50/day (5.0%)"
    )
    assert change(D("10"), D("12.5"), "month", "main") == (
        "vs main $10.00/month: costs $2.50/month more (+25.0%)"
    )
    assert change(D("10"), D("10.25"), "day", "main") == (
        "vs main $10.00/day: costs $0.25/day more (+2.5%)"
    )
    # From nothing there is no percentage to show.
    assert change(D("0"), D("5"), "day", "main") == "vs main $0.00/day: costs $5.00/day more"
    assert change(D("10"), D("10"), "day", "baseline") == "vs baseline $10.00/day: no change"


def test_direction_follows_the_sign_of_a_small_delta():
    assert direction(D("10"), D("10.5"), "Daily estimate") == (
        "Daily estimate increases by $0.50/day (+5.0%)"
    )
    assert direction(D("10"), D("9.5"), "Daily estimate", "month") == (
        "Daily estimate decreases by $0.50/month (-5.0%)"
    )
    assert direction(D("0"), D("2"), "Bill") == "Bill increases by $2.00/day (from $0.00)"
    assert direction(D("3"), D("3"), "Bill") == "Bill is unchanged at $3.00/day"


def test_a_model_without_traffic_has_no_p95_and_each_check_keeps_its_seconds_source(hybrid):
    by_model = {check.model: check for check in checks_of(hybrid.models)}
    # wan2-1 declares requests_per_day: 0 in models.yaml: nothing was simulated.
    assert (by_model["wan2-1"].p95_s, by_model["wan2-1"].meets) == (None, None)
    assert by_model["flux-schnell"].p95_s > 0
    # flux-schnell's seconds come from its compute (no measured figure in models.yaml).
    assert by_model["flux-schnell"].seconds_source == "estimate"


def test_every_line_joins_its_models_with_commas():
    checks = [
        TargetCheck("a", 8.0, 5.0, False, "flat"),
        TargetCheck("b", 9.0, 5.0, False, "estimate"),
        TargetCheck("c", 4.0, 5.0, True, "flat"),
        TargetCheck("d", 3.0, 5.0, True, "flat"),
        TargetCheck("e", 2.0, None, None, "flat"),
        TargetCheck("f", 1.5, None, None, "flat"),
        TargetCheck("g", None, 5.0, None, "flat"),
        TargetCheck("h", None, None, None, "flat"),
    ]
    assert latency_lines(checks) == [
        "p95 MISSED: a 8.0 s (target 5 s), b 9.0 s (target 5 s)",
        "p95 ok: c 4.0 s (target 5 s), d 3.0 s (target 5 s)",
        "p95 without a target: e 2.0 s, f 1.5 s",
        "no traffic: g, h",
    ]
    assert missed_advice(checks, optimized=True) == [
        "seconds per request of a, b are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them"
    ]
    # target_lines: the latency lines, then the advice, optimize's own output without its line.
    assert target_lines(checks, optimized=True) == [
        *latency_lines(checks),
        *missed_advice(checks, optimized=True),
    ]
    assert len(target_lines(checks)) == 6
