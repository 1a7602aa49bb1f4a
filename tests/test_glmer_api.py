"""glmer's API: modular steps, accessors, residual types, refit/update, backends, AGQ pieces,
the vcov fallback, glmer_nb options, and clear errors on bad input.

Numbers from R are quoted with the R call that made them (R 4.2.2, lme4 1.1-31).
"""
import numpy as np
import pandas as pd
import pytest
from _quiet import quiet
from _reference import load_case_data

import lmerpy
from lmerpy.errors import ConvergenceWarning, DataError, LmerpyError
from lmerpy.models.glmm import vcov_glmm
from lmerpy.pls.glmm.agq import AGQ_TERM_MESSAGE, GHrule, agq_deviance
from lmerpy.pls.glmm.pirls import PirlsError, pirls

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def synth():
    return load_case_data({"data": "synth_glmm"})


# ---------------------------------------------------------------------- modular steps


def test_modular_steps_reproduce_glmer(cbpp, gm1):
    glmod = lmerpy.glFormula(CBPP_F, cbpp, family=lmerpy.binomial())
    devfun = lmerpy.mkGlmerDevfun(glmod, nAGQ=0)
    opt1 = lmerpy.optimizeGlmer(devfun, nAGQ=1)
    sol1 = devfun.solve(opt1.theta)
    dev2 = lmerpy.updateGlmerDevfun(devfun, nAGQ=1)
    opt2 = lmerpy.optimizeGlmer(dev2, start=np.concatenate((opt1.theta, sol1.beta)),
                                beta_sd=np.sqrt(np.diag(sol1.unsc())))
    fit = lmerpy.mkGlmerMod(dev2, opt2, glmod, data=cbpp)
    np.testing.assert_array_equal(fit.fixef().to_numpy(), gm1.fixef().to_numpy())
    assert float(fit.logLik()) == float(gm1.logLik())
    # the deviance function at the optimum is −2 logLik
    assert dev2(np.concatenate((gm1.theta, gm1.fixef().to_numpy()))) == pytest.approx(
        -2 * float(gm1.logLik()), abs=1e-10)
    # glmer's default: L-BFGS-B on the Laplace deviance at the mode, both stages
    assert gm1.optsum.optimizer == "lbfgsb" and gm1.optsum_stage1.optimizer == "lbfgsb"


def test_nagq0_is_the_first_stage(cbpp):
    lme4_path = lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"])
    fit = lmerpy.glmer(CBPP_F, cbpp, family="binomial", nAGQ=0, control=lme4_path)
    # R: glmer(..., nAGQ = 0): theta 0.6418386, logLik -92.05435 (lme4.md §4)
    assert fit.theta[0] == pytest.approx(0.6418386, abs=1e-6)
    assert float(fit.logLik()) == pytest.approx(-92.05435, abs=1e-5)
    assert fit.optsum.optimizer == "bobyqa" and fit.optsum.derivs is None
    assert fit.nAGQ == 0 and "nAGQ = 0" in str(fit.summary())
    # the default (gradient-based): the same fit to its optimizer's tolerance, no worse
    fit = lmerpy.glmer(CBPP_F, cbpp, family="binomial", nAGQ=0)
    assert fit.optsum.optimizer == "lbfgsb" and fit.optsum.derivs is None
    assert fit.theta[0] == pytest.approx(0.6418386, abs=1e-4)
    assert float(fit.logLik()) >= -92.05435 - 1e-5


# ---------------------------------------------------------------------- accessors


def test_residual_types_and_their_definitions(gm1):
    resp = gm1.devfun.resp
    y, mu = resp.y, gm1.fitted().to_numpy()
    d = gm1.residuals().to_numpy()
    assert np.sum(d ** 2) == pytest.approx(gm1.deviance(), rel=1e-12)
    assert np.all(np.sign(d[y != mu]) == np.sign((y - mu)[y != mu]))
    p = gm1.residuals(type="pearson").to_numpy()
    np.testing.assert_allclose(p, (y - mu) * np.sqrt(resp.weights / (mu * (1 - mu))), rtol=1e-12)
    w = gm1.residuals(type="working").to_numpy()
    np.testing.assert_allclose(w, (y - mu) / (mu * (1 - mu)), rtol=1e-10)
    np.testing.assert_allclose(gm1.residuals(type="response").to_numpy(), y - mu, atol=1e-15)
    np.testing.assert_array_equal(gm1.residuals(scaled=True).to_numpy(), d)   # σ = 1
    with pytest.raises(LmerpyError, match="residuals: type must be one of 'deviance', 'pearson', 'working', 'response', not 'partial'"):
        gm1.residuals(type="partial")


def test_scaled_residuals_use_sigma_for_gamma(synth):
    fit = quiet(lmerpy.glmer, "yg ~ x + (1 | g)", synth, family=lmerpy.Gamma(link="log"))
    r = fit.residuals(type="pearson").to_numpy()
    np.testing.assert_allclose(fit.residuals(type="pearson", scaled=True).to_numpy(),
                               r / fit.sigma(), rtol=1e-14)
    # lme4's sigma(): sqrt((Σ pearson² + ‖u‖²) / n)
    u = fit.getME("u")
    assert fit.sigma() == pytest.approx(np.sqrt((r @ r + u @ u) / fit.nobs()), rel=1e-12)
    assert fit.logLik().df == 4 and fit.summary().coefficients.columns[2] == "t value"


def test_predict_fitted_data(gm1):
    eta = gm1.predict()
    assert list(eta.index) == list(gm1.fitted().index)
    np.testing.assert_allclose(gm1.family.linkinv(eta.to_numpy()), gm1.fitted().to_numpy(),
                               rtol=1e-12)
    np.testing.assert_array_equal(gm1.predict(type="response").to_numpy(),
                                  gm1.fitted().to_numpy())
    with pytest.raises(LmerpyError, match="type must be 'link' or 'response'"):
        gm1.predict(type="terms")


def test_getme_and_devcomp(gm1):
    assert gm1.getME("devcomp")["dims"]["GLMM"] == 1
    assert gm1.getME("devcomp")["cmp"]["drsum"] == pytest.approx(gm1.deviance(), rel=1e-12)
    # R: getME(gm1, "y")[1:2] -> 0.1428571 0.2500000 (proportions of a cbind response)
    np.testing.assert_allclose(gm1.getME("y")[:2], [2 / 14, 3 / 12])
    np.testing.assert_allclose(gm1.getME("weights")[:2], [14, 12])
    assert gm1.getME("L").shape == (15, 15)
    assert gm1.getME("Lambdat").shape == (15, 15)
    np.testing.assert_allclose(gm1.getME("b"), gm1.getME("Lambdat").T @ gm1.getME("u"))
    with pytest.raises(LmerpyError, match="not a negative binomial fit"):
        gm1.getME("glmer.nb.theta")
    assert list(gm1.weights().to_numpy()[:2]) == [14, 12]


def test_vcov_falls_back_with_lme4s_warning(gm1):
    bad = gm1.optsum.derivs["Hessian"].copy()
    bad[-1, -1] = -abs(bad[-1, -1])
    opt = type(gm1.optsum)(**{**gm1.optsum.__dict__, "derivs": {"Hessian": bad}})
    with pytest.warns(ConvergenceWarning, match="falling back to var-cov estimated from RX"):
        V = vcov_glmm(opt, gm1._sol, 1)
    np.testing.assert_allclose(V, gm1._sol.unsc())       # σ = 1
    np.testing.assert_allclose(gm1.vcov(use_hessian=False).to_numpy(), gm1._sol.unsc())


def test_refit_new_response_matches_a_fresh_fit(gm1, cbpp):
    rng = np.random.default_rng(7)
    inc = rng.binomial(cbpp["size"].to_numpy(), gm1.fitted().to_numpy())
    re = gm1.refit(np.column_stack((inc, cbpp["size"] - inc)))
    fresh = lmerpy.glmer(CBPP_F, cbpp.assign(incidence=inc), family=lmerpy.binomial)
    # lme4's deviance depends on where PIRLS starts at the 1e-4 level (log|L|² is one PIRLS
    # step behind ũ), and the two runs start from different linear predictors
    assert float(re.logLik()) == pytest.approx(float(fresh.logLik()), abs=1e-3)
    se = np.sqrt(np.diag(fresh.vcov().to_numpy()))
    assert np.all(np.abs(re.fixef().to_numpy() - fresh.fixef().to_numpy()) <= 1e-2 * se)
    np.testing.assert_array_equal(re.getME("y") * cbpp["size"].to_numpy(), inc)
    up = gm1.update(nAGQ=0)
    assert up.nAGQ == 0 and float(up.logLik()) < float(gm1.logLik())


def test_no_mutation_and_string_family(cbpp):
    before = cbpp.copy()
    fit = lmerpy.glmer(CBPP_F, cbpp, family="binomial")
    pd.testing.assert_frame_equal(cbpp, before)
    assert fit.family == lmerpy.binomial()


def test_gaussian_identity_is_lmer_with_lme4s_warning():
    df = lmerpy.datasets.load("sleepstudy")
    with pytest.warns(FutureWarning, match="please call lmer"):
        fit = lmerpy.glmer("Reaction ~ Days + (1 | Subject)", df, family=lmerpy.gaussian())
    assert isinstance(fit, lmerpy.LinearMixedModel)


def test_backends_agree(synth):
    f = "cbind(s, n - s) ~ x + (1 | a/b)"
    fits = {b: quiet(lmerpy.glmer, f, synth, backend=b) for b in ("cholmod", "scipy")}
    a, b = fits["cholmod"], fits["scipy"]
    assert float(a.logLik()) == pytest.approx(float(b.logLik()), abs=1e-8)
    np.testing.assert_allclose(a.fixef().to_numpy(), b.fixef().to_numpy(), atol=1e-6)


# ---------------------------------------------------------------------- AGQ pieces


def test_ghrule_matches_lme4():
    # R: lme4::GHrule(5)
    g = GHrule(5)
    np.testing.assert_allclose(g[:, 0], [-2.8569700138728056, -1.3556261799742662, 0.0,
                                         1.3556261799742659, 2.8569700138728056], atol=1e-14)
    np.testing.assert_allclose(g[:, 1], [0.011257411327720701, 0.222075922005612575,
                                         0.533333333333333326, 0.222075922005612630,
                                         0.011257411327720689], rtol=1e-13)
    np.testing.assert_allclose(g[:, 2], [-5.00007736328886221, -1.83779970312048357,
                                         -0.91893853320467278, -1.83779970312048313,
                                         -5.00007736328886221], rtol=1e-13)
    assert GHrule(25)[:, 1].sum() == pytest.approx(1.0, abs=1e-14)


def test_one_node_agq_is_laplace(gm1):
    dev = gm1.devfun
    x = np.concatenate((gm1.theta, gm1.fixef().to_numpy()))
    lap = dev(x)
    st = dev._state
    codes = np.asarray(gm1.design.reterms[0].codes)
    agq1 = agq_deviance(dev.S, dev.resp, st, codes, GHrule(1)) + dev.resp.saturated_aic()
    assert agq1 == pytest.approx(lap, abs=1e-9)
    # more nodes: the quadrature converges (the integrand is smooth)
    d25 = agq_deviance(dev.S, dev.resp, st, codes, GHrule(25))
    d50 = agq_deviance(dev.S, dev.resp, st, codes, GHrule(50))
    assert d25 == pytest.approx(d50, abs=1e-9)


def test_agq_needs_one_scalar_term(synth):
    with pytest.raises(LmerpyError, match=AGQ_TERM_MESSAGE):
        lmerpy.glmer("yb ~ x + (x | g)", synth, nAGQ=5)
    with pytest.raises(LmerpyError, match=AGQ_TERM_MESSAGE):
        lmerpy.glmer("cbind(s, n - s) ~ x + (1 | a/b)", synth, nAGQ=3)
    with pytest.raises(DataError, match="nAGQ > 1 is not available for the Gamma family"):
        lmerpy.glmer("yg ~ x + (1 | g)", synth, family=lmerpy.Gamma(link="log"), nAGQ=3)


def test_pirls_reports_failure(gm1):
    dev = gm1.devfun
    with pytest.raises(PirlsError, match="did not converge in 1 iterations"):
        pirls(dev.S, dev.resp, gm1.theta, dev.resp.offset + dev.lp0 + 3.0,
              beta=gm1.fixef().to_numpy(), maxit=1)


# ---------------------------------------------------------------------- glmer_nb


def test_glmer_nb_start_theta_and_family():
    df = lmerpy.datasets.load("grouseticks")
    df = df.assign(cHEIGHT=df["HEIGHT"] - df["HEIGHT"].mean())
    f = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
    fit = quiet(lmerpy.glmer_nb, f, df, theta=10.0)
    # R: glmer.nb(TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION), grouseticks):
    #    getME(fit, "glmer.nb.theta") 3.30339464787759 (tests/reference/glmer/grouseticks_nb.json)
    assert fit.getME("glmer.nb.theta") == pytest.approx(3.30339464787759, rel=1e-4)
    assert fit.family.family == "Negative Binomial(3.3034)"
    assert fit.logLik().df == 7
    assert fit.nb_search["start"] == 10.0 and len(fit.nb_search["theta"]) > 3
    with pytest.raises(LmerpyError, match="glmer_nb: theta must be a finite number > 0 .*, not -2"):
        lmerpy.glmer_nb(f, df, theta=-2)


def test_glmer_nb_on_poisson_data_reaches_the_poisson_limit():
    """Counts without overdispersion: MASS's theta.ml runs off (lme4's glmer.nb then searches
    an interval that does not contain the optimum); lmerpy follows the flat profile up, stops
    at θ = 1e6 with a warning, and the fit equals the Poisson GLMM's."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 10)
    x = rng.normal(size=300)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(scale=0.5, size=30)[g]))
    df = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})
    with pytest.warns(ConvergenceWarning, match="no overdispersion"):
        fit = lmerpy.glmer_nb("y ~ x + (1 | g)", df)
    assert fit.getME("glmer.nb.theta") == pytest.approx(1e6)
    pois = lmerpy.glmer("y ~ x + (1 | g)", df, family=lmerpy.poisson)
    assert float(fit.logLik()) == pytest.approx(float(pois.logLik()), abs=1e-3)
    se = np.sqrt(np.diag(pois.vcov().to_numpy()))
    assert np.all(np.abs(fit.fixef().to_numpy() - pois.fixef().to_numpy()) <= 1e-2 * se)


# ---------------------------------------------------------------------- bad input


def _binom_data(y):
    return pd.DataFrame({"y": y, "g": pd.Categorical(np.repeat(["a", "b", "c", "d"], 3))})


def test_binomial_response_outside_unit_interval():
    with pytest.raises(DataError, match=r"y values must be 0 <= y <= 1.*outside \[0, 1\]"):
        lmerpy.glmer("y ~ 1 + (1 | g)", _binom_data([0, 1, 2, 0, 1, 0, 1, 1, 0, 0, 1, 0]))


def test_binomial_negative_count_in_cbind():
    df = _binom_data(np.arange(12) % 3).assign(f=[3, 2, 1, -1, 2, 2, 3, 1, 2, 0, 1, 4])
    with pytest.raises(DataError, match=r"negative counts in the binomial response.*rows 3"):
        lmerpy.glmer("cbind(y, f) ~ 1 + (1 | g)", df)


def test_poisson_non_integer_counts_warn_as_r():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"y": rng.poisson(3, 60) + 0.5, "x": rng.normal(size=60),
                       "g": pd.Categorical(np.repeat(list("abcdefghij"), 6))})
    with pytest.warns(UserWarning, match=r"non-integer x = \d+\.500000"):
        fit = lmerpy.glmer("y ~ x + (1 | g)", df, family=lmerpy.poisson)
    assert np.isfinite(float(fit.logLik()))


def test_gamma_and_inverse_gaussian_need_positive_response(synth):
    df = synth.assign(yg=synth["yg"].where(np.arange(len(synth)) != 4, 0.0))
    with pytest.raises(DataError, match="non-positive values not allowed for the 'Gamma' "
                                        "family: the response yg is <= 0 in rows 4"):
        lmerpy.glmer("yg ~ x + (1 | g)", df, family=lmerpy.Gamma(link="log"))
    df = synth.assign(yig=-synth["yig"])
    with pytest.raises(DataError, match="positive values only are allowed for the "
                                        "'inverse.gaussian' family"):
        lmerpy.glmer("yig ~ x + (1 | g)", df, family=lmerpy.inverse_gaussian(link="log"))


def test_binomial_factor_response(synth):
    fit = quiet(lmerpy.glmer, "yfac ~ z + (1 | g)", synth)
    # first level ('survived') is the failure
    np.testing.assert_array_equal(fit.getME("y"), (synth["yfac"] == "died").to_numpy(float))


def test_bad_arguments(cbpp, synth):
    with pytest.raises(LmerpyError, match="glmer: nAGQ must be an integer from 0 to 100"):
        lmerpy.glmer(CBPP_F, cbpp, nAGQ=2.5)
    with pytest.raises(LmerpyError, match="glmer: nAGQ must be an integer from 0 to 100"):
        lmerpy.glmer(CBPP_F, cbpp, nAGQ=101)
    with pytest.raises(LmerpyError, match="unknown family"):
        lmerpy.glmer(CBPP_F, cbpp, family="quasibinomial")
    with pytest.raises(LmerpyError, match="glmerControl"):
        lmerpy.glmer(CBPP_F, cbpp, control=lmerpy.lmerControl())
    with pytest.raises(LmerpyError, match="incorrect components in start list: 'beta'; the names should be 'par', 'theta' and/or 'fixef'"):
        lmerpy.glmer(CBPP_F, cbpp, start={"beta": [0, 0, 0, 0]})
    with pytest.raises(LmerpyError, match="should not specify both start\\$fixef and nAGQ==0"):
        lmerpy.glmer(CBPP_F, cbpp, nAGQ=0, start={"fixef": [0, 0, 0, 0]})
    with pytest.raises(DataError, match="Response is constant"):
        lmerpy.glmer("y ~ 1 + (1 | g)", _binom_data(np.ones(12)))


@pytest.mark.parametrize("full", [False, True], ids=["partly-crossed", "fully-crossed"])
def test_factor_backends_agree_on_crossed_designs(full):
    """Deviance, conditional modes and variances and the factor from the block-first (SciPy)
    and CHOLMOD factors agree (150 x 12 levels partly crossed; 120 x 12 fully crossed)."""
    from lmerpy.pls.glmm.deviance import GlmmDeviance
    from lmerpy.pls.factor.block_first import BlockFirstFactor
    rng = np.random.default_rng(11)
    if full:
        s_, i_ = np.meshgrid(np.arange(120), np.arange(12), indexing="ij")
        s_, i_ = np.repeat(s_.ravel(), 2), np.repeat(i_.ravel(), 2)
    else:
        s_, i_ = rng.integers(0, 150, 1800), rng.integers(0, 12, 1800)
    n = s_.shape[0]
    df = pd.DataFrame({"s": pd.Categorical(s_), "i": pd.Categorical(i_),
                       "x": rng.normal(size=n)})
    df["y"] = rng.binomial(1, 0.4, n)
    glmod = lmerpy.glFormula("y ~ x + (1 | s) + (1 | i)" if full else
                             "y ~ x + (1 | s) + (x | i)", df)
    devs = {b: GlmmDeviance(glmod, lmerpy.binomial(), nAGQ=1, backend=b)
            for b in ("cholmod", "scipy")}
    assert isinstance(devs["scipy"].S.factor, BlockFirstFactor)
    x = np.array([0.8, 0.5, -0.4, 0.2]) if full else np.array([0.8, 0.5, 0.1, 0.3, -0.4, 0.2])
    vals = {b: d(x) for b, d in devs.items()}
    assert vals["scipy"] == pytest.approx(vals["cholmod"], abs=1e-9)
    sols = {b: d.solve(x) for b, d in devs.items()}
    for k in range(2):
        np.testing.assert_allclose(sols["scipy"].cond_var(k), sols["cholmod"].cond_var(k),
                                   rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(sols["scipy"].u, sols["cholmod"].u, atol=1e-10)
    L = sols["scipy"].L
    A = devs["scipy"].S.smap.full_matrix(devs["scipy"].S.a_values(devs["scipy"]._state.w))
    p = devs["scipy"].S.factor.perm
    np.testing.assert_allclose((L @ L.T).toarray(), A.toarray()[np.ix_(p, p)], atol=1e-10)
