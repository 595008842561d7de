"""The package as a user gets it: a wheel installed (not editable) into a fresh virtual
environment, used in an empty folder outside this checkout. Catches package data that the
checkout has and the wheel lacks (templates, schemas, examples), which no in-checkout test sees.

The venv reuses the installed dependencies (--system-site-packages), so this runs offline.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from modalfleet import __version__


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel built from a copy of the package sources, installed into a new venv."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    # copytree follows symbolic links (the six-models example links to the repository's fleet),
    # as the wheel build does in a checkout.
    shutil.copytree(
        REPO / "modalfleet",
        source / "modalfleet",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(work / "dist"), str(source)],
        cwd=work, env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("modalfleet-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], work, env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin/python"
    install = _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
        cwd=work, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    return {"wheel": wheel, "venv": venv, "python": python, "env": env, "work": work}


def test_the_wheel_holds_the_templates_schemas_and_examples(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for name in (
        "modalfleet/generate/templates/base.py.j2",
        "modalfleet/generate/templates/video_upscale.py.j2",
        "modalfleet/schema/models.schema.json",
        "modalfleet/fleet/architectures/flux1-dev.json",  # validate reads it (vram-declared-off)
        "modalfleet/fleet/architectures/seedvr2-3b.json",
        "modalfleet/examples/six-models/models.yaml",
        "modalfleet/examples/six-models/strategies/hybrid.yaml",
        "modalfleet/examples/minimal/strategies/production.yaml",
        "modalfleet/examples/common/gpus.yaml",
        "modalfleet/examples/common/dot-github/workflows/deploy.yml",
    ):
        assert name in names, name
    # The linked example went in as the file's content, not as a link.
    packaged = zipfile.ZipFile(installed["wheel"]).read(
        "modalfleet/examples/six-models/models.yaml"
    )
    assert packaged == (REPO / "models.yaml").read_bytes()


def test_the_venv_runs_the_wheel_not_this_checkout(installed, tmp_path):
    found = _run(
        [str(installed["python"]), "-c", "import modalfleet; print(modalfleet.__file__)"],
        cwd=tmp_path, env=installed["env"],
    )  # fmt: skip
    where = Path(found.stdout.strip())
    assert where.is_relative_to(installed["venv"]), where
    assert not where.is_relative_to(REPO)


@pytest.fixture(scope="module")
def new_fleet(installed) -> Path:
    fleet = installed["work"] / "empty"
    fleet.mkdir()
    init = _run(["modalfleet", "init"], cwd=fleet, env=installed["env"])
    assert init.returncode == 0, init.stderr
    assert init.stdout.splitlines()[-1].startswith("fleet 'six-models' written to ./ (15 files).")
    return fleet


def test_init_validate_render_check_in_an_empty_folder(installed, new_fleet):
    env = installed["env"]
    validate = _run(["modalfleet", "validate"], cwd=new_fleet, env=env)
    assert validate.returncode == 0, validate.stderr
    assert validate.stdout.splitlines()[-1] == "ok: 6 models, 4 strategies, 10 GPUs"
    render = _run(["modalfleet", "render"], cwd=new_fleet, env=env)
    assert (render.returncode, render.stdout) == (0, "written 24, unchanged 0, removed 0\n")
    check = _run(["modalfleet", "render", "--check"], cwd=new_fleet, env=env)
    assert (check.returncode, check.stdout) == (0, "generated/ is current\n")
    # The installed templates render the same bytes as this checkout's committed tree.
    for path in (REPO / "generated").rglob("*.py"):
        relative = path.relative_to(REPO)
        assert (new_fleet / relative).read_bytes() == path.read_bytes(), relative
    version = _run(["modalfleet", "--version"], cwd=new_fleet, env=env)
    assert version.stdout == f"modalfleet, version {__version__}\n"


def _hooks(config: Path) -> list[dict]:
    data = yaml.safe_load(config.read_text())
    if isinstance(data, list):  # .pre-commit-hooks.yaml: the hooks themselves
        return data
    return [hook for repo in data["repos"] for hook in repo["hooks"]]


def _run_hook(hook: dict, fleet: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # What pre-commit does for a hook that takes no file names: run entry + args in the
    # repository root, with the hook's environment (here the venv) first on PATH.
    assert hook["pass_filenames"] is False
    return _run(shlex.split(hook["entry"]) + hook.get("args", []), cwd=fleet, env=env)


@pytest.mark.parametrize(
    "config", [REPO / ".pre-commit-hooks.yaml", Path(".pre-commit-config.yaml")], ids=str
)
def test_the_pre_commit_hooks_pass_on_the_new_fleet_and_catch_an_unrendered_edit(
    installed, new_fleet, config, tmp_path
):
    fleet = tmp_path / "fleet"
    shutil.copytree(new_fleet, fleet)
    # The fleet as a user commits it, rendered: also when this test runs without the one above.
    assert _run(["modalfleet", "render"], cwd=fleet, env=installed["env"]).returncode == 0
    hooks = {
        hook["id"]: hook for hook in _hooks(config if config.is_absolute() else fleet / config)
    }
    assert sorted(hooks) == ["modalfleet-render-check", "modalfleet-validate"]
    # Each hook runs when a file it covers is committed.
    assert re.search(hooks["modalfleet-validate"]["files"], "strategies/hybrid.yaml")
    assert re.search(hooks["modalfleet-render-check"]["files"], "generated/hybrid/flux_dev.py")
    assert re.search(hooks["modalfleet-render-check"]["files"], "templates/base.py.j2")
    for hook in hooks.values():
        ran = _run_hook(hook, fleet, installed["env"])
        assert ran.returncode == 0, (hook["id"], ran.stdout, ran.stderr)
    models = fleet / "models.yaml"
    models.write_text(
        models.read_text().replace("{steps: 4, guidance: 0.0", "{steps: 5, guidance: 0.0")
    )
    stale = _run_hook(hooks["modalfleet-render-check"], fleet, installed["env"])
    assert stale.returncode == 1
    assert "  changed:  generated/hybrid/flux_schnell.py" in stale.stdout.splitlines()
