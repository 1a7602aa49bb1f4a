"""confint(): profile, Wald and bootstrap intervals against lme4 1.1-31.

Goldens: tests/reference/inference/*.json (``confint_profile``, ``confint_wald``, made by
r/make_inference_goldens.R) and tests/reference/profile/*.json (other levels, ``oldNames =
FALSE``, parameter subsets; r/make_profile_goldens.R).

Tolerances:
- profile limits: 1e-3 relative (limits on a bound, 0 or ±1, exactly);
- Wald limits of LMMs: 1e-6 relative, at lme4's θ̂ (``fit_at_lme4_theta``: lmerpy's fit is the
  optimum itself, lme4's standard errors those of its optimizer's stopping point);
- Wald limits of GLMMs: 1e-4 relative: lme4 takes their standard errors from a finite-
  difference Hessian of the Laplace deviance, which lmerpy's glmer reproduces to about 1e-5
  (lmerpy/pls/glmm/deviance.py); the interval itself is checked exactly against
  fixef ± qnorm · sqrt(diag(vcov));
- bootstrap (random, so statistical): with 100 parametric replicates the normal interval's
  half-width is 1.96 × the bootstrap SD, within 25% of the Wald half-width (the SD of a
  100-draw SD is 7%).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _compare import fit_at_lme4_theta
from _reference import LME4_GLMER, load_case_data
from scipy.stats import norm

import lmerpy
from lmerpy.errors import LmerpyError, LmerpyMessage
from lmerpy.inference.confint import confint, percent_labels

REF = Path(__file__).parent / "reference"
INF = sorted((REF / "inference").glob("*.json"))
PROF = sorted((REF / "profile").glob("*.json"))


def _load(path):
    return json.loads(Path(path).read_text())


_FITS = {}


def _fit_spec(data_name, fn, formula, REML=True, family=None, weights=None):
    key = (data_name, fn, formula, REML, family, weights)
    if key not in _FITS:
        data = load_case_data({"data": data_name})
        kw = {"weights": weights} if weights else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fn == "lmer":
                _FITS[key] = lmerpy.lmer(formula, data, REML=REML, **kw)
            else:
                _FITS[key] = lmerpy.glmer(formula, data, family=family, control=LME4_GLMER,
                                          **kw)
    return _FITS[key]


def _main_fit(ref):
    m = ref["models"][ref["main"]]
    return _fit_spec(ref["data"], m["fn"], m["formula"], m["REML"], m.get("family"))


def _values(rows):
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


def _cases(key):
    out = []
    for p in INF:
        ref = _load(p)
        if key in ref:
            out.append(pytest.param(ref, id=ref["id"]))
    return out


@pytest.mark.parametrize("ref", _cases("confint_profile"))
def test_profile_confint_matches_lme4(ref):
    fit = _main_fit(ref)
    want = ref["confint_profile"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ci = confint(fit)
    assert list(ci.index) == want["rownames"]
    assert list(ci.columns) == want["colnames"]
    np.testing.assert_allclose(ci.to_numpy(), _values(want["values"]), rtol=1e-3, atol=0)
    msgs = [str(w.message) for w in caught]
    assert "Computing profile confidence intervals ..." in msgs      # lme4's message
    assert not [m for m in msgs if "profile" in m and "Computing" not in m]
    assert not want["r_warnings"]


@pytest.mark.parametrize("ref", _cases("confint_wald"))
def test_wald_confint_matches_lme4(ref):
    fit = _main_fit(ref)
    glmm = ref["models"][ref["main"]]["fn"] == "glmer"
    if not glmm:
        fit = fit_at_lme4_theta(fit, ref["models"][ref["main"]]["theta"])
    want = ref["confint_wald"]
    ci = confint(fit, method="Wald")
    assert list(ci.index) == want["rownames"]
    assert list(ci.columns) == want["colnames"]
    exp = _values(want["values"])
    got = ci.to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(exp))     # NA for variance parameters
    np.testing.assert_allclose(got, exp, rtol=1e-4 if glmm else 1e-6)
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    beta = fit.fixef().to_numpy()
    k = len(beta)
    np.testing.assert_allclose(got[-k:], beta[:, None] + se[:, None] * norm.ppf([0.025, 0.975]),
                               rtol=1e-14)


def _prof_cases():
    out = []
    for p in PROF:
        ref = _load(p)
        if "confint" not in ref:
            continue
        for k, c in enumerate(ref["confint"]):
            marks = [pytest.mark.slow] if ref["id"] == "groups_3x3" else []
            out.append(pytest.param(ref, k, id=f"{ref['id']}-{k}", marks=marks))
    return out


# lme4's profiles that are not profiles: lme4 1.1-31 ignores the prior weights when it
# profiles fixed effects (see test_profile.py::test_weighted_fixed_effect_profile_...), and the
# 3x3 model's correlation profiles jump between two local optima in lme4 as here (both warn
# "non-monotonic profile"), so the linear fall-back limits depend on where each optimizer lands
_NOT_COMPARABLE = {("groups_weights", "(Intercept)"), ("groups_weights", "x"),
                   ("groups_3x3", ".sig03"), ("groups_3x3", ".sig06")}


@pytest.mark.parametrize("ref,k", _prof_cases())
def test_profile_confint_levels_names_and_subsets(ref, k):
    want = ref["confint"][k]
    fit = _fit_spec(ref["data"], ref["fn"], ref["formula"], ref["REML"], ref.get("family"),
                    ref.get("weights"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ci = confint(fit, parm=want["parm"], level=want["level"], oldNames=want["oldNames"],
                     quiet=True)
    assert list(ci.index) == want["rownames"]
    assert list(ci.columns) == want["colnames"]
    exp = _values(want["values"])
    names = list(ci.index)
    old = confint(fit, method="Wald").index.tolist()      # .sig01 ... for the full list
    for i, nm in enumerate(names):
        old_name = old[i] if want["oldNames"] is False else nm
        if (ref["id"], old_name) in _NOT_COMPARABLE:
            continue
        np.testing.assert_allclose(ci.iloc[i].to_numpy(), exp[i], rtol=1e-3, atol=0,
                                   err_msg=nm)
    got_warn = {str(w.message) for w in caught}
    for w in want["r_warnings"]:
        if (w.startswith("non-monotonic profile for")
                and (ref["id"], w.rsplit(" ", 1)[1]) not in _NOT_COMPARABLE):
            assert w in got_warn          # the same ill-behaved profiles as lme4


def test_percent_labels_as_R():
    assert percent_labels([0.025, 0.975]) == ["2.5 %", "97.5 %"]
    assert percent_labels([0.05, 0.95]) == ["5 %", "95 %"]
    assert percent_labels([0.0005, 0.9995]) == ["0.05 %", "99.95 %"]
    assert percent_labels([0.005, 0.995]) == ["0.5 %", "99.5 %"]


def test_wald_names_levels_and_parm():
    sleep = lmerpy.datasets.load("sleepstudy")
    fit = _fit_spec("sleepstudy", "lmer", "Reaction ~ Days + (Days||Subject)")
    ci = confint(fit, method="Wald", oldNames=False)
    # lme4: cnms names repeat the factor for the two || terms
    assert list(ci.index) == ["sd_(Intercept)|Subject", "sd_Days|Subject", "sigma",
                              "(Intercept)", "Days"]
    ci90 = confint(fit, method="Wald", level=0.9)
    assert list(ci90.columns) == ["5 %", "95 %"]
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    np.testing.assert_allclose(ci90.loc["Days"].to_numpy(),
                               fit.fixef()["Days"] + se[1] * norm.ppf([0.05, 0.95]))
    assert list(confint(fit, method="Wald", parm="beta_").index) == ["(Intercept)", "Days"]
    assert list(confint(fit, method="Wald", parm="theta_").index) == [".sig01", ".sig02",
                                                                      ".sigma"]
    assert list(confint(fit, method="Wald", parm=[4, 1]).index) == [".sig02", "Days"]
    assert list(confint(fit, method="Wald", parm="Days").index) == ["Days"]
    assert len(sleep) == 180


def test_correlation_names_old_and_new():
    fit = _fit_spec("sleepstudy", "lmer", "Reaction ~ Days + (Days|Subject)")
    ci = fit.confint(method="Wald", oldNames=False)
    assert list(ci.index)[:4] == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                                  "sd_Days|Subject", "sigma"]
    assert ci.iloc[:4].isna().all().all()


def test_confint_bad_input():
    fit = _fit_spec("Dyestuff", "lmer", "Yield ~ 1 + (1|Batch)")
    with pytest.raises(LmerpyError, match="confint: method must be one of .profile., .Wald., .boot., not .bogus."):
        confint(fit, method="bogus")
    with pytest.raises(LmerpyError, match="level"):
        confint(fit, method="Wald", level=1.5)
    with pytest.raises(LmerpyError, match="unknown parameter 'Days' in parm"):
        confint(fit, method="Wald", parm="Days")
    with pytest.raises(LmerpyError, match="boot_type"):
        confint(fit, method="boot", boot_type="bca")
    assert list(confint(fit, method="wald").index) == [".sig01", ".sigma", "(Intercept)"]


def test_confint_message_can_be_silenced():
    fit = _fit_spec("Dyestuff", "lmer", "Yield ~ 1 + (1|Batch)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LmerpyMessage)
        ci = confint(fit, quiet=True, parm="(Intercept)")
        with pytest.raises(LmerpyMessage, match="Computing profile"):
            confint(fit, parm="(Intercept)")
    assert ci.shape == (1, 2)


def test_boot_confint():
    fit = _fit_spec("Dyestuff", "lmer", "Yield ~ 1 + (1|Batch)")
    ci = confint(fit, method="boot", nsim=100, seed=11, quiet=True, progress=False)
    assert list(ci.index) == [".sig01", ".sigma", "(Intercept)"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    est = pd.Series([fit.VarCorr().terms[0].stddev[0], fit.sigma(), fit.fixef().iloc[0]],
                    index=ci.index)
    assert np.all(ci.iloc[:, 0] < est) and np.all(est < ci.iloc[:, 1])
    again = confint(fit, method="boot", nsim=100, seed=11, quiet=True, progress=False)
    pd.testing.assert_frame_equal(ci, again)                 # seeded
    normal = confint(fit, method="boot", nsim=100, seed=5, boot_type="norm", level=0.95,
                     parm="(Intercept)", quiet=True, progress=False)
    half = (normal.iloc[0, 1] - normal.iloc[0, 0]) / 2
    wald = confint(fit, method="Wald", parm="(Intercept)")
    wald_half = (wald.iloc[0, 1] - wald.iloc[0, 0]) / 2
    assert 0.75 < half / wald_half < 1.25
