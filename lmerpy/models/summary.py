"""``summary(fit)``: the tables of a fitted model and lme4's printed text.

R equivalent: ``summary(fit)`` (class ``summary.merMod``): its ``$coefficients``, ``$varcor``,
``$residuals``, and ``print(summary(fit))``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from ..display import format_summary
from ..errors import DataNotHereError
from ..display.inputs import SummaryInput

if TYPE_CHECKING:
    from .base import MixedModel


def _data_name(fit):
    data = fit._data
    if data is None:
        return None
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return name or "data"


def coefficient_table(fit: MixedModel) -> pd.DataFrame:
    """R: ``summary(fit)$coefficients``: Estimate, Std. Error, t value (z value, Pr(>|z|) for
    GLMMs with a fixed scale)."""
    beta = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    stat = beta.to_numpy() / se
    tab = pd.DataFrame({"Estimate": beta.to_numpy(), "Std. Error": se}, index=beta.index)
    # lme4: a t value where the family has a scale parameter, z otherwise; GLMMs get p-values
    tab["t value" if fit._use_sc else "z value"] = stat
    if getattr(fit, "r_kind", "lmer") == "glmer":
        from scipy.stats import norm
        tab["Pr(>|z|)"] = 2.0 * norm.sf(np.abs(stat))
    return tab


def _scaled_residuals(fit):
    """The scaled Pearson residuals, or None when the fit does not hold its data (a fit on a
    Dask DataFrame: the summary then prints no residual quantiles)."""
    try:
        return fit._residual_values(type="pearson", scaled=True)
    except DataNotHereError:
        return None


def summary_input(fit: Any) -> SummaryInput:
    """Collect what lme4's printers need from a fitted model."""
    tab = coefficient_table(fit)
    vc = fit.VarCorr()
    opt = fit.optsum
    if getattr(fit, "REML", False):
        criteria = {"REML": float(fit.REMLcrit())}
    else:
        ll = fit.logLik()
        # lme4 2.x names the deviance "-2*log(L)" (its llikAIC); lme4 1.1 "deviance"
        lme4_2 = any(b.vcmat_class is not None for b in vc.blocks())
        criteria = {"AIC": fit.AIC(), "BIC": fit.BIC(), "logLik": float(ll),
                    "-2*log(L)" if lme4_2 else "deviance": fit._summary_deviance(),
                    "df.resid": fit.df_residual()}
    ngrps = fit.ngrps()
    fam = getattr(fit, "family", None)
    stat_name = "t value" if fit._use_sc else "z value"
    return SummaryInput(
        kind=getattr(fit, "r_kind", "lmer"),
        REML=bool(getattr(fit, "REML", False)),
        family=getattr(fam, "family", None),
        link=getattr(fam, "link", None),
        nAGQ=int(getattr(fit, "nAGQ", 1)),
        formula=fit.design.formula.deparse_lines(),
        data_name=_data_name(fit),
        criteria=criteria,
        scaled_residuals=_scaled_residuals(fit),
        varcorr=vc.blocks(),
        sigma=fit.sigma() if fit._use_sc else None,
        use_sc=fit._use_sc,
        nobs=fit.nobs(),
        ngrps=[(k, int(v)) for k, v in ngrps.items()],
        coef_names=list(tab.index),
        estimate=tab["Estimate"].to_numpy(),
        std_error=tab["Std. Error"].to_numpy(),
        statistic_name=stat_name,
        p_values=tab["Pr(>|z|)"].to_numpy() if "Pr(>|z|)" in tab else None,
        vcov=fit.vcov().to_numpy(),
        optimizer=getattr(opt, "optimizer", "nloptwrap"),
        conv_code=int(getattr(opt, "return_code", 0) if getattr(opt, "return_code", 0) is not None else 0),
        conv_messages=list(getattr(opt, "conv_messages", []) or []),
        weights_name=fit.design.info.get("weights_text"),
        offset_name=fit.design.info.get("offset_text"),
        fit_messages=list(getattr(fit.design, "messages", []) or []),
    )


class ModelSummary:
    """R: ``summary(fit)``. ``str()`` gives lme4's printed summary.

    ``summary(ddf="Satterthwaite")`` or ``ddf="Kenward-Roger"`` (linear mixed models) gives
    lmerTest's summary instead: the coefficient table gains ``df`` and ``Pr(>|t|)`` columns
    and the title says which method made them (R: ``lmerTest::summary(fit, ddf = …)``);
    ``ddf="lme4"`` or None is lme4's own.

    Attributes
    ----------
    coefficients : DataFrame
        ``Estimate``, ``Std. Error``, ``t value`` (R's ``$coefficients``); with ``ddf``:
        ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``.
    varcor : VarCorr
    residuals : Series
        Scaled Pearson residuals (R's ``$residuals``).
    """

    def __init__(self, fit: MixedModel, correlation: Optional[bool] = None,
                 ddf: Optional[str] = None) -> None:
        from ..inference.ddf import SUMMARY_DDF
        ddf = SUMMARY_DDF("ddf", ddf, "summary")
        self.fit = fit
        self.ddf = None if ddf == "lme4" else ddf
        self.coefficients = coefficient_table(fit)
        self.varcor = fit.VarCorr()
        try:
            self.residuals = fit.residuals(type="pearson", scaled=True)
        except DataNotHereError:     # a fit on a Dask DataFrame: the data are on the cluster
            self.residuals = None
        self.sigma = fit.sigma()
        self.ngrps = fit.ngrps()
        self.correlation = correlation
        self._input = summary_input(fit)
        if correlation is not None:
            self._input.correlation = correlation
        if self.ddf is not None:
            self._lmertest()

    def _lmertest(self):
        """lmerTest's coefficient table and title (R: ``summary.lmerModLmerTest``)."""
        from ..inference.ddf import coef_table_ddf
        method = self.ddf
        tab = coef_table_ddf(self.fit, method)
        self.coefficients = tab
        s = self._input
        what = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
        from ..display.mermod import method_title
        s.title = method_title(s.kind, s.REML, s.nAGQ) + f". t-tests use {what} method"
        s.class_name = "lmerModLmerTest"
        s.std_error = tab["Std. Error"].to_numpy()
        s.extra_columns = [("df", tab["df"].to_numpy())]
        s.p_values = tab["Pr(>|t|)"].to_numpy()
        s.p_value_name = "Pr(>|t|)"

    def __str__(self) -> str:
        return format_summary(self._input)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(self.__str__())
