"""``apVar`` and ``intervals`` of an lme fit, as nlme computes them.

R equivalent: ``nlme:::lmeApVar`` and ``nlme:::intervals.lme`` (nlme 3.1). ``apVar`` is the
inverse of the negative Hessian of the log-likelihood (restricted for REML; beta profiled,
sigma not) in nlme's parameters:

* per level of random effects (innermost first, as nlme's ``coef(reStruct)``), the absolute
  covariance matrix D on nlme's "natural" scale: ``pdSymm``: log standard deviations, then
  ``log((1 + r) / (1 - r))`` of the correlations (upper triangle by columns); ``pdDiag``:
  log standard deviations; ``pdIdent``: the log standard deviation; ``pdCompSymm``: the log
  standard deviation and ``log((r + 1/(q - 1)) / (1 - r))``;
* the residual structure's parameters on nlme's unconstrained scale (``corSymm`` on the
  ``log((1 + r) / (1 - r))`` scale), as for gls;
* ``log(sigma)``.

The log-likelihood at those parameters is lmerpy's profiled one at the relative covariance
D / sigma^2 and the structure, moved off its own sigma: with ``a = sigma_hat^2 / sigma^2``
and ``N = n - p`` (REML) or ``n`` (ML), ``l(D, sigma) = l_p + N/2 (log a - a + 1)``.

``intervals`` gives t intervals for the fixed effects on nlme's denominator df
(``fit.fixDF.X``) and normal intervals on those scales for the rest, mapped back.
"""
from __future__ import annotations

import math
from typing import Any, List, Tuple

import numpy as np
from scipy import stats

from ..errors import FitError
from .base import unlist_names
from .display import IntervalsBlock
from .estimate import richardson_hessian

__all__ = ["lme_ap_var", "lme_interval_blocks", "level_natural", "natural_to_cov"]

#: nlme's message when the Hessian is not negative definite
NOT_PD = "Non-positive definite approximate variance-covariance"


def _z(r):
    return np.log((1.0 + r) / (1.0 - r))


def _r(z):
    return np.tanh(np.asarray(z, dtype=float) / 2.0)


def level_natural(pd_class: str, S: np.ndarray) -> np.ndarray:
    """nlme's natural parameters of one level's absolute covariance ``S``."""
    S = np.atleast_2d(np.asarray(S, dtype=float))
    sd = np.sqrt(np.diag(S))
    q = sd.size
    if pd_class in ("pdDiag",):
        return np.log(sd)
    if pd_class == "pdIdent":
        return np.log(sd[:1])
    R = S / np.outer(sd, sd)
    if pd_class == "pdCompSymm":
        rho = R[1, 0] if q > 1 else 0.0
        a = 1.0 / (q - 1) if q > 1 else 0.0
        return np.array([math.log(sd[0]), math.log((rho + a) / (1.0 - rho))])
    cors = [R[a, b] for b in range(q) for a in range(b)]
    return np.concatenate([np.log(sd), _z(np.asarray(cors, dtype=float))])


def natural_to_cov(pd_class: str, x: np.ndarray, q: int) -> np.ndarray:
    """The absolute covariance of one level from its natural parameters."""
    x = np.asarray(x, dtype=float)
    if pd_class == "pdDiag":
        return np.diag(np.exp(2.0 * x))
    if pd_class == "pdIdent":
        return np.exp(2.0 * x[0]) * np.eye(q)
    if pd_class == "pdCompSymm":
        a = 1.0 / (q - 1) if q > 1 else 0.0
        e = math.exp(x[1])
        rho = (e - a) / (1.0 + e)
        return math.exp(2.0 * x[0]) * ((1.0 - rho) * np.eye(q) + rho * np.ones((q, q)))
    sd = np.exp(x[:q])
    R = np.eye(q)
    k = q
    for b in range(q):
        for a in range(b):
            R[a, b] = R[b, a] = float(_r(x[k]))
            k += 1
    return R * np.outer(sd, sd)


def _level_names(pd: Any, cnames: List[str]) -> List[str]:
    """nlme's names of one level's natural parameters (``coef(pd, unconstrained = FALSE)``)."""
    if pd.r_class == "pdIdent":
        return [f"sd({pd.rhs})"]
    if pd.r_class == "pdCompSymm":
        return ["std. dev", "corr."]
    sds = [f"sd({c})" for c in cnames]
    if pd.r_class == "pdDiag":
        return sds
    q = len(cnames)
    return sds + [f"cor({cnames[a]},{cnames[b]})" for b in range(q) for a in range(b)]


def _term_par(term: Any, rel: np.ndarray) -> np.ndarray:
    """The PLS parameters of a random-effects term at the relative covariance ``rel``."""
    cov = term.covariance
    k = term.n_columns
    sd = np.sqrt(np.diag(rel))
    corr = rel / np.outer(sd, sd)
    if cov.kind == "us":
        r, c = np.tril_indices(k, -1)
        order = np.lexsort((r, c))
        return np.asarray(cov.from_vc(sd, corr[r[order], c[order]]), dtype=float)
    if cov.kind == "diag":
        return np.asarray(cov.from_vc(sd[:1] if cov.hom else sd, np.zeros(0)), dtype=float)
    return np.asarray(cov.from_vc(sd[:1] if cov.hom else sd, np.array([corr[1, 0]])),
                      dtype=float)


class _LmeApVarProblem:
    """The log-likelihood of an lme fit in nlme's apVar parameters."""

    def __init__(self, fit: Any):
        self.fit = fit
        est = fit.estimate
        self.sizes: List[Tuple[int, Any, Any]] = []    # (q, pd, term) innermost first
        pars: List[np.ndarray] = []
        names: List[str] = []
        for i in range(fit.Q, 0, -1):
            lv = fit.levels[i - 1]
            term = fit.design.reterms[fit.frame.term_of_level[i - 1]]
            S = fit.re_covariance(i).to_numpy()
            x = level_natural(lv.pd.r_class, S)
            self.sizes.append((S.shape[0], lv.pd, term))
            pars.append(x)
            names += unlist_names(f"reStruct.{lv.group}", [""] * x.size)
        self.n_re = sum(p.size for p in pars)
        pc, pv = fit.criterion.split(est.spar)
        cor = fit.correlation
        a_cor = cor.apvar_par(pc) if cor is not None else np.zeros(0)
        self.nc = a_cor.size
        if cor is not None and cor.n_par:
            names += unlist_names("corStruct", cor.par_names())
        if fit.weights is not None and fit.weights.n_par:
            names += unlist_names("varStruct", fit.weights.par_names())
        names.append("lSigma")
        self.pars = np.concatenate(pars + [a_cor, np.asarray(pv, dtype=float),
                                           [math.log(est.sigma)]])
        self.names = names
        n, p = fit.nobs(), len(est.beta)
        self.N = n - (p if fit.REML else 0)

    def split(self, x: np.ndarray):
        """(absolute covariances innermost first, cor part, var part, log sigma)."""
        covs, k = [], 0
        for q, pd, _term in self.sizes:
            m = len(level_natural(pd.r_class, np.eye(q)))
            covs.append(natural_to_cov(pd.r_class, x[k:k + m], q))
            k += m
        return covs, x[k:k + self.nc], x[k + self.nc:-1], float(x[-1])

    def loglik(self, x: np.ndarray) -> float:
        fit = self.fit
        covs, c, v, lsig = self.split(np.asarray(x, dtype=float))
        sigma2 = math.exp(2.0 * lsig)
        par = np.array(fit.estimate.par, dtype=float)
        for S, (_q, _pd, term) in zip(covs, self.sizes):
            cov = term.covariance
            par[term.par_offset:term.par_offset + cov.n_par] = _term_par(term, S / sigma2)
        cor = fit.correlation
        cpar = cor.from_apvar_par(c) if cor is not None and self.nc else np.zeros(0)
        spar = np.concatenate([np.asarray(cpar, dtype=float), np.asarray(v, dtype=float)])
        try:
            e = fit.criterion.estimate(spar, par)
        except (FitError, np.linalg.LinAlgError, ValueError):
            return -math.inf
        a = float(e.sigma) ** 2 / sigma2
        if not (a > 0 and math.isfinite(a)):
            return -math.inf
        return float(e.logLik) + self.N / 2.0 * (math.log(a) - a + 1.0)


def lme_ap_var(fit: Any, hessian: str = "richardson") -> Tuple[Any, np.ndarray, List[str]]:
    """(apVar as a matrix, or nlme's message when the Hessian is not negative definite; the
    parameters at the estimates; their nlme names)."""
    from .estimate import fd_hess
    prob = _LmeApVarProblem(fit)
    if hessian == "fdHess":
        H = fd_hess(prob.pars, prob.loglik)["Hessian"]
    else:
        H = richardson_hessian(prob.loglik, prob.pars)
    if not np.all(np.isfinite(H)) or np.any(np.linalg.eigvalsh((H + H.T) / 2) >= 0):
        return NOT_PD, prob.pars, prob.names
    V = np.linalg.inv(-H)
    return (V + V.T) / 2, prob.pars, prob.names


def lme_interval_blocks(fit: Any, level: float, which: str,
                        ap_var: Any = None) -> List[IntervalsBlock]:
    """The blocks of ``intervals(lme_fit)``: fixed effects, random effects per level
    (outermost first), residual structure, sigma. ``ap_var``: use this apVar matrix (in the
    order of :func:`lme_ap_var`) instead of computing it."""
    blocks: List[IntervalsBlock] = []
    if which != "var-cov":
        beta = np.asarray(fit.estimate.beta, dtype=float)
        se = np.sqrt(np.diag(np.asarray(fit.estimate.varBeta, dtype=float)))
        half = -stats.t.ppf((1 - level) / 2, np.asarray(fit.fixDF.X, dtype=float)) * se
        blocks.append(IntervalsBlock("fixed", "Fixed effects:", list(fit.frame.gls.colnames),
                                     np.column_stack([beta - half, beta, beta + half])))
    if which == "fixed":
        return blocks
    if ap_var is None:
        av, pars, _names = lme_ap_var(fit)
    else:
        av, pars = np.asarray(ap_var, dtype=float), _LmeApVarProblem(fit).pars
    if isinstance(av, str):
        raise FitError(f"cannot get confidence intervals on var-cov components: {av}; "
                       "consider which = 'fixed'")
    half = -stats.norm.ppf((1 - level) / 2) * np.sqrt(np.diag(av))
    cols = [pars - half, pars, pars + half]
    prob = _LmeApVarProblem(fit)
    # random effects, outermost first
    levels: List[Tuple[str, List[str], np.ndarray]] = []
    k = 0
    per_level = []
    for q, pd, term in prob.sizes:                   # innermost first
        m = len(level_natural(pd.r_class, np.eye(q)))
        per_level.append((q, pd, term, k, m))
        k += m
    for (q, pd, term, k0, m), lv in zip(reversed(per_level), fit.levels):
        vals = np.column_stack([_natural_values(pd.r_class, c[k0:k0 + m], q) for c in cols])
        levels.append((lv.group, _level_names(pd, list(term.cnms)), vals))
    blocks.append(IntervalsBlock("reStruct", "Random Effects:", None, np.zeros(0),
                                 levels=levels))
    nc, nre = prob.nc, prob.n_re
    cor, var = fit.correlation, fit.weights
    if cor is not None and cor.n_par:
        mat = np.column_stack([cor.apvar_to_natural(c[nre:nre + nc]) for c in cols])
        blocks.append(IntervalsBlock("corStruct", "Correlation structure:",
                                     cor.interval_names(), mat))
    if var is not None and var.n_par:
        mat = np.column_stack([var.natural(c[nre + nc:-1]) for c in cols])
        blocks.append(IntervalsBlock("varStruct", "Variance function:", var.natural_names(),
                                     mat))
    blocks.append(IntervalsBlock("sigma", "Within-group standard error:", None,
                                 np.exp(np.array([c[-1] for c in cols]))))
    return blocks


def _natural_values(pd_class: str, x: np.ndarray, q: int) -> np.ndarray:
    """nlme's ``coef(pd, unconstrained = FALSE)`` from the natural parameters ``x``: standard
    deviations and correlations (``pdCompSymm``: its sd and correlation)."""
    x = np.asarray(x, dtype=float)
    if pd_class in ("pdDiag", "pdIdent"):
        return np.exp(x)
    if pd_class == "pdCompSymm":
        a = 1.0 / (q - 1) if q > 1 else 0.0
        e = math.exp(x[1])
        return np.array([math.exp(x[0]), (e - a) / (1.0 + e)])
    return np.concatenate([np.exp(x[:q]), _r(x[q:])])
