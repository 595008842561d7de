"""modalfleet's own local state: the render cache, the render lock, the simulation cache.

Every state file and folder is read and written here, and only as what modalfleet itself makes:
a real folder, a regular file. A symbolic link (render would write through it, outside the
repository), a FIFO (a read would block forever) or a device (/dev/zero: a read never ends) is
refused with StateFileError, whose message names the path and the fix; it is never followed,
opened for writing or read. Reads are bounded: a file larger than its limit is treated as
corrupt (None, so the caller recomputes), never read whole. What a state file holds is the
caller's to validate: these functions only vouch that the bytes came from a regular file.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

from .atomic import replace_file

# os.O_NOFOLLOW: a link as the last component fails with ELOOP instead of being followed.
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (it is then
# refused by its type); it does not change how a regular file reads.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class StateFileError(Exception):
    """A state file or folder that is not what modalfleet makes (a link, a FIFO, a device)."""


def describe(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def refused(path: Path | str, what: str, expected: str) -> StateFileError:
    return StateFileError(
        f"{path} is {what}, not {expected}; modalfleet keeps its state only in real files and "
        f"folders and does not follow links (remove it; modalfleet makes it again)"
    )


def _exists_as(path: Path | str, is_kind, expected: str) -> bool:
    """Whether path exists (False: absent, or its path cannot be looked at, e.g. under a file);
    StateFileError when it is anything but `expected` (is_kind: stat.S_ISDIR or S_ISREG), a
    link included: lstat never follows one."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if not is_kind(mode):
        raise refused(path, describe(mode), expected)
    return True


def check_folder(path: Path | str) -> bool:
    """Whether the state folder at path exists; StateFileError unless it is a real folder."""
    return _exists_as(path, stat.S_ISDIR, "a folder")


def check_file(path: Path | str) -> bool:
    """Whether the state file at path exists; StateFileError unless it is a regular file."""
    return _exists_as(path, stat.S_ISREG, "a regular file")


def make_folder(path: Path | str) -> None:
    """The state folder at path, made if absent (its parent must exist); refused as
    check_folder refuses."""
    if check_folder(path):
        return
    try:
        os.mkdir(path)
    except FileExistsError:  # made meanwhile: whatever it is, check it
        check_folder(path)


def read_bytes(path: Path | str, limit: int) -> bytes | None:
    """The bytes of the state file at path: None when it is absent, unreadable or larger than
    limit (the caller recomputes); StateFileError when it is a link or not a regular file."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refused(path, "a symbolic link", "a regular file") from None
        return None  # permission denied and the like: as if absent, as before
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise refused(path, describe(mode), "a regular file")
        data = _read_up_to(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if len(data) > limit else data


def read_regular(path: Path | str, limit: int) -> bytes:
    """The first limit bytes of the input file at path (links followed: an input may be one),
    so a caller sees from their number whether there were more. A FIFO or a device (a link to
    /dev/zero) is never read: it raises OSError whose strerror says what it is, like any other
    file that cannot be read; so do the ordinary OSErrors."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {describe(mode)}, not a regular file", str(path))
        return _read_up_to(fd, limit)
    finally:
        os.close(fd)


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace the state file at path with data, atomically (a temporary file made with O_EXCL
    beside it, then a rename, which replaces a link rather than following it). Its folder and
    any file already there are checked first; OSError goes to the caller."""
    path = Path(path)
    check_folder(path.parent)
    check_file(path)
    replace_file(path, lambda stream: stream.write(data))


class NotARegularFile(OSError):
    """A user-given input (a trace, a saved log) that is not a regular file."""


def open_regular(path: Path | str) -> io.BufferedReader:
    """A user-given input file opened for reading if it is a regular file (its size is known, so
    every read ends); NotARegularFile, naming what it is, otherwise. Unlike the state files, a
    link is followed (the user named the path), but only to a regular file. O_NONBLOCK: opening
    a FIFO returns at once instead of waiting for a writer that may never come."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{path} is {describe(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
