"""yamlread's walks over a composed document: the alias-bomb sizing's fast pass (a document
without aliases is counted in one cheap walk, one with an alias or a cycle is handed to the
exact, memoised sizing), and scalars built without the constructor keeping every node."""

from __future__ import annotations

import yaml

from modalfleet.fleet import yamlread
from modalfleet.fleet.yamlread import _expanded_size, _tree_size


def compose(text: str) -> yaml.Node:
    return yaml.compose(text, Loader=yaml.SafeLoader)


def test_a_document_without_aliases_is_counted_in_one_pass():
    root = compose("a: [1, 2, {b: 3}]\nc: x\n")
    # root map, a, the list, 1, 2, the inner map, b, 3, c, x
    assert _tree_size(root) == _expanded_size(root) == 10


def test_an_alias_sends_the_document_to_the_exact_sizing():
    root = compose("a: &x [1, 2, 3]\nb: *x\nc: *x\n")
    assert _tree_size(root) is None
    # root, three keys, and the 4-node list counted once per use: 1 + 3 + 3 x 4
    assert _expanded_size(root) == 16


def test_a_cycle_is_still_refused_as_infinite():
    root = compose("a: &x [1, *x]\n")
    assert _tree_size(root) is None
    assert _expanded_size(root) is None


def test_the_plain_count_stops_just_past_the_bound(monkeypatch):
    monkeypatch.setattr(yamlread, "MAX_NODES", 5)
    root = compose("[" + ", ".join(["0"] * 50) + "]")
    assert _tree_size(root) == 6  # not 51: it stops at the first node past the bound
    doc, problems = yamlread.parse_yaml(b"[" + b", ".join([b"0"] * 50) + b"]", "m.yaml")
    assert [p.code for p in problems] == ["yaml-alias-bomb"]


def test_building_scalars_keeps_no_node_alive():
    """PyYAML's construct_object remembers each node it built for the constructor's lifetime;
    yamlread's one module-level constructor would hold every scalar of every file read."""
    doc, problems = yamlread.parse_yaml(b"a: [1, 2.5, true, null, x, '7']\n", "m.yaml")
    assert problems == [] and doc.data == {"a": [1, 2.5, True, None, "x", "7"]}
    assert yamlread._constructor.constructed_objects == {}
