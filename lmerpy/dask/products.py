"""Pass 2: one partition's cross-products, and the sum of two partial sums.

:func:`partition_products` runs on a worker: the model frame of the partition (rows with a
missing value dropped, as R's ``na.omit``), X and Z with the template's levels, and

* Z'WZ (sparse q×q), Z'WX, X'WX and X'X (unweighted, for lme4's rank check);
* the response's products about a shift s: Z'Wẽ, X'Wẽ, ẽ'Wẽ for ẽ = y − offset − Xs, with s
  the partition's own weighted least-squares fit (so ẽ'Wẽ is a residual sum of squares, free
  of the cancellation a large response mean would cause);
* n, Σ log w, rows dropped, maxima (|columns| of each random term, weights) for the scale
  checks, min and max of y − offset (a constant response is an error), and what lme4's start
  for scalar random intercepts needs (per Z row: count and Σ y; Σ y and Σ (y − ȳ)²).

:func:`combine` adds two partial sums. The response's products are moved to a common shift
c (the pooled least-squares fit) before they are added; for a part with shift s and d = s − c::

    Z'W(y − Xc) = Z'Wẽ + Z'WX d
    X'W(y − Xc) = X'Wẽ + X'WX d
    (y − Xc)'W(y − Xc) = ẽ'Wẽ + 2 d'X'Wẽ + d'X'WX d

(every term of the last line is small or non-negative: no cancellation). ``None`` is the
empty sum (an empty partition, or one whose rows all have a missing value).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import DataError

__all__ = ["partition_design", "partition_products", "combine", "recenter"]


def _zt(template, terms, m):
    """Zt (q × m, CSC) of one partition with the template's row layout."""
    q = int(template.q)
    if m == 0 or not terms:
        return sp.csc_matrix((q, m))
    rows, vals = [], []
    for t, (codes, Xi) in zip(template.reterms, terms):
        nc = int(t.n_columns)
        rows.append(int(t.row_offset) + codes[:, None] * nc + np.arange(nc)[None, :])
        vals.append(np.asarray(Xi, dtype=float).reshape(m, nc))
    R = np.hstack(rows)                      # rows ascend within each observation
    V = np.hstack(vals)
    k = R.shape[1]
    return sp.csc_matrix((V.ravel(), R.ravel(), np.arange(m + 1) * k), shape=(q, m))


def partition_design(df, template, formula, weights, offset, index, glmer=False):
    """One partition's model frame and matrices with the template's levels: a dict (``frame``,
    ``sub`` (the complete rows), ``m``, ``X``, ``y`` (an (m, 2) array for ``cbind()``; 0/1
    for a factor response, first level of the whole data = failure), ``off``, ``w``, ``Zt``,
    ``terms``), or None (no row), or ``{"empty": True, "n_dropped": ...}`` (no complete
    row)."""
    from ..design.frame import build_frame
    from ..design.newdata import model_matrices_for
    from ..design.values import Factor
    if len(df) == 0:
        return None
    used = [c for c in formula.all_vars()] + [a for a in (weights, offset) if a is not None]
    if not df[list(dict.fromkeys(used))].notna().all(axis=1).any():
        return {"empty": True, "n_dropped": int(len(df))}
    frame = build_frame(formula, df, weights=weights, offset=offset, na_action="omit",
                        glmer=glmer)
    kept = frame.kept
    sub = df if kept.all() else df[kept]
    m = int(frame.n)
    nd = model_matrices_for(template, sub)
    for t, (codes, _) in zip(template.reterms, nd.terms):
        if np.any(codes < 0):
            bad = sorted(set(np.asarray(nd.unknown_levels.get(t.group_name, []), dtype=object)
                             .tolist()))
            raise DataError(f"partition {index}: grouping factor '{t.group_name}' has levels "
                            f"the levels pass did not see ({', '.join(map(str, bad[:5]))})")
    resp = frame.response
    if isinstance(resp, Factor):        # glmer: first level of the whole data = failure
        first = (template.info.get("response_levels") or [None])[0]
        y = (np.asarray(resp.levels, dtype=object)[resp.codes] != first).astype(float)
    else:
        y = np.asarray(resp.values, dtype=float)
        y = y.reshape(m, 2) if (glmer and y.ndim == 2 and y.shape[1] == 2) else y.reshape(m)
    return {"frame": frame, "sub": sub, "m": m, "X": np.ascontiguousarray(nd.X, dtype=float),
            "y": y, "off": np.asarray(frame.offset, dtype=float).reshape(m),
            "w": (np.ones(m) if frame.weights is None
                  else np.asarray(frame.weights, dtype=float)),
            "Zt": _zt(template, nd.terms, m), "terms": nd.terms}


def partition_products(df, template, formula, weights, offset, index):
    """The partial sums of one partition (``index``: its position, for messages), or None."""
    from ..pls.crossprod import CrossProducts
    pd_ = partition_design(df, template, formula, weights, offset, index)
    if pd_ is None or pd_.get("empty"):
        return pd_
    m, X, y, off, w, Zt = (pd_[k] for k in ("m", "X", "y", "off", "w", "Zt"))
    nd_terms = pd_["terms"]
    cp = CrossProducts(Zt, X, w)
    yo = y - off
    sw = np.sqrt(w)
    p = X.shape[1]
    s = (np.linalg.lstsq(sw[:, None] * X, sw * yo, rcond=None)[0] if p and m
         else np.zeros(p))
    e = yo - X @ s if p else yo
    we = w * e
    with np.errstate(divide="ignore"):
        slw = float(np.sum(np.log(w)))
    ybar = float(y.mean())
    return {
        "empty": False, "n": m, "n_dropped": int(len(df) - m), "sum_log_w": slw,
        "ZtWZ": sp.csc_matrix(cp.ZtWZ), "ZtWX": np.asarray(cp.ZtWX), "XtWX": cp.XtWX,
        "XtX": X.T @ X, "shift": s, "ZtWe": np.asarray(Zt @ we).reshape(-1), "XtWe": X.T @ we,
        "eWe": float(e @ we),
        "col_max": [np.max(np.abs(Xi), axis=0) if m else np.zeros(np.shape(Xi)[1])
                    for _, Xi in nd_terms],
        "w_max": float(np.max(w)), "yo_min": float(yo.min()), "yo_max": float(yo.max()),
        "z_count": np.bincount(Zt.indices, minlength=Zt.shape[0]).astype(float),
        "z_ysum": np.asarray(Zt @ y).reshape(-1), "y_mean": ybar,
        "y_m2": float(np.sum((y - ybar) ** 2)),
    }


def recenter(a, c):
    """The response's products of partial sum ``a`` about the shift ``c`` instead of its own."""
    d = a["shift"] - c
    XWd = a["XtWX"] @ d
    out = dict(a)
    out["shift"] = c
    out["ZtWe"] = a["ZtWe"] + a["ZtWX"] @ d
    out["XtWe"] = a["XtWe"] + XWd
    out["eWe"] = float(a["eWe"] + 2.0 * d @ a["XtWe"] + d @ XWd)
    return out


def pooled_shift(parts):
    """The weighted least-squares fit of the pooled parts: X'WX c = Σ (X'WX s + X'Wẽ)."""
    A = sum(a["XtWX"] for a in parts)
    b = sum(a["XtWX"] @ a["shift"] + a["XtWe"] for a in parts)
    if not A.shape[0]:
        return np.zeros(0)
    return np.linalg.lstsq(A, b, rcond=None)[0]


def combine(a, b):
    """The partial sum of two partial sums (None or empty: nothing)."""
    if a is None or a.get("empty"):
        return _add_dropped(b, a)
    if b is None or b.get("empty"):
        return _add_dropped(a, b)
    c = pooled_shift((a, b))
    a, b = recenter(a, c), recenter(b, c)
    n = a["n"] + b["n"]
    delta = b["y_mean"] - a["y_mean"]
    out = {
        "empty": False, "n": n, "n_dropped": a["n_dropped"] + b["n_dropped"],
        "sum_log_w": a["sum_log_w"] + b["sum_log_w"],
        "ZtWZ": sp.csc_matrix(a["ZtWZ"] + b["ZtWZ"]),
        "shift": c, "eWe": a["eWe"] + b["eWe"],
        "col_max": [np.maximum(x, y) for x, y in zip(a["col_max"], b["col_max"])],
        "w_max": max(a["w_max"], b["w_max"]), "yo_min": min(a["yo_min"], b["yo_min"]),
        "yo_max": max(a["yo_max"], b["yo_max"]),
        "y_mean": a["y_mean"] + delta * b["n"] / n,
        "y_m2": a["y_m2"] + b["y_m2"] + delta * delta * a["n"] * b["n"] / n,
    }
    for k in ("ZtWX", "XtWX", "XtX", "ZtWe", "XtWe", "z_count", "z_ysum"):
        out[k] = a[k] + b[k]
    return out


def _add_dropped(a, b):
    """``a`` with the rows ``b`` (None or an empty part) dropped added to its count."""
    if b is None:
        return a
    if a is None:
        return b
    out = dict(a)
    out["n_dropped"] = a["n_dropped"] + b["n_dropped"]
    return out


def combine_many(*parts):
    """:func:`combine` over several partial sums (one node of the tree reduction)."""
    out = None
    for p in parts:
        out = combine(out, p)
    return out
