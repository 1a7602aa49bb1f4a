"""The analysis toolkit around a fitted model (issue 16): what an analyst's script does after
``summary()`` — R² and ICC (performance), tidy tables (broom.mixed), model comparison,
estimated marginal means (emmeans),
leverage and Cook's distance.

Every function here only reads fitted models (their methods and ``getME``); those that refit
(the null model of a Poisson R²) do so through ``fit.update``.
"""
from .compare import compare, information_table
from .emmeans import EMMeans, contrast, emmeans, pairs
from .influence import cooks_distance, hatvalues
from .r2 import ICC, R2, icc, r2_nakagawa
from .lmlist import LmList, lmList
from .repca import RePCA, rePCA
from .tidy import augment, glance, tidy
from .variance import VarianceComponents, get_variance, null_model

__all__ = ["r2_nakagawa", "icc", "R2", "ICC", "get_variance", "VarianceComponents", "null_model",
           "tidy", "glance", "augment", "compare", "information_table", "hatvalues",
           "cooks_distance", "emmeans", "pairs", "contrast", "EMMeans", "rePCA", "RePCA", "lmList", "LmList"]
