"""Fitted-model classes and the modular fitting steps (lme4's ``merMod`` and friends)."""
from .base import LogLik, MixedModel
from .lmm import LinearMixedModel, lmer, mkLmerDevfun, mkMerMod, optimizeLmer
from .ranef import RanEf
from .varcorr import VarCorr

__all__ = ["LogLik", "MixedModel", "LinearMixedModel", "lmer", "mkLmerDevfun", "mkMerMod",
           "optimizeLmer", "RanEf", "VarCorr"]
