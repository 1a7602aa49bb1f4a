"""Two lmerpy checkouts side by side on the small LMM cases, per phase of the fit:
``python benchmarks/small_ab.py ROOT_A ROOT_B [--blocks 15] [--cases sleepstudy,penicillin,pastes]``.

Each checkout runs in a warm process of its own (one BLAS thread) that imports lmerpy from its
root; blocks of 20 fits of each case alternate between the two (A first in even blocks, B
first in odd ones). Every block reports the CPU and wall time per fit and the wall time per
fit of the phases (``lFormula``, ``mkLmerDevfun``, the Newton iterations with their
evaluations and derivative passes, the post-fit Hessian, ``check_conv``, ``mkMerMod``),
timed by wrappers around those functions; the table gives the medians over the blocks and
the ratio A / B (above 1: B is faster). On a busy machine the CPU column is the steadier one.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ab  # noqa: E402

CASES = ("sleepstudy", "penicillin", "pastes")
PHASES = ("cpu", "wall", "lFormula", "mkLmerDevfun", "newton", "evaluations", "derivatives",
          "post-fit Hessian", "check_conv", "mkMerMod")

_WORKER = ab.WORKER_PRELUDE + r'''
import lmerpy.design as D
import lmerpy.models.lmm as LM
import lmerpy.optimize as O
import lmerpy.optimize.lmer as L
import lmerpy.optimize.newton as NW
from lmerpy.pls.lmm.deviance import LmmDeviance

D.lFormula = timed(D.lFormula, "lFormula")
LM.mkLmerDevfun = timed(LM.mkLmerDevfun, "mkLmerDevfun")
LM.mkMerMod = timed(LM.mkMerMod, "mkMerMod")
L.trust_newton = timed(L.trust_newton, "newton")
L._post_fit_derivs = timed(L._post_fit_derivs, "post-fit Hessian")
O.check_conv = timed(O.check_conv, "check_conv")
_md = NW.model_derivatives
L.model_derivatives = lambda devfun: timed(_md(devfun), "derivatives")
LmmDeviance.__call__ = timed(LmmDeviance.__call__, "evaluations")
cases = {nm: (C.BY_NAME[nm].formula, C.load_data(C.BY_NAME[nm])) for nm in sys.argv[2].split(",")}
for f, d in cases.values():
    for _ in range(20):
        lmerpy.lmer(f, d)
print("ready", flush=True)
for line in sys.stdin:
    nm, n = line.split()
    n = int(n)
    f, d = cases[nm]
    acc.clear()
    c0, t0 = time.process_time(), clk()
    for _ in range(n):
        lmerpy.lmer(f, d)
    row = {k: v / n * 1e6 for k, v in acc.items()}
    row["wall"] = (clk() - t0) / n * 1e6
    row["cpu"] = (time.process_time() - c0) / n * 1e6
    print(json.dumps(row), flush=True)
'''


def main(argv=None):
    p = ab.parser(__doc__, 15, CASES)
    p.add_argument("--fits", type=int, default=20, help="fits per block")
    args = p.parse_args(argv)
    cases = args.cases.split(",")
    res = ab.run(_WORKER, args, cases, lambda c: f"{c} {args.fits}", f" of {args.fits} fits")
    ab.print_tables(res, cases, PHASES, "µs per fit", ".0f")
    return 0


if __name__ == "__main__":
    sys.exit(main())
