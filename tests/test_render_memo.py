"""Fragment memoization (generate/memo.py): reuse only what the same inputs would render again.

Each test renders with the real environment of render.py (memoizing) and compares with the
output Jinja gives for the same template and values, one environment per value (so nothing
can be reused there).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from modalfleet.generate import render as render_mod
from modalfleet.generate.memo import fragment_deps


def environment(tmp_path: Path, source: str):
    folder = tmp_path / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.py.j2").write_text(source)
    env = render_mod.make_environment(folder)
    return env, env.get_template("t.py.j2")


def memo_of(env):
    return env.filters["_mf_hit"].__self__


def plain(tmp_path: Path, source: str, context: dict) -> str:
    """The same template rendered once in a fresh environment: nothing to reuse."""
    _, template = environment(tmp_path / str(len(list(tmp_path.iterdir()))), source)
    return template.render(context)


def test_values_equal_in_python_but_printed_apart_get_their_own_output(tmp_path):
    source = "X = {{ x | py }}\nY = {{ y | py }}\n"
    env, template = environment(tmp_path, source)
    values = [1, True, 1.0, -0.0, 0.0, {"a": 1, "b": 2}, {"b": 2, "a": 1}, [1], (1,), "1"]
    outputs = [template.render(x=value, y=value) for value in values]
    assert outputs[:5] == [
        "X = 1\nY = 1\n",
        "X = True\nY = True\n",
        "X = 1.0\nY = 1.0\n",
        "X = -0.0\nY = -0.0\n",
        "X = 0.0\nY = 0.0\n",
    ]
    assert outputs[5] != outputs[6]  # dict order is part of the output
    assert outputs[7:] == [
        "X = [\n    1,\n]\nY = [\n    1,\n]\n",
        "X = (1,)\nY = (1,)\n",
        'X = "1"\nY = "1"\n',
    ]
    # and each again, now from the memo: the same text
    assert [template.render(x=value, y=value) for value in values] == outputs
    assert sum(memo_of(env).hits) == 2 * len(values)


def test_a_repeated_fragment_is_reused_and_a_changed_input_is_not(tmp_path):
    source = (
        "{% for p in ps %}\n"
        "{% set q = p ~ '!' %}\n"
        "{{ q | py }} {{ loop.index }}\n"
        "{% endfor %}\n"
        "NAME = {{ model.name | py }}\n"
    )
    env, template = environment(tmp_path, source)
    first = template.render(ps=["a", "b"], model={"name": "m1"})
    assert first == '"a!" 1\n"b!" 2\nNAME = "m1"\n'
    assert template.render(ps=["a", "b"], model={"name": "m2"}) == '"a!" 1\n"b!" 2\nNAME = "m2"\n'
    assert template.render(ps=["a", "c"], model={"name": "m2"}) == '"a!" 1\n"c!" 2\nNAME = "m2"\n'
    memo = memo_of(env)
    assert sum(memo.hits) == 2  # the loop once (same ps), the name once (same model.name)


def test_a_template_that_can_change_a_value_is_not_memoized(tmp_path):
    source = "{% set _ = xs.append('z') %}{{ xs | join(',') }}\n"
    env, template = environment(tmp_path, source)
    assert template.render(xs=["a"]) == "a,z\n"
    assert template.render(xs=["a"]) == "a,z\n"
    memo = memo_of(env)
    assert memo.enabled is False and sum(memo.hits) == 0


def test_an_undefined_value_fails_at_its_own_line_as_without_the_memo(tmp_path):
    source = "A = 1\n{% if flag %}\nB = {{ missing | py }}\n{% endif %}\n"
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.py.j2").write_text(source)
    env = render_mod.make_environment(folder)
    template = env.get_template("t.py.j2")
    assert render_mod._render_one(template, {"flag": False}, "t.py.j2") == "A = 1\n"
    with pytest.raises(render_mod.RenderError) as caught:
        render_mod._render_one(template, {"flag": True}, "t.py.j2")
    assert str(caught.value) == (
        f"{folder / 't.py.j2'}:3: template error: UndefinedError: 'missing' is undefined"
    )


@pytest.mark.parametrize(
    ("source", "deps"),
    [
        ("{{ model.params | py }}", [("model", (("attr", "params"),))]),
        ("{{ p['name'] ~ x }}", [("p", (("item", "name"),)), ("x", ())]),
        ("{{ model.quantization.values() | list }}", [("model", (("attr", "quantization"),))]),
        ("{% for p in ps %}{{ p.name }}{{ loop.last }}{% endfor %}", [("ps", ())]),
        ("{{ x[y].z }}", [("x", ()), ("y", ())]),
    ],
)
def test_what_a_fragment_reads(source, deps):
    (node,) = jinja2.Environment().parse(source).body
    fragment = node if isinstance(node, jinja2.nodes.For) else node.nodes[0]
    assert fragment_deps(fragment) == sorted(deps, key=repr)


@pytest.mark.parametrize(
    "source",
    [
        "{{ caller() }}",
        "{{ xs.append(1) }}",
        "{{ [1, 2] | random }}",
        "{{ lipsum() }}",
        "{{ loop.index }}",
        "{{ self.image() }}",
        "{% if x %}{% set y = 1 %}{% endif %}",
        "{% for x in xs recursive %}{{ loop(x) }}{% endfor %}",
        "{% if x %}{% include 'other' %}{% endif %}",
    ],
)
def test_what_cannot_be_a_fragment(source):
    (node,) = jinja2.Environment().parse(source).body
    fragment = node if not isinstance(node, jinja2.nodes.Output) else node.nodes[0]
    assert fragment_deps(fragment) is None


def test_the_memo_renders_what_plain_jinja_renders_for_each_value(tmp_path):
    source = (
        "{% set packages = pins(['torch']) + extra %}\n"
        "{% for package in packages %}\n"
        "    {{ package | py }},\n"
        "{% endfor %}\n"
        "{% if flag | default(false) %}\nFLAG\n{% endif %}\n"
    )
    env, template = environment(tmp_path, source)
    contexts = [
        {"extra": ["a"]},
        {"extra": ["a"], "flag": True},
        {"extra": ["b"]},
        {"extra": ["a"]},
        {"extra": ["a"], "flag": 1},
    ]
    for context in contexts:
        assert template.render(context) == plain(tmp_path, source, context)
    assert sum(memo_of(env).hits) > 0
