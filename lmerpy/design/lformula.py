"""``build_design`` / ``lFormula``: formula + data -> :class:`~lmerpy.design.structures.Design`.

R equivalent: ``lme4::lFormula`` (and ``glFormula`` with ``glmer=True``): the model frame, the
random-effects structures (``mkReTrms``) with lme4's checks, the fixed-effects model matrix
with rank-deficient columns dropped (``chkRank.drop.cols``) and the scale check.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NA_ACTION
from ..errors import DataError, FormulaError
from ..warnings import RankDeficiencyWarning, ScaleWarning, warn
from .dataframe import as_data_frame
from .values import Factor, Temporal
from .frame import argument_text, build_frame, check_formula
from .model_matrix import check_scale, drop_rank_deficient, model_matrix, rank_message
from .naming import var_name
from .reterms import DEFAULT_CHECKS, GLMER_CHECKS, build_reterms
from .scales import check_extreme_scales
from .structures import Design, lazy

if TYPE_CHECKING:
    from ..types import ContrastsArg, DataLike, FormulaLike, NaAction, VectorArg

__all__ = ["build_design", "lFormula", "as_formula"]


def as_formula(formula):
    """A :class:`~lmerpy.formula.terms.Formula` from a string (parsed) or a Formula."""
    if isinstance(formula, str):
        try:
            from ..formula import parse_formula
        except ImportError as e:  # pragma: no cover - the parser ships with lmerpy
            raise FormulaError(f"cannot parse {formula!r}: the formula parser is not "
                               f"available ({e})") from None
        return parse_formula(formula)
    if not hasattr(formula, "fixed") or not hasattr(formula, "random"):
        raise FormulaError(f"formula must be a string or a parsed Formula, not "
                           f"{type(formula).__name__}")
    return formula


def _contrasts_for(contrasts, frame, formula) -> Dict[str, Any]:
    """Normalise ``contrasts``: a dict (variable name -> spec) is used as given; a single spec
    (e.g. ``"contr.sum"``) applies to every unordered factor of the fixed part."""
    if contrasts is None:
        return {}
    if isinstance(contrasts, dict):
        return dict(contrasts)
    out = {}
    for t in formula.fixed.terms:
        for v in t.factors:
            val = frame.values.get(v)
            if isinstance(val, Factor) and not val.ordered and not val.logical:
                out[var_name(v)] = contrasts
    return out


def build_design(formula: FormulaLike, data: DataLike, REML: bool = True,
                 weights: VectorArg = None, offset: VectorArg = None,
                 contrasts: ContrastsArg = None, na_action: NaAction = "omit", *,
                 glmer: bool = False, control: Optional[Dict[str, str]] = None) -> Design:
    """Build everything a mixed-model fit needs from a formula and a DataFrame.

    R equivalent: ``lme4::lFormula(formula, data, REML, weights = , offset = , contrasts = ,
    na.action = )`` (``glFormula`` when ``glmer=True``).

    Parameters
    ----------
    formula : str or lmerpy.formula.terms.Formula
        ``"Reaction ~ Days + (Days | Subject)"``.
    data : DataFrame-like
        A pandas, polars or pyarrow table, anything with ``__arrow_c_stream__`` or
        ``__dataframe__``, or a dict of equal-length columns (see
        :func:`lmerpy.design.dataframe.as_data_frame`). Never modified. Strings, booleans and
        Categoricals are factors (a Categorical's order gives the levels; otherwise strings are
        sorted as R sorts them); ordered Categoricals get polynomial contrasts; dates and
        date-times are grouping factors only (levels in time order).
    REML : bool
        Stored on the Design (the criterion the fit will optimise).
    weights : None, str, expression node or array-like
        Prior weights (non-negative); a string names a column.
    offset : None, str, expression node or array-like
        Added to any ``offset()`` terms of the formula.
    contrasts : dict or str, optional
        ``{"treat": "contr.sum"}`` (R names or short names ``"sum"``, ``"helmert"``,
        ``"poly"``, ``"SAS"``, ``"treatment"``, or a matrix with one row per level). As in
        lme4 they apply to the fixed-effects matrix only. A single name applies to every
        unordered factor of the fixed part.
    na_action : {"omit", "exclude", "fail"}
    glmer : bool, keyword-only
        glFormula's rules: a factor or ``cbind`` response is allowed and the level/size checks
        compare with ``<=`` (``allow.n``).
    control : dict, keyword-only
        lme4's check levels, e.g. ``{"check.nobs.vs.nlev": "ignore"}``.

    Returns
    -------
    Design
    """
    REML = LOGICAL("REML", REML, "lFormula")
    na_action = NA_ACTION("na_action", na_action, "lFormula")
    glmer = LOGICAL("glmer", glmer, "lFormula")
    data = as_data_frame(data)
    f = as_formula(formula)
    if getattr(f.fixed, "has_dot", False):
        f = f.expand_dot([str(c) for c in data.columns])
    check_formula(f)
    checks = dict(GLMER_CHECKS if glmer else DEFAULT_CHECKS, **(control or {}))
    frame = build_frame(f, data, weights=weights, offset=offset, na_action=na_action,
                        glmer=glmer)
    n = frame.n
    re = build_reterms(f.random, frame.values, n, checks=checks, glmer=glmer)
    messages = list(re.messages)
    X_full, spec = model_matrix(f.fixed, frame.values, _contrasts_for(contrasts, frame, f),
                                response=f.response, n=n)
    resp = frame.response
    if isinstance(resp, Factor):  # glmer hook: binomial factor response, first level = failure
        y = (resp.codes != 0).astype(float)
    else:
        y = np.asarray(resp.values, dtype=float)
    weights_arr = frame.weights if frame.weights is not None else np.ones(n)
    # before the rank check: a column that underflows must not be dropped as a zero column
    check_extreme_scales(X_full, spec.colnames, re.terms, y, var_name(f.response), frame.offset,
                         weights_arr, response_minus_offset=not glmer)
    rank_level = checks.get("check.rankX", "message+drop.cols")
    keep = np.arange(X_full.shape[1], dtype=np.int64)
    if rank_level != "ignore":
        keep = drop_rank_deficient(X_full)
        if keep.size < X_full.shape[1]:
            msg: Any = rank_message(X_full.shape[1] - keep.size)
            if rank_level == "stop.deficient":
                raise DataError(f"the fixed-effects model matrix is column rank deficient "
                                f"(rank(X) = {keep.size} < {X_full.shape[1]} = p); the fixed "
                                f"effects will be jointly unidentifiable")
            if rank_level != "silent.drop.cols":
                warn(msg, RankDeficiencyWarning)
            messages.append(msg)
    spec.keep = keep
    kept = set(keep.tolist())
    spec.dropped = [spec.colnames[i] for i in range(X_full.shape[1]) if i not in kept]
    X = (X_full if keep.size == X_full.shape[1] and X_full.flags.c_contiguous
         else np.ascontiguousarray(X_full[:, keep]))
    scale_level = checks.get("check.scaleX", "warning")
    if scale_level != "ignore":
        msg = check_scale(X)
        if msg is not None:
            if scale_level == "stop":
                raise DataError(msg)
            warn(msg, ScaleWarning)
            messages.append(msg)
    if glmer and checks.get("check.response.not.const", "stop") == "stop" and y.ndim == 1 \
            and y.size and np.all(y == y[0]):
        raise DataError("Response is constant")
    info = {
        "state": frame.state,
        "fixed": spec,
        "response": var_name(f.response),
        "response_levels": list(resp.levels) if isinstance(resp, Factor) else None,
        "offset_terms": list(frame.offset_terms),
        "contrasts": dict(spec.contrasts),
        "X_assign": np.asarray(spec.assign, dtype=np.int64)[keep],
        "variables": {var_name(e): ({"kind": "factor", "levels": list(v.levels),
                                     "ordered": v.ordered, "logical": v.logical}
                                    if isinstance(v, Factor) else
                                    {"kind": "temporal", "dtype": v.dtype}
                                    if isinstance(v, Temporal) else
                                    {"kind": "numeric", "ncol": v.ncol})
                      for e, v in frame.values.items()},
        "weights_text": argument_text(weights, data),
        "offset_text": argument_text(offset, data),
        "checks": checks,
        "glmer": glmer,
    }
    return Design(formula=f, fr=frame.to_frame, y=y, X=X,
                  X_colnames=[spec.colnames[i] for i in keep], offset=frame.offset,
                  weights=np.asarray(weights_arr, dtype=float), reterms=re.terms, Zt=re.Zt,
                  Lambdat=re.Lambdat, Lind=re.Lind, theta=re.theta, lower=re.lower,
                  theta_names=lazy(lambda: re.theta_names), flist=lambda: re.flist, assign=re.assign, REML=REML,
                  n_dropped=int(frame.dropped_rows.size), dropped_rows=frame.dropped_rows,
                  info=info, dropped_columns=list(spec.dropped), messages=messages,
                  na_action=na_action,
                  data_index=(data.index if na_action == "exclude" and frame.dropped_rows.size
                              else None))


def lFormula(formula: FormulaLike, data: DataLike, REML: bool = True, weights: VectorArg = None,
             offset: VectorArg = None, contrasts: ContrastsArg = None,
             na_action: NaAction = "omit", **kwargs: Any) -> Design:
    """lme4's ``lFormula``: the first step of the modular fit (``lFormula -> mkLmerDevfun ->
    optimizeLmer -> mkMerMod``). Returns the :class:`Design` (lme4's names: ``X``, ``Zt``,
    ``Lambdat``, ``theta``, ``lower``, ``Lind``, ``cnms``, ``flist``, ``y``, ``offset``,
    ``weights``, ``fr``). See :func:`build_design` for the arguments."""
    return build_design(formula, data, REML=REML, weights=weights, offset=offset,
                        contrasts=contrasts, na_action=na_action, **kwargs)
