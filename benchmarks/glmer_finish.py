"""What glmer's Newton finish costs in memory: the default (``glmerControl()``, L-BFGS-B then
Newton steps to the Laplace gradient's zero) against ``glmerControl(polish=False)`` (where
L-BFGS-B stopped), side by side in one process: a warm-up fit each, then the two alternated,
one BLAS thread, medians of whole fits (the default post-fit Hessian included).

Run: ``OPENBLAS_NUM_THREADS=1 python -m benchmarks.glmer_finish [repeats]``. Prints, per case,
the median seconds of each side, their ratio, the finish's extra evaluations, −2 log L and
θ of each side, and the load average.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings

#: (label, data set, formula, family, nAGQ)
CASES = [
    ("cbpp (1|herd)", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
     "binomial", 1),
    ("VerbAgg (1|id)+(1|item)", "VerbAgg",
     "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial", 1),
    ("grouseticks 3 intercepts", "grouseticks",
     "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson", 1),
    ("cbpp nAGQ=0", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
     "binomial", 0),
]


def main(repeats: int = 7) -> None:
    import lmerpy
    warnings.simplefilter("ignore")
    sides = {"default": lmerpy.glmerControl(), "polish=False": lmerpy.glmerControl(polish=False)}
    print(f"load average before: {os.getloadavg()}")
    for label, data, formula, family, nagq in CASES:
        df = lmerpy.datasets.load(data)
        fits = {}
        for name, ctl in sides.items():           # warm-up
            fits[name] = lmerpy.glmer(formula, df, family=family, nAGQ=nagq, control=ctl)
        times = {name: [] for name in sides}
        for _ in range(repeats):
            for name, ctl in sides.items():
                t0 = time.perf_counter()
                lmerpy.glmer(formula, df, family=family, nAGQ=nagq, control=ctl)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        a, b = fits["default"], fits["polish=False"]
        print(f"{label}: default {med['default'] * 1e3:.1f} ms, polish=False "
              f"{med['polish=False'] * 1e3:.1f} ms, ratio {med['default'] / med['polish=False']:.3f};"
              f" evaluations {a.optsum.feval} vs {b.optsum.feval}; finish steps "
              f"{a.optsum.polish_steps}; -2logL {-2 * float(a.logLik()):.10f} vs "
              f"{-2 * float(b.logLik()):.10f}; theta {a.theta} vs {b.theta}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
