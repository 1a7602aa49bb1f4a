"""glmer's default optimizer (L-BFGS-B on the Laplace deviance at the mode with its analytic
gradient) against lme4's path (``glmerControl(optimizer=["bobyqa", "Nelder_Mead"])``), side by
side in one process: warm-up fits, then the two alternated, one BLAS thread, medians.

Run: ``OPENBLAS_NUM_THREADS=1 python -c "from benchmarks.glmer_optimizer import main; main(11)"``. Prints, per case,
the evaluations of each stage, the median wall time of a whole fit and of its parts (stage 1,
stage 2, the post-fit finite-difference Hessian), the ratio, and the load average.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings

CASES = [
    ("VerbAgg (1|id)+(1|item)", "VerbAgg",
     "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial"),
    ("cbpp (1|herd)", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
     "binomial"),
    ("grouseticks (1|BROOD)+(1|INDEX)+(1|LOCATION)", "grouseticks",
     "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
]


def _fit(lmerpy, data, formula, family, control):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        fit = lmerpy.glmer(formula, data, family=family, control=control)
        return time.perf_counter() - t, fit


def main(repeats=11):
    import lmerpy
    paths = {"lme4 path": lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"]),
             "default": None}
    print(f"load average {os.getloadavg()}, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}, {repeats} alternated runs")
    for label, name, formula, family in CASES:
        data = lmerpy.datasets.load(name)
        times = {k: [] for k in paths}
        fits = {}
        for ctl in paths.values():
            _fit(lmerpy, data, formula, family, ctl)           # warm-up
        for _ in range(repeats):
            for k, ctl in paths.items():
                t, fits[k] = _fit(lmerpy, data, formula, family, ctl)
                times[k].append(t)
        print(f"\n{label}")
        for k, fit in fits.items():
            o1, o2 = fit.optsum_stage1, fit.optsum
            print(f"  {k:10s} evals {o1.feval:4d} + {o2.feval:4d} (Hessian {o2.derivs_evals:3d})"
                  f"  median {statistics.median(times[k]) * 1e3:8.1f} ms"
                  f"  [stage 1 {o1.elapsed * 1e3:6.1f}, stage 2 {o2.elapsed * 1e3:6.1f},"
                  f" Hessian {o2.derivs_elapsed * 1e3:6.1f} ms]"
                  f"  -2logLik {-2 * float(fit.logLik()):.6f}")
        r = statistics.median(times["lme4 path"]) / statistics.median(times["default"])
        print(f"  ratio lme4 path / default: {r:.2f}x")
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
