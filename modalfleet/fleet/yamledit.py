"""Record measured seconds per GPU in models.yaml without disturbing anything else in the file.

models.yaml is written by people: its comments, key order, quoting and flow mappings are part of
what they review. A ruamel.yaml round trip keeps them, so `bench --write` changes exactly two
nodes of one model, traffic.seconds_per_request and cold_start_s, and the pull request shows a
one- or two-line diff. A flat figure it replaces is kept under the `default` key: the cost model
uses it for every GPU that has no measurement.
"""

from __future__ import annotations

import io
import re
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


def _faithful_yaml(text: str, name: str = "models.yaml"):
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
                raise EditError(f"{name} is not valid YAML: {exc}") from None
            out = io.StringIO()
            yaml.dump(data, out)
            if out.getvalue() == text:
                return yaml, data
    raise EditError(f"{name}'s layout cannot be kept by a YAML round trip (mixed indentation?)")


def with_measured_seconds(
    text: str,
    model: str,
    seconds_by_gpu: Mapping[str, float],
    cold_start_by_gpu: Mapping[str, float] | None = None,
    notes: Mapping[str, str] | None = None,
) -> str:
    """models.yaml text with model's seconds_per_request holding the measured seconds per GPU,
    and its cold_start_s the measured cold starts (when given).

    A flat figure becomes {default: <flat>, <GPU>: <seconds>, ...}; an existing map keeps its
    keys and order, measured GPUs are updated in place and new ones appended. A model without
    cold_start_s gets `cold_start_s: {<GPU>: <seconds>}` on the line after its traffic.
    notes: a comment to put at the end of the line of "seconds_per_request" and "cold_start_s"
    (where the figures came from); a comment the line had is kept before it, an earlier note
    (one starting with NOTE_MARK) replaced.
    """
    from ruamel.yaml.comments import CommentedMap

    yaml, data = _faithful_yaml(text)
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping) or model not in models:
        raise EditError(f"models.yaml has no model {model!r}")
    entry = models[model]
    traffic = entry.get("traffic") if isinstance(entry, CommentedMap) else None
    if not isinstance(traffic, CommentedMap):
        raise EditError(f"models.yaml: {model} has no traffic mapping to record seconds in")

    if seconds_by_gpu:
        traffic["seconds_per_request"] = _measured_map(
            traffic.get("seconds_per_request"),
            seconds_by_gpu,
            flow=traffic.fa.flow_style(),
            floor=0.01,
        )
    if cold_start_by_gpu:
        current = entry.get("cold_start_s")
        # A new key goes on one line after traffic: a one-line addition in the pull request.
        figures = _measured_map(current, cold_start_by_gpu, flow=True, floor=0.0)
        if "cold_start_s" in entry:
            entry["cold_start_s"] = figures
        else:
            entry.insert(list(entry).index("traffic") + 1, "cold_start_s", figures)
    notes = notes or {}
    if seconds_by_gpu and "seconds_per_request" in notes:
        # In a one-line (flow) traffic mapping the line is traffic's own.
        if traffic.fa.flow_style():
            _note(entry, "traffic", notes["seconds_per_request"])
        else:
            _note(traffic, "seconds_per_request", notes["seconds_per_request"])
    if cold_start_by_gpu and "cold_start_s" in notes:
        _note(entry, "cold_start_s", notes["cold_start_s"])

    out = io.StringIO()
    yaml.dump(data, out)
    # ruamel puts a new key's comment one space after it; two, as the rest of the file (and
    # yamllint's default) has them.
    return re.sub(rf"(\S) # (.*{NOTE_MARK})", r"\1  # \2", out.getvalue())


NOTE_MARK = "measured by observe"


def _note(parent, key: str, note: str) -> None:
    """Put `note` at the end of key's line in parent, after any comment of the user's there."""
    item = parent.ca.items.get(key)
    token = item[2] if item and len(item) > 2 else None
    kept = token.value.strip().lstrip("#").strip() if token is not None else ""
    kept = kept.split(NOTE_MARK)[0].rstrip(" ;")
    parent.yaml_add_eol_comment("# " + (f"{kept}; {note}" if kept else note), key)


def _measured_map(current, figures_by_gpu: Mapping[str, float], flow: bool, floor: float):
    """current (None, a flat figure or a map) as a map holding figures_by_gpu; a flat figure is
    kept under `default`. Hundredths of a second are plenty for a cost estimate; never below
    floor (the schema's)."""
    from ruamel.yaml.comments import CommentedMap

    if isinstance(current, CommentedMap):
        figures = current
    else:
        figures = CommentedMap()
        if current is not None:
            figures[DEFAULT_KEY] = current
        # A flow mapping cannot hold a block one; a block parent gets a block map like its own.
        if flow:
            figures.fa.set_flow_style()
        else:
            figures.fa.set_block_style()
    for gpu, seconds in figures_by_gpu.items():
        figures[gpu] = max(round(float(seconds), 2), floor)
    return figures


def _dump(yaml, data) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def with_strategy_gpus(text: str, strategy: str, gpus: Mapping[str, str]) -> str:
    """models.yaml text with each named model's GPU under strategy set (a new key appended to
    the model's gpu: map, an existing one replaced in place)."""
    yaml, data = _faithful_yaml(text)
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping):
        raise EditError("models.yaml has no models mapping")
    for model, gpu in gpus.items():
        entry = models.get(model)
        choices = entry.get("gpu") if isinstance(entry, Mapping) else None
        if not isinstance(choices, Mapping):
            raise EditError(f"models.yaml: {model} has no gpu mapping to set {strategy} in")
        if choices.get(strategy) != gpu:
            choices[strategy] = gpu
    return _dump(yaml, data)


def with_model_containers(text: str, name: str, overrides: Mapping[str, Mapping[str, int]]) -> str:
    """A strategy file's text with `models: {<model>: {<setting>: <value>}}` holding overrides
    (a block mapping after the strategy's containers when the file has none)."""
    from ruamel.yaml.comments import CommentedMap

    yaml, data = _faithful_yaml(text, name)
    if not isinstance(data, CommentedMap):
        raise EditError(f"{name} is not a mapping")
    models = data.get("models")
    if models is None:
        models = CommentedMap()
        data["models"] = models
    if not isinstance(models, CommentedMap):
        raise EditError(f"{name}: models is not a mapping")
    for model, settings in overrides.items():
        entry = models.get(model)
        if entry is None:
            entry = CommentedMap()
            entry.fa.set_flow_style()  # one line per model: a one-line diff per choice
            models[model] = entry
        for key, value in settings.items():
            entry[key] = value
    return _dump(yaml, data)


def replace_files(changes: Mapping[Path, tuple[str | None, str]]) -> None:
    """Write each path's new text; if one write fails, put back what was written before it
    (a file that did not exist is removed), so a multi-file edit lands whole or not at all."""
    done: list[tuple[Path, str | None]] = []
    try:
        for path, (before, after) in changes.items():
            if before == after:
                continue
            replace_file(path, lambda stream, text=after: stream.write(text.encode("utf-8")))
            done.append((path, before))
    except OSError as exc:
        for path, before in reversed(done):
            if before is None:
                path.unlink(missing_ok=True)
            else:
                replace_file(path, lambda stream, text=before: stream.write(text.encode("utf-8")))
        raise EditError(
            f"cannot write {path}: {exc.strerror or exc}; nothing was changed"
        ) from None


def write_measured_seconds(
    path: Path,
    model: str,
    seconds_by_gpu: Mapping[str, float],
    cold_start_by_gpu: Mapping[str, float] | None = None,
    notes: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Edit models.yaml at path in place (atomically). Returns the text before and after."""
    path = Path(path)
    try:
        before = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc.strerror}") from None
    after = with_measured_seconds(before, model, seconds_by_gpu, cold_start_by_gpu, notes)
    if after != before:
        try:
            replace_file(path, lambda stream: stream.write(after.encode("utf-8")))
        except OSError as exc:  # a read-only folder or file system; the old file stays
            raise EditError(f"cannot write {path}: {exc.strerror or exc}") from None
    return before, after
