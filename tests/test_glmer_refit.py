"""glmer refits (``fit.refit(newresp)``, what bootMer and PBmodcomp run): the optimum of a fresh
fit, reached cheaply.

A refit must land where a fresh ``glmer`` fit on the new response lands — not where lme4's
``refit`` lands: lme4's refit starts every PIRLS from the old fit's (θ̂, β̂), and since lme4's
Laplace deviance depends on PIRLS's start at the 1e-4 level, its refits end up to ~2e-4 of
log-likelihood away from its own fresh fits (below: cbpp, lme4 1.1-31: fresh −87.0680229470,
refit −87.0678417580).

Tolerances:
- refit vs lmerpy's fresh fit on the same response: log-likelihood 1e-6 absolute (observed
  ~1e-8: both optimize the same function, the refit from a warm start in whitened
  coordinates, which stops at least as close to the optimum as Nelder-Mead); θ 2e-3
  absolute, β 2e-3 of its standard error (Nelder-Mead's stopping tolerance, not the refit's);
- refit vs lme4's fresh fit on the same response (R goldens below): log-likelihood 1e-5
  absolute (the glmer goldens' tolerance), θ 1e-4 absolute, β 1e-3 of its standard error,
  standard errors 5e-4 relative; where lme4 warned, a higher log-likelihood is accepted;
- a refit with the fit's own response: log-likelihood 1e-6 of the fit's.

The fits here take lme4's optimizer path (:data:`LME4`, ``glmerControl(optimizer=["bobyqa",
"Nelder_Mead"])``), whose refit machinery (the whitened BOBYQA second stage, the replay of
rough deviances) and lme4 goldens these tests are about; glmer's default gradient-based path
refits with its own optimizer (test_default_path_refits_*, at the end).
"""
import pickle

import numpy as np
import pandas as pd
import pytest
from _quiet import quiet
from _reference import case_kwargs, glmer_cases, load_case_data

import lmerpy
from lmerpy.families import FAMILIES
from lmerpy.inference.simulate import simulate_responses
from lmerpy.models.glmm import _with_response, fit_glmm
from lmerpy.optimize import glmerControl

CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
#: lme4's optimizers (glmer's default is gradient-based)
LME4 = glmerControl(optimizer=["bobyqa", "Nelder_Mead"])
GT_F = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"

# R (lme4 1.1-31):
#   cb <- cbpp; cb$incidence <- CBPP_NEW
#   f <- glmer(cbind(incidence, size - incidence) ~ period + (1|herd), cb, family=binomial)
#   logLik(f); getME(f, "theta"); fixef(f); sqrt(diag(vcov(f)))
#   refit(glmer(..., cbpp, ...), cbind(CBPP_NEW, cbpp$size - CBPP_NEW))  # logLik -87.0678417580
CBPP_NEW = [4, 1, 1, 1, 8, 7, 2, 8, 3, 2, 2, 1, 1, 1, 0, 3, 1, 0, 1, 2, 0, 1, 0, 7, 0, 0, 0, 6,
            2, 2, 1, 0, 0, 0, 3, 0, 11, 2, 1, 4, 2, 0, 0, 0, 4, 0, 3, 1, 2, 0, 0, 0, 3, 2, 0, 1]
CBPP_R = {"logLik": -87.0680229470007, "theta": [0.531543208007969],
          "fixef": [-1.31846363377353, -1.15189530955185, -1.35135360600208,
                    -1.44223279203184],
          "se": [0.206159559770656, 0.287252419628749, 0.311606270677189, 0.365034915437157]}

# R: g <- grouseticks; g$TICKS <- GT_NEW
#    glmer(TICKS ~ YEAR + HEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION), g, family=poisson)
#    (singular: LOCATION's θ 8.56e-5; lme4 warns). The response on which lmerpy's former
#    refit (PIRLS from the old fit's conditional modes) failed in CHOLMOD.
GT_NEW = (
    "1 0 0 1 0 1 3 1 0 0 0 1 0 1 1 1 0 0 0 1 0 0 4 0 1 0 2 1 4 2 2 0 1 1 0 6 3 4 2 1 2 1 8 0 "
    "4 11 13 44 10 18 18 31 37 11 123 20 2 5 2 10 3 11 12 0 0 1 1 3 0 1 1 1 0 0 0 0 0 0 2 11 "
    "4 0 3 10 4 2 3 4 0 1 2 0 0 0 0 0 0 2 8 0 0 0 3 2 0 7 3 2 0 2 0 0 3 8 4 0 0 19 31 129 42 "
    "95 53 30 24 32 16 21 16 17 25 30 46 23 49 24 16 36 44 7 3 8 16 19 7 11 21 18 31 33 41 69 "
    "10 40 20 9 36 9 47 13 0 0 2 2 0 1 0 1 7 4 3 7 2 0 0 1 2 4 1 5 2 0 0 0 1 2 0 7 5 1 1 11 0 "
    "0 1 3 0 0 0 1 13 2 5 14 10 13 4 2 2 10 5 2 11 5 41 6 9 12 12 9 10 16 34 30 14 14 56 15 "
    "19 20 29 13 9 5 9 2 5 0 3 4 1 0 0 0 1 0 2 0 10 2 3 13 3 5 7 4 0 1 17 33 16 24 11 3 21 19 "
    "15 6 2 1 3 11 0 0 0 0 0 0 1 0 4 1 1 2 0 0 0 1 0 0 0 0 4 0 2 1 1 0 0 0 0 0 0 0 0 0 0 0 0 "
    "0 0 0 1 0 1 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 1 0 0 0 1 0 1 1 0 0 0 3 2 0 3 0 0 3 8 0 1 0 0 "
    "0 2 1 0 5 4 2 0 1 1 0 0 0 0 0 3 1 0 0 0 2 0 2 3 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 1 1 2 0 3 "
    "0 0 1 3 0 0")
GT_R = {"logLik": -841.442382682652,
        "theta": [0.590378194137893, 0.822660897045441, 8.56046551338168e-05],
        "fixef": [14.2374382556658, 1.00899304173862, -1.53930802336233, -0.0299762293832073]}


@pytest.fixture(scope="module")
def gticks():
    return lmerpy.datasets.load("grouseticks")


@pytest.fixture(scope="module")
def gt1(gticks):
    return quiet(lmerpy.glmer, GT_F, gticks, family=lmerpy.poisson, control=LME4)


@pytest.fixture(scope="module")
def gm1(cbpp):
    """lme4's gm1 on lme4's optimizer path."""
    return lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial, control=LME4)


def _ll(fit):
    return float(fit.logLik())


def _evals(fit):
    s1 = fit.optsum_stage1.feval if fit.optsum_stage1 is not None else 0
    return s1 + fit.optsum.feval


def _same_optimum(re, fresh, ll_tol=1e-6, use_hessian=None):
    assert _ll(re) == pytest.approx(_ll(fresh), abs=ll_tol)
    np.testing.assert_allclose(re.theta, fresh.theta, atol=2e-3)
    se = np.sqrt(np.diag(fresh.vcov(use_hessian=use_hessian).to_numpy()))
    d = np.abs(re.fixef().to_numpy() - fresh.fixef().to_numpy())
    assert np.all(d <= 2e-3 * se)


def test_refit_new_response_against_lme4_fresh_fit(gm1, cbpp):
    inc = np.array(CBPP_NEW, dtype=float)
    re = gm1.refit(np.column_stack((inc, cbpp["size"].to_numpy() - inc)))
    assert _ll(re) == pytest.approx(CBPP_R["logLik"], abs=1e-5)
    np.testing.assert_allclose(re.theta, CBPP_R["theta"], atol=1e-4)
    se = np.array(CBPP_R["se"])
    assert np.all(np.abs(re.fixef().to_numpy() - CBPP_R["fixef"]) <= 1e-3 * se)
    np.testing.assert_allclose(np.sqrt(np.diag(re.vcov().to_numpy())), se, rtol=5e-4)
    fresh = lmerpy.glmer(CBPP_F, cbpp.assign(incidence=inc), family=lmerpy.binomial,
                         control=LME4)
    _same_optimum(re, fresh)
    # the refit is a full fit of the new response: stored response, fitted values, call
    np.testing.assert_array_equal(re.getME("y") * cbpp["size"].to_numpy(), inc)
    np.testing.assert_allclose(re.fitted().to_numpy(), fresh.fitted().to_numpy(), atol=1e-4)
    assert re.call["formula"] == gm1.call["formula"]
    assert _evals(re) < 0.6 * _evals(fresh)


def test_refit_where_pirls_from_the_old_modes_diverged(gt1, gticks):
    tk = np.array(GT_NEW.split(), dtype=float)
    assert tk.shape[0] == 403
    re = quiet(gt1.refit, tk)
    # lme4 warned (singular fit; LOCATION's θ 8.6e-5 there, 0 here): a log-likelihood at least
    # as high as lme4's, within 1e-5 of it
    assert -1e-8 <= _ll(re) - GT_R["logLik"] <= 1e-5
    np.testing.assert_allclose(re.theta, GT_R["theta"], atol=1e-4)
    fresh = quiet(lmerpy.glmer, GT_F, gticks.assign(TICKS=tk), family=lmerpy.poisson,
                  control=LME4)
    _same_optimum(re, fresh)
    assert _evals(re) < 0.5 * _evals(fresh)


def test_refit_same_response_is_the_fit(gm1, gt1):
    for fit in (gm1, gt1):
        re = quiet(fit.refit)
        assert _ll(re) == pytest.approx(_ll(fit), abs=1e-6)
        assert _ll(re) >= _ll(fit) - 1e-9          # started at the optimum: never worse
        np.testing.assert_allclose(re.theta, fit.theta, atol=2e-3)
        assert re.optsum_stage1 is fit.optsum_stage1
        # the fit's own response given explicitly: the full refit, same optimum
        y = fit.devfun.resp.y * fit.devfun.resp.n_trials
        if y.ndim == 1 and fit.design.y.ndim == 2:
            y = np.column_stack((y, fit.devfun.resp.n_trials - y))
        re2 = quiet(fit.refit, y)
        assert _ll(re2) == pytest.approx(_ll(fit), abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_refits_match_fresh_fits(gm1, cbpp, seed):
    Y, _, _ = simulate_responses(gm1, nsim=3, seed=seed)
    for j in range(3):
        y = Y[..., j]
        re = gm1.refit(y)
        fresh = quiet(lmerpy.glmer, CBPP_F, cbpp.assign(incidence=y[:, 0]),
                       family=lmerpy.binomial, control=LME4)
        _same_optimum(re, fresh)


def test_refit_without_derivatives(gm1, cbpp):
    inc = np.array(CBPP_NEW, dtype=float)
    y = np.column_stack((inc, cbpp["size"].to_numpy() - inc))
    full = gm1.refit(y)
    lean = gm1.refit(y, calc_derivs=False)
    assert lean.optsum.derivs is None and full.optsum.derivs is not None
    assert _ll(lean) == pytest.approx(_ll(full), abs=1e-10)
    np.testing.assert_allclose(lean.fixef().to_numpy(), full.fixef().to_numpy(), atol=1e-10)
    # vcov then comes from R_X, as lme4's vcov(use.hessian = FALSE)
    np.testing.assert_allclose(lean.vcov().to_numpy(), full.vcov(use_hessian=False).to_numpy(),
                               rtol=1e-8)
    assert _ll(lean) == pytest.approx(CBPP_R["logLik"], abs=1e-5)


def test_refit_of_a_fit_without_hessian(cbpp):
    # no Hessian to whiten with: β is whitened by R_X instead (still a few dozen evaluations)
    ctl = glmerControl(optimizer=["bobyqa", "Nelder_Mead"], calc_derivs=False)
    fit = lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial, control=ctl)
    assert fit.optsum.derivs is None
    inc = np.array(CBPP_NEW, dtype=float)
    re = fit.refit(np.column_stack((inc, cbpp["size"].to_numpy() - inc)))
    assert _ll(re) == pytest.approx(CBPP_R["logLik"], abs=1e-5)
    fresh = lmerpy.glmer(CBPP_F, cbpp.assign(incidence=inc), family=lmerpy.binomial,
                         control=ctl)
    assert _ll(re) == pytest.approx(_ll(fresh), abs=1e-6)
    np.testing.assert_allclose(re.theta, fresh.theta, atol=2e-3)
    assert _evals(re) < 0.6 * _evals(fresh)


def test_refit_with_an_explicit_control_runs_its_optimizers(gm1, cbpp):
    inc = np.array(CBPP_NEW, dtype=float)
    y = np.column_stack((inc, cbpp["size"].to_numpy() - inc))
    re = gm1.refit(y, control=LME4)
    assert re.optsum.optimizer == "Nelder_Mead"
    assert _ll(re) == pytest.approx(CBPP_R["logLik"], abs=1e-5)
    assert gm1.refit(y).optsum.optimizer == "bobyqa"


def test_refit_nagq0_and_agq(cbpp):
    inc = np.array(CBPP_NEW, dtype=float)
    y = np.column_stack((inc, cbpp["size"].to_numpy() - inc))
    new = cbpp.assign(incidence=inc)
    for nagq in (0, 9):
        fit = lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial, nAGQ=nagq, control=LME4)
        re = fit.refit(y)
        fresh = lmerpy.glmer(CBPP_F, new, family=lmerpy.binomial, nAGQ=nagq, control=LME4)
        assert re.nAGQ == nagq
        assert _ll(re) == pytest.approx(_ll(fresh), abs=1e-6)
        np.testing.assert_allclose(re.theta, fresh.theta, atol=2e-3)


def test_refit_factor_response():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 10)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(scale=0.9, size=12)[g]
    yb = rng.random(g.size) < 1.0 / (1.0 + np.exp(-eta))
    df = pd.DataFrame({"y": pd.Categorical(np.where(yb, "yes", "no")), "x": x,
                       "g": [f"g{i}" for i in g]})
    fit = lmerpy.glmer("y ~ x + (1 | g)", df, family=lmerpy.binomial, control=LME4)
    yb2 = rng.random(g.size) < 1.0 / (1.0 + np.exp(-eta))
    new = pd.Categorical(np.where(yb2, "yes", "no"), categories=["no", "yes"])
    re = fit.refit(new)
    fresh = lmerpy.glmer("y ~ x + (1 | g)", df.assign(y=new), family=lmerpy.binomial,
                         control=LME4)
    _same_optimum(re, fresh)


def test_refit_non_canonical_links_replay_the_fresh_fit():
    # non-canonical links on the goldens' data (tests/reference/glmer/gamma_log.json,
    # cbpp_probit.json): the refit replays the fresh fit's steps (its deviance is not smooth,
    # see the next test), so it is that fit
    cases = {c["id"]: c for c in glmer_cases()}
    for cid, nsim in (("gamma_log", 2), ("cbpp_probit", 1)):
        ref = cases[cid]
        data = load_case_data(ref)
        fam = FAMILIES[ref["family"]](link=ref["link"])
        fit = quiet(lmerpy.glmer, ref["formula"], data, family=fam, control=LME4,
                    **case_kwargs(ref, data))
        Y, _, _ = simulate_responses(fit, nsim=nsim, seed=4)
        for j in range(nsim):
            y = Y[..., j]
            re = quiet(fit.refit, y)
            fresh = quiet(fit_glmm, _with_response(fit.design, y), fam, nAGQ=1, control=LME4)
            assert _ll(re) == pytest.approx(_ll(fresh), abs=1e-9)
            np.testing.assert_allclose(re.theta, fresh.theta, atol=1e-9)
            if fam.has_scale:   # σ follows the new response
                assert re.sigma() == pytest.approx(fresh.sigma(), rel=1e-9)


def test_refit_where_the_deviance_jumps():
    """With a non-canonical link PIRLS converges linearly and lme4's deviance (log|L|² one
    step behind ũ) jumps by ~1e-3 where PIRLS's iteration count changes. Here (Gamma, log
    link) the 4-iteration region around the optimum is split by a 3-iteration strip, so the
    minimum is an edge of a jump, and Nelder-Mead (the fresh fit) and BOBYQA in whitened
    coordinates stop at two such edges, 7.6e-6 of log-likelihood apart: a refit there
    replays the fresh fit."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 10)
    x = rng.normal(size=g.size)
    rng.normal(size=12), rng.random(g.size), rng.random(g.size)   # (draws of another test)
    mu = np.exp(1.0 + 0.3 * x + rng.normal(scale=0.4, size=12)[g])
    dg = pd.DataFrame({"y": rng.gamma(4.0, mu / 4.0), "x": x, "g": [f"g{i}" for i in g]})
    fam = lmerpy.Gamma(link="log")
    gf = quiet(lmerpy.glmer, "y ~ x + (1 | g)", dg, family=fam, control=LME4)
    y2 = rng.gamma(4.0, mu / 4.0)
    re = quiet(gf.refit, y2)
    fresh = quiet(lmerpy.glmer, "y ~ x + (1 | g)", dg.assign(y=y2), family=fam,
                  control=LME4)
    assert _ll(re) == pytest.approx(_ll(fresh), abs=1e-9)
    np.testing.assert_allclose(re.theta, fresh.theta, atol=1e-9)
    assert re.sigma() == pytest.approx(fresh.sigma(), rel=1e-9)
    # the jump: along the segment between this optimum and BOBYQA's (whitened coordinates,
    # from the fit's estimates), the deviance rises by 1.15e-3 and falls back
    from lmerpy.models.glmm_refit import WhitenedBobyqa, whitening
    dev = re.devfun
    x1 = np.concatenate((re.optsum_stage1.theta, dev.beta0))
    T = whitening(gf.optsum.derivs["Hessian"], 1, 0.1, np.ones(2))
    other = WhitenedBobyqa(T, 1)(dev, x1, dev.lower, np.full(3, np.inf))
    assert 0 < other["fun"] - re.optsum.fmin < 1e-4
    mid = [dev(re.optsum.theta + t * (other["x"] - re.optsum.theta)) for t in (0.3, 0.5, 0.7)]
    assert min(mid) - re.optsum.fmin > 1e-3


def test_refit_without_the_first_stage(cbpp):
    # glmerControl(nAGQ0initStep = FALSE): one stage from β = 0, as the fresh fit
    ctl = glmerControl(optimizer=["bobyqa", "Nelder_Mead"], nAGQ0initStep=False)
    fit = lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial, control=ctl)
    inc = np.array(CBPP_NEW, dtype=float)
    re = fit.refit(np.column_stack((inc, cbpp["size"].to_numpy() - inc)))
    fresh = lmerpy.glmer(CBPP_F, cbpp.assign(incidence=inc), family=lmerpy.binomial,
                         control=ctl)
    assert re.optsum_stage1 is None
    _same_optimum(re, fresh)


def test_refit_negative_binomial_keeps_its_theta(gticks):
    # as lme4's refit of a glmer.nb fit: the shape θ stays fixed; the deviance is glmer_nb's
    # (the Laplace deviance at ũ itself), so the fresh counterpart is that fit at fixed θ
    f = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
    nb = quiet(lmerpy.glmer_nb, f, gticks)
    Y, _, _ = simulate_responses(nb, nsim=2, seed=2)
    for j in range(2):
        re = quiet(nb.refit, Y[:, j])
        assert re.family == nb.family
        fresh = quiet(fit_glmm, _with_response(nb.design, Y[:, j]), nb.family, nAGQ=1,
                       precise=True)
        _same_optimum(re, fresh)
    assert _ll(quiet(nb.refit)) == pytest.approx(_ll(nb), abs=1e-6)


def test_refit_after_pickling(gm1, cbpp):
    # bootMer's worker processes receive the fit pickled when they cannot fork
    inc = np.array(CBPP_NEW, dtype=float)
    y = np.column_stack((inc, cbpp["size"].to_numpy() - inc))
    back = pickle.loads(pickle.dumps(gm1))
    assert _ll(back.refit(y)) == pytest.approx(CBPP_R["logLik"], abs=1e-5)


def test_refit_rejects_a_response_of_the_wrong_length(gm1):
    with pytest.raises(lmerpy.LmerpyError, match="newresp has 3 values"):
        gm1.refit(np.array([1.0, 0.0, 1.0]))


def test_default_path_refits_match_fresh_fits(cbpp, gticks):
    # glmer's default (L-BFGS-B on the Laplace deviance at the mode): a refit keeps that
    # optimizer for both stages, from the fit's estimates, and lands on the fresh fit's optimum
    inc = np.array(CBPP_NEW, dtype=float)
    fit = lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial)
    re = fit.refit(np.column_stack((inc, cbpp["size"].to_numpy() - inc)))
    fresh = lmerpy.glmer(CBPP_F, cbpp.assign(incidence=inc), family=lmerpy.binomial)
    assert re.optsum.optimizer == fresh.optsum.optimizer == "lbfgsb"
    _same_optimum(re, fresh)
    # at least as good as lme4's fresh fit on that response (1e-6 relative)
    assert -2 * _ll(re) <= -2 * CBPP_R["logLik"] * (1 + 1e-6)
    assert _evals(re) <= _evals(fresh)
    tk = np.array(GT_NEW.split(), dtype=float)
    gt = quiet(lmerpy.glmer, GT_F, gticks, family=lmerpy.poisson)
    re = quiet(gt.refit, tk)
    fresh = quiet(lmerpy.glmer, GT_F, gticks.assign(TICKS=tk), family=lmerpy.poisson)
    _same_optimum(re, fresh)
    assert _ll(re) >= GT_R["logLik"] - 1e-6 * abs(GT_R["logLik"])
