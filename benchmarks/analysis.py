"""Benchmark: the bootstrap band of the accuracy line, vectorised vs imagenet-testbed's loop.

Baseline, written the way ``plotting/plotter.py`` of imagenet-testbed computes its band: for each
of 1,000 resamples of the models, ``np.linalg.lstsq`` on the resampled (probit) points, then the
predicted line on a 200-point grid, percentiles at the end. Ours is ``heldout.analysis.fit_line``:
all resamples as one (resamples, models) index array, closed-form least squares per row, the band
from one matrix of lines. Data: timm's 1,556 (model, img_size) rows as shipped in the package
(``timm/matched-frequency``). Both sides use the same resample indices; slopes, intercepts and the
band are checked to agree before any timing is printed.

Run: ``.venv/bin/python benchmarks/analysis.py [--repeats 5]``. Wall-clock best of the repeats, CPU
time beside it (on a shared VM wall time includes time the process was not running).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from heldout.analysis import fit_line, load_reference_line, to_scale
from heldout.analysis.fit import TESTBED_SEED

RESAMPLES = 1000
GRID = 200


def baseline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zx, zy = to_scale(x, "probit"), to_scale(y, "probit")
    rows = np.random.default_rng(TESTBED_SEED).integers(0, x.size, size=(RESAMPLES, x.size))
    grid = to_scale(np.linspace(x.min(), x.max(), GRID), "probit")
    slopes, intercepts, lines = [], [], []
    for sample in rows:
        design = np.vstack([zx[sample], np.ones(x.size)]).T
        (slope, intercept), *_ = np.linalg.lstsq(design, zy[sample], rcond=None)
        slopes.append(slope)
        intercepts.append(intercept)
        lines.append(slope * grid + intercept)
    low, high = np.percentile(np.array(lines), [2.5, 97.5], axis=0)
    return np.percentile(slopes, [2.5, 97.5]), low, high


def ours(x: np.ndarray, y: np.ndarray):
    return fit_line(x, y, "probit", resamples=RESAMPLES, seed=TESTBED_SEED)


def best_of(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    line = load_reference_line("timm/matched-frequency")
    x, y = line.original, line.new
    slope_ci, low, high = baseline(x, y)
    fit = ours(x, y)
    assert np.allclose(slope_ci, fit.slope_ci, atol=1e-9)
    assert np.allclose(to_scale(fit.band.low, "probit"), low, atol=1e-9)
    assert np.allclose(to_scale(fit.band.high, "probit"), high, atol=1e-9)
    base_wall, base_cpu = best_of(lambda: baseline(x, y), args.repeats)
    our_wall, our_cpu = best_of(lambda: ours(x, y), args.repeats)
    print(f"bootstrap band, {x.size} models x {RESAMPLES} resamples (same indices, same band)")
    print(f"baseline (lstsq per resample): {1000 * base_wall:8.1f} ms wall, {1000 * base_cpu:8.1f} ms CPU")
    print(f"heldout fit_line:              {1000 * our_wall:8.1f} ms wall, {1000 * our_cpu:8.1f} ms CPU")
    print(f"ratio = baseline / ours = {base_wall / our_wall:.1f}x (wall), {base_cpu / our_cpu:.1f}x (CPU)")


if __name__ == "__main__":
    main()
