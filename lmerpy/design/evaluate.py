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
from typing import Any, Callable, Dict, Optional

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, UnknownColumnError
from ..formula.terms import BinOp, Call, Constant, Name, Number, UnaryOp
from ..formula.walk import trampoline
from .functions import (FUNCTIONS, align, apply_elementwise, as_numeric, poly_fit,
                        poly_predict, values_of, wrap)
from .naming import deparse
from .values import (Factor, Numeric, Temporal, array_value, column_array, column_value,
                     drop_unused, is_missing, label, relabel, take, temporal_format, to_factor)

__all__ = ["Numeric", "Factor", "Evaluator", "FUNCTIONS", "column_value", "to_factor",
           "is_missing", "take", "drop_unused", "relabel", "poly_fit", "poly_predict"]


# --------------------------------------------------------------------------- the evaluator

_CONSTANTS = {"pi": float(np.pi), "T": True, "F": False}


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
        self._columns: Dict[str, Any] = {}
        self._repeated: Dict[str, int] = {}     # names held by more than one column
        for c in data.columns:
            if str(c) in self._columns:
                self._repeated[str(c)] = self._repeated.get(str(c), 1) + 1
            self._columns.setdefault(str(c), c)
        self._cache: Dict[Any, Any] = {}

    # ---- entry point
    def __call__(self, expr) -> Any:
        if expr in self._cache:
            return self._cache[expr]
        return trampoline(self._cached(expr))

    # Operators are evaluated on an explicit stack (walk.trampoline): ``I(x1 + x2 + ... +
    # x5000)`` is a chain as deep as it is long. Function calls recurse through their handlers
    # (FUNCTIONS); the parser bounds how deeply calls may nest (MAX_CALL_NESTING).
    def _cached(self, expr):
        if expr in self._cache:
            return self._cache[expr]
        out = yield self._eval(expr)
        self._cache[expr] = out
        return out

    def variable(self, expr) -> Any:
        """Evaluate a model variable: scalars are recycled to the number of rows."""
        v = self(expr)
        if isinstance(v, (Numeric, Factor, Temporal)):
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
            val = yield self._cached(expr.operand)
            if expr.op == "!":
                return _logical_op(lambda a, b: ~a, val, val, "!")
            num = as_numeric(val, expr.op)
            return apply_elementwise(lambda a: -a if expr.op == "-" else +a, num)
        if isinstance(expr, BinOp):
            left = yield self._cached(expr.left)
            right = yield self._cached(expr.right)
            return _binop(expr.op, left, right, expr)
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
        if col is None and name in _CONSTANTS:  # R's base constants, when no column has the name
            return _CONSTANTS[name]
        if col is None:
            cols = list(self._columns)
            close = difflib.get_close_matches(name, cols, n=3, cutoff=0.6)
            close += [c for c in cols if c.lower() == name.lower() and c not in close]
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownColumnError(f"column '{name}' not found in data{hint}")
        if name in self._repeated:
            raise DataError(f"column '{name}' appears {self._repeated[name]} times in the "
                            f"data; the formula uses it, so the columns need distinct names "
                            f"(R's data.frame() would rename them '{name}', '{name}.1', ...)")
        arr = column_array(self.data, col)
        v = array_value(arr, name) if arr is not None else None
        if v is None:
            v = column_value(self.data[col], name)
        if isinstance(v, Temporal):     # level labels: the fit's format, also on new data
            key = ("temporal", name)
            if self.fit:
                v.fmt = self.state.setdefault(key, temporal_format(v.values))
            else:
                v.fmt = self.state.get(key) or temporal_format(v.values)
            return v
        key = ("levels", name)
        if isinstance(v, Factor) and not v.logical:
            if self.fit:
                self.state.setdefault(key, list(v.levels))
            elif key in self.state:  # fit-time codes first; labels new to the fit after them
                fit_levels = list(self.state[key])
                known = set(fit_levels)
                v = relabel(v, fit_levels + [lv for lv in v.levels if lv not in known])
        return v


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
    x = np.asarray(values_of(v), dtype=float)
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
        na, nb = as_numeric(a, op), as_numeric(b, op)
        x, y = align(values_of(na), values_of(nb))
        with np.errstate(all="ignore"):
            res = _ARITH[op](x, y)
        return wrap(res, na, nb)
    if op in _COMPARE:
        if isinstance(a, Factor) and not a.logical and isinstance(b, str):
            labels = np.array(a.levels + [""], dtype=object)
            res = _COMPARE[op](labels[np.where(a.codes >= 0, a.codes, len(a.levels))], b)
            return _logical_result(res.astype(bool), a.codes < 0)
        na, nb = as_numeric(a, op), as_numeric(b, op)
        x, y = align(values_of(na), values_of(nb))
        with np.errstate(all="ignore"):
            res = _COMPARE[op](x, y)
            miss = np.isnan(x) | np.isnan(y) if np.ndim(res) else False
        return _logical_result(res, np.asarray(miss))
    if op in ("&", "&&"):
        return _logical_op(np.logical_and, a, b, op)
    if op in ("|", "||"):
        return _logical_op(np.logical_or, a, b, op)
    if op == "%in%" and isinstance(b, (list, str, float, int, bool)):
        return _membership(a, b if isinstance(b, list) else [b])
    raise FormulaError(f"operator '{op}' cannot be used inside '{deparse(expr)}'")


def _membership(a, items):
    """R's ``x %in% c(...)`` inside an expression (``I(f %in% c("a", "b"))``)."""
    if isinstance(a, Factor):
        wanted = {label(x) for x in items}
        hit = np.array([lv in wanted for lv in a.levels] + [False])
        return _logical_result(hit[np.where(a.codes >= 0, a.codes, len(a.levels))],
                               np.zeros(a.codes.shape[0], dtype=bool))
    x = np.asarray(values_of(as_numeric(a, "%in%")), dtype=float)
    nums = [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return _logical_result(np.isin(x, nums), np.zeros(x.shape, dtype=bool))


