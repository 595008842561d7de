"""How close the compute speed model comes to every published measurement it calibrates on.

    python benchmarks/speed.py

For each row of modalfleet/economics/data/speed_measurements.yaml: the published seconds, the
estimate of the calibration fitted on every row (in-sample), and the estimate of a calibration
fitted on every other row (leave-one-out, the honest figure: the row's own seconds played no
part), each with its error. Then the median absolute error and the worst ratio of both.

Target (issue #23): median |error| <= 25%, no estimate outside 2x of its measurement. Rows
whose architecture has no shipped config are listed as not counted. Nothing is measured here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modalfleet.economics import speed  # noqa: E402


def _error(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.0f}%"


def _worst(ratios: list[float]) -> float:
    """The ratio furthest from 1 either way, as a factor >= 1 (0.5 and 2.0 are both 2x)."""
    return max(max(r, 1 / r) for r in ratios)


def main() -> int:
    rows = [row for row in speed.measurements() if row not in speed.uncounted()]
    fitted = speed.calibration()
    header = (
        f"{'row':30} {'gpu':10} {'seconds':>8} {'estimate':>9} {'error':>6} {'LOO':>8} {'error':>6}"
    )
    print(header)
    print("-" * len(header))
    ins, loo = [], []
    for row in rows:
        own = speed.estimate_row(row, fitted)
        out = speed.leave_one_out(row)
        ins.append(own.ratio)
        loo.append(out.ratio)
        print(
            f"{row.id:30} {row.gpu:10} {row.seconds:8.2f} {own.seconds:9.2f} "
            f"{_error(own.ratio):>6} {out.seconds:8.2f} {_error(out.ratio):>6}"
        )
    for row in speed.uncounted():
        print(f"{row.id:30} {row.gpu:10} {row.seconds:8.2f}  not counted: no config for {row.repo}")
    print()
    for label, ratios in (("in-sample", ins), ("leave-one-out", loo)):
        errors = [abs(r - 1) for r in ratios]
        outside = sum(1 for r in ratios if not 0.5 <= r <= 2.0)
        print(
            f"{label:14} rows {len(ratios)}  median |error| {median(errors) * 100:.1f}%  "
            f"worst {_worst(ratios):.2f}x  outside 2x: {outside}"
        )
    print()
    print("efficiency = exp(c + kind + architecture); fitted terms (log):")
    print(f"  c {fitted.intercept:+.3f}")
    for name, value in sorted(fitted.kind_effects.items()):
        print(f"  kind {name:18} {value:+.3f}")
    for name, value in sorted(fitted.architecture_effects.items()):
        print(f"  architecture {name:10} {value:+.3f}  ({math.exp(fitted.intercept + value):.1%})")
    for name, value in sorted(fitted.quantization_factors.items()):
        print(f"  quantization {name:10} x{value:.2f} on the denoiser")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
