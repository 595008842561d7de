"""render.py behaviours that mutation testing found unpinned (issue 18): what a removed
strategy's folder loses (only compiled .pyc files, then the folder when empty), and what a
rollback that cannot restore everything says."""

from __future__ import annotations

import pytest
from conftest import REPO

from modalfleet.fleet.load import load_fleet
from modalfleet.generate.render import (
    PACKAGED_TEMPLATES,
    Probe,
    RenderError,
    _render_one,
    _rollback,
    _template_sources_digest,
    make_environment,
    probe_tree,
    py_literal,
    render_tree,
    write_tree,
)

MODULE = "x = 1\n"


def test_a_removed_strategys_folder_loses_its_pyc_files_and_then_itself(tmp_path):
    generated = tmp_path / "generated"
    for strategy in ("kept", "gone", "notes"):
        cache = generated / strategy / "__pycache__"
        cache.mkdir(parents=True)
        (generated / strategy / "m.py").write_text(MODULE)
        (cache / "m.cpython-311.pyc").write_bytes(b"\0")
    (generated / "notes" / "__pycache__" / "README.txt").write_text("mine\n")
    (generated / "notes" / "__PYCACHE__").mkdir()  # another name: not Python's cache
    (generated / "notes" / "__PYCACHE__" / "x.pyc").write_bytes(b"\0")

    result = write_tree(tmp_path, {"kept/m.py": MODULE})

    assert (result.written, result.unchanged) == ([], ["kept/m.py"])
    assert sorted(result.removed) == ["gone/m.py", "notes/m.py"]
    assert not (generated / "gone").exists()  # nothing but compiled files was left in it
    # A file that is not a .pyc is the user's: it and the folders holding it stay.
    assert sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*")) == [
        "kept",
        "kept/__pycache__",
        "kept/__pycache__/m.cpython-311.pyc",
        "kept/m.py",
        "notes",
        "notes/__PYCACHE__",
        "notes/__PYCACHE__/x.pyc",
        "notes/__pycache__",
        "notes/__pycache__/README.txt",
    ]


def test_a_rollback_that_cannot_restore_names_each_file_it_could_not(tmp_path):
    restored = tmp_path / "s" / "restored.py"
    restored.parent.mkdir()
    restored.write_text("new\n")
    created = tmp_path / "s" / "created.py"
    created.write_text("new\n")
    lost = tmp_path / "gone-folder" / "lost.py"  # its folder vanished: cannot be rewritten
    stuck = tmp_path / "s" / ".stuck.py.1.tmp"
    stuck.mkdir()  # a folder where the temporary file was: unlink fails

    with pytest.raises(RenderError) as caught:
        _rollback(
            [restored, created, lost],
            {restored: b"old\n", created: None, lost: b"old\n"},
            {tmp_path / "s" / "stuck.py": stuck},  # a file whose rename never came
            [],
        )

    message = str(caught.value)
    prefix = "render failed and could not restore: "
    assert message.startswith(prefix + f"{lost}: [Errno 2] No such file or directory")
    assert message.count("; ") == 1 and f"; {stuck}: [Errno 21] Is a directory" in message
    # The others were restored all the same.
    assert restored.read_text() == "old\n" and not created.exists()


def test_a_rollback_that_restores_everything_is_silent(tmp_path):
    target = tmp_path / "a.py"
    target.write_text("new\n")
    temp = tmp_path / ".b.py.1.tmp"  # b.py's rename never came: its temporary file goes
    temp.write_text("new\n")
    folder = tmp_path / "made"
    folder.mkdir()
    _rollback([target], {target: b"old\n"}, {tmp_path / "b.py": temp}, [folder])
    assert target.read_text() == "old\n" and not temp.exists() and not folder.exists()


def test_probe_of_a_fleet_whose_inputs_cannot_be_read_says_nothing_is_known(tmp_path):
    root = tmp_path / ("x" * 300)  # a name too long to list: OSError ENAMETOOLONG
    assert probe_tree(root, [PACKAGED_TEMPLATES]) == Probe(None, None)


def test_a_template_pulled_in_twice_still_lets_the_others_count(tmp_path):
    # pending is a stack: after kind.py.j2, "a" is looked at twice before "b"; the second "a"
    # must be skipped, not end the walk, or an edit of b.py.j2 would leave stale files.
    (tmp_path / "kind.py.j2").write_text(
        '{% include "b.py.j2" %}\n{% include "a.py.j2" %}\n{% include "a.py.j2" %}\n'
    )
    (tmp_path / "a.py.j2").write_text("a = 1\n")
    (tmp_path / "b.py.j2").write_text("b = 1\n")
    env = make_environment(tmp_path)
    before = _template_sources_digest(env, "kind.py.j2")
    (tmp_path / "b.py.j2").write_text("b = 2\n")
    assert _template_sources_digest(make_environment(tmp_path), "kind.py.j2") != before


def test_a_missing_template_pulled_in_still_lets_the_others_count(tmp_path):
    (tmp_path / "kind.py.j2").write_text(
        '{% include "b.py.j2" %}\n{% include "gone.py.j2" ignore missing %}\n'
    )
    (tmp_path / "b.py.j2").write_text("b = 1\n")
    before = _template_sources_digest(make_environment(tmp_path), "kind.py.j2")
    (tmp_path / "b.py.j2").write_text("b = 2\n")
    assert _template_sources_digest(make_environment(tmp_path), "kind.py.j2") != before
    (tmp_path / "gone.py.j2").write_text("")  # the missing one appearing changes it too
    assert _template_sources_digest(make_environment(tmp_path), "kind.py.j2") != before


def test_render_tree_of_one_strategy_renders_only_its_files():
    fleet = load_fleet(REPO).fleet
    tree = render_tree(fleet, [PACKAGED_TEMPLATES], ["hybrid"])
    assert sorted(tree) == sorted(f"hybrid/{m.module_name}.py" for m in fleet.models.values())
    assert len(tree) == 6


def test_containers_inside_tuples_are_indented_from_the_tuple():
    # ruff's layout: items one level (4 spaces) in from the bracket that holds them.
    assert py_literal(([1],), indent=4) == "([\n        1,\n    ],)"
    assert py_literal(([1], 2)) == "(\n    [\n        1,\n    ],\n    2,\n)"


def test_a_syntax_error_in_an_included_template_names_that_file_and_line(tmp_path):
    (tmp_path / "kind.py.j2").write_text('x = 1\n{% include "part.py.j2" %}\n')
    (tmp_path / "part.py.j2").write_text("y = 1\n\n{% if %}\n")
    template = make_environment(tmp_path).get_template("kind.py.j2")
    with pytest.raises(RenderError) as caught:
        _render_one(template, {}, "kind.py.j2")
    assert str(caught.value) == (
        f"{tmp_path / 'part.py.j2'}:3: template error: Expected an expression, got 'end of "
        "statement block'"
    )
