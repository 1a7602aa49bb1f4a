"""The families compute their log densities and the probit/cauchit pieces on scipy.special
(scipy.stats costs ~0.3 s to import, which every first glmer() paid): the numbers are
scipy.stats' own, bit for bit, on random grids and at the edges (zero weights, y on the
boundary, μ at the clipping limits, off-support and invalid values)."""
import numpy as np
import pytest
from scipy import stats

from lmerpy.families import Gamma, binomial, poisson

RNG = np.random.default_rng(20261207)
EPS = np.finfo(float).eps


def _same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), np.max(np.abs(a - b))


def _binomial_aic_scipy(y, n, mu, wt):
    m = np.asarray(np.where(np.asarray(n) > 1, n, wt), dtype=float)
    ll = stats.binom.logpmf(np.rint(m * y), np.rint(m), mu)
    with np.errstate(invalid="ignore"):
        w = np.where(m > 0, wt / m, 0.0)
    return -2.0 * float(np.sum(w * ll))


@pytest.mark.parametrize("link", ["logit", "probit", "cauchit", "cloglog"])
def test_binomial_aic_is_scipys(link):
    fam = binomial(link)
    for _ in range(20):
        k = 40
        size = RNG.integers(1, 30, k).astype(float)
        y = RNG.integers(0, 31, k) / 30.0
        y = np.rint(y * size) / size
        mu = fam.linkinv(RNG.normal(size=k) * 3)
        wt = size.copy()
        n = np.ones(k)
        _same(fam.aic(y, n, mu, wt, 0.0), _binomial_aic_scipy(y, n, mu, wt))
    # edges: zero weights, y = 0 and 1, μ at the clipping limits, Bernoulli rows
    y = np.array([0.0, 1.0, 0.5, 0.0, 1.0, 1.0])
    mu = np.array([EPS, 1 - EPS, 0.5, 0.3, EPS, 0.999])
    wt = np.array([0.0, 3.0, 2.0, 1.0, 1.0, 1.0])
    n = np.ones(6)
    _same(fam.aic(y, n, mu, wt, 0.0), _binomial_aic_scipy(y, n, mu, wt))


def test_poisson_aic_is_scipys_including_off_support():
    fam = poisson()
    y = RNG.poisson(4.0, 200).astype(float)
    mu = RNG.gamma(2.0, 2.0, 200)
    wt = RNG.integers(0, 4, 200).astype(float)
    ref = -2.0 * float(np.sum(stats.poisson.logpmf(y, mu) * wt))
    _same(fam.aic(y, np.ones(200), mu, wt, 0.0), ref)
    # a non-integer count has probability 0 (R: dpois gives -Inf), a zero count at μ > 0 is fine
    y2 = np.array([0.0, 2.5, 3.0])
    mu2 = np.array([1.0, 2.0, 3.0])
    ref2 = -2.0 * float(np.sum(stats.poisson.logpmf(y2, mu2)))
    assert ref2 == np.inf
    _same(fam.aic(y2, np.ones(3), mu2, np.ones(3), 0.0), ref2)


def test_gamma_aic_is_scipys():
    fam = Gamma("log")
    y = RNG.gamma(3.0, 1.5, 150)
    mu = y * RNG.uniform(0.5, 1.5, 150)
    wt = RNG.uniform(0.5, 2.0, 150)
    dev = float(np.sum(fam.dev_resids(y, mu, wt)))
    disp = dev / np.sum(wt)
    ref = -2.0 * float(np.sum(stats.gamma.logpdf(y, a=1.0 / disp, scale=mu * disp) * wt)) + 2.0
    _same(fam.aic(y, np.ones(150), mu, wt, dev), ref)


@pytest.mark.parametrize("link,dist", [("probit", stats.norm), ("cauchit", stats.cauchy)])
def test_probit_and_cauchit_pieces_are_scipys(link, dist):
    fam = binomial(link)
    q = np.concatenate([RNG.uniform(size=500), [EPS, 0.5, 1 - EPS, 1e-300, 0.0, 1.0]])
    with np.errstate(divide="ignore"):
        _same(fam.linkfun(q), dist.ppf(q))
    eta = np.concatenate([RNG.normal(size=500) * 8, [0.0, 40.0, -40.0, 1e10, -1e10]])
    thresh = -dist.ppf(EPS)
    _same(fam.linkinv(eta), dist.cdf(np.clip(eta, -thresh, thresh)))
    with np.errstate(over="ignore"):
        _same(fam.mu_eta(eta), np.maximum(dist.pdf(eta), EPS))
