"""The fixed table of functions a formula may call (R's functions, reimplemented).

Formulas are data, never code: each call node is dispatched through :data:`FUNCTIONS` by name;
an unknown name is an error. R equivalents: ``log``, ``exp``, ``sqrt``, ``I``, ``scale``,
``poly`` (orthogonal as R's, with ``alpha``/``norm2`` kept for ``predict``), ``factor``,
``as.numeric``, ``offset``, ``cbind``, ``pmin``/``pmax``, ``C`` (contrasts set in the formula),
lme4's ``dummy``, ...
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

import numpy as np

from ..errors import DataError, FormulaError
from ..formula.terms import Call, Constant, Name, Number, UnaryOp
from .contrasts import CONTRAST_NAMES, Coding
from .naming import deparse
from .values import (Factor, Numeric, Temporal, drop_unused, label, relabel, temporal_error,
                     to_factor)

__all__ = ["FUNCTIONS", "poly_fit", "poly_predict", "as_numeric", "wrap", "values_of", "align",
           "apply_elementwise"]


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


# --------------------------------------------------------------------------- helpers


def as_numeric(v, what: str):
    """R's arithmetic coercion: numbers stay, logicals become 0/1, a factor is an error naming
    the operation (R: ``not meaningful for factors``)."""
    if isinstance(v, Factor):
        if v.logical:
            return Numeric(np.where(v.codes < 0, np.nan, v.codes.astype(float)))
        raise FormulaError(f"'{what}' is not meaningful for factors (levels "
                           f"{', '.join(v.levels[:5])}{', ...' if len(v.levels) > 5 else ''})")
    if isinstance(v, Numeric):
        return v
    if isinstance(v, Temporal):
        raise temporal_error(v, f"a number (in '{what}')")
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    raise FormulaError(f"'{what}' needs numbers, got {v!r}")


def values_of(v):
    """The raw array of a :class:`Numeric` (scalars pass through)."""
    return v.values if isinstance(v, Numeric) else v


def align(a, b):
    """Broadcast an (n,) vector against an (n, k) matrix column-wise (R's recycling)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim == 2 and b.ndim == 1:
            b = b[:, None]
        elif a.ndim == 1 and b.ndim == 2:
            a = a[:, None]
    return a, b


def wrap(res, *operands):
    """An arithmetic result as a :class:`Numeric`, keeping a matrix operand's column names."""
    if not isinstance(res, np.ndarray) or res.ndim == 0:
        return float(res)
    colnames = None
    for o in operands:
        if isinstance(o, Numeric) and o.is_matrix:
            colnames = o.colnames
            break
    return Numeric(np.asarray(res, dtype=float), colnames if res.ndim == 2 else None)


def apply_elementwise(fn, v):
    """Apply a numpy function elementwise (NaN for invalid input, as R gives NaN)."""
    with np.errstate(all="ignore"):
        res = fn(values_of(v))
    return wrap(res, v)


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
        return apply_elementwise(fn, as_numeric(ev(a["x"]), call.func))
    return handler


def _f_log(ev, call):
    a = _bind(call, ["x", "base"])
    x = as_numeric(ev(a["x"]), "log")
    if "base" not in a:
        return apply_elementwise(np.log, x)
    base = as_numeric(ev(a["base"]), "log")
    with np.errstate(all="ignore"):
        return wrap(np.log(values_of(x)) / np.log(values_of(base)), x)


def _f_round(ev, call):
    a = _bind(call, ["x", "digits"])
    d = int(_literal(ev, a["digits"])) if "digits" in a else 0
    return apply_elementwise(lambda v: np.round(v, d), as_numeric(ev(a["x"]), "round"))


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
    return as_numeric(v, call.func)


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
        f = relabel(f, [label(x) for x in (lv if isinstance(lv, list) else [lv])])
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
    ref = label(_literal(ev, a["ref"]))
    if ref not in f.levels:
        raise DataError(f"'{deparse(call)}': '{ref}' is not a level of "
                        f"'{deparse(a['x'])}' (levels: {', '.join(f.levels)})")
    new = [ref] + [lv for lv in f.levels if lv != ref]
    return relabel(f, new)


def _f_scale(ev, call):
    a = _bind(call, ["x", "center", "scale"])
    x = as_numeric(ev(a["x"]), "scale")
    vals = np.asarray(values_of(x), dtype=float)
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
    x = as_numeric(ev(a["x"]), "poly")
    vals = np.asarray(values_of(x), dtype=float)
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
    v = as_numeric(ev(a["object"]), "offset")
    if not isinstance(v, Numeric):
        return Numeric(np.full(ev.n, float(v)))
    return v


def _f_cbind(ev, call):
    cols, names = [], []
    items = [(None, x) for x in call.args] + list(call.kwargs)
    for k, x in items:
        v = as_numeric(ev(x), "cbind")
        vals = np.asarray(values_of(v), dtype=float)
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
        vals = [values_of(as_numeric(ev(x), call.func)) for x in call.args]
        if not vals:
            raise FormulaError(f"'{deparse(call)}' needs arguments")
        out = vals[0]
        for v in vals[1:]:
            out = fn(out, v)
        return wrap(np.asarray(out, dtype=float) if np.ndim(out) else out)
    return handler


# R's C(): a bare short name, a string or no contr at all (the factor's default) name a contr.*
# function, stored by name and resolved against the factor's levels when the model matrix is
# built (columns named by level); a contr.* function itself, or any contr with how.many, is
# applied at once to 1..k, as R's `contrasts<-` calls value(nlevels(x)) (columns numbered)
_C_SHORT = {"poly": "contr.poly", "helmert": "contr.helmert", "sum": "contr.sum",
            "treatment": "contr.treatment", "SAS": "contr.SAS"}


def _contrast_function(call, name: str):
    fn = CONTRAST_NAMES.get(name) if name.startswith("contr.") else None
    if fn is None:
        raise FormulaError(f"'{deparse(call)}': unknown contrasts '{name}'; use contr.treatment, "
                           f"contr.sum, contr.helmert, contr.poly, contr.SAS or their short "
                           f"names treatment, sum, helmert, poly, SAS")
    return fn


def _f_C(ev, call):
    a = _bind(call, ["object", "contr", "how.many"])
    v = ev.variable(a["object"])
    f = to_factor(v, deparse(a["object"]))
    if not f.levels:
        raise FormulaError(f"'{deparse(call)}': object not interpretable as a factor")
    spec: Any
    contr = a.get("contr")
    if contr is None:
        spec = ("contr.poly" if f.ordered else "contr.treatment", False)
    elif isinstance(contr, Name) and contr.name in _C_SHORT:
        spec = (_C_SHORT[contr.name], False)
    elif isinstance(contr, Name):
        spec = (contr.name, True)
    elif isinstance(contr, Constant) and isinstance(contr.value, str):
        spec = (contr.value, False)
    else:
        raise FormulaError(f"'{deparse(call)}': 'contr' must be a contrast function or its "
                           f"name, e.g. C(f, contr.sum) or C(f, \"contr.helmert\")")
    name, now = spec
    fn = _contrast_function(call, name)
    how_many = int(_literal(ev, a["how.many"])) if "how.many" in a else None
    contrast: Any = name
    if now or how_many is not None:
        try:
            coding = fn([str(i) for i in range(1, len(f.levels) + 1)])
        except DataError as e:
            raise DataError(f"'{deparse(call)}': {e}") from None
        m, names = coding.matrix, coding.colnames
        if how_many is not None:
            if not 1 <= how_many <= m.shape[1]:
                raise FormulaError(f"'{deparse(call)}': how.many must be between 1 and "
                                   f"{m.shape[1]} (the factor has {len(f.levels)} levels)")
            m, names = m[:, :how_many], (names[:how_many] if names is not None else None)
        contrast = Coding(m, names, "matrix")
    return Factor(f.codes, list(f.levels), f.ordered, False, contrast)


def _f_dummy(ev, call):
    """lme4's ``dummy(f, levelsToKeep)``: indicator columns of the kept levels (all but the
    first by default), named by level, for terms such as ``(0 + dummy(f, "B") | g)``."""
    a = _bind(call, ["f", "levelsToKeep"])
    f = to_factor(ev.variable(a["f"]), deparse(a["f"]))
    if "levelsToKeep" in a:
        keep = _literal(ev, a["levelsToKeep"])
        keep = [label(x) for x in (keep if isinstance(keep, list) else [keep])]
    else:
        keep = list(f.levels[1:])
    if not any(k in f.levels for k in keep):
        raise DataError(f"'{deparse(call)}': at least some of the levels in f must also be "
                        f"present in levelsToKeep (levels: {', '.join(f.levels)})")
    unknown = [k for k in keep if k not in f.levels]
    if unknown:
        raise DataError(f"'{deparse(call)}': all of the levelsToKeep must be levels of f "
                        f"({', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not; "
                        f"levels: {', '.join(f.levels)})")
    idx = np.array([f.levels.index(k) for k in keep], dtype=np.int64)
    out = (f.codes[:, None] == idx[None, :]).astype(float)
    out[f.codes < 0] = np.nan
    return Numeric(out, keep)


def _f_c(ev, call):
    return _literal(ev, call)


FUNCTIONS: Dict[str, Callable[[Any, Call], Any]] = {
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
    "C": _f_C, "dummy": _f_dummy,
}
