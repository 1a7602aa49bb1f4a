"""Batched refits (lmerpy.models.refits, lmerpy.pls.lmm.batched, lmerpy.optimize.batched).

* The batched criterion, gradient, β̂ and r² equal LmmDeviance's at arbitrary θ (one term:
  the k × k block path; crossed terms: the dense path; REML and ML; weights), to rounding.
* Batched refits reach the same optimum as ``fit.refit(y)`` (BOBYQA + Newton polishing) to
  optimizer tolerance — θ within 1e-5, β̂ and σ̂ within 1e-7 relative, the criterion never
  worse by more than 1e-9 relative — singular refits included (they end on the ordinary path).
* bootMer gives the same replicates, bit for bit, serially, with two worker processes and
  with two threads (fixed batches); a refit's residuals are its own response's.
"""
import warnings

import numpy as np
import pytest

import lmerpy
from lmerpy.inference import bootMer
from lmerpy.inference.simulate import simulate_responses
from lmerpy.models.refits import BatchRefit, refit_responses
from lmerpy.optimize.batched import minimize_batched
from lmerpy.pls.lmm.batched import ResponseBatch, batched_criterion, prepare

SLEEP_F = "Reaction ~ Days + (Days | Subject)"
PEN_F = "diameter ~ 1 + (1 | plate) + (1 | sample)"


def fixef_of(m):
    return m.fixef()


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


@pytest.fixture(scope="module")
def penicillin():
    return lmerpy.datasets.load("Penicillin")


@pytest.mark.parametrize("formula,data,blocked", [
    (SLEEP_F, "sleepstudy", True),
    ("Reaction ~ Days + (1 | Subject)", "sleepstudy", True),
    ("Reaction ~ 0 + (Days | Subject)", "sleepstudy", True),
    (PEN_F, "Penicillin", False),
])
@pytest.mark.parametrize("REML", [True, False])
def test_batched_criterion_equals_the_deviance(formula, data, blocked, REML):
    d = lmerpy.datasets.load(data)
    y0 = d[formula.split(" ~")[0]].to_numpy(dtype=float)
    w = np.linspace(0.5, 2.0, y0.shape[0])
    fit = _quiet(lmerpy.lmer, formula, d, REML=REML, weights=w)
    dev = fit.devfun
    assert dev.batchable and prepare(dev).blocked is blocked
    rng = np.random.default_rng(7)
    Y = y0[:, None] + 0.3 * y0.std() * rng.standard_normal((y0.shape[0], 4))
    th = fit.theta[None, :] * (1.0 + 0.3 * rng.standard_normal((4, fit.theta.size))) + 0.05
    crit, grad, extra = batched_criterion(dev, ResponseBatch(dev, Y), np.arange(4), th)
    for b in range(4):
        one = dev.with_response(Y[:, b])
        comp = one.components(th[b])
        assert crit[b] == pytest.approx(one(th[b]), rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(grad[b], one.gradient(th[b]), rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(extra[b, :-1], comp.beta, rtol=1e-10, atol=1e-10)
        assert extra[b, -1] == pytest.approx(comp.pwrss, rel=1e-10)


def test_minimize_batched_finds_each_problems_minimum():
    """Quadratics with different minima and curvatures, one of them unbounded below along a
    bound: each converges or is reported as not converged."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 2))
    scales = np.exp(rng.normal(size=(6, 2)))

    def fun(idx, X):
        d = X - centres[idx]
        f = 0.5 * np.sum(scales[idx] * d * d, axis=1) + 0.1 * np.sum(d ** 4, axis=1)
        g = scales[idx] * d + 0.4 * d ** 3
        return f, g, X.copy()
    res = minimize_batched(fun, np.zeros((6, 2)), np.full(2, -np.inf), np.eye(2))
    assert res.converged.all()
    np.testing.assert_allclose(res.x, centres, atol=1e-7)
    np.testing.assert_allclose(res.extra, res.x)
    lower = np.array([-np.inf, 0.5])         # the minima below 0.5 in x₂ are not reachable
    res = minimize_batched(fun, np.ones((6, 2)), lower, np.eye(2))
    inside = centres[:, 1] > 0.5
    assert np.array_equal(res.converged, inside)
    np.testing.assert_allclose(res.x[inside], centres[inside], atol=1e-7)
    assert np.all(res.x[:, 1] >= 0.5)


@pytest.fixture(scope="module")
def sleep_refits(sleep):
    fit = _quiet(lmerpy.lmer, SLEEP_F, sleep)
    Y, _, _ = simulate_responses(fit, nsim=60, seed=11)
    ys = [Y[:, j] for j in range(Y.shape[1])]
    batched = _quiet(refit_responses, fit, ys)
    plain = [_quiet(fit.refit, y) for y in ys]
    return fit, ys, batched, plain


def _same_optimum(batched, plain):
    for a, b in zip(batched, plain):
        np.testing.assert_allclose(a.theta, b.theta, atol=1e-5)
        np.testing.assert_allclose(a.fixef().to_numpy(), b.fixef().to_numpy(), rtol=1e-7)
        assert a.sigma() == pytest.approx(b.sigma(), rel=1e-7)
        crit_a, crit_b = float(a.REMLcrit()), float(b.REMLcrit())
        assert crit_a <= crit_b + 1e-9 * abs(crit_b)
        assert crit_a == pytest.approx(crit_b, rel=1e-9)
        assert a.isSingular() == b.isSingular()


def test_batched_refits_reach_the_refit_optimum(sleep_refits):
    fit, ys, batched, plain = sleep_refits
    kinds = [isinstance(r, BatchRefit) for r in batched]
    assert sum(kinds) >= 50                     # most in the batch; singular ones are not
    _same_optimum(batched, plain)
    for r in batched:
        if isinstance(r, BatchRefit):
            assert r.optsum.optimizer == "batched_bfgs" and r.optsum.converged


def test_batch_refit_is_a_whole_model(sleep_refits):
    """What the batch does not compute (the solution, the deviance of the new response) is
    built on first use, and agrees with the ordinary refit's; residuals are the refit's own."""
    fit, ys, batched, plain = sleep_refits
    b = next(i for i, r in enumerate(batched) if isinstance(r, BatchRefit))
    a, p = batched[b], plain[b]
    np.testing.assert_allclose(a.vcov().to_numpy(), p.vcov().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.fitted().to_numpy(), p.fitted().to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(a.residuals().to_numpy(), ys[b] - a.fitted().to_numpy(),
                               atol=1e-9)
    np.testing.assert_allclose(p.residuals().to_numpy(), ys[b] - p.fitted().to_numpy(),
                               atol=1e-9)
    assert float(a.logLik()) == pytest.approx(float(p.logLik()), rel=1e-9)
    assert a.fixef().to_numpy() == pytest.approx(a._sol.beta, rel=1e-10)
    assert "REML criterion at convergence" in str(a.summary())


def test_crossed_and_ml_refits(penicillin):
    """Crossed terms (the dense batched path), fitted by ML."""
    fit = _quiet(lmerpy.lmer, PEN_F, penicillin, REML=False)
    Y, _, _ = simulate_responses(fit, nsim=12, seed=3)
    ys = [Y[:, j] for j in range(Y.shape[1])]
    batched = _quiet(refit_responses, fit, ys)
    plain = [_quiet(fit.refit, y) for y in ys]
    assert all(isinstance(r, BatchRefit) for r in batched)
    for a, b in zip(batched, plain):
        np.testing.assert_allclose(a.theta, b.theta, atol=1e-5)
        np.testing.assert_allclose(a.fixef().to_numpy(), b.fixef().to_numpy(), rtol=1e-7)
        assert float(a.deviance()) <= float(b.deviance()) + 1e-9 * abs(float(b.deviance()))


def test_bad_responses_fail_one_by_one(sleep):
    """A response refit() rejects fails on its own; the others are refitted."""
    fit = _quiet(lmerpy.lmer, SLEEP_F, sleep)
    y = sleep["Reaction"].to_numpy(dtype=float)
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(lmerpy.errors.DataError):
        refit_responses(fit, [y, bad])
    from lmerpy.models.refits import refit_plan
    plan = refit_plan(fit, [y * 1.01, bad, y])
    assert isinstance(plan[0](), BatchRefit) and isinstance(plan[2](), BatchRefit)
    with pytest.raises(lmerpy.errors.DataError):
        plan[1]()


def test_bootmer_workers_and_threads_give_the_same_replicates(sleep):
    """Batches of fixed size: the replicates do not depend on n_jobs or the kind of worker
    (two batches here)."""
    fit = _quiet(lmerpy.lmer, SLEEP_F, sleep)
    runs = [_quiet(bootMer, fit, fixef_of, nsim=260, seed=5, progress=False, n_jobs=n,
                   parallel=par) for n, par in ((1, "processes"), (2, "processes"),
                                                (2, "threads"))]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.t.to_numpy(), runs[0].t.to_numpy())
    assert runs[0].n_failed == 0
    with pytest.raises(lmerpy.errors.ArgumentError, match="parallel"):
        bootMer(fit, fixef_of, nsim=2, parallel="cluster")


def test_profile_of_a_refit_profiles_its_own_response(sleep):
    """profile/confint of a refit use the refit's response (they used the design's)."""
    fit = _quiet(lmerpy.lmer, "Reaction ~ Days + (1 | Subject)", sleep)
    y = sleep["Reaction"].to_numpy(dtype=float) * 1.5 + 10.0
    a = _quiet(refit_responses, fit, [y])[0]
    b = _quiet(lmerpy.lmer, "Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=y))
    ca = _quiet(a.confint, method="profile")
    cb = _quiet(b.confint, method="profile")
    np.testing.assert_allclose(ca.to_numpy(), cb.to_numpy(), rtol=1e-4)
