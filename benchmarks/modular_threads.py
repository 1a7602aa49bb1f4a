"""BLAS threads in the modular API: a deviance evaluated in the user's own loop.

``mkLmerDevfun`` / ``mkGlmerDevfun`` / ``updateGlmerDevfun`` return deviance objects a user may
evaluate in a loop of their own (``scipy.optimize.minimize(devfun, theta0)``), outside any
lmerpy fit. This script times such evaluations in one warm process (no thread variable in
its environment is expected; it says what it found), alternating two settings round by round:

**plain**
    the user's loop as written: ``devfun(x)`` with the pools as they are (before lmerpy
    applied its thread policy to the modular API: the pools' default, one thread per core);
**one**
    the same loop inside ``threadpoolctl.threadpool_limits(1)`` (what
    ``OPENBLAS_NUM_THREADS=1`` in the environment gives).

``--busy [N]`` starts N (default one) busy-loop processes for the duration (stopped by their
handles at the end) so that cores are taken, as on a shared machine. Each round evaluates each case ``--evals``
times per setting; the per-evaluation time of a round is the median; the report is the
median over ``--rounds`` rounds, the ratio plain / one, and the BLAS thread count seen inside
an evaluation (threadpoolctl's info from within the deviance's call).

Usage::

    python benchmarks/modular_threads.py --busy --rounds 9 --evals 200
    python benchmarks/modular_threads.py --busy --json benchmarks/results/modular_threads.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ``--tree DIR`` imports lmerpy from another checkout (e.g. main, for a before/after run)
_TREE = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(HERE.parent)
sys.path.insert(0, _TREE)

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "LMERPY_NUM_THREADS")


def cases():
    """(name, callable, point) for each deviance; the point is near the optimum."""
    import numpy as np
    import lmerpy
    from lmerpy.datasets import load
    sleep, cbpp = load("sleepstudy"), load("cbpp")
    lmm = lmerpy.mkLmerDevfun(lmerpy.lFormula("Reaction ~ Days + (Days|Subject)", sleep))
    glf = lmerpy.glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                           family="binomial")
    g0 = lmerpy.mkGlmerDevfun(glf)
    g1 = lmerpy.updateGlmerDevfun(lmerpy.mkGlmerDevfun(glf), nAGQ=1)
    theta = np.array([0.9667, 0.0152, 0.2309])
    pars1 = np.array([0.642, -1.3983, -0.9919, -1.128, -1.5797])
    return [
        ("sleepstudy LMM devfun", lmm, theta),
        ("sleepstudy LMM gradient", lmm.gradient, theta),
        ("cbpp GLMM nAGQ=0 devfun", g0, np.array([0.642])),
        ("cbpp GLMM nAGQ=1 devfun", g1, pars1),
    ]


def threads_inside(f, x):
    """The BLAS pools' thread counts seen from inside an evaluation of ``f`` at ``x``."""
    import threadpoolctl
    seen = []
    import numpy as np
    orig = np.asarray

    # threadpoolctl's info is read in a callback run by the evaluation itself: the first
    # np.asarray call inside it (every deviance converts its argument)
    def spy(*a, **k):
        if not seen:
            seen.append(sorted({d["num_threads"] for d in threadpoolctl.threadpool_info()
                                if d["user_api"] == "blas"}))
        return orig(*a, **k)
    np.asarray = spy
    try:
        f(x * (1.0 - 1e-3))
    finally:
        np.asarray = orig
    return seen[0] if seen else None


def points(x, n):
    """``n`` points near ``x``, all different (a deviance keeps its last evaluation: the same
    point twice would time the cache)."""
    import numpy as np
    return [x * (1.0 + 1e-4 * ((k % 50) + 1)) for k in range(n)]


def per_eval(f, x, n):
    ts = []
    for p in points(x, n):
        t = time.perf_counter()
        f(p)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", type=int, nargs="?", const=1, default=0,
                    help="busy-loop processes meanwhile (--busy alone: one)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--evals", type=int, default=200)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--tree", help="the checkout whose lmerpy is timed (default: this one)")
    args = ap.parse_args()
    import threadpoolctl
    import lmerpy
    found = {k: os.environ[k] for k in THREAD_VARS if os.environ.get(k)}
    cs = cases()
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(args.busy)]
    if procs:
        time.sleep(0.5)
    try:
        for _, f, x in cs:                      # warm-up
            for p in points(x, 20):
                f(p)
        inside = {name: threads_inside(f, x) for name, f, x in cs}
        times = {name: {"plain": [], "one": []} for name, _, _ in cs}
        load0 = os.getloadavg()[0]
        for r in range(args.rounds):
            order = ("plain", "one") if r % 2 == 0 else ("one", "plain")
            for name, f, x in cs:
                for mode in order:
                    if mode == "one":
                        with threadpoolctl.threadpool_limits(1):
                            times[name][mode].append(per_eval(f, x, args.evals))
                    else:
                        times[name][mode].append(per_eval(f, x, args.evals))
        load1 = os.getloadavg()[0]
    finally:
        for proc in procs:       # only the processes started here, by their handles
            proc.kill()
            proc.wait()
    out = {"lmerpy": lmerpy.__file__, "thread_vars": found, "busy": args.busy,
           "rounds": args.rounds, "evals": args.evals, "load": [load0, load1],
           "pools": [(d["internal_api"], d["num_threads"])
                     for d in threadpoolctl.threadpool_info()], "cases": {}}
    print(f"lmerpy {lmerpy.__file__}; thread variables {found or 'none'}; busy loops "
          f"{args.busy}; load {load0:.2f} -> {load1:.2f}; pools {out['pools']}")
    print(f"{'case':28s} {'plain us':>10s} {'one us':>10s} {'plain/one':>10s}  threads inside")
    for name, _, _ in cs:
        p = statistics.median(times[name]["plain"]) * 1e6
        o = statistics.median(times[name]["one"]) * 1e6
        out["cases"][name] = {"plain_us": p, "one_us": o, "ratio": p / o,
                              "threads_inside": inside[name]}
        print(f"{name:28s} {p:10.1f} {o:10.1f} {p / o:10.2f}  {inside[name]}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
