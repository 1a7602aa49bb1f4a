"""``anova`` and ``intervals`` for gls fits, as nlme computes and prints them.

R equivalent: ``nlme:::anova.gls`` (one model: F tests of the terms with denominator
``n - p``; several: ``anova.lme``'s likelihood-ratio table) and ``nlme:::intervals.gls``
(t intervals for the coefficients; normal intervals for the structure parameters on nlme's
unconstrained scale from ``apVar``, mapped back to the natural scale; for ``sigma`` on the log
scale, or chi-square intervals when there are no structure parameters).
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import LEVEL, Choice, argument_error, show
from ..errors import ArgumentError, DataError, FitError, LmerpyError
from ..warnings import InferenceWarning, warn
from .display import IntervalsBlock, format_anova_lrt, format_anova_terms, format_intervals

__all__ = ["anova", "intervals", "GlsAnova", "GlsIntervals"]

_TYPE = Choice(("sequential", "marginal"))
_WHICH = Choice(("all", "var-cov", "coef"))


class GlsAnova(pd.DataFrame):
    """An nlme ANOVA table (a DataFrame); ``str()`` is nlme's ``print.anova.lme`` text."""

    _metadata = ["_text"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._text


def _is_gls(x) -> bool:
    return getattr(x, "r_class", None) == "gls" and hasattr(x, "criterion")


def anova(*models: Any, type: str = "sequential", names: Optional[Sequence[str]] = None,
          test: bool = True, **named_models: Any) -> GlsAnova:
    """nlme's ``anova`` for gls fits.

    Parameters
    ----------
    *models : GlsModel
        One fit: F tests of its terms. Several: likelihood-ratio tests, in the order given.
    type : {"sequential", "marginal"}
        One fit: sequential (each term after those before it) or marginal (each term after
        all others) F tests.
    names : sequence of str, optional
        Row names of the models (R takes the argument expressions; otherwise
        ``MODEL1``, ``MODEL2``, ...). Models passed as keywords are named by the keyword.
    test : bool
        Several fits: add the likelihood-ratio tests.

    Returns
    -------
    GlsAnova
        A DataFrame (``numDF``, ``F-value``, ``p-value``; or ``Model``, ``df``, ``AIC``,
        ``BIC``, ``logLik``, ``Test``, ``L.Ratio``, ``p-value``) whose ``str()`` is nlme's.
    """
    fits = list(models) + list(named_models.values())
    for m in fits:
        if not _is_gls(m):
            raise ArgumentError(f"anova: expected gls fits, got {show(m)}")
    if not fits:
        raise LmerpyError("anova: no model given")
    if len(fits) == 1:
        return _anova_terms(fits[0], _TYPE("type", type, "anova"))
    if names is None:
        names = [f"MODEL{i + 1}" for i in range(len(models))] + list(named_models)
    else:
        if isinstance(names, str):
            raise argument_error("names", names, "a sequence of model names", "anova")
        names = [str(x) for x in names] + list(named_models)
        if len(names) != len(fits):
            raise ArgumentError("anova: model names vector and model list have different "
                                "lengths")
    return _anova_lrt(fits, names, bool(test))


def _assign_labels(fit) -> List[str]:
    spec = fit.frame.info["fixed"]
    return (["(Intercept)"] if spec.intercept else []) + [t.label for t in spec.terms]


def _anova_terms(fit, type: str) -> GlsAnova:
    fr = fit.frame
    n, p = fr.n, fr.p
    est = fit.estimate
    labels = _assign_labels(fit)
    assign = fr.assign
    values = sorted(set(assign.tolist()))
    offset = 0 if fr.info["fixed"].intercept else 1
    dDF = n - p
    # nlme: c0 = solve(t(varBetaFact), beta) with varBetaFact' varBetaFact = varBeta
    scale = est.sigma * math.sqrt((n - fit.REML * p) / (n - p))
    c0 = est.R @ est.beta / scale
    V = est.varBeta
    rows, nDF, Fval, Pval = [], [], [], []
    for a in values:
        cols = np.flatnonzero(assign == a)
        if type == "sequential":
            F = float(np.sum(c0[cols] ** 2)) / cols.size
        else:
            b = est.beta[cols]
            F = float(b @ np.linalg.solve(V[np.ix_(cols, cols)], b)) / cols.size
        rows.append(labels[a - offset])
        nDF.append(cols.size)
        Fval.append(F)
        Pval.append(float(stats.f.sf(F, cols.size, dDF)))
    label = f"Denom. DF: {dDF} \n"
    out = GlsAnova({"numDF": nDF, "F-value": Fval, "p-value": Pval}, index=rows)
    out._text = format_anova_terms(rows, nDF, Fval, Pval, label)
    return out


def _fixed_signature(fit) -> str:
    spec = fit.frame.info["fixed"]
    val = "&".join(sorted(t.label for t in spec.terms))
    return f"{val}&(Intercept)" if spec.intercept else val


def _anova_lrt(fits, names, test: bool) -> GlsAnova:
    methods = {f.method for f in fits}
    if len(methods) > 1:
        raise DataError("all fitted objects must have the same estimation method")
    REML = fits[0].REML
    if REML and len({_fixed_signature(f) for f in fits}) > 1:
        warn("fitted objects with different fixed effects. REML comparisons are not "
             "meaningful.", InferenceWarning)
    nobs = [f.nobs() for f in fits]
    if len(set(nobs)) > 1:
        raise DataError("all fitted objects must use the same number of observations ("
                        + ", ".join(f"{nm}: {k}" for nm, k in zip(names, nobs)) + ")")
    lls = [f.logLik(REML) for f in fits]
    df = [ll.df for ll in lls]
    AIC = [-2 * float(ll) + 2 * ll.df for ll in lls]
    BIC = [-2 * float(ll) + math.log(ll.nobs) * ll.df for ll in lls]
    logLik = [float(ll) for ll in lls]
    data = {"Model": list(range(1, len(fits) + 1)), "df": df, "AIC": AIC, "BIC": BIC,
            "logLik": logLik}
    t_col = lr = pv = None
    ddf = np.diff(df)
    if test and np.sum(np.abs(ddf)) > 0:
        t_col = [""] + [f"{i} vs {i + 1}" if d != 0 else "" for i, d in enumerate(ddf, 1)]
        lr = [None] + [2 * abs(b - a) if d != 0 else None
                       for a, b, d in zip(logLik[:-1], logLik[1:], ddf)]
        pv = [None] + [float(stats.chi2.sf(x, abs(d))) if x is not None else None
                       for x, d in zip(lr[1:], ddf)]
        data.update({"Test": t_col, "L.Ratio": [np.nan if x is None else x for x in lr],
                     "p-value": [np.nan if x is None else x for x in pv]})
    out = GlsAnova(data, index=list(names))
    out._text = format_anova_lrt(names, df, AIC, BIC, logLik, t_col, lr, pv)
    return out


# --------------------------------------------------------------------------- intervals


class GlsIntervals(dict):
    """``intervals(fit)``: a dict of DataFrames (``coef``, ``corStruct``, ``varStruct``) and a
    Series (``sigma``), each with columns/entries ``lower``, ``est.``, ``upper``; ``str()``
    is nlme's ``print.intervals.gls`` text."""

    def __init__(self, blocks: List[IntervalsBlock], level: float):
        super().__init__()
        self.level = level
        self.blocks = blocks
        for b in blocks:
            if b.names is None:
                self[b.key] = pd.Series(b.values, index=["lower", "est.", "upper"])
            else:
                self[b.key] = pd.DataFrame(b.values, index=b.names,
                                           columns=["lower", "est.", "upper"])

    def __str__(self) -> str:
        return format_intervals(self.blocks, self.level)

    __repr__ = __str__


def intervals(fit: Any, level: float = 0.95, which: str = "all") -> GlsIntervals:
    """nlme's ``intervals(fit, level = 0.95, which = c("all", "var-cov", "coef"))``.

    The coefficients' intervals use the t distribution on n - p degrees of freedom. The
    structure parameters' are normal intervals on the scale of ``fit.apVar`` (nlme's
    unconstrained scale; ``log((1 + r) / (1 - r))`` for the correlations of ``corSymm``),
    mapped to the natural scale; sigma's on the log scale. Without structure parameters,
    sigma's interval comes from the chi-square distribution of the residual sum of squares.

    Raises
    ------
    FitError
        ``apVar`` is not available (nlme: "cannot get confidence intervals on var-cov
        components: Non-positive definite approximate variance-covariance").
    """
    if not _is_gls(fit):
        raise ArgumentError(f"intervals: expected a gls fit, got {show(fit)}")
    level = LEVEL("level", level, "intervals")
    which = _WHICH("which", which, "intervals")
    fr = fit.frame
    n, p = fr.n, fr.p
    blocks: List[IntervalsBlock] = []
    if which != "var-cov":
        se = np.sqrt(np.diag(fit.estimate.varBeta))
        half = -stats.t.ppf((1 - level) / 2, n - p) * se
        b = fit.estimate.beta
        blocks.append(IntervalsBlock("coef", "Coefficients:", list(fr.colnames),
                                     np.column_stack([b - half, b, b + half])))
    if which != "coef":
        av = fit.apVar
        if av is None:
            Nr = n - fit.REML * p
            est = fit.sigma() * math.sqrt(Nr)
            vals = np.array([est / math.sqrt(stats.chi2.ppf((1 + level) / 2, Nr)), fit.sigma(),
                             est / math.sqrt(stats.chi2.ppf((1 - level) / 2, Nr))])
            blocks.append(IntervalsBlock("sigma", "Residual standard error:", None, vals))
        else:
            if isinstance(av, str):
                raise FitError(f"cannot get confidence intervals on var-cov components: {av}")
            half = -stats.norm.ppf((1 - level) / 2) * np.sqrt(np.diag(av.values))
            est = np.asarray(fit.apVar_pars, dtype=float)
            cols = [est - half, est, est + half]
            cor, var = fit.correlation, fit.weights
            nc = cor.apvar_par(np.zeros(cor.n_par)).size if cor is not None and cor.n_par \
                else 0
            if cor is not None and cor.n_par:
                mat = np.column_stack([cor.apvar_to_natural(c[:nc]) for c in cols])
                blocks.append(IntervalsBlock("corStruct", "Correlation structure:",
                                             cor.interval_names(), mat))
            if var is not None and var.n_par:
                mat = np.column_stack([var.natural(c[nc:-1]) for c in cols])
                blocks.append(IntervalsBlock("varStruct", "Variance function:",
                                             var.natural_names(), mat))
            blocks.append(IntervalsBlock("sigma", "Residual standard error:", None,
                                         np.exp(np.array([c[-1] for c in cols]))))
    return GlsIntervals(blocks, level)
