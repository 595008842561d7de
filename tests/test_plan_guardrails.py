"""plan's guardrails on the simulated bill after the change: --fail-on-missed-target,
--max-monthly USD, --max-increase PCT. Each trips past its boundary and not at it; a tripped
guardrail exits 1 and the markdown comment names it and by how much."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from conftest import REPO, run_cli

from modalfleet.economics.guardrails import Guardrails, check, check_all
from modalfleet.economics.plan import Plan, Row, Side, format_markdown, format_text, to_json
from modalfleet.fleet.spec import ContainerPolicy

POLICY = ContainerPolicy(
    min_containers=0, max_containers=10, scaledown_window_s=300, timeout_s=600, max_inputs=1
)


def side(simulated_daily: str, meets: bool | None = True, p95: float | None = 4.0) -> Side:
    return Side(
        gpus=("T4",),
        need_gb=12.0,
        smallest_vram_gb=16.0,
        containers=POLICY,
        daily=D("1"),
        seconds_source="flat",
        simulated_daily=D(simulated_daily),
        latency_p95_s=p95,
        latency_target_s=5.0,
        meets_target=meets,
        service_source="measured",
    )


def plan_of(*rows: Row) -> Plan:
    return Plan("hybrid", "main", "working tree", rows, "flat")


# $30/day -> $35/day: $900.00 -> $1050.00 a month, +16.7% (16.666...%).
RISE = plan_of(Row("flux", side("30"), side("35")))


def test_max_monthly_trips_above_the_limit_and_not_at_it():
    assert check(RISE, Guardrails(max_monthly=D("1050"))) == []
    assert check(RISE, Guardrails(max_monthly=D("1050.01"))) == []
    (trip,) = check(RISE, Guardrails(max_monthly=D("1049.99")))
    assert trip.strategy == "hybrid" and trip.guardrail == "--max-monthly 1049.99"
    assert trip.message == (
        "the simulated bill after the change is $1050.00/month, $0.01 over the $1049.99 limit "
        "(ESTIMATE)"
    )


def test_max_monthly_compares_the_bill_to_the_cent_as_shown():
    # $35.0001/day is $1050.003/month, shown as $1050.00: a $1050 limit holds.
    plan = plan_of(Row("flux", side("30"), side("35.0001")))
    assert check(plan, Guardrails(max_monthly=D("1050"))) == []
    plan = plan_of(Row("flux", side("30"), side("35.0002")))  # $1050.006: shown $1050.01
    assert [t.guardrail for t in check(plan, Guardrails(max_monthly=D("1050")))] == [
        "--max-monthly 1050"
    ]


def test_max_increase_trips_above_the_percentage_and_not_at_it():
    assert check(RISE, Guardrails(max_increase_pct=D("16.7"))) == []
    (trip,) = check(RISE, Guardrails(max_increase_pct=D("16.6")))
    assert trip.guardrail == "--max-increase 16.6"
    assert trip.message == (
        "the simulated bill rises from $900.00 to $1050.00/month (+16.7%, 0.1% over the 16.6% "
        "limit) (ESTIMATE)"
    )
    assert check(RISE, Guardrails(max_increase_pct=D("0")))  # any rise trips a 0% limit


def test_max_increase_ignores_a_fall_and_trips_on_any_rise_from_nothing():
    fall = plan_of(Row("flux", side("35"), side("30")))
    assert check(fall, Guardrails(max_increase_pct=D("0"))) == []
    new = plan_of(Row("flux", None, side("1")))
    (trip,) = check(new, Guardrails(max_increase_pct=D("1000")))
    assert trip.message == (
        "the simulated bill rises from $0.00 to $30.00/month (from $0.00, over the 1000.0% "
        "limit) (ESTIMATE)"
    )


def test_max_increase_compares_the_percentage_to_one_decimal_as_shown():
    # +16.666...% shows as +16.7%: a 16.68% limit is below the figure on screen, so it trips.
    (trip,) = check(RISE, Guardrails(max_increase_pct=D("16.68")))
    assert trip.strategy == "hybrid" and trip.guardrail == "--max-increase 16.68"
    assert "(+16.7%, 0.0% over the 16.7% limit)" in trip.message


def test_a_bill_shown_as_nothing_counts_as_nothing():
    # $0.0001/day is $0.003/month, shown as $0.00: the rise to $30.00 is a rise from $0.00.
    plan = plan_of(Row("flux", side("0.0001"), side("1")))
    (trip,) = check(plan, Guardrails(max_increase_pct=D("1000")))
    assert trip.message == (
        "the simulated bill rises from $0.00 to $30.00/month (from $0.00, over the 1000.0% "
        "limit) (ESTIMATE)"
    )
    # $0.0001/day before and after ($0.00 a month both): no rise, not "a rise from $0.00".
    same = plan_of(Row("flux", side("0.0001"), side("0.0001")))
    assert check(same, Guardrails(max_increase_pct=D("0"))) == []
    idle = plan_of(Row("flux", side("0"), side("0")))
    assert check(idle, Guardrails(max_increase_pct=D("0"))) == []


def test_fail_on_missed_target_names_each_miss_and_by_how_much():
    met = plan_of(Row("flux", side("30"), side("35", meets=True, p95=5.0)))
    assert check(met, Guardrails(fail_on_missed_target=True)) == []
    idle = plan_of(Row("wan", side("0"), side("0", meets=None, p95=None)))
    assert check(idle, Guardrails(fail_on_missed_target=True)) == []
    missed = plan_of(
        Row("flux", side("30"), side("35", meets=False, p95=7.25)),
        Row("wan", side("0"), side("0", meets=None, p95=None)),
    )
    assert check(missed, Guardrails()) == []  # off unless asked
    (trip,) = check(missed, Guardrails(fail_on_missed_target=True))
    assert trip.guardrail == "--fail-on-missed-target"
    assert trip.message == (
        "simulated p95 after the change: flux 7.2 s over its 5 s target by 2.2 s (ESTIMATE)"
    )
    both = plan_of(
        Row("flux", side("30"), side("35", meets=False, p95=7.25)),
        Row("sdxl", side("30"), side("35", meets=False, p95=5.5)),
    )
    (trip,) = check(both, Guardrails(fail_on_missed_target=True))
    assert trip.strategy == "hybrid"
    assert trip.message == (
        "simulated p95 after the change: flux 7.2 s over its 5 s target by 2.2 s, "
        "sdxl 5.5 s over its 5 s target by 0.5 s (ESTIMATE)"
    )


def test_a_missed_target_before_the_change_only_does_not_trip():
    fixed = plan_of(Row("flux", side("30", meets=False, p95=9.0), side("35")))
    assert check(fixed, Guardrails(fail_on_missed_target=True)) == []


def test_text_markdown_and_json_name_the_tripped_guardrail():
    trips = check_all([RISE], Guardrails(max_monthly=D("1000"), max_increase_pct=D("10")))
    assert [t.guardrail for t in trips] == ["--max-monthly 1000", "--max-increase 10"]
    text = format_text(RISE, trips).splitlines()
    assert (
        "guardrail --max-monthly 1000 tripped: the simulated bill after the change is "
        "$1050.00/month, $50.00 over the $1000.00 limit (ESTIMATE)"
    ) in text
    markdown = format_markdown(RISE, trips)
    assert (
        "> :x: **guardrail `--max-monthly 1000` tripped**: the simulated bill after the change "
        "is $1050.00/month, $50.00 over the $1000.00 limit (ESTIMATE)"
    ) in markdown
    assert "> :x: **guardrail `--max-increase 10` tripped**: the simulated bill rises from " in (
        markdown
    )
    # The comment's headline still comes first: what the bill does.
    assert markdown.index("**Modal bill") < markdown.index(":x:")
    data = json.loads(to_json(RISE, trips))
    assert data["guardrails_tripped"] == [t.as_dict() for t in trips]
    assert data["guardrails_tripped"][0]["guardrail"] == "--max-monthly 1000"
    assert trips[1].as_dict() == {
        "strategy": "hybrid",
        "guardrail": "--max-increase 10",
        "message": "the simulated bill rises from $900.00 to $1050.00/month (+16.7%, 6.7% over "
        "the 10.0% limit) (ESTIMATE)",
    }


# --- the command ------------------------------------------------------------------------------

PLAN = ("plan", "--strategy", "hybrid", "--from-strategy", "baseline")


@pytest.fixture(scope="module")
def hybrid():
    """hybrid against baseline on the bundled fleet: its simulated monthly bill and misses."""
    data = json.loads(run_cli(*PLAN, "--format", "json", root=REPO).output)
    return data["simulated"]


def test_exit_codes_of_the_guardrails(hybrid):
    month = D(str(hybrid["monthly_after"])).quantize(D("0.01"))
    assert hybrid["missed_target"]  # the document's GPUs miss some targets
    assert run_cli(*PLAN, root=REPO).exit_code == 0
    assert run_cli(*PLAN, "--detailed-exitcode", root=REPO).exit_code == 2  # no guardrail
    tripped = run_cli(*PLAN, "--fail-on-missed-target", root=REPO)
    assert tripped.exit_code == 1
    assert "plan: strategy hybrid: guardrail --fail-on-missed-target tripped" in tripped.stderr
    both = run_cli(*PLAN, "--fail-on-missed-target", "--detailed-exitcode", root=REPO)
    assert both.exit_code == 1  # a guardrail wins over "changes present"
    at = run_cli(*PLAN, "--max-monthly", str(month), "--detailed-exitcode", root=REPO)
    assert at.exit_code == 2, at.text
    over = run_cli(
        *PLAN, "--max-monthly", str(month - D("0.01")), "--format", "markdown", root=REPO
    )
    assert over.exit_code == 1
    assert f"> :x: **guardrail `--max-monthly {month - D('0.01')}` tripped**" in over.output
    assert "$0.01 over the" in over.output
    # hybrid costs less than baseline: no rise, so no increase limit trips.
    assert run_cli(*PLAN, "--max-increase", "0", root=REPO).exit_code == 0
    back = ("plan", "--strategy", "baseline", "--from-strategy", "hybrid")
    assert run_cli(*back, "--max-increase", "0", root=REPO).exit_code == 1


def test_bad_guardrail_values_are_usage_errors():
    for args in (("--max-monthly", "-1"), ("--max-increase", "ten"), ("--max-monthly", "nan")):
        result = run_cli(*PLAN, *args, root=REPO)
        assert result.exit_code == 2, (args, result.text)
        assert "Error: Invalid value for" in result.stderr
        assert result.output == ""
