"""The render cache (<root>/.modalfleet-cache/render.json): verified, never trusted.

A cache only ever saves work: whatever state it is in (absent, corrupt, foreign, lying about one
file), `render --check` reports exactly what it reports without one, and `render` writes
exactly the same tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, copy_fleet, run_cli

import modalfleet
from modalfleet.generate import cache as cache_mod
from modalfleet.generate import render as render_mod
from modalfleet.generate.cache import CACHE_DIR, CACHE_FILE, RenderCache

CLI = str(REPO / "cli.py")
STRATEGIES = ["baseline", "cost-optimized", "hybrid", "performance-optimized"]
LORA_FILES = [f"{strategy}/lora.py" for strategy in STRATEGIES]


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The bundled fleet rendered from an empty generated/, so its cache is complete."""
    root = copy_fleet(tmp_path / "fleet", with_generated=False)
    result = run_cli("render", root=root)
    assert result.output.strip() == "written 24, unchanged 0, removed 0", result.text
    return root


def own_template(root: Path, name: str) -> Path:
    """The fleet's own copy of a packaged template (templates/ overrides the packaged one)."""
    folder = root / "templates"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text((render_mod.PACKAGED_TEMPLATES / name).read_text())
    return folder / name


def cache_path(root: Path) -> Path:
    return root / CACHE_DIR / CACHE_FILE


def cache_json(root: Path) -> dict:
    seal, body = cache_path(root).read_bytes().split(b"\n", 1)
    assert seal.decode() == cache_mod.sha256(body)
    return json.loads(body)


def write_cache(root: Path, data: dict) -> None:
    """A cache whose seal matches its (altered) body: only the entries can be wrong."""
    body = json.dumps(data).encode("utf-8")
    cache_path(root).write_bytes(cache_mod.sha256(body).encode() + b"\n" + body)


def edit_generated(root: Path, relative: str = "hybrid/flux_schnell.py") -> Path:
    target = root / "generated" / relative
    # the first GPU of hybrid flux-schnell's fallback list, which lora's module has too
    target.write_text(
        target.read_text().replace('    gpu=[\n        "T4",', '    gpu=[\n        "T5",')
    )
    return target


def run_fresh_process(root: Path, *args: str) -> tuple[int, str, set[str]]:
    """The CLI in its own process: exit code, stdout, and which of yaml/jinja2 it imported."""
    code = (
        "import sys\n"
        "from modalfleet.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print('imported:', *sorted(m for m in ('yaml', 'jinja2') if m in sys.modules))\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args, "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    *lines, imported = result.stdout.splitlines()
    return result.returncode, "\n".join(lines), set(imported.split()[1:])


# ---------------------------------------------------------------------------------------------
# What the cache holds and where


def test_render_records_every_file_with_its_size_and_hash_outside_generated(rendered):
    data = cache_json(rendered)
    assert data["format"] == 1 and data["inputs"] and data["code"]
    assert sorted(data["files"]) == sorted(
        f"{s}/{m}"
        for s in STRATEGIES
        for m in (
            "flux_dev.py",
            "flux_schnell.py",
            "instantid.py",
            "lora.py",
            "seedvr2.py",
            "wan2_1.py",
        )
    )
    body = (rendered / "generated/hybrid/lora.py").read_bytes()
    entry = data["files"]["hybrid/lora.py"]
    assert entry["size"] == len(body)
    assert entry["sha256"] == cache_mod.sha256(body)
    # generated/ holds only the rendered tree; the cache folder keeps itself out of git
    assert sorted(p.name for p in (rendered / "generated").iterdir()) == STRATEGIES
    assert (rendered / CACHE_DIR / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_current_tree_is_confirmed_without_loading_yaml_or_jinja(rendered):
    status, out, imported = run_fresh_process(rendered, "render", "--check")
    assert (status, out, imported) == (0, "generated/ is current", set())
    status, out, imported = run_fresh_process(rendered, "render")
    assert (status, out, imported) == (0, "written 0, unchanged 24, removed 0", set())
    status, out, imported = run_fresh_process(rendered, "render", "--strategy", "hybrid")
    assert (status, out, imported) == (0, "written 0, unchanged 6, removed 0", set())


def test_without_a_cache_the_full_path_runs_and_gives_the_same_answer(rendered):
    cache_path(rendered).unlink()
    status, out, imported = run_fresh_process(rendered, "render", "--check")
    assert (status, out, imported) == (0, "generated/ is current", {"yaml", "jinja2"})


# ---------------------------------------------------------------------------------------------
# Never believed


def test_a_hand_edited_file_with_a_current_cache_is_reported(rendered):
    edit_generated(rendered)
    result = run_cli("render", "--check", root=rendered)
    assert result.exit_code == 1
    assert "  changed:  generated/hybrid/flux_schnell.py" in result.output
    assert '-        "T5",\n+        "T4",' in result.output
    fixed = run_cli("render", root=rendered)
    assert fixed.output.strip() == "written 1, unchanged 23, removed 0"
    assert run_cli("render", "--check", root=rendered).exit_code == 0


def test_a_same_size_edit_is_caught_by_the_hash(rendered):
    target = rendered / "generated/hybrid/lora.py"
    body = target.read_bytes()
    target.write_bytes(body.replace(b"import modal", b"import modaL", 1))
    assert target.stat().st_size == len(body)
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  changed:  generated/hybrid/lora.py"]


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"\xff\xfe\x00", b"[]", b'{"format": 1}', b"null", "half"],
    ids=["empty", "not-json", "binary", "list", "no-fields", "null", "truncated"],
)
def test_a_corrupted_cache_is_ignored(rendered, garbage):
    if garbage == "half":  # a write cut short: a valid seal line over half a body
        garbage = cache_path(rendered).read_bytes()
        garbage = garbage[: len(garbage) // 2]
    cache_path(rendered).write_bytes(garbage)
    assert RenderCache.load(rendered) == RenderCache()
    edit_generated(rendered)
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.exit_code == 1, result.text
    assert "Traceback" not in result.text
    assert result.output.splitlines()[1:] == ["  changed:  generated/hybrid/flux_schnell.py"]
    fixed = run_cli("render", root=rendered)
    assert fixed.output.strip() == "written 1, unchanged 23, removed 0"
    assert cache_json(rendered)["files"]["hybrid/flux_schnell.py"]["sha256"] == cache_mod.sha256(
        (rendered / "generated/hybrid/flux_schnell.py").read_bytes()
    )


def test_a_cache_with_values_of_the_wrong_type_is_ignored(rendered):
    data = cache_json(rendered)
    data["files"]["hybrid/lora.py"]["size"] = str(data["files"]["hybrid/lora.py"]["size"])
    write_cache(rendered, data)
    assert RenderCache.load(rendered) == RenderCache()
    assert run_cli("render", "--check", root=rendered).exit_code == 0
    edit_generated(rendered, "hybrid/lora.py")
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.output.splitlines()[1:] == ["  changed:  generated/hybrid/lora.py"]


def test_a_wrong_hash_for_one_file_makes_only_that_file_render_again(rendered, monkeypatch):
    data = cache_json(rendered)
    data["files"]["hybrid/flux_schnell.py"]["sha256"] = "0" * 64
    write_cache(rendered, data)
    calls = spy_renders(monkeypatch)
    # The file on disk is right: it is rendered (not believed), compared, and found current.
    assert run_cli("render", "--check", root=rendered).output.strip() == "generated/ is current"
    assert calls == ["text_to_image.py.j2"]
    # The same lie over a hand-edited file: the edit is reported.
    edit_generated(rendered)
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  changed:  generated/hybrid/flux_schnell.py"]


def test_a_hand_edited_cache_breaks_its_seal_and_is_ignored_whole(rendered):
    # Someone edits a generated file and "refreshes" its hash in the cache by hand: the
    # seal on the first line no longer matches, so nothing in the cache is believed.
    target = edit_generated(rendered)
    seal, body = cache_path(rendered).read_bytes().split(b"\n", 1)
    data = json.loads(body)
    data["files"]["hybrid/flux_schnell.py"]["sha256"] = cache_mod.sha256(target.read_bytes())
    data["files"]["hybrid/flux_schnell.py"]["size"] = target.stat().st_size
    cache_path(rendered).write_bytes(seal + b"\n" + json.dumps(data).encode())
    assert RenderCache.load(rendered) == RenderCache()
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  changed:  generated/hybrid/flux_schnell.py"]


def test_a_foreign_cache_from_another_fleet_is_not_believed(rendered, tmp_path):
    other = copy_fleet(tmp_path / "other", with_generated=False)
    models = other / "models.yaml"
    models.write_text(models.read_text().replace("max_containers: 10", "max_containers: 11"))
    models.write_text(
        models.read_text().replace(
            "description: SDXL with LoRA style adapters selectable per request",
            "description: another fleet's lora",
        )
    )
    assert run_cli("render", root=other).exit_code == 0
    # Its generated/ and its cache, over our fleet's inputs: the lora files differ.
    (rendered / "generated").rename(tmp_path / "ours")
    (other / "generated").rename(rendered / "generated")
    cache_path(rendered).write_bytes(cache_path(other).read_bytes())
    result = run_cli("render", "--check", "--quiet", root=rendered)
    assert result.exit_code == 1
    assert sorted(result.output.splitlines()[1:]) == sorted(
        f"  changed:  generated/{name}" for name in LORA_FILES
    )


def test_orphans_and_stale_folders_are_reported_with_a_current_cache(rendered):
    (rendered / "generated/hybrid/old_model.py").write_text("x = 1\n")
    (rendered / "generated/retired").mkdir()
    (rendered / "generated/retired/flux_schnell.py").write_text("x = 2\n")
    result = run_cli("render", "--check", root=rendered)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "  orphaned: generated/hybrid/old_model.py" in lines
    assert "  orphaned: generated/retired/flux_schnell.py" in lines
    assert run_cli("render", root=rendered).output.strip() == "written 0, unchanged 24, removed 2"
    assert not (rendered / "generated/retired").exists()


def test_a_deleted_file_with_a_current_cache_is_missing(rendered):
    (rendered / "generated/baseline/lora.py").unlink()
    result = run_cli("render", "--check", root=rendered)
    assert result.exit_code == 1
    assert "  missing:  generated/baseline/lora.py" in result.output.splitlines()


def test_a_symlink_is_refused_with_a_current_cache(rendered, tmp_path):
    link = rendered / "generated/hybrid/lora.py"
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_bytes(link.read_bytes())
    link.unlink()
    link.symlink_to(elsewhere)
    for args in (("render",), ("render", "--check")):
        result = run_cli(*args, root=rendered)
        assert result.exit_code == 1
        assert f"{link} is a symbolic link" in result.stderr


# ---------------------------------------------------------------------------------------------
# Invalidation


def spy_renders(monkeypatch) -> list[str]:
    """The template name of every file actually rendered (the real renderer still runs)."""
    calls: list[str] = []
    real = render_mod._render_one

    def counting(template, context, name):
        calls.append(name)
        return real(template, context, name)

    monkeypatch.setattr(render_mod, "_render_one", counting)
    return calls


def test_an_unchanged_fleet_renders_nothing_even_when_the_shortcut_cannot_apply(
    rendered, monkeypatch
):
    data = cache_json(rendered)
    data["inputs"] = None  # no whole-tree digest: every file goes through its own key
    write_cache(rendered, data)
    calls = spy_renders(monkeypatch)
    assert run_cli("render", root=rendered).output.strip() == "written 0, unchanged 24, removed 0"
    assert calls == []


def test_a_model_edit_renders_only_that_models_files(rendered, monkeypatch):
    models = rendered / "models.yaml"
    models.write_text(
        models.read_text().replace(
            "description: SDXL with LoRA style adapters selectable per request",
            "description: SDXL with LoRA adapters, chosen per request",
        )
    )
    before = cache_json(rendered)["files"]
    calls = spy_renders(monkeypatch)
    result = run_cli("render", root=rendered)
    assert result.output.strip() == "written 4, unchanged 20, removed 0"
    assert calls == ["lora.py.j2"] * 4
    after = cache_json(rendered)["files"]
    assert sorted(r for r in after if after[r]["key"] != before[r]["key"]) == sorted(LORA_FILES)


def test_a_kind_template_edit_invalidates_its_files_only(rendered, monkeypatch):
    template = own_template(rendered, "lora.py.j2")
    text = template.read_text()
    assert text.count("a lighthouse on a cliff at dawn") == 1  # the smoke-test prompt
    template.write_text(text.replace("a lighthouse on a cliff at dawn", "a lighthouse at dusk"))
    check = run_cli("render", "--check", "--quiet", root=rendered)
    assert check.exit_code == 1
    assert sorted(check.output.splitlines()[1:]) == sorted(
        f"  changed:  generated/{name}" for name in LORA_FILES
    )
    calls = spy_renders(monkeypatch)
    assert run_cli("render", root=rendered).output.strip() == "written 4, unchanged 20, removed 0"
    assert calls == ["lora.py.j2"] * 4


def test_a_base_template_edit_invalidates_every_file_that_extends_it(rendered, monkeypatch):
    base = own_template(rendered, "base.py.j2")
    base.write_text(base.read_text().replace("import modal\n", "import modal  # edited\n", 1))
    before = cache_json(rendered)["files"]
    calls = spy_renders(monkeypatch)
    result = run_cli("render", root=rendered)
    assert result.output.strip() == "written 24, unchanged 0, removed 0"
    assert len(calls) == 24
    after = cache_json(rendered)["files"]
    assert all(after[r]["key"] != before[r]["key"] for r in after)


def test_a_package_version_bump_invalidates_the_whole_cache(rendered, tmp_path, monkeypatch):
    # The package as another version would ship it: same code, __version__ bumped.
    same, copy = tmp_path / "same" / "modalfleet", tmp_path / "bumped" / "modalfleet"
    for folder in (same, copy):
        shutil.copytree(cache_mod.PACKAGE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert cache_mod.code_fingerprint(same) == cache_mod.code_fingerprint()
    init = copy / "__init__.py"
    version = f'__version__ = "{modalfleet.__version__}"'
    assert version in init.read_text()
    init.write_text(init.read_text().replace(version, '__version__ = "9.9.9"'))
    bumped = cache_mod.code_fingerprint(copy)
    assert bumped != cache_mod.code_fingerprint()
    # Our cache as that version wrote it: sealed, every entry right, but another version's.
    data = cache_json(rendered)
    data["code"] = bumped
    write_cache(rendered, data)
    assert RenderCache.load(rendered) == RenderCache()
    calls = spy_renders(monkeypatch)
    assert run_cli("render", "--check", root=rendered).exit_code == 0
    assert len(calls) == 24  # nothing reused: every file rendered and compared
    assert run_cli("render", root=rendered).output.strip() == "written 0, unchanged 24, removed 0"
    assert cache_json(rendered)["code"] == cache_mod.code_fingerprint()


def test_a_strategy_render_keeps_the_others_entries_and_drops_the_tree_digest_on_change(
    rendered,
):
    models = rendered / "models.yaml"
    models.write_text(
        models.read_text().replace(
            "description: SDXL with LoRA style adapters selectable per request",
            "description: SDXL with LoRA adapters, chosen per request",
        )
    )
    before = cache_json(rendered)
    result = run_cli("render", "--strategy", "hybrid", root=rendered)
    assert result.output.strip() == "written 1, unchanged 5, removed 0"
    after = cache_json(rendered)
    assert after["inputs"] is None  # baseline & co. are not rendered from these inputs yet
    assert after["files"]["baseline/lora.py"] == before["files"]["baseline/lora.py"]
    assert after["files"]["hybrid/lora.py"] != before["files"]["hybrid/lora.py"]
    check = run_cli("render", "--check", "--quiet", root=rendered)
    assert sorted(check.output.splitlines()[1:]) == sorted(
        f"  changed:  generated/{name}" for name in LORA_FILES if name != "hybrid/lora.py"
    )


def template_digest(folder: Path, name: str) -> str:
    env = render_mod.make_environment(folder)
    return render_mod._template_sources_digest(env, name)


def test_the_key_follows_extends_and_includes_and_nothing_else(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "kind.py.j2").write_text('{% extends "base.py.j2" %}\n')
    (folder / "base.py.j2").write_text("{%- include 'part.py.j2' ignore missing %}\n")
    (folder / "part.py.j2").write_text("PART = 1\n")
    (folder / "other.py.j2").write_text("OTHER = 1\n")
    first = template_digest(folder, "kind.py.j2")
    (folder / "other.py.j2").write_text("OTHER = 2\n")
    assert template_digest(folder, "kind.py.j2") == first  # not used by kind.py.j2
    (folder / "part.py.j2").write_text("PART = 2\n")
    second = template_digest(folder, "kind.py.j2")
    assert second != first  # included by the template it extends
    (folder / "base.py.j2").write_text("{%- include 'part.py.j2' ignore missing %}\n\n")
    assert template_digest(folder, "kind.py.j2") not in (first, second)


def test_a_computed_template_name_makes_every_template_part_of_the_key(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "kind.py.j2").write_text('{% include "part_" ~ flavour ~ ".py.j2" %}\n')
    (folder / "part_a.py.j2").write_text("A = 1\n")
    first = template_digest(folder, "kind.py.j2")
    (folder / "part_a.py.j2").write_text("A = 2\n")
    assert template_digest(folder, "kind.py.j2") != first
