"""FF' by sparse products with a fixed plan (the blocked factor's "sparse" mode).

F's pattern is the same at every θ, so the products' symbolic work (SciPy's ``maxnnz`` pass,
the format conversions of F's row blocks and their transposes, where each product's entries
land in S) is done once: an evaluation gathers F's values into the blocks' data arrays, runs
SciPy's numeric sparse product on them and subtracts the results from S's lower triangle.
Products of row blocks (i, j), i ≥ j, compute little of the upper triangle.

R equivalent: none (CHOLMOD's supernodal updates inside lme4's ``updateL``).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

try:  # SciPy's numeric sparse product without its symbolic pass (same arithmetic)
    from scipy.sparse import _sparsetools as _spt
except ImportError:  # pragma: no cover - a SciPy without it: public products every time
    _spt = None

__all__ = ["SparseFFT"]


class SparseFFT:
    """The plan of FF' for one layout.

    Parameters
    ----------
    FT : scipy.sparse.csr_matrix
        F' with its rows in any fixed order (q₁ × q₂); only its pattern is used here.
    q2 : int
    n_blocks : int
        Row blocks of F.
    """

    def __init__(self, FT, q2, n_blocks):
        nnz = FT.nnz
        self.q2 = q2
        marker = sp.csr_matrix((np.arange(nnz, dtype=np.float64), FT.indices, FT.indptr),
                               shape=FT.shape)
        Fr = marker.T.tocsr()                          # F (q₂ × q₁): data = places in FT
        cuts = np.linspace(0, q2, n_blocks + 1).astype(int)
        self.cuts = cuts
        itype = np.int32 if nnz < 2 ** 31 - 1 else np.int64
        rows = [Fr[cuts[i]:cuts[i + 1]] for i in range(n_blocks)]
        cols = [r.T.tocsr() for r in rows]             # F_j' (q₁ × rows of block j)
        self.A = [(r.indptr, r.indices, r.data.astype(itype), r.shape) for r in rows]
        self.B = [(c.indptr, c.indices, c.data.astype(itype), c.shape) for c in cols]
        self.pairs = []
        for j in range(n_blocks):
            for i in range(j, n_blocks):
                plan = self._structure(i, j) if _spt is not None else None
                self.pairs.append((i, j, plan))

    def _lower_flat(self, i, j, r, c):
        """(kept entries, their Fortran flat positions in S) of block (i, j)'s entries
        (r, c): all of them below the diagonal blocks, the lower ones on them."""
        cuts, q2 = self.cuts, self.q2
        keep = np.flatnonzero(r + cuts[i] >= c + cuts[j]) if i == j else slice(None)
        flat = (c[keep].astype(np.int64) + cuts[j]) * q2 + r[keep] + cuts[i]
        return keep, flat

    def _structure(self, i, j):
        """The product's structure (a numeric run on values 1: no entry cancels)."""
        ap, ai, ad, ashape = self.A[i]
        bp, bi, bd, bshape = self.B[j]
        M, N = ashape[0], bshape[1]
        nz = int(_spt.csr_matmat_maxnnz(M, N, ap, ai, bp, bi))
        Cp = np.empty(M + 1, dtype=ap.dtype)
        Cj = np.empty(nz, dtype=ap.dtype)
        Cx = np.empty(nz)
        _spt.csr_matmat(M, N, ap, ai, np.ones(ad.shape[0]), bp, bi, np.ones(bd.shape[0]),
                        Cp, Cj, Cx)
        nz = int(Cp[-1])
        Cj = Cj[:nz].copy()
        r = np.repeat(np.arange(M), np.diff(Cp))
        keep, flat = self._lower_flat(i, j, r, Cj)
        return Cp, Cj, nz, keep, flat

    def subtract(self, ft_data, S):
        """S's lower triangle −= FF' for F' with data ``ft_data`` (the plan's FT order)."""
        flat_S = S.reshape(-1, order="F")
        for i, j, plan in self.pairs:
            ap, ai, ad, ashape = self.A[i]
            bp, bi, bd, bshape = self.B[j]
            ax, bx = ft_data[ad], ft_data[bd]
            if plan is not None:
                Cp, Cj, nz, keep, flat = plan
                Cx = np.empty(nz)
                cp, cj = np.empty_like(Cp), np.empty_like(Cj)
                _spt.csr_matmat(ashape[0], bshape[1], ap, ai, ax, bp, bi, bx, cp, cj, Cx)
                if int(cp[-1]) == nz:      # SciPy drops exact zeros: else the structure moved
                    flat_S[flat] -= Cx[keep]
                    continue
            self._general(i, j, ax, bx, flat_S)

    def _general(self, i, j, ax, bx, flat_S):
        """Block (i, j) by SciPy's public product, its entries placed as they come."""
        ap, ai, _, ashape = self.A[i]
        bp, bi, _, bshape = self.B[j]
        C = (sp.csr_matrix((ax, ai, ap), shape=ashape)
             @ sp.csr_matrix((bx, bi, bp), shape=bshape)).tocoo()
        keep, flat = self._lower_flat(i, j, C.row, C.col)
        flat_S[flat] -= C.data[keep]
