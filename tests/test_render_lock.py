"""The render lock's grace period, its age arithmetic and _pid_alive's edges: a weakened check
here lets two renders write generated/ at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from modalfleet.generate.render import RenderError, RenderLock, _pid_alive


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _aged(path, text: str, age_s: float):
    path.write_text(text)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _taken(path) -> bool:
    """Whether a quick RenderLock takes path (and leaves no lock behind); False when it waits."""
    try:
        with RenderLock(path, wait_s=0.2):
            assert path.read_text() == str(os.getpid())
    except RenderError as exc:
        assert str(exc) == f"another render (pid ?) holds {path}; try again when it is done"
        assert path.exists()
        return False
    assert not path.exists()
    return True


def test_the_age_of_a_lock_is_now_minus_its_mtime(tmp_path):
    lock = RenderLock(_aged(tmp_path / "lock", "", 100.0))
    assert 100.0 <= lock._age_s() < 105.0
    assert RenderLock(tmp_path / "missing")._age_s() == 0.0  # released meanwhile: not old


def test_a_lock_without_its_pid_yet_is_a_live_render_for_two_seconds(tmp_path):
    # Created with O_EXCL, its pid not written yet: the owner is between the two calls.
    assert _taken(_aged(tmp_path / "lock", "", 0.0)) is False
    assert _taken(_aged(tmp_path / "lock", "", 1.0)) is False
    # Past the grace period an empty or unreadable lock is a crashed render's: taken over.
    assert _taken(_aged(tmp_path / "lock", "", 2.5)) is True
    assert _taken(_aged(tmp_path / "lock", "not a pid", 2.5)) is True
    assert _taken(_aged(tmp_path / "lock", "not a pid", 0.5)) is False


def test_a_lock_held_by_a_live_pid_is_never_taken_whatever_its_age(tmp_path):
    path = _aged(tmp_path / "lock", str(os.getppid()), 3600.0)
    with pytest.raises(RenderError) as raised:
        with RenderLock(path, wait_s=0.2):
            pass
    assert str(raised.value) == (
        f"another render (pid {os.getppid()}) holds {path}; try again when it is done"
    )
    assert path.read_text() == str(os.getppid())


def test_a_lock_held_by_a_dead_pid_is_taken_at_once(tmp_path):
    # Taken before the 0.2 s wait runs out, however fresh the lock is.
    assert _taken(_aged(tmp_path / "lock", str(_dead_pid()), 0.0)) is True


def test_a_lock_released_between_two_looks_is_not_broken(tmp_path):
    """The owner releases the lock (the read finds no file) and a third render takes it before
    this one acts: this one must retry, not delete the third render's fresh lock."""
    path = tmp_path / "lock"
    path.write_text(str(os.getppid()))

    class Racing(RenderLock):
        raced = False

        def _owner(self):
            if not self.raced:
                self.raced = True
                path.write_text(str(os.getppid()))  # the third render's lock, live
                return -1  # what this render read: no file
            return super()._owner()

    with pytest.raises(RenderError, match=rf"another render \(pid {os.getppid()}\) holds"):
        with Racing(path, wait_s=0.2):
            pass
    assert path.read_text() == str(os.getppid())


def test_pid_alive_edges():
    assert _pid_alive(os.getpid()) is True
    assert _pid_alive(_dead_pid()) is False
    # 0 and -1 would signal a whole process group (or every process) and succeed.
    assert _pid_alive(0) is False
    assert _pid_alive(-1) is False
    assert _pid_alive(1) is True  # init exists, whoever owns it


def test_pid_alive_when_the_owner_is_another_user():
    """os.kill raises PermissionError for another user's process: it exists, the lock is live."""
    if os.getuid() != 0:
        assert _pid_alive(1) is True  # owned by root: PermissionError, not ProcessLookupError
        return
    # As root every kill is allowed: a child that gives up root meets the PermissionError.
    parent = os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                os.kill(parent, 0)
                real = "allowed"
            except PermissionError:
                real = "refused"
            os.write(write, f"{real} {_pid_alive(parent)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as answer:
        assert answer.read() == "refused True"
