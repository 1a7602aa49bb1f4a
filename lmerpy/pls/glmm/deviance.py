"""The deviance of a GLMM as a function of its parameters (what lme4's ``mkGlmerDevfun`` returns).

Two forms, as lme4's two optimization stages:

* ``nAGQ = 0``: a function of θ; β is estimated inside PIRLS together with u;
* ``nAGQ >= 1``: a function of (θ, β); β is fixed (moved into the offset) and PIRLS finds ũ.

Each evaluation starts PIRLS from the same linear predictor ``lp0`` (lme4's rule; it makes the
deviance a deterministic function of the parameters, which the finite-difference Hessian
needs) and returns::

    Laplace (nAGQ <= 1):  log|L|² + ‖ũ‖² + aic(μ̃)        (aic = family$aic: −2 log p(y | μ̃))
    AGQ (nAGQ > 1):       lme4's AGQ deviance + aic(y, n, y, wt)   (see lmerpy.pls.glmm.agq)

As lme4, log|L|² is that of the working weights one PIRLS step before ũ (see
:func:`lmerpy.pls.glmm.pirls.pirls`): lme4's reported log-likelihoods and, above all, its standard
errors (from the Hessian of exactly this function) are reproduced to about 1e-5. The Hessian of
the Laplace deviance at ũ itself (``precise = True``) differs from it by up to a few percent on
small data sets (cbpp: standard errors 0.5-1.3% larger).

R equivalents: ``lme4::mkGlmerDevfun``, ``lme4:::updateGlmerDevfun``, ``glmerLaplace``,
``glmerAGQ``.
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np
from scipy.linalg import lapack, solve_triangular

from ...design.scales import scale_summary, start_par, start_theta
from ...errors import DataError, FitError
from ...threads import call_threads
from .agq import GHrule, agq_deviance, check_agq
from .glm_response import GlmResponse
from .pirls import MAXIT, GlmmStructure, PirlsError, PirlsStart, pirls
from ..protocol import Components

__all__ = ["GlmmDeviance", "GlmmSolution", "SolutionMethods", "gradient_in_pars",
           "init_parameter_space"]

#: most values (points × observations) of one batch of :meth:`GlmmDeviance.deviances`, and
#: the fewest points worth a batch: larger (m, n) arrays leave the caches, and so do fewer
#: than ~24 points per batch gain (measured on VerbAgg subsets: 8x faster per point at
#: n = 56, 5x at 403, 2x at 1000, slower from 2000 observations)
BATCH_VALUES = 32_768
BATCH_MIN_POINTS = 24


def gradient_in_pars(dev, pars, g):
    """A gradient ``g`` in (θ, β) as the gradient in ``dev``'s parameters at ``pars`` (the
    covariance parameters through the layout's Jacobian of θ; β as it is)."""
    if dev.par_is_theta:
        return g
    x = np.asarray(pars, dtype=float).reshape(-1)
    J = dev.layout.theta_jacobian(x[:dev.n_par])
    return np.concatenate((J.T @ g[:dev.n_theta], g[dev.n_theta:]))


class GlmmDeviance:
    """Laplace / adaptive Gauss–Hermite deviance of a GLMM.

    R equivalent: ``lme4::mkGlmerDevfun(fr, X, reTrms, family, nAGQ = 0)`` and, for the second
    stage, ``lme4:::updateGlmerDevfun(devfun, reTrms, nAGQ)`` (here :meth:`stage2`). Each stage
    satisfies the :class:`~.protocol.Deviance` protocol.

    Parameters
    ----------
    design : lmerpy.design.structures.Design
        From ``glFormula`` (``build_design(..., glmer=True)``).
    family : lmerpy.families.Family
    nAGQ : int
        0: a function of θ with β inside PIRLS; 1: Laplace over (θ, β); > 1: adaptive
        Gauss–Hermite with nAGQ nodes over (θ, β) (one scalar random-effects term only).
    tolPwrss : float
        PIRLS convergence tolerance (lme4's ``glmerControl(tolPwrss = 1e-7)``).
    maxit : int
        Most PIRLS iterations.
    backend : {"cholmod", "scipy", None}
    init_beta : bool
        Initial PIRLS at the start θ estimates β too (lme4's ``nAGQ0initStep = TRUE``); False
        keeps β = 0 there.
    structure : GlmmStructure, optional
        Reuse another deviance's structure (same design): U's map, A's pattern, the factor.
    lp0, beta0 : ndarray, optional
        Start PIRLS from this linear predictor (offset excluded) instead of running the
        initial PIRLS from the family's starting means; ``beta0`` is the β start then.

    The covariance parameters are lme4 2.x's ``par`` (:attr:`layout`): stage 1 is a function
    of ``par``, stage 2 of (``par``, β); PIRLS works in θ = θ(par). For unstructured terms
    ``par`` is θ.

    Attributes
    ----------
    nAGQ, n_theta, n_par, p : int
    lower, upper : ndarray
        Bounds of the parameter vector (``par``'s, then ∓inf for β when nAGQ >= 1).
    theta0 : ndarray
        Start θ (1 on diagonals, 0 off them; for random-effects columns on an extreme scale
        that of the rescaled column, :func:`lmerpy.design.scales.start_theta`).
    par0 : ndarray
        Start ``par`` (θ for unstructured terms; :func:`lmerpy.design.scales.start_par`).
    layout : CovarianceLayout or None
        The terms' covariance structures.
    beta0 : ndarray
        β after the initial PIRLS (the second stage starts from the first stage's β̂).
    lp0 : ndarray (n,)
        The linear predictor (offset excluded) every PIRLS starts from.
    n_evals : int
    precise : bool
        False (default, lme4): PIRLS stops at ``tolPwrss`` and log|L|² is that of the weights
        one step before ũ. True: the Laplace deviance at ũ itself (see
        :func:`lmerpy.pls.glmm.pirls.pirls`).
    resp : GlmResponse
    family : Family
    """

    def __init__(self, design, family, nAGQ=0, tolPwrss=1e-7, maxit=MAXIT, backend=None,
                 init_beta=True, *, structure=None, lp0=None, beta0=None, _parent=None):
        if _parent is None:
            self.design = design
            self.family = family
            self.resp = GlmResponse(design, family)
            self.S = GlmmStructure(design, backend) if structure is None else structure
            self.tolPwrss = float(tolPwrss)
            self.maxit = int(maxit)
            init_parameter_space(self, design)
            resp = self.resp
            if lp0 is None:
                eta0 = resp.offset + family.linkfun(resp.mustart)
                beta = None if init_beta else np.zeros(self.S.p)
                try:
                    st = pirls(self.S, resp, self.theta0, eta0, beta=beta, tol=self.tolPwrss,
                               maxit=self.maxit)
                except PirlsError as e:
                    # at the start, before any optimization: the data's scales are the
                    # usual suspect (e.g. Poisson counts of 1e12: working weights so large
                    # that R_X's downdate cancels)
                    raise FitError(f"{e} (at the starting values). {scale_summary(design)}") \
                        from None
                lp0 = st.eta - resp.offset
                beta0 = st.beta
            self.lp0 = np.asarray(lp0, dtype=float)
            self.beta0 = (np.zeros(self.S.p) if beta0 is None
                          else np.asarray(beta0, dtype=float).copy())
        else:
            for name in ("design", "family", "resp", "S", "tolPwrss", "maxit", "theta0",
                         "theta_lower", "beta0", "layout", "par_is_theta", "par0",
                         "par_upper"):
                setattr(self, name, getattr(_parent, name))
            self.lp0 = lp0
        self.nAGQ = int(nAGQ)
        if self.nAGQ < 0:
            raise DataError(f"nAGQ must be >= 0, got {nAGQ}")
        check_agq(self.design, self.nAGQ)
        self.n_theta = self.theta0.shape[0]
        self.n_par = self.par0.shape[0]
        self.p = self.S.p
        if self.nAGQ > 1:
            if self.family.has_scale:
                raise DataError(
                    f"nAGQ > 1 is not available for the {self.family.family} family: its "
                    "quadrature deviance has no log-likelihood scale (the dispersion is "
                    "profiled inside the family's aic); use nAGQ = 1")
            self.rule = GHrule(self.nAGQ)
            self.codes = np.asarray(self.design.reterms[0].codes, dtype=np.int64)
            self.saturated = self.resp.saturated_aic()
        self.lower = (self.theta_lower if self.nAGQ == 0 else
                      np.concatenate((self.theta_lower, np.full(self.p, -np.inf))))
        self.upper = (self.par_upper if self.nAGQ == 0 else
                      np.concatenate((self.par_upper, np.full(self.p, np.inf))))
        self.n_evals = 0
        self.precise = False
        self._state = None
        self._warm_eta = None

    @property
    def lp0(self):
        """The linear predictor (offset excluded) every PIRLS starts from."""
        return self._lp0

    @lp0.setter
    def lp0(self, value):
        self._lp0 = None if value is None else np.asarray(value, dtype=float)
        self._start = None
        self._state = None      # a state from another start is not this function's value

    # -- the stages -----------------------------------------------------------------------------
    def stage2(self, nAGQ=1):
        """The (θ, β) deviance for ``nAGQ >= 1``, starting PIRLS from the current state's linear
        predictor (R: ``updateGlmerDevfun(devfun, reTrms, nAGQ)`` after the first stage)."""
        st = self._state
        lp0 = self.lp0 if st is None else st.eta - self.resp.offset   # Xβ + ZΛu
        dev = GlmmDeviance(None, None, nAGQ=max(int(nAGQ), 1), lp0=lp0, _parent=self)
        if st is not None and st.beta is not None:
            dev.beta0 = st.beta.copy()
        return dev

    def split(self, pars):
        """(θ, β or None) from a parameter vector of this stage (``par``, or (``par``, β));
        θ = θ(par)."""
        pars = np.asarray(pars, dtype=float).reshape(-1)
        nc = self.n_par
        k = nc + (self.p if self.nAGQ > 0 else 0)
        if pars.shape[0] != k:
            raise DataError(f"expected {k} parameters ({nc} "
                            + ("theta" if self.par_is_theta else "par")
                            + (f" and {self.p} beta" if self.nAGQ > 0 else "")
                            + f"), got {pars.shape[0]}")
        if not np.isfinite(pars).all():
            raise DataError("parameters contain non-finite values")
        cov, beta = (pars, None) if self.nAGQ == 0 else (pars[:nc], pars[nc:])
        if not self.par_is_theta:
            cov = self.layout.par_to_theta(cov)
        return cov, beta

    def _evaluate(self, pars, precise=False, warm=False):
        theta, beta = self.split(pars)
        st = self._state
        if (st is not None and st.precise == bool(precise) and not (st.theta != theta).any()
                and (beta is None or not (st.beta != beta).any())):
            return st
        st = None
        if precise and warm and self._warm_eta is not None:
            # the mode does not depend on where PIRLS starts: from the last precise mode
            # (the optimizer's previous point) it takes fewer steps
            try:
                st = pirls(self.S, self.resp, theta, self._warm_eta, beta=beta,
                           tol=self.tolPwrss, maxit=self.maxit, precise=True)
            except PirlsError:
                st = None
        try:
            if st is None:
                st = self._from_start(theta, beta, precise)
        except PirlsError as e:
            where = f"theta = {np.array2string(theta, precision=6)}"
            if beta is not None:
                where += f", beta = {np.array2string(beta, precision=6)}"
            raise PirlsError(f"{e} (at {where})") from None
        st.precise = bool(precise)
        if precise and warm:
            self._warm_eta = st.eta
        st.criterion = self._criterion(st)
        self._state = st
        return st

    def _criterion(self, st):
        """The deviance at a PIRLS state (Laplace, or AGQ for nAGQ > 1)."""
        if self.nAGQ > 1:
            return agq_deviance(self.S, self.resp, st, self.codes, self.rule) + self.saturated
        return st.ldL2 + st.ussq + self.resp.aic(st.mu, dev=st.devres_sum)

    def _pirls_start(self):
        """PIRLS's start (:class:`PirlsStart`: the initial linear predictor and what depends
        on it only), made on first use."""
        if self._start is None:
            self._start = PirlsStart(self.S, self.resp, self.resp.offset + self._lp0)
        return self._start

    def _from_start(self, theta, beta, precise):
        """PIRLS's state at (θ, β) from :meth:`_pirls_start`; PirlsError as PIRLS raises it."""
        start = self._pirls_start()
        return pirls(self.S, self.resp, theta, start.eta, beta=beta, tol=self.tolPwrss,
                     maxit=self.maxit, precise=precise, start=start)

    def _point_value(self, theta, beta):
        """What :meth:`__call__` returns at (θ, β) from the start, PIRLS's state not kept
        (the stencil's points: each evaluated once, none the fit's); PirlsError as PIRLS
        raises it."""
        return float(self._criterion(self._from_start(theta, beta, self.precise)))

    @call_threads
    def __call__(self, pars):
        """The deviance (−2 log-likelihood, Laplace or AGQ) at θ (nAGQ = 0) or (θ, β)."""
        self.n_evals += 1
        return float(self._evaluate(pars, self.precise).criterion)

    @call_threads
    def deviances(self, points):
        """The deviance at each row of ``points`` (what :meth:`__call__` returns there, each
        counted in ``n_evals``): lme4's finite-difference Hessian evaluates its whole stencil
        in one call. For one scalar random-effects term in the second stage (lme4's deviance,
        β fixed) of a binomial or Poisson fit the points' PIRLS run together
        (:func:`~.pirls_diagonal.pirls_diagonal_batch`: the point-by-point values, bit for
        bit as measured); a point that needs step halving, and every other case, one after
        another, grouped by θ so that points of one θ share the factorisation of their first
        PIRLS iteration. (Several terms: each point's PIRLS is dominated by its own
        factorisations and passes over the observations, which a batch does not make
        cheaper — measured on grouseticks and VerbAgg.)"""
        P = np.atleast_2d(np.asarray(points, dtype=float))
        m = P.shape[0]
        out = np.full(m, np.nan)
        todo = np.ones(m, dtype=bool)
        if (m > 1 and self.nAGQ == 1 and not self.precise and self.S.diagonal is not None
                and self.resp.batchable):
            chunk = BATCH_VALUES // max(self.S.n, 1)
            if chunk >= BATCH_MIN_POINTS:
                for a in range(0, m, chunk):
                    out[a:a + chunk], todo[a:a + chunk] = \
                        self._deviances_diagonal(P[a:a + chunk])
        self.n_evals += int(m - todo.sum())
        idx = np.flatnonzero(todo)
        if idx.size > 1 and self.nAGQ >= 1:
            # grouped by θ (each point's value does not depend on the order): consecutive
            # points of one θ share their first PIRLS iteration's factorisation
            # (PirlsStart.first_factor) — the stencil's 2k² points have 1 + 2·n_par θs
            cov = P[idx][:, :self.n_par]
            _, key = np.unique(cov, axis=0, return_inverse=True)
            idx = idx[np.argsort(key.reshape(-1), kind="stable")]
        failed = None
        # (θ, β) of the points: split()'s checks on the whole array at once (a point it
        # would reject goes through it, in its turn)
        fast = (P.shape[1] == self.n_par + (self.p if self.nAGQ > 0 else 0)
                and self.par_is_theta)
        good = np.isfinite(P).all(axis=1)
        nc = self.n_par
        for i in idx:
            if failed is not None and i > failed:
                continue
            if fast and good[i]:
                theta, beta = (P[i], None) if self.nAGQ == 0 else (P[i, :nc], P[i, nc:])
            else:
                theta, beta = self.split(P[i])
            self.n_evals += 1
            try:
                out[i] = self._point_value(theta, beta)
            except PirlsError:
                if failed is None or i < failed:
                    failed = i
        if failed is not None:      # the first failing point's error, as one by one
            self(P[failed])
        return out

    def _deviances_diagonal(self, P):
        """(deviances, not done) of :meth:`deviances` by the batched one-term PIRLS."""
        from .pirls_diagonal import pirls_diagonal_batch
        S, resp = self.S, self.resp
        D = S.diagonal
        m = P.shape[0]
        parts = [self.split(x) for x in P]
        thetas = np.array([float(th[D.th_idx]) for th, _ in parts])
        X = S.X
        offs = np.empty((m, S.n))
        for i, (_, beta) in enumerate(parts):
            offs[i] = resp.offset + (X @ beta if S.p else 0.0)
        r = pirls_diagonal_batch(D, resp, thetas, offs, self._pirls_start(), tol=self.tolPwrss,
                                 maxit=self.maxit)
        done = r["done"]
        out = np.full(m, np.nan)
        for i in np.flatnonzero(done):
            out[i] = r["ldL2"][i] + r["ussq"][i] + resp.aic(r["mu"][i],
                                                            dev=r["devres_sum"][i])
        return out, ~done

    @call_threads
    def laplace(self, pars, warm=False):
        """The Laplace deviance at the conditional mode itself (``precise`` PIRLS), the
        function :meth:`laplace_gradient` differentiates; counted in ``n_evals``. nAGQ <= 1.
        ``warm``: start PIRLS from the last ``warm`` evaluation's mode (fewer steps, the same
        value to PIRLS's precision: an optimizer's consecutive points are close)."""
        self.n_evals += 1
        return float(self._evaluate(pars, True, warm).criterion)

    @call_threads
    def laplace_gradient(self, pars):
        """Analytic gradient of :meth:`laplace` in this stage's parameters (``par``, or
        (``par``, β)); see :mod:`lmerpy.pls.glmm.laplace_gradient`. Not counted.

        Raises NotImplementedError for nAGQ > 1 and for families or links without the
        derivatives (then only the derivative-free optimizers apply)."""
        from .laplace_gradient import laplace_gradient
        if self.nAGQ > 1:
            raise NotImplementedError("no analytic gradient of the adaptive Gauss-Hermite "
                                      "deviance")
        st = self._evaluate(pars, True)
        grad = getattr(st, "grad", None)
        if grad is None:
            grad = laplace_gradient(self, st)
            st.grad = grad
        g = grad.copy()
        return gradient_in_pars(self, pars, g)

    @call_threads
    def beta_hessian(self, pars):
        """2 R_X'R_X at the mode of :meth:`laplace` at ``pars`` (nAGQ = 1), with the observed
        weights Wo of :mod:`.family_derivs` (Fisher's for canonical links): the Hessian in β,
        θ fixed, of the penalized deviance with ũ profiled out — the Laplace deviance's but
        for log|A|'s curvature. A whitening for the second stage's quasi-Newton steps
        (:func:`lmerpy.optimize.laplace.minimize_laplace`); None when not available (nAGQ
        != 1, no derivatives, not positive definite)."""
        from .family_derivs import FamilyDerivatives
        S = self.S
        if self.nAGQ != 1 or not S.p:
            return None
        st = self._evaluate(pars, True)
        try:
            Wo = FamilyDerivatives(self.resp, st.eta, st.mu, st.devres_sum).Wo
        except NotImplementedError:
            return None
        if not np.all(np.isfinite(Wo)):
            return None
        if S.current is not st or not np.array_equal(Wo, st.w):
            S.set_theta(st.theta)
            S.factor.factor(S.a_values(Wo))
            S.current = None
        wX = Wo[:, None] * S.X
        RZX = S.factor.solve_L(np.asarray(S.u_mul(wX)))
        H = 2.0 * (S.X.T @ wX - RZX.T @ RZX)
        return H if np.all(np.isfinite(H)) else None

    def has_laplace_gradient(self):
        """Whether :meth:`laplace_gradient` applies (nAGQ <= 1, a family and link with the
        derivatives of :mod:`lmerpy.pls.glmm.family_derivs`)."""
        from .family_derivs import link_second_derivative, variance_derivative
        fam = self.family
        mu = np.full(1, 0.5)
        return (self.nAGQ <= 1 and variance_derivative(fam, mu) is not None
                and link_second_derivative(fam.link, mu, mu) is not None)

    @call_threads
    def solve(self, pars, precise=None):
        """Everything at the given parameters (:class:`GlmmSolution`); not counted.
        ``precise`` defaults to the object's setting."""
        return GlmmSolution(self, self._evaluate(pars, self.precise if precise is None
                                                 else precise))

    def start(self, theta=None):
        """This stage's start: ``par`` (θ for unstructured terms; default the structures'
        start) and β for nAGQ >= 1."""
        th = self.par0 if theta is None else np.asarray(theta, dtype=float)
        return th.copy() if self.nAGQ == 0 else np.concatenate((th, self.beta0))

    @property
    def names(self):
        """The parameters' names: ``par``'s (θ's, lme4's ``herd.(Intercept)``..., for
        unstructured terms), then the fixed effects' for nAGQ >= 1."""
        d = self.design
        names = list(getattr(d, "par_names", None) or d.theta_names)
        return names + list(d.X_colnames) if self.nAGQ > 0 else names

    def par_groups(self):
        """θ per column of each term's lower-triangular template, diagonal entry first, for
        unstructured terms; a structured term's SDs (β and a correlation belong to none)."""
        if self.layout is not None:
            return self.layout.par_groups()
        from ..lmm.information import template_columns
        return template_columns(self.design.reterms)

    @call_threads
    def components(self, pars):
        """log|L|², log|R_X|², the penalised weighted RSS, β and R_X at the parameters
        (:class:`~.protocol.Components`; R_X at the final PIRLS weights); not counted.

        R equivalent: ``getME(fit, "devcomp")$cmp`` (``ldL2``, ``pwrss``) at the parameters.
        """
        sol = self.solve(pars)
        RX = sol.RX
        ldRX2 = (float(2.0 * np.log(np.abs(np.diagonal(RX))).sum()) if RX is not None
                 else float("nan"))
        return Components(float(sol.ldL2), ldRX2, float(sol.pwrss), sol.beta, RX)

    # -- pieces at a state ----------------------------------------------------------------------
    def _refactor(self, st):
        S = self.S
        if S.current is st:
            return
        S.set_theta(st.theta)
        S.factor.factor(S.a_values(st.w))
        S.current = st

    def rx(self, st):
        """(R_ZX, R_X) at a state's weights (lme4's ``RZX`` and ``RX``); R_X is None when
        R_X'R_X is not positive definite."""
        S = self.S
        self._refactor(st)
        p = S.p
        if not p:
            return np.zeros((S.q, 0)), np.zeros((0, 0))
        wX = st.w[:, None] * S.X
        RZX = S.factor.solve_L(np.asarray(S.u_mul(wX)))
        VtV = S.X.T @ wX - RZX.T @ RZX
        RX, info = lapack.dpotrf(VtV, lower=0, clean=1)
        return RZX, (RX if info == 0 else None)


def init_parameter_space(dev, design) -> None:
    """θ's start and lower bounds, the covariance layout (None: unstructured), whether the
    optimizer's ``par`` is θ itself, and par's start and upper bounds, set on ``dev``."""
    dev.theta0 = start_theta(design)
    dev.theta_lower = np.asarray(design.lower, dtype=float).copy()
    layout = getattr(design, "layout", None)
    dev.layout = layout
    dev.par_is_theta = layout is None or layout.is_identity
    dev.par0 = start_par(design)
    dev.par_upper = (np.full(dev.par0.shape[0], np.inf) if layout is None
                     else np.asarray(layout.upper, dtype=float).copy())


class SolutionMethods:
    """What a GLMM state answers from its factor: ``L``, ``unsc()`` and ``cond_var()``
    (:class:`GlmmSolution` and the reduced one of Dask fits). A class using it sets ``_dev``,
    ``_st``, ``_L``, ``_cv``, ``RX``, ``p``, ``sigma``, ``Lambdat`` and defines
    ``refactor()``."""

    _dev: Any
    _st: Any
    _L: Any
    _cv: Dict[int, np.ndarray]
    RX: Any
    p: int
    sigma: float
    Lambdat: Any

    def refactor(self):  # pragma: no cover - defined by each state class
        raise NotImplementedError

    @property
    def L(self):
        """The sparse Cholesky factor at the final weights (R: ``getME(fit, "L")``)."""
        return self._L

    def unsc(self):
        """(R_X'R_X)⁻¹ (R: ``fit@pp$unsc()``), NaN when R_X is not available."""
        if self.RX is None:
            return np.full((self.p, self.p), np.nan)
        Ri = solve_triangular(self.RX, np.eye(self.p))
        return Ri @ Ri.T

    def cond_var(self, term_index):
        """Conditional covariances of one term's random effects, (levels, p_i, p_i):
        σ² × diagonal blocks of Λ A⁻¹ Λ' (R: ``attr(ranef(fit, condVar = TRUE)[[g]],
        "postVar")``, levels first)."""
        if term_index in self._cv:
            return self._cv[term_index]
        S = self._dev.S
        off, nl, nc = S.blocks[term_index]
        self.refactor()
        Ai = S.inverse.diagonal_blocks(S.factor, off, nl, nc)
        Lt = self.Lambdat
        base = off + np.arange(nl)[:, None, None] * nc
        rr = np.broadcast_to(base + np.arange(nc)[None, :, None], (nl, nc, nc))
        cc = np.broadcast_to(base + np.arange(nc)[None, None, :], (nl, nc, nc))
        Lam = np.asarray(Lt[rr.ravel(), cc.ravel()]).reshape(nl, nc, nc)
        Lam = np.transpose(Lam, (0, 2, 1))     # Λ = Λ'ᵀ
        out = self.sigma ** 2 * np.einsum("gij,gjk,glk->gil", Lam, Ai, Lam)
        self._cv[term_index] = out
        return out


class GlmmSolution(SolutionMethods):
    """A GLMM's state at given parameters (what a fitted ``glmerMod`` stores).

    Attributes
    ----------
    theta, beta, u, b : ndarray
        b = Λũ in Zt's row order.
    eta, mu : ndarray (n,)
        Linear predictor (offset included) and conditional mean (R: ``fitted(fit)``).
    devres : ndarray (n,)
        Squared deviance residuals.
    ldL2, ussq, wrss, pwrss, drsum, aic : float
        lme4's ``devcomp$cmp`` entries (``drsum`` = Σ deviance residuals, ``aic`` = the family's
        aic at μ̃).
    criterion : float
        The stage's deviance at these parameters (Laplace or AGQ scale as documented above).
    sigma : float
        sqrt(pwrss / n) for families with a dispersion parameter, else 1 (R: ``sigma(fit)``).
    RX, RZX : ndarray
        At the weights of the last factorisation; ``RX`` None when not positive definite.
    """

    def __init__(self, dev, st):
        self._dev = dev
        self._st = st
        resp, S = dev.resp, dev.S
        self.theta = st.theta.copy()
        self.beta = (st.beta.copy() if st.beta is not None else np.zeros(S.p))
        self.u = st.u.copy()
        self.Lambdat = S.lambdat(self.theta)
        self.b = np.asarray(self.Lambdat.T @ self.u).reshape(-1)
        self.eta = st.eta.copy()
        self.mu = st.mu.copy()
        self.devres = st.devres.copy()
        self.ldL2 = st.ldL2
        self.ussq = st.ussq
        self.drsum = st.devres_sum
        self.wrss = resp.wrss(self.mu)
        self.pwrss = self.wrss + self.ussq
        self.aic = resp.aic(self.mu, dev=self.drsum)
        self.criterion = float(st.criterion)
        self.n, self.p, self.q = S.n, S.p, S.q
        self.has_scale = bool(dev.family.has_scale)
        self.sigma = float(np.sqrt(self.pwrss / self.n)) if self.has_scale else 1.0
        self.RZX, self.RX = dev.rx(st)
        self.perm = np.asarray(S.factor.perm).copy()
        self._L = None          # on first use (a block-first factor's L takes ~1 ms)
        self._cv = {}

    @property
    def L(self):
        """The sparse Cholesky factor at the final weights (R: ``getME(fit, "L")``), made
        when first asked: A(θ, w) put back into the structure's factor (the same values,
        so the same factorisation) and its L read."""
        if self._L is None:
            self.refactor()
            self._L = self._dev.S.factor.L_matrix()
        return self._L

    @property
    def fitted(self):
        return self.mu

    def refactor(self):
        """Put A(θ, w) of this state back into the structure's factor."""
        self._dev._refactor(self._st)
