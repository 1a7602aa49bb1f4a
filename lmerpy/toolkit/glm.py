"""Per-group linear and generalized linear model fits as R's ``lm``/``glm`` make them, and a
glm's profile-likelihood confidence intervals as ``MASS`` computes them (lmList's pieces).

- ``wls``: ``lm.wfit`` — a least-squares QR with LINPACK's limited column pivoting (a column
  within 1e-7 of the span of the earlier ones is aliased, its coefficient NaN);
- ``irls``: ``glm.fit`` — iteratively reweighted least squares from the family's starting
  values (or a given linear predictor), stopped when the deviance's relative change falls
  below ``epsilon`` (``glm.control()``: 1e-8, at most 25 iterations);
- ``profile_confint``: ``confint(glm)`` (``MASS:::profile.glm`` then
  ``MASS:::confint.profile.glm``): each coefficient fixed at up to nine steps of a fifth of
  the profile's extent (in standard errors) on each side, the others refitted with it as an
  offset, the signed root of the deviance change; the limits read off R's ``spline`` of that
  profile by linear interpolation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from scipy import stats

from ..errors import FitError
from ..families import Family
from ..inference.profile_spline import approx_linear, spline_fmm

__all__ = ["IrlsFit", "QR_TOL", "irls", "profile_confint", "qr_keep", "wls"]

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
class IrlsFit:
    """A glm fit: coefficients (NaN where aliased), unscaled covariance, deviance, rank,
    Pearson chi-square, number of observations with nonzero prior weight, linear predictor."""

    beta: np.ndarray
    cov: np.ndarray
    deviance: float
    rank: int
    pearson: float
    n: int
    eta: np.ndarray


def irls(X, y, wt, offset, fam: Family, maxit: int = 25, epsilon: float = 1e-8,
         etastart: Optional[np.ndarray] = None) -> IrlsFit:
    """R's glm.fit: IRLS from the family's starting values (or ``etastart``); the deviance's
    relative change below ``epsilon`` ends it. A design without columns is the offset alone."""
    n_obs = int(np.sum(wt != 0))
    p = X.shape[1]
    if p == 0:
        eta = np.asarray(offset, dtype=float).copy()
        mu = fam.linkinv(eta)
        dev = float(np.sum(fam.dev_resids(y, mu, wt)))
        mu_eta = fam.mu_eta(eta)
        pearson = float(np.sum(wt * mu_eta ** 2 / fam.variance(mu) * ((y - mu) / mu_eta) ** 2))
        return IrlsFit(np.zeros(0), np.zeros((0, 0)), dev, 0, pearson, n_obs, eta)
    if etastart is None:
        mu = fam.mustart(y, wt)
        eta = fam.linkfun(mu)
    else:
        eta = np.asarray(etastart, dtype=float)
        mu = fam.linkinv(eta)
    dev_old = float(np.sum(fam.dev_resids(y, mu, wt)))
    beta = np.full(p, np.nan)
    cov = np.full((p, p), np.nan)
    rank = 0
    dev = dev_old
    for _ in range(maxit):
        mu_eta = fam.mu_eta(eta)
        var = fam.variance(mu)
        good = (wt > 0) & (mu_eta != 0)
        z = (eta - offset) + (y - mu) / mu_eta
        w = np.where(good, wt * mu_eta ** 2 / np.where(good, var, 1.0), 0.0)
        beta, cov, _, rank, fitted = wls(X, z, w)
        eta = fitted + offset
        mu = fam.linkinv(eta)
        dev = float(np.sum(fam.dev_resids(y, mu, wt)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            break
        dev_old = dev
    mu_eta = fam.mu_eta(eta)
    w = wt * mu_eta ** 2 / fam.variance(mu)
    pearson = float(np.sum(w * ((y - mu) / mu_eta) ** 2))
    return IrlsFit(beta, cov, dev, rank, pearson, n_obs, eta)


def profile_confint(X, y, wt, offset, fam: Family, fit: IrlsFit, dispersion: float,
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
    b0 = fit.beta
    est = np.isfinite(b0)
    se = np.sqrt(dispersion * np.diag(fit.cov))
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
                f = irls(Xi, y, wt, o, fam, etastart=lp)
                lp = f.eta
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
