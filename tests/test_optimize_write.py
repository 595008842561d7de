"""`optimize --write STRATEGY`: the search's choices land in models.yaml and the strategy file,
only the changed values move, comments stay, and both files change or neither does."""

from __future__ import annotations

import pytest
from conftest import REPO, copy_fleet, run_cli

from modalfleet.economics.policy_search import policy_write, search
from modalfleet.fleet import yamledit
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.yamledit import EditError, replace_files


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=False) if a != b]


def test_write_a_new_strategy_validates_and_renders(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    models_before = (root / "models.yaml").read_text()
    # Under the document's flat seconds, so flux-schnell (10 s against 5 s) keeps its settings.
    args = ("optimize", "--days", "2", "--speed-model", "flat", "--write", "tuned")
    result = run_cli(*args, root=root)
    assert result.exit_code == 0, result.text
    fleet = load_fleet(root).fleet
    original = load_fleet(REPO).fleet
    expected = policy_write(original, "tuned", search(original, "baseline", 2, speed_model="flat"))
    tuned = fleet.strategies["tuned"]
    # Every model got a GPU under the new strategy, on its own gpu: line (one changed line each).
    changed = _changed_lines(models_before, (root / "models.yaml").read_text())
    assert len(changed) == len(fleet.models)
    assert all(after.endswith(f", tuned: {after.split('tuned: ')[1]}") for _, after in changed)
    for name, gpu in expected.gpus.items():
        assert fleet.models[name].gpu["tuned"] == (gpu,)
    assert tuned.model_containers == expected.containers
    assert "flux-schnell" in expected.kept  # 10 s a request can never meet 5 s
    assert "no policy met the latency target of flux-schnell" in result.stderr
    text = (root / "strategies" / "tuned.yaml").read_text()
    assert text.startswith(
        "# yaml-language-server: $schema=../modalfleet/schema/strategy.schema.json\n"
    )
    assert "compare_to: baseline\ncontainers:\n  min_containers: 0\n  max_containers: 10\n" in text
    assert run_cli("validate", root=root).exit_code == 0
    assert run_cli("render", root=root).exit_code == 0
    lora = (root / "generated" / "tuned" / "lora.py").read_text()
    window = tuned.policy_for(fleet.models["lora"]).scaledown_window_s
    assert f"scaledown_window={window}," in lora


def test_write_an_existing_strategy_moves_only_changed_values(tmp_path):
    root = copy_fleet(tmp_path / "fleet")
    hybrid_before = (root / "strategies" / "hybrid.yaml").read_text()
    args = ("optimize", "--days", "2", "--speed-model", "flat", "--write", "hybrid")
    result = run_cli(*args, root=root)
    assert result.exit_code == 0, result.text
    hybrid_after = (root / "strategies" / "hybrid.yaml").read_text()
    assert hybrid_after.startswith(hybrid_before)  # comments and settings kept; models: appended
    fleet = load_fleet(root).fleet
    added = hybrid_after[len(hybrid_before) :].splitlines()
    assert added[0] == "models:"
    assert len(added) - 1 == len(fleet.strategies["hybrid"].model_containers)
    # flux-schnell has no policy meeting its target: its hybrid GPU and settings stay.
    assert fleet.models["flux-schnell"].gpu["hybrid"] == ("T4", "L4")
    assert "flux-schnell" not in fleet.strategies["hybrid"].model_containers
    # A second write of the same choices changes nothing.
    again = run_cli(*args, root=root)
    assert again.exit_code == 0
    assert (root / "strategies" / "hybrid.yaml").read_text() == hybrid_after
    assert "optimize: models.yaml gpu.hybrid: none changed" in again.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--write", "Bad_Name"), "a strategy name must be lowercase"),
        (("--write", "hybrid", "--format", "yaml"), "drop --format yaml"),
    ],
)
def test_write_usage_errors(tmp_path, args, words):
    root = copy_fleet(tmp_path / "fleet", with_generated=False)
    result = run_cli("optimize", *args, root=root)
    assert result.exit_code == 2
    assert words in result.stderr


def test_a_failed_second_write_puts_the_first_back(tmp_path, monkeypatch):
    first, second, third = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "new.yaml"
    first.write_text("a: 1\n")
    second.write_text("b: 1\n")
    calls = []
    real = yamledit.replace_file

    def failing(path, write):
        calls.append(path)
        if path == second:
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(yamledit, "replace_file", failing)
    with pytest.raises(EditError, match="nothing was changed"):
        replace_files(
            {third: (None, "new\n"), first: ("a: 1\n", "a: 2\n"), second: ("b: 1\n", "b: 2\n")}
        )
    assert first.read_text() == "a: 1\n"
    assert second.read_text() == "b: 1\n"
    assert not third.exists()


def test_the_written_fleet_deploys_exactly_the_chosen_policies(tmp_path):
    # Checked against the search itself, not against policy_write: after the write, every model
    # with a choice resolves under hybrid to the chosen GPU and settings; the others keep theirs.
    from modalfleet.fleet.resolve import deployment

    root = copy_fleet(tmp_path / "fleet")
    original = load_fleet(REPO).fleet
    found = search(original, "hybrid", 2)
    assert run_cli("optimize", "--days", "2", "--write", "hybrid", root=root).exit_code == 0
    written = load_fleet(root).fleet
    changed = 0
    for result in found.models:
        name = result.model.name
        after = deployment(written, "hybrid", name)
        before = deployment(original, "hybrid", name)
        if result.chosen is None:
            assert (after.gpus, after.containers) == (before.gpus, before.containers)
            continue
        chosen = result.chosen.policy
        assert after.primary_gpu == chosen.gpu, name
        if result.model.traffic.requests_per_day:
            got = (
                after.containers.scaledown_window_s,
                after.containers.min_containers,
                after.containers.max_inputs,
            )
            assert got == (chosen.scaledown_window_s, chosen.min_containers, chosen.max_inputs)
            changed += got != (
                before.containers.scaledown_window_s,
                before.containers.min_containers,
                before.containers.max_inputs,
            )
    assert changed >= 1  # the bundled hybrid's 300 s window is not what the search picks
