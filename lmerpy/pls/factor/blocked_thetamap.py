"""The Schur complement S of the blocked factor as a map of θ (pair mode).

With M = Z'WZ, the first term's Λ₁ (block T₁ per level) and the others' Λ₂::

    S = Λ₂'(M₂₂ − M₂₁ H M₁₂)Λ₂ + I,    H_g = Λ₁_g A₁₁_g⁻¹ Λ₁_g'  (p₁×p₁ per level g)

The lower triangle of X = M₂₂ − M₂₁HM₁₂ is ``m22 − G @ vec(H)`` with G constant (one row per
lower entry of X, one column per level and entry of H, one nonzero per slot pair and column
pair): one sequential sparse mat-vec per θ. The same G gives the first term's share of the
gradient, Σ_g over pairs of S̃ m_s'm_t with S̃ = Λ₂S⁻¹Λ₂' (one product Gᵀv).

Λ₂ is applied as its diagonal plus a correction on the few rows J that its off-diagonal
entries touch (vector-valued trailing terms with few levels, e.g. ``(service | dept)``), or, when
J is large, by sparse products with the whole of Λ₂.

R equivalent: none (lme4 refactorises Λ'Z'ZΛ + I with CHOLMOD); MixedModels.jl's
``updateL!`` forms the same blocks.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ThetaMap", "Lambda2"]


class Lambda2:
    """Λ₂ (the trailing terms' part of Λ) applied to symmetric q₂×q₂ matrices held by their
    lower-triangle entries at ``xdest`` (Fortran flat positions, rows ``xr``, columns ``xc``).

    Parameters
    ----------
    q2 : int
    rows, cols, lind : ndarray of int
        Λ₂' entries (S coordinates) and their 0-based θ indices.
    n_theta : int
    xdest, xr, xc : ndarray of int
        The lower entries of X that can be nonzero.
    """

    #: the diagonal-plus-J form is used while |J| ≤ q₂ / this
    J_FRACTION = 4

    def __init__(self, q2, rows, cols, lind, n_theta, xdest, xr, xc):
        self.q2 = q2
        self.n_theta = n_theta
        diag = rows == cols
        self.d_lind = np.full(q2, n_theta, dtype=np.int64)     # n_theta: no entry (0)
        self.d_lind[rows[diag]] = lind[diag]
        off = ~diag
        J = np.unique(np.concatenate((rows[off], cols[off])))
        self.nJ = nJ = J.shape[0]
        self.dense = nJ * self.J_FRACTION > q2
        self.xdest, self.xr, self.xc = xdest, xr, xc
        if self.dense:
            order = np.lexsort((rows, cols))
            self.rows = rows[order]
            self.indptr = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=q2))))
            self.lindc = lind[order]
            return
        if nJ == 0:
            return
        posJ = np.full(q2, -1, dtype=np.int64)
        posJ[J] = np.arange(nJ)
        self.J = J
        inJ = posJ[rows] >= 0                                 # Λ₂' entries within J × J
        self.lj_flat = posJ[rows[inJ]] * nJ + posJ[cols[inJ]]
        self.lj_lind = lind[inJ]
        self.selc = np.flatnonzero(posJ[xc] >= 0)
        self.dest_c = xr[self.selc] + q2 * posJ[xc[self.selc]]
        self.selr = np.flatnonzero(posJ[xr] >= 0)
        self.dest_r = xc[self.selr] + q2 * posJ[xr[self.selr]]
        r = np.arange(q2)[:, None]
        j = J[None, :]
        self.flatJ = np.where(r >= j, j * q2 + r, r * q2 + j)  # lower place of (r, J_p)

    def _d(self, theta):
        return np.append(theta, 0.0)[self.d_lind]

    def _lj(self, theta):
        LJ = np.zeros(self.nJ * self.nJ)
        LJ[self.lj_flat] = theta[self.lj_lind]
        return LJ.reshape(self.nJ, self.nJ)                  # Λ₂'[J, J]

    def _lt(self, theta):
        q2 = self.q2
        return sp.csc_matrix((theta[self.lindc], self.rows, self.indptr), shape=(q2, q2))

    def scale_into(self, theta, xv, vec):
        """vec's lower triangle (zeroed before) ← Λ₂'XΛ₂ with X's values ``xv`` at xdest."""
        q2 = self.q2
        if self.dense:
            X = np.zeros((q2, q2))
            X[self.xr, self.xc] = xv
            X[self.xc, self.xr] = xv
            L2t = self._lt(theta)
            Y = np.asarray(L2t @ X)                           # Λ₂'X
            vec[:] = np.asarray(L2t @ Y.T).T.ravel(order="F")   # Λ₂'XΛ₂ (symmetric)
            return
        d = self._d(theta)
        vec[self.xdest] = xv * d[self.xr] * d[self.xc]
        if self.nJ == 0:
            return
        LJ = self._lj(theta)
        XJ = np.zeros(q2 * self.nJ)                           # X[:, J] (Fortran)
        XJ[self.dest_c] = xv[self.selc]
        XJ[self.dest_r] = xv[self.selr]
        Z = XJ.reshape((q2, self.nJ), order="F") @ LJ.T       # X Λ₂[:, J]
        Y = d[:, None] * Z                                    # Λ₂'XΛ₂[:, J]
        Y[self.J] = LJ @ Z[self.J]
        vec[self.flatJ] = Y

    def tilde(self, theta, Sinv):
        """Λ₂S⁻¹Λ₂' at xdest (S⁻¹: lower triangle of a Fortran array; may be overwritten)."""
        q2 = self.q2
        sflat = Sinv.reshape(-1, order="F")
        if self.dense:
            iu = np.triu_indices(q2, 1)
            Sinv[iu] = Sinv.T[iu]
            L2t = self._lt(theta)
            St = np.asarray(L2t.T @ np.asarray(L2t.T @ Sinv).T)   # Λ₂S⁻¹Λ₂' (symmetric)
            return St.reshape(-1, order="F")[self.xdest]
        d = self._d(theta)
        v = sflat[self.xdest]
        v *= d[self.xr]
        v *= d[self.xc]
        if self.nJ:
            LJ = self._lj(theta)
            Z = sflat[self.flatJ] @ LJ                        # S⁻¹Λ₂'[:, J]
            T = d[:, None] * Z                                # Λ₂S⁻¹Λ₂'[:, J]
            T[self.J] = LJ.T @ Z[self.J]
            T = T.reshape(-1, order="F")
            v[self.selc] = T[self.dest_c]
            v[self.selr] = T[self.dest_r]
        return v


#: slot pairs generated at once while the θ-map is built
_PAIR_CHUNK = 250_000


def level_pairs(layout, chunk=_PAIR_CHUNK):
    """The slot pairs of every level, for a batch of levels with the same slot count k at a
    time (one k×k lower-triangle table per k).

    Yields (levels, a, b, pdest): the batch's levels (nb,); their pairs (i, j), i ≥ j, as
    level-order places ``a`` (row_i ≥ row_j) and ``b``, (nb, k(k+1)/2) in lower-triangle order
    within each level; and the Fortran flat position (row_i, row_j) of each in the dense block.
    """
    q2 = layout.q2
    ptr = layout.lev_ptr
    cnt = np.diff(ptr)
    order = np.argsort(cnt, kind="stable")
    ks = cnt[order]
    cut = np.flatnonzero(np.diff(ks)) + 1
    rows = layout.slot_row[layout.lev_order].astype(np.int64)
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, ks.shape[0]]):
        k = int(ks[lo])
        if k == 0:
            continue
        ti, tj = np.tril_indices(k)
        nb = max(1, chunk // ti.shape[0])
        for c0 in range(lo, hi, nb):
            levels = order[c0:min(hi, c0 + nb)]
            start = ptr[levels][:, None]
            a, b = start + ti, start + tj
            yield levels, a, b, rows[b] * q2 + rows[a]


class ThetaMap:
    """The θ-map of S for a pair-mode layout (see the module docstring).

    G is held by columns (CSC: one column per level and entry of H, its rows the level's
    pairs), built in two passes over the pairs generated level by level: no array of all the
    pairs' indices is ever held besides G itself.

    Parameters
    ----------
    layout : blocked_layout.Layout
        Its slots (M₂₁'s values ``v_m`` in slot order) and Λ's first-term maps.
    m22_flat, m22_val : ndarray
        M₂₂'s lower entries (Fortran flat positions in S) and values.
    lam2 : tuple
        Λ₂' entries in S coordinates: (rows, cols, θ index, n_theta).
    """

    def __init__(self, layout, m22_flat, m22_val, lam2):
        q2, nl, p1 = layout.q2, layout.nl, layout.p1
        self.layout = layout
        self.nl, self.p1 = nl, p1
        pp = p1 * p1
        cnt = np.diff(layout.lev_ptr)
        npl = cnt * (cnt + 1) // 2
        npairs = int(npl.sum())
        itype = np.int32 if max(q2 * q2, npairs * pp) < 2 ** 31 - 1 else np.int64
        # pass 1: which entries of X can be nonzero (rows of G)
        lookup = np.zeros(q2 * q2, dtype=itype)           # flat entry -> row of G
        lookup[m22_flat] = 1
        for _, _, _, dest in level_pairs(layout):
            lookup[dest] = 1
        xdest = np.flatnonzero(lookup)
        lookup[xdest] = np.arange(xdest.shape[0], dtype=itype)
        self.xdest = xdest.astype(itype)
        self.xr = (xdest % q2).astype(itype)
        self.xc = (xdest // q2).astype(itype)
        self.xdiag = np.flatnonzero(self.xr == self.xc)
        self._m22_rows = lookup[m22_flat]
        self.m22 = np.bincount(self._m22_rows, weights=m22_val, minlength=xdest.shape[0])
        del xdest
        # pass 2: G's columns (level g, entry (c, c') of H_g): the level's pairs, values
        # m_s[c]·m_t[c'] (M₂₁ at the two slots)
        m_lev = layout.v_m[layout.lev_order] if layout.v_order is None else layout.v_m
        indices = np.empty(npairs * pp, dtype=itype)
        data = np.empty(npairs * pp)
        indptr = np.concatenate(([0], np.cumsum(np.repeat(npl, pp)))).astype(
            np.int64 if itype is np.int64 else np.int32)
        for levels, a, b, dest in level_pairs(layout):
            rows = lookup[dest]
            del dest
            npk = a.shape[1]
            for cc in range(pp):
                c, c2 = divmod(cc, p1)
                pos = (indptr[levels * pp + cc][:, None] + np.arange(npk)).ravel()
                indices[pos] = rows.ravel()
                data[pos] = (m_lev[a, c] * m_lev[b, c2]).ravel()
        del lookup
        self.G = sp.csc_matrix((data, indices, indptr), shape=(self.xdest.shape[0], nl * pp))
        r2l, c2l, lind, nth = lam2
        self.lam2 = Lambda2(q2, r2l, c2l, lind, nth, self.xdest, self.xr, self.xc)

    def with_values(self, layout, m22_val):
        """The θ-map of the same structure for another Z'WZ: ``layout`` holds its M₂₁ at the
        slots (:meth:`.blocked_layout.Layout.with_values`), ``m22_val`` its M₂₂'s lower
        values. G's values and m22 are refilled, in the order this map's were formed (the
        same numbers as a map built on them); G's structure and Λ₂'s map are shared."""
        out = object.__new__(ThetaMap)
        out.__dict__.update(self.__dict__)
        out.layout = layout
        out.m22 = np.bincount(self._m22_rows, weights=m22_val, minlength=self.xdest.shape[0])
        ia, ib = self._refill_index()
        m = (layout.v_m[layout.lev_order] if layout.v_order is None else layout.v_m)
        m = m.reshape(-1)
        G = self.G
        out.G = sp.csc_matrix((m[ia] * m[ib], G.indices, G.indptr), shape=G.shape, copy=False)
        return out

    def _refill_index(self):
        """For each stored value of G, the flat places (level-order slot · p₁ + column) of
        its two factors in M₂₁'s values; built once (on first use)."""
        d = self.__dict__
        if "_ab" not in d:
            layout, p1 = self.layout, self.p1
            pp = p1 * p1
            indptr = self.G.indptr
            it = np.int32 if layout.ns * p1 < 2 ** 31 - 1 else np.int64
            ia = np.empty(self.G.data.shape[0], dtype=it)
            ib = np.empty_like(ia)
            for levels, a, b, _dest in level_pairs(layout):
                npk = a.shape[1]
                for cc in range(pp):
                    c, c2 = divmod(cc, p1)
                    pos = (indptr[levels * pp + cc][:, None] + np.arange(npk)).ravel()
                    ia[pos] = (a * p1 + c).ravel()
                    ib[pos] = (b * p1 + c2).ravel()
            d["_ab"] = (ia, ib)
        return d["_ab"]

    def schur_into(self, theta, L1inv, vec):
        """vec (zeroed, q₂² doubles) ← S's lower triangle (Fortran order), given the first
        term's L₁_g⁻¹ (nl, p₁, p₁)."""
        lt1 = self.layout.lambda1t(theta)
        if self.p1 == 1:
            h = (L1inv[:, 0, 0] * lt1[:, 0, 0]) ** 2
        else:
            W = np.einsum("gij,gjk->gik", L1inv, lt1)
            h = np.einsum("gji,gjk->gik", W, W).ravel()
        xv = self.m22 - self.G @ h
        self.lam2.scale_into(theta, xv, vec)
        q2 = self.lam2.q2
        vec[::q2 + 1] += 1.0
        return vec

    def first_term_share(self, theta, L1inv, Sinv):
        """Σ_g A_g⁻¹Λ₁_g' P_g Λ₁_g A_g⁻¹ with P_g = Σ_{s,t∈g} S̃[r_s, r_t] m_s'm_t (p₁×p₁):
        the slots' part of the first term's Σ_g (A⁻¹)_gg (S⁻¹: lower triangle, Fortran)."""
        v = self.lam2.tilde(theta, Sinv)
        v[self.xdiag] *= 0.5                                  # pairs (s, s) counted once
        U = self.G.T @ v                                      # Σ_pairs S̃ m_s ⊗ m_t
        lt1 = self.layout.lambda1t(theta)
        if self.p1 == 1:
            k = lt1[:, 0, 0] * L1inv[:, 0, 0] ** 2            # Λ₁_g A_g⁻¹
            return np.array([[2.0 * np.dot(k * k, U)]])
        nl, p1 = self.nl, self.p1
        U = U.reshape(nl, p1, p1)
        P = U + np.swapaxes(U, 1, 2)
        K = np.einsum("gji,gjk->gik", L1inv, np.einsum("gij,gjk->gik", L1inv, lt1))
        return np.einsum("gij,gjk,glk->il", K, P, K)          # K_g = A_g⁻¹Λ₁_g'
