"""``gls``: linear models with correlated and/or unequal-variance errors, fitted as nlme fits
them.

R equivalent: ``nlme::gls(model, data, correlation, weights, method, na.action)`` and its
methods (``print``, ``summary``, ``coef``, ``vcov``, ``logLik``, ``fitted``, ``residuals``,
``predict``, ``anova``, ``intervals``), nlme 3.1 (Pinheiro & Bates 2000, chapter 5).

>>> import lmerpy
>>> fit = lmerpy.gls("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", ovary,
...                  correlation=lmerpy.corAR1(form="~ 1 | Mare"))        # doctest: +SKIP
>>> print(fit.summary())                                                  # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NA_ACTION, Choice, Integer, Number, numeric_vector, show, \
    unknown_keywords
from ..design.newdata import model_matrices_for
from ..errors import ArgumentError, DataError, FitError
from ..models.base import LogLik
from .base import start_values, unlist_names
from .fit_base import NlmeFit
from .corstruct import CorStruct
from .display import GlsPrintInput, format_gls_print, format_gls_summary, format_varcov
from .estimate import GlsCriterion, GlsEstimate, fd_hess, optimize_structure, \
    richardson_hessian
from .frame import GlsFrame, GlsRows, build_gls_frame
from .varfunc import as_var_func
from ..threads import fit_threads

__all__ = ["gls", "GlsModel", "GlsSummary", "glsControl"]

_METHOD = Choice(("REML", "ML"))
_PREDICT_NA = Choice(("fail", "pass", "omit"),
                     aliases={"na.fail": "fail", "na.pass": "pass", "na.omit": "omit"})
_POSITIVE = Number(lower=0, open_lower=True)
_HESSIAN = Choice(("richardson", "fdHess"))
_RESID_TYPE = Choice(("response", "pearson", "normalized"),
                     aliases={"p": "pearson", "n": "normalized", "r": "response"})

#: nlme's ``glsControl()`` defaults that matter here (``tolerance``: the relative change of
#: beta and the parameters at which the ``fitted(.)`` updates stop; lmerpy's default is
#: tighter than nlme's 1e-6, so the fit reaches the fixed point itself).
GLS_CONTROL = {"maxIter": 50, "tolerance": 1e-9, "apVar": True,
               ".relStep": float(np.finfo(float).eps) ** (1.0 / 3.0), "minAbsParApVar": 0.05,
               "start": None, "optimize": True, "apVarHessian": "richardson"}


def glsControl(**settings: Any) -> Dict[str, Any]:
    """nlme's ``glsControl``: ``maxIter`` (50), ``tolerance`` (1e-9; nlme: 1e-6), ``apVar``
    (True: compute the approximate covariance of the structure parameters), ``.relStep`` and
    ``minAbsParApVar`` (the steps of nlme's ``fdHess``, used with ``apVarHessian =
    "fdHess"``).

    ``apVarHessian``: ``"richardson"`` (default) differentiates the log-likelihood by
    Richardson-extrapolated central differences (steps scaled to the curvature), accurate to
    ~1e-6;
    ``"fdHess"`` is nlme's own scheme, whose small steps leave ~1e-5 to 1e-2 of rounding
    noise in ``apVar`` (and so in the structure parameters' ``intervals``).

    lmerpy adds ``start`` (the structure parameters to start from, on nlme's unconstrained
    scale in the order of ``fit.structure_parameters(unconstrained=True)``) and ``optimize``
    (False: no optimisation, the fit is evaluated at ``start``; a ``fitted(.)`` covariate is
    still iterated to its fixed point) -- the criterion at chosen parameters, as lme4's
    ``devFunOnly`` shows it for lmer."""
    unknown_keywords("glsControl", {k: v for k, v in settings.items() if k not in GLS_CONTROL},
                     list(GLS_CONTROL))
    out = dict(GLS_CONTROL)
    out.update(settings)
    out["maxIter"] = Integer(lower=0)("maxIter", out["maxIter"], "glsControl")
    out["tolerance"] = _POSITIVE("tolerance", out["tolerance"], "glsControl")
    out["apVar"] = LOGICAL("apVar", out["apVar"], "glsControl")
    out["optimize"] = LOGICAL("optimize", out["optimize"], "glsControl")
    out[".relStep"] = _POSITIVE(".relStep", out[".relStep"], "glsControl")
    out["minAbsParApVar"] = Number(lower=0)("minAbsParApVar", out["minAbsParApVar"],
                                            "glsControl")
    out["apVarHessian"] = _HESSIAN("apVarHessian", out["apVarHessian"], "glsControl")
    if out["start"] is not None:
        out["start"] = numeric_vector("start", out["start"], "glsControl")
    return out


@fit_threads
def gls(formula: str, data: Any, correlation: Optional[CorStruct] = None,
        weights: Any = None, method: str = "REML", na_action: str = "fail",
        control: Optional[Dict[str, Any]] = None, contrasts: Any = None,
        **kwargs: Any) -> "GlsModel":
    """Fit a linear model by generalized least squares (R: ``nlme::gls``).

    Parameters
    ----------
    formula : str
        ``"response ~ terms"`` (R's formula language; no random-effects bars, no offset).
    data : DataFrame-like
        pandas, polars, pyarrow, a dict of columns... Never modified. ``data.attrs["name"]``
        is printed as the ``Data:`` line.
    correlation : corStruct, optional
        ``corCompSymm``, ``corAR1``, ``corARMA``, ``corCAR1`` or ``corSymm``; its groups
        (``form = "~ t | g"``) order the rows as nlme does.
    weights : varFunc or str, optional
        ``varFixed``, ``varIdent``, ``varPower``, ``varExp``, ``varConstPower``, ``varComb``;
        a formula string ``"~ v"`` means ``varFixed("~ v")``.
    method : {"REML", "ML"}
    na_action : {"fail", "omit", "exclude"}
        nlme's default is ``na.fail``. ``"exclude"`` pads fitted values and residuals with NaN
        at the dropped rows.
    control : dict, optional
        :func:`glsControl` settings.
    contrasts : dict or str, optional
        As for ``lmer``.

    Returns
    -------
    GlsModel
    """
    unknown_keywords("gls", kwargs, ["formula", "data", "correlation", "weights", "method",
                                     "na_action", "control", "contrasts"])
    method = _METHOD("method", method, "gls")
    na_action = NA_ACTION("na_action", na_action, "gls")
    if correlation is not None and not isinstance(correlation, CorStruct):
        raise ArgumentError(f"gls: 'correlation' must be a correlation structure (corAR1(), "
                            f"corCompSymm(), ...), not {show(correlation)}")
    varfunc = as_var_func(weights)
    ctrl = glsControl(**(control or {}))
    frame = build_gls_frame(formula, data, correlation, varfunc, na_action=na_action,
                            contrasts=contrasts)
    return _fit(frame, correlation, varfunc, method == "REML", ctrl, data)


def _fit(frame: GlsFrame, correlation, varfunc, REML: bool, ctrl, data) -> "GlsModel":
    rows = GlsRows(frame)
    cor = correlation.bind(rows) if correlation is not None else None
    var = varfunc.bind(rows) if varfunc is not None else None
    crit = GlsCriterion(frame.X, frame.y, cor, var, REML=REML)
    par = start_values(ctrl["start"], crit.start(), "glsControl")
    est = crit.estimate(par)
    updated = var if var is not None and var.needs_update else None
    if updated is not None:
        rows.set_fitted(est.fitted)
        updated.update(rows)
    num_iter = 0
    evaluations = 0
    while True:
        old = np.concatenate([est.beta, par])
        if crit.npar and ctrl["optimize"]:
            par, _ll, ev, _msg = optimize_structure(crit, par)
            evaluations += ev
        est = crit.estimate(par)
        if updated is None:
            break
        num_iter += 1
        rows.set_fitted(est.fitted)
        updated.update(rows)
        new = np.concatenate([est.beta, par])
        conv = np.abs((old - new) / np.where(new == 0, 1.0, new))
        if float(np.max(conv)) <= ctrl["tolerance"]:
            est = crit.estimate(par)
            break
        if num_iter > ctrl["maxIter"]:
            raise FitError("maximum number of iterations reached without convergence "
                           f"(glsControl(maxIter = {ctrl['maxIter']}))")
    return GlsModel(frame, cor, var, crit, est, REML, num_iter, evaluations, ctrl, data, rows)


class GlsModel(NlmeFit):
    """A fitted ``gls`` model (R: an object of class ``gls``).

    Attributes
    ----------
    method : {"REML", "ML"}
    formula : Formula
    correlation, weights : the bound structures (or None)
    numIter : int
        Updates of a ``fitted(.)`` variance covariate (0 otherwise), as nlme's ``numIter``.
    apVar : pandas.DataFrame or str
        nlme's approximate covariance matrix of the structure parameters (on its ``natural``
        scale: unconstrained, correlations of ``corSymm`` as ``log((1 + r) / (1 - r))``) and
        ``log(sigma)``, or nlme's message when the Hessian is not negative definite.
    """

    r_class = "gls"

    def __init__(self, frame, cor, var, crit, est: GlsEstimate, REML, num_iter, evaluations,
                 ctrl, data, rows):
        self._set_fit(frame, cor, var, crit, est, REML, num_iter, ctrl, data)
        self.formula = frame.formula
        self.evaluations = int(evaluations)
        self.rows = rows
        self.par = np.asarray(est.par, dtype=float)
        self.apVar: Any = None
        self.apVar_pars: Optional[np.ndarray] = None
        if ctrl.get("apVar", True):
            self.apVar, self.apVar_pars = self._ap_var()

    # ------------------------------------------------------------------ parameters
    def structure_split(self):
        """The correlation's and the variance function's parameters (unconstrained)."""
        return self.criterion.split(self.par)

    def _ap_var(self):
        crit = self.criterion
        if crit.npar == 0:
            return None, None
        pc, pv = self.structure_split()
        cor = self.correlation
        a_cor = cor.apvar_par(pc) if cor is not None else np.zeros(0)
        pars = np.concatenate([a_cor, pv, [math.log(self.estimate.sigma)]])
        nc = a_cor.size

        def f(x):
            c = cor.from_apvar_par(x[:nc]) if cor is not None else np.zeros(0)
            return crit.full_loglik(np.concatenate([c, x[nc:]]))

        if self.control["apVarHessian"] == "fdHess":
            H = fd_hess(pars, f, rel_step=self.control[".relStep"],
                        min_abs_par=self.control["minAbsParApVar"])["Hessian"]
        else:
            H = richardson_hessian(f, pars)
        names = unlist_names("corStruct", cor.par_names()) if cor is not None else []
        if self.weights is not None:
            names += unlist_names("varStruct", self.weights.par_names())
        names.append("lSigma")
        if not np.all(np.isfinite(H)) or np.any(np.linalg.eigvalsh(H) >= 0):
            return "Non-positive definite approximate variance-covariance", pars
        V = np.linalg.inv(-H)
        V = (V + V.T) / 2
        return pd.DataFrame(V, index=names, columns=names), pars

    # ------------------------------------------------------------------ R's accessors
    def coef(self) -> pd.Series:
        """The estimated coefficients (R: ``coef(fit)``)."""
        return pd.Series(self.estimate.beta, index=self.frame.colnames, name=None)

    fixef = coef

    def vcov(self) -> pd.DataFrame:
        """The coefficients' covariance matrix (R: ``vcov(fit)``; nlme's ``varBeta``)."""
        nm = self.frame.colnames
        return pd.DataFrame(self.estimate.varBeta, index=nm, columns=nm)

    def df_residual(self) -> int:
        return int(self.frame.n - self.frame.p)

    def logLik(self, REML: Optional[bool] = None) -> LogLik:
        """The (restricted) log-likelihood (R: ``logLik(fit, REML = )``); asking for the other
        criterion converts as nlme does."""
        n, p = self.frame.n, self.frame.p
        REML = self.REML if REML is None else LOGICAL("REML", REML, "logLik")
        val = self.estimate.logLik
        if REML != self.REML:
            sv = np.linalg.svd(self.estimate.varBeta, compute_uv=False)
            adj = p * (math.log(2 * math.pi) + 1) + float(np.sum(np.log(np.abs(sv))))
            if REML:
                val = val + (adj + (n - p) * math.log(1 - p / n)) / 2
            else:
                val = val - (adj + n * math.log(1 - p / n)) / 2
        df = p + self.criterion.npar + 1
        return LogLik(val, df=df, nobs=n - (p if REML else 0), REML=REML)

    # ------------------------------------------------------------------ rows
    def _to_caller(self, sorted_values: np.ndarray) -> pd.Series:
        fr = self.frame
        model = np.empty(fr.n)
        model[fr.order] = sorted_values
        if fr.na_action == "exclude" and fr.kept.size < fr.n_all:
            out = np.full(fr.n_all, np.nan)
            out[fr.kept] = model
            index = self.data.index if isinstance(self.data, pd.DataFrame) \
                else pd.RangeIndex(fr.n_all)
            return pd.Series(out, index=index)
        return pd.Series(model, index=fr.row_index)

    def fitted(self) -> pd.Series:
        """Fitted values ``X beta`` (R: ``fitted(fit)``), in the data's row order."""
        return self._to_caller(self.estimate.fitted)

    def _pearson_sorted(self):
        est = self.estimate
        std = est.sigma / est.weights
        return (self.frame.y - est.fitted) / std

    def residuals(self, type: str = "response") -> pd.Series:
        """Residuals (R: ``residuals(fit, type)``): ``"response"`` (y - fitted),
        ``"pearson"`` (divided by their estimated standard deviations ``sigma / w``) or
        ``"normalized"`` (Pearson residuals whitened by the correlation structure's
        Cholesky factor, group by group: uncorrelated under the model)."""
        type = _RESID_TYPE("type", type, "residuals")
        est = self.estimate
        if type == "response":
            return self._to_caller(self.frame.y - est.fitted)
        r = self._pearson_sorted()
        if type == "normalized" and self.correlation is not None:
            pc, _ = self.structure_split()
            r, _ld = self.correlation.whiten_exact(r[:, None], pc)
            r = r[:, 0]
        return self._to_caller(r)

    resid = residuals

    def model_matrix(self) -> pd.DataFrame:
        """The fixed-effects model matrix in the data's row order."""
        fr = self.frame
        X = np.empty_like(fr.X)
        X[fr.order] = fr.X
        return pd.DataFrame(X, index=fr.row_index, columns=fr.colnames)

    def predict(self, newdata: Any = None, na_action: str = "fail") -> pd.Series:
        """Predictions ``X_new beta`` (R: ``predict(fit, newdata, na.action)``); without
        ``newdata`` the fitted values. ``na_action``: ``"fail"`` (nlme's default: an error
        on a missing predictor), ``"pass"`` (NaN) or ``"omit"``."""
        if newdata is None:
            return self.fitted()
        na_action = _PREDICT_NA("na_action", na_action, "predict")
        nd = model_matrices_for(self.frame, newdata, fixed=True, random=False)
        X = nd.X
        bad = np.isnan(X).any(axis=1)
        index = newdata.index if isinstance(newdata, pd.DataFrame) else pd.RangeIndex(len(X))
        if bad.any():
            if na_action == "fail":
                rows = np.flatnonzero(bad)
                raise DataError(f"predict: missing values in newdata (rows "
                                f"{', '.join(str(int(r) + 1) for r in rows[:5])}"
                                f"{', ...' if rows.size > 5 else ''}); use na_action='pass' "
                                f"or 'omit'")
            if na_action == "omit":
                X, index = X[~bad], index[~bad]
        return pd.Series(X @ self.estimate.beta, index=index)

    def getVarCov(self, individual: Any = 1) -> "MarginalVarCov":
        """The estimated covariance matrix of one group's responses, ``sigma^2 W^-1 C W^-1``
        (R: ``getVarCov(fit, individual = 1)``): ``individual`` is the group's position (1 for
        the first, in the fit's order of the correlation groups) or its label."""
        cor = self.correlation
        if cor is None:
            raise ArgumentError("getVarCov: not implemented for uncorrelated errors")
        if not cor.form.has_groups:
            raise ArgumentError("getVarCov: not implemented for correlation structures "
                                "without a grouping factor")
        present = [int(g) for g in np.flatnonzero(np.bincount(cor.blocks.codes))]
        labels = [cor.group_labels[g] for g in present]
        if isinstance(individual, str):
            if individual not in labels:
                raise ArgumentError(f"getVarCov: no group {individual!r} (groups: "
                                    f"{', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''})")
            code = present[labels.index(individual)]
        else:
            k = Integer(lower=1, upper=len(present))("individual", individual, "getVarCov")
            code = present[k - 1]
        pc, _ = self.structure_split()
        C = cor.cor_matrix(pc, code)
        rows = np.flatnonzero(cor.blocks.codes == code)
        sd = self.estimate.sigma / self.estimate.weights[rows]
        return MarginalVarCov(C * np.outer(sd, sd))

    # ------------------------------------------------------------------ printing
    def print_input(self) -> GlsPrintInput:
        pc, pv = self.structure_split()
        fr = self.frame
        ll = self.logLik()
        se = np.sqrt(np.diag(self.estimate.varBeta))
        data_name = fr.data_name or "data"
        pearson = self._pearson_sorted()
        model = np.empty(fr.n)
        model[fr.order] = pearson
        return GlsPrintInput(
            REML=self.REML, formula=self.formula.deparse(), data_name=data_name,
            logLik=float(ll), AIC=self.AIC(), BIC=self.BIC(), coef_names=list(fr.colnames),
            coef=self.estimate.beta, se=se, vcov=self.estimate.varBeta,
            df_resid=self.df_residual(), nobs=fr.n, sigma=self.sigma(), pearson=model,
            row_names=[str(i) for i in fr.row_index],
            cor=self.correlation.summary(pc) if self.correlation is not None else None,
            var=self.weights.summary(pv) if self.weights is not None else None)

    def __str__(self) -> str:
        return format_gls_print(self.print_input())

    def __repr__(self) -> str:
        return self.__str__()

    def summary(self) -> "GlsSummary":
        """nlme's ``summary(fit)``: its ``str()`` is ``print(summary(fit))``; ``tTable`` the
        coefficient table."""
        return GlsSummary(self)


class MarginalVarCov(np.ndarray):
    """A marginal covariance matrix (a numpy array) whose ``str()`` is nlme's
    ``print.VarCov``."""

    def __new__(cls, values: np.ndarray) -> "MarginalVarCov":
        return np.asarray(values, dtype=float).view(cls)

    def __str__(self) -> str:
        return format_varcov(np.asarray(self))

    def __repr__(self) -> str:
        return self.__str__()


class GlsSummary:
    """``summary(fit)`` of a gls fit: ``str()`` is nlme's ``print(summary(fit))``.

    Attributes
    ----------
    tTable : pandas.DataFrame
        ``Value``, ``Std.Error``, ``t-value``, ``p-value`` (t tests on n - p df).
    corBeta : pandas.DataFrame
        The coefficients' correlation matrix.
    AIC, BIC, logLik : float
    """

    def __init__(self, fit: GlsModel):
        from scipy import stats
        self.fit = fit
        beta = fit.estimate.beta
        se = np.sqrt(np.diag(fit.estimate.varBeta))
        t = beta / se
        p = 2 * stats.t.sf(np.abs(t), fit.frame.n - fit.frame.p)
        names = list(fit.frame.colnames)
        self.tTable = pd.DataFrame({"Value": beta, "Std.Error": se, "t-value": t, "p-value": p},
                                   index=names)
        v = fit.estimate.varBeta
        self.corBeta = pd.DataFrame(v / se[:, None] / se[None, :], index=names, columns=names)
        self.AIC, self.BIC, self.logLik = fit.AIC(), fit.BIC(), float(fit.logLik())
        self._p = p

    def __str__(self) -> str:
        return format_gls_summary(self.fit.print_input(), self._p)

    __repr__ = __str__
