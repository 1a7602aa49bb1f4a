"""Building the design's sparse matrices (Zt, Λ') from arrays the design stage knows are valid.

SciPy's ``csc_matrix((data, indices, indptr))`` validates its input and chooses the index type
by scanning the arrays: 30–50 µs per matrix, a visible share of a small fit. The design stage
builds these arrays itself (sorted row indices, consistent ``indptr``), so it can hand them
over as they are. R equivalent: none (``Matrix::sparseMatrix`` in ``mkReTrms``).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["index_dtype", "trusted_csc"]

_INT32_MAX = np.iinfo(np.int32).max


def _probe():
    """The attributes of a fresh SciPy CSC matrix, when they are the ones :func:`trusted_csc`
    fills (checked once against the installed SciPy); else None (use SciPy's constructor)."""
    try:
        ref = sp.csc_matrix((np.zeros(1), np.zeros(1, dtype=np.int32),
                             np.array([0, 1], dtype=np.int32)), shape=(1, 1))
        state = dict(vars(ref))
    except Exception:  # noqa: BLE001 - an unexpected SciPy: the public constructor only
        return None
    if set(state) != {"_shape", "maxprint", "indices", "indptr", "data"}:
        return None
    return {"maxprint": state["maxprint"]}


_FAST = _probe()


def index_dtype(*sizes) -> type:
    """SciPy's index type for a matrix with these dimensions / numbers of nonzeros: int32
    when all fit, else int64 (what ``csc_matrix`` picks for arrays whose values fit)."""
    return np.int32 if max((int(s) for s in sizes), default=0) <= _INT32_MAX else np.int64


def trusted_csc(data, indices, indptr, shape, *, canonical=True) -> sp.csc_matrix:
    """A ``scipy.sparse.csc_matrix`` from arrays known to be valid, without SciPy's checks.

    Parameters
    ----------
    data : ndarray of float64, shape (nnz,)
    indices : ndarray of int, shape (nnz,)
        Row indices, increasing within each column when ``canonical``.
    indptr : ndarray of int, shape (ncol + 1,)
    shape : (int, int)
    canonical : bool
        Mark the matrix as sorted without duplicates (SciPy's ``has_canonical_format``).

    Returns
    -------
    scipy.sparse.csc_matrix
        Equal, index type included, to ``csc_matrix((data, indices, indptr), shape=shape)``.
        The arrays are used as given (converted only if their index type differs).
    """
    shape = (int(shape[0]), int(shape[1]))
    idx = index_dtype(shape[0], shape[1], np.shape(data)[0])
    data = np.asarray(data, dtype=np.float64)
    indices = np.asarray(indices, dtype=idx)
    indptr = np.asarray(indptr, dtype=idx)
    if _FAST is None:
        m = sp.csc_matrix((data, indices, indptr), shape=shape, copy=False)
    else:
        m = sp.csc_matrix.__new__(sp.csc_matrix)
        m.__dict__.update(_shape=shape, maxprint=_FAST["maxprint"], indices=indices,
                          indptr=indptr, data=data)
    if canonical:
        m.has_canonical_format = True
    return m
