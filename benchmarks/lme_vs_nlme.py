"""lmerpy.lme vs nlme::lme, side by side (issue 13's performance cases; not part of ``make
bench`` yet):

    python benchmarks/lme_vs_nlme.py [--reps 5] [--no-r] [--no-insteval]

Fits each case with lmerpy (in this process, after one warm-up fit per case) and, when
``Rscript`` with nlme is installed, with nlme on the same data (benchmarks/lme_vs_nlme.R: one
warm R process, one warm-up fit per case too), the repetitions alternating lmerpy, nlme,
lmerpy, ... so both meet the same machine load, and prints the median seconds per fit, the
ratio nlme / lmerpy and both log-likelihoods. The data are nlme's
(tests/reference/nlme/data), lme4's InstEval (varIdent by service, random intercepts of the
instructors) and a simulated 1,000 subjects x 20 visits with AR(1) errors. One BLAS thread
is advised (``OPENBLAS_NUM_THREADS=1``); report the load average with the numbers (the fits
are short: the machine's load moves them).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import lmerpy  # noqa: E402
from _nlme_reference import load_nlme_data  # noqa: E402

OVARY = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"


def simulate(groups: int = 1000, size: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    t = np.tile(np.arange(1, size + 1), groups)
    z = rng.normal(size=(groups, size))
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    for j in range(1, size):
        e[:, j] = 0.6 * e[:, j - 1] + 0.8 * z[:, j]
    u = rng.normal(size=groups)[g]
    y = 1 + 0.05 * t + u + e.ravel()
    return pd.DataFrame({"y": y, "t": t.astype(float), "g": [f"s{k:04d}" for k in g]})


def cases(insteval: bool):
    O, Ov, B, Oa = (load_nlme_data(n) for n in ("Orthodont", "Ovary", "BodyWeight", "Oats"))
    out = {
        "Orthodont ~1|Subject": lambda: lmerpy.lme("distance ~ age", O, random="~ 1 | Subject"),
        "Orthodont + varIdent": lambda: lmerpy.lme(
            "distance ~ age * Sex", O, random="~ 1 | Subject",
            weights=lmerpy.varIdent(form="~ 1 | Sex")),
        "Ovary + corAR1": lambda: lmerpy.lme(OVARY, Ov, random="~ 1 | Mare",
                                             correlation=lmerpy.corAR1(form="~ 1 | Mare")),
        "BodyWeight varPower+CAR1": lambda: lmerpy.lme(
            "weight ~ Time * Diet", B, random="~ Time | Rat", weights=lmerpy.varPower(),
            correlation=lmerpy.corCAR1(form="~ Time | Rat")),
        "Oats ~1|Block/Variety": lambda: lmerpy.lme("yield ~ nitro", Oa,
                                                    random="~ 1 | Block/Variety"),
    }
    sim = simulate()
    out["sim 20k ~1|g + corAR1"] = lambda: lmerpy.lme("y ~ t", sim, random="~ 1 | g",
                                                      correlation=lmerpy.corAR1())
    if insteval:
        ie = lmerpy.datasets.load("InstEval")
        ie = ie.assign(yy=ie["y"].astype(float))
        out["InstEval ~1|d + varIdent"] = lambda: lmerpy.lme(
            "yy ~ service", ie, random="~ 1 | d", weights=lmerpy.varIdent(form="~ 1 | service"))
    return out, sim


class _NlmeServer:
    """The nlme side as one warm R process answering one fit per request (alternation)."""

    def __init__(self, csv, insteval):
        self.proc = subprocess.Popen(
            ["Rscript", str(ROOT / "benchmarks" / "lme_vs_nlme.R"),
             str(ROOT / "tests" / "reference" / "nlme" / "data"), str(csv), "0",
             "1" if insteval else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._read(lambda line: line.startswith("@@ready"))

    def _read(self, done):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the nlme process ended early (is nlme installed?)")
            if done(line):
                return line

    def fit(self, name, warm=False):
        self.proc.stdin.write(("warm " if warm else "") + name + "\n")
        self.proc.stdin.flush()
        rec = json.loads(self._read(lambda line: line.startswith("@@ "))[3:])
        return rec["seconds"], rec["logLik"]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-insteval", action="store_true")
    args = ap.parse_args(argv)
    todo, sim = cases(not args.no_insteval)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if not args.no_r and shutil.which("Rscript"):
            csv = Path(tmp) / "sim.csv"
            sim.to_csv(csv, index=False)
            server = _NlmeServer(csv, not args.no_insteval)
        ours, theirs, loads = {}, {}, []
        try:
            for name, fit in todo.items():
                loads.append(os.getloadavg()[0])
                fit()                                   # warm-ups
                if server is not None:
                    server.fit(name, warm=True)
                mine, rs = [], []
                for _ in range(args.reps):              # alternating: lmerpy, nlme, ...
                    t0 = time.perf_counter()
                    m = fit()
                    mine.append(time.perf_counter() - t0)
                    if server is not None:
                        sec, rll = server.fit(name)
                        rs.append(sec)
                ours[name] = (statistics.median(mine), float(m.logLik()))
                if server is not None:
                    theirs[name] = (statistics.median(rs), rll)
            loads.append(os.getloadavg()[0])
        finally:
            if server is not None:
                server.close()
    print(f"median of {args.reps} fits per side after a warm-up, alternating lmerpy and nlme; "
          f"1-min load average {min(loads):.2f}-{max(loads):.2f}")
    print(f"{'case':26s} {'lmerpy s':>9s} {'nlme s':>9s} {'ratio':>7s}  logLik (lmerpy / nlme)")
    for name, (sec, ll) in ours.items():
        if name in theirs:
            rs, rll = theirs[name]
            print(f"{name:26s} {sec:9.4f} {rs:9.4f} {rs / sec:6.2f}x  {ll:.6f} / {rll:.6f}")
        else:
            print(f"{name:26s} {sec:9.4f} {'-':>9s} {'-':>7s}  {ll:.6f}")


if __name__ == "__main__":
    main()
