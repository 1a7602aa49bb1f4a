"""What nlme's two fits, ``gls`` and ``lme``, answer alike: the residual structure's parameters
with nlme's names, sigma, nobs, AIC/BIC from ``logLik()``, and ``anova``/``intervals``.

A fit class mixes this in and provides ``structure_split()`` (the correlation's and the
variance function's parameters, unconstrained), ``correlation``/``weights`` (the bound
structures or None), ``estimate`` (with ``sigma``), ``frame`` (with ``n``) and ``logLik()``.
"""
from __future__ import annotations

import math
from typing import Any, List

import pandas as pd

from .base import unlist_names

__all__ = ["NlmeFit"]


class NlmeFit:
    """Methods shared by :class:`~lmerpy.nlme.gls.GlsModel` and :class:`~lmerpy.nlme.lme.LmeModel`."""

    correlation: Any
    weights: Any
    estimate: Any
    frame: Any
    REML: bool

    def _set_fit(self, frame: Any, cor: Any, var: Any, crit: Any, est: Any, REML: Any,
                 num_iter: Any, ctrl: Any, data: Any) -> None:
        """The attributes both fits keep from their estimation (nlme's ``fit$...``)."""
        self.frame = frame
        self.correlation = cor
        self.weights = var
        self.criterion = crit
        self.estimate = est
        self.REML = bool(REML)
        self.numIter = int(num_iter)
        self.control = dict(ctrl)
        self.data = data

    @property
    def method(self) -> str:
        """nlme's ``fit$method``: ``"REML"`` or ``"ML"``."""
        return "REML" if self.REML else "ML"

    def structure_split(self) -> Any:  # pragma: no cover - provided by each fit
        raise NotImplementedError

    def logLik(self, REML: Any = None) -> Any:  # pragma: no cover - provided by each fit
        raise NotImplementedError

    def structure_parameters(self, unconstrained: bool = False) -> pd.Series:
        """The estimated residual-structure parameters with nlme's names (R:
        ``coef(fit$modelStruct, unconstrained = )``), e.g. ``corStruct.Phi``,
        ``varStruct.power``."""
        pc, pv = self.structure_split()
        vals: List[float] = []
        names: List[str] = []
        for key, s, q in (("corStruct", self.correlation, pc), ("varStruct", self.weights, pv)):
            if s is None:
                continue
            if unconstrained:
                v, nm = list(q), s.par_names()
            else:
                v, nm = list(s.natural(q)), s.natural_names()
            vals += v
            names += unlist_names(key, nm)
        return pd.Series(vals, index=names, dtype=float)

    def sigma(self) -> float:
        """The residual standard error (R: ``sigma(fit)``; by ML divided by n)."""
        return float(self.estimate.sigma)

    def nobs(self) -> int:
        return int(self.frame.n)

    def AIC(self) -> float:
        ll = self.logLik()
        return -2 * float(ll) + 2 * ll.df

    def BIC(self) -> float:
        ll = self.logLik()
        return -2 * float(ll) + math.log(ll.nobs) * ll.df

    # ------------------------------------------------------------------ inference
    def anova(self, *others: Any, **kwargs: Any) -> Any:
        """nlme's ``anova``: one model, F tests of the terms with nlme's denominator df
        (``type = "sequential"`` or ``"marginal"``, ``Terms``, ``L``); several (gls or lme),
        likelihood-ratio tests. See :func:`lmerpy.nlme.anova`."""
        from .inference import anova
        return anova(self, *others, **kwargs)

    @staticmethod
    def anova_of(*models: Any, **kwargs: Any) -> Any:
        """:func:`lmerpy.nlme.anova` of the given models (``lmerpy.anova`` forwards gls and lme
        fits here)."""
        from .inference import anova
        return anova(*models, **kwargs)

    def intervals(self, level: float = 0.95, which: str = "all") -> Any:
        """nlme's ``intervals(fit, level, which)``. See :func:`lmerpy.nlme.intervals`."""
        from .inference import intervals
        return intervals(self, level=level, which=which)
