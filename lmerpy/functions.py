"""lme4's generic functions as module-level functions, so R code ports line by line.

``fixef(fit)`` is ``fit.fixef()``, ``VarCorr(fit)`` is ``fit.VarCorr()``, and so on; each
forwards its keyword arguments (R's dotted argument names become underscores).
"""
from __future__ import annotations

__all__ = ["fixef", "ranef", "coef", "VarCorr", "sigma", "logLik", "AIC", "BIC", "deviance",
           "REMLcrit", "nobs", "ngrps", "vcov", "fitted", "residuals", "resid", "df_residual",
           "isSingular", "model_matrix", "getME", "update", "refit", "refitML", "summary"]


def _method(name, doc):
    def f(fit, *args, **kwargs):
        return getattr(fit, name)(*args, **kwargs)
    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = f"R: ``{doc}``. Same as ``fit.{name}(...)``."
    return f


fixef = _method("fixef", "fixef(fit)")
ranef = _method("ranef", "ranef(fit, condVar = TRUE)")
coef = _method("coef", "coef(fit)")
VarCorr = _method("VarCorr", "VarCorr(fit)")
sigma = _method("sigma", "sigma(fit)")
logLik = _method("logLik", "logLik(fit)")
AIC = _method("AIC", "AIC(fit)")
BIC = _method("BIC", "BIC(fit)")
deviance = _method("deviance", "deviance(fit, REML = NULL)")
REMLcrit = _method("REMLcrit", "REMLcrit(fit)")
nobs = _method("nobs", "nobs(fit)")
ngrps = _method("ngrps", "ngrps(fit)")
vcov = _method("vcov", "vcov(fit)")
fitted = _method("fitted", "fitted(fit)")
residuals = _method("residuals", "residuals(fit, type, scaled)")
resid = residuals
df_residual = _method("df_residual", "df.residual(fit)")
isSingular = _method("isSingular", "isSingular(fit, tol = 1e-4)")
model_matrix = _method("model_matrix", "model.matrix(fit, type)")
getME = _method("getME", "getME(fit, name)")
update = _method("update", "update(fit, ...)")
refit = _method("refit", "refit(fit, newresp)")
refitML = _method("refitML", "refitML(fit)")
summary = _method("summary", "summary(fit)")
