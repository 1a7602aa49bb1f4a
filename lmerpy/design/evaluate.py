"""Evaluate formula expressions on a DataFrame through a fixed table of functions.

Formulas are data, never code: an expression node (``lmerpy.formula.terms``) is evaluated by
walking it and dispatching each call through :data:`FUNCTIONS`; nothing is ever handed to
``eval``. R equivalent: evaluating ``attr(terms, "variables")`` in the data (what
``model.frame`` does), with ``predvars`` (``poly`` coefficients, ``scale`` centres) kept so the
same variables can be rebuilt on new data (``makepredictcall``).

Values are :class:`Numeric` (a vector or a matrix with column names) or :class:`Factor`
(integer codes into levels; R logicals are factors with levels ``FALSE``/``TRUE``).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, UnknownColumnError
from ..formula.terms import BinOp, Call, Constant, Name, Number, UnaryOp
from .naming import deparse
from .rformat import format_number, r_sort_key

__all__ = ["Numeric", "Factor", "Evaluator", "FUNCTIONS", "column_value", "to_factor",
           "is_missing", "take", "drop_unused", "relabel", "poly_fit", "poly_predict"]


# --------------------------------------------------------------------------- values


@dataclass
class Numeric:
    """A numeric variable: ``values`` has shape (n,) or, for a matrix (``poly``, ``cbind``,
    ``scale``), (n, k) with optional ``colnames``; ``integer`` marks an integer column (its
    factor labels are printed in full, as R prints integers)."""

    values: np.ndarray
    colnames: Optional[List[str]] = None
    integer: bool = False

    @property
    def is_matrix(self) -> bool:
        return self.values.ndim == 2

    @property
    def ncol(self) -> int:
        return self.values.shape[1] if self.values.ndim == 2 else 1


@dataclass
class Factor:
    """A factor: ``codes`` (int64, -1 for missing) index ``levels`` (strings, R's order).

    ``logical`` marks an R logical (levels always ``FALSE``, ``TRUE``: never dropped);
    ``ordered`` an ordered factor (``contr.poly`` by default).
    """

    codes: np.ndarray
    levels: List[str]
    ordered: bool = False
    logical: bool = False

    @property
    def ncol(self) -> int:
        return 1


Value = Any  # Numeric | Factor | scalar literal (float, bool, str, None, list)


def is_missing(v) -> np.ndarray:
    """Row-wise missingness (R's ``is.na``; NaN counts as missing, as in ``na.omit``)."""
    if isinstance(v, Factor):
        return v.codes < 0
    vals = v.values
    if vals.ndim == 2:
        return np.isnan(vals).any(axis=1)
    return np.isnan(vals)


def take(v, rows):
    """The value restricted to ``rows`` (an index array or boolean mask)."""
    if isinstance(v, Factor):
        return Factor(v.codes[rows], list(v.levels), v.ordered, v.logical)
    return Numeric(v.values[rows], v.colnames, v.integer)


def factor_from_labels(labels: np.ndarray, missing: np.ndarray, levels=None,
                       ordered=False) -> Factor:
    """A factor from an array of string labels (levels sorted as R sorts, unless given)."""
    present = labels[~missing]
    if levels is None:
        levels = sorted(set(present.tolist()), key=r_sort_key)
    index = {lv: i for i, lv in enumerate(levels)}
    codes = np.full(labels.shape[0], -1, dtype=np.int64)
    if present.size:
        codes[~missing] = [index.get(s, -1) for s in present.tolist()]
    return Factor(codes, list(levels), ordered)


def to_factor(v, name: str = "") -> Factor:
    """R's ``factor(x)``: numbers become levels sorted numerically and labelled as R prints
    them; a logical keeps its observed levels; a factor is returned unchanged."""
    if isinstance(v, Factor):
        if v.logical:
            used = sorted(set(v.codes[v.codes >= 0].tolist()))
            remap = np.full(2, -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            codes = np.where(v.codes >= 0, remap[np.maximum(v.codes, 0)], -1)
            return Factor(codes, [v.levels[i] for i in used])
        return v
    vals = np.asarray(v.values, dtype=float)
    if vals.ndim == 2:
        if vals.shape[1] != 1:
            raise FormulaError(f"cannot make a factor of the matrix '{name}'")
        vals = vals[:, 0]
    missing = np.isnan(vals)
    uniq, inv = np.unique(vals[~missing], return_inverse=True)
    codes = np.full(vals.shape[0], -1, dtype=np.int64)
    codes[~missing] = inv
    return Factor(codes, [format_number(u, integer=v.integer) for u in uniq])


def _label(x, integer=False) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return format_number(float(x), integer=integer)
    return str(x)


def column_value(series: pd.Series, name: str) -> Any:
    """Convert one DataFrame column to a :class:`Numeric` or :class:`Factor` (R's view of it:
    strings, booleans and Categoricals are factors; numbers are numeric)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        integer = pd.api.types.is_integer_dtype(cats.dtype)
        levels = [_label(c, integer) for c in cats]
        if len(set(levels)) != len(levels):
            raise DataError(f"column '{name}' has categories that print alike: {levels}")
        codes = np.asarray(series.cat.codes, dtype=np.int64)
        return Factor(codes, levels, bool(dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype):
        missing = np.asarray(series.isna(), dtype=bool)
        vals = series.to_numpy(dtype=object)
        codes = np.where(missing, -1, np.asarray([bool(x) if not m else False
                                                  for x, m in zip(vals, missing)], dtype=np.int64))
        return Factor(codes.astype(np.int64), ["FALSE", "TRUE"], logical=True)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        integer = pd.api.types.is_integer_dtype(dtype)
        vals = series.to_numpy(dtype=float, na_value=np.nan)
        return Numeric(np.asarray(vals, dtype=float), None, integer)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) \
            or pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"column '{name}' has type {dtype}, which a model formula cannot use; "
                        f"convert it to numbers or strings")
    # object / string columns
    raw = series.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(series), dtype=bool)
    present = [x for x, m in zip(raw, missing) if not m]
    if present and all(isinstance(x, (bool, np.bool_)) for x in present):
        codes = np.array([-1 if m else int(bool(x)) for x, m in zip(raw, missing)], dtype=np.int64)
        return Factor(codes, ["FALSE", "TRUE"], logical=True)
    if present and all(isinstance(x, (int, float, np.integer, np.floating))
                       and not isinstance(x, (bool, np.bool_)) for x in present):
        integer = all(isinstance(x, (int, np.integer)) for x in present)
        vals = np.array([np.nan if m else float(x) for x, m in zip(raw, missing)], dtype=float)
        return Numeric(vals, None, integer)
    labels = np.array(["" if m else _label(x) for x, m in zip(raw, missing)], dtype=object)
    return factor_from_labels(labels, missing)


# --------------------------------------------------------------------------- poly and scale


def poly_fit(x: np.ndarray, degree: int):
    """R's ``poly(x, degree)`` (orthogonal): values and the ``alpha``/``norm2`` coefficients.

    Computed on the non-missing entries (R refuses missing values; rows with a missing ``x``
    get NaN here and are dropped with the rest of the row by the model frame).
    """
    ok = ~np.isnan(x)
    xv = x[ok]
    if degree < 1:
        raise DataError("poly: 'degree' must be at least 1")
    if degree >= np.unique(xv).size:
        raise DataError(f"poly: 'degree' must be less than number of unique points "
                        f"(degree {degree}, {np.unique(xv).size} unique values)")
    xbar = xv.mean()
    xc = xv - xbar
    vander = np.power.outer(xc, np.arange(degree + 1))
    q, r = np.linalg.qr(vander)
    z = q * np.diag(r)
    norm2 = (z ** 2).sum(axis=0)
    alpha = ((xc[:, None] * z ** 2).sum(axis=0) / norm2 + xbar)[:degree]
    norm2 = np.concatenate([[1.0], norm2])
    z = z / np.sqrt(norm2[1:])
    out = np.full((x.shape[0], degree), np.nan)
    out[ok] = z[:, 1:]
    return out, {"alpha": alpha, "norm2": norm2}


def poly_predict(x: np.ndarray, degree: int, alpha, norm2) -> np.ndarray:
    """R's ``predict(poly(...), newdata)``: the three-term recurrence with stored coefficients."""
    alpha = np.asarray(alpha, dtype=float)
    norm2 = np.asarray(norm2, dtype=float)
    z = np.empty((x.shape[0], degree + 1))
    z[:, 0] = 1.0
    z[:, 1] = x - alpha[0]
    for j in range(2, degree + 1):
        z[:, j] = (x - alpha[j - 1]) * z[:, j - 1] - (norm2[j] / norm2[j - 1]) * z[:, j - 2]
    z = z / np.sqrt(norm2[1:])
    return z[:, 1:]


# --------------------------------------------------------------------------- the evaluator


class Evaluator:
    """Evaluate expression nodes on a DataFrame.

    Parameters
    ----------
    data : pandas.DataFrame
        Read only; never modified.
    state : dict, optional
        Coefficients learned at fit time (``poly``, ``scale``, factor levels), keyed by the call
        node. Filled when ``fit=True``; read to rebuild variables on new data when ``fit=False``.
    fit : bool
    """

    def __init__(self, data: pd.DataFrame, state: Optional[dict] = None, fit: bool = True):
        self.data = data
        self.n = len(data)
        self.state = {} if state is None else state
        self.fit = fit
        self._columns = {}
        for c in data.columns:
            self._columns.setdefault(str(c), c)
        self._cache: Dict[Any, Any] = {}

    # ---- entry point
    def __call__(self, expr) -> Any:
        key = expr
        if key in self._cache:
            return self._cache[key]
        out = self._eval(expr)
        self._cache[key] = out
        return out

    def variable(self, expr) -> Any:
        """Evaluate a model variable: scalars are recycled to the number of rows."""
        v = self(expr)
        if isinstance(v, (Numeric, Factor)):
            return v
        if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
            return Numeric(np.full(self.n, float(v)))
        if isinstance(v, (bool, np.bool_)):
            return Factor(np.full(self.n, int(v), dtype=np.int64), ["FALSE", "TRUE"],
                          logical=True)
        raise FormulaError(f"'{deparse(expr)}' is not a variable (it evaluates to {v!r})")

    # ---- dispatch
    def _eval(self, expr):
        if isinstance(expr, Name):
            return self._lookup(expr.name)
        if isinstance(expr, Number):
            return float(expr.value)
        if isinstance(expr, Constant):
            v = expr.value
            if v is None and expr.text not in ("NULL",):
                return np.nan
            return v
        if isinstance(expr, UnaryOp):
            val = self(expr.operand)
            if expr.op == "!":
                return _logical_op(lambda a, b: ~a, val, val, "!")
            num = _as_numeric(val, expr.op)
            return _apply(lambda a: -a if expr.op == "-" else +a, num)
        if isinstance(expr, BinOp):
            return _binop(expr.op, self(expr.left), self(expr.right), expr)
        if isinstance(expr, Call):
            fn = FUNCTIONS.get(expr.func)
            if fn is None:
                close = difflib.get_close_matches(expr.func, FUNCTIONS.keys(), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise FormulaError(
                    f"unknown function '{expr.func}' in '{deparse(expr)}'{hint} "
                    f"(supported: {', '.join(sorted(k for k in FUNCTIONS if k != 'c'))})")
            return fn(self, expr)
        raise FormulaError(f"cannot evaluate {expr!r}")

    def _lookup(self, name: str):
        col = self._columns.get(name)
        if col is None:
            cols = list(self._columns)
            close = difflib.get_close_matches(name, cols, n=3, cutoff=0.6)
            close += [c for c in cols if c.lower() == name.lower() and c not in close]
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownColumnError(f"column '{name}' not found in data{hint}")
        v = column_value(self.data[col], name)
        key = ("levels", name)
        if isinstance(v, Factor) and not v.logical:
            if self.fit:
                self.state.setdefault(key, list(v.levels))
            elif key in self.state:  # fit-time codes first; labels new to the fit after them
                fit_levels = list(self.state[key])
                known = set(fit_levels)
                v = relabel(v, fit_levels + [lv for lv in v.levels if lv not in known])
        return v


def relabel(v: Factor, levels: List[str]) -> Factor:
    """Recode a factor onto another level set by label (labels not in ``levels`` become -1)."""
    index = {lv: i for i, lv in enumerate(levels)}
    remap = np.array([index.get(lv, -1) for lv in v.levels] + [-1], dtype=np.int64)
    codes = remap[np.where(v.codes >= 0, v.codes, len(v.levels))]
    return Factor(codes, list(levels), v.ordered, v.logical)


# --------------------------------------------------------------------------- helpers


def _as_numeric(v, what: str):
    if isinstance(v, Factor):
        if v.logical:
            return Numeric(np.where(v.codes < 0, np.nan, v.codes.astype(float)))
        raise FormulaError(f"'{what}' is not meaningful for factors (levels "
                           f"{', '.join(v.levels[:5])}{', ...' if len(v.levels) > 5 else ''})")
    if isinstance(v, Numeric):
        return v
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    raise FormulaError(f"'{what}' needs numbers, got {v!r}")


def _raw(v):
    return v.values if isinstance(v, Numeric) else v


def _align(a, b):
    """Broadcast an (n,) vector against an (n, k) matrix column-wise (R's recycling)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim == 2 and b.ndim == 1:
            b = b[:, None]
        elif a.ndim == 1 and b.ndim == 2:
            a = a[:, None]
    return a, b


def _wrap(res, *operands):
    if not isinstance(res, np.ndarray) or res.ndim == 0:
        return float(res)
    colnames = None
    for o in operands:
        if isinstance(o, Numeric) and o.is_matrix:
            colnames = o.colnames
            break
    return Numeric(np.asarray(res, dtype=float), colnames if res.ndim == 2 else None)


def _apply(fn, v):
    with np.errstate(all="ignore"):
        res = fn(_raw(v))
    return _wrap(res, v)


def _r_mod(a, b):
    return a - np.floor(a / b) * b


_ARITH: Dict[str, Callable] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "^": np.power,
    "%%": _r_mod, "%/%": lambda a, b: np.floor(a / b),
}
_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
            "<=": np.less_equal, ">=": np.greater_equal}


def _to_bool(v):
    if isinstance(v, Factor):
        if not v.logical:
            raise FormulaError("logical operators need logical values, not factors")
        return v.codes == 1, v.codes < 0
    x = np.asarray(_raw(v), dtype=float)
    return x != 0, np.isnan(x)


def _logical_op(fn, a, b, op):
    xa, ma = _to_bool(a)
    xb, mb = _to_bool(b)
    res = fn(xa, xb)
    miss = np.broadcast_to(ma | mb, np.shape(res))
    return _logical_result(res, miss)


def _logical_result(res, miss):
    res = np.asarray(res)
    if res.ndim == 0:
        return bool(res)
    codes = np.where(miss, -1, res.astype(np.int64))
    return Factor(codes.astype(np.int64), ["FALSE", "TRUE"], logical=True)


def _binop(op, a, b, expr):
    if op in _ARITH:
        na, nb = _as_numeric(a, op), _as_numeric(b, op)
        x, y = _align(_raw(na), _raw(nb))
        with np.errstate(all="ignore"):
            res = _ARITH[op](x, y)
        return _wrap(res, na, nb)
    if op in _COMPARE:
        if isinstance(a, Factor) and not a.logical and isinstance(b, str):
            labels = np.array(a.levels + [""], dtype=object)
            res = _COMPARE[op](labels[np.where(a.codes >= 0, a.codes, len(a.levels))], b)
            return _logical_result(res.astype(bool), a.codes < 0)
        na, nb = _as_numeric(a, op), _as_numeric(b, op)
        x, y = _align(_raw(na), _raw(nb))
        with np.errstate(all="ignore"):
            res = _COMPARE[op](x, y)
            miss = np.isnan(x) | np.isnan(y) if np.ndim(res) else False
        return _logical_result(res, np.asarray(miss))
    if op in ("&", "&&"):
        return _logical_op(np.logical_and, a, b, op)
    if op in ("|", "||"):
        return _logical_op(np.logical_or, a, b, op)
    raise FormulaError(f"operator '{op}' cannot be used inside '{deparse(expr)}'")


def _literal(ev, expr):
    """A literal argument: number, string, TRUE/FALSE, ``c(...)`` of those, or ``-number``."""
    if isinstance(expr, Number):
        return float(expr.value)
    if isinstance(expr, Constant):
        return expr.value
    if isinstance(expr, UnaryOp) and expr.op == "-" and isinstance(expr.operand, Number):
        return -float(expr.operand.value)
    if isinstance(expr, Call) and expr.func == "c":
        return [_literal(ev, a) for a in expr.args]
    raise FormulaError(f"'{deparse(expr)}' must be a constant here")


def _bind(call: Call, params: List[str], required: int = 1) -> Dict[str, Any]:
    """Match a call's arguments to parameter names as R does (positional, then by exact or
    unique partial name)."""
    out: Dict[str, Any] = {}
    free = list(params)
    for k, v in call.kwargs:
        match = k if k in params else None
        if match is None:
            cands = [p for p in params if p.startswith(k)]
            if len(cands) == 1:
                match = cands[0]
        if match is None or match in out:
            raise FormulaError(f"unused argument '{k}' in '{deparse(call)}' "
                               f"({call.func} takes {', '.join(params)})")
        out[match] = v
        free.remove(match)
    args = list(call.args)
    for p in free:
        if not args:
            break
        out[p] = args.pop(0)
    if args:
        raise FormulaError(f"too many arguments in '{deparse(call)}' "
                           f"({call.func} takes {', '.join(params)})")
    missing = [p for p in params[:required] if p not in out]
    if missing:
        raise FormulaError(f"'{deparse(call)}' needs argument '{missing[0]}'")
    return out


# --------------------------------------------------------------------------- function table


def _unary_math(fn):
    def handler(ev, call):
        a = _bind(call, ["x"])
        return _apply(fn, _as_numeric(ev(a["x"]), call.func))
    return handler


def _f_log(ev, call):
    a = _bind(call, ["x", "base"])
    x = _as_numeric(ev(a["x"]), "log")
    if "base" not in a:
        return _apply(np.log, x)
    base = _as_numeric(ev(a["base"]), "log")
    with np.errstate(all="ignore"):
        return _wrap(np.log(_raw(x)) / np.log(_raw(base)), x)


def _f_round(ev, call):
    a = _bind(call, ["x", "digits"])
    d = int(_literal(ev, a["digits"])) if "digits" in a else 0
    return _apply(lambda v: np.round(v, d), _as_numeric(ev(a["x"]), "round"))


def _f_identity(ev, call):
    a = _bind(call, ["x"])
    return ev(a["x"])


def _f_as_numeric(ev, call):
    a = _bind(call, ["x"])
    v = ev(a["x"])
    if isinstance(v, Factor):
        if v.logical:
            return Numeric(np.where(v.codes < 0, np.nan, v.codes.astype(float)))
        return Numeric(np.where(v.codes < 0, np.nan, v.codes + 1.0), integer=True)
    return _as_numeric(v, call.func)


def drop_unused(f: Factor) -> Factor:
    """R's ``droplevels``/``factor(f)``: remove levels no observation uses (logicals keep both)."""
    if f.logical:
        return f
    used = np.zeros(len(f.levels), dtype=bool)
    used[f.codes[f.codes >= 0]] = True
    if used.all():
        return f
    remap = np.cumsum(used) - 1
    codes = np.where(f.codes >= 0, remap[np.maximum(f.codes, 0)], -1).astype(np.int64)
    return Factor(codes, [lv for lv, u in zip(f.levels, used) if u], f.ordered, False)


def _f_factor(ev, call):
    a = _bind(call, ["x", "levels", "labels", "exclude", "ordered"])
    if "labels" in a or "exclude" in a:
        raise FormulaError(f"'{deparse(call)}': only the 'levels' and 'ordered' arguments of "
                           f"{call.func}() are supported")
    v = ev.variable(a["x"])
    is_factor = isinstance(v, Factor) and not v.logical
    if is_factor and call.func in ("as.factor", "as.ordered"):
        f = v
    elif is_factor:
        f = drop_unused(v)
    else:
        f = to_factor(v, deparse(a["x"]))
    if "levels" in a:
        lv = _literal(ev, a["levels"])
        f = relabel(f, [_label(x) for x in (lv if isinstance(lv, list) else [lv])])
    if call.func in ("ordered", "as.ordered"):
        ordered = True
    elif "ordered" in a:
        ordered = bool(_literal(ev, a["ordered"]))
    else:
        ordered = is_factor and v.ordered
    return Factor(f.codes, list(f.levels), ordered, False)


def _f_relevel(ev, call):
    a = _bind(call, ["x", "ref"], required=2)
    f = ev.variable(a["x"])
    if not isinstance(f, Factor) or f.logical:
        raise FormulaError(f"'{deparse(call)}': relevel needs a factor")
    ref = _label(_literal(ev, a["ref"]))
    if ref not in f.levels:
        raise DataError(f"'{deparse(call)}': '{ref}' is not a level of "
                        f"'{deparse(a['x'])}' (levels: {', '.join(f.levels)})")
    new = [ref] + [lv for lv in f.levels if lv != ref]
    return relabel(f, new)


def _f_scale(ev, call):
    a = _bind(call, ["x", "center", "scale"])
    x = _as_numeric(ev(a["x"]), "scale")
    vals = np.asarray(_raw(x), dtype=float)
    if vals.ndim == 2:
        if vals.shape[1] != 1:
            raise FormulaError(f"'{deparse(call)}': scale() of a matrix is not supported")
        vals = vals[:, 0]
    key = ("scale", call)
    if ev.fit or key not in ev.state:
        ok = vals[~np.isnan(vals)]
        cspec = _literal(ev, a["center"]) if "center" in a else True
        sspec = _literal(ev, a["scale"]) if "scale" in a else True
        center = float(ok.mean()) if cspec is True else (0.0 if cspec is False else float(cspec))
        centred = ok - center
        if sspec is True:
            scale = float(np.sqrt((centred ** 2).sum() / max(1, ok.size - 1)))
        elif sspec is False:
            scale = 1.0
        else:
            scale = float(sspec)
        ev.state[key] = {"center": center, "scale": scale}
    st = ev.state[key]
    return Numeric(((vals - st["center"]) / st["scale"])[:, None], None)


def _f_poly(ev, call):
    a = _bind(call, ["x", "degree", "coefs", "raw"])
    x = _as_numeric(ev(a["x"]), "poly")
    vals = np.asarray(_raw(x), dtype=float)
    if vals.ndim != 1:
        raise FormulaError(f"'{deparse(call)}': poly() of several variables is not supported")
    degree = int(_literal(ev, a["degree"])) if "degree" in a else 1
    raw = bool(_literal(ev, a["raw"])) if "raw" in a else False
    names = [str(i) for i in range(1, degree + 1)]
    if raw:
        if degree < 1:
            raise DataError("poly: 'degree' must be at least 1")
        return Numeric(np.power.outer(vals, np.arange(1, degree + 1)), names)
    key = ("poly", call)
    if ev.fit or key not in ev.state:
        out, coefs = poly_fit(vals, degree)
        ev.state[key] = coefs
        return Numeric(out, names)
    coefs = ev.state[key]
    return Numeric(poly_predict(vals, degree, coefs["alpha"], coefs["norm2"]), names)


def _f_offset(ev, call):
    a = _bind(call, ["object"])
    v = _as_numeric(ev(a["object"]), "offset")
    if not isinstance(v, Numeric):
        return Numeric(np.full(ev.n, float(v)))
    return v


def _f_cbind(ev, call):
    cols, names = [], []
    items = [(None, x) for x in call.args] + list(call.kwargs)
    for k, x in items:
        v = _as_numeric(ev(x), "cbind")
        vals = np.asarray(_raw(v), dtype=float)
        if vals.ndim == 0:
            vals = np.full(ev.n, float(vals))
        if vals.ndim == 2:
            cols.extend(vals.T)
            names.extend(v.colnames or [""] * vals.shape[1])
        else:
            cols.append(vals)
            names.append(k if k is not None else (x.name if isinstance(x, Name) else ""))
    return Numeric(np.column_stack(cols), names)


def _f_pminmax(fn):
    def handler(ev, call):
        vals = [_raw(_as_numeric(ev(x), call.func)) for x in call.args]
        if not vals:
            raise FormulaError(f"'{deparse(call)}' needs arguments")
        out = vals[0]
        for v in vals[1:]:
            out = fn(out, v)
        return _wrap(np.asarray(out, dtype=float) if np.ndim(out) else out)
    return handler


def _f_c(ev, call):
    return _literal(ev, call)


FUNCTIONS: Dict[str, Callable[[Evaluator, Call], Any]] = {
    "log": _f_log,
    "log10": _unary_math(np.log10), "log2": _unary_math(np.log2), "log1p": _unary_math(np.log1p),
    "exp": _unary_math(np.exp), "expm1": _unary_math(np.expm1), "sqrt": _unary_math(np.sqrt),
    "abs": _unary_math(np.abs), "sin": _unary_math(np.sin), "cos": _unary_math(np.cos),
    "tan": _unary_math(np.tan), "floor": _unary_math(np.floor),
    "ceiling": _unary_math(np.ceil), "trunc": _unary_math(np.trunc),
    "sign": _unary_math(np.sign), "round": _f_round,
    "I": _f_identity, "scale": _f_scale, "poly": _f_poly, "offset": _f_offset,
    "factor": _f_factor, "as.factor": _f_factor, "ordered": _f_factor, "as.ordered": _f_factor,
    "relevel": _f_relevel,
    "as.numeric": _f_as_numeric, "as.double": _f_as_numeric, "as.integer": _f_as_numeric,
    "cbind": _f_cbind, "pmin": _f_pminmax(np.fmin), "pmax": _f_pminmax(np.fmax), "c": _f_c,
}
