"""Example outputs of deploy and status for the manual, from real runs of the CLI against the
fake Modal control plane the tests use (tests/workspace.py's FakeModal), in a throw-away copy
of the bundled fleet. docs/hooks.py fills `<!-- generated: example NAME -->` with them, so the
pages show what the code prints today.

Each story runs once per process (the docs build, or tests/test_docs.py) and gives several
blocks; validation warnings (stderr, the same on every command) are left out.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
WARNING_LINES = ("models.yaml:", "  hint:", "0 error(s)")
# A fixed author and date, so the commit (and so the tags) in the examples is the same each build.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "docs",
    "GIT_AUTHOR_EMAIL": "docs@example.com",
    "GIT_COMMITTER_NAME": "docs",
    "GIT_COMMITTER_EMAIL": "docs@example.com",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
}


def example(name: str) -> str:
    for story in (_deploy_story, _status_story):
        blocks = story()
        if name in blocks:
            return blocks[name]
    raise ValueError(f"unknown example: {name}")


@contextlib.contextmanager
def _workspace():
    """A fleet copy, a FakeModal behind every command and dummy credentials; all undone after."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from workspace import FakeModal, copy_fleet, run_cli

    from modalfleet.platform import deploy as core

    saved_environ, saved_backend = dict(os.environ), core.make_backend
    modal = FakeModal()
    for name in [key for key in os.environ if key.startswith("MODAL_")]:
        del os.environ[name]
    os.environ.update(
        MODAL_TOKEN_ID="ak-docs", MODAL_TOKEN_SECRET="as-docs", MODAL_CONFIG_PATH=os.devnull + ".x"
    )
    core.make_backend = lambda timeout_s=None: modal

    def show(*args: str) -> str:
        """One ```console block: the command, then what it printed (stdout and stderr)."""
        result = run_cli(*args, root=fleet)
        lines = [
            line for line in result.combined.splitlines() if not line.startswith(WARNING_LINES)
        ]
        return "\n".join(["```console", f"$ python cli.py {' '.join(args)}", *lines, "```"])

    try:
        with tempfile.TemporaryDirectory() as folder:
            fleet = copy_fleet(Path(folder) / "fleet")
            assert run_cli("render", root=fleet).exit_code == 0
            yield fleet, modal, show, run_cli
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        core.make_backend = saved_backend


def _commit(fleet: Path, init: bool = False) -> None:
    steps = ([["init", "-q"]] if init else []) + [["add", "-A"], ["commit", "-qm", "fleet"]]
    for args in steps:
        subprocess.run(
            ["git", *args],
            cwd=fleet,
            check=True,
            capture_output=True,
            env={**os.environ, **GIT_ENV},
        )


def _edit(fleet: Path, old: str, new: str) -> None:
    models = fleet / "models.yaml"
    text = models.read_text()
    assert old in text, old
    models.write_text(text.replace(old, new, 1))


def _remove_lora(fleet: Path) -> None:
    models = fleet / "models.yaml"
    text = models.read_text()
    start, end = text.index("\n  lora:\n"), text.index("\n  wan2-1:\n")
    models.write_text(text[:start] + text[end:])


FLUX_DEV_GPU = (
    "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
)


@functools.cache
def _deploy_story() -> dict[str, str]:
    blocks = {}
    with _workspace() as (fleet, modal, show, run_cli):
        _commit(fleet, init=True)
        (fleet / "notes.txt").write_text("not committed yet\n")
        credentials = {k: os.environ.pop(k) for k in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")}
        blocks["deploy-dry-run"] = show("deploy", "--strategy", "hybrid", "--dry-run")
        os.environ.update(credentials)
        (fleet / "notes.txt").unlink()
        modal.secrets = set()
        blocks["deploy-no-secret"] = show("deploy", "--strategy", "hybrid", "--yes")
        modal.secrets = {"huggingface-secret"}
        blocks["deploy-first"] = show("deploy", "--strategy", "hybrid", "--yes")
        blocks["deploy-again"] = show("deploy", "--strategy", "hybrid", "--yes")
        _remove_lora(fleet)
        _edit(fleet, FLUX_DEV_GPU, FLUX_DEV_GPU.replace("hybrid: L40S", "hybrid: H100"))
        assert run_cli("render", root=fleet).exit_code == 0
        _commit(fleet)
        blocks["deploy-prune-dry-run"] = show(
            "deploy", "--strategy", "hybrid", "--prune", "--dry-run"
        )
        blocks["deploy-prune"] = show("deploy", "--strategy", "hybrid", "--prune", "--yes")
    return blocks


@functools.cache
def _status_story() -> dict[str, str]:
    blocks = {}
    with _workspace() as (fleet, modal, show, run_cli):
        assert run_cli("deploy", "--strategy", "hybrid", "--yes", root=fleet).exit_code == 0
        # lora: a new version deployed (v2), then `modal app rollback lora v1` (recorded as v3).
        _edit(
            fleet,
            "{steps: 30, guidance: 5.0, width: 1024, height: 1024, adapter:",
            "{steps: 25, guidance: 5.0, width: 1024, height: 1024, adapter:",
        )
        assert run_cli("render", root=fleet).exit_code == 0
        deployed = run_cli("deploy", "--strategy", "hybrid", "--model", "lora", "--yes", root=fleet)
        assert deployed.exit_code == 0
        modal.rollback("lora", 1)
        del modal.apps["instantid"]  # stopped in the dashboard
        modal.add_app("seedvr2", {"model": "seedvr2"})  # a plain `modal deploy`: no tag
        _edit(fleet, FLUX_DEV_GPU, FLUX_DEV_GPU.replace("hybrid: L40S", "hybrid: H100"))
        blocks["status-drift"] = show("status", "--strategy", "hybrid")
        assert run_cli("render", root=fleet).exit_code == 0
        _remove_lora(fleet)
        assert run_cli("render", root=fleet).exit_code == 0
        blocks["status-untracked"] = show("status", "--strategy", "hybrid")
    return blocks
