"""The LMM deviance on lme4 2.x's ``par`` scale (structured covariance terms).

``LmmDeviance`` takes ``par`` (each term's relative SDs and correlation for ``cs``/``ar1``,
the SDs for ``diag``) and works in θ = θ(par) inside. Checked here:

* the analytic gradient in ``par`` against central differences of the deviance itself
  (step 1e-5·max(1, |par|): the differences resolve the gradient to about 1e-6 absolute on
  these criteria of size ~1700), at lme4's start and at the optimum, REML and ML, for
  ``cs`` (het, hom), ``ar1`` (hom, het) and ``diag(hom = TRUE)``;
* the chain rule itself: gradient = J'∇_θ and AI matrix = J'·AI_θ·J with J = ∂θ/∂par by
  central differences of θ(par) (1e-6 relative: J's differences are that exact);
* ``cs`` with two columns has the unstructured θ layout: its AI matrix in ``par`` is J'·AI·J
  with the AI matrix of the unstructured model's own deviance;
* the AI matrix is the Hessian's approximation it should be: positive semi-definite, and at
  the optimum of ``cs(Days | Subject)`` (the unstructured model reparameterised) within 1% of
  the Hessian from central differences of the gradient;
* on a correlation's bound (ρ = 1: ∂θ/∂ρ is infinite there, Σ is smooth) the gradient is the
  one-sided limit, finite;
* unstructured models: ``par`` is θ and nothing is mapped (the same arrays);
* the gradient-based optimizers (``newton_ai`` with the Euler term on ``par_groups()``,
  ``lbfgsb``) reach BOBYQA's optimum on structured models.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from _structured import structured_formula

import lmerpy
from lmerpy.datasets import load
from lmerpy.design import lFormula
from lmerpy.errors import DataError
from lmerpy.pls import LmmDeviance

FORMULAS = {
    "cs": "Reaction ~ Days + cs(Days | Subject)",
    "cs3": "Reaction ~ Days + cs(0 + Dg | Subject)",
    "cs_hom": "Reaction ~ Days + cs(0 + Dg | Subject, hom = TRUE)",
    "ar1": "Reaction ~ Days + ar1(0 + Dg | Subject)",
    "ar1_het": "Reaction ~ Days + ar1(0 + Dg | Subject, hom = FALSE)",
    "diag_hom": "Reaction ~ Days + diag(Days | Subject, hom = TRUE)",
}


@pytest.fixture(scope="module")
def sleep():
    d = load("sleepstudy").copy()
    # a three-level factor of the day (0-3, 4-7, 8-9) for the ar1 and cs terms
    d["Dg"] = pd.Categorical(np.array(["a", "b", "c"])[np.minimum(d["Days"].to_numpy() // 4, 2)])
    return d


_FITS = {}


def _fit(sleep, key, REML):
    if (key, REML) not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key, REML] = lmerpy.lmer(structured_formula(FORMULAS[key]), sleep, REML=REML)
    return _FITS[key, REML]


def _steps(x):
    return 1e-5 * np.maximum(1.0, np.abs(x))


def _central(f, x):
    """Central differences of a scalar or vector function (rows: the coordinates of x)."""
    x = np.asarray(x, dtype=float)
    out = []
    for i, h in enumerate(_steps(x)):
        e = np.zeros(x.size)
        e[i] = h
        out.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.array(out)


POINTS = [pytest.param(k, reml, where, id=f"{k}-{'REML' if reml else 'ML'}-{where}")
          for k in FORMULAS for reml in (True, False) for where in ("start", "optimum")]


def _point(fit, where):
    dev = fit.devfun
    return np.array(dev.par0 if where == "start" else fit.par, dtype=float)


@pytest.mark.parametrize("key, REML, where", POINTS)
def test_par_gradient_is_the_central_difference(sleep, key, REML, where):
    fit = _fit(sleep, key, REML)
    dev = fit.devfun
    assert dev.par_is_theta == (key == "diag_hom")      # diag: par is θ (the SD), one of them
    x = _point(fit, where)
    g = dev.gradient(x)
    fd = _central(dev, x)
    assert g.shape == (dev.n_par,)
    assert np.max(np.abs(g - fd)) <= 1e-6 * max(1.0, np.max(np.abs(g)))
    if where == "optimum":          # BOBYQA's optimum: a small gradient
        assert np.max(np.abs(g)) < 0.05


@pytest.mark.parametrize("key, REML, where", POINTS)
def test_chain_rule_of_gradient_and_information(sleep, key, REML, where):
    fit = _fit(sleep, key, REML)
    dev, lay = fit.devfun, fit.design.layout
    x = _point(fit, where)
    J = _central(lay.par_to_theta, x).T                  # n_theta × n_par
    np.testing.assert_allclose(lay.theta_jacobian(x), J, rtol=1e-6, atol=1e-9)
    th = lay.par_to_theta(x)
    gt = dev.gradient_theta(th)
    # each entry to 1e-6 of the size of the products it sums (it cancels near the optimum)
    np.testing.assert_array_less(np.abs(dev.gradient(x) - J.T @ gt),
                                 1e-6 * (np.abs(J).T @ np.abs(gt)) + 1e-12)
    A = dev.information(x)
    want = J.T @ dev.information_theta(th) @ J
    np.testing.assert_allclose(A, want, rtol=1e-6, atol=1e-8 * np.max(np.abs(want)))
    np.testing.assert_array_equal(A, A.T)
    assert np.min(np.linalg.eigvalsh(A)) > -1e-9 * np.max(np.abs(A))


@pytest.mark.parametrize("REML", [True, False])
def test_cs_two_columns_is_the_unstructured_model(sleep, REML):
    """cs(Days | Subject) has the unstructured θ (two SDs and one correlation): the same
    criterion at the same θ, and its AI matrix in par is J'·AI·J with the AI matrix of the
    unstructured model's own deviance."""
    fit = _fit(sleep, "cs", REML)
    us = LmmDeviance(lFormula("Reaction ~ Days + (Days | Subject)", sleep), REML=REML)
    assert us.par_is_theta and us.layout.is_identity
    lay = fit.design.layout
    for x in (fit.devfun.par0, fit.par, np.array([0.7, 0.3, -0.4])):
        th = lay.par_to_theta(x)
        assert fit.devfun(x) == pytest.approx(us(th), rel=1e-13)
        J = lay.theta_jacobian(x)
        np.testing.assert_allclose(fit.devfun.information(x), J.T @ us.information(th) @ J,
                                   rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(fit.devfun.gradient(x), J.T @ us.gradient(th),
                                   rtol=1e-10, atol=1e-10)
    # at the optimum of this interior fit, the AI matrix is within 1% of the Hessian
    x = fit.par
    H = _central(fit.devfun.gradient, x)
    H = 0.5 * (H + H.T)
    A = fit.devfun.information(x)
    assert np.max(np.abs(A - H)) <= 1e-2 * np.max(np.abs(H))


def test_gradient_on_the_correlation_bound_is_the_one_sided_limit(sleep):
    fit = _fit(sleep, "ar1", True)
    dev = fit.devfun
    x = np.array([fit.par[0], 1.0])                       # ρ on its upper bound
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # no 0·∞ warnings either
        g = dev.gradient(x)
        A = dev.information(x)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(A))
    # the one-sided difference quotient of the deviance (second order, inwards)
    h = 1e-5
    f0, f1, f2 = dev(x), dev(x - [0, h]), dev(x - [0, 2 * h])
    one_sided = (3 * f0 - 4 * f1 + f2) / (2 * h)
    assert g[1] == pytest.approx(one_sided, rel=1e-4, abs=1e-4)
    # and the lower bound ρ = -1
    x = np.array([fit.par[0], -1.0])
    g = dev.gradient(x)
    f0, f1, f2 = dev(x), dev(x + [0, h]), dev(x + [0, 2 * h])
    assert g[1] == pytest.approx((-3 * f0 + 4 * f1 - f2) / (2 * h), rel=1e-4, abs=1e-4)


def test_unstructured_par_is_theta(sleep):
    d = lFormula("Reaction ~ Days + (Days | Subject)", sleep)
    dev = LmmDeviance(d)
    assert dev.par_is_theta and dev.n_par == dev.n_theta == 3
    np.testing.assert_array_equal(dev.par0, d.theta)
    np.testing.assert_array_equal(dev.lower, d.lower)
    np.testing.assert_array_equal(dev.upper, np.full(3, np.inf))
    th = np.array([0.9, 0.1, 0.2])
    np.testing.assert_array_equal(dev.theta_of(th), th)
    np.testing.assert_array_equal(dev.gradient(th), dev.gradient_theta(th))
    np.testing.assert_array_equal(dev.information(th), dev.information_theta(th))
    assert [g.tolist() for g in dev.par_groups()] == [[0, 1], [2]]
    np.testing.assert_array_equal(dev.rectify_theta([-1.0, 0.5, -0.2]), [1.0, -0.5, 0.2])


def test_par_scale_arguments_are_checked(sleep):
    dev = _fit(sleep, "ar1", True).devfun
    assert dev.n_par == 2 and dev.n_theta == 5
    with pytest.raises(DataError, match="par has length 5, expected 2"):
        dev(np.ones(5))
    with pytest.raises(DataError, match="par contains non-finite values"):
        dev.gradient([1.0, np.nan])
    with pytest.raises(DataError, match="theta has length 2, expected 5"):
        dev.solve_theta([1.0, 0.0])
    assert dev.rectify_theta is None                 # no column sign to flip in par
    th = dev.theta_of([1.2, 0.5])
    np.testing.assert_allclose(dev.par_of(th), [1.2, 0.5], rtol=1e-14)
    assert [g.tolist() for g in dev.par_groups()] == [[0]]     # the SD; ρ has no Euler term
    sol = dev.solve([1.2, 0.5])
    np.testing.assert_array_equal(sol.theta, th)
    assert dev.solve_theta(th).reml_criterion == sol.reml_criterion


@pytest.mark.parametrize("key", list(FORMULAS))
@pytest.mark.parametrize("optimizer", ["newton_ai", "lbfgsb"])
def test_gradient_optimizers_reach_the_optimum(sleep, key, optimizer):
    ref = _fit(sleep, key, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no numerical warnings on the way
        fit = lmerpy.lmer(structured_formula(FORMULAS[key]), sleep,
                          control=lmerpy.lmerControl(optimizer=optimizer))
    # BOBYQA stops within its tolerance of the optimum; the gradient methods at it or better
    assert fit.REMLcrit() <= ref.REMLcrit() + 1e-7 * abs(ref.REMLcrit())
    np.testing.assert_allclose(fit.par, ref.par, atol=2e-4 * max(1.0, np.max(np.abs(ref.par))))
    assert np.all(fit.par >= fit.design.lower) and np.all(fit.par <= fit.design.upper)
    assert fit.optsum.conv_messages == []
