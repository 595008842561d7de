"""plan behaviours that mutation testing of economics/plan.py found unpinned (issue 18): the
exact keys and values of `plan --format json`, what the text and markdown say about container
changes, added/removed models and p95 pushed over a target."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal as D

import pytest
from conftest import REPO, copy_fleet
from test_mutation_survivors_economics import _git

from modalfleet.economics.plan import (
    COMMENT_MARKER,
    Plan,
    PlanError,
    Row,
    Side,
    build_plan,
    format_markdown,
    format_plans,
    format_text,
    read_fleet_at,
    sides,
    to_json,
)
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.spec import ContainerPolicy
from modalfleet.report.money import usd

POLICY = {
    "min_containers": 0,
    "max_containers": 10,
    "scaledown_window_s": 300,
    "timeout_s": 600,
    "max_inputs": 1,
}


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


@pytest.fixture(scope="module")
def baseline_to_hybrid(fleet):
    # The document's flat seconds: the figures below are the documented ones.
    return build_plan(
        fleet,
        fleet,
        "hybrid",
        "baseline",
        "hybrid",
        before_strategy="baseline",
        speed_model="flat",
    )


def test_plan_json_has_exactly_these_keys_and_values(baseline_to_hybrid):
    text = to_json(baseline_to_hybrid)
    assert text.startswith('{\n  "strategy": "hybrid",\n  "before": "baseline",\n')  # indent 2
    data = json.loads(text)
    simulated = data.pop("simulated")
    models = data.pop("models")
    # Busy-seconds totals are the documented $5.42 (baseline) and $3.058 (hybrid) a day.
    assert data == {
        "strategy": "hybrid",
        "before": "baseline",
        "after": "hybrid",
        "period": "day",
        "changed": True,
        "headline": "simulated",
        # The bill's sentence, from the simulated totals below (which the speed and cold-start
        # models move); test_headline.py checks how it is written.
        "headline_text": baseline_to_hybrid.headline,
        "busy_headline": "Daily estimate decreases by $2.36 (-43.6%)",
        "estimate": False,
        "total_before": 5.42,
        "total_after": 3.058,
        "delta": -2.362,
        "delta_pct": -43.58,
        "added": [],
        "removed": [],
        "guardrails_tripped": [],
    }
    # The simulated figures (ESTIMATE) under flat seconds: $146.21 and $95.86 a day (the cold
    # starts' warm-up is the speed model's step either way).
    assert sorted(simulated) == [
        "delta",
        "estimate",
        "missed_target",
        "monthly_after",
        "monthly_before",
        "monthly_delta",
        "pushed_over_target",
        "total_after",
        "total_before",
    ]
    missed = [m["model"] for m in models if m["after"]["meets_target"] is False]
    assert simulated["missed_target"] == missed and "flux-schnell" in missed
    assert simulated["monthly_after"] == pytest.approx(simulated["total_after"] * 30)
    assert simulated["estimate"] is True and simulated["pushed_over_target"] == []
    assert round(simulated["total_before"], 2) == 146.21
    assert round(simulated["total_after"], 2) == 95.86
    assert simulated["delta"] == pytest.approx(simulated["total_after"] - simulated["total_before"])
    assert simulated["monthly_delta"] == pytest.approx(simulated["delta"] * 30)
    assert [(m["model"], m["status"]) for m in models] == [
        ("flux-schnell", "changed"),
        ("flux-dev", "unchanged"),
        ("instantid", "changed"),
        ("lora", "changed"),
        ("wan2-1", "unchanged"),
        ("seedvr2", "changed"),
    ]
    schnell = models[0]
    before, after = schnell.pop("before"), schnell.pop("after")
    assert schnell == {
        "model": "flux-schnell",
        "status": "changed",
        "container_changes": [],
        "delta": -1.512,
    }
    simulated_before, simulated_after = before.pop("simulated_cost"), after.pop("simulated_cost")
    p95_before, p95_after = before.pop("latency_p95_s"), after.pop("latency_p95_s")
    # flux-schnell: 4,000 requests x 10 s a day, L40S $0.000542/s before, T4 $0.000164/s after.
    assert before == {
        "gpu": "L40S",
        "gpus": ["L40S"],
        "vram_need_gb": 12.0,
        "vram_gb": 48.0,
        "fits": True,
        "containers": POLICY,
        "cost": 2.168,
        "seconds_source": "flat",
        "latency_target_s": 5,
        "meets_target": False,
    }
    # The T4 priced, the L4 its fallback (models.yaml).
    assert after == {**before, "gpu": "T4", "gpus": ["T4", "L4"], "vram_gb": 16.0, "cost": 0.656}
    # On the T4 it is $23.21/day with a p95 of 34.1 s against its 5 s target (flat 10 s
    # requests; the cold start's warm-up is the speed model's T4 step, 3.67 s).
    assert (round(simulated_after, 2), round(p95_after, 1)) == (23.21, 34.1)
    assert round(simulated_before, 2) == 51.62 and round(p95_before, 1) == 31.0


def test_plan_json_of_an_unchanged_plan_has_a_null_percentage_only_from_zero(fleet):
    same = build_plan(fleet, fleet, "hybrid", "HEAD", "working tree")
    data = json.loads(to_json(same))
    assert (data["changed"], data["delta"], data["delta_pct"]) == (False, 0.0, 0.0)
    assert data["busy_headline"] == "Daily estimate is unchanged at $3.06"
    assert data["headline_text"] == (
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) is unchanged at "
        f"{usd(same.simulated_after)}/day"
    )
    assert data["simulated"]["delta"] == 0.0 and data["simulated"]["monthly_delta"] == 0.0


def _side(daily: str, meets_target: bool | None, p95: float | None = 7.25, **policy) -> Side:
    return Side(
        gpus=("T4", "A10"),
        need_gb=16.0,
        smallest_vram_gb=16.0,
        containers=ContainerPolicy(**{**POLICY, **policy}),
        daily=D(daily),
        seconds_source="flat",
        simulated_daily=D(daily) * 10,
        latency_p95_s=p95,
        latency_target_s=5.0,
        meets_target=meets_target,
    )


def test_an_exact_vram_fit_fits_and_a_fallback_list_shows_every_gpu():
    side = _side("1", True)
    assert side.fits is True and side.vram_text == "16/16 GB fits"
    assert side.gpu_text == "T4, A10"
    short = dataclasses.replace(side, smallest_vram_gb=15.5)
    assert short.fits is False and short.vram_text == "16/15.5 GB DOES NOT FIT"


def test_pushed_over_target_only_when_the_target_was_met_or_unknown_before():
    def row(before, after):
        return Row("m", before, after).pushed_over_target

    met, missed, unknown = _side("1", True), _side("1", False), _side("1", None)
    assert row(met, missed) is True
    assert row(unknown, missed) is True
    assert row(None, missed) is True  # a new model that misses its target
    assert row(missed, missed) is False  # missed already: not this change's doing
    assert row(met, met) is False and row(met, unknown) is False
    assert row(met, None) is False


def _plan(*rows: Row, note: str = "") -> Plan:
    return Plan("hybrid", "HEAD", "working tree", rows, "flat", note)


def test_text_and_markdown_name_container_changes_and_a_target_pushed_over():
    before = _side("1.5", True, p95=3.0)
    after = _side("2", False, p95=7.26, min_containers=1, scaledown_window_s=60)
    plan = _plan(Row("flux", before, after), Row("wan", before, before))
    assert plan.pushed_over_target == [plan.rows[0]]
    assert (plan.simulated_before, plan.simulated_after) == (D("30.0"), D("35"))
    text = format_text(plan).splitlines()
    # The simulated bill leads (10x the busy figure in these sides); the document's figure
    # follows on its one labelled line.
    assert text[:8] == [
        "Plan for strategy hybrid: HEAD -> working tree",
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $5.00/day "
        "(+16.7%), +$150.00/month",
        "  per day $30.00 -> $35.00, per month $900.00 -> $1050.00 (+$150.00)",
        "  p95 MISSED: flux 7.3 s (target 5 s)",
        "  p95 ok: wan 3.0 s (target 5 s)",
        "  to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
        "that meets each target)",
        "  seconds per request of flux are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them",
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate increases by $0.50 (+16.7%)",
    ]
    assert text[9:] == [
        "$/day; BILL: simulated on Modal's autoscaler (ESTIMATE); BUSY: GPU work alone, the "
        "document's formula",
        "MODEL  STATUS     GPU      VRAM NEED/GPU  BILL BEFORE  BILL AFTER      BILL CHANGE  "
        "   P95 AFTER  BUSY BEFORE  BUSY AFTER      BUSY CHANGE",
        "flux   changed    T4, A10  16/16 GB fits       $15.00      $20.00  +$5.00 (+33.3%)  "
        "7.3 s MISSED        $1.50       $2.00  +$0.50 (+33.3%)",
        "wan    unchanged  T4, A10  16/16 GB fits       $15.00      $15.00                -  "
        "    3.0 s ok        $1.50       $1.50                -",
        "",
        "busy-seconds total (the document's formula): per day $3.00 -> $3.50, "
        "per month $90.00 -> $105.00 (+$15.00)",
        "latency: flux's simulated p95 7.3 s is over its 5 s target after this change (ESTIMATE)",
        "containers of flux: min_containers 0 -> 1, scaledown_window_s 300 -> 60",
        "seconds per request: measured where given, else the model's flat figure",
    ]  # and no "no changes"
    markdown = format_markdown(plan).splitlines()
    assert markdown[:16] == [
        COMMENT_MARKER,
        "### modalfleet plan: strategy `hybrid`",
        "",
        "**Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $5.00/day "
        "(+16.7%), +$150.00/month**",
        "",
        "`HEAD` → `working tree`: per day $30.00 → $35.00, per month $900.00 → $1050.00 "
        "(+$150.00).",
        "",
        "- p95 MISSED: flux 7.3 s (target 5 s)",
        "- p95 ok: wan 3.0 s (target 5 s)",
        "- to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
        "that meets each target)",
        "- seconds per request of flux are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them",
        "",
        "GPU work alone, the Modal GPU requirements document's formula: Daily estimate "
        "increases by $0.50 (+16.7%): per day $3.00 → $3.50, per month $90.00 → $105.00 "
        "(+$15.00).",
        "",
        "> :warning: latency: flux's simulated p95 7.3 s is over its 5 s target after this "
        "change (ESTIMATE)",
        "",
    ]
    assert markdown[16:19] == [
        "| Model | Status | GPU | VRAM need/GPU | Bill $/day before | Bill $/day after "
        "| Bill change | p95 after | Busy $/day before | Busy $/day after | Busy change |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        "| flux | changed | T4, A10 | 16/16 GB fits | $15.00 | $20.00 | +$5.00 (+33.3%) "
        "| 7.3 s MISSED | $1.50 | $2.00 | +$0.50 (+33.3%) |",
    ]
    assert markdown[19:] == [
        "",
        "<details><summary>Details</summary>",
        "",
        "- containers of `flux`: min_containers 0 -> 1, scaledown_window_s 300 -> 60",
        "- unchanged: `wan`",
        "- seconds per request: measured where given, else the model's flat figure",
        "",
        "</details>",
    ]
    data = json.loads(to_json(plan))
    assert data["simulated"]["pushed_over_target"] == ["flux"]
    assert data["models"][0]["container_changes"] == [
        "min_containers 0 -> 1",
        "scaledown_window_s 300 -> 60",
    ]
    assert data["models"][0]["after"]["gpus"] == ["T4", "A10"]


def test_markdown_of_an_unchanged_plan_with_a_note():
    side = _side("1", True)
    plan = _plan(Row("wan", side, side), note="strategy 'x' does not exist in HEAD")
    markdown = format_markdown(plan).splitlines()
    assert markdown[10:15] == [
        "",
        "> strategy 'x' does not exist in HEAD",
        "",
        "No changes to strategy `hybrid`.",
        "",
    ]
    text = format_text(plan).splitlines()
    assert text[5] == "note: strategy 'x' does not exist in HEAD"
    assert text[-1] == "no changes"


def test_a_plan_from_nothing_has_no_percentage():
    plan = _plan(Row("wan", None, _side("2", None)))
    assert plan.delta_pct is None
    assert plan.busy_headline == "Daily estimate increases by $2.00 (from $0.00)"
    assert plan.headline == (
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $20.00/day "
        "(from $0.00), +$600.00/month"
    )
    assert format_text(plan).splitlines()[7:] == [
        "wan    added   (new) T4, A10  (new) 16/16 GB fits            -      $20.00      +$20.00  "
        "    7.2 s            -       $2.00       +$2.00",
        "",
        "busy-seconds total (the document's formula): per day $0.00 -> $2.00, "
        "per month $0.00 -> $60.00 (+$60.00)",
        "models added: wan",
        "seconds per request: measured where given, else the model's flat figure",
    ]
    assert json.loads(to_json(plan))["delta_pct"] is None


def test_several_plans_share_one_comment_marker_and_json_is_a_list_only_when_asked():
    side = _side("1", True)
    one, two = _plan(Row("a", side, side)), _plan(Row("b", side, side))
    markdown = format_plans([one, two], "markdown")
    assert markdown.count(COMMENT_MARKER) == 1 and markdown.startswith(COMMENT_MARKER + "\n")
    assert markdown.count("### modalfleet plan") == 2
    assert "\n\n### modalfleet plan" in markdown
    assert json.loads(format_plans([one, two], "json"))["models"][0]["model"] == "a"
    both = json.loads(format_plans([one, two], "json", as_list=True))
    assert [plan["models"][0]["model"] for plan in both] == ["a", "b"]
    text = format_plans([one, two], "text")
    assert text.count("Plan for strategy hybrid") == 2 and "no changes\n\nPlan for" in text


def test_the_fleet_at_a_ref_takes_yml_strategies_and_each_trace_it_can(tmp_path):
    fleet = copy_fleet(tmp_path / "repo", with_generated=False)
    models = fleet / "models.yaml"
    text = models.read_text()
    # In models.yaml order: a trace outside the repository, one never committed, one committed.
    for rate, trace in [(400, "../outside.txt"), (300, "traces/never.txt"), (200, "traces/b.txt")]:
        old = f"traffic: {{requests_per_day: {rate}, seconds_per_request: 10}}"
        assert text.count(old) == 1
        text = text.replace(old, old[:-1] + f", trace: {trace}}}")
    models.write_text(text)
    (fleet / "traces").mkdir()
    (fleet / "traces" / "b.txt").write_text("0\n1.5\n")
    (tmp_path / "outside.txt").write_text("0\n")
    (fleet / "strategies" / "extra.yml").write_text("not read here\n")
    (fleet / "strategies" / "notes.txt").write_text("not a strategy\n")
    _git(fleet, "init", "-q")
    _git(fleet, "add", ".")
    _git(fleet, "commit", "-q", "-m", "traces")
    dest = tmp_path / "at-head"
    dest.mkdir()
    read_fleet_at(fleet, "HEAD", dest)
    assert sorted(p.name for p in (dest / "strategies").iterdir()) == [
        "baseline.yaml",
        "cost-optimized.yaml",
        "extra.yml",
        "hybrid.yaml",
        "performance-optimized.yaml",
    ]
    assert (dest / "models.yaml").read_text() == text
    assert sorted(str(p.relative_to(dest)) for p in (dest / "traces").iterdir()) == ["traces/b.txt"]
    assert (dest / "traces" / "b.txt").read_text() == "0\n1.5\n"


def test_plan_against_a_ref_without_git_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    with pytest.raises(PlanError) as caught:
        read_fleet_at(REPO, "HEAD", tmp_path)
    assert str(caught.value) == "git is not installed; plan --against needs it"


def test_sides_keep_flat_busy_seconds_under_the_default_compute_speed_model(fleet):
    default, flat = sides(fleet, "hybrid"), sides(fleet, "hybrid", "flat")
    assert default == sides(fleet, "hybrid", "compute")
    # The busy-seconds figure is the document's (flat) either way...
    assert {side.seconds_source for side in default.values()} == {"flat"}
    assert {m: side.daily for m, side in default.items()} == {
        m: side.daily for m, side in flat.items()
    }
    # ...while the simulated bill serves each request in its GPU's estimated seconds.
    assert default["flux-schnell"].simulated_daily != flat["flux-schnell"].simulated_daily
    assert flat != sides(fleet, "hybrid", "relative")
    assert sides(fleet, "no-such-strategy") == {}
