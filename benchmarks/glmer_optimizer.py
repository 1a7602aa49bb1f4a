"""glmer's default optimizer (L-BFGS-B on the Laplace deviance at the conditional mode with its
analytic gradient) against lme4's path (``glmerControl(optimizer=["bobyqa", "Nelder_Mead"])``)
and, when its environment exists, the Rust peer glmm 0.6.2 — side by side in one run: a warm-up
fit each, then the sides alternated, one BLAS (and Rayon) thread, medians.

Run: ``OPENBLAS_NUM_THREADS=1 python -m benchmarks.glmer_optimizer [repeats]``. Prints, per
case, the evaluations of each stage, the median wall time of a whole fit and of its parts
(stage 1, stage 2, the post-fit Hessian), −2 log L, the ratios, and the load average. The
default's Hessian comes from the analytic gradient; ``lme4 Hess.`` is the default optimizer
with lme4's finite-difference Hessian (``glmerControl(hessian="lme4")``, the default before).

glmm runs in its own virtual environment, never lmerpy's: ``~/.cache/lmerpy-bench/glmm``
(``$LMERPY_BENCH_PEERS`` moves the folder; ``benchmarks/run.py --peers`` creates it), in a
warm subprocess (:data:`GLMM_WORKER`) fed the same data as CSV; without it the column is left
out. glmm's formula language takes ``cbind(successes, failures)`` and a 0/1 response, so cbpp
gets a failures column and VerbAgg's ``r2`` is coded 0/1 (its second level 1, as R's).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

#: (label, data set, formula, family, glmm's spelling of the formula, glmm's data preparation)
CASES = [
    ("VerbAgg (1|id)+(1|item)", "VerbAgg",
     "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial",
     "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "r2"),
    ("cbpp (1|herd)", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
     "binomial", "cbind(incidence, fail) ~ period + (1 | herd)", "fail"),
    ("grouseticks (1|BROOD)+(1|INDEX)+(1|LOCATION)", "grouseticks",
     "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson",
     "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", ""),
]

#: glmm's side: reads the cases, fits each once (warm-up), then one fit per line on stdin
GLMM_WORKER = r"""
import gc, json, sys, time, warnings
import pandas as pd
import glmm
warnings.simplefilter("ignore")
cases = {}
for key, (stem, formula, family, prep) in json.loads(sys.argv[1]).items():
    df = pd.read_csv(stem + ".csv")
    for c, lev in json.load(open(stem + ".levels.json"))["levels"].items():
        df[c] = pd.Categorical(df[c].astype(str), categories=lev)
    if prep == "fail":
        df["fail"] = df["size"] - df["incidence"]
    elif prep == "r2":
        df["r2"] = (df["r2"].cat.codes > 0).astype(float)
    cases[key] = (df, formula, family)
    glmm.fit(df, formula, family=family)
print("ready", flush=True)
for line in sys.stdin:
    key = line.strip()
    if key == "quit":
        break
    df, formula, family = cases[key]
    gc.collect()
    t = time.perf_counter()
    r = glmm.fit(df, formula, family=family)
    t = time.perf_counter() - t
    print(json.dumps({"time": t, "dev": -2.0 * float(r.loglik), "feval": int(r.n_eval)}),
          flush=True)
"""


def glmm_python():
    root = Path(os.environ.get("LMERPY_BENCH_PEERS",
                               Path.home() / ".cache" / "lmerpy-bench")).expanduser()
    py = root / "glmm" / "bin" / "python"
    return py if py.exists() else None


class GlmmSide:
    """A warm glmm process (see :data:`GLMM_WORKER`)."""

    def __init__(self, python, lmerpy, tmp):
        from benchmarks.cases import write_csv
        specs = {}
        for label, name, _, family, formula, prep in CASES:
            write_csv(lmerpy.datasets.load(name), tmp, stem=name)
            specs[label] = (str(Path(tmp) / name), formula, family, prep)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   RAYON_NUM_THREADS="1")
        self.proc = subprocess.Popen([str(python), "-c", GLMM_WORKER, json.dumps(specs)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("glmm's worker did not start")

    def fit(self, label):
        self.proc.stdin.write(label + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def _at_mode(fit):
    """The Laplace deviance at the conditional mode itself at the fit's (θ, β): what glmm
    reports (lme4's deviance takes log|L|² one PIRLS step behind)."""
    import numpy as np
    return float(fit.devfun.laplace(np.concatenate((fit.par, fit.fixef().to_numpy()))))


def _fit(lmerpy, data, formula, family, control):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        fit = lmerpy.glmer(formula, data, family=family, control=control)
        return time.perf_counter() - t, fit


def main(repeats=11):
    import lmerpy
    paths = {"lme4 path": lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"]),
             "default": None,
             # the default optimizer with lme4's finite-difference Hessian of its deviance
             "lme4 Hess.": lmerpy.glmerControl(hessian="lme4")}
    py = glmm_python()
    with tempfile.TemporaryDirectory() as tmp:
        peer = GlmmSide(py, lmerpy, tmp) if py is not None else None
        print(f"load average {os.getloadavg()}, OPENBLAS_NUM_THREADS="
              f"{os.environ.get('OPENBLAS_NUM_THREADS')}, {repeats} alternated runs, glmm: "
              f"{py or 'not installed (benchmarks/run.py --peers)'}")
        try:
            for label, name, formula, family, _, _ in CASES:
                _case(lmerpy, paths, peer, label, name, formula, family, repeats)
        finally:
            if peer is not None:
                peer.close()
    print(f"\nload average {os.getloadavg()}")


def _case(lmerpy, paths, peer, label, name, formula, family, repeats):
    data = lmerpy.datasets.load(name)
    times = {k: [] for k in paths}
    fits = {}
    for ctl in paths.values():
        _fit(lmerpy, data, formula, family, ctl)           # warm-up
    if peer is not None:
        times["glmm"] = []
    for _ in range(repeats):
        if peer is not None:
            res = peer.fit(label)
            times["glmm"].append(res["time"])
        for k, ctl in paths.items():
            t, fits[k] = _fit(lmerpy, data, formula, family, ctl)
            times[k].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{label}")
    for k, fit in fits.items():
        o1, o2 = fit.optsum_stage1, fit.optsum
        print(f"  {k:10s} evals {o1.feval:4d} + {o2.feval:4d} (Hessian {o2.derivs_evals:3d})"
              f"  median {med[k] * 1e3:8.1f} ms"
              f"  [stage 1 {o1.elapsed * 1e3:6.1f}, stage 2 {o2.elapsed * 1e3:6.1f},"
              f" Hessian {o2.derivs_elapsed * 1e3:6.1f} ms]"
              f"  -2logLik {-2 * float(fit.logLik()):.6f} (at the mode {_at_mode(fit):.6f})")
    if peer is not None:
        print(f"  {'glmm':10s} evals {res['feval']:11d}  median {med['glmm'] * 1e3:8.1f} ms"
              f"  -2logLik {res['dev']:.6f}")
        print(f"  ratio glmm / default: {med['glmm'] / med['default']:.2f}x")
    print(f"  ratio lme4 path / default: {med['lme4 path'] / med['default']:.2f}x")
    print(f"  ratio lme4 Hessian / default: {med['lme4 Hess.'] / med['default']:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
