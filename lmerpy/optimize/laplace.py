"""glmer's gradient-based stages: L-BFGS-B on the Laplace deviance at the conditional mode.

lme4's glmer deviance takes log|L|² from the working weights one PIRLS step before ũ and stops
PIRLS at ``tolPwrss``: a function of the parameters with an error of first order in PIRLS's
last step, not differentiable where the number of steps changes. The Laplace deviance at ũ
itself (``GlmmDeviance.laplace``, PIRLS run until η stops moving) is smooth and has an
analytic gradient (:mod:`lmerpy.pls.glmm.laplace_gradient`), so a quasi-Newton method needs a
few dozen (deviance, gradient) evaluations where lme4's BOBYQA and Nelder–Mead need hundreds.

The optimizer minimises that function; the fit then reports, at the optimizer's point, the
deviance the fit's deviance function computes (lme4's, unless ``precise``) — which is what
every later step (boundary snapping, the finite-difference Hessian, the fit's log-likelihood)
sees, as after lme4's optimizers. The two functions differ by ~1e-4 on a deviance of 10²
with an almost constant offset near the optimum, so their minimisers differ at second order.

The diagonal θ are optimized without their bounds at 0: the deviance does not change when a
column of a term's template changes sign (ΛΛ' stays), so θ = 0 is a stationary point where a
projected-gradient method would stop for good (cbpp with the probit link: stage 1 steps from
θ = 1 onto the bound and stays there, 6 log-likelihood units short); unbounded, it passes
through, and the signs are fixed afterwards (MixedModels.jl's ``rectify!``). A start exactly
on such a bound (a singular first stage), or a stop exactly on one (L-BFGS-B's first step from
θ = 1 has length 1 and lands on 0), is moved inside by :data:`START_STEP` (and the run
continued from there), since the gradient there is exactly 0 whatever the optimum.

R equivalent: none (lme4's glmer is derivative-free).
"""
from __future__ import annotations

import numpy as np

from .coords import ScaledDeviance
from .derivs import derivs_analytic
from .minimize import minimize_bounded
from .polish import newton_polish

__all__ = ["LaplaceFailed", "LaplaceObjective", "has_laplace_gradient", "laplace_derivs",
           "minimize_laplace", "START_STEP"]

#: how far inside a start on a θ's bound 0 is moved (the gradient is 0 on the bound)
START_STEP = 1e-2
#: relative step of the forward differences of the gradient for the whitening Hessian
HESSIAN_STEP = 1e-4
#: step of the post-fit Hessian's central differences of the analytic gradient: on lme4's
#: GLMM goldens the standard errors from it are within 1e-7 relative of a Richardson-
#: extrapolated reference (tests/test_optimize_glmm_hessian.py); lme4's step 1e-4 leaves
#: 1e-5 (truncation, on small θ), 3e-6 adds the gradient's rounding
LAPLACE_HESSIAN_STEP = 1e-5
#: the Newton finish stops when no parameter would move by more than this (relative to
#: max(1, |x|), in the optimizer's coordinates: whitened ones in stage 2, where 1 is a
#: standard error): the end points of two paths then agree to ~1e-9 of a standard error
FINISH_XTOL = 1e-9
#: largest |gradient| at which a failed line search counts as convergence (the deviance's
#: rounding stops it at the optimum); beyond, lme4's optimizer takes over
STALL_GRADIENT = 1e-3


def has_laplace_gradient(devfun):
    """True when ``devfun`` (a GLMM deviance, or one in scaled coordinates) offers the
    Laplace deviance at the mode with its analytic gradient."""
    f = getattr(devfun, "has_laplace_gradient", None)
    return callable(f) and bool(f()) and callable(getattr(devfun, "laplace_gradient", None))


class LaplaceObjective:
    """x ↦ the Laplace deviance at the mode (``devfun.laplace``), with ``gradient``."""

    def __init__(self, devfun):
        self.devfun = devfun

    def __call__(self, x):
        return self.devfun.laplace(np.asarray(x, dtype=float), warm=True)

    def gradient(self, x):
        return np.asarray(self.devfun.laplace_gradient(np.asarray(x, dtype=float)), dtype=float)


class _WarmGradient:
    """x ↦ the analytic gradient of the Laplace deviance at the mode, PIRLS started from the
    previous point's mode (a difference stencil's points are 1e-4 apart: fewer PIRLS steps,
    the same mode to its precision)."""

    def __init__(self, devfun):
        self.devfun = devfun

    def gradient(self, x):
        x = np.asarray(x, dtype=float)
        self.devfun.laplace(x, warm=True)
        return np.asarray(self.devfun.laplace_gradient(x), dtype=float)


def laplace_derivs(devfun, x, lower=None, upper=None, delta=LAPLACE_HESSIAN_STEP):
    """The post-fit derivatives from the Laplace deviance's analytic gradient
    (``glmerControl(hessian="gradient")``): that gradient at ``x``, and the Hessian by central
    differences of it, symmetrised (one-sided of second order within ``delta`` of a bound;
    :func:`~.derivs.derivs_analytic`): 1 + 2k gradients for k parameters, accurate to
    O(delta²) and to the gradient's rounding over ``delta``. lme4's Hessian (finite
    differences of its deviance with step 1e-4, 2k² evaluations) carries the error of where
    PIRLS stops over 1e-8, and its deviance's log|L|² lags PIRLS's last step: its standard
    errors are 1e-5 to 3% from the Laplace deviance's (cbpp 1.2%).

    Returns the dict of :func:`~.derivs.derivs_analytic` with ``method = "laplace gradient"``.
    """
    d = derivs_analytic(_WarmGradient(devfun), x, lower, upper, delta, scheme="central")
    d["method"] = "laplace gradient"
    return d


class LaplaceFailed(Exception):
    """PIRLS failed at a point the quasi-Newton steps tried (a linear predictor outside the
    link's domain), or L-BFGS-B's line search failed away from a stationary point: the caller
    falls back to lme4's derivative-free optimizer."""


def _rectify(devfun, x):
    """x with each template column whose diagonal θ is negative negated (θ = ``par``)."""
    x = np.array(x, dtype=float)
    for c in devfun.par_groups():        # diagonal entry first
        c = np.asarray(c, dtype=np.int64)
        if x[c[0]] < 0:
            x[c] *= -1.0
    return x


def minimize_laplace(devfun, x0, lower, upper, settings, *, verbose=0, fitlog=None,
                     beta_scale=None, whiten=False, finish=False):
    """L-BFGS-B on ``devfun.laplace`` with its analytic gradient, from ``x0`` within
    (``lower``, ``upper``); returns the :class:`~.minimize.MinimizeResult` with ``x`` rectified
    and ``fun`` = ``devfun(x)`` (the fit's own deviance there, appended to ``fitlog``).

    ``beta_scale`` (second stage): β's standard errors from the first stage; the steps are
    taken in β/``beta_scale`` (L-BFGS-B's first step has length 1, and its curvature pairs
    start from the identity: in those coordinates the deviance is about ½‖z‖²).
    ``whiten``: when no bound is finite (θ's bounds at 0 are dropped, see the module), first
    the Hessian at ``x0`` by forward differences of the gradient (one more evaluation per
    covariance parameter; β's block from ``devfun.beta_hessian`` where offered, else
    differenced too), and L-BFGS-B in the coordinates it whitens: the second stage starts
    near its optimum (the first stage's), where the deviance is close to that quadratic.
    ``finish`` (a fit's final stage): after L-BFGS-B, Newton steps to the zero of the
    gradient (:func:`_newton_finish`), so that the end point does not depend on the path.

    Raises
    ------
    LaplaceFailed
        PIRLS failed at a trial point.
    """
    from ..pls.glmm.pirls import PirlsError   # here: an lmer fit loads no PIRLS
    fitlog = [] if fitlog is None else fitlog
    if beta_scale is not None:
        b = np.asarray(beta_scale, dtype=float).reshape(-1)
        n = np.asarray(x0).shape[0]
        s = np.ones(n)
        ok = np.isfinite(b) & (b > 0)
        s[n - b.shape[0]:] = np.where(ok, b, 1.0)
        start = len(fitlog)
        try:
            res = minimize_laplace(ScaledDeviance(devfun, s), np.asarray(x0, float) / s,
                                   np.asarray(lower, float) / s, np.asarray(upper, float) / s,
                                   settings, verbose=verbose, fitlog=fitlog, whiten=whiten,
                                   finish=finish)
        finally:
            fitlog[start:] = [(s * x, f) for x, f in fitlog[start:]]
        res.x = s * res.x
        return res
    try:
        return _minimize_laplace(devfun, x0, lower, upper, settings, verbose, fitlog, whiten,
                                 finish)
    except PirlsError as e:
        raise LaplaceFailed(str(e)) from None


def _whitened(obj, x0, fitlog, h0=HESSIAN_STEP):
    """(T, k): T T' ≈ H⁻¹ at x0, H the Hessian by forward differences of the gradient
    (its eigenvalues floored at 1e-8 of the largest), or None when it is not finite, and k
    the number of coordinates differenced; the evaluations are appended to ``fitlog``. Where the deviance offers
    ``beta_hessian`` (2 R_X'R_X: the second stage's β block but for log|A|'s curvature),
    only the covariance parameters' columns are differenced (n_par gradients instead of
    n_par + p)."""
    n = x0.shape[0]
    f0 = obj(x0)
    fitlog.append((x0.copy(), f0))
    g0 = obj.gradient(x0)
    bh = getattr(obj.devfun, "beta_hessian", None)
    Hb = bh(x0) if callable(bh) else None
    if Hb is not None:
        Hb = np.asarray(Hb, dtype=float)
        if Hb.ndim != 2 or Hb.shape[0] != Hb.shape[1] or not 0 < Hb.shape[0] < n:
            Hb = None
    nc = n - (Hb.shape[0] if Hb is not None else 0)
    H = _gradient_differences(obj, x0, g0, fitlog, nc, h0)
    if Hb is not None:
        H[:nc, nc:] = H[nc:, :nc].T
        H[nc:, nc:] = Hb
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return None, nc
    lam, V = np.linalg.eigh(H)
    top = float(np.max(np.abs(lam))) if n else 0.0
    if not top > 0:
        return None, nc
    lam = np.maximum(lam, 1e-8 * top)
    return V / np.sqrt(lam)[None, :], nc


class _Affine:
    """z ↦ obj(x0 + T z), with the gradient T'∇."""

    def __init__(self, obj, x0, T):
        self.obj, self.x0, self.T = obj, x0, T

    def x(self, z):
        return self.x0 + self.T @ np.asarray(z, dtype=float)

    def __call__(self, z):
        return self.obj(self.x(z))

    def gradient(self, z):
        return self.T.T @ self.obj.gradient(self.x(z))


def _newton_finish(obj, x, lo, hi, fitlog, H=None):
    """Newton steps from L-BFGS-B's end point ``x`` to the zero of the analytic gradient
    (:func:`~.polish.newton_polish`, steps down to :data:`FINISH_XTOL`): L-BFGS-B stops on
    its own tests (the relative decrease ``ftol``, the gradient ``gtol``), which one path
    meets a step earlier than another when the deviance's last bits differ — a fit on a
    cluster sums the same terms in another order — and the two end points are then up to
    ~1e-6 apart; the gradient's zero is the same for both to its rounding (~1e-10).

    ``H``: the Hessian in these coordinates (the whitened ones: about the identity) when
    known. Where it is not given, or its steps stop short of the zero (a whitening from a
    start where the deviance is not convex), the Hessian by forward differences of the
    gradient at the point reached (k more gradients). Returns (x, steps, evaluations).
    """
    from ..pls.glmm.pirls import PirlsError
    x = np.array(x, dtype=float)
    steps = evals = 0
    try:
        f = obj(x)
        g = obj.gradient(x)
        if not (np.all(np.isfinite(g)) and np.isfinite(f)):
            return x, 0, 0
        if H is not None:
            x, f, g, steps = _newton_steps(obj, x, f, g, H, lo, hi, fitlog)
            evals = steps
            if _converged(x, g, H, lo, hi):
                return x, steps, evals
        H = _forward_hessian(obj, x, g, fitlog)
        evals += x.shape[0]
        x, f, g, more = _newton_steps(obj, x, f, g, H, lo, hi, fitlog)
        return x, steps + more, evals + more
    except PirlsError:
        # PIRLS failed at a trial point of the finish: the last point reached stands
        return x, steps, evals


def _forward_hessian(obj, x, g, fitlog):
    """The Hessian by forward differences of the gradient at ``x`` (gradient ``g``),
    symmetrised; the evaluations appended to ``fitlog``."""
    H = _gradient_differences(obj, x, g, fitlog, x.shape[0])
    return 0.5 * (H + H.T)


def _gradient_differences(obj, x, g, fitlog, ncols, h0=HESSIAN_STEP):
    """An (n, n) array whose first ``ncols`` columns are forward differences of the gradient
    at ``x`` (gradient ``g``; relative step ``h0``), the evaluations appended to ``fitlog``;
    the other columns are left for the caller."""
    n = x.shape[0]
    H = np.empty((n, n))
    for j in range(ncols):
        h = h0 * max(1.0, abs(x[j]))
        xj = x.copy()
        xj[j] += h
        fitlog.append((xj, obj(xj)))
        H[:, j] = (obj.gradient(xj) - g) / h
    return H


def _converged(x, g, H, lo, hi):
    """Whether the Newton step from ``x`` is below :data:`FINISH_XTOL` (the free
    parameters'), i.e. the finish stopped at the gradient's zero rather than short of it."""
    free = (x > lo) & (x < hi)
    if not free.any():
        return True
    try:
        step = np.linalg.solve(H[np.ix_(free, free)], g[free])
    except np.linalg.LinAlgError:
        return False
    return bool(np.max(np.abs(step)) <= FINISH_XTOL * max(1.0, float(np.max(np.abs(x[free])))))


def _newton_steps(obj, x, f, g, H, lo, hi, fitlog):
    def f_logged(z):
        fz = obj(z)
        fitlog.append((np.array(z, dtype=float), fz))
        return fz

    return newton_polish(obj, f_logged, x, f, {"gradient": g, "Hessian": H}, lo, hi,
                         xtol=FINISH_XTOL)


def _minimize_laplace(devfun, x0, lower, upper, settings, verbose, fitlog, whiten, finish):
    obj = LaplaceObjective(devfun)
    x0 = np.array(x0, dtype=float)
    lo = np.asarray(lower, dtype=float)
    free = None
    if getattr(devfun, "par_is_theta", False):
        free = np.zeros(x0.shape[0], dtype=bool)
        free[: devfun.n_par] = lo[: devfun.n_par] == 0.0
        x0[free & (x0 == 0.0)] = START_STEP
        lo = np.where(free, -np.inf, lo)
    T = None
    n_diff = 0
    if whiten and not np.any(np.isfinite(lo)) and not np.any(np.isfinite(upper)):
        T, n_diff = _whitened(obj, x0, fitlog)
    if T is not None:
        aff = _Affine(obj, x0, T)
        start = len(fitlog)
        n = x0.shape[0]
        res = minimize_bounded(aff, np.zeros(n), np.full(n, -np.inf), np.full(n, np.inf),
                               method="lbfgsb", grad=aff.gradient, settings=settings,
                               verbose=verbose, fitlog=fitlog)
        if finish:
            z, steps, ev = _newton_finish(aff, res.x, np.full(n, -np.inf), np.full(n, np.inf),
                                          fitlog, H=np.eye(n))
            res.x, res.feval = z, res.feval + ev
            res.polish_steps = steps
        fitlog[start:] = [(aff.x(z), f) for z, f in fitlog[start:]]
        res.x = aff.x(res.x)
        res.feval += n_diff + 1
    else:
        res = minimize_bounded(obj, x0, lo, upper, method="lbfgsb", grad=obj.gradient,
                               settings=settings, verbose=verbose, fitlog=fitlog)
    if free is not None and T is None:
        # stopped exactly on a θ = 0 (L-BFGS-B's first step from θ = 1 has length 1): the
        # gradient there is 0 by symmetry, whatever the optimum; go on from inside
        stuck = free & (res.x == 0.0)
        if stuck.any():
            x1 = np.array(res.x, dtype=float)
            x1[stuck] = START_STEP
            res2 = minimize_bounded(obj, x1, lo, upper, method="lbfgsb", grad=obj.gradient,
                                    settings=settings, verbose=verbose, fitlog=fitlog)
            res2.feval += res.feval
            if res2.fun <= res.fun:
                res = res2
            else:
                res.feval = res2.feval
    x = np.asarray(res.x, dtype=float)
    if res.status < 0:
        # the line search failed: at the optimum, where the deviance's last digits are
        # rounding (accepted when the gradient there is ~0), or on a problem out of the
        # quasi-Newton steps' reach (a parameter at 1e16: the caller's fallback says which)
        g = obj.gradient(x)
        if not np.max(np.abs(g), initial=0.0) <= STALL_GRADIENT:
            raise LaplaceFailed(f"L-BFGS-B stopped with max|gradient| = "
                                f"{np.max(np.abs(g)):.3g}: {res.message}")
        res.status = 3
        res.message = (f"LBFGSB_ROUNDING_REACHED: the line search stopped at the deviance's "
                       f"rounding, max|gradient| {np.max(np.abs(g), initial=0.0):.2g}")
    if finish and T is None:
        x, steps, ev = _newton_finish(obj, x, lo, np.asarray(upper, dtype=float), fitlog)
        res.feval += ev
        res.polish_steps = steps
    if free is not None and free.any():
        x = _rectify(devfun, x)
    res.x = x
    res.fun = float(devfun(x))
    fitlog.append((x.copy(), res.fun))
    return res
