"""status: what Modal runs against what generated/ would deploy now (drift, rollbacks, gaps).

Drift rules run against a fake at the SDK boundary. The SDK read path itself (the
AppGetByDeploymentName + AppDeploymentHistory calls) runs for real against a small local gRPC
server on 127.0.0.1 that answers the three RPCs status uses with canned Modal protobufs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from modalfleet.platform import deploy as core
from modalfleet.platform.modal_backend import TOKEN_HELP, BackendError, DeployedApp, HistoryEntry

MODELS = ["flux-schnell", "flux-dev", "instantid", "lora", "wan2-1", "seedvr2"]
MODAL_SETTINGS = (
    "MODAL_TOKEN_ID",
    "MODAL_TOKEN_SECRET",
    "MODAL_PROFILE",
    "MODAL_ENVIRONMENT",
    "MODAL_SERVER_URL",
)


class FakeState:
    """Stands in for Modal's deployed-app state; records what was asked."""

    def __init__(
        self, apps: dict[str, DeployedApp | None] | None = None, error: BackendError | None = None
    ):
        self.apps = apps or {}
        self.error = error
        self.calls: list[tuple[list[str], str | None]] = []

    def deployed_apps(self, apps, environment):
        self.calls.append((list(apps), environment))
        if self.error:
            raise self.error
        return {app: self.apps.get(app) for app in apps}

    def live_apps(self, environment):
        return []

    def environment_name(self, environment):
        return environment or "main"

    def deploy(self, request):
        raise AssertionError("status must not deploy")


@pytest.fixture(autouse=True)
def isolated_modal_settings(monkeypatch, tmp_path):
    for name in MODAL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-such-modal.toml"))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")


@pytest.fixture
def fleet(rendered_fleet_dir: Path) -> Path:
    return rendered_fleet_dir


@pytest.fixture
def state(monkeypatch) -> FakeState:
    fake = FakeState()
    monkeypatch.setattr(core, "make_backend", lambda timeout_s=None: fake)
    return fake


def file_hash(fleet: Path, strategy: str, model: str) -> str:
    path = fleet / "generated" / strategy / f"{model.replace('-', '_')}.py"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def deployed(*entries: HistoryEntry, live: int | None = None) -> DeployedApp:
    newest_first = tuple(sorted(entries, key=lambda e: e.version, reverse=True))
    return DeployedApp(
        app_id="ap-123", live_version=live or newest_first[0].version, history=newest_first
    )


def entry(version: int, tag: str, rollback_to: int = 0) -> HistoryEntry:
    return HistoryEntry(
        version=version,
        tag=tag,
        commit="abc1234",
        dirty=False,
        rollback=bool(rollback_to),
        rollback_version=rollback_to,
    )


def in_sync_fleet(fleet: Path, strategy: str = "hybrid") -> dict[str, DeployedApp]:
    return {m: deployed(entry(1, f"{file_hash(fleet, strategy, m)}-abc1234")) for m in MODELS}


def status_json(*args: str, root: Path):
    result = run_cli("status", "--format", "json", *args, root=root)
    return result, (json.loads(result.output) if result.output.strip() else None)


def test_everything_in_sync_exits_0(fleet, state):
    state.apps = in_sync_fleet(fleet)
    result = run_cli("status", "--strategy", "hybrid", "--env", "prod", root=fleet)
    assert result.exit_code == 0, result.text
    lines = result.output.splitlines()
    assert lines[0].split() == ["MODEL", "STATUS", "LIVE", "TAG", "COMMIT", "CURRENT", "DETAIL"]
    first = lines[1].split()
    current = file_hash(fleet, "hybrid", "flux-schnell")
    assert first[:6] == ["flux-schnell", "in-sync", "v1", f"{current}-abc1234", "abc1234", current]
    assert lines[-1] == "6 in sync, 0 drifting (environment prod)"
    assert state.calls == [(MODELS, "prod")]


def test_each_kind_of_drift_is_flagged_and_exits_2(fleet, state):
    current = {m: file_hash(fleet, "hybrid", m) for m in MODELS}
    state.apps = in_sync_fleet(fleet)
    state.apps["flux-dev"] = None
    state.apps["instantid"] = deployed(entry(1, "0123456789ab-abc1234"))
    # lora: v2 deployed the current file, then `modal app rollback` went back to v1 (recorded as v3).
    state.apps["lora"] = deployed(
        entry(1, "0123456789ab-1111111"),
        entry(2, f"{current['lora']}-2222222"),
        entry(3, "", rollback_to=1),
    )
    state.apps["wan2-1"] = deployed(entry(1, ""))  # a plain `modal deploy`, no modalfleet tag
    # seedvr2: rolled back, but to the version generated/ would deploy now: in sync.
    state.apps["seedvr2"] = deployed(
        entry(1, f"{current['seedvr2']}-1111111"),
        entry(2, "0123456789ab-2222222"),
        entry(3, "", rollback_to=1),
    )
    result, rows = status_json("--strategy", "hybrid", root=fleet)
    assert result.exit_code == 2, result.text
    by_model = {row["model"]: row for row in rows}
    assert {m: row["status"] for m, row in by_model.items()} == {
        "flux-schnell": "in-sync",
        "flux-dev": "not-deployed",
        "instantid": "out-of-date (rendered, not deployed)",
        "lora": "rolled-back",
        "wan2-1": "untagged",
        "seedvr2": "in-sync",
    }
    assert by_model["flux-dev"]["deployed_version"] is None
    assert (
        by_model["instantid"]["detail"]
        == f"runs 0123456789ab, generated/ would deploy {current['instantid']}"
    )
    assert by_model["lora"] == {
        "model": "lora",
        "app": "lora",
        "status": "rolled-back",
        "current_hash": current["lora"],
        "on_disk_hash": current["lora"],
        "strategy": None,
        "deployed_version": 3,
        "deployed_tag": "0123456789ab-1111111",
        "deployed_commit": "abc1234",
        "newest_tag": f"{current['lora']}-2222222",
        "detail": f"live v3 runs 0123456789ab-1111111, newest deploy is {current['lora']}-2222222",
    }
    assert by_model["seedvr2"]["deployed_tag"] == f"{current['seedvr2']}-1111111"


def test_live_version_older_than_the_newest_deploy_is_a_rollback(fleet, state):
    current = file_hash(fleet, "hybrid", "flux-dev")
    state.apps = in_sync_fleet(fleet)
    state.apps["flux-dev"] = deployed(
        entry(1, "0123456789ab-1111111"), entry(2, f"{current}-2222222"), live=1
    )
    result, rows = status_json("--strategy", "hybrid", root=fleet)
    assert result.exit_code == 2
    assert rows[1]["status"] == "rolled-back" and rows[1]["deployed_version"] == 1


def test_without_strategy_any_strategys_current_file_counts(fleet, state):
    cost_optimized = file_hash(fleet, "cost-optimized", "flux-dev")
    assert cost_optimized != file_hash(fleet, "hybrid", "flux-dev")
    state.apps = in_sync_fleet(fleet)
    state.apps["flux-dev"] = deployed(entry(1, f"{cost_optimized}-abc1234"))
    result, rows = status_json(root=fleet)
    assert result.exit_code == 0, result.text
    assert rows[1]["status"] == "in-sync" and rows[1]["strategy"] == "cost-optimized"
    result, rows = status_json("--strategy", "hybrid", root=fleet)
    assert result.exit_code == 2
    assert rows[1]["status"] == "out-of-date (rendered, not deployed)"


def test_missing_credentials_and_backend_errors_exit_1(fleet, state, monkeypatch):
    state.error = BackendError(
        "ConnectionError: Could not connect to the Modal server.", transient=True
    )
    result = run_cli("status", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert (
        "error: cannot read the deployed apps from Modal: ConnectionError: Could not connect"
        in result.stderr
    )
    monkeypatch.delenv("MODAL_TOKEN_ID")
    state.calls.clear()
    result = run_cli("status", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {TOKEN_HELP}"
    assert state.calls == []


def test_a_missing_generated_file_is_unrendered_yaml(fleet, state):
    state.apps = in_sync_fleet(fleet)
    current = file_hash(fleet, "hybrid", "lora")
    (fleet / "generated/hybrid/lora.py").unlink()
    result, rows = status_json("--strategy", "hybrid", root=fleet)
    assert result.exit_code == 2
    assert (rows[3]["model"], rows[3]["status"], rows[3]["on_disk_hash"]) == (
        "lora",
        "out-of-date (unrendered YAML)",
        "missing",
    )
    assert rows[3]["detail"] == (
        f"generated/hybrid/lora.py is missing, the YAML renders {current}; run render, commit, deploy"
    )


# --- the real SDK read path against a local stand-in for Modal's API ------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_servicer(histories: dict[str, tuple[int, list]], others: dict[str, dict]):
    """A ModalClient servicer answering ClientHello, AppGetByDeploymentName, AppDeploymentHistory,
    AppList and AppGetTags. AppList lists the apps of `histories` (tagged as modalfleet tags
    them) and `others` (app name -> its tags)."""
    import grpclib
    from modal_proto import api_grpc, api_pb2

    rollback = api_pb2.DEPLOYMENT_TYPE_ROLLBACK
    asked: list[tuple[str, str]] = []

    async def unimplemented(self, stream):
        raise grpclib.GRPCError(grpclib.Status.UNIMPLEMENTED)

    async def ClientHello(self, stream):
        await stream.recv_message()
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def AppGetByDeploymentName(self, stream):
        request = await stream.recv_message()
        asked.append((request.name, request.environment_name))
        app_id = f"ap-{request.name}" if request.name in histories else ""
        await stream.send_message(
            api_pb2.AppGetByDeploymentNameResponse(app_id=app_id, environment_name="main")
        )

    async def EnvironmentGetOrCreate(self, stream):
        # The environment named "" is the workspace's default, which Modal calls `main`.
        request = await stream.recv_message()
        asked.append(("environment", request.deployment_name))
        await stream.send_message(
            api_pb2.EnvironmentGetOrCreateResponse(
                environment_id="en-1",
                metadata=api_pb2.EnvironmentMetadata(name=request.deployment_name or "main"),
            )
        )

    async def AppDeploymentHistory(self, stream):
        request = await stream.recv_message()
        live, events = histories[request.app_id.removeprefix("ap-")]
        items = [
            api_pb2.AppDeploymentHistory(
                app_id=request.app_id,
                version=version,
                tag=tag,
                rollback_version=rollback_to,
                deployment_type=rollback if rollback_to else 0,
                commit_info=api_pb2.CommitInfo(commit_hash=commit, dirty=dirty),
            )
            for version, tag, rollback_to, commit, dirty in events
        ]
        await stream.send_message(
            api_pb2.AppDeploymentHistoryResponse(
                app_deployment_histories=items, production_app_version=live
            )
        )

    def tags_of() -> dict[str, dict]:
        ours = {name: {"managed-by": "modalfleet", "model": name} for name in histories}
        return {**ours, **others}

    async def AppList(self, stream):
        await stream.recv_message()
        items = [
            api_pb2.AppListResponse.AppListItem(
                app_id=f"ap-{name}", description=name, name=name, state=api_pb2.APP_STATE_DEPLOYED
            )
            for name in tags_of()
        ]
        items.append(  # a stopped app is never listed as live
            api_pb2.AppListResponse.AppListItem(
                app_id="ap-old", name="old", state=api_pb2.APP_STATE_STOPPED
            )
        )
        await stream.send_message(api_pb2.AppListResponse(apps=items))

    async def AppGetTags(self, stream):
        request = await stream.recv_message()
        tags = tags_of()[request.app_id.removeprefix("ap-")]
        await stream.send_message(api_pb2.AppGetTagsResponse(tags=tags))

    methods = {name: unimplemented for name in api_grpc.ModalClientBase.__abstractmethods__}
    methods.update(
        ClientHello=ClientHello,
        AppGetByDeploymentName=AppGetByDeploymentName,
        EnvironmentGetOrCreate=EnvironmentGetOrCreate,
        AppDeploymentHistory=AppDeploymentHistory,
        AppList=AppList,
        AppGetTags=AppGetTags,
    )
    return type("FakeModalApi", (api_grpc.ModalClientBase,), methods)(), asked


@pytest.fixture
def local_modal_api():
    """Start the stand-in server on 127.0.0.1 in a thread; yields (url, histories, asked)."""
    from grpclib.server import Server

    histories: dict[str, tuple[int, list]] = {}
    others: dict[str, dict] = {}
    servicer, asked = make_servicer(histories, others)
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    servers: list[Server] = []

    async def start() -> None:
        server = Server([servicer])  # built inside the loop that serves it
        await server.start("127.0.0.1", port)
        servers.append(server)

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}", histories, asked, others
    loop.call_soon_threadsafe(servers[0].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def run_status_process(
    fleet: Path, server_url: str, *args: str
) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(
        MODAL_TOKEN_ID="ak-dummy",
        MODAL_TOKEN_SECRET="as-dummy",
        MODAL_SERVER_URL=server_url,
        MODAL_CONFIG_PATH=str(fleet / "none.toml"),
    )
    env["MODALFLEET_CONNECT_TIMEOUT"] = "2"
    command = [
        sys.executable,
        str(REPO / "cli.py"),
        "status",
        "--format",
        "json",
        "--root",
        str(fleet),
        *args,
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=90)
    return done, time.monotonic() - started


def test_status_reads_modal_history_through_the_sdk(fleet, local_modal_api):
    url, histories, asked, others = local_modal_api
    # Deleted from models.yaml but still running: untracked. An app without the managed-by tag
    # (deployed by hand) is none of modalfleet's business and is not listed.
    others["old-model"] = {"managed-by": "modalfleet", "model": "old-model", "strategy": "hybrid"}
    others["by-hand"] = {"owner": "someone"}
    current = {m: file_hash(fleet, "hybrid", m) for m in MODELS}
    for model in ("flux-schnell", "instantid", "wan2-1", "seedvr2"):
        histories[model] = (1, [(1, f"{current[model]}-abc1234", 0, "abc1234deadbeef", False)])
    # lora: current file deployed as v2 from a dirty tree, then rolled back to v1 (recorded as v3).
    histories["lora"] = (
        3,
        [
            (1, "0123456789ab-1111111", 0, "1111111aaaa", False),
            (2, f"{current['lora']}-2222222-dirty", 0, "2222222bbbb", True),
            (3, "", 1, "1111111aaaa", False),
        ],
    )
    done, elapsed = run_status_process(fleet, url, "--strategy", "hybrid", "--env", "prod")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    rows = {row["model"]: row for row in json.loads(done.stdout)}
    assert rows["flux-dev"]["status"] == "not-deployed"
    assert rows["flux-schnell"]["status"] == "in-sync"
    assert rows["flux-schnell"]["deployed_commit"] == "abc1234"
    assert rows["lora"]["status"] == "rolled-back"
    assert rows["lora"]["deployed_version"] == 3
    assert rows["lora"]["deployed_tag"] == "0123456789ab-1111111"
    assert rows["lora"]["newest_tag"] == f"{current['lora']}-2222222-dirty"
    assert asked == [(model, "prod") for model in MODELS]
    assert list(rows) == [*MODELS, "old-model"]
    assert rows["old-model"]["status"] == "untracked"
    assert rows["old-model"]["strategy"] == "hybrid"
    assert rows["old-model"]["detail"] == (
        "managed-by: modalfleet, but models.yaml no longer declares it; "
        "deploy --prune or destroy stops it"
    )
    assert elapsed < 60


def test_status_names_the_default_environment_as_modal_does(fleet, local_modal_api):
    url, histories, asked, _ = local_modal_api
    done, _ = run_status_process(fleet, url, "--strategy", "hybrid", "--format", "text")
    assert done.returncode == 2, done.stderr  # nothing deployed
    assert done.stdout.splitlines()[-1] == "0 in sync, 6 drifting (environment main)"
    # The SDK resolved the environment once, then every read named it.
    assert asked == [("environment", ""), *[(model, "main") for model in MODELS]]


def test_status_with_an_unreachable_server_fails_cleanly(fleet):
    done, elapsed = run_status_process(
        fleet, f"http://127.0.0.1:{free_port()}", "--strategy", "hybrid"
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        "error: cannot read the deployed apps from Modal: ConnectionError: Could not connect to the Modal server."
        in done.stderr
    )
    assert elapsed < 30


def test_status_against_a_server_that_never_answers_is_bounded(fleet):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
    try:
        done, elapsed = run_status_process(
            fleet, f"http://127.0.0.1:{listener.getsockname()[1]}", "--strategy", "hybrid"
        )
    finally:
        listener.close()
    assert done.returncode == 1
    assert (
        "error: cannot read the deployed apps from Modal: the Modal server did not answer within 2 s"
        in done.stderr
    )
    assert elapsed < 30
