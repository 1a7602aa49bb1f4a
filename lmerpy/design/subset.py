"""A design restricted to some of its rows (R: ``update(fit, subset = ...)`` without
re-evaluating the formula): what case- and group-deletion refits fit.

The rows kept are positions in the model frame. Grouping factors lose the levels that no longer
occur (R's ``factor()`` in ``mkReTrms``) and Zt, Λ' and ``Lind`` are rebuilt for the smaller
terms; the fixed-effects matrix, the response, offset and weights are the rows themselves
(data-dependent transforms such as ``scale()`` and ``poly()`` keep the full data's
coefficients). Fixed-effects columns that become rank deficient are dropped, as lme4's
``check.rankX`` would drop them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..errors import DesignError
from .model_matrix import drop_rank_deficient
from .reterms import build_zt, lambdat_template
from .structures import Design, ReTerm

__all__ = ["subset_design"]


def _term_subset(term: ReTerm, rows: np.ndarray, row_offset: int) -> ReTerm:
    codes = np.asarray(term.codes)[rows]
    present = np.unique(codes)
    remap = np.full(len(term.levels), -1, dtype=np.int64)
    remap[present] = np.arange(present.size, dtype=np.int64)
    return dataclasses.replace(term, levels=[term.levels[i] for i in present],
                               codes=remap[codes], X=np.asarray(term.X)[rows],
                               row_offset=row_offset)


def subset_design(design: Design, rows) -> Design:
    """``design`` restricted to the model-frame rows ``rows`` (positions or a boolean mask).

    Returns a new :class:`Design` (the original is not modified) whose ``X_colnames`` may be
    shorter than the original's when columns became rank deficient.
    """
    n = design.n
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise DesignError(f"subset_design: a mask needs {n} values, got {rows.shape[0]}")
        rows = np.flatnonzero(rows)
    rows = np.unique(rows.astype(np.int64))
    if rows.size == 0:
        raise DesignError("subset_design: no rows left")
    if rows[0] < 0 or rows[-1] >= n:
        raise DesignError(f"subset_design: row positions must lie in 0..{n - 1}")
    terms, off = [], 0
    for t in design.reterms:
        nt = _term_subset(t, rows, off)
        terms.append(nt)
        off += nt.n_rows
    X = np.asarray(design.X)[rows]
    keep = drop_rank_deficient(X) if X.shape[1] else np.arange(0)
    colnames = list(design.X_colnames)
    info = dict(design.info)
    if keep.size < X.shape[1]:
        X = np.ascontiguousarray(X[:, keep])
        colnames = [colnames[i] for i in keep]
        if "X_assign" in info:
            info["X_assign"] = np.asarray(info["X_assign"])[keep]
    lam, lind, theta0, lower0 = lambdat_template(terms)
    m = rows.size

    def fr():
        return design.fr.iloc[rows]

    names = [t.group_name for t in terms]
    unique = list(dict.fromkeys(names))
    first = {nm: names.index(nm) for nm in unique}

    def flist():
        return pd.DataFrame({nm: pd.Categorical.from_codes(terms[first[nm]].codes,
                                                           categories=terms[first[nm]].levels)
                             for nm in unique})

    y = np.asarray(design.y)[rows]
    return Design(formula=design.formula, fr=fr, y=y, X=X, X_colnames=colnames,
                  offset=np.asarray(design.offset, dtype=float)[rows],
                  weights=np.asarray(design.weights, dtype=float)[rows], reterms=terms,
                  Zt=build_zt(terms, m), Lambdat=lam, Lind=lind, theta=theta0, lower=lower0,
                  theta_names=list(design.theta_names), flist=flist,
                  assign=list(design.assign), REML=design.REML, info=info,
                  dropped_columns=list(design.dropped_columns), messages=[],
                  na_action="omit")
