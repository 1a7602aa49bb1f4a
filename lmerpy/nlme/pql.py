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
from ..errors import ArgumentError, DataError
from ..families import Family, as_family
from ..models.lmm import LinearMixedModel, mkLmerDevfun, mkMerMod, optimizeLmer
from ..models.glmm import glFormula
from ..pls.glm_fit import GlmFit, glm_fit
from ..pls.glmm.glm_response import GlmResponse
from ..types import NaAction
from .pdmat import parse_random

__all__ = ["glmmPQL", "PqlFit", "glm_irls", "random_to_bars"]

_NITER = Integer(lower=1)
#: MASS's convergence test: sum((eta - eta_old)^2) < PQL_TOLERANCE * sum(eta^2)
PQL_TOLERANCE = 1e-6


# ---------------------------------------------------------------------- the random part


def random_to_bars(random: Any, caller: str = "glmmPQL") -> List[str]:
    """nlme's random part as lmerpy's random-effects terms, as ``lme`` maps it:
    ``"~ 1 | g"`` → ``["(1 | g)"]``, ``"~ x | g"`` → ``["(x | g)"]`` (pdSymm: unstructured),
    ``"~ 1 | a/b"`` → ``["(1 | a)", "(1 | a:b)"]`` (nested levels, outermost first), a dict
    ``{"a": "~ x", "b": pdDiag("~ x")}`` (one entry per level, each nested in the one before:
    ``["(x | a)", "diag(x | a:b)"]``)."""
    if not isinstance(random, (str, dict)):
        raise argument_error("random", random, 'a formula string such as "~ 1 | Subject" or a '
                             'dict {"Subject": "~ age"}', caller)
    return [lv.pd.lme4_term(lv.lme4_group) for lv in parse_random(random)]


def _drop_offsets(rhs: str) -> str:
    """The right-hand side without its ``offset(...)`` terms (the working response already
    excludes the offset, as MASS's ``fixed2``)."""
    out, i = [], 0
    while i < len(rhs):
        m = re.compile(r"\boffset\s*\(").search(rhs, i)
        if m is None:
            out.append(rhs[i:])
            break
        out.append(rhs[i:m.start()])
        depth, j = 1, m.end()
        while j < len(rhs) and depth:
            depth += {"(": 1, ")": -1}.get(rhs[j], 0)
            j += 1
        i = j
    text = "".join(out)
    text = re.sub(r"\+\s*\+", "+", text)
    text = re.sub(r"^\s*\+|\+\s*$", "", text.strip()).strip()
    return text or "1"


# ---------------------------------------------------------------------- the glm start


def glm_irls(X: np.ndarray, resp: GlmResponse, family: Family) -> GlmFit:
    """R's ``glm.fit(x, y, weights, offset, family)`` from the family's ``mustart``: the glm
    glmmPQL starts from."""
    return glm_fit(X, resp.y, resp.weights, resp.offset, family, mustart=resp.mustart)


# ---------------------------------------------------------------------- the fit


class PqlFit:
    """A glmmPQL fit (R: an object of class ``c("glmmPQL", "lme")``).

    The fit is the last linear mixed model of the iteration, :attr:`lme`: nlme's ``lme`` of
    the working response ``zz`` with ``weights = varFixed("~ invwt")`` by maximum likelihood;
    the accessors are its (the fitted values with the offset added, as MASS does), and
    ``print``/``summary`` are nlme's with the log-likelihood, AIC and BIC ``NA`` (the PQL
    criterion is not a likelihood).

    Attributes
    ----------
    lme : LmeModel
        The last working model (data: the model rows with columns ``zz`` and ``invwt``).
    lmm : LinearMixedModel or None
        The same model as lmerpy's weighted ``lmer`` fit (prior weights ``1 / invwt``), the
        form the iteration runs in.
    family : lmerpy.families.Family
    iterations : int
        The number of LMM fits (MASS's ``iteration k`` messages).
    converged : bool
        Whether MASS's test stopped the iteration before ``niter`` fits.
    glm : lmerpy.pls.glm_fit.GlmFit or None
        The glm fit the iteration started from.
    zz, invwt, offset : ndarray
        The working response and variance covariate of the last fit, and the offset (model
        rows in the data's order).
    """

    r_class = ("glmmPQL", "lme")

    def __init__(self, lme_fit: Any, lmm: Optional[LinearMixedModel], family: Family,
                 glm: Optional[GlmFit],
                 zz: np.ndarray, invwt: np.ndarray, offset: np.ndarray, iterations: int,
                 converged: bool, call: Dict[str, Any]):
        self.lme = lme_fit
        self.lmm = lmm
        self.family = family
        self.glm = glm
        self.zz = zz
        self.invwt = invwt
        self.offset = offset
        self.iterations = iterations
        self.converged = converged
        self.call = call

    # -- nlme's accessors ------------------------------------------------------------
    def fixef(self) -> pd.Series:
        """The fixed effects (on the link scale)."""
        return self.lme.fixef()

    coefficients = fixef

    def vcov(self) -> pd.DataFrame:
        """nlme's ``vcov``: sigma^2 (X' V^-1 X)^-1 at the ML estimates of the last LMM."""
        return self.lme.vcov()

    def std_errors(self) -> pd.Series:
        """The fixed effects' standard errors as ``summary`` prints them (nlme's
        ``adjustSigma = TRUE`` scales an ML fit's by sqrt(N / (N - p)))."""
        return self.lme.summary().tTable["Std.Error"]

    def sigma(self) -> float:
        """The residual standard deviation of the working LMM (MASS reports it: 1 when the
        family's variance holds)."""
        return float(self.lme.sigma())

    def VarCorr(self) -> Any:
        """nlme's ``VarCorr`` of the last LMM."""
        return self.lme.VarCorr()

    def re_covariance(self, level: int = 1) -> pd.DataFrame:
        """The random effects' covariance matrix at ``level`` (1 = outermost grouping) on the
        link scale."""
        return self.lme.re_covariance(level)

    def ranef(self, level: Any = None) -> Any:
        return self.lme.ranef(level)

    def nobs(self) -> int:
        return self.lme.nobs()

    def logLik(self) -> float:
        """NA in MASS (the PQL criterion is not a likelihood): NaN."""
        return float("nan")

    def AIC(self) -> float:
        return float("nan")

    def BIC(self) -> float:
        return float("nan")

    def fitted(self, level: Optional[int] = None) -> pd.Series:
        """The fitted linear predictor with the offset (R: ``fitted(fit)``: nlme's innermost
        level; ``level=0``: the fixed part only)."""
        return self.lme.fitted(level) + self.offset

    def residuals(self, type: str = "response") -> pd.Series:
        """nlme's residuals of the working LMM (``"response"``: zz - fitted,
        ``"pearson"``: divided by sigma * sqrt(invwt), ``"normalized"``)."""
        return self.lme.residuals(type)

    def predict(self, newdata: Any = None, level: int = 1, type: str = "link") -> np.ndarray:
        """MASS's ``predict.glmmPQL``: the linear predictor (``type="link"``) or the mean
        (``type="response"``) at the innermost level (``level=1``) or the population
        (``level=0``). With ``newdata`` the formula may not hold an offset."""
        if type not in ("link", "response"):
            raise argument_error("type", type, "'link' or 'response'", "predict")
        if newdata is None:
            eta = np.asarray(self.fitted(level=0 if level == 0 else None), dtype=float)
        else:
            eta = np.asarray(self.lme.predict(newdata, level=0 if level == 0 else None),
                             dtype=float)
        return self.family.linkinv(eta) if type == "response" else eta

    def intervals(self, level: float = 0.95, which: str = "all") -> Any:
        """nlme's ``intervals`` of the last working ``lme`` fit (MASS: ``intervals(fit)``;
        ``which="fixed"`` for the fixed effects on nlme's df)."""
        from .inference import intervals
        return intervals(self.lme, level=level, which=which)

    def anova(self, *others: Any, **kwargs: Any) -> Any:
        """Not available, as in MASS (``anova.glmmPQL``): PQL fits have no likelihood."""
        raise ArgumentError("'anova' is not available for PQL fits (the penalized "
                            "quasi-likelihood is not a likelihood); compare glmer fits instead")

    @staticmethod
    def anova_of(*models: Any, **kwargs: Any) -> Any:
        """``lmerpy.anova`` of a glmmPQL fit: not available, as in MASS."""
        raise ArgumentError("'anova' is not available for PQL fits (the penalized "
                            "quasi-likelihood is not a likelihood); compare glmer fits instead")

    def summary(self) -> Any:
        """nlme's ``summary``: ``str()`` is MASS's ``print(summary(fit))`` (AIC, BIC and
        logLik NA); ``tTable`` has nlme's DF."""
        s = self.lme.summary()
        s.AIC = s.BIC = s.logLik = None
        return s

    def __str__(self) -> str:
        lines = str(self.lme).split("\n")
        lines[2] = "  Log-likelihood: NA"
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


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
            niter: int = 10, verbose: bool = False, na_action: NaAction = "omit",
            correlation: Any = None) -> PqlFit:
    """Fit a GLMM by penalized quasi-likelihood (R: ``MASS::glmmPQL``).

    Parameters
    ----------
    fixed : str
        The fixed part with the response, e.g. ``"y ~ trt + I(week > 2)"``,
        ``"cbind(incidence, size - incidence) ~ period"``, with ``offset()`` terms if any.
    random : str or dict
        nlme's random part, as :func:`lmerpy.lme` takes it: ``"~ 1 | ID"``, ``"~ week | ID"``,
        ``"~ 1 | a/b"`` (nested), or one entry per level, outermost first: ``{"ID": "~
        week"}``, ``{"ID": lmerpy.pdDiag("~ week")}``.
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
        Rows with missing values are dropped (``"fail"``: an error); the fit's fitted values
        and residuals are those of the rows used.
    correlation : corStruct, optional
        A within-group correlation structure (``corAR1(form="~ t | g")``...), as MASS passes
        it to each ``lme`` fit; the steps are then nlme's ``lme`` fits themselves (without
        one they run on lmerpy's weighted ``lmer`` core).

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
    last: Any = None
    converged = False
    it = 0
    for it in range(1, niter + 1):
        if verbose:
            print(f"iteration {it}")
        if correlation is None:
            # lme with varFixed(~ invwt) is lmer with prior weights 1 / invwt: one design
            step = dataclasses.replace(base, y=zz, weights=wz)
            devfun = mkLmerDevfun(step, REML=False)
            opt = optimizeLmer(devfun, start=par)
            par = np.asarray(opt.par, dtype=float)
            fitted = np.asarray(devfun.solve(par).fitted, dtype=float)
            last = (devfun, opt, step, zz, wz)
        else:
            # a correlation structure: each step is nlme's lme itself
            last = _lme_step(fixed, random, data, design, zz, 1.0 / wz, correlation)
            fitted = np.asarray(last.fitted(), dtype=float)
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
    call = dict(fixed=fixed, random=random, family=fam, weights=weights, niter=niter,
                correlation=correlation)
    if correlation is not None:
        zz_last = np.asarray(last.data["zz"], dtype=float)
        invwt = np.asarray(last.data["invwt"], dtype=float)
        return PqlFit(last, None, fam, g0, zz_last, invwt, off, it, converged, call)
    devfun, opt, step, zz, wz = last
    lmm = mkMerMod(devfun, opt, step, data=data, call={"formula": formula, "REML": False})
    final = _lme_step(fixed, random, data, design, zz, 1.0 / wz, None)
    return PqlFit(final, lmm, fam, g0, zz, 1.0 / wz, off, it, converged, call)


def _lme_step(fixed, random, data, design, zz, invwt, correlation):
    """nlme's ``lme(zz ~ ..., random, correlation, weights = varFixed(~ invwt), method =
    "ML")`` on the model rows with the working data (MASS keeps them as columns ``zz`` and
    ``invwt``); its printouts name the fixed formula as the user wrote it."""
    from ..formula import parse_formula
    from .lme import lme
    from .varfunc import varFixed
    dropped = np.asarray(getattr(design, "dropped_rows", []), dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(data)), dropped)
    work = data.iloc[kept].copy()
    work["zz"] = zz
    work["invwt"] = invwt
    work.attrs["name"] = data.attrs.get("name")
    rhs = _drop_offsets(fixed.split("~", 1)[1])
    fit = lme(f"zz ~ {rhs}", work, random=random, correlation=correlation,
              weights=varFixed("~ invwt"), method="ML", na_action="fail")
    fit.frame.formula_text = parse_formula(fixed).deparse()
    return fit
