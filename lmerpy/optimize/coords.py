"""Optimizer coordinates scaled to the data, for random-effects (and, in glmer's second stage,
fixed-effects) columns on extreme scales.

θ is relative to the columns of Z: if a column of a random term's model matrix is multiplied
by s, the θ of that column's row of the template are divided by s (Λ's row i scales as 1/s_i)
and nothing else changes. lme4 starts θ at 1, steps 0.2 and tests θ against 1e-5 (boundary)
and 1e-4 (singular fit) whatever the columns' scale, so a random slope of a covariate measured
in units 1e4 times too small or too large is out of the optimizer's reach: it stops at a
wrong optimum (a "singular fit", a lost slope variance) or fails. The same holds for β in
glmer's second stage (Nelder–Mead steps capped at 10, its finite-difference Hessian).

So when a column's largest |value| is beyond 2^±SCALE_EXPONENT, the optimizer runs in
coordinates x_s = x / s (s a power of 2 per parameter, exact in floating point): θ_s is the θ
of the problem with that column rescaled to about 1, and the optimizer, its restarts, boundary
snapping, derivatives and lme4's convergence checks all see the rescaled problem. The result
is transformed back (θ = s·θ_s exactly): the estimates are those of the rescaled problem,
rescaled back. Columns within the range (all of lme4's reference data) leave s = 1, and the
optimization is untouched, bit for bit.

R equivalent: none (lme4 recommends rescaling; its ``checkScaleX`` warns for X only).
"""
from __future__ import annotations

import numpy as np

from ..design.scales import SCALE_EXPONENT, coordinate_scale

__all__ = ["SCALE_EXPONENT", "coordinate_scale", "ScaledDeviance", "to_model_coordinates",
           "to_optimizer_coordinates"]

class ScaledDeviance:
    """``devfun`` in optimizer coordinates: x_s ↦ devfun(s·x_s), with the gradient, the batch
    of gradients, the average-information matrix and θ's sign rectification transformed
    (``s·∇``, ``S·I·S``); other attributes (``design``, ``q``...) are ``devfun``'s."""

    def __init__(self, devfun, scale):
        self._dev = devfun
        self.scale = np.asarray(scale, dtype=float)
        for name in ("gradient", "gradients", "information", "derivatives", "rectify_theta",
                     "laplace", "laplace_gradient", "deviances", "beta_hessian"):
            if not callable(getattr(devfun, name, None)):
                setattr(self, name, None)

    def __getattr__(self, name):
        return getattr(self._dev, name)

    def __call__(self, x):
        return self._dev(self.scale * np.asarray(x, dtype=float))

    def gradient(self, x):
        return self.scale * np.asarray(self._dev.gradient(self.scale * np.asarray(x, float)))

    def laplace(self, x, warm=False):
        return self._dev.laplace(self.scale * np.asarray(x, dtype=float), warm=warm)

    def laplace_gradient(self, x):
        s = self.scale
        return s * np.asarray(self._dev.laplace_gradient(s * np.asarray(x, float)))

    def deviances(self, xs):
        return self._dev.deviances(np.atleast_2d(np.asarray(xs, dtype=float)) * self.scale)

    def beta_hessian(self, x):
        H = self._dev.beta_hessian(self.scale * np.asarray(x, dtype=float))
        if H is None:
            return None
        sb = self.scale[self.scale.shape[0] - H.shape[0]:]
        return np.asarray(H, dtype=float) * np.outer(sb, sb)

    def gradients(self, xs):
        xs = np.atleast_2d(np.asarray(xs, dtype=float))
        return np.asarray(self._dev.gradients(xs * self.scale)) * self.scale

    def information(self, x):
        s = self.scale
        return np.asarray(self._dev.information(s * np.asarray(x, float))) * np.outer(s, s)

    def derivatives(self, x):
        s = self.scale
        g, H = self._dev.derivatives(s * np.asarray(x, float))
        return s * np.asarray(g, dtype=float), np.asarray(H, dtype=float) * np.outer(s, s)

    def rectify_theta(self, x):
        s = self.scale
        return np.asarray(self._dev.rectify_theta(s * np.asarray(x, float)), dtype=float) / s


def to_model_coordinates(optsum, scale):
    """Transform an :class:`OptSummary` of a run in optimizer coordinates back (θ = s·θ_s,
    gradient g/s, Hessian H/(s s')) and record ``scale`` in ``optsum.coord_scale``."""
    s = np.asarray(scale, dtype=float)
    optsum.theta_start = s * np.asarray(optsum.theta_start, dtype=float)
    optsum.theta = s * np.asarray(optsum.theta, dtype=float)
    optsum.fitlog = [(s * np.asarray(x, dtype=float), f) for x, f in optsum.fitlog]
    if optsum.lower is not None:
        optsum.lower = s * np.asarray(optsum.lower, dtype=float)
    if optsum.upper is not None:
        optsum.upper = s * np.asarray(optsum.upper, dtype=float)
    if optsum.derivs is not None:
        d = dict(optsum.derivs)
        if d.get("gradient") is not None:
            d["gradient"] = np.asarray(d["gradient"], dtype=float) / s
        if d.get("Hessian") is not None:
            d["Hessian"] = np.asarray(d["Hessian"], dtype=float) / np.outer(s, s)
        optsum.derivs = d
    optsum.coord_scale = s
    return optsum


def to_optimizer_coordinates(optsum, coefs, lower, derivs):
    """(coefs, lower, derivs) in the coordinates the optimizer ran in (identity when the
    optimization was not scaled): what lme4's convergence checks look at."""
    s = getattr(optsum, "coord_scale", None)
    if s is None:
        return coefs, lower, derivs
    s = np.asarray(s, dtype=float)
    if s.shape != np.shape(coefs):
        return coefs, lower, derivs
    coefs = coefs / s
    lower = lower / s
    if derivs is not None:
        d = dict(derivs)
        if d.get("gradient") is not None:
            d["gradient"] = np.asarray(d["gradient"], dtype=float) * s
        if d.get("Hessian") is not None:
            d["Hessian"] = np.asarray(d["Hessian"], dtype=float) * np.outer(s, s)
        derivs = d
    return coefs, lower, derivs
