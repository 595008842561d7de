"""How validate and render scale: fleets of 10, 100 and 1000 models x 4 strategies.

    python benchmarks/scale.py [--sizes 10,100,1000] [--repeat 5]

Each fleet is the bundled one, its six models copied under new names until the count is
reached, in a temporary directory. For `validate` and `render` it runs the real CLI in a fresh
process and prints the median wall time of --repeat runs, the peak RSS of that process and
the files written (render starts from an empty generated/ every run, so every run writes
them all; "rerender" is a render over a current generated/, which writes nothing). Then an in-process breakdown of the largest render (load + checks, render_tree,
write_tree), and the CLI cold start: `python cli.py validate` on the bundled fleet against
`python -c pass`.

Targets (issue 7): 1000 x 4 render under 2 s; validate cold start under 1.5 x the bare
interpreter plus 150 ms. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CLI = str(REPO / "cli.py")


def build_fleet(dest: Path, count: int) -> Path:
    """The bundled fleet with `count` models (copies of the six, renamed) in dest."""
    dest.mkdir(parents=True)
    for name in ("gpus.yaml", "strategies"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    bundled = yaml.safe_load((REPO / "models.yaml").read_text("utf-8"))
    originals = list(bundled["models"].items())
    models = {}
    for index in range(count):
        name, entry = originals[index % len(originals)]
        models[f"{name}-{index:04d}"] = entry
    bundled["models"] = models
    (dest / "models.yaml").write_text(yaml.safe_dump(bundled, sort_keys=False), "utf-8")
    return dest


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the child process itself, and its stdout."""
    # Output goes to files: a pipe would fill (1000 models print many warnings) and block it.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, text=True)
        # wait4: this child's own rusage (RUSAGE_CHILDREN is the max over all children).
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    code = process.returncode
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {code}: {err}")
    return elapsed, usage.ru_maxrss / 1024, out


def median_run(argv: list[str], repeat: int, before=None) -> tuple[float, float, str]:
    times, peaks, out = [], [], ""
    for _ in range(repeat):
        if before:
            before()
        elapsed, peak, out = run_measured(argv)
        times.append(elapsed)
        peaks.append(peak)
    return statistics.median(times), max(peaks), out


def in_process_breakdown(root: Path) -> dict[str, float]:
    """Where a render's time goes, without interpreter start and imports."""
    from modalfleet.fleet.checks import validate
    from modalfleet.generate.render import render_tree, template_search_path, write_tree

    shutil.rmtree(root / "generated", ignore_errors=True)
    started = time.perf_counter()
    loaded, _ = validate(root)
    validated = time.perf_counter()
    files = render_tree(loaded.fleet, template_search_path(root))
    rendered = time.perf_counter()
    write_tree(root, files)
    written = time.perf_counter()
    return {
        "load + checks": validated - started,
        "render_tree": rendered - validated,
        "write_tree": written - rendered,
        "files": len(files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), median of {args.repeat}")
    # Cold start first: a child forked from a parent that has rendered 1000 models would
    # report the parent's memory as its own peak.
    repeat = max(args.repeat, 10)
    bare, _, _ = median_run([sys.executable, "-c", "pass"], repeat)
    cold, peak, _ = median_run([sys.executable, CLI, "validate", "--root", str(REPO)], repeat)
    budget = 1.5 * bare + 0.150
    verdict = "ok" if cold < budget else "MISSED"
    print(
        f"cold start (median of {repeat}): python -c pass {bare * 1000:.0f} ms; "
        f"cli.py validate {cold * 1000:.0f} ms, peak {peak:.1f} MiB; "
        f"target < {budget * 1000:.0f} ms: {verdict}"
    )

    print(f"{'models':>6} {'command':<9} {'wall s':>7} {'peak MiB':>9} {'files':>6}  output")
    with tempfile.TemporaryDirectory(prefix="modalfleet-scale-") as tmp:
        largest = None
        for count in sizes:
            root = build_fleet(Path(tmp) / f"fleet-{count}", count)
            largest = root
            wall, peak, out = median_run(
                [sys.executable, CLI, "validate", "--root", str(root)], args.repeat
            )
            print(
                f"{count:>6} {'validate':<9} {wall:>7.3f} {peak:>9.1f} {0:>6}  {out.strip().splitlines()[-1]}"
            )

            def clear(root: Path = root) -> None:
                shutil.rmtree(root / "generated", ignore_errors=True)

            wall, peak, out = median_run(
                [sys.executable, CLI, "render", "--root", str(root)], args.repeat, before=clear
            )
            files = len(list((root / "generated").glob("*/*.py")))
            print(f"{count:>6} {'render':<9} {wall:>7.3f} {peak:>9.1f} {files:>6}  {out.strip()}")
            # The everyday case: generated/ is current, the render compares and writes nothing.
            wall, peak, out = median_run(
                [sys.executable, CLI, "render", "--root", str(root)], args.repeat
            )
            print(f"{count:>6} {'rerender':<9} {wall:>7.3f} {peak:>9.1f} {0:>6}  {out.strip()}")
        if largest is not None:
            breakdown = in_process_breakdown(largest)
            parts = ", ".join(
                f"{key} {value:.3f} s" for key, value in breakdown.items() if key != "files"
            )
            print(f"in-process, {sizes[-1]} models ({breakdown['files']} files): {parts}")


if __name__ == "__main__":
    main()
