"""`modalfleet init`: a new fleet repository from a packaged example, that validates and renders."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from modalfleet import __version__
from modalfleet.fleet.scaffold import EXAMPLES_DIR, scaffold_files

COMMON_FILES = [
    ".github/workflows/deploy.yml",
    ".github/workflows/fleet.yml",
    ".github/workflows/tune.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "gpus.yaml",
    "models.yaml",
    "schema/gpus.schema.json",
    "schema/models.schema.json",
    "schema/strategy.schema.json",
]


def test_six_models_writes_this_repositorys_fleet_and_the_repository_files(tmp_path):
    result = run_cli("init", str(tmp_path / "fleet"))
    assert result.exit_code == 0, result.text
    written = sorted(
        p.relative_to(tmp_path / "fleet").as_posix()
        for p in (tmp_path / "fleet").rglob("*")
        if p.is_file()
    )
    strategies = [
        f"strategies/{name}.yaml"
        for name in sorted(p.stem for p in (REPO / "strategies").glob("*.yaml"))
    ]
    assert written == sorted(COMMON_FILES + strategies)
    assert result.output.splitlines()[-1] == (
        f"fleet 'six-models' written to {tmp_path / 'fleet'}/ (15 files). Next: "
        f"cd {tmp_path / 'fleet'} && modalfleet validate && modalfleet render, then commit; "
        "deploy with `modalfleet deploy --strategy hybrid`."
    )
    # The same fleet as this repository's, except for where the schema comments point.
    for name in ["models.yaml", "gpus.yaml", *strategies]:
        ours = (REPO / name).read_text()
        theirs = (tmp_path / "fleet" / name).read_text()
        assert theirs == ours.replace("modalfleet/schema/", "schema/"), name
    assert (
        (tmp_path / "fleet/models.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=schema/models.schema.json\n")
    )
    assert (
        (tmp_path / "fleet/strategies/hybrid.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../schema/strategy.schema.json\n")
    )
    assert (tmp_path / "fleet/schema/models.schema.json").read_bytes() == (
        REPO / "modalfleet/schema/models.schema.json"
    ).read_bytes()


def test_the_six_models_example_is_this_repositorys_files_not_a_copy():
    # One source: the packaged example links to the repository's fleet (the wheel build copies
    # the targets in), so an edit of models.yaml can never leave the example behind.
    assert (EXAMPLES_DIR / "six-models/models.yaml").resolve() == REPO / "models.yaml"
    assert (EXAMPLES_DIR / "six-models/strategies").resolve() == REPO / "strategies"
    assert (EXAMPLES_DIR / "common/gpus.yaml").resolve() == REPO / "gpus.yaml"


@pytest.mark.parametrize(
    ("example", "strategy"), [("six-models", "hybrid"), ("minimal", "production")]
)
def test_the_new_fleet_validates_renders_and_is_current_at_once(tmp_path, example, strategy):
    fleet = tmp_path / "fleet"
    assert run_cli("init", str(fleet), "--example", example).exit_code == 0
    validate = run_cli("validate", root=fleet)
    assert validate.exit_code == 0, validate.text
    models = 6 if example == "six-models" else 1
    strategies = 4 if example == "six-models" else 1
    assert (
        validate.output.splitlines()[-1] == f"ok: {models} models, {strategies} strategies, 10 GPUs"
    )
    render = run_cli("render", root=fleet)
    assert render.output == f"written {models * strategies}, unchanged 0, removed 0\n"
    assert run_cli("render", "--check", root=fleet).output == "generated/ is current\n"
    deploy_yml = (fleet / ".github/workflows/deploy.yml").read_text()
    assert f"run: modalfleet deploy --strategy {strategy} --yes\n" in deploy_yml
    assert f'run: pip install "modalfleet=={__version__}"\n' in deploy_yml
    assert "@" + "PRODUCTION_STRATEGY@" not in (fleet / "README.md").read_text()


def test_the_minimal_example_renders_the_same_flux_schnell_handler_as_the_bundled_fleet(tmp_path):
    fleet = tmp_path / "fleet"
    run_cli("init", str(fleet), "--example", "minimal")
    run_cli("render", root=fleet)
    text = (fleet / "generated/production/flux_schnell.py").read_text()
    assert 'gpu="L4"' in text
    assert '"revision": "741f7c3ce8b383c54771c7003378a50191e9efe9"' in text


def test_existing_files_stop_init_before_anything_is_written(tmp_path):
    fleet = tmp_path / "fleet"
    (fleet / "strategies").mkdir(parents=True)
    (fleet / "models.yaml").write_text("mine\n")
    (fleet / "strategies/hybrid.yaml").write_text("mine too\n")
    result = run_cli("init", str(fleet))
    assert result.exit_code == 1
    assert result.stderr == (
        f"init: 2 file(s) already exist in {fleet}: models.yaml, strategies/hybrid.yaml "
        "(--force overwrites them)\n"
    )
    assert sorted(p.relative_to(fleet).as_posix() for p in fleet.rglob("*")) == [
        "models.yaml",
        "strategies",
        "strategies/hybrid.yaml",
    ]
    assert (fleet / "models.yaml").read_text() == "mine\n"


def test_force_overwrites_and_says_which_files_it_replaced(tmp_path):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "models.yaml").write_text("mine\n")
    (fleet / "models.yaml").chmod(0o600)
    result = run_cli("init", str(fleet), "--example", "minimal", "--force")
    assert result.exit_code == 0, result.text
    assert "  overwrote    models.yaml" in result.output.splitlines()
    assert "  wrote        gpus.yaml" in result.output.splitlines()
    assert (fleet / "models.yaml").read_text().startswith("# yaml-language-server")
    assert stat.S_IMODE((fleet / "models.yaml").stat().st_mode) == 0o600  # kept


def test_a_file_where_a_folder_goes_is_a_conflict(tmp_path):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "strategies").write_text("a file\n")
    result = run_cli("init", str(fleet), "--example", "minimal")
    assert result.exit_code == 1
    assert "strategies/production.yaml" in result.stderr
    assert sorted(p.name for p in fleet.iterdir()) == ["strategies"]


def test_an_unwritable_destination_leaves_nothing_behind(tmp_path):
    result = run_cli("init", "/sys/newfleet")
    assert result.exit_code == 1
    assert result.stderr.startswith("init: /sys/newfleet: ")
    assert result.stderr.endswith("; nothing written\n")
    assert not Path("/sys/newfleet").exists()


def test_an_unknown_example_is_a_usage_error(tmp_path):
    result = run_cli("init", str(tmp_path / "x"), "--example", "seven-models")
    assert result.exit_code == 2
    assert "'seven-models' is not one of 'six-models', 'minimal'" in result.stderr
    assert not (tmp_path / "x").exists()


def test_scaffold_files_fill_every_placeholder():
    for example in ("six-models", "minimal"):
        for name, data in scaffold_files(example, "9.9.9").items():
            assert b"@MODALFLEET_VERSION@" not in data and b"@PRODUCTION_STRATEGY@" not in data, (
                name
            )
