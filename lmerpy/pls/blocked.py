"""Block Cholesky of A(θ) with NumPy/SciPy only (the ``"scipy"`` backend).

The term with the most random effects is eliminated first: its diagonal block of A is
block-diagonal (one p₁×p₁ block per level, because every observation belongs to one level),
so its factor L₁₁ is a batch of tiny Cholesky factors. The rest of A (every other term) is
held dense: with F = A₂₁L₁₁'⁻¹ (sparse, the pattern of A₂₁) the Schur complement
S = A₂₂ − FF' is factorised by LAPACK. This is MixedModels.jl's layout with all trailing
blocks dense; all fill-in of a crossed design lands in S (InstEval: 1142×1142). For small q
the whole of A is simply held dense (no first block).

In the permuted order P (first term first, the others in their original order)::

    P A P' = L L',   L = [[L₁₁, 0], [F, L₂₂]],   L₂₂ L₂₂' = S.

FF' = Σ_g F_g F_g' (one sparse column block per level g of the first term) is formed in one
of three ways, chosen by cost: over precomputed index pairs of "slots" (nonzero rows of F_g)
within a level (InstEval), as a dense BLAS ``syrk`` when F is small enough to hold dense
(few trailing levels, many slots per level), or as a sparse product. The same structures
give S⁻¹F at the slots, hence A⁻¹ on its own pattern (the sparse inverse subset in block
form) for the gradient and the conditional variances.

R equivalent: none in lme4 (which always uses CHOLMOD); MixedModels.jl's ``updateL!``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from ..errors import LmerpyError
from .blocked_inverse import block_traces, inverse_on_pattern
from .blocked_thetamap import ThetaMap
from .crossprod import unique_sorted

__all__ = ["BlockedFactor", "blocked_plan", "MAX_DENSE", "DENSE_Q"]

#: largest dense trailing block (q₂) the blocked backend accepts (q₂² doubles: 512 MB)
MAX_DENSE = 8000
#: up to this q the whole of A is factorised as one dense matrix
DENSE_Q = 100
#: most slot pairs kept as index arrays (~12 bytes each, ~28 more once the gradient is used)
PAIR_BUDGET = 4_000_000
#: largest F (q₂ × q₁) held dense for BLAS products (doubles: 160 MB)
DENSE_F_MAX = 20_000_000
#: force a way of forming FF' and S⁻¹F ("pairs", "dense", "sparse"); None: by cost (tests)
MODE_OVERRIDE = None


def _choose_mode(q1, q2, p1, npairs):
    """How FF' (and S⁻¹F) are formed: index pairs, dense BLAS, or sparse products.

    Pairs cost ~20 dense flops each (gathers and scatters), dense FF' costs q₂²q₁/2 flops.
    """
    if MODE_OVERRIDE is not None:
        return MODE_OVERRIDE
    dense_ok = q2 * q1 <= DENSE_F_MAX
    pairs_ok = npairs <= PAIR_BUDGET
    if dense_ok and (not pairs_ok or 0.5 * q2 * q2 * q1 <= 20.0 * npairs * p1):
        return "dense"
    if pairs_ok:
        return "pairs"
    return "sparse"


def blocked_plan(smap, blocks, max_dense=MAX_DENSE):
    """How the blocked backend would factor A: (first term index or None, q₂, feasible).

    ``None`` as first term means "all dense" (small q).
    """
    if smap.q <= DENSE_Q or not blocks:
        return None, smap.q, smap.q <= max_dense
    sizes = [nl * nc for _, nl, nc in blocks]
    t = int(np.argmax(sizes))
    off, nl, nc = blocks[t]
    q2 = smap.q - nl * nc
    if q2 > max_dense:
        return t, q2, False
    lo, hi = off, off + nl * nc
    r, c = smap.rows, smap.cols
    both = (r >= lo) & (r < hi) & (c >= lo) & (c < hi)
    if np.any((r[both] - lo) // nc != (c[both] - lo) // nc):
        return t, q2, False  # the first term's block is not block-diagonal by level
    # Λ must not couple the first term with the others, nor two of its levels
    a, b = smap.lt_rows, smap.lt_cols
    ina, inb = (a >= lo) & (a < hi), (b >= lo) & (b < hi)
    if np.any(ina != inb) or np.any((a[ina] - lo) // nc != (b[ina] - lo) // nc):
        return t, q2, False
    return t, q2, True


class _Structure:
    """Index maps of the blocked layout (built once per pattern)."""

    def __init__(self, smap, blocks, first):
        q = smap.q
        self.first = first
        if first is None:
            off, nl, p1 = 0, 0, 1
        else:
            off, nl, p1 = blocks[first]
        q1 = nl * p1
        self.q, self.q1, self.q2, self.nl, self.p1 = q, q1, q - q1, nl, p1
        q2 = self.q2
        I1 = np.arange(off, off + q1)
        mask = np.ones(q, dtype=bool)
        mask[I1] = False
        I2 = np.flatnonzero(mask)
        self.I1, self.I2 = I1, I2
        self.perm = np.concatenate((I1, I2)).astype(np.int64)
        self.identity_perm = bool(np.array_equal(self.perm, np.arange(q)))
        loc2 = np.full(q, -1, dtype=np.int64)
        loc2[I2] = np.arange(q2)
        self._smap, self._off = smap, off
        self.ns = 0
        if nl == 0:
            # all dense: the pattern maps are built on first use (a small model's deviance
            # and gradient never need them)
            self._loc2 = loc2
            return
        self._pattern_maps(loc2)
        r, c = smap.rows, smap.cols
        in1r = (r >= off) & (r < off + q1)
        in1c = (c >= off) & (c < off + q1)
        # diagonal blocks of the first term: positions (nl, p1, p1), all in the pattern
        g = np.arange(nl)[:, None, None]
        i = np.arange(p1)[None, :, None]
        j = np.arange(p1)[None, None, :]
        rr = np.broadcast_to(off + g * p1 + i, (nl, p1, p1)).ravel()
        cc = np.broadcast_to(off + g * p1 + j, (nl, p1, p1)).ravel()
        self.posD = smap.positions(rr, cc).reshape(nl, p1, p1)
        if np.any(self.posD < 0):
            raise LmerpyError("internal error: a diagonal block of A is not in its pattern")
        # slots: (row of the dense part, level of the first term) pairs where A21 is nonzero,
        # sorted by row, then level
        sel = (~in1r) & in1c
        key = unique_sorted(loc2[r[sel]] * nl + (c[sel] - off) // p1)
        self.slot_row = (key // nl).astype(np.int64)
        self.slot_lev = (key % nl).astype(np.int64)
        ns = key.shape[0]
        self.ns = ns
        orow = I2[self.slot_row]
        ocol = off + self.slot_lev[:, None] * p1 + np.arange(p1)[None, :]
        orow_b = np.broadcast_to(orow[:, None], ocol.shape)
        self.posB = smap.positions(orow_b.ravel(), ocol.ravel()).reshape(ns, p1)
        self.posBt = smap.positions(ocol.ravel(), orow_b.ravel()).reshape(ns, p1)
        self.maskB = (self.posB >= 0).astype(float)
        self.posB0 = np.maximum(self.posB, 0)
        self.F_indices = (self.slot_lev[:, None] * p1 + np.arange(p1)[None, :]).ravel()
        self.F_indptr = np.concatenate(
            ([0], np.cumsum(np.bincount(self.slot_row, minlength=q2) * p1)))
        # slots grouped by level; within a level they stay sorted by row
        self.lev_order = np.argsort(self.slot_lev, kind="stable")
        counts = np.bincount(self.slot_lev, minlength=nl)
        self.lev_ptr = np.concatenate(([0], np.cumsum(counts)))
        npairs = int(np.sum(counts * (counts + 1) // 2))
        self.mode = _choose_mode(q1, q2, p1, npairs)
        self.has_pairs = self.mode == "pairs"
        # F (q2 × q1) dense in Fortran order: flat index of each slot entry
        self.F_flat = (self.F_indices.reshape(ns, p1) * q2 + self.slot_row[:, None]).ravel()
        if self.mode == "dense":
            # the slots in level order: F is then written column by column (sequentially)
            lo_ = self.lev_order
            self.d_posB0 = self.posB0[lo_]
            self.d_maskB = self.maskB[lo_]
            self.d_lev = self.slot_lev[lo_]
            self.d_flat = self.F_flat.reshape(ns, p1)[lo_].ravel()
            self.d_posB = self.posB[lo_]
            self.d_posBt = self.posBt[lo_]
        if self.has_pairs:
            # pairs (s, t) of slots in one level with row_s >= row_t (t up to s inclusive), in
            # s-major order with t ascending: already Q's CSR order (see q_structure)
            # (built in the narrowest index type: these arrays are the largest of the layout)
            itype = np.int32 if max(ns, q2 * q2, npairs) < 2 ** 31 - 1 else np.int64
            lo_ = self.lev_order
            rank = np.empty(ns, dtype=np.int64)
            rank[lo_] = np.arange(ns)                    # place of each slot in level order
            first_ = self.lev_ptr[self.slot_lev]         # its level's first place
            cnt = rank - first_ + 1
            indptr = np.concatenate(([0], np.cumsum(cnt)))
            self.ps = np.repeat(np.arange(ns, dtype=itype), cnt)
            tpos = np.arange(npairs, dtype=itype)        # place of t in level order
            tpos -= np.repeat((indptr[:-1] - first_).astype(itype), cnt)
            self.pt = lo_.astype(itype)[tpos]
            del tpos
            srow = self.slot_row.astype(itype)
            self.pdest = srow[self.pt]                   # lower triangle, Fortran order
            self.pdest *= itype(q2)
            self.pdest += srow[self.ps]
            self._pair_indptr = indptr.astype(itype)
            self._q_struct = None
            self._dest_all = None
            self.tmap = None
            self._gmap_args = (smap, off, loc2, orow_b, ocol)

    def _pattern_maps(self, loc2):
        """Positions of A's pattern inside the dense block (lower entries for the
        factorisation, every entry for the inverse)."""
        smap, off, q1, q2 = self._smap, self._off, self.q1, self.q2
        r, c = smap.rows, smap.cols
        in1r = (r >= off) & (r < off + q1)
        in1c = (c >= off) & (c < off + q1)
        sel22 = (~in1r) & (~in1c)
        r2, c2 = loc2[r[sel22]], loc2[c[sel22]]
        pos22 = np.flatnonzero(sel22)
        low = r2 >= c2
        self.pos22_low = pos22[low]
        self.flat22_low = c2[low] * q2 + r2[low]          # Fortran order
        self.pos22 = pos22
        # every entry read from the lower triangle of the (symmetric) inverse
        self.flat22 = np.minimum(r2, c2) * q2 + np.maximum(r2, c2)

    def __getattr__(self, name):
        # all-dense layout: pattern maps on first use
        if name in ("pos22_low", "flat22_low", "pos22", "flat22") and "_loc2" in self.__dict__:
            loc2 = self.__dict__.pop("_loc2")
            self._pattern_maps(loc2)
            return self.__dict__[name]
        raise AttributeError(name)

    def b_scatter(self, posB, posBt):
        """(positions in S21, their places in A's pattern) for A₂₁ and A₁₂ (cached per
        ordering of the slots)."""
        key = id(posB)
        cache = self.__dict__.setdefault("_b_scatter", {})
        if key not in cache:
            b, bt = posB.reshape(-1), posBt.reshape(-1)
            sel, selt = np.flatnonzero(b >= 0), np.flatnonzero(bt >= 0)
            cache[key] = (sel, b[sel], selt, bt[selt])
        return cache[key]

    def dest_all(self):
        """Destinations (Fortran-order flat, lower) of A₂₂'s entries, then of every pair."""
        if self._dest_all is None:
            self._dest_all = np.concatenate((self.flat22_low, self.pdest)).astype(
                self.pdest.dtype)
        return self._dest_all

    def theta_map(self):
        """The θ-map of S used when factor() is given θ (built once; see blocked_thetamap)."""
        if self.tmap is None:
            self.tmap = ThetaMap(self, *self._gmap_args)
            del self._gmap_args
        return self.tmap

    def trailing_flats(self, blocks):
        """For every term but the first: (term index, flat positions (n_levels, p, p) of its
        diagonal blocks in S's lower triangle, Fortran order). Built once."""
        cache = self.__dict__.get("_trailing")
        if cache is None:
            cache = []
            q1, q2 = self.q1, self.q2
            end1 = self._off + q1
            for t, (off, nl, p) in enumerate(blocks):
                if t == self.first:
                    continue
                r = off + np.arange(nl * p).reshape(nl, p)
                r = np.where(r >= end1, r - q1, r)                  # row in S
                ri = np.broadcast_to(r[:, :, None], (nl, p, p))
                rj = np.broadcast_to(r[:, None, :], (nl, p, p))
                cache.append((t, np.minimum(ri, rj) * q2 + np.maximum(ri, rj)))
            self._trailing = cache
        return cache

    def q_structure(self):
        """CSR structure of Q (ns × ns): Q[s, t] = S⁻¹[row_s, row_t] for slots s, t of one level
        with row_s ≥ row_t (Q + Q' − diag(Q) is the whole symmetric matrix).

        Returns (indptr, indices, flat index into S⁻¹'s lower triangle per entry, flat index of
        each slot's diagonal entry). Built on first use (the gradient), so a deviance-only
        object never pays for it.
        """
        if self._q_struct is None:        # the pairs are stored in this order: no copies
            diag = self.slot_row * self.q2 + self.slot_row
            self._q_struct = (self._pair_indptr, self.pt, self.pdest,
                              diag.astype(self.pdest.dtype))
        return self._q_struct


class BlockedFactor:
    """Blocked factor of A(θ) (see the module docstring); same interface as CholmodFactor.

    Parameters
    ----------
    smap : ScalingMap
    blocks : list of (row_offset, n_levels, n_columns)
    first : int or None
        Term eliminated first (None: all of A dense).
    """

    name = "scipy"

    def __init__(self, smap, blocks, first=None, _structure=None):
        self.smap = smap
        self.q = smap.q
        self.st = _structure if _structure is not None else _Structure(smap, blocks, first)
        self.perm = self.st.perm
        self._logdet = None
        st = self.st
        self.F = None
        self.Fd = None
        self._Fs = None          # F's values at the slots, slot order (see Fs)
        self._Fs_lev = None      # ... in level order (dense mode)
        self._F_synced = False   # F.data holds _Fs
        self._Sbuf = None        # the dense block's buffer, reused by every factorisation
        self._theta = None       # θ of the last factorisation when it went through the θ-map
        self.L2 = None           # the dense block's factor (None: not computed, or consumed)
        if st.ns:
            self.F = sp.csr_matrix((np.zeros(st.ns * st.p1), st.F_indices, st.F_indptr),
                                   shape=(st.q2, st.q1))
            self.FT = sp.csc_matrix((self.F.data, st.F_indices, st.F_indptr),
                                    shape=(st.q1, st.q2))  # shares data with F
            if st.mode == "dense":
                self.Fd = np.zeros((st.q2, st.q1), order="F")

    def copy(self):
        return BlockedFactor(self.smap, None, _structure=self.st)

    # -- factorisation -------------------------------------------------------------------
    def _schur_pairs(self, theta):
        """S (Fortran-order flat, lower triangle) = Λ₂'(M₂₂ − M₂₁HM₁₂)Λ₂ + I."""
        return self.st.tmap.schur_into(theta, self.L1inv, self._zeroed_buffer())

    def _zeroed_buffer(self):
        """The dense block's buffer (q₂² doubles, Fortran order when reshaped), zeroed."""
        q2 = self.st.q2
        if self._Sbuf is None:
            self._Sbuf = np.zeros(q2 * q2)
        else:
            self._Sbuf.fill(0.0)
        return self._Sbuf

    def _first_blocks(self, D):
        """Cholesky factors of the first term's diagonal blocks, their inverses, log-det."""
        p1 = self.st.p1
        if p1 == 1:
            l1 = np.sqrt(D[:, 0, 0])
            self.L1 = l1[:, None, None]
            self.L1inv = (1.0 / l1)[:, None, None]
            return 2.0 * np.log(l1).sum()
        if p1 == 2:                       # closed form: [[a, 0], [b, c]]
            a = np.sqrt(D[:, 0, 0])
            b = D[:, 1, 0] / a
            c = np.sqrt(D[:, 1, 1] - b * b)
            L1 = np.zeros_like(D)
            L1[:, 0, 0], L1[:, 1, 0], L1[:, 1, 1] = a, b, c
            Li = np.zeros_like(D)
            Li[:, 0, 0], Li[:, 1, 0], Li[:, 1, 1] = 1.0 / a, -b / (a * c), 1.0 / c
            self.L1, self.L1inv = L1, Li
            return 2.0 * (np.log(a).sum() + np.log(c).sum())
        L1 = np.linalg.cholesky(D)
        self.L1 = L1
        self.L1inv = np.linalg.inv(L1)
        return 2.0 * np.sum(np.log(np.diagonal(L1, axis1=1, axis2=2)))

    def _slot_values(self, values, pos, mask, lev):
        """F = A₂₁L₁₁'⁻¹ at the slots (rows of ``pos``), p₁ values per slot."""
        B = values[pos] * mask
        p1 = self.st.p1
        Li = self.L1inv
        if p1 == 1:
            return B * Li[lev, 0, :]
        if p1 == 2:
            F = np.empty_like(B)
            F[:, 0] = Li[lev, 0, 0] * B[:, 0]
            F[:, 1] = Li[lev, 1, 0] * B[:, 0] + Li[lev, 1, 1] * B[:, 1]
            return F
        return np.einsum("sij,sj->si", Li[lev], B)

    @property
    def Fs(self):
        """F's values at the slots (ns × p₁, slot order)."""
        if self._Fs is None and self._Fs_lev is not None:
            Fs = np.empty_like(self._Fs_lev)
            Fs[self.st.lev_order] = self._Fs_lev
            self._Fs = Fs
        return self._Fs

    def _sparse_F(self):
        """F (CSR) and F' (CSC) with the current values."""
        if not self._F_synced:
            self.F.data[:] = self.Fs.ravel()
            self._F_synced = True
        return self.F

    def factor(self, values, theta=None):
        """Numeric factorisation of A from its values on the pattern.

        Pass θ only when ``values == smap.values(θ)`` (A built from ``smap.M``): the Schur
        complement then comes from a faster θ-map of M (pair mode). Without θ everything is
        computed from ``values`` alone (e.g. PIRLS, where the weights inside A change).
        """
        st = self.st
        p1, q2 = st.p1, st.q2
        self._theta = None
        ld = 0.0
        if st.nl:
            ld = self._first_blocks(values[st.posD])
        if q2 == 0:
            self._logdet = float(ld)
            return
        if st.ns and st.mode == "dense":
            Fl = self._slot_values(values, st.d_posB0, st.d_maskB, st.d_lev)
            self.Fd.reshape(-1, order="F")[st.d_flat] = Fl.ravel()
            self._Fs_lev, self._Fs, self._F_synced = Fl, None, False
        elif st.ns:
            Fs = self._slot_values(values, st.posB0, st.maskB, st.slot_lev)
            self._Fs_lev, self._Fs = None, Fs
            self.F.data[:] = Fs.ravel()
            self._F_synced = True
        if st.ns and st.has_pairs and theta is not None:
            st.theta_map()
            vec = self._schur_pairs(theta)
            self._theta = np.array(theta, dtype=float)
        elif st.ns and st.has_pairs:
            dest = st.dest_all()
            w = np.empty(dest.shape[0])
            n22 = st.flat22_low.shape[0]
            w[:n22] = values[st.pos22_low]
            Fs = self._Fs
            if p1 == 1:
                f = Fs[:, 0]
                np.multiply(np.negative(f)[st.ps], f[st.pt], out=w[n22:])
            else:
                w[n22:] = -np.einsum("sc,sc->s", Fs[st.ps], Fs[st.pt])
            vec = np.bincount(dest, weights=w, minlength=q2 * q2)
        else:
            vec = self._zeroed_buffer()
            vec[st.flat22_low] = values[st.pos22_low]
        S = vec.reshape((q2, q2), order="F")
        if st.ns and st.mode == "dense":
            S = blas.dsyrk(-1.0, self.Fd, beta=1.0, c=S, lower=1, overwrite_c=1)
        elif st.ns and st.mode == "sparse":
            S -= np.tril((self.F @ self.FT).toarray())
        # only the lower triangle of S is read; the upper one is never used afterwards
        L2, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:  # A ≥ I, so only a rounding catastrophe can get here
            raise LmerpyError(f"Cholesky factorisation of the random-effects block failed "
                              f"(LAPACK dpotrf info = {info})")
        self.L2 = L2
        self._logdet = float(ld + 2.0 * np.log(L2.diagonal()).sum())

    def set_dense(self, L, logdet):
        """All-dense layout only: take a factor computed elsewhere (L L' = A, lower triangle
        read) and its log-determinant."""
        if self.st.nl:
            raise LmerpyError("internal error: set_dense needs the all-dense layout")
        self.L2 = L
        self._logdet = float(logdet)

    def logdet(self):
        return self._logdet

    # -- solves --------------------------------------------------------------------------
    def _l1_solve(self, B1, transpose=False):
        st = self.st
        k = B1.shape[1]
        if st.p1 == 1:
            return self.L1inv[:, 0, :] * B1
        Bg = B1.reshape(st.nl, st.p1, k)
        sub = "gji,gjk->gik" if transpose else "gij,gjk->gik"
        return np.einsum(sub, self.L1inv, Bg).reshape(st.q1, k)

    def solve_L(self, B):
        """L⁻¹ P B."""
        st = self.st
        B = np.asarray(B, dtype=float)
        vec = B.ndim == 1
        B2d = B.reshape(st.q, -1)
        if not st.identity_perm:
            B2d = B2d[st.perm]
        if st.nl:
            c1 = self._l1_solve(B2d[:st.q1])
            if st.q2 == 0:
                return c1.ravel() if vec else c1
            if not st.ns:
                r2 = B2d[st.q1:]
            elif self.Fd is not None:
                r2 = B2d[st.q1:] - self.Fd @ c1
            else:
                r2 = B2d[st.q1:] - self._sparse_F() @ c1
            c2 = lapack.dtrtrs(self.L2, r2, lower=1)[0]
            out = np.vstack((c1, c2))
        else:
            out = lapack.dtrtrs(self.L2, B2d, lower=1)[0]
        return out.ravel() if vec else out

    def solve_Lt(self, C):
        """P' L'⁻¹ C."""
        st = self.st
        C = np.asarray(C, dtype=float)
        vec = C.ndim == 1
        C2d = C.reshape(st.q, -1)
        if st.nl == 0:
            out = lapack.dtrtrs(self.L2, C2d, lower=1, trans=1)[0]
            return out.ravel() if vec else out
        out = np.empty_like(C2d)
        if st.q2:
            x2 = lapack.dtrtrs(self.L2, C2d[st.q1:], lower=1, trans=1)[0]
            if not st.ns:
                r1 = C2d[:st.q1]
            elif self.Fd is not None:
                r1 = C2d[:st.q1] - self.Fd.T @ x2
            else:
                self._sparse_F()
                r1 = C2d[:st.q1] - self.FT @ x2
            out[st.I2] = x2
        else:
            r1 = C2d[:st.q1]
        out[st.I1] = self._l1_solve(r1, transpose=True)
        return out.ravel() if vec else out

    def solve_A(self, B):
        return self.solve_Lt(self.solve_L(B))

    def L_matrix(self):
        """L (CSC, lower triangular) in the permuted order; L L' = A[perm][:, perm]."""
        st = self.st
        p1 = st.p1
        rows, cols, vals = [], [], []
        if st.nl:
            g = np.repeat(np.arange(st.nl), p1 * p1)
            i = np.tile(np.repeat(np.arange(p1), p1), st.nl)
            j = np.tile(np.tile(np.arange(p1), p1), st.nl)
            v = self.L1.reshape(-1)
            keep = i >= j
            rows.append(g[keep] * p1 + i[keep])
            cols.append(g[keep] * p1 + j[keep])
            vals.append(v[keep])
        if st.q2:
            if st.ns:
                Fc = self._sparse_F().tocoo()
                rows.append(Fc.row + st.q1)
                cols.append(Fc.col)
                vals.append(Fc.data)
            ii, jj = np.tril_indices(st.q2)
            rows.append(ii + st.q1)
            cols.append(jj + st.q1)
            vals.append(self.L2[ii, jj])
        L = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(st.q, st.q))
        L = sp.csc_matrix(L)
        L.eliminate_zeros()
        return L

    # -- A⁻¹ (see blocked_inverse) ----------------------------------------------------------
    def inverse_on_pattern(self):
        """A⁻¹'s values on the full pattern of A (the sparse inverse subset)."""
        return inverse_on_pattern(self)

    def block_traces(self, blocks, overwrite=False):
        """Σ_g (A⁻¹)_gg per term (p_t×p_t arrays, ``blocks``' order), or None (see
        :func:`.blocked_inverse.block_traces`). ``overwrite``: S⁻¹ may take L₂₂'s place
        (``self.L2`` is None afterwards: refactorise before the next solve)."""
        return block_traces(self, blocks, overwrite)

    def FT_matrix(self):
        """F' (CSC) with the current values."""
        self._sparse_F()
        return self.FT

    def dense_F_columns(self, g0, g1):
        """F's columns of levels g0..g1−1 as a dense Fortran array (q₂ × (g1−g0)·p₁)."""
        st = self.st
        p1, q2 = st.p1, st.q2
        out = np.zeros((q2, (g1 - g0) * p1), order="F")
        sl = st.lev_order[st.lev_ptr[g0]:st.lev_ptr[g1]]
        flat = st.F_flat.reshape(st.ns, p1)[sl] - g0 * p1 * q2
        out.reshape(-1, order="F")[flat.ravel()] = self.Fs[sl].ravel()
        return out
