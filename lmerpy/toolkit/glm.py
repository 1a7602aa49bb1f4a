"""A glm's profile-likelihood confidence intervals as ``MASS`` computes them (``confint(glm)``:
``MASS:::profile.glm`` then ``MASS:::confint.profile.glm``): each coefficient fixed at up to
nine steps of a fifth of the profile's extent (in standard errors) on each side, the others
refitted (R's ``glm.fit``, started at the previous linear predictor) with it as an offset, the
signed root of the deviance change; the limits read off R's ``spline`` of that profile by
linear interpolation. lmList's intervals of a generalized per-group fit.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..errors import FitError
from ..families import Family
from ..inference.profile_spline import approx_linear, spline_fmm
from ..pls.glm_fit import GlmFit, glm_fit

__all__ = ["profile_confint"]


def profile_confint(X, y, wt, offset, fam: Family, fit: GlmFit, dispersion: float,
                    level: float, what: str = "the glm") -> np.ndarray:
    """``confint(glm, level=level)`` as MASS: one row (lower, upper) per column of ``X``, NaN
    for aliased coefficients and where the profile does not reach the limit."""
    alpha = (1 - level) / 4                       # confint.glm profiles to half the tail
    p = X.shape[1]
    n = X.shape[0]
    if fam.family in ("binomial", "poisson"):
        zmax = math.sqrt(stats.chi2.ppf(1 - alpha, 1))
    else:
        zmax = math.sqrt(stats.f.ppf(1 - alpha, 1, n - p))
    step_size = zmax / 5
    b0 = fit.coefficients
    est = np.isfinite(b0)
    se = np.sqrt(dispersion * np.diag(fit.cov_unscaled))
    eta0 = X[:, est] @ b0[est] + offset
    a = (1 - level) / 2
    cutoff = stats.norm.ppf([a, 1 - a])
    out = np.full((p, 2), np.nan)
    for i in np.flatnonzero(est):
        others = est.copy()
        others[i] = False
        Xi = X[:, others]
        zs, bs = [0.0], [b0[i]]
        for sgn in (-1.0, 1.0):
            lp = eta0
            z = 0.0
            step = 0
            while (step := step + 1) < 10 and abs(z) < zmax:
                bi = b0[i] + sgn * step * step_size * se[i]
                o = offset + X[:, i] * bi
                f = glm_fit(Xi, y, wt, o, fam, etastart=lp)
                lp = f.linear_predictors
                zz = (f.deviance - fit.deviance) / dispersion
                if zz <= -0.001:
                    raise FitError(
                        f"profiling {what} has found a better solution, so the original fit "
                        f"had not converged (coefficient {i + 1})")
                z = sgn * math.sqrt(max(zz, 0.0))
                zs.append(z)
                bs.append(bi)
        order = np.argsort(zs, kind="stable")
        sx, sy = spline_fmm(np.asarray(bs)[order], np.asarray(zs)[order])
        out[i] = approx_linear(sy, sx, cutoff)
    return out
