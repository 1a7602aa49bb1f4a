"""lmer against lme4 1.1-31 golden fits (tests/reference/*.json and tests/reference/lmer/*.json).

Tolerances (stated once, used everywhere):
- log-likelihood / REML criterion: 1e-4 absolute (the optimum itself);
- fixed effects: 2e-3 of their standard error; standard errors: 1e-3 relative;
- variance components (sdcor): 1e-3 relative (correlations 2e-3 absolute);
- conditional modes: 2e-3 of their conditional SD; conditional SDs 1e-3 relative;
- fitted values: 1e-4 of the response's SD;
- summary text: at lme4's θ̂, identical to lme4's (the ``Data:`` line aside: R prints the
  data's name); at lmerpy's own θ̂, identical but for one unit in the last printed digit of a
  number, as the two BOBYQA runs stop at slightly different points within their tolerance
  (InstEval's t value 111.858 vs 111.859), or a rounding tie decided by floating-point noise.

Where lme4 itself warned (``r_warnings``), a strictly higher log-likelihood is accepted (a better
optimum than lme4's); the estimates are then compared only when the optima coincide.
"""
import warnings

import numpy as np
import pytest
from _compare import (
    assert_ranef_matches,
    assert_varcorr_matches,
    decimals,
    differs_only_in_numbers,
    is_better_optimum,
    is_rounding_tie,
    strip_data_line,
    within_last_digit,
)
from _reference import case_kwargs, case_params, lmer_cases, load_case_data

import lmerpy

CASES = lmer_cases()


def _fit(ref):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.lmer(ref["formula"], data, REML=bool(ref["REML"]), **case_kwargs(ref, data))


@pytest.fixture(scope="module")
def fits():
    return {}


def get_fit(fits, ref):
    if ref["id"] not in fits:
        fits[ref["id"]] = _fit(ref)
    return fits[ref["id"]]


def _params(cases):
    return case_params(cases, slow_nobs=20000)


def better_optimum(fit, ref):
    """True when lmerpy found a strictly higher log-likelihood where lme4 warned."""
    return is_better_optimum(fit, ref, ll_abs=1e-4)


@pytest.mark.parametrize("ref", _params(CASES))
def test_criterion_and_fixed_effects(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        assert not fit.optsum.conv_messages or fit.isSingular()
        return
    if ref["REML"]:
        assert fit.REMLcrit() == pytest.approx(ref["REMLcrit"], abs=2e-4)
    else:
        assert fit.deviance() == pytest.approx(ref["deviance"], abs=2e-4)
    assert fit.AIC() == pytest.approx(ref["AIC"], abs=2e-4)
    assert fit.BIC() == pytest.approx(ref["BIC"], abs=2e-4)
    assert fit.logLik().df == ref["df"]
    fe = fit.fixef()
    assert list(fe.index) == list(ref["fixef"])
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    for k, (name, want) in enumerate(ref["fixef"].items()):
        assert abs(fe[name] - want) <= 2e-3 * ref["se"][name], name
        assert se[k] == pytest.approx(ref["se"][name], rel=1e-3), name
    assert fit.sigma() == pytest.approx(ref["sigma"], rel=1e-3)
    assert fit.nobs() == ref["nobs"]
    assert dict(fit.ngrps()) == ref["ngrps"]
    assert fit.isSingular() == bool(ref["singular"])


@pytest.mark.parametrize("ref", _params(CASES))
def test_variance_components(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    assert_varcorr_matches(fit, ref, sd_rel=1e-3, sd_abs=1e-6 * ref["sigma"], cor_abs=2e-3)
    assert np.asarray(fit.theta) == pytest.approx(np.asarray(ref["theta"]), abs=2e-3, rel=1e-3)


@pytest.mark.parametrize("ref", _params(CASES))
def test_conditional_modes(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    assert_ranef_matches(fit, ref, mode_tol=2e-3, sd_floor=1e-3 * ref["sigma"], condsd_rel=1e-3,
                         condsd_abs=1e-6 * ref["sigma"])


@pytest.mark.parametrize("ref", _params([r for r in CASES if "fitted" in r]))
def test_fitted_and_residuals(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    f = fit.fitted().to_numpy()
    r = np.asarray(ref["fitted"], dtype=float)
    scale = max(np.std(r), ref["sigma"])   # a singular fit's fitted values can be constant
    assert np.max(np.abs(f - r)) <= 1e-4 * scale
    res = fit.residuals().to_numpy()
    assert np.max(np.abs(res - np.asarray(ref["residuals"], dtype=float))) <= 1e-4 * scale


def fit_at_theta(fit, theta):
    """The same model evaluated at a given θ (lme4's θ̂), through the modular steps."""
    import dataclasses
    opt = dataclasses.replace(fit.optsum, theta=np.asarray(theta, dtype=float))
    return lmerpy.mkMerMod(fit.devfun, opt, fit.design, data=fit._data, call=fit.call)


def _last_digit_only(got, want, values=None):
    """True when ``got`` and ``want`` differ only in numbers printed one unit apart in their
    last digit. With ``values``, the midpoint must also be, to 1e-9 relative, one of them: an
    exact rounding tie, where the printed digit is decided by floating-point noise (lme4's as
    much as ours)."""
    def agree(a, b):
        return (decimals(b) == decimals(a) and within_last_digit(a, b)
                and (values is None or is_rounding_tie(a, b, values)))
    return differs_only_in_numbers(got, want, agree)


@pytest.mark.parametrize("ref", _params(CASES))
def test_summary_text_identical_to_lme4(fits, ref):
    fit = get_fit(fits, ref)
    got = strip_data_line(str(fit.summary()))
    want = strip_data_line(ref["summary_text"])
    if ref.get("r_warnings") and (better_optimum(fit, ref) or fit.optsum.conv_messages != ref.get("r_messages")):
        # lme4 printed its own (finite-difference) convergence warnings: compare the model's
        # description and tables up to lme4's convergence trailer
        cut = want.find("\noptimizer (")
        want = want[:cut] if cut >= 0 else want
        got = got[:len(want)] if not better_optimum(fit, ref) else got.split("\nScaled residuals")[0]
        want = want if not better_optimum(fit, ref) else want.split("\nScaled residuals")[0]
    if got != want:
        assert _last_digit_only(got, want), f"{got}\n!=\n{want}"


@pytest.mark.parametrize("ref", _params([r for r in CASES if not r.get("r_warnings")]))
def test_summary_text_at_lme4_theta_is_identical(fits, ref):
    fit = fit_at_theta(get_fit(fits, ref), ref["theta"])
    got = strip_data_line(str(fit.summary()))
    want = strip_data_line(ref["summary_text"])
    if got != want:
        coefs = fit.summary().coefficients.to_numpy().ravel()
        assert _last_digit_only(got, want, coefs), f"{got}\n!=\n{want}"
