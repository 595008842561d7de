"""deploy: pre-flight order, dry run, tags, bounded parallel deploys, retries, summary.

Orchestration runs against FakeBackend, a fake at the Modal SDK boundary (it records calls,
can fail transiently or permanently and can be slow). The real SDK path is exercised up to
the network: dummy credentials and a server URL on 127.0.0.1 that refuses connections.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from modalfleet.platform import deploy as core
from modalfleet.platform.modal_backend import (
    TOKEN_HELP,
    BackendError,
    Deployed,
    DeployRequest,
    ModalBackend,
    find_credentials,
)

HYBRID_ORDER = ["flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2"]
# flux-schnell and lora fall back to an L4 (models.yaml): a list, in Modal's order.
HYBRID_GPUS = [["T4", "L4"], ["L40S"], ["A10"], ["T4", "L4"], ["L40S"], ["A10"]]
MODAL_SETTINGS = (
    "MODAL_TOKEN_ID",
    "MODAL_TOKEN_SECRET",
    "MODAL_PROFILE",
    "MODAL_ENVIRONMENT",
    "MODAL_SERVER_URL",
    "MODAL_OAUTH_REFRESH_TOKEN",
    "MODAL_OAUTH_CLIENT_ID",
    "MODAL_OAUTH_CLIENT_SECRET",
    "MODAL_OAUTH_JWT_KEY",
)


class FakeBackend:
    """Stands in for Modal: records each deploy, follows a per-app script of outcomes."""

    def __init__(self, script: dict[str, list[str]] | None = None, delay_s: float = 0.0):
        self.script = {app: list(outcomes) for app, outcomes in (script or {}).items()}
        self.delay_s = delay_s
        self.calls: list[DeployRequest] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def deploy(self, request: DeployRequest) -> Deployed:
        with self._lock:
            self.calls.append(request)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            outcomes = self.script.get(request.app, [])
            outcome = outcomes.pop(0) if outcomes else "ok"
        try:
            time.sleep(self.delay_s)
            if outcome == "transient":
                raise BackendError("ConnectionError: connection reset by peer", transient=True)
            if outcome == "permanent":
                raise BackendError(
                    "InvalidError: image build failed: no such package", transient=False
                )
            return Deployed(
                app_id=f"ap-{request.app}", url=f"https://team--{request.app}-web.modal.run"
            )
        finally:
            with self._lock:
                self.active -= 1

    def deployed_apps(self, apps, environment):
        return {app: None for app in apps}  # a fresh workspace: every app is created

    def live_apps(self, environment):
        return []

    def secret_names(self, environment):
        return {"huggingface-secret"}

    def volume_names(self, environment):
        return {"model-weights"}

    def environment_name(self, environment):
        return environment or "main"

    def apps_called(self) -> list[str]:
        return [call.app for call in self.calls]


@pytest.fixture(autouse=True)
def no_modal_credentials(monkeypatch, tmp_path):
    """Every test starts with no Modal settings: no env tokens, a config file that does not exist."""
    for name in MODAL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-such-modal.toml"))


@pytest.fixture
def with_token(monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")


@pytest.fixture
def fleet(rendered_fleet_dir: Path) -> Path:
    return rendered_fleet_dir


@pytest.fixture
def fake(monkeypatch) -> FakeBackend:
    backend = FakeBackend()
    monkeypatch.setattr(core, "make_backend", lambda timeout_s=None: backend)
    return backend


def sha12(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def deploy_json(*args: str, root: Path):
    result = run_cli(
        "deploy", "--strategy", "hybrid", "--format", "json", "--backoff", "0", *args, root=root
    )
    return result, (json.loads(result.output) if result.output.strip() else None)


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_of_the_bundled_fleet_lists_six_apps_without_credentials(fleet, fake):
    result = run_cli("deploy", "--strategy", "hybrid", "--dry-run", "--env", "staging", root=fleet)
    assert result.exit_code == 0, result.text
    lines = result.output.splitlines()
    assert lines[0].split() == ["MODEL", "APP", "GPU", "ACTION", "DETAIL"]
    rows = [line.split() for line in lines[1:-1]]
    assert [row[0] for row in rows] == HYBRID_ORDER
    assert [row[1] for row in rows] == HYBRID_ORDER  # the app name does not depend on the strategy
    assert [row[2] for row in rows] == [",".join(gpus) for gpus in HYBRID_GPUS]
    assert {row[3] for row in rows} == {"deploy"}  # create or update: the live apps were not read
    for row, model in zip(rows, HYBRID_ORDER, strict=True):
        file = fleet / "generated/hybrid" / f"{model.replace('-', '_')}.py"
        # The copy is not a git repository.
        assert row[4:] == ["tag", f"{sha12(file)}-nogit", "(live", "apps", "not", "read)"]
    assert lines[-1] == (
        "plan: 6 to deploy (created or updated: the live apps were not read) "
        "in environment staging, commit nogit"
    )
    # Said once, on stderr: a real run would stop for want of credentials.
    assert result.stderr.count("note: no Modal credentials found") == 1
    assert result.stderr.splitlines()[-1] == "dry run: nothing changed"
    assert "-dirty" not in result.stderr
    assert fake.calls == []


def test_dry_run_json_is_the_plan(fleet, fake):
    result = run_cli(
        "deploy",
        "--strategy",
        "hybrid",
        "--dry-run",
        "--format",
        "json",
        "--model",
        "flux-dev",
        root=fleet,
    )
    assert result.exit_code == 0, result.text
    plan = json.loads(result.output)
    digest = sha12(fleet / "generated/hybrid/flux_dev.py")
    assert plan["apps"] == [
        {
            "model": "flux-dev",
            "app": "flux-dev",
            "action": "deploy",
            "gpu": ["L40S"],
            "file": "generated/hybrid/flux_dev.py",
            "hash": digest,
            "tag": digest + "-nogit",
            "live_version": None,
            "live_tag": None,
            "detail": f"tag {digest}-nogit (live apps not read)",
        }
    ]
    assert (plan["strategy"], plan["environment"], plan["revision"]) == ("hybrid", None, "nogit")
    assert plan["live_read"] is False and plan["counts"]["deploy"] == 1
    assert plan["notes"] == [
        f"{TOKEN_HELP}; a real deploy stops here, and the live apps were not read"
    ]


def test_dry_run_of_the_committed_checkout(fake):
    """The repository's own generated/hybrid is current, so a dry run from the checkout succeeds."""
    result = run_cli("deploy", "--strategy", "hybrid", "--dry-run", "--format", "json", root=REPO)
    assert result.exit_code == 0, result.text
    rows = json.loads(result.output)["apps"]
    assert [row["model"] for row in rows] == HYBRID_ORDER
    assert [row["gpu"] for row in rows] == HYBRID_GPUS


def test_dry_run_with_render_writes_nothing_and_shows_the_rendered_hashes(fleet_dir, fake):
    target = fleet_dir / "generated" / "hybrid" / "lora.py"
    if target.exists():
        target.unlink()
    result = run_cli(
        "deploy",
        "--strategy",
        "hybrid",
        "--dry-run",
        "--render",
        "--format",
        "json",
        root=fleet_dir,
    )
    assert result.exit_code == 0, result.text
    assert not target.exists()
    assert [row["model"] for row in json.loads(result.output)["apps"]] == HYBRID_ORDER


# --- pre-flight: each failure stops before any deploy call ----------------------------------


def test_validation_error_stops_before_deploying(fleet, fake, with_token):
    models = fleet / "models.yaml"
    text = models.read_text()
    line = "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
    assert line in text
    models.write_text(text.replace(line, line.replace("hybrid: L40S", "hybrid: T4"), 1))
    result = run_cli("deploy", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert "error[vram-fit]" in result.stderr
    assert "warning[dtype-support]" in result.stderr  # warnings are shown too
    assert fake.calls == []


def test_unknown_strategy_and_model_are_usage_errors(fleet, fake, with_token):
    result = run_cli("deploy", "--strategy", "cheapest", root=fleet)
    assert result.exit_code == 2
    assert (
        "unknown strategy 'cheapest'; known: baseline, cost-optimized, hybrid, performance-optimized"
        in result.stderr
    )
    result = run_cli(
        "deploy", "--strategy", "hybrid", "--model", "flux-dev", "--model", "sdxl", root=fleet
    )
    assert result.exit_code == 2
    assert (
        "unknown model(s) 'sdxl'; known: flux-schnell, flux-dev, instantid, lora, wan2-1, seedvr2"
        in result.stderr
    )
    assert fake.calls == []


def test_stale_tree_is_refused_with_the_files_and_the_fix(fleet, fake, with_token):
    (fleet / "generated/hybrid/flux_dev.py").write_text("# edited by hand\n")
    (fleet / "generated/hybrid/old_model.py").write_text("# left behind\n")
    (fleet / "generated/hybrid/lora.py").unlink()
    result = run_cli("deploy", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert "generated/hybrid is out of date" in result.stderr
    assert "run: python cli.py render --strategy hybrid" in result.stderr
    assert "  changed:  generated/hybrid/flux_dev.py" in result.stderr
    assert "  missing:  generated/hybrid/lora.py" in result.stderr
    assert "  orphaned: generated/hybrid/old_model.py" in result.stderr
    assert fake.calls == []


def test_other_strategies_staleness_does_not_block(fleet, fake, with_token):
    (fleet / "generated/baseline/flux_dev.py").write_text("# edited by hand\n")
    result, rows = deploy_json(root=fleet)
    assert result.exit_code == 0, result.text
    assert len(rows) == 6


def test_render_flag_brings_the_tree_up_to_date_then_deploys(fleet, fake, with_token):
    stale = fleet / "generated/hybrid/flux_dev.py"
    stale.write_text("# edited by hand\n")
    result, rows = deploy_json("--render", root=fleet)
    assert result.exit_code == 0, result.text
    assert stale.read_text().startswith("#") and "edited by hand" not in stale.read_text()
    assert rows[1]["tag"].startswith(sha12(stale) + "-")
    assert fake.apps_called() and sorted(fake.apps_called()) == sorted(HYBRID_ORDER)


def test_missing_credentials_stop_before_deploying_with_one_sentence(fleet, fake):
    result = run_cli("deploy", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {TOKEN_HELP}"
    assert "modal token new" in TOKEN_HELP and "MODAL_TOKEN_ID" in TOKEN_HELP
    assert fake.calls == []


def test_stale_tree_is_reported_before_missing_credentials(fleet, fake):
    (fleet / "generated/hybrid/flux_dev.py").write_text("# edited by hand\n")
    result = run_cli("deploy", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert "out of date" in result.stderr and "credentials" not in result.stderr


def test_a_profile_in_the_modal_config_file_is_enough(fleet, fake, tmp_path, monkeypatch):
    config = tmp_path / "modal.toml"
    config.write_text('[default]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n')
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(config))
    result, rows = deploy_json("--model", "lora", root=fleet)
    assert result.exit_code == 0, result.text
    assert fake.apps_called() == ["lora"]


@pytest.mark.parametrize(
    ("toml", "environ", "found"),
    [
        ("", {"MODAL_TOKEN_ID": "ak-1", "MODAL_TOKEN_SECRET": "as-1"}, "environment"),
        ("", {"MODAL_TOKEN_ID": "ak-1"}, None),  # the SDK needs both halves
        ('[default]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n', {}, "profile 'default'"),
        ('[work]\nactive = true\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n', {}, "profile 'work'"),
        ('[work]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n', {}, None),  # not active, not default
        (
            '[work]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n',
            {"MODAL_PROFILE": "work"},
            "profile 'work'",
        ),
        (
            '[default]\ntoken_id = "ak-1"\n',
            {"MODAL_TOKEN_SECRET": "as-1"},
            "profile 'default'",
        ),  # per setting
        ("this is not toml", {}, None),
        (
            "",
            {
                "MODAL_OAUTH_REFRESH_TOKEN": "r",
                "MODAL_OAUTH_CLIENT_ID": "c",
                "MODAL_OAUTH_JWT_KEY": "k",
            },
            "OAuth",
        ),
    ],
)
def test_credentials_are_found_where_the_sdk_looks(tmp_path, toml, environ, found):
    config = tmp_path / "modal.toml"
    config.write_text(toml)
    source = find_credentials({"MODAL_CONFIG_PATH": str(config), **environ})
    if found is None:
        assert source is None
    else:
        assert source is not None and source.startswith(found)


# --- deploying -------------------------------------------------------------------------------


def test_deploys_every_app_in_models_order_with_traceable_tags(fleet, fake, with_token):
    result, rows = deploy_json("--parallel", "1", "--env", "staging", root=fleet)
    assert result.exit_code == 0, result.text
    assert fake.apps_called() == HYBRID_ORDER
    for call in fake.calls:
        assert call.environment == "staging"
        assert call.root == fleet.resolve()
        assert call.file == (fleet / "generated/hybrid" / f"{call.module}.py").resolve()
        assert call.tag == f"{sha12(call.file)}-nogit"
    assert [row["gpu"] for row in rows] == HYBRID_GPUS
    assert rows[0] == {
        "model": "flux-schnell",
        "app": "flux-schnell",
        "gpu": ["T4", "L4"],
        "status": "deployed",
        "seconds": rows[0]["seconds"],
        "url": "https://team--flux-schnell-web.modal.run",
        "error": None,
        "attempts": 1,
        "tag": fake.calls[0].tag,
    }
    assert 0 <= rows[0]["seconds"] < 5


def test_selected_models_only(fleet, fake, with_token):
    result, rows = deploy_json("--model", "seedvr2", "--model", "flux-dev", root=fleet)
    assert result.exit_code == 0, result.text
    assert [row["model"] for row in rows] == ["flux-dev", "seedvr2"]  # models.yaml order
    assert sorted(fake.apps_called()) == ["flux-dev", "seedvr2"]


def test_text_summary_table(fleet, fake, with_token):
    fake.script = {"wan2-1": ["permanent"]}
    result = run_cli("deploy", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["MODEL", "APP", "GPU", "STATUS", "SECONDS", "URL", "/", "DETAIL"]
    first = lines[1].split()
    assert first[:4] == ["flux-schnell", "flux-schnell", "T4,L4", "deployed"]
    assert first[-1] == "https://team--flux-schnell-web.modal.run"
    wan = lines[5]
    assert wan.split()[:4] == ["wan2-1", "wan2-1", "L40S", "failed"]
    assert wan.endswith("InvalidError: image build failed: no such package")
    assert lines[-1] == "5 deployed, 0 unchanged, 1 failed (environment main, commit nogit)"
    # Not a terminal: progress comes as plain lines on stderr, no rich live display.
    assert "wan2-1: failed (InvalidError: image build failed: no such package)" in result.stderr
    assert "flux-dev: deployed" in result.stderr


def test_one_failure_does_not_stop_the_others(fleet, fake, with_token):
    fake.script = {"flux-dev": ["permanent"]}
    result, rows = deploy_json(root=fleet)
    assert result.exit_code == 1
    by_model = {row["model"]: row for row in rows}
    assert by_model["flux-dev"]["status"] == "failed"
    assert by_model["flux-dev"]["error"] == "InvalidError: image build failed: no such package"
    assert by_model["flux-dev"]["url"] is None
    assert [m for m, row in by_model.items() if row["status"] == "deployed"] == [
        m for m in HYBRID_ORDER if m != "flux-dev"
    ]
    assert fake.apps_called().count("flux-dev") == 1  # permanent: not retried


def test_transient_errors_are_retried_permanent_ones_are_not(fleet, fake, with_token):
    fake.script = {"flux-dev": ["transient", "transient"], "lora": ["permanent"]}
    result, rows = deploy_json(root=fleet)
    assert result.exit_code == 1
    by_model = {row["model"]: row for row in rows}
    assert by_model["flux-dev"]["status"] == "deployed" and by_model["flux-dev"]["attempts"] == 3
    assert by_model["lora"]["status"] == "failed" and by_model["lora"]["attempts"] == 1
    assert fake.apps_called().count("flux-dev") == 3


def test_retries_are_bounded(fleet, fake, with_token):
    fake.script = {"instantid": ["transient"] * 5}
    result, rows = deploy_json("--retries", "1", "--model", "instantid", root=fleet)
    assert result.exit_code == 1
    assert (
        rows[0]["error"] == "ConnectionError: connection reset by peer (gave up after 2 attempts)"
    )
    assert fake.apps_called() == ["instantid", "instantid"]
    fake.calls.clear()
    result, rows = deploy_json("--retries", "0", "--model", "instantid", root=fleet)
    assert rows[0]["error"] == "ConnectionError: connection reset by peer"
    assert fake.apps_called() == ["instantid"]


def targets_of(fleet_root: Path, models: list[str]) -> list[core.Target]:
    from modalfleet.fleet.load import load_fleet

    loaded = load_fleet(fleet_root).fleet
    deployments = core.select(loaded, "hybrid", models)
    return core.plan_targets(
        deployments, core.files_on_disk(fleet_root, deployments), "abc1234", None
    )


def test_backoff_doubles_between_retries(fleet):
    backend = FakeBackend({"flux-dev": ["transient", "transient", "transient"]})
    slept: list[float] = []
    results = core.deploy_all(
        targets_of(fleet, ["flux-dev"]),
        backend,
        fleet,
        retries=3,
        backoff_s=1.5,
        sleep=slept.append,
    )
    assert slept == [1.5, 3.0, 6.0]
    assert results[0].ok and results[0].attempts == 4
    assert core.backoff_delay(10, 2.0) == core.MAX_BACKOFF_S


def test_parallel_deploys_overlap(fleet):
    """Four 0.5 s deploys with --parallel 4 take about one deploy's time, not four."""
    targets = targets_of(fleet, ["flux-schnell", "flux-dev", "instantid", "lora"])
    backend = FakeBackend(delay_s=0.5)
    started = time.monotonic()
    results = core.deploy_all(targets, backend, fleet, parallel=4)
    elapsed = time.monotonic() - started
    assert all(result.ok for result in results)
    assert backend.max_active == 4
    assert elapsed < 1.0, elapsed  # serial would be 2.0 s


def test_parallelism_is_bounded(fleet):
    targets = targets_of(fleet, ["flux-schnell", "flux-dev", "instantid", "lora"])
    backend = FakeBackend(delay_s=0.25)
    started = time.monotonic()
    results = core.deploy_all(targets, backend, fleet, parallel=2)
    elapsed = time.monotonic() - started
    assert [result.model for result in results] == ["flux-schnell", "flux-dev", "instantid", "lora"]
    assert backend.max_active == 2
    assert 0.5 <= elapsed < 1.0, elapsed  # two rounds of 0.25 s


def test_events_describe_each_app(fleet):
    events: list[core.Event] = []
    backend = FakeBackend({"lora": ["transient"]})
    core.deploy_all(
        targets_of(fleet, ["lora"]),
        backend,
        fleet,
        backoff_s=0,
        on_event=events.append,
        sleep=lambda s: None,
    )
    assert [(e.state, e.attempt) for e in events] == [
        ("queued", 0),
        ("deploying", 1),
        ("retrying", 1),
        ("deploying", 2),
        ("deployed", 2),
    ]
    assert events[2].message == "ConnectionError: connection reset by peer; retrying in 0 s"


# --- tags ------------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(
        command, cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_tag_is_content_hash_plus_commit_and_dirty_mark(fleet, fake, with_token):
    git("init", "-q", cwd=fleet)
    git("add", "-A", cwd=fleet)
    git("commit", "-q", "-m", "fleet", cwd=fleet)
    commit = git("rev-parse", "--short=7", "HEAD", cwd=fleet)
    assert core.git_revision(fleet) == commit
    result, rows = deploy_json("--model", "flux-schnell", root=fleet)
    assert rows[0]["tag"] == f"{sha12(fleet / 'generated/hybrid/flux_schnell.py')}-{commit}"
    (fleet / "notes.txt").write_text("uncommitted\n")
    assert core.git_revision(fleet) == f"{commit}-dirty"
    result, rows = deploy_json("--model", "flux-schnell", root=fleet)
    assert rows[0]["tag"].endswith(f"-{commit}-dirty")


def test_tags_fit_modals_rules():
    from modal._utils.name_utils import is_valid_tag

    longest = core.make_tag("0123456789ab", "0123456789ab-dirty")
    assert len(longest) <= 50 and is_valid_tag(longest, max_length=50)
    assert core.parse_tag(longest) == ("0123456789ab", "0123456789ab-dirty")
    assert core.parse_tag("0123456789ab-nogit") == ("0123456789ab", "nogit")
    assert core.parse_tag("v1.2") is None and core.parse_tag("") is None


# --- the real SDK boundary, up to the network -----------------------------------------------


def test_broken_generated_module_fails_alone_without_retry(tmp_path):
    broken = tmp_path / "broken_model.py"
    broken.write_text(
        "import modal\napp = modal.App('broken')\nraise RuntimeError('template bug')\n"
    )
    request = DeployRequest(
        app="broken",
        file=broken,
        module="broken_model",
        tag="0123456789ab-nogit",
        environment=None,
        root=tmp_path,
    )
    with pytest.raises(BackendError) as caught:
        ModalBackend(timeout_s=60).deploy(request)
    assert caught.value.transient is False
    assert caught.value.message == "importing broken_model.py failed: RuntimeError: template bug"


def test_unreachable_modal_server_fails_cleanly_and_quickly(fleet):
    """Dummy credentials, a server URL on 127.0.0.1 that refuses: exit 1, no traceback, bounded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(
        MODAL_TOKEN_ID="ak-dummy",
        MODAL_TOKEN_SECRET="as-dummy",
        MODAL_SERVER_URL="http://127.0.0.1:9",
        MODAL_CONFIG_PATH=str(fleet / "no-such.toml"),
    )
    command = [
        sys.executable,
        str(REPO / "cli.py"),
        "deploy",
        "--strategy",
        "hybrid",
        "--model",
        "flux-schnell",
    ]
    command += ["--retries", "1", "--backoff", "0.1", "--format", "json", "--root", str(fleet)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    # The pre-flight reads the workspace (live apps, Secrets, Volumes) first: nothing deployed.
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(
        "error: cannot read the Modal workspace: ConnectionError: Could not connect to the Modal server."
    )
    assert "127.0.0.1" in done.stderr
    assert elapsed < 45, elapsed  # the SDK alone would retry its channel for ~60 s per attempt


@pytest.fixture
def silent_server():
    """A TCP listener on 127.0.0.1 that accepts connections and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_fails_in_bounded_time(fleet, silent_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(
        MODAL_TOKEN_ID="ak-dummy",
        MODAL_TOKEN_SECRET="as-dummy",
        MODAL_SERVER_URL=silent_server,
        MODAL_CONFIG_PATH=str(fleet / "no-such.toml"),
        MODALFLEET_CONNECT_TIMEOUT="2",
    )
    command = [
        sys.executable,
        str(REPO / "cli.py"),
        "deploy",
        "--strategy",
        "hybrid",
        "--model",
        "lora",
    ]
    command += ["--retries", "0", "--format", "json", "--root", str(fleet)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        "error: cannot read the Modal workspace: the Modal server did not answer within 2 s"
    )
    assert elapsed < 30, elapsed


def test_url_of_a_web_endpoint_on_the_generated_class(fleet, monkeypatch):
    """After a deploy the SDK holds the class endpoint's URL in its handle metadata; we report it."""
    from modal._utils.async_utils import synchronizer
    from modal_proto import api_pb2

    from modalfleet.platform.modal_backend import _find_app, _import_generated, _web_url

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "flux_schnell", raising=False)
    module = _import_generated(
        (fleet / "generated/hybrid/flux_schnell.py").resolve(), "flux_schnell"
    )
    app = _find_app(module)
    assert _web_url(module, app) is None  # not deployed: no URL, no dashboard page
    service = synchronizer._translate_in(module.Model._get_class_service_function())
    url = "https://team--flux-schnell-model-web.modal.run"
    service._method_handle_metadata = {
        "generate": api_pb2.FunctionHandleMetadata(),
        "web": api_pb2.FunctionHandleMetadata(web_url=url),
    }
    assert _web_url(module, app) == url
    sys.modules.pop("flux_schnell", None)
