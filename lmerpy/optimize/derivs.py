"""Gradient and Hessian of the deviance at the optimum (R: ``lme4:::deriv12``).

Two ways:

* :func:`derivs_analytic` (lmerpy's default when the deviance has a ``gradient`` method): the
  exact gradient, and a Hessian from central differences *of that gradient* (symmetrised),
  one-sided where a bound is closer than the step. Costs 1 + 2k gradient evaluations for k
  parameters and is accurate to about ``delta**2`` in the Hessian and to rounding in the
  gradient, so lme4's gradient check no longer raises finite-difference false alarms. With
  ``scheme="forward"`` (the gradient-based fits of large models, where each gradient needs a
  factorisation of its own) the Hessian comes from forward differences instead: k gradients
  besides the one at the optimum, which the optimizer has already computed, accurate to about
  ``delta`` — ample for lme4's checks (definiteness, eigenvalue ratio, scaled gradient).
* :func:`deriv12` (lme4's method, the fallback): central finite differences of the deviance
  itself with step ``delta = 1e-4`` for both gradient and Hessian (about 2k^2 evaluations).
"""
from __future__ import annotations

import numpy as np

__all__ = ["derivs_analytic", "deriv12", "fd_gradient", "has_gradient", "compute_derivs",
           "forward_hessian", "DELTA"]

#: Step of the finite differences (lme4's ``deriv12`` default).
DELTA = 1e-4


def has_gradient(devfun):
    """True when ``devfun`` has a callable ``gradient`` attribute."""
    return callable(getattr(devfun, "gradient", None))


def _bounds(n, lower, upper):
    lo = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=float).ravel()
    hi = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float).ravel()
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def derivs_analytic(devfun, x, lower=None, upper=None, delta=DELTA, scheme="central"):
    """Analytic gradient and a Hessian from differences of the analytic gradient.

    Parameters
    ----------
    devfun : callable with ``gradient(x)``
        (and optionally ``gradients(points)``, the gradients at the rows of ``points`` in one
        call, which the stencil's 2k points then use)
    x : array_like
        The point (θ̂).
    lower, upper : array_like, optional
        Bounds: a coordinate closer than ``delta`` to a bound is differenced one-sidedly.
    delta : float
    scheme : {"central", "forward"}
        ``"central"``: 2k gradients around ``x`` (one-sided of second order near a bound);
        ``"forward"``: k gradients at ``x + delta·e_j`` (``x − delta·e_j`` where the upper
        bound is closer than ``delta``), the gradient at ``x`` being the deviance's cached one.

    Returns
    -------
    dict
        ``{"gradient", "Hessian", "method": "analytic", "evals"}`` where ``evals`` counts
        gradient evaluations.
    """
    x = np.array(x, dtype=float).ravel()
    n = x.size
    batch = getattr(devfun, "gradients", None)
    lo, hi = _bounds(n, lower, upper)
    if scheme == "forward":
        return _forward(devfun, x, lo, hi, delta)
    if scheme != "central":
        raise ValueError(f"scheme must be 'central' or 'forward'; got {scheme!r}")
    # the stencil: for each coordinate two steps (central, or one-sided second order inwards)
    steps, kinds = [], []
    for j in range(n):
        h = min(delta, (hi[j] - lo[j]) / 2.0)
        if x[j] - h >= lo[j] and x[j] + h <= hi[j]:      # central
            steps.append((h, -h))
            kinds.append(("central", h))
        elif x[j] + 2 * h <= hi[j]:                       # one-sided, second order, inwards
            steps.append((h, 2 * h))
            kinds.append(("up", h))
        else:
            steps.append((-h, -2 * h))
            kinds.append(("down", h))
    pts = np.repeat(x[None, :], 2 * n, axis=0)
    for j, (s1, s2) in enumerate(steps):
        pts[2 * j, j] += s1
        pts[2 * j + 1, j] += s2
    if callable(batch):                   # all 2k + 1 gradients in one call (small models)
        G = np.asarray(batch(np.vstack((x[None, :], pts))), dtype=float).reshape(2 * n + 1, n)
        g0, G = G[0], G[1:]
    else:
        g0 = np.asarray(devfun.gradient(x.copy()), dtype=float).ravel()
        G = np.stack([np.asarray(devfun.gradient(z.copy()), dtype=float).ravel()
                      for z in pts])
    H = np.empty((n, n))
    for j, (kind, h) in enumerate(kinds):
        a, b = G[2 * j], G[2 * j + 1]
        if kind == "central":
            H[:, j] = (a - b) / (2 * h)
        elif kind == "up":
            H[:, j] = (-3 * g0 + 4 * a - b) / (2 * h)
        else:
            H[:, j] = (3 * g0 - 4 * a + b) / (2 * h)
    H = 0.5 * (H + H.T)
    return {"gradient": g0, "Hessian": H, "method": "analytic", "evals": 1 + 2 * n}


def _forward(devfun, x, lo, hi, delta):
    """Forward differences of the analytic gradient (see :func:`derivs_analytic`)."""
    n = x.size
    g0 = np.asarray(devfun.gradient(x.copy()), dtype=float).ravel()
    h = np.minimum(delta, (hi - lo) / 2.0)
    h = np.where(x + h > hi, -h, h)             # backwards where the upper bound is closer
    H = forward_hessian(devfun, x, g0, h)
    return {"gradient": g0, "Hessian": H, "method": "analytic", "evals": 1 + n}


def forward_hessian(devfun, x, g, h, batch=True):
    """The Hessian at ``x`` by forward differences of ``devfun.gradient`` (``g`` the gradient
    at ``x``; step ``h[j]`` in coordinate ``j``, backwards where negative), symmetrised. With
    ``batch`` the gradients come from ``devfun.gradients(points)`` in one call where the
    deviance has it (the same values to rounding, not to the bit)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    h = np.broadcast_to(np.asarray(h, dtype=float), (n,))
    pts = np.repeat(x[None, :], n, axis=0)
    pts[np.arange(n), np.arange(n)] += h
    many = getattr(devfun, "gradients", None) if batch else None
    if callable(many):
        G = np.asarray(many(pts), dtype=float).reshape(n, n)
    else:
        G = np.stack([np.asarray(devfun.gradient(z.copy()), dtype=float).ravel() for z in pts])
    H = (G - g).T / h
    return 0.5 * (H + H.T)


def deriv12(fun, x, delta=DELTA, fx=None, lower=None, upper=None):
    """Finite-difference gradient and Hessian of ``fun`` (R: ``lme4:::deriv12``).

    Central differences with step ``delta`` (lme4's formulas, so away from the bounds the
    numbers are lme4's). lme4 evaluates outside the bounds when θ sits on one (lmer's optwrap
    passes no bounds); lmerpy never does: a coordinate closer than ``delta`` to a bound has its
    stencil centred ``delta`` inside the bound, and the gradient is carried back to ``x`` with
    the Hessian (first-order Taylor), so it stays accurate to O(delta^2).

    When ``fun`` has ``deviances(points)`` (the values at the rows of ``points``, each what
    ``fun`` returns there: a GLMM deviance), the whole stencil (2k² points, in the order of
    the point-by-point evaluation) is passed in one call.

    Returns
    -------
    dict
        ``{"gradient", "Hessian", "method": "finite differences", "evals"}``.
    """
    x = np.array(x, dtype=float).ravel()
    n = x.size
    lo, hi = _bounds(n, lower, upper)
    h = np.minimum(delta, (hi - lo) / 2.0)
    c = np.clip(x, lo + h, hi - h)
    need_fx = fx is None or not np.array_equal(c, x)

    def at(*moves):
        z = c.copy()
        for i, s in moves:
            z[i] += s * h[i]
        return z

    # the stencil, in lme4's order: (+j, −j), then (+i+j, +i−j, −i+j, −i−j) for i < j
    pts = [c.copy()] if need_fx else []
    for j in range(n):
        pts += [at((j, 1)), at((j, -1))]
        for i in range(j):
            pts += [at((i, 1), (j, 1)), at((i, 1), (j, -1)), at((i, -1), (j, 1)),
                    at((i, -1), (j, -1))]
    batch = getattr(fun, "deviances", None)
    if callable(batch) and len(pts) > 1:
        vals = [float(v) for v in np.asarray(batch(np.array(pts)), dtype=float).ravel()]
    else:
        vals = [float(fun(z)) for z in pts]
    count = len(vals)
    it = iter(vals)
    if need_fx:
        fx = next(it)
    H = np.full((n, n), np.nan)
    g = np.zeros(n)
    for j in range(n):
        fadd = next(it)
        fsub = next(it)
        H[j, j] = (fadd - 2 * fx + fsub) / h[j] ** 2
        g[j] = (fadd - fsub) / (2 * h[j])
        for i in range(j):
            fpp, fpm, fmp, fmm = next(it), next(it), next(it), next(it)
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h[i] * h[j])
    if not np.array_equal(c, x):
        g = g - H @ (c - x)
    return {"gradient": g, "Hessian": H, "method": "finite differences", "evals": count}


def fd_gradient(fun, x, H, delta=DELTA, lower=None, upper=None):
    """The gradient of :func:`deriv12` alone (central differences of ``fun``, 2k
    evaluations), its stencil moved inside the bounds as there and carried back to ``x`` with
    the Hessian ``H`` (known from elsewhere). Returns ``(gradient, evaluations)``."""
    x = np.array(x, dtype=float).ravel()
    n = x.size
    lo, hi = _bounds(n, lower, upper)
    h = np.minimum(delta, (hi - lo) / 2.0)
    c = np.clip(x, lo + h, hi - h)
    g = np.zeros(n)
    for j in range(n):
        z = c.copy()
        z[j] += h[j]
        fadd = float(fun(z))
        z[j] = c[j] - h[j]
        g[j] = (fadd - float(fun(z))) / (2 * h[j])
    if not np.array_equal(c, x):
        g = g - np.asarray(H, dtype=float) @ (c - x)
    return g, 2 * n


def compute_derivs(devfun, x, lower=None, upper=None, use_gradient="auto", fx=None,
                   delta=DELTA, scheme="central"):
    """Derivatives at ``x`` by the method ``use_gradient`` selects (see
    :class:`lmerpy.optimize.Control`); ``scheme`` is that of :func:`derivs_analytic` when
    the analytic gradient is used."""
    if use_gradient is True or (use_gradient == "auto" and has_gradient(devfun)):
        if not has_gradient(devfun):
            from .control import ControlError
            raise ControlError("use_gradient=True but the deviance function has no gradient")
        try:
            return derivs_analytic(devfun, x, lower, upper, delta, scheme=scheme)
        except NotImplementedError:
            if use_gradient is True:
                raise
    return deriv12(devfun, x, delta=delta, fx=fx, lower=lower, upper=upper)
