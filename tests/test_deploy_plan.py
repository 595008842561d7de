"""deploy applies only what changed: the DeployPlan (platform/workflow.py) built and applied
without click against the fake control plane (conftest's FakeModal), and the CLI's printed
output (the plan once, the results once) piped and on a terminal."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import FakeModal, run_cli

from modalfleet.cli import live
from modalfleet.fleet.load import load_fleet
from modalfleet.platform import workflow
from modalfleet.platform.deploy import PreflightError, content_hash

HYBRID = ["flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2"]


@pytest.fixture
def fleet(rendered_fleet_dir: Path) -> Path:
    return rendered_fleet_dir


def plan_of(fleet: Path, backend: FakeModal, **options) -> workflow.DeployPlan:
    loaded = load_fleet(fleet).fleet
    return workflow.build_plan(
        loaded, "hybrid", fleet, backend, require_credentials=False, revision="abc1234", **options
    )


def apply(plan: workflow.DeployPlan, backend: FakeModal, fleet: Path, **options):
    return workflow.apply_plan(plan, backend, fleet, backoff_s=0, **options)


def file_hash(fleet: Path, model: str) -> str:
    path = fleet / "generated/hybrid" / f"{model.replace('-', '_')}.py"
    return content_hash(path.read_text())


def change_flux_schnell(fleet: Path) -> None:
    models = fleet / "models.yaml"
    models.write_text(
        models.read_text().replace("{steps: 4, guidance: 0.0", "{steps: 5, guidance: 0.0")
    )
    assert run_cli("render", root=fleet).exit_code == 0


def remove_lora(fleet: Path) -> None:
    models = fleet / "models.yaml"
    text = models.read_text()
    start, end = text.index("\n  lora:\n"), text.index("\n  wan2-1:\n")
    models.write_text(text[:start] + text[end:])
    assert run_cli("render", root=fleet).exit_code == 0


# --- the plan object, without click ---------------------------------------------------------


def test_a_fresh_workspace_plans_six_creates_in_the_named_environment(fleet):
    modal = FakeModal()
    plan = plan_of(fleet, modal)
    assert [(item.model, item.action) for item in plan.items] == [(m, "create") for m in HYBRID]
    assert plan.items[0].detail == f"new app, {file_hash(fleet, 'flux-schnell')}"
    assert plan.items[0].target.tag == f"{file_hash(fleet, 'flux-schnell')}-abc1234"
    assert plan.environment == "main"  # Modal's default environment, by its name
    assert plan.items[0].target.environment == "main"
    assert plan.counts() == {"create": 6, "update": 0, "unchanged": 0, "stop": 0, "deploy": 0}
    assert plan.live_read and not plan.blocked and plan.changes
    assert modal.deployed == []  # building a plan changes nothing


def test_each_action_create_update_unchanged_and_the_live_version_read(fleet):
    modal = FakeModal()
    apply(plan_of(fleet, modal, models=["flux-schnell", "flux-dev"]), modal, fleet)
    change_flux_schnell(fleet)
    plan = plan_of(fleet, modal, models=["flux-schnell", "flux-dev", "lora"])
    schnell, dev, lora = plan.items
    old = modal.apps["flux-schnell"]["history"][0].tag
    assert (schnell.action, schnell.live_version, schnell.live_tag) == ("update", 1, old)
    assert schnell.detail == f"v1 runs {old.split('-')[0]} -> {file_hash(fleet, 'flux-schnell')}"
    assert (dev.action, dev.live_version) == ("unchanged", 1)
    assert dev.detail == f"v1 runs {file_hash(fleet, 'flux-dev')}"
    assert (lora.action, lora.live_version) == ("create", None)
    assert [item.app for item in plan.to_publish] == ["flux-schnell", "lora"]

    forced = plan_of(fleet, modal, models=["flux-dev"], force=True)
    assert forced.items[0].action == "update"
    assert forced.items[0].detail == (
        f"v1 runs {file_hash(fleet, 'flux-dev')}; --force republishes it"
    )


def test_an_untagged_live_version_is_updated(fleet):
    modal = FakeModal()
    modal.add_app("lora", {"model": "lora"}, tag="")  # a plain `modal deploy`
    (item,) = plan_of(fleet, modal, models=["lora"]).items
    assert (item.action, item.detail) == (
        "update",
        f"v1 runs an untagged version -> {file_hash(fleet, 'lora')}",
    )


def test_apply_publishes_only_creates_and_updates(fleet):
    modal = FakeModal()
    apply(plan_of(fleet, modal), modal, fleet)
    assert sorted(modal.deployed) == sorted(HYBRID)
    modal.deployed.clear()
    change_flux_schnell(fleet)
    applied = apply(plan_of(fleet, modal), modal, fleet)
    assert modal.deployed == ["flux-schnell"]
    assert [(r.model, r.status) for r in applied.results] == [
        ("flux-schnell", "deployed"),
        *[(m, "unchanged") for m in HYBRID[1:]],
    ]
    assert applied.ok and applied.stops == []
    assert applied.results[1].tag == modal.apps["flux-dev"]["history"][0].tag  # what runs


def test_a_missing_secret_blocks_the_plan_and_apply_deploys_nothing(fleet):
    modal = FakeModal(secrets=())
    plan = plan_of(fleet, modal)
    assert plan.missing_secrets == ("huggingface-secret",) and plan.blocked
    assert plan.missing_volumes == ()
    with pytest.raises(PreflightError, match="needs 1 Modal Secret"):
        apply(plan, modal, fleet)
    assert modal.deployed == []


def test_a_missing_volume_is_reported_and_created_only_when_asked(fleet):
    modal = FakeModal(volumes=())
    plan = plan_of(fleet, modal, models=["lora"])
    assert plan.missing_volumes == ("model-weights",) and not plan.blocked
    applied = apply(plan, modal, fleet, create_volumes=True)
    assert applied.created_volumes == ["model-weights"] == modal.created_volumes
    assert modal.deployed == ["lora"]


def test_prune_stops_tagged_undeclared_apps_only(fleet):
    modal = FakeModal()
    apply(plan_of(fleet, modal), modal, fleet)
    modal.add_app("handmade", {"model": "old"})  # no managed-by tag: never stopped
    modal.add_app(
        "old-baseline", {"managed-by": "modalfleet", "model": "x", "strategy": "baseline"}
    )
    remove_lora(fleet)
    plan = plan_of(fleet, modal, prune=True)
    assert [(i.app, i.action) for i in plan.to_stop] == [("lora", "stop")]
    assert plan.to_stop[0].detail == "no longer in models.yaml"
    assert plan.counts() == {"create": 0, "update": 0, "unchanged": 5, "stop": 1, "deploy": 0}
    assert [i.app for i in plan_of(fleet, modal).to_stop] == []  # without prune: nothing
    events = []
    applied = apply(plan, modal, fleet, on_event=events.append)
    assert modal.stopped == ["lora"] and [s.app for s in applied.stops] == ["lora"]
    assert [(e.model, e.state) for e in events] == [("lora", "stopping"), ("lora", "stopped")]


def test_without_a_backend_read_a_dry_run_plan_cannot_be_applied(fleet, monkeypatch):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(fleet / "no-such.toml"))
    loaded = load_fleet(fleet).fleet
    plan = workflow.build_plan(
        loaded, "hybrid", fleet, FakeModal(), dry_run=True, revision="1a2b3c4-dirty"
    )
    assert not plan.live_read and {item.action for item in plan.items} == {"deploy"}
    assert len(plan.notes) == 2 and "-dirty" in plan.notes[0] and "modal token new" in plan.notes[1]
    with pytest.raises(PreflightError, match="did not read the live apps"):
        workflow.apply_plan(plan, FakeModal(), fleet)


# --- the CLI: only changes are published ----------------------------------------------------


def deploy_json(fleet: Path, *args: str):
    result = run_cli("deploy", "--strategy", "hybrid", "--format", "json", *args, root=fleet)
    return result, json.loads(result.output)


def test_deploying_an_unchanged_fleet_publishes_nothing(fleet, fake_modal):
    assert deploy_json(fleet)[0].exit_code == 0
    fake_modal.deployed.clear()
    result, rows = deploy_json(fleet)
    assert result.exit_code == 0, result.text
    assert fake_modal.deployed == []  # no deploy call reached the backend
    assert [(row["model"], row["status"]) for row in rows] == [(m, "unchanged") for m in HYBRID]
    assert "plan: 0 to create, 0 to update, 6 unchanged, 0 to stop" in result.stderr


def test_force_publishes_all_six_again(fleet, fake_modal):
    deploy_json(fleet)
    fake_modal.deployed.clear()
    result, rows = deploy_json(fleet, "--force")
    assert result.exit_code == 0, result.text
    assert sorted(fake_modal.deployed) == sorted(HYBRID)
    assert {row["status"] for row in rows} == {"deployed"}
    assert all(len(fake_modal.apps[m]["history"]) == 2 for m in HYBRID)


def test_one_changed_model_publishes_one(fleet, fake_modal):
    deploy_json(fleet)
    fake_modal.deployed.clear()
    change_flux_schnell(fleet)
    result, rows = deploy_json(fleet)
    assert result.exit_code == 0, result.text
    assert fake_modal.deployed == ["flux-schnell"]
    assert [row["status"] for row in rows] == ["deployed"] + ["unchanged"] * 5
    assert "plan: 0 to create, 1 to update, 5 unchanged, 0 to stop" in result.stderr


def test_model_restricts_the_plan_as_before(fleet, fake_modal):
    result, rows = deploy_json(fleet, "--model", "lora")
    assert [row["model"] for row in rows] == ["lora"] and fake_modal.deployed == ["lora"]


# --- printed output: the plan once, the results once ----------------------------------------


def prune_scenario(fleet: Path, fake_modal: FakeModal) -> str:
    """Six apps deployed, then lora removed and flux-schnell changed; flux-schnell's old hash."""
    assert run_cli("deploy", "--strategy", "hybrid", root=fleet).exit_code == 0
    old = file_hash(fleet, "flux-schnell")
    change_flux_schnell(fleet)
    remove_lora(fleet)
    return old


def golden(fleet: Path, old: str) -> tuple[str, str]:
    h = {m: file_hash(fleet, m) for m in HYBRID if m != "lora"}
    plan = f"""\
MODEL         APP           GPU    ACTION     DETAIL
flux-schnell  flux-schnell  T4,L4  update     v1 runs {old} -> {h["flux-schnell"]}
flux-dev      flux-dev      L40S   unchanged  v1 runs {h["flux-dev"]}
instantid     instantid     A10    unchanged  v1 runs {h["instantid"]}
wan2-1        wan2-1        L40S   unchanged  v1 runs {h["wan2-1"]}
seedvr2       seedvr2       A10    unchanged  v1 runs {h["seedvr2"]}
lora          lora          -      stop       no longer in models.yaml
plan: 0 to create, 1 to update, 4 unchanged, 1 to stop (strategy hybrid, environment main, commit nogit)
"""
    results = f"""\
MODEL         APP           GPU    STATUS     SECONDS  URL / DETAIL
flux-schnell  flux-schnell  T4,L4  deployed       0.0  https://team--flux-schnell-web.modal.run
flux-dev      flux-dev      L40S   unchanged        -  runs {h["flux-dev"]}-nogit
instantid     instantid     A10    unchanged        -  runs {h["instantid"]}-nogit
wan2-1        wan2-1        L40S   unchanged        -  runs {h["wan2-1"]}-nogit
seedvr2       seedvr2       A10    unchanged        -  runs {h["seedvr2"]}-nogit
lora          lora          -      stopped          -
1 deployed, 4 unchanged, 1 stopped, 0 failed (environment main, commit nogit)
"""
    return plan, results


def seconds_zeroed(stdout: str) -> str:
    """The one figure that depends on the machine: how long the fake deploy took."""
    return re.sub(r"(deployed +)\d+\.\d", r"\g<1>0.0", stdout)


def without_warnings(stderr: str) -> str:
    skip = ("models.yaml:", "  hint:", "0 error(s)")
    return "".join(line for line in stderr.splitlines(True) if not line.startswith(skip))


def test_a_prune_deploy_piped_prints_the_plan_once_and_the_results_once(fleet, fake_modal):
    old = prune_scenario(fleet, fake_modal)
    result = run_cli("deploy", "--strategy", "hybrid", "--prune", "--yes", root=fleet)
    assert result.exit_code == 0, result.text
    plan, results = golden(fleet, old)
    assert seconds_zeroed(result.output) == results
    # stderr: the plan, then one line per event (no terminal: no live table).
    assert without_warnings(result.stderr) == plan + (
        "flux-schnell: deploying attempt 1\n"
        "flux-schnell: deployed (https://team--flux-schnell-web.modal.run)\n"
        "lora: stopping\n"
        "lora: stopped\n"
    )


def test_a_prune_deploy_on_a_terminal_shows_a_live_table_not_event_lines(
    fleet, fake_modal, monkeypatch
):
    old = prune_scenario(fleet, fake_modal)
    modes = []
    chosen = live.DeployDisplay.choose

    def on_a_terminal(plan, fmt):
        display = chosen(plan, fmt)
        display.mode = "live"  # what choose() picks when stderr is a terminal
        modes.append(display)
        return display

    monkeypatch.setattr(live.DeployDisplay, "choose", on_a_terminal)
    result = run_cli("deploy", "--strategy", "hybrid", "--prune", "--yes", root=fleet)
    assert result.exit_code == 0, result.text
    plan, results = golden(fleet, old)
    assert seconds_zeroed(result.output) == results
    assert without_warnings(result.stderr) == plan  # the live table is transient: no lines left
    display = modes[0]
    assert {model: row["state"] for model, row in display.rows.items()} == {
        "flux-schnell": "deployed",
        "lora": "stopped",
    }


def test_a_dry_run_without_credentials_on_a_dirty_tree_says_both_once(fleet, monkeypatch):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(fleet / "no-such.toml"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "fleet"]):
        subprocess.run(git + args, cwd=fleet, check=True, capture_output=True)
    (fleet / "notes.txt").write_text("uncommitted\n")
    result = run_cli("deploy", "--strategy", "hybrid", "--dry-run", root=fleet)
    assert result.exit_code == 0, result.text
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2
    assert notes[0].startswith(
        "note: the fleet repository has uncommitted changes: the tags end in -dirty"
    )
    assert notes[1].startswith("note: no Modal credentials found: run `modal token new`")
    assert "note:" not in result.output
    assert all(line.split()[5].endswith("-dirty") for line in result.output.splitlines()[1:-1])


CHILD = """
import pickle, sys
sys.path.insert(0, {tests!r})
from workspace import FakeModal
from modalfleet.platform import deploy as core
from modalfleet.cli import main
modal = FakeModal()
with open({state!r}, "rb") as stream:
    modal.apps = pickle.load(stream)
core.make_backend = lambda timeout_s=None: modal
sys.exit(main(["deploy", "--strategy", "hybrid", "--prune", "--yes", "--root", {fleet!r}]))
"""


def run_on_a_terminal(code: str, env: dict[str, str]) -> tuple[int, str]:
    """Run python code with stdin, stdout and stderr on a pseudo-terminal: what a person sees."""
    import os
    import pty
    import sys

    main_end, child_end = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=child_end, stdout=child_end, stderr=child_end, env=env
    )
    os.close(child_end)
    chunks = []
    while True:
        try:
            chunk = os.read(main_end, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_end)
    return child.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


def test_a_prune_deploy_on_a_real_terminal_draws_a_live_table_and_prints_each_once(fleet, tmp_path):
    import os
    import pickle

    from workspace import REPO

    modal = FakeModal()
    apply(plan_of(fleet, modal), modal, fleet)  # the six apps, deployed before the change
    old = file_hash(fleet, "flux-schnell")
    change_flux_schnell(fleet)
    remove_lora(fleet)
    state = tmp_path / "apps.pickle"
    state.write_bytes(pickle.dumps(modal.apps))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NO_COLOR"))}
    env.update(
        MODAL_TOKEN_ID="ak-test",
        MODAL_TOKEN_SECRET="as-test",
        MODAL_CONFIG_PATH=str(tmp_path / "none.toml"),
        TERM="xterm-256color",
        COLUMNS="200",
        PYTHONPATH=str(REPO),
    )
    code = CHILD.format(tests=str(REPO / "tests"), state=str(state), fleet=str(fleet))
    status, screen = run_on_a_terminal(code, env)
    assert status == 0, screen
    assert "\x1b[" in screen  # coloured, and the live table drawn with cursor movements
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\r", "")
    plan, results = golden(fleet, old)
    assert text.count(plan.splitlines()[-1]) == 1  # the plan once
    assert text.count(results.splitlines()[-1]) == 1  # the results once
    assert text.count("MODEL         APP           GPU    ACTION") == 1
    assert text.count("MODEL         APP           GPU    STATUS") == 1
    assert "lora: stopping" not in text  # no event lines on a terminal: the live table instead
    live_header = re.search(r"^model +GPU +state +try +seconds +detail", text, re.MULTILINE)
    assert live_header and "\x1b[2K" in screen  # drawn, then erased (transient)
    assert text.index(plan.splitlines()[-1]) < text.index(results.splitlines()[-1])
