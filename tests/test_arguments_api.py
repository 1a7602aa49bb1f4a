"""Argument validation at every public entry point: a bad value is an ArgumentError (or a
ControlError, which is one) naming the argument and the value received, before any work is
done; the values R accepts keep working (``REML="FALSE"`` fits by ML exactly like
``REML=False``); ``start=`` and ``refit(newresp)`` as lme4.

The validators themselves are tested in test_arguments.py.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.arguments import show
from lmerpy.errors import ArgumentError, DataError
from lmerpy.inference import PBmodcomp, bootMer, confint, profile
from lmerpy.optimize import ControlError

from _quiet import quiet

F = "Reaction ~ Days + (Days | Subject)"
CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def fm0(sleep):
    return lmerpy.lmer("Reaction ~ 1 + (Days | Subject)", sleep, REML=False)


@pytest.fixture(scope="module")
def prof(fm1):
    return quiet(profile, fm1, which="Days")


@pytest.fixture(scope="module")
def boot(fm1):
    return bootMer(fm1, lambda m: m.fixef(), nsim=5, seed=1, progress=False)


# (id, call(fixtures, value), argument name, bad values); each call gets the bad value
CASES = [
    # fitting
    ("lmer REML", lambda x, v: lmerpy.lmer(F, x.sleep, REML=v), "REML",
     ["yes", "no", 2, None, np.nan, "FALSE "]),
    ("lmer verbose", lambda x, v: lmerpy.lmer(F, x.sleep, verbose=v), "verbose",
     ["loud", -1, 1.5]),
    ("lmer na_action", lambda x, v: lmerpy.lmer(F, x.sleep, na_action=v), "na_action",
     ["drop", "pass", None, 1]),
    ("lmer backend", lambda x, v: lmerpy.lmer(F, x.sleep, backend=v), "backend", ["cuda", 1]),
    ("lmer control", lambda x, v: lmerpy.lmer(F, x.sleep, control=v), "control",
     ["bobyqa", {"optimizer": "bobyqa"}]),
    ("glmer nAGQ", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, nAGQ=v), "nAGQ",
     [-1, 101, 2.5, True, "1", None]),
    ("glmer verbose", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, verbose=v), "verbose", ["x"]),
    ("glmer na_action", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, na_action=v), "na_action",
     ["remove"]),
    ("glmer family", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, family=v), "family",
     [3, None, lmerpy.lmer]),
    ("glmer control", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, control=v), "control",
     ["Nelder_Mead"]),
    ("glmer_nb theta", lambda x, v: lmerpy.glmer_nb("y ~ 1 + (1|g)", x.sleep, theta=v),
     "theta", [0, -2, "3", np.inf]),
    ("glmer_nb tol", lambda x, v: lmerpy.glmer_nb("y ~ 1 + (1|g)", x.sleep, tol=v), "tol",
     [0, -1e-5, "small"]),
    ("glmer_nb interval", lambda x, v: lmerpy.glmer_nb("y ~ 1 + (1|g)", x.sleep, interval=v),
     "interval", [(2, 1), (1, 2, 3), "wide"]),
    ("glmer_nb moves", lambda x, v: lmerpy.glmer_nb("y ~ 1 + (1|g)", x.sleep,
                                                      max_interval_moves=v),
     "max_interval_moves", [-1, 1.5]),
    ("glmer_nb nAGQ", lambda x, v: lmerpy.glmer_nb("y ~ 1 + (1|g)", x.sleep, nAGQ=v), "nAGQ",
     [-2]),
    ("lFormula REML", lambda x, v: lmerpy.lFormula(F, x.sleep, REML=v), "REML", ["ML"]),
    ("lFormula na_action", lambda x, v: lmerpy.lFormula(F, x.sleep, na_action=v), "na_action",
     ["keep"]),
    ("build_design glmer", lambda x, v: lmerpy.build_design(F, x.sleep, glmer=v), "glmer",
     ["sure"]),
    ("glFormula na_action", lambda x, v: lmerpy.glFormula(CBPP_F, x.cbpp, na_action=v),
     "na_action", ["x"]),
    ("mkLmerDevfun REML", lambda x, v: lmerpy.mkLmerDevfun(lmerpy.lFormula(F, x.sleep), REML=v),
     "REML", ["REML"]),
    ("mkLmerDevfun backend", lambda x, v: lmerpy.mkLmerDevfun(lmerpy.lFormula(F, x.sleep),
                                                              backend=v), "backend", ["dense"]),
    ("optimizeLmer verbose", lambda x, v: lmerpy.optimizeLmer(x.fm1.devfun, verbose=v),
     "verbose", ["chatty"]),
    ("optimizeLmer start", lambda x, v: lmerpy.optimizeLmer(x.fm1.devfun, start=v), "start",
     ["1 0 1", [1, 2], {"beta": [1]}]),
    ("mkGlmerDevfun nAGQ", lambda x, v: lmerpy.mkGlmerDevfun(x.gm1.design, nAGQ=v), "nAGQ",
     [-1, 0.5]),
    ("updateGlmerDevfun nAGQ", lambda x, v: lmerpy.updateGlmerDevfun(x.gm1.devfun, nAGQ=v),
     "nAGQ", [0, "2"]),
    ("optimizeGlmer start", lambda x, v: lmerpy.optimizeGlmer(x.gm1.devfun, start=v), "start",
     [[1.0], "x"]),
    # controls
    ("lmerControl optimizer", lambda x, v: lmerpy.lmerControl(optimizer=v), "optimizer",
     ["newuoa", 3]),
    ("lmerControl restart_edge", lambda x, v: lmerpy.lmerControl(restart_edge=v),
     "restart_edge", ["no", 2]),
    ("lmerControl calc_derivs", lambda x, v: lmerpy.lmerControl(calc_derivs=v), "calc_derivs",
     ["nope"]),
    ("lmerControl polish", lambda x, v: lmerpy.lmerControl(polish=v), "polish", [0.5]),
    ("lmerControl use_last_params", lambda x, v: lmerpy.lmerControl(use_last_params=v),
     "use_last_params", ["x"]),
    ("lmerControl restart_unconverged",
     lambda x, v: lmerpy.lmerControl(restart_unconverged=v), "restart_unconverged", ["x"]),
    ("lmerControl boundary_tol", lambda x, v: lmerpy.lmerControl(boundary_tol=v),
     "boundary_tol", [-1, "1e-5", np.nan]),
    ("lmerControl gradient_min_q", lambda x, v: lmerpy.lmerControl(gradient_min_q=v),
     "gradient_min_q", [2.5, -1, "100"]),
    ("lmerControl use_gradient", lambda x, v: lmerpy.lmerControl(use_gradient=v),
     "use_gradient", ["sometimes", 2]),
    ("lmerControl check action", lambda x, v: lmerpy.lmerControl(check_conv_grad=(v, 1e-3)),
     "action", ["warn", 1]),
    ("lmerControl check tol", lambda x, v: lmerpy.lmerControl(check_conv_hess=("warning", v)),
     "tol", [-1, "small", np.nan]),
    ("lmerControl relTol",
     lambda x, v: lmerpy.lmerControl(check_conv_grad=("warning", 1e-3, v)), "relTol", [-1]),
    ("lmerControl check_nlev_gtr_1", lambda x, v: lmerpy.lmerControl(check_nlev_gtr_1=v),
     "check_nlev_gtr_1", ["warn", True]),
    ("lmerControl check_rankX", lambda x, v: lmerpy.lmerControl(check_rankX=v), "check_rankX",
     ["drop"]),
    ("lmerControl check_scaleX", lambda x, v: lmerpy.lmerControl(check_scaleX=v),
     "check_scaleX", ["rescale"]),
    ("lmerControl maxfun", lambda x, v: lmerpy.lmerControl(optimizer="bobyqa",
                                                           optCtrl={"maxfun": v}),
     "optCtrl['maxfun']", [2.5, 0, "1e4", True]),
    ("lmerControl maxeval", lambda x, v: lmerpy.lmerControl(optCtrl={"maxeval": v}),
     "optCtrl['maxeval']", [1e4 + 0.5]),
    ("lmerControl xtol_abs", lambda x, v: lmerpy.lmerControl(optCtrl={"xtol_abs": v}),
     "optCtrl['xtol_abs']", ["1e-8", np.nan, True]),
    ("glmerControl tolPwrss", lambda x, v: lmerpy.glmerControl(tolPwrss=v), "tolPwrss",
     [0, -1e-7, "1e-7"]),
    ("glmerControl compDev", lambda x, v: lmerpy.glmerControl(compDev=v), "compDev", ["x"]),
    ("glmerControl nAGQ0initStep", lambda x, v: lmerpy.glmerControl(nAGQ0initStep=v),
     "nAGQ0initStep", [2]),
    ("glmerControl check_response_not_const",
     lambda x, v: lmerpy.glmerControl(check_response_not_const=v), "check_response_not_const",
     ["nope"]),
    # families
    ("binomial link", lambda x, v: lmerpy.binomial(link=v), "link", ["identity", 3]),
    ("poisson link", lambda x, v: lmerpy.poisson(link=v), "link", ["logit"]),
    ("negative_binomial theta", lambda x, v: lmerpy.negative_binomial(v), "theta",
     [0, -1, "2", np.nan]),
    ("family name", lambda x, v: lmerpy.glmer(CBPP_F, x.cbpp, family=v), "family",
     ["binomal", "quasipoisson"]),
    # methods of fitted models
    ("logLik REML", lambda x, v: x.fm1.logLik(REML=v), "REML", ["maybe"]),
    ("deviance REML", lambda x, v: x.fm1.deviance(REML=v), "REML", ["x", 3]),
    ("lmm residuals type", lambda x, v: x.fm1.residuals(type=v), "type", ["deviance", 1]),
    ("lmm residuals scaled", lambda x, v: x.fm1.residuals(scaled=v), "scaled", ["yes"]),
    ("glmm residuals type", lambda x, v: x.gm1.residuals(type=v), "type", ["partial"]),
    ("model_matrix type", lambda x, v: x.fm1.model_matrix(type=v), "type", ["X"]),
    ("isSingular tol", lambda x, v: x.fm1.isSingular(tol=v), "tol", [-1, "1e-4"]),
    ("ranef condVar", lambda x, v: x.fm1.ranef(condVar=v), "condVar", ["x"]),
    ("vcov use_hessian", lambda x, v: x.gm1.vcov(use_hessian=v), "use_hessian", ["x"]),
    ("weights type", lambda x, v: x.gm1.weights(type=v), "type", ["posterior"]),
    ("lmm refit REML", lambda x, v: x.fm1.refit(REML=v), "REML", ["x"]),
    ("lmm refit control", lambda x, v: x.fm1.refit(control=v), "control", ["bobyqa"]),
    ("glmm refit calc_derivs", lambda x, v: x.gm1.refit(calc_derivs=v), "calc_derivs", ["x"]),
    ("glmm refit control", lambda x, v: x.gm1.refit(control=v), "control", [7]),
    ("lmm update", lambda x, v: x.fm1.update(REMl=v), "REMl", [False]),
    ("glmm update", lambda x, v: x.gm1.update(nagq=v), "nagq", [2]),
    ("summary ddf", lambda x, v: x.fm1.summary(ddf=v), "ddf", ["KR2", 3]),
    ("summary correlation", lambda x, v: x.fm1.summary(correlation=v), "correlation", ["x"]),
    # inference
    ("predict type", lambda x, v: lmerpy.predict(x.fm1, type=v), "type", ["prob", None]),
    ("glmm predict type", lambda x, v: x.gm1.predict(type=v), "type", ["probability"]),
    ("predict re_form", lambda x, v: lmerpy.predict(x.fm1, re_form=v), "re_form", [3, 1.5]),
    ("predict allow_new_levels", lambda x, v: lmerpy.predict(x.fm1, allow_new_levels=v),
     "allow_new_levels", ["maybe"]),
    ("simulate nsim", lambda x, v: lmerpy.simulate(x.fm1, nsim=v), "nsim",
     [0, 2.5, "10", True]),
    ("simulate seed", lambda x, v: lmerpy.simulate(x.fm1, seed=v), "seed", [-1, "abc", 1.5]),
    ("simulate use_u", lambda x, v: lmerpy.simulate(x.fm1, use_u=v), "use_u", ["x"]),
    ("simulate re_form", lambda x, v: lmerpy.simulate(x.fm1, re_form=v), "re_form", [2]),
    ("simulate allow_new_levels", lambda x, v: lmerpy.simulate(x.fm1, allow_new_levels=v),
     "allow_new_levels", [5]),
    ("anova refit", lambda x, v: lmerpy.anova(x.fm1, x.fm0, refit=v), "refit", ["perhaps"]),
    ("anova type", lambda x, v: lmerpy.anova(x.fm1, type=v), "type", [4, "IV", True]),
    ("anova ddf", lambda x, v: lmerpy.anova(x.fm1, ddf=v), "ddf", ["KR2"]),
    ("anova unknown", lambda x, v: lmerpy.anova(x.fm1, x.fm0, refti=v), "refti", [False]),
    ("drop1 test", lambda x, v: lmerpy.drop1(x.fm1, test=v), "test", ["F", "LRT"]),
    ("drop1 k", lambda x, v: lmerpy.drop1(x.fm1, k=v), "k", [-1, "2"]),
    ("confint method", lambda x, v: confint(x.fm1, method=v), "method", ["bogus", 1]),
    ("confint level", lambda x, v: confint(x.fm1, method="Wald", level=v), "level",
     [0, 1, 95, "0.95"]),
    ("confint boot_type", lambda x, v: confint(x.fm1, method="boot", boot_type=v), "boot_type",
     ["bca"]),
    ("confint nsim", lambda x, v: confint(x.fm1, method="boot", nsim=v), "nsim", [0]),
    ("confint oldNames", lambda x, v: confint(x.fm1, method="Wald", oldNames=v), "oldNames",
     ["x"]),
    ("confint quiet", lambda x, v: confint(x.fm1, method="Wald", quiet=v), "quiet", ["x"]),
    ("confint seed", lambda x, v: confint(x.fm1, method="boot", seed=v), "seed", [-5]),
    ("confint parm", lambda x, v: confint(x.fm1, method="Wald", parm=v), "parm",
     ["Dayz", 17, True]),
    ("profile alphamax", lambda x, v: profile(x.fm1, alphamax=v), "alphamax", [0, 1.5]),
    ("profile maxpts", lambda x, v: profile(x.fm1, maxpts=v), "maxpts", [0, 2.5]),
    ("profile delta", lambda x, v: profile(x.fm1, delta=v), "delta", [0, "x"]),
    ("profile delta_cutoff", lambda x, v: profile(x.fm1, delta_cutoff=v), "delta_cutoff", [-1]),
    ("profile devtol", lambda x, v: profile(x.fm1, devtol=v), "devtol", [-1]),
    ("profile maxmult", lambda x, v: profile(x.fm1, maxmult=v), "maxmult", [0.5]),
    ("profile signames", lambda x, v: profile(x.fm1, signames=v), "signames", ["x"]),
    ("profile verbose", lambda x, v: profile(x.fm1, verbose=v), "verbose", ["x"]),
    ("profile unknown", lambda x, v: profile(x.fm1, alphmax=v), "alphmax", [0.1]),
    ("profile which", lambda x, v: profile(x.fm1, which=v), "which", ["Dayz", 99, True]),
    ("profile confint level", lambda x, v: x.prof.confint(level=v), "level", [1.5]),
    ("bootMer nsim", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), nsim=v), "nsim",
     [0, 1.5]),
    ("bootMer type", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), type=v), "type",
     ["nonparametric"]),
    ("bootMer use_u", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), use_u=v), "use_u",
     ["x"]),
    ("bootMer progress", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), progress=v),
     "progress", ["x"]),
    ("bootMer n_jobs", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), n_jobs=v), "n_jobs",
     [1.5, "2"]),
    ("bootMer seed", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), seed=v), "seed",
     ["x"]),
    ("bootMer re_form", lambda x, v: bootMer(x.fm1, lambda m: m.fixef(), re_form=v),
     "re_form", [4]),
    ("bootMer FUN", lambda x, v: bootMer(x.fm1, v), "FUN", ["fixef"]),
    ("BootResult confint type", lambda x, v: x.boot.confint(type=v), "type", ["bca"]),
    ("BootResult confint level", lambda x, v: x.boot.confint(level=v), "level", [2]),
    ("BootResult confint parm", lambda x, v: x.boot.confint(parm=v), "parm", ["Dayz"]),
    ("PBmodcomp nsim", lambda x, v: PBmodcomp(x.fm1, x.fm0, nsim=v), "nsim", [0, "5"]),
    ("PBmodcomp seed", lambda x, v: PBmodcomp(x.fm1, x.fm0, seed=v), "seed", [-1]),
    ("PBmodcomp n_jobs", lambda x, v: PBmodcomp(x.fm1, x.fm0, n_jobs=v), "n_jobs", [0.5]),
    ("PBmodcomp progress", lambda x, v: PBmodcomp(x.fm1, x.fm0, progress=v), "progress", [3]),
    ("AnovaTable to_text", lambda x, v: lmerpy.anova(x.fm1).to_text(digits=v), "digits", [0]),
    ("datasets load", lambda x, v: lmerpy.datasets.load(v), "nope", ["nope"]),
]


class _Fixtures:
    def __init__(self, request):
        self._request = request

    def __getattr__(self, name):
        return self._request.getfixturevalue(name)


def _expand():
    for cid, call, name, values in CASES:
        for v in values:
            yield pytest.param(call, name, v, id=f"{cid}={v!r}")


@pytest.mark.parametrize("call, name, value", list(_expand()))
def test_bad_argument_names_argument_and_value(request, call, name, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ArgumentError) as info:
            call(_Fixtures(request), value)
    msg = str(info.value)
    assert name in msg, msg
    shown = [show(value), repr(value), f'"{value}"']
    assert any(s in msg for s in shown), (msg, shown)


def test_control_errors_are_control_errors():
    with pytest.raises(ControlError, match="restart_edge must be True or False, not 'no'"):
        lmerpy.lmerControl(restart_edge="no")
    with pytest.raises(ControlError, match=r"control must come from lmerControl\(\), not "
                                           r"glmerControl\(\)"):
        lmerpy.lmer(F, lmerpy.datasets.load("sleepstudy"), control=lmerpy.glmerControl())


# ---------------------------------------------------------------------- R's values keep working


@pytest.mark.parametrize("value", ["FALSE", "F", "false", "False", np.False_, 0])
def test_reml_false_strings_fit_by_ml_exactly(sleep, value):
    ml = lmerpy.lmer(F, sleep, REML=False)
    fit = lmerpy.lmer(F, sleep, REML=value)
    assert fit.REML is False and fit.call["REML"] is False
    np.testing.assert_array_equal(fit.theta, ml.theta)
    np.testing.assert_array_equal(fit.fixef().to_numpy(), ml.fixef().to_numpy())
    assert float(fit.logLik()) == float(ml.logLik())


@pytest.mark.parametrize("value", ["TRUE", "T", "true", np.True_, 1])
def test_reml_true_strings_fit_by_reml_exactly(sleep, fm1, value):
    fit = lmerpy.lmer(F, sleep, REML=value)
    assert fit.REML is True
    np.testing.assert_array_equal(fit.theta, fm1.theta)
    assert float(fit.logLik()) == float(fm1.logLik())


def test_r_logicals_elsewhere(sleep, fm1, cbpp, gm1):
    assert float(fm1.logLik(REML="FALSE")) == float(fm1.logLik(REML=False))
    assert fm1.deviance(REML="F") == fm1.deviance(REML=False)
    np.testing.assert_array_equal(fm1.residuals(scaled="TRUE"), fm1.residuals(scaled=True))
    ctl = lmerpy.lmerControl(calc_derivs="FALSE", restart_edge="F", use_gradient="TRUE")
    assert ctl.calc_derivs is False and ctl.restart_edge is False and ctl.use_gradient is True
    assert lmerpy.glmerControl(nAGQ0initStep="FALSE").nAGQ0initStep is False
    nd = sleep.head(3).assign(Subject="new")
    np.testing.assert_array_equal(lmerpy.predict(fm1, nd, allow_new_levels="TRUE"),
                                  lmerpy.predict(fm1, nd, allow_new_levels=True))
    a = lmerpy.simulate(fm1, nsim=2.0, seed=np.int64(3), use_u="F")
    b = lmerpy.simulate(fm1, nsim=2, seed=3, use_u=False)
    pd.testing.assert_frame_equal(a, b)
    g1 = quiet(lmerpy.glmer, CBPP_F, cbpp, family="binomial", nAGQ=1.0, verbose="FALSE")
    assert float(g1.logLik()) == float(gm1.logLik())
    lf = lmerpy.lFormula(F, sleep, REML="F", na_action="na.omit")
    assert lf.REML is False
    assert lmerpy.lmer(F, sleep, na_action="na.omit").call["na_action"] == "omit"
    assert str(lmerpy.anova(fm1, type="3", ddf="kenward-roger")) == str(
        lmerpy.anova(fm1, type=3, ddf="Kenward-Roger"))


def test_verbose_false_string_is_quiet(sleep, capsys):
    lmerpy.lmer(F, sleep, verbose="FALSE")
    assert capsys.readouterr().out == ""
    lmerpy.lmer(F, sleep, verbose="TRUE")
    assert "iteration" in capsys.readouterr().out


# ---------------------------------------------------------------------- start=


def test_lmer_start_forms(sleep, fm1):
    th = [0.9, 0.0, 0.2]
    ref = lmerpy.lmer(F, sleep, start=th)
    for start in (tuple(th), np.array(th), pd.Series(th), {"theta": th},
                  {"theta": th, "fixef": [250.0, 10.0]}):
        fit = lmerpy.lmer(F, sleep, start=start)
        np.testing.assert_array_equal(fit.theta, ref.theta)
    np.testing.assert_allclose(ref.theta, fm1.theta, rtol=1e-3)


@pytest.mark.parametrize("start, words", [
    ({"beta": [250, 10]}, ["incorrect components in start list: 'beta'"]),
    ({"theta": [1, 0, 1], "sigma": 30}, ["incorrect components in start list: 'sigma'"]),
    ([1, 0], ["incorrect number of theta components in start: expected 3",
              "Subject.(Intercept), Subject.Days.(Intercept), Subject.Days", "got 2"]),
    ({"theta": [1, 0, 1], "fixef": [1]}, ["incorrect number of fixef components",
                                          "expected 2", "got 1"]),
    ([1, np.nan, 1], ["start has non-finite values: nan at position 1"]),
    ([1, 0, -1], ["Subject.Days = -1 < 0"]),
    ("theta", ["start must be a numeric vector, not 'theta'"]),
])
def test_lmer_start_errors(sleep, start, words):
    with pytest.raises(ArgumentError) as info:
        lmerpy.lmer(F, sleep, start=start)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_glmer_start(cbpp, gm1):
    th, fe = gm1.theta, gm1.fixef().to_numpy()
    fit = quiet(lmerpy.glmer, CBPP_F, cbpp, family=lmerpy.binomial,
                 start={"theta": th, "fixef": pd.Series(fe)})
    np.testing.assert_allclose(fit.fixef().to_numpy(), fe, rtol=1e-4)
    with pytest.raises(ArgumentError, match=r"incorrect number of fixef components in "
                                            r"start\['fixef'\]: expected 4 \(\(Intercept\), "
                                            r"period2, period3, period4\), got 3"):
        lmerpy.glmer(CBPP_F, cbpp, start={"fixef": [0, 0, 0]})
    with pytest.raises(ArgumentError, match=r"incorrect number of theta components in start: expected 1 "
                                            r"\(herd.\(Intercept\)\), got 2: \[1, 1\]"):
        lmerpy.glmer(CBPP_F, cbpp, start=[1, 1])
    with pytest.raises(ArgumentError, match=r"start\['fixef'\] has non-finite values"):
        lmerpy.glmer(CBPP_F, cbpp, start={"fixef": [0, np.inf, 0, 0]})


# ---------------------------------------------------------------------- refit(newresp)


def test_lmm_refit_accepts_numeric_containers(sleep, fm1):
    y = sleep["Reaction"].to_numpy()
    ref = fm1.refit(y)
    for newresp in (sleep["Reaction"], list(y), sleep[["Reaction"]], y.reshape(-1, 1),
                    pd.Series(y, dtype="Float64"), y.astype(object)):
        fit = fm1.refit(newresp)
        np.testing.assert_array_equal(fit.theta, ref.theta)
    yi = np.round(y).astype(int)
    np.testing.assert_array_equal(fm1.refit(pd.Series(yi, dtype="Int64")).theta,
                                  fm1.refit(yi.astype(float)).theta)
    flag = (sleep["Days"] > 4).to_numpy()
    np.testing.assert_array_equal(quiet(fm1.refit, flag).fixef(),
                                  quiet(fm1.refit, flag.astype(float)).fixef())


@pytest.mark.parametrize("make, words", [
    (lambda d: d["Subject"], ["response must be numeric", "a factor"]),
    (lambda d: d["Subject"].astype(str).to_numpy(), ["response must be numeric", "str"]),
    (lambda d: d["Subject"].astype(str).tolist(), ["response must be numeric", "a list of strings"]),
    (lambda d: d["Subject"].astype("string"), ["response must be numeric"]),
    (lambda d: pd.Series(pd.date_range("2020", periods=len(d))), ["response must be numeric",
                                                                 "datetimes"]),
    (lambda d: d["Reaction"].head(10), ["newresp has 10 values; the model has 180 observations"]),
    (lambda d: d[["Reaction", "Days"]], ["newresp has shape (180, 2)"]),
    (lambda d: np.ones((180, 2)), ["newresp has shape (180, 2)"]),
    (lambda d: d["Reaction"].where(d["Days"] != 3), ["newresp has missing or infinite values",
                                                     "row 3: nan"]),
    (lambda d: "Reaction", ["response must be numeric", "'Reaction' (str)"]),
])
def test_lmm_refit_errors(sleep, fm1, make, words):
    with pytest.raises(DataError) as info:
        fm1.refit(make(sleep))
    msg = str(info.value)
    assert msg.startswith("refit: ")
    for w in words:
        assert w in msg, (w, msg)


def test_glmm_refit_newresp(cbpp, gm1):
    counts = cbpp.assign(fail=cbpp["size"] - cbpp["incidence"])[["incidence", "fail"]]
    ref = quiet(gm1.refit, counts.to_numpy(dtype=float))
    fit = quiet(gm1.refit, counts)
    assert float(fit.logLik()) == float(ref.logLik())
    np.testing.assert_allclose(float(ref.logLik()), float(gm1.logLik()), rtol=1e-6)
    with pytest.raises(DataError, match="refit: response must be numeric: newresp is a list of "
                                        "strings"):
        gm1.refit(["a"] * len(cbpp))
    with pytest.raises(DataError, match=r"refit: newresp has shape \(56, 3\); expected a vector "
                                        r"or 2 columns with 56 rows"):
        gm1.refit(np.ones((56, 3)))
    with pytest.raises(DataError, match="newresp has 5 values; the model has 56 observations"):
        gm1.refit(np.ones(5))
    with pytest.raises(DataError, match="newresp has missing or infinite values"):
        gm1.refit(np.full((56, 2), np.nan))


def test_poisson_refit_refuses_a_factor():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat(list("abcdef"), 10), "x": rng.normal(size=60)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"]))
    fit = quiet(lmerpy.glmer, "y ~ x + (1|g)", d, family="poisson")
    with pytest.raises(DataError, match="response must be numeric: newresp is a factor"):
        fit.refit(pd.Categorical(d["g"]))
    again = quiet(fit.refit, d["y"])
    assert float(again.logLik()) == pytest.approx(float(fit.logLik()), rel=1e-8)
