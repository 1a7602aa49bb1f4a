"""The block-first Cholesky factor of A = Λ'Z'WZΛ + I for glmer's PIRLS (A's values change
with the working weights W at every iteration, so it starts from A's values each time).

The term with the most random effects first — its block of A is block-diagonal by level (one
p₁×p₁ Cholesky per level) — and the remaining terms as one dense Schur complement
S = A₂₂ − FF', F = A₂₁L₁₁'⁻¹ (crossed designs such as VerbAgg: 316 + 24). lmer's blocked
factor (:mod:`lmerpy.pls.factor.blocked`) has the same layout but builds A's pieces from
precomputed products of the fixed Z'WZ. The index maps are built once per design.

Satisfies :class:`~.protocol.Factor`; :func:`.chooser.choose_factor` picks it
(``weights_vary=True``) for crossed designs, :class:`.dense.DenseFactor` for small q and
:class:`.cholmod.CholmodFactor` for large or deeply nested designs.

R equivalent: the ``L`` of lme4's ``merPredD`` (always CHOLMOD there).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

from ...errors import LmerpyError
from ..crossprod import expand_pairs, unique_sorted
from .base import FirstTermFactor
from .dense import apply_level_inverse, chol_lower, trsm
from .inverse import level_blocks

__all__ = ["BlockFirstFactor", "OWN_INVERSE_WORK", "SchurPattern", "schur_pattern"]

#: most flops (q₂²q₁) :meth:`BlockFirstFactor.inverse_on_pattern` spends on its dense part
OWN_INVERSE_WORK = 50_000_000


#: most pairs of slots :meth:`SchurPattern.density` counts with NumPy (more: a sparse
#: product, whose set-up costs ~0.3 ms but not per pair)
PAIR_COUNT_MAX = 50_000


class SchurPattern:
    """Where the Schur complement of a block-first factor gets its entries, from A's pattern
    alone: the rows of the other terms (``I2``, local numbering ``loc2``), A₂₂'s lower
    entries (``pos22``, positions in A's pattern) and the slots (row of part 2, level of the
    first term) that A₂₁ fills (``srow``, ``slev``), FF' filling every pair of rows sharing
    a level. Made once for :class:`BlockFirstFactor`, or alone by the factor chooser, which
    needs only :meth:`density` to decide against this factor."""

    def __init__(self, smap, blocks, first):
        q = smap.q
        off, nl, p1 = blocks[first]
        q1 = nl * p1
        self.q2, self.nl = q - q1, nl
        self.I1 = np.arange(off, off + q1)
        mask = np.ones(q, dtype=bool)
        mask[self.I1] = False
        self.I2 = np.flatnonzero(mask)
        loc2 = np.full(q, -1, dtype=np.int64)
        loc2[self.I2] = np.arange(self.q2)
        self.loc2 = loc2
        r, c = smap.rows, smap.cols
        in1r = (r >= off) & (r < off + q1)
        in1c = (c >= off) & (c < off + q1)
        both = np.flatnonzero(~in1r & ~in1c)
        self.pos22 = both[loc2[r[both]] >= loc2[c[both]]]
        self.r22, self.c22 = loc2[r[self.pos22]], loc2[c[self.pos22]]
        # slots: (row of part 2, level of term 1) with some A21 entry; p1 values each
        sel = np.flatnonzero(~in1r & in1c)
        key = unique_sorted(loc2[r[sel]] * nl + (c[sel] - off) // p1)
        self.srow, self.slev = key // nl, key % nl
        self._density = None

    def density(self):
        """Structural density of the Schur complement's lower triangle: the entries of
        A₂₂'s pattern and FF''s, plus q₂, over q₂(q₂ + 1)/2 (computed once)."""
        if self._density is None:
            self._density = self._count()
        return self._density

    def _count(self):
        q2, nl, srow, slev = self.q2, self.nl, self.srow, self.slev
        counts = np.bincount(slev, minlength=max(nl, 1)).astype(np.int64)
        if int(np.sum(counts * counts)) <= PAIR_COUNT_MAX:
            # the pairs of slots of each level, lower ones, with A₂₂'s: distinct entries
            order = np.lexsort((srow, slev))
            rows = srow[order]
            has = np.flatnonzero(counts)
            start = (np.cumsum(counts) - counts)[has]
            _, k1, k2 = expand_pairs(start, counts[has], start, counts[has])
            a, b = rows[k1], rows[k2]
            lower = a >= b
            keys = np.concatenate((a[lower] * q2 + b[lower], self.r22 * q2 + self.c22))
            nz = np.unique(keys).shape[0] + q2
        else:
            inc = sp.csr_matrix((np.ones(srow.shape[0]), (srow, slev)), shape=(q2, max(nl, 1)))
            pat = (inc @ inc.T) + sp.csr_matrix((np.ones(self.pos22.shape[0]),
                                                 (self.r22, self.c22)), shape=(q2, q2))
            nz = sp.tril(pat).nnz + q2
        return min(1.0, nz / max(q2 * (q2 + 1) / 2, 1))


def schur_pattern(smap, blocks, first):
    """:class:`SchurPattern` of the block-first factor eliminating term ``first``."""
    return SchurPattern(smap, blocks, first)


class BlockFirstFactor(FirstTermFactor):
    """The largest term's block first (block-diagonal by level), the rest as a dense Schur
    complement.

    Parameters
    ----------
    smap : ScalingMap
        A's pattern.
    blocks : list of (row_offset, n_levels, n_columns)
    first : int
        The term eliminated first; its block of A must be block-diagonal by level.
    """

    name = "blocked"

    def __init__(self, smap, blocks, first, pattern=None):
        q = smap.q
        off, nl, p1 = blocks[first]
        q1 = nl * p1
        q2 = q - q1
        self.q, self.q1, self.q2, self.nl, self.p1 = q, q1, q2, nl, p1
        sch = schur_pattern(smap, blocks, first) if pattern is None else pattern
        I1, I2, loc2, srow, slev = sch.I1, sch.I2, sch.loc2, sch.srow, sch.slev
        self.I1, self.I2 = I1, I2
        self.perm = np.concatenate((I1, I2)).astype(np.int64)
        r, c = smap.rows, smap.cols
        g = np.arange(nl)[:, None, None]
        rr = np.broadcast_to(off + g * p1 + np.arange(p1)[None, :, None], (nl, p1, p1))
        cc = np.broadcast_to(off + g * p1 + np.arange(p1)[None, None, :], (nl, p1, p1))
        self._posD = smap.positions(rr.ravel(), cc.ravel()).reshape(nl, p1, p1)
        if np.any(self._posD < 0):
            raise LmerpyError("internal error: a diagonal block of A is not in its pattern")
        self._pos22 = sch.pos22
        self._flat22 = loc2[c[self._pos22]] * q2 + loc2[r[self._pos22]]
        ns = srow.shape[0]
        self.ns = ns
        self._slev = slev
        ocol = off + slev[:, None] * p1 + np.arange(p1)[None, :]
        posB = smap.positions(np.broadcast_to(I2[srow][:, None], ocol.shape).ravel(),
                              ocol.ravel()).reshape(ns, p1)
        self._maskB = (posB >= 0).astype(float)
        self._posB = np.maximum(posB, 0)
        ind = (slev[:, None] * p1 + np.arange(p1)[None, :]).ravel()
        indptr = np.concatenate(([0], np.cumsum(np.bincount(srow, minlength=q2) * p1)))
        self.F = sp.csr_matrix((np.zeros(ns * p1), ind, indptr), shape=(q2, q1))
        self.FT = sp.csc_matrix((self.F.data, ind, indptr), shape=(q1, q2))  # shares data
        self.Fd = None
        # FF' by a dense rank-k update when F is not sparse, else by a sparse product
        self._dense_F = ns * p1 >= 0.2 * q2 * q1
        # structural density of the Schur complement's lower triangle (for the choice of
        # backend): A22's pattern and that of FF'
        self.schur_density = sch.density()
        self._Fflat = (ind.reshape(ns, p1) * q2 + srow[:, None]).ravel()   # Fortran (q2, q1)
        # every (row, level) slot present and scalar first term (crossed designs): F in
        # Fortran order is one gather of A's values times 1/L₁₁ per column
        self._full = bool(p1 == 1 and ns == q2 * nl and np.all(posB >= 0))
        if self._full:
            order = np.argsort(self._Fflat)
            self._posF = self._posB[:, 0][order]
            self._levF = slev[order]
        self.L2 = np.zeros((0, 0))
        self._logdet = None
        self._pattern = (r, c, off)
        self._inv_maps = None

    def copy(self):
        """An independent factor of the same pattern (index maps shared, no factorisation)."""
        other = object.__new__(BlockFirstFactor)
        other.__dict__.update(self.__dict__)
        other.F = self.F.copy()
        other.FT = sp.csc_matrix((other.F.data, other.F.indices, other.F.indptr),
                                 shape=self.FT.shape)
        other.Fd = None
        other.L2 = np.zeros((0, 0))
        other._logdet = None
        for name in ("L1", "L1inv"):
            other.__dict__.pop(name, None)
        return other

    def factor(self, values, theta=None):
        p1, q2 = self.p1, self.q2
        D = values[self._posD]
        self._logdet = None
        if p1 == 1:
            l1 = np.sqrt(D[:, 0, 0])
            self.L1inv = (1.0 / l1)[:, None, None]
            self.L1 = l1[:, None, None]
        else:
            L1 = np.linalg.cholesky(D)
            self.L1 = L1
            self.L1inv = np.linalg.inv(L1)
        if q2 == 0:
            return
        vec = np.zeros(q2 * q2)
        vec[self._flat22] = values[self._pos22]
        S = vec.reshape((q2, q2), order="F")
        if self._full:
            Fd = values[self._posF]
            Fd *= self.L1inv[:, 0, 0][self._levF]
            self.Fd = Fd.reshape((q2, self.q1), order="F")
            S = blas.dsyrk(-1.0, self.Fd, beta=1.0, c=S, lower=1, overwrite_c=1)
        elif self.ns:
            B = values[self._posB] * self._maskB
            if p1 == 1:
                Fs = B * self.L1inv[self._slev, 0, :]
            else:
                Fs = np.einsum("sij,sj->si", self.L1inv[self._slev], B)
            self.F.data[:] = Fs.ravel()
            if self._dense_F:
                Fd = np.zeros(q2 * self.q1)
                Fd[self._Fflat] = Fs.ravel()
                Fd = Fd.reshape((q2, self.q1), order="F")
                self.Fd = Fd
                S = blas.dsyrk(-1.0, Fd, beta=1.0, c=S, lower=1, overwrite_c=1)
            else:
                S -= np.tril((self.F @ self.FT).toarray())
        self.L2 = chol_lower(S)

    def logdet(self):
        if self._logdet is None:   # only the last PIRLS iteration's is ever used
            if self.p1 == 1:
                ld = 2.0 * np.log(self.L1[:, 0, 0]).sum()
            else:
                ld = 2.0 * np.log(np.diagonal(self.L1, axis1=1, axis2=2)).sum()
            if self.q2:
                ld = ld + 2.0 * np.log(np.diagonal(self.L2)).sum()
            self._logdet = float(ld)
        return self._logdet

    def solve_L(self, B):
        """L⁻¹ P B (rows in the permuted order: term 1 first)."""
        B = np.asarray(B, dtype=float)
        vec = B.ndim == 1
        B2d = B[:, None] if vec else B
        X1 = apply_level_inverse(self.L1inv, B2d[self.I1])
        out = np.empty((self.q, B2d.shape[1]))
        out[:self.q1] = X1
        if self.q2:
            FX = self.Fd @ X1 if self.Fd is not None else self.F @ X1
            out[self.q1:] = trsm(self.L2, B2d[self.I2] - FX)
        return out[:, 0] if vec else out

    def solve_Lt(self, C):
        """P' L'⁻¹ C."""
        C = np.asarray(C, dtype=float)
        vec = C.ndim == 1
        C2d = C[:, None] if vec else C
        out = np.empty((self.q, C2d.shape[1]))
        C1 = C2d[:self.q1]
        if self.q2:
            Y2 = trsm(self.L2, C2d[self.q1:], trans=True)
            out[self.I2] = Y2
            C1 = C1 - (self.Fd.T @ Y2 if self.Fd is not None else self.FT @ Y2)
        out[self.I1] = apply_level_inverse(self.L1inv, C1, transpose=True)
        return out[:, 0] if vec else out

    def L_matrix(self):
        """L in the permuted order (L L' = A[perm][:, perm])."""
        nl, p1 = self.nl, self.p1
        g = np.repeat(np.arange(nl), p1 * p1)
        i = np.tile(np.repeat(np.arange(p1), p1), nl)
        j = np.tile(np.tile(np.arange(p1), p1), nl)
        L1 = sp.csr_matrix((self.L1.reshape(-1), (g * p1 + i, g * p1 + j)),
                           shape=(self.q1, self.q1))
        L22 = sp.csr_matrix(np.tril(self.L2))
        F = sp.csr_matrix(self.Fd) if self.Fd is not None else self.F
        return sp.csc_matrix(sp.bmat([[sp.tril(L1), None], [F, L22]]))

    def _inverse_maps(self):
        """A's pattern split by block: (positions, indices) of the term-1 diagonal blocks
        (level, row, column), of the off-diagonal part (row of part 2, column of term 1) and
        of the Schur part (row, column of part 2)."""
        if self._inv_maps is None:
            r, c, off = self._pattern
            q1, p1 = self.q1, self.p1
            loc2 = np.full(self.q, -1, dtype=np.int64)
            loc2[self.I2] = np.arange(self.q2)
            in1r = (r >= off) & (r < off + q1)
            in1c = (c >= off) & (c < off + q1)
            p11 = np.flatnonzero(in1r & in1c)
            a, b = r[p11] - off, c[p11] - off
            p21 = np.flatnonzero(in1r != in1c)
            t1 = np.where(in1r[p21], r[p21], c[p21]) - off
            t2 = loc2[np.where(in1r[p21], c[p21], r[p21])]
            p22 = np.flatnonzero(~in1r & ~in1c)
            self._inv_maps = ((p11, a // p1, a % p1, b % p1), (p21, t2, t1),
                              (p22, loc2[r[p22]], loc2[c[p22]]))
        return self._inv_maps

    def inverse_on_pattern(self):
        """A⁻¹ on A's pattern from the blocks: with G = L₂₂⁻¹F, (A⁻¹)₁₁ = L₁₁'⁻¹(I + G'G)L₁₁⁻¹
        (its level blocks only), (A⁻¹)₂₁ = −L₂₂'⁻¹G L₁₁⁻¹ and (A⁻¹)₂₂ = S⁻¹; None when the
        dense part-2 products (q₂²q₁ flops) would cost more than a factorisation's worth
        (:data:`OWN_INVERSE_WORK`)."""
        q1, q2, p1, nl = self.q1, self.q2, self.p1, self.nl
        if q2 * q2 * max(q1, 1) > OWN_INVERSE_WORK:
            return None
        (p11, lev, i, j), (p21, t2, t1), (p22, r2, c2) = self._inverse_maps()
        out = np.empty(self._pattern[0].shape[0])
        Li = self.L1inv
        if q2:
            F = self.Fd if self.Fd is not None else self.F.toarray()
            G = trsm(self.L2, F)
            Gg = G.reshape(q2, nl, p1)
            inner = np.einsum("rgi,rgj->gij", Gg, Gg) + np.eye(p1)[None]
            H = trsm(self.L2, G, trans=True).reshape(q2, nl, p1)
            M21 = -np.einsum("rgk,gkj->rgj", H, Li).reshape(q2, q1)
            X = trsm(self.L2, np.eye(q2))
            Sinv = X.T @ X
            out[p21] = M21[t2, t1]
            out[p22] = Sinv[r2, c2]
        else:
            inner = np.broadcast_to(np.eye(p1)[None], (nl, p1, p1))
        blocks = np.einsum("gki,gkl,glj->gij", Li, inner, Li)
        out[p11] = blocks[lev, i, j]
        return out

    def dense_block_density(self):
        """Structural density of the Schur complement's lower triangle."""
        return self.schur_density

    def diagonal_blocks(self, rows_start, nlev, ncol):
        """Diagonal blocks (nlev, ncol, ncol) of A⁻¹ starting at original row ``rows_start``."""
        idx = rows_start + np.arange(nlev * ncol)
        out = np.empty((nlev, ncol, ncol))
        # term 1: (A⁻¹)₁₁ = L₁₁'⁻¹ (I + G'G) L₁₁⁻¹ with G = L₂₂⁻¹F
        if idx[0] >= self.I1[0] and idx[-1] <= self.I1[-1] and ncol == self.p1 \
                and nlev == self.nl:
            F = self.Fd if self.Fd is not None else self.F.toarray()
            G = trsm(self.L2, F) if self.q2 else np.zeros((0, self.q1))
            Gg = G.reshape(G.shape[0], self.nl, self.p1)
            inner = np.einsum("rgi,rgj->gij", Gg, Gg) + np.eye(self.p1)[None]
            Li = self.L1inv
            return np.einsum("gki,gkl,glj->gij", Li, inner, Li)
        # other terms: (A⁻¹)₂₂ = S⁻¹
        loc = np.searchsorted(self.I2, idx)
        Sinv_cols = trsm(self.L2, trsm(self.L2, np.eye(self.q2)[:, loc]), trans=True)
        return level_blocks(Sinv_cols[loc], nlev, ncol, out)
