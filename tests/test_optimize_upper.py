"""The optimizer stage with upper bounds (lme4 2.x: a correlation of a ``cs``/``ar1`` term is at
most 1): boundary snapping onto an upper bound (``check.boundary``), ``restart_edge`` from an
upper bound, and ``checkConv``'s singular test min(par − lower, upper − par) < tol.

Where the end point itself is the subject, the fits take lme4's path (``polish=False``).

lme4 2.1's restart_edge takes the one-sided difference quotient at an upper bound with the
opposite sign (it restarts when the deviance *rises* into the interior); here both bounds ask
the same question — does the deviance fall into the interior? — so a fit that ends on ρ = 1
because ρ = 1 is its optimum is not restarted.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from _structured import structured_formula

import lmerpy
from lmerpy.datasets import load
from lmerpy.design import lFormula
from lmerpy.optimize import lmerControl, optimize_lmer
from lmerpy.optimize.checks import check_conv, near_bound
from lmerpy.optimize.minimize import minimize_bounded
from lmerpy.pls import LmmDeviance

F = "y ~ Days + ar1(0 + Dg | Subject)"


@pytest.fixture(scope="module")
def data():
    d = load("sleepstudy").copy()
    d["Dg"] = pd.Categorical(np.array(["a", "b", "c"])[np.minimum(d["Days"].to_numpy() // 4, 2)])
    rng = np.random.default_rng(1)
    # "interior": sleepstudy's reaction times (ρ̂ = 0.78); "edge": a random intercept, ρ̂ = 1
    d["interior"] = d["Reaction"]
    d["edge"] = (300 + 5.0 * d["Days"] + 40.0 * np.repeat(rng.normal(size=18), 10)
                 + 10.0 * rng.normal(size=180))
    return d


def _dev(data, y):
    return LmmDeviance(lFormula(structured_formula(F), data.assign(y=data[y])))


def _bobyqa(fun, x0, lower, upper):
    return minimize_bounded(fun, np.asarray(x0, float), np.asarray(lower, float),
                            np.asarray(upper, float), method="bobyqa",
                            settings={"initial_step": 0.2, "xtol_abs": 1e-8, "xtol_rel": 0.0,
                                      "ftol_abs": 0.0, "maxeval": 2000})


def test_upper_bounds_reach_the_optimizer(data):
    dev = _dev(data, "interior")
    np.testing.assert_array_equal(dev.upper, [np.inf, 1.0])
    opt = optimize_lmer(dev, dev.par0, dev.lower)          # upper from the deviance
    np.testing.assert_array_equal(opt.upper, [np.inf, 1.0])
    assert opt.theta[1] < 1.0


def test_snapping_onto_the_upper_bound(data):
    dev = _dev(data, "edge")
    best = _bobyqa(dev, dev.par0, dev.lower, dev.upper)
    assert best.x[1] == 1.0

    def stops_near_one(fun, x0, lower, upper):
        fun(x0)
        x = [best.x[0], 1.0 - 4e-6]
        return {"x": x, "fun": fun(x)}
    opt = optimize_lmer(dev, dev.par0, dev.lower, lmerControl(optimizer=stops_near_one,
                                                              polish=False))
    assert opt.theta[1] == 1.0 and opt.theta[0] == best.x[0]
    assert opt.fmin == dev([best.x[0], 1.0]) <= dev([best.x[0], 1.0 - 4e-6])
    off = optimize_lmer(dev, dev.par0, dev.lower,
                        lmerControl(optimizer=stops_near_one, boundary_tol=0, polish=False))
    assert off.theta[1] == 1.0 - 4e-6
    far = optimize_lmer(dev, dev.par0, dev.lower,
                        lmerControl(optimizer=stops_near_one, boundary_tol=1e-6, polish=False))
    assert far.theta[1] == 1.0 - 4e-6
    # lmerpy's default finish (polish: Newton steps, clipped to the bounds) ends on it too
    polished = optimize_lmer(dev, dev.par0, dev.lower,
                             lmerControl(optimizer=stops_near_one, boundary_tol=0))
    assert polished.theta[1] == 1.0


def test_restart_edge_from_the_upper_bound(data):
    """An optimizer that stops on ρ = 1 where the deviance falls into the interior is
    restarted from there (and reaches the interior optimum)."""
    dev = _dev(data, "interior")
    calls = []

    def first_on_the_bound(fun, x0, lower, upper):
        calls.append(np.array(x0))
        if len(calls) == 1:
            x = [1.5, 1.0]
            return {"x": x, "fun": fun(x)}
        res = _bobyqa(fun, x0, lower, upper)
        return {"x": res.x, "fun": res.fun}
    opt = optimize_lmer(dev, dev.par0, dev.lower, lmerControl(optimizer=first_on_the_bound))
    assert opt.restarted and len(calls) == 2
    np.testing.assert_array_equal(calls[1], [1.5, 1.0])          # restarted where it stopped
    ref = _bobyqa(dev, dev.par0, dev.lower, dev.upper)
    assert opt.fmin == pytest.approx(ref.fun, abs=1e-7) and opt.theta[1] < 0.9


def test_no_restart_where_the_upper_bound_is_the_optimum(data):
    dev = _dev(data, "edge")
    best = _bobyqa(dev, dev.par0, dev.lower, dev.upper)
    calls = []

    def on_the_bound(fun, x0, lower, upper):
        calls.append(1)
        x = [best.x[0], 1.0]
        return {"x": x, "fun": fun(x)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_lmer(dev, dev.par0, dev.lower, lmerControl(optimizer=on_the_bound))
    assert not opt.restarted and len(calls) == 1
    assert opt.theta[1] == 1.0


def test_singular_test_on_both_bounds(data):
    assert near_bound([0.5, 0.99995], [0.0, -1.0], [np.inf, 1.0], 1e-4)
    assert near_bound([0.5, -0.99995], [0.0, -1.0], [np.inf, 1.0], 1e-4)
    assert near_bound([5e-5, 0.3], [0.0, -1.0], [np.inf, 1.0], 1e-4)
    assert not near_bound([0.5, 0.9998], [0.0, -1.0], [np.inf, 1.0], 1e-4)
    # lme4 1.1's θ: lower bounds 0 and -inf, no upper bounds; (θ, β) with bounds for θ only
    assert near_bound([1.0, -5.0, 3e-5], [0.0, -np.inf, 0.0], None, 1e-4)
    assert not near_bound([1.0, -5.0, 2e-4, -1e9], [0.0, -np.inf, 0.0], None, 1e-4)
    dev = _dev(data, "edge")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_lmer(dev, dev.par0, dev.lower)
    assert opt.theta[1] == 1.0
    msgs = check_conv(dev, opt, dev.lower, lmerControl(check_conv_singular=("ignore", 1e-4)))
    assert msgs == []
    with pytest.warns(lmerpy.warnings.SingularFitWarning):
        msgs = check_conv(dev, opt, dev.lower)
    assert msgs == ["boundary (singular) fit: see help('isSingular')"]
