"""Keeping the live fleet equal to the YAML, against the fake Modal control plane (conftest's
FakeModal): the deploy plan, unrendered YAML edits, removed models (plan, status, deploy --prune),
destroy, and the Secrets/Volumes pre-flight."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from modalfleet.cli import common
from modalfleet.platform.modal_backend import BackendError

HYBRID = ["flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2"]


@pytest.fixture
def fleet(rendered_fleet_dir: Path) -> Path:
    return rendered_fleet_dir


def deploy(fleet: Path, *args: str, input: str | None = None):
    return run_cli(
        "deploy", "--strategy", "hybrid", "--backoff", "0", *args, root=fleet, input=input
    )


def status(fleet: Path, *args: str):
    result = run_cli("status", "--strategy", "hybrid", "--format", "json", *args, root=fleet)
    return result, {row["app"]: row for row in json.loads(result.output or "[]")}


def remove_model(fleet: Path, name: str, next_name: str) -> None:
    models = fleet / "models.yaml"
    text = models.read_text()
    start, end = text.index(f"\n  {name}:\n"), text.index(f"\n  {next_name}:\n")
    models.write_text(text[:start] + text[end:])


def git(fleet: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=fleet,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


# --- deploy shows the plan ---------------------------------------------------------------


def test_deploy_shows_the_plan_then_deploys(fleet, fake_modal):
    result = deploy(fleet)
    assert result.exit_code == 0, result.text
    assert "plan: 6 to create, 0 to update, 0 unchanged, 0 to stop" in result.stderr
    assert sorted(fake_modal.deployed) == sorted(HYBRID)
    again = deploy(fleet)
    assert "plan: 0 to create, 0 to update, 6 unchanged, 0 to stop" in again.stderr


def test_the_plan_names_the_update_and_what_runs_now(fleet, fake_modal):
    deploy(fleet)
    models = fleet / "models.yaml"
    models.write_text(
        models.read_text().replace("{steps: 4, guidance: 0.0", "{steps: 5, guidance: 0.0")
    )
    run_cli("render", root=fleet)
    result = deploy(fleet, "--model", "flux-schnell")
    line = next(line for line in result.stderr.splitlines() if line.startswith("flux-schnell"))
    assert line.split()[:4] == ["flux-schnell", "flux-schnell", "T4,L4", "update"]
    assert (
        line.split()[4:]
        == [
            "v1",
            "runs",
            line.split()[6],
            "->",
            line.split()[8],
        ]
        and line.split()[6] != line.split()[8]
    )
    assert "plan: 0 to create, 1 to update, 0 unchanged, 0 to stop" in result.stderr


def test_on_a_terminal_deploy_asks_and_no_deploys_nothing(fleet, fake_modal, monkeypatch):
    monkeypatch.setattr(common, "on_terminal", lambda: True)
    result = deploy(fleet, input="n\n")
    assert result.exit_code == 1
    assert "Deploy 6 app(s) in environment main? [y/N]" in result.stderr
    assert "cancelled; nothing changed" in result.stderr
    assert fake_modal.deployed == []
    assert deploy(fleet, input="y\n").exit_code == 0
    assert sorted(fake_modal.deployed) == sorted(HYBRID)


def test_yes_skips_the_question_on_a_terminal(fleet, fake_modal, monkeypatch):
    monkeypatch.setattr(common, "on_terminal", lambda: True)
    result = deploy(fleet, "--yes")
    assert result.exit_code == 0 and "[y/N]" not in result.stderr


# --- status compares with the YAML, not only with generated/ ----------------------------


def test_an_unrendered_yaml_edit_is_drift_not_in_sync(fleet, fake_modal):
    deploy(fleet)
    result, rows = status(fleet)
    assert result.exit_code == 0 and {row["status"] for row in rows.values()} == {"in-sync"}
    # flux-dev's hybrid GPU changed in models.yaml, generated/ not rendered.
    models = fleet / "models.yaml"
    text = models.read_text()
    old = "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
    new = "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: H100}"
    models.write_text(text.replace(old, new))
    result, rows = status(fleet)
    assert result.exit_code == 2
    assert {app: row["status"] for app, row in rows.items()} == {
        **{app: "in-sync" for app in HYBRID},
        "flux-dev": "out-of-date (unrendered YAML)",
    }
    assert rows["flux-dev"]["on_disk_hash"] != rows["flux-dev"]["current_hash"]
    # Rendered but not deployed: the other out-of-date.
    run_cli("render", root=fleet)
    result, rows = status(fleet)
    assert result.exit_code == 2
    assert rows["flux-dev"]["status"] == "out-of-date (rendered, not deployed)"
    deploy(fleet, "--model", "flux-dev")
    assert status(fleet)[0].exit_code == 0


# --- a removed model: plan, status, deploy --prune ---------------------------------------


def test_a_removed_model_is_planned_shown_untracked_and_pruned(fleet, fake_modal):
    git(fleet, "init", "-q")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-qm", "fleet")
    deploy(fleet)
    # Apps that prune must never touch: one deployed by hand, one of another strategy.
    fake_modal.add_app("handmade", {"model": "lora"})
    fake_modal.add_app(
        "old-baseline", {"managed-by": "modalfleet", "model": "old", "strategy": "baseline"}
    )
    remove_model(fleet, "lora", "wan2-1")
    assert run_cli("render", root=fleet).exit_code == 0

    plan = run_cli(
        "plan", "--strategy", "hybrid", "--against", "HEAD", "--format", "json", root=fleet
    )
    assert json.loads(plan.output)["removed"] == ["lora"]

    result, rows = status(fleet)
    assert result.exit_code == 2
    assert rows["lora"]["status"] == "untracked"
    assert "handmade" not in rows and "old-baseline" not in rows

    dry = deploy(fleet, "--prune", "--dry-run")
    assert dry.exit_code == 0
    assert [line.split()[:4] for line in dry.output.splitlines() if line.startswith("lora")] == [
        ["lora", "lora", "-", "stop"]
    ]
    assert fake_modal.stopped == [] and len(fake_modal.deployed) == 6  # nothing new

    refused = deploy(fleet, "--prune")  # not a terminal, no --yes
    assert refused.exit_code == 1
    assert "deploy --prune stops apps: pass --yes" in refused.stderr
    assert len(fake_modal.deployed) == 6

    pruned = deploy(fleet, "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.text
    assert "plan: 0 to create, 0 to update, 5 unchanged, 1 to stop" in pruned.stderr
    assert pruned.output.splitlines()[-2].split() == ["lora", "lora", "-", "stopped", "-"]
    assert pruned.output.splitlines()[-1] == (
        "0 deployed, 5 unchanged, 1 stopped, 0 failed (environment main, commit "
        + pruned.output.splitlines()[-1].rsplit(" ", 1)[-1]
    )
    assert fake_modal.stopped == ["lora"]
    assert sorted(fake_modal.apps) == sorted(set(HYBRID) - {"lora"} | {"handmade", "old-baseline"})
    assert status(fleet)[0].exit_code == 0


def test_prune_waits_for_every_deploy_to_succeed(fleet, fake_modal, monkeypatch):
    deploy(fleet)
    remove_model(fleet, "lora", "wan2-1")
    run_cli("render", root=fleet)

    def broken(request):
        raise BackendError("InvalidError: image build failed", transient=False)

    monkeypatch.setattr(fake_modal, "deploy", broken)
    # flux-dev runs its file already: --force publishes it again, and that publish fails.
    result = deploy(fleet, "--prune", "--yes", "--force", "--model", "flux-dev")
    assert result.exit_code == 1
    lora = next(line for line in result.output.splitlines() if line.startswith("lora"))
    assert lora.split()[3:] == ["not-stopped", "-", "left", "running:", "a", "deploy", "failed"]
    assert fake_modal.stopped == []


# --- destroy -----------------------------------------------------------------------------


def test_destroy_stops_a_strategys_tagged_apps_only(fleet, fake_modal):
    deploy(fleet)
    fake_modal.add_app("handmade", {"strategy": "hybrid"})  # no managed-by tag
    dry = run_cli("destroy", "--strategy", "hybrid", "--dry-run")
    assert dry.exit_code == 0
    assert [line.split()[0] for line in dry.output.splitlines()[1:-1]] == sorted(HYBRID)
    assert dry.output.splitlines()[-1] == (
        "dry run: would stop 6 app(s) (environment main); nothing stopped"
    )
    assert fake_modal.stopped == []

    refused = run_cli("destroy", "--strategy", "hybrid")
    assert refused.exit_code == 1
    assert (
        refused.stderr
        == "error: destroy stops apps: pass --yes to confirm when not on a terminal\n"
    )

    one = run_cli("destroy", "--strategy", "hybrid", "--model", "lora", "--yes")
    assert one.exit_code == 0
    assert one.output.splitlines()[-1] == "stopped lora"
    assert fake_modal.stopped == ["lora"]

    everything = run_cli("destroy", "--strategy", "hybrid", "--yes")
    assert fake_modal.stopped == ["lora", *sorted(set(HYBRID) - {"lora"})]
    assert everything.exit_code == 0
    assert sorted(fake_modal.apps) == ["handmade"]
    nothing = run_cli("destroy", "--strategy", "hybrid", "--yes")
    assert nothing.output == (
        "nothing to stop: no app tagged managed-by: modalfleet, strategy hybrid (environment main)\n"
    )


def test_destroy_on_a_terminal_asks(fleet, fake_modal, monkeypatch):
    deploy(fleet)
    monkeypatch.setattr(common, "on_terminal", lambda: True)
    no = run_cli("destroy", "--strategy", "hybrid", "--model", "lora", input="n\n")
    assert no.exit_code == 1
    assert "Stop these 1 app(s) in environment main? [y/N]" in no.stderr
    assert fake_modal.stopped == []
    yes = run_cli("destroy", "--strategy", "hybrid", "--model", "lora", input="y\n")
    assert yes.exit_code == 0 and fake_modal.stopped == ["lora"]


def test_destroy_without_credentials_says_how_to_get_them(fake_modal, monkeypatch):
    monkeypatch.delenv("MODAL_TOKEN_ID")
    result = run_cli("destroy", "--strategy", "hybrid", "--yes")
    assert result.exit_code == 1
    assert "modal token new" in result.stderr


# --- Secrets and Volumes pre-flight ------------------------------------------------------


def test_a_missing_secret_stops_the_deploy_before_anything_is_deployed(fleet, fake_modal):
    fake_modal.secrets = set()
    result = deploy(fleet, "--yes", "--env", "prod")
    assert result.exit_code == 1
    assert (
        "error: the fleet needs 1 Modal Secret(s) that environment prod lacks; nothing deployed. "
        "Create them:\n"
        "  modal secret create huggingface-secret HF_TOKEN=<your Hugging Face token> --env prod\n"
    ) in result.stderr
    assert fake_modal.deployed == []


def test_a_missing_volume_is_created_with_create_volumes(fleet, fake_modal):
    fake_modal.volumes = set()
    result = deploy(fleet, "--model", "lora")
    assert result.exit_code == 0
    assert (
        "volume model-weights is missing: the first deploy creates it (--create-volumes creates it now)"
        in result.stderr
    )
    assert fake_modal.created_volumes == []
    result = deploy(fleet, "--model", "lora", "--create-volumes")
    assert result.exit_code == 0
    assert "created volume model-weights" in result.stderr
    assert fake_modal.created_volumes == ["model-weights"]
