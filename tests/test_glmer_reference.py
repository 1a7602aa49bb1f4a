"""glmer and glmer_nb against lme4 1.1-31 golden fits (tests/reference/{cbpp_laplace,cbpp_agq25,
grouseticks_poisson}.json and tests/reference/glmer/*.json).

Tolerances (stated once, used everywhere):
- log-likelihood: 1e-5 absolute (negative binomial: 3e-3, see below); AIC, BIC from it; df equal;
- fixed effects: 1e-3 of their standard error; standard errors: 5e-4 relative;
- θ: 1e-4 absolute; variance components (sdcor): 5e-4 relative; σ (Gamma, inverse Gaussian):
  1e-5 relative;
- conditional modes: 2e-3 of their conditional SD; conditional SDs 1e-4 relative;
- fitted values: 5e-4 of their SD; deviance, Pearson residuals and the linear predictor: 1e-4
  absolute; ``deviance()`` (Σ squared deviance residuals): 1e-5 relative;
- summary text (the ``Data:`` line aside: R prints the data's name):
  * at lme4's (θ, β): identical up to the fixed effects but for one unit in the last printed
    digit; the fixed-effects table and correlations come from the Hessian of lme4's deviance,
    whose log|L|² is one PIRLS step behind ũ and so depends slightly on where PIRLS starts
    (2e-4 relative in an SE on VerbAgg): there 2e-2 relative (p-values amplify an SE's error
    by about z²) or one unit in the last digit;
  * at lmerpy's own optimum: the same text with numbers within one unit in their last digit,
    1e-3 relative or 1e-5 absolute (Nelder-Mead stops at a slightly different point within
    its tolerance), the spacing of the fixed-effects table aside (the width of its p-value
    column follows the rounding of its smallest entry); where lme4 warned, up to the fixed
    effects only;
  * for nAGQ > 1 lmerpy reports the log-likelihood on the Laplace scale (it includes the
    saturated constant that lme4's omits, lme4 issue #161), so there the criteria line is
    compared after converting lmerpy's values back to lme4's scale with lmerpy's own
    saturated log-likelihood (which must equal the golden's ``saturated_logLik``, 1e-8).

lme4's Laplace deviance uses log|L|² of the working weights one PIRLS step before ũ. With the
canonical links PIRLS converges quadratically and that costs nothing, but the negative binomial
(non-canonical variance) converges slowly and lme4's deviance there carries an error of up to
about 3e-3 that depends on the previous refit: lmerpy's glmer_nb evaluates the Laplace deviance at ũ
itself, so its log-likelihood may differ from lme4's by that much (θ, β, SEs still agree to the
tolerances above).

Where lme4 itself warned (``r_warnings``), a strictly higher log-likelihood is accepted (a better
optimum than lme4's); the estimates are then compared only when the optima coincide.

The fits above use lme4's optimizer path, ``glmerControl(optimizer=["bobyqa", "Nelder_Mead"])``
(:data:`LME4_PATH`). glmer's default (L-BFGS-B on the Laplace deviance at the conditional mode
with its analytic gradient) minimises a slightly different function than lme4's deviance (whose
log|L|² lags PIRLS's last step): its criterion is tested in test_optimize_glmm_laplace.py
(never worse than lme4's by more than 1e-6 relative), and its summary text here
(:func:`test_summary_text_at_default`): lme4's text with every number within
:data:`DEFAULT_REL` relative (in the fixed-effects table HESSIAN_REL, for the p-values),
spacing aside — the two functions' optima differ by up to
2.5e-3 in θ (binary_random_slope: an SD of 0.7153 against lme4's 0.7130, β moving by 1% of its
standard error, a p-value by 1%).
"""
import dataclasses
import warnings

import numpy as np
import pytest
from _compare import (
    assert_ranef_matches,
    assert_varcorr_matches,
    differs_only_in_numbers,
    is_better_optimum,
    strip_data_line,
)
from _reference import case_kwargs, case_params, glmer_cases, load_case_data

import lmerpy
from lmerpy.display.mermod import format_aictab
from lmerpy.families import FAMILIES
from lmerpy.optimize.derivs import compute_derivs

CASES = glmer_cases()


def _family(ref):
    return FAMILIES[ref["family"]](link=ref["link"])


def _nagq(ref):
    return 1 if ref.get("nAGQ") is None else int(ref["nAGQ"])


#: lme4's optimizers (glmer's default is gradient-based, see the module docstring)
LME4_PATH = lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"])
#: numbers of the summary at glmer's default optimum against lme4's printout
DEFAULT_REL = 1e-2


def _fit(ref, control=LME4_PATH):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "glmer.nb":
            return lmerpy.glmer_nb(ref["formula"], data, control=control,
                                   **case_kwargs(ref, data))
        return lmerpy.glmer(ref["formula"], data, family=_family(ref),
                            nAGQ=_nagq(ref), control=control, **case_kwargs(ref, data))


@pytest.fixture(scope="module")
def fits():
    return {}


def get_fit(fits, ref):
    if ref["id"] not in fits:
        fits[ref["id"]] = _fit(ref)
    return fits[ref["id"]]


def _params(cases):
    return case_params(cases, slow_nobs=50000)


def _ll_tol(ref):
    return 3e-3 if ref["fn"] == "glmer.nb" else 1e-5


def better_optimum(fit, ref):
    """True when lmerpy found a strictly higher log-likelihood where lme4 warned."""
    return is_better_optimum(fit, ref, ll_abs=_ll_tol(ref))


@pytest.mark.parametrize("ref", _params(CASES))
def test_criteria_and_fixed_effects(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    tol = _ll_tol(ref)
    assert fit.AIC() == pytest.approx(ref["AIC"], abs=2 * tol)
    assert fit.BIC() == pytest.approx(ref["BIC"], abs=2 * tol)
    assert fit.logLik().df == ref["df"]
    assert fit.df_residual() == ref["nobs"] - ref["df"]
    assert fit.deviance() == pytest.approx(ref["deviance"], rel=1e-5)
    fe = fit.fixef()
    assert list(fe.index) == list(ref["fixef"])
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    for k, (name, want) in enumerate(ref["fixef"].items()):
        assert abs(fe[name] - want) <= 1e-3 * ref["se"][name], name
        assert se[k] == pytest.approx(ref["se"][name], rel=5e-4), name
    assert fit.sigma() == pytest.approx(ref["sigma"], rel=1e-5)
    assert fit.nobs() == ref["nobs"]
    assert dict(fit.ngrps()) == ref["ngrps"]
    assert fit.isSingular() == bool(ref["singular"])
    if ref["fn"] == "glmer.nb":
        assert fit.getME("glmer.nb.theta") == pytest.approx(ref["nb_theta"], rel=1e-4)
        assert fit.family.family == ref["family"]
    else:
        assert (fit.family.family, fit.family.link) == (ref["family"], ref["link"])


@pytest.mark.parametrize("ref", _params(CASES))
def test_variance_components(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    assert np.asarray(fit.theta) == pytest.approx(np.asarray(ref["theta"]), abs=1e-4)
    assert_varcorr_matches(fit, ref, sd_rel=5e-4, sd_abs=1e-6, cor_abs=1e-3)


@pytest.mark.parametrize("ref", _params(CASES))
def test_conditional_modes(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    assert_ranef_matches(fit, ref, mode_tol=2e-3, sd_floor=0.0, condsd_rel=1e-4)


@pytest.mark.parametrize("ref", _params([r for r in CASES if "fitted" in r]))
def test_fitted_residuals_and_predictions(fits, ref):
    fit = get_fit(fits, ref)
    if better_optimum(fit, ref):
        return
    f = fit.fitted().to_numpy()
    r = np.asarray(ref["fitted"], dtype=float)
    assert np.max(np.abs(f - r)) <= 5e-4 * np.std(r)
    res = fit.residuals().to_numpy()          # deviance residuals by default
    assert np.max(np.abs(res - np.asarray(ref["residuals"], dtype=float))) <= 1e-4
    if "residuals_pearson" in ref:
        rp = fit.residuals(type="pearson").to_numpy()
        assert np.max(np.abs(rp - np.asarray(ref["residuals_pearson"], dtype=float))) <= 1e-4
    if "predict_link" in ref:
        eta = fit.predict().to_numpy()
        assert np.max(np.abs(eta - np.asarray(ref["predict_link"], dtype=float))) <= 1e-4
        mu = fit.predict(type="response").to_numpy()
        np.testing.assert_allclose(mu, f, rtol=0, atol=1e-15)
    y = fit.getME("y")
    if "design" in ref and "y" in ref["design"] and np.ndim(ref["design"]["y"]) == 1:
        np.testing.assert_allclose(y, np.asarray(ref["design"]["y"], dtype=float), rtol=1e-12)
    np.testing.assert_allclose(fit.residuals(type="response").to_numpy(), y - f, atol=1e-15)


# ---------------------------------------------------------------------- summary text

#: at lmerpy's own optimum: Nelder-Mead stops within its tolerance at a slightly different
#: point (1e-4 of an SE in β), which the 6-7 digits lme4 prints can show; p-values amplify it
SUMMARY_REL, SUMMARY_ABS = 1e-3, 1e-5
#: at lme4's estimates, the numbers that come from the Hessian (standard errors, z and
#: p-values, correlations): lme4's deviance depends slightly on where PIRLS starts (its
#: log|L|² is one step behind ũ), so its Hessian too: 2e-4 relative in an SE on VerbAgg,
#: which a p-value amplifies by about z² (4.44e-16 vs 4.40e-16 at z = 8.1)
HESSIAN_REL = 2e-2


def _unit(text):
    """One unit in the last printed digit of a number such as 0.006364 or 2.78e-06."""
    mant, _, exp = text.lower().partition("e")
    return 10.0 ** ((int(exp) if exp else 0) - len(mant.split(".")[1]))


def _numbers_close(got, want, rel=0.0, abs_=0.0, pvalue_width=False):
    """True when ``got`` and ``want`` are the same text but for numbers that differ by at most
    one unit in their last printed digit, or by at most ``rel`` relative or ``abs_``.

    ``pvalue_width``: the lines of the fixed-effects table may also differ in their spacing.
    R prints the Pr(>|z|) column with the digits its smallest entry needs (3 significant,
    trailing zeros dropped), so one p-value on the edge of a rounding (VerbAgg: Anger's is
    0.0006295; 0.000629 prints in a column one digit wider than 0.00063) moves the column."""
    def agree(a, b):
        d = abs(float(a) - float(b))
        return not (d > 1.5 * _unit(b) and d > rel * abs(float(b)) and d > abs_)
    if pvalue_width:
        got, want = _fixef_table_spacing(got), _fixef_table_spacing(want)
    return differs_only_in_numbers(got, want, agree)


def _fixef_table_spacing(text):
    """The text with each run of spaces inside the fixed-effects table made one space."""
    head, sep, rest = text.partition("\nFixed effects:\n")
    if not sep:
        return text
    table, end, tail = rest.partition("\n---\n")
    table = "\n".join(" ".join(line.split()) for line in table.splitlines())
    return head + sep + table + end + tail


def _summary_lines(fit, ref):
    """lmerpy's summary without the Data: line; for nAGQ > 1 the criteria line on lme4's
    (AGQ) scale, computed from lmerpy's log-likelihood and its own saturated constant."""
    text = str(fit.summary())
    if fit.nAGQ > 1:
        sat = -0.5 * fit.devfun.resp.saturated_aic()
        if "saturated_logLik" in ref:
            assert sat == pytest.approx(ref["saturated_logLik"], rel=1e-8)
        ll = float(fit.logLik()) - sat
        df = fit.logLik().df
        crit = {"AIC": -2 * ll + 2 * df, "BIC": -2 * ll + np.log(fit.nobs()) * df, "logLik": ll,
                "deviance": -2 * ll, "df.resid": fit.df_residual()}
        ours = format_aictab(crit)
        mine = format_aictab({"AIC": fit.AIC(), "BIC": fit.BIC(), "logLik": float(fit.logLik()),
                              "deviance": -2 * float(fit.logLik()),
                              "df.resid": fit.df_residual()})
        assert mine in text
        text = text.replace(mine, ours)
    return strip_data_line(text)


def fit_at_lme4(fit, ref):
    """The same model at lme4's (θ, β) (θ only for nAGQ = 0) through the modular steps, with
    the derivatives recomputed there and lme4's convergence messages."""
    dev = fit.devfun
    x = np.asarray(ref["theta"], dtype=float)
    if fit.nAGQ > 0:
        x = np.concatenate((x, np.asarray(list(ref["fixef"].values()), dtype=float)))
    opt = dataclasses.replace(fit.optsum, theta=x, fmin=dev(x),
                              conv_messages=list(ref.get("r_messages") or []))
    if fit.nAGQ > 0:
        d = compute_derivs(dev, x, dev.lower, None, use_gradient=False)
        opt.derivs = {k: d[k] for k in ("gradient", "Hessian", "method")}
    return lmerpy.mkGlmerMod(dev, opt, fit.design, data=fit._data, call=fit.call)


@pytest.mark.parametrize("ref", _params(CASES))
def test_summary_text_as_lme4(fits, ref):
    fit = get_fit(fits, ref)
    got = _summary_lines(fit, ref)
    want = strip_data_line(ref["summary_text"])
    if ref.get("r_warnings"):
        # lme4 warned that it did not converge (its Hessian is near singular): the text up to
        # the fixed effects, whose numbers test_criteria_and_fixed_effects compares
        cut = want.find("\nFixed effects:")
        want, got = want[:cut], got[:cut]
    else:
        assert fit.optsum.conv_messages == []
    assert _numbers_close(got, want, SUMMARY_REL, SUMMARY_ABS, pvalue_width=True), \
        f"{got}\n!=\n{want}"


@pytest.mark.parametrize("ref", _params([r for r in CASES if not r.get("r_warnings")]))
def test_summary_text_at_lme4_estimates_is_identical(fits, ref):
    fit = get_fit(fits, ref)
    if ref["fn"] == "glmer.nb":   # lme4's θ, and glmer_nb's Laplace deviance at ũ
        fam = lmerpy.negative_binomial(ref["nb_theta"])
        data = load_case_data(ref)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = lmerpy.glmer(ref["formula"], data, family=fam, control=LME4_PATH,
                               **case_kwargs(ref, data))
        fit.devfun.precise = True
    at = fit_at_lme4(fit, ref)
    got = _summary_lines(at, ref)
    want = strip_data_line(ref["summary_text"])
    cut = want.find("\nFixed effects:")
    assert _numbers_close(got[:cut], want[:cut]), f"{got}\n!=\n{want}"
    assert _numbers_close(got[cut:], want[cut:], HESSIAN_REL), f"{got}\n!=\n{want}"


@pytest.mark.parametrize("ref", _params(CASES))
def test_summary_text_at_default(ref):
    fit = _fit(ref, control=None)
    got = _summary_lines(fit, ref)
    want = strip_data_line(ref["summary_text"])
    if ref.get("r_warnings"):
        cut = want.find("\nFixed effects:")
        want, got = want[:cut], got[:cut]
    else:
        assert fit.optsum.conv_messages == []

    def within(rel):
        return lambda a, b: abs(float(a) - float(b)) <= max(rel * abs(float(b)),
                                                             1.5 * _unit(b))
    cut = want.find("\nFixed effects:")
    cut = len(want) if cut < 0 else cut
    assert differs_only_in_numbers(got[:cut], want[:cut], within(DEFAULT_REL), padding=True), \
        f"{got}\n!=\n{want}"
    # p-values amplify a relative change of z by about z² (VerbAgg's 4.38e-16 for 4.44e-16)
    assert differs_only_in_numbers(got[cut:], want[cut:], within(HESSIAN_REL), padding=True), \
        f"{got}\n!=\n{want}"
