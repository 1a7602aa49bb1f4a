"""Variables on extreme scales: refused when double precision cannot fit them, and the scales
the optimizer's coordinates take from the random- and fixed-effects columns.

* :func:`check_extreme_scales` (at the design stage). A mixed model's estimates include
  variances (σ², the random-effects variances, ``vcov``), which are squares of the data's
  scale, and the fit works with cross-products (X'WX, Z'WZ, ỹ'Wỹ). When a variable's magnitude
  is beyond 2^±500 (about 1e±150) its square is beyond double precision's normal range
  (2^±1022): the cross-products overflow to inf or underflow to 0 (a column that underflows
  looks like a zero column and would be dropped as rank deficient: a lost slope), and the
  variances of the answer could not be represented anyway. Such data are refused with a
  :class:`DataError` that names the variable and says to rescale it; data inside the range are
  fitted as given.
* :func:`coordinate_scale` / :func:`start_par` / :func:`start_theta`: random-effects columns (and, for glmer's
  second stage, fixed-effects columns) whose largest |value| is beyond 2^±10 make the
  optimizer work in rescaled coordinates (see :mod:`lmerpy.optimize.coords`); columns inside
  that range (all of lme4's reference data) leave the optimization untouched, bit for bit.
* :func:`scale_summary`: the data's magnitudes, for error messages.

R equivalent: none (lme4 returns σ = 0, infinite or NaN estimates, drops the column, or stops
at a wrong optimum; its ``checkScaleX`` only warns about X).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["EXTREME_EXPONENT", "SCALE_EXPONENT", "check_extreme_scales", "check_response_scale",
           "column_exponents",
           "coordinate_scale", "largest_magnitude", "scale_summary", "start_par", "start_theta",
           "term_exponents", "weight_exponent"]

#: magnitudes beyond 2**±EXTREME_EXPONENT are refused (their squares leave the normal range)
EXTREME_EXPONENT = 500
_HIGH = 2.0 ** EXTREME_EXPONENT
_LOW = 2.0 ** -EXTREME_EXPONENT


def largest_magnitude(a, axis=None):
    """max |a| (NaN ignored), 0 for an empty array; per column with ``axis=0``."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return 0.0 if axis is None else np.zeros(a.shape[1 - axis] if a.ndim == 2 else 0)
    m = np.maximum.reduce(np.abs(a), axis=axis)      # NaN propagates: rare, recomputed
    if np.isnan(m).any():
        with np.errstate(invalid="ignore"):
            m = np.nanmax(np.abs(a), axis=axis)
    return m


def _bad_columns(m):
    """Indices of magnitudes beyond 2^±EXTREME_EXPONENT (zero columns are fine)."""
    if m.size and _LOW <= m.min() and m.max() <= _HIGH:
        return ()
    return np.flatnonzero((m > _HIGH) | ((m > 0) & (m < _LOW)))


def _extreme(m):
    return m > _HIGH or 0.0 < m < _LOW


def _advice(m):
    e = int(round(math.log10(m)))
    return f"divide it by 1e{e}" if e > 0 else f"multiply it by 1e{-e}"


def _refuse(what, m):
    direction = "overflow" if m > 1.0 else "underflow"
    raise DataError(
        f"{what} is on an extreme scale (largest |value| {m:.3g}): its squares and "
        f"cross-products {direction} in double precision (beyond 2^±{EXTREME_EXPONENT}), so "
        f"the fit and its variances cannot be computed; rescale it ({_advice(m)}) and "
        "transform the estimates back")


def check_extreme_scales(X, colnames, reterms, y, response_name, offset, weights, *,
                         response_minus_offset):
    """Refuse variables whose magnitude is beyond 2^±500 (see the module docstring).

    Parameters
    ----------
    X : ndarray (n, p)
        The fixed-effects model matrix before rank-deficient columns are dropped.
    colnames : list of str
    reterms : list of ReTerm
        Their raw model matrices (``t.X``) are checked column by column.
    y : ndarray (n,) or (n, 2)
    response_name : str
    offset, weights : ndarray (n,)
    response_minus_offset : bool
        Check y − offset (a linear model's response is fitted net of the offset) rather than
        y and the offset separately (GLMMs: the offset is on the link scale).

    Raises
    ------
    DataError
        Naming the column (the model matrix's name, the random term, ``weights``, the
        response or ``offset``), its largest |value| and the factor to rescale it by.
    """
    if X.shape[1]:
        m = largest_magnitude(X, axis=0)
        for j in _bad_columns(m):
            _refuse(f"the fixed-effects column '{colnames[j]}'", float(m[j]))
    for t in reterms:
        Xt = np.asarray(t.X, dtype=float)
        if not Xt.size:
            continue
        m = largest_magnitude(Xt, axis=0)
        for j in _bad_columns(m):
            _refuse(f"the column '{t.cnms[j]}' of the random term ({t.term_label})",
                    float(m[j]))
    w = np.asarray(weights, dtype=float)
    if w.size and not (w.min() >= _LOW and w.max() <= _HIGH):    # else all are fine
        pos = w[w > 0]
        if pos.size:
            hi, lo = float(pos.max()), float(pos.min())
            if _extreme(hi):
                _refuse("the prior weights ('weights')", hi)
            if _extreme(lo):
                _refuse("the prior weights ('weights')", lo)
    check_response_scale(y, response_name, offset,
                         response_minus_offset=response_minus_offset)


def check_response_scale(y, response_name, offset=None, *, response_minus_offset=True):
    """The response part of :func:`check_extreme_scales` (also used by ``refit(newresp)``)."""
    yy = np.asarray(y, dtype=float)
    off = np.zeros(0) if offset is None else np.asarray(offset, dtype=float)
    if off.size and not off.any():
        off = np.zeros(0)
    if response_minus_offset and yy.ndim == 1 and off.shape == yy.shape:
        m = float(largest_magnitude(yy - off))
        if _extreme(m):
            _refuse(f"the response '{response_name}' minus the offset", m)
        return
    m = float(largest_magnitude(yy))
    if _extreme(m):
        _refuse(f"the response '{response_name}'", m)
    if off.size:
        m = float(largest_magnitude(off))
        if _extreme(m):
            _refuse("the offset", m)


#: columns whose largest |value| is beyond 2**±SCALE_EXPONENT (about 1e±3) get scaled
#: optimizer coordinates
SCALE_EXPONENT = 10
_SCALE_HIGH = 2.0 ** SCALE_EXPONENT
_SCALE_LOW = 2.0 ** -SCALE_EXPONENT


def column_exponents(M):
    """Per column of M: e = round(log2 max|column|) when that is beyond ±SCALE_EXPONENT, else 0
    (2^e is the factor the column is divided by to be on a unit scale)."""
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or not M.size:
        return np.zeros(M.shape[1] if M.ndim == 2 else 0, dtype=np.int64)
    m = largest_magnitude(M, axis=0)
    e = np.zeros(m.shape[0], dtype=np.int64)
    if _SCALE_LOW <= m.min() and m.max() <= _SCALE_HIGH:
        return e
    out = (m > _SCALE_HIGH) | ((m > 0) & (m < _SCALE_LOW))
    for j in np.flatnonzero(out & np.isfinite(m)):
        e[j] = int(round(math.log2(float(m[j]))))
    return e


def term_exponents(design):
    """:func:`column_exponents` of each random term's raw model matrix (one array per term)."""
    out = []
    for t in list(getattr(design, "reterms", None) or []):
        e = column_exponents(t.X)
        out.append(e if e.shape[0] == int(t.n_columns) else
                   np.zeros(int(t.n_columns), dtype=np.int64))
    return out


def weight_exponent(design):
    """Half the exponent of the prior weights' scale, for a linear mixed model whose largest
    weight is beyond 2^±(2·SCALE_EXPONENT): multiplying the weights by c multiplies σ by √c
    and leaves b alone, so θ (b's scale relative to σ) is divided by √c; 0 otherwise and for
    GLMMs (whose prior weights are part of the family's variance)."""
    info = getattr(design, "info", None)
    if isinstance(info, dict) and info.get("glmer"):
        return 0
    w = getattr(design, "weights", None)
    if w is None:
        return 0
    w = np.asarray(w, dtype=float)
    if not w.size:
        return 0
    m = float(np.max(w))
    if not (m > 0 and math.isfinite(m)):
        return 0
    ex = math.log2(m)
    return int(round(ex / 2)) if abs(ex) > 2 * SCALE_EXPONENT else 0


def coordinate_scale(design, *, beta=False):
    """Scale of each optimizer coordinate (``par`` — θ for unstructured terms —, then β when
    ``beta``), or None when all are 1 (see :mod:`lmerpy.optimize.coords`, which runs the
    optimizer in the coordinates x / s).

    The θ of row i of an unstructured term's template get 2^−e_i, where 2^e_i is the largest
    |value| of that term's column i (rounded to a power of 2) when it is beyond
    2^±SCALE_EXPONENT, times 2^−k for prior weights of scale 2^2k (:func:`weight_exponent`);
    a structured term's standard deviation of column i likewise (a homogeneous one only when
    its columns share the exponent), its correlation none; β_j gets 2^−e_j from the
    fixed-effects column j likewise.

    Parameters
    ----------
    design : lmerpy.design.structures.Design
    beta : bool
        Append β's scales (glmer's second stage optimizes (``par``, β)).
    """
    # a fit asks twice (start and optimizer): remembered on the design, valid while it holds
    # the same X, weights and terms (a copy of the design given other ones recomputes)
    memo = getattr(design, "__dict__", None)
    key = "_coordinate_scale_beta" if beta else "_coordinate_scale"
    inputs = tuple(getattr(design, name, None) for name in ("X", "weights", "reterms"))
    hit = memo.get(key) if memo is not None else None
    if hit is not None and all(a is b for a, b in zip(hit[0], inputs)):
        s = hit[1]
    else:
        s = _coordinate_scale(design, beta)
        if memo is not None:
            memo[key] = (inputs, s)
    return None if s is None else s.copy()


def _coordinate_scale(design, beta):
    parts, weighted = [], []
    for t, e in zip(list(getattr(design, "reterms", None) or []), term_exponents(design)):
        p = e.shape[0]
        cov = getattr(t, "covariance", None)
        if cov is None or cov.kind == "us":
            # θ of template column j: rows j, j+1, ..., p-1 (diagonal entry first)
            parts.extend(e[i] for j in range(p) for i in range(j, p))
            weighted.extend([1] * (p * (p + 1) // 2))
        else:
            sd = [int(e[0]) if np.all(e == e[0]) else 0] if cov.hom else [int(x) for x in e]
            parts.extend(sd + [0] * (cov.n_par - len(sd)))          # SDs, then the correlation
            weighted.extend([1] * len(sd) + [0] * (cov.n_par - len(sd)))
    n_par = getattr(design, "n_par", len(getattr(design, "theta", ())))
    if len(parts) != n_par:
        return None
    e_par = np.asarray(parts, dtype=np.int64) + np.asarray(weighted, dtype=np.int64) * \
        weight_exponent(design)
    exps = e_par
    if beta:
        exps = np.concatenate((e_par, column_exponents(design.X)))
    if not np.any(exps):
        return None
    return np.ldexp(1.0, -exps)


def start_par(design):
    """lme4's start of the optimizer's parameters (``par``; θ — 1 on the diagonals, 0 off
    them — for unstructured terms) for the problem with every random-effects column rescaled
    as :func:`coordinate_scale` says (the design's own start when no column is on an extreme
    scale)."""
    par = np.asarray(getattr(design, "par_start", design.theta), dtype=float)
    s = coordinate_scale(design)
    return par.copy() if s is None else par * s


def start_theta(design):
    """θ at :func:`start_par` (``design.theta`` times the θ scales for unstructured terms)."""
    layout = getattr(design, "layout", None)
    par = start_par(design)
    if layout is None or layout.is_identity:
        return par
    return layout.par_to_theta(par)


def scale_summary(design):
    """A sentence giving the magnitudes (largest |value|) of the response, of the
    fixed-effects columns with the largest and the smallest scale, and of the weights and
    offset when there are any: for error messages about scale."""
    parts = []
    y = np.asarray(design.y, dtype=float)
    resp = design.info.get("response") if isinstance(getattr(design, "info", None), dict) \
        else None
    parts.append(f"response '{resp or 'y'}': largest |value| {largest_magnitude(y):.3g}")
    X = np.asarray(design.X, dtype=float)
    names = list(design.X_colnames)
    if X.shape[1]:
        with np.errstate(invalid="ignore"):
            m = np.nanmax(np.abs(X), axis=0) if X.shape[0] else np.zeros(X.shape[1])
        cont = [j for j in range(X.shape[1]) if m[j] > 0]
        if cont:
            logs = np.log10(np.asarray([m[j] for j in cont]))
            big = cont[int(np.argmax(logs))]
            small = cont[int(np.argmin(logs))]
            parts.append(f"largest-scale column '{names[big]}': largest |value| {m[big]:.3g}")
            if small != big:
                parts.append(f"smallest-scale column '{names[small]}': largest |value| "
                             f"{m[small]:.3g}")
    w = np.asarray(design.weights, dtype=float)
    if w.size and not np.all(w == 1.0):
        pos = w[w > 0]
        if pos.size:
            parts.append(f"weights from {pos.min():.3g} to {pos.max():.3g}")
    off = np.asarray(design.offset, dtype=float)
    if off.size and np.any(off != 0):
        parts.append(f"offset: largest |value| {largest_magnitude(off):.3g}")
    return "Scales: " + "; ".join(parts) + "."
