"""Per-observation results padded back to the data's rows for ``na_action="exclude"``.

R's ``na.exclude`` fits the complete cases, as ``na.omit``, but ``fitted()``, ``residuals()``,
``predict()`` (without new data) and ``simulate()`` return one value per row of the data, NA
where a row was dropped (R: ``naresid`` / ``napredict`` with an ``exclude`` na.action).
Here those rows hold NaN and the result carries the data's index; with ``"omit"`` (the
default) and ``"fail"`` the results have the model frame's rows, as before. ``model_frame``
and ``nobs`` stay the complete cases, as in R.

R equivalent: ``stats::naresid.exclude``, ``stats::napredict.exclude``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["excludes_rows", "model_rows", "naresid", "naresid_frame"]


def excludes_rows(design) -> bool:
    """True when results must be padded: ``na_action="exclude"`` and rows were dropped."""
    return getattr(design, "na_action", "omit") == "exclude" and \
        getattr(design, "n_dropped", 0) > 0


def _layout(design):
    """(kept positions, number of data rows, the data's index)."""
    n_all = int(design.n) + int(design.n_dropped)
    kept = np.ones(n_all, dtype=bool)
    kept[np.asarray(design.dropped_rows, dtype=np.int64)] = False
    index = design.data_index
    if index is None or len(index) != n_all:
        index = pd.RangeIndex(n_all)
    return kept, n_all, index


def naresid(design, values, name=None) -> pd.Series:
    """A Series of one value per model-frame row, padded with NaN to the data's rows when the
    design excludes rows (R: ``naresid(na.action, x)``); else indexed as the model frame."""
    values = np.asarray(values)
    if not excludes_rows(design):
        return pd.Series(values, index=design.fr.index, name=name)
    kept, n_all, index = _layout(design)
    dtype = np.result_type(values.dtype, np.float64)
    out = np.full(n_all, np.nan, dtype=dtype)
    out[kept] = values
    return pd.Series(out, index=index, name=name)


def model_rows(design, values) -> np.ndarray:
    """The model frame's rows of a per-row result that :func:`naresid` padded (its inverse:
    ``model_rows(d, naresid(d, v))`` is ``v``)."""
    values = np.asarray(values)
    if not excludes_rows(design):
        return values
    kept, _, _ = _layout(design)
    return values[kept]


def naresid_frame(design, frame: pd.DataFrame) -> pd.DataFrame:
    """Each column of a frame with one row per model-frame row padded to the data's rows (NaN
    in numeric columns, a missing category in Categorical ones), the columns kept as they are
    (R: ``simulate`` on an ``na.exclude`` fit)."""
    if not excludes_rows(design):
        return frame
    kept, n_all, index = _layout(design)
    pos = np.flatnonzero(kept)
    cols = {}
    for k, col in enumerate(frame.columns):
        v = frame.iloc[:, k]
        if isinstance(v.dtype, pd.CategoricalDtype):
            codes = np.full(n_all, -1, dtype=np.int64)
            codes[pos] = v.cat.codes.to_numpy()
            cols[k] = pd.Categorical.from_codes(codes, dtype=v.dtype)
        else:
            a = np.asarray(v, dtype=float)
            out = np.full(n_all, np.nan)
            out[pos] = a
            cols[k] = out
    out = pd.DataFrame(cols, index=index)
    out.columns = frame.columns
    out.attrs.update(frame.attrs)
    return out
