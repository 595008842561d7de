"""Atomicity and concurrency of `render`: a failure at any write leaves generated/ as it was,
concurrent renders serialize on the lock file, a stale lock is taken over, symlinks are refused.

Failures are injected into the real write path (the file writes, renames and removals that
render.py performs), not simulated: every other step runs for real on a copy of the fleet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, copy_fleet, run_cli

from modalfleet.generate import render
from modalfleet.generate.render import layout_call, make_environment, write_tree

CLI = str(REPO / "cli.py")


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under root, hidden ones (temp files, the lock) included."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def changed_fleet(dest: Path) -> Path:
    """The bundled fleet with edits that make a render write, create and remove files:
    lora's description (4 files), hybrid's container policy (5 files, 1 shared), wan2-1
    removed (4 orphans)."""
    root = copy_fleet(dest)
    models = (root / "models.yaml").read_text("utf-8")
    start = models.index("  wan2-1:\n")
    end = models.index("  seedvr2:\n")
    models = models[:start] + models[end:]
    models = models.replace(
        "description: SDXL with LoRA style adapters selectable per request",
        "description: SDXL with LoRA adapters, chosen per request",
    )
    (root / "models.yaml").write_text(models, "utf-8")
    hybrid = root / "strategies" / "hybrid.yaml"
    hybrid.write_text(hybrid.read_text("utf-8").replace("max_containers: 10", "max_containers: 12"))
    return root


class InjectedFailure(OSError):
    pass


class WriteCounter:
    """Counts render.py's file-system writes (temp file writes, renames, removals) and raises
    at the n-th one when asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None, error=InjectedFailure):
        self.count = 0
        self.fail_at = fail_at
        self.error = error
        real_open, real_replace, real_remove = open, os.replace, os.remove

        def counted(real):
            def wrapper(*args, **kwargs):
                self.count += 1
                if self.count == self.fail_at:
                    raise self.error(f"injected failure at write {self.count}")
                return real(*args, **kwargs)

            return wrapper

        def guarded_open(file, mode="r", *args, **kwargs):
            if "w" in mode or "a" in mode:
                return counted(real_open)(file, mode, *args, **kwargs)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(render, "open", guarded_open, raising=False)
        monkeypatch.setattr(render.os, "replace", counted(real_replace))
        monkeypatch.setattr(render.os, "remove", counted(real_remove))


def count_writes(tmp_path: Path) -> tuple[int, dict[str, bytes]]:
    """How many writes a successful render of the changed fleet makes, and the tree it leaves."""
    root = changed_fleet(tmp_path / "reference")
    with pytest.MonkeyPatch.context() as patch:
        counter = WriteCounter(patch, fail_at=None)
        result = run_cli("render", root=root)
    assert result.exit_code == 0, result.text
    assert result.output.startswith("written 8, unchanged 12, removed 4"), result.output
    return counter.count, tree_bytes(root / "generated")


def test_failure_after_every_nth_write_leaves_generated_untouched(tmp_path, monkeypatch):
    total, rendered = count_writes(tmp_path)
    # 8 temp files written + 8 renames + 4 orphans removed; then the render cache's two
    # replaces (its .gitignore, render.json), after the commit.
    assert total == 22
    for fail_at in (21, 22):  # the tree is committed; a cache that cannot be written is skipped
        root = changed_fleet(tmp_path / f"cache-fail-{fail_at}")
        with pytest.MonkeyPatch.context() as patch:
            WriteCounter(patch, fail_at=fail_at)
            assert run_cli("render", root=root).exit_code == 0
        assert tree_bytes(root / "generated") == rendered
    for fail_at in range(1, 21):
        root = changed_fleet(tmp_path / f"fail-{fail_at}")
        before = tree_bytes(root / "generated")
        with pytest.MonkeyPatch.context() as patch:
            WriteCounter(patch, fail_at=fail_at)
            result = run_cli("render", root=root)
        assert result.exit_code == 1, (fail_at, result.text)
        assert "Traceback" not in result.text
        assert "injected failure" in result.stderr and "generated/ left as it was" in result.stderr
        assert tree_bytes(root / "generated") == before, (
            f"partial tree after failing write {fail_at}"
        )
    # And without a failure the same fleet renders to the reference tree.
    root = changed_fleet(tmp_path / "no-failure")
    assert run_cli("render", root=root).exit_code == 0
    assert tree_bytes(root / "generated") == rendered


def test_interrupt_mid_write_restores_the_tree(tmp_path):
    """Ctrl-C between two renames: the renamed files are restored, exit 130, no temp file."""
    root = changed_fleet(tmp_path / "fleet")
    before = tree_bytes(root / "generated")
    with pytest.MonkeyPatch.context() as patch:
        WriteCounter(patch, fail_at=15, error=lambda message: KeyboardInterrupt(message))
        result = run_cli("render", root=root)
    assert result.exit_code == 130, result.text
    assert tree_bytes(root / "generated") == before


def start_render(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, CLI, "render", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_renders_equal_one(tmp_path):
    reference = changed_fleet(tmp_path / "single")
    assert run_cli("render", root=reference).exit_code == 0
    expected = tree_bytes(reference / "generated")

    root = changed_fleet(tmp_path / "concurrent")
    first, second = start_render(root), start_render(root)
    outputs = [process.communicate(timeout=60) for process in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    # One of them did the work; the other, serialized behind the lock, found it done.
    summaries = sorted(out.strip() for out, _ in outputs)
    assert summaries == [
        "written 0, unchanged 20, removed 0",
        "written 8, unchanged 12, removed 4",
    ]
    assert tree_bytes(root / "generated") == expected  # no lock file, no temp file left


def test_render_waits_for_the_lock_holder(tmp_path):
    root = changed_fleet(tmp_path / "fleet")
    lock = render.RenderLock(root / "generated" / render.LOCK_NAME)
    with lock:
        process = start_render(root)
        time.sleep(1.0)
        assert process.poll() is None, "render did not wait for the lock"
        before = tree_bytes(root / "generated")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith("written 8,")
    assert tree_bytes(root / "generated") != before
    assert not (root / "generated" / render.LOCK_NAME).exists()


def test_live_lock_times_out_with_a_message(tmp_path):
    path = tmp_path / render.LOCK_NAME
    path.write_text(str(os.getpid()))  # this very process: alive
    started = time.monotonic()
    with pytest.raises(render.RenderError, match=f"another render \\(pid {os.getpid()}\\)"):
        with render.RenderLock(path, wait_s=0.3):
            pass
    assert 0.3 <= time.monotonic() - started < 2.0
    assert path.read_text() == str(os.getpid())  # a live owner's lock is left alone


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    root = changed_fleet(tmp_path / "fleet")
    lock_path = root / "generated" / render.LOCK_NAME
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(lock_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert lock_path.read_text() == str(holder.pid)

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, CLI, "render", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("written 8,")
    assert time.monotonic() - started < 10
    assert not lock_path.exists()


def test_unreadable_old_lock_is_taken_over(tmp_path):
    """A lock file with no pid in it (a crash between create and write), older than 2 s."""
    root = changed_fleet(tmp_path / "fleet")
    lock_path = root / "generated" / render.LOCK_NAME
    lock_path.write_text("")
    old = time.time() - 60
    os.utime(lock_path, (old, old))
    result = run_cli("render", root=root)
    assert result.exit_code == 0, result.text
    assert not lock_path.exists()


def test_generated_symlinked_outside_is_refused(tmp_path):
    root = copy_fleet(tmp_path / "fleet", with_generated=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not yours")
    (root / "generated").symlink_to(outside, target_is_directory=True)
    for args in (("render",), ("render", "--check")):
        result = run_cli(*args, root=root)
        assert result.exit_code == 1, result.text
        assert "is a symbolic link" in result.stderr
        assert "Traceback" not in result.text
    assert tree_bytes(outside) == {"keep.txt": b"not yours"}


def test_symlink_inside_generated_is_refused(tmp_path):
    root = changed_fleet(tmp_path / "fleet")
    target = tmp_path / "elsewhere.py"
    target.write_text("print('elsewhere')\n")
    link = root / "generated" / "hybrid" / "lora.py"
    link.unlink()
    link.symlink_to(target)
    before = tree_bytes(root / "generated")
    result = run_cli("render", root=root)
    assert result.exit_code == 1, result.text
    assert f"{link} is a symbolic link" in result.stderr
    assert tree_bytes(root / "generated") == before
    assert target.read_text() == "print('elsewhere')\n"


# A render that stops at a stage: the real CLI in its own process, with the step that ends the
# stage wrapped to print "paused" and sleep once it has run `after` times, so the test can
# SIGKILL it there. Nothing is simulated: every write before the pause happened on disk.
PAUSING_RENDER = """
import os, sys, time
from modalfleet.cli import main
from modalfleet.generate import render

stage, after, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []

def pausing(real, count):
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if count(args) == after:
            print("paused", flush=True)
            time.sleep(600)
        return result
    return wrapper

if stage == "staging":  # after the after-th temporary file is written
    render._Staged.stage = pausing(render._Staged.stage, lambda args: len(args[0].written))
else:  # "renaming": after the after-th temporary file is renamed into place
    os.replace = pausing(os.replace, lambda args: len(calls))
sys.exit(main(["render", "--root", root]))
"""


def kill_render_at(root: Path, stage: str, after: int, sig=signal.SIGKILL) -> int:
    """Start a render of root, send it sig (SIGKILL: it ends there) once it has done `after`
    steps of `stage`; its pid (SIGKILL) or its exit code (any other signal)."""
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSING_RENDER, stage, str(after), str(root)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line == "paused", (line, process.stderr.read() if process.poll() is not None else "")
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)  # a busy shared machine is slow to exit
    finally:
        process.kill()  # a no-op once it has ended
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        return process.pid
    assert "Traceback" not in err
    return process.returncode


@pytest.mark.parametrize(
    ("stage", "after", "temps", "renamed"),
    [
        ("staging", 3, 3, 0),  # 3 of the 8 changed files staged, none renamed
        ("renaming", 5, 3, 5),  # all 8 staged, 5 renamed into place, 3 temporary files left
    ],
)
def test_killed_render_is_reported_then_repaired(tmp_path, stage, after, temps, renamed):
    reference = changed_fleet(tmp_path / "reference")
    assert run_cli("render", root=reference).exit_code == 0
    expected = tree_bytes(reference / "generated")

    root = changed_fleet(tmp_path / "fleet")
    before = tree_bytes(root / "generated")
    pid = kill_render_at(root, stage, after)

    generated = root / "generated"
    left = sorted(str(p.relative_to(root)) for p in generated.glob("*/.*.py.*.tmp"))
    assert len(left) == temps
    assert all(name.endswith(f".py.{pid}.tmp") for name in left)
    # What the kill left: the renamed files hold their new bytes, every other file its old ones.
    # So does the lock, holding the dead pid (the next render takes it over).
    now = tree_bytes(generated)
    assert now.pop(render.LOCK_NAME) == str(pid).encode()
    new_files = [n for n in now if not n.endswith(".tmp") and now[n] != before.get(n)]
    assert len(new_files) == renamed
    assert all(now[n] == expected[n] for n in new_files)

    check = run_cli("render", "--check", "--quiet", root=root)
    assert check.exit_code == 1
    reported = [line.split()[1] for line in check.output.splitlines() if "leftover:" in line]
    assert reported == left
    # wan2-1's four files are orphans to remove whatever the stage; 8 - renamed still changed.
    assert check.output.count("orphaned:") == 4
    assert check.output.count("changed:") + check.output.count("missing:") == 8 - renamed

    result = run_cli("render", root=root)
    assert result.exit_code == 0, result.text
    assert tree_bytes(generated) == expected  # byte-identical; no temporary file, no lock
    assert run_cli("render", "--check", root=root).exit_code == 0


def test_leftover_in_a_current_tree_defeats_the_cache(tmp_path):
    """A tree the render cache vouches for is not current while a temporary file is in it:
    --check names it, and render removes it and writes nothing else."""
    root = copy_fleet(tmp_path / "fleet", with_generated=False)
    assert run_cli("render", root=root).exit_code == 0
    leftover = root / "generated" / "hybrid" / ".flux_schnell.py.4194999.tmp"
    leftover.write_bytes(b"half a file")
    check = run_cli("render", "--check", root=root)
    assert check.exit_code == 1
    assert "  leftover: generated/hybrid/.flux_schnell.py.4194999.tmp" in check.output.splitlines()
    result = run_cli("render", root=root)
    assert result.output.startswith("written 0, unchanged 24, removed 0"), result.text
    assert not leftover.exists()
    assert run_cli("render", "--check", root=root).output.strip() == "generated/ is current"


@pytest.mark.parametrize(("stage", "after"), [("staging", 3), ("renaming", 5)])
def test_terminated_render_leaves_the_old_tree(tmp_path, stage, after):
    """SIGTERM (a plain kill, a CI timeout) at either stage is caught: the rollback runs as for
    Ctrl-C, exit 130, and generated/ is byte for byte as before, no temporary file, no lock."""
    root = changed_fleet(tmp_path / "fleet")
    before = tree_bytes(root / "generated")
    assert kill_render_at(root, stage, after, signal.SIGTERM) == 130
    assert tree_bytes(root / "generated") == before


def test_rollback_skips_a_target_whose_rename_never_happened(tmp_path):
    """A target is counted done before its rename (an interrupt may land right after it); if
    its temporary file is still there the rename never happened, and the target, whatever it
    is (here a folder a rollback could not unlink), is left alone."""
    folder = tmp_path / "lora.py"
    folder.mkdir()
    temp = tmp_path / ".lora.py.1.tmp"
    temp.write_text("new\n")
    render._rollback([folder], {folder: None}, {folder: temp}, [])
    assert folder.is_dir() and not temp.exists()


# --- write_tree's own failure path (a staging failure, a strategy folder that cannot be made),
# writing and checking one strategy, the messages of plain Python errors in a template, a file on
# disk that is not UTF-8, and the layout and whitespace rules of the environment.


MODULE = "x = 1\n"


def every_file(root):
    """Every file and folder under root, hidden ones (temporary files, the lock) included."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_a_write_that_fails_while_staging_leaves_no_temporary_file_and_no_new_folder(
    tmp_path, monkeypatch
):
    generated = tmp_path / "generated"
    (generated / "old").mkdir(parents=True)
    (generated / "old" / "a.py").write_text("old = 1\n")
    before = every_file(tmp_path)
    real_open, opened = open, []

    def third_write_fails(file, mode="r", *args, **kwargs):
        if "w" in mode:
            opened.append(file)
            if len(opened) == 3:
                raise OSError(28, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(render, "open", third_write_fails, raising=False)
    files = {"new/a.py": MODULE, "new/b.py": MODULE, "new/c.py": MODULE, "old/a.py": MODULE}
    with pytest.raises(OSError) as raised:
        write_tree(tmp_path, files)
    assert (raised.value.errno, raised.value.filename) == (28, str(generated / "new" / "c.py"))
    assert len(opened) == 3  # two temporary files were written before the third failed
    assert every_file(tmp_path) == before  # they are gone, and so is the new/ folder


def test_a_strategy_folder_that_cannot_be_made_stops_the_write_before_anything_changes(tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "hybrid").write_text("a file where the folder should be\n")
    before = every_file(tmp_path)
    with pytest.raises(FileExistsError):
        write_tree(tmp_path, {"baseline/a.py": MODULE, "hybrid/a.py": MODULE})
    assert every_file(tmp_path) == before  # baseline/, made first, is removed again


def test_writing_one_strategy_leaves_the_others_files_alone(tmp_path):
    generated = tmp_path / "generated"
    for strategy in ("hybrid", "baseline"):
        (generated / strategy).mkdir(parents=True)
        (generated / strategy / "gone.py").write_text(MODULE)
    result = write_tree(tmp_path, {"hybrid/a.py": MODULE}, strategies=["hybrid"])
    assert (result.written, result.removed) == (["hybrid/a.py"], ["hybrid/gone.py"])
    assert (generated / "baseline" / "gone.py").read_text() == MODULE


def test_checking_one_strategy_ignores_another_strategys_stale_file(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    stale = root / "generated" / "baseline" / "lora.py"
    stale.write_text(stale.read_text() + "# edited\n")
    assert run_cli("render", "--check", "--strategy", "hybrid", root=root).exit_code == 0
    result = run_cli("render", "--check", "--quiet", root=root)
    assert (result.exit_code, "changed:  generated/baseline/lora.py" in result.output) == (1, True)


def test_a_plain_python_error_in_a_template_is_named_with_its_message(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.py.j2").write_text("X = {{ 1 // zero }}\n")
    template = make_environment(folder).get_template("t.py.j2")
    with pytest.raises(render.RenderError) as raised:
        render._render_one(template, {"zero": 0}, "t.py.j2")
    assert str(raised.value) == (
        f"{folder / 't.py.j2'}:1: template error: ZeroDivisionError: integer division or modulo by zero"
    )


def test_a_file_on_disk_that_is_not_utf8_is_reported_changed_with_a_readable_diff(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    broken = root / "generated" / "hybrid" / "lora.py"
    broken.write_bytes(broken.read_bytes().replace(b"import modal", b"import \xffmodal", 1))
    result = run_cli("render", "--check", root=root)
    assert result.exit_code == 1
    assert "changed:  generated/hybrid/lora.py" in result.output
    assert "-import \ufffdmodal" in result.output  # the undecodable byte, replaced


def test_a_call_exactly_as_long_as_the_line_stays_on_one_line():
    assert layout_call("f", ["a", "b"], indent=4, line_length=len("    f(a, b)")) == "f(a, b)"
    assert layout_call("f", ["a", "b"], indent=4, line_length=len("    f(a, b)") - 1) == (
        "f(\n        a,\n        b,\n    )"
    )


def test_whitespace_before_a_block_tag_is_stripped(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.py.j2").write_text("x = [\n    {% if True %}\n    1,\n    {% endif %}\n]\n")
    rendered = make_environment(folder).get_template("t.py.j2").render()
    assert rendered == "x = [\n    1,\n]\n"
