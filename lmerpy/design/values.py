"""Values of model variables: numeric vectors/matrices and factors (R's view of columns).

R equivalents: a numeric vector or matrix (``poly``, ``cbind``, ``scale`` give matrices), a
``factor`` (integer codes into levels), a ``logical`` (a factor with levels ``FALSE``/``TRUE``
in model matrices); ``factor()``, ``droplevels()`` and the conversion of a data-frame column.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from ..caches import PatternCache
from ..errors import DataError, FormulaError
from .rformat import format_number, r_sort_key

__all__ = ["Numeric", "Factor", "Temporal", "temporal_error", "is_missing", "take", "factor_from_labels", "to_factor",
           "drop_unused", "relabel", "column_value", "column_array", "array_value", "label"]


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
    ``ordered`` an ordered factor (``contr.poly`` by default); ``contrast`` R's
    ``attr(f, "contrasts")`` as set by ``C()``: a contrast name (resolved against the levels
    when the model matrix is built) or a fixed matrix (a ``Coding``), ``None`` for the default.
    """

    codes: np.ndarray
    levels: List[str]
    ordered: bool = False
    logical: bool = False
    contrast: Any = None

    @property
    def ncol(self) -> int:
        return 1


@dataclass
class Temporal:
    """A date, date-time or duration column (R's ``Date``, ``POSIXct``, ``difftime``).

    As a grouping factor (``(1 | when)``) its distinct values are the levels, in time order
    (:func:`to_factor`); as a number it is an error (:func:`temporal_error`): convert it first.

    ``values`` is ``datetime64`` (wall-clock time for a time-zone-aware column) or
    ``timedelta64``, ``NaT`` where missing; ``name`` the column and ``dtype`` its type as the
    user knows it (for messages); ``fmt`` how levels are labelled (``"date"``: ``2024-03-01``,
    ``"s"``: ``2024-03-01 09:30:00``, ``"ms"``/``"us"``/``"ns"``: with fractional seconds,
    ``"duration"``: ``1 days 02:00:00``), fixed at fit time so new data get the same labels.
    """

    values: np.ndarray
    name: str
    dtype: str
    fmt: str = ""

    @property
    def ncol(self) -> int:
        return 1

    @property
    def is_matrix(self) -> bool:
        return False


def temporal_error(v: "Temporal", use: str = "a numeric predictor") -> DataError:
    """The error for a date/duration column used where numbers are needed."""
    duration = v.values.dtype.kind == "m"
    what = "a duration" if duration else "a date-time"
    how = (f"e.g. days: data['{v.name}'].dt.total_seconds() / 86400" if duration else
           f"e.g. days since the first date: (data['{v.name}'] - data['{v.name}'].min())"
           f".dt.days")
    return DataError(f"column '{v.name}' is {what} ({v.dtype}) and cannot be used as {use}; "
                     f"convert it to a number first ({how}). As a grouping factor, e.g. "
                     f"(1 | {v.name}), its values are used as levels")


def temporal_format(values: np.ndarray) -> str:
    """How :func:`to_factor` labels these values (see :class:`Temporal`)."""
    if values.dtype.kind == "m":
        return "duration"
    present = values[~np.isnat(values)]
    if np.array_equal(present, present.astype("datetime64[D]")):
        return "date"
    if np.array_equal(present, present.astype("datetime64[s]")):
        return "s"
    return np.datetime_data(values.dtype)[0]


def _temporal_labels(uniq: np.ndarray, fmt: str) -> List[str]:
    if fmt == "duration":
        return [str(pd.Timedelta(x)) for x in uniq]
    unit: Any = "D" if fmt == "date" else fmt
    return [x.replace("T", " ") for x in np.datetime_as_string(uniq, unit=unit).tolist()]


Value = Any  # Numeric | Factor | Temporal | scalar literal (float, bool, str, None, list)


def is_missing(v) -> np.ndarray:
    """Row-wise missingness (R's ``is.na``; NaN counts as missing, as in ``na.omit``)."""
    if isinstance(v, Factor):
        return v.codes < 0
    if isinstance(v, Temporal):
        return np.isnat(v.values)
    vals = v.values
    if vals.ndim == 2:
        return np.isnan(vals).any(axis=1)
    return np.isnan(vals)


def take(v, rows):
    """The value restricted to ``rows`` (an index array or boolean mask)."""
    if isinstance(v, Factor):
        return Factor(v.codes[rows], list(v.levels), v.ordered, v.logical, v.contrast)
    if isinstance(v, Temporal):
        return Temporal(v.values[rows], v.name, v.dtype, v.fmt)
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
    if isinstance(v, Temporal):
        missing = np.isnat(v.values)
        uniq, inv = np.unique(v.values[~missing], return_inverse=True)
        labels = _temporal_labels(uniq, v.fmt or temporal_format(v.values))
        levels = list(dict.fromkeys(labels))     # labels can repeat (a DST fold): merged
        index = {lv: i for i, lv in enumerate(levels)}
        remap = np.array([index[lv] for lv in labels], dtype=np.int64)
        codes = np.full(v.values.shape[0], -1, dtype=np.int64)
        codes[~missing] = remap[inv] if remap.size else inv
        return Factor(codes, levels)
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


def label(x, integer=False) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return format_number(float(x), integer=integer)
    return str(x)


def column_array(data: pd.DataFrame, col):
    """The values of column ``col`` of ``data`` without building a Series (pandas builds one in
    ~20 µs), or None when there is no cheap route (duplicate names, an unexpected pandas).

    The array may be the frame's own storage: read it, never write to it.
    """
    try:
        loc = data.columns.get_loc(col)
    except (KeyError, TypeError):
        return None
    if not isinstance(loc, (int, np.integer)):
        return None
    getter = getattr(data, "_get_column_array", None)   # pandas' private accessor, if present
    if getter is None:
        return None
    try:
        return getter(int(loc))
    except Exception:  # noqa: BLE001 - any surprise: the caller takes the Series route
        return None


def array_value(arr, name: str) -> Any:
    """:func:`column_value` for the common column kinds given as a bare array (a NumPy number
    array or a ``pandas.Categorical``); None for anything else (the caller then converts the
    Series with :func:`column_value`, which gives the same result for these kinds)."""
    if isinstance(arr, np.ndarray):
        if arr.ndim == 1 and arr.dtype.kind in "fiu":
            return Numeric(arr.astype(float), None, arr.dtype.kind in "iu")
        return None
    if isinstance(arr, pd.Categorical):
        return _categorical_value(arr.dtype, arr.codes, name)
    return None


def _categorical_value(dtype, codes, name: str) -> Factor:
    cats = dtype.categories
    hit = _LEVELS.get(id(cats))
    if hit is not None and hit[0] is cats:     # the same (immutable) Index: its labels
        levels = list(hit[1])
    else:
        raw = cats.tolist()
        if all(type(c) is str for c in raw):
            levels = raw
        else:
            integer = pd.api.types.is_integer_dtype(cats.dtype)
            levels = [label(c, integer) for c in raw]
        if len(set(levels)) != len(levels):
            raise DataError(f"column '{name}' has categories that print alike: {levels}")
        _LEVELS.put(id(cats), (cats, tuple(levels)))
    return Factor(np.array(codes, dtype=np.int64), levels, bool(dtype.ordered))  # own copy


#: the level labels of the last few category Indexes read (pandas' Index is immutable, and
#: the entry holds it, so its id is not reused while the entry lives): refitting the same
#: data does not convert its categories to labels again (~10 µs for string categories)
_LEVELS = PatternCache(16)


def _temporal_value(series: pd.Series, name: str, dtype_text: str) -> Temporal:
    """A date-time or duration column as a :class:`Temporal` (time-zone-aware columns in
    their wall-clock time, as R prints a ``POSIXct`` in its time zone)."""
    duration = pd.api.types.is_timedelta64_dtype(series.dtype)
    if not duration and getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    vals = series.to_numpy()
    if vals.dtype.kind not in "mM":           # e.g. an Arrow-backed column
        vals = series.to_numpy(dtype="timedelta64[ns]" if duration else "datetime64[ns]")
    return Temporal(np.asarray(vals), name, dtype_text)


def column_value(series: pd.Series, name: str) -> Any:
    """Convert one DataFrame column to a :class:`Numeric` or :class:`Factor` (R's view of it:
    strings, booleans and Categoricals are factors; numbers are numeric)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_value(dtype, series.array.codes, name)
    if pd.api.types.is_bool_dtype(dtype):
        missing = np.asarray(series.isna(), dtype=bool)
        vals = series.to_numpy(dtype=object)
        codes = np.where(missing, -1, np.asarray([bool(x) if not m else False
                                                  for x, m in zip(vals, missing)], dtype=np.int64))
        return Factor(codes.astype(np.int64), ["FALSE", "TRUE"], logical=True)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":    # plain NumPy numbers: fast path
        return Numeric(series.to_numpy().astype(float), None, dtype.kind in "iu")
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        integer = pd.api.types.is_integer_dtype(dtype)
        vals = series.to_numpy(dtype=float, na_value=np.nan)
        return Numeric(np.asarray(vals, dtype=float), None, integer)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return _temporal_value(series, name, str(dtype))
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"column '{name}' has type {dtype}, which a model formula cannot use; "
                        f"convert it to numbers or strings")
    # object / string columns
    raw = series.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(series), dtype=bool)
    present = [x for x, m in zip(raw, missing) if not m]
    if present and (all(isinstance(x, _dt.date) for x in present)
                    or all(isinstance(x, _dt.timedelta) for x in present)):
        try:   # Python dates/datetimes/timedeltas (a dict of them, Arrow dates as objects)
            conv = (pd.to_timedelta(series) if isinstance(present[0], _dt.timedelta)
                    else pd.to_datetime(series))
        except (TypeError, ValueError):
            conv = None
        if conv is not None:
            kind = type(present[0]).__name__
            return _temporal_value(conv, name, f"object ({kind})")
    if present and all(isinstance(x, (bool, np.bool_)) for x in present):
        codes = np.array([-1 if m else int(bool(x)) for x, m in zip(raw, missing)], dtype=np.int64)
        return Factor(codes, ["FALSE", "TRUE"], logical=True)
    if present and all(isinstance(x, (int, float, np.integer, np.floating))
                       and not isinstance(x, (bool, np.bool_)) for x in present):
        integer = all(isinstance(x, (int, np.integer)) for x in present)
        vals = np.array([np.nan if m else float(x) for x, m in zip(raw, missing)], dtype=float)
        return Numeric(vals, None, integer)
    labels = np.array(["" if m else label(x) for x, m in zip(raw, missing)], dtype=object)
    return factor_from_labels(labels, missing)



def relabel(v: Factor, levels: List[str]) -> Factor:
    """Recode a factor onto another level set by label (labels not in ``levels`` become -1)."""
    index = {lv: i for i, lv in enumerate(levels)}
    remap = np.array([index.get(lv, -1) for lv in v.levels] + [-1], dtype=np.int64)
    codes = remap[np.where(v.codes >= 0, v.codes, len(v.levels))]
    return Factor(codes, list(levels), v.ordered, v.logical)


def drop_unused(f: Factor) -> Factor:
    """R's ``droplevels``/``factor(f)``: remove levels no observation uses (logicals keep both).

    As R's ``factor()``, a factor that loses levels loses its ``contrast`` too (the model frame
    warns, :func:`lmerpy.design.frame`)."""
    if f.logical:
        return f
    nl = len(f.levels)
    codes = f.codes
    if codes.size and codes.min() >= 0:       # no missing values: count the codes
        used = np.bincount(codes, minlength=nl)[:nl] > 0
    else:
        used = np.zeros(nl, dtype=bool)
        used[codes[codes >= 0]] = True
    if used.all():
        return f
    remap = np.cumsum(used) - 1
    codes = np.where(f.codes >= 0, remap[np.maximum(f.codes, 0)], -1).astype(np.int64)
    return Factor(codes, [lv for lv, u in zip(f.levels, used) if u], f.ordered, False)
