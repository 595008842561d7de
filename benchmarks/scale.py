"""How validate and render scale, as a ratio to just writing the files.

    python benchmarks/scale.py [--sizes 10,100,1000] [--repeat 3]
    python benchmarks/scale.py --budget LABEL=REF[@auto],... [--sizes 6,30,100] [--repeat 9]

Each fleet is the bundled one, its six models copied under new names until the count is
reached, x 4 strategies, in a temporary directory. Every command runs as the real CLI in a
fresh process; the figure is the median wall time of --repeat runs, and the peak RSS is the
child's own ru_maxrss as os.wait4 reports it (the resident peak of that process, interpreter
included). The CPU seconds (user + system, same rusage) are printed beside the wall time, with their own ratio: on a shared, busy machine they move far less than wall time.
`user s` is the user CPU alone: the floor's time is mostly the kernel's (its 8000 file
operations), and that system time varies several-fold between runs here, so user CPU is
the steadiest figure for comparing the CLI's own work from one change to the next.

The floor is a fresh Python process too (`python -c`, interpreter start included, like the CLI
runs it): it reads the bytes the render wrote from one payload file and writes them into an
empty folder, each through a temporary file and a rename, the way render does. It runs in the
same loop as the commands, interleaved with them, so a busy machine slows both alike; every
figure is printed in seconds and as a ratio to that floor.

- render:   `render` into an empty generated/, no cache (a clean checkout after rm -rf);
- rerender: `render` over a current generated/ and its cache, which writes nothing;
- check:    `render --check` of a current tree with its cache;
- check-cold: `render --check` of a current tree without the cache (what CI runs on a clone).

The package is compiled to bytecode first (compileall), as pip does at install: where
PYTHONDONTWRITEBYTECODE is set, every run would otherwise compile modalfleet from source.

Targets (issues 16 and 25), printed as ok / MISSED: from 1000 models on, rerender and check
<= 1x floor; `validate` of the bundled fleet < 3x `python -c pass`. A render into an empty tree is
not a target (issue 25): its ratio is printed, and time per model shows whether growth stays
linear.

--budget (issue 25's complexity budget) compares the CLI at several git revisions instead:
`render` from an empty tree and `render --check` on a clone (a current tree, no cache) at 6, 30
and 100 models, in one process (MODALFLEET_JOBS=1; `@auto` leaves it unset), the revisions
interleaved in every round. A piece of machinery stays only if removing it costs at least 25%
of wall time at 30 models (docs/testing.md has the figures that removed memo.py and
parallel.py). Not a test: timings depend on
the machine, and only the ratios carry from one machine to another.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
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
CACHE_DIR = ".modalfleet-cache"  # <root>/<this>: the render cache (generate/cache.py)
# From this size on, a re-render and a check with the cache must cost no more than the floor.
# Below it both are mostly the interpreter's and the CLI's start-up, which the floor shares
# only in part (it imports nothing).
TARGET_SIZE = 1000
COMMANDS = ("floor", "render", "rerender", "check", "check-cold")

# The floor: the same bytes, temp file + rename each, into an empty tree. Nothing else.
FLOOR = """
import marshal, os, sys
payload, dest = sys.argv[1], sys.argv[2]
with open(payload, "rb") as handle:
    files = marshal.load(handle)
made = set()
for relative, data in files.items():
    folder, name = os.path.split(os.path.join(dest, relative))
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)
    temp = os.path.join(folder, "." + name + ".tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
    os.replace(temp, os.path.join(folder, name))
"""


def build_fleet(dest: Path, count: int) -> Path:
    """The bundled fleet with `count` models (copies of the six, renamed) in dest."""
    dest.mkdir(parents=True)
    for name in ("gpus.yaml", "strategies"):
        source = REPO / name
        if not source.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    bundled = yaml.safe_load((REPO / "models.yaml").read_text("utf-8"))
    originals = list(bundled["models"].items())
    models = {}
    for index in range(count):
        name, entry = originals[index % len(originals)]
        # A copy per model: the same object six times over would be dumped as YAML aliases, a
        # 0.1 MiB file standing in for the ~1 MiB per 1000 models a real fleet's YAML takes.
        models[f"{name}-{index:04d}"] = copy.deepcopy(entry)
    bundled["models"] = models
    (dest / "models.yaml").write_text(yaml.safe_dump(bundled, sort_keys=False), "utf-8")
    return dest


def run_measured(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, float, int, str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of the child process
    itself (with the processes it forked and waited for: their CPU adds up, the peak is the
    largest one's), its exit code, stdout, and its user CPU seconds alone."""
    # Output goes to files: a pipe would fill (1000 models print many warnings) and block it.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, text=True, env=env)
        # wait4: this child's own rusage (RUSAGE_CHILDREN is the max over all children).
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {code}: {err}")
    return (
        elapsed,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        code,
        out,
        usage.ru_utime,
    )


class Series:
    """Repeated runs of one command: median seconds, max peak MiB, last output."""

    def __init__(self, label: str):
        self.label = label
        self.times: list[float] = []
        self.cpus: list[float] = []
        self.users: list[float] = []
        self.peaks: list[float] = []
        self.out = ""
        self.code = 0

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        elapsed, cpu, peak, self.code, self.out, user = run_measured(argv, env)
        self.times.append(elapsed)
        self.cpus.append(cpu)
        self.users.append(user)
        self.peaks.append(peak)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def user(self) -> float:
        return statistics.median(self.users)

    @property
    def peak(self) -> float:
        return max(self.peaks)


# Written by a child process: the parent must never hold the tree's bytes, or every process it
# forks would report the parent's resident memory as its own peak (ru_maxrss counts the moment
# between fork and exec).
PAYLOAD = """
import marshal, pathlib, sys
generated = pathlib.Path(sys.argv[1])
files = {p.relative_to(generated).as_posix(): p.read_bytes() for p in sorted(generated.glob("*/*.py"))}
with open(sys.argv[2], "wb") as handle:
    marshal.dump(files, handle)
"""


def tree_digest(generated: Path) -> tuple[int, int, str]:
    """Files, bytes and one SHA-256 over names and contents, reading one file at a time."""
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(generated.glob("*/*.py")):
        data = path.read_bytes()
        digest.update(path.relative_to(generated).as_posix().encode() + b"\0" + data)
        count += 1
        size += len(data)
    return count, size, digest.hexdigest()


def measure_size(root: Path, scratch: Path, repeat: int) -> dict[str, Series]:
    generated = root / "generated"
    render = [sys.executable, CLI, "render", "--root", str(root)]
    check = [*render, "--check", "--quiet"]
    # One render first: it makes the bytes the floor writes (and warms the page cache alike).
    run_measured(render)
    run_measured(render)  # and once more, so a render that keeps a cache has written it
    expected = tree_digest(generated)
    payload = scratch / "payload.marshal"
    subprocess.run([sys.executable, "-c", PAYLOAD, str(generated), str(payload)], check=True)
    floor_dest = scratch / "floor"
    series = {name: Series(name) for name in COMMANDS}
    for _ in range(repeat):
        shutil.rmtree(floor_dest, ignore_errors=True)
        series["floor"].run([sys.executable, "-c", FLOOR, str(payload), str(floor_dest)])
        shutil.rmtree(generated, ignore_errors=True)
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
        series["render"].run(render)
        series["rerender"].run(render)
        series["check"].run(check)
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
        series["check-cold"].run(check)
    if tree_digest(generated) != expected:
        raise SystemExit(f"{root}: the renders did not write the same bytes each time")
    for name in ("check", "check-cold"):
        if series[name].code != 0:
            raise SystemExit(f"{root}: render --check ({name}) failed: {series[name].out}")
    series["files"] = expected[0]  # type: ignore[assignment]
    series["bytes"] = expected[1]  # type: ignore[assignment]
    return series


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# --------------------------------------------------------------------------------------------
# The complexity budget (issue 25): does a piece of machinery pay for itself at real sizes?

BUDGET_SIZES = "6,30,100"
BUDGET_COMMANDS = ("render", "check-cold")


def extract(ref: str, dest: Path) -> Path:
    """The CLI and package as they were at git revision ref, in dest, compiled to bytecode."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "cli.py", "modalfleet"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest / "modalfleet")], check=True)
    return dest


def parse_variants(text: str) -> list[tuple[str, str, bool]]:
    """ "label=ref,label=ref@auto" -> [(label, ref, auto)]: auto leaves MODALFLEET_JOBS unset
    (the revision picks its number of processes), else MODALFLEET_JOBS=1 (one process)."""
    variants = []
    for item in text.split(","):
        label, _, ref = item.partition("=")
        if not ref:
            raise SystemExit(f"--budget: {item!r} is not label=ref")
        variants.append((label, ref.removesuffix("@auto"), ref.endswith("@auto")))
    return variants


def budget(variants: list[tuple[str, str, bool]], sizes: list[int], repeat: int) -> None:
    """`render` from an empty tree and `render --check` on a clone (a current tree, no cache) at
    each size, for each variant (the CLI at a git revision), the variants interleaved in every
    round so a busy machine slows them alike. Prints the median wall and user CPU seconds and
    each variant's wall time against the first one's."""
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), median of {repeat}")
    for label, ref, auto in variants:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", ref],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        jobs = "processes as the revision picks" if auto else "MODALFLEET_JOBS=1"
        print(f"  {label}: {ref} ({commit}), {jobs}")
    print()
    print(
        f"{'models':>6}  {'command':<10} {'variant':<22} {'wall s':>7} {'user s':>7} "
        f"{'vs ' + variants[0][0]:>14}"
    )
    with tempfile.TemporaryDirectory(prefix="modalfleet-budget-") as tmp:
        clis = {
            label: str(extract(ref, Path(tmp) / f"cli-{index}") / "cli.py")
            for index, (label, ref, _) in enumerate(variants)
        }
        one_process = {**os.environ, "MODALFLEET_JOBS": "1"}
        plain = {key: value for key, value in os.environ.items() if key != "MODALFLEET_JOBS"}
        for count in sizes:
            root = build_fleet(Path(tmp) / f"fleet-{count}", count)
            series = {
                (label, name): Series(name) for label, _, _ in variants for name in BUDGET_COMMANDS
            }
            digests = set()
            for _ in range(repeat):
                for label, _, auto in variants:
                    env = plain if auto else one_process
                    render = [sys.executable, clis[label], "render", "--root", str(root)]
                    shutil.rmtree(root / "generated", ignore_errors=True)
                    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
                    series[label, "render"].run(render, env)
                    digests.add(tree_digest(root / "generated"))
                    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
                    series[label, "check-cold"].run([*render, "--check", "--quiet"], env)
                    if series[label, "check-cold"].code != 0:
                        raise SystemExit(f"{label}: render --check failed at {count} models")
            if len(digests) != 1:
                raise SystemExit(f"{count} models: the variants did not write the same bytes")
            for name in BUDGET_COMMANDS:
                first = series[variants[0][0], name].median
                for label, _, _ in variants:
                    one = series[label, name]
                    change = (one.median - first) / first * 100
                    print(
                        f"{count:>6}  {name:<10} {label:<22} {one.median:>7.3f} "
                        f"{one.user:>7.3f} {change:>+13.1f}%"
                    )
            shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--budget",
        metavar="LABEL=REF[@auto],...",
        help="compare the CLI at these git revisions instead (render from empty, render --check "
        f"on a clone; sizes default to {BUDGET_SIZES})",
    )
    args = parser.parse_args()
    if args.budget:
        sizes = [int(size) for size in (args.sizes or BUDGET_SIZES).split(",")]
        budget(parse_variants(args.budget), sizes, args.repeat)
        return
    sizes = [int(size) for size in (args.sizes or "10,100,1000").split(",")]

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), median of {args.repeat}")
    # A user's modalfleet has bytecode: pip compiles it at install, and a checkout writes
    # __pycache__ on its first run. Where PYTHONDONTWRITEBYTECODE is set (as on the machines
    # this project is developed on) every run would compile the package from source instead,
    # ~45 ms of validate's start-up that no user pays. compileall writes it regardless.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "modalfleet")], check=True)
    # Cold start first, before this process holds anything it could lend a child's peak.
    repeat = max(args.repeat, 10)
    bare, cold = Series("bare"), Series("validate")
    for _ in range(repeat):
        bare.run([sys.executable, "-c", "pass"])
        cold.run([sys.executable, CLI, "validate", "--root", str(REPO)])
    ratio = cold.median / bare.median
    print(
        f"cold start (median of {repeat}): python -c pass {bare.median:.3f} s "
        f"(cpu {bare.cpu:.3f} s); cli.py validate (bundled fleet) {cold.median:.3f} s = "
        f"{ratio:.2f}x bare (cpu {cold.cpu:.3f} s = {cold.cpu / bare.cpu:.2f}x), "
        f"peak {cold.peak:.1f} MiB; target < 3x: {verdict(ratio < 3)}"
    )

    print()
    print(
        f"{'models':>6} {'files':>6} {'MB':>5}  {'command':<10} {'wall s':>7} {'x floor':>7} "
        f"{'ms/model':>8} {'cpu s':>7} {'x floor':>7} {'user s':>7} {'peak MiB':>8}"
    )
    targets: list[str] = []
    with tempfile.TemporaryDirectory(prefix="modalfleet-scale-") as tmp:
        for count in sizes:
            root = build_fleet(Path(tmp) / f"fleet-{count}", count)
            scratch = Path(tmp) / f"scratch-{count}"
            scratch.mkdir()
            series = measure_size(root, scratch, args.repeat)
            floor = series["floor"].median
            for name in COMMANDS:
                one = series[name]
                print(
                    f"{count:>6} {series['files']:>6} {series['bytes'] / 1e6:>5.1f}  {name:<10} "
                    f"{one.median:>7.3f} {one.median / floor:>7.2f} "
                    f"{one.median / count * 1000:>8.3f} {one.cpu:>7.3f} "
                    f"{one.cpu / series['floor'].cpu:>7.2f} {one.user:>7.3f} {one.peak:>8.1f}"
                )
            for name in ("rerender", "check") if count >= TARGET_SIZE else ():
                ratio = series[name].median / floor
                targets.append(
                    f"{count} models: {name} {ratio:.2f}x floor (<= 1x): {verdict(ratio <= 1)}"
                )
            shutil.rmtree(root)
            shutil.rmtree(scratch)
    if targets:
        print()
        print("targets (x 4 strategies):")
        for line in targets:
            print(f"  {line}")


if __name__ == "__main__":
    main()
