"""Two lmerpy checkouts side by side on the GLMM cases, per phase of the fit:
``python benchmarks/glmm_ab.py ROOT_A ROOT_B [--blocks 11] [--cases cbpp,grouseticks,verbagg]``.

Each checkout runs in a warm process of its own (one BLAS thread) that imports lmerpy from its
root; blocks of fits of each case alternate between the two (A first in even blocks, B first
in odd ones). Every block reports the CPU and wall time per fit and the wall time per fit of
glmer's phases (``glFormula``, ``mkGlmerDevfun``, stage 1 and stage 2 of ``optimizeGlmer``
— the second with its post-fit Hessian, also shown alone — and ``mkGlmerMod``), timed by
wrappers around those functions; the table gives the medians over the blocks and the ratio
A / B (above 1: B is faster). On a busy machine the CPU column is the steadier one. Each
side also prints −2 log L of its last fit, so that a change of the optimum shows.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ab  # noqa: E402

CASES = ("cbpp", "grouseticks", "verbagg")
PHASES = ("cpu", "wall", "glFormula", "mkGlmerDevfun", "stage 1", "stage 2",
          "post-fit Hessian", "mkGlmerMod")

_WORKER = ab.WORKER_PRELUDE + r'''
import warnings
warnings.simplefilter("ignore")
import lmerpy.models.glmm as G
import lmerpy.optimize.lmer as L

G.glFormula = timed(G.glFormula, "glFormula")
G.mkGlmerDevfun = timed(G.mkGlmerDevfun, "mkGlmerDevfun")
G.mkGlmerMod = timed(G.mkGlmerMod, "mkGlmerMod")
G.optimizeGlmer = timed(G.optimizeGlmer,
                        lambda a: "stage 1" if a[0].nAGQ == 0 else "stage 2")
L._post_fit_derivs = timed(L._post_fit_derivs, "post-fit Hessian")
cases = {}
for nm in sys.argv[2].split(","):
    c = C.BY_NAME[nm]
    cases[nm] = (c.formula, C.load_data(c), c.family)
for f, d, fam in cases.values():
    for _ in range(3):
        lmerpy.glmer(f, d, family=fam)
print("ready", flush=True)
for line in sys.stdin:
    nm, n = line.split()
    n = int(n)
    f, d, fam = cases[nm]
    acc.clear()
    c0, t0 = time.process_time(), clk()
    for _ in range(n):
        fit = lmerpy.glmer(f, d, family=fam)
    row = {k: v / n * 1e3 for k, v in acc.items()}
    row["wall"] = (clk() - t0) / n * 1e3
    row["cpu"] = (time.process_time() - c0) / n * 1e3
    row["m2ll"] = -2.0 * float(fit.logLik())
    print(json.dumps(row), flush=True)
'''

FITS = {"cbpp": 20, "grouseticks": 4, "verbagg": 2}


def main(argv=None):
    p = ab.parser(__doc__, 11, CASES)
    p.add_argument("--cpu", type=int, default=None,
                   help="pin both workers to this CPU (the same core for both sides: on a "
                        "shared machine the two cores' loads differ)")
    args = p.parse_args(argv)
    cases = args.cases.split(",")
    res = ab.run(_WORKER, args, cases, lambda c: f"{c} {FITS.get(c, 2)}", cpu=args.cpu)
    for c in cases:
        ab.print_tables(res, [c], PHASES, "ms per fit", ".2f", ratio_fmt=".3f")
        print(f"-2 log L: A {res[('A', c, 'm2ll')][-1]:.10f}, "
              f"B {res[('B', c, 'm2ll')][-1]:.10f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
