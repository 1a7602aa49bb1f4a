"""Nakagawa's R² and the intraclass correlation of a mixed model (R: ``performance::r2_nakagawa``
and ``performance::icc``, performance 0.10).

With the components of :func:`lmerpy.toolkit.variance.get_variance` (σ²_f fixed, σ²_r mean
random, σ²_ε residual = distribution-specific + dispersion):

- marginal R² = σ²_f / (σ²_f + σ²_r + σ²_ε); conditional R² = (σ²_f + σ²_r) / (σ²_f + σ²_r + σ²_ε);
- adjusted ICC = σ²_r / (σ²_r + σ²_ε); unadjusted ICC = σ²_r / (σ²_f + σ²_r + σ²_ε);
- ICC by group: each term's random-intercept variance / (σ²_r + σ²_ε).

A singular fit (at ``tolerance``) has no random-effects variance: the conditional R² and the
ICCs are NaN (R's NA) and the marginal R² is σ²_f / (σ²_f + σ²_ε), with a warning, as in R.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import pandas as pd

from ..arguments import LOGICAL
from ..display.rformat import format_number
from ..warnings import InferenceWarning, warn
from .variance import TOLERANCE, get_variance
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel


def _fixed3(x: float) -> str:
    return "NA" if math.isnan(x) else f"{x:.3f}"


@dataclass(frozen=True)
class R2:
    """Marginal and conditional R² (R: the list ``r2_nakagawa`` returns)."""

    conditional: float
    marginal: float

    def __str__(self) -> str:
        return ("# R2 for Mixed Models\n\n"
                f"  Conditional R2: {_fixed3(self.conditional)}\n"
                f"     Marginal R2: {_fixed3(self.marginal)}")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return ("<table><caption>R2 for Mixed Models</caption>"
                f"<tr><th>Conditional R2</th><td>{format_number(self.conditional, digits=7)}</td></tr>"
                f"<tr><th>Marginal R2</th><td>{format_number(self.marginal, digits=7)}</td></tr>"
                "</table>")


@dataclass(frozen=True)
class ICC:
    """Adjusted and unadjusted intraclass correlation (R: the list ``icc`` returns)."""

    adjusted: float
    unadjusted: float

    def __str__(self) -> str:
        return ("# Intraclass Correlation Coefficient\n\n"
                f"    Adjusted ICC: {_fixed3(self.adjusted)}\n"
                f"  Unadjusted ICC: {_fixed3(self.unadjusted)}")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return ("<table><caption>Intraclass Correlation Coefficient</caption>"
                f"<tr><th>Adjusted ICC</th><td>{format_number(self.adjusted, digits=7)}</td></tr>"
                f"<tr><th>Unadjusted ICC</th><td>{format_number(self.unadjusted, digits=7)}</td>"
                "</tr></table>")


@fit_threads
def r2_nakagawa(fit: MixedModel, tolerance: float = 1e-5) -> R2:
    """R: ``performance::r2_nakagawa(fit, tolerance = 1e-5)``: marginal and conditional R² of
    a linear or generalized (binomial logit/probit/cloglog, Poisson log) mixed model."""
    tolerance = TOLERANCE("tolerance", tolerance, "r2_nakagawa")
    v = get_variance(fit, tolerance=tolerance)
    vf, vres = v.var_fixed, v.var_residual
    if v.var_random is None:
        warn("Random effect variances not available. Returned R2 does not account for random "
             "effects.", InferenceWarning)
        return R2(conditional=math.nan, marginal=vf / (vf + vres))
    vr = v.var_random
    total = vf + vr + vres
    return R2(conditional=(vf + vr) / total, marginal=vf / total)


@fit_threads
def icc(fit: MixedModel, by_group: bool = False, tolerance: float = 1e-5
        ) -> Union[ICC, pd.DataFrame]:
    """R: ``performance::icc(fit, by_group = FALSE, tolerance = 1e-5)``.

    The adjusted ICC (random-effects variance over random plus residual) and the unadjusted
    one (over the total, fixed effects included). ``by_group=True`` gives a DataFrame with
    columns ``Group`` and ``ICC``: each grouping factor's random-intercept variance over the
    random plus residual variance (with a warning when the model has random slopes, as R)."""
    by_group = LOGICAL("by_group", by_group, "icc")
    tolerance = TOLERANCE("tolerance", tolerance, "icc")
    v = get_variance(fit, tolerance=tolerance)
    if v.var_random is None:
        if by_group:
            return pd.DataFrame({"Group": pd.Series([], dtype=object),
                                 "ICC": pd.Series([], dtype=float)})
        return ICC(adjusted=math.nan, unadjusted=math.nan)
    vr, vres, vf = v.var_random, v.var_residual, v.var_fixed
    if by_group:
        if len(v.var_slope):
            warn("Model contains random slopes. Cannot compute accurate ICCs by group "
                 "factors.", InferenceWarning)
        return pd.DataFrame({"Group": list(v.var_intercept.index),
                             "ICC": v.var_intercept.to_numpy() / (vr + vres)})
    return ICC(adjusted=vr / (vr + vres), unadjusted=vr / (vf + vr + vres))
