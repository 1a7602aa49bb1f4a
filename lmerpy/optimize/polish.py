"""Finishing a derivative-free fit at the optimum itself (``lmerControl(polish=True)``, the
default for lmer; a lmerpy addition, R equivalent: none).

BOBYQA stops where its trust region has shrunk below lme4's tolerances (``xtol_rel = 1e-4``),
which on a flat criterion is ~1e-8 to 1e-5 above the optimum and 1e-4 to 1e-3 away from it in θ
— and where exactly depends on the path it took, so on the last bits of every evaluation (a
different BLAS kernel is enough to change them). Two steps make the result a property of the
model instead of the path:

* :func:`kkt_restart_point`: where some θ ends on its bound 0 (a diagonal entry of a term's
  lower-triangular template), the deviance is unchanged when that template column changes sign
  (ΛΛ' is), so both signs of the column's other entries are feasible and the first-order
  optimality (KKT) condition is that the gradient along the diagonal entry is *zero*, not merely
  non-negative; where it is zero by that symmetry (the column has no other non-zero entry), the
  second-order condition is a non-negative curvature. lme4's ``restart_edge`` only looks at the
  sign of a 1e-5 difference quotient in the column's present orientation. When the condition
  fails by more than lme4's gradient tolerance (scaled by the curvature, as lme4 scales its
  gradient check), or the Hessian over the θ off their bounds is indefinite (lme4's
  "degenerate Hessian"), :func:`continue_from` continues the fit by trust-region Newton steps
  from a point off the bound along the descent direction (or from θ itself).
* :func:`newton_polish`: Newton steps θ ← θ − H⁻¹g on the θ off their bounds, with the
  analytic gradient and its differenced Hessian (the post-fit derivatives, which lmer computes
  anyway), until the Newton step is below :data:`XTOL` (relative to θ). A step is kept when
  it lowers the deviance, or — once the predicted decrease is below the criterion's rounding,
  where θ is only resolved to ~√eps by the deviance's values — when the deviance stays within
  its rounding and the Newton decrement g'H⁻¹g shrinks (the gradient is analytic, so it
  resolves θ far below √eps: two fits of one model on different paths, such as lmerpy.dask's
  and the in-memory one, agree to ~1e-10). A fit that is already at the optimum costs nothing
  extra.
"""
from __future__ import annotations

import numpy as np

from ..errors import FitError
from .derivs import derivs_analytic
from .newton import model_derivatives, trust_newton

__all__ = ["newton_polish", "kkt_restart_point", "continue_from", "theta_columns", "NOISE"]

#: Predicted decreases below ``NOISE · max(1, |f|)`` are rounding noise of the criterion.
NOISE = 10 * float(np.finfo(float).eps)
#: The polish stops when no θ off its bounds moves by more than XTOL · max(1, |θ|).
XTOL = 1e-10
#: At most this many Newton steps (a safeguard: the steps converge in a few).
MAX_STEPS = 30


def theta_columns(devfun):
    """θ index arrays of the columns of each term's lower-triangular template (diagonal entry
    first: the deviance's ``par_groups()``), or None when ``devfun`` does not say, has no
    random-effects term, or its parameters are not θ (lme4 2.x's ``par`` of ``cs``/``ar1``
    terms: no column sign to flip, each parameter its own column)."""
    if not getattr(devfun, "par_is_theta", True):
        return None
    layout = getattr(devfun, "layout", None)
    if layout is not None:
        return layout.theta_groups() or None
    groups = getattr(devfun, "par_groups", None)
    return (groups() or None) if callable(groups) else None


def _noise(f):
    return NOISE * max(1.0, abs(float(f)))


def newton_polish(devfun, f_logged, theta, fval, derivs, lower, upper, max_steps=MAX_STEPS,
                  xtol=XTOL):
    """Newton steps on the θ strictly inside their bounds.

    Each step θ − H_F⁻¹g_F (F the free θ; clipped to the bounds) is taken while it moves some
    θ by more than ``xtol`` (default :data:`XTOL`) relative. Where its predicted decrease g_F'H_F⁻¹g_F/2 exceeds
    the criterion's rounding it is kept when the deviance goes down; below that rounding it
    is kept when the deviance stays within its rounding and the Newton decrement
    g_F'H_F⁻¹g_F at the new point is smaller (the analytic gradient still measures the
    distance to the optimum there). The gradient is refreshed at every kept step, the
    Hessian (central differences with step 1e-4 around the start) kept (the caller
    recomputes the derivatives when the steps went far). Stops at the first rejected step,
    when H_F is not positive definite (no descent guarantee), or after ``max_steps``.

    Parameters
    ----------
    devfun : callable with ``gradient(θ)``
    f_logged : callable
        θ -> deviance, recording the evaluation in the fit log.
    theta, fval : the point and its deviance
    derivs : dict
        ``{"gradient", "Hessian", ...}`` at ``theta``.
    lower, upper : ndarray

    Returns
    -------
    theta, fval, gradient, steps
        The final point, its deviance and analytic gradient, and the number of steps kept.
    """
    H = np.asarray(derivs["Hessian"], dtype=float)
    g = np.asarray(derivs["gradient"], dtype=float)
    steps = 0
    for _ in range(max_steps):
        free = (theta > lower) & (theta < upper)
        if not free.any() or not np.all(np.isfinite(g[free])) \
                or not np.all(np.isfinite(H[np.ix_(free, free)])):
            break
        try:
            c = np.linalg.cholesky(H[np.ix_(free, free)])
        except np.linalg.LinAlgError:
            break
        y = np.linalg.solve(c, g[free])
        decrement = float(y @ y)
        step = np.zeros_like(theta)
        step[free] = -np.linalg.solve(c.T, y)
        if not np.max(np.abs(step[free])) > xtol * max(1.0, float(np.max(np.abs(theta[free])))):
            break
        cand = np.clip(theta + step, lower, upper)
        if np.array_equal(cand, theta):
            break
        fc = f_logged(cand)
        if 0.5 * decrement > _noise(fval):
            if not fc < fval:
                break
            gc = np.asarray(devfun.gradient(cand), dtype=float)
        else:                   # below the criterion's rounding: the gradient decides
            if not fc <= fval + _noise(fval):
                break
            gc = np.asarray(devfun.gradient(cand), dtype=float)
            fc_free = (cand > lower) & (cand < upper)
            if not (np.array_equal(fc_free, free) and np.all(np.isfinite(gc[free]))):
                break
            yc = np.linalg.solve(c, gc[free])
            if not float(yc @ yc) < decrement:
                break
        theta, fval, g = cand, fc, gc
        steps += 1
    return theta, fval, g, steps


def kkt_restart_point(theta, derivs, lower, upper, columns, grad_tol, hess_tol):
    """Where to continue from when θ is not a local minimum by the post-fit derivatives, or
    None when it passes (R equivalent: none; lme4's ``restart_edge`` is a weaker first test).

    For each θ_i on a lower bound 0 (the diagonal entry of a template column ``c``; without
    ``columns`` each θ is its own column): with g = ∂d/∂θ_i and h = ∂²d/∂θ_i² (one-sided,
    from the post-fit derivatives),

    * first order: when c has other non-zero entries, negating them (with θ_i = 0, the same
      ΛΛ') turns g into −g, so descent into the interior exists unless g = 0; otherwise unless
      g >= 0. Violated when the descent slope |g| exceeds ``grad_tol`` scaled by the curvature
      (|g|/√h > grad_tol for h > 0, lme4's scaled-gradient measure; |g| > grad_tol otherwise);
    * second order, where the first-order test passes: violated when h < −``hess_tol`` (the
      deviance then decreases along θ_i into the interior).

    The start is then θ with, for the worst violation, the column negated where that makes
    the slope negative and θ_i moved to the minimum of the one-dimensional quadratic model
    (|g|/h), or to 1 (lme4's starting value of a diagonal θ) where the model has no minimum.

    Otherwise, when the Hessian over the θ off their bounds has an eigenvalue below
    −``hess_tol`` (lme4's test for its "degenerate Hessian" warning: a saddle, or a ridge
    BOBYQA stalled on), the start is θ itself.

    Returns
    -------
    ndarray or None
    """
    theta = np.asarray(theta, dtype=float)
    g = np.asarray(derivs["gradient"], dtype=float)
    H = np.asarray(derivs["Hessian"], dtype=float)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        return None
    cols = columns if columns is not None else [np.array([i]) for i in range(theta.size)]
    best = None                                    # (severity, start)
    for c in cols:
        i = int(c[0])
        if not (lower[i] == 0 and theta[i] == 0):
            continue
        gi, hi = float(g[i]), float(H[i, i])
        flip = bool(np.any(theta[c[1:]] != 0))
        slope = -abs(gi) if flip else min(gi, 0.0)     # best one-sided slope into the interior
        severity = None
        if slope < 0:
            measure = -slope / np.sqrt(hi) if hi > 0 else -slope
            if measure > grad_tol:
                severity = measure
        if severity is None and hi < -hess_tol:
            severity, slope = np.inf, 0.0
        if severity is None or (best is not None and severity <= best[0]):
            continue
        start = theta.copy()
        if flip and gi > 0:
            start[c] = -start[c]
        start[i] = -slope / hi if hi > 0 and slope < 0 else 1.0
        best = (severity, start)
    if best is not None:
        return best[1]
    free = (theta > lower) & (theta < upper)
    if free.any():
        Hf = H[np.ix_(free, free)]
        try:
            np.linalg.cholesky(Hf)              # positive definite: no negative eigenvalue
        except np.linalg.LinAlgError:
            if np.linalg.eigvalsh(Hf)[0] < -hess_tol:
                return theta.copy()
    return None


def continue_from(devfun, start, lower, upper, *, verbose=0, fitlog=None):
    """Continue a fit from ``start`` by trust-region Newton steps (:func:`trust_newton`).

    The model Hessian is the deviance's average-information matrix plus the Euler term
    (:func:`lmerpy.optimize.newton.model_derivatives`, the ``"newton_ai"`` optimizer) when
    the deviance has one, else central differences of the analytic gradient (2k + 1 gradients
    per accepted step; the trust region copes with an indefinite one). With the deviance's
    ``rectify_theta`` the diagonal θ are unbounded (a template column's sign is free) and the
    result is rectified, as ``"newton_ai"`` does.

    Returns
    -------
    theta, fval, gradient_evals
        (``fval`` is inf when the criterion is not finite at ``start``.)
    """
    rectify = getattr(devfun, "rectify_theta", None)
    lo = np.where(lower == 0, -np.inf, lower) if callable(rectify) else lower
    derivatives = model_derivatives(devfun)
    if derivatives is None:
        def derivatives(x):
            d = derivs_analytic(devfun, x, lo, upper)
            return d["gradient"], d["Hessian"]
    try:
        # (no final step: the polish that follows finishes the fit)
        res = trust_newton(devfun, derivatives, start, lo, upper, verbose=verbose,
                           fitlog=fitlog, settings={"final_step": False})
    except FitError:                       # the criterion is not finite at the start
        return np.asarray(start, dtype=float), np.inf, 0
    x = np.asarray(rectify(res.x), dtype=float) if lo is not lower else res.x
    return x, float(res.fun), int(res.gevals)
