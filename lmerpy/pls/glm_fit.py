"""Fits without random effects, as R makes them: ``lm.wfit`` and ``glm.fit``.

The no-pooling fits of ``lmList``, the ``glm`` that starts ``glmmPQL`` and the refits of a glm's
likelihood profile all use these.

- ``wls``: ``lm.wfit`` — a least-squares QR with LINPACK's limited column pivoting (a column
  within 1e-7 of the span of the earlier ones is aliased, its coefficient NaN);
- ``glm_fit``: ``glm.fit`` — iteratively reweighted least squares (``glm.control()``: the
  deviance's relative change below 1e-8, at most 25 iterations), with its step halving.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..errors import DataError
from ..families import Family

__all__ = ["GLM_EPSILON", "GLM_MAXIT", "GlmFit", "QR_TOL", "glm_fit", "qr_keep", "wls"]

#: R's glm.control(): epsilon and maxit
GLM_EPSILON = 1e-8
GLM_MAXIT = 25
#: LINPACK dqrdc2's tolerance in R's lm.fit
QR_TOL = 1e-7


def qr_keep(X: np.ndarray, w: Optional[np.ndarray] = None) -> np.ndarray:
    """Columns kept by LINPACK's dqrdc2 (R's lm): Householder steps in column order; a column
    whose remaining norm falls below 1e-7 of its original norm is moved to the end (aliased)."""
    A = X if w is None else X * w[:, None]
    A = np.array(A, dtype=float)
    n, p = A.shape
    norms0 = np.sqrt((A ** 2).sum(axis=0))
    keep: List[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        v = A[:, j] - Q @ (Q.T @ A[:, j])
        v = v - Q @ (Q.T @ v)                      # re-orthogonalise (as a Householder would)
        nv = float(np.sqrt(v @ v))
        if len(keep) >= n or norms0[j] == 0 or nv < QR_TOL * norms0[j]:
            continue
        keep.append(j)
        Q = np.column_stack([Q, v / nv])
    return np.asarray(keep, dtype=np.int64)


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least squares as lm.wfit: coefficients (NaN where aliased), unscaled
    covariance, weighted residual sum of squares, the rank and the fitted values."""
    sw = np.sqrt(w)
    keep = qr_keep(X, sw)
    p = X.shape[1]
    beta = np.full(p, np.nan)
    cov = np.full((p, p), np.nan)
    if keep.size:
        Xk = X[:, keep] * sw[:, None]
        q, r = np.linalg.qr(Xk)
        b = np.linalg.solve(r, q.T @ (y * sw))
        beta[keep] = b
        rinv = np.linalg.solve(r, np.eye(keep.size))
        cov[np.ix_(keep, keep)] = rinv @ rinv.T
        fitted = X[:, keep] @ b
    else:
        fitted = np.zeros_like(y)
    rss = float(np.sum(w * (y - fitted) ** 2))
    return beta, cov, rss, int(keep.size), fitted


@dataclass
class GlmFit:
    """What R's ``glm.fit`` leaves: ``coefficients`` (NaN where aliased), their unscaled
    covariance ``cov_unscaled``, ``deviance``, ``rank``, the Pearson chi-square ``pearson``,
    ``n`` (observations with nonzero prior weight), ``linear_predictors`` (with the offset),
    working ``residuals`` (y - mu) / mu.eta at the final eta, working ``weights`` (R's
    ``fit$weights``: those of the last IRLS step, zero outside the good rows), ``iterations``
    and ``converged``."""

    coefficients: np.ndarray
    cov_unscaled: np.ndarray
    deviance: float
    rank: int
    pearson: float
    n: int
    linear_predictors: np.ndarray
    residuals: np.ndarray
    weights: np.ndarray
    iterations: int
    converged: bool


def glm_fit(X: np.ndarray, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
            family: Family, *, mustart: Optional[np.ndarray] = None,
            etastart: Optional[np.ndarray] = None, epsilon: float = GLM_EPSILON,
            maxit: int = GLM_MAXIT) -> GlmFit:
    """R's ``glm.fit(x, y, weights, offset, family)``: IRLS from ``etastart``, else from
    ``mustart`` (default: the family's starting means), each step a weighted least-squares
    fit with LINPACK's pivoting (aliased columns NaN), halving the step while the deviance is
    not finite or eta/mu leave the family's domain; stopped when the deviance's relative change
    falls below ``epsilon``. A design without columns is the offset alone (R's empty model)."""
    w = np.asarray(weights, dtype=float)
    off = np.asarray(offset, dtype=float)
    n_obs = int(np.sum(w != 0))
    p = X.shape[1]
    if p == 0:
        eta = off.copy()
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, w)))
        mu_eta = family.mu_eta(eta)
        wt = w * mu_eta ** 2 / family.variance(mu)
        res = (y - mu) / mu_eta
        return GlmFit(np.zeros(0), np.zeros((0, 0)), dev, 0, float(np.sum(wt * res ** 2)),
                      n_obs, eta, res, wt, 0, True)
    if etastart is not None:
        eta = np.asarray(etastart, dtype=float)
    else:
        eta = family.linkfun(family.mustart(y, w) if mustart is None else mustart)
    mu = family.linkinv(eta)
    devold = float(np.sum(family.dev_resids(y, mu, w)))
    beta = np.full(p, np.nan)
    cov = np.full((p, p), np.nan)
    coefold: Optional[np.ndarray] = None
    wt = np.zeros_like(y)
    rank, dev, conv, it = 0, devold, False, 0
    for it in range(1, maxit + 1):
        mu_eta = family.mu_eta(eta)
        good = (w > 0) & (mu_eta != 0)
        z = np.where(good, (eta - off) + (y - mu) / np.where(good, mu_eta, 1.0), 0.0)
        wt = np.where(good, w * mu_eta ** 2 / np.where(good, family.variance(mu), 1.0), 0.0)
        beta, cov, _, rank, fitted = wls(X, z, wt)
        eta = fitted + off
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, w)))
        halvings = 0
        while not np.isfinite(dev) or not family.valideta(eta) or not family.validmu(mu):
            if coefold is None or halvings >= maxit:
                raise DataError("no valid set of coefficients has been found for the glm: "
                                "please supply starting values")
            halvings += 1
            beta = (beta + coefold) / 2.0
            eta = X @ np.nan_to_num(beta) + off
            mu = family.linkinv(eta)
            dev = float(np.sum(family.dev_resids(y, mu, w)))
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            conv = True
            break
        devold = dev
        coefold = beta
    mu_eta = family.mu_eta(eta)
    res = (y - mu) / mu_eta
    wfin = w * mu_eta ** 2 / family.variance(mu)
    pearson = float(np.sum(wfin * res ** 2))
    return GlmFit(beta, cov, dev, rank, pearson, n_obs, eta, res, wt, it, conv)
