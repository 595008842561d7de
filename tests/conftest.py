"""Shared fixtures: the repository root, a throw-away copy of the bundled fleet, the CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
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


def run_cli(*args: str, root: Path | None = None) -> Result:
    """Run the CLI in-process through click's runner, the way main() does (exit codes included)."""
    from click.testing import CliRunner

    from modalfleet.cli import main

    argv = list(args)
    if root is not None:
        argv += ["--root", str(root)]
    runner = CliRunner()
    outcome = runner.invoke(_MainWrapper(main), argv, catch_exceptions=False)
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
