"""R's ``model.matrix`` rules: which factors get contrasts, column order, column names.

R equivalents: ``terms.formula``'s factor pattern (``TermCode``: a factor in a term is coded by
contrasts when the term without it is empty or contained in an earlier term, otherwise by
indicator columns), ``model.matrix.default`` (the no-intercept rule: the first factor of the
first term containing a factor is coded by indicators), column construction (the first
variable of a term varies fastest; names joined with ``:``), and lme4's
``chkRank.drop.cols`` (LINPACK-style pivoting with tolerance 1e-7) and ``checkScaleX``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from scipy.linalg import lapack

from ..errors import DataError
from ..warnings import DesignWarning, warn
from .contrasts import Coding, contr_poly, contr_treatment, indicator_coding, resolve_contrast
from .values import Factor, Numeric, Temporal, temporal_error
from .naming import var_name

__all__ = ["TermSpec", "MatrixSpec", "factor_pattern", "model_matrix", "build_columns",
           "drop_rank_deficient", "check_scale"]


@dataclass
class TermSpec:
    """One model term as coded: its variables in R's order with their coding.

    ``parts`` holds ``(expr, name, coding)``; ``coding`` is a :class:`Coding` for a factor and
    ``None`` for a numeric variable (a vector or a matrix such as ``poly(x, 2)``).
    """

    label: str
    parts: List[Tuple[Any, str, Optional[Coding]]]


@dataclass
class MatrixSpec:
    """Everything needed to rebuild a model matrix on new data (R: the terms object with its
    ``contrasts`` and ``assign`` attributes, plus the factor levels).

    Attributes
    ----------
    intercept : bool
    terms : list of TermSpec
    colnames : list of str
        All columns before rank-deficient ones are dropped.
    assign : list of int
        R's ``assign`` (0 = intercept, j = j-th term, 1-based), for all columns.
    keep : ndarray of int
        Columns kept after ``chkRank.drop.cols`` (all by default).
    dropped : list of str
        Names of dropped columns (lme4's ``col.dropped``).
    levels : dict
        Variable expression -> factor levels at fit time.
    contrasts : dict
        Variable name -> name of the contrast used (R's ``attr(X, "contrasts")``).
    """

    intercept: bool
    terms: List[TermSpec]
    colnames: List[str]
    assign: List[int]
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dropped: List[str] = field(default_factory=list)
    levels: Dict[Any, List[str]] = field(default_factory=dict)
    contrasts: Dict[str, Any] = field(default_factory=dict)

    @property
    def kept_colnames(self) -> List[str]:
        return [self.colnames[i] for i in self.keep]


def factor_pattern(model_terms, is_factor: Dict[Any, bool]) -> List[Dict[Any, int]]:
    """R's ``attr(terms, "factors")`` column by column, after model.matrix's no-intercept rule.

    Returns, for each term, ``{variable: code}`` with code 1 (contrasts) or 2 (indicators).
    """
    terms = list(model_terms.terms)
    sets = [frozenset(t.factors) for t in terms]
    pattern: List[Dict[Any, int]] = []
    for j, t in enumerate(terms):
        codes = {}
        for v in t.factors:
            rest = sets[j] - {v}
            if not rest or any(rest <= sets[i] for i in range(j)):
                codes[v] = 1
            else:
                codes[v] = 2
        pattern.append(codes)
    if not model_terms.intercept:
        order = _variable_order(model_terms)
        done = False
        for j, t in enumerate(terms):
            for v in sorted(t.factors, key=lambda e: order.get(e, len(order))):
                if is_factor.get(v, False):
                    pattern[j][v] = 2
                    done = True
                    break
            if done:
                break
    return pattern


def _variable_order(model_terms) -> Dict[Any, int]:
    order: Dict[Any, int] = {}
    for v in model_terms.variables:
        order.setdefault(v, len(order))
    for t in model_terms.terms:
        for v in t.factors:
            order.setdefault(v, len(order))
    return order


def _default_coding(f: Factor, name: str, contrasts: Dict[str, Any]) -> Coding:
    if name in contrasts:
        return resolve_contrast(contrasts[name], f.levels, name)
    if f.contrast is not None and len(f.levels) >= 2:   # set by C() in the formula
        return resolve_contrast(f.contrast, f.levels, name)
    if len(f.levels) < 2:
        raise DataError(f"contrasts can be applied only to factors with 2 or more levels: "
                        f"'{name}' has {len(f.levels)} level{'s' if len(f.levels) != 1 else ''}"
                        f"{' (' + f.levels[0] + ')' if f.levels else ''} in the model frame")
    return contr_poly(f.levels) if f.ordered else contr_treatment(f.levels)


def _contrast_label(coding: Coding):
    """R's entry of ``attr(X, "contrasts")``: the function name, or the user's matrix."""
    if coding.name == "matrix":
        return {"matrix": coding.matrix.copy(), "colnames": coding.colnames}
    return coding.name


def model_matrix(model_terms, values: Dict[Any, Any], contrasts: Optional[Dict[str, Any]] = None,
                 response=None, n: Optional[int] = None) -> Tuple[np.ndarray, MatrixSpec]:
    """Build R's ``model.matrix(terms, frame, contrasts.arg)``.

    Parameters
    ----------
    model_terms : lmerpy.formula.terms.ModelTerms
    values : dict
        Variable expression -> :class:`Numeric` or :class:`Factor` (the model frame).
    contrasts : dict, optional
        Variable name -> contrast spec (``"contr.sum"``, a matrix...), for factors only.
    response : Expr, optional
        A right-hand term identical to the response is dropped, with R's warning.
    n : int, optional
        Number of rows (needed when there are no variables).

    Returns
    -------
    X : ndarray, shape (n, p)
    spec : MatrixSpec
    """
    contrasts = dict(contrasts or {})
    if n is None:
        n = next((len(v.codes) if isinstance(v, Factor) else v.values.shape[0]
                  for v in values.values()), 0)
    terms = list(model_terms.terms)
    if response is not None:
        kept = []
        for t in terms:
            if len(t.factors) == 1 and t.factors[0] == response:
                warn("the response appeared on the right-hand side and was dropped",
                     DesignWarning)
                continue
            kept.append(t)
        if len(kept) != len(terms):
            model_terms = type(model_terms)(terms=tuple(kept), intercept=model_terms.intercept,
                                            offsets=model_terms.offsets,
                                            variables=model_terms.variables)
            terms = kept
    is_factor = {v: isinstance(values[v], Factor) for t in terms for v in t.factors}
    pattern = factor_pattern(model_terms, is_factor)
    order = _variable_order(model_terms)
    # R's model.matrix.default sets contrasts on every factor among the formula's variables
    # (also one whose terms were all removed, as in ``. - g``), so each needs 2+ levels
    all_factors = [v for v in order if v != response and v in values
                   and isinstance(values[v], Factor)]
    for v in all_factors:
        f = values[v]
        if not f.logical and len(f.levels) < 2:
            _default_coding(f, var_name(v), {})
    codings: Dict[Tuple[Any, int], Coding] = {}
    specs: List[TermSpec] = []
    used_contrasts: Dict[str, Any] = {}
    levels: Dict[Any, List[str]] = {}
    for t, codes in zip(terms, pattern):
        parts: List[Tuple[Any, str, Optional[Coding]]] = []
        for v in sorted(t.factors, key=lambda e: order[e]):
            val = values[v]
            name = var_name(v)
            if isinstance(val, Factor):
                levels[v] = list(val.levels)
                key = (v, codes[v])
                if key not in codings:
                    if codes[v] == 1:
                        codings[key] = _default_coding(val, name, contrasts)
                        used_contrasts[name] = _contrast_label(codings[key])
                    else:
                        codings[key] = indicator_coding(val.levels)
                parts.append((v, name, codings[key]))
            else:
                parts.append((v, name, None))
        specs.append(TermSpec(t.label if _has_label(t) else ":".join(p[1] for p in parts),
                              parts))
    for v in all_factors:  # R's attr(X, "contrasts") names every factor variable
        name = var_name(v)
        if name not in used_contrasts:
            used_contrasts[name] = _contrast_label(_default_coding(values[v], name, contrasts))
    for name in contrasts:
        if name not in used_contrasts and not any(var_name(v) == name for v in order):
            warn(f"variable '{name}' is absent, its contrast will be ignored", DesignWarning)
    colnames, assign = [], []
    if model_terms.intercept:
        colnames.append("(Intercept)")
        assign.append(0)
    for j, ts in enumerate(specs, start=1):
        names = _term_names(ts, values)
        colnames.extend(names)
        assign.extend([j] * len(names))
    spec = MatrixSpec(bool(model_terms.intercept), specs, colnames, assign,
                      keep=np.arange(len(colnames), dtype=np.int64), levels=levels,
                      contrasts=used_contrasts)
    X = build_columns(spec, values, n)
    return X, spec


def _has_label(t) -> bool:
    try:
        t.label
        return True
    except (ImportError, AttributeError):
        return False


def _ncols(val, coding) -> int:
    if coding is not None:
        return coding.matrix.shape[1]
    return val.ncol if isinstance(val, Numeric) else 1


def _part_names(val, name: str, coding: Optional[Coding]) -> List[str]:
    if coding is not None:
        return [name + s for s in coding.suffixes()]
    if isinstance(val, Numeric) and val.is_matrix and val.ncol > 1:
        cn = val.colnames or [str(i + 1) for i in range(val.ncol)]
        return [name + c for c in cn]
    return [name]


def _term_names(ts: TermSpec, values) -> List[str]:
    names = [""]
    for v, name, coding in ts.parts:
        part = _part_names(values[v], name, coding)
        names = [(a + ":" + b if a else b) for b in part for a in names]
    return names


def _part_block(val, coding: Optional[Coding], n: int) -> np.ndarray:
    if coding is not None:
        codes = val.codes
        mat = coding.matrix
        ext = np.vstack([mat, np.full((1, mat.shape[1]), np.nan)])
        return ext[np.where(codes >= 0, codes, mat.shape[0])]
    if isinstance(val, Temporal):
        raise temporal_error(val)
    vals = np.asarray(val.values, dtype=float)
    return vals[:, None] if vals.ndim == 1 else vals


def build_columns(spec: MatrixSpec, values: Dict[Any, Any], n: int) -> np.ndarray:
    """Fill the model matrix for ``spec`` from the variables (all columns, before any drop)."""
    blocks = []
    for ts in spec.terms:
        cur = None
        for v, _name, coding in ts.parts:
            blk = _part_block(values[v], coding, n)
            # existing columns vary fastest: new column k*ncur + j = cur_j * blk_k
            cur = blk if cur is None else (blk[:, :, None] * cur[:, None, :]).reshape(n, -1)
        blocks.append(np.ones((n, 1)) if cur is None else cur)
    out = np.empty((n, int(spec.intercept) + sum(b.shape[1] for b in blocks)))
    c = 0
    if spec.intercept:
        out[:, 0] = 1.0
        c = 1
    for b in blocks:
        out[:, c:c + b.shape[1]] = b
        c += b.shape[1]
    return out


def drop_rank_deficient(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """lme4's ``chkRank.drop.cols``: indices of the columns to keep.

    R's ``qr(X, tol = 1e-7, LAPACK = FALSE)`` (LINPACK ``dqrdc2``) moves a column to the end
    when its norm, after removing its projection on the columns kept before it, falls below
    ``tol`` times its original norm; the kept columns keep their order. The same selection is
    made here from the triangular factor of an unpivoted QR (same inner products as X).
    """
    p = X.shape[1]
    if p == 0:
        return np.arange(0, dtype=np.int64)
    R = _qr_r(X)
    norms = np.sqrt((R ** 2).sum(axis=0))
    if R.shape[0] == p and (norms > 0).all() and (np.abs(R.diagonal()) >= tol * norms).all():
        return np.arange(p, dtype=np.int64)
    basis = np.zeros((R.shape[0], 0))
    keep = []
    for j in range(p):
        col = R[:, j].astype(float)
        v = col - basis @ (basis.T @ col)
        v = v - basis @ (basis.T @ v)
        r = np.sqrt(v @ v)
        if norms[j] > 0 and r >= tol * norms[j]:
            keep.append(j)
            basis = np.column_stack([basis, v / r])
    return np.asarray(keep, dtype=np.int64)


def _qr_r(X: np.ndarray) -> np.ndarray:
    """The triangular factor of X = QR, shape (min(n, p), p) (``numpy.linalg.qr(X, "r")``),
    by LAPACK's ``dgeqrf`` without NumPy's wrapper overhead."""
    n, p = X.shape
    if n == 0:
        return np.zeros((0, p))
    qr, _tau, _work, info = lapack.dgeqrf(np.asarray(X, dtype=float))
    if info != 0:                                     # pragma: no cover - LAPACK argument error
        return np.asarray(np.linalg.qr(X, mode="r"))
    return np.triu(qr[:min(n, p), :])


def rank_message(n_dropped: int) -> str:
    """lme4's message for dropped rank-deficient columns."""
    if n_dropped == 1:
        return "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"
    return (f"fixed-effect model matrix is rank deficient so dropping {n_dropped} columns / "
            f"coefficients")


def check_scale(X: np.ndarray, tol: float = 1000.0) -> Optional[str]:
    """lme4's ``checkScaleX``: the warning text when column SDs differ by more than ``tol``
    (or one is farther than ``tol`` from 1), else ``None``. 0/1 columns are ignored."""
    if X.shape[1] == 0 or X.shape[0] < 2:
        return None
    cont = ~np.all((X == 0) | (X == 1), axis=0)
    if not cont.any():
        return None
    sd = _column_sd(X if cont.all() else X[:, cont])
    limit = math.log(tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.any(np.abs(np.log(sd)) > limit):
            return _SCALE_MESSAGE
        if sd.size > 1:
            ratio = np.abs(np.log(sd[:, None] / sd[None, :]))
            if np.any(ratio[_lower_pairs(sd.size)] > limit):
                return _SCALE_MESSAGE
    return None


def _column_sd(X: np.ndarray) -> np.ndarray:
    """``X.std(axis=0, ddof=1)`` by the same ufunc calls NumPy's ``_var`` makes (the same
    bits), without its Python-level overhead."""
    n = X.shape[0]
    mean = np.add.reduce(X, axis=0, keepdims=True)
    np.true_divide(mean, n, out=mean)
    dev = X - mean
    np.multiply(dev, dev, out=dev)
    return np.sqrt(np.add.reduce(dev, axis=0) / max(n - 1, 0))


_SCALE_MESSAGE = "Some predictor variables are on very different scales: consider rescaling"


@functools.lru_cache(maxsize=64)
def _lower_pairs(k: int):
    """``numpy.tril_indices(k, -1)`` (remembered: it costs more than the check itself)."""
    out = np.tril_indices(k, -1)
    for a in out:
        a.flags.writeable = False
    return out
