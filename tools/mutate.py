"""Mutation testing of the core modules: the score per module and every surviving mutant.

    nice -n 19 python tools/mutate.py                    # every core module (slow: an hour+)
    nice -n 19 python tools/mutate.py --module cost      # one module
    python tools/mutate.py --report --module cost        # print the last results, run nothing
    nice -n 19 python tools/mutate.py --survivors        # after adding tests: rerun survivors only

mutmut (the `dev` extra) makes the mutants, one small change at a time: a flipped comparison,
a swapped operator, a constant +1, a string made "XX...XX", `None` for a value. Its
configuration is [tool.mutmut] in pyproject.toml: the package, the fleet and the fast test
files are copied into mutants/, and each mutant runs only the tests that called the function
it changes (mutmut records which ones in a first, clean run). A surviving mutant is a change no
test notices: a missing test, or an equivalent mutant (one that cannot change behaviour).

Not run in CI (too slow). Run it after changing a core module or its tests, and before closing
an issue that touches one; aim for 90% killed per module. Delete mutants/ to start afresh.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Short name -> source file. simulate.py is included as it grows (today an interface only).
MODULES = {
    "checks": "modalfleet/fleet/checks.py",
    "load": "modalfleet/fleet/load.py",
    "yamlread": "modalfleet/fleet/yamlread.py",
    "render": "modalfleet/generate/render.py",
    "cost": "modalfleet/economics/cost.py",
    "plan": "modalfleet/economics/plan.py",
    "simulate": "modalfleet/economics/simulate.py",
    "money": "modalfleet/report/money.py",
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
NOT_COUNTED = {"skipped", "not checked", "check was interrupted by user"}
TARGET_PCT = 90.0


def dotted(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def run_mutmut(names: list[str], max_children: int) -> int:
    command = ["mutmut", "run", "--max-children", str(max_children), *names]
    shown = command if len(names) < 10 else [*command[:4], f"<{len(names)} mutants>"]
    print("$", " ".join(shown), flush=True)
    return subprocess.call(command, cwd=ROOT)


def _results(name: str):
    """mutmut's stored results for one module."""
    from mutmut.mutation.data import SourceFileMutationData

    data = SourceFileMutationData(path=Path(MODULES[name]))
    if (ROOT / "mutants" / f"{MODULES[name]}.meta").exists():
        data.load()
    return data


def rerun_survivors(modules: list[str], max_children: int) -> int:
    """Rerun only the last run's survivors and keep the other verdicts.

    For a run after adding tests (new tests cannot let a killed mutant live); not after
    changing a module, whose mutants all need a fresh run. mutmut forgets every verdict when
    the test selection changes, so the killed ones are written back afterwards.
    """
    from mutmut.stats import status_by_exit_code

    kept: dict[str, dict[str, int]] = {}
    survivors: list[str] = []
    for name in modules:
        codes = _results(name).exit_code_by_key
        kept[name] = {k: c for k, c in codes.items() if status_by_exit_code[c] in KILLED}
        survivors += [k for k, c in codes.items() if status_by_exit_code[c] not in KILLED]
    if not survivors:
        print("no survivors to rerun")
        return 0
    code = run_mutmut(survivors, max_children)
    for name in modules:
        data = _results(name)
        for key, exit_code in kept[name].items():
            if data.exit_code_by_key.get(key, 0) is None:
                data.exit_code_by_key[key] = exit_code
        data.save()
    return code


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
        "--max-children", type=int, default=1, help="parallel mutants (default 1: a shared machine)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print the scores only, not the surviving mutants"
    )
    args = parser.parse_args(argv)
    modules = args.module or list(MODULES)
    os.chdir(ROOT)  # mutmut reads its configuration and mutants/ from the project root
    code = 0
    if args.survivors:
        code = rerun_survivors(modules, args.max_children)
    elif not args.report:
        code = run_mutmut([f"{dotted(MODULES[name])}.*" for name in modules], args.max_children)
    if code != 0:
        print(f"mutmut exited with {code}", file=sys.stderr)
        return code
    return 0 if report(modules, show_survivors=not args.quiet) else 1


if __name__ == "__main__":
    sys.exit(main())
