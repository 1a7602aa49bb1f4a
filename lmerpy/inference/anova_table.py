"""The table lme4's ``anova`` and lmerTest's type I-III tests return: a DataFrame that prints as
R's ``print.anova``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, Integer
from ..display.rprint import format_anova

__all__ = ["AnovaTable", "anova_table"]

_DIGITS = Integer(lower=1, upper=22)
_WIDTH = Integer(lower=10, upper=10000)


class AnovaTable(pd.DataFrame):
    """A DataFrame with R's ``heading`` whose ``str()`` prints as R's ``print.anova``.

    Attributes
    ----------
    heading : list of str
        R's ``attr(x, "heading")`` (``"Data: df"``, ``"Models:"``, one line per model, or
        ``"Analysis of Variance Table"``).
    """

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_text(self, digits: int = 5, signif_stars: bool = True, width: int = 80) -> str:
        """R's ``print(x)`` as text (``digits = max(getOption("digits") - 2, 3)``)."""
        digits = _DIGITS("digits", digits, "to_text")
        signif_stars = LOGICAL("signif_stars", signif_stars, "to_text")
        width = _WIDTH("width", width, "to_text")
        if self.shape[0] == 0:   # R: the column names after the heading (an intercept-only fit)
            head = "".join(h + "\n" for h in (getattr(self, "heading", None) or []))
            return head + "     " + " ".join(str(c) for c in self.columns)
        table = [[None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
                  for v in row] for row in self.to_numpy(dtype=float)]
        return format_anova(table, [str(i) for i in self.index], [str(c) for c in self.columns],
                            heading=list(getattr(self, "heading", None) or []), digits=digits,
                            signif_stars=signif_stars, width=width)

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return self.to_text()

    def _repr_html_(self):
        from ..display.html import pre_html
        return pre_html(self.__str__())


def anova_table(values, index, columns, heading) -> AnovaTable:
    """An :class:`AnovaTable` of ``values`` (rows ``index``, ``columns``) with R's heading."""
    out = AnovaTable(np.asarray(values, dtype=float), index=list(index), columns=list(columns))
    out.heading = list(heading)
    return out
