"""Shared fixtures: the repository root, a throw-away copy of the bundled fleet, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from workspace import REPO, FakeModal, copy_fleet, run_cli  # noqa: F401 (tests import these from here)

# Simulation results are cached between runs (economics/sim_cache.py): tests keep theirs in a
# folder of their own, never in the user's ~/.cache, and subprocesses inherit it.
os.environ["MODALFLEET_CACHE_DIR"] = tempfile.mkdtemp(prefix="modalfleet-test-cache-")


@pytest.fixture
def repo_root() -> Path:
    return REPO


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
