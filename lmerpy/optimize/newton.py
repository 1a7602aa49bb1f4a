"""Trust-region Newton on the profiled LMM criterion with the average-information matrix
(lmerpy's ``"newton_ai"`` optimizer; R equivalent: none — lme4 uses derivative-free BOBYQA).

The Hessian of the profiled REML criterion (or ML deviance) in θ is approximated by the
*average information* (AI) matrix of REML software (Gilmour, Thompson & Cullis 1995,
Biometrics 51:1440), carried over to lme4's relative covariance factor θ and with σ² profiled
out (the formulas and their cost — one triangular solve with k right-hand sides at an
evaluated θ — are in :mod:`lmerpy.pls.lmm.information`, ``LmmDeviance.information``). It is
positive semi-definite and close to the true Hessian near the optimum (to a few per cent on
lme4's reference fits).

What the AI matrix leaves out is the second-derivative term T_ab = tr(P V_ab) − y'P V_ab P y
(V the marginal covariance, P the REML projection). V is a homogeneous quadratic in the θ of
each column of a term's template (and V_ab = 0 across columns), so by Euler's identity
T_c τ_c = g_c for the θ τ_c of column c and the gradient g_c there. The model Hessian adds the
smallest symmetric matrix with that property, (g τ' + τ g')/‖τ‖² − (g'τ)ττ'/‖τ‖⁴ per column
(g_c/τ_c exactly for a column with one θ). It vanishes at the optimum of an interior fit, and
it supplies the curvature the AI matrix lacks where a θ tends to 0 (there V_a → 0 and so does
the AI matrix, while the true Hessian does not): without it Newton steps towards a singular
fit converge only linearly.

The steps are those of a trust region (Moré–Sorensen on the small k × k model), which keeps
the early steps safe where the model is poor. Rejected trial points cost one deviance
evaluation; the gradient (and the model Hessian) is computed only at accepted points. When
two accepted steps point back and forth, the model is too flat along the step (the Euler
term of a column with several θ is only an estimate, e.g. near a rank-deficient covariance)
and gets the secant curvature along it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import FitError
from ..pls.lmm.information import template_columns
from .minimize import MinimizeResult, Recorder

__all__ = ["lmm_information", "model_derivatives", "template_columns", "trust_newton",
           "NEWTON_SETTINGS", "NewtonResult"]

#: Default settings of ``optimizer="newton_ai"`` (its ``optCtrl``), for :func:`trust_newton`.
NEWTON_SETTINGS = {"tol": 1e-10, "xtol": 1e-12, "maxiter": 200, "delta0": 1.0,
                   "final_step": True}

_EPS = float(np.finfo(float).eps)
#: The longest final Newton step (relative to 1 + ‖x‖) that ``final_step`` takes: at a
#: regular optimum the step is at most about sqrt(2·tol / curvature).
FINAL_STEP = 1e-4
#: Iterations in a row whose predicted decrease is below the criterion's rounding after which
#: :func:`trust_newton` stops (status 2).
NOISE_ITERATIONS = 3


def lmm_information(dev, theta):
    """Average-information approximation of the Hessian of an LMM's profiled criterion at θ
    (``dev.information(theta)``; the formulas are in :mod:`lmerpy.pls.lmm.information`).

    Parameters
    ----------
    dev : lmerpy.pls.LmmDeviance
    theta : array_like

    Returns
    -------
    ndarray (k, k)
        Symmetric positive semi-definite; in the units of the criterion (−2 log L).
    """
    return dev.information(theta)


def second_order_term(theta, g, columns):
    """The per-column Euler term added to the AI matrix (see the module's notes). The columns
    hold a few θ each: plain floats (NumPy's calls would cost more than the arithmetic)."""
    th = np.asarray(theta, dtype=float).tolist()
    gl = np.asarray(g, dtype=float).tolist()
    n = len(th)
    T = [[0.0] * n for _ in range(n)]
    for c in columns:
        idx = c if type(c) is tuple else [int(i) for i in c]
        if len(idx) == 1:                   # one θ in the column: g/τ exactly
            k = idx[0]
            if th[k] != 0.0:
                T[k][k] += gl[k] / th[k]
            continue
        tau = [th[i] for i in idx]
        gc = [gl[i] for i in idx]
        tt = math.fsum(t * t for t in tau)
        if not tt > 0:
            continue
        gtau = math.fsum(a * b for a, b in zip(gc, tau))
        tt2 = tt * tt
        for a, ia in enumerate(idx):
            row = T[ia]
            for b, ib in enumerate(idx):
                row[ib] += (gc[a] * tau[b] + tau[a] * gc[b]) / tt - gtau * tau[a] * tau[b] / tt2
    return np.array(T)


def model_derivatives(devfun):
    """``θ -> (gradient, model Hessian)`` for ``devfun``, or None when it has no model
    Hessian: the analytic gradient, and the deviance's ``information(θ)`` (the AI matrix of
    :class:`lmerpy.pls.LmmDeviance`) plus the Euler term on each of the deviance's
    ``par_groups()`` (the columns of each term's template for θ; the standard deviations of a
    structured term, its correlation belonging to none). The AI matrix is computed
    first, while the factorisation of the evaluation at θ is still there (the gradient may
    consume it)."""
    info = getattr(devfun, "information", None)
    if not callable(info):
        return None
    # the columns as tuples of ints once (second_order_term runs at every accepted point)
    columns = [tuple(int(i) for i in c) for c in devfun.par_groups()]
    both = getattr(devfun, "derivatives", None)

    def derivatives(th):
        if callable(both):      # the two together (a small model shares their pieces)
            g, B = both(th)
            g, B = np.asarray(g, dtype=float), np.asarray(B, dtype=float)
        else:
            B = np.asarray(info(th), dtype=float)
            g = np.asarray(devfun.gradient(th), dtype=float)
        return g, (B + second_order_term(th, g, columns) if columns else B)
    return derivatives


@dataclass
class NewtonResult(MinimizeResult):
    """:class:`MinimizeResult` plus the gradient evaluations and iterations."""

    gevals: int = 0
    iterations: int = 0


def _norm(v):
    return math.sqrt(float(v @ v))


def _tr_step(g, B, delta):
    """argmin_d g'd + d'Bd/2 subject to ‖d‖ ≤ delta, by the eigen-decomposition of the small
    symmetric B (Moré–Sorensen). Returns (d, λ) with (B + λI)d = −g."""
    w, U = np.linalg.eigh(B)
    gt = U.T @ g
    scale = max(abs(w[-1]), 1e-300)
    if w[0] > 1e-12 * scale:
        d = -(U @ (gt / w))
        if math.sqrt(d @ d) <= delta:
            return d, 0.0
    lo = max(0.0, -w[0]) + 1e-12 * scale

    def norm(lam):
        v = gt / (w + lam)
        return math.sqrt(float(v @ v))

    if norm(lo) <= delta:
        # the hard case (g has no component along the lowest eigenvector): the step at
        # λ = lo, and where B is indefinite, along that eigenvector up to the boundary
        d = -(U @ (gt / (w + lo)))
        if w[0] < 0:
            extra = math.sqrt(max(delta * delta - float(d @ d), 0.0))
            u0 = U[:, 0]
            d = d - math.copysign(extra, float(g @ u0)) * u0
        return d, float(lo)
    else:
        hi = lo + _norm(g) / delta
        while norm(hi) > delta:
            hi *= 2.0
        a, b = lo, hi                           # ‖d(a)‖ > delta >= ‖d(b)‖
        lam = b
        for _ in range(200):
            nl = norm(lam)
            if abs(nl - delta) <= 1e-10 * delta:
                break
            if nl > delta:
                a = lam
            else:
                b = lam
            if b - a <= 1e-13 * b:
                lam = b
                break
            # Newton on φ(λ) = 1/‖d(λ)‖ − 1/delta (increasing, nearly linear), kept inside
            # the bracket
            phi = 1.0 / nl - 1.0 / delta
            dphi = float(np.sum(gt ** 2 / (w + lam) ** 3)) / nl ** 3
            cand = lam - phi / dphi if dphi > 0 else 0.5 * (a + b)
            lam = cand if a < cand < b else 0.5 * (a + b)
        if norm(lam) > delta * (1.0 + 1e-9):   # never outside the region
            lam = b
    return -(U @ (gt / (w + lam))), float(lam)


def trust_newton(fun, derivatives, x0, lower=None, upper=None, *, settings=None, verbose=0,
                 fitlog=None):
    """Minimize ``fun`` by a trust-region Newton method on a model Hessian.

    Parameters
    ----------
    fun, derivatives : callable
        x -> f, and x -> (gradient, symmetric model Hessian), called right after ``fun`` at
        the same x (in lmerpy's use :func:`model_derivatives`: the analytic gradient, and
        the average information plus the Euler term).
    x0 : array_like
    lower, upper : array_like, optional
        Finite bounds are respected by shortening a step that would cross them (lmer runs
        without bounds on the diagonal θ and rectifies the signs afterwards).
    settings : dict, optional
        ``tol`` (stop when the model's predicted decrease of the Newton step, g'B⁻¹g/2, is at
        most this, in criterion units), ``xtol`` (relative step), ``maxiter``, ``delta0``
        (initial trust radius), ``final_step`` (on stopping by ``tol``, take that last Newton
        step too, for one evaluation of ``fun`` without derivatives, unless ``fun`` rises
        there beyond its rounding: the estimates are then exact to about the square of the
        step; meant for analytic derivatives); defaults :data:`NEWTON_SETTINGS` but
        ``final_step=False`` (the ``"newton_ai"`` optimizer passes its settings whole).
    verbose : int
        As :func:`lmerpy.optimize.minimize_bounded` (each evaluation printed).
    fitlog : list, optional

    Returns
    -------
    NewtonResult
        ``status`` 3: predicted decrease below ``tol``; 2: the predicted decreases stayed
        below the criterion's rounding (10³ machine epsilons of its value) for
        :data:`NOISE_ITERATIONS` iterations, as where the optimum is degenerate (a
        rank-deficient covariance: the model's curvature across a column of θ tending to 0 is
        only estimated, and the steps wander without a measurable change); 4: step below
        ``xtol``; 5: ``maxiter`` reached; -4: the trust region collapsed without progress;
        -5: the gradient or the model Hessian is not finite (the criterion's scale beyond
        double precision).
    """
    t0 = time.perf_counter()
    st = dict(NEWTON_SETTINGS, final_step=False)
    st.update(settings or {})
    tol, xtol = float(st["tol"]), float(st["xtol"])
    maxiter, delta = int(st["maxiter"]), float(st["delta0"])
    final_step = bool(st["final_step"])
    x = np.array(x0, dtype=float).ravel()
    n = x.size
    lo = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=float)
    hi = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float)
    bounded = bool(np.isfinite(lo).any() or np.isfinite(hi).any())
    rec = Recorder(fun, verbose=verbose, fitlog=fitlog)
    fx = rec(x)
    if not math.isfinite(fx):
        raise FitError(f"the criterion is not finite at the start ({fx})")
    g, B = derivatives(x.copy())
    g, B = np.asarray(g, dtype=float), np.asarray(B, dtype=float)
    gevals, it, status = 1, 0, 5
    s_prev, nd_prev = None, 0.0                 # the last accepted step and its length
    flat = 0                                    # iterations in a row at the rounding level
    while it < maxiter:
        if not (np.isfinite(g).all() and np.isfinite(B).all()):
            status = -5                     # e.g. a PWRSS that underflows: 1/r² overflows
            break
        it += 1
        d, lam = _tr_step(g, B, delta)
        if bounded:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(d > 0, (hi - x) / d, np.where(d < 0, (lo - x) / d, np.inf))
            a = float(min(1.0, np.min(ratio)))
            d = d * max(a, 0.0)
        pred = -(g @ d + 0.5 * d @ (B @ d))
        nd = _norm(d)
        xn_ = 1.0 + _norm(x)
        if lam == 0.0 and pred <= tol:
            status = 3
            if final_step and xtol * xn_ < nd <= FINAL_STEP * xn_:
                # the last Newton step, whose decrease the criterion may not resolve while
                # the gradient does (a flat criterion: Dyestuff's θ moves by 1e-6 for a
                # decrease of 7e-12): kept unless the criterion rises beyond its rounding;
                # not a long one (along a flat ridge, where the model is nearly singular)
                xn = x + d
                try:
                    fn = rec(xn)
                except FitError:
                    fn = math.inf
                if fn <= fx + 1e3 * _EPS * max(1.0, abs(fx)):
                    x, fx = xn, fn
            break
        if nd <= xtol * xn_:
            status = 4 if lam == 0.0 else -4
            break
        noise = 1e3 * _EPS * max(1.0, abs(fx))
        flat = flat + 1 if pred <= noise else 0
        if flat > NOISE_ITERATIONS:
            status = 2
            break
        xn = x + d
        try:
            fn = rec(xn)
        except FitError:
            fn = math.inf
        if not math.isfinite(fn):
            rho = -math.inf
        elif pred > noise:
            rho = (fx - fn) / pred
        else:                                   # below the criterion's rounding: not worse
            rho = 1.0 if fn <= fx + noise else -1.0
        if rho < 0.25:
            delta = 0.25 * nd
        elif rho > 0.75 and nd >= 0.99 * delta:
            delta = 2.0 * delta
        if rho > 1e-4:
            gn, Bn = derivatives(xn.copy())
            gn, Bn = np.asarray(gn, dtype=float), np.asarray(Bn, dtype=float)
            if s_prev is not None and float(d @ s_prev) < -0.5 * nd * nd_prev:
                # steps back and forth: the model is too flat along d (near a rank-deficient
                # covariance the Euler term is only an estimate); give it the secant
                # curvature along d, so that B d = y there
                curv = (float(d @ (gn - g)) - float(d @ (Bn @ d))) / (nd * nd)
                if curv > 0:
                    Bn = Bn + (curv / (nd * nd)) * np.outer(d, d)
            s_prev, nd_prev = d, nd
            x, fx, g, B = xn, fn, gn, Bn
            gevals += 1
    text = {2: "NEWTON_AI_FTOL_REACHED: predicted decreases at the rounding level of the "
               "criterion",
            3: "NEWTON_AI_FTOL_REACHED: predicted decrease of the Newton step below tol",
            4: "NEWTON_AI_XTOL_REACHED: Newton step below xtol",
            5: "NEWTON_AI_MAXITER_REACHED: iteration limit reached",
            -4: "NEWTON_AI_ROUNDOFF_LIMITED: the trust region collapsed without progress",
            -5: "NEWTON_AI_FAILURE: the gradient or the model Hessian is not finite"}
    log = rec.fitlog[rec.start_len:]
    # the last accepted point: a decrease, or no increase beyond the criterion's rounding
    return NewtonResult(x=x, fun=float(fx), feval=rec.count, status=status,
                        message=text[status], method="newton_ai", settings=st, fitlog=log,
                        elapsed=time.perf_counter() - t0, gevals=gevals, iterations=it)
