"""lme4's Nelder-Mead (lmerpy.optimize.neldermead) against lme4 1.1-31's ``Nelder_Mead``.

The expected values were printed by R 4.2.2 / lme4 1.1-31::

    r <- Nelder_Mead(fn, par, lower, upper, control = list(xst = ..., maxfun = ...,
                                                           MinfMax = ...))
    cat(r$feval, r$NM.result, sprintf("%.17g", r$fval), sprintf("%.17g", r$par))

(default xst 0.02, xt = 5e-4 xst). The implementation follows lme4's rules step by step, so on
these smooth test functions (plain double arithmetic on both sides) the evaluation counts are
equal and the results agree to rounding: tolerance 1e-12 relative (1e-14 absolute).
The glmer cases compare glmer's second stage with lme4's ``fit@optinfo`` (feval, par).
"""
import math

import numpy as np
import pytest

from lmerpy.errors import LmerpyError
from lmerpy.optimize import minimize_bounded
from lmerpy.optimize.neldermead import initial_simplex, nelder_mead

INF = math.inf
A3 = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def rosen(x):
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


def quad(x):
    d = x - np.array([0.7, -0.3, 1.2])
    return 5 + d @ (A3 @ d)


def bnd(x):
    return (x[0] + 1) ** 2 + 2 * (x[1] - 2) ** 2 + 0.5 * x[0] * x[1]


def wood(x):
    return (100 * (x[0] ** 2 - x[1]) ** 2 + (x[0] - 1) ** 2 + (x[2] - 1) ** 2
            + 90 * (x[2] ** 2 - x[3]) ** 2 + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
            + 19.8 * (x[1] - 1) * (x[3] - 1))


# (name, fn, par, lower, upper, xst, extra settings, lme4's feval, NM.result, fval, par)
LME4 = [
    ("rosenbrock", rosen, [-1.2, 1], None, None, None, {}, 205, 3,
     7.064186452286286e-12, [0.99999775296720816, 0.99999536398771016]),
    ("rosenbrock_box", rosen, [-1.2, 1], [-2, 0.5], [0.8, 3], [0.3, 0.1], {}, 73, 3,
     2.8995377735718812, [-0.69841475193498193, 0.5]),
    ("rosenbrock_maxfun", rosen, [-1.2, 1], None, None, None, {"maxeval": 20}, 21, 4,
     4.0779144845634674, [-1.0176660156249979, 1.0273144531250014]),
    ("quadratic_bounds", quad, [1, 0, 1], [0, -INF, 0], None, None, {}, 168, 3,
     5.0000000001038583, [0.69999917061187067, -0.30000556733141792, 1.2000005999919656]),
    ("active_bound", bnd, [1, 0], [0, -INF], None, None, {}, 74, 3,
     1.0000000000319096, [0.0, 2.0000039943448975]),
    ("wood", wood, [-3, -1, -3, -1], None, None, [0.5] * 4, {}, 648, 3,
     7.0141078869857214e-08, [1.0001221979842669, 1.0002414210271835, 0.99988332836594407,
                              0.99975310652591554]),
    ("no_room", bnd, [0, 0.5], [0, -1], [0.001, 0.5], [0.02, 0.02], {}, 5, 3, 5.5, [0.0, 0.5]),
    ("minfmax", rosen, [-1.2, 1], None, None, None, {"stopval": 0.5}, 90, 1,
     0.44246961654973593, [0.37524597432759466, 0.11797272361703588]),
]

#: lme4's NM.result -> minimize_bounded's NLopt-style status
STATUS = {3: 4, 4: 5, 1: 2}


@pytest.mark.parametrize("case", LME4, ids=[c[0] for c in LME4])
def test_same_path_as_lme4(case):
    name, fn, par, lo, hi, xst, extra, feval, nm_result, fval, xopt = case
    n = len(par)
    lo = np.full(n, -INF) if lo is None else np.array(lo, dtype=float)
    hi = np.full(n, INF) if hi is None else np.array(hi, dtype=float)
    xst = np.full(n, 0.02) if xst is None else np.array(xst, dtype=float)
    settings = {"initial_step": xst, "xtol_abs": 5e-4 * xst}
    settings.update(extra)
    calls = []

    def f(x):
        calls.append(x.copy())
        return fn(x)

    res = minimize_bounded(f, par, lo, hi, method="nelder_mead", settings=settings)
    assert res.feval == feval == len(calls) == len(res.fitlog)
    assert res.status == STATUS[nm_result]
    np.testing.assert_allclose(res.x, xopt, rtol=1e-12, atol=1e-14)
    assert res.fun == pytest.approx(fval, rel=1e-12, abs=1e-14)
    assert res.fun == min(v for _, v in res.fitlog)
    # the initial simplex is evaluated first, in order
    np.testing.assert_array_equal(np.array(calls[:n + 1]),
                                  initial_simplex(np.array(par, float), lo, hi, xst))


def test_messages_are_lme4s():
    res = minimize_bounded(rosen, [-1.2, 1], method="nelder_mead", settings={"maxeval": 20})
    assert res.message == "failure to converge in 20 evaluations"
    res = minimize_bounded(rosen, [-1.2, 1], method="nelder_mead")
    assert res.message == "parameter values converged to within tolerance"


def test_initial_simplex_rules():
    lo = np.array([0.0, 0.0, -1.0, 0.0])
    hi = np.array([INF, 1.0, 1.0, 0.05])
    x0 = np.array([0.001, 0.99, 0.0, 0.0])
    P = initial_simplex(x0, lo, hi, np.array([-0.02, 0.02, 5.0, 0.1]))
    assert P[0].tolist() == x0.tolist()
    assert P[1, 0] == 0.001 + 0.02  # past the bound, x0 within 0.1|step| of it: the other way
    assert P[2, 1] == 1.0         # beyond the upper bound, more than 0.1|step| away: onto it
    assert P[3, 2] == 1.0         # onto the upper bound
    assert P[4, 3] == 0.05        # onto the upper bound (more than 0.1|step| away)
    for j in range(1, 5):         # one coordinate moves per vertex
        assert np.count_nonzero(P[j] != x0) == 1
    Q = initial_simplex(np.array([0.005]), np.array([0.0]), np.array([INF]), np.array([-0.02]))
    assert Q[1, 0] == 0.0         # past the lower bound, more than 0.1|step| away: onto it
    Q = initial_simplex(np.array([0.001]), np.array([0.0]), np.array([0.0025]), np.array([0.02]))
    assert Q[1, 0] == 0.5 * (0.0025 + 0.001)   # no room either way: half-way to the farther bound


def test_no_feasible_simplex_is_an_lmerpy_error():
    with pytest.raises(LmerpyError, match="parameter 2 has no room"):
        minimize_bounded(bnd, [0.0, 1.0], [0.0, 1.0], [1.0, 1.0], method="nelder_mead")
    with pytest.raises(LmerpyError, match="nonzero"):
        minimize_bounded(bnd, [0.0, 1.0], method="nelder_mead",
                         settings={"initial_step": [0.1, 0.0]})


def test_nlopt_nelder_mead_stays_reachable():
    a = minimize_bounded(quad, [1.0, 0.0, 1.0], [0, -INF, 0], method="LN_NELDERMEAD",
                         settings={"xtol_abs": 1e-8, "xtol_rel": 0.0, "ftol_abs": 0.0,
                                   "initial_step": 0.02})
    b = minimize_bounded(quad, [1.0, 0.0, 1.0], [0, -INF, 0], method="nelder_mead")
    assert a.message.startswith("NLOPT_") and not b.message.startswith("NLOPT_")
    assert a.feval != b.feval
    np.testing.assert_allclose(a.x, [0.7, -0.3, 1.2], atol=1e-6)
    # an explicit NLopt algorithm setting runs NLopt
    c = minimize_bounded(quad, [1.0, 0.0, 1.0], [0, -INF, 0], method="nelder_mead",
                         settings={"algorithm": "LN_NELDERMEAD"})
    assert c.message.startswith("NLOPT_")


def test_stops_on_maxtime():
    res = nelder_mead(rosen, np.array([-1.2, 1.0]), np.full(2, -INF), np.full(2, INF),
                      np.full(2, 0.02), xtol_abs=1e-12, maxtime=1e-9)
    assert res.status == 6 and res.feval >= 1


def test_glmer_second_stage_is_lme4s_path():
    """cbpp: lme4's stage 2 (fit@optinfo) takes 285 evaluations to (θ, β) below (R: glmer(cbind
    (incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)); the first stage ends
    within 1e-9 of lme4's there, so the Nelder-Mead path is lme4's: same count, same point to
    1e-8 (the deviances agree to ~1e-12 relative)."""
    import lmerpy
    fit = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                       lmerpy.datasets.load("cbpp"), family="binomial",
                       control=lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"]))
    assert fit.optsum.optimizer_evals == 285
    np.testing.assert_allclose(
        fit.optsum.theta, [0.64206992772917926, -1.39834286447114531, -0.99192497497573884,
                           -1.12821621594333976, -1.57974541364919197], rtol=0, atol=1e-8)
