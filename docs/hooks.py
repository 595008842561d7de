"""MkDocs hook: the parts of the manual that are generated from the code, so they cannot drift.

A page asks for one with an HTML comment on a line of its own:

    <!-- generated: schema models -->     the models.yaml reference, from its JSON Schema
    <!-- generated: problem-codes -->     the table of problem codes, from modalfleet/fleet/codes.py
    <!-- generated: command cost -->      a command's usage, flags and examples, from click
    <!-- generated: speed-calibration -->  the published measurements the speed model is fitted
                                          on, each beside its estimate (data/speed_measurements.yaml)
    <!-- generated: example deploy-first -->  a real run's output against the tests' fake Modal
                                          (docs/examples.py)
    <!-- generated: cold-start constants --> the cold start's constants and their sources
    <!-- generated: cold-start fleet -->     the bundled fleet's cold starts on an L40S

tests/test_docs.py uses the same functions to check that every page's markers are filled.
"""

from __future__ import annotations

import json
import re
from importlib import resources

MARKER = re.compile(r"^<!-- generated: ([a-z-]+)(?: ([a-z-]+))? -->$", re.MULTILINE)
SCHEMAS = {
    "models": "models.schema.json",
    "strategy": "strategy.schema.json",
    "gpus": "gpus.schema.json",
}


def on_page_markdown(markdown: str, page=None, config=None, files=None) -> str:
    return fill(markdown)


def fill(markdown: str) -> str:
    return MARKER.sub(lambda m: generate(m.group(1), m.group(2)), markdown)


def generate(kind: str, argument: str | None) -> str:
    if kind == "schema" and argument in SCHEMAS:
        return schema_reference(argument)
    if kind == "problem-codes":
        from modalfleet.fleet.codes import markdown_table

        return markdown_table()
    if kind == "command" and argument:
        return command_reference(argument)
    if kind == "speed-calibration":
        return speed_calibration()
    if kind == "example" and argument:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import examples

        return examples.example(argument)
    if kind == "cold-start" and argument == "constants":
        from modalfleet.economics.coldstart import constants_table

        return constants_table()
    if kind == "cold-start" and argument == "fleet":
        return cold_start_fleet_table()
    raise ValueError(f"unknown generated section: {kind} {argument or ''}".strip())


# --- JSON Schema -> a table of keys ------------------------------------------------------------


def _load(name: str) -> dict:
    return json.loads(resources.files("modalfleet.schema").joinpath(name).read_text())


def _resolve(node: dict, schema: dict) -> tuple[dict, dict]:
    """Follow $ref (in the same schema, or another of ours: strategy.schema.json#/$defs/x)."""
    while "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        if target:
            schema = _load(target)
        node = schema
        for part in filter(None, pointer.split("/")):
            node = node[part]
    return node, schema


def _code(text) -> str:
    return "`" + str(text).replace("|", "\\|") + "`"


def _describe(node: dict, schema: dict) -> tuple[str, str]:
    """(type, allowed values) of one key, in words."""
    node, schema = _resolve(node, schema)
    if "const" in node:
        return "constant", _code(json.dumps(node["const"]))
    if "enum" in node:
        return "one of", ", ".join(_code(v) for v in node["enum"])
    if "anyOf" in node:
        parts = [_describe(option, schema) for option in node["anyOf"]]
        return " or ".join(p[0] for p in parts), "; ".join(p[1] for p in parts if p[1])
    kind = node.get("type", "any")
    limits = []
    for key, word in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
        ("minLength", "length >="),
        ("maxLength", "length <="),
        ("minItems", "items >="),
        ("maxItems", "items <="),
        ("minProperties", "keys >="),
    ):
        if key in node:
            limits.append(f"{word} {node[key]}")
    if "pattern" in node:
        limits.append(f"matches {_code(node['pattern'])}")
    if node.get("uniqueItems"):
        limits.append("no duplicates")
    if kind == "array" and "items" in node:
        item_type, item_limits = _describe(node["items"], schema)
        kind = f"list of {item_type}"
        if item_limits:
            limits.append(f"each {item_limits}")
    return kind, ", ".join(limits)


def _rows(node: dict, schema: dict, path: str, required: bool, rows: list) -> None:
    node, schema = _resolve(node, schema)
    if path:
        kind, allowed = _describe(node, schema)
        description = node.get("description", "")
        rows.append((path, kind, "yes" if required else "", allowed, description))
    needed = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        _rows(child, schema, f"{path}.{key}" if path else key, key in needed, rows)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        label = "<name>"
        _rows(extra, schema, f"{path}.{label}" if path else label, False, rows)
    items = node.get("items")
    if isinstance(items, dict):
        resolved, item_schema = _resolve(items, schema)
        if "properties" in resolved:
            needed_items = set(resolved.get("required", ()))
            for key, child in resolved["properties"].items():
                _rows(child, item_schema, f"{path}[].{key}", key in needed_items, rows)


def schema_reference(kind: str) -> str:
    schema = _load(SCHEMAS[kind])
    rows: list[tuple[str, ...]] = []
    _rows(schema, schema, "", True, rows)
    lines = [
        f"Generated from `modalfleet/schema/{SCHEMAS[kind]}` ({schema.get('title', kind)}); "
        "editors that read `# yaml-language-server: $schema=...` use the same file.",
        "",
        "| key | type | required | allowed | notes |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join([_code(r[0]), *r[1:]]) + " |" for r in rows]
    return "\n".join(lines)


# --- click -> a command's flags ----------------------------------------------------------------


def command_reference(name: str) -> str:
    import click

    from modalfleet.cli import cli

    command = cli.commands[name]
    context = click.Context(
        command, info_name=name, parent=click.Context(cli, info_name="modalfleet")
    )
    usage = " ".join(command.collect_usage_pieces(context))
    lines = [
        f"```text\nmodalfleet {name} {usage}\n```",
        "",
        (command.help or "").replace("\b\n", ""),
        "",
    ]
    lines += ["| flag | value | default | what it does |", "|---|---|---|---|"]
    for param in command.params:
        if isinstance(param, click.Argument):
            # A positional argument: its name as the usage line spells it, and what it means.
            meaning = {"directory": "The folder to write (created if missing; default: here)."}
            lines.append(
                f"| {_code(param.human_readable_name)} (`{param.name}`) | argument |  | "
                f"{meaning.get(param.name, '')} |"
            )
            continue
        if not isinstance(param, click.Option):
            continue
        flags = ", ".join(_code(flag) for flag in [*param.opts, *param.secondary_opts])
        if param.is_flag:
            value = ""
        elif isinstance(param.type, click.Choice):
            value = " \\| ".join(_code(choice) for choice in param.type.choices)
        else:
            value = param.type.name.upper()
        default = ""
        if param.show_default and param.default not in (None, False, ()):
            default = _code(param.default)
        text = (param.help or "").replace("|", "\\|")
        lines.append(f"| {flags} | {value} | {default} | {text} |")
    lines.append("| `-h`, `--help` |  |  | Show the help and exit. |")
    if command.epilog:
        examples = [
            line.strip()
            for line in command.epilog.splitlines()[1:]
            if line.strip() and line != "\b"
        ]
        lines += ["", "Examples:", "", "```console"] + [f"$ {e}" for e in examples] + ["```"]
    return "\n".join(lines)


# --- the speed model's calibration table ------------------------------------------------------


def speed_calibration() -> str:
    """Every published measurement, its estimate in-sample and leave-one-out, and the fitted
    terms: computed from the data file when the manual is built, so it cannot go stale."""
    from statistics import median

    from modalfleet.economics import speed

    def link(source: str) -> str:
        first, _, rest = source.partition(" ")
        if first.startswith("github:"):
            repo, _, path = first.removeprefix("github:").partition(" ")
            return f"[{repo}](https://github.com/{repo}) {rest}".strip().replace("|", "\\|")
        return f"[{first.split('//')[1].split('/')[0]}]({first}) {rest}".strip().replace("|", "\\|")

    def settings(row) -> str:
        p = row.params
        frames = f", {p['num_frames']} frames" if "num_frames" in p else ""
        quant = "".join(f", {c} {q}" for c, q in row.quantization.items())
        return (
            f"{p.get('width')}x{p.get('height')}{frames}, {p.get('steps')} steps, guidance "
            f"{p.get('guidance', 0):g}, {row.dtype}{quant}"
        )

    lines = [
        "| row | GPU | settings | published s | estimate s | error | leave-one-out | source |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    ins, loo = [], []
    for row in speed.measurements():
        if row in speed.uncounted():
            lines.append(
                f"| `{row.id}` | {row.gpu} | {settings(row)} | {row.seconds:g} | - | - | - | "
                f"{link(row.source)} (no shipped config yet: not counted) |"
            )
            continue
        own, out = speed.estimate_row(row), speed.leave_one_out(row)
        ins.append(own.ratio)
        loo.append(out.ratio)
        lines.append(
            f"| `{row.id}` | {row.gpu} | {settings(row)} | {row.seconds:g} | {own.seconds:.2f} | "
            f"{(own.ratio - 1) * 100:+.0f}% | {(out.ratio - 1) * 100:+.0f}% | {link(row.source)} |"
        )

    def summary(label: str, ratios: list[float]) -> str:
        errors = [abs(r - 1) for r in ratios]
        worst = max(max(r, 1 / r) for r in ratios)
        return (
            f"- {label}: median absolute error {median(errors) * 100:.1f}%, worst "
            f"{worst:.2f}x, {sum(1 for r in ratios if not 0.5 <= r <= 2)} outside 2x "
            f"({len(ratios)} rows)"
        )

    fitted = speed.calibration()
    lines += ["", summary("in-sample", ins), summary("leave-one-out", loo), ""]
    lines += [
        "| fitted term | value |",
        "|---|---:|",
        f"| c (intercept, log) | {fitted.intercept:+.3f} |",
    ]
    lines += [f"| kind `{k}` | {v:+.3f} |" for k, v in sorted(fitted.kind_effects.items())]
    lines += [
        f"| architecture `{a}` | {v:+.3f} |" for a, v in sorted(fitted.architecture_effects.items())
    ]
    lines += [
        f"| quantization `{q}` | x{v:.2f} |" for q, v in sorted(fitted.quantization_factors.items())
    ]
    return "\n".join(lines)


# --- the bundled fleet's cold starts -------------------------------------------------------------


def cold_start_fleet_table() -> str:
    """coldstart.fleet_table over the repository's own fleet, on an L40S (every model fits)."""
    from pathlib import Path

    from modalfleet.economics.coldstart import fleet_table
    from modalfleet.fleet.load import load_fleet

    loaded = load_fleet(Path(__file__).resolve().parent.parent)
    if not loaded.ok:
        raise ValueError(f"the bundled fleet does not load: {loaded.problems[0]}")
    fleet = loaded.fleet
    return fleet_table(list(fleet.models.values()), fleet.catalog, "L40S")
