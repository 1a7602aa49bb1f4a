"""The groups of a correlation structure as index arrays, batched for vectorised whitening.

A correlation structure makes the residuals of a group correlated, ``Cor(e_g) = C_g``; the
fit *whitens* each group, replacing its rows ``D_g`` of ``[X y]`` by ``L_g^{-1} D_g`` where
``C_g = L_g L_g'`` (Cholesky), and adds ``-sum(log diag L_g)`` to the log-likelihood
(nlme's ``recalc.corStruct``: ``corFactor`` then ``logDet``).

Many small groups are the common case (1,000 subjects of 5 to 100 visits), so nothing here
loops over groups in Python: the groups are batched by size (``idx``: a (G, s) array of row
numbers, a group's rows in the model's row order), and within a batch by *pattern* — the
groups whose covariates give the same ``C_g`` (equally spaced visits, the same time points)
share one Cholesky factor and are whitened by one matrix product. The rows of a group need
not be contiguous (``lme`` orders rows by its random-effects groups).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

__all__ = ["Blocks", "Batch", "whiten_batches", "batch_rows", "store_batch_rows"]


@dataclass
class Batch:
    """The groups of one size ``s``: ``idx`` (G, s) row numbers, ``groups`` (G,) group codes;
    ``patterns`` (U, s) the distinct pattern keys and ``pattern_of`` (G,) each group's."""

    s: int
    idx: np.ndarray
    groups: np.ndarray
    patterns: Optional[np.ndarray] = None
    pattern_of: Optional[np.ndarray] = None

    @property
    def contiguous(self) -> bool:
        """The batch's rows are one block ``start .. start + G s`` in group order (rows sorted
        by group, as gls keeps them): then ``D[idx]`` is a reshaped view, no copy."""
        c = self.__dict__.get("_contiguous")
        if c is None:
            first = int(self.idx.flat[0])
            c = bool(np.array_equal(self.idx.ravel(), np.arange(first, first + self.idx.size)))
            self.__dict__["_contiguous"] = c
        return c


class Blocks:
    """Row indices of the groups given by ``codes`` (0-based, one per row)."""

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes, dtype=np.int64)
        self.n = codes.size
        self.codes = codes
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
        present = np.flatnonzero(sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        self.order = order
        self.sizes = sizes
        self.ngroups = int(present.size)
        self.max_len = int(sizes.max()) if sizes.size else 0
        # position of each row within its group (0-based, model row order)
        pos = np.empty(self.n, dtype=np.int64)
        pos[order] = np.arange(self.n) - np.repeat(starts, sizes)
        self.position = pos
        # the previous row of the same group (-1 for a group's first row)
        prev = np.full(self.n, -1, dtype=np.int64)
        later = pos[order] > 0
        prev[order[later]] = order[np.flatnonzero(later) - 1]
        self.prev = prev
        self.batches: List[Batch] = []
        for s in np.unique(sizes[present]):
            gs = present[sizes[present] == s]
            idx = order[starts[gs][:, None] + np.arange(s)[None, :]]
            self.batches.append(Batch(int(s), idx, gs))

    def set_patterns(self, key_rows) -> None:
        """Group the groups of each batch by pattern: ``key_rows(idx) -> (G, s)`` keys."""
        for b in self.batches:
            keys = np.asarray(key_rows(b.idx), dtype=float)
            if b.idx.shape[0] == 1:
                b.patterns, b.pattern_of = keys, np.zeros(1, dtype=np.int64)
            else:
                b.patterns, inv = np.unique(keys, axis=0, return_inverse=True)
                b.pattern_of = np.asarray(inv, dtype=np.int64).ravel()


def batch_rows(D: np.ndarray, b: Batch) -> np.ndarray:
    """``D[b.idx]``: the batch's rows as (G, s, k), a view when the batch is contiguous."""
    if b.contiguous:
        first = int(b.idx.flat[0])
        return D[first:first + b.idx.size].reshape(b.idx.shape + D.shape[1:])
    return D[b.idx]


def store_batch_rows(out: np.ndarray, b: Batch, values: np.ndarray) -> None:
    """``out[b.idx] = values`` (a slice assignment when the batch is contiguous)."""
    if b.contiguous:
        first = int(b.idx.flat[0])
        out[first:first + b.idx.size] = values.reshape((b.idx.size,) + out.shape[1:])
    else:
        out[b.idx] = values


def whiten_batches(blocks: Blocks, D: np.ndarray, matrices) -> tuple:
    """``L_g^{-1} D_g`` for every group, and ``sum_g -sum(log diag L_g)``.

    ``matrices(batch) -> (U, s, s)`` the correlation matrix of each pattern of the batch.
    Returns ``(whitened, logdet)``; ``logdet`` is ``-inf`` when a matrix is not positive
    definite (the caller treats the point as infeasible).
    """
    out = np.empty_like(D)
    total = 0.0
    for b in blocks.batches:
        C = matrices(b)
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            return out, -np.inf
        diag = np.diagonal(L, axis1=-2, axis2=-1)
        if np.any(diag <= 0) or not np.all(np.isfinite(diag)):
            return out, -np.inf
        Linv = np.linalg.inv(L)
        assert b.pattern_of is not None           # set by set_patterns
        counts = np.bincount(b.pattern_of, minlength=C.shape[0])
        total -= float(np.sum(counts * np.sum(np.log(diag), axis=1)))
        Db = batch_rows(D, b)                           # (G, s, k)
        if C.shape[0] == 1:
            store_batch_rows(out, b, np.matmul(Linv[0], Db))
        elif C.shape[0] * 4 < b.idx.shape[0]:
            for u in range(C.shape[0]):
                members = np.flatnonzero(b.pattern_of == u)
                out[b.idx[members]] = np.matmul(Linv[u], Db[members])
        else:
            out[b.idx] = np.matmul(Linv[b.pattern_of], Db)
    return out, total
