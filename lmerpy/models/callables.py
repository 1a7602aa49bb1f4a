"""Values that are also R's methods: ``fit.nobs`` and ``fit.resid``.

statsmodels' result objects have ``nobs`` and ``resid`` as attributes (``res.nobs == 180``,
``res.resid.mean()``); R has ``nobs(fit)`` and ``resid(fit, type = "pearson")`` as functions,
which lmerpy's fits carry as methods. These two types serve both: an ``int`` and a pandas
``Series`` that can also be called as R's method.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

__all__ = ["Count", "ResidualSeries"]


class Count(int):
    """An ``int`` that returns itself when called: ``fit.nobs == 180`` and ``fit.nobs() == 180``."""

    def __call__(self) -> int:
        return int(self)


class ResidualSeries(pd.Series):
    """The default residuals (R's ``resid(fit)``) as a Series; calling it computes any type:
    ``fit.resid(type="pearson", scaled=True)``. Arithmetic on it gives a plain Series."""

    _metadata = ["_residuals"]

    @classmethod
    def of(cls, residuals: Callable[..., pd.Series]) -> "ResidualSeries":
        out = cls(residuals())
        out._residuals = residuals
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> pd.Series:
        return self._residuals(*args, **kwargs)
