"""All of A = Λ'Z'WZΛ + I held dense (small q), for glmer's PIRLS (A's values change with W).

LAPACK's Cholesky of the whole matrix; A⁻¹ (its diagonal blocks, A⁻¹ on the pattern) from the
dense inverse. Also the helpers the blocked factors share (LAPACK's triangular solve and
Cholesky; the first term's per-level inverse factors applied to a block of rows).

R equivalent: the ``L`` of lme4's ``merPredD`` (always CHOLMOD there).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ...errors import LmerpyError
from .base import FactorBase
from .inverse import level_blocks

__all__ = ["DenseFactor", "apply_level_inverse", "chol_lower", "trsm"]


def trsm(L, B, trans=False):
    B = np.asarray(B, dtype=float)
    vec = B.ndim == 1
    out = lapack.dtrtrs(L, B[:, None] if vec else B, lower=1, trans=int(trans))[0]
    return out[:, 0] if vec else out


def apply_level_inverse(Linv, B, transpose=False):
    """L₁⁻¹B (``transpose``: L₁'⁻¹B) for a block-diagonal L₁ given by its per-level inverse
    factors ``Linv`` (n_levels × p × p); B has n_levels·p rows, level by level."""
    nl, p, _ = Linv.shape
    k = B.shape[1]
    if p == 1:
        return Linv[:, 0, :] * B
    Bg = B.reshape(nl, p, k)
    sub = "gji,gjk->gik" if transpose else "gij,gjk->gik"
    return np.einsum(sub, Linv, Bg).reshape(nl * p, k)


def chol_lower(M):
    L, info = lapack.dpotrf(M, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise LmerpyError(f"Cholesky factorisation of Λ'Z'WZΛ + I failed (LAPACK dpotrf info "
                          f"= {info}): the working weights are not finite or positive")
    return L


class DenseFactor(FactorBase):
    """A held dense (small q)."""

    name = "dense"

    def __init__(self, smap):
        self.q = q = smap.q
        self.perm = np.arange(q)
        low = smap.lower_pos
        self._low_pos = low
        self._low_flat = smap.cols[low] * q + smap.rows[low]   # Fortran order
        self._rows, self._cols = smap.rows, smap.cols
        self.L = None

    def copy(self):
        """An independent factor of the same pattern (no factorisation held)."""
        other = object.__new__(DenseFactor)
        other.__dict__.update(self.__dict__)
        other.L = None
        return other

    def factor(self, values, theta=None):
        q = self.q
        A = np.zeros(q * q)
        A[self._low_flat] = values[self._low_pos]
        self.L = chol_lower(A.reshape((q, q), order="F"))
        self._logdet = None

    def logdet(self):
        if self._logdet is None:   # only the last PIRLS iteration's is ever used
            self._logdet = float(2.0 * np.log(np.diagonal(self.L)).sum())
        return self._logdet

    def solve_L(self, B):
        return trsm(self.L, B)

    def solve_Lt(self, C):
        return trsm(self.L, C, trans=True)

    def L_matrix(self):
        return sp.csc_matrix(np.tril(self.L))

    def inverse(self):
        """A⁻¹ (dense)."""
        Li = trsm(self.L, np.eye(self.q))
        return Li.T @ Li

    def inverse_on_pattern(self):
        """A⁻¹'s values on A's pattern (from the dense A⁻¹)."""
        return self.inverse()[self._rows, self._cols]

    def diagonal_blocks(self, row_offset, n_levels, n_columns):
        """Diagonal blocks (n_levels, n_columns, n_columns) of A⁻¹ for one term."""
        idx = row_offset + np.arange(n_levels * n_columns)
        return level_blocks(self.inverse()[np.ix_(idx, idx)], n_levels, n_columns)
