"""lme4's ``lmList``: one linear (or generalized linear) model per group, fitted separately.

``lmList("Reaction ~ Days | Subject", sleepstudy)`` fits ``Reaction ~ Days`` on each subject's
rows: the "no pooling" end of the scale whose other end is one regression for everyone, and
whose middle is the mixed model. Teaching material plots the per-group intervals next to each
other to show the between-group variation the random effects model.

As lme4 (``lmList4``):

- rows with a missing value in the formula's variables or the grouping factor are dropped
  first; each group's model frame then drops the factor levels the group does not use (a
  factor with one level left makes that group's fit fail: lme4's warning, the group's
  coefficients NA);
- each fit is R's ``lm`` (a least-squares QR with LINPACK's limited column pivoting:
  a column within 1e-7 of the span of the earlier ones is aliased, its coefficient NA) or
  ``glm`` (iteratively reweighted least squares, ``glm.control()``'s settings);
- ``coef`` unites the groups' coefficient names in order of first appearance;
- for linear models the residual standard deviation is pooled over the groups
  (``pooledSD``) and ``summary`` scales each group's standard errors by it (t tests on the
  pooled degrees of freedom); ``confint`` gives each group's own ``confint.lm`` interval
  (lme4 1.1-31 does not pool them), or for a glm its profile-likelihood ``confint.glm``.

R equivalents: ``lmList``, ``coef``, ``confint``, ``summary``, ``sigma``/``pooledSD``,
``plot(confint(...))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats

from ..arguments import Number
from ..design.dataframe import as_data_frame
from ..design.frame import build_frame
from ..design.model_matrix import model_matrix
from ..design.values import Factor
from ..display.html import pre_html
from ..display.lmlist import (deparse_call, format_lmlist, format_lmlist_confint, format_lmlist_summary,
                              percent_labels)
from ..errors import ArgumentError, DataError, FormulaError
from ..families import Family, as_family
from ..formula import parse_formula
from ..pls.glm_fit import GlmFit, glm_fit, wls
from .glm import profile_confint
from ..warnings import GroupFitWarning, warn
from ..threads import fit_threads

__all__ = ["lmList", "LmList", "LmListConfint"]

_LEVEL = Number(lower=0, upper=1)


@dataclass
class GroupFit:
    """One group's fit: coefficients (NaN where aliased), their unscaled covariance
    (NaN rows/columns where aliased), residual sum of squares (deviance for a GLM), residual
    df, number of observations and, for a GLM, the dispersion."""

    coef: pd.Series
    cov_unscaled: np.ndarray
    rss: float
    df_residual: int
    n: int
    dispersion: float = float("nan")
    glm: Optional["GlmPieces"] = None

    @property
    def sigma(self) -> float:
        return math.sqrt(self.rss / self.df_residual) if self.df_residual > 0 else float("nan")

    def glm_confint(self, level: float, group: str) -> np.ndarray:
        """The group's ``confint(glm)`` (MASS's profile-likelihood interval per coefficient)."""
        assert self.glm is not None
        g = self.glm
        return profile_confint(g.X, g.y, g.wt, g.offset, g.family, g.fit, self.dispersion, level,
                               what=f"the fit of group {group!r}")


@dataclass
class GlmPieces:
    """What profiling a group's glm needs: its design, response, prior weights, offset,
    family and fit."""

    X: np.ndarray
    y: np.ndarray
    wt: np.ndarray
    offset: np.ndarray
    family: Family
    fit: GlmFit


def _response(frame) -> Tuple[np.ndarray, np.ndarray]:
    resp = frame.response
    w = frame.weights if frame.weights is not None else np.ones(frame.n)
    if isinstance(resp, Factor):
        return (resp.codes != 0).astype(float), w
    v = np.asarray(resp.values, dtype=float)
    if v.ndim == 2 and v.shape[1] == 2:                 # cbind(successes, failures)
        tot = v.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(tot > 0, v[:, 0] / np.where(tot > 0, tot, 1.0), 0.0)
        return y, w * tot
    if v.ndim == 2:
        raise DataError(f"the response of lmList has {v.shape[1]} columns; one column (or "
                        f"cbind(successes, failures) for a binomial family) is needed")
    return v, w


def _fit_group(formula, sub: pd.DataFrame, fam: Optional[Family]) -> GroupFit:
    frame = build_frame(formula, sub, glmer=fam is not None)
    X, spec = model_matrix(formula.fixed, frame.values, response=formula.response, n=frame.n)
    y, wt = _response(frame)
    off = np.asarray(frame.offset, dtype=float)
    names = list(spec.colnames)
    if fam is None:
        beta, cov, rss, rank, _ = wls(X, y - off, wt)
        n = int(np.sum(wt != 0))
        return GroupFit(pd.Series(beta, index=names), cov, rss, n - rank, frame.n)
    f = glm_fit(X, y, wt, off, fam)
    df = f.n - f.rank
    disp = 1.0 if fam.family in ("binomial", "poisson") else (f.pearson / df if df > 0 else np.nan)
    return GroupFit(pd.Series(f.coefficients, index=names), f.cov_unscaled, f.deviance, df,
                    frame.n, disp,
                    GlmPieces(X, y, wt, off, fam, f))


def _split_formula(formula: str):
    if not isinstance(formula, str):
        raise ArgumentError(f"lmList: 'formula' must be a string such as "
                            f"\"Reaction ~ Days | Subject\", not {type(formula).__name__}")
    f = parse_formula(formula)
    if len(f.random) != 1 or f.fixed.terms or f.fixed.offsets or f.response is None:
        raise FormulaError(f"lmList needs a formula of the form 'y ~ x1 + ... + xn | g' "
                           f"(one bar, nothing outside it): {formula!r}")
    rt = f.random[0]
    if rt.group_expr is None:
        raise FormulaError(f"lmList: no grouping factor after the bar in {formula!r}")
    response = f.response.deparse()
    group_text = rt.group_expr.deparse()
    model = parse_formula(f"{response} ~ {rt.lhs_text}")
    whole = parse_formula(f"{response} ~ {rt.lhs_text} + {group_text}")
    return f, model, whole, rt.group_expr, group_text


@dataclass
class LmListConfint:
    """``confint(lmList)``: for each coefficient a DataFrame (groups × lower, upper); prints as
    lme4's ``lmList4.confint``; ``plot()`` draws the intervals side by side."""

    tables: Dict[str, pd.DataFrame]
    estimates: pd.DataFrame

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __str__(self) -> str:
        blocks = [(k, list(v.index), list(v.columns), v.to_numpy()) for k, v in self.tables.items()]
        return format_lmlist_confint(blocks)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self))

    def plot(self, ax=None):
        """lme4's ``plot(confint(lmList))``: one panel per coefficient, each group's
        estimate and interval on one row (groups in the fit's order). Returns the Figure (or,
        with ``ax=`` for a one-coefficient model, that Axes)."""
        from ..plot.intervals import interval_panels
        panels = [(k, list(t.index), self.estimates[k].to_numpy(), t.iloc[:, 0].to_numpy(),
                   t.iloc[:, 1].to_numpy()) for k, t in self.tables.items()]
        return interval_panels(panels, ax=ax)


@dataclass
class LmList:
    """The result of :func:`lmList`: the groups' fits, in the grouping factor's level order.

    Attributes
    ----------
    fits : dict
        Group label -> :class:`GroupFit` (``None`` where the group's fit failed).
    call : str
        R's call, as ``print`` shows it.
    family : Family or None
    pool : bool
        Whether the residual standard deviation is pooled (linear models).
    """

    fits: Dict[str, Optional[GroupFit]]
    call: str
    formula_text: str
    group_text: str
    data_name: str
    family: Optional[Family] = None
    pool: bool = True
    failures: List[str] = field(default_factory=list)

    # -- R's accessors
    def coef(self) -> pd.DataFrame:
        """lme4's ``coef(lmList)``: groups × coefficients (the union of the groups' names in
        order of first appearance), NaN where a group lacks one or its fit failed."""
        names: List[str] = []
        for fit in self.fits.values():
            if fit is not None:
                names += [n for n in fit.coef.index if n not in names]
        out = pd.DataFrame(np.nan, index=list(self.fits), columns=names)
        for g, fit in self.fits.items():
            if fit is not None:
                out.loc[g, list(fit.coef.index)] = fit.coef.to_numpy()
        return out

    def pooledSD(self) -> Tuple[float, int]:
        """lme4's ``pooledSD``: √(Σ RSS / Σ df) over the groups' fits, and Σ df, where a
        group's df is its number of observations less its number of coefficients (as lme4
        1.1-31 counts them: aliased (NA) coefficients too, unlike the group's own
        ``df.residual``)."""
        rss = sum(f.rss for f in self.fits.values() if f is not None)
        df = sum(f.n - len(f.coef) for f in self.fits.values() if f is not None)
        if df == 0:
            raise DataError("No degrees of freedom for estimating std. dev.")
        return math.sqrt(rss / df), int(df)

    def sigma(self) -> float:
        """The pooled residual standard deviation (R: ``sigma(lmList)``)."""
        return self.pooledSD()[0]

    def nobs(self) -> int:
        return sum(f.n for f in self.fits.values() if f is not None)

    def confint(self, level: float = 0.95) -> LmListConfint:
        """lme4 1.1-31's ``confint(lmList)``: each group's own interval for the coefficients of
        the first group that was fitted (NaN where a group lacks one): ``confint.lm`` (t
        quantiles on the group's residual df and standard deviation; lme4 does not pool them)
        or, for a generalized lmList, ``confint.glm`` (MASS's profile likelihood)."""
        level = _LEVEL("level", level, "confint")
        first = next((f for f in self.fits.values() if f is not None), None)
        if first is None:
            raise DataError("lmList: no group could be fitted")
        parm = list(first.coef.index)
        a = (1 - level) / 2
        cols = percent_labels([a, 1 - a])
        tables = {p: pd.DataFrame(np.nan, index=list(self.fits), columns=cols) for p in parm}
        for g, fit in self.fits.items():
            if fit is None:
                continue
            if fit.glm is not None:
                lims = fit.glm_confint(level, str(g))
            else:
                se = fit.sigma * np.sqrt(np.diag(fit.cov_unscaled))
                q = stats.t.ppf(1 - a, fit.df_residual) if fit.df_residual > 0 else np.nan
                b = fit.coef.to_numpy()
                lims = np.column_stack([b - q * se, b + q * se])
            names = list(fit.coef.index)
            for p in parm:
                if p in names:
                    tables[p].loc[g] = lims[names.index(p)]
        return LmListConfint(tables, self.coef()[parm])

    def summary(self) -> "LmListSummary":
        return LmListSummary(self)

    def __str__(self) -> str:
        co = self.coef()
        pooled = None
        if self.pool and self.family is None:
            sd, df = self.pooledSD()
            pooled = (self.nobs(), df, sd)
        return format_lmlist(self.call, list(co.index), list(co.columns), co.to_numpy(), pooled)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self))


class LmListSummary:
    """``summary(lmList)``: for each coefficient, each group's estimate, standard error,
    t (z) value and p-value; for linear models the standard errors use the pooled residual
    standard deviation and the tests its degrees of freedom (lme4's ``summary.lmList4``)."""

    def __init__(self, fit: LmList):
        self.fit = fit
        names: List[str] = []
        for f in fit.fits.values():
            if f is not None:
                names += [n for n, b in f.coef.items() if not np.isnan(b) and n not in names]
        glm = fit.family is not None
        known_scale = fit.family is not None and fit.family.family in ("binomial", "poisson")
        self.statistic = "z value" if known_scale else "t value"
        pcol = "Pr(>|z|)" if self.statistic == "z value" else "Pr(>|t|)"
        self.columns = ["Estimate", "Std. Error", self.statistic, pcol]
        pooled = fit.pool and not glm
        self.pooled = fit.pooledSD() if pooled else None
        self.tables: Dict[str, pd.DataFrame] = {}
        for name in names:
            tab = pd.DataFrame(np.nan, index=list(fit.fits), columns=self.columns)
            for g, f in fit.fits.items():
                if f is None or name not in f.coef.index or np.isnan(f.coef[name]):
                    continue
                i = list(f.coef.index).index(name)
                b = float(f.coef.iloc[i])
                scale = self.pooled[0] if self.pooled else (
                    math.sqrt(f.dispersion) if glm else f.sigma)
                se = scale * math.sqrt(f.cov_unscaled[i, i])
                stat = b / se
                if self.pooled:
                    p = 2 * stats.t.sf(abs(stat), self.pooled[1])
                elif self.statistic == "z value":
                    p = 2 * special.ndtr(-abs(stat))
                else:
                    p = 2 * stats.t.sf(abs(stat), f.df_residual)
                tab.loc[g] = [b, se, stat, p]
            self.tables[name] = tab

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __str__(self) -> str:
        f = self.fit
        blocks = [(k, list(v.index), list(v.columns), v.to_numpy()) for k, v in self.tables.items()]
        return format_lmlist_summary(f.formula_text, f.group_text, f.data_name, blocks,
                                     self.pooled)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self))


def _family_text(fam: Family) -> str:
    if fam.link == type(fam).default_link:
        return fam.family
    return f'{fam.family}(link = "{fam.link}")'


@fit_threads
def lmList(formula: str, data: Any, family: Any = None, pool: Optional[bool] = None,
           na_action: str = "omit") -> LmList:
    """lme4's ``lmList(formula, data, family, pool)``: one ``lm`` (or, with ``family``, one
    ``glm``) per level of the grouping factor in ``"y ~ x1 + ... | g"``.

    Parameters
    ----------
    formula : str
        ``"Reaction ~ Days | Subject"``: the model left of the bar, the grouping factor right.
    data : DataFrame-like
        Never modified; ``data.attrs["name"]`` names it in the printed call.
    family : Family, optional
        ``lmerpy.binomial()``, ``lmerpy.poisson()``... (a gaussian family with identity link
        means linear models).
    pool : bool, optional
        Pool the residual standard deviation over the groups (default: for linear models).
    na_action : {"omit", "fail"}

    Returns
    -------
    LmList
    """
    f, model, whole, group_expr, group_text = _split_formula(formula)
    fam = None if family is None else as_family(family)
    if fam is not None and fam.family == "gaussian" and fam.link == "identity":
        fam = None
    df = as_data_frame(data)
    data_name = str(df.attrs.get("name") or "data")
    # the whole model frame first (R: model.frame with the grouping factor): complete rows
    frame = build_frame(whole, df, na_action=na_action, glmer=fam is not None)
    gvals = frame.values[group_expr] if group_expr in frame.values else None
    if not isinstance(gvals, Factor):
        from ..design.values import to_factor
        gvals = to_factor(frame.values[group_expr], group_text)
    rows = np.flatnonzero(frame.kept)
    fits: Dict[str, Optional[GroupFit]] = {}
    failures: List[str] = []
    for k, level in enumerate(gvals.levels):
        sub = df.iloc[rows[gvals.codes == k]]
        try:
            fits[level] = _fit_group(model, sub, fam)
        except (DataError, FormulaError) as err:
            fits[level] = None
            failures.append(str(err))
    if failures:
        warn(f"Fitting failed for {len(failures)} group(s), probably because a factor only had "
             f"one level:\n  {failures[0]}", GroupFitWarning)
    if all(v is None for v in fits.values()):
        raise DataError(f"lmList: the fit failed in every group ({failures[0]})")
    args = [f"formula = {f.deparse()}", f"data = {data_name}"]
    if fam is not None:
        args.append(f"family = {_family_text(fam)}")
    call = deparse_call("lmList", args)
    return LmList(fits, call, model.deparse(), group_text, data_name, fam,
                  fam is None if pool is None else bool(pool), failures)
