"""Mutation testing of the core modules: the score per module and every surviving mutant.

    nice -n 19 python tools/mutate.py                    # every core module (slow: an hour+)
    nice -n 19 python tools/mutate.py --module cost      # one module
    python tools/mutate.py --report --module cost        # print the last results, run nothing
    nice -n 19 python tools/mutate.py --survivors        # after adding tests: rerun survivors only
    nice -n 19 python tools/mutate.py --module checks --sample 40   # a quick estimate

mutmut (the `dev` extra) makes the mutants, one small change at a time: a flipped comparison,
a swapped operator, a constant +1, a string made "XX...XX", `None` for a value. Its
configuration is [tool.mutmut] in pyproject.toml (the package, the fleet and the tests are
copied into mutants/); MODULE_TESTS below names the fast test files that exercise each module,
and each mutant runs only those of their tests that called the function it changes (mutmut
records which ones in a first, clean run). A surviving mutant is a change no
test notices: a missing test, or an equivalent mutant (one that cannot change behaviour).

Not run in CI (too slow). Run it after changing a core module or its tests, and before closing
an issue that touches one; aim for 90% killed per module. Delete mutants/ to start afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Short name -> source file.
MODULES = {
    "checks": "modalfleet/fleet/checks.py",
    "load": "modalfleet/fleet/load.py",
    "yamlread": "modalfleet/fleet/yamlread.py",
    "render": "modalfleet/generate/render.py",
    "cost": "modalfleet/economics/cost.py",
    "plan": "modalfleet/economics/plan.py",
    "simulate": "modalfleet/economics/simulate.py",
    "money": "modalfleet/report/money.py",
    "optimize": "modalfleet/economics/optimize.py",
    "policy_search": "modalfleet/economics/policy_search.py",
    "coldstart": "modalfleet/economics/coldstart.py",
    "regions": "modalfleet/fleet/regions.py",
    "headline": "modalfleet/economics/headline.py",
    "guardrails": "modalfleet/economics/guardrails.py",
    "flops": "modalfleet/economics/flops.py",
    "speed": "modalfleet/economics/speed.py",
}
# The fast test files that exercise each module. mutmut then runs, per mutant, only the tests
# of these files that called the function it changes. Without this map every test that loads
# a fleet would run against each mutant of yamlread.py or load.py: hours instead of minutes.
MODULE_TESTS = {
    "checks": ["tests/test_validate.py", "tests/test_cases.py", "tests/test_acknowledge.py"],
    "load": [
        "tests/test_validate.py",
        "tests/test_cases.py",
        "tests/test_serving.py",
        "tests/test_load.py",
    ],
    "yamlread": [
        "tests/test_cases.py",
        "tests/test_validate.py",
        "tests/test_yaml_sizing.py",
        "tests/test_yamlread.py",
    ],
    "render": [
        "tests/test_render.py",
        "tests/test_render_atomic.py",
        "tests/test_render_injection.py",
        "tests/test_cli_robustness.py",
        "tests/test_render_cache.py",
        "tests/test_render_golden.py",
        "tests/test_render_lock.py",
    ],
    "cost": [
        "tests/test_cost.py",
        "tests/test_plan.py",
        "tests/test_optimize.py",
        "tests/test_cli_robustness.py",
    ],
    "plan": [
        "tests/test_plan.py",
        "tests/test_cost.py",
        "tests/test_headline.py",
        "tests/test_plan_guardrails.py",
    ],
    "simulate": ["tests/test_simulate.py", "tests/test_serving.py"],
    "money": ["tests/test_money.py", "tests/test_cost.py", "tests/test_plan.py"],
    "optimize": ["tests/test_optimize.py", "tests/test_policy_search.py"],
    "policy_search": [
        "tests/test_policy_search.py",
        "tests/test_optimize_write.py",
        "tests/test_fleet_simulation.py",
    ],
    "coldstart": ["tests/test_coldstart.py", "tests/test_serving.py"],
    "regions": ["tests/test_regions.py", "tests/test_cases.py"],
    "headline": ["tests/test_headline.py", "tests/test_plan.py"],
    "guardrails": ["tests/test_plan_guardrails.py"],
    "flops": ["tests/test_flops.py"],
    "speed": ["tests/test_speed.py", "tests/test_serving.py", "tests/test_coldstart.py"],
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
NOT_COUNTED = {"skipped", "not checked", "check was interrupted by user"}
TARGET_PCT = 90.0


def dotted(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def test_files(name: str, exclude: list[str]) -> list[str]:
    return [path for path in MODULE_TESTS[name] if not any(fnmatch(path, x) for x in exclude)]


KEPT = ROOT / "mutants" / "mutate-kept.json"  # other modules' verdicts while one module runs


def run_module(
    name: str, names: list[str], max_children: int, exclude: list[str], keep: dict | None = None
) -> int:
    """`mutmut run NAMES` with the module's own test files, keeping other modules' verdicts.

    mutmut forgets every verdict when the test selection changes (it does between modules),
    so the other modules' verdicts are saved first and written back afterwards, even after an
    interrupted run (the next run restores them first). keep: verdicts of this module's own
    mutants to write back too.
    """
    restore_kept()
    tests = test_files(name, exclude)
    kept = {other: _results(other).exit_code_by_key for other in MODULES if other != name}
    kept[name] = keep or {}
    KEPT.parent.mkdir(exist_ok=True)  # the first run of all: mutmut has not made mutants/ yet
    KEPT.write_text(json.dumps(kept))
    shown = names if len(names) < 10 else [f"<{len(names)} mutants>"]
    print(f"$ mutmut run --max-children {max_children} {' '.join(shown)}", flush=True)
    print(f"  tests: {' '.join(tests)}", flush=True)
    child = [sys.executable, __file__, "--mutmut-child", str(max_children), *tests, "--", *names]
    try:
        return subprocess.call(child, cwd=ROOT)
    finally:
        restore_kept()


def restore_kept() -> None:
    if not KEPT.exists():
        return
    for other, codes in json.loads(KEPT.read_text()).items():
        data = _results(other)
        if codes and data.exit_code_by_key != codes:
            data.exit_code_by_key.update(codes)
            data.save()
    KEPT.unlink()


def sample(name: str, count: int) -> list[str]:
    """count of the module's mutants, the same ones on every call (mutmut must have generated
    them: any earlier run, even an interrupted one, has)."""
    keys = sorted(_results(name).exit_code_by_key)
    if not keys:
        raise SystemExit(f"{name}: no mutants yet; run once without --sample")
    return sorted(random.Random(18).sample(keys, min(count, len(keys))))


def run_sample(name: str, count: int, max_children: int, exclude: list[str]) -> int:
    """Run the module's sample of count mutants, resuming: those of the sample already killed
    keep their verdict (a test added since cannot revive them), the others run. Like
    --survivors, for a run after adding tests, not after changing the module."""
    from mutmut.stats import status_by_exit_code

    codes = _results(name).exit_code_by_key
    keys = sample(name, count)
    keep = {k: codes[k] for k in keys if status_by_exit_code[codes[k]] in KILLED}
    names = [k for k in keys if k not in keep]
    if not names:
        print(f"{name}: every mutant of the sample is killed already")
        return 0
    print(f"{name}: {len(keep)} of the sample of {len(keys)} killed already; running the rest")
    return run_module(name, names, max_children, exclude, keep)


def _mutmut_child(argv: list[str]) -> None:
    """Runs in a child process: mutmut's own `run`, with the test selection given."""
    max_children, rest = int(argv[0]), argv[1:]
    split = rest.index("--")
    tests, names = rest[:split], rest[split + 1 :]
    from mutmut.configuration import config

    config().pytest_add_cli_args_test_selection = tests
    from mutmut.__main__ import _run

    _run(names, max_children)


def _results(name: str):
    """mutmut's stored results for one module."""
    from mutmut.mutation.data import SourceFileMutationData

    data = SourceFileMutationData(path=Path(MODULES[name]))
    if (ROOT / "mutants" / f"{MODULES[name]}.meta").exists():
        data.load()
    return data


def rerun_survivors(name: str, max_children: int, exclude: list[str]) -> int:
    """Rerun only the module's survivors of the last run, keeping its killed verdicts: for a
    run after adding tests (a new test cannot let a killed mutant live), not after changing
    the module, whose mutants all need a fresh run. Mutants not run yet stay so."""
    from mutmut.stats import status_by_exit_code

    codes = _results(name).exit_code_by_key
    survivors = [k for k, c in codes.items() if status_by_exit_code[c] not in KILLED | NOT_COUNTED]
    if not survivors:
        print(f"{name}: no survivors to rerun")
        return 0
    # Killed ones stay killed; those never run stay unrun.
    keep = {k: c for k, c in codes.items() if k not in survivors}
    return run_module(name, survivors, max_children, exclude, keep)


def changed_lines(diff: str) -> str:
    """The mutated line(s) of a unified diff, as 'old  ->  new'."""
    old = [line[1:].strip() for line in diff.splitlines() if line.startswith("-")]
    new = [line[1:].strip() for line in diff.splitlines() if line.startswith("+")]
    old = [line for line in old if not line.startswith("--")]
    new = [line for line in new if not line.startswith("++")]
    pairs = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
    if len(old) != len(new) or not pairs:
        return f"{' | '.join(old) or '(nothing)'}  ->  {' | '.join(new) or '(removed)'}"
    return "; ".join(f"{a}  ->  {b}" for a, b in pairs)


def report(modules: list[str], show_survivors: bool = True) -> bool:
    """Print each module's score and survivors; True when every module reaches the target."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    all_met = True
    rows = []
    for name in modules:
        source = Path(MODULES[name])
        if not (ROOT / "mutants" / f"{source}.meta").exists():
            rows.append(f"{name:9} no results yet (run without --report)")
            all_met = False
            continue
        data = _results(name)
        statuses = {key: status_by_exit_code[code] for key, code in data.exit_code_by_key.items()}
        counted = {key: s for key, s in statuses.items() if s not in NOT_COUNTED}
        killed = sum(s in KILLED for s in counted.values())
        survivors = sorted(
            (key for key, s in counted.items() if s not in KILLED), key=_mutant_order
        )
        unchecked = len(statuses) - len(counted)
        score = 100.0 * killed / len(counted) if counted else 100.0
        all_met &= score >= TARGET_PCT and not unchecked
        rows.append(
            f"{name:9} {killed:4}/{len(counted):<4} killed  {score:5.1f}%"
            f"  survived {len(survivors)}" + (f"  not run {unchecked}" if unchecked else "")
        )
        if show_survivors and survivors:
            print(f"\n{source}: {len(survivors)} surviving mutants")
            for key in survivors:
                diff = get_diff_for_mutant(key, path=source)
                print(f"  [{statuses[key]}] {_function(key)}: {changed_lines(diff)}")
                print(f"      mutmut show {key}")
    print("\nmodule    killed/total          score")
    print("\n".join(rows))
    return all_met


def _function(key: str) -> str:
    """modalfleet.economics.cost.xǁComparisonǁtotal__mutmut_3 -> Comparison.total"""
    name = key.rsplit(".", 1)[1].rpartition("__mutmut_")[0]
    name = name.removeprefix("x_") if name.startswith("x_") else name.removeprefix("x")
    return name.replace("ǁ", ".").strip(".")


def _mutant_order(key: str) -> tuple[str, int]:
    function, _, number = key.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module",
        action="append",
        choices=sorted(MODULES),
        help="a core module to mutate (repeatable; default: all)",
    )
    parser.add_argument(
        "--report", action="store_true", help="print the last results without running anything"
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="rerun only the last run's surviving mutants (after adding tests)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out the test files matching GLOB (e.g. to measure what new tests add)",
    )
    parser.add_argument(
        "--mutants",
        nargs="+",
        metavar="NAME",
        help="run these mutants (as `mutmut show` names them) of the one --module given",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="run N mutants of each module picked at random (seed 18, the same N each time): "
        "an estimate of the score when a full run is too slow; those of them already killed "
        "are not run again (delete mutants/ after changing the module)",
    )
    parser.add_argument(
        "--max-children", type=int, default=1, help="parallel mutants (default 1: a shared machine)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print the scores only, not the surviving mutants"
    )
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)  # mutmut reads its configuration and mutants/ from the project root
    if argv[:1] == ["--mutmut-child"]:
        _mutmut_child(argv[1:])
        return 0
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still restore kept verdicts
    modules = args.module or list(MODULES)
    for name in [] if args.report else modules:
        if args.mutants:
            code = run_module(name, args.mutants, args.max_children, args.exclude)
        elif args.survivors:
            code = rerun_survivors(name, args.max_children, args.exclude)
        elif args.sample:
            code = run_sample(name, args.sample, args.max_children, args.exclude)
        else:
            pattern = f"{dotted(MODULES[name])}.*"
            code = run_module(name, [pattern], args.max_children, args.exclude)
        if code != 0:
            print(f"mutmut exited with {code} on {name}", file=sys.stderr)
            return code
    return 0 if report(modules, show_survivors=not args.quiet) else 1


if __name__ == "__main__":
    sys.exit(main())
