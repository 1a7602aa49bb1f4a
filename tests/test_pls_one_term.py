"""Small models' derivative passes (``newton_ai``'s gradient and average information at each
accepted point) against the formulas they inline (issue 14).

* The dense pass (:func:`lmerpy.pls.lmm.dense_derivatives.dense_derivatives` on q × q
  arrays) gives :func:`~lmerpy.pls.lmm.gradient.deviance_gradient` and
  :func:`~lmerpy.pls.lmm.information.average_information` on every small reference case.
* A model with one random-effects term (block-diagonal A) runs the same pass block by block
  (:mod:`lmerpy.pls.lmm.one_term`): the dense pass's numbers on every such reference case,
  at the start θ, lme4's θ̂ and a random θ with negative diagonal entries; and on a larger
  synthetic model, where :meth:`LmmDeviance.derivatives` takes that path.

Tolerance: relative to max(1, the largest entry), 1e-11 at the start θ and lme4's θ̂, 1e-9
at a random θ (far from any optimizer's path: blocks A_l = T M_l T' + I with condition numbers
in the hundreds, where the block pass's A_l⁻¹ products and the dense pass's triangular solves
round differently; observed up to 6e-11 there, below 1e-12 at θ̂; 1e-9 is the tolerance of
tests/test_fastpath.py for gradients computed two ways). Both sides compute the same
quantities by other groupings of the same products.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

from lmerpy.design import lFormula
from lmerpy.models.lmm import mkLmerDevfun
from lmerpy.pls.lmm.dense_derivatives import ONE_TERM_MIN_Q, _dense_pass
from lmerpy.pls.lmm.gradient import deviance_gradient
from lmerpy.pls.lmm.information import average_information
from lmerpy.pls.lmm.one_term import one_term_derivatives, one_term_layout, spd_block_inverse

from _reference import case_kwargs, lmer_cases, load_case_data

REFS = [r for r in lmer_cases() if r["nobs"] <= 20000]
TOL = 1e-11


TOL_RANDOM = 1e-9


def _close(a, b, tol=TOL):
    return np.max(np.abs(a - b)) <= tol * max(1.0, float(np.max(np.abs(b))))


@pytest.fixture(scope="module", params=REFS, ids=[r["id"] for r in REFS])
def ref_design(request):
    ref = request.param
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lf = lFormula(ref["formula"], data, REML=bool(ref["REML"]), **case_kwargs(ref, data))
    return ref, lf


def _thetas(lf, ref):
    th0 = np.asarray(lf.theta, dtype=float)
    rng = np.random.default_rng(11)
    return [th0, np.asarray(ref["theta"], dtype=float), rng.standard_normal(th0.size)]


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_dense_pass_is_the_gradient_and_the_average_information(ref_design, REML):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf, REML=REML)
    assert dev._dense
    for th in _thetas(lf, ref):
        st = dev._evaluate(th)
        g, H = _dense_pass(dev, st)
        H_ai = average_information(dev, st)
        g_mod = deviance_gradient(dev, st)
        assert _close(g, g_mod) and _close(H, H_ai)
        assert np.array_equal(H, H.T)


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_one_term_pass_is_the_dense_pass(ref_design, REML):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf, REML=REML)
    lay = one_term_layout(dev)
    if lay is None:
        assert len(lf.reterms) > 1 or lf.reterms[0].covariance is not None
        return
    assert lay.nl * lay.nc == dev.q
    thetas = _thetas(lf, ref)
    for th in thetas:
        st = dev._evaluate(th)
        g0, H0 = _dense_pass(dev, st)
        g1, H1 = one_term_derivatives(dev, st, lay)
        tol = TOL if th is not thetas[-1] else TOL_RANDOM
        assert _close(g1, g0, tol) and _close(H1, H0, tol)
        assert np.array_equal(H1, H1.T)
        g2, none = one_term_derivatives(dev, st, lay, information=False)
        assert none is None and np.array_equal(g2, g1)


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("rhs, nl", [("(1 | g)", 60), ("x + (x | g)", 40),
                                     ("x + (x + x2 | g)", 30)])
def test_larger_one_term_models_take_the_block_pass(REML, rhs, nl):
    # q = 60, 80, 90: all of A dense (q <= 100), from ONE_TERM_MIN_Q on
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(nl), 6)
    x, x2 = rng.standard_normal(g.size), rng.standard_normal(g.size)
    y = x + rng.standard_normal(nl)[g] * (1 + x) + rng.standard_normal(g.size)
    d = pd.DataFrame({"y": y, "x": x, "x2": x2, "g": pd.Categorical(g.astype(str))})
    lf = lFormula("y ~ " + rhs, d, REML=REML)
    dev = mkLmerDevfun(lf)
    assert dev._dense and dev.q >= ONE_TERM_MIN_Q and one_term_layout(dev) is not None
    th0 = np.asarray(lf.theta, dtype=float)
    for th in (th0, th0 * 0.7 + 0.05, -th0):
        g_pub, H_pub = dev.derivatives(th)
        st = dev._evaluate(th)
        assert _close(g_pub, deviance_gradient(dev, st), TOL_RANDOM)
        assert _close(H_pub, average_information(dev, st), TOL_RANDOM)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_spd_block_inverse(k):
    rng = np.random.default_rng(k)
    T = rng.standard_normal((5, 7, k, k))
    A = T @ np.swapaxes(T, -1, -2) + np.eye(k)
    Ai = spd_block_inverse(A)
    assert Ai.shape == A.shape
    assert np.max(np.abs(Ai @ A - np.eye(k))) < 1e-12
