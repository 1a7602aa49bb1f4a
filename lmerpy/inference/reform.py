"""``re.form``: which random effects a prediction or a simulation conditions on.

R equivalents: lme4's ``re.form`` argument of ``predict.merMod`` / ``simulate.merMod``
(``NULL``: every random effect, ``NA`` or ``~0``: none, a formula: the bars it lists) and the
pieces of ``mkNewReTrms`` that look the conditional modes up by grouping factor and column
name, with the errors lme4 gives (``new levels detected in newdata: …``).

A selection is a dict ``{term index: column indices}`` over ``fit.design.reterms`` (lme4's
term order). ``None`` selects every column of every term, :data:`NA` none.
"""
from __future__ import annotations

import copy
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from ..arguments import argument_error
from ..errors import ArgumentError, DataError, LmerpyError, UnknownColumnError

__all__ = ["NA", "NAType", "is_na_form", "parse_re_form", "select_terms", "term_b", "newdata_terms",
           "group_factor_on"]


class _NAType:
    """R's ``NA`` as an ``re.form`` value (``lmerpy.NA``): condition on no random effect."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "NA"

    def __bool__(self):
        return False

    def __reduce__(self):
        return (_NAType, ())


#: the type of :data:`NA` (for annotations)
NAType = _NAType
#: ``re_form=NA``: population-level predictions (R: ``re.form = NA``)
NA = _NAType()

_NA_STRINGS = {"NA", "~0", "~-1", "~1", "0"}


def is_na_form(re_form) -> bool:
    """True for :data:`NA`, ``False``, ``"NA"``, ``"~0"``, a float NaN, or a formula without
    bars (R: ``re.form = NA`` or ``~0``)."""
    if re_form is NA or re_form is False:
        return True
    if isinstance(re_form, float) and np.isnan(re_form):
        return True
    if isinstance(re_form, str) and re_form.replace(" ", "") in _NA_STRINGS:
        return True
    return False


def parse_re_form(re_form, caller=None):
    """Normalise an ``re_form`` argument (an ArgumentError for anything else, naming
    ``caller``).

    Returns
    -------
    None
        Every random effect (R: ``re.form = NULL``).
    NA
        No random effect.
    tuple of lmerpy.formula.terms.RandomTerm
        The bars of a formula such as ``"~(1|Subject)"`` (after ``||`` and ``/`` expansion).
    """
    if re_form is None or re_form is True:
        return None
    if is_na_form(re_form):
        return NA
    from ..formula.terms import Formula
    if isinstance(re_form, Formula):
        f = re_form
    elif isinstance(re_form, str):
        from ..formula import parse_formula
        text = re_form.strip()
        if not text.startswith("~") and "~" not in text:
            text = "~" + text
        f = parse_formula(text)
    else:
        raise argument_error("re_form", re_form, "None, lmerpy.NA or a formula such as "
                             "'~(1|Subject)'", caller)
    if not f.random:
        return NA
    return tuple(f.random)


def _lhs_colnames(rt, fit, newdata) -> List[str]:
    """Column names of a bar's left side (R: ``colnames`` of its model matrix), evaluated on
    the fit's data (or ``newdata`` when the fit does not hold its data)."""
    from ..design.evaluate import Evaluator
    from ..design.model_matrix import model_matrix
    lhs = rt.lhs
    names_needed = list(lhs.variables) + [v for t in lhs.terms for v in t.factors]
    if not names_needed:
        return ["(Intercept)"] if lhs.intercept else []
    sources = [d for d in (getattr(fit, "data", None), newdata) if isinstance(d, pd.DataFrame)]
    if not sources:
        raise LmerpyError("re_form: cannot evaluate the left side of "
                          f"{rt.deparse()} without data")
    for k, data in enumerate(sources):
        # the fit's data first (its factor levels); new data for variables only it has
        try:
            ev = Evaluator(data, state={}, fit=True)
            values = {}
            for v in names_needed:
                if v not in values:
                    values[v] = ev.variable(v)
        except UnknownColumnError:
            if k + 1 < len(sources):
                continue
            raise
        _, spec = model_matrix(lhs, values, None, n=len(data))
        return list(spec.colnames)
    raise AssertionError("unreachable: the last data source returns or raises")


def select_terms(fit, re_form, newdata=None) -> Optional[Dict[int, np.ndarray]]:
    """Translate ``re_form`` into a selection ``{term index: column indices}``.

    ``None`` (all random effects) gives every column of every term; :data:`NA` an empty dict.
    A formula's bars are matched to the fit's terms by grouping factor and column names, as
    lme4 matches them to ``ranef(fit)`` (so ``~(1|Subject)`` on a ``(Days|Subject)`` fit
    selects the intercepts only).

    Raises
    ------
    LmerpyError
        A grouping factor or a column of ``re_form`` that the model does not have.
    """
    terms = fit.design.reterms
    parsed = parse_re_form(re_form)
    if parsed is None:
        return {i: np.arange(t.n_columns) for i, t in enumerate(terms)}
    if parsed is NA:
        return {}
    sel: Dict[int, set] = {}
    for rt in parsed:
        g = rt.group_label
        idx = [i for i, t in enumerate(terms) if t.group_name == g]
        if not idx:
            known = ", ".join(dict.fromkeys(t.group_name for t in terms))
            raise ArgumentError("grouping factors specified in re.form that were not present in "
                              f"original model: {g} (the model's: {known})")
        wanted = _lhs_colnames(rt, fit, newdata)
        found = set()
        for i in idx:
            for j, c in enumerate(terms[i].cnms):
                if c in wanted:
                    sel.setdefault(i, set()).add(j)
                    found.add(c)
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ArgumentError("random effects specified in re.form that were not present in "
                              f"original model: {', '.join(missing)} (for {g})")
    return {i: np.array(sorted(cols), dtype=np.int64) for i, cols in sorted(sel.items())}


def term_b(fit, i) -> np.ndarray:
    """Conditional modes of term ``i`` as a (levels, columns) array (Zt's row order)."""
    t = fit.design.reterms[i]
    b = np.asarray(fit.getME("b"), dtype=float)
    return b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, t.n_columns)


class _TermSubset:
    """What :func:`lmerpy.design.model_matrices_for` reads from a Design, for some terms."""

    def __init__(self, design, reterms):
        self.info = design.info
        self.reterms = reterms


def newdata_terms(fit, newdata, term_indices):
    """(codes, X_i) for the given terms on ``newdata``, and the unknown levels per group.

    Codes are 0-based indices into the fit's levels, -1 for a level not in the fit or a
    missing value.
    """
    from ..design import model_matrices_for
    design = fit.design
    terms = [design.reterms[i] for i in term_indices]
    nd = model_matrices_for(_TermSubset(design, terms), newdata, fixed=False, random=True)
    return dict(zip(term_indices, nd.terms)), nd.unknown_levels


def group_factor_on(term, data, design):
    """The term's grouping factor evaluated on ``data`` with the data's own levels
    (R: ``mkReTrms`` on new data), for simulating random effects of new levels."""
    from ..design.evaluate import Evaluator
    from ..design.naming import var_name
    from ..design.reterms import interact
    from ..design.values import to_factor
    ev = Evaluator(data, state=copy.deepcopy(design.info.get("state", {})), fit=False)
    facs = [to_factor(ev.variable(g), var_name(g)) for g in term.group_exprs]
    f = facs[0]
    for g in facs[1:]:
        f = interact(f, g)
    return f


def _in_appearance_order(term, newdata, design, labels):
    """``labels`` ordered by their first appearance in ``newdata`` (as lme4 lists them)."""
    f = group_factor_on(term, newdata, design)
    codes = f.codes[f.codes >= 0]
    _, first = np.unique(codes, return_index=True)
    seen = [f.levels[c] for c in codes[np.sort(first)]]
    wanted = set(labels)
    return [lv for lv in seen if lv in wanted] or list(labels)


def check_levels(fit, selection, codes_by_term, unknown, allow_new_levels, newdata=None):
    """lme4's checks on the grouping factors used: new levels and missing values."""
    if allow_new_levels:
        return
    terms = fit.design.reterms
    for i in selection:
        g = terms[i].group_name
        if unknown.get(g):
            new = unknown[g]
            if newdata is not None:
                new = _in_appearance_order(terms[i], newdata, fit.design, new)
            raise DataError("new levels detected in newdata: " + ", ".join(new)
                            + f" (grouping factor {g}; use allow_new_levels=True to predict "
                            "them with random effects 0)")
    for i in selection:
        codes = codes_by_term[i][0]
        if np.any(codes < 0):
            raise DataError("NAs are not allowed in prediction data for grouping variables "
                            f"unless allow.new.levels is TRUE (grouping factor "
                            f"{terms[i].group_name})")


def random_part(fit, selection, codes_by_term) -> Optional[np.ndarray]:
    """Σ over selected terms and columns of X_i[:, c] · b_i[code, c] (0 for code -1)."""
    out = None
    for i, cols in selection.items():
        codes, X_i = codes_by_term[i]
        if out is None:
            out = np.zeros(codes.shape[0])
        if cols.size == 0:
            continue
        b = term_b(fit, i)
        ok = codes >= 0
        bi = np.zeros((codes.shape[0], b.shape[1]))
        bi[ok] = b[codes[ok]]
        out = out + np.sum(np.asarray(X_i, dtype=float)[:, cols] * bi[:, cols], axis=1)
    return out
