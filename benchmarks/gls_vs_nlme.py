"""lmerpy.gls vs nlme::gls on every correlation structure, side by side (``make bench`` runs the
corAR1 case with the harness, ``--group nlme``; this script compares all structures at once):

    python benchmarks/gls_vs_nlme.py [--groups 1000] [--size 100] [--reps 1] [--no-r]

Simulates ``groups x size`` rows (AR(1) errors within groups, phi = 0.6, a larger standard
deviation in one treatment arm), writes them as CSV, fits each structure with lmerpy and,
when ``Rscript`` with nlme is installed, with nlme on the same CSV
(benchmarks/gls_vs_nlme.R), and prints the seconds per fit and the ratio. Both sides include
building the model frame and nlme's ``apVar``; one BLAS thread is advised
(``OPENBLAS_NUM_THREADS=1``).
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import synthetic  # noqa: E402
from lmerpy import nlme  # noqa: E402

FORMULA = "y ~ x + t + trt"
CASES = {
    "corAR1": lambda: dict(correlation=nlme.corAR1(form="~ 1 | g")),
    "corAR1 (~ t | g)": lambda: dict(correlation=nlme.corAR1(form="~ t | g")),
    "corAR1 + varIdent": lambda: dict(correlation=nlme.corAR1(form="~ 1 | g"),
                                      weights=nlme.varIdent(form="~ 1 | trt")),
    "corCompSymm": lambda: dict(correlation=nlme.corCompSymm(form="~ 1 | g")),
    "corCAR1": lambda: dict(correlation=nlme.corCAR1(form="~ t | g")),
    "corARMA(1, 1)": lambda: dict(correlation=nlme.corARMA(form="~ 1 | g", p=1, q=1)),
}


def simulate(groups: int, size: int, seed: int = 1) -> pd.DataFrame:
    """The data of the gls cases (:func:`benchmarks.synthetic.gls_ar1`)."""
    return synthetic.gls_ar1(groups, size, seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args(argv)
    data = simulate(args.groups, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "gls.csv"
        data.to_csv(csv, index=False)
        frame = pd.read_csv(csv)
        ours = {}
        for name, make in CASES.items():
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                fit = nlme.gls(FORMULA, frame, **make())
                times.append(time.perf_counter() - t0)
            ours[name] = (min(times), float(fit.logLik()))
        theirs = {}
        if not args.no_r and shutil.which("Rscript"):
            out = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "gls_vs_nlme.R"), str(csv),
                                  str(args.reps)], capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                if line.startswith("@@ "):
                    rec = json.loads(line[3:])
                    theirs[rec["case"]] = (rec["seconds"], rec["logLik"])
    print(f"{args.groups} groups x {args.size} rows = {len(data)} rows; formula {FORMULA}")
    print(f"{'case':22s} {'lmerpy s':>9s} {'nlme s':>9s} {'ratio':>7s}  logLik (lmerpy / nlme)")
    for name, (sec, ll) in ours.items():
        if name in theirs:
            rs, rll = theirs[name]
            print(f"{name:22s} {sec:9.2f} {rs:9.2f} {rs / sec:6.1f}x  {ll:.4f} / {rll:.4f}")
        else:
            print(f"{name:22s} {sec:9.2f} {'-':>9s} {'-':>7s}  {ll:.4f}")


if __name__ == "__main__":
    main()
