"""A new fleet repository from a packaged example: what `modalfleet init` writes.

The examples are package data under modalfleet/examples/:
- common/: what every new fleet gets: gpus.yaml, the CI workflows, the pre-commit config, a
  README. A leading "dot-" in a name stands for "." (setuptools' package-data globs skip
  dot-files), so dot-github/workflows/fleet.yml is written as .github/workflows/fleet.yml.
- <example>/: models.yaml and strategies/. The six-models example and common/gpus.yaml are
  symbolic links to this repository's own models.yaml, strategies/ and gpus.yaml: one source,
  copied into the wheel as plain files when it is built.

Text files may hold @MODALFLEET_VERSION@ and @PRODUCTION_STRATEGY@, filled in here. The
JSON Schemas are written to schema/ and the YAML files' yaml-language-server comments pointed at
them, so editors complete and check the new fleet's YAML as they do this repository's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import replace_file

PACKAGE = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = PACKAGE / "examples"
SCHEMA_DIR = PACKAGE / "schema"
COMMON = "common"
# Example name -> the strategy the deploy workflow deploys on a push to main.
EXAMPLES = {"six-models": "hybrid", "minimal": "production"}
DOT_PREFIX = "dot-"


class ScaffoldError(Exception):
    """init cannot go on: files in the way, an unknown example, an unwritable folder."""


@dataclass
class ScaffoldResult:
    written: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)


def scaffold_files(example: str, version: str) -> dict[str, bytes]:
    """Every file of a new fleet from `example`: relative posix path -> content, sorted."""
    if example not in EXAMPLES:
        raise ScaffoldError(f"unknown example {example!r}; known: {', '.join(EXAMPLES)}")
    values = {"@MODALFLEET_VERSION@": version, "@PRODUCTION_STRATEGY@": EXAMPLES[example]}
    files: dict[str, bytes] = {}
    for top in (EXAMPLES_DIR / COMMON, EXAMPLES_DIR / example):
        for source in _files_under(top):
            relative = _target_name(source.relative_to(top).as_posix())
            files[relative] = _fill(source.read_text(encoding="utf-8"), values).encode("utf-8")
    for schema in sorted(SCHEMA_DIR.glob("*.schema.json")):
        files[f"schema/{schema.name}"] = schema.read_bytes()
    return dict(sorted(files.items()))


def _files_under(top: Path) -> list[Path]:
    # os.walk with followlinks: in a checkout strategies/ is a link to the repository's folder.
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found += [Path(dirpath) / name for name in sorted(filenames)]
    return found


def _target_name(relative: str) -> str:
    parts = relative.split("/")
    return "/".join("." + p[len(DOT_PREFIX) :] if p.startswith(DOT_PREFIX) else p for p in parts)


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    # This repository's YAML points at the package's schemas; the new fleet has them in schema/.
    text = text.replace("$schema=../modalfleet/schema/", "$schema=../schema/")
    return text.replace("$schema=modalfleet/schema/", "$schema=schema/")


def conflicts(dest: Path, files: dict[str, bytes]) -> list[str]:
    """The files of `files` that already exist under dest (or that something else is in the
    way of: a folder where a file goes, a file where a folder goes)."""
    found = []
    for relative in files:
        target = Path(dest) / relative
        if target.exists() or target.is_symlink():
            found.append(relative)
            continue
        for parent in Path(relative).parents:
            if str(parent) != "." and (Path(dest) / parent).exists():
                if not (Path(dest) / parent).is_dir():
                    found.append(relative)
                break
    return found


def write_scaffold(dest: Path, files: dict[str, bytes], force: bool = False) -> ScaffoldResult:
    """Write files under dest (created if missing). Existing files stop it before anything is
    written (ScaffoldError naming them) unless force. All or nothing: on a failure every file
    already written is removed or restored and the folders made are removed again."""
    dest = Path(dest)
    in_the_way = conflicts(dest, files)
    if in_the_way and not force:
        raise ScaffoldError(
            f"{len(in_the_way)} file(s) already exist in {dest}: {', '.join(in_the_way)} "
            "(--force overwrites them)"
        )
    result = ScaffoldResult()
    made: list[Path] = []
    backups: dict[Path, bytes | None] = {}
    try:
        for relative, data in files.items():
            target = dest / relative
            for folder in reversed([target.parent, *target.parent.parents]):
                if not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise ScaffoldError(f"{target} is not a plain file; refusing to replace it")
            backups[target] = target.read_bytes() if target.exists() else None
            replace_file(target, lambda stream, data=data: stream.write(data))
            (result.overwritten if backups[target] is not None else result.written).append(relative)
    except BaseException:
        _undo(backups, made)
        raise
    return result


def _undo(backups: dict[Path, bytes | None], made: list[Path]) -> None:
    for target, old in backups.items():
        try:
            if old is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(old)
        except OSError:
            pass  # keep undoing the rest; the error that stopped init is what gets reported
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            pass
