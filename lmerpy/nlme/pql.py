"""``glmmPQL``: generalized linear mixed models by penalized quasi-likelihood, as MASS fits them.

R equivalent: ``MASS::glmmPQL(fixed, random, family, data, weights, niter = 10)`` (Breslow &
Clayton 1993; Venables & Ripley 2002, section 10.4). The fit starts from a ``glm`` fit (R's
``glm.fit``: the family's starting means, IRLS until the deviance changes by less than 1e-8
relative) and then alternates

1. a linear mixed model fitted by maximum likelihood to the working response
   ``zz = eta + (y - mu) / mu.eta(eta) - offset`` with variance weights
   ``varFixed(~ invwt)``, ``invwt = 1 / (w * mu.eta(eta)^2 / V(mu))`` (w: the prior weights,
   times the trials of a ``cbind(successes, failures)`` response), and
2. ``eta = fitted(fit) + offset`` (the fitted values at the innermost grouping level),

until ``sum((eta - eta_old)^2) < 1e-6 * sum(eta^2)`` or ``niter`` fits. An ``lme`` fit with
``varFixed(~ invwt)`` has exactly the criterion of ``lmer`` with prior weights ``1 / invwt``
(residual variance sigma^2 * invwt_i), so each step runs lmerpy's weighted LMM core on one
design (X and Z are built once; only the response and the weights change between steps), warm
started at the previous step's covariance parameters.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NA_ACTION, Integer, argument_error, numeric_vector
from ..errors import DataError
from ..families import Family, as_family
from ..models.lmm import LinearMixedModel, mkLmerDevfun, mkMerMod, optimizeLmer
from ..models.glmm import glFormula
from ..pls.glmm.glm_response import GlmResponse
from ..types import NaAction

__all__ = ["glmmPQL", "PqlFit", "glm_irls", "GlmStart", "random_to_bars"]

_NITER = Integer(lower=1)
#: MASS's convergence test: sum((eta - eta_old)^2) < PQL_TOLERANCE * sum(eta^2)
PQL_TOLERANCE = 1e-6
#: R's glm.control(): epsilon and maxit
GLM_EPSILON = 1e-8
GLM_MAXIT = 25


# ---------------------------------------------------------------------- the random part

_BAR = re.compile(r"^\s*~(.*)\|(.*)$", re.S)


def random_to_bars(random: Any, caller: str = "glmmPQL") -> List[str]:
    """nlme's random part as lme4 bar terms: ``"~ 1 | g"`` → ``["(1 | g)"]``, ``"~ x | g"`` →
    ``["(x | g)"]`` (nlme's default pdSymm is lme4's unstructured covariance), ``"~ 1 | a/b"``
    → ``["(1 | a/b)"]`` (nested: a, then b within a); a list of such formulas; a dict
    ``{"g": "~ x"}`` (nlme's named list).
    """
    if isinstance(random, str):
        m = _BAR.match(random)
        if m is None:
            raise argument_error("random", random, 'a one-sided formula with a grouping factor, '
                                 'e.g. "~ 1 | Subject" or "~ age | Subject"', caller)
        lhs, groups = m.group(1).strip(), m.group(2).strip()
        if not lhs or not groups:
            raise argument_error("random", random, 'a formula "~ terms | grouping"', caller)
        return [f"({lhs} | {groups})"]
    if isinstance(random, dict):
        out = []
        for group, form in random.items():
            if not isinstance(group, str) or not isinstance(form, str) or "|" in form:
                raise argument_error("random", random, 'a dict {"group": "~ terms"}', caller)
            lhs = form.strip()
            lhs = lhs[1:].strip() if lhs.startswith("~") else lhs
            out.append(f"({lhs or '1'} | {group})")
        if not out:
            raise argument_error("random", random, "at least one grouping factor", caller)
        return out
    if isinstance(random, (list, tuple)) and random:
        return [bar for item in random for bar in random_to_bars(item, caller)]
    raise argument_error("random", random, 'a formula string such as "~ 1 | Subject", a list '
                         'of them or a dict {"Subject": "~ age"}', caller)


# ---------------------------------------------------------------------- the glm start


@dataclasses.dataclass
class GlmStart:
    """What ``glm.fit`` leaves for glmmPQL: ``coefficients``, ``linear_predictors`` (with the
    offset), working ``residuals`` (y - mu) / mu.eta at the final eta, working ``weights``
    (R's ``fit$weights``: those of the last IRLS step, i.e. at the eta it started from),
    ``deviance``, ``iterations`` and ``converged``."""
    coefficients: np.ndarray
    linear_predictors: np.ndarray
    residuals: np.ndarray
    weights: np.ndarray
    deviance: float
    iterations: int
    converged: bool


def glm_irls(X: np.ndarray, resp: GlmResponse, family: Family, epsilon: float = GLM_EPSILON,
             maxit: int = GLM_MAXIT) -> GlmStart:
    """R's ``glm.fit(x, y, weights, offset, family)`` (IRLS from the family's ``mustart``,
    with its step halving when the deviance is not finite or eta/mu leave the family's
    domain)."""
    y, w, off = resp.y, resp.weights, resp.offset
    eta = family.linkfun(resp.mustart)
    mu = family.linkinv(eta)
    devold = float(np.sum(family.dev_resids(y, mu, w)))
    beta = np.zeros(X.shape[1])
    coefold = None
    wt = np.zeros_like(y)
    conv = False
    it = 0
    for it in range(1, maxit + 1):
        mu_eta = family.mu_eta(eta)
        good = (w > 0) & (mu_eta != 0)
        z = (eta - off)[good] + (y - mu)[good] / mu_eta[good]
        sw = np.sqrt(w[good] * mu_eta[good] ** 2 / family.variance(mu[good]))
        beta = np.linalg.lstsq(X[good] * sw[:, None], z * sw, rcond=None)[0]
        wt = np.zeros_like(y)
        wt[good] = sw ** 2
        eta = X @ beta + off
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, w)))
        halvings = 0
        while (not np.isfinite(dev) or not family.valideta(eta) or not family.validmu(mu)):
            if coefold is None or halvings >= maxit:
                raise DataError("no valid set of coefficients for the glm that starts "
                                "glmmPQL: please supply starting values")
            halvings += 1
            beta = (beta + coefold) / 2.0
            eta = X @ beta + off
            mu = family.linkinv(eta)
            dev = float(np.sum(family.dev_resids(y, mu, w)))
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            conv = True
            break
        devold = dev
        coefold = beta
    residuals = (y - mu) / family.mu_eta(eta)
    return GlmStart(beta, eta, residuals, wt, dev, it, conv)


# ---------------------------------------------------------------------- the fit


class PqlFit:
    """A glmmPQL fit (R: an object of class ``c("glmmPQL", "lme")``).

    The last linear mixed model of the iteration is :attr:`lmm` (an ML fit of the working
    response with prior weights ``1 / invwt``); the accessors give nlme's values of it.

    Attributes
    ----------
    family : lmerpy.families.Family
    iterations : int
        The number of LMM fits (MASS's ``iteration k`` messages).
    converged : bool
        Whether MASS's test stopped the iteration before ``niter`` fits.
    glm : GlmStart
        The glm fit the iteration started from.
    lmm : LinearMixedModel
    zz, invwt : ndarray
        The working response and variance covariate of the last LMM fit.
    offset : ndarray
    """

    r_class = ("glmmPQL", "lme")

    def __init__(self, lmm: LinearMixedModel, family: Family, glm: GlmStart, zz: np.ndarray,
                 invwt: np.ndarray, offset: np.ndarray, fitted: np.ndarray, iterations: int,
                 converged: bool,
                 call: Dict[str, Any], data: pd.DataFrame):
        self.lmm = lmm
        self.family = family
        self.glm = glm
        self.zz = zz
        self.invwt = invwt
        self.offset = offset
        self._fitted1 = fitted
        self.iterations = iterations
        self.converged = converged
        self.call = call
        self._data = data

    # -- nlme's accessors ------------------------------------------------------------
    def fixef(self) -> pd.Series:
        """The fixed effects (on the link scale)."""
        return self.lmm.fixef()

    coefficients = fixef

    def vcov(self) -> pd.DataFrame:
        """nlme's ``vcov``: sigma^2 (X' V^-1 X)^-1 at the ML estimates of the last LMM."""
        return self.lmm.vcov()

    def std_errors(self, adjust_sigma: bool = True) -> pd.Series:
        """The fixed effects' standard errors as ``summary`` prints them: nlme's
        ``summary.lme(adjustSigma = TRUE)`` scales an ML fit's by sqrt(N / (N - p))."""
        V = self.lmm.vcov()
        se = pd.Series(np.sqrt(np.diag(V.to_numpy())), index=V.index)
        if adjust_sigma:
            n, p = self.lmm.design.X.shape
            se = se * np.sqrt(n / (n - p))
        return se

    def sigma(self) -> float:
        """The residual standard deviation of the working LMM (1 when the family's dispersion
        is 1 and the model fits; MASS reports it, it is estimated)."""
        return float(self.lmm.sigma())

    def VarCorr(self):
        return self.lmm.VarCorr()

    def ranef(self):
        return self.lmm.ranef(condVar=False)

    def nobs(self) -> int:
        return self.lmm.nobs()

    def logLik(self) -> float:
        """NA in MASS (the PQL criterion is not a likelihood): NaN."""
        return float("nan")

    def AIC(self) -> float:
        return float("nan")

    def BIC(self) -> float:
        return float("nan")

    def fitted(self, level: Optional[int] = None) -> np.ndarray:
        """The fitted linear predictor without the offset (R: ``fitted(fit)``, nlme's
        innermost level; ``level=0``: the fixed part only). MASS adds the offset when the
        formula has one."""
        X = self.lmm.design.X
        beta = self.lmm.fixef().to_numpy()
        if level == 0:
            f = X @ beta
        else:
            f = self._fitted1
        return f + self.offset

    def residuals(self, type: str = "response") -> np.ndarray:
        """nlme's residuals of the working LMM: ``"response"`` (zz - fitted) or
        ``"pearson"`` (divided by sigma * sqrt(invwt))."""
        r = self.zz + self.offset - self.fitted()
        if type == "response":
            return r
        if type == "pearson":
            return r / (self.sigma() * np.sqrt(self.invwt))
        raise argument_error("type", type, "'response' or 'pearson'", "residuals")

    def predict(self, newdata: Any = None, level: int = 1, type: str = "link") -> np.ndarray:
        """MASS's ``predict.glmmPQL``: the linear predictor (``type="link"``) or the mean
        (``type="response"``) at the innermost level (``level=1``) or the population
        (``level=0``)."""
        if type not in ("link", "response"):
            raise argument_error("type", type, "'link' or 'response'", "predict")
        if newdata is None:
            eta = self.fitted(level=0 if level == 0 else None)
        else:
            re_form = "NA" if level == 0 else None
            eta = np.asarray(self.lmm.predict(newdata, re_form=re_form), dtype=float)
        return self.family.linkinv(eta) if type == "response" else eta

    def __repr__(self) -> str:
        fam = self.family
        return (f"<glmmPQL fit: {fam.family}({fam.link}), {self.nobs()} observations, "
                f"{self.iterations} iterations>")


def _weights(weights, data, n, caller):
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise argument_error("weights", weights, "a column of data or a vector of "
                                 "prior weights", caller)
        weights = data[weights]
    return numeric_vector("weights", weights, caller)


def glmmPQL(fixed: str, random: Any, family: Any, data: Any, weights: Any = None,
            niter: int = 10, verbose: bool = False, na_action: NaAction = "omit") -> PqlFit:
    """Fit a GLMM by penalized quasi-likelihood (R: ``MASS::glmmPQL``).

    Parameters
    ----------
    fixed : str
        The fixed part with the response, e.g. ``"y ~ trt + I(week > 2)"``,
        ``"cbind(incidence, size - incidence) ~ period"``, with ``offset()`` terms if any.
    random : str, list or dict
        nlme's random part: ``"~ 1 | ID"``, ``"~ week | ID"``, ``"~ 1 | a/b"`` (nested), a
        list of such formulas or ``{"ID": "~ week"}``.
    family : Family, family class or name
        ``binomial`` (0/1, a two-level factor, proportions with ``weights``, or
        ``cbind(successes, failures)``), ``poisson``, ``Gamma``, ``inverse_gaussian``,
        ``gaussian`` with any of their links.
    data : DataFrame-like
    weights : array-like or str, optional
        Prior weights (a vector or the name of a column of ``data``).
    niter : int
        The maximum number of LMM fits (10, as MASS).
    verbose : bool
        Print ``iteration k`` before each LMM fit (MASS's default prints them; lmerpy's is
        quiet).
    na_action : {"omit", "exclude", "fail"}

    Returns
    -------
    PqlFit
    """
    from ..design.dataframe import as_data_frame
    caller = "glmmPQL"
    data = as_data_frame(data)
    fam = as_family(family)
    niter = _NITER("niter", niter, caller)
    verbose = LOGICAL("verbose", verbose, caller)
    na_action = NA_ACTION("na_action", na_action, caller)
    if not isinstance(fixed, str) or "~" not in fixed:
        raise argument_error("fixed", fixed, 'a two-sided formula string such as '
                             '"y ~ trt + week"', caller)
    if "|" in fixed:
        raise argument_error("fixed", fixed, "a formula without random terms (they go in "
                             "random=)", caller)
    bars = random_to_bars(random, caller)
    w = _weights(weights, data, len(data), caller)
    formula = fixed + " + " + " + ".join(bars)
    design = glFormula(formula, data, family=fam, weights=w, na_action=na_action)
    resp = GlmResponse(design, fam)
    if np.any(resp.weights <= 0):
        bad = np.flatnonzero(resp.weights <= 0)
        raise DataError(f"glmmPQL: prior weights (times the binomial trials) must be positive "
                        f"(zero at row(s) {', '.join(str(i + 1) for i in bad[:5])}): the "
                        f"working LMM would have infinite variance there")
    X = np.asarray(design.X, dtype=float)
    off = resp.offset
    g0 = glm_irls(X, resp, fam)
    eta = g0.linear_predictors
    zz = eta + g0.residuals - off
    wz = g0.weights
    n = X.shape[0]
    base = dataclasses.replace(design, REML=False, offset=np.zeros(n))
    par = None
    last = None
    converged = False
    it = 0
    for it in range(1, niter + 1):
        if verbose:
            print(f"iteration {it}")
        step = dataclasses.replace(base, y=zz, weights=wz)
        devfun = mkLmerDevfun(step, REML=False)
        opt = optimizeLmer(devfun, start=par)
        par = np.asarray(opt.par, dtype=float)
        fitted = np.asarray(devfun.solve(par).fitted, dtype=float)
        last = (devfun, opt, step, zz, wz, fitted)
        eta_old = eta
        eta = fitted + off
        if np.sum((eta - eta_old) ** 2) < PQL_TOLERANCE * np.sum(eta ** 2):
            converged = True
            break
        mu = fam.linkinv(eta)
        mu_eta = fam.mu_eta(eta)
        zz = eta + (resp.y - mu) / mu_eta - off
        wz = resp.weights * mu_eta ** 2 / fam.variance(mu)
    assert last is not None
    devfun, opt, step, zz, wz, fitted = last
    lmm = mkMerMod(devfun, opt, step, data=data, call={"formula": formula, "REML": False})
    call = dict(fixed=fixed, random=random, family=fam, weights=weights, niter=niter)
    return PqlFit(lmm, fam, g0, zz, 1.0 / wz, off, fitted, it, converged, call, data)
