"""The lmer results API beyond the golden tables: modular steps, accessors, refits, errors.

Expected numbers come from lme4 1.1-31 (R commands in comments, values also in
tests/reference/sleep_slope.json).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import datasets

FM1 = "Reaction ~ Days + (Days | Subject)"
#: lme4's θ̂ of FM1 (tests/reference/sleep_slope.json)
LME4_THETA = np.array([0.966741773967412, 0.0151690588960361, 0.230909953207795])


def test_modular_steps_give_the_same_fit(sleep, fm1):
    lf = lmerpy.lFormula(FM1, sleep)
    devfun = lmerpy.mkLmerDevfun(lf)
    # the deviance function can be evaluated at any θ; at lme4's θ̂ it is lme4's REML criterion
    assert devfun(np.array([0.96674177, 0.01516906, 0.23090995])) == pytest.approx(1743.628, abs=1e-3)
    opt = lmerpy.optimizeLmer(devfun)
    fit = lmerpy.mkMerMod(devfun, opt, lf)
    assert np.allclose(fit.theta, fm1.theta, atol=1e-8)
    assert fit.REMLcrit() == pytest.approx(fm1.REMLcrit(), abs=1e-10)


def test_deviance_variants(fm1):
    # R: deviance(fm1, REML = FALSE) -> 1751.986 ; REMLcrit(fm1) -> 1743.628
    assert fm1.deviance(REML=False) == pytest.approx(1751.986, abs=1e-3)
    assert fm1.REMLcrit() == pytest.approx(1743.628, abs=1e-3)
    with pytest.warns(FutureWarning, match="deviance\\(\\) is deprecated for REML fits"):
        assert fm1.deviance() == pytest.approx(1743.628, abs=1e-3)
    ll = fm1.logLik()
    assert ll.df == 6 and ll.nobs == 180
    assert repr(ll) == "'log Lik.' -871.8141 (df=6)"   # R: logLik(fm1)
    assert lmerpy.AIC(fm1) == pytest.approx(1755.628, abs=1e-3)
    assert lmerpy.BIC(fm1) == pytest.approx(1774.786, abs=1e-3)
    assert fm1.df_residual() == 174


def test_ranef_as_dataframe_and_coef(fm1):
    re = fm1.ranef()
    df = re.as_dataframe()
    assert list(df.columns) == ["grpvar", "term", "grp", "condval", "condsd"]
    assert len(df) == 36
    # R: as.data.frame(ranef(fm1))[1, ] -> Subject (Intercept) 308 2.258551 12.07086
    first = df.iloc[0]
    assert (first.grpvar, first.term, str(first.grp)) == ("Subject", "(Intercept)", "308")
    assert first.condval == pytest.approx(2.258551, abs=2e-4)
    assert first.condsd == pytest.approx(12.07086, rel=1e-4)
    co = fm1.coef()["Subject"]
    assert list(co.columns) == ["(Intercept)", "Days"]
    assert co.loc["308", "Days"] == pytest.approx(fm1.fixef()["Days"] + re["Subject"].loc["308", "Days"])
    assert re.postvar["Subject"][0].shape == (18, 2, 2)


def test_residual_types_and_fitted(fm1, sleep):
    r = fm1.residuals()
    assert np.allclose(r + fm1.fitted(), sleep["Reaction"])
    assert np.allclose(fm1.residuals(scaled=True), r / fm1.sigma())
    assert np.allclose(fm1.residuals(type="pearson"), r)   # unit prior weights
    with pytest.raises(lmerpy.LmerpyError, match="residuals: type must be one of 'response', 'pearson', 'working', not 'deviance'"):
        fm1.residuals(type="deviance")


def test_getme_names(fm1):
    assert fm1.getME("theta").index.tolist() == ["Subject.(Intercept)", "Subject.Days.(Intercept)",
                                                 "Subject.Days"]
    assert fm1.getME("Lind").tolist()[:3] == [1, 2, 3]
    assert fm1.getME("Zt").shape == (36, 180)
    assert fm1.getME("Lambdat").shape == (36, 36)
    assert np.allclose(fm1.getME("b"), (fm1.getME("Lambda") @ fm1.getME("u")))
    assert fm1.getME("q") == 36 and fm1.getME("p") == 2 and fm1.getME("n") == 180
    # R: getME(fm1, "devcomp")$cmp: ldL2 75.961, ldRX2 8.276, pwrss 116579.3 — at lme4's θ̂
    # (pwrss is not stationary at the optimum: at lmerpy's, 1.5e-9 lower in the REML
    # criterion than lme4's stopping point, it is 116579.503)
    assert fm1.getME("devcomp")["cmp"]["pwrss"] == pytest.approx(116579.503, abs=1e-3)
    at_lme4 = lmerpy.mkMerMod(fm1.devfun, dataclasses.replace(fm1.optsum, theta=LME4_THETA),
                              fm1.design)
    dc = at_lme4.getME("devcomp")
    assert dc["cmp"]["ldL2"] == pytest.approx(75.961, abs=1e-3)
    assert dc["cmp"]["ldRX2"] == pytest.approx(8.276, abs=1e-3)
    assert dc["cmp"]["pwrss"] == pytest.approx(116579.3, abs=0.1)
    assert dc["cmp"]["sigmaML"] == pytest.approx(25.4492, abs=1e-4)
    L = fm1.getME("L")
    assert L.shape == (36, 36)
    assert lmerpy.getME(fm1, "cnms") == {"Subject": ["(Intercept)", "Days"]}
    with pytest.raises(lmerpy.LmerpyError, match="unknown name 'nonsense'"):
        fm1.getME("nonsense")


def test_refit_refitml_update(fm1, sleep):
    same = fm1.refit(sleep["Reaction"].to_numpy())
    assert same.REMLcrit() == pytest.approx(fm1.REMLcrit(), abs=1e-6)
    ml = fm1.refitML()
    assert not ml.REML
    assert float(ml.logLik()) == pytest.approx(-875.9697, abs=1e-3)   # R: logLik(refitML(fm1))
    ri = fm1.update(formula="Reaction ~ Days + (1 | Subject)")
    assert ri.VarCorr().as_dataframe()["vcov"].tolist() == pytest.approx([1378.18, 960.46], abs=0.01)
    y2 = sleep["Reaction"].to_numpy() * 2
    doubled = fm1.refit(y2)
    assert doubled.fixef().to_numpy() == pytest.approx(2 * fm1.fixef().to_numpy(), rel=1e-5)
    with pytest.raises(lmerpy.DataError, match="newresp has 3 values"):
        fm1.refit([1.0, 2.0, 3.0])


def test_summary_object_tables(fm1):
    s = fm1.summary()
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "t value"]
    assert s.coefficients.loc["Days", "t value"] == pytest.approx(6.771, abs=1e-3)
    assert len(s.residuals) == 180
    assert str(s).startswith("Linear mixed model fit by REML ['lmerMod']")
    text = str(fm1)
    assert "REML criterion at convergence: 1743.628" in text and "Fixed Effects:" in text


def test_model_matrix_and_module_functions(fm1):
    X = lmerpy.model_matrix(fm1)
    assert list(X.columns) == ["(Intercept)", "Days"]
    assert lmerpy.model_matrix(fm1, type="random").shape == (180, 36)
    assert lmerpy.fixef(fm1).equals(fm1.fixef())
    assert lmerpy.nobs(fm1) == 180
    assert lmerpy.ngrps(fm1).to_dict() == {"Subject": 18}
    assert lmerpy.vcov(fm1).shape == (2, 2)
    assert lmerpy.sigma(fm1) == pytest.approx(25.5918, abs=1e-4)
    assert not lmerpy.isSingular(fm1)


def test_both_backends_agree(sleep):
    from lmerpy.pls import available_backends
    fits = {b: lmerpy.lmer(FM1, sleep, backend=b) for b in available_backends()}
    crit = [f.REMLcrit() for f in fits.values()]
    assert np.ptp(crit) <= 1e-8 * abs(crit[0])


def test_show_config_names_the_backend(capsys):
    lmerpy.show_config()
    out = capsys.readouterr().out
    assert "sparse_cholesky" in out


def test_optsum_records_the_fit(fm1, sleep):
    opt = fm1.optsum
    assert opt.optimizer == "newton_ai"          # the default for an LMM
    assert opt.feval == len(opt.fitlog) >= 3 and opt.gradient_evals >= 1
    assert np.allclose(opt.theta, fm1.theta)
    assert opt.return_code == 0
    lme4 = lmerpy.lmer(FM1, sleep, control=lmerpy.lmerControl(optimizer="nloptwrap")).optsum
    assert lme4.optimizer == "nloptwrap"         # lme4's path
    assert lme4.feval == len(lme4.fitlog) > 10 and lme4.return_code == 0


# ---------------------------------------------------------------- bad input


def test_negative_weights_are_an_error(sleep):
    w = np.ones(len(sleep))
    w[3] = -1.0
    with pytest.raises(lmerpy.LmerpyError, match="negative weights"):
        lmerpy.lmer(FM1, sleep, weights=w)


def test_more_random_effects_than_observations(sleep):
    small = sleep.iloc[:30].copy()   # 3 subjects x 10 days; (Days|Subject) + (1|obs) is too rich
    small["obs"] = [str(i) for i in range(30)]
    with pytest.raises(lmerpy.LmerpyError, match="number of levels of each grouping factor must be"):
        lmerpy.lmer("Reaction ~ Days + (1 | obs)", small)


def test_constant_response(sleep):
    d = sleep.copy()
    d["Reaction"] = 250.0
    with pytest.raises(lmerpy.LmerpyError, match="[Rr]esponse is constant"):
        lmerpy.lmer(FM1, d)


def test_perfectly_collinear_x_drops_with_lme4s_message(sleep):
    d = sleep.copy()
    d["Days2"] = 2 * d["Days"]
    with pytest.warns(lmerpy.LmerpyMessage, match="rank deficient so dropping 1 column"):
        fit = lmerpy.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert list(fit.fixef().index) == ["(Intercept)", "Days"]


def test_lmer_control_sets_the_design_checks(sleep):
    """lme4's pre-fit checks of lmerControl reach the design stage (as glmerControl's do)."""
    import warnings
    d = sleep.assign(big=sleep["Days"] * 1e6, Days2=2 * sleep["Days"])
    with pytest.warns(lmerpy.warnings.ScaleWarning, match="very different scales"):
        lmerpy.lmer("Reaction ~ big + (1 | Subject)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lmerpy.lmer("Reaction ~ big + (1 | Subject)", d,
                    control=lmerpy.lmerControl(check_scaleX="ignore"))
    with pytest.raises(lmerpy.DataError, match="very different scales"):
        lmerpy.lmer("Reaction ~ big + (1 | Subject)", d,
                    control=lmerpy.lmerControl(check_scaleX="stop"))
    with pytest.raises(lmerpy.DataError, match=r"rank\(X\) = 2 < 3 = p"):
        lmerpy.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d,
                    control=lmerpy.lmerControl(check_rankX="stop.deficient"))
    with pytest.warns(lmerpy.warnings.DesignWarning, match="< 5 sampled levels"):
        lmerpy.lmer("Reaction ~ Days + (1 | g)", d.assign(g=np.arange(180) % 3),
                    control=lmerpy.lmerControl(check_nlev_gtreq_5="warning"))


def test_caller_frame_not_mutated(sleep):
    before = sleep.copy(deep=True)
    lmerpy.lmer(FM1, sleep)
    pd.testing.assert_frame_equal(sleep, before)


def test_polish_reaches_the_exact_optimum():
    """lme4's optimizer, polished (lmerControl(optimizer="nloptwrap"), polish=True): Newton
    steps on the analytic gradient after BOBYQA. On Orthodont (flat in the intercept SD)
    BOBYQA, like lme4, stops with max|grad| ~ 1e-2 (lmerControl(polish=False), lme4's
    stopping point). The default (newton_ai from lme4's start) ends at the same optimum."""
    d = datasets.load("Orthodont")
    f0 = lmerpy.lmer("distance ~ age*Sex + (age|Subject)", d,
                     control=lmerpy.lmerControl(polish=False))
    f1 = lmerpy.lmer("distance ~ age*Sex + (age|Subject)", d,
                     control=lmerpy.lmerControl(optimizer="nloptwrap"))
    f2 = lmerpy.lmer("distance ~ age*Sex + (age|Subject)", d)
    assert np.max(np.abs(f0.devfun.gradient(f0.theta))) > 1e-3
    assert np.max(np.abs(f1.devfun.gradient(f1.theta))) < 1e-6
    assert f1.REMLcrit() < f0.REMLcrit() - 1e-6
    assert f0.optsum.polish_steps == 0 and f1.optsum.polish_steps >= 1
    assert f2.optsum.optimizer == "newton_ai" and f2.optsum.polish_steps == 0
    assert np.max(np.abs(f2.devfun.gradient(f2.theta))) < 1e-6
    assert f2.REMLcrit() == pytest.approx(f1.REMLcrit(), abs=1e-9)
