"""--help reads well: commands in workflow order with whole summaries, every command ending with
real examples; did-you-mean for strategy and model names; shell completion of those names."""

from __future__ import annotations

import os
import shlex

import click
from conftest import REPO, copy_fleet, run_cli, run_subprocess

from modalfleet.cli import WORKFLOW_ORDER, WorkflowGroup, cli

ISSUE_ORDER = ["validate", "render", "cost", "optimize", "plan", "deploy", "status", "bench"]
ISSUE_ORDER += ["spend", "gpus", "init"]


def commands_section(text: str) -> list[str]:
    lines = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.split()[0] for line in lines if line.startswith("  ") and line[2] != " "]


def test_commands_are_listed_in_workflow_order_with_whole_summaries():
    text = run_cli("--help").output
    listed = commands_section(text)
    assert sorted(listed) == sorted(cli.commands)
    assert [name for name in listed if name in ISSUE_ORDER] == [
        name for name in ISSUE_ORDER if name in cli.commands
    ]
    assert listed[:3] == ["validate", "render", "cost"]
    flat = " ".join(text.split())
    for name, command in cli.commands.items():
        summary = command.get_short_help_str(limit=10_000)
        assert not summary.endswith("..."), name
        assert f"{name} {summary}" in flat, name  # whole, however it wraps


def test_a_command_not_in_the_workflow_list_goes_after_it_alphabetically():
    group = WorkflowGroup()
    for name in ("zeta", "gpus", "alpha", "validate"):
        group.add_command(click.Command(name, help=f"{name} does things."))
    assert group.list_commands(click.Context(group)) == ["validate", "gpus", "alpha", "zeta"]
    assert WORKFLOW_ORDER.index("validate") == 0


def examples_of(name: str) -> list[str]:
    text = run_cli(name, "--help").output
    assert "\n  Examples:\n\n" in text, name
    tail = text.split("\n  Examples:\n\n", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.strip()]


def test_every_command_ends_with_two_or_three_examples_that_parse():
    for name, command in cli.commands.items():
        examples = examples_of(name)
        assert 2 <= len(examples) <= 3, (name, examples)
        for example in examples:
            words = shlex.split(example)
            assert words[:2] == ["modalfleet", name], example
            command.make_context(name, words[2:])  # raises on an unknown flag or bad value


def test_the_fast_commands_examples_run_on_the_bundled_fleet(tmp_path, monkeypatch):
    # A copy, from inside it: examples may write (optimize --write, --chart FILE).
    root = copy_fleet(tmp_path / "fleet")
    monkeypatch.chdir(root)
    for name in ("validate", "gpus", "cost", "optimize"):
        for example in examples_of(name):
            result = run_cli(*shlex.split(example)[1:], root=root)
            assert result.exit_code == 0, (example, result.text)


def test_did_you_mean_for_strategy_and_model_names():
    result = run_cli("cost", "--strategy", "hybird", root=REPO)
    assert result.exit_code == 2
    assert (
        "Error: unknown strategy 'hybird' (did you mean 'hybrid'?); "
        "known: baseline, cost-optimized, hybrid, performance-optimized"
    ) in result.stderr
    result = run_cli("deploy", "--strategy", "hybrid", "--model", "flux-shnell", "--dry-run")
    assert result.exit_code == 2
    assert "unknown model(s) 'flux-shnell' (did you mean 'flux-schnell'?); known: " in result.stderr
    far = run_cli("plan", "--strategy", "zzz", root=REPO)
    assert "unknown strategy 'zzz'; known: baseline" in far.stderr  # nothing close: no guess


def complete(shell: str, line: str, cwd=REPO) -> list[str]:
    """What the shell would get for the last word of `line` (click's completion protocol)."""
    words = line.split(" ")
    env = dict(
        os.environ,
        _MODALFLEET_COMPLETE=f"{shell}_complete",
        COMP_WORDS=line,
        # fish passes the word being completed itself; bash and zsh its index.
        COMP_CWORD=words[-1] if shell == "fish" else str(len(words) - 1),
    )
    result = run_subprocess(cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_strategy_names_from_the_fleet():
    assert complete("bash", "modalfleet cost --strategy h") == ["plain,hybrid"]
    assert complete("bash", "modalfleet plan --from-strategy ") == [
        "plain,baseline",
        "plain,cost-optimized",
        "plain,hybrid",
        "plain,performance-optimized",
    ]
    assert complete("bash", "modalfleet deploy --strategy p") == ["plain,performance-optimized"]


def test_completion_reads_the_fleet_under_root_and_completes_models(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet")
    (fleet / "strategies" / "hot.yaml").write_text("version: 1\nname: hot\n")
    line = f"modalfleet validate --root {fleet} --strategy h"
    assert complete("bash", line) == ["plain,hot", "plain,hybrid"]
    assert complete("bash", "modalfleet deploy --model flux") == [
        "plain,flux-schnell",
        "plain,flux-dev",
    ]
    assert complete("zsh", "modalfleet bench --model l") == ["plain", "lora", "_"]
    fish = complete("fish", "modalfleet spend --strategy cost")
    assert fish == ["plain,cost-optimized"]


def test_completion_of_a_broken_fleet_offers_nothing_and_never_fails(tmp_path):
    (tmp_path / "models.yaml").write_text("models: [unclosed\n")
    assert complete("bash", "modalfleet deploy --model f", cwd=tmp_path) == []
    assert complete("bash", "modalfleet cost --strategy h", cwd=tmp_path) == []
