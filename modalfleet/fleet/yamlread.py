"""Read one YAML file into plain data plus the line and column of every node, safely.

PyYAML alone is not enough for a file that reaches generated code and cloud credentials: it
keeps the last of two duplicate keys silently, constructs arbitrary tags on the unsafe loaders
and expands alias bombs without bound. Here the composer builds the node graph (aliases are
shared nodes, so composing is cheap) and this module builds the data itself, counting every
node it visits so an alias bomb stops at a small bound instead of exhausting memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .problems import Problem, problem
from .statefile import read_regular

# A fleet's models.yaml takes ~1 MiB and ~83k nodes per 1000 models (the bundled six copied
# under new names, no aliases): 16 MiB holds ~15,000 models, and the node bound, ~24,000. An
# alias bomb is sized before anything is built, so it is refused at this bound in milliseconds
# whatever it would expand to; a document at the bound builds in ~2 s and ~400 MB.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000
# The schemas nest six levels at most; a deeper document is hostile and would otherwise exhaust
# Python's recursion limit in the composer or in any walk over the data.
MAX_DEPTH = 64
_COMPOSE_SAFE_DEPTH = 1000  # far below the depth at which libyaml's C composer crashes
_BRACKETS = re.compile(r"[\[\]{}]")

Path_ = tuple[Any, ...]

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # The C loader is several times faster; fall back where libyaml is missing.
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

_constructor = yaml.SafeLoader("")
# The safe constructor's own function per scalar tag, called directly: construct_object would
# also remember every node it ever built (and their marks) for the life of the process.
_SCALAR_CONSTRUCTORS = {
    tag: _constructor.yaml_constructors[tag] for tag in _SCALAR_TAGS - {_TIMESTAMP_TAG}
}


@dataclass
class Document:
    """Plain data of one file and where each node stands in it (1-based line and column)."""

    file: str
    data: Any = None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, key: bool = False) -> tuple[str, int, int]:
        """Position of the node at path (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        path = tuple(path)
        while path:
            if path in table:
                return (self.file, *table[path])
            if path in self.values:
                return (self.file, *self.values[path])
            path = path[:-1]
        return (self.file, *self.values.get((), (1, 1)))


class _Bomb(Exception):
    pass


class _Refused(Exception):
    def __init__(self, found: Problem):
        self.problem = found


def read_yaml(path: Path, display: str) -> tuple[Document, list[Problem]]:
    """Read path; return its Document and the problems that stop it being used."""
    doc = Document(file=display)
    try:
        # One byte past the bound tells parse_yaml the file is too large without reading it
        # all; a FIFO or a device (a committed link to /dev/zero) is refused, never read.
        raw = read_regular(path, MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return doc, [problem("missing-file", (display, 1, 1), f"{display} does not exist")]
    except OSError as exc:
        return doc, [
            problem("missing-file", (display, 1, 1), f"cannot read {display}: {exc.strerror}")
        ]
    size = None
    if len(raw) > MAX_FILE_BYTES:  # read only up to the bound: the whole size from the disk
        try:
            size = path.stat().st_size
        except OSError:
            pass
    return parse_yaml(raw, display, size)


def parse_yaml(raw: bytes, display: str, size: int | None = None) -> tuple[Document, list[Problem]]:
    """size: the file's size, when raw holds only its start."""
    doc = Document(file=display)
    if len(raw) > MAX_FILE_BYTES:
        return doc, [
            problem(
                "yaml-size",
                (display, 1, 1),
                f"{display} is {size or len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,}",
                hint="split the fleet or remove generated content from the file",
            )
        ]
    try:
        text = raw.decode("utf-8-sig")  # a UTF-8 byte-order mark is accepted and dropped
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return doc, [
            problem(
                "yaml-encoding",
                (display, line, column),
                f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                hint="save the file as UTF-8",
            )
        ]
    too_deep = _too_deep(text)
    if too_deep is not None:
        return doc, [
            problem(
                "yaml-syntax",
                (display, *too_deep),
                f"nested deeper than {MAX_DEPTH} levels",
                hint="no fleet file needs this depth",
            )
        ]
    try:
        root = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        return doc, [
            problem(
                "yaml-syntax",
                (display, 1, 1),
                f"{display} nests deeper than Python can read",
                hint=f"no fleet file needs more than {MAX_DEPTH} levels",
            )
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        tab = _indenting_tab(text, line)
        if tab is not None:  # PyYAML only says "found character that cannot start any token"
            return doc, [
                problem(
                    "yaml-syntax",
                    (display, line, tab),
                    "tabs are not allowed in YAML indentation",
                    hint="indent with spaces",
                )
            ]
        return doc, [_syntax_problem(exc, text, display, line, column)]
    except yaml.reader.ReaderError as exc:
        # The reader gives a character offset, not a mark: turn it into line and column.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"invalid YAML: character {exc.character:#x} is not allowed ({exc.reason})"
        return doc, [problem("yaml-syntax", (display, line, column), message)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return doc, [
            problem("yaml-syntax", (display, line, column), f"invalid YAML: {exc}".splitlines()[0])
        ]
    if root is None:
        return doc, [
            problem(
                "yaml-empty",
                (display, 1, 1),
                f"{display} is empty (or only comments)",
                hint="start from the bundled file of the same name",
            )
        ]
    counter = [0]
    try:
        # Sizing the alias graph first costs as much as its text: a bomb is refused before
        # anything is built, so it fails in milliseconds and in the memory of its own nodes.
        # Without a "&" anywhere there is no anchor, so no alias: the graph is a tree, and
        # _build's own count bounds it. Most fleets skip the sizing pass (0.09 s per 1000 models).
        expanded = _expanded_size(root) if "&" in text else 0
        if expanded is None:
            line, column = _pos(root)
            return Document(file=display), [
                problem(
                    "yaml-alias-bomb",
                    (display, line, column),
                    f"{display} has an alias that contains itself (an infinitely deep document)",
                    hint="an alias may only refer to an anchor outside its own node",
                )
            ]
        if expanded > MAX_NODES:
            raise _Bomb
        doc.data = _build(root, (), doc, counter)
    except _Bomb:
        mark = root.start_mark
        return Document(file=display), [
            problem(
                "yaml-alias-bomb",
                (display, mark.line + 1, mark.column + 1),
                f"{display} expands to more than {MAX_NODES:,} nodes through aliases",
                hint="anchors and aliases are allowed, but not ones that multiply the document",
            )
        ]
    except _Refused as refused:
        return Document(file=display), [refused.problem]
    return doc, []


def _syntax_problem(exc, text: str, display: str, line: int, column: int) -> Problem:
    """A PyYAML syntax error in our words, with a hint, for the mistakes people make by hand (a
    key without its colon, a line indented to no level, an unclosed bracket); PyYAML's own
    words for the rest. Lines and columns are 1-based."""
    lines = text.splitlines()
    context = exc.context_mark
    at = (context.line + 1, context.column + 1) if context else None

    def source(number: int) -> str:
        return lines[number - 1] if 1 <= number <= len(lines) else ""

    if exc.problem == "could not find expected ':'" and at is not None:
        # PyYAML reports where it gave up (often the next line); the colon is missing at the
        # end of the key it was scanning.
        key = source(at[0])[at[1] - 1 :].split(" #", 1)[0].rstrip()
        return problem(
            "yaml-syntax",
            (display, at[0], at[1] + len(key)),
            f"{_quoted(key)} has no ':' after it: every line of a mapping is `key: value`",
            hint=f"write `{_shown_key(key)}:`, or indent the line under the key above if it "
            "continues that key's value",
        )
    block_start = exc.context == "while parsing a block mapping" and at is not None
    if block_start and (
        exc.problem == "did not find expected key"
        or str(exc.problem).startswith("expected <block end>")
    ):
        *others, last = (str(level) for level in _levels(lines, line))
        levels = f"{', '.join(others)} or {last}" if others else last
        return problem(
            "yaml-syntax",
            (display, line, column),
            f"bad indentation: this line starts at column {column}, which lines up with no key "
            "or list item above it",
            hint=f"start it at column {levels}, as the keys above it do; spaces only",
        )
    # "here" from the Python scanner, "in this context" from libyaml's.
    if str(exc.problem).startswith("mapping values are not allowed") and not exc.context:
        text_line = source(line)
        first_colon = text_line.find(":") + 1 == column
        if first_colon:  # `key: value` indented deeper than the key above: read as its value
            return problem(
                "yaml-syntax",
                (display, line, len(text_line) - len(text_line.lstrip(" ")) + 1),
                "bad indentation: this key is indented deeper than the key above it, so it "
                "reads as part of that key's value",
                hint="indent it like the other keys of its mapping; spaces only",
            )
        return problem(
            "yaml-syntax",
            (display, line, column),
            "a second ': ' on one line: a value cannot itself be `key: value`",
            hint="quote the value if it holds ': ' (key: \"a: b\"), or put the inner key on "
            "its own line, indented",
        )
    for opener, closer, kind in (("[", "]", "flow sequence"), ("{", "}", "flow mapping")):
        if exc.context == f"while parsing a {kind}" and at is not None:
            return problem(
                "yaml-syntax",
                (display, line, column),
                f"the {opener!r} at line {at[0]}, column {at[1]} is not closed",
                hint=f"close it with {closer!r} before the value ends, and separate its items "
                "with ','",
            )
    message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    return problem("yaml-syntax", (display, line, column), f"invalid YAML: {message}")


def _levels(lines: list[str], line: int) -> list[int]:
    """The 1-based columns a line could start at, after lines[: line - 1]: the indentation of
    every mapping or list still open there (a "- key" item opens two: its dash and its key)."""
    open_: list[int] = []
    for content in lines[: line - 1]:
        stripped = content.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        column = len(content) - len(stripped) + 1
        while open_ and open_[-1] >= column:
            open_.pop()
        open_.append(column)
        if stripped.startswith("- "):
            open_.append(column + 2)
    return open_ or [1]


def _quoted(key: str) -> str:
    return repr(_shown_key(key))


def _shown_key(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."


def _indenting_tab(text: str, line: int) -> int | None:
    """1-based column of the first tab in the indentation of `line` (1-based), else None."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    content = lines[line - 1]
    indent = content[: len(content) - len(content.lstrip(" \t"))]
    return indent.index("\t") + 1 if "\t" in indent else None


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where the text nests collections deeper than MAX_DEPTH, if it does.

    libyaml's composer recurses in C: a document nested some thousands deep (50 kB of
    brackets, or a line of "- - - ...") kills the interpreter with SIGSEGV instead of raising.
    Block nesting is bounded by the longest line (indentation and indicators take columns) and
    flow nesting by the bracket depth, so ordinary files skip the exact, event-by-event count.
    """
    depth = deepest = 0
    first_too_deep: int | None = None  # offset of the first bracket past MAX_DEPTH
    for match in _BRACKETS.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH and first_too_deep is None:
            first_too_deep = match.start()
    longest = max(map(len, text.splitlines()), default=0)
    if 2 * (longest + 1) + deepest <= _COMPOSE_SAFE_DEPTH:
        return None
    loader = _Loader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:  # the root is depth 1; _build counts from 0
                    return event.start_mark.line + 1, event.start_mark.column + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        # Newer libyaml builds stop at their own nesting limit while scanning ahead, before the
        # events reach MAX_DEPTH: then the bracket count says where the document went too deep.
        if first_too_deep is not None:
            line = text.count("\n", 0, first_too_deep) + 1
            return line, first_too_deep - (text.rfind("\n", 0, first_too_deep) + 1) + 1
        return None  # composing reports the syntax error, with its position
    finally:
        loader.dispose()
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _tree_size(root: yaml.Node) -> int | None:
    """Nodes of a document in which no node is reached twice (one without aliases), counted up
    to just past MAX_NODES; None at the first node reached again (an alias, or a cycle), which
    _expanded_size then sizes exactly. One cheap pass: most fleets have no aliases at all."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen:
            return None
        seen.add(key)
        if len(seen) > MAX_NODES:
            break
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for pair in node.value:
                stack.extend(pair)
    return len(seen)


def _expanded_size(root: yaml.Node) -> int | None:
    """Nodes the document holds once aliases are expanded, or None when an alias contains itself.

    Iterative and memoised per node (an alias is the same node object as its anchor), so the
    cost is that of the composed graph, not of its expansion, and no recursion limit is hit.
    """
    plain = _tree_size(root)
    if plain is not None:
        return plain
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the current path from the root: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                return sizes[key]
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return None
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: Path_, doc: Document, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _Bomb
    if len(path) > MAX_DEPTH:
        line, column = _pos(node)
        raise _Refused(
            problem(
                "yaml-syntax",
                (doc.file, line, column),
                f"nested deeper than {MAX_DEPTH} levels",
                hint="no fleet file needs this depth",
            )
        )
    mark = node.start_mark
    doc.values[path] = (mark.line + 1, mark.column + 1)
    kind = type(node)
    if kind is yaml.ScalarNode:
        tag = node.tag
        if tag == _STR_TAG or tag == _TIMESTAMP_TAG:
            return node.value  # what the safe constructor gives; dates stay strings (JSON)
        if tag not in _SCALAR_TAGS:
            raise _Refused(_tag_problem(node, doc.file))
        return _SCALAR_CONSTRUCTORS[tag](_constructor, node)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ_TAG:
            raise _Refused(_tag_problem(node, doc.file))
        return [
            _build(item, path + (index,), doc, counter) for index, item in enumerate(node.value)
        ]
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP_TAG:
            raise _Refused(_tag_problem(node, doc.file))
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                _merge_into(merged, value_node, path, doc, counter)
                continue
            if type(key_node) is yaml.ScalarNode and key_node.tag == _STR_TAG:
                counter[0] += 1  # the common key, a plain string: what _build would give
                if counter[0] > MAX_NODES:
                    raise _Bomb
                key = key_node.value
            else:
                key = _build(key_node, path + ("<key>",), doc, counter)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                line, column = _pos(key_node)
                raise _Refused(
                    problem(
                        "yaml-syntax",
                        (doc.file, line, column),
                        "a mapping key must be a plain scalar",
                    )
                )
            if not isinstance(key, str):
                # JSON, and so every schema and check, has string keys: 4090, true or 1.5 keep
                # their source text (no crash on a GPU named 4090; 1 and true stay distinct).
                key = key_node.value
            if key in result:
                line, column = _pos(key_node)
                first = doc.keys[path + (key,)]
                raise _Refused(
                    problem(
                        "yaml-duplicate-key",
                        (doc.file, line, column),
                        f"duplicate key {key!r} (first defined at line {first[0]})",
                        hint="YAML keeps only the last of two equal keys; remove or rename one",
                    )
                )
            doc.keys[path + (key,)] = _pos(key_node)
            result[key] = _build(value_node, path + (key,), doc, counter)
        doc.values.pop(path + ("<key>",), None)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result
    raise _Refused(_tag_problem(node, doc.file))  # pragma: no cover - composer yields only these


def _merge_into(
    merged: dict, value_node: yaml.Node, path: Path_, doc: Document, counter: list[int]
) -> None:
    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in sources:
        value = _build(source, path, doc, counter)
        if not isinstance(value, dict):
            line, column = _pos(source)
            raise _Refused(
                problem("yaml-syntax", (doc.file, line, column), "'<<' merges only mappings")
            )
        for key, item in value.items():
            merged.setdefault(key, item)


def _tag_problem(node: yaml.Node, file: str) -> Problem:
    line, column = _pos(node)
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    return problem(
        "yaml-tag",
        (file, line, column),
        f"tag {tag} is not allowed",
        hint="only plain YAML (strings, numbers, booleans, null, lists, mappings) is accepted",
    )


def non_finite_numbers(doc: Document) -> list[tuple[Path_, float]]:
    """Every NaN or infinite float in the document: JSON Schema bounds do not catch NaN."""
    found: list[tuple[Path_, float]] = []

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            found.append((path, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, path + (index,))

    walk(doc.data, ())
    return found
