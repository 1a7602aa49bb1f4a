"""R's GLM families (lmerpy.families) against R 4.2's own values.

Every expected number below was computed by R 4.2.2 (stats + MASS 7.3) with, for each family
and link ``fam <- get(family)(link = link)`` (``MASS::negative.binomial(theta = 2.5)`` for the
negative binomial) at the tabled μ, y and prior weights::

    eta <- fam$linkfun(mu)
    c(eta, fam$linkinv(eta), fam$mu.eta(eta), fam$variance(mu),
      fam$dev.resids(y, mu, wt), fam$aic(y, rep(1, 3), mu, wt, sum(fam$dev.resids(y, mu, wt))))

Tolerance: 1e-12 relative (both sides are double-precision evaluations of the same formulas;
R printed them with ``jsonlite::toJSON(digits = NA)``, 15 significant digits).
"""
import numpy as np
import pytest

import lmerpy
from lmerpy.errors import LmerpyError
from lmerpy.families import (
    FAMILIES,
    Gamma,
    as_family,
    binomial,
    gaussian,
    inverse_gaussian,
    negative_binomial,
    poisson,
    theta_ml,
)

RTOL = 1e-12

# (family, link, mu, y, wt, eta, linkinv(eta), mu.eta(eta), variance(mu), dev.resids, aic)
R_VALUES = [
    ('binomial', 'logit', [0.1, 0.35, 0.8], [0, 0.5, 1], [1, 4, 2], [-2.19722457733622, -0.619039208406224, 1.38629436111989],
     [0.1, 0.35, 0.8], [0.09, 0.2275, 0.16], [0.09, 0.2275, 0.16], [0.210721031315653, 0.377242717884965, 0.892574205256839], 3.44219646048091),
    ('binomial', 'probit', [0.1, 0.35, 0.8], [0, 0.5, 1], [1, 4, 2], [-1.2815515655446, -0.385320466407568, 0.841621233572914],
     [0.1, 0.35, 0.8], [0.175498331932487, 0.370399004399166, 0.279961920407808], [0.09, 0.2275, 0.16], [0.210721031315653, 0.377242717884965, 0.892574205256839], 3.44219646048091),
    ('binomial', 'cauchit', [0.1, 0.35, 0.8], [0, 0.5, 1], [1, 4, 2], [-3.07768353717525, -0.509525449494429, 1.37638192047117],
     [0.1, 0.35, 0.8], [0.0303958893917744, 0.252703871470759, 0.109973360937722], [0.09, 0.2275, 0.16], [0.210721031315653, 0.377242717884965, 0.892574205256839], 3.44219646048091),
    ('binomial', 'cloglog', [0.1, 0.35, 0.8], [0, 0.5, 1], [1, 4, 2], [-2.25036732731245, -0.842150990724733, 0.475884995327111],
     [0.1, 0.35, 0.8], [0.0948244640920437, 0.280008895460095, 0.32188758248682], [0.09, 0.2275, 0.16], [0.210721031315653, 0.377242717884965, 0.892574205256839], 3.44219646048091),
    ('binomial', 'log', [0.1, 0.35, 0.8], [0, 0.5, 1], [1, 4, 2], [-2.30258509299405, -1.04982212449868, -0.22314355131421],
     [0.1, 0.35, 0.8], [0.1, 0.35, 0.8], [0.09, 0.2275, 0.16], [0.210721031315653, 0.377242717884965, 0.892574205256839], 3.44219646048091),
    ('poisson', 'log', [0.5, 2.5, 7], [0, 3, 6], [1, 2, 1], [-0.693147180559945, 0.916290731874155, 1.94591014905531],
     [0.5, 2.5, 7], [0.5, 2.5, 7], [0.5, 2.5, 7], [1, 0.187858681527455, 0.1501918420729], 10.9791297297788),
    ('poisson', 'identity', [0.5, 2.5, 7], [0, 3, 6], [1, 2, 1], [0.5, 2.5, 7],
     [0.5, 2.5, 7], [1, 1, 1], [0.5, 2.5, 7], [1, 0.187858681527455, 0.1501918420729], 10.9791297297788),
    ('poisson', 'sqrt', [0.5, 2.5, 7], [0, 3, 6], [1, 2, 1], [0.707106781186548, 1.58113883008419, 2.64575131106459],
     [0.5, 2.5, 7], [1.4142135623731, 3.16227766016838, 5.29150262212918], [0.5, 2.5, 7], [1, 0.187858681527455, 0.1501918420729], 10.9791297297788),
    ('Gamma', 'inverse', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [2, 0.666666666666667, 0.333333333333333],
     [0.5, 1.5, 3], [-0.25, -2.25, -9], [0.25, 2.25, 9], [0.127055526757574, 0.0925742052568392, 0.0456512608815525], 4.34995526438689),
    ('Gamma', 'identity', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [0.5, 1.5, 3],
     [0.5, 1.5, 3], [1, 1, 1], [0.25, 2.25, 9], [0.127055526757574, 0.0925742052568392, 0.0456512608815525], 4.34995526438689),
    ('Gamma', 'log', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [-0.693147180559945, 0.405465108108164, 1.09861228866811],
     [0.5, 1.5, 3], [0.5, 1.5, 3], [0.25, 2.25, 9], [0.127055526757574, 0.0925742052568392, 0.0456512608815525], 4.34995526438689),
    ('inverse.gaussian', '1/mu^2', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [4, 0.444444444444444, 0.111111111111111],
     [0.5, 1.5, 3], [-0.0625, -1.6875, -13.5], [0.125, 3.375, 27], [0.228571428571428, 0.0666666666666667, 0.0138888888888889], 5.54223442210477),
    ('inverse.gaussian', 'inverse', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [2, 0.666666666666667, 0.333333333333333],
     [0.5, 1.5, 3], [-0.25, -2.25, -9], [0.125, 3.375, 27], [0.228571428571428, 0.0666666666666667, 0.0138888888888889], 5.54223442210477),
    ('inverse.gaussian', 'identity', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [0.5, 1.5, 3],
     [0.5, 1.5, 3], [1, 1, 1], [0.125, 3.375, 27], [0.228571428571428, 0.0666666666666667, 0.0138888888888889], 5.54223442210477),
    ('inverse.gaussian', 'log', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [-0.693147180559945, 0.405465108108164, 1.09861228866811],
     [0.5, 1.5, 3], [0.5, 1.5, 3], [0.125, 3.375, 27], [0.228571428571428, 0.0666666666666667, 0.0138888888888889], 5.54223442210477),
    ('gaussian', 'identity', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [0.5, 1.5, 3],
     [0.5, 1.5, 3], [1, 1, 1], [1, 1, 1], [0.04, 0.18, 0.5], 6.2322821323076),
    ('gaussian', 'log', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [-0.693147180559945, 0.405465108108164, 1.09861228866811],
     [0.5, 1.5, 3], [0.5, 1.5, 3], [1, 1, 1], [0.04, 0.18, 0.5], 6.2322821323076),
    ('gaussian', 'inverse', [0.5, 1.5, 3], [0.7, 1.2, 4], [1, 2, 0.5], [2, 0.666666666666667, 0.333333333333333],
     [0.5, 1.5, 3], [-0.25, -2.25, -9], [1, 1, 1], [0.04, 0.18, 0.5], 6.2322821323076),
    ('Negative Binomial(2.5)', 'log', [0.5, 2.5, 7], [0, 3, 6], [1, 2, 1], [-0.693147180559945, 0.916290731874155, 1.94591014905531],
     [0.5, 2.5, 7], [0.5, 2.5, 7], [0.6, 5, 26.6], [0.911607783969773, 0.0910347258323068, 0.0410276389467141], 13.6042780232575),
]


def _family(name, link):
    if name.startswith("Negative Binomial"):
        return negative_binomial(2.5, link=link)
    return FAMILIES[name](link=link)


@pytest.mark.parametrize("row", R_VALUES, ids=[f"{r[0]}-{r[1]}" for r in R_VALUES])
def test_family_matches_r(row):
    name, link, mu, y, wt, eta, linkinv, mu_eta, variance, dev_resids, aic = row
    fam = _family(name, link)
    mu, y, wt = (np.asarray(v, dtype=float) for v in (mu, y, wt))
    assert fam.family == name and fam.link == link
    np.testing.assert_allclose(fam.linkfun(mu), eta, rtol=RTOL)
    np.testing.assert_allclose(fam.linkinv(np.asarray(eta)), linkinv, rtol=RTOL)
    np.testing.assert_allclose(fam.mu_eta(np.asarray(eta)), mu_eta, rtol=RTOL)
    np.testing.assert_allclose(fam.variance(mu), variance, rtol=RTOL)
    dr = fam.dev_resids(y, mu, wt)
    np.testing.assert_allclose(dr, dev_resids, rtol=RTOL)
    assert fam.aic(y, np.ones(3), mu, wt, float(np.sum(dr))) == pytest.approx(aic, rel=RTOL)


def test_binomial_aic_with_trials():
    # R: binomial()$aic(c(2/14, 3/12, 0), c(14, 12, 9), c(0.2, 0.3, 0.1), c(14, 12, 9), 0)
    y = np.array([2 / 14, 3 / 12, 0.0])
    n = np.array([14.0, 12.0, 9.0])
    mu = np.array([0.2, 0.3, 0.1])
    assert binomial().aic(y, n, mu, n, 0.0) == pytest.approx(7.52469787423268, rel=RTOL)


def test_theta_ml_matches_mass():
    # R: MASS::theta.ml(c(0, 7, 1, 1, 0, 5, 12, 0), c(1.2, 2.5, 4, 1, 0.8, 2.2, 5, 3.1),
    #                   limit = 20)  -> 0.825465028391634, attr "SE" 0.653476925044633
    th, info = theta_ml([0, 7, 1, 1, 0, 5, 12, 0], [1.2, 2.5, 4, 1, 0.8, 2.2, 5, 3.1],
                        limit=20)
    assert th == pytest.approx(0.825465028391634, rel=1e-8)
    assert info["se"] == pytest.approx(0.653476925044633, rel=1e-6)
    assert info["warning"] is None


def test_theta_ml_poisson_like_data_does_not_fail():
    # counts with less spread than Poisson: MASS's Newton iteration runs off to infinity
    y = np.array([2, 3, 2, 3, 2, 3, 2, 3], dtype=float)
    th, info = theta_ml(y, np.full(8, 2.5), limit=20)
    assert np.isfinite(th) and th > 100
    assert info["warning"] is not None


def test_negative_binomial_name_as_mass():
    # R: MASS::negative.binomial(3.30339464787759)$family
    assert negative_binomial(3.30339464787759).family == "Negative Binomial(3.3034)"
    # R: MASS::negative.binomial(2)$family
    assert negative_binomial(2).family == "Negative Binomial(2)"
    with pytest.raises(LmerpyError, match="theta"):
        negative_binomial(-1)


def test_links_and_names():
    assert binomial().link == "logit" and poisson().link == "log"
    assert Gamma().link == "inverse" and inverse_gaussian().link == "1/mu^2"
    assert gaussian().link == "identity"
    assert as_family("poisson") == poisson()
    assert as_family(binomial) == binomial()
    assert lmerpy.binomial(link="probit").link == "probit"
    with pytest.raises(LmerpyError, match='link "probit" not available for poisson family'):
        poisson(link="probit")
    with pytest.raises(LmerpyError, match="unknown family"):
        as_family("quasipoisson")
    with pytest.raises(LmerpyError, match="needs its theta"):
        as_family("negative_binomial")


def test_logit_inverse_is_bounded_as_r():
    # R: binomial()$linkinv(c(-800, 800)) -> 2.220446e-16 1 - 2.220446e-16
    eps = np.finfo(float).eps
    np.testing.assert_array_equal(binomial().linkinv(np.array([-800.0, 800.0])),
                                  [eps, 1 - eps])
