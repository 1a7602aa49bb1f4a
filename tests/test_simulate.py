"""simulate(): seeded draws checked statistically against the model's moments.

Each check compares a Monte-Carlo estimate with the model's value in units of its own
Monte-Carlo standard error: a mean of N draws has SE sd/√N; a sample variance has SE
√((m₄ − s⁴)/N) (m₄ the fourth central moment, estimated from the draws); a sample covariance
of normal draws has SE √((V_ii V_jj + V_ij²)/N). The bound is 5 SE for a handful of checks
and 6 SE for maxima over thousands of (correlated) entries. Draws are seeded, so the tests are
deterministic; the bounds are what a correct implementation passes for any seed with
overwhelming probability.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import families
from lmerpy.errors import DataError, LmerpyError
from lmerpy.inference.simulate import draw_family, simulate_responses

from _reference import load_case_data

REF = Path(__file__).parent / "reference"


def _z_mean(draws, mean, var):
    """(sample mean − model mean) / SE, per row; draws (m, N)."""
    N = draws.shape[1]
    return (draws.mean(axis=1) - mean) / np.sqrt(var / N)


def _z_var(draws, var):
    """(sample variance − model variance) / SE, per row."""
    N = draws.shape[1]
    c = draws - draws.mean(axis=1, keepdims=True)
    m4 = np.mean(c ** 4, axis=1)
    s2 = np.mean(c ** 2, axis=1)
    return (draws.var(axis=1, ddof=1) - var) / np.sqrt(np.maximum(m4 - s2 ** 2, 1e-300) / N)


def _marginal_cov(fit, rows=None):
    Z = fit.design.Zt.T.toarray()
    L = fit.design.lambdat_at(fit.theta).T.toarray()
    V = fit.sigma() ** 2 * (Z @ L @ L.T @ Z.T + np.diag(1.0 / fit.design.weights))
    return V


def test_unconditional_lmm_mean_and_covariance(fm1):
    N = 4000
    Y = lmerpy.simulate(fm1, nsim=N, seed=11).to_numpy()
    Xb = fm1.design.X @ fm1.fixef().to_numpy()
    V = _marginal_cov(fm1)
    assert np.max(np.abs(_z_mean(Y, Xb, np.diag(V)))) < 5
    C = np.cov(Y)
    se = np.sqrt((np.outer(np.diag(V), np.diag(V)) + V ** 2) / N)
    assert np.max(np.abs(C - V) / se) < 6
    # observations of different subjects are independent, of one subject correlated
    assert abs(C[0, 10]) < 6 * se[0, 10] and C[0, 9] > 0.5 * V[0, 9]


def test_conditional_lmm(fm1):
    N = 3000
    Y = fm1.simulate(nsim=N, seed=3, use_u=True).to_numpy()
    s2 = fm1.sigma() ** 2
    assert np.max(np.abs(_z_mean(Y, fm1.fitted().to_numpy(), s2))) < 5
    assert np.max(np.abs(_z_var(Y, s2))) < 5
    C = np.corrcoef(Y[:12])
    assert np.max(np.abs(C - np.eye(12))) < 6 / np.sqrt(N)


def test_prior_weights_scale_the_residual_variance(sleep):
    ss = sleep.copy()
    ss["w"] = np.tile([1.0, 4.0, 0.25], 60)
    fit = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", ss, weights="w")
    N = 3000
    Y = fit.simulate(nsim=N, seed=5, use_u=True).to_numpy()
    var = fit.sigma() ** 2 / ss["w"].to_numpy()
    assert np.max(np.abs(_z_var(Y, var))) < 5
    Y0 = fit.simulate(nsim=N, seed=6).to_numpy()
    V = _marginal_cov(fit)
    assert np.max(np.abs(_z_var(Y0, np.diag(V)))) < 5


def test_partial_conditioning_on_crossed_terms():
    pen = lmerpy.datasets.load("Penicillin")
    fit = lmerpy.lmer("diameter ~ 1 + (1|plate) + (1|sample)", pen)
    N = 3000
    Y = fit.simulate(nsim=N, seed=8, re_form="~(1|plate)").to_numpy()
    mean = fit.predict(re_form="~(1|plate)").to_numpy()
    i_sample = [i for i, t in enumerate(fit.design.reterms) if t.group_name == "sample"][0]
    lam = fit.theta[fit.design.reterms[i_sample].theta_offset]
    var = fit.sigma() ** 2 * (lam ** 2 + 1.0)
    assert np.max(np.abs(_z_mean(Y, mean, var))) < 5
    assert np.max(np.abs(_z_var(Y, var))) < 5
    # rows of one sample share its new random effect; rows of one plate do not co-vary
    rows_sample = np.flatnonzero(pen["sample"].to_numpy() == "A")[:2]
    rows_plate = np.flatnonzero(pen["plate"].to_numpy() == "a")[:2]
    cov_s = np.cov(Y[rows_sample])[0, 1]
    cov_p = np.cov(Y[rows_plate])[0, 1]
    se = var / np.sqrt(N)
    assert abs(cov_s - fit.sigma() ** 2 * lam ** 2) < 5 * se
    assert abs(cov_p) < 5 * se


def test_newdata_new_levels(fm1):
    nd = pd.DataFrame({"Days": [0.0, 5.0, 5.0, 9.0], "Subject": ["n1", "n1", "n2", "308"]},
                      index=["a", "b", "c", "d"])
    N = 4000
    sims = fm1.simulate(nsim=N, seed=2, newdata=nd)
    assert list(sims.index) == ["a", "b", "c", "d"]
    Y = sims.to_numpy()
    L = fm1.design.lambdat_at(fm1.theta).T.toarray()[:2, :2]
    Zr = np.column_stack([np.ones(4), nd["Days"].to_numpy()])
    same = (nd["Subject"].to_numpy()[:, None] == nd["Subject"].to_numpy()[None, :])
    V = fm1.sigma() ** 2 * ((Zr @ L @ L.T @ Zr.T) * same + np.eye(4))
    mean = fm1.predict(nd, re_form=lmerpy.NA).to_numpy()
    assert np.max(np.abs(_z_mean(Y, mean, np.diag(V)))) < 5
    C = np.cov(Y)
    se = np.sqrt((np.outer(np.diag(V), np.diag(V)) + V ** 2) / N)
    assert np.max(np.abs(C - V) / se) < 5
    # conditioning on the fitted levels needs allow_new_levels for n1, n2
    with pytest.raises(DataError, match="new levels detected in newdata: n1, n2"):
        fm1.simulate(nsim=2, seed=2, newdata=nd, use_u=True)
    Yc = fm1.simulate(nsim=N, seed=2, newdata=nd, use_u=True, allow_new_levels=True).to_numpy()
    mc = fm1.predict(nd, allow_new_levels=True).to_numpy()
    assert np.max(np.abs(_z_mean(Yc, mc, fm1.sigma() ** 2))) < 5


def test_seed_shape_and_names(fm1):
    a = fm1.simulate(nsim=3, seed=42)
    b = lmerpy.simulate(fm1, nsim=3, seed=42)
    c = fm1.simulate(nsim=3, seed=43)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"] and a.shape == (180, 3)
    assert list(a.index) == list(fm1.design.fr.index)
    g = np.random.default_rng(42)
    np.testing.assert_array_equal(fm1.simulate(nsim=3, seed=g).to_numpy(), a.to_numpy())


def test_bad_arguments(fm1):
    with pytest.raises(LmerpyError, match="only one of use_u and re_form"):
        fm1.simulate(use_u=True, re_form=lmerpy.NA)
    with pytest.raises(LmerpyError, match="nsim must be a positive integer"):
        fm1.simulate(nsim=0)
    with pytest.raises(LmerpyError, match="some columns of the term"):
        fm1.simulate(re_form="~(1|Subject)")


# ----------------------------------------------------------------------------- GLMMs


def _glmer(ref_id):
    ref = json.loads((REF / "glmer" / f"{ref_id}.json").read_text())
    data = load_case_data(ref)
    fam = families.FAMILIES[ref["family"]](link=ref["link"])
    kw = {"weights": ref["weights"]} if ref.get("weights") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.glmer(ref["formula"], data, family=fam, nAGQ=ref["nAGQ"], **kw), data


def test_binomial_cbind(gm1, cbpp):
    N = 2000
    sims = gm1.simulate(nsim=N, seed=4, use_u=True)
    assert sims.shape == (56, 2 * N)
    assert list(sims.columns[:2]) == [("sim_1", "incidence"), ("sim_1", "size - incidence")]
    succ = sims.xs("incidence", axis=1, level=1).to_numpy()
    fail = sims.xs("size - incidence", axis=1, level=1).to_numpy()
    size = cbpp["size"].to_numpy()
    np.testing.assert_array_equal(succ + fail, np.repeat(size[:, None], N, axis=1))
    mu = gm1.fitted().to_numpy()
    assert np.max(np.abs(_z_mean(succ, size * mu, size * mu * (1 - mu)))) < 5
    assert np.max(np.abs(_z_var(succ, size * mu * (1 - mu)))) < 5


def test_binomial_unconditional_mean(gm1, cbpp):
    N = 3000
    succ = gm1.simulate(nsim=N, seed=9).xs("incidence", axis=1, level=1).to_numpy()
    # E[y] = size · E[logit⁻¹(η + σ_b z)], by Gauss–Hermite quadrature
    x, w = np.polynomial.hermite_e.hermegauss(40)
    eta = gm1.predict(re_form=lmerpy.NA).to_numpy()
    sb = gm1.theta[0]
    p = (1 / (1 + np.exp(-(eta[:, None] + sb * x[None, :])))) @ w / w.sum()
    pp = (1 / (1 + np.exp(-(eta[:, None] + sb * x[None, :])))) ** 2 @ w / w.sum()
    size = cbpp["size"].to_numpy()
    var = size * p * (1 - p) + size * (size - 1) * (pp - p ** 2)
    assert np.max(np.abs(_z_mean(succ, size * p, var))) < 5


def test_binomial_proportions_with_weights():
    fit, data = _glmer("cbpp_proportion_weights")
    N = 2000
    Y = fit.simulate(nsim=N, seed=1, use_u=True).to_numpy()
    size = data["size"].to_numpy()
    assert np.allclose(np.round(Y * size[:, None]), Y * size[:, None])
    mu = fit.fitted().to_numpy()
    assert np.max(np.abs(_z_mean(Y, mu, mu * (1 - mu) / size))) < 5


def test_binomial_factor_response():
    fit, data = _glmer("binary_factor")
    sims = fit.simulate(nsim=500, seed=1, use_u=True)
    levels = list(data["yfac"].cat.categories)
    assert all(list(sims[c].cat.categories) == levels for c in sims.columns)
    succ = np.column_stack([(sims[c] == levels[1]).to_numpy() for c in sims.columns])
    mu = fit.fitted().to_numpy()
    assert np.max(np.abs(_z_mean(succ.astype(float), mu, mu * (1 - mu)))) < 5


def test_poisson():
    grouse = lmerpy.datasets.load("grouseticks")
    fit = lmerpy.glmer("TICKS ~ YEAR + cHEIGHT + (1|BROOD)", grouse, family="poisson")
    N = 2000
    Y = fit.simulate(nsim=N, seed=7, use_u=True).to_numpy()
    mu = fit.fitted().to_numpy()
    assert np.max(np.abs(_z_mean(Y, mu, mu))) < 5
    assert np.max(np.abs(_z_var(Y, mu))) < 5.5


@pytest.mark.parametrize("ref_id,variance", [
    ("gamma_log", lambda mu, s: s ** 2 * mu ** 2),
    ("inverse_gaussian_log", lambda mu, s: s ** 2 * mu ** 3),
])
def test_gamma_and_inverse_gaussian(ref_id, variance):
    fit, _ = _glmer(ref_id)
    N = 3000
    Y = fit.simulate(nsim=N, seed=12, use_u=True).to_numpy()
    mu = fit.fitted().to_numpy()
    var = variance(mu, fit.sigma())
    assert np.max(np.abs(_z_mean(Y, mu, var))) < 5
    assert np.max(np.abs(_z_var(Y, var))) < 5.5


def test_negative_binomial_draws():
    fam = families.negative_binomial(2.5)
    mu = np.array([[0.5], [3.0], [20.0]]).repeat(20000, axis=1)
    Y = draw_family(fam, mu, np.ones(3), 1.0, np.random.default_rng(1))
    m = mu[:, 0]
    assert np.max(np.abs(_z_mean(Y, m, m + m ** 2 / 2.5))) < 5
    assert np.max(np.abs(_z_var(Y, m + m ** 2 / 2.5))) < 5


@pytest.mark.parametrize("fam,w,sigma,var", [
    (families.gaussian(), np.array([1.0, 4.0]), 2.0, lambda mu: 4.0 / np.array([1.0, 4.0])),
    (families.Gamma(), np.array([1.0, 3.0]), 0.5, lambda mu: 0.25 * mu ** 2 / [1.0, 3.0]),
    (families.inverse_gaussian(), np.array([1.0, 2.0]), 0.3,
     lambda mu: 0.09 * mu ** 3 / [1.0, 2.0]),
    (families.binomial(), np.array([1.0, 10.0]), 1.0, lambda mu: mu * (1 - mu) / [1.0, 10.0]),
])
def test_family_draws_with_weights(fam, w, sigma, var):
    mu = np.array([[0.3], [0.6]]).repeat(20000, axis=1)
    Y = draw_family(fam, mu, w, sigma, np.random.default_rng(3))
    assert np.max(np.abs(_z_mean(Y, mu[:, 0], var(mu[:, 0])))) < 5
    assert np.max(np.abs(_z_var(Y, var(mu[:, 0])))) < 5


def test_noninteger_binomial_weights_are_an_error():
    with pytest.raises(DataError, match="non-integer prior.weights"):
        draw_family(families.binomial(), np.full((2, 3), 0.5), np.array([1.5, 2.0]), 1.0,
                    np.random.default_rng(0))


def test_simulate_responses_for_bootstrap(fm1):
    Y, index, kind = simulate_responses(fm1, nsim=4, seed=42)
    assert Y.shape == (180, 4) and kind == "numeric"
    np.testing.assert_array_equal(Y, fm1.simulate(nsim=4, seed=42).to_numpy())
