"""Validation of the public API's arguments, in one place.

Every public function checks its arguments on entry with the small validators here (never
inside a deviance evaluation or a refit loop), so a bad value is an
:class:`~lmerpy.errors.ArgumentError` that names the argument and the value received, instead
of a silent wrong answer (``REML="yes"`` fitting by REML) or a numpy traceback.

The rules are R's where R has a sensible one:

* logicals (:data:`LOGICAL`) are ``True``/``False``, numpy booleans, 0 and 1, and the strings
  R's ``as.logical`` reads (``"TRUE"``, ``"true"``, ``"True"``, ``"T"`` and the same for
  FALSE); anything else is R's "argument is not interpretable as logical". Other numbers,
  which R would read as TRUE, are refused: a count where a logical is meant is a slip;
* integers (:class:`Integer`) may be written ``2`` or ``2.0`` (R's numbers are doubles)
  but not ``2.5``, ``True`` or ``"2"``;
* choices (:class:`Choice`) are exact (no partial matching, unlike R's ``match.arg``); the
  message lists the valid values and suggests the closest one.

Validators are declarative: build one (``Integer(lower=1)``) or use the shared ones below
(:data:`NSIM`, :data:`NAGQ`, :data:`LEVEL`...), and call it with the argument's name and
value; it returns the normalised value (a Python ``bool``, ``int``, ``float`` or the canonical
choice) or raises. The checks of the ``start=`` argument and of a new response
(``refit(newresp)``) are here too.

This module imports nothing from lmerpy but :mod:`lmerpy.errors` (and :mod:`lmerpy.warnings`
for one message), so every stage can use it.
"""
from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from .errors import ArgumentError, DataError

__all__ = [
    "Logical", "Integer", "Number", "Choice", "Verbosity", "Seed",
    "LOGICAL", "LOGICAL_OR_NONE", "VERBOSE", "NSIM", "NAGQ", "COUNT", "LEVEL", "SEED",
    "NA_ACTION", "BACKEND", "PREDICT_TYPE", "R_TRUE", "R_FALSE", "show", "argument_error",
    "start_values", "numeric_vector", "new_response", "unknown_keywords",
]

#: The strings R's ``as.logical`` reads as TRUE and FALSE.
R_TRUE = ("TRUE", "true", "True", "T")
R_FALSE = ("FALSE", "false", "False", "F")


# ---------------------------------------------------------------------------- messages


def show(value, width=60) -> str:
    """A short description of a received value: its repr (cut to ``width`` characters), the
    type and shape of arrays and data frames."""
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) >= 1 and not isinstance(value, (str, bytes)):
        kind = type(value).__name__
        dtype = getattr(value, "dtype", None)
        dt = f", dtype {dtype}" if dtype is not None and not hasattr(value, "columns") else ""
        head = f"{kind} of shape {tuple(shape)}{dt}"
        try:
            body = repr(np.asarray(value).ravel()[:4].tolist())
        except Exception:  # noqa: BLE001 - a description only
            return head
        return f"{head}: {body[:-1]}, ...]" if int(np.prod(shape)) > 4 else f"{head}: {body}"
    text = repr(value)
    if len(text) > width:
        text = text[:width - 3] + "..."
    return text


def argument_error(name, value, expected, caller=None, detail=None,
                   error=ArgumentError) -> ArgumentError:
    """``ArgumentError("caller: name must be expected, not value[: detail]")`` (or that
    message in ``error``, a subclass)."""
    where = f"{caller}: " if caller else ""
    tail = f": {detail}" if detail else ""
    return error(f"{where}{name} must be {expected}, not {show(value)}{tail}")


def _scalar(value):
    """A 0-d numpy array or a 1-element numpy array as its element; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.ndim <= 1:
        return value.reshape(()).item() if value.dtype != object else value.reshape(-1)[0]
    return value


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    """A real number that is not a boolean (Python or numpy)."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


# ---------------------------------------------------------------------------- validators


class _Validator:
    """Base class: ``validator(name, value, caller=None)`` returns the normalised value."""

    none = False

    def __call__(self, name, value, caller=None):
        if value is None:
            if self.none:
                return None
            raise argument_error(name, value, self.expected, caller)
        return self.check(name, value, caller)

    def check(self, name, value, caller):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def expected(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class Logical(_Validator):
    """R's logical: ``True``/``False`` (numpy booleans, 0 and 1, R's ``"TRUE"``/``"FALSE"``/
    ``"T"``/``"F"``/``"true"``/``"false"``/``"True"``/``"False"``); ``none=True`` allows None
    (R's ``NULL`` default)."""

    def __init__(self, none=False):
        self.none = bool(none)

    @property
    def expected(self):
        return "True or False" + (" (or None)" if self.none else "")

    def check(self, name, value, caller):
        v = _scalar(value)
        if _is_bool(v):
            return bool(v)
        if isinstance(v, str):
            if v in R_TRUE:
                return True
            if v in R_FALSE:
                return False
        elif _is_real(v) and v in (0, 1):
            return bool(v)
        raise argument_error(name, value, self.expected, caller,
                             "argument is not interpretable as logical")


class Integer(_Validator):
    """An integer in ``[lower, upper]`` (``2`` or ``2.0``, not ``2.5``, ``True`` or
    ``"2"``); returns an ``int``."""

    def __init__(self, lower=None, upper=None, none=False, what=None):
        self.lower, self.upper, self.none, self.what = lower, upper, bool(none), what

    @property
    def expected(self):
        if self.what:
            text = self.what
        elif self.lower is not None and self.upper is not None:
            text = f"an integer from {self.lower} to {self.upper}"
        elif self.lower == 1:
            text = "a positive integer"
        elif self.lower is not None:
            text = f"an integer >= {self.lower}"
        elif self.upper is not None:
            text = f"an integer <= {self.upper}"
        else:
            text = "an integer"
        return text + (" (or None)" if self.none else "")

    def check(self, name, value, caller):
        v = _scalar(value)
        if not _is_real(v):
            raise argument_error(name, value, self.expected, caller)
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            raise argument_error(name, value, self.expected, caller) from None
        if not math.isfinite(f) or (not isinstance(v, numbers.Integral) and f != math.floor(f)):
            raise argument_error(name, value, self.expected, caller)
        k = int(v) if isinstance(v, numbers.Integral) else int(f)
        if (self.lower is not None and k < self.lower) or (self.upper is not None
                                                             and k > self.upper):
            raise argument_error(name, value, self.expected, caller)
        return k


class Number(_Validator):
    """A real number (not a boolean or a string), finite unless ``finite=False``, within
    ``lower``/``upper`` (inclusive unless ``open_lower``/``open_upper``); returns a float."""

    def __init__(self, lower=None, upper=None, open_lower=False, open_upper=False,
                 finite=True, none=False, what=None):
        self.lower, self.upper = lower, upper
        self.open_lower, self.open_upper = bool(open_lower), bool(open_upper)
        self.finite, self.none, self.what = bool(finite), bool(none), what

    @property
    def expected(self):
        if self.what:
            text = self.what
        else:
            parts = []
            if self.lower is not None:
                parts.append(f"{'>' if self.open_lower else '>='} {self.lower:g}")
            if self.upper is not None:
                parts.append(f"{'<' if self.open_upper else '<='} {self.upper:g}")
            kind = "a finite number" if self.finite else "a number"
            text = kind + (" " + " and ".join(parts) if parts else "")
        return text + (" (or None)" if self.none else "")

    def check(self, name, value, caller):
        v = _scalar(value)
        if not _is_real(v):
            raise argument_error(name, value, self.expected, caller)
        f = float(v)
        if math.isnan(f) or (self.finite and not math.isfinite(f)):
            raise argument_error(name, value, self.expected, caller)
        if self.lower is not None and (f < self.lower or (self.open_lower and f == self.lower)):
            raise argument_error(name, value, self.expected, caller)
        if self.upper is not None and (f > self.upper or (self.open_upper and f == self.upper)):
            raise argument_error(name, value, self.expected, caller)
        return f


class Choice(_Validator):
    """One of ``choices`` (exact; ``fold_case=True`` ignores the case of strings); ``aliases``
    maps other accepted spellings to a choice; ``what`` replaces the list of choices in the
    message. Returns the canonical choice."""

    def __init__(self, choices, aliases=None, fold_case=False, none=False, what=None):
        self.choices = tuple(choices)
        self.fold_case, self.none, self.what = bool(fold_case), bool(none), what
        table: Dict[Any, Any] = {}
        for c in self.choices:
            table[self._key(c)] = c
        for a, c in (aliases or {}).items():
            table[self._key(a)] = c
        self._table = table

    def _key(self, v):
        if isinstance(v, str):
            return ("s", v.lower() if self.fold_case else v)
        return ("v", v)

    @property
    def expected(self):
        shown = self.what or "one of " + ", ".join(repr(c) for c in self.choices)
        return shown + (" (or None)" if self.none else "")

    def check(self, name, value, caller):
        v = _scalar(value)
        if not _is_bool(v):
            try:
                hit = self._table.get(self._key(v))
            except TypeError:   # unhashable
                hit = None
            if hit is not None:
                return hit
        detail = None
        if isinstance(v, str):
            words = [c for c in self.choices if isinstance(c, str)]
            close = difflib.get_close_matches(v, words, n=1, cutoff=0.6)
            if not close and self.fold_case:
                low = {w.lower(): w for w in words}
                close = [low[m] for m in difflib.get_close_matches(v.lower(), list(low), n=1)]
            if close:
                detail = f"did you mean {close[0]!r}?"
        raise argument_error(name, value, self.expected, caller, detail)


class Verbosity(_Validator):
    """lme4's ``verbose``: a logical or an integer >= 0 (``True`` is 1); returns an int."""

    _logical = Logical()
    _count = Integer(lower=0)

    @property
    def expected(self):
        return "True, False or an integer >= 0"

    def check(self, name, value, caller):
        v = _scalar(value)
        if _is_bool(v) or isinstance(v, str):
            try:
                return int(self._logical.check(name, v, caller))
            except ArgumentError:
                raise argument_error(name, value, self.expected, caller) from None
        try:
            return self._count.check(name, v, caller)
        except ArgumentError:
            raise argument_error(name, value, self.expected, caller) from None


class Seed(_Validator):
    """A random seed: None, an integer >= 0, a sequence of them, or a numpy
    ``Generator``, ``SeedSequence`` or ``BitGenerator`` (what ``numpy.random.default_rng``
    takes). Returns the value (an int for a number)."""

    none = True
    _count = Integer(lower=0)

    @property
    def expected(self):
        return "None, an integer >= 0 or a numpy Generator / SeedSequence"

    def check(self, name, value, caller):
        if isinstance(value, (np.random.Generator, np.random.SeedSequence,
                              np.random.BitGenerator)):
            return value
        if _is_real(_scalar(value)):
            try:
                return self._count.check(name, value, caller)
            except ArgumentError:
                raise argument_error(name, value, self.expected, caller) from None
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) > 0:
            try:
                return [self._count.check(name, v, caller) for v in value]
            except (ArgumentError, TypeError):
                pass
        raise argument_error(name, value, self.expected, caller)


#: a logical (R's TRUE/FALSE)
LOGICAL = Logical()
#: a logical or None (R's ``NULL`` default, e.g. ``deviance(fit, REML = NULL)``)
LOGICAL_OR_NONE = Logical(none=True)
#: lme4's ``verbose``
VERBOSE = Verbosity()
#: a number of simulations / bootstrap samples
NSIM = Integer(lower=1)
#: glmer's nAGQ
NAGQ = Integer(lower=0, upper=100)
#: an integer >= 0
COUNT = Integer(lower=0)
#: a confidence level
LEVEL = Number(lower=0, upper=1, open_lower=True, open_upper=True,
               what="a number between 0 and 1 (exclusive)")
#: a random seed
SEED = Seed()
#: ``na_action`` (R's ``na.action``, by name)
NA_ACTION = Choice(("omit", "exclude", "fail"),
                   aliases={"na.omit": "omit", "na.exclude": "exclude", "na.fail": "fail",
                            "na_omit": "omit", "na_exclude": "exclude", "na_fail": "fail"})
#: the factorisation backend
BACKEND = Choice(("cholmod", "scipy"), fold_case=True, none=True)
#: ``predict(type=)``
PREDICT_TYPE = Choice(("link", "response"), what="'link' or 'response'")


# ---------------------------------------------------------------------------- vectors


def numeric_vector(name, value, caller=None, names: Optional[Sequence[str]] = None):
    """``value`` (a number, list, tuple, numpy array or pandas Series) as a finite 1-d float
    array; an :class:`ArgumentError` names the argument and the value otherwise (a non-number,
    a missing or infinite entry with its position and, given ``names``, its name)."""
    where = f"{caller}: " if caller else ""
    if isinstance(value, (str, bytes, dict)) or _is_bool(value):
        raise argument_error(name, value, "a numeric vector", caller)
    raw = value.to_numpy() if hasattr(value, "to_numpy") else value
    try:
        arr = np.asarray(raw)
    except Exception:  # noqa: BLE001 - ragged lists and the like
        raise argument_error(name, value, "a numeric vector", caller) from None
    if arr.dtype == object:
        if not all(_is_real(x) for x in arr.ravel()):
            raise argument_error(name, value, "a numeric vector", caller)
    elif arr.dtype.kind not in "iuf":
        raise argument_error(name, value, "a numeric vector", caller)
    if arr.ndim > 1 and sum(s > 1 for s in arr.shape) > 1:
        raise argument_error(name, value, "a numeric vector", caller,
                             f"it has shape {arr.shape}")
    out = arr.astype(float).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        label = f" ({names[i]})" if names is not None and i < len(names) else ""
        raise ArgumentError(f"{where}{name} has non-finite values: {out[i]} at position "
                            f"{i}{label}" + (f" and {bad.size - 1} more" if bad.size > 1 else ""))
    return out


def start_values(start, theta_names: Sequence[str], theta_lower, fixef_names=None,
                 caller=None, fixef_used=True, *, theta_upper=None,
                 from_theta: Optional[Tuple[Sequence[str], Any]] = None
                 ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The ``start=`` argument of lmer/glmer as ``(par, fixef)`` (either None when not
    given), as lme4's ``getStart``: a numeric vector is the covariance parameters; a dict
    (R's list) may have the entries ``"par"`` (lme4 2.x), ``"theta"`` and ``"fixef"`` only
    (lme4: "incorrect components in start list"; given both ``"par"`` and ``"theta"``,
    ``"theta"`` is ignored with lme4's message). Lengths must match the model's parameters
    (and β); values must be finite and within the bounds. ``fixef_used=False``: the model takes
    no β start (lmer, where β is profiled out: a ``fixef`` entry is checked and ignored, as in
    lme4).

    ``theta_names``/``theta_lower``/``theta_upper`` describe the covariance parameters the
    optimizer moves (lme4 2.x's ``par``; θ itself for unstructured terms). When they are not
    θ, ``from_theta = (θ's names, θ → par)`` reads a ``"theta"`` entry as θ and maps it to
    ``par`` (lme4 2.1 would take it as ``par``)."""
    where = f"{caller}: " if caller else ""
    if start is None:
        return None, None
    what = "theta" if from_theta is None else "par"
    if isinstance(start, dict):
        bad = [k for k in start if k not in ("par", "theta", "fixef")]
        if bad:
            raise ArgumentError(f"{where}incorrect components in start list: "
                                f"{', '.join(repr(b) for b in bad)}; the names should be "
                                f"'par', 'theta' and/or 'fixef' (start = {show(start)})")
        th, fe = start.get("par"), start.get("fixef")
        th_name, fe_name = "start['par']", "start['fixef']"
        if th is None:
            th, th_name = start.get("theta"), "start['theta']"
            if th is not None and from_theta is not None:
                tn, to_par = from_theta
                given = th
                th = numeric_vector(th_name, th, caller, names=tn)
                if th.shape[0] != len(tn):
                    raise ArgumentError(
                        f"{where}incorrect number of theta components in {th_name}: expected "
                        f"{len(tn)} ({', '.join(tn)}), got {th.shape[0]}: {show(given)}")
                th = np.asarray(to_par(th), dtype=float)
                th_name = f"par from {th_name}"
        elif start.get("theta") is not None:
            from .warnings import LmerpyMessage, warn
            warn("ignoring start$theta", LmerpyMessage)
    else:
        th, fe = start, None
        th_name, fe_name = "start", "start['fixef']"
    if th is not None:
        given = th
        th = numeric_vector(th_name, th, caller, names=theta_names)
        if th.shape[0] != len(theta_names):
            raise ArgumentError(
                f"{where}incorrect number of {what} components in {th_name}: expected "
                f"{len(theta_names)} ({', '.join(theta_names)}), got {th.shape[0]}: "
                f"{show(given)}")
        low = np.asarray(theta_lower, dtype=float)
        below = np.flatnonzero(th < low)
        if below.size:
            i = int(below[0])
            why = ("diagonal entries of the relative covariance factor must be >= 0"
                   if from_theta is None else "standard deviations must be >= 0, "
                   "correlations within their bounds")
            raise ArgumentError(f"{where}{th_name} has {what} values below their lower bounds: "
                                f"{theta_names[i]} = {th[i]:g} < {low[i]:g} ({why})")
        if theta_upper is not None:
            up = np.asarray(theta_upper, dtype=float)
            above = np.flatnonzero(th > up)
            if above.size:
                i = int(above[0])
                raise ArgumentError(f"{where}{th_name} has {what} values above their upper "
                                    f"bounds: {theta_names[i]} = {th[i]:g} > {up[i]:g} "
                                    "(a correlation is at most 1)")
    if fe is not None:
        given = fe
        names = list(fixef_names) if fixef_names is not None else None
        fe = numeric_vector(fe_name, fe, caller, names=names)
        if names is not None and fe.shape[0] != len(names):
            raise ArgumentError(
                f"{where}incorrect number of fixef components in {fe_name}: expected "
                f"{len(names)} ({', '.join(names)}), got {fe.shape[0]}: {show(given)}")
        if not fixef_used:
            fe = None
    return th, fe


# ---------------------------------------------------------------------------- responses


def _kind(arr, value) -> str:
    """What a non-numeric response is: its type, dtype and (for objects) first bad value."""
    if arr.dtype == object:
        for x in arr.ravel():
            if not (_is_real(x) or _is_bool(x)):
                return (f"{_a(type(value).__name__)} of objects holding {type(x).__name__} "
                        f"values (e.g. {show(x, 30)})")
        return f"{_a(type(value).__name__)} of objects"
    kinds = {"U": "strings", "S": "bytes", "M": "datetimes", "m": "time differences",
             "c": "complex numbers", "V": "raw records"}
    return (f"{_a(type(value).__name__)} of {kinds.get(arr.dtype.kind, 'values')} (dtype "
            f"{arr.dtype})")


def _a(word):
    word = "numpy array" if word == "ndarray" else word
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def new_response(value, n, caller="refit", name="newresp", columns=(1,), factor=False):
    """A new response (``refit(fit, newresp)``) as a float array with ``n`` rows.

    Accepts a list, tuple, numpy array, pandas Series / DataFrame column (numeric, boolean or
    nullable numeric without missing values); a DataFrame with as many columns as allowed;
    with ``factor=True`` a pandas Categorical (first level = failure, R's binomial rule).
    ``columns`` lists the allowed numbers of columns (1: a vector; 2: ``cbind`` counts).

    Raises
    ------
    DataError
        lme4's "response must be numeric" with the type received; a wrong length (expected
        and received); a wrong shape; missing or infinite values (with the first row).
    """
    where = f"{caller}: " if caller else ""
    v = value
    # pandas without importing it: Series / DataFrame have to_numpy, Categoricals categories
    cat = None
    dtype = getattr(v, "dtype", None)
    if getattr(dtype, "name", None) == "category" or hasattr(v, "categories") and hasattr(v, "codes"):
        cat = v.cat.codes.to_numpy() if hasattr(v, "cat") else np.asarray(v.codes)
    if cat is not None:
        if not factor:
            raise DataError(f"{where}response must be numeric: {name} is a factor (pandas "
                            "Categorical)")
        codes = np.asarray(cat)
        if codes.shape[0] != n:
            raise DataError(f"{where}{name} has {codes.shape[0]} values; the model has {n} "
                            "observations")
        if np.any(codes < 0):
            i = int(np.flatnonzero(codes < 0)[0])
            raise DataError(f"{where}{name} has missing values (row {i})")
        return (codes != 0).astype(float)
    if hasattr(v, "columns") and hasattr(v, "to_numpy"):        # a DataFrame
        dts = list(getattr(v, "dtypes", []))
        if any(getattr(d, "name", None) == "category" for d in dts):
            raise DataError(f"{where}response must be numeric: {name} has a factor column "
                            "(pandas Categorical)")
        v = v.to_numpy(dtype=float, na_value=np.nan) if all(
            getattr(d, "kind", "O") in "biuf" for d in dts) else v.to_numpy()
    elif hasattr(v, "to_numpy"):                                 # a Series or Index
        d = getattr(v, "dtype", None)
        if getattr(d, "kind", "O") in "biuf":
            v = v.to_numpy(dtype=float, na_value=np.nan)
        else:
            v = v.to_numpy()
    elif isinstance(v, (str, bytes)) or np.isscalar(v) and not _is_real(v):
        raise DataError(f"{where}response must be numeric: {name} is {show(value)} "
                        f"({type(value).__name__})")
    try:
        arr = np.asarray(v)
    except Exception:  # noqa: BLE001 - ragged lists
        raise DataError(f"{where}response must be numeric: {name} is {show(value)}") from None
    if arr.dtype == object:
        if not all(_is_real(x) or _is_bool(x) for x in arr.ravel()):
            raise DataError(f"{where}response must be numeric: {name} is {_kind(arr, value)}")
        arr = arr.astype(float)
    elif arr.dtype.kind not in "biuf":
        raise DataError(f"{where}response must be numeric: {name} is {_kind(arr, value)}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        ncol = 1
    elif arr.ndim == 2:
        ncol = arr.shape[1]
    else:
        ncol = None
    if ncol not in columns:
        allowed = " or ".join("a vector" if c == 1 else f"{c} columns" for c in columns)
        raise DataError(f"{where}{name} has shape {arr.shape}; expected {allowed} with {n} rows")
    if arr.shape[0] != n:
        raise DataError(f"{where}{name} has {arr.shape[0]} values; the model has {n} "
                        "observations")
    out = arr.astype(float)
    finite = np.isfinite(out)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(n, -1).all(axis=1))
        i = int(rows[0])
        more = f" and {rows.size - 1} more" if rows.size > 1 else ""
        raise DataError(f"{where}{name} has missing or infinite values (row {i}: "
                        f"{out.reshape(n, -1)[i].tolist() if out.ndim > 1 else out[i]}{more})")
    return out


def unknown_keywords(caller, kwargs: Dict[str, Any], allowed: Iterable[str] = ()):
    """Raise an :class:`ArgumentError` naming unexpected keyword arguments (with the closest
    valid name)."""
    allowed = list(allowed)
    bad = [k for k in kwargs if k not in allowed]
    if not bad:
        return
    hints = []
    for b in bad:
        close = difflib.get_close_matches(b, allowed, n=1)
        hints.append(f"{b}={show(kwargs[b])}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ArgumentError(f"{caller}: unknown argument(s) {', '.join(hints)}")
