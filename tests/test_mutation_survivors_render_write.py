"""render.py behaviours that mutation testing found unpinned after issue 16 moved the writes
into runs: write_tree's own failure path (a staging failure, a strategy folder that cannot be
made), writing and checking one strategy, the messages of plain Python errors in a template,
a file on disk that is not UTF-8, and the layout and whitespace rules of the environment."""

from __future__ import annotations

import pytest
from conftest import copy_fleet, run_cli

from modalfleet.generate import render
from modalfleet.generate.render import layout_call, make_environment, write_tree

MODULE = "x = 1\n"


def every_file(root):
    """Every file and folder under root, hidden ones (temporary files, the lock) included."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_a_write_that_fails_while_staging_leaves_no_temporary_file_and_no_new_folder(
    tmp_path, monkeypatch
):
    generated = tmp_path / "generated"
    (generated / "old").mkdir(parents=True)
    (generated / "old" / "a.py").write_text("old = 1\n")
    before = every_file(tmp_path)
    real_open, opened = open, []

    def third_write_fails(file, mode="r", *args, **kwargs):
        if "w" in mode:
            opened.append(file)
            if len(opened) == 3:
                raise OSError(28, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(render, "open", third_write_fails, raising=False)
    files = {"new/a.py": MODULE, "new/b.py": MODULE, "new/c.py": MODULE, "old/a.py": MODULE}
    with pytest.raises(OSError) as raised:
        write_tree(tmp_path, files)
    assert (raised.value.errno, raised.value.filename) == (28, str(generated / "new" / "c.py"))
    assert len(opened) == 3  # two temporary files were written before the third failed
    assert every_file(tmp_path) == before  # they are gone, and so is the new/ folder


def test_a_strategy_folder_that_cannot_be_made_stops_the_write_before_anything_changes(tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "hybrid").write_text("a file where the folder should be\n")
    before = every_file(tmp_path)
    with pytest.raises(FileExistsError):
        write_tree(tmp_path, {"baseline/a.py": MODULE, "hybrid/a.py": MODULE})
    assert every_file(tmp_path) == before  # baseline/, made first, is removed again


def test_writing_one_strategy_leaves_the_others_files_alone(tmp_path):
    generated = tmp_path / "generated"
    for strategy in ("hybrid", "baseline"):
        (generated / strategy).mkdir(parents=True)
        (generated / strategy / "gone.py").write_text(MODULE)
    result = write_tree(tmp_path, {"hybrid/a.py": MODULE}, strategies=["hybrid"])
    assert (result.written, result.removed) == (["hybrid/a.py"], ["hybrid/gone.py"])
    assert (generated / "baseline" / "gone.py").read_text() == MODULE


def test_checking_one_strategy_ignores_another_strategys_stale_file(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    stale = root / "generated" / "baseline" / "lora.py"
    stale.write_text(stale.read_text() + "# edited\n")
    assert run_cli("render", "--check", "--strategy", "hybrid", root=root).exit_code == 0
    result = run_cli("render", "--check", "--quiet", root=root)
    assert (result.exit_code, "changed:  generated/baseline/lora.py" in result.output) == (1, True)


def test_a_plain_python_error_in_a_template_is_named_with_its_message(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.py.j2").write_text("X = {{ 1 // zero }}\n")
    template = make_environment(folder).get_template("t.py.j2")
    with pytest.raises(render.RenderError) as raised:
        render._render_one(template, {"zero": 0}, "t.py.j2")
    assert str(raised.value) == (
        f"{folder / 't.py.j2'}:1: template error: ZeroDivisionError: integer division or modulo by zero"
    )


def test_a_file_on_disk_that_is_not_utf8_is_reported_changed_with_a_readable_diff(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    broken = root / "generated" / "hybrid" / "lora.py"
    broken.write_bytes(broken.read_bytes().replace(b"import modal", b"import \xffmodal", 1))
    result = run_cli("render", "--check", root=root)
    assert result.exit_code == 1
    assert "changed:  generated/hybrid/lora.py" in result.output
    assert "-import \ufffdmodal" in result.output  # the undecodable byte, replaced


def test_a_call_exactly_as_long_as_the_line_stays_on_one_line():
    assert layout_call("f", ["a", "b"], indent=4, line_length=len("    f(a, b)")) == "f(a, b)"
    assert layout_call("f", ["a", "b"], indent=4, line_length=len("    f(a, b)") - 1) == (
        "f(\n        a,\n        b,\n    )"
    )


def test_whitespace_before_a_block_tag_is_stripped(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.py.j2").write_text("x = [\n    {% if True %}\n    1,\n    {% endif %}\n]\n")
    rendered = make_environment(folder).get_template("t.py.j2").render()
    assert rendered == "x = [\n    1,\n]\n"
