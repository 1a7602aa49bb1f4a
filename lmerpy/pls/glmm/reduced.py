"""PIRLS and the GLMM deviance on reduced products: the seam where the data live elsewhere.

In memory (:mod:`.pirls`) every PIRLS iteration touches the n observations twice: the working
weights' products (Z'WZ on its pattern, Z'WX, X'WX, Z'Wz, X'Wz) and the penalized deviance
at the new linear predictor. Everything else is of size q and p. Here those two n-long steps
are asked of a *products source*, which may be a cluster (:mod:`lmerpy.dask.glmm`); the
q-level algebra (A = Λ'Z'WZΛ + I, its factor, the PLS solve, the convergence rule and step
halving of lme4's ``pwrssUpdate``) runs here, iteration for iteration as :func:`.pirls.pirls`
with ``precise=False`` does (the same formulas; sums taken in another order, ~1e-15).

A source answers :meth:`ProductsSource.evaluate` — for the linear predictor

    η = offset + X β_η + Z b        (b = Λu in Zt's row order)

it returns Σ deviance residuals, Σ the family's aic, Σ Pearson residuals² at μ(η) and the
working products at η (z = η − offset − X β_fixed + (y − μ)/(dμ/dη), β_fixed = 0 in glmer's
first stage) — and :meth:`ProductsSource.start` (the same at the family's starting means,
R's ``mustart``). So each PIRLS iteration is one pass over the data: the pass that evaluates
the new iterate also forms the products of the next. The products at the start of every
evaluation (lme4 restarts PIRLS from one linear predictor) are formed once per stage.

The Laplace deviance at the mode itself (:meth:`ReducedGlmmDeviance.laplace`, ``precise``
PIRLS, from the previous evaluation's mode) and its analytic gradient (one more call of
:meth:`ProductsSource.gradient`, :mod:`.reduced_gradient`) give the cluster glmer's default
optimizer.

R equivalent: ``pwrssUpdate`` / ``glmerLaplace`` (lme4 ``src/external.cpp``), as
:mod:`.pirls`.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Protocol

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ...errors import DataError, DataNotHereError, FitError
from .deviance import SolutionMethods, gradient_in_pars, init_parameter_space
from .pirls import MAX_HALVINGS, MAX_POLISH, MAXIT, GlmmStructure, PirlsError

__all__ = ["ProductsSource", "ReducedStructure", "ReducedGlmmDeviance", "ReducedGlmmSolution",
           "pirls_products"]


class ProductsSource(Protocol):
    """Where a reduced GLMM's data live (see the module docstring)."""

    def start(self) -> Dict[str, Any]:
        """The products at η = offset + linkfun(mustart)."""

    def evaluate(self, beta_eta, b, beta_fixed=None, delta=None) -> Dict[str, Any]:
        """Sums and products at η = offset + X β_eta + Z b (keys: ``drsum``, ``aic``,
        ``wrss``, ``finite``, ``M`` (sparse Z'WZ), ``ZWX``, ``XWX``, ``ZWz``, ``XWz``); with
        ``delta`` = (Δβ, Δb) also ``dmax`` = max |XΔβ + ZΔb| and ``emax`` = max |η| (the
        precise mode's stopping rule)."""

    def gradient(self, beta_eta, b, keys, values, drsum, observed) -> Dict[str, Any]:
        """The Laplace gradient's reductions at η = offset + X β_eta + Z b (the mode) for
        K'A⁻¹'s ``values`` on Z'Z's pattern (``keys``: column·q + row, sorted): with the
        per-observation pieces of :class:`.family_derivs.FamilyDerivatives` and
        h = Pz'(K'A⁻¹), g = h ∘ dW/dη + a, the sums ``zg`` = Z'g, ``xg`` = X'g, ``zs`` = Z's;
        with ``observed`` (a link that is not canonical) also the Newton-weight products
        ``Mo`` (sparse Z'WoZ), ``ZWoX``, ``XWoX``."""


class ReducedStructure(GlmmStructure):
    """The q-level part of :class:`.pirls.GlmmStructure` built from Z'Z's pattern alone.

    Parameters
    ----------
    pattern : scipy.sparse matrix (q, q)
        Z'Z's structural pattern over all the data (values ignored).
    design : Design
        Λ's template, Lind, θ and the terms (no n-long field is read).
    p : int
        Columns of X.
    backend : {"cholmod", "scipy", None}
    """

    def __init__(self, pattern, design, p, backend=None):    # noqa: super-init not called
        M = sp.csc_matrix(pattern, dtype=float)
        M.sum_duplicates()
        M.sort_indices()
        M.data[:] = 1.0
        q = M.shape[0]
        self.q, self.n, self.p = q, 0, int(p)
        self.blocks = [(int(t.row_offset), int(t.n_levels), int(t.n_columns))
                       for t in design.reterms]
        self.n_theta = int(np.asarray(design.theta).shape[0])
        self.init_scaling(M, design, backend)
        self.diagonal = None
        self._mkeys = (np.repeat(np.arange(q, dtype=np.int64), np.diff(M.indptr)) * q
                       + M.indices.astype(np.int64))
        self._m_indices, self._m_indptr = M.indices, M.indptr

    @property
    def m_keys(self):
        """Z'Z's pattern as sorted keys column·q + row (CSC order of its values)."""
        return self._mkeys

    def m_matrix(self, m):
        """The sparse q×q matrix with values ``m`` on Z'Z's pattern."""
        return sp.csc_matrix((m, self._m_indices, self._m_indptr), shape=(self.q, self.q))

    def kt_mul(self, v):
        """K_θ' v (values on A's pattern to values on Z'Z's)."""
        return self._kdata * v if self._k_diag else self.K.T @ v

    def m_values(self, ZWZ):
        """Z'WZ's values on the pattern (CSC order) from a sparse sum (entries outside the
        pattern cannot occur; exact zeros the sum dropped stay 0)."""
        S = sp.csc_matrix(ZWZ)
        S.sum_duplicates()
        q = self.q
        keys = np.repeat(np.arange(q, dtype=np.int64), np.diff(S.indptr)) * q \
            + S.indices.astype(np.int64)
        pos = np.searchsorted(self._mkeys, keys)
        out = np.zeros(self._mkeys.shape[0])
        ok = pos < out.shape[0]
        ok[ok] = self._mkeys[pos[ok]] == keys[ok]
        if not ok.all():
            raise FitError("internal error: an entry of Z'WZ is outside Z'Z's pattern")
        out[pos] = S.data
        return out

    def a_from_m(self, m):
        """A = Λ'Z'WZΛ + I on the pattern from Z'WZ's values."""
        v = self._kdata * m if self._k_diag else self._k(m)
        v[self._diag_pos] += 1.0
        return v

    def lam(self, u):
        """b = Λu."""
        if self._lam_diag is not None:
            return self._lam_diag * u
        return self._lam(u)


#: the precise mode's stopping rule (as :func:`.pirls.pirls`): η moved by at most this much
#: relative, and the penalized deviance may rise by this much relative at a step
_ETA_TOL = 1e-11
_PDEV_SLACK = 1e-12


class _State:
    __slots__ = ("theta", "beta", "u", "b", "ldL2", "ussq", "drsum", "aic", "wrss", "pdev",
                 "iterations", "prods", "criterion", "beta_eta", "precise", "u_only", "grad",
                 "wo")


def _bad_working():
    return PirlsError("non-finite working weights or response in PIRLS (the linear "
                      "predictor left the link's domain)")


def _solve(S, fac, pr, beta):
    """One PLS step at the products ``pr``: (u, β) (β fixed when ``beta`` is given)."""
    p = S.p
    if beta is not None:      # pr's z is that of β: z = η − offset − Xβ + r
        return fac.solve_A(S.lam_mul(pr["ZWz"])), beta
    if not p:
        return fac.solve_A(S.lam_mul(pr["ZWz"])), np.zeros(0)
    rhs = np.empty((S.q, p + 1))
    rhs[:, :p] = S.lam_mul(pr["ZWX"])
    rhs[:, p] = S.lam_mul(pr["ZWz"])
    R = fac.solve_L(rhs)
    RZX, cu = R[:, :p], R[:, p]
    VtV = pr["XWX"] - RZX.T @ RZX
    RX, info = lapack.dpotrf(VtV, lower=0, clean=1)
    if info != 0:
        raise PirlsError("Downdated VtV is not positive definite")
    cb = lapack.dtrtrs(RX, pr["XWz"] - RZX.T @ cu, trans=1)[0]
    b = lapack.dtrtrs(RX, cb)[0]
    return fac.solve_Lt(cu - RZX @ b), b


def pirls_products(S, source, theta, start, *, beta=None, tol=1e-7, maxit=MAXIT,
                   max_halvings=MAX_HALVINGS, precise=False):
    """PIRLS at θ (and fixed β) with the n-long steps done by ``source``.

    Parameters
    ----------
    S : ReducedStructure
    source : ProductsSource
    theta : ndarray
    start : dict
        The products at the starting η (from :meth:`ProductsSource.start` or
        :meth:`ProductsSource.evaluate`); with β fixed its ``ZWz``/``XWz`` are those of
        z + Xβ (β_fixed = 0), as the start is shared by every β.
    beta : ndarray or None
        None: β is estimated with u (glmer's first stage); else fixed.
    tol, maxit, max_halvings
        As :func:`lmerpy.pls.glmm.pirls.pirls`.
    precise : bool
        As :func:`lmerpy.pls.glmm.pirls.pirls`: after lme4's rule, more steps (a pass each)
        until η stops moving (max |Δη| ≤ 1e-11 (1 + max |η|), from the passes' maxima), then
        log|L|² at ũ's own weights (the products of the last pass): the Laplace deviance at
        the mode, which :mod:`.reduced_gradient` differentiates.

    Returns
    -------
    _State
        θ, β, u, b = Λu, log|L|² (of the weights one step before ũ, as lme4; at ũ's when
        ``precise``), ‖ũ‖², Σ deviance residuals, aic, wrss, the iterations and the products
        of the last factorisation.
    """
    u_only = beta is not None
    S.set_theta(theta)
    fac = S.factor
    isfinite = math.isfinite
    oldpdev = math.inf
    u_old = b_old = None
    pr = start
    st = _State()
    for it in range(1, maxit + 1):
        if not pr["finite"]:
            raise _bad_working()
        fac.factor(S.a_from_m(pr["m"]))
        u, bet = _solve(S, fac, pr, beta)

        def at(u, bet, delta=None):
            ev = source.evaluate(bet, S.lam(u), beta if u_only else None, delta)
            pd_ = float(ev["drsum"] + u @ u)
            return ev, (math.inf if math.isnan(pd_) else pd_)

        ev, pdev = at(u, bet)
        if abs(oldpdev - pdev) < tol * pdev and precise:
            return _polish(S, fac, at, theta, beta, u, bet, ev, pdev, it)
        if abs(oldpdev - pdev) < tol * pdev:
            return _fill_state(st, S, fac, theta, bet, u, ev, pdev, it, pr, False, u_only)
        if pdev > oldpdev:     # step halving towards the previous iterate
            for _ in range(max_halvings):
                u = 0.5 * (u_old + u)
                if not u_only:
                    bet = 0.5 * (b_old + bet)
                ev, pdev = at(u, bet)
                if pdev <= oldpdev:
                    break
            if not pdev - oldpdev <= tol:
                raise PirlsError("PIRLS step-halvings failed to reduce deviance in "
                                 "pwrssUpdate")
        if not isfinite(pdev):
            raise PirlsError("PIRLS: the penalized deviance is not finite")
        oldpdev, u_old, b_old, pr = pdev, u, bet, ev
    raise PirlsError(f"pwrssUpdate did not converge in {maxit} iterations")


def _polish(S, fac, at, theta, beta, u, bet, ev, pdev, it):
    """The precise mode from lme4's converged iterate (u, β, its pass ``ev``): as the polish
    of :func:`.pirls.pirls` (scoring steps: binomial and Poisson have no observed-weight
    variant there), one pass per step."""
    for _ in range(MAX_POLISH):
        if not ev["finite"]:
            raise _bad_working()
        fac.factor(S.a_from_m(ev["m"]))
        u1, b1 = _solve(S, fac, ev, beta)
        ev1, pd1 = at(u1, b1, (b1 - bet, S.lam(u1) - S.lam(u)))
        if not pd1 <= pdev + _PDEV_SLACK * abs(pdev):
            break
        u, bet, ev, pdev = u1, b1, ev1, pd1
        it += 1
        if ev1["dmax"] <= _ETA_TOL * (1.0 + ev1["emax"]):
            break
    if not ev["finite"]:
        raise _bad_working()
    fac.factor(S.a_from_m(ev["m"]))
    return _fill_state(_State(), S, fac, theta, bet, u, ev, pdev, it, ev, True,
                       beta is not None)


def _fill_state(st, S, fac, theta, bet, u, ev, pdev, it, prods, precise, u_only):
    """``st`` holding the mode (u, β) PIRLS reached at θ: log|L|² from ``fac``, the sums of
    the pass ``ev`` at the mode, the products ``prods`` the next PIRLS restarts from."""
    st.precise, st.u_only = precise, u_only
    st.theta = np.array(theta, dtype=float)
    st.beta = np.array(bet, dtype=float)
    st.u, st.b = u, S.lam(u)
    st.ldL2 = float(fac.logdet())
    st.ussq = float(u @ u)
    st.drsum, st.aic, st.wrss = float(ev["drsum"]), float(ev["aic"]), float(ev["wrss"])
    st.pdev, st.iterations, st.prods = pdev, it, prods
    return st


_CANONICAL = (("binomial", "logit"), ("poisson", "log"))


class ReducedGlmmDeviance:
    """The Laplace deviance of a GLMM whose data are reached through a products source
    (:class:`~.deviance.GlmmDeviance`'s interface for ``nAGQ`` 0 and 1, with ``laplace`` and
    ``laplace_gradient``).

    Parameters
    ----------
    design : Design
        Levels, terms and Λ's template (a :class:`lmerpy.dask.design.ReducedDesign`).
    family : Family
    source : ProductsSource
    pattern : scipy.sparse matrix
        Z'Z's pattern over all the data.
    p : int
    nAGQ : {0, 1}
    tolPwrss, maxit, backend, init_beta
        As :class:`~.deviance.GlmmDeviance`.
    scale_design : object, optional
        What the optimizer reads for its coordinate scales (``design`` by default).

    Attributes
    ----------
    passes : int
        Evaluations and gradients asked of the source (one pass over the data each).
    """

    precise = False

    def __init__(self, design, family, source, pattern, p, nAGQ=0, tolPwrss=1e-7,
                 maxit=MAXIT, backend=None, init_beta=True, *, scale_design=None,
                 _parent=None, _lp0=None):
        if _parent is None:
            self.model_design = design
            self.design = design if scale_design is None else scale_design
            self.family = family
            self.source = _CountingSource(source)
            self.S = ReducedStructure(pattern, design, p, backend)
            self.source.S = self.S
            self.tolPwrss = float(tolPwrss)
            self.maxit = int(maxit)
            init_parameter_space(self, design)
            first = self.source.start()
            try:
                st = pirls_products(self.S, self.source, self.theta0, first,
                                    beta=None if init_beta else np.zeros(self.S.p),
                                    tol=self.tolPwrss, maxit=self.maxit)
            except PirlsError as e:
                raise FitError(f"{e} (at the starting values)") from None
            self._lp0 = (st.beta.copy(), st.b.copy())
            self.beta0 = st.beta.copy()
        else:
            for name in ("model_design", "design", "family", "source", "S", "tolPwrss",
                         "maxit", "theta0", "theta_lower", "beta0", "layout", "par_is_theta",
                         "par0", "par_upper"):
                setattr(self, name, getattr(_parent, name))
            self._lp0 = _lp0
        self.nAGQ = int(nAGQ)
        if self.nAGQ not in (0, 1):
            raise DataError("nAGQ > 1 is not available on reduced products (it needs the "
                            "observations at every quadrature node); use nAGQ = 1")
        self.n_theta = self.theta0.shape[0]
        self.n_par = self.par0.shape[0]
        self.p = self.S.p
        self.q = self.S.q
        self.lower = (self.theta_lower if self.nAGQ == 0 else
                      np.concatenate((self.theta_lower, np.full(self.p, -np.inf))))
        self.upper = (self.par_upper if self.nAGQ == 0 else
                      np.concatenate((self.par_upper, np.full(self.p, np.inf))))
        self.n_evals = 0
        self._start: Optional[Dict[str, Any]] = None
        self._state: Optional[_State] = None
        self._warm: Optional[_State] = None

    @property
    def passes(self) -> int:
        return self.source.count

    @property
    def resp(self):
        """The response is n-long: it stays where the data are."""
        raise DataNotHereError("the response and its per-observation pieces are not "
                               "available: a fit on reduced products keeps the data where "
                               "they are (only sums reach the client)")

    def _start_products(self):
        if self._start is None:
            beta_lp, b_lp = self._lp0
            ev = self.source.evaluate(beta_lp, b_lp, None)
            self._start = ev
        return self._start

    def stage2(self, nAGQ=1):
        """The (θ, β) deviance, PIRLS started from the current state's linear predictor."""
        st = self._state
        lp0 = self._lp0 if st is None else (st.beta.copy(), st.b.copy())
        dev = ReducedGlmmDeviance(None, None, None, None, None, nAGQ=max(int(nAGQ), 1),
                                  _parent=self, _lp0=lp0)
        if st is not None:
            dev.beta0 = st.beta.copy()
        return dev

    def split(self, pars):
        """(θ, β or None) from a parameter vector of this stage."""
        pars = np.asarray(pars, dtype=float).reshape(-1)
        nc = self.n_par
        k = nc + (self.p if self.nAGQ > 0 else 0)
        if pars.shape[0] != k:
            raise DataError(f"expected {k} parameters, got {pars.shape[0]}")
        if not np.isfinite(pars).all():
            raise DataError("parameters contain non-finite values")
        cov, beta = (pars, None) if self.nAGQ == 0 else (pars[:nc], pars[nc:])
        if not self.par_is_theta:
            cov = self.layout.par_to_theta(cov)
        return cov, beta

    def _shifted(self, prods, beta, beta_prods):
        """Products whose z is that of β from those of ``beta_prods`` (None: z − Xβ = z of
        the first stage, η − offset + r): z − X(β − β₀) formed from X'W's products."""
        if beta is None or not self.p:
            return prods
        d = beta if beta_prods is None else beta - beta_prods
        if not d.any():
            return prods
        out = dict(prods)
        out["ZWz"] = prods["ZWz"] - prods["ZWX"] @ d
        out["XWz"] = prods["XWz"] - prods["XWX"] @ d
        return out

    def _evaluate(self, pars, precise=False, warm=False):
        theta, beta = self.split(pars)
        st = self._state
        if (st is not None and st.precise == bool(precise) and not (st.theta != theta).any()
                and (beta is None or not (st.beta != beta).any())):
            return st
        if beta is not None:
            beta = np.array(beta, dtype=float)
        st = None
        if precise and warm and self._warm is not None:
            # the mode does not depend on where PIRLS starts: from the last precise mode's
            # products (the optimizer's previous point; no pass to form them)
            w = self._warm
            start = self._shifted(w.prods, beta, w.beta if w.u_only else None)
            try:
                st = pirls_products(self.S, self.source, theta, start, beta=beta,
                                    tol=self.tolPwrss, maxit=self.maxit, precise=True)
            except PirlsError:
                st = None
        if st is None:
            start = self._shifted(self._start_products(), beta, None)
            try:
                st = pirls_products(self.S, self.source, theta, start, beta=beta,
                                    tol=self.tolPwrss, maxit=self.maxit, precise=precise)
            except PirlsError as e:
                where = f"theta = {np.array2string(theta, precision=6)}"
                if beta is not None:
                    where += f", beta = {np.array2string(beta, precision=6)}"
                raise PirlsError(f"{e} (at {where})") from None
        st.criterion = st.ldL2 + st.ussq + st.aic
        st.grad = st.wo = None
        if precise and warm:
            self._warm = st
        self._state = st
        return st

    def __call__(self, pars):
        self.n_evals += 1
        return float(self._evaluate(pars, self.precise).criterion)

    def laplace(self, pars, warm=False):
        """The Laplace deviance at the conditional mode itself (``precise`` PIRLS on the
        products; :meth:`lmerpy.pls.glmm.deviance.GlmmDeviance.laplace`), counted in
        ``n_evals``; ``warm`` starts PIRLS from the last ``warm`` evaluation's mode."""
        self.n_evals += 1
        return float(self._evaluate(pars, True, warm).criterion)

    def laplace_gradient(self, pars):
        """Analytic gradient of :meth:`laplace` in this stage's parameters: one more pass
        (:mod:`.reduced_gradient`). Not counted in ``n_evals``."""
        from .reduced_gradient import reduced_laplace_gradient
        st = self._evaluate(pars, True)
        if st.grad is None:
            st.grad = reduced_laplace_gradient(self, st)
        g = st.grad.copy()
        return gradient_in_pars(self, pars, g)

    def beta_hessian(self, pars):
        """2 R_X'R_X at the mode of :meth:`laplace` at ``pars`` (nAGQ = 1) with the observed
        weights (:meth:`lmerpy.pls.glmm.deviance.GlmmDeviance.beta_hessian`): from the mode's
        products for a canonical link (no pass), else from the Newton-weight products of the
        gradient pass there (one pass if the gradient was not asked yet). None when not
        available."""
        S = self.S
        if self.nAGQ != 1 or not S.p or not self.has_laplace_gradient():
            return None
        st = self._evaluate(pars, True)
        if self.canonical:
            m, ZWX, XWX = st.prods["m"], st.prods["ZWX"], st.prods["XWX"]
        else:
            if st.wo is None:
                self.laplace_gradient(pars)
            if st.wo is None:
                return None
            m, ZWX, XWX = st.wo
        S.set_theta(st.theta)
        S.factor.factor(S.a_from_m(m))
        RZX = S.factor.solve_L(np.asarray(S.lam_mul(ZWX)))
        H = 2.0 * (XWX - RZX.T @ RZX)
        return H if np.all(np.isfinite(H)) else None

    def has_laplace_gradient(self):
        """Whether :meth:`laplace_gradient` applies (a family and link with the derivatives
        of :mod:`lmerpy.pls.glmm.family_derivs`)."""
        from .family_derivs import link_second_derivative, variance_derivative
        fam = self.family
        mu = np.full(1, 0.5)
        return (variance_derivative(fam, mu) is not None
                and link_second_derivative(fam.link, mu, mu) is not None)

    @property
    def canonical(self):
        """A canonical link (binomial logit, Poisson log): Newton's weights are Fisher's."""
        return (self.family.family, self.family.link) in _CANONICAL

    def solve(self, pars, precise=None):
        """Everything at the parameters (:class:`ReducedGlmmSolution`); not counted.
        ``precise`` defaults to the object's setting."""
        return ReducedGlmmSolution(self, self._evaluate(
            pars, self.precise if precise is None else bool(precise)))

    def start(self, theta=None):
        th = self.par0 if theta is None else np.asarray(theta, dtype=float)
        return th.copy() if self.nAGQ == 0 else np.concatenate((th, self.beta0))

    @property
    def names(self):
        d = self.model_design
        names = list(getattr(d, "par_names", None) or d.theta_names)
        return names + list(d.X_colnames) if self.nAGQ > 0 else names

    def par_groups(self):
        if self.layout is not None:
            return self.layout.par_groups()
        from ..lmm.information import template_columns
        return template_columns(self.model_design.reterms)

    def rx(self, st):
        """(R_ZX, R_X) at the weights of a state's last factorisation."""
        S = self.S
        S.set_theta(st.theta)
        S.factor.factor(S.a_from_m(st.prods["m"]))
        p = S.p
        if not p:
            return np.zeros((S.q, 0)), np.zeros((0, 0))
        RZX = S.factor.solve_L(np.asarray(S.lam_mul(st.prods["ZWX"])))
        VtV = st.prods["XWX"] - RZX.T @ RZX
        RX, info = lapack.dpotrf(VtV, lower=0, clean=1)
        return RZX, (RX if info == 0 else None)


class _CountingSource:
    """A source that counts its passes and turns Z'WZ into values on A's pattern once."""

    def __init__(self, source):
        self.inner = source
        self.count = 0
        self.S: Optional[ReducedStructure] = None

    def _finish(self, ev):
        self.count += 1
        ev = dict(ev)
        ev["m"] = self.S.m_values(ev["M"])
        return ev

    def start(self):
        return self._finish(self.inner.start())

    def evaluate(self, beta_eta, b, beta_fixed=None, delta=None):
        return self._finish(self.inner.evaluate(beta_eta, b, beta_fixed, delta))

    def gradient(self, beta_eta, b, keys, values, drsum, observed):
        self.count += 1
        out = dict(self.inner.gradient(beta_eta, b, keys, values, drsum, observed))
        if observed:
            out["mo"] = self.S.m_values(out["Mo"])
        return out


class ReducedGlmmSolution(SolutionMethods):
    """A reduced GLMM's state at given parameters (:class:`~.deviance.GlmmSolution` without
    its n-long fields: ``mu``, ``eta``, ``devres`` are None, ``fitted`` too)."""

    mu = eta = devres = fitted = None

    def __init__(self, dev, st):
        self._dev = dev
        self._st = st
        S = dev.S
        self.theta = st.theta.copy()
        self.beta = st.beta.copy()
        self.u = st.u.copy()
        self.Lambdat = S.lambdat(self.theta)
        self.b = np.asarray(self.Lambdat.T @ self.u).reshape(-1)
        self.ldL2 = st.ldL2
        self.ussq = st.ussq
        self.drsum = st.drsum
        self.wrss = st.wrss
        self.pwrss = self.wrss + self.ussq
        self.aic = st.aic
        self.criterion = float(st.criterion)
        self.n = int(getattr(dev.model_design, "n", 0))
        self.p, self.q = S.p, S.q
        self.has_scale = bool(dev.family.has_scale)
        self.sigma = float(np.sqrt(self.pwrss / self.n)) if self.has_scale else 1.0
        self.RZX, self.RX = dev.rx(st)
        self.perm = np.asarray(S.factor.perm).copy()
        self._L = S.factor.L_matrix()
        self._cv: Dict[int, np.ndarray] = {}

    def refactor(self):
        """Put A(θ, w) of this state back into the structure's factor."""
        S = self._dev.S
        S.set_theta(self._st.theta)
        S.factor.factor(S.a_from_m(self._st.prods["m"]))
