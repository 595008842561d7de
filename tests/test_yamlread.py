"""yamlread's defences at their exact limits, each alone, and the positions its errors carry.
The two alias-bomb defences and the two nesting guards each stop
what the other stops too, so each is called directly here: through parse_yaml a weakened one
would go unnoticed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from modalfleet.fleet import yamlread
from modalfleet.fleet.yamlread import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    Document,
    _Bomb,
    _build,
    _expanded_size,
    _too_deep,
    parse_yaml,
    read_yaml,
)

# A line this long makes _too_deep count events instead of trusting the bracket estimate.
LONG_COMMENT = " # " + "x" * 600


def problems_of(raw: bytes) -> list[tuple]:
    doc, problems = parse_yaml(raw, "m.yaml")
    return [(p.code, p.line, p.column, p.message, p.hint) for p in problems]


def compose(text: str) -> yaml.Node:
    return yaml.compose(text, Loader=yamlread._Loader)


def flow_nest(levels: int) -> str:
    return "[" * levels + "]" * levels


def aliased_list(anchor_items: int, aliases: int, scalars: int) -> str:
    """A list holding one anchored list of anchor_items zeros, that list aliased `aliases`
    times, then `scalars` zeros: 1 + (1 + aliases) * (anchor_items + 1) + scalars nodes."""
    lines = ["- &a [" + ", ".join(["0"] * anchor_items) + "]"]
    lines += ["- *a"] * aliases + ["- 0"] * scalars
    return "\n".join(lines) + "\n"


# --- mapping keys and duplicates -----------------------------------------------------------


def test_a_collection_as_mapping_key_is_refused_at_the_key():
    for raw, line in ((b"? [a, b]\n: 1\n", 1), (b"x: 1\n? {a: 1}\n: 2\n", 2)):
        assert problems_of(raw) == [
            ("yaml-syntax", line, 3, "a mapping key must be a plain scalar", "")
        ]


def test_scalar_keys_keep_their_source_text():
    doc, problems = parse_yaml(b"4090: 1\ntrue: 2\n1.5: 3\nname: 4\n", "m.yaml")
    assert problems == []
    assert doc.data == {"4090": 1, "true": 2, "1.5": 3, "name": 4}
    assert doc.keys[("1.5",)] == (3, 1) and doc.values[("name",)] == (4, 7)


def test_a_duplicate_key_names_both_lines():
    assert problems_of(b"a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n") == [
        (
            "yaml-duplicate-key",
            5,
            3,
            "duplicate key 'c' (first defined at line 3)",
            "YAML keeps only the last of two equal keys; remove or rename one",
        )
    ]


# --- error positions ---------------------------------------------------------------------


def test_an_invalid_utf8_byte_is_placed_at_its_line_and_column():
    assert problems_of(b"a: 1\nbb: \xff\n") == [
        ("yaml-encoding", 2, 5, "byte 0xff is not valid UTF-8", "save the file as UTF-8")
    ]


def test_a_control_character_is_placed_at_its_line_and_column():
    assert problems_of(b"a: 1\nb: x\x07y\n") == [
        (
            "yaml-syntax",
            2,
            5,
            "invalid YAML: character 0x7 is not allowed (control characters are not allowed)",
            "",
        )
    ]


def test_a_syntax_error_is_placed_at_its_mark():
    assert problems_of(b"a: 1\nb: [1, 2\n") == [
        (
            "yaml-syntax",
            3,
            1,
            "the '[' at line 2, column 4 is not closed",
            "close it with ']' before the value ends, and separate its items with ','",
        )
    ]


def test_a_tag_is_refused_at_its_node():
    hint = "only plain YAML (strings, numbers, booleans, null, lists, mappings) is accepted"
    assert problems_of(b"a: 1\nb: !!python/object:os.system 1\n") == [
        ("yaml-tag", 2, 4, "tag !!python/object:os.system is not allowed", hint)
    ]
    assert problems_of(b"a: !!set {x: null}\n") == [
        ("yaml-tag", 1, 4, "tag !!set is not allowed", hint)
    ]


def test_a_merge_of_a_scalar_is_refused_at_the_scalar():
    assert problems_of(b"base: {a: 1}\nm:\n  <<: [*b, 3]\n".replace(b"*b", b"{x: 1}")) == [
        ("yaml-syntax", 3, 16, "'<<' merges only mappings", "")
    ]


# --- file size ----------------------------------------------------------------------------


def test_the_size_limit_is_sixteen_mib_exactly():
    assert MAX_FILE_BYTES == 16 * 1024 * 1024
    head = b"a: 1\n"
    at_limit = head + b"#" * (MAX_FILE_BYTES - len(head))
    doc, problems = parse_yaml(at_limit, "m.yaml")
    assert (problems, doc.data) == ([], {"a": 1})
    assert problems_of(at_limit + b"#") == [
        (
            "yaml-size",
            1,
            1,
            "m.yaml is 16,777,217 bytes; the limit is 16,777,216",
            "split the fleet or remove generated content from the file",
        )
    ]


# --- nesting ------------------------------------------------------------------------------


def test_nesting_of_max_depth_levels_below_the_root_is_read():
    doc, problems = parse_yaml(flow_nest(MAX_DEPTH + 1).encode(), "m.yaml")
    assert problems == []
    innermost = doc.data
    for _ in range(MAX_DEPTH):
        innermost = innermost[0]
    assert innermost == []


def test_one_level_deeper_is_refused_where_it_starts():
    for text, where in (
        (flow_nest(MAX_DEPTH + 2), (1, 66)),
        ("a:\n  - " + flow_nest(MAX_DEPTH), (2, 68)),
    ):
        assert problems_of(text.encode()) == [
            (
                "yaml-syntax",
                *where,
                "nested deeper than 64 levels",
                "no fleet file needs this depth",
            )
        ]


def test_the_build_depth_guard_alone():
    doc = Document(file="m.yaml")
    deepest = compose("x: 1\ny: " + flow_nest(MAX_DEPTH + 1))  # 65 levels below the root
    try:
        _build(deepest, (), doc, [0])
    except yamlread._Refused as refused:
        found = refused.problem
    else:
        raise AssertionError("not refused")
    assert (found.code, found.line, found.column, found.message) == (
        "yaml-syntax",
        2,
        4 + MAX_DEPTH,
        "nested deeper than 64 levels",
    )
    assert _build(compose("y: " + flow_nest(MAX_DEPTH)), (), Document("m.yaml"), [0])


def test_the_event_count_guard_alone():
    # Short documents are left to _build (the bracket estimate says they are safe).
    assert _too_deep(flow_nest(MAX_DEPTH + 2)) is None
    assert _too_deep(flow_nest(MAX_DEPTH + 1) + LONG_COMMENT) is None
    assert _too_deep(flow_nest(MAX_DEPTH + 2) + LONG_COMMENT) == (1, MAX_DEPTH + 2)
    assert _too_deep("a: 1\nb:\n  - " + flow_nest(MAX_DEPTH) + LONG_COMMENT) == (3, 4 + MAX_DEPTH)
    # Siblings do not add up: closing a collection lowers the depth again.
    siblings = "[" + ", ".join([flow_nest(MAX_DEPTH - 1)] * 3) + "]"
    assert _too_deep(siblings + LONG_COMMENT) is None
    assert _too_deep("- " + flow_nest(40) + "\n- " + flow_nest(40) + LONG_COMMENT) is None


def test_the_bracket_count_places_a_document_that_fails_to_parse_before_its_depth():
    # The event count stops at the syntax error on line 1; the bracket count still knows where
    # line 2 goes too deep.
    text = "a: b: c\n" + "x" * 5 + flow_nest(MAX_DEPTH + 2) + LONG_COMMENT
    assert _too_deep(text) == (2, 5 + MAX_DEPTH + 1)
    # A stray closing bracket does not make the depth negative.
    stray = "a: b: c\n" + "]]]" + "[" * (MAX_DEPTH + 1) + LONG_COMMENT
    assert _too_deep(stray) == (2, 3 + MAX_DEPTH + 1)
    assert _too_deep("a: b: c\n" + flow_nest(MAX_DEPTH) + LONG_COMMENT) is None


# --- alias bombs and the node count -----------------------------------------------------------


def test_the_expanded_size_counts_every_node_of_the_expansion():
    assert _expanded_size(compose("a")) == 1
    assert _expanded_size(compose("{a: 1, b: [1, 2]}")) == 7  # map, 2 keys, 1, list, 2 items
    assert _expanded_size(compose("- &x [1, 2]\n- *x\n- *x\n")) == 1 + 3 * 3
    assert _expanded_size(compose("- &a [*a]\n")) is None  # an alias inside its own anchor


def test_the_expanded_size_alone_stops_a_bomb():
    bomb = compose(
        "a: &a [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
            for p, c in zip("abcdef", "bcdefg", strict=True)
        )
    )
    # g holds 10^6 copies of a's list: past the bound as soon as g is sized, before the root.
    assert _expanded_size(bomb) == 1 + 10 * (
        1 + 10 * (1 + 10 * (1 + 10 * (1 + 10 * (1 + 10 * 11))))
    )


def test_the_build_count_alone_stops_a_bomb(monkeypatch):
    monkeypatch.setattr(yamlread, "MAX_NODES", 30)
    counter = [0]
    try:
        _build(
            compose("- &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "- *x\n" * 2), (), Document("m"), counter
        )
    except _Bomb:
        pass
    else:
        raise AssertionError("not stopped")
    assert counter == [31]  # stopped at the first node past the bound, not later
    built = _build(
        compose("- &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "- *x\n" * 1), (), Document("m"), [0]
    )
    assert built == [list(range(1, 10))] * 2


def test_the_node_bound_is_exact(monkeypatch):
    # 1 + 3 * 10 nodes: the root list, three copies of a 9-item list.
    document = aliased_list(9, 2, 0)
    assert _expanded_size(compose(document)) == 31
    monkeypatch.setattr(yamlread, "MAX_NODES", 31)
    doc, problems = parse_yaml(document.encode(), "m.yaml")
    assert problems == [] and doc.data == [[0] * 9] * 3
    monkeypatch.setattr(yamlread, "MAX_NODES", 30)
    assert problems_of(document.encode()) == [
        (
            "yaml-alias-bomb",
            1,
            1,
            "m.yaml expands to more than 30 nodes through aliases",
            "anchors and aliases are allowed, but not ones that multiply the document",
        )
    ]


def test_a_node_at_the_bound_below_a_larger_root_reports_the_roots_size(monkeypatch):
    monkeypatch.setattr(yamlread, "MAX_NODES", 10)
    # The anchored list has exactly 10 nodes (not past the bound); the root, 13, is. The alias
    # of the scalar sends the document to the exact sizing (without one, a plain count runs).
    assert _expanded_size(compose("- &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\n- &y 0\n- *y\n")) == 13


def test_the_real_node_bound():
    assert MAX_NODES == 2_000_000
    at_bound = aliased_list(999, 1998, 999)
    assert _expanded_size(compose(at_bound)) == MAX_NODES
    assert problems_of((at_bound + "- 0\n").encode()) == [
        (
            "yaml-alias-bomb",
            1,
            1,
            "m.yaml expands to more than 2,000,000 nodes through aliases",
            "anchors and aliases are allowed, but not ones that multiply the document",
        )
    ]


def test_merge_keys_fill_in_only_what_the_mapping_lacks():
    text = "x: &x {a: 1, b: 2}\ny: &y {b: 20, c: 30}\nm:\n  <<: [*x, *y]\n  a: 100\nn:\n  <<: *y\n"
    doc, problems = parse_yaml(text.encode(), "m.yaml")
    assert problems == []
    # Explicit keys win, then the first merged mapping, then the next.
    assert doc.data["m"] == {"a": 100, "b": 2, "c": 30}
    assert list(doc.data["m"]) == ["a", "b", "c"]
    assert doc.data["n"] == {"b": 20, "c": 30}
    assert doc.keys[("m", "a")] == (5, 3)


def test_where_falls_back_to_the_nearest_parent_then_the_root():
    doc, _ = parse_yaml(b"a:\n  b: 1\n", "m.yaml")
    assert doc.where(("a", "b")) == ("m.yaml", 2, 6)
    assert doc.where(("a", "b"), key=True) == ("m.yaml", 2, 3)
    assert doc.where(("a", "zz", 3)) == ("m.yaml", 2, 3)  # a's value starts at b
    assert doc.where(("zz",)) == ("m.yaml", 1, 1)
    assert Document(file="empty.yaml").where(("a",)) == ("empty.yaml", 1, 1)
    assert Document(file="f", values={(): (3, 4)}).where(("x",)) == ("f", 3, 4)


def test_closing_a_collection_lowers_the_depth_by_one():
    # Event count: the root and a child stay open while the first nest closes, so the second
    # nest goes one level past the limit at its 64th bracket.
    head = "[[" + flow_nest(MAX_DEPTH - 2) + ", "
    assert _too_deep(head + flow_nest(MAX_DEPTH) + "]]" + LONG_COMMENT) == (1, len(head) + 64)
    # Bracket count (after a syntax error): 40 open, 20 closed, then 45 more reach 65.
    text = "a: b: c\n" + "[" * 40 + "]" * 20 + "[" * 45 + LONG_COMMENT + "\nz: 1\n"
    assert _too_deep(text) == (2, 40 + 20 + 45)


def test_unreadable_files_and_self_containing_aliases():
    folder = Path(tempfile.mkdtemp())
    doc, problems = read_yaml(folder, "models.yaml")  # a folder: opened, never read
    assert [(p.code, p.file, p.line, p.column, p.message) for p in problems] == [
        (
            "missing-file",
            "models.yaml",
            1,
            1,
            "cannot read models.yaml: it is a folder, not a regular file",
        )
    ]
    missing = read_yaml(folder / "nope.yaml", "nope.yaml")[1]
    assert [(p.code, p.line, p.column, p.message) for p in missing] == [
        ("missing-file", 1, 1, "nope.yaml does not exist")
    ]
    assert problems_of(b"a: 1\nb: &a [1, *a]\n") == [
        (
            "yaml-alias-bomb",
            1,
            1,
            "m.yaml has an alias that contains itself (an infinitely deep document)",
            "an alias may only refer to an anchor outside its own node",
        )
    ]
