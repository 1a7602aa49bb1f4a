"""lmerpy.influence vs lme4 1.1-31's influence.merMod, side by side (issue 16; not part of
``make bench``):

    OPENBLAS_NUM_THREADS=1 python benchmarks/influence_vs_lme4.py [--reps 3] [--rounds 3]

Each round runs every case in a warm Python process (median of ``reps``), then the same
cases in a warm R process (benchmarks/influence_vs_lme4.R); rounds alternate the two sides and
the reported time is the median over rounds. One worker on each side (n_jobs = 1, lme4's
ncores = 1). Also measured: what a deletion's setup costs with the design restricted to the
kept rows (lmerpy.design.subset) against building it again from the data with lFormula.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lmerpy  # noqa: E402
from lmerpy.design.subset import subset_design  # noqa: E402


def python_side(reps):
    sleep = lmerpy.datasets.load("sleepstudy")
    cbpp = lmerpy.datasets.load("cbpp")
    fm = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    gm = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                      family="binomial")
    cases = {
        "sleepstudy influence (180 cases)": lambda: lmerpy.influence(fm, progress=False),
        "sleepstudy influence (Subject)": lambda: lmerpy.influence(fm, groups="Subject",
                                                                   progress=False),
        "cbpp influence (56 cases)": lambda: lmerpy.influence(gm, progress=False),
        "cbpp influence (herd)": lambda: lmerpy.influence(gm, groups="herd", progress=False),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in cases.items():
            fn()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            out[name] = float(np.median(ts))
    return out


def r_side(reps):
    res = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "influence_vs_lme4.R"),
                          str(reps)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    return {d["case"]: d["seconds"] for d in
            (json.loads(line[3:]) for line in res.stdout.splitlines() if line.startswith("@@ "))}


def setup_costs(reps=200):
    """Median seconds to set up one Subject deletion: subset_design + deviance vs lFormula on
    the data without the subject + deviance."""
    sleep = lmerpy.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    lf = lmerpy.lFormula(f, sleep)
    keep = (sleep["Subject"].astype(str) != "309").to_numpy()
    rows = np.flatnonzero(keep)
    sub = sleep[keep]

    def med(fn):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))
    a = med(lambda: lmerpy.mkLmerDevfun(subset_design(lf, rows)))
    b = med(lambda: lmerpy.mkLmerDevfun(lmerpy.lFormula(f, sub)))
    return a, b


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    have_r = shutil.which("Rscript") is not None
    py, rr = {}, {}
    for _ in range(args.rounds):
        for k, v in python_side(args.reps).items():
            py.setdefault(k, []).append(v)
        if have_r:
            for k, v in r_side(args.reps).items():
                rr.setdefault(k, []).append(v)
    print(f"load average: {os.getloadavg()}")
    print(f"{'case':36s} {'lmerpy s':>9s} {'lme4 s':>9s} {'lme4/lmerpy':>11s}")
    for k in py:
        p = float(np.median(py[k]))
        r = float(np.median(rr[k])) if k in rr else float("nan")
        print(f"{k:36s} {p:9.3f} {r:9.3f} {r / p:11.1f}")
    a, b = setup_costs()
    print(f"one deletion's setup: subset_design {a * 1e3:.3f} ms, lFormula on the subset "
          f"{b * 1e3:.3f} ms ({b / a:.1f}x)")


if __name__ == "__main__":
    main()
