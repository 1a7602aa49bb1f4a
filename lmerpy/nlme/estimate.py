"""gls's profiled likelihood, its optimisation, and nlme's approximate covariance ``apVar``.

R equivalent: ``nlme:::glsEstimate``, ``logLik.glsStruct`` and ``glsApVar`` (Pinheiro & Bates
2000, sections 5.1 and 5.4).

For structure parameters ``theta`` (the variance function's and the correlation's, on nlme's
unconstrained scale) the rows of ``D = [X y]`` are scaled by the variance weights ``w`` and
whitened group by group by the correlation factor ``L_g`` (``C_g = L_g L_g'``). With
``R = qr(D*)`` (``(p+1) x (p+1)``, its last diagonal entry ``r`` = the root of the whitened
residual sum of squares) and ``N = n - p`` (REML) or ``n`` (ML), beta and sigma profile out:

    beta = R_XX^-1 R_Xy,   sigma = |r| / sqrt(N)
    logLik = N/2 (log N - 1 - log 2 pi) - N log|r| - [REML] sum log|diag R_XX|
             + sum log w - sum_g log|L_g|

which is what nlme maximises (with ``nlminb``). The estimate's covariance is
``sigma^2 (R_XX' R_XX)^-1 (n - REML p) / (n - p)`` (nlme's ``varBeta``).

Optimisation: a trust-region Newton method (:func:`lmerpy.optimize.newton.trust_newton`) on
finite-difference derivatives, polished to the criterion's rounding, so the fit stops at the
optimum itself rather than where nlminb's tolerances end. A variance covariate ``fitted(.)``
is refreshed from the fit between optimisations, as nlme does, until beta and theta change
by less than ``tolerance`` (relative).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.linalg import lapack, solve_triangular

from ..errors import FitError
from ..optimize.derivs import deriv12
from ..optimize.minimize import minimize_bounded
from ..optimize.newton import trust_newton

__all__ = ["GlsCriterion", "GlsEstimate", "fd_hess", "optimize_structure", "central_hessian",
           "richardson_hessian"]

LOG_2PI = math.log(2.0 * math.pi)


def _qr_r(D: np.ndarray) -> np.ndarray:
    qr, _tau, _work, info = lapack.dgeqrf(np.asarray(D, dtype=float))
    if info != 0:                                      # pragma: no cover
        return np.asarray(np.linalg.qr(D, mode="r"))
    k = min(D.shape)
    return np.triu(qr[:k, :])


@dataclass
class GlsEstimate:
    """``glsEstimate`` at given structure parameters."""

    par: np.ndarray
    beta: np.ndarray
    sigma: float
    logLik: float
    R: np.ndarray            # (p, p) triangular factor of the whitened X
    weights: np.ndarray      # variance weights (sorted rows)
    fitted: np.ndarray       # X beta (sorted rows)
    varBeta: np.ndarray      # the estimate's covariance matrix (nlme's varBeta)


class GlsCriterion:
    """The profiled log-likelihood of a gls model as a function of the structure parameters.

    Parameters
    ----------
    X, y : ndarrays (sorted rows)
    correlation, weights : bound structures or None
    REML : bool
    """

    def __init__(self, X, y, correlation=None, weights=None, REML: bool = True):
        self.X = np.asarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.D = np.column_stack([self.X, self.y])
        self.n, self.p = self.X.shape
        self.cor = correlation
        self.var = weights
        self.REML = bool(REML)
        self.ncor = correlation.n_par if correlation is not None else 0
        self.nvar = weights.n_par if weights is not None else 0
        self.N = self.n - self.p if self.REML else self.n
        if self.N <= 0:
            raise FitError(f"gls: {self.n} observations are too few for {self.p} coefficients"
                           f"{' by REML' if self.REML else ''}")
        self.evaluations = 0

    @property
    def npar(self) -> int:
        return self.ncor + self.nvar

    def split(self, par):
        par = np.asarray(par, dtype=float)
        return par[:self.ncor], par[self.ncor:]

    def start(self) -> np.ndarray:
        parts = []
        if self.cor is not None:
            parts.append(self.cor.start())
        if self.var is not None:
            parts.append(self.var.start())
        return np.concatenate(parts) if parts else np.zeros(0)

    def whitened(self, par, exact: bool = False, D=None):
        """(weighted and whitened rows, sum log w - sum log|L_g|), or (None, -inf)."""
        pc, pv = self.split(par)
        D = self.D if D is None else D
        extra = 0.0
        if self.var is not None:
            w = self.var.weights(pv)
            if not np.all(np.isfinite(w)) or np.any(w <= 0):
                return None, -math.inf
            D = D * w[:, None]
            extra += float(np.sum(np.log(w)))
        if self.cor is not None:
            D, ld = (self.cor.whiten_exact if exact else self.cor.whiten)(D, pc)
            if not math.isfinite(ld):
                return None, -math.inf
            extra += ld
        return D, extra

    def _factor(self, par):
        D, extra = self.whitened(par)
        if D is None or not np.all(np.isfinite(D)):
            return None, None, -math.inf
        R = _qr_r(D)
        return R, extra, 0.0

    def loglik(self, par) -> float:
        """nlme's ``logLik(glsStruct, par)`` (the profiled log-likelihood)."""
        self.evaluations += 1
        R, extra, _ = self._factor(par)
        if R is None:
            return -math.inf
        d = np.abs(np.diagonal(R))
        if d.size < self.p + 1 or np.any(d == 0):
            return -math.inf
        N = self.N
        val = N / 2.0 * (math.log(N) - 1.0 - LOG_2PI) - N * math.log(d[self.p]) + extra
        if self.REML:
            val -= float(np.sum(np.log(d[:self.p])))
        return float(val)

    def full_loglik(self, pars) -> float:
        """``glsApVar.fullGlsLogLik``: the log-likelihood with ``log(sigma)`` as the last
        parameter (for the finite-difference Hessian of ``apVar``)."""
        par, lsigma = np.asarray(pars[:-1], dtype=float), float(pars[-1])
        R, extra, _ = self._factor(par)
        if R is None:
            return -math.inf
        d = np.abs(np.diagonal(R))
        lrss = math.log(d[self.p])
        val = extra - self.N * lrss
        if self.REML:
            val -= float(np.sum(np.log(d[:self.p])))
        aux = 2.0 * (lrss - lsigma)
        return float(val + (self.N * aux - math.exp(aux)) / 2.0)

    def estimate(self, par) -> GlsEstimate:
        """nlme's ``glsEstimate``: beta, sigma, logLik and varBeta at ``par``."""
        par = np.asarray(par, dtype=float)
        D, extra = self.whitened(par)
        if D is None or not np.all(np.isfinite(D)):
            raise FitError("gls: the residual structure is not valid at the estimates "
                           "(non-finite weights or a correlation matrix that is not positive "
                           "definite)")
        R = _qr_r(D)
        p = self.p
        RX = R[:p, :p]
        d = np.abs(np.diagonal(R))
        if np.any(d[:p] <= 1e-10 * max(1.0, float(np.max(d[:p])))):
            raise FitError(f"computed \"gls\" fit is singular, rank "
                           f"{int(np.sum(d > 1e-10 * np.max(d)))}")
        beta = solve_triangular(RX, R[:p, p])
        N = self.N
        ryy = d[p]
        sigma = ryy / math.sqrt(N)
        ll = N / 2.0 * (math.log(N) - 1.0 - LOG_2PI) - N * math.log(ryy) + extra
        if self.REML:
            ll -= float(np.sum(np.log(d[:p])))
        RXinv = solve_triangular(RX, np.eye(p))
        varBeta = sigma ** 2 * (RXinv @ RXinv.T) * ((self.n - self.REML * p) / (self.n - p))
        pc, pv = self.split(par)
        w = self.var.weights(pv) if self.var is not None else np.ones(self.n)
        return GlsEstimate(par=par, beta=beta, sigma=float(sigma), logLik=float(ll), R=RX,
                           weights=w, fitted=self.X @ beta, varBeta=varBeta)


# --------------------------------------------------------------------------- optimisation


def _negative(crit):
    def f(x):
        v = crit.loglik(x)
        return -v if math.isfinite(v) else math.inf
    return f


def optimize_structure(crit: GlsCriterion, start, settings: Optional[dict] = None):
    """Maximise the profiled log-likelihood over the structure parameters from ``start``.

    Trust-region Newton on central-difference derivatives; where it cannot proceed (a
    non-finite criterion next to the start), BOBYQA first, then Newton from its result.
    Returns ``(par, value, evaluations, message)``.
    """
    x0 = np.asarray(start, dtype=float)
    if x0.size == 0:
        return x0, crit.loglik(x0), 1, "no parameters"
    criterion = _negative(crit)
    st = {"tol": 1e-11, "xtol": 1e-12, "maxiter": 200, "delta0": 1.0}
    st.update(settings or {})
    last: list = [None, math.nan]        # the last point evaluated and the value there

    def fun(x):
        v = criterion(x)
        last[0], last[1] = np.array(x, dtype=float), v
        return v

    def derivatives(x):
        # trust_newton asks for the derivatives right after the value at the same point:
        # the difference stencil's centre is that value, not one more profile evaluation
        x = np.asarray(x, dtype=float)
        fx = last[1] if last[0] is not None and np.array_equal(last[0], x) else None
        d = deriv12(criterion, x, delta=1e-4, fx=fx)
        g, H = d["gradient"], d["Hessian"]
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            raise _NonFinite()
        return g, H

    evals = 0
    try:
        res = trust_newton(fun, derivatives, x0, settings=st)
        evals += res.feval
        x, fx, status = res.x, res.fun, res.status
    except (_NonFinite, FitError):
        x, fx, status = x0, fun(x0), -1
    if status < 0 or not math.isfinite(fx):
        b = minimize_bounded(fun, x0, lower=np.full(x0.size, -50.0),
                             upper=np.full(x0.size, 50.0), method="bobyqa",
                             settings={"xtol_rel": 1e-10, "ftol_abs": 1e-12, "xtol_abs": 1e-10})
        evals += b.feval
        x, fx = b.x, b.fun
        try:
            res = trust_newton(fun, derivatives, x, settings=st)
            evals += res.feval
            if res.fun <= fx:
                x, fx = res.x, res.fun
        except (_NonFinite, FitError):
            pass
    if not math.isfinite(fx):
        raise FitError("gls: the optimisation found no point where the log-likelihood is "
                       "finite")
    return np.asarray(x, dtype=float), -float(fx), evals, ""


class _NonFinite(Exception):
    pass


# --------------------------------------------------------------------------- apVar


def fd_hess(pars, fun, rel_step: float = float(np.finfo(float).eps) ** (1.0 / 3.0),
            min_abs_par: float = 0.0) -> dict:
    """nlme's ``fdHess``: the gradient and Hessian of ``fun`` at ``pars`` from a quadratic
    interpolated through ``1 + 2k + k(k-1)/2`` points: the centre, ``pars +/- h_i e_i``,
    and ``pars + h_i e_i + h_j e_j`` (i < j), with ``h_i = max(|pars_i|, min_abs_par) *
    rel_step``."""
    pars = np.asarray(pars, dtype=float)
    k = pars.size
    h = np.maximum(np.abs(pars), min_abs_par) * rel_step
    eye = np.eye(k)
    pairs = [(i, j) for i in range(k - 1) for j in range(i + 1, k)]
    moves = [np.zeros(k)] + [eye[i] for i in range(k)] + [-eye[i] for i in range(k)] \
        + [eye[i] + eye[j] for i, j in pairs]
    U = np.array(moves)
    design = np.column_stack([np.ones(len(moves)), U, U ** 2]
                             + [U[:, i] * U[:, j] for i, j in pairs])
    values = np.array([fun(pars + h * u) for u in U])
    frac = np.concatenate([[1.0], h, h ** 2, [h[i] * h[j] for i, j in pairs]])
    coefs = np.linalg.solve(design, values) / frac
    H = np.diag(coefs[1 + k:1 + 2 * k])
    for (i, j), c in zip(pairs, coefs[1 + 2 * k:]):
        H[j, i] = c
    return {"mean": coefs[0], "gradient": coefs[1:1 + k], "Hessian": H + H.T}


def central_hessian(fun, x, h) -> np.ndarray:
    """Central-difference Hessian with the step ``h[i]`` in coordinate ``i``."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h = np.broadcast_to(np.asarray(h, dtype=float), (k,))
    f0 = fun(x)
    H = np.empty((k, k))
    e = np.diag(h)
    for j in range(k):
        H[j, j] = (fun(x + e[j]) - 2.0 * f0 + fun(x - e[j])) / h[j] ** 2
        for i in range(j):
            H[i, j] = H[j, i] = (fun(x + e[i] + e[j]) - fun(x + e[i] - e[j])
                                 - fun(x - e[i] + e[j]) + fun(x - e[i] - e[j])) \
                / (4.0 * h[i] * h[j])
    return H


def richardson_hessian(fun, x, scale: float = 3e-2) -> np.ndarray:
    """The Hessian by Richardson extrapolation of central differences,
    ``(4 H(h/2) - H(h)) / 3`` (truncation error O(h^4)), with steps scaled to the curvature:
    ``h_i = scale / sqrt(|f_ii|)`` (``f_ii`` from a first central difference with step
    ``1e-4 max(1, |x_i|)``), so each step changes ``f`` by about ``scale^2 / 2``.

    On a log-likelihood of a few hundred, whose rounding is ~1e-13, the result is good to
    ~1e-6 relative (less for a well-conditioned Hessian); nlme's ``fdHess`` (steps ~6e-6 times the parameter, at least 3e-7) is
    good to 1e-5 to 1e-2 only, worst for parameters near 0."""
    x = np.asarray(x, dtype=float)
    h0 = 1e-4 * np.maximum(1.0, np.abs(x))
    f0 = fun(x)
    curv = np.array([(fun(x + h0[i] * np.eye(x.size)[i]) - 2.0 * f0
                      + fun(x - h0[i] * np.eye(x.size)[i])) / h0[i] ** 2
                     for i in range(x.size)])
    h = np.where(np.isfinite(curv) & (np.abs(curv) > 0),
                 scale / np.sqrt(np.abs(np.where(curv == 0, 1.0, curv))), 1e-3)
    return (4.0 * central_hessian(fun, x, h / 2.0) - central_hessian(fun, x, h)) / 3.0
