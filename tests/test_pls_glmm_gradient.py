"""The analytic gradient of the Laplace deviance (lmerpy.pls.glmm.laplace_gradient) against
finite differences, on every glmer golden (tests/reference/glmer, cbpp, grouseticks; the
nAGQ > 1 cases through their Laplace deviance), both stages:

* stage 1 (nAGQ = 0): θ with β inside PIRLS;
* stage 2 (Laplace): (θ, β).

Points: the stage's start and lme4's estimates (θ̂, and β̂ for stage 2), plus a structured
covariance (``par`` ≠ θ: the chain rule through ∂θ/∂par) on cbpp. The function differentiated
is the Laplace deviance at the conditional mode itself (``GlmmDeviance.laplace``: PIRLS run
until η stops moving, log|L|² at ũ's weights), not lme4's deviance (log|L|² one PIRLS step
behind, a first-order error in the last step).

Finite differences: central differences at h, h/2, h/4 (h = 1e-3·max(1, |x_k|), divided for
a β by max(1, max|X_k|): a column on a scale of 10² makes the third derivative ~1e9, where a
plain central difference at 1e-5 is off by 1e-2) combined by two Richardson steps (error
O(h⁶)). Tolerance: |g_k − fd_k| ≤
1e-6·max(|fd_k|, 1): 1e-6 relative where the gradient is of order one (the starts), 1e-6
absolute near the optimum where it is ~0.
"""
import warnings

import numpy as np
import pytest
from _compare import richardson_gradient
from _reference import case_kwargs, glmer_cases, load_case_data

import lmerpy
from lmerpy.families import FAMILIES, negative_binomial
from lmerpy.models.glmm import glFormula, mkGlmerDevfun, updateGlmerDevfun

RTOL = 1e-6
CASES = glmer_cases()


def assert_gradient_matches(dev, x):
    g = dev.laplace_gradient(x)
    n0 = dev.n_evals
    # a β's step shrinks with its column's size (η moves by about h either way)
    cols = np.max(np.abs(dev.S.X), axis=0) if dev.nAGQ > 0 else np.zeros(0)
    size = np.concatenate((np.ones(dev.n_par), np.maximum(cols, 1.0)))
    fd = richardson_gradient(dev.laplace, x, size=size)
    assert dev.n_evals > n0
    assert g.shape == (len(dev.lower),)
    bad = np.abs(g - fd) > RTOL * np.maximum(np.abs(fd), 1.0)
    assert not bad.any(), f"analytic {g} vs finite differences {fd}"
    return g, fd


def _family(ref):
    if ref["fn"] == "glmer.nb":
        return negative_binomial(ref["nb_theta"])
    return FAMILIES[ref["family"]](link=ref["link"])


@pytest.fixture(scope="module", params=CASES, ids=[r["id"] for r in CASES])
def stages(request):
    ref = request.param
    data = load_case_data(ref)
    fam = _family(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = glFormula(ref["formula"], data, family=fam, **case_kwargs(ref, data))
        dev1 = mkGlmerDevfun(design, fam, nAGQ=0)
        dev2 = updateGlmerDevfun(dev1, 1)
    return ref, dev1, dev2


def test_stage1_at_start(stages):
    ref, dev1, _ = stages
    g, fd = assert_gradient_matches(dev1, dev1.start())
    assert np.max(np.abs(fd)) > 1e-3      # a start, not an optimum: the test has teeth


def test_stage1_at_lme4_theta(stages):
    ref, dev1, _ = stages
    assert_gradient_matches(dev1, np.asarray(ref["theta"], dtype=float))


def test_stage2_at_start(stages):
    ref, _, dev2 = stages
    assert_gradient_matches(dev2, dev2.start())


def test_stage2_at_lme4_estimates(stages):
    ref, _, dev2 = stages
    x = np.concatenate((np.asarray(ref["theta"], dtype=float),
                        np.asarray(list(ref["fixef"].values()), dtype=float)))
    g, _ = assert_gradient_matches(dev2, x)
    if ref.get("nAGQ") is None or int(ref["nAGQ"]) == 1:
        # near lme4's optimum of a (slightly different) deviance: small, not zero
        assert np.max(np.abs(g)) < 1.0


@pytest.mark.parametrize("term", ["ar1(0 + period | herd)", "cs(0 + period | herd)",
                                  "(1 | herd) + (0 + size | herd)"])
def test_structured_and_several_terms(cbpp, term):
    fam = lmerpy.binomial()
    design = glFormula(f"cbind(incidence, size - incidence) ~ period + {term}", cbpp,
                       family=fam)
    dev1 = mkGlmerDevfun(design, fam, nAGQ=0)
    x1 = dev1.start() * 0.8
    assert_gradient_matches(dev1, x1)
    dev2 = updateGlmerDevfun(dev1, 1)
    x2 = dev2.start()
    x2[: dev2.n_par] *= 0.7
    assert_gradient_matches(dev2, x2)


def test_no_gradient_for_quadrature(cbpp):
    design = glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    dev = updateGlmerDevfun(mkGlmerDevfun(design, nAGQ=0), 5)
    assert not dev.has_laplace_gradient()
    with pytest.raises(NotImplementedError):
        dev.laplace_gradient(dev.start())


@pytest.mark.parametrize("formula,data,family", [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     lmerpy.binomial(link="cauchit")),
    ("TICKS ~ YEAR + (1 | BROOD)", "grouseticks", lmerpy.poisson(link="sqrt")),
    ("size ~ period + (1 | herd)", "cbpp", lmerpy.gaussian(link="log")),
], ids=["binomial-cauchit", "poisson-sqrt", "gaussian-log"])
def test_links_without_goldens(formula, data, family):
    # the other links' second derivatives and the Gaussian family's dispersion term
    design = glFormula(formula, lmerpy.datasets.load(data), family=family)
    dev1 = mkGlmerDevfun(design, family, nAGQ=0)
    assert_gradient_matches(dev1, dev1.start() * 0.9)
    dev2 = updateGlmerDevfun(dev1, 1)
    assert_gradient_matches(dev2, dev2.start() * 0.9)
