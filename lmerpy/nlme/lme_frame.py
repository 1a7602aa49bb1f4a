"""The rows of an ``lme`` fit: nlme's sort by groups, lmerpy's mixed-model design on them, and
the residual structures' variables.

R equivalent: the first half of ``nlme::lme``: the model frame of the fixed, random and
structure formulas (``na.action = na.fail`` by default), the rows ordered by the grouping
factors (outermost first; an inner level by its ``outer/inner`` labels, as ``lme`` builds
them), the correlation structure's groups made to agree with the random effects' (``corAR1(form
= ~ 1)`` inside ``lme(random = ~ 1 | Subject)`` groups by Subject; a coarser grouping is
replaced by the random effects' one, an incompatible one is an error).

The design itself is lmerpy's (:func:`lmerpy.design.build_design`) on the sorted rows, with
one random-effects term per level of grouping (:mod:`lmerpy.nlme.pdmat`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..design import build_design
from ..design.dataframe import as_data_frame
from ..design.evaluate import Evaluator
from ..design.values import take, to_factor
from ..errors import DataError, FormulaError
from ..formula import parse_formula
from ..warnings import DesignWarning, warn
from .forms import parse_form
from .frame import GlsFrame, collect_structure_variables, evaluate_variable, missing_rows
from .pdmat import RandomLevel

__all__ = ["LmeFrame", "build_lme_frame", "LME_CHECKS"]

#: lme4's pre-fit checks that nlme does not make (nlme fits a level with as many groups as
#: observations, or a single group)
LME_CHECKS = {"check.nobs.vs.rankZ": "ignore", "check.nobs.vs.nlev": "ignore",
              "check.nlev.gtreq.5": "ignore", "check.nlev.gtr.1": "ignore",
              "check.nobs.vs.nRE": "ignore", "check.scaleX": "ignore",
              "check.rankX": "stop.deficient"}


@dataclass
class LmeFrame:
    """The model rows of an lme fit, sorted as nlme sorts them.

    Attributes
    ----------
    design : lmerpy.design.structures.Design
        On the sorted rows; its random-effects terms are in lme4's order.
    levels : list of RandomLevel
        Outermost first.
    term_of_level : list of int
        The index in ``design.reterms`` of each level's term.
    group_codes : list of ndarray
        Per level, 0-based group codes on the sorted rows (groups numbered in order of
        appearance, i.e. nlme's order).
    group_labels : list of list of str
        Per level, the groups' labels (``"VI/Victory"`` below the first level).
    gls : GlsFrame
        The same rows as the structures see them (:class:`lmerpy.nlme.frame.GlsRows`).
    caller_pos : ndarray
        The caller's row position of each sorted model row.
    correlation : CorStruct or None
        The correlation structure with the groups the fit uses (unbound).
    """

    design: Any
    levels: List[RandomLevel]
    term_of_level: List[int]
    group_codes: List[np.ndarray]
    group_labels: List[List[str]]
    gls: GlsFrame
    caller_pos: np.ndarray
    n_all: int
    data_name: Optional[str]
    correlation: Any
    formula_text: str
    lmer_formula: str

    @property
    def n(self) -> int:
        return int(self.design.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.design.X.shape[1])


def _variable(text: str):
    return parse_formula("~ " + text).fixed.variables[0]


def _nested_groups(factors) -> Tuple[List[np.ndarray], List[List[str]], np.ndarray]:
    """Per level: codes (groups numbered in sorted order) and labels; and the row order.

    The first level sorts by its factor's levels; a level below by the labels ``outer/inner``
    (R's ``as.factor(paste(...))``: alphabetical), within the levels above."""
    n = factors[0].codes.shape[0]
    keys = []
    labels_per_row: List[np.ndarray] = []
    prev = None
    for i, f in enumerate(factors):
        lab = np.asarray(f.levels, dtype=object)[f.codes]
        if i == 0:
            keys.append(f.codes)
            full = lab.astype(str)
        else:
            assert prev is not None
            full = np.array([f"{a}/{b}" for a, b in zip(prev, lab)], dtype=object)
            _u, inv = np.unique(full.astype(str), return_inverse=True)
            keys.append(np.asarray(inv).ravel())
        labels_per_row.append(full)
        prev = full
    order = np.lexsort(tuple(reversed(keys))) if n else np.zeros(0, dtype=np.int64)
    codes_out, labels_out = [], []
    for full in labels_per_row:
        s = np.asarray(full, dtype=object)[order].astype(str)
        uniq, first, inv = np.unique(s, return_index=True, return_inverse=True)
        rank = np.empty(uniq.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
        codes_out.append(rank[np.asarray(inv).ravel()])
        labs = [""] * uniq.size
        for j, r in enumerate(rank):
            labs[r] = str(uniq[j])
        labels_out.append(labs)
    return codes_out, labels_out, order


def _correlation_groups(correlation, levels: List[RandomLevel]):
    """nlme's rule: the correlation's groups agree with the random effects' (see the module
    docstring); returns the correlation structure with the groups the fit uses."""
    if correlation is None:
        return None
    lme_groups = [lv.group for lv in levels]
    form = correlation.form
    cor_groups = list(form.group_texts)
    if cor_groups:
        q = min(len(cor_groups), len(lme_groups))
        if cor_groups[:q] != lme_groups[:q]:
            raise FormulaError(
                f"lme: incompatible formulas for groups in 'random' and 'correlation': "
                f"{correlation.call_text()} groups by {'/'.join(cor_groups)}, which does not "
                f"nest within the random effects' groups {'/'.join(lme_groups)} (the "
                f"correlation's groups must be the random effects' groups or nested within "
                f"them)")
        if len(cor_groups) < len(lme_groups):
            warn("cannot use smaller level of grouping for 'correlation' than for 'random'. "
                 "Replacing the former with the latter.", DesignWarning)
            groups = lme_groups
        else:
            return correlation
    else:
        groups = lme_groups
    text = f"~ {form.covariate_text} | {'/'.join(groups)}"
    out = copy.copy(correlation)
    out.form_text = text
    out.form = parse_form(text, out.call_text(), "/")
    return out


def build_lme_frame(fixed, data, levels: List[RandomLevel], correlation=None, weights=None,
                    REML: bool = True, na_action: str = "fail", contrasts=None) -> LmeFrame:
    """Evaluate the groups and structure variables, drop incomplete rows, sort by groups and
    build the mixed-model design on the sorted rows.

    Raises
    ------
    FormulaError
        No response, a random-effects bar in the fixed formula, incompatible correlation
        groups.
    UnknownColumnError
        A formula, grouping or ``form`` names a column the data lack (the piece is named).
    DataError
        Missing values under ``na_action="fail"``.
    """
    data = as_data_frame(data)
    data_name = data.attrs.get("name") if hasattr(data, "attrs") else None
    f = parse_formula(fixed) if isinstance(fixed, str) else fixed
    if f.response is None:
        raise FormulaError("lme: the fixed-effects model must be a formula of the form "
                           "\"resp ~ pred\"")
    if f.random:
        raise FormulaError(f"lme: the fixed-effects formula has a random-effects term "
                           f"'({f.random[0].lhs_text} | ...)': give the random effects in "
                           f"'random'")
    if f.fixed.offsets:
        raise FormulaError("offset() terms are not supported")
    formula_text = f.deparse()
    correlation = _correlation_groups(correlation, levels)
    n_all = len(data)
    if n_all == 0:
        raise DataError("the data have 0 rows: there is nothing to fit")
    ev = Evaluator(data)
    svalues: Dict[Any, Any] = {}
    names: Dict[Any, str] = {}
    group_exprs = []
    for lv in levels:
        e = _variable(lv.group)
        group_exprs.append(e)
        if e not in svalues:
            svalues[e] = evaluate_variable(ev, e, f"lme(random): the grouping factor '{lv.group}'")
            names[e] = lv.group
    collect_structure_variables(ev, correlation, weights, svalues, names)
    missing = missing_rows(svalues, names, n_all, na_action, "variable")
    rows = np.flatnonzero(~missing)
    if rows.size == 0:
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses")
    factors = [to_factor(take(svalues[e], rows), lv.group) for e, lv in zip(group_exprs, levels)]
    _c, _l, order = _nested_groups(factors)
    sorted_rows = rows[order]
    # (the data as given when already complete and sorted: nlme's grouped data sets are)
    sorted_already = sorted_rows.size == n_all and bool(np.all(np.diff(sorted_rows) == 1))
    sub = data if sorted_already else data.iloc[sorted_rows]
    bars = " + ".join(lv.pd.lme4_term(lv.lme4_group) for lv in levels)
    lmer_formula = f"{formula_text} + {bars}"
    design = build_design(lmer_formula, sub, REML=REML, contrasts=contrasts,
                          na_action="fail" if na_action == "fail" else "omit",
                          control=LME_CHECKS)
    kept = np.setdiff1d(np.arange(sub.shape[0]), np.asarray(design.dropped_rows, dtype=np.int64))
    caller_pos = sorted_rows[kept]
    svals = {e: take(v, caller_pos) for e, v in svalues.items()}
    factors = [to_factor(svals[e], lv.group) for e, lv in zip(group_exprs, levels)]
    codes, labels, order2 = _nested_groups(factors)
    if not np.array_equal(order2, np.arange(order2.size)):   # pragma: no cover - sorted above
        raise DataError("lme: internal error: the rows are not sorted by groups")
    term_of_level = []
    for lv in levels:
        hits = [i for i, t in enumerate(design.reterms) if t.group_name == lv.lme4_group]
        if len(hits) != 1:                         # pragma: no cover - one term per level
            raise FormulaError(f"lme: the random-effects level '{lv.group}' gave "
                               f"{len(hits)} terms")
        term_of_level.append(hits[0])
    info = dict(design.info)
    spec = info.get("fixed")
    term_labels = (["(Intercept)"] if spec is not None and spec.intercept else []) \
        + ([t.label for t in spec.terms] if spec is not None else [])
    n = design.X.shape[0]
    y = np.asarray(design.y, dtype=float).reshape(-1)
    gframe = GlsFrame(formula=f, X=np.asarray(design.X, dtype=float), y=y,
                      colnames=list(design.X_colnames),
                      assign=np.asarray(info.get("X_assign", []), dtype=np.int64),
                      term_labels=term_labels, order=np.arange(n), kept=caller_pos,
                      n_all=n_all, row_index=data.index[caller_pos], values=svals, info=info,
                      na_action=na_action, data_name=data_name)
    return LmeFrame(design=design, levels=levels, term_of_level=term_of_level,
                    group_codes=codes, group_labels=labels, gls=gframe, caller_pos=caller_pos,
                    n_all=n_all, data_name=data_name, correlation=correlation,
                    formula_text=formula_text, lmer_formula=lmer_formula)
