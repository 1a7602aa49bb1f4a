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
isSingular.__doc__ += """

True when some θ with a lower bound of 0 (a relative standard deviation) is below ``tol``:
a variance estimated as zero, or correlations at ±1 (a random-effects covariance matrix of
less than full rank). The fit then warns ``boundary (singular) fit``
(:class:`lmerpy.warnings.SingularFitWarning`). It is a valid maximum of the likelihood, but
the random effects are more complex than the data support: look at ``fit.VarCorr()`` for
zero variances and ±1 correlations and consider a simpler random-effects structure; what to
check and what to do is in the documentation's "Errors and warnings" page (docs/errors.md,
"Singular fits")."""
model_matrix = _method("model_matrix", "model.matrix(fit, type)")
getME = _method("getME", "getME(fit, name)")
update = _method("update", "update(fit, ...)")
refit = _method("refit", "refit(fit, newresp)")
refitML = _method("refitML", "refitML(fit)")
summary = _method("summary", "summary(fit)")
