"""``anova`` and ``intervals`` for gls fits, as nlme computes and prints them.

R equivalent: ``nlme:::anova.gls`` (one model: F tests of the terms with denominator
``n - p``; several: ``anova.lme``'s likelihood-ratio table) and ``nlme:::intervals.gls``
(t intervals for the coefficients; normal intervals for the structure parameters on nlme's
unconstrained scale from ``apVar``, mapped back to the natural scale; for ``sigma`` on the log
scale, or chi-square intervals when there are no structure parameters).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import LEVEL, Choice, argument_error, show
from ..errors import ArgumentError, DataError, FitError, LmerpyError
from ..warnings import InferenceWarning, warn
from .display import IntervalsBlock, LBlock, format_anova_contrast, format_anova_lrt, \
    format_anova_terms, format_intervals

__all__ = ["anova", "intervals", "GlsAnova", "GlsIntervals", "WaldPieces", "gls_wald",
           "lme_wald"]

_TYPE = Choice(("sequential", "marginal"))
_WHICH = Choice(("all", "var-cov", "coef"))
_WHICH_LME = Choice(("all", "var-cov", "fixed"))


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


def _is_lme(x) -> bool:
    return getattr(x, "r_class", None) == "lme" and hasattr(x, "fixDF")


def _gls_frame(fit):
    """The fixed-effects frame (a GlsFrame) of a gls or lme fit."""
    return fit.frame.gls if _is_lme(fit) else fit.frame


def anova(*models: Any, type: str = "sequential", names: Optional[Sequence[str]] = None,
          test: bool = True, Terms: Any = None, L: Any = None,
          **named_models: Any) -> GlsAnova:
    """nlme's ``anova`` for gls fits.

    Parameters
    ----------
    *models : GlsModel or LmeModel
        One fit: F tests of its terms (an lme fit's with nlme's between/within denominator
        df per term). Several: likelihood-ratio tests, in the order given (gls and lme fits
        may be mixed, as nlme allows, when fitted by the same method).
    type : {"sequential", "marginal"}
        One fit: sequential (each term after those before it) or marginal (each term after
        all others) F tests.
    names : sequence of str, optional
        Row names of the models (R takes the argument expressions; otherwise
        ``MODEL1``, ``MODEL2``, ...). Models passed as keywords are named by the keyword.
    test : bool
        Several fits: add the likelihood-ratio tests.
    Terms : str, int or sequence of them, optional
        One fit: a single F test that the coefficients of these terms are all 0 (term labels
        as the table prints them, e.g. ``"age:Sex"``, or 0-based positions in its rows).
    L : array-like, Series, DataFrame or dict, optional
        One fit: a single F test of ``L @ beta = 0``. A vector is one row, a 2-D array one
        row per contrast; its columns are the first coefficients in order, unless it names
        them (a Series or dict ``{coefficient: weight}``, or a DataFrame whose columns are
        coefficient names (default integer columns: positional), whose index names the
        rows). Rows that are all 0 are dropped; the
        numerator df is the rank of ``L``.

    Returns
    -------
    GlsAnova
        A DataFrame (``numDF``, ``F-value``, ``p-value``; or ``Model``, ``df``, ``AIC``,
        ``BIC``, ``logLik``, ``Test``, ``L.Ratio``, ``p-value``) whose ``str()`` is nlme's.
    """
    fits = list(models) + list(named_models.values())
    for m in fits:
        if not (_is_gls(m) or _is_lme(m)):
            raise ArgumentError(f"anova: expected gls or lme fits, got {show(m)}")
    if not fits:
        raise LmerpyError("anova: no model given")
    if len(fits) == 1:
        fit = fits[0]
        if Terms is not None or L is not None:
            return _anova_contrast(lme_wald(fit) if _is_lme(fit) else gls_wald(fit), Terms, L)
        w = lme_wald(fit) if _is_lme(fit) else gls_wald(fit)
        return _anova_terms(w, _TYPE("type", type, "anova"))
    if Terms is not None or L is not None:
        raise ArgumentError("anova: Terms= and L= test one model; several models are compared "
                            "by likelihood-ratio tests")
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


@dataclass
class WaldPieces:
    """What nlme's single-model F tests read from a fit.

    ``c0 = R @ beta`` with ``R`` upper triangular and ``R' R`` the inverse of the covariance
    of beta the tests use (nlme's ``solve(t(varBetaFact), beta)``); ``assign`` maps each term
    label (in the table's order) to its columns; ``coef_ddf``/``term_ddf`` are the
    denominator df of each coefficient and term; ``label`` is the line nlme prints above a
    ``Terms``/``L`` test (gls: ``"Denom. DF: 305 \\n"``), ``show_ddf`` whether the table has
    a ``denDF`` column (lme)."""
    beta: np.ndarray
    R: np.ndarray
    colnames: List[str]
    assign: Dict[str, np.ndarray]
    coef_ddf: np.ndarray
    term_ddf: np.ndarray
    label: str
    show_ddf: bool

    @property
    def V(self) -> np.ndarray:
        Rinv = np.linalg.inv(self.R)
        return Rinv @ Rinv.T


def gls_wald(fit) -> WaldPieces:
    """The F-test pieces of a gls fit (denominator df n - p for every term)."""
    fr = fit.frame
    n, p = fr.n, fr.p
    est = fit.estimate
    labels = _assign_labels(fit)
    offset = 0 if fr.info["fixed"].intercept else 1
    assign = {labels[a - offset]: np.flatnonzero(fr.assign == a)
              for a in sorted(set(fr.assign.tolist()))}
    scale = est.sigma * math.sqrt((n - fit.REML * p) / (n - p))
    return WaldPieces(np.asarray(est.beta, dtype=float), np.asarray(est.R, dtype=float) / scale,
                      list(fr.colnames), assign, np.full(p, float(n - p)),
                      np.full(len(assign), float(n - p)), f"Denom. DF: {n - p} \n", False)


def lme_wald(fit) -> WaldPieces:
    """The F-test pieces of an lme fit: nlme's ``anova.lme`` with ``adjustSigma = TRUE`` (an
    ML fit's covariance of beta scaled by N / (N - p)); denominator df from ``fit.fixDF``."""
    fr = fit.frame.gls
    beta = np.asarray(fit.estimate.beta, dtype=float)
    V = np.asarray(fit.estimate.varBeta, dtype=float)
    n, p = fit.nobs(), beta.size
    if not fit.REML:
        V = V * (n / (n - p))
    R = np.linalg.cholesky(np.linalg.inv(V)).T          # R'R = V^-1, R upper triangular
    labels = list(fr.term_labels)
    offset = 0 if labels and labels[0] == "(Intercept)" else 1
    assign = {labels[a - offset]: np.flatnonzero(fr.assign == a)
              for a in sorted(set(np.asarray(fr.assign).tolist()))}
    terms = fit.fixDF.terms
    return WaldPieces(beta, R, list(fr.colnames), assign,
                      np.asarray(fit.fixDF.X, dtype=float),
                      np.array([float(terms[t]) for t in assign]), "", True)


def _anova_terms(w: WaldPieces, type: str) -> GlsAnova:
    """nlme's ``anova.gls``/``anova.lme`` of one fit: an F test per term (sequential: each
    after the terms before it, from ``c0 = R beta``; marginal: each after all others); gls:
    one denominator df (n - p) in the label, lme: a ``denDF`` column."""
    c0 = w.R @ w.beta
    V = w.V
    rows, nDF, Fval, Pval = [], [], [], []
    for (label, cols), ddf in zip(w.assign.items(), w.term_ddf):
        if type == "sequential":
            F = float(np.sum(c0[cols] ** 2)) / cols.size
        else:
            b = w.beta[cols]
            F = float(b @ np.linalg.solve(V[np.ix_(cols, cols)], b)) / cols.size
        rows.append(label)
        nDF.append(cols.size)
        Fval.append(F)
        Pval.append(float(stats.f.sf(F, cols.size, ddf)))
    if w.show_ddf:
        out = GlsAnova({"numDF": nDF, "denDF": list(w.term_ddf), "F-value": Fval,
                        "p-value": Pval}, index=rows)
        out._text = format_anova_terms(rows, nDF, Fval, Pval, "", denDF=list(w.term_ddf))
    else:
        out = GlsAnova({"numDF": nDF, "F-value": Fval, "p-value": Pval}, index=rows)
        out._text = format_anova_terms(rows, nDF, Fval, Pval, w.label)
    return out


def _terms_matrix(w: WaldPieces, Terms) -> tuple:
    labels = list(w.assign)
    items = [Terms] if isinstance(Terms, (str, int, np.integer)) else list(Terms)
    if not items:
        raise argument_error("Terms", Terms, "term labels or 0-based positions", "anova")
    chosen = []
    for t in items:
        if isinstance(t, (bool, np.bool_)):
            raise argument_error("Terms", Terms, "term labels or 0-based positions", "anova")
        if isinstance(t, (int, np.integer)):
            if not 0 <= int(t) < len(labels):
                raise ArgumentError(f"anova: Terms must be between 0 and {len(labels) - 1} "
                                    f"(0-based positions of {', '.join(labels)}); got {int(t)}")
            chosen.append(labels[int(t)])
        elif isinstance(t, str):
            if t not in w.assign:
                raise ArgumentError(f"anova: term {t!r} not matched (the terms are "
                                    f"{', '.join(labels)})")
            chosen.append(t)
        else:
            raise argument_error("Terms", Terms, "term labels or 0-based positions", "anova")
    ddf = np.unique([w.term_ddf[labels.index(t)] for t in chosen])
    if ddf.size > 1:
        raise DataError("anova: the terms must all have the same denominator DF (" +
                        ", ".join(f"{t}: {w.term_ddf[labels.index(t)]:g}" for t in chosen) + ")")
    cols = np.concatenate([w.assign[t] for t in chosen])
    Lm = np.eye(len(w.beta))[cols]
    return Lm, float(ddf[0]), f"F-test for: {', '.join(chosen)} \n"


def _L_matrix(w: WaldPieces, L) -> tuple:
    p = len(w.beta)
    rows: Optional[List[str]] = None
    cols: Optional[List[str]] = None
    if isinstance(L, dict):
        L = pd.Series(L, dtype=float)
    if isinstance(L, pd.Series):
        cols, vals = [str(c) for c in L.index], L.to_numpy(dtype=float)[None, :]
    elif isinstance(L, pd.DataFrame):
        cols, rows = [str(c) for c in L.columns], [str(r) for r in L.index]
        vals = L.to_numpy(dtype=float)
        if isinstance(L.columns, pd.RangeIndex):      # unnamed columns: positional
            cols = None
        if isinstance(L.index, pd.RangeIndex):
            rows = None
    else:
        try:
            vals = np.asarray(L, dtype=float)
        except (TypeError, ValueError):
            raise argument_error("L", L, "a numeric vector or matrix of contrast weights",
                                 "anova") from None
        if vals.ndim == 1:
            vals = vals[None, :]
        if vals.ndim != 2:
            raise argument_error("L", L, "a numeric vector or matrix of contrast weights",
                                 "anova")
    if not np.all(np.isfinite(vals)):
        raise argument_error("L", L, "finite contrast weights", "anova")
    if vals.shape[1] > p:
        raise ArgumentError(f"anova: L must have at most {p} columns (one per coefficient: "
                            f"{', '.join(w.colnames)}); it has {vals.shape[1]}")
    L0 = np.zeros((vals.shape[0], p))
    if cols is None:
        L0[:, :vals.shape[1]] = vals
    else:
        missing = [c for c in cols if c not in w.colnames]
        if missing:
            raise ArgumentError(f"anova: effect(s) {', '.join(missing)} not matched (the "
                                f"coefficients are {', '.join(w.colnames)})")
        L0[:, [w.colnames.index(c) for c in cols]] = vals
    keep_rows = np.any(L0 != 0, axis=1)
    if not keep_rows.any():
        raise argument_error("L", L, "at least one non-zero weight", "anova")
    L0 = L0[keep_rows]
    row_names = ([str(i + 1) for i in range(L0.shape[0])] if rows is None
                 else [r for r, k in zip(rows, keep_rows) if k])
    keep_cols = np.any(L0 != 0, axis=0)
    ddf = np.unique(w.coef_ddf[keep_cols])
    if ddf.size > 1:
        raise DataError("anova: L may only involve fixed effects with the same denominator DF")
    shown = LBlock(L0[:, keep_cols], [c for c, k in zip(w.colnames, keep_cols) if k],
                   row_names, L0.shape[0] == 1)
    return L0, float(ddf[0]), "F-test for linear combination(s)\n", shown


def _anova_contrast(w: WaldPieces, Terms, L) -> GlsAnova:
    """One F test of L beta = 0 (``Terms``: L selects the terms' coefficients)."""
    if Terms is not None and L is not None:
        raise ArgumentError("anova: give Terms= or L=, not both")
    shown = None
    if L is None:
        Lm, ddf, lab = _terms_matrix(w, Terms)
    else:
        Lm, ddf, lab, shown = _L_matrix(w, L)
    d = np.linalg.svd(Lm, compute_uv=False)
    nDF = int(np.sum(d > d.max() * 1e-12))
    lb = Lm @ w.beta
    F = float(lb @ np.linalg.pinv(Lm @ w.V @ Lm.T, rcond=1e-12, hermitian=True) @ lb) / nDF
    pv = float(stats.f.sf(F, nDF, ddf))
    data: Dict[str, list] = {"numDF": [nDF]}
    if w.show_ddf:
        data["denDF"] = [ddf]
    data.update({"F-value": [F], "p-value": [pv]})
    out = GlsAnova(data, index=["1"])
    out._text = format_anova_contrast(w.label + " " * bool(w.label) + lab, nDF,
                                      ddf if w.show_ddf else None, F, pv, shown)
    return out


def _fixed_signature(fit) -> str:
    spec = _gls_frame(fit).info["fixed"]
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
    """``intervals(fit)``: a dict of DataFrames (``coef``, ``corStruct``, ``varStruct``; for
    lme fits ``fixed``, and ``reStruct``: a dict level -> DataFrame, outermost level first)
    and a Series (``sigma``), each with columns/entries ``lower``, ``est.``, ``upper``;
    ``str()`` is nlme's ``print.intervals.gls`` / ``print.intervals.lme`` text."""

    def __init__(self, blocks: List[IntervalsBlock], level: float):
        super().__init__()
        self.level = level
        self.blocks = blocks
        for b in blocks:
            if b.levels is not None:
                self[b.key] = {name: pd.DataFrame(values, index=rows,
                                                  columns=["lower", "est.", "upper"])
                               for name, rows, values in b.levels}
            elif b.names is None:
                self[b.key] = pd.Series(b.values, index=["lower", "est.", "upper"])
            else:
                self[b.key] = pd.DataFrame(b.values, index=b.names,
                                           columns=["lower", "est.", "upper"])

    def __str__(self) -> str:
        return format_intervals(self.blocks, self.level)

    __repr__ = __str__


def intervals(fit: Any, level: float = 0.95, which: str = "all") -> GlsIntervals:
    """nlme's ``intervals(fit, level = 0.95, which = c("all", "var-cov", "coef"))`` (lme fits:
    ``which = c("all", "var-cov", "fixed")``).

    lme fits (nlme's ``intervals.lme``): t intervals for the fixed effects on nlme's
    denominator df; for the random effects' standard deviations and correlations (per level,
    ``fit_intervals["reStruct"][level]``), the residual structure and sigma, normal
    intervals on nlme's natural scales from ``apVar`` (see :mod:`lmerpy.nlme.lme_intervals`).

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
    if getattr(fit, "r_class", None) == ("glmmPQL", "lme"):
        fit = fit.lme                   # MASS: a glmmPQL fit is its last working lme fit
    if _is_lme(fit):
        from .lme_intervals import lme_interval_blocks
        level = LEVEL("level", level, "intervals")
        which = _WHICH_LME("which", which, "intervals")
        return GlsIntervals(lme_interval_blocks(fit, level, which), level)
    if not _is_gls(fit):
        raise ArgumentError(f"intervals: expected a gls or lme fit, got {show(fit)}")
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
