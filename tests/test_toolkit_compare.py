"""AIC/BIC of several models (R's data frames) and compare(), against R (tests/reference/toolkit:
aic_bic_tables.json and each case's logLik/df/AIC/BIC and performance's R²), 1e-6 relative at
lme4's θ̂."""
import warnings

import numpy as np
import pytest

import lmerpy
from _toolkit import fitted, load_ref, scalar
from lmerpy.errors import ArgumentError
from lmerpy.toolkit import compare
from lmerpy.warnings import InferenceWarning


def _sleep_fits():
    ref = load_ref("aic_bic_tables")
    data = lmerpy.datasets.load(ref["data"])
    fits = [lmerpy.lmer(f, data) for f in ref["formulas"]]
    # the two later models are golden cases (their θ̂ is stored); the first is fitted here
    return ref, [fits[0], fitted("sleep_slope"), fitted("sleep_uncorr")]


@pytest.mark.parametrize("criterion", ["AIC", "BIC"])
def test_information_table_of_several_models(criterion):
    ref, fits = _sleep_fits()
    fn = getattr(lmerpy, criterion)
    got = fn(ss0_reml=fits[0], ss1=fits[1], ss2=fits[2])
    want = ref[criterion]
    assert list(got.index) == want["rownames"]
    assert list(got.columns) == want["names"]
    assert list(got["df"]) == want["columns"]["df"]
    np.testing.assert_allclose(got[criterion], want["columns"][criterion], rtol=1e-6)
    pos = fn(*fits)
    assert list(pos.index) == ["model1", "model2", "model3"]
    np.testing.assert_array_equal(pos[criterion].to_numpy(), got[criterion].to_numpy())


def test_single_model_criterion_stays_a_number():
    fit = fitted("sleep_slope")
    assert lmerpy.AIC(fit) == fit.AIC() and isinstance(lmerpy.AIC(fit), float)
    assert lmerpy.BIC(fit) == fit.BIC()


def test_different_numbers_of_observations_warn():
    with pytest.warns(InferenceWarning, match="not all fitted to the same number of obs"):
        lmerpy.AIC(fitted("sleep_slope"), fitted("cbpp_logit"))


def test_compare_table():
    cases = ["sleep_slope", "sleep_intercept_ml"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = compare(slope=fitted(cases[0]), ml=fitted(cases[1]))
    assert list(got.index) == ["slope", "ml"]
    assert list(got.columns) == ["nobs", "df", "logLik", "AIC", "BIC", "R2_marginal",
                                 "R2_conditional"]
    for row, case in zip(got.itertuples(), cases):
        ref = load_ref(case)
        assert row.nobs == ref["nobs"] and row.df == ref["df"]
        for col in ("logLik", "AIC", "BIC"):
            assert getattr(row, col) == pytest.approx(ref[col], rel=1e-6)
        assert row.R2_marginal == pytest.approx(scalar(ref["r2"]["marginal"]), rel=1e-6)
        assert row.R2_conditional == pytest.approx(scalar(ref["r2"]["conditional"]), rel=1e-6)


def test_compare_singular_gives_nan_r2():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = compare(fitted("dyestuff2_singular"))
    assert np.isnan(got["R2_conditional"].iloc[0])


@pytest.mark.parametrize("call, culprit", [
    (lambda: compare(), "no model"),
    (lambda: compare(fitted("sleep_slope"), 3), "model2 is not a fitted model"),
    (lambda: lmerpy.AIC(fitted("sleep_slope"), other="x"), "other is not a fitted model"),
])
def test_bad_arguments(call, culprit):
    with pytest.raises(ArgumentError, match=culprit):
        call()


