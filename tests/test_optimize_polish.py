"""lmerpy.optimize.polish: the optimality (KKT) test at the optimizer's end point, the
continuation from a failed one, and the Newton steps (lmerControl(polish=True), lmer's default).

Expected values: the optimality conditions written out for small synthetic derivatives, and
Sitka's growth-curve model, where lme4 1.1-31 stops on a boundary that is not a minimum
(tests/reference/teaching/sitka_growth.json).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.optimize import lmerControl, minimize_bounded
from lmerpy.optimize.polish import kkt_restart_point, newton_polish

SITKA = json.loads((Path(__file__).parent / "reference" / "teaching" /
                    "sitka_growth.json").read_text())
#: the θ of a (1 + x + z | g) term: template columns (θ0, θ1, θ2), (θ3, θ4), (θ5)
COLUMNS = [np.array([0, 1, 2]), np.array([3, 4]), np.array([5])]
LOWER = np.array([0.0, -np.inf, -np.inf, 0.0, -np.inf, 0.0])
UPPER = np.full(6, np.inf)


def _derivs(g, hdiag, off=0.0):
    H = np.diag(np.asarray(hdiag, dtype=float))
    H[0, 1] = H[1, 0] = off
    return {"gradient": np.asarray(g, dtype=float), "Hessian": H}


def _kkt(theta, derivs, columns=COLUMNS):
    return kkt_restart_point(np.asarray(theta, dtype=float), derivs, LOWER, UPPER, columns,
                             grad_tol=2e-3, hess_tol=1e-6)


def test_a_diagonal_on_its_bound_with_a_free_column_sign():
    # θ3 = 0 with θ4 != 0: negating the column (θ3, θ4) leaves ΛΛ' as it is, so a positive
    # slope +6 along θ3 is a slope -6 into the interior once negated
    theta = [14.0, -7.6, 1.5, 0.0, -0.34, 0.54]
    start = _kkt(theta, _derivs([0, 0, 0, 6.0, 0, 0], [1, 1, 1, 12.0, 1, 1]))
    assert start == pytest.approx([14.0, -7.6, 1.5, 0.5, 0.34, 0.54])
    # a negative slope needs no negation
    start = _kkt(theta, _derivs([0, 0, 0, -6.0, 0, 0], [1, 1, 1, 12.0, 1, 1]))
    assert start == pytest.approx([14.0, -7.6, 1.5, 0.5, -0.34, 0.54])
    # a slope within lme4's scaled tolerance (|g|/√h = 1e-3 < 2e-3) passes
    assert _kkt(theta, _derivs([0, 0, 0, 3.6e-3, 0, 0], [1, 1, 1, 12.96, 1, 1])) is None


def test_a_diagonal_on_its_bound_alone_in_its_column():
    # θ5 = 0 (the last column has no other entry): the sign is not free, and the slope is 0
    # by symmetry; a positive one-sided slope is optimal, a negative curvature is not
    theta = [1.0, 0.2, 0.1, 0.8, 0.3, 0.0]
    assert _kkt(theta, _derivs([0, 0, 0, 0, 0, 5.0], [1, 1, 1, 1, 1, 2.0])) is None
    assert _kkt(theta, _derivs([0] * 6, [1, 1, 1, 1, 1, 2.0])) is None
    start = _kkt(theta, _derivs([0] * 6, [1, 1, 1, 1, 1, -0.5]))
    assert start == pytest.approx([1.0, 0.2, 0.1, 0.8, 0.3, 1.0])       # lme4's start value
    # θ3 = 0 with θ4 = 0 as well: no sign to free either
    theta = [1.0, 0.2, 0.1, 0.0, 0.0, 0.4]
    assert _kkt(theta, _derivs([0, 0, 0, 5.0, 0, 0], [1] * 6)) is None
    assert _kkt(theta, _derivs([0, 0, 0, -5.0, 0, 0], [1] * 6))[3] == pytest.approx(5.0)


def test_without_template_columns_each_theta_is_its_own():
    theta = [1.0, 0.2, 0.1, 0.0, -0.34, 0.54]
    assert _kkt(theta, _derivs([0, 0, 0, 6.0, 0, 0], [1] * 6), columns=None) is None
    assert _kkt(theta, _derivs([0, 0, 0, -6.0, 0, 0], [1] * 6), columns=None)[3] == 6.0


def test_an_indefinite_hessian_off_the_bounds():
    theta = np.array([1.0, 0.2, 0.1, 0.8, 0.3, 0.5])
    assert _kkt(theta, _derivs([0] * 6, [1] * 6, off=0.5)) is None
    start = _kkt(theta, _derivs([0] * 6, [1] * 6, off=2.0))    # eigenvalue -1
    assert np.array_equal(start, theta)


def test_newton_polish_one_step_on_a_quadratic():
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    xmin = np.array([0.7, 0.4])

    class Quad:
        def __call__(self, x):
            d = np.asarray(x) - xmin
            return float(d @ A @ d) + 10.0

        def gradient(self, x):
            return 2 * A @ (np.asarray(x) - xmin)

    f, log = Quad(), []

    def logged(x):
        log.append(x)
        return f(x)
    x0 = np.array([0.72, 0.39])
    d = {"gradient": f.gradient(x0), "Hessian": 2 * A}
    x, fx, g, steps = newton_polish(f, logged, x0, f(x0), d, np.zeros(2), np.full(2, np.inf))
    assert steps == 1 and len(log) == 1             # the second step's decrease is rounding
    assert x == pytest.approx(xmin, abs=1e-15) and fx == 10.0
    assert np.all(g == f.gradient(x))
    # at the optimum already: nothing is evaluated
    log.clear()
    d = {"gradient": f.gradient(xmin), "Hessian": 2 * A}
    assert newton_polish(f, logged, xmin, 10.0, d, np.zeros(2), np.full(2, np.inf))[3] == 0
    assert log == []


@pytest.fixture(scope="module")
def sitka():
    df = lmerpy.datasets.load("Sitka")
    df["time"] = df["Time"] / 100
    return df


def test_sitka_continues_from_lme4s_end_point(sitka):
    """From lme4's own end point (θ4 = 0, ∂d/∂θ4 = +6.08 with the column's sign free), the
    default continues to the interior optimum, logLik 65.9388 (lme4: 49.5231); lme4's path
    (polish=False) stays there."""
    m0 = SITKA["models"]["m0"]
    theta_lme4 = np.asarray(m0["theta"])

    def stops_at_lme4(fun, x0, lower, upper):
        if not np.array_equal(x0, theta_lme4):
            return {"x": theta_lme4, "fun": fun(theta_lme4)}
        return minimize_bounded(fun, x0, lower, upper, method="bobyqa")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lme4 = lmerpy.lmer(m0["formula"], sitka, REML=False,
                           control=lmerControl(optimizer=stops_at_lme4, polish=False))
        fit = lmerpy.lmer(m0["formula"], sitka, REML=False,
                          control=lmerControl(optimizer=stops_at_lme4))
    assert float(lme4.logLik()) == pytest.approx(m0["logLik"], abs=1e-8)
    assert lme4.isSingular() and not lme4.optsum.kkt_restart
    assert fit.optsum.kkt_restart
    assert float(fit.logLik()) == pytest.approx(65.9387996, abs=1e-6)
    assert not fit.isSingular() and fit.optsum.conv_messages == []
    assert np.max(np.abs(fit.optsum.derivs["gradient"])) < 1e-5
