"""The analysis toolkit around a fitted model (issue 16): what an analyst's script does after
``summary()`` — R² and ICC (performance), tidy tables (broom.mixed), model comparison,
estimated marginal means (emmeans),
leverage, Cook's distance and case- or group-deletion diagnostics (influence), refits with
every optimizer (allFit).

Every function here only reads fitted models (their methods and ``getME``); those that refit
(the null model of a Poisson R²) do so through ``fit.update``.
"""
from .allfit import ALLFIT_OPTIMIZERS, AllFit, AllFitSummary, allFit
from .compare import compare, information_table
from .emmeans import EMMeans, contrast, emmeans, pairs
from .influence import (Influence, cooks_distance, dfbeta, dfbetas, hatvalues, influence,
                        rstudent)
from .r2 import ICC, R2, icc, r2_nakagawa
from .lmlist import LmList, lmList
from .repca import RePCA, rePCA
from .tidy import augment, glance, tidy
from .variance import VarianceComponents, get_variance, null_model

__all__ = ["r2_nakagawa", "icc", "R2", "ICC", "get_variance", "VarianceComponents", "null_model",
           "tidy", "glance", "augment", "compare", "information_table", "hatvalues",
           "cooks_distance", "influence", "Influence", "dfbeta", "dfbetas", "rstudent",
           "emmeans", "pairs", "contrast", "EMMeans", "allFit", "AllFit", "AllFitSummary",
           "ALLFIT_OPTIMIZERS", "rePCA", "RePCA", "lmList", "LmList"]
