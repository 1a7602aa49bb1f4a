"""Two lmerpy checkouts side by side on mid-size ``lme`` fits with a residual structure:
``python benchmarks/lme_ab.py ROOT_A ROOT_B [--blocks 9] [--fits 2] [--builds 10] [--insteval]``.

Each checkout runs in a warm process of its own (one BLAS thread) that imports lmerpy from its
root; blocks alternate between the two (A first in even blocks, B first in odd ones). A block
of a case times ``--fits`` whole fits (wall and CPU per fit, and the time spent building
deviances inside them: ``LmeCriterion.deviance_at`` at a structure value not seen before, the
whitening included) and then ``--builds`` deviances at fresh structure values of the fitted
criterion (median ms per structure value: what one value costs before its inner
minimisation). The table gives the medians over the blocks and the ratio A / B (above 1: B is
faster), with the 1-minute load average.

Cases (simulated, ``y ~ t``; 300 subjects x 100 visits = 30,000 rows; arm: 3 levels):
``slope varIdent`` (``~ t | g``, ``varIdent(~ 1 | arm)``: q = 600), ``slope corAR1``
(``corAR1(~ 1 | g)``), ``nested varIdent`` (``~ 1 | a/g``, 60 a's: q = 360 with a 60-square
dense block), and with ``--insteval`` InstEval's ``~ 1 | d`` + ``varIdent(~ 1 | dept)``
(73,421 rows, q = 1,128, 13 variance ratios: docs/performance.md's nlme case; builds only
unless ``--insteval-fits N``: its fit takes seconds).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ab  # noqa: E402

CASES = ("slope varIdent", "slope corAR1", "nested varIdent")
FIELDS = ("wall", "cpu", "build in fit", "builds per fit", "build")

_WORKER = ab.WORKER_PRELUDE + r'''
import numpy as np, pandas as pd
from lmerpy.nlme import lme_estimate as LE
acc = {"t": 0.0, "n": 0}
_dev_at = LE.LmeCriterion.deviance_at

def deviance_at(self, spar, *args, **kwargs):
    key = np.asarray(spar, dtype=float).reshape(-1).tobytes()
    if not self.has_structure or (key in self._cache and not (args or kwargs)):
        return _dev_at(self, spar, *args, **kwargs)
    t = clk()
    try:
        return _dev_at(self, spar, *args, **kwargs)
    finally:
        acc["t"] += clk() - t
        acc["n"] += 1

LE.LmeCriterion.deviance_at = deviance_at

def simulate(G=300, m=100, seed=1):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    t = np.tile(np.arange(1.0, m + 1.0), G) / 10.0
    arm = rng.integers(0, 3, G)[g]
    a = g // 5
    z = rng.normal(size=(G, m))
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    for j in range(1, m):
        e[:, j] = 0.5 * e[:, j - 1] + 0.87 * z[:, j]
    y = (1 + 0.3 * t + rng.normal(size=G // 5)[a] + rng.normal(size=G)[g]
         + 0.3 * rng.normal(size=G)[g] * t + e.ravel() * (1.0 + 0.5 * arm))
    return pd.DataFrame({"y": y, "t": t, "g": [f"s{k:03d}" for k in g],
                         "a": [f"A{k:02d}" for k in a], "arm": [f"a{k}" for k in arm]})

d = simulate()
cases = {
    "slope varIdent": lambda: lmerpy.lme("y ~ t", d, random="~ t | g",
                                         weights=lmerpy.varIdent(form="~ 1 | arm")),
    "slope corAR1": lambda: lmerpy.lme("y ~ t", d, random="~ t | g",
                                       correlation=lmerpy.corAR1(form="~ 1 | g")),
    "nested varIdent": lambda: lmerpy.lme("y ~ t", d, random="~ 1 | a/g",
                                          weights=lmerpy.varIdent(form="~ 1 | arm")),
}
if "InstEval" in sys.argv[2]:
    ie = lmerpy.datasets.load("InstEval")
    ie = ie.assign(yy=ie["y"].astype(float))
    cases["InstEval"] = lambda optimize=False: lmerpy.lme(
        "yy ~ service", ie, random="~ 1 | d", weights=lmerpy.varIdent(form="~ 1 | dept"),
        control=lmerpy.lmeControl(optimize=optimize))
fits = {nm: cases[nm]() for nm in sys.argv[2].split(",")}     # warm-up, and the criteria
print("ready", flush=True)
for line in sys.stdin:
    nm, n, nb = line.rstrip("\n").rsplit(" ", 2)
    n, nb = int(n), int(nb)
    row = {}
    if n:
        acc["t"], acc["n"] = 0.0, 0
        c0, t0 = time.process_time(), clk()
        for _ in range(n):
            fits[nm] = cases[nm]() if nm != "InstEval" else cases[nm](True)
        row["wall"] = (clk() - t0) / n * 1e3
        row["cpu"] = (time.process_time() - c0) / n * 1e3
        row["build in fit"] = acc["t"] / n * 1e3
        row["builds per fit"] = acc["n"] / n
    crit = fits[nm].criterion
    s0 = np.asarray(fits[nm].estimate.spar, dtype=float)
    ts = []
    for k in range(nb):
        crit._cache.clear()
        s = s0 + 0.003 * (k + 1)
        t = clk()
        crit.deviance_at(s)
        ts.append(clk() - t)
    row["build"] = statistics.median(ts) * 1e3
    print(json.dumps(row), flush=True)
'''


def main(argv=None):
    p = ab.parser(__doc__, 9, CASES)
    p.add_argument("--fits", type=int, default=2, help="fits per block")
    p.add_argument("--builds", type=int, default=10, help="fresh structure values per block")
    p.add_argument("--insteval", action="store_true", help="add InstEval (builds)")
    p.add_argument("--insteval-fits", type=int, default=0,
                   help="whole InstEval fits per block (default 0: builds only)")
    args = p.parse_args(argv)
    cases = args.cases.split(",") + (["InstEval"] if args.insteval else [])

    def request(c):
        nf = args.insteval_fits if c == "InstEval" else args.fits
        return f"{c} {nf} {args.builds}"
    res = ab.run(_WORKER, args, cases, request,
                 f" of {args.fits} fits and {args.builds} builds per case")
    ab.print_tables(res, cases, FIELDS, "ms", ".3g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
