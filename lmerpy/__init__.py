"""lmerpy: lme4 for Python.

Linear and generalized linear mixed-effects models with R's formula language, lme4's numbers
and lme4's printed summaries, on a sparse-Cholesky penalized least squares core.

>>> import lmerpy
>>> fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
"""
import importlib

from ._config import __version__, show_config  # noqa: E402
from .errors import (  # noqa: E402
    ArgumentError, ConvergenceWarning, DataError, DesignError, FitError, FormulaError, FormulaSyntaxError,
    LmerpyError, LmerpyMessage, UnknownColumnError,
)
from . import warnings  # noqa: E402  (lmerpy.warnings: the warning categories)
from .warnings import LmerpyWarning  # noqa: E402
from . import datasets  # noqa: E402

# Public names and the module that defines each; imported on first use so that
# ``import lmerpy`` stays light.
_LAZY = {
    "parse_formula": "lmerpy.formula",
    "lFormula": "lmerpy.design",
    "build_design": "lmerpy.design",
    "lmer": "lmerpy.models",
    "mkLmerDevfun": "lmerpy.models",
    "optimizeLmer": "lmerpy.models",
    "mkMerMod": "lmerpy.models",
    "LinearMixedModel": "lmerpy.models",
    "glmer": "lmerpy.models.glmm",
    "glFormula": "lmerpy.models.glmm",
    "mkGlmerDevfun": "lmerpy.models.glmm",
    "updateGlmerDevfun": "lmerpy.models.glmm",
    "optimizeGlmer": "lmerpy.models.glmm",
    "mkGlmerMod": "lmerpy.models.glmm",
    "GeneralizedLinearMixedModel": "lmerpy.models.glmm",
    "glmer_nb": "lmerpy.models.glmer_nb",
    "binomial": "lmerpy.families",
    "poisson": "lmerpy.families",
    "Gamma": "lmerpy.families",
    "inverse_gaussian": "lmerpy.families",
    "gaussian": "lmerpy.families",
    "negative_binomial": "lmerpy.families",
    "lmerControl": "lmerpy.optimize",
    "glmerControl": "lmerpy.optimize",
    "OptSummary": "lmerpy.optimize",
    "NA": "lmerpy.inference",
    "predict": "lmerpy.inference",
    "simulate": "lmerpy.inference",
    "anova": "lmerpy.inference",
    "drop1": "lmerpy.inference",
    "confint": "lmerpy.inference",
    "profile": "lmerpy.inference",
    "bootMer": "lmerpy.inference",
    "PBmodcomp": "lmerpy.inference",
    # nlme's models (lmerpy.nlme)
    "nlme": "lmerpy",
    "gls": "lmerpy.nlme",
    "glsControl": "lmerpy.nlme",
    "lme": "lmerpy.nlme",
    "lmeControl": "lmerpy.nlme",
    "pdSymm": "lmerpy.nlme",
    "pdDiag": "lmerpy.nlme",
    "pdIdent": "lmerpy.nlme",
    "pdCompSymm": "lmerpy.nlme",
    "intervals": "lmerpy.nlme",
    "varFixed": "lmerpy.nlme",
    "varIdent": "lmerpy.nlme",
    "varPower": "lmerpy.nlme",
    "varExp": "lmerpy.nlme",
    "varConstPower": "lmerpy.nlme",
    "varComb": "lmerpy.nlme",
    "corCompSymm": "lmerpy.nlme",
    "corAR1": "lmerpy.nlme",
    "corARMA": "lmerpy.nlme",
    "corCAR1": "lmerpy.nlme",
    "corSymm": "lmerpy.nlme",
    "glmmPQL": "lmerpy.nlme",
    "r2_nakagawa": "lmerpy.toolkit",
    "icc": "lmerpy.toolkit",
    "tidy": "lmerpy.toolkit",
    "glance": "lmerpy.toolkit",
    "augment": "lmerpy.toolkit",
    "compare": "lmerpy.toolkit",
    "hatvalues": "lmerpy.toolkit",
    "cooks_distance": "lmerpy.toolkit",
    "influence": "lmerpy.toolkit",
    "dfbeta": "lmerpy.toolkit",
    "dfbetas": "lmerpy.toolkit",
    "rstudent": "lmerpy.toolkit",
    "allFit": "lmerpy.toolkit",
    "emmeans": "lmerpy.toolkit",
    "pairs": "lmerpy.toolkit",
    "contrast": "lmerpy.toolkit",
    "rePCA": "lmerpy.toolkit",
    "lmList": "lmerpy.toolkit",
    "set_num_threads": "lmerpy.threads",
    "get_num_threads": "lmerpy.threads",
}
_FUNCTIONS = ["fixef", "ranef", "coef", "VarCorr", "sigma", "logLik", "AIC", "BIC", "deviance",
              "REMLcrit", "nobs", "ngrps", "vcov", "fitted", "residuals", "resid", "df_residual",
              "isSingular", "model_matrix", "getME", "update", "refit", "refitML", "summary"]
_LAZY.update({name: "lmerpy.functions" for name in _FUNCTIONS})


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmerpy' has no attribute {name!r}")
    if module == "lmerpy":                      # a sub-package (lmerpy.nlme)
        value = importlib.import_module(f"lmerpy.{name}")
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", "show_config", "datasets", "LmerpyError", "ArgumentError", "FormulaSyntaxError",
           "FormulaError", "UnknownColumnError", "DataError", "DesignError", "FitError",
           "LmerpyWarning", "ConvergenceWarning", "LmerpyMessage", *_LAZY]
