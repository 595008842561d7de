"""plan: a fleet at a git ref (or another strategy) against the working tree, and the CI files
that run it on pull requests."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml
from conftest import REPO, copy_fleet, run_cli
from test_cost import edit

HYBRID_TO_L40S = [
    ("performance-optimized: A10, hybrid: [T4, L4]}", "performance-optimized: A10, hybrid: L40S}"),
    ("performance-optimized: L40S, hybrid: A10}", "performance-optimized: L40S, hybrid: L40S}"),
]
NEW_MODEL = """
  lora-anime:
    kind: lora
    description: SDXL with an anime style adapter
    weights:
      - repo: stabilityai/stable-diffusion-xl-base-1.0
        revision: 462165984030d82259a11f4367a4eed129e94a7b
        role: pipeline
        size_gb: 6.95
      - repo: nerijs/pixel-art-xl
        revision: 8bf4a4d9ea283e00a51fafda8e0539f8248ea037
        role: adapter
        name: pixel-art
        size_gb: 0.17
    dtype: float16
    vram_gb: 12
    params: {steps: 30, guidance: 5.0, width: 1024, height: 1024, adapter: pixel-art, adapter_scale: 1.0}
    latency_target_s: 30
    traffic: {requests_per_day: 0, seconds_per_request: 10}
    gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repository whose fleet lives in infra/, with two commits:
    1. hybrid puts every model on an L40S (today's setup);
    2. hybrid moves to the seed's T4/A10 choices and a model (lora-anime) is added.
    """
    root = tmp_path_factory.mktemp("planrepo")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    (root / "README.md").write_text("fleet repo\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "empty")
    fleet = copy_fleet(root / "infra", with_generated=False)
    models = fleet / "models.yaml"
    seed_text = models.read_text()
    text = seed_text
    for old, new in HYBRID_TO_L40S:
        assert old in text
        text = text.replace(old, new)
    models.write_text(text)
    git(root, "add", "infra")
    git(root, "commit", "-q", "-m", "all L40S")
    models.write_text(seed_text.rstrip("\n") + "\n" + NEW_MODEL)
    git(root, "commit", "-q", "-am", "hybrid on T4/A10, add lora-anime")
    return fleet


def plan(repo: Path, *args: str):
    return run_cli("plan", "--strategy", "hybrid", *args, root=repo)


def test_plan_against_previous_commit_text(repo):
    result = plan(repo, "--against", "HEAD~1")
    assert result.exit_code == 0, result.text
    lines = result.output.splitlines()
    assert lines[0] == "Plan for strategy hybrid: HEAD~1 -> working tree"
    # The simulated bill leads; the document's figure follows on its one labelled line.
    assert lines[1].startswith("Modal bill (simulated on Modal's autoscaler, ESTIMATE) ")
    busy = lines.index(
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate decreases by $2.36 (-43.6%)"
    )
    assert all(line.startswith("  ") for line in lines[2:busy])  # the bill's details
    assert lines[busy + 2].startswith("$/day; BILL: simulated on Modal's autoscaler (ESTIMATE)")
    top = busy + 3
    assert lines[top].split()[:4] == ["MODEL", "STATUS", "GPU", "VRAM"]
    rows = {line.split()[0]: line.split() for line in lines[top + 1 : top + 8]}
    assert rows["flux-schnell"][:6] == ["flux-schnell", "changed", "L40S", "->", "T4,", "L4"]
    assert rows["flux-schnell"][-4:] == ["$2.17", "$0.66", "-$1.51", "(-69.7%)"]
    assert rows["flux-dev"][:3] == ["flux-dev", "unchanged", "L40S"]
    assert rows["instantid"][-4:] == ["$1.08", "$0.61", "-$0.47", "(-43.5%)"]
    assert rows["seedvr2"][:5] == ["seedvr2", "changed", "L40S", "->", "A10"]
    assert rows["lora-anime"][:5] == ["lora-anime", "added", "(new)", "T4,", "L4"]
    assert "12/48 GB fits -> 12/16 GB fits" in " ".join(rows["lora"])
    assert (
        "busy-seconds total (the document's formula): per day $5.42 -> $3.06, "
        "per month $162.60 -> $91.74 (-$70.86)"
    ) in lines
    assert "models added: lora-anime" in lines


def test_plan_markdown_is_a_pr_comment(repo):
    result = plan(repo, "--against", "HEAD~1", "--format", "markdown")
    assert result.exit_code == 0, result.text
    md = result.output
    assert md.startswith("<!-- modalfleet-plan -->\n### modalfleet plan: strategy `hybrid`")
    lines = md.splitlines()
    assert lines[3].startswith("**Modal bill (simulated on Modal's autoscaler, ESTIMATE) ")
    busy = (
        "GPU work alone, the Modal GPU requirements document's formula: Daily estimate "
        "decreases by $2.36 (-43.6%): per day $5.42 → $3.06, per month $162.60 → $91.74 "
        "(-$70.86)."
    )
    assert busy in lines and lines.index(busy) > 3
    row = next(line for line in lines if line.startswith("| flux-schnell |"))
    assert row.startswith(
        "| flux-schnell | changed | L40S → T4, L4 | 12/48 GB fits → 12/16 GB fits |"
    )
    assert row.endswith("| $2.17 | $0.66 | -$1.51 (-69.7%) |")  # the busy-seconds columns
    row = next(line for line in lines if line.startswith("| lora-anime |"))
    assert row.startswith("| lora-anime | added | (new) T4, L4 | (new) 12/16 GB fits | - |")
    assert row.endswith("| - | $0.00 | - |")
    assert "| flux-dev |" not in md  # unchanged rows are folded into the details
    details = md[md.index("<details>") :]
    assert "- added: `lora-anime`" in details and "- unchanged: `flux-dev`, `wan2-1`" in details
    assert details.rstrip().endswith("</details>")


def test_plan_json(repo):
    data = json.loads(plan(repo, "--against", "HEAD~1", "--format", "json").output)
    assert (data["before"], data["after"], data["changed"]) == ("HEAD~1", "working tree", True)
    assert (data["total_before"], data["total_after"], data["delta"], data["delta_pct"]) == (
        5.42,
        3.058,
        -2.362,
        -43.58,
    )
    assert data["headline"] == "simulated"
    assert data["busy_headline"] == "Daily estimate decreases by $2.36 (-43.6%)"
    assert data["headline_text"].startswith("Modal bill (simulated on Modal's autoscaler, ")
    assert data["added"] == ["lora-anime"] and data["removed"] == []
    schnell = data["models"][0]
    assert (
        schnell["model"],
        schnell["status"],
        schnell["before"]["gpu"],
        schnell["after"]["gpu"],
    ) == ("flux-schnell", "changed", "L40S", "T4")  # the primary GPU, which is priced
    assert (schnell["before"]["cost"], schnell["after"]["cost"], schnell["delta"]) == (
        2.168,
        0.656,
        -1.512,
    )
    assert schnell["after"]["vram_gb"] == 16 and schnell["after"]["fits"] is True


def test_plan_detailed_exitcode(repo):
    assert plan(repo, "--against", "HEAD~1", "--detailed-exitcode").exit_code == 2
    same = plan(repo, "--against", "HEAD", "--detailed-exitcode")
    assert same.exit_code == 0, same.text
    assert "Daily estimate is unchanged at $3.06" in same.output and same.output.rstrip().endswith(
        "no changes"
    )
    assert plan(repo).exit_code == 0  # --against defaults to HEAD


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no-such-ref", "'no-such-ref' is not a commit"),
        ("HEAD~2", "models.yaml does not exist at HEAD~2"),  # before the fleet was added
    ],
)
def test_plan_errors_exit_1_even_with_detailed_exitcode(repo, ref, message):
    result = plan(repo, "--against", ref, "--detailed-exitcode")
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.text


def test_plan_outside_git_is_an_error(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    result = run_cli("plan", "--strategy", "hybrid", "--against", "HEAD", root=fleet)
    assert result.exit_code == 1
    assert "is not a commit" in result.stderr


def test_plan_a_broken_fleet_at_the_ref_names_its_problems(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    git(fleet, "init", "-q")
    git(
        fleet,
        "-c",
        "user.email=t@e",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    edit(fleet / "models.yaml", "vram_gb: 36", "vram_gb: many")
    git(fleet, "add", ".")
    git(fleet, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "broken")
    edit(fleet / "models.yaml", "vram_gb: many", "vram_gb: 36")
    result = run_cli("plan", "--strategy", "hybrid", root=fleet)
    assert result.exit_code == 1
    assert "the fleet at HEAD has problems" in result.stderr and "models.yaml:" in result.stderr


def test_plan_from_strategy_shows_container_policy_changes():
    result = run_cli(
        "plan", "--strategy", "performance-optimized", "--from-strategy", "hybrid", root=REPO
    )
    assert result.exit_code == 0, result.text
    assert (
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate increases by $1.18 (+38.7%)"
    ) in result.output.splitlines()
    assert (
        "containers of flux-dev: max_containers 10 -> 20, scaledown_window_s 300 -> 900, timeout_s 600 -> 900"
        in result.output
    )
    usage = run_cli(
        "plan",
        "--strategy",
        "hybrid",
        "--from-strategy",
        "baseline",
        "--against",
        "HEAD",
        root=REPO,
    )
    assert usage.exit_code == 2
    assert (
        run_cli("plan", "--strategy", "nope", "--from-strategy", "hybrid", root=REPO).exit_code == 2
    )


def test_plan_of_a_strategy_new_at_the_ref(repo, tmp_path):
    strategy = repo / "strategies" / "batch.yaml"
    strategy.write_text(
        (repo / "strategies" / "hybrid.yaml").read_text().replace("name: hybrid", "name: batch")
    )
    models = repo / "models.yaml"
    original = models.read_text()
    try:
        models.write_text(
            original.replace("hybrid: [T4, L4]}", "hybrid: T4, batch: T4}")
            .replace("hybrid: L40S}", "hybrid: L40S, batch: L40S}")
            .replace("hybrid: A10}", "hybrid: A10, batch: A10}")
        )
        result = run_cli("plan", "--strategy", "batch", "--against", "HEAD", root=repo)
        assert result.exit_code == 0, result.text
        assert "note: strategy 'batch' does not exist in HEAD: every model is new" in result.output
        assert "Daily estimate increases by $3.06 (from $0.00)" in result.output
    finally:
        models.write_text(original)
        strategy.unlink()


# --- CI: the workflow and the pre-commit hooks run commands that exist -------------------------


def cli_invocations(script: str) -> list[list[str]]:
    """Every `python cli.py ...` / `modalfleet ...` command line in a shell script."""
    found = []
    for line in script.splitlines():
        words = shlex.split(re.split(r">>?", line)[0], comments=True)
        for start in range(len(words)):
            if words[start : start + 2] == ["python", "cli.py"]:
                found.append(words[start + 2 :])
            elif words[start] == "modalfleet":
                found.append(words[start + 1 :])
    return found


def assert_cli_accepts(args: list[str]) -> None:
    """The command exists and accepts these options (parsed by click, not run)."""
    from modalfleet.cli import cli

    name, rest = args[0], args[1:]
    assert name in cli.commands, (
        f"the CLI has no command {name!r} (known: {', '.join(cli.commands)})"
    )
    command = cli.commands[name]
    try:
        command.make_context(name, list(rest))
    except click.UsageError as exc:  # unknown option, bad choice
        pytest.fail(f"{' '.join(args)}: {exc.format_message()}")


def test_workflow_parses_and_runs_existing_commands():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "fleet.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["fleet"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    commands = [words for step in steps if "run" in step for words in cli_invocations(step["run"])]
    assert [c[:2] for c in commands] == [
        ["validate"],
        ["render", "--check"],
        ["plan", "--all"],
    ]
    plan_args = commands[2]
    assert plan_args[plan_args.index("--against") + 1] == "origin/$BASE_REF"
    assert plan_args[plan_args.index("--format") + 1] == "markdown"
    for words in commands:
        assert_cli_accepts(words)
    script = next(step for step in steps if "github-script" in step.get("uses", ""))["with"][
        "script"
    ]
    assert "<!-- modalfleet-plan -->" in script and "updateComment" in script


def test_workflow_plan_step_works_locally(repo):
    """The plan loop of the workflow, run here against the repo's previous commit."""
    outputs = []
    for strategy in sorted(p.stem for p in (repo / "strategies").glob("*.yaml")):
        result = run_cli(
            "plan", "--strategy", strategy, "--against", "HEAD~1", "--format", "markdown", root=repo
        )
        assert result.exit_code == 0, result.text
        outputs.append(result.output)
    body = "\n".join(outputs)
    assert body.count("<!-- modalfleet-plan -->") == 4
    document = "GPU work alone, the Modal GPU requirements document's formula: "
    assert document + "Daily estimate decreases by $2.36 (-43.6%)" in body  # hybrid
    assert document + "Daily estimate is unchanged at $5.42" in body  # baseline


def test_pre_commit_hooks_run_existing_commands():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["modalfleet-validate", "modalfleet-render-check"]
    for hook in hooks:
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        assert_cli_accepts(cli_invocations(hook["entry"])[0])
    assert hooks[1]["entry"] == "modalfleet render --check"


def test_plan_against_a_ref_reads_the_traces_committed_there(tmp_path):
    """validate checks that a model's traffic.trace exists: the fleet at the ref carries its own
    trace file (as committed there), and a trace missing at the ref is that fleet's problem."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    fleet = copy_fleet(root / "infra", with_generated=False)
    (fleet / "traces").mkdir()
    (fleet / "traces" / "lora.txt").write_text("# seconds\n0\n30.5\n")
    edit(
        fleet / "models.yaml",
        "traffic: {requests_per_day: 100, seconds_per_request: 10}",
        "traffic: {requests_per_day: 100, seconds_per_request: 10, trace: traces/lora.txt}",
    )
    git(root, "add", "infra")
    git(root, "commit", "-q", "-m", "lora replays its trace")
    (fleet / "traces" / "lora.txt").unlink()  # gone from the working tree, still at HEAD
    result = run_cli("plan", "--strategy", "hybrid", "--against", "HEAD", root=fleet)
    # The working tree's fleet is the one missing its trace; HEAD's loads.
    assert result.exit_code == 1, result.text
    assert "the fleet at HEAD has problems" not in result.text
    assert "trace file 'traces/lora.txt' does not exist" in result.text
    (fleet / "traces" / "lora.txt").write_text("0\n")
    result = run_cli("plan", "--strategy", "hybrid", "--against", "HEAD", root=fleet)
    assert result.exit_code == 0, result.text
    # A ref whose own models.yaml names a trace it never committed: that fleet's problem.
    edit(fleet / "models.yaml", "trace: traces/lora.txt", "trace: traces/other.txt")
    (fleet / "traces" / "other.txt").write_text("0\n")
    git(root, "add", "infra/models.yaml")
    git(root, "commit", "-q", "-m", "points at an uncommitted trace")
    result = run_cli("plan", "--strategy", "hybrid", "--against", "HEAD", root=fleet)
    assert result.exit_code == 1
    assert "the fleet at HEAD has problems" in result.text
    assert "trace file 'traces/other.txt' does not exist" in result.text


def test_plan_all_plans_every_strategy_at_once():
    args = ("plan", "--all", "--from-strategy", "baseline")
    text = run_cli(*args, root=REPO)
    assert text.exit_code == 0, text.text
    heads = [line for line in text.output.splitlines() if line.startswith("Plan for strategy")]
    assert heads == [
        "Plan for strategy baseline: strategy baseline -> strategy baseline",
        "Plan for strategy cost-optimized: strategy baseline -> strategy cost-optimized",
        "Plan for strategy hybrid: strategy baseline -> strategy hybrid",
        "Plan for strategy performance-optimized: strategy baseline -> strategy performance-optimized",
    ]
    single = run_cli("plan", "--strategy", "hybrid", "--from-strategy", "baseline", root=REPO)
    assert single.output.strip() in text.output  # each section is that strategy's own plan

    data = json.loads(run_cli(*args, "--format", "json", root=REPO).output)
    assert [(p["strategy"], p["total_after"]) for p in data] == [
        ("baseline", 5.42),
        ("cost-optimized", 3.058),
        ("hybrid", 3.058),
        ("performance-optimized", 4.24),
    ]
    markdown = run_cli(*args, "--format", "markdown", root=REPO).output
    assert markdown.startswith("<!-- modalfleet-plan -->\n")
    assert markdown.count("<!-- modalfleet-plan -->") == 1  # one comment for CI to update
    assert markdown.count("### modalfleet plan: strategy") == 4

    assert run_cli(*args, "--detailed-exitcode", root=REPO).exit_code == 2  # some change
    both = run_cli("plan", "--all", "--strategy", "hybrid", root=REPO)
    assert both.exit_code == 2 and "use --strategy S or --all, not both" in both.stderr
    neither = run_cli("plan", root=REPO)
    assert neither.exit_code == 2 and "Missing option '--strategy' (or --all" in neither.stderr


def _plan_step(path) -> str:
    steps = yaml.safe_load(path.read_text())["jobs"]["fleet"]["steps"]
    return next(step for step in steps if step.get("name") == "Plan against the base branch")


def test_workflows_show_the_guardrails_and_inits_enforces_them():
    """This repository's workflow shows the guardrails without failing on them (its fleet keeps
    the document's GPUs, which miss targets); the one init writes fails after the comment."""
    ours = _plan_step(REPO / ".github/workflows/fleet.yml")["run"]
    theirs_path = REPO / "modalfleet/examples/common/dot-github/workflows/fleet.yml"
    theirs = _plan_step(theirs_path)
    for script in (ours, theirs["run"]):
        (command,) = cli_invocations(script)
        assert command[:2] == ["plan", "--all"] and "--fail-on-missed-target" in command
        assert_cli_accepts(command)
        # A tripped guardrail is told from an error by the line the comment gets.
        assert "grep -qF ':x: **guardrail' plan.md" in script
    assert "--max-increase" in cli_invocations(ours)[0]
    steps = yaml.safe_load(theirs_path.read_text())["jobs"]["fleet"]["steps"]
    assert [step.get("name") for step in steps][-2:] == [
        "Post or update the plan comment",
        "Guardrails",
    ]
    assert steps[-1]["if"] == "steps.plan.outputs.guardrails != '0'"
    assert 'echo "guardrails=$status" >> "$GITHUB_OUTPUT"' in theirs["run"]
    # What the grep looks for is what a tripped guardrail writes; an error writes nothing.
    args = ("plan", "--all", "--from-strategy", "baseline", "--format", "markdown")
    tripped = run_cli(*args, "--fail-on-missed-target", root=REPO)
    assert tripped.exit_code == 1 and ":x: **guardrail" in tripped.output
    broken = run_cli(*args, "--fail-on-missed-target", "--against", "HEAD", root=REPO)
    assert broken.exit_code == 2 and ":x: **guardrail" not in broken.output
