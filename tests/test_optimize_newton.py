"""The "newton_ai" optimizer (lmerpy/optimize/newton.py) and the forward-difference post-fit
Hessian of gradient-based fits.

* The average-information (AI) matrix equals its textbook definition, ½ y'P V_a P V_b P y with
  σ² profiled out, computed densely from the design (to 1e-8 relative), for REML and ML fits,
  prior weights, offsets and vector-valued terms.
* The Euler term added to it satisfies T_c τ_c = g_c on every column of a term's template;
  with it the model Hessian has the true curvature where a θ tends to 0 (to 1%), where the AI
  matrix alone vanishes; at an interior optimum it is within 10% of the Hessian (the AI
  approximation; observed at most 6% on lme4's reference fits).
* The trust-region step solves its subproblem (KKT conditions to 1e-8); the method minimizes
  quadratics in one step and Rosenbrock's function, within bounds.
* Fitted with ``optimizer="newton_ai"``, every lme4 reference LMM reaches lme4's criterion
  (within 1e-6) or a lower one, with lme4's convergence messages where lme4 did not warn, in
  at most 20 evaluations; large models get it by default and reach BOBYQA's optimum (or a
  better one) with a fraction of its evaluations, singular and nearly rank-deficient fits
  included.
* The forward-difference Hessian of the analytic gradient is accurate to O(delta) and agrees
  with the central one to 1e-3 relative on a large model.
"""
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmerpy
from lmerpy.design import lFormula
from lmerpy.errors import ConvergenceWarning
from lmerpy.models.lmm import mkLmerDevfun
from lmerpy.optimize import (ControlError, OptSummary, derivs_analytic, lmer_optimizer,
                             lmerControl, optimize_lmer)
from lmerpy.optimize.lmer import FORWARD_DIFFERENCE_MIN_Q
from lmerpy.optimize.newton import (_tr_step, lmm_information, model_derivatives,
                                    second_order_term, template_columns, trust_newton)

from _reference import case_kwargs, lmer_cases, load_case_data

REFS = [r for r in lmer_cases() if r["nobs"] <= 20000]
BY_ID = {r["id"]: r for r in REFS}


def _fit(ref, **kw):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.lmer(ref["formula"], data, REML=bool(ref["REML"]),
                           **case_kwargs(ref, data), **kw)


def _criterion(ref):
    return ref["REMLcrit"] if ref["REML"] else ref["deviance"]


# ------------------------------------------------------------------ the AI matrix, by definition

def dense_ai(design, theta, REML):
    """½ y'P V_a P V_b P y for φ = (θ, σ²), V = σ²(ZΛΛ'Z' + W⁻¹), at σ̂²(θ); then σ² profiled
    out: H = 2 (AI_θθ − AI_θσ AI_σθ / AI_σσ). Dense, from the design alone."""
    Z = design.Zt.T.toarray()
    X = np.asarray(design.X, dtype=float)
    y = np.asarray(design.y, dtype=float) - np.asarray(design.offset, dtype=float)
    w = np.asarray(design.weights, dtype=float)
    n, p = X.shape
    tmpl = sp.csc_matrix(design.Lambdat).copy()
    lind = np.asarray(design.Lind) - 1

    def lam(th):
        t = tmpl.copy()
        t.data = np.asarray(th, dtype=float)[lind]
        return t.T.toarray()                     # Λ

    L = lam(theta)
    S = Z @ L @ L.T @ Z.T + np.diag(1.0 / w)     # Σ
    Si = np.linalg.inv(S)
    Pi = Si - Si @ X @ np.linalg.solve(X.T @ Si @ X, X.T @ Si)
    r2 = float(y @ Pi @ y)                       # the penalized residual sum of squares
    s2 = r2 / ((n - p) if REML else n)
    P = Pi / s2
    k = len(theta)
    Vs = []
    for a in range(k):
        e = np.zeros(k)
        e[a] = 1.0
        La = lam(e)
        Vs.append(s2 * Z @ (La @ L.T + L @ La.T) @ Z.T)
    Vs.append(S)                                 # ∂V/∂σ²
    Py = P @ y
    W = np.column_stack([V @ Py for V in Vs])
    AI = 0.5 * W.T @ P @ W
    return 2.0 * (AI[:k, :k] - np.outer(AI[:k, k], AI[k, :k]) / AI[k, k])


AI_CASES = ["sleep_slope", "sleep_slope_ml", "penicillin_crossed", "pastes_nested",
            "weights_inverse", "offset_term", "vector3", "orthodont_ml"]


@pytest.mark.parametrize("case", AI_CASES)
def test_information_is_the_average_information(case):
    ref = BY_ID[case]
    fit = _fit(ref)
    dev = fit.devfun
    for th in (np.asarray(ref["theta"]), np.asarray(fit.design.theta, dtype=float) + 0.1):
        want = dense_ai(fit.design, th, bool(ref["REML"]))
        got = lmm_information(dev, th)
        assert np.allclose(got, got.T)
        assert np.max(np.abs(got - want)) <= 1e-8 * np.max(np.abs(want))


def test_information_with_the_cholmod_backend():
    pytest.importorskip("sksparse.cholmod")
    d = _crossed_frame(n=3000, l1=300, l2=20, seed=3)
    lf = lFormula("y ~ x + (x | g1) + (1 | g2)", d)
    th = np.array([0.8, 0.1, 0.3, 0.5])
    a = lmm_information(mkLmerDevfun(lf, backend="scipy"), th)
    b = lmm_information(mkLmerDevfun(lf, backend="cholmod"), th)
    assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(a))


# ----------------------------------------------------------------------------- the Euler term

def test_euler_term_satisfies_the_identity_per_column():
    # a 2-column term (θ1, θ2 | θ3) and a scalar one (θ4)
    terms = [SimpleNamespace(n_columns=2, theta_offset=0),
             SimpleNamespace(n_columns=1, theta_offset=3)]
    cols = template_columns(terms)
    assert [c.tolist() for c in cols] == [[0, 1], [2], [3]]
    rng = np.random.default_rng(1)
    th, g = rng.normal(size=4), rng.normal(size=4)
    T = second_order_term(th, g, cols)
    assert np.allclose(T, T.T)
    for c in cols:
        assert np.allclose(T[np.ix_(c, c)] @ th[c], g[c], rtol=1e-12, atol=1e-12)
        if c.size == 1:
            assert T[c[0], c[0]] == pytest.approx(g[c[0]] / th[c[0]], rel=1e-12)
        others = np.setdiff1d(np.arange(4), c)
        assert np.all(T[np.ix_(c, others)] == 0)


@pytest.mark.parametrize("case", ["dyestuff2_singular", "singular_no_group_effect"])
def test_model_hessian_has_the_curvature_near_a_zero_theta(case):
    fit = _fit(BY_ID[case])
    dev = fit.devfun
    th = np.array([1e-3])
    H = derivs_analytic(dev, th, delta=1e-6)["Hessian"]
    B = model_derivatives(dev)(th)[1]
    assert B == pytest.approx(H, rel=1e-2)
    assert abs(lmm_information(dev, th)[0, 0]) < 1e-2 * H[0, 0]


@pytest.mark.parametrize("case", ["sleep_slope", "crossed_slope", "vector3", "orthodont",
                                  "penicillin_crossed", "weights_column"])
def test_model_hessian_near_the_hessian_at_the_optimum(case):
    fit = _fit(BY_ID[case])
    dev = fit.devfun
    th = np.asarray(fit.theta)
    H = derivs_analytic(dev, th)["Hessian"]
    B = model_derivatives(dev)(th)[1]
    assert np.linalg.norm(B - H) <= 0.1 * np.linalg.norm(H)


# ------------------------------------------------------------------------ the trust region

def test_trust_region_step_solves_its_subproblem():
    rng = np.random.default_rng(7)
    for _ in range(200):
        k = int(rng.integers(1, 6))
        A = rng.normal(size=(k, k))
        B = A @ A.T if rng.random() < 0.5 else 0.5 * (A + A.T)
        g = rng.normal(size=k)
        delta = float(10 ** rng.uniform(-3, 1))
        d, lam = _tr_step(g, B, delta)
        nd = np.linalg.norm(d)
        assert lam >= 0 and nd <= delta * (1 + 1e-8)
        assert np.linalg.eigvalsh(B + lam * np.eye(k))[0] >= -1e-8 * max(1, np.abs(B).max())
        assert np.allclose((B + lam * np.eye(k)) @ d, -g, atol=1e-8 * (1 + lam))
        if lam > 1e-10 * max(1.0, np.abs(B).max()):
            assert nd == pytest.approx(delta, rel=1e-6)


def test_trust_newton_on_known_functions():
    Q = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, -2.0])
    res = trust_newton(lambda x: 0.5 * x @ Q @ x - b @ x, lambda x: (Q @ x - b, Q),
                       [0.3, 0.4], settings={"delta0": 10.0})
    assert res.x == pytest.approx(np.linalg.solve(Q, b), abs=1e-12)
    assert res.feval == 2 and res.gevals == 2 and res.status == 3

    def rosen(x):
        return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2

    def rgrad(x):
        return np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]),
                         200 * (x[1] - x[0] ** 2)])

    def rderivs(x):
        return rgrad(x), np.array([[1200 * x[0] ** 2 - 400 * x[1] + 2, -400 * x[0]],
                                   [-400 * x[0], 200.0]])

    res = trust_newton(rosen, rderivs, [-1.2, 1.0], settings={"tol": 1e-20})
    assert res.x == pytest.approx([1.0, 1.0], abs=1e-8) and res.status in (3, 4)
    assert res.feval == len(res.fitlog) < 60
    # a bound the unconstrained minimum lies beyond is respected
    res = trust_newton(rosen, rderivs, [-1.2, 1.0], upper=[0.5, np.inf])
    assert np.all(np.array([x for x, _ in res.fitlog])[:, 0] <= 0.5)
    assert res.x[0] == pytest.approx(0.5, abs=1e-6)


# ------------------------------------------------------------------------ fits with newton_ai

@pytest.mark.parametrize("ref", REFS, ids=[r["id"] for r in REFS])
def test_newton_ai_reaches_lme4s_optimum(ref):
    fit = _fit(ref, control=lmerControl(optimizer="newton_ai"))
    opt = fit.optsum
    crit = fit.REMLcrit() if ref["REML"] else fit.deviance()
    assert crit <= _criterion(ref) + 1e-6
    assert crit == pytest.approx(_criterion(ref), abs=2e-4)
    assert opt.optimizer == "newton_ai" and opt.return_code == 0
    assert opt.feval == len(opt.fitlog) <= 20
    assert 1 <= opt.gradient_evals <= opt.feval
    assert opt.derivs["method"] == "analytic"
    # central differences of the gradient (forward ones only for q >= 1000, FORWARD_...)
    k = len(fit.theta)
    assert opt.derivs_evals == 1 + (k if fit.devfun.q >= FORWARD_DIFFERENCE_MIN_Q else 2 * k)
    assert np.all(fit.theta[np.asarray(fit.design.lower) == 0] >= 0)
    if not ref.get("r_warnings"):
        assert opt.conv_messages == list(ref.get("r_messages") or [])


def test_newton_ai_controls():
    ref = BY_ID["sleep_slope"]
    with pytest.raises(ControlError, match="unknown setting"):
        _fit(ref, control=lmerControl(optimizer="newton_ai", optCtrl={"ftol": 1e-8}))
    with pytest.warns(ConvergenceWarning, match="convergence code 5 from newton_ai"):
        data = load_case_data(ref)
        fit = lmerpy.lmer(ref["formula"], data,
                          control=lmerControl(optimizer="newton_ai", optCtrl={"maxiter": 2}))
    assert fit.optsum.return_code == 5 and "MAXITER" in fit.optsum.message
    # a deviance without an average-information matrix cannot use it
    lf = lFormula(ref["formula"], data)
    dev = mkLmerDevfun(lf)

    class Plain:
        q = dev.q

        def __call__(self, th):
            return dev(th)

        def gradient(self, th):
            return dev.gradient(th)

    with pytest.raises(ControlError, match="newton_ai"):
        optimize_lmer(Plain(), lf.theta, lf.lower, lmerControl(optimizer="newton_ai"))
    assert lmer_optimizer(Plain(), lmerControl(gradient_min_q=10)) == "lbfgsb"
    assert lmer_optimizer(dev, lmerControl(gradient_min_q=10)) == "newton_ai"
    # q = 36: the default is newton_ai; lme4's BOBYQA when named, or with polish=False
    assert lmer_optimizer(dev, lmerControl()) == "newton_ai"
    assert lmer_optimizer(dev, lmerControl(optimizer="nloptwrap")) == "nloptwrap"
    assert lmer_optimizer(dev, lmerControl(polish=False)) == "nloptwrap"
    assert lmer_optimizer(Plain(), lmerControl()) == "nloptwrap"      # no AI matrix: polished


def test_optsum_records_gradient_evaluations():
    fit = _fit(BY_ID["sleep_slope"], control=lmerControl(optimizer="newton_ai"))
    opt = fit.optsum
    back = OptSummary.from_dict(opt.to_dict())
    assert back.gradient_evals == opt.gradient_evals > 0
    assert back.derivs_elapsed == opt.derivs_elapsed > 0
    bob = _fit(BY_ID["sleep_slope"], control=lmerControl(optimizer="nloptwrap")).optsum
    assert bob.gradient_evals == 0


# --------------------------------------------------------------------------- large models

def _crossed_frame(n=12000, l1=700, l2=40, sds=(0.8, 0.3, 0.2), cor=0.3, g2_sd=0.5, seed=1):
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, l1, n)
    g2 = rng.integers(0, l2, n)
    x = rng.standard_normal(n)
    z = rng.standard_normal(n)
    C = np.full((3, 3), cor)
    np.fill_diagonal(C, 1.0)
    S = np.diag(sds) @ C @ np.diag(sds)
    u = rng.multivariate_normal(np.zeros(3), S, size=l1, method="eigh")
    y = (1 + 0.5 * x - 0.2 * z + u[g1, 0] + u[g1, 1] * x + u[g1, 2] * z
         + g2_sd * rng.standard_normal(l2)[g2] + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g1": pd.Categorical(g1),
                         "g2": pd.Categorical(g2), "wt": rng.uniform(0.5, 2.0, n)})


LARGE = {
    "interior": ("y ~ x + (x | g1) + (1 | g2)", {}, {}),
    "slope_zero": ("y ~ x + (x | g1) + (1 | g2)", {"sds": (0.8, 0.0, 0.0)}, {}),
    "g2_zero": ("y ~ x + (x | g1) + (1 | g2)", {"g2_sd": 0.0}, {}),
    "vector3_ml": ("y ~ x + z + (1 + x + z | g1) + (1 | g2)", {"n": 8000, "l1": 600},
                   {"REML": False}),
    "nearly_rank_one": ("y ~ x + z + (1 + x + z | g1) + (1 | g2)",
                        {"n": 8000, "l1": 600, "cor": 0.999, "seed": 3}, {}),
    "weights": ("y ~ x + (x | g1) + (1 | g2)", {"seed": 7}, {"weights": True}),
}


@pytest.mark.parametrize("case", list(LARGE))
def test_large_models_fit_by_newton_ai_reach_bobyqas_optimum(case):
    formula, frame_kw, fit_kw = LARGE[case]
    d = _crossed_frame(**frame_kw)
    if fit_kw.pop("weights", False):
        fit_kw["weights"] = d["wt"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = lmerpy.lmer(formula, d, **fit_kw)
        slow = lmerpy.lmer(formula, d, control=lmerControl(gradient_min_q=None), **fit_kw)
    reml = fit_kw.get("REML", True)
    crit = (lambda f: f.REMLcrit()) if reml else (lambda f: f.deviance())
    assert fast.devfun.q >= 1000
    assert fast.optsum.optimizer == "newton_ai" and slow.optsum.optimizer == "nloptwrap"
    assert fast.optsum.return_code == 0
    assert crit(fast) <= crit(slow) + 1e-6
    assert np.max(np.abs(fast.theta - slow.theta)) <= 1e-3
    assert np.all(fast.theta[np.asarray(fast.design.lower) == 0] >= 0)
    assert fast.isSingular() == slow.isSingular()
    assert fast.optsum.conv_messages == slow.optsum.conv_messages
    # (the nearly rank-one covariance, a degenerate optimum, takes the most: 34)
    assert fast.optsum.feval <= 40 and 4 * fast.optsum.feval < slow.optsum.feval


# ------------------------------------------------------------------ forward-difference Hessian

def test_forward_differences_of_the_gradient():
    class F:
        def __call__(self, x):
            return np.exp(x[0]) + x[0] * x[1] ** 2 + np.sin(x[1])

        def gradient(self, x):
            return np.array([np.exp(x[0]) + x[1] ** 2, 2 * x[0] * x[1] + np.cos(x[1])])

    x = np.array([0.3, 0.7])
    H = np.array([[np.exp(0.3), 1.4], [1.4, 0.6 - np.sin(0.7)]])
    for upper in (None, [np.inf, 0.7 + 5e-5]):       # backwards next to an upper bound
        d = derivs_analytic(F(), x, upper=upper, scheme="forward")
        assert d["evals"] == 3 and d["method"] == "analytic"
        assert d["gradient"] == pytest.approx(F().gradient(x), abs=1e-15)
        assert d["Hessian"] == pytest.approx(H, abs=1e-4)   # O(delta), delta = 1e-4
    with pytest.raises(ValueError, match="scheme"):
        derivs_analytic(F(), x, scheme="backward")


def test_forward_hessian_on_a_large_model_agrees_with_the_central_one():
    d = _crossed_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmerpy.lmer("y ~ x + (x | g1) + (1 | g2)", d)
    H = fit.optsum.derivs["Hessian"]
    central = derivs_analytic(fit.devfun, fit.theta, fit.design.lower)["Hessian"]
    assert fit.optsum.derivs_evals == 1 + len(fit.theta)
    assert np.max(np.abs(H - central)) <= 1e-3 * np.max(np.abs(central))
    assert fit.optsum.derivs["gradient"] == pytest.approx(fit.devfun.gradient(fit.theta),
                                                          abs=1e-9)
