"""The CI workflows (this repository's and those `init` writes) pass zizmor's offline audit:
actions pinned to commit SHAs, no persisted checkout credentials, least-privilege permissions."""

from __future__ import annotations

import shutil
import subprocess

import yaml
from conftest import REPO, run_cli

ZIZMOR = shutil.which("zizmor")


def _audit(folder) -> subprocess.CompletedProcess:
    assert ZIZMOR, "zizmor is a test dependency: pip install -e '.[test]'"
    return subprocess.run(
        # --color never: under CI=true zizmor colours even a pipe, and the tests read the text.
        [ZIZMOR, "--offline", "--no-progress", "--color", "never", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_this_repositorys_workflows_pass_zizmor():
    audit = _audit(REPO / ".github/workflows")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report." in audit.stdout


def test_the_workflows_init_writes_pass_zizmor(tmp_path):
    assert run_cli("init", str(tmp_path / "fleet")).exit_code == 0
    audit = _audit(tmp_path / "fleet/.github/workflows")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report." in audit.stdout


def test_zizmor_still_flags_an_unpinned_action(tmp_path):
    # The audit is live: the workflow this repository had before fails it.
    folder = tmp_path / ".github/workflows"
    folder.mkdir(parents=True)
    text = (REPO / ".github/workflows/fleet.yml").read_text()
    unpinned = text.replace(
        "actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0", "actions/checkout@v4"
    )
    (folder / "fleet.yml").write_text(unpinned)
    audit = _audit(folder)
    assert audit.returncode != 0
    assert "error[unpinned-uses]: unpinned action reference" in audit.stdout


def test_deploy_runs_in_a_github_environment_with_read_only_contents():
    for path, command in (
        (REPO / ".github/workflows/deploy.yml", "python cli.py deploy --strategy hybrid --yes"),
        (
            REPO / "modalfleet/examples/common/dot-github/workflows/deploy.yml",
            "modalfleet deploy --strategy @PRODUCTION_STRATEGY@ --yes",
        ),
    ):
        workflow = yaml.safe_load(path.read_text())
        assert workflow[True] == {"push": {"branches": ["main"]}}  # YAML 1.1 reads `on` as True
        assert workflow["permissions"] == {}
        job = workflow["jobs"]["deploy"]
        assert job["environment"] == "production"
        assert job["permissions"] == {"contents": "read"}
        assert job["steps"][-1]["run"] == command
        assert set(job["steps"][-1]["env"]) == {"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"}


def test_the_weekly_tune_holds_the_token_in_the_observe_job_only_and_deploys_nothing():
    for path, cli, strategy in (
        (REPO / ".github/workflows/tune.yml", "python cli.py", "hybrid"),
        (
            REPO / "modalfleet/examples/common/dot-github/workflows/tune.yml",
            "modalfleet",
            "@PRODUCTION_STRATEGY@",
        ),
    ):
        text = path.read_text()
        workflow = yaml.safe_load(text)
        assert workflow[True]["schedule"] == [{"cron": "17 6 * * 1"}]  # weekly
        assert workflow["permissions"] == {}
        observe, propose = workflow["jobs"]["observe"], workflow["jobs"]["propose"]
        assert observe["permissions"] == {"contents": "read"}
        assert propose["needs"] == "observe"
        assert propose["permissions"] == {"contents": "write", "pull-requests": "write"}
        runs = [step.get("run", "") for step in observe["steps"] + propose["steps"]]
        assert f"{cli} observe --strategy {strategy} --since 7d --trace-dir traces --write" in runs
        tune = next(run for run in runs if "optimize" in run).splitlines()
        assert tune == [
            f"{cli} optimize --traces traces --write {strategy}",
            f"{cli} render",
            f"{cli} plan --strategy {strategy} --traces traces --format markdown > plan.md",
        ]
        assert "gh pr create" in runs[-1] and "--body-file plan.md" in runs[-1]
        with_token = [
            step for step in observe["steps"] + propose["steps"] if "MODAL_TOKEN_ID" in str(step)
        ]
        assert with_token == [observe["steps"][3]]
        assert not [run for run in runs if "deploy" in run]  # nothing deploys from it
