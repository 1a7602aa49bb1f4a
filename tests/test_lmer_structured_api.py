"""lmer and glmer with structured covariance terms: the user-facing parameters.

What a fit exposes (lme4 2.x): ``fit.par`` (what the optimizer moved: SDs and correlations of
``cs``/``ar1`` terms, SDs of ``diag``; θ itself for unstructured terms), ``fit.theta`` (Λ's
values), ``getME`` ``"par"``/``"theta"``/``"lower"``/``"upper"``/``"reCovs"``, ``npar`` counting
``par`` (lme4 2.0's #943), ``isSingular`` through each structure, ``VarCorr`` from Λ,
``start=`` on the ``par`` scale (and ``{"theta": ...}`` mapped to it), refits; the inference
that is not yet written for structured terms stops with a clear error.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from _structured import structured_formula

import lmerpy
from lmerpy.datasets import load
from lmerpy.errors import ArgumentError, LmerpyError
from lmerpy.warnings import LmerpyMessage

AR1 = "Reaction ~ Days + ar1(0 + Dg | Subject)"
CS = "Reaction ~ Days + cs(Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    d = load("sleepstudy").copy()
    d["Dg"] = pd.Categorical(np.array(["a", "b", "c"])[np.minimum(d["Days"].to_numpy() // 4, 2)])
    return d


@pytest.fixture(scope="module")
def ar1(sleep):
    return lmerpy.lmer(structured_formula(AR1), sleep)


def test_par_theta_and_getme(ar1):
    lay = ar1.design.layout
    assert ar1.par.shape == (2,) and ar1.theta.shape == (5,)
    np.testing.assert_array_equal(ar1.theta, lay.par_to_theta(ar1.par))
    np.testing.assert_array_equal(ar1.par, ar1.optsum.theta)
    s, rho = ar1.par
    assert 0 < rho < 1
    par = ar1.getME("par")
    assert list(par.index) == ["Subject.*", "Subject.rho"]
    np.testing.assert_array_equal(par.to_numpy(), ar1.par)
    theta = ar1.getME("theta")
    assert list(theta.index) == ar1.design.theta_names
    np.testing.assert_array_equal(theta.to_numpy(), ar1.theta)
    np.testing.assert_array_equal(ar1.getME("lower"), [0.0, -1.0])
    np.testing.assert_array_equal(ar1.getME("upper"), [np.inf, 1.0])
    assert [c.kind for c in ar1.getME("reCovs")] == ["ar1"]
    # the optimizer's record is on the par scale, with both bounds
    np.testing.assert_array_equal(ar1.optsum.theta_start, [1.0, 0.0])
    np.testing.assert_array_equal(ar1.optsum.lower, [0.0, -1.0])
    np.testing.assert_array_equal(ar1.optsum.upper, [np.inf, 1.0])
    assert ar1.getME("m") == 5 and ar1.getME("devcomp")["dims"]["nth"] == 5


def test_varcorr_is_sigma_squared_lambda_lambda_t(ar1):
    vc = ar1.VarCorr()
    (term,) = vc.terms
    L = ar1.design.reterms[0].covariance.lambda_(ar1.par)
    np.testing.assert_allclose(term.cov, ar1.sigma() ** 2 * L @ L.T, rtol=1e-14)
    s, rho = ar1.par
    np.testing.assert_allclose(term.stddev, np.full(3, s * ar1.sigma()), rtol=1e-12)
    want = rho ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    np.testing.assert_allclose(term.corr, want, rtol=1e-12)
    assert (term.vcmat_class, term.corr_label, term.n_stddev_printed) == ("ar1", "ar1", 1)


def test_npar_counts_par(ar1, sleep):
    """lme4 2.0 (#943): the parameter count is p + length(par) + 1, not p + length(θ) + 1."""
    assert ar1.npar() == 2 + 2 + 1
    assert ar1.logLik().df == 5
    assert ar1.AIC() == pytest.approx(-2 * float(ar1.logLik()) + 2 * 5, rel=1e-15)
    us = lmerpy.lmer("Reaction ~ Days + (0 + Dg | Subject)", sleep)
    assert us.npar() == 2 + 6 + 1
    ml = lmerpy.lmer(structured_formula(AR1), sleep, REML=False)
    tab = lmerpy.anova(ml, us.refitML())
    assert list(tab["npar"]) == [5, 9]
    assert list(tab["Df"])[1] == 4


def test_is_singular_through_the_structures(ar1, sleep):
    assert not ar1.isSingular()
    # s = 0.95: ρ within tol of its bound at tol = 0.3 (1 − 0.783 < 0.3)
    assert ar1.isSingular(tol=1 - ar1.par[1] + 1e-9)
    assert not ar1.isSingular(tol=1 - ar1.par[1] - 1e-9)
    # a random intercept written as an AR(1) over the day groups: the optimum is ρ = 1
    rng = np.random.default_rng(1)
    d = sleep.assign(y=300 + 5.0 * sleep["Days"] + 40.0 * np.repeat(rng.normal(size=18), 10)
                     + 10.0 * rng.normal(size=180))
    with pytest.warns(lmerpy.warnings.SingularFitWarning):
        fit = lmerpy.lmer(structured_formula("y ~ Days + ar1(0 + Dg | Subject)"), d)
    assert fit.par[1] == 1.0                  # snapped onto the upper bound
    assert fit.isSingular()
    assert fit.optsum.conv_messages == ["boundary (singular) fit: see help('isSingular')"]


def test_start_on_the_par_scale(ar1, sleep):
    f = structured_formula(AR1)
    again = lmerpy.lmer(f, sleep, start=ar1.par)
    assert again.REMLcrit() == pytest.approx(ar1.REMLcrit(), rel=1e-10)
    assert again.optsum.feval < ar1.optsum.feval
    np.testing.assert_array_equal(again.optsum.theta_start, ar1.par)
    by_name = lmerpy.lmer(f, sleep, start={"par": ar1.par})
    np.testing.assert_array_equal(by_name.optsum.theta_start, ar1.par)
    # θ is mapped to par (lme4 2.1 would read start$theta as par)
    by_theta = lmerpy.lmer(f, sleep, start={"theta": ar1.theta})
    np.testing.assert_allclose(by_theta.optsum.theta_start, ar1.par, rtol=1e-12)
    with pytest.warns(LmerpyMessage, match=r"ignoring start\$theta"):
        both = lmerpy.lmer(f, sleep, start={"par": ar1.par, "theta": np.ones(5)})
    np.testing.assert_array_equal(both.optsum.theta_start, ar1.par)


@pytest.mark.parametrize("start, words", [
    ([1.0, 1.5], ["start has par values above their upper bounds: Subject.rho = 1.5 > 1"]),
    ([1.0, -1.5], ["start has par values below their lower bounds: Subject.rho = -1.5 < -1"]),
    ([-1.0, 0.5], ["below their lower bounds: Subject.* = -1 < 0"]),
    ([1.0, 0.5, 0.2], ["incorrect number of par components in start: expected 2 "
                       "(Subject.*, Subject.rho), got 3"]),
    ({"theta": [1.0, 0.5]}, ["incorrect number of theta components in start['theta']: "
                             "expected 5"]),
    ({"theta": [-1.0, 0, 0, 1, 0]}, ["par from start['theta'] has par values below their "
                                     "lower bounds"]),
])
def test_bad_starts(sleep, start, words):
    with pytest.raises(ArgumentError) as info:
        lmerpy.lmer(structured_formula(AR1), sleep, start=start)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_refits_keep_the_structure(ar1, sleep):
    y2 = ar1.simulate(1, seed=4).iloc[:, 0].to_numpy()
    re = ar1.refit(y2)
    assert re.design.layout.covariances == ar1.design.layout.covariances
    np.testing.assert_array_equal(re.optsum.theta_start, ar1.par)     # starts at the fit
    fresh = lmerpy.lmer(structured_formula(AR1), sleep.assign(Reaction=y2))
    assert re.REMLcrit() == pytest.approx(fresh.REMLcrit(), rel=1e-8)
    ml = ar1.refitML()
    assert not ml.REML and ml.par.shape == (2,)
    direct = lmerpy.lmer(structured_formula(AR1), sleep, REML=False)
    assert ml.deviance() == pytest.approx(direct.deviance(), rel=1e-8)


def test_unstructured_fits_are_unchanged(sleep):
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    np.testing.assert_array_equal(fit.par, fit.theta)
    assert fit.par is fit.optsum.theta or np.shares_memory(fit.par, fit.optsum.theta)
    assert list(fit.getME("par").index) == fit.design.theta_names
    np.testing.assert_array_equal(fit.getME("upper"), np.full(3, np.inf))
    assert fit.npar() == 6


def test_inference_on_par_for_structures(ar1, sleep):
    """profile/boot confint and Satterthwaite/Kenward-Roger work on ``par`` (their numbers:
    tests/test_inference_structured.py); rows in lme4 2.x's order."""
    ci = ar1.confint(quiet=True, oldNames=False)
    assert list(ci.index) == ["sd_*|Subject", "cor_rho|Subject", "sigma", "(Intercept)", "Days"]
    assert np.all(ci.iloc[:, 0].to_numpy() < ci.iloc[:, 1].to_numpy())
    with pytest.warns(Warning, match="extreme order statistics used as endpoints"):
        b = ar1.confint(method="boot", nsim=3, seed=1, quiet=True)
    assert list(b.index) == [".sig01", ".sig02", ".sigma", "(Intercept)", "Days"]
    for ddf in ("Satterthwaite", "Kenward-Roger"):
        df = ar1.summary(ddf=ddf).coefficients["df"].to_numpy()
        assert np.all(np.isfinite(df)) and np.all(df > 0), (ddf, df)
    # Wald intervals: one (NaN) row per par, then sigma, then the fixed effects
    w = ar1.confint(method="Wald")
    assert list(w.index) == [".sig01", ".sig02", ".sigma", "(Intercept)", "Days"]
    assert np.isnan(w.iloc[:3].to_numpy()).all()
    w = ar1.confint(method="Wald", oldNames=False)
    assert list(w.index)[:3] == ["sd_*|Subject", "cor_rho|Subject", "sigma"]


def test_satterthwaite_for_diag_terms_is_that_of_the_split_term(sleep):
    """diag(Days | Subject) is (Days || Subject) written as one term: its par is θ, and
    Satterthwaite's df are those of the split model."""
    a = lmerpy.lmer(structured_formula("Reaction ~ Days + diag(Days | Subject)"), sleep)
    b = lmerpy.lmer("Reaction ~ Days + (Days || Subject)", sleep)
    assert a.REMLcrit() == pytest.approx(b.REMLcrit(), rel=1e-12)
    ta = a.summary(ddf="Satterthwaite").coefficients
    tb = b.summary(ddf="Satterthwaite").coefficients
    np.testing.assert_allclose(ta["df"].to_numpy(), tb["df"].to_numpy(), rtol=1e-6)


def test_glmer_par(sleep):
    cbpp = load("cbpp")
    f = structured_formula("cbind(incidence, size - incidence) ~ period + cs(1 | herd)")
    lme4_path = lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"])
    fit = lmerpy.glmer(f, cbpp, family="binomial", control=lme4_path)
    plain = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                         family="binomial", control=lme4_path)
    # a one-column cs term is a scalar SD: the same model, the same (lme4's) optimizer path
    np.testing.assert_array_equal(fit.par, plain.par)
    assert float(fit.logLik()) == float(plain.logLik())
    # glmer's default: the SD bounded at 0 there, θ free and rectified here: the same optimum
    a = lmerpy.glmer(f, cbpp, family="binomial")
    b = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                     family="binomial")
    np.testing.assert_allclose(a.par, b.par, atol=1e-6)
    assert float(a.logLik()) == pytest.approx(float(b.logLik()), abs=1e-8)
    assert fit.npar() == plain.npar() == 5
    f2 = structured_formula("cbind(incidence, size - incidence) ~ period + "
                            "ar1(0 + period | herd)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit2 = lmerpy.glmer(f2, cbpp, family="binomial")
    assert fit2.par.shape == (2,) and fit2.theta.shape == (7,)
    np.testing.assert_array_equal(fit2.theta, fit2.design.layout.par_to_theta(fit2.par))
    assert fit2.npar() == 4 + 2
    assert fit2.optsum.theta.shape == (2 + 4,)                   # (par, β)
    np.testing.assert_array_equal(fit2.optsum.upper[:2], [np.inf, 1.0])
    np.testing.assert_array_equal(fit2.optsum_stage1.upper, [np.inf, 1.0])
    assert fit2.vcov().shape == (4, 4)
