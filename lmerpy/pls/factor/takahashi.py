"""Sparse inverse subset of A from a sparse Cholesky factor (Takahashi's recurrences).

With L L' = M (= P A P'), Z = M⁻¹ satisfies Z L = L'⁻¹, which gives, column by column from
the last one (l = L[R_j, j] / L_jj, R_j the below-diagonal rows of column j)::

    Z[i, j] = −Σ_{k ∈ R_j} Z[i, k] l_k          (i ∈ R_j)
    Z[j, j] = 1/L_jj² − Σ_{k ∈ R_j} Z[k, j] l_k

Every Z[i, k] needed lies on the pattern of L (R_j is a clique of the filled graph) and in a
column that is an ancestor of j in the elimination tree, so all columns of one depth in that
tree are processed together, vectorised. The work is Σ_j |R_j|², about the flops of the
factorisation: cheap for nested designs, which have little fill — the case where the blocked
backend's dense block would be too large.

R equivalent: none (lme4 gets conditional variances from solves with the factor).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..crossprod import expand_pairs

__all__ = ["TakahashiPlan", "takahashi_work"]


def takahashi_work(L):
    """Σ_j |R_j|² for a lower-triangular CSC factor (the cost of the recurrences)."""
    m = np.diff(L.indptr).astype(np.int64) - 1
    return int(np.sum(m * m))


class TakahashiPlan:
    """Index plan of the recurrences for one pattern of L, and A's pattern mapped onto it.

    Parameters
    ----------
    L : scipy.sparse.csc_matrix
        Lower-triangular factor (its pattern; any values), L L' = A[perm][:, perm].
    perm : ndarray of int
    rows, cols : ndarray of int
        The entries of A whose inverse values are wanted.
    """

    def __init__(self, L, perm, rows, cols):
        L = sp.csc_matrix(L)
        L.sort_indices()
        q = L.shape[0]
        self.q = q
        self.nnz = L.nnz
        self.indptr = L.indptr.copy()
        ip = L.indptr.astype(np.int64)
        ind = L.indices.astype(np.int64)
        col = np.repeat(np.arange(q), np.diff(ip))
        if np.any(ind[ip[:-1]] != np.arange(q)):
            raise ValueError("factor columns must start with their diagonal entry")
        self.diag = ip[:-1]
        self.col_of = col
        keys = col * q + ind
        m = np.diff(ip) - 1
        parent = np.where(m > 0, ind[np.minimum(ip[:-1] + 1, ip[1:] - 1)], -1)
        depth = np.zeros(q, dtype=np.int64)
        for j in range(q - 1, -1, -1):     # parents have larger indices
            pj = parent[j]
            if pj >= 0:
                depth[j] = depth[pj] + 1
        order = np.argsort(depth, kind="stable")
        bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2))
        self.levels = []
        for d in range(depth.max() + 1):
            J = order[bounds[d]:bounds[d + 1]]
            mj = m[J]
            has = mj > 0
            Jh = J[has]
            first = ip[Jh] + 1
            nh = mj[has]
            # below-diagonal entries of these columns, and their local numbering
            ent = np.repeat(first, nh) + (np.arange(nh.sum())
                                          - np.repeat(np.cumsum(nh) - nh, nh))
            loc = np.empty(self.nnz, dtype=np.int64) if ent.size else None
            if ent.size:
                loc[ent] = np.arange(ent.size)
            e, pi, pk = expand_pairs(first, nh, first, nh)
            ri, rk = ind[pi], ind[pk]
            zkey = np.minimum(ri, rk) * q + np.maximum(ri, rk)
            zpos = np.searchsorted(keys, zkey)
            ent_col = np.repeat(np.arange(Jh.size), nh)
            self.levels.append(dict(
                J=J, ent=ent, tgt=loc[pi] if ent.size else pi, zpos=zpos, lpos=pk,
                ent_col=ent_col, Jh=Jh, n_ent=ent.size))
        # A[a, b] -> Z[pinv[a], pinv[b]] on the lower pattern
        pinv = np.empty(q, dtype=np.int64)
        pinv[np.asarray(perm, dtype=np.int64)] = np.arange(q)
        i, j = pinv[np.asarray(rows)], pinv[np.asarray(cols)]
        akey = np.minimum(i, j) * q + np.maximum(i, j)
        apos = np.searchsorted(keys, akey)
        if np.any(apos >= keys.shape[0]) or np.any(keys[np.minimum(apos, keys.shape[0] - 1)]
                                                    != akey):
            raise ValueError("an entry of A lies outside the pattern of its factor")
        self.apos = apos

    def matches(self, L):
        return L.nnz == self.nnz and np.array_equal(L.indptr, self.indptr)

    def inverse(self, L):
        """Values of A⁻¹ at the requested entries, from the numeric factor L."""
        L = sp.csc_matrix(L)
        L.sort_indices()
        x = L.data
        d = x[self.diag]
        lnorm = x / d[self.col_of]
        Z = np.zeros(self.nnz)
        for lev in self.levels:
            if lev["n_ent"]:
                contrib = Z[lev["zpos"]] * lnorm[lev["lpos"]]
                zr = -np.bincount(lev["tgt"], weights=contrib, minlength=lev["n_ent"])
                Z[lev["ent"]] = zr
                corr = np.bincount(lev["ent_col"], weights=lnorm[lev["ent"]] * zr,
                                   minlength=lev["Jh"].size)
                Z[self.diag[lev["J"]]] = 1.0 / d[lev["J"]] ** 2
                Z[self.diag[lev["Jh"]]] -= corr
            else:
                Z[self.diag[lev["J"]]] = 1.0 / d[lev["J"]] ** 2
        return Z[self.apos]
