"""glmer's fast PIRLS paths against the general PIRLS (lmerpy.pls.glmm.pirls).

The one-term (diagonal A) second-stage PIRLS (lmerpy.pls.glmm.pirls_diagonal) must give the general
code's results but for rounding: the Laplace deviance, log|L|², the penalized deviance and ũ
to 1e-12 relative (1e-12 absolute for ũ and η; the working weights 1e-12 relative), the same number of PIRLS iterations, and the same
errors. Checked at every point of the second-stage optimizer's path of each one-term glmer
golden (every family and link lmerpy has goldens for).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from _reference import case_kwargs, load_case_data

import lmerpy
from lmerpy.families import FAMILIES
from lmerpy.pls.glmm.pirls import PirlsError, PirlsStart, pirls

REF = Path(__file__).parent / "reference"
ONE_TERM = ["cbpp_laplace", "glmer/cbpp_probit", "glmer/cbpp_cloglog",
            "glmer/cbpp_proportion_weights", "glmer/gticks_brood_laplace", "glmer/gamma_log",
            "glmer/gamma_inverse", "glmer/inverse_gaussian_log", "glmer/poisson_offset_term",
            "glmer/binary_numeric01", "glmer/binary_factor", "cbpp_agq25"]


def _fit(case):
    ref = json.loads((REF / f"{case}.json").read_text())
    data = load_case_data(ref)
    fam = FAMILIES[ref["family"]](link=ref["link"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.glmer(ref["formula"], data, family=fam,
                            nAGQ=int(ref.get("nAGQ") or 1), **case_kwargs(ref, data))


def _both(dev, x, precise=False):
    """The state at x from the diagonal path and from the general code."""
    S = dev.S
    diag = S.diagonal
    dev._state = None
    fast = dev._evaluate(x, precise)
    try:
        S.diagonal = None
        dev._state = None
        gen = dev._evaluate(x, precise)
    finally:
        S.diagonal = diag
        dev._state = None
    return fast, gen


def _along_path(fit):
    pts = [x for x, _ in fit.optsum.fitlog]
    return pts[:: max(1, len(pts) // 40)] + [fit.optsum.theta]


@pytest.mark.parametrize("case", ONE_TERM)
def test_diagonal_pirls_is_the_general_one(case):
    fit = _fit(case)
    dev = fit.devfun
    assert dev.S.diagonal is not None
    pts = [x for x, _ in fit.optsum.fitlog]
    for x in pts[:: max(1, len(pts) // 40)] + [fit.optsum.theta]:
        fast, gen = _both(dev, x)
        assert fast.iterations == gen.iterations
        for key in ("criterion", "ldL2", "pdev", "devres_sum", "ussq"):
            assert getattr(fast, key) == pytest.approx(getattr(gen, key), rel=1e-12), key
        np.testing.assert_allclose(fast.u, gen.u, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast.eta, gen.eta, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast.w, gen.w, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(fast.beta, gen.beta)


@pytest.mark.parametrize("case", [c for c in ONE_TERM if c != "cbpp_agq25"])
def test_diagonal_precise_pirls_is_the_general_one(case):
    """The Laplace deviance at the mode itself (``precise``: what the default optimizer
    minimises, :meth:`GlmmDeviance.laplace`) from the one-term path: the general code's
    deviance, log|L|² and mode but for rounding, and the same analytic gradient."""
    fit = _fit(case)
    dev = fit.devfun
    for x in _along_path(fit)[::3]:
        fast, gen = _both(dev, x, precise=True)
        for key in ("criterion", "ldL2", "pdev", "devres_sum", "ussq"):
            assert getattr(fast, key) == pytest.approx(getattr(gen, key), rel=1e-12), key
        np.testing.assert_allclose(fast.u, gen.u, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fast.w, gen.w, rtol=1e-10, atol=0)
        if not dev.has_laplace_gradient():
            continue
        grads = []
        for st in (fast, gen):
            dev.S.current = None
            dev._state = st
            grads.append(dev.laplace_gradient(x))
        dev._state = None
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-8)


def test_designs_that_take_the_general_code():
    two_terms = _fit("glmer/binomial_nested_ab")
    slope = _fit("glmer/binary_random_slope")
    assert two_terms.devfun.S.diagonal is None and slope.devfun.S.diagonal is None


def test_step_halving_matches():
    """Inverse Gaussian (log link) at θ = 0.5, β₀ − 1: PIRLS halves a step (two extra
    predictor evaluations); both paths take the same iterations and halvings."""
    fit = _fit("glmer/inverse_gaussian_log")
    dev = fit.devfun
    fam = dev.resp.family
    x = np.array(fit.optsum.theta, dtype=float)
    x[0], x[1] = 0.5, x[1] - 1.0
    calls = []
    inner = fam.linkinv

    def counted(eta):
        calls.append(1)
        return inner(eta)

    fam.linkinv = counted
    try:
        counts = []
        for diag in (dev.S.diagonal, None):
            keep = dev.S.diagonal
            dev.S.diagonal, dev._state = diag, None
            calls.clear()
            st = dev._evaluate(x)
            dev.S.diagonal = keep
            counts.append((st.iterations, len(calls), st.criterion))
    finally:
        del fam.linkinv
        dev._state = None
    (it1, n1, c1), (it2, n2, c2) = counts
    assert it1 == it2 and n1 == n2 > it1
    assert c1 == pytest.approx(c2, rel=1e-12)


def test_errors_match():
    """PIRLS stopped after one iteration: the same error on both paths."""
    fit = _fit("glmer/binary_numeric01")
    dev = fit.devfun
    S, resp = dev.S, dev.resp
    start = PirlsStart(S, resp, resp.offset + dev.lp0)
    theta = np.array(fit.optsum.theta[:1], dtype=float)
    beta = np.array(fit.optsum.theta[1:], dtype=float)
    msgs = []
    keep = S.diagonal
    try:
        for diag in (keep, None):
            S.diagonal = diag
            with pytest.raises(PirlsError) as e:
                pirls(S, resp, theta, start.eta, beta=beta, tol=1e-7, maxit=1, start=start)
            msgs.append(str(e.value))
    finally:
        S.diagonal = keep
    assert msgs[0] == msgs[1] == "pwrssUpdate did not converge in 1 iterations"


@pytest.mark.parametrize("case", ["cbpp_laplace", "grouseticks_poisson"])
def test_first_stage_reuses_its_start_bit_for_bit(case, monkeypatch):
    """glmer's first stage (β inside PIRLS) takes Z'WX, Z'Wz, X'WX and X'Wz of its first
    iteration from the start, computed once: the fit's evaluations are the same bits as
    when every iteration forms them."""
    from lmerpy.pls.glmm import pirls as P
    cached = _fit(case)

    def fresh(self, S, resp):
        z = (self.eta - resp.offset) + self.r
        return z, bool(self.w_finite and np.isfinite(z.sum())), None

    monkeypatch.setattr(P.PirlsStart, "full_step", fresh)
    plain = _fit(case)
    for a, b in ((cached.optsum_stage1, plain.optsum_stage1), (cached.optsum, plain.optsum)):
        assert [f for _, f in a.fitlog] == [f for _, f in b.fitlog]


def _offset_fit():
    data = lmerpy.datasets.load("grouseticks")
    return lmerpy.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", data, family="poisson",
                        offset=np.log(data["HEIGHT"].to_numpy() / 480.0))


@pytest.mark.parametrize("case", ["grouseticks_poisson", "glmer/binomial_nested_ab",
                                  "glmer/binary_random_slope", "offset"])
def test_second_stage_first_iteration_from_its_start(case, monkeypatch):
    """With β fixed, the first PIRLS iteration forms U W z as Λ'(Z'W(η₀ − o + r) − Z'WX β)
    from products kept by the start: the deviance along the second stage's path equals the
    one from z itself to 1e-13 relative, with the same PIRLS iterations (two- and three-term
    designs, a random slope, an offset)."""
    from lmerpy.pls.glmm import pirls as P
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = _offset_fit() if case == "offset" else _fit(case)
    dev = fit.devfun
    pts = _along_path(fit)
    assert dev._start.beta_fixed(dev.S, dev.resp) is not None

    def states():
        out = []
        for x in pts:
            dev._state = None
            out.append(dev._evaluate(x))
        dev._state = None
        return out

    kept = states()
    monkeypatch.setattr(P.PirlsStart, "beta_fixed", lambda self, S, resp: None)
    plain = states()
    for a, b in zip(kept, plain):
        assert a.iterations == b.iterations
        assert a.criterion == pytest.approx(b.criterion, rel=1e-13)
        np.testing.assert_allclose(a.u, b.u, rtol=1e-10, atol=1e-12)


BATCHED = [c for c in ONE_TERM if c != "cbpp_agq25"]


def _sequential(dev, P):
    out = []
    for x in P:
        try:
            out.append(dev(x))
        except PirlsError as e:
            out.append(str(e))
    return out


@pytest.mark.parametrize("case", BATCHED)
def test_batched_stencil_is_the_sequential_one(case, monkeypatch):
    """lme4's finite-difference Hessian evaluates its 2k² stencil points in one call
    (``GlmmDeviance.deviances``; one-term binomial and Poisson designs run their PIRLS
    together, lmerpy.pls.glmm.pirls_diagonal.pirls_diagonal_batch): the same deviances as
    point by point, bit for bit (measured), and so the same Hessian; points far from the
    optimum (step halving, PIRLS errors) are evaluated one by one and give the same values
    or errors."""
    from lmerpy.optimize import deriv12
    from lmerpy.pls.glmm import pirls_diagonal as PD
    fit = _fit(case)
    dev = fit.devfun
    calls = []
    batch = PD.pirls_diagonal_batch
    monkeypatch.setattr(PD, "pirls_diagonal_batch",
                        lambda *a, **k: calls.append(1) or batch(*a, **k))
    x = np.asarray(fit.optsum.theta, dtype=float)
    rng = np.random.default_rng(1)
    near = x + 1e-4 * rng.standard_normal((30, x.size))
    far = x + rng.standard_normal((30, x.size)) * np.r_[1.0, 3.0 * np.ones(x.size - 1)]
    far[:, 0] = np.abs(far[:, 0])
    for P in (near, far):
        with np.errstate(all="ignore"):      # far points: the families' own overflows
            seq = _sequential(dev, P)
        if all(isinstance(v, float) for v in seq):
            n0 = dev.n_evals
            bat = dev.deviances(P)
            assert dev.n_evals - n0 == P.shape[0]
            np.testing.assert_allclose(bat, seq, rtol=1e-14, atol=0)
        else:
            with pytest.raises(PirlsError) as e, np.errstate(all="ignore"):
                dev.deviances(P)
            assert str(e.value) == next(v for v in seq if isinstance(v, str))
    lo, hi = dev.lower, dev.upper

    class Plain:                   # the same function without the batch
        def __call__(self, z):
            return dev(z)

    a = deriv12(dev, x, lower=lo, upper=hi)
    b = deriv12(Plain(), x, lower=lo, upper=hi)
    assert a["evals"] == b["evals"] == 2 * x.size ** 2 + 1
    assert bool(calls) == dev.resp.batchable      # the binomial and Poisson cases batch
    np.testing.assert_allclose(a["Hessian"], b["Hessian"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(a["gradient"], b["gradient"], rtol=1e-10, atol=1e-12)


def _stencil_of_several_terms(case):
    """Designs with several terms (or a vector term) evaluate lme4's Hessian stencil point by
    point, grouped by θ so that the points of one θ share their first PIRLS iteration's
    factorisation (``PirlsStart.first_factor``): the same deviances, bit for bit, and the
    same Hessian as the plain sequence of evaluations."""
    from lmerpy.optimize import deriv12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = _fit(case)
    dev = fit.devfun
    assert dev.S.diagonal is None
    x = np.asarray(fit.optsum.theta, dtype=float)

    class Plain:                   # the same function without the batch
        def __call__(self, z):
            return dev(z)

    a = deriv12(dev, x, lower=dev.lower, upper=dev.upper)
    b = deriv12(Plain(), x, lower=dev.lower, upper=dev.upper)
    np.testing.assert_array_equal(a["Hessian"], b["Hessian"])
    np.testing.assert_array_equal(a["gradient"], b["gradient"])
    rng = np.random.default_rng(2)
    P = np.repeat(x[None, :], 12, axis=0)
    P[:, dev.n_par:] += 1e-3 * rng.standard_normal((12, x.size - dev.n_par))
    P[::3, :dev.n_par] += 1e-3
    n0 = dev.n_evals
    got = dev.deviances(P)
    assert dev.n_evals - n0 == 12
    np.testing.assert_array_equal(got, [dev(p) for p in P])
    return dev, P, got


@pytest.mark.parametrize("case", ["grouseticks_poisson", "glmer/binomial_nested_ab",
                                  "glmer/binary_random_slope"])
def test_stencil_of_several_terms_is_the_sequential_one(case):
    """See :func:`_stencil_of_several_terms`."""
    _stencil_of_several_terms(case)


def test_large_models_factor_the_stencil_in_place(monkeypatch):
    """Above FIRST_FACTOR_MAX_Q random effects no copy of the factor is kept (its memory):
    the stencil's points factor in place, with the same deviances bit for bit."""
    from lmerpy.pls.glmm import pirls
    dev, P, got = _stencil_of_several_terms("grouseticks_poisson")
    monkeypatch.setattr(pirls, "FIRST_FACTOR_MAX_Q", 0)
    dev._start = None                        # a fresh start: no copy made yet
    np.testing.assert_array_equal(dev.deviances(P), got)
    assert dev._start is None or dev._start._first is None


@pytest.mark.parametrize("case", ["cbpp_laplace", "grouseticks_poisson",
                                  "glmer/binomial_nested_ab"])
def test_newton_polish_stops_early_at_the_same_mode(case, monkeypatch):
    """The precise PIRLS (the default optimizer's objective) stops its Newton polish steps
    (canonical links) after a step of at most 1e-7 relative instead of 1e-11: quadratic
    convergence leaves an error of its square. The Laplace deviance and its gradient at the
    stage's path equal those of the 1e-11 rule to 1e-12 (absolute, on deviances of 10²–10³)
    and 1e-9."""
    from lmerpy.pls.glmm import pirls as P
    from lmerpy.pls.glmm import pirls_diagonal as PD
    fit = _fit(case)
    dev = fit.devfun
    assert dev.resp.newton_polish
    pts = _along_path(fit)[::2]

    def values():
        out = []
        for x in pts:
            dev._state = dev._warm_eta = None
            out.append((dev.laplace(x), dev.laplace_gradient(x)))
        dev._state = None
        return out

    early = values()
    monkeypatch.setattr(P, "POLISH_NEWTON_STOP", 1e-11)
    monkeypatch.setattr(PD, "POLISH_NEWTON_STOP", 1e-11)
    late = values()
    for (fa, ga), (fb, gb) in zip(early, late):
        assert fa == pytest.approx(fb, rel=0, abs=1e-12 * max(1.0, abs(fb)))
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-9)
