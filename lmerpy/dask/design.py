"""The Design of a fit whose data stay on the cluster: everything but the n-long arrays.

:class:`ReducedDesign` is the template Design (levels, contrasts, names, Λ template, θ and its
bounds, the covariance layout) with the sizes of the real data (n, the kept columns of X).
Reading an n-long field (``X``, ``y``, ``Zt``, ``offset``, ``weights``, ``fr``,
``dropped_rows``) raises :class:`~lmerpy.errors.DataNotHereError`.

Two stand-ins, for the scale checks only (:mod:`lmerpy.design.scales`): each term's ``X`` is
one row holding each column's largest |value| over the data (what
:func:`~lmerpy.design.scales.column_exponents` reads), and its ``codes`` are empty.
"""
from __future__ import annotations

import numpy as np

from ..design.structures import Design
from ..errors import DataNotHereError

__all__ = ["ReducedDesign"]

_WHY = ("it is n-long, and a fit on a Dask DataFrame keeps the data on the cluster (only the "
        "cross-products reach the client; fitted(), residuals(), predict() and simulate() "
        "are lazy Dask objects)")


def _absent(name):
    def get(self):
        raise DataNotHereError(f"design.{name} is not available: {_WHY}")

    def put(self, value):      # the dataclass constructor is never run; nothing to store
        raise DataNotHereError(f"design.{name} cannot be set on a ReducedDesign")

    return property(get, put)


class ReducedDesign(Design):
    """A :class:`~lmerpy.design.structures.Design` without its n-long data.

    Parameters
    ----------
    template : Design
        Built on the skeleton frame (levels, contrasts, names, terms); its own n-long arrays
        are dropped.
    n : int
        Observations used (complete rows over all partitions).
    keep : ndarray of int
        Columns of the template's X kept after the rank check.
    dropped_columns : list of str
    n_dropped : int
        Rows dropped for missing values, over all partitions.
    column_max : list of ndarray
        Per random term, each raw column's largest |value| (the scale checks' stand-in).
    messages : list of str
        Design-stage messages (rank drop).
    XtX : ndarray, optional
        X'X of all the template's columns, summed over the partitions (kept as
        ``info["XtX"]`` for the kept columns).
    """

    _n: int
    _p: int
    _q: int

    X = _absent("X")
    y = _absent("y")
    Zt = _absent("Zt")
    offset = _absent("offset")
    weights = _absent("weights")
    fr = _absent("fr")
    dropped_rows = _absent("dropped_rows")

    def __init__(self, template, n, keep, dropped_columns, n_dropped, column_max, messages,
                 XtX=None):
        from dataclasses import fields
        skip = {"X", "y", "Zt", "offset", "weights", "fr", "dropped_rows", "flist"}
        d = self.__dict__
        for f in fields(Design):
            if f.name not in skip:
                value = getattr(template, f.name)
                if isinstance(getattr(Design, f.name, None), property):   # a lazy field
                    d["_lazy_" + f.name] = value
                else:
                    d[f.name] = value
        keep = np.asarray(keep, dtype=np.int64)
        d["X_colnames"] = [template.X_colnames[i] for i in keep]
        d["dropped_columns"] = list(dropped_columns)
        d["messages"] = list(messages)
        d["n_dropped"] = int(n_dropped)
        d["data_index"] = None
        d["_n"], d["_p"], d["_q"] = int(n), int(keep.size), int(template.Zt.shape[0])
        # the grouping factors' levels without their (skeleton) rows: ngrps() counts categories
        d["_lazy_flist"] = template.flist.iloc[:0].copy()
        info = dict(template.info)
        spec = info.get("fixed")
        if spec is not None:
            spec.keep = keep
            spec.dropped = list(dropped_columns)
        if XtX is not None:        # X'X of the kept columns (lmerTest's type I/II hypotheses)
            info["XtX"] = np.asarray(XtX, dtype=float)[np.ix_(keep, keep)]
        if "X_assign" in info:
            info["X_assign"] = np.asarray(template.info["X_assign"])[keep]
        d["info"] = info
        for t, m in zip(self.reterms, column_max):
            t.codes = np.zeros(0, dtype=np.int64)
            t.X = np.asarray(m, dtype=float).reshape(1, -1)

    @property
    def n(self) -> int:
        return self._n

    @property
    def p(self) -> int:
        return self._p

    @property
    def q(self) -> int:
        return self._q

    def __repr__(self) -> str:
        return (f"ReducedDesign(formula={self.formula.deparse()!r}, n={self.n}, p={self.p}, "
                f"q={self.q})")

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    __eq__ = object.__eq__
    __hash__ = object.__hash__
