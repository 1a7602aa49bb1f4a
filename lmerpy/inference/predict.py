"""Predictions from a fitted mixed model (lme4's ``predict.merMod``).

The fixed part is rebuilt on new data from what the design stored (factor levels,
contrasts, ``poly`` coefficients, ``scale`` centres) by
:func:`lmerpy.design.model_matrices_for`; the random part looks the conditional modes up by
grouping level, with lme4's rules for ``re.form`` and new levels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, PREDICT_TYPE
from ..models.naresid import naresid
from .reform import NA, check_levels, newdata_terms, parse_re_form, random_part, select_terms

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import DataLike, ReForm

__all__ = ["predict", "NA", "is_glmm", "linear_predictor"]


def is_glmm(fit) -> bool:
    """True for a generalized linear mixed model (a fit with a family)."""
    return getattr(fit, "family", None) is not None


def linear_predictor(fit, newdata=None, re_form=None, allow_new_levels=False):
    """η = Xβ + offset + (selected) Zb on the fit's rows or on ``newdata``.

    Returns ``(eta, index)``. See :func:`predict` for the arguments.
    """
    design = fit.design
    beta = fit.fixef().to_numpy(dtype=float)
    if newdata is None:
        index = design.fr.index
        eta = np.asarray(design.offset, dtype=float).reshape(-1).copy()
        if design.p:
            eta = eta + np.asarray(design.X, dtype=float) @ beta
        sel = select_terms(fit, re_form)
        if sel:
            if len(sel) == len(design.reterms) and all(
                    c.size == t.n_columns for (i, c), t in zip(sorted(sel.items()),
                                                               design.reterms)):
                b = np.asarray(fit.getME("b"), dtype=float)
                eta = eta + np.asarray(design.Zt.T @ b).reshape(-1)
            else:
                codes = {i: (design.reterms[i].codes, design.reterms[i].X) for i in sel}
                eta = eta + random_part(fit, sel, codes)
        return eta, index
    from ..design import model_matrices_for
    from ..design.dataframe import as_data_frame
    newdata = as_data_frame(newdata, "newdata")
    index = newdata.index
    nd = model_matrices_for(design, newdata, fixed=True, random=False)
    eta = np.asarray(nd.offset, dtype=float).reshape(-1)
    if design.p:
        eta = eta + nd.X @ beta
    sel = select_terms(fit, re_form, newdata)
    if sel:
        codes, unknown = newdata_terms(fit, newdata, list(sel))
        check_levels(fit, sel, codes, unknown, allow_new_levels, newdata)
        eta = eta + random_part(fit, sel, codes)
    return eta, index


def predict(fit: MixedModel, newdata: DataLike = None, re_form: ReForm = None,
            allow_new_levels: bool = False, type: Literal["link", "response"] = "link"
            ) -> pd.Series:
    """Predictions from a fitted model (R: ``predict(fit, newdata, re.form, allow.new.levels,
    type)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    newdata : DataFrame-like, optional
        Rows to predict (pandas, polars, pyarrow, a dict of columns...); needs the fixed-effects variables and the grouping variables (and
        left-side variables) of the random terms used, not the response. Never modified.
        Default: the rows of the fit.
    re_form : None, lmerpy.NA or str
        ``None``: condition on every random effect (R's ``re.form = NULL``); ``lmerpy.NA``
        (also ``"NA"``, ``False``, ``"~0"``): none, population-level predictions; a formula
        with some of the model's bars, e.g. ``"~(1|Subject)"``: those only. A bar selects
        columns by name within its grouping factor, as lme4 (``~(1|Subject)`` on a
        ``(Days|Subject)`` fit uses the intercepts only).
    allow_new_levels : bool
        Grouping levels (or missing grouping values) absent from the fit get random effects 0;
        otherwise they are an error (lme4: ``new levels detected in newdata: …``).
    type : {"link", "response"}
        For GLMMs, the linear predictor or the mean (the inverse link applied); the same
        for LMMs.

    Returns
    -------
    pandas.Series
        Indexed as ``newdata`` (or as the model frame). Rows with a missing fixed-effects
        variable give NaN (R's ``na.pass``). Without ``newdata`` a fit with
        ``na_action="exclude"`` gives one value per row of its data, NaN where a row was
        dropped (R's ``napredict``).

    Notes
    -----
    Offsets: on the fit's rows every offset counts (``offset()`` terms and the ``offset=``
    argument). On ``newdata`` only the formula's ``offset()`` terms are evaluated, as in
    lme4; an ``offset=`` argument of the fit is not carried over.

    Raises
    ------
    LmerpyError
        A missing column (named), a new level without ``allow_new_levels``, a bar in
        ``re_form`` that the model does not have, an unknown ``type``.
    """
    type = PREDICT_TYPE("type", type, "predict")
    allow_new_levels = LOGICAL("allow_new_levels", allow_new_levels, "predict")
    parse_re_form(re_form, "predict")
    eta, index = linear_predictor(fit, newdata, re_form, allow_new_levels)
    if type == "response" and is_glmm(fit):
        eta = np.asarray(fit.family.linkinv(eta), dtype=float)  # type: ignore[attr-defined]
    if newdata is None:       # the fit's rows: padded to the data's for na_action="exclude"
        return naresid(fit.design, eta)
    return pd.Series(eta, index=index)
