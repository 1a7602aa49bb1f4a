"""statsmodels-style names on fitted models (issue 16): params, bse, tvalues, pvalues,
conf_int(), llf, aic, bic, fittedvalues, resid_response, resid_pearson; and Jupyter's
``_repr_html_`` on fits, summaries, VarCorr and anova tables; ``ranef()`` by position. Numbers against R's
(tests/reference/toolkit: broom.mixed's tidy, logLik/AIC/BIC) at lme4's optimum, 1e-6
relative (GLMM standard errors, z and Wald limits 2e-5 and p-values 1e-3: see
test_toolkit_tidy)."""
import numpy as np
import pandas as pd
import pytest

import lmerpy
from _toolkit import fitted, load_ref
from lmerpy.errors import ArgumentError

CASES = ["sleep_slope", "sleep_intercept_ml", "pastes_nested", "cbpp_logit",
         "grouseticks_poisson"]


def _col(ref, key, name):
    return np.array(ref[key]["columns"][name], dtype=float)


@pytest.mark.parametrize("case", CASES)
def test_params_bse_tvalues_conf_int(case):
    ref, fit = load_ref(case), fitted(case)
    glmm = ref["fn"] == "glmer"
    rtol = 2e-5 if glmm else 1e-6
    terms = ref["tidy_fixed_ci"]["columns"]["term"]
    for attr in ("params", "bse", "tvalues", "pvalues", "fittedvalues", "resid_response",
                 "resid_pearson"):
        assert isinstance(getattr(fit, attr), pd.Series), attr
    assert list(fit.params.index) == terms
    np.testing.assert_allclose(fit.params, _col(ref, "tidy_fixed_ci", "estimate"), rtol=1e-6)
    np.testing.assert_allclose(fit.bse, _col(ref, "tidy_fixed_ci", "std.error"), rtol=rtol)
    np.testing.assert_allclose(fit.tvalues, _col(ref, "tidy_fixed_ci", "statistic"), rtol=rtol)
    for key, alpha in (("tidy_fixed_ci", 0.05), ("tidy_fixed_ci90", 0.10)):
        ci = fit.conf_int(alpha=alpha)
        assert list(ci.columns) == [0, 1] and list(ci.index) == terms
        np.testing.assert_allclose(ci[0], _col(ref, key, "conf.low"), rtol=rtol)
        np.testing.assert_allclose(ci[1], _col(ref, key, "conf.high"), rtol=rtol)
    if glmm:
        np.testing.assert_allclose(fit.pvalues, _col(ref, "tidy_fixed_ci", "p.value"), rtol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_llf_aic_bic(case):
    ref, fit = load_ref(case), fitted(case)
    assert fit.llf == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.aic == pytest.approx(ref["AIC"], rel=1e-6)
    assert fit.bic == pytest.approx(ref["BIC"], rel=1e-6)
    assert fit.nobs() == ref["nobs"]           # R's nobs(), and statsmodels' attribute
    assert fit.nobs == ref["nobs"] and isinstance(fit.nobs, int)


def test_lmm_pvalues_are_satterthwaite():
    fit = fitted("sleep_slope")
    tab = fit.summary(ddf="Satterthwaite").coefficients
    np.testing.assert_array_equal(fit.pvalues.to_numpy(), tab["Pr(>|t|)"].to_numpy())


def test_fitted_and_residuals_agree_with_r_names():
    fit = fitted("sleep_slope")
    pd.testing.assert_series_equal(fit.fittedvalues, fit.fitted())
    pd.testing.assert_series_equal(fit.resid_response, fit.resid())
    pd.testing.assert_series_equal(fit.resid_pearson, fit.residuals(type="pearson"))
    # resid: the default residuals as a value (statsmodels), callable as R's resid(fit, ...)
    pd.testing.assert_series_equal(pd.Series(fit.resid), fit.residuals())
    pd.testing.assert_series_equal(fit.resid(type="pearson", scaled=True),
                                   fit.residuals(type="pearson", scaled=True))
    assert type(fit.resid - 1) is pd.Series
    np.testing.assert_allclose(fit.fittedvalues, load_ref("sleep_slope")["augment"]["columns"][".fitted"],
                               rtol=1e-6)


@pytest.mark.parametrize("alpha", [0, 1, 1.5, "0.05"])
def test_conf_int_bad_alpha(alpha):
    with pytest.raises(ArgumentError, match="alpha"):
        fitted("sleep_slope").conf_int(alpha=alpha)


def test_repr_html_is_escaped_printed_text():
    fit = fitted("sleep_slope")
    for obj in (fit, fit.summary(), fit.VarCorr(), fit.anova()):
        html = obj._repr_html_()
        assert html.startswith('<pre class="lmerpy">') and html.endswith("</pre>")
        text = str(obj)
        assert html == ('<pre class="lmerpy">' + text.replace("&", "&amp;").replace("<", "&lt;")
                        .replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#x27;")
                        + "</pre>")
    assert "Pr(&gt;|z|)" in fitted("cbpp_logit").summary()._repr_html_()


def test_ranef_by_position():
    fit = fitted("pastes_nested")
    re = fit.ranef()
    names = list(re)
    for i, name in enumerate(names):
        assert re[i] is re[name]
    assert re[-1] is re[names[-1]]
    assert re[np.int64(0)] is re[names[0]]
    with pytest.raises(ArgumentError, match=r"position 2 is out of range.*cask:batch, batch"):
        re[2]
    with pytest.raises(KeyError):
        re[True]


def test_coef_by_position():
    """``coef(fit)[0]`` as R's ``coef(fit)[[1]]``; still the dict it was."""
    fit = fitted("pastes_nested")
    co = fit.coef()
    assert isinstance(co, dict)
    names = list(co)
    for i, name in enumerate(names):
        assert co[i] is co[name]
    assert co[-1] is co[names[-1]]
    pd.testing.assert_frame_equal(co[0], lmerpy.coef(fit)[names[0]])
    with pytest.raises(ArgumentError, match=r"coef: position -3 is out of range"):
        co[-3]


def test_glmm_resid_is_rs_default_deviance_residuals(gm1):
    pd.testing.assert_series_equal(pd.Series(gm1.resid), gm1.residuals(type="deviance"))
    pd.testing.assert_series_equal(gm1.resid(type="response"), gm1.residuals(type="response"))
    assert gm1.nobs == 56 == gm1.nobs()
