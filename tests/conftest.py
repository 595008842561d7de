"""Shared fixtures: the repository root, a throw-away copy of the bundled fleet, the CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Simulation results are cached between runs (economics/sim_cache.py): tests keep theirs in a
# folder of their own, never in the user's ~/.cache, and subprocesses inherit it.
os.environ["MODALFLEET_CACHE_DIR"] = tempfile.mkdtemp(prefix="modalfleet-test-cache-")
FLEET_FILES = ("models.yaml", "gpus.yaml", "strategies", "generated")


@pytest.fixture
def repo_root() -> Path:
    return REPO


def copy_fleet(dest: Path, with_generated: bool = True) -> Path:
    """Copy the bundled fleet (data, generated/) into dest; templates come from the package."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FLEET_FILES:
        source = REPO / name
        if name == "generated" and not with_generated:
            continue
        if source.is_dir():
            shutil.copytree(source, dest / name)
        elif source.exists():
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    """A private copy of the bundled fleet that a test may edit."""
    return copy_fleet(tmp_path / "fleet")


@pytest.fixture
def rendered_fleet_dir(fleet_dir: Path) -> Path:
    """The bundled fleet with generated/ rendered fresh (whatever state the checkout's copy is in)."""
    from modalfleet.fleet.load import load_fleet
    from modalfleet.generate.render import render_tree, template_search_path, write_tree

    fleet = load_fleet(fleet_dir).fleet
    write_tree(fleet_dir, render_tree(fleet, template_search_path(fleet_dir)))
    return fleet_dir


@dataclass
class Result:
    exit_code: int
    output: str  # stdout
    stderr: str

    @property
    def text(self) -> str:
        return self.output + self.stderr


def run_cli(*args: str, root: Path | None = None, input: str | None = None) -> Result:
    """Run the CLI in-process through click's runner, the way main() does (exit codes included);
    input: what a person types."""
    from click.testing import CliRunner

    from modalfleet.cli import main

    argv = list(args)
    if root is not None:
        argv += ["--root", str(root)]
    runner = CliRunner()
    outcome = runner.invoke(_MainWrapper(main), argv, input=input, catch_exceptions=False)
    return Result(outcome.exit_code, outcome.stdout, outcome.stderr)


class _MainWrapper:
    """Adapts main(argv) -> int to what CliRunner.invoke expects of a command."""

    def __init__(self, main):
        self._main = main
        self.name = "modalfleet"

    def main(self, args=None, prog_name=None, **_):
        raise SystemExit(self._main(list(args or [])))


@pytest.fixture
def cli():
    return run_cli


def run_subprocess(
    *args: str, cwd: Path = REPO, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python cli.py ARGS` in a real child process (env: its whole environment, if given)."""
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


SILENT_CONNECT_TIMEOUT_S = 2  # MODALFLEET_CONNECT_TIMEOUT under silent_modal_env


@pytest.fixture
def silent_modal_env(tmp_path: Path):
    """Environment for a CLI subprocess whose Modal server (on 127.0.0.1) accepts connections
    and never answers: dummy token, no ~/.modal.toml, a 2 s connect limit. A subprocess,
    because the SDK keeps its client for the life of the process."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept_and_stay_silent() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # closed: the test is over
                return

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL")}
    env.update(
        MODAL_TOKEN_ID="ak-dummy",
        MODAL_TOKEN_SECRET="as-dummy",
        MODAL_SERVER_URL=f"http://127.0.0.1:{listener.getsockname()[1]}",
        MODAL_CONFIG_PATH=str(tmp_path / "no-such.toml"),
        MODALFLEET_CONNECT_TIMEOUT=str(SILENT_CONNECT_TIMEOUT_S),
    )
    yield env
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
    listener.close()
    thread.join(5)
    for connection in accepted:
        connection.close()


class FakeModal:
    """A fake Modal control plane at the Backend boundary (platform.deploy.make_backend): apps
    with their tags and deployment history, Secrets and Volumes. It records what it is asked to
    deploy, stop and create, and keeps its state between commands like a workspace does."""

    def __init__(self, secrets=("huggingface-secret",), volumes=("model-weights",)):
        self.apps: dict[str, dict] = {}  # name -> {"app_id", "tags", "history": [HistoryEntry]}
        self.secrets = set(secrets)
        self.volumes = set(volumes)
        self.deployed: list[str] = []
        self.stopped: list[str] = []
        self.created_volumes: list[str] = []

    def deploy(self, request):
        from modalfleet.platform.modal_backend import Deployed, HistoryEntry

        app = self.apps.setdefault(request.app, {"app_id": f"ap-{request.app}", "history": []})
        # The tags the generated module gives its modal.App.
        app["tags"] = {
            "model": request.app,
            "strategy": request.file.parent.name,
            "managed-by": "modalfleet",
        }
        version = len(app["history"]) + 1
        app["history"].append(HistoryEntry(version, request.tag, "abc1234", False, False))
        self.deployed.append(request.app)
        return Deployed(app_id=app["app_id"], url=f"https://team--{request.app}-web.modal.run")

    def add_app(self, name: str, tags: dict[str, str], tag: str = "") -> None:
        """An app deployed some other way (by hand, by an older fleet)."""
        from modalfleet.platform.modal_backend import HistoryEntry

        self.apps[name] = {
            "app_id": f"ap-{name}",
            "tags": dict(tags),
            "history": [HistoryEntry(1, tag, "", False, False)],
        }

    def deployed_apps(self, apps, environment):
        from modalfleet.platform.modal_backend import DeployedApp

        found = {}
        for name in apps:
            app = self.apps.get(name)
            found[name] = (
                None
                if app is None
                else DeployedApp(
                    app_id=app["app_id"],
                    live_version=len(app["history"]),
                    history=tuple(reversed(app["history"])),
                )
            )
        return found

    def live_apps(self, environment):
        from modalfleet.platform.modal_backend import LiveApp

        return [
            LiveApp(name=name, app_id=app["app_id"], tags=dict(app["tags"]))
            for name, app in sorted(self.apps.items())
        ]

    def stop_app(self, app, environment):
        del self.apps[app.name]
        self.stopped.append(app.name)

    def secret_names(self, environment):
        return set(self.secrets)

    def volume_names(self, environment):
        return set(self.volumes)

    def create_volume(self, name, environment):
        self.volumes.add(name)
        self.created_volumes.append(name)

    def environment_name(self, environment):
        """Modal names the workspace's default environment `main`."""
        return environment or "main"


@pytest.fixture
def fake_modal(monkeypatch) -> FakeModal:
    """A FakeModal behind every command, with dummy credentials and no Modal config file."""
    from modalfleet.platform import deploy as core

    for name in [k for k in os.environ if k.startswith("MODAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MODAL_CONFIG_PATH", os.devnull + ".none")
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
    modal = FakeModal()
    monkeypatch.setattr(core, "make_backend", lambda timeout_s=None: modal)
    return modal
