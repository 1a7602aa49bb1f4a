"""The data a user hands to lmerpy, as the pandas DataFrame the design stage reads.

R equivalent: ``as.data.frame(data)`` at the start of ``model.frame``. Every public function
that takes data (``lmer``, ``glmer``, ``glmer_nb``, ``lFormula``/``glFormula``/
``build_design``, ``predict``/``simulate`` ``newdata``, ``update(data=)``,
``plot.panel_plot``, and so the command line) passes it through :func:`as_data_frame` first.

Contract of :func:`as_data_frame`
---------------------------------
* Accepts a pandas DataFrame, a polars DataFrame, a pyarrow Table or RecordBatch, any object
  with the Arrow PyCapsule interface (``__arrow_c_stream__`` / ``__arrow_c_array__``) or the
  dataframe interchange protocol (``__dataframe__``), both read through pyarrow (an error
  names it when it is not installed), and a dict (any mapping) of equal-length one-dimensional
  columns (lists, tuples, NumPy arrays, pandas Series/arrays, polars Series, pyarrow arrays).
  Anything else is a :class:`~lmerpy.errors.DataError` naming the type received.
* Returns a pandas DataFrame: the caller's own object when it is one already (no copy), a new
  frame otherwise (also for a pandas frame with Arrow-backed ``pd.ArrowDtype`` columns, which
  are converted as a pyarrow table's columns are). The caller's data are never modified, and polars/pyarrow are imported only
  when the input is one of theirs (``import lmerpy`` stays light).
* Each column keeps what R would see in it: pandas Categoricals and pyarrow dictionary columns
  keep their categories in order (levels), and their ordered flag; polars ``Enum`` columns keep
  their categories' order; polars ``Categorical`` and every string column are character
  columns (the design sorts their levels as R sorts strings); booleans stay logical and
  integers integer, also with missing values (pandas' nullable ``Int64``/``boolean``); nulls
  (``None``, ``pd.NA``, NaN, ``NaT``) are missing values; dates, date-times and durations stay
  temporal (the design makes grouping factors of them and refuses them as numbers); Arrow
  decimals become floats.
* A dict's columns are taken by position (a Series' index is ignored); columns of unequal
  lengths, scalars and two-dimensional arrays are errors naming the columns and lengths.
* Row counts, duplicate column names and empty frames are not judged here (the design stage
  reports those when the model uses the data).
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Dict

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["as_data_frame"]


def _column_dtypes(data: pd.DataFrame) -> Any:
    """The dtypes of ``data``'s columns: from its block manager when pandas has one (1 µs;
    ``data.items()`` builds a Series per column, ~25 µs each, a visible share of a small
    fit), else column by column."""
    mgr = getattr(data, "_mgr", None)
    get = getattr(mgr, "get_dtypes", None)
    if callable(get):
        try:
            dtypes = get()
        except (TypeError, ValueError, AttributeError):    # pragma: no cover - other pandas
            dtypes = None
        if dtypes is not None and len(dtypes) == data.shape[1]:
            return dtypes
    return [s.dtype for _, s in data.items()]


def as_data_frame(data: Any, what: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame (see the module's contract).

    Parameters
    ----------
    data : DataFrame-like or mapping of columns
        pandas, polars, pyarrow, anything with ``__arrow_c_stream__`` or ``__dataframe__``, or a
        dict of equal-length columns. Never modified.
    what : str
        The argument's name in messages (``"data"``, ``"newdata"``).

    Returns
    -------
    pandas.DataFrame
        ``data`` itself when it is a pandas DataFrame.

    Raises
    ------
    DataError
        An unsupported type, a dict with columns of unequal lengths, a scalar or a 2-d column,
        an Arrow object without pyarrow installed.
    """
    if isinstance(data, pd.DataFrame):
        # column by column: ``data.dtypes`` builds a Series through pandas_dtype, which enters
        # warnings.catch_warnings and so resets Python's once-per-location warning registry
        # (every later lmerpy warning would be shown again at the same user line)
        if any(isinstance(t, pd.ArrowDtype) for t in _column_dtypes(data)):
            return _without_arrow_dtypes(data, what)
        return data
    kind = _library(data)
    if type(data).__module__.split(".", 1)[0] in ("dask", "dask_expr"):
        raise DataError(f"{what}: a Dask {type(data).__name__} is fitted where it lives by "
                        "lmer() and glmer() only (lmerpy.dask); this entry needs an in-memory table: pass "
                        "ddf.compute() if it fits in memory")
    if kind == "polars":
        return _from_polars(data, what)
    if kind == "pyarrow":
        return _from_arrow(data, what)
    if isinstance(data, Mapping):
        return _from_mapping(data, what)
    if isinstance(data, (pd.Series, np.ndarray, list, tuple, str, bytes)) or data is None:
        raise DataError(_not_a_frame(data, what))
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        pa = _pyarrow(data, what, "the Arrow PyCapsule interface")
        try:
            table = pa.table(data)
        except (TypeError, ValueError, pa.ArrowException) as e:
            raise DataError(f"{what}: cannot read the {type(data).__name__} through the "
                            f"Arrow PyCapsule interface ({e})") from None
        return _from_arrow(table, what)
    if hasattr(data, "__dataframe__"):
        return _from_interchange(data, what)
    raise DataError(_not_a_frame(data, what))


def _without_arrow_dtypes(data: pd.DataFrame, what: str) -> pd.DataFrame:
    """A pandas frame whose ``pd.ArrowDtype`` columns (``dtype_backend="pyarrow"``) are
    converted as a pyarrow table's are; a new frame with the same index, names and attrs."""
    import pyarrow as pa
    cols = {}
    for i in range(data.shape[1]):
        col = data.iloc[:, i]
        if isinstance(col.dtype, pd.ArrowDtype):
            cols[i] = _from_arrow(pa.table({"x": pa.array(col.array)}), what)["x"].array
        else:
            cols[i] = col.array
    out = pd.DataFrame(cols, index=data.index, copy=False)
    out.columns = data.columns
    out.attrs = dict(data.attrs)
    return out


def _not_a_frame(data, what: str) -> str:
    module = type(data).__module__
    kind = type(data).__name__ if module == "builtins" else f"{module}.{type(data).__name__}"
    return (f"{what} must be a data frame (pandas, polars, pyarrow, or anything with "
            f"__arrow_c_stream__ or __dataframe__) or a dict of equal-length columns, not "
            f"{kind}")


def _library(obj) -> str:
    """``"polars"`` / ``"pyarrow"`` when ``obj`` comes from that library (by its type's module:
    neither library is imported to find out)."""
    top = type(obj).__module__.split(".", 1)[0]
    return top if top in ("polars", "pyarrow") else ""


def _pyarrow(data, what: str, route: str):
    try:
        import pyarrow
    except ImportError:
        raise DataError(f"{what}: reading a {type(data).__name__} through {route} needs "
                        f"pyarrow; install it (pip install pyarrow) or pass a pandas "
                        f"DataFrame") from None
    return pyarrow


def _from_interchange(data, what: str) -> pd.DataFrame:
    """An object with ``__dataframe__``, read by pyarrow's consumer of the protocol (pandas'
    own consumer loses missing values of categorical and boolean columns), with each
    categorical column's ``is_ordered`` flag (which pyarrow's consumer drops) put back."""
    pa = _pyarrow(data, what, "the dataframe interchange protocol")
    from pyarrow import interchange
    try:
        xdf = data.__dataframe__(allow_copy=True)
        table = interchange.from_dataframe(xdf, allow_copy=True)
    except (TypeError, ValueError, NotImplementedError, RuntimeError, AttributeError,
            pa.ArrowException) as e:
        raise DataError(f"{what}: cannot read the {type(data).__name__} through the "
                        f"dataframe interchange protocol ({e})") from None
    out = _from_arrow(table, what)
    for name in out.columns:
        if not isinstance(out[name].dtype, pd.CategoricalDtype):
            continue
        try:
            ordered = bool(xdf.get_column_by_name(name).describe_categorical["is_ordered"])
        except (TypeError, KeyError, AttributeError, NotImplementedError):
            continue
        if ordered and not out[name].dtype.ordered:
            out[name] = out[name].cat.as_ordered()
    return out


# ----------------------------------------------------------------------------- mappings


def _from_mapping(data: Mapping, what: str) -> pd.DataFrame:
    columns: Dict[Any, Any] = {}
    lengths: Dict[Any, int] = {}
    for name, col in data.items():
        columns[name] = _mapping_column(name, col, what)
        lengths[name] = len(columns[name])
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"'{k}' has {n}" for k, n in lengths.items())
        raise DataError(f"{what}: the columns of a dict must have equal lengths ({shown})")
    n = next(iter(lengths.values()), 0)
    return pd.DataFrame(columns, index=pd.RangeIndex(n), copy=True)


def _mapping_column(name, col, what: str):
    """One column of a dict as something pandas takes by position (a 1-d array or list)."""
    kind = _library(col)
    if kind == "polars" and type(col).__name__ == "Series":
        return _polars_column(col, sys.modules["polars"])
    if kind == "pyarrow" and hasattr(col, "type") and hasattr(col, "to_pandas"):
        import pyarrow as pa
        return _from_arrow(pa.table({"x": col}), what)["x"].array
    if isinstance(col, pd.Series):
        return col.array                      # by position: the Series' index is not used
    if isinstance(col, pd.DataFrame):
        raise DataError(f"{what}: column '{name}' of the dict is a DataFrame, not a column")
    if isinstance(col, (str, bytes)) or not hasattr(col, "__len__"):
        raise DataError(f"{what}: column '{name}' of the dict is a {type(col).__name__} "
                        f"({col!r:.40}); each column must be a list or an array of values, "
                        f"one per row")
    if isinstance(col, np.ndarray) or hasattr(col, "__array__") and hasattr(col, "shape"):
        arr = col if isinstance(col, (np.ndarray, pd.api.extensions.ExtensionArray)) \
            else np.asarray(col)
        if arr.ndim != 1:
            raise DataError(f"{what}: column '{name}' of the dict has shape "
                            f"{tuple(arr.shape)}; each column must be one-dimensional")
        return arr
    if isinstance(col, range):
        return np.arange(col.start, col.stop, col.step)
    return list(col)


# ----------------------------------------------------------------------------- pyarrow


def _from_arrow(obj, what: str) -> pd.DataFrame:
    """A pyarrow Table/RecordBatch (or anything ``pyarrow.table`` reads) as pandas: integer
    and boolean columns with nulls become pandas' nullable ``Int64``/``boolean`` (R's integer
    and logical with NA), dates become datetime64, decimals floats, dictionaries Categoricals."""
    import pyarrow as pa
    table = obj if isinstance(obj, (pa.Table, pa.RecordBatch)) else pa.table(obj)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    casts = {}
    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            casts[i] = pa.float64()
        elif pa.types.is_date64(field.type):
            casts[i] = pa.timestamp("ms")
    for i, typ in casts.items():
        table = table.set_column(i, table.schema.field(i).name, table.column(i).cast(typ))
    nullable = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
                pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
                pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
                pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
                pa.bool_(): pd.BooleanDtype()}
    try:
        return table.to_pandas(types_mapper=nullable.get, date_as_object=False)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise DataError(f"{what}: cannot convert the Arrow table to columns lmerpy can read "
                        f"({e})") from None


# ----------------------------------------------------------------------------- polars


def _from_polars(df, what: str) -> pd.DataFrame:
    pl = sys.modules["polars"]
    if isinstance(df, pl.LazyFrame):
        raise DataError(f"{what} is a polars LazyFrame; collect it first ({what}.collect())")
    if isinstance(df, pl.Series):
        raise DataError(_not_a_frame(df, what))
    if not isinstance(df, pl.DataFrame):
        if hasattr(df, "__arrow_c_stream__"):
            return _from_arrow(df, what)
        raise DataError(_not_a_frame(df, what))
    cols = {name: _polars_column(df.get_column(name), pl) for name in df.columns}
    return pd.DataFrame(cols, index=pd.RangeIndex(df.height), copy=False)


def _polars_column(s, pl):
    """One polars Series as a pandas-readable 1-d array, without pyarrow."""
    dt = s.dtype
    nulls = s.null_count() > 0
    if isinstance(dt, pl.Enum):
        codes = s.to_physical().fill_null(-1).to_numpy().astype(np.int64)
        return pd.Categorical.from_codes(codes, categories=list(dt.categories.to_list()))
    if dt == pl.Categorical or dt == pl.String:
        return np.asarray(s.cast(pl.String).to_numpy(), dtype=object)   # None where null
    if dt == pl.Boolean:
        if not nulls:
            return s.to_numpy()
        return pd.arrays.BooleanArray(s.fill_null(False).to_numpy(),
                                      s.is_null().to_numpy())
    if dt.is_integer():
        if not nulls:
            return s.to_numpy()
        return pd.arrays.IntegerArray(s.fill_null(0).to_numpy(), s.is_null().to_numpy())
    if dt.is_float():
        return s.to_numpy()                   # nulls are NaN
    if dt.is_decimal():
        return s.cast(pl.Float64).to_numpy()
    if dt == pl.Datetime:
        if getattr(dt, "time_zone", None):
            s = s.dt.replace_time_zone(None)  # wall-clock time, as R prints a POSIXct
        return s.to_numpy()
    if dt in (pl.Date, pl.Duration):
        return s.to_numpy()
    if dt == pl.Null:
        return np.full(s.len(), None, dtype=object)
    out = np.empty(s.len(), dtype=object)     # lists, structs...: Python objects, one a row
    for i, x in enumerate(s.to_list()):
        out[i] = x
    return out
