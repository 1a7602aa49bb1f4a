"""lme4's generic functions as module-level functions, so R code ports line by line.

``fixef(fit)`` is ``fit.fixef()``, ``VarCorr(fit)`` is ``fit.VarCorr()``, and so on; each
forwards its arguments (R's dotted argument names become underscores) to the method of the
same name, whose documentation applies.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Union

if TYPE_CHECKING:
    import pandas as pd

    from .models.base import LogLik
    from .models.lmm import LinearMixedModel
    from .models.ranef import RanEf
    from .models.summary import ModelSummary
    from .models.varcorr import VarCorr as VarCorrTable
    from .types import FittedModel

__all__ = ["fixef", "ranef", "coef", "VarCorr", "sigma", "logLik", "AIC", "BIC", "deviance",
           "REMLcrit", "nobs", "ngrps", "vcov", "fitted", "residuals", "resid", "df_residual",
           "isSingular", "model_matrix", "getME", "update", "refit", "refitML", "summary"]


def fixef(fit: FittedModel) -> pd.Series:
    """R: ``fixef(fit)``. Same as ``fit.fixef()``."""
    return fit.fixef()


def ranef(fit: FittedModel, *args: Any, **kwargs: Any) -> RanEf:
    """R: ``ranef(fit, condVar = TRUE)``. Same as ``fit.ranef(...)``."""
    return fit.ranef(*args, **kwargs)


def coef(fit: FittedModel) -> Dict[str, pd.DataFrame]:
    """R: ``coef(fit)``. Same as ``fit.coef()``."""
    return fit.coef()


def VarCorr(fit: FittedModel) -> VarCorrTable:
    """R: ``VarCorr(fit)``. Same as ``fit.VarCorr()``."""
    return fit.VarCorr()


def sigma(fit: FittedModel) -> float:
    """R: ``sigma(fit)``. Same as ``fit.sigma()``."""
    return fit.sigma()


def logLik(fit: FittedModel, *args: Any, **kwargs: Any) -> LogLik:
    """R: ``logLik(fit)``. Same as ``fit.logLik(...)``."""
    return fit.logLik(*args, **kwargs)


def AIC(*fits: FittedModel, **named: FittedModel) -> Union[float, pd.DataFrame]:
    """R: ``AIC(fit)``: same as ``fit.AIC()``. With several models, ``AIC(m1, m2, ...)`` or
    ``AIC(m1=fit1, m2=fit2)``, R's data frame: columns ``df`` and ``AIC``, one row per model
    (see :func:`lmerpy.toolkit.information_table`)."""
    if len(fits) == 1 and not named:
        return fits[0].AIC()
    from .toolkit import information_table
    return information_table("AIC", *fits, **named)


def BIC(*fits: FittedModel, **named: FittedModel) -> Union[float, pd.DataFrame]:
    """R: ``BIC(fit)``: same as ``fit.BIC()``; with several models R's data frame (``df``,
    ``BIC``), as :func:`AIC`."""
    if len(fits) == 1 and not named:
        return fits[0].BIC()
    from .toolkit import information_table
    return information_table("BIC", *fits, **named)


def deviance(fit: FittedModel, *args: Any, **kwargs: Any) -> float:
    """R: ``deviance(fit, REML = NULL)``. Same as ``fit.deviance(...)``."""
    return fit.deviance(*args, **kwargs)


def REMLcrit(fit: LinearMixedModel) -> float:
    """R: ``REMLcrit(fit)``. Same as ``fit.REMLcrit()``."""
    return fit.REMLcrit()


def nobs(fit: FittedModel) -> int:
    """R: ``nobs(fit)``. Same as ``fit.nobs()``."""
    return fit.nobs()


def ngrps(fit: FittedModel) -> pd.Series:
    """R: ``ngrps(fit)``. Same as ``fit.ngrps()``."""
    return fit.ngrps()


def vcov(fit: FittedModel, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """R: ``vcov(fit)``. Same as ``fit.vcov(...)``."""
    return fit.vcov(*args, **kwargs)


def fitted(fit: FittedModel) -> pd.Series:
    """R: ``fitted(fit)``. Same as ``fit.fitted()``."""
    return fit.fitted()


def residuals(fit: FittedModel, *args: Any, **kwargs: Any) -> pd.Series:
    """R: ``residuals(fit, type, scaled)``. Same as ``fit.residuals(...)``."""
    return fit.residuals(*args, **kwargs)


resid = residuals


def df_residual(fit: FittedModel) -> int:
    """R: ``df.residual(fit)``. Same as ``fit.df_residual()``."""
    return fit.df_residual()


def isSingular(fit: FittedModel, *args: Any, **kwargs: Any) -> bool:
    """R: ``isSingular(fit, tol = 1e-4)``. Same as ``fit.isSingular(...)``.

    True when some θ with a lower bound of 0 (a relative standard deviation) is below ``tol``:
    a variance estimated as zero, or correlations at ±1 (a random-effects covariance matrix of
    less than full rank). The fit then warns ``boundary (singular) fit``
    (:class:`lmerpy.warnings.SingularFitWarning`). It is a valid maximum of the likelihood, but
    the random effects are more complex than the data support: look at ``fit.VarCorr()`` for
    zero variances and ±1 correlations and consider a simpler random-effects structure; what to
    check and what to do is in the documentation's "Errors and warnings" page (docs/errors.md,
    "Singular fits").
    """
    return fit.isSingular(*args, **kwargs)


def model_matrix(fit: FittedModel, *args: Any, **kwargs: Any) -> Any:
    """R: ``model.matrix(fit, type)``. Same as ``fit.model_matrix(...)``."""
    return fit.model_matrix(*args, **kwargs)


def getME(fit: FittedModel, *args: Any, **kwargs: Any) -> Any:
    """R: ``getME(fit, name)``. Same as ``fit.getME(...)``."""
    return fit.getME(*args, **kwargs)


def update(fit: FittedModel, *args: Any, **kwargs: Any) -> FittedModel:
    """R: ``update(fit, ...)``. Same as ``fit.update(...)``."""
    return fit.update(*args, **kwargs)


def refit(fit: FittedModel, *args: Any, **kwargs: Any) -> FittedModel:
    """R: ``refit(fit, newresp)``. Same as ``fit.refit(...)``."""
    return fit.refit(*args, **kwargs)


def refitML(fit: LinearMixedModel) -> LinearMixedModel:
    """R: ``refitML(fit)``. Same as ``fit.refitML()``."""
    return fit.refitML()


def summary(fit: FittedModel, *args: Any, **kwargs: Any) -> ModelSummary:
    """R: ``summary(fit)``. Same as ``fit.summary(...)``."""
    return fit.summary(*args, **kwargs)
