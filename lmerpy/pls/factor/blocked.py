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
of three ways, chosen by cost (:func:`.blocked_layout.choose_mode`): through a θ-map over
the pairs of "slots" (nonzero rows of F_g) within a level (InstEval;
:mod:`.blocked_thetamap`), by dense BLAS ``syrk`` on column chunks of F (few trailing
levels, many slots per level), or slot pair by slot pair, scattered into cache-sized bands
of S's rows (:mod:`.blocked_bands`; "sparse" mode). Given θ, A's pieces
come from Z'WZ and Λ's blocks directly (:mod:`.blocked_layout`); A's own pattern is only built
for factorisations from A's values and for A⁻¹ on that pattern (:mod:`.blocked_inverse`).

R equivalent: none in lme4 (which always uses CHOLMOD); MixedModels.jl's ``updateL!``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from ...errors import LmerpyError
from .base import FirstTermFactor
from .blocked_bands import subtract_ffT
from .blocked_inverse import block_traces, inverse_on_pattern
from .blocked_layout import Layout, sparse_F
from .dense import apply_level_inverse

__all__ = ["DENSE_Q", "MAX_DENSE", "BlockedFactor", "blocked_plan"]

#: largest dense trailing block (q₂) the blocked backend accepts (q₂² doubles: 512 MB)
MAX_DENSE = 8000
#: up to this q the whole of A is factorised as one dense matrix
DENSE_Q = 100
#: F is held dense in column chunks of at most this many doubles (dense mode)
F_CHUNK = 4_000_000


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
    M = smap.zwz()
    rows = M.indices[M.indptr[lo]:M.indptr[hi]]
    pos = np.flatnonzero((rows >= lo) & (rows < hi))
    cols = np.searchsorted(M.indptr, pos + M.indptr[lo], side="right") - 1
    if np.any((rows[pos] - lo) // nc != (cols - lo) // nc):
        return t, q2, False  # the first term's block is not block-diagonal by level
    # Λ must not couple the first term with the others, nor two of its levels
    a, b = smap.lt_rows, smap.lt_cols
    ina, inb = (a >= lo) & (a < hi), (b >= lo) & (b < hi)
    if np.any(ina != inb) or np.any((a[ina] - lo) // nc != (b[ina] - lo) // nc):
        return t, q2, False
    return t, q2, True


class BlockedFactor(FirstTermFactor):
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
        self.st = _structure if _structure is not None else Layout(smap, blocks, first)
        self.perm = self.st.perm
        self._logdet = None
        self._Fv = None          # F's values at the slots (ns × p₁), the layout's value order
        self._Fs = None          # ... slot order (built on demand)
        self._F = None           # F as a CSR matrix on _Fs (built on demand)
        self._FTp = None         # F' on _Fv, rows in (column j, level) order (built on demand)
        self._Sbuf = None        # the dense block's buffer, reused by every factorisation
        self._chunk = None       # buffer of F's dense column chunks (dense mode)
        self._theta = None       # θ of the last factorisation when it went through the θ-map
        self.L1 = self.L1inv = None
        self.L2 = None           # the dense block's factor (None: not computed, or consumed)

    def copy(self):
        return BlockedFactor(self.smap, None, _structure=self.st)

    # -- factorisation -------------------------------------------------------------------
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

    def _l1t_solve_slots(self, B, lev):
        """F = A₂₁L₁₁'⁻¹ at the slots: B_s L₁_g'⁻¹ for each slot's level g."""
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

    def _a21_from_values(self, values):
        """A₂₁ at the slots from A's values on its pattern (value order)."""
        st = self.st
        posB = st.posB
        B = values[np.maximum(posB, 0)]
        B[posB < 0] = 0.0
        return B if st.v_order is None else B[st.v_order]

    @property
    def Fs(self):
        """F's values at the slots (ns × p₁, slot order)."""
        if self._Fs is None and self._Fv is not None:
            Fs = np.empty_like(self._Fv)
            Fs[self.st.v_order] = self._Fv
            self._Fs = Fs
        return self._Fs

    def _ft_level(self):
        """F' with its rows permuted to (column j, level g) order — its data is F's values in
        level order, component by component (dense and sparse modes; no reordering of F)."""
        if self._FTp is None:
            st = self.st
            ind, ptr = st._ft_perm
            self._FTp = sp.csr_matrix((np.ascontiguousarray(self._Fv.T).reshape(-1), ind, ptr),
                                      shape=(st.q1, st.q2))
        return self._FTp

    def _F_times(self, X):
        """F X (q₂ × k) for X with q₁ rows."""
        st = self.st
        if st.v_order is None:
            return self.F_matrix() @ X
        p1, nl = st.p1, st.nl
        Xp = X.reshape(nl, p1, -1).transpose(1, 0, 2).reshape(st.q1, -1)   # rows (j, g)
        return self._ft_level().T @ Xp

    def _FT_times(self, Y):
        """F' Y (q₁ × k) for Y with q₂ rows."""
        st = self.st
        if st.v_order is None:
            return self.FT_matrix() @ Y
        p1, nl = st.p1, st.nl
        Z = np.asarray(self._ft_level() @ Y)                   # rows (j, g)
        return Z.reshape(p1, nl, -1).transpose(1, 0, 2).reshape(st.q1, -1)

    def F_matrix(self):
        """F (CSR, q₂ × q₁) with the current values."""
        if self._F is None:
            self._F = sparse_F(self.st, self.Fs)
        return self._F

    def FT_matrix(self):
        """F' (CSC, q₁ × q₂), sharing F's arrays."""
        F = self.F_matrix()
        return sp.csc_matrix((F.data, F.indices, F.indptr), shape=(self.st.q1, self.st.q2))

    def F_chunks(self):
        """(g0, g1, F's columns of levels g0..g1−1 as a dense Fortran array) over all levels,
        in chunks of at most F_CHUNK doubles (one reused buffer: use each before the next)."""
        st = self.st
        p1, q2, nl = st.p1, st.q2, st.nl
        step = max(1, min(nl, F_CHUNK // max(q2 * p1, 1)))
        if self._chunk is None or self._chunk.shape[0] < q2 * step * p1:
            self._chunk = np.empty(q2 * step * p1)
        if st.v_order is None:
            Fl = self.Fs[st.lev_order]
            flat = self._level_flat()
        else:
            Fl, flat = self._Fv, st.d_flat
        Fl = Fl.reshape(-1)
        for g0 in range(0, nl, step):
            g1 = min(nl, g0 + step)
            m = (g1 - g0) * p1
            buf = self._chunk[:q2 * m]
            buf.fill(0.0)
            a, b = st.lev_ptr[g0] * p1, st.lev_ptr[g1] * p1
            buf[flat[a:b] - g0 * p1 * q2] = Fl[a:b]
            yield g0, g1, buf.reshape((q2, m), order="F")

    def _level_flat(self):
        """F's Fortran positions of the slots in level order (pair mode: built on demand)."""
        st = self.st
        if "d_flat" not in st.__dict__:
            lo_ = st.lev_order
            fl = (st.slot_lev[lo_].astype(np.int64)[:, None] * st.p1
                  + np.arange(st.p1)) * st.q2 + st.slot_row[lo_][:, None]
            st.d_flat = fl.ravel()
        return st.d_flat

    def factor(self, values, theta=None):
        """Numeric factorisation of A.

        With θ (and lme4's block structure) A's pieces come from Z'WZ and Λ's blocks directly
        and ``values`` is not read (it may be None). Without θ everything is computed from
        ``values``, A's values on its pattern (``smap.values(θ)``, or any other A with that
        pattern).
        """
        st = self.st
        p1, q2 = st.p1, st.q2
        self._theta = None
        use_theta = theta is not None and st.theta_path
        if use_theta:
            theta = np.asarray(theta, dtype=float)
            lt1 = st.lambda1t(theta)
        ld = 0.0
        if st.nl:
            ld = self._first_blocks(st.a11(lt1) if use_theta else values[st.posD])
        if q2 == 0:
            self._logdet = float(ld)
            return
        self._Fv = self._Fs = self._F = self._FTp = None
        if st.ns:
            if use_theta:
                self._Fv = st.f_values(theta, lt1, self.L1inv)
            else:
                self._Fv = self._l1t_solve_slots(self._a21_from_values(values), st.v_lev)
            if st.v_order is None:
                self._Fs = self._Fv
        if st.ns and st.has_pairs and use_theta:
            vec = st.theta_map().schur_into(theta, self.L1inv, self._zeroed_buffer())
            self._theta = theta.copy()
        elif st.ns and st.has_pairs:
            ps, pt, pdest, _ = st.pairs()
            n22 = st.flat22_low.shape[0]
            w = np.empty(n22 + pdest.shape[0])
            w[:n22] = values[st.pos22_low]
            Fs = self.Fs
            if p1 == 1:
                f = Fs[:, 0]
                np.multiply(np.negative(f)[ps], f[pt], out=w[n22:])
            else:
                w[n22:] = -np.einsum("sc,sc->s", Fs[ps], Fs[pt])
            dest = np.concatenate((st.flat22_low.astype(pdest.dtype), pdest))
            vec = np.bincount(dest, weights=w, minlength=q2 * q2)
        else:
            vec = self._zeroed_buffer()
            if use_theta:
                lam2, v22 = st.a22_map()
                lam2.scale_into(theta, v22, vec)
                vec[::q2 + 1] += 1.0
            else:
                vec[st.flat22_low] = values[st.pos22_low]
        S = vec.reshape((q2, q2), order="F")
        if st.ns and st.mode == "dense":
            for _, _, Fc in self.F_chunks():
                S = blas.dsyrk(-1.0, Fc, beta=1.0, c=S, lower=1, overwrite_c=1)
        elif st.ns and st.mode == "sparse":
            subtract_ffT(self, S)                  # by bands of S's rows (.blocked_bands)
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
    def solve_L(self, B):
        """L⁻¹ P B."""
        st = self.st
        B = np.asarray(B, dtype=float)
        vec = B.ndim == 1
        B2d = B.reshape(st.q, -1)
        if not st.identity_perm:
            B2d = B2d[st.perm]
        if st.nl:
            c1 = apply_level_inverse(self.L1inv, B2d[:st.q1])
            if st.q2 == 0:
                return c1.ravel() if vec else c1
            r2 = B2d[st.q1:] - self._F_times(c1) if st.ns else B2d[st.q1:]
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
            r1 = C2d[:st.q1] - self._FT_times(x2) if st.ns else C2d[:st.q1]
            out[st.I2] = x2
        else:
            r1 = C2d[:st.q1]
        out[st.I1] = apply_level_inverse(self.L1inv, r1, transpose=True)
        return out.ravel() if vec else out

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
                Fc = self.F_matrix().tocoo()
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

    def dense_block_density(self):
        """Structural density of the dense block's lower triangle."""
        return self.st.density()

    def block_traces(self, blocks, overwrite=False):
        """Σ_g (A⁻¹)_gg per term (p_t×p_t arrays, ``blocks``' order), or None (see
        :func:`.blocked_inverse.block_traces`). ``overwrite``: S⁻¹ may take L₂₂'s place
        (``self.L2`` is None afterwards: refactorise before the next solve)."""
        return block_traces(self, blocks, overwrite)
