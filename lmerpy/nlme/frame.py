"""The rows of a ``gls`` fit: model frame, fixed-effects matrix, structure variables, order.

R equivalent: the first half of ``nlme::gls``: ``model.frame`` of the model formula together
with every variable of the residual structures' ``form``s (so that a missing value anywhere
drops the row, or fails under ``na.action = na.fail``, nlme's default), then — when the
correlation structure has groups — the rows sorted by those groups (R's ``order(grps)``:
factor level order; the rows of a group keep their order), and ``model.matrix``.

:class:`GlsRows` is the :class:`~lmerpy.nlme.base.StructureData` the structures bind to:
their covariates, groups and strata on the sorted rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..design.dataframe import as_data_frame
from ..design.evaluate import Evaluator
from ..design.frame import build_frame
from ..design.model_matrix import drop_rank_deficient, model_matrix
from ..design.naming import var_name
from ..design.values import Factor, Temporal, is_missing, take, to_factor
from ..errors import DataError, FitError, FormulaError, UnknownColumnError
from ..formula import parse_formula

__all__ = ["GlsFrame", "GlsRows", "build_gls_frame", "collect_structure_variables",
           "evaluate_variable", "missing_rows", "structure_forms"]


def structure_forms(*structures) -> List[Tuple[Any, str]]:
    """Every ``(form, what)`` of the given structures (varComb's parts included)."""
    out = []
    for s in structures:
        if s is None:
            continue
        for part in getattr(s, "parts", [s]):
            out.append((part.form, part.call_text()))
    return out


@dataclass
class GlsFrame:
    """The model rows of a gls fit, sorted as nlme sorts them.

    Attributes
    ----------
    formula : Formula
    X, y : ndarrays on the sorted rows
    colnames : list of str
    assign : ndarray of int
        R's ``assign`` per column (0 the intercept, j the j-th term).
    term_labels : list of str
        ``"(Intercept)"`` (if any) then the terms' labels (nlme's anova rows).
    order : ndarray of int
        ``order[k]`` is the model row (0-based, the caller's order of the complete rows) at
        sorted position ``k``.
    kept : ndarray of int
        The caller's row positions of the model rows (in the caller's order).
    n_all : int
        Rows in the caller's data.
    row_index : pandas.Index
        The caller's index labels of the model rows.
    values : dict
        Structure variable expression -> value on the sorted rows.
    info : dict
        What ``predict(newdata)`` needs (``fixed`` spec, ``state``, ``offset_terms``).
    """

    formula: Any
    X: np.ndarray
    y: np.ndarray
    colnames: List[str]
    assign: np.ndarray
    term_labels: List[str]
    order: np.ndarray
    kept: np.ndarray
    n_all: int
    row_index: pd.Index
    values: Dict[Any, Any]
    info: Dict[str, Any]
    na_action: str
    data_name: Optional[str] = None
    reterms: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]


def evaluate_variable(ev: Evaluator, expr, what: str):
    """``expr``'s values on the caller's rows; an unknown column or bad expression is an error
    naming ``what`` (the structure or term that uses it)."""
    try:
        return ev.variable(expr)
    except UnknownColumnError as e:
        raise UnknownColumnError(f"{what}: {e}") from None
    except FormulaError as e:
        raise FormulaError(f"{what}: {e}") from None


def collect_structure_variables(ev: Evaluator, correlation, weights, svalues: Dict[Any, Any],
                                names: Dict[Any, str]) -> None:
    """Add the structures' covariates and grouping variables (each expression once) to
    ``svalues`` (expression -> values) and ``names`` (expression -> its text)."""
    for form, what in structure_forms(correlation, weights):
        exprs = ([form.covariate] if form.covariate is not None else []) + list(form.groups)
        texts = ([form.covariate_text] if form.covariate is not None else []) \
            + list(form.group_texts)
        for e, t in zip(exprs, texts):
            if e not in svalues:
                svalues[e] = evaluate_variable(ev, e, what)
                names[e] = t


def missing_rows(svalues: Dict[Any, Any], names: Dict[Any, str], n: int, na_action: str,
                 noun: str) -> np.ndarray:
    """Rows with a missing value in any of ``svalues``; with ``na_action='fail'`` an error
    naming the ``noun`` (e.g. "structure variable") and its text."""
    missing = np.zeros(n, dtype=bool)
    for e, v in svalues.items():
        m = is_missing(v)
        if m.any() and na_action == "fail":
            raise DataError(f"missing values in object (na_action='fail'): the {noun} "
                            f"'{names[e]}' has {int(m.sum())} missing value"
                            f"{'s' if m.sum() != 1 else ''}; use na_action='omit'")
        missing |= m
    return missing


def _factor_of(values: List[Any], names: List[str]) -> Tuple[np.ndarray, List[str]]:
    """The groups of one or more (nested) variables as nlme's ``getGroups`` gives them:
    one variable: its factor (levels in R's order); several: one level per combination,
    labelled ``a/b``, in order of appearance (sorted when the outer factor is ordered)."""
    facs = [to_factor(v, nm) for v, nm in zip(values, names)]
    if len(facs) == 1:
        return facs[0].codes, list(facs[0].levels)
    codes = np.column_stack([f.codes for f in facs])
    uniq, first, inv = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    inv = np.asarray(inv).ravel()
    if facs[0].ordered:
        rank = np.arange(uniq.shape[0])            # np.unique sorts rows lexicographically
    else:
        rank = np.empty(uniq.shape[0], dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(uniq.shape[0])
    labels = ["/".join(f.levels[c] for f, c in zip(facs, row)) for row in uniq]
    out_labels = [""] * len(labels)
    for i, r in enumerate(rank):
        out_labels[r] = labels[i]
    return rank[inv], out_labels


class GlsRows:
    """The structures' view of the sorted model rows (:class:`StructureData`)."""

    def __init__(self, frame: GlsFrame):
        self.frame = frame
        self.n = frame.n
        #: the caller's row labels, in the model's (sorted) row order
        self.row_labels = np.asarray(frame.row_index)[frame.order]
        self._fitted: Optional[np.ndarray] = None

    def _value(self, expr, what):
        return self.frame.values[expr]

    def covariate(self, form, what: str) -> np.ndarray:
        v = self._value(form.covariate, what)
        if isinstance(v, (Factor, Temporal)):
            raise DataError(f"{what}: the covariate '{form.covariate_text}' must be numeric "
                            f"(it is a factor)")
        vals = np.asarray(v.values, dtype=float)
        if vals.ndim == 2:
            if vals.shape[1] != 1:
                raise DataError(f"{what}: the covariate '{form.covariate_text}' must be one "
                                f"column")
            vals = vals[:, 0]
        return vals

    def groups(self, form, what: str):
        vals = [self._value(g, what) for g in form.groups]
        return _factor_of(vals, list(form.group_texts))

    def strata(self, form, what: str) -> np.ndarray:
        labels = None
        for g, nm in zip(form.groups, form.group_texts):
            f = to_factor(self._value(g, what), nm)
            lab = np.asarray(f.levels, dtype=object)[f.codes]
            labels = lab if labels is None else np.array(
                [f"{a}*{b}" for a, b in zip(labels, lab)], dtype=object)
        assert labels is not None                  # called for forms with groups only
        return labels

    def fitted(self) -> Optional[np.ndarray]:
        return self._fitted

    def set_fitted(self, values: np.ndarray) -> None:
        self._fitted = np.asarray(values, dtype=float)


def build_gls_frame(formula, data, correlation=None, weights=None, na_action: str = "fail",
                    contrasts=None) -> GlsFrame:
    """Evaluate the model and structure variables, drop incomplete rows, sort by groups.

    Raises
    ------
    FormulaError
        No response, a random-effects bar, or ``offset()`` (nlme: "offset() terms are not
        supported").
    UnknownColumnError
        A formula or ``form`` names a column the data lack (the structure is named).
    DataError
        Missing values under ``na_action="fail"``; a factor response.
    FitError
        A rank-deficient fixed-effects matrix (nlme: ``computed "gls" fit is singular``).
    """
    data = as_data_frame(data)
    data_name = data.attrs.get("name") if hasattr(data, "attrs") else None
    f = parse_formula(formula) if isinstance(formula, str) else formula
    if f.response is None:
        raise FormulaError("model must be a formula of the form \"resp ~ pred\"")
    if f.random:
        raise FormulaError(f"gls: the formula has a random-effects term "
                           f"'({f.random[0].lhs_text} | ...)': gls fits no random effects "
                           f"(use lme or lmer)")
    if f.fixed.offsets:
        raise FormulaError("offset() terms are not supported")
    if getattr(f.fixed, "has_dot", False):
        f = f.expand_dot([str(c) for c in data.columns])
    n_all = len(data)
    if n_all == 0:
        raise DataError("the data have 0 rows: there is nothing to fit")
    # the structures' variables, on every row of the caller's data
    ev = Evaluator(data)
    svalues: Dict[Any, Any] = {}
    names: Dict[Any, str] = {}
    collect_structure_variables(ev, correlation, weights, svalues, names)
    missing = missing_rows(svalues, names, n_all, na_action, "structure variable")
    rows_s = np.flatnonzero(~missing)
    sub = data if not missing.any() else data.iloc[rows_s]
    if len(sub) == 0:
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses")
    frame = build_frame(f, sub, na_action=na_action)
    kept = rows_s[np.asarray(frame.kept, dtype=bool)]
    resp = frame.response
    if isinstance(resp, Factor) or resp is None:
        raise DataError(f"the response '{var_name(f.response)}' must be numeric")
    y = np.asarray(resp.values, dtype=float)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise DataError(f"the response '{var_name(f.response)}' must be one column")
        y = y[:, 0]
    X, spec = model_matrix(f.fixed, frame.values, contrasts, response=f.response, n=frame.n)
    if X.shape[1] == 0:
        raise FormulaError("no coefficients to fit")
    keep = drop_rank_deficient(X)
    if keep.size < X.shape[1]:
        dropped = [spec.colnames[i] for i in range(X.shape[1]) if i not in set(keep.tolist())]
        raise FitError(f"computed \"gls\" fit is singular, rank {keep.size + 1} (the "
                       f"fixed-effects columns {', '.join(dropped)} are linear combinations "
                       f"of the others: remove them from the formula)")
    spec.keep = np.arange(X.shape[1], dtype=np.int64)
    spec.dropped = []
    svals = {e: take(v, kept) for e, v in svalues.items()}
    n = X.shape[0]
    order = np.arange(n)
    if correlation is not None and correlation.form.has_groups:
        codes, _labels = _factor_of([svals[g] for g in correlation.form.groups],
                                    list(correlation.form.group_texts))
        order = np.argsort(codes, kind="stable")
    term_labels = (["(Intercept)"] if spec.intercept else []) + [t.label for t in spec.terms]
    info = {"fixed": spec, "state": frame.state, "offset_terms": [],
            "response": var_name(f.response)}
    return GlsFrame(formula=f, X=np.ascontiguousarray(X[order]), y=y[order],
                    colnames=list(spec.colnames), assign=np.asarray(spec.assign, dtype=np.int64),
                    term_labels=term_labels, order=order, kept=kept, n_all=n_all,
                    row_index=data.index[kept], values={e: take(v, order) for e, v in svals.items()},
                    info=info, na_action=na_action, data_name=data_name)
