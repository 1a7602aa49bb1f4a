"""Accessors shared by every fitted mixed model (lme4's ``merMod`` methods).

A fitted model holds its :class:`~lmerpy.design.structures.Design`, the optimizer's
:class:`~lmerpy.optimize.OptSummary` and the penalized-least-squares solution at the optimum;
everything here only reads them. Methods carry R's names (``fit.fixef()``), and
``lmerpy.functions`` exposes the same as module-level functions (``fixef(fit)``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..arguments import LOGICAL, LOGICAL_OR_NONE, Choice, Number
from ..errors import ArgumentError
from .callables import Count, ResidualSeries
from .naresid import naresid
from .ranef import RanEf, build_coef, build_ranef
from .varcorr import VarCorr

_TOL = Number(lower=0)
_ALPHA = Number(lower=0, upper=1)
_MATRIX_TYPE = Choice(("fixed", "random", "randomListRaw"))

if TYPE_CHECKING:
    from ..design.structures import Design
    from ..inference.anova_table import AnovaTable
    from ..inference.profile_base import Profile
    from ..optimize.optsum import OptSummary
    from ..types import DataLike, ReForm, Seed
    from .summary import ModelSummary


class LogLik(float):
    """A log-likelihood with its degrees of freedom (R: class ``logLik``)."""

    df: int
    nobs: int
    REML: bool

    def __new__(cls, value: float, df: int, nobs: int, REML: bool = False) -> LogLik:
        obj = super().__new__(cls, value)
        obj.df, obj.nobs, obj.REML = int(df), int(nobs), bool(REML)
        return obj

    def __repr__(self) -> str:
        from ..display.rformat import format_number
        kind = "'log Lik.'"
        return f"{kind} {format_number(float(self), digits=7)} (df={self.df})"

    __str__ = __repr__


class MixedModel:
    """Base class of fitted models: the parts of lme4's ``merMod`` common to LMMs and GLMMs."""

    #: lme4's class name, printed in the summary title
    r_class = "merMod"

    def __init__(self, design: Design, devfun: Any, optsum: OptSummary, solution: Any,
                 data: DataLike = None, call: Optional[Mapping[str, Any]] = None) -> None:
        self.design = design
        self.devfun = devfun
        self.optsum = optsum
        self._sol = solution
        self._data = data
        self.call = dict(call or {})

    # ------------------------------------------------------------------ basic quantities
    @property
    def data(self) -> Optional[DataLike]:
        """The data the model was fitted to, as passed (None when the fit does not hold it)."""
        return self._data

    @property
    def par(self) -> np.ndarray:
        """The covariance parameters at the optimum, on the optimizer's scale (lme4 2.x's
        ``par``, ``getME(fit, "par")``): θ itself when every term is unstructured, else each
        term's relative standard deviations and correlation(s)."""
        x = np.asarray(self.optsum.theta, dtype=float)
        n = self.design.n_par
        return x if x.shape[0] == n else x[:n]

    @property
    def theta(self) -> np.ndarray:
        """θ at the optimum: the values of Λ's structural nonzeros (``getME(fit, "theta")``)."""
        lay = self.design.layout
        if lay.is_identity:
            return self.par
        return lay.par_to_theta(self.par)

    def fixef(self) -> pd.Series:
        """R: ``fixef(fit)``: the fixed-effects estimates β̂, named as R names them."""
        return pd.Series(np.asarray(self._sol.beta, dtype=float), index=list(self.design.X_colnames))

    @property
    def nobs(self) -> Count:
        """R: ``nobs(fit)``; also statsmodels' ``nobs`` attribute (an int that can be called)."""
        return Count(self.design.n)

    @property
    def resid(self) -> ResidualSeries:
        """R: ``resid(fit, ...)`` (as ``residuals``); uncalled, the default residuals as a Series
        (statsmodels' ``resid``: the response residuals of a linear mixed model, the deviance
        residuals of a GLMM, as R's ``resid(fit)``). A fit on a Dask DataFrame gives its
        ``residuals`` method: call it for the lazy Dask Series (the rows stay on the cluster)."""
        if _on_cluster(self):
            return self.residuals    # type: ignore[return-value]
        return ResidualSeries.of(self.residuals)

    def ngrps(self) -> pd.Series:
        """R: ``ngrps(fit)``: number of levels of each grouping factor."""
        fl = self.design.flist
        return pd.Series([len(fl[c].cat.categories) for c in fl.columns], index=list(fl.columns))

    def vcov(self) -> pd.DataFrame:
        """R: ``vcov(fit)``: covariance matrix of β̂ as a DataFrame."""
        names = list(self.design.X_colnames)
        return pd.DataFrame(np.asarray(self._vcov_beta(), dtype=float), index=names, columns=names)

    def _vcov_beta(self):
        return self._sol.vcov_beta

    def isSingular(self, tol: float = 1e-4) -> bool:
        """R: ``isSingular(fit, tol = 1e-4)``: some term is singular — a diagonal θ of an
        unstructured term or a standard deviation below ``tol``, or a correlation of a
        ``cs``/``ar1`` term within ``tol`` of its bound (a zero variance or a ±1
        correlation; see :func:`lmerpy.isSingular`; for a random-effects column on an
        extreme scale, its parameter of the rescaled column, see
        :mod:`lmerpy.optimize.coords`)."""
        tol = _TOL("tol", tol, "isSingular")
        par = self.par
        s = getattr(self.optsum, "coord_scale", None)
        if s is not None:   # fitted in scaled coordinates: judged as the rescaled problem
            par = par / np.asarray(s, dtype=float)[:par.size]
        return bool(self.design.layout.is_singular(par, tol))

    def VarCorr(self) -> VarCorr:
        """R: ``VarCorr(fit)``: variances, standard deviations and correlations."""
        return VarCorr.from_theta(self.design.reterms, self.theta, self.sigma(), use_sc=self._use_sc,
                                  lme4_2=bool(getattr(self.design.formula, "has_specials", False)))

    _use_sc = True

    if TYPE_CHECKING:  # defined by each model class
        def sigma(self) -> float: ...

        def logLik(self) -> LogLik: ...

        def residuals(self, type: Any = ..., scaled: bool = False) -> pd.Series: ...

        def _residual_values(self, type: Any = ..., scaled: bool = False) -> np.ndarray: ...

        def deviance(self) -> float: ...

        def refit(self, newresp: Any = None) -> MixedModel: ...

        def update(self, formula: Any = None, **kwargs: Any) -> MixedModel: ...

    @property
    def use_sc(self) -> bool:
        """True when the model has a residual scale σ (LMMs, and GLMMs of families with a
        dispersion parameter): lme4's ``getME(fit, "devcomp")$dims[["useSc"]]``."""
        return bool(self._use_sc)

    def ranef(self, condVar: bool = True) -> RanEf:
        """R: ``ranef(fit, condVar = TRUE)``: conditional modes per grouping factor."""
        condVar = LOGICAL("condVar", condVar, "ranef")
        cv = self._sol.cond_var if condVar else None
        return build_ranef(self.design, np.asarray(self._sol.b, dtype=float), cv)

    def coef(self) -> Dict[str, pd.DataFrame]:
        """R: ``coef(fit)``: β̂ plus conditional modes, one DataFrame per grouping factor."""
        return build_coef(self.fixef(), self.ranef(condVar=False))

    def npar(self) -> int:
        """Number of parameters: β, the covariance parameters ``par`` and σ (lme4's ``df`` of
        logLik; lme4 2.0 counts ``par``, not θ: #943)."""
        return self.design.p + self.design.n_par + int(self._use_sc)

    def df_residual(self) -> int:
        """R: ``df.residual(fit)`` = n − number of parameters."""
        return self.nobs() - self.npar()

    def AIC(self) -> float:
        """R: ``AIC(fit)`` (uses the REML criterion for REML fits, as lme4)."""
        ll = self.logLik()
        return -2.0 * float(ll) + 2.0 * ll.df

    def BIC(self) -> float:
        """R: ``BIC(fit)``."""
        ll = self.logLik()
        return -2.0 * float(ll) + math.log(ll.nobs) * ll.df

    def fitted(self) -> pd.Series:
        """R: ``fitted(fit)``: conditional fitted values (response scale), indexed as the
        model frame; with ``na_action="exclude"`` one per row of the data, NaN where a row
        was dropped (R's ``napredict``). A fit on a Dask DataFrame gives a lazy Dask Series,
        one partition per data partition."""
        if _on_cluster(self):
            from ..dask import lazy_fitted
            return lazy_fitted(self)
        return naresid(self.design, self._fitted_values())

    def _fitted_values(self) -> np.ndarray:
        """The fitted values of the model frame's rows (never padded)."""
        return np.asarray(self._sol.fitted, dtype=float)

    # ------------------------------------------------------------------ matrices
    def model_matrix(self, type: Literal["fixed", "random", "randomListRaw"] = "fixed"
                     ) -> Union[pd.DataFrame, sp.csc_matrix, List[np.ndarray]]:
        """R: ``model.matrix(fit, type = "fixed" | "random" | "randomListRaw")``."""
        type = _MATRIX_TYPE("type", type, "model_matrix")
        if type == "fixed":
            return pd.DataFrame(self.design.X, columns=list(self.design.X_colnames),
                                index=self.design.fr.index)
        if type == "random":
            return self.design.Zt.T.tocsc()
        return [t.X for t in self.design.reterms]

    def getME(self, name: Union[str, Sequence[str]]) -> Any:
        """R: ``getME(fit, name)``: the one door to every internal piece (see ``getme.NAMES``)."""
        from .getme import get_me
        return get_me(self, name)

    # ------------------------------------------------------------------ inference (lmerpy.inference)
    def predict(self, newdata: DataLike = None, re_form: ReForm = None,
                allow_new_levels: bool = False, type: Literal["link", "response"] = "link",
                **kwargs: Any) -> pd.Series:
        """R: ``predict(fit, newdata, re.form, allow.new.levels, type)``. On a Dask ``newdata``
        (or without ``newdata`` for a fit on a Dask DataFrame) a lazy Dask Series."""
        if _on_cluster(self) or _is_dask(newdata):
            from ..dask import lazy_predict
            return lazy_predict(self, newdata=newdata, re_form=re_form,
                                allow_new_levels=allow_new_levels, type=type)
        from ..inference.predict import predict
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                       type=type, **kwargs)

    def simulate(self, nsim: int = 1, seed: Seed = None, use_u: bool = False,
                 re_form: ReForm = None, newdata: DataLike = None, **kwargs: Any) -> pd.DataFrame:
        """R: ``simulate(fit, nsim, seed, use.u, re.form, newdata)``. A fit on a Dask
        DataFrame gives a lazy Dask DataFrame, one partition per data partition."""
        if _on_cluster(self):
            if newdata is not None or kwargs:
                raise ArgumentError("simulate() of a fit on a Dask DataFrame draws at the "
                                    "fit's own rows: newdata, weights and allow_new_levels "
                                    "are not supported there")
            from ..dask import lazy_simulate
            return lazy_simulate(self, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form)
        from ..inference.simulate import simulate
        return simulate(self, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form,
                        newdata=newdata, **kwargs)

    def anova(self, *others: MixedModel, **kwargs: Any) -> AnovaTable:
        """R: ``anova(fit, ...)``: sequential F table, or the LRT table against other fits."""
        from ..inference.anova import anova
        return anova(self, *others, **kwargs)

    def drop1(self, test: Literal["Chisq", "none"] = "Chisq", **kwargs: Any) -> AnovaTable:
        """R: ``drop1(fit, test = "Chisq")``."""
        from ..inference.anova import drop1
        return drop1(self, test=test, **kwargs)

    def confint(self, parm: Union[str, int, Sequence[Union[str, int]], None] = None,
                level: float = 0.95, method: Literal["profile", "Wald", "boot"] = "profile",
                **kwargs: Any) -> pd.DataFrame:
        """R: ``confint(fit, parm, level, method = "profile" | "Wald" | "boot")``."""
        from ..inference.confint import confint
        return confint(self, parm=parm, level=level, method=method, **kwargs)

    def profile(self, **kwargs: Any) -> Profile:
        """R: ``profile(fit)``."""
        from ..inference.profile import profile
        return profile(self, **kwargs)

    # ------------------------------------------------------------------ printing
    def summary(self, correlation: Optional[bool] = None, ddf: Optional[str] = None
                ) -> ModelSummary:
        """R: ``summary(fit)``; ``ddf="Satterthwaite"`` or ``"Kenward-Roger"`` gives lmerTest's
        ``summary(fit, ddf = …)`` (``df`` and ``Pr(>|t|)`` columns; linear mixed models)."""
        from .summary import ModelSummary
        correlation = LOGICAL_OR_NONE("correlation", correlation, "summary")
        return ModelSummary(self, correlation=correlation, ddf=ddf)

    def __str__(self) -> str:
        from ..display import format_print
        from .summary import summary_input
        return format_print(summary_input(self))

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(self.__str__())

    # ------------------------------------------------------------------ Python conventions
    # statsmodels' result-object names, alongside R's (which stay primary). ``nobs`` and
    # ``resid`` (above) are both: values that can be called as R's methods.
    @property
    def params(self) -> pd.Series:
        """The fixed-effects estimates β̂ (``fixef()``; statsmodels' ``params``)."""
        return self.fixef()

    @property
    def bse(self) -> pd.Series:
        """Standard errors of β̂ (``sqrt(diag(vcov()))``; statsmodels' ``bse``)."""
        return pd.Series(np.sqrt(np.diag(self.vcov().to_numpy())), index=self.fixef().index)

    @property
    def tvalues(self) -> pd.Series:
        """β̂ / SE: lme4's ``t value`` (``z value`` for GLMMs without a scale parameter)."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the fixed effects: Satterthwaite's t tests for linear mixed
        models (lmerTest's ``summary(fit)``), asymptotic z tests for GLMMs (lme4's
        ``summary(fit)``; GLMMs with a scale parameter too, as z)."""
        if getattr(self, "r_kind", "lmer") == "lmer":
            tab = self.summary(ddf="Satterthwaite").coefficients
            return pd.Series(tab["Pr(>|t|)"].to_numpy(), index=self.fixef().index)
        from scipy.stats import norm
        return pd.Series(2.0 * norm.sf(np.abs(self.tvalues.to_numpy())),
                         index=self.fixef().index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals of the fixed effects at level 1 − ``alpha`` (normal
        quantiles, as R's ``confint(fit, parm = "beta_", method = "Wald")``); columns 0 and 1
        as statsmodels' ``conf_int()``."""
        from scipy.stats import norm
        alpha = _ALPHA("alpha", alpha, "conf_int")
        if not 0 < alpha < 1:
            from ..errors import ArgumentError
            raise ArgumentError(f"conf_int: 'alpha' must be strictly between 0 and 1; got "
                                f"{alpha!r}")
        z = norm.ppf(1.0 - alpha / 2.0)
        est, se = self.params, self.bse
        return pd.DataFrame({0: est - z * se, 1: est + z * se})

    @property
    def llf(self) -> float:
        """The log-likelihood (``float(logLik())``: the REML criterion's for REML fits)."""
        return float(self.logLik())

    @property
    def aic(self) -> float:
        """``AIC()``."""
        return self.AIC()

    @property
    def bic(self) -> float:
        """``BIC()``."""
        return self.BIC()

    @property
    def fittedvalues(self) -> pd.Series:
        """``fitted()``: conditional fitted values on the response scale."""
        return self.fitted()

    @property
    def resid_response(self) -> pd.Series:
        """``residuals(type="response")``: y − fitted."""
        return self.residuals(type="response")

    @property
    def resid_pearson(self) -> pd.Series:
        """``residuals(type="pearson")``."""
        return self.residuals(type="pearson")

    # ------------------------------------------------------------------ helpers
    def _lambdat(self):
        return self.design.lambdat_at(self.theta)

    def _Z(self):
        return sp.csc_matrix(self.design.Zt.T)


def _on_cluster(fit) -> bool:
    """A fit made on a Dask DataFrame (lmerpy.dask): its n-long results are lazy."""
    return getattr(fit, "dask_log", None) is not None


def _is_dask(data) -> bool:
    return (data is not None
            and type(data).__module__.split(".")[0] in ("dask", "dask_expr"))
