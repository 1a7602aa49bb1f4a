"""nlme's denominator degrees of freedom for the fixed effects of an ``lme`` fit: the
between/within-group ("containment") rule.

R equivalent: ``nlme:::getFixDF`` (Pinheiro & Bates 2000, section 2.4.2). The strata are the
levels of grouping, outermost first, then ``Residual`` (within the innermost groups). A
fixed-effects column belongs to the innermost stratum whose groups one level up it varies
within (the intercept and any other constant column to the outermost). Each stratum starts
with its number of groups minus the groups of the level above (``Residual``: n minus the
innermost groups) and loses one df per column (per term's columns) it holds, the intercept
taking one from the outermost stratum (without an intercept every stratum but the outermost
gains one). A column's df is its stratum's; a constant column's is the largest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence

import numpy as np
import pandas as pd

__all__ = ["FixedDF", "fixed_df", "inner_varies"]


@dataclass
class FixedDF:
    """``X``: the df of each fixed-effects column; ``terms``: of each term (the F tests'
    denominator df of ``anova``), indexed by nlme's term labels (``"(Intercept)"`` first);
    ``strata``: the stratum name of each column."""

    X: pd.Series
    terms: pd.Series
    strata: pd.Series


def _constant(x: np.ndarray, tol: float = float(np.sqrt(np.finfo(float).eps))) -> bool:
    if x.size < 1:
        return True
    if x[0] == 0:
        return bool(np.all(np.abs(x) < tol))
    return bool(np.all(np.abs(x / x[0] - 1.0) < tol))


def inner_varies(x: np.ndarray, codes: np.ndarray) -> bool:
    """Whether ``x`` takes more than one value (exactly) within at least one group."""
    codes = np.asarray(codes, dtype=np.int64)
    if x.size == 0:
        return False
    g = int(codes.max()) + 1
    lo = np.full(g, np.inf)
    hi = np.full(g, -np.inf)
    np.minimum.at(lo, codes, x)
    np.maximum.at(hi, codes, x)
    return bool(np.any(hi > lo))


def fixed_df(X: np.ndarray, assign: Any, term_labels: Sequence[str],
             group_codes: Sequence[np.ndarray], level_names: Sequence[str],
             colnames: Sequence[str]) -> FixedDF:
    """nlme's ``getFixDF(X, grps, ngrps, assign)``.

    Parameters
    ----------
    X : ndarray (n, p)
        The fixed-effects matrix.
    assign : sequence of int
        R's ``assign`` per column (0 the intercept when there is one, j the j-th term).
    term_labels : sequence of str
        The terms' labels in ``assign`` order (``"(Intercept)"`` first when there is one).
    group_codes : sequence of ndarray
        Per level of grouping, outermost first, 0-based group codes per row.
    level_names : sequence of str
        The levels' names (nlme's ``names(ngrps)``), outermost first.
    colnames : sequence of str
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    Q = len(group_codes)
    ngrps = [int(np.unique(c).size) for c in group_codes]
    strat = list(level_names) + ["Residual"]
    base = np.array(ngrps + [n], dtype=np.int64) - np.array([0] + ngrps, dtype=np.int64)
    dfX = base.copy()
    dfT = base.copy()
    asg = np.asarray(assign, dtype=np.int64)
    uniq_assign = sorted(set(asg.tolist()))
    if len(term_labels) != len(uniq_assign):
        # labels for the assign values present (a term may have lost all its columns)
        labels = [str(a) for a in uniq_assign]
    else:
        labels = list(term_labels)
    cols_of = [np.flatnonzero(asg == a) for a in uniq_assign]
    notInt = np.array([not _constant(X[:, j]) for j in range(p)], dtype=bool)
    valX = np.zeros(p)
    valT = np.zeros(len(cols_of))
    stratX = np.zeros(p, dtype=np.int64)
    notIntT = np.array([bool(np.any(notInt[c])) for c in cols_of], dtype=bool)
    if np.any(notInt):
        for j in range(p):
            k = 0
            for lvl in range(Q):
                if inner_varies(X[:, j], group_codes[lvl]):
                    k = lvl + 1
            stratX[j] = k
        stratT = np.array([int(stratX[c].max()) if c.size else 0 for c in cols_of])
        for j in range(p):
            if not notInt[j]:
                continue
            dfX[stratX[j]] -= 1
        if not np.all(notInt):
            dfX[0] -= 1
        else:
            dfX[1:] += 1
        valX[notInt] = dfX[stratX[notInt]]
        for t in np.flatnonzero(notIntT):
            dfT[stratT[t]] -= cols_of[t].size
        if not np.all(notIntT):
            dfT[0] -= 1
        else:
            dfT[1:] += 1
        valT[notIntT] = dfT[stratT[notIntT]]
    if not np.all(notInt):
        valX[~notInt] = dfX.max()
        if not np.all(notIntT):
            valT[~notIntT] = dfT.max()
    strata: List[str] = [strat[k] if notInt[j] else strat[0] for j, k in enumerate(stratX)]
    return FixedDF(X=pd.Series(valX, index=list(colnames)),
                   terms=pd.Series(valT, index=labels),
                   strata=pd.Series(strata, index=list(colnames)))
