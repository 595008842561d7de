"""Semantic checks on a loaded fleet. Each returns problems with the position of the node at fault.

Codes (registered with their meaning in codes.py, from which the manual's problem-codes page is
generated): name, strategy-coverage, unknown-gpu, gpu-list, vram-fit, dtype-support, weights-pin,
weights-size, weights-role, quantization, params, secret-literal,
concurrency, trace, resources, unknown-model, endpoint-auth, limits, timeout-too-short,
vram-declared-off.
(traffic and latency are
enforced with the schema and carry those codes from there.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..report.money import usd
from ..report.suggest import closest, did_you_mean
from .architectures import declared_size_shortfalls
from .limits import KIND_LIMITS, default_violations, request_limits
from .load import GPUS_FILE, MODELS_FILE, STRATEGIES_DIR, Loaded
from .problems import WARNING, Problem, problem
from .regions import known_regions, region_kind
from .request_time import (
    MODAL_MAX_TIMEOUT_S,
    request_budget_s,
    slowest_gpu,
    timeout_for,
    worst_request,
)
from .sizes import loaded_weights_gb, quantized_components, scheme_for
from .spec import Catalog, Fleet, Gpu, Model, Strategy, is_python_keyword, module_name
from .yamlread import Document

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME = 60  # Modal app names are limited to 64 characters
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

# Credentials pasted into YAML. Secrets belong in Modal Secrets, referenced by name.
CREDENTIAL_PATTERNS = [
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), "a Hugging Face token"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an API key (sk-...)"),
    (re.compile(r"\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\b(?:ak|as)-[A-Za-z0-9]{20,}"), "a Modal token"),
]
BASE64_RE = re.compile(r"[A-Za-z0-9+/_=-]{40,}")
# No pattern above matches fewer characters (AKIA + 16): shorter strings, most of a fleet's,
# skip the seven searches.
SHORTEST_CREDENTIAL = 20


def _looks_like_base64_secret(token: str) -> bool:
    # Long, mixed-case and with digits: a key, not a word, a path or a lowercase hex commit.
    return bool(
        re.search(r"[a-z]", token) and re.search(r"[A-Z]", token) and re.search(r"[0-9]", token)
    ) and not re.search(r"[-_]{2}", token)


def run_checks(loaded: Loaded, only_strategy: str | None = None) -> list[Problem]:
    """Every semantic problem of a loaded fleet (schema-valid by now)."""
    fleet = loaded.fleet
    assert fleet is not None
    models_doc = loaded.documents[MODELS_FILE]
    found: list[Problem] = []
    found += check_secrets(loaded.documents.values())
    found += check_catalog_names(fleet.catalog, loaded.documents[GPUS_FILE])
    found += check_strategy_names(fleet, loaded.documents)
    found += check_model_names(fleet, models_doc)
    found += check_strategy_containers(fleet, loaded.documents)
    found += check_strategy_models(fleet, loaded.documents)
    found += check_open_endpoints(fleet, loaded.documents)
    found += check_regions(fleet, loaded.documents)
    hinted: dict[str, str] = {}  # unknown strategy -> where its file's skeleton was shown
    for model in fleet.models.values():
        found += check_model(fleet, model, models_doc, only_strategy, hinted)
        found += check_limits(fleet, model, models_doc, only_strategy)
        found += check_request_time(fleet, model, loaded.documents, only_strategy)
        found += check_model_containers(fleet, model, loaded.documents)
        found += check_measured_gpus(fleet, model, models_doc)
        found += check_concurrency(fleet, model, loaded.documents)
        found += check_traffic_profile(model, models_doc)
        found += check_resources(model, models_doc)
        found += check_declared_sizes(model, models_doc)
    return found


# Why a kind's runtime cannot serve two requests at once in one container (@modal.concurrent
# runs a sync method's inputs on threads that share the loaded pipeline). Every diffusers
# pipeline keeps its denoising state on itself: scheduler.set_timesteps() and the scheduler's
# step index are per-call state held by the one shared object, so two interleaved requests
# corrupt each other's sampling. lora and instantid add per-request settings on top. SeedVR2's
# requests take turns on its one loaded runner (a lock in runtime/seedvr2_upstream.py), so
# video-upscale may take several: one request's decoding and encoding overlap another's GPU work.
CONCURRENCY_BLOCKERS: dict[str, str] = {
    "text-to-image": "its diffusers pipeline keeps the scheduler's timesteps and step index on the one pipeline every request shares",
    "text-to-video": "its diffusers pipeline keeps the scheduler's timesteps and step index on the one pipeline every request shares",
    "lora": "each request calls set_adapters() on the shared pipeline, so concurrent requests would swap each other's adapter",
    "instantid": "each request calls set_ip_adapter_scale() on the shared pipeline, so concurrent requests would change each other's identity strength",
}


def concurrency_blocker(kind: str) -> str | None:
    """Why a model of this kind must keep max_inputs at 1; None when it may serve several."""
    return CONCURRENCY_BLOCKERS.get(kind)


def check_concurrency(fleet: Fleet, model: Model, documents: dict[str, Document]) -> list[Problem]:
    """max_inputs > 1 only where the runtime allows it, and only where N requests fit the GPU."""
    found: list[Problem] = []
    reason = concurrency_blocker(model.kind)
    if reason is not None and model.containers.get("max_inputs", 1) > 1:
        # The model's own override: one problem, whatever the strategies say.
        return [
            problem(
                "concurrency",
                documents[MODELS_FILE].where(("models", model.name, "containers", "max_inputs")),
                f"{model.name} ({model.kind}) cannot serve {model.containers['max_inputs']} requests at once: {reason}",
                hint="set max_inputs: 1 (or remove it); scale with max_containers instead",
            )
        ]
    for strategy in fleet.strategies.values():
        max_inputs = strategy.policy_for(model).max_inputs
        if max_inputs <= 1:
            continue
        where = _containers_where(model, strategy, documents, "max_inputs")
        if reason is not None:
            found.append(
                problem(
                    "concurrency",
                    where,
                    f"{model.name} ({model.kind}) cannot serve {max_inputs} requests at once (strategy {strategy.name}): {reason}",
                    hint=f"give {model.name} containers: {{max_inputs: 1}} in models.yaml, or keep max_inputs at 1 in the strategy",
                )
            )
            continue
        # Each request in flight holds its own activations, so N at once need N times the
        # model's VRAM. (Conservative for video-upscale, whose requests take turns on the GPU.)
        for name in model.gpu.get(strategy.name, ()):
            resolved = fleet.catalog.resolve(name)
            if resolved is None:
                continue
            gpu = resolved[0]
            need = max_inputs * model.vram_gb
            if need > gpu.vram_gb:
                found.append(
                    problem(
                        "concurrency",
                        where,
                        f"{model.name} with max_inputs {max_inputs} needs {need:g} GB ({max_inputs} x {model.vram_gb:g}) but {gpu.name} (strategy {strategy.name}) has {gpu.vram_gb:g} GB",
                        hint=f"lower max_inputs to {max(1, int(gpu.vram_gb // model.vram_gb))} or use a bigger GPU",
                    )
                )
    return found


def _containers_where(
    model: Model, strategy: Strategy, documents: dict[str, Document], key: str
) -> tuple[str, int, int]:
    """The node that set a containers key for model under strategy, the most specific first:
    the strategy's `models:` entry, the model's own `containers:`, the strategy's."""
    if key in strategy.model_containers.get(model.name, {}):
        return documents[strategy.file].where(("models", model.name, key))
    if key in model.containers:
        return documents[MODELS_FILE].where(("models", model.name, "containers", key))
    return documents[strategy.file].where(("containers", key))


def check_traffic_profile(model: Model, doc: Document) -> list[Problem]:
    """A profile's options must belong to it, and a trace must be a readable file."""
    traffic = model.traffic
    base = ("models", model.name, "traffic")
    found: list[Problem] = []
    if traffic.peak_to_trough is not None and traffic.profile != "diurnal":
        found.append(
            problem(
                "traffic",
                doc.where(base + ("peak_to_trough",), key=True),
                f"{model.name}: peak_to_trough applies only to profile: diurnal (profile is {traffic.profile})",
                hint="set profile: diurnal or remove peak_to_trough",
            )
        )
    if traffic.trace is None:
        return found
    where = doc.where(base + ("trace",))
    if traffic.profile != "poisson" or traffic.peak_to_trough is not None:
        found.append(
            problem(
                "traffic",
                where,
                f"{model.name}: a trace replays recorded arrivals; profile {traffic.profile} would be ignored",
                hint="remove profile and peak_to_trough, or remove trace",
            )
        )
    reason = _unreadable(traffic.trace)
    if reason:
        written = doc.data["models"][model.name]["traffic"]["trace"]  # as the user wrote it
        found.append(
            problem(
                "trace",
                where,
                f"{model.name}: trace file {written!r} {reason}",
                hint="a trace is a text file of arrival times, one a line, relative to the folder of models.yaml",
            )
        )
    return found


def _unreadable(path) -> str | None:
    """Why path cannot be read as a trace; None when it can (its content is read later)."""
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "is not readable"
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc}"
    return None


GIB = 2**30
PROCESS_OVERHEAD_GIB = 3  # Python, torch, CUDA context host-side state


def check_resources(model: Model, doc: Document) -> list[Problem]:
    """Memory reserved below what loading the weights takes: billed at use, and OOM-prone."""
    weights_gib = sum(w.size_gb for w in model.weights) * 1e9 / GIB
    need = weights_gib + PROCESS_OVERHEAD_GIB
    reserved = float(model.resources.memory_gib)
    if reserved >= need:
        return []
    # The node that set the figure: the model's own resources, the defaults', or (neither: Modal's
    # 128 MiB default applies) the model's name.
    entry = doc.data["models"][model.name]
    if "resources" in entry:
        where = doc.where(("models", model.name, "resources", "memory_gb"))
    elif "resources" in doc.data.get("defaults", {}):
        where = doc.where(("defaults", "resources", "memory_gb"))
    else:
        where = doc.where(("models", model.name), key=True)
    return [
        problem(
            "resources",
            where,
            f"{model.name} reserves {reserved:g} GiB of memory but loads {weights_gib:.1f} GiB of weights through host memory (+{PROCESS_OVERHEAD_GIB} GiB for the process)",
            hint=f"set resources: {{memory_gb: {int(-(-need // 1))}}} or more: Modal bills the higher of reservation and use, so the estimate is low, and a container above its reservation can be OOM-killed",
            severity=WARNING,
        )
    ]


def check_declared_sizes(model: Model, doc: Document) -> list[Problem]:
    """A size_gb, component size or vram_gb well below what the model's published architecture
    needs (parameters x bytes; fleet/architectures): the VRAM checks would pass a GPU that
    cannot hold the weights."""
    return [
        problem(
            "vram-declared-off",
            doc.where(path),
            message,
            hint="raise the figure to at least the weights' size (vram_gb: the weights plus "
            "activations), or declare the quantization that makes it smaller",
            severity=WARNING,
            model=model.name,
        )
        for path, message in declared_size_shortfalls(model)
    ]


def _containers_problem(where: tuple[str, int, int], owner: str, low: int, high: int) -> Problem:
    # JSON Schema cannot compare two fields; Modal refuses such an app at deploy time.
    return problem(
        "schema",
        where,
        f"{owner}: min_containers {low} is above max_containers {high}",
        hint="min_containers must be <= max_containers",
    )


def check_strategy_containers(fleet: Fleet, documents: dict[str, Document]) -> list[Problem]:
    found = []
    for strategy in fleet.strategies.values():
        policy = strategy.containers
        if policy.min_containers > policy.max_containers:
            where = documents[strategy.file].where(("containers", "min_containers"))
            found.append(
                _containers_problem(
                    where, f"strategy {strategy.name}", policy.min_containers, policy.max_containers
                )
            )
    return found


def check_model_containers(
    fleet: Fleet, model: Model, documents: dict[str, Document]
) -> list[Problem]:
    """A model's containers overrides (its own, and each strategy's `models:` entry for it),
    merged with each strategy's policy."""
    for strategy in fleet.strategies.values():
        in_strategy = model.name in strategy.model_containers
        if not model.containers and not in_strategy:
            continue
        if strategy.containers.min_containers > strategy.containers.max_containers:
            continue  # the strategy itself is reported
        policy = strategy.policy_for(model)
        if policy.min_containers > policy.max_containers:
            if in_strategy:
                where = documents[strategy.file].where(("models", model.name))
            else:
                where = documents[MODELS_FILE].where(("models", model.name, "containers"))
            owner = f"{model.name} under strategy {strategy.name}"
            return [_containers_problem(where, owner, policy.min_containers, policy.max_containers)]
    return []


def check_strategy_models(fleet: Fleet, documents: dict[str, Document]) -> list[Problem]:
    """A strategy's `models:` overrides name models that exist."""
    found = []
    for strategy in fleet.strategies.values():
        for name in strategy.model_containers:
            if name in fleet.models:
                continue
            found.append(
                problem(
                    "unknown-model",
                    documents[strategy.file].where(("models", name), key=True),
                    f"strategy {strategy.name} sets containers for {name!r}, which is not in models.yaml",
                    hint=did_you_mean(name, fleet.models),
                )
            )
    return found


def check_open_endpoints(fleet: Fleet, documents: dict[str, Document]) -> list[Problem]:
    """`endpoint: {auth: none}` is allowed but worth a warning: anyone with the URL can start
    up to max_containers GPUs on the account's bill."""
    owners = [
        (strategy.file, ("endpoint", "auth"), f"strategy {strategy.name}", strategy.endpoint_auth)
        for strategy in fleet.strategies.values()
    ] + [
        (MODELS_FILE, ("models", model.name, "endpoint", "auth"), model.name, model.endpoint_auth)
        for model in fleet.models.values()
    ]
    return [
        problem(
            "endpoint-auth",
            documents[file].where(path),
            f"{owner} turns off proxy auth: its web endpoints answer anyone who has the URL",
            hint="remove `endpoint: {auth: none}` to require Modal-Key/Modal-Secret headers",
            severity=WARNING,
        )
        for file, path, owner, auth in owners
        if auth == "none"
    ]


def check_regions(fleet: Fleet, documents: dict[str, Document]) -> list[Problem]:
    """Every `region:` name is one Modal lists: an unknown one fails at deploy time, and the
    price multiplier (fleet/regions.py) could not be known."""
    owners = [
        (strategy.file, ("region",), strategy.region) for strategy in fleet.strategies.values()
    ] + [
        (MODELS_FILE, ("models", model.name, "region"), model.region)
        for model in fleet.models.values()
    ]
    found = []
    for file, path, regions in owners:
        doc = documents[file]
        listed = doc.data
        for key in path:
            listed = listed.get(key) if isinstance(listed, dict) else None
        for index, region in enumerate(regions):
            if region_kind(region) is not None:
                continue
            at = path + (index,) if isinstance(listed, list) else path
            found.append(
                problem(
                    "unknown-region",
                    doc.where(at),
                    f"unknown region {region!r}",
                    hint=did_you_mean(region, known_regions()),
                )
            )
    return found


def check_limits(
    fleet: Fleet, model: Model, doc: Document, only_strategy: str | None
) -> list[Problem]:
    """Overrides must apply to the kind, and the model's own default request must pass them."""
    found = []
    base = ("models", model.name, "limits")
    for name in model.limits:
        if name not in KIND_LIMITS[model.kind]:
            found.append(
                problem(
                    "limits",
                    doc.where(base + (name,), key=True),
                    f"{model.name} ({model.kind}) has no {name} limit",
                    hint=f"its limits are {', '.join(KIND_LIMITS[model.kind])}",
                )
            )
    reported = set()
    for strategy, choices in model.gpu.items():
        if strategy not in fleet.strategies or (only_strategy and strategy != only_strategy):
            continue
        limits = request_limits(model, fleet.catalog, choices)
        for name, message in default_violations(model, limits):
            if name in reported:
                continue
            reported.add(name)
            where = doc.where(base + (name,)) if name in model.limits else doc.where(base[:2])
            found.append(
                problem(
                    "limits",
                    where,
                    f"{model.name} would refuse its own default request: {message}",
                    hint=f"raise limits.{name} or lower the default in params",
                )
            )
    return found


def check_request_time(
    fleet: Fleet, model: Model, documents: dict[str, Document], only_strategy: str | None
) -> list[Problem]:
    """A request at the model's limits must finish inside the budget its container timeout
    leaves (ESTIMATE, fleet/request_time.py); else Modal would kill it mid-call. One problem
    per place the timeout is set: the slowest strategy using it, so its hint covers them all."""
    found: dict[tuple[str, int, int], tuple[float, Problem]] = {}
    for strategy in fleet.strategies.values():
        choices = model.gpu.get(strategy.name)
        if not choices or (only_strategy and strategy.name != only_strategy):
            continue
        gpu = slowest_gpu(fleet.catalog, choices)
        if gpu is None:
            continue
        worst = worst_request(model, request_limits(model, fleet.catalog, choices), gpu)
        timeout = strategy.policy_for(model).timeout_s
        budget = request_budget_s(timeout)
        if worst is None or worst.seconds <= budget:
            continue
        where = _containers_where(model, strategy, documents, "timeout_s")
        if where in found and found[where][0] >= worst.seconds:
            continue
        needed = timeout_for(worst.seconds)
        fits = max(1, worst.frames_within(budget))
        raise_it = (
            f"raise this timeout_s to >= {needed}, or " if needed <= MODAL_MAX_TIMEOUT_S else ""
        )
        found[where] = (
            worst.seconds,
            problem(
                "timeout-too-short",
                where,
                f"{model.name} (strategy {strategy.name}): a request at its limits, "
                f"{worst.describe()}, does not fit the {budget} s its {timeout} s container "
                "timeout leaves",
                hint=f"{raise_it}lower {model.name}'s limits.max_input_frames to <= {fits}",
            ),
        )
    return [found_problem for _, found_problem in found.values()]


def check_measured_gpus(fleet: Fleet, model: Model, doc: Document) -> list[Problem]:
    """Measured seconds for a GPU the catalog lacks would be silently ignored by the cost model."""
    found = []
    for name in model.traffic.seconds_by_gpu:
        if fleet.catalog.resolve(name) is None:
            where = doc.where(
                ("models", model.name, "traffic", "seconds_per_request", name), key=True
            )
            found.append(
                problem(
                    "unknown-gpu",
                    where,
                    f"{model.name} has measured seconds for unknown GPU {name!r}",
                    hint=did_you_mean(name, fleet.catalog.all_names()),
                )
            )
    if model.traffic.seconds_per_request is None:
        # No flat figure: every GPU a strategy may run on needs its own measured seconds, or
        # `cost`, `optimize` and `plan` cannot price the model.
        measured = {fleet.catalog.modal_name(name) for name in model.traffic.seconds_by_gpu}
        for strategy, choices in model.gpu.items():
            missing = [
                gpu
                for gpu in choices
                if fleet.catalog.resolve(gpu) and fleet.catalog.modal_name(gpu) not in measured
            ]
            for gpu in missing:
                found.append(
                    problem(
                        "traffic",
                        doc.where(("models", model.name, "traffic", "seconds_per_request")),
                        f"{model.name} has no seconds_per_request for {fleet.catalog.modal_name(gpu)} (strategy {strategy})",
                        hint="measure it (bench --write) or add a default: key with the flat figure",
                    )
                )
    return found


def iter_strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, path + (index,))


def check_secrets(documents) -> list[Problem]:
    found = []
    for doc in documents:
        for path, text in iter_strings(doc.data):
            if len(text) < SHORTEST_CREDENTIAL:
                continue
            what = next(
                (label for pattern, label in CREDENTIAL_PATTERNS if pattern.search(text)), None
            )
            if what is None and any(_looks_like_base64_secret(t) for t in BASE64_RE.findall(text)):
                what = "a long random key"
            if what:
                found.append(
                    problem(
                        "secret-literal",
                        doc.where(path),
                        f"{'.'.join(map(str, path))} looks like {what}; credentials must not be written in YAML",
                        hint="store it in a Modal Secret (modal secret create NAME KEY=...) and list the secret's name under secrets:",
                    )
                )
    return found


def check_catalog_names(catalog: Catalog, doc: Document) -> list[Problem]:
    """Every GPU name and alias must mean one GPU: an alias equal to another name is ambiguous."""
    found = []
    owner: dict[str, str] = {name.upper(): name for name in catalog.gpus}
    for gpu in catalog.gpus.values():
        for index, alias in enumerate(gpu.aliases):
            other = owner.get(alias.upper())
            if other is not None and other != gpu.name:
                found.append(
                    problem(
                        "name",
                        doc.where(("gpus", gpu.name, "aliases", index)),
                        f"alias {alias!r} of {gpu.name} already names {other}",
                        hint="each GPU name and alias must be unique (case-insensitive)",
                    )
                )
            owner.setdefault(alias.upper(), gpu.name)
    return found


def strategy_skeleton(name: str) -> str:
    """The smallest valid strategies/<name>.yaml (the schema's required keys, today's policy)."""
    return (
        "version: 1\n"
        f"name: {name}\n"
        "compare_to: baseline\n"
        "containers: {min_containers: 0, max_containers: 10, scaledown_window_s: 300, timeout_s: 600}"
    )


def missing_strategy_hint(name: str, known) -> str:
    """A model names a strategy with no file: the closest known name, and the file to create."""
    match = closest(name, known)
    lead = f"did you mean {match!r}? If not, " if match else ""
    if name_problem(name) is not None:  # no file can define it: only the suggestion is useful
        return did_you_mean(name, known)
    return f"{lead}create {STRATEGIES_DIR}/{name}.yaml:\n{strategy_skeleton(name)}"


def name_problem(name: str) -> str | None:
    """Why a model or strategy name is not allowed, or None."""
    if not NAME_RE.match(name):
        return "must be lowercase letters, digits and single hyphens, starting with a letter"
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if is_python_keyword(name):
        return f"maps to the Python keyword {module_name(name)!r}"
    return None


def check_model_names(fleet: Fleet, doc: Document) -> list[Problem]:
    found = []
    seen: dict[str, str] = {}
    for name in fleet.models:
        where = doc.where(("models", name), key=True)
        reason = name_problem(name)
        if reason:
            suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            hint = f"for example {suggestion!r}" if suggestion and NAME_RE.match(suggestion) else ""
            found.append(problem("name", where, f"model name {name!r} {reason}", hint=hint))
        module = module_name(name).lower()
        if module in seen:
            found.append(
                problem(
                    "name",
                    where,
                    f"model names {seen[module]!r} and {name!r} both map to module {module!r}",
                )
            )
        seen.setdefault(module, name)
    return found


def check_strategy_names(fleet: Fleet, documents: dict[str, Document]) -> list[Problem]:
    found = []
    for stem, strategy in fleet.strategies.items():
        doc = documents[strategy.file]
        reason = name_problem(stem)
        if reason:
            found.append(
                problem("name", (strategy.file, 1, 1), f"strategy file name {stem!r} {reason}")
            )
        if strategy.name != stem:
            found.append(
                problem(
                    "name",
                    doc.where(("name",)),
                    f"strategy name {strategy.name!r} differs from its file name {stem!r}",
                    hint=f"rename the file to {strategy.name}.yaml or set name: {stem}",
                )
            )
        if strategy.compare_to not in fleet.strategies:
            found.append(
                problem(
                    "strategy-coverage",
                    doc.where(("compare_to",)),
                    f"compare_to names unknown strategy {strategy.compare_to!r}",
                    hint=did_you_mean(strategy.compare_to, fleet.strategies),
                )
            )
    return found


def cheapest_fitting(catalog: Catalog, need_gb: float, count: int = 2) -> list[Gpu]:
    return [gpu for gpu in catalog.by_price() if gpu.vram_gb >= need_gb][:count]


def fit_hint(catalog: Catalog, need_gb: float) -> str:
    fits = cheapest_fitting(catalog, need_gb)
    if not fits:
        return f"no GPU in {GPUS_FILE} has {need_gb:g} GB; quantize the model or lower vram_gb"
    names = ", ".join(f"{gpu.name} {gpu.vram_gb:g} GB at {usd(gpu.usd_per_hour)}/h" for gpu in fits)
    return f"use a GPU with >= {need_gb:g} GB ({names})"


def check_model(
    fleet: Fleet,
    model: Model,
    doc: Document,
    only_strategy: str | None,
    hinted: dict[str, str] | None = None,
) -> list[Problem]:
    """hinted: unknown strategy -> file:line whose problem already shows the strategy file to
    create (five lines); every later model naming it points there instead of repeating it."""
    found: list[Problem] = []
    base = ("models", model.name)
    catalog = fleet.catalog
    need = model.vram_gb + fleet.vram_headroom_gb

    hinted = {} if hinted is None else hinted
    for strategy in model.gpu:
        if strategy not in fleet.strategies:
            where = doc.where(base + ("gpu", strategy), key=True)
            hint = missing_strategy_hint(strategy, fleet.strategies)
            if strategy in hinted and "\n" in hint:
                hint = f"create {STRATEGIES_DIR}/{strategy}.yaml (the hint at {hinted[strategy]})"
            hinted.setdefault(strategy, f"{where[0]}:{where[1]}")
            found.append(
                problem(
                    "strategy-coverage",
                    where,
                    f"{model.name} names unknown strategy {strategy!r}",
                    hint=hint,
                )
            )
    for strategy in fleet.strategies:
        if strategy not in model.gpu:
            found.append(
                problem(
                    "strategy-coverage",
                    doc.where(base + ("gpu",), key=True),
                    f"{model.name} has no GPU for strategy {strategy!r}",
                    hint=f"add {strategy}: <GPU> under gpu:",
                )
            )

    weights_gb = loaded_weights_gb(model)
    if weights_gb > model.vram_gb:
        found.append(
            problem(
                "weights-size",
                doc.where(base + ("vram_gb",)),
                f"{model.name} loads {weights_gb:g} GB of weights (after quantization) but declares vram_gb {model.vram_gb:g}",
                hint="raise vram_gb to weights + activations, or declare quantization",
            )
        )
    for component in sorted(quantized_components(model)):
        found.append(
            problem(
                "quantization",
                doc.where(base + ("quantization", component), key=True),
                f"{model.name} quantizes {component!r}, which no weights entry lists under components",
                hint="add the component and its size to the weights' components map",
            )
        )

    for strategy, choices in model.gpu.items():
        if strategy not in fleet.strategies or (only_strategy and strategy != only_strategy):
            continue
        gpu_path = base + ("gpu", strategy)
        if not choices:
            found.append(
                problem(
                    "gpu-list",
                    doc.where(gpu_path),
                    f"{model.name} has an empty GPU list for {strategy}",
                    hint="name at least one GPU",
                )
            )
            continue
        normalised: list[str] = []
        for index, name in enumerate(choices):
            where = doc.where(gpu_path + (index,))  # a scalar choice falls back to its own node
            resolved = catalog.resolve(name)
            if resolved is None:
                found.append(
                    problem(
                        "unknown-gpu",
                        where,
                        f"unknown GPU {name!r} for {model.name} (strategy {strategy})",
                        hint=did_you_mean(name, catalog.all_names()),
                    )
                )
                continue
            gpu, suffix = resolved
            if gpu.name + suffix in normalised:
                found.append(
                    problem(
                        "gpu-list",
                        where,
                        f"{gpu.name + suffix} appears twice in {model.name}'s GPU list for {strategy}",
                        hint="list each GPU once; Modal tries them in order",
                    )
                )
            normalised.append(gpu.name + suffix)
            if gpu.vram_gb < need:
                found.append(
                    problem(
                        "vram-fit",
                        where,
                        f"{model.name} needs {need:g} GB but {gpu.name} (strategy {strategy}) has {gpu.vram_gb:g} GB",
                        hint=fit_hint(catalog, need),
                    )
                )
            elif weights_gb > gpu.vram_gb:
                found.append(
                    problem(
                        "weights-size",
                        where,
                        f"{model.name}'s weights ({weights_gb:g} GB) do not fit {gpu.name} ({gpu.vram_gb:g} GB)",
                        hint=fit_hint(catalog, weights_gb),
                    )
                )
            if model.dtype == "bfloat16" and not gpu.bf16:
                found.append(
                    problem(
                        "dtype-support",
                        where,
                        f"{model.name} is bfloat16 but {gpu.name} (strategy {strategy}) has no bf16; the handler runs it in float16",
                        hint="expected on Turing GPUs; check output quality on this GPU",
                        severity=WARNING,
                        model=model.name,
                    )
                )
            fp8_parts = sorted(c for c in model.quantization if scheme_for(model, c) == "fp8")
            if fp8_parts and not gpu.fp8:
                found.append(
                    problem(
                        "dtype-support",
                        where,
                        f"{model.name} quantizes {', '.join(fp8_parts)} to fp8 but {gpu.name} (strategy {strategy}) has no fp8",
                        hint="fp8 needs Ada, Hopper or Blackwell (L4, L40S, H100, H200, B200); use int8 or nf4 elsewhere",
                    )
                )

    for index, weights in enumerate(model.weights):
        if not COMMIT_RE.match(weights.revision):
            found.append(
                problem(
                    "weights-pin",
                    doc.where(base + ("weights", index, "revision")),
                    f"{weights.repo} revision {weights.revision!r} is not a commit SHA; a branch or tag can move under you",
                    hint="pin the 40-character commit hash shown on the repository's commit history",
                    severity=WARNING,
                    model=model.name,
                )
            )
    found += check_roles(model, doc)
    return found


REQUIRED_ROLES = {
    "text-to-image": ["pipeline"],
    "lora": ["pipeline", "adapter"],
    "instantid": ["pipeline", "instantid", "face-analysis"],
    "text-to-video": ["pipeline"],
    "video-upscale": ["pipeline"],
}


def check_roles(model: Model, doc: Document) -> list[Problem]:
    found = []
    base = ("models", model.name)
    roles = [w.role for w in model.weights]
    for role in REQUIRED_ROLES[model.kind]:
        if role not in roles:
            found.append(
                problem(
                    "weights-role",
                    doc.where(base + ("weights",), key=True),
                    f"{model.name} ({model.kind}) needs a weights entry with role {role!r}",
                )
            )
    for role in set(roles) - {"adapter"}:
        if roles.count(role) > 1:
            found.append(
                problem(
                    "weights-role",
                    doc.where(base + ("weights",), key=True),
                    f"{model.name} has {roles.count(role)} weights entries with role {role!r}; one is allowed",
                )
            )
    adapters = [w.name for w in model.weights if w.role == "adapter"]
    for index, weights in enumerate(model.weights):
        if weights.role == "adapter" and not weights.name:
            found.append(
                problem(
                    "weights-role",
                    doc.where(base + ("weights", index)),
                    f"{model.name}: an adapter needs a name (selected per request by name)",
                )
            )
        if weights.role == "adapter" and model.kind != "lora":
            found.append(
                problem(
                    "weights-role",
                    doc.where(base + ("weights", index, "role")),
                    f"{model.name}: adapters are only used by kind lora",
                )
            )
    default = model.params.get("adapter")
    if model.kind == "lora" and default is not None and default not in adapters:
        found.append(
            problem(
                "params",
                doc.where(base + ("params", "adapter")),
                f"{model.name}: default adapter {default!r} is not among its adapters",
                hint=did_you_mean(str(default), adapters) if adapters else "",
            )
        )
    return found


def acknowledgements(fleet: Fleet | None, problems: list[Problem]) -> dict[Problem, str]:
    """The warnings a model acknowledges in models.yaml, each with the reason given there.

    Only warnings: an error with the same code (fp8 on a GPU without fp8 is dtype-support too)
    is never acknowledged.
    """
    if fleet is None:
        return {}
    found = {}
    for p in problems:
        model = fleet.models.get(p.model) if p.model and not p.is_error else None
        if model is not None and p.code in model.acknowledge:
            found[p] = model.acknowledge[p.code]
    return found


def validate(root: Path, only_strategy: str | None = None):
    """Load and check: returns (Loaded, all problems sorted)."""
    from .load import load_fleet
    from .problems import sort_problems

    loaded = load_fleet(root)
    problems = list(loaded.problems)
    if loaded.fleet is not None:
        problems += run_checks(loaded, only_strategy)
    return loaded, sort_problems(problems)
