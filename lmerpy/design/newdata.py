"""Rebuild X and the random-effects pieces for new data from what a Design stored.

R equivalent: what ``predict.merMod(newdata = )`` does through ``model.frame`` with the fit's
``predvars`` (``poly`` coefficients, ``scale`` centres) and ``xlev`` (factor levels), then
``model.matrix`` with the fit's contrasts; grouping levels not seen in the fit are reported
(lme4: ``new levels detected in newdata``) so the caller can refuse them or give them b = 0.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
import pandas as pd

from ..errors import DataError
from .dataframe import as_data_frame
from .evaluate import Evaluator
from .values import Factor, relabel, to_factor
from .model_matrix import MatrixSpec, build_columns
from .naming import var_name
from .reterms import interact

__all__ = ["NewDesign", "model_matrices_for"]


@dataclass
class NewDesign:
    """Model matrices for new data.

    Attributes
    ----------
    X : ndarray, shape (m, p)
        Fixed-effects matrix with the fit's columns (rank-dropped ones removed); rows with a
        missing value hold NaN (R's ``na.pass``).
    terms : list of (codes, X_i)
        Per random-effects term, in the Design's order: 0-based level codes into the fit's
        levels (-1 for a new or missing level) and the raw model matrix of the bar's left side.
    unknown_levels : dict
        Group name -> levels seen in ``newdata`` but not in the fit (in order of appearance).
    offset : ndarray, shape (m,)
        The formula's ``offset()`` terms evaluated on ``newdata`` (zeros if none).
    """

    X: np.ndarray
    terms: List[tuple] = field(default_factory=list)
    unknown_levels: Dict[str, List[str]] = field(default_factory=dict)
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _new_labels(f: Factor, fit_levels: List[str]) -> List[str]:
    known = set(fit_levels)
    used = np.unique(f.codes[f.codes >= 0])
    return [f.levels[i] for i in used if f.levels[i] not in known]


def _spec_values(spec: MatrixSpec, ev: Evaluator, what: str):
    vals = {}
    for ts in spec.terms:
        for expr, name, coding in ts.parts:
            if expr in vals:
                continue
            v = ev.variable(expr)
            if coding is not None:
                if not isinstance(v, Factor):
                    v = to_factor(v, name)
                fit_levels = spec.levels[expr]
                new = _new_labels(v, fit_levels)
                if new:
                    raise DataError(f"factor '{name}' has new level{'s' if len(new) > 1 else ''} "
                                    f"{', '.join(new)} in newdata ({what}; levels in the fit: "
                                    f"{', '.join(fit_levels)})")
                v = relabel(v, fit_levels)
            elif isinstance(v, Factor):
                raise DataError(f"variable '{name}' was numeric in the fit but is a factor in "
                                f"newdata")
            vals[expr] = v
    return vals


def model_matrices_for(design, newdata: pd.DataFrame, fixed: bool = True,
                       random: bool = True) -> NewDesign:
    """Rebuild the fixed-effects matrix and each random term's (codes, raw X_i) on ``newdata``.

    Parameters
    ----------
    design : Design
        From :func:`build_design`.
    newdata : DataFrame-like
        Anything :func:`lmerpy.design.dataframe.as_data_frame` takes. Needs the variables of the parts requested (not the response). Never modified.
    fixed, random : bool
        Which parts to build (``re.form = NA`` needs only the fixed part).

    Returns
    -------
    NewDesign
    """
    newdata = as_data_frame(newdata, "newdata")
    m = len(newdata)
    ev = Evaluator(newdata, state=copy.deepcopy(design.info.get("state", {})), fit=False)
    out = NewDesign(X=np.zeros((m, 0)), offset=np.zeros(m))
    if fixed:
        spec: MatrixSpec = design.info["fixed"]
        vals = _spec_values(spec, ev, "fixed effects")
        out.X = build_columns(spec, vals, m)[:, spec.keep]
        for o in design.info.get("offset_terms", []):
            v = ev.variable(o)
            if isinstance(v, Factor):
                raise DataError(f"offset({var_name(o)}) must be numeric")
            out.offset = out.offset + np.asarray(v.values, dtype=float).reshape(m, -1)[:, 0]
    if random:
        for t in design.reterms:
            facs = []
            for g in t.group_exprs:
                v = ev.variable(g)
                facs.append(to_factor(v, var_name(g)))
            f = facs[0]
            for g in facs[1:]:
                f = interact(f, g)
            new = _new_labels(f, t.levels)
            if new:
                prev = out.unknown_levels.setdefault(t.group_name, [])
                prev.extend(x for x in new if x not in prev)
            codes = relabel(f, t.levels).codes
            vals = _spec_values(t.lhs_spec, ev, f"random term ({t.term_label})")
            X_i = build_columns(t.lhs_spec, vals, m)
            out.terms.append((codes, X_i))
    return out

