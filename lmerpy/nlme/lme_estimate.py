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
* A correlation: the whitened ``X``, ``y`` and the terms' raw matrices fill ``Z``'s pattern;
  O(n) per structure value, vectorised (:mod:`lmerpy.nlme.blocks`).

Either way the design is the same at every structure value: the new rows go into one
template deviance (:meth:`~lmerpy.pls.LmmDeviance.with_data`: its pattern maps, symbolic
analysis (CHOLMOD's included) and blocked factor layout reused, the cross-products formed on
the known structure, the values of the theta-map and of the layout refilled), so a structure
value costs the whitening and the O(n) cross-products.

The structure parameters are optimised on the profile ``max_theta logLik(theta, s)`` (trust-
region Newton on finite differences, as ``gls``): by the envelope theorem the profile is as
smooth as the likelihood. The inner maximisation is Newton steps on the deviance's analytic
gradient from the previous optimum and Hessian model (:func:`newton_inner`), lme4's BOBYQA
where they do not get there; the optimum at each structure value is kept, so the fit's
closing inner fit at the structure's optimum is the one the optimisation saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..design.reterms import build_zt
from ..design.sparse import trusted_csc
from ..errors import FitError
from ..optimize import lme4_start_theta, lmerControl, optimize_lmer
from ..optimize.derivs import forward_hessian
from ..optimize.newton import NEWTON_SETTINGS, model_derivatives, trust_newton
from ..pls import LmmDeviance
from ..pls.crossprod import ReducedProducts
from .estimate import GlsCriterion
from .varfunc import varIdent

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


def _difference_hessian(dev: Any, x: np.ndarray, g: np.ndarray) -> Optional[np.ndarray]:
    """The deviance's Hessian at ``x`` by forward differences of its analytic gradient
    (``g`` at ``x``), symmetrised; None where it is not positive definite."""
    H = forward_hessian(dev, x, g, 1e-6 * np.maximum(1.0, np.abs(x)), batch=False)
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return H


def newton_inner(dev: Any, x0, max_iter: int = 30, gtol: float = 1e-8,
                 hessian: Optional[np.ndarray] = None
                 ) -> Optional[Tuple[np.ndarray, float, Optional[np.ndarray]]]:
    """Minimise the PLS deviance ``dev`` from ``x0`` (near its minimum) by Newton steps: the
    analytic gradient, step halving. Returns ``(par, deviance, Hessian model or None)`` at an
    interior point where the gradient is below ``gtol`` (scaled by ``1 + |deviance|``), or
    None (not converged, a parameter near its bound, an indefinite Hessian): the caller then
    runs ``lmer``'s optimizer.

    The first Hessian is ``hessian`` (positive definite, e.g. the last one of a nearby
    minimisation: the profile over a residual structure moves in small steps) or forward
    differences of the gradient at ``x0``; after each step it is updated by BFGS from the
    change of the gradient (no more gradients than the iterations need). Where a step fails
    the Hessian is differenced again at the current point (once per point). The stopping
    test is on the analytic gradient either way."""
    lower = np.asarray(dev.lower, dtype=float)
    upper = np.asarray(dev.upper, dtype=float)
    x = np.array(x0, dtype=float).reshape(-1)
    k = x.size
    if k == 0:
        return None
    margin = 1e-4
    lo_in, hi_in = lower + margin, upper - margin      # a parameter this near: declined
    H = None
    if hessian is not None:
        H = np.asarray(hessian, dtype=float)
        if H.shape != (k, k) or not np.isfinite(H).all():
            H = None
    try:
        f = float(dev(x))
        g = np.asarray(dev.gradient(x), dtype=float)
        fresh = False                   # H was differenced at x
        for _ in range(max_iter):
            if (x < lo_in).any() or (x > hi_in).any() or not np.isfinite(g).all():
                return None
            if float(np.abs(g).max()) <= gtol * (1.0 + abs(f)):
                return x, f, H
            while True:
                if H is None:
                    H = _difference_hessian(dev, x, g)
                    if H is None:
                        return None
                    fresh = True
                step: Optional[np.ndarray]
                if k == 1:
                    step = g / H[0, 0] if H[0, 0] > 0 else None
                else:
                    try:
                        step = np.linalg.solve(H, g)
                    except np.linalg.LinAlgError:
                        step = None
                t = 1.0
                while step is not None:
                    xn = x - t * step
                    if (xn > lower).all() and (xn < upper).all():
                        fn = float(dev(xn))
                        if math.isfinite(fn) and fn <= f + 1e-12 * (1.0 + abs(f)):
                            break
                    t /= 2.0
                    if t < 1e-6:
                        step = None
                if step is not None:
                    break
                if fresh:
                    return None
                H = None                # a stale model: difference it here
            gn = np.asarray(dev.gradient(xn), dtype=float)
            s_ = xn - x
            if float((np.abs(s_) / np.maximum(1.0, np.abs(x))).max()) > 1e-6:
                H = _bfgs(H, s_, gn - g)     # (a shorter step's change is rounding)
            fresh = False
            x, f, g = xn, fn, gn
    except (FitError, np.linalg.LinAlgError, ValueError):
        return None
    return None


def _bfgs(H: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The BFGS update of the Hessian model ``H`` by the step ``s`` and the gradient change
    ``y`` (``H`` unchanged where the curvature ``s'y`` is not positive)."""
    sy = float(s @ y)
    Hs = H @ s
    sHs = float(s @ Hs)
    if not (sy > 1e-12 * math.sqrt(float(s @ s) * float(y @ y)) and sHs > 0):
        return H
    return H - np.outer(Hs, Hs) / sHs + np.outer(y, y) / sy


def _trust_region_start(dev: Any, x0: np.ndarray
                        ) -> Optional[Tuple[np.ndarray, float, Optional[np.ndarray]]]:
    """From a far start: lmer's ``newton_ai`` trust region (analytic gradient, average
    information plus the Euler term; the signs of θ's columns free, fixed afterwards) without
    lmer's checks and warnings, then :func:`newton_inner` to an interior stationary point.
    None where either does not get there (the caller runs lme4's BOBYQA path)."""
    derivs = model_derivatives(dev)
    if derivs is None:
        return None
    lower = np.asarray(dev.lower, dtype=float)
    upper = np.asarray(dev.upper, dtype=float)
    rectify = dev.rectify_theta
    lo = np.where(lower == 0, -np.inf, lower) if callable(rectify) else lower
    try:
        res = trust_newton(dev, derivs, np.asarray(x0, dtype=float), lo, upper,
                           settings=NEWTON_SETTINGS)
    except (FitError, np.linalg.LinAlgError, ValueError):
        return None
    if res.status < 0 or not math.isfinite(res.fun):
        return None
    x = np.asarray(rectify(res.x) if callable(rectify) else res.x, dtype=float)
    return newton_inner(dev, x)


#: The random-effects optimisation inside a fit with a residual structure where Newton steps
#: do not reach the optimum: lme4's BOBYQA path, then polished at the optimum (quiet at a
#: boundary optimum, where ``newton_ai`` warns); without a structure lme is lmer, with
#: lmer's default
_INNER = lmerControl(optimizer="nloptwrap")
#: lmer's default control (a frozen Control: one object serves every fit)
_LMER = lmerControl()


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
        self.control = control if control is not None else _LMER
        self.X = np.asarray(design.X, dtype=float)
        self.y = np.asarray(design.y, dtype=float).reshape(-1)
        self.n, self.p = self.X.shape
        self.gls = GlsCriterion(self.X, self.y, correlation, weights, REML=REML)
        self.base = LmmDeviance(design, REML=self.REML)
        self.widths = [t.n_columns for t in design.reterms]
        self.Zraw = np.column_stack([np.asarray(t.X, dtype=float).reshape(self.n, -1)
                                     for t in design.reterms])
        self.D = np.column_stack([self.X, self.Zraw, self.y])
        # the whitened Z: Zt's structural pattern (each row's levels, zeros kept) filled with
        # the whitened raw columns, row by row
        full = build_zt([replace(t, X=np.ones((self.n, k)))
                         for t, k in zip(design.reterms, self.widths)], self.n)
        self._zt_pattern = (full.indices, full.indptr, full.shape)
        self._zfull = trusted_csc(np.ascontiguousarray(self.Zraw).reshape(-1), full.indices,
                                  full.indptr, full.shape)
        # ... and a deviance on that pattern with ones for values (no cross-product cancels:
        # each is a positive count), the template whose pattern maps, analysis and factor
        # layout the data of every structure value reuse (LmmDeviance.with_data); None: no
        # residual structure, or the template declined (then a deviance per structure value)
        self._template: Optional[LmmDeviance] = None
        if correlation is not None or weights is not None:
            full.data = np.ones(full.data.shape[0])
            self._template = LmmDeviance(WhitenedDesign(design, Zt=full), REML=self.REML)
        # varIdent alone on a larger design: the cross-products of each stratum, summed with
        # the strata's weights at every structure value (built on first use; False: none)
        self._strata: Any = None
        self._cache: Dict[bytes, Tuple[Any, float, np.ndarray]] = {}
        # lmer's start (lme4's for scalar random intercepts): lme without structure = lmer
        self._warm = np.asarray(lme4_start_theta(design), dtype=float)
        self._warm_ok = False        # _warm is an optimum (of a nearby structure value)
        self._hess: Optional[np.ndarray] = None   # the deviance's Hessian model near _warm
        self._optima: Dict[bytes, Tuple[np.ndarray, float]] = {}   # inner optimum per spar
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
    def deviance_at(self, spar, data: bool = False
                    ) -> Tuple[Optional[LmmDeviance], float, np.ndarray]:
        """(the PLS deviance on the data whitened at ``spar``, the log-likelihood's extra
        terms, the variance weights); (None, -inf, w) where the structure is invalid.

        ``data``: a deviance holding the whitened rows (fitted values, residuals from them;
        not kept), never one from the strata's products alone (``varIdent`` on a larger
        design: :meth:`_stratum_products`)."""
        spar = np.asarray(spar, dtype=float).reshape(-1)
        if not self.has_structure:
            return self.base, 0.0, np.ones(self.n)
        key = spar.tobytes()
        hit = None if data else self._cache.get(key)
        if hit is not None:
            return hit
        pc, pv = self.split(spar)
        w = self.var.weights(pv) if self.var is not None else np.ones(self.n)
        out: Tuple[Optional[LmmDeviance], float, np.ndarray]
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            out = (None, -math.inf, w)
        elif self.cor is None:
            dev = None if data else self._stratum_deviance(w)
            if dev is None and self._template is not None:
                dev = self._template.with_data(self._zfull, self.X, self.y, weights=w * w,
                                               offset=getattr(self.design, "offset", None))
                if dev is None:
                    self._template = None
            if dev is None:
                dev = LmmDeviance(WhitenedDesign(self.design, weights=w * w), REML=self.REML)
            out = (dev, 0.0, w)
        else:
            Dw, extra = self.gls.whitened(spar, D=self.D)
            if Dw is None or not np.all(np.isfinite(Dw)):
                out = (None, -math.inf, w)
            else:
                out = (self._whitened_deviance(Dw), float(extra), w)
        if data:
            return out
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = out
        return out

    def _stratum_products(self) -> Any:
        """For ``varIdent`` alone (weights constant within strata) on a larger design: each
        stratum's cross-products (Z'Z, Z'X, X'X, and with ỹ = y − offset − Xβ* for one fixed
        β*, the unweighted least-squares fit, Z'ỹ, X'ỹ, ỹ'ỹ), formed once; the products at
        any weights are their weighted sums (no O(n) work per structure value). None where
        this does not apply."""
        if self._strata is None:
            self._strata = False
            tmpl, var = self._template, self.var
            code = getattr(var, "code", None)
            if tmpl is not None and isinstance(var, varIdent) and code is not None \
                    and tmpl.cp.ZtWZ_dense is None:       # (not a small design)
                code = np.asarray(code, dtype=np.int64)
                S = int(code.max()) + 1
                T = tmpl.cp.ZtWZ
                if S * (T.nnz + tmpl.q * (self.p + 1) + self.p ** 2) > 8 * self.n:
                    return None            # the strata's products cost what the rows do
                off = getattr(self.design, "offset", None)
                yt = self.y - (0.0 if off is None else np.asarray(off, dtype=float))
                beta = (np.linalg.lstsq(self.X, yt, rcond=None)[0] if self.p
                        else np.zeros(0))
                yt = yt - self.X @ beta
                parts = []
                for k in range(S):
                    ind = (code == k).astype(float)
                    cp = tmpl.cp.with_data(self._zfull, self.X, ind)
                    M = cp.ZtWZ
                    if cp.ZtWZ_dense is not None or not (
                            np.array_equal(M.indptr, T.indptr)
                            and np.array_equal(M.indices, T.indices)):
                        return None        # not summed onto the template's structure
                    wy = ind * yt
                    parts.append((M.data, cp.ZtWX, cp.XtWX, cp.Zt @ wy, self.X.T @ wy,
                                  float(yt @ wy)))
                counts = np.bincount(code, minlength=S).astype(float)
                first = np.zeros(S, dtype=np.int64)            # a row of each stratum
                first[code] = np.arange(code.shape[0])
                self._strata = (first, counts, beta,
                                (tmpl.cp.ZtWZ.indices, tmpl.cp.ZtWZ.indptr),
                                *[np.stack([pt[i] for pt in parts], axis=-1)
                                  for i in range(6)])
        return self._strata or None

    def _stratum_deviance(self, w: np.ndarray) -> Optional[LmmDeviance]:
        """The deviance at variance weights ``w`` from the strata's products
        (:meth:`_stratum_products`), or None."""
        st = self._stratum_products()
        if st is None or self._template is None:
            return None
        first, counts, beta, (indices, indptr), M, ZX, XX, Zy, Xy, yy = st
        ws = np.where(counts > 0, w[first] ** 2, 1.0)    # each stratum's weight w²
        q = self.base.q
        products = ReducedProducts(trusted_csc(M @ ws, indices, indptr, (q, q)), ZX @ ws,
                                   XX @ ws, Zy @ ws, Xy @ ws, float(yy @ ws), beta, self.n)
        dev = self._template.with_products(products, float(counts @ np.log(ws)))
        if dev is None:
            self._strata = False
        return dev

    def _whitened_deviance(self, Dw: np.ndarray) -> LmmDeviance:
        """The PLS deviance on whitened rows ``Dw = [X Zraw y]``: the base deviance with new
        data (its pattern maps and analysis reused), else one built on the whitened design."""
        p = self.p
        Xw = np.ascontiguousarray(Dw[:, :p])
        yw = np.ascontiguousarray(Dw[:, -1])
        Zw = np.ascontiguousarray(Dw[:, p:-1])
        indices, indptr, shape = self._zt_pattern
        if self._template is not None:
            dev = self._template.with_data(trusted_csc(Zw.reshape(-1), indices, indptr, shape),
                                           Xw, yw)
            if dev is not None:
                return dev
            self._template = None
        terms = []
        c = 0
        for t, k in zip(self.design.reterms, self.widths):
            terms.append(replace(t, X=Zw[:, c:c + k]))
            c += k
        wd = WhitenedDesign(self.design, X=Xw, y=yw, Zt=build_zt(terms, self.n), reterms=terms,
                            weights=np.ones(self.n), offset=np.zeros(self.n))
        return LmmDeviance(wd, REML=self.REML)

    def clear(self) -> None:
        """Forget the whitened deviances and their optima (after a ``fitted(.)`` covariate
        changed)."""
        self._cache.clear()
        self._optima.clear()

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

        With residual-structure parameters (or ``quick``, from an earlier optimum): Newton
        steps on the deviance's analytic gradient from the previous optimum and the last
        minimisation's Hessian model (:func:`newton_inner`; the structure optimisation's
        profile points are close together). The first minimisation starts from lmer's start:
        Newton steps, else lmer's trust-region Newton method there, polished by them. Where
        they do not reach an interior stationary point (an optimum on the boundary), lme4's
        BOBYQA path; without a structure, the control's optimizer (lme is lmer). A structure
        value's optimum, once found, is returned again without work."""
        dev, extra, _w = self.deviance_at(spar)
        if dev is None:
            return self._warm.copy(), -math.inf
        key = np.asarray(spar, dtype=float).reshape(-1).tobytes()
        if start is None and self.has_structure:
            hit = self._optima.get(key)
            if hit is not None:
                return hit[0].copy(), hit[1]
        x0 = np.asarray(self._warm if start is None else start, dtype=float)
        # (a structure without parameters to optimise, e.g. glmmPQL's varFixed: one inner
        # fit, lme4's BOBYQA path as before, whose printed digits the pages show)
        with_structure = self.has_structure and start is None and self.npar > 0
        if (quick and self._warm_ok) or with_structure:
            # from a nearby optimum (or lmer's start: a small model's scalar terms get there)
            got = newton_inner(dev, x0, hessian=self._hess if self._warm_ok else None)
            if got is None and with_structure and not self._warm_ok:
                got = _trust_region_start(dev, x0)      # a far start
            if got is not None:
                self._warm = got[0].copy()
                self._warm_ok = True
                if got[2] is not None:
                    self._hess = got[2]
                return self._keep(key, got[0], -got[1] / 2.0 + extra)
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
        return self._keep(key, par, -val / 2.0 + extra)

    def _keep(self, key: bytes, par: np.ndarray, ll: float) -> Tuple[np.ndarray, float]:
        """Remember the optimum at a structure value (the fit's closing ``inner`` at the
        structure's optimum finds it there: one optimisation per structure value)."""
        if self.has_structure:
            if len(self._optima) > 256:
                self._optima.clear()
            self._optima[key] = (par.copy(), ll)
        return par, ll

    def loglik(self, spar) -> float:
        """The profiled log-likelihood at structure parameters ``spar`` (what the structure
        optimisation maximises)."""
        self.evaluations += 1
        return self.inner(spar, quick=True)[1]

    def estimate(self, spar, par) -> LmeEstimate:
        """Everything at ``(spar, par)``."""
        spar = np.asarray(spar, dtype=float).reshape(-1)
        dev, extra, w = self.deviance_at(spar, data=True)
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
