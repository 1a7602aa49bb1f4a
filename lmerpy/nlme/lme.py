"""``lme``: linear mixed-effects models with nlme's random-effects specification, variance
functions and correlation structures, fitted on lmerpy's PLS core.

R equivalent: ``nlme::lme(fixed, data, random, correlation, weights, method, na.action)`` and
its methods (``print``, ``summary``, ``fixef``, ``ranef``, ``coef``, ``fitted``,
``residuals``, ``predict``, ``getVarCov``, ``VarCorr``, ``logLik``), nlme 3.1 (Pinheiro &
Bates 2000, chapters 2, 4 and 5).

>>> import lmerpy
>>> fit = lmerpy.lme("distance ~ age", orthodont, random="~ 1 | Subject")   # doctest: +SKIP
>>> print(fit.summary())                                                    # doctest: +SKIP

Without a residual structure ``lme`` minimises exactly ``lmer``'s criterion (the same
deviance object and optimizer): ``lme("y ~ x", d, random="~ x | g")`` and ``lmer("y ~ x + (x |
g)", d)`` agree to rounding.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Dict, List, Optional, Union, cast

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NA_ACTION, Choice, Integer, Number, numeric_vector, show, \
    unknown_keywords
from ..design.newdata import model_matrices_for
from ..errors import ArgumentError, FitError
from ..models.base import LogLik
from ..optimize import Control
from .base import start_values
from .fit_base import NlmeFit
from .corstruct import CorStruct
from .estimate import optimize_structure
from .frame import GlsRows
from .lme_df import FixedDF, fixed_df
from .lme_estimate import LmeCriterion, LmeEstimate
from .lme_frame import LmeFrame, build_lme_frame
from .pdmat import parse_random
from .varfunc import as_var_func

__all__ = ["lme", "lmeControl", "LmeModel"]

_METHOD = Choice(("REML", "ML"))
_RESID_TYPE = Choice(("response", "pearson", "normalized"),
                     aliases={"p": "pearson", "n": "normalized", "r": "response"})
_VARCOV_TYPE = Choice(("random.effects", "conditional", "marginal"))
_POSITIVE = Number(lower=0, open_lower=True)

#: nlme's ``lmeControl()`` settings lmerpy uses (``tolerance``: the relative change of beta and
#: the structure parameters at which the ``fitted(.)`` updates stop; tighter than nlme's 1e-6)
LME_CONTROL: Dict[str, Any] = {"maxIter": 50, "tolerance": 1e-9, "start": None,
                               "random_start": None, "optimize": True, "lmer": None}


def lmeControl(**settings: Any) -> Dict[str, Any]:
    """nlme's ``lmeControl``: ``maxIter`` (50: updates of a ``fitted(.)`` variance covariate)
    and ``tolerance`` (1e-9; nlme 1e-6).

    lmerpy adds ``start`` (the residual-structure parameters to start from, nlme's
    unconstrained scale, the order of ``fit.structure_parameters(unconstrained=True)``),
    ``random_start`` (the random effects' covariance: a vector of the PLS parameters, or a
    dict level -> the relative covariance matrix Sigma / sigma^2, nlme's ``pdMatrix``),
    ``optimize`` (False: evaluate at the start, no optimisation) and ``lmer`` (an
    ``lmerControl()`` for the random-effects optimisation)."""
    unknown_keywords("lmeControl", {k: v for k, v in settings.items() if k not in LME_CONTROL},
                     list(LME_CONTROL))
    out = dict(LME_CONTROL)
    out.update(settings)
    out["maxIter"] = Integer(lower=0)("maxIter", out["maxIter"], "lmeControl")
    out["tolerance"] = _POSITIVE("tolerance", out["tolerance"], "lmeControl")
    out["optimize"] = LOGICAL("optimize", out["optimize"], "lmeControl")
    if out["start"] is not None:
        out["start"] = numeric_vector("start", out["start"], "lmeControl")
    if out["lmer"] is not None and not isinstance(out["lmer"], Control):
        raise ArgumentError(f"lmeControl: 'lmer' must come from lmerControl(), not "
                            f"{show(out['lmer'])}")
    return out


def lme(fixed: str, data: Any, random: Any = None, correlation: Optional[CorStruct] = None,
        weights: Any = None, method: str = "REML", na_action: str = "fail",
        control: Optional[Dict[str, Any]] = None, contrasts: Any = None,
        **kwargs: Any) -> "LmeModel":
    """Fit a linear mixed-effects model as nlme does (R: ``nlme::lme``).

    Parameters
    ----------
    fixed : str
        ``"response ~ terms"`` (no random-effects bars).
    data : DataFrame-like
        Never modified; ``data.attrs["name"]`` is printed as the ``Data:`` line.
    random : str or dict
        ``"~ 1 | Subject"``, ``"~ age | Subject"``, ``"~ 1 | Block/Variety"`` (nested levels,
        outermost first), or a dict ``{"Subject": pdDiag("~ age")}`` / ``{"Dog": "~ day",
        "Side": "~ 1"}`` (one entry per level, outermost first; a string means ``pdSymm``).
    correlation : corStruct, optional
        Its groups must be the random effects' groups or nested within them; without groups
        it takes the innermost random-effects groups.
    weights : varFunc or str, optional
        A variance function; ``"~ v"`` means ``varFixed("~ v")``.
    method : {"REML", "ML"}
    na_action : {"fail", "omit", "exclude"}
        nlme's default is ``na.fail``.
    control : dict, optional
        :func:`lmeControl` settings.
    contrasts : dict or str, optional

    Returns
    -------
    LmeModel
    """
    unknown_keywords("lme", kwargs, ["fixed", "data", "random", "correlation", "weights",
                                     "method", "na_action", "control", "contrasts"])
    method = _METHOD("method", method, "lme")
    na_action = NA_ACTION("na_action", na_action, "lme")
    if random is None:
        raise ArgumentError("lme: 'random' is required (e.g. random = '~ 1 | Subject'): "
                            "lmerpy's data frames carry no grouping structure")
    if correlation is not None and not isinstance(correlation, CorStruct):
        raise ArgumentError(f"lme: 'correlation' must be a correlation structure (corAR1(), "
                            f"corCompSymm(), ...), not {show(correlation)}")
    levels = parse_random(random)
    varfunc = as_var_func(weights)
    ctrl = lmeControl(**(control or {}))
    frame = build_lme_frame(fixed, data, levels, correlation, varfunc, REML=method == "REML",
                            na_action=na_action, contrasts=contrasts)
    return _fit(frame, varfunc, method == "REML", ctrl, data)


def _random_start(frame: LmeFrame, crit: LmeCriterion, value: Any) -> np.ndarray:
    """The PLS parameters from ``random_start`` (a vector, or level -> Sigma / sigma^2)."""
    if not isinstance(value, dict):
        x = numeric_vector("random_start", value, "lmeControl")
        if x.size != crit.base.n_par:
            raise ArgumentError(f"lmeControl: 'random_start' has {x.size} values; the random "
                                f"effects have {crit.base.n_par} parameters")
        return x
    design = frame.design
    par = np.array(crit.base.start(), dtype=float)
    for lv, ti in zip(frame.levels, frame.term_of_level):
        if lv.group not in value:
            raise ArgumentError(f"lmeControl: 'random_start' has no matrix for level "
                                f"'{lv.group}'")
        t = design.reterms[ti]
        M = np.atleast_2d(np.asarray(value[lv.group], dtype=float))
        k = t.n_columns
        if M.shape != (k, k):
            raise ArgumentError(f"lmeControl: random_start[{lv.group!r}] must be {k} x {k}")
        sd = np.sqrt(np.diag(M))
        corr = M / np.outer(sd, sd)
        cov = t.covariance
        kind = cov.kind
        if kind == "us":
            r, c = np.tril_indices(k, -1)
            order = np.lexsort((r, c))
            p = cov.from_vc(sd, corr[r[order], c[order]])
        elif kind == "diag":
            p = cov.from_vc(sd[:1] if cov.hom else sd, np.zeros(0))
        else:
            p = cov.from_vc(sd[:1] if cov.hom else sd, np.array([corr[1, 0]]))
        par[t.par_offset:t.par_offset + cov.n_par] = p
    return par


def _fit(frame: LmeFrame, varfunc: Any, REML: bool, ctrl: Dict[str, Any], data: Any
         ) -> "LmeModel":
    rows = GlsRows(frame.gls)
    cor = frame.correlation.bind(rows) if frame.correlation is not None else None
    var = varfunc.bind(rows) if varfunc is not None else None
    crit = LmeCriterion(frame.design, cor, var, REML=REML, control=ctrl["lmer"])
    spar = start_values(ctrl["start"], crit.start(), "lmeControl")
    fixed_random = ctrl["random_start"] is not None and not ctrl["optimize"]
    par = crit.start_random()
    if ctrl["random_start"] is not None:
        par = _random_start(frame, crit, ctrl["random_start"])
        crit.set_random_start(par)

    def random_par(s):
        if fixed_random:
            return par
        return crit.inner(s)[0]

    updated = var if var is not None and var.needs_update else None

    def refresh(e):
        assert updated is not None
        rows.set_fitted(_fitted_sorted(frame, e, len(frame.levels)))
        updated.update(rows)
        crit.clear()

    old = np.zeros(0)
    if updated is not None:           # the fitted values at the start
        est = crit.estimate(spar, par)
        refresh(est)
    num_iter = 0
    while True:
        if updated is not None:
            old = np.concatenate([est.beta, spar])
        if crit.npar and ctrl["optimize"]:
            spar, _ll, _ev, _msg = optimize_structure(cast(Any, crit), spar)
        par = random_par(spar)
        est = crit.estimate(spar, par)
        if updated is None:
            break
        num_iter += 1
        refresh(est)
        new = np.concatenate([est.beta, spar])
        conv = np.abs((old - new) / np.where(new == 0, 1.0, new))
        if float(np.max(conv)) <= ctrl["tolerance"]:
            par = random_par(spar)
            est = crit.estimate(spar, par)
            break
        if num_iter > ctrl["maxIter"]:
            raise FitError("maximum number of iterations reached without convergence "
                           f"(lmeControl(maxIter = {ctrl['maxIter']}))")
    return LmeModel(frame, cor, var, crit, est, REML, num_iter, ctrl, data)


def _fitted_sorted(frame: LmeFrame, est: LmeEstimate, level: int) -> np.ndarray:
    """Fitted values on the sorted rows at ``level`` (0: X beta; k: plus the random effects of
    the k outermost levels)."""
    design = frame.design
    out = np.asarray(design.X, dtype=float) @ est.beta
    for lv_index in range(level):
        t = design.reterms[frame.term_of_level[lv_index]]
        k = t.n_columns
        b = est.b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, k)
        X = np.asarray(t.X, dtype=float).reshape(-1, k)
        out = out + np.einsum("ij,ij->i", X, b[t.codes])
    return out


class LmeModel(NlmeFit):
    """A fitted ``lme`` model (R: an object of class ``lme``).

    Attributes
    ----------
    method : {"REML", "ML"}
    formula : the fixed-effects Formula
    levels : list of :class:`~lmerpy.nlme.pdmat.RandomLevel`
        The levels of grouping, outermost first (``fit.levels[i].group``, ``.pd``).
    correlation, weights : the bound residual structures (or None)
    estimate : :class:`~lmerpy.nlme.lme_estimate.LmeEstimate`
        ``beta``, ``b``, ``sigma``, ``logLik``, ``varBeta``, ``spar``, ``par``, ``theta``.
    criterion : :class:`~lmerpy.nlme.lme_estimate.LmeCriterion`
        ``loglik_at(spar, par)`` evaluates the likelihood elsewhere (``intervals``).
    design : lmerpy.design.structures.Design
        lmerpy's mixed-model design on nlme's sorted rows.
    frame : :class:`~lmerpy.nlme.lme_frame.LmeFrame`
    fixDF : :class:`~lmerpy.nlme.lme_df.FixedDF`
        nlme's ``fit$fixDF``: ``X`` (per coefficient) and ``terms`` (per term).
    numIter : int
    """

    r_class = "lme"

    def __init__(self, frame: LmeFrame, cor: Any, var: Any, crit: LmeCriterion,
                 est: LmeEstimate, REML: bool, num_iter: int, ctrl: Dict[str, Any],
                 data: Any) -> None:
        self._set_fit(frame, cor, var, crit, est, REML, num_iter, ctrl, data)
        self.design = frame.design
        self.formula = frame.gls.formula
        self.levels = frame.levels
        self.Q = len(frame.levels)

    @functools.cached_property
    def fixDF(self) -> FixedDF:
        """nlme's ``fit$fixDF`` (:meth:`fixed_df`), formed on first use."""
        return self.fixed_df()

    # ------------------------------------------------------------------ structure
    def fixed_df(self) -> FixedDF:
        """nlme's denominator df (``fit$fixDF``), see :func:`lmerpy.nlme.lme_df.fixed_df`."""
        fr = self.frame
        return fixed_df(fr.design.X, fr.gls.assign, fr.gls.term_labels, fr.group_codes,
                        [lv.group for lv in fr.levels], fr.gls.colnames)

    def structure_split(self):
        """(the correlation's, the variance function's) estimated parameters, unconstrained."""
        return self.criterion.split(self.estimate.spar)

    def re_term(self, level: int):
        """The design's random-effects term (a ReTerm) of level ``level`` (1 = outermost)."""
        return self.design.reterms[self.frame.term_of_level[level - 1]]

    def re_covariance(self, level: int, scaled: bool = False) -> pd.DataFrame:
        """The random effects' covariance matrix at ``level`` (1 = outermost); ``scaled``:
        divided by sigma^2 (nlme's ``pdMatrix``)."""
        t = self.re_term(level)
        cov = t.covariance
        par = self.estimate.par[t.par_offset:t.par_offset + cov.n_par]
        S = np.asarray(cov.covariance(par), dtype=float)
        if not scaled:
            S = S * self.estimate.sigma ** 2
        return pd.DataFrame(S, index=list(t.cnms), columns=list(t.cnms))

    # ------------------------------------------------------------------ accessors
    def fixef(self) -> pd.Series:
        """The fixed effects (R: ``fixef(fit)``)."""
        return pd.Series(self.estimate.beta, index=self.frame.gls.colnames)

    def vcov(self) -> pd.DataFrame:
        nm = self.frame.gls.colnames
        return pd.DataFrame(self.estimate.varBeta, index=nm, columns=nm)

    def logLik(self, REML: Optional[bool] = None) -> LogLik:
        """The (restricted) log-likelihood (R: ``logLik(fit)``)."""
        REML = self.REML if REML is None else LOGICAL("REML", REML, "logLik")
        if REML != self.REML:
            raise ArgumentError("logLik: lme gives the criterion it was fitted by (refit with "
                                "method = 'ML' or 'REML')")
        n, p = self.frame.n, self.frame.p
        df = p + self.criterion.base.n_par + self.criterion.npar + 1
        return LogLik(self.estimate.logLik, df=df, nobs=n - (p if REML else 0), REML=REML)

    def ngroups(self) -> Dict[str, int]:
        """Number of groups per level, outermost first."""
        return {lv.group: len(labs) for lv, labs in zip(self.levels, self.frame.group_labels)}

    def _ranef_level(self, level: int) -> pd.DataFrame:
        fr = self.frame
        t = self.re_term(level)
        k = t.n_columns
        b = self.estimate.b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, k)
        codes = fr.group_codes[level - 1]
        labels = fr.group_labels[level - 1]
        first = np.full(len(labels), -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(codes.size)[::-1]
        lme4_codes = np.asarray(t.codes)[first]
        return pd.DataFrame(b[lme4_codes], index=labels, columns=list(t.cnms))

    def ranef(self, level: Optional[Union[int, List[int]]] = None
              ) -> Union[pd.DataFrame, Dict[str, pd.DataFrame]]:
        """The predicted random effects (R: ``ranef(fit)``): one level, a DataFrame (rows the
        groups, as nlme labels them: ``"VI/Victory"`` below the first level); several, a dict
        level name -> DataFrame, outermost first."""
        if level is None:
            lvls = list(range(1, self.Q + 1))
        elif isinstance(level, (list, tuple)):
            lvls = [Integer(lower=1, upper=self.Q)("level", v, "ranef") for v in level]
        else:
            lvls = [Integer(lower=1, upper=self.Q)("level", level, "ranef")]
        if len(lvls) == 1:
            return self._ranef_level(lvls[0])
        return {self.levels[i - 1].group: self._ranef_level(i) for i in lvls}

    def coef(self, level: Optional[int] = None) -> pd.DataFrame:
        """The coefficients per group at ``level`` (default innermost; R: ``coef(fit)``): the
        fixed effects plus the random effects of that group and the groups it lies in (a
        random effect without a fixed counterpart is a column of its own)."""
        level = self.Q if level is None else Integer(lower=1, upper=self.Q)(
            "level", level, "coef")
        fr = self.frame
        codes = fr.group_codes[level - 1]
        labels = fr.group_labels[level - 1]
        first = np.full(len(labels), -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(codes.size)[::-1]
        cols: Dict[str, np.ndarray] = {nm: np.full(len(labels), v)
                                       for nm, v in zip(fr.gls.colnames, self.estimate.beta)}
        for i in range(1, level + 1):
            re = self._ranef_level(i)
            rows_codes = fr.group_codes[i - 1][first]
            for c in re.columns:
                vals = re[c].to_numpy()[rows_codes]
                cols[c] = cols[c] + vals if c in cols else vals
        return pd.DataFrame(cols, index=labels)

    def _level_arg(self, level: Any, what: str) -> List[int]:
        if level is None:
            return [self.Q]
        if isinstance(level, (list, tuple, range)):
            return [Integer(lower=0, upper=self.Q)("level", v, what) for v in level]
        return [Integer(lower=0, upper=self.Q)("level", level, what)]

    def _to_caller(self, sorted_values: np.ndarray) -> np.ndarray:
        fr = self.frame
        order = np.argsort(fr.caller_pos, kind="stable")
        return np.asarray(sorted_values)[order]

    def _caller_index(self) -> pd.Index:
        fr = self.frame
        return fr.gls.row_index[np.argsort(fr.caller_pos, kind="stable")]

    def _pad(self, values: np.ndarray) -> pd.Series:
        fr = self.frame
        if fr.gls.na_action == "exclude" and fr.n < fr.n_all:
            out = np.full(fr.n_all, np.nan)
            out[np.sort(fr.caller_pos)] = values
            index = self.data.index if isinstance(self.data, pd.DataFrame) \
                else pd.RangeIndex(fr.n_all)
            return pd.Series(out, index=index)
        return pd.Series(values, index=self._caller_index())

    def _level_names(self, levels: List[int]) -> List[str]:
        return ["fixed" if k == 0 else self.levels[k - 1].group for k in levels]

    def _by_levels(self, levels: List[int], fun) -> Union[pd.Series, pd.DataFrame]:
        series = [self._pad(self._to_caller(fun(k))) for k in levels]
        if len(series) == 1:
            return series[0]
        return pd.DataFrame({nm: s for nm, s in zip(self._level_names(levels), series)})

    def fitted(self, level: Any = None) -> Union[pd.Series, pd.DataFrame]:
        """Fitted values (R: ``fitted(fit, level)``) in the data's row order: level 0 the
        population (``X beta``), k adds the random effects of the k outermost levels
        (default: the innermost); several levels give a DataFrame (``fixed``, level names)."""
        levels = self._level_arg(level, "fitted")
        return self._by_levels(levels, lambda k: _fitted_sorted(self.frame, self.estimate, k))

    def residuals(self, type: str = "response", level: Any = None
                  ) -> Union[pd.Series, pd.DataFrame]:
        """Residuals (R: ``residuals(fit, level, type)``): ``"response"`` (y - fitted),
        ``"pearson"`` (divided by ``sigma / w``) or ``"normalized"`` (Pearson residuals
        whitened by the correlation structure's Cholesky factor, group by group)."""
        type = _RESID_TYPE("type", type, "residuals")
        levels = self._level_arg(level, "residuals")
        y = self.frame.gls.y
        est = self.estimate

        def one(k):
            r = y - _fitted_sorted(self.frame, est, k)
            if type == "response":
                return r
            r = r * est.weights / est.sigma
            if type == "normalized" and self.correlation is not None:
                pc, _ = self.structure_split()
                r = self.correlation.whiten_exact(r[:, None], pc)[0][:, 0]
            return r

        return self._by_levels(levels, one)

    resid = residuals

    def predict(self, newdata: Any = None, level: Any = None
                ) -> Union[pd.Series, pd.DataFrame]:
        """Predictions on ``newdata`` (R: ``predict(fit, newdata, level)``): level 0 the
        population, k with the random effects of the k outermost levels (NaN for a group
        the fit has not seen, as nlme's NA); several levels give a DataFrame."""
        if newdata is None:
            return self.fitted(level)
        levels = self._level_arg(level, "predict")
        nd = model_matrices_for(self.design, newdata, fixed=True, random=max(levels) > 0)
        X = nd.X
        index = newdata.index if isinstance(newdata, pd.DataFrame) else pd.RangeIndex(len(X))
        base = X @ self.estimate.beta
        out = {}
        for k in levels:
            v = base.copy()
            for i in range(1, k + 1):
                t = self.re_term(i)
                codes, Xi = nd.terms[self.frame.term_of_level[i - 1]]
                b = self.estimate.b[t.row_offset:t.row_offset + t.n_rows].reshape(
                    t.n_levels, t.n_columns)
                codes = np.asarray(codes, dtype=np.int64)
                ok = codes >= 0
                add = np.full(v.size, np.nan)
                add[ok] = np.einsum("ij,ij->i", np.asarray(Xi, dtype=float)[ok], b[codes[ok]])
                v = v + add
            out[k] = v
        if len(levels) == 1:
            return pd.Series(out[levels[0]], index=index)
        return pd.DataFrame({nm: out[k] for nm, k in zip(self._level_names(levels), levels)},
                            index=index)

    def VarCorr(self) -> "LmeVarCorr":
        """nlme's ``VarCorr(fit)``: per level the variances, standard deviations and
        correlations of the random effects, then the residual's; ``str()`` is nlme's print."""
        return LmeVarCorr(self)

    def getVarCov(self, type: str = "random.effects", individual: Any = 1) -> "VarCovMatrix":
        """nlme's ``getVarCov(fit, individual, type)``: ``"random.effects"`` (the random
        effects' covariance; one level only, as nlme), ``"conditional"`` (the within-group
        errors' covariance of one group, ``sigma^2 W^-1 C W^-1``) or ``"marginal"`` (``Z D Z'``
        plus that). ``individual`` is the group's position among the innermost groups in the
        data's order (1: the first row's group) or its label."""
        type = _VARCOV_TYPE("type", type, "getVarCov")
        if self.Q > 1:
            raise ArgumentError("getVarCov: not implemented for multiple levels of nesting")
        if type == "random.effects":
            S = self.re_covariance(1)
            return VarCovMatrix(S.to_numpy(), "Random effects", list(S.index), None)
        fr = self.frame
        codes = fr.group_codes[-1]
        labels = fr.group_labels[-1]
        order_seen = []
        seen = set()
        for c in codes[np.argsort(fr.caller_pos, kind="stable")]:
            if int(c) not in seen:
                seen.add(int(c))
                order_seen.append(int(c))
        if isinstance(individual, str):
            if individual not in labels:
                raise ArgumentError(f"getVarCov: no group {individual!r}")
            code = labels.index(individual)
        else:
            k = Integer(lower=1, upper=len(order_seen))("individual", individual, "getVarCov")
            code = order_seen[k - 1]
        rows = np.flatnonzero(codes == code)
        est = self.estimate
        m = rows.size
        C = np.eye(m)
        if self.correlation is not None:
            # the correlation's groups are the group's or nested within it: block diagonal
            pc, _ = self.structure_split()
            cor = self.correlation
            cgs = cor.blocks.codes[rows]
            for cg in np.unique(cgs):
                crow = np.flatnonzero(cor.blocks.codes == cg)
                pos = np.searchsorted(rows, crow)
                C[np.ix_(pos, pos)] = cor.cor_matrix(pc, int(cg))
        sd = est.sigma / est.weights[rows]
        V = C * np.outer(sd, sd)
        name = self.levels[-1].group
        label = f"{name} {labels[code]}"
        if type == "conditional":
            return VarCovMatrix(V, "Conditional", None, label)
        for i in range(1, self.Q + 1):
            t = self.re_term(i)
            Xi = np.asarray(t.X, dtype=float).reshape(-1, t.n_columns)[rows]
            same = fr.group_codes[i - 1][rows]
            S = self.re_covariance(i).to_numpy()
            block = Xi @ S @ Xi.T
            V = V + block * (same[:, None] == same[None, :])
        return VarCovMatrix(V, "Marginal", None, label)

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        from .lme_display import format_lme_print
        return format_lme_print(self)

    def __repr__(self) -> str:
        return self.__str__()

    def summary(self) -> "LmeSummary":
        """nlme's ``summary(fit)``: ``str()`` is ``print(summary(fit))``; ``tTable`` the
        fixed-effects table with nlme's DF."""
        return LmeSummary(self)


class VarCovMatrix(np.ndarray):
    """A covariance matrix from ``getVarCov`` (a numpy array) whose ``str()`` is nlme's
    ``print.VarCov``."""

    kind: str
    names: Optional[List[str]]
    label: Optional[str]

    def __new__(cls, values: np.ndarray, kind: str, names: Optional[List[str]],
                label: Optional[str]) -> "VarCovMatrix":
        obj = np.asarray(values, dtype=float).view(cls)
        obj.kind, obj.names, obj.label = kind, names, label
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.kind = getattr(obj, "kind", "Marginal")
        self.names = getattr(obj, "names", None)
        self.label = getattr(obj, "label", None)

    def __str__(self) -> str:
        from .lme_display import format_lme_varcov
        return format_lme_varcov(np.asarray(self), self.kind, self.names, self.label)

    def __repr__(self) -> str:
        return self.__str__()


class LmeVarCorr:
    """nlme's ``VarCorr(fit)``: ``table`` (rows: per level its random effects, then
    ``Residual``; columns ``Variance``, ``StdDev``), ``str()`` nlme's print."""

    def __init__(self, fit: LmeModel) -> None:
        self.fit = fit

    def __str__(self) -> str:
        from .lme_display import format_lme_varcorr
        return format_lme_varcorr(self.fit)

    __repr__ = __str__


class LmeSummary:
    """``summary(fit)`` of an lme fit: ``tTable`` (``Value``, ``Std.Error``, ``DF``,
    ``t-value``, ``p-value``, nlme's DF; by ML the standard errors are scaled by
    ``sqrt(n / (n - p))``, nlme's ``adjustSigma = TRUE``), ``corFixed``; ``str()`` is nlme's
    print."""

    def __init__(self, fit: LmeModel) -> None:
        from scipy import stats
        self.fit = fit
        beta = fit.estimate.beta
        se0 = np.sqrt(np.diag(fit.estimate.varBeta))
        se = se0
        if not fit.REML:        # nlme's adjustSigma: ML standard errors as if by n - p
            se = se0 * math.sqrt(fit.nobs() / (fit.nobs() - len(beta)))
        df = fit.fixDF.X.to_numpy()
        t = beta / se
        p = 2 * stats.t.sf(np.abs(t), df)
        names = list(fit.frame.gls.colnames)
        self.tTable = pd.DataFrame({"Value": beta, "Std.Error": se, "DF": df, "t-value": t,
                                    "p-value": p}, index=names)
        v = fit.estimate.varBeta
        self.corFixed = pd.DataFrame(v / se0[:, None] / se0[None, :], index=names,
                                     columns=names)
        self.AIC, self.BIC, self.logLik = fit.AIC(), fit.BIC(), float(fit.logLik())

    def __str__(self) -> str:
        from .lme_display import format_lme_summary
        return format_lme_summary(self)

    __repr__ = __str__
