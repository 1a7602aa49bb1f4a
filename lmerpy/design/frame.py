"""The model frame: evaluate every variable a formula uses, drop incomplete rows, tidy factors.

R equivalent: ``model.frame(subbars(formula), data, weights, offset, na.action = na.omit,
drop.unused.levels = TRUE)`` as ``lme4::lFormula`` calls it, followed by lme4's
``factorize`` (character columns become factors) and its response checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, LmerpyError
from ..warnings import DesignWarning, warn
from ..formula.terms import Call, Name
from .evaluate import Evaluator
from .dataframe import as_data_frame
from .values import Factor, Numeric, Temporal, drop_unused, is_missing, take, temporal_error
from .naming import var_name

__all__ = ["ModelFrame", "formula_variables", "build_frame", "evaluate_argument",
           "argument_text"]


@dataclass
class ModelFrame:
    """The evaluated variables of a formula on the complete rows (R's ``fr``).

    Attributes
    ----------
    n : int
        Rows kept.
    values : dict
        Variable expression -> :class:`Numeric` / :class:`Factor` on the kept rows, in R's
        variable order (response excluded); factors have unused levels dropped.
    response : Numeric or Factor or None
    weights : ndarray or None
        Prior weights (the ``weights`` argument).
    offset : ndarray
        Sum of ``offset()`` terms of the fixed part and the ``offset`` argument (zeros if none).
    has_offset : bool
    kept : ndarray of bool
        Over the caller's rows: True where the row was kept.
    dropped_rows : ndarray of int
        0-based positions of rows dropped for missing values.
    state : dict
        ``poly`` coefficients, ``scale`` centres and column levels learned here (for new data).
    row_index : pandas.Index
        The caller's index labels of the kept rows.
    """

    n: int
    values: Dict[Any, Any]
    response: Any
    weights: Optional[np.ndarray]
    offset: np.ndarray
    has_offset: bool
    kept: np.ndarray
    dropped_rows: np.ndarray
    state: dict
    row_index: pd.Index
    response_expr: Any = None
    offset_terms: List[Any] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """R's ``fr`` as a DataFrame: response, variables (factors as Categoricals, matrix
        variables one column per matrix column), then ``(weights)`` and ``(offset)``."""
        cols: Dict[str, Any] = {}
        if self.response is not None:
            _put(cols, var_name(self.response_expr), self.response)
        for expr, val in self.values.items():
            _put(cols, var_name(expr), val)
        if self.weights is not None:
            cols["(weights)"] = self.weights
        if self.has_offset:
            cols["(offset)"] = self.offset
        return pd.DataFrame(cols, index=self.row_index)


def _put(cols, name, val):
    if isinstance(val, Factor):
        cols[name] = pd.Categorical.from_codes(val.codes, categories=val.levels,
                                               ordered=val.ordered)
    elif val.values.ndim == 2 and val.values.shape[1] > 1:
        cn = val.colnames or [str(i + 1) for i in range(val.values.shape[1])]
        for i, c in enumerate(cn):
            cols[f"{name}{c}" if c else f"{name}{i + 1}"] = val.values[:, i]
    else:
        cols[name] = val.values.reshape(-1)


def _add(out: list, seen: set, expr):
    if expr is None or expr in seen:
        return
    if isinstance(expr, Call) and expr.func == "offset":
        return
    seen.add(expr)
    out.append(expr)


def formula_variables(formula) -> List[Any]:
    """Distinct variable expressions of the formula's right side in R's order: the fixed part,
    then each random term's left side and grouping variables (R: ``subbars(formula)``).
    Remembered on the (immutable) formula object."""
    memo = getattr(formula, "__dict__", None)
    if memo is not None and "_variables" in memo:
        return list(memo["_variables"])
    out = _formula_variables(formula)
    if memo is not None:
        memo["_variables"] = tuple(out)
    return out


def _formula_variables(formula) -> List[Any]:
    out: List[Any] = []
    seen: set = set()

    def add_terms(model_terms):
        for v in model_terms.variables:
            _add(out, seen, v)
        for t in model_terms.terms:
            for v in t.factors:
                _add(out, seen, v)

    add_terms(formula.fixed)
    for rt in formula.random:
        add_terms(rt.lhs)
        for g in rt.group:
            _add(out, seen, g)
    return out


def _argument_expr(text: str, ev: Evaluator, what: str):
    """A column name, or an R expression over the columns (``"1/w"``, ``"log(t)"``), parsed
    by the formula parser (never eval'ed)."""
    if text in ev._columns:
        return Name(text)
    from ..formula import parse_formula
    try:
        f = parse_formula(f"~ I({text})")
        expr: Any = f.fixed.terms[0].factors[0]
    except (LmerpyError, IndexError) as e:
        raise DataError(f"'{what}' = {text!r} is neither a column of the data nor an "
                        f"expression over its columns ({e})") from None
    return expr.args[0]


def argument_text(arg, data: pd.DataFrame) -> Optional[str]:
    """How lme4's summary names a ``weights``/``offset`` argument (``Weights: w``,
    ``Offset: 1/w``): R's deparse of the expression; ``None`` for a plain array, or a
    Series' name when it has one."""
    if arg is None:
        return None
    if isinstance(arg, str):
        try:
            return var_name(_argument_expr(arg, Evaluator(data.iloc[:0]), "argument"))
        except LmerpyError:
            return arg
    if hasattr(arg, "deparse") and not isinstance(arg, (np.ndarray, pd.Series, list)):
        return var_name(arg)
    if isinstance(arg, pd.Series) and arg.name is not None:
        return str(arg.name)
    return None


def evaluate_argument(arg, ev: Evaluator, what: str) -> Optional[np.ndarray]:
    """The ``weights``/``offset`` argument as a float vector over all rows of the data.

    ``arg`` may be None, a column name, an expression node, or an array-like of length n.
    """
    if arg is None:
        return None
    if isinstance(arg, str):
        val = ev.variable(_argument_expr(arg, ev, what))
    elif hasattr(arg, "deparse") and not isinstance(arg, (np.ndarray, pd.Series, list)):
        val = ev.variable(arg)
    else:
        # a copy: the design keeps it (as its weights), the caller keeps theirs
        arr = np.array(arg.to_numpy(dtype=float, na_value=np.nan)
                       if isinstance(arg, pd.Series) else arg, dtype=float).reshape(-1)
        if arr.shape[0] != ev.n:
            raise DataError(f"'{what}' has length {arr.shape[0]} but the data have {ev.n} rows")
        return arr
    if isinstance(val, Factor):
        raise DataError(f"'{what}' must be numeric, not a factor")
    if isinstance(val, Temporal):
        raise temporal_error(val, f"'{what}'")
    vals = np.asarray(val.values, dtype=float)
    if vals.ndim == 2:
        if vals.shape[1] != 1:
            raise DataError(f"'{what}' must be a single numeric column")
        vals = vals[:, 0]
    return vals


def _check_finite(val, name: str):
    vals = val.values if isinstance(val, Numeric) else np.asarray(val, dtype=float)
    bad = np.isinf(vals)
    if bad.ndim == 2:
        bad = bad.any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise DataError(f"variable '{name}' has infinite values ({rows.size} "
                        f"row{'s' if rows.size != 1 else ''} of the model frame, positions "
                        f"{shown})")


def build_frame(formula, data: pd.DataFrame, weights=None, offset=None, na_action="omit",
                glmer: bool = False) -> ModelFrame:
    """Evaluate the variables of ``formula`` on ``data`` and drop incomplete rows.

    Parameters
    ----------
    formula : lmerpy.formula.terms.Formula
    data : pandas.DataFrame
        Never modified.
    weights, offset : None, str, expression node or array-like
    na_action : {"omit", "exclude", "fail"}
        ``"omit"``/``"exclude"`` drop rows with a missing value in any used variable (R's
        ``na.omit``/``na.exclude``); ``"fail"`` raises instead (``na.fail``).
    glmer : bool
        Allow a factor or two-column (``cbind``) response (binomial GLMMs).

    Returns
    -------
    ModelFrame
    """
    if not isinstance(data, pd.DataFrame):   # build_design has converted it already
        data = as_data_frame(data)
    if na_action not in ("omit", "exclude", "fail"):
        raise DataError(f"na_action must be 'omit', 'exclude' or 'fail', not {na_action!r}")
    if len(data) == 0:
        raise DataError(f"the data have 0 rows (and {data.shape[1]} column"
                        f"{'s' if data.shape[1] != 1 else ''}): there is nothing to fit")
    ev = Evaluator(data)
    n_all = ev.n
    response = None
    if formula.response is not None:
        response = ev.variable(formula.response)
    exprs = formula_variables(formula)
    values = {e: ev.variable(e) for e in exprs}
    offset_terms = list(formula.fixed.offsets)
    off_vals: List[Any] = [evaluate_argument(o, ev, f"offset({var_name(o)})")
                           for o in offset_terms]
    w = evaluate_argument(weights, ev, "weights")
    o_arg = evaluate_argument(offset, ev, "offset")

    missing = np.zeros(n_all, dtype=bool)
    if response is not None:
        missing |= is_missing(response)
    for v in values.values():
        missing |= is_missing(v)
    for o in off_vals:
        missing |= np.isnan(o)
    if w is not None:
        missing |= np.isnan(w)
    if o_arg is not None:
        missing |= np.isnan(o_arg)
    if missing.any() and na_action == "fail":
        bad = [var_name(e) for e, v in values.items() if is_missing(v).any()]
        raise DataError(f"missing values in object (na_action='fail'): "
                        f"{', '.join(bad) or 'response/weights/offset'}")
    kept = ~missing
    everything = not missing.any()
    # the kept positions (all rows: a range, not an n-long index array)
    rows = range(n_all) if everything else np.flatnonzero(kept)
    if len(rows) == 0:
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses")
    if not everything:   # the evaluator's values are its own arrays: kept as they are
        values = {e: take(v, rows) for e, v in values.items()}
        if response is not None:
            response = take(response, rows)
    values = {e: _tidy(e, v) for e, v in values.items()}
    for e, v in values.items():
        if isinstance(v, Numeric):
            _check_finite(v, var_name(e))
    total_offset = np.zeros(len(rows))
    for o, vals in zip(offset_terms, off_vals):
        vals = vals if everything else vals[rows]
        _check_finite(vals, f"offset({var_name(o)})")
        total_offset += vals
    if o_arg is not None:
        o_arg = o_arg if everything else o_arg[rows]
        _check_finite(o_arg, "offset")
        total_offset += o_arg
    if w is not None:
        w = w if everything else w[rows]
        _check_finite(w, "weights")
        if np.any(w < 0):
            raise DataError("negative weights are not allowed (all weights must be >= 0)")
    if response is not None:
        response = _check_response(response, formula.response, glmer)
    return ModelFrame(n=len(rows), values=values, response=response, weights=w,
                      offset=total_offset, has_offset=bool(offset_terms) or o_arg is not None,
                      kept=kept,
                      dropped_rows=(np.zeros(0, dtype=np.int64) if everything
                                    else np.flatnonzero(missing).astype(np.int64)),
                      state=ev.state,
                      row_index=data.index if everything else data.index[rows],
                      response_expr=formula.response, offset_terms=offset_terms)


def _tidy(expr, v):
    """R's ``drop.unused.levels``: factors lose levels no kept row uses (logicals keep both);
    a factor with contrasts set by ``C()`` that loses levels loses them, with R's warning."""
    if isinstance(v, Factor) and not v.logical:
        tidy = drop_unused(v)
        if v.contrast is not None and len(tidy.levels) < len(v.levels):
            warn(f"contrasts dropped from factor {var_name(expr)} due to missing levels",
                 DesignWarning)
        return tidy
    return v


def _check_response(resp, expr, glmer: bool):
    name = var_name(expr)
    if isinstance(resp, Temporal):
        raise temporal_error(resp, "a response")
    if isinstance(resp, Factor):
        if resp.logical:
            return Numeric(resp.codes.astype(float))
        if not glmer:
            raise DataError(f"response must be numeric: '{name}' is a factor (levels "
                            f"{', '.join(resp.levels[:5])}{', ...' if len(resp.levels) > 5 else ''}"
                            f"); lmer needs a numeric response")
        return resp
    if resp.values.ndim == 2:
        if resp.values.shape[1] == 1:
            return Numeric(resp.values[:, 0], None, resp.integer)
        if not glmer or resp.values.shape[1] != 2:
            raise DataError(f"response '{name}' has {resp.values.shape[1]} columns; "
                            f"{'lmer needs a single numeric column' if not glmer else 'a matrix response must have 2 columns (successes, failures)'}")
    _check_finite(resp, name)
    return resp


def check_formula(formula):
    """Reject formulas the design stage cannot use (no response)."""
    if formula.response is None:
        raise FormulaError("the formula has no response (left-hand side); write it as "
                           "'y ~ ...'")
