"""plan: a fleet at a git ref (or another strategy) against the working tree, and the CI files
that run it on pull requests."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess
from decimal import Decimal as D
from pathlib import Path

import click
import pytest
import yaml
from conftest import REPO, copy_fleet, run_cli
from test_cost import _git, edit

from modalfleet.economics.plan import (
    COMMENT_MARKER,
    Plan,
    PlanError,
    Row,
    Side,
    build_plan,
    format_markdown,
    format_plans,
    format_text,
    read_fleet_at,
    sides,
    to_json,
)
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.spec import ContainerPolicy
from modalfleet.report.money import usd

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


# --- the exact keys and values of `plan --format json`, what the text and markdown say about
# container changes, added/removed models and p95 pushed over a target.


POLICY = {
    "min_containers": 0,
    "max_containers": 10,
    "scaledown_window_s": 300,
    "timeout_s": 600,
    "max_inputs": 1,
}


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


@pytest.fixture(scope="module")
def baseline_to_hybrid(fleet):
    # The document's flat seconds: the figures below are the documented ones.
    return build_plan(
        fleet,
        fleet,
        "hybrid",
        "baseline",
        "hybrid",
        before_strategy="baseline",
        speed_model="flat",
    )


def test_plan_json_has_exactly_these_keys_and_values(baseline_to_hybrid):
    text = to_json(baseline_to_hybrid)
    assert text.startswith('{\n  "strategy": "hybrid",\n  "before": "baseline",\n')  # indent 2
    data = json.loads(text)
    simulated = data.pop("simulated")
    models = data.pop("models")
    # Busy-seconds totals are the documented $5.42 (baseline) and $3.058 (hybrid) a day.
    assert data == {
        "strategy": "hybrid",
        "before": "baseline",
        "after": "hybrid",
        "period": "day",
        "changed": True,
        "headline": "simulated",
        # The bill's sentence, from the simulated totals below (which the speed and cold-start
        # models move); test_headline.py checks how it is written.
        "headline_text": baseline_to_hybrid.headline,
        "busy_headline": "Daily estimate decreases by $2.36 (-43.6%)",
        "estimate": False,
        "total_before": 5.42,
        "total_after": 3.058,
        "delta": -2.362,
        "delta_pct": -43.58,
        "added": [],
        "removed": [],
        "guardrails_tripped": [],
    }
    # The simulated figures (ESTIMATE) under flat seconds: $146.21 and $95.86 a day (the cold
    # starts' warm-up is the speed model's step either way).
    assert sorted(simulated) == [
        "delta",
        "estimate",
        "missed_target",
        "monthly_after",
        "monthly_before",
        "monthly_delta",
        "pushed_over_target",
        "total_after",
        "total_before",
    ]
    missed = [m["model"] for m in models if m["after"]["meets_target"] is False]
    assert simulated["missed_target"] == missed and "flux-schnell" in missed
    assert simulated["monthly_after"] == pytest.approx(simulated["total_after"] * 30)
    assert simulated["estimate"] is True and simulated["pushed_over_target"] == []
    assert round(simulated["total_before"], 2) == 146.21
    assert round(simulated["total_after"], 2) == 95.86
    assert simulated["delta"] == pytest.approx(simulated["total_after"] - simulated["total_before"])
    assert simulated["monthly_delta"] == pytest.approx(simulated["delta"] * 30)
    assert [(m["model"], m["status"]) for m in models] == [
        ("flux-schnell", "changed"),
        ("flux-dev", "unchanged"),
        ("instantid", "changed"),
        ("lora", "changed"),
        ("wan2-1", "unchanged"),
        ("seedvr2", "changed"),
    ]
    schnell = models[0]
    before, after = schnell.pop("before"), schnell.pop("after")
    assert schnell == {
        "model": "flux-schnell",
        "status": "changed",
        "container_changes": [],
        "delta": -1.512,
    }
    simulated_before, simulated_after = before.pop("simulated_cost"), after.pop("simulated_cost")
    p95_before, p95_after = before.pop("latency_p95_s"), after.pop("latency_p95_s")
    # flux-schnell: 4,000 requests x 10 s a day, L40S $0.000542/s before, T4 $0.000164/s after.
    assert before == {
        "gpu": "L40S",
        "gpus": ["L40S"],
        "vram_need_gb": 12.0,
        "vram_gb": 48.0,
        "fits": True,
        "containers": POLICY,
        "cost": 2.168,
        "seconds_source": "flat",
        "latency_target_s": 5,
        "meets_target": False,
    }
    # The T4 priced, the L4 its fallback (models.yaml).
    assert after == {**before, "gpu": "T4", "gpus": ["T4", "L4"], "vram_gb": 16.0, "cost": 0.656}
    # On the T4 it is $23.21/day with a p95 of 34.1 s against its 5 s target (flat 10 s
    # requests; the cold start's warm-up is the speed model's T4 step, 3.67 s).
    assert (round(simulated_after, 2), round(p95_after, 1)) == (23.21, 34.1)
    assert round(simulated_before, 2) == 51.62 and round(p95_before, 1) == 31.0


def test_plan_json_of_an_unchanged_plan_has_a_null_percentage_only_from_zero(fleet):
    same = build_plan(fleet, fleet, "hybrid", "HEAD", "working tree")
    data = json.loads(to_json(same))
    assert (data["changed"], data["delta"], data["delta_pct"]) == (False, 0.0, 0.0)
    assert data["busy_headline"] == "Daily estimate is unchanged at $3.06"
    assert data["headline_text"] == (
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) is unchanged at "
        f"{usd(same.simulated_after)}/day"
    )
    assert data["simulated"]["delta"] == 0.0 and data["simulated"]["monthly_delta"] == 0.0


def _side(daily: str, meets_target: bool | None, p95: float | None = 7.25, **policy) -> Side:
    return Side(
        gpus=("T4", "A10"),
        need_gb=16.0,
        smallest_vram_gb=16.0,
        containers=ContainerPolicy(**{**POLICY, **policy}),
        daily=D(daily),
        seconds_source="flat",
        simulated_daily=D(daily) * 10,
        latency_p95_s=p95,
        latency_target_s=5.0,
        meets_target=meets_target,
    )


def test_an_exact_vram_fit_fits_and_a_fallback_list_shows_every_gpu():
    side = _side("1", True)
    assert side.fits is True and side.vram_text == "16/16 GB fits"
    assert side.gpu_text == "T4, A10"
    short = dataclasses.replace(side, smallest_vram_gb=15.5)
    assert short.fits is False and short.vram_text == "16/15.5 GB DOES NOT FIT"


def test_pushed_over_target_only_when_the_target_was_met_or_unknown_before():
    def row(before, after):
        return Row("m", before, after).pushed_over_target

    met, missed, unknown = _side("1", True), _side("1", False), _side("1", None)
    assert row(met, missed) is True
    assert row(unknown, missed) is True
    assert row(None, missed) is True  # a new model that misses its target
    assert row(missed, missed) is False  # missed already: not this change's doing
    assert row(met, met) is False and row(met, unknown) is False
    assert row(met, None) is False


def _plan(*rows: Row, note: str = "") -> Plan:
    return Plan("hybrid", "HEAD", "working tree", rows, "flat", note)


def test_text_and_markdown_name_container_changes_and_a_target_pushed_over():
    before = _side("1.5", True, p95=3.0)
    after = _side("2", False, p95=7.26, min_containers=1, scaledown_window_s=60)
    plan = _plan(Row("flux", before, after), Row("wan", before, before))
    assert plan.pushed_over_target == [plan.rows[0]]
    assert (plan.simulated_before, plan.simulated_after) == (D("30.0"), D("35"))
    text = format_text(plan).splitlines()
    # The simulated bill leads (10x the busy figure in these sides); the document's figure
    # follows on its one labelled line.
    assert text[:8] == [
        "Plan for strategy hybrid: HEAD -> working tree",
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $5.00/day "
        "(+16.7%), +$150.00/month",
        "  per day $30.00 -> $35.00, per month $900.00 -> $1050.00 (+$150.00)",
        "  p95 MISSED: flux 7.3 s (target 5 s)",
        "  p95 ok: wan 3.0 s (target 5 s)",
        "  to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
        "that meets each target)",
        "  seconds per request of flux are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them",
        "GPU work alone, the Modal GPU requirements document's formula: "
        "Daily estimate increases by $0.50 (+16.7%)",
    ]
    assert text[9:] == [
        "$/day; BILL: simulated on Modal's autoscaler (ESTIMATE); BUSY: GPU work alone, the "
        "document's formula",
        "MODEL  STATUS     GPU      VRAM NEED/GPU  BILL BEFORE  BILL AFTER      BILL CHANGE  "
        "   P95 AFTER  BUSY BEFORE  BUSY AFTER      BUSY CHANGE",
        "flux   changed    T4, A10  16/16 GB fits       $15.00      $20.00  +$5.00 (+33.3%)  "
        "7.3 s MISSED        $1.50       $2.00  +$0.50 (+33.3%)",
        "wan    unchanged  T4, A10  16/16 GB fits       $15.00      $15.00                -  "
        "    3.0 s ok        $1.50       $1.50                -",
        "",
        "busy-seconds total (the document's formula): per day $3.00 -> $3.50, "
        "per month $90.00 -> $105.00 (+$15.00)",
        "latency: flux's simulated p95 7.3 s is over its 5 s target after this change (ESTIMATE)",
        "containers of flux: min_containers 0 -> 1, scaledown_window_s 300 -> 60",
        "seconds per request: measured where given, else the model's flat figure",
    ]  # and no "no changes"
    markdown = format_markdown(plan).splitlines()
    assert markdown[:16] == [
        COMMENT_MARKER,
        "### modalfleet plan: strategy `hybrid`",
        "",
        "**Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $5.00/day "
        "(+16.7%), +$150.00/month**",
        "",
        "`HEAD` → `working tree`: per day $30.00 → $35.00, per month $900.00 → $1050.00 "
        "(+$150.00).",
        "",
        "- p95 MISSED: flux 7.3 s (target 5 s)",
        "- p95 ok: wan 3.0 s (target 5 s)",
        "- to meet the MISSED targets: run `modalfleet optimize` (the cheapest serving policy "
        "that meets each target)",
        "- seconds per request of flux are not measured (ESTIMATE): "
        "`modalfleet bench --model NAME --write` measures them",
        "",
        "GPU work alone, the Modal GPU requirements document's formula: Daily estimate "
        "increases by $0.50 (+16.7%): per day $3.00 → $3.50, per month $90.00 → $105.00 "
        "(+$15.00).",
        "",
        "> :warning: latency: flux's simulated p95 7.3 s is over its 5 s target after this "
        "change (ESTIMATE)",
        "",
    ]
    assert markdown[16:19] == [
        "| Model | Status | GPU | VRAM need/GPU | Bill $/day before | Bill $/day after "
        "| Bill change | p95 after | Busy $/day before | Busy $/day after | Busy change |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        "| flux | changed | T4, A10 | 16/16 GB fits | $15.00 | $20.00 | +$5.00 (+33.3%) "
        "| 7.3 s MISSED | $1.50 | $2.00 | +$0.50 (+33.3%) |",
    ]
    assert markdown[19:] == [
        "",
        "<details><summary>Details</summary>",
        "",
        "- containers of `flux`: min_containers 0 -> 1, scaledown_window_s 300 -> 60",
        "- unchanged: `wan`",
        "- seconds per request: measured where given, else the model's flat figure",
        "",
        "</details>",
    ]
    data = json.loads(to_json(plan))
    assert data["simulated"]["pushed_over_target"] == ["flux"]
    assert data["models"][0]["container_changes"] == [
        "min_containers 0 -> 1",
        "scaledown_window_s 300 -> 60",
    ]
    assert data["models"][0]["after"]["gpus"] == ["T4", "A10"]


def test_markdown_of_an_unchanged_plan_with_a_note():
    side = _side("1", True)
    plan = _plan(Row("wan", side, side), note="strategy 'x' does not exist in HEAD")
    markdown = format_markdown(plan).splitlines()
    assert markdown[10:15] == [
        "",
        "> strategy 'x' does not exist in HEAD",
        "",
        "No changes to strategy `hybrid`.",
        "",
    ]
    text = format_text(plan).splitlines()
    assert text[5] == "note: strategy 'x' does not exist in HEAD"
    assert text[-1] == "no changes"


def test_a_plan_from_nothing_has_no_percentage():
    plan = _plan(Row("wan", None, _side("2", None)))
    assert plan.delta_pct is None
    assert plan.busy_headline == "Daily estimate increases by $2.00 (from $0.00)"
    assert plan.headline == (
        "Modal bill (simulated on Modal's autoscaler, ESTIMATE) increases by $20.00/day "
        "(from $0.00), +$600.00/month"
    )
    assert format_text(plan).splitlines()[7:] == [
        "wan    added   (new) T4, A10  (new) 16/16 GB fits            -      $20.00      +$20.00  "
        "    7.2 s            -       $2.00       +$2.00",
        "",
        "busy-seconds total (the document's formula): per day $0.00 -> $2.00, "
        "per month $0.00 -> $60.00 (+$60.00)",
        "models added: wan",
        "seconds per request: measured where given, else the model's flat figure",
    ]
    assert json.loads(to_json(plan))["delta_pct"] is None


def test_several_plans_share_one_comment_marker_and_json_is_a_list_only_when_asked():
    side = _side("1", True)
    one, two = _plan(Row("a", side, side)), _plan(Row("b", side, side))
    markdown = format_plans([one, two], "markdown")
    assert markdown.count(COMMENT_MARKER) == 1 and markdown.startswith(COMMENT_MARKER + "\n")
    assert markdown.count("### modalfleet plan") == 2
    assert "\n\n### modalfleet plan" in markdown
    assert json.loads(format_plans([one, two], "json"))["models"][0]["model"] == "a"
    both = json.loads(format_plans([one, two], "json", as_list=True))
    assert [plan["models"][0]["model"] for plan in both] == ["a", "b"]
    text = format_plans([one, two], "text")
    assert text.count("Plan for strategy hybrid") == 2 and "no changes\n\nPlan for" in text


def test_the_fleet_at_a_ref_takes_yml_strategies_and_each_trace_it_can(tmp_path):
    fleet = copy_fleet(tmp_path / "repo", with_generated=False)
    models = fleet / "models.yaml"
    text = models.read_text()
    # In models.yaml order: a trace outside the repository, one never committed, one committed.
    for rate, trace in [(400, "../outside.txt"), (300, "traces/never.txt"), (200, "traces/b.txt")]:
        old = f"traffic: {{requests_per_day: {rate}, seconds_per_request: 10}}"
        assert text.count(old) == 1
        text = text.replace(old, old[:-1] + f", trace: {trace}}}")
    models.write_text(text)
    (fleet / "traces").mkdir()
    (fleet / "traces" / "b.txt").write_text("0\n1.5\n")
    (tmp_path / "outside.txt").write_text("0\n")
    (fleet / "strategies" / "extra.yml").write_text("not read here\n")
    (fleet / "strategies" / "notes.txt").write_text("not a strategy\n")
    _git(fleet, "init", "-q")
    _git(fleet, "add", ".")
    _git(fleet, "commit", "-q", "-m", "traces")
    dest = tmp_path / "at-head"
    dest.mkdir()
    read_fleet_at(fleet, "HEAD", dest)
    assert sorted(p.name for p in (dest / "strategies").iterdir()) == [
        "baseline.yaml",
        "cost-optimized.yaml",
        "extra.yml",
        "hybrid.yaml",
        "performance-optimized.yaml",
    ]
    assert (dest / "models.yaml").read_text() == text
    assert sorted(str(p.relative_to(dest)) for p in (dest / "traces").iterdir()) == ["traces/b.txt"]
    assert (dest / "traces" / "b.txt").read_text() == "0\n1.5\n"


def test_plan_against_a_ref_without_git_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    with pytest.raises(PlanError) as caught:
        read_fleet_at(REPO, "HEAD", tmp_path)
    assert str(caught.value) == "git is not installed; plan --against needs it"


def test_sides_keep_flat_busy_seconds_under_the_default_compute_speed_model(fleet):
    default, flat = sides(fleet, "hybrid"), sides(fleet, "hybrid", "flat")
    assert default == sides(fleet, "hybrid", "compute")
    # The busy-seconds figure is the document's (flat) either way...
    assert {side.seconds_source for side in default.values()} == {"flat"}
    assert {m: side.daily for m, side in default.items()} == {
        m: side.daily for m, side in flat.items()
    }
    # ...while the simulated bill serves each request in its GPU's estimated seconds.
    assert default["flux-schnell"].simulated_daily != flat["flux-schnell"].simulated_daily
    assert flat != sides(fleet, "hybrid", "relative")
    assert sides(fleet, "no-such-strategy") == {}
