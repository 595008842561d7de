"""spend: Modal's billing report grouped per model and strategy, beside the cost model's estimate.

The fake stands at the SDK boundary: modal.Workspace.from_context() returns a workspace whose
billing.report() answers real modal.types.BillingReportItem rows (or raises the SDK's own
exceptions), so billing.py's conversion and error mapping run for real.

The week below (2025-03-10 .. 2025-03-16, hybrid deployed), against the cost model's hybrid
estimate at the seed's flat 10 s per request:
  flux-schnell  T4    400 req/day: $0.66/day -> $4.59; billed 7 x $0.80 = $5.60 (+21.95%)
  flux-dev      L40S  300 req/day: $1.63/day -> $11.38; billed nothing
  instantid     A10   200 req/day: $0.61/day -> $4.28; billed 7 x $0.55 = $3.85 (-10.13%)
  lora          T4    100 req/day: $0.16/day -> $1.15; billed 3 x $0.05 = $0.15
  wan2-1, seedvr2     0 req/day: $0; seedvr2 billed $0.30 on one day (over a $0 estimate)
  old-sdxl      orphan (model sdxl-turbo is gone from models.yaml): 2 x $0.40 = $0.80
  notebook      not managed by modalfleet (no tags): 7 x $1.00, outside the totals
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import REPO, SILENT_CONNECT_TIMEOUT_S, run_cli, run_subprocess

from modalfleet.fleet.load import load_fleet
from modalfleet.platform import spend
from modalfleet.platform.billing import BillingRow
from modalfleet.report.money import usd

START = datetime(2025, 3, 10, tzinfo=UTC)
WEEK = ["--start", "2025-03-10", "--end", "2025-03-17"]


def _tags(model: str, strategy: str = "hybrid") -> dict[str, str]:
    return {"model": model, "strategy": strategy, "managed-by": "modalfleet"}


def week_rows() -> list:
    from modal.types import BillingReportItem

    rows = []

    def add(object_id, app, day, cost, resources, tags):
        rows.append(
            BillingReportItem(
                object_id=object_id,
                description=app,
                environment_name="main",
                interval_start=START + timedelta(days=day),
                cost=Decimal(cost),
                cost_by_resource={k: Decimal(v) for k, v in resources.items()},
                tags=tags,
            )
        )

    for day in range(7):
        add(
            "ap-flux",
            "flux-schnell",
            day,
            "0.80",
            {"CPU": "0.05", "Memory": "0.03", "GPU (T4)": "0.72"},
            _tags("flux-schnell"),
        )
        add(
            "ap-iid",
            "instantid",
            day,
            "0.55",
            {"CPU": "0.04", "Memory": "0.02", "GPU (A10)": "0.49"},
            _tags("instantid"),
        )
        add("ap-nb", "notebook", day, "1.00", {"CPU": "1.00"}, {})
    for day in (1, 3, 5):
        add("ap-lora", "lora", day, "0.05", {"GPU (T4)": "0.05"}, _tags("lora"))
    add("ap-seedvr2", "seedvr2", 4, "0.30", {"GPU (A10)": "0.30"}, _tags("seedvr2"))
    for day in (0, 1):
        add("ap-old", "old-sdxl", day, "0.40", {"GPU (L40S)": "0.40"}, _tags("sdxl-turbo"))
    return rows


class FakeBilling:
    def __init__(self, rows=None, error: Exception | None = None):
        self.rows = rows if rows is not None else week_rows()
        self.error = error
        self.asked: dict | None = None
        self.hellos = 0

    def hello(self):
        """Stands for modal_backend.bounded_connect: the bounded hello before the first call."""
        self.hellos += 1

    def report(self, *, start, end=None, resolution="d", tag_names=None):
        self.asked = {"start": start, "end": end, "resolution": resolution, "tag_names": tag_names}
        if self.error:
            raise self.error
        return [row for row in self.rows if start <= row.interval_start < end]


@pytest.fixture
def billing(monkeypatch, tmp_path):
    """Install a fake workspace; credentials come from the environment as the SDK reads them."""
    import modal

    from modalfleet.platform import modal_backend

    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")

    def install(**kwargs) -> FakeBilling:
        fake = FakeBilling(**kwargs)

        class Workspace:
            billing = fake

        monkeypatch.setattr(modal.Workspace, "from_context", staticmethod(lambda **_: Workspace()))
        monkeypatch.setattr(modal_backend, "bounded_connect", fake.hello)
        return fake

    return install


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def rows_as_billing_rows() -> list[BillingRow]:
    from modalfleet.platform.billing import row_from_item

    return [row_from_item(item) for item in week_rows()]


def test_grouping_totals_estimates_flags_and_orphans(fleet):
    period = spend.period_between(START.date(), (START + timedelta(days=7)).date())
    assert period.days == 7
    report = spend.build_report(rows_as_billing_rows(), fleet, period, Decimal(20))
    by_model = {m.model: m for m in report.models}
    assert list(by_model) == ["flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2"]
    assert {m.strategy for m in report.models} == {"hybrid"}

    flux = by_model["flux-schnell"]
    assert flux.actual == Decimal("5.60")
    assert flux.estimate == Decimal("4.592")  # 400 x 10 s x $0.000164 x 7 days
    assert round(flux.delta_pct, 2) == Decimal("21.95")
    assert flux.flag is True
    assert flux.resources == {
        "CPU": Decimal("0.35"),
        "GPU (T4)": Decimal("5.04"),
        "Memory": Decimal("0.21"),
    }

    assert (by_model["flux-dev"].actual, by_model["flux-dev"].estimate) == (0, Decimal("11.382"))
    assert by_model["flux-dev"].delta_pct == -100 and by_model["flux-dev"].flag is False
    assert by_model["instantid"].estimate == Decimal("4.284")
    assert round(by_model["instantid"].delta_pct, 2) == Decimal("-10.13")
    assert by_model["lora"].actual == Decimal("0.15") and by_model["lora"].estimate == Decimal(
        "1.148"
    )
    assert (by_model["wan2-1"].estimate, by_model["wan2-1"].delta_pct, by_model["wan2-1"].flag) == (
        0,
        None,
        False,
    )
    # Any cost over a $0 estimate is flagged: the model was expected to be idle.
    assert (
        by_model["seedvr2"].actual,
        by_model["seedvr2"].delta_pct,
        by_model["seedvr2"].flag,
    ) == (Decimal("0.30"), None, True)

    assert [(o.app, o.object_id, o.model, o.strategy, o.actual) for o in report.orphans] == [
        ("old-sdxl", "ap-old", "sdxl-turbo", "hybrid", Decimal("0.80"))
    ]
    assert (report.unmanaged_actual, report.unmanaged_apps) == (Decimal("7.00"), 1)
    # Orphans are modalfleet's and count; the untagged notebook does not.
    assert report.total_actual == Decimal("10.70")
    assert report.total_estimate == Decimal("21.406")
    assert [m.model for m in report.flagged] == ["flux-schnell", "seedvr2"]
    looser = spend.build_report(rows_as_billing_rows(), fleet, period, Decimal(25))
    assert [m.model for m in looser.flagged] == ["seedvr2"]


def test_estimate_covers_the_same_number_of_days(fleet):
    three_days = spend.period_between(START.date(), (START + timedelta(days=3)).date())
    rows = [row for row in rows_as_billing_rows() if row.interval_start < START + timedelta(days=3)]
    report = spend.build_report(rows, fleet, three_days)
    flux = next(m for m in report.models if m.model == "flux-schnell")
    assert (flux.days, flux.actual, flux.estimate) == (3, Decimal("2.40"), Decimal("1.968"))
    hourly = spend.period_between(START.date(), (START + timedelta(days=1)).date(), "h")
    assert hourly.days == 1 and hourly.interval_days == Decimal(1) / 24


def test_a_strategy_switch_is_estimated_per_strategy_for_its_own_days(fleet):
    rows = rows_as_billing_rows()
    switched = [
        BillingRow(**{**row.__dict__, "tags": _tags(row.tags["model"], "baseline")})
        if row.tags.get("model") == "flux-schnell"
        and row.interval_start < START + timedelta(days=3)
        else row
        for row in rows
    ]
    period = spend.period_between(START.date(), (START + timedelta(days=7)).date())
    report = spend.build_report(switched, fleet, period)
    flux = [
        (m.strategy, m.days, m.actual, m.estimate)
        for m in report.models
        if m.model == "flux-schnell"
    ]
    assert flux == [
        ("baseline", 3, Decimal("2.40"), Decimal("6.504")),  # 400 x 10 x $0.000542 x 3 days
        ("hybrid", 4, Decimal("3.20"), Decimal("2.624")),  # 400 x 10 x $0.000164 x 4 days
    ]
    # Two strategies in the tags: the models without a row cannot be placed, so they are left out.
    assert "flux-dev" not in [m.model for m in report.models]
    # --strategy says what was deployed and overrides the tags.
    forced = spend.build_report(switched, fleet, period, strategy="baseline")
    flux = next(m for m in forced.models if m.model == "flux-schnell")
    assert (flux.strategy, flux.actual, flux.estimate) == (
        "baseline",
        Decimal("5.60"),
        Decimal("15.176"),
    )


def _simulated_week(model: str) -> Decimal:
    """What the simulated autoscaler estimates for model under hybrid over the report's 7 days."""
    from modalfleet.economics.fleet_simulation import simulate_model
    from modalfleet.fleet.load import load_fleet

    fleet = load_fleet(REPO).fleet
    return simulate_model(fleet, model, "hybrid").cost_per_day * 7


def _week_total() -> Decimal:
    return sum(
        (
            _simulated_week(m)
            for m in ("flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2")
        ),
        Decimal(0),
    )


def test_cli_json_contract(billing):
    fake = billing()
    result = run_cli("spend", *WEEK, "--format", "json", root=REPO)
    assert result.exit_code == 0, result.text
    assert fake.hellos == 1  # the bounded hello, once, before the report
    assert fake.asked == {
        "start": datetime(2025, 3, 10, tzinfo=UTC),
        "end": datetime(2025, 3, 17, tzinfo=UTC),
        "resolution": "d",
        "tag_names": ["model", "strategy", "managed-by"],
    }
    data = json.loads(result.output)
    assert list(data)[:5] == ["period", "models", "orphans", "total_actual", "total_estimate"]
    assert data["period"] == {
        "start": "2025-03-10T00:00:00+00:00",
        "end": "2025-03-17T00:00:00+00:00",
        "resolution": "d",
        "days": 7,
    }
    flux = data["models"][0]
    simulated = _simulated_week("flux-schnell")
    assert flux == {
        "model": "flux-schnell",
        "strategy": "hybrid",
        "actual": 5.6,
        "estimate": 4.592,
        "delta_pct": 21.95,
        "flag": True,
        "simulated": float(round(simulated, 6)),
        "simulated_delta_pct": round(float((Decimal("5.6") - simulated) / simulated * 100), 2),
        "days": 7,
        "resources": {"CPU": 0.35, "GPU (T4)": 5.04, "Memory": 0.21},
    }
    assert data["total_simulated"] == pytest.approx(
        float(
            sum(
                _simulated_week(m)
                for m in ("flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2")
            )
        ),
        abs=1e-5,
    )
    assert [(m["model"], m["flag"]) for m in data["models"]] == [
        ("flux-schnell", True),
        ("flux-dev", False),
        ("instantid", False),
        ("lora", False),
        ("wan2-1", False),
        ("seedvr2", True),
    ]
    assert data["orphans"] == [
        {
            "app": "old-sdxl",
            "object_id": "ap-old",
            "model": "sdxl-turbo",
            "strategy": "hybrid",
            "actual": 0.8,
        }
    ]
    assert (data["total_actual"], data["total_estimate"]) == (10.7, 21.406)
    assert (data["threshold_pct"], data["unmanaged_actual"]) == (20, 7)
    assert data["headline"] == "simulated"  # the text leads with the simulated bill


def test_cli_text_and_markdown(billing):
    billing()
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 0, result.text
    text = result.output
    lines = text.splitlines()
    # The simulated bill leads, per day and month; the document's figure follows on its line.
    week = _week_total()
    assert lines[0] == (
        "spend 2025-03-10 to 2025-03-16 (7 days, daily rows): actual $10.70 vs "
        f"{usd(week)} simulated (ESTIMATE)"
    )
    assert lines[1] == (
        "  actual $1.53/day, $45.86/month; Modal bill (simulated on Modal's autoscaler, "
        f"ESTIMATE): {usd(week / 7)}/day, {usd(week / 7 * 30)}/month"
    )
    busy = lines.index(
        "GPU work alone, the Modal GPU requirements document's formula: estimate $21.41 for "
        "the period"
    )
    assert busy > 1 and all(line.startswith("  ") for line in lines[1:busy])
    assert lines[busy + 2].split() == [
        "model",
        "strategy",
        "actual",
        "simulated",
        "vs",
        "sim",
        "busy",
        "estimate",
        "delta",
        "flag",
    ]
    sim = usd(_simulated_week("flux-schnell"))
    vs_sim = f"{(Decimal('5.6') - _simulated_week('flux-schnell')) / _simulated_week('flux-schnell') * 100:+.1f}%"
    assert re.search(
        rf"^flux-schnell +hybrid +\$5\.60 +{re.escape(sim)} +{re.escape(vs_sim)} +\$4\.59 +\+22\.0% +OVER$",
        text,
        re.M,
    )
    assert "  by resource: GPU (T4) $5.04, CPU $0.35, Memory $0.21" in text
    assert re.search(
        r"^flux-dev +hybrid +\$0\.00 +\$[0-9.]+ +-100\.0% +\$11\.38 +-100\.0%$", text, re.M
    )
    assert re.search(r"^total +\$10\.70 +\$[0-9.]+ +\$21\.41$", text, re.M)
    assert (
        "flagged: flux-schnell costs +22.0% against its busy-seconds estimate (threshold 20%)"
    ) in text
    assert "flagged: seedvr2 cost $0.30 where the estimate is $0 (no traffic declared)" in text
    assert (
        "orphan: app old-sdxl (ap-old) is managed by modalfleet but model 'sdxl-turbo' is not in "
        "models.yaml; it cost $0.80: stop it with `modal app stop old-sdxl`"
    ) in text
    assert "not managed by modalfleet: 1 app(s) cost $7.00 (not in the totals)" in text

    markdown = run_cli(
        "spend", *WEEK, "--format", "markdown", "--threshold", "25%", root=REPO
    ).output
    assert (
        f"| flux-schnell | hybrid | $5.60 | {sim} | {vs_sim} | $4.59 | +22.0% |  | "
        "GPU (T4) $5.04, CPU $0.35, Memory $0.21 |"
    ) in markdown
    assert f"| **total** | | **$10.70** | **{usd(week)}** | | **$21.41** | | | |" in markdown
    assert markdown.startswith("**spend 2025-03-10 to 2025-03-16 (7 days, daily rows): actual")
    assert "- orphan: app old-sdxl (ap-old)" in markdown


def test_cli_since_asks_for_the_last_complete_days(billing):
    fake = billing()
    result = run_cli("spend", "--since", "3d", "--format", "json", root=REPO)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert fake.asked["end"] == today and fake.asked["start"] == today - timedelta(days=3)
    # The scripted week is long past: Modal's report for these days is empty.
    assert result.exit_code == 1
    assert "billing report for" in result.stderr and "is empty" in result.stderr
    fake = billing()
    run_cli("spend", "--since", "24h", "--resolution", "h", root=REPO)
    assert fake.asked["resolution"] == "h"
    assert fake.asked["end"] - fake.asked["start"] == timedelta(hours=24)


def test_cli_errors(billing, monkeypatch):
    import modal.exception

    billing(rows=[])
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "spend: Modal's billing report for 2025-03-10 to 2025-03-16 is empty: nothing was billed "
        "then, or the period is too recent (the report holds complete intervals only)"
    )
    billing(
        error=modal.exception.PermissionDeniedError(
            "Billing reports are not available on the Starter plan"
        )
    )
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "spend: this Modal workspace has no access to billing reports (plan or role): "
        "Billing reports are not available on the Starter plan"
    )
    billing(error=modal.exception.AuthError("Token is invalid"))
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 1 and "the ones configured were refused" in result.stderr

    monkeypatch.delenv("MODAL_TOKEN_ID")
    result = run_cli("spend", *WEEK, root=REPO)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "spend: no Modal credentials found: run `modal token new`, or set MODAL_TOKEN_ID and "
        "MODAL_TOKEN_SECRET"
    )
    assert "Traceback" not in result.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "7d", "--start", "2026-11-01"], "use --since or --start/--end, not both"),
        (["--end", "2026-11-01"], "--end needs --start"),
        (["--since", "fortnight"], "--since 'fortnight' is not a duration like 7d, 24h or 2w"),
        (["--start", "2026-13-01"], "--start '2026-13-01' is not a date like 2026-11-01"),
        (
            ["--start", "2025-03-10", "--end", "2025-03-10"],
            "--end 2025-03-10 must be after --start 2025-03-10",
        ),
        (["--threshold", "lots"], "--threshold 'lots' is not a percentage like 20%"),
        (["--strategy", "cheapest"], "unknown strategy 'cheapest'"),
    ],
)
def test_cli_usage_errors(billing, args, message):
    billing()
    result = run_cli("spend", *args, root=REPO)
    assert result.exit_code == 2, result.text
    assert message in result.stderr


def test_threshold_and_since_parsing():
    assert spend.parse_threshold("20%") == 20 and spend.parse_threshold("7.5") == Decimal("7.5")
    assert spend.parse_since("2w") == timedelta(days=14) and spend.parse_since("36h") == timedelta(
        hours=36
    )
    now = datetime(2026, 11, 29, 15, 42, tzinfo=UTC)
    assert spend.period_since(now, timedelta(days=7)) == spend.Period(
        datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC), "d"
    )
    hourly = spend.period_since(now, timedelta(hours=6), "h")
    assert (hourly.start.hour, hourly.end.hour, hourly.days) == (9, 15, Decimal("0.25"))


def test_spend_against_a_server_that_never_answers_fails_in_bounded_time(silent_modal_env):
    # It waited ~160 s for the SDK's own retries (and ignored Ctrl-C meanwhile); now the same
    # bounded hello as deploy and status.
    started = time.monotonic()
    done = run_subprocess("spend", "--root", str(REPO), env=silent_modal_env, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "spend: cannot reach Modal to read the billing report: "
        f"the Modal server did not answer within {SILENT_CONNECT_TIMEOUT_S} s\n"
    )
    assert done.stdout == ""
    assert elapsed < 30, elapsed
