"""lme's deviance at a structure value: the whitened rows taken into the template deviance
(LmmDeviance.with_data) give the numbers of a deviance built on the whitened design, and the
inner Newton minimisation reaches lmer's optimizer's optimum."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.design.reterms import build_zt
from lmerpy.optimize import lmerControl, optimize_lmer
from lmerpy.pls import LmmDeviance
from lmerpy.pls.crossprod import CrossProducts

from _nlme_reference import load_nlme_data

OVARY = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"


def _fits():
    O, Ov, B = (load_nlme_data(n) for n in ("Orthodont", "Ovary", "BodyWeight"))
    oc = O.assign(agec=O["age"] - 11.0)           # centred: Z'Z's cross terms cancel
    return {
        "varIdent": lambda: lmerpy.lme("distance ~ age * Sex", O, random="~ 1 | Subject",
                                       weights=lmerpy.varIdent(form="~ 1 | Sex")),
        "corAR1": lambda: lmerpy.lme(OVARY, Ov, random="~ 1 | Mare",
                                     correlation=lmerpy.corAR1(form="~ 1 | Mare")),
        "slope+CAR1+varPower": lambda: lmerpy.lme(
            "weight ~ Time * Diet", B, random="~ Time | Rat", weights=lmerpy.varPower(),
            correlation=lmerpy.corCAR1(form="~ Time | Rat")),
        "centred slope+AR1": lambda: lmerpy.lme(
            "distance ~ agec", oc, random="~ agec | Subject",
            correlation=lmerpy.corAR1(form="~ 1 | Subject")),
    }


FITS = _fits()


@pytest.fixture(scope="module", params=sorted(FITS))
def fit(request):
    return FITS[request.param]()


def _rebuilt(crit, spar):
    """The deviance on the whitened design, built from scratch."""
    design = crit.design
    w = crit.var.weights(crit.split(spar)[1]) if crit.var is not None else np.ones(crit.n)
    if crit.cor is None:
        return LmmDeviance(replace(design, weights=w * w), REML=crit.REML)
    Dw, _extra = crit.gls.whitened(spar, D=crit.D)
    p = crit.p
    terms, c = [], p
    for t in design.reterms:
        k = t.n_columns
        terms.append(replace(t, X=np.ascontiguousarray(Dw[:, c:c + k])))
        c += k
    return LmmDeviance(replace(design, X=np.ascontiguousarray(Dw[:, :p]),
                               y=np.ascontiguousarray(Dw[:, -1]), Zt=build_zt(terms, crit.n),
                               reterms=terms, weights=np.ones(crit.n),
                               offset=np.zeros(crit.n)), REML=crit.REML)


def test_whitened_deviance_equals_a_rebuilt_one(fit):
    crit = fit.criterion
    est = fit.estimate
    for ds in (0.0, 0.05, -0.1):
        spar = est.spar + ds
        dev, _extra, _w = crit.deviance_at(spar)
        fresh = _rebuilt(crit, spar)
        for dp in (0.0, 0.1):
            par = est.par * (1.0 + dp)
            assert dev(par) == pytest.approx(fresh(par), rel=1e-13)
            np.testing.assert_allclose(dev.gradient(par), fresh.gradient(par), rtol=1e-9,
                                       atol=1e-9)


def test_inner_newton_reaches_the_optimum_of_lmers_optimizer(fit):
    """At a structure value away from the estimate, the inner optimum (Newton from the
    estimate's random-effects parameters) is at least as good as BOBYQA's from there."""
    crit = fit.criterion
    spar = fit.estimate.spar + 0.05
    crit.set_random_start(fit.estimate.par)
    par, ll = crit.inner(spar, quick=True)
    dev, extra, _w = crit.deviance_at(spar)
    d = dev.copy()
    opt = optimize_lmer(d, fit.estimate.par, np.asarray(d.lower, dtype=float),
                        control=lmerControl(optimizer="nloptwrap"),
                        upper=np.asarray(d.upper, dtype=float))
    assert ll >= -opt.fmin / 2.0 + extra - 1e-9 * abs(ll)
    np.testing.assert_allclose(par, opt.theta, rtol=1e-4, atol=1e-6)


# -- larger designs (q > 100: the blocked factor's layout refilled per structure value) ------

def _large_data(groups=150, size=8, seed=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    t = np.tile(np.arange(1.0, size + 1.0), groups)
    arm = rng.integers(0, 3, groups)[g]
    e = rng.normal(size=g.shape[0]) * (1.0 + 0.5 * arm) * t ** 0.3
    y = 1.0 + 0.1 * t + rng.normal(size=groups)[g] + 0.2 * rng.normal(size=groups)[g] * t + e
    return pd.DataFrame({"y": y, "t": t, "g": [f"s{k:03d}" for k in g],
                         "a": [f"A{k // 5:02d}" for k in g], "arm": [f"a{k}" for k in arm]})


def _three_levels(top=70, seed=8):
    """``~ 1 | a/b/c`` with 5 b per a, 5 c per b and 2 rows per c: q = 2,170, a sparse
    420-square block after c (CHOLMOD's case where it is installed)."""
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(top * 25), 2)
    b, a = c // 5, c // 25
    arm = rng.integers(0, 3, top)[a]
    y = (rng.normal(size=top)[a] + rng.normal(size=top * 5)[b] + rng.normal(size=top * 25)[c]
         + rng.normal(size=c.shape[0]) * (1.0 + 0.5 * arm))
    return pd.DataFrame({"y": y, "t": rng.normal(size=c.shape[0]),
                         "a": [f"a{k}" for k in a], "b": [f"b{k}" for k in b],
                         "c": [f"c{k}" for k in c], "arm": [f"r{k}" for k in arm]})


LARGE = {
    "slope varIdent": dict(random="~ t | g", weights=lmerpy.varIdent(form="~ 1 | arm")),
    "slope varPower": dict(random="~ t | g", weights=lmerpy.varPower(form="~ t")),
    "slope corAR1": dict(random="~ t | g", correlation=lmerpy.corAR1(form="~ 1 | g")),
    "nested varIdent+corAR1": dict(random="~ 1 | a/g", weights=lmerpy.varIdent(form="~ 1 | arm"),
                                   correlation=lmerpy.corAR1(form="~ 1 | a/g")),
    "three levels varIdent": dict(random="~ 1 | a/b/c",
                                  weights=lmerpy.varIdent(form="~ 1 | arm")),
}


@pytest.fixture(scope="module", params=sorted(LARGE))
def large_fit(request):
    data = _three_levels() if request.param.startswith("three") else _large_data()
    return lmerpy.lme("y ~ t", data, **LARGE[request.param])


def test_larger_whitened_deviance_is_the_templates_and_a_rebuilt_ones(large_fit, monkeypatch):
    """q > 100: every structure value's deviance is the template's with its blocked
    layout's values refilled (its slots shared) or CHOLMOD's analysis kept, and gives a
    rebuilt deviance's numbers bit for bit (the rebuilt one's response shift β₀ taken as
    the template's data take it: from the normal equations where Z'WZ is sparse; to
    rounding with its own least-squares shift). ``varIdent`` alone: the deviance from the
    strata's weighted products agrees with them to rounding, and the one with the rows
    (``data=True``, what the fit's estimate takes) bit for bit."""
    crit = large_fit.criterion
    est = large_fit.estimate
    tmpl = crit._template
    assert tmpl is not None and tmpl.q > 100
    for ds in (0.0, 0.05, -0.1):
        spar = est.spar + ds
        dev, _extra, _w = crit.deviance_at(spar)
        assert dev.backend_name == tmpl.backend_name
        strata = not dev.cp.has_data                     # the strata's products alone
        red, (dev, _e, _w) = dev, crit.deviance_at(spar, data=True)
        if dev.backend_name == "scipy":
            assert dev.factor.st.slot_row is tmpl.factor.st.slot_row
        with monkeypatch.context() as m:
            m.setattr(CrossProducts, "normal_shift", dev.cp.normal_shift)
            fresh = _rebuilt(crit, spar)
        lsq = _rebuilt(crit, spar)
        for dp in (0.0, 0.1, -0.3):
            par = est.par * (1.0 + dp)
            assert dev(par) == fresh(par)
            assert dev(par) == pytest.approx(lsq(par), rel=1e-13)
            np.testing.assert_array_equal(dev.gradient(par), fresh.gradient(par))
            np.testing.assert_array_equal(dev.solve(par).b, fresh.solve(par).b)
            if not strata:
                continue
            assert red(par) == pytest.approx(lsq(par), rel=1e-12)
            np.testing.assert_allclose(red.gradient(par), lsq.gradient(par), rtol=1e-7,
                                       atol=1e-7)
            a, b = red.solve(par), lsq.solve(par)
            np.testing.assert_allclose(a.beta, b.beta, rtol=1e-9)
            np.testing.assert_allclose(a.b, b.b, rtol=1e-8, atol=1e-10)
            assert a.sigma == pytest.approx(b.sigma, rel=1e-11)


def test_varident_alone_sums_the_strata_products():
    """``varIdent`` alone with rows enough: the profile's deviances come from the strata's
    products (no data in them); the fit's estimate, and fits whose products are not
    summed onto the template's sparse structure (600 rows: Z'WZ formed dense), from the
    rows."""
    data = _large_data()
    fit = lmerpy.lme("y ~ t", data, **LARGE["slope varIdent"])
    crit = fit.criterion
    spar = fit.estimate.spar + 0.01
    assert not crit.deviance_at(spar)[0].cp.has_data
    assert crit.deviance_at(spar, data=True)[0].cp.has_data
    assert fit.estimate.deviance == crit.deviance_at(fit.estimate.spar, data=True)[0](
        fit.estimate.par)
    few = lmerpy.lme("y ~ t", data.iloc[:600], **LARGE["slope varIdent"]).criterion
    assert few.deviance_at(few.start())[0].cp.has_data
