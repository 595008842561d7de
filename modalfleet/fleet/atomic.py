"""Replacing a file so that a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def replace_file(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Fill a temporary file beside path through write(stream), then rename it over path.

    An existing file keeps its permission bits; a new one gets the mode open() would have given
    it (0666 less the umask, 0644 typically), not mkstemp's private 0600. On any failure the
    temporary file is removed, path is left as it was, and the exception goes on to the caller.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask. os.umask can only be read by setting it, so it is set and put back."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
