"""A throw-away copy of the bundled fleet, the CLI run in-process, and the fake Modal control
plane: what the tests (through conftest) and the manual's generated examples (docs/examples.py)
run deploy, status and destroy against. No pytest here, so the docs build can import it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLEET_FILES = ("models.yaml", "gpus.yaml", "strategies", "generated")


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


@dataclass
class Result:
    exit_code: int
    output: str  # stdout
    stderr: str
    combined: str = ""  # stdout and stderr interleaved, as on a terminal

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
    return Result(outcome.exit_code, outcome.stdout, outcome.stderr, outcome.output)


class _MainWrapper:
    """Adapts main(argv) -> int to what CliRunner.invoke expects of a command."""

    def __init__(self, main):
        self._main = main
        self.name = "modalfleet"

    def main(self, args=None, prog_name=None, **_):
        raise SystemExit(self._main(list(args or [])))


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

    def rollback(self, name: str, version: int) -> None:
        """What `modal app rollback NAME vVERSION` records: a new version, untagged, that runs
        the old one."""
        from modalfleet.platform.modal_backend import HistoryEntry

        history = self.apps[name]["history"]
        history.append(HistoryEntry(len(history) + 1, "", "abc1234", False, True, version))

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
