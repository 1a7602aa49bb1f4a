"""Nakagawa's R² and the ICC against performance 0.10.2 / insight 0.19.0 (tests/reference/
toolkit, made by make_toolkit.R with lme4 1.1-31).

Tolerances: 1e-6 relative, at lme4's optimum (_toolkit.fitted). Variance components are
compared one by one, so a wrong formula shows which piece is wrong.
"""
import math
import warnings

import numpy as np
import pytest

import lmerpy
from _toolkit import approx, case_ids, fitted, load_ref, scalar
from lmerpy.errors import ArgumentError
from lmerpy.toolkit import get_variance, icc, r2_nakagawa
from lmerpy.warnings import InferenceWarning

#: insight 0.19 drops the second term of (1 | Subject) + (0 + Days | Subject) from the random
#: variance (it matches VarCorr's "Subject.1" against the grouping factors); lmerpy follows
#: Johnson (2014) for every term: see test_uncorrelated_terms_all_count.
INSIGHT_DROPS_TERM = {"sleep_uncorr"}
CASES = [c for c in case_ids() if c not in INSIGHT_DROPS_TERM]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.mark.parametrize("case", CASES)
def test_variance_components(case):
    ref, fit = load_ref(case), fitted(case)
    v = _quiet(get_variance, fit)
    want = ref["variance"]
    assert v.var_fixed == approx(scalar(want["var.fixed"]), ref)
    assert v.var_distribution == approx(scalar(want["var.distribution"]), ref)
    assert v.var_dispersion == approx(scalar(want["var.dispersion"]), ref)
    assert v.var_residual == approx(scalar(want["var.residual"]), ref)
    if "var.random" in want:
        assert v.var_random == approx(scalar(want["var.random"]), ref)
    else:
        assert v.var_random is None
    vi = want["var.intercept"]
    assert list(v.var_intercept.index) == vi["names"]
    np.testing.assert_allclose(v.var_intercept.to_numpy(), vi["values"], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_r2_nakagawa(case):
    ref, fit = load_ref(case), fitted(case)
    r2 = _quiet(r2_nakagawa, fit)
    cond = scalar(ref["r2"]["conditional"])
    if math.isnan(cond):
        assert math.isnan(r2.conditional)
    else:
        assert r2.conditional == approx(cond, ref)
    assert r2.marginal == approx(scalar(ref["r2"]["marginal"]), ref)


@pytest.mark.parametrize("case", CASES)
def test_icc(case):
    ref, fit = load_ref(case), fitted(case)
    got = _quiet(icc, fit)
    for name in ("adjusted", "unadjusted"):
        want = scalar(ref["icc"][name])
        if math.isnan(want):
            assert math.isnan(getattr(got, name))
        else:
            assert getattr(got, name) == approx(want, ref)
    by = _quiet(icc, fit, by_group=True)
    if ref["icc_by_group"] is None:
        assert by.empty and list(by.columns) == ["Group", "ICC"]
    else:
        cols = ref["icc_by_group"]["columns"]
        assert list(by["Group"]) == cols["Group"]
        for g, w in zip(by["ICC"], cols["ICC"]):
            assert g == approx(w, ref)


def test_uncorrelated_terms_all_count():
    """(1 | Subject) + (0 + Days | Subject): the mean random variance is τ₀₀ + τ₁₁·mean(Days²)
    (Johnson 2014, eq. 10), both terms counted; the other components are insight's."""
    ref, fit = load_ref("sleep_uncorr"), fitted("sleep_uncorr")
    v = get_variance(fit)
    vc = fit.VarCorr()
    days = fit.model_matrix()["Days"].to_numpy()
    tau00 = vc["Subject"].iloc[0, 0]
    tau11 = vc["Subject.1"].iloc[0, 0]
    assert v.var_random == pytest.approx(tau00 + tau11 * np.mean(days ** 2), rel=1e-12)
    assert list(v.var_slope.index) == ["Subject.Days"]
    assert v.var_intercept["Subject"] == approx(ref["variance"]["var.intercept"]["values"][0], ref)
    assert v.var_fixed == approx(scalar(ref["variance"]["var.fixed"]), ref)
    assert v.var_residual == approx(scalar(ref["variance"]["var.residual"]), ref)


def test_singular_fit_warns_and_gives_nan():
    fit = fitted("dyestuff2_singular")
    with pytest.warns(InferenceWarning, match="singularity"), \
            pytest.warns(InferenceWarning, match="Returned R2 does not account"):
        r2 = r2_nakagawa(fit)
    assert math.isnan(r2.conditional) and r2.marginal == pytest.approx(0.0, abs=1e-12)
    with pytest.warns(InferenceWarning, match="Can't compute random effect variances"):
        got = icc(fit)
    assert math.isnan(got.adjusted) and math.isnan(got.unadjusted)


def test_slopes_not_in_fixed_part_warn():
    with pytest.warns(InferenceWarning, match=r"Random slopes not present as fixed effects.*Days"):
        get_variance(fitted("sleep_slope_not_fixed"))


def test_icc_by_group_warns_with_random_slopes():
    with pytest.warns(InferenceWarning, match="random slopes"):
        icc(fitted("sleep_slope"), by_group=True)


def test_printed_like_performance():
    fit = fitted("sleep_slope")
    assert str(r2_nakagawa(fit)) == ("# R2 for Mixed Models\n\n  Conditional R2: 0.799\n"
                                     "     Marginal R2: 0.279")
    assert str(icc(fit)) == ("# Intraclass Correlation Coefficient\n\n    Adjusted ICC: 0.722\n"
                             "  Unadjusted ICC: 0.521")
    assert "<table>" in r2_nakagawa(fit)._repr_html_()


def test_bad_arguments():
    fit = fitted("sleep_slope")
    with pytest.raises(ArgumentError, match="tolerance"):
        r2_nakagawa(fit, tolerance=-1)
    with pytest.raises(ArgumentError, match="by_group"):
        icc(fit, by_group="yes")


def test_unsupported_family():
    data = lmerpy.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmerpy.glmer("size ~ period + (1 | herd)", data, family=lmerpy.Gamma(link="log"))
    with pytest.raises(ArgumentError, match="Gamma"):
        r2_nakagawa(fit)


def test_top_level_names():
    assert lmerpy.r2_nakagawa is r2_nakagawa and lmerpy.icc is icc
