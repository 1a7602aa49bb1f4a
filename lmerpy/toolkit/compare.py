"""Information criteria of several models side by side (R: ``AIC(m1, m2, ...)`` and
``BIC(m1, m2, ...)``, stats' data frames with columns ``df`` and ``AIC``/``BIC``), and a
comparison table with R² (``compare``; performance's ``compare_performance`` in spirit).

Rows are named by the keyword each model was passed under (``AIC(m0=fit0, m1=fit1)``), else
``model1``, ``model2``, … (R names them by the expressions in the call, which Python does not
see).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

import pandas as pd

from ..errors import ArgumentError
from ..warnings import InferenceWarning, warn
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

def named_models(caller: str, fits: Tuple[Any, ...], named: Dict[str, Any]
                 ) -> List[Tuple[str, MixedModel]]:
    out = [(f"model{i + 1}", f) for i, f in enumerate(fits)] + list(named.items())
    if not out:
        raise ArgumentError(f"{caller}: no model given")
    for name, f in out:
        if not (hasattr(f, "logLik") and hasattr(f, "fixef")):
            raise ArgumentError(f"{caller}: {name} is not a fitted model (got "
                                f"{type(f).__name__})")
    return out


def _check_nobs(caller: str, models) -> None:
    if len({m.nobs() for _, m in models}) > 1:
        warn(f"{caller}: models are not all fitted to the same number of observations",
             InferenceWarning)


@fit_threads
def information_table(criterion: str, *fits: MixedModel, **named: MixedModel) -> pd.DataFrame:
    """R: ``AIC(m1, m2, ...)`` / ``BIC(m1, m2, ...)``: a DataFrame with ``df`` and the
    criterion, one row per model (REML fits use the REML log-likelihood, as lme4)."""
    models = named_models(criterion, fits, named)
    _check_nobs(criterion, models)
    rows = []
    for _, m in models:
        ll = m.logLik()
        pen = 2.0 if criterion == "AIC" else math.log(ll.nobs)
        rows.append({"df": int(ll.df), criterion: -2.0 * float(ll) + pen * ll.df})
    return pd.DataFrame(rows, index=[n for n, _ in models])


@fit_threads
def compare(*fits: MixedModel, **named: MixedModel) -> pd.DataFrame:
    """Several fits side by side: ``nobs``, ``df``, ``logLik``, ``AIC``, ``BIC``,
    ``R2_marginal``, ``R2_conditional`` (Nakagawa's, :func:`lmerpy.r2_nakagawa`; NaN where it
    is not available — a singular fit or an unsupported family — with the reason as a
    warning). Criteria are as each fit reports them (REML fits: the REML log-likelihood);
    compare REML fits only when their fixed effects are the same."""
    from .r2 import r2_nakagawa
    models = named_models("compare", fits, named)
    _check_nobs("compare", models)
    rows = []
    for name, m in models:
        ll = m.logLik()
        try:
            r2 = r2_nakagawa(m)
            marg, cond = r2.marginal, r2.conditional
        except ArgumentError as e:
            warn(f"compare: no R2 for {name}: {e}", InferenceWarning)
            marg = cond = math.nan
        rows.append({"nobs": m.nobs(), "df": int(ll.df), "logLik": float(ll), "AIC": m.AIC(),
                     "BIC": m.BIC(), "R2_marginal": marg, "R2_conditional": cond})
    return pd.DataFrame(rows, index=[n for n, _ in models])
