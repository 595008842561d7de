"""Render the fleet into Modal handler modules: Jinja templates -> generated/<strategy>/<module>.py.

Three steps, each usable alone:
- render_tree: the whole output tree in memory (relative path -> text), already formatted;
- check_tree: compare that tree with what is on disk (changed, missing, orphaned, diffs);
- write_tree: make the disk match it, atomically (temp files + renames, rollback on failure).
render_to_disk and check_tree use the render cache (cache.py) to skip the files whose inputs
and bytes on disk are what the last render recorded; tree_is_current does so for the whole
tree before the fleet is even loaded.

Values reach the generated code only through the `py` filter, which emits Python literals.
The literals are laid out the way `ruff format` lays them out (containers exploded one item a
line with a magic trailing comma, strings in ruff's preferred quotes), so the output needs no
formatter run and stays byte-stable. This module never imports modal or torch.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..fleet import statefile
from ..fleet.limits import request_limits
from ..fleet.request_time import request_budget_s
from ..fleet.snapshots import quantizes_on_gpu, run_dtype, snapshot_mode
from ..fleet.spec import Catalog, Deployment, Fleet, Model
from .cache import RenderCache, code_fingerprint, current_tree, inputs_digest
from .pins import INSIGHTFACE_DEPENDENCIES, pin, pins

GENERATED_DIR = "generated"
TEMPLATES_DIR = "templates"  # a fleet repository's own templates, overriding the packaged ones
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_SUFFIX = ".py.j2"
LOCK_NAME = ".render.lock"
INDENT = "    "


class RenderError(Exception):
    """A render that cannot go on: template error, unsafe generated/, another render running."""


# --------------------------------------------------------------------------------------------
# Python literals laid out as ruff format lays them out


def py_literal(value: Any, indent: int = 0) -> str:
    """value as Python source; containers span several lines, indented from column `indent`.

    Only plain data is accepted: str, int, float (finite), bool, None, and lists, tuples and
    dicts of those. Anything else raises TypeError, so an unexpected object can never reach
    the generated code through its str() or repr().
    """
    kind = type(value)
    if kind is str:
        return string_literal(value)
    if kind is int or kind is bool or value is None:
        return repr(value)
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"cannot emit the non-finite float {value!r} as a Python literal")
        return repr(value)
    if kind is dict:
        deeper = indent + 4
        items = []
        for key, item in value.items():
            if type(key) not in (str, int, bool) and key is not None:
                raise TypeError(f"cannot emit a {type(key).__name__} dict key as a Python literal")
            items.append(f"{py_literal(key)}: {py_literal(item, deeper)}")
        return _exploded("{", "}", items, indent)
    if kind is list:
        return _exploded("[", "]", [py_literal(item, indent + 4) for item in value], indent)
    if kind is tuple:
        if len(value) == 1:
            # ruff does not treat the comma of a 1-tuple as "magic": it keeps it on one line.
            return f"({py_literal(value[0], indent)},)"
        return _exploded("(", ")", [py_literal(item, indent + 4) for item in value], indent)
    # Subclasses (an IntEnum, a str subclass with its own __repr__) are refused on purpose.
    raise TypeError(f"cannot emit a {kind.__name__} as a Python literal")


def _exploded(open_: str, close: str, items: list[str], indent: int) -> str:
    # One item a line with a trailing comma: ruff keeps such a collection exploded whatever its
    # length (the "magic trailing comma"), so the layout never depends on how long values are.
    if not items:
        return open_ + close
    inner = " " * (indent + 4)
    body = "".join(f"{inner}{item},\n" for item in items)
    return f"{open_}\n{body}{' ' * indent}{close}"


def param_default(param: dict[str, Any], params: dict[str, Any]) -> str:
    """Default of a request parameter in a generated signature: the model's value, read from
    PARAMS, when models.yaml sets it; else the kind template's fallback literal (or code)."""
    name = param["name"]
    if name in params:
        return f"PARAMS[{string_literal(name)}]"
    if "fallback_code" in param:
        return param["fallback_code"]
    return py_literal(param["fallback"])


def keyword_args(values: dict[str, Any]) -> list[str]:
    """{"ge": 1} -> ["ge=1"]: keyword arguments whose values are Python literals."""
    for key in values:
        if not (isinstance(key, str) and key.isidentifier()):
            raise TypeError(f"keyword argument name {key!r} is not an identifier")
    return [f"{key}={py_literal(value)}" for key, value in values.items()]


def layout_call(head: str, args: list[str], indent: int, line_length: int = 100) -> str:
    """head(args...) laid out as ruff format lays out a call whose arguments are atoms.

    On one line when it fits; else the arguments together on one indented line; else one
    argument a line with a trailing comma.
    """
    pad = " " * indent
    one_line = f"{head}({', '.join(args)})"
    if len(pad) + len(one_line) <= line_length:
        return one_line
    inner = " " * (indent + 4)
    joined = ", ".join(args)
    if len(inner) + len(joined) <= line_length:
        return f"{head}(\n{inner}{joined}\n{pad})"
    body = "".join(f"{inner}{arg},\n" for arg in args)
    return f"{head}(\n{body}{pad})"


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(text: str) -> str:
    """text as a string literal in ruff format's style.

    Double quotes unless the text holds more double than single quotes (ruff's rule), the
    chosen quote escaped, everything repr() escapes escaped the same way (lowercase hex).
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    if text.isprintable() and quote not in text and "\\" not in text:
        return quote + text + quote  # the common case: nothing to escape
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == quote:
            out.append("\\" + quote)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # \x07, \u200b, \U0001f600, \ud800: what repr writes
    return quote + "".join(out) + quote


def content_hash(text: str) -> str:
    """Short content hash of a generated file (the deploy records it as the deployment tag)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------------------------
# What a template sees


def template_name(kind: str) -> str:
    """Template file of a model kind: text-to-image -> text_to_image.py.j2."""
    return kind.replace("-", "_") + TEMPLATE_SUFFIX


def model_literal(model: Model) -> dict[str, Any]:
    """The MODEL dict a generated module carries: what its runtime code reads. Plain data only."""
    return {
        "name": model.name,
        "kind": model.kind,
        "description": model.description,
        "python": model.python,
        "dtype": model.dtype,
        "quantization": dict(model.quantization),
        "params": dict(model.params),
        "weights": [
            {
                "repo": w.repo,
                "revision": w.revision,
                "role": w.role,
                "name": w.name,
                "repo_type": w.repo_type,
                "files": list(w.files),
            }
            for w in model.weights
        ],
        "volume": model.volume,
        "secrets": list(model.secrets),
    }


def template_context(
    deployment: Deployment, strategy_name: str, catalog: Catalog
) -> dict[str, Any]:
    model = deployment.model
    gpus = list(deployment.gpus)
    region = deployment.region
    return {
        "limits": request_limits(model, catalog, deployment.gpus),
        "snapshot": snapshot_mode(model, deployment.gpu_snapshot),
        "run_dtype": run_dtype(model, catalog, deployment.gpus),
        "endpoint_auth": deployment.endpoint_auth,
        "model": model,
        "strategy_name": strategy_name,
        "template_name": template_name(model.kind),
        "gpu": gpus[0] if len(gpus) == 1 else gpus,
        # Modal's container region(s), None when the fleet sets none (Modal then chooses, and
        # no region multiplier applies): one name as a string, several as a list.
        "region": (region[0] if len(region) == 1 else list(region)) if region else None,
        "containers": deployment.containers,
        # Modal takes cores as a float and memory as integer MiB (models.yaml says GiB).
        "cpu": float(model.resources.cpu),
        "memory_mib": model.resources.memory_mib,
        "module_name": model.module_name,
        # Saving the quantized copies needs a GPU for nf4/fp8: the model's own, so the copy is
        # made where it will run (fp8 needs the capability the model's GPUs have).
        "download_gpu": (gpus[0] if len(gpus) == 1 else gpus) if quantizes_on_gpu(model) else None,
        "download_command": f"modal run generated/{strategy_name}/{model.module_name}.py::download",
    }


def template_search_path(root: Path, templates_dir: Path | None = None) -> list[Path]:
    """Where templates are looked up, first match by file name wins: the fleet's own folder
    (templates_dir, else <root>/templates when it exists), then the templates packaged with
    modalfleet. Like a Helm chart's templates: override only the files you need, and an
    {% extends "base.py.j2" %} finds your base.py.j2 if you have one, else the packaged one."""
    own = Path(templates_dir) if templates_dir is not None else Path(root) / TEMPLATES_DIR
    if own.resolve() == PACKAGED_TEMPLATES or not own.is_dir():
        return [PACKAGED_TEMPLATES]
    return [own, PACKAGED_TEMPLATES]


def template_folders(templates: Path | Sequence[Path]) -> list[Path]:
    """The folders templates are looked up in (one folder or a search path), first match wins;
    the Jinja loader and the render cache's digest both read them."""
    return [Path(templates)] if isinstance(templates, str | os.PathLike) else list(templates)


def make_environment(templates: Path | Sequence[Path]):
    """A Jinja environment over templates (one folder or a search path, first match wins):
    strict, no autoescape, the `py` filter."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in template_folders(templates)]),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # one process, one render: no stat of base.py.j2 per file extending it
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def py_filter(value: Any, indent: int = 0) -> str:
        # A misspelt name reaches the filter as StrictUndefined; str() raises the UndefinedError
        # that names it, instead of py_literal's "cannot emit a StrictUndefined".
        if isinstance(value, jinja2.Undefined):
            str(value)
        return py_literal(value, indent)

    env.filters["py"] = py_filter
    env.filters["kwargs"] = keyword_args
    env.filters["call"] = layout_call
    env.globals["param_default"] = param_default
    env.globals["pin"] = pin
    env.globals["pins"] = _remembered_pins()
    env.globals["request_budget_s"] = request_budget_s
    env.globals["insightface_dependencies"] = list(INSIGHTFACE_DEPENDENCIES)
    return env


def _remembered_pins() -> Callable[[Any], list[str]]:
    """pins(), worked out once per list of names: base.py.j2 asks for the same ten packages for
    every file. Each call gets its own list, so a template that changed one changes no other."""
    known: dict[tuple, list[str]] = {}

    def remembered(requirements: Any) -> list[str]:
        try:
            key = tuple(requirements) if type(requirements) is list else None
            found = known.get(key) if key is not None else None
        except TypeError:  # an unhashable item: pins() says what is wrong with it
            key = found = None
        if found is None:
            found = pins(requirements)
            if key is not None:
                known[key] = found
        return list(found)

    return remembered


# --------------------------------------------------------------------------------------------
# The tree in memory


def render_tree(
    fleet: Fleet, templates: Path | Sequence[Path], strategies: list[str] | None = None
) -> dict[str, str]:
    """Every generated file of the given strategies (all when None): relative path -> text.

    templates: one folder or a search path (see template_search_path). Paths are relative to
    generated/: "<strategy>/<model module>.py". Raises RenderError for a missing template or a
    template error (naming the template file and line).
    """
    files, _ = _render_files(fleet, templates, strategies)
    return files


Reuse = Callable[[str, str], "str | None"]  # (relative path, input key) -> text, or None


Rendered = tuple[dict[str, str], dict[str, str]]  # relative path -> text, and -> input key


class _Renderer:
    """The files of a fleet's strategies (render_run: a list of them). A file for which
    reuse(relative, key) gives a text is not rendered: that text is taken as its output."""

    def __init__(
        self,
        fleet: Fleet,
        templates: Path | Sequence[Path],
        strategies: list[str] | None,
        reuse: Reuse | None = None,
    ):
        from ..fleet.resolve import resolve

        names = list(fleet.strategies) if strategies is None else list(strategies)
        self.jobs = [(name, found) for name in names for found in resolve(fleet, name)]
        self.catalog = fleet.catalog
        self.reuse = reuse
        self.env = make_environment(templates)
        self.search_path = template_folders(templates)
        literal_cache: dict[tuple[str, str], str] = {}

        def model_source(model: Model, extra: dict[str, Any]) -> str:
            # MODEL is the same under every strategy: build its literal once per model.
            key = (model.name, repr(extra))
            if key not in literal_cache:
                literal_cache[key] = py_literal({**model_literal(model), **extra})
            return literal_cache[key]

        self.env.globals["model_source"] = model_source
        self.compiled: dict[str, Any] = {}
        self.sources: dict[str, str] = {}  # template name -> digest of the sources it is made of
        self.model_digests: dict[tuple[str, str], Any] = {}  # (template, model) -> key so far

    def relatives(self) -> list[str]:
        return [f"{name}/{deployment.model.module_name}.py" for name, deployment in self.jobs]

    def _template(self, name: str):
        if name not in self.compiled:
            self.compiled[name] = _load_template(self.env, self.search_path, name)
        return self.compiled[name]

    def render_run(self, run: Sequence[tuple[str, Deployment]]) -> Rendered:
        files: dict[str, str] = {}
        keys: dict[str, str] = {}
        for strategy_name, deployment in run:
            model = deployment.model
            name = template_name(model.kind)
            relative = f"{strategy_name}/{model.module_name}.py"
            context = template_context(deployment, strategy_name, self.catalog)
            if self.reuse is not None:
                if name not in self.sources:
                    self.sources[name] = _template_sources_digest(self.env, name)
                if (name, model.name) not in self.model_digests:
                    self.model_digests[name, model.name] = _key_prefix(self.sources[name], model)
                keys[relative] = _input_key(self.model_digests[name, model.name], context)
                text = self.reuse(relative, keys[relative])
                if text is not None:
                    files[relative] = text
                    continue
            files[relative] = _render_one(self._template(name), context, name)
        return files, keys


def _render_files(
    fleet: Fleet,
    templates: Path | Sequence[Path],
    strategies: list[str] | None,
    reuse: Reuse | None = None,
) -> Rendered:
    """The tree (relative path -> text, sorted) and the input key of each file."""
    renderer = _Renderer(fleet, templates, strategies, reuse)
    files, keys = renderer.render_run(renderer.jobs)
    return dict(sorted(files.items())), keys


def _key_prefix(template_sources: str, model: Model):
    """The input key's hash over the code, the templates and the model: the same for the model
    under every strategy, so its repr (a few kB) is hashed once, not once per strategy."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for part in (template_sources, repr(model)):
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return digest


def _input_key(prefix, context: dict[str, Any]) -> str:
    # The context's repr says everything the template can see (frozen dataclasses, plain data;
    # MODEL and the filters derive from it and from code the fingerprint covers).
    rest = {key: value for key, value in context.items() if key != "model"}
    digest = prefix.copy()
    digest.update(b"\0" + repr(sorted(rest.items())).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


# {% extends "x" %}, {% include 'x' %}, {% import "x" as m %}, {% from "x" import m %}: the
# tags that pull another template in. Read with a regex, not jinja2.meta: parsing every template
# a second time cost more than all the hashing. Anything but a plain string literal after the
# tag (a variable, a list, an expression) makes every template count as used.
_PULLS = re.compile(r"\{%[-+]?\s*(?:extends|include|import|from)\b\s*(.*?)\s*[-+]?%\}", re.S)
_LITERAL_NAME = re.compile(
    r"""^(["'])([^"'\\]+)\1"""
    r"(?:\s+(?:ignore\s+missing|with\s+context|without\s+context|as\s+\w+|import\b.*))*\s*$",
    re.S,
)


def _template_sources_digest(env, name: str) -> str:
    """Digest of a kind template and every template it extends, includes or imports, read
    through the environment's own loader (so from whichever folder it resolves to)."""
    import jinja2

    seen: dict[str, str] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        try:
            source, filename, _ = env.loader.get_source(env, current)
        except jinja2.TemplateNotFound:
            seen[current] = "missing"  # rendering it will report it
            continue
        seen[current] = f"{filename}\0{hashlib.sha256(source.encode('utf-8')).hexdigest()}"
        for argument in _PULLS.findall(source):
            literal = _LITERAL_NAME.match(argument)
            if literal is None:
                pending.extend(env.list_templates())
                break
            pending.append(literal.group(2))
    return hashlib.sha256(repr(sorted(seen.items())).encode("utf-8")).hexdigest()


def _load_template(env, search_path: list[Path], name: str):
    import jinja2

    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise _not_found(exc, search_path, name) from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(
            f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}"
        ) from None


def _not_found(exc, search_path: list[Path], name: str) -> RenderError:
    missing = exc.name or name
    where = ", ".join(f"{folder}/" for folder in search_path)
    return RenderError(f"{missing}: template not found (looked in {where})")


def _render_one(template, context: dict[str, Any], name: str) -> str:
    import jinja2

    try:
        text = template.render(context)
    except jinja2.TemplateNotFound as exc:  # an {% extends %} or {% include %} of a missing file
        search_path = [Path(p) for p in template.environment.loader.searchpath]
        raise _not_found(exc, search_path, name) from None
    except jinja2.TemplateSyntaxError as exc:  # an {% include %} or parent that fails to parse
        raise RenderError(
            f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}"
        ) from None
    except Exception as exc:  # undefined variable, bad filter input, error in template code
        where = _template_frame(exc) or name
        message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
        raise RenderError(f"{where}: template error: {type(exc).__name__}: {message}") from None
    return text.rstrip("\n") + "\n"


def _template_frame(exc: BaseException) -> str | None:
    """file:line of the innermost template frame in exc's traceback (Jinja rewrites them so)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


# --------------------------------------------------------------------------------------------
# Comparing with the disk


@dataclass
class CheckResult:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # temporary files of a killed render
    diffs: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> bool:
        return not (self.changed or self.missing or self.orphaned or self.leftovers)


def check_tree(
    root: Path,
    fleet: Fleet,
    templates: Path | Sequence[Path],
    strategies: list[str] | None = None,
) -> CheckResult:
    """How generated/ under root differs from a fresh render. Writes nothing.

    A file the cache recorded for the same inputs, and whose bytes on disk are still the ones
    recorded, is not rendered: the render would give exactly those bytes.
    """
    generated = Path(root) / GENERATED_DIR
    _refuse_symlinks(generated)
    cache = RenderCache.load(root)
    files, _ = _render_files(fleet, templates, strategies, partial(cache.reusable, generated))
    return compare_tree(Path(root), files, strategies)


@dataclass(frozen=True)
class Probe:
    """What can be known before the fleet is loaded."""

    inputs: str | None  # digest of every input file and the code, taken before anything is
    # read (None: an input could not be read; the full path will say what is wrong)
    current: int | None  # the number of files when generated/ is provably current, else None


def probe_tree(
    root: Path, templates: Path | Sequence[Path], strategies: list[str] | None = None
) -> Probe:
    """Whether generated/ is current by the cache's whole-tree digest and every file's bytes,
    without loading the fleet. current None: load, render and compare for real."""
    root = Path(root)
    folders = template_folders(templates)
    try:
        inputs = inputs_digest(root, folders)
    except OSError:
        return Probe(None, None)
    current = current_tree(root, root / GENERATED_DIR, inputs, strategies, LOCK_NAME)
    return Probe(inputs, current)


def render_to_disk(
    root: Path,
    fleet: Fleet,
    templates: Path | Sequence[Path],
    strategies: list[str] | None = None,
    inputs: str | None = None,
) -> WriteResult:
    """render_tree + write_tree, rendering only what the cache cannot vouch for, then recording
    the new tree in the cache. inputs: probe_tree's digest, taken before the fleet was loaded;
    without it the cache records no whole-tree digest.

    The commit (temporary files, renames, orphans, rollback) is write_tree's."""
    root = Path(root)
    generated = root / GENERATED_DIR
    _refuse_symlinks(generated)
    cache = RenderCache.load(root)
    renderer = _Renderer(fleet, templates, strategies, partial(cache.reusable, generated))
    for relative in renderer.relatives():
        _check_relative(relative)
    with _locked(generated):
        # Rendered under the lock: the cache's reuse reads generated/, which no other render
        # may change meanwhile.
        files, keys = renderer.render_run(renderer.jobs)
        result, staged = _write_locked(generated, dict(sorted(files.items())), strategies)
    # The whole-tree digest is only recorded if no input changed while this render ran.
    try:
        if inputs is not None and inputs != inputs_digest(root, template_folders(templates)):
            inputs = None
    except OSError:
        inputs = None
    cache.save(root, inputs, staged.digests, keys, strategies)
    return result


def compare_tree(
    root: Path, files: dict[str, str], strategies: list[str] | None = None
) -> CheckResult:
    generated = Path(root) / GENERATED_DIR
    _refuse_symlinks(generated)
    result = CheckResult()
    for relative, text in files.items():
        path = generated / relative
        if not path.is_file():
            result.missing.append(relative)
            continue
        on_disk = path.read_bytes().decode("utf-8", errors="replace")
        if on_disk != text:
            import difflib  # only a stale file needs a diff

            result.changed.append(relative)
            result.diffs[relative] = "".join(
                difflib.unified_diff(
                    on_disk.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{GENERATED_DIR}/{relative} (on disk)",
                    tofile=f"{GENERATED_DIR}/{relative} (rendered)",
                )
            )
    result.orphaned = orphans(generated, files, strategies)
    result.leftovers = leftovers(generated, strategies)
    return result


def orphans(generated: Path, files: Iterable[str], strategies: list[str] | None) -> list[str]:
    """*.py files under generated/ that the render does not produce, relative to generated/.

    With a strategy subset only generated/<strategy>/ of those strategies is looked at, so
    `render --strategy hybrid` leaves the other strategies' files alone. (os.scandir: its
    entries know their type, where pathlib's rglob + is_file stat every file again.)
    """
    if not generated.is_dir():
        return []
    produced = set(files)
    if strategies is None:
        tops = [generated]
    else:
        tops = [generated / name for name in strategies if (generated / name).is_dir()]
    base = os.path.join(generated, "")
    pending = [os.fspath(top) for top in tops]
    found = set()
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif entry.name.endswith(".py") and entry.is_file():
                    relative = entry.path[len(base) :].replace(os.sep, "/")
                    if relative not in produced:
                        found.add(relative)
    return sorted(found)


# What _temp_path names: .<module>.py.<pid>.tmp beside generated/<strategy>/<module>.py.
_TEMP_NAME = re.compile(r"\.[^/]+\.py\.[0-9]+\.tmp")


def leftovers(generated: Path, strategies: list[str] | None = None) -> list[str]:
    """The temporary files a render left in generated/<strategy>/ (it was killed before its
    commit ended), relative to generated/: only a render holding the lock writes them, so under
    the lock every one is stale. With a strategy subset only those strategies' folders."""
    if not generated.is_dir():
        return []
    if strategies is None:
        folders = [entry.name for entry in os.scandir(generated) if entry.is_dir()]
    else:
        folders = [name for name in strategies if (generated / name).is_dir()]
    found = []
    for name in folders:
        with os.scandir(generated / name) as entries:
            found += [
                f"{name}/{entry.name}"
                for entry in entries
                if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
            ]
    return sorted(found)


def _refuse_symlinks(generated: Path) -> None:
    """generated/ and everything in it must be real files and folders of this repository."""
    if generated.is_symlink():
        raise RenderError(
            f"{generated} is a symbolic link; refusing to write through it (make it a real folder)"
        )
    if not generated.exists():
        return
    if not generated.is_dir():
        raise RenderError(f"{generated} exists and is not a folder")
    pending = [os.fspath(generated)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    raise RenderError(
                        f"{entry.path} is a symbolic link; refusing to render into a generated/ that holds links"
                    )
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif not entry.is_file(follow_symlinks=False):  # a read of it could never end
                    what = statefile.describe(entry.stat(follow_symlinks=False).st_mode)
                    raise RenderError(
                        f"{entry.path} is {what}; refusing to render into a generated/ that holds "
                        "anything but files and folders (remove it)"
                    )


# --------------------------------------------------------------------------------------------
# Writing, atomically


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def write_tree(
    root: Path, files: dict[str, str], strategies: list[str] | None = None
) -> WriteResult:
    """Make generated/ under root hold exactly `files` (for `strategies`; all when None).

    All new contents go to temporary files first; only then are they renamed into place and the
    orphans removed. If anything fails, every file already replaced or removed is restored from
    its in-memory backup, the temporary files are deleted, and generated/ is as it was.
    """
    generated = Path(root) / GENERATED_DIR
    _refuse_symlinks(generated)
    for relative in files:
        _check_relative(relative)
    with _locked(generated):
        return _write_locked(generated, files, strategies)[0]


@contextmanager
def _locked(generated: Path) -> Iterator[None]:
    """generated/ made if need be and held under the render lock; removed again on failure if
    this made it (and it is still empty)."""
    created_root = not generated.exists()
    generated.mkdir(parents=True, exist_ok=True)
    try:
        with _terminate_as_interrupt(), RenderLock(generated / LOCK_NAME):
            _refuse_symlinks(generated)  # again, now that no other render can change it
            # A killed render's temporary files: nobody else holds the lock, so none is live.
            for relative in leftovers(generated):
                (generated / relative).unlink(missing_ok=True)
            yield
    except BaseException:
        if created_root:
            _remove_empty_dirs(generated, [generated])
        raise


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a plain `kill`, a CI job's timeout) raises KeyboardInterrupt meanwhile, as Ctrl-C
    does, so the write's rollback runs and the old tree stays. Only SIGKILL (which no process
    can catch) leaves a half-written tree, for the next render to repair. Left alone where a
    handler is already set or this is not the main thread (signal handlers cannot be set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("terminated")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _check_relative(relative: str) -> None:
    strategy, _, module = relative.partition("/")
    if (
        strategy not in ("", ".", "..")
        and module.endswith(".py")
        and "/" not in module
        and "\\" not in relative
        and not module.startswith(".")
    ):
        return  # "<strategy>/<module>.py": the only shape a render makes (no Path per file)
    parts = Path(relative).parts
    if (
        Path(relative).is_absolute()
        or ".." in parts
        or len(parts) != 2
        or not relative.endswith(".py")
    ):
        raise RenderError(
            f"refusing to write {relative!r}: not <strategy>/<module>.py inside generated/"
        )


def _write_locked(
    generated: Path, files: dict[str, str], strategies: list[str] | None
) -> tuple[WriteResult, _Staged]:
    staged = _Staged(os.getpid())
    created: list[Path] = []
    try:
        created = _make_folders(generated, files)
        # Each changed file goes to its temporary file as soon as it is encoded, so the encoded
        # tree is never held in memory beside its text (40 MB each for 1000 models x 4).
        for relative, text in sorted(files.items()):
            staged.stage(generated, relative, text)
    except BaseException:
        staged.discard(generated)
        _rollback([], {}, {}, created)
        raise
    return _commit(generated, staged, files, strategies, created), staged


@dataclass
class _Staged:
    """Files written beside their targets, each to a temporary file, not yet renamed into
    place: what the staging step leaves for the commit (paths relative to generated/)."""

    owner: int  # the pid in the temporary names: the render's
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backups: dict[str, bytes | None] = field(default_factory=dict)  # old bytes (None: new)
    digests: dict[str, tuple[int, str]] = field(default_factory=dict)  # size, sha256: the cache's

    def stage(self, generated: Path, relative: str, text: str) -> None:
        target = generated / relative
        data = text.encode("utf-8")
        self.digests[relative] = (len(data), hashlib.sha256(data).hexdigest())
        old = target.read_bytes() if target.is_file() else None
        if old == data:
            self.unchanged.append(relative)
            return
        self.backups[relative] = old
        self.written.append(relative)
        with _naming(target), open(_temp_path(target, self.owner), "wb") as handle:
            handle.write(data)

    def discard(self, generated: Path) -> None:
        _discard_temps(generated, self.written, self.owner)


def _temp_path(target: Path, owner: int) -> Path:
    return target.with_name(f".{target.name}.{owner}.tmp")


def _discard_temps(generated: Path, relatives: Iterable[str], owner: int) -> None:
    for relative in relatives:
        try:
            _temp_path(generated / relative, owner).unlink(missing_ok=True)
        except OSError:  # best effort: the error being raised is the one to report
            pass


def _make_folders(generated: Path, relatives: Iterable[str]) -> list[Path]:
    """The strategy folders the files go in, made where missing (before any process writes in
    them); the ones made, so a rollback removes them again."""
    created: list[Path] = []
    try:
        for name in sorted({relative.split("/")[0] for relative in relatives}):
            folder = generated / name
            if not folder.is_dir():
                folder.mkdir()
                created.append(folder)
    except BaseException:
        _rollback([], {}, {}, created)
        raise
    return created


def _commit(
    generated: Path,
    staged: _Staged,
    relatives: Iterable[str],
    strategies: list[str] | None,
    created_dirs: list[Path],
) -> WriteResult:
    """Rename the staged files into place (in path order) and remove the orphans; on any
    failure restore what was done from the backups and delete the temporary files."""
    result = WriteResult(written=sorted(staged.written), unchanged=sorted(staged.unchanged))
    backups: dict[Path, bytes | None] = {
        generated / relative: staged.backups[relative] for relative in result.written
    }
    temps = {target: _temp_path(target, staged.owner) for target in backups}
    done: list[Path] = []  # targets already replaced or removed
    try:
        orphaned = orphans(generated, relatives, strategies)
        # A failure here (an exception, Ctrl-C, SIGTERM) restores the old tree below. SIGKILL cannot
        # be caught, and no set of renames is atomic together: a render killed in this loop
        # leaves the files before the kill new, the rest old (or absent, if new) with their
        # temporary files beside them, and the orphans in place. `render --check` reports all
        # of it (changed, missing, orphaned, leftover) and the next render, which removes the
        # leftovers under the lock, writes the same bytes an uninterrupted one would have.
        # No fsync: only a power loss could leave a short file, which is repaired the same
        # way; a per-file fsync made a 4000-file render several times slower.
        # Each target counts as done before its step: an interrupt (Ctrl-C, SIGTERM) may land
        # between the step and the next line. _rollback skips a target whose temporary file is
        # still there (not renamed), and an orphan not removed yet gets its own bytes back.
        for target, temp in temps.items():
            done.append(target)
            with _naming(target):
                os.replace(temp, target)
        for relative in orphaned:
            target = generated / relative
            backups[target] = target.read_bytes()
            done.append(target)
            os.remove(target)
            result.removed.append(relative)
    except BaseException:
        _rollback(done, backups, temps, created_dirs)
        raise
    if strategies is None:
        # Strategy folders that nothing is produced in any more (a strategy was removed).
        live = {relative.split("/")[0] for relative in relatives}
        stale = [p for p in generated.iterdir() if p.is_dir() and p.name not in live]
        for folder in stale:
            _remove_pycache(folder)
        _remove_empty_dirs(generated, stale)
    return result


@contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Report an OSError as about target: the user knows generated/S/x.py, not the temporary
    .x.py.<pid>.tmp beside it that the failing call was given."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(target)) from None


def _rollback(
    done: list[Path],
    backups: dict[Path, bytes | None],
    temps: dict[Path, Path],
    created_dirs: list[Path],
) -> None:
    errors = []
    for target in reversed(done):
        temp = temps.get(target)
        if temp is not None and os.path.lexists(temp):
            continue  # its rename never happened (counted done before it): nothing to undo
        old = backups.get(target)
        try:
            if old is None:
                target.unlink(missing_ok=True)
            else:
                with open(target, "wb") as handle:
                    handle.write(old)
        except OSError as exc:  # keep restoring the others; report what could not be restored
            errors.append(f"{target}: {exc}")
    for temp in temps.values():
        try:
            temp.unlink(missing_ok=True)
        except OSError as exc:
            errors.append(f"{temp}: {exc}")
    for folder in reversed(created_dirs):
        try:
            folder.rmdir()
        except OSError:
            pass
    if errors:
        raise RenderError("render failed and could not restore: " + "; ".join(errors))


def _remove_pycache(folder: Path) -> None:
    cache = folder / "__pycache__"
    if cache.is_dir() and not cache.is_symlink():
        for item in cache.iterdir():
            if item.is_file() and item.suffix == ".pyc":
                item.unlink()


def _remove_empty_dirs(generated: Path, folders: list[Path]) -> None:
    for folder in folders:
        for dirpath, _dirnames, _files in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
            try:
                Path(dirpath).rmdir()  # only succeeds when empty
            except OSError:
                pass


class RenderLock:
    """An exclusive lock file holding the owner's pid; a lock whose pid is gone is taken over."""

    # A render holds the lock while it renders (its processes write as they go): thousands of
    # models take tens of seconds, and a second render waits for the first rather than fail.
    def __init__(self, path: Path, wait_s: float = 120.0):
        self.path = path
        self.wait_s = wait_s

    def __enter__(self) -> RenderLock:
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner == -1:
                    # Released meanwhile: create it again. Unlinking now could delete the
                    # lock another render has just taken, and two renders would run at once.
                    continue
                if owner is None and self._age_s() < 2.0:
                    owner = 0  # just created, its pid not written yet: a live render, wait
                if owner is None or (owner != 0 and not _pid_alive(owner)):
                    self._break_stale()
                    continue
                if time.monotonic() >= deadline:
                    raise RenderError(
                        f"another render (pid {owner or '?'}) holds {self.path}; try again when it is done"
                    ) from None
                time.sleep(0.05)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _owner(self) -> int | None:
        # A lock that is a link, a FIFO or a device is refused (StateFileError), never read.
        if not statefile.check_file(self.path):
            return -1  # released meanwhile: the next loop retries
        data = statefile.read_bytes(self.path, 32)  # a pid; anything longer is not one
        text = data.decode("ascii", "replace").strip() if data is not None else ""
        return int(text) if text.isdigit() else None

    def _age_s(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _break_stale(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
