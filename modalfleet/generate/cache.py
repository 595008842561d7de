"""The render cache: what the last render wrote, keyed by what it was made from.

It lives in <root>/.modalfleet-cache/render.json, beside generated/ and not in it (generated/
holds exactly what a render produces; the folder carries its own .gitignore, as .pytest_cache
does, so it is never committed). It is optional: without it (a fresh clone in CI) a render or
`render --check` does all the work; with it they skip what cannot have changed.

It is verified, never trusted. Each entry records, for one generated file, the key of its
inputs (the deployment's data, the template sources it used, the code that renders) and the
size and SHA-256 of the bytes written. An entry is only used when its key matches AND the
file on disk still has those bytes: a hand-edited file is rendered and compared as if there
were no cache. A file that does not parse, has another format or another code fingerprint,
holds a value of the wrong type, or whose body no longer matches the SHA-256 seal on its first
line (a truncated write, a hand edit) is ignored as a whole. The seal catches accidents, not a
forger: whoever can write the cache can write generated/ too, and CI checks a fresh clone,
which has no cache, so there `render --check` always renders everything.

Two levels:
- per file (after the fleet is loaded): a file whose key and bytes match is not rendered;
- whole tree (before anything is loaded): when the digest of every input file (fleet YAML,
  templates, code) equals the one recorded by the last full render, and every recorded file is
  on disk with its bytes and nothing else is, the tree is current. That render validated these
  very inputs with this very code, so neither YAML nor Jinja need to run again.

The cache file is replaced atomically (fleet/statefile.py: a temporary file, then a rename) and a
failure to write it is ignored: the render it describes has already succeeded. The folder, the
cache file and the folder's .gitignore are read and written only as real folders and regular
files: a link (a render would write outside the repository), a FIFO or a device (/dev/zero: a
read that never ends) is refused with StateFileError, and the cache file is read up to
MAX_CACHE_BYTES.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..fleet import statefile

CACHE_DIR = ".modalfleet-cache"
CACHE_FILE = "render.json"
FORMAT = 1
PYCACHE = "__pycache__"
PACKAGE = Path(__file__).resolve().parent.parent  # modalfleet/
# ~200 bytes an entry: room for 300,000 files, far past the largest fleet the loader accepts.
MAX_CACHE_BYTES = 64 * 1024 * 1024
GITIGNORE = b"# written by modalfleet render: a local cache, never committed\n*\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def code_fingerprint(package: Path = PACKAGE) -> str:
    """What the output depends on besides the fleet and templates: this package's version (in
    its __init__.py) and the code that loads and renders (so an edit in a checkout invalidates
    too), the Python version, and Jinja's (its __init__.py holds __version__)."""
    digest = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]}\n".encode())
    sources = [
        package / "__init__.py",
        *sorted(package.glob("fleet/*.py")),
        *sorted(package.glob("generate/*.py")),
        *sorted(package.glob("schema/*.json")),
    ]
    for path in sources:
        _feed(digest, path.relative_to(package).as_posix(), path)
    try:
        import importlib.util

        spec = importlib.util.find_spec("jinja2")
        if spec is not None and spec.origin:
            _feed(digest, "jinja2", Path(spec.origin))
    except (ImportError, ValueError):
        pass
    return digest.hexdigest()


# An input larger than this is refused by its reader (yamlread's bound is 16 MiB); past it the
# digest takes the bytes up to it and the size, not the rest.
FEED_LIMIT = 64 * 1024 * 1024


def _feed(digest, name: str, path: Path) -> None:
    try:
        data = statefile.read_regular(path, FEED_LIMIT)  # never a FIFO or /dev/zero
        if len(data) == FEED_LIMIT:
            data += f"\0size {path.stat().st_size}".encode()
    except OSError:
        data = None
    digest.update(f"{name}\0{'-' if data is None else len(data)}\0".encode())
    if data is not None:
        digest.update(data)


def inputs_digest(root: Path, template_folders: list[Path]) -> str:
    """Digest of everything a full render reads: every *.yaml/*.yml at root and in strategies/
    (a superset of models.yaml, gpus.yaml and the strategy files), every file in the template
    folders in search order, and the code fingerprint."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for folder, pattern in ((root, "*.y*ml"), (root / "strategies", "*.y*ml")):
        digest.update(f"\0folder {folder.name}\0".encode())
        for path in sorted(folder.glob(pattern)):
            if path.suffix in (".yaml", ".yml"):
                _feed(digest, path.name, path)
    for index, folder in enumerate(template_folders):
        digest.update(f"\0templates {index}\0".encode())
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                _feed(digest, path.relative_to(folder).as_posix(), path)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    sha256: str


@dataclass
class RenderCache:
    inputs: str | None = None  # inputs_digest of the last full render; None: not known
    files: dict[str, Entry] = field(default_factory=dict)  # relative to generated/

    @classmethod
    def load(cls, root: Path) -> RenderCache:
        """The cache under root, or an empty one when it is absent, corrupt or foreign."""
        folder = Path(root) / CACHE_DIR
        if not statefile.check_folder(folder):
            return cls()
        data = statefile.read_bytes(folder / CACHE_FILE, MAX_CACHE_BYTES)
        if data is None:
            return cls()
        try:
            seal, _, body = data.partition(b"\n")
            if seal.decode("ascii") != sha256(body):
                return cls()
            raw = json.loads(body)
        except ValueError:
            return cls()
        try:
            return cls._parse(raw)
        except (TypeError, ValueError, KeyError, AttributeError):
            return cls()

    @classmethod
    def _parse(cls, raw) -> RenderCache:
        if raw.get("format") != FORMAT or raw.get("code") != code_fingerprint():
            return cls()
        inputs = raw["inputs"]
        if inputs is not None and type(inputs) is not str:
            raise TypeError("inputs")
        files = {}
        for relative, item in raw["files"].items():
            key, size, digest = item["key"], item["size"], item["sha256"]
            if type(key) is not str or type(size) is not int or type(digest) is not str:
                raise TypeError(relative)
            files[relative] = Entry(key, size, digest)
        return cls(inputs, files)

    def reusable(self, generated: Path, relative: str, key: str) -> str | None:
        """The text on disk of generated/relative when the cache recorded it for this key and
        the disk still holds exactly those bytes; else None (render it)."""
        entry = self.files.get(relative)
        if entry is None or entry.key != key:
            return None
        data = _read_if_size(generated / relative, entry.size)
        if data is None or sha256(data) != entry.sha256:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def save(
        self,
        root: Path,
        inputs: str | None,
        digests: dict[str, tuple[int, str]],
        keys: dict[str, str],
        strategies: list[str] | None,
    ) -> None:
        """Record a successful render (for `strategies`; all when None): each file's size and
        sha256 as written, and its input key. Best effort."""
        if strategies is None:
            entries: dict[str, Entry] = {}
        else:
            # Other strategies' entries stay (each is verified on use anyway); the whole-tree
            # digest only holds if it still describes these inputs.
            entries = {
                relative: entry
                for relative, entry in self.files.items()
                if relative.split("/")[0] not in strategies
            }
            if inputs != self.inputs:
                inputs = None
        for relative, (size, digest) in digests.items():
            entries[relative] = Entry(keys[relative], size, digest)
        payload = {
            "format": FORMAT,
            "code": code_fingerprint(),
            "inputs": inputs,
            "files": {
                relative: {"key": e.key, "size": e.size, "sha256": e.sha256}
                for relative, e in sorted(entries.items())
            },
        }
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        _write_quietly(Path(root) / CACHE_DIR, sha256(body).encode("ascii") + b"\n" + body)


def _read_if_size(path: Path | str, size: int) -> bytes | None:
    """The file's bytes if it is a regular file with exactly `size` of them (one read past the
    end tells); None for anything else, a link, a FIFO or a device included (the full render
    path then refuses those with its own message)."""
    try:
        data = statefile.read_bytes(path, size)
    except statefile.StateFileError:
        return None
    return data if data is not None and len(data) == size else None


def _write_quietly(folder: Path, data: bytes) -> None:
    # Any failure leaves the old cache or none, and both are safe: every entry is checked
    # against the disk. A link or a device in the way is refused (StateFileError), not ignored.
    try:
        statefile.make_folder(folder)
        ignore = folder / ".gitignore"
        if not statefile.check_file(ignore):
            statefile.write_bytes(ignore, GITIGNORE)
        statefile.write_bytes(folder / CACHE_FILE, data)
    except OSError:
        pass


def current_tree(
    root: Path, generated: Path, inputs: str, strategies: list[str] | None, lock_name: str
) -> int | None:
    """How many files generated/ holds when it is provably what a render of these inputs
    (inputs_digest) would write; None when that cannot be shown this way (render for real)."""
    try:
        return _current_tree(root, generated, inputs, strategies, lock_name)
    except OSError:
        return None


def _current_tree(
    root: Path, generated: Path, inputs: str, strategies: list[str] | None, lock_name: str
) -> int | None:
    cached = RenderCache.load(root)
    if cached.inputs is None or not cached.files or cached.inputs != inputs:
        return None
    recorded_strategies = {relative.split("/")[0] for relative in cached.files}
    wanted = recorded_strategies if strategies is None else set(strategies)
    if not wanted <= recorded_strategies:
        return None  # an unknown strategy: let the full path say so
    expected = {
        relative: entry
        for relative, entry in cached.files.items()
        if relative.split("/")[0] in wanted
    }
    if generated.is_symlink() or not generated.is_dir():
        return None
    # Anything the full render would act on or refuse sends us there: a link anywhere, the lock
    # of a running render, a strategy folder it would remove, a *.py file it would call orphaned.
    with os.scandir(generated) as top:
        for entry in top:
            if entry.is_symlink() or entry.name == lock_name:
                return None
            if entry.is_dir():
                if entry.name not in recorded_strategies:
                    return None
                if not _strategy_folder_clean(
                    entry.path, entry.name, expected, entry.name in wanted
                ):
                    return None
            elif entry.name.endswith(".py"):
                return None
    # os-level reads on string paths: for 4000 files pathlib and buffered open cost as much as
    # reading and hashing the bytes.
    prefix = os.path.join(generated, "")
    for relative, entry in expected.items():
        data = _read_if_size(prefix + relative, entry.size)
        if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
            return None
    return len(expected)


def _strategy_folder_clean(path: str, name: str, expected: dict, wanted: bool) -> bool:
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_symlink() or entry.name.endswith(".tmp"):
                return False  # a link, or a killed render's temporary file: the full path
            if entry.is_dir():
                if entry.name != PYCACHE or not _no_links_below(entry.path):
                    return False
            elif wanted and entry.name.endswith(".py") and f"{name}/{entry.name}" not in expected:
                return False
    return True


def _no_links_below(path: str) -> bool:
    for dirpath, dirnames, filenames in os.walk(path):
        for item in dirnames + filenames:
            if os.path.islink(os.path.join(dirpath, item)):
                return False
    return True
