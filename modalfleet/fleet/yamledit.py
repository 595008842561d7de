"""Record measured seconds per GPU in models.yaml without disturbing anything else in the file.

models.yaml is written by people: its comments, key order, quoting and flow mappings are part of
what they review. A ruamel.yaml round trip keeps them, so `bench --write` changes exactly one
node, traffic.seconds_per_request of one model, and the pull request shows a one-line diff.
The flat figure it replaces is kept under the `default` key: the cost model uses it for every
GPU that has no measurement.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from .atomic import replace_file

DEFAULT_KEY = "default"


class EditError(Exception):
    """models.yaml cannot take the edit (unreadable, model missing, unexpected shape)."""


def _yaml(mapping: int, offset: int):
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip mode: comments, order, quotes and flow styles survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the user wrote on one line
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _faithful_yaml(text: str):
    """The round-trip settings under which text dumps back byte for byte, and its data.

    ruamel.yaml applies one indentation to the whole file and its own guess misreads the usual
    `key:` / `  - item` layout, so try the common layouts and keep the one that reproduces the
    file unchanged: then the only difference after the edit is the edit.
    """
    from ruamel.yaml.error import YAMLError

    for mapping in (2, 4, 3):
        for offset in (mapping, 0, 2):
            yaml = _yaml(mapping, offset)
            try:
                data = yaml.load(text)
            except YAMLError as exc:
                raise EditError(f"models.yaml is not valid YAML: {exc}") from None
            out = io.StringIO()
            yaml.dump(data, out)
            if out.getvalue() == text:
                return yaml, data
    raise EditError("models.yaml's layout cannot be kept by a YAML round trip (mixed indentation?)")


def with_measured_seconds(text: str, model: str, seconds_by_gpu: Mapping[str, float]) -> str:
    """models.yaml text with model's seconds_per_request holding the measured seconds per GPU.

    A flat figure becomes {default: <flat>, <GPU>: <seconds>, ...}; an existing map keeps its
    keys and order, measured GPUs are updated in place and new ones appended.
    """
    from ruamel.yaml.comments import CommentedMap

    yaml, data = _faithful_yaml(text)
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping) or model not in models:
        raise EditError(f"models.yaml has no model {model!r}")
    traffic = models[model].get("traffic")
    if not isinstance(traffic, CommentedMap):
        raise EditError(f"models.yaml: {model} has no traffic mapping to record seconds in")

    current = traffic.get("seconds_per_request")
    if isinstance(current, CommentedMap):
        figures = current
    else:
        figures = CommentedMap()
        if current is not None:
            figures[DEFAULT_KEY] = current
        # A flow mapping cannot hold a block one; a block parent gets a block map like its own.
        if traffic.fa.flow_style():
            figures.fa.set_flow_style()
        else:
            figures.fa.set_block_style()
    for gpu, seconds in seconds_by_gpu.items():
        # Hundredths of a second are plenty for a cost estimate; never 0 (the schema's floor).
        figures[gpu] = max(round(float(seconds), 2), 0.01)
    traffic["seconds_per_request"] = figures

    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def write_measured_seconds(
    path: Path, model: str, seconds_by_gpu: Mapping[str, float]
) -> tuple[str, str]:
    """Edit models.yaml at path in place (atomically). Returns the text before and after."""
    path = Path(path)
    try:
        before = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc.strerror}") from None
    after = with_measured_seconds(before, model, seconds_by_gpu)
    if after != before:
        try:
            replace_file(path, lambda stream: stream.write(after.encode("utf-8")))
        except OSError as exc:  # a read-only folder or file system; the old file stays
            raise EditError(f"cannot write {path}: {exc.strerror or exc}") from None
    return before, after


# --- a new strategy from optimize --------------------------------------------------------


def with_strategy_gpus(text: str, strategy: str, gpu_by_model: Mapping[str, str]) -> str:
    """models.yaml text with `strategy: <GPU>` added to each model's gpu: map (flow or block
    style kept, the key appended last)."""
    yaml, data = _faithful_yaml(text)
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping):
        raise EditError("models.yaml has no models mapping")
    for model, gpu in gpu_by_model.items():
        choices = models.get(model, {}).get("gpu") if model in models else None
        if not isinstance(choices, dict):
            raise EditError(f"models.yaml: {model} has no gpu mapping to add {strategy} to")
        if strategy in choices:
            raise EditError(f"models.yaml: {model} already has a GPU for strategy {strategy!r}")
        choices[strategy] = gpu
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def strategy_text(name: str, comment: str, compare_to: str, containers: Mapping[str, int]) -> str:
    """A strategies/<name>.yaml, laid out as the bundled ones are."""
    lines = [
        "# yaml-language-server: $schema=../modalfleet/schema/strategy.schema.json",
        *(f"# {line}" for line in comment.splitlines()),
        "version: 1",
        f"name: {name}",
        "goal: The cheapest GPU per model that fits its VRAM, dtype and latency target.",
        f"compare_to: {compare_to}",
        "containers:",
        *(f"  {key}: {value}" for key, value in containers.items()),
    ]
    return "\n".join(lines) + "\n"


def write_new_strategy(
    root: Path,
    strategy: str,
    gpu_by_model: Mapping[str, str],
    comment: str,
    compare_to: str,
    containers: Mapping[str, int],
) -> list[str]:
    """Add strategy to models.yaml's gpu maps and write strategies/<strategy>.yaml. Both or
    neither: the strategy file is removed again if models.yaml cannot be written."""
    root = Path(root)
    models_path = root / "models.yaml"
    strategy_path = root / "strategies" / f"{strategy}.yaml"
    if strategy_path.exists():
        raise EditError(f"{strategy_path.relative_to(root)} already exists")
    try:
        before = models_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"cannot read {models_path}: {exc.strerror}") from None
    after = with_strategy_gpus(before, strategy, gpu_by_model)
    text = strategy_text(strategy, comment, compare_to, containers)
    try:
        replace_file(strategy_path, lambda stream: stream.write(text.encode("utf-8")))
    except OSError as exc:
        raise EditError(f"cannot write {strategy_path}: {exc.strerror or exc}") from None
    try:
        replace_file(models_path, lambda stream: stream.write(after.encode("utf-8")))
    except OSError as exc:
        strategy_path.unlink(missing_ok=True)
        raise EditError(f"cannot write {models_path}: {exc.strerror or exc}") from None
    return ["strategies/" + strategy_path.name, "models.yaml"]
