"""modalfleet's local state (the render cache, the render lock, the simulation cache) is never
followed or believed: every state file and folder as a symbolic link, a FIFO and a device
(a link to /dev/zero) is refused with a message naming it, without hanging and without writing
through it; a tampered cached figure is recomputed, never billed.

The commands run as real processes with a timeout: a FIFO opened the ordinary way blocks
forever, and /dev/zero read whole never ends, so a regression here must fail, not hang.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import copy_fleet, run_cli, run_subprocess

from modalfleet.economics import sim_cache
from modalfleet.economics.simulate import ServingPolicy, simulate
from modalfleet.fleet import statefile

KINDS = ("link", "fifo", "device")
# What each kind is called in the refusal (statefile.describe).
CALLED = {"link": "a symbolic link", "fifo": "a FIFO (named pipe)", "device": "a symbolic link"}


def plant(path: Path, kind: str, real: Path | None = None) -> None:
    """Replace path with a link to `real` (a real file or folder of the right kind, outside),
    a FIFO, or a link to /dev/zero."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "link":
        path.symlink_to(real)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


def env_with(**values: str) -> dict[str, str]:
    return {**os.environ, **values}


def assert_refused(result, path: Path, kind: str, expected: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"{path} is {CALLED[kind]}, not {expected};" in result.stderr, result.stderr
    assert "does not follow links (remove it; modalfleet makes it again)" in result.stderr


# --------------------------------------------------------------------------------------------
# The render cache and the render lock


@pytest.fixture
def rendered(tmp_path) -> Path:
    """The bundled fleet rendered once, so its render cache exists."""
    root = copy_fleet(tmp_path / "fleet", with_generated=False)
    assert run_cli("render", root=root).exit_code == 0
    assert (root / ".modalfleet-cache" / "render.json").is_file()
    return root


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("check", [False, True], ids=["render", "check"])
def test_render_cache_folder_is_refused(rendered, tmp_path, kind, check):
    folder = rendered / ".modalfleet-cache"
    outside = tmp_path / "outside"
    outside.mkdir()
    plant(folder, kind, outside)
    args = ["render", "--root", str(rendered), *(["--check"] if check else [])]
    result = run_subprocess(*args, timeout=60)
    assert_refused(result, folder, kind, "a folder")
    assert list(outside.iterdir()) == []  # nothing written through the link


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("check", [False, True], ids=["render", "check"])
def test_render_cache_file_is_refused(rendered, tmp_path, kind, check):
    path = rendered / ".modalfleet-cache" / "render.json"
    copy = tmp_path / "render.json"
    shutil.copy(path, copy)  # a link to a valid cache is refused all the same
    plant(path, kind, copy)
    args = ["render", "--root", str(rendered), *(["--check"] if check else [])]
    assert_refused(run_subprocess(*args, timeout=60), path, kind, "a regular file")
    assert copy.read_bytes() == (tmp_path / "render.json").read_bytes()


def plant_and_render(rendered: Path, path: Path, kind: str, real: Path, content: str):
    """Plant `kind` at path (a link to `real`, which holds content), take one generated file
    away (so render has work to write and record), and run render in its own process."""
    real.write_text(content)
    plant(path, kind, real)
    (rendered / "generated" / "hybrid" / "lora.py").unlink()
    return run_subprocess("render", "--root", str(rendered), timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_render_cache_gitignore_is_never_written_through(rendered, tmp_path, kind):
    path = rendered / ".modalfleet-cache" / ".gitignore"
    target = tmp_path / "someone-elses-file"
    result = plant_and_render(rendered, path, kind, target, "keep me\n")
    assert_refused(result, path, kind, "a regular file")
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("kind", KINDS)
def test_render_lock_is_refused(rendered, tmp_path, kind):
    path = rendered / "generated" / ".render.lock"
    result = plant_and_render(rendered, path, kind, tmp_path / "pid", "1")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    # generated/ is checked for links and special files before the lock is even taken.
    what = "a symbolic link" if kind != "fifo" else "a FIFO (named pipe)"
    assert f"render: {path} is {what}; refusing to render into a generated/" in result.stderr
    assert not (rendered / "generated" / "hybrid" / "lora.py").exists()  # nothing written


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_render_lock_read_is_bounded_and_never_blocks(tmp_path, kind):
    """The lock alone (without render's scan of generated/ before it): refused, not read."""
    from modalfleet.generate.render import RenderLock

    path = tmp_path / ".render.lock"
    plant(path, kind)
    with pytest.raises(statefile.StateFileError, match=re.escape(f"{path} is {CALLED[kind]}")):
        with RenderLock(path, wait_s=1):
            pass


def test_special_file_in_generated_is_refused_by_render_and_check(rendered):
    fifo = rendered / "generated" / "hybrid" / "lora.py"
    fifo.unlink()
    os.mkfifo(fifo)
    for args in (["render"], ["render", "--check"]):
        result = run_subprocess(*args, "--root", str(rendered), timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"{fifo} is a FIFO (named pipe); refusing to render into a generated/" in (
            result.stderr
        )


# --------------------------------------------------------------------------------------------
# The simulation cache


@pytest.fixture
def sim_cache_dir(tmp_path) -> Path:
    """A simulation cache filled by one `cost --strategy hybrid` of the bundled fleet."""
    folder = tmp_path / "sim-cache"
    result = run_subprocess(
        "cost", "--strategy", "hybrid", env=env_with(MODALFLEET_CACHE_DIR=str(folder))
    )
    assert result.returncode == 0, result.stderr
    # One entry per distinct simulation of the models with traffic, hybrid and its baseline.
    assert len(list(folder.glob("*/*.json"))) >= 4
    return folder


def first_entry(folder: Path) -> Path:
    return sorted(folder.glob("*/*.json"))[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["folder", "subfolder", "entry"])
def test_simulation_cache_is_refused(sim_cache_dir, tmp_path, kind, where):
    entry = first_entry(sim_cache_dir)
    path = {"folder": sim_cache_dir, "subfolder": entry.parent, "entry": entry}[where]
    real = tmp_path / "real"
    (shutil.copytree if path.is_dir() else shutil.copy)(path, real)
    plant(path, kind, real)
    env = env_with(MODALFLEET_CACHE_DIR=str(sim_cache_dir))
    result = run_subprocess("cost", "--strategy", "hybrid", env=env, timeout=60)
    expected = "a regular file" if where == "entry" else "a folder"
    assert_refused(result, path, kind, expected)


def test_real_simulations_pass_the_checks(sim_cache_dir):
    """Every figure the bundled fleet's simulations give is believed when read back (else the
    cache would silently recompute everything)."""
    for entry in sim_cache_dir.glob("*/*.json"):
        values = json.loads(entry.read_text())["result"]
        assert sim_cache.checked(values, values["horizon_s"]) is not None, values


POLICY = ServingPolicy(service_time_s=10, cold_start_s=5, scaledown_window_s=20)
TAMPERED = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e308": "1e308",
    "1e400": "1e400",  # parses as inf
    "a string": '"70"',
    "negative": "-5e6",
    "zero with requests": "0",
    "zero float with requests": "0.0",
    "true": "true",
    "null": "null",
    "a list": "[70]",
}


PARTS = {"policy": "p", "horizon_s": 300}


def cached_once(tmp_path, monkeypatch) -> tuple[list[int], Callable, Path]:
    """One result cached under PARTS: the list of compute calls, compute, and the entry."""
    monkeypatch.setenv("MODALFLEET_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[int] = []

    def compute():
        calls.append(1)
        return simulate([0, 100], POLICY, 300)

    assert sim_cache.cached(PARTS, compute).billed_seconds == 70
    (entry,) = (tmp_path / "cache").glob("*/*.json")
    return calls, compute, entry


@pytest.mark.parametrize("text", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_billed_seconds_is_recomputed(tmp_path, monkeypatch, text):
    calls, compute, entry = cached_once(tmp_path, monkeypatch)
    raw = entry.read_text()
    assert '"billed_seconds": 70.0' in raw
    entry.write_text(raw.replace('"billed_seconds": 70.0', f'"billed_seconds": {text}'))
    result = sim_cache.cached(PARTS, compute)
    assert len(calls) == 2 and result.billed_seconds == 70
    assert json.loads(entry.read_text())["result"]["billed_seconds"] == 70  # repaired


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests", 2.5),  # a count as a float
        ("requests", True),
        ("max_containers_used", 0),  # billed seconds with no container
        ("idle_seconds", 71.0),  # more idle than billed
        ("cold_start_rate", 1.5),
        ("latency_p50_s", 99.0),  # p50 above p95
        ("horizon_s", 600.0),  # another horizon than the key's
        ("busy_seconds", 0.0),  # requests that took no time
    ],
)
def test_contradicting_figures_are_recomputed(tmp_path, monkeypatch, field, value):
    calls, compute, entry = cached_once(tmp_path, monkeypatch)
    data = json.loads(entry.read_text())
    data["result"][field] = value
    entry.write_text(json.dumps(data))
    assert sim_cache.cached(PARTS, compute).billed_seconds == 70
    assert len(calls) == 2


def test_cost_shows_the_recomputed_bill_after_tampering(sim_cache_dir):
    env = env_with(MODALFLEET_CACHE_DIR=str(sim_cache_dir))
    clean = run_subprocess("cost", "--strategy", "hybrid", env=env)
    assert clean.returncode == 0
    (bill,) = [line for line in clean.stdout.splitlines() if line.startswith("simulated total $")]
    for index, entry in enumerate(sorted(sim_cache_dir.glob("*/*.json"))):
        data = entry.read_text()
        tampered = list(TAMPERED.values())[index % len(TAMPERED)]
        start = data.index('"billed_seconds": ') + len('"billed_seconds": ')
        end = data.index(",", start)
        entry.write_text(data[:start] + tampered + data[end:])
    result = run_subprocess("cost", "--strategy", "hybrid", env=env)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    assert bill in result.stdout.splitlines()  # the recomputed bill, not the tampered one
    assert result.stdout == clean.stdout
