"""Read gpus.yaml, strategies/*.yaml and models.yaml into a Fleet, or the problems that stop it.

Each file is read with positions (yamlread), validated against its JSON Schema (schema/), and
only then turned into spec objects. Semantic checks live in checks.py.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .problems import Problem, has_errors, problem
from .spec import (
    MODAL_DEFAULT_RESOURCES,
    Catalog,
    ContainerPolicy,
    Fleet,
    Gpu,
    Model,
    Resources,
    Strategy,
    Traffic,
    Weights,
)
from .yamlread import Document, non_finite_numbers, read_yaml

MODELS_FILE = "models.yaml"
GPUS_FILE = "gpus.yaml"
STRATEGIES_DIR = "strategies"
SCHEMA_KINDS = ("models", "strategy", "gpus")

if TYPE_CHECKING:
    import jsonschema


@dataclass
class Loaded:
    """What load_fleet returns: the fleet (None when a file stops it), problems, documents."""

    fleet: Fleet | None
    problems: list[Problem]
    documents: dict[str, Document] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.fleet is not None and not has_errors(self.problems)


@cache
def _schemas() -> dict[str, dict]:
    folder = resources.files("modalfleet") / "schema"
    return {
        name: json.loads((folder / f"{name}.schema.json").read_text("utf-8"))
        for name in SCHEMA_KINDS
    }


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    """The reference validator (python-jsonschema): its errors become the problems we print."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = _schemas()
    registry = Registry().with_resources(
        (f"{name}.schema.json", Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    registry = registry.with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    cls = jsonschema.validators.validator_for(schemas[kind])
    return cls(schemas[kind], registry=registry)


@cache
def _fast_validator(kind: str):
    """The compiled validator (jsonschema-rs), or None where it is not installed.

    It only answers "valid or not": a document it passes skips python-jsonschema (and its
    import, most of a cold `validate`); one it fails, or cannot take, goes to _validator, so the
    problems and their messages are always python-jsonschema's.
    """
    registry = _fast_registry()
    if registry is None:
        return None
    import jsonschema_rs  # imported by _fast_registry already

    return jsonschema_rs.validator_for(_schemas()[kind], registry=registry)


@cache
def _fast_registry():
    """The three schemas under their $id and file names, built once for the three validators
    (building it costs about as much as compiling a validator), or None without jsonschema-rs."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    schemas = _schemas()
    return jsonschema_rs.Registry(
        [(schema["$id"], schema) for schema in schemas.values()]
        + [(f"{name}.schema.json", schema) for name, schema in schemas.items()]
    )


def _surely_valid(data: Any, kind: str) -> bool:
    fast = _fast_validator(kind)
    if fast is None:
        return False
    try:
        return fast.is_valid(data)
    except Exception:  # a value it cannot convert (a date, a huge int, a non-string key)
        return False


def schema_problems(doc: Document, kind: str) -> list[Problem]:
    """JSON Schema errors of one document as problems at the offending node."""
    found: list[Problem] = []
    if not _surely_valid(doc.data, kind):
        for error in _validator(kind).iter_errors(doc.data):
            found.extend(_explain(error, doc))
    for path, value in non_finite_numbers(doc):
        found.append(
            problem(
                _code_for(path),
                doc.where(path),
                f"{_dotted(path)} is {value}; numbers must be finite",
            )
        )
    return found


def _dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _code_for(path: tuple) -> str:
    # Numbers under traffic and latency carry their semantic code, so one code covers one rule
    # whichever layer (schema or check) catches it.
    if "traffic" in path:
        return "traffic"
    if path and path[-1] == "latency_target_s":
        return "latency"
    return "schema"


def _explain(error: jsonschema.ValidationError, doc: Document) -> list[Problem]:
    import difflib  # only a document with errors gets here: a clean validate never loads it

    path = tuple(error.absolute_path)
    where = doc.where(path)
    code = _code_for(path)
    validator = error.validator
    label = _dotted(path)
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = (
            [key for key in error.instance if key not in allowed]
            if isinstance(error.instance, dict)
            else []
        )
        results = []
        for key in extras:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else (f"allowed keys: {', '.join(allowed)}" if allowed else "")
            )
            results.append(
                problem(
                    "unknown-key",
                    doc.where(path + (key,), key=True),
                    f"unknown key {key!r} in {label}",
                    hint=hint,
                )
            )
        return results
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [problem(code, where, f"{label} is missing required key {missing!r}")]
    if validator in ("anyOf", "oneOf"):
        inner = _same_type_branch_error(error)
        if inner is not None:  # right shape, wrong content: say what is wrong inside it
            return _explain(inner, doc)
        return [problem(code, where, f"{label}: {_describe_any_of(error)}")]
    if validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        close = difflib.get_close_matches(
            str(error.instance), [str(c) for c in error.validator_value], n=1
        )
        hint = f"did you mean {close[0]!r}?" if close else f"one of {choices}"
        return [
            problem(
                code,
                where,
                f"{label} is {error.instance!r}, not one of the allowed values",
                hint=hint,
            )
        ]
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [
            problem(
                code,
                where,
                f"{label} must be {_article(expected)}, not {_json_type(error.instance)}",
            )
        ]
    if validator == "pattern":
        return [
            problem(
                code,
                where,
                f"{label} {error.instance!r} has characters or a shape that is not allowed",
                hint=f"it must match {error.validator_value}",
            )
        ]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return [
            problem(
                code,
                where,
                f"{label} is {error.instance!r}; it must be {words[validator]} {error.validator_value}",
            )
        ]
    if validator == "const":
        return [
            problem(
                code, where, f"{label} must be {error.validator_value!r}, not {error.instance!r}"
            )
        ]
    message = error.message if len(error.message) < 200 else error.message[:200] + "..."
    return [problem(code, where, f"{label}: {message}")]


def _same_type_branch_error(error: jsonschema.ValidationError) -> jsonschema.ValidationError | None:
    """For a number-or-mapping value given as a mapping (or a list): the first error inside the
    branch of that type, e.g. a negative figure in a map, rather than "expected a number or a
    mapping, got a mapping"."""
    if not isinstance(error.instance, dict | list):
        return None
    wanted = "object" if isinstance(error.instance, dict) else "array"
    for inner in error.context or ():
        branch = error.validator_value[inner.relative_schema_path[0]]
        if branch.get("type") == wanted and inner.validator != "type":
            return inner
    return None


def _describe_any_of(error: jsonschema.ValidationError) -> str:
    types = []
    for sub in error.validator_value:
        kind = sub.get("type") or (
            "one of " + ", ".join(map(repr, sub["enum"])) if "enum" in sub else "a value"
        )
        types.append(_article(kind) if "type" in sub else kind)
    return (
        f"expected {' or '.join(types)}, got {_json_type(error.instance)} {_short(error.instance)}"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _article(kind: str) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "null": "null",
    }
    return names.get(kind, kind)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _money(value: float | int) -> Decimal:
    # str() first: Decimal(0.000164) would carry the binary float's error into the cents.
    return Decimal(str(value))


def _read(
    root: Path, relative: str, kind: str, documents: dict[str, Document], problems: list[Problem]
) -> Document | None:
    doc, found = read_yaml(root / relative, relative)
    documents[relative] = doc
    if found:
        problems.extend(found)
        return None
    found = schema_problems(doc, kind)
    problems.extend(found)
    return None if has_errors(found) else doc


def fleet_names(root: Path) -> tuple[list[str], list[str]]:
    """Strategy and model names as written, for shell completion: fast, and never an error
    (a broken or missing file gives no names; validate is where problems are reported)."""
    root = Path(root)
    try:
        files = sorted((root / STRATEGIES_DIR).glob("*.yaml"))
        files += sorted((root / STRATEGIES_DIR).glob("*.yml"))
        strategies = sorted({file.stem for file in files})
    except OSError:
        strategies = []
    models: list[str] = []
    doc, found = read_yaml(root / MODELS_FILE, MODELS_FILE)
    if not found and isinstance(doc.data, dict) and isinstance(doc.data.get("models"), dict):
        models = [str(name) for name in doc.data["models"]]
    return strategies, models


def load_fleet(root: Path) -> Loaded:
    """Load the fleet under root. Returns problems for every file that could not be used.

    Python's cyclic garbage collector is paused meanwhile: reading a fleet builds one large
    graph of nodes, dicts and dataclasses without reference cycles, and the collector's repeated
    passes over it took half the CPU of loading 1000 models (1.6 s -> 0.8 s). What a refused
    alias cycle leaves behind is collected once the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_fleet(Path(root))
    finally:
        if was_enabled:
            gc.enable()


def _load_fleet(root: Path) -> Loaded:
    root = Path(root)
    problems: list[Problem] = []
    documents: dict[str, Document] = {}
    if not root.is_dir():
        # One problem, not one per file the folder would hold: the folder is what is wrong.
        what = "does not exist" if not root.exists() else "is not a folder"
        return Loaded(
            None,
            [
                problem(
                    "missing-file",
                    (f"{root}/", 1, 1),
                    f"the fleet folder {root} {what}",
                    hint="give the folder that holds models.yaml, gpus.yaml and strategies/ "
                    "(--root DIR; `modalfleet init DIR` starts a new one)",
                )
            ],
            documents,
        )

    gpus_doc = _read(root, GPUS_FILE, "gpus", documents, problems)
    strategy_docs: list[Document] = []
    strategies_dir = root / STRATEGIES_DIR
    if not strategies_dir.is_dir():
        problems.append(
            problem(
                "missing-file",
                (STRATEGIES_DIR + "/", 1, 1),
                "the strategies/ folder is missing",
                hint="create strategies/<name>.yaml, one file per strategy (baseline.yaml at least)",
            )
        )
    else:
        files = sorted(strategies_dir.glob("*.yaml")) + sorted(strategies_dir.glob("*.yml"))
        if not files:
            problems.append(
                problem(
                    "missing-file",
                    (STRATEGIES_DIR + "/", 1, 1),
                    "strategies/ holds no .yaml file",
                    hint="add strategies/baseline.yaml",
                )
            )
        stems: dict[str, str] = {}
        for file in files:
            # hybrid.yaml and hybrid.yml would both be strategy "hybrid": one would vanish.
            if file.stem in stems:
                problems.append(
                    problem(
                        "name",
                        (f"{STRATEGIES_DIR}/{file.name}", 1, 1),
                        f"{STRATEGIES_DIR}/{file.name} and {stems[file.stem]} both define strategy {file.stem!r}",
                        hint="keep one file per strategy",
                    )
                )
            stems.setdefault(file.stem, f"{STRATEGIES_DIR}/{file.name}")
            doc = _read(root, f"{STRATEGIES_DIR}/{file.name}", "strategy", documents, problems)
            if doc is not None:
                strategy_docs.append(doc)
    models_doc = _read(root, MODELS_FILE, "models", documents, problems)

    if has_errors(problems) or gpus_doc is None or models_doc is None:
        return Loaded(None, problems, documents)
    fleet = Fleet(
        models=_models(models_doc.data, root),
        strategies=_strategies(strategy_docs),
        catalog=_catalog(gpus_doc.data),
        vram_headroom_gb=float(models_doc.data.get("defaults", {}).get("vram_headroom_gb", 0)),
    )
    return Loaded(fleet, problems, documents)


def _catalog(data: dict) -> Catalog:
    gpus = {
        name: Gpu(
            name=name,
            vram_gb=float(entry["vram_gb"]),
            usd_per_second=_money(entry["usd_per_second"]),
            architecture=entry["architecture"],
            compute_capability=entry["compute_capability"],
            bf16=entry["bf16"],
            fp8=entry["fp8"],
            relative_throughput=float(entry["relative_throughput"]),
            aliases=tuple(entry.get("aliases", ())),
            tflops={dtype: float(value) for dtype, value in entry.get("tflops", {}).items()},
            tflops_source=entry.get("tflops_source", ""),
        )
        for name, entry in data["gpus"].items()
    }
    prices = data.get("prices", {})
    cpu_memory = data.get("cpu_memory", {})
    return Catalog(
        gpus=gpus,
        source=prices.get("source", ""),
        as_of=prices.get("as_of", ""),
        usd_per_core_second=_money(cpu_memory.get("usd_per_core_second", 0)),
        usd_per_gib_second=_money(cpu_memory.get("usd_per_gib_second", 0)),
        cpu_memory_source=cpu_memory.get("source", ""),
        cpu_memory_as_of=cpu_memory.get("as_of", ""),
    )


def _regions(value: Any) -> tuple[str, ...]:
    """`region:` as written: one name or a list of them (the schema checked the shape)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _strategies(docs: list[Document]) -> dict[str, Strategy]:
    strategies: dict[str, Strategy] = {}
    for doc in docs:
        data = doc.data
        containers = data["containers"]
        strategy = Strategy(
            name=data["name"],
            goal=data.get("goal", ""),
            description=data.get("description", ""),
            compare_to=data.get("compare_to", "baseline"),
            containers=ContainerPolicy(
                min_containers=containers["min_containers"],
                max_containers=containers["max_containers"],
                scaledown_window_s=containers["scaledown_window_s"],
                timeout_s=containers["timeout_s"],
                max_inputs=containers.get("max_inputs", 1),
            ),
            file=doc.file,
            model_containers={
                name: {key: value for key, value in values.items() if key != "gpu_snapshot"}
                for name, values in (data.get("models") or {}).items()
            },
            gpu_snapshot=data.get("gpu_snapshot"),
            model_gpu_snapshots={
                name: values["gpu_snapshot"]
                for name, values in (data.get("models") or {}).items()
                if "gpu_snapshot" in values
            },
            endpoint_auth=data.get("endpoint", {}).get("auth", "proxy"),
            region=_regions(data.get("region")),
        )
        # Keyed by file stem: checks report a stem that differs from the name key.
        strategies[Path(doc.file).stem] = strategy
    return strategies


def _flat_and_measured(value: float | dict | None) -> tuple[float | None, dict[str, float]]:
    """A number, or a map GPU -> measured figure that may carry "default": the flat figure for
    the GPUs it does not name (traffic.seconds_per_request and cold_start_s share this shape)."""
    if isinstance(value, dict):
        return value.get("default"), {k: v for k, v in value.items() if k != "default"}
    return value, {}


def _resources(entry: dict | None, fallback: Resources) -> Resources:
    if entry is None:
        return fallback
    return Resources(cpu=_money(entry["cpu"]), memory_gb=_money(entry["memory_gb"]))


def _models(data: dict, root: Path) -> dict[str, Model]:
    defaults = data.get("defaults", {})
    default_resources = _resources(defaults.get("resources"), MODAL_DEFAULT_RESOURCES)
    models: dict[str, Model] = {}
    for name, entry in data["models"].items():
        traffic = entry["traffic"]
        flat, measured = _flat_and_measured(traffic["seconds_per_request"])
        cold_flat, cold_measured = _flat_and_measured(entry.get("cold_start_s"))
        quantization = entry.get("quantization", {})
        if isinstance(quantization, str):
            quantization = {"*": quantization}
        models[str(name)] = Model(
            name=str(name),
            kind=entry["kind"],
            description=entry.get("description", ""),
            weights=tuple(
                Weights(
                    repo=w["repo"],
                    revision=w["revision"],
                    size_gb=float(w["size_gb"]),
                    role=w["role"],
                    name=w.get("name", ""),
                    repo_type=w.get("repo_type", "model"),
                    files=tuple(w.get("files", ())),
                    components={k: float(v) for k, v in w.get("components", {}).items()},
                )
                for w in entry["weights"]
            ),
            dtype=entry["dtype"],
            vram_gb=float(entry["vram_gb"]),
            quantization={k: v for k, v in quantization.items() if v != "none"},
            params=dict(entry.get("params", {})),
            latency_target_s=entry.get("latency_target_s"),
            traffic=Traffic(
                requests_per_day=_money(traffic["requests_per_day"]),
                seconds_per_request=None if flat is None else _money(flat),
                seconds_by_gpu={k: _money(v) for k, v in measured.items()},
                profile=traffic.get("profile", "poisson"),
                peak_to_trough=(
                    float(traffic["peak_to_trough"]) if "peak_to_trough" in traffic else None
                ),
                trace=root / traffic["trace"] if "trace" in traffic else None,
            ),
            gpu={
                str(strategy): tuple(choice) if isinstance(choice, list) else (choice,)
                for strategy, choice in entry["gpu"].items()
            },
            python=entry.get("python", defaults.get("python", "3.11")),
            volume=entry.get("volume", defaults.get("volume", "model-weights")),
            secrets=tuple(entry.get("secrets", defaults.get("secrets", ()))),
            containers=dict(entry.get("containers", {})),
            resources=_resources(entry.get("resources"), default_resources),
            cold_start_s=None if cold_flat is None else float(cold_flat),
            cold_start_by_gpu={str(k): float(v) for k, v in cold_measured.items()},
            acknowledge={item["code"]: item["reason"] for item in entry.get("acknowledge", ())},
            endpoint_auth=entry.get("endpoint", {}).get("auth"),
            limits=dict(entry.get("limits", {})),
            gpu_snapshot=entry.get("gpu_snapshot"),
            region=_regions(entry.get("region")),
        )
    return models
