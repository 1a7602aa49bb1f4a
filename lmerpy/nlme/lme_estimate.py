"""lme's profiled likelihood: lmerpy's PLS deviance on data whitened by the residual
structure, and its optimisation.

R equivalent: ``nlme:::logLik.lmeStruct`` / ``lmeEstimate`` (Pinheiro & Bates 2000, sections
2.2 and 5.1), with lme4's PLS formulation of the random-effects part (Bates et al. 2015).

For residual-structure parameters ``s`` (variance function and correlation, nlme's
unconstrained scale) the rows of ``[X Z y]`` are scaled by the variance weights ``w`` and
whitened group by group by the correlation factor ``L_g`` (``C_g = L_g L_g'``; the
correlation's groups nest within every random-effects level, so a whitened row of ``Z`` keeps
its levels and ``Z``'s pattern is unchanged). On the whitened data the model is an LMM with
independent homoscedastic errors, and

    logLik(theta, s) = -deviance_PLS(theta; whitened data) / 2 + sum log w - sum_g log|L_g|

(lme4's REML criterion or ML deviance). beta and sigma profile out as in ``lmer``.

* No residual structure: the deviance is ``lmer``'s own (:class:`lmerpy.pls.LmmDeviance` on
  the design, built once, nothing of size n per evaluation) and it is minimised by ``lmer``'s
  optimizer: ``lme`` then gives ``lmer``'s criterion and estimates exactly.
* A variance function only: the whitening is a row scaling, i.e. ``lmer`` with prior
  weights ``w^2`` (whose deviance already holds ``-sum log w^2``).
* A correlation: the whitened ``X``, ``y`` and the terms' raw matrices give a new ``Z``; O(n)
  per structure value, vectorised (:mod:`lmerpy.nlme.blocks`).

The structure parameters are optimised on the profile ``max_theta logLik(theta, s)`` (trust-
region Newton on finite differences, as ``gls``; the inner maximisation is ``lmer``'s
optimizer from the previous theta): by the envelope theorem the profile is as smooth as the
likelihood, and each inner fit is an ordinary ``lmer`` fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..design.reterms import build_zt
from ..errors import FitError
from ..optimize import lme4_start_theta, lmerControl, optimize_lmer
from ..pls import LmmDeviance
from .estimate import GlsCriterion

__all__ = ["LmeCriterion", "LmeEstimate", "WhitenedDesign", "newton_inner"]


class WhitenedDesign:
    """A design with some of its n-long parts replaced (everything else read from the base
    design): what :class:`~lmerpy.pls.LmmDeviance` reads."""

    def __init__(self, base: Any, **parts: Any) -> None:
        self._base = base
        self.__dict__.update(parts)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["_base"], name)


@dataclass
class LmeEstimate:
    """The fit at given parameters: ``spar`` (structure, unconstrained), ``par`` (the random
    effects' covariance parameters as the PLS deviance takes them), and the solution."""

    spar: np.ndarray
    par: np.ndarray
    theta: np.ndarray
    beta: np.ndarray
    b: np.ndarray              # random effects in Zt's row order (lme4's term order)
    # varBeta: nlme's varFix = lme4's vcov, sigma^2 (R_X'R_X)^-1 (summary() scales the ML
    # standard errors by sqrt(n / (n - p)), nlme's adjustSigma)
    sigma: float
    logLik: float
    varBeta: np.ndarray
    weights: np.ndarray        # variance weights (1 without a variance function)
    deviance: float            # the PLS criterion on the whitened data


_INNER = lmerControl()


def newton_inner(dev: Any, x0, max_iter: int = 30, gtol: float = 1e-8
                 ) -> Optional[Tuple[np.ndarray, float]]:
    """Minimise the PLS deviance ``dev`` from ``x0`` (near its minimum) by Newton steps: the
    analytic gradient, the Hessian by forward differences of it, step halving. Returns
    ``(par, deviance)`` at an interior point where the gradient is below ``gtol`` (scaled by
    ``1 + |deviance|``), or None (not converged, a parameter near its bound, an indefinite
    Hessian): the caller then runs ``lmer``'s optimizer."""
    lower = np.asarray(dev.lower, dtype=float)
    upper = np.asarray(dev.upper, dtype=float)
    x = np.asarray(x0, dtype=float).copy()
    k = x.size
    if k == 0:
        return None
    margin = 1e-4
    try:
        f = float(dev(x))
        for _ in range(max_iter):
            if np.any(x - lower < margin) or np.any(upper - x < margin):
                return None
            g = np.asarray(dev.gradient(x), dtype=float)
            if not np.all(np.isfinite(g)):
                return None
            if float(np.max(np.abs(g))) <= gtol * (1.0 + abs(f)):
                return x, f
            h = 1e-6 * np.maximum(1.0, np.abs(x))
            H = np.empty((k, k))
            for j in range(k):
                e = np.zeros(k)
                e[j] = h[j]
                H[:, j] = (np.asarray(dev.gradient(x + e), dtype=float) - g) / h[j]
            H = (H + H.T) / 2.0
            try:
                np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                return None
            step = np.linalg.solve(H, g)
            t = 1.0
            while True:
                xn = x - t * step
                if np.all(xn > lower) and np.all(xn < upper):
                    fn = float(dev(xn))
                    if math.isfinite(fn) and fn <= f + 1e-12 * (1.0 + abs(f)):
                        break
                t /= 2.0
                if t < 1e-6:
                    return None
            x, f = xn, fn
    except (FitError, np.linalg.LinAlgError, ValueError):
        return None
    return None


class LmeCriterion:
    """The profiled log-likelihood of an lme model as a function of the residual-structure
    parameters (and of the random effects' parameters: :meth:`loglik_at`).

    Parameters
    ----------
    design : lmerpy.design.structures.Design
        The mixed-model design on nlme's sorted rows.
    correlation, weights : bound structures or None
    REML : bool
    control : Control, optional
        The ``lmerControl`` of the random-effects optimisation (without residual structure:
        exactly ``lmer``'s).
    """

    def __init__(self, design: Any, correlation: Any = None, weights: Any = None,
                 REML: bool = True, control: Any = None) -> None:
        self.design = design
        self.REML = bool(REML)
        self.cor = correlation
        self.var = weights
        self.control = control if control is not None else lmerControl()
        self.X = np.asarray(design.X, dtype=float)
        self.y = np.asarray(design.y, dtype=float).reshape(-1)
        self.n, self.p = self.X.shape
        self.gls = GlsCriterion(self.X, self.y, correlation, weights, REML=REML)
        self.base = LmmDeviance(design, REML=self.REML)
        self.widths = [t.n_columns for t in design.reterms]
        self.Zraw = np.column_stack([np.asarray(t.X, dtype=float).reshape(self.n, -1)
                                     for t in design.reterms])
        self.D = np.column_stack([self.X, self.Zraw, self.y])
        self._cache: Dict[bytes, Tuple[Any, float, np.ndarray]] = {}
        # lmer's start (lme4's for scalar random intercepts): lme without structure = lmer
        self._warm = np.asarray(lme4_start_theta(design), dtype=float)
        self._warm_ok = False        # _warm is an optimum (of a nearby structure value)
        self.evaluations = 0

    # ------------------------------------------------------------------ sizes
    @property
    def npar(self) -> int:
        """Number of residual-structure parameters."""
        return self.gls.npar

    @property
    def has_structure(self) -> bool:
        return self.cor is not None or self.var is not None

    def split(self, spar):
        return self.gls.split(spar)

    def start(self) -> np.ndarray:
        """The residual structure's initial parameters."""
        return self.gls.start()

    def set_random_start(self, par) -> None:
        """Start the next random-effects optimisation from ``par``."""
        self._warm = np.asarray(par, dtype=float).copy()

    def start_random(self) -> np.ndarray:
        """lmer's initial random-effects parameters."""
        return self._warm.copy()

    # ------------------------------------------------------------------ the deviance at s
    def deviance_at(self, spar) -> Tuple[Optional[LmmDeviance], float, np.ndarray]:
        """(the PLS deviance on the data whitened at ``spar``, the log-likelihood's extra
        terms, the variance weights); (None, -inf, w) where the structure is invalid."""
        spar = np.asarray(spar, dtype=float).reshape(-1)
        if not self.has_structure:
            return self.base, 0.0, np.ones(self.n)
        key = spar.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        pc, pv = self.split(spar)
        w = self.var.weights(pv) if self.var is not None else np.ones(self.n)
        out: Tuple[Optional[LmmDeviance], float, np.ndarray]
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            out = (None, -math.inf, w)
        elif self.cor is None:
            dev = LmmDeviance(WhitenedDesign(self.design, weights=w * w), REML=self.REML)
            out = (dev, 0.0, w)
        else:
            Dw, extra = self.gls.whitened(spar, D=self.D)
            if Dw is None or not np.all(np.isfinite(Dw)):
                out = (None, -math.inf, w)
            else:
                p = self.p
                Xw = np.ascontiguousarray(Dw[:, :p])
                yw = np.ascontiguousarray(Dw[:, -1])
                terms = []
                c = p
                for t, k in zip(self.design.reterms, self.widths):
                    terms.append(replace(t, X=np.ascontiguousarray(Dw[:, c:c + k])))
                    c += k
                Zt = build_zt(terms, self.n)
                wd = WhitenedDesign(self.design, X=Xw, y=yw, Zt=Zt, reterms=terms,
                                    weights=np.ones(self.n), offset=np.zeros(self.n))
                out = (LmmDeviance(wd, REML=self.REML), float(extra), w)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = out
        return out

    def clear(self) -> None:
        """Forget the whitened deviances (after a ``fitted(.)`` covariate changed)."""
        self._cache.clear()

    def loglik_at(self, spar, par) -> float:
        """The log-likelihood at structure ``spar`` and random-effects parameters ``par``."""
        dev, extra, _w = self.deviance_at(spar)
        if dev is None:
            return -math.inf
        try:
            d = float(dev(np.asarray(par, dtype=float)))
        except FitError:
            return -math.inf
        return -d / 2.0 + extra

    def inner(self, spar, start=None, quick: bool = False) -> Tuple[np.ndarray, float]:
        """(the random effects' parameters maximising the likelihood at ``spar``, the
        profiled log-likelihood there).

        ``quick``: from the previous optimum (the structure optimisation's profile, whose
        points are close together), Newton steps on the deviance's analytic gradient with a
        difference Hessian (:func:`newton_inner`); where they do not reach an interior
        stationary point, ``lmer``'s optimizer."""
        dev, extra, _w = self.deviance_at(spar)
        if dev is None:
            return self._warm.copy(), -math.inf
        x0 = np.asarray(self._warm if start is None else start, dtype=float)
        if quick and self._warm_ok:
            got = newton_inner(dev, x0)
            if got is not None:
                self._warm = got[0].copy()
                return got[0], -got[1] / 2.0 + extra
        control = self.control if not self.has_structure else _INNER
        try:
            opt = optimize_lmer(dev, x0, np.asarray(dev.lower, dtype=float), control=control,
                                upper=np.asarray(dev.upper, dtype=float))
        except FitError:
            return x0, -math.inf
        par = np.asarray(opt.theta, dtype=float)
        val = float(opt.fmin)
        if not math.isfinite(val):
            return par, -math.inf
        self._warm = par.copy()
        self._warm_ok = True
        return par, -val / 2.0 + extra

    def loglik(self, spar) -> float:
        """The profiled log-likelihood at structure parameters ``spar`` (what the structure
        optimisation maximises)."""
        self.evaluations += 1
        return self.inner(spar, quick=True)[1]

    def estimate(self, spar, par) -> LmeEstimate:
        """Everything at ``(spar, par)``."""
        spar = np.asarray(spar, dtype=float).reshape(-1)
        dev, extra, w = self.deviance_at(spar)
        if dev is None:
            raise FitError("lme: the residual structure is not valid at the estimates "
                           "(non-finite weights or a correlation matrix that is not positive "
                           "definite)")
        par = np.asarray(par, dtype=float)
        sol = dev.solve(par)
        crit = float(dev(par))
        return LmeEstimate(spar=spar, par=par, theta=np.asarray(sol.theta, dtype=float),
                           beta=np.asarray(sol.beta, dtype=float),
                           b=np.asarray(sol.b, dtype=float), sigma=float(sol.sigma),
                           logLik=-crit / 2.0 + extra,
                           varBeta=np.asarray(sol.vcov_beta, dtype=float),
                           weights=np.asarray(w, dtype=float), deviance=crit)
