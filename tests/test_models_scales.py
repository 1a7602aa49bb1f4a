"""Data on extreme scales: either the fit of the rescaled problem, rescaled back, or an error
naming the variable to rescale — never a fit that "succeeds" with σ = 0, NaN or a lost slope.

The classes (see lmerpy.design.scales and lmerpy.optimize.coords):

* a variable beyond 2^±500 (~1e±150: its square leaves double precision) -> DataError naming it;
* a response scaled by s -> β, b, σ, fitted scale by s, θ is unchanged, the REML log-likelihood
  shifts by −(n − p)·log s;
* a predictor scaled by s (in X and in a random term) -> its β, b and θ row scale by 1/s, the
  REML log-likelihood shifts by −log s (log|R_X|), everything else is unchanged;
* prior weights scaled by s -> σ by √s, θ by 1/√s, the log-likelihood is unchanged;
* a power-of-2 rescaling of a random-effects column of a GLMM gives the same fit bit for bit;
* whatever gets through and is not finite -> FitError naming the quantity.
"""
import math
import types

import numpy as np
import pytest

import lmerpy
from lmerpy.design.scales import EXTREME_EXPONENT, SCALE_EXPONENT
from lmerpy.errors import DataError, FitError
from lmerpy.models.finite import check_finite_fit

from _quiet import quiet

FM = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + x + (1 | herd)"
CBPP_SLOPE = "cbind(incidence, size - incidence) ~ period + x + (1 | herd) + (0 + x | herd)"

#: fits compared across scales run different optimizer paths (BOBYQA stops within ~1e-6 of
#: the optimum in θ): relative tolerances for θ and for what depends on it
TOL_THETA = 2e-4
TOL_EST = 2e-5
TOL_LL = 1e-6


@pytest.fixture(scope="module")
def cbpp_x(cbpp):
    """cbpp with a centred numeric predictor ``x`` (size / 16)."""
    return cbpp.assign(x=(cbpp["size"] - cbpp["size"].mean()) / 16.0)


def _scaled(data, column, s):
    out = data.copy()
    out[column] = out[column].astype(float) * s
    return out


def _assert_data_error(excinfo, culprit):
    msg = str(excinfo.value)
    assert culprit in msg and "rescale" in msg and "extreme scale" in msg


# ---------------------------------------------------------------------------------- response


@pytest.mark.parametrize("s", [1e-150, 1e-100, 1e-20, 1e-3, 1e20, 1e100])
def test_lmer_response_scaled_is_the_rescaled_fit(sleep, fm1, s):
    fit = quiet(lmerpy.lmer, FM, _scaled(sleep, "Reaction", s))
    n, p = fit.nobs(), len(fit.fixef())
    np.testing.assert_allclose(fit.theta, fm1.theta, rtol=TOL_THETA, atol=1e-6)
    np.testing.assert_allclose(fit.fixef() / s, fm1.fixef(), rtol=TOL_EST)
    assert fit.sigma() / s == pytest.approx(fm1.sigma(), rel=TOL_EST)
    np.testing.assert_allclose(fit.fitted() / s, fm1.fitted(), rtol=TOL_EST)
    np.testing.assert_allclose(fit.ranef()["Subject"] / s, fm1.ranef()["Subject"],
                               rtol=1e-3, atol=1e-3 * np.abs(fm1.ranef()["Subject"]).max().max())
    np.testing.assert_allclose(fit.vcov() / s ** 2, fm1.vcov(), rtol=1e-4)
    assert float(fit.logLik()) + (n - p) * math.log(s) == pytest.approx(float(fm1.logLik()),
                                                                        abs=TOL_LL * n)


@pytest.mark.parametrize("s", [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300])
def test_lmer_response_beyond_double_precision_is_refused(sleep, s):
    with pytest.raises(DataError) as e:
        lmerpy.lmer(FM, _scaled(sleep, "Reaction", s))
    _assert_data_error(e, "'Reaction'")


# ---------------------------------------------------------------------------------- predictors


@pytest.mark.parametrize("s", [1e-150, 1e-100, 1e-20, 1e-8, 1e-4, 2e3, 1e4, 1e8, 1e20, 1e100])
def test_lmer_predictor_in_x_and_z_scaled_is_the_rescaled_fit(sleep, fm1, s):
    # Days is a fixed effect and a random slope: its θ row and β take 1/s
    fit = quiet(lmerpy.lmer, FM, _scaled(sleep, "Days", s))
    th = fit.theta * np.array([1.0, s, s])
    np.testing.assert_allclose(th, fm1.theta, rtol=TOL_THETA, atol=5e-5)
    np.testing.assert_allclose(fit.fixef() * np.array([1.0, s]), fm1.fixef(), rtol=TOL_EST)
    assert fit.sigma() == pytest.approx(fm1.sigma(), rel=TOL_EST)
    np.testing.assert_allclose(fit.fitted(), fm1.fitted(), rtol=TOL_EST)
    vc, vc0 = fit.VarCorr().terms[0], fm1.VarCorr().terms[0]
    np.testing.assert_allclose(vc.stddev * np.array([1.0, s]), vc0.stddev, rtol=TOL_THETA)
    np.testing.assert_allclose(vc.corr, vc0.corr, atol=1e-3)
    # REML: log|R_X|² grows by 2 log s
    assert float(fit.logLik()) + math.log(s) == pytest.approx(float(fm1.logLik()), abs=1e-5)
    assert not fit.isSingular()
    assert fit.optsum.conv_messages == []


@pytest.mark.parametrize("k", [-400, -66, -30, 30, 66, 400])
def test_lmer_power_of_two_predictor_scale(sleep, k):
    # the rescaled column has max |x| ~ 1 (no rescaling); 2^k of it runs in the same
    # coordinates: the same fit up to the REML constant's rounding
    d = sleep.copy()
    d["x"] = d["Days"] / 8.0
    ref = quiet(lmerpy.lmer, "Reaction ~ x + (x | Subject)", d)
    d["x"] = np.ldexp(d["x"].to_numpy(), k)
    fit = quiet(lmerpy.lmer, "Reaction ~ x + (x | Subject)", d)
    np.testing.assert_allclose(fit.theta * np.ldexp(1.0, [0, k, k]), ref.theta, rtol=1e-6)
    np.testing.assert_allclose(fit.fixef() * np.ldexp(1.0, [0, k]), ref.fixef(), rtol=1e-9)
    assert float(fit.logLik()) + k * math.log(2.0) == pytest.approx(float(ref.logLik()),
                                                                    abs=1e-9)
    np.testing.assert_array_equal(fit.optsum.coord_scale, np.ldexp(1.0, [0, -k, -k]))


@pytest.mark.parametrize("s", [1e-150, 1e-20, 1e20, 1e100])
def test_lmer_fixed_only_predictor_scaled(sleep, s):
    ref = quiet(lmerpy.lmer, "Reaction ~ Days + (1 | Subject)", sleep)
    fit = quiet(lmerpy.lmer, "Reaction ~ Days + (1 | Subject)", _scaled(sleep, "Days", s))
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=TOL_THETA)
    np.testing.assert_allclose(fit.fixef() * np.array([1.0, s]), ref.fixef(), rtol=TOL_EST)
    assert fit.sigma() == pytest.approx(ref.sigma(), rel=TOL_EST)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov())) * np.array([1.0, s]),
                               np.sqrt(np.diag(ref.vcov())), rtol=1e-4)


@pytest.mark.parametrize("s", [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300])
@pytest.mark.parametrize("formula", [FM, "Reaction ~ Days + (1 | Subject)"])
def test_lmer_predictor_beyond_double_precision_is_refused(sleep, formula, s):
    # an underflowing column must not be dropped as rank deficient (a lost slope)
    with pytest.raises(DataError) as e:
        lmerpy.lmer(formula, _scaled(sleep, "Days", s))
    _assert_data_error(e, "'Days'")


def test_random_term_column_beyond_double_precision_is_refused(sleep):
    d = _scaled(sleep, "Days", 1e-300)
    with pytest.raises(DataError) as e:
        lmerpy.lmer("Reaction ~ 1 + (0 + Days | Subject)", d)
    _assert_data_error(e, "'Days' of the random term (0 + Days | Subject)")


@pytest.mark.parametrize("s", [1e-20, 1e20])
def test_ddf_of_a_rescaled_fit(sleep, fm1, s):
    fit = quiet(lmerpy.lmer, FM, _scaled(sleep, "Days", s))
    for ddf in ("Satterthwaite", "Kenward-Roger"):
        a = quiet(lambda: fm1.summary(ddf=ddf).coefficients)
        b = quiet(lambda: fit.summary(ddf=ddf).coefficients)
        np.testing.assert_allclose(b["df"], a["df"], rtol=1e-3)
        np.testing.assert_allclose(b["t value"], a["t value"], rtol=1e-4)


def test_profile_confint_of_a_rescaled_fit(sleep, fm1):
    s = 1e-20
    fit = quiet(lmerpy.lmer, FM, _scaled(sleep, "Days", s))
    a = quiet(fm1.confint)
    b = quiet(fit.confint)
    b.loc[".sig03"] = b.loc[".sig03"] * s
    b.loc["Days"] = b.loc["Days"] * s
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("s", [1e-100, 1e-20, 1e20, 1e100])
def test_lmer_weights_scaled(sleep, s):
    w = np.linspace(0.5, 2.0, len(sleep))
    ref = quiet(lmerpy.lmer, FM, sleep, weights=w)
    fit = quiet(lmerpy.lmer, FM, sleep, weights=w * s)
    np.testing.assert_allclose(fit.theta * math.sqrt(s), ref.theta, rtol=TOL_THETA, atol=5e-5)
    np.testing.assert_allclose(fit.fixef(), ref.fixef(), rtol=TOL_EST)
    assert fit.sigma() / math.sqrt(s) == pytest.approx(ref.sigma(), rel=TOL_EST)
    assert float(fit.logLik()) == pytest.approx(float(ref.logLik()), abs=1e-5)


@pytest.mark.parametrize("s", [1e-300, 1e300])
def test_lmer_weights_beyond_double_precision_are_refused(sleep, s):
    with pytest.raises(DataError) as e:
        lmerpy.lmer(FM, sleep, weights=np.full(len(sleep), s))
    _assert_data_error(e, "'weights'")


def test_lmer_offset_beyond_double_precision_is_refused(sleep):
    off = np.full(len(sleep), 1e300)
    with pytest.raises(DataError) as e:
        lmerpy.lmer(FM, sleep, offset=off)
    _assert_data_error(e, "'Reaction' minus the offset")


# ---------------------------------------------------------------------------------- glmer


@pytest.mark.parametrize("s", [1e-150, 1e-20, 1e-8, 1e8, 1e20, 1e100])
def test_glmer_predictor_scaled_is_the_rescaled_fit(cbpp_x, s):
    ref = quiet(lmerpy.glmer, CBPP, cbpp_x, family="binomial")
    fit = quiet(lmerpy.glmer, CBPP, _scaled(cbpp_x, "x", s), family="binomial")
    scale = np.ones(len(ref.fixef()))
    scale[-1] = s
    np.testing.assert_allclose(fit.fixef() * scale, ref.fixef(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-4)
    assert float(fit.logLik()) == pytest.approx(float(ref.logLik()), abs=1e-6)
    # the Hessian-based standard errors, back in the model's coordinates
    se, se0 = np.sqrt(np.diag(fit.vcov())) * scale, np.sqrt(np.diag(ref.vcov()))
    np.testing.assert_allclose(se, se0, rtol=1e-3)


@pytest.mark.parametrize("k", [-300, -66, -30, 30, 66, 300])
def test_glmer_power_of_two_random_slope_scale_is_exact(cbpp_x, k):
    ref = quiet(lmerpy.glmer, CBPP_SLOPE, cbpp_x, family="binomial")
    fit = quiet(lmerpy.glmer, CBPP_SLOPE, _scaled(cbpp_x, "x", math.ldexp(1.0, k)),
                 family="binomial")
    np.testing.assert_array_equal(fit.theta * np.ldexp(1.0, [0, k]), ref.theta)
    np.testing.assert_array_equal(fit.fixef() * np.ldexp(1.0, [0, 0, 0, 0, k]), ref.fixef())
    assert float(fit.logLik()) == float(ref.logLik())


@pytest.mark.parametrize("s", [1e-300, 1e300])
def test_glmer_predictor_beyond_double_precision_is_refused(cbpp_x, s):
    with pytest.raises(DataError) as e:
        lmerpy.glmer(CBPP, _scaled(cbpp_x, "x", s), family="binomial")
    _assert_data_error(e, "'x'")


def test_glmer_poisson_counts_beyond_double_precision_are_refused():
    g = lmerpy.datasets.load("grouseticks")
    with pytest.raises(DataError) as e:
        lmerpy.glmer("TICKS ~ YEAR + (1 | BROOD)", _scaled(g, "TICKS", 1e300), family="poisson")
    _assert_data_error(e, "'TICKS'")


def test_glmer_huge_poisson_counts_fail_naming_the_response():
    # counts of 1e13: the working weights make R_X's downdate cancel at the start; the error
    # says so and gives the data's scales
    g = lmerpy.datasets.load("grouseticks")
    with pytest.raises(FitError) as e:
        quiet(lmerpy.glmer, "TICKS ~ YEAR + (1 | BROOD)", _scaled(g, "TICKS", 1e12),
               family="poisson")
    msg = str(e.value)
    assert "at the starting values" in msg and "response 'TICKS'" in msg


@pytest.mark.parametrize("s", [1e-300, 1e300])
def test_glmer_weights_beyond_double_precision_are_refused(cbpp_x, s):
    with pytest.raises(DataError) as e:
        lmerpy.glmer("incidence / size ~ period + (1 | herd)", cbpp_x, family="binomial",
                     weights=cbpp_x["size"].to_numpy() * s)
    _assert_data_error(e, "'weights'")


def test_glmer_offset_beyond_double_precision_is_refused(cbpp_x):
    with pytest.raises(DataError) as e:
        lmerpy.glmer(CBPP, cbpp_x, family="binomial", offset=np.full(len(cbpp_x), 1e300))
    _assert_data_error(e, "the offset")


def test_glmer_offset_beyond_the_optimizers_resolution(cbpp_x):
    # η = 1e20 + Xβ: the intercept must cancel 1e20, where a double's spacing is 16384
    with pytest.raises(FitError) as e:
        quiet(lmerpy.glmer, CBPP, cbpp_x, family="binomial", offset=np.full(len(cbpp_x), 1e20))
    msg = str(e.value)
    assert "the fixed effect '(Intercept)'" in msg and "offset: largest |value| 1e+20" in msg


# ---------------------------------------------------------------------------------- refits


def test_refit_newresp_beyond_double_precision_is_refused(fm1, sleep):
    with pytest.raises(DataError) as e:
        fm1.refit(sleep["Reaction"].to_numpy() * 1e300)
    _assert_data_error(e, "'newresp'")


def test_refit_newresp_scaled(fm1, sleep):
    s = 1e-100
    fit = quiet(fm1.refit, sleep["Reaction"].to_numpy() * s)
    np.testing.assert_allclose(fit.theta, fm1.theta, rtol=TOL_THETA)
    np.testing.assert_allclose(fit.fixef() / s, fm1.fixef(), rtol=TOL_EST)


# ---------------------------------------------------------------------------------- the last check


def test_sigma_whose_square_underflows_is_a_fit_error(sleep):
    # |y| within range, but residuals 1e-8 of it: σ² would be subnormal (vcov, VarCorr lost)
    d = sleep.copy()
    rng = np.random.default_rng(1)
    d["y"] = 1e-150 * (10.0 * d["Days"] + 1e-8 * rng.standard_normal(len(d)))
    with pytest.raises(FitError) as e:
        quiet(lmerpy.lmer, "y ~ Days + (1 | Subject)", d)
    msg = str(e.value)
    assert "σ =" in msg and "not representable" in msg and "response 'y'" in msg


def _solution(**changes):
    sol = dict(criterion=1.0, beta=np.ones(2), theta=np.ones(1), b=np.zeros(3),
               fitted=np.ones(4), sigma=1.0, devres=np.ones(4), mu=np.full(4, 0.5))
    sol.update(changes)
    return types.SimpleNamespace(**sol)


@pytest.fixture(scope="module")
def design(sleep):
    return lmerpy.lFormula(FM, sleep)


@pytest.mark.parametrize("changes, culprit", [
    ({"criterion": -np.inf}, "criterion"),
    ({"beta": np.array([1.0, np.nan])}, "β (fixef)"),
    ({"theta": np.array([np.inf])}, "θ"),
    ({"b": np.array([0.0, np.nan, 0.0])}, "b (ranef)"),
    ({"fitted": np.array([1.0, np.nan, 1.0, 1.0])}, "fitted values"),
    ({"sigma": np.inf}, "non-finite σ"),
    ({"sigma": 0.0}, "σ = 0"),
    ({"sigma": 1e-160}, "not representable"),
    ({"sigma": 1e160}, "not representable"),
])
def test_check_finite_fit_names_the_quantity(design, changes, culprit):
    with pytest.raises(FitError) as e:
        check_finite_fit(design, _solution(**changes))
    msg = str(e.value)
    assert culprit in msg and "rescale" in msg and "response 'Reaction'" in msg
    assert "largest-scale column 'Days'" in msg


@pytest.mark.parametrize("changes, culprit", [
    ({"devres": np.array([1.0, np.inf, 1.0, 1.0])}, "deviance (sum of deviance residuals)"),
    ({"mu": np.array([0.5, np.nan, 0.5, 0.5])}, "fitted values"),
    ({"beta": np.array([np.nan, 1.0])}, "β (fixef)"),
])
def test_check_finite_fit_glmm(design, changes, culprit):
    with pytest.raises(FitError) as e:
        check_finite_fit(design, _solution(**changes), glmm=True, has_scale=False)
    assert culprit in str(e.value)
    # σ is 1 by definition for binomial/Poisson: not checked
    check_finite_fit(design, _solution(sigma=np.nan), glmm=True, has_scale=False)


def test_normal_data_untouched(fm1):
    # within 2^±10 nothing is rescaled: lme4's start and coordinates (the golden tests pin
    # the bits of the fits themselves)
    assert fm1.optsum.coord_scale is None
    np.testing.assert_array_equal(fm1.optsum.theta_start, [1.0, 0.0, 1.0])
    assert max(fm1.design.reterms[0].X.max(), fm1.design.X.max()) < 2.0 ** SCALE_EXPONENT


def test_the_refusal_bound_keeps_squares_normal():
    # a magnitude at the bound squares to a normal double with room for the sums of n terms
    big = 2.0 ** EXTREME_EXPONENT
    assert math.isfinite(big * big * 2.0 ** 20) and (1 / big) ** 2 > np.finfo(float).tiny
