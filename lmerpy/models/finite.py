"""The last check before a fitted model is built: every estimate is a finite number.

A fit whose criterion, β, θ, σ or fitted values overflowed or underflowed (data on an extreme
scale, a weight or offset of 1e300...) must not be returned as a success. lme4 has no such
check (it returns σ = 0 or NaN estimates silently); lmerpy raises :class:`FitError` naming the
quantity and the data's most extreme columns, so that the user knows what to rescale.

Called once per fit by every path that builds a result (``mkMerMod``, ``mkGlmerMod``: lmer,
glmer, glmer_nb, refit, update, bootstrap refits); nothing here runs per deviance evaluation.
"""
from __future__ import annotations

import math

import numpy as np

from ..design.scales import scale_summary
from ..errors import FitError

__all__ = ["check_finite_fit"]

#: σ² must be a normal double (not subnormal): below this the variances, vcov and conditional
#: variances derived from σ² have lost their precision or are 0
_TINY = float(np.finfo(float).tiny)


def _bad(values):
    """Is any entry non-finite?"""
    return not bool(np.all(np.isfinite(np.asarray(values, dtype=float))))


def _describe(values):
    a = np.asarray(values, dtype=float).reshape(-1)
    if a.size == 1:
        return repr(float(a[0]))
    bad = ~np.isfinite(a)
    return f"{int(bad.sum())} of {a.size} entries {sorted({repr(float(v)) for v in a[bad]})}"


def check_finite_fit(design, sol, *, glmm=False, has_scale=True):
    """Raise :class:`FitError` unless the fitted model's estimates are finite numbers.

    Checks the criterion at the optimum, β, θ, the conditional modes b, the fitted values and
    (when the model has one) σ, which must also be positive with σ² a normal double (else the
    variances, ``vcov`` and ``VarCorr`` are 0 or infinite); for GLMMs also the deviance (sum
    of the deviance residuals).

    Parameters
    ----------
    design : lmerpy.design.structures.Design
        For the message (the response's name and the model matrix's columns).
    sol : lmerpy.pls.PlsSolution or lmerpy.pls.glmm.deviance.GlmmSolution
    glmm : bool
    has_scale : bool
        Whether σ is estimated (LMMs, Gamma, inverse Gaussian).

    Raises
    ------
    FitError
        Naming the first non-finite quantity and suggesting to rescale the response or the
        predictors with the most extreme scales.
    """
    checks = [("criterion (deviance)" if glmm else "criterion (REML criterion or deviance)",
               sol.criterion),
              ("β (fixef)", sol.beta), ("θ", sol.theta), ("b (ranef)", sol.b)]
    if glmm:
        dr = sol.devres      # None: a fit on reduced products (its sum is drsum)
        checks.append(("deviance (sum of deviance residuals)",
                       sol.drsum if dr is None else np.sum(dr)))
        if sol.mu is not None:
            checks.append(("fitted values", sol.mu))
    elif sol.fitted is not None:          # None: fitted from reduced cross-products
        checks.append(("fitted values", sol.fitted))
    problem = None
    for name, value in checks:
        if _bad(value):
            problem = f"a non-finite {name}: {_describe(value)}"
            break
    if problem is None and has_scale:
        s = float(sol.sigma)
        if not math.isfinite(s):
            problem = f"a non-finite σ: {s!r}"
        elif not s > 0:
            problem = "σ = 0 (the residual variance underflowed)"
        elif not (math.isfinite(s * s) and s * s >= _TINY):
            problem = (f"σ = {s:.4g}, whose square (the residual variance) is not "
                       "representable in double precision")
    if problem is None:
        return
    raise FitError(f"the fit produced {problem}. The data are probably on an extreme scale; "
                   f"rescale them (divide a variable by a power of 10 and transform the "
                   f"estimates back). {scale_summary(design)}")
