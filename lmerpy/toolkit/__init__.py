"""The analysis toolkit around a fitted model (issue 16): what an analyst's script does after
``summary()`` — R² and ICC (performance), tidy tables (broom.mixed), model comparison.

Every function here only reads fitted models (their methods and ``getME``); those that refit
(the null model of a Poisson R²) do so through ``fit.update``.
"""
from .r2 import ICC, R2, icc, r2_nakagawa
from .variance import VarianceComponents, get_variance, null_model

__all__ = ["r2_nakagawa", "icc", "R2", "ICC", "get_variance", "VarianceComponents", "null_model"]
